//! Subscribers end to end over the real application and a real SMTP
//! server: double opt-in, notifications scoped by service, `notify:
//! false`, the manage page, RFC 8058 one-click unsubscribe, forged and
//! expired links, abuse limits, a mail server that is down or refuses an
//! address, and the admin API (webhook and Slack destinations, counts,
//! search, export, import, audit).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upbeat::clock::{Clock, SystemClock};
use upbeat::config::{Config, Overrides, Secret};
use upbeat::domain::subscribers::{Link, LinkPurpose};

use crate::helpers::{eventually, Backend, TestApp, TestDb};
use crate::smtp::{Delivered, SmtpServer};

const ADMIN: &str = "subscribers-admin-token-0123456789abcdef";
/// The key that signs links (given, so the tests can sign their own).
const KEY: &str = "0123456789abcdef0123456789abcdef-test-key";
const PAGE: &str = "https://status.example.com";
const WAIT: Duration = Duration::from_secs(20);

fn config_text(smtp_port: u16, extra: &str) -> String {
    format!(
        r##"
[server]
public_url = "{PAGE}"

[page]
title = "Acme status"
accent = "#ff5500"

[[services]]
slug = "api"
name = "Public API"
interval = "1h"
[services.check]
kind = "push"

[[services]]
slug = "web"
name = "Website"
interval = "1h"
[services.check]
kind = "push"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Acme status <status@example.com>"

[subscribers]
enabled = true
max_per_second = 50
{extra}
"##
    )
}

