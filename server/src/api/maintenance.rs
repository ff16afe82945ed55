//! The admin API for maintenance windows (`/api/v1/maintenances`), behind
//! a bearer token. Same conventions as [`super::incidents`]: unknown fields
//! rejected, errors naming the field, the acting token's name recorded, the
//! snapshot rebuilt before the answer.
//!
//! `status` is computed from the time: `scheduled` (upcoming), `in_progress`
//! or `completed`; for a recurring window it describes the current or next
//! occurrence.

use std::collections::HashMap;

use app::model::MaintenanceStatus;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Actor, Editor, Viewer};
use super::error::{ApiError, ErrorBody};
use super::extract::{
    check_text, list_limit, path_id, Body, MAX_BODY_CHARS, MAX_LIST, MAX_TITLE_CHARS,
};
use super::AppState;
use crate::domain::maintenance::{
    validate, MaintenancePatch, MaintenanceRecord, MaintenanceUpdate, NewMaintenance, Recurrence,
    UpdateStatus,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, patch, remove))
        .routes(routes!(add_update))
}

/// A maintenance window as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceOut {
    id: i64,
    title: String,
    description: Option<String>,
    /// The first occurrence.
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    recurrence: Option<String>,
    status: MaintenanceStatus,
    /// The occurrence in progress, else the next one; `null` when over.
    current: Option<Occurrence>,
    services: Vec<String>,
    created_by: String,
    updates: Vec<MaintenanceUpdate>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Occurrence {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

fn present(
    record: MaintenanceRecord,
    slugs: &HashMap<i64, String>,
    now: DateTime<Utc>,
) -> MaintenanceOut {
    let w = &record.window;
    MaintenanceOut {
        id: w.id,
        title: w.title.clone(),
        description: w.description.clone(),
        starts_at: w.starts_at,
        ends_at: w.ends_at,
        recurrence: w.recurrence.map(|r| r.to_string()),
        status: w.status(now),
        current: w
            .current_or_next(now)
            .map(|(starts_at, ends_at)| Occurrence { starts_at, ends_at }),
        services: w
            .services
            .iter()
            .filter_map(|id| slugs.get(id).cloned())
            .collect(),
        created_by: record.created_by,
        updates: record.updates,
    }
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    /// At most 200 characters.
    pub title: String,
    /// Markdown, at most 20,000 characters.
    pub description: Option<String>,
    /// Start of the first occurrence.
    pub starts_at: DateTime<Utc>,
    /// End of the first occurrence; after `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// An RFC 5545 RRULE subset: `FREQ=DAILY|WEEKLY`, `INTERVAL`, `COUNT`,
    /// `UNTIL` (e.g. `FREQ=WEEKLY;COUNT=4`).
    pub recurrence: Option<String>,
    /// Slugs of the services under maintenance.
    pub services: Vec<String>,
    /// `false`: subscribers are not told it was scheduled (they still
    /// hear when it starts and ends). Default `true`.
    #[serde(default = "yes")]
    pub notify: bool,
}

const fn yes() -> bool {
    true
}

/// Fields left out are left alone; `null` clears `description` or
/// `recurrence`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMaintenance {
    title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    recurrence: Option<Option<String>>,
    services: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMaintenanceUpdate)]
pub struct NewUpdate {
    /// Default: what the time says (`scheduled`, `in_progress`, `completed`).
    pub status: Option<UpdateStatus>,
    /// Markdown, at most 20,000 characters.
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `scheduled`, `in_progress`, `completed` or `all` (default).
    status: Option<String>,
    /// 1 to 100, default 50.
    limit: Option<u32>,
}

pub fn parse_rule(rule: &str) -> Result<Recurrence, ApiError> {
    rule.parse::<Recurrence>()
        .map_err(|e| ApiError::unprocessable("recurrence", e))
}

async fn slugs(state: &AppState) -> Result<HashMap<i64, String>, ApiError> {
    Ok(state
        .store
        .services()
        .await?
        .into_iter()
        .map(|s| (s.id, s.slug))
        .collect())
}

