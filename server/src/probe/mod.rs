//! Probes: one module per check kind behind the [`Probe`] trait.
//!
//! A probe never fails: every problem becomes a [`ProbeResult`] with a short
//! human error ("connection refused", "status 503, expected 2xx"). The caller
//! (the sampler) enforces the hard deadline around it as well, so a probe
//! that ignores its own timeout still cannot stall anything.

mod dns;
mod http;
pub mod push;
mod tcp;
mod tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::SampleOutcome;
use async_trait::async_trait;

pub use self::dns::DnsProbe;
pub use self::http::{HttpProbe, MAX_BODY_BYTES};
pub use self::push::PushProbe;
pub use self::tcp::TcpProbe;
pub use self::tls::{judge_expiry, TlsProbe};

use crate::clock::SharedClock;
use crate::config::{load_pem_certificates, resolve_check_url, CheckConfig, Config, ServiceConfig};

/// What one probe observed; the sampler stamps it into a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub outcome: SampleOutcome,
    pub latency_ms: Option<u32>,
    pub error: Option<String>,
}

impl ProbeResult {
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
    async fn run(&self, timeout: Duration) -> ProbeResult;

    /// How long to wait before the first run, at least.
    fn first_delay(&self) -> Duration {
        Duration::ZERO
    }
}

/// Shared resources probes are built from: the clock (TLS expiry), one
/// HTTP client per distinct (redirect limit, TLS verification) pair, so
/// connections are pooled.
#[derive(Clone)]
pub struct ProbeContext {
    clock: SharedClock,
    clients: Arc<Mutex<HashMap<(u8, bool), reqwest::Client>>>,
    /// rustls configs by extra CA file (`None`: public roots only).
    tls_configs: Arc<Mutex<HashMap<Option<PathBuf>, Arc<rustls::ClientConfig>>>>,
}

impl ProbeContext {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            clients: Arc::default(),
            tls_configs: Arc::default(),
        }
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

    fn tls_config(&self, ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let key = ca_file.map(Path::to_path_buf);
        let mut configs = self
            .tls_configs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(config) = configs.get(&key) {
            return Ok(Arc::clone(config));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            for cert in load_pem_certificates(path).map_err(anyhow::Error::msg)? {
                roots.add(cert)?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        configs.insert(key, Arc::clone(&config));
        Ok(config)
    }

    /// Builds the probe for a validated service config. Push checks read
    /// heartbeats from the database, so they are built with [`PushProbe::new`].
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
            CheckConfig::Push(_) => anyhow::bail!("push checks are built with PushProbe::new"),
            CheckConfig::Dns(check) => {
                let server = check
                    .server_addr()
                    .transpose()
                    .map_err(anyhow::Error::msg)?;
                Arc::new(DnsProbe::new(
                    check.name.clone(),
                    server,
                    check.expected.clone(),
                    config.timeout_of(service),
                )?)
            }
            CheckConfig::Tls(check) => Arc::new(TlsProbe::new(
                check.host.clone(),
                check.port,
                check.server_name(),
                check.degraded_within,
                self.tls_config(check.ca_file.as_deref())?,
                Arc::clone(&self.clock),
            )?),
        })
    }
}
