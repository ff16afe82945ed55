//! Rollups: per service, per hour and per day, counts of each outcome and
//! latency statistics (count, sum, max, and a fixed histogram for
//! percentiles). They are updated in the same transaction as the samples
//! they summarise, so uptime windows, daily bars and response-time series
//! never scan raw samples. Pure data and arithmetic; no I/O.

use std::collections::BTreeMap;

use app::model::{PeriodCounts, SampleOutcome};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::sample::Sample;

/// Upper bounds (ms, inclusive) of the latency histogram buckets; the last
/// bucket holds everything slower.
pub const BUCKET_BOUNDS_MS: [u32; 10] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
pub const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// Which rollup table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    Hour,
    Day,
}

impl Resolution {
    /// The start of the hour or UTC day containing `at`.
    pub fn start_of(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let step = match self {
            Self::Hour => TimeDelta::hours(1),
            Self::Day => TimeDelta::days(1),
        };
        at.duration_trunc(step).unwrap_or(at)
    }
}

/// A summary of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub up: u32,
    pub degraded: u32,
    pub down: u32,
    /// Samples taken during maintenance: stored, but left out of uptime and
    /// latency.
    pub maintenance: u32,
    /// Samples that carried a latency.
    pub latency_count: u32,
    pub latency_sum_ms: u64,
    pub latency_max_ms: u32,
    pub buckets: [u32; BUCKETS],
}

impl Rollup {
    pub fn add(&mut self, outcome: SampleOutcome, latency_ms: Option<u32>, in_maintenance: bool) {
        if in_maintenance {
            self.maintenance += 1;
            return;
        }
        match outcome {
            SampleOutcome::Up => self.up += 1,
            SampleOutcome::Degraded => self.degraded += 1,
            SampleOutcome::Down => self.down += 1,
        }
        if let Some(ms) = latency_ms {
            self.latency_count += 1;
            self.latency_sum_ms += u64::from(ms);
            self.latency_max_ms = self.latency_max_ms.max(ms);
            self.buckets[bucket_of(ms)] += 1;
        }
    }

    pub fn merge(&mut self, other: &Self) {
        self.up += other.up;
        self.degraded += other.degraded;
        self.down += other.down;
        self.maintenance += other.maintenance;
        self.latency_count += other.latency_count;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_max_ms = self.latency_max_ms.max(other.latency_max_ms);
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
    }

    /// The counts the snapshot keeps of this rollup (no histogram; the
    /// latency sum saturates at `u32::MAX`).
    pub fn counts(&self) -> PeriodCounts {
        PeriodCounts {
            up: self.up,
            degraded: self.degraded,
            down: self.down,
            maintenance: self.maintenance,
            latency_count: self.latency_count,
            latency_sum_ms: u32::try_from(self.latency_sum_ms).unwrap_or(u32::MAX),
        }
    }

    /// Samples that count towards uptime (maintenance excluded).
    pub fn samples(&self) -> u32 {
        self.counts().samples()
    }

    /// Share of samples that were up or degraded; `None` without data
    /// (never shown as 0 % or 100 %).
    pub fn uptime(&self) -> Option<f64> {
        self.counts().uptime()
    }

    pub fn average_latency_ms(&self) -> Option<u32> {
        (self.latency_count > 0).then(|| {
            u32::try_from(self.latency_sum_ms / u64::from(self.latency_count)).unwrap_or(u32::MAX)
        })
    }

    /// An upper bound for the `p`-th percentile latency (0 < p ≤ 1): the
    /// bound of the bucket it falls in, capped by the observed maximum.
    pub fn percentile_ms(&self, p: f64) -> Option<u32> {
        if self.latency_count == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * f64::from(self.latency_count))
            .ceil()
            .max(1.0);
        let mut seen = 0u32;
        for (i, count) in self.buckets.iter().enumerate() {
            seen += count;
            if f64::from(seen) >= rank {
                let bound = BUCKET_BOUNDS_MS.get(i).copied().unwrap_or(u32::MAX);
                return Some(bound.min(self.latency_max_ms));
            }
        }
        Some(self.latency_max_ms)
    }
}

fn bucket_of(ms: u32) -> usize {
    BUCKET_BOUNDS_MS.partition_point(|bound| *bound < ms)
}

