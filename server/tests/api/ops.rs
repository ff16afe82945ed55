//! Operability: health probes healthy and unhealthy, Prometheus metrics,
//! request ids, security headers and limits, logs without secrets, and a
//! SIGTERM that loses no sample.

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{one_service_config, upbeat, Backend, Binary, Target, TestApp, TestDb};
use crate::outage::set_database_available;

const WAIT: Duration = Duration::from_secs(15);

async fn get(app: &TestApp, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    app.get_full(path).await
}

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let (status, _, text) = get(app, path).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_endpoints_follow_the_database() {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the health test");
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;

    // Healthy.
    let (status, body) = get_json(&app, "/health").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = get_json(&app, "/startup").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("started"))
    );
    let (status, ready) = get_json(&app, "/ready").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["database"]["backend"], "postgres");
    assert_eq!(ready["database"]["status"], "up");
    assert!(ready["database"]["latency_ms"].as_f64().unwrap() < 1000.0);
    assert_eq!(
        ready["engine"],
        serde_json::json!({"role": "prober", "status": "up", "lag_s": ready["engine"]["lag_s"]})
    );
    assert!(ready["engine"]["lag_s"].as_f64().unwrap() < 5.0, "{ready}");
    let (status, detailed) = get_json(&app, "/health/detailed").await;
    assert_eq!(status, StatusCode::OK, "{detailed}");
    assert_eq!(detailed["status"], "ok");
    assert_eq!(detailed["version"], env!("CARGO_PKG_VERSION"));
    assert!(detailed["uptime_s"].as_f64().unwrap() > 0.0);
    assert!(
        detailed["snapshot"]["age_s"].as_f64().unwrap() < 5.0,
        "{detailed}"
    );
    assert_eq!(detailed["snapshot"]["services"], 1);
    assert!(detailed["samples"]["written"].as_u64().unwrap() > 0);

    // The database goes away: the cached answer holds for 2 s, then /ready
    // says 503 while the process and the page still answer.
    set_database_available(&db, false).await;
    let (status, _) = get_json(&app, "/ready").await;
    assert_eq!(status, StatusCode::OK, "cached for 2 s");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, ready) = get_json(&app, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["status"], "unavailable");
    assert_eq!(ready["database"]["status"], "down");
    let (status, detailed) = get_json(&app, "/health/detailed").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(detailed["database"]["status"], "down");
    let (status, _) = get_json(&app, "/health").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, page) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Target"));
    let (status, public) = get_json(&app, "/public/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["services"][0]["slug"], "target");
    // A page that needs the database says so, with 503, and links the
    // status page, which still answers.
    let (status, _, page) = get(&app, "/history").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(page.contains("This cannot be loaded right now."), "{page}");

    // It comes back.
    set_database_available(&db, true).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, ready) = get_json(&app, "/ready").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again: {ready}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.stop().await;
}

/// One series of the text format: name, labels, value.
type Series = (String, String, f64);

/// `name{labels} value` lines and `# TYPE name type` lines.
fn parse_metrics(text: &str) -> (BTreeMap<String, String>, Vec<Series>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                assert!(labels.ends_with('}'), "{line}");
                (name, labels.trim_end_matches('}'))
            }
            None => (series, ""),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        samples.push((name.to_owned(), labels.to_owned(), value));
    }
    (types, samples)
}

