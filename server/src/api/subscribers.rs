//! The admin API of subscribers (admins only: addresses are personal
//! data): counts, a search by address, removal, CSV export and import,
//! and webhook or Slack destinations. Each change and each export is in
//! the audit log. Removing deletes the address and what was sent to it.
//!
//! Functions here are shared with the console (`console::subscribers`).

use axum::body::Body as RawBody;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Actor, Admin};
use super::error::{ApiError, ErrorBody};
use super::extract::{list_limit, path_id, Body};
use super::AppState;
use crate::domain::subscribers::{
    csv_field, normalize_email, parse_import, webhook_secret, Kind, Status,
};
use crate::store::{Imported, SubscriberCounts, SubscriberFilter, SubscriberRecord};

/// Most subscribers one list request returns.
pub const MAX_LIST: u32 = 500;
/// The largest import accepted: the server's limit on any request body
/// (`startup::MAX_BODY_BYTES`), about 10,000 addresses; larger lists go in
/// several files (an import leaves addresses already there alone).
pub const MAX_IMPORT_BYTES: usize = 256 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(counts))
        .routes(routes!(remove))
        .routes(routes!(export))
        .routes(routes!(import))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Part of the address, any case.
    pub q: Option<String>,
    /// `pending`, `confirmed` or `rejected`.
    pub status: Option<String>,
    /// Subscribers older than this id: the next page is `before` the last id.
    pub before: Option<i64>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

impl ListQuery {
    pub fn filter(&self) -> Result<SubscriberFilter, ApiError> {
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
                ApiError::invalid_field(
                    "status",
                    format!("unknown status \"{raw}\" (pending, confirmed or rejected)"),
                )
            })?),
        };
        Ok(SubscriberFilter {
            query: self.q.clone().filter(|q| !q.trim().is_empty()),
            status,
            before: self.before,
            limit: list_limit(self.limit, 100, MAX_LIST)?,
        })
    }
}

/// Subscribers, newest first.
#[utoipa::path(get, path = "/api/v1/subscribers", tag = "subscribers", security(("bearer" = ["admin"])),
    params(ListQuery),
    responses(
        (status = 200, body = Vec<SubscriberRecord>),
        (status = 400, body = ErrorBody, description = "A bad filter or `limit`"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SubscriberRecord>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_field("query", e.body_text()))?;
    Ok(Json(state.store.subscribers(&query.filter()?).await?))
}

