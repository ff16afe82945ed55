//! The in-memory status snapshot: an immutable [`PublicStatus`] swapped in
//! atomically (through a `watch` channel) whenever stored data changes.
//!
//! Public reads (the page, `/public/status`) only ever clone an `Arc` out of
//! the channel; they never query the database, so a burst of visitors costs
//! nothing and keeps working while the database is slow or down.
//!
//! [`SnapshotBuilder`] is seeded from the database at start-up (newest sample
//! and hysteresis state per service) and then fed exactly the samples and
//! states that were committed, so the snapshot always shows what the
//! database holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use app::model::{
    DayBar, OverallStatus, PageInfo, PublicStatus, SampleOutcome, ServiceView, Uptimes,
};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::rollup::{summarise, Resolution, Rollup};
use crate::status::{status_for, Thresholds};
use crate::store::{Sample, ServiceRecord, ServiceState};

/// Readers' handle on the current snapshot.
pub type SnapshotReader = watch::Receiver<Arc<PublicStatus>>;

/// Days in the bar and in the longest uptime window.
pub const BAR_DAYS: i64 = 90;

pub struct SnapshotBuilder {
    page: PageInfo,
    services: Vec<ServiceRecord>,
    thresholds: HashMap<i64, Thresholds>,
    latest: HashMap<i64, Sample>,
    states: HashMap<i64, ServiceState>,
    /// Last 24 hours of hourly rollups, per service.
    hourly: HashMap<i64, BTreeMap<DateTime<Utc>, Rollup>>,
    /// Last 90 days of daily rollups, per service.
    daily: HashMap<i64, BTreeMap<DateTime<Utc>, Rollup>>,
}

impl SnapshotBuilder {
    /// Starts from what the database holds.
    pub fn new(
        page: PageInfo,
        services: Vec<ServiceRecord>,
        thresholds: HashMap<i64, Thresholds>,
        latest: &[Sample],
        states: &[ServiceState],
    ) -> Self {
        let mut builder = Self {
            page,
            services,
            thresholds,
            latest: HashMap::new(),
            states: HashMap::new(),
            hourly: HashMap::new(),
            daily: HashMap::new(),
        };
        for sample in latest {
            builder.latest.insert(sample.service_id, sample.clone());
        }
        for state in states {
            builder.states.insert(state.service_id, *state);
        }
        builder
    }

    /// Loads stored rollups (from [`crate::store::Store::rollups_since`]).
    pub fn seed_rollups(
        &mut self,
        resolution: Resolution,
        rows: Vec<(i64, DateTime<Utc>, Rollup)>,
    ) {
        let map = match resolution {
            Resolution::Hour => &mut self.hourly,
            Resolution::Day => &mut self.daily,
        };
        for (service_id, start, rollup) in rows {
            map.entry(service_id)
                .or_default()
                .entry(start)
                .or_default()
                .merge(&rollup);
        }
    }

    /// The service states `samples` lead to, without applying them: the
    /// caller stores samples and states together, then calls [`Self::record`].
    /// Samples not newer than a service's state are not applied twice.
    pub fn advance(&self, samples: &[Sample]) -> Vec<ServiceState> {
        let mut ordered: Vec<&Sample> = samples.iter().collect();
        ordered.sort_by_key(|s| (s.service_id, s.taken_at));
        let mut changed: HashMap<i64, ServiceState> = HashMap::new();
        for sample in ordered {
            let current = changed
                .get(&sample.service_id)
                .or_else(|| self.states.get(&sample.service_id));
            if current.is_some_and(|state| state.updated_at >= sample.taken_at) {
                continue;
            }
            let tracker = current.map(|state| state.tracker).unwrap_or_default();
            let thresholds = self
                .thresholds
                .get(&sample.service_id)
                .copied()
                .unwrap_or_default();
            changed.insert(
                sample.service_id,
                ServiceState {
                    service_id: sample.service_id,
                    tracker: tracker.observe(sample.outcome, thresholds),
                    updated_at: sample.taken_at,
                },
            );
        }
        let mut states: Vec<ServiceState> = changed.into_values().collect();
        states.sort_by_key(|s| s.service_id);
        states
    }

