//! Objectives end to end: a real target probed every second, a webhook
//! standing in for the alert receiver. The admin API shows the figures
//! from the samples, `/metrics` the gauges; a failure spends the budget and
//! its `slo.burn` event reaches the webhook once; a restart neither
//! repeats it nor loses the status.

use std::time::Duration;

use serde_json::Value;

use crate::alerts::Receiver;
use crate::helpers::{eventually, Backend, Target, TestApp, TestDb};

const ADMIN: &str = "slo-test-admin-token";

fn config(target: &str, hook: &str) -> String {
    format!(
        r#"
[page]
title = "SLO test"

[defaults]
timeout = "2s"

[defaults.slo]
availability = 99.5
latency = [{{ percent = 90, under = "2500ms" }}]

[[services]]
slug = "target"
name = "Target"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"

[[services]]
slug = "untracked"
name = "Untracked"
interval = "1s"
slo = false
[services.check]
kind = "http"
url = "{target}"

[[alerts.routes]]
name = "hook"
kind = "webhook"
url = "{hook}/hook"
events = ["slo.burn"]
min_impact = "none"
"#
    )
}

async fn spawn(toml: &str, database_url: &str) -> TestApp {
    let overrides = upbeat::config::Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: Some(database_url.to_owned()),
    };
    let mut config = upbeat::config::Config::from_toml(toml, Vec::new(), &overrides).unwrap();
    config.admin_token = Some(upbeat::config::Secret(ADMIN.to_owned()));
    TestApp::spawn_config(config).await
}

