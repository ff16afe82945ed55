//! Automatic incidents: pure rules from status transitions to incident
//! changes. No I/O here; the store applies the plan in the same transaction
//! as the samples and states that caused it, so a restart never opens a
//! duplicate or forgets a recovery.
//!
//! Rules:
//! - A service that starts failing (its displayed status moves from
//!   `operational` or `under_maintenance` to degraded or an outage) joins the
//!   open automatic incident that already lists it, else the newest open
//!   automatic incident opened less than [`JOIN_WINDOW`] before (services
//!   failing in the same round share one incident), else a new incident that
//!   every other service starting to fail in this round joins too.
//! - Any further change of a listed service adds a timeline update and sets
//!   its status in the incident.
//! - When every listed service is back (operational, or in maintenance), an
//!   incident with auto-resolve on is resolved with a final update; with it
//!   off (an admin took it over) only the update is added.
//! - Impact follows the worst status among the services still failing; it
//!   is left as it was when the incident resolves, so history shows how bad
//!   it got at the end.
//! - Incidents opened by an admin are never touched by these rules.
//!
//! Admin changes ([`NewIncident`], [`IncidentPatch`]) are plain data too;
//! the timeline entry a patch adds is decided here
//! ([`IncidentPatch::timeline_entry`]), not in the store.

use std::collections::BTreeMap;

use app::model::{Impact, IncidentStatus, ServiceStatus};
use chrono::{DateTime, TimeDelta, Utc};

/// Services failing within this long of an open automatic incident's start
/// join it instead of opening their own.
pub const JOIN_WINDOW: TimeDelta = TimeDelta::seconds(90);

/// A change of one service's displayed status, caused by a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub service_id: i64,
    /// The service's name, for titles and update texts.
    pub name: String,
    pub from: ServiceStatus,
    pub to: ServiceStatus,
    /// Time of the sample that caused it.
    pub at: DateTime<Utc>,
    /// The sample's error text ("connection refused").
    pub error: Option<String>,
}

/// An unresolved automatic incident, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenIncident {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub auto_resolve: bool,
    pub impact: Impact,
    /// Affected services and the status the incident gives each.
    pub services: BTreeMap<i64, ServiceStatus>,
}

/// What to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IncidentChange {
    Open {
        title: String,
        impact: Impact,
        started_at: DateTime<Utc>,
        services: BTreeMap<i64, ServiceStatus>,
        /// First timeline entry (Markdown).
        body: String,
        /// Set when it is resolved in the same round.
        resolved_at: Option<DateTime<Utc>>,
    },
    Update {
        id: i64,
        impact: Impact,
        /// Services to add or whose status changes.
        services: BTreeMap<i64, ServiceStatus>,
        body: String,
        at: DateTime<Utc>,
        /// Resolve with this update.
        resolve: bool,
    },
}

const RESOLVED: &str =
    "All affected services have recovered; this incident was resolved automatically.";

const fn is_failing(status: ServiceStatus) -> bool {
    matches!(
        status,
        ServiceStatus::DegradedPerformance
            | ServiceStatus::PartialOutage
            | ServiceStatus::MajorOutage
    )
}

/// One timeline line about a service.
fn describe(t: &Transition) -> String {
    let name = escape_markdown(&t.name);
    let error = t
        .error
        .as_deref()
        .map(|e| format!(": {}", escape_markdown(e)))
        .unwrap_or_default();
    match t.to {
        ServiceStatus::Operational => format!("**{name}** has recovered."),
        ServiceStatus::UnderMaintenance => format!("**{name}** is now under maintenance."),
        ServiceStatus::DegradedPerformance => format!("**{name}** is degraded{error}."),
        ServiceStatus::PartialOutage => format!("**{name}** is partially down{error}."),
        ServiceStatus::MajorOutage => format!("**{name}** is down{error}."),
    }
}

/// Keeps probe error text from being read as Markdown.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn title_for(names: &[&str], worst: ServiceStatus) -> String {
    let what = match worst {
        ServiceStatus::DegradedPerformance => "Degraded performance",
        ServiceStatus::PartialOutage => "Partial outage",
        _ => "Outage",
    };
    match names {
        [one] => format!("{what}: {one}"),
        [a, b] => format!("{what}: {a} and {b}"),
        _ => format!("{what}: {} services", names.len()),
    }
}