    /// Takes in committed samples and states, keeping the newest per service.
    pub fn record(&mut self, samples: &[Sample], states: &[ServiceState]) {
        for sample in samples {
            let newer = self
                .latest
                .get(&sample.service_id)
                .is_none_or(|known| known.taken_at <= sample.taken_at);
            if newer {
                self.latest.insert(sample.service_id, sample.clone());
            }
        }
        for resolution in [Resolution::Hour, Resolution::Day] {
            let map = match resolution {
                Resolution::Hour => &mut self.hourly,
                Resolution::Day => &mut self.daily,
            };
            for ((service_id, start), rollup) in summarise(samples, resolution) {
                map.entry(service_id)
                    .or_default()
                    .entry(start)
                    .or_default()
                    .merge(&rollup);
            }
        }
        if let Some(newest) = samples.iter().map(|s| s.taken_at).max() {
            self.trim(newest);
        }
        for state in states {
            let newer = self
                .states
                .get(&state.service_id)
                .is_none_or(|known| known.updated_at <= state.updated_at);
            if newer {
                self.states.insert(state.service_id, *state);
            }
        }
    }

    /// Forgets rollups that no window can reach any more.
    fn trim(&mut self, now: DateTime<Utc>) {
        let first_hour = Resolution::Hour.start_of(now) - TimeDelta::hours(23);
        let first_day = Resolution::Day.start_of(now) - TimeDelta::days(BAR_DAYS - 1);
        for rollups in self.hourly.values_mut() {
            *rollups = rollups.split_off(&first_hour);
        }
        for rollups in self.daily.values_mut() {
            *rollups = rollups.split_off(&first_day);
        }
    }

    /// Uptime windows and the 90-day bar of one service at `now`.
    fn history(&self, service_id: i64, now: DateTime<Utc>) -> (Uptimes, Vec<DayBar>) {
        let empty = BTreeMap::new();
        let hourly = self.hourly.get(&service_id).unwrap_or(&empty);
        let daily = self.daily.get(&service_id).unwrap_or(&empty);
        let today = Resolution::Day.start_of(now);
        let sum = |rollups: &BTreeMap<DateTime<Utc>, Rollup>, from: DateTime<Utc>| {
            let mut total = Rollup::default();
            for rollup in rollups.range(from..).map(|(_, r)| r) {
                total.merge(rollup);
            }
            total.uptime()
        };
        let uptime = Uptimes {
            h24: sum(
                hourly,
                Resolution::Hour.start_of(now) - TimeDelta::hours(23),
            ),
            d7: sum(daily, today - TimeDelta::days(6)),
            d30: sum(daily, today - TimeDelta::days(29)),
            d90: sum(daily, today - TimeDelta::days(BAR_DAYS - 1)),
        };
        let days = (0..BAR_DAYS)
            .rev()
            .map(|back| {
                let start = today - TimeDelta::days(back);
                let rollup = daily.get(&start).copied().unwrap_or_default();
                DayBar {
                    date: start.date_naive(),
                    uptime: rollup.uptime(),
                    worst: if rollup.down > 0 {
                        Some(SampleOutcome::Down)
                    } else if rollup.degraded > 0 {
                        Some(SampleOutcome::Degraded)
                    } else if rollup.up > 0 {
                        Some(SampleOutcome::Up)
                    } else {
                        None
                    },
                    samples: rollup.samples(),
                }
            })
            .collect();
        (uptime, days)
    }

