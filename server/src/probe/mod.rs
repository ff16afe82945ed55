//! Probes: one module per check kind behind the [`Probe`] trait.
//!
//! A probe never fails: every problem becomes an [`Outcome`] with a short
//! human error ("connection refused", "status 503, expected 2xx"). The caller
//! (the sampler) enforces the hard deadline around it as well, so a probe
//! that ignores its own timeout still cannot stall anything.

pub mod conditions;
mod http;
mod tcp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::SampleOutcome;
use async_trait::async_trait;

pub use self::conditions::Condition;
pub use self::http::{HttpProbe, MAX_BODY_BYTES};
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

/// Shared resources probes are built from: one HTTP client per distinct
/// (redirect limit, TLS verification) pair, so connections are pooled.
#[derive(Clone, Default)]
pub struct ProbeContext {
    clients: Arc<Mutex<HashMap<(u8, bool), reqwest::Client>>>,
}

impl ProbeContext {
    pub fn new() -> Self {
        Self::default()
    }

    fn http_client(&self, max_redirects: u8, verify_tls: bool) -> anyhow::Result<reqwest::Client> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(&(max_redirects, verify_tls)) {
            return Ok(client.clone());
        }
        let redirects = if max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(usize::from(max_redirects))
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "Upbeat/",
                env!("CARGO_PKG_VERSION"),
                " (status page probe)"
            ))
            .redirect(redirects)
            .danger_accept_invalid_certs(!verify_tls)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        clients.insert((max_redirects, verify_tls), client.clone());
        Ok(client)
    }

    /// Builds the probe for a validated service config.
    pub fn probe_for(
        &self,
        config: &Config,
        service: &ServiceConfig,
    ) -> anyhow::Result<Arc<dyn Probe>> {
        Ok(match &service.check {
            CheckConfig::Http(check) => {
                let url = resolve_check_url(&check.url, &config.server.base_url())
                    .map_err(anyhow::Error::msg)?;
                let client = self.http_client(check.max_redirects, check.verify_tls)?;
                Arc::new(HttpProbe::new(client, url, check)?)
            }
            CheckConfig::Tcp(check) => Arc::new(TcpProbe::new(check.host.clone(), check.port)),
        })
    }
}
