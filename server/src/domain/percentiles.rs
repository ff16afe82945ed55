//! Response-time percentiles of a service: p50, p95 and p99 over the
//! page's windows (24 hours, 7 and 30 days) and of each of the bars' 90
//! days, read from the rollups' fine histograms
//! ([`super::rollup::Histogram`]): each figure is the upper bound of the
//! bucket its true value falls in, capped by the slowest sample, so it is
//! exact below 100 ms and at most 10 % high above.
//!
//! The snapshot builder keeps no histograms (a 24-hour and a 30-day one per
//! service would cost more than all its other counters); the engine reads
//! them from the store apart from the writer and hands the builder a
//! [`LatencyBoard`] (see `engine/percentiles.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{DailyPercentiles, Percentiles, ResponsePercentiles, ServiceView};
use chrono::{DateTime, TimeDelta, Utc};

use super::markdown::escape_html;
use super::rollup::{Resolution, Rollup};
use super::snapshot::BAR_DAYS;

/// p50, p95, p99.
pub const QUANTILES: [f64; 3] = [0.50, 0.95, 0.99];

/// Hours in the page's shortest window.
const WINDOW_HOURS: i64 = 24;

/// One service's percentiles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    pub windows: ResponsePercentiles,
    pub days: DailyPercentiles,
}

/// Every service's percentiles, by service id.
pub type LatencyBoard = HashMap<i64, Arc<LatencyStats>>;

impl LatencyStats {
    /// Takes the days before `fresh_from`, which these figures were not
    /// read for, from `previous` (a finished day's figures do not change).
    pub fn fill_older(&mut self, previous: &DailyPercentiles, fresh_from: chrono::NaiveDate) {
        let (Some(first), Some(previous_first)) = (self.days.first, previous.first) else {
            return;
        };
        let mut days = self.days.days.to_vec();
        for (i, day) in days.iter_mut().enumerate() {
            let date = first + chrono::Days::new(i as u64);
            if date >= fresh_from {
                break;
            }
            let kept = usize::try_from((date - previous_first).num_days())
                .ok()
                .and_then(|j| previous.days.get(j));
            if let Some(kept) = kept {
                *day = *kept;
            }
        }
        self.days.days = days.into();
    }
}

/// p50, p95 and p99 of the samples `rollup` summarises.
pub fn percentiles(rollup: &Rollup) -> Percentiles {
    let [p50, p95, p99] = QUANTILES.map(|q| rollup.percentile_ms(q));
    Percentiles { p50, p95, p99 }
}

