//! Writing samples: one [`SampleWriter`] takes every sample from the
//! sampler, applies it to the in-memory snapshot at once (statuses and
//! uptime stay current even while the database is away), and writes it in
//! rounds: each round in one transaction with the service states and
//! automatic incident changes it caused.
//!
//! Samples are facts, kept until they are stored:
//! - When the database fails, rounds wait in memory, in the order they were
//!   applied, and are retried; consecutive rounds are written together
//!   (their states are cumulative, their transitions are replayed in time
//!   order, so an incident that began during an outage opens with the time
//!   it began). Only what the bound `max_buffered` forces out is dropped,
//!   oldest samples first (their states and transitions are kept), and that
//!   is logged and counted.
//! - Rounds are written under the leader's lease (`fence`): when another
//!   replica took over, the store keeps the samples but not the states or
//!   incident changes, and the writer tells the engine (`deposed`) so it
//!   stops probing. It still writes what it holds, for as long as it takes.
//! - At shutdown it drains the channel and tries a few more times; what it
//!   still holds then is logged and counted as dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::model::PublicStatus;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::changes::Changes;
use super::load_extras;
use super::stats::EngineStats;
use crate::clock::SharedClock;
use crate::domain::incident::Transition;
use crate::domain::percentiles::LatencyBoard;
use crate::domain::sample::Sample;
use crate::domain::slo::Board;
use crate::domain::snapshot::SnapshotBuilder;
use crate::domain::status::ServiceState;
use crate::store::{Lease, Store, ROUND_LOG_KEEP};

/// Attempts at shutdown to write what is still held.
const SHUTDOWN_ATTEMPTS: usize = 3;

/// Samples applied to the snapshot together, with the states and status
/// transitions they led to there; stored in one transaction.
#[derive(Clone, Debug, Default)]
struct Round {
    samples: Vec<Sample>,
    states: Vec<ServiceState>,
    transitions: Vec<Transition>,
}

impl Round {
    /// Appends a later round: samples and transitions in order, states
    /// replaced by the later ones (they are cumulative).
    fn absorb(&mut self, later: Self) {
        self.samples.extend(later.samples);
        self.transitions.extend(later.transitions);
        let mut states: HashMap<i64, ServiceState> = self
            .states
            .drain(..)
            .chain(later.states)
            .map(|s| (s.service_id, s))
            .collect();
        let mut merged: Vec<ServiceState> = states.drain().map(|(_, s)| s).collect();
        merged.sort_by_key(|s| s.service_id);
        self.states = merged;
    }
}

/// Rounds applied to the snapshot but not yet stored, oldest first.
#[derive(Debug, Default)]
struct Backlog {
    rounds: VecDeque<Round>,
    /// Samples in `rounds`.
    samples: usize,
}

impl Backlog {
    fn push(&mut self, round: Round) {
        self.samples += round.samples.len();
        self.rounds.push_back(round);
    }

    fn is_empty(&self) -> bool {
        self.rounds.is_empty()
    }

    /// Drops the oldest samples beyond `max` and returns how many went.
    /// Their rounds' states and transitions stay (small, and what incidents
    /// need): an emptied round is merged into the next.
    fn trim(&mut self, max: usize) -> usize {
        let excess = self.samples.saturating_sub(max);
        let mut dropped = 0;
        while dropped < excess {
            let Some(oldest) = self.rounds.front_mut() else {
                break;
            };
            let n = oldest.samples.len().min(excess - dropped);
            oldest.samples.drain(..n);
            dropped += n;
            if oldest.samples.is_empty() && self.rounds.len() > 1 {
                let mut emptied = self.rounds.pop_front().unwrap_or_default();
                if let Some(next) = self.rounds.front_mut() {
                    emptied.absorb(std::mem::take(next));
                    *next = emptied;
                }
            }
        }
        self.samples -= dropped;
        dropped
    }

    /// The oldest rounds merged into one of at most `max_batch` samples
    /// (always at least one round), and how many rounds that took.
    fn next_batch(&self, max_batch: usize) -> Option<(Round, usize)> {
        let mut rounds = self.rounds.iter();
        let mut batch = rounds.next()?.clone();
        let mut taken = 1;
        for round in rounds {
            if batch.samples.len() + round.samples.len() > max_batch {
                break;
            }
            batch.absorb(round.clone());
            taken += 1;
        }
        Some((batch, taken))
    }

    /// Forgets the `rounds` oldest rounds, now stored.
    fn stored(&mut self, rounds: usize) {
        for round in self.rounds.drain(..rounds) {
            self.samples -= round.samples.len();
        }
    }
}

