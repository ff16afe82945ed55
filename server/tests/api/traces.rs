//! Traces, end to end: the real `upbeat` binary exports to OTLP receivers
//! started here, which decode the real protobuf (`opentelemetry-proto`)
//! over HTTP (`POST /v1/traces`) and gRPC (`TraceService/Export`). The
//! tests read back span names, kinds, attributes and parent links of a
//! page request (continuing the caller's `traceparent`), a probe round
//! (with its HTTP client span and the `traceparent` the target received),
//! a writer round with its store statements, an admin change and the
//! webhook delivery it causes (with its `traceparent`); and the
//! log line of a request carrying its trace and span id. A second test
//! points the exporter at a closed port and at collectors that never
//! answer: requests answer as fast as without traces, and the lost spans
//! are counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use serde_json::Value;

use crate::helpers::{silent_target, Backend, Binary, TestDb};

const ADMIN: &str = "trace-test-admin-token-0123456789";

/// One span as received, flattened with its resource.
#[derive(Clone, Debug)]
struct Received {
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
    resource: HashMap<String, String>,
    error: bool,
}

impl Received {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn map(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

/// What a receiver got.
#[derive(Clone, Default)]
struct Collected {
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Collected {
    fn take(&self, request: &ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| map(&r.attributes))
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    spans.push(Received {
                        name: span.name.clone(),
                        kind: span.kind,
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent_span_id: hex::encode(&span.parent_span_id),
                        attributes: map(&span.attributes),
                        resource: resource.clone(),
                        // STATUS_CODE_ERROR
                        error: span.status.as_ref().is_some_and(|s| s.code == 2),
                    });
                }
            }
        }
    }

    fn all(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// The first span `matches` accepts, waiting up to 20 s for it.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self.all().into_iter().find(|s| matches(s)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no span {what} among {:#?}",
                self.all()
                    .iter()
                    .map(|s| (&s.name, &s.attributes))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body.
async fn http_receiver() -> (SocketAddr, Collected) {
    let got = Collected::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                assert_eq!(
                    headers["content-type"], "application/x-protobuf",
                    "OTLP/HTTP binary"
                );
                let request = ExportTraceServiceRequest::decode(body).expect("protobuf");
                sink.take(&request);
                (
                    [("content-type", "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

struct Grpc(Collected);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.take(request.get_ref());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver (HTTP/2 without TLS, as collectors listen on 4317).
async fn grpc_receiver() -> (SocketAddr, Collected) {
    let got = Collected::default();
    let router = tonic::service::Routes::new(TraceServiceServer::new(Grpc(got.clone())))
        .prepare()
        .into_axum_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, got)
}

/// A probe target that keeps the `traceparent` of each request.
async fn target() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        if let Some(value) = headers.get("traceparent") {
            keep.lock()
                .unwrap()
                .push(value.to_str().unwrap().to_owned());
        }
        async { "ok" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

/// The config of the traced instance: a service probing `target` every
/// second (sending its `traceparent`), and a webhook for opened incidents.
fn traced_config(target: &str) -> String {
    format!(
        r#"
[logging]
format = "json"

[page]
title = "Traced"

[defaults]
timeout = "2s"

[[services]]
slug = "target"
name = "Target"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"
propagate_trace = true

[[alerts.routes]]
name = "hook"
kind = "webhook"
url = "{target}/hook"
events = ["incident.opened"]
"#
    )
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

async fn spans_of_a_page_a_probe_and_an_admin_change(backend: Backend, grpc: bool) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (collector, received) = if grpc {
        grpc_receiver().await
    } else {
        http_receiver().await
    };
    let (target_addr, traceparents) = target().await;
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_SERVICE_NAME", "upbeat-under-test".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".to_owned(),
        ),
    ];
    if grpc {
        env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()));
    }
    let app = Binary::start(
        &traced_config(&format!("http://{target_addr}/health")),
        &db.url,
        ADMIN,
        &env,
    )
    .await;

    // A page request continuing the caller's trace.
    let (trace, parent) = (random_hex(16), random_hex(8));
    let page = app
        .client
        .get(app.url("/"))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["x-trace-id"],
        trace.as_str(),
        "the caller's trace"
    );
    let server = received
        .wait_for("of the page request", |s| s.trace_id == trace)
        .await;
    assert_eq!(server.name, "GET /");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(server.parent_span_id, parent, "child of the caller's span");
    assert_eq!(server.attr("http.request.method"), Some("GET"));
    assert_eq!(server.attr("http.route"), Some("/"));
    assert_eq!(server.attr("http.response.status_code"), Some("200"));
    assert_eq!(server.resource["service.name"], "upbeat-under-test");
    assert_eq!(server.resource["deployment.environment"], "test");
    // A malformed traceparent starts a trace of its own.
    let fresh = app
        .client
        .get(app.url("/public/status"))
        .header("traceparent", "00-not-a-trace-01")
        .send()
        .await
        .unwrap();
    let fresh_trace = fresh.headers()["x-trace-id"].to_str().unwrap().to_owned();
    assert_eq!(fresh_trace.len(), 32);
    let status = received
        .wait_for("of /public/status", |s| s.trace_id == fresh_trace)
        .await;
    assert_eq!(status.name, "GET /public/status");
    assert_eq!(status.parent_span_id, "", "a root span");

    // A probe round: the probe, its HTTP client span, and the target saw
    // the client span as its parent.
    let probe = received
        .wait_for("of a probe", |s| {
            s.name == "probe" && s.attr("upbeat.outcome") == Some("up")
        })
        .await;
    assert_eq!(probe.attr("upbeat.service"), Some("target"));
    assert_eq!(probe.attr("upbeat.check.kind"), Some("http"));
    let client = received
        .wait_for("of the probe's HTTP request", |s| {
            s.parent_span_id == probe.span_id
        })
        .await;
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(client.name, "GET");
    assert_eq!(client.trace_id, probe.trace_id);
    assert_eq!(client.attr("http.response.status_code"), Some("200"));
    assert_eq!(
        client.attr("url.full"),
        Some(format!("http://{target_addr}/health").as_str())
    );
    let sent = format!("00-{}-{}-01", client.trace_id, client.span_id);
    assert!(
        traceparents.lock().unwrap().contains(&sent),
        "the target got {sent}: {:?}",
        traceparents.lock().unwrap()
    );

    // A writer round and the statement that stored it.
    let round = received
        .wait_for("of a writer round", |s| s.name == "writer round")
        .await;
    assert!(round.attr("upbeat.samples").is_some_and(|n| n != "0"));
    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    let store = received
        .wait_for("storing a round", |s| {
            s.name == "store.insert_samples" && s.trace_id == round.trace_id
        })
        .await;
    assert_eq!(store.parent_span_id, round.span_id);
    assert_eq!(store.attr("db.system.name"), Some(system));
    assert_eq!(store.attr("db.operation.name"), Some("insert_samples"));

    // An admin change: the request and the statements under it.
    let created = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "title": "Payments are failing",
            "services": [{"slug": "target", "status": "partial_outage"}],
            "body": "Looking into it."
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let admin_trace = created.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let request = received
        .wait_for("of the admin change", |s| {
            s.trace_id == admin_trace && s.parent_span_id.is_empty()
        })
        .await;
    assert_eq!(request.name, "POST /api/v1/incidents");
    assert_eq!(request.attr("http.response.status_code"), Some("201"));
    let statement = received
        .wait_for("of the admin change's statement", |s| {
            s.trace_id == admin_trace && s.name.starts_with("store.")
        })
        .await;
    assert_eq!(statement.parent_span_id, request.span_id);
    assert_eq!(statement.attr("db.system.name"), Some(system));

    // Its alert goes out to the webhook in a delivery span whose
    // `traceparent` the receiver got.
    let delivery = received
        .wait_for("of the webhook delivery", |s| {
            s.name == "alert delivery" && s.attr("upbeat.outcome") == Some("delivered")
        })
        .await;
    assert_eq!(delivery.attr("upbeat.route"), Some("hook"));
    let sent = format!("00-{}-{}-01", delivery.trace_id, delivery.span_id);
    assert!(
        traceparents.lock().unwrap().contains(&sent),
        "the webhook got {sent}: {:?}",
        traceparents.lock().unwrap()
    );

    // The request's log line carries its trace and span id.
    let log = app.log();
    let line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "request" && line["trace_id"] == admin_trace.as_str())
        .unwrap_or_else(|| panic!("no request line with trace {admin_trace} in\n{log}"));
    assert_eq!(line["span_id"], request.span_id.as_str());
    assert_eq!(line["route"], "/api/v1/incidents");
    assert!(
        !received.all().iter().any(|s| s.error && s.name == "GET /"),
        "no page request failed"
    );
}

