//! Wall-clock time, injectable.
//!
//! Everything that stamps or compares times (the sampler, the writer, the
//! pruner, the snapshot, probes, API handlers, the store's callers) asks a
//! [`Clock`]; this is the only file that reads the system's clock, which
//! clippy enforces (`disallowed-methods` in `clippy.toml`). SQL never reads
//! the database's clock either: times are bound as parameters.
//!
//! Production uses [`SystemClock`]. [`ManualClock`] lets a test play 90
//! simulated days through the writer, incidents, maintenance and pruning in
//! seconds, setting the time to each moment it plays, or expire an
//! idempotency key after 24 simulated hours.

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Shared handle, cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
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
}
