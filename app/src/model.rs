//! Wire types shared by the server (which builds them from the database) and
//! the browser (which receives them from `GET /public/status`).
//!
//! Names follow the vocabulary in SPEC.md: a *service* has a *status*
//! (Statuspage's component statuses), a *sample* has an *outcome*, and the
//! page as a whole has an *indicator*. Everything here is plain data with
//! serde derives so that the JSON API and the hydration payload are the same
//! document.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The result of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SampleOutcome {
    Up,
    Degraded,
    Down,
}

impl SampleOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }

    /// Parses the database / wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Self::Up),
            "degraded" => Some(Self::Degraded),
            "down" => Some(Self::Down),
            _ => None,
        }
    }
}

/// A service's displayed status, in Statuspage's component vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ServiceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// Parses the database / wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Operational,
            Self::UnderMaintenance,
            Self::DegradedPerformance,
            Self::PartialOutage,
            Self::MajorOutage,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }

    /// Words for people; the page never relies on colour alone.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// A glyph shown next to the label, so status is readable without colour.
    pub const fn icon(self) -> &'static str {
        match self {
            Self::Operational => "✓",
            Self::UnderMaintenance => "🔧",
            Self::DegradedPerformance => "!",
            Self::PartialOutage => "▲",
            Self::MajorOutage => "✕",
        }
    }
}

/// Statuspage's page-level indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
    Maintenance,
}

impl Indicator {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
            Self::Maintenance => "maintenance",
        }
    }
}

/// The page-level status line: indicator plus Statuspage's description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverallStatus {
    pub indicator: Indicator,
    pub description: String,
}

impl OverallStatus {
    /// Derives the overall status from the services' statuses.
    ///
    /// Services without data yet (`None`) do not count either way: a fresh
    /// install should not claim an outage, nor claim everything is fine
    /// before a single probe ran (then the description says so).
    pub fn from_services<I>(statuses: I) -> Self
    where
        I: IntoIterator<Item = Option<ServiceStatus>>,
    {
        let known: Vec<ServiceStatus> = statuses.into_iter().flatten().collect();
        let all_major = !known.is_empty() && known.iter().all(|s| *s == ServiceStatus::MajorOutage);
        let has = |wanted: ServiceStatus| known.contains(&wanted);
        let (indicator, description) = if known.is_empty() {
            (Indicator::None, "Waiting for the first checks")
        } else if all_major && known.len() > 1 {
            (Indicator::Critical, "Major System Outage")
        } else if has(ServiceStatus::MajorOutage) {
            (Indicator::Major, "Partial System Outage")
        } else if has(ServiceStatus::PartialOutage) {
            (Indicator::Minor, "Minor Service Outage")
        } else if has(ServiceStatus::DegradedPerformance) {
            (Indicator::Minor, "Partially Degraded Service")
        } else if has(ServiceStatus::UnderMaintenance) {
            (Indicator::Maintenance, "Service Under Maintenance")
        } else {
            (Indicator::None, "All Systems Operational")
        };
        Self {
            indicator,
            description: description.to_owned(),
        }
    }
}

/// Page identity from the `[page]` config table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageInfo {
    pub title: String,
    pub description: Option<String>,
    /// Public address of the page, when configured.
    pub url: Option<String>,
    /// Address of a logo shown before the title.
    #[serde(default)]
    pub logo: Option<String>,
    /// Links shown in the header (company site, support, …).
    #[serde(default)]
    pub links: Vec<PageLink>,
    /// Accent colour for links and focus rings, `#rgb` or `#rrggbb`.
    #[serde(default)]
    pub accent: Option<String>,
    /// Visitors may subscribe (`[subscribers] enabled`): the page shows
    /// its "Get updates" form.
    #[serde(default)]
    pub subscribe: bool,
}

/// A header link from `[[page.links]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageLink {
    pub label: String,
    pub url: String,
}

impl PageInfo {
    /// A page called `title`, with nothing else set.
    pub fn titled(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: None,
            url: None,
            logo: None,
            links: Vec::new(),
            accent: None,
            subscribe: false,
        }
    }
}

