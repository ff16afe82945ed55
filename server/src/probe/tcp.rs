//! `tcp` checks: a connection opens within the timeout.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::net::TcpStream;

use super::{Probe, ProbeResult};

pub struct TcpProbe {
    host: String,
    port: u16,
}

impl TcpProbe {
    pub fn new(host: String, port: u16) -> Self {
        Self { host, port }
    }
}

#[async_trait]
impl Probe for TcpProbe {
    async fn run(&self, timeout: Duration) -> ProbeResult {
        let started = Instant::now();
        match tokio::time::timeout(timeout, TcpStream::connect((self.host.as_str(), self.port)))
            .await
        {
            Ok(Ok(_stream)) => ProbeResult::up(started.elapsed()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                ProbeResult::down(None, "connection refused")
            }
            Ok(Err(e)) => ProbeResult::down(None, e.to_string()),
            Err(_) => ProbeResult::down(None, format!("timed out after {}s", timeout.as_secs())),
        }
    }
}
