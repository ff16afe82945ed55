//! Limits per client address, shared by the admin API's failed sign-ins
//! (`super::auth`) and browser error reports (`super::client_errors`): the
//! address a request came from, counts of events per address in fixed
//! windows, and the `429` answer with `Retry-After`.

use std::collections::HashMap;
use std::hash::Hash;
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

/// Events counted per key (an address, a user name), each key's count in a
/// window that starts at its first event.
#[derive(Debug)]
pub struct PerKey<K> {
    counts: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K> Default for PerKey<K> {
    fn default() -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
        }
    }
}

/// Events counted per client address.
pub type PerAddress = PerKey<IpAddr>;

impl<K: Eq + Hash> PerKey<K> {
    /// How long `key` must still wait, when it reached `limit` events in
    /// its current `window`.
    pub fn wait(&self, key: &K, limit: u32, window: Duration) -> Option<Duration> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let (count, since) = counts.get(key)?;
        let left = window.checked_sub(since.elapsed())?;
        (*count >= limit).then_some(left)
    }

    /// Counts one event of `key`; forgets keys whose window has passed.
    pub fn add(&self, key: K, window: Duration) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.retain(|_, (_, since)| since.elapsed() < window);
        counts.entry(key).or_insert((0, Instant::now())).0 += 1;
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
