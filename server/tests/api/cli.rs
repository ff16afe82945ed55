//! The `upbeat` binary itself: exit codes and messages.

use crate::helpers::upbeat;

const BAD: &str = r#"
[[services]]
slug = "api"
name = "API"
[services.check]
kind = "http"
url = "http://127.0.0.1:9/"

[[services]]
slug = "api"
name = "API again"
interval = 0
[services.check]
kind = "http"
url = "nohost/health"
"#;

#[test]
fn check_config_accepts_the_example_and_rejects_a_bad_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../upbeat.toml");
    let ok = upbeat().args(["check-config", example]).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK (4 services"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, BAD).unwrap();
    let out = upbeat().args(["check-config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 problems"), "{stderr}");
    assert!(
        stderr.contains("services[1].slug (line 10): duplicate slug \"api\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("services[1].interval (line 12): must be at least 1s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("services[1].check.url (line 15): relative URL without a base"),
        "{stderr}"
    );
}

#[test]
fn serve_with_a_bad_config_stops_before_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, BAD).unwrap();
    let db = dir.path().join("upbeat.db");
    let out = upbeat()
        .arg("--config")
        .arg(&bad)
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("services[1].slug"));
    assert!(
        !db.exists(),
        "a database was created despite the bad config"
    );
}

#[test]
fn an_explicit_config_file_that_does_not_exist_is_an_error() {
    let out = upbeat()
        .args(["--config", "/nonexistent/upbeat.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read file"));
}

#[test]
fn help_lists_every_command_and_flag() {
    let out = upbeat().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "check-config",
        "--config",
        "--listen",
        "--database",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let out = upbeat()
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../upbeat.toml"))
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(db.exists());
}

