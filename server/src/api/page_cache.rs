//! Server-rendered pages, cached per snapshot: during an outage a burst of
//! visitors costs one render per page and snapshot, then a copy each.
//!
//! - Only `GET` pages without a query string (but a group's `?page=N`)
//!   are cached, only answers `200 text/html`, and at most [`MAX_ENTRIES`]
//!   paths per snapshot, so unknown paths cannot grow the cache.
//! - The cache is emptied whenever a new snapshot is published (its
//!   `generated_at` or `stale` changes).
//! - A cached page is the same bytes for everyone, so it can be compressed
//!   once (see [`super::encoding`]). Its inline scripts and styles are
//!   therefore allowed by their hashes in the `Content-Security-Policy`
//!   rather than by a nonce, which would have to differ in every answer:
//!   the render's nonce is taken out of the page.
//! - Requests for a page being rendered wait for that render instead of
//!   rendering it again (one render per page and snapshot, even when a new
//!   snapshot arrives under load), or, when the previous snapshot's page
//!   is at hand, get that one meanwhile; so do requests for a coding of
//!   the new page that another request is compressing.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either, MapOk};
use futures::TryFutureExt;
use tokio::sync::OnceCell;
use tower::{Layer, Service, ServiceExt};

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::answers::{version_of, Answer, ByVersion};
use super::encoding::Claimed;
use super::AppState;

/// Most pages kept per snapshot.
pub const MAX_ENTRIES: usize = 256;
/// Largest page kept.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// A page's render, shared by everyone who asked for it meanwhile; `None`
/// when the answer was not a cacheable page. A page's answer is the page
/// without nonces, with its compressed copies and the policy allowing its
/// inline scripts and styles by hash.
type Slot = Claimed<OnceCell<Option<Arc<Answer>>>>;

/// The pages of one snapshot version, by path.
pub struct PageCache(ByVersion<Slot>);

impl Default for PageCache {
    fn default() -> Self {
        Self(ByVersion::new(MAX_ENTRIES))
    }
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageCache")
    }
}

/// The nonce in a policy: what follows `'nonce-` up to the quote.
fn nonce_of(csp: &str) -> Option<&str> {
    let start = csp.find("'nonce-")? + "'nonce-".len();
    let len = csp[start..].find('\'')?;
    Some(&csp[start..start + len])
}

/// The CSP source (`'sha256-…'`) allowing an inline element whose content
/// is `content`.
pub fn hash_source(content: &[u8]) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(content))
    )
}

/// The CSP sources (`'sha256-…'`) of the content of every inline `<tag>`
/// element of `html` (not those with `src`), each once, in order.
fn inline_hashes(html: &[u8], tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut hashes: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(at) = memchr::memmem::find(rest, open.as_bytes()) {
        rest = &rest[at + open.len()..];
        // `<script>` or `<script …>`, not `<scripts`.
        if !matches!(rest.first(), Some(b'>' | b' ')) {
            continue;
        }
        let Some(start) = memchr::memchr(b'>', rest) else {
            break;
        };
        let external = memchr::memmem::find(&rest[..start], b" src=").is_some();
        let content = &rest[start + 1..];
        let Some(end) = memchr::memmem::find(content, close.as_bytes()) else {
            break;
        };
        rest = &content[end + close.len()..];
        if external {
            continue;
        }
        let source = hash_source(&content[..end]);
        if !hashes.contains(&source) {
            hashes.push(source);
        }
    }
    hashes
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

/// Whether `request` asks for a page this cache keeps.
fn cacheable(request: &Request) -> bool {
    let path = request.uri().path();
    let page_number = |q: &str| {
        q.strip_prefix("page=")
            .is_some_and(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
    };
    request.method() == Method::GET
        && match request.uri().query() {
            None => {
                path == "/"
                    || path.starts_with("/services/")
                    || path.starts_with("/incidents/")
                    || path.starts_with("/groups/")
            }
            Some(q) => path.starts_with("/groups/") && page_number(q),
        }
}

/// The layer putting the page cache in front of every route.
///
/// A `tower` service rather than `axum::middleware::from_fn`, so that the
/// answers that are not pages (the JSON, the badges) pass straight through,
/// without the boxed service and futures `from_fn` makes per request.
#[derive(Clone)]
pub struct PageCacheLayer(pub AppState);

impl<S> Layer<S> for PageCacheLayer {
    type Service = PageCached<S>;

    fn layer(&self, inner: S) -> PageCached<S> {
        PageCached {
            state: self.0.clone(),
            inner,
        }
    }
}

/// `S` with its pages cached per snapshot (see the module's documentation).
#[derive(Clone)]
pub struct PageCached<S> {
    state: AppState,
    inner: S,
}

/// `S`'s answer as a [`Response`].
type Passed<F, R> = MapOk<F, fn(R) -> Response>;

impl<S, R> Service<Request> for PageCached<S>
where
    S: Service<Request, Response = R, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    R: IntoResponse + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Passed<S::Future, R>, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !cacheable(&request) {
            return Either::Left(
                self.inner
                    .call(request)
                    .map_ok(R::into_response as fn(R) -> Response),
            );
        }
        // The service made ready is the one to call; a clone stays.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let state = self.state.clone();
        Either::Right(Box::pin(async move {
            Ok(page_cache(state, request, inner).await)
        }))
    }
}

