//! The admin API for incidents (`/api/v1/incidents`), behind a bearer
//! token ([`super::auth::Admin`]).
//!
//! Bodies are JSON with unknown fields rejected ([`super::extract::Body`]);
//! every problem is answered with the one error body naming the field
//! (`400` for JSON that cannot be read, `422` for well-formed JSON with
//! unacceptable content). Every change is stamped by the state's clock,
//! records the acting token's name and wakes the snapshot, so the page and
//! the APIs show it on the next request.
//!
//! Lifecycle: an incident moves freely among `investigating`, `identified`
//! and `monitoring`, and to `resolved` (which sets `resolved_at` and gives
//! its services back their probed status). A resolved incident is closed:
//! moving it back answers `409`; open a new one instead.

use std::collections::HashMap;

use app::model::{Impact, IncidentStatus, IncidentView, ServiceStatus};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Actor, Editor, Viewer};
use super::error::{ApiError, ErrorBody};
use super::extract::{
    check_text, list_limit, path_id, Body, MAX_BODY_CHARS, MAX_LIST, MAX_TITLE_CHARS,
};
use super::AppState;
use crate::domain::incident::{IncidentPatch, NewIncident};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(show, patch, remove))
        .routes(routes!(add_update))
}

/// A service an incident affects, and the status it gives it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffectedInput {
    pub slug: String,
    pub status: ServiceStatus,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    /// At most 200 characters.
    pub title: String,
    /// Default `investigating`.
    #[serde(default = "investigating")]
    pub status: IncidentStatus,
    /// Default: what the worst affected status implies.
    pub impact: Option<Impact>,
    #[serde(default)]
    pub services: Vec<AffectedInput>,
    /// The first timeline update (Markdown, at most 20,000 characters).
    pub body: String,
    /// Default: now. Must not be in the future.
    pub started_at: Option<DateTime<Utc>>,
    /// Admin incidents do not resolve themselves unless asked to.
    #[serde(default)]
    pub auto_resolve: bool,
    /// `false`: subscribers are not told of this change (alert routes
    /// still are), like Statuspage's `deliver_notifications`. Default `true`.
    #[serde(default = "yes")]
    pub notify: bool,
}

const fn yes() -> bool {
    true
}

const fn investigating() -> IncidentStatus {
    IncidentStatus::Investigating
}

/// Fields left out are left alone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIncident {
    pub title: Option<String>,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    /// Replaces the affected services.
    pub services: Option<Vec<AffectedInput>>,
    /// Resolve by itself once every affected service is operational again.
    pub auto_resolve: Option<bool>,
    /// An optional timeline update to add with the change.
    pub body: Option<String>,
    /// `false`: subscribers are not told of this change (alert routes
    /// still are). Default `true`.
    pub notify: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpdate {
    /// Default: the incident's current status.
    pub status: Option<IncidentStatus>,
    /// Markdown, at most 20,000 characters.
    pub body: String,
    /// `false`: subscribers are not told of this change (alert routes
    /// still are), like Statuspage's `deliver_notifications`. Default `true`.
    #[serde(default = "yes")]
    pub notify: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `unresolved`, `resolved` or `all` (default).
    status: Option<String>,
    /// 1 to 100, default 50.
    limit: Option<u32>,
}

/// Slugs to service ids, each checked.
async fn resolve_services(
    state: &AppState,
    services: &[AffectedInput],
) -> Result<Vec<(i64, ServiceStatus)>, ApiError> {
    let known: HashMap<String, i64> = state
        .store
        .services()
        .await?
        .into_iter()
        .filter(|s| !s.archived)
        .map(|s| (s.slug, s.id))
        .collect();
    let mut resolved: Vec<(i64, ServiceStatus)> = Vec::with_capacity(services.len());
    for (i, service) in services.iter().enumerate() {
        let Some(id) = known.get(&service.slug) else {
            return Err(ApiError::unprocessable(
                format!("services[{i}].slug"),
                format!("no service \"{}\"", service.slug),
            ));
        };
        if resolved.iter().any(|(known, _)| known == id) {
            return Err(ApiError::unprocessable(
                format!("services[{i}].slug"),
                format!("\"{}\" is listed twice", service.slug),
            ));
        }
        resolved.push((*id, service.status));
    }
    Ok(resolved)
}

