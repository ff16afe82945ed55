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

use std::sync::Arc;

use app::model::{
    IncidentStatus, IncidentView, Indicator, MaintenanceStatus, MaintenanceView, PublicStatus,
    ServiceStatus,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::public::{cached_json, etag};
use super::AppState;

/// The page id every object refers to.
pub const PAGE_ID: &str = "upbeat";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/summary.json", get(summary))
        .route("/api/v2/status.json", get(status))
        .route("/api/v2/components.json", get(components))
        .route("/api/v2/incidents.json", get(incidents))
        .route("/api/v2/incidents/unresolved.json", get(unresolved))
        .route("/api/v2/scheduled-maintenances.json", get(maintenances))
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            get(upcoming),
        )
        .route("/api/v2/scheduled-maintenances/active.json", get(active))
}

fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

fn page(s: &PublicStatus) -> Value {
    json!({
        "id": PAGE_ID,
        "name": s.page.title,
        "url": s.page.url.clone().unwrap_or_default(),
        "time_zone": "Etc/UTC",
        "updated_at": ts(s.generated_at),
    })
}

fn indicator(s: &PublicStatus) -> Value {
    let indicator = match s.overall.indicator {
        Indicator::Maintenance => Indicator::None,
        other => other,
    };
    json!({ "indicator": indicator.as_str(), "description": s.overall.description })
}

/// Group components first appear where their first service does.
fn component_list(s: &PublicStatus) -> Vec<Value> {
    let updated = ts(s.generated_at);
    let mut groups: Vec<(String, Vec<&str>, ServiceStatus)> = Vec::new();
    for service in &s.services {
        if let Some(group) = &service.group {
            let status = service.status.unwrap_or(ServiceStatus::Operational);
            match groups.iter_mut().find(|(g, _, _)| g == group) {
                Some((_, members, worst)) => {
                    members.push(&service.slug);
                    *worst = (*worst).max(status);
                }
                None => groups.push((group.clone(), vec![&service.slug], status)),
            }
        }
    }
    let group_id = |name: &str| {
        groups
            .iter()
            .position(|(g, _, _)| g == name)
            .map(|i| format!("group-{}", i + 1))
    };
    let mut list = Vec::new();
    for (i, (name, members, worst)) in groups.iter().enumerate() {
        list.push(json!({
            "id": format!("group-{}", i + 1),
            "name": name,
            "status": worst.as_str(),
            "created_at": updated,
            "updated_at": updated,
            "position": i + 1,
            "description": null,
            "showcase": false,
            "start_date": null,
            "group_id": null,
            "page_id": PAGE_ID,
            "group": true,
            "only_show_if_degraded": false,
            "components": members,
        }));
    }
    for (i, service) in s.services.iter().enumerate() {
        list.push(json!({
            "id": service.slug,
            "name": service.name,
            "status": service.status.unwrap_or(ServiceStatus::Operational).as_str(),
            "created_at": updated,
            "updated_at": service.last_checked_at.map_or_else(|| updated.clone(), ts),
            "position": i + 1,
            "description": service.description,
            "showcase": true,
            "start_date": null,
            "group_id": service.group.as_deref().and_then(group_id),
            "page_id": PAGE_ID,
            "group": false,
            "only_show_if_degraded": false,
        }));
    }
    list
}

fn incident(s: &PublicStatus, i: &IncidentView) -> Value {
    let base = s.page.url.clone().unwrap_or_default();
    let monitoring_at = i
        .updates
        .iter()
        .filter(|u| u.status == IncidentStatus::Monitoring)
        .map(|u| u.created_at)
        .min();
    let components: Vec<Value> = i
        .services
        .iter()
        .map(|a| {
            json!({
                "id": a.slug,
                "name": a.name,
                "status": a.status.as_str(),
                "created_at": ts(i.started_at),
                "updated_at": ts(i.updated_at),
                "position": 1,
                "description": null,
                "showcase": true,
                "start_date": null,
                "group_id": null,
                "page_id": PAGE_ID,
                "group": false,
                "only_show_if_degraded": false,
            })
        })
        .collect();
    json!({
        "id": i.id.to_string(),
        "name": i.title,
        "status": i.status.as_str(),
        "created_at": ts(i.started_at),
        "updated_at": ts(i.updated_at),
        "monitoring_at": monitoring_at.map(ts),
        "resolved_at": i.resolved_at.map(ts),
        "impact": i.impact.as_str(),
        "shortlink": format!("{}/incidents/{}", base.trim_end_matches('/'), i.id),
        "started_at": ts(i.started_at),
        "page_id": PAGE_ID,
        "incident_updates": i.updates.iter().map(|u| json!({
            "id": u.id.to_string(),
            "status": u.status.as_str(),
            "body": u.body,
            "incident_id": i.id.to_string(),
            "created_at": ts(u.created_at),
            "updated_at": ts(u.created_at),
            "display_at": ts(u.created_at),
            "affected_components": null,
            "deliver_notifications": true,
            "custom_tweet": null,
            "tweet_id": null,
        })).collect::<Vec<_>>(),
        "components": components,
    })
}

