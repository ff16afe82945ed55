//! Configuration errors name the key, the line and the reason.

use std::time::Duration;

use upbeat::config::{Config, ConfigIssue, Overrides};

fn issues(toml: &str) -> Vec<ConfigIssue> {
    Config::from_toml(toml, Vec::new(), &Overrides::default())
        .expect_err("config should be rejected")
}

fn only_issue(toml: &str) -> ConfigIssue {
    let mut all = issues(toml);
    assert_eq!(all.len(), 1, "expected one issue, got {all:?}");
    all.remove(0)
}

const TWO_SERVICES: &str = r#"
[[services]]
slug = "api"
name = "API"
[services.check]
kind = "http"
url = "http://127.0.0.1:9/health"

[[services]]
slug = "web"
name = "Web"
[services.check]
kind = "http"
url = "/health"
"#;

#[test]
fn the_committed_example_config_is_valid() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../upbeat.toml")).unwrap();
    let config = Config::from_toml(&source, Vec::new(), &Overrides::default())
        .expect("example config is valid");
    assert!(config.services.len() >= 2);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(config.database.url, "sqlite://upbeat.db");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let issue = only_issue("[server]\nlisten = \"127.0.0.1:3000\"\nlisen = \"x\"\n");
    assert_eq!(issue.key, "server.lisen");
    assert_eq!(issue.line, Some(3));
    assert!(issue.message.contains("unknown field"), "{issue}");
}

#[test]
fn unknown_key_inside_a_check_is_named() {
    let toml = TWO_SERVICES.replace("url = \"/health\"", "url = \"/health\"\ntimeout_ms = 5");
    let issue = only_issue(&toml);
    assert_eq!(issue.key, "services[1].check.timeout_ms", "{issue}");
    assert!(issue.message.contains("timeout_ms"), "{issue}");
}

#[test]
fn relative_url_without_a_base_is_named_with_its_line() {
    let toml = TWO_SERVICES.replace("url = \"/health\"", "url = \"status.example.com/health\"");
    let issue = only_issue(&toml);
    assert_eq!(issue.key, "services[1].check.url");
    assert_eq!(issue.line, Some(14));
    assert!(
        issue.message.starts_with("relative URL without a base"),
        "{issue}"
    );
    assert_eq!(
        issue.to_string(),
        format!("services[1].check.url (line 14): {}", issue.message)
    );
}

#[test]
fn duplicate_slug_is_rejected() {
    let toml = TWO_SERVICES.replace("slug = \"web\"", "slug = \"api\"");
    let issue = only_issue(&toml);
    assert_eq!(issue.key, "services[1].slug");
    assert_eq!(issue.line, Some(10));
    assert!(issue.message.contains("duplicate slug \"api\""), "{issue}");
}

