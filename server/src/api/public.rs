//! Public JSON: `GET /public/status`, the document the page renders from,
//! and `GET /public/status/incidents`, both served from the in-memory
//! snapshot with CORS open for GET and an `ETag` answered by `304`.

use std::sync::Arc;

use app::model::{IncidentView, PublicStatus};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::snapshot::RECENT_INCIDENTS;

/// Most incidents one page of `/public/status/incidents` holds.
pub const MAX_PER_PAGE: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(incidents))
}

/// The snapshot's version: it changes whenever a new snapshot is built.
pub fn etag(snapshot: &PublicStatus, what: &str) -> String {
    format!(
        "W/\"{what}-{}-{}\"",
        snapshot
            .generated_at
            .timestamp_nanos_opt()
            .unwrap_or_default(),
        u8::from(snapshot.stale)
    )
}

/// A JSON answer from the snapshot, or `304` when the client has it.
pub fn cached_json<T: Serialize>(headers: &HeaderMap, tag: &str, body: &T) -> Response {
    cached_bytes(headers, tag, || {
        serde_json::to_vec(body)
            .map(Bytes::from)
            .unwrap_or_default()
    })
}

/// Like [`cached_json`], with the body already serialised (or serialised
/// only when it is sent).
pub fn cached_bytes(headers: &HeaderMap, tag: &str, body: impl FnOnce() -> Bytes) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        // Status widgets on other sites may read this.
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
    ];
    let tag = HeaderValue::from_str(tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, tag)]).into_response();
    }
    (
        common,
        [
            (header::ETAG, tag),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        body(),
    )
        .into_response()
}

/// The status document serialised once per snapshot.
#[derive(Debug, Default)]
pub struct StatusJson(std::sync::Mutex<Option<(String, Bytes)>>);

impl StatusJson {
    /// The JSON of `snapshot`, whose version is `tag`.
    fn get(&self, tag: &str, snapshot: &PublicStatus) -> Bytes {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((known, bytes)) = &*guard {
            if known == tag {
                return bytes.clone();
            }
        }
        let bytes = Bytes::from(serde_json::to_vec(snapshot).unwrap_or_default());
        *guard = Some((tag.to_owned(), bytes.clone()));
        bytes
    }
}

fn snapshot(state: &AppState) -> Arc<PublicStatus> {
    state.snapshot.borrow().clone()
}

/// The whole page: overall status, services with uptime and daily bars,
/// incidents and maintenance.
#[utoipa::path(get, path = "/public/status", tag = "public",
    responses(
        (status = 200, body = PublicStatus, headers(("ETag" = String, description = "Changes with every new snapshot"))),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    ))]
async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let snapshot = snapshot(&state);
    let tag = etag(&snapshot, "status");
    cached_bytes(&headers, &tag, || state.status_json.get(&tag, &snapshot))
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
    let tag = etag(&snapshot, &format!("incidents-{page}-{per_page}"));
    Ok(cached_json(&headers, &tag, &body))
}
