//! The sections of the file besides services: `[server]`, `[database]`,
//! `[page]`, `[logging]`, `[defaults]`, `[retention]` and `[[groups]]`, with
//! their defaults. Every section, and every key in one, may be left out, so
//! an empty file is a complete configuration (only a `[[groups]]` item
//! needs its `name`). Unknown keys are rejected, so a typo never quietly
//! falls back to a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::duration::{de_duration, ser_duration};
use super::slo::SloSetting;

/// Default SQLite database, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://upbeat.db";

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
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
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
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

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created if missing) or `postgres://...`.
    pub url: String,
    /// The pool's size; unset, the backend's own default
    /// ([`DatabaseConfig::pool_size`]).
    pub max_connections: Option<u32>,
    /// PostgreSQL with several replicas: how often a replica that does not
    /// lead reloads its snapshot from the database.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub follower_refresh: Duration,
    /// How long the leader's lease lasts unrenewed: when the leader dies,
    /// another replica takes over within about this long (and a fifth).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub lease_ttl: Duration,
}

/// The pool size for SQLite when `max_connections` is unset. SQLite writes
/// one transaction at a time and reads from the page cache of the process,
/// so more connections than this add no throughput on a small machine,
/// while each costs a thread, its page and statement caches: about 300 KiB
/// at idle. The start-up burst opened 7 of 10, 2.6 MiB in all
/// (bench/memory.sh).
pub const SQLITE_MAX_CONNECTIONS: u32 = 4;
/// The pool size for PostgreSQL when `max_connections` is unset: the
/// server does the work there, and replicas share it.
pub const POSTGRES_MAX_CONNECTIONS: u32 = 10;

impl DatabaseConfig {
    /// How many connections the pool may open: `max_connections`, or
    /// [`SQLITE_MAX_CONNECTIONS`] or [`POSTGRES_MAX_CONNECTIONS`] by the
    /// URL's backend.
    pub fn pool_size(&self) -> u32 {
        self.max_connections
            .unwrap_or(if self.url.starts_with("sqlite:") {
                SQLITE_MAX_CONNECTIONS
            } else {
                POSTGRES_MAX_CONNECTIONS
            })
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            max_connections: None,
            follower_refresh: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
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
    /// Above this many services the home page and `/public/status` list
    /// only the services that are not operational (at most this many) and
    /// count the rest by group; each group has its own pages. The default
    /// keeps a first visit within the 250 KB budget with brotli even when
    /// every service is listed (`SERVICES=100 bench/first-visit.sh`).
    pub max_listed: usize,
    /// Whether a service's page shows its objectives, the error budget left
    /// and the burndown (the admin API and metrics have them either way).
    pub show_slo: bool,
}

/// Default of `page.max_listed`.
pub const DEFAULT_MAX_LISTED: usize = 100;

/// Most header links.
pub const MAX_PAGE_LINKS: usize = 10;

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
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
            max_listed: DEFAULT_MAX_LISTED,
            show_slo: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Which requests get their access-log line. Every request is counted in
/// the metrics whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    /// One line per request (the default: a self-hosted page gets far
    /// fewer requests than the line costs at the ceiling; see README).
    #[default]
    All,
    /// Only answers with a status of 400 or more.
    Errors,
    /// None.
    Off,
}

impl AccessLog {
    /// Whether an answer with `status` is logged.
    pub const fn logs(self, status: u16) -> bool {
        match self {
            Self::All => true,
            Self::Errors => status >= 400,
            Self::Off => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A `RUST_LOG`-style filter, e.g. `info` or `info,upbeat=debug`.
    pub level: String,
    /// `all`, `errors` or `off`.
    pub access: AccessLog,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
            access: AccessLog::All,
        }
    }
}

/// Defaults applied to every service that does not set its own.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckDefaults {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// At most this many probes run at the same time.
    pub max_concurrent_probes: usize,
    /// Consecutive bad samples before a service leaves `operational`.
    pub failure_threshold: u32,
    /// Consecutive good samples before it returns to `operational`.
    pub recovery_threshold: u32,
    /// Objectives of every service that does not set its own (`config::slo`).
    pub slo: SloSetting,
}

impl Default for CheckDefaults {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            max_concurrent_probes: 256,
            failure_threshold: 3,
            recovery_threshold: 2,
            slo: SloSetting::default(),
        }
    }
}

