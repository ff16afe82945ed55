//! Answers made once per snapshot and then copied: the public status JSON,
//! the Statuspage v2 documents, the badges and the embed widget (and, through
//! [`super::page_cache`], the pages).
//!
//! An [`Answer`] is the status, the headers and the body with its
//! compressed copies ([`Encoded`]); a request for it does little more than
//! pick the coding, compare `If-None-Match` and copy a few header values.
//! [`Answers`] keeps them by key (the document's name, or a badge's path and
//! query) for the current snapshot version and forgets them all when a new
//! snapshot is published, so nothing outlives the data it was made from.
//! At most [`MAX_ANSWERS`] are kept per version: past that (a flood of
//! distinct badge queries) answers are made per request, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use app::model::PublicStatus;
use axum::body::Bytes;
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::encoding::Claimed;
use super::encoding::{Coding, Encoded};

/// Most answers kept per snapshot version.
pub const MAX_ANSWERS: usize = 1024;

/// A snapshot's version: `generated_at` in nanoseconds, and `stale`.
pub type Version = (i64, bool);

pub fn version_of(snapshot: &PublicStatus) -> Version {
    (
        snapshot
            .generated_at
            .timestamp_nanos_opt()
            .unwrap_or_default(),
        snapshot.stale,
    )
}

/// The `ETag` of the document `what` of a snapshot: it changes whenever a
/// new snapshot is built.
pub fn etag(snapshot: &PublicStatus, what: &str) -> String {
    let (nanos, stale) = version_of(snapshot);
    format!("W/\"{what}-{nanos}-{}\"", u8::from(stale))
}

/// Whether the request's `If-None-Match` names `tag` (or `*`): the client
/// has this version already.
pub fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// A finished answer: status, headers and body in every coding.
#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    content_type: HeaderValue,
    /// Sent with `304` too.
    headers: Vec<(HeaderName, HeaderValue)>,
    etag: Option<HeaderValue>,
    body: Encoded,
}

impl Answer {
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: HeaderValue::from_static(content_type),
            headers: Vec::new(),
            etag: None,
            body: Encoded::new(body.into()),
        }
    }

    /// A snapshot document as JSON, revalidated by `etag`
    /// (`Cache-Control: no-cache`) and readable from any origin (status
    /// widgets on other sites read it).
    pub fn json<T: Serialize + ?Sized>(etag: &str, body: &T) -> Self {
        Self::new(
            StatusCode::OK,
            "application/json",
            serde_json::to_vec(body).unwrap_or_default(),
        )
        .etag(etag)
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .header(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )
    }

    /// `304` answers a request whose `If-None-Match` names `tag`.
    pub fn etag(mut self, tag: &str) -> Self {
        let value = HeaderValue::from_str(tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        self.headers.push((header::ETAG, value.clone()));
        self.etag = Some(value);
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The answer to a request with `request`'s headers: `304` when it
    /// names the `ETag` of a `200`, else the body in the best coding it
    /// accepts.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        self.respond_or(request, None)
    }

    /// As [`Answer::respond`], except that while another request is
    /// compressing the body in the coding this one wants, `previous` (the
    /// same answer of the snapshot before) answers instead when it has
    /// that coding at hand. Only without it does the request wait.
    pub fn respond_or(&self, request: &HeaderMap, previous: Option<&Self>) -> Response {
        let fresh = self.status == StatusCode::OK
            && self
                .etag
                .as_ref()
                .and_then(|tag| tag.to_str().ok())
                .is_some_and(|tag| if_none_match(request, tag));
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let coding = Coding::accepted(request);
            let body = match self.body.try_get(coding) {
                Some(body) => body,
                None => match previous.filter(|p| p.body.has(coding)) {
                    Some(previous) => return previous.respond(request),
                    None => self.body.get(coding),
                },
            };
            let mut response = Encoded::coded(body, coding);
            *response.status_mut() = self.status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            response
        };
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

/// Slots by key for the current snapshot version, and those of the
/// version before it: a new version starts empty, at most `limit` keys
/// (`None` past it).
#[derive(Debug)]
pub struct ByVersion<T> {
    inner: Mutex<Versions<T>>,
    limit: usize,
}

#[derive(Debug)]
struct Versions<T> {
    known: Option<Version>,
    current: HashMap<Box<str>, Arc<T>>,
    previous: HashMap<Box<str>, Arc<T>>,
}

impl<T: Default> ByVersion<T> {
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Mutex::new(Versions {
                known: None,
                current: HashMap::new(),
                previous: HashMap::new(),
            }),
            limit,
        }
    }

    /// The slot of `key` in `version`, made empty when new, with the slot
    /// the version before had for it.
    pub fn slot(&self, version: Version, key: &str) -> Option<(Arc<T>, Option<Arc<T>>)> {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let versions = &mut *guard;
        if versions.known != Some(version) {
            versions.known = Some(version);
            versions.previous = std::mem::take(&mut versions.current);
        }
        let previous = versions.previous.get(key).cloned();
        if let Some(slot) = versions.current.get(key) {
            return Some((Arc::clone(slot), previous));
        }
        if versions.current.len() >= self.limit {
            return None;
        }
        let slot = Arc::new(T::default());
        versions.current.insert(key.into(), Arc::clone(&slot));
        Some((slot, previous))
    }
}

