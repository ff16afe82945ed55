//! The real application on an ephemeral port, probing real local targets,
//! on both storage backends.

use std::time::Duration;

use crate::helpers::{one_service_config, silent_target, Backend, Target, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(15);

async fn status_changes_reach_the_page_and_the_json(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;

    let service = app
        .wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    assert_eq!(service["last_outcome"], "up");
    assert_eq!(service["uptime"]["d30"], 1.0);
    assert!(service["last_checked_at"].is_string());
    let (code, html) = app.get_text("/").await;
    assert_eq!(code, 200);
    assert!(
        html.contains(r#"data-slug="target" data-status="operational""#),
        "{html}"
    );
    assert!(html.contains("All Systems Operational"));

    target.set_status(503);
    let service = app
        .wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    assert_eq!(service["last_error"], "status 503, expected 2xx");
    let (_, html) = app.get_text("/").await;
    assert!(html.contains(r#"data-status="major_outage""#), "{html}");
    assert!(html.contains("Major outage"));
    assert!(html.contains("status 503, expected 2xx"));

    app.stop().await;
}

#[tokio::test]
async fn sqlite_status_changes_reach_the_page_and_the_json() {
    status_changes_reach_the_page_and_the_json(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_status_changes_reach_the_page_and_the_json() {
    status_changes_reach_the_page_and_the_json(Backend::Postgres).await;
}

async fn last_known_status_survives_a_restart(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(503).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    let before = app
        .wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    app.stop().await;

    // Restart against a target that never answers: until its first probe
    // times out, the page can only know the status from the database.
    let silent = silent_target().await;
    let app = TestApp::spawn(
        &one_service_config(&format!("http://{silent}/"), "1h"),
        &db.url,
    )
    .await;
    let status = app.get_json("/public/status").await;
    let after = &status["services"][0];
    assert_eq!(after["status"], "major_outage");
    assert_eq!(after["last_error"], "status 503, expected 2xx");
    // Samples kept landing until the shutdown, so the stored one may be newer
    // than the one seen before it, never older.
    let time = |v: &serde_json::Value| -> chrono::DateTime<chrono::Utc> {
        v["last_checked_at"].as_str().unwrap().parse().unwrap()
    };
    assert!(
        time(after) >= time(&before),
        "restart lost samples: {before} vs {after}"
    );
    // Uptime and bars are seeded from the stored rollups.
    let samples = |v: &serde_json::Value| v["days"][89]["samples"].as_u64().unwrap();
    assert!(samples(&before) > 0);
    assert!(
        samples(after) >= samples(&before),
        "{} < {}",
        samples(after),
        samples(&before)
    );
    assert_eq!(after["uptime"]["d90"], 0.0, "every sample was down");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_last_known_status_survives_a_restart() {
    last_known_status_survives_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_last_known_status_survives_a_restart() {
    last_known_status_survives_a_restart(Backend::Postgres).await;
}

#[tokio::test]
async fn a_hanging_target_times_out_without_delaying_others() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let silent = silent_target().await;
    let fine = Target::start(200).await;
    let toml = format!(
        r#"
[[services]]
slug = "hangs"
name = "Hangs"
interval = "1h"
timeout = "1s"
[services.check]
kind = "http"
url = "http://{silent}/"

[[services]]
slug = "fine"
name = "Fine"
interval = "1s"
[services.check]
kind = "http"
url = "{}"
"#,
        fine.url()
    );
    let app = TestApp::spawn(&toml, &db.url).await;
    // Several samples of the healthy service land while the other hangs.
    let first = app
        .wait_for_service("fine", WAIT, |s| s["status"] == "operational")
        .await;
    app.wait_for_service("fine", WAIT, |s| {
        s["last_checked_at"] != first["last_checked_at"]
    })
    .await;
    let hung = app
        .wait_for_service("hangs", WAIT, |s| !s["last_outcome"].is_null())
        .await;
    assert_eq!(hung["last_outcome"], "down");
    assert_eq!(hung["last_error"], "timed out after 1s");
    // One failed probe is below the failure threshold (3): still operational.
    assert_eq!(hung["status"], "operational");
    app.stop().await;
}

#[tokio::test]
async fn health_endpoints_answer_with_json() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1h"), &db.url).await;
    for (path, field, value) in [
        ("/health", "status", "ok"),
        ("/ready", "status", "ready"),
        ("/startup", "status", "started"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body[field], value, "{path}: {body}");
    }
    let ready = app.get_json("/ready").await;
    assert_eq!(ready["database"]["backend"], "sqlite");
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_get_a_real_404() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1h"), &db.url).await;
    let (code, html) = app.get_text("/no/such/page").await;
    assert_eq!(code, 404);
    assert!(html.contains("Page not found"), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn public_status_is_readable_from_other_origins() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1h"), &db.url).await;
    let response = app
        .client
        .get(app.url("/public/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["page"]["title"], "Test status");
    app.stop().await;
}

#[tokio::test]
async fn shutdown_flushes_samples_taken_before_it() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    let seen = app
        .wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    app.stop().await;

    let store = upbeat::store::connect(&db.url, 1).await.unwrap();
    let latest = store.latest_samples().await.unwrap();
    let seen_at: chrono::DateTime<chrono::Utc> =
        seen["last_checked_at"].as_str().unwrap().parse().unwrap();
    assert!(
        latest[0].taken_at >= seen_at,
        "{} < {seen_at}",
        latest[0].taken_at
    );
    store.close().await;
}

async fn failure_counts_resume_after_a_restart(backend: Backend) {
    use app::model::{SampleOutcome, ServiceStatus};
    use upbeat::clock::{Clock, SystemClock};
    use upbeat::domain::sample::{sample_time, Sample};
    use upbeat::domain::service::ServiceDef;
    use upbeat::domain::status::{ServiceState, Tracker};

    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    // Before the restart: two failed probes counted, still operational.
    let store = upbeat::store::connect(&db.url, 1).await.unwrap();
    let def = ServiceDef {
        slug: "target".into(),
        name: "Target".into(),
        group: None,
        description: None,
        check_kind: "http".into(),
    };
    let now = SystemClock.now();
    let id = store.sync_services(&[def], now).await.unwrap()[0].id;
    let before = sample_time(now - chrono::Duration::minutes(1));
    let sample = Sample {
        service_id: id,
        taken_at: before,
        outcome: SampleOutcome::Down,
        latency_ms: None,
        error: Some("connection refused".into()),
        in_maintenance: false,
    };
    let state = ServiceState {
        service_id: id,
        tracker: Tracker {
            status: ServiceStatus::Operational,
            bad_run: 2,
            good_run: 0,
        },
        updated_at: before,
    };
    store
        .insert_samples(&[sample], &[state], &[], None)
        .await
        .unwrap();
    store.close().await;

    let target = Target::start(503).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1h"), &db.url).await;
    let service = app
        .wait_for_service("target", WAIT, |s| {
            s["last_error"] == "status 503, expected 2xx"
        })
        .await;
    // The third consecutive failure, counting the two from before the restart.
    assert_eq!(service["status"], "major_outage");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_failure_counts_resume_after_a_restart() {
    failure_counts_resume_after_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_failure_counts_resume_after_a_restart() {
    failure_counts_resume_after_a_restart(Backend::Postgres).await;
}
