//! Prometheus metrics through the `metrics` facade and
//! `metrics-exporter-prometheus`. Counters and histograms are recorded
//! where things happen; gauges that describe the current state (service
//! statuses, snapshot age, buffered samples) are set when `/metrics` is
//! scraped, from the snapshot and the engine's counters, so they are never
//! out of date.
//!
//! Labels are bounded: HTTP metrics are labelled by route template (never
//! the raw path), probe metrics by service slug (from the config).
//!
//! Per-service series ([`ProbeStats`] and the status gauge) live beside the
//! exporter, not in it: its registry keeps owned label strings, a bucket
//! block and a rendered distribution per series, about 1.8 KB a service
//! (90 MB at 50,000 services) plus two allocations per probe. Ours are
//! 150 bytes a service, updated through a handle the sampler holds, and
//! written in the exporter's own text format (its `formatting` functions).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use app::model::{PublicStatus, SampleOutcome, ServiceStatus};
use chrono::{DateTime, Utc};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The engine's counters as `/metrics` reports them (the engine fills
/// this in; metrics knows nothing of the engine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounts {
    pub written: u64,
    pub dropped: u64,
    pub failed_flushes: u64,
    pub incidents_opened: u64,
    pub incidents_resolved: u64,
    pub buffered: u64,
    /// This replica probes.
    pub prober: bool,
    /// Time since the newest sample reached the writer, on the prober.
    pub sampler_lag: Option<Duration>,
}

pub const ALERTS_FIRED: &str = "upbeat_alerts_fired_total";
pub const ALERTS_SUPPRESSED: &str = "upbeat_alerts_suppressed_total";
pub const ALERT_FAILURES: &str = "upbeat_alert_delivery_failures_total";
pub const ALERT_DELIVERY: &str = "upbeat_alert_delivery_seconds";
pub const ALERT_OUTBOX: &str = "upbeat_alert_outbox_pending";
pub const HTTP_REQUESTS: &str = "upbeat_http_requests_total";
pub const HTTP_DURATION: &str = "upbeat_http_request_duration_seconds";
pub const PROBE_RUNS: &str = "upbeat_probe_runs_total";
pub const PROBE_DURATION: &str = "upbeat_probe_duration_seconds";
pub const SAMPLES_WRITTEN: &str = "upbeat_samples_written_total";
pub const SAMPLES_BUFFERED: &str = "upbeat_samples_buffered";
pub const SAMPLES_DROPPED: &str = "upbeat_samples_dropped_total";
pub const SAMPLES_PRUNED: &str = "upbeat_samples_pruned_total";
pub const WRITE_FAILURES: &str = "upbeat_sample_write_failures_total";
pub const INCIDENTS_OPENED: &str = "upbeat_incidents_opened_total";
pub const INCIDENTS_RESOLVED: &str = "upbeat_incidents_resolved_total";
pub const SERVICE_STATUS: &str = "upbeat_service_status";
pub const SNAPSHOT_AGE: &str = "upbeat_snapshot_age_seconds";
pub const SNAPSHOT_REBUILD: &str = "upbeat_snapshot_rebuild_duration_seconds";
pub const SAMPLER_LAG: &str = "upbeat_sampler_lag_seconds";
pub const PROBER: &str = "upbeat_prober";
pub const BUILD_INFO: &str = "upbeat_build_info";
pub const PAGE_CACHE: &str = "upbeat_page_cache_total";
pub const FRONTEND_ERRORS: &str = "upbeat_frontend_errors_total";
pub const TRACES_DROPPED: &str = "upbeat_traces_dropped_total";
pub const CONSOLE_SIGN_INS: &str = "upbeat_console_sign_ins_total";
pub const SUBSCRIPTIONS: &str = "upbeat_subscriptions_total";
pub const SUBSCRIBER_SENDS: &str = "upbeat_subscriber_deliveries_total";
pub const SUBSCRIBER_OUTBOX: &str = "upbeat_subscriber_outbox";
pub const FOLLOWER_REFRESHES: &str = "upbeat_follower_refreshes_total";
pub const FOLLOWER_ROWS: &str = "upbeat_follower_rows_read_total";
pub const FOLLOWER_LAG: &str = "upbeat_follower_lag_seconds";

