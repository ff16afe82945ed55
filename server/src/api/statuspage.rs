//! Statuspage API v2 compatibility (`/api/v2/*.json`), built from the
//! in-memory snapshot with Atlassian's field names, enums and shapes, so
//! tools written for a Statuspage page work when pointed at Upbeat.
//!
//! Mapping:
//! - components are services (id = slug) and groups (id = `group-<n>`,
//!   `group: true`, with the ids of their `components`);
//! - incidents keep their ids, as strings; their updates carry
//!   `display_at` and `affected_components: null`;
//! - scheduled maintenances are the windows in progress and upcoming, with
//!   `impact: "maintenance"` and `scheduled_for` / `scheduled_until` of the
//!   current or next occurrence;
//! - times are ISO 8601 with milliseconds and an offset
//!   (`2026-11-22T10:00:00.000+00:00`);
//! - Statuspage has no `maintenance` indicator: a page whose only
//!   non-operational services are in maintenance reports `none` with the
//!   description "Service Under Maintenance".

use app::model::{
    IncidentStatus, IncidentView, Indicator, MaintenanceStatus, MaintenanceView, PublicStatus,
    ServiceStatus, ServiceView,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::answers::{etag, Answer};
use super::AppState;

/// The page id every object refers to.
pub const PAGE_ID: &str = "upbeat";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(status))
        .routes(routes!(components))
        .routes(routes!(incidents))
        .routes(routes!(unresolved))
        .routes(routes!(maintenances))
        .routes(routes!(upcoming))
        .routes(routes!(active))
}

fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// The `page` object.
#[derive(Serialize, ToSchema)]
pub struct V2Page {
    /// Always `"upbeat"`.
    id: &'static str,
    name: String,
    /// The configured `page.url`, or `""`.
    url: String,
    /// Always `"Etc/UTC"`.
    time_zone: &'static str,
    updated_at: String,
}

/// The `status` object: the page's overall indicator.
#[derive(Serialize, ToSchema)]
pub struct V2Status {
    /// `none`, `minor`, `major` or `critical`.
    indicator: &'static str,
    description: String,
}

/// A component: a service, or a group of services (`group: true`).
#[derive(Serialize, ToSchema)]
pub struct V2Component {
    /// The service's slug, or `group-<n>` for a group.
    id: String,
    name: String,
    /// `operational`, `degraded_performance`, `partial_outage`,
    /// `major_outage` or `under_maintenance`.
    status: &'static str,
    created_at: String,
    updated_at: String,
    position: usize,
    description: Option<String>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<String>,
    page_id: &'static str,
    group: bool,
    only_show_if_degraded: bool,
    /// Groups only: the ids of their components.
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<String>>,
}

/// One entry of an incident's or maintenance's timeline.
#[derive(Serialize, ToSchema)]
pub struct V2IncidentUpdate {
    id: String,
    status: &'static str,
    body: String,
    incident_id: String,
    created_at: String,
    updated_at: String,
    display_at: String,
    /// Always `null`.
    affected_components: Option<Vec<String>>,
    deliver_notifications: bool,
    custom_tweet: Option<String>,
    tweet_id: Option<String>,
}

/// An incident, or a scheduled maintenance (which adds `scheduled_for`
/// and `scheduled_until`).
#[derive(Serialize, ToSchema)]
pub struct V2Incident {
    id: String,
    name: String,
    /// Incidents: `investigating`, `identified`, `monitoring`, `resolved`;
    /// maintenances: `scheduled`, `in_progress`, `completed`.
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    /// `none`, `minor`, `major`, `critical`, or `maintenance`.
    impact: &'static str,
    shortlink: String,
    started_at: String,
    page_id: &'static str,
    /// Newest first.
    incident_updates: Vec<V2IncidentUpdate>,
    components: Vec<V2Component>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<String>,
}

/// `summary.json`.
#[derive(Serialize, ToSchema)]
pub struct V2Summary {
    page: V2Page,
    components: Vec<V2Component>,
    incidents: Vec<V2Incident>,
    scheduled_maintenances: Vec<V2Incident>,
    status: V2Status,
}

/// `status.json`.
#[derive(Serialize, ToSchema)]
pub struct V2StatusDoc {
    page: V2Page,
    status: V2Status,
}

/// `components.json`.
#[derive(Serialize, ToSchema)]
pub struct V2Components {
    page: V2Page,
    components: Vec<V2Component>,
}

/// `incidents.json` and `incidents/unresolved.json`.
#[derive(Serialize, ToSchema)]
pub struct V2Incidents {
    page: V2Page,
    incidents: Vec<V2Incident>,
}

/// `scheduled-maintenances.json` and its `upcoming` and `active` lists.
#[derive(Serialize, ToSchema)]
pub struct V2Maintenances {
    page: V2Page,
    scheduled_maintenances: Vec<V2Incident>,
}

