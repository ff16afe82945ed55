//! Integration tests: one binary (one link step) with a module per area.

// Helper functions outside #[test] bodies unwrap too; a failed unwrap is a
// failed test with a clear location.
#![expect(clippy::unwrap_used, reason = "test code")]

mod admin;
mod alerts;
mod app;
mod assets;
mod badges;
mod cli;
mod client_errors;
mod config;
mod console;
mod helpers;
mod leadership;
mod maintenance;
mod openapi;
mod ops;
mod outage;
mod pages;
mod probes;
mod profiling;
mod public;
mod publishing;
mod push;
mod replicas;
mod roles;
mod simulation;
mod slo;
mod smtp;
mod statuspage;
mod store;
mod subscribers;
mod traces;
