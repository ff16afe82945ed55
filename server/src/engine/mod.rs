//! Background work, and who does it: the engine runs the sampler, the
//! writer and the pruner on the one replica that leads, and keeps the
//! snapshot of the other replicas fresh from the database.
//!
//! - [`sampler`]: scheduling probes, concurrency cap, deadlines.
//! - [`writer`]: samples → the snapshot at once → one transaction per round.
//! - [`pruner`]: retention of raw samples and idempotency keys.
//! - [`changes`]: admin changes → snapshot rebuilds, acknowledged.
//! - [`follower`]: a replica that does not lead, fed by the round log.
//! - [`stats`]: counters and heartbeats for health and metrics.
//!
//! Leadership is a lease in the database (`Store::acquire_lease`): the
//! leader renews it every third of `lease_ttl`; a follower tries to take it
//! every fifth, and gets it once it expired, so a leader that died is
//! replaced within `lease_ttl` and a fifth. Every takeover raises the
//! epoch, and the writer's rounds are fenced by it: a former leader stores
//! its samples but never states or incident changes.
//!
//! A leader that cannot reach the database keeps probing: its samples go
//! into the snapshot at once and wait in the writer for the database. It
//! stops only when the database says another replica leads (a partition:
//! the others took over) or at shutdown. A follower that has just got the
//! database back waits one `lease_ttl` before it competes, so after an
//! outage of the database itself the former leader, which holds the
//! samples of the outage, takes its lease back and decides on them.
//! SQLite has one process per file: it always leads.

pub mod alerts;
pub mod changes;
pub mod follower;
pub mod mail;
pub mod percentiles;
pub mod pruner;
pub mod sampler;
pub mod slo;
pub mod stats;
pub mod subscribers;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::model::{PageInfo, PublicStatus};
use chrono::TimeDelta;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::changes::Changes;
use self::follower::{Follower, FullReload, ROUNDS_PER_READ};
use self::pruner::Pruner;
use self::sampler::{Sampler, ScheduledService};
use self::stats::EngineStats;
use self::writer::SampleWriter;
use crate::clock::SharedClock;
use crate::domain::maintenance::Schedule;
use crate::domain::percentiles::LatencyBoard;
use crate::domain::rollup::Resolution;
use crate::domain::service::ServiceRecord;
use crate::domain::slo::{Board, ServiceObjectives};
use crate::domain::snapshot::{SnapshotBuilder, BAR_DAYS, RECENT_INCIDENTS};
use crate::domain::status::Thresholds;
use crate::store::{Lease, RoundFeed, Store, StoreError};

/// Readers' handle on the current snapshot: public reads clone an `Arc`
/// out of it and never touch the database.
pub type SnapshotReader = watch::Receiver<Arc<PublicStatus>>;

/// Readers' handle on the objectives' measures, published with each
/// snapshot (minute-fresh; see [`SnapshotBuilder::measure`]).
pub type SloReader = watch::Receiver<Arc<Board>>;

/// Capacity of the probe → writer channel; the writer's own buffer is larger.
const SAMPLE_CHANNEL: usize = 10_000;

/// The fewest samples the writer may hold while the database is away.
pub const MIN_BUFFERED: usize = 100_000;
/// How much probing the writer's buffer holds at the least.
pub const BUFFER_SPAN: Duration = Duration::from_secs(20 * 60);

/// Samples the writer may hold: [`BUFFER_SPAN`] of the services at their
/// intervals, and at least [`MIN_BUFFERED`].
pub fn buffer_bound(intervals: impl IntoIterator<Item = Duration>) -> usize {
    let span = BUFFER_SPAN.as_secs_f64();
    let due: f64 = intervals
        .into_iter()
        .map(|every| (span / every.as_secs_f64().max(1.0)).ceil())
        .sum();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a count of samples, positive and far below usize::MAX"
    )]
    let due = due as usize;
    due.max(MIN_BUFFERED)
}

/// This process's name in the leadership row: host, process id and a
/// random part, so that a restarted process is a new holder (and a
/// takeover raises the epoch).
pub fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "upbeat".to_owned());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Loads what the snapshot shows besides samples into `builder`: the
/// maintenance windows not over at `now`, unresolved and recent incidents.
/// Returns the rows read.
pub(crate) async fn load_extras(
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
    builder: &mut SnapshotBuilder,
) -> Result<usize, StoreError> {
    let windows = store.maintenance_windows(now).await?;
    let active = store.active_incidents().await?;
    let recent = store.incidents(None, RECENT_INCIDENTS).await?;
    let rows = windows.len() + active.len() + recent.len();
    builder.set_schedule(Schedule::current(windows, now));
    builder.set_incidents(active);
    builder.set_recent_incidents(recent);
    Ok(rows)
}