fn page(s: &PublicStatus) -> V2Page {
    V2Page {
        id: PAGE_ID,
        name: s.page.title.clone(),
        url: s.page.url.clone().unwrap_or_default(),
        time_zone: "Etc/UTC",
        updated_at: ts(s.generated_at),
    }
}

fn indicator(s: &PublicStatus) -> V2Status {
    let indicator = match s.overall.indicator {
        Indicator::Maintenance => Indicator::None,
        other => other,
    };
    V2Status {
        indicator: indicator.as_str(),
        description: s.overall.description.clone(),
    }
}

/// A service component; `position` and times as the caller sees fit.
fn service_component(
    v: &ServiceView,
    position: usize,
    created_at: String,
    updated_at: String,
    group_id: Option<String>,
) -> V2Component {
    V2Component {
        id: v.slug.clone(),
        name: v.name.clone(),
        status: v.status.unwrap_or(ServiceStatus::Operational).as_str(),
        created_at,
        updated_at,
        position,
        description: v.description.clone(),
        showcase: true,
        start_date: None,
        group_id,
        page_id: PAGE_ID,
        group: false,
        only_show_if_degraded: false,
        components: None,
    }
}

/// Group components first appear where their first service does.
fn component_list(s: &PublicStatus) -> Vec<V2Component> {
    let updated = ts(s.generated_at);
    let mut groups: Vec<(String, Vec<String>, ServiceStatus)> = Vec::new();
    for service in &s.services {
        if let Some(group) = &service.group {
            let status = service.status.unwrap_or(ServiceStatus::Operational);
            match groups.iter_mut().find(|(g, _, _)| g == group) {
                Some((_, members, worst)) => {
                    members.push(service.slug.clone());
                    *worst = (*worst).max(status);
                }
                None => groups.push((group.clone(), vec![service.slug.clone()], status)),
            }
        }
    }
    let group_id = |name: &str| {
        groups
            .iter()
            .position(|(g, _, _)| g == name)
            .map(|i| format!("group-{}", i + 1))
    };
    let mut list = Vec::with_capacity(groups.len() + s.services.len());
    for (i, service) in s.services.iter().enumerate() {
        list.push(service_component(
            service,
            i + 1,
            updated.clone(),
            service.last_checked_at.map_or_else(|| updated.clone(), ts),
            service.group.as_deref().and_then(group_id),
        ));
    }
    let group_components = groups
        .iter()
        .enumerate()
        .map(|(i, (name, members, worst))| V2Component {
            id: format!("group-{}", i + 1),
            name: name.clone(),
            status: worst.as_str(),
            created_at: updated.clone(),
            updated_at: updated.clone(),
            position: i + 1,
            description: None,
            showcase: false,
            start_date: None,
            group_id: None,
            page_id: PAGE_ID,
            group: true,
            only_show_if_degraded: false,
            components: Some(members.clone()),
        });
    group_components.chain(list).collect()
}

fn update(
    id: String,
    status: &'static str,
    body: String,
    incident_id: i64,
    at: &str,
) -> V2IncidentUpdate {
    V2IncidentUpdate {
        id,
        status,
        body,
        incident_id: incident_id.to_string(),
        created_at: at.to_owned(),
        updated_at: at.to_owned(),
        display_at: at.to_owned(),
        affected_components: None,
        deliver_notifications: true,
        custom_tweet: None,
        tweet_id: None,
    }
}

fn incident(s: &PublicStatus, i: &IncidentView) -> V2Incident {
    let base = s.page.url.clone().unwrap_or_default();
    let monitoring_at = i
        .updates
        .iter()
        .filter(|u| u.status == IncidentStatus::Monitoring)
        .map(|u| u.created_at)
        .min();
    let components = i
        .services
        .iter()
        .map(|a| V2Component {
            id: a.slug.clone(),
            name: a.name.clone(),
            status: a.status.as_str(),
            created_at: ts(i.started_at),
            updated_at: ts(i.updated_at),
            position: 1,
            description: None,
            showcase: true,
            start_date: None,
            group_id: None,
            page_id: PAGE_ID,
            group: false,
            only_show_if_degraded: false,
            components: None,
        })
        .collect();
    V2Incident {
        id: i.id.to_string(),
        name: i.title.clone(),
        status: i.status.as_str(),
        created_at: ts(i.started_at),
        updated_at: ts(i.updated_at),
        monitoring_at: monitoring_at.map(ts),
        resolved_at: i.resolved_at.map(ts),
        impact: i.impact.as_str(),
        shortlink: format!("{}/incidents/{}", base.trim_end_matches('/'), i.id),
        started_at: ts(i.started_at),
        page_id: PAGE_ID,
        incident_updates: i
            .updates
            .iter()
            .map(|u| {
                update(
                    u.id.to_string(),
                    u.status.as_str(),
                    u.body.clone(),
                    i.id,
                    &ts(u.created_at),
                )
            })
            .collect(),
        components,
        scheduled_for: None,
        scheduled_until: None,
    }
}

