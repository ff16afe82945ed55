//! Service level objectives as arithmetic: the error budget, burn rates,
//! time to exhaustion, and the status by the multi-window, multi-burn-rate
//! alerting of Google's SRE workbook (chapter "Alerting on SLOs", table
//! 5-8). Pure: the caller counts good and bad events (samples) per window.
//!
//! | status | when (burn rate over the long window **and** the short one) |
//! | --- | --- |
//! | `exhausted` | no budget left in the SLO window |
//! | `critical` (page) | > 14.4 over 1 h and 5 min, or > 6 over 6 h and 30 min |
//! | `warning` (ticket) | > 3 over 24 h and 2 h, or > 1 over 72 h and 6 h |
//! | `ok` | otherwise |
//!
//! A burn rate of 1.0 spends exactly the budget over the SLO window; 14.4
//! over an hour spends 2 % of a 30-day budget in that hour.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use std::sync::Arc;

use super::alert::{slo_event, AlertEvent, ServiceRef, SloInfo};
use super::rollup::{Resolution, Rollup};
use super::sample::Sample;

/// What a service promises: its objectives and the window they are
/// measured over. Resolved from the configuration (`config::slo`).
#[derive(Clone, Debug, PartialEq)]
pub struct Objectives {
    pub window: Window,
    pub list: Vec<Objective>,
}

/// One objective: a target share of good samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// `availability`, or `latency_p95_300ms` (95 % of samples at most
    /// 300 ms): the name in the API, metrics and alerts.
    pub name: String,
    pub kind: ObjectiveKind,
    /// The share of good samples promised, 0 < target < 1.
    pub target: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveKind {
    /// Good: up or degraded; bad: down. Maintenance and no data left out.
    Availability,
    /// Among samples that measured a latency (maintenance left out), good:
    /// at most `under_ms`, a bound of the fine histogram so the count is
    /// exact.
    Latency { under_ms: u32 },
}

impl Objective {
    pub fn availability(target: f64) -> Self {
        Self {
            name: "availability".to_owned(),
            kind: ObjectiveKind::Availability,
            target,
        }
    }

    pub fn latency(target: f64, under_ms: u32) -> Self {
        let percent = format!("{:.3}", target * 100.0);
        let percent = percent.trim_end_matches('0').trim_end_matches('.');
        Self {
            name: format!("latency_p{percent}_{under_ms}ms"),
            kind: ObjectiveKind::Latency { under_ms },
            target,
        }
    }
}

/// Good and bad events (samples) in some stretch of time; maintenance and
/// samples without data are left out by the caller, as for uptime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    pub good: u64,
    pub bad: u64,
}

impl Events {
    pub const fn total(self) -> u64 {
        self.good + self.bad
    }

    /// Good over all; `None` without events.
    pub fn compliance(self) -> Option<f64> {
        (self.total() > 0).then(|| self.good as f64 / self.total() as f64)
    }

    /// How fast the budget of `target` burns: the bad share over the
    /// allowed bad share. `None` without events.
    pub fn burn_rate(self, target: f64) -> Option<f64> {
        let allowed = 1.0 - target;
        (self.total() > 0 && allowed > 0.0).then(|| self.bad as f64 / self.total() as f64 / allowed)
    }
}

/// The budget of an SLO window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Bad events the target allows over the window's events so far.
    pub allowed: f64,
    pub consumed: u64,
}

impl Budget {
    /// The budget of `target` (0 < target < 1) over `window`'s events.
    pub fn of(window: Events, target: f64) -> Self {
        Self {
            allowed: (1.0 - target) * window.total() as f64,
            consumed: window.bad,
        }
    }

    /// The share left: 1.0 untouched, 0.0 spent, negative overspent;
    /// `None` while the window has no events.
    pub fn remaining_ratio(self) -> Option<f64> {
        (self.allowed > 0.0).then(|| 1.0 - self.consumed as f64 / self.allowed)
    }
}

/// When the budget runs out at `burn_rate`, from `remaining` (a share of
/// the budget) over an SLO window of `window`: the budget lasts `window`
/// at rate 1.0. `None` when nothing burns; zero when it is spent.
pub fn time_to_exhaustion(remaining: f64, burn_rate: f64, window: Duration) -> Option<Duration> {
    if remaining <= 0.0 {
        return Some(Duration::zero());
    }
    if burn_rate <= 0.0 || !burn_rate.is_finite() {
        return None;
    }
    let seconds = remaining * window.num_seconds() as f64 / burn_rate;
    Some(Duration::milliseconds((seconds * 1000.0).round() as i64))
}

/// An SLO's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Exhausted,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Exhausted => "exhausted",
        }
    }
}

/// Burn rates over the workbook's windows (`None`: no events there).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BurnRates {
    pub m5: Option<f64>,
    pub m30: Option<f64>,
    pub h1: Option<f64>,
    pub h2: Option<f64>,
    pub h6: Option<f64>,
    pub h24: Option<f64>,
    pub h72: Option<f64>,
}

impl BurnRates {
    /// The rates of `target` over the events of [`BURN_WINDOWS`].
    pub fn of(burn: &[Events; 7], target: f64) -> Self {
        let rate = |i: usize| burn[i].burn_rate(target);
        Self {
            m5: rate(0),
            m30: rate(1),
            h1: rate(2),
            h2: rate(3),
            h6: rate(4),
            h24: rate(5),
            h72: rate(6),
        }
    }
}

/// The status of `target` given the SLO window's events and those of
/// [`BURN_WINDOWS`].
pub fn status_of(window: Events, burn: &[Events; 7], target: f64) -> Status {
    status(
        Budget::of(window, target).remaining_ratio(),
        BurnRates::of(burn, target),
    )
}