async fn spawn(db: &TestDb, text: &str) -> TestApp {
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: Some(db.url.clone()),
    };
    let mut config = Config::from_toml(text, Vec::new(), &overrides).unwrap();
    config.admin_token = Some(Secret(ADMIN.to_owned()));
    config.subscribers.secret = Some(Secret(KEY.to_owned()));
    TestApp::spawn_config(config).await
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /subscribe` as the page's plain form does.
async fn subscribe(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url("/subscribe"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    (status, text)
}

/// The path and query of the mail's first link to `prefix` (on the
/// configured page), to send to the test server instead.
fn link(mail: &Delivered, prefix: &str) -> String {
    let text = mail.text();
    let start = text
        .find(&format!("{PAGE}{prefix}"))
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    url.trim_start_matches(PAGE).to_owned()
}

/// Mails to `to` among `mails`.
fn to<'a>(mails: &'a [Delivered], address: &str) -> Vec<&'a Delivered> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == address))
        .collect()
}

async fn confirm(app: &TestApp, mail: &Delivered) -> String {
    let path = link(mail, "/subscribe/confirm?token=");
    let (status, page) = app.get_text(&path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Confirm subscription"), "{page}");
    let token = path.split("token=").nth(1).unwrap();
    let response = app
        .client
        .post(app.url("/subscribe/confirm"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn sqlite_visitors_subscribe_confirm_follow_their_services_and_leave_with_one_click() {
    subscribe_confirm_notify_unsubscribe(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_visitors_subscribe_confirm_follow_their_services_and_leave_with_one_click() {
    subscribe_confirm_notify_unsubscribe(Backend::Postgres).await;
}

async fn subscribe_confirm_notify_unsubscribe(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let smtp = SmtpServer::start().await;
    let app = spawn(&db, &config_text(smtp.addr.port(), "")).await;

    // The page offers the form.
    let (_, home) = app.get_text("/").await;
    assert!(home.contains(r#"action="/subscribe""#), "{home}");
    let (_, api_page) = app.get_text("/services/api").await;
    assert!(
        api_page.contains(r#"name="service" value="api""#),
        "{api_page}"
    );

    // Ada follows everything (the plain form), Bob the website (JSON).
    let (status, answer) =
        subscribe(&app, &[("email", " Ada@Example.com "), ("website", "")]).await;
    assert_eq!(status, 200);
    assert!(answer.contains("Check your inbox"), "{answer}");
    let json: Value = app
        .client
        .post(app.url("/subscribe"))
        .header("accept", "application/json")
        .form(&[("email", "bob@example.com"), ("service", "web")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(json["message"]
        .as_str()
        .unwrap()
        .contains("Check your inbox"));

    let mails = smtp.wait_for(2, WAIT).await;
    let ada_confirm = to(&mails, "ada@example.com")[0].clone();
    assert_eq!(
        ada_confirm.header("Subject").as_deref(),
        Some("Confirm your subscription to Acme status")
    );
    assert_eq!(ada_confirm.from, "status@example.com");
    // Nothing to unsubscribe from yet.
    assert_eq!(ada_confirm.header("List-Unsubscribe"), None);

    // Pending: an incident now reaches nobody.
    let (status, _) = admin(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "Early", "body": "before anyone confirmed",
                    "services": [{"slug": "api", "status": "major_outage"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let done = confirm(&app, &ada_confirm).await;
    assert!(
        done.contains("ada@example.com gets updates about every service"),
        "{done}"
    );
    let bob_confirm = to(&mails, "bob@example.com")[0].clone();
    let done = confirm(&app, &bob_confirm).await;
    assert!(
        done.contains("bob@example.com gets updates about Website"),
        "{done}"
    );

    // Subscribing again: the same answer, and the manage link by mail.
    let (_, again) = subscribe(&app, &[("email", "ada@example.com")]).await;
    assert!(again.contains("Check your inbox"));
    let mails = smtp.wait_for(3, WAIT).await;
    assert_eq!(
        mails[2].header("Subject").as_deref(),
        Some("Your subscription to Acme status")
    );
    assert!(link(&mails[2], "/subscribe/manage?token=").contains("token=m"));

    // An incident on the API: Ada hears, Bob (website only) does not.
    let (status, incident) = admin(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(
            json!({"title": "Checkout <errors>", "body": "We are **on it**.",
                    "services": [{"slug": "api", "status": "partial_outage"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = incident["id"].as_i64().unwrap();
    let mails = smtp.wait_for(4, WAIT).await;
    let opened = &mails[3];
    assert_eq!(opened.to, ["ada@example.com"]);
    assert_eq!(
        opened.header("Subject").as_deref(),
        Some("[Acme status] Incident opened: Checkout <errors>")
    );
    let root = format!("<upbeat-incident-{id}.subscribers@status.example.com>");
    assert_eq!(opened.header("Message-ID"), Some(root.clone()));
    let unsubscribe = opened.header("List-Unsubscribe").unwrap();
    assert!(
        unsubscribe.starts_with(&format!("<{PAGE}/subscribe/unsubscribe?token=m")),
        "{unsubscribe}"
    );
    assert_eq!(
        opened.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(
        opened.header("List-Id").as_deref(),
        Some("\"Acme status\" <updates.status.example.com>")
    );
    let html = opened.html();
    assert!(html.contains("<strong>on it</strong>"), "{html}");
    assert!(html.contains("Checkout &lt;errors&gt;"), "{html}");
    assert!(html.contains("#ff5500"), "the page's accent: {html}");
    assert!(opened
        .text()
        .contains("Manage your subscription: https://status.example.com/subscribe/manage?token="));

    // A quiet update goes to no subscriber; the next one does, threaded.
    let (status, _) = admin(
        &app,
        Method::POST,
        &format!("/api/v1/incidents/{id}/updates"),
        Some(json!({"body": "typo fixed", "notify": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = admin(
        &app,
        Method::POST,
        &format!("/api/v1/incidents/{id}/updates"),
        Some(json!({"status": "identified", "body": "A bad deploy."})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = smtp.wait_for(5, WAIT).await;
    let update = &mails[4];
    assert!(update.text().contains("A bad deploy."), "{}", update.text());
    assert_eq!(update.header("In-Reply-To"), Some(root.clone()));

    // One click (RFC 8058): a POST to the List-Unsubscribe address.
    let url = unsubscribe.trim_start_matches('<').trim_end_matches('>');
    let response = app
        .client
        .post(app.url(url.trim_start_matches(PAGE)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("You are unsubscribed"));
    // The address is deleted, not kept.
    let (_, listed) = admin(&app, Method::GET, "/api/v1/subscribers?q=ada", None).await;
    assert_eq!(listed, json!([]));
    // Its manage link now says so.
    let (status, page) = app
        .get_text(&link(&mails[2], "/subscribe/manage?token="))
        .await;
    assert_eq!(status, 410, "{page}");

    // An incident that names no service goes to everyone left: Bob.
    let (status, _) = admin(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "Everything is slow", "body": "Looking."})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = smtp.wait_for(6, WAIT).await;
    assert_eq!(mails[5].to, ["bob@example.com"]);
    // Maintenance on the website: Bob hears it was scheduled.
    let (status, _) = admin(
        &app,
        Method::POST,
        "/api/v1/maintenances",
        Some(
            json!({"title": "Website upgrade", "starts_at": "2030-01-01T02:00:00Z",
                    "ends_at": "2030-01-01T03:00:00Z", "services": ["web"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let mails = smtp.wait_for(7, WAIT).await;
    assert_eq!(
        mails[6].header("Subject").as_deref(),
        Some("[Acme status] Maintenance scheduled: Website upgrade")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 7, "nothing else, nothing twice");

    // Bob changes his mind on the manage page: the API only.
    let manage = link(&mails[6], "/subscribe/manage?token=");
    let (status, page) = app.get_text(&manage).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"value="web" checked"#), "{page}");
    let token = manage.split("token=").nth(1).unwrap();
    let response = app
        .client
        .post(app.url("/subscribe/manage"))
        .form(&[("token", token), ("service", "api")])
        .send()
        .await
        .unwrap();
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("gets updates about Public API"));
    app.stop().await;
}

#[tokio::test]
async fn sqlite_forged_and_expired_links_are_refused_with_a_clear_page() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let smtp = SmtpServer::start().await;
    let app = spawn(&db, &config_text(smtp.addr.port(), "")).await;
    subscribe(&app, &[("email", "ada@example.com")]).await;
    let mail = smtp.wait_for(1, WAIT).await[0].clone();
    let good = link(&mail, "/subscribe/confirm?token=");
    let token = good.split("token=").nth(1).unwrap().to_owned();

    let check = |path: String, want: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app.get_text(&path).await;
            assert_eq!(status, 400, "{path}: {page}");
            assert!(page.contains(want), "{path}: {page}");
        }
    };
    // Another subscriber's id under the same signature.
    let forged = token.replacen("c1.", "c2.", 1);
    check(
        format!("/subscribe/confirm?token={forged}"),
        "This link is not valid",
    )
    .await;
    // Signed with another key.
    let other = Link::confirm(1, SystemClock.now()).sign(b"another key entirely, 32 bytes..");
    check(
        format!("/subscribe/confirm?token={other}"),
        "This link is not valid",
    )
    .await;
    // Cut short.
    check(
        format!("/subscribe/confirm?token={}", &token[..token.len() / 2]),
        "incomplete or damaged",
    )
    .await;
    // Expired: signed with the right key a day and a second ago.
    let old = Link::confirm(1, SystemClock.now() - chrono::Duration::seconds(86_401))
        .sign(KEY.as_bytes());
    check(
        format!("/subscribe/confirm?token={old}"),
        "This link has expired",
    )
    .await;
    // A confirmation link is not a manage link.
    check(
        format!("/subscribe/manage?token={token}"),
        "This link is not valid",
    )
    .await;
    let response = app
        .client
        .post(app.url(&format!("/subscribe/unsubscribe?token={token}")))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // The real one still works.
    let (status, _) = app.get_text(&good).await;
    assert_eq!(status, 200);
    assert_eq!(
        Link::verify(KEY.as_bytes(), &token, SystemClock.now())
            .unwrap()
            .purpose,
        LinkPurpose::Confirm
    );
    app.stop().await;
}

#[tokio::test]
async fn sqlite_abuse_limits_answer_the_same_page_and_are_counted() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let smtp = SmtpServer::start().await;
    let app = spawn(
        &db,
        &config_text(smtp.addr.port(), "per_client_per_hour = 7"),
    )
    .await;
    let mut before = std::collections::HashMap::new();
    for outcome in upbeat::metrics::SUBSCRIPTION_OUTCOMES {
        before.insert(outcome, subscriptions(&app, outcome).await);
    }

    // Bad input is named next to its field, in HTML and in JSON.
    let (status, page) = subscribe(&app, &[("email", "not-an-address")]).await;
    assert_eq!(status, 422);
    assert!(page.contains(r#"aria-invalid="true""#), "{page}");
    assert!(page.contains("email is not an email address"), "{page}");
    assert!(page.contains(r#"value="not-an-address""#), "kept: {page}");
    let response = app
        .client
        .post(app.url("/subscribe"))
        .header("accept", "application/json")
        .form(&[("email", "ada@example.com"), ("service", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "service");
    let long = format!("{}@example.com", "a".repeat(260));
    let (status, page) = subscribe(&app, &[("email", &long)]).await;
    assert_eq!(status, 422);
    assert!(page.contains("at most 254 characters"));

    // A bot fills the hidden field: the same answer, nothing sent.
    let (status, page) = subscribe(
        &app,
        &[("email", "bot@example.com"), ("website", "http://spam")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));

    // One address gets three mails a day, however often it subscribes.
    for _ in 0..3 {
        let (status, page) = subscribe(&app, &[("email", "carol@example.com")]).await;
        assert_eq!(status, 200);
        assert!(page.contains("Check your inbox"));
    }
    // The client's eighth request this hour: the same answer, nothing sent.
    let (status, page) = subscribe(&app, &[("email", "dave@example.com")]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your inbox"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = smtp.received();
    let addresses: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(addresses, ["carol@example.com"; 3], "{addresses:?}");

    // The recorder is the process's: other tests count too, but only this
    // one is refused.
    for (outcome, n) in [("invalid", 3), ("honeypot", 1), ("limited_client", 1)] {
        assert_eq!(
            subscriptions(&app, outcome).await - before[outcome],
            n,
            "{outcome}"
        );
    }
    assert!(subscriptions(&app, "accepted").await - before["accepted"] >= 3);
    app.stop().await;

    // The daily limit is in the database: another replica (here a restart
    // with a fresh per-client count) still refuses a fourth mail.
    let app = spawn(&db, &config_text(smtp.addr.port(), "")).await;
    subscribe(&app, &[("email", "carol@example.com")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.received().len(), 3);
    assert_eq!(
        subscriptions(&app, "limited_address").await - before["limited_address"],
        1
    );
    app.stop().await;
}

/// `upbeat_subscriptions_total{outcome}` now.
async fn subscriptions(app: &TestApp, outcome: &str) -> u64 {
    let (_, metrics) = app.get_text("/metrics").await;
    let series = format!("upbeat_subscriptions_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("{series} in\n{metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sqlite_a_mail_server_that_is_down_or_refuses_an_address_loses_nothing() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    // A port with nothing listening yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let app = spawn(&db, &config_text(port, "")).await;
    for email in ["ada@example.com", "gone@example.com"] {
        let (status, _) = subscribe(&app, &[("email", email)]).await;
        assert_eq!(status, 200);
    }
    // Both confirmations fail to connect and wait for their retry.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, metrics) = app.get_text("/metrics").await;
    assert!(
        metrics.contains("upbeat_subscriber_deliveries_total{kind=\"email\",outcome=\"retry\"}"),
        "{metrics}"
    );
    let smtp = SmtpServer::start_on(port).await;
    smtp.refuse("gone@example.com");
    // Ada's confirmation arrives once the server is up (the backoff's
    // first step is 5 s); the refused address is not tried again.
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails[0].to, ["ada@example.com"]);
    // The refused address's retry may land a moment after Ada's (each
    // delivery keeps its own backoff), so wait for it to be marked.
    let rejected = eventually(WAIT, "the refused address marked", || async {
        let (status, rejected) = admin(
            &app,
            Method::GET,
            "/api/v1/subscribers?status=rejected",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let rejected = rejected.as_array().unwrap().clone();
        if rejected.is_empty() {
            Err("none rejected yet".to_owned())
        } else {
            Ok(rejected)
        }
    })
    .await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["address"], "gone@example.com");
    assert!(rejected[0]["rejected_reason"]
        .as_str()
        .unwrap()
        .contains("550"));
    let tried = smtp.recipients_seen();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        smtp.recipients_seen(),
        tried,
        "a refused address is not retried"
    );
    assert_eq!(smtp.received().len(), 1, "nothing twice");

    // A temporary refusal (451) is retried and then delivered.
    confirm(&app, &mails[0]).await;
    smtp.defer(1);
    admin(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "Retry me", "body": "b"})),
    )
    .await;
    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(mails[1].to, ["ada@example.com"]);
    assert_eq!(
        smtp.recipients_seen(),
        tried + 2,
        "deferred once, then accepted"
    );
    app.stop().await;
}

#[tokio::test]
async fn sqlite_admins_add_webhook_and_slack_subscribers_count_search_export_import_and_remove() {
    admin_api(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_admins_add_webhook_and_slack_subscribers_count_search_export_import_and_remove() {
    admin_api(Backend::Postgres).await;
}

async fn admin_api(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let smtp = SmtpServer::start().await;
    let receiver = crate::alerts::Receiver::start(vec![]).await;
    let app = spawn(&db, &config_text(smtp.addr.port(), "")).await;

    let (status, hook) = admin(
        &app,
        Method::POST,
        "/api/v1/subscribers",
        Some(json!({"kind": "webhook", "address": format!("{}/hook", receiver.url), "services": ["api"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let (status, slack) = admin(
        &app,
        Method::POST,
        "/api/v1/subscribers",
        Some(json!({"kind": "slack", "address": format!("{}/slack", receiver.url)})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{slack}");
    assert!(slack.get("secret").is_none(), "only webhooks sign");
    // Refusals name the field.
    for (body, field) in [
        (json!({"kind": "webhook", "address": "ftp://x"}), "address"),
        (
            json!({"kind": "webhook", "address": "http://hooks.example.com/x"}),
            "address",
        ),
        (
            json!({"kind": "slack", "address": "https://hooks.example.com/x", "services": ["nope"]}),
            "services",
        ),
        (json!({"kind": "email", "address": "nope"}), "address"),
    ] {
        let (status, answer) = admin(&app, Method::POST, "/api/v1/subscribers", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], field);
    }
    let (status, _) = admin(
        &app,
        Method::POST,
        "/api/v1/subscribers",
        Some(json!({"kind": "slack", "address": format!("{}/slack", receiver.url)})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An incident on the API reaches both, in their formats.
    let (status, _) = admin(
        &app,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "API down", "body": "Looking.",
                    "services": [{"slug": "api", "status": "major_outage"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = receiver.wait_for(2, WAIT).await;
    let hook_call = got.iter().find(|r| r.path == "/hook").unwrap();
    assert_eq!(hook_call.json()["schema"], "upbeat.alert.v1");
    assert_eq!(hook_call.json()["event"], "incident.opened");
    let signature = hook_call.headers["x-upbeat-signature"].to_str().unwrap();
    let t: i64 = signature
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        signature,
        upbeat::domain::alert::signature(&secret, t, &hook_call.body),
        "signed with the secret shown at creation"
    );
    let slack_call = got.iter().find(|r| r.path == "/slack").unwrap();
    assert!(
        slack_call.json()["blocks"].is_array(),
        "{:?}",
        slack_call.body
    );

    // Import confirmed addresses: a bad line refuses the file, by line.
    let import = |body: &'static str| {
        app.client
            .post(app.url("/api/v1/subscribers/import"))
            .bearer_auth(ADMIN)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let response = import("email,services\nada@example.com,api\nnope,\nbob@example.com,zzz\n")
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problems: Value = response.json().await.unwrap();
    assert_eq!(problems["error"]["lines"][0]["line"], 3, "{problems}");
    let response = import("email,services\nada@example.com,api\nbob@example.com,zzz\n")
        .await
        .unwrap();
    let problems: Value = response.json().await.unwrap();
    assert_eq!(problems["error"]["lines"][0]["line"], 3, "{problems}");
    assert_eq!(
        problems["error"]["lines"][0]["message"],
        "no service \"zzz\""
    );
    let response = import("email,services\nAda@example.com,api\ncarol@example.com,\n")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let imported: Value = response.json().await.unwrap();
    assert_eq!(imported, json!({"added": 2, "existing": 0}));
    let again: Value = import("email\nada@example.com\n")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, json!({"added": 0, "existing": 1}));

    // Counts, search.
    let (_, counts) = admin(&app, Method::GET, "/api/v1/subscribers/counts", None).await;
    assert_eq!(counts["confirmed"], 4, "{counts}");
    assert_eq!(counts["pending"], 0);
    assert_eq!(
        counts["by_kind"],
        json!({"email": 2, "slack": 1, "webhook": 1})
    );
    assert_eq!(counts["all_services"], 2, "slack and carol");
    assert_eq!(counts["by_service"], json!({"api": 2}));
    let (_, found) = admin(&app, Method::GET, "/api/v1/subscribers?q=CAROL", None).await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["address"], "carol@example.com");
    let (status, bad) = admin(&app, Method::GET, "/api/v1/subscribers?status=nope", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["field"], "status");

    // Export, and it reads back as an import.
    let csv = app
        .client
        .get(app.url("/api/v1/subscribers/export.csv"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("id,kind,address,status,services,created_at,confirmed_at\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(
        csv.contains(",email,ada@example.com,confirmed,api,"),
        "{csv}"
    );
    let reimported: Value = app
        .client
        .post(app.url("/api/v1/subscribers/import"))
        .bearer_auth(ADMIN)
        .body(csv)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reimported, json!({"added": 0, "existing": 2}));

    // Remove: deleted, and audited like every change above.
    let carol = found[0]["id"].as_i64().unwrap();
    let (status, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/subscribers/{carol}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/subscribers/{carol}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = admin(
        &app,
        Method::GET,
        "/api/v1/audit-log?action=subscriber.",
        None,
    )
    .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "subscriber.removed",
            "subscriber.imported",
            "subscriber.exported",
            "subscriber.imported",
            "subscriber.imported",
            "subscriber.added",
            "subscriber.added",
        ]
    );
    app.stop().await;
}
