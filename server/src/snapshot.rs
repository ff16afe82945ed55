//! The in-memory status snapshot: an immutable [`PublicStatus`] swapped in
//! atomically (through a `watch` channel) whenever stored data changes.
//!
//! Public reads (the page, `/public/status`) only ever clone an `Arc` out of
//! the channel; they never query the database, so a burst of visitors costs
//! nothing and keeps working while the database is slow or down.
//!
//! [`SnapshotBuilder`] is seeded from the database at start-up and then fed
//! exactly the samples that were committed, so the snapshot always shows what
//! the database holds.

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{OverallStatus, PageInfo, PublicStatus, ServiceView};
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::status::status_for;
use crate::store::{Sample, ServiceRecord};

/// Readers' handle on the current snapshot.
pub type SnapshotReader = watch::Receiver<Arc<PublicStatus>>;

pub struct SnapshotBuilder {
    page: PageInfo,
    services: Vec<ServiceRecord>,
    latest: HashMap<i64, Sample>,
}

impl SnapshotBuilder {
    pub fn new(page: PageInfo, services: Vec<ServiceRecord>, latest: &[Sample]) -> Self {
        let mut builder = Self {
            page,
            services,
            latest: HashMap::new(),
        };
        builder.record(latest);
        builder
    }

    /// Takes in committed samples, keeping the newest per service.
    pub fn record(&mut self, samples: &[Sample]) {
        for sample in samples {
            let newer = self
                .latest
                .get(&sample.service_id)
                .is_none_or(|known| known.taken_at <= sample.taken_at);
            if newer {
                self.latest.insert(sample.service_id, sample.clone());
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
                ServiceView {
                    slug: s.slug.clone(),
                    name: s.name.clone(),
                    group: s.group.clone(),
                    description: s.description.clone(),
                    status: latest.map(|l| status_for(l.outcome)),
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

    #[test]
    fn newest_sample_wins_even_when_recorded_out_of_order() {
        let mut builder = SnapshotBuilder::new(
            page(),
            vec![service(1, "api")],
            &[sample(1, 5, SampleOutcome::Down)],
        );
        builder.record(&[sample(1, 3, SampleOutcome::Up)]);
        let snap = builder.build(Utc::now());
        assert_eq!(snap.services[0].status, Some(ServiceStatus::MajorOutage));
        assert_eq!(
            snap.services[0].last_error.as_deref(),
            Some("connection refused")
        );

        builder.record(&[sample(1, 6, SampleOutcome::Up)]);
        let snap = builder.build(Utc::now());
        assert_eq!(snap.services[0].status, Some(ServiceStatus::Operational));
        assert_eq!(snap.overall.indicator, Indicator::None);
    }

    #[test]
    fn services_without_samples_show_no_data_and_archived_ones_are_hidden() {
        let mut archived = service(3, "old");
        archived.archived = true;
        let builder = SnapshotBuilder::new(
            page(),
            vec![service(1, "api"), service(2, "web"), archived],
            &[sample(2, 1, SampleOutcome::Degraded)],
        );
        let snap = builder.build(Utc::now());
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
