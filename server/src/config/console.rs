//! `[console]`: how long a console session lasts, and
//! `[[incident_templates]]`: incidents the console can start from.
//!
//! ```toml
//! [console]
//! session_idle = "8h"        # a session ends after this long without a request
//! session_lifetime = "7d"    # and this long after sign-in, however busy
//!
//! [[incident_templates]]
//! name = "Elevated errors"           # shown in the console's template menu
//! title = "Elevated error rates"
//! body = "We are investigating elevated error rates."
//! impact = "minor"                   # none | minor | major | critical
//! status = "investigating"           # investigating | identified | monitoring
//! service_status = "partial_outage"  # what the affected services are put in
//! ```

use std::time::Duration;

use app::model::{Impact, IncidentStatus, ServiceStatus};
use serde::{Deserialize, Serialize};

use super::duration::{de_duration, ser_duration};
use crate::domain::people::SessionPolicy;

/// `[console]` as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub session_idle: Duration,
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub session_lifetime: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        let policy = SessionPolicy::default();
        Self {
            session_idle: policy.idle.to_std().unwrap_or_default(),
            session_lifetime: policy.lifetime.to_std().unwrap_or_default(),
        }
    }
}

impl ConsoleConfig {
    /// The session rules these settings make.
    pub fn policy(&self) -> SessionPolicy {
        let of = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        SessionPolicy {
            idle: of(self.session_idle),
            lifetime: of(self.session_lifetime),
        }
    }

    /// Problems, as (key, message).
    pub fn issues(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        if self.session_idle < Duration::from_secs(60) {
            issues.push(("console.session_idle".into(), "must be at least 1m".into()));
        }
        if self.session_lifetime < self.session_idle {
            issues.push((
                "console.session_lifetime".into(),
                "must be at least console.session_idle".into(),
            ));
        }
        if self.session_lifetime > Duration::from_secs(90 * 86_400) {
            issues.push((
                "console.session_lifetime".into(),
                "must be at most 90d".into(),
            ));
        }
        issues
    }
}

/// One `[[incident_templates]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IncidentTemplate {
    pub name: String,
    pub title: String,
    pub body: String,
    #[serde(default = "default_impact")]
    pub impact: Impact,
    #[serde(default = "default_status")]
    pub status: IncidentStatus,
    /// The status the console preselects for each affected service.
    #[serde(default = "default_service_status")]
    pub service_status: ServiceStatus,
}

const fn default_impact() -> Impact {
    Impact::Minor
}

const fn default_status() -> IncidentStatus {
    IncidentStatus::Investigating
}

const fn default_service_status() -> ServiceStatus {
    ServiceStatus::PartialOutage
}

/// Problems of the templates, as (key, message).
pub fn template_issues(templates: &[IncidentTemplate]) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        let key = |field: &str| format!("incident_templates[{i}].{field}");
        for (field, value, max) in [
            ("name", &t.name, 100),
            ("title", &t.title, 200),
            ("body", &t.body, 20_000),
        ] {
            if value.trim().is_empty() {
                issues.push((key(field), "must not be empty".into()));
            } else if value.chars().count() > max {
                issues.push((key(field), format!("must be at most {max} characters")));
            }
        }
        if templates[..i].iter().any(|o| o.name == t.name) {
            issues.push((
                key("name"),
                format!("\"{}\" is used by an earlier template", t.name),
            ));
        }
        if t.status == IncidentStatus::Resolved {
            issues.push((key("status"), "a new incident cannot start resolved".into()));
        }
    }
    issues
}
