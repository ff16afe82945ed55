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
//!
//! - `sections`: the tables other than services, with their defaults.
//! - `checks`: services and their check specs (`kind = "http"`, ...).
//! - `validate`: the semantic checks serde cannot express.
//! - `env`: `UPBEAT_*` overrides. `locate`: key path → line.
//! - `duration`: `"90s"`, `"5m"`, `"250ms"`, or a number of seconds.

pub mod alerts;
mod checks;
pub mod client_errors;
pub mod console;
mod duration;
mod env;
mod locate;
mod sections;
pub mod slo;
pub mod subscribers;
pub mod traces;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::service::ServiceDef;
use crate::domain::status::Thresholds;
use env::{apply_env, env_overrides};
use locate::{unknown_field, Locator};

pub use checks::{
    load_pem_certificates, resolve_check_url, BodyCondition, CheckConfig, DnsCheck, HttpCheck,
    PushCheck, ServiceConfig, TcpCheck, TlsCheck,
};
pub use duration::parse_duration;
pub use sections::{
    AccessLog, CheckDefaults, DatabaseConfig, GroupConfig, LogFormat, LoggingConfig, PageConfig,
    PageLinkConfig, RetentionConfig, ServerConfig, DEFAULT_DATABASE_URL, MAX_PAGE_LINKS,
};
pub use validate::MIN_INTERVAL;

/// Default file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "upbeat.toml";