/// The worst impact among services still failing.
fn impact_of(services: &BTreeMap<i64, ServiceStatus>) -> Impact {
    services
        .values()
        .map(|s| Impact::of_status(*s))
        .max()
        .unwrap_or(Impact::None)
}

/// Plans the incident changes one committed round of transitions causes.
/// `transitions` may hold several per service; they are applied in time order.
pub fn plan(open: &[OpenIncident], transitions: &[Transition]) -> Vec<IncidentChange> {
    let mut ordered: Vec<&Transition> = transitions.iter().filter(|t| t.from != t.to).collect();
    ordered.sort_by_key(|t| (t.at, t.service_id));

    // Working copies of the open incidents, and what each gains.
    let mut incidents: Vec<(OpenIncident, Vec<&Transition>)> =
        open.iter().cloned().map(|i| (i, Vec::new())).collect();
    let mut fresh: Vec<&Transition> = Vec::new();
    let mut fresh_services: BTreeMap<i64, ServiceStatus> = BTreeMap::new();

    for t in ordered {
        if let Some((incident, log)) = incidents
            .iter_mut()
            .find(|(i, _)| i.services.contains_key(&t.service_id))
        {
            incident.services.insert(t.service_id, t.to);
            log.push(t);
        } else if let Some(status) = fresh_services.get_mut(&t.service_id) {
            *status = t.to;
            fresh.push(t);
        } else if is_failing(t.to) && !is_failing(t.from) {
            let joinable = incidents
                .iter_mut()
                .filter(|(i, _)| t.at - i.started_at < JOIN_WINDOW)
                .max_by_key(|(i, _)| i.started_at);
            if let Some((incident, log)) = joinable {
                incident.services.insert(t.service_id, t.to);
                log.push(t);
            } else {
                fresh_services.insert(t.service_id, t.to);
                fresh.push(t);
            }
        }
        // Anything else concerns a service no automatic incident covers.
    }

    let mut changes = Vec::new();
    for (incident, log) in incidents {
        let Some(last) = log.last() else { continue };
        let recovered = !incident.services.values().any(|s| is_failing(*s));
        let resolve = recovered && incident.auto_resolve;
        let mut lines: Vec<String> = log.iter().map(|t| describe(t)).collect();
        if resolve {
            lines.push(RESOLVED.to_owned());
        }
        let touched = log
            .iter()
            .map(|t| (t.service_id, incident.services[&t.service_id]))
            .collect();
        changes.push(IncidentChange::Update {
            id: incident.id,
            impact: if recovered {
                incident.impact
            } else {
                impact_of(&incident.services)
            },
            services: touched,
            body: lines.join("\n\n"),
            at: last.at,
            resolve,
        });
    }
    if let (Some(first), Some(last)) = (fresh.first(), fresh.last()) {
        let mut names: Vec<&str> = Vec::new();
        for t in &fresh {
            if !names.contains(&t.name.as_str()) {
                names.push(&t.name);
            }
        }
        let worst = fresh
            .iter()
            .map(|t| t.to)
            .filter(|s| is_failing(*s))
            .max()
            .unwrap_or(ServiceStatus::MajorOutage);
        let mut lines: Vec<String> = fresh.iter().map(|t| describe(t)).collect();
        // Every service may have failed and recovered within one round (a
        // batch written after a database outage): the incident happened, so
        // it opens, and resolves at once.
        let resolved_at = (!fresh_services.values().any(|s| is_failing(*s))).then(|| {
            lines.push(RESOLVED.to_owned());
            last.at
        });
        changes.push(IncidentChange::Open {
            title: title_for(&names, worst),
            impact: Impact::of_status(worst),
            started_at: first.at,
            services: fresh_services,
            body: lines.join("\n\n"),
            resolved_at,
        });
    }
    changes
}

/// Name recorded as the author of automatic timeline updates.
pub const AUTO_AUTHOR: &str = "upbeat";

/// An incident an admin opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub auto_resolve: bool,
    pub started_at: DateTime<Utc>,
    /// Affected services by id, with the status the incident gives them.
    pub services: Vec<(i64, ServiceStatus)>,
    /// First timeline entry (Markdown).
    pub body: String,
    /// Name of the acting token.
    pub author: String,
    pub at: DateTime<Utc>,
    /// Posted with `notify: false`: subscribers are not told.
    pub quiet: bool,
}

