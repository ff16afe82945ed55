//! The console's HTML: one layout (the public page's stylesheet, the
//! console's own, the navigation), form pieces that put an error next to
//! its field, and the overview. maud escapes every value it writes; only
//! Markdown already through the page's sanitiser is written raw.

use app::model::{ServiceStatus, ServiceView};
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Signed;
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::people::Role;

/// Which part of the navigation is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    None,
    Overview,
    Incidents,
    Maintenance,
    People,
    Subscribers,
    Audit,
}

/// The service statuses an incident can put a service in.
pub const SERVICE_STATUSES: [ServiceStatus; 5] = [
    ServiceStatus::Operational,
    ServiceStatus::DegradedPerformance,
    ServiceStatus::PartialOutage,
    ServiceStatus::MajorOutage,
    ServiceStatus::UnderMaintenance,
];

/// A whole console page for someone not signed in (sign-in, password
/// links).
pub fn page(state: &AppState, title: &str, body: Markup) -> Markup {
    let css = state.assets.urls().map(|u| u.css.as_str());
    page_with(css, title, None, Nav::None, body)
}

/// A whole page, with the public page's stylesheet when the front end is
/// built.
pub fn page_in(state: &AppState, title: &str, signed: &Signed, nav: Nav, body: Markup) -> Markup {
    let css = state.assets.urls().map(|u| u.css.as_str());
    page_with(css, title, Some(signed), nav, body)
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "callers hand their page over"
)]
fn page_with(
    css: Option<&str>,
    title: &str,
    signed: Option<&Signed>,
    nav: Nav,
    body: Markup,
) -> Markup {
    let link = |target: Nav, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(nav == target).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="same-origin";
                title { (title) " · Upbeat console" }
                @if let Some(css) = css { link rel="stylesheet" href=(css); }
                link rel="stylesheet" href="/admin/console.css";
                script src="/admin/console.js" defer {}
            }
            body.console {
                a.skip href="#main" { "Skip to content" }
                @if let Some(signed) = signed {
                    header.console-header {
                        nav.console-nav aria-label="Console" {
                            (link(Nav::Overview, "/admin", "Overview"))
                            (link(Nav::Incidents, "/admin/incidents", "Incidents"))
                            (link(Nav::Maintenance, "/admin/maintenance", "Maintenance"))
                            @if signed.actor.role.allows(Role::Admin) {
                                (link(Nav::People, "/admin/people", "Users and tokens"))
                                (link(Nav::Subscribers, "/admin/subscribers", "Subscribers"))
                            }
                            (link(Nav::Audit, "/admin/audit", "Audit log"))
                            a href="/" { "Public page" }
                        }
                        form.sign-out method="post" action="/admin/logout" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            span.muted { (signed.actor.name) " (" (signed.actor.role) ") " }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main.page id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// Whether an error's field path (`services[0].slug`) is `field` or inside
/// it.
fn names(path: &str, field: &str) -> bool {
    path.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
}

/// The error of `field`, if `error` names it: shown under the field and
/// tied to it with `aria-describedby` (`error_id`).
pub fn field_error(error: Option<&ApiError>, field: &str) -> Markup {
    html! {
        @if let Some(err) = error.filter(|e| e.field.as_deref().is_some_and(|f| names(f, field))) {
            p.field-error id=(error_id(field)) { (err.message) }
        }
    }
}

/// An error no field claims (a conflict, a missing record), at the top.
pub fn form_error(error: Option<&ApiError>, fields: &[&str]) -> Markup {
    html! {
        @if let Some(err) = error.filter(|e| e.field.as_deref().is_none_or(|f| !fields.iter().any(|n| names(f, n)))) {
            p.form-error role="alert" { (err.message) }
        }
    }
}

pub fn error_id(field: &str) -> String {
    format!("{}-error", field.replace(['[', ']', '.'], "-"))
}

/// `aria-describedby` and `aria-invalid` values for a field with an error.
pub fn invalid(error: Option<&ApiError>, field: &str) -> Option<String> {
    error
        .and_then(|e| e.field.as_deref())
        .filter(|f| names(f, field))
        .map(|_| error_id(field))
}

pub fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(app::model::datetime_attr(&at)) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// Markdown rendered by the page's own sanitiser: the same HTML the
/// public page shows.
pub fn markdown(text: &str) -> Markup {
    PreEscaped(crate::domain::markdown::to_safe_html(text))
}

fn uptime(view: &ServiceView) -> String {
    view.uptime
        .h24
        .map_or_else(|| "–".to_owned(), |u| format!("{:.2} %", u * 100.0))
}

/// `/admin`: services with live status, open incidents, maintenance.
pub async fn overview(state: &AppState, signed: &Signed) -> Markup {
    let snapshot = state.snapshot.borrow().clone();
    let body = html! {
        h1 { "Overview" }
        @if signed.actor.role.allows(Role::Editor) {
            p.actions {
                a.button href="/admin/incidents/new" { "New incident" }
                a.button href="/admin/maintenance/new" { "Schedule maintenance" }
            }
        }
        section aria-labelledby="open-incidents" {
            h2 id="open-incidents" { "Open incidents" }
            @if snapshot.incidents.is_empty() {
                p.muted { "No open incidents." }
            } @else {
                ul.list {
                    @for incident in &snapshot.incidents {
                        li {
                            a href={ "/admin/incidents/" (incident.id) } { (incident.title) }
                            " — " (incident.status.label()) ", impact " (incident.impact.as_str())
                            ", since " (time(incident.started_at))
                        }
                    }
                }
            }
        }
        section aria-labelledby="upcoming" {
            h2 id="upcoming" { "Maintenance in progress and upcoming" }
            @if snapshot.maintenances.is_empty() {
                p.muted { "None scheduled." }
            } @else {
                ul.list {
                    @for m in &snapshot.maintenances {
                        li {
                            a href={ "/admin/maintenance/" (m.id) } { (m.title) }
                            " — " (time(m.starts_at)) " to " (time(m.ends_at))
                        }
                    }
                }
            }
        }
        section aria-labelledby="services" {
            h2 id="services" { "Services" }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Service" } th scope="col" { "Status" } th scope="col" { "Last sample" } th scope="col" { "24 h uptime" } } }
                    tbody {
                        @for s in &snapshot.services {
                            tr {
                                th scope="row" { a href={ "/services/" (s.slug) } { (s.name) } }
                                td {
                                    @match s.status {
                                        Some(status) => span class={ "status-" (status.as_str()) } { (status.label()) },
                                        None => span.muted { "No data yet" },
                                    }
                                }
                                td {
                                    @if let Some(at) = s.last_checked_at { (time(at)) }
                                    @if let Some(ms) = s.last_latency_ms { " · " (ms) " ms" }
                                    @if let Some(error) = &s.last_error { br; span.service-error { (error) } }
                                }
                                td { (uptime(s)) }
                            }
                        }
                    }
                }
            }
        }
    };
    page_in(state, "Overview", signed, Nav::Overview, body)
}

/// The checkbox that posts a change without telling subscribers
/// (`notify: false`); unchecked by default.
pub fn quiet_box(checked: bool) -> Markup {
    html! {
        label.check {
            input type="checkbox" name="quiet" checked[checked];
            " Do not notify subscribers (alert routes are still told)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn an_error_path_names_its_field_and_what_is_inside_it() {
        let cases = [
            ("title", "title", true),
            ("services[0].slug", "services", true),
            ("console.session_idle", "console", true),
            ("titles", "title", false),
            ("body", "title", false),
        ];
        for (path, field, expected) in cases {
            assert_eq!(names(path, field), expected, "{path} / {field}");
        }
    }
}