async fn admin_get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Polls `GET /api/v1/slo/target` until `pred` holds for its objective
/// `name`.
async fn wait_for_objective(app: &TestApp, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(
        Duration::from_secs(30),
        &format!("objective {name} matching"),
        || async {
            let (status, body) = admin_get(app, "/api/v1/slo/target").await;
            assert_eq!(status, 200, "{body}");
            let objective = body["objectives"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["objective"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no objective {name} in {body}"));
            if pred(&objective) {
                Ok(objective)
            } else {
                Err(objective.to_string())
            }
        },
    )
    .await
}

#[tokio::test]
async fn sqlite_objectives_measure_burn_and_alert_once() {
    objectives_measure_burn_and_alert_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_objectives_measure_burn_and_alert_once() {
    objectives_measure_burn_and_alert_once(Backend::Postgres).await;
}

async fn objectives_measure_burn_and_alert_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(200).await;
    let hook = Receiver::start(Vec::new()).await;
    let toml = config(&target.url(), &hook.url);
    let app = spawn(&toml, &db.url).await;

    // Healthy: good samples only, the whole budget left, status ok.
    let healthy = wait_for_objective(&app, "availability", |o| o["good"].as_u64() >= Some(3)).await;
    assert_eq!(healthy["bad"], 0);
    assert_eq!(healthy["compliance"], 1.0);
    assert_eq!(healthy["budget"]["remaining_ratio"], 1.0);
    assert_eq!(healthy["status"], "ok");
    assert_eq!(healthy["target"], 0.995);
    let latency = wait_for_objective(&app, "latency_p90_2500ms", |o| {
        o["good"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(latency["threshold_ms"], 2500);
    assert_eq!(latency["bad"], 0, "a local target answers within 2.5 s");

    // Bad input and services without objectives: 404 naming the slug.
    let (status, body) = admin_get(&app, "/api/v1/slo/untracked").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (404, Some("slug")),
        "{body}"
    );
    let (status, _) = admin_get(&app, "/api/v1/slo/nope").await;
    assert_eq!(status, 404);
    let status = app
        .client
        .get(app.url("/api/v1/slo"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "the figures are for admins");
    let (status, all) = admin_get(&app, "/api/v1/slo").await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["target"]);

    // Failing: one bad sample among a few good ones spends a 0.5 %
    // budget at once: exhausted, burning at 1/0.005 per bad share.
    target.set_status(500);
    let burnt = wait_for_objective(&app, "availability", |o| o["status"] == "exhausted").await;
    let (good, bad) = (
        burnt["good"].as_f64().unwrap(),
        burnt["bad"].as_f64().unwrap(),
    );
    assert!(bad >= 1.0);
    let rate = burnt["burn_rates"]["5m"].as_f64().unwrap();
    // The test is minutes old: the 5-minute window holds every sample.
    assert!((rate - bad / (good + bad) / 0.005).abs() < 1e-9, "{burnt}");
    assert!(burnt["budget"]["remaining_ratio"].as_f64().unwrap() < 0.0);
    assert_eq!(burnt["exhausted_in_s_at_1h_rate"], 0);

    // The event reaches the webhook, once.
    let received = hook.wait_for(1, Duration::from_secs(30)).await;
    let event = received[0].json();
    assert_eq!(event["event"], "slo.burn", "{event}");
    assert_eq!(event["slo"]["service"]["slug"], "target");
    assert_eq!(event["slo"]["objective"], "availability");
    assert_eq!(event["slo"]["status"], "exhausted");
    assert_eq!(event["slo"]["previous"], "ok");
    assert!(
        event["slo"]["burn_rates"]["1h"].as_f64().unwrap() > 14.4,
        "{event}"
    );

    // The gauges.
    let (_, metrics) = app.get_text("/metrics").await;
    for line in [
        "upbeat_slo_status{service=\"target\",objective=\"availability\",status=\"exhausted\"} 1",
        "upbeat_slo_status{service=\"target\",objective=\"availability\",status=\"ok\"} 0",
        "upbeat_slo_compliance_ratio{service=\"target\",objective=\"latency_p90_2500ms\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing");
    }
    assert!(metrics.contains("upbeat_error_budget_burn_rate{service=\"target\",objective=\"availability\",window=\"1h\"}"));
    assert!(!metrics.contains("service=\"untracked\",objective"));

    // A restart measures the same status again from what was stored: no
    // second event.
    app.stop().await;
    let app = spawn(&toml, &db.url).await;
    let again = wait_for_objective(&app, "availability", |o| o["bad"].as_f64() > Some(bad)).await;
    assert_eq!(again["status"], "exhausted");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events: Vec<Value> = hook.received().iter().map(|r| r.json()).collect();
    assert_eq!(events.len(), 1, "{events:?}");

    // Recovered: still exhausted (the budget stays spent), so nothing new.
    target.set_status(200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.received().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn sqlite_days_are_stored_and_reported_by_month() {
    days_are_stored_and_reported_by_month(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_days_are_stored_and_reported_by_month() {
    days_are_stored_and_reported_by_month(Backend::Postgres).await;
}

/// Two finished days of samples written before the start: the leader
/// stores each objective's days from the rollups, the history shows them
/// exactly, and the report sums a month of them with its incidents.
async fn days_are_stored_and_reported_by_month(backend: Backend) {
    use app::model::SampleOutcome;
    use chrono::{Datelike, TimeDelta, Utc};
    use upbeat::clock::Clock as _;
    use upbeat::domain::rollup::Resolution;
    use upbeat::domain::sample::Sample;

    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(200).await;
    let hook = Receiver::start(Vec::new()).await;
    let toml = config(&target.url(), &hook.url);
    let overrides = upbeat::config::Overrides {
        listen: None,
        database_url: Some(db.url.clone()),
    };
    let parsed = upbeat::config::Config::from_toml(&toml, Vec::new(), &overrides).unwrap();
    let store = upbeat::store::connect(&db.url, 1).await.unwrap();
    let now = upbeat::clock::SystemClock.now();
    let records = store
        .sync_services(&parsed.service_defs(), now)
        .await
        .unwrap();
    let id = records[0].id;
    let today = Resolution::Day.start_of(now);
    let (before, yesterday) = (today - TimeDelta::days(2), today - TimeDelta::days(1));
    // The day before yesterday: 90 up (5 of them slower than 2.5 s) and
    // 10 down; yesterday: 50 up and fast.
    let sample = |day: chrono::DateTime<Utc>, i: i64, outcome, latency_ms| Sample {
        service_id: id,
        taken_at: day + TimeDelta::minutes(i),
        outcome,
        latency_ms,
        error: None,
        in_maintenance: false,
    };
    let mut samples: Vec<Sample> = (0..100)
        .map(|i| match i {
            0..10 => sample(before, i, SampleOutcome::Down, None),
            10..15 => sample(before, i, SampleOutcome::Up, Some(3000)),
            _ => sample(before, i, SampleOutcome::Up, Some(100)),
        })
        .collect();
    samples.extend((0..50).map(|i| sample(yesterday, i, SampleOutcome::Up, Some(10))));
    store
        .insert_samples(&samples, &[], &[], None)
        .await
        .unwrap();
    store.close().await;

    let app = spawn(&toml, &db.url).await;
    let path = format!(
        "/api/v1/slo/target/history?from={}&to={}",
        before.date_naive(),
        yesterday.date_naive()
    );
    let days = eventually(Duration::from_secs(30), "the days stored", || async {
        let (status, body) = admin_get(&app, &path).await;
        assert_eq!(status, 200, "{body}");
        if body.as_array().is_some_and(|d| d.len() == 4) {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    })
    .await;
    let day = |objective: &str, date: chrono::DateTime<Utc>| {
        days.as_array()
            .unwrap()
            .iter()
            .find(|d| d["objective"] == objective && d["day"] == date.date_naive().to_string())
            .cloned()
            .unwrap_or_else(|| panic!("no {objective} on {date} in {days}"))
    };
    let first = day("availability", before);
    assert_eq!(
        (first["good"].as_u64(), first["bad"].as_u64()),
        (Some(90), Some(10))
    );
    assert_eq!(first["compliance"], 0.9);
    let second = day("availability", yesterday);
    assert_eq!(
        (second["good"].as_u64(), second["bad"].as_u64()),
        (Some(50), Some(0))
    );
    // The 30-day window as yesterday ended: 140 good, 10 bad.
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(
        close(&second["window_compliance"], 140.0 / 150.0),
        "{second}"
    );
    assert!(
        close(&second["budget_remaining"], 1.0 - 10.0 / (0.005 * 150.0)),
        "{second}"
    );
    let latency = day("latency_p90_2500ms", before);
    assert_eq!(
        (latency["good"].as_u64(), latency["bad"].as_u64()),
        (Some(85), Some(5))
    );

    // Bad queries name their field.
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-02-30", "from"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("since=2026-01-01", "query"),
    ] {
        let (status, body) = admin_get(&app, &format!("/api/v1/slo/target/history?{query}")).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }

    // An incident this month, counted in this month's report.
    let created = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(ADMIN)
        .json(
            &serde_json::json!({"title": "Slow", "status": "investigating", "impact": "minor",
            "body": "Looking", "services": [{"slug": "target", "status": "degraded_performance"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    let month = |d: chrono::DateTime<Utc>| format!("{:04}-{:02}", d.year(), d.month());
    let in_month = |d: chrono::DateTime<Utc>| month(d) == month(yesterday);
    let (good, bad) = [(before, 90, 10), (yesterday, 50, 0)]
        .iter()
        .filter(|(d, ..)| in_month(*d))
        .fold((0, 0), |(g, b), (_, good, bad)| (g + good, b + bad));
    let (status, report) = admin_get(
        &app,
        &format!("/api/v1/slo/report?month={}", month(yesterday)),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "target" && r["objective"] == "availability")
        .cloned()
        .unwrap();
    assert_eq!(
        (row["good"].as_u64(), row["bad"].as_u64()),
        (Some(good), Some(bad)),
        "{row}"
    );
    assert!(
        close(&row["achieved"], good as f64 / (good + bad) as f64),
        "{row}"
    );
    let incidents = if month(yesterday) == month(now) { 1 } else { 0 };
    assert_eq!(row["incidents"], incidents, "{row}");
    let (_, this_month) =
        admin_get(&app, &format!("/api/v1/slo/report?month={}", month(now))).await;
    assert!(
        this_month["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service"] == "target" && r["incidents"] == 1),
        "{this_month}"
    );

    // As CSV, by parameter or by Accept.
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/slo/report?month={}", month(yesterday))))
        .header("accept", "text/csv")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert!(text.starts_with(
        "service,name,objective,target,achieved,met,good,bad,budget_used,incidents,days\r\n"
    ));
    assert!(text.contains("target,Target,availability,0.995,"), "{text}");
    for (query, field) in [
        ("month=2026-13", "month"),
        ("month=26-01", "month"),
        ("month=2026-01&format=xml", "format"),
    ] {
        let (status, body) = admin_get(&app, &format!("/api/v1/slo/report?{query}")).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }
    app.stop().await;
}
