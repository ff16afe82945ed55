//! Browser-side refresh of the status page.
//!
//! Every [`REFRESH_EVERY`] the page fetches `/public/status` with gloo-net
//! (with the page's [`Route::status_query`], so a large page's service or
//! group page gets only what it shows).
//! A fetch is aborted after [`FETCH_TIMEOUT`] (AbortController); when it
//! fails for any reason the last good document stays on screen and a calm
//! notice says how old it is. Only one fetch is in flight at a time.
//!
//! While the tab is hidden the page does not fetch; when it becomes visible
//! again it fetches at once. Times are rendered in UTC (so the server's
//! HTML and the hydrated page agree) and rewritten in the reader's own time
//! zone and format once the page is live, after every update.

use std::time::Duration;

use gloo_net::http::Request;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::model::{PageData, PublicStatus};
use crate::route::{Head, Route};

pub const REFRESH_EVERY: Duration = Duration::from_secs(30);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches the current status document for `route`, giving up after
/// [`FETCH_TIMEOUT`].
pub async fn fetch_status(route: &Route) -> Result<PublicStatus, String> {
    let url = match route.status_query() {
        Some(query) => format!("/public/status?{query}"),
        None => "/public/status".to_owned(),
    };
    let controller =
        web_sys::AbortController::new().map_err(|_| "AbortController unavailable".to_owned())?;
    let signal = controller.signal();
    let timer = set_timeout_with_handle(move || controller.abort(), FETCH_TIMEOUT).ok();
    let result = async {
        let response = Request::get(&url)
            .header("accept", "application/json")
            .abort_signal(Some(&signal))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.ok() {
            return Err(format!("status {}", response.status()));
        }
        response
            .json::<PublicStatus>()
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Some(timer) = timer {
        timer.clear();
    }
    result
}

/// Starts the periodic refresh for the lifetime of the current owner:
/// `live` gets each new document, `stale` the notice while refreshes fail.
/// The tab's title and icon follow the document.
pub fn start(
    live: RwSignal<PublicStatus>,
    stale: RwSignal<Option<String>>,
    route: Route,
    data: Option<PageData>,
) {
    let in_flight = StoredValue::new(false);
    // Refreshes failed in a row; the server hears of it once a streak.
    let failures = StoredValue::new(0u32);
    let fetched = StoredValue::new(route.clone());
    let tick = move || {
        if in_flight.get_value() || document().hidden() {
            return;
        }
        in_flight.set_value(true);
        let route = fetched.get_value();
        leptos::task::spawn_local(async move {
            match fetch_status(&route).await {
                Ok(status) => {
                    live.set(status);
                    stale.set(None);
                    failures.set_value(0);
                }
                Err(err) => {
                    leptos::logging::warn!("status refresh failed: {err}");
                    failures.update_value(|n| *n += 1);
                    if failures.get_value() == crate::report::REFRESH_FAILURES {
                        crate::report::send("refresh", &err);
                    }
                    let shown =
                        live.with_untracked(|s| local_hhmm(s.generated_at.timestamp_millis()));
                    stale.set(Some(format!("Showing data from {shown} — retrying")));
                }
            }
            in_flight.set_value(false);
        });
    };
    if let Ok(handle) = set_interval_with_handle(tick, REFRESH_EVERY) {
        on_cleanup(move || handle.clear());
    }
    // Back from a hidden tab: fetch now rather than at the next tick.
    let visible = window_event_listener_untyped("visibilitychange", move |_| {
        if !document().hidden() {
            tick();
        }
    });
    on_cleanup(move || visible.remove());
    // After hydration and after every refresh: local times, and the tab's
    // title and icon.
    Effect::new(move |_| {
        let head = live.with(|status| Head::of(&route, status, data.as_ref()));
        let document = document();
        if document.title() != head.title {
            document.set_title(&head.title);
        }
        if let Ok(Some(icon)) = document.query_selector("link[rel=icon]") {
            if icon.get_attribute("href").as_deref() != Some(head.icon.as_str()) {
                let _ = icon.set_attribute("href", &head.icon);
            }
        }
        request_animation_frame(localize_times);
    });
}

/// `HH:MM` of a time in the reader's own time zone.
fn local_hhmm(unix_ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// Rewrites every `<time datetime>` in the reader's time zone and format;
/// the UTC text stays in `title`.
fn localize_times() {
    let Ok(list) = document().query_selector_all("time[datetime]") else {
        return;
    };
    for i in 0..list.length() {
        let Some(node) = list.item(i) else { continue };
        let Ok(element) = node.dyn_into::<web_sys::Element>() else {
            continue;
        };
        let Some(iso) = element.get_attribute("datetime") else {
            continue;
        };
        if element.get_attribute("data-local").as_deref() == Some(iso.as_str()) {
            continue;
        }
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&iso));
        if date.get_time().is_nan() {
            continue;
        }
        let local: String = date
            .to_locale_string("default", &js_sys::Object::new())
            .into();
        if let Some(utc) = element.text_content() {
            let _ = element.set_attribute("title", &utc);
        }
        element.set_text_content(Some(&local));
        let _ = element.set_attribute("data-local", &iso);
    }
}
