//! Public JSON: `GET /public/status`, the document the page renders from,
//! and `GET /public/status/incidents`, both served from the in-memory
//! snapshot with CORS open for GET and an `ETag` answered by `304`.

use app::model::{History, IncidentView, ListedPart, Listing, MaintenanceView, PublicStatus};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::answers::{etag, Answer};
use super::error::{ApiError, ErrorBody};
use super::extract::snapshot;
use super::extract::MAX_LIST;
use super::AppState;
use crate::domain::listing::{scoped, Scope};
use crate::domain::snapshot::RECENT_INCIDENTS;

/// Most incidents one page of `/public/status/incidents` holds.
pub const MAX_PER_PAGE: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(incidents))
        .routes(routes!(history))
}

/// The first day of `month` (`YYYY-MM`), or of the current month.
fn month_start(month: Option<&str>, now: DateTime<Utc>) -> Result<NaiveDate, ApiError> {
    match month {
        None => NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
            .ok_or_else(|| ApiError::invalid_field("month", "out of range")),
        Some(raw) => NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d")
            .ok()
            .filter(|d| raw.len() == 7 && d.year() >= 2000)
            .ok_or_else(|| ApiError::invalid_field("month", "must be YYYY-MM, from 2000")),
    }
}

fn ym(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// One month of past incidents and maintenance, from the database.
pub async fn load_history(state: &AppState, month: Option<&str>) -> Result<History, ApiError> {
    let now = state.clock.now();
    let first = month_start(month, now)?;
    let next_first = first
        .checked_add_months(Months::new(1))
        .ok_or_else(|| ApiError::invalid_field("month", "out of range"))?;
    let previous = first
        .checked_sub_months(Months::new(1))
        .ok_or_else(|| ApiError::invalid_field("month", "out of range"))?;
    let from = first.and_time(NaiveTime::MIN).and_utc();
    let until = next_first.and_time(NaiveTime::MIN).and_utc();
    let incidents: Vec<IncidentView> = state
        .store
        .incidents_since(from)
        .await?
        .into_iter()
        .filter(|i| i.started_at < until)
        .collect();
    let slugs: std::collections::HashMap<i64, String> = state
        .store
        .services()
        .await?
        .into_iter()
        .map(|s| (s.id, s.slug))
        .collect();
    let mut maintenances: Vec<MaintenanceView> = state
        .store
        .maintenances(MAX_LIST)
        .await?
        .into_iter()
        .map(|record| record.window)
        .filter(|w| w.starts_at >= from && w.starts_at < until)
        .map(|w| MaintenanceView {
            id: w.id,
            title: w.title.clone(),
            description: w.description.clone(),
            status: w.status(now),
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            recurrence: w.recurrence.map(|r| r.to_string()),
            services: w
                .services
                .iter()
                .filter_map(|id| slugs.get(id).cloned())
                .collect(),
        })
        .collect();
    maintenances.sort_by_key(|m| std::cmp::Reverse(m.starts_at));
    Ok(History {
        month: ym(first),
        incidents,
        maintenances,
        previous: ym(previous),
        next: (until <= now).then(|| ym(next_first)),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// `YYYY-MM`; default the current month (UTC).
    month: Option<String>,
}

/// Incidents and maintenance of one month. Read from the database (past
/// months are not in the snapshot); `Cache-Control: max-age=60`.
#[utoipa::path(get, path = "/public/history", tag = "public", params(HistoryQuery),
    responses(
        (status = 200, body = History),
        (status = 400, body = ErrorBody, description = "A bad `month`"),
    ))]
async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let history = load_history(&state, query.month.as_deref()).await?;
    Ok((
        [
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        axum::Json(history),
    )
        .into_response())
}

/// The snapshot document `what`, made once per snapshot by `make` (see
/// [`super::answers`]), or `304` when the client has it.
pub fn cached_json<T: Serialize>(
    state: &AppState,
    request: &HeaderMap,
    snapshot: &PublicStatus,
    what: &str,
    make: impl FnOnce() -> T,
) -> Response {
    state.answers.respond(snapshot, what, request, || {
        Answer::json(&etag(snapshot, what), &make())
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// A service's slug: the document of its page (that service only).
    service: Option<String>,
    /// A group's slug (`ungrouped` for services without one): one page of
    /// its services.
    group: Option<String>,
    /// With `group`: the page, from 1 (default 1), 100 services a page.
    page: Option<u32>,
}

/// The document the page renders from: overall status, services with
/// uptime and daily bars, incidents and maintenance. On a page with more
/// than `[page] max_listed` services, `services` holds only those that are
/// not operational and `listing` counts every group; `?service=` and
/// `?group=&page=` answer a service's or a group's page at any size.
#[utoipa::path(get, path = "/public/status", tag = "public", params(StatusQuery),
    responses(
        (status = 200, body = PublicStatus, headers(("ETag" = String, description = "Changes with every new snapshot"))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, body = ErrorBody, description = "A bad query"),
        (status = 404, body = ErrorBody, description = "No such service, group or page"),
    ))]
async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let snapshot = snapshot(&state);
    let (scope, what) = match (&query.service, &query.group, query.page) {
        (None, None, None) => {
            return Ok(cached_json(&state, &headers, &snapshot, "status", || {
                scoped(&snapshot, Scope::Home, state.max_listed)
            }));
        }
        (Some(_), Some(_), _) => {
            return Err(ApiError::invalid_field(
                "service",
                "use either service or group",
            ));
        }
        (_, None, Some(_)) => return Err(ApiError::invalid_field("page", "goes with group")),
        (_, Some(_), Some(0)) => return Err(ApiError::invalid_field("page", "pages start at 1")),
        (Some(slug), None, None) => {
            if !snapshot.services.iter().any(|s| s.slug == *slug) {
                return Err(ApiError::not_found_in("service", "no such service"));
            }
            // Known to exist: the document (and its response-time chart)
            // is made once per snapshot, when first asked for.
            let what = format!("status-service-{slug}");
            return Ok(cached_json(&state, &headers, &snapshot, &what, || {
                scoped(&snapshot, Scope::Service(slug), state.max_listed)
            }));
        }
        (None, Some(slug), page) => {
            let page = page.unwrap_or(1);
            (
                Scope::Group { slug, page },
                format!("status-group-{slug}-{page}"),
            )
        }
    };
    let document = scoped(&snapshot, scope, state.max_listed);
    if let Some(Listing {
        groups,
        part: ListedPart::GroupPage { page, pages },
        ..
    }) = &document.listing
    {
        if groups.is_empty() {
            return Err(ApiError::not_found_in("group", "no such group"));
        }
        if page > pages {
            return Err(ApiError::not_found_in(
                "page",
                format!("the group has {pages} pages"),
            ));
        }
    }
    Ok(cached_json(&state, &headers, &snapshot, &what, || document))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Page number, from 1 (default 1).
    page: Option<usize>,
    /// Incidents a page, 1 to 50 (default 20).
    per_page: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
struct IncidentPage<'a> {
    /// Unresolved incidents, always all of them.
    active: &'a [IncidentView],
    /// One page of the most recent incidents, resolved ones included.
    recent: &'a [IncidentView],
    page: usize,
    per_page: usize,
    /// Recent incidents available over all pages (at most 50).
    total: usize,
    /// The next page's number, when there is one.
    next_page: Option<usize>,
}

/// Unresolved incidents, and one page of the 50 most recent.
#[utoipa::path(get, path = "/public/status/incidents", tag = "public", params(PageQuery),
    responses(
        (status = 200, body = IncidentPage),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, body = ErrorBody, description = "A bad `page` or `per_page`"),
    ))]
async fn incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    if page == 0 {
        return Err(ApiError::invalid_field("page", "pages start at 1"));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::invalid_field(
            "per_page",
            format!("must be from 1 to {MAX_PER_PAGE}"),
        ));
    }
    let snapshot = snapshot(&state);
    let recent = &snapshot.recent_incidents;
    let start = (page - 1).saturating_mul(per_page).min(recent.len());
    let end = start.saturating_add(per_page).min(recent.len());
    let body = IncidentPage {
        active: &snapshot.incidents,
        recent: &recent[start..end],
        page,
        per_page,
        total: recent.len(),
        next_page: (end < recent.len()).then_some(page + 1),
    };
    debug_assert!(recent.len() <= RECENT_INCIDENTS as usize);
    let what = format!("incidents-{page}-{per_page}");
    Ok(cached_json(&state, &headers, &snapshot, &what, || body))
}
