//! Configuration: a TOML file, overridden by `UPBEAT_*` environment variables
//! and then by command-line flags, validated as a whole before anything runs.
//!
//! Every problem is reported as a [`ConfigIssue`] that names the key path
//! (`services[2].check.url`), the line in the file where the parser knows it,
//! and the reason. Loading collects *all* semantic problems instead of
//! stopping at the first, so one `upbeat check-config` run shows everything.
//!
//! Environment overrides: `UPBEAT_<SECTION>__<KEY>` sets `section.key`
//! (`__` separates levels, array items are addressed by index, e.g.
//! `UPBEAT_SERVICES__0__CHECK__URL`). Values are read as TOML when they parse
//! as a TOML value (`60`, `true`, `["a"]`) and as plain strings otherwise.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::domain::conditions::{Condition, Rule};
use crate::domain::service::ServiceDef;
use crate::domain::status::Thresholds;

/// Samples are stored per second, so probes run at most once a second.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
const INTERVAL_TOO_SHORT: &str = "must be at least 1s (samples are stored per second)";

/// Default file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "upbeat.toml";
/// Default SQLite database, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://upbeat.db";
const ENV_PREFIX: &str = "UPBEAT_";

/// The whole configuration after defaults, overrides and validation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub page: PageConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
    #[serde(default)]
    pub defaults: CheckDefaults,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Optional ordering and descriptions of groups; services name their group.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// The bootstrap admin token, from `UPBEAT_ADMIN_TOKEN` only (never
    /// from the file).
    #[serde(skip)]
    pub admin_token: Option<Secret>,
}

/// A value that never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The address people reach the page at; also the base for relative
    /// check URLs such as `/health`. Defaults to `http://<listen>`.
    pub public_url: Option<Url>,
    /// Directory with the built front end (`pkg/` with JS, WASM and CSS).
    pub site_root: PathBuf,
    /// How long in-flight requests may take to finish at shutdown.
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
            site_root: PathBuf::from("target/site"),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// The base URL relative check URLs resolve against.
    pub fn base_url(&self) -> Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        // A wildcard bind is reachable from this machine on loopback.
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        Url::parse(&format!("http://{addr}/")).expect("a socket address forms a valid URL")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL with several replicas: how often a replica that does not
    /// hold the prober lock reloads its snapshot and tries to take the lock.
    #[serde(deserialize_with = "de_duration")]
    pub follower_refresh: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            max_connections: 10,
            follower_refresh: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageConfig {
    pub title: String,
    pub description: Option<String>,
    /// Logo address: `https://…`, `http://…` or a path on this site (`/logo.svg`).
    pub logo: Option<String>,
    /// Header links, at most [`MAX_PAGE_LINKS`].
    pub links: Vec<PageLinkConfig>,
    /// Accent colour for links and focus rings: `#rgb` or `#rrggbb`.
    pub accent: Option<String>,
}

/// Most header links.
pub const MAX_PAGE_LINKS: usize = 10;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageLinkConfig {
    pub label: String,
    pub url: String,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self {
            title: "Status".to_owned(),
            description: None,
            logo: None,
            links: Vec::new(),
            accent: None,
        }
    }
}

/// An address the page may link to or load: http(s), or a path here.
fn is_page_address(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
        && !url.starts_with("//")
        && url.len() <= 2048
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
}

/// `#rgb` or `#rrggbb`.
fn is_hex_colour(colour: &str) -> bool {
    colour.strip_prefix('#').is_some_and(|hex| {
        (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter, e.g. `info` or `info,upbeat=debug`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// Defaults applied to every service that does not set its own.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckDefaults {
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// At most this many probes run at the same time.
    pub max_concurrent_probes: usize,
    /// Consecutive bad samples before a service leaves `operational`.
    pub failure_threshold: u32,
    /// Consecutive good samples before it returns to `operational`.
    pub recovery_threshold: u32,
}

impl Default for CheckDefaults {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            max_concurrent_probes: 256,
            failure_threshold: 3,
            recovery_threshold: 2,
        }
    }
}

/// How long raw samples are kept, and how often the pruning job runs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    #[serde(deserialize_with = "de_duration")]
    pub samples: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub prune_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            samples: Duration::from_secs(90 * 86_400),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Stable identifier used in URLs and the database.
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    /// How often to probe; defaults to `defaults.interval`.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    /// Hard deadline for one probe; defaults to `defaults.timeout`.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    /// Defaults to `defaults.failure_threshold`.
    pub failure_threshold: Option<u32>,
    /// Defaults to `defaults.recovery_threshold`.
    pub recovery_threshold: Option<u32>,
    pub check: CheckConfig,
}

