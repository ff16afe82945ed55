//! Health probes for orchestrators: `/health` (liveness: the process
//! answers), `/ready` (the database answers within a second), `/startup`
//! (migrations applied and first snapshot built).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(startup))
}

/// A probe's answer.
#[derive(Serialize, ToSchema)]
pub struct ProbeBody {
    /// `ok`, `ready`, `unavailable`, `started` or `starting`.
    status: &'static str,
    /// `/ready` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<DatabaseCheck>,
}

#[derive(Serialize, ToSchema)]
pub struct DatabaseCheck {
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// `up` or `down`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = ProbeBody)))]
async fn health() -> Json<ProbeBody> {
    Json(ProbeBody {
        status: "ok",
        database: None,
    })
}

/// Readiness: the database answers within a second.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, body = ProbeBody), (status = 503, body = ProbeBody, description = "The database does not answer")))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ProbeBody>) {
    let started = Instant::now();
    let result = tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let backend = state.store.backend().as_str();
    let down = |error| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ProbeBody {
                status: "unavailable",
                database: Some(DatabaseCheck {
                    backend,
                    status: "down",
                    latency_ms: None,
                    error: Some(error),
                }),
            }),
        )
    };
    match result {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(ProbeBody {
                status: "ready",
                database: Some(DatabaseCheck {
                    backend,
                    status: "up",
                    latency_ms: Some(latency_ms),
                    error: None,
                }),
            }),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database ping failed");
            down("database error")
        }
        Err(_) => down("timed out after 1s"),
    }
}

/// Start-up: migrations applied and the first snapshot built.
#[utoipa::path(get, path = "/startup", tag = "health",
    responses((status = 200, body = ProbeBody), (status = 503, body = ProbeBody, description = "Still starting")))]
async fn startup(State(state): State<AppState>) -> (StatusCode, Json<ProbeBody>) {
    if state.started.load(Ordering::Acquire) {
        (
            StatusCode::OK,
            Json(ProbeBody {
                status: "started",
                database: None,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ProbeBody {
                status: "starting",
                database: None,
            }),
        )
    }
}
