//! Service level objectives (admin, bearer token):
//!
//! - `GET /api/v1/slo`: every service with objectives, each objective's
//!   compliance, error budget, burn rates, time to exhaustion and status;
//! - `GET /api/v1/slo/{slug}`: one service;
//! - `GET /api/v1/slo/{slug}/history?from=YYYY-MM-DD&to=YYYY-MM-DD`: each
//!   objective's stored days (both dates included; the last 30 days by
//!   default, at most 366);
//! - `GET /api/v1/slo/report?month=YYYY-MM[&format=csv]`: per service and
//!   objective, the target, what was achieved, the budget used and the
//!   incidents that month, from the stored days (as JSON, or CSV with
//!   `format=csv` or `Accept: text/csv`).
//!
//! The live figures are read from the measures published with the
//! snapshot (at most a minute old, fresher for services with samples
//! since): no database query. Days are stored once they are over
//! (`engine::slo`), so a report of the current month covers the days up
//! to yesterday (`days` says how many).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::domain::slo::{
    Board, Budget, Events, Measure, Objective, ObjectiveKind, ServiceMeasures, BURN_1H, BURN_24H,
    BURN_WINDOWS,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(report))
        .routes(routes!(one))
        .routes(routes!(history))
}

/// A service's objectives as measured.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceSlo {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    /// `30d` (today and the 29 UTC days before) or `calendar_month`.
    pub window: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub measured_at: DateTime<Utc>,
    pub objectives: Vec<ObjectiveSlo>,
}

/// One objective's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectiveSlo {
    /// `availability`, `latency_p95_300ms`, ….
    pub objective: String,
    /// `availability` or `latency`.
    pub kind: String,
    /// The share of good samples promised (0.999).
    pub target: f64,
    /// Latency objectives: good samples took at most this long.
    pub threshold_ms: Option<u32>,
    /// Good and bad samples in the window.
    pub good: u64,
    pub bad: u64,
    /// Good over all; null without samples.
    pub compliance: Option<f64>,
    pub budget: BudgetSlo,
    /// Burn rate per window (`5m`, `30m`, `1h`, `2h`, `6h`, `24h`, `72h`):
    /// 1.0 spends exactly the budget over the SLO window; null without
    /// samples there.
    pub burn_rates: BTreeMap<String, Option<f64>>,
    /// Seconds until the budget is spent at the 1 h and 24 h rates; null
    /// when nothing burns there, 0 when it is spent.
    pub exhausted_in_s_at_1h_rate: Option<i64>,
    pub exhausted_in_s_at_24h_rate: Option<i64>,
    /// `ok`, `warning`, `critical` or `exhausted` (SRE workbook table).
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetSlo {
    /// Bad samples the target allows over the window's samples so far.
    pub allowed: f64,
    pub consumed: u64,
    /// The share left: 1 untouched, 0 spent, negative overspent.
    pub remaining_ratio: Option<f64>,
    /// What is left in minutes of failure at the service's interval
    /// (bad samples left × interval).
    pub remaining_minutes: f64,
}

/// The figures of `measure`, for `objective` of `of`.
pub fn objective_slo(
    of: &ServiceMeasures,
    objective: &Objective,
    measure: &Measure,
) -> ObjectiveSlo {
    let length = of.service.objectives.window.length(of.at);
    let budget = Budget::of(measure.window(), objective.target);
    let rate = |i: usize| measure.burn_rate(i, objective.target);
    let exhausted_in = |i: usize| {
        measure
            .exhausted_in(i, objective.target, length)
            .map(|d| d.num_seconds())
    };
    let interval_minutes = of.service.interval.as_secs_f64() / 60.0;
    ObjectiveSlo {
        objective: objective.name.clone(),
        kind: match objective.kind {
            ObjectiveKind::Availability => "availability",
            ObjectiveKind::Latency { .. } => "latency",
        }
        .to_owned(),
        target: objective.target,
        threshold_ms: match objective.kind {
            ObjectiveKind::Latency { under_ms } => Some(under_ms),
            ObjectiveKind::Availability => None,
        },
        good: measure.window().good,
        bad: measure.window().bad,
        compliance: measure.window().compliance(),
        budget: BudgetSlo {
            allowed: budget.allowed,
            consumed: budget.consumed,
            remaining_ratio: budget.remaining_ratio(),
            remaining_minutes: (budget.allowed - budget.consumed as f64) * interval_minutes,
        },
        burn_rates: BURN_WINDOWS
            .iter()
            .enumerate()
            .map(|(i, (name, _))| ((*name).to_owned(), rate(i)))
            .collect(),
        exhausted_in_s_at_1h_rate: exhausted_in(BURN_1H),
        exhausted_in_s_at_24h_rate: exhausted_in(BURN_24H),
        status: measure.status.as_str().to_owned(),
    }
}

