//! Probes: one module per check kind behind the [`Probe`] trait.
//!
//! A probe never fails: every problem becomes an [`Outcome`] with a short
//! human error ("connection refused", "status 503, expected 2xx"). The caller
//! (the sampler) enforces the hard deadline around it as well, so a probe
//! that ignores its own timeout still cannot stall anything.

mod http;
mod tcp;

use std::sync::Arc;
use std::time::Duration;

use app::model::SampleOutcome;
use async_trait::async_trait;

pub use self::http::HttpProbe;
pub use self::tcp::TcpProbe;

use crate::config::{resolve_check_url, CheckConfig, Config, ServiceConfig};

/// What one probe observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub outcome: SampleOutcome,
    pub latency_ms: Option<u32>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn up(latency: Duration) -> Self {
        Self {
            outcome: SampleOutcome::Up,
            latency_ms: Some(millis(latency)),
            error: None,
        }
    }

    pub fn down(latency: Option<Duration>, error: impl Into<String>) -> Self {
        Self {
            outcome: SampleOutcome::Down,
            latency_ms: latency.map(millis),
            error: Some(error.into()),
        }
    }
}

pub fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// A check that can be run repeatedly.
#[async_trait]
pub trait Probe: Send + Sync {
    async fn run(&self, timeout: Duration) -> Outcome;
}

/// Shared resources probes are built from.
#[derive(Clone)]
pub struct ProbeContext {
    http: reqwest::Client,
}

impl ProbeContext {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "Upbeat/",
                env!("CARGO_PKG_VERSION"),
                " (status page probe)"
            ))
            .redirect(reqwest::redirect::Policy::limited(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self { http })
    }

    /// Builds the probe for a validated service config.
    pub fn probe_for(
        &self,
        config: &Config,
        service: &ServiceConfig,
    ) -> anyhow::Result<Arc<dyn Probe>> {
        Ok(match &service.check {
            CheckConfig::Http {
                url,
                method,
                headers,
                expected_status,
            } => {
                let url = resolve_check_url(url, &config.server.base_url())
                    .map_err(anyhow::Error::msg)?;
                Arc::new(HttpProbe::new(
                    self.http.clone(),
                    url,
                    method,
                    headers,
                    expected_status.clone(),
                )?)
            }
            CheckConfig::Tcp { host, port } => Arc::new(TcpProbe::new(host.clone(), *port)),
        })
    }
}
