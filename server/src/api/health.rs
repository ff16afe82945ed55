//! Health probes for orchestrators: `/health` (liveness: the process
//! answers), `/ready` (the database answers within a second), `/startup`
//! (migrations applied and first snapshot built).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

const READY_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/startup", get(startup))
}

async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let started = Instant::now();
    let result = tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await;
    let latency_ms = started.elapsed().as_millis();
    let backend = state.store.backend().as_str();
    match result {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(
                json!({ "status": "ready", "database": { "backend": backend, "status": "up", "latency_ms": latency_ms } }),
            ),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database ping failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({ "status": "unavailable", "database": { "backend": backend, "status": "down", "error": "database error" } }),
                ),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "database": { "backend": backend, "status": "down", "error": "timed out after 1s" } }),
            ),
        ),
    }
}

async fn startup(State(state): State<AppState>) -> impl IntoResponse {
    if state.started.load(Ordering::Acquire) {
        (StatusCode::OK, Json(json!({ "status": "started" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "starting" })),
        )
    }
}
