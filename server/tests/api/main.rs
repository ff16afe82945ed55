//! Integration tests: one binary (one link step) with a module per area.

mod app;
mod cli;
mod config;
mod helpers;
mod store;