/// Every metric with its type, for the README and the tests.
pub const ALL: &[(&str, &str)] = &[
    (HTTP_REQUESTS, "counter"),
    (HTTP_DURATION, "histogram"),
    (PROBE_RUNS, "counter"),
    (PROBE_DURATION, "histogram"),
    (SAMPLES_WRITTEN, "counter"),
    (SAMPLES_BUFFERED, "gauge"),
    (SAMPLES_DROPPED, "counter"),
    (SAMPLES_PRUNED, "counter"),
    (WRITE_FAILURES, "counter"),
    (INCIDENTS_OPENED, "counter"),
    (INCIDENTS_RESOLVED, "counter"),
    (SERVICE_STATUS, "gauge"),
    (SNAPSHOT_AGE, "gauge"),
    (SNAPSHOT_REBUILD, "histogram"),
    (SAMPLER_LAG, "gauge"),
    (PROBER, "gauge"),
    (BUILD_INFO, "gauge"),
    (PAGE_CACHE, "counter"),
    (FRONTEND_ERRORS, "counter"),
    (TRACES_DROPPED, "counter"),
    (CONSOLE_SIGN_INS, "counter"),
    (SUBSCRIPTIONS, "counter"),
    (SUBSCRIBER_SENDS, "counter"),
    (SUBSCRIBER_OUTBOX, "gauge"),
    (FOLLOWER_REFRESHES, "counter"),
    (FOLLOWER_ROWS, "counter"),
    (FOLLOWER_LAG, "histogram"),
    (ALERT_OUTBOX, "gauge"),
];

/// Series per alert route: present once `[[alerts.routes]]` has a route
/// (at 0 until something happens), absent without one.
pub const ALERTS: &[(&str, &str)] = &[
    (ALERTS_FIRED, "counter"),
    (ALERTS_SUPPRESSED, "counter"),
    (ALERT_FAILURES, "counter"),
    (ALERT_DELIVERY, "histogram"),
];

/// Series per service objective: present for services with objectives.
pub const SLO: &[(&str, &str)] = &[
    (SLO_COMPLIANCE, "gauge"),
    (ERROR_BUDGET_REMAINING, "gauge"),
    (ERROR_BUDGET_BURN_RATE, "gauge"),
    (SLO_STATUS, "gauge"),
];

/// Bucket bounds of every `_seconds` histogram.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const PROBE_RUNS_HELP: &str = "Probes run, by service and outcome (up, degraded, down).";
const PROBE_DURATION_HELP: &str = "Time probes took, by service.";
const SERVICE_STATUS_HELP: &str = "Current status by service: 0 operational, 1 degraded performance, 2 partial outage, 3 major outage, 4 under maintenance, -1 no data yet.";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Every service's probe figures, by slug.
static PROBE_STATS: Mutex<BTreeMap<String, Arc<ProbeStats>>> = Mutex::new(BTreeMap::new());

/// One service's probe runs by outcome and their durations.
#[derive(Debug, Default)]
pub struct ProbeStats {
    /// Up, degraded, down.
    runs: [AtomicU64; 3],
    /// Durations per bucket of [`LATENCY_BUCKETS`] (not cumulative), the
    /// last one past every bound.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl ProbeStats {
    /// The figures of `service`, registered on first use.
    pub fn of(service: &str) -> Arc<Self> {
        let mut all = PROBE_STATS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(all.entry(service.to_owned()).or_default())
    }