/// What to probe. `kind` selects the variant.
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub degraded_over: Option<Duration>,
    /// Redirects followed before giving up; 0 judges the redirect itself.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// Verify the server's TLS certificate (on by default).
    #[serde(default = "default_true")]
    pub verify_tls: bool,
}

/// A TCP connect.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
}

/// A TLS handshake: the certificate chain must be valid, and its expiry
/// more than `degraded_within` days away (closer = degraded; expired or
/// invalid = down).
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushCheck {
    #[serde(default = "default_grace", deserialize_with = "de_duration")]
    pub grace: Duration,
}

fn default_grace() -> Duration {
    Duration::from_secs(60)
}

/// One condition on an HTTP response body, as written in the config:
/// exactly one of `contains`, `not_contains`, `json_pointer` (with `equals`
/// or `exists`). `soft = true` makes a failure degraded instead of down.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
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

/// One problem with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `services[2].check.url`; empty for the file as a whole.
    pub key: String,
    /// 1-based line in the file, when the key is in the file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.key.is_empty(), self.line) {
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (true, None) => write!(f, "{}", self.message),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.key, self.message),
            (false, None) => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Everything wrong with a configuration, with the file it came from.
#[derive(Debug)]
pub struct ConfigError {
    pub path: Option<PathBuf>,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self
            .path
            .as_ref()
            .map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let n = self.issues.len();
        write!(f, "{source}: {n} problem{}", if n == 1 { "" } else { "s" })?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Values from the command line; they win over the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
}

