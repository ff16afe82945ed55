//! Shared test fixtures: databases on both backends, a controllable local
//! HTTP target, and the real application on an ephemeral port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use upbeat::clock::SharedClock;
use upbeat::config::{Config, Overrides, Secret};
use upbeat::startup::{Application, Instance};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which database a test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
    pg: Option<(String, String)>, // (admin url, database name)
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is unreachable outside CI.
    /// With `CI=true` an unreachable PostgreSQL fails the test.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("upbeat.db").display());
                Some(Self {
                    url,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = std::env::var("UPBEAT_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
                let mut conn = match PgConnection::connect(&admin).await {
                    Ok(conn) => conn,
                    Err(err) => {
                        if std::env::var("CI").is_ok_and(|v| v == "true") {
                            panic!("PostgreSQL unreachable at {admin} and CI=true: {err}");
                        }
                        // Straight to the stderr handle: the test harness
                        // captures eprintln! of passing tests, and this must be seen.
                        use std::io::Write as _;
                        let _ = writeln!(
                            std::io::stderr(),
                            "\n#####################################################################\n\
                             ## SKIPPED: PostgreSQL unreachable at {admin}: {err}\n\
                             ## (set CI=true to make this a failure)\n\
                             #####################################################################\n"
                        );
                        return None;
                    }
                };
                let name = format!("upbeat_test_{:016x}", rand::random::<u64>());
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&admin).expect("admin url");
                url.set_path(&name);
                Some(Self {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside async context: use a private runtime on a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let _ = conn
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A local HTTP server whose answer a test can change.
pub struct Target {
    pub addr: SocketAddr,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicU64>,
}

impl Target {
    pub async fn start(status: u16) -> Self {
        let shared = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(AtomicU64::new(0));
        let handler_status = Arc::clone(&shared);
        let handler_hits = Arc::clone(&hits);
        let app = axum::Router::new().fallback(move || {
            handler_hits.fetch_add(1, Ordering::SeqCst);
            let status = handler_status.load(Ordering::SeqCst);
            async move { (StatusCode::from_u16(status).expect("status"), "target") }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind target");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            status: shared,
            hits,
        }
    }

    /// Requests served so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// A TCP port that accepts connections and never answers.
pub async fn silent_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// The real application, serving on an ephemeral port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts Upbeat with `toml` as its config file, listening on port 0.
    pub async fn spawn(toml: &str, database_url: &str) -> Self {
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            database_url: Some(database_url.to_owned()),
        };
        let config = Config::from_toml(toml, Vec::new(), &overrides).expect("valid test config");
        Self::spawn_config(config).await
    }

    pub async fn spawn_config(config: Config) -> Self {
        let app = Application::build(config)
            .await
            .expect("application builds");
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Status, headers and body of `GET path`.
    pub async fn get_full(
        &self,
        path: &str,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("body"))
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// Polls `/public/status?service={slug}` (its page's document, at any
    /// page size) until `pred` holds for the service `slug`.
    pub async fn wait_for_service(
        &self,
        slug: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self
                .get_json(&format!("/public/status?service={slug}"))
                .await;
            let service = status["services"]
                .as_array()
                .and_then(|list| list.iter().find(|s| s["slug"] == slug))
                .cloned()
                .unwrap_or_else(|| panic!("service {slug} missing from {status}"));
            if pred(&service) {
                return service;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "service {slug} never matched; last: {service}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Triggers a graceful shutdown and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("app task").expect("clean shutdown");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Upbeat without a socket: requests go straight into the router with
/// `tower::ServiceExt::oneshot`, and the time comes from the given clock.
/// For what needs no network: validation, authentication, the audit log.
pub struct TestRouter {
    router: axum::Router,
    instance: Option<Instance>,
    /// Dropped last: the database outlives the instance using it.
    _db: TestDb,
}

/// The bootstrap admin token of [`TestRouter`]s.
pub const ROUTER_TOKEN: &str = "router-bootstrap-token";

/// An answer: status, headers, and the body as JSON (`Null` if it is not).
pub type Answer = (StatusCode, axum::http::HeaderMap, serde_json::Value);

impl TestRouter {
    /// Starts on `backend` with one HTTP service `target` that is probed
    /// once an hour (at a port nobody listens on: it only has to exist).
    pub async fn start(backend: Backend, clock: SharedClock) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            database_url: Some(db.url.clone()),
        };
        let toml = one_service_config("http://127.0.0.1:9/", "1h");
        let mut config = Config::from_toml(&toml, Vec::new(), &overrides).expect("valid config");
        config.admin_token = Some(Secret(ROUTER_TOKEN.to_owned()));
        let instance = Instance::start(config, clock)
            .await
            .expect("instance starts");
        Some(Self {
            router: instance.router(),
            instance: Some(instance),
            _db: db,
        })
    }

    /// `method path` with the bootstrap token, an optional
    /// `Idempotency-Key` and an optional raw JSON body.
    pub async fn send(
        &self,
        method: axum::http::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ROUTER_TOKEN}"));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_owned())),
            None => request.body(axum::body::Body::empty()),
        }
        .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (parts.status, parts.headers, json)
    }

    /// [`Self::send`] with a JSON value as the body.
    pub async fn call(
        &self,
        method: axum::http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let body = body.map(|b| b.to_string());
        let (status, _, json) = self.send(method, path, None, body.as_deref()).await;
        (status, json)
    }

    /// Stops the engine and closes the database.
    pub async fn stop(mut self) {
        if let Some(instance) = self.instance.take() {
            instance.stop().await.expect("clean stop");
        }
    }
}

/// A config with one HTTP service probing `url` every `interval`.
pub fn one_service_config(url: &str, interval: &str) -> String {
    format!(
        r#"
[page]
title = "Test status"

[defaults]
timeout = "2s"

[[services]]
slug = "target"
name = "Target"
interval = "{interval}"
[services.check]
kind = "http"
url = "{url}"
"#
    )
}

/// The `upbeat` binary, without the developer's `UPBEAT_*` environment.
pub fn upbeat() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_upbeat"));
    for (key, _) in std::env::vars() {
        if key.starts_with("UPBEAT_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The nonce of a Content-Security-Policy header.
pub fn csp_nonce(headers: &reqwest::header::HeaderMap) -> String {
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    csp.split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_owned()
}

/// `body` decompressed from `coding` (`br` or `gzip`), as text.
pub fn decompress(coding: &str, body: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    match coding {
        "br" => brotli::Decompressor::new(body, 4096).read_to_string(&mut out),
        "gzip" => flate2::read::GzDecoder::new(body).read_to_string(&mut out),
        other => panic!("unknown coding {other}"),
    }
    .expect("decompresses");
    out
}

/// The contents of the inline `<tag>` elements of `html`, each with its
/// start tag.
pub fn inline_elements<'a>(html: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at..];
        let start_end = after.find('>').expect("start tag ends");
        let start_tag = &after[..=start_end];
        let body = &after[start_end + 1..];
        let end = body.find(&close).expect("element closes");
        if start_tag[open.len()..].starts_with([' ', '>']) && !start_tag.contains(" src=") {
            found.push((start_tag, &body[..end]));
        }
        rest = &body[end..];
    }
    found
}

/// The CSP source (`'sha256-…'`) allowing an inline element with `content`.
pub fn hash_source(content: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(content))
    )
}

/// Asserts that the page's Content-Security-Policy allows each of its inline
/// scripts and styles, either by the nonce the element carries or by the
/// SHA-256 of its content, and returns how many there are.
pub fn assert_inline_allowed(headers: &reqwest::header::HeaderMap, html: &str) -> usize {
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {csp}"))
            .to_owned()
    };
    let mut count = 0;
    for (tag, directive) in [
        ("script", directive("script-src")),
        ("style", directive("style-src")),
    ] {
        for (start, content) in inline_elements(html, tag) {
            let by_hash = directive.contains(&hash_source(content));
            let by_nonce = start
                .split("nonce=\"")
                .nth(1)
                .and_then(|n| n.split('"').next())
                .is_some_and(|n| directive.contains(&format!("'nonce-{n}'")));
            assert!(
                by_hash || by_nonce,
                "{start}{content} not allowed by {directive}"
            );
            count += 1;
        }
    }
    count
}

/// Polls `check` every 100 ms until it gives `Ok`, failing the test after
/// `timeout` with `what` and the last `Err`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what} never happened; last: {last}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `upbeat` binary serving `toml` on a free port, with `admin_token`
/// and `env` (no `OTEL_*` variable of the developer's), killed when
/// dropped; what it logs is kept.
pub struct Binary {
    child: std::process::Child,
    pub addr: SocketAddr,
    dir: TempDir,
    pub client: reqwest::Client,
}

impl Binary {
    pub async fn start(
        toml: &str,
        database_url: &str,
        admin_token: &str,
        env: &[(&str, String)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("upbeat.toml");
        std::fs::write(&config, toml).expect("config");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let log = std::fs::File::create(dir.path().join("upbeat.log")).expect("log");
        let mut command = upbeat();
        command
            .arg("--config")
            .arg(&config)
            .args([
                "--listen",
                &addr.to_string(),
                "--database",
                database_url,
                "serve",
            ])
            .env("RUST_LOG", "info,sqlx=warn")
            .env("UPBEAT_SERVER__SITE_ROOT", dir.path())
            .env("UPBEAT_ADMIN_TOKEN", admin_token)
            .stdout(std::process::Stdio::null())
            .stderr(log);
        for (key, _) in std::env::vars() {
            if key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let app = Self {
            child: command.spawn().expect("upbeat starts"),
            addr,
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("client"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while app.client.get(app.url("/health")).send().await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "no answer; log:\n{}",
                app.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("upbeat.log")).unwrap_or_default()
    }

    /// Stops the binary with SIGTERM and waits for it: whether it exited
    /// successfully, and what it logged.
    pub fn terminate(mut self) -> (bool, String) {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        let success = self.child.wait().is_ok_and(|s| s.success());
        (success, self.log())
    }

    /// A value of `/metrics`: `series` is the name with its labels.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sample writer on the store at `url` with one service, `api`, on the
/// real clock, with the snapshots it publishes: what the writer's own
/// tests drive. Returns the store, the service's id, the writer (not yet
/// running), its stats and the snapshots.
pub async fn one_service_writer(
    url: &str,
) -> (
    Arc<dyn upbeat::store::Store>,
    i64,
    upbeat::engine::writer::SampleWriter,
    Arc<upbeat::engine::stats::EngineStats>,
    tokio::sync::watch::Receiver<Arc<app::model::PublicStatus>>,
) {
    use upbeat::clock::{Clock, SystemClock};
    let store = upbeat::store::connect(url, 2).await.unwrap();
    let def = upbeat::domain::service::ServiceDef {
        slug: "api".into(),
        name: "API".into(),
        group: None,
        description: None,
        check_kind: "http".into(),
    };
    let services = store
        .sync_services(&[def], SystemClock.now())
        .await
        .unwrap();
    let id = services[0].id;
    let mut builder = upbeat::domain::snapshot::SnapshotBuilder::new(
        app::model::PageInfo::titled("t"),
        services,
        Default::default(),
        &[],
        &[],
    );
    let (publish, snapshots) =
        tokio::sync::watch::channel(Arc::new(builder.build(SystemClock.now())));
    let stats = Arc::new(upbeat::engine::stats::EngineStats::default());
    let writer = upbeat::engine::writer::SampleWriter::new(
        Arc::clone(&store),
        builder,
        publish,
        Arc::clone(&stats),
        Arc::new(SystemClock),
        Arc::new(upbeat::engine::changes::Changes::default()),
    );
    (store, id, writer, stats, snapshots)
}
