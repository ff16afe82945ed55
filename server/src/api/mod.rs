//! HTTP routes other than the Leptos pages, one module per area. Each
//! module exports a `router()` over [`AppState`]. Request-reading helpers
//! shared by the areas live in [`extract`]; the one error body in [`error`].
//!
//! Public reads answer from the in-memory snapshot and never touch the
//! database; admin changes go to the store, stamped by [`AppState::clock`],
//! then wait for the snapshot that shows them ([`crate::engine::changes`]).

pub mod alerts;
pub mod answers;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod badges;
pub mod client_errors;
pub mod config;
pub mod console;
pub mod encoding;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod health;
pub mod idempotency;
pub mod incidents;
pub mod limit;
pub mod maintenance;
pub mod observe;
pub mod page_cache;
pub mod pages;
pub mod profiling;
pub mod public;
pub mod push;
pub mod slo;
pub mod statuspage;
pub mod subscribe;
pub mod subscribers;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::SharedClock;
use crate::engine::changes::Changes;
use crate::engine::stats::EngineStats;
use crate::engine::SnapshotReader;
use crate::store::Store;

/// Everything request handlers share: one pointer to [`Shared`], so that
/// the clone each middleware and extractor makes is one reference count,
/// not one per field. (Cloning 25 `Arc`s, then dropping them, several
/// times a request took a quarter of the server's time at saturation:
/// every count's cache line moved between the cores.)
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] points at.
pub struct Shared {
    /// The directory with the built front end and the other site files.
    pub site_root: Arc<std::path::Path>,
    /// The built front end, in memory with its hashed names.
    pub assets: Arc<assets::SiteAssets>,
    /// The database.
    pub store: Arc<dyn Store>,
    /// What every handler reads the time from (a manual clock in tests).
    pub clock: SharedClock,
    /// The current public snapshot.
    pub snapshot: SnapshotReader,
    /// The objectives' measures, as of the snapshot.
    pub slo: crate::engine::SloReader,
    /// Set once migrations ran and the first snapshot was built.
    pub started: Arc<AtomicBool>,
    /// Announce changes to incidents or maintenance: the snapshot is
    /// rebuilt at once.
    pub changes: Arc<Changes>,
    /// Admin token checks and failed-attempt counts.
    pub auth: Arc<auth::AuthGuard>,
    /// The effective configuration as JSON, secrets masked
    /// ([`config::effective`]).
    pub effective_config: Arc<String>,
    /// Browser error reports counted per client address.
    pub client_errors: Arc<client_errors::ReportLimit>,
    /// `[profiling] enabled`: the `/debug/pprof/*` routes answer.
    pub profiling: bool,
    /// The Sentry tunnel, with `[client_errors] sentry_dsn`.
    pub sentry: Option<Arc<client_errors::SentryTunnel>>,
    /// The engine's counters and heartbeats.
    pub stats: Arc<EngineStats>,
    /// How long the engine may stay silent.
    pub liveness: health::Liveness,
    /// The last readiness answer.
    pub ready_cache: Arc<health::ReadyCache>,
    /// The JSON documents, badges and widgets of the current snapshot,
    /// made once each.
    pub answers: Arc<answers::Answers>,
    /// Rendered pages of the current snapshot.
    pub page_cache: Arc<page_cache::PageCache>,
    /// `[page] max_listed`: above it pages carry part of the services
    /// (see [`crate::domain::listing`]).
    pub max_listed: usize,
    /// `[[alerts.routes]]`, for the alerts API.
    pub alert_routes: Arc<Vec<crate::config::alerts::RouteConfig>>,
    /// The console's sessions, templates and sign-in limits.
    pub console: Arc<console::ConsoleState>,
    /// Visitors' subscriptions: the link key, the mails' page, limits.
    pub subscriptions: Arc<subscribe::SubscribeState>,
    /// The Prometheus recorder, when it could be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// `[logging] access`: which requests get their log line.
    pub access_log: crate::config::AccessLog,
}