    /// One finished probe.
    pub fn record(&self, outcome: SampleOutcome, elapsed: Duration) {
        let i = match outcome {
            SampleOutcome::Up => 0,
            SampleOutcome::Degraded => 1,
            SampleOutcome::Down => 2,
        };
        self.runs[i].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Writes this service's probe series.
    fn write(&self, out: &mut Families, service: &str) {
        let label = [format!("service=\"{}\"", sanitize_label_value(service))];
        for (i, outcome) in [
            SampleOutcome::Up,
            SampleOutcome::Degraded,
            SampleOutcome::Down,
        ]
        .into_iter()
        .enumerate()
        {
            let runs = self.runs[i].load(Ordering::Relaxed);
            // Like the exporter: a series appears once it has counted.
            if runs > 0 {
                let labels = [
                    label[0].clone(),
                    format!("outcome=\"{}\"", outcome.as_str()),
                ];
                write_metric_line::<&str, u64>(
                    &mut out.runs,
                    PROBE_RUNS,
                    None,
                    &labels,
                    None,
                    runs,
                    None,
                );
            }
        }
        let bounds = LATENCY_BUCKETS
            .iter()
            .map(ToString::to_string)
            .chain(["+Inf".to_owned()]);
        let mut count = 0;
        for (bucket, le) in self.buckets.iter().zip(bounds) {
            count += bucket.load(Ordering::Relaxed);
            write_metric_line(
                &mut out.durations,
                PROBE_DURATION,
                Some("bucket"),
                &label,
                Some(("le", le)),
                count,
                None,
            );
        }
        #[expect(clippy::cast_precision_loss, reason = "a sum of probe times fits f64")]
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        write_metric_line::<&str, f64>(
            &mut out.durations,
            PROBE_DURATION,
            Some("sum"),
            &label,
            None,
            sum,
            None,
        );
        write_metric_line::<&str, u64>(
            &mut out.durations,
            PROBE_DURATION,
            Some("count"),
            &label,
            None,
            count,
            None,
        );
    }
}

/// The per-service families being written, one buffer each so that each
/// family's lines stay together.
#[derive(Default)]
struct Families {
    runs: String,
    durations: String,
    statuses: String,
}

/// Appends the per-service families: probe runs and durations of every
/// service probed here, and the status of every service in `snapshot`.
/// One objective's figures as `/metrics` reports them (filled by the
/// caller from the objectives' measures).
#[derive(Clone, Debug, PartialEq)]
pub struct SloSeries {
    pub service: String,
    pub objective: String,
    pub compliance: Option<f64>,
    pub budget_remaining: Option<f64>,
    /// (window, burn rate), without the windows that have no samples.
    pub burn_rates: Vec<(&'static str, f64)>,
    /// `ok`, `warning`, `critical` or `exhausted`.
    pub status: &'static str,
}

pub const SLO_COMPLIANCE: &str = "upbeat_slo_compliance_ratio";
pub const ERROR_BUDGET_REMAINING: &str = "upbeat_error_budget_remaining_ratio";
pub const ERROR_BUDGET_BURN_RATE: &str = "upbeat_error_budget_burn_rate";
pub const SLO_STATUS: &str = "upbeat_slo_status";
const SLO_STATUSES: [&str; 4] = ["ok", "warning", "critical", "exhausted"];

/// The objectives' families; a service or window without samples has no
/// compliance, budget or burn-rate line (never a made-up 0 or 1).
fn write_slo(buffer: &mut String, series: &[SloSeries]) {
    let mut families: [(&str, &str, String); 4] = [
        (SLO_COMPLIANCE, "Share of good samples in the SLO window.", String::new()),
        (
            ERROR_BUDGET_REMAINING,
            "Share of the error budget left in the SLO window (negative: overspent).",
            String::new(),
        ),
        (
            ERROR_BUDGET_BURN_RATE,
            "How fast the error budget burns over a window (1 spends it exactly over the SLO window).",
            String::new(),
        ),
        (
            SLO_STATUS,
            "1 for the objective's current status by the SRE workbook's multi-window burn-rate table.",
            String::new(),
        ),
    ];
    for s in series {
        let labels = [
            format!("service=\"{}\"", sanitize_label_value(&s.service)),
            format!("objective=\"{}\"", sanitize_label_value(&s.objective)),
        ];
        if let Some(compliance) = s.compliance {
            write_metric_line::<&str, f64>(
                &mut families[0].2,
                SLO_COMPLIANCE,
                None,
                &labels,
                None,
                compliance,
                None,
            );
        }
        if let Some(remaining) = s.budget_remaining {
            write_metric_line::<&str, f64>(
                &mut families[1].2,
                ERROR_BUDGET_REMAINING,
                None,
                &labels,
                None,
                remaining,
                None,
            );
        }
        for (window, rate) in &s.burn_rates {
            write_metric_line(
                &mut families[2].2,
                ERROR_BUDGET_BURN_RATE,
                None,
                &labels,
                Some(("window", *window)),
                *rate,
                None,
            );
        }
        for status in SLO_STATUSES {
            let value = if status == s.status { 1.0 } else { 0.0 };
            write_metric_line(
                &mut families[3].2,
                SLO_STATUS,
                None,
                &labels,
                Some(("status", status)),
                value,
                None,
            );
        }
    }
    for (name, help, lines) in &families {
        write_help_line(buffer, name, help);
        write_type_line(buffer, name, "gauge");
        buffer.push_str(lines);
        buffer.push('\n');
    }
}

fn write_services(buffer: &mut String, snapshot: &PublicStatus) {
    let mut out = Families::default();
    // Held while writing: only a sampler starting up waits for it.
    for (slug, stats) in PROBE_STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        stats.write(&mut out, slug);
    }
    for service in &snapshot.services {
        let label = [format!(
            "service=\"{}\"",
            sanitize_label_value(&service.slug)
        )];
        write_metric_line::<&str, f64>(
            &mut out.statuses,
            SERVICE_STATUS,
            None,
            &label,
            None,
            status_code(service.status),
            None,
        );
    }
    for (name, kind, help, lines) in [
        (PROBE_RUNS, "counter", PROBE_RUNS_HELP, &out.runs),
        (
            PROBE_DURATION,
            "histogram",
            PROBE_DURATION_HELP,
            &out.durations,
        ),
        (SERVICE_STATUS, "gauge", SERVICE_STATUS_HELP, &out.statuses),
    ] {
        write_help_line(buffer, name, help);
        write_type_line(buffer, name, kind);
        buffer.push_str(lines);
        buffer.push('\n');
    }
}

/// Installs the process-wide recorder once; later calls return the same
/// handle. `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            spawn_upkeep(recorder.clone());
            Some(recorder)
        })
        .clone()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram observation until it is folded into
