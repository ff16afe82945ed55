//! Roles on the admin API: a table of every route with a bearer token and
//! the role it needs, checked against the OpenAPI description (so a new
//! route cannot go unlisted) and against the server with a token of each
//! role.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::people::Role;
use upbeat::store;
use upbeat::token::{hash_token, new_admin_token};

use crate::admin::Admin;
use crate::helpers::Backend;

/// Method, path (as the description writes it), a request to send there,
/// and the role it needs.
fn table() -> Vec<(Method, &'static str, &'static str, Option<Value>, Role)> {
    use Role::{Admin, Editor, Viewer};
    let incident = json!({"title": "t", "body": "b"});
    let maintenance = json!({"title": "t", "starts_at": "2030-01-01T00:00:00Z",
                             "ends_at": "2030-01-01T01:00:00Z", "services": []});
    vec![
        (
            Method::GET,
            "/api/v1/incidents",
            "/api/v1/incidents",
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/incidents",
            "/api/v1/incidents",
            Some(incident),
            Editor,
        ),
        (
            Method::GET,
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/1",
            None,
            Viewer,
        ),
        (
            Method::PATCH,
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/1",
            Some(json!({"title": "x"})),
            Editor,
        ),
        (
            Method::DELETE,
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/1",
            None,
            Editor,
        ),
        (
            Method::POST,
            "/api/v1/incidents/{id}/updates",
            "/api/v1/incidents/1/updates",
            Some(json!({"body": "b"})),
            Editor,
        ),
        (
            Method::GET,
            "/api/v1/maintenances",
            "/api/v1/maintenances",
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/maintenances",
            "/api/v1/maintenances",
            Some(maintenance),
            Editor,
        ),
        (
            Method::GET,
            "/api/v1/maintenances/{id}",
            "/api/v1/maintenances/1",
            None,
            Viewer,
        ),
        (
            Method::PATCH,
            "/api/v1/maintenances/{id}",
            "/api/v1/maintenances/1",
            Some(json!({"title": "x"})),
            Editor,
        ),
        (
            Method::DELETE,
            "/api/v1/maintenances/{id}",
            "/api/v1/maintenances/1",
            None,
            Editor,
        ),
        (
            Method::POST,
            "/api/v1/maintenances/{id}/updates",
            "/api/v1/maintenances/1/updates",
            Some(json!({"body": "b"})),
            Editor,
        ),
        (
            Method::GET,
            "/api/v1/audit-log",
            "/api/v1/audit-log",
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/alerts/routes",
            "/api/v1/alerts/routes",
            None,
            Viewer,
        ),
        (
            Method::POST,
            "/api/v1/alerts/routes/{name}/test",
            "/api/v1/alerts/routes/pager/test",
            Some(json!({})),
            Admin,
        ),
        (
            Method::GET,
            "/api/v1/alerts/history",
            "/api/v1/alerts/history",
            None,
            Viewer,
        ),
        (Method::GET, "/api/v1/slo", "/api/v1/slo", None, Viewer),
        (
            Method::GET,
            "/api/v1/slo/{slug}",
            "/api/v1/slo/target",
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/slo/{slug}/history",
            "/api/v1/slo/target/history",
            None,
            Viewer,
        ),
        (
            Method::GET,
            "/api/v1/slo/report",
            "/api/v1/slo/report",
            None,
            Viewer,
        ),
        (Method::GET, "/api/v1/config", "/api/v1/config", None, Admin),
        (
            Method::GET,
            "/api/v1/subscribers",
            "/api/v1/subscribers",
            None,
            Admin,
        ),
        (
            Method::POST,
            "/api/v1/subscribers",
            "/api/v1/subscribers",
            Some(json!({"kind": "webhook", "address": "https://hooks.example.com/a"})),
            Admin,
        ),
        (
            Method::GET,
            "/api/v1/subscribers/counts",
            "/api/v1/subscribers/counts",
            None,
            Admin,
        ),
        (
            Method::DELETE,
            "/api/v1/subscribers/{id}",
            "/api/v1/subscribers/1",
            None,
            Admin,
        ),
        (
            Method::GET,
            "/api/v1/subscribers/export.csv",
            "/api/v1/subscribers/export.csv",
            None,
            Admin,
        ),
        (
            Method::POST,
            "/api/v1/subscribers/import",
            "/api/v1/subscribers/import",
            None,
            Admin,
        ),
        // Answer 404 unless `[profiling] enabled`, before any token check.
        (Method::GET, "/debug/pprof/profile", "", None, Admin),
        (Method::GET, "/debug/pprof/heap", "", None, Admin),
    ]
}

#[tokio::test]
async fn the_description_names_the_role_of_every_route_with_a_token() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    let doc: Value = reqwest::get(admin.app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut described = BTreeMap::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(security) = operation["security"].as_array() else {
                continue;
            };
            let roles = security[0]["bearer"].as_array().unwrap();
            assert_eq!(roles.len(), 1, "{method} {path}: one role");
            described.insert(
                (method.to_uppercase(), path.clone()),
                roles[0].as_str().unwrap().to_owned(),
            );
            let forbidden = &operation["responses"]["403"];
            assert!(forbidden.is_object(), "{method} {path} describes its 403");
        }
    }
    let listed: BTreeMap<_, _> = table()
        .into_iter()
        .map(|(method, path, _, _, role)| ((method.to_string(), path.to_owned()), role.to_string()))
        .collect();
    assert_eq!(described, listed);
    admin.app.stop().await;
}

#[tokio::test]
async fn every_admin_route_refuses_a_role_below_its_own() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    let store = store::connect(&admin.db.url, 1).await.unwrap();
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let token = new_admin_token();
        let name = format!("{role}-bot");
        store
            .create_token(&name, &hash_token(&token), role, "cli", SystemClock.now())
            .await
            .unwrap()
            .unwrap();
        tokens.push((role, name, token));
    }
    store.close().await;

    let mut seen = Vec::new();
    for (method, _, path, body, needed) in table() {
        if path.is_empty() {
            continue;
        }
        for (role, name, token) in &tokens {
            let (status, answer) = admin
                .call_as(token, method.clone(), path, body.clone())
                .await;
            if role.allows(needed) {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "forbidden");
                let message = answer["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("needs the {needed} role"))
                        && message.contains(name.as_str()),
                    "{message}"
                );
            }
            seen.push((method.clone(), path, *role, status));
        }
    }
    // Refused requests changed nothing: incidents were created by the
    // editor and the admin only.
    let (_, audit) = admin
        .call(
            Method::GET,
            "/api/v1/audit-log?action=incident.created",
            None,
        )
        .await;
    let actors: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actors, ["admin-bot", "editor-bot"]);
    assert!(seen.len() > 40);
    admin.app.stop().await;
}
