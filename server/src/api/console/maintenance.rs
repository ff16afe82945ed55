//! Maintenance in the console: the list, scheduling a one-off or
//! recurring window with the server's preview of its next five
//! occurrences, a window's page with its timeline and update form, and
//! cancelling. Changes go through `crate::api::maintenance`'s functions.
//!
//! Times in the form are UTC (`datetime-local` fields say so in their
//! labels): a console used from several time zones during an outage
//! should not guess each browser's.

use app::model::MaintenanceStatus;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup};

use super::view::{
    csrf, field_error, form_error, invalid, markdown, page_in, quiet_box, time, Nav,
};
use super::{field, Signed};
use crate::api::error::ApiError;
use crate::api::extract::path_id;
use crate::api::maintenance::{self as api, parse_rule, CreateMaintenance, NewUpdate};
use crate::api::AppState;
use crate::domain::maintenance::{validate, MaintenanceRecord, UpdateStatus, Window};
use crate::domain::people::Role;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/maintenance", get(list).post(create))
        .route("/admin/maintenance/new", get(new_form))
        .route("/admin/maintenance/{id}", get(show).post(add_update))
        .route(
            "/admin/maintenance/{id}/cancel",
            get(confirm_cancel).post(cancel),
        )
}

fn status_label(status: MaintenanceStatus) -> &'static str {
    match status {
        MaintenanceStatus::Scheduled => "Scheduled",
        MaintenanceStatus::InProgress => "In progress",
        MaintenanceStatus::Completed => "Completed",
    }
}

async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    let windows = match state.store.maintenances(100).await {
        Ok(list) => list,
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    let now = state.clock.now();
    let body = html! {
        h1 { "Maintenance" }
        @if signed.actor.role.allows(Role::Editor) {
            p.actions { a.button href="/admin/maintenance/new" { "Schedule maintenance" } }
        }
        @if windows.is_empty() {
            p.muted { "No maintenance scheduled." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Title" } th scope="col" { "Status" } th scope="col" { "Current or next" } th scope="col" { "Repeats" } } }
                    tbody {
                        @for m in &windows {
                            @let w = &m.window;
                            tr {
                                th scope="row" { a href={ "/admin/maintenance/" (w.id) } { (w.title) } }
                                td { (status_label(w.status(now))) }
                                td { @if let Some((s, e)) = w.current_or_next(now) { (time(s)) " – " (time(e)) } @else { "over" } }
                                td { @if let Some(r) = w.recurrence { code { (r.to_string()) } } @else { "no" } }
                            }
                        }
                    }
                }
            }
        }
    };
    page_in(&state, "Maintenance", &signed, Nav::Maintenance, body).into_response()
}

/// The form's fields, as typed.
#[derive(Debug, Default)]
struct Draft {
    title: String,
    description: String,
    starts_at: String,
    ends_at: String,
    recurrence: String,
    services: Vec<String>,
    /// Posted with "Do not notify subscribers".
    quiet: bool,
}

impl Draft {
    fn from_form(fields: &[(String, String)]) -> Self {
        let mut draft = Self::default();
        for (key, value) in fields {
            match key.as_str() {
                "title" => draft.title = value.clone(),
                "description" => draft.description = value.clone(),
                "starts_at" => draft.starts_at = value.clone(),
                "ends_at" => draft.ends_at = value.clone(),
                "recurrence" => draft.recurrence = value.clone(),
                "services" => draft.services.push(value.clone()),
                "quiet" => draft.quiet = value == "on",
                _ => {}
            }
        }
        draft
    }

    /// The API's request, or the first field that cannot be read.
    fn request(&self) -> Result<CreateMaintenance, ApiError> {
        Ok(CreateMaintenance {
            title: self.title.clone(),
            description: Some(self.description.clone()).filter(|d| !d.trim().is_empty()),
            starts_at: parse_utc("starts_at", &self.starts_at)?,
            ends_at: parse_utc("ends_at", &self.ends_at)?,
            recurrence: Some(self.recurrence.trim().to_owned()).filter(|r| !r.is_empty()),
            services: self.services.clone(),
            notify: !self.quiet,
        })
    }
}

/// A `datetime-local` value (`2026-12-05T02:00`, seconds optional), in UTC.
fn parse_utc(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ApiError::unprocessable(field, "is required"));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::unprocessable(field, "must be a date and time, like 2026-12-05T02:00")
        })
}

/// The next five occurrences of what the form describes, checked by the
/// same rules as scheduling.
fn occurrences(draft: &Draft, now: DateTime<Utc>) -> Result<Vec<Occurrence>, ApiError> {
    let request = draft.request()?;
    let rule = request.recurrence.as_deref().map(parse_rule).transpose()?;
    validate(request.starts_at, request.ends_at, rule.as_ref())
        .map_err(|(field, message)| ApiError::unprocessable(field, message))?;
    let window = Window {
        id: 0,
        title: String::new(),
        description: None,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
        recurrence: rule,
        services: Vec::new(),
    };
    Ok(window.upcoming(now, 5))
}

