//! Prometheus metrics through the `metrics` facade and
//! `metrics-exporter-prometheus`. Counters and histograms are recorded
//! where things happen; gauges that describe the current state (service
//! statuses, snapshot age, buffered samples) are set when `/metrics` is
//! scraped, from the snapshot and the engine's counters, so they are never
//! out of date.
//!
//! Labels are bounded: HTTP metrics are labelled by route template (never
//! the raw path), probe metrics by service slug (from the config).

use std::sync::OnceLock;
use std::time::Duration;

use app::model::{PublicStatus, SampleOutcome, ServiceStatus};
use chrono::{DateTime, Utc};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
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
    (FOLLOWER_REFRESHES, "counter"),
    (FOLLOWER_ROWS, "counter"),
    (FOLLOWER_LAG, "histogram"),
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same
/// handle. `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &latency)
                .ok()?
                .install_recorder()
                .ok()?;
            describe();
            Some(recorder)
        })
        .clone()
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
    describe_counter!(
        PROBE_RUNS,
        "Probes run, by service and outcome (up, degraded, down)."
    );
    describe_histogram!(
        PROBE_DURATION,
        Unit::Seconds,
        "Time probes took, by service."
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
    describe_gauge!(SERVICE_STATUS, "Current status by service: 0 operational, 1 degraded performance, 2 partial outage, 3 major outage, 4 under maintenance, -1 no data yet.");
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
        PAGE_CACHE,
        "Page requests answered from the page cache (result=hit) or rendered (result=miss)."
    );
}

/// One answered HTTP request.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    counter!(HTTP_REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
        .record(elapsed.as_secs_f64());
}

/// One finished probe.
pub fn probe_finished(service: &str, outcome: SampleOutcome, elapsed: Duration) {
    counter!(PROBE_RUNS, "service" => service.to_owned(), "outcome" => outcome.as_str())
        .increment(1);
    histogram!(PROBE_DURATION, "service" => service.to_owned()).record(elapsed.as_secs_f64());
}

pub fn page_cache(hit: bool) {
    counter!(PAGE_CACHE, "result" => if hit { "hit" } else { "miss" }).increment(1);
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
    now: DateTime<Utc>,
) -> String {
    for service in &snapshot.services {
        gauge!(SERVICE_STATUS, "service" => service.slug.clone()).set(status_code(service.status));
    }
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
    handle.render()
}