impl Config {
    /// Reads, overrides and validates the configuration at `path`.
    ///
    /// A missing file is an error, except for the default path, where a
    /// missing file means "all defaults" (an empty page).
    pub fn load(path: &Path, explicit: bool, overrides: &Overrides) -> Result<Self, ConfigError> {
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => String::new(),
            Err(e) => {
                return Err(ConfigError {
                    path: Some(path.to_owned()),
                    issues: vec![ConfigIssue {
                        key: String::new(),
                        line: None,
                        message: format!("cannot read file: {e}"),
                    }],
                })
            }
        };
        Self::from_toml(&source, std::env::vars(), overrides).map_err(|issues| ConfigError {
            path: Some(path.to_owned()),
            issues,
        })
    }

    /// Parses `source`, applies environment and command-line overrides, and
    /// validates. Pure apart from its arguments, so tests can call it.
    pub fn from_toml(
        source: &str,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let locator = Locator::new(source);
        let parse_issue = |e: toml::de::Error| {
            vec![ConfigIssue {
                key: String::new(),
                line: e.span().map(|s| locator.line_at(s.start)),
                message: e.message().trim().to_owned(),
            }]
        };
        let path_issue = |e: serde_path_to_error::Error<toml::de::Error>| {
            let mut key = e.path().to_string();
            let message = e.inner().message().trim().to_owned();
            // Name the unknown key itself, not just the table it is in.
            if let Some(field) =
                unknown_field(&message).filter(|f| !key.ends_with(&format!(".{f}")))
            {
                key = if key == "." || key.is_empty() {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
            }
            if key == "." {
                key.clear();
            }
            vec![ConfigIssue {
                line: locator.line_of(&key),
                key,
                message,
            }]
        };
        let env = env_overrides(env);
        let mut config: Config = if env.is_empty() {
            // Straight from the text: no intermediate table, which for a
            // file of 10,000 services saves most of the memory parsing takes.
            let de = toml::Deserializer::parse(source).map_err(parse_issue)?;
            serde_path_to_error::deserialize(de).map_err(path_issue)?
        } else {
            let mut table: toml::Table = toml::from_str(source).map_err(parse_issue)?;
            apply_env(&mut table, env)?;
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(path_issue)?
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(url) = &overrides.database_url {
            config.database.url.clone_from(url);
        }
        let issues = config.validate();
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(issues
                .into_iter()
                .map(|(key, message)| ConfigIssue {
                    line: locator.line_of(&key),
                    key,
                    message,
                })
                .collect())
        }
    }

    /// Semantic checks serde cannot express. Returns `(key, reason)` pairs.
    fn validate(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        let mut push = |key: String, message: String| issues.push((key, message));

        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres:")
            || self.database.url.starts_with("postgresql:"))
        {
            push(
                "database.url".into(),
                "must start with sqlite:// or postgres://".into(),
            );
        }
        if self.database.max_connections == 0 {
            push(
                "database.max_connections".into(),
                "must be at least 1".into(),
            );
        }
        if self.page.title.trim().is_empty() {
            push("page.title".into(), "must not be empty".into());
        }
        if let Some(logo) = &self.page.logo {
            if !is_page_address(logo) {
                push(
                    "page.logo".into(),
                    "must be an http(s) address or a path starting with /".into(),
                );
            }
        }
        if let Some(accent) = &self.page.accent {
            if !is_hex_colour(accent) {
                push("page.accent".into(), "must be #rgb or #rrggbb".into());
            }
        }
        if self.page.links.len() > MAX_PAGE_LINKS {
            push(
                "page.links".into(),
                format!("at most {MAX_PAGE_LINKS} links"),
            );
        }
        for (i, link) in self.page.links.iter().enumerate() {
            let label = link.label.trim();
            if label.is_empty() || label.chars().count() > 40 {
                push(
                    format!("page.links[{i}].label"),
                    "must be 1 to 40 characters".into(),
                );
            }
            if !is_page_address(&link.url) {
                push(
                    format!("page.links[{i}].url"),
                    "must be an http(s) address or a path starting with /".into(),
                );
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.logging.level) {
            push("logging.level".into(), format!("invalid filter: {e}"));
        }
        if self.defaults.interval < MIN_INTERVAL {
            push("defaults.interval".into(), INTERVAL_TOO_SHORT.into());
        }
        if self.defaults.timeout.is_zero() {
            push("defaults.timeout".into(), "must be greater than 0".into());
        }
        for (key, value) in [
            (
                "defaults.failure_threshold",
                self.defaults.failure_threshold,
            ),
            (
                "defaults.recovery_threshold",
                self.defaults.recovery_threshold,
            ),
        ] {
            if value == 0 {
                push(key.into(), "must be at least 1".into());
            }
        }
        if self.defaults.max_concurrent_probes == 0 {
            push(
                "defaults.max_concurrent_probes".into(),
                "must be at least 1".into(),
            );
        }
        if self.retention.samples < Duration::from_secs(3600) {
            push("retention.samples".into(), "must be at least 1h".into());
        }
        if self.database.follower_refresh < MIN_INTERVAL {
            push(
                "database.follower_refresh".into(),
                "must be at least 1s".into(),
            );
        }
        if self.retention.prune_interval.is_zero() {
            push(
                "retention.prune_interval".into(),
                "must be greater than 0".into(),
            );
        }
        if let Some(url) = &self.server.public_url {
            if !matches!(url.scheme(), "http" | "https") {
                push(
                    "server.public_url".into(),
                    "must be an http or https URL".into(),
                );
            }
        }

        let mut group_names = HashSet::new();
        for (i, group) in self.groups.iter().enumerate() {
            if group.name.trim().is_empty() {
                push(format!("groups[{i}].name"), "must not be empty".into());
            } else if !group_names.insert(group.name.as_str()) {
                push(
                    format!("groups[{i}].name"),
                    format!("duplicate group \"{}\"", group.name),
                );
            }
        }

        let base = self.server.base_url();
        let mut slugs = HashSet::new();
        for (i, service) in self.services.iter().enumerate() {
            let at = |key: &str| format!("services[{i}].{key}");
            if let Err(reason) = check_slug(&service.slug) {
                push(at("slug"), reason);
            } else if !slugs.insert(service.slug.as_str()) {
                push(at("slug"), format!("duplicate slug \"{}\"", service.slug));
            }
            if service.name.trim().is_empty() {
                push(at("name"), "must not be empty".into());
            }
            if let Some(group) = &service.group {
                if !self.groups.is_empty() && !group_names.contains(group.as_str()) {
                    push(
                        at("group"),
                        format!("unknown group \"{group}\" (not in [[groups]])"),
                    );
                }
            }
            if service.interval.is_some_and(|d| d < MIN_INTERVAL) {
                push(at("interval"), INTERVAL_TOO_SHORT.into());
            }
            if service.timeout.is_some_and(|d| d.is_zero()) {
                push(at("timeout"), "must be greater than 0".into());
            }
            for (key, value) in [
                ("failure_threshold", service.failure_threshold),
                ("recovery_threshold", service.recovery_threshold),
            ] {
                if value == Some(0) {
                    push(at(key), "must be at least 1".into());
                }
            }
            match &service.check {
                CheckConfig::Http(http) => {
                    if let Err(reason) = resolve_check_url(&http.url, &base) {
                        push(at("check.url"), reason);
                    }
                    if reqwest::Method::from_bytes(http.method.as_bytes()).is_err() {
                        push(
                            at("check.method"),
                            format!("invalid HTTP method \"{}\"", http.method),
                        );
                    }
                    for code in &http.expected_status {
                        if !(100..=599).contains(code) {
                            push(
                                at("check.expected_status"),
                                format!("{code} is not an HTTP status code"),
                            );
                        }
                    }
                    for (name, value) in &http.headers {
                        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                            push(
                                at("check.headers"),
                                format!("invalid header name \"{name}\""),
                            );
                        } else if reqwest::header::HeaderValue::from_str(value).is_err() {
                            push(
                                at(&format!("check.headers.{name}")),
                                "invalid header value".into(),
                            );
                        }
                    }
                    for (j, condition) in http.conditions.iter().enumerate() {
                        if let Err(reason) = Condition::try_from(condition) {
                            push(at(&format!("check.conditions[{j}]")), reason);
                        }
                    }
                    if http.degraded_over.is_some_and(|d| d.is_zero()) {
                        push(at("check.degraded_over"), "must be greater than 0".into());
                    }
                }
                CheckConfig::Tls(tls) => {
                    if tls.host.trim().is_empty() {
                        push(at("check.host"), "must not be empty".into());
                    }
                    if tls.port == 0 {
                        push(at("check.port"), "must be between 1 and 65535".into());
                    }
                    if rustls::pki_types::ServerName::try_from(tls.server_name()).is_err() {
                        let key = if tls.server_name.is_some() {
                            "check.server_name"
                        } else {
                            "check.host"
                        };
                        push(
                            at(key),
                            format!(
                                "\"{}\" is not a valid DNS name or IP address",
                                tls.server_name()
                            ),
                        );
                    }
                    if let Some(path) = &tls.ca_file {
                        if let Err(reason) = load_pem_certificates(path) {
                            push(at("check.ca_file"), reason);
                        }
                    }
                }
                CheckConfig::Dns(dns) => {
                    if dns.name.trim().is_empty() || dns.name.contains(char::is_whitespace) {
                        push(at("check.name"), "must be a host name".into());
                    }
                    if let Some(Err(reason)) = dns.server_addr() {
                        push(at("check.server"), reason);
                    }
                }
                CheckConfig::Push(_) => {}
                CheckConfig::Tcp(tcp) => {
                    if tcp.host.trim().is_empty() {
                        push(at("check.host"), "must not be empty".into());
                    }
                    if tcp.port == 0 {
                        push(at("check.port"), "must be between 1 and 65535".into());
                    }
                }
            }
        }
        issues
    }

    /// The services, as the store keeps them.
    pub fn service_defs(&self) -> Vec<ServiceDef> {
        self.services
            .iter()
            .map(|s| ServiceDef {
                slug: s.slug.clone(),
                name: s.name.clone(),
                group: s.group.clone(),
                description: s.description.clone(),
                check_kind: s.check.kind().to_owned(),
            })
            .collect()
    }

    /// The interval of a service, after defaults.
    pub fn interval_of(&self, service: &ServiceConfig) -> Duration {
        service.interval.unwrap_or(self.defaults.interval)
    }

    /// The hysteresis thresholds of a service, after defaults.
    pub fn thresholds_of(&self, service: &ServiceConfig) -> Thresholds {
        Thresholds {
            failure: service
                .failure_threshold
                .unwrap_or(self.defaults.failure_threshold),
            recovery: service
                .recovery_threshold
                .unwrap_or(self.defaults.recovery_threshold),
        }
    }

    /// The probe deadline of a service, after defaults.
    pub fn timeout_of(&self, service: &ServiceConfig) -> Duration {
        service.timeout.unwrap_or(self.defaults.timeout)
    }
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

