//! The admin incidents API on both backends: authentication (none, wrong,
//! revoked, rate limited, bootstrap), the incident lifecycle and what the
//! public snapshot shows of it, and every validation error.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upbeat::cli::new_admin_token;
use upbeat::config::{Config, Overrides, Secret};
use upbeat::probe::push::hash_token;
use upbeat::store;

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(15);
const BOOTSTRAP: &str = "bootstrap-secret-for-tests";

/// Every admin route, with a body where it needs one.
fn admin_routes() -> Vec<(Method, &'static str, Option<Value>)> {
    let incident = json!({"title": "t", "body": "b"});
    vec![
        (Method::POST, "/api/v1/incidents", Some(incident)),
        (Method::GET, "/api/v1/incidents", None),
        (Method::GET, "/api/v1/incidents/1", None),
        (
            Method::PATCH,
            "/api/v1/incidents/1",
            Some(json!({"title": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/incidents/1/updates",
            Some(json!({"body": "b"})),
        ),
        (Method::DELETE, "/api/v1/incidents/1", None),
    ]
}

pub struct Admin {
    pub app: TestApp,
    pub token: String,
    pub target: Target,
    pub db: TestDb,
}

impl Admin {
    pub async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let target = Target::start(200).await;
        // A token created the way `upbeat token create` does.
        let token = new_admin_token();
        let store = store::connect(&db.url, 1).await.unwrap();
        store
            .create_token("ops-bot", &hash_token(&token))
            .await
            .unwrap()
            .unwrap();
        store.close().await;
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            database_url: Some(db.url.clone()),
        };
        let mut config = Config::from_toml(
            &one_service_config(&target.url(), "1s"),
            Vec::new(),
            &overrides,
        )
        .unwrap();
        config.admin_token = Some(Secret(BOOTSTRAP.to_owned()));
        let app = TestApp::spawn_config(config).await;
        app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
            .await;
        Some(Self {
            app,
            token,
            target,
            db,
        })
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn lifecycle(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let (status, created) = admin
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({
                "title": "Payments are failing",
                "services": [{"slug": "target", "status": "partial_outage"}],
                "body": "We are looking into **failed payments**. <script>alert(1)</script>"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["status"], "investigating");
    assert_eq!(created["impact"], "major", "derived from partial_outage");
    assert_eq!(created["created_by"], "admin");
    assert_eq!(created["auto_resolve"], false);
    assert_eq!(created["services"][0]["status"], "partial_outage");
    // The body is stored as written; pages render Markdown safely.
    assert!(created["updates"][0]["body"]
        .as_str()
        .unwrap()
        .contains("<script>"));

    // The page shows it at once, and the admin's status for the service
    // wins over the probed one.
    let public = admin.app.get_json("/public/status").await;
    assert_eq!(public["incidents"][0]["id"], id, "{public}");
    assert_eq!(public["services"][0]["status"], "partial_outage");
    assert_eq!(public["overall"]["indicator"], "minor");

    let (status, one) = admin
        .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["title"], "Payments are failing");

    let (status, patched) = admin
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "identified", "title": "Payments failing for EU cards"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["status"], "identified");
    assert_eq!(
        patched["updates"][0]["body"],
        "Status changed to identified."
    );

    let (status, updated) = admin
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{id}/updates"),
            Some(json!({"status": "resolved", "body": "Fixed by the card processor."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{updated}");
    assert_eq!(updated["status"], "resolved");
    assert!(updated["resolved_at"].is_string());
    assert_eq!(updated["updates"].as_array().unwrap().len(), 3);

    // Resolved: gone from the page, the service shows its probed status.
    let public = admin.app.get_json("/public/status").await;
    assert_eq!(public["incidents"], json!([]), "{public}");
    assert_eq!(public["services"][0]["status"], "operational");

    // Closed for good.
    let (status, error) = admin
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(json!({"status": "monitoring"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error["error"]["code"], "conflict");

    let (status, list) = admin
        .call(Method::GET, "/api/v1/incidents?status=resolved", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = admin
        .call(Method::GET, "/api/v1/incidents?status=unresolved", None)
        .await;
    assert_eq!(list, json!([]));

    let (status, _) = admin
        .call(Method::DELETE, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = admin
        .call(Method::GET, &format!("/api/v1/incidents/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["code"], "not_found");
    drop(admin.target);
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_incident_lifecycle() {
    lifecycle(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_incident_lifecycle() {
    lifecycle(Backend::Postgres).await;
}

async fn validation(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    #[rustfmt::skip]
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "colour": "red"})), StatusCode::UNPROCESSABLE_ENTITY, "colour"),
        (Method::POST, "/api/v1/incidents", Some(json!({"body": "b"})), StatusCode::UNPROCESSABLE_ENTITY, "body"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": " ", "body": "b"})), StatusCode::UNPROCESSABLE_ENTITY, "title"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "impact": "huge"})), StatusCode::UNPROCESSABLE_ENTITY, "impact"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "services": [{"slug": "nope", "status": "major_outage"}]})), StatusCode::UNPROCESSABLE_ENTITY, "services[0].slug"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "services": [{"slug": "target", "status": "broken"}]})), StatusCode::UNPROCESSABLE_ENTITY, "services[0].status"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "started_at": "yesterday"})), StatusCode::UNPROCESSABLE_ENTITY, "started_at"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "started_at": "2999-01-01T00:00:00Z"})), StatusCode::UNPROCESSABLE_ENTITY, "started_at"),
        (Method::GET, "/api/v1/incidents?status=open", None, StatusCode::BAD_REQUEST, "status"),
        (Method::GET, "/api/v1/incidents?limit=1000", None, StatusCode::BAD_REQUEST, "limit"),
        (Method::GET, "/api/v1/incidents/abc", None, StatusCode::NOT_FOUND, ""),
        (Method::PATCH, "/api/v1/incidents/999", Some(json!({"title": "x"})), StatusCode::NOT_FOUND, ""),
    ];
    for (method, path, body, expected, field) in cases {
        let (status, error) = admin.call(method.clone(), path, body.clone()).await;
        assert_eq!(status, expected, "{method} {path} {body:?}: {error}");
        if !field.is_empty() {
            assert_eq!(
                error["error"]["field"], field,
                "{method} {path} {body:?}: {error}"
            );
        }
        assert!(error["error"]["message"].is_string(), "{error}");
    }
    // Malformed JSON is a 400, never a 500.
    let response = admin
        .app
        .client
        .post(admin.app.url("/api/v1/incidents"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_field");
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_every_bad_request_names_its_field() {
    validation(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_bad_request_names_its_field() {
    validation(Backend::Postgres).await;
}

async fn authentication(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    // A revoked token, revoked the way `upbeat token revoke` does.
    let revoked = new_admin_token();
    let store = store::connect(&admin.db.url, 1).await.unwrap();
    store
        .create_token("old-laptop", &hash_token(&revoked))
        .await
        .unwrap()
        .unwrap();
    assert!(store.revoke_token("old-laptop").await.unwrap());
    store.close().await;

    for (method, path, body) in admin_routes() {
        for token in [None, Some("upb_wrong"), Some(revoked.as_str())] {
            let mut request = admin
                .app
                .client
                .request(method.clone(), admin.app.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer realm=\"upbeat\"",
                "{method} {path}"
            );
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "unauthorized");
        }
    }
    // The bootstrap token works, and changes record its name.
    let (status, created) = admin
        .call_as(
            BOOTSTRAP,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "t", "body": "b"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_every_admin_route_needs_a_valid_token() {
    authentication(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_admin_route_needs_a_valid_token() {
    authentication(Backend::Postgres).await;
}

#[tokio::test]
async fn failed_attempts_are_rate_limited_per_client() {
    let admin = Admin::start(Backend::Sqlite).await.unwrap();
    for _ in 0..upbeat::api::auth::MAX_FAILURES {
        let (status, _) = admin
            .call_as("upb_guess", Method::GET, "/api/v1/incidents", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Blocked now, even with the right token.
    let response = admin
        .app
        .client
        .get(admin.app.url("/api/v1/incidents"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    admin.app.stop().await;
}
