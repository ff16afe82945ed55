//! Probes and metrics for orchestrators and monitoring:
//!
//! - `/health`: liveness, the process answers;
//! - `/ready`: the database answers within a second and the engine is
//!   alive (the prober's sampler delivered a sample recently and its writer
//!   completed a round; a follower reloaded recently). `503` otherwise. The
//!   result is kept for 2 s, so probes cannot overload the database;
//! - `/startup`: migrations applied and the first snapshot built;
//! - `/health/detailed`: each dependency with its status and latency, the
//!   version, process uptime, snapshot age and sampler lag;
//! - `/metrics`: Prometheus text format (see [`crate::metrics`]).

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a readiness result is reused.
pub const READY_CACHE: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(startup))
        .routes(routes!(detailed))
        .routes(routes!(metrics))
}

/// How long the engine may stay silent before it counts as stuck.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// The writer completes a round at least this often (prober).
    pub round_within: Duration,
    /// A sample arrives at least this often when there are services.
    pub sample_within: Option<Duration>,
    /// A follower reloads at least this often.
    pub follow_within: Duration,
    /// When the process started.
    pub started: Instant,
}

/// The last readiness answer and when it was computed.
#[derive(Debug, Default)]
pub struct ReadyCache(Mutex<Option<(Instant, Readiness)>>);

/// A probe's answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProbeBody {
    /// `ok`, `ready`, `unavailable`, `started` or `starting`.
    status: &'static str,
    /// `/ready` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<DatabaseCheck>,
    /// `/ready` only: the engine's own check.
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<EngineCheck>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DatabaseCheck {
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// `up` or `down`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EngineCheck {
    /// `prober` (this replica probes) or `follower`.
    role: &'static str,
    /// `up`, or `stalled` when it has been silent too long.
    status: &'static str,
    /// Seconds since the newest sample (prober) or reload (follower).
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_s: Option<f64>,
}

#[derive(Clone, Debug)]
struct Readiness {
    ok: bool,
    database: DatabaseCheck,
    engine: EngineCheck,
}

async fn check_database(state: &AppState) -> DatabaseCheck {
    let started = Instant::now();
    let result = tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await;
    let backend = state.store.backend().as_str();
    let latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    match result {
        Ok(Ok(())) => DatabaseCheck {
            backend,
            status: "up",
            latency_ms,
            error: None,
        },
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database ping failed");
            DatabaseCheck {
                backend,
                status: "down",
                latency_ms,
                error: Some("database error"),
            }
        }
        Err(_) => DatabaseCheck {
            backend,
            status: "down",
            latency_ms,
            error: Some("timed out after 1s"),
        },
    }
}

fn check_engine(state: &AppState) -> EngineCheck {
    let now = state.clock.now();
    engine_check(
        &state.liveness,
        state.stats.prober.load(Ordering::Relaxed),
        state.stats.since_round(now),
        state.stats.since_sample(now),
        state.liveness.started.elapsed(),
    )
}

/// The engine's state from its heartbeats: `since_round` and
/// `since_sample` are `None` before the first; they then count from the
/// start of the process (`since_start`).
fn engine_check(
    live: &Liveness,
    prober: bool,
    since_round: Option<Duration>,
    since_sample: Option<Duration>,
    since_start: Duration,
) -> EngineCheck {
    let up = |ok: bool| if ok { "up" } else { "stalled" };
    if prober {
        let sample_ok = live
            .sample_within
            .is_none_or(|limit| since_sample.unwrap_or(since_start) <= limit);
        EngineCheck {
            role: "prober",
            status: up(since_round.unwrap_or(since_start) <= live.round_within && sample_ok),
            lag_s: since_sample.map(|s| s.as_secs_f64()),
        }
    } else {
        EngineCheck {
            role: "follower",
            status: up(since_round.unwrap_or(since_start) <= live.follow_within),
            lag_s: since_round.map(|s| s.as_secs_f64()),
        }
    }
}

async fn readiness(state: &AppState) -> Readiness {
    if let Some((at, cached)) = state
        .ready_cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
    {
        if at.elapsed() < READY_CACHE {
            return cached;
        }
    }
    let database = check_database(state).await;
    let engine = check_engine(state);
    let result = Readiness {
        ok: database.status == "up" && engine.status == "up",
        database,
        engine,
    };
    *state
        .ready_cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((Instant::now(), result.clone()));
    result
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = ProbeBody)))]
async fn health() -> Json<ProbeBody> {
    Json(ProbeBody {
        status: "ok",
        database: None,
        engine: None,
    })
}

/// Readiness: the database answers within a second and the engine is
/// alive. Kept for 2 s.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, body = ProbeBody), (status = 503, body = ProbeBody, description = "The database does not answer, or the engine stalled")))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ProbeBody>) {
    let r = readiness(&state).await;
    let code = if r.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(ProbeBody {
            status: if r.ok { "ready" } else { "unavailable" },
            database: Some(r.database),
            engine: Some(r.engine),
        }),
    )
}

