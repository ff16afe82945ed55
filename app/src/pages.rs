//! Page components. They render a [`PublicStatus`] (and, on `/history`, the
//! month the server loaded) and nothing else, so the server and the browser
//! produce identical markup from identical data.
//!
//! - `/`: overall banner, active incidents, maintenance, services by group
//!   with 90 daily bars, recent incidents;
//!   (on a page with more services than `[page] max_listed`: every group
//!   counted by status, and only the services that are not operational);
//! - `/services/{slug}`: one service: status, uptime over four windows,
//!   response-time chart (server-rendered SVG), bars, its incidents;
//! - `/groups/{slug}[?page=N]`: a group's services, 100 a page;
//! - `/incidents/{id}`: one incident's whole timeline;
//! - `/history[?month=YYYY-MM]`: past incidents and maintenance of a month;
//! - anything else, or an unknown slug or id: a 404 page with status 404.
//!
//! Incident updates are Markdown; the server renders and sanitises them
//! (`body_html`), so they are inserted as they are.

use leptos::either::Either;
use leptos::prelude::*;

use std::sync::Arc;

use crate::model::{
    datetime_attr, format_uptime, format_utc, DayBar, GroupCount, History, IncidentView,
    ListedPart, Listing, Loaded, MaintenanceStatus, MaintenanceView, ObjectiveView, PageData,
    PublicStatus, ServiceStatus, ServiceView,
};
use crate::route::Route;

/// The whole page for `route`: header, stale notice, the page's own
/// content and footer, rendered from the current status document. In the
/// browser, [`crate::refresh`] replaces the document every 30 seconds and
/// the view is rebuilt in place: the same elements, with new text and
/// attributes, so nothing flickers, jumps or loses focus.
#[component]
pub fn Site(route: Route, status: PublicStatus, data: Option<PageData>) -> impl IntoView {
    let live = RwSignal::new(status);
    // `Some(text)` while the page is showing data older than the last refresh.
    let stale: RwSignal<Option<String>> = RwSignal::new(None);

    #[cfg(feature = "hydrate")]
    crate::refresh::start(live, stale, route.clone(), data.clone());

    move || {
        let status = live.get();
        let page = status.page.clone();
        let generated_at = status.generated_at;
        let indicator = status.overall.indicator.as_str();
        let main = match &route {
            Route::Home => home(status),
            Route::Service(slug) => service_page(&status, slug),
            Route::Group { slug, .. } => group_page(&status, slug),
            Route::Incident(id) => incident_page(&status, *id, data.as_ref()),
            Route::History(_) => match data.clone() {
                Some(PageData::History(Loaded::Found(month))) => history_month(month),
                Some(PageData::History(Loaded::Unavailable)) => {
                    view! { <Unavailable heading="Incident history"/> }.into_any()
                }
                _ => view! { <NotFoundBody/> }.into_any(),
            },
            Route::NotFound => view! { <NotFoundBody/> }.into_any(),
        };
        view! {
            <div class="page" data-indicator=indicator>
                <header class="page-header">
                    {(!page.links.is_empty()).then(|| view! {
                        <nav class="page-links" aria-label="Links">
                            {page.links.iter().map(|l| view! {
                                <a href=l.url.clone() rel="noopener">{l.label.clone()}</a>
                            }).collect_view()}
                        </nav>
                    })}
                    <h1 class="page-title">
                        <a href="/">
                            {page.logo.clone().map(|src| view! {
                                <img class="logo" src=src alt="" height="32"/>
                            })}
                            {page.title}
                        </a>
                    </h1>
                    {page.description.map(|d| view! { <p class="page-description">{d}</p> })}
                </header>
                <p class="stale-notice" role="status" aria-live="polite" hidden=move || stale.get().is_none()>
                    {move || stale.get().unwrap_or_default()}
                </p>
                <main>{main}</main>
                <footer class="page-footer">
                    "Updated "
                    <time datetime=datetime_attr(&generated_at) class="generated-at">{format_utc(&generated_at)}</time>
                    " · Powered by Upbeat"
                </footer>
            </div>
        }
    }
}

