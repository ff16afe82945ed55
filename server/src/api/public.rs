//! Public JSON: `GET /public/status`, the document the page renders from,
//! served from the in-memory snapshot.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/public/status", get(status))
}

async fn status(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.snapshot.borrow().clone();
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            // Status widgets on other sites may read this.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Json(snapshot),
    )
}