/// Start-up: migrations applied and the first snapshot built.
#[utoipa::path(get, path = "/startup", tag = "health",
    responses((status = 200, body = ProbeBody), (status = 503, body = ProbeBody, description = "Still starting")))]
async fn startup(State(state): State<AppState>) -> (StatusCode, Json<ProbeBody>) {
    let started = state.started.load(Ordering::Acquire);
    (
        if started {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(ProbeBody {
            status: if started { "started" } else { "starting" },
            database: None,
            engine: None,
        }),
    )
}

/// Everything `/ready` looks at, and more.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detailed {
    /// `ok` or `degraded`.
    status: &'static str,
    version: &'static str,
    /// Seconds since the process started.
    uptime_s: f64,
    database: DatabaseCheck,
    engine: EngineCheck,
    snapshot: SnapshotCheck,
    samples: SampleCounts,
    /// The alert outbox; `null` when the database does not answer. A
    /// provider being down never makes this replica degraded: alerts wait.
    alerts: Option<AlertOutbox>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOutbox {
    /// Deliveries waiting to be sent (or retried).
    pending: u64,
    /// Seconds since the oldest of them was queued.
    oldest_pending_age_s: Option<f64>,
    /// Events not yet routed.
    unrouted: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotCheck {
    /// Seconds since the snapshot served was built.
    age_s: f64,
    /// The snapshot is the last one built before the database went away.
    stale: bool,
    services: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SampleCounts {
    written: u64,
    buffered: u64,
    dropped: u64,
}

/// Each dependency with its status and latency, version, uptime, snapshot
/// age and sampler lag. Not cached: meant for people, not for probes.
#[utoipa::path(get, path = "/health/detailed", tag = "health",
    responses((status = 200, body = Detailed), (status = 503, body = Detailed, description = "A dependency is down")))]
async fn detailed(State(state): State<AppState>) -> (StatusCode, Json<Detailed>) {
    let database = check_database(&state).await;
    let engine = check_engine(&state);
    let snapshot = state.snapshot.borrow().clone();
    let ok = database.status == "up" && engine.status == "up" && !snapshot.stale;
    #[expect(clippy::cast_precision_loss, reason = "an age in ms fits f64")]
    let age_s = (state.clock.now() - snapshot.generated_at)
        .num_milliseconds()
        .max(0) as f64
        / 1000.0;
    let now = state.clock.now();
    let alerts = if database.status == "up" {
        state.store.alert_outbox().await.ok().map(|o| AlertOutbox {
            pending: o.pending,
            #[expect(clippy::cast_precision_loss, reason = "an age in ms fits f64")]
            oldest_pending_age_s: o
                .oldest_pending
                .map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0),
            unrouted: o.unrouted,
        })
    } else {
        None
    };
    let body = Detailed {
        status: if ok { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.liveness.started.elapsed().as_secs_f64(),
        database,
        engine,
        snapshot: SnapshotCheck {
            age_s,
            stale: snapshot.stale,
            services: snapshot.services.len(),
        },
        samples: SampleCounts {
            written: state.stats.written.load(Ordering::Relaxed),
            buffered: state.stats.buffered.load(Ordering::Relaxed),
            dropped: state.stats.dropped.load(Ordering::Relaxed),
        },
        alerts,
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response();
    };
    let snapshot = state.snapshot.borrow().clone();
    let now = state.clock.now();
    let slo = super::slo::metric_series(&state.slo.borrow().clone());
    let text = crate::metrics::render(handle, &snapshot, &state.stats.counts(now), &slo, now);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Liveness {
        Liveness {
            round_within: Duration::from_secs(90),
            sample_within: Some(Duration::from_secs(150)),
            follow_within: Duration::from_secs(40),
            started: Instant::now(),
        }
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn a_prober_is_up_while_samples_and_rounds_keep_coming() {
        let start = Duration::from_secs(1000);
        let check = |round, sample| engine_check(&live(), true, round, sample, start).status;
        assert_eq!(check(secs(5), secs(2)), "up");
        assert_eq!(check(secs(91), secs(2)), "stalled", "the writer stopped");
        assert_eq!(
            check(secs(5), secs(151)),
            "stalled",
            "no sample for too long"
        );
        assert_eq!(
            check(None, None),
            "stalled",
            "nothing since a start long ago"
        );
        assert_eq!(
            engine_check(&live(), true, None, None, Duration::from_secs(3)).status,
            "up",
            "just started"
        );
        let no_services = Liveness {
            sample_within: None,
            ..live()
        };
        assert_eq!(
            engine_check(&no_services, true, secs(5), None, start).status,
            "up"
        );
        assert_eq!(
            engine_check(&live(), true, secs(5), secs(2), start).lag_s,
            Some(2.0)
        );
    }

    #[test]
    fn a_follower_is_up_while_it_reloads() {
        let start = Duration::from_secs(1000);
        let follower = engine_check(&live(), false, secs(12), None, start);
        assert_eq!((follower.role, follower.status), ("follower", "up"));
        assert_eq!(
            engine_check(&live(), false, secs(41), None, start).status,
            "stalled"
        );
    }
}