fn worst_impact(services: &[(i64, ServiceStatus)]) -> Impact {
    services
        .iter()
        .map(|(_, s)| Impact::of_status(*s))
        .max()
        .unwrap_or(Impact::None)
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    path_id(raw, "incident")
}

pub async fn load(state: &AppState, id: i64) -> Result<IncidentView, ApiError> {
    state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such incident"))
}

/// Opens an incident.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "admin", security(("bearer" = ["editor"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first answer")),
    request_body = CreateIncident,
    responses(
        (status = 201, body = IncidentView, headers(("Location" = String))),
        (status = 400, body = ErrorBody, description = "Unreadable JSON or a bad `Idempotency-Key`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 409, body = ErrorBody, description = "A request with this `Idempotency-Key` is still running"),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable, or the `Idempotency-Key` was used for another request"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn create(
    State(state): State<AppState>,
    admin: Editor,
    Body(input): Body<CreateIncident>,
) -> Result<Response, ApiError> {
    let incident = open(&state, &admin, input).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/incidents/{}", incident.id),
        )],
        Json(incident),
    )
        .into_response())
}

/// Opens an incident: every rule of a new incident, for the API and the
/// console alike.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    input: CreateIncident,
) -> Result<IncidentView, ApiError> {
    let title = check_text("title", &input.title, MAX_TITLE_CHARS)?;
    let body = check_text("body", &input.body, MAX_BODY_CHARS)?;
    let services = resolve_services(state, &input.services).await?;
    let now = state.clock.now();
    if input.started_at.is_some_and(|at| at > now) {
        return Err(ApiError::unprocessable(
            "started_at",
            "must not be in the future",
        ));
    }
    let new = NewIncident {
        title,
        status: input.status,
        impact: input.impact.unwrap_or_else(|| worst_impact(&services)),
        auto_resolve: input.auto_resolve,
        started_at: input.started_at.unwrap_or(now),
        services,
        body,
        author: actor.name.clone(),
        at: now,
        quiet: !input.notify,
    };
    let id = state.store.create_incident(&new).await?;
    tracing::info!(incident = id, by = %actor.name, "incident created");
    state.changes.announce().await;
    load(state, id).await
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "admin", security(("bearer" = ["viewer"])),
    params(ListQuery),
    responses(
        (status = 200, body = Vec<IncidentView>),
        (status = 400, body = ErrorBody, description = "A bad `status` or `limit`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn list(
    State(state): State<AppState>,
    _viewer: Viewer,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    let resolved = match query.status.as_deref() {
        None | Some("all") => None,
        Some("unresolved") => Some(false),
        Some("resolved") => Some(true),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "status",
                "must be unresolved, resolved or all",
            ))
        }
    };
    let limit = list_limit(query.limit, 50, MAX_LIST)?;
    Ok(Json(state.store.incidents(resolved, limit).await?))
}