/// the buckets, which happens only at a scrape or an upkeep: without this
/// an instance nobody scrapes grows by each probe and request it times
/// (about 8 bytes each, 50,000 services' probes a minute add up). A plain
/// thread, because the recorder is installed before any runtime exists.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics upkeep thread not started; histograms fold only when scraped");
    }
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer HTTP requests, by method, route template and status."
    );
    describe_counter!(SAMPLES_WRITTEN, "Samples written to the database.");
    describe_gauge!(SAMPLES_BUFFERED, "Samples waiting to be written.");
    describe_counter!(
        SAMPLES_DROPPED,
        "Samples dropped because the buffer was full or the database was gone at shutdown."
    );
    describe_counter!(SAMPLES_PRUNED, "Samples deleted past retention.");
    describe_counter!(
        WRITE_FAILURES,
        "Failed attempts to write a batch of samples."
    );
    describe_counter!(INCIDENTS_OPENED, "Incidents opened automatically.");
    describe_counter!(INCIDENTS_RESOLVED, "Incidents resolved automatically.");
    describe_gauge!(
        SNAPSHOT_AGE,
        Unit::Seconds,
        "Age of the snapshot the page and the APIs serve."
    );
    describe_histogram!(SNAPSHOT_REBUILD, Unit::Seconds, "Time to build a snapshot.");
    describe_gauge!(
        SAMPLER_LAG,
        Unit::Seconds,
        "Time since the newest sample reached the writer (prober only)."
    );
    describe_gauge!(
        PROBER,
        "1 when this replica holds the lease: it probes and decides."
    );
    describe_gauge!(BUILD_INFO, "Always 1, labelled with the version.");
    describe_counter!(
        FOLLOWER_REFRESHES,
        "Snapshot refreshes of a replica that does not lead: kind=full (everything loaded) or incremental (the rounds logged since)."
    );
    describe_counter!(
        FOLLOWER_ROWS,
        "Database rows those refreshes read, by kind."
    );
    describe_histogram!(
        FOLLOWER_LAG,
        Unit::Seconds,
        "On a follower: from a sample being taken to this replica showing it."
    );
    describe_counter!(
        FRONTEND_ERRORS,
        "Errors visitors' browsers reported, by kind: panic (the page's WebAssembly failed) or refresh (refreshes failed several times in a row)."
    );
    // Present at 0 from the start, so a rate over them needs no data first.
    for kind in ["panic", "refresh"] {
        counter!(FRONTEND_ERRORS, "kind" => kind).absolute(0);
    }
    describe_counter!(
        CONSOLE_SIGN_INS,
        "Console sign-ins by outcome: success, failure (unknown name, disabled user or wrong password: never which) or limited (refused with 429)."
    );
    for outcome in ["success", "failure", "limited"] {
        counter!(CONSOLE_SIGN_INS, "outcome" => outcome).absolute(0);
    }
    describe_counter!(
        SUBSCRIPTIONS,
        "Subscription requests from the page, by outcome: accepted (a confirmation or manage-link mail queued), invalid (a bad address or service), limited_client (too many from one client address), limited_address (the address had its mails for the day), honeypot (a bot filled the hidden field). Every one gets the same answer."
    );
    for outcome in SUBSCRIPTION_OUTCOMES {
        counter!(SUBSCRIPTIONS, "outcome" => outcome).absolute(0);
    }
    describe_counter!(
        SUBSCRIBER_SENDS,
        "Attempts to reach subscribers, by kind (email, webhook, slack) and outcome: delivered, retry, failed (given up), rejected (the mail server refused the address for good)."
    );
    for kind in ["email", "webhook", "slack"] {
        for outcome in ["delivered", "retry", "failed", "rejected"] {
            counter!(SUBSCRIBER_SENDS, "kind" => kind, "outcome" => outcome).absolute(0);
        }
    }
    describe_gauge!(
        SUBSCRIBER_OUTBOX,
        "Subscriber mails and posts waiting to be sent (or retried)."
    );
    gauge!(SUBSCRIBER_OUTBOX).set(0.0);
    describe_counter!(
        TRACES_DROPPED,
        "Finished spans not exported: the export queue was full (the collector slow or away) or the collector refused or missed a batch. 0 while traces are off."
    );
    counter!(TRACES_DROPPED).absolute(0);
    describe_counter!(
        PAGE_CACHE,
        "Page requests answered from the page cache (result=hit) or rendered (result=miss)."
    );
    describe_counter!(
        ALERTS_FIRED,
        "Alerts delivered, by route, route kind and event."
    );
    describe_counter!(
        ALERTS_SUPPRESSED,
        "Alerts a route did not send, by reason: filter, cooldown, maintenance, unopened (a resolution of something never sent there)."
    );
    describe_counter!(
        ALERT_FAILURES,
        "Failed delivery attempts (each retry counts), by route and kind."
    );
    describe_histogram!(
        ALERT_DELIVERY,
        Unit::Seconds,
        "Time of one delivery attempt, by route kind."
    );
    describe_gauge!(
        ALERT_OUTBOX,
        "Alert deliveries waiting to be sent (on the replica that leads)."
    );
}