/// One service as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceView {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    /// `None` until the first sample has been stored.
    pub status: Option<ServiceStatus>,
    #[serde(with = "wire::utc_opt", default)]
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<SampleOutcome>,
    pub last_latency_ms: Option<u32>,
    /// Short human text of the last failure ("connection refused").
    pub last_error: Option<String>,
    pub uptime: Uptimes,
    /// Mean response time of the samples that measured one.
    #[serde(default)]
    pub response_ms: ResponseTimes,
    /// p50, p95 and p99 response times over the same windows. (The
    /// browser skips them: the page shows them through `latency_chart`.)
    #[serde(default)]
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    pub percentiles: ResponsePercentiles,
    /// p50, p95 and p99 of each of the 90 days; carried only by the
    /// service's own document (`/public/status?service=`, its page), the one
    /// that draws them.
    #[serde(default, skip_serializing_if = "DailyPercentiles::is_hidden")]
    #[cfg_attr(target_arch = "wasm32", serde(skip_deserializing))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub daily_percentiles: DailyPercentiles,
    /// The service page's response-time chart: a `<figure>` with an SVG of
    /// p50, p95, p99 and the mean per day and the figures in words, drawn
    /// and escaped by the server (so the WebAssembly neither parses the
    /// figures nor draws them); only in the service's own document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_chart: Option<String>,
    /// The last 90 UTC days, oldest first, today last.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<DayBar>))]
    pub days: DayBars,
    /// The service's objectives, when the page shows them
    /// (`page.show_slo`); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<ObjectiveView>,
}

/// An objective as the service page shows it. The texts are written by
/// the server (float formatting would cost the WebAssembly some 15 KB).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObjectiveView {
    /// "99.9 % available" or "95 % within 300 ms".
    pub label: String,
    /// `ok`, `warning`, `critical` or `exhausted`.
    pub status: String,
    /// "99.93 % over 30 days", "No data".
    pub achieved: String,
    /// "62 % of the error budget left", "Error budget spent".
    pub budget: String,
    /// The chart's text alternative: the figures in words.
    pub summary: String,
    /// The burndown as SVG polyline points in a 600 × 120 box, written by
    /// the server so the WebAssembly does no arithmetic or number parsing
    /// for it.
    pub points: String,
    /// The budget left as each day of the window ended, in per mille of
    /// the budget (1000 untouched, 0 spent, clamped at -1000); `None` for
    /// days without samples so far. For JSON readers; the page draws
    /// `points`, and the browser skips this.
    #[serde(default, skip_deserializing)]
    pub burndown: Vec<Option<i16>>,
}

/// Uptime over the standard windows: share of samples up or degraded.
/// `None` means no data in the window (shown as such, never as 0 % or 100 %).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uptimes {
    pub h24: Option<f64>,
    pub d7: Option<f64>,
    pub d30: Option<f64>,
    pub d90: Option<f64>,
}

/// Mean response time in milliseconds over the standard windows; `None`
/// when no sample in the window measured one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseTimes {
    pub h24: Option<u32>,
    pub d7: Option<u32>,
    pub d30: Option<u32>,
}

/// Response-time percentiles in milliseconds, from the fine histogram of
/// the rollups: each is the upper bound of the bucket the true value falls
/// in (1 ms wide up to 100 ms, then at most 10 % wide), capped by the
/// slowest sample; `None` when no sample measured a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Percentiles {
    pub p50: Option<u32>,
    pub p95: Option<u32>,
    pub p99: Option<u32>,
}

/// [`Percentiles`] over the standard windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponsePercentiles {
    pub h24: Percentiles,
    pub d7: Percentiles,
    pub d30: Percentiles,
}

/// p50, p95 and p99 per UTC day, packed: 6 bytes a day (milliseconds
/// saturating at 65,534), so the server keeps a service's 90 days in 540
/// bytes. On the wire `{"first": "YYYY-MM-DD", "days": [[p50, p95, p99]
/// or null, …]}`, one entry a day from `first`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyPercentiles {
    /// The day of `days[0]`.
    pub first: Option<chrono::NaiveDate>,
    /// Per day p50, p95, p99; [`Self::NONE`] for a day without times.
    pub days: Arc<[[u16; 3]]>,
    /// Written out; the server sets it only for a service's own document.
    pub shown: bool,
}

impl DailyPercentiles {
    /// A day without measured times.
    pub const NONE: u16 = u16::MAX;

    pub fn is_hidden(&self) -> bool {
        !self.shown || self.first.is_none()
    }

    /// The figures of `date`, if it had any.
    pub fn on(&self, date: chrono::NaiveDate) -> Option<[u32; 3]> {
        let i = usize::try_from((date - self.first?).num_days()).ok()?;
        let day = self.days.get(i)?;
        (day[0] != Self::NONE).then(|| day.map(u32::from))
    }

    /// Packs milliseconds (saturating below [`Self::NONE`]).
    pub fn pack(ms: [u32; 3]) -> [u16; 3] {
        ms.map(|v| {
            u16::try_from(v)
                .unwrap_or(Self::NONE - 1)
                .min(Self::NONE - 1)
        })
    }
}

