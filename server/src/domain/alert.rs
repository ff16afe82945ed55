//! Alerts as data: what happened ([`AlertEvent`], stored in the outbox as
//! the versioned webhook body), and the request bodies each provider
//! documents, built from it at delivery time, so no secret is ever stored
//! with an alert.
//!
//! Formats, checked against the providers' documentation:
//! - PagerDuty Events API v2 (`POST /v2/enqueue`): `trigger` with a
//!   `payload` (summary ≤ 1,024 characters, source, severity, timestamp,
//!   component, group, class, custom_details) and top-level `links`;
//!   `resolve` with only `routing_key`, `event_action` and `dedup_key`.
//! - Opsgenie Alert API v2: `POST /v2/alerts` (message ≤ 130, alias ≤ 512,
//!   description ≤ 15,000, priority P1–P5, ≤ 20 tags of ≤ 50, details,
//!   entity, source ≤ 100); close with
//!   `POST /v2/alerts/{alias}/close?identifierType=alias`.
//! - Slack incoming webhooks with Block Kit: `text` as the notification
//!   fallback, a `header` (plain text ≤ 150), a `section` of ≤ 10 `fields`
//!   (≤ 2,000 each), a `section` text (≤ 3,000), an `actions` button.
//! - The generic webhook: [`AlertEvent`] itself (`schema` =
//!   [`WEBHOOK_SCHEMA`]), signed by [`signature`].

use app::model::{Impact, IncidentStatus, ServiceStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use super::markdown::escape_html;

/// The version of the webhook body; a change that is not an addition gets
/// a new one.
pub const WEBHOOK_SCHEMA: &str = "upbeat.alert.v1";

/// What happened, as routes filter it (SPEC "Alerts").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "incident.opened")]
    IncidentOpened,
    #[serde(rename = "incident.updated")]
    IncidentUpdated,
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    #[serde(rename = "service.status_changed")]
    ServiceStatusChanged,
    /// A window was scheduled (subscribers get it; of the routes, those
    /// that take every event).
    #[serde(rename = "maintenance.scheduled")]
    MaintenanceScheduled,
    #[serde(rename = "maintenance.started")]
    MaintenanceStarted,
    #[serde(rename = "maintenance.completed")]
    MaintenanceCompleted,
    #[serde(rename = "slo.burn")]
    SloBurn,
    #[serde(rename = "test")]
    Test,
}

impl EventKind {
    pub const ALL: [Self; 9] = [
        Self::IncidentOpened,
        Self::IncidentUpdated,
        Self::IncidentResolved,
        Self::ServiceStatusChanged,
        Self::MaintenanceScheduled,
        Self::MaintenanceStarted,
        Self::MaintenanceCompleted,
        Self::SloBurn,
        Self::Test,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IncidentOpened => "incident.opened",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::ServiceStatusChanged => "service.status_changed",
            Self::MaintenanceScheduled => "maintenance.scheduled",
            Self::MaintenanceStarted => "maintenance.started",
            Self::MaintenanceCompleted => "maintenance.completed",
            Self::SloBurn => "slo.burn",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing that happened, with what a receiver needs to act on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// [`WEBHOOK_SCHEMA`].
    pub schema: String,
    pub event: EventKind,
    pub occurred_at: DateTime<Utc>,
    /// The status page's address (`server.public_url`), when configured.
    pub page_url: Option<String>,
    /// The page's title, for subjects and headers.
    pub page_title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceInfo>,
    /// Set on a reminder that the incident is still open: its number,
    /// from 1 (`repeat_every`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<u32>,
    /// An objective's status change (`slo.burn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloInfo>,
}

/// An objective whose status changed, with the figures behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloInfo {
    pub service: ServiceRef,
    /// `availability`, `latency_p95_300ms`, ….
    pub objective: String,
    pub target: f64,
    /// `30d` or `calendar_month`.
    pub window: String,
    /// `ok`, `warning`, `critical` or `exhausted`.
    pub status: String,
    pub previous: Option<String>,
    pub compliance: Option<f64>,
    pub budget_remaining: Option<f64>,
    /// Burn rate by window (`5m` … `72h`), where the window has samples.
    pub burn_rates: std::collections::BTreeMap<String, f64>,
    pub exhausted_in_s_at_1h_rate: Option<i64>,
    pub exhausted_in_s_at_24h_rate: Option<i64>,
    /// `{page_url}/services/{slug}`, when the page's address is known.
    #[serde(default)]
    pub url: Option<String>,
}

impl SloInfo {
    fn impact(&self) -> Impact {
        match self.status.as_str() {
            "critical" | "exhausted" => Impact::Major,
            "warning" => Impact::Minor,
            _ => Impact::None,
        }
    }

    /// "API: availability SLO critical: burning 14.4× over 1 h, 62 % of
    /// the error budget left, spent in 1 d 2 h at that rate".
    fn summary(&self) -> String {
        let head = format!(
            "{}: {} SLO {}",
            self.service.name, self.objective, self.status
        );
        if self.status == "ok" {
            return format!("{head} again");
        }
        let mut parts = Vec::new();
        if let Some(rate) = self.burn_rates.get("1h") {
            parts.push(format!("burning {rate:.1}× over 1 h"));
        }
        if let Some(left) = self.budget_remaining {
            parts.push(format!(
                "{:.0} % of the error budget left",
                left.max(0.0) * 100.0
            ));
        }
        if let Some(s) = self.exhausted_in_s_at_1h_rate.filter(|s| *s > 0) {
            parts.push(format!("spent in {} at that rate", human_duration(s)));
        }
        if parts.is_empty() {
            head
        } else {
            format!("{head}: {}", parts.join(", "))
        }
    }
}

