//! Rollups: per service, per hour and per day, counts of each outcome and
//! latency statistics (count, sum, max, and the fine [`Histogram`] that
//! percentiles and latency objectives are read from). They are updated in the same transaction as the samples
//! they summarise, so uptime windows, daily bars and response-time series
//! never scan raw samples. Pure data and arithmetic; no I/O.

use std::collections::BTreeMap;

use app::model::{PeriodCounts, SampleOutcome};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::sample::Sample;

/// Upper bounds (ms, inclusive) of the coarse histogram rows kept before
/// the fine one (columns `b0`..`b10`, read only); the last bucket held
/// everything slower.
pub const COARSE_BOUNDS_MS: [u32; 10] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];
pub const COARSE_BUCKETS: usize = COARSE_BOUNDS_MS.len() + 1;

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    pub histogram: Histogram,
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
            self.histogram.add(ms);
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
        self.histogram.merge(&other.histogram);
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

    /// The `p`-th percentile latency (0 < p ≤ 1), within one bucket of the
    /// fine [`Histogram`].
    pub fn percentile_ms(&self, p: f64) -> Option<u32> {
        self.histogram.percentile_ms(p, self.latency_max_ms)
    }

    /// Samples with a latency at most `ms` (exact for a fine bound).
    pub fn at_most_ms(&self, ms: u32) -> u64 {
        self.histogram.at_most(ms)
    }
}

/// The fine latency histogram: the buckets rollups keep and percentiles
/// and latency objectives are read from.
///
/// | latency | bucket width | upper bounds |
/// | --- | --- | --- |
/// | 0–100 ms | 1 ms | 0, 1, 2, …, 100 |
/// | 100–1,000 ms | 10 ms | 110, 120, …, 1,000 |
/// | 1,000–10,000 ms | 100 ms | 1,100, …, 10,000 |
/// | 10,000–100,000 ms | 1,000 ms | 11,000, …, 100,000 |
/// | slower | one bucket | the observed maximum |
///
/// A bucket holds the latencies above the previous bound up to its own
/// (inclusive), so "samples at most T ms" is exact whenever T is a bound,
/// which is why latency thresholds must be one ([`is_fine_bound`]); a
/// percentile is the upper bound of its bucket, at most 10 % (1 ms below
/// 100 ms) above the true value and capped by the maximum.
///
/// Stored sparse: only buckets that hold samples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// (bucket, count), by bucket, counts above zero.
    buckets: Vec<(u16, u32)>,
}

/// Buckets of [`Histogram`], the last one unbounded.
pub const FINE_BUCKETS: usize = 372;
/// The largest bounded latency of [`Histogram`].
pub const FINE_MAX_MS: u32 = 100_000;

/// The bucket of `ms`.
pub fn fine_bucket(ms: u32) -> u16 {
    let (base, first, width) = match ms {
        0..=100 => return ms as u16,
        101..=1000 => (100, 100, 10),
        1001..=10_000 => (190, 1000, 100),
        10_001..=FINE_MAX_MS => (280, 10_000, 1000),
        _ => return (FINE_BUCKETS - 1) as u16,
    };
    (base + (ms - first).div_ceil(width)) as u16
}

/// The inclusive upper bound of `bucket`; `None` for the last one.
pub fn fine_bound(bucket: u16) -> Option<u32> {
    let b = u32::from(bucket);
    Some(match b {
        0..=100 => b,
        101..=190 => 100 + (b - 100) * 10,
        191..=280 => 1000 + (b - 190) * 100,
        281..=370 => 10_000 + (b - 280) * 1000,
        _ => return None,
    })
}

/// Whether `ms` is a bucket bound, so counts at most `ms` are exact.
pub fn is_fine_bound(ms: u32) -> bool {
    fine_bound(fine_bucket(ms)) == Some(ms)
}

