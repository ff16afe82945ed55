//! Leadership across real `upbeat serve` processes on one PostgreSQL
//! database: the database goes away for a minute, one replica is cut off
//! from it (a partition, through a TCP proxy the test controls), and the
//! leader is killed with SIGKILL. Samples are facts: none is lost, none is
//! decided on twice, and one replica at a time decides incidents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use upbeat::clock::{Clock, SystemClock};

use crate::helpers::{upbeat, Backend, Target, TestDb};
use crate::outage::set_database_available;

const WAIT: Duration = Duration::from_secs(30);
/// The replicas' lease: takeover within it and a fifth.
const LEASE_TTL_S: u64 = 3;

fn config(api: &str, web: &str) -> String {
    format!(
        r#"
[page]
title = "Replicas"

[defaults]
interval = "1s"
timeout = "2s"

[database]
follower_refresh = "1s"
lease_ttl = "{LEASE_TTL_S}s"

[[services]]
slug = "api"
name = "API"
[services.check]
kind = "http"
url = "{api}"

[[services]]
slug = "web"
name = "Web"
[services.check]
kind = "http"
url = "{web}"
"#
    )
}

/// One `upbeat serve` process with its own config file, port and log.
struct Replica {
    name: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Replica {
    fn spawn(name: &'static str, toml: &str, database_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("upbeat.toml");
        std::fs::write(&config, toml).unwrap();
        // A free port: bound, read and let go for the child to take.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("upbeat.log")).unwrap();
        let child = upbeat()
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
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            name,
            child: Some(child),
            addr,
            dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        }
    }

    fn log(&self) -> String {
        let path: PathBuf = self.dir.path().join("upbeat.log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<String> {
        let response = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .ok()?;
        response.text().await.ok()
    }

    async fn json(&self, path: &str) -> Option<Value> {
        serde_json::from_str(&self.get(path).await?).ok()
    }

    /// `prober` or `follower`, once the replica answers.
    async fn role(&self) -> Option<String> {
        let detailed = self.json("/health/detailed").await?;
        detailed["engine"]["role"].as_str().map(str::to_owned)
    }

    /// A value of `/metrics`: `series` is the name with its labels as
    /// the text format writes them.
    async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.get("/metrics").await?;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    async fn wait_for_role(&self, role: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.role().await.as_deref() != Some(role) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never became {role}; log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, no lease released.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the process to end: up to the default
    /// `server.shutdown_grace` (10 s) for requests in flight, and as long
    /// again for the last writes on a loaded machine.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            for _ in 0..400 {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            child.kill().unwrap();
            panic!(
                "{} did not stop on SIGTERM; log:\n{}",
                self.name,
                self.log()
            );
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP proxy to PostgreSQL that the test can cut (a partition of the
/// replicas behind it) and heal.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (cut, links) = (Arc::clone(&cut), Arc::clone(&links));
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        // Partitioned: the connection goes nowhere.
                        drop(inbound);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Self {
            addr,
            cut,
            links,
            accept,
        }
    }

    /// Every connection through the proxy ends; new ones are refused.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        let mut url = url::Url::parse(url).unwrap();
        url.set_ip_host(self.addr.ip()).unwrap();
        url.set_port(Some(self.addr.port())).unwrap();
        url.to_string()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The database's address, from its URL.
fn upstream(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .unwrap()
}

async fn connect(db: &TestDb) -> PgConnection {
    PgConnection::connect(&db.url).await.unwrap()
}

async fn epoch(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT epoch FROM leadership WHERE id = 1")
        .fetch_one(&mut connect(db).await)
        .await
        .unwrap()
}

/// Times of the samples of `slug` in `[from, to)`, oldest first.
async fn sample_times(
    db: &TestDb,
    slug: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT s.taken_at FROM samples s JOIN services v ON v.id = s.service_id
         WHERE v.slug = $1 AND s.taken_at >= $2 AND s.taken_at < $3 ORDER BY s.taken_at",
    )
    .bind(slug)
    .bind(from)
    .bind(to)
    .fetch_all(&mut connect(db).await)
    .await
    .unwrap()
}

/// Times of the first `n` failed samples of `slug`.
async fn first_failures(db: &TestDb, slug: &str, n: i64) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT s.taken_at FROM samples s JOIN services v ON v.id = s.service_id
         WHERE v.slug = $1 AND s.outcome = 2 ORDER BY s.taken_at LIMIT $2",
    )
    .bind(slug)
    .bind(n)
    .fetch_all(&mut connect(db).await)
    .await
    .unwrap()
}