    pub fn build(&self, now: DateTime<Utc>) -> PublicStatus {
        let services: Vec<ServiceView> = self
            .services
            .iter()
            .filter(|s| !s.archived)
            .map(|s| {
                let latest = self.latest.get(&s.id);
                // A service shows a status once it has data; the state holds it.
                let status = latest.map(|l| {
                    self.states
                        .get(&s.id)
                        .map_or_else(|| status_for(l.outcome), |state| state.tracker.status)
                });
                let (uptime, days) = self.history(s.id, now);
                ServiceView {
                    uptime,
                    days,
                    slug: s.slug.clone(),
                    name: s.name.clone(),
                    group: s.group.clone(),
                    description: s.description.clone(),
                    status,
                    last_checked_at: latest.map(|l| l.taken_at),
                    last_outcome: latest.map(|l| l.outcome),
                    last_latency_ms: latest.and_then(|l| l.latency_ms),
                    last_error: latest.and_then(|l| l.error.clone()),
                }
            })
            .collect();
        PublicStatus {
            page: self.page.clone(),
            generated_at: now,
            overall: OverallStatus::from_services(services.iter().map(|s| s.status)),
            services,
        }
    }
}

#[cfg(test)]
mod tests {
    use app::model::{Indicator, SampleOutcome, ServiceStatus};
    use chrono::TimeZone;

    use super::*;

    fn service(id: i64, slug: &str) -> ServiceRecord {
        ServiceRecord {
            id,
            slug: slug.into(),
            name: slug.to_uppercase(),
            group: None,
            description: None,
            position: id,
            check_kind: "http".into(),
            archived: false,
        }
    }

