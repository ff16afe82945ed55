//! `GET|POST /api/v1/push/{token}`: heartbeats for push checks, with
//! optional query parameters `status` (`up`, `degraded`, `down`; default
//! `up`), `msg` (at most 200 characters) and `latency_ms`.

use app::model::SampleOutcome;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::SubsecRound;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::store::Heartbeat;
use crate::token::hash_token;

const MAX_MSG_CHARS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(push))
}

/// What a heartbeat was recorded for.
#[derive(Serialize, ToSchema)]
pub struct PushAccepted {
    /// Always `true`.
    ok: bool,
    /// The service's slug.
    service: String,
}

/// The query parameters of a heartbeat, for the API description.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "only read by the OpenAPI description")]
struct PushQuery {
    /// `up` (default), `degraded` or `down`.
    status: Option<String>,
    /// A short message, at most 200 characters.
    msg: Option<String>,
    /// What the sender measured, in milliseconds.
    latency_ms: Option<u32>,
}

/// Query parameters, read leniently from the raw query string so that every
/// bad value gets our own error body. Unknown parameters are ignored, as
/// heartbeat senders (curl in cron jobs) often add their own.
#[derive(Debug, Default)]
struct PushParams {
    status: Option<String>,
    msg: Option<String>,
    latency_ms: Option<String>,
}

impl PushParams {
    fn parse(query: Option<&str>) -> Self {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match key.as_ref() {
                "status" => &mut params.status,
                "msg" => &mut params.msg,
                "latency_ms" => &mut params.latency_ms,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        params
    }
}

/// Records a heartbeat of the push check whose token is `token`.
#[utoipa::path(method(get, post), path = "/api/v1/push/{token}", tag = "push",
    params(("token" = String, Path, description = "The check's push token"), PushQuery),
    responses(
        (status = 200, body = PushAccepted),
        (status = 400, body = ErrorBody, description = "A bad `status`, `msg` or `latency_ms`"),
        (status = 404, body = ErrorBody, description = "Unknown push token"),
    ))]
async fn push(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<PushAccepted>, ApiError> {
    let params = PushParams::parse(query.as_deref());
    let outcome = match params.status.as_deref() {
        None | Some("") => SampleOutcome::Up,
        Some(raw) => SampleOutcome::parse(raw)
            .ok_or_else(|| ApiError::invalid_field("status", "must be up, degraded or down"))?,
    };
    let latency_ms = params
        .latency_ms
        .as_deref()
        .filter(|raw| !raw.is_empty())
        .map(|raw| raw.parse::<u32>())
        .transpose()
        .map_err(|_| {
            ApiError::invalid_field("latency_ms", "must be a whole number of milliseconds")
        })?;
    let msg = params.msg.filter(|m| !m.trim().is_empty());
    if msg
        .as_ref()
        .is_some_and(|m| m.chars().count() > MAX_MSG_CHARS)
    {
        return Err(ApiError::invalid_field(
            "msg",
            format!("must be at most {MAX_MSG_CHARS} characters"),
        ));
    }
    let heartbeat = Heartbeat {
        at: state.clock.now().trunc_subsecs(3),
        outcome,
        msg,
        latency_ms,
    };
    match state
        .store
        .record_heartbeat(&hash_token(&token), &heartbeat)
        .await
    {
        Ok(Some(slug)) => Ok(Json(PushAccepted {
            ok: true,
            service: slug,
        })),
        Ok(None) => Err(ApiError::not_found("unknown push token")),
        Err(err) => Err(ApiError::internal(&err)),
    }
}
