//! Semantic checks serde cannot express: ranges, slugs, references from
//! services to groups, URLs, header syntax and CA files. Validation looks
//! at the whole configuration and returns every problem as a
//! `(key, reason)` pair instead of stopping at the first; the caller adds
//! the line, since only it has the source text.

use std::collections::HashSet;
use std::time::Duration;

use super::{load_pem_certificates, resolve_check_url, CheckConfig, Config, MAX_PAGE_LINKS};
use crate::domain::conditions::Condition;

/// Samples are stored per second, so probes run at most once a second.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
const INTERVAL_TOO_SHORT: &str = "must be at least 1s (samples are stored per second)";

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

impl Config {
    /// Semantic checks serde cannot express. Returns `(key, reason)` pairs.
    pub(super) fn validate(&self) -> Vec<(String, String)> {
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
        if self.database.max_connections == Some(0) {
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
        for (key, message) in self
            .console
            .issues()
            .into_iter()
            .chain(super::console::template_issues(&self.incident_templates))
        {
            push(key, message);
        }
        if let Some(dsn) = &self.client_errors.sentry_dsn {
            if let Err(reason) = super::client_errors::SentryDsn::parse(dsn) {
                push("client_errors.sentry_dsn".into(), reason.into());
            }
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(30))
            .contains(&self.client_errors.sentry_timeout)
        {
            push(
                "client_errors.sentry_timeout".into(),
                "must be from 1s to 30s".into(),
            );
        }
        if self.page.max_listed == 0 {
            push("page.max_listed".into(), "must be at least 1".into());
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
        if self.database.lease_ttl < Duration::from_secs(3) {
            push(
                "database.lease_ttl".into(),
                "must be at least 3s (the leader renews it every third)".into(),
            );
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
        for (key, reason) in self.defaults.slo.check("defaults.slo") {
            push(key, reason);
        }
        for (i, service) in self.services.iter().enumerate() {
            for (key, reason) in service
                .slo
                .iter()
                .flat_map(|s| s.check(&format!("services[{i}].slo")))
            {
                push(key, reason);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = r#"
[[services]]
slug = "api"
name = "API"
[services.check]
kind = "http"
url = "/health"
"#;

    /// The validation issues of `source`, which must parse.
    fn issues(source: &str) -> Vec<(String, String)> {
        let config: Config = toml::from_str(source).unwrap_or_else(|e| panic!("{source}\n{e}"));
        config.validate()
    }

    fn with_check(check: &str) -> String {
        format!("[[services]]\nslug = \"api\"\nname = \"API\"\n[services.check]\n{check}")
    }

    #[test]
    fn bad_configs_are_rejected_naming_the_key_and_the_reason() {
        let second = |extra: &str| format!("{SERVICE}{}", SERVICE.replace("\"API\"", extra));
        let links: String = (0..=MAX_PAGE_LINKS)
            .map(|_| "[[page.links]]\nlabel = \"a\"\nurl = \"/\"\n")
            .collect();
        #[rustfmt::skip]
        let cases: Vec<(String, &str, &str)> = vec![
            (SERVICE.replace("\"api\"", "\"Web Site\""), "services[0].slug",
             "\"Web Site\" is not a valid slug (lowercase letters, digits and inner dashes only)"),
            (SERVICE.replace("\"api\"", "\"-api\""), "services[0].slug",
             "\"-api\" is not a valid slug (lowercase letters, digits and inner dashes only)"),
            (SERVICE.replace("\"api\"", "\"\""), "services[0].slug", "must not be empty"),
            (second("\"Other\""), "services[1].slug", "duplicate slug \"api\""),
            (SERVICE.replace("name = \"API\"", "name = \" \""), "services[0].name", "must not be empty"),
            (SERVICE.replace("name = \"API\"", "name = \"API\"\ninterval = \"500ms\""), "services[0].interval",
             "must be at least 1s (samples are stored per second)"),
            (SERVICE.replace("name = \"API\"", "name = \"API\"\ntimeout = 0"), "services[0].timeout",
             "must be greater than 0"),
            (SERVICE.replace("name = \"API\"", "name = \"API\"\nfailure_threshold = 0"), "services[0].failure_threshold",
             "must be at least 1"),
            (format!("[[groups]]\nname = \"Core\"\n{}", SERVICE.replace("name = \"API\"", "name = \"API\"\ngroup = \"Db\"")),
             "services[0].group", "unknown group \"Db\" (not in [[groups]])"),
            ("[[groups]]\nname = \"Core\"\n[[groups]]\nname = \"Core\"".to_owned(), "groups[1].name",
             "duplicate group \"Core\""),
            ("[[groups]]\nname = \"\"".to_owned(), "groups[0].name", "must not be empty"),
            (with_check("kind = \"http\"\nurl = \"ftp://example.com/\""), "services[0].check.url",
             "unsupported scheme \"ftp\" (use http or https)"),
            (with_check("kind = \"http\"\nurl = \"/\"\nmethod = \"GE T\""), "services[0].check.method",
             "invalid HTTP method \"GE T\""),
            (with_check("kind = \"http\"\nurl = \"/\"\nexpected_status = [200, 700]"), "services[0].check.expected_status",
             "700 is not an HTTP status code"),
            (with_check("kind = \"http\"\nurl = \"/\"\nheaders = { \"bad header\" = \"x\" }"), "services[0].check.headers",
             "invalid header name \"bad header\""),
            (with_check("kind = \"http\"\nurl = \"/\"\nheaders = { x-a = \"line\\nbreak\" }"), "services[0].check.headers.x-a",
             "invalid header value"),
            (with_check("kind = \"http\"\nurl = \"/\"\nconditions = [{ json_pointer = \"a\", exists = true }]"),
             "services[0].check.conditions[0]", "json_pointer \"a\" must start with / (RFC 6901)"),
            (with_check("kind = \"http\"\nurl = \"/\"\ndegraded_over = 0"), "services[0].check.degraded_over",
             "must be greater than 0"),
            (with_check("kind = \"tcp\"\nhost = \"db\"\nport = 0"), "services[0].check.port",
             "must be between 1 and 65535"),
            (with_check("kind = \"tcp\"\nhost = \" \"\nport = 5432"), "services[0].check.host", "must not be empty"),
            (with_check("kind = \"tls\"\nhost = \"example.com\"\nserver_name = \"not a name\""), "services[0].check.server_name",
             "\"not a name\" is not a valid DNS name or IP address"),
            (with_check("kind = \"tls\"\nhost = \"bad host\""), "services[0].check.host",
             "\"bad host\" is not a valid DNS name or IP address"),
            (with_check("kind = \"dns\"\nname = \"example .com\""), "services[0].check.name", "must be a host name"),
            (with_check("kind = \"dns\"\nname = \"example.com\"\nserver = \"dns.google\""), "services[0].check.server",
             "\"dns.google\" is not an IP address or ip:port"),
            ("[page]\naccent = \"red\"".to_owned(), "page.accent", "must be #rgb or #rrggbb"),
            ("[page]\ntitle = \"  \"".to_owned(), "page.title", "must not be empty"),
            ("[page]\nlogo = \"javascript:alert(1)\"".to_owned(), "page.logo",
             "must be an http(s) address or a path starting with /"),
            (links, "page.links", "at most 10 links"),
            ("[[page.links]]\nlabel = \"\"\nurl = \"/\"".to_owned(), "page.links[0].label", "must be 1 to 40 characters"),
            ("[[page.links]]\nlabel = \"Home\"\nurl = \"//evil.example\"".to_owned(), "page.links[0].url",
             "must be an http(s) address or a path starting with /"),
            ("[database]\nurl = \"mysql://db\"".to_owned(), "database.url", "must start with sqlite:// or postgres://"),
            ("[database]\nmax_connections = 0".to_owned(), "database.max_connections", "must be at least 1"),
            ("[page]\nmax_listed = 0".to_owned(), "page.max_listed", "must be at least 1"),
            ("[database]\nfollower_refresh = \"500ms\"".to_owned(), "database.follower_refresh", "must be at least 1s"),
            ("[database]\nlease_ttl = \"2s\"".to_owned(), "database.lease_ttl", "must be at least 3s (the leader renews it every third)"),
            ("[defaults]\ninterval = \"999ms\"".to_owned(), "defaults.interval",
             "must be at least 1s (samples are stored per second)"),
            ("[defaults]\ntimeout = 0".to_owned(), "defaults.timeout", "must be greater than 0"),
            ("[defaults]\nrecovery_threshold = 0".to_owned(), "defaults.recovery_threshold", "must be at least 1"),
            ("[defaults]\nmax_concurrent_probes = 0".to_owned(), "defaults.max_concurrent_probes", "must be at least 1"),
            ("[retention]\nsamples = \"59m\"".to_owned(), "retention.samples", "must be at least 1h"),
            ("[retention]\nprune_interval = 0".to_owned(), "retention.prune_interval", "must be greater than 0"),
            ("[server]\npublic_url = \"ftp://example.com/\"".to_owned(), "server.public_url",
             "must be an http or https URL"),
        ];
        for (source, key, message) in &cases {
            let expected = vec![((*key).to_owned(), (*message).to_owned())];
            assert_eq!(issues(source), expected, "{source}");
        }
    }

    #[test]
    fn good_configs_have_no_issues() {
        #[rustfmt::skip]
        let cases: Vec<String> = vec![
            String::new(),
            SERVICE.to_owned(),
            // A group needs [[groups]] only once any group is listed there.
            SERVICE.replace("name = \"API\"", "name = \"API\"\ngroup = \"Anything\""),
            format!("[[groups]]\nname = \"Core\"\n{}", SERVICE.replace("name = \"API\"", "name = \"API\"\ngroup = \"Core\"")),
            SERVICE.replace("name = \"API\"", "name = \"API\"\ninterval = \"1s\"\ntimeout = \"1ms\""),
            "[database]\nurl = \"postgresql://db/upbeat\"".to_owned(),
            "[page]\naccent = \"#F06\"\nlogo = \"https://example.com/logo.svg\"".to_owned(),
            "[retention]\nsamples = \"1h\"".to_owned(),
            "[logging]\nlevel = \"info,upbeat=debug\"".to_owned(),
            with_check("kind = \"tls\"\nhost = \"10.0.0.5\""),
            with_check("kind = \"dns\"\nname = \"example.com\"\nserver = \"[::1]:5353\""),
            with_check("kind = \"push\""),
        ];
        for source in &cases {
            assert_eq!(issues(source), Vec::new(), "{source}");
        }
    }

    #[test]
    fn every_problem_is_returned_not_just_the_first() {
        let source = format!(
            "[database]\nurl = \"mysql://db\"\n[page]\ntitle = \"\"\n{}",
            SERVICE
                .replace("\"api\"", "\"API\"")
                .replace("/health", "ftp://x/")
        );
        let keys: Vec<String> = issues(&source).into_iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            [
                "database.url",
                "page.title",
                "services[0].slug",
                "services[0].check.url"
            ]
        );
    }

    #[test]
    fn slugs_allow_lowercase_letters_digits_and_inner_dashes() {
        let invalid = |slug: &str| {
            format!(
                "\"{slug}\" is not a valid slug (lowercase letters, digits and inner dashes only)"
            )
        };
        let long = "a".repeat(65);
        let cases: Vec<(&str, Result<(), String>)> = vec![
            ("api", Ok(())),
            ("api-v2", Ok(())),
            ("0", Ok(())),
            (&long[..64], Ok(())),
            (&long, Err("must be at most 64 characters".to_owned())),
            ("", Err("must not be empty".to_owned())),
            ("Api", Err(invalid("Api"))),
            ("api-", Err(invalid("api-"))),
            ("-api", Err(invalid("-api"))),
            ("a_b", Err(invalid("a_b"))),
            ("a b", Err(invalid("a b"))),
            ("ápi", Err(invalid("ápi"))),
        ];
        for (slug, expected) in cases {
            assert_eq!(check_slug(slug), expected, "check_slug({slug:?})");
        }
    }

    #[test]
    fn page_addresses_are_http_or_local_paths() {
        let long = format!("/{}", "a".repeat(2048));
        let cases: Vec<(&str, bool)> = vec![
            ("/logo.svg", true),
            ("https://example.com/logo.png", true),
            ("http://example.com/", true),
            (&long[..2048], true),
            (&long, false),
            ("//evil.example/x", false),
            ("javascript:alert(1)", false),
            ("data:image/png;base64,AAAA", false),
            ("logo.svg", false),
            ("/a b", false),
            ("/a\"onload=\"x", false),
            ("/a\nb", false),
            ("", false),
        ];
        for (url, expected) in cases {
            assert_eq!(is_page_address(url), expected, "is_page_address({url:?})");
        }
    }

    #[test]
    fn accent_colours_are_three_or_six_hex_digits() {
        let cases: &[(&str, bool)] = &[
            ("#fff", true),
            ("#FF0066", true),
            ("#a1B2c3", true),
            ("fff", false),
            ("#ffff", false),
            ("#fffffff", false),
            ("#ggg", false),
            ("#", false),
            ("red", false),
            ("#fff;}", false),
        ];
        for (colour, expected) in cases {
            assert_eq!(
                is_hex_colour(colour),
                *expected,
                "is_hex_colour({colour:?})"
            );
        }
    }
}