    fn sample(service_id: i64, minute: u32, outcome: SampleOutcome) -> Sample {
        Sample {
            service_id,
            taken_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, minute, 0).unwrap(),
            outcome,
            latency_ms: Some(12),
            error: (outcome == SampleOutcome::Down).then(|| "connection refused".to_owned()),
        }
    }

    fn page() -> PageInfo {
        PageInfo {
            title: "Status".into(),
            description: None,
            url: None,
        }
    }

    fn builder(services: Vec<ServiceRecord>, latest: &[Sample]) -> SnapshotBuilder {
        let thresholds = services
            .iter()
            .map(|s| (s.id, Thresholds::default()))
            .collect();
        SnapshotBuilder::new(page(), services, thresholds, latest, &[])
    }

    /// Advances and records like the writer does after a commit.
    fn commit(builder: &mut SnapshotBuilder, samples: &[Sample]) {
        let states = builder.advance(samples);
        builder.record(samples, &states);
    }

    #[test]
    fn newest_sample_wins_even_when_recorded_out_of_order() {
        let mut b = builder(vec![service(1, "api")], &[]);
        commit(&mut b, &[sample(1, 5, SampleOutcome::Down)]);
        commit(&mut b, &[sample(1, 3, SampleOutcome::Up)]);
        let snap = b.build(Utc::now());
        assert_eq!(snap.services[0].last_outcome, Some(SampleOutcome::Down));
        assert_eq!(
            snap.services[0].last_error.as_deref(),
            Some("connection refused")
        );
        // The older sample did not count towards the state either.
        assert_eq!(b.advance(&[sample(1, 4, SampleOutcome::Up)]), vec![]);
    }

    #[test]
    fn status_changes_only_after_the_failure_and_recovery_thresholds() {
        let mut b = builder(vec![service(1, "api")], &[]);
        let mut statuses = Vec::new();
        for (minute, outcome) in [
            (1, SampleOutcome::Down),
            (2, SampleOutcome::Down),
            (3, SampleOutcome::Down),
            (4, SampleOutcome::Up),
            (5, SampleOutcome::Up),
        ] {
            commit(&mut b, &[sample(1, minute, outcome)]);
            statuses.push(b.build(Utc::now()).services[0].status);
        }
        let o = Some(ServiceStatus::Operational);
        let m = Some(ServiceStatus::MajorOutage);
        assert_eq!(statuses, [o, o, m, m, o]);
    }

    #[test]
    fn a_batch_is_applied_in_time_order_per_service() {
        let b = builder(vec![service(1, "api"), service(2, "web")], &[]);
        // Delivered out of order, as a buffered batch may be.
        let batch = [
            sample(1, 3, SampleOutcome::Down),
            sample(2, 1, SampleOutcome::Down),
            sample(1, 1, SampleOutcome::Down),
            sample(1, 2, SampleOutcome::Down),
        ];
        let states = b.advance(&batch);
        assert_eq!(states.len(), 2);
        assert_eq!(states[0].tracker.status, ServiceStatus::MajorOutage);
        assert_eq!(states[0].tracker.bad_run, 3);
        assert_eq!(
            states[0].updated_at,
            sample(1, 3, SampleOutcome::Down).taken_at
        );
        assert_eq!(states[1].tracker.status, ServiceStatus::Operational);
        assert_eq!(states[1].tracker.bad_run, 1);
    }

    #[test]
    fn services_without_samples_show_no_data_and_archived_ones_are_hidden() {
        let mut archived = service(3, "old");
        archived.archived = true;
        let mut b = builder(vec![service(1, "api"), service(2, "web"), archived], &[]);
        for minute in 1..=3 {
            commit(&mut b, &[sample(2, minute, SampleOutcome::Degraded)]);
        }
        let snap = b.build(Utc::now());
        let slugs: Vec<_> = snap.services.iter().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, ["api", "web"]);
        assert_eq!(snap.services[0].status, None);
        assert_eq!(snap.services[0].last_checked_at, None);
        assert_eq!(
            snap.services[1].status,
            Some(ServiceStatus::DegradedPerformance)
        );
        assert_eq!(snap.overall.indicator, Indicator::Minor);
    }

    #[test]
    fn uptime_windows_and_daily_bars_come_from_rollups() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let mut b = builder(vec![service(1, "api"), service(2, "idle")], &[]);
        let day = |back: i64| Resolution::Day.start_of(now) - TimeDelta::days(back);
        let counts = |up: u32, down: u32| Rollup {
            up,
            down,
            ..Rollup::default()
        };
        b.seed_rollups(
            Resolution::Day,
            vec![
                (1, day(100), counts(0, 50)), // outside every window
                (1, day(60), counts(50, 50)),
                (1, day(10), counts(90, 10)),
                (1, day(0), counts(10, 0)),
            ],
        );
        b.seed_rollups(
            Resolution::Hour,
            vec![(1, Resolution::Hour.start_of(now), counts(10, 0))],
        );
        let snap = b.build(now);
        let api = &snap.services[0];
        assert_eq!(api.uptime.h24, Some(1.0));
        assert_eq!(api.uptime.d7, Some(1.0));
        assert_eq!(api.uptime.d30, Some(100.0 / 110.0));
        assert_eq!(api.uptime.d90, Some(150.0 / 210.0));
        assert_eq!(api.days.len(), 90);
        assert_eq!(api.days[89].date, now.date_naive());
        assert_eq!(api.days[89].worst, Some(SampleOutcome::Up));
        assert_eq!(api.days[79].uptime, Some(0.9));
        assert_eq!(api.days[79].worst, Some(SampleOutcome::Down));
        assert_eq!(api.days[0].samples, 0);
        assert_eq!(api.days[0].uptime, None);
        // A service without data has no uptime at all, not 0 % or 100 %.
        let idle = &snap.services[1];
        assert_eq!(idle.uptime, Uptimes::default());
        assert!(idle
            .days
            .iter()
            .all(|d| d.uptime.is_none() && d.worst.is_none()));
    }

    #[test]
    fn committed_samples_update_the_rollups_in_memory() {
        let mut b = builder(vec![service(1, "api")], &[]);
        for minute in 1..=4 {
            let outcome = if minute == 4 {
                SampleOutcome::Down
            } else {
                SampleOutcome::Up
            };
            commit(&mut b, &[sample(1, minute, outcome)]);
        }
        let now = sample(1, 5, SampleOutcome::Up).taken_at;
        let api = &b.build(now).services[0];
        assert_eq!(api.uptime.h24, Some(0.75));
        assert_eq!(api.uptime.d90, Some(0.75));
        assert_eq!(api.days[89].samples, 4);
    }
}