fn home(status: PublicStatus) -> AnyView {
    let PublicStatus {
        overall,
        services,
        incidents,
        recent_incidents,
        maintenances,
        listing,
        ..
    } = status;
    let indicator = overall.indicator.as_str();
    let icon = match overall.indicator.as_str() {
        "none" => "✓",
        "maintenance" => "🛠",
        _ => "!",
    };
    let past: Vec<IncidentView> = recent_incidents
        .iter()
        .filter(|i| i.resolved_at.is_some())
        .take(10)
        .cloned()
        .collect();
    view! {
        <section class=format!("banner-box banner-{indicator}") aria-label="Overall status">
            <h2 class="banner"><span class="banner-icon" aria-hidden="true">{icon}</span> <span class="banner-text">{overall.description}</span></h2>
        </section>
        {(!incidents.is_empty()).then(|| view! {
            <section class="incidents" aria-labelledby="active-incidents">
                <h2 id="active-incidents">"Active incidents"</h2>
                {incidents.into_iter().map(|i| view! { <IncidentCard incident=i/> }).collect_view()}
            </section>
        }.into_any())}
        {(!maintenances.is_empty()).then(|| view! {
            <section class="maintenances" aria-labelledby="maintenance">
                <h2 id="maintenance">"Maintenance"</h2>
                {maintenances.into_iter().map(|m| view! { <MaintenanceCard maintenance=m/> }).collect_view()}
            </section>
        }.into_any())}
        <section aria-labelledby="services-heading">
            <h2 id="services-heading" class="visually-hidden">"Services"</h2>
            {match listing {
                Some(listing) => Either::Left(counted_groups(&listing, &services, &recent_incidents)),
                None => Either::Right(listed_groups(services, &recent_incidents)),
            }}
        </section>
        <section class="history" aria-labelledby="past-incidents">
            <h2 id="past-incidents">"Past incidents"</h2>
            <p><a href="/history">"Incident history, month by month"</a></p>
            {incident_list(past, "No incidents recently.".to_owned())}
        </section>
    }
    .into_any()
}

/// Every service, by group.
fn listed_groups(services: Vec<Arc<ServiceView>>, incidents: &[IncidentView]) -> impl IntoView {
    group_services(services)
        .into_iter()
        .map(|(group, services)| {
            view! {
                <section class="group">
                    {group.map(|g| view! { <h3 class="group-name">{g}</h3> })}
                    {service_list(services, incidents)}
                </section>
            }
        })
        .collect_view()
}

// The helpers below return concrete views, not `AnyView`: every distinct
// `into_any()` adds its own erased build, hydrate and rebuild code to the
// WebAssembly (some 5 KB each).
fn service_list(services: Vec<Arc<ServiceView>>, incidents: &[IncidentView]) -> impl IntoView {
    view! {
        <ul class="services">
            {services.into_iter().map(|s| view! { <ServiceRow service=s incidents=incidents.to_vec()/> }).collect_view()}
        </ul>
    }
}

/// A large page: every group with its counts and a link to its pages, and
/// under it the group's services that are not operational.
fn counted_groups(
    listing: &Listing,
    services: &[Arc<ServiceView>],
    incidents: &[IncidentView],
) -> impl IntoView {
    let listed = services.len();
    let note = format!(
        "{} services. Listed below: {} not operational{}; each group's link shows all of its services.",
        listing.total,
        listed,
        if listed == 0 { " (none)" } else { "" },
    );
    view! {
        <p class="listing-note">{note}</p>
        {listing
            .groups
            .iter()
            .map(|g| {
                let mine = services
                    .iter()
                    .filter(|s| s.group == g.name)
                    .cloned()
                    .collect();
                counted_group(g, mine, incidents, false)
            })
            .collect_view()}
    }
}