/// Writes samples in rounds and publishes a new snapshot after each.
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
    /// What is applied but not yet stored.
    backlog: Backlog,
    /// Incidents changed but could not be reloaded yet.
    incidents_outdated: bool,
    /// The last write failed: the snapshot holds more than the database.
    write_failed: bool,
    /// The last reload of maintenance or incidents failed.
    reload_failed: bool,
    /// Another replica leads: what this one still writes are facts only.
    deposed: CancellationToken,
    /// The lease rounds are written under; `None` writes unfenced (a
    /// process that owns its database, or a test).
    pub fence: Option<Lease>,
    pub max_batch: usize,
    pub max_buffered: usize,
    /// How long to gather samples before a write.
    pub gather: Duration,
    /// Least time between two snapshots published after rounds without a
    /// status change (zero: one after every round). A status change, an
    /// admin change and a reload publish at once.
    ///
    /// Each snapshot is rendered and compressed again by the first request
    /// for each page and coding, on a runtime worker; with many services
    /// probing every few seconds, rounds come five times a second, and
    /// those renders showed in the page's p99 (`bench/hot-path.sh`). A
    /// second later is soon enough for uptime figures and bars.
    pub publish_every: Duration,
    /// When the last snapshot was published.
    published_at: Option<Instant>,
    /// A round's changes wait for the snapshot due then.
    publish_due: Option<Instant>,
    /// How long to wait before retrying a failed write.
    pub retry_after: Duration,
    /// How often to reload maintenance and incidents.
    pub refresh_every: Duration,
    /// Where the objectives' measures go, when someone reads them.
    pub slo: Option<watch::Sender<Arc<Board>>>,
    /// Response-time percentiles to show, from [`super::percentiles`].
    pub latencies: Option<watch::Receiver<Arc<LatencyBoard>>>,
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
            backlog: Backlog::default(),
            incidents_outdated: false,
            write_failed: false,
            reload_failed: false,
            deposed: CancellationToken::new(),
            fence: None,
            max_batch: 1000,
            max_buffered: 100_000,
            gather: Duration::from_millis(200),
            publish_every: Duration::ZERO,
            published_at: None,
            publish_due: None,
            retry_after: Duration::from_secs(1),
            refresh_every: Duration::from_secs(30),
            slo: None,
            latencies: None,
        }
    }

    /// Cancelled when a round comes back fenced: another replica leads.
    pub fn deposed(&self) -> CancellationToken {
        self.deposed.clone()
    }

    /// Runs until every sender of `samples` is gone, then writes what is
    /// left: for as long as it takes, or, once `shutdown` is cancelled,
    /// for a few more attempts.
    pub async fn run(mut self, mut samples: mpsc::Receiver<Sample>, shutdown: CancellationToken) {
        let changes = Arc::clone(&self.changes);
        let mut incoming = Vec::with_capacity(self.max_batch);
        let mut next_refresh = Instant::now() + self.refresh_every;
        loop {
            let mut wake_at = if self.backlog.is_empty() {
                next_refresh
            } else {
                // Something is waiting for a retry: don't block for long.
                next_refresh.min(Instant::now() + self.retry_after)
            };
            if let Some(due) = self.publish_due {
                wake_at = wake_at.min(due);
            }
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
                    // Below `info`: disabled at the call site unless traces are on.
                    let round = tracing::debug_span!(
                        "writer round",
                        otel.name = "writer round",
                        upbeat.samples = incoming.len(),
                        upbeat.transitions = tracing::field::Empty,
                        upbeat.incidents.opened = tracing::field::Empty,
                        upbeat.incidents.resolved = tracing::field::Empty,
                    );
                    async {
                        let changed = self.apply(std::mem::take(&mut incoming));
                        self.flush().await;
                        self.publish_after_round(changed);
                    }
                    .instrument(round)
                    .await;
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
                    if refreshed {
                        self.prune_round_log().await;
                    }
                    self.flush().await;
                    self.publish();
                    self.stats.beat(self.clock.now());
                    if refreshed {
                        changes.applied(ticket);
                    }
                }
            }
        }
        self.drain(&shutdown).await;
    }

    /// Writes what is still held after the last sample arrived.
    async fn drain(&mut self, shutdown: &CancellationToken) {
        let mut attempts_after_shutdown = 0;
        while !self.backlog.is_empty() {
            self.flush().await;
            if self.backlog.is_empty() {
                break;
            }
            if shutdown.is_cancelled() {
                attempts_after_shutdown += 1;
                if attempts_after_shutdown >= SHUTDOWN_ATTEMPTS {
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.retry_after) => {}
                () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
            }
        }
        let lost = self.backlog.samples;
        if lost > 0 {
            self.stats.dropped.fetch_add(lost as u64, Ordering::Relaxed);
            tracing::error!(
                samples = lost,
                "database unavailable at shutdown; samples not written"
            );
        }
        self.publish();
    }

    /// Reloads the maintenance schedule and unresolved incidents; returns
    /// whether that worked. On failure the old ones stay and the snapshot is
    /// marked stale.
    pub async fn refresh(&mut self) -> bool {
        match load_extras(&*self.store, self.clock.now(), &mut self.snapshot).await {
            Ok(_) => {
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

    /// Forgets logged rounds followers no longer need.
    async fn prune_round_log(&self) {
        let before = self.clock.now() - ROUND_LOG_KEEP;
        if let Err(err) = self.store.prune_rounds(before).await {
            tracing::debug!(error = %err, "pruning the round log failed; will retry");
        }
    }

    /// Publishes after a round: at once when it changed a status (or
    /// `publish_every` has passed since the last snapshot), else when it
    /// has.
    fn publish_after_round(&mut self, changed: bool) {
        let due = self.published_at.map(|at| at + self.publish_every);
        match due {
            Some(due) if !changed && due > Instant::now() => {
                self.publish_due.get_or_insert(due);
            }
            _ => self.publish(),
        }
    }

    /// Publishes the snapshot as this writer holds it, unless another
    /// replica leads (its followers' snapshots are the truth then).
    fn publish(&mut self) {
        self.publish_due = None;
        self.published_at = Some(Instant::now());
        if self.deposed.is_cancelled() {
            return;
        }
        self.snapshot
            .set_stale(self.write_failed || self.reload_failed);
        let started = std::time::Instant::now();
        let now = self.clock.now();
        if let Some(latencies) = &self.latencies {
            self.snapshot.set_latencies(latencies.borrow().clone());
        }
        let snapshot = tracing::debug_span!("snapshot rebuild", otel.name = "snapshot rebuild")
            .in_scope(|| self.snapshot.build(now));
        crate::metrics::snapshot_rebuilt(started.elapsed());
        self.publish.send_replace(Arc::new(snapshot));
        if let Some(slo) = &self.slo {
            slo.send_replace(self.snapshot.measure(now));
        }
    }

    /// Applies samples to the snapshot and queues them, with the states and
    /// transitions they lead to, for writing. Whether a status changed.
    fn apply(&mut self, mut samples: Vec<Sample>) -> bool {
        let schedule = self.snapshot.schedule();
        for sample in &mut samples {
            sample.in_maintenance = schedule.covers(sample.service_id, sample.taken_at);
        }
        let (states, transitions) = self.snapshot.advance(&samples);
        tracing::Span::current().record("upbeat.transitions", transitions.len());
        let changed = !transitions.is_empty();
        self.snapshot.record(&samples, &states);
        self.stats
            .last_sample_ms
            .store(self.clock.now().timestamp_millis(), Ordering::Relaxed);
        self.backlog.push(Round {
            samples,
            states,
            transitions,
        });
        let dropped = self.backlog.trim(self.max_buffered);
        if dropped > 0 {
            self.stats
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                buffered = self.backlog.samples,
                "sample buffer full; oldest samples dropped"
            );
        }
        self.stats
            .buffered
            .store(self.backlog.samples as u64, Ordering::Relaxed);
        changed
    }

    /// Writes everything held, batch by batch. Stops at the first failure
    /// and keeps the rest for the next attempt.
    async fn flush(&mut self) {
        let mut failed = false;
        while let Some((batch, rounds)) = self.backlog.next_batch(self.max_batch) {
            let written = self
                .store
                .insert_samples(
                    &batch.samples,
                    &batch.states,
                    &batch.transitions,
                    self.fence.as_ref(),
                )
                .await;
            match written {
                Ok(round) => {
                    self.backlog.stored(rounds);
                    if !round.fenced && !batch.transitions.is_empty() {
                        // Status changes wrote alert events.
                        self.changes.alerts_written();
                    }
                    self.stats
                        .written
                        .fetch_add(batch.samples.len() as u64, Ordering::Relaxed);
                    if round.fenced && !self.deposed.is_cancelled() {
                        tracing::warn!(
                            epoch = self.fence.as_ref().map(|l| l.epoch),
                            "another replica took over: storing samples only, no states or incidents"
                        );
                        self.deposed.cancel();
                    }
                    self.stats
                        .incidents_opened
                        .fetch_add(round.incidents_opened.into(), Ordering::Relaxed);
                    self.stats
                        .incidents_resolved
                        .fetch_add(round.incidents_resolved.into(), Ordering::Relaxed);
                    let span = tracing::Span::current();
                    span.record("upbeat.incidents.opened", round.incidents_opened);
                    span.record("upbeat.incidents.resolved", round.incidents_resolved);
                    if round.incidents_opened > 0 || round.incidents_resolved > 0 {
                        tracing::info!(
                            opened = round.incidents_opened,
                            resolved = round.incidents_resolved,
                            "automatic incidents changed"
                        );
                    }
                    self.incidents_outdated |= round.incidents_changed;
                }
                Err(err) => {
                    self.stats.failed_flushes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %err, buffered = self.backlog.samples, "writing samples failed; will retry");
                    failed = true;
                    break;
                }
            }
        }
        if self.incidents_outdated && !failed {
            self.refresh().await;
        }
        self.write_failed = failed;
        self.stats
            .buffered
            .store(self.backlog.samples as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use app::model::{SampleOutcome, ServiceStatus};
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::status::Tracker;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, second).unwrap()
    }

    fn round(service_id: i64, seconds: &[u32], bad_run: u32) -> Round {
        Round {
            samples: seconds
                .iter()
                .map(|s| Sample {
                    service_id,
                    taken_at: at(*s),
                    outcome: SampleOutcome::Down,
                    latency_ms: None,
                    error: None,
                    in_maintenance: false,
                })
                .collect(),
            states: vec![ServiceState {
                service_id,
                tracker: Tracker {
                    status: ServiceStatus::MajorOutage,
                    bad_run,
                    good_run: 0,
                },
                updated_at: at(*seconds.last().unwrap_or(&0)),
            }],
            transitions: vec![Transition {
                service_id,
                name: format!("s{service_id}"),
                from: ServiceStatus::Operational,
                to: ServiceStatus::MajorOutage,
                at: at(seconds[0]),
                error: None,
            }],
        }
    }

    #[test]
    fn later_rounds_append_samples_and_transitions_and_replace_states() {
        let mut merged = round(1, &[1, 2], 2);
        merged.absorb(round(2, &[3], 1));
        merged.absorb(round(1, &[4], 3));
        let seconds: Vec<_> = merged.samples.iter().map(|s| s.taken_at).collect();
        assert_eq!(seconds, [at(1), at(2), at(3), at(4)]);
        let states: Vec<_> = merged
            .states
            .iter()
            .map(|s| (s.service_id, s.tracker.bad_run))
            .collect();
        assert_eq!(states, [(1, 3), (2, 1)], "one state a service, the latest");
        let transitions: Vec<_> = merged.transitions.iter().map(|t| t.at).collect();
        assert_eq!(transitions, [at(1), at(3), at(4)], "in the order applied");
    }

    #[test]
    fn a_full_backlog_drops_the_oldest_samples_but_keeps_their_decisions() {
        let mut backlog = Backlog::default();
        backlog.push(round(1, &[1, 2], 2));
        backlog.push(round(1, &[3], 3));
        backlog.push(round(2, &[4, 5], 2));
        assert_eq!(backlog.trim(10), 0);
        assert_eq!(backlog.trim(2), 3, "five held, two kept");
        assert_eq!(backlog.samples, 2);
        assert_eq!(backlog.rounds.len(), 1, "emptied rounds merged forward");
        let kept = &backlog.rounds[0];
        let seconds: Vec<_> = kept.samples.iter().map(|s| s.taken_at).collect();
        assert_eq!(seconds, [at(4), at(5)]);
        assert_eq!(kept.transitions.len(), 3, "every transition kept");
        let states: Vec<_> = kept
            .states
            .iter()
            .map(|s| (s.service_id, s.tracker.bad_run))
            .collect();
        assert_eq!(states, [(1, 3), (2, 2)]);
    }

    #[test]
    fn batches_merge_the_oldest_rounds_up_to_the_limit() {
        let mut backlog = Backlog::default();
        backlog.push(round(1, &[1, 2], 2));
        backlog.push(round(1, &[3], 3));
        backlog.push(round(2, &[4, 5], 2));
        let (batch, rounds) = backlog.next_batch(3).unwrap();
        assert_eq!((batch.samples.len(), rounds), (3, 2));
        // A round larger than the limit still goes, alone.
        let (batch, rounds) = backlog.next_batch(1).unwrap();
        assert_eq!((batch.samples.len(), rounds), (2, 1));
        backlog.stored(2);
        assert_eq!(backlog.samples, 2);
        let (batch, rounds) = backlog.next_batch(1000).unwrap();
        assert_eq!((batch.samples.len(), rounds), (2, 1));
        backlog.stored(1);
        assert!(backlog.is_empty() && backlog.next_batch(1000).is_none());
    }
}