/// An admin change to an incident; `None` leaves a field alone. A timeline
/// update is added when `body` is given or the status changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    /// Replaces the affected services.
    pub services: Option<Vec<(i64, ServiceStatus)>>,
    pub auto_resolve: Option<bool>,
    pub body: Option<String>,
    pub author: String,
    pub at: DateTime<Utc>,
    /// Posted with `notify: false`: subscribers are not told of its
    /// timeline entry (alert routes still are).
    pub quiet: bool,
}

impl IncidentPatch {
    /// The incident's status once the patch is applied to one in `current`.
    pub fn status_after(&self, current: IncidentStatus) -> IncidentStatus {
        self.status.unwrap_or(current)
    }

    /// The timeline entry the change adds to an incident in `current`, if
    /// any: its body, or a line saying the status changed.
    pub fn timeline_entry(&self, current: IncidentStatus) -> Option<String> {
        let status = self.status_after(current);
        match &self.body {
            Some(body) => Some(body.clone()),
            None if status != current => Some(format!("Status changed to {}.", status.as_str())),
            None => None,
        }
    }

    /// The fields the patch sets, for the audit log.
    pub fn fields(&self) -> String {
        join_set(&[
            ("title", self.title.is_some()),
            ("status", self.status.is_some()),
            ("impact", self.impact.is_some()),
            ("services", self.services.is_some()),
            ("auto_resolve", self.auto_resolve.is_some()),
            ("body", self.body.is_some()),
        ])
    }
}