/// A group with its counts, its name linking to its pages, and `services`
/// of it (the home page's shares one view with the group's own page, which
/// keeps the WebAssembly smaller). On its own page (`own_page`) the name
/// follows the page title (`<h2>`; an `<h1>` may not sit in a `<section>`);
/// on the home page it sits under "Services" (`<h3>`): no level is skipped.
fn counted_group(
    g: &GroupCount,
    services: Vec<Arc<ServiceView>>,
    incidents: &[IncidentView],
    own_page: bool,
) -> impl IntoView {
    let name = g
        .name
        .clone()
        .unwrap_or_else(|| "Services without a group".to_owned());
    let (status_class, _, _) = status_words(g.worst());
    let href = format!("/groups/{}", g.slug);
    view! {
        <section class="group" data-group=g.slug.clone() data-status=status_class>
            {if own_page {
                view! { <h2 class="group-name"><a href=href>{name}</a></h2> }.into_any()
            } else {
                view! { <h3 class="group-name"><a href=href>{name}</a></h3> }.into_any()
            }}
            <p class="group-counts">{counts_text(g)}</p>
            {(!services.is_empty()).then(|| service_list(services, incidents))}
        </section>
    }
}

/// "250 services: 248 operational, 2 major outage".
fn counts_text(g: &GroupCount) -> String {
    let parts: Vec<String> = [
        (g.operational, "operational"),
        (g.under_maintenance, "under maintenance"),
        (g.degraded_performance, "degraded performance"),
        (g.partial_outage, "partial outage"),
        (g.major_outage, "major outage"),
        (g.no_data, "no data yet"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let noun = if g.total == 1 { "service" } else { "services" };
    format!("{} {noun}: {}", g.total, parts.join(", "))
}

/// One page of a group's services (the document carries just that page).
fn group_page(status: &PublicStatus, slug: &str) -> AnyView {
    let Some(Listing {
        groups,
        part: ListedPart::GroupPage { page, pages },
        ..
    }) = status.listing.as_ref()
    else {
        return view! { <NotFoundBody/> }.into_any();
    };
    let (page, pages) = (*page, *pages);
    let Some(group) = groups
        .iter()
        .find(|g| g.slug == slug)
        .filter(|_| page <= pages)
    else {
        return view! { <NotFoundBody/> }.into_any();
    };
    let link = |n: u32| format!("/groups/{slug}?page={n}");
    view! {
        <nav class="crumbs"><a href="/">"All services"</a></nav>
        {counted_group(group, status.services.clone(), &status.recent_incidents, true)}
        {(pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(page > 1).then(|| view! { <a rel="prev" href=link(page - 1)>"Previous"</a> })}
                <span class="pager-at">{format!("Page {page} of {pages}")}</span>
                {(page < pages).then(|| view! { <a rel="next" href=link(page + 1)>"Next"</a> })}
            </nav>
        })}
    }
    .into_any()
}

/// An active incident with its latest update.
#[component]
fn IncidentCard(incident: IncidentView) -> impl IntoView {
    let latest = incident.updates.first().cloned();
    let href = format!("/incidents/{}", incident.id);
    view! {
        <article class=format!("incident impact-{}", incident.impact.as_str()) data-incident=incident.id>
            <h3><a href=href>{incident.title}</a></h3>
            <p class="incident-meta">
                <span class="incident-status">{incident.status.label()}</span>
                " · Impact: " {incident.impact.as_str()}
                {(!incident.services.is_empty()).then(|| {
                    let names: Vec<String> = incident.services.iter().map(|s| s.name.clone()).collect();
                    format!(" · Affects {}", names.join(", "))
                })}
            </p>
            {latest.map(|u| view! {
                <div class="update">
                    <p class="update-meta">
                        <strong>{u.status.label()}</strong> " — "
                        <time datetime=datetime_attr(&u.created_at)>{format_utc(&u.created_at)}</time>
                    </p>
                    <div class="update-body" inner_html=u.body_html></div>
                </div>
            })}
        </article>
    }
}