/// What woke the engine's loop.
#[derive(Clone, Copy, Debug)]
enum Wake {
    Timer,
    /// An admin change on this replica.
    Changed,
    /// A writer round was logged (or the feed's connection was lost).
    Round,
}

/// The next round announced on `feed`; never, without a feed.
async fn next_round(feed: Option<&mut RoundFeed>) -> Result<(), StoreError> {
    match feed {
        Some(feed) => feed.next().await,
        None => std::future::pending().await,
    }
}

/// Services whose rollups are read per query when a builder is loaded
/// (about 114 rows each: 24 hours and 90 days).
const SEED_SLICE: usize = 1_000;

/// Samples read at start-up for the objectives' short windows: the
/// 5-minute slots reach two hours back, plus the slot under way.
const SHORT_WINDOWS_MINUTES: i64 = 125;

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
    /// Services' objectives (services without any are absent).
    pub objectives: Vec<Arc<ServiceObjectives>>,
    /// Service pages show their objectives (`page.show_slo`).
    pub show_slo: bool,
    pub publish_slo: watch::Sender<Arc<Board>>,
    /// Response-time percentiles, read by this replica (see
    /// [`percentiles`]).
    pub latencies: watch::Sender<Arc<LatencyBoard>>,
    pub stats: Arc<EngineStats>,
    /// Notified by admin changes: rebuild the snapshot now.
    pub changes: Arc<Changes>,
    pub follow_every: Duration,
    /// This replica's name in the leadership row (see [`replica_name`]).
    pub replica: String,
    /// How long a lease lasts unrenewed: the bound on takeover.
    pub lease_ttl: Duration,
    /// How long the writer gathers samples before a write.
    pub gather: Duration,
    /// Least time between snapshots after rounds without a status change
    /// ([`SampleWriter::publish_every`]).
    pub publish_every: Duration,
    /// Samples the writer may hold while the database is away.
    pub max_buffered: usize,
    /// Routes and delivers alerts while this replica leads.
    pub alerts: Option<Arc<alerts::Dispatcher>>,
    /// Sends to subscribers while this replica leads (`[subscribers]
    /// enabled`).
    pub subscribers: Option<Arc<subscribers::Notifier>>,
    /// The builder loaded at start-up, used by the first term as prober so
    /// the state is not loaded twice (and its service views are shared
    /// with the first snapshot).
    pub initial: std::sync::Mutex<Option<SnapshotBuilder>>,
}

impl Engine {
    /// Everything the snapshot shows, as the database holds it now.
    pub async fn load_builder(&self) -> Result<SnapshotBuilder, StoreError> {
        self.load_counted().await.map(|(builder, _)| builder)
    }

    /// [`Self::load_builder`], and how many rows it read.
    async fn load_counted(&self) -> Result<(SnapshotBuilder, usize), StoreError> {
        let latest = self.store.latest_samples().await?;
        let states = self.store.service_states().await?;
        let mut rows = latest.len() + states.len();
        let mut builder = SnapshotBuilder::new(
            self.page.clone(),
            self.services.clone(),
            self.thresholds.clone(),
            &latest,
            &states,
        );
        builder.set_objectives(&self.objectives);
        builder.show_objectives(self.show_slo);
        let now = self.clock.now();
        let mut ids: Vec<i64> = self.services.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        let this_hour = Resolution::Hour.start_of(now);
        let today = Resolution::Day.start_of(now);
        // (rollups, from, fine histograms from): 24 hours for the page and
        // 72 for the objectives' burn windows, 90 days for the bars and 31
        // (a calendar month) for the objectives.
        for (resolution, from, histograms_from) in [
            (
                Resolution::Hour,
                this_hour - TimeDelta::hours(71),
                this_hour - TimeDelta::hours(71),
            ),
            (
                Resolution::Day,
                today - TimeDelta::days(BAR_DAYS - 1),
                today - TimeDelta::days(30),
            ),
        ] {
            for slice in ids.chunks(SEED_SLICE) {
                let (Some(first), Some(last)) = (slice.first(), slice.last()) else {
                    continue;
                };
                let rollups = self
                    .store
                    .rollups_since(resolution, from, *first..=*last, histograms_from)
                    .await?;
                rows += rollups.len();
                builder.seed_rollups(resolution, rollups);
            }
        }
        // The objectives' minute and 5-minute windows, with the maintenance
        // windows of that time (samples do not record it).
        if !self.objectives.is_empty() {
            let from = now - TimeDelta::minutes(SHORT_WINDOWS_MINUTES);
            let windows = self.store.maintenance_windows(from).await?;
            builder.set_schedule(Schedule::current(windows, from));
            for slice in ids.chunks(SEED_SLICE) {
                let (Some(first), Some(last)) = (slice.first(), slice.last()) else {
                    continue;
                };
                let samples = self.store.samples_since(from, *first..=*last).await?;
                rows += samples.len();
                builder.seed_samples(&samples);
            }
        }
        rows += load_extras(&*self.store, now, &mut builder).await?;
        Ok((builder, rows))
    }