#[derive(Serialize, Deserialize)]
struct DailyWire {
    #[serde(with = "wire::date")]
    first: chrono::NaiveDate,
    days: Vec<Option<[u16; 3]>>,
}

impl Serialize for DailyPercentiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DailyWire {
            first: self.first.unwrap_or_default(),
            days: self
                .days
                .iter()
                .map(|d| (d[0] != Self::NONE).then_some(*d))
                .collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DailyPercentiles {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = DailyWire::deserialize(deserializer)?;
        Ok(Self {
            first: Some(wire.first),
            days: wire
                .days
                .into_iter()
                .map(|d| d.unwrap_or([Self::NONE; 3]))
                .collect(),
            shown: true,
        })
    }
}

/// One day of a service's 90-day bar (UTC days).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayBar {
    /// `YYYY-MM-DD`.
    #[serde(with = "wire::date")]
    pub date: chrono::NaiveDate,
    pub uptime: Option<f32>,
    /// The worst sample of the day, if there was any.
    pub worst: Option<SampleOutcome>,
    /// Samples that count towards uptime.
    pub samples: u32,
    /// Samples taken during maintenance, left out of `uptime`.
    #[serde(default)]
    pub maintenance: u32,
    /// Mean response time of the day's samples that measured one.
    #[serde(default)]
    pub latency_ms: Option<u32>,
}

/// A service's daily bars, oldest first, today last; on the wire a list of
/// [`DayBar`].
///
/// On the server a view's bars are the snapshot builder's own day counters,
/// shared through an `Arc` and turned into bars only while they are
/// written out: a view costs a pointer instead of 90 bars (about 2.9 KB a
/// service, 140 MB at 50,000 services). The browser keeps the bars it
/// received.
#[derive(Clone, Debug, Default)]
pub struct DayBars(Bars);

#[derive(Clone, Debug)]
enum Bars {
    Received(Arc<[DayBar]>),
    /// `len` days from `first`: day `i` is `counts[skip + i]`, or a day
    /// without samples past the end of `counts`.
    #[cfg(not(target_arch = "wasm32"))]
    Counted {
        first: chrono::NaiveDate,
        counts: Arc<[PackedCounts]>,
        skip: usize,
        len: usize,
    },
}

impl Default for Bars {
    fn default() -> Self {
        Self::Received(Arc::default())
    }
}