/// The status by the workbook's table (see the module's documentation).
pub fn status(remaining: Option<f64>, rates: BurnRates) -> Status {
    if remaining.is_some_and(|r| r <= 0.0) {
        return Status::Exhausted;
    }
    let over = |rate: Option<f64>, threshold: f64| rate.is_some_and(|r| r > threshold);
    if (over(rates.h1, 14.4) && over(rates.m5, 14.4))
        || (over(rates.h6, 6.0) && over(rates.m30, 6.0))
    {
        Status::Critical
    } else if (over(rates.h24, 3.0) && over(rates.h2, 3.0))
        || (over(rates.h72, 1.0) && over(rates.h6, 1.0))
    {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// The SLO window an objective is measured over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last 30 UTC days: today and the 29 before (day-aligned, like
    /// the page's 30-day uptime, so it is summed from daily rollups).
    Rolling30d,
    /// The current month, UTC.
    CalendarMonth,
}

impl Window {
    /// As written in the configuration and shown in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rolling30d => "30d",
            Self::CalendarMonth => "calendar_month",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "30d" => Some(Self::Rolling30d),
            "calendar_month" => Some(Self::CalendarMonth),
            _ => None,
        }
    }

    /// Where the window at `now` starts and ends: both at midnight UTC,
    /// `end` after today (and for a calendar month, the month's end; the
    /// budget is for the whole window).
    pub fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Self::Rolling30d => {
                let today = Resolution::Day.start_of(now);
                (today - Duration::days(29), today + Duration::days(1))
            }
            Self::CalendarMonth => {
                let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
                    .expect("the first of a month exists");
                let next = if now.month() == 12 {
                    NaiveDate::from_ymd_opt(now.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(now.year(), now.month() + 1, 1)
                }
                .expect("the first of the next month exists");
                let at = |d: NaiveDate| {
                    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                };
                (at(first), at(next))
            }
        }
    }

    /// The UTC days of the window up to the day of `now`, today included.
    pub fn days(self, now: DateTime<Utc>) -> usize {
        let (start, _) = self.bounds(now);
        usize::try_from((Resolution::Day.start_of(now) - start).num_days() + 1).unwrap_or(1)
    }

    /// The window's length, for burn rates and time to exhaustion.
    pub fn length(self, now: DateTime<Utc>) -> Duration {
        let (start, end) = self.bounds(now);
        end - start
    }
}

/// The burn-rate windows, shortest first, as [`BurnRates`] orders them,
/// and how each is summed: the slot the time falls in and the slots
/// before it, so "5 min" is the current minute and the four before.
///
/// | window | slots |
/// | --- | --- |
/// | 5 min, 30 min | minutes |
/// | 1 h, 2 h | 5 minutes |
/// | 6 h, 24 h | hours |
/// | 72 h | 6 hours (so 66 to 72 hours back) |
/// Indexes in [`BURN_WINDOWS`] of the rates time to exhaustion is given at.
pub const BURN_1H: usize = 2;
pub const BURN_24H: usize = 5;

pub const BURN_WINDOWS: [(&str, i64); 7] = [
    ("5m", 5 * 60),
    ("30m", 30 * 60),
    ("1h", 3600),
    ("2h", 2 * 3600),
    ("6h", 6 * 3600),
    ("24h", 24 * 3600),
    ("72h", 72 * 3600),
];

/// The slot, in seconds, a burn window of `seconds` is summed in.
pub const fn burn_slot(seconds: i64) -> i64 {
    match seconds {
        0..=1800 => 60,
        1801..=7200 => 300,
        7201..=86_400 => 3600,
        _ => 6 * 3600,
    }
}

/// A counter cell: the narrowest integer a slot's counts fit in.
trait Cell: Copy + Default {
    fn add(self, n: u64) -> Self;
    fn get(self) -> u64;
}

macro_rules! cell {
    ($t:ty) => {
        impl Cell for $t {
            fn add(self, n: u64) -> Self {
                self.saturating_add(<$t>::try_from(n).unwrap_or(<$t>::MAX))
            }
            fn get(self) -> u64 {
                u64::from(self)
            }
        }
    };
}
cell!(u8);
cell!(u16);
cell!(u32);

/// Counts per slot of `unit` seconds, the newest `len` slots, in a circle.
#[derive(Clone, Debug)]
struct Ring<T> {
    unit: i64,
    /// Slot number (seconds since the epoch / unit) of the newest slot.
    newest: i64,
    slots: u16,
    width: u16,
    cells: Box<[T]>,
}

impl<T: Cell> Ring<T> {
    fn new(unit: i64, slots: u16, width: usize) -> Self {
        Self {
            unit,
            newest: i64::MIN,
            slots,
            width: u16::try_from(width).unwrap_or(u16::MAX),
            cells: vec![T::default(); usize::from(slots) * width].into(),
        }
    }

    fn len(&self) -> i64 {
        i64::from(self.slots)
    }

    fn row(&mut self, slot: i64) -> &mut [T] {
        let width = usize::from(self.width);
        let i = slot.rem_euclid(self.len()) as usize * width;
        &mut self.cells[i..i + width]
    }

    fn add(&mut self, at: i64, fields: &[u64]) {
        let slot = at.div_euclid(self.unit);
        if self.newest == i64::MIN || slot > self.newest {
            let from = if self.newest == i64::MIN {
                slot - self.len() + 1
            } else {
                (self.newest + 1).max(slot - self.len() + 1)
            };
            for s in from..=slot {
                self.row(s).fill(T::default());
            }
            self.newest = slot;
        } else if slot <= self.newest - self.len() {
            return;
        }
        for (cell, n) in self.row(slot).iter_mut().zip(fields) {
            *cell = cell.add(*n);
        }
    }

