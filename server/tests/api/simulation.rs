//! Ninety simulated days in seconds: the real writer, snapshot, incident
//! rules, maintenance and pruner against a real database, driven by a
//! manual clock and scripted probes. The test plays the sampler's part: at
//! each tick it sets the clock, runs every service's probe and hands the
//! sample to the writer. (The sampler's own scheduling is covered by the
//! probe tests and the scale benchmark.)
//!
//! The script's own log of what each probe returned is the oracle: uptime
//! figures from the rollups must match it exactly, incidents must open and
//! resolve exactly when the script says, a restart in the middle of an
//! incident must not duplicate it, maintenance must open none, and pruning
//! must keep raw samples to the retention while rollups keep 90 days.
//!
//! Percentiles too: p50, p95 and p99 over the page's windows and per day,
//! read from the stored histograms, must be exactly the bucket bound (capped
//! by the slowest sample) of the log's nearest-rank value.
//!
//! Objectives too: after every tick, each objective's events over its
//! window and burn windows, counted by the builder from samples and (after
//! the restart) from rollups and stored samples, must equal the counts
//! from the log under the documented slot rules, and its status must
//! change exactly when the workbook's table, applied to the log's counts,
//! says so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::{Impact, IncidentStatus, PageInfo, PublicStatus, SampleOutcome, ServiceStatus};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use tokio::sync::{mpsc, watch};
use upbeat::clock::{Clock as _, ManualClock, SharedClock};
use upbeat::domain::maintenance::NewMaintenance;
use upbeat::domain::percentiles::QUANTILES;
use upbeat::domain::rollup::{fine_bound, fine_bucket, Resolution};
use upbeat::domain::sample::Sample;
use upbeat::domain::service::{ServiceDef, ServiceRecord};
use upbeat::domain::slo::{
    burn_changes, burn_slot, status_of, Board, Events, Known, Objective, ObjectiveKind, Objectives,
    ServiceObjectives, Status, Window, BURN_WINDOWS,
};
use upbeat::domain::status::Thresholds;
use upbeat::engine::pruner::Pruner;
use upbeat::engine::sampler::ScheduledService;
use upbeat::engine::stats::EngineStats;
use upbeat::engine::writer::SampleWriter;
use upbeat::engine::Engine;
use upbeat::probe::{Probe, ProbeResult};
use upbeat::store::{self, Store};

use crate::helpers::{Backend, TestDb};

const INTERVAL: Duration = Duration::from_secs(15 * 60);
const RETENTION_DAYS: i64 = 30;

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Day number since the origin and minute of that day.
fn day_minute(t: DateTime<Utc>) -> (i64, u32) {
    ((t - origin()).num_days(), t.hour() * 60 + t.minute())
}

fn in_window(t: DateTime<Utc>, day: i64, from_minute: u32, to_minute: u32) -> bool {
    let (d, m) = day_minute(t);
    d == day && (from_minute..to_minute).contains(&m)
}

/// The weekly maintenance of "web": from day 3, 02:00–03:00.
fn web_in_maintenance(t: DateTime<Utc>) -> bool {
    let (d, m) = day_minute(t);
    d >= 3 && (d - 3) % 7 == 0 && (120..180).contains(&m)
}

/// An up sample's response time: 20 to 250 ms, across the 1 ms and the
/// 10 ms buckets, varying by hour, minute and day (all under the latency
/// objective's 300 ms; degraded samples take 4 s).
fn up_latency_ms(t: DateTime<Utc>) -> u32 {
    20 + (t.hour() * 7 + t.minute() * 13 + t.ordinal() * 5) % 231
}

fn latency_of(t: DateTime<Utc>, outcome: SampleOutcome) -> Option<u32> {
    match outcome {
        SampleOutcome::Up => Some(up_latency_ms(t)),
        SampleOutcome::Degraded => Some(4000),
        SampleOutcome::Down => None,
    }
}