/// `93784` → `1 d 2 h`; `150` → `2 min`.
fn human_duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{} min", m.max(1)),
        (0, h) => format!("{h} h {m} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentInfo {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The latest update's text (Markdown, as written).
    pub update: Option<String>,
    pub services: Vec<ServiceRef>,
    /// `{page_url}/incidents/{id}`, when the page's address is known.
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub status: ServiceStatus,
    /// `None` before the first status.
    pub previous: Option<ServiceStatus>,
    /// What the last probe said, when it failed.
    pub error: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceInfo {
    pub id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub services: Vec<ServiceRef>,
}

/// The impact a status stands for (what a route's `min_impact` compares).
pub const fn status_impact(status: ServiceStatus) -> Impact {
    match status {
        ServiceStatus::MajorOutage => Impact::Critical,
        ServiceStatus::PartialOutage => Impact::Major,
        ServiceStatus::DegradedPerformance => Impact::Minor,
        ServiceStatus::Operational | ServiceStatus::UnderMaintenance => Impact::None,
    }
}

impl AlertEvent {
    /// The event's impact: the incident's, or for a status change the worse
    /// of the two statuses (a recovery matters as much as the failure it
    /// ends); maintenance and tests have none.
    pub fn impact(&self) -> Impact {
        if let Some(incident) = &self.incident {
            return incident.impact;
        }
        if let Some(slo) = &self.slo {
            return slo.impact();
        }
        match &self.service {
            Some(s) => status_impact(s.status).max(s.previous.map_or(Impact::None, status_impact)),
            None => Impact::None,
        }
    }

    /// The services the event is about.
    pub fn services(&self) -> Vec<&ServiceRef> {
        match (&self.incident, &self.maintenance, &self.slo) {
            (Some(i), ..) => i.services.iter().collect(),
            (None, Some(m), _) => m.services.iter().collect(),
            (None, None, Some(slo)) => vec![&slo.service],
            (None, None, None) => Vec::new(),
        }
    }

    /// Stable per thing alerted on, so a retry, a restart or a reminder
    /// never opens a second page-out, and the resolution closes the first.
    pub fn dedup_key(&self) -> String {
        if let Some(slo) = &self.slo {
            return format!("upbeat-slo-{}-{}", slo.service.slug, slo.objective);
        }
        match (&self.incident, &self.service, &self.maintenance) {
            (Some(i), ..) => format!("upbeat-incident-{}", i.id),
            (None, Some(s), _) => format!("upbeat-service-{}", s.slug),
            // One key per occurrence of a recurring window.
            (None, None, Some(m)) => {
                format!("upbeat-maintenance-{}-{}", m.id, m.starts_at.timestamp())
            }
            (None, None, None) => format!("upbeat-test-{}", self.occurred_at.timestamp_millis()),
        }
    }

    /// Whether the event ends what an earlier one opened.
    pub fn is_resolution(&self) -> bool {
        match self.event {
            EventKind::IncidentResolved | EventKind::MaintenanceCompleted => true,
            EventKind::ServiceStatusChanged => self
                .service
                .as_ref()
                .is_some_and(|s| s.status == ServiceStatus::Operational),
            EventKind::SloBurn => self.slo.as_ref().is_some_and(|s| s.status == "ok"),
            _ => false,
        }
    }

    /// One line for people: what happened to what.
    pub fn summary(&self) -> String {
        match (self.event, &self.incident, &self.service, &self.maintenance) {
            (EventKind::IncidentOpened, Some(i), ..) => match self.reminder {
                Some(n) => format!("Still open (reminder {n}): {}", i.title),
                None => format!("Incident opened: {}", i.title),
            },
            (EventKind::IncidentUpdated, Some(i), ..) => {
                format!("Incident {}: {}", i.status.as_str(), i.title)
            }
            (EventKind::IncidentResolved, Some(i), ..) => format!("Resolved: {}", i.title),
            (EventKind::ServiceStatusChanged, _, Some(s), _) => {
                let error = s
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                format!("{}: {}{error}", s.name, s.status.label())
            }
            (EventKind::MaintenanceScheduled, _, _, Some(m)) => {
                format!("Maintenance scheduled: {}", m.title)
            }
            (EventKind::MaintenanceStarted, _, _, Some(m)) => {
                format!("Maintenance started: {}", m.title)
            }
            (EventKind::MaintenanceCompleted, _, _, Some(m)) => {
                format!("Maintenance completed: {}", m.title)
            }
            (EventKind::SloBurn, ..) if self.slo.is_some() => {
                self.slo.as_ref().map(SloInfo::summary).unwrap_or_default()
            }
            _ => format!("Test alert from {}", self.page_title),
        }
    }

    /// The page that shows the event: the incident's, the service's, or
    /// the status page.
    pub fn link(&self) -> Option<&str> {
        self.incident
            .as_ref()
            .and_then(|i| i.url.as_deref())
            .or_else(|| self.service.as_ref().and_then(|s| s.url.as_deref()))
            .or_else(|| self.slo.as_ref().and_then(|s| s.url.as_deref()))
            .or(self.page_url.as_deref())
    }

    fn component(&self) -> Option<(&str, Option<&str>)> {
        match &self.service {
            Some(s) => Some((s.slug.as_str(), s.group.as_deref())),
            None => self
                .services()
                .first()
                .map(|s| (s.slug.as_str(), s.group.as_deref())),
        }
    }
}

/// An incident as one change left it, for its events.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentFacts {
    pub info: IncidentInfo,
    /// The change created the incident.
    pub opened: bool,
    /// When the change happened.
    pub at: DateTime<Utc>,
}

/// The events of one incident change: `incident.opened` for a new one
/// (and `incident.resolved` after it when it was resolved at once),
/// `incident.resolved` when the change resolved it, else
/// `incident.updated`.
pub fn incident_events(facts: &IncidentFacts) -> Vec<AlertEvent> {
    let resolved = facts.info.status == IncidentStatus::Resolved;
    let kinds: &[EventKind] = match (facts.opened, resolved) {
        (true, false) => &[EventKind::IncidentOpened],
        (true, true) => &[EventKind::IncidentOpened, EventKind::IncidentResolved],
        (false, true) => &[EventKind::IncidentResolved],
        (false, false) => &[EventKind::IncidentUpdated],
    };
    kinds
        .iter()
        .map(|&event| AlertEvent {
            incident: Some(facts.info.clone()),
            ..bare(event, facts.at)
        })
        .collect()
}

