//! The admin maintenance API and its effect on the page, on both backends;
//! and the Atom and RSS feeds, parsed with the crates feed readers use.

use std::str::FromStr;

use chrono::TimeDelta;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upbeat::clock::{Clock, SystemClock};

use crate::admin::Admin;
use crate::helpers::{Backend, TestRouter};

async fn maintenance_api(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let now = SystemClock.now();
    let (status, created) = admin
        .call(
            Method::POST,
            "/api/v1/maintenances",
            Some(json!({
                "title": "Weekly database patching",
                "description": "Expect short blips.",
                "starts_at": (now + TimeDelta::hours(2)).to_rfc3339(),
                "ends_at": (now + TimeDelta::hours(3)).to_rfc3339(),
                "recurrence": "freq=weekly",
                "services": ["target"]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["recurrence"], "FREQ=WEEKLY", "stored canonically");
    assert_eq!(created["services"], json!(["target"]));
    assert_eq!(created["created_by"], "ops-bot");
    assert_eq!(created["updates"][0]["status"], "scheduled");
    let public = admin.app.get_json("/public/status").await;
    assert_eq!(public["maintenances"][0]["id"], id, "{public}");
    assert_eq!(public["maintenances"][0]["status"], "scheduled");

    // Move it to now: the service is under maintenance at once.
    let (status, moved) = admin
        .call(
            Method::PATCH,
            &format!("/api/v1/maintenances/{id}"),
            Some(json!({
                "starts_at": (now - TimeDelta::minutes(5)).to_rfc3339(),
                "ends_at": (now + TimeDelta::hours(1)).to_rfc3339(),
                "recurrence": null
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["status"], "in_progress");
    assert_eq!(moved["recurrence"], Value::Null);
    let public = admin.app.get_json("/public/status").await;
    assert_eq!(
        public["services"][0]["status"], "under_maintenance",
        "{public}"
    );
    assert_eq!(public["overall"]["indicator"], "maintenance");
    let active = admin
        .app
        .get_json("/api/v2/scheduled-maintenances/active.json")
        .await;
    assert_eq!(active["scheduled_maintenances"][0]["id"], id.to_string());

    let (status, updated) = admin
        .call(
            Method::POST,
            &format!("/api/v1/maintenances/{id}/updates"),
            Some(json!({"status": "verifying", "body": "Patches applied; verifying."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{updated}");
    assert_eq!(updated["updates"][0]["status"], "verifying");
    assert_eq!(updated["updates"].as_array().unwrap().len(), 2);

    let (_, listed) = admin
        .call(Method::GET, "/api/v1/maintenances?status=in_progress", None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, listed) = admin
        .call(Method::GET, "/api/v1/maintenances?status=completed", None)
        .await;
    assert_eq!(listed, json!([]));

    let (status, _) = admin
        .call(Method::DELETE, &format!("/api/v1/maintenances/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let public = admin.app.get_json("/public/status").await;
    assert_eq!(public["services"][0]["status"], "operational");
    assert_eq!(public["maintenances"], json!([]));
    let (status, _) = admin
        .call(Method::GET, &format!("/api/v1/maintenances/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_maintenance_api() {
    maintenance_api(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_maintenance_api() {
    maintenance_api(Backend::Postgres).await;
}

/// Every bad maintenance request names its field; no socket needed.
async fn maintenance_validation(backend: Backend) {
    let Some(admin) = TestRouter::start(backend, std::sync::Arc::new(SystemClock)).await else {
        return;
    };
    let now = SystemClock.now();
    let at = |hours: i64| (now + TimeDelta::hours(hours)).to_rfc3339();
    let window = |start: i64, end: i64| json!({"title": "Patching", "starts_at": at(start), "ends_at": at(end), "services": ["target"]});
    let (status, created) = admin
        .call(Method::POST, "/api/v1/maintenances", Some(window(2, 3)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();

    let mut unknown = window(2, 3);
    unknown["services"] = json!(["nope"]);
    #[rustfmt::skip]
    let bad_creates: Vec<(Value, &str)> = vec![
        (window(3, 2), "ends_at"),
        (json!({"title": " ", "starts_at": at(2), "ends_at": at(3), "services": ["target"]}), "title"),
        (unknown, "services[0]"),
        (json!({"title": "t", "starts_at": "soon", "ends_at": at(3), "services": ["target"]}), "starts_at"),
    ];
    for (body, field) in bad_creates {
        let (status, error) = admin
            .call(Method::POST, "/api/v1/maintenances", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }

    #[rustfmt::skip]
    let bad: Vec<(Value, &str)> = vec![
        (json!({"ends_at": (now - TimeDelta::hours(1)).to_rfc3339()}), "ends_at"),
        (json!({"recurrence": "FREQ=MONTHLY"}), "recurrence"),
        (json!({"recurrence": "FREQ=DAILY", "ends_at": (now + TimeDelta::days(2)).to_rfc3339()}), "recurrence"),
        (json!({"services": ["nope"]}), "services[0]"),
        (json!({"services": []}), "services"),
        (json!({"title": ""}), "title"),
        (json!({"colour": "red"}), "colour"),
    ];
    for (body, field) in bad {
        let (status, error) = admin
            .call(
                Method::PATCH,
                &format!("/api/v1/maintenances/{id}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    #[rustfmt::skip]
    let bad_queries: Vec<(&str, StatusCode, &str)> = vec![
        ("/api/v1/maintenances?status=soon", StatusCode::BAD_REQUEST, "status"),
        ("/api/v1/maintenances?limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/api/v1/maintenances/abc", StatusCode::NOT_FOUND, ""),
        ("/api/v1/maintenances/999", StatusCode::NOT_FOUND, ""),
    ];
    for (path, expected, field) in bad_queries {
        let (status, error) = admin.call(Method::GET, path, None).await;
        assert_eq!(status, expected, "{path}: {error}");
        if !field.is_empty() {
            assert_eq!(error["error"]["field"], field, "{path}: {error}");
        }
    }
    admin.stop().await;
}

#[tokio::test]
async fn sqlite_every_bad_maintenance_request_names_its_field() {
    maintenance_validation(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_bad_maintenance_request_names_its_field() {
    maintenance_validation(Backend::Postgres).await;
}

#[tokio::test]
async fn feeds_list_incidents_and_maintenance_for_feed_readers() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    let (_, incident) = admin
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Login <b>errors</b> & timeouts", "body": "Investigating <script>x</script>"})),
        )
        .await;
    admin
        .call(
            Method::POST,
            "/api/v1/maintenances",
            Some(json!({
                "title": "Network upgrade",
                "starts_at": (SystemClock.now() + TimeDelta::days(1)).to_rfc3339(),
                "ends_at": (SystemClock.now() + TimeDelta::days(1) + TimeDelta::hours(1)).to_rfc3339(),
                "services": ["target"]
            })),
        )
        .await;

    let response = admin
        .app
        .client
        .get(admin.app.url("/feed.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    let atom = atom_syndication::Feed::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(atom.title.value, "Test status status");
    let titles: Vec<&str> = atom
        .entries
        .iter()
        .map(|e| e.title.value.as_str())
        .collect();
    assert!(
        titles.contains(&"Login <b>errors</b> & timeouts"),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"Maintenance: Network upgrade"),
        "{titles:?}"
    );
    let entry = atom
        .entries
        .iter()
        .find(|e| e.title.value.starts_with("Login"))
        .unwrap();
    assert!(entry.links[0]
        .href
        .ends_with(&format!("/incidents/{}", incident["id"])));
    let content = entry.content.as_ref().unwrap();
    assert_eq!(content.content_type.as_deref(), Some("text"));
    assert!(content
        .value
        .as_deref()
        .unwrap()
        .contains("Investigating <script>x</script>"));

    let response = admin
        .app
        .client
        .get(admin.app.url("/feed.rss"))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/rss+xml"));
    let rss = rss::Channel::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(rss.items().len(), 2);
    assert!(rss
        .items()
        .iter()
        .all(|i| i.pub_date().is_some() && i.guid().is_some()));
    admin.app.stop().await;
}
