//! `GET /api/v1/audit-log`: every admin change to incidents and
//! maintenance, newest first, with the acting token's name. The store
//! writes each entry in the transaction of the change it records.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::extract::list_limit;
use super::AppState;
use crate::store::AuditRecord;

/// Most audit-log entries one request returns.
pub const MAX_AUDIT: u32 = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1 to 500, default 100.
    limit: Option<u32>,
}

/// Admin changes to incidents and maintenance, newest first, with the
/// acting token's name.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "admin", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = Vec<AuditRecord>),
        (status = 400, body = ErrorBody, description = "A bad `limit`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let limit = list_limit(query.limit, 100, MAX_AUDIT)?;
    Ok(Json(state.store.audit_log(limit).await?))
}