pub fn service_slo(of: &ServiceMeasures) -> ServiceSlo {
    let objectives = &of.service.objectives;
    let (start, end) = objectives.window.bounds(of.at);
    ServiceSlo {
        slug: of.service.slug.clone(),
        name: of.service.name.clone(),
        group: of.service.group.clone(),
        window: objectives.window.as_str().to_owned(),
        window_start: start,
        window_end: end,
        measured_at: of.at,
        objectives: objectives
            .list
            .iter()
            .zip(&of.measures)
            .map(|(objective, measure)| objective_slo(of, objective, measure))
            .collect(),
    }
}

/// Burn-rate windows exported to Prometheus (the API has all seven): the
/// ones the budget section of the figures names.
const METRIC_WINDOWS: [usize; 4] = [2, 4, 5, 6];

/// The board as `/metrics` series, by service slug and objective.
pub fn metric_series(board: &Board) -> Vec<crate::metrics::SloSeries> {
    let mut services: Vec<&ServiceMeasures> = board.services.values().map(AsRef::as_ref).collect();
    services.sort_by(|a, b| a.service.slug.cmp(&b.service.slug));
    let mut series = Vec::new();
    for of in services {
        for (objective, measure) in of.service.objectives.list.iter().zip(&of.measures) {
            series.push(crate::metrics::SloSeries {
                service: of.service.slug.clone(),
                objective: objective.name.clone(),
                compliance: measure.window().compliance(),
                budget_remaining: measure.budget_left(objective.target),
                burn_rates: METRIC_WINDOWS
                    .iter()
                    .filter_map(|i| {
                        Some((BURN_WINDOWS[*i].0, measure.burn_rate(*i, objective.target)?))
                    })
                    .collect(),
                status: measure.status.as_str(),
            });
        }
    }
    series
}

/// Every service with objectives, by slug.
#[utoipa::path(get, path = "/api/v1/slo", tag = "slo", security(("bearer" = ["viewer"])),
    responses(
        (status = 200, body = Vec<ServiceSlo>),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn list(State(state): State<AppState>, _viewer: Viewer) -> Json<Vec<ServiceSlo>> {
    let board = state.slo.borrow().clone();
    let mut services: Vec<ServiceSlo> = board.services.values().map(|m| service_slo(m)).collect();
    services.sort_by(|a, b| a.slug.cmp(&b.slug));
    Json(services)
}

/// One service's objectives.
#[utoipa::path(get, path = "/api/v1/slo/{slug}", tag = "slo", security(("bearer" = ["viewer"])),
    params(("slug" = String, Path, description = "The service's slug")),
    responses(
        (status = 200, body = ServiceSlo),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 404, body = ErrorBody, description = "No service of that slug with objectives"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn one(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Json<ServiceSlo>, ApiError> {
    let board = state.slo.borrow().clone();
    board
        .services
        .values()
        .find(|m| m.service.slug == slug)
        .map(|m| Json(service_slo(m)))
        .ok_or_else(|| ApiError::not_found_in("slug", "no service of that slug has objectives"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: yesterday, the last day stored).
    to: Option<String>,
}

/// One objective's stored day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DaySlo {
    pub objective: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub target: f64,
    pub good: u64,
    pub bad: u64,
    /// The day's good share; null without samples.
    pub compliance: Option<f64>,
    /// The SLO window's good share as the day ended.
    pub window_compliance: Option<f64>,
    /// The share of the window's error budget left as the day ended.
    pub budget_remaining: Option<f64>,
}

fn day_param(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid_field(field, format!("{text:?} is not a date (YYYY-MM-DD)"))
    })?;
    Ok(Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN)))
}