/// The API description's fixed parts; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Upbeat",
        description = "Public status JSON, a Statuspage v2-compatible API, feeds, push heartbeats, \
health probes, and the admin API for incidents and maintenance (bearer token).\n\n\
Every error answer has the body `{\"error\": {\"code\", \"message\", \"field\"}}`.",
        license(name = "MIT")
    ),
    paths(
        badges::overall_svg,
        badges::service_file,
        badges::service_json,
        badges::uptime_svg,
        badges::response_svg,
        badges::embed,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "public", description = "The page's data, served from memory"),
        (name = "statuspage", description = "Atlassian Statuspage API v2, same shapes"),
        (name = "feeds", description = "Atom and RSS"),
        (name = "push", description = "Heartbeats of push checks"),
        (name = "health", description = "Probes for orchestrators"),
        (name = "admin", description = "Incidents and maintenance; bearer token required"),
        (name = "alerts", description = "Alert routes, a test through each, and the delivery history; bearer token required"),
        (name = "subscribers", description = "Subscribers: counts, search, removal, CSV export and import, webhook and Slack destinations; admin token required"),
        (name = "slo", description = "Service level objectives: compliance, error budgets, burn rates, history and monthly reports; bearer token required"),
        (name = "badges", description = "shields.io-style badges and the embeddable widget"),
        (name = "meta", description = "This description"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `upbeat token create`, or `UPBEAT_ADMIN_TOKEN`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The serialised description, built once and kept gzipped: 20 KB
/// instead of the 200 KB of text, for a document tools ask for rarely.
static DESCRIPTION: OnceLock<Bytes> = OnceLock::new();

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
async fn openapi_json(request: HeaderMap) -> Response {
    let gzipped = DESCRIPTION.get().cloned().unwrap_or_default();
    let mut response = if encoding::accepts(&request, "gzip") {
        encoding::Encoded::coded(gzipped, encoding::Coding::Gzip)
    } else {
        let mut text = Vec::new();
        // Made here from text: reading it back cannot fail.
        let _ =
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut text);
        text.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `text` gzipped, for [`DESCRIPTION`].
fn gzipped(text: &str) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to memory cannot fail.
    let _ = std::io::Write::write_all(&mut encoder, text.as_bytes());
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Every route but the pages, with the OpenAPI description of them all:
/// routes are added through `routes!`, so none goes undescribed; the test
/// `openapi_describes_every_route` checks the badge routes described by hand.
pub fn routes(state: &AppState) -> (Router<AppState>, OpenApiDoc) {
    let admin = OpenApiRouter::new()
        .merge(incidents::router())
        .merge(maintenance::router())
        .merge(audit::router())
        .merge(alerts::router())
        .merge(slo::router())
        .merge(config::router())
        .merge(subscribers::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::guard,
        ));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(public::router())
        .merge(subscribe::router(state))
        .merge(client_errors::router())
        .merge(push::router())
        .merge(admin)
        .merge(statuspage::router())
        .merge(feeds::router())
        .routes(routes!(openapi_json))
        .split_for_parts();
    // Described in `ApiDoc` (their paths have suffixes after parameters,
    // which `routes!` cannot register). The console is HTML, not API.
    (
        router
            .merge(badges::router())
            .merge(console::router().layer(axum::middleware::map_response(console::headers))),
        doc,
    )
}

/// The routes and the description of the CPU and heap profiles: apart,
/// because a CPU profile may take longer than the request timeout.
pub fn profiling_routes() -> (Router<AppState>, OpenApiDoc) {
    OpenApiRouter::new()
        .merge(profiling::router())
        .split_for_parts()
}

/// All non-page routes; serves the description at `/api/openapi.json`.
/// Every route but the pages and the profiles (`profiling_routes`); the
/// description covers them all.
pub fn router(state: &AppState) -> Router<AppState> {
    let (router, mut doc) = routes(state);
    doc.merge(profiling_routes().1);
    DESCRIPTION.get_or_init(|| gzipped(&doc.to_pretty_json().unwrap_or_default()));
    router
}