#[tokio::test]
async fn sqlite_spans_reach_an_otlp_http_collector() {
    spans_of_a_page_a_probe_and_an_admin_change(Backend::Sqlite, false).await;
}

#[tokio::test]
async fn postgres_spans_reach_an_otlp_http_collector() {
    spans_of_a_page_a_probe_and_an_admin_change(Backend::Postgres, false).await;
}

#[tokio::test]
async fn sqlite_spans_reach_an_otlp_grpc_collector() {
    spans_of_a_page_a_probe_and_an_admin_change(Backend::Sqlite, true).await;
}

/// How long each of `n` requests for `path` took, in order.
async fn timings(app: &Binary, path: &str, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let answer = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap();
        took.push(started.elapsed());
    }
    took
}

fn median(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took[took.len() / 2]
}

#[tokio::test]
async fn a_closed_or_hanging_collector_never_slows_requests() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (target_addr, _) = target().await;
    let target = format!("http://{target_addr}/");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hanging = silent_target().await;
    let untraced = Binary::start(&traced_config(&target), &db.url, ADMIN, &[]).await;
    let baseline = median(timings(&untraced, "/public/status", 40).await);
    drop(untraced);
    for (what, env) in [
        (
            "closed port",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{closed}"))],
        ),
        (
            "HTTP collector that never answers",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{hanging}"))],
        ),
        (
            "gRPC collector that never answers",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{hanging}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            ],
        ),
    ] {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let app = Binary::start(&traced_config(&target), &db.url, ADMIN, &env).await;
        // Long enough for exports to fail or time out (5 s) while asked.
        let mut took = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(7) {
            took.extend(timings(&app, "/public/status", 20).await);
        }
        let slowest = *took.iter().max().unwrap();
        let typical = median(took);
        assert!(
            slowest < Duration::from_millis(500),
            "{what}: a request took {slowest:?}"
        );
        assert!(
            typical < baseline + Duration::from_millis(20),
            "{what}: median {typical:?} against {baseline:?} without traces"
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while app.metric("upbeat_traces_dropped_total").await == 0.0 {
            assert!(
                Instant::now() < deadline,
                "{what}: nothing counted as dropped; log:\n{}",
                app.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            app.log().contains("spans not exported"),
            "{what}: the failure is logged"
        );
    }
}