#[component]
fn MaintenanceCard(maintenance: MaintenanceView) -> impl IntoView {
    let state = match maintenance.status {
        MaintenanceStatus::InProgress => "In progress",
        MaintenanceStatus::Scheduled => "Scheduled",
        MaintenanceStatus::Completed => "Completed",
    };
    view! {
        <article class=format!("maintenance maintenance-{}", maintenance.status.as_str())>
            <h3>{maintenance.title}</h3>
            <p class="incident-meta">
                <strong>{state}</strong> " · "
                <time datetime=datetime_attr(&maintenance.starts_at)>{format_utc(&maintenance.starts_at)}</time>
                " – "
                <time datetime=datetime_attr(&maintenance.ends_at)>{format_utc(&maintenance.ends_at)}</time>
                {(!maintenance.services.is_empty()).then(|| format!(" · {}", maintenance.services.join(", ")))}
            </p>
            {maintenance.description.map(|d| view! { <p class="maintenance-description">{d}</p> })}
        </article>
    }
}

#[component]
fn PastIncident(incident: IncidentView) -> impl IntoView {
    view! {
        <li class=format!("past-incident impact-{}", incident.impact.as_str())>
            <a href=format!("/incidents/{}", incident.id)>{incident.title}</a>
            <span class="muted">
                " · "
                <time datetime=datetime_attr(&incident.started_at)>{format_utc(&incident.started_at)}</time>
                " · " {incident.impact.as_str()}
            </span>
        </li>
    }
}

/// Incidents as a list of links, or `empty` when there are none.
fn incident_list(incidents: Vec<IncidentView>, empty: String) -> AnyView {
    if incidents.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <ul class="past">
            {incidents.into_iter().map(|i| view! { <PastIncident incident=i/> }).collect_view()}
        </ul>
    }
    .into_any()
}

fn status_words(status: Option<ServiceStatus>) -> (&'static str, &'static str, &'static str) {
    match status {
        Some(s) => (s.as_str(), s.label(), s.icon()),
        None => ("no_data", "No data yet", "…"),
    }
}

#[component]
fn ServiceRow(service: Arc<ServiceView>, incidents: Vec<IncidentView>) -> impl IntoView {
    let (status_class, status_text, icon) = status_words(service.status);
    let slug = service.slug.clone();
    view! {
        <li class="service" data-slug=slug data-status=status_class>
            <div class="service-head">
                <a class="service-name" href=format!("/services/{slug}")>{service.name.clone()}</a>
                <span class=format!("service-status status-{status_class}")>
                    <span class="status-icon" aria-hidden="true">{icon}</span>
                    " "
                    <span class="status-text">{status_text}</span>
                </span>
            </div>
            {service.description.clone().map(|d| view! { <p class="service-description">{d}</p> })}
            <p class="service-meta">
                {match service.last_checked_at {
                    Some(at) => view! {
                        "Last checked " <time datetime=datetime_attr(&at)>{format_utc(&at)}</time>
                    }.into_any(),
                    None => "Not checked yet".into_any(),
                }}
                {service.last_latency_ms.map(|ms| format!(" · {ms} ms"))}
            </p>
            {service.last_error.clone().map(|e| view! { <p class="service-error">{e}</p> })}
            <Bars service=Arc::clone(&service) incidents/>
            <p class="bars-legend" aria-hidden="true">
                <span class="days-90">"90 days ago"</span><span class="days-30">"30 days ago"</span><span>"Today"</span>
            </p>
            <p class="service-uptime">"30-day uptime: " {format_uptime(service.uptime.d30)}</p>
        </li>
    }
}

/// The level a day's bar shows, as its letter in the day's token.
fn day_level(day: &DayBar) -> char {
    match day.uptime {
        None if day.maintenance > 0 => 'm',
        None => 'n',
        Some(u) if u >= 0.999 => 'o',
        Some(u) if u >= 0.99 => 'i',
        Some(u) if u >= 0.95 => 'a',
        Some(_) => 'c',
    }
}

/// The class of a day's level letter.
fn level_class(letter: char) -> &'static str {
    match letter {
        'm' => "maint",
        'o' => "ok",
        'i' => "minor",
        'a' => "major",
        'c' => "critical",
        _ => "none",
    }
}