fn script(slug: &str, t: DateTime<Utc>) -> SampleOutcome {
    match slug {
        "api" if in_window(t, 10, 8 * 60, 10 * 60) => SampleOutcome::Down,
        "api" if in_window(t, 20, 8 * 60, 9 * 60) => SampleOutcome::Degraded,
        "api" | "db" if in_window(t, 60, 8 * 60, 9 * 60) => SampleOutcome::Down,
        // Web goes down for its maintenance only.
        "web" if web_in_maintenance(t) => SampleOutcome::Down,
        _ => SampleOutcome::Up,
    }
}

type Log = Arc<Mutex<Vec<(String, DateTime<Utc>, SampleOutcome)>>>;

struct ScriptedProbe {
    slug: String,
    clock: SharedClock,
    log: Log,
}

#[async_trait]
impl Probe for ScriptedProbe {
    async fn run(&self, _timeout: Duration) -> ProbeResult {
        let now = self.clock.now();
        let outcome = script(&self.slug, now);
        self.log
            .lock()
            .unwrap()
            .push((self.slug.clone(), now, outcome));
        match outcome {
            SampleOutcome::Up => ProbeResult::up(Duration::from_millis(up_latency_ms(now).into())),
            SampleOutcome::Degraded => ProbeResult {
                outcome,
                latency_ms: Some(4000),
                error: Some("slow".into()),
            },
            SampleOutcome::Down => ProbeResult::down(None, "connection refused"),
        }
    }
}

fn engine(
    store: &Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    log: &Log,
    records: &[ServiceRecord],
    publish: &watch::Sender<Arc<PublicStatus>>,
    publish_slo: &watch::Sender<Arc<Board>>,
) -> Engine {
    Engine {
        store: Arc::clone(store),
        clock: Arc::clone(clock) as SharedClock,
        page: PageInfo::titled("Sim"),
        services: records.to_vec(),
        thresholds: records
            .iter()
            .map(|r| (r.id, Thresholds::default()))
            .collect(),
        scheduled: records
            .iter()
            .map(|r| ScheduledService {
                service_id: r.id,
                slug: r.slug.clone(),
                kind: "scripted",
                interval: INTERVAL,
                timeout: Duration::from_secs(10),
                probe: Arc::new(ScriptedProbe {
                    slug: r.slug.clone(),
                    clock: Arc::clone(clock) as SharedClock,
                    log: Arc::clone(log),
                }),
            })
            .collect(),
        max_concurrent_probes: 8,
        retention: Duration::from_secs(u64::try_from(RETENTION_DAYS).unwrap() * 86_400),
        prune_every: Duration::from_secs(3600),
        publish: publish.clone(),
        objectives: records
            .iter()
            .map(|r| {
                Arc::new(ServiceObjectives {
                    id: r.id,
                    slug: r.slug.clone(),
                    name: r.name.clone(),
                    group: None,
                    interval: INTERVAL,
                    objectives: objectives(),
                })
            })
            .collect(),
        show_slo: false,
        publish_slo: publish_slo.clone(),
        latencies: watch::channel(Arc::default()).0,
        stats: Arc::new(EngineStats::default()),
        changes: Arc::new(upbeat::engine::changes::Changes::default()),
        follow_every: Duration::from_secs(10),
        replica: "simulation".into(),
        lease_ttl: Duration::from_secs(10),
        gather: Duration::ZERO,
        publish_every: Duration::ZERO,
        max_buffered: 100_000,
        alerts: None,
        subscribers: None,
        initial: std::sync::Mutex::new(None),
    }
}

/// Every service's objectives: 99.9 % available, 95 % within 300 ms (the
/// degraded samples take 4 s), over 30 days.
fn objectives() -> Objectives {
    Objectives {
        window: Window::Rolling30d,
        list: vec![
            Objective::availability(0.999),
            Objective::latency(0.95, 300),
        ],
    }
}

/// The log by service, in time order: (seconds, outcome, in maintenance),
/// caught up with the log on each read.
#[derive(Default)]
struct Oracle {
    read: usize,
    by_slug: HashMap<String, Vec<(i64, SampleOutcome, bool)>>,
}

impl Oracle {
    fn catch_up(&mut self, log: &Log) {
        let log = log.lock().unwrap();
        for (slug, t, outcome) in &log[self.read..] {
            let maintenance = slug == "web" && web_in_maintenance(*t);
            self.by_slug.entry(slug.clone()).or_default().push((
                t.timestamp(),
                *outcome,
                maintenance,
            ));
        }
        self.read = log.len();
    }