    /// Sums of the slots from `first` to `last` (slot numbers) into `out`.
    fn sum(&self, first: i64, last: i64, out: &mut [u64]) {
        if self.newest == i64::MIN {
            return;
        }
        let first = first.max(self.newest - self.len() + 1);
        let last = last.min(self.newest);
        let width = usize::from(self.width);
        for slot in first..=last {
            let i = slot.rem_euclid(self.len()) as usize * width;
            for (total, cell) in out.iter_mut().zip(&self.cells[i..i + width]) {
                *total += cell.get();
            }
        }
    }

    /// Sums of the slot `at` falls in and the `n - 1` before.
    fn newest(&self, at: i64, n: i64, out: &mut [u64]) {
        let slot = at.div_euclid(self.unit);
        self.sum(slot - n + 1, slot, out);
    }
}

/// Counts of one service's samples for its objectives, fine enough for
/// the burn windows and long enough for the SLO window (31 days), in
/// about 1 KB for three objectives. A burn slot holds: samples counted
/// (maintenance left out), down, samples with a latency, and per latency
/// objective those slower than its threshold; a day slot only the slower
/// ones (the snapshot's daily counters have the rest).
#[derive(Clone, Debug)]
pub struct Tracker {
    minutes: Ring<u8>,
    fives: Ring<u16>,
    hours: Ring<u16>,
    sixes: Ring<u16>,
    days: Ring<u32>,
    /// Thresholds of the latency objectives, in objective order.
    thresholds: Box<[u32]>,
}

/// Longest SLO window in days (a calendar month).
const WINDOW_DAYS: u16 = 31;

impl Tracker {
    pub fn new(objectives: &Objectives) -> Self {
        let thresholds: Box<[u32]> = objectives
            .list
            .iter()
            .filter_map(|o| match o.kind {
                ObjectiveKind::Latency { under_ms } => Some(under_ms),
                ObjectiveKind::Availability => None,
            })
            .collect();
        let width = 3 + thresholds.len();
        Self {
            minutes: Ring::new(60, 30, width),
            fives: Ring::new(300, 24, width),
            hours: Ring::new(3600, 24, width),
            sixes: Ring::new(6 * 3600, 12, width),
            days: Ring::new(86_400, WINDOW_DAYS, thresholds.len()),
            thresholds,
        }
    }

    fn fields_of_sample(&self, sample: &Sample) -> Option<Vec<u64>> {
        if sample.in_maintenance {
            return None;
        }
        let mut fields = vec![0u64; 3 + self.thresholds.len()];
        fields[0] = 1;
        fields[1] = u64::from(sample.outcome == app::model::SampleOutcome::Down);
        if let Some(ms) = sample.latency_ms {
            fields[2] = 1;
            for (field, under) in fields[3..].iter_mut().zip(&self.thresholds) {
                *field = u64::from(ms > *under);
            }
        }
        Some(fields)
    }

    /// Samples of latency objective `j` slower than its threshold on the
    /// UTC day starting at `day`.
    pub fn day_slow(&self, day: DateTime<Utc>, j: usize) -> u64 {
        let mut out = vec![0u64; self.thresholds.len()];
        let slot = day.timestamp().div_euclid(86_400);
        self.days.sum(slot, slot, &mut out);
        out.get(j).copied().unwrap_or(0)
    }

    /// Counts a committed sample in every window.
    pub fn record(&mut self, sample: &Sample) {
        if let Some(fields) = self.fields_of_sample(sample) {
            let at = sample.taken_at.timestamp();
            self.minutes.add(at, &fields);
            self.fives.add(at, &fields);
            self.hours.add(at, &fields);
            self.sixes.add(at, &fields);
            self.days.add(at, &fields[3..]);
        }
    }

    /// Counts a stored sample in the minute and 5-minute slots only: at
    /// start-up, hours and days come from the rollups
    /// ([`Self::seed_rollup`]), which already hold it.
    pub fn seed_sample(&mut self, sample: &Sample) {
        if let Some(fields) = self.fields_of_sample(sample) {
            let at = sample.taken_at.timestamp();
            self.minutes.add(at, &fields);
            self.fives.add(at, &fields);
        }
    }

    /// Counts a stored rollup in the hour or day slots.
    pub fn seed_rollup(&mut self, resolution: Resolution, start: DateTime<Utc>, rollup: &Rollup) {
        let mut fields = vec![0u64; 3 + self.thresholds.len()];
        fields[0] = rollup.samples().into();
        fields[1] = rollup.down.into();
        fields[2] = rollup.latency_count.into();
        for (field, under) in fields[3..].iter_mut().zip(&self.thresholds) {
            *field = u64::from(rollup.latency_count).saturating_sub(rollup.at_most_ms(*under));
        }
        match resolution {
            Resolution::Hour => {
                self.hours.add(start.timestamp(), &fields);
                self.sixes.add(start.timestamp(), &fields);
            }
            Resolution::Day => self.days.add(start.timestamp(), &fields[3..]),
        }
    }

