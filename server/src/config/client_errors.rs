//! `[client_errors]`: where browsers' errors may also go, and
//! `[profiling]`: whether the profiling routes answer.
//!
//! ```toml
//! [client_errors]
//! sentry_dsn = "https://public-key@o0.ingest.sentry.io/42"  # the page also sends Sentry envelopes
//! sentry_timeout = "5s"                                     # the tunnel's wait for Sentry
//!
//! [profiling]
//! enabled = false   # GET /debug/pprof/profile and /debug/pprof/heap (admin token)
//! ```
//!
//! A DSN's key is public by Sentry's design (every browser SDK ships it),
//! so the page carries it; the tunnel forwards only to the DSN's host and
//! project.

use std::time::Duration;

use serde::Deserialize;

use super::duration::{de_duration, ser_duration};

/// `[client_errors]` as written.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientErrorsConfig {
    /// A Sentry DSN: the page sends its errors as Sentry envelopes to the
    /// same-origin tunnel `POST /api/v1/client-errors/sentry` too.
    pub sentry_dsn: Option<String>,
    /// How long the tunnel waits for Sentry's answer.
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub sentry_timeout: Duration,
}

impl Default for ClientErrorsConfig {
    fn default() -> Self {
        Self {
            sentry_dsn: None,
            sentry_timeout: Duration::from_secs(5),
        }
    }
}

/// `[profiling]` as written.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilingConfig {
    /// Serve `/debug/pprof/*` to the admin token (off: `404`).
    pub enabled: bool,
}

/// A Sentry DSN, `{scheme}://{key}@{host}[:{port}]/[{path}/]{project}`,
/// taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentryDsn {
    /// `https://o0.ingest.sentry.io` (with a port, if any).
    pub origin: String,
    /// A path before the project (self-hosted Sentry behind a prefix), `""`
    /// or `/prefix`.
    pub prefix: String,
    pub project: String,
    pub key: String,
}

impl SentryDsn {
    /// Parses `raw`; the reason when it is no DSN.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const SHAPE: &str = "must be a Sentry DSN, like https://public-key@o0.ingest.sentry.io/42";
        let url = url::Url::parse(raw.trim()).map_err(|_| SHAPE)?;
        if !matches!(url.scheme(), "http" | "https")
            || url.username().is_empty()
            || url.query().is_some()
        {
            return Err(SHAPE);
        }
        let host = url.host_str().ok_or(SHAPE)?;
        let path = url.path().trim_end_matches('/');
        let (prefix, project) = path.rsplit_once('/').ok_or(SHAPE)?;
        if project.is_empty() || !project.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SHAPE);
        }
        let origin = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(Self {
            origin,
            prefix: prefix.to_owned(),
            project: project.to_owned(),
            key: url.username().to_owned(),
        })
    }

    /// Where Sentry takes envelopes for this project.
    pub fn envelope_url(&self) -> String {
        format!(
            "{}{}/api/{}/envelope/",
            self.origin, self.prefix, self.project
        )
    }

    /// Whether `other` names the same Sentry and project (the key may
    /// differ: a project can have several).
    pub fn same_project(&self, other: &Self) -> bool {
        self.origin == other.origin && self.prefix == other.prefix && self.project == other.project
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_are_taken_apart_or_refused() {
        let dsn = SentryDsn::parse("https://abc123@o7.ingest.sentry.io/42").unwrap();
        assert_eq!(dsn.origin, "https://o7.ingest.sentry.io");
        assert_eq!(dsn.key, "abc123");
        assert_eq!(
            dsn.envelope_url(),
            "https://o7.ingest.sentry.io/api/42/envelope/"
        );
        let hosted = SentryDsn::parse("http://k@sentry.local:9000/prefix/7").unwrap();
        assert_eq!(
            hosted.envelope_url(),
            "http://sentry.local:9000/prefix/api/7/envelope/"
        );
        assert!(!dsn.same_project(&hosted));
        let other_key = SentryDsn::parse("https://zzz@o7.ingest.sentry.io/42").unwrap();
        assert!(dsn.same_project(&other_key));
        for bad in [
            "",
            "not a url",
            "ftp://k@host/1",
            "https://o7.ingest.sentry.io/42",
            "https://k@o7.ingest.sentry.io/",
            "https://k@o7.ingest.sentry.io/abc",
            "https://k@o7.ingest.sentry.io/42?x=1",
        ] {
            assert!(SentryDsn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