#[tokio::test]
async fn metrics_list_every_documented_series_with_bounded_labels() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    for path in [
        // A page, so the page cache counts even when this test runs alone.
        "/",
        "/public/status",
        "/badge/target.svg",
        "/no/such/path/12345",
        "/api/v1/push/secret-token-123",
    ] {
        get(&app, path).await;
    }
    let (status, headers, text) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let (types, samples) = parse_metrics(&text);
    for (name, kind) in upbeat::metrics::ALL {
        assert_eq!(
            types.get(*name).map(String::as_str),
            Some(*kind),
            "{name} in\n{text}"
        );
    }
    let has = |name: &str, labels: &[&str]| {
        samples
            .iter()
            .any(|(n, l, _)| n == name && labels.iter().all(|want| l.contains(want)))
    };
    assert!(
        has(
            "upbeat_http_requests_total",
            &[
                r#"method="GET""#,
                r#"route="/public/status""#,
                r#"status="200""#
            ]
        ),
        "{text}"
    );
    assert!(
        has(
            "upbeat_http_request_duration_seconds_bucket",
            &[r#"route="/badge/{file}""#]
        ),
        "{text}"
    );
    assert!(
        has(
            "upbeat_http_requests_total",
            &[r#"route="fallback""#, r#"status="404""#]
        ),
        "{text}"
    );
    assert!(
        has(
            "upbeat_probe_runs_total",
            &[r#"service="target""#, r#"outcome="up""#]
        ),
        "{text}"
    );
    assert!(
        has(
            "upbeat_probe_duration_seconds_count",
            &[r#"service="target""#]
        ),
        "{text}"
    );
    assert!(has(
        "upbeat_build_info",
        &[&format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"))]
    ));
    let status_of_target = samples
        .iter()
        .find(|(n, l, _)| n == "upbeat_service_status" && l.contains(r#"service="target""#))
        .map(|(_, _, v)| *v);
    assert_eq!(status_of_target, Some(0.0));
    // Raw paths never become labels: cardinality stays bounded.
    assert!(
        !text.contains("/no/such/path") && !text.contains("secret-token-123"),
        "{text}"
    );
    let routes: HashSet<&str> = samples
        .iter()
        .filter(|(n, _, _)| n == "upbeat_http_requests_total")
        .filter_map(|(_, l, _)| l.split("route=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        routes
            .iter()
            .all(|r| *r == "fallback" || r.starts_with('/')),
        "{routes:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn request_ids_security_headers_and_limits() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;

    // Request ids: kept when sane, generated otherwise.
    let with = |id: &'static str| {
        app.client
            .get(app.url("/health"))
            .header("x-request-id", id)
            .send()
    };
    let response = with("trace-abc-123").await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc-123");
    let response = with("has spaces").await.unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 32);
    let (_, headers, _) = get(&app, "/health").await;
    assert_ne!(headers["x-request-id"].to_str().unwrap(), generated);

    // The page: a policy allowing its inline scripts and nothing else
    // inline. Cached pages are the same bytes for everyone (so they are
    // compressed once): their scripts are allowed by hash (see
    // pages::pages_are_cached_per_snapshot_and_compressed_once).
    let (status, headers, html) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        crate::helpers::assert_inline_allowed(&headers, &html) >= 2,
        "{html}"
    );
    assert!(
        !csp.contains("'nonce-") && !html.contains("nonce="),
        "{csp}"
    );
    for directive in [
        "'strict-dynamic'",
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // A page rendered for one answer (a query string is never cached)
    // carries a nonce of its own.
    let (_, first, html) = get(&app, "/?from=test").await;
    crate::helpers::assert_inline_allowed(&first, &html);
    let nonce = crate::helpers::csp_nonce(&first);
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    let (_, second, _) = get(&app, "/?from=test").await;
    assert_ne!(
        crate::helpers::csp_nonce(&second),
        nonce,
        "a nonce per answer"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );

    // JSON: nothing loads, nothing frames it; badges and the widget may be
    // framed anywhere.
    let (_, headers, _) = get(&app, "/public/status").await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    for path in ["/badge.svg", "/embed"] {
        let (_, headers, _) = get(&app, path).await;
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors *"), "{path}: {csp}");
    }

    // Bodies are limited.
    let big = "x".repeat(300 * 1024);
    let response = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth("whatever")
        .header("content-type", "application/json")
        .body(format!(r#"{{"title":"t","body":"{big}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

/// The binary with JSON logs: a start-up line, one line per request with
/// the request id on every line of it, and no secret anywhere.
#[tokio::test]
async fn logs_carry_request_ids_and_never_secrets() {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the logging test");
    // Trust authentication ignores the password, so it can be checked for.
    let url = db.url.replacen(
        "postgres://postgres@",
        "postgres://postgres:hunter2-db-password@",
        1,
    );
    assert!(url.contains("hunter2"), "{url}");
    let target = Target::start(200).await;
    let config = format!(
        "{}\n[logging]\nformat = \"json\"\nlevel = \"info\"\n",
        one_service_config(&target.url(), "1s")
    );
    let app = Binary::start(
        &config,
        &url,
        "bootstrap-secret-never-logged",
        &[("RUST_LOG", "info".to_owned())],
    )
    .await;
    let client = &app.client;
    let response = client
        .post(app.url("/api/v1/incidents"))
        .header("x-request-id", "req-log-test-1")
        .bearer_auth("upb_wrong-token-never-logged")
        .json(&serde_json::json!({"title": "t", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    client
        .get(app.url("/api/v1/push/push-token-never-logged?msg=password%3Dx"))
        .send()
        .await
        .unwrap();
    let (stopped, all) = app.terminate();
    assert!(stopped, "exits 0 on SIGTERM:\n{all}");
    let lines: Vec<&str> = all.lines().collect();
    for secret in [
        "hunter2",
        "bootstrap-secret-never-logged",
        "upb_wrong-token-never-logged",
        "push-token-never-logged",
        "password=x",
    ] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    let json: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let start = json
        .iter()
        .find(|l| l["message"] == "starting upbeat")
        .unwrap_or_else(|| panic!("no start-up line:\n{all}"));
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(start["backend"], "postgres");
    assert!(start["config"].as_str().unwrap().ends_with("upbeat.toml"));
    // Every line of the request carries its id: the warning inside it and
    // the request line.
    let of_request: Vec<&Value> = json
        .iter()
        .filter(|l| l["span"]["request_id"] == "req-log-test-1")
        .collect();
    assert!(of_request.len() >= 2, "{of_request:?}");
    assert!(of_request
        .iter()
        .any(|l| l["message"] == "admin API: invalid or revoked token"));
    let line = of_request
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line:\n{all}"));
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/api/v1/incidents");
    assert_eq!(line["status"], 401);
    assert!(line["duration_ms"].as_f64().is_some());
    assert_eq!(line["client"], "127.0.0.1");
    let push = json
        .iter()
        .find(|l| l["message"] == "request" && l["route"] == "/api/v1/push/{token}")
        .unwrap_or_else(|| panic!("no push request line:\n{all}"));
    assert_eq!(push["status"], 404);
}

/// `[logging] access = "errors"`: only answers of 400 or more get a
/// request line, and the metrics still count every request.
#[tokio::test]
async fn the_access_log_can_keep_only_errors_while_metrics_count_everything() {
    let target = Target::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n[logging]\nformat = \"json\"\naccess = \"errors\"\n",
        one_service_config(&target.url(), "1s")
    );
    let database = format!("sqlite://{}", dir.path().join("upbeat.db").display());
    let app = Binary::start(
        &config,
        &database,
        "access-log-admin-token",
        &[("RUST_LOG", "info".to_owned())],
    )
    .await;
    for _ in 0..3 {
        let ok = app
            .client
            .get(app.url("/public/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let missing = app
        .client
        .get(app.url("/badge/nope.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let series = |route: &str, status: u16| {
        format!(
            "upbeat_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"
        )
    };
    assert_eq!(app.metric(&series("/public/status", 200)).await, 3.0);
    assert_eq!(app.metric(&series("/badge/{file}", 404)).await, 1.0);
    let (stopped, log) = app.terminate();
    assert!(stopped, "exits 0 on SIGTERM:\n{log}");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let requests: Vec<(String, u64)> = lines
        .iter()
        .filter(|l| l["message"] == "request")
        .map(|l| {
            (
                l["route"].as_str().unwrap().to_owned(),
                l["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(requests, [("/badge/{file}".to_owned(), 404)], "{lines:?}");
}

/// SIGTERM: the binary stops probing, writes every sample it took and
/// exits 0. Each probe is one request to the target, so the stored samples
/// must match the target's count exactly.
#[tokio::test]
async fn sigterm_loses_no_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("upbeat.db").display());
    let target = Target::start(200).await;
    let config = dir.path().join("upbeat.toml");
    let mut toml = String::from("[page]\ntitle = \"t\"\n");
    for i in 0..20 {
        toml.push_str(&format!(
            "[[services]]\nslug = \"s{i}\"\nname = \"S{i}\"\ninterval = \"1s\"\n[services.check]\nkind = \"http\"\nurl = \"{}s{i}\"\n",
            target.url()
        ));
    }
    std::fs::write(&config, toml).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = upbeat()
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(&db)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("serve")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while target.hits() < 60 {
        assert!(Instant::now() < deadline, "probes never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let hits = target.hits();
    let store = upbeat::store::connect(&db, 1).await.unwrap();
    let mut up = 0;
    let mut other = Vec::new();
    for service in store.services().await.unwrap() {
        for sample in store.recent_samples(service.id, 10_000).await.unwrap() {
            if sample.outcome == app::model::SampleOutcome::Up {
                up += 1;
            } else {
                other.push(sample.error);
            }
        }
    }
    store.close().await;
    // A probe whose connection broke never reached the target; it is
    // stored as down and does not count here.
    assert_eq!(
        up, hits,
        "every answered probe is stored; others: {other:?}"
    );
}

/// The Grafana dashboard: a dashboard Grafana can import (inputs for the
/// data source, unique panel ids, queries everywhere) whose queries name
/// only metrics the server exports.
#[test]
fn the_grafana_dashboard_queries_exported_metrics() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/upbeat.json"
    ))
    .unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: HashSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let known: HashSet<&str> = upbeat::metrics::ALL
        .iter()
        .chain(upbeat::metrics::ALERTS)
        .chain(upbeat::metrics::SLO)
        .map(|(n, _)| *n)
        .collect();
    let mut used = HashSet::new();
    let mut titles = Vec::new();
    let mut trace_links = 0;
    for panel in panels {
        titles.push(panel["title"].as_str().unwrap().to_owned());
        if panel["datasource"]["uid"] == "${DS_LOKI}" {
            // The log panel: request lines with a trace id, which links
            // to the trace view.
            let expr = panel["targets"][0]["expr"].as_str().unwrap();
            assert!(expr.contains("trace_id"), "{expr}");
            for rule in panel["fieldConfig"]["overrides"].as_array().unwrap() {
                assert_eq!(rule["matcher"]["options"], "trace_id");
                let link = &rule["properties"][0]["value"][0];
                assert_eq!(link["internal"]["datasourceUid"], "${DS_TRACES}");
                assert_eq!(link["internal"]["query"]["query"], "${__value.raw}");
                trace_links += 1;
            }
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let mut found = false;
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(name) = word.strip_prefix("upbeat_") {
                    let name = format!("upbeat_{name}");
                    let base = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(&name)
                        .to_owned();
                    assert!(known.contains(base.as_str()), "{base} in {expr}");
                    used.insert(base);
                    found = true;
                }
            }
            assert!(found, "no Upbeat metric in {expr}");
        }
    }
    assert_eq!(trace_links, 1, "a panel links trace ids to the trace view");
    let inputs: Vec<&str> = dashboard["__inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["DS_PROMETHEUS", "DS_LOKI", "DS_TRACES"]);
    for wanted in [
        "Request rate by route",
        "Request latency",
        "HTTP error rate",
        "Probe outcomes",
        "Services not operational",
        "Snapshot age",
        "Samples written, dropped and pruned",
    ] {
        assert!(
            titles.iter().any(|t| t == wanted),
            "{wanted} missing: {titles:?}"
        );
    }
    for metric in [
        "upbeat_http_requests_total",
        "upbeat_http_request_duration_seconds",
        "upbeat_probe_runs_total",
        "upbeat_service_status",
        "upbeat_snapshot_age_seconds",
        "upbeat_samples_written_total",
    ] {
        assert!(used.contains(metric), "{metric} not on the dashboard");
    }
}
