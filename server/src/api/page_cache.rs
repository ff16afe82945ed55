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
//! - Requests for a page being rendered wait for that render instead of
//!   rendering it again (one render per page and snapshot, even when a new
//!   snapshot arrives under load).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use axum::body::{to_bytes, Bytes};
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

/// A page's render, shared by everyone who asked for it meanwhile; `None`
/// when the answer was not a cacheable page.
type Slot = Arc<OnceCell<Option<Arc<Entry>>>>;

/// Pages by path.
type Pages = HashMap<String, Slot>;

/// The pages of one snapshot version.
#[derive(Default)]
pub struct PageCache {
    inner: Mutex<(Option<Version>, Pages)>,
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
    let mut last = 0;
    for at in memchr::memmem::find_iter(haystack, from) {
        out.extend_from_slice(&haystack[last..at]);
        out.extend_from_slice(to);
        last = at + from.len();
    }
    out.extend_from_slice(&haystack[last..]);
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
    let slot: Option<Slot> = {
        let mut guard = state
            .page_cache
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.0 != Some(version) {
            guard.0 = Some(version);
            guard.1.clear();
        }
        let full = guard.1.len() >= MAX_ENTRIES;
        match guard.1.get(&path) {
            Some(slot) => Some(Arc::clone(slot)),
            None if full => None,
            None => Some(Arc::clone(guard.1.entry(path).or_default())),
        }
    };
    let Some(slot) = slot else {
        return next.run(request).await;
    };
    let hit = slot.initialized();
    crate::metrics::page_cache(hit);
    let mut mine = Some((request, next));
    let mut own: Option<Response> = None;
    let cached = slot
        .get_or_init(|| {
            let taken = mine.take();
            let own = &mut own;
            async move {
                let (request, next) = taken?;
                match capture(next.run(request).await).await {
                    Ok(entry) => Some(entry),
                    Err(response) => {
                        *own = Some(response);
                        None
                    }
                }
            }
        })
        .await;
    match (cached, own, mine) {
        (Some(entry), _, _) => {
            let (body, csp) = renonce(entry);
            answer(body, &csp)
        }
        // This request rendered an answer that is not a cacheable page.
        (None, Some(response), _) => response,
        // Another request's render was not cacheable: render this one.
        (None, None, Some((request, next))) => next.run(request).await,
        (None, None, None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The answer as a cache entry, or the answer itself when it is not a
/// `200 text/html` page with a nonce.
async fn capture(response: Response) -> Result<Arc<Entry>, Response> {
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
        return Err(response);
    };
    let Some(nonce) = nonce_of(&csp).map(str::to_owned) else {
        return Err(response);
    };
    let (_, body) = response.into_parts();
    let body = to_bytes(body, MAX_PAGE_BYTES)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
    Ok(Arc::new(Entry { body, csp, nonce }))
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
