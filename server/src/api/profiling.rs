//! On-demand profiles of the running server, for the admin token, only
//! with `[profiling] enabled = true` (`404` otherwise):
//!
//! - `GET /debug/pprof/profile?seconds=N` samples every thread's stack 99
//!   times a second for `N` seconds (1–60, default 30) and answers a pprof
//!   protobuf; `&format=flamegraph` answers an SVG flame graph instead.
//!   One profile at a time: a second request meanwhile gets `409`.
//! - `GET /debug/pprof/heap` answers jemalloc's heap profile as pprof
//!   (gzipped protobuf): the live memory of allocations sampled since
//!   start-up, one every 512 KiB allocated on average, by stack.
//!
//! Open them with `go tool pprof -http=: profile.pb.gz` (or
//! `pprof -http=:`), or the SVG in a browser. The CPU profiler is the
//! `pprof` crate's (a `SIGPROF` timer while a profile is taken, nothing
//! otherwise); heap sampling is jemalloc's own, which `[profiling]
//! enabled` switches on for its process only (`crate::cli` restarts the
//! process with it, since jemalloc reads it once at start), so it costs
//! nothing otherwise.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::AppState;

/// Longest CPU profile, in seconds.
pub const MAX_SECONDS: u64 = 60;
/// Stack samples a second: not 100, so sampling does not beat in step
/// with work that runs every 10 ms.
const FREQUENCY: i32 = 99;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cpu_profile))
        .routes(routes!(heap_profile))
}

/// Makes sure heap sampling is active where jemalloc has it (the process
/// was started with it, see `crate::cli`); says so when it is not.
pub async fn start_heap_sampling() {
    jemalloc_pprof::activate_jemalloc_profiling().await;
}

/// Passes only while `[profiling] enabled`: the routes do not exist
/// otherwise (checked before the token).
pub struct Enabled;

impl FromRequestParts<AppState> for Enabled {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if state.profiling {
            Ok(Self)
        } else {
            Err(
                ApiError::not_found("profiling is off ([profiling] enabled = true turns it on)")
                    .into_response(),
            )
        }
    }
}

/// The query of a CPU profile.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ProfileQuery {
    /// How long to sample, 1 to 60 seconds (default 30).
    seconds: Option<u64>,
    /// `pprof` (default) or `flamegraph` (SVG).
    format: Option<String>,
}

/// Set while a CPU profile is being taken.
static TAKING: AtomicBool = AtomicBool::new(false);

/// Clears [`TAKING`] when the profile ends, however it ends.
struct Taking;

impl Taking {
    fn start() -> Option<Self> {
        TAKING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            .then_some(Self)
    }
}

impl Drop for Taking {
    fn drop(&mut self) {
        TAKING.store(false, Ordering::Release);
    }
}

/// Samples the server's CPU for a while.
#[utoipa::path(get, path = "/debug/pprof/profile", tag = "meta", security(("bearer" = ["admin"])),
    params(ProfileQuery),
    responses(
        (status = 200, description = "A pprof protobuf (`application/octet-stream`), or an SVG flame graph (`image/svg+xml`)"),
        (status = 400, body = ErrorBody, description = "`seconds` or `format` unacceptable"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 404, body = ErrorBody, description = "Profiling is off"),
        (status = 409, body = ErrorBody, description = "Another profile is being taken"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn cpu_profile(
    _enabled: Enabled,
    _admin: Admin,
    Query(query): Query<ProfileQuery>,
) -> Result<Response, ApiError> {
    let seconds = query.seconds.unwrap_or(30);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid_field(
            "seconds",
            format!("must be from 1 to {MAX_SECONDS}"),
        ));
    }
    let flamegraph = match query.format.as_deref() {
        None | Some("pprof") => false,
        Some("flamegraph") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "format",
                "must be pprof or flamegraph",
            ))
        }
    };
    let taking = Taking::start().ok_or_else(|| {
        ApiError::conflict("a CPU profile is being taken; one at a time, try again when it ends")
    })?;
    tracing::info!(seconds, "taking a CPU profile");
    // The profiler's guard is not `Send`: the whole profile runs on a
    // blocking thread, which mostly sleeps.
    let taken = tokio::task::spawn_blocking(move || take(Duration::from_secs(seconds), flamegraph))
        .await
        .map_err(|error| ApiError::internal(&error))?;
    drop(taking);
    let body = taken.map_err(|error| ApiError::internal(&error))?;
    let content_type = if flamegraph {
        "image/svg+xml"
    } else {
        "application/octet-stream"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn take(length: Duration, flamegraph: bool) -> Result<Vec<u8>, pprof::Error> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    std::thread::sleep(length);
    let report = guard.report().build()?;
    drop(guard);
    let mut out = Vec::new();
    if flamegraph {
        report.flamegraph(&mut out)?;
        if out.is_empty() {
            // inferno draws nothing without samples: say so instead.
            out = format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="25">No CPU samples in {}s: the server was idle.</text></svg>"#,
                length.as_secs()
            )
            .into_bytes();
        }
    } else {
        use pprof::protos::Message as _;
        out = report
            .pprof()?
            .write_to_bytes()
            .map_err(|error| pprof::Error::IoError(std::io::Error::other(error)))?;
    }
    Ok(out)
}

/// jemalloc's heap profile.
#[utoipa::path(get, path = "/debug/pprof/heap", tag = "meta", security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "A pprof protobuf, gzipped (`application/octet-stream`)"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 404, body = ErrorBody, description = "Profiling is off"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
        (status = 503, body = ErrorBody, description = "This build's allocator keeps no heap profile"),
    ))]
async fn heap_profile(_enabled: Enabled, _admin: Admin) -> Result<Response, ApiError> {
    let unavailable = || ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "unavailable",
        message: "heap sampling is not active in this process (jemalloc is not its allocator)"
            .to_owned(),
        field: None,
    };
    let control = jemalloc_pprof::PROF_CTL.as_ref().ok_or_else(unavailable)?;
    let mut control = std::sync::Arc::clone(control).lock_owned().await;
    if !control.activated() {
        return Err(unavailable());
    }
    // Writes and reads a temporary file: off the async threads.
    let dumped = tokio::task::spawn_blocking(move || control.dump_pprof())
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| ApiError::internal(&error))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], dumped).into_response())
}
