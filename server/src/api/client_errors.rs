//! Errors from visitors' browsers: `POST /api/v1/client-errors`.
//!
//! The hydrated page reports a panic of its WebAssembly, and refreshes
//! that failed several times in a row, with a small JSON body (sent with
//! `navigator.sendBeacon`, so it arrives as `text/plain`; the content type
//! is not checked):
//!
//! ```json
//! {"kind": "panic", "message": "…", "route": "/services/api", "build": "0.1.0"}
//! ```
//!
//! What is kept of it: the counter `upbeat_frontend_errors_total{kind}`
//! and one log line (with the request's id, from its span) naming the
//! kind, the route (its path only: a query string or fragment is cut off),
//! the build, the browser family read from `User-Agent` and the message
//! (control characters replaced). No cookie is read; no address is stored.
//!
//! Limits: a body over [`MAX_BODY`] bytes gets `413`; each client address
//! may report [`PER_MINUTE`] errors a minute and gets `429` with
//! `Retry-After` after that, so a page stuck in a loop cannot flood the
//! log; bad fields get `422` naming the field.
//!
//! With `[client_errors] sentry_dsn`, the page also sends each error as a
//! Sentry envelope to `POST /api/v1/client-errors/sentry`, the same-origin
//! tunnel Sentry's documentation describes (ad blockers and the page's
//! `connect-src 'self'` both stop a direct send). The tunnel reads the
//! envelope's header line and forwards the envelope, unchanged, only when
//! its `dsn` names the configured Sentry and project: to that project's
//! envelope endpoint, with `sentry_timeout`. Anything else is `400`
//! naming `dsn` or `body`, so it is never an open proxy. Sentry's answer
//! (status, body, `Retry-After`, `X-Sentry-Rate-Limits`) is passed back;
//! no answer in time is `504`, an unreachable Sentry `502`. The envelope
//! shares the per-address limit of the reports and may be
//! [`MAX_ENVELOPE`] bytes; no header of the browser's is forwarded.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::limit::{client_ip, too_many, PerAddress};
use super::AppState;
use crate::config::client_errors::{ClientErrorsConfig, SentryDsn};

/// Largest body accepted, in bytes.
pub const MAX_BODY: usize = 8 * 1024;
/// Reports accepted per client address and minute.
pub const PER_MINUTE: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Longest message kept, in characters.
const MAX_MESSAGE: usize = 2_000;

/// Largest Sentry envelope accepted, in bytes.
pub const MAX_ENVELOPE: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(sentry))
}

/// The Sentry tunnel: where envelopes may go.
#[derive(Debug)]
pub struct SentryTunnel {
    /// As configured: what the page names in its envelopes.
    raw: String,
    dsn: SentryDsn,
    http: reqwest::Client,
}

impl SentryTunnel {
    /// The tunnel of a configured (and validated) DSN.
    pub fn new(config: &ClientErrorsConfig) -> Option<Self> {
        let raw = config.sentry_dsn.as_deref()?.trim().to_owned();
        let dsn = SentryDsn::parse(&raw).ok()?;
        let http = reqwest::Client::builder()
            .timeout(config.sentry_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self { raw, dsn, http })
    }

    /// The DSN the page names.
    pub fn dsn(&self) -> &str {
        &self.raw
    }
}

/// A browser's error report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientError {
    /// `panic` (the page's WebAssembly failed) or `refresh` (the 30-second
    /// refresh failed several times in a row).
    pub kind: String,
    /// What went wrong, at most 2,000 characters.
    pub message: String,
    /// The page's path (a query string or fragment is cut off).
    pub route: String,
    /// The front end's build.
    #[serde(default)]
    pub build: Option<String>,
}

/// Reports counted per client address in one-minute windows.
#[derive(Debug, Default)]
pub struct ReportLimit(PerAddress);

impl ReportLimit {
    /// Counts a report from `ip`; `Err(wait)` when over the limit.
    fn hit(&self, ip: IpAddr) -> Result<(), Duration> {
        if let Some(wait) = self.0.wait(&ip, PER_MINUTE, WINDOW) {
            return Err(wait);
        }
        self.0.add(ip, WINDOW);
        Ok(())
    }
}

impl ReportLimit {
    /// Counts a report or envelope from the request's address; the `429`
    /// answer past the limit.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let wait = self.hit(client_ip(request.extensions())).err()?;
        Some(too_many(
            "too_many_reports",
            format!("at most {PER_MINUTE} error reports a minute; try again later"),
            wait,
        ))
    }
}

