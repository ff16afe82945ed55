//! `[alerts]` and `[smtp]`: where alerts go, which ones, and how often.
//!
//! A route's secret (PagerDuty routing key, Opsgenie API key, webhook
//! signing secret) and the SMTP password come from the environment
//! (`*_env = "VAR"`) or a file (`*_file = "/run/secrets/…"`, trimmed),
//! never from the TOML itself: a key holding a secret literally is not a
//! key serde accepts. They are read once, at start-up, into [`Secret`]s,
//! which never print.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use app::model::Impact;

pub use crate::domain::alert::EventKind;
use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use super::duration::{de_duration, de_opt_duration, ser_duration, ser_opt_duration};
use super::Secret;

/// Default of `cooldown`: the same event for the same service on the same
/// route is sent at most once in it.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// Default of `repeat_max` when `repeat_every` is set.
pub const DEFAULT_REPEAT_MAX: u32 = 3;
/// Shortest `repeat_every`.
pub const MIN_REPEAT: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub routes: Vec<RouteConfig>,
    /// How long delivered and failed alerts and their attempts are kept.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub retention: Duration,
    /// Attempts before an alert is marked `failed` (kept, and visible in
    /// the history).
    pub max_attempts: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            retention: Duration::from_secs(30 * 86_400),
            max_attempts: 10,
        }
    }
}

/// Where a route delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Pagerduty,
    Opsgenie,
    Slack,
    Webhook,
    Email,
}

impl RouteKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pagerduty => "pagerduty",
            Self::Opsgenie => "opsgenie",
            Self::Slack => "slack",
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }

    /// The provider's public endpoint, used when the route has no `url`.
    pub const fn default_url(self) -> Option<&'static str> {
        match self {
            Self::Pagerduty => Some("https://events.pagerduty.com/v2/enqueue"),
            Self::Opsgenie => Some("https://api.opsgenie.com"),
            Self::Slack | Self::Webhook | Self::Email => None,
        }
    }

    /// The key naming this kind's secret (`routing_key`, `api_key`,
    /// `secret`), if it has one.
    const fn secret_key(self) -> Option<&'static str> {
        match self {
            Self::Pagerduty => Some("routing_key"),
            Self::Opsgenie => Some("api_key"),
            Self::Webhook => Some("secret"),
            Self::Slack | Self::Email => None,
        }
    }
}

/// One `[[alerts.routes]]` entry.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique; letters, digits, `-` and `_` (it appears in API paths and
    /// metric labels).
    pub name: String,
    pub kind: RouteKind,
    /// Overrides the endpoint: PagerDuty's events URL, Opsgenie's API base
    /// (`https://api.eu.opsgenie.com` for the EU), the Slack or webhook URL.
    pub url: Option<String>,
    pub routing_key_env: Option<String>,
    pub routing_key_file: Option<PathBuf>,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Recipients of an `email` route.
    #[serde(default)]
    pub to: Vec<String>,
    /// Service slugs or globs (`api-*`); empty: every service.
    #[serde(default)]
    pub services: Vec<String>,
    /// Group names or globs; empty: every group.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Empty: the incident events for `pagerduty` and `opsgenie`, every
    /// event for the others (`test`, sent to one route, always goes).
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Incidents (and status changes) below this impact are not sent.
    #[serde(default = "default_min_impact")]
    pub min_impact: Impact,
    #[serde(
        default = "default_cooldown",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub cooldown: Duration,
    /// Remind while an incident stays open, every this long.
    #[serde(
        default,
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration"
    )]
    pub repeat_every: Option<Duration>,
    /// At most this many reminders per incident (default 3 with
    /// `repeat_every`).
    pub repeat_max: Option<u32>,
    /// Send `incident.resolved` (and close the page-out).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// How long one HTTP attempt may take (email: `smtp.timeout`).
    #[serde(
        default = "default_send_timeout",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub timeout: Duration,
    /// The route's secret, read at start-up from `*_env` or `*_file`.
    #[serde(skip)]
    pub secret: Option<Secret>,
}

fn default_min_impact() -> Impact {
    Impact::Minor
}

fn default_send_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Longest `timeout`: well within the minute a claimed delivery is kept.
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn default_cooldown() -> Duration {
    DEFAULT_COOLDOWN
}

const fn yes() -> bool {
    true
}

impl RouteConfig {
    /// The endpoint this route posts to.
    pub fn endpoint(&self) -> Option<&str> {
        self.url.as_deref().or_else(|| self.kind.default_url())
    }