/// One incident with its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "admin", security(("bearer" = ["viewer"])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = IncidentView),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below viewer"),
        (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn show(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    load(&state, parse_id(&id)?).await.map(Json)
}

/// Changes an incident. A `body`, or a change of status, adds a timeline
/// update; `resolved` sets `resolved_at` and gives the services back their
/// probed status.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path)),
    request_body = PatchIncident,
    responses(
        (status = 200, body = IncidentView),
        (status = 400, body = ErrorBody, description = "Unreadable JSON"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The incident is resolved and the change would reopen it"),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn patch(
    State(state): State<AppState>,
    admin: Editor,
    Path(id): Path<String>,
    Body(input): Body<PatchIncident>,
) -> Result<Json<IncidentView>, ApiError> {
    change(&state, &admin, parse_id(&id)?, input)
        .await
        .map(Json)
}

/// Changes an incident (the API's `PATCH` and the console's forms).
pub async fn change(
    state: &AppState,
    actor: &Actor,
    id: i64,
    input: PatchIncident,
) -> Result<IncidentView, ApiError> {
    let current = load(state, id).await?;
    let title = input
        .title
        .as_deref()
        .map(|t| check_text("title", t, MAX_TITLE_CHARS))
        .transpose()?;
    let body = input
        .body
        .as_deref()
        .map(|b| check_text("body", b, MAX_BODY_CHARS))
        .transpose()?;
    let services = match &input.services {
        Some(list) => Some(resolve_services(state, list).await?),
        None => None,
    };
    apply(
        state,
        actor,
        &current,
        IncidentPatch {
            title,
            status: input.status,
            impact: input.impact,
            services,
            auto_resolve: input.auto_resolve,
            body,
            author: actor.name.clone(),
            at: state.clock.now(),
            quiet: input.notify == Some(false),
        },
    )
    .await
}

/// Adds a timeline update, optionally moving the status.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/updates", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first answer")),
    request_body = NewUpdate,
    responses(
        (status = 201, body = IncidentView),
        (status = 400, body = ErrorBody, description = "Unreadable JSON or a bad `Idempotency-Key`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The incident is resolved and the update would reopen it, or a request with this `Idempotency-Key` is still running"),
        (status = 422, body = ErrorBody, description = "A field's value is unacceptable, or the `Idempotency-Key` was used for another request"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn add_update(
    State(state): State<AppState>,
    admin: Editor,
    Path(id): Path<String>,
    Body(input): Body<NewUpdate>,
) -> Result<Response, ApiError> {
    let incident = post_update(&state, &admin, parse_id(&id)?, input).await?;
    Ok((StatusCode::CREATED, Json(incident)).into_response())
}

/// Adds a timeline update (the API and the console).
pub async fn post_update(
    state: &AppState,
    actor: &Actor,
    id: i64,
    input: NewUpdate,
) -> Result<IncidentView, ApiError> {
    let current = load(state, id).await?;
    let body = check_text("body", &input.body, MAX_BODY_CHARS)?;
    let patch = IncidentPatch {
        status: input.status,
        body: Some(body),
        author: actor.name.clone(),
        at: state.clock.now(),
        quiet: !input.notify,
        ..IncidentPatch::default()
    };
    apply(state, actor, &current, patch).await
}

async fn apply(
    state: &AppState,
    admin: &Actor,
    current: &IncidentView,
    patch: IncidentPatch,
) -> Result<IncidentView, ApiError> {
    if current.status == IncidentStatus::Resolved
        && patch.status.is_some_and(|s| s != IncidentStatus::Resolved)
    {
        return Err(ApiError::conflict(
            "the incident is resolved; open a new incident instead",
        ));
    }
    let found = state.store.update_incident(current.id, &patch).await?;
    if !found {
        return Err(ApiError::not_found("no such incident"));
    }
    tracing::info!(incident = current.id, by = %admin.name, "incident updated");
    state.changes.announce().await;
    load(state, current.id).await
}

/// Deletes an incident with its timeline.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}", tag = "admin", security(("bearer" = ["editor"])),
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below editor"),
        (status = 404, body = ErrorBody),
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

/// Deletes an incident with its timeline (the API and the console).
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let deleted = state
        .store
        .delete_incident(id, &actor.name, state.clock.now())
        .await?;
    if !deleted {
        return Err(ApiError::not_found("no such incident"));
    }
    tracing::info!(incident = id, by = %actor.name, "incident deleted");
    state.changes.announce().await;
    Ok(())
}