/// The answers of the current snapshot, by key.
///
/// While one request makes an answer of a new snapshot, the others get
/// the previous snapshot's (one snapshot, a few milliseconds, older)
/// instead of waiting for it: under load a new snapshot every second
/// otherwise put a render in front of every connection at once, the
/// slowest hundredth of answers. The same holds for each compressed copy
/// of a new answer, made by the first request for its coding
/// ([`Answer::respond_or`]). A request with no previous answer waits.
#[derive(Debug)]
pub struct Answers(ByVersion<Claimed<OnceLock<Arc<Answer>>>>);

impl Default for Answers {
    fn default() -> Self {
        Self(ByVersion::new(MAX_ANSWERS))
    }
}

impl super::AppState {
    /// The answer `key` of the current snapshot, made by `make` once per
    /// snapshot (see [`Answers::respond`]), answered to `request`.
    pub fn answer(
        &self,
        key: &str,
        request: &HeaderMap,
        make: impl FnOnce(&PublicStatus) -> Answer,
    ) -> Response {
        let snapshot = super::extract::snapshot(self);
        self.answers
            .respond(&snapshot, key, request, || make(&snapshot))
    }
}

impl Answers {
    /// The answer `key` of `snapshot`, made by `make` the first time it is
    /// asked for in this snapshot (concurrent first askers wait for that
    /// one), answered to `request`.
    pub fn respond(
        &self,
        snapshot: &PublicStatus,
        key: &str,
        request: &HeaderMap,
        make: impl FnOnce() -> Answer,
    ) -> Response {
        let Some((slot, previous)) = self.0.slot(version_of(snapshot), key) else {
            return make().respond(request);
        };
        let previous = previous
            .as_ref()
            .and_then(|p| p.cell.get())
            .map(Arc::as_ref);
        if let Some(answer) = slot.cell.get() {
            return answer.respond_or(request, previous);
        }
        if !slot.claim() {
            if let Some(answer) = previous {
                return answer.respond(request);
            }
        }
        slot.cell
            .get_or_init(|| Arc::new(make()))
            .respond_or(request, previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};

    fn request(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn an_answer_is_made_once_per_version_and_key() {
        let answers = ByVersion::<OnceLock<u32>>::new(2);
        let made = std::cell::Cell::new(0);
        let get = |version: Version, key: &str| {
            answers.slot(version, key).map(|(slot, previous)| {
                let now = *slot.get_or_init(|| {
                    made.set(made.get() + 1);
                    made.get()
                });
                (now, previous.and_then(|p| p.get().copied()))
            })
        };
        assert_eq!(get((1, false), "a"), Some((1, None)));
        assert_eq!(get((1, false), "a"), Some((1, None)), "kept");
        assert_eq!(get((1, false), "b"), Some((2, None)));
        assert_eq!(get((1, false), "c"), None, "over the limit: not kept");
        assert_eq!(
            get((1, true), "a"),
            Some((3, Some(1))),
            "a new version starts empty, and remembers the one before"
        );
        assert_eq!(get((2, true), "a"), Some((4, Some(3))));
        assert_eq!(
            get((2, true), "b"),
            Some((5, None)),
            "only the version just before"
        );
    }

    #[test]
    fn while_an_answer_is_made_others_get_the_previous_snapshots() {
        let answers = Answers::default();
        let mut snapshot = PublicStatus::empty(app::model::PageInfo::titled("Test"));
        let answer = |text: &'static str| move || Answer::new(StatusCode::OK, "text/plain", text);
        let body = |response: Response| async move {
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let none = HeaderMap::new();
        assert_eq!(
            rt.block_on(body(answers.respond(&snapshot, "k", &none, answer("one")))),
            "one"
        );
        snapshot.generated_at += chrono::Duration::seconds(1);
        // Someone claimed the new snapshot's answer and is making it.
        let (slot, _) = answers.0.slot(version_of(&snapshot), "k").unwrap();
        assert!(slot.claim());
        assert_eq!(
            rt.block_on(body(answers.respond(&snapshot, "k", &none, answer("two")))),
            "one",
            "the previous snapshot's answer meanwhile"
        );
        let _ = slot.cell.set(Arc::new(answer("two")()));
        assert_eq!(
            rt.block_on(body(answers.respond(
                &snapshot,
                "k",
                &none,
                answer("three")
            ))),
            "two"
        );
        // With nothing before it, a request makes the answer itself.
        assert_eq!(
            rt.block_on(body(answers.respond(
                &snapshot,
                "new",
                &none,
                answer("four")
            ))),
            "four"
        );
    }

    #[test]
    fn while_a_coding_is_made_the_previous_answer_with_it_answers() {
        let body = |response: Response| {
            let encoding = response.headers().get(CONTENT_ENCODING).cloned();
            let etag = response.headers()[ETAG].clone();
            let bytes = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                .unwrap();
            (encoding, etag, bytes)
        };
        let br = request(&[(ACCEPT_ENCODING, "br, gzip")]);
        let old = Answer::new(StatusCode::OK, "text/html", "old ".repeat(100)).etag("\"1\"");
        let (_, _, old_br) = body(old.respond(&br));
        let new = Answer::new(StatusCode::OK, "text/html", "new ".repeat(100)).etag("\"2\"");
        // Another request is compressing the new answer in brotli.
        new.body.claim(Coding::Brotli);
        assert_eq!(
            body(new.respond_or(&br, Some(&old))),
            (
                Some(HeaderValue::from_static("br")),
                HeaderValue::from_static("\"1\""),
                old_br
            ),
            "the previous answer, whole, with its own ETag"
        );
        // The previous answer has no gzip copy: the new one is made.
        let gzip = request(&[(ACCEPT_ENCODING, "gzip")]);
        let (encoding, etag, _) = body(new.respond_or(&gzip, Some(&old)));
        assert_eq!(
            (encoding.unwrap(), etag),
            ("gzip".try_into().unwrap(), "\"2\"".try_into().unwrap())
        );
        let (encoding, etag, bytes) = body(new.respond_or(&HeaderMap::new(), Some(&old)));
        assert_eq!(
            (encoding, etag, &bytes[..]),
            (
                None,
                HeaderValue::from_static("\"2\""),
                "new ".repeat(100).as_bytes()
            )
        );
    }

    #[test]
    fn an_answer_revalidates_and_picks_the_coding() {
        let answer = Answer::new(StatusCode::OK, "image/svg+xml", "<svg>".repeat(50))
            .etag("\"abc\"")
            .header(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            );
        let fresh = answer.respond(&request(&[(IF_NONE_MATCH, "\"x\", \"abc\"")]));
        assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(fresh.headers()[ETAG], "\"abc\"");
        assert_eq!(fresh.headers()[header::CACHE_CONTROL], "public, max-age=60");
        assert!(fresh.headers().get(header::CONTENT_TYPE).is_none());

        let plain = answer.respond(&HeaderMap::new());
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()[header::CONTENT_TYPE], "image/svg+xml");
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());

        let brotli = answer.respond(&request(&[(ACCEPT_ENCODING, "gzip, br")]));
        assert_eq!(brotli.headers()[CONTENT_ENCODING], "br");
        assert_eq!(brotli.headers()[ETAG], "\"abc\"");

        let refused = Answer::new(StatusCode::NOT_FOUND, "image/svg+xml", "<svg/>")
            .etag("\"abc\"")
            .respond(&request(&[(IF_NONE_MATCH, "\"abc\"")]));
        assert_eq!(
            refused.status(),
            StatusCode::NOT_FOUND,
            "only a 200 is revalidated"
        );
    }
}