/// An event of `kind` at `at` about nothing yet: each constructor below
/// sets what it is about.
fn bare(kind: EventKind, at: DateTime<Utc>) -> AlertEvent {
    AlertEvent {
        schema: WEBHOOK_SCHEMA.to_owned(),
        event: kind,
        occurred_at: at,
        page_url: None,
        page_title: String::new(),
        incident: None,
        service: None,
        maintenance: None,
        reminder: None,
        slo: None,
    }
}

/// A `test` event: what `POST /api/v1/alerts/routes/{name}/test` sends.
pub fn test_event(at: DateTime<Utc>) -> AlertEvent {
    bare(EventKind::Test, at)
}

/// `maintenance.started` or `maintenance.completed` of one occurrence.
pub fn maintenance_event(kind: EventKind, info: MaintenanceInfo, at: DateTime<Utc>) -> AlertEvent {
    AlertEvent {
        maintenance: Some(info),
        ..bare(kind, at)
    }
}

/// `slo.burn`: an objective's status changed.
pub fn slo_event(info: SloInfo, at: DateTime<Utc>) -> AlertEvent {
    AlertEvent {
        slo: Some(info),
        ..bare(EventKind::SloBurn, at)
    }
}

/// The `service.status_changed` event of a status transition.
pub fn status_event(
    service: ServiceRef,
    previous: ServiceStatus,
    status: ServiceStatus,
    error: Option<String>,
    at: DateTime<Utc>,
) -> AlertEvent {
    AlertEvent {
        service: Some(ServiceInfo {
            slug: service.slug,
            name: service.name,
            group: service.group,
            status,
            previous: Some(previous),
            error,
            url: None,
        }),
        ..bare(EventKind::ServiceStatusChanged, at)
    }
}

impl AlertEvent {
    /// The event as sent: with the page's address and title, and the
    /// links built from them. Stored events carry neither (the config may
    /// change between the change and the delivery).
    pub fn on_page(mut self, page_url: Option<&str>, page_title: &str) -> Self {
        let base = page_url.map(|u| u.trim_end_matches('/').to_owned());
        self.page_url.clone_from(&base);
        page_title.clone_into(&mut self.page_title);
        if let (Some(base), Some(i)) = (&base, &mut self.incident) {
            i.url = Some(format!("{base}/incidents/{}", i.id));
        }
        if let (Some(base), Some(s)) = (&base, &mut self.service) {
            s.url = Some(format!("{base}/services/{}", s.slug));
        }
        if let (Some(base), Some(s)) = (&base, &mut self.slo) {
            s.url = Some(format!("{base}/services/{}", s.service.slug));
        }
        self
    }

    /// The service the event is about, for cooldown and maintenance: the
    /// changed service, else the incident's or maintenance's first.
    pub fn subject_slug(&self) -> Option<&str> {
        self.service
            .as_ref()
            .map(|s| s.slug.as_str())
            .or_else(|| self.services().first().map(|s| s.slug.as_str()))
    }
}

/// What a route does with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Not for this route (its filters); counted, not stored.
    Skip,
    /// For this route but not sent now; stored with the reason.
    Suppress(&'static str),
}

/// A route's settings, as the verdict needs them.
#[derive(Clone, Copy, Debug)]
pub struct RouteRule {
    /// The route takes this kind of event.
    pub wants: bool,
    /// Its services and groups cover the event.
    pub covers: bool,
    pub min_impact: Impact,
    pub send_resolved: bool,
    /// A resolution closes what an earlier event opened at the receiver
    /// (PagerDuty, Opsgenie).
    pub closes_alerts: bool,
}

/// What the outbox says about earlier alerts of the route.
#[derive(Clone, Copy, Debug, Default)]
pub struct Earlier {
    /// A maintenance window covers the event's service.
    pub in_maintenance: bool,
    /// The route sent the same kind of event about the same service within
    /// its cooldown.
    pub within_cooldown: bool,
    /// The route sent (or is sending) what this resolution closes.
    pub opened_here: bool,
}

/// Whether `route` sends `event`.
///
/// - `test` always goes.
/// - Filters first: the event kind, the services and groups, and, except
///   for a resolution that closes a page-out, `min_impact`.
/// - A resolution goes when `send_resolved`; where it closes an alert it
///   goes exactly when the alert it closes was sent there (so a page-out
///   is always closed, and a suppressed one is not closed twice).
/// - Maintenance suppresses everything but resolutions for its services.
/// - Cooldown suppresses the same kind of event about the same service,
///   except an objective's burn reaching `critical` or `exhausted`: that is
///   the workbook's page, and a ticket (`warning`) sent minutes earlier
///   must not hold it back.
pub fn verdict(event: &AlertEvent, rule: RouteRule, earlier: Earlier) -> Verdict {
    if event.event == EventKind::Test {
        return Verdict::Send;
    }
    if !rule.wants || !rule.covers {
        return Verdict::Skip;
    }
    let resolution = event.is_resolution();
    if resolution && !rule.send_resolved {
        return Verdict::Skip;
    }
    if resolution && rule.closes_alerts {
        return if earlier.opened_here {
            Verdict::Send
        } else {
            Verdict::Suppress("unopened")
        };
    }
    let about_maintenance = matches!(
        event.event,
        EventKind::MaintenanceStarted | EventKind::MaintenanceCompleted
    );
    // `min_impact` is about failures; maintenance has none.
    if event.impact() < rule.min_impact && !resolution && !about_maintenance {
        return Verdict::Skip;
    }
    if earlier.in_maintenance && !resolution && !about_maintenance {
        return Verdict::Suppress("maintenance");
    }
    let pages = event
        .slo
        .as_ref()
        .is_some_and(|s| matches!(s.status.as_str(), "critical" | "exhausted"));
    if earlier.within_cooldown && !pages {
        return Verdict::Suppress("cooldown");
    }
    Verdict::Send
}

