//! Writing samples: one [`SampleWriter`] takes every sample from the
//! sampler and writes them in batches, each in one transaction with the
//! service states and automatic incident changes they cause, then
//! publishes a new snapshot.
//!
//! When the database fails, samples wait in a bounded buffer and are
//! retried; only what the bound forces out is dropped, and that is logged
//! and counted. Shutdown drains the channel and flushes what it can.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::model::PublicStatus;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::changes::Changes;
use super::stats::EngineStats;
use crate::clock::SharedClock;
use crate::domain::maintenance::Schedule;
use crate::domain::sample::Sample;
use crate::domain::snapshot::{SnapshotBuilder, RECENT_INCIDENTS};
use crate::store::{Store, StoreError};

/// Writes samples in batches and publishes a new snapshot after each commit.
///
/// It also owns what the snapshot shows besides samples: it reloads the
/// maintenance schedule and the unresolved incidents every
/// `refresh_every`, at once when `changes` is notified (an admin change),
/// and after a round changed incidents.
pub struct SampleWriter {
    store: Arc<dyn Store>,
    snapshot: SnapshotBuilder,
    publish: watch::Sender<Arc<PublicStatus>>,
    stats: Arc<EngineStats>,
    clock: SharedClock,
    changes: Arc<Changes>,
    /// Samples received but not yet committed, oldest first.
    buffer: VecDeque<Sample>,
    /// Incidents changed but could not be reloaded yet.
    incidents_outdated: bool,
    /// The last write failed: the snapshot shows older data than exists.
    write_failed: bool,
    /// The last reload of maintenance or incidents failed.
    reload_failed: bool,
    pub max_batch: usize,
    pub max_buffered: usize,
    /// How long to gather samples before a write.
    pub gather: Duration,
    /// How long to wait before retrying a failed write.
    pub retry_after: Duration,
    /// How often to reload maintenance and incidents.
    pub refresh_every: Duration,
}

enum Wake {
    Samples(usize),
    Timer,
    Changed,
}

impl SampleWriter {
    pub fn new(
        store: Arc<dyn Store>,
        snapshot: SnapshotBuilder,
        publish: watch::Sender<Arc<PublicStatus>>,
        stats: Arc<EngineStats>,
        clock: SharedClock,
        changes: Arc<Changes>,
    ) -> Self {
        Self {
            store,
            snapshot,
            publish,
            stats,
            clock,
            changes,
            buffer: VecDeque::new(),
            incidents_outdated: false,
            write_failed: false,
            reload_failed: false,
            max_batch: 1000,
            max_buffered: 100_000,
            gather: Duration::from_millis(200),
            retry_after: Duration::from_secs(1),
            refresh_every: Duration::from_secs(30),
        }
    }

    /// Runs until every sender of `samples` is gone, then flushes what is left.
    pub async fn run(mut self, mut samples: mpsc::Receiver<Sample>) {
        let changes = Arc::clone(&self.changes);
        let mut incoming = Vec::with_capacity(self.max_batch);
        let mut next_refresh = Instant::now() + self.refresh_every;
        loop {
            let wake_at = if self.buffer.is_empty() {
                next_refresh
            } else {
                // Something is waiting for a retry: don't block for long.
                next_refresh.min(Instant::now() + self.retry_after)
            };
            let wake = tokio::select! {
                n = samples.recv_many(&mut incoming, self.max_batch) => Wake::Samples(n),
                () = tokio::time::sleep_until(wake_at) => Wake::Timer,
                () = changes.notified() => Wake::Changed,
            };
            match wake {
                Wake::Samples(0) => break,
                Wake::Samples(_) => {
                    if incoming.len() < self.max_batch && !self.gather.is_zero() {
                        tokio::time::sleep(self.gather).await;
                        while incoming.len() < self.max_batch {
                            match samples.try_recv() {
                                Ok(s) => incoming.push(s),
                                Err(_) => break,
                            }
                        }
                    }
                    self.enqueue(incoming.drain(..));
                    self.flush().await;
                    self.stats.beat(self.clock.now());
                }
                Wake::Timer | Wake::Changed => {
                    let ticket = changes.pending();
                    let refreshed =
                        if matches!(wake, Wake::Changed) || Instant::now() >= next_refresh {
                            next_refresh = Instant::now() + self.refresh_every;
                            self.refresh().await
                        } else {
                            false
                        };
                    self.flush().await;
                    self.publish();
                    self.stats.beat(self.clock.now());
                    if refreshed {
                        changes.applied(ticket);
                    }
                }
            }
        }
        // Shutdown: the database may be coming back; try a few more times.
        for _ in 0..3 {
            if self.buffer.is_empty() {
                break;
            }
            self.flush().await;
            if !self.buffer.is_empty() {
                tokio::time::sleep(self.retry_after).await;
            }
        }
        if !self.buffer.is_empty() {
            let lost = self.buffer.len() as u64;
            self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
            tracing::error!(
                samples = lost,
                "database unavailable at shutdown; samples not written"
            );
        }
    }

