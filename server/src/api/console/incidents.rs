//! Incidents in the console: the list, a new incident (from a template,
//! with a preview of its Markdown), and one incident's page with its
//! timeline and the forms that post an update, resolve, take an automatic
//! incident over and delete. Every change goes through the JSON API's
//! functions (`crate::api::incidents`), so the rules and their error
//! messages are the API's.

use std::collections::HashMap;

use app::model::{CreatedBy, Impact, IncidentStatus, IncidentView, ServiceStatus};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::view::{
    csrf, field_error, form_error, invalid, markdown, page_in, quiet_box, time, Nav,
    SERVICE_STATUSES,
};
use super::{field, CsrfForm, Signed};
use crate::api::error::ApiError;
use crate::api::extract::path_id;
use crate::api::incidents::{self as api, AffectedInput, CreateIncident, NewUpdate, PatchIncident};
use crate::api::AppState;
use crate::config::console::IncidentTemplate;
use crate::domain::people::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/incidents", get(list).post(create))
        .route("/admin/incidents/new", get(new_form))
        .route("/admin/incidents/{id}", get(show))
        .route("/admin/incidents/{id}/updates", post(add_update))
        .route("/admin/incidents/{id}/takeover", post(take_over))
        .route(
            "/admin/incidents/{id}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/admin/preview", post(preview))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// `unresolved` (default), `resolved` or `all`.
    status: Option<String>,
    /// `auto` or `admin`: who opened it.
    by: Option<String>,
    /// Words the title contains (any case).
    q: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> Response {
    let filter = query.status.as_deref().unwrap_or("unresolved");
    let resolved = match filter {
        "resolved" => Some(true),
        "all" => None,
        _ => Some(false),
    };
    let by = query.by.as_deref().unwrap_or("");
    let words = query.q.as_deref().unwrap_or("").trim().to_lowercase();
    let incidents: Vec<IncidentView> = match state.store.incidents(resolved, 100).await {
        Ok(list) => list
            .into_iter()
            .filter(|i| match by {
                "auto" => i.created_by == CreatedBy::Auto,
                "admin" => i.created_by == CreatedBy::Admin,
                _ => true,
            })
            .filter(|i| words.is_empty() || i.title.to_lowercase().contains(&words))
            .collect(),
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    let body = html! {
        h1 { "Incidents" }
        @if signed.actor.role.allows(Role::Editor) {
            p.actions { a.button href="/admin/incidents/new" { "New incident" } }
        }
        form.filters method="get" action="/admin/incidents" {
            label for="status-filter" { "Show" }
            select id="status-filter" name="status" {
                @for (value, label) in [("unresolved", "Open"), ("resolved", "Resolved"), ("all", "All")] {
                    option value=(value) selected[filter == value] { (label) }
                }
            }
            label for="by-filter" { "Opened by" }
            select id="by-filter" name="by" {
                @for (value, label) in [("", "Anyone"), ("auto", "Upbeat"), ("admin", "A person")] {
                    option value=(value) selected[by == value] { (label) }
                }
            }
            label for="q" { "Title contains" }
            input id="q" name="q" type="text" value=(query.q.as_deref().unwrap_or(""));
            button type="submit" { "Filter" }
        }
        @if incidents.is_empty() {
            p.muted { "No incidents match." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Title" } th scope="col" { "Status" } th scope="col" { "Impact" } th scope="col" { "Started" } th scope="col" { "By" } } }
                    tbody {
                        @for i in &incidents {
                            tr {
                                th scope="row" { a href={ "/admin/incidents/" (i.id) } { (i.title) } }
                                td { (i.status.label()) }
                                td { (i.impact.as_str()) }
                                td { (time(i.started_at)) }
                                td { @match i.created_by { CreatedBy::Auto => "automatic", CreatedBy::Admin => "a person" } }
                            }
                        }
                    }
                }
            }
        }
    };
    page_in(&state, "Incidents", &signed, Nav::Incidents, body).into_response()
}

/// What the new-incident form holds, from a template, a failed post or
/// nothing.
#[derive(Debug, Default)]
struct Draft {
    title: String,
    body: String,
    status: Option<IncidentStatus>,
    impact: Option<Impact>,
    services: HashMap<String, ServiceStatus>,
    /// The status the template suggests for affected services (marked in
    /// each service's menu).
    service_status: Option<ServiceStatus>,
    auto_resolve: bool,
    /// Posted with "Do not notify subscribers".
    quiet: bool,
}