    /// Reminders per incident.
    pub fn repeat_max(&self) -> u32 {
        match self.repeat_every {
            Some(_) => self.repeat_max.unwrap_or(DEFAULT_REPEAT_MAX),
            None => 0,
        }
    }

    /// Whether the route takes `event` at all (`test` always). Without
    /// `events`, pagers (PagerDuty, Opsgenie) take the incident events, so
    /// one outage pages once; chat, webhooks and mail take every event.
    pub fn wants(&self, event: EventKind) -> bool {
        event == EventKind::Test
            || if self.events.is_empty() {
                !self.closes_alerts()
                    || matches!(
                        event,
                        EventKind::IncidentOpened
                            | EventKind::IncidentUpdated
                            | EventKind::IncidentResolved
                    )
            } else {
                self.events.contains(&event)
            }
    }

    /// A resolution closes what an earlier event opened at the receiver.
    pub const fn closes_alerts(&self) -> bool {
        matches!(self.kind, RouteKind::Pagerduty | RouteKind::Opsgenie)
    }

    /// Whether a service (slug and group) passes the route's filters.
    pub fn covers(&self, filters: &RouteFilters, slug: &str, group: Option<&str>) -> bool {
        let services =
            filters.services.is_empty() || filters.services.iter().any(|g| g.is_match(slug));
        let groups = filters.groups.is_empty()
            || group.is_some_and(|name| filters.groups.iter().any(|g| g.is_match(name)));
        services && groups
    }

    /// The `*_env` / `*_file` pair of this route's kind, with their key
    /// names, and every pair set that does not belong to the kind.
    fn secret_sources(&self) -> [(&'static str, Option<&String>, Option<&PathBuf>); 3] {
        [
            (
                "routing_key",
                self.routing_key_env.as_ref(),
                self.routing_key_file.as_ref(),
            ),
            (
                "api_key",
                self.api_key_env.as_ref(),
                self.api_key_file.as_ref(),
            ),
            (
                "secret",
                self.secret_env.as_ref(),
                self.secret_file.as_ref(),
            ),
        ]
    }

    /// Compiled `services` and `groups` globs.
    pub fn filters(&self) -> Result<RouteFilters, (String, String)> {
        let compile = |key: &str, patterns: &[String]| {
            patterns
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| (format!("{key}[{i}]"), format!("bad glob: {}", e.kind())))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(RouteFilters {
            services: compile("services", &self.services)?,
            groups: compile("groups", &self.groups)?,
        })
    }
}

/// A route's `services` and `groups`, compiled.
#[derive(Clone, Debug, Default)]
pub struct RouteFilters {
    pub services: Vec<GlobMatcher>,
    pub groups: Vec<GlobMatcher>,
}

/// How mail reaches the SMTP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; only for a relay on the same host or network.
    None,
    /// Upgrade with STARTTLS (required, not opportunistic); port 587.
    #[default]
    Starttls,
    /// TLS from the first byte; port 465.
    Implicit,
}

/// `[smtp]`: the one mail server for alerts and, later, subscribers.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default by `tls`: 25, 587 or 465.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    #[serde(
        default = "default_smtp_timeout",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub timeout: Duration,
    /// Read at start-up from `password_env` or `password_file`.
    #[serde(skip)]
    pub password: Option<Secret>,
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(10)
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Implicit => 465,
        })
    }
}

/// Reads a secret from the variable `var` of `env` or from `file`;
/// `key` is the pair's name (`routing_key`), for the messages.
pub(super) fn read_secret(
    key: &str,
    var: Option<&String>,
    file: Option<&PathBuf>,
    env: &HashMap<String, String>,
) -> Result<Option<Secret>, (String, String)> {
    match (var, file) {
        (Some(_), Some(_)) => Err((
            format!("{key}_env"),
            format!("set {key}_env or {key}_file, not both"),
        )),
        (Some(var), None) => match env.get(var).map(|v| v.trim()) {
            Some(value) if !value.is_empty() => Ok(Some(Secret(value.to_owned()))),
            Some(_) => Err((
                format!("{key}_env"),
                format!("environment variable {var} is empty"),
            )),
            None => Err((
                format!("{key}_env"),
                format!("environment variable {var} is not set"),
            )),
        },
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(Secret(text.trim().to_owned()))),
            Ok(_) => Err((
                format!("{key}_file"),
                format!("{} is empty", path.display()),
            )),
            Err(e) => Err((
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )),
        },
        (None, None) => Ok(None),
    }
}