    /// Reloads the maintenance schedule and unresolved incidents; returns
    /// whether that worked. On failure the old ones stay and the snapshot is
    /// marked stale.
    pub async fn refresh(&mut self) -> bool {
        let now = self.clock.now();
        let loaded = async {
            let windows = self.store.maintenance_windows(now).await?;
            let incidents = self.store.active_incidents().await?;
            let recent = self.store.incidents(None, RECENT_INCIDENTS).await?;
            Ok::<_, StoreError>((windows, incidents, recent))
        }
        .await;
        match loaded {
            Ok((windows, incidents, recent)) => {
                self.snapshot.set_schedule(Schedule::current(windows, now));
                self.snapshot.set_incidents(incidents);
                self.snapshot.set_recent_incidents(recent);
                self.incidents_outdated = false;
                self.reload_failed = false;
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "reloading maintenance and incidents failed; will retry");
                self.reload_failed = true;
                false
            }
        }
    }

    fn publish(&mut self) {
        self.snapshot
            .set_stale(self.write_failed || self.reload_failed);
        let started = std::time::Instant::now();
        let snapshot = self.snapshot.build(self.clock.now());
        crate::metrics::snapshot_rebuilt(started.elapsed());
        self.publish.send_replace(Arc::new(snapshot));
    }

    fn enqueue(&mut self, samples: impl Iterator<Item = Sample>) {
        let schedule = self.snapshot.schedule();
        self.buffer.extend(samples.map(|mut s| {
            s.in_maintenance = schedule.covers(s.service_id, s.taken_at);
            s
        }));
        self.stats
            .last_sample_ms
            .store(self.clock.now().timestamp_millis(), Ordering::Relaxed);
        let excess = self.buffer.len().saturating_sub(self.max_buffered);
        if excess > 0 {
            self.buffer.drain(..excess);
            self.stats
                .dropped
                .fetch_add(excess as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped = excess,
                buffered = self.buffer.len(),
                "sample buffer full; oldest samples dropped"
            );
        }
    }

    /// Writes everything buffered, batch by batch. Stops at the first failure
    /// and keeps the rest for the next attempt.
    async fn flush(&mut self) {
        let mut committed = false;
        let mut failed = false;
        let was_failing = self.write_failed || self.reload_failed;
        while !self.buffer.is_empty() {
            let n = self.buffer.len().min(self.max_batch);
            let batch: Vec<Sample> = self.buffer.iter().take(n).cloned().collect();
            // States and incident changes are computed from the committed
            // state and stored with the samples; they are applied in memory
            // only once all are stored.
            let (states, transitions) = self.snapshot.advance(&batch);
            match self
                .store
                .insert_samples(&batch, &states, &transitions)
                .await
            {
                Ok(round) => {
                    self.buffer.drain(..n);
                    self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.stats
                        .incidents_opened
                        .fetch_add(round.incidents_opened.into(), Ordering::Relaxed);
                    self.stats
                        .incidents_resolved
                        .fetch_add(round.incidents_resolved.into(), Ordering::Relaxed);
                    if round.incidents_opened > 0 || round.incidents_resolved > 0 {
                        tracing::info!(
                            opened = round.incidents_opened,
                            resolved = round.incidents_resolved,
                            "automatic incidents changed"
                        );
                    }
                    self.incidents_outdated |= round.incidents_changed;
                    self.snapshot.record(&batch, &states);
                    committed = true;
                }
                Err(err) => {
                    self.stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %err, buffered = self.buffer.len(), "writing samples failed; will retry");
                    failed = true;
                    break;
                }
            }
        }
        if self.incidents_outdated && !failed {
            let loaded = async {
                let active = self.store.active_incidents().await?;
                let recent = self.store.incidents(None, RECENT_INCIDENTS).await?;
                Ok::<_, StoreError>((active, recent))
            };
            match loaded.await {
                Ok((incidents, recent)) => {
                    self.snapshot.set_incidents(incidents);
                    self.snapshot.set_recent_incidents(recent);
                    self.incidents_outdated = false;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reloading incidents failed; will retry");
                    self.reload_failed = true;
                }
            }
        }
        self.write_failed = failed;
        self.stats
            .buffered
            .store(self.buffer.len() as u64, Ordering::Relaxed);
        if committed || was_failing != (self.write_failed || self.reload_failed) {
            self.publish();
        }
    }
}