/// A service's days as the page carries them: the first date and one
/// token a day, space-separated, oldest first. A token is the level's
/// letter (`o` ok, `i` minor, `a` major, `c` critical, `m` maintenance
/// only, `n` no data), the uptime as shown without its `%` (`99.95`,
/// `100`; none without samples) and the worst sample's initial (`u`p,
/// `g` degraded, `d`own; none without samples): `o100u`, `c93.10d`, `n`.
/// The day bars travel once, in the markup; the tooltip script reads them
/// there and hydration reads them back (see [`Bars`]).
pub fn day_tokens(days: &crate::model::DayBars) -> (Option<chrono::NaiveDate>, String) {
    let mut first = None;
    let mut tokens = String::with_capacity(days.len() * 6);
    for day in days.iter() {
        first.get_or_insert(day.date);
        if !tokens.is_empty() {
            tokens.push(' ');
        }
        tokens.push(day_level(&day));
        if let Some(u) = day.uptime {
            let shown = format_uptime(Some(f64::from(u)));
            tokens.push_str(shown.trim_end_matches(" %"));
        }
        if let Some(worst) = day.worst {
            tokens.push(match worst {
                crate::model::SampleOutcome::Up => 'u',
                crate::model::SampleOutcome::Degraded => 'g',
                crate::model::SampleOutcome::Down => 'd',
            });
        }
    }
    (first, tokens)
}

/// The bars of `tokens` from `first`: one focusable `<li>` a day, holding
/// the links of the service's incidents of that day (hidden; the tooltip
/// shows them). Markup written as text, set once: hydration never walks
/// these 90 elements a service, and a refresh replaces them only when a
/// level or an incident changed.
fn bars_html(
    first: Option<chrono::NaiveDate>,
    tokens: &str,
    slug: &str,
    incidents: &[IncidentView],
) -> String {
    let mine: Vec<&IncidentView> = incidents
        .iter()
        .filter(|i| i.services.iter().any(|s| s.slug == slug))
        .collect();
    let mut html = String::with_capacity(tokens.len() * 8);
    for (i, token) in tokens.split(' ').filter(|t| !t.is_empty()).enumerate() {
        let class = level_class(token.chars().next().unwrap_or('n'));
        html.push_str("<li class=\"bar bar-");
        html.push_str(class);
        html.push_str("\" tabindex=\"0\">");
        if let Some(date) = first.map(|f| f + chrono::Days::new(i as u64)) {
            for incident in mine.iter().filter(|inc| {
                inc.started_at.date_naive() <= date
                    && inc.resolved_at.is_none_or(|r| r.date_naive() >= date)
            }) {
                html.push_str(&format!(
                    "<a class=\"bar-incident\" href=\"/incidents/{}\">{}</a>",
                    incident.id,
                    crate::model::escape_html(&incident.title)
                ));
            }
        }
        html.push_str("</li>");
    }
    html
}

/// The days of a service whose hydration data left them out: read back
/// from the markup the server rendered (`data-first`, `data-days`).
#[cfg(feature = "hydrate")]
fn days_in_markup(slug: &str) -> (Option<chrono::NaiveDate>, String) {
    let list = document()
        .query_selector(&format!("ol.bars[data-for=\"{slug}\"]"))
        .ok()
        .flatten();
    let attribute = |name: &str| list.as_ref().and_then(|l| l.get_attribute(name));
    (
        attribute("data-first").and_then(|d| crate::model::parse_date(&d)),
        attribute("data-days").unwrap_or_default(),
    )
}

