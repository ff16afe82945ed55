//! Services and what to probe for each: `[[services]]`, the
//! `[services.check]` table with one struct per `kind`, and the helpers that
//! validation and the probes share (`resolve_check_url`,
//! `load_pem_certificates`, body conditions). Sharing them is the point:
//! a check URL or CA file accepted at start is read exactly the same way
//! when the probe runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::duration::{de_duration, de_opt_duration, ser_duration, ser_opt_duration};
use crate::domain::conditions::{Condition, Rule};

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Stable identifier used in URLs and the database.
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    /// How often to probe; defaults to `defaults.interval`.
    #[serde(
        default,
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration"
    )]
    pub interval: Option<Duration>,
    /// Hard deadline for one probe; defaults to `defaults.timeout`.
    #[serde(
        default,
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration"
    )]
    pub timeout: Option<Duration>,
    /// Defaults to `defaults.failure_threshold`.
    pub failure_threshold: Option<u32>,
    /// Defaults to `defaults.recovery_threshold`.
    pub recovery_threshold: Option<u32>,
    /// Objectives: `false`, `true` or a table over `defaults.slo`.
    pub slo: Option<super::slo::SloSetting>,
    pub check: CheckConfig,
}

/// What to probe. `kind` selects the variant.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CheckConfig {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Tls(TlsCheck),
    Dns(DnsCheck),
    Push(PushCheck),
}

impl CheckConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Tls(_) => "tls",
            Self::Dns(_) => "dns",
            Self::Push(_) => "push",
        }
    }
}

/// An HTTP request judged by status code, body conditions and latency.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Absolute, or a path (`/health`) resolved against the server's own base URL.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as is.
    pub body: Option<String>,
    /// Accepted status codes; empty means any 2xx.
    #[serde(default)]
    pub expected_status: Vec<u16>,
    /// Conditions on the response body; all must hold.
    #[serde(default)]
    pub conditions: Vec<BodyCondition>,
    /// Slower responses (time to response headers) count as degraded.
    #[serde(
        default,
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration"
    )]
    pub degraded_over: Option<Duration>,
    /// Redirects followed before giving up; 0 judges the redirect itself.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// Verify the server's TLS certificate (on by default).
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    /// Send the probe's W3C `traceparent` (while traces are on), so the
    /// target's own spans join the probe's trace. Off by default: the
    /// header tells the target it is being traced.
    #[serde(default)]
    pub propagate_trace: bool,
}

/// A TCP connect.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
}

/// A TLS handshake: the certificate chain must be valid, and its expiry
/// more than `degraded_within` days away (closer = degraded; expired or
/// invalid = down).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    pub host: String,
    #[serde(default = "default_tls_port")]
    pub port: u16,
    /// Name to verify the certificate against; defaults to `host`.
    pub server_name: Option<String>,
    /// Days of validity left below which the service is degraded.
    #[serde(default = "default_degraded_within")]
    pub degraded_within: u32,
    /// Extra trusted roots (PEM), for private CAs; added to the public roots.
    pub ca_file: Option<PathBuf>,
}

impl TlsCheck {
    pub fn server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

fn default_tls_port() -> u16 {
    443
}

fn default_degraded_within() -> u32 {
    14
}

/// A DNS lookup of `name` (A and AAAA), through the system resolver or
/// `server`. With `expected`, at least one answer must be among them (round
/// robin DNS returns subsets).
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    pub name: String,
    /// `ip` or `ip:port` of the DNS server to ask; default: the system's.
    pub server: Option<String>,
    #[serde(default)]
    pub expected: Vec<std::net::IpAddr>,
}

impl DnsCheck {
    /// The server to ask, port 53 unless given.
    pub fn server_addr(&self) -> Option<Result<std::net::SocketAddr, String>> {
        self.server.as_deref().map(|raw| {
            raw.parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    raw.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| format!("\"{raw}\" is not an IP address or ip:port"))
        })
    }
}

/// Heartbeats sent to `/api/v1/push/{token}` by cron jobs and pipelines;
/// down when none arrives within `interval + grace`. The token is created
/// with `upbeat push-token SLUG`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PushCheck {
    #[serde(
        default = "default_grace",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub grace: Duration,
}

fn default_grace() -> Duration {
    Duration::from_secs(60)
}

