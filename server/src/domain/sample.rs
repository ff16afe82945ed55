//! A sample: one probe result of one service at one time. Samples are the
//! facts everything else is derived from (statuses, incidents, rollups).

use app::model::SampleOutcome;
use chrono::{DateTime, SubsecRound, Utc};

/// One probe result, as the writer stores it and the snapshot shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub service_id: i64,
    /// Whole seconds (see [`sample_time`]); a service has at most one
    /// sample per second.
    pub taken_at: DateTime<Utc>,
    pub outcome: SampleOutcome,
    pub latency_ms: Option<u32>,
    /// A short human error ("connection refused").
    pub error: Option<String>,
    /// Taken while a maintenance window covered the service. Counted apart
    /// in the rollups; raw sample rows do not store it (read back as false).
    pub in_maintenance: bool,
}

/// The time a sample is stamped with: whole seconds, which is what both
/// backends store, so memory and database always agree.
pub fn sample_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn samples_are_stamped_in_whole_seconds() {
        let cases = [
            (1_700_000_000_999, 1_700_000_000_000),
            (1_700_000_000_000, 1_700_000_000_000),
            (1_700_000_000_001, 1_700_000_000_000),
        ];
        for (ms, expected) in cases {
            let at = Utc.timestamp_millis_opt(ms).unwrap();
            assert_eq!(sample_time(at).timestamp_millis(), expected, "{ms}");
        }
    }
}