    /// The objectives' events over the SLO window and the burn windows at
    /// `now`, and the status each gives; `counted` holds the SLO window's
    /// samples counted, down and with a latency (the snapshot's daily
    /// counters over [`Window::days`]).
    pub fn measure(
        &self,
        objectives: &Objectives,
        now: DateTime<Utc>,
        counted: [u64; 3],
    ) -> Vec<Measure> {
        let width = 3 + self.thresholds.len();
        let at = now.timestamp();
        let (start, _) = objectives.window.bounds(now);
        let mut window = vec![0u64; width];
        window[..3].copy_from_slice(&counted);
        self.days.sum(
            start.timestamp().div_euclid(86_400),
            at.div_euclid(86_400),
            &mut window[3..],
        );
        let mut burns = vec![vec![0u64; width]; BURN_WINDOWS.len()];
        for (out, (_, seconds)) in burns.iter_mut().zip(BURN_WINDOWS) {
            let unit = burn_slot(seconds);
            let n = seconds / unit;
            match unit {
                60 => self.minutes.newest(at, n, out),
                300 => self.fives.newest(at, n, out),
                3600 => self.hours.newest(at, n, out),
                _ => self.sixes.newest(at, n, out),
            }
        }
        let mut latency = 0;
        objectives
            .list
            .iter()
            .map(|objective| {
                let events = |fields: &[u64]| match objective.kind {
                    ObjectiveKind::Availability => Events {
                        good: fields[0] - fields[1].min(fields[0]),
                        bad: fields[1].min(fields[0]),
                    },
                    ObjectiveKind::Latency { .. } => {
                        let slow = fields[3 + latency].min(fields[2]);
                        Events {
                            good: fields[2] - slow,
                            bad: slow,
                        }
                    }
                };
                let window = events(&window);
                let burn: [Events; 7] = std::array::from_fn(|i| events(&burns[i]));
                if matches!(objective.kind, ObjectiveKind::Latency { .. }) {
                    latency += 1;
                }
                Measure::new(window, burn, objective.target)
            })
            .collect()
    }
}

/// An objective's events at one time: over the SLO window and over each
/// of [`BURN_WINDOWS`], and the status they give. Counts are kept as
/// 32-bit pairs (a 31-day window at one sample a second is 2.7 million):
/// 68 bytes an objective on the board.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measure {
    window: [u32; 2],
    burn: [[u32; 2]; 7],
    pub status: Status,
}

fn pack(e: Events) -> [u32; 2] {
    [
        u32::try_from(e.good).unwrap_or(u32::MAX),
        u32::try_from(e.bad).unwrap_or(u32::MAX),
    ]
}

const fn unpack(p: [u32; 2]) -> Events {
    Events {
        good: p[0] as u64,
        bad: p[1] as u64,
    }
}

impl Measure {
    pub fn new(window: Events, burn: [Events; 7], target: f64) -> Self {
        Self {
            window: pack(window),
            burn: burn.map(pack),
            status: status_of(window, &burn, target),
        }
    }

    /// The SLO window's events.
    pub const fn window(&self) -> Events {
        unpack(self.window)
    }

    /// The events of burn window `i` of [`BURN_WINDOWS`].
    pub fn burn(&self, i: usize) -> Events {
        self.burn.get(i).copied().map(unpack).unwrap_or_default()
    }

    pub fn burn_rate(&self, window: usize, target: f64) -> Option<f64> {
        self.burn(window).burn_rate(target)
    }

    /// The share of the budget of `target` left (see
    /// [`Budget::remaining_ratio`]).
    pub fn budget_left(&self, target: f64) -> Option<f64> {
        Budget::of(self.window(), target).remaining_ratio()
    }

    /// When the budget of `target` runs out at the rate of burn window
    /// `window` (an index of [`BURN_WINDOWS`]), over an SLO window of
    /// `length`.
    pub fn exhausted_in(&self, window: usize, target: f64, length: Duration) -> Option<Duration> {
        self.budget_left(target)
            .zip(self.burn_rate(window, target))
            .and_then(|(left, rate)| time_to_exhaustion(left, rate, length))
    }
}

/// Every service's measures at one time: what the admin API, the metrics
/// and burn alerts read. Published beside the snapshot.
#[derive(Clone, Debug, Default)]
pub struct Board {
    pub services: std::collections::HashMap<i64, Arc<ServiceMeasures>>,
}

/// A service as its objectives are reported: who it is, how often it is
/// probed (to express budgets in minutes), what it promises.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceObjectives {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub interval: std::time::Duration,
    pub objectives: Objectives,
}

/// A service's objectives and their measures.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceMeasures {
    pub service: Arc<ServiceObjectives>,
    /// In the order of `objectives.list`.
    pub measures: Box<[Measure]>,
    pub at: DateTime<Utc>,
    /// The newest sample counted.
    pub through: Option<DateTime<Utc>>,
}