impl DayBars {
    /// `counts.len()` days ending `shift` days after the last counted one:
    /// the counters of the first `shift` days fall off, and the newest
    /// `shift` days have no samples.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn counted(
        last_counted: chrono::NaiveDate,
        counts: Arc<[PackedCounts]>,
        shift: usize,
    ) -> Self {
        let len = counts.len();
        let back = u64::try_from(len.saturating_sub(1)).unwrap_or(0);
        let first = last_counted - chrono::Days::new(back)
            + chrono::Days::new(u64::try_from(shift).unwrap_or(0));
        Self(Bars::Counted {
            first,
            counts,
            skip: shift,
            len,
        })
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Bars::Received(bars) => bars.len(),
            #[cfg(not(target_arch = "wasm32"))]
            Bars::Counted { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Day `i`, oldest first.
    pub fn get(&self, i: usize) -> Option<DayBar> {
        match &self.0 {
            Bars::Received(bars) => bars.get(i).cloned(),
            #[cfg(not(target_arch = "wasm32"))]
            Bars::Counted {
                first,
                counts,
                skip,
                len,
            } => (i < *len).then(|| {
                let date = *first + chrono::Days::new(u64::try_from(i).unwrap_or(0));
                counts
                    .get(skip + i)
                    .map(PackedCounts::unpack)
                    .unwrap_or_default()
                    .bar(date)
            }),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = DayBar> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl From<Vec<DayBar>> for DayBars {
    fn from(bars: Vec<DayBar>) -> Self {
        Self(Bars::Received(bars.into()))
    }
}

impl PartialEq for DayBars {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Serialize for DayBars {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for DayBars {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<DayBar>::deserialize(deserializer).map(Self::from)
    }
}

/// [`PeriodCounts`] as the server keeps them per service and period: 19
/// bytes instead of 24, which puts a service's 90 days in jemalloc's
/// 1,792-byte size class instead of the 2,560-byte one (about 40 MB at
/// 50,000 services). The five counts take 3 bytes each (up to 16,777,215;
/// a day holds at most 86,400 samples, one a second), the latency sum 4.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PackedCounts([u8; 19]);

#[cfg(not(target_arch = "wasm32"))]
impl PackedCounts {
    const U24_MAX: u32 = (1 << 24) - 1;

    pub fn pack(c: &PeriodCounts) -> Self {
        let mut bytes = [0; 19];
        let counts = [c.up, c.degraded, c.down, c.maintenance, c.latency_count];
        for (i, n) in counts.into_iter().enumerate() {
            let le = n.min(Self::U24_MAX).to_le_bytes();
            bytes[i * 3..i * 3 + 3].copy_from_slice(&le[..3]);
        }
        bytes[15..].copy_from_slice(&c.latency_sum_ms.to_le_bytes());
        Self(bytes)
    }

    pub fn unpack(&self) -> PeriodCounts {
        let b = &self.0;
        let n = |i: usize| u32::from_le_bytes([b[i * 3], b[i * 3 + 1], b[i * 3 + 2], 0]);
        PeriodCounts {
            up: n(0),
            degraded: n(1),
            down: n(2),
            maintenance: n(3),
            latency_count: n(4),
            latency_sum_ms: u32::from_le_bytes([b[15], b[16], b[17], b[18]]),
        }
    }

    pub fn add(&mut self, other: &PeriodCounts) {
        let mut counts = self.unpack();
        counts.add(other);
        *self = Self::pack(&counts);
    }
}

/// Sample counts of one period (an hour or a UTC day). The latency sum
/// saturates (a day of 1-second probes at 10 s each still fits).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    pub up: u32,
    pub degraded: u32,
    pub down: u32,
    pub maintenance: u32,
    pub latency_count: u32,
    pub latency_sum_ms: u32,
}

#[cfg(not(target_arch = "wasm32"))]
impl PeriodCounts {
    pub fn add(&mut self, other: &Self) {
        self.up += other.up;
        self.degraded += other.degraded;
        self.down += other.down;
        self.maintenance += other.maintenance;
        self.latency_count += other.latency_count;
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(other.latency_sum_ms);
    }

    /// Samples that count towards uptime (maintenance left out).
    pub const fn samples(&self) -> u32 {
        self.up + self.degraded + self.down
    }

    /// Share of samples up or degraded; `None` without samples.
    pub fn uptime(&self) -> Option<f64> {
        let total = self.samples();
        (total > 0).then(|| f64::from(self.up + self.degraded) / f64::from(total))
    }

    /// Mean latency, rounded to the millisecond.
    pub fn mean_latency_ms(&self) -> Option<u32> {
        (self.latency_count > 0).then(|| {
            let mean = (u64::from(self.latency_sum_ms) + u64::from(self.latency_count) / 2)
                / u64::from(self.latency_count);
            u32::try_from(mean).unwrap_or(u32::MAX)
        })
    }

    pub const fn worst(&self) -> Option<SampleOutcome> {
        if self.down > 0 {
            Some(SampleOutcome::Down)
        } else if self.degraded > 0 {
            Some(SampleOutcome::Degraded)
        } else if self.up > 0 {
            Some(SampleOutcome::Up)
        } else {
            None
        }
    }

    /// The bar of `date` these counts make.
    pub fn bar(&self, date: chrono::NaiveDate) -> DayBar {
        DayBar {
            date,
            // f32 keeps 7 digits, plenty for a day's share.
            #[expect(clippy::cast_possible_truncation, reason = "f32 keeps enough digits")]
            uptime: self.uptime().map(|u| u as f32),
            worst: self.worst(),
            samples: self.samples(),
            maintenance: self.maintenance,
            latency_ms: self.mean_latency_ms(),
        }
    }
}

/// Formats an uptime share for people: "99.98 %", or "No data".
pub fn format_uptime(uptime: Option<f64>) -> String {
    match uptime {
        None => "No data".to_owned(),
        Some(u) if u >= 1.0 => "100 %".to_owned(),
        // Never round a failure up to 100 %.
        // Hundredths of a percent in integers: float formatting would cost
        // the WebAssembly some 15 KB.
        Some(u) => {
            let basis = (u.max(0.0) * 10_000.0).floor() as u32;
            format!("{}.{:02} %", basis / 100, basis % 100)
        }
    }
}

/// The document behind `GET /public/status` and the status page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicStatus {
    pub page: PageInfo,
    /// When the server built this document from the database.
    #[serde(with = "wire::utc")]
    pub generated_at: DateTime<Utc>,
    pub overall: OverallStatus,
    /// Shared with the previous snapshot when a service did not change.
    pub services: Vec<Arc<ServiceView>>,
    /// Unresolved incidents, newest first.
    pub incidents: Vec<IncidentView>,
    /// The most recent incidents, resolved ones included, newest first.
    #[serde(default)]
    pub recent_incidents: Vec<IncidentView>,
    /// Maintenance in progress, then upcoming, by start time.
    pub maintenances: Vec<MaintenanceView>,
    /// True when the server could not reach its database for the latest
    /// data: what is shown is the last data it had.
    #[serde(default)]
    pub stale: bool,
    /// Present when `services` holds only part of the page's services
    /// (a page with more than `[page] max_listed` services): what the
    /// whole page counts, group by group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Listing>,
}

/// The services of a large page, counted: every group with how many of
/// its services are in each status, and which part of them the document
/// lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Listing {
    /// Services on the whole page.
    pub total: u32,
    /// Every group (services without one under `name: null`), in page
    /// order; on a group's page only that group.
    pub groups: Vec<GroupCount>,
    /// What `services` holds.
    pub part: ListedPart,
}

/// Which services a [`Listing`] document carries: `"not_operational"`,
/// `"service"` or `{"group_page": {"page", "pages"}}` (externally tagged:
/// an internally tagged enum would cost the WebAssembly serde's buffering
/// deserializer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ListedPart {
    /// The services that are not operational (worst first, at most
    /// `max_listed`); the others are only counted.
    NotOperational,
    /// One service (its own page).
    Service,
    /// One page of one group's services, in page order.
    GroupPage {
        /// From 1.
        page: u32,
        /// Pages of the group; at least 1.
        pages: u32,
    },
}

/// How many services of one group are in each status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupCount {
    /// `None` for services without a group.
    pub name: Option<String>,
    /// The group's address: `/groups/{slug}` (see [`group_slug`]).
    pub slug: String,
    pub total: u32,
    pub operational: u32,
    pub under_maintenance: u32,
    pub degraded_performance: u32,
    pub partial_outage: u32,
    pub major_outage: u32,
    /// Not checked yet.
    pub no_data: u32,
}

