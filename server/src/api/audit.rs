//! `GET /api/v1/audit-log`: every admin change to incidents and
//! maintenance, every sign-in and change to users and tokens, newest
//! first, with the acting user's or token's name; filters by actor,
//! action and time, paged by id. The store
//! writes each entry in the transaction of the change it records.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Viewer;
use super::error::{ApiError, ErrorBody};
use super::extract::list_limit;
use super::AppState;
use crate::store::{AuditFilter, AuditRecord};

/// Most audit-log entries one request returns.
pub const MAX_AUDIT: u32 = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's or token's entries.
    pub actor: Option<String>,
    /// Only this action (`incident.created`), or every action with a
    /// prefix ending in `.` (`user.`).
    pub action: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id: the next page is `before` the last id.
    pub before: Option<i64>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The store's filter, every field checked.
    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let nonempty = |field: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
            Some("") => Err(ApiError::invalid_field(field, "must not be empty")),
            other => Ok(other.map(str::to_owned)),
        };
        if let (Some(from), Some(until)) = (self.from, self.until) {
            if until <= from {
                return Err(ApiError::invalid_field("until", "must be after from"));
            }
        }
        Ok(AuditFilter {
            actor: nonempty("actor", &self.actor)?,
            action: nonempty("action", &self.action)?,
            from: self.from,
            until: self.until,
            before: self.before,
            limit: list_limit(self.limit, 100, MAX_AUDIT)?,
        })
    }
}

/// Admin changes, sign-ins and changes to people, newest first, with the
/// acting user's or token's name.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "admin", security(("bearer" = ["viewer"])),
    params(AuditQuery),
    responses(
        (status = 200, body = Vec<AuditRecord>),
        (status = 400, body = ErrorBody, description = "A bad filter or `limit`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    Ok(Json(state.store.audit_log(&query.filter()?).await?))
}
