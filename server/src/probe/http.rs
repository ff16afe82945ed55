//! `http` checks: one request, judged by its status code.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use url::Url;

use super::{Outcome, Probe};

pub struct HttpProbe {
    client: reqwest::Client,
    url: Url,
    method: Method,
    headers: HeaderMap,
    /// Empty means any 2xx.
    expected_status: Vec<u16>,
}

impl HttpProbe {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        method: &str,
        headers: &BTreeMap<String, String>,
        expected_status: Vec<u16>,
    ) -> anyhow::Result<Self> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let mut value = HeaderValue::from_str(value)?;
            // Header values often carry credentials: keep them out of debug output.
            value.set_sensitive(true);
            map.insert(HeaderName::from_bytes(name.as_bytes())?, value);
        }
        Ok(Self {
            client,
            url,
            method: Method::from_bytes(method.as_bytes())?,
            headers: map,
            expected_status,
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
    async fn run(&self, timeout: Duration) -> Outcome {
        let started = Instant::now();
        let result = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .timeout(timeout)
            .send()
            .await;
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                if self.status_ok(status) {
                    Outcome::up(latency)
                } else {
                    Outcome::down(
                        Some(latency),
                        format!("status {status}, expected {}", self.expected_text()),
                    )
                }
            }
            Err(err) => Outcome::down(None, describe_error(&err, timeout)),
        }
    }
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
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                std::io::ErrorKind::TimedOut => format!("timed out after {}", humanize(timeout)),
                _ => io.to_string(),
            };
        }
        let text = cause.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return "unknown host".to_owned();
        }
        source = cause.source();
    }
    if err.is_connect() {
        "connection failed".to_owned()
    } else if err.is_body() || err.is_decode() {
        "invalid response body".to_owned()
    } else {
        "request failed".to_owned()
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