/// Slugs to ids; every slug must name an active service.
async fn service_ids(state: &AppState, services: &[String]) -> Result<Vec<i64>, ApiError> {
    let known: HashMap<String, i64> = state
        .store
        .services()
        .await?
        .into_iter()
        .filter(|s| !s.archived)
        .map(|s| (s.slug, s.id))
        .collect();
    if services.is_empty() {
        return Err(ApiError::unprocessable(
            "services",
            "must name at least one service",
        ));
    }
    let mut ids = Vec::with_capacity(services.len());
    for (i, slug) in services.iter().enumerate() {
        let id = known.get(slug).ok_or_else(|| {
            ApiError::unprocessable(format!("services[{i}]"), format!("no service \"{slug}\""))
        })?;
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    Ok(ids)
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    path_id(raw, "maintenance")
}

pub async fn load(state: &AppState, id: i64) -> Result<MaintenanceRecord, ApiError> {
    state
        .store
        .maintenance(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such maintenance"))
}

async fn answer(state: &AppState, id: i64, status: StatusCode) -> Result<Response, ApiError> {
    let record = load(state, id).await?;
    let out = present(record, &slugs(state).await?, state.clock.now());
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/maintenances/{id}"))],
        Json(out),
    )
        .into_response())
}

/// Schedules a maintenance window.
#[utoipa::path(post, path = "/api/v1/maintenances", tag = "admin", security(("bearer" = ["editor"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first answer")),
    request_body = CreateMaintenance,
    responses(
        (status = 201, body = MaintenanceOut, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "Unreadable JSON or a bad `Idempotency-Key`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
        (status = 409, body = ErrorBody, description = "A request with this `Idempotency-Key` is still running"),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable, or the `Idempotency-Key` was used for another request"),
    ))]
async fn create(
    State(state): State<AppState>,
    admin: Editor,
    Body(input): Body<CreateMaintenance>,
) -> Result<Response, ApiError> {
    let id = schedule(&state, &admin, input).await?;
    answer(&state, id, StatusCode::CREATED).await
}

/// Schedules a window (the API and the console); returns its id.
pub async fn schedule(
    state: &AppState,
    actor: &Actor,
    input: CreateMaintenance,
) -> Result<i64, ApiError> {
    let title = check_text("title", &input.title, MAX_TITLE_CHARS)?;
    let description = input
        .description
        .as_deref()
        .map(|d| check_text("description", d, MAX_BODY_CHARS))
        .transpose()?;
    let rule = input.recurrence.as_deref().map(parse_rule).transpose()?;
    validate(input.starts_at, input.ends_at, rule.as_ref())
        .map_err(|(field, message)| ApiError::unprocessable(field, message))?;
    let ids = service_ids(state, &input.services).await?;
    let id = state
        .store
        .create_maintenance(&NewMaintenance {
            title,
            description,
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            recurrence: rule.map(|r| r.to_string()),
            service_ids: ids,
            created_by: actor.name.clone(),
            at: state.clock.now(),
            quiet: !input.notify,
        })
        .await?;
    tracing::info!(maintenance = id, by = %actor.name, "maintenance scheduled");
    state.changes.announce().await;
    Ok(id)
}

/// Maintenance windows, latest start first.
#[utoipa::path(get, path = "/api/v1/maintenances", tag = "admin", security(("bearer" = ["viewer"])),
    params(ListQuery),
    responses(
        (status = 200, body = Vec<MaintenanceOut>),
        (status = 400, body = ErrorBody, description = "A bad `status` or `limit`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn list(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<MaintenanceOut>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let wanted = match query.status.as_deref() {
        None | Some("all") => None,
        Some("scheduled") => Some(MaintenanceStatus::Scheduled),
        Some("in_progress") => Some(MaintenanceStatus::InProgress),
        Some("completed") => Some(MaintenanceStatus::Completed),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "must be scheduled, in_progress, completed or all",
            ))
        }
    };
    let limit = list_limit(query.limit, 50, MAX_LIST)?;
    let now = state.clock.now();
    let slugs = slugs(&state).await?;
    let records = state.store.maintenances(limit).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| present(r, &slugs, now))
            .filter(|m| wanted.is_none_or(|w| m.status == w))
            .collect(),
    ))
}

/// One maintenance window with its timeline.
#[utoipa::path(get, path = "/api/v1/maintenances/{id}", tag = "admin", security(("bearer" = ["viewer"])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = MaintenanceOut),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn show(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    answer(&state, parse_id(&id)?, StatusCode::OK).await
}