/// The request's body when it is at most `max` bytes, else the `413`
/// answer naming `body`.
async fn body_within(request: Request, max: usize) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(request.into_body(), max)
        .await
        .map_err(|_| {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "too_large",
                message: format!("must be at most {max} bytes"),
                field: Some("body".to_owned()),
            }
            .into_response()
        })
}

/// Records a browser's error report.
#[utoipa::path(post, path = "/api/v1/client-errors", tag = "public",
    request_body(content = ClientError, description = "JSON, sent as `application/json` or `text/plain`"),
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Not JSON", body = crate::api::error::ErrorBody),
        (status = 413, description = "Body over 8 KiB", body = crate::api::error::ErrorBody),
        (status = 422, description = "A field is missing or unacceptable", body = crate::api::error::ErrorBody),
        (status = 429, description = "Too many reports from this address; see `Retry-After`", body = crate::api::error::ErrorBody),
    ))]
async fn report(State(state): State<AppState>, request: Request) -> Result<StatusCode, Response> {
    if let Some(refused) = state.client_errors.refusal(&request) {
        return Err(refused);
    }
    let browser = browser_family(
        request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let bytes = body_within(request, MAX_BODY).await?;
    let reported: ClientError =
        super::extract::parse_json(&bytes).map_err(IntoResponse::into_response)?;
    let kind = match reported.kind.as_str() {
        "panic" => "panic",
        "refresh" => "refresh",
        _ => {
            return Err(ApiError::unprocessable("kind", "must be panic or refresh").into_response())
        }
    };
    let message = super::extract::check_text("message", &reported.message, MAX_MESSAGE)
        .map_err(IntoResponse::into_response)?;
    let route = page_path(&reported.route).ok_or_else(|| {
        ApiError::unprocessable("route", "must be a path starting with /").into_response()
    })?;
    let build = match reported.build.as_deref() {
        None => "unknown",
        Some(b) if is_build(b) => b,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "build",
                "must be 1 to 64 letters, digits, dots, dashes or underscores",
            )
            .into_response())
        }
    };
    crate::metrics::frontend_error(kind);
    tracing::warn!(
        kind,
        route = %route,
        build,
        browser,
        message = %printable(&message),
        "error reported by a browser"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// The first line of a Sentry envelope.
#[derive(Deserialize)]
struct EnvelopeHeader {
    dsn: Option<String>,
}

/// Forwards a browser's Sentry envelope to the configured project.
#[utoipa::path(post, path = "/api/v1/client-errors/sentry", tag = "public",
    request_body(content = String, description = "A Sentry envelope (`application/x-sentry-envelope`): a JSON header line naming the `dsn`, then items"),
    responses(
        (status = 200, description = "Sentry's answer, passed back"),
        (status = 400, description = "Not an envelope, or its `dsn` is not the configured project", body = crate::api::error::ErrorBody),
        (status = 404, description = "No `[client_errors] sentry_dsn` is configured", body = crate::api::error::ErrorBody),
        (status = 413, description = "Envelope over 64 KiB", body = crate::api::error::ErrorBody),
        (status = 429, description = "Too many reports from this address; see `Retry-After`", body = crate::api::error::ErrorBody),
        (status = 502, description = "Sentry could not be reached", body = crate::api::error::ErrorBody),
        (status = 504, description = "Sentry did not answer within `sentry_timeout`", body = crate::api::error::ErrorBody),
    ))]
