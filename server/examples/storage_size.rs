//! Storage per service for 90 days of 1-minute samples on SQLite, rollups
//! included, written through the real `Store`.
//!
//! `cargo run --release -p upbeat-server --example storage_size -- [SERVICES] [DAYS]`
//! (defaults 10 services, 90 days). Run by `bench/storage-size.sh`.

use std::time::Instant;

use app::model::SampleOutcome;
use chrono::{DurationRound, TimeDelta};
use sqlx::Connection;
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::sample::Sample;

mod common;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let services: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    let days: i64 = args.next().map_or(Ok(90), |a| a.parse())?;
    let common::Seeded {
        dir,
        path,
        url,
        store,
        records,
    } = common::sqlite_with_services(services).await?;
    let now = SystemClock.now();
    let start = now.duration_trunc(TimeDelta::minutes(1))? - TimeDelta::days(days);
    let minutes = days * 1440;
    let started = Instant::now();
    // A small deterministic generator: mostly up, about 1 in 500 down.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut batch = Vec::with_capacity(1000);
    for record in &records {
        for minute in 0..minutes {
            let roll = next();
            let down = roll % 500 == 0;
            batch.push(Sample {
                service_id: record.id,
                taken_at: start + TimeDelta::minutes(minute),
                outcome: if down {
                    SampleOutcome::Down
                } else {
                    SampleOutcome::Up
                },
                latency_ms: (!down).then(|| 20 + u32::try_from(roll % 180).unwrap_or(0)),
                error: down.then(|| "connection refused".to_owned()),
                in_maintenance: false,
            });
            if batch.len() == 1000 {
                store.insert_samples(&batch, &[], &[], None).await?;
                batch.clear();
            }
        }
    }
    store.insert_samples(&batch, &[], &[], None).await?;
    let write_secs = started.elapsed().as_secs_f64();
    // The steady state: the pruner's pass clears hourly histograms older
    // than `HOURLY_HISTOGRAMS` (a running server reuses the space they
    // leave; VACUUM stands in for that here).
    let cutoff = now - upbeat::engine::pruner::HOURLY_HISTOGRAMS;
    for record in &records {
        store.prune_hourly_histograms(record.id, cutoff).await?;
    }
    store.close().await;

    let mut conn = sqlx::SqliteConnection::connect(&url).await?;
    let size = || -> std::io::Result<u64> {
        Ok(std::fs::metadata(&path)?.len()
            + std::fs::metadata(dir.path().join("bench.db-wal")).map_or(0, |m| m.len()))
    };
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    let written = size()?;
    sqlx::query("VACUUM").execute(&mut conn).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let bytes = size()?;
    println!(
        "as written: {:.2} MB per service; after VACUUM (the space a running server reuses): see below",
        written as f64 / services as f64 / 1_000_000.0
    );
    let samples = usize::try_from(minutes)? * services;
    let per_service = bytes as f64 / services as f64;
    println!("services: {services}, days: {days}, samples: {samples} ({minutes} per service)");
    println!(
        "written in {write_secs:.1} s ({:.0} samples/s)",
        samples as f64 / write_secs
    );
    println!(
        "database: {:.1} MiB, {:.2} MB per service, {:.1} bytes per sample (rollups included)",
        bytes as f64 / 1_048_576.0,
        per_service / 1_000_000.0,
        bytes as f64 / samples as f64
    );
    Ok(())
}
