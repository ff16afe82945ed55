//! `tls` checks: a TLS handshake with full chain verification, then the
//! leaf certificate's expiry. Expired or untrusted = down; expiring within
//! `degraded_within` days = degraded ("certificate expires in 3 days").

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::SampleOutcome;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rustls::pki_types::ServerName;
use rustls::CertificateError;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{millis, Probe, ProbeResult};
use crate::clock::SharedClock;

pub struct TlsProbe {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    degraded_within: chrono::Duration,
    connector: TlsConnector,
    /// Expiry is judged against this clock.
    clock: SharedClock,
}

impl TlsProbe {
    pub fn new(
        host: String,
        port: u16,
        server_name: &str,
        degraded_within_days: u32,
        config: Arc<rustls::ClientConfig>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            host,
            port,
            server_name: ServerName::try_from(server_name.to_owned())?,
            degraded_within: chrono::Duration::days(i64::from(degraded_within_days)),
            connector: TlsConnector::from(config),
            clock,
        })
    }

    async fn handshake(&self) -> Result<Vec<u8>, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                _ => e.to_string(),
            })?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| describe_handshake_error(&e, &self.server_name))?;
        let (_, connection) = tls.get_ref();
        connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.as_ref().to_vec())
            .ok_or_else(|| "server sent no certificate".to_owned())
    }
}

#[async_trait]
impl Probe for TlsProbe {
    async fn run(&self, timeout: Duration) -> ProbeResult {
        let started = Instant::now();
        let leaf = match tokio::time::timeout(timeout, self.handshake()).await {
            Ok(Ok(leaf)) => leaf,
            Ok(Err(reason)) => return ProbeResult::down(None, reason),
            Err(_) => {
                return ProbeResult::down(None, format!("timed out after {}s", timeout.as_secs()))
            }
        };
        let latency = started.elapsed();
        let not_after = match not_after(&leaf) {
            Ok(at) => at,
            Err(reason) => return ProbeResult::down(Some(latency), reason),
        };
        judge_expiry(not_after, self.clock.now(), self.degraded_within, latency)
    }
}

/// The verdict on a verified certificate that expires at `not_after`.
pub fn judge_expiry(
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
    degraded_within: chrono::Duration,
    latency: Duration,
) -> ProbeResult {
    let left = not_after - now;
    if left <= chrono::Duration::zero() {
        return ProbeResult::down(Some(latency), "certificate expired");
    }
    if left < degraded_within {
        let days = left.num_days();
        let when = match days {
            0 => "in less than a day".to_owned(),
            1 => "in 1 day".to_owned(),
            n => format!("in {n} days"),
        };
        return ProbeResult {
            outcome: SampleOutcome::Degraded,
            latency_ms: Some(millis(latency)),
            error: Some(format!("certificate expires {when}")),
        };
    }
    ProbeResult::up(latency)
}

fn not_after(der: &[u8]) -> Result<DateTime<Utc>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| "certificate could not be parsed".to_owned())?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| "certificate expiry out of range".to_owned())
}

fn describe_handshake_error(err: &std::io::Error, name: &ServerName<'_>) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("TLS handshake failed: {err}");
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "certificate not trusted (unknown issuer)".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("certificate not valid for {}", name.to_str())
            }
            CertificateError::Revoked => "certificate revoked".to_owned(),
            other => format!("invalid certificate: {other:?}"),
        },
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn expiry_is_judged_by_days_left() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let window = chrono::Duration::days(14);
        let lat = Duration::from_millis(5);
        let cases = [
            (chrono::Duration::days(90), SampleOutcome::Up, None),
            (
                chrono::Duration::days(14) + chrono::Duration::hours(1),
                SampleOutcome::Up,
                None,
            ),
            (
                chrono::Duration::days(3) + chrono::Duration::hours(5),
                SampleOutcome::Degraded,
                Some("certificate expires in 3 days"),
            ),
            (
                chrono::Duration::days(1) + chrono::Duration::hours(1),
                SampleOutcome::Degraded,
                Some("certificate expires in 1 day"),
            ),
            (
                chrono::Duration::hours(5),
                SampleOutcome::Degraded,
                Some("certificate expires in less than a day"),
            ),
            (
                -chrono::Duration::hours(1),
                SampleOutcome::Down,
                Some("certificate expired"),
            ),
        ];
        for (left, outcome, error) in cases {
            let got = judge_expiry(now + left, now, window, lat);
            assert_eq!(got.outcome, outcome, "{left}");
            assert_eq!(got.error.as_deref(), error, "{left}");
        }
    }
}
