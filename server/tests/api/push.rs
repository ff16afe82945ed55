//! Push checks end to end: a token from the CLI, heartbeats over HTTP, and
//! samples from them (or from their absence), on both backends.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::helpers::{upbeat, Backend, TestApp, TestDb};

const CONFIG: &str = r#"
[[services]]
slug = "nightly-backup"
name = "Nightly backup"
interval = "1s"
[services.check]
kind = "push"
grace = "300ms"
"#;

/// Runs `upbeat push-token` like an operator would; returns the token.
fn create_token(config: &std::path::Path, database_url: &str) -> String {
    let out = upbeat()
        .arg("--config")
        .arg(config)
        .args(["--database", database_url, "push-token", "nightly-backup"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    token
}

async fn heartbeats_become_samples_and_silence_becomes_down(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("upbeat.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let token = create_token(&config, &db.url);

    let app = TestApp::spawn(CONFIG, &db.url).await;
    let url = app.url(&format!("/api/v1/push/{token}"));
    let response = app
        .client
        .get(format!(
            "{url}?status=degraded&msg=disk%20almost%20full&latency_ms=1200"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "ok": true, "service": "nightly-backup" })
    );

    // Like a job that reports in regularly, until told to stop.
    let sender = {
        let client = app.client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            loop {
                let _ = client
                    .get(format!(
                        "{url}?status=degraded&msg=disk%20almost%20full&latency_ms=1200"
                    ))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let service = app
        .wait_for_service("nightly-backup", Duration::from_secs(10), |s| {
            !s["last_outcome"].is_null()
        })
        .await;
    assert_eq!(service["last_outcome"], "degraded");
    assert_eq!(service["last_error"], "disk almost full");
    assert_eq!(service["last_latency_ms"], 1200);
    sender.abort();

    // POST works the same; then silence past interval + grace means down.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/push/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let service = app
        .wait_for_service("nightly-backup", Duration::from_secs(10), |s| {
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("no heartbeat for "))
        })
        .await;
    assert_eq!(service["last_outcome"], "down");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_heartbeats_become_samples_and_silence_becomes_down() {
    heartbeats_become_samples_and_silence_becomes_down(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_heartbeats_become_samples_and_silence_becomes_down() {
    heartbeats_become_samples_and_silence_becomes_down(Backend::Postgres).await;
}

#[tokio::test]
async fn bad_heartbeats_get_a_json_error_naming_the_field() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("upbeat.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let token = create_token(&config, &db.url);
    let app = TestApp::spawn(CONFIG, &db.url).await;

    let long_msg = "x".repeat(201);
    let cases = [
        (
            format!("/api/v1/push/{token}?status=sideways"),
            400,
            "invalid_field",
            Some("status"),
        ),
        (
            format!("/api/v1/push/{token}?latency_ms=fast"),
            400,
            "invalid_field",
            Some("latency_ms"),
        ),
        (
            format!("/api/v1/push/{token}?msg={long_msg}"),
            400,
            "invalid_field",
            Some("msg"),
        ),
        (
            "/api/v1/push/not-a-token".to_owned(),
            404,
            "not_found",
            None,
        ),
    ];
    for (path, status, code, field) in cases {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{path}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    app.stop().await;
}

#[tokio::test]
async fn only_the_hash_of_a_push_token_is_stored() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("upbeat.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let token = create_token(&config, &db.url);

    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT push_token_hash FROM services WHERE slug = 'nightly-backup'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
    let dump: Vec<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(dump.iter().all(|sql| !sql.contains(&token)));
    pool.close().await;

    // A second token replaces the first.
    let second = create_token(&config, &db.url);
    assert_ne!(second, token);
    let app = TestApp::spawn(CONFIG, &db.url).await;
    let old = app
        .client
        .get(app.url(&format!("/api/v1/push/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 404);
    let new = app
        .client
        .get(app.url(&format!("/api/v1/push/{second}")))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
    app.stop().await;
}
