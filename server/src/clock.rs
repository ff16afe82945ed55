//! Wall-clock time, injectable.
//!
//! Everything that stamps or compares times (the sampler, the writer, the
//! pruner, the snapshot) asks a [`Clock`] instead of calling `Utc::now()`.
//! Production uses [`SystemClock`]. [`ManualClock`] lets a test play 90
//! simulated days through the writer, incidents, maintenance and pruning in
//! seconds, setting the time to each moment it plays.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Shared handle, cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: simulations set it to each
/// moment they play.
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub const fn starting_at(origin: DateTime<Utc>) -> Self {
        Self {
            now: std::sync::Mutex::new(origin),
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The time a sample is stamped with: whole seconds, which is what both
/// backends store, so memory and database always agree.
pub fn sample_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    #[test]
    fn manual_clock_moves_only_when_set() {
        let origin = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::starting_at(origin);
        assert_eq!(clock.now(), origin);
        clock.set(origin + TimeDelta::days(3));
        assert_eq!(clock.now(), origin + TimeDelta::days(3));
    }

    #[test]
    fn samples_are_stamped_in_whole_seconds() {
        let at = Utc.timestamp_millis_opt(1_700_000_000_999).unwrap();
        assert_eq!(sample_time(at).timestamp_millis(), 1_700_000_000_000);
    }
}
