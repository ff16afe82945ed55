//! Browser error reports (`POST /api/v1/client-errors`): accepted as the
//! page sends them (a beacon: `text/plain`), counted by kind, refused with
//! the JSON error body when too large, malformed or unacceptable, and
//! limited per client address.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb};

/// `upbeat_frontend_errors_total{kind="panic"}` now.
async fn panics_counted(app: &TestApp) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(r#"upbeat_frontend_errors_total{kind="panic"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("the panic series is present from the start")
}

async fn post(app: &TestApp, content_type: &str, body: String) -> (StatusCode, Option<Value>) {
    let answer = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .header("content-type", content_type)
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.ok())
}

#[tokio::test]
async fn browser_errors_are_counted_checked_and_limited() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "60s"), &db.url).await;
    let before = panics_counted(&app).await;
    let panic = json!({
        "kind": "panic",
        "message": "panicked at app/src/pages.rs:12:5:\nindex out of bounds",
        "route": "/services/target?secret=1",
        "build": "0.1.0",
    });

    // As the page sends it: a beacon, text/plain.
    let (status, _) = post(&app, "text/plain;charset=UTF-8", panic.to_string()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(panics_counted(&app).await, before + 1);

    // Too large, malformed, unacceptable: the JSON error body names why.
    let huge = json!({"kind": "panic", "message": "x".repeat(9000), "route": "/"});
    for (body, want, field) in [
        (huge.to_string(), 413, "body"),
        ("{not json".to_owned(), 400, "body"),
        (
            json!({"kind": "oops", "message": "m", "route": "/"}).to_string(),
            422,
            "kind",
        ),
        (
            json!({"kind": "panic", "route": "/"}).to_string(),
            422,
            "message",
        ),
        (
            json!({"kind": "panic", "message": "  ", "route": "/"}).to_string(),
            422,
            "message",
        ),
        (
            json!({"kind": "panic", "message": "m", "route": "https://evil.example/"}).to_string(),
            422,
            "route",
        ),
        (
            json!({"kind": "panic", "message": "m", "route": "/", "build": "<b>"}).to_string(),
            422,
            "build",
        ),
    ] {
        let (status, error) = post(&app, "application/json", body.clone()).await;
        assert_eq!(status.as_u16(), want, "{body:.80}");
        let error = error.expect("a JSON error body");
        assert_eq!(error["error"]["field"], field, "{error}");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        panics_counted(&app).await,
        before + 1,
        "refused reports are not counted"
    );

    // Ten reports a minute from one address (eight so far), then 429.
    for _ in 0..2 {
        let (status, _) = post(&app, "application/json", panic.to_string()).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let answer = app
        .client
        .post(app.url("/api/v1/client-errors"))
        .body(panic.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&wait), "{wait}");
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "too_many_reports");
    assert_eq!(panics_counted(&app).await, before + 3);
}

