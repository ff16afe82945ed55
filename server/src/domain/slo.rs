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
    /// The last 30 days up to now.
    Rolling30d,
    /// The current month, UTC.
    CalendarMonth,
}

impl Window {
    /// Where the window at `now` starts and ends (`end` is the end of the
    /// month for a calendar month; the budget is for the whole month).
    pub fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Self::Rolling30d => (now - Duration::days(30), now),
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

    /// The window's length, for burn rates and time to exhaustion.
    pub fn length(self, now: DateTime<Utc>) -> Duration {
        let (start, end) = self.bounds(now);
        end - start
    }
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
            (at("2026-03-01T10:00:00Z"), now)
        );
    }
}
