//! Scheduling probes and writing their samples.
//!
//! - Every service runs on its own interval in its own task, so a slow or
//!   hanging target only ever delays itself. Missed ticks are skipped, not
//!   burst. First runs are spread over a short window so many services do
//!   not fire in the same millisecond.
//! - A semaphore caps probes in flight; each probe has a hard deadline.
//! - Samples go through a channel to one [`SampleWriter`], which writes them
//!   in batches. When the database fails, samples wait in a bounded buffer and
//!   are retried; only what the bound forces out is dropped, and that is
//!   logged and counted.
//! - Shutdown: cancelling the token stops scheduling; a probe in flight
//!   finishes and its sample is still sent. The writer drains the channel and
//!   flushes before it returns.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::PublicStatus;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::changes::Changes;
use crate::clock::{sample_time, SharedClock};
use crate::maintenance::Schedule;
use crate::probe::{Outcome, Probe};
use crate::snapshot::{SnapshotBuilder, RECENT_INCIDENTS};
use crate::store::{NewSample, Store};

/// Extra time past a probe's own timeout before the sampler gives up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// First runs are spread over at most this long (or the interval, if shorter).
const MAX_START_SPREAD: Duration = Duration::from_secs(10);

/// One service, ready to be probed.
#[derive(Clone)]
pub struct ScheduledService {
    pub service_id: i64,
    pub slug: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub probe: Arc<dyn Probe>,
}

pub struct Sampler {
    services: Vec<ScheduledService>,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<NewSample>,
    clock: SharedClock,
}

impl Sampler {
    pub fn new(
        services: Vec<ScheduledService>,
        max_in_flight: usize,
        sink: mpsc::Sender<NewSample>,
        clock: SharedClock,
    ) -> Self {
        Self {
            services,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            sink,
            clock,
        }
    }

    /// Probes every service until `cancel` fires, then waits for probes in
    /// flight to hand over their samples.
    pub async fn run(self, cancel: CancellationToken) {
        let count = u32::try_from(self.services.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut tasks = JoinSet::new();
        for (i, service) in self.services.into_iter().enumerate() {
            let spread = service.interval.min(MAX_START_SPREAD);
            let offset = spread * u32::try_from(i).unwrap_or(u32::MAX) / count;
            tasks.spawn(run_service(
                service,
                offset,
                Arc::clone(&self.in_flight),
                self.sink.clone(),
                Arc::clone(&self.clock),
                cancel.clone(),
            ));
        }
        drop(self.sink);
        while tasks.join_next().await.is_some() {}
    }
}

async fn run_service(
    service: ScheduledService,
    offset: Duration,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<NewSample>,
    clock: SharedClock,
    cancel: CancellationToken,
) {
    let offset = offset.max(service.probe.first_delay());
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, service.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            permit = in_flight.acquire() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let taken_at = sample_time(clock.now());
        let deadline = service.timeout + DEADLINE_GRACE;
        let started = Instant::now();
        let outcome = tokio::time::timeout(deadline, service.probe.run(service.timeout))
            .await
            .unwrap_or_else(|_| {
                Outcome::down(
                    None,
                    format!("timed out after {}s", service.timeout.as_secs()),
                )
            });
        drop(permit);
        crate::metrics::probe_finished(&service.slug, outcome.outcome, started.elapsed());
        tracing::debug!(
            service.slug = %service.slug,
            outcome = outcome.outcome.as_str(),
            latency_ms = outcome.latency_ms,
            "probe finished"
        );
        let sample = NewSample {
            service_id: service.service_id,
            taken_at,
            outcome: outcome.outcome,
            latency_ms: outcome.latency_ms,
            error: outcome.error,
            // The writer knows the maintenance schedule.
            in_maintenance: false,
        };
        if sink.send(sample).await.is_err() {
            return;
        }
    }
}

/// Counters and heartbeats of the engine; shared with the health and
/// metrics endpoints.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_flushes: AtomicU64,
    pub incidents_opened: AtomicU64,
    pub incidents_resolved: AtomicU64,
    /// Samples waiting to be written.
    pub buffered: AtomicU64,
    /// When the writer (on the prober) or the reload (on a follower) last
    /// completed a round, Unix milliseconds; 0 before the first.
    pub last_round_ms: AtomicI64,
    /// When the newest sample reached the writer, Unix milliseconds.
    pub last_sample_ms: AtomicI64,
    /// This replica holds the prober lock.
    pub prober: AtomicBool,
}

impl WriterStats {
    /// Records a completed round at `now`.
    pub fn beat(&self, now: DateTime<Utc>) {
        self.last_round_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// Time since the last round, if there was one.
    pub fn since_round(&self, now: DateTime<Utc>) -> Option<Duration> {
        since(&self.last_round_ms, now)
    }

    /// Time since the newest sample, if there was one.
    pub fn since_sample(&self, now: DateTime<Utc>) -> Option<Duration> {
        since(&self.last_sample_ms, now)
    }
}

fn since(at_ms: &AtomicI64, now: DateTime<Utc>) -> Option<Duration> {
    let at = at_ms.load(Ordering::Relaxed);
    (at > 0).then(|| Duration::from_millis(u64::try_from(now.timestamp_millis() - at).unwrap_or(0)))
}

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
    stats: Arc<WriterStats>,
    clock: SharedClock,
    changes: Arc<Changes>,
    /// Samples received but not yet committed, oldest first.
    buffer: VecDeque<NewSample>,
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
        stats: Arc<WriterStats>,
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
    pub async fn run(mut self, mut samples: mpsc::Receiver<NewSample>) {
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
            Ok::<_, crate::store::StoreError>((windows, incidents, recent))
        }
        .await;
        match loaded {
            Ok((windows, incidents, recent)) => {
                self.snapshot.set_schedule(Schedule { windows });
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

    fn enqueue(&mut self, samples: impl Iterator<Item = NewSample>) {
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
            let batch: Vec<NewSample> = self.buffer.iter().take(n).cloned().collect();
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
                Ok::<_, crate::store::StoreError>((active, recent))
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