fn maintenance(s: &PublicStatus, m: &MaintenanceView) -> V2Incident {
    let base = s.page.url.clone().unwrap_or_default();
    let starts = ts(m.starts_at);
    let components = m
        .services
        .iter()
        .filter_map(|slug| s.services.iter().find(|v| &v.slug == slug))
        .map(|v| service_component(v, 1, starts.clone(), ts(s.generated_at), None))
        .collect();
    V2Incident {
        id: m.id.to_string(),
        name: m.title.clone(),
        status: m.status.as_str(),
        created_at: starts.clone(),
        updated_at: ts(s.generated_at),
        monitoring_at: None,
        resolved_at: (m.status == MaintenanceStatus::Completed).then(|| ts(m.ends_at)),
        impact: "maintenance",
        shortlink: format!("{}/history", base.trim_end_matches('/')),
        started_at: starts.clone(),
        page_id: PAGE_ID,
        incident_updates: vec![update(
            format!("{}-{}", m.id, m.status.as_str()),
            m.status.as_str(),
            m.description.clone().unwrap_or_else(|| m.title.clone()),
            m.id,
            &starts,
        )],
        components,
        scheduled_for: Some(starts),
        scheduled_until: Some(ts(m.ends_at)),
    }
}

/// The document `what` of the current snapshot, made by `make` once per
/// snapshot.
fn answer<T: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    what: &str,
    make: impl FnOnce(&PublicStatus) -> T,
) -> Response {
    state.answer(what, headers, |s| Answer::json(&etag(s, what), &make(s)))
}

fn maintenance_list(s: &PublicStatus, keep: impl Fn(MaintenanceStatus) -> bool) -> Vec<V2Incident> {
    s.maintenances
        .iter()
        .filter(|m| keep(m.status))
        .map(|m| maintenance(s, m))
        .collect()
}

/// Page, components, unresolved incidents, maintenance and overall status.
#[utoipa::path(get, path = "/api/v2/summary.json", tag = "statuspage",
    responses((status = 200, body = V2Summary), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn summary(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-summary", |s| V2Summary {
        page: page(s),
        components: component_list(s),
        incidents: s.incidents.iter().map(|i| incident(s, i)).collect(),
        scheduled_maintenances: maintenance_list(s, |_| true),
        status: indicator(s),
    })
}

/// The overall indicator and its description.
#[utoipa::path(get, path = "/api/v2/status.json", tag = "statuspage",
    responses((status = 200, body = V2StatusDoc), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-status", |s| V2StatusDoc {
        page: page(s),
        status: indicator(s),
    })
}

/// Every service and group as a component.
#[utoipa::path(get, path = "/api/v2/components.json", tag = "statuspage",
    responses((status = 200, body = V2Components), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn components(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-components", |s| V2Components {
        page: page(s),
        components: component_list(s),
    })
}

/// The 50 most recent incidents, resolved ones included.
#[utoipa::path(get, path = "/api/v2/incidents.json", tag = "statuspage",
    responses((status = 200, body = V2Incidents), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn incidents(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-incidents", |s| V2Incidents {
        page: page(s),
        incidents: s.recent_incidents.iter().map(|i| incident(s, i)).collect(),
    })
}

/// Incidents not resolved yet.
#[utoipa::path(get, path = "/api/v2/incidents/unresolved.json", tag = "statuspage",
    responses((status = 200, body = V2Incidents), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn unresolved(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-unresolved", |s| V2Incidents {
        page: page(s),
        incidents: s.incidents.iter().map(|i| incident(s, i)).collect(),
    })
}

/// Maintenance in progress and upcoming.
#[utoipa::path(get, path = "/api/v2/scheduled-maintenances.json", tag = "statuspage",
    responses((status = 200, body = V2Maintenances), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn maintenances(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-maintenances", |s| V2Maintenances {
        page: page(s),
        scheduled_maintenances: maintenance_list(s, |_| true),
    })
}

/// Maintenance not started yet.
#[utoipa::path(get, path = "/api/v2/scheduled-maintenances/upcoming.json", tag = "statuspage",
    responses((status = 200, body = V2Maintenances), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn upcoming(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-upcoming", |s| V2Maintenances {
        page: page(s),
        scheduled_maintenances: maintenance_list(s, |st| st == MaintenanceStatus::Scheduled),
    })
}

/// Maintenance in progress.
#[utoipa::path(get, path = "/api/v2/scheduled-maintenances/active.json", tag = "statuspage",
    responses((status = 200, body = V2Maintenances), (status = 304, description = "Not modified (`If-None-Match`)")))]
async fn active(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "v2-active", |s| V2Maintenances {
        page: page(s),
        scheduled_maintenances: maintenance_list(s, |st| st == MaintenanceStatus::InProgress),
    })
}