/// 90 daily bars; each is focusable, and the page's tooltip script
/// (`BARS_SCRIPT`) describes the focused or hovered one on demand: its
/// date, uptime, worst sample and that day's incidents (with links), to
/// screen readers too (`aria-describedby`). The details were written out
/// for all 9,000 bars of a 100-service page before (2.7 MB of HTML).
#[component]
fn Bars(service: Arc<ServiceView>, incidents: Vec<IncidentView>) -> impl IntoView {
    let slug = service.slug.clone();
    let name = service.name.clone();
    #[cfg_attr(not(feature = "hydrate"), expect(unused_mut))]
    let (mut first, mut tokens) = day_tokens(&service.days);
    #[cfg(feature = "hydrate")]
    if service.days.is_empty() {
        (first, tokens) = days_in_markup(&slug);
    }
    let bars = bars_html(first, &tokens, &slug, &incidents);
    view! {
        <ol
            class="bars"
            aria-label=format!("{name}: uptime day by day, oldest first")
            data-for=slug
            data-first=first.map(|d| d.to_string())
            data-days=tokens
            inner_html=bars
        ></ol>
    }
}

/// Keeps config order: ungrouped services first, then groups in the order
/// their first service appears.
fn group_services(services: Vec<Arc<ServiceView>>) -> Vec<(Option<String>, Vec<Arc<ServiceView>>)> {
    let mut groups: Vec<(Option<String>, Vec<Arc<ServiceView>>)> = Vec::new();
    for service in services {
        match groups.iter_mut().find(|(g, _)| *g == service.group) {
            Some((_, list)) => list.push(service),
            None => groups.push((service.group.clone(), vec![service])),
        }
    }
    groups.sort_by_key(|(g, _)| g.is_some());
    groups
}

fn service_page(status: &PublicStatus, slug: &str) -> AnyView {
    let Some(service) = status.services.iter().find(|s| s.slug == slug).cloned() else {
        return view! { <NotFoundBody/> }.into_any();
    };
    let (status_class, status_text, icon) = status_words(service.status);
    let incidents: Vec<IncidentView> = status
        .recent_incidents
        .iter()
        .filter(|i| i.services.iter().any(|s| s.slug == slug))
        .cloned()
        .collect();
    let u = service.uptime;
    let windows = [
        ("24 hours", u.h24),
        ("7 days", u.d7),
        ("30 days", u.d30),
        ("90 days", u.d90),
    ];
    view! {
        <nav class="crumbs"><a href="/">"All services"</a></nav>
        <h1 class="service-title">{service.name.clone()}</h1>
        {service.description.clone().map(|d| view! { <p class="service-description">{d}</p> })}
        <p class=format!("service-status big status-{status_class}")>
            <span class="status-icon" aria-hidden="true">{icon}</span> " " {status_text}
        </p>
        <dl class="uptimes">
            {windows.into_iter().map(|(label, value)| view! {
                <div><dt>{label}</dt><dd>{format_uptime(value)}</dd></div>
            }).collect_view()}
        </dl>
        {(!service.objectives.is_empty()).then(|| view! {
            <h2>"Objectives"</h2>
            {service.objectives.clone().into_iter().map(|o| view! { <Burndown objective=o/> }).collect_view()}
        })}
        <h2>"Response time"</h2>
        <ResponseChart chart=service.latency_chart.clone()/>
        <h2>"Last 90 days"</h2>
        <Bars service=Arc::clone(&service) incidents=incidents.clone()/>
        <h2>"Incidents"</h2>
        {incident_list(incidents, "No recent incidents.".to_owned())}
    }
    .into_any()
}

/// Daily response times over 90 days: the chart the server drew (no
/// script), or a note before any time was measured.
#[component]
fn ResponseChart(chart: Option<String>) -> impl IntoView {
    match chart {
        Some(html) => view! { <div class="chart-box" inner_html=html></div> }.into_any(),
        None => view! { <p class="muted">"No response times measured yet."</p> }.into_any(),
    }
}