/// One occurrence: start and end.
type Occurrence = (DateTime<Utc>, DateTime<Utc>);

const FIELDS: [&str; 6] = [
    "title",
    "description",
    "starts_at",
    "ends_at",
    "recurrence",
    "services",
];

fn new_page(
    state: &AppState,
    signed: &Signed,
    draft: &Draft,
    error: Option<&ApiError>,
    preview: Option<&[(DateTime<Utc>, DateTime<Utc>)]>,
) -> Markup {
    let snapshot = state.snapshot.borrow().clone();
    let text = |id: &str, label: &str, value: &str, kind: &str, hint: Option<&str>| {
        let hint_id = format!("{id}-hint");
        let described: Vec<String> = hint
            .map(|_| hint_id.clone())
            .into_iter()
            .chain(invalid(error, id))
            .collect();
        html! {
            label for=(id) { (label) }
            @if let Some(hint) = hint { p.hint id=(hint_id) { (hint) } }
            input id=(id) name=(id) type=(kind) value=(value)
                aria-invalid=[invalid(error, id).map(|_| "true")]
                aria-describedby=[(!described.is_empty()).then(|| described.join(" "))];
            (field_error(error, id))
        }
    };
    let body = html! {
        h1 { "Schedule maintenance" }
        form.card method="post" action="/admin/maintenance" novalidate {
            (csrf(signed))
            (form_error(error, &FIELDS))
            (text("title", "Title", &draft.title, "text", None))
            label for="description" { "Description (Markdown, optional)" }
            textarea id="description" name="description" rows="4" data-preview="description-preview"
                aria-invalid=[invalid(error, "description").map(|_| "true")] aria-describedby=[invalid(error, "description")] { (draft.description) }
            (field_error(error, "description"))
            section.preview id="description-preview" aria-live="polite" aria-label="Preview" {}
            div.row {
                div { (text("starts_at", "Starts (UTC)", &draft.starts_at, "datetime-local", None)) }
                div { (text("ends_at", "Ends (UTC)", &draft.ends_at, "datetime-local", None)) }
            }
            (text("recurrence", "Repeats (optional)", &draft.recurrence, "text",
                Some("An iCalendar rule: FREQ=DAILY or FREQ=WEEKLY, with INTERVAL, COUNT or UNTIL, e.g. FREQ=WEEKLY;COUNT=4")))
            fieldset aria-describedby=[invalid(error, "services")] {
                legend { "Services under maintenance" }
                (field_error(error, "services"))
                @for s in &snapshot.services {
                    label.check {
                        input type="checkbox" name="services" value=(s.slug) checked[draft.services.contains(&s.slug)];
                        " " (s.name)
                    }
                }
            }
            (quiet_box(draft.quiet))
            @if let Some(preview) = preview {
                section.preview aria-labelledby="next-five" {
                    h2 id="next-five" { "Next occurrences" }
                    @if preview.is_empty() { p.muted { "None: every occurrence is over." } }
                    ol { @for (s, e) in preview { li { (time(*s)) " – " (time(*e)) } } }
                }
            }
            div.actions {
                button type="submit" name="intent" value="create" { "Schedule" }
                button.secondary type="submit" name="intent" value="preview" { "Preview occurrences" }
            }
        }
    };
    page_in(
        state,
        "Schedule maintenance",
        signed,
        Nav::Maintenance,
        body,
    )
}

async fn new_form(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(&state, Role::Editor) {
        return *refused;
    }
    new_page(&state, &signed, &Draft::default(), None, None).into_response()
}

