//! Several replicas on one PostgreSQL database: one probes, all serve, and
//! another takes over when the prober stops. Also automatic incidents as
//! the public JSON shows them, on both backends.

use std::time::Duration;

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(20);

fn replica_config(url: &str) -> String {
    one_service_config(url, "1s") + "\n[database]\nfollower_refresh = \"1s\"\n"
}

#[tokio::test]
async fn postgres_replicas_probe_once_serve_alike_and_take_over() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let target = Target::start(200).await;
    let leader = TestApp::spawn(&replica_config(&target.url()), &db.url).await;
    leader
        .wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    let follower = TestApp::spawn(&replica_config(&target.url()), &db.url).await;
    follower
        .wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;

    // One prober at one probe a second: two replicas probing would double it.
    let before = target.hits();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let probes = target.hits() - before;
    assert!(
        (3..=7).contains(&probes),
        "{probes} probes in 5 s with a 1 s interval: more than one replica probes"
    );

    // What the prober sees reaches the follower through the database.
    target.set_status(503);
    let seen = follower
        .wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    assert_eq!(seen["last_error"], "status 503, expected 2xx");
    let status = follower.get_json("/public/status").await;
    assert_eq!(status["incidents"].as_array().unwrap().len(), 1, "{status}");

    // The prober goes away; the follower takes the lock and probes itself.
    leader.stop().await;
    target.set_status(200);
    follower
        .wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    let status = follower.get_json("/public/status").await;
    assert_eq!(
        status["incidents"],
        serde_json::json!([]),
        "resolved on recovery"
    );
    follower.stop().await;
}

async fn automatic_incident_opens_and_resolves(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(503).await;
    let app = TestApp::spawn(&one_service_config(&target.url(), "1s"), &db.url).await;
    app.wait_for_service("target", WAIT, |s| s["status"] == "major_outage")
        .await;
    let status = app.get_json("/public/status").await;
    let incidents = status["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{status}");
    let incident = &incidents[0];
    assert_eq!(incident["title"], "Outage: Target");
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "critical");
    assert_eq!(incident["created_by"], "auto");
    assert_eq!(incident["services"][0]["slug"], "target");
    assert_eq!(incident["services"][0]["status"], "major_outage");
    let body = incident["updates"][0]["body"].as_str().unwrap();
    assert_eq!(body, "**Target** is down: status 503, expected 2xx.");
    assert_eq!(status["overall"]["indicator"], "major");

    target.set_status(200);
    app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
        .await;
    let status = app.get_json("/public/status").await;
    assert_eq!(status["incidents"], serde_json::json!([]), "{status}");
    app.stop().await;
}

#[tokio::test]
async fn sqlite_automatic_incident_opens_and_resolves() {
    automatic_incident_opens_and_resolves(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_automatic_incident_opens_and_resolves() {
    automatic_incident_opens_and_resolves(Backend::Postgres).await;
}
