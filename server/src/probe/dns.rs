//! `dns` checks: resolve a name (A and AAAA) with hickory-resolver, through
//! the system resolver or a given server, optionally expecting addresses.
//! The resolver keeps no cache, so every probe asks the server afresh.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::{Probe, ProbeResult};

pub struct DnsProbe {
    resolver: TokioResolver,
    name: String,
    expected: Vec<IpAddr>,
}

impl DnsProbe {
    pub fn new(
        name: String,
        server: Option<SocketAddr>,
        expected: Vec<IpAddr>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut builder = match server {
            Some(addr) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = timeout;
        options.attempts = 1;
        options.cache_size = 0;
        Ok(Self {
            resolver: builder.build(),
            name,
            expected,
        })
    }
}

#[async_trait]
impl Probe for DnsProbe {
    async fn run(&self, timeout: Duration) -> ProbeResult {
        let started = Instant::now();
        let lookup = match tokio::time::timeout(
            timeout,
            self.resolver.lookup_ip(self.name.as_str()),
        )
        .await
        {
            Err(_) => {
                return ProbeResult::down(None, format!("timed out after {}s", timeout.as_secs()))
            }
            Ok(Err(err)) if err.is_no_records_found() => {
                return ProbeResult::down(None, format!("no address found for {}", self.name));
            }
            Ok(Err(err)) => return ProbeResult::down(None, format!("lookup failed: {err}")),
            Ok(Ok(lookup)) => lookup,
        };
        let latency = started.elapsed();
        let answers: Vec<IpAddr> = lookup.iter().collect();
        if self.expected.is_empty() || answers.iter().any(|ip| self.expected.contains(ip)) {
            return ProbeResult::up(latency);
        }
        let list = |ips: &[IpAddr]| {
            ips.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        ProbeResult::down(
            Some(latency),
            format!(
                "resolved to {}, expected {}",
                list(&answers),
                list(&self.expected)
            ),
        )
    }
}
