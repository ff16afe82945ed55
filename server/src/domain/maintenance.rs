//! Maintenance windows: when they run, which services they cover, and what
//! the page says about them. Pure; the store loads [`Window`]s.
//!
//! During a window its services show `under_maintenance`, open no automatic
//! incident, and their samples are counted apart from uptime.
//!
//! Recurrence is a subset of RFC 5545 RRULE, so it reads like what
//! calendars write: `FREQ=DAILY` or `FREQ=WEEKLY`, optionally `INTERVAL=n`
//! (every n days / weeks), `COUNT=n` (occurrences in all) and
//! `UNTIL=20270101T000000Z` (no occurrence starts after it). Each occurrence
//! lasts as long as the first (`ends_at - starts_at`), which must be shorter
//! than the period.
//!
//! Admin changes ([`NewMaintenance`], [`MaintenancePatch`]) are plain data;
//! the first timeline entry of a new window ([`NewMaintenance::first_update`])
//! and which windows are over ([`Schedule::current`]) are decided here.

use std::fmt;
use std::str::FromStr;

use app::model::{MaintenanceStatus, MaintenanceView};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurrence {
    pub frequency: Frequency,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<DateTime<Utc>>,
}

impl Recurrence {
    pub fn period(&self) -> TimeDelta {
        let days = match self.frequency {
            Frequency::Daily => 1,
            Frequency::Weekly => 7,
        };
        TimeDelta::days(days * i64::from(self.interval))
    }
}

impl FromStr for Recurrence {
    type Err = String;

    fn from_str(rule: &str) -> Result<Self, String> {
        let rule = rule.trim().strip_prefix("RRULE:").unwrap_or(rule.trim());
        let mut frequency = None;
        let mut interval = 1;
        let mut count = None;
        let mut until = None;
        for part in rule.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            match key.to_ascii_uppercase().as_str() {
                "FREQ" => {
                    frequency = Some(match value.to_ascii_uppercase().as_str() {
                        "DAILY" => Frequency::Daily,
                        "WEEKLY" => Frequency::Weekly,
                        other => {
                            return Err(format!(
                                "FREQ={other} is not supported (use DAILY or WEEKLY)"
                            ))
                        }
                    });
                }
                "INTERVAL" => {
                    interval = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=520).contains(n))
                        .ok_or_else(|| {
                            format!("INTERVAL={value} must be a whole number from 1 to 520")
                        })?;
                }
                "COUNT" => {
                    count = Some(value.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(
                        || format!("COUNT={value} must be a whole number of at least 1"),
                    )?);
                }
                "UNTIL" => {
                    let parsed = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
                        .map(|n| n.and_utc())
                        .or_else(|_| DateTime::parse_from_rfc3339(value).map(|d| d.to_utc()))
                        .map_err(|_| {
                            format!("UNTIL={value} must be a UTC time like 20270101T000000Z")
                        })?;
                    until = Some(parsed);
                }
                other => {
                    return Err(format!(
                        "{other} is not supported (use FREQ, INTERVAL, COUNT, UNTIL)"
                    ))
                }
            }
        }
        Ok(Self {
            frequency: frequency.ok_or("FREQ is required")?,
            interval,
            count,
            until,
        })
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let freq = match self.frequency {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
        };
        write!(f, "FREQ={freq}")?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if let Some(count) = self.count {
            write!(f, ";COUNT={count}")?;
        }
        if let Some(until) = self.until {
            write!(f, ";UNTIL={}", until.format("%Y%m%dT%H%M%SZ"))?;
        }
        Ok(())
    }
}

/// A stored maintenance window.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    /// The first occurrence.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub recurrence: Option<Recurrence>,
    /// Covered services, by id.
    pub services: Vec<i64>,
}

/// Checks a window before it is stored; the message names the problem.
pub fn validate(
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    recurrence: Option<&Recurrence>,
) -> Result<(), (&'static str, String)> {
    if ends_at <= starts_at {
        return Err(("ends_at", "must be after starts_at".to_owned()));
    }
    if let Some(r) = recurrence {
        if ends_at - starts_at >= r.period() {
            return Err((
                "recurrence",
                "each occurrence must end before the next one starts".to_owned(),
            ));
        }
        if r.until.is_some_and(|until| until < starts_at) {
            return Err(("recurrence", "UNTIL is before the first start".to_owned()));
        }
    }
    Ok(())
}

impl Window {
    fn duration(&self) -> TimeDelta {
        self.ends_at - self.starts_at
    }

