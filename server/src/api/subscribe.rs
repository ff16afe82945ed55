//! Visitors subscribe (SPEC "People"): the "Get updates" form's `POST
//! /subscribe`, the confirmation link, the manage page and one-click
//! unsubscribe (RFC 8058). HTML from the server (maud), usable without
//! JavaScript; `POST /subscribe` answers JSON to a request that asks for
//! it (the page's script).
//!
//! - The answer to a subscription is the same whether the address was new,
//!   pending, confirmed or limited, so the form tells nobody who
//!   subscribed; only a malformed address or an unknown service is named.
//! - Limits: [`SubscribeState::per_hour`] requests per client address an
//!   hour (in memory, per replica), [`domain::subscribers::MAILS_PER_DAY`]
//!   mails per address a day (in the database), a honeypot field. Every
//!   outcome is counted in `upbeat_subscriptions_total`.
//! - Links carry signed tokens; confirming and unsubscribing are `POST`s
//!   (a `GET` shows a button), so a mail scanner that follows links
//!   neither confirms nor unsubscribes anyone. No CSRF token: the link's
//!   token is the credential, and a forged subscription still needs the
//!   mailbox to confirm.
//!
//! [`domain::subscribers::MAILS_PER_DAY`]: crate::domain::subscribers::MAILS_PER_DAY

use std::time::Duration;

use axum::extract::{FromRequest as _, Query, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json};
use maud::{html, Markup, DOCTYPE};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::limit::{client_ip, PerAddress};
use super::subscribers::check_services;
use super::AppState;
use crate::domain::subscribers::{normalize_email, Link, LinkError, LinkPurpose, MailPage, Status};
use crate::store::{Subscribed, SubscriberRecord};

/// What the subscription routes need: the key that signs links, the page
/// mails speak for, and the per-client count.
#[derive(Debug)]
pub struct SubscribeState {
    /// `[subscribers] enabled`: without it these routes answer 404.
    pub enabled: bool,
    pub key: Vec<u8>,
    pub page: MailPage,
    /// `[subscribers] per_client_per_hour`.
    pub per_hour: u32,
    pub per_client: PerAddress,
}

const HOUR: Duration = Duration::from_secs(3600);

/// The answer to every accepted-looking subscription.
const CHECK_INBOX: &str = "Thanks! Check your inbox: we sent a link to confirm your subscription. \
                           If you were subscribed already, the mail has a link to manage it.";

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .route("/subscribe", get(form))
        .route("/subscribe/confirm", get(confirm_page).post(confirm))
        .route("/subscribe/manage", get(manage_page).post(manage))
        .routes(routes!(unsubscribe))
        .route("/subscribe/unsubscribe", get(unsubscribe_page))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            only_when_enabled,
        ))
}

/// The form's fields: `email`, `service` (repeated; none: every service)
/// and the honeypot `website`.
type Fields = Vec<(String, String)>;

fn values<'a>(fields: &'a Fields, name: &'a str) -> impl Iterator<Item = &'a str> {
    fields
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn first<'a>(fields: &'a Fields, name: &'a str) -> &'a str {
    values(fields, name).next().unwrap_or_default()
}

/// The JSON answer to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// What to tell the visitor.
    pub message: String,
}

/// Subscribes an address to updates (double opt-in): a confirmation mail
/// is sent, and only a confirmed address gets notifications. Form-encoded
/// `email`, repeated `service` slugs (none: all). Answers an HTML page, or
/// JSON when `Accept` asks for it. The answer is the same for a new, a
/// pending and a subscribed address, and when a limit is reached.
#[utoipa::path(post, path = "/subscribe", tag = "public",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`email`, repeated `service`"),
    responses(
        (status = 202, body = Accepted, description = "JSON asked for: the visitor's message"),
        (status = 200, description = "HTML: the same message as a page"),
        (status = 404, body = ErrorBody, description = "Subscriptions are off"),
        (status = 422, body = ErrorBody, description = "`email` or `service` is unacceptable"),
    ))]
