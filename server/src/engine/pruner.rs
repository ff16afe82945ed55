//! The retention job: deletes raw samples older than `retention.samples`
//! (90 days by default).
//!
//! It walks every service, archived ones included, and deletes in batches
//! of `batch` rows along the `(service_id, taken_at)` primary key, pausing
//! between batches, so it never holds a long lock or starves sample writes.
//! Several replicas pruning at once is harmless: deletes are idempotent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::store::{Store, StoreError, IDEMPOTENCY_TTL};

/// How long hourly rollups keep their fine histogram: the objectives'
/// 72-hour burn window is seeded from them, and nothing older reads them
/// (daily rollups keep theirs). Clearing them keeps 90 days of a service
/// within 2.5 MB (`bench/storage-size.sh`).
pub const HOURLY_HISTOGRAMS: chrono::TimeDelta = chrono::TimeDelta::days(4);

/// How long the objectives' days are kept: two years of monthly reports.
pub const SLO_DAYS: chrono::TimeDelta = chrono::TimeDelta::days(731);

pub struct Pruner {
    store: Arc<dyn Store>,
    clock: SharedClock,
    /// Samples older than this are deleted.
    pub retention: Duration,
    /// Rows per delete statement.
    pub batch: u32,
    /// Pause between two batches.
    pub pause: Duration,
}

impl Pruner {
    pub fn new(store: Arc<dyn Store>, retention: Duration, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            retention,
            batch: 1000,
            pause: Duration::from_millis(20),
        }
    }

    /// One full pass at time `now`: samples past retention and idempotency
    /// keys past a day. Returns how many samples were deleted.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = now.checked_sub_signed(retention) else {
            return Ok(0);
        };
        let mut deleted = 0;
        let histograms_before =
            crate::domain::rollup::Resolution::Hour.start_of(now) - HOURLY_HISTOGRAMS;
        for service in self.store.services().await? {
            self.store
                .prune_hourly_histograms(service.id, histograms_before)
                .await?;
            loop {
                let n = self
                    .store
                    .prune_samples(service.id, cutoff, self.batch)
                    .await?;
                deleted += n;
                crate::metrics::samples_pruned(n);
                if n < u64::from(self.batch) {
                    break;
                }
                tokio::time::sleep(self.pause).await;
            }
        }
        let days = self.store.prune_slo_days(now - SLO_DAYS).await?;
        if days > 0 {
            tracing::debug!(days, "forgot objectives' days older than two years");
        }
        let keys = self
            .store
            .prune_idempotency_keys(now - IDEMPOTENCY_TTL)
            .await?;
        if keys > 0 {
            tracing::debug!(keys, "forgot idempotency keys older than a day");
        }
        Ok(deleted)
    }

    /// Prunes every `every` until `cancel` fires. A failed pass is logged and
    /// retried at the next tick.
    pub async fn run(self, every: Duration, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            // A pass in progress is abandoned at shutdown: each batch is its
            // own statement, so nothing is left half-done.
            tokio::select! {
                () = cancel.cancelled() => return,
                result = self.run_once(self.clock.now()) => match result {
                    Ok(0) => tracing::debug!("pruning: nothing to delete"),
                    Ok(n) => tracing::info!(samples = n, "pruned samples past retention"),
                    Err(err) => tracing::warn!(error = %err, "pruning failed; will retry"),
                },
            }
        }
    }
}
