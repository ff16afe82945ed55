//! The engine's counters and heartbeats, shared with the health and
//! metrics endpoints (read there, written here).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::metrics::EngineCounts;

#[derive(Debug, Default)]
pub struct EngineStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_flushes: AtomicU64,
    pub incidents_opened: AtomicU64,
    pub incidents_resolved: AtomicU64,
    /// Samples waiting to be written.
    pub buffered: AtomicU64,
    /// When the writer (on the prober) or the reload (on a follower) last
    /// completed a round, Unix milliseconds; 0 before the first.
    pub last_round_ms: AtomicI64,
    /// When the newest sample reached the writer, Unix milliseconds.
    pub last_sample_ms: AtomicI64,
    /// This replica holds the lease: it probes and decides.
    pub prober: AtomicBool,
}

impl EngineStats {
    /// Records a completed round at `now`.
    pub fn beat(&self, now: DateTime<Utc>) {
        self.last_round_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// Time since the last round, if there was one.
    pub fn since_round(&self, now: DateTime<Utc>) -> Option<Duration> {
        since(&self.last_round_ms, now)
    }

    /// Time since the newest sample, if there was one.
    pub fn since_sample(&self, now: DateTime<Utc>) -> Option<Duration> {
        since(&self.last_sample_ms, now)
    }

    /// The counters as `/metrics` shows them at `now`.
    pub fn counts(&self, now: DateTime<Utc>) -> EngineCounts {
        let prober = self.prober.load(Ordering::Relaxed);
        EngineCounts {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed_flushes: self.failed_flushes.load(Ordering::Relaxed),
            incidents_opened: self.incidents_opened.load(Ordering::Relaxed),
            incidents_resolved: self.incidents_resolved.load(Ordering::Relaxed),
            buffered: self.buffered.load(Ordering::Relaxed),
            prober,
            sampler_lag: self.since_sample(now).filter(|_| prober),
        }
    }
}

fn since(at_ms: &AtomicI64, now: DateTime<Utc>) -> Option<Duration> {
    let at = at_ms.load(Ordering::Relaxed);
    (at > 0).then(|| Duration::from_millis(u64::try_from(now.timestamp_millis() - at).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    #[test]
    fn heartbeats_tell_how_long_ago_and_the_lag_only_on_the_prober() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let stats = EngineStats::default();
        assert_eq!(stats.since_round(now), None);
        stats.beat(now - TimeDelta::seconds(3));
        assert_eq!(stats.since_round(now), Some(Duration::from_secs(3)));
        stats.last_sample_ms.store(
            (now - TimeDelta::seconds(5)).timestamp_millis(),
            Ordering::Relaxed,
        );
        assert_eq!(stats.counts(now).sampler_lag, None, "not the prober");
        stats.prober.store(true, Ordering::Relaxed);
        assert_eq!(stats.counts(now).sampler_lag, Some(Duration::from_secs(5)));
        // A clock that went back does not make a negative age.
        assert_eq!(
            stats.since_round(now - TimeDelta::seconds(10)),
            Some(Duration::ZERO)
        );
    }
}
