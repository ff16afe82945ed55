//! Pure rules from samples to statuses. No I/O here.
//!
//! The foundation maps a service's newest sample straight to a status; the
//! hysteresis thresholds (`failure_threshold`, `recovery_threshold`) of the
//! monitoring engine build on these same functions.

use app::model::{SampleOutcome, ServiceStatus};

/// The status one sample implies on its own.
pub const fn status_for(outcome: SampleOutcome) -> ServiceStatus {
    match outcome {
        SampleOutcome::Up => ServiceStatus::Operational,
        SampleOutcome::Degraded => ServiceStatus::DegradedPerformance,
        SampleOutcome::Down => ServiceStatus::MajorOutage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_maps_to_its_statuspage_status() {
        let cases = [
            (SampleOutcome::Up, ServiceStatus::Operational),
            (SampleOutcome::Degraded, ServiceStatus::DegradedPerformance),
            (SampleOutcome::Down, ServiceStatus::MajorOutage),
        ];
        for (outcome, status) in cases {
            assert_eq!(status_for(outcome), status, "{outcome:?}");
        }
    }
}
