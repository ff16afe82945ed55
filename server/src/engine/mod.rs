//! Background work, and who does it: the engine runs the sampler, the
//! writer and the pruner on the one replica that holds the prober lock, and
//! keeps the snapshot of the other replicas fresh from the database.
//!
//! - [`sampler`]: scheduling probes, concurrency cap, deadlines.
//! - [`writer`]: samples → one transaction per round → a new snapshot.
//! - [`pruner`]: retention of raw samples and idempotency keys.
//! - [`changes`]: admin changes → snapshot rebuilds, acknowledged.
//! - [`stats`]: counters and heartbeats for health and metrics.
//!
//! - SQLite: one process per database file, so the lock is always granted.
//! - PostgreSQL: a session advisory lock. The leader checks every
//!   `lease_check` that the session holding it still answers; if it does
//!   not, it stops probing (its samples are flushed) and competes again.
//!   A follower reloads its snapshot from the database every
//!   `follow_every` and tries to take the lock each time, so when the
//!   leader dies another replica takes over within about that long.

pub mod changes;
pub mod pruner;
pub mod sampler;
pub mod stats;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::model::{PageInfo, PublicStatus};
use chrono::TimeDelta;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use self::changes::Changes;
use self::pruner::Pruner;
use self::sampler::{Sampler, ScheduledService};
use self::stats::EngineStats;
use self::writer::SampleWriter;
use crate::clock::SharedClock;
use crate::domain::maintenance::Schedule;
use crate::domain::rollup::Resolution;
use crate::domain::service::ServiceRecord;
use crate::domain::snapshot::{SnapshotBuilder, BAR_DAYS, RECENT_INCIDENTS};
use crate::domain::status::Thresholds;
use crate::store::{ProberLease, Store, StoreError};

/// Readers' handle on the current snapshot: public reads clone an `Arc`
/// out of it and never touch the database.
pub type SnapshotReader = watch::Receiver<Arc<PublicStatus>>;

/// Capacity of the probe → writer channel; the writer's own buffer is larger.
const SAMPLE_CHANNEL: usize = 10_000;

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub page: PageInfo,
    pub services: Vec<ServiceRecord>,
    pub thresholds: HashMap<i64, Thresholds>,
    pub scheduled: Vec<ScheduledService>,
    pub max_concurrent_probes: usize,
    pub retention: Duration,
    pub prune_every: Duration,
    pub publish: watch::Sender<Arc<PublicStatus>>,
    pub stats: Arc<EngineStats>,
    /// Notified by admin changes: rebuild the snapshot now.
    pub changes: Arc<Changes>,
    pub follow_every: Duration,
    pub lease_check: Duration,
    /// How long the writer gathers samples before a write.
    pub gather: Duration,
    /// The builder loaded at start-up, used by the first term as prober so
    /// the state is not loaded twice (and its service views are shared
    /// with the first snapshot).
    pub initial: std::sync::Mutex<Option<SnapshotBuilder>>,
}

impl Engine {
    /// Everything the snapshot shows, as the database holds it now.
    pub async fn load_builder(&self) -> Result<SnapshotBuilder, StoreError> {
        let latest = self.store.latest_samples().await?;
        let states = self.store.service_states().await?;
        let mut builder = SnapshotBuilder::new(
            self.page.clone(),
            self.services.clone(),
            self.thresholds.clone(),
            &latest,
            &states,
        );
        let now = self.clock.now();
        for (resolution, from) in [
            (
                Resolution::Hour,
                Resolution::Hour.start_of(now) - TimeDelta::hours(23),
            ),
            (
                Resolution::Day,
                Resolution::Day.start_of(now) - TimeDelta::days(BAR_DAYS - 1),
            ),
        ] {
            let rows = self.store.rollups_since(resolution, from).await?;
            builder.seed_rollups(resolution, rows);
        }
        builder.set_schedule(Schedule::current(
            self.store.maintenance_windows(now).await?,
            now,
        ));
        builder.set_incidents(self.store.active_incidents().await?);
        builder.set_recent_incidents(self.store.incidents(None, RECENT_INCIDENTS).await?);
        Ok(builder)
    }

