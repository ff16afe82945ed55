//! Objectives at scale: SERVICES services (default 10,000), each with the
//! default objectives (availability 99.9 %, 95 % under 300 ms, 99 % under
//! 800 ms), 90 days of daily and 72 hours of hourly rollups with fine
//! histograms, and two hours of samples for the short windows, seeded as
//! at start-up. Reports:
//! - the time to measure every service (what the minute's turn costs; the
//!   goal is 50 ms at 10,000 services), median of 9,
//! - the time to measure 200 services after a writer round,
//! - the resident memory after seeding and measuring, which
//!   `bench/slo.sh` compares with the same run with `OBJECTIVES=0` (the
//!   goal is at most 20 MB more at 10,000 services).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{PageInfo, SampleOutcome};
use chrono::{TimeDelta, TimeZone, Utc};
use upbeat::domain::rollup::{Resolution, Rollup};
use upbeat::domain::sample::Sample;
use upbeat::domain::service::ServiceRecord;
use upbeat::domain::slo::{Objective, Objectives, ServiceObjectives, Window};
use upbeat::domain::snapshot::SnapshotBuilder;
use upbeat::domain::status::Thresholds;

mod common;
use common::rss_mib;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// A rollup of `samples` samples, one in 500 down, latencies spread from
/// 20 to 400 ms (about 60 distinct fine buckets a day).
fn rollup(samples: u32) -> Rollup {
    let mut r = Rollup::default();
    for i in 0..samples {
        let down = i % 500 == 499;
        let outcome = if down {
            SampleOutcome::Down
        } else {
            SampleOutcome::Up
        };
        r.add(outcome, (!down).then_some(20 + (i * 37) % 380), false);
    }
    r
}

fn main() {
    let services: i64 = std::env::var("SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let with_objectives = std::env::var("OBJECTIVES").map_or(true, |v| v != "0");
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
    let objectives: Vec<Arc<ServiceObjectives>> = records
        .iter()
        .map(|r| {
            Arc::new(ServiceObjectives {
                id: r.id,
                slug: r.slug.clone(),
                name: r.name.clone(),
                group: r.group.clone(),
                interval: Duration::from_secs(60),
                objectives: Objectives {
                    window: Window::Rolling30d,
                    list: vec![
                        Objective::availability(0.999),
                        Objective::latency(0.95, 300),
                        Objective::latency(0.99, 800),
                    ],
                },
            })
        })
        .collect();
    let rss_start = rss_mib();
    let mut b = SnapshotBuilder::new(PageInfo::titled("Bench"), records, thresholds, &[], &[]);
    if with_objectives {
        b.set_objectives(&objectives);
    }
    drop(objectives);
    let day_rollup = rollup(1440);
    let hour_rollup = rollup(60);
    let seed_started = Instant::now();
    // Seeded a slice of 1,000 services at a time, as the engine does.
    for first in (1..=services).step_by(1000) {
        let ids = first..(first + 1000).min(services + 1);
        let mut daily = Vec::new();
        let mut hourly = Vec::new();
        let mut recent = Vec::new();
        for id in ids {
            for back in 0..90 {
                let day = Resolution::Day.start_of(now) - TimeDelta::days(back);
                // Histograms only for the objectives' 31 days, as loaded.
                let mut r = day_rollup.clone();
                if back > 30 {
                    r.histogram = Default::default();
                }
                daily.push((id, day, r));
            }
            for back in 0..72 {
                let hour = Resolution::Hour.start_of(now) - TimeDelta::hours(back);
                hourly.push((id, hour, hour_rollup.clone()));
            }
            for minute in 0..125 {
                recent.push(Sample {
                    service_id: id,
                    taken_at: now - TimeDelta::minutes(minute),
                    outcome: SampleOutcome::Up,
                    latency_ms: Some(40 + u32::try_from(minute).unwrap_or(0)),
                    error: None,
                    in_maintenance: false,
                });
            }
        }
        b.seed_rollups(Resolution::Day, daily);
        b.seed_rollups(Resolution::Hour, hourly);
        b.seed_samples(&recent);
    }
    let seeded = seed_started.elapsed();
    let snapshot = b.build(now);

    // Every service, each time the minute turns.
    let mut all = Vec::new();
    let mut board = None;
    for minute in 1..=9 {
        let started = Instant::now();
        board = Some(b.measure(now + TimeDelta::minutes(minute)));
        all.push(started.elapsed());
    }
    // A writer round of 200 services within the minute.
    let mut round = Vec::new();
    let at = now + TimeDelta::minutes(9) + TimeDelta::seconds(1);
    for r in 0..20i64 {
        let samples: Vec<Sample> = (0..200)
            .map(|i| Sample {
                service_id: 1 + (r * 200 + i) % services,
                taken_at: at + TimeDelta::milliseconds(r * 100),
                outcome: SampleOutcome::Up,
                latency_ms: Some(40),
                error: None,
                in_maintenance: false,
            })
            .collect();
        let (states, _) = b.advance(&samples);
        b.record(&samples, &states);
        let started = Instant::now();
        board = Some(b.measure(at + TimeDelta::milliseconds(r * 100)));
        round.push(started.elapsed());
    }
    let rss_end = rss_mib();
    let board = board.expect("measured");

    println!(
        "services:                  {services}, objectives {}",
        if with_objectives {
            "on (3 each)"
        } else {
            "off"
        }
    );
    println!("seeded in:                 {:.1} s", seeded.as_secs_f64());
    println!(
        "measure every service:     {:.1} ms (median of 9)",
        median(all).as_secs_f64() * 1e3
    );
    println!(
        "measure 200 after a round: {:.2} ms (median of 20)",
        median(round).as_secs_f64() * 1e3
    );
    println!("resident memory:           {rss_start:.1} MiB at start, {rss_end:.1} MiB seeded and measured");
    println!(
        "check: {} services measured, {} in the snapshot",
        board.services.len(),
        snapshot.services.len()
    );
}