/// (started_at, number of timeline updates) of every incident of `slug`.
async fn incidents_of(db: &TestDb, slug: &str) -> Vec<(DateTime<Utc>, i64)> {
    sqlx::query_as(
        "SELECT i.started_at, (SELECT COUNT(*) FROM incident_updates u WHERE u.incident_id = i.id)
         FROM incidents i JOIN incident_services s ON s.incident_id = i.id
         JOIN services v ON v.id = s.service_id WHERE v.slug = $1 ORDER BY i.id",
    )
    .bind(slug)
    .fetch_all(&mut connect(db).await)
    .await
    .unwrap()
}

fn now_s() -> DateTime<Utc> {
    SystemClock
        .now()
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap()
}

async fn wait_until<F, Fut>(what: &str, replica: &Replica, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}; {} log:\n{}",
            replica.name,
            replica.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Seconds in `[from, to)` with no sample at all.
fn gaps(times: &[DateTime<Utc>], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut missing = Vec::new();
    let mut second = from;
    while second < to {
        if !times.contains(&second) {
            missing.push(second);
        }
        second += TimeDelta::seconds(1);
    }
    missing
}

#[tokio::test]
async fn postgres_a_database_outage_loses_no_sample_and_the_leader_decides_on_them_in_time_order() {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the outage test");
    let (api, web) = (Target::start(200).await, Target::start(200).await);
    let toml = config(&api.url(), &web.url());
    let mut leader = Replica::spawn("leader", &toml, &db.url);
    leader.wait_for_role("prober").await;
    let mut follower = Replica::spawn("follower", &toml, &db.url);
    follower.wait_for_role("follower").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let epoch_before = epoch(&db).await;

    // A minute without the database; the API fails ten seconds into it.
    let down = now_s() + TimeDelta::seconds(1);
    set_database_available(&db, false).await;
    let mut page_failures = 0;
    let mut seen_down_at = None;
    for second in 0..60 {
        if second == 10 {
            api.set_status(503);
        }
        for replica in [&leader, &follower] {
            if replica.json("/public/status").await.is_none() {
                page_failures += 1;
            }
        }
        // No blind spot: the leader's page follows its own samples.
        if seen_down_at.is_none() {
            let status = leader.json("/public/status").await.unwrap_or_default();
            if status["services"][0]["status"] == "major_outage" {
                seen_down_at = Some(second);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let up = now_s();
    set_database_available(&db, true).await;
    assert_eq!(page_failures, 0, "the page answered throughout");
    let seen = seen_down_at.expect("the leader's page showed the API down during the outage");
    assert!((11..=20).contains(&seen), "shown down at {seen} s");

    wait_until("the leader wrote what it held", &leader, || async {
        leader.metric("upbeat_samples_buffered").await == Some(0.0)
    })
    .await;
    assert_eq!(
        leader.metric("upbeat_samples_dropped_total").await,
        Some(0.0)
    );
    assert_eq!(leader.role().await.as_deref(), Some("prober"));
    assert_eq!(
        epoch(&db).await,
        epoch_before,
        "the former leader took its lease back: nobody else decided"
    );

    // Every second of the outage has its sample, for each service.
    let (from, to) = (down + TimeDelta::seconds(1), up - TimeDelta::seconds(1));
    for slug in ["api", "web"] {
        let times = sample_times(&db, slug, from, to).await;
        let missing = gaps(&times, from, to);
        assert!(missing.len() <= 1, "{slug}: no sample at {missing:?}");
    }
    // One incident, opened at the third failed probe, taken during the outage.
    let failures = first_failures(&db, "api", 3).await;
    assert_eq!(failures.len(), 3);
    assert!(failures[0] > down && failures[2] < up, "{failures:?}");
    let incidents = incidents_of(&db, "api").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].0, failures[2], "opened when the outage began");
    assert_eq!(incidents[0].1, 1, "decided once: {incidents:?}");
    // The follower shows it too, from the database.
    wait_until("the follower shows the incident", &follower, || async {
        let status = follower.json("/public/status").await.unwrap_or_default();
        status["incidents"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    follower.stop();
    leader.stop();
}

#[tokio::test]
async fn postgres_a_partitioned_leader_is_replaced_and_its_samples_are_stored_as_facts_only() {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the partition test");
    let proxy = Proxy::start(upstream(&db.url)).await;
    let (api, web) = (Target::start(200).await, Target::start(200).await);
    let toml = config(&api.url(), &web.url());
    let mut old = Replica::spawn("partitioned", &toml, &proxy.url(&db.url));
    old.wait_for_role("prober").await;
    let mut new = Replica::spawn("successor", &toml, &db.url);
    new.wait_for_role("follower").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let epoch_before = epoch(&db).await;

    let cut_at = now_s() + TimeDelta::seconds(1);
    proxy.cut();
    new.wait_for_role("prober").await;
    let took_over = now_s();
    assert!(
        took_over - cut_at <= TimeDelta::seconds(i64::try_from(LEASE_TTL_S).unwrap() + 3),
        "took over {}s after the cut",
        (took_over - cut_at).num_seconds()
    );
    // The API fails while the successor decides.
    api.set_status(503);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let healed_at = now_s();
    proxy.heal();
    old.wait_for_role("follower").await;
    wait_until("the former leader wrote what it held", &old, || async {
        old.metric("upbeat_samples_buffered").await == Some(0.0)
    })
    .await;
    assert_eq!(old.metric("upbeat_samples_dropped_total").await, Some(0.0));
    assert_eq!(epoch(&db).await, epoch_before + 1, "one takeover");

    // Before the takeover only the cut-off leader probed: its samples are there.
    for slug in ["api", "web"] {
        let times = sample_times(&db, slug, cut_at + TimeDelta::seconds(1), healed_at).await;
        let missing = gaps(&times, cut_at + TimeDelta::seconds(1), healed_at);
        assert!(missing.len() <= 1, "{slug}: no sample at {missing:?}");
    }
    // The successor alone decided: one incident, one opening update.
    wait_until("the incident is stored", &new, || async {
        !incidents_of(&db, "api").await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let incidents = incidents_of(&db, "api").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].1, 1, "no duplicate transition: {incidents:?}");
    assert!(
        old.log().contains("another replica took over"),
        "{}",
        old.log()
    );
    new.stop();
    old.stop();
}

#[tokio::test]
async fn postgres_when_the_leader_is_killed_one_of_two_followers_takes_over_within_the_bound() {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the takeover test");
    let (api, web) = (Target::start(200).await, Target::start(200).await);
    let toml = config(&api.url(), &web.url());
    let mut leader = Replica::spawn("leader", &toml, &db.url);
    leader.wait_for_role("prober").await;
    let mut a = Replica::spawn("follower-a", &toml, &db.url);
    let mut b = Replica::spawn("follower-b", &toml, &db.url);
    a.wait_for_role("follower").await;
    b.wait_for_role("follower").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Followers load everything once, then apply the logged rounds: rows
    // read follow what changed (a round a second), not the services' history.
    for follower in [&a, &b] {
        let full = follower
            .metric(r#"upbeat_follower_refreshes_total{kind="full"}"#)
            .await
            .unwrap();
        let incremental = follower
            .metric(r#"upbeat_follower_refreshes_total{kind="incremental"}"#)
            .await
            .unwrap();
        let rows = follower
            .metric(r#"upbeat_follower_rows_read_total{kind="incremental"}"#)
            .await
            .unwrap();
        assert_eq!(full, 1.0, "{}: one full load", follower.name);
        assert!(
            incremental >= 4.0,
            "{}: {incremental} refreshes",
            follower.name
        );
        assert!(
            rows / incremental <= 10.0,
            "{}: {rows} rows in {incremental} refreshes",
            follower.name
        );
        // Woken by NOTIFY: a follower shows a sample within a second or two.
        let lagged = follower
            .metric("upbeat_follower_lag_seconds_count")
            .await
            .unwrap();
        let within = follower
            .metric(r#"upbeat_follower_lag_seconds_bucket{le="2.5"}"#)
            .await
            .unwrap();
        assert!(
            lagged >= 4.0 && within / lagged >= 0.9,
            "{}: {within} of {lagged} within 2.5 s",
            follower.name
        );
    }

    let killed_at = now_s();
    leader.kill();
    let deadline = tokio::time::Instant::now() + WAIT;
    let successor = loop {
        if a.role().await.as_deref() == Some("prober") {
            break &a;
        }
        if b.role().await.as_deref() == Some("prober") {
            break &b;
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody took over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = if std::ptr::eq(successor, &a) { &b } else { &a };
    assert_eq!(
        other.role().await.as_deref(),
        Some("follower"),
        "one leader"
    );
    let api_hits = api.hits();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let per_second = (api.hits() - api_hits) as f64 / 4.0;
    assert!(
        per_second <= 1.5,
        "{per_second} probes a second: more than one prober"
    );

    // The gap in the samples: the lease and a fifth (takeover), and a few
    // seconds for the successor to load its state and probe.
    let bound = TimeDelta::milliseconds(i64::try_from(LEASE_TTL_S * 1200).unwrap() + 3000);
    for slug in ["api", "web"] {
        let times = sample_times(&db, slug, killed_at - TimeDelta::seconds(5), now_s()).await;
        let longest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            longest <= bound,
            "{slug}: {}s without a sample (bound {}s)",
            longest.num_seconds(),
            bound.num_seconds()
        );
    }
    a.stop();
    b.stop();
}

/// Alerts across a crash: the leader commits the incident's alert events
/// while the receiver is down, is killed with SIGKILL before it could
/// deliver them, and the follower that takes over (PostgreSQL) or the
/// restarted process (SQLite) delivers each exactly once when the
/// receiver is back.
#[tokio::test]
async fn postgres_alerts_committed_before_a_kill_are_delivered_once_by_the_next_leader() {
    alerts_committed_before_a_kill_are_delivered_once(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_alerts_committed_before_a_kill_are_delivered_once_after_the_restart() {
    alerts_committed_before_a_kill_are_delivered_once(Backend::Sqlite).await;
}

async fn alerts_committed_before_a_kill_are_delivered_once(backend: Backend) {
    use upbeat::store::{AlertHistoryFilter, DeliveryStatus};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let api = Target::start(503).await;
    let web = Target::start(200).await;
    // The receiver's address, with nobody listening yet.
    let hook_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let toml = format!(
        "{}\n[[alerts.routes]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://{hook_addr}/hook\"\n\
         events = [\"incident.opened\", \"service.status_changed\"]\n",
        config(&api.url(), &web.url())
    );
    let mut a = Replica::spawn("a", &toml, &db.url);
    a.wait_for_role("prober").await;
    let follower =
        matches!(backend, Backend::Postgres).then(|| Replica::spawn("b", &toml, &db.url));
    if let Some(b) = &follower {
        b.wait_for_role("follower").await;
    }

    // Both events committed, and a tried (and failed) to deliver them.
    let store = upbeat::store::connect(&db.url, 1).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let tried = store
            .alert_history(&AlertHistoryFilter {
                status: Some(DeliveryStatus::Pending),
                limit: 10,
                ..AlertHistoryFilter::default()
            })
            .await
            .unwrap()
            .iter()
            .filter(|d| d.attempts >= 1)
            .count();
        if tried >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempts; log:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill();
    let hook = crate::alerts::Receiver::start_on(hook_addr, vec![]).await;
    let next = match follower {
        Some(b) => b,
        None => Replica::spawn("a again", &toml, &db.url),
    };
    next.wait_for_role("prober").await;
    let got = hook.wait_for(2, WAIT).await;
    // Longer than a dispatcher pass and a backoff: nothing more comes.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let got_all = hook.received();
    assert_eq!(got_all.len(), 2, "{got_all:?}\nlog:\n{}", next.log());
    let mut events: Vec<String> = got
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_owned())
        .collect();
    events.sort();
    assert_eq!(events, ["incident.opened", "service.status_changed"]);
    let delivered = store
        .alert_history(&AlertHistoryFilter {
            status: Some(DeliveryStatus::Delivered),
            limit: 10,
            ..AlertHistoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    store.close().await;
}
