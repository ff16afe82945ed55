//! Subscribers (admins only): counts, search by address, removal, CSV
//! export and import, and webhook or Slack destinations. The same
//! functions as the admin API (`api::subscribers`), so both check, audit
//! and answer alike.

use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};

use super::view::{csrf, page_in, time, Nav};
use super::{field, Signed};
use crate::api::error::ApiError;
use crate::api::subscribers::{
    add_subscriber, export_csv, import_csv, remove_subscriber, ListQuery, NewSubscriber,
};
use crate::api::AppState;
use crate::domain::people::Role;
use crate::domain::subscribers::Kind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/subscribers", get(list).post(action))
        .route("/admin/subscribers/import", post(import))
        .route("/admin/subscribers/export.csv", get(export))
}

/// Subscribers a page shows.
const PAGE: u32 = 50;

/// What the last action did.
enum Outcome {
    None,
    Done(String),
    /// A secret to show once: (what it is, the secret).
    Secret(String, String),
    /// An error, by field (`""`: the form as a whole).
    Error(&'static str, String),
}

async fn list(
    State(state): State<AppState>,
    signed: Signed,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Admin) {
        return *refused;
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    screen(&state, &signed, &query, Outcome::None).await
}

async fn screen(
    state: &AppState,
    signed: &Signed,
    query: &ListQuery,
    outcome: Outcome,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => crate::store::SubscriberFilter {
            limit: PAGE,
            ..filter
        },
        Err(err) => {
            let q = ListQuery::default();
            return Box::pin(screen(
                state,
                signed,
                &q,
                Outcome::Error("status", err.message),
            ))
            .await;
        }
    };
    let (counts, found) = match (
        state.store.subscriber_counts().await,
        state.store.subscribers(&filter).await,
    ) {
        (Ok(c), Ok(f)) => (c, f),
        (Err(err), _) | (_, Err(err)) => return ApiError::internal(&err).into_response(),
    };
    let snapshot = state.snapshot.borrow().clone();
    let name_of = |slug: &str| {
        snapshot
            .services
            .iter()
            .find(|s| s.slug == slug)
            .map_or_else(|| slug.to_owned(), |s| s.name.clone())
    };
    let error_for = |f: &str| match &outcome {
        Outcome::Error(field, message) if *field == f => Some(message.clone()),
        _ => None,
    };
    let next = (found.len() == PAGE as usize)
        .then(|| found.last().map(|r| r.id))
        .flatten();
    let q = query.q.clone().unwrap_or_default();
    let status = query.status.clone().unwrap_or_default();
    let body = html! {
        h1 { "Subscribers" }
        @match &outcome {
            Outcome::Done(message) => p.notice role="status" { (message) },
            Outcome::Secret(what, secret) => div.notice role="status" {
                p { (what) " It is shown once; copy it now." }
                p { code.secret { (secret) } }
            },
            Outcome::Error("", message) => p.form-error role="alert" { (message) },
            _ => {},
        }
        section aria-labelledby="counts" {
            h2 id="counts" { "Counts" }
            dl.facts {
                dt { "Confirmed" } dd { (counts.confirmed)
                    @if !counts.by_kind.is_empty() {
                        " (" @for (i, (kind, n)) in counts.by_kind.iter().enumerate() { @if i > 0 { ", " } (n) " " (kind) } ")"
                    }
                }
                dt { "Waiting for confirmation" } dd { (counts.pending) }
                dt { "Refused by their mail server" } dd { (counts.rejected) }
                dt { "Following every service" } dd { (counts.all_services) }
            }
            @if !counts.by_service.is_empty() {
                div.table-wrap {
                    table {
                        caption { "Confirmed subscribers following only some services" }
                        thead { tr { th scope="col" { "Service" } th scope="col" { "Subscribers" } } }
                        tbody {
                            @for (slug, n) in &counts.by_service {
                                tr { th scope="row" { (name_of(slug)) } td { (n) } }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="search" {
            h2 id="search" { "Search" }
            form.inline method="get" action="/admin/subscribers" role="search" {
                label for="q" { "Address contains" }
                input id="q" name="q" type="search" value=(q);
                label for="status" { "Status" }
                select id="status" name="status"
                    aria-invalid=[error_for("status").map(|_| "true")] aria-describedby=[error_for("status").map(|_| "status-error")] {
                    option value="" selected[status.is_empty()] { "any" }
                    @for s in ["pending", "confirmed", "rejected"] {
                        option value=(s) selected[status == s] { (s) }
                    }
                }
                button type="submit" { "Search" }
                @if let Some(m) = error_for("status") { p.field-error id="status-error" { (m) } }
            }
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { "Address" } th scope="col" { "Kind" } th scope="col" { "Status" }
                        th scope="col" { "Follows" } th scope="col" { "Since" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @if found.is_empty() { tr { td colspan="6" { "No subscribers match." } } }
                        @for r in &found {
                            tr {
                                th scope="row" { (r.address) }
                                td { (r.kind.as_str()) }
                                td { (r.status.as_str()) @if let Some(why) = &r.rejected_reason { br; span.muted { (why) } } }
                                td { @if r.all_services { "every service" } @else {
                                    @for (i, slug) in r.services.iter().enumerate() { @if i > 0 { ", " } (name_of(slug)) }
                                } }
                                td { (time(r.confirmed_at.unwrap_or(r.created_at))) }
                                td {
                                    form.inline method="post" action="/admin/subscribers" {
                                        (csrf(signed))
                                        input type="hidden" name="id" value=(r.id);
                                        button.danger type="submit" name="action" value="remove"
                                            aria-label={ "Remove " (r.address) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(before) = next {
                p { a href={ "/admin/subscribers?before=" (before) "&q=" (urlencode(&q)) "&status=" (urlencode(&status)) } { "Older subscribers" } }
            }
            p { a href="/admin/subscribers/export.csv" download { "Export every subscriber as CSV" } }
        }
        section aria-labelledby="add" {
            h2 id="add" { "Add a webhook or Slack destination" }
            form.card method="post" action="/admin/subscribers" novalidate {
                (csrf(signed))
                input type="hidden" name="action" value="add";
                label for="kind" { "Kind" }
                select id="kind" name="kind" {
                    option value="webhook" { "Webhook (the alert webhook's body, signed)" }
                    option value="slack" { "Slack incoming webhook" }
                }
                (text_field("address", "URL (https)", error_for("address").as_deref()))
                (services_box(&snapshot.services, error_for("services").as_deref()))
                button type="submit" { "Add destination" }
            }
        }
        section aria-labelledby="import" {
            h2 id="import" { "Import confirmed addresses" }
            form.card method="post" action="/admin/subscribers/import" enctype="multipart/form-data" novalidate {
                (csrf(signed))
                p.hint { "A CSV file with a header row naming " code { "email" } " and, optionally, " code { "services" } " (slugs separated by spaces; empty: all). The export reads back. Addresses are added as confirmed: import only people who agreed to get updates. At most 256 KiB a file." }
                label for="file" { "CSV file" }
                input id="file" name="file" type="file" accept=".csv,text/csv" required
                    aria-invalid=[error_for("file").map(|_| "true")] aria-describedby=[error_for("file").map(|_| "file-error")];
                @if let Some(m) = error_for("file") { p.field-error id="file-error" style="white-space:pre-line" { (m) } }
                button type="submit" { "Import" }
            }
        }
    };
    let code = match outcome {
        Outcome::Error(..) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    (
        code,
        page_in(state, "Subscribers", signed, Nav::Subscribers, body),
    )
        .into_response()
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn text_field(name: &str, label: &str, error: Option<&str>) -> Markup {
    html! {
        label for=(name) { (label) }
        input id=(name) name=(name) type="url" required
            aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| format!("{name}-error"))];
        @if let Some(m) = error { p.field-error id={ (name) "-error" } { (m) } }
    }
}

fn services_box(
    services: &[std::sync::Arc<app::model::ServiceView>],
    error: Option<&str>,
) -> Markup {
    html! {
        fieldset aria-describedby=[error.map(|_| "services-error")] {
            legend { "Services (none chosen: all of them)" }
            @if let Some(m) = error { p.field-error id="services-error" { (m) } }
            @for s in services {
                label.check { input type="checkbox" name="services" value=(s.slug); " " (s.name) }
            }
        }
    }
}

async fn action(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = signed.may(&state, Role::Admin, &headers, field(&fields, "csrf")) {
        return *refused;
    }
    let outcome = match field(&fields, "action") {
        "remove" => match field(&fields, "id").parse::<i64>() {
            Err(_) => Outcome::Error("", "which subscriber? (no id)".to_owned()),
            Ok(id) => match remove_subscriber(&state, &signed.actor, id).await {
                Ok(removed) => {
                    Outcome::Done(format!("{} is removed and deleted.", removed.address))
                }
                Err(err) => Outcome::Error("", err.message),
            },
        },
        "add" => {
            let kind = match field(&fields, "kind") {
                "slack" => Kind::Slack,
                _ => Kind::Webhook,
            };
            let input = NewSubscriber {
                kind,
                address: field(&fields, "address").to_owned(),
                services: fields
                    .iter()
                    .filter(|(k, _)| k == "services")
                    .map(|(_, v)| v.clone())
                    .collect(),
            };
            match add_subscriber(&state, &signed.actor, input).await {
                Ok(added) => match added.secret {
                    Some(secret) => Outcome::Secret(
                        format!("Webhook {} added. Its bodies are signed with this secret (X-Upbeat-Signature).", added.subscriber.address),
                        secret,
                    ),
                    None => Outcome::Done(format!("{} added.", added.subscriber.address)),
                },
                Err(err) => Outcome::Error(field_of(&err), err.message),
            }
        }
        other => Outcome::Error("", format!("unknown action \"{other}\"")),
    };
    screen(&state, &signed, &ListQuery::default(), outcome).await
}

/// The console's field for an API error's field.
fn field_of(err: &ApiError) -> &'static str {
    match err.field.as_deref() {
        Some("address") => "address",
        Some("services") => "services",
        _ => "",
    }
}

async fn import(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    if let Err(refused) = signed.require(&state, Role::Admin) {
        return *refused;
    }
    let (mut token, mut file) = (String::new(), None);
    loop {
        match form.next_field().await {
            Ok(Some(part)) => match part.name() {
                Some("csrf") => token = part.text().await.unwrap_or_default(),
                Some("file") => file = part.bytes().await.ok(),
                _ => {}
            },
            Ok(None) => break,
            Err(err) => {
                let outcome =
                    Outcome::Error("file", format!("the upload could not be read: {err}"));
                return screen(&state, &signed, &ListQuery::default(), outcome).await;
            }
        }
    }
    if let Err(refused) = signed.check(&state, &headers, &token) {
        return *refused;
    }
    let outcome = match file {
        None => Outcome::Error("file", "choose a CSV file".to_owned()),
        Some(bytes) => match import_csv(&state, &signed.actor, &bytes).await {
            Ok(Ok(done)) => Outcome::Done(format!(
                "{} added, {} already subscribed.",
                done.added, done.existing
            )),
            Ok(Err(problems)) => Outcome::Error(
                "file",
                problems
                    .iter()
                    .take(20)
                    .map(|(line, m)| format!("line {line}: {m}"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\nNothing was imported.",
            ),
            Err(err) => Outcome::Error("file", err.message),
        },
    };
    screen(&state, &signed, &ListQuery::default(), outcome).await
}

async fn export(State(state): State<AppState>, signed: Signed) -> Response {
    if let Err(refused) = signed.require(&state, Role::Admin) {
        return *refused;
    }
    match export_csv(&state, &signed.actor).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}