/// Slugs appear in URLs: lowercase letters, digits and dashes.
fn check_slug(slug: &str) -> Result<(), String> {
    if slug.is_empty() {
        return Err("must not be empty".into());
    }
    if slug.len() > 64 {
        return Err("must be at most 64 characters".into());
    }
    let valid = slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{slug}\" is not a valid slug (lowercase letters, digits and inner dashes only)"
        ))
    }
}

/// Extracts `x` from serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The `UPBEAT_A__B__C=value` variables among `env`, sorted.
fn env_overrides(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    vars.sort();
    vars
}

/// Applies `UPBEAT_A__B__C=value` variables (from [`env_overrides`]) to the
/// parsed table.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), Vec<ConfigIssue>> {
    let mut issues = Vec::new();
    for (name, raw) in env {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let value = parse_env_value(&raw);
        if let Err(message) = set_path(table, &path, value) {
            issues.push(ConfigIssue {
                key: format!("env {name}"),
                line: None,
                message,
            });
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if first.is_empty() {
        return Err("empty key segment".into());
    }
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_value_path(entry, rest, value)
}

fn set_value_path(
    target: &mut toml::Value,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match target {
        toml::Value::Table(t) => set_path(t, path, value),
        toml::Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty key")?;
            let index: usize = first
                .parse()
                .map_err(|_| format!("\"{first}\" is not an array index"))?;
            let len = items.len();
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the end ({len} items)"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_value_path(item, rest, value)
            }
        }
        _ => Err("cannot set a key inside a plain value".into()),
    }
}

