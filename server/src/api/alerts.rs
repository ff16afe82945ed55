//! The alert routes and their history (admin, bearer token):
//!
//! - `GET /api/v1/alerts/routes`: every route with its filters, where its
//!   secret comes from (never the secret), and its last delivery;
//! - `POST /api/v1/alerts/routes/{name}/test`: a `test` event through the
//!   real path (outbox, dispatcher, provider) to that route alone;
//! - `GET /api/v1/alerts/history`: deliveries, newest first, by route,
//!   status or incident, a page at a time, each with its attempts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Viewer};
use super::error::{ApiError, ErrorBody};
use super::extract::{list_limit, Body};
use super::AppState;
use crate::config::alerts::RouteConfig;
use crate::domain::alert::{test_event, EventKind};
use crate::store::{AlertHistoryFilter, AttemptRecord, DeliveryRecord, DeliveryStatus};

/// Most deliveries one history page holds.
pub const MAX_HISTORY: u32 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_routes))
        .routes(routes!(test_route))
        .routes(routes!(history))
}

/// A route as the API shows it: never its secret, nor a URL that is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    pub name: String,
    pub kind: String,
    /// The receiver: scheme and host only (a Slack or webhook URL carries
    /// its own secret in the path).
    pub endpoint: Option<String>,
    /// Where the secret comes from (`env:PD_KEY`, `file:/run/secrets/pd`),
    /// when the route has one.
    pub secret_from: Option<String>,
    pub services: Vec<String>,
    pub groups: Vec<String>,
    /// The events the route takes (its `events`, or the kind's default).
    pub events: Vec<String>,
    pub min_impact: String,
    pub cooldown_s: u64,
    pub repeat_every_s: Option<u64>,
    pub repeat_max: u32,
    pub send_resolved: bool,
    /// Recipients of an email route.
    pub to: Vec<String>,
    pub last_delivery: Option<DeliveryRecord>,
}

/// `https://hooks.slack.com/services/T/B/X` → `https://hooks.slack.com`.
pub(super) fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

fn secret_from(route: &RouteConfig) -> Option<String> {
    let env = [
        &route.routing_key_env,
        &route.api_key_env,
        &route.secret_env,
    ];
    let file = [
        &route.routing_key_file,
        &route.api_key_file,
        &route.secret_file,
    ];
    env.iter()
        .find_map(|v| v.as_ref().map(|v| format!("env:{v}")))
        .or_else(|| {
            file.iter()
                .find_map(|f| f.as_ref().map(|f| format!("file:{}", f.display())))
        })
}

fn routes_of(state: &AppState) -> &[RouteConfig] {
    state.alert_routes.as_slice()
}

/// Every route with its filters and last delivery; secrets masked.
#[utoipa::path(get, path = "/api/v1/alerts/routes", tag = "alerts", security(("bearer" = ["viewer"])),
    responses(
        (status = 200, body = Vec<RouteView>),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn list_routes(
    State(state): State<AppState>,
    _viewer: Viewer,
) -> Result<Json<Vec<RouteView>>, ApiError> {
    let mut views = Vec::new();
    for route in routes_of(&state) {
        let last = state
            .store
            .alert_history(&AlertHistoryFilter {
                route: Some(route.name.clone()),
                limit: 1,
                ..AlertHistoryFilter::default()
            })
            .await?
            .pop();
        views.push(RouteView {
            name: route.name.clone(),
            kind: route.kind.as_str().to_owned(),
            endpoint: route.endpoint().and_then(origin),
            secret_from: secret_from(route),
            services: route.services.clone(),
            groups: route.groups.clone(),
            events: EventKind::ALL
                .into_iter()
                .filter(|&k| k != EventKind::Test && route.wants(k))
                .map(|k| k.as_str().to_owned())
                .collect(),
            min_impact: route.min_impact.as_str().to_owned(),
            cooldown_s: route.cooldown.as_secs(),
            repeat_every_s: route.repeat_every.map(|d| d.as_secs()),
            repeat_max: route.repeat_max(),
            send_resolved: route.send_resolved,
            to: route.to.clone(),
            last_delivery: last,
        });
    }
    Ok(Json(views))
}

/// The body of a test request: `{}` (nothing to set yet; an object, so
/// options can come later without breaking callers).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// The delivery to look for in the history.
    pub delivery_id: i64,
    pub route: String,
}

/// Queues a `test` event for this route alone; the leader delivers it
/// within a second or two. `202` with the delivery's id.
#[utoipa::path(post, path = "/api/v1/alerts/routes/{name}/test", tag = "alerts", security(("bearer" = ["admin"])),
    params(("name" = String, Path, description = "The route's name")),
    request_body = TestRequest,
    responses(
        (status = 202, body = TestQueued),
        (status = 400, body = ErrorBody, description = "The body is not `{}`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
        (status = 404, body = ErrorBody, description = "No route of that name"),
        (status = 422, body = ErrorBody, description = "The body is not `{}`"),
    ))]
async fn test_route(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(TestRequest {}): Body<TestRequest>,
) -> Result<(StatusCode, Json<TestQueued>), ApiError> {
    let route = routes_of(&state)
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError::not_found_in("name", "no such route"))?;
    let event = test_event(state.clock.now());
    // Queued by whichever replica answers; the leader delivers it.
    let delivery_id = state
        .store
        .insert_routed_alert(&event, &route.name, route.kind.as_str(), None)
        .await?
        .ok_or_else(|| ApiError::internal(&"unfenced insert refused"))?;
    state.changes.alerts_written();
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            delivery_id,
            route: route.name.clone(),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    route: Option<String>,
    /// `pending`, `delivered`, `failed` or `suppressed`.
    status: Option<String>,
    /// Deliveries of one incident's events.
    incident: Option<i64>,
    /// 1 to 200, default 50.
    limit: Option<u32>,
    /// The previous page's `next_before`.
    before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub delivery: DeliveryRecord,
    pub attempts_made: Vec<AttemptRecord>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub deliveries: Vec<HistoryEntry>,
    /// Pass as `before` for the next page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// Deliveries, newest first, with every attempt.
#[utoipa::path(get, path = "/api/v1/alerts/history", tag = "alerts", security(("bearer" = ["viewer"])),
    params(HistoryQuery),
    responses(
        (status = 200, body = HistoryPage),
        (status = 400, body = ErrorBody, description = "A bad parameter, named in `field`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn history(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let limit = list_limit(query.limit, 50, MAX_HISTORY)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            DeliveryStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_field(
                    "status",
                    "must be pending, delivered, failed or suppressed",
                )
            })
        })
        .transpose()?;
    let deliveries = state
        .store
        .alert_history(&AlertHistoryFilter {
            route: query.route,
            status,
            incident_id: query.incident,
            before_id: query.before,
            limit,
        })
        .await?;
    let next_before = (deliveries.len() == limit as usize)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    let mut entries = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let attempts_made = state.store.alert_attempts(delivery.id).await?;
        entries.push(HistoryEntry {
            delivery,
            attempts_made,
        });
    }
    Ok(Json(HistoryPage {
        deliveries: entries,
        next_before,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_show_their_origin_only() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/secret",
                Some("https://hooks.slack.com"),
            ),
            (
                "http://127.0.0.1:8080/hook?token=x",
                Some("http://127.0.0.1:8080"),
            ),
            (
                "https://events.pagerduty.com/v2/enqueue",
                Some("https://events.pagerduty.com"),
            ),
            ("not a url", None),
        ];
        for (url, want) in cases {
            assert_eq!(origin(url).as_deref(), want, "{url}");
        }
    }
}
