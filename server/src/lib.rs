//! Upbeat server: configuration, storage, probing, and the HTTP surface.
//! `main.rs` only calls [`cli::run`]. `ARCHITECTURE.md` at the repository
//! root maps the layers; each depends only on those listed before it:
//!
//! - leaves: [`clock`], [`token`], [`metrics`]
//! - [`domain`]: pure rules, no I/O, no clock reads
//! - [`config`]: the TOML file and environment, validated
//! - [`store`]: SQLite and PostgreSQL behind one trait
//! - [`probe`]: one module per check kind
//! - [`engine`]: scheduling, writing, pruning, leader and follower
//! - [`api`]: the HTTP surface
//! - [`startup`], [`telemetry`], [`cli`]: wiring

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod engine;
pub mod metrics;
pub mod password;
pub mod probe;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod trace;