/// How many subscribers: pending, confirmed (by kind), rejected, and the
/// confirmed ones by service.
#[utoipa::path(get, path = "/api/v1/subscribers/counts", tag = "subscribers", security(("bearer" = ["admin"])),
    responses(
        (status = 200, body = SubscriberCounts),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn counts(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<SubscriberCounts>, ApiError> {
    Ok(Json(state.store.subscriber_counts().await?))
}

/// A subscriber an admin adds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    /// `webhook`, `slack` or `email` (an address added this way is
    /// confirmed at once: the admin vouches for it).
    pub kind: Kind,
    /// The webhook's or Slack incoming webhook's `https` URL, or the
    /// email address.
    pub address: String,
    /// Slugs of the services it follows; none: all.
    #[serde(default)]
    pub services: Vec<String>,
}

/// The subscriber added, and for a webhook the secret its bodies are
/// signed with (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedSubscriber {
    pub subscriber: SubscriberRecord,
    /// `X-Upbeat-Signature` is the HMAC-SHA256 of `{t}.{body}` with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Adds a confirmed subscriber: a webhook or Slack destination (it gets
/// the same events as email subscribers, in the alert webhook's format
/// and signature, or as Slack blocks), or an email address.
#[utoipa::path(post, path = "/api/v1/subscribers", tag = "subscribers", security(("bearer" = ["admin"])),
    request_body = NewSubscriber,
    responses(
        (status = 201, body = AddedSubscriber),
        (status = 400, body = ErrorBody, description = "Unreadable JSON"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 409, body = ErrorBody, description = "That address is subscribed already"),
        (status = 422, body = ErrorBody, description = "`address` or `services` is unacceptable"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn add(
    State(state): State<AppState>,
    admin: Admin,
    Body(input): Body<NewSubscriber>,
) -> Result<Response, ApiError> {
    let added = add_subscriber(&state, &admin, input).await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// Adds a subscriber (the API and the console).
pub async fn add_subscriber(
    state: &AppState,
    actor: &Actor,
    input: NewSubscriber,
) -> Result<AddedSubscriber, ApiError> {
    let address = match input.kind {
        Kind::Email => normalize_email(&input.address)
            .map_err(|why| ApiError::unprocessable("address", format!("address {why}")))?,
        Kind::Webhook | Kind::Slack => check_url(&input.address)?,
    };
    let services = check_services(state, input.services.iter().map(String::as_str), "services")?;
    let id = state
        .store
        .add_subscriber(
            input.kind,
            &address,
            &services,
            &actor.name,
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| ApiError::conflict(format!("{address} is subscribed already")))?;
    tracing::info!(subscriber = id, kind = input.kind.as_str(), by = %actor.name, "subscriber added");
    let subscriber = state
        .store
        .subscriber(id)
        .await?
        .ok_or_else(|| ApiError::not_found("the subscriber was removed meanwhile"))?;
    let secret =
        (input.kind == Kind::Webhook).then(|| webhook_secret(&state.subscriptions.key, id));
    Ok(AddedSubscriber { subscriber, secret })
}

/// An `https` URL (or `http` to this machine, for trying it out).
fn check_url(raw: &str) -> Result<String, ApiError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ApiError::unprocessable("address", format!("address is not a URL: {e}")))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        return Err(ApiError::unprocessable(
            "address",
            "address must be an https URL",
        ));
    }
    if raw.len() > 2000 {
        return Err(ApiError::unprocessable(
            "address",
            "address must be at most 2,000 characters",
        ));
    }
    Ok(url.to_string())
}

/// Known slugs, each once; an unknown one is named, as `field` (the
/// API's `services`, the visitors' form's `service`).
pub fn check_services<'a>(
    state: &AppState,
    slugs: impl IntoIterator<Item = &'a str>,
    field: &str,
) -> Result<Vec<String>, ApiError> {
    let snapshot = state.snapshot.borrow().clone();
    let mut out: Vec<String> = Vec::new();
    for slug in slugs {
        if !snapshot.services.iter().any(|s| s.slug == slug) {
            return Err(ApiError::unprocessable(
                field,
                format!("no service \"{slug}\""),
            ));
        }
        if !out.iter().any(|s| s == slug) {
            out.push(slug.to_owned());
        }
    }
    Ok(out)
}

