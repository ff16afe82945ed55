//! Browser-side refresh of the status page.
//!
//! Every [`REFRESH_EVERY`] the page fetches `/public/status` with gloo-net.
//! A fetch is aborted after [`FETCH_TIMEOUT`] (AbortController); when it
//! fails for any reason the last good document stays on screen and a calm
//! notice says how old it is. Only one fetch is in flight at a time.

use std::time::Duration;

use gloo_net::http::Request;
use leptos::prelude::*;

use crate::model::{format_hhmm, PublicStatus};

pub const REFRESH_EVERY: Duration = Duration::from_secs(30);
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches the current status document, giving up after [`FETCH_TIMEOUT`].
pub async fn fetch_status() -> Result<PublicStatus, String> {
    let controller =
        web_sys::AbortController::new().map_err(|_| "AbortController unavailable".to_owned())?;
    let signal = controller.signal();
    let timer = set_timeout_with_handle(move || controller.abort(), FETCH_TIMEOUT).ok();
    let result = async {
        let response = Request::get("/public/status")
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

/// Starts the periodic refresh for the lifetime of the current owner.
pub fn start(
    live: RwSignal<Option<PublicStatus>>,
    stale: RwSignal<Option<String>>,
    initial: Resource<Result<PublicStatus, String>>,
) {
    let in_flight = StoredValue::new(false);
    let tick = move || {
        if in_flight.get_value() {
            return;
        }
        in_flight.set_value(true);
        leptos::task::spawn_local(async move {
            match fetch_status().await {
                Ok(status) => {
                    live.set(Some(status));
                    stale.set(None);
                }
                Err(err) => {
                    leptos::logging::warn!("status refresh failed: {err}");
                    let shown = live
                        .get_untracked()
                        .or_else(|| initial.get_untracked().and_then(Result::ok));
                    stale.set(Some(match shown {
                        Some(s) => format!(
                            "Showing data from {} UTC — retrying",
                            format_hhmm(&s.generated_at)
                        ),
                        None => "Status could not be loaded — retrying".to_owned(),
                    }));
                }
            }
            in_flight.set_value(false);
        });
    };
    if let Ok(handle) = set_interval_with_handle(tick, REFRESH_EVERY) {
        on_cleanup(move || handle.clear());
    }
}