/// Delay before attempt `attempts + 1` after `attempts` failed ones:
/// 5 s doubling to at most 10 min, `jitter` (0.0–1.0) spreading it by up
/// to ±20 %; a receiver's `Retry-After` wins when it asks for longer.
pub fn backoff(
    attempts: u32,
    jitter: f64,
    retry_after: Option<std::time::Duration>,
) -> std::time::Duration {
    let base = 5.0
        * 2f64.powi(
            i32::try_from(attempts.saturating_sub(1))
                .unwrap_or(30)
                .min(30),
        );
    let spread = 1.0 + 0.4 * (jitter.clamp(0.0, 1.0) - 0.5);
    let delay = std::time::Duration::from_secs_f64((base * spread).min(600.0));
    retry_after.map_or(delay, |asked| asked.max(delay))
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// PagerDuty's severities by impact.
pub const fn pagerduty_severity(impact: Impact) -> &'static str {
    match impact {
        Impact::Critical => "critical",
        Impact::Major => "error",
        Impact::Minor => "warning",
        Impact::None => "info",
    }
}

/// The PagerDuty Events API v2 body for `event`.
pub fn pagerduty(event: &AlertEvent, routing_key: &str) -> Value {
    let dedup_key = event.dedup_key();
    if event.is_resolution() {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let mut payload = json!({
        "summary": truncate(&event.summary(), 1024),
        "source": event.page_url.as_deref().unwrap_or("upbeat"),
        "severity": pagerduty_severity(event.impact()),
        "timestamp": rfc3339(event.occurred_at),
        "class": event.event.as_str(),
        "custom_details": event,
    });
    if let Some((component, group)) = event.component() {
        payload["component"] = json!(component);
        if let Some(group) = group {
            payload["group"] = json!(group);
        }
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "Upbeat",
    });
    if let Some(link) = event.link() {
        body["links"] = json!([{"href": link, "text": "Status page"}]);
        body["client_url"] = json!(link);
    }
    body
}

/// Opsgenie's priorities by impact.
pub const fn opsgenie_priority(impact: Impact) -> &'static str {
    match impact {
        Impact::Critical => "P1",
        Impact::Major => "P2",
        Impact::Minor => "P3",
        Impact::None => "P5",
    }
}

/// An Opsgenie request: the path under the API base and its body.
#[derive(Debug, PartialEq)]
pub struct OpsgenieRequest {
    pub path: String,
    pub body: Value,
}

/// The Opsgenie Alert API v2 request for `event`: create, or close by
/// alias.
pub fn opsgenie(event: &AlertEvent) -> OpsgenieRequest {
    let alias = event.dedup_key();
    if event.is_resolution() {
        return OpsgenieRequest {
            // The alias is `upbeat-…-{slug or number}`: nothing to escape.
            path: format!("/v2/alerts/{alias}/close?identifierType=alias"),
            body: json!({"source": "Upbeat", "note": truncate(&event.summary(), 25_000)}),
        };
    }
    let mut tags = vec!["upbeat".to_owned(), event.event.as_str().to_owned()];
    tags.extend(event.services().iter().map(|s| s.slug.clone()));
    if let Some(s) = &event.service {
        tags.push(s.slug.clone());
    }
    let tags: Vec<String> = tags
        .into_iter()
        .take(20)
        .map(|t| truncate(&t, 50))
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("event".into(), json!(event.event.as_str()));
    details.insert("occurred_at".into(), json!(rfc3339(event.occurred_at)));
    if let Some(link) = event.link() {
        details.insert("url".into(), json!(link));
    }
    if let Some(i) = &event.incident {
        details.insert("incident_id".into(), json!(i.id.to_string()));
        details.insert("incident_status".into(), json!(i.status.as_str()));
        details.insert("impact".into(), json!(i.impact.as_str()));
    }
    if let Some(s) = &event.service {
        details.insert("service".into(), json!(s.slug));
        details.insert("status".into(), json!(s.status.as_str()));
    }
    if let Some(s) = &event.slo {
        details.insert("service".into(), json!(s.service.slug));
        details.insert("objective".into(), json!(s.objective));
        details.insert("slo_status".into(), json!(s.status));
        for (window, rate) in &s.burn_rates {
            details.insert(format!("burn_rate_{window}"), json!(format!("{rate:.2}")));
        }
    }
    let description = match (&event.incident, event.link()) {
        (Some(i), link) => format!(
            "{}\n\n{}",
            i.update.as_deref().unwrap_or(&i.title),
            link.unwrap_or_default()
        ),
        (None, link) => format!("{}\n\n{}", event.summary(), link.unwrap_or_default()),
    };
    let mut body = json!({
        "message": truncate(&event.summary(), 130),
        "alias": alias,
        "description": truncate(description.trim(), 15_000),
        "priority": opsgenie_priority(event.impact()),
        "tags": tags,
        "details": details,
        "source": "Upbeat",
    });
    if let Some((component, _)) = event.component() {
        body["entity"] = json!(truncate(component, 512));
    }
    OpsgenieRequest {
        path: "/v2/alerts".to_owned(),
        body,
    }
}