impl GroupCount {
    /// Counts one more service of the group.
    pub fn count(&mut self, status: Option<ServiceStatus>) {
        self.total += 1;
        *match status {
            Some(ServiceStatus::Operational) => &mut self.operational,
            Some(ServiceStatus::UnderMaintenance) => &mut self.under_maintenance,
            Some(ServiceStatus::DegradedPerformance) => &mut self.degraded_performance,
            Some(ServiceStatus::PartialOutage) => &mut self.partial_outage,
            Some(ServiceStatus::MajorOutage) => &mut self.major_outage,
            None => &mut self.no_data,
        } += 1;
    }

    /// The worst status among the group's services (`None` when none has
    /// data yet).
    pub fn worst(&self) -> Option<ServiceStatus> {
        [
            (self.major_outage, ServiceStatus::MajorOutage),
            (self.partial_outage, ServiceStatus::PartialOutage),
            (
                self.degraded_performance,
                ServiceStatus::DegradedPerformance,
            ),
            (self.under_maintenance, ServiceStatus::UnderMaintenance),
            (self.operational, ServiceStatus::Operational),
        ]
        .into_iter()
        .find_map(|(n, status)| (n > 0).then_some(status))
    }
}

/// A group's address segment: its name in lower case, every run of other
/// characters than ASCII letters and digits made one `-`; `ungrouped` for
/// services without a group. Two names with the same slug share a page.
pub fn group_slug(name: Option<&str>) -> String {
    let Some(name) = name else {
        return "ungrouped".to_owned();
    };
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("group");
    }
    slug
}

impl PublicStatus {
    /// The same document with every service's day bars left out.
    pub fn without_days(mut self) -> Self {
        for service in &mut self.services {
            if !service.days.is_empty() {
                let mut bare = (**service).clone();
                bare.days = DayBars::default();
                *service = Arc::new(bare);
            }
        }
        self
    }

    /// The incident `id`, if it is active or among the recent ones.
    pub fn incident(&self, id: i64) -> Option<&IncidentView> {
        self.incidents
            .iter()
            .chain(&self.recent_incidents)
            .find(|i| i.id == id)
    }

    /// A page with no services known yet.
    pub fn empty(page: PageInfo) -> Self {
        Self {
            page,
            generated_at: DateTime::<Utc>::UNIX_EPOCH,
            overall: OverallStatus::from_services(std::iter::empty()),
            services: Vec::new(),
            incidents: Vec::new(),
            recent_incidents: Vec::new(),
            maintenances: Vec::new(),
            stale: false,
            listing: None,
        }
    }
}

/// Lifecycle of an incident (Statuspage's incident statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [Self; 4] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
        }
    }
}

/// How bad an incident is (Statuspage's impact).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Self; 4] = [Self::None, Self::Minor, Self::Major, Self::Critical];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The impact a service status implies: degraded is minor, a partial
    /// outage major, a major outage critical.
    pub const fn of_status(status: ServiceStatus) -> Self {
        match status {
            ServiceStatus::Operational | ServiceStatus::UnderMaintenance => Self::None,
            ServiceStatus::DegradedPerformance => Self::Minor,
            ServiceStatus::PartialOutage => Self::Major,
            ServiceStatus::MajorOutage => Self::Critical,
        }
    }
}

