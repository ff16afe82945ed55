//! What every request goes through: a request id, a tracing span carrying
//! it (so every log line of the request has it), one log line when the
//! answer is sent, HTTP metrics by route template, and the security headers.
//!
//! - `x-request-id`: taken from the request when it is 1 to 128 visible
//!   ASCII characters, else generated (32 hex digits); returned in the
//!   response.
//! - The log line has method, route template, status, duration and client
//!   address; never the query string or any header (tokens travel in
//!   `Authorization` and push URLs). `[logging] access` says which requests
//!   get one: all (default), those answered 400 or more, or none; the
//!   metrics count every request either way.
//! - With traces on (`crate::trace`): a server span per request, named
//!   `GET /route/{template}`, continuing the caller's `traceparent`, its
//!   trace id returned in `X-Trace-Id`.
//! - Security headers: `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: strict-origin-when-cross-origin`, and for answers
//!   that did not set their own Content-Security-Policy (the pages set one
//!   with a nonce) a restrictive one that also forbids framing, except for
//!   the badges and `/embed`, which any site may frame.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::AccessLog;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id to use: the client's when it is reasonable, else a new one.
pub fn request_id(given: Option<&HeaderValue>) -> String {
    given
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(
            || {
                let mut bytes = [0u8; 16];
                rand::rng().fill_bytes(&mut bytes);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            },
            str::to_owned,
        )
}

/// The policy of answers that set none: nothing loads, nothing frames them.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Badges may be framed anywhere (some dashboards embed them so).
const FRAMABLE_CSP: &str = "default-src 'none'; frame-ancestors *; base-uri 'none'";

/// Route template for metrics and logs: bounded, never the raw path.
fn route_of(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "fallback".to_owned(), |m| m.as_str().to_owned())
}

pub async fn observe(
    State(access): State<AccessLog>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let method = request.method().as_str().to_owned();
    let route = route_of(&request);
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let framable = route == "/embed" || route.starts_with("/badge");
    let traced = crate::trace::enabled();
    let span = if traced {
        // The server span of the HTTP semantic conventions: named by
        // method and route template; its attributes are set on the span
        // itself rather than as fields, so the log lines keep their shape.
        let name = if route == "fallback" {
            method.clone()
        } else {
            format!("{method} {route}")
        };
        let span = tracing::info_span!("request", request_id = %id, otel.name = name, otel.kind = "server");
        crate::trace::continue_from(&span, request.headers());
        span.set_attribute("http.request.method", method.clone());
        span.set_attribute("http.route", route.clone());
        span.set_attribute("url.path", request.uri().path().to_owned());
        span
    } else {
        tracing::info_span!("request", request_id = %id)
    };
    let trace_id = crate::trace::trace_id(&span);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if traced {
        span.set_attribute("http.response.status_code", i64::from(status));
        if status >= 500 {
            span.set_status(opentelemetry::trace::Status::error(""));
        }
    }
    if access.logs(status) {
        span.in_scope(|| {
            tracing::info!(
                method = %method,
                route = %route,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                client = %client.map(|ip| ip.to_string()).unwrap_or_default(),
                "request"
            );
        });
    }
    crate::metrics::http_request(&method, &route, status, elapsed);

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    if let Some(trace_id) = trace_id {
        headers.insert(crate::trace::TRACE_ID, trace_id);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        let csp = if framable { FRAMABLE_CSP } else { DEFAULT_CSP };
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_reasonable() {
        let keep = HeaderValue::from_static("abc-123");
        assert_eq!(request_id(Some(&keep)), "abc-123");
        for bad in ["", "has space", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).expect("header");
            let id = request_id(Some(&value));
            assert_eq!(id.len(), 32, "{bad:?} -> {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