/// One condition on an HTTP response body, as written in the config:
/// exactly one of `contains`, `not_contains`, `json_pointer` (with `equals`
/// or `exists`). `soft = true` makes a failure degraded instead of down.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BodyCondition {
    pub contains: Option<String>,
    pub not_contains: Option<String>,
    /// RFC 6901 pointer into a JSON body, e.g. `/checks/db`.
    pub json_pointer: Option<String>,
    pub equals: Option<serde_json::Value>,
    pub exists: Option<bool>,
    #[serde(default)]
    pub soft: bool,
}

impl TryFrom<&BodyCondition> for Condition {
    type Error = String;

    fn try_from(c: &BodyCondition) -> Result<Self, String> {
        let rule = match (&c.contains, &c.not_contains, &c.json_pointer) {
            (Some(text), None, None) => Rule::Contains(text.clone()),
            (None, Some(text), None) => Rule::NotContains(text.clone()),
            (None, None, Some(pointer)) => {
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return Err(format!(
                        "json_pointer \"{pointer}\" must start with / (RFC 6901)"
                    ));
                }
                match (&c.equals, c.exists) {
                    (Some(value), None) => Rule::PointerEquals(pointer.clone(), value.clone()),
                    (None, Some(exists)) => Rule::PointerExists(pointer.clone(), exists),
                    _ => return Err("json_pointer needs exactly one of equals or exists".into()),
                }
            }
            _ => return Err("needs exactly one of contains, not_contains or json_pointer".into()),
        };
        if !matches!(rule, Rule::PointerEquals(..) | Rule::PointerExists(..))
            && (c.equals.is_some() || c.exists.is_some())
        {
            return Err("equals and exists only apply to json_pointer".into());
        }
        Ok(Self { rule, soft: c.soft })
    }
}

/// Reads every certificate of a PEM file; at least one must be there.
pub fn load_pem_certificates(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: invalid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", path.display()));
    }
    Ok(certs)
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_max_redirects() -> u8 {
    5
}

fn default_true() -> bool {
    true
}