/// An objective: its figures, and the error budget left day by day over
/// the window as an SVG line (no script), with the figures in words as
/// its text alternative. The dashed line is the budget spent.
#[component]
fn Burndown(objective: ObjectiveView) -> impl IntoView {
    let summary = objective.summary.clone();
    let aria = summary.clone();
    view! {
        <figure class="chart objective">
            <figcaption>
                <strong>{objective.label.clone()}</strong>
                " · " <span class=format!("slo-{}", objective.status)>{objective.status.clone()}</span>
                <span class="muted">{format!(" · {} · {}", objective.achieved, objective.budget)}</span>
            </figcaption>
            <svg viewBox="0 0 600 120" role="img" aria-label=aria preserveAspectRatio="none">
                <title>{summary}</title>
                <line x1="0" y1="10" x2="600" y2="10" class="chart-grid"/>
                <line x1="0" y1="60" x2="600" y2="60" class="chart-zero"/>
                <polyline points=objective.points class="chart-line" fill="none"/>
            </svg>
        </figure>
    }
}

/// An incident from the status document (so it follows the refresh), or
/// one the server loaded because it is too old to be in it.
fn incident_page(status: &PublicStatus, id: Option<i64>, data: Option<&PageData>) -> AnyView {
    let incident = match (id.and_then(|id| status.incident(id)), data) {
        (Some(incident), _) | (None, Some(PageData::Incident(Loaded::Found(incident)))) => {
            incident.clone()
        }
        (None, Some(PageData::Incident(Loaded::Unavailable))) => {
            return view! { <Unavailable heading="Incident"/> }.into_any();
        }
        (None, _) => return view! { <NotFoundBody/> }.into_any(),
    };
    view! {
        <nav class="crumbs"><a href="/">"All services"</a></nav>
        // A plain division: the page's own top-level heading may not sit in
        // sectioning content (the Nu checker's advice for `<h1>`).
        <div class=format!("incident-page impact-{}", incident.impact.as_str())>
            <h1>{incident.title.clone()}</h1>
            <p class="incident-meta">
                <span class="incident-status">{incident.status.label()}</span>
                " · Impact: " {incident.impact.as_str()}
                " · Started "
                <time datetime=datetime_attr(&incident.started_at)>{format_utc(&incident.started_at)}</time>
                {incident.resolved_at.map(|r| view! {
                    " · Resolved " <time datetime=datetime_attr(&r)>{format_utc(&r)}</time>
                })}
            </p>
            {(!incident.services.is_empty()).then(|| view! {
                <p class="incident-services">
                    "Affected: "
                    {incident.services.iter().map(|s| view! {
                        <a class="affected" href=format!("/services/{}", s.slug)>{s.name.clone()}</a> " "
                    }).collect_view()}
                </p>
            })}
            <ol class="timeline">
                {incident.updates.iter().map(|u| view! {
                    <li class="update">
                        <p class="update-meta">
                            <strong>{u.status.label()}</strong> " — "
                            <time datetime=datetime_attr(&u.created_at)>{format_utc(&u.created_at)}</time>
                        </p>
                        <div class="update-body" inner_html=u.body_html.clone()></div>
                    </li>
                }).collect_view()}
            </ol>
        </div>
    }
    .into_any()
}

fn history_month(h: History) -> AnyView {
    let History {
        month,
        incidents,
        maintenances,
        previous,
        next,
    } = h;
    view! {
        <nav class="crumbs"><a href="/">"All services"</a></nav>
        <h1>"Incident history"</h1>
        <h2 class="month">{month.clone()}</h2>
        <nav class="months" aria-label="Months">
            <a rel="prev" href=format!("/history?month={previous}")>"← " {previous.clone()}</a>
            {next.map(|n| view! { <a rel="next" href=format!("/history?month={n}")>{n.clone()} " →"</a> })}
        </nav>
        <h3>"Incidents"</h3>
        {incident_list(incidents, format!("No incidents in {month}."))}
        <h3>"Maintenance"</h3>
        {if maintenances.is_empty() {
            view! { <p class="muted">"No maintenance."</p> }.into_any()
        } else {
            maintenances.into_iter().map(|m| view! { <MaintenanceCard maintenance=m/> }).collect_view().into_any()
        }}
    }
    .into_any()
}

/// Sets the answer's status during SSR.
fn set_status(_code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(code)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(_code),
    ) {
        response.set_status(code);
    }
}