    /// Start of occurrence `k` (0 = the first), if the rule has one.
    fn occurrence(&self, k: i64) -> Option<DateTime<Utc>> {
        if k < 0 {
            return None;
        }
        let Some(rule) = self.recurrence else {
            return (k == 0).then_some(self.starts_at);
        };
        if rule.count.is_some_and(|count| k >= i64::from(count)) {
            return None;
        }
        let start = self.starts_at + rule.period() * i32::try_from(k).ok()?;
        if rule.until.is_some_and(|until| start > until) {
            return None;
        }
        Some(start)
    }

    /// The occurrence in progress at `t`, else the next one to start.
    pub fn current_or_next(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let k = match self.recurrence {
            Some(rule) if t > self.starts_at => {
                let period = rule.period().num_seconds();
                (t - self.starts_at).num_seconds() / period
            }
            _ => 0,
        };
        for k in [k, k + 1] {
            if let Some(start) = self.occurrence(k) {
                let end = start + self.duration();
                if t < end {
                    return Some((start, end));
                }
            }
        }
        None
    }

    /// Up to `n` occurrences not over at `t`: the one in progress, then
    /// the next ones (what the console previews before scheduling).
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let Some((first, _)) = self.current_or_next(t) else {
            return Vec::new();
        };
        let k0 = match self.recurrence {
            Some(rule) => (first - self.starts_at).num_seconds() / rule.period().num_seconds(),
            None => 0,
        };
        (k0..)
            .map_while(|k| self.occurrence(k))
            .take(n)
            .map(|start| (start, start + self.duration()))
            .collect()
    }

    /// True when an occurrence covers `t` (start inclusive, end exclusive).
    pub fn in_progress(&self, t: DateTime<Utc>) -> bool {
        self.current_or_next(t).is_some_and(|(start, _)| start <= t)
    }

    pub fn status(&self, t: DateTime<Utc>) -> MaintenanceStatus {
        match self.current_or_next(t) {
            Some((start, _)) if start <= t => MaintenanceStatus::InProgress,
            Some(_) => MaintenanceStatus::Scheduled,
            None => MaintenanceStatus::Completed,
        }
    }
}

/// Every window that is not completed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    pub windows: Vec<Window>,
}

impl Schedule {
    /// The windows among `windows` that are not completed at `now` (the
    /// store returns recurring windows whatever their rule says).
    pub fn current(mut windows: Vec<Window>, now: DateTime<Utc>) -> Self {
        windows.retain(|w| w.status(now) != MaintenanceStatus::Completed);
        Self { windows }
    }

    pub fn covers(&self, service_id: i64, t: DateTime<Utc>) -> bool {
        self.windows
            .iter()
            .any(|w| w.services.contains(&service_id) && w.in_progress(t))
    }

    /// Windows in progress, then upcoming ones, by start; `slug` names a
    /// service id.
    pub fn views(
        &self,
        now: DateTime<Utc>,
        slug: impl Fn(i64) -> Option<String>,
    ) -> Vec<MaintenanceView> {
        let mut views: Vec<MaintenanceView> = self
            .windows
            .iter()
            .filter_map(|w| {
                let (starts_at, ends_at) = w.current_or_next(now)?;
                Some(MaintenanceView {
                    id: w.id,
                    title: w.title.clone(),
                    description: w.description.clone(),
                    status: w.status(now),
                    starts_at,
                    ends_at,
                    recurrence: w.recurrence.map(|r| r.to_string()),
                    services: w.services.iter().filter_map(|id| slug(*id)).collect(),
                })
            })
            .collect();
        views.sort_by_key(|v| (v.status != MaintenanceStatus::InProgress, v.starts_at, v.id));
        views
    }
}

/// A maintenance window to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMaintenance {
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Canonical rule text ([`Recurrence`]).
    pub recurrence: Option<String>,
    pub service_ids: Vec<i64>,
    pub created_by: String,
    /// When it was created.
    pub at: DateTime<Utc>,
    /// Scheduled with `notify: false`: subscribers are not told it was
    /// scheduled (they still hear when it starts and ends).
    pub quiet: bool,
}

impl NewMaintenance {
    /// The first timeline entry of a new window: `scheduled`, with its
    /// description, or its title when it has none.
    pub fn first_update(&self) -> (UpdateStatus, &str) {
        (
            UpdateStatus::Scheduled,
            self.description.as_deref().unwrap_or(&self.title),
        )
    }
}

/// Timeline statuses of a maintenance window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl From<MaintenanceStatus> for UpdateStatus {
    /// The timeline status that says what the time says.
    fn from(status: MaintenanceStatus) -> Self {
        match status {
            MaintenanceStatus::Scheduled => Self::Scheduled,
            MaintenanceStatus::InProgress => Self::InProgress,
            MaintenanceStatus::Completed => Self::Completed,
        }
    }
}