/// Who opened an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CreatedBy {
    /// Opened by Upbeat when a service left `operational`.
    Auto,
    Admin,
}

impl CreatedBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// A service an incident affects, with the status the incident gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AffectedService {
    pub slug: String,
    pub name: String,
    pub status: ServiceStatus,
}

/// One entry of an incident's timeline. `body` is Markdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentUpdateView {
    pub id: i64,
    pub status: IncidentStatus,
    /// Markdown, as written.
    pub body: String,
    /// `body` rendered to HTML and sanitised on the server (no scripts,
    /// no event handlers, no `javascript:` links): safe to insert as is.
    #[serde(default)]
    pub body_html: String,
    #[serde(with = "wire::utc")]
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentView {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_by: CreatedBy,
    pub auto_resolve: bool,
    #[serde(with = "wire::utc")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "wire::utc_opt", default)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(with = "wire::utc")]
    pub updated_at: DateTime<Utc>,
    pub services: Vec<AffectedService>,
    /// Newest first.
    pub updates: Vec<IncidentUpdateView>,
}

/// Where a maintenance window stands, from the current time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Completed,
}

impl MaintenanceStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaintenanceView {
    pub id: i64,
    pub title: String,
    /// Markdown.
    pub description: Option<String>,
    pub status: MaintenanceStatus,
    /// The occurrence shown: the one in progress, else the next one.
    #[serde(with = "wire::utc")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "wire::utc")]
    pub ends_at: DateTime<Utc>,
    /// The recurrence rule, for repeating windows.
    pub recurrence: Option<String>,
    /// Slugs of the services it covers.
    pub services: Vec<String>,
}

/// One month of history: `GET /public/history?month=YYYY-MM` and the
/// `/history` page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Incidents that started in the month, newest first.
    pub incidents: Vec<IncidentView>,
    /// Maintenance windows whose first occurrence falls in the month.
    pub maintenances: Vec<MaintenanceView>,
    /// The month before, `YYYY-MM`.
    pub previous: String,
    /// The month after, unless this is the current month.
    pub next: Option<String>,
}

/// Times on the wire: chrono's own formats (RFC 3339, `YYYY-MM-DD`). The
/// server reads and writes them with chrono. The browser reads them with
/// the small parsers below instead of chrono's general ones, which would
/// add their parser to the WebAssembly bundle.
/// Something the server loaded from the database for a page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loaded<T> {
    Found(T),
    /// There is no such thing (`?month=2026-13`, an unknown id): a 404 page.
    Missing,
    /// The database did not answer: a 503 page.
    Unavailable,
}

/// What a page shows beyond the status document, loaded by the server
/// before rendering and handed to the browser with the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageData {
    /// `/history`: the month asked for.
    History(Loaded<History>),
    /// `/incidents/{id}` of an incident no longer in the status document
    /// (resolved long ago).
    Incident(Loaded<IncidentView>),
}

/// `YYYY-MM-DD` as the page writes dates, without chrono's parser (which
/// would add its format strings to the WebAssembly).
#[cfg(any(target_arch = "wasm32", feature = "hydrate", test))]
pub fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    wire::parse_date(s)
}

mod wire {
    #[cfg(any(target_arch = "wasm32", test))]
    use chrono::{NaiveTime, TimeDelta};