/// The whole configuration after defaults, overrides and validation.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
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
    /// Where alerts go (`[[alerts.routes]]`).
    #[serde(default)]
    pub alerts: alerts::AlertsConfig,
    /// The mail server, for `email` routes.
    #[serde(default)]
    pub smtp: Option<alerts::SmtpConfig>,
    /// `[tracing]` as written (see [`traces`]).
    #[serde(default)]
    pub tracing: traces::TracingConfig,
    /// Where traces go, from `[tracing]` and the `OTEL_*` variables;
    /// `None`: no traces.
    #[serde(skip)]
    pub traces: Option<traces::Tracing>,
    /// Browser errors to Sentry too (`[client_errors]`).
    #[serde(default)]
    pub client_errors: client_errors::ClientErrorsConfig,
    /// The profiling routes (`[profiling]`).
    #[serde(default)]
    pub profiling: client_errors::ProfilingConfig,
    /// Console sessions (`[console]`).
    #[serde(default)]
    pub console: console::ConsoleConfig,
    /// Visitors' subscriptions (`[subscribers]`).
    #[serde(default)]
    pub subscribers: subscribers::SubscribersConfig,
    /// What the console's new-incident form can start from.
    #[serde(default)]
    pub incident_templates: Vec<console::IncidentTemplate>,
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
                unknown_field(&message).filter(|f| key != *f && !key.ends_with(&format!(".{f}")))
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
        // Read once: for `UPBEAT_A__B` overrides and for `*_env` secrets.
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let overrides_env = env_overrides(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut config: Config = if overrides_env.is_empty() {
            // Straight from the text: no intermediate table, which for a
            // file of 10,000 services saves most of the memory parsing takes.
            let de = toml::Deserializer::parse(source).map_err(parse_issue)?;
            serde_path_to_error::deserialize(de).map_err(path_issue)?
        } else {
            let mut table: toml::Table = toml::from_str(source).map_err(parse_issue)?;
            apply_env(&mut table, overrides_env)?;
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(path_issue)?
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(url) = &overrides.database_url {
            config.database.url.clone_from(url);
        }
        let mut issues = config.validate();
        issues.extend(alerts::resolve_and_check(
            &mut config.alerts,
            &mut config.smtp,
            &env,
        ));
        let public_url = config.server.public_url.clone();
        let has_smtp = config.smtp.is_some();
        issues.extend(
            config
                .subscribers
                .resolve_and_check(public_url.as_ref(), has_smtp, &env),
        );
        match traces::resolve(&config.tracing, &env) {
            Ok(traces) => config.traces = traces,
            Err(found) => issues.extend(found),
        }
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

    /// The objectives of a service, after defaults; `None` when off.
    pub fn objectives_of(&self, service: &ServiceConfig) -> Option<crate::domain::slo::Objectives> {
        slo::SloSetting::resolve(service.slo.as_ref(), &self.defaults.slo)
    }

    /// The probe deadline of a service, after defaults.
    pub fn timeout_of(&self, service: &ServiceConfig) -> Duration {
        service.timeout.unwrap_or(self.defaults.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(key: &str, line: Option<usize>, message: &str) -> ConfigIssue {
        ConfigIssue {
            key: key.to_owned(),
            line,
            message: message.to_owned(),
        }
    }

    #[test]
    fn issues_show_their_key_and_line_when_known() {
        let cases: &[(ConfigIssue, &str)] = &[
            (issue("a.b", Some(3), "bad"), "a.b (line 3): bad"),
            (issue("a.b", None, "bad"), "a.b: bad"),
            (issue("", Some(7), "expected `=`"), "line 7: expected `=`"),
            (issue("", None, "cannot read file"), "cannot read file"),
        ];
        for (issue, expected) in cases {
            assert_eq!(issue.to_string(), *expected, "{issue:?}");
        }
    }

    #[test]
    fn config_errors_name_the_file_and_count_their_problems() {
        let one = vec![issue("page.title", Some(2), "must not be empty")];
        let two = vec![issue("a", None, "x"), issue("", Some(1), "y")];
        #[rustfmt::skip]
        let cases: Vec<(Option<&str>, Vec<ConfigIssue>, &str)> = vec![
            (None, one.clone(), "configuration: 1 problem\n  page.title (line 2): must not be empty"),
            (Some("/etc/upbeat.toml"), one, "/etc/upbeat.toml: 1 problem\n  page.title (line 2): must not be empty"),
            (Some("upbeat.toml"), two, "upbeat.toml: 2 problems\n  a: x\n  line 1: y"),
        ];
        for (path, issues, expected) in cases {
            let error = ConfigError {
                path: path.map(PathBuf::from),
                issues,
            };
            assert_eq!(error.to_string(), expected, "{path:?}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut config = Config::from_toml("", Vec::new(), &Overrides::default()).unwrap();
        config.admin_token = Some(Secret("hunter2".to_owned()));
        let cases = [
            format!("{:?}", Secret("hunter2".to_owned())),
            format!("{:?}", config.admin_token),
            format!("{config:?}"),
            format!("{config:#?}"),
        ];
        for text in &cases {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("Secret(***)"), "{text}");
        }
    }

    #[test]
    fn service_settings_fall_back_to_the_defaults() {
        /// Interval, timeout, failure and recovery thresholds.
        type Settings = (Duration, Duration, u32, u32);
        let s = Duration::from_secs;
        #[rustfmt::skip]
        let cases: &[(&str, Settings)] = &[
            ("", (s(60), s(10), 3, 2)),
            ("interval = \"5m\"", (s(300), s(10), 3, 2)),
            ("timeout = 2", (s(60), s(2), 3, 2)),
            ("failure_threshold = 5", (s(60), s(10), 5, 2)),
            ("recovery_threshold = 1", (s(60), s(10), 3, 1)),
        ];
        let defaults = "[defaults]\ninterval = \"1m\"\ntimeout = \"10s\"\n";
        for (settings, (interval, timeout, failure, recovery)) in cases {
            let source = format!(
                "{defaults}[[services]]\nslug = \"api\"\nname = \"API\"\n{settings}\n\
                 [services.check]\nkind = \"push\"\n"
            );
            let config = Config::from_toml(&source, Vec::new(), &Overrides::default()).unwrap();
            let service = &config.services[0];
            let thresholds = config.thresholds_of(service);
            assert_eq!(
                (
                    config.interval_of(service),
                    config.timeout_of(service),
                    thresholds.failure,
                    thresholds.recovery,
                ),
                (*interval, *timeout, *failure, *recovery),
                "{settings:?}"
            );
        }
    }

    #[test]
    fn service_defs_carry_what_the_store_keeps() {
        let source = "[[services]]\nslug = \"api\"\nname = \"API\"\ngroup = \"Core\"\n\
                      description = \"The API\"\n[services.check]\nkind = \"tcp\"\nhost = \"a\"\nport = 1\n\
                      [[services]]\nslug = \"cron\"\nname = \"Cron\"\n[services.check]\nkind = \"push\"\n";
        let config = Config::from_toml(source, Vec::new(), &Overrides::default()).unwrap();
        let defs: Vec<String> = config
            .service_defs()
            .iter()
            .map(|d| {
                format!(
                    "{} {} {:?} {:?} {}",
                    d.slug, d.name, d.group, d.description, d.check_kind
                )
            })
            .collect();
        assert_eq!(
            defs,
            [
                "api API Some(\"Core\") Some(\"The API\") tcp",
                "cron Cron None None push"
            ]
        );
    }

    #[test]
    fn problems_found_while_parsing_name_the_full_key_and_its_line() {
        /// `UPBEAT_*` variables as written in a table of cases.
        type Env = &'static [(&'static str, &'static str)];
        #[rustfmt::skip]
        let cases: &[(&str, Env, &str, Option<usize>, &str)] = &[
            ("[server]\nlisen = 1", &[], "server.lisen", Some(2), "unknown field `lisen`"),
            // At the top level the key is named once.
            ("title = \"x\"\n[page]", &[], "title", Some(1), "unknown field `title`"),
            ("[[services]]\nslug = \"a\"\nname = \"A\"\nnome = \"x\"", &[], "services[0].nome", Some(4), "unknown field `nome`"),
            ("[page]\ntitle = 5", &[], "page.title", Some(2), "invalid type: integer `5`, expected a string"),
            ("[defaults]\ninterval = \"soon\"", &[], "defaults.interval", Some(2), "invalid duration \"soon\""),
            ("[page\n", &[], "", Some(1), "unclosed table, expected `]`"),
            // A value from the environment is blamed on the key it replaced.
            ("[page]\ntitle = \"x\"", &[("UPBEAT_PAGE__TITLE", "5")], "page.title", Some(2), "invalid type: integer `5`"),
            // Set only by the environment: no line of its own, nor a parent's.
            ("", &[("UPBEAT_DEFAULTS__INTERVAL", "\"0s\"")], "defaults.interval", None,
             "must be at least 1s (samples are stored per second)"),
            ("[defaults]\ntimeout = \"5s\"", &[("UPBEAT_DEFAULTS__INTERVAL", "0")], "defaults.interval", Some(1),
             "must be at least 1s (samples are stored per second)"),
            ("[page]\ntitle = \"x\"", &[("UPBEAT_PAGE__TITLE__X", "y")], "env UPBEAT_PAGE__TITLE__X", None,
             "cannot set a key inside a plain value"),
            // Objectives: validated (key and line) and parsed (unknown keys).
            ("[defaults.slo]\navailability = 100", &[], "defaults.slo.availability", Some(2), "below 100"),
            ("[defaults.slo]\nwindow = \"week\"", &[], "defaults.slo.window", Some(2), "unknown window \"week\""),
            ("[[services]]\nslug = \"a\"\nname = \"A\"\ncheck = { kind = \"tcp\", host = \"h\", port = 1 }\n[services.slo]\nlatency = [\n  { percent = 95, under = \"0ms\" },\n]",
             &[], "services[0].slo.latency[0].under", Some(7), "must be above 0"),
            ("[[services]]\nslug = \"a\"\nname = \"A\"\ncheck = { kind = \"tcp\", host = \"h\", port = 1 }\n[services.slo]\navailabilty = 99",
             &[], "services[0].slo.availabilty", Some(6), "unknown field `availabilty`"),
            // The key path of an unknown key at every level: a top-level
            // table, a key in a table, a nested table, an array of tables.
            ("[page]\ntitle = \"x\"\n\n[smtpx]\nhost = \"h\"", &[], "smtpx", Some(4), "unknown field `smtpx`"),
            ("[smtp]\nhost = \"h\"\nbogus = 1", &[], "smtp.bogus", Some(3), "unknown field `bogus`"),
            ("[smtp]\nhost = \"h\"\nfrom = \"a@b.c\"\n[smtp.tls]\nx = 1", &[], "smtp.tls", Some(4), "unknown variant `x`"),
            ("[subscribers]\nenabled = true\nmax_per_secnd = 1", &[], "subscribers.max_per_secnd", Some(3), "unknown field `max_per_secnd`"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"webhook\"\nurll = \"http://x\"", &[], "alerts.routes[0].urll", Some(4), "unknown field `urll`"),
            ("[console]\nsession_idel = \"1h\"", &[], "console.session_idel", Some(2), "unknown field `session_idel`"),
            ("[tracing]\nendpiont = \"http://x\"", &[], "tracing.endpiont", Some(2), "unknown field `endpiont`"),
            // Without any [[services]], an index reads as a table key, which
            // serde then rejects where it expects the array.
            ("", &[("UPBEAT_SERVICES__0__SLUG", "x")], "services", None,
             "invalid type: map, expected a sequence"),
        ];
        for (source, env, key, line, message) in cases {
            let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
            let issues = Config::from_toml(source, env, &Overrides::default()).unwrap_err();
            let [issue] = issues.as_slice() else {
                panic!("{source:?}: expected one issue, got {issues:?}");
            };
            assert_eq!(
                (issue.key.as_str(), issue.line),
                (*key, *line),
                "{source:?}: {issue}"
            );
            assert!(issue.message.contains(message), "{source:?}: {issue}");
        }
    }

    #[test]
    fn load_treats_only_a_missing_default_file_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("written.toml");
        std::fs::write(&written, "[page]\ntitle = \"Ours\"\n").unwrap();
        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "[page]\ntitle = \"\"\n").unwrap();
        let missing = dir.path().join("missing.toml");
        #[rustfmt::skip]
        let cases: &[(&Path, bool, Result<&str, &str>)] = &[
            (&written, true, Ok("Ours")),
            (&written, false, Ok("Ours")),
            (&missing, false, Ok("Status")),
            (&missing, true, Err("1 problem\n  cannot read file: ")),
            (&broken, false, Err("1 problem\n  page.title (line 2): must not be empty")),
        ];
        for (path, explicit, expected) in cases {
            let name = path.display();
            match (
                Config::load(path, *explicit, &Overrides::default()),
                expected,
            ) {
                (Ok(config), Ok(title)) => assert_eq!(config.page.title, *title, "{name}"),
                (Err(e), Err(part)) => {
                    assert_eq!(e.path.as_deref(), Some(*path), "{name}");
                    let text = e.to_string();
                    assert!(
                        text.starts_with(&format!("{name}: {part}")),
                        "{name}: {text}"
                    );
                }
                (got, want) => {
                    panic!("{name} (explicit: {explicit}): got {got:?}, expected {want:?}")
                }
            }
        }
    }
}
