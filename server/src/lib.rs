//! Upbeat server: configuration, storage, probing, and the HTTP surface.
//! `main.rs` only calls [`cli::run`].

pub mod api;
pub mod badge;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod incident;
pub mod maintenance;
pub mod markdown;
pub mod metrics;
pub mod probe;
pub mod prune;
pub mod rollup;
pub mod sampler;
pub mod snapshot;
pub mod startup;
pub mod status;
pub mod store;
pub mod telemetry;