impl UpdateStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
        }
    }
}

/// A stored maintenance window with its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct MaintenanceRecord {
    pub window: Window,
    pub created_by: String,
    /// Newest first.
    pub updates: Vec<MaintenanceUpdate>,
}

/// One timeline entry of a maintenance window.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MaintenanceUpdate {
    pub id: i64,
    /// `scheduled`, `in_progress`, `verifying` or `completed`.
    pub status: String,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// An admin change to a maintenance window; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenancePatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Option<String>>,
    pub service_ids: Option<Vec<i64>>,
    /// A timeline update to add: (status, body).
    pub update: Option<(UpdateStatus, String)>,
    pub author: String,
    pub at: DateTime<Utc>,
}

impl MaintenancePatch {
    /// The fields the patch sets, for the audit log.
    pub fn fields(&self) -> String {
        crate::domain::incident::join_set(&[
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("starts_at", self.starts_at.is_some()),
            ("ends_at", self.ends_at.is_some()),
            ("recurrence", self.recurrence.is_some()),
            ("services", self.service_ids.is_some()),
            ("update", self.update.is_some()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn window(recurrence: Option<&str>) -> Window {
        Window {
            id: 1,
            title: "Database upgrade".into(),
            description: None,
            starts_at: at(2, 22),
            ends_at: at(2, 23),
            recurrence: recurrence.map(|r| r.parse().unwrap()),
            services: vec![5],
        }
    }

    #[test]
    fn rules_parse_validate_and_print_canonically() {
        #[rustfmt::skip]
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("FREQ=DAILY", Ok("FREQ=DAILY")),
            ("RRULE:freq=weekly;interval=2;count=3", Ok("FREQ=WEEKLY;INTERVAL=2;COUNT=3")),
            ("FREQ=WEEKLY;UNTIL=20270101T000000Z", Ok("FREQ=WEEKLY;UNTIL=20270101T000000Z")),
            ("FREQ=MONTHLY", Err("FREQ=MONTHLY is not supported (use DAILY or WEEKLY)")),
            ("INTERVAL=2", Err("FREQ is required")),
            ("FREQ=DAILY;INTERVAL=0", Err("INTERVAL=0 must be a whole number from 1 to 520")),
            ("FREQ=DAILY;BYDAY=MO", Err("BYDAY is not supported (use FREQ, INTERVAL, COUNT, UNTIL)")),
            ("FREQ=DAILY;UNTIL=tomorrow", Err("UNTIL=tomorrow must be a UTC time like 20270101T000000Z")),
            ("FREQ", Err("`FREQ` is not KEY=VALUE")),
        ];
        for (rule, expected) in cases {
            let parsed = rule.parse::<Recurrence>().map(|r| r.to_string());
            assert_eq!(
                parsed.as_deref().map_err(String::as_str),
                *expected,
                "{rule}"
            );
        }
    }

    #[test]
    fn one_off_window_covers_its_hour_only() {
        let w = window(None);
        assert_eq!(w.status(at(2, 21)), MaintenanceStatus::Scheduled);
        assert!(w.in_progress(at(2, 22)));
        assert_eq!(w.status(at(2, 22)), MaintenanceStatus::InProgress);
        assert!(!w.in_progress(at(2, 23)), "the end is exclusive");
        assert_eq!(w.status(at(2, 23)), MaintenanceStatus::Completed);
        assert_eq!(w.current_or_next(at(3, 0)), None);
    }

    #[test]
    fn weekly_window_repeats_until_its_count_runs_out() {
        let w = window(Some("FREQ=WEEKLY;COUNT=2"));
        assert!(w.in_progress(at(9, 22)));
        assert!(!w.in_progress(at(9, 21)));
        assert_eq!(w.current_or_next(at(3, 0)), Some((at(9, 22), at(9, 23))));
        assert!(!w.in_progress(at(16, 22)), "COUNT=2 ends after the second");
        assert_eq!(w.status(at(10, 0)), MaintenanceStatus::Completed);
    }

    #[test]
    fn daily_window_stops_at_until() {
        let w = window(Some("FREQ=DAILY;UNTIL=20261104T220000Z"));
        assert!(w.in_progress(at(4, 22)));
        assert!(!w.in_progress(at(5, 22)));
    }

    #[test]
    fn validation_names_the_field() {
        let daily = "FREQ=DAILY".parse::<Recurrence>().unwrap();
        assert_eq!(validate(at(2, 2), at(2, 1), None).unwrap_err().0, "ends_at");
        assert_eq!(
            validate(at(2, 0), at(3, 0), Some(&daily)).unwrap_err().0,
            "recurrence"
        );
        assert!(validate(at(2, 0), at(2, 23), Some(&daily)).is_ok());
    }

    #[test]
    fn schedule_lists_in_progress_first_and_covers_only_its_services() {
        let mut later = window(None);
        later.id = 2;
        later.starts_at = at(20, 1);
        later.ends_at = at(20, 2);
        let schedule = Schedule {
            windows: vec![later, window(Some("FREQ=DAILY"))],
        };
        assert!(schedule.covers(5, at(10, 22)));
        assert!(!schedule.covers(6, at(10, 22)));
        let views = schedule.views(at(10, 22), |id| Some(format!("s{id}")));
        let order: Vec<_> = views.iter().map(|v| (v.id, v.status)).collect();
        assert_eq!(
            order,
            [
                (1, MaintenanceStatus::InProgress),
                (2, MaintenanceStatus::Scheduled)
            ]
        );
        assert_eq!(views[0].services, ["s5"]);
        assert_eq!(views[0].recurrence.as_deref(), Some("FREQ=DAILY"));
    }

    #[test]
    fn the_current_schedule_leaves_out_windows_that_are_over() {
        let mut over = window(Some("FREQ=DAILY;COUNT=2"));
        over.id = 2;
        let mut one_off_over = window(None);
        one_off_over.id = 3;
        let recurring = window(Some("FREQ=WEEKLY"));
        let schedule = Schedule::current(vec![recurring, over, one_off_over], at(10, 0));
        let ids: Vec<i64> = schedule.windows.iter().map(|w| w.id).collect();
        assert_eq!(ids, [1]);
    }

    #[test]
    fn a_new_window_starts_its_timeline_with_its_description_or_title() {
        let new = |description: Option<&str>| NewMaintenance {
            title: "Database upgrade".into(),
            description: description.map(str::to_owned),
            starts_at: at(2, 22),
            ends_at: at(2, 23),
            recurrence: None,
            service_ids: vec![],
            created_by: "ops".into(),
            at: at(1, 0),
            quiet: false,
        };
        assert_eq!(
            new(Some("Postgres 17")).first_update(),
            (UpdateStatus::Scheduled, "Postgres 17")
        );
        assert_eq!(
            new(None).first_update(),
            (UpdateStatus::Scheduled, "Database upgrade")
        );
    }

    #[test]
    fn the_audit_log_names_the_fields_a_maintenance_patch_sets() {
        let patch = MaintenancePatch {
            description: Some(None),
            ends_at: Some(at(3, 0)),
            update: Some((UpdateStatus::Verifying, "Checking".into())),
            ..MaintenancePatch::default()
        };
        assert_eq!(patch.fields(), "description, ends_at, update");
        assert_eq!(MaintenancePatch::default().fields(), "nothing");
    }

    #[test]
    fn upcoming_lists_the_occurrence_in_progress_then_the_next_ones() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let window = |rule: Option<&str>| Window {
            id: 1,
            title: "w".into(),
            description: None,
            starts_at: at("2026-12-01T02:00:00Z"),
            ends_at: at("2026-12-01T03:00:00Z"),
            recurrence: rule.map(|r| r.parse().unwrap()),
            services: vec![],
        };
        let starts = |w: &Window, t: &str, n| {
            w.upcoming(at(t), n)
                .into_iter()
                .map(|(s, e)| {
                    assert_eq!(e - s, TimeDelta::hours(1));
                    s.format("%m-%d %H").to_string()
                })
                .collect::<Vec<_>>()
        };
        let weekly = window(Some("FREQ=WEEKLY;COUNT=3"));
        assert_eq!(
            starts(&weekly, "2026-11-01T00:00:00Z", 5),
            ["12-01 02", "12-08 02", "12-15 02"]
        );
        assert_eq!(
            starts(&weekly, "2026-12-08T02:30:00Z", 5),
            ["12-08 02", "12-15 02"]
        );
        assert!(starts(&weekly, "2026-12-15T03:00:00Z", 5).is_empty());
        let daily = window(Some("FREQ=DAILY"));
        assert_eq!(
            starts(&daily, "2026-12-03T12:00:00Z", 5),
            ["12-04 02", "12-05 02", "12-06 02", "12-07 02", "12-08 02"]
        );
        assert_eq!(
            starts(&window(None), "2026-12-01T00:00:00Z", 5),
            ["12-01 02"]
        );
        assert!(starts(&window(None), "2026-12-02T00:00:00Z", 5).is_empty());
    }
}
