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

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};
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

/// The layer putting [`Observe`] around every route.
///
/// A `tower` service rather than `axum::middleware::from_fn`: `from_fn`
/// boxes the rest of the stack and its own future on every request, which
/// this layer, around every answer, need not pay.
#[derive(Clone, Copy, Debug)]
pub struct ObserveLayer(pub AccessLog);

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            access: self.0,
        }
    }
}

/// Request id, tracing span, access log, metrics and security headers
/// around `S` (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    access: AccessLog,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
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
        let inner = span.in_scope(|| self.inner.call(request));
        Observed {
            inner: inner.instrument(span),
            after: Some(After {
                started,
                id,
                trace_id,
                method,
                matched,
                client,
                framable,
                traced,
                access: self.access,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// An [`Observe`]d answer being made.
    pub struct Observed<F> {
        #[pin]
        inner: Instrumented<F>,
        after: Option<After>,
    }
}

/// What the answer's log line, metrics and headers need from the request.
struct After {
    started: Instant,
    id: HeaderValue,
    trace_id: Option<HeaderValue>,
    method: &'static str,
    matched: Option<MatchedPath>,
    client: Option<IpAddr>,
    framable: bool,
    traced: bool,
    access: AccessLog,
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = std::task::ready!(this.inner.as_mut().poll(cx))?;
        if let Some(after) = this.after.take() {
            after.finish(this.inner.span(), &mut response);
        }
        Poll::Ready(Ok(response))
    }
}

impl After {
    fn finish(self, span: &Span, response: &mut Response) {
        let elapsed = self.started.elapsed();
        let route = self
            .matched
            .as_ref()
            .map_or("fallback", MatchedPath::as_str);
        let status = response.status().as_u16();
        if self.traced {
            span.set_attribute("http.response.status_code", i64::from(status));
            if status >= 500 {
                span.set_status(opentelemetry::trace::Status::error(""));
            }
        }
        if self.access.logs(status) {
            span.in_scope(|| {
                tracing::info!(
                    method = %self.method,
                    route = %route,
                    status,
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    client = %self.client.map(|ip| ip.to_string()).unwrap_or_default(),
                    "request"
                );
            });
        }
        crate::metrics::http_request(self.method, route, status, elapsed);

        let headers = response.headers_mut();
        headers.insert(REQUEST_ID, self.id);
        if let Some(trace_id) = self.trace_id {
            headers.insert(crate::trace::TRACE_ID, trace_id);
        }
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(
            REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        if !headers.contains_key(CONTENT_SECURITY_POLICY) {
            let csp = if self.framable {
                FRAMABLE_CSP
            } else {
                DEFAULT_CSP
            };
            headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
        }
    }
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
