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