/// Resolves a check URL: absolute `http(s)` URLs as they are, and paths that
/// start with `/` against the server's own base URL.
pub fn resolve_check_url(raw: &str, base: &Url) -> Result<Url, String> {
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) if raw.starts_with('/') => {
            base.join(raw).map_err(|e| e.to_string())?
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(
                "relative URL without a base (use an absolute URL, or a path starting with /)"
                    .into(),
            )
        }
        Err(e) => return Err(e.to_string()),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme \"{}\" (use http or https)",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("URL has no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(text: &str) -> Result<Condition, String> {
        let raw: BodyCondition = toml::from_str(text).expect("condition parses as TOML");
        Condition::try_from(&raw)
    }

    #[test]
    fn body_conditions_parse_into_rules() {
        let cases: &[(&str, Rule, bool)] = &[
            (
                "contains = \"ready\"",
                Rule::Contains("ready".into()),
                false,
            ),
            (
                "not_contains = \"error\"\nsoft = true",
                Rule::NotContains("error".into()),
                true,
            ),
            (
                "json_pointer = \"/checks/db\"\nequals = true",
                Rule::PointerEquals("/checks/db".into(), json!(true)),
                false,
            ),
            (
                "json_pointer = \"/version\"\nexists = false",
                Rule::PointerExists("/version".into(), false),
                false,
            ),
        ];
        for (text, rule, soft) in cases {
            let parsed = condition(text).unwrap();
            assert_eq!((&parsed.rule, parsed.soft), (rule, *soft), "{text}");
        }
    }

    #[test]
    fn invalid_conditions_are_rejected_with_a_reason() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("", "needs exactly one of contains, not_contains or json_pointer"),
            ("contains = \"a\"\nnot_contains = \"b\"", "needs exactly one of contains, not_contains or json_pointer"),
            ("json_pointer = \"/a\"", "json_pointer needs exactly one of equals or exists"),
            ("json_pointer = \"/a\"\nequals = 1\nexists = true", "json_pointer needs exactly one of equals or exists"),
            ("json_pointer = \"a\"\nexists = true", "json_pointer \"a\" must start with / (RFC 6901)"),
            ("contains = \"a\"\nexists = true", "equals and exists only apply to json_pointer"),
        ];
        for (text, reason) in cases {
            assert_eq!(condition(text).unwrap_err(), *reason, "{text}");
        }
    }

    #[test]
    fn check_urls_resolve_absolute_and_relative_and_reject_others() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("https://example.com/health", "http://127.0.0.1:3000/", Ok("https://example.com/health")),
            ("http://10.0.0.5:8080/x?y=1", "http://127.0.0.1:3000/", Ok("http://10.0.0.5:8080/x?y=1")),
            ("/health", "http://127.0.0.1:3000/", Ok("http://127.0.0.1:3000/health")),
            ("/health?full=1", "http://127.0.0.1:3000/", Ok("http://127.0.0.1:3000/health?full=1")),
            // A path replaces the base's own path rather than joining it.
            ("/health", "https://example.com/status/", Ok("https://example.com/health")),
            ("ftp://example.com/file", "http://127.0.0.1:3000/", Err("unsupported scheme \"ftp\" (use http or https)")),
            ("file:///etc/passwd", "http://127.0.0.1:3000/", Err("unsupported scheme \"file\" (use http or https)")),
            ("mailto:ops@example.com", "http://127.0.0.1:3000/", Err("unsupported scheme \"mailto\" (use http or https)")),
            ("status.example.com/health", "http://127.0.0.1:3000/", Err("relative URL without a base (use an absolute URL, or a path starting with /)")),
            ("health", "http://127.0.0.1:3000/", Err("relative URL without a base (use an absolute URL, or a path starting with /)")),
            ("http://", "http://127.0.0.1:3000/", Err("empty host")),
            ("http://exa mple.com/", "http://127.0.0.1:3000/", Err("invalid international domain name")),
            ("http://[::1/", "http://127.0.0.1:3000/", Err("invalid IPv6 address")),
        ];
        for (raw, base, expected) in cases {
            let base = Url::parse(base).unwrap();
            let got = resolve_check_url(raw, &base);
            let got = got.as_ref().map(Url::as_str).map_err(String::as_str);
            assert_eq!(got, *expected, "{raw} against {base}");
        }
    }

    #[test]
    fn dns_servers_default_to_port_53() {
        /// No server, or the address to ask or why there is none.
        type Answer = Option<Result<&'static str, &'static str>>;
        #[rustfmt::skip]
        let cases: &[(Option<&str>, Answer)] = &[
            (None, None),
            (Some("1.1.1.1"), Some(Ok("1.1.1.1:53"))),
            (Some("1.1.1.1:5353"), Some(Ok("1.1.1.1:5353"))),
            (Some("::1"), Some(Ok("[::1]:53"))),
            (Some("[::1]:5353"), Some(Ok("[::1]:5353"))),
            (Some("dns.google"), Some(Err("\"dns.google\" is not an IP address or ip:port"))),
            (Some("1.1.1.1:dns"), Some(Err("\"1.1.1.1:dns\" is not an IP address or ip:port"))),
            (Some(""), Some(Err("\"\" is not an IP address or ip:port"))),
        ];
        for (server, expected) in cases {
            let check = DnsCheck {
                name: "example.com".to_owned(),
                server: server.map(str::to_owned),
                expected: Vec::new(),
            };
            let got = check.server_addr().map(|r| r.map(|a| a.to_string()));
            let expected = expected.map(|r| r.map(str::to_owned).map_err(str::to_owned));
            assert_eq!(got, expected, "server {server:?}");
        }
    }

    #[test]
    fn tls_server_name_defaults_to_the_host() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("example.com", None, "example.com"),
            ("10.0.0.5", Some("internal.example"), "internal.example"),
            ("example.com", Some(""), ""),
        ];
        for (host, server_name, expected) in cases {
            let check = TlsCheck {
                host: (*host).to_owned(),
                port: 443,
                server_name: server_name.map(str::to_owned),
                degraded_within: 14,
                ca_file: None,
            };
            assert_eq!(check.server_name(), *expected, "{host} / {server_name:?}");
        }
    }

    #[test]
    fn checks_parse_by_kind_and_fill_in_their_defaults() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("kind = \"http\"\nurl = \"/\"", "http",
             "method GET, redirects 5, verify_tls true, status [], degraded_over None"),
            ("kind = \"http\"\nurl = \"/\"\nmethod = \"HEAD\"\nmax_redirects = 0\nverify_tls = false\ndegraded_over = \"2s\"", "http",
             "method HEAD, redirects 0, verify_tls false, status [], degraded_over Some(2s)"),
            ("kind = \"tcp\"\nhost = \"db\"\nport = 5432", "tcp", "db:5432"),
            ("kind = \"tls\"\nhost = \"example.com\"", "tls", "example.com:443, within 14, ca None"),
            ("kind = \"tls\"\nhost = \"a\"\nport = 8443\ndegraded_within = 30\nca_file = \"ca.pem\"", "tls",
             "a:8443, within 30, ca Some(\"ca.pem\")"),
            ("kind = \"dns\"\nname = \"example.com\"", "dns", "example.com via None, expected []"),
            ("kind = \"dns\"\nname = \"a\"\nserver = \"1.1.1.1\"\nexpected = [\"192.0.2.1\"]", "dns",
             "a via Some(\"1.1.1.1\"), expected [192.0.2.1]"),
            ("kind = \"push\"", "push", "grace 60s"),
            ("kind = \"push\"\ngrace = \"5m\"", "push", "grace 300s"),
        ];
        for (source, kind, summary) in cases {
            let check: CheckConfig = toml::from_str(source).unwrap();
            let got = match &check {
                CheckConfig::Http(h) => format!(
                    "method {}, redirects {}, verify_tls {}, status {:?}, degraded_over {:?}",
                    h.method, h.max_redirects, h.verify_tls, h.expected_status, h.degraded_over
                ),
                CheckConfig::Tcp(t) => format!("{}:{}", t.host, t.port),
                CheckConfig::Tls(t) => format!(
                    "{}:{}, within {}, ca {:?}",
                    t.host, t.port, t.degraded_within, t.ca_file
                ),
                CheckConfig::Dns(d) => {
                    format!("{} via {:?}, expected {:?}", d.name, d.server, d.expected)
                }
                CheckConfig::Push(p) => format!("grace {:?}", p.grace),
            };
            assert_eq!((check.kind(), got.as_str()), (*kind, *summary), "{source}");
        }
    }

    #[test]
    fn checks_with_an_unknown_kind_or_key_are_rejected() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("kind = \"icmp\"\nhost = \"a\"", "unknown variant `icmp`"),
            ("url = \"/\"", "missing field `kind`"),
            ("kind = \"http\"", "missing field `url`"),
            ("kind = \"http\"\nurl = \"/\"\ntimeout_ms = 5", "unknown field `timeout_ms`"),
            ("kind = \"tcp\"\nhost = \"a\"\nport = 70000", "invalid value"),
            ("kind = \"dns\"\nname = \"a\"\nexpected = [\"nope\"]", "invalid IP address syntax"),
        ];
        for (source, part) in cases {
            let err = toml::from_str::<CheckConfig>(source).unwrap_err();
            assert!(err.message().contains(part), "{source}: {err}");
        }
    }

    #[test]
    fn pem_files_need_at_least_one_readable_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["example.test".to_owned()])
            .unwrap()
            .cert
            .pem();
        let two = format!("{cert}{cert}");
        let garbled = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let cases: &[(&str, Option<&str>, Result<usize, &str>)] = &[
            ("one.pem", Some(cert.as_str()), Ok(1)),
            ("two.pem", Some(two.as_str()), Ok(2)),
            ("empty.pem", Some(""), Err("no certificate found")),
            (
                "text.pem",
                Some("not a pem file\n"),
                Err("no certificate found"),
            ),
            ("garbled.pem", Some(garbled), Err("invalid PEM")),
            ("missing.pem", None, Err("cannot read")),
        ];
        for (name, contents, expected) in cases {
            let path = dir.path().join(name);
            if let Some(contents) = contents {
                std::fs::write(&path, contents).unwrap();
            }
            match (load_pem_certificates(&path), expected) {
                (Ok(certs), Ok(n)) => assert_eq!(certs.len(), *n, "{name}"),
                (Err(e), Err(part)) => {
                    assert!(e.contains(part), "{name}: {e}");
                    assert!(e.contains(&path.display().to_string()), "{name}: {e}");
                }
                (got, want) => panic!("{name}: got {:?}, expected {want:?}", got.map(|c| c.len())),
            }
        }
    }
}