/// Text for Slack's `mrkdwn` and `plain_text`: `&`, `<` and `>` escaped,
/// as Slack requires, so user text cannot form links or mentions.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack incoming-webhook body (Block Kit, with a plain-text fallback).
pub fn slack(event: &AlertEvent) -> Value {
    let summary = event.summary();
    let icon = if event.is_resolution() {
        "✅"
    } else {
        match event.impact() {
            Impact::Critical | Impact::Major => "🔴",
            Impact::Minor => "🟠",
            Impact::None => "ℹ️",
        }
    };
    let mut fields = vec![format!("*Event*\n{}", event.event.as_str())];
    if let Some(i) = &event.incident {
        fields.push(format!("*Status*\n{}", i.status.label()));
        fields.push(format!("*Impact*\n{}", i.impact.as_str()));
    }
    if let Some(s) = &event.service {
        fields.push(format!("*Status*\n{}", s.status.label()));
    }
    if let Some(s) = &event.slo {
        fields.push(format!("*Objective*\n{}", slack_escape(&s.objective)));
        fields.push(format!("*Status*\n{}", s.status));
    }
    let names: Vec<String> = event
        .services()
        .iter()
        .map(|s| s.name.clone())
        .chain(event.service.as_ref().map(|s| s.name.clone()))
        .collect();
    if !names.is_empty() {
        fields.push(format!("*Services*\n{}", slack_escape(&names.join(", "))));
    }
    fields.push(format!(
        "*When*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        event.occurred_at.timestamp(),
        rfc3339(event.occurred_at)
    ));
    let fields: Vec<Value> = fields
        .into_iter()
        .take(10)
        .map(|text| json!({"type": "mrkdwn", "text": truncate(&text, 2000)}))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&format!("{icon} {summary}"), 150), "emoji": true}}),
        json!({"type": "section", "fields": fields}),
    ];
    let detail = event
        .incident
        .as_ref()
        .and_then(|i| i.update.clone())
        .or_else(|| event.service.as_ref().and_then(|s| s.error.clone()));
    if let Some(detail) = detail {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&slack_escape(&detail), 3000)}}));
    }
    if let Some(link) = event.link() {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open the status page"},
            "url": link,
        }]}));
    }
    json!({"text": slack_escape(&summary), "blocks": blocks})
}

/// An alert as mail: subject, both parts, and the threading headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<…@host>`: this message.
    pub message_id: String,
    /// The thread's first message, when this one answers it.
    pub in_reply_to: Option<String>,
}

/// The mail for `event` (already [`AlertEvent::on_page`]), delivery
/// `delivery_id`. Every mail about one incident (or one service) is a
/// thread: the opening one's `Message-ID` is `<{dedup key}@{host}>`, and
/// the later ones answer it (`In-Reply-To`, `References`), so mail clients
/// group the updates.
pub fn mail(event: &AlertEvent, delivery_id: i64) -> Mail {
    let host = event
        .page_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "upbeat.invalid".to_owned());
    let root = format!("<{}@{host}>", event.dedup_key());
    // A service's status changes thread under one id no mail has (clients
    // thread by `References`), so no two mails ever share a Message-ID.
    let (message_id, in_reply_to) =
        if matches!(event.event, EventKind::IncidentOpened | EventKind::Test) {
            (root, None)
        } else {
            (
                format!("<{}.{delivery_id}@{host}>", event.dedup_key()),
                Some(root),
            )
        };
    let summary = event.summary();
    let title = if event.page_title.is_empty() {
        "Status"
    } else {
        &event.page_title
    };
    let mut lines = vec![summary.clone(), String::new()];
    let mut rows: Vec<(&str, String)> = vec![("Event", event.event.as_str().to_owned())];
    if let Some(i) = &event.incident {
        rows.push(("Status", i.status.label().to_owned()));
        rows.push(("Impact", i.impact.as_str().to_owned()));
        let names: Vec<&str> = i.services.iter().map(|s| s.name.as_str()).collect();
        if !names.is_empty() {
            rows.push(("Services", names.join(", ")));
        }
    }
    if let Some(s) = &event.service {
        rows.push(("Service", s.name.clone()));
        rows.push(("Status", s.status.label().to_owned()));
        if let Some(e) = &s.error {
            rows.push(("Error", e.clone()));
        }
    }
    if let Some(s) = &event.slo {
        rows.push(("Service", s.service.name.clone()));
        rows.push(("Objective", s.objective.clone()));
        rows.push(("Status", s.status.clone()));
        if let Some(left) = s.budget_remaining {
            rows.push(("Error budget left", format!("{:.1} %", left * 100.0)));
        }
        for (window, rate) in &s.burn_rates {
            rows.push(("Burn rate", format!("{rate:.2}× over {window}")));
        }
    }
    rows.push((
        "When",
        event.occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    ));
    for (k, v) in &rows {
        lines.push(format!("{k}: {v}"));
    }
    let update = event.incident.as_ref().and_then(|i| i.update.clone());
    if let Some(update) = &update {
        lines.push(String::new());
        lines.push(update.clone());
    }
    if let Some(link) = event.link() {
        lines.push(String::new());
        lines.push(link.to_owned());
    }
    let mut html = format!(
        "<p><strong>{}</strong></p>\n<table>\n",
        escape_html(&summary)
    );
    for (k, v) in &rows {
        html.push_str(&format!(
            "<tr><th align=\"left\">{k}</th><td>{}</td></tr>\n",
            escape_html(v)
        ));
    }
    html.push_str("</table>\n");
    if let Some(update) = &update {
        html.push_str(&format!(
            "<p style=\"white-space:pre-wrap\">{}</p>\n",
            escape_html(update)
        ));
    }
    if let Some(link) = event.link() {
        let link = escape_html(link);
        html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>\n"));
    }
    Mail {
        subject: truncate(&format!("[{title}] {summary}"), 200),
        text: lines.join("\n") + "\n",
        html,
        message_id,
        in_reply_to,
    }
}