    /// The events of `objective` among `slug`'s samples taken in
    /// `[from, to]` (seconds), maintenance left out.
    fn events(&self, slug: &str, objective: &Objective, from: i64, to: i64) -> Events {
        let samples = self.by_slug.get(slug).map_or(&[][..], Vec::as_slice);
        let first = samples.partition_point(|(t, ..)| *t < from);
        let last = samples.partition_point(|(t, ..)| *t <= to);
        let mut events = Events::default();
        for (_, outcome, maintenance) in &samples[first..last] {
            if *maintenance {
                continue;
            }
            let good = match objective.kind {
                ObjectiveKind::Availability => *outcome != SampleOutcome::Down,
                // Up answers in 20 ms, degraded in 4 s, down without a latency.
                ObjectiveKind::Latency { under_ms } => match outcome {
                    SampleOutcome::Up => 20 <= under_ms,
                    SampleOutcome::Degraded => 4000 <= under_ms,
                    SampleOutcome::Down => continue,
                },
            };
            if good {
                events.good += 1;
            } else {
                events.bad += 1;
            }
        }
        events
    }
}

/// Each change seen.
type Changes = Vec<(DateTime<Utc>, String, String, Status)>;

/// Checks the board at `now` against the log: every objective's events
/// over its window and burn windows, and its status by the workbook's
/// table; records status changes in `expected` (from the log) and
/// `observed` (from the board, as the leader's watch computes them).
fn check_board(
    board: &Board,
    oracle: &Oracle,
    now: DateTime<Utc>,
    known: &mut Known,
    expected: &mut Changes,
    observed: &mut Changes,
) {
    let at = now.timestamp();
    for (id, of) in &board.services {
        let slug = of.service.slug.as_str();
        let (start, _) = of.service.objectives.window.bounds(now);
        for (objective, measure) in of.service.objectives.list.iter().zip(&of.measures) {
            let window = oracle.events(slug, objective, start.timestamp(), at);
            assert_eq!(
                measure.window(),
                window,
                "{slug} {} window at {now}",
                objective.name
            );
            let mut burns = [Events::default(); 7];
            for (i, (name, seconds)) in BURN_WINDOWS.iter().enumerate() {
                let unit = burn_slot(*seconds);
                let from = at.div_euclid(unit) * unit - seconds + unit;
                burns[i] = oracle.events(slug, objective, from, at);
                assert_eq!(
                    measure.burn(i),
                    burns[i],
                    "{slug} {} over {name} at {now}",
                    objective.name
                );
            }
            // The table itself is unit-tested; here the counts feeding it
            // come from the log.
            let want = status_of(window, &burns, objective.target);
            assert_eq!(measure.status, want, "{slug} {} at {now}", objective.name);
            let stored = known
                .get(id)
                .and_then(|k| k.get(objective.name.as_str()))
                .copied()
                .unwrap_or(Status::Ok);
            if stored != want {
                expected.push((now, slug.to_owned(), objective.name.clone(), want));
            }
        }
    }
    for change in burn_changes(board, known, None) {
        let slug = board.services[&change.service_id].service.slug.clone();
        observed.push((change.at, slug, change.objective.clone(), change.status));
        known
            .entry(change.service_id)
            .or_default()
            .insert(change.objective, change.status);
    }
}