    /// `YYYY-MM-DD`.
    // Only the browser parses times (the server writes them); tests check
    // these parsers against chrono's.
    #[cfg(any(target_arch = "wasm32", feature = "hydrate", test))]
    pub(super) fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        if s.len() != 10 || &s[4..5] != "-" || &s[7..8] != "-" {
            return None;
        }
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
    }

    /// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    // Only the browser parses times (the server writes them); tests check
    // these parsers against chrono's.
    #[cfg(any(target_arch = "wasm32", test))]
    pub(super) fn parse_utc(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let date = parse_date(s.get(0..10)?)?;
        let rest = s.get(10..)?;
        let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
        let num = |t: &str| t.parse::<u32>().ok();
        let (h, m, sec) = (
            num(rest.get(0..2)?)?,
            num(rest.get(3..5)?)?,
            num(rest.get(6..8)?)?,
        );
        let mut tail = rest.get(8..)?;
        let mut nanos = 0u32;
        if let Some(frac) = tail.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            let text = frac.get(..digits.min(9))?;
            nanos = num(text)? * 10u32.pow(9 - u32::try_from(text.len()).ok()?);
            tail = frac.get(digits..)?;
        }
        let offset_minutes: i64 = match tail {
            "Z" | "z" => 0,
            _ => {
                let sign = match tail.get(0..1)? {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                sign * i64::from(num(tail.get(1..3)?)? * 60 + num(tail.get(4..6)?)?)
            }
        };
        let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
        Some((date.and_time(time) - TimeDelta::minutes(offset_minutes)).and_utc())
    }

    pub mod utc {
        use chrono::{DateTime, Utc};
        use serde::{Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
            at.serialize(s)
        }

        #[cfg(not(target_arch = "wasm32"))]
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
            serde::Deserialize::deserialize(d)
        }

        #[cfg(target_arch = "wasm32")]
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
            let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
            super::parse_utc(&text).ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time"))
        }
    }

    pub mod utc_opt {
        use chrono::{DateTime, Utc};
        use serde::{Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            at.serialize(s)
        }

        #[cfg(not(target_arch = "wasm32"))]
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            serde::Deserialize::deserialize(d)
        }

        #[cfg(target_arch = "wasm32")]
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let text: Option<std::borrow::Cow<'de, str>> = serde::Deserialize::deserialize(d)?;
            text.map(|t| {
                super::parse_utc(&t)
                    .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time"))
            })
            .transpose()
        }
    }

    pub mod date {
        use chrono::NaiveDate;
        use serde::{Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(date: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
            date.serialize(s)
        }

        #[cfg(not(target_arch = "wasm32"))]
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
            serde::Deserialize::deserialize(d)
        }

        #[cfg(target_arch = "wasm32")]
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
            let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
            super::parse_date(&text).ok_or_else(|| serde::de::Error::custom("invalid date"))
        }
    }
}

