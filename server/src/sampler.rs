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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::PublicStatus;
use chrono::{SubsecRound, Utc};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::probe::{Outcome, Probe};
use crate::snapshot::SnapshotBuilder;
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
}

impl Sampler {
    pub fn new(
        services: Vec<ScheduledService>,
        max_in_flight: usize,
        sink: mpsc::Sender<NewSample>,
    ) -> Self {
        Self {
            services,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            sink,
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
        // Milliseconds: what both backends store, so memory and database agree.
        let taken_at = Utc::now().trunc_subsecs(3);
        let deadline = service.timeout + DEADLINE_GRACE;
        let outcome = tokio::time::timeout(deadline, service.probe.run(service.timeout))
            .await
            .unwrap_or_else(|_| {
                Outcome::down(
                    None,
                    format!("timed out after {}s", service.timeout.as_secs()),
                )
            });
        drop(permit);
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
        };
        if sink.send(sample).await.is_err() {
            return;
        }
    }
}

/// Counters the writer keeps; shared with health and metrics endpoints.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_flushes: AtomicU64,
}

/// Writes samples in batches and publishes a new snapshot after each commit.
pub struct SampleWriter {
    store: Arc<dyn Store>,
    snapshot: SnapshotBuilder,
    publish: watch::Sender<Arc<PublicStatus>>,
    stats: Arc<WriterStats>,
    /// Samples received but not yet committed, oldest first.
    buffer: VecDeque<NewSample>,
    pub max_batch: usize,
    pub max_buffered: usize,
    /// How long to gather samples before a write.
    pub gather: Duration,
    /// How long to wait before retrying a failed write.
    pub retry_after: Duration,
}

impl SampleWriter {
    pub fn new(
        store: Arc<dyn Store>,
        snapshot: SnapshotBuilder,
        publish: watch::Sender<Arc<PublicStatus>>,
        stats: Arc<WriterStats>,
    ) -> Self {
        Self {
            store,
            snapshot,
            publish,
            stats,
            buffer: VecDeque::new(),
            max_batch: 1000,
            max_buffered: 100_000,
            gather: Duration::from_millis(200),
            retry_after: Duration::from_secs(1),
        }
    }

    /// Runs until every sender of `samples` is gone, then flushes what is left.
    pub async fn run(mut self, mut samples: mpsc::Receiver<NewSample>) {
        let mut incoming = Vec::with_capacity(self.max_batch);
        loop {
            let received = if self.buffer.is_empty() {
                samples.recv_many(&mut incoming, self.max_batch).await
            } else {
                // Something is waiting for a retry: don't block forever.
                match tokio::time::timeout(
                    self.retry_after,
                    samples.recv_many(&mut incoming, self.max_batch),
                )
                .await
                {
                    Ok(n) => n,
                    Err(_) => usize::MAX, // timer: just retry
                }
            };
            if received == 0 {
                break;
            }
            if received != usize::MAX && incoming.len() < self.max_batch && !self.gather.is_zero() {
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

    fn enqueue(&mut self, samples: impl Iterator<Item = NewSample>) {
        self.buffer.extend(samples);
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
        while !self.buffer.is_empty() {
            let n = self.buffer.len().min(self.max_batch);
            let batch: Vec<NewSample> = self.buffer.iter().take(n).cloned().collect();
            // States are computed from the committed ones and stored with the
            // samples; they are applied in memory only once both are stored.
            let states = self.snapshot.advance(&batch);
            match self.store.insert_samples(&batch, &states).await {
                Ok(()) => {
                    self.buffer.drain(..n);
                    self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
                    self.snapshot.record(&batch, &states);
                    committed = true;
                }
                Err(err) => {
                    self.stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %err, buffered = self.buffer.len(), "writing samples failed; will retry");
                    break;
                }
            }
        }
        if committed {
            self.publish
                .send_replace(Arc::new(self.snapshot.build(Utc::now())));
        }
    }
}