/// `upbeat token create`, `list` and `revoke` through the binary, and what
/// the API makes of the tokens.
#[tokio::test]
async fn token_commands_create_list_and_revoke_admin_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("tokens.db").display());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../upbeat.toml");
    let run = |args: &[&str]| {
        let out = upbeat()
            .arg("--config")
            .arg(config)
            .arg("--database")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, stdout, stderr) = run(&["token", "create", "--name", "deploy-bot"]);
    assert!(ok, "{stderr}");
    // The token alone on stdout, so scripts can capture it.
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("upb_") && token.len() == 68, "{stdout}");
    assert!(!stderr.contains(&token), "the token is printed once");

    // Names are never reused; bad names are refused with the reason.
    let (ok, _, stderr) = run(&["token", "create", "--name", "deploy-bot"]);
    assert!(!ok);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (ok, _, stderr) = run(&["token", "create", "--name", "two words"]);
    assert!(!ok);
    assert!(stderr.contains("name"), "{stderr}");

    // Only the hash is stored.
    let raw = std::fs::read(dir.path().join("tokens.db")).unwrap();
    assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));

    // The token works against the API, and its name is recorded.
    let app = crate::helpers::TestApp::spawn(&std::fs::read_to_string(config).unwrap(), &db).await;
    let incidents = app.url("/api/v1/incidents");
    let create = || {
        app.client
            .post(&incidents)
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": "t", "body": "b"}))
            .send()
    };
    assert_eq!(create().await.unwrap().status(), 201);
    let log: serde_json::Value = app
        .client
        .get(app.url("/api/v1/audit-log"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["actor"], "deploy-bot");

    let (ok, stdout, stderr) = run(&["token", "list"]);
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("deploy-bot"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(!line.contains(&token));
    assert_eq!(
        line.split_whitespace().count(),
        7,
        "role, created and last used, not revoked: {line}"
    );

    let (ok, _, stderr) = run(&["token", "revoke", "deploy-bot"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&["token", "revoke", "deploy-bot"]);
    assert!(!ok, "revoking twice is an error");
    assert!(stderr.contains("no active token"), "{stderr}");
    assert_eq!(create().await.unwrap().status(), 401);
    let (_, stdout, _) = run(&["token", "list"]);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("deploy-bot"))
        .unwrap();
    assert_eq!(line.split_whitespace().count(), 8, "revoked now: {line}");
    assert!(line.contains(" admin "), "the default role: {line}");
    app.stop().await;
}

#[tokio::test]
async fn user_commands_create_list_change_disable_and_reset_users() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("users.db").display());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../upbeat.toml");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = upbeat()
            .arg("--config")
            .arg(config)
            .arg("--database")
            .arg(&db)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let password = "a long enough passphrase";
    let (ok, _, stderr) = run(
        &[
            "user",
            "create",
            "--name",
            "alice",
            "--role",
            "editor",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(ok, "{stderr}");
    assert!(!stderr.contains(password));
    let (ok, _, stderr) = run(
        &[
            "user",
            "create",
            "--name",
            "bob",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!ok);
    assert!(
        stderr.contains("password: must be at least 12 characters"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(
        &["user", "create", "--name", "bob", "--role", "owner"],
        None,
    );
    assert!(!ok);
    assert!(stderr.contains("viewer, editor or admin"), "{stderr}");
    // Without a password: a one-time link, alone on stdout.
    let (ok, stdout, stderr) = run(
        &["user", "create", "--name", "bob", "--role", "viewer"],
        None,
    );
    assert!(ok, "{stderr}");
    let link = stdout.trim().to_owned();
    assert!(link.contains("/admin/password/"), "{stdout}");
    let (ok, _, stderr) = run(
        &["user", "create", "--name", "alice", "--role", "admin"],
        None,
    );
    assert!(!ok && stderr.contains("already exists"), "{stderr}");

    let raw = std::fs::read(dir.path().join("users.db")).unwrap();
    assert!(!raw
        .windows(password.len())
        .any(|w| w == password.as_bytes()));

    assert!(run(&["user", "set-role", "bob", "admin"], None).0);
    assert!(!run(&["user", "set-role", "carol", "admin"], None).0);
    let (ok, stdout, _) = run(&["user", "list"], None);
    assert!(ok);
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("alice").contains("editor") && line("alice").contains(" set "),
        "{stdout}"
    );
    assert!(
        line("bob").contains("admin") && line("bob").contains("not set"),
        "{stdout}"
    );

    // The password works in the console until it is reset.
    let app = crate::helpers::TestApp::spawn(&std::fs::read_to_string(config).unwrap(), &db).await;
    let sign_in = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(app.url("/admin/login"))
            .form(&[("name", "alice"), ("password", password)])
            .send()
    };
    assert_eq!(sign_in().await.unwrap().status(), 303);
    let (ok, stdout, stderr) = run(&["user", "reset-password", "alice"], None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("/admin/password/"));
    assert_eq!(
        sign_in().await.unwrap().status(),
        401,
        "the old password is gone"
    );
    assert!(run(&["user", "disable", "bob"], None).0);
    let (ok, _, stderr) = run(&["user", "disable", "bob"], None);
    assert!(!ok && stderr.contains("no enabled user"), "{stderr}");
    app.stop().await;
}

/// Alert routes are checked by `check-config`: a missing secret variable,
/// an unknown kind and a bad glob are each named by key and line, and a
/// set secret never appears in the output.
#[test]
fn check_config_names_bad_alert_routes_and_never_prints_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.toml");
    std::fs::write(
        &file,
        "[[alerts.routes]]\nname = \"oncall\"\nkind = \"pagerduty\"\nrouting_key_env = \"UPBEAT_TEST_PD_KEY\"\n\
         [[alerts.routes]]\nname = \"chat\"\nkind = \"slack\"\nurl = \"https://hooks.slack.example/x\"\nservices = [\"api-[\"]\n",
    )
    .unwrap();
    let out = upbeat().args(["check-config"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(
        stderr.contains(
            "alerts.routes[0].routing_key_env (line 4): environment variable UPBEAT_TEST_PD_KEY is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("alerts.routes[1].services[0] (line 9): bad glob"),
        "{stderr}"
    );

    let secret = "0123456789abcdef0123456789abcdef";
    std::fs::write(
        &file,
        "[[alerts.routes]]\nname = \"oncall\"\nkind = \"pagerduty\"\nrouting_key_env = \"UPBEAT_TEST_PD_KEY\"\n",
    )
    .unwrap();
    let out = upbeat()
        .env("UPBEAT_TEST_PD_KEY", secret)
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(secret), "{all}");
}

/// A secret never reaches the logs: a PagerDuty route whose receiver
/// answers 400 echoing the request (routing key included) logs the failure
/// with the key masked, and the history stores it masked.
#[tokio::test]
async fn a_route_secret_never_reaches_the_log_even_when_a_receiver_echoes_it() {
    let key = "f00dfeedf00dfeedf00dfeedf00dfeed";
    let target = crate::helpers::Target::start(503).await;
    let pd = crate::alerts::Receiver::start(vec![(400, None)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("upbeat.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nfailure_threshold = 1\n\
             [[services]]\nslug = \"api\"\nname = \"API\"\ninterval = \"1s\"\n\
             [services.check]\nkind = \"http\"\nurl = \"{}\"\n\
             [[alerts.routes]]\nname = \"oncall\"\nkind = \"pagerduty\"\nurl = \"{}/v2/enqueue\"\n\
             routing_key_env = \"UPBEAT_TEST_ROUTING_KEY\"\n",
            target.url(),
            pd.url
        ),
    )
    .unwrap();
    let log = dir.path().join("upbeat.log");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let db = format!("sqlite://{}", dir.path().join("upbeat.db").display());
    let mut child = upbeat()
        .arg("--config")
        .arg(&config)
        .args(["--listen", &addr.to_string(), "--database", &db, "serve"])
        .env("UPBEAT_TEST_ROUTING_KEY", key)
        .env(
            "RUST_LOG",
            "debug,sqlx=warn,hyper=warn,reqwest=warn,h2=warn",
        )
        .env("UPBEAT_SERVER__SITE_ROOT", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let got = pd.wait_for(1, std::time::Duration::from_secs(20)).await;
    assert!(
        String::from_utf8_lossy(&got[0].body).contains(key),
        "the request carries the key"
    );
    // The failure is logged (and stored) once the answer is read.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("alert delivery failed for good") {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!text.contains(key), "the key in the log:\n{text}");
    assert!(text.contains("***"), "{text}");
    // A log file gets plain text: no colour escapes.
    assert!(
        !text.contains('\u{1b}'),
        "colour escapes in a file:\n{text}"
    );
    let store = upbeat::store::connect(&db, 1).await.unwrap();
    let history = store
        .alert_history(&upbeat::store::AlertHistoryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = format!("{history:?}");
    assert!(!stored.contains(key), "{stored}");
    assert!(stored.contains("status 400"), "{stored}");
    store.close().await;
}
