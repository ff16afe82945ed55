//! Reading response-time percentiles at scale: SERVICES services (default
//! 10,000) with 90 days of daily and 24 hours of hourly rollups on SQLite,
//! each with a fine histogram of about 60 buckets (latencies spread from 20
//! to 400 ms, as `slo_bench` seeds them). Reports:
//! - the time one read of every service's percentiles takes
//!   (`engine::percentiles::read_board`, median of 5), and the pause it
//!   sets before the next (at least a minute, at most 2 % of the time);
//! - the memory the board of figures holds (from the sizes of its parts),
//!   and the resident memory before and after the reads.
//!
//! `cargo run --release -p upbeat-server --example percentiles_bench`; run
//! by `bench/percentiles.sh`.

use std::time::Instant;

use app::model::SampleOutcome;
use chrono::TimeDelta;
use sqlx::Connection;
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::rollup::{Resolution, Rollup};
use upbeat::engine::percentiles::{read_board, BUSY_SHARE, REFRESH_EVERY};

mod common;
use common::rss_mib;

/// A rollup of `samples` samples, latencies from 20 to 400 ms starting at
/// `offset` (so rows differ).
fn rollup(samples: u32, offset: u32) -> Rollup {
    let mut r = Rollup::default();
    for i in 0..samples {
        r.add(SampleOutcome::Up, Some(20 + (i * 37 + offset) % 380), false);
    }
    r
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let services: usize = std::env::var("SERVICES")
        .ok()
        .map_or(Ok(10_000), |v| v.parse())?;
    // `_dir` keeps the temporary directory until the end.
    let common::Seeded {
        dir: _dir,
        path: _,
        url,
        store,
        records,
    } = common::sqlite_with_services(services).await?;
    let now = SystemClock.now();
    // Eight day and eight hour shapes, written as the store writes them.
    let days: Vec<Rollup> = (0..8).map(|k| rollup(1440, k * 11)).collect();
    let hours: Vec<Rollup> = (0..8).map(|k| rollup(60, k * 11)).collect();
    let seeding = Instant::now();
    let mut db = sqlx::SqliteConnection::connect(&url).await?;
    let mut tx = db.begin().await?;
    for (table, rows, count, step) in [
        ("rollups_daily", &days, 90, TimeDelta::days(1)),
        ("rollups_hourly", &hours, 24, TimeDelta::hours(1)),
    ] {
        let resolution = if table == "rollups_daily" {
            Resolution::Day
        } else {
            Resolution::Hour
        };
        let newest = resolution.start_of(now);
        let statement = format!(
            "INSERT INTO {table} (service_id, period_start, up, latency_count, latency_sum_ms, \
             latency_max_ms, histogram) VALUES (?, ?, ?, ?, ?, ?, ?)"
        );
        for (i, record) in records.iter().enumerate() {
            for back in 0..count {
                let r = &rows[(i + back) % rows.len()];
                sqlx::query(&statement)
                    .bind(record.id)
                    .bind((newest - step * i32::try_from(back)?).timestamp_millis())
                    .bind(i64::from(r.up))
                    .bind(i64::from(r.latency_count))
                    .bind(i64::try_from(r.latency_sum_ms)?)
                    .bind(i64::from(r.latency_max_ms))
                    .bind(r.histogram.encode())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    drop(db);
    println!(
        "seeded {services} services × (90 days + 24 hours) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let before = rss_mib();
    let started = Instant::now();
    let first = read_board(&*store, now, &ids, None).await?;
    let full = started.elapsed();
    assert_eq!(first.len(), services);
    println!(
        "the first read (90 days): {:.0} ms",
        full.as_secs_f64() * 1000.0
    );
    let mut runs = Vec::new();
    let mut kept = Some(first);
    for _ in 0..5 {
        let started = Instant::now();
        let board = read_board(&*store, now, &ids, kept.as_ref()).await?;
        runs.push(started.elapsed());
        assert_eq!(
            Some(&board),
            kept.as_ref(),
            "an incremental read equals a full one"
        );
        kept = Some(board);
    }
    let held = rss_mib();
    runs.sort();
    let read = runs[runs.len() / 2];
    let pause = REFRESH_EVERY.max(read * BUSY_SHARE);
    println!(
        "each later read (30 days, older ones kept): {:.0} ms (median of 5; fastest {:.0} ms)",
        read.as_secs_f64() * 1000.0,
        runs[0].as_secs_f64() * 1000.0
    );
    println!(
        "pause before the next read: {:.0} s ({:.1} % of one core)",
        pause.as_secs_f64(),
        100.0 * read.as_secs_f64() / (pause + read).as_secs_f64()
    );
    println!("resident memory: {before:.1} MiB before the reads, {held:.1} MiB holding the board");
    // What the board holds, from the sizes of its parts: the map entry,
    // the shared stats and the 90 packed days.
    let per_service = 2 * std::mem::size_of::<usize>()
        + 16
        + std::mem::size_of::<upbeat::domain::percentiles::LatencyStats>()
        + 16
        + 90 * 6;
    println!(
        "held by the board: {:.1} MiB ({per_service} bytes a service)",
        (per_service * kept.map_or(0, |b| b.len())) as f64 / 1_048_576.0
    );
    store.close().await;
    Ok(())
}