/// A route's series at 0, so they show before anything happened: `events`
/// are those the route takes.
pub fn alert_route(route: &str, kind: &'static str, events: &[&'static str]) {
    for event in events {
        counter!(ALERTS_FIRED, "route" => route.to_owned(), "kind" => kind, "event" => *event)
            .increment(0);
    }
    for reason in ["filter", "cooldown", "maintenance", "unopened"] {
        counter!(ALERTS_SUPPRESSED, "route" => route.to_owned(), "reason" => reason).increment(0);
    }
    counter!(ALERT_FAILURES, "route" => route.to_owned(), "kind" => kind).increment(0);
    let _registered = histogram!(ALERT_DELIVERY, "kind" => kind);
}

/// An alert delivered.
pub fn alert_fired(route: &str, kind: &'static str, event: &'static str) {
    counter!(ALERTS_FIRED, "route" => route.to_owned(), "kind" => kind, "event" => event)
        .increment(1);
}

/// An alert a route did not send.
pub fn alert_suppressed(route: &str, reason: &'static str) {
    counter!(ALERTS_SUPPRESSED, "route" => route.to_owned(), "reason" => reason).increment(1);
}

/// One delivery attempt: its time, and whether it failed.
pub fn alert_attempt(route: &str, kind: &'static str, elapsed: Duration, failed: bool) {
    histogram!(ALERT_DELIVERY, "kind" => kind).record(elapsed.as_secs_f64());
    if failed {
        counter!(ALERT_FAILURES, "route" => route.to_owned(), "kind" => kind).increment(1);
    }
}