async fn create(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, field(&fields, "csrf")) {
        return *refused;
    }
    let draft = Draft::from_form(&fields);
    if field(&fields, "intent") == "preview" {
        return match occurrences(&draft, state.clock.now()) {
            Ok(next) => new_page(&state, &signed, &draft, None, Some(&next)).into_response(),
            Err(err) => (
                err.status,
                new_page(&state, &signed, &draft, Some(&err), None),
            )
                .into_response(),
        };
    }
    let result = match draft.request() {
        Ok(request) => api::schedule(&state, &signed.actor, request).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/admin/maintenance/{id}")).into_response(),
        Err(err) if err.status.is_client_error() => (
            err.status,
            new_page(&state, &signed, &draft, Some(&err), None),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn load(state: &AppState, raw: &str) -> Result<MaintenanceRecord, Response> {
    let id = path_id(raw, "maintenance").map_err(IntoResponse::into_response)?;
    api::load(state, id)
        .await
        .map_err(IntoResponse::into_response)
}

const UPDATE_STATUSES: [(UpdateStatus, &str, &str); 4] = [
    (UpdateStatus::Scheduled, "scheduled", "Scheduled"),
    (UpdateStatus::InProgress, "in_progress", "In progress"),
    (UpdateStatus::Verifying, "verifying", "Verifying"),
    (UpdateStatus::Completed, "completed", "Completed"),
];

fn detail_page(
    state: &AppState,
    signed: &Signed,
    record: &MaintenanceRecord,
    error: Option<&ApiError>,
) -> Markup {
    let w = &record.window;
    let now = state.clock.now();
    let editor = signed.actor.role.allows(Role::Editor);
    let body = html! {
        p.crumbs { a href="/admin/maintenance" { "Maintenance" } }
        h1 { (w.title) }
        dl.facts {
            dt { "Status" } dd { (status_label(w.status(now))) }
            dt { "First occurrence" } dd { (time(w.starts_at)) " – " (time(w.ends_at)) }
            dt { "Repeats" } dd { @if let Some(r) = w.recurrence { code { (r.to_string()) } } @else { "no" } }
            dt { "Scheduled by" } dd { (record.created_by) }
        }
        @if let Some(d) = &w.description { div.update-body { (markdown(d)) } }
        section aria-labelledby="next" {
            h2 id="next" { "Next occurrences" }
            @let next = w.upcoming(now, 5);
            @if next.is_empty() { p.muted { "Every occurrence is over." } }
            ol { @for (s, e) in &next { li { (time(*s)) " – " (time(*e)) } } }
        }
        @if editor {
            section aria-labelledby="post-update" {
                h2 id="post-update" { "Post an update" }
                form.card method="post" action={ "/admin/maintenance/" (w.id) } novalidate {
                    (csrf(signed))
                    (form_error(error, &["body", "status"]))
                    label for="update-status" { "Status" }
                    select id="update-status" name="status" {
                        option value="" { "What the time says" }
                        @for (_, value, label) in UPDATE_STATUSES { option value=(value) { (label) } }
                    }
                    label for="body" { "Message (Markdown)" }
                    textarea id="body" name="body" rows="4" required
                        aria-invalid=[invalid(error, "body").map(|_| "true")] aria-describedby=[invalid(error, "body")] {}
                    (field_error(error, "body"))
                    div.actions { button type="submit" { "Post update" } }
                }
            }
        }
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline" }
            ol.timeline {
                @for u in &record.updates {
                    li {
                        p.update-meta { strong { (u.status) } " · " (time(u.created_at)) " · " (u.created_by) }
                        div.update-body { (markdown(&u.body)) }
                    }
                }
            }
        }
        @if editor {
            p { a.danger href={ "/admin/maintenance/" (w.id) "/cancel" } { "Cancel this maintenance" } }
        }
    };
    page_in(state, &w.title, signed, Nav::Maintenance, body)
}

async fn show(State(state): State<AppState>, signed: Signed, Path(raw): Path<String>) -> Response {
    match load(&state, &raw).await {
        Ok(record) => detail_page(&state, &signed, &record, None).into_response(),
        Err(response) => response,
    }
}

async fn add_update(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, field(&fields, "csrf")) {
        return *refused;
    }
    let record = match load(&state, &raw).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let status = match field(&fields, "status") {
        "" => Ok(None),
        raw => UPDATE_STATUSES
            .iter()
            .find(|(_, value, _)| *value == raw)
            .map(|(s, _, _)| Some(*s))
            .ok_or_else(|| ApiError::unprocessable("status", format!("unknown status \"{raw}\""))),
    };
    let result = match status {
        Ok(status) => {
            let update = NewUpdate {
                status,
                body: field(&fields, "body").to_owned(),
            };
            api::post_update(&state, &signed.actor, record.window.id, update).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/admin/maintenance/{}", record.window.id)).into_response(),
        Err(err) if err.status.is_client_error() => (
            err.status,
            detail_page(&state, &signed, &record, Some(&err)),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn confirm_cancel(
    State(state): State<AppState>,
    signed: Signed,
    Path(raw): Path<String>,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Editor) {
        return *refused;
    }
    let record = match load(&state, &raw).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let w = &record.window;
    let body = html! {
        h1 { "Cancel “" (w.title) "”?" }
        p { "The window and its timeline leave the page and the API, with every occurrence still to come. The audit log keeps a line saying you cancelled it." }
        form.inline method="post" action={ "/admin/maintenance/" (w.id) "/cancel" } {
            (csrf(&signed))
            button.danger type="submit" { "Cancel the maintenance" }
        }
        " "
        a href={ "/admin/maintenance/" (w.id) } { "Keep it" }
    };
    page_in(
        &state,
        "Cancel maintenance",
        &signed,
        Nav::Maintenance,
        body,
    )
    .into_response()
}

async fn cancel(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Editor, &headers, field(&fields, "csrf")) {
        return *refused;
    }
    let id = match path_id(&raw, "maintenance") {
        Ok(id) => id,
        Err(err) => return err.into_response(),
    };
    match api::delete(&state, &signed.actor, id).await {
        Ok(()) => Redirect::to("/admin/maintenance").into_response(),
        Err(err) => err.into_response(),
    }
}
