//! Following the leader (PostgreSQL replicas that do not lead): a follower
//! keeps a snapshot builder of its own and applies each writer round from
//! the round log, woken by `LISTEN upbeat_rounds`, instead of reloading
//! every service's rollups (at 10,000 services, about 1.1 million rows a
//! reload). What it reads is proportional to what changed.
//!
//! It loads everything again only when it has to: at first, when the
//! rounds come from a new lease epoch (a takeover: the former leader's late
//! samples may not be in any round it saw), when it fell further behind
//! than the log keeps, and once an hour, which bounds any drift.
//! Incidents and maintenance (a few dozen rows) are reloaded after a round
//! changed incidents, on an admin change here, and every
//! `follower_refresh`, which picks up admin changes made on other replicas.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::snapshot::SnapshotBuilder;
use crate::store::{LoggedRound, ROUND_LOG_KEEP};

/// Rounds read per query; a follower further behind reads on.
pub const ROUNDS_PER_READ: u32 = 500;
/// A follower loads everything again at least this often.
pub const FULL_RELOAD_EVERY: Duration = Duration::from_secs(3600);

/// What a follower holds between refreshes.
pub struct Follower {
    pub builder: SnapshotBuilder,
    /// The last round applied (or skipped as already loaded).
    pub cursor: i64,
    /// The epoch of the rounds applied since the last full load.
    pub epoch: Option<i64>,
    pub loaded_at: Instant,
    pub refreshed_at: Instant,
}

/// Why a follower must load everything, if it must.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullReload {
    /// Nothing loaded yet.
    First,
    /// Behind by more than the round log keeps.
    FellBehind,
    /// The hourly reload.
    Hourly,
    /// The rounds come from another lease epoch.
    NewEpoch,
}

impl FullReload {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::FellBehind => "fell_behind",
            Self::Hourly => "hourly",
            Self::NewEpoch => "new_epoch",
        }
    }
}

impl Follower {
    /// Whether the builder must be loaded whole before reading rounds.
    pub fn full_reload_due(follower: Option<&Self>) -> Option<FullReload> {
        follower.map_or(Some(FullReload::First), |f| {
            reload_reason(f.refreshed_at.elapsed(), f.loaded_at.elapsed())
        })
    }

    /// Applies `rounds` in order. Stops before a round of another epoch
    /// (the caller loads everything then); returns whether one came.
    pub fn apply(&mut self, rounds: Vec<LoggedRound>) -> Applied {
        let mut applied = Applied::default();
        for mut round in rounds {
            if self.epoch.is_some_and(|epoch| epoch != round.epoch) {
                applied.new_epoch = true;
                break;
            }
            self.epoch = Some(round.epoch);
            let schedule = self.builder.schedule();
            for sample in &mut round.samples {
                sample.in_maintenance = schedule.covers(sample.service_id, sample.taken_at);
            }
            applied.newest = round
                .samples
                .iter()
                .map(|s| s.taken_at)
                .chain(applied.newest)
                .max();
            self.builder.record(&round.samples, &round.states);
            self.cursor = round.seq;
            applied.rounds += 1;
            applied.samples += round.samples.len();
            applied.incidents_changed |= round.incidents_changed;
        }
        applied
    }
}

/// Why a follower last refreshed `since_refresh` ago and loaded whole
/// `since_load` ago must load everything, if it must.
fn reload_reason(since_refresh: Duration, since_load: Duration) -> Option<FullReload> {
    // Half the log's span: rounds it needs may be pruned soon after.
    let keep = ROUND_LOG_KEEP.to_std().unwrap_or_default() / 2;
    if since_refresh > keep {
        Some(FullReload::FellBehind)
    } else if since_load > FULL_RELOAD_EVERY {
        Some(FullReload::Hourly)
    } else {
        None
    }
}

/// What [`Follower::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub rounds: usize,
    pub samples: usize,
    pub incidents_changed: bool,
    /// A round of another epoch came: load everything.
    pub new_epoch: bool,
    /// The newest sample applied.
    pub newest: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use app::model::{PageInfo, SampleOutcome, ServiceStatus};
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::sample::Sample;
    use crate::domain::service::ServiceRecord;
    use crate::domain::status::{ServiceState, Tracker};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, minute, 0).unwrap()
    }

    fn follower() -> Follower {
        let service = ServiceRecord {
            id: 1,
            slug: "api".into(),
            name: "API".into(),
            group: None,
            description: None,
            position: 0,
            check_kind: "http".into(),
            archived: false,
        };
        Follower {
            builder: SnapshotBuilder::new(
                PageInfo::titled("t"),
                vec![service],
                HashMap::new(),
                &[],
                &[],
            ),
            cursor: 10,
            epoch: None,
            loaded_at: Instant::now(),
            refreshed_at: Instant::now(),
        }
    }

    fn round(seq: i64, epoch: i64, minute: u32, outcome: SampleOutcome) -> LoggedRound {
        let status = match outcome {
            SampleOutcome::Up => ServiceStatus::Operational,
            _ => ServiceStatus::MajorOutage,
        };
        LoggedRound {
            seq,
            epoch,
            incidents_changed: outcome == SampleOutcome::Down,
            samples: vec![Sample {
                service_id: 1,
                taken_at: at(minute),
                outcome,
                latency_ms: Some(5),
                error: None,
                in_maintenance: false,
            }],
            states: vec![ServiceState {
                service_id: 1,
                tracker: Tracker {
                    status,
                    bad_run: 3,
                    good_run: 0,
                },
                updated_at: at(minute),
            }],
        }
    }

    #[test]
    fn rounds_are_applied_in_order_until_a_new_epoch() {
        let mut f = follower();
        let applied = f.apply(vec![
            round(11, 4, 1, SampleOutcome::Up),
            round(13, 4, 2, SampleOutcome::Down),
            round(14, 5, 3, SampleOutcome::Up),
        ]);
        assert_eq!(
            (applied.rounds, applied.samples, applied.incidents_changed),
            (2, 2, true)
        );
        assert!(applied.new_epoch, "epoch 5 after 4: load everything");
        assert_eq!(applied.newest, Some(at(2)));
        assert_eq!(f.cursor, 13, "rolled-back sequence numbers are skipped");
        let snapshot = f.builder.build(at(5));
        assert_eq!(
            snapshot.services[0].status,
            Some(ServiceStatus::MajorOutage)
        );
        assert_eq!(snapshot.services[0].last_checked_at, Some(at(2)));
    }

    #[test]
    fn a_full_reload_is_due_at_first_when_behind_and_hourly() {
        assert_eq!(Follower::full_reload_due(None), Some(FullReload::First));
        assert_eq!(Follower::full_reload_due(Some(&follower())), None);
        let s = Duration::from_secs;
        let cases = [
            (s(1), s(60), None),
            (s(299), s(3599), None),
            (s(301), s(60), Some(FullReload::FellBehind)),
            (s(1), s(3601), Some(FullReload::Hourly)),
        ];
        for (since_refresh, since_load, expected) in cases {
            assert_eq!(
                reload_reason(since_refresh, since_load),
                expected,
                "{since_refresh:?} {since_load:?}"
            );
        }
    }
}
