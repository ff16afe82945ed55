//! Builds the running application: storage, sampler, writer, snapshot and
//! HTTP server, and tears them down in order on shutdown.
//!
//! [`Instance`] is everything but the socket — database, engine, router —
//! started with a [`Clock`](crate::clock::Clock), so tests can drive its
//! router without a socket (`tower::ServiceExt::oneshot`) and on a manual
//! clock. [`Application`] adds the listener and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use app::model::{PageInfo, PageLink, PublicStatus};
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::api::auth::AuthGuard;
use crate::api::health::{Liveness, ReadyCache};
use crate::api::{self, AppState};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{CheckConfig, Config};
use crate::domain::slo::ServiceObjectives;
use crate::engine::changes::Changes;
use crate::engine::sampler::ScheduledService;
use crate::engine::stats::EngineStats;
use crate::engine::Engine;
use crate::probe::{ProbeContext, PushProbe};
use crate::store::{self, Store};

/// Largest request body accepted (admin bodies are a title and Markdown).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest a request may take before it is answered `408`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One running Upbeat without its socket: the database, the engine
/// (probing or following) and the router over them.
pub struct Instance {
    router: Router,
    store: Arc<dyn Store>,
    config: Config,
    cancel: CancellationToken,
    /// Sampler, writer and pruner (or the follower loop).
    engine: JoinHandle<()>,
}

impl Instance {
    /// Connects to the database, applies migrations, loads the last known
    /// state and starts probing, reading the time from `clock`.
    pub async fn start(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let started_at = std::time::Instant::now();
        let store = store::connect(&config.database.url, config.database.pool_size())
            .await
            .with_context(|| {
                format!(
                    "opening database {}",
                    store::redact_url(&config.database.url)
                )
            })?;

        let records = store
            .sync_services(&config.service_defs(), clock.now())
            .await
            .context("synchronising services")?;
        let page = PageInfo {
            title: config.page.title.clone(),
            description: config.page.description.clone(),
            url: config.server.public_url.as_ref().map(ToString::to_string),
            logo: config.page.logo.clone(),
            links: config
                .page
                .links
                .iter()
                .map(|l| PageLink {
                    label: l.label.trim().to_owned(),
                    url: l.url.clone(),
                })
                .collect(),
            accent: config.page.accent.clone(),
            subscribe: config.subscribers.enabled,
        };
        let thresholds = config
            .services
            .iter()
            .zip(&records)
            .map(|(service, record)| (record.id, config.thresholds_of(service)))
            .collect();

        let probes = ProbeContext::new(Arc::clone(&clock));
        let mut scheduled = Vec::with_capacity(records.len());
        for (service, record) in config.services.iter().zip(&records) {
            debug_assert_eq!(service.slug, record.slug);
            scheduled.push(ScheduledService {
                service_id: record.id,
                slug: service.slug.clone(),
                kind: service.check.kind(),
                interval: config.interval_of(service),
                timeout: config.timeout_of(service),
                probe: match &service.check {
                    CheckConfig::Push(push) => Arc::new(PushProbe::new(
                        Arc::clone(&store),
                        record.id,
                        config.interval_of(service) + push.grace,
                        Arc::clone(&clock),
                    )),
                    _ => probes.probe_for(&config, service).with_context(|| {
                        format!("building the check of service {}", service.slug)
                    })?,
                },
            });
        }

        let scheduled_intervals: Vec<Duration> = scheduled.iter().map(|s| s.interval).collect();
        let (publish, snapshot) = watch::channel(Arc::new(PublicStatus::empty(page.clone())));
        let (publish_slo, slo) = watch::channel(Arc::default());
        let (latencies, _) = watch::channel(Arc::default());
        let objectives = config
            .services
            .iter()
            .zip(&records)
            .filter_map(|(service, record)| {
                Some(Arc::new(ServiceObjectives {
                    id: record.id,
                    slug: record.slug.clone(),
                    name: record.name.clone(),
                    group: record.group.clone(),
                    interval: config.interval_of(service),
                    objectives: config.objectives_of(service)?,
                }))
            })
            .collect();
        let stats = Arc::new(EngineStats::default());
        let liveness = Liveness {
            // The writer completes a round at least every 30 s.
            round_within: Duration::from_secs(90),
            sample_within: scheduled
                .iter()
                .map(|s| 2 * s.interval + s.timeout)
                .max()
                .map(|d| d + Duration::from_secs(30)),
            follow_within: 3 * config.database.follower_refresh + Duration::from_secs(10),
            started: started_at,
        };
        let changes = Arc::new(Changes::default());
        let subscriptions = Arc::new(subscriptions(&config, &store, &clock).await?);
        let notifier = config.subscribers.enabled.then(|| {
            Arc::new(crate::engine::subscribers::Notifier::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                Arc::clone(&changes),
                subscriptions.page.clone(),
                subscriptions.key.clone(),
                &config.subscribers,
                config.smtp.as_ref(),
            ))
        });
        // Also without routes: events are then routed to nobody and pruned
        // after the retention, instead of piling up.
        let alerts = Some(Arc::new(
            crate::engine::alerts::Dispatcher::new(
                Arc::clone(&store),
                Arc::clone(&clock),
                &config.alerts,
                config.smtp.as_ref(),
                config.server.public_url.as_ref().map(ToString::to_string),
                config.page.title.clone(),
                Arc::clone(&changes),
            )
            .with_services(&records),
        ));
        let engine = Engine {
            store: Arc::clone(&store),
            clock: Arc::clone(&clock),
            page,
            services: records,
            thresholds,
            scheduled,
            max_concurrent_probes: config.defaults.max_concurrent_probes,
            retention: config.retention.samples,
            prune_every: config.retention.prune_interval,
            publish,
            objectives,
            show_slo: config.page.show_slo,
            publish_slo,
            latencies,
            stats: Arc::clone(&stats),
            changes: Arc::clone(&changes),
            follow_every: config.database.follower_refresh,
            replica: crate::engine::replica_name(),
            lease_ttl: config.database.lease_ttl,
            gather: Duration::from_millis(200),
            publish_every: Duration::from_secs(1),
            max_buffered: crate::engine::buffer_bound(scheduled_intervals),
            alerts,
            subscribers: notifier,
            initial: std::sync::Mutex::new(None),
        };
        // The first snapshot is complete before the first request.
        let mut first = engine
            .load_builder()
            .await
            .context("loading the last known state")?;
        engine
            .publish
            .send_replace(Arc::new(first.build(clock.now())));
        engine.publish_slo.send_replace(first.measure(clock.now()));
        // The first term as prober starts from this builder.
        *engine
            .initial
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(first);
        let cancel = CancellationToken::new();
        let engine = tokio::spawn(engine.run(cancel.clone()));