/// The names whose flag is set, comma-separated; `nothing` when none is.
pub fn join_set(set: &[(&str, bool)]) -> String {
    let names: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ServiceStatus::{
        DegradedPerformance as Deg, MajorOutage as Maj, Operational as Op, UnderMaintenance as Mnt,
    };

    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap() + TimeDelta::seconds(second)
    }

    fn t(service_id: i64, from: ServiceStatus, to: ServiceStatus, second: i64) -> Transition {
        Transition {
            service_id,
            name: format!("svc{service_id}"),
            from,
            to,
            at: at(second),
            error: (to == Maj).then(|| "connection refused".to_owned()),
        }
    }

    fn open(id: i64, started: i64, services: &[(i64, ServiceStatus)]) -> OpenIncident {
        OpenIncident {
            id,
            started_at: at(started),
            auto_resolve: true,
            impact: impact_of(&services.iter().copied().collect()),
            services: services.iter().copied().collect(),
        }
    }

    #[test]
    fn a_failure_opens_one_incident_for_everything_failing_in_the_round() {
        let changes = plan(&[], &[t(1, Op, Maj, 0), t(2, Op, Deg, 5), t(3, Mnt, Op, 5)]);
        let [IncidentChange::Open {
            title,
            impact,
            started_at,
            services,
            body,
            resolved_at,
        }] = changes.as_slice()
        else {
            panic!("expected one opening, got {changes:?}");
        };
        assert_eq!(title, "Outage: svc1 and svc2");
        assert_eq!(*impact, Impact::Critical);
        assert_eq!(*started_at, at(0));
        assert_eq!(services, &BTreeMap::from([(1, Maj), (2, Deg)]));
        assert_eq!(
            body,
            "**svc1** is down: connection refused.\n\n**svc2** is degraded."
        );
        assert_eq!(*resolved_at, None);
    }

    #[test]
    fn later_failures_join_a_recent_incident_and_otherwise_open_their_own() {
        let incident = open(7, 0, &[(1, Maj)]);
        let joined = plan(std::slice::from_ref(&incident), &[t(2, Op, Deg, 60)]);
        assert!(matches!(
            &joined[..],
            [IncidentChange::Update { id: 7, impact: Impact::Critical, resolve: false, services, .. }]
                if services == &BTreeMap::from([(2, Deg)])
        ));
        let separate = plan(&[incident], &[t(2, Op, Deg, 600)]);
        assert!(matches!(
            &separate[..],
            [IncidentChange::Open { title, impact: Impact::Minor, .. }] if title == "Degraded performance: svc2"
        ));
    }

    #[test]
    fn status_changes_update_and_full_recovery_resolves() {
        let incident = open(7, 0, &[(1, Maj), (2, Deg)]);
        // svc1 improves to degraded: impact follows the worst remaining.
        let changes = plan(std::slice::from_ref(&incident), &[t(1, Maj, Deg, 120)]);
        assert!(matches!(
            &changes[..],
            [IncidentChange::Update { impact: Impact::Minor, resolve: false, body, .. }] if body == "**svc1** is degraded."
        ));
        // One recovers: still open.
        let changes = plan(std::slice::from_ref(&incident), &[t(1, Maj, Op, 120)]);
        assert!(matches!(
            &changes[..],
            [IncidentChange::Update {
                impact: Impact::Minor,
                resolve: false,
                ..
            }]
        ));
        // Both recover: resolved, impact kept.
        let changes = plan(&[incident], &[t(1, Maj, Op, 120), t(2, Deg, Op, 130)]);
        let [IncidentChange::Update {
            resolve: true,
            impact,
            body,
            at: when,
            ..
        }] = &changes[..]
        else {
            panic!("{changes:?}");
        };
        assert_eq!(*impact, Impact::Critical);
        assert_eq!(*when, at(130));
        assert!(body.ends_with(RESOLVED), "{body}");
    }

    #[test]
    fn auto_resolve_off_keeps_the_incident_open_for_the_admin() {
        let mut incident = open(7, 0, &[(1, Maj)]);
        incident.auto_resolve = false;
        let changes = plan(&[incident], &[t(1, Maj, Op, 120)]);
        assert!(matches!(
            &changes[..],
            [IncidentChange::Update { resolve: false, body, .. }] if body == "**svc1** has recovered."
        ));
    }

    #[test]
    fn recoveries_and_maintenance_without_an_incident_change_nothing() {
        assert_eq!(
            plan(
                &[],
                &[t(1, Maj, Op, 0), t(2, Op, Mnt, 0), t(3, Maj, Deg, 0)]
            ),
            vec![]
        );
    }

    #[test]
    fn a_failure_and_recovery_in_one_round_opens_and_resolves() {
        let changes = plan(&[], &[t(1, Maj, Op, 60), t(1, Op, Maj, 0)]);
        let [IncidentChange::Open {
            resolved_at,
            body,
            services,
            ..
        }] = &changes[..]
        else {
            panic!("{changes:?}");
        };
        assert_eq!(*resolved_at, Some(at(60)));
        assert_eq!(services, &BTreeMap::from([(1, Op)]));
        assert!(body.starts_with("**svc1** is down"), "{body}");
    }

    #[test]
    fn probe_errors_cannot_inject_markdown() {
        let mut failing = t(1, Op, Maj, 0);
        failing.error = Some("<script>alert(1)</script> [x](javascript:y)".to_owned());
        let changes = plan(&[], &[failing]);
        let [IncidentChange::Open { body, .. }] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(
            body,
            r"**svc1** is down: \<script\>alert(1)\</script\> \[x\](javascript:y)."
        );
    }

    #[test]
    fn a_patch_adds_its_body_or_a_status_line_or_nothing() {
        use IncidentStatus::{Identified, Investigating, Resolved};
        let patch = |status, body: Option<&str>| IncidentPatch {
            status,
            body: body.map(str::to_owned),
            ..IncidentPatch::default()
        };
        #[rustfmt::skip]
        let cases: &[(IncidentPatch, IncidentStatus, Option<&str>)] = &[
            (patch(None, Some("We found it.")), Investigating, Some("We found it.")),
            (patch(Some(Identified), Some("Found.")), Investigating, Some("Found.")),
            (patch(Some(Identified), None), Investigating, Some("Status changed to identified.")),
            (patch(Some(Resolved), None), Identified, Some("Status changed to resolved.")),
            (patch(Some(Identified), None), Identified, None),
            (patch(None, None), Investigating, None),
        ];
        for (patch, current, expected) in cases {
            assert_eq!(
                patch.timeline_entry(*current).as_deref(),
                *expected,
                "{patch:?} on {current:?}"
            );
        }
        assert_eq!(patch(None, None).status_after(Identified), Identified);
        assert_eq!(
            patch(Some(Resolved), None).status_after(Identified),
            Resolved
        );
    }

    #[test]
    fn the_audit_log_names_the_fields_a_patch_sets() {
        let cases = [
            (IncidentPatch::default(), "nothing"),
            (
                IncidentPatch {
                    title: Some("t".into()),
                    body: Some("b".into()),
                    ..IncidentPatch::default()
                },
                "title, body",
            ),
            (
                IncidentPatch {
                    status: Some(IncidentStatus::Monitoring),
                    services: Some(vec![]),
                    auto_resolve: Some(false),
                    impact: Some(Impact::Minor),
                    ..IncidentPatch::default()
                },
                "status, impact, services, auto_resolve",
            ),
        ];
        for (patch, expected) in cases {
            assert_eq!(patch.fields(), expected);
        }
    }
}