/// The bounds either side of `ms` (for an error message naming the nearest
/// thresholds allowed).
pub fn fine_bounds_around(ms: u32) -> (u32, u32) {
    let bucket = fine_bucket(ms.min(FINE_MAX_MS));
    let upper = fine_bound(bucket).unwrap_or(FINE_MAX_MS);
    let lower = bucket.checked_sub(1).and_then(fine_bound).unwrap_or(0);
    (lower, upper)
}

impl Histogram {
    pub fn add(&mut self, ms: u32) {
        self.add_to(fine_bucket(ms), 1);
    }

    fn add_to(&mut self, bucket: u16, count: u32) {
        if count == 0 {
            return;
        }
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => self.buckets[i].1 += count,
            Err(i) => self.buckets.insert(i, (bucket, count)),
        }
    }

    pub fn merge(&mut self, other: &Self) {
        for (bucket, count) in &other.buckets {
            self.add_to(*bucket, *count);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|(_, c)| u64::from(*c)).sum()
    }

    /// Samples at most `ms` (exact when `ms` is a bound, else counting the
    /// bucket `ms` falls in as wholly faster).
    pub fn at_most(&self, ms: u32) -> u64 {
        let last = fine_bucket(ms);
        self.buckets
            .iter()
            .take_while(|(b, _)| *b <= last)
            .map(|(_, c)| u64::from(*c))
            .sum()
    }

    /// The `p`-th percentile (0 < p ≤ 1) as the upper bound of its bucket,
    /// capped by `max_ms`; `None` when empty.
    pub fn percentile_ms(&self, p: f64, max_ms: u32) -> Option<u32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * total as f64).ceil().max(1.0);
        let mut seen = 0u64;
        for (bucket, count) in &self.buckets {
            seen += u64::from(*count);
            if seen as f64 >= rank {
                return Some(fine_bound(*bucket).map_or(max_ms, |b| b.min(max_ms)));
            }
        }
        Some(max_ms)
    }

    /// The histogram of rows written before the fine one existed: the
    /// coarse buckets' counts at their upper bounds (which are fine bounds),
    /// the slowest at the maximum.
    pub fn from_coarse(coarse: &[u32; COARSE_BUCKETS], max_ms: u32) -> Self {
        let mut histogram = Self::default();
        for (i, count) in coarse.iter().enumerate() {
            let bound = COARSE_BOUNDS_MS.get(i).copied().unwrap_or(u32::MAX);
            histogram.add_to(fine_bucket(bound.min(max_ms)), *count);
        }
        histogram
    }

    /// The stored form: per bucket holding samples, the distance from the
    /// previous one and the count, each an unsigned LEB128 varint.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * 2);
        let mut previous = 0u16;
        for (bucket, count) in &self.buckets {
            put_varint(&mut out, u32::from(bucket - previous));
            put_varint(&mut out, *count);
            previous = *bucket;
        }
        out
    }

    /// Reads [`Self::encode`]'s form; `None` when it is not one.
    pub fn decode(mut bytes: &[u8]) -> Option<Self> {
        let mut buckets = Vec::new();
        let mut bucket = 0u32;
        while !bytes.is_empty() {
            bucket += take_varint(&mut bytes)?;
            let count = take_varint(&mut bytes)?;
            let b = u16::try_from(bucket)
                .ok()
                .filter(|b| usize::from(*b) < FINE_BUCKETS)?;
            if buckets.last().is_some_and(|(last, _)| *last >= b) || count == 0 {
                return None;
            }
            buckets.push((b, count));
        }
        Some(Self { buckets })
    }
}

