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

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::USER_AGENT;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::limit::{client_ip, too_many, PerAddress};
use super::AppState;

/// Largest body accepted, in bytes.
pub const MAX_BODY: usize = 8 * 1024;
/// Reports accepted per client address and minute.
pub const PER_MINUTE: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
/// Longest message kept, in characters.
const MAX_MESSAGE: usize = 2_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
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
        if let Some(wait) = self.0.wait(ip, PER_MINUTE, WINDOW) {
            return Err(wait);
        }
        self.0.add(ip, WINDOW);
        Ok(())
    }
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
    if let Err(wait) = state.client_errors.hit(client_ip(request.extensions())) {
        return Err(too_many(
            "too_many_reports",
            format!("at most {PER_MINUTE} error reports a minute; try again later"),
            wait,
        ));
    }
    let browser = browser_family(
        request
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "too_large",
                message: format!("must be at most {MAX_BODY} bytes"),
                field: Some("body".to_owned()),
            }
            .into_response()
        })?;
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