async fn sentry(State(state): State<AppState>, request: Request) -> Result<Response, Response> {
    let Some(tunnel) = state.sentry.as_deref() else {
        return Err(ApiError::not_found(
            "no Sentry DSN is configured ([client_errors] sentry_dsn)",
        )
        .into_response());
    };
    if let Some(refused) = state.client_errors.refusal(&request) {
        return Err(refused);
    }
    let envelope = body_within(request, MAX_ENVELOPE).await?;
    let first_line = envelope.split(|&b| b == b'\n').next().unwrap_or_default();
    let header: EnvelopeHeader = serde_json::from_slice(first_line).map_err(|_| {
        ApiError::invalid_field(
            "body",
            "must be a Sentry envelope: a JSON header line first",
        )
        .into_response()
    })?;
    let named = header
        .dsn
        .as_deref()
        .map(SentryDsn::parse)
        .ok_or_else(|| {
            ApiError::invalid_field("dsn", "the envelope's header must name its DSN")
                .into_response()
        })?
        .map_err(|reason| ApiError::invalid_field("dsn", reason).into_response())?;
    if !tunnel.dsn.same_project(&named) {
        return Err(ApiError::invalid_field(
            "dsn",
            "must name this page's Sentry project; nothing else is forwarded",
        )
        .into_response());
    }
    let answer = tunnel
        .http
        .post(tunnel.dsn.envelope_url())
        .header(CONTENT_TYPE, "application/x-sentry-envelope")
        .body(envelope)
        .send()
        .await
        .map_err(|error| {
            let (status, code, message) = if error.is_timeout() {
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "Sentry did not answer in time",
                )
            } else {
                (
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    "Sentry could not be reached",
                )
            };
            tracing::warn!(code, "a Sentry envelope was not forwarded");
            ApiError {
                status,
                code,
                message: message.to_owned(),
                field: None,
            }
            .into_response()
        })?;
    let status = answer.status();
    let mut response = Response::builder().status(status.as_u16());
    for name in [CONTENT_TYPE.as_str(), "retry-after", "x-sentry-rate-limits"] {
        if let Some(value) = answer.headers().get(name) {
            response = response.header(name, value.as_bytes());
        }
    }
    // Sentry answers `{"id": …}`; a few KiB is plenty.
    let body = answer.bytes().await.unwrap_or_default();
    let body = body.slice(..body.len().min(4096));
    tracing::info!(status = status.as_u16(), "Sentry envelope forwarded");
    response
        .body(axum::body::Body::from(body))
        .map_err(|error| ApiError::internal(&error).into_response())
}

/// The path of a page route: cut at `?` or `#`, at most 200 characters,
/// starting with `/`.
fn page_path(route: &str) -> Option<String> {
    let path = route.split(['?', '#']).next().unwrap_or_default().trim();
    (path.starts_with('/') && path.chars().count() <= 200 && !path.chars().any(char::is_control))
        .then(|| path.to_owned())
}

fn is_build(build: &str) -> bool {
    (1..=64).contains(&build.len())
        && build
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `text` with control characters (new lines included) as spaces, so a
/// report is one log line whatever it says.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The browser family of a `User-Agent`: `edge`, `opera`, `firefox`,
/// `chrome`, `safari` or `other`. By hand: a user-agent parsing crate
/// brings a database of thousands of patterns for these six answers.
pub fn browser_family(user_agent: Option<&str>) -> &'static str {
    let ua = user_agent.unwrap_or_default();
    // Order matters: Edge and Opera also say Chrome and Safari, Chrome
    // also says Safari.
    [
        ("Edg", "edge"),
        ("OPR/", "opera"),
        ("Firefox/", "firefox"),
        ("FxiOS/", "firefox"),
        ("Chrome/", "chrome"),
        ("CriOS/", "chrome"),
        ("Safari/", "safari"),
    ]
    .into_iter()
    .find(|(mark, _)| ua.contains(mark))
    .map_or("other", |(_, family)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_told_apart_by_their_marks() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "edge"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "chrome"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "safari"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/114.0.0.0", "opera"),
            ("curl/8.5.0", "other"),
        ];
        for (ua, family) in cases {
            assert_eq!(browser_family(Some(ua)), family, "{ua}");
        }
        assert_eq!(browser_family(None), "other");
    }

    #[test]
    fn routes_keep_their_path_only() {
        assert_eq!(
            page_path("/services/api?token=x#top").as_deref(),
            Some("/services/api")
        );
        assert_eq!(page_path("/").as_deref(), Some("/"));
        assert_eq!(page_path("https://evil.example/"), None);
        assert_eq!(page_path("/a\nb"), None);
        assert_eq!(page_path(&format!("/{}", "a".repeat(200))), None);
    }

    #[test]
    fn reports_are_limited_per_address_and_minute() {
        let limit = ReportLimit::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..PER_MINUTE {
            assert!(limit.hit(a).is_ok());
        }
        let wait = limit.hit(a).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(50), "{wait:?}");
        assert!(limit.hit(b).is_ok(), "another address has its own count");
    }

    #[test]
    fn messages_become_one_line() {
        assert_eq!(printable("a\nb\r\tc\u{1b}[31m"), "a b  c [31m");
    }
}