fn service_id(state: &AppState, slug: &str) -> Result<i64, ApiError> {
    state
        .slo
        .borrow()
        .services
        .iter()
        .find(|(_, m)| m.service.slug == slug)
        .map(|(id, _)| *id)
        .ok_or_else(|| ApiError::not_found_in("slug", "no service of that slug has objectives"))
}

/// One service's objectives day by day, as stored when each day ended.
#[utoipa::path(get, path = "/api/v1/slo/{slug}/history", tag = "slo", security(("bearer" = ["viewer"])),
    params(("slug" = String, Path, description = "The service's slug"), HistoryQuery),
    responses(
        (status = 200, body = Vec<DaySlo>),
        (status = 400, body = ErrorBody, description = "`from` or `to` is not a date, or they are out of order or more than 366 days apart"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 404, body = ErrorBody, description = "No service of that slug with objectives"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn history(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(slug): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<DaySlo>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let id = service_id(&state, &slug)?;
    let today = crate::domain::rollup::Resolution::Day.start_of(state.clock.now());
    let to = match &query.to {
        Some(text) => day_param("to", text)?,
        None => today - TimeDelta::days(1),
    };
    let from = match &query.from {
        Some(text) => day_param("from", text)?,
        None => to - TimeDelta::days(29),
    };
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    if to - from >= TimeDelta::days(366) {
        return Err(ApiError::invalid_field(
            "to",
            "at most 366 days after `from`",
        ));
    }
    let days = state
        .store
        .slo_days(Some(id), from, to + TimeDelta::days(1))
        .await?;
    Ok(Json(
        days.into_iter()
            .map(|d| {
                let window = Events {
                    good: d.window_good,
                    bad: d.window_bad,
                };
                DaySlo {
                    objective: d.objective,
                    day: d.day.date_naive().to_string(),
                    target: d.target,
                    good: d.good,
                    bad: d.bad,
                    compliance: Events {
                        good: d.good,
                        bad: d.bad,
                    }
                    .compliance(),
                    window_compliance: window.compliance(),
                    budget_remaining: Budget::of(window, d.target).remaining_ratio(),
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `YYYY-MM`, UTC.
    month: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One service's objective over a month.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportRow {
    pub service: String,
    pub name: String,
    pub objective: String,
    pub target: f64,
    /// Good share of the month's samples; null without samples.
    pub achieved: Option<f64>,
    pub met: Option<bool>,
    pub good: u64,
    pub bad: u64,
    /// Bad samples over those the target allows in the month (1 = all of
    /// the budget); null without samples.
    pub budget_used: Option<f64>,
    /// Incidents about the service that started in the month.
    pub incidents: u64,
    /// Days of the month stored (a month under way has fewer).
    pub days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    pub month: String,
    pub rows: Vec<ReportRow>,
}

/// The monthly report, from the stored days: no raw samples needed.
#[utoipa::path(get, path = "/api/v1/slo/report", tag = "slo", security(("bearer" = ["viewer"])),
    params(ReportQuery),
    responses(
        (status = 200, body = Report, description = "JSON, or CSV (`format=csv` or `Accept: text/csv`) with the rows' fields as columns"),
        (status = 400, body = ErrorBody, description = "`month` is not YYYY-MM, or `format` is unknown"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn report(
    State(state): State<AppState>,
    _viewer: Viewer,
    headers: HeaderMap,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "format",
                format!("{other:?}: use json or csv"),
            ))
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let first = NaiveDate::parse_from_str(&format!("{}-01", query.month), "%Y-%m-%d")
        .ok()
        .filter(|_| query.month.len() == 7)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "month",
                format!("{:?} is not a month (YYYY-MM)", query.month),
            )
        })?;
    let start = Utc.from_utc_datetime(&first.and_time(chrono::NaiveTime::MIN));
    let (_, end) = crate::domain::slo::Window::CalendarMonth.bounds(start);
    let days = state.store.slo_days(None, start, end).await?;
    let incidents: std::collections::HashMap<i64, u64> = state
        .store
        .incident_counts(start, end)
        .await?
        .into_iter()
        .collect();
    let board = state.slo.borrow().clone();
    // Every objective of every service, with or without stored days.
    let mut sums: std::collections::BTreeMap<(i64, String), (f64, Events, u32)> = board
        .services
        .iter()
        .flat_map(|(id, m)| {
            m.service
                .objectives
                .list
                .iter()
                .map(|o| ((*id, o.name.clone()), (o.target, Events::default(), 0)))
        })
        .collect();
    for day in &days {
        let entry = sums
            .entry((day.service_id, day.objective.clone()))
            .or_insert((day.target, Events::default(), 0));
        entry.0 = day.target;
        entry.1.good += day.good;
        entry.1.bad += day.bad;
        entry.2 += 1;
    }
    let mut rows: Vec<ReportRow> = Vec::new();
    for ((id, objective), (target, events, count)) in sums {
        let (slug, name) = board.services.get(&id).map_or_else(
            || (format!("#{id}"), String::new()),
            |m| (m.service.slug.clone(), m.service.name.clone()),
        );
        let allowed = (1.0 - target) * events.total() as f64;
        rows.push(ReportRow {
            service: slug,
            name,
            objective,
            target,
            achieved: events.compliance(),
            met: events.compliance().map(|c| c >= target),
            good: events.good,
            bad: events.bad,
            budget_used: (allowed > 0.0).then(|| events.bad as f64 / allowed),
            incidents: incidents.get(&id).copied().unwrap_or(0),
            days: count,
        });
    }
    rows.sort_by(|a, b| (&a.service, &a.objective).cmp(&(&b.service, &b.objective)));
    let month = format!("{:04}-{:02}", first.year(), first.month());
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"slo-{month}.csv\""),
                ),
            ],
            report_csv(&rows),
        )
            .into_response());
    }
    Ok(Json(Report { month, rows }).into_response())
}

