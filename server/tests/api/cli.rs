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
