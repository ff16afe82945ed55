//! Snapshot rebuild cost at scale, and why uptime is O(days).
//!
//! Builds the in-memory snapshot of SERVICES services (default 10,000), each
//! with 90 days of daily and 24 hours of hourly rollups, and reports:
//! - a full rebuild (every service view; happens when the hour turns),
//! - an incremental rebuild after one writer flush (200 services changed),
//! - `/public/status` written as JSON once (what the first request after a
//!   new snapshot pays; later ones get the cached bytes),
//! - the 30-day uptime of one service with 1 sample a minute and with
//!   1 sample a second (same cost: it sums 30 daily counters),
//! - the process's resident memory with the builder and one snapshot, and
//!   per service.
//!
//! Run: `bench/snapshot.sh` (10,000 and 50,000 services).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app::model::{PageInfo, SampleOutcome};
use chrono::{TimeDelta, TimeZone, Utc};
use upbeat::domain::rollup::{Resolution, Rollup};
use upbeat::domain::sample::Sample;
use upbeat::domain::service::ServiceRecord;
use upbeat::domain::snapshot::SnapshotBuilder;
use upbeat::domain::status::Thresholds;

mod common;
use common::rss_mib;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn builder(services: i64, samples_per_day: u32) -> SnapshotBuilder {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
    let records: Vec<ServiceRecord> = (1..=services)
        .map(|id| ServiceRecord {
            id,
            slug: format!("service-{id}"),
            name: format!("Service {id}"),
            group: Some(format!("Group {}", id % 20)),
            description: None,
            position: id,
            check_kind: "http".into(),
            archived: false,
        })
        .collect();
    let thresholds: HashMap<i64, Thresholds> = records
        .iter()
        .map(|r| (r.id, Thresholds::default()))
        .collect();
    let mut b = SnapshotBuilder::new(PageInfo::titled("Bench"), records, thresholds, &[], &[]);
    let day = |back: i64| Resolution::Day.start_of(now) - TimeDelta::days(back);
    let rollup = |samples: u32, down: u32| Rollup {
        up: samples - down,
        down,
        latency_count: samples - down,
        latency_sum_ms: u64::from(samples - down) * 42,
        latency_max_ms: 900,
        ..Rollup::default()
    };
    let mut daily = Vec::new();
    let mut hourly = Vec::new();
    for id in 1..=services {
        for back in 0..90 {
            daily.push((
                id,
                day(back),
                rollup(samples_per_day, u32::from(back % 7 == 0)),
            ));
        }
        for back in 0..24 {
            let hour = Resolution::Hour.start_of(now) - TimeDelta::hours(back);
            hourly.push((id, hour, rollup(samples_per_day / 24, 0)));
        }
    }
    b.seed_rollups(Resolution::Day, daily);
    b.seed_rollups(Resolution::Hour, hourly);
    b
}

fn main() {
    let services: i64 = std::env::var("SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
    let rss_before = rss_mib();
    let mut b = builder(services, 1440);

    // Full rebuilds: each hour change rebuilds every view.
    let mut full = Vec::new();
    let mut snapshot = None;
    for hour in 0..7 {
        let at = now + TimeDelta::hours(hour) - TimeDelta::hours(6);
        let started = Instant::now();
        snapshot = Some(b.build(at));
        full.push(started.elapsed());
    }
    let rss_after = rss_mib();

    // Incremental: one flush of the writer (about 200 services) then a build.
    let mut incremental = Vec::new();
    let at = now;
    for round in 0..20i64 {
        let samples: Vec<Sample> = (0..200)
            .map(|i| Sample {
                service_id: 1 + (round * 200 + i) % services,
                taken_at: at + TimeDelta::seconds(round),
                outcome: SampleOutcome::Up,
                latency_ms: Some(40),
                error: None,
                in_maintenance: false,
            })
            .collect();
        let (states, _) = b.advance(&samples);
        b.record(&samples, &states);
        let started = Instant::now();
        snapshot = Some(b.build(at + TimeDelta::seconds(round)));
        incremental.push(started.elapsed());
    }
    let snapshot = snapshot.expect("built");
    let rss_built = rss_mib();

    let mut json_runs = Vec::new();
    let mut json_bytes = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let json = serde_json::to_vec(&snapshot).expect("serialises");
        json_runs.push(started.elapsed());
        json_bytes = json.len();
    }

    // 30-day uptime of one service: a minute's and a second's sampling.
    let mut per_rate = Vec::new();
    for samples_per_day in [1440, 86_400] {
        let mut one = builder(1, samples_per_day);
        let mut runs = Vec::new();
        for hour in 0..51 {
            let started = Instant::now();
            let view = one.build(now + TimeDelta::hours(hour));
            std::hint::black_box(view.services[0].uptime.d30);
            runs.push(started.elapsed());
        }
        per_rate.push((samples_per_day, median(runs)));
    }

    println!("services:                         {services}");
    println!(
        "full rebuild (median of 7):       {:.1} ms",
        median(full).as_secs_f64() * 1e3
    );
    println!(
        "incremental rebuild, 200 changed: {:.2} ms (median of 20)",
        median(incremental).as_secs_f64() * 1e3
    );
    for (rate, took) in per_rate {
        println!(
            "30-day uptime, {rate:>6} samples/day: {:.1} µs (one service's view: 90 daily + 24 hourly counters)",
            took.as_secs_f64() * 1e6
        );
    }
    println!(
        "/public/status JSON:              {:.1} MB in {:.0} ms (median of 3)",
        json_bytes as f64 / 1e6,
        median(json_runs).as_secs_f64() * 1e3
    );
    println!(
        "resident memory: {rss_before:.0} MiB before, {rss_after:.0} MiB with builder and snapshot, \
         {rss_built:.0} MiB after the incremental rounds ({:.1} KB a service)",
        (rss_built - rss_before) * 1024.0 * 1.024 / services as f64
    );
    println!(
        "check: {} services in the snapshot",
        snapshot.services.len()
    );
}