        if config.profiling.enabled {
            api::profiling::start_heap_sampling().await;
        }
        let state = AppState::new(api::Shared {
            site_root: Arc::from(config.server.site_root.as_path()),
            assets: Arc::new(api::assets::SiteAssets::load(&config.server.site_root)),
            store: Arc::clone(&store),
            clock,
            snapshot,
            slo,
            started: Arc::new(AtomicBool::new(false)),
            changes,
            auth: Arc::new(AuthGuard::new(
                config.admin_token.as_ref().map(|t| t.0.as_str()),
            )),
            client_errors: Arc::default(),
            profiling: config.profiling.enabled,
            sentry: api::client_errors::SentryTunnel::new(&config.client_errors).map(Arc::new),
            effective_config: Arc::new(crate::api::config::effective(&config)),
            stats,
            liveness,
            ready_cache: Arc::new(ReadyCache::default()),
            page_cache: Arc::default(),
            answers: Arc::default(),
            max_listed: config.page.max_listed,
            alert_routes: Arc::new(config.alerts.routes.clone()),
            metrics: crate::metrics::install(),
            console: Arc::new(api::console::ConsoleState::new(&config)),
            subscriptions,
            access_log: config.logging.access,
        });
        let router = build_router(state.clone());
        state.started.store(true, Ordering::Release);