    /// How often the leader renews its lease.
    fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// How often a follower tries to take the lease.
    fn takeover_every(&self) -> Duration {
        (self.lease_ttl / 5).clamp(Duration::from_millis(100), self.follow_every)
    }

    fn lease_until(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now() + TimeDelta::from_std(self.lease_ttl).unwrap_or(TimeDelta::MAX)
    }

    /// Leads while this replica holds the lease, follows otherwise, until
    /// `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let mut follower: Option<Follower> = None;
        let mut feed: Option<RoundFeed> = None;
        let mut next_attempt = Instant::now();
        // Incidents and maintenance are reloaded at least this often.
        let mut next_extras = Instant::now();
        // When this replica last got the database back after losing it.
        let mut regained: Option<Instant> = None;
        let mut database_lost = false;
        let mut wake = Wake::Timer;
        let percentiles = tokio::spawn(
            percentiles::LatencyRefresh {
                store: Arc::clone(&self.store),
                clock: Arc::clone(&self.clock),
                services: self.services.iter().map(|s| s.id).collect(),
                publish: self.latencies.clone(),
            }
            .run(cancel.clone()),
        );
        while !cancel.is_cancelled() {
            if Instant::now() >= next_attempt {
                next_attempt = Instant::now() + self.takeover_every();
                // Without the database, or just after it came back, only ask
                // whether it answers: the former leader gets its lease back
                // first.
                let may_lead =
                    !database_lost && regained.is_none_or(|at| at.elapsed() >= self.lease_ttl);
                let attempt = if may_lead {
                    let now = self.clock.now();
                    self.store
                        .acquire_lease(&self.replica, now, self.lease_until())
                        .await
                } else {
                    self.store.ping().await.map(|()| None)
                };
                match attempt {
                    Ok(Some(lease)) => {
                        tracing::info!(
                            epoch = lease.epoch,
                            "this replica leads: it probes and decides"
                        );
                        follower = None;
                        feed = None;
                        self.stats.prober.store(true, Ordering::Relaxed);
                        self.lead(lease, &cancel).await;
                        self.stats.prober.store(false, Ordering::Relaxed);
                        next_attempt = Instant::now();
                        next_extras = Instant::now();
                        database_lost = false;
                        continue;
                    }
                    Ok(None) => {
                        if database_lost {
                            tracing::info!(
                                "database back; the former leader gets one lease period to return"
                            );
                            database_lost = false;
                            regained = Some(Instant::now());
                        }
                    }
                    Err(err) => {
                        if !database_lost {
                            tracing::warn!(error = %err, "cannot reach the database to lead or follow; will retry");
                        }
                        database_lost = true;
                        feed = None;
                        self.mark_stale();
                    }
                }
            }
            if !database_lost {
                if feed.is_none() {
                    feed = match self.store.round_feed().await {
                        Ok(feed) => feed,
                        Err(err) => {
                            tracing::debug!(error = %err, "cannot listen for rounds; reading them every refresh");
                            None
                        }
                    };
                }
                let extras = Instant::now() >= next_extras || matches!(wake, Wake::Changed);
                if extras || matches!(wake, Wake::Round) || follower.is_none() {
                    let ticket = self.changes.pending();
                    if self.follow(&mut follower, extras).await {
                        self.changes.applied(ticket);
                    }
                    if extras {
                        next_extras = Instant::now() + self.follow_every;
                    }
                }
            }
            let wait_until = next_attempt.min(next_extras);
            wake = tokio::select! {
                () = cancel.cancelled() => Wake::Timer,
                () = tokio::time::sleep_until(wait_until) => Wake::Timer,
                // An admin change on this replica: show it at once.
                () = self.changes.notified() => Wake::Changed,
                heard = next_round(feed.as_mut()) => {
                    if heard.is_err() {
                        feed = None;
                    }
                    Wake::Round
                }
            };
        }
        if let Err(err) = percentiles.await {
            tracing::error!(error = %err, task = "percentiles", "task failed");
        }
    }

    /// Probes, writes and prunes under `lease` until another replica takes
    /// over or `cancel` fires; then writes what it still holds.
    async fn lead(&self, lease: Lease, cancel: &CancellationToken) {
        let initial = self
            .initial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // A term after the first is a takeover: keep the cadence.
        let takeover = initial.is_none();
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
                    () = tokio::time::sleep(self.takeover_every()) => {}
                }
                return;
            }
        };
        let term = cancel.child_token();
        let (sink, samples) = mpsc::channel(SAMPLE_CHANNEL);
        let resume = takeover.then(|| builder.last_sample_times());
        let mut writer = SampleWriter::new(
            Arc::clone(&self.store),
            builder,
            self.publish.clone(),
            Arc::clone(&self.stats),
            Arc::clone(&self.clock),
            Arc::clone(&self.changes),
        );
        writer.gather = self.gather;
        writer.publish_every = self.publish_every;
        writer.max_buffered = self.max_buffered;
        writer.slo = Some(self.publish_slo.clone());
        writer.latencies = Some(self.latencies.subscribe());
        writer.fence = Some(lease.clone());
        let deposed = writer.deposed();
        let writer = tokio::spawn(writer.run(samples, cancel.clone()));
        let mut sampler = Sampler::new(
            self.scheduled.clone(),
            self.max_concurrent_probes,
            sink,
            Arc::clone(&self.clock),
        );
        if let Some(last_sampled) = resume {
            sampler.resume(last_sampled);
        }
        let sampler = tokio::spawn(sampler.run(term.clone()));
        let pruner = Pruner::new(
            Arc::clone(&self.store),
            self.retention,
            Arc::clone(&self.clock),
        );
        let pruner = tokio::spawn(pruner.run(self.prune_every, term.clone()));
        let dispatcher = self
            .alerts
            .as_ref()
            .map(|d| tokio::spawn(Arc::clone(d).run(Some(lease.clone()), term.clone())));
        let notifier = self
            .subscribers
            .as_ref()
            .map(|n| tokio::spawn(Arc::clone(n).run(Some(lease.clone()), term.clone())));
        let burn_watch = slo::BurnWatch {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            changes: Arc::clone(&self.changes),
            services: self.objectives.clone(),
        };
        let burn_watch = tokio::spawn(burn_watch.run(
            self.publish_slo.subscribe(),
            Some(lease.clone()),
            term.clone(),
        ));
        let mut renewals = tokio::time::interval(self.renew_every());
        renewals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renew_failing = false;
        let deposed_now = loop {
            tokio::select! {
                () = term.cancelled() => break false,
                () = deposed.cancelled() => break true,
                _ = renewals.tick() => match self.store.renew_lease(&lease, self.lease_until()).await {
                    Ok(true) => {
                        if renew_failing {
                            tracing::info!("database back; still the leader");
                            renew_failing = false;
                        }
                    }
                    Ok(false) => {
                        tracing::warn!(epoch = lease.epoch, "another replica took over; stopping probes");
                        break true;
                    }
                    Err(err) => {
                        if !renew_failing {
                            tracing::warn!(error = %err, "cannot renew the lease; probing on, samples wait in memory");
                        }
                        renew_failing = true;
                    }
                },
            }
        };
        term.cancel();
        // The sampler hands over probes in flight; the writer then writes
        // what it holds (as long as it takes, unless shutting down).
        for (name, task) in [
            ("sampler", sampler),
            ("pruner", pruner),
            ("objectives' watch", burn_watch),
            ("sample writer", writer),
        ] {
            if let Err(err) = task.await {
                tracing::error!(error = %err, task = name, "task failed");
            }
        }
        if let Some(dispatcher) = dispatcher {
            if let Err(err) = dispatcher.await {
                tracing::error!(error = %err, task = "alert dispatcher", "task failed");
            }
        }
        if let Some(notifier) = notifier {
            if let Err(err) = notifier.await {
                tracing::error!(error = %err, task = "subscribers' sender", "task failed");
            }
        }
        if !deposed_now && !deposed.is_cancelled() {
            // Shutting down: let another replica take over at once.
            let release = self.store.release_lease(&lease);
            match tokio::time::timeout(Duration::from_secs(2), release).await {
                Ok(Ok(())) => tracing::info!("lease released"),
                Ok(Err(err)) => tracing::warn!(error = %err, "could not release the lease"),
                Err(_) => tracing::warn!("could not release the lease in time"),
            }
        }
    }

    /// One follower refresh: the rounds logged since the last one applied
    /// to this replica's builder (everything loaded when that is due), and
    /// with `extras` maintenance and incidents reloaded. Publishes the
    /// snapshot; returns whether that worked.
    async fn follow(&self, state: &mut Option<Follower>, extras: bool) -> bool {
        match self.refresh(state, extras).await {
            Ok(()) => {
                let Some(follower) = state.as_mut() else {
                    return false;
                };
                let started = std::time::Instant::now();
                let now = self.clock.now();
                follower
                    .builder
                    .set_latencies(self.latencies.borrow().clone());
                let snapshot =
                    tracing::debug_span!("snapshot rebuild", otel.name = "snapshot rebuild")
                        .in_scope(|| follower.builder.build(now));
                crate::metrics::snapshot_rebuilt(started.elapsed());
                self.publish.send_replace(Arc::new(snapshot));
                self.publish_slo.send_replace(follower.builder.measure(now));
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

    async fn refresh(&self, state: &mut Option<Follower>, extras: bool) -> Result<(), StoreError> {
        let mut reload = Follower::full_reload_due(state.as_ref());
        loop {
            if let Some(reason) = reload {
                // Rounds from here on may not be in the load: read them after.
                let started = std::time::Instant::now();
                let cursor = self.store.last_round().await?;
                let (builder, rows) = self.load_counted().await?;
                tracing::info!(
                    reason = reason.as_str(),
                    rows,
                    elapsed_ms = started.elapsed().as_millis(),
                    "follower loaded the whole snapshot"
                );
                crate::metrics::follower_refresh("full", rows);
                *state = Some(Follower {
                    builder,
                    cursor,
                    epoch: None,
                    loaded_at: Instant::now(),
                    refreshed_at: Instant::now(),
                });
            }
            let Some(follower) = state.as_mut() else {
                return Ok(());
            };
            let rounds = self
                .store
                .rounds_since(follower.cursor, ROUNDS_PER_READ)
                .await?;
            let read = rounds.len();
            let applied = follower.apply(rounds);
            follower.refreshed_at = Instant::now();
            if applied.new_epoch {
                reload = Some(FullReload::NewEpoch);
                continue;
            }
            let mut rows = read;
            if extras || applied.incidents_changed {
                rows += load_extras(&*self.store, self.clock.now(), &mut follower.builder).await?;
            }
            crate::metrics::follower_refresh("incremental", rows);
            if let Some(newest) = applied.newest {
                let lag = (self.clock.now() - newest).to_std().unwrap_or_default();
                crate::metrics::follower_lag(lag);
            }
            if read < ROUNDS_PER_READ as usize {
                return Ok(());
            }
            reload = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_holds_twenty_minutes_of_probing_and_at_least_the_minimum() {
        let minute = Duration::from_secs(60);
        let cases: &[(Vec<Duration>, usize)] = &[
            (vec![], MIN_BUFFERED),
            (vec![minute; 20], MIN_BUFFERED),
            (vec![minute; 50_000], 50_000 * 20),
            (
                vec![Duration::from_secs(1); 100],
                MIN_BUFFERED.max(100 * 1200),
            ),
            // 7 s does not divide 20 minutes: the partial interval counts.
            (
                vec![Duration::from_secs(7); 1000],
                MIN_BUFFERED.max(1000 * 172),
            ),
        ];
        for (intervals, expected) in cases {
            assert_eq!(
                buffer_bound(intervals.iter().copied()),
                *expected,
                "{}",
                intervals.len()
            );
        }
    }

    #[test]
    fn replica_names_differ_between_processes_and_starts() {
        let (a, b) = (replica_name(), replica_name());
        assert_ne!(a, b, "a restart is a new holder");
        assert!(a.contains(&format!(":{}:", std::process::id())), "{a}");
    }
}