/// A Sentry stand-in: takes envelopes at `/api/42/envelope/`, checks them
/// against the envelope format (a header line naming the event and the
/// DSN, then items, each a header with the payload's length in bytes and
/// the payload) and keeps each event.
struct Sentry {
    addr: std::net::SocketAddr,
    events: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Sentry {
    async fn start() -> Self {
        use axum::http::{HeaderMap, StatusCode as Status};
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = std::sync::Arc::clone(&events);
        let app = axum::Router::new().route(
            "/api/42/envelope/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let keep = std::sync::Arc::clone(&keep);
                async move {
                    if headers["content-type"] != "application/x-sentry-envelope"
                        || headers.contains_key("cookie")
                    {
                        return (Status::UNSUPPORTED_MEDIA_TYPE, String::new());
                    }
                    let (header, mut rest) = body.split_once('\n').expect("a header line");
                    let header: Value = serde_json::from_str(header).expect("JSON header");
                    let event_id = header["event_id"].as_str().expect("event_id").to_owned();
                    assert!(header["dsn"].as_str().is_some_and(|d| d.ends_with("/42")));
                    while !rest.is_empty() {
                        let (item, after) = rest.split_once('\n').expect("an item header");
                        let item: Value = serde_json::from_str(item).expect("JSON item header");
                        let length =
                            usize::try_from(item["length"].as_u64().expect("length")).unwrap();
                        let payload = &after[..length];
                        assert_eq!(item["type"], "event");
                        let event: Value = serde_json::from_str(payload).expect("JSON event");
                        assert_eq!(event["event_id"], event_id.as_str());
                        keep.lock().unwrap().push(event);
                        rest = after[length..]
                            .strip_prefix('\n')
                            .unwrap_or(&after[length..]);
                    }
                    (Status::OK, format!(r#"{{"id":"{event_id}"}}"#))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, events }
    }

    fn dsn(&self, project: u32) -> String {
        format!("http://public-key@{}/{project}", self.addr)
    }
}

fn envelope(dsn: &str, message: &str) -> String {
    app::envelope::sentry_envelope(
        dsn,
        "0123456789abcdef0123456789abcdef",
        1_733_212_800,
        &app::envelope::Report {
            kind: "panic",
            message,
            route: "/services/target",
            build: "0.1.0",
        },
    )
}

async fn tunnel(app: &TestApp, body: String) -> (StatusCode, Value) {
    let answer = app
        .client
        .post(app.url("/api/v1/client-errors/sentry"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("cookie", "session=secret")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_sentry_tunnel_forwards_only_to_the_configured_project() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let sentry = Sentry::start().await;
    let dsn = sentry.dsn(42);
    let toml = format!(
        "{}\n[client_errors]\nsentry_dsn = \"{dsn}\"\nsentry_timeout = \"1s\"\n",
        one_service_config(&target.url(), "60s")
    );
    let app = TestApp::spawn(&toml, &db.url).await;

    // The page names the DSN, for its panic hook.
    let page = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            r#"<meta name="upbeat-sentry-dsn" content="{dsn}""#
        )),
        "{page}"
    );

    // An envelope as the page builds it reaches Sentry, unchanged, and
    // Sentry's answer comes back.
    let (status, answer) = tunnel(&app, envelope(&dsn, "index out of bounds")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["id"], "0123456789abcdef0123456789abcdef");
    let events = sentry.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["exception"]["values"][0]["value"],
        "index out of bounds"
    );
    assert_eq!(events[0]["transaction"], "/services/target");

    // Anything else is refused, naming why, and goes nowhere.
    let elsewhere = "http://public-key@127.0.0.1:9/42";
    let huge = envelope(&dsn, &"x".repeat(70 * 1024));
    for (body, want, field) in [
        (envelope(&sentry.dsn(43), "other project"), 400, "dsn"),
        (envelope(elsewhere, "other host"), 400, "dsn"),
        (envelope("not a dsn", "bad dsn"), 400, "dsn"),
        ("{\"event_id\":\"x\"}\n{}\n{}\n".to_owned(), 400, "dsn"),
        ("no envelope here".to_owned(), 400, "body"),
        (huge, 413, "body"),
    ] {
        let (status, answer) = tunnel(&app, body).await;
        assert_eq!(status.as_u16(), want, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    assert_eq!(
        sentry.events.lock().unwrap().len(),
        1,
        "nothing else forwarded"
    );
}

#[tokio::test]
async fn the_sentry_tunnel_answers_in_its_own_time_and_only_when_configured() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let silent = crate::helpers::silent_target().await;
    let dsn = format!("http://public-key@{silent}/42");
    let toml = format!(
        "{}\n[client_errors]\nsentry_dsn = \"{dsn}\"\nsentry_timeout = \"1s\"\n",
        one_service_config(&target.url(), "60s")
    );
    let app = TestApp::spawn(&toml, &db.url).await;
    let started = std::time::Instant::now();
    let (status, answer) = tunnel(&app, envelope(&dsn, "slow sentry")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert_eq!(answer["error"]["code"], "upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let plain = TestApp::spawn(&one_service_config(&target.url(), "60s"), &db.url).await;
    let (status, _) = tunnel(&plain, envelope(&dsn, "nobody configured")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page = plain
        .client
        .get(plain.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("upbeat-sentry-dsn"));
}