// LEB128 by hand: eight lines for the one integer coding the stored
// histogram needs, rather than a crate for it.
fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
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
        assert_eq!(r.percentile_ms(0.5), Some(8));
        assert_eq!(r.percentile_ms(0.9), Some(8));
        assert_eq!(r.percentile_ms(0.95), Some(300));
        assert_eq!(r.percentile_ms(1.0), Some(12_000));
        assert_eq!(r.at_most_ms(8), 18);
        assert_eq!(r.at_most_ms(300), 19);
        assert_eq!(r.at_most_ms(290), 18);
        assert_eq!(Rollup::default().percentile_ms(0.95), None);
    }

    #[test]
    fn fine_buckets_are_inclusive_upper_bounds() {
        // (latency, bucket, its upper bound)
        #[rustfmt::skip]
        let cases: &[(u32, u16, Option<u32>)] = &[
            (0, 0, Some(0)), (1, 1, Some(1)), (100, 100, Some(100)),
            (101, 101, Some(110)), (110, 101, Some(110)), (111, 102, Some(120)),
            (300, 120, Some(300)), (1000, 190, Some(1000)), (1001, 191, Some(1100)),
            (10_000, 280, Some(10_000)), (10_001, 281, Some(11_000)),
            (100_000, 370, Some(100_000)), (100_001, 371, None), (u32::MAX, 371, None),
        ];
        for (ms, bucket, bound) in cases {
            assert_eq!(fine_bucket(*ms), *bucket, "{ms}");
            assert_eq!(fine_bound(*bucket), *bound, "{ms}");
        }
        // Every bound is in its own bucket, and every latency is at most
        // its bucket's bound and above the previous one.
        for ms in 0..=FINE_MAX_MS + 10 {
            let b = fine_bucket(ms);
            assert!(fine_bound(b).is_none_or(|bound| ms <= bound), "{ms}");
            if let Some(previous) = b.checked_sub(1).and_then(fine_bound) {
                assert!(ms > previous, "{ms}");
            }
        }
        // 10 % wide at most.
        for b in 1..(FINE_BUCKETS as u16 - 1) {
            let (low, high) = (fine_bound(b - 1).unwrap(), fine_bound(b).unwrap());
            assert!(
                f64::from(high - low) <= 0.1 * f64::from(low).max(10.0),
                "{b}"
            );
        }
    }

    #[test]
    fn thresholds_must_be_bounds() {
        for ms in [1, 99, 100, 300, 800, 1000, 2500, 10_000, 42_000, 100_000] {
            assert!(is_fine_bound(ms), "{ms}");
        }
        for ms in [101, 333, 1050, 10_500, 100_001] {
            assert!(!is_fine_bound(ms), "{ms}");
        }
        assert_eq!(fine_bounds_around(333), (330, 340));
        assert_eq!(fine_bounds_around(1050), (1000, 1100));
    }

    #[test]
    fn histograms_count_exactly_at_bounds_and_round_trip() {
        let mut h = Histogram::default();
        for ms in [5, 5, 299, 300, 301, 800, 5000, 250_000] {
            h.add(ms);
        }
        assert_eq!(h.total(), 8);
        assert_eq!(h.at_most(300), 4);
        assert_eq!(h.at_most(800), 6);
        assert_eq!(h.at_most(4), 0);
        assert_eq!(Histogram::decode(&h.encode()), Some(h.clone()));
        assert_eq!(Histogram::decode(&[]), Some(Histogram::default()));
        // A truncated varint, a bucket past the end, and a zero count.
        assert_eq!(Histogram::decode(&[0x80]), None);
        assert_eq!(Histogram::decode(&[0xff, 0x03, 1]), None);
        assert_eq!(Histogram::decode(&[3, 0]), None);
        // Percentiles: the bucket's bound, capped by the maximum.
        assert_eq!(h.percentile_ms(0.5, 250_000), Some(300));
        assert_eq!(h.percentile_ms(1.0, 250_000), Some(250_000));
        assert_eq!(Histogram::default().percentile_ms(0.5, 0), None);
    }

    #[test]
    fn coarse_rows_read_as_their_bounds() {
        let mut coarse = [0u32; COARSE_BUCKETS];
        coarse[0] = 3; // ≤ 10 ms
        coarse[4] = 2; // ≤ 250 ms
        coarse[10] = 1; // > 10 s
        let h = Histogram::from_coarse(&coarse, 12_345);
        assert_eq!(h.total(), 6);
        assert_eq!(h.at_most(10), 3);
        assert_eq!(h.at_most(250), 5);
        assert_eq!(h.percentile_ms(1.0, 12_345), Some(12_345));
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
