//! The Statuspage v2-compatible API, field by field against the shapes of
//! Atlassian's public API documentation.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{json, Value};
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::maintenance::NewMaintenance;
use upbeat::store;

use crate::admin::Admin;
use crate::helpers::Backend;

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// `2026-11-22T10:00:00.000+00:00`: milliseconds and an offset.
fn assert_timestamp(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    assert_eq!(s.len(), 29, "{what}: {s}");
    assert!(
        s.ends_with("+00:00") && s.as_bytes()[19] == b'.',
        "{what}: {s}"
    );
    chrono::DateTime::parse_from_rfc3339(s).unwrap();
}

const PAGE_KEYS: &[&str] = &["id", "name", "url", "time_zone", "updated_at"];
const COMPONENT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
];
const INCIDENT_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
];
const UPDATE_KEYS: &[&str] = &[
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
];

fn check_page(v: &Value) {
    assert_eq!(keys(v), set(PAGE_KEYS));
    assert_eq!(v["id"], "upbeat");
    assert_eq!(v["name"], "Test status");
    assert_eq!(v["time_zone"], "Etc/UTC");
    assert_timestamp(&v["updated_at"], "page.updated_at");
}

fn check_incident(v: &Value) {
    assert_eq!(keys(v), set(INCIDENT_KEYS), "{v}");
    assert!(v["id"].is_string());
    assert!([
        "investigating",
        "identified",
        "monitoring",
        "resolved",
        "postmortem"
    ]
    .contains(&v["status"].as_str().unwrap()));
    assert!(["none", "minor", "major", "critical"].contains(&v["impact"].as_str().unwrap()));
    for field in ["created_at", "updated_at", "started_at"] {
        assert_timestamp(&v[field], field);
    }
    for update in v["incident_updates"].as_array().unwrap() {
        assert_eq!(keys(update), set(UPDATE_KEYS), "{update}");
        assert_eq!(update["incident_id"], v["id"]);
        assert_timestamp(&update["display_at"], "display_at");
    }
    for component in v["components"].as_array().unwrap() {
        assert_eq!(keys(component), set(COMPONENT_KEYS), "{component}");
    }
}

async fn shapes(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let (_, created) = admin
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({
                "title": "Elevated errors",
                "services": [{"slug": "target", "status": "degraded_performance"}],
                "body": "Investigating."
            })),
        )
        .await;
    let store = store::connect(&admin.db.url, 1).await.unwrap();
    let id = store.services().await.unwrap()[0].id;
    store
        .create_maintenance(&NewMaintenance {
            title: "Database upgrade".into(),
            description: Some("Minor version".into()),
            starts_at: SystemClock.now() + TimeDelta::days(1),
            ends_at: SystemClock.now() + TimeDelta::days(1) + TimeDelta::hours(1),
            recurrence: None,
            service_ids: vec![id],
            created_by: "test".into(),
            at: SystemClock.now(),
            quiet: false,
        })
        .await
        .unwrap();
    store.close().await;
    // Maintenance reaches the snapshot on its next reload; an admin change
    // triggers one.
    admin
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{}/updates", created["id"]),
            Some(json!({"body": "Still looking."})),
        )
        .await;

    let summary = admin.app.get_json("/api/v2/summary.json").await;
    assert_eq!(
        keys(&summary),
        set(&[
            "page",
            "components",
            "incidents",
            "scheduled_maintenances",
            "status"
        ])
    );
    check_page(&summary["page"]);
    assert_eq!(keys(&summary["status"]), set(&["indicator", "description"]));
    assert_eq!(summary["status"]["indicator"], "minor");
    assert_eq!(
        summary["status"]["description"],
        "Partially Degraded Service"
    );
    let components = summary["components"].as_array().unwrap();
    assert_eq!(components.len(), 1);
    assert_eq!(keys(&components[0]), set(COMPONENT_KEYS));
    assert_eq!(components[0]["id"], "target");
    assert_eq!(components[0]["status"], "degraded_performance");
    assert_eq!(components[0]["group"], false);
    assert_eq!(components[0]["position"], 1);
    let incidents = summary["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    check_incident(&incidents[0]);
    assert_eq!(incidents[0]["id"], created["id"].to_string());
    assert_eq!(incidents[0]["impact"], "minor");
    assert_eq!(
        incidents[0]["incident_updates"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        incidents[0]["incident_updates"][0]["body"],
        "Still looking."
    );

    let maintenances = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maintenances.len(), 1, "{summary}");
    let m = &maintenances[0];
    let mut maintenance_keys = set(INCIDENT_KEYS);
    maintenance_keys.extend(["scheduled_for", "scheduled_until"]);
    assert_eq!(keys(m), maintenance_keys);
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["impact"], "maintenance");
    assert_timestamp(&m["scheduled_for"], "scheduled_for");
    assert_eq!(m["components"][0]["id"], "target");

    let status = admin.app.get_json("/api/v2/status.json").await;
    assert_eq!(keys(&status), set(&["page", "status"]));
    assert_eq!(status["status"], summary["status"]);
    let components = admin.app.get_json("/api/v2/components.json").await;
    assert_eq!(keys(&components), set(&["page", "components"]));
    assert_eq!(components["components"], summary["components"]);
    let unresolved = admin
        .app
        .get_json("/api/v2/incidents/unresolved.json")
        .await;
    assert_eq!(unresolved["incidents"], summary["incidents"]);
    let upcoming = admin
        .app
        .get_json("/api/v2/scheduled-maintenances/upcoming.json")
        .await;
    assert_eq!(
        upcoming["scheduled_maintenances"].as_array().unwrap().len(),
        1
    );
    let active = admin
        .app
        .get_json("/api/v2/scheduled-maintenances/active.json")
        .await;
    assert_eq!(active["scheduled_maintenances"], json!([]));
    let all = admin
        .app
        .get_json("/api/v2/scheduled-maintenances.json")
        .await;
    assert_eq!(keys(&all), set(&["page", "scheduled_maintenances"]));

    // Resolved incidents leave unresolved.json but stay in incidents.json.
    admin
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{}", created["id"]),
            Some(json!({"status": "resolved"})),
        )
        .await;
    let unresolved = admin
        .app
        .get_json("/api/v2/incidents/unresolved.json")
        .await;
    assert_eq!(unresolved["incidents"], json!([]));
    let history = admin.app.get_json("/api/v2/incidents.json").await;
    assert_eq!(keys(&history), set(&["page", "incidents"]));
    let listed = history["incidents"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    check_incident(&listed[0]);
    assert_eq!(listed[0]["status"], "resolved");
    assert_timestamp(&listed[0]["resolved_at"], "resolved_at");
    let summary = admin.app.get_json("/api/v2/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(summary["status"]["description"], "All Systems Operational");
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_statuspage_v2_shapes() {
    shapes(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_statuspage_v2_shapes() {
    shapes(Backend::Postgres).await;
}
