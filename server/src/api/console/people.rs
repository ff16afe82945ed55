//! Users and tokens (admins only) and the audit log (everyone).
//!
//! A new user gets a one-time password link, shown once to the admin who
//! made them (as `upbeat user create` prints it); a new token's secret is
//! shown once. A token's role is fixed at creation: a token is handed to
//! a machine for one purpose, and changing what an existing secret can do
//! behind its holder's back surprises; revoke it and create another.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use maud::html;
use serde::Deserialize;

use super::view::{csrf, page_in, time, Nav};
use super::Signed;
use crate::api::audit::AuditQuery;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::people::{Role, PASSWORD_LINK_LIFETIME};
use crate::token::{check_actor_name, hash_token, new_admin_token, new_token};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/people", get(people))
        .route("/admin/people/users", post(user_action))
        .route("/admin/people/tokens", post(token_action))
        .route("/admin/audit", get(audit))
}

/// What the last action did, shown above the lists.
enum Outcome {
    None,
    Done(String),
    /// A secret to show once: (what it is, the secret).
    Secret(String, String),
    Error(String, String),
}

async fn people_page(state: &AppState, signed: &Signed, outcome: Outcome) -> Response {
    let (users, tokens) = match (state.store.users().await, state.store.tokens().await) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(err), _) | (_, Err(err)) => return ApiError::internal(&err).into_response(),
    };
    let error_for = |field: &str| match &outcome {
        Outcome::Error(f, m) if f == field => Some(m.clone()),
        _ => None,
    };
    let role_select = |id: &str, selected: Role| {
        html! {
            select id=(id) name="role" {
                @for r in Role::ALL { option value=(r.as_str()) selected[r == selected] { (r.as_str()) } }
            }
        }
    };
    // The form that adds a user or creates a token: a name and a role.
    let create_form = |kind: &str, prefix: &str, title: &str, button: &str| {
        let (name_id, role_id) = (format!("{prefix}-name"), format!("{prefix}-role"));
        let error = error_for(&name_id);
        html! {
            form.card method="post" action={ "/admin/people/" (kind) } novalidate {
                h3 { (title) }
                (csrf(signed))
                input type="hidden" name="action" value="create";
                label for=(name_id) { "Name" }
                input id=(name_id) name="name" type="text" required maxlength="64"
                    aria-invalid=[error.as_ref().map(|_| "true")]
                    aria-describedby=[error.as_ref().map(|_| format!("{name_id}-error"))];
                @if let Some(m) = &error { p.field-error id={ (name_id) "-error" } { (m) } }
                label for=(role_id) { "Role" }
                (role_select(&role_id, Role::Viewer))
                button type="submit" { (button) }
            }
        }
    };
    let body = html! {
        h1 { "Users and tokens" }
        @match &outcome {
            Outcome::Done(message) => p.notice role="status" { (message) },
            Outcome::Secret(what, secret) => div.notice role="status" {
                p { (what) " It is shown once; copy it now." }
                p { code.secret { (secret) } }
            },
            Outcome::Error(field, message) if field.is_empty() => p.form-error role="alert" { (message) },
            _ => {},
        }
        section aria-labelledby="users" {
            h2 id="users" { "Users" }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Password" } th scope="col" { "Created" } th scope="col" { "Actions" } } }
                    tbody {
                        @for u in &users {
                            tr {
                                th scope="row" { (u.name) @if u.disabled_at.is_some() { " " span.muted { "(disabled)" } } }
                                td {
                                    @if u.disabled_at.is_none() {
                                        form.inline method="post" action="/admin/people/users" {
                                            (csrf(signed))
                                            input type="hidden" name="name" value=(u.name);
                                            input type="hidden" name="action" value="role";
                                            label.visually-hidden for={ "role-" (u.id) } { "Role of " (u.name) }
                                            (role_select(&format!("role-{}", u.id), u.role))
                                            button.secondary type="submit" { "Change" }
                                        }
                                    } @else { (u.role) }
                                }
                                td { @if u.has_password { "set" } @else { "not set" } }
                                td { (time(u.created_at)) }
                                td {
                                    @if u.disabled_at.is_none() {
                                        form.inline method="post" action="/admin/people/users" {
                                            (csrf(signed))
                                            input type="hidden" name="name" value=(u.name);
                                            button.secondary type="submit" name="action" value="reset" { "Reset password" }
                                            " "
                                            button.danger type="submit" name="action" value="disable" { "Disable" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (create_form("users", "user", "Add a user", "Add user"))
        }
        section aria-labelledby="tokens" {
            h2 id="tokens" { "API tokens" }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Actions" } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                th scope="row" { (t.name) @if t.revoked_at.is_some() { " " span.muted { "(revoked)" } } }
                                td { (t.role) }
                                td { (time(t.created_at)) }
                                td { @if let Some(at) = t.last_used_at { (time(at)) } @else { "never" } }
                                td {
                                    @if t.revoked_at.is_none() {
                                        form.inline method="post" action="/admin/people/tokens" {
                                            (csrf(signed))
                                            input type="hidden" name="name" value=(t.name);
                                            button.danger type="submit" name="action" value="revoke" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (create_form("tokens", "token", "Create a token", "Create token"))
        }
    };
    page_in(state, "Users and tokens", signed, Nav::People, body).into_response()
}

async fn people(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(&state, Role::Admin) {
        return *refused;
    }
    people_page(&state, &signed, Outcome::None).await
}

#[derive(Debug, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    name: String,
    role: Option<String>,
}

fn role_of(input: &PersonForm) -> Result<Role, String> {
    input.role.as_deref().unwrap_or("").parse()
}

async fn user_action(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(input): Form<PersonForm>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Admin, &headers, &input.csrf) {
        return *refused;
    }
    let (store, me, now) = (&state.store, signed.actor.name.as_str(), state.clock.now());
    let name = input.name.trim();
    let outcome = match input.action.as_str() {
        "create" => match (check_actor_name(name), role_of(&input)) {
            (Err(message), _) => Outcome::Error("user-name".into(), message),
            (_, Err(message)) => Outcome::Error(String::new(), message),
            (Ok(()), Ok(role)) => match store.create_user(name, role, None, me, now).await {
                Ok(None) => Outcome::Error(
                    "user-name".into(),
                    format!("a user or a token named \"{name}\" already exists"),
                ),
                Ok(Some(_)) => {
                    let token = new_token();
                    match store.reset_password(name, &hash_token(&token), now + PASSWORD_LINK_LIFETIME, me, now).await {
                        Ok(_) => Outcome::Secret(
                            format!("User \"{name}\" ({role}) added. Send them this link to set their password; it works once, for {} hours.", PASSWORD_LINK_LIFETIME.num_hours()),
                            format!("{}admin/password/{token}", base_url(&state, &headers)),
                        ),
                        Err(err) => return ApiError::internal(&err).into_response(),
                    }
                }
                Err(err) => return ApiError::internal(&err).into_response(),
            },
        },
        "role" => match role_of(&input) {
            Err(message) => Outcome::Error(String::new(), message),
            Ok(role) => match store.set_user_role(name, role, me, now).await {
                Ok(true) => Outcome::Done(format!("\"{name}\" is now {role}.")),
                Ok(false) => Outcome::Error(String::new(), format!("no user named \"{name}\"")),
                Err(err) => return ApiError::internal(&err).into_response(),
            },
        },
        "disable" => match store.disable_user(name, me, now).await {
            Ok(true) => Outcome::Done(format!(
                "\"{name}\" is disabled; their sessions have ended."
            )),
            Ok(false) => Outcome::Error(String::new(), format!("no enabled user named \"{name}\"")),
            Err(err) => return ApiError::internal(&err).into_response(),
        },
        "reset" => {
            let token = new_token();
            match store.reset_password(name, &hash_token(&token), now + PASSWORD_LINK_LIFETIME, me, now).await {
                Ok(true) => Outcome::Secret(
                    format!("The password of \"{name}\" is removed and their sessions have ended. Send them this link to set a new one."),
                    format!("{}admin/password/{token}", base_url(&state, &headers)),
                ),
                Ok(false) => Outcome::Error(String::new(), format!("no user named \"{name}\"")),
                Err(err) => return ApiError::internal(&err).into_response(),
            }
        }
        other => Outcome::Error(String::new(), format!("unknown action \"{other}\"")),
    };
    let status = match outcome {
        Outcome::Error(..) => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        _ => axum::http::StatusCode::OK,
    };
    let mut response = people_page(&state, &signed, outcome).await;
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}

/// Where links point: `server.public_url`, else this request's host.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    state.console.origin.as_ref().map_or_else(
        || {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if state.console.secure {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}/")
        },
        |origin| format!("{origin}/"),
    )
}

async fn token_action(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(input): Form<PersonForm>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Admin, &headers, &input.csrf) {
        return *refused;
    }
    let (store, me, now) = (&state.store, signed.actor.name.as_str(), state.clock.now());
    let name = input.name.trim();
    let outcome = match input.action.as_str() {
        "create" => match (check_actor_name(name), role_of(&input)) {
            (Err(message), _) => Outcome::Error("token-name".into(), message),
            (_, Err(message)) => Outcome::Error(String::new(), message),
            (Ok(()), Ok(role)) => {
                let token = new_admin_token();
                match store.create_token(name, &hash_token(&token), role, me, now).await {
                    Ok(Some(_)) => Outcome::Secret(
                        format!("Token \"{name}\" ({role}) created. Send it as the header Authorization: Bearer <token>."),
                        token,
                    ),
                    Ok(None) => Outcome::Error("token-name".into(), format!("a token or a user named \"{name}\" already exists (names are not reused)")),
                    Err(err) => return ApiError::internal(&err).into_response(),
                }
            }
        },
        "revoke" => match store.revoke_token(name, me, now).await {
            Ok(true) => Outcome::Done(format!(
                "Token \"{name}\" revoked; it stopped working at once."
            )),
            Ok(false) => Outcome::Error(String::new(), format!("no active token named \"{name}\"")),
            Err(err) => return ApiError::internal(&err).into_response(),
        },
        other => Outcome::Error(String::new(), format!("unknown action \"{other}\"")),
    };
    people_page(&state, &signed, outcome).await
}

/// The audit log's filters as the form sends them: empty fields are no
/// filter, dates are days (UTC).
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

fn day(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
            .map_err(|_| ApiError::invalid_field(field, "must be a date, like 2026-12-03")),
    }
}

async fn audit(
    State(state): State<AppState>,
    signed: Signed,
    Query(form): Query<AuditForm>,
) -> Response {
    let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let parsed = day("from", form.from.as_deref()).and_then(|from| {
        // `until` is a day: entries of that day are in.
        let until = day("until", form.until.as_deref())?.map(|d| d + chrono::Duration::days(1));
        AuditQuery {
            actor: blank(&form.actor),
            action: blank(&form.action),
            from,
            until,
            before: form.before,
            limit: Some(50),
        }
        .filter()
    });
    let (entries, error) = match parsed {
        Ok(filter) => match state.store.audit_log(&filter).await {
            Ok(entries) => (entries, None),
            Err(err) => return ApiError::internal(&err).into_response(),
        },
        Err(err) => (Vec::new(), Some(err)),
    };
    let query_without_before = {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("actor", &form.actor),
            ("action", &form.action),
            ("from", &form.from),
            ("until", &form.until),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(key, v);
            }
        }
        q.finish()
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        h1 { "Audit log" }
        form.filters method="get" action="/admin/audit" {
            div { label for="actor" { "Actor" } input id="actor" name="actor" type="text" value=(value(&form.actor)); }
            div {
                label for="action" { "Action" }
                input id="action" name="action" type="text" value=(value(&form.action)) list="actions" aria-describedby="action-hint";
                datalist id="actions" {
                    @for a in ["incident.", "maintenance.", "user.", "token.", "user.signed_in", "user.role_changed"] { option value=(a) {} }
                }
                p.hint id="action-hint" { "An action, or a prefix ending in a dot (user.)" }
            }
            div { label for="from" { "From (UTC day)" } input id="from" name="from" type="date" value=(value(&form.from)); }
            div { label for="until" { "Until (UTC day)" } input id="until" name="until" type="date" value=(value(&form.until)); }
            button type="submit" { "Filter" }
        }
        @if let Some(err) = &error {
            p.form-error role="alert" { (err.field.as_deref().unwrap_or("filter")) ": " (err.message) }
        }
        @if entries.is_empty() && error.is_none() { p.muted { "Nothing matches." } }
        @if !entries.is_empty() {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "What" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (time(e.at)) }
                                td { (e.actor) " " span.muted { "(" (e.actor_kind) ")" } }
                                td { code { (e.action) } }
                                td { (e.detail) @if e.detail.is_empty() { "#" (e.target_id) } }
                            }
                        }
                    }
                }
            }
            @if entries.len() == 50 {
                @if let Some(last) = entries.last() {
                    p.pager { a href={ "/admin/audit?" (query_without_before) @if !query_without_before.is_empty() { "&" } "before=" (last.id) } { "Older entries" } }
                }
            }
        }
    };
    page_in(&state, "Audit log", &signed, Nav::Audit, body).into_response()
}
