//! `[subscribers]`: visitors who follow incidents and maintenance by mail,
//! and the webhook or Slack destinations admins add (SPEC "People").
//!
//! ```toml
//! [subscribers]
//! enabled = true              # the "Get updates" form, and sending; mail needs [smtp] and server.public_url
//! max_per_second = 100        # mails (and posts) a second at most: your SMTP provider's limit
//! max_attempts = 8            # tries per mail before giving up
//! per_client_per_hour = 10    # subscriptions from one client address an hour
//! retention = "30d"           # sent and failed mails are kept this long (the history admins see)
//! pending_for = "7d"          # subscriptions never confirmed are deleted after this long
//! secret_env = "UPBEAT_SUBSCRIBERS_SECRET"  # or secret_file: the key that signs links
//! ```
//!
//! Without `secret_env` or `secret_file`, a key is made at the first start
//! and kept in the database (table `signing_keys`), so every replica signs
//! alike; a given secret (at least 32 characters) replaces it, and changing
//! it makes every link already mailed stop working.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::alerts::read_secret;
use super::duration::{de_duration, ser_duration};
use super::Secret;

/// `[subscribers]` as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscribersConfig {
    pub enabled: bool,
    pub max_per_second: u32,
    pub max_attempts: u32,
    pub per_client_per_hour: u32,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub retention: Duration,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub pending_for: Duration,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Read at start-up from `secret_env` or `secret_file`.
    #[serde(skip)]
    pub secret: Option<Secret>,
}

impl Default for SubscribersConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            // 10,000 subscribers in under two minutes, and within what
            // the usual providers allow a paying sender.
            max_per_second: 100,
            max_attempts: 8,
            per_client_per_hour: 10,
            retention: Duration::from_secs(30 * 86_400),
            pending_for: Duration::from_secs(7 * 86_400),
            secret_env: None,
            secret_file: None,
            secret: None,
        }
    }
}

impl SubscribersConfig {
    /// Reads the secret and checks the settings against the rest of the
    /// config; problems as (key, message).
    pub fn resolve_and_check(
        &mut self,
        public_url: Option<&url::Url>,
        has_smtp: bool,
        env: &HashMap<String, String>,
    ) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        let at = |key: &str| format!("subscribers.{key}");
        if !(1..=10_000).contains(&self.max_per_second) {
            issues.push((at("max_per_second"), "must be between 1 and 10000".into()));
        }
        if !(1..=50).contains(&self.max_attempts) {
            issues.push((at("max_attempts"), "must be between 1 and 50".into()));
        }
        if self.per_client_per_hour == 0 {
            issues.push((at("per_client_per_hour"), "must be at least 1".into()));
        }
        if self.pending_for < Duration::from_secs(86_400) {
            issues.push((
                at("pending_for"),
                "must be at least 1d (a confirmation link lasts a day)".into(),
            ));
        }
        if self.retention < Duration::from_secs(3600) {
            issues.push((at("retention"), "must be at least 1h".into()));
        }
        match read_secret(
            "secret",
            self.secret_env.as_ref(),
            self.secret_file.as_ref(),
            env,
        ) {
            Ok(Some(secret)) if secret.0.len() < 32 => issues.push((
                at(if self.secret_env.is_some() {
                    "secret_env"
                } else {
                    "secret_file"
                }),
                "the secret must be at least 32 characters".into(),
            )),
            Ok(secret) => self.secret = secret,
            Err((key, message)) => issues.push((at(&key), message)),
        }
        if self.enabled {
            if public_url.is_none() {
                issues.push((
                    at("enabled"),
                    "needs server.public_url: mails link back to the page".into(),
                ));
            }
            if !has_smtp {
                issues.push((at("enabled"), "needs an [smtp] section to send mail".into()));
            }
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, Vec<(String, String)>> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml(toml, env, &Overrides::default())
            .map_err(|issues| issues.into_iter().map(|i| (i.key, i.message)).collect())
    }

    #[test]
    fn enabling_needs_the_pages_address_and_smtp() {
        let issues = load("[subscribers]\nenabled = true\n", &[]).unwrap_err();
        assert_eq!(
            issues,
            [
                (
                    "subscribers.enabled".to_owned(),
                    "needs server.public_url: mails link back to the page".to_owned()
                ),
                (
                    "subscribers.enabled".to_owned(),
                    "needs an [smtp] section to send mail".to_owned()
                ),
            ]
        );
        let ok = load(
            "[server]\npublic_url = \"https://status.example.com\"\n[smtp]\nhost = \"mail\"\nfrom = \"s@example.com\"\n[subscribers]\nenabled = true\n",
            &[],
        )
        .unwrap();
        assert!(ok.subscribers.enabled);
        assert_eq!(ok.subscribers.max_per_second, 100);
    }

    #[test]
    fn the_secret_comes_from_the_environment_and_must_be_long() {
        let toml = "[subscribers]\nsecret_env = \"SUB_KEY\"\n";
        let short = load(toml, &[("SUB_KEY", "short")]).unwrap_err();
        assert_eq!(
            short,
            [(
                "subscribers.secret_env".to_owned(),
                "the secret must be at least 32 characters".to_owned()
            )]
        );
        let key = "k".repeat(40);
        let config = load(toml, &[("SUB_KEY", &key)]).unwrap();
        assert_eq!(config.subscribers.secret.map(|s| s.0), Some(key));
        let bad = load("[subscribers]\nmax_per_second = 0\n", &[]).unwrap_err();
        assert_eq!(bad[0].0, "subscribers.max_per_second");
    }
}
