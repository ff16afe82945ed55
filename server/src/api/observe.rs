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
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::AccessLog;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id to use: the client's when it is reasonable, else a new one
/// (32 hex digits).
pub fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    if let Some(given) = given {
        let id = given.as_bytes().trim_ascii();
        if !id.is_empty() && id.len() <= 128 && id.iter().all(u8::is_ascii_graphic) {
            return if id.len() == given.len() {
                given.clone()
            } else {
                HeaderValue::from_bytes(id).unwrap_or_else(|_| given.clone())
            };
        }
    }
    let mut hex = [0u8; 32];
    // Cannot fail: the buffer is twice the bytes' length.
    let _ = hex::encode_to_slice(rand::random::<[u8; 16]>(), &mut hex);
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// The policy of answers that set none: nothing loads, nothing frames them.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// Badges may be framed anywhere (some dashboards embed them so).
const FRAMABLE_CSP: &str = "default-src 'none'; frame-ancestors *; base-uri 'none'";

/// Route template for metrics and logs: bounded, never the raw path.
fn route_of(request: &Request) -> Option<MatchedPath> {
    request.extensions().get::<MatchedPath>().cloned()
}

pub async fn observe(
    State(access): State<AccessLog>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let method = crate::metrics::method_label(request.method());
    let matched = route_of(&request);
    let route = matched.as_ref().map_or("fallback", MatchedPath::as_str);
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let framable = route == "/embed" || route.starts_with("/badge");
    let traced = crate::trace::enabled();
    // Visible ASCII, checked by `request_id`.
    let id_text = id.to_str().unwrap_or_default();
    let span = if traced {
        // The server span of the HTTP semantic conventions: named by
        // method and route template; its attributes are set on the span
        // itself rather than as fields, so the log lines keep their shape.
        let name = if matched.is_none() {
            method.to_owned()
        } else {
            format!("{method} {route}")
        };
        let span = tracing::info_span!("request", request_id = %id_text, otel.name = name, otel.kind = "server");
        crate::trace::continue_from(&span, request.headers());
        span.set_attribute("http.request.method", method);
        span.set_attribute("http.route", route.to_owned());
        span.set_attribute("url.path", request.uri().path().to_owned());
        span
    } else {
        tracing::info_span!("request", request_id = %id_text)
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
    crate::metrics::http_request(method, route, status, elapsed);

    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, id);
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
        let padded = HeaderValue::from_static(" abc-123 ");
        assert_eq!(request_id(Some(&padded)), "abc-123", "trimmed");
        for bad in ["", "has space", &"x".repeat(129)] {
            let value = HeaderValue::from_str(bad).expect("header");
            let id = request_id(Some(&value));
            assert_eq!(id.len(), 32, "{bad:?} -> {id:?}");
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