/// `X-Upbeat-Signature` of a webhook `body` sent at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>`.
/// Receivers recompute it and reject old `t` (replays).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 14, 7, 3).unwrap()
    }

    fn base(event: EventKind) -> AlertEvent {
        AlertEvent {
            page_url: Some("https://status.example.com".into()),
            page_title: "Acme".into(),
            ..bare(event, at())
        }
    }

    fn incident(event: EventKind, status: IncidentStatus) -> AlertEvent {
        AlertEvent {
            incident: Some(IncidentInfo {
                id: 42,
                title: "Checkout <errors> & timeouts".into(),
                status,
                impact: Impact::Critical,
                started_at: at(),
                resolved_at: None,
                update: Some("**API** fails with 503".into()),
                services: vec![ServiceRef {
                    slug: "api".into(),
                    name: "Public API".into(),
                    group: Some("Core".into()),
                }],
                url: Some("https://status.example.com/incidents/42".into()),
            }),
            ..base(event)
        }
    }

    fn window(kind: EventKind) -> AlertEvent {
        maintenance_event(
            kind,
            MaintenanceInfo {
                id: 3,
                title: "Patching".into(),
                starts_at: at(),
                ends_at: at() + chrono::Duration::hours(1),
                services: vec![ServiceRef {
                    slug: "db".into(),
                    name: "Database".into(),
                    group: None,
                }],
            },
            at(),
        )
    }

    fn status_change(status: ServiceStatus, previous: ServiceStatus) -> AlertEvent {
        AlertEvent {
            service: Some(ServiceInfo {
                slug: "api".into(),
                name: "Public API".into(),
                group: None,
                status,
                previous: Some(previous),
                error: Some("status 503, expected 2xx".into()),
                url: Some("https://status.example.com/services/api".into()),
            }),
            ..base(EventKind::ServiceStatusChanged)
        }
    }

    #[test]
    fn pagerduty_triggers_then_resolves_the_same_alert() {
        let opened = pagerduty(
            &incident(EventKind::IncidentOpened, IncidentStatus::Investigating),
            "K",
        );
        assert_eq!(opened["routing_key"], "K");
        assert_eq!(opened["event_action"], "trigger");
        assert_eq!(opened["dedup_key"], "upbeat-incident-42");
        let payload = &opened["payload"];
        assert_eq!(
            payload["summary"],
            "Incident opened: Checkout <errors> & timeouts"
        );
        assert_eq!(payload["source"], "https://status.example.com");
        assert_eq!(payload["severity"], "critical");
        assert_eq!(payload["timestamp"], "2026-12-02T14:07:03.000Z");
        assert_eq!(payload["component"], "api");
        assert_eq!(payload["group"], "Core");
        assert_eq!(payload["class"], "incident.opened");
        assert_eq!(payload["custom_details"]["incident"]["id"], 42);
        assert_eq!(
            opened["links"][0]["href"],
            "https://status.example.com/incidents/42"
        );
        let resolved = pagerduty(
            &incident(EventKind::IncidentResolved, IncidentStatus::Resolved),
            "K",
        );
        assert_eq!(
            resolved,
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "upbeat-incident-42"})
        );
    }

    fn burn(status: &str, previous: &str) -> AlertEvent {
        slo_event(
            SloInfo {
                service: ServiceRef {
                    slug: "api".into(),
                    name: "API <v2>".into(),
                    group: Some("Core".into()),
                },
                objective: "availability".into(),
                target: 0.999,
                window: "30d".into(),
                status: status.into(),
                previous: Some(previous.into()),
                compliance: Some(0.9993),
                budget_remaining: Some(0.31),
                burn_rates: [("1h".to_owned(), 14.5), ("6h".to_owned(), 4.0)]
                    .into_iter()
                    .collect(),
                exhausted_in_s_at_1h_rate: Some(93_784),
                exhausted_in_s_at_24h_rate: None,
                url: None,
            },
            chrono::DateTime::parse_from_rfc3339("2026-12-02T14:07:03Z")
                .unwrap()
                .with_timezone(&Utc),
        )
        .on_page(Some("https://status.example.com/"), "Acme")
    }

    #[test]
    fn burn_alerts_page_and_resolve_by_objective() {
        let critical = burn("critical", "ok");
        assert_eq!(
            critical.summary(),
            "API <v2>: availability SLO critical: burning 14.5× over 1 h, 31 % of the error budget left, spent in 1 d 2 h at that rate"
        );
        assert_eq!(critical.impact(), Impact::Major);
        assert!(!critical.is_resolution());
        let paged = pagerduty(&critical, "K");
        assert_eq!(paged["event_action"], "trigger");
        assert_eq!(paged["dedup_key"], "upbeat-slo-api-availability");
        assert_eq!(paged["payload"]["severity"], "error");
        assert_eq!(paged["payload"]["class"], "slo.burn");
        assert_eq!(paged["payload"]["component"], "api");
        assert_eq!(
            paged["payload"]["custom_details"]["slo"]["burn_rates"]["1h"],
            14.5
        );
        assert_eq!(
            paged["links"][0]["href"],
            "https://status.example.com/services/api"
        );
        let ok = burn("ok", "critical");
        assert!(ok.is_resolution());
        assert_eq!(ok.summary(), "API <v2>: availability SLO ok again");
        assert_eq!(
            pagerduty(&ok, "K"),
            json!({"routing_key": "K", "event_action": "resolve", "dedup_key": "upbeat-slo-api-availability"})
        );
        assert_eq!(
            opsgenie(&ok).path,
            "/v2/alerts/upbeat-slo-api-availability/close?identifierType=alias"
        );
        let genie = opsgenie(&critical).body;
        assert_eq!(genie["priority"], "P2");
        assert_eq!(genie["details"]["objective"], "availability");
        assert_eq!(genie["details"]["burn_rate_1h"], "14.50");
        let chat = slack(&burn("warning", "ok"));
        // mrkdwn escaped; the plain-text header as written.
        assert!(chat["text"]
            .as_str()
            .unwrap()
            .starts_with("API &lt;v2&gt;: availability SLO warning"));
        let fields = chat["blocks"][1]["fields"].to_string();
        assert!(fields.contains("*Objective*\\navailability"), "{fields}");
        assert!(fields.contains("*Services*\\nAPI &lt;v2&gt;"), "{fields}");
        let mail = mail(&critical, 7);
        assert!(mail.html.contains("API &lt;v2&gt;"));
        assert!(mail.text.contains("Objective: availability"));
        assert!(mail.text.contains("Burn rate: 14.50× over 1h"));
        assert_eq!(critical.subject_slug(), Some("api"));
    }

    #[test]
    fn severities_and_priorities_follow_the_impact() {
        #[rustfmt::skip]
        let cases = [
            (ServiceStatus::MajorOutage, ServiceStatus::Operational, "critical", "P1"),
            (ServiceStatus::PartialOutage, ServiceStatus::Operational, "error", "P2"),
            (ServiceStatus::DegradedPerformance, ServiceStatus::Operational, "warning", "P3"),
            (ServiceStatus::UnderMaintenance, ServiceStatus::Operational, "info", "P5"),
            // Worse of the two: a status change out of an outage.
            (ServiceStatus::DegradedPerformance, ServiceStatus::MajorOutage, "critical", "P1"),
        ];
        for (status, previous, severity, priority) in cases {
            let event = status_change(status, previous);
            assert_eq!(
                pagerduty(&event, "K")["payload"]["severity"],
                severity,
                "{status:?}"
            );
            assert_eq!(opsgenie(&event).body["priority"], priority, "{status:?}");
        }
        let recovered = status_change(ServiceStatus::Operational, ServiceStatus::MajorOutage);
        assert!(recovered.is_resolution());
        assert_eq!(pagerduty(&recovered, "K")["event_action"], "resolve");
        assert_eq!(
            pagerduty(&recovered, "K")["dedup_key"],
            "upbeat-service-api"
        );
    }

    #[test]
    fn long_texts_are_cut_to_the_providers_limits() {
        let mut event = incident(EventKind::IncidentOpened, IncidentStatus::Investigating);
        event.incident.as_mut().unwrap().title = "x".repeat(5_000);
        let pd = pagerduty(&event, "K");
        assert_eq!(
            pd["payload"]["summary"].as_str().unwrap().chars().count(),
            1024
        );
        let og = opsgenie(&event).body;
        assert_eq!(og["message"].as_str().unwrap().chars().count(), 130);
        assert!(og["message"].as_str().unwrap().ends_with('…'));
        let slack = slack(&event);
        assert_eq!(
            slack["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            150
        );
    }

    #[test]
    fn opsgenie_creates_then_closes_by_alias() {
        let open = opsgenie(&incident(
            EventKind::IncidentOpened,
            IncidentStatus::Investigating,
        ));
        assert_eq!(open.path, "/v2/alerts");
        let body = &open.body;
        assert_eq!(body["alias"], "upbeat-incident-42");
        assert_eq!(body["priority"], "P1");
        assert_eq!(body["source"], "Upbeat");
        assert_eq!(body["entity"], "api");
        assert_eq!(body["tags"], json!(["upbeat", "incident.opened", "api"]));
        assert_eq!(body["details"]["incident_id"], "42");
        assert!(
            body["details"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string),
            "details are strings"
        );
        assert_eq!(
            body["description"],
            "**API** fails with 503\n\nhttps://status.example.com/incidents/42"
        );
        let close = opsgenie(&incident(
            EventKind::IncidentResolved,
            IncidentStatus::Resolved,
        ));
        assert_eq!(
            close.path,
            "/v2/alerts/upbeat-incident-42/close?identifierType=alias"
        );
        assert_eq!(close.body["source"], "Upbeat");
    }

    #[test]
    fn slack_blocks_escape_user_text() {
        let body = slack(&incident(
            EventKind::IncidentOpened,
            IncidentStatus::Investigating,
        ));
        assert_eq!(
            body["text"],
            "Incident opened: Checkout &lt;errors&gt; &amp; timeouts"
        );
        let blocks = body["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "section", "section", "actions"]);
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        // Plain text is shown as written; only mrkdwn needs escaping.
        assert!(blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with("Checkout <errors> & timeouts"));
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields[..4],
            [
                "*Event*\nincident.opened",
                "*Status*\nInvestigating",
                "*Impact*\ncritical",
                "*Services*\nPublic API"
            ]
        );
        assert!(fields[4].starts_with("*When*\n<!date^"), "{}", fields[4]);
        assert_eq!(
            blocks[3]["elements"][0]["url"],
            "https://status.example.com/incidents/42"
        );
    }

    #[test]
    fn webhook_bodies_are_versioned_and_signed() {
        let event = incident(EventKind::IncidentOpened, IncidentStatus::Investigating);
        let body = serde_json::to_value(&event).unwrap();
        assert_eq!(body["schema"], "upbeat.alert.v1");
        assert_eq!(body["event"], "incident.opened");
        assert_eq!(body["occurred_at"], "2026-12-02T14:07:03Z");
        assert_eq!(body["incident"]["status"], "investigating");
        assert!(body.get("service").is_none());
        let back: AlertEvent = serde_json::from_value(body).unwrap();
        assert_eq!(back, event);
        // Computed independently: Python's
        // hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_eq!(
            signature("Jefe", 1, b"x"),
            signature("Jefe", 1, b"x"),
            "deterministic"
        );
        assert_ne!(
            signature("Jefe", 1, b"x"),
            signature("Jefe", 2, b"x"),
            "the time is signed"
        );
        assert_ne!(signature("Jefe", 1, b"x"), signature("other", 1, b"x"));
    }

    #[test]
    fn verdicts_follow_filters_maintenance_cooldown_and_what_was_opened() {
        use Verdict::*;
        let rule = RouteRule {
            wants: true,
            covers: true,
            min_impact: Impact::Minor,
            send_resolved: true,
            closes_alerts: true,
        };
        let opened = incident(EventKind::IncidentOpened, IncidentStatus::Investigating);
        let resolved = incident(EventKind::IncidentResolved, IncidentStatus::Resolved);
        let mut minor = opened.clone();
        minor.incident.as_mut().unwrap().impact = Impact::Minor;
        let none = Earlier::default();
        let cases: &[(&AlertEvent, RouteRule, Earlier, Verdict)] = &[
            (&opened, rule, none, Send),
            (
                &opened,
                RouteRule {
                    wants: false,
                    ..rule
                },
                none,
                Skip,
            ),
            (
                &opened,
                RouteRule {
                    covers: false,
                    ..rule
                },
                none,
                Skip,
            ),
            (
                &minor,
                RouteRule {
                    min_impact: Impact::Major,
                    ..rule
                },
                none,
                Skip,
            ),
            (
                &opened,
                rule,
                Earlier {
                    in_maintenance: true,
                    ..none
                },
                Suppress("maintenance"),
            ),
            (
                &opened,
                rule,
                Earlier {
                    within_cooldown: true,
                    ..none
                },
                Suppress("cooldown"),
            ),
            // A resolution closes what was opened here, whatever its impact now.
            (
                &resolved,
                RouteRule {
                    min_impact: Impact::Critical,
                    ..rule
                },
                Earlier {
                    opened_here: true,
                    ..none
                },
                Send,
            ),
            (
                &resolved,
                rule,
                Earlier {
                    within_cooldown: true,
                    opened_here: true,
                    ..none
                },
                Send,
            ),
            (&resolved, rule, none, Suppress("unopened")),
            (
                &resolved,
                RouteRule {
                    send_resolved: false,
                    ..rule
                },
                Earlier {
                    opened_here: true,
                    ..none
                },
                Skip,
            ),
            // Chat and webhooks: resolutions are plain events.
            (
                &resolved,
                RouteRule {
                    closes_alerts: false,
                    ..rule
                },
                none,
                Send,
            ),
            (
                &resolved,
                RouteRule {
                    closes_alerts: false,
                    ..rule
                },
                Earlier {
                    within_cooldown: true,
                    ..none
                },
                Suppress("cooldown"),
            ),
            (
                &resolved,
                RouteRule {
                    closes_alerts: false,
                    ..rule
                },
                Earlier {
                    in_maintenance: true,
                    ..none
                },
                Send,
            ),
            (
                &base(EventKind::Test),
                RouteRule {
                    wants: false,
                    covers: false,
                    ..rule
                },
                Earlier {
                    in_maintenance: true,
                    within_cooldown: true,
                    ..none
                },
                Send,
            ),
            // Maintenance announces itself, whatever min_impact says.
            (
                &window(EventKind::MaintenanceStarted),
                RouteRule {
                    closes_alerts: false,
                    ..rule
                },
                Earlier {
                    in_maintenance: true,
                    ..none
                },
                Send,
            ),
            (
                &window(EventKind::MaintenanceCompleted),
                RouteRule {
                    closes_alerts: false,
                    ..rule
                },
                none,
                Send,
            ),
        ];
        for (i, (event, rule, earlier, want)) in cases.iter().enumerate() {
            assert_eq!(verdict(event, *rule, *earlier), *want, "case {i}");
        }
        // Burns: the cooldown holds back a ticket, never a page.
        let cooling = Earlier {
            within_cooldown: true,
            ..none
        };
        for (status, want) in [
            ("warning", Suppress("cooldown")),
            ("critical", Send),
            ("exhausted", Send),
        ] {
            assert_eq!(
                verdict(&burn(status, "ok"), rule, cooling),
                want,
                "{status}"
            );
            assert_eq!(verdict(&burn(status, "ok"), rule, none), Send, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_from_five_seconds_to_ten_minutes_with_jitter() {
        let s = |secs: f64| std::time::Duration::from_secs_f64(secs);
        let cases = [
            (1, 0.5, None, s(5.0)),
            (2, 0.5, None, s(10.0)),
            (3, 0.5, None, s(20.0)),
            (8, 0.5, None, s(600.0)),
            (40, 0.5, None, s(600.0)),
            (1, 0.0, None, s(4.0)),
            (1, 1.0, None, s(6.0)),
            (1, 0.5, Some(s(30.0)), s(30.0)),
            (3, 0.5, Some(s(1.0)), s(20.0)),
        ];
        for (attempts, jitter, retry_after, want) in cases {
            let got = backoff(attempts, jitter, retry_after);
            assert!(
                (got.as_secs_f64() - want.as_secs_f64()).abs() < 1e-6,
                "{attempts} {jitter}: {got:?}"
            );
        }
    }

    #[test]
    fn mail_threads_an_incident_and_escapes_user_text() {
        let opened = incident(EventKind::IncidentOpened, IncidentStatus::Investigating);
        let first = mail(&opened, 7);
        assert_eq!(
            first.subject,
            "[Acme] Incident opened: Checkout <errors> & timeouts"
        );
        assert_eq!(first.message_id, "<upbeat-incident-42@status.example.com>");
        assert_eq!(first.in_reply_to, None);
        assert!(first.text.contains("Impact: critical"), "{}", first.text);
        assert!(first
            .text
            .contains("https://status.example.com/incidents/42"));
        assert!(
            first
                .html
                .contains("Checkout &lt;errors&gt; &amp; timeouts"),
            "{}",
            first.html
        );
        assert!(!first.html.contains("<errors>"));
        let resolved = mail(
            &incident(EventKind::IncidentResolved, IncidentStatus::Resolved),
            9,
        );
        assert_eq!(
            resolved.message_id,
            "<upbeat-incident-42.9@status.example.com>"
        );
        assert_eq!(
            resolved.in_reply_to.as_deref(),
            Some("<upbeat-incident-42@status.example.com>")
        );
    }

    #[test]
    fn events_name_their_kind() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