/// A service's percentiles at `now` from its rollups (`(period start,
/// rollup)`, any order): the hourly ones of the hour under way and the 23
/// before, the daily ones of today and the 89 days before; other rows are
/// left out.
pub fn latency_stats<'a>(
    now: DateTime<Utc>,
    hourly: impl IntoIterator<Item = (DateTime<Utc>, &'a Rollup)>,
    daily: impl IntoIterator<Item = (DateTime<Utc>, &'a Rollup)>,
) -> LatencyStats {
    let this_hour = Resolution::Hour.start_of(now);
    let today = Resolution::Day.start_of(now);
    let mut h24 = Rollup::default();
    for (start, rollup) in hourly {
        let age = (this_hour - start).num_hours();
        if (0..WINDOW_HOURS).contains(&age) {
            h24.merge(rollup);
        }
    }
    let (mut d7, mut d30) = (Rollup::default(), Rollup::default());
    let mut days = vec![[DailyPercentiles::NONE; 3]; BAR_DAYS.unsigned_abs() as usize];
    for (start, rollup) in daily {
        let age = (today - start).num_days();
        if !(0..BAR_DAYS).contains(&age) {
            continue;
        }
        if age < 7 {
            d7.merge(rollup);
        }
        if age < 30 {
            d30.merge(rollup);
        }
        if let Percentiles {
            p50: Some(p50),
            p95: Some(p95),
            p99: Some(p99),
        } = percentiles(rollup)
        {
            days[(BAR_DAYS - 1 - age).unsigned_abs() as usize] =
                DailyPercentiles::pack([p50, p95, p99]);
        }
    }
    LatencyStats {
        windows: ResponsePercentiles {
            h24: percentiles(&h24),
            d7: percentiles(&d7),
            d30: percentiles(&d30),
        },
        days: DailyPercentiles {
            first: Some((today - TimeDelta::days(BAR_DAYS - 1)).date_naive()),
            days: days.into(),
            shown: false,
        },
    }
}

/// The service page's response-time chart of `view`: per day p50, p95,
/// p99 (from its daily percentiles) and the mean, as polylines in a
/// 600 × 120 box scaled to the highest figure, and the figures in words;
/// `None` before any day measured a time. The markup the page inserts as
/// it is (the name escaped here).
pub fn latency_chart(view: &ServiceView) -> Option<String> {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let days: Vec<_> = view.days.iter().collect();
    // Per day: p50, p95, p99, mean.
    let figures: Vec<[Option<u32>; 4]> = days
        .iter()
        .map(|d| {
            let p = view.daily_percentiles.on(d.date);
            [
                p.map(|p| p[0]),
                p.map(|p| p[1]),
                p.map(|p| p[2]),
                d.latency_ms,
            ]
        })
        .collect();
    let series: [Vec<(usize, u32)>; 4] = std::array::from_fn(|k| {
        figures
            .iter()
            .enumerate()
            .filter_map(|(i, day)| day[k].map(|ms| (i, ms)))
            .collect()
    });
    let max = series.iter().flatten().map(|(_, ms)| *ms).max()?.max(1);
    let step = W / (days.len().max(2) - 1) as f64;
    let points = |values: &[(usize, u32)]| {
        values
            .iter()
            .map(|(i, ms)| {
                let y = H - f64::from(*ms) / f64::from(max) * (H - 10.0);
                format!("{:.1},{y:.1}", *i as f64 * step)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let names = ["p50", "p95", "p99", "mean"];
    let today: Vec<String> = names
        .iter()
        .zip(&series)
        .filter_map(|(name, values)| {
            let (i, ms) = values.last()?;
            (*i + 1 == days.len()).then(|| format!("{name} {ms} ms"))
        })
        .collect();
    let today = if today.is_empty() {
        "none today".to_owned()
    } else {
        format!("today {}", today.join(", "))
    };
    let h24 = view.percentiles.h24;
    let window = match (h24.p50, h24.p95, h24.p99) {
        (Some(p50), Some(p95), Some(p99)) => {
            format!("Last 24 hours: p50 {p50} ms · p95 {p95} ms · p99 {p99} ms · ")
        }
        _ => String::new(),
    };
    let label = escape_html(&format!(
        "{}: daily response time over 90 days, highest {max} ms, {today}",
        view.name
    ));
    let lines: String = names
        .iter()
        .zip(&series)
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, values)| {
            format!(
                r#"<polyline points="{}" class="chart-line {name}" fill="none"></polyline>"#,
                points(values)
            )
        })
        .collect();
    let keys: String = names
        .iter()
        .zip(&series)
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, _)| format!(r#" <span class="key {name}">{name}</span>"#))
        .collect();
    Some(format!(
        r#"<figure class="chart"><svg viewBox="0 0 600 120" role="img" aria-label="{label}" preserveAspectRatio="none"><title>{label}</title><line x1="0" y1="10" x2="600" y2="10" class="chart-grid"></line>{lines}</svg><figcaption class="muted">{window}daily, highest {max} ms:{keys}</figcaption></figure>"#
    ))
}

#[cfg(test)]
mod tests {
    use app::model::SampleOutcome;
    use chrono::TimeZone;

    use super::*;
    use crate::domain::rollup::{fine_bound, fine_bucket};

    fn rollup(latencies: impl IntoIterator<Item = u32>) -> Rollup {
        let mut r = Rollup::default();
        for ms in latencies {
            r.add(SampleOutcome::Up, Some(ms), false);
        }
        r
    }

    /// The nearest-rank percentile of `sorted`, as the histogram reports
    /// it: the upper bound of the true value's bucket, capped by the
    /// maximum.
    fn expected(sorted: &[u32], q: f64) -> u32 {
        let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
        let truth = sorted[rank - 1];
        let max = *sorted.last().unwrap();
        fine_bound(fine_bucket(truth)).map_or(max, |b| b.min(max))
    }

    #[test]
    fn percentiles_are_the_bucket_of_the_nearest_rank_capped_by_the_maximum() {
        // (latencies, p50, p95, p99)
        let cases: [(Vec<u32>, [u32; 3]); 5] = [
            // Below 100 ms buckets are 1 ms wide: exact.
            ((1..=100).collect(), [50, 95, 99]),
            // 10 ms buckets, capped by the slowest (250).
            ((1..=100).map(|i| 150 + i).collect(), [200, 250, 250]),
            // One sample: every percentile is it (capped: 101 not 110).
            (vec![101], [101, 101, 101]),
            // Beyond 100 s: the maximum.
            (vec![10, 10, 10, 250_000], [10, 250_000, 250_000]),
            // 100 ms buckets between 1 and 10 s.
            (vec![1_001, 1_050, 1_150, 2_999], [1_100, 2_999, 2_999]),
        ];
        for (latencies, want) in cases {
            let got = percentiles(&rollup(latencies.iter().copied()));
            assert_eq!([got.p50, got.p95, got.p99], want.map(Some), "{latencies:?}");
            let mut sorted = latencies.clone();
            sorted.sort_unstable();
            assert_eq!(want, QUANTILES.map(|q| expected(&sorted, q)));
        }
        assert_eq!(percentiles(&Rollup::default()), Percentiles::default());
    }

    #[test]
    fn windows_and_days_take_only_their_periods() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        let hour = |back: i64| Resolution::Hour.start_of(now) - TimeDelta::hours(back);
        let day = |back: i64| Resolution::Day.start_of(now) - TimeDelta::days(back);
        let (fast, slow, slower) = (rollup([10]), rollup([500]), rollup([900]));
        let stats = latency_stats(
            now,
            // The hour under way and 23 before; 24 hours back is out.
            [(hour(0), &fast), (hour(23), &slow), (hour(24), &slower)],
            [
                (day(0), &fast),
                (day(6), &slow),
                (day(7), &slower),
                (day(89), &fast),
                (day(90), &slower),
            ],
        );
        assert_eq!(stats.windows.h24.p99, Some(500));
        assert_eq!(stats.windows.h24.p50, Some(10));
        assert_eq!(stats.windows.d7.p99, Some(500));
        assert_eq!(stats.windows.d30.p99, Some(900));
        let days = &stats.days;
        // 2026-03-01 back 89 days: 2025-12-02 (February 2026 has 28).
        assert_eq!(
            days.first,
            Some(chrono::NaiveDate::from_ymd_opt(2025, 12, 2).unwrap())
        );
        assert_eq!(days.days.len(), 90);
        assert_eq!(days.on(day(0).date_naive()), Some([10, 10, 10]));
        assert_eq!(days.on(day(7).date_naive()), Some([900, 900, 900]));
        assert_eq!(days.on(day(89).date_naive()), Some([10, 10, 10]));
        assert_eq!(days.on(day(1).date_naive()), None, "no samples");
        assert_eq!(days.on(day(90).date_naive()), None, "before the first");
    }

    #[test]
    fn older_days_are_taken_from_the_last_read() {
        let yesterday = Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap();
        let now = yesterday + TimeDelta::hours(2);
        let day = |back: i64| Resolution::Day.start_of(now) - TimeDelta::days(back);
        let (old, recent, today) = (rollup([40, 50]), rollup([700]), rollup([9]));
        let all = [
            (day(60), &old),
            (day(89), &old),
            (day(10), &recent),
            (day(0), &today),
        ];
        let last = latency_stats(yesterday, [], all.iter().take(3).copied());
        // Read again the next day: only the last 30 days.
        let mut read = latency_stats(now, [], all.iter().filter(|(d, _)| *d >= day(29)).copied());
        assert_eq!(read.days.on(day(60).date_naive()), None);
        read.fill_older(&last.days, day(29).date_naive());
        assert_eq!(read, latency_stats(now, [], all));
        assert_eq!(read.days.on(day(89).date_naive()), Some([40, 50, 50]));
    }

    #[test]
    fn daily_percentiles_travel_as_one_entry_a_day_and_read_back_equal() {
        let stats = latency_stats(
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap(),
            [],
            [(
                Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
                &rollup([12, 70_000, 30]),
            )],
        );
        let mut days = stats.days;
        assert!(days.is_hidden(), "only a service's own document shows them");
        days.shown = true;
        let json = serde_json::to_value(&days).unwrap();
        assert_eq!(json["first"], "2025-12-02");
        assert_eq!(json["days"].as_array().unwrap().len(), 90);
        assert_eq!(json["days"][0], serde_json::Value::Null);
        // 70 s does not fit the packed form: saturated at 65,534 ms.
        assert_eq!(json["days"][89], serde_json::json!([30, 65_534, 65_534]));
        let back: DailyPercentiles = serde_json::from_value(json).unwrap();
        assert_eq!(back, days);
    }
}