    /// Probes while this replica holds the lock, follows otherwise, until
    /// `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            match self.store.try_lock_prober().await {
                Ok(Some(lease)) => {
                    tracing::info!("this replica holds the prober lock and probes");
                    self.stats.prober.store(true, Ordering::Relaxed);
                    self.lead(lease, &cancel).await;
                    self.stats.prober.store(false, Ordering::Relaxed);
                    continue;
                }
                Ok(None) => {
                    let ticket = self.changes.pending();
                    if self.follow().await {
                        self.changes.applied(ticket);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot reach the database for the prober lock; will retry");
                    self.mark_stale();
                }
            }
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(self.follow_every) => {}
                // An admin change on this replica: show it at once.
                () = self.changes.notified() => {}
            }
        }
    }

    async fn lead(&self, mut lease: ProberLease, cancel: &CancellationToken) {
        let initial = self
            .initial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let loaded = match initial {
            Some(builder) => Ok(builder),
            None => self.load_builder().await,
        };
        let builder = match loaded {
            Ok(builder) => builder,
            Err(err) => {
                tracing::warn!(error = %err, "loading state to start probing failed; will retry");
                self.mark_stale();
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep(self.follow_every) => {}
                }
                return;
            }
        };
        let term = cancel.child_token();
        let (sink, samples) = mpsc::channel(SAMPLE_CHANNEL);
        let mut writer = SampleWriter::new(
            Arc::clone(&self.store),
            builder,
            self.publish.clone(),
            Arc::clone(&self.stats),
            Arc::clone(&self.clock),
            Arc::clone(&self.changes),
        );
        writer.gather = self.gather;
        let writer = tokio::spawn(writer.run(samples));
        let sampler = Sampler::new(
            self.scheduled.clone(),
            self.max_concurrent_probes,
            sink,
            Arc::clone(&self.clock),
        );
        let sampler = tokio::spawn(sampler.run(term.clone()));
        let pruner = Pruner::new(
            Arc::clone(&self.store),
            self.retention,
            Arc::clone(&self.clock),
        );
        let pruner = tokio::spawn(pruner.run(self.prune_every, term.clone()));
        loop {
            tokio::select! {
                () = term.cancelled() => break,
                () = tokio::time::sleep(self.lease_check) => {
                    if !lease.is_held().await {
                        tracing::warn!("lost the prober lock; stopping probes");
                        break;
                    }
                }
            }
        }
        term.cancel();
        // The sampler hands over probes in flight; the writer flushes.
        for (name, task) in [
            ("sampler", sampler),
            ("sample writer", writer),
            ("pruner", pruner),
        ] {
            if let Err(err) = task.await {
                tracing::error!(error = %err, task = name, "task failed");
            }
        }
        drop(lease);
    }

    /// One follower round: the snapshot as the leader left it in the
    /// database. Returns whether it was published.
    async fn follow(&self) -> bool {
        match self.load_builder().await {
            Ok(mut builder) => {
                let started = std::time::Instant::now();
                let snapshot = builder.build(self.clock.now());
                crate::metrics::snapshot_rebuilt(started.elapsed());
                self.publish.send_replace(Arc::new(snapshot));
                self.stats.beat(self.clock.now());
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "refreshing the snapshot from the database failed; will retry");
                self.mark_stale();
                false
            }
        }
    }

    /// Keeps serving the last snapshot, marked as old data.
    fn mark_stale(&self) {
        self.publish.send_if_modified(|current| {
            if current.stale {
                return false;
            }
            let mut stale = PublicStatus::clone(current);
            stale.stale = true;
            *current = Arc::new(stale);
            true
        });
    }
}