fn is_route_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_http_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// A mail address as `user@host` (alone or as `Name <user@host>`); the
/// mailer parses it fully.
fn is_mail_address(text: &str) -> bool {
    let address = match (text.rfind('<'), text.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => text,
    };
    address
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.contains('@'))
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reads the secrets of `[alerts]` and `[smtp]` and checks both; returns
/// `(key, reason)` pairs (the caller adds lines).
pub(super) fn resolve_and_check(
    alerts: &mut AlertsConfig,
    smtp: &mut Option<SmtpConfig>,
    env: &HashMap<String, String>,
) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    if alerts.max_attempts == 0 {
        issues.push(("alerts.max_attempts".into(), "must be at least 1".into()));
    }
    if alerts.retention < Duration::from_secs(3600) {
        issues.push(("alerts.retention".into(), "must be at least 1h".into()));
    }
    let mut names = HashSet::new();
    for (i, route) in alerts.routes.iter_mut().enumerate() {
        let at = |key: &str| format!("alerts.routes[{i}].{key}");
        if !is_route_name(&route.name) {
            issues.push((at("name"), "must be 1 to 64 letters, digits, - or _".into()));
        } else if !names.insert(route.name.clone()) {
            issues.push((
                at("name"),
                format!("another route is named {:?}", route.name),
            ));
        }
        if let Some(url) = &route.url {
            if !is_http_url(url) {
                issues.push((at("url"), "must be an http or https URL".into()));
            }
        } else if matches!(route.kind, RouteKind::Slack | RouteKind::Webhook) {
            issues.push((
                at("url"),
                format!("is required for {} routes", route.kind.as_str()),
            ));
        }
        let own = route.kind.secret_key();
        let sources = route.secret_sources();
        for (key, var, file) in sources {
            if Some(key) != own && (var.is_some() || file.is_some()) {
                let which = if var.is_some() { "env" } else { "file" };
                issues.push((
                    at(&format!("{key}_{which}")),
                    format!("does not apply to {} routes", route.kind.as_str()),
                ));
            }
        }
        let read = sources
            .into_iter()
            .find(|(key, ..)| Some(*key) == own)
            .map(|(key, var, file)| (key, read_secret(key, var, file, env)));
        if let Some((key, read)) = read {
            match read {
                Ok(secret) => {
                    let required = matches!(route.kind, RouteKind::Pagerduty | RouteKind::Opsgenie);
                    if secret.is_none() && required {
                        issues.push((
                            at(&format!("{key}_env")),
                            format!(
                                "{key}_env or {key}_file is required for {} routes",
                                route.kind.as_str()
                            ),
                        ));
                    }
                    route.secret = secret;
                }
                Err((k, message)) => issues.push((at(&k), message)),
            }
        }
        if route.kind == RouteKind::Email {
            if route.to.is_empty() {
                issues.push((
                    at("to"),
                    "needs at least one address for email routes".into(),
                ));
            }
            if smtp.is_none() {
                issues.push((at("kind"), "email routes need an [smtp] section".into()));
            }
        } else if !route.to.is_empty() {
            issues.push((
                at("to"),
                format!("does not apply to {} routes", route.kind.as_str()),
            ));
        }
        for (j, address) in route.to.iter().enumerate() {
            if !is_mail_address(address) {
                issues.push((at(&format!("to[{j}]")), "must be a mail address".into()));
            }
        }
        if let Err((key, message)) = route.filters() {
            issues.push((at(&key), message));
        }
        if route.timeout.is_zero() || route.timeout > MAX_SEND_TIMEOUT {
            issues.push((at("timeout"), "must be more than 0 and at most 30s".into()));
        }
        if route.cooldown > Duration::from_secs(7 * 86_400) {
            issues.push((at("cooldown"), "must be at most 7d".into()));
        }
        match (route.repeat_every, route.repeat_max) {
            (Some(every), _) if every < MIN_REPEAT => {
                issues.push((at("repeat_every"), "must be at least 1s".into()));
            }
            (None, Some(_)) => issues.push((at("repeat_max"), "goes with repeat_every".into())),
            _ => {}
        }
    }
    if let Some(smtp) = smtp {
        if smtp.host.trim().is_empty() {
            issues.push(("smtp.host".into(), "must not be empty".into()));
        }
        if smtp.port == Some(0) {
            issues.push(("smtp.port".into(), "must be between 1 and 65535".into()));
        }
        if !is_mail_address(&smtp.from) {
            issues.push(("smtp.from".into(), "must be a mail address".into()));
        }
        match read_secret(
            "password",
            smtp.password_env.as_ref(),
            smtp.password_file.as_ref(),
            env,
        ) {
            Ok(password) => {
                if password.is_some() && smtp.username.is_none() {
                    issues.push(("smtp.username".into(), "is required with a password".into()));
                }
                smtp.password = password;
            }
            Err((key, message)) => issues.push((format!("smtp.{key}"), message)),
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn load(
        toml: &str,
        env: &[(&str, &str)],
    ) -> Result<Config, Vec<(String, Option<usize>, String)>> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml(toml, env, &Overrides::default()).map_err(|issues| {
            issues
                .into_iter()
                .map(|i| (i.key, i.line, i.message))
                .collect()
        })
    }

    const PD: &str = "[[alerts.routes]]\nname = \"oncall\"\nkind = \"pagerduty\"\nrouting_key_env = \"PD_KEY\"\n";

    #[test]
    fn routes_take_their_defaults_and_their_secret_from_the_environment() {
        let config = load(PD, &[("PD_KEY", " 0123456789abcdef0123456789abcdef\n")]).unwrap();
        let route = &config.alerts.routes[0];
        assert_eq!(route.kind, RouteKind::Pagerduty);
        assert_eq!(
            route.endpoint(),
            Some("https://events.pagerduty.com/v2/enqueue")
        );
        assert_eq!(route.cooldown, DEFAULT_COOLDOWN);
        assert_eq!(route.min_impact, Impact::Minor);
        assert!(route.send_resolved);
        assert_eq!(route.repeat_max(), 0);
        assert_eq!(
            route.secret,
            Some(Secret("0123456789abcdef0123456789abcdef".into()))
        );
        assert_eq!(
            format!("{route:?}").matches("0123456789abcdef").count(),
            0,
            "never printed"
        );
        assert!(route.wants(EventKind::IncidentOpened) && route.wants(EventKind::Test));
        assert_eq!(config.alerts.max_attempts, 10);
    }

    #[test]
    fn secrets_come_from_files_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "genie-key\n").unwrap();
        let toml = format!(
            "[[alerts.routes]]\nname = \"eu\"\nkind = \"opsgenie\"\nurl = \"https://api.eu.opsgenie.com\"\napi_key_file = \"{}\"\n",
            path.display()
        );
        let config = load(&toml, &[]).unwrap();
        assert_eq!(
            config.alerts.routes[0].secret,
            Some(Secret("genie-key".into()))
        );
        assert_eq!(
            config.alerts.routes[0].endpoint(),
            Some("https://api.eu.opsgenie.com")
        );
    }

    /// A config, its environment, and the key, line and message expected.
    type Case = (
        String,
        &'static [(&'static str, &'static str)],
        &'static str,
        Option<usize>,
        &'static str,
    );

    #[test]
    fn bad_routes_are_named_by_key_and_line() {
        let smtp = "[smtp]\nhost = \"mail\"\nfrom = \"status@example.com\"\n";
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (PD.into(), &[], "alerts.routes[0].routing_key_env", Some(4), "environment variable PD_KEY is not set"),
            (PD.into(), &[("PD_KEY", " ")], "alerts.routes[0].routing_key_env", Some(4), "environment variable PD_KEY is empty"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"pagerduty\"\n".into(), &[], "alerts.routes[0].routing_key_env", Some(1), "routing_key_env or routing_key_file is required for pagerduty routes"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"pagerduty\"\nrouting_key_env = \"K\"\nrouting_key_file = \"/k\"\n".into(), &[("K", "x")], "alerts.routes[0].routing_key_env", Some(4), "set routing_key_env or routing_key_file, not both"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"opsgenie\"\napi_key_file = \"/nonexistent/key\"\n".into(), &[], "alerts.routes[0].api_key_file", Some(4), "cannot read /nonexistent/key"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"pager\"\n".into(), &[], "alerts.routes[0].kind", Some(3), "unknown variant `pager`"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://hooks.slack.com/x\"\nrouting_key = \"literal\"\n".into(), &[], "alerts.routes[0].routing_key", Some(5), "unknown field `routing_key`"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\n".into(), &[], "alerts.routes[0].url", Some(1), "is required for slack routes"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"ftp://x\"\n".into(), &[], "alerts.routes[0].url", Some(4), "must be an http or https URL"),
            ("[[alerts.routes]]\nname = \"a b\"\nkind = \"slack\"\nurl = \"https://x.example\"\n".into(), &[], "alerts.routes[0].name", Some(2), "must be 1 to 64 letters, digits, - or _"),
            (format!("{PD}[[alerts.routes]]\nname = \"oncall\"\nkind = \"slack\"\nurl = \"https://x.example\"\n"), &[("PD_KEY", "k")], "alerts.routes[1].name", Some(6), "another route is named \"oncall\""),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nservices = [\"api-[\"]\n".into(), &[], "alerts.routes[0].services[0]", Some(5), "bad glob: unclosed character class; missing ']'"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nevents = [\"incident.exploded\"]\n".into(), &[], "alerts.routes[0].events[0]", Some(5), "unknown variant `incident.exploded`"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nmin_impact = \"huge\"\n".into(), &[], "alerts.routes[0].min_impact", Some(5), "unknown variant `huge`"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nsecret_env = \"S\"\n".into(), &[("S", "x")], "alerts.routes[0].secret_env", Some(5), "does not apply to slack routes"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nrepeat_every = \"500ms\"\n".into(), &[], "alerts.routes[0].repeat_every", Some(5), "must be at least 1s"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\nrepeat_max = 2\n".into(), &[], "alerts.routes[0].repeat_max", Some(5), "goes with repeat_every"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"email\"\nto = [\"ops@example.com\"]\n".into(), &[], "alerts.routes[0].kind", Some(3), "email routes need an [smtp] section"),
            (format!("{smtp}[[alerts.routes]]\nname = \"a\"\nkind = \"email\"\n"), &[], "alerts.routes[0].to", Some(4), "needs at least one address for email routes"),
            (format!("{smtp}[[alerts.routes]]\nname = \"a\"\nkind = \"email\"\nto = [\"not an address\"]\n"), &[], "alerts.routes[0].to[0]", Some(7), "must be a mail address"),
            ("[smtp]\nhost = \"mail\"\nfrom = \"nobody\"\n".into(), &[], "smtp.from", Some(3), "must be a mail address"),
            ("[smtp]\nhost = \"mail\"\nfrom = \"a@b.example\"\npassword_env = \"PW\"\n".into(), &[("PW", "x")], "smtp.username", Some(1), "is required with a password"),
            ("[smtp]\nhost = \"mail\"\nfrom = \"a@b.example\"\ntls = \"ssl\"\n".into(), &[], "smtp.tls", Some(4), "unknown variant `ssl`"),
            ("[alerts]\nmax_attempts = 0\n".into(), &[], "alerts.max_attempts", Some(2), "must be at least 1"),
            ("[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\ntimeout = \"2m\"\n".into(), &[], "alerts.routes[0].timeout", Some(5), "must be more than 0 and at most 30s"),
        ];
        for (toml, env, key, line, message) in cases {
            let issues = load(toml, env).expect_err(toml);
            let found = issues.iter().find(|(k, ..)| k == key);
            let Some((_, got_line, got)) = found else {
                panic!("no issue for {key} in {issues:?}\n{toml}");
            };
            assert!(
                got.starts_with(message),
                "{key}: {got:?} should start with {message:?}"
            );
            assert_eq!(got_line, line, "{key}: line");
        }
    }

    #[test]
    fn filters_match_services_and_groups_by_glob() {
        let toml = "[[alerts.routes]]\nname = \"a\"\nkind = \"slack\"\nurl = \"https://x.example\"\n\
                    services = [\"api-*\", \"db\"]\ngroups = [\"Core*\"]\nevents = [\"incident.opened\"]\n";
        let config = load(toml, &[]).unwrap();
        let route = &config.alerts.routes[0];
        let filters = route.filters().unwrap();
        let cases = [
            ("api-eu", Some("Core services"), true),
            ("db", Some("Core"), true),
            ("api-eu", Some("Edge"), false),
            ("api-eu", None, false),
            ("web", Some("Core"), false),
        ];
        for (slug, group, want) in cases {
            assert_eq!(
                route.covers(&filters, slug, group),
                want,
                "{slug} {group:?}"
            );
        }
        assert!(route.wants(EventKind::IncidentOpened));
        assert!(!route.wants(EventKind::IncidentResolved));
        assert!(route.wants(EventKind::Test), "a test reaches every route");
    }

    #[test]
    fn smtp_ports_follow_the_tls_mode() {
        let cases = [("none", 25), ("starttls", 587), ("implicit", 465)];
        for (tls, port) in cases {
            let toml =
                format!("[smtp]\nhost = \"mail\"\nfrom = \"a@b.example\"\ntls = \"{tls}\"\n");
            assert_eq!(
                load(&toml, &[]).unwrap().smtp.unwrap().port(),
                port,
                "{tls}"
            );
        }
        let toml = "[smtp]\nhost = \"mail\"\nfrom = \"Status <a@b.example>\"\nusername = \"u\"\npassword_env = \"PW\"\nport = 2525\n";
        let smtp = load(toml, &[("PW", "pw")]).unwrap().smtp.unwrap();
        assert_eq!(
            (smtp.port(), smtp.password),
            (2525, Some(Secret("pw".into())))
        );
    }
}