/// Changes a maintenance window.
#[utoipa::path(patch, path = "/api/v1/maintenances/{id}", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path)),
    request_body = PatchMaintenance,
    responses(
        (status = 200, body = MaintenanceOut),
        (status = 400, body = ErrorBody, description = "Unreadable JSON"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn patch(
    State(state): State<AppState>,
    admin: Editor,
    Path(id): Path<String>,
    Body(input): Body<PatchMaintenance>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let current = load(&state, id).await?.window;
    let title = input
        .title
        .as_deref()
        .map(|t| check_text("title", t, MAX_TITLE_CHARS))
        .transpose()?;
    let description = match input.description {
        Some(Some(d)) => Some(Some(check_text("description", &d, MAX_BODY_CHARS)?)),
        other => other,
    };
    let recurrence = match input.recurrence {
        Some(Some(rule)) => Some(Some(parse_rule(&rule)?)),
        Some(None) => Some(None),
        None => None,
    };
    let starts_at = input.starts_at.unwrap_or(current.starts_at);
    let ends_at = input.ends_at.unwrap_or(current.ends_at);
    let rule = recurrence.unwrap_or(current.recurrence);
    validate(starts_at, ends_at, rule.as_ref())
        .map_err(|(field, message)| ApiError::unprocessable(field, message))?;
    let service_ids = match &input.services {
        Some(list) => Some(service_ids(&state, list).await?),
        None => None,
    };
    let patch = MaintenancePatch {
        title,
        description,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        recurrence: recurrence.map(|r| r.map(|r| r.to_string())),
        service_ids,
        update: None,
        author: admin.name.clone(),
        at: state.clock.now(),
    };
    store_patch(&state, &admin, id, &patch).await?;
    answer(&state, id, StatusCode::OK).await
}

/// Adds a timeline update.
#[utoipa::path(post, path = "/api/v1/maintenances/{id}/updates", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first answer")),
    request_body = NewUpdate,
    responses(
        (status = 201, body = MaintenanceOut),
        (status = 400, body = ErrorBody, description = "Unreadable JSON or a bad `Idempotency-Key`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A request with this `Idempotency-Key` is still running"),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable, or the `Idempotency-Key` was used for another request"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn add_update(
    State(state): State<AppState>,
    admin: Editor,
    Path(id): Path<String>,
    Body(input): Body<NewUpdate>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    post_update(&state, &admin, id, input).await?;
    answer(&state, id, StatusCode::CREATED).await
}

/// Adds a timeline update (the API and the console).
pub async fn post_update(
    state: &AppState,
    actor: &Actor,
    id: i64,
    input: NewUpdate,
) -> Result<(), ApiError> {
    let window = load(state, id).await?.window;
    let body = check_text("body", &input.body, MAX_BODY_CHARS)?;
    let now = state.clock.now();
    let status = input
        .status
        .unwrap_or_else(|| UpdateStatus::from(window.status(now)));
    let patch = MaintenancePatch {
        update: Some((status, body)),
        author: actor.name.clone(),
        at: now,
        ..MaintenancePatch::default()
    };
    store_patch(state, actor, id, &patch).await
}

async fn store_patch(
    state: &AppState,
    admin: &Actor,
    id: i64,
    patch: &MaintenancePatch,
) -> Result<(), ApiError> {
    let found = state.store.update_maintenance(id, patch).await?;
    if !found {
        return Err(ApiError::not_found("no such maintenance"));
    }
    tracing::info!(maintenance = id, by = %admin.name, "maintenance updated");
    state.changes.announce().await;
    Ok(())
}

/// Deletes a maintenance window with its timeline.
#[utoipa::path(delete, path = "/api/v1/maintenances/{id}", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn remove(
    State(state): State<AppState>,
    admin: Editor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete(&state, &admin, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes (cancels) a window with its timeline (the API and the console).
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let deleted = state
        .store
        .delete_maintenance(id, &actor.name, state.clock.now())
        .await?;
    if !deleted {
        return Err(ApiError::not_found("no such maintenance"));
    }
    tracing::info!(maintenance = id, by = %actor.name, "maintenance deleted");
    state.changes.announce().await;
    Ok(())
}