/// RFC 4180 CSV of the report's rows; a field starting with `=`, `+`,
/// `-` or `@` is prefixed with `'` so a spreadsheet never runs it as a
/// formula (service names are user text).
fn report_csv(rows: &[ReportRow]) -> String {
    fn field(text: &str) -> String {
        let text = if text.starts_with(['=', '+', '-', '@']) {
            format!("'{text}")
        } else {
            text.to_owned()
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    }
    let number = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    let mut out = String::from(
        "service,name,objective,target,achieved,met,good,bad,budget_used,incidents,days\r\n",
    );
    for r in rows {
        out.push_str(
            &[
                field(&r.service),
                field(&r.name),
                field(&r.objective),
                format!("{}", r.target),
                number(r.achieved),
                r.met.map(|m| m.to_string()).unwrap_or_default(),
                r.good.to_string(),
                r.bad.to_string(),
                number(r.budget_used),
                r.incidents.to_string(),
                r.days.to_string(),
            ]
            .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_user_text() {
        let row = |name: &str| ReportRow {
            service: "api".into(),
            name: name.into(),
            objective: "availability".into(),
            target: 0.999,
            achieved: Some(0.9995),
            met: Some(true),
            good: 1999,
            bad: 1,
            budget_used: Some(0.5),
            incidents: 2,
            days: 30,
        };
        let csv = report_csv(&[row("API, \"public\""), row("=HYPERLINK(1)")]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "service,name,objective,target,achieved,met,good,bad,budget_used,incidents,days"
        );
        assert_eq!(
            lines[1],
            "api,\"API, \"\"public\"\"\",availability,0.999,0.9995,true,1999,1,0.5,2,30"
        );
        assert_eq!(
            lines[2],
            "api,'=HYPERLINK(1),availability,0.999,0.9995,true,1999,1,0.5,2,30"
        );
    }
}
