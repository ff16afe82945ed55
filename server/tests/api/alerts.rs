//! Alerts end to end: a failing target opens an incident and real local
//! HTTP servers standing in for PagerDuty, Opsgenie, Slack and a webhook
//! receive what the providers document, checked field by field; the
//! recovery resolves with the same key; a receiver that fails gets the
//! alert again after backoff; secrets never show in logs, history or
//! the database's rows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{eventually, Backend, Target, TestApp, TestDb};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A status to answer with, and a `Retry-After` value.
pub type Answer = (u16, Option<&'static str>);

#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, first first; 202 once they run out.
    answers: Arc<Mutex<Vec<Answer>>>,
}

/// A local HTTP server recording every request.
pub struct Receiver {
    pub url: String,
    inbox: Inbox,
}

impl Receiver {
    pub async fn start(answers: Vec<Answer>) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), answers).await
    }

    /// On a chosen address (a receiver that comes back where it was).
    pub async fn start_on(addr: std::net::SocketAddr, answers: Vec<Answer>) -> Self {
        let inbox = Inbox {
            received: Arc::default(),
            answers: Arc::new(Mutex::new(answers)),
        };
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}"),
            inbox,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} requests arrived: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(State(inbox): State<Inbox>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    inbox.received.lock().unwrap().push(Received {
        path,
        headers: parts.headers,
        body: body.clone(),
    });
    let answer = {
        let mut answers = inbox.answers.lock().unwrap();
        (!answers.is_empty()).then(|| answers.remove(0))
    };
    match answer {
        Some((status, retry_after)) => {
            // A 400 names what it did not like, quoting the request (a
            // routing key, when there is one), as providers' errors may.
            let text = if status == 400 {
                let sent: Value = serde_json::from_slice(&body).unwrap_or_default();
                let quoted = sent["routing_key"].as_str().unwrap_or("the body");
                format!(r#"{{"status":"invalid event","errors":["{quoted} is not valid"]}}"#)
            } else {
                "no".to_owned()
            };
            let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", value.parse().unwrap());
            }
            response
        }
        None => (StatusCode::ACCEPTED, r#"{"status":"success"}"#).into_response(),
    }
}

const ADMIN: &str = "alerts-test-admin-token";
const PD_KEY: &str = "0123456789abcdef0123456789abcdef";
const GENIE_KEY: &str = "genie-0000-1111";
const HOOK_SECRET: &str = "whsec_upbeat_test";

/// The application with `toml` and the admin token [`ADMIN`].
async fn spawn_with_admin(toml: &str, database_url: &str) -> TestApp {
    let overrides = upbeat::config::Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: Some(database_url.to_owned()),
    };
    let mut config = upbeat::config::Config::from_toml(toml, Vec::new(), &overrides).unwrap();
    config.admin_token = Some(upbeat::config::Secret(ADMIN.to_owned()));
    TestApp::spawn_config(config).await
}

fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn sqlite_alerts_reach_every_provider_in_its_format() {
    alerts_reach_every_provider_in_its_format(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_alerts_reach_every_provider_in_its_format() {
    alerts_reach_every_provider_in_its_format(Backend::Postgres).await;
}

async fn alerts_reach_every_provider_in_its_format(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let target = Target::start(503).await;
    let pd = Receiver::start(vec![]).await;
    let genie = Receiver::start(vec![]).await;
    let chat = Receiver::start(vec![]).await;
    // The webhook receiver is rate-limited once, asking for a second's
    // patience.
    let hook = Receiver::start(vec![(429, Some("1"))]).await;
    let secrets = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
[server]
public_url = "https://status.example.com"

[page]
title = "Acme status"

[defaults]
timeout = "2s"
failure_threshold = 1
recovery_threshold = 1

[[services]]
slug = "api"
name = "Public API"
group = "Core"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"

[[alerts.routes]]
name = "oncall"
kind = "pagerduty"
url = "{pd}/v2/enqueue"
routing_key_file = "{pd_key}"

[[alerts.routes]]
name = "genie"
kind = "opsgenie"
url = "{genie}"
api_key_file = "{genie_key}"

[[alerts.routes]]
name = "chat"
kind = "slack"
url = "{chat}/services/T000/B000/XXXX"
events = ["incident.opened", "incident.resolved"]

[[alerts.routes]]
name = "hook"
kind = "webhook"
url = "{hook}/upbeat"
secret_file = "{hook_secret}"
events = ["service.status_changed"]
"#,
        target = target.url(),
        pd = pd.url,
        genie = genie.url,
        chat = chat.url,
        hook = hook.url,
        pd_key = secret_file(&secrets, "pd", PD_KEY),
        genie_key = secret_file(&secrets, "genie", GENIE_KEY),
        hook_secret = secret_file(&secrets, "hook", HOOK_SECRET),
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let wait = Duration::from_secs(20);

    // PagerDuty: a trigger for the incident.
    let trigger = pd.wait_for(1, wait).await[0].clone();
    assert_eq!(trigger.path, "/v2/enqueue");
    assert_eq!(
        trigger.headers["content-type"], "application/json",
        "{trigger:?}"
    );
    let body = trigger.json();
    assert_eq!(body["routing_key"], PD_KEY);
    assert_eq!(body["event_action"], "trigger");
    let dedup = body["dedup_key"].as_str().unwrap().to_owned();
    assert!(dedup.starts_with("upbeat-incident-"), "{dedup}");
    let payload = &body["payload"];
    assert_eq!(payload["summary"], "Incident opened: Outage: Public API");
    assert!(payload["summary"].as_str().unwrap().chars().count() <= 1024);
    assert_eq!(payload["source"], "https://status.example.com");
    assert_eq!(payload["severity"], "critical");
    assert!(
        chrono::DateTime::parse_from_rfc3339(payload["timestamp"].as_str().unwrap()).is_ok(),
        "{payload}"
    );
    assert_eq!(payload["component"], "api");
    assert_eq!(payload["group"], "Core");
    assert!(payload["custom_details"].is_object());
    let incident_url = body["links"][0]["href"].as_str().unwrap().to_owned();
    assert!(
        incident_url.starts_with("https://status.example.com/incidents/"),
        "{incident_url}"
    );

    // Opsgenie: created with the key in the header and a stable alias.
    let create = genie.wait_for(1, wait).await[0].clone();
    assert_eq!(create.path, "/v2/alerts");
    assert_eq!(
        create.headers["authorization"],
        format!("GenieKey {GENIE_KEY}")
    );
    let alert = create.json();
    assert_eq!(alert["alias"], dedup.as_str());
    assert_eq!(alert["priority"], "P1");
    assert!(alert["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(alert["source"], "Upbeat");
    assert!(alert["tags"].as_array().unwrap().len() <= 20);

    // Slack: Block Kit with a plain-text fallback.
    let message = chat.wait_for(1, wait).await[0].json();
    assert_eq!(message["text"], "Incident opened: Outage: Public API");
    assert_eq!(message["blocks"][0]["type"], "header");
    assert_eq!(message["blocks"][0]["text"]["type"], "plain_text");
    let button = &message["blocks"].as_array().unwrap().last().unwrap()["elements"][0];
    assert_eq!(button["url"], incident_url.as_str());

    // Webhook: failed once (429, Retry-After: 1), then delivered; every
    // copy signed over "t.body".
    let hooks = hook.wait_for(2, wait).await;
    for copy in &hooks[..2] {
        let signature = copy.headers["x-upbeat-signature"].to_str().unwrap();
        let (t, v1) = signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&copy.body);
        mac.verify_slice(&hex::decode(v1).unwrap())
            .expect("signature verifies");
        assert_eq!(copy.headers["x-upbeat-event"], "service.status_changed");
        let event = copy.json();
        assert_eq!(event["schema"], "upbeat.alert.v1");
        assert_eq!(event["service"]["slug"], "api");
        assert_eq!(event["service"]["status"], "major_outage");
        assert_eq!(event["page_url"], "https://status.example.com");
    }
    assert_eq!(
        hooks[0].headers["x-upbeat-delivery"], hooks[1].headers["x-upbeat-delivery"],
        "the same delivery, retried"
    );

    // Recovery: the same alert is resolved and closed.
    target.set_status(200);
    let resolve = pd.wait_for(2, wait).await[1].json();
    assert_eq!(
        resolve,
        serde_json::json!({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": dedup})
    );
    let close = genie.wait_for(2, wait).await[1].clone();
    assert_eq!(
        close.path,
        format!("/v2/alerts/{dedup}/close?identifierType=alias")
    );
    assert_eq!(
        close.headers["authorization"],
        format!("GenieKey {GENIE_KEY}")
    );
    let resolved = chat.wait_for(2, wait).await[1].json();
    assert!(
        resolved["text"].as_str().unwrap().starts_with("Resolved: "),
        "{resolved}"
    );

    // The API: routes with their filters, never a secret or a secret URL.
    let admin = |method: reqwest::Method, path: &str| {
        app.client.request(method, app.url(path)).bearer_auth(ADMIN)
    };
    // The receiver records the resolve before the dispatcher hears its
    // answer and marks the delivery, so the route's last delivery reads
    // "delivered" a moment later (CI once read it in between on PostgreSQL).
    let text = eventually(wait, "the resolve marked delivered", || async {
        let answer = admin(reqwest::Method::GET, "/api/v1/alerts/routes")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if answer.status() != 200 {
            return Err(format!("status {}", answer.status()));
        }
        let text = answer.text().await.map_err(|e| e.to_string())?;
        let routes: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if routes[0]["last_delivery"]["status"] == "delivered" {
            Ok(text)
        } else {
            Err(routes[0]["last_delivery"].to_string())
        }
    })
    .await;
    for secret in [PD_KEY, GENIE_KEY, HOOK_SECRET, "XXXX"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let routes: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = routes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["oncall", "genie", "chat", "hook"]);
    assert_eq!(
        routes[0]["events"],
        serde_json::json!(["incident.opened", "incident.updated", "incident.resolved"])
    );
    assert!(routes[0]["secret_from"]
        .as_str()
        .unwrap()
        .starts_with("file:"));
    assert_eq!(routes[2]["endpoint"], chat.url.as_str());
    assert_eq!(routes[0]["last_delivery"]["status"], "delivered");
    assert_eq!(routes[0]["cooldown_s"], 300);

    // A test through the real path reaches that route alone.
    let queued = admin(reqwest::Method::POST, "/api/v1/alerts/routes/chat/test")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let test = chat.wait_for(3, wait).await[2].json();
    assert_eq!(test["text"], "Test alert from Acme status");
    for (path, want, field) in [
        ("/api/v1/alerts/routes/nope/test", 404, "name"),
        ("/api/v1/alerts/routes/chat/test?x=1", 202, ""),
    ] {
        let answer = admin(reqwest::Method::POST, path)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), want, "{path}");
        if !field.is_empty() {
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error"]["field"], field);
        }
    }
    let bad = admin(reqwest::Method::POST, "/api/v1/alerts/routes/chat/test")
        .json(&serde_json::json!({"colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // The history: newest first, filtered, with attempts.
    let page: Value = admin(
        reqwest::Method::GET,
        "/api/v1/alerts/history?route=hook&limit=1",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    let before = page["next_before"].as_i64().expect("another page");
    let older: Value = admin(
        reqwest::Method::GET,
        &format!("/api/v1/alerts/history?route=hook&before={before}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first_hook = older["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first_hook["event"], "service.status_changed");
    assert_eq!(
        first_hook["attempts_made"].as_array().unwrap().len(),
        2,
        "{first_hook}"
    );
    assert_eq!(first_hook["attempts_made"][0]["status_code"], 429);
    let bad: Value = admin(reqwest::Method::GET, "/api/v1/alerts/history?status=lost")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"]["field"], "status");
    // Metrics: every route's series, counted.
    let metrics = app.get_text("/metrics").await.1;
    for (name, kind) in upbeat::metrics::ALERTS {
        assert!(metrics.contains(&format!("# TYPE {name} {kind}")), "{name}");
    }
    // (Counters are per process: the other backend's run may add to them.)
    for series in [
        r#"upbeat_alerts_fired_total{route="oncall",kind="pagerduty",event="incident.opened"}"#,
        r#"upbeat_alerts_fired_total{route="oncall",kind="pagerduty",event="incident.resolved"}"#,
        r#"upbeat_alert_delivery_failures_total{route="hook",kind="webhook"}"#,
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} missing in {metrics}"));
        assert!(value >= 1.0, "{series} {value}");
    }
    for secret in [PD_KEY, GENIE_KEY, HOOK_SECRET, "XXXX"] {
        assert!(!metrics.contains(secret), "{secret} in metrics");
    }
    // The outbox's depth, for people.
    let detailed = app.get_json("/health/detailed").await;
    assert!(detailed["alerts"]["pending"].is_u64(), "{detailed}");
    assert!(detailed["alerts"]["unrouted"].is_u64(), "{detailed}");
    // Wait for the second test before stopping.
    chat.wait_for(4, wait).await;
    app.stop().await;

    // Exactly once each: nothing more arrives after the stop.
    assert_eq!(pd.received().len(), 2, "{:?}", pd.received());
    assert_eq!(genie.received().len(), 2);
    assert_eq!(chat.received().len(), 4, "two events and two tests");

    // The database holds no secret.
    let store = upbeat::store::connect(&db.url, 2).await.unwrap();
    let events = store.alert_events(0, 100).await.unwrap();
    assert!(!events.is_empty());
    let history = store
        .alert_history(&upbeat::store::AlertHistoryFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let everything = format!("{events:?}{history:?}");
    for secret in [PD_KEY, GENIE_KEY, HOOK_SECRET, "XXXX"] {
        assert!(!everything.contains(secret), "{secret} stored");
    }
    let retried = history
        .iter()
        .find(|d| d.route == "hook" && d.attempts == 2)
        .expect("the webhook delivery took two attempts");
    assert_eq!(retried.status, upbeat::store::DeliveryStatus::Delivered);
    let attempts = store.alert_attempts(retried.id).await.unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        [Some(429), Some(202)]
    );
    assert!(
        attempts[1].at - attempts[0].at >= chrono::Duration::seconds(1),
        "Retry-After honoured: {attempts:?}"
    );
    store.close().await;
}

/// History rows of `route` as the API lists them.
async fn history_of(app: &TestApp, route: &str) -> Vec<Value> {
    let page: Value = app
        .client
        .get(app.url(&format!("/api/v1/alerts/history?route={route}&limit=200")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["deliveries"].as_array().unwrap().clone()
}

/// Waits until `route` has a delivery with `status` and `reason`.
async fn wait_for_history(app: &TestApp, route: &str, status: &str, reason: Option<&str>) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = history_of(app, route).await;
        if let Some(row) = rows
            .iter()
            .find(|r| r["status"] == status && r["reason"].as_str() == reason)
        {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} {reason:?} delivery on {route}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A flapping service pages once within the cooldown (the rest stored as
/// suppressed and counted); a service in maintenance pages nobody.
#[tokio::test]
async fn sqlite_flapping_alerts_once_and_maintenance_alerts_nobody() {
    flapping_alerts_once_and_maintenance_alerts_nobody(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_flapping_alerts_once_and_maintenance_alerts_nobody() {
    flapping_alerts_once_and_maintenance_alerts_nobody(Backend::Postgres).await;
}

async fn flapping_alerts_once_and_maintenance_alerts_nobody(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let flappy = Target::start(503).await;
    let calm = Target::start(200).await;
    let chat = Receiver::start(vec![]).await;
    let hook = Receiver::start(vec![]).await;
    let config = format!(
        r#"
[defaults]
timeout = "2s"
failure_threshold = 1
recovery_threshold = 1

[[services]]
slug = "flappy"
name = "Flappy"
interval = "1s"
[services.check]
kind = "http"
url = "{flappy}"

[[services]]
slug = "calm"
name = "Calm"
interval = "1s"
[services.check]
kind = "http"
url = "{calm}"

[[alerts.routes]]
name = "chat"
kind = "slack"
url = "{chat}/slack"
services = ["flappy"]
events = ["incident.opened"]

[[alerts.routes]]
name = "calm-hook"
kind = "webhook"
url = "{hook}/hook"
services = ["calm"]
min_impact = "none"
events = ["incident.opened", "service.status_changed"]
"#,
        flappy = flappy.url(),
        calm = calm.url(),
        chat = chat.url,
        hook = hook.url,
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let wait = Duration::from_secs(20);

    // Down, up, down again within the cooldown: one message.
    chat.wait_for(1, wait).await;
    flappy.set_status(200);
    app.wait_for_service("flappy", wait, |s| s["status"] == "operational")
        .await;
    flappy.set_status(503);
    let suppressed = wait_for_history(&app, "chat", "suppressed", Some("cooldown")).await;
    assert_eq!(suppressed["event"], "incident.opened");
    assert_eq!(suppressed["attempts"], 0);
    assert_eq!(chat.received().len(), 1, "{:?}", chat.received());
    let metrics = app.get_text("/metrics").await.1;
    assert!(
        metrics.contains(r#"upbeat_alerts_suppressed_total{route="chat",reason="cooldown"}"#),
        "{metrics}"
    );

    // Maintenance over `calm`, then it fails: nothing is sent.
    let now = upbeat::clock::Clock::now(&upbeat::clock::SystemClock);
    let created = app
        .client
        .post(app.url("/api/v1/maintenances"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "title": "Patching",
            "starts_at": (now - chrono::TimeDelta::minutes(1)).to_rfc3339(),
            "ends_at": (now + chrono::TimeDelta::hours(1)).to_rfc3339(),
            "services": ["calm"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    calm.set_status(503);
    app.wait_for_service("calm", wait, |s| s["status"] == "under_maintenance")
        .await;
    // An incident an admin opens on it meanwhile is held too.
    let opened = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "title": "Calm is slow",
            "services": [{"slug": "calm", "status": "degraded_performance"}],
            "body": "Looking.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let held = wait_for_history(&app, "calm-hook", "suppressed", Some("maintenance")).await;
    assert_eq!(held["event"], "incident.opened");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(hook.received().is_empty(), "{:?}", hook.received());
    assert!(
        history_of(&app, "calm-hook")
            .await
            .iter()
            .all(|r| r["status"] == "suppressed"),
        "nothing sent for calm"
    );
    app.stop().await;
}

/// Email over SMTP: the incident's mails reach a real SMTP server, with
/// both parts, the threading headers, and user text escaped in the HTML.
#[tokio::test]
async fn sqlite_email_alerts_arrive_over_smtp_threaded_per_incident() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(503).await;
    let smtp = crate::smtp::SmtpServer::start().await;
    let config = format!(
        r#"
[server]
public_url = "https://status.example.com"

[page]
title = "Acme status"

[defaults]
timeout = "2s"
failure_threshold = 1
recovery_threshold = 1

[[services]]
slug = "api"
name = "Public <API>"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"

[smtp]
host = "127.0.0.1"
port = {port}
tls = "none"
from = "Acme status <status@example.com>"

[[alerts.routes]]
name = "ops-mail"
kind = "email"
to = ["ops@example.com", "Lead <lead@example.com>"]
events = ["incident.opened", "incident.resolved"]
"#,
        target = target.url(),
        port = smtp.addr.port(),
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let wait = Duration::from_secs(20);
    let opened = smtp.wait_for(1, wait).await[0].clone();
    target.set_status(200);
    let resolved = smtp.wait_for(2, wait).await[1].clone();
    app.stop().await;

    assert_eq!(opened.from, "status@example.com");
    let mut to = opened.to.clone();
    to.sort();
    assert_eq!(to, ["lead@example.com", "ops@example.com"]);
    assert_eq!(
        opened.header("Subject").as_deref(),
        Some("[Acme status] Incident opened: Outage: Public <API>")
    );
    let root = opened.header("Message-ID").unwrap();
    assert!(
        root.starts_with("<upbeat-incident-") && root.ends_with("@status.example.com>"),
        "{root}"
    );
    assert_eq!(opened.header("In-Reply-To"), None);
    assert!(
        opened
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{}",
        opened.data
    );
    assert!(
        opened.data.contains("Content-Type: text/plain"),
        "{}",
        opened.data
    );
    assert!(
        opened.data.contains("Content-Type: text/html"),
        "{}",
        opened.data
    );
    assert!(
        opened.data.contains("Public &lt;API&gt;"),
        "escaped in HTML: {}",
        opened.data
    );
    assert!(
        !opened.data.contains("<strong>Public <API>"),
        "{}",
        opened.data
    );
    assert!(
        opened
            .data
            .contains("https://status.example.com/incidents/"),
        "{}",
        opened.data
    );

    assert!(resolved
        .header("Subject")
        .unwrap()
        .starts_with("[Acme status] Resolved: "));
    assert_eq!(
        resolved.header("In-Reply-To").as_deref(),
        Some(root.as_str())
    );
    assert_eq!(
        resolved.header("References").as_deref(),
        Some(root.as_str())
    );
    assert_ne!(resolved.header("Message-ID").unwrap(), root);
    assert_eq!(smtp.received().len(), 2, "once each");
}

/// `repeat_every` / `repeat_max`: an incident that stays open is recalled
/// on the route that announced it, at most `repeat_max` times.
#[tokio::test]
async fn sqlite_open_incidents_are_recalled_up_to_repeat_max() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(503).await;
    let chat = Receiver::start(vec![]).await;
    let config = format!(
        r#"
[defaults]
timeout = "2s"
failure_threshold = 1

[[services]]
slug = "api"
name = "API"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"

[[alerts.routes]]
name = "chat"
kind = "slack"
url = "{chat}/slack"
events = ["incident.opened"]
repeat_every = "2s"
repeat_max = 2
"#,
        target = target.url(),
        chat = chat.url,
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let got = chat.wait_for(3, Duration::from_secs(20)).await;
    let texts: Vec<String> = got
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            "Incident opened: Outage: API",
            "Still open (reminder 1): Outage: API",
            "Still open (reminder 2): Outage: API",
        ]
    );
    // No third reminder.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(chat.received().len(), 3);
    app.stop().await;
}

/// A maintenance window announces its start and its end, once each.
#[tokio::test]
async fn sqlite_maintenance_windows_announce_their_start_and_end() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let hook = Receiver::start(vec![]).await;
    let config = format!(
        r#"
[[services]]
slug = "db"
name = "Database"
interval = "1s"
[services.check]
kind = "http"
url = "{target}"

[[alerts.routes]]
name = "hook"
kind = "webhook"
url = "{hook}/hook"
events = ["maintenance.started", "maintenance.completed"]
"#,
        target = target.url(),
        hook = hook.url,
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let now = upbeat::clock::Clock::now(&upbeat::clock::SystemClock);
    let created = app
        .client
        .post(app.url("/api/v1/maintenances"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "title": "Patching",
            "starts_at": (now - chrono::TimeDelta::minutes(1)).to_rfc3339(),
            "ends_at": (now + chrono::TimeDelta::seconds(4)).to_rfc3339(),
            "services": ["db"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let got = hook.wait_for(2, Duration::from_secs(20)).await;
    let started = got[0].json();
    let completed = got[1].json();
    assert_eq!(started["event"], "maintenance.started");
    assert_eq!(started["maintenance"]["title"], "Patching");
    assert_eq!(started["maintenance"]["services"][0]["slug"], "db");
    assert_eq!(completed["event"], "maintenance.completed");
    assert_eq!(completed["maintenance"]["id"], started["maintenance"]["id"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.received().len(), 2, "once each");
    app.stop().await;
}

/// The dispatcher on a manual clock: a receiver down for five minutes gets
/// the alert once it is back (attempts spaced by the backoff); one down
/// for good leaves the delivery `failed` after `max_attempts`, kept with
/// its attempts.
#[tokio::test]
async fn sqlite_a_receiver_down_for_minutes_gets_the_alert_when_it_returns() {
    a_receiver_down_for_minutes_gets_the_alert_when_it_returns(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_receiver_down_for_minutes_gets_the_alert_when_it_returns() {
    a_receiver_down_for_minutes_gets_the_alert_when_it_returns(Backend::Postgres).await;
}

async fn a_receiver_down_for_minutes_gets_the_alert_when_it_returns(backend: Backend) {
    use upbeat::clock::{Clock, ManualClock};
    use upbeat::engine::alerts::Dispatcher;
    use upbeat::engine::changes::Changes;
    use upbeat::store::{AlertHistoryFilter, DeliveryStatus};

    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = upbeat::store::connect(&db.url, 2).await.unwrap();
    store.migrate().await.unwrap();
    // Down: 503 to every attempt in the first five minutes (at most 9).
    let back = Receiver::start(vec![(503, None); 9]).await;
    let gone = Receiver::start(vec![(503, None); 50]).await;
    let toml = format!(
        "[alerts]\nmax_attempts = 8\n\
         [[alerts.routes]]\nname = \"back\"\nkind = \"webhook\"\nurl = \"{}/hook\"\n\
         [[alerts.routes]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"{}/hook\"\n",
        back.url, gone.url
    );
    let config = upbeat::config::Config::from_toml(&toml, Vec::new(), &Default::default()).unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-02T14:07:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = Arc::new(ManualClock::starting_at(start));
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        clock.clone(),
        &config.alerts,
        None,
        None,
        "Acme".into(),
        Arc::new(Changes::default()),
    );
    let event = upbeat::domain::alert::test_event(start);
    for route in ["back", "gone"] {
        store
            .insert_routed_alert(&event, route, "webhook", None)
            .await
            .unwrap()
            .unwrap();
    }
    let history = |route: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .alert_history(&AlertHistoryFilter {
                    route: Some(route.to_owned()),
                    limit: 10,
                    ..AlertHistoryFilter::default()
                })
                .await
                .unwrap()
                .remove(0)
        }
    };
    // Five simulated minutes (and a little more), a pass every 5 s.
    while clock.now() < start + chrono::Duration::seconds(800) {
        if clock.now() >= start + chrono::Duration::minutes(5) {
            back.inbox.answers.lock().unwrap().clear();
        }
        dispatcher.pass(None).await.unwrap();
        clock.set(clock.now() + chrono::Duration::seconds(5));
    }
    let delivered = history("back").await;
    assert_eq!(delivered.status, DeliveryStatus::Delivered, "{delivered:?}");
    let attempts = store.alert_attempts(delivered.id).await.unwrap();
    let codes: Vec<Option<u16>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes.last(), Some(&Some(202)), "{codes:?}");
    assert!(codes[..codes.len() - 1].iter().all(|c| *c == Some(503)));
    // Backoff: each wait about twice the one before (±20 % jitter, and
    // the 5-second passes).
    let gaps: Vec<i64> = attempts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).num_seconds())
        .collect();
    assert!(gaps.len() >= 5, "{gaps:?}");
    for pair in gaps.windows(2).take(gaps.len().saturating_sub(2)) {
        assert!(pair[1] >= pair[0], "{gaps:?}");
    }
    assert_eq!(
        back.received().len(),
        attempts.len(),
        "one request an attempt"
    );

    let failed = history("gone").await;
    assert_eq!(failed.status, DeliveryStatus::Failed, "{failed:?}");
    assert_eq!(failed.attempts, 8);
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("status 503"),
        "{failed:?}"
    );
    assert_eq!(gone.received().len(), 8, "no attempt after the last");
    store.close().await;
}

/// A receiver that accepts the connection and never answers costs one
/// route `timeout` per attempt; the alert stays pending for a retry.
#[tokio::test]
async fn sqlite_a_hanging_receiver_times_out_and_is_retried() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let silent = crate::helpers::silent_target().await;
    let config = format!(
        "[[alerts.routes]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://{silent}/hook\"\ntimeout = \"1s\"\n"
    );
    let app = spawn_with_admin(&config, &db.url).await;
    let queued = app
        .client
        .post(app.url("/api/v1/alerts/routes/hook/test"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let row = loop {
        let rows = history_of(&app, "hook").await;
        if let Some(row) = rows.iter().find(|r| r["attempts"] == 1) {
            break row.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(row["status"], "pending", "{row}");
    assert_eq!(row["last_error"], "no answer within 1s", "{row}");
    let took = row["attempts_made"][0]["duration_ms"].as_u64().unwrap();
    assert!((1000..3000).contains(&took), "{took} ms");
    assert!(row["next_attempt_at"].is_string(), "{row}");
    // A receiver down is not this server's failure: still ready.
    let (ready, _) = app.get_text("/ready").await;
    assert_eq!(ready, 200);
    app.stop().await;
}
