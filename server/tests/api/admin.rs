//! The admin incidents API on both backends: authentication (none, wrong,
//! revoked, rate limited, bootstrap), the incident lifecycle and what the
//! public snapshot shows of it, and every validation error.

use std::sync::Arc;
use std::time::Duration;
use upbeat::domain::people::Role;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upbeat::clock::{Clock, SystemClock};
use upbeat::config::{Config, Overrides, Secret};
use upbeat::store;
use upbeat::token::hash_token;
use upbeat::token::new_admin_token;

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb, TestRouter};

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
        (
            Method::POST,
            "/api/v1/maintenances",
            Some(json!({"title": "t", "starts_at": "2030-01-01T00:00:00Z",
                        "ends_at": "2030-01-01T01:00:00Z", "services": []})),
        ),
        (Method::GET, "/api/v1/maintenances", None),
        (Method::GET, "/api/v1/maintenances/1", None),
        (
            Method::PATCH,
            "/api/v1/maintenances/1",
            Some(json!({"title": "x"})),
        ),
        (
            Method::POST,
            "/api/v1/maintenances/1/updates",
            Some(json!({"body": "b"})),
        ),
        (Method::DELETE, "/api/v1/maintenances/1", None),
        (Method::GET, "/api/v1/audit-log", None),
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
            .create_token(
                "ops-bot",
                &hash_token(&token),
                Role::Admin,
                "cli",
                SystemClock.now(),
            )
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
        let (status, _, body) = self.send(token, method, path, None, body).await;
        (status, body)
    }

    /// A request with an optional `Idempotency-Key`; also returns headers.
    pub async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
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
    // No socket needed: requests go straight into the router.
    let Some(admin) = TestRouter::start(backend, Arc::new(SystemClock)).await else {
        return;
    };
    #[rustfmt::skip]
    let cases: Vec<(Method, &str, Option<Value>, StatusCode, &str)> = vec![
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "colour": "red"})), StatusCode::UNPROCESSABLE_ENTITY, "colour"),
        (Method::POST, "/api/v1/incidents", Some(json!({"body": "b"})), StatusCode::UNPROCESSABLE_ENTITY, "title"),
        (Method::POST, "/api/v1/incidents", Some(json!({"title": "t", "body": "b", "services": [{"slug": "target"}]})), StatusCode::UNPROCESSABLE_ENTITY, "services[0].status"),
        (Method::POST, "/api/v1/incidents", Some(json!("just text")), StatusCode::UNPROCESSABLE_ENTITY, "body"),
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
    let (status, _, error) = admin
        .send(
            Method::POST,
            "/api/v1/incidents",
            None,
            Some("{\"title\": "),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_field");
    admin.stop().await;
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
        .create_token(
            "old-laptop",
            &hash_token(&revoked),
            Role::Admin,
            "cli",
            SystemClock.now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .revoke_token("old-laptop", "cli", SystemClock.now())
        .await
        .unwrap());
    store.close().await;

    for (i, (method, path, body)) in admin_routes().into_iter().enumerate() {
        // Each route from its own loopback address, so that the failures
        // of all of them do not add up to the per-address rate limit.
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([
                127,
                0,
                1,
                u8::try_from(i).unwrap() + 1,
            ]))
            .build()
            .unwrap();
        for token in [None, Some("upb_wrong"), Some(revoked.as_str())] {
            let mut request = client.request(method.clone(), admin.app.url(path));
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

async fn idempotency(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let token = admin.token.clone();
    let post = |key: Option<&'static str>, body: Value| {
        let token = token.clone();
        let admin = &admin;
        async move {
            admin
                .send(&token, Method::POST, "/api/v1/incidents", key, Some(body))
                .await
        }
    };
    let body = json!({"title": "Checkout errors", "body": "Looking into it."});

    // A retried POST opens one incident and answers the same both times.
    let (status, headers, first) = post(Some("deploy-42"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let location = headers["location"].clone();
    let (status, headers, again) = post(Some("deploy-42"), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(headers["location"], location);
    assert_eq!(again, first);
    let (_, list) = admin.call(Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // The same key for another request is refused, naming the header.
    let (status, _, error) = post(
        Some("deploy-42"),
        json!({"title": "Other", "body": "Different."}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
    assert_eq!(error["error"]["field"], "Idempotency-Key");

    // A bad key is a 400 before anything runs.
    let long = "k".repeat(256);
    let (status, _, error) = admin
        .send(
            &token,
            Method::POST,
            "/api/v1/incidents",
            Some(&long),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["field"], "Idempotency-Key");

    // A failed request keeps nothing: the corrected retry with the same
    // key runs.
    let (status, _, error) = post(Some("fix-me"), json!({"title": "", "body": "b"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, headers, fixed) = post(Some("fix-me"), json!({"title": "t", "body": "b"})).await;
    assert_eq!(status, StatusCode::CREATED, "{fixed}");
    assert!(headers.get("idempotent-replayed").is_none());

    // Keys belong to a token: another token's same key is another request.
    let (status, _, other) = admin
        .send(
            BOOTSTRAP,
            Method::POST,
            "/api/v1/incidents",
            Some("deploy-42"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);

    // Without a valid token the key is never looked at.
    let (status, _, _) = admin
        .send(
            "upb_wrong",
            Method::POST,
            "/api/v1/incidents",
            Some("deploy-42"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Updates and maintenance take keys too.
    let path = format!("/api/v1/incidents/{}/updates", first["id"]);
    let update = json!({"body": "Fixed the pool size.", "status": "monitoring"});
    let (status, _, one) = admin
        .send(
            &token,
            Method::POST,
            &path,
            Some("u-1"),
            Some(update.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    let (status, headers, two) = admin
        .send(&token, Method::POST, &path, Some("u-1"), Some(update))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        two["updates"].as_array().unwrap().len(),
        one["updates"].as_array().unwrap().len()
    );
    let (_, stored) = admin
        .call(Method::GET, &path.replace("/updates", ""), None)
        .await;
    assert_eq!(stored["updates"].as_array().unwrap().len(), 2, "{stored}");

    // Keys are forgotten after a day: the pruner removes them.
    let store = store::connect(&admin.db.url, 1).await.unwrap();
    let later = SystemClock.now() + chrono::Duration::hours(25);
    let forgotten = store
        .prune_idempotency_keys(later - upbeat::store::IDEMPOTENCY_TTL)
        .await
        .unwrap();
    assert_eq!(forgotten, 4);
    store.close().await;
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_idempotency_keys_make_retries_safe() {
    idempotency(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_idempotency_keys_make_retries_safe() {
    idempotency(Backend::Postgres).await;
}

async fn audit_log(backend: Backend) {
    let Some(admin) = Admin::start(backend).await else {
        return;
    };
    let (_, created) = admin
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Slow logins", "body": "Looking."})),
        )
        .await;
    let path = format!("/api/v1/incidents/{}", created["id"]);
    // A change that adds no timeline update is recorded all the same.
    let (status, _) = admin
        .call(Method::PATCH, &path, Some(json!({"title": "Slow sign-in"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = admin.call_as(BOOTSTRAP, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, log) = admin
        .call(
            Method::GET,
            "/api/v1/audit-log?limit=10&action=incident.",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["target_id"], created["id"]);
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let owned = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        entries,
        vec![
            owned("bootstrap", "incident.deleted", "Slow sign-in"),
            owned("ops-bot", "incident.updated", "title"),
            owned("ops-bot", "incident.created", "Slow logins"),
        ]
    );
    let (status, error) = admin
        .call(Method::GET, "/api/v1/audit-log?limit=0", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["field"], "limit");
    // The token's creation by the command line is there too, by actor.
    let (_, log) = admin
        .call(Method::GET, "/api/v1/audit-log?actor=cli", None)
        .await;
    assert_eq!(log[0]["action"], "token.created", "{log}");
    assert_eq!(log[0]["detail"], "ops-bot (admin)");
    for (query, field) in [
        ("actor=", "actor"),
        (
            "from=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
        ("from=yesterday", "query"),
    ] {
        let (status, error) = admin
            .call(Method::GET, &format!("/api/v1/audit-log?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error["error"]["field"], field, "{query}: {error}");
    }
    admin.app.stop().await;
}

#[tokio::test]
async fn sqlite_every_change_is_in_the_audit_log() {
    audit_log(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_every_change_is_in_the_audit_log() {
    audit_log(Backend::Postgres).await;
}

/// Idempotency keys live 24 hours of the state's clock: on a manual clock
/// a day passes in a moment, and the admin API stamps what it stores with
/// the simulated time.
async fn idempotency_on_the_manual_clock(backend: Backend) {
    use chrono::{TimeDelta, TimeZone, Utc};
    use upbeat::clock::ManualClock;
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::starting_at(start));
    let Some(admin) = TestRouter::start(backend, Arc::clone(&clock) as _).await else {
        return;
    };
    let post = |body: &'static str| {
        let admin = &admin;
        async move {
            admin
                .send(
                    Method::POST,
                    "/api/v1/incidents",
                    Some("nightly-42"),
                    Some(body),
                )
                .await
        }
    };
    let first = r#"{"title": "Nightly export failed", "body": "Looking."}"#;
    let other = r#"{"title": "Nightly export failed again", "body": "Looking."}"#;
    let (status, _, created) = post(first).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["started_at"], "2026-11-01T12:00:00Z",
        "stamped by the clock"
    );

    // Within the day: replayed, and another request with the key is refused.
    clock.set(start + TimeDelta::hours(23) + TimeDelta::minutes(59));
    let (status, headers, replayed) = post(first).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(replayed["id"], created["id"]);
    let (status, _, error) = post(other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["code"], "idempotency_key_reused");

    // 24 simulated hours later the key is free: the request runs.
    clock.set(start + TimeDelta::hours(24) + TimeDelta::seconds(1));
    let (status, headers, again) = post(other).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_ne!(again["id"], created["id"]);
    assert_eq!(again["started_at"], "2026-11-02T12:00:01Z");

    let (_, log) = admin.call(Method::GET, "/api/v1/audit-log", None).await;
    let times: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    assert_eq!(times, ["2026-11-02T12:00:01Z", "2026-11-01T12:00:00Z"]);
    admin.stop().await;
}

#[tokio::test]
async fn sqlite_idempotency_keys_expire_after_24_hours_of_the_clock() {
    idempotency_on_the_manual_clock(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_idempotency_keys_expire_after_24_hours_of_the_clock() {
    idempotency_on_the_manual_clock(Backend::Postgres).await;
}
