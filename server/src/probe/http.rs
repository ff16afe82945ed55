//! `http` checks: one request, judged by status code, then body conditions,
//! then latency.
//!
//! - The body is read only when there are conditions, and never past
//!   [`MAX_BODY_BYTES`]: a huge or endless body costs at most that much.
//! - Latency is the time to the response headers.
//! - The request timeout covers connecting, headers and the body read; the
//!   sampler's hard deadline backs it up.

use std::error::Error as _;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tracing::Instrument;
use url::Url;

use super::{millis, Probe, ProbeResult};
use crate::config::HttpCheck;
use crate::domain::conditions::{evaluate, Condition};
use app::model::SampleOutcome;

/// At most this much of a response body is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct HttpProbe {
    client: reqwest::Client,
    url: Url,
    method: Method,
    headers: HeaderMap,
    body: Option<String>,
    /// Empty means any 2xx.
    expected_status: Vec<u16>,
    conditions: Vec<Condition>,
    degraded_over: Option<Duration>,
    /// Send the probe's `traceparent`, so the target's spans join its trace.
    propagate_trace: bool,
    /// `url.full` of the client span: the URL without credentials or query.
    traced_url: String,
}

impl HttpProbe {
    /// Builds the probe from a validated check; `client` must follow the
    /// check's redirect and TLS settings.
    pub fn new(client: reqwest::Client, url: Url, check: &HttpCheck) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        for (name, value) in &check.headers {
            let mut value = HeaderValue::from_str(value)?;
            // Header values often carry credentials: keep them out of debug output.
            value.set_sensitive(true);
            headers.insert(HeaderName::from_bytes(name.as_bytes())?, value);
        }
        let conditions = check
            .conditions
            .iter()
            .map(Condition::try_from)
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?;
        let mut traced = url.clone();
        let _ = traced.set_username("");
        let _ = traced.set_password(None);
        traced.set_query(None);
        traced.set_fragment(None);
        Ok(Self {
            client,
            traced_url: traced.into(),
            propagate_trace: check.propagate_trace,
            url,
            method: Method::from_bytes(check.method.as_bytes())?,
            headers,
            body: check.body.clone(),
            expected_status: check.expected_status.clone(),
            conditions,
            degraded_over: check.degraded_over,
        })
    }

    fn status_ok(&self, status: u16) -> bool {
        if self.expected_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expected_status.contains(&status)
        }
    }

    fn expected_text(&self) -> String {
        if self.expected_status.is_empty() {
            "2xx".to_owned()
        } else {
            self.expected_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        }
    }
}

#[async_trait]
impl Probe for HttpProbe {
    async fn run(&self, timeout: Duration) -> ProbeResult {
        // The client span of the HTTP semantic conventions, below `info`:
        // disabled at the call site unless traces are on.
        let span = tracing::debug_span!(
            "http client",
            otel.name = %self.method,
            otel.kind = "client",
            http.request.method = %self.method,
            url.full = %self.traced_url,
            server.address = self.url.host_str().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        self.fetch(timeout, &span).instrument(span.clone()).await
    }
}

impl HttpProbe {
    async fn fetch(&self, timeout: Duration, span: &tracing::Span) -> ProbeResult {
        let started = Instant::now();
        let mut request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .timeout(timeout);
        if self.propagate_trace {
            request = request.headers(crate::trace::propagation(span));
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                span.record("otel.status_code", "error");
                return ProbeResult::down(None, describe_error(&err, timeout));
            }
        };
        let latency = started.elapsed();
        let status = response.status().as_u16();
        span.record("http.response.status_code", status);
        if status >= 400 {
            span.record("otel.status_code", "error");
        }
        if !self.status_ok(status) {
            return ProbeResult::down(
                Some(latency),
                format!("status {status}, expected {}", self.expected_text()),
            );
        }
        if !self.conditions.is_empty() {
            let (body, truncated) = match read_capped(response, MAX_BODY_BYTES).await {
                Ok(read) => read,
                Err(err) => return ProbeResult::down(Some(latency), describe_error(&err, timeout)),
            };
            if let Some(failure) = evaluate(&self.conditions, &body, truncated) {
                return ProbeResult {
                    outcome: if failure.soft {
                        SampleOutcome::Degraded
                    } else {
                        SampleOutcome::Down
                    },
                    latency_ms: Some(millis(latency)),
                    error: Some(failure.message),
                };
            }
        }
        if let Some(limit) = self.degraded_over.filter(|limit| latency > *limit) {
            return ProbeResult {
                outcome: SampleOutcome::Degraded,
                latency_ms: Some(millis(latency)),
                error: Some(format!(
                    "slow: {} ms (over {} ms)",
                    latency.as_millis(),
                    limit.as_millis()
                )),
            };
        }
        ProbeResult::up(latency)
    }
}

/// Reads at most `cap` bytes of the body; `true` when there was more. The
/// rest is never read: dropping the response closes the connection.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// A short, human description of a request failure, without the URL (which
/// may carry credentials).
pub fn describe_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("timed out after {}", humanize(timeout));
    }
    if err.is_redirect() {
        return "too many redirects".to_owned();
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => {
                    return format!("timed out after {}", humanize(timeout))
                }
                _ => {}
            }
        }
        let text = cause.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return "unknown host".to_owned();
        }
        if text.contains("certificate") || text.contains("InvalidCertificate") {
            return format!("TLS certificate rejected: {}", tls_reason(&text));
        }
        source = cause.source();
    }
    if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "response body could not be read".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// The useful part of a rustls certificate error.
fn tls_reason(text: &str) -> &'static str {
    if text.contains("Expired") {
        "expired"
    } else if text.contains("UnknownIssuer") {
        "unknown issuer (self-signed?)"
    } else if text.contains("NotValidForName") {
        "not valid for this host name"
    } else {
        "invalid"
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
