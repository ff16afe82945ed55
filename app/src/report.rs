//! Errors the page reports to its server (`POST /api/v1/client-errors`,
//! same origin, so the CSP's `connect-src 'self'` allows it): a panic of
//! this WebAssembly (from the panic hook `frontend` sets), and
//! [`REFRESH_FAILURES`] refreshes failing in a row (once a streak).
//!
//! Sent with `navigator.sendBeacon`, which the browser delivers even when
//! the page is going away and which carries no answer to wait for: the
//! report is the page's path (never its query string), the message and
//! this build's version; the browser adds its `User-Agent`. No cookie is
//! needed or read.

/// Failed refreshes in a row that make a report.
pub const REFRESH_FAILURES: u32 = 3;
/// Longest message sent, in characters (the server keeps 2,000).
const MAX_MESSAGE: usize = 1_500;

/// Reports an error of `kind` (`panic` or `refresh`), and sends it to
/// Sentry through the server's tunnel when the page names a DSN.
pub fn send(kind: &str, message: &str) {
    let window = leptos::prelude::window();
    let route = window.location().pathname().unwrap_or_default();
    let message: String = message.chars().take(MAX_MESSAGE).collect();
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let body = format!(
        r#"{{"kind":{},"message":{},"route":{},"build":"{}"}}"#,
        quoted(kind),
        quoted(&message),
        quoted(&route),
        env!("CARGO_PKG_VERSION"),
    );
    let navigator = window.navigator();
    // Nothing to do when the browser refuses: the page goes on.
    let _ = navigator.send_beacon_with_opt_str("/api/v1/client-errors", Some(&body));
    let dsn = window
        .document()
        .and_then(|d| {
            d.query_selector(&format!("meta[name={}]", crate::SENTRY_META))
                .ok()
                .flatten()
        })
        .and_then(|meta| meta.get_attribute("content"));
    if let Some(dsn) = dsn {
        let event_id: String = (0..4)
            .map(|_| {
                format!(
                    "{:08x}",
                    (js_sys::Math::random() * f64::from(u32::MAX)) as u32
                )
            })
            .collect();
        let envelope = crate::envelope::sentry_envelope(
            &dsn,
            &event_id,
            (js_sys::Date::now() / 1000.0) as u64,
            &crate::envelope::Report {
                kind,
                message: &message,
                route: &route,
                build: env!("CARGO_PKG_VERSION"),
            },
        );
        let _ = navigator.send_beacon_with_opt_str("/api/v1/client-errors/sentry", Some(&envelope));
    }
}
