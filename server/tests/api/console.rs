//! The console over HTTP, as a browser without JavaScript uses it: sign
//! in, post forms, follow redirects. (Chromium drives it in `end2end/`.)

use std::time::Instant;

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{redirect, StatusCode};
use serde_json::Value;
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::people::Role;
use upbeat::password::hash_password;
use upbeat::store;

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb};

const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

const TEMPLATES: &str = r#"
[[incident_templates]]
name = "Elevated errors"
title = "Elevated error rates"
body = "We are **investigating** elevated error rates."
impact = "major"
"#;

struct Console {
    app: TestApp,
    db: TestDb,
    _target: Target,
    http: reqwest::Client,
}

impl Console {
    async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let target = Target::start(200).await;
        let toml = format!("{}{TEMPLATES}", one_service_config(&target.url(), "1s"));
        let app = TestApp::spawn(&toml, &db.url).await;
        app.wait_for_service("target", WAIT, |s| s["status"] == "operational")
            .await;
        let store = store::connect(&db.url, 1).await.unwrap();
        for (name, role) in [
            ("erin", Role::Editor),
            ("vic", Role::Viewer),
            ("ada", Role::Admin),
        ] {
            let hash = hash_password(&format!("{name}-password-long"));
            store
                .create_user(name, role, Some(&hash), "cli", SystemClock.now())
                .await
                .unwrap()
                .unwrap();
        }
        store.close().await;
        let http = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Some(Self {
            app,
            db,
            _target: target,
            http,
        })
    }

    fn origin(&self) -> String {
        self.app.url("").trim_end_matches('/').to_owned()
    }

    /// Signs in; the session cookie (`name=value`).
    async fn sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.app.url("/admin/login"))
            .header(ORIGIN, self.origin())
            .form(&[
                ("name", name),
                ("password", password),
                ("next", "/admin/incidents"),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn session(&self, name: &str) -> String {
        let response = self.sign_in(name, &format!("{name}-password-long")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/admin/incidents");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, cookie: &str, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(self.app.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// The CSRF token in a page's forms.
    async fn csrf(&self, cookie: &str) -> String {
        let (_, page) = self.get(cookie, "/admin").await;
        let at = page
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        page[at..at + 64].to_owned()
    }

    async fn post(
        &self,
        cookie: &str,
        path: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(self.app.url(path))
            .header(COOKIE, cookie)
            .form(form);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send().await.unwrap()
    }
}

async fn an_editor_runs_an_incident_without_javascript(backend: Backend) {
    let Some(c) = Console::start(backend).await else {
        return;
    };
    // Not signed in: to the sign-in page, and back afterwards.
    let response = c
        .http
        .get(c.app.url("/admin/incidents/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/admin/login?next=%2Fadmin%2Fincidents%2Fnew"
    );

    let cookie = c.session("erin").await;
    let csrf = c.csrf(&cookie).await;
    let origin = c.origin();
    // The template fills the form.
    let (status, form) = c
        .get(&cookie, "/admin/incidents/new?template=Elevated+errors")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"Elevated error rates\""), "{form}");
    assert!(
        form.contains("<option value=\"major\" selected>"),
        "the template's impact"
    );

    // A bad post shows the error next to its field, with what was typed.
    let response = c
        .post(
            &cookie,
            "/admin/incidents",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("title", " "),
                ("body", "Typed <b>text</b>"),
                ("intent", "create"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"title-error\""), "{page}");
    assert!(page.contains("aria-describedby=\"title-error\""));
    assert!(
        page.contains("Typed &lt;b&gt;text&lt;/b&gt;"),
        "escaped, kept"
    );

    // The preview is the page's sanitiser's output.
    let response = c
        .post(
            &cookie,
            "/admin/preview",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("body", "**bold** <script>alert(1)</script>"),
            ],
        )
        .await;
    let preview = response.text().await.unwrap();
    assert!(
        preview.contains("<strong>bold</strong>") && !preview.contains("<script"),
        "{preview}"
    );

    let response = c
        .post(
            &cookie,
            "/admin/incidents",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("title", "Elevated error rates"),
                ("status", "investigating"),
                ("impact", "major"),
                ("service.target", "partial_outage"),
                ("body", "We are investigating."),
                ("intent", "create"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();

    // On the page and in the Statuspage API at once.
    let unresolved: Value = reqwest::get(c.app.url("/api/v2/incidents/unresolved.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        unresolved["incidents"][0]["name"], "Elevated error rates",
        "{unresolved}"
    );
    let home = reqwest::get(c.app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Elevated error rates"));

    let response = c
        .post(
            &cookie,
            &format!("/admin/incidents/{id}/updates"),
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("status", "identified"),
                ("body", "A bad deploy."),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = c
        .post(
            &cookie,
            &format!("/admin/incidents/{id}/updates"),
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("status", "resolved"),
                ("body", "Rolled back."),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, detail) = c.get(&cookie, &location).await;
    for text in ["A bad deploy.", "Rolled back.", "Resolved"] {
        assert!(detail.contains(text), "{text}");
    }
    let unresolved: Value = reqwest::get(c.app.url("/api/v2/incidents/unresolved.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unresolved["incidents"].as_array().unwrap().len(), 0);

    // The list filters by status, by who opened it and by title.
    for (query, listed) in [
        ("", false),
        ("?status=all&q=ELEVATED", true),
        ("?status=resolved&by=admin", true),
        ("?status=all&by=auto", false),
        ("?status=all&q=checkout", false),
    ] {
        let (_, list) = c.get(&cookie, &format!("/admin/incidents{query}")).await;
        assert_eq!(list.contains("Elevated error rates"), listed, "{query}");
    }

    // The audit log names the user.
    let (_, audit) = c.get(&cookie, "/admin/audit?actor=erin").await;
    for action in ["incident.created", "incident.updated", "user.signed_in"] {
        assert!(audit.contains(action), "{action}");
    }

    // Sign out ends the session everywhere.
    let response = c
        .post(&cookie, "/admin/logout", Some(&origin), &[("csrf", &csrf)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = c.get(&cookie, "/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    c.app.stop().await;
    drop(c.db);
}

#[tokio::test]
async fn sqlite_an_editor_runs_an_incident_without_javascript() {
    an_editor_runs_an_incident_without_javascript(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_an_editor_runs_an_incident_without_javascript() {
    an_editor_runs_an_incident_without_javascript(Backend::Postgres).await;
}

#[tokio::test]
async fn viewers_forged_posts_and_disabled_users_are_refused() {
    let c = Console::start(Backend::Sqlite).await.unwrap();
    let origin = c.origin();
    let viewer = c.session("vic").await;
    let csrf = c.csrf(&viewer).await;
    let (_, page) = c.get(&viewer, "/admin/incidents").await;
    assert!(!page.contains("New incident"), "no button for a viewer");
    let (status, _) = c.get(&viewer, "/admin/incidents/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let response = c
        .post(
            &viewer,
            "/admin/incidents",
            Some(&origin),
            &[("csrf", &csrf), ("title", "t"), ("body", "b")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = c.get(&viewer, "/admin/people").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "users and tokens are for admins"
    );

    // A cross-site post, or one without the session's token, is refused.
    let editor = c.session("erin").await;
    let csrf = c.csrf(&editor).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("title", "Forged"),
        ("body", "b"),
        ("intent", "create"),
    ];
    let response = c
        .post(
            &editor,
            "/admin/incidents",
            Some("https://evil.example"),
            &form,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let wrong = [
        ("csrf", "0".repeat(64).as_str()),
        ("title", "Forged"),
        ("body", "b"),
        ("intent", "create"),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = c
        .post(&editor, "/admin/incidents", Some(&origin), &wrong)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = c
        .http
        .post(c.app.url("/admin/login"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("name", "erin"), ("password", "erin-password-long")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "login CSRF");
    let incidents: Value = reqwest::get(c.app.url("/api/v2/incidents.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        incidents["incidents"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    // Signing in again from the same browser ends its earlier session.
    let again = c
        .http
        .post(c.app.url("/admin/login"))
        .header(ORIGIN, &origin)
        .header(COOKIE, &editor)
        .form(&[("name", "erin"), ("password", "erin-password-long")])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let fresh = again.headers()[SET_COOKIE].to_str().unwrap();
    let fresh = fresh.split(';').next().unwrap().to_owned();
    assert_ne!(fresh, editor);
    let (status, _) = c.get(&editor, "/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the earlier session ended");
    let editor = fresh;

    // Disabled: the next request is signed out.
    let (status, _) = c.get(&editor, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    let store = store::connect(&c.db.url, 1).await.unwrap();
    assert!(store
        .disable_user("erin", "cli", SystemClock.now())
        .await
        .unwrap());
    store.close().await;
    let (status, _) = c.get(&editor, "/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let response = c.sign_in("erin", "erin-password-long").await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot sign in"
    );
    c.app.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_name_nobody_and_are_limited() {
    let c = Console::start(Backend::Sqlite).await.unwrap();
    // Warm the dummy hash up, so the first unknown name is not slower.
    let _ = c.sign_in("nobody", "whatever-password").await;
    let mut answers = Vec::new();
    for (name, password) in [
        ("nobody", "erin-password-long"),
        ("erin", "wrong-password-x"),
    ] {
        let started = Instant::now();
        let response = c.sign_in(name, password).await;
        let took = started.elapsed();
        let status = response.status();
        let page = response.text().await.unwrap();
        assert!(page.contains("The name or the password is wrong."));
        answers.push((status, took, page.replace(name, "NAME")));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(answers[0].0, answers[1].0);
    assert_eq!(answers[0].2, answers[1].2, "the same page for both");
    let (a, b) = (answers[0].1.as_secs_f64(), answers[1].1.as_secs_f64());
    assert!(
        a.max(b) < 4.0 * a.min(b),
        "similar times: {a:.3} s and {b:.3} s (both verify a hash)"
    );

    // Ten failures for one name: that name waits, from any address.
    for _ in 0..10 {
        assert_eq!(
            c.sign_in("ada", "wrong-password-x").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = c.sign_in("ada", "ada-password-long").await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(limited.headers().contains_key("retry-after"));
    let metrics = reqwest::get(c.app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| {
        let series = format!("upbeat_console_sign_ins_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("{series} in\n{metrics}"))
            .parse::<u64>()
            .unwrap()
    };
    // The recorder is the process's: other tests add to it too.
    assert!(
        count("failure") >= 13,
        "3 before the limit test and 10 in it"
    );
    assert!(count("limited") >= 1, "one refused");
    c.app.stop().await;
}

/// Sessions live in the database: a session made on one replica works on
/// another, and signing out on one ends it on both.
#[tokio::test]
async fn postgres_replicas_share_sessions() {
    let Some(c) = Console::start(Backend::Postgres).await else {
        return;
    };
    let target = Target::start(200).await;
    let other = TestApp::spawn(&one_service_config(&target.url(), "1s"), &c.db.url).await;
    let cookie = c.session("erin").await;
    let on_other = |path: &'static str| {
        let request = c.http.get(other.url(path)).header(COOKIE, cookie.clone());
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        on_other("/admin").await,
        StatusCode::OK,
        "signed in on the other replica"
    );
    let csrf = c.csrf(&cookie).await;
    let response = c
        .http
        .post(other.url("/admin/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, other.url("").trim_end_matches('/'))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = c.get(&cookie, "/admin").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "signed out on the first replica too"
    );
    other.stop().await;
    c.app.stop().await;
}

#[tokio::test]
async fn maintenance_and_people_are_run_from_the_console() {
    let c = Console::start(Backend::Sqlite).await.unwrap();
    let origin = c.origin();
    let editor = c.session("erin").await;
    let csrf = c.csrf(&editor).await;
    let window = [
        ("csrf", csrf.as_str()),
        ("title", "Database upgrade"),
        ("starts_at", "2030-01-07T02:00"),
        ("ends_at", "2030-01-07T03:00"),
        ("recurrence", "FREQ=WEEKLY;COUNT=6"),
        ("services", "target"),
    ];
    // The server previews the next five occurrences.
    let mut preview = window.to_vec();
    preview.push(("intent", "preview"));
    let page = c
        .post(&editor, "/admin/maintenance", Some(&origin), &preview)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let starts: Vec<_> = [
        "2030-01-07",
        "2030-01-14",
        "2030-01-21",
        "2030-01-28",
        "2030-02-04",
    ]
    .into_iter()
    .map(|day| page.contains(&format!("{day} 02:00 UTC")))
    .collect();
    assert_eq!(starts, [true; 5], "{page}");
    assert!(!page.contains("2030-02-11"), "five, not six");
    // A bad rule is named next to its field.
    let mut bad = window.to_vec();
    bad[4] = ("recurrence", "FREQ=HOURLY");
    bad.push(("intent", "create"));
    let response = c
        .post(&editor, "/admin/maintenance", Some(&origin), &bad)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("id=\"recurrence-error\""));
    let mut create = window.to_vec();
    create.push(("intent", "create"));
    let response = c
        .post(&editor, "/admin/maintenance", Some(&origin), &create)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let status: Value = reqwest::get(c.app.url("/public/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["maintenances"][0]["title"], "Database upgrade",
        "{status}"
    );
    let response = c
        .post(
            &editor,
            &format!("{location}/cancel"),
            Some(&origin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let status: Value = reqwest::get(c.app.url("/public/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["maintenances"].as_array().unwrap().len(), 0);

    // An admin adds a user (a one-time link, once), changes a role, makes a token.
    let admin = c.session("ada").await;
    let csrf = c.csrf(&admin).await;
    let page = c
        .post(
            &admin,
            "/admin/people/users",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("name", "newbie"),
                ("role", "viewer"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let at = page.find("/admin/password/").expect("a password link");
    let link = page[at..at + 16 + 64].to_owned();
    let (status, form) = c.get("", &link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("Set a password for newbie"));
    let set = c
        .http
        .post(c.app.url(&link))
        .header(ORIGIN, &origin)
        .form(&[
            ("password", "newbie-password-long"),
            ("confirm", "newbie-password-long"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        c.sign_in("newbie", "newbie-password-long").await.status(),
        StatusCode::SEE_OTHER
    );
    let (status, _) = c.get("", &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a link works once");

    let page = c
        .post(
            &admin,
            "/admin/people/users",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "role"),
                ("name", "newbie"),
                ("role", "editor"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("&quot;newbie&quot; is now editor"), "{page}");
    let page = c
        .post(
            &admin,
            "/admin/people/tokens",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("name", "newbie"),
                ("role", "viewer"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"token-name-error\""),
        "a user has the name: {page}"
    );
    let page = c
        .post(
            &admin,
            "/admin/people/tokens",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("name", "ci"),
                ("role", "viewer"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let at = page.find("upb_").expect("the secret, once");
    let token = page[at..at + 68].to_owned();
    let (status, _) = c.get(&admin, "/admin/people").await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = c.get(&admin, "/admin/people").await;
    assert!(!again.contains(&token), "shown once");
    let answer = c
        .http
        .get(c.app.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "the viewer token reads");
    let (_, audit) = c.get(&admin, "/admin/audit?action=user.").await;
    for text in [
        "user.created",
        "user.role_changed",
        "user.password_set",
        "newbie: viewer → editor",
    ] {
        assert!(audit.contains(text), "{text}");
    }
    c.app.stop().await;
}

/// Subscribers from the console: admins only; counts, a webhook added
/// (its secret shown once), an import with its bad line named next to the
/// file field, search, removal, export, all audited; forged posts refused.
#[tokio::test]
async fn subscribers_are_run_from_the_console() {
    let c = Console::start(Backend::Sqlite).await.unwrap();
    let origin = c.origin();
    for name in ["vic", "erin"] {
        let session = c.session(name).await;
        let (status, _) = c.get(&session, "/admin/subscribers").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (status, _) = c.get(&session, "/admin/subscribers/export.csv").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
    let admin = c.session("ada").await;
    let (status, page) = c.get(&admin, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"href="/admin/subscribers""#),
        "in the navigation"
    );
    let csrf = c.csrf(&admin).await;

    // A webhook destination; its secret is shown once.
    let added = c
        .post(
            &admin,
            "/admin/subscribers",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "add"),
                ("kind", "webhook"),
                ("address", "https://hooks.example.com/status"),
                ("services", "target"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let page = added.text().await.unwrap();
    assert!(
        page.contains("shown once") && page.contains("whsec_"),
        "{page}"
    );
    // A bad URL: the error next to the field.
    let refused = c
        .post(
            &admin,
            "/admin/subscribers",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("action", "add"),
                ("kind", "slack"),
                ("address", "ftp://x"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains(
            r#"<p class="field-error" id="address-error">address must be an https URL</p>"#
        ),
        "{page}"
    );
    // Forged: no token, or from another site.
    let forged = c
        .post(
            &admin,
            "/admin/subscribers",
            Some(&origin),
            &[("action", "remove"), ("id", "1")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = c
        .post(
            &admin,
            "/admin/subscribers",
            Some("https://evil.example"),
            &[("csrf", &csrf), ("action", "remove"), ("id", "1")],
        )
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // Import: a bad line refuses the file and is named.
    let upload = |csv: &'static str, token: String| {
        let form = reqwest::multipart::Form::new().text("csrf", token).part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes()).file_name("list.csv"),
        );
        c.http
            .post(c.app.url("/admin/subscribers/import"))
            .header(COOKIE, admin.as_str())
            .header(ORIGIN, origin.as_str())
            .multipart(form)
            .send()
    };
    let bad = upload("email\ncarol@example.com\nnot-an-address\n", csrf.clone())
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.unwrap();
    assert!(
        page.contains(r#"id="file-error""#) && page.contains("line 3: email"),
        "{page}"
    );
    let good = upload(
        "email,services\ncarol@example.com,\ndave@example.com,target\n",
        csrf.clone(),
    )
    .await
    .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    assert!(good
        .text()
        .await
        .unwrap()
        .contains("2 added, 0 already subscribed"));
    let forged = upload("email\neve@example.com\n", "0".repeat(64))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Counts and search.
    let (_, page) = c.get(&admin, "/admin/subscribers").await;
    assert!(
        page.contains("<dt>Confirmed</dt><dd>3 (2 email, 1 webhook)"),
        "{page}"
    );
    let (_, found) = c.get(&admin, "/admin/subscribers?q=CAROL").await;
    assert!(
        found.contains("carol@example.com") && !found.contains("dave@example.com"),
        "{found}"
    );
    let at = found.find(r#"name="id" value=""#).unwrap() + 17;
    let id: String = found[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();

    // Export, then remove.
    let response = c
        .http
        .get(c.app.url("/admin/subscribers/export.csv"))
        .header(COOKIE, admin.as_str())
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let removed = c
        .post(
            &admin,
            "/admin/subscribers",
            Some(&origin),
            &[("csrf", &csrf), ("action", "remove"), ("id", &id)],
        )
        .await;
    assert!(removed
        .text()
        .await
        .unwrap()
        .contains("carol@example.com is removed and deleted."));
    let (_, audit) = c.get(&admin, "/admin/audit?action=subscriber.").await;
    for action in [
        "subscriber.added",
        "subscriber.imported",
        "subscriber.exported",
        "subscriber.removed",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
    c.app.stop().await;
}

/// "Do not notify subscribers" on the console's forms: the change is
/// stored and alerted as usual, but no subscriber will be told of it (its
/// event is written already fanned out).
#[tokio::test]
async fn console_changes_can_skip_subscribers() {
    use upbeat::domain::subscribers::FAN_OUT_WITHIN;
    let c = Console::start(Backend::Sqlite).await.unwrap();
    let origin = c.origin();
    let editor = c.session("erin").await;
    let csrf = c.csrf(&editor).await;
    let store = store::connect(&c.db.url, 1).await.unwrap();
    // What a fan-out would now send: (events, deliveries).
    let waiting = || async {
        let now = SystemClock.now();
        store
            .fan_out_to_subscribers(100, now, now - FAN_OUT_WITHIN, None)
            .await
            .unwrap()
            .0
    };
    waiting().await;
    let quiet = c
        .post(
            &editor,
            "/admin/incidents",
            Some(&origin),
            &[
                ("csrf", &csrf),
                ("title", "Typo fix"),
                ("body", "Quietly."),
                ("quiet", "on"),
                ("intent", "create"),
            ],
        )
        .await;
    assert_eq!(quiet.status(), StatusCode::SEE_OTHER);
    let incident = quiet.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        waiting().await,
        0,
        "a quiet new incident waits for no fan-out"
    );
    let update = |quiet: bool| {
        let mut form = vec![("csrf", csrf.as_str()), ("body", "More.")];
        if quiet {
            form.push(("quiet", "on"));
        }
        let path = format!("{incident}/updates");
        let (c, editor, origin) = (&c, &editor, &origin);
        async move { c.post(editor, &path, Some(origin), &form).await.status() }
    };
    assert_eq!(update(true).await, StatusCode::SEE_OTHER);
    assert_eq!(waiting().await, 0, "a quiet update neither");
    assert_eq!(update(false).await, StatusCode::SEE_OTHER);
    assert_eq!(waiting().await, 1, "an ordinary update waits to be sent");
    let (_, page) = c.get(&editor, &incident).await;
    assert!(
        page.contains(r#"name="quiet""#),
        "the update form has the box"
    );
    let (_, page) = c.get(&editor, "/admin/maintenance/new").await;
    assert!(page.contains(r#"name="quiet""#), "and the maintenance form");
    store.close().await;
    c.app.stop().await;
}