/// Removes a subscriber: the address and what was sent to it are deleted.
#[utoipa::path(delete, path = "/api/v1/subscribers/{id}", tag = "subscribers", security(("bearer" = ["admin"])),
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn remove(
    State(state): State<AppState>,
    admin: Admin,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove_subscriber(&state, &admin, path_id(&raw, "subscriber")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a subscriber (the API and the console).
pub async fn remove_subscriber(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<SubscriberRecord, ApiError> {
    let removed = state
        .store
        .remove_subscriber(id, Some(&actor.name), state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscriber {id}")))?;
    tracing::info!(subscriber = id, by = %actor.name, "subscriber removed");
    Ok(removed)
}

/// Every subscriber as CSV (`id,kind,address,status,services,created_at,
/// confirmed_at`; `services` empty for all, else slugs separated by
/// spaces), read from the database a page at a time. The import reads
/// the same format.
#[utoipa::path(get, path = "/api/v1/subscribers/export.csv", tag = "subscribers", security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "CSV", content_type = "text/csv"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn export(State(state): State<AppState>, admin: Admin) -> Result<Response, ApiError> {
    export_csv(&state, &admin).await
}

/// The CSV answer (the API and the console).
pub async fn export_csv(state: &AppState, actor: &Actor) -> Result<Response, ApiError> {
    let counts = state.store.subscriber_counts().await?;
    let total = counts.pending + counts.confirmed + counts.rejected;
    state
        .store
        .audit_subscribers(
            "subscriber.exported",
            &format!("{total} subscribers"),
            &actor.name,
            state.clock.now(),
        )
        .await?;
    let store = std::sync::Arc::clone(&state.store);
    let header_row = "id,kind,address,status,services,created_at,confirmed_at\n".to_owned();
    // A page at a time, newest first, until a short page.
    let pages = futures::stream::unfold(Some(None), move |before: Option<Option<i64>>| {
        let store = std::sync::Arc::clone(&store);
        async move {
            let before = before?;
            let filter = SubscriberFilter {
                before,
                limit: 1000,
                ..SubscriberFilter::default()
            };
            let page = match store.subscribers(&filter).await {
                Ok(page) => page,
                Err(err) => return Some((Err(std::io::Error::other(err.to_string())), None)),
            };
            let next = (page.len() == 1000).then(|| page.last().map(|r| r.id));
            let mut text = String::new();
            for r in &page {
                let fields = [
                    r.id.to_string(),
                    r.kind.as_str().to_owned(),
                    r.address.clone(),
                    r.status.as_str().to_owned(),
                    if r.all_services {
                        String::new()
                    } else {
                        r.services.join(" ")
                    },
                    r.created_at.to_rfc3339(),
                    r.confirmed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                ];
                let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                text.push_str(&row.join(","));
                text.push('\n');
            }
            Some((Ok::<_, std::io::Error>(text), next))
        }
    });
    let body = futures::stream::once(async move { Ok(header_row) }).chain(pages);
    use futures::StreamExt as _;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"subscribers.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        RawBody::from_stream(body),
    )
        .into_response())
}

/// Problems with an import, by line.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportProblems {
    pub error: ImportError,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportError {
    pub code: String,
    pub message: String,
    pub field: String,
    /// Each bad line: `{line, message}`.
    pub lines: Vec<LineProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineProblem {
    pub line: u64,
    pub message: String,
}

/// Imports already-confirmed email addresses (moving from another page):
/// CSV with a header row naming `email` (or `address`) and optionally
/// `services` (slugs separated by spaces; empty: all). The export's
/// format reads back. All or nothing: any bad line refuses the whole file,
/// each problem named by line. Addresses already there are left alone.
#[utoipa::path(post, path = "/api/v1/subscribers/import", tag = "subscribers", security(("bearer" = ["admin"])),
    request_body(content_type = "text/csv", description = "A header row with `email`, optionally `services`"),
    responses(
        (status = 200, body = Imported),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 413, body = ErrorBody, description = "Larger than 256 KiB"),
        (status = 422, body = ImportProblems, description = "Bad lines, each named"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn import(
    State(state): State<AppState>,
    admin: Admin,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    match import_csv(&state, &admin, &body).await? {
        Ok(imported) => Ok(Json(imported).into_response()),
        Err(problems) => Ok(problems_response(problems)),
    }
}

/// The 422 answer naming each bad line.
pub fn problems_response(problems: Vec<(u64, String)>) -> Response {
    let message = format!("{} bad line(s); nothing was imported", problems.len());
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ImportProblems {
            error: ImportError {
                code: "invalid_field".to_owned(),
                message,
                field: "body".to_owned(),
                lines: problems
                    .into_iter()
                    .take(100)
                    .map(|(line, message)| LineProblem { line, message })
                    .collect(),
            },
        }),
    )
        .into_response()
}

/// Checks and imports a CSV (the API and the console): the counts, or the
/// problems by line.
pub async fn import_csv(
    state: &AppState,
    actor: &Actor,
    body: &[u8],
) -> Result<Result<Imported, Vec<(u64, String)>>, ApiError> {
    if body.len() > MAX_IMPORT_BYTES {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: "the file must be at most 256 KiB; split larger lists".to_owned(),
            field: Some("body".to_owned()),
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::unprocessable("body", "the file must be UTF-8 text"))?;
    // The export names the column `address`; an import may say `email`.
    let text = match text.split_once('\n') {
        Some((head, rest)) if !head.to_ascii_lowercase().contains("email") => {
            format!("{}\n{rest}", head.replacen("address", "email", 1))
        }
        _ => text.to_owned(),
    };
    let rows = match parse_import(&text) {
        Ok(rows) => rows,
        Err(problems) => return Ok(Err(problems)),
    };
    let snapshot = state.snapshot.borrow().clone();
    let unknown: Vec<(u64, String)> = rows
        .iter()
        .flat_map(|row| {
            row.services
                .iter()
                .filter(|slug| !snapshot.services.iter().any(|s| &s.slug == *slug))
                .map(move |slug| (row.line, format!("no service \"{slug}\"")))
        })
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(unknown));
    }
    let imported = state
        .store
        .import_subscribers(&rows, &actor.name, state.clock.now())
        .await?;
    tracing::info!(added = imported.added, existing = imported.existing, by = %actor.name, "subscribers imported");
    Ok(Ok(imported))
}
