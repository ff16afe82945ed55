//! Pure rules from samples to statuses. No I/O here.
//!
//! A service's displayed status moves with hysteresis: it leaves
//! `operational` only after `failure` consecutive bad samples (degraded or
//! down) and returns only after `recovery` consecutive good ones. Between bad
//! states (degraded ↔ down) it follows the newest sample at once: the
//! service is already known to be failing, only the kind of failure changes.
//!
//! A [`Tracker`] is the whole state of that rule for one service; it is
//! stored with the samples so a restart resumes exactly where it stopped.

use app::model::{SampleOutcome, ServiceStatus};
use chrono::{DateTime, Utc};

/// The status one sample implies on its own.
pub const fn status_for(outcome: SampleOutcome) -> ServiceStatus {
    match outcome {
        SampleOutcome::Up => ServiceStatus::Operational,
        SampleOutcome::Degraded => ServiceStatus::DegradedPerformance,
        SampleOutcome::Down => ServiceStatus::MajorOutage,
    }
}

/// How many consecutive samples it takes to change state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Bad samples before leaving `operational`.
    pub failure: u32,
    /// Good samples before returning to `operational`.
    pub recovery: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            failure: 3,
            recovery: 2,
        }
    }
}

/// Hysteresis state of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    pub status: ServiceStatus,
    /// Consecutive bad samples, newest included.
    pub bad_run: u32,
    /// Consecutive good samples, newest included.
    pub good_run: u32,
}

impl Default for Tracker {
    /// A service with no history is assumed operational until proven otherwise.
    fn default() -> Self {
        Self {
            status: ServiceStatus::Operational,
            bad_run: 0,
            good_run: 0,
        }
    }
}

impl Tracker {
    /// The state after one more sample.
    #[must_use]
    pub fn observe(self, outcome: SampleOutcome, thresholds: Thresholds) -> Self {
        let healthy = self.status == ServiceStatus::Operational;
        match outcome {
            SampleOutcome::Up => {
                let good_run = self.good_run.saturating_add(1);
                let status = if healthy || good_run >= thresholds.recovery {
                    ServiceStatus::Operational
                } else {
                    self.status
                };
                Self {
                    status,
                    bad_run: 0,
                    good_run,
                }
            }
            SampleOutcome::Degraded | SampleOutcome::Down => {
                let bad_run = self.bad_run.saturating_add(1);
                let status = if !healthy || bad_run >= thresholds.failure {
                    status_for(outcome)
                } else {
                    self.status
                };
                Self {
                    status,
                    bad_run,
                    good_run: 0,
                }
            }
        }
    }
}

/// A service's hysteresis state after the newest sample applied to it;
/// stored with the samples that produced it, so a restart resumes exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub service_id: i64,
    pub tracker: Tracker,
    /// Time of the newest sample the state includes.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use SampleOutcome::{Degraded as D, Down as X, Up as U};
    use ServiceStatus::{DegradedPerformance as Deg, MajorOutage as Maj, Operational as Op};

    fn run(outcomes: &[SampleOutcome], thresholds: Thresholds) -> Vec<ServiceStatus> {
        let mut tracker = Tracker::default();
        outcomes
            .iter()
            .map(|o| {
                tracker = tracker.observe(*o, thresholds);
                tracker.status
            })
            .collect()
    }

    #[test]
    fn each_outcome_maps_to_its_statuspage_status() {
        let cases = [(U, Op), (D, Deg), (X, Maj)];
        for (outcome, status) in cases {
            assert_eq!(status_for(outcome), status, "{outcome:?}");
        }
    }

    #[test]
    fn statuses_follow_samples_with_hysteresis() {
        let default = Thresholds::default();
        let one = Thresholds {
            failure: 1,
            recovery: 1,
        };
        #[rustfmt::skip]
        let cases: &[(&str, Thresholds, &[SampleOutcome], &[ServiceStatus])] = &[
            ("good samples stay operational", default, &[U, U, U], &[Op, Op, Op]),
            ("two failures are not enough", default, &[X, X, U], &[Op, Op, Op]),
            ("the third consecutive failure leaves operational", default, &[X, X, X], &[Op, Op, Maj]),
            ("a good sample resets the failure count", default, &[X, X, U, X, X, X], &[Op, Op, Op, Op, Op, Maj]),
            ("degraded samples lead to degraded_performance", default, &[D, D, D], &[Op, Op, Deg]),
            ("mixed bad samples count together; the newest decides", default, &[D, X, D], &[Op, Op, Deg]),
            ("once failing, the kind of failure follows at once", default, &[X, X, X, D, X], &[Op, Op, Maj, Deg, Maj]),
            ("one good sample does not recover", default, &[X, X, X, U, X], &[Op, Op, Maj, Maj, Maj]),
            ("two good samples recover", default, &[X, X, X, U, U], &[Op, Op, Maj, Maj, Op]),
            ("alternating samples never recover", default, &[X, X, X, U, X, U, X, U], &[Op, Op, Maj, Maj, Maj, Maj, Maj, Maj]),
            ("thresholds of one follow every sample", one, &[X, U, D, U], &[Maj, Op, Deg, Op]),
        ];
        for (name, thresholds, outcomes, expected) in cases {
            assert_eq!(run(outcomes, *thresholds), *expected, "{name}");
        }
    }

    #[test]
    fn counters_saturate_instead_of_overflowing() {
        let tracker = Tracker {
            status: Maj,
            bad_run: u32::MAX,
            good_run: 0,
        };
        assert_eq!(tracker.observe(X, Thresholds::default()).bad_run, u32::MAX);
    }
}