/// Deliveries waiting.
pub fn alert_outbox(pending: u64) {
    gauge!(ALERT_OUTBOX).set(pending as f64);
}

/// One answered HTTP request.
pub fn http_request(method: &'static str, route: &str, status: u16, elapsed: Duration) {
    let (requests, duration) = http_series(method, route, status);
    requests.increment(1);
    duration.record(elapsed.as_secs_f64());
}

/// The method label: the standard methods by name, anything else `OTHER`,
/// so that a client cannot make series up.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// The two HTTP series of one route template, by method and status.
type RouteSeries = Vec<(&'static str, u16, metrics::Counter, metrics::Histogram)>;

/// Most route templates whose series handles are kept (the router's, and
/// `fallback`); past it a request registers its series itself.
const MAX_ROUTES: usize = 512;

/// The handles of a request's two series. Registering a series in the
/// exporter takes six owned label strings and a lookup in its registry; a
/// request now takes a read lock and a lookup by route. Handles are kept
/// once the recorder is installed (before it they are no-ops).
fn http_series(
    method: &'static str,
    route: &str,
    status: u16,
) -> (metrics::Counter, metrics::Histogram) {
    static SERIES: std::sync::LazyLock<
        std::sync::RwLock<std::collections::HashMap<Box<str>, RouteSeries>>,
    > = std::sync::LazyLock::new(Default::default);
    let found = |series: &RouteSeries| {
        series
            .iter()
            .find(|(m, s, _, _)| *m == method && *s == status)
            .map(|(_, _, c, h)| (c.clone(), h.clone()))
    };
    if let Some(handles) = SERIES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(route)
        .and_then(found)
    {
        return handles;
    }
    let labels = || {
        [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ]
    };
    let handles = (
        counter!(HTTP_REQUESTS, &labels()),
        histogram!(HTTP_DURATION, &labels()),
    );
    if recorder_installed() {
        let mut series = SERIES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if series.len() < MAX_ROUTES || series.contains_key(route) {
            let of_route = series.entry(route.into()).or_default();
            if found(of_route).is_none() {
                of_route.push((method, status, handles.0.clone(), handles.1.clone()));
            }
        }
    }
    handles
}

/// `n` finished spans that will not reach the collector.
pub fn traces_dropped(n: usize) {
    counter!(TRACES_DROPPED).increment(n as u64);
}

/// One console sign-in: `success`, `failure` or `limited`.
pub fn console_sign_in(outcome: &'static str) {
    counter!(CONSOLE_SIGN_INS, "outcome" => outcome).increment(1);
}

/// The outcomes of a subscription request.
pub const SUBSCRIPTION_OUTCOMES: [&str; 5] = [
    "accepted",
    "invalid",
    "limited_client",
    "limited_address",
    "honeypot",
];

/// One subscription request, by outcome (one of
/// [`SUBSCRIPTION_OUTCOMES`]).
pub fn subscription(outcome: &'static str) {
    counter!(SUBSCRIPTIONS, "outcome" => outcome).increment(1);
}

/// One attempt to reach a subscriber.
pub fn subscriber_send(kind: &'static str, outcome: &'static str) {
    counter!(SUBSCRIBER_SENDS, "kind" => kind, "outcome" => outcome).increment(1);
}

/// Subscriber deliveries waiting.
pub fn subscriber_outbox(pending: u64) {
    gauge!(SUBSCRIBER_OUTBOX).set(pending as f64);
}

/// One error report from a browser.
pub fn frontend_error(kind: &'static str) {
    counter!(FRONTEND_ERRORS, "kind" => kind).increment(1);
}

/// A page answered from the cache (`hit`) or rendered. Once a request,
/// so its two handles are kept (see [`http_series`]).
pub fn page_cache(hit: bool) {
    static HANDLES: OnceLock<[metrics::Counter; 2]> = OnceLock::new();
    let register = || {
        [false, true].map(|hit| counter!(PAGE_CACHE, "result" => if hit { "hit" } else { "miss" }))
    };
    let counter = match HANDLES.get() {
        Some(handles) => handles[usize::from(hit)].clone(),
        None if recorder_installed() => HANDLES.get_or_init(register)[usize::from(hit)].clone(),
        None => register()[usize::from(hit)].clone(),
    };
    counter.increment(1);
}

/// Whether this process's recorder is installed ([`install`]); before it,
/// handles are no-ops and must not be kept.
fn recorder_installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// One follower refresh of `kind` (`full` or `incremental`) that read `rows`.
pub fn follower_refresh(kind: &'static str, rows: usize) {
    counter!(FOLLOWER_REFRESHES, "kind" => kind).increment(1);
    counter!(FOLLOWER_ROWS, "kind" => kind).increment(rows as u64);
}

/// How long after it was taken a sample reached a follower's snapshot.
pub fn follower_lag(lag: Duration) {
    histogram!(FOLLOWER_LAG).record(lag.as_secs_f64());
}

pub fn samples_pruned(n: u64) {
    counter!(SAMPLES_PRUNED).increment(n);
}

pub fn snapshot_rebuilt(elapsed: Duration) {
    histogram!(SNAPSHOT_REBUILD).record(elapsed.as_secs_f64());
}

/// The gauge value of a status.
pub const fn status_code(status: Option<ServiceStatus>) -> f64 {
    match status {
        Some(ServiceStatus::Operational) => 0.0,
        Some(ServiceStatus::DegradedPerformance) => 1.0,
        Some(ServiceStatus::PartialOutage) => 2.0,
        Some(ServiceStatus::MajorOutage) => 3.0,
        Some(ServiceStatus::UnderMaintenance) => 4.0,
        None => -1.0,
    }
}

/// Sets what describes the current state, then renders the text format.
pub fn render(
    handle: &PrometheusHandle,
    snapshot: &PublicStatus,
    engine: &EngineCounts,
    slo: &[SloSeries],
    now: DateTime<Utc>,
) -> String {
    let age = (now - snapshot.generated_at).num_milliseconds().max(0);
    #[expect(clippy::cast_precision_loss, reason = "an age in ms fits f64")]
    gauge!(SNAPSHOT_AGE).set(age as f64 / 1000.0);
    counter!(SAMPLES_WRITTEN).absolute(engine.written);
    counter!(SAMPLES_DROPPED).absolute(engine.dropped);
    counter!(WRITE_FAILURES).absolute(engine.failed_flushes);
    counter!(INCIDENTS_OPENED).absolute(engine.incidents_opened);
    counter!(INCIDENTS_RESOLVED).absolute(engine.incidents_resolved);
    #[expect(clippy::cast_precision_loss, reason = "a sample count fits f64")]
    gauge!(SAMPLES_BUFFERED).set(engine.buffered as f64);
    gauge!(PROBER).set(if engine.prober { 1.0 } else { 0.0 });
    if let Some(lag) = engine.sampler_lag {
        gauge!(SAMPLER_LAG).set(lag.as_secs_f64());
    }
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Counters that have not moved yet (or move only on followers) still
    // appear, at 0.
    counter!(SAMPLES_PRUNED).increment(0);
    for kind in ["full", "incremental"] {
        counter!(FOLLOWER_REFRESHES, "kind" => kind).increment(0);
        counter!(FOLLOWER_ROWS, "kind" => kind).increment(0);
    }
    let _registered = histogram!(FOLLOWER_LAG);
    gauge!(ALERT_OUTBOX).increment(0.0);
    let mut text = handle.render();
    write_services(&mut text, snapshot);
    write_slo(&mut text, slo);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_service_series_are_written_in_the_text_format() {
        let stats = ProbeStats::default();
        stats.record(SampleOutcome::Up, Duration::from_millis(2));
        stats.record(SampleOutcome::Up, Duration::from_millis(20));
        stats.record(SampleOutcome::Down, Duration::from_secs(20));
        let mut out = Families::default();
        stats.write(&mut out, "api");
        assert_eq!(
            out.runs,
            "upbeat_probe_runs_total{service=\"api\",outcome=\"up\"} 2\n\
             upbeat_probe_runs_total{service=\"api\",outcome=\"down\"} 1\n",
            "no line for an outcome that never happened"
        );
        let line = |le: &str| {
            out.durations
                .lines()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        // Cumulative, like every Prometheus histogram.
        assert_eq!(line("0.001"), Some(0));
        assert_eq!(line("0.0025"), Some(1));
        assert_eq!(line("0.025"), Some(2));
        assert_eq!(line("10"), Some(2));
        assert_eq!(line("+Inf"), Some(3));
        assert!(out
            .durations
            .contains("upbeat_probe_duration_seconds_sum{service=\"api\"} 20.022\n"));
        assert!(out
            .durations
            .contains("upbeat_probe_duration_seconds_count{service=\"api\"} 3\n"));
    }

    #[test]
    fn objectives_are_written_as_gauges_without_made_up_values() {
        let series = [
            SloSeries {
                service: "api".into(),
                objective: "availability".into(),
                compliance: Some(0.9995),
                budget_remaining: Some(0.5),
                burn_rates: vec![("1h", 14.5), ("72h", 0.25)],
                status: "critical",
            },
            SloSeries {
                service: "web".into(),
                objective: "latency_p95_300ms".into(),
                compliance: None,
                budget_remaining: None,
                burn_rates: Vec::new(),
                status: "ok",
            },
        ];
        let mut text = String::new();
        write_slo(&mut text, &series);
        for line in [
            "upbeat_slo_compliance_ratio{service=\"api\",objective=\"availability\"} 0.9995\n",
            "upbeat_error_budget_remaining_ratio{service=\"api\",objective=\"availability\"} 0.5\n",
            "upbeat_error_budget_burn_rate{service=\"api\",objective=\"availability\",window=\"1h\"} 14.5\n",
            "upbeat_slo_status{service=\"api\",objective=\"availability\",status=\"critical\"} 1\n",
            "upbeat_slo_status{service=\"api\",objective=\"availability\",status=\"ok\"} 0\n",
            "upbeat_slo_status{service=\"web\",objective=\"latency_p95_300ms\",status=\"ok\"} 1\n",
            "# TYPE upbeat_error_budget_burn_rate gauge\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("upbeat_slo_compliance_ratio{service=\"web\""));
        assert_eq!(text.matches("upbeat_slo_status{").count(), 8);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Families::default();
        ProbeStats::default().write(&mut out, "api");
        assert!(out.durations.contains("{service=\"api\",le=\"+Inf\"} 0\n"));
        let mut out = Families::default();
        ProbeStats::default().write(&mut out, "a\"b\\c\nd");
        assert!(
            out.durations
                .contains("{service=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 0\n"),
            "{}",
            out.durations
        );
    }
}
