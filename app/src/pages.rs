//! Page components. They render a [`PublicStatus`] and nothing else, so the
//! server and the browser produce identical markup from identical data.

use leptos::prelude::*;
use leptos_meta::Title;

use std::sync::Arc;

use crate::model::{format_uptime, format_utc, PublicStatus, ServiceView};

/// Loads the first status document: from the snapshot on the server, from
/// `/public/status` in the browser (only if it was not serialised into the
/// page, which Leptos normally does).
fn initial_status(
) -> impl std::future::Future<Output = Result<PublicStatus, String>> + Send + 'static {
    #[cfg(feature = "ssr")]
    {
        let source = use_context::<crate::ssr::StatusSource>();
        async move {
            source
                .map(|s| (*s.current()).clone())
                .ok_or_else(|| "status source missing".to_owned())
        }
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        send_wrapper::SendWrapper::new(crate::refresh::fetch_status())
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        async { Err("built without ssr or hydrate".to_owned()) }
    }
}

/// `GET /`: overall banner and the services with their latest status.
#[component]
pub fn StatusPage() -> impl IntoView {
    let initial = Resource::new(|| (), |()| initial_status());
    // Newer documents fetched by the browser replace the initial one.
    let live: RwSignal<Option<PublicStatus>> = RwSignal::new(None);
    // `Some(text)` while the page is showing data older than the last refresh.
    let stale: RwSignal<Option<String>> = RwSignal::new(None);

    #[cfg(feature = "hydrate")]
    crate::refresh::start(live, stale, initial);

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading status…"</p> }>
            {move || {
                let current = live.get().or_else(|| initial.get().and_then(Result::ok));
                match (current, initial.get()) {
                    (Some(status), _) => view! { <StatusBody status stale/> }.into_any(),
                    (None, Some(Err(err))) => {
                        view! { <p class="error" role="alert">"Status unavailable: " {err}</p> }.into_any()
                    }
                    (None, _) => ().into_any(),
                }
            }}
        </Suspense>
    }
}

#[component]
fn StatusBody(status: PublicStatus, stale: RwSignal<Option<String>>) -> impl IntoView {
    let PublicStatus {
        page,
        generated_at,
        overall,
        services,
        ..
    } = status;
    let title = format!("{} — {}", page.title, overall.description);
    let indicator = overall.indicator.as_str();
    let groups = group_services(services);
    view! {
        <Title text=title/>
        <div class="page" data-indicator=indicator>
            <header class="page-header">
                <h1>{page.title}</h1>
                {page.description.map(|d| view! { <p class="page-description">{d}</p> })}
            </header>
            <p class="stale-notice" role="status" aria-live="polite" hidden=move || stale.get().is_none()>
                {move || stale.get().unwrap_or_default()}
            </p>
            <section class=format!("banner banner-{indicator}") aria-label="Overall status">
                <h2 class="banner-text">{overall.description}</h2>
            </section>
            {groups
                .into_iter()
                .map(|(group, services)| {
                    view! {
                        <section class="group">
                            {group.map(|g| view! { <h3 class="group-name">{g}</h3> })}
                            <ul class="services">
                                {services.into_iter().map(|s| view! { <ServiceRow service=s/> }).collect_view()}
                            </ul>
                        </section>
                    }
                    .into_any()
                })
                .collect_view()}
            <footer class="page-footer">
                "Updated "
                <time datetime=generated_at.to_rfc3339() class="generated-at">{format_utc(&generated_at)}</time>
                " · Powered by Upbeat"
            </footer>
        </div>
    }
    .into_any()
}

#[component]
fn ServiceRow(service: Arc<ServiceView>) -> impl IntoView {
    let ServiceView {
        slug,
        name,
        description,
        status,
        last_checked_at,
        last_latency_ms,
        last_error,
        uptime,
        ..
    } = ServiceView::clone(&service);
    let (status_class, status_text, icon) = match status {
        Some(s) => (s.as_str(), s.label(), s.icon()),
        None => ("no_data", "No data yet", "…"),
    };
    view! {
        <li class="service" data-slug=slug data-status=status_class>
            <div class="service-head">
                <span class="service-name">{name}</span>
                <span class=format!("service-status status-{status_class}")>
                    <span class="status-icon" aria-hidden="true">{icon}</span>
                    " "
                    <span class="status-text">{status_text}</span>
                </span>
            </div>
            {description.map(|d| view! { <p class="service-description">{d}</p> })}
            <p class="service-meta">
                {match last_checked_at {
                    Some(at) => {
                        view! {
                            "Last checked "
                            <time datetime=at.to_rfc3339()>{format_utc(&at)}</time>
                        }
                            .into_any()
                    }
                    None => "Not checked yet".into_any(),
                }}
                {last_latency_ms.map(|ms| format!(" · {ms} ms"))}
            </p>
            {last_error.map(|e| view! { <p class="service-error">{e}</p> })}
            <p class="service-uptime">"30-day uptime: " {format_uptime(uptime.d30)}</p>
        </li>
    }
    .into_any()
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

/// Any path no route matches. Sets a real 404 status during SSR.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <div class="page not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to the status page"</a></p>
        </div>
    }
}
