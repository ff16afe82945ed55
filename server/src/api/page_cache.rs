//! Server-rendered pages, cached per snapshot: during an outage a burst of
//! visitors costs one render per page and snapshot, then a copy each.
//!
//! - Only `GET` pages without a query string are cached, only answers
//!   `200 text/html`, and at most [`MAX_ENTRIES`] paths per snapshot, so
//!   unknown paths cannot grow the cache.
//! - The cache is emptied whenever a new snapshot is published (its
//!   `generated_at` or `stale` changes).
//! - Each copy gets a fresh CSP nonce: the nonce of the cached render is
//!   replaced in the body and in the `Content-Security-Policy` header, so no
//!   two answers share one.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use super::AppState;

/// Most pages kept per snapshot.
pub const MAX_ENTRIES: usize = 256;
/// Largest page kept.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

struct Entry {
    body: Bytes,
    csp: String,
    nonce: String,
}

/// A snapshot's version: `generated_at` in nanoseconds, and `stale`.
type Version = (i64, bool);

/// The pages of one snapshot version.
#[derive(Default)]
pub struct PageCache {
    inner: Mutex<(Option<Version>, HashMap<String, std::sync::Arc<Entry>>)>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageCache")
    }
}

/// A nonce like Leptos's: 16 random bytes, URL-safe base64 without padding.
fn new_nonce() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(char::from(ALPHABET[((bits >> count) & 63) as usize]));
        }
    }
    if count > 0 {
        out.push(char::from(ALPHABET[((bits << (6 - count)) & 63) as usize]));
    }
    out
}

/// The nonce in a policy: what follows `'nonce-` up to the quote.
fn nonce_of(csp: &str) -> Option<&str> {
    let start = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[start..].find('\'')?;
    Some(&csp[start..start + len])
}

/// `body` and `csp` with `old` replaced by a fresh nonce.
fn renonce(entry: &Entry) -> (Vec<u8>, String) {
    let fresh = new_nonce();
    let body = replace_all(&entry.body, entry.nonce.as_bytes(), fresh.as_bytes());
    (body, entry.csp.replace(&entry.nonce, &fresh))
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn answer(body: Vec<u8>, csp: &str) -> Response {
    let mut response = (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(csp) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

pub async fn page_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let cacheable = request.method() == Method::GET
        && request.uri().query().is_none()
        && (path == "/" || path.starts_with("/services/") || path.starts_with("/incidents/"));
    if !cacheable {
        return next.run(request).await;
    }
    let path = path.to_owned();
    let version = {
        let s = state.snapshot.borrow();
        (
            s.generated_at.timestamp_nanos_opt().unwrap_or_default(),
            s.stale,
        )
    };
    let hit = {
        let mut guard = state
            .page_cache
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.0 != Some(version) {
            guard.0 = Some(version);
            guard.1.clear();
        }
        guard.1.get(&path).cloned()
    };
    crate::metrics::page_cache(hit.is_some());
    if let Some(entry) = hit {
        let (body, csp) = renonce(&entry);
        return answer(body, &csp);
    }

    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(csp), true, StatusCode::OK) = (csp, is_html, response.status()) else {
        return response;
    };
    let Some(nonce) = nonce_of(&csp).map(str::to_owned) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, MAX_PAGE_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    {
        let mut guard = state
            .page_cache
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.0 == Some(version) && guard.1.len() < MAX_ENTRIES {
            guard.1.insert(
                path,
                std::sync::Arc::new(Entry {
                    body: body.clone(),
                    csp,
                    nonce,
                }),
            );
        }
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_and_well_formed() {
        let a = new_nonce();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, new_nonce());
    }

    #[test]
    fn a_copy_gets_its_own_nonce_everywhere() {
        let entry = Entry {
            body: Bytes::from_static(b"<script nonce=\"abc\">x</script><link nonce=\"abc\">"),
            csp: "script-src 'nonce-abc' 'strict-dynamic'".to_owned(),
            nonce: "abc".to_owned(),
        };
        let (body, csp) = renonce(&entry);
        let fresh = nonce_of(&csp).expect("nonce").to_owned();
        assert_ne!(fresh, "abc");
        let body = String::from_utf8(body).expect("utf-8");
        assert_eq!(
            body.matches(&format!("nonce=\"{fresh}\"")).count(),
            2,
            "{body}"
        );
        assert!(!body.contains("abc"));
    }
}