        Ok(Self {
            router,
            store,
            config,
            cancel,
            engine,
        })
    }

    /// The whole HTTP surface, to serve or to call without a socket.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Stops the engine (its samples are flushed) and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.engine.await.context("engine task")?;
        self.store.close().await;
        Ok(())
    }
}

pub struct Application {
    listener: TcpListener,
    instance: Instance,
}

impl Application {
    /// Binds the listener, then starts an [`Instance`] on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Self::build`] reading the time from `clock`.
    pub async fn build_with_clock(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        // Bound first: a taken port fails before the database is touched.
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let instance = Instance::start(config, clock).await?;
        Ok(Self { listener, instance })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then: stops accepting, lets
    /// in-flight requests finish (up to `server.shutdown_grace`), stops the
    /// sampler, flushes samples and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self { listener, instance } = self;
        let cancel = instance.cancel.clone();
        let stopping = CancellationToken::new();
        let signal = {
            let stopping = stopping.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down");
                cancel.cancel();
                stopping.cancel();
            }
        };
        let service = instance
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, service).with_graceful_shutdown(signal);
        let grace = instance.config.server.shutdown_grace;
        let mut server = tokio::spawn(async move { server.await });
        // Requests still running `grace` after the signal are abandoned.
        let served = tokio::select! {
            result = &mut server => result.context("HTTP server task")?.context("HTTP server"),
            () = async { stopping.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_s = grace.as_secs(), "requests still running after the shutdown grace period; closing");
                server.abort();
                let _ = server.await;
                Ok(())
            }
        };
        instance.stop().await?;
        tracing::info!("stopped");
        served
    }
}

/// The whole HTTP surface. Tests call this without a socket.
/// The key that signs subscribers' links (`[subscribers]` secret, else
/// the one kept in the database, made at the first start) and the page
/// their mail speaks for.
async fn subscriptions(
    config: &Config,
    store: &Arc<dyn store::Store>,
    clock: &SharedClock,
) -> anyhow::Result<api::subscribe::SubscribeState> {
    let key = match &config.subscribers.secret {
        Some(secret) => secret.0.clone(),
        None => store
            .signing_key("subscribers", &crate::token::new_token(), clock.now())
            .await
            .context("reading the key that signs subscribers' links")?,
    };
    let url = config.server.public_url.as_ref().map_or_else(
        || format!("http://{}", config.server.listen),
        ToString::to_string,
    );
    Ok(api::subscribe::SubscribeState {
        enabled: config.subscribers.enabled,
        key: key.into_bytes(),
        page: crate::domain::subscribers::MailPage {
            title: config.page.title.clone(),
            accent: config.page.accent.clone(),
            url: url.trim_end_matches('/').to_owned(),
        },
        per_hour: config.subscribers.per_client_per_hour,
        per_client: api::limit::PerAddress::default(),
    })
}

/// Every route with its middleware. Each `Router::layer` call wraps every
/// route in one more boxed service, cloned and allocated per request, so
/// the layers come in two stacks (`ServiceBuilder`, outermost first), not
/// one call each: with six calls a cached page went through seven boxed
/// services, and moving the answer out through them was a tenth of the
/// server's time under load (`perf`, `bench/hot-path.sh`).
pub fn build_router(state: AppState) -> Router {
    Router::new()
        .merge(api::router(&state))
        .merge(api::pages::router())
        .layer(
            ServiceBuilder::new()
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                // Pages: one render per page and snapshot (`GET` only, so
                // outside the body limits).
                .layer(api::page_cache::PageCacheLayer(state.clone()))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        // After the timeout: a CPU profile takes as long as asked (at most
        // a minute). Behind the admin token and `[profiling] enabled`.
        .merge(api::profiling_routes().0)
        .layer(
            ServiceBuilder::new()
                // gzip or brotli, as the client accepts; small bodies and
                // images other than SVG are left alone.
                .layer(CompressionLayer::new())
                // Request id, log line, metrics and security headers,
                // around the limits so that their 413 and 408 answers are
                // logged and counted.
                .layer(api::observe::ObserveLayer(state.access_log)),
        )
        .with_state(state)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