/// How long raw samples are kept, and how often the pruning job runs.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub samples: Duration,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
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

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn base_url_prefers_the_public_url_and_maps_wildcard_binds_to_loopback() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("127.0.0.1:3000", None, "http://127.0.0.1:3000/"),
            ("0.0.0.0:8080", None, "http://127.0.0.1:8080/"),
            ("[::]:8080", None, "http://[::1]:8080/"),
            ("192.0.2.7:3000", None, "http://192.0.2.7:3000/"),
            // The URL crate drops the scheme's default port.
            ("[::1]:80", None, "http://[::1]/"),
            ("0.0.0.0:3000", Some("https://status.example.com/"), "https://status.example.com/"),
            ("0.0.0.0:3000", Some("https://example.com/status/"), "https://example.com/status/"),
        ];
        for (listen, public_url, expected) in cases {
            let server = ServerConfig {
                listen: listen.parse().unwrap(),
                public_url: public_url.map(|u| Url::parse(u).unwrap()),
                ..ServerConfig::default()
            };
            assert_eq!(
                server.base_url().as_str(),
                *expected,
                "listen {listen}, public_url {public_url:?}"
            );
        }
    }

    /// One setting of a parsed configuration, rendered for comparison.
    type Field = fn(&Config) -> String;

    #[test]
    fn missing_sections_and_keys_take_their_defaults() {
        #[rustfmt::skip]
        let cases: &[(&str, Field, &str)] = &[
            ("", |c| c.server.listen.to_string(), "127.0.0.1:3000"),
            ("", |c| format!("{:?}", c.server.public_url), "None"),
            ("", |c| c.server.site_root.display().to_string(), "target/site"),
            ("", |c| format!("{:?}", c.server.shutdown_grace), "10s"),
            ("", |c| c.database.url.clone(), DEFAULT_DATABASE_URL),
            ("", |c| c.database.pool_size().to_string(), "4"),
            ("[database]\nurl = \"postgres://h/db\"", |c| c.database.pool_size().to_string(), "10"),
            ("[database]\nurl = \"postgres://h/db\"\nmax_connections = 3", |c| c.database.pool_size().to_string(), "3"),
            ("[database]\nmax_connections = 12", |c| c.database.pool_size().to_string(), "12"),
            ("", |c| format!("{:?}", c.database.follower_refresh), "10s"),
            ("", |c| format!("{:?}", c.database.lease_ttl), "10s"),
            ("", |c| c.page.title.clone(), "Status"),
            ("", |c| c.page.links.len().to_string(), "0"),
            ("", |c| c.page.max_listed.to_string(), "100"),
            ("[page]\nmax_listed = 3", |c| c.page.max_listed.to_string(), "3"),
            ("", |c| format!("{:?}", c.logging.format), "Human"),
            ("", |c| c.logging.level.clone(), "info"),
            ("", |c| format!("{:?}", c.defaults.interval), "60s"),
            ("", |c| format!("{:?}", c.defaults.timeout), "10s"),
            ("", |c| c.defaults.max_concurrent_probes.to_string(), "256"),
            ("", |c| c.defaults.failure_threshold.to_string(), "3"),
            ("", |c| c.defaults.recovery_threshold.to_string(), "2"),
            ("", |c| format!("{:?}", c.retention.samples), "7776000s"),
            ("", |c| format!("{:?}", c.retention.prune_interval), "3600s"),
            // A section with some keys keeps the defaults of the others.
            ("[defaults]\ninterval = \"30s\"", |c| format!("{:?}", c.defaults.interval), "30s"),
            ("[defaults]\ninterval = \"30s\"", |c| format!("{:?}", c.defaults.timeout), "10s"),
            ("[server]\nshutdown_grace = 3", |c| format!("{:?}", c.server.shutdown_grace), "3s"),
            ("[logging]\nformat = \"json\"", |c| format!("{:?}", c.logging.format), "Json"),
            ("[logging]\nformat = \"json\"", |c| c.logging.level.clone(), "info"),
            ("", |c| format!("{:?}", c.logging.access), "All"),
            ("[logging]\naccess = \"errors\"", |c| format!("{:?}", c.logging.access), "Errors"),
            ("[logging]\naccess = \"off\"", |c| format!("{:?}", c.logging.access), "Off"),
            ("[[groups]]\nname = \"Core\"", |c| format!("{:?}", c.groups[0].description), "None"),
        ];
        for (source, field, expected) in cases {
            let config: Config = toml::from_str(source).unwrap();
            assert_eq!(field(&config), *expected, "{source:?}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_values_in_sections_are_rejected() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            ("[server]\nlisen = \"127.0.0.1:3000\"", "unknown field `lisen`"),
            ("[database]\nurl = \"sqlite://x\"\npool = 3", "unknown field `pool`"),
            ("[page]\ntitel = \"x\"", "unknown field `titel`"),
            ("[[page.links]]\nlabel = \"a\"", "missing field `url`"),
            ("[[page.links]]\nlabel = \"a\"\nurl = \"/\"\nicon = \"x\"", "unknown field `icon`"),
            ("[logging]\nformat = \"JSON\"", "unknown variant `JSON`"),
            ("[logging]\naccess = \"some\"", "unknown variant `some`, expected one of `all`, `errors`, `off`"),
            ("[defaults]\ninterval = \"soon\"", "invalid duration \"soon\""),
            ("[retention]\nsamples = \"90 days\"", "unknown duration unit \"days\""),
            ("[[groups]]\ndescription = \"x\"", "missing field `name`"),
            ("[server]\nlisten = \"localhost\"", "invalid socket address"),
            ("[server]\npublic_url = \"status.example.com\"", "relative URL without a base"),
        ];
        for (source, part) in cases {
            let err = toml::from_str::<Config>(source).unwrap_err();
            assert!(err.message().contains(part), "{source:?}: {err}");
        }
    }
}