/// Plays ticks from `from` (inclusive) to `to` (exclusive) through a
/// fresh writer loaded from the database, as a restarted process would,
/// pruning once a simulated hour. Returns when everything is written.
async fn play(
    engine: &Engine,
    clock: &Arc<ManualClock>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut each_tick: impl FnMut(&Board, DateTime<Utc>),
) {
    let builder = engine.load_builder().await.unwrap();
    let shared: SharedClock = Arc::clone(clock) as SharedClock;
    let mut writer = SampleWriter::new(
        Arc::clone(&engine.store),
        builder,
        engine.publish.clone(),
        Arc::clone(&engine.stats),
        Arc::clone(&shared),
        Arc::clone(&engine.changes),
    );
    writer.gather = Duration::ZERO;
    writer.slo = Some(engine.publish_slo.clone());
    let mut boards = engine.publish_slo.subscribe();
    writer.refresh().await;
    let (sink, samples) = mpsc::channel(1000);
    // Shutting down when the last sample is sent: a few attempts at most.
    let shutdown = tokio_util::sync::CancellationToken::new();
    shutdown.cancel();
    let writer = tokio::spawn(writer.run(samples, shutdown));
    let pruner = Pruner::new(
        Arc::clone(&engine.store),
        engine.retention,
        Arc::clone(&shared),
    );
    let step = TimeDelta::from_std(INTERVAL).unwrap();
    let mut tick = from;
    while tick < to {
        // Services are staggered a few seconds apart, as the sampler does.
        for (i, service) in engine.scheduled.iter().enumerate() {
            let taken_at = tick + TimeDelta::seconds(3 * i64::try_from(i).unwrap());
            clock.set(taken_at);
            let outcome = service.probe.run(service.timeout).await;
            let sample = Sample {
                service_id: service.service_id,
                taken_at,
                outcome: outcome.outcome,
                latency_ms: outcome.latency_ms,
                error: outcome.error,
                in_maintenance: false,
            };
            sink.send(sample).await.unwrap();
        }
        // The board once every sample of the tick is in it.
        let last = clock.now();
        let board = loop {
            let board = boards.borrow_and_update().clone();
            if board.services.len() == engine.scheduled.len()
                && board
                    .services
                    .values()
                    .all(|m| m.through.is_some_and(|t| t >= tick))
            {
                break board;
            }
            boards.changed().await.unwrap();
        };
        each_tick(&board, last);
        tick += step;
        if tick.minute() == 0 {
            pruner.run_once(tick).await.unwrap();
        }
    }
    clock.set(to);
    drop(sink);
    writer.await.unwrap();
}

/// Uptime over the samples of `slug` taken in `[from, to)`, maintenance
/// left out, as the script's log records them.
fn expected_uptime(log: &Log, slug: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
    let log = log.lock().unwrap();
    let counted: Vec<SampleOutcome> = log
        .iter()
        .filter(|(s, t, _)| s == slug && *t >= from && *t < to)
        .filter(|(s, t, _)| !(s == "web" && web_in_maintenance(*t)))
        .map(|(_, _, o)| *o)
        .collect();
    let good = counted
        .iter()
        .filter(|o| **o != SampleOutcome::Down)
        .count();
    (!counted.is_empty()).then(|| good as f64 / counted.len() as f64)
}