async fn subscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    let subs = &state.subscriptions;
    let ip = client_ip(request.extensions());
    let json = wants_json(&headers);
    let Form(fields): Form<Fields> = match Form::from_request(request, &state).await {
        Ok(form) => form,
        Err(err) => {
            return ApiError::invalid_field("body", format!("unreadable form: {err}"))
                .into_response()
        }
    };
    let accepted = |outcome: &'static str| {
        crate::metrics::subscription(outcome);
        if json {
            (
                StatusCode::ACCEPTED,
                Json(Accepted {
                    message: CHECK_INBOX.to_owned(),
                }),
            )
                .into_response()
        } else {
            page(
                &state,
                "Check your inbox",
                html! { p role="status" { (CHECK_INBOX) } p { a href="/" { "Back to the status page" } } },
            )
        }
    };
    if subs.per_client.wait(&ip, subs.per_hour, HOUR).is_some() {
        return accepted("limited_client");
    }
    subs.per_client.add(ip, HOUR);
    if !first(&fields, "website").is_empty() {
        return accepted("honeypot");
    }
    let email = match normalize_email(first(&fields, "email")) {
        Ok(email) => email,
        Err(why) => {
            crate::metrics::subscription("invalid");
            let err = ApiError::unprocessable("email", format!("email {why}"));
            return refuse(&state, json, err, &fields);
        }
    };
    let chosen = values(&fields, "service").filter(|s| !s.is_empty());
    let services = match check_services(&state, chosen, "service") {
        Ok(services) => services,
        Err(err) => {
            crate::metrics::subscription("invalid");
            return refuse(&state, json, err, &fields);
        }
    };
    match state
        .store
        .subscribe(&email, &services, state.clock.now())
        .await
    {
        Ok(Subscribed::Limited) => accepted("limited_address"),
        Ok(Subscribed::Confirm(_) | Subscribed::Manage(_)) => {
            state.changes.subscribers_written();
            accepted("accepted")
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A refused subscription: the JSON error, or the form again with the
/// error next to its field.
fn refuse(state: &AppState, json: bool, err: ApiError, fields: &Fields) -> Response {
    if json {
        return err.into_response();
    }
    let chosen: Vec<&str> = values(fields, "service").collect();
    let mut response = page(
        state,
        "Get updates",
        form_body(state, first(fields, "email"), &chosen, Some(&err)),
    );
    *response.status_mut() = err.status;
    response
}

/// Every route here answers 404 unless `[subscribers] enabled`.
async fn only_when_enabled(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.subscriptions.enabled {
        next.run(request).await
    } else {
        ApiError::not_found("subscriptions are not enabled on this page").into_response()
    }
}

#[derive(Debug, Deserialize)]
struct FormQuery {
    #[serde(default)]
    service: Option<String>,
}

/// `GET /subscribe`: the whole form, with every service to choose from.
async fn form(State(state): State<AppState>, Query(query): Query<FormQuery>) -> Response {
    let chosen: Vec<&str> = query.service.as_deref().into_iter().collect();
    page(&state, "Get updates", form_body(&state, "", &chosen, None))
}

fn form_body(state: &AppState, email: &str, chosen: &[&str], error: Option<&ApiError>) -> Markup {
    let snapshot = state.snapshot.borrow().clone();
    let error_on = |field: &str| error.filter(|e| e.field.as_deref() == Some(field));
    html! {
        h1 { "Get updates" }
        p { "Get a mail when an incident opens, changes or ends, and when maintenance is scheduled, starts or ends." }
        form.subscribe-form method="post" action="/subscribe" novalidate {
            label for="email" { "Email address" }
            @if let Some(e) = error_on("email") {
                p.field-error id="email-error" { (e.message) }
            }
            span.subscribe-row {
                input id="email" type="email" name="email" value=(email) required maxlength="254" autocomplete="email"
                    aria-invalid=[error_on("email").map(|_| "true")] aria-describedby=[error_on("email").map(|_| "email-error")];
            }
            fieldset aria-describedby=[error_on("service").map(|_| "service-error")] {
                legend { "Services (none chosen: all of them)" }
                @if let Some(e) = error_on("service") {
                    p.field-error id="service-error" { (e.message) }
                }
                @for s in &snapshot.services {
                    label.check {
                        input type="checkbox" name="service" value=(s.slug) checked[chosen.contains(&s.slug.as_str())];
                        (s.name)
                    }
                }
            }
            span.hp aria-hidden="true" { input name="website" tabindex="-1" autocomplete="off"; }
            button type="submit" { "Subscribe" }
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The link's subscriber, or the page that says why the link is refused.
fn checked(state: &AppState, token: &str, purpose: LinkPurpose) -> Result<i64, Box<Response>> {
    let refused = |why: LinkError| {
        let mut response = page(
            state,
            "Link not valid",
            html! {
                h1 { "This link does not work" }
                p role="alert" { (why.to_string()) }
                p { a href="/subscribe" { "Subscribe again" } " · " a href="/" { "Status page" } }
            },
        );
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    };
    match Link::verify(&state.subscriptions.key, token, state.clock.now()) {
        Ok(link) if link.purpose == purpose => Ok(link.subscriber),
        Ok(_) => Err(Box::new(refused(LinkError::Forged))),
        Err(why) => Err(Box::new(refused(why))),
    }
}

fn gone(state: &AppState) -> Response {
    let mut response = page(
        state,
        "Not subscribed",
        html! {
            h1 { "This subscription no longer exists" }
            p { "It was unsubscribed or removed. " a href="/subscribe" { "Subscribe again" } }
        },
    );
    *response.status_mut() = StatusCode::GONE;
    response
}

/// `GET /subscribe/confirm?token=`: a button, so a scanner that follows
/// links does not confirm.
async fn confirm_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    if let Err(refused) = checked(&state, &q.token, LinkPurpose::Confirm) {
        return *refused;
    }
    page(
        &state,
        "Confirm your subscription",
        html! {
            h1 { "Confirm your subscription" }
            form method="post" action="/subscribe/confirm" {
                input type="hidden" name="token" value=(q.token);
                button type="submit" { "Confirm subscription" }
            }
        },
    )
}

async fn confirm(State(state): State<AppState>, Form(q): Form<TokenQuery>) -> Response {
    let id = match checked(&state, &q.token, LinkPurpose::Confirm) {
        Ok(id) => id,
        Err(refused) => return *refused,
    };
    match state.store.confirm_subscriber(id, state.clock.now()).await {
        Ok(Some(record)) if record.status == Status::Rejected => page(
            &state,
            "Address refused",
            html! {
                h1 { "This address cannot get mail" }
                p role="alert" { "Its mail server refused our mail for good. Subscribe again to try once more." }
                p { a href="/subscribe" { "Subscribe again" } }
            },
        ),
        Ok(Some(record)) => {
            let manage = state
                .subscriptions
                .page
                .manage_url(&state.subscriptions.key, id);
            page(
                &state,
                "Subscribed",
                html! {
                    h1 { "You are subscribed" }
                    p role="status" { (following(&state, &record)) }
                    p { a href=(manage) { "Manage your subscription" } " · " a href="/" { "Status page" } }
                },
            )
        }
        Ok(None) => gone(&state),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// "You get updates about every service." / "... about API and Web."
fn following(state: &AppState, record: &SubscriberRecord) -> String {
    if record.all_services {
        return format!("{} gets updates about every service.", record.address);
    }
    let snapshot = state.snapshot.borrow().clone();
    let names: Vec<String> = record
        .services
        .iter()
        .map(|slug| {
            snapshot
                .services
                .iter()
                .find(|s| &s.slug == slug)
                .map_or_else(|| slug.clone(), |s| s.name.clone())
        })
        .collect();
    format!(
        "{} gets updates about {} (and about incidents that name no service).",
        record.address,
        names.join(", ")
    )
}

async fn manage_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let id = match checked(&state, &q.token, LinkPurpose::Manage) {
        Ok(id) => id,
        Err(refused) => return *refused,
    };
    match state.store.subscriber(id).await {
        Ok(Some(record)) => page(
            &state,
            "Your subscription",
            manage_body(&state, &q.token, &record, None),
        ),
        Ok(None) => gone(&state),
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn manage_body(
    state: &AppState,
    token: &str,
    record: &SubscriberRecord,
    saved: Option<&str>,
) -> Markup {
    let snapshot = state.snapshot.borrow().clone();
    html! {
        h1 { "Your subscription" }
        @if let Some(saved) = saved { p role="status" { (saved) } }
        p { (following(state, record)) }
        form.subscribe-form method="post" action="/subscribe/manage" {
            input type="hidden" name="token" value=(token);
            fieldset {
                legend { "Services (none chosen: all of them)" }
                @for s in &snapshot.services {
                    label.check {
                        input type="checkbox" name="service" value=(s.slug)
                            checked[!record.all_services && record.services.contains(&s.slug)];
                        (s.name)
                    }
                }
            }
            button type="submit" { "Save" }
        }
        form method="post" action="/subscribe/unsubscribe" {
            input type="hidden" name="token" value=(token);
            p { button.secondary type="submit" { "Unsubscribe" } }
        }
    }
}

async fn manage(State(state): State<AppState>, Form(fields): Form<Fields>) -> Response {
    let token = first(&fields, "token").to_owned();
    let id = match checked(&state, &token, LinkPurpose::Manage) {
        Ok(id) => id,
        Err(refused) => return *refused,
    };
    let snapshot = state.snapshot.borrow().clone();
    // Services no longer on the page are dropped, not refused: the form
    // may be older than the config.
    let services: Vec<String> = values(&fields, "service")
        .filter(|slug| snapshot.services.iter().any(|s| s.slug == *slug))
        .map(str::to_owned)
        .collect();
    match state.store.set_subscriber_services(id, &services).await {
        Ok(true) => {}
        Ok(false) => return gone(&state),
        Err(err) => return ApiError::from(err).into_response(),
    }
    match state.store.subscriber(id).await {
        Ok(Some(record)) => page(
            &state,
            "Your subscription",
            manage_body(&state, &token, &record, Some("Saved.")),
        ),
        Ok(None) => gone(&state),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// `GET /subscribe/unsubscribe?token=`: a button (a mail client without
/// one-click support opens the link in a browser).
async fn unsubscribe_page(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    if let Err(refused) = checked(&state, &q.token, LinkPurpose::Manage) {
        return *refused;
    }
    page(
        &state,
        "Unsubscribe",
        html! {
            h1 { "Unsubscribe" }
            p { "You will get no more mail from this status page." }
            form method="post" action="/subscribe/unsubscribe" {
                input type="hidden" name="token" value=(q.token);
                button type="submit" { "Unsubscribe" }
            }
        },
    )
}

/// Unsubscribes and deletes the address (RFC 8058 one-click: a `POST` of
/// `List-Unsubscribe=One-Click` to the `List-Unsubscribe` URL, the token
/// in its query; or the manage page's form, the token in the body). Needs
/// no sign-in; unsubscribing twice is fine.
#[utoipa::path(post, path = "/subscribe/unsubscribe", tag = "public",
    params(("token" = Option<String>, Query, description = "The signed token of the mail's link")),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`List-Unsubscribe=One-Click`, or `token`"),
    responses(
        (status = 200, description = "Unsubscribed (an HTML page)"),
        (status = 400, description = "The token is malformed, forged or expired (an HTML page)"),
        (status = 404, body = ErrorBody, description = "Subscriptions are off"),
    ))]
async fn unsubscribe(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    body: axum::body::Bytes,
) -> Response {
    // RFC 8058 allows a form-encoded or a multipart body; only the token
    // matters, so the body is read leniently, as form fields.
    let fields: Fields = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = if q.token.is_empty() {
        first(&fields, "token").to_owned()
    } else {
        q.token
    };
    let id = match checked(&state, &token, LinkPurpose::Manage) {
        Ok(id) => id,
        Err(refused) => return *refused,
    };
    match state
        .store
        .remove_subscriber(id, None, state.clock.now())
        .await
    {
        Ok(_) => page(
            &state,
            "Unsubscribed",
            html! {
                h1 { "You are unsubscribed" }
                p role="status" { "Your address is deleted: you will get no more mail from this status page." }
                p { a href="/subscribe" { "Subscribe again" } " · " a href="/" { "Status page" } }
            },
        ),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// A whole page in the status page's look (its stylesheet), never cached
/// (links carry tokens), under a policy that allows nothing but that
/// stylesheet and posting to this site.
#[expect(
    clippy::needless_pass_by_value,
    reason = "callers hand their page over"
)]
fn page(state: &AppState, title: &str, body: Markup) -> Response {
    let css = state.assets.urls().map(|u| u.css.clone());
    let site = state.snapshot.borrow().page.title.clone();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="robots" content="noindex";
                title { (title) " · " (site) }
                @if let Some(css) = css { link rel="stylesheet" href=(css); }
            }
            body {
                div.page {
                    header.page-header { p.page-title { a href="/" { (site) } } }
                    main { section.subscribe { (body) } }
                }
            }
        }
    };
    let mut response = markup.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}