/// What the page shows could not be loaded (the database did not answer):
/// `503`.
#[component]
fn Unavailable(heading: &'static str) -> impl IntoView {
    set_status(503);
    view! {
        <nav class="crumbs"><a href="/">"All services"</a></nav>
        <h1>{heading}</h1>
        <p class="error" role="alert">"This cannot be loaded right now. " <a href="/">"The current status"</a> " is still shown; please try again in a minute."</p>
    }
}

/// Unknown page, slug, id or month: `404`.
#[component]
fn NotFoundBody() -> impl IntoView {
    set_status(404);
    view! {
        <div class="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to the status page"</a></p>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AffectedService, CreatedBy, Impact, IncidentStatus, SampleOutcome};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn day(
        date: NaiveDate,
        uptime: Option<f32>,
        worst: Option<SampleOutcome>,
        maintenance: u32,
    ) -> DayBar {
        DayBar {
            date,
            uptime,
            worst,
            samples: u32::from(uptime.is_some()) * 1440,
            maintenance,
            latency_ms: None,
        }
    }

    #[test]
    fn a_day_is_one_token_of_level_uptime_and_worst_sample() {
        let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let on = |n: u64| first + chrono::Days::new(n);
        let days = crate::model::DayBars::from(vec![
            day(on(0), Some(1.0), Some(SampleOutcome::Up), 0),
            day(on(1), Some(0.999_511_7), Some(SampleOutcome::Degraded), 0),
            // Shown as 99.89 %: the level follows the value, not the text.
            day(on(2), Some(0.998_95), Some(SampleOutcome::Down), 0),
            day(on(3), Some(0.968_75), Some(SampleOutcome::Down), 0),
            day(on(4), Some(0.5), Some(SampleOutcome::Down), 0),
            day(on(5), None, None, 30),
            day(on(6), None, None, 0),
        ]);
        let (start, tokens) = day_tokens(&days);
        assert_eq!(start, Some(first));
        assert_eq!(tokens, "o100u o99.95g i99.89d a96.87d c50.00d m n");
        assert_eq!(
            day_tokens(&crate::model::DayBars::default()),
            (None, String::new())
        );
    }

    #[test]
    fn bars_carry_their_level_and_the_links_of_their_days_incidents() {
        let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap();
        let incident = |id: i64, slug: &str, from: u32, to: Option<u32>| IncidentView {
            id,
            title: format!("<b>Outage</b> {id}"),
            status: IncidentStatus::Investigating,
            impact: Impact::Major,
            created_by: CreatedBy::Auto,
            auto_resolve: true,
            started_at: at(from),
            resolved_at: to.map(at),
            updated_at: at(from),
            services: vec![AffectedService {
                slug: slug.into(),
                name: slug.into(),
                status: ServiceStatus::MajorOutage,
            }],
            updates: Vec::new(),
        };
        let incidents = [
            incident(1, "api", 2, Some(3)),
            incident(2, "web", 1, None),
            incident(3, "api", 3, None),
        ];
        let html = bars_html(Some(first), "o100u c50.00d a96.00d n", "api", &incidents);
        let bars: Vec<&str> = html.split("</li>").filter(|b| !b.is_empty()).collect();
        assert_eq!(
            bars,
            [
                r#"<li class="bar bar-ok" tabindex="0">"#,
                r#"<li class="bar bar-critical" tabindex="0"><a class="bar-incident" href="/incidents/1">&lt;b&gt;Outage&lt;/b&gt; 1</a>"#,
                r#"<li class="bar bar-major" tabindex="0"><a class="bar-incident" href="/incidents/1">&lt;b&gt;Outage&lt;/b&gt; 1</a><a class="bar-incident" href="/incidents/3">&lt;b&gt;Outage&lt;/b&gt; 3</a>"#,
                r#"<li class="bar bar-none" tabindex="0"><a class="bar-incident" href="/incidents/3">&lt;b&gt;Outage&lt;/b&gt; 3</a>"#,
            ]
        );
        assert_eq!(bars_html(None, "", "api", &incidents), "");
    }
}