/// p50, p95 and p99 of `slug`'s samples taken in `[from, to)` as the
/// histogram reports them, from the script's log: the upper bound of the
/// bucket of the nearest-rank value, capped by the slowest sample.
fn expected_percentiles(
    log: &Log,
    slug: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> [Option<u32>; 3] {
    let log = log.lock().unwrap();
    let mut times: Vec<u32> = log
        .iter()
        .filter(|(s, t, _)| s == slug && *t >= from && *t < to)
        .filter(|(s, t, _)| !(s == "web" && web_in_maintenance(*t)))
        .filter_map(|(_, t, outcome)| latency_of(*t, *outcome))
        .collect();
    times.sort_unstable();
    let Some(&max) = times.last() else {
        return [None; 3];
    };
    QUANTILES.map(|q| {
        let rank = (q * times.len() as f64).ceil().max(1.0) as usize;
        let truth = times[rank - 1];
        let reported = fine_bound(fine_bucket(truth)).map_or(max, |b| b.min(max));
        // The documented bucket: exact to 100 ms, at most 10 % high above.
        assert!(
            reported >= truth && reported - truth <= truth / 10,
            "{truth} → {reported}"
        );
        Some(reported)
    })
}

#[tokio::test]
async fn ninety_days_sqlite() {
    ninety_days(Backend::Sqlite).await;
}

#[tokio::test]
async fn ninety_days_postgres() {
    ninety_days(Backend::Postgres).await;
}

async fn ninety_days(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = store::connect(&db.url, 4).await.unwrap();
    let defs: Vec<ServiceDef> = ["api", "db", "web"]
        .iter()
        .map(|slug| ServiceDef {
            slug: (*slug).into(),
            name: slug.to_uppercase(),
            group: None,
            description: None,
            check_kind: "http".into(),
        })
        .collect();
    let records = store.sync_services(&defs, origin()).await.unwrap();
    let id: HashMap<&str, i64> = records.iter().map(|r| (r.slug.as_str(), r.id)).collect();
    store
        .create_maintenance(&NewMaintenance {
            title: "Weekly web deploy".into(),
            description: None,
            starts_at: origin() + TimeDelta::days(3) + TimeDelta::hours(2),
            ends_at: origin() + TimeDelta::days(3) + TimeDelta::hours(3),
            recurrence: Some("FREQ=WEEKLY".into()),
            service_ids: vec![id["web"]],
            created_by: "test".into(),
            at: origin(),
            quiet: false,
        })
        .await
        .unwrap();

    let clock = Arc::new(ManualClock::starting_at(origin()));
    let log: Log = Arc::default();
    let (publish, snapshot) =
        watch::channel(Arc::new(PublicStatus::empty(PageInfo::titled("Sim"))));
    let (publish_slo, _) = watch::channel(Arc::new(Board::default()));
    let (mut known, mut expected, mut observed) = (Known::new(), Changes::new(), Changes::new());
    let mut oracle = Oracle::default();
    let mut check = |board: &Board, now: DateTime<Utc>| {
        oracle.catch_up(&log);
        check_board(
            board,
            &oracle,
            now,
            &mut known,
            &mut expected,
            &mut observed,
        );
    };

    // Restart in the middle of api's first outage, after its incident opened.
    let restart = origin() + TimeDelta::days(10) + TimeDelta::hours(9) + TimeDelta::minutes(5);
    let first_run = engine(&store, &clock, &log, &records, &publish, &publish_slo);
    play(&first_run, &clock, origin(), restart, &mut check).await;
    let open = store.active_incidents().await.unwrap();
    assert_eq!(open.len(), 1, "the outage is open at the restart: {open:?}");
    let end = origin() + TimeDelta::days(90) + TimeDelta::hours(12);
    let second_run = engine(&store, &clock, &log, &records, &publish, &publish_slo);
    play(
        &second_run,
        &clock,
        restart + TimeDelta::minutes(10),
        end,
        &mut check,
    )
    .await;
    // Status changes exactly when the workbook's table says (from `ok`,
    // which an objective never stored has always been).
    observed.sort();
    expected.sort();
    assert_eq!(observed, expected);
    let api_availability: Vec<(i64, Status)> = observed
        .iter()
        .filter(|(_, slug, objective, _)| slug == "api" && objective == "availability")
        .map(|(at, _, _, status)| (day_minute(*at).0, *status))
        .collect();
    // The 2-hour outage on day 10 spends the budget of the 10 days so far
    // at once; it stays spent until those samples leave the window.
    assert_eq!(
        api_availability.first(),
        Some(&(10, Status::Exhausted)),
        "{api_availability:?}"
    );

    let stats = &second_run.stats;
    assert_eq!(
        stats
            .failed_flushes
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no write failed"
    );
    // Incidents: exactly the script's three, all resolved, newest first.
    let incidents = store.incidents_since(origin()).await.unwrap();
    let summary: Vec<(i64, Vec<&str>, Impact, IncidentStatus)> = incidents
        .iter()
        .map(|i| {
            (
                day_minute(i.started_at).0,
                i.services.iter().map(|s| s.slug.as_str()).collect(),
                i.impact,
                i.status,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                60,
                vec!["api", "db"],
                Impact::Critical,
                IncidentStatus::Resolved
            ),
            (20, vec!["api"], Impact::Minor, IncidentStatus::Resolved),
            (10, vec!["api"], Impact::Critical, IncidentStatus::Resolved),
        ],
        "{incidents:#?}"
    );
    // Opened at the third bad sample, resolved at the second good one.
    let first = &incidents[2];
    assert_eq!(day_minute(first.started_at), (10, 8 * 60 + 30));
    assert_eq!(day_minute(first.resolved_at.unwrap()), (10, 10 * 60 + 15));

    // Uptime from rollups equals uptime from the script's log.
    let snap = snapshot.borrow().clone();
    assert!(!snap.stale);
    let today = origin() + TimeDelta::days(90);
    for service in &snap.services {
        let slug = service.slug.as_str();
        for (figure, days) in [
            (service.uptime.d7, 7),
            (service.uptime.d30, 30),
            (service.uptime.d90, 90),
        ] {
            let from = today - TimeDelta::days(days - 1);
            let expected = expected_uptime(&log, slug, from, end + TimeDelta::minutes(1));
            let figure = figure.unwrap();
            assert!(
                (figure - expected.unwrap()).abs() < 1e-12,
                "{slug} {days}d: {figure} from rollups, {expected:?} from the script"
            );
        }
        assert_eq!(service.status, Some(ServiceStatus::Operational), "{slug}");
        assert_eq!(service.days.len(), 90);
    }
    // Percentiles from the stored histograms equal the log's.
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let board = upbeat::engine::percentiles::read_board(&*store, end, &ids, None)
        .await
        .unwrap();
    // A later read takes the finished days from the last one and reads
    // only the last 30: the same figures.
    let again = upbeat::engine::percentiles::read_board(&*store, end, &ids, Some(&board))
        .await
        .unwrap();
    assert_eq!(again, board, "an incremental read equals a full one");
    let this_hour = Resolution::Hour.start_of(end);
    let after = end + TimeDelta::minutes(1);
    for record in &records {
        let slug = record.slug.as_str();
        let stats = &board[&record.id];
        for (figures, from) in [
            (stats.windows.h24, this_hour - TimeDelta::hours(23)),
            (stats.windows.d7, today - TimeDelta::days(6)),
            (stats.windows.d30, today - TimeDelta::days(29)),
        ] {
            assert_eq!(
                [figures.p50, figures.p95, figures.p99],
                expected_percentiles(&log, slug, from, after),
                "{slug} from {from}"
            );
        }
        let mut with_times = 0;
        for back in 0..90 {
            let day = today - TimeDelta::days(back);
            let expected = expected_percentiles(&log, slug, day, day + TimeDelta::days(1));
            let got = stats.days.on(day.date_naive());
            assert_eq!(
                got.map(|d| d.map(Some)),
                expected.iter().all(Option::is_some).then_some(expected),
                "{slug} {day}"
            );
            with_times += usize::from(got.is_some());
        }
        assert_eq!(with_times, 90, "{slug}: every day measured times");
    }
    let api_degraded_day = board[&id["api"]]
        .days
        .on((origin() + TimeDelta::days(20)).date_naive())
        .unwrap();
    assert_eq!(
        api_degraded_day[2], 4000,
        "the hour at 4 s is the day's p99"
    );

    let web = snap.services.iter().find(|s| s.slug == "web").unwrap();
    assert_eq!(
        web.uptime.d90,
        Some(1.0),
        "maintenance is left out of uptime"
    );
    let api = snap.services.iter().find(|s| s.slug == "api").unwrap();
    assert!(api.uptime.d90.unwrap() < 1.0);
    let outage_day = api
        .days
        .iter()
        .find(|d| d.date == (origin() + TimeDelta::days(60)).date_naive())
        .unwrap();
    assert_eq!(outage_day.worst, Some(SampleOutcome::Down));
    assert_eq!(
        snap.maintenances.len(),
        1,
        "the weekly window is still upcoming"
    );

    // Raw samples are pruned to the retention; rollups above kept 90 days.
    let kept = store.recent_samples(id["api"], 1_000_000).await.unwrap();
    let oldest = kept.last().unwrap().taken_at;
    let cutoff = end - TimeDelta::days(RETENTION_DAYS) - TimeDelta::hours(2);
    assert!(oldest >= cutoff, "oldest sample {oldest} is past retention");
    let probed = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _, _)| s == "api")
        .count();
    assert!(
        kept.len() < probed / 2,
        "{} of {probed} samples kept",
        kept.len()
    );
    store.close().await;
}
