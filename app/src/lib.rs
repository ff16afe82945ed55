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

pub mod envelope;
pub mod model;
mod pages;
#[cfg(feature = "hydrate")]
pub mod refresh;
#[cfg(feature = "hydrate")]
pub mod report;
pub mod route;

use leptos::prelude::*;

use crate::model::{PageData, PageInfo, PublicStatus};
use crate::route::Route;

pub use pages::Site;

/// Server-only glue: where the SSR renderer gets its data and the names of
/// the built assets.
#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use crate::model::{PageData, PublicStatus};

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

    /// Provided as Leptos context on pages that show more than the status
    /// document: what the server loaded before rendering.
    #[derive(Clone)]
    pub struct Preloaded(pub PageData);

    /// Provided as Leptos context for every page: the addresses of the
    /// built front end, with content hashes in their names.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct AssetUrls {
        pub js: String,
        pub wasm: String,
        pub css: String,
    }

    /// Provided as Leptos context when `[client_errors] sentry_dsn` is
    /// set: the page sends its errors to Sentry too (`crate::envelope`).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SentryDsn(pub String);
}

/// The Content-Security-Policy of the pages. `scripts` and `styles` allow
/// the page's inline scripts and styles: the render's nonce
/// (`'nonce-…'`), or for pages served from the page cache the hash of
/// each (`'sha256-…' …`). The module and WebAssembly the loader imports are
/// trusted through it (`'strict-dynamic'`); styles, images and data come
/// from the same origin; nothing may frame the page.
pub fn page_csp(scripts: &str, styles: &str) -> String {
    format!(
        "default-src 'self'; script-src {scripts} 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' {styles}; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The page the current request or address shows.
fn current_route() -> Route {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .map(|parts| Route::parse(parts.uri.path(), parts.uri.query()))
            .unwrap_or(Route::NotFound)
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        let location = window().location();
        let path = location.pathname().unwrap_or_default();
        let search = location.search().unwrap_or_default();
        Route::parse(&path, search.strip_prefix('?'))
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Route::NotFound
    }
}

/// The status document the page starts from: the snapshot on the server;
/// in the browser it comes from the page itself (see [`App`]), so this is
/// only a placeholder until the first refresh.
fn initial_status() -> PublicStatus {
    #[cfg(feature = "ssr")]
    if let Some(source) = use_context::<ssr::StatusSource>() {
        return (*source.current()).clone();
    }
    PublicStatus::empty(PageInfo::titled("Status"))
}

/// What the page shows beyond the status document: loaded by the server
/// before rendering.
fn initial_page_data() -> Option<PageData> {
    #[cfg(feature = "ssr")]
    if let Some(ssr::Preloaded(data)) = use_context::<ssr::Preloaded>() {
        return Some(data);
    }
    None
}

/// Posts the "Get updates" form with `fetch` and shows the answer in
/// place (no `&` or `<`: it is written as the script's text).
#[cfg(feature = "ssr")]
const SUBSCRIBE_SCRIPT: &str = ";document.addEventListener(\"submit\",e=>{let f=e.target;if(!f.matches(\".subscribe-form\"))return;e.preventDefault();let n=f.querySelector(\"[role=status]\");fetch(f.action,{method:\"POST\",body:new URLSearchParams(new FormData(f)),headers:{Accept:\"application/json\"}}).then(r=>r.json()).then(j=>{n.textContent=j.message||(j.error||{}).message||\"\";if(j.message)f.reset()},()=>f.submit())})";

/// The `<meta name>` that carries the Sentry DSN to the page.
/// The day bars' tooltip: one element, filled and moved into the bar that
/// is focused or hovered, and named by its `aria-describedby`: the date
/// (from the list's `data-first`), the uptime and worst sample (from the
/// day's token in `data-days`, see `pages::day_tokens`) and the day's
/// incident links (copied from the bar). Plain script, so it works before
/// and without the WebAssembly. When a refresh rewrites a list under the
/// keyboard focus, the focus goes back to the same day. (No `&` or `<`,
/// like [`SUBSCRIBE_SCRIPT`].)
#[cfg(feature = "ssr")]
const BARS_SCRIPT: &str = ";(()=>{const W={u:\"up\",g:\"degraded\",d:\"down\"},t=document.createElement(\"span\");let p,o,k;\
t.className=\"bar-tip\";t.id=\"bar-tip\";t.setAttribute(\"role\",\"tooltip\");\
const on=e=>{const b=e.target.closest?.(\".bars>li\");if(!b||(b==p?t.parentNode==b:0))return;\
o=b.parentNode;k=[].indexOf.call(o.children,b);\
const m=/^(.)([\\d.]*)(.?)$/.exec((o.dataset.days||\"\").split(\" \")[k]||\"\")||[],a=b.querySelectorAll(\":scope>a\"),n=a.length;\
t.replaceChildren(new Date(Date.parse(o.dataset.first)+864e5*k).toISOString().slice(0,10)+\": \"+(m[2]?m[2]+\" % uptime\":m[1]==\"m\"?\"maintenance only\":\"no data\")\
+(m[3]?\", worst sample: \"+W[m[3]]:\"\")+(n?n>1?\", \"+n+\" incidents\":\", 1 incident\":\"\"),...[].map.call(a,x=>x.cloneNode(!0)));\
p?.removeAttribute(\"aria-describedby\");b.append(t);b.setAttribute(\"aria-describedby\",\"bar-tip\");p=b};\
addEventListener(\"focusin\",on);addEventListener(\"mouseover\",on);\
new MutationObserver(()=>{if(p?!p.isConnected*o.isConnected*(document.activeElement==document.body):0){p=0;o.children[k]?.focus({preventScroll:!0})}})\
.observe(document.body,{childList:!0,subtree:!0})})()";

pub const SENTRY_META: &str = "upbeat-sentry-dsn";

/// "Get updates": a plain form that posts to `/subscribe` (answered with
/// a page) for the whole page or one service (slug, name); with
/// JavaScript the shell's script posts it in place. `website` is a
/// honeypot: hidden from people, filled in by bots. Written by the server
/// after the hydrated app, so none of it is in the WebAssembly and a
/// refresh never touches it.
#[cfg(feature = "ssr")]
fn subscribe_form(service: Option<(String, String)>) -> impl IntoView {
    let label = match &service {
        Some((_, name)) => format!("Email me about {name}"),
        None => "Email me when there is an incident or maintenance".to_owned(),
    };
    view! {
        <section class="subscribe" aria-labelledby="subscribe-heading">
            <h2 id="subscribe-heading">"Get updates"</h2>
            <form class="subscribe-form" method="post" action="/subscribe">
                <label for="subscribe-email">{label}</label>
                <span class="subscribe-row">
                    <input id="subscribe-email" type="email" name="email" required maxlength="254" autocomplete="email" placeholder="you@example.com"/>
                    <button type="submit">"Subscribe"</button>
                </span>
                {service.map(|(slug, _)| view! { <input type="hidden" name="service" value=slug/> })}
                <span class="hp" aria-hidden="true"><input name="website" tabindex="-1" autocomplete="off"/></span>
                <span class="subscribe-note" role="status">"We mail you a link to confirm. "<a href="/subscribe">"Choose services"</a></span>
            </form>
        </section>
    }
}

/// The HTML document around the app: its head is written on the server
/// only (the browser hydrates the body).
#[cfg(feature = "ssr")]
pub fn shell() -> impl IntoView {
    let nonce = leptos::nonce::use_nonce().map(|n| n.to_string());
    // The nonce Leptos puts on its inline scripts, announced in the header.
    if let (Some(nonce), Some(response)) = (&nonce, use_context::<leptos_axum::ResponseOptions>()) {
        let source = format!("'nonce-{nonce}'");
        if let Ok(value) = http::HeaderValue::from_str(&page_csp(&source, &source)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    let status = use_context::<ssr::StatusSource>().map(|s| s.current());
    let status = status.unwrap_or_else(|| std::sync::Arc::new(initial_status()));
    let data = use_context::<ssr::Preloaded>().map(|d| d.0);
    let head = route::Head::of(&current_route(), &status, data.as_ref());
    let assets = use_context::<ssr::AssetUrls>();
    // The configured accent colour (validated as hex), in a style element
    // the policy allows by its nonce (by its hash in cached copies).
    let accent = status
        .page
        .accent
        .clone()
        .zip(nonce.clone())
        .map(|(colour, nonce)| {
            view! { <style nonce=nonce>{format!(":root{{--accent:{colour}}}")}</style> }
        });
    // What Leptos's `HydrationScripts` does, with the hashed names: load the
    // module, instantiate the WebAssembly, hydrate.
    let subscribe = status.page.subscribe;
    // The "Get updates" form: everything from the home page, the service
    // from its page.
    let form = match current_route() {
        _ if !subscribe => None,
        Route::Home => Some(None),
        Route::Service(slug) => status
            .services
            .iter()
            .find(|s| s.slug == slug)
            .map(|s| Some((s.slug.clone(), s.name.clone()))),
        _ => None,
    }
    .map(|service| view! { <div class="page page-tail">{subscribe_form(service)}</div> });
    let scripts = assets.map(|a| {
        let mut loader = format!(
            "import({js:?}).then(m=>m.default({{module_or_path:{wasm:?}}}).then(()=>m.hydrate()))",
            js = a.js,
            wasm = a.wasm
        );
        if subscribe {
            // "Get updates" posted in place, the answer read out in the
            // form's status line; plain script, so the WebAssembly carries
            // none of it. Without script the form posts to a page.
            loader.push_str(SUBSCRIBE_SCRIPT);
        }
        loader.push_str(BARS_SCRIPT);
        view! {
            <link rel="stylesheet" href=a.css/>
            <link rel="modulepreload" href=a.js/>
            <link rel="preload" href=a.wasm r#as="fetch" r#type="application/wasm" crossorigin=""/>
            <script type="module" nonce=nonce>{loader}</script>
        }
    });
    // Open Graph tags (`property` is not an attribute the view macro knows).
    let og = |property: &'static str, content: String| {
        leptos::html::meta()
            .attr("property", property)
            .content(content)
    };
    let sentry = use_context::<ssr::SentryDsn>()
        .map(|dsn| leptos::html::meta().name(SENTRY_META).content(dsn.0));
    let site_name = status.page.title.clone();
    let url = status.page.url.clone();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <title>{head.title.clone()}</title>
                <link rel="icon" href=head.icon type="image/svg+xml"/>
                <meta name="description" content=head.description.clone()/>
                {og("og:type", "website".to_owned())}
                {og("og:site_name", site_name)}
                {og("og:title", head.title)}
                {og("og:description", head.description)}
                {url.map(|url| og("og:url", url))}
                {sentry}
                {scripts}
                {accent}
            </head>
            <body>
                <App/>
                {form}
            </body>
        </html>
    }
}

/// The application: the page for the current address, from the status
/// document the server rendered it with, then refreshed in the browser.
#[component]
pub fn App() -> impl IntoView {
    let route = current_route();
    // Serialised into the page by the server and read back during
    // hydration, so both render the same document.
    // The day bars travel once, in the markup (`pages::day_tokens`): the
    // data serialised for hydration leaves them out (at 100 services they
    // were some 800 KB of the page), and the server renders from the whole
    // document.
    let hydrated = SharedValue::new(|| initial_status().without_days()).into_inner();
    #[cfg(feature = "ssr")]
    let status = {
        drop(hydrated);
        initial_status()
    };
    #[cfg(not(feature = "ssr"))]
    let status = hydrated;
    let data = match route {
        Route::History(_) | Route::Incident(_) => SharedValue::new(initial_page_data).into_inner(),
        _ => None,
    };

    // Makes hydration observable (end-to-end tests wait for it).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });

    view! { <Site route status data/> }
}
