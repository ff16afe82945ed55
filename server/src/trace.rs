//! Trace context for every layer: whether traces are on, the W3C
//! `traceparent` of incoming requests and of outgoing ones (alert webhooks,
//! HTTP probes that opt in), and the trace id of a span.
//!
//! The pipeline itself (exporter, processor, log correlation) is wired in
//! `telemetry`; this module only reads the `tracing` span's OpenTelemetry
//! context, so the API, probes and engine use it without depending on the
//! wiring. While traces are off every function here returns at once: no
//! header is parsed or written, no id formatted.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);

/// The header responses carry the trace id in.
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");

/// Whether spans are exported (set once, by `telemetry::init`).
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Called by the wiring once the exporter is installed.
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

/// Makes `span` the child of the caller's trace when `headers` carry a
/// valid `traceparent` (and `tracestate`). Call it before the span is
/// first entered; an invalid header is ignored, as the W3C specification
/// asks, and the span starts a trace of its own.
pub fn continue_from(span: &tracing::Span, headers: &HeaderMap) {
    if !enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when the span has started already, which callers rule out.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` (and `tracestate`) headers of `span`, for an
/// outgoing request, so the receiver's spans join this trace; none while
/// traces are off.
pub fn propagation(span: &tracing::Span) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if enabled() {
        let context = span.context();
        if context.span().span_context().is_valid() {
            TraceContextPropagator::new()
                .inject_context(&context, &mut HeaderInjector(&mut headers));
        }
    }
    headers
}

/// The trace id of `span` (32 hex digits) as a header value, when its
/// trace is sampled (an id nobody kept would lead nowhere).
pub fn trace_id(span: &tracing::Span) -> Option<HeaderValue> {
    if !enabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_sampled()
        .then(|| HeaderValue::from_str(&span_context.trace_id().to_string()).ok())
        .flatten()
}