/// Groups samples into rollups keyed by (service, period start).
pub fn summarise(
    samples: &[Sample],
    resolution: Resolution,
) -> BTreeMap<(i64, DateTime<Utc>), Rollup> {
    let mut groups: BTreeMap<(i64, DateTime<Utc>), Rollup> = BTreeMap::new();
    for sample in samples {
        groups
            .entry((sample.service_id, resolution.start_of(sample.taken_at)))
            .or_default()
            .add(sample.outcome, sample.latency_ms, sample.in_maintenance);
    }
    groups
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use SampleOutcome::{Degraded, Down, Up};

    fn rollup(samples: &[(SampleOutcome, Option<u32>)]) -> Rollup {
        let mut r = Rollup::default();
        for (outcome, latency) in samples {
            r.add(*outcome, *latency, false);
        }
        r
    }

    #[test]
    fn uptime_counts_degraded_as_up_and_no_data_as_unknown() {
        // (samples as (outcome, latency), expected uptime)
        type Case<'a> = (&'a [(SampleOutcome, Option<u32>)], Option<f64>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (&[], None),
            (&[(Up, Some(5)), (Up, Some(5))], Some(1.0)),
            (&[(Up, Some(5)), (Down, None)], Some(0.5)),
            (&[(Degraded, Some(900)), (Down, None), (Down, None), (Up, Some(1))], Some(0.5)),
            (&[(Down, None)], Some(0.0)),
        ];
        for (samples, expected) in cases {
            assert_eq!(rollup(samples).uptime(), *expected, "{samples:?}");
        }
    }

    #[test]
    fn latency_statistics_and_percentiles() {
        // 18 fast samples, one at 300 ms, one at 12 s.
        let mut samples = vec![(Up, Some(8)); 18];
        samples.push((Up, Some(300)));
        samples.push((Degraded, Some(12_000)));
        samples.push((Down, None));
        let r = rollup(&samples);
        assert_eq!(r.latency_count, 20);
        assert_eq!(r.latency_max_ms, 12_000);
        assert_eq!(r.average_latency_ms(), Some((18 * 8 + 300 + 12_000) / 20));
        assert_eq!(r.percentile_ms(0.5), Some(10));
        assert_eq!(r.percentile_ms(0.9), Some(10));
        assert_eq!(r.percentile_ms(0.95), Some(500));
        assert_eq!(r.percentile_ms(1.0), Some(12_000));
        assert_eq!(Rollup::default().percentile_ms(0.95), None);
    }

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10), 0);
        assert_eq!(bucket_of(11), 1);
        assert_eq!(bucket_of(10_000), 9);
        assert_eq!(bucket_of(10_001), 10);
    }

    #[test]
    fn maintenance_samples_are_counted_apart_from_uptime_and_latency() {
        let mut r = rollup(&[(Up, Some(5))]);
        r.add(Down, None, true);
        r.add(Up, Some(9000), true);
        assert_eq!(r.maintenance, 2);
        assert_eq!(r.samples(), 1);
        assert_eq!(r.uptime(), Some(1.0));
        assert_eq!(r.latency_max_ms, 5);
    }

    #[test]
    fn merging_equals_adding_everything_at_once() {
        let a = [(Up, Some(3)), (Down, None), (Degraded, Some(700))];
        let b = [(Up, Some(40)), (Up, Some(20_000))];
        let mut merged = rollup(&a);
        merged.merge(&rollup(&b));
        let all: Vec<_> = a.iter().chain(&b).copied().collect();
        assert_eq!(merged, rollup(&all));
    }

    #[test]
    fn samples_group_by_utc_hour_and_day() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap();
        let sample = |service_id, taken_at, outcome| Sample {
            service_id,
            taken_at,
            outcome,
            latency_ms: Some(5),
            error: None,
            in_maintenance: false,
        };
        let samples = [
            sample(1, at(10, 1), Up),
            sample(1, at(10, 59), Down),
            sample(1, at(11, 0), Up),
            sample(2, at(10, 30), Up),
        ];
        let hourly = summarise(&samples, Resolution::Hour);
        assert_eq!(hourly.len(), 3);
        assert_eq!(hourly[&(1, at(10, 0))].samples(), 2);
        assert_eq!(hourly[&(1, at(10, 0))].down, 1);
        let daily = summarise(&samples, Resolution::Day);
        assert_eq!(daily.len(), 2);
        assert_eq!(daily[&(1, at(0, 0))].samples(), 3);
    }
}