/// Text for HTML, escaped (`&`, `<`, `>`, both quotes): for user text in
/// HTML written by hand (the day bars' markup; on the server the embed
/// widget and alert mail).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a UTC timestamp the same way on the server and in the browser,
/// so hydration never sees a mismatch.
///
/// Written out by hand rather than with `format("%Y-…")`: chrono's format
/// strings would add their parser to the WebAssembly bundle.
pub fn format_utc(at: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A `<time datetime>` value: RFC 3339 in UTC with at most milliseconds
/// (HTML's valid date strings allow three fractional digits; chrono's
/// `to_rfc3339` writes nine). Written out like [`format_utc`].
pub fn datetime_attr(at: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.timestamp_subsec_millis().min(999)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_attributes_carry_at_most_milliseconds() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 9, 5, 7).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(datetime_attr(&at), "2026-12-03T09:05:07.123Z");
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(&datetime_attr(&at)).unwrap(),
            at - chrono::Duration::nanoseconds(456_789)
        );
    }

    #[test]
    fn packed_counts_keep_every_count_a_day_can_hold() {
        let day = PeriodCounts {
            up: 86_400,
            degraded: 70_000,
            down: 65_536,
            maintenance: 1,
            latency_count: 16_777_215,
            latency_sum_ms: u32::MAX - 1,
        };
        assert_eq!(PackedCounts::pack(&day).unpack(), day);
        assert_eq!(PackedCounts::default().unpack(), PeriodCounts::default());
        let mut packed = PackedCounts::pack(&day);
        packed.add(&PeriodCounts {
            up: 1,
            latency_sum_ms: 5,
            ..PeriodCounts::default()
        });
        assert_eq!(packed.unpack().up, 86_401);
        assert_eq!(
            packed.unpack().latency_sum_ms,
            u32::MAX,
            "the sum saturates"
        );
        let over = PeriodCounts {
            down: 1 << 24,
            ..PeriodCounts::default()
        };
        assert_eq!(
            PackedCounts::pack(&over).unpack().down,
            (1 << 24) - 1,
            "counts saturate"
        );
        assert_eq!(std::mem::size_of::<PackedCounts>(), 19);
    }

    #[test]
    fn counted_bars_are_written_as_the_bars_they_stand_for() {
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let counts = |up: u32, down: u32| PeriodCounts {
            up,
            down,
            latency_count: up,
            latency_sum_ms: up * 40,
            ..PeriodCounts::default()
        };
        // Counted up to the 20th, shown on the 22nd: the oldest two fall
        // off, the 21st and 22nd have no samples.
        let counted = DayBars::counted(
            day(20),
            [counts(1, 0), counts(2, 0), counts(9, 1), counts(3, 1)]
                .iter()
                .map(PackedCounts::pack)
                .collect(),
            2,
        );
        let bar = |date, uptime, worst, samples, latency_ms| DayBar {
            date,
            uptime,
            worst,
            samples,
            maintenance: 0,
            latency_ms,
        };
        let expected = vec![
            bar(day(19), Some(0.9), Some(SampleOutcome::Down), 10, Some(40)),
            bar(day(20), Some(0.75), Some(SampleOutcome::Down), 4, Some(40)),
            bar(day(21), None, None, 0, None),
            bar(day(22), None, None, 0, None),
        ];
        assert_eq!(counted.iter().collect::<Vec<_>>(), expected);
        let json = serde_json::to_string(&counted).unwrap();
        assert_eq!(json, serde_json::to_string(&expected).unwrap());
        let received: DayBars = serde_json::from_str(&json).unwrap();
        assert_eq!(received, counted);
        assert_eq!(received.get(1), Some(expected[1].clone()));
        assert_eq!(received.get(4), None);
    }

    #[test]
    fn the_browser_parses_times_as_chrono_does() {
        for text in [
            "2026-11-22T00:33:49Z",
            "2026-11-22T00:33:49.385Z",
            "2026-11-22T00:33:49.123456789Z",
            "2026-11-22T10:00:00.000+00:00",
            "2026-11-22T10:00:00+02:30",
            "2026-11-22T01:00:00-05:00",
            "2024-02-29T23:59:59.5Z",
        ] {
            let ours = wire::parse_utc(text);
            let chrono = text.parse::<DateTime<Utc>>().ok();
            assert!(ours.is_some(), "{text}");
            assert_eq!(ours, chrono, "{text}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-13-01T00:00:00Z",
            "2026-11-22T25:00:00Z",
            "2026-11-22T00:00:00",
            "2026-11-22T00:00:00+0x:00",
        ] {
            assert_eq!(wire::parse_utc(bad), None, "{bad}");
        }
        assert_eq!(
            wire::parse_date("2026-02-28"),
            chrono::NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(wire::parse_date("2026-02-30"), None);
        assert_eq!(wire::parse_date("2026-2-28"), None);
    }
    use ServiceStatus::*;

    #[test]
    fn overall_status_follows_the_worst_service() {
        let cases: &[(&[Option<ServiceStatus>], Indicator, &str)] = &[
            (&[], Indicator::None, "Waiting for the first checks"),
            (
                &[None, None],
                Indicator::None,
                "Waiting for the first checks",
            ),
            (
                &[Some(Operational), None],
                Indicator::None,
                "All Systems Operational",
            ),
            (
                &[Some(Operational), Some(DegradedPerformance)],
                Indicator::Minor,
                "Partially Degraded Service",
            ),
            (
                &[Some(PartialOutage), Some(DegradedPerformance)],
                Indicator::Minor,
                "Minor Service Outage",
            ),
            (
                &[Some(Operational), Some(MajorOutage)],
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[Some(MajorOutage)],
                Indicator::Major,
                "Partial System Outage",
            ),
            (
                &[Some(MajorOutage), Some(MajorOutage)],
                Indicator::Critical,
                "Major System Outage",
            ),
            (
                &[Some(UnderMaintenance), Some(Operational)],
                Indicator::Maintenance,
                "Service Under Maintenance",
            ),
            (
                &[Some(UnderMaintenance), Some(MajorOutage)],
                Indicator::Major,
                "Partial System Outage",
            ),
        ];
        for (input, indicator, description) in cases {
            let overall = OverallStatus::from_services(input.iter().copied());
            assert_eq!(overall.indicator, *indicator, "{input:?}");
            assert_eq!(overall.description, *description, "{input:?}");
        }
    }

    #[test]
    fn uptime_is_formatted_without_rounding_failures_away() {
        assert_eq!(format_uptime(None), "No data");
        assert_eq!(format_uptime(Some(1.0)), "100 %");
        assert_eq!(format_uptime(Some(0.99999)), "99.99 %");
        assert_eq!(format_uptime(Some(0.5)), "50.00 %");
        assert_eq!(format_uptime(Some(0.0)), "0.00 %");
        assert_eq!(format_uptime(Some(0.999_51)), "99.95 %");
        assert_eq!(format_uptime(Some(0.0123)), "1.23 %");
        assert_eq!(format_uptime(Some(0.070_09)), "7.00 %");
    }

    #[test]
    fn statuses_serialize_in_statuspage_spelling() {
        for status in [
            Operational,
            UnderMaintenance,
            DegradedPerformance,
            PartialOutage,
            MajorOutage,
        ] {
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(ServiceStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(ServiceStatus::parse("fine"), None);
        for outcome in [
            SampleOutcome::Up,
            SampleOutcome::Degraded,
            SampleOutcome::Down,
        ] {
            assert_eq!(SampleOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(SampleOutcome::parse("sideways"), None);
    }
}