impl Draft {
    fn from_template(t: &IncidentTemplate) -> Self {
        Self {
            title: t.title.clone(),
            body: t.body.clone(),
            status: Some(t.status),
            impact: Some(t.impact),
            service_status: Some(t.service_status),
            ..Self::default()
        }
    }

    /// A posted form; unknown values are left for the API's checks.
    fn from_form(fields: &[(String, String)]) -> (Self, Result<Vec<AffectedInput>, ApiError>) {
        let mut draft = Self::default();
        let mut services = Vec::new();
        let mut bad = None;
        for (key, value) in fields {
            match key.as_str() {
                "title" => draft.title = value.clone(),
                "body" => draft.body = value.clone(),
                "status" => draft.status = parse_enum(value),
                "impact" => draft.impact = parse_enum(value),
                "auto_resolve" => draft.auto_resolve = value == "on" || value == "true",
                "quiet" => draft.quiet = value == "on" || value == "true",
                key => {
                    if let Some(slug) = key.strip_prefix("service.") {
                        if value.is_empty() {
                            continue;
                        }
                        match parse_enum::<ServiceStatus>(value) {
                            Some(status) => {
                                draft.services.insert(slug.to_owned(), status);
                                services.push(AffectedInput {
                                    slug: slug.to_owned(),
                                    status,
                                });
                            }
                            None => {
                                bad = Some(ApiError::unprocessable(
                                    "services",
                                    format!("unknown status \"{value}\""),
                                ));
                            }
                        }
                    }
                }
            }
        }
        (draft, bad.map_or(Ok(services), Err))
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

fn new_page(
    state: &AppState,
    signed: &Signed,
    draft: &Draft,
    error: Option<&ApiError>,
    preview: bool,
) -> Markup {
    let snapshot = state.snapshot.borrow().clone();
    let templates = &state.console.templates;
    let fields = [
        "title",
        "body",
        "status",
        "impact",
        "services",
        "started_at",
    ];
    let body = html! {
        h1 { "New incident" }
        @if !templates.is_empty() {
            nav.templates aria-label="Templates" {
                span { "Start from a template: " }
                @for t in templates {
                    a href={ "/admin/incidents/new?template=" (urlencode(&t.name)) } { (t.name) }
                }
            }
        }
        form.card method="post" action="/admin/incidents" novalidate {
            (csrf(signed))
            (form_error(error, &fields))
            label for="title" { "Title" }
            input id="title" name="title" type="text" required maxlength="200" value=(draft.title)
                aria-invalid=[invalid(error, "title").map(|_| "true")] aria-describedby=[invalid(error, "title")];
            (field_error(error, "title"))
            div.row {
                div {
                    label for="status" { "Status" }
                    select id="status" name="status" {
                        @for s in IncidentStatus::ALL.into_iter().filter(|s| *s != IncidentStatus::Resolved) {
                            option value=(s.as_str()) selected[draft.status == Some(s)] { (s.label()) }
                        }
                    }
                }
                div {
                    label for="impact" { "Impact" }
                    select id="impact" name="impact" aria-describedby="impact-hint" {
                        option value="" selected[draft.impact.is_none()] { "From the services" }
                        @for i in Impact::ALL {
                            option value=(i.as_str()) selected[draft.impact == Some(i)] { (i.as_str()) }
                        }
                    }
                    p.hint id="impact-hint" { "Left to the services, it is the worst status they are put in." }
                }
            }
            fieldset aria-describedby=[invalid(error, "services")] {
                legend { "Affected services and the status each is put in" }
                (field_error(error, "services"))
                @for s in &snapshot.services {
                    @let chosen = draft.services.get(&s.slug).copied();
                    div.service-choice {
                        label for={ "service-" (s.slug) } { (s.name) }
                        select id={ "service-" (s.slug) } name={ "service." (s.slug) } {
                            option value="" selected[chosen.is_none()] { "Not affected" }
                            @for status in SERVICE_STATUSES {
                                option value=(status.as_str()) selected[chosen == Some(status)] {
                                    (status.label())
                                    @if draft.service_status == Some(status) { " (the template's)" }
                                }
                            }
                        }
                    }
                }
            }
            label for="body" { "Message (Markdown)" }
            textarea id="body" name="body" rows="6" required data-preview="preview"
                aria-invalid=[invalid(error, "body").map(|_| "true")] aria-describedby=[invalid(error, "body")] { (draft.body) }
            (field_error(error, "body"))
            label.check {
                input type="checkbox" name="auto_resolve" checked[draft.auto_resolve];
                " Resolve by itself once every affected service is operational again"
            }
            (quiet_box(draft.quiet))
            section.preview id="preview" aria-live="polite" aria-label="Preview" {
                @if preview || !draft.body.is_empty() {
                    h2 { "Preview" }
                    div.update-body { (markdown(&draft.body)) }
                }
            }
            div.actions {
                button type="submit" name="intent" value="create" { "Open incident" }
                button.secondary type="submit" name="intent" value="preview" { "Preview" }
            }
        }
    };
    page_in(state, "New incident", signed, Nav::Incidents, body)
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    template: Option<String>,
}

async fn new_form(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<NewQuery>,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Editor) {
        return *refused;
    }
    let draft = query
        .template
        .and_then(|name| state.console.templates.iter().find(|t| t.name == name))
        .map(Draft::from_template)
        .unwrap_or_default();
    new_page(&state, &signed, &draft, None, false).into_response()
}

async fn create(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Editor) {
        return *refused;
    }
    if let Err(refused) = signed.check(&state, &headers, field(&fields, "csrf")) {
        return *refused;
    }
    let (draft, services) = Draft::from_form(&fields);
    if field(&fields, "intent") == "preview" {
        return new_page(&state, &signed, &draft, None, true).into_response();
    }
    let result = match services {
        Ok(services) => {
            let input = CreateIncident {
                title: draft.title.clone(),
                status: draft.status.unwrap_or(IncidentStatus::Investigating),
                impact: draft.impact,
                services,
                body: draft.body.clone(),
                started_at: None,
                auto_resolve: draft.auto_resolve,
                notify: !draft.quiet,
            };
            api::open(&state, &signed.actor, input).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(incident) => Redirect::to(&format!("/admin/incidents/{}", incident.id)).into_response(),
        Err(err) if err.status.is_client_error() => (
            err.status,
            new_page(&state, &signed, &draft, Some(&err), false),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn load(state: &AppState, raw: &str) -> Result<IncidentView, Response> {
    let id = path_id(raw, "incident").map_err(IntoResponse::into_response)?;
    api::load(state, id)
        .await
        .map_err(IntoResponse::into_response)
}

fn detail_page(
    state: &AppState,
    signed: &Signed,
    incident: &IncidentView,
    error: Option<&ApiError>,
    body_text: &str,
) -> Markup {
    let editor = signed.actor.role.allows(Role::Editor);
    let open = incident.status != IncidentStatus::Resolved;
    let id = incident.id;
    let body = html! {
        p.crumbs { a href="/admin/incidents" { "Incidents" } }
        h1 { (incident.title) }
        dl.facts {
            dt { "Status" } dd { (incident.status.label()) }
            dt { "Impact" } dd { (incident.impact.as_str()) }
            dt { "Started" } dd { (time(incident.started_at)) }
            @if let Some(at) = incident.resolved_at { dt { "Resolved" } dd { (time(at)) } }
            dt { "Opened by" } dd { @match incident.created_by { CreatedBy::Auto => "Upbeat, from the probes", CreatedBy::Admin => "a person" } }
            dt { "Resolves by itself" } dd { @if incident.auto_resolve { "yes" } @else { "no" } }
            dt { "Services" }
            dd {
                @if incident.services.is_empty() { "none" }
                @for (i, s) in incident.services.iter().enumerate() {
                    @if i > 0 { ", " }
                    (s.name) " (" (s.status.label()) ")"
                }
            }
        }
        @if editor && open {
            section aria-labelledby="post-update" {
                h2 id="post-update" { "Post an update" }
                form.card method="post" action={ "/admin/incidents/" (id) "/updates" } novalidate {
                    (csrf(signed))
                    (form_error(error, &["body", "status"]))
                    label for="update-status" { "Status" }
                    select id="update-status" name="status" {
                        @for s in IncidentStatus::ALL {
                            option value=(s.as_str()) selected[s == incident.status] { (s.label()) }
                        }
                    }
                    label for="body" { "Message (Markdown)" }
                    textarea id="body" name="body" rows="5" required data-preview="update-preview"
                        aria-invalid=[invalid(error, "body").map(|_| "true")] aria-describedby=[invalid(error, "body")] { (body_text) }
                    (field_error(error, "body"))
                    (quiet_box(false))
                    section.preview id="update-preview" aria-live="polite" aria-label="Preview" {}
                    div.actions { button type="submit" { "Post update" } }
                }
                form.inline method="post" action={ "/admin/incidents/" (id) "/updates" } {
                    (csrf(signed))
                    input type="hidden" name="status" value="resolved";
                    input type="hidden" name="body" value="This incident has been resolved.";
                    button type="submit" { "Resolve now" }
                }
                @if incident.auto_resolve && incident.created_by == CreatedBy::Auto {
                    form.inline method="post" action={ "/admin/incidents/" (id) "/takeover" } {
                        (csrf(signed))
                        button.secondary type="submit" aria-describedby="takeover-hint" { "Take over" }
                        span.hint id="takeover-hint" { " Upbeat stops resolving it by itself; you resolve it." }
                    }
                }
            }
        }
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline" }
            ol.timeline {
                @for u in &incident.updates {
                    li {
                        p.update-meta { strong { (u.status.label()) } " · " (time(u.created_at)) }
                        div.update-body { (maud::PreEscaped(&u.body_html)) }
                    }
                }
            }
        }
        @if editor {
            p { a.danger href={ "/admin/incidents/" (id) "/delete" } { "Delete this incident" } }
        }
    };
    page_in(state, &incident.title, signed, Nav::Incidents, body)
}

async fn show(State(state): State<AppState>, signed: Signed, Path(raw): Path<String>) -> Response {
    match load(&state, &raw).await {
        Ok(incident) => detail_page(&state, &signed, &incident, None, "").into_response(),
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    status: Option<String>,
    #[serde(default)]
    body: String,
    /// "Do not notify subscribers", when checked.
    quiet: Option<String>,
}

async fn add_update(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(input): Form<UpdateForm>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, &input.csrf) {
        return *refused;
    }
    let current = match load(&state, &raw).await {
        Ok(incident) => incident,
        Err(response) => return response,
    };
    let status = match input.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match parse_enum::<IncidentStatus>(raw) {
            Some(status) => Some(status),
            None => {
                let err = ApiError::unprocessable("status", format!("unknown status \"{raw}\""));
                return (
                    err.status,
                    detail_page(&state, &signed, &current, Some(&err), &input.body),
                )
                    .into_response();
            }
        },
    };
    let update = NewUpdate {
        status,
        body: input.body.clone(),
        notify: input.quiet.is_none(),
    };
    match api::post_update(&state, &signed.actor, current.id, update).await {
        Ok(incident) => Redirect::to(&format!("/admin/incidents/{}", incident.id)).into_response(),
        Err(err) if err.status.is_client_error() => (
            err.status,
            detail_page(&state, &signed, &current, Some(&err), &input.body),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn take_over(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(input): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, &input.csrf) {
        return *refused;
    }
    let current = match load(&state, &raw).await {
        Ok(incident) => incident,
        Err(response) => return response,
    };
    let patch = PatchIncident {
        auto_resolve: Some(false),
        body: Some(format!(
            "{} took this incident over; it will be resolved by hand.",
            signed.actor.name
        )),
        ..PatchIncident::default()
    };
    match api::change(&state, &signed.actor, current.id, patch).await {
        Ok(_) => Redirect::to(&format!("/admin/incidents/{}", current.id)).into_response(),
        Err(err) => (
            err.status,
            detail_page(&state, &signed, &current, Some(&err), ""),
        )
            .into_response(),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    signed: Signed,
    Path(raw): Path<String>,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Editor) {
        return *refused;
    }
    let incident = match load(&state, &raw).await {
        Ok(incident) => incident,
        Err(response) => return response,
    };
    let body = html! {
        h1 { "Delete “" (incident.title) "”?" }
        p { "The incident and its whole timeline leave the page, the feeds and the API. The audit log keeps a line saying you deleted it. This cannot be undone." }
        form.inline method="post" action={ "/admin/incidents/" (incident.id) "/delete" } {
            (csrf(&signed))
            button.danger type="submit" { "Delete for good" }
        }
        " "
        a href={ "/admin/incidents/" (incident.id) } { "Keep it" }
    };
    page_in(&state, "Delete incident", &signed, Nav::Incidents, body).into_response()
}

async fn delete(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(input): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, &input.csrf) {
        return *refused;
    }
    let id = match path_id(&raw, "incident") {
        Ok(id) => id,
        Err(err) => return err.into_response(),
    };
    match api::delete(&state, &signed.actor, id).await {
        Ok(()) => Redirect::to("/admin/incidents").into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct PreviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

/// The live preview the console's script asks for: the sanitiser's HTML
/// of a Markdown body, exactly what the page will show.
async fn preview(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(input): Form<PreviewForm>,
) -> Response {
    if let Err(refused) = signed.check(&state, &headers, &input.csrf) {
        return *refused;
    }
    if input.body.chars().count() > crate::api::extract::MAX_BODY_CHARS {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too long to preview").into_response();
    }
    let html = html! { h2 { "Preview" } div.update-body { (markdown(&input.body)) } };
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html.into_string(),
    )
        .into_response()
}
