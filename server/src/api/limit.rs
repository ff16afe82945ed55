//! Limits per client address, shared by the admin API's failed sign-ins
//! (`super::auth`) and browser error reports (`super::client_errors`): the
//! address a request came from, counts of events per address in fixed
//! windows, and the `429` answer with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::header::RETRY_AFTER;
use axum::http::{Extensions, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The address a request came from (unspecified when the server was not
/// started with connection info, as in some tests).
pub fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Events counted per address, each address's count in a window that
/// starts at its first event.
#[derive(Debug, Default)]
pub struct PerAddress {
    counts: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl PerAddress {
    /// How long `ip` has to wait when it has had `limit` events within
    /// `window`; `None` when it may go on.
    pub fn wait(&self, ip: IpAddr, limit: u32, window: Duration) -> Option<Duration> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, since) = counts.get(&ip)?;
        let left = window.checked_sub(since.elapsed())?;
        (*count >= limit).then_some(left)
    }

    /// Counts one event of `ip`.
    pub fn add(&self, ip: IpAddr, window: Duration) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget windows that passed, so the map cannot grow without bound.
        counts.retain(|_, (_, since)| since.elapsed() < window);
        counts.entry(ip).or_insert((0, Instant::now())).0 += 1;
    }
}

/// `429` with the JSON error body and `Retry-After` in whole seconds.
pub fn too_many(code: &'static str, message: String, wait: Duration) -> Response {
    let mut response = ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code,
        message,
        field: None,
    }
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