/// `inner`'s answer to `request`.
async fn pass<S, R>(inner: S, request: Request) -> Response
where
    S: Service<Request, Response = R, Error = Infallible>,
    R: IntoResponse,
{
    let Ok(response) = inner.oneshot(request).await;
    response.into_response()
}

/// The answer to a cacheable `request`: the snapshot's page, rendered by
/// `inner` once.
async fn page_cache<S, R>(state: AppState, request: Request, inner: S) -> Response
where
    S: Service<Request, Response = R, Error = Infallible>,
    R: IntoResponse,
{
    let path = request.uri().path();
    let version = version_of(&state.snapshot.borrow());
    let key = request
        .uri()
        .path_and_query()
        .map_or(path, |pq| pq.as_str());
    let Some((slot, previous)) = state.page_cache.0.slot(version, key) else {
        return pass(inner, request).await;
    };
    // Only the request's `Accept-Encoding` and `If-None-Match` matter for
    // a cached answer; the request itself may go to the render.
    let accept = answer_headers(request.headers());
    // Another request is rendering the new snapshot's page: the previous
    // snapshot's meanwhile, as for the other answers (`super::answers`).
    let previous = previous
        .as_ref()
        .and_then(|p| p.cell.get())
        .and_then(Option::as_deref);
    if slot.cell.get().is_none() && !slot.claim() {
        if let Some(page) = previous {
            crate::metrics::page_cache(true);
            return page.respond(&accept);
        }
    }
    let mut mine = Some((request, inner));
    let mut own: Option<Response> = None;
    let cached = slot
        .cell
        .get_or_init(|| {
            let taken = mine.take();
            let own = &mut own;
            async move {
                let (request, inner) = taken?;
                match capture(pass(inner, request).await, MAX_PAGE_BYTES).await {
                    Ok(entry) => Some(entry),
                    Err(response) => {
                        *own = Some(response);
                        None
                    }
                }
            }
        })
        .await;
    // A hit is an answer another request rendered; everything this
    // request renders itself is a miss.
    match (cached, own, mine) {
        (Some(entry), _, untouched) => {
            crate::metrics::page_cache(untouched.is_some());
            entry.respond_or(&accept, previous)
        }
        // This request rendered an answer that is not a cacheable page.
        (None, Some(response), _) => {
            crate::metrics::page_cache(false);
            response
        }
        // Another request's render was not cacheable: render this one.
        (None, None, Some((request, inner))) => {
            crate::metrics::page_cache(false);
            pass(inner, request).await
        }
        (None, None, None) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The headers a cached answer depends on.
fn answer_headers(request: &HeaderMap) -> HeaderMap {
    [ACCEPT_ENCODING, IF_NONE_MATCH]
        .into_iter()
        .filter_map(|name| Some((name.clone(), request.get(&name)?.clone())))
        .collect()
}

/// The answer as a cache entry, or the answer itself when it is not a
/// `200 text/html` page with a nonce of at most `limit` bytes (a larger
/// page, such as the home page of 10,000 services, is sent as rendered).
async fn capture(response: Response, limit: usize) -> Result<Arc<Answer>, Response> {
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
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
    if body.len() > limit {
        return Err(Response::from_parts(parts, Body::from(body)));
    }
    let page = replace_all(&body, format!(" nonce=\"{nonce}\"").as_bytes(), b"");
    let csp = app::page_csp(
        &inline_hashes(&page, "script").join(" "),
        &inline_hashes(&page, "style").join(" "),
    );
    let csp = HeaderValue::try_from(csp)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
    Ok(Arc::new(
        Answer::new(StatusCode::OK, "text/html; charset=utf-8", page)
            .header(CONTENT_SECURITY_POLICY, csp),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inline_element_is_hashed_once() {
        let html = br#"<head><script type="module">import("/a.js")</script><style>:root{--a:#fff}</style></head><body><scripts></scripts><script>x=1</script><script>x=1</script><script src="/b.js"></script></body>"#;
        let hash = |text: &str| hash_source(text.as_bytes());
        assert_eq!(
            inline_hashes(html, "script"),
            [hash(r#"import("/a.js")"#), hash("x=1")]
        );
        assert_eq!(inline_hashes(html, "style"), [hash(":root{--a:#fff}")]);
        // Standard base64 with padding, as browsers compare it.
        assert_eq!(
            hash(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }

    #[tokio::test]
    async fn a_page_over_the_limit_is_sent_whole_and_not_cached() {
        let page = |size: usize| {
            let mut response = Response::new(Body::from(format!(
                "<html><script nonce=\"n1\">x=1</script>{}</html>",
                "a".repeat(size)
            )));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("script-src 'nonce-n1'"),
            );
            response
        };
        assert!(capture(page(100), 1_000).await.is_ok(), "cached");
        let Err(sent) = capture(page(2_000), 1_000).await else {
            panic!("a page over the limit was cached");
        };
        assert_eq!(sent.status(), StatusCode::OK);
        assert_eq!(
            sent.headers()[CONTENT_SECURITY_POLICY],
            "script-src 'nonce-n1'",
            "sent with the nonce it was rendered with"
        );
        let body = to_bytes(sent.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            body.len(),
            2_000 + "<html><script nonce=\"n1\">x=1</script></html>".len()
        );
    }

    #[test]
    fn the_nonce_is_read_from_the_policy() {
        assert_eq!(
            nonce_of("script-src 'nonce-abc' 'strict-dynamic'"),
            Some("abc")
        );
        assert_eq!(nonce_of("script-src 'self'"), None);
    }
}
