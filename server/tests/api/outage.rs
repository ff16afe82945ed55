//! A real database outage (PostgreSQL refusing every connection) while the
//! sample writer runs: samples wait in the bounded buffer and are written
//! when the database returns; only what the bound forces out is dropped,
//! and it is counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use app::model::SampleOutcome;
use chrono::SubsecRound;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::mpsc;
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::sample::Sample;
use upbeat::engine::stats::EngineStats;

use crate::helpers::{one_service_writer, Backend, TestDb};

/// Blocks or allows new connections to the test database, and ends the
/// existing ones.
pub async fn set_database_available(db: &TestDb, available: bool) {
    let admin = std::env::var("UPBEAT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = url::Url::parse(&db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {available}").as_str())
        .await
        .unwrap();
    if !available {
        conn.execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn run_outage(max_buffered: usize, sent: usize) -> (Arc<EngineStats>, usize) {
    let db = TestDb::new(Backend::Postgres)
        .await
        .expect("PostgreSQL for the outage test");
    let (store, id, mut writer, stats, snapshot) = one_service_writer(&db.url).await;
    writer.gather = Duration::from_millis(10);
    writer.retry_after = Duration::from_millis(100);
    writer.max_buffered = max_buffered;
    let (sink, samples) = mpsc::channel(100);
    let writer = tokio::spawn(writer.run(samples, tokio_util::sync::CancellationToken::new()));

    set_database_available(&db, false).await;
    let start = SystemClock.now().trunc_subsecs(0);
    for i in 0..sent {
        let sample = Sample {
            service_id: id,
            taken_at: start + chrono::Duration::seconds(i64::try_from(i).unwrap()),
            outcome: SampleOutcome::Up,
            latency_ms: Some(1),
            error: None,
            in_maintenance: false,
        };
        sink.send(sample).await.unwrap();
    }
    wait_until("a write failed", || {
        stats.failed_flushes.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert_eq!(
        stats.written.load(Ordering::Relaxed),
        0,
        "nothing can be written during the outage"
    );
    // Readers still get the last snapshot, marked as old data.
    assert!(snapshot.borrow().stale, "the snapshot says it is stale");

    set_database_available(&db, true).await;
    let expected = sent.min(max_buffered) as u64;
    wait_until("the buffer was written", || {
        stats.written.load(Ordering::Relaxed) == expected
    })
    .await;
    drop(sink);
    writer.await.unwrap();
    assert!(!snapshot.borrow().stale, "fresh again once written");

    let stored = store.recent_samples(id, 1000).await.unwrap();
    store.close().await;
    (stats, stored.len())
}

#[tokio::test]
async fn samples_taken_while_the_database_is_down_are_written_when_it_returns() {
    let (stats, stored) = run_outage(1000, 5).await;
    assert_eq!(stored, 5);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_full_buffer_drops_the_oldest_samples_and_counts_them() {
    let (stats, stored) = run_outage(3, 5).await;
    assert_eq!(stored, 3);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
}
