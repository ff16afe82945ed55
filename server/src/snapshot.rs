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

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{OverallStatus, PageInfo, PublicStatus, ServiceView};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::status::{status_for, Thresholds};
use crate::store::{Sample, ServiceRecord, ServiceState};

/// Readers' handle on the current snapshot.
pub type SnapshotReader = watch::Receiver<Arc<PublicStatus>>;

pub struct SnapshotBuilder {
    page: PageInfo,
    services: Vec<ServiceRecord>,
    thresholds: HashMap<i64, Thresholds>,
    latest: HashMap<i64, Sample>,
    states: HashMap<i64, ServiceState>,
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
        };
        builder.record(latest, states);
        builder
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
                ServiceView {
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
}