/// `0.999` → `99.9`, `0.95` → `95` (a percentage as people write it).
fn percent(ratio: f64) -> String {
    let text = format!("{:.3}", ratio * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `90061` seconds → "1 day 1 hour".
fn in_words(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours) {
        (0, 0) => plural(minutes.max(1), "minute"),
        (0, h) => plural(h, "hour"),
        (d, 0) => plural(d, "day"),
        (d, h) => format!("{} {}", plural(d, "day"), plural(h, "hour")),
    }
}

/// The burndown's SVG points in a 600 × 120 box: day `i` of a window of
/// `days` at x = 600 i / (days − 1); the budget left from y = 10 (all of
/// it) through 60 (spent) to 110 (overspent by as much again).
pub fn burndown_points(burndown: &[Option<i16>], days: i64) -> String {
    let last = (days.max(2) - 1) as f64;
    burndown
        .iter()
        .enumerate()
        .filter_map(|(i, left)| {
            left.map(|left| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * 600.0 / last,
                    60.0 - f64::from(left) * 0.05
                )
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An objective as the service page shows it (`page.show_slo`).
pub fn objective_view(
    of: &ServiceObjectives,
    objective: &Objective,
    measure: &Measure,
    now: DateTime<Utc>,
    burndown: Vec<Option<i16>>,
) -> app::model::ObjectiveView {
    let window = of.objectives.window;
    let (start, end) = window.bounds(now);
    let label = match objective.kind {
        ObjectiveKind::Availability => format!("{} % available", percent(objective.target)),
        ObjectiveKind::Latency { under_ms } => {
            format!("{} % within {under_ms} ms", percent(objective.target))
        }
    };
    let over = match window {
        Window::Rolling30d => "over 30 days",
        Window::CalendarMonth => "this month",
    };
    let achieved = match measure.window().compliance() {
        Some(c) => format!("{} {over}", app::model::format_uptime(Some(c))),
        None => "No data".to_owned(),
    };
    let remaining = measure.budget_left(objective.target);
    let budget = match remaining {
        None => "No samples yet".to_owned(),
        Some(r) if r <= 0.0 => "Error budget spent".to_owned(),
        Some(r) => format!("{} % of the error budget left", (r * 100.0).floor()),
    };
    let rate = measure.burn_rate(BURN_1H, objective.target);
    let burning = match (rate, remaining) {
        (Some(rate), Some(left)) if rate > 0.0 && left > 0.0 => {
            let runs_out = measure
                .exhausted_in(BURN_1H, objective.target, end - start)
                .map(|d| {
                    format!(
                        "; at that rate it runs out in {}",
                        in_words(d.num_seconds())
                    )
                })
                .unwrap_or_default();
            format!(" Burning {rate:.1} times the sustainable rate over the last hour{runs_out}.")
        }
        _ => " Nothing burning over the last hour.".to_owned(),
    };
    let summary = format!(
        "{}: objective {label}. Achieved {achieved}. {budget}. Status {}.{burning}",
        of.name,
        measure.status.as_str()
    );
    app::model::ObjectiveView {
        label,
        status: measure.status.as_str().to_owned(),
        achieved,
        budget,
        summary,
        points: burndown_points(&burndown, (end - start).num_days()),
        burndown,
    }
}

/// An objective whose status differs from the one stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnChange {
    pub service_id: i64,
    pub objective: String,
    pub status: Status,
    pub at: DateTime<Utc>,
    /// Its `slo.burn` event.
    pub event: AlertEvent,
}

/// Objective statuses as stored, by service and objective name; an
/// objective without one has always been `ok` (so a page of 50,000
/// healthy services stores nothing).
pub type Known = std::collections::HashMap<i64, std::collections::HashMap<String, Status>>;

/// The changes between `known` statuses and the board's, with their
/// events. Services whose measures are the very ones of `unchanged_since`
/// (the last board fully compared) are skipped: between the minute's
/// measures only services with samples are measured anew.
pub fn burn_changes(
    board: &Board,
    known: &Known,
    unchanged_since: Option<&Board>,
) -> Vec<BurnChange> {
    let mut changes = Vec::new();
    for (id, of) in &board.services {
        let same = unchanged_since
            .and_then(|b| b.services.get(id))
            .is_some_and(|before| Arc::ptr_eq(before, of));
        if same {
            continue;
        }
        let stored = known.get(id);
        for (objective, measure) in of.service.objectives.list.iter().zip(&of.measures) {
            // Never stored: it has always been `ok`.
            let previous = stored
                .and_then(|s| s.get(objective.name.as_str()))
                .copied()
                .unwrap_or(Status::Ok);
            if previous == measure.status {
                continue;
            }
            changes.push(BurnChange {
                service_id: *id,
                objective: objective.name.clone(),
                status: measure.status,
                at: of.at,
                event: slo_event(slo_info(of, objective, measure, Some(previous)), of.at),
            });
        }
    }
    changes.sort_by(|a, b| (a.service_id, &a.objective).cmp(&(b.service_id, &b.objective)));
    changes
}

/// What an `slo.burn` event says about `measure`.
pub fn slo_info(
    of: &ServiceMeasures,
    objective: &Objective,
    measure: &Measure,
    previous: Option<Status>,
) -> SloInfo {
    let window = of.service.objectives.window;
    let exhausted_in = |i: usize| {
        measure
            .exhausted_in(i, objective.target, window.length(of.at))
            .map(|d| d.num_seconds())
    };
    SloInfo {
        service: ServiceRef {
            slug: of.service.slug.clone(),
            name: of.service.name.clone(),
            group: of.service.group.clone(),
        },
        objective: objective.name.clone(),
        target: objective.target,
        window: window.as_str().to_owned(),
        status: measure.status.as_str().to_owned(),
        previous: previous.map(|p| p.as_str().to_owned()),
        compliance: measure.window().compliance(),
        budget_remaining: measure.budget_left(objective.target),
        burn_rates: BURN_WINDOWS
            .iter()
            .enumerate()
            .filter_map(|(i, (name, _))| {
                Some(((*name).to_owned(), measure.burn_rate(i, objective.target)?))
            })
            .collect(),
        exhausted_in_s_at_1h_rate: exhausted_in(BURN_1H),
        exhausted_in_s_at_24h_rate: exhausted_in(BURN_24H),
        url: None,
    }
}

impl Status {
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Ok, Self::Warning, Self::Critical, Self::Exhausted]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One objective's finished UTC day, as `slo_days` keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct DayMeasure {
    pub objective: String,
    pub day: DateTime<Utc>,
    pub target: f64,
    pub day_events: Events,
    /// The SLO window's events as the day ended.
    pub window_events: Events,
}

/// The events of `objective` in a rollup.
pub fn rollup_events(objective: &Objective, rollup: &Rollup) -> Events {
    match objective.kind {
        ObjectiveKind::Availability => Events {
            good: u64::from(rollup.up + rollup.degraded),
            bad: u64::from(rollup.down),
        },
        ObjectiveKind::Latency { under_ms } => {
            let good = rollup
                .at_most_ms(under_ms)
                .min(u64::from(rollup.latency_count));
            Events {
                good,
                bad: u64::from(rollup.latency_count) - good,
            }
        }
    }
}

/// The days `from` to `to` (day starts, inclusive) of a service's
/// objectives, from its daily rollups in time order (which must reach back
/// over the SLO window before `from`).
pub fn day_measures(
    objectives: &Objectives,
    days: &[(DateTime<Utc>, Rollup)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DayMeasure> {
    // Each rollup's events per objective, once.
    let per_day: Vec<(DateTime<Utc>, Vec<Events>)> = days
        .iter()
        .map(|(at, r)| {
            let events = objectives
                .list
                .iter()
                .map(|o| rollup_events(o, r))
                .collect();
            (*at, events)
        })
        .collect();
    let mut out = Vec::new();
    let mut day = Resolution::Day.start_of(from);
    while day <= to {
        let (start, _) = objectives.window.bounds(day);
        let first = per_day.partition_point(|(at, _)| *at < start);
        let last = per_day.partition_point(|(at, _)| *at <= day);
        let window = &per_day[first..last.max(first)];
        for (k, objective) in objectives.list.iter().enumerate() {
            let mut window_events = Events::default();
            for (_, events) in window {
                window_events.good += events[k].good;
                window_events.bad += events[k].bad;
            }
            // Nothing measured in the window yet (a service before its
            // first sample): no day to keep.
            if window_events.total() == 0 {
                continue;
            }
            let day_events = window
                .last()
                .filter(|(at, _)| *at == day)
                .map(|(_, events)| events[k])
                .unwrap_or_default();
            out.push(DayMeasure {
                objective: objective.name.clone(),
                day,
                target: objective.target,
                day_events,
                window_events,
            });
        }
        day += Duration::days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn budgets_and_burn_rates_follow_the_target() {
        // (good, bad, target) → (compliance, burn rate, allowed, remaining)
        let cases = [
            (999_000, 1_000, 0.999, 0.999, 1.0, 1000.0, 0.0),
            (999_500, 500, 0.999, 0.9995, 0.5, 1000.0, 0.5),
            (99_000, 1_000, 0.999, 0.99, 10.0, 100.0, -9.0),
            (100, 0, 0.99, 1.0, 0.0, 1.0, 1.0),
        ];
        for (good, bad, target, compliance, rate, allowed, remaining) in cases {
            let events = Events { good, bad };
            assert!(
                close(events.compliance().unwrap(), compliance),
                "{events:?}"
            );
            assert!(close(events.burn_rate(target).unwrap(), rate), "{events:?}");
            let budget = Budget::of(events, target);
            assert!(close(budget.allowed, allowed), "{budget:?}");
            assert!(
                close(budget.remaining_ratio().unwrap(), remaining),
                "{budget:?}"
            );
        }
        let none = Events::default();
        assert_eq!((none.compliance(), none.burn_rate(0.999)), (None, None));
        assert_eq!(Budget::of(none, 0.999).remaining_ratio(), None);
    }

    #[test]
    fn time_to_exhaustion_is_what_is_left_at_the_rate() {
        let month = Duration::days(30);
        let cases = [
            (1.0, 1.0, Some(Duration::days(30))),
            (0.5, 1.0, Some(Duration::days(15))),
            (
                0.31,
                4.0,
                Some(Duration::milliseconds(
                    (0.31 * 30.0 * 86_400_000.0 / 4.0) as i64,
                )),
            ),
            (1.0, 14.4, Some(Duration::milliseconds(180_000_000))),
            (0.0, 2.0, Some(Duration::zero())),
            (-0.5, 2.0, Some(Duration::zero())),
            (0.5, 0.0, None),
        ];
        for (remaining, rate, want) in cases {
            assert_eq!(
                time_to_exhaustion(remaining, rate, month),
                want,
                "{remaining} at {rate}"
            );
        }
    }

    #[test]
    fn the_workbook_table_decides_the_status() {
        let r = |x: f64| Some(x);
        let calm = BurnRates::default();
        let cases = [
            (Some(0.5), calm, Status::Ok),
            (
                Some(0.5),
                BurnRates {
                    h1: r(15.0),
                    m5: r(15.0),
                    ..calm
                },
                Status::Critical,
            ),
            // The short window has recovered: no page.
            (
                Some(0.5),
                BurnRates {
                    h1: r(15.0),
                    m5: r(2.0),
                    ..calm
                },
                Status::Ok,
            ),
            (
                Some(0.5),
                BurnRates {
                    h6: r(7.0),
                    m30: r(6.5),
                    ..calm
                },
                Status::Critical,
            ),
            (
                Some(0.5),
                BurnRates {
                    h24: r(3.5),
                    h2: r(4.0),
                    ..calm
                },
                Status::Warning,
            ),
            (
                Some(0.5),
                BurnRates {
                    h72: r(1.2),
                    h6: r(1.1),
                    ..calm
                },
                Status::Warning,
            ),
            // Exactly at a threshold is not over it.
            (
                Some(0.5),
                BurnRates {
                    h1: r(14.4),
                    m5: r(14.4),
                    ..calm
                },
                Status::Ok,
            ),
            (Some(0.0), calm, Status::Exhausted),
            (
                Some(-0.2),
                BurnRates {
                    h1: r(20.0),
                    m5: r(20.0),
                    ..calm
                },
                Status::Exhausted,
            ),
            (None, calm, Status::Ok),
        ];
        for (remaining, rates, want) in cases {
            assert_eq!(status(remaining, rates), want, "{remaining:?} {rates:?}");
        }
    }

    #[test]
    fn calendar_months_end_where_the_month_ends() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases = [
            (
                "2026-12-31T23:59:59Z",
                "2026-12-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
                31,
            ),
            (
                "2028-02-29T12:00:00Z",
                "2028-02-01T00:00:00Z",
                "2028-03-01T00:00:00Z",
                29,
            ),
            (
                "2027-02-10T00:00:00Z",
                "2027-02-01T00:00:00Z",
                "2027-03-01T00:00:00Z",
                28,
            ),
            (
                "2026-04-01T00:00:00Z",
                "2026-04-01T00:00:00Z",
                "2026-05-01T00:00:00Z",
                30,
            ),
        ];
        for (now, start, end, days) in cases {
            let window = Window::CalendarMonth;
            assert_eq!(window.bounds(at(now)), (at(start), at(end)), "{now}");
            assert_eq!(window.length(at(now)), Duration::days(days), "{now}");
        }
        let now = at("2026-03-31T10:00:00Z");
        assert_eq!(
            Window::Rolling30d.bounds(now),
            (at("2026-03-02T00:00:00Z"), at("2026-04-01T00:00:00Z"))
        );
        assert_eq!(Window::Rolling30d.length(now), Duration::days(30));
    }

    fn objectives() -> Objectives {
        Objectives {
            window: Window::Rolling30d,
            list: vec![
                Objective::availability(0.999),
                Objective::latency(0.95, 300),
                Objective::latency(0.99, 800),
            ],
        }
    }

    /// 40 days of samples every 50 s: some down, some in maintenance,
    /// latencies spread over the thresholds.
    fn samples(end: DateTime<Utc>) -> Vec<Sample> {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let start = end - Duration::days(40);
        (0..(40 * 86_400 / 50))
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let down = seed.is_multiple_of(97);
                Sample {
                    service_id: 1,
                    taken_at: start + Duration::seconds(i * 50),
                    outcome: if down {
                        app::model::SampleOutcome::Down
                    } else {
                        app::model::SampleOutcome::Up
                    },
                    latency_ms: (!seed.is_multiple_of(13)).then_some((seed % 1200) as u32),
                    error: None,
                    in_maintenance: seed.is_multiple_of(211),
                }
            })
            .collect()
    }

    /// The events of `objective` among `samples` taken in `[from, to)`,
    /// counted straight from the samples.
    fn counted(samples: &[Sample], objective: &Objective, from: i64, to: i64) -> Events {
        let mut events = Events::default();
        for s in samples
            .iter()
            .filter(|s| !s.in_maintenance && (from..to).contains(&s.taken_at.timestamp()))
        {
            let good = match objective.kind {
                ObjectiveKind::Availability => s.outcome != app::model::SampleOutcome::Down,
                ObjectiveKind::Latency { under_ms } => match s.latency_ms {
                    Some(ms) => ms <= under_ms,
                    None => continue,
                },
            };
            if good {
                events.good += 1;
            } else {
                events.bad += 1;
            }
        }
        events
    }

    /// What the snapshot's daily counters hold for `[from, to)`: samples
    /// counted, down, and with a latency.
    fn base(samples: &[Sample], from: i64, to: i64) -> [u64; 3] {
        let mut out = [0; 3];
        for s in samples
            .iter()
            .filter(|s| !s.in_maintenance && (from..to).contains(&s.taken_at.timestamp()))
        {
            out[0] += 1;
            out[1] += u64::from(s.outcome == app::model::SampleOutcome::Down);
            out[2] += u64::from(s.latency_ms.is_some());
        }
        out
    }

    #[test]
    fn trackers_count_exactly_what_the_windows_hold() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 14, 7, 30).unwrap();
        let all = samples(now);
        let objectives = objectives();
        // Live: every sample recorded as it comes.
        let mut live = Tracker::new(&objectives);
        // Restarted: hours and days from rollups, the last 2 hours of
        // samples for the short windows.
        let mut seeded = Tracker::new(&objectives);
        for resolution in [Resolution::Hour, Resolution::Day] {
            for ((_, start), rollup) in super::super::rollup::summarise(&all, resolution) {
                seeded.seed_rollup(resolution, start, &rollup);
            }
        }
        for sample in &all {
            live.record(sample);
            if sample.taken_at > now - Duration::hours(2) - Duration::minutes(5) {
                seeded.seed_sample(sample);
            }
        }
        let at = now.timestamp();
        let floor = |unit: i64| at.div_euclid(unit) * unit;
        let day_start = floor(86_400) - 29 * 86_400;
        for tracker in [&live, &seeded] {
            let measures = tracker.measure(&objectives, now, base(&all, day_start, at + 1));
            for (objective, measure) in objectives.list.iter().zip(&measures) {
                assert_eq!(
                    measure.window(),
                    counted(&all, objective, day_start, at + 1),
                    "{}",
                    objective.name
                );
                for (i, (name, seconds)) in BURN_WINDOWS.iter().enumerate() {
                    let unit = burn_slot(*seconds);
                    let from = floor(unit) - seconds + unit;
                    assert_eq!(
                        measure.burn(i),
                        counted(&all, objective, from, at + 1),
                        "{} over {name}",
                        objective.name
                    );
                }
            }
        }
        // Nothing since: the short windows empty, the long ones hold.
        let later = tracker_later(&live, &objectives, now + Duration::hours(3));
        assert_eq!(later.burn(0), Events::default());
        assert_eq!(later.burn(3), Events::default());
        assert!(later.burn(6).total() > 0);
    }

    fn tracker_later(tracker: &Tracker, objectives: &Objectives, at: DateTime<Utc>) -> Measure {
        tracker.measure(objectives, at, [0; 3])[0]
    }

    #[test]
    fn a_burst_of_errors_pages_then_the_budget_runs_out() {
        let objectives = Objectives {
            window: Window::Rolling30d,
            list: vec![Objective::availability(0.999)],
        };
        let mut tracker = Tracker::new(&objectives);
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let sample = |minute: i64, down: bool| Sample {
            service_id: 1,
            taken_at: start + Duration::minutes(minute),
            outcome: if down {
                app::model::SampleOutcome::Down
            } else {
                app::model::SampleOutcome::Up
            },
            latency_ms: Some(20),
            error: None,
            in_maintenance: false,
        };
        // Ten healthy days: 14,400 samples, a budget of 14.4 bad ones.
        for minute in 0..(10 * 1440) {
            tracker.record(&sample(minute, false));
        }
        let at = |minute: i64| start + Duration::minutes(minute) + Duration::seconds(30);
        assert_eq!(
            tracker.measure(&objectives, at(10 * 1440 - 1), [14_400, 0, 14_400])[0].status,
            Status::Ok
        );
        // Down from then on: 5 min at 100 % errors is a burn rate of 1000.
        let mut first_critical = None;
        let mut first_exhausted = None;
        for minute in (10 * 1440)..(10 * 1440 + 30) {
            tracker.record(&sample(minute, true));
            let bad = u64::try_from(minute - 10 * 1440 + 1).unwrap();
            let counted = [14_400 + bad, bad, 14_400 + bad];
            let status = tracker.measure(&objectives, at(minute), counted)[0].status;
            if status == Status::Critical && first_critical.is_none() {
                first_critical = Some(minute - 10 * 1440);
            }
            if status == Status::Exhausted && first_exhausted.is_none() {
                first_exhausted = Some(minute - 10 * 1440);
            }
        }
        // Critical at the first bad sample (1 h and 5 min both above 14.4);
        // exhausted once 15 bad samples exceed 0.1 % of 14,415.
        assert_eq!(first_critical, Some(0));
        assert_eq!(first_exhausted, Some(14));
    }

    #[test]
    fn finished_days_carry_their_window_as_it_ended() {
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
        let feb = |d: u32| Utc.with_ymd_and_hms(2026, 2, d, 0, 0, 0).unwrap();
        let rollup = |up: u32, down: u32| Rollup {
            up,
            down,
            ..Rollup::default()
        };
        // 10 bad on Feb 27, 1 bad each of March 1 to 3.
        let days = vec![
            (feb(27), rollup(90, 10)),
            (day(1), rollup(99, 1)),
            (day(2), rollup(99, 1)),
            (day(3), rollup(99, 1)),
        ];
        let objectives = |window| Objectives {
            window,
            list: vec![Objective::availability(0.99)],
        };
        let month = day_measures(&objectives(Window::CalendarMonth), &days, day(1), day(3));
        let windows: Vec<(u64, u64)> = month
            .iter()
            .map(|d| (d.window_events.good, d.window_events.bad))
            .collect();
        assert_eq!(
            windows,
            [(99, 1), (198, 2), (297, 3)],
            "a month starts afresh"
        );
        assert_eq!(month[1].day_events, Events { good: 99, bad: 1 });
        let rolling = day_measures(&objectives(Window::Rolling30d), &days, day(2), day(3));
        let windows: Vec<(u64, u64)> = rolling
            .iter()
            .map(|d| (d.window_events.good, d.window_events.bad))
            .collect();
        assert_eq!(
            windows,
            [(288, 12), (387, 13)],
            "30 days reach back into February"
        );
        // A day without a rollup: no samples that day, the window as it was.
        let gap = day_measures(&objectives(Window::Rolling30d), &days, day(4), day(4));
        assert_eq!(gap[0].day_events, Events::default());
        assert_eq!(
            (gap[0].window_events.good, gap[0].window_events.bad),
            (387, 13)
        );
        // Before the first sample there is nothing to keep.
        assert!(day_measures(&objectives(Window::Rolling30d), &days, feb(1), feb(26)).is_empty());
        assert_eq!(
            day_measures(&objectives(Window::Rolling30d), &days, feb(1), feb(27)).len(),
            1
        );
    }

    #[test]
    fn burn_changes_skip_services_measured_the_same() {
        let service = Arc::new(ServiceObjectives {
            id: 1,
            slug: "api".into(),
            name: "API".into(),
            group: None,
            interval: std::time::Duration::from_secs(60),
            objectives: Objectives {
                window: Window::Rolling30d,
                list: vec![Objective::availability(0.999)],
            },
        });
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let measures = |bad| {
            Arc::new(ServiceMeasures {
                service: Arc::clone(&service),
                measures: vec![Measure::new(
                    Events { good: 1000, bad },
                    [Events { good: 10, bad }; 7],
                    0.999,
                )]
                .into(),
                at,
                through: Some(at),
            })
        };
        let board = |m: &Arc<ServiceMeasures>| Board {
            services: [(1, Arc::clone(m))].into_iter().collect(),
        };
        let healthy = measures(0);
        let known = Known::new();
        assert!(
            burn_changes(&board(&healthy), &known, None).is_empty(),
            "never stored is ok: nothing to store"
        );
        let failing = measures(5);
        let paged = burn_changes(&board(&failing), &known, Some(&board(&healthy)));
        assert_eq!(paged[0].status, Status::Exhausted);
        assert_eq!(
            paged[0].event.slo.as_ref().unwrap().previous.as_deref(),
            Some("ok")
        );
        // The same measures again: skipped; without the earlier board, found.
        assert!(burn_changes(&board(&failing), &known, Some(&board(&failing))).is_empty());
        assert_eq!(burn_changes(&board(&failing), &known, None).len(), 1);
    }
}
