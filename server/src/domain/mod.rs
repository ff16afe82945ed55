//! The pure core: plain data and the rules over it, with no I/O and no
//! clock reads (every time is an argument). Everything above this layer —
//! configuration, storage, probes, the engine, the HTTP API — calls in
//! here; nothing in here calls out.
//!
//! - [`sample`]: one probe result, and how it is stamped.
//! - [`service`]: services as configured and as stored.
//! - [`status`]: samples → displayed status, with hysteresis.
//! - [`incident`]: status transitions → automatic incident changes, and the
//!   timeline texts of admin changes.
//! - [`maintenance`]: windows, recurrence, which are in progress or over.
//! - [`rollup`]: hourly and daily summaries, uptime and latency maths.
//! - [`percentiles`]: p50, p95 and p99 over the page's windows and days.
//! - [`people`]: roles and what each may do, password rules, how long a
//!   console session lasts.
//! - [`snapshot`]: the in-memory view the page, the JSON and badges serve.
//! - [`badge`], [`markdown`], [`conditions`]: rendering and body checks.

pub mod alert;
pub mod badge;
pub mod conditions;
pub mod incident;
pub mod listing;
pub mod maintenance;
pub mod markdown;
pub mod people;
pub mod percentiles;
pub mod rollup;
pub mod sample;
pub mod service;
pub mod slo;
pub mod snapshot;
pub mod status;
pub mod subscribers;