/// Finds where keys are in the source text, for error messages.
/// Finds the lines of keys, for error messages. The span-keeping document
/// is only parsed when an error needs a line: for a large valid file it
/// would cost more memory than everything else loaded at start.
struct Locator<'a> {
    source: &'a str,
    doc: std::cell::OnceCell<Option<toml_edit::ImDocument<String>>>,
}

impl<'a> Locator<'a> {
    const fn new(source: &'a str) -> Self {
        Self {
            source,
            doc: std::cell::OnceCell::new(),
        }
    }

    fn line_at(&self, offset: usize) -> usize {
        let bytes = self.source.as_bytes();
        1 + bytes[..offset.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }

    /// The line of a key path like `services[2].check.url`. When the key is
    /// not in the file (a default, or set by the environment) this is the
    /// line of its closest ancestor that is, if any.
    fn line_of(&self, key: &str) -> Option<usize> {
        let doc = self
            .doc
            .get_or_init(|| toml_edit::ImDocument::parse(self.source.to_owned()).ok())
            .as_ref()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut reached: Option<&toml_edit::Item> = None;
        let mut span = None;
        for segment in split_key(key) {
            match segment {
                KeySegment::Name(name) => {
                    if let Some(item) = reached.take() {
                        match item.as_table_like() {
                            Some(t) => table = t,
                            None => break,
                        }
                    }
                    let Some((k, item)) = table.get_key_value(name) else {
                        break;
                    };
                    span = k.span().or_else(|| item.span()).or(span);
                    reached = Some(item);
                }
                KeySegment::Index(i) => {
                    let Some(item) = reached.take() else { break };
                    if let Some(t) = item.as_array_of_tables().and_then(|a| a.get(i)) {
                        span = t.span().or(span);
                        table = t;
                    } else if let Some(v) = item.as_array().and_then(|a| a.get(i)) {
                        span = v.span().or(span);
                        match v.as_inline_table() {
                            Some(t) => table = t,
                            None => break,
                        }
                    } else {
                        break;
                    }
                }
            }
        }
        span.map(|s| self.line_at(s.start))
    }
}

enum KeySegment<'a> {
    Name(&'a str),
    Index(usize),
}

fn split_key(key: &str) -> Vec<KeySegment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, mut indices) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(KeySegment::Name(name));
        }
        while let Some(close) = indices.find(']') {
            if let Ok(i) = indices[1..close].parse() {
                out.push(KeySegment::Index(i));
            }
            indices = &indices[close + 1..];
        }
    }
    out
}

/// Durations are written as `"90s"`, `"5m"`, `"1h"`, `"250ms"`, or a plain
/// number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration \"{raw}\" (examples: \"60s\", \"5m\", \"250ms\")")
    })?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown duration unit \"{other}\" (use ms, s, m, h or d)"
            ))
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("invalid duration \"{raw}\""));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match RawDuration::deserialize(d)? {
        RawDuration::Seconds(s) => Ok(Duration::from_secs(s)),
        RawDuration::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
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
}
