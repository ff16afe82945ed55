//! The Upbeat status page: Leptos components rendered on the server and
//! hydrated in the browser.
//!
//! The page's data is one [`model::PublicStatus`] document. On the server it
//! comes from the in-memory snapshot (see [`ssr::StatusSource`]); Leptos
//! serialises it into the HTML so hydration starts from the same data. In the
//! browser, [`refresh`] re-fetches `GET /public/status` every 30 seconds and
//! swaps the new document in; when a fetch fails or takes longer than 5
//! seconds the last good data stays and a notice says how old it is.

// The page views nest deeply; the wasm release build needs more room.
#![recursion_limit = "256"]

pub mod model;
mod pages;
#[cfg(feature = "hydrate")]
pub mod refresh;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

pub use pages::{HistoryPage, IncidentPage, NotFound, ServicePage, StatusPage};

/// Server-only glue: how the SSR renderer gets the current status document.
#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use crate::model::PublicStatus;

    /// Provided as Leptos context for every SSR request; returns the current
    /// snapshot without touching the database.
    #[derive(Clone)]
    pub struct StatusSource(Arc<dyn Fn() -> Arc<PublicStatus> + Send + Sync>);

    impl StatusSource {
        pub fn new(f: impl Fn() -> Arc<PublicStatus> + Send + Sync + 'static) -> Self {
            Self(Arc::new(f))
        }

        pub fn current(&self) -> Arc<PublicStatus> {
            (self.0)()
        }
    }

    /// A month of history (`None`: the current month), from the database.
    pub type HistoryFuture = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<crate::model::History, String>> + Send>,
    >;

    /// Provided as Leptos context for SSR: loads one month of history.
    #[derive(Clone)]
    pub struct HistorySource(Arc<dyn Fn(Option<String>) -> HistoryFuture + Send + Sync>);

    impl HistorySource {
        pub fn new(f: impl Fn(Option<String>) -> HistoryFuture + Send + Sync + 'static) -> Self {
            Self(Arc::new(f))
        }

        pub fn load(&self, month: Option<String>) -> HistoryFuture {
            (self.0)(month)
        }
    }
}

/// The Content-Security-Policy of the pages: Upbeat's own scripts (the
/// inline loader carries the nonce, the module and WebAssembly it loads are
/// trusted through it), styles and data from the same origin, no framing.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The nonce Leptos puts on its inline scripts, announced in the header.
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) = http::HeaderValue::from_str(&page_csp(&nonce.to_string())) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    // The configured accent colour (validated as hex), in a style element
    // the policy allows by its nonce.
    #[cfg(feature = "ssr")]
    let accent = use_context::<ssr::StatusSource>()
        .and_then(|s| s.current().page.accent.clone())
        .zip(leptos::nonce::use_nonce())
        .map(|(colour, nonce)| {
            view! { <style nonce=nonce.to_string()>{format!(":root{{--accent:{colour}}}")}</style> }
        });
    #[cfg(not(feature = "ssr"))]
    let accent: Option<()> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                {accent}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The routed application.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Makes hydration observable (end-to-end tests wait for it).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/upbeat.css"/>
        <Router>
            <Routes fallback=NotFound>
                // Async SSR: the whole page is in the first response, so it is
                // complete without JavaScript.
                <Route path=StaticSegment("") view=StatusPage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("services"), ParamSegment("slug")) view=ServicePage ssr=SsrMode::Async/>
                <Route path=(StaticSegment("incidents"), ParamSegment("id")) view=IncidentPage ssr=SsrMode::Async/>
                <Route path=StaticSegment("history") view=HistoryPage ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