#[test]
fn intervals_under_a_second_are_rejected() {
    for interval in ["0", "\"500ms\""] {
        let toml = TWO_SERVICES.replace(
            "name = \"Web\"",
            &format!("name = \"Web\"\ninterval = {interval}"),
        );
        let issue = only_issue(&toml);
        assert_eq!(issue.key, "services[1].interval");
        assert_eq!(issue.line, Some(12));
        assert_eq!(
            issue.message,
            "must be at least 1s (samples are stored per second)"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = TWO_SERVICES
        .replace("slug = \"web\"", "slug = \"Web Site\"")
        .replace("http://127.0.0.1:9/health", "ftp://127.0.0.1/x");
    let keys: Vec<String> = issues(&toml).into_iter().map(|i| i.key).collect();
    assert_eq!(keys, ["services[0].check.url", "services[1].slug"]);
}

#[test]
fn malformed_toml_points_at_the_line() {
    let issue = only_issue("[page]\ntitle = \"unterminated\n");
    assert_eq!(issue.line, Some(2));
}

#[test]
fn bad_duration_names_the_key() {
    let toml = TWO_SERVICES.replace("name = \"Web\"", "name = \"Web\"\ninterval = \"soon\"");
    let issue = only_issue(&toml);
    assert_eq!(issue.key, "services[1].interval");
    assert!(issue.message.contains("invalid duration"), "{issue}");
}

#[test]
fn environment_overrides_any_key_and_flags_override_the_environment() {
    let env = vec![
        (
            "UPBEAT_SERVER__LISTEN".to_owned(),
            "127.0.0.1:4000".to_owned(),
        ),
        ("UPBEAT_PAGE__TITLE".to_owned(), "From env".to_owned()),
        (
            "UPBEAT_SERVICES__0__INTERVAL".to_owned(),
            "\"5s\"".to_owned(),
        ),
        (
            "UPBEAT_DEFAULTS__MAX_CONCURRENT_PROBES".to_owned(),
            "7".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let config = Config::from_toml(TWO_SERVICES, env.clone(), &Overrides::default()).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(config.page.title, "From env");
    assert_eq!(config.services[0].interval, Some(Duration::from_secs(5)));
    assert_eq!(config.defaults.max_concurrent_probes, 7);

    let flags = Overrides {
        listen: Some("127.0.0.1:5000".parse().unwrap()),
        database_url: Some("postgres://db/upbeat".into()),
    };
    let config = Config::from_toml(TWO_SERVICES, env, &flags).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:5000");
    assert_eq!(config.database.url, "postgres://db/upbeat");
}

#[test]
fn environment_override_of_a_missing_item_is_an_error() {
    let env = vec![("UPBEAT_SERVICES__5__NAME".to_owned(), "x".to_owned())];
    let err = Config::from_toml(TWO_SERVICES, env, &Overrides::default()).unwrap_err();
    assert_eq!(err[0].key, "env UPBEAT_SERVICES__5__NAME");
    assert!(err[0].message.contains("past the end"), "{}", err[0]);
}

#[test]
fn relative_check_urls_resolve_against_the_listen_address() {
    let config = Config::from_toml(TWO_SERVICES, Vec::new(), &Overrides::default()).unwrap();
    let url = upbeat::config::resolve_check_url("/health", &config.server.base_url()).unwrap();
    assert_eq!(url.as_str(), "http://127.0.0.1:3000/health");
}

#[test]
fn retention_defaults_to_90_days_and_rejects_less_than_an_hour() {
    let config = Config::from_toml(TWO_SERVICES, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(config.retention.samples, Duration::from_secs(90 * 86_400));
    let issue = only_issue(&format!("[retention]\nsamples = \"10m\"\n{TWO_SERVICES}"));
    assert_eq!(issue.key, "retention.samples");
    assert_eq!(issue.line, Some(2));
}

#[test]
fn page_branding_is_checked_key_by_key() {
    let good = format!(
        "[page]\ntitle = \"Acme\"\nlogo = \"/logo.svg\"\naccent = \"#ff0066\"\n\
         [[page.links]]\nlabel = \"Support\"\nurl = \"https://acme.example/support\"\n{TWO_SERVICES}"
    );
    let config = Config::from_toml(&good, Vec::new(), &Overrides::default()).expect("valid");
    assert_eq!(config.page.accent.as_deref(), Some("#ff0066"));
    assert_eq!(config.page.links[0].label, "Support");

    let bad = format!(
        "[page]\ntitle = \"Acme\"\nlogo = \"javascript:alert(1)\"\naccent = \"red;}}body{{\"\n\
         [[page.links]]\nlabel = \"\"\nurl = \"//evil.example\"\n{TWO_SERVICES}"
    );
    let mut keys: Vec<(String, Option<usize>)> =
        issues(&bad).into_iter().map(|i| (i.key, i.line)).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            ("page.accent".to_owned(), Some(4)),
            ("page.links[0].label".to_owned(), Some(6)),
            ("page.links[0].url".to_owned(), Some(7)),
            ("page.logo".to_owned(), Some(3)),
        ]
    );
}

#[test]
fn tracing_settings_name_their_key_and_line_or_their_variable() {
    let toml = "[tracing]\nendpoint = \"http://collector:4318\"\nprotocol = \"http/json\"\n";
    let issue = only_issue(toml);
    assert_eq!(issue.key, "tracing.protocol");
    assert_eq!(issue.line, Some(3));
    assert!(issue.message.contains("http/protobuf or grpc"), "{issue}");

    // The SDK's variables win over the file, and are named when wrong.
    let env = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned()),
        ("OTEL_TRACES_SAMPLER".to_owned(), "rarely".to_owned()),
    ];
    let issues = Config::from_toml(toml, env, &Overrides::default()).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].key, "OTEL_TRACES_SAMPLER");
    assert_eq!(issues[0].line, None);

    let config = Config::from_toml(
        toml,
        vec![("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned())],
        &Overrides::default(),
    )
    .unwrap();
    let traces = config.traces.expect("an endpoint: traces on");
    assert_eq!(traces.protocol, upbeat::config::traces::Protocol::Grpc);
    let none = Config::from_toml("", Vec::new(), &Overrides::default()).unwrap();
    assert!(none.traces.is_none(), "no endpoint: no traces");
}

/// `GET /api/v1/config`: the configuration the instance runs with,
/// defaults and environment overrides included, never a secret.
#[tokio::test]
async fn the_effective_configuration_is_served_to_admins_without_secrets() {
    const ADMIN: &str = "config-test-admin-token";
    let db = crate::helpers::TestDb::new(crate::helpers::Backend::Sqlite)
        .await
        .unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("pd");
    std::fs::write(&key_file, "pd-routing-key-123\n").unwrap();
    let toml = format!(
        r#"
[page]
title = "Acme"

[[services]]
slug = "api"
name = "API"
[services.check]
kind = "http"
url = "https://monitor:hunter2@api.example.com/health?token=tok-456"
headers = {{ Authorization = "Bearer header-789" }}

[[alerts.routes]]
name = "chat"
kind = "slack"
url = "https://hooks.slack.com/services/T000/B000/slack-secret-000"

[[alerts.routes]]
name = "oncall"
kind = "pagerduty"
routing_key_file = "{}"
"#,
        key_file.display()
    );
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: Some(db.url.clone()),
    };
    let env = vec![("UPBEAT_PAGE__TITLE".to_owned(), "Acme (env)".to_owned())];
    let mut config = Config::from_toml(&toml, env, &overrides).unwrap();
    config.admin_token = Some(upbeat::config::Secret(ADMIN.to_owned()));
    let app = crate::helpers::TestApp::spawn_config(config).await;

    let anonymous = app
        .client
        .get(app.url("/api/v1/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let answer = app
        .client
        .get(app.url("/api/v1/config"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    for secret in [
        "hunter2",
        "tok-456",
        "header-789",
        "slack-secret-000",
        "pd-routing-key-123",
        ADMIN,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let effective: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The environment's override, and defaults nobody wrote.
    assert_eq!(effective["page"]["title"], "Acme (env)");
    assert_eq!(effective["defaults"]["interval"], "1m");
    assert_eq!(effective["retention"]["samples"], "90d");
    // Unset, the pool's size is SQLite's default, not `null`.
    assert_eq!(effective["database"]["max_connections"], 4);
    let check = &effective["services"][0]["check"];
    assert_eq!(check["kind"], "http");
    assert_eq!(
        check["url"],
        "https://monitor:***@api.example.com/health?token=***"
    );
    assert_eq!(check["headers"]["Authorization"], "***");
    assert_eq!(
        effective["alerts"]["routes"][0]["url"],
        "https://hooks.slack.com/***"
    );
    // Where a secret comes from is shown; the secret is not.
    assert_eq!(
        effective["alerts"]["routes"][1]["routing_key_file"],
        key_file.display().to_string()
    );
    assert_eq!(effective["alerts"]["routes"][1]["cooldown"], "5m");
}