fn maintenance(s: &PublicStatus, m: &MaintenanceView) -> Value {
    let base = s.page.url.clone().unwrap_or_default();
    let components: Vec<Value> = m
        .services
        .iter()
        .filter_map(|slug| s.services.iter().find(|v| &v.slug == slug))
        .map(|v| {
            json!({
                "id": v.slug,
                "name": v.name,
                "status": v.status.unwrap_or(ServiceStatus::Operational).as_str(),
                "created_at": ts(m.starts_at),
                "updated_at": ts(s.generated_at),
                "position": 1,
                "description": v.description,
                "showcase": true,
                "start_date": null,
                "group_id": null,
                "page_id": PAGE_ID,
                "group": false,
                "only_show_if_degraded": false,
            })
        })
        .collect();
    let update = json!({
        "id": format!("{}-{}", m.id, m.status.as_str()),
        "status": m.status.as_str(),
        "body": m.description.clone().unwrap_or_else(|| m.title.clone()),
        "incident_id": m.id.to_string(),
        "created_at": ts(m.starts_at),
        "updated_at": ts(m.starts_at),
        "display_at": ts(m.starts_at),
        "affected_components": null,
        "deliver_notifications": true,
        "custom_tweet": null,
        "tweet_id": null,
    });
    json!({
        "id": m.id.to_string(),
        "name": m.title,
        "status": m.status.as_str(),
        "created_at": ts(m.starts_at),
        "updated_at": ts(s.generated_at),
        "monitoring_at": null,
        "resolved_at": (m.status == MaintenanceStatus::Completed).then(|| ts(m.ends_at)),
        "impact": "maintenance",
        "shortlink": format!("{}/history", base.trim_end_matches('/')),
        "started_at": ts(m.starts_at),
        "page_id": PAGE_ID,
        "incident_updates": [update],
        "components": components,
        "scheduled_for": ts(m.starts_at),
        "scheduled_until": ts(m.ends_at),
    })
}

fn snapshot(state: &AppState) -> Arc<PublicStatus> {
    state.snapshot.borrow().clone()
}

fn answer(headers: &HeaderMap, s: &PublicStatus, what: &str, body: &Value) -> Response {
    cached_json(headers, &etag(s, what), body)
}

fn maintenance_list(s: &PublicStatus, keep: impl Fn(MaintenanceStatus) -> bool) -> Vec<Value> {
    s.maintenances
        .iter()
        .filter(|m| keep(m.status))
        .map(|m| maintenance(s, m))
        .collect()
}

async fn summary(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-summary",
        &json!({
            "page": page(&s),
            "components": component_list(&s),
            "incidents": s.incidents.iter().map(|i| incident(&s, i)).collect::<Vec<_>>(),
            "scheduled_maintenances": maintenance_list(&s, |_| true),
            "status": indicator(&s),
        }),
    )
}

async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-status",
        &json!({ "page": page(&s), "status": indicator(&s) }),
    )
}

async fn components(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-components",
        &json!({ "page": page(&s), "components": component_list(&s) }),
    )
}

async fn incidents(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-incidents",
        &json!({
            "page": page(&s),
            "incidents": s.recent_incidents.iter().map(|i| incident(&s, i)).collect::<Vec<_>>(),
        }),
    )
}

async fn unresolved(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-unresolved",
        &json!({
            "page": page(&s),
            "incidents": s.incidents.iter().map(|i| incident(&s, i)).collect::<Vec<_>>(),
        }),
    )
}

async fn maintenances(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-maintenances",
        &json!({ "page": page(&s), "scheduled_maintenances": maintenance_list(&s, |_| true) }),
    )
}

async fn upcoming(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-upcoming",
        &json!({
            "page": page(&s),
            "scheduled_maintenances": maintenance_list(&s, |st| st == MaintenanceStatus::Scheduled),
        }),
    )
}

async fn active(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = snapshot(&state);
    answer(
        &headers,
        &s,
        "v2-active",
        &json!({
            "page": page(&s),
            "scheduled_maintenances": maintenance_list(&s, |st| st == MaintenanceStatus::InProgress),
        }),
    )
}
