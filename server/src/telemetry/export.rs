//! Finished spans to the collector, bounded: a queue of at most
//! [`QUEUE`] spans and one tokio task that exports them in batches.
//!
//! Why not the SDK's `BatchSpanProcessor`: it runs on a thread of its own
//! without a tokio runtime, so it needs either a blocking HTTP client (a
//! second `reqwest` with its own TLS stack) or none of tonic and hyper; and
//! it drops spans silently, where we count every one
//! (`upbeat_traces_dropped_total`). Here a finished span is offered to a
//! bounded channel without waiting: a full queue (the collector slow or
//! away) drops it and counts it, so no request ever waits on the
//! collector and memory stays at most [`QUEUE`] spans plus the batch in
//! flight. The task sends a batch when [`BATCH`] spans wait or [`EVERY`]
//! after the first, each send bounded by [`TIMEOUT`]; a failed or late
//! batch is dropped and counted, not retried, so a collector that is down
//! costs one attempt per batch.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::Context;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::traces::{Protocol, Tracing};

/// Spans waiting for export, at most.
pub const QUEUE: usize = 2048;
/// Spans in one export request, at most.
pub const BATCH: usize = 512;
/// How long the first span of a batch waits for others.
pub const EVERY: Duration = Duration::from_secs(1);
/// One export request, at most (also the exporter's own timeout).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Failed exports are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The SDK's end of the queue.
#[derive(Debug)]
pub struct Queue {
    spans: mpsc::Sender<SpanData>,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.spans.try_send(span).is_err() {
            crate::metrics::traces_dropped(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The exporting task, to stop at shutdown.
pub struct Exporting {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Exporting {
    /// Sends what is queued (within [`TIMEOUT`]) and stops.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(TIMEOUT + Duration::from_secs(1), self.task).await;
    }
}

/// The exporter for `tracing` with `resource`, its queue and its task.
/// Must run inside the tokio runtime.
pub fn start(
    tracing: &Tracing,
    resource: &Resource,
) -> Result<(Queue, Exporting), opentelemetry_otlp::ExporterBuildError> {
    let mut exporter = match tracing.protocol {
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(Reqwest::new()?)
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(traces_url(&tracing.endpoint))
            .with_timeout(TIMEOUT)
            .build()?,
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(tracing.endpoint.as_str())
            .with_timeout(TIMEOUT)
            .build()?,
    };
    exporter.set_resource(resource);
    let (spans, queue) = mpsc::channel(QUEUE);
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(exporter, queue, stop.clone()));
    Ok((Queue { spans }, Exporting { stop, task }))
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` is the collector's base address; traces
/// go to its `v1/traces`, as the specification says.
pub fn traces_url(base: &url::Url) -> String {
    let base = base.as_str();
    if base.ends_with('/') {
        format!("{base}v1/traces")
    } else {
        format!("{base}/v1/traces")
    }
}

async fn run(
    exporter: opentelemetry_otlp::SpanExporter,
    mut queue: mpsc::Receiver<SpanData>,
    stop: CancellationToken,
) {
    let mut warned: Option<Instant> = None;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            got = queue.recv_many(&mut batch, BATCH) => if got == 0 { break },
        }
        // The first span waits at most EVERY for company.
        let deadline = Instant::now() + EVERY;
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep_until(deadline) => break,
                got = queue.recv_many(&mut batch, room) => if got == 0 { break },
            }
        }
        export(&exporter, &mut batch, &mut warned).await;
        if stop.is_cancelled() {
            break;
        }
    }
    // Shutting down: what is queued now, in batches, until the caller's
    // deadline ends this task.
    while let Ok(span) = queue.try_recv() {
        batch.push(span);
        if batch.len() == BATCH {
            export(&exporter, &mut batch, &mut warned).await;
        }
    }
    export(&exporter, &mut batch, &mut warned).await;
}

async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: &mut Vec<SpanData>,
    warned: &mut Option<Instant>,
) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::replace(batch, Vec::with_capacity(BATCH));
    let count = spans.len();
    let outcome = tokio::time::timeout(TIMEOUT, exporter.export(spans)).await;
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {}s", TIMEOUT.as_secs()),
    };
    crate::metrics::traces_dropped(count);
    if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
        *warned = Some(Instant::now());
        tracing::warn!(spans = count, %error, "spans not exported (dropped; see upbeat_traces_dropped_total)");
    }
}

/// OTLP over HTTP with the `reqwest` the rest of the server uses (the
/// exporter's own choices are a blocking client or a second `reqwest`).
#[derive(Debug)]
struct Reqwest(reqwest::Client);

impl Reqwest {
    fn new() -> Result<Self, opentelemetry_otlp::ExporterBuildError> {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(Self)
            .map_err(|error| {
                opentelemetry_otlp::ExporterBuildError::InternalFailure(format!(
                    "the HTTP client for traces: {error}"
                ))
            })
    }
}

#[async_trait]
impl HttpClient for Reqwest {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let answer = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let mut response = Response::builder().status(answer.status());
        if let Some(headers) = response.headers_mut() {
            headers.extend(answer.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(response.body(answer.bytes().await?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_v1_traces_under_the_base() {
        for (base, want) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otel.example/prefix",
                "https://otel.example/prefix/v1/traces",
            ),
            (
                "https://otel.example/prefix/",
                "https://otel.example/prefix/v1/traces",
            ),
        ] {
            assert_eq!(traces_url(&url::Url::parse(base).unwrap()), want, "{base}");
        }
    }
}
