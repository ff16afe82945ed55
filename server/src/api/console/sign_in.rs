//! Signing in and out, and setting a password through a one-time link.
//!
//! A failed sign-in answers the same page, status and time whether the
//! name is unknown, disabled, without a password, or the password is
//! wrong: an unknown name still costs one Argon2 verification
//! ([`crate::password::verify_nothing`]). Failures are counted per client
//! address and per name; past either limit the form answers `429` with
//! `Retry-After`, like a token's.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use super::view::page;
use super::{ClientIp, CsrfForm, Signed};
use crate::api::auth::{FAILURE_WINDOW, MAX_FAILURES};
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::people::{check_password, MAX_PASSWORD_CHARS};
use crate::password::{hash_password, verify_nothing, verify_password};
use crate::store::NewSession;
use crate::token::{hash_token, new_token};

/// Failed sign-ins of one name before it waits: fewer than an address's,
/// since one person's password is the target.
pub const MAX_NAME_FAILURES: u32 = 10;
pub const NAME_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(form).post(sign_in))
        .route("/admin/logout", post(sign_out))
        .route(
            "/admin/password/{token}",
            get(password_form).post(set_password),
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a console path only (no open redirect).
fn next_path(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/admin")
}

fn login_page(
    state: &AppState,
    next: &str,
    name: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> Markup {
    page(
        state,
        "Sign in",
        html! {
            h1 { "Sign in to the console" }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            form.card.sign-in method="post" action="/admin/login" {
                @if let Some(error) = error { p.form-error role="alert" id="login-error" { (error) } }
                input type="hidden" name="next" value=(next);
                label for="name" { "Name" }
                input id="name" name="name" type="text" autocomplete="username" required
                    autofocus value=(name) aria-describedby=[error.map(|_| "login-error")];
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password"
                    required maxlength=(MAX_PASSWORD_CHARS);
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn form(
    Query(next): Query<Next>,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    // Already signed in: straight on.
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers;
    if <Signed as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
        .await
        .is_ok()
    {
        return Redirect::to(next_path(next.next.as_deref())).into_response();
    }
    let notice = (next.next.as_deref() == Some("/admin?password=set"))
        .then_some("Your password is set; sign in with it.");
    login_page(&state, next_path(next.next.as_deref()), "", None, notice).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

fn too_many(state: &AppState, next: &str, name: &str, wait: Duration) -> Response {
    let message = format!(
        "Too many failed sign-ins. Try again in {} seconds.",
        wait.as_secs() + 1
    );
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        login_page(state, next, name, Some(&message), None),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(input): Form<SignIn>,
) -> Response {
    let console = &state.console;
    let next = next_path(input.next.as_deref()).to_owned();
    let name = input.name.trim().to_owned();
    if !console.same_origin(&headers) {
        tracing::warn!(client = %ip, "console: a cross-site sign-in was refused");
        return (
            StatusCode::FORBIDDEN,
            login_page(
                &state,
                &next,
                "",
                Some("This form did not come from this site."),
                None,
            ),
        )
            .into_response();
    }
    let by_address = console
        .failed_by_address
        .wait(&ip, MAX_FAILURES, FAILURE_WINDOW);
    let by_name = console
        .failed_by_name
        .wait(&name, MAX_NAME_FAILURES, NAME_FAILURE_WINDOW);
    if let Some(wait) = by_address.into_iter().chain(by_name).max() {
        crate::metrics::console_sign_in("limited");
        return too_many(&state, &next, &name, wait);
    }
    let credentials = match state.store.credentials(&name).await {
        Ok(found) => found,
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    let password = input.password;
    let user = credentials.and_then(|c| {
        let hash = c.password_hash?;
        c.user.disabled_at.is_none().then_some((c.user, hash))
    });
    // Argon2 takes tens of milliseconds of a core: off the async threads.
    let verified = tokio::task::spawn_blocking(move || match user {
        Some((user, hash)) => verify_password(&hash, &password).then_some(user),
        None => {
            verify_nothing(&password);
            None
        }
    })
    .await
    .ok()
    .flatten();
    let Some(user) = verified else {
        console.failed_by_address.add(ip, FAILURE_WINDOW);
        console
            .failed_by_name
            .add(name.clone(), NAME_FAILURE_WINDOW);
        crate::metrics::console_sign_in("failure");
        tracing::warn!(client = %ip, "console: a sign-in failed");
        return (
            StatusCode::UNAUTHORIZED,
            login_page(
                &state,
                &next,
                &name,
                Some("The name or the password is wrong."),
                None,
            ),
        )
            .into_response();
    };
    let (id, csrf) = (new_token(), new_token());
    let now = state.clock.now();
    // A session this browser still holds ends: one browser, one session.
    if let Some(old) = super::session_cookie(&headers, console.cookie_name()) {
        if let Err(err) = state.store.end_session(&hash_token(old), now).await {
            return ApiError::internal(&err).into_response();
        }
    }
    let session = NewSession {
        id_hash: &hash_token(&id),
        user_id: user.id,
        csrf_token: &csrf,
        at: now,
        expires_at: console.policy.expires_at(now),
    };
    if let Err(err) = state.store.create_session(&session).await {
        return ApiError::internal(&err).into_response();
    }
    crate::metrics::console_sign_in("success");
    tracing::info!(user = %user.name, "console: signed in");
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, console.set_cookie(Some(&id)));
    response
}

async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(input): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = signed.check(&state, &headers, &input.csrf) {
        return *refused;
    }
    let console = &state.console;
    if let Some(value) = super::session_cookie(&headers, console.cookie_name()) {
        if let Err(err) = state
            .store
            .end_session(&hash_token(value), state.clock.now())
            .await
        {
            return ApiError::internal(&err).into_response();
        }
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, console.set_cookie(None));
    response
}

fn password_page(state: &AppState, token: &str, name: &str, error: Option<(&str, &str)>) -> Markup {
    let error_of = |field: &str| error.filter(|(f, _)| *f == field).map(|(_, m)| m);
    page(
        state,
        "Set your password",
        html! {
            h1 { "Set a password for " (name) }
            form.card method="post" action={ "/admin/password/" (token) } {
                label for="password" { "New password" }
                p.hint id="password-hint" { "At least 12 characters. A passphrase of several words is good." }
                input id="password" name="password" type="password" autocomplete="new-password" required
                    minlength="12" maxlength=(MAX_PASSWORD_CHARS)
                    aria-invalid=[error_of("password").map(|_| "true")]
                    aria-describedby={ "password-hint" @if error_of("password").is_some() { " password-error" } };
                @if let Some(message) = error_of("password") { p.field-error id="password-error" { (message) } }
                label for="confirm" { "The same password again" }
                input id="confirm" name="confirm" type="password" autocomplete="new-password" required
                    aria-invalid=[error_of("confirm").map(|_| "true")]
                    aria-describedby=[error_of("confirm").map(|_| "confirm-error")];
                @if let Some(message) = error_of("confirm") { p.field-error id="confirm-error" { (message) } }
                button type="submit" { "Set password" }
            }
        },
    )
}

fn link_gone(state: &AppState) -> Response {
    (
        StatusCode::NOT_FOUND,
        page(
            state,
            "Link expired",
            html! {
                h1 { "This link no longer works" }
                p { "A password link works once, for 24 hours. Ask an admin for a new one (" code { "upbeat user reset-password NAME" } ")." }
            },
        ),
    )
        .into_response()
}

async fn password_form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state
        .store
        .password_link(&hash_token(&token), state.clock.now())
        .await
    {
        Ok(Some(name)) => password_page(&state, &token, &name, None).into_response(),
        Ok(None) => link_gone(&state),
        Err(err) => ApiError::internal(&err).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn set_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(input): Form<NewPassword>,
) -> Response {
    let link = hash_token(&token);
    let now = state.clock.now();
    let name = match state.store.password_link(&link, now).await {
        Ok(Some(name)) => name,
        Ok(None) => return link_gone(&state),
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    if !state.console.same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            password_page(
                &state,
                &token,
                &name,
                Some(("password", "This form did not come from this site.")),
            ),
        )
            .into_response();
    }
    let problem = check_password(&input.password)
        .err()
        .map(|m| ("password", m))
        .or_else(|| {
            (input.password != input.confirm)
                .then(|| ("confirm", "does not match the password".to_owned()))
        });
    if let Some((field, message)) = problem {
        let message = format!("The password {message}.");
        let message = if field == "confirm" {
            "This does not match the password.".to_owned()
        } else {
            message
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            password_page(&state, &token, &name, Some((field, &message))),
        )
            .into_response();
    }
    let password = input.password;
    let Ok(hash) = tokio::task::spawn_blocking(move || hash_password(&password)).await else {
        return ApiError::internal(&"hashing failed").into_response();
    };
    match state.store.set_password_by_link(&link, &hash, now).await {
        Ok(Some(_)) => Redirect::to("/admin/login?next=/admin%3Fpassword%3Dset").into_response(),
        Ok(None) => link_gone(&state),
        Err(err) => ApiError::internal(&err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        let cases = [
            (None, "/admin"),
            (Some("/admin/incidents/3"), "/admin/incidents/3"),
            (Some("https://evil.example/admin"), "/admin"),
            (Some("//evil.example/admin"), "/admin"),
            (Some("/admin\\@evil.example"), "/admin"),
            (Some("/"), "/admin"),
        ];
        for (next, expected) in cases {
            assert_eq!(next_path(next), expected, "{next:?}");
        }
    }
}
