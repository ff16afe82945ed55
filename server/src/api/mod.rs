//! HTTP routes other than the Leptos pages, one module per area. Each
//! module exports a `router()` over [`AppState`].

pub mod admin;
pub mod auth;
pub mod error;
pub mod feeds;
pub mod health;
pub mod maintenance;
pub mod public;
pub mod push;
pub mod statuspage;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::changes::Changes;
use axum::extract::FromRef;
use axum::Router;
use leptos::config::LeptosOptions;

use crate::snapshot::SnapshotReader;
use crate::store::Store;

/// Everything request handlers share. Cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Where the built front end lives and how it is named.
    pub leptos: LeptosOptions,
    /// The database.
    pub store: Arc<dyn Store>,
    /// The current public snapshot.
    pub snapshot: SnapshotReader,
    /// Set once migrations ran and the first snapshot was built.
    pub started: Arc<AtomicBool>,
    /// Announce changes to incidents or maintenance: the snapshot is
    /// rebuilt at once.
    pub changes: Arc<Changes>,
    /// Admin token checks and failed-attempt counts.
    pub auth: Arc<auth::AuthGuard>,
}

/// All non-page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(public::router())
        .merge(push::router())
        .merge(admin::router())
        .merge(maintenance::router())
        .merge(statuspage::router())
        .merge(feeds::router())
}
