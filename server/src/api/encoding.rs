//! Bodies that are sent many times, kept with their compressed copies.
//!
//! Compressing a 100 KB page on every request would cost more than
//! everything else the request does (at 50 connections `/` fell from 40,000
//! to 1,000 answers a second). So the pages of a snapshot, its
//! `/public/status` JSON and the built front end are each compressed once,
//! on the first request that accepts brotli or gzip, and every later answer
//! is a copy of those bytes. Everything else goes through the response
//! compression layer, which leaves answers that carry a `Content-Encoding`
//! alone.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Brotli quality for bodies compressed while serving: 1–2 ms for a 100 KB
/// page, within 2 % of quality 9's size. (The built front end is
/// precompressed at 11 at build time.)
const BROTLI_QUALITY: u32 = 5;

/// A content coding of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The `Content-Encoding` token, none for identity.
    pub const fn token(self) -> Option<&'static str> {
        match self {
            Self::Brotli => Some("br"),
            Self::Gzip => Some("gzip"),
            Self::Identity => None,
        }
    }

    /// The best coding the request's `Accept-Encoding` allows.
    pub fn accepted(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        pick(accept)
    }
}

/// The best coding for `accept` (an `Accept-Encoding` value): brotli, then
/// gzip, then none. A coding with `q=0` is refused; `*` stands for any
/// coding not named.
pub fn pick(accept: &str) -> Coding {
    let accepts = acceptance(accept);
    if accepts("br") {
        Coding::Brotli
    } else if accepts("gzip") {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Whether the request's `Accept-Encoding` allows the coding `token`.
pub fn accepts(headers: &HeaderMap, token: &str) -> bool {
    let accept = headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    acceptance(accept)(token)
}

/// Whether `accept` (an `Accept-Encoding` value) allows a coding, by name:
/// its last mention decides, else `*`'s. Read in place, without copying
/// the header: every request for a cached answer asks it.
fn acceptance(accept: &str) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        let (mut named, mut any) = (None, None);
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or_default().trim();
            let slot = if token.eq_ignore_ascii_case(name) {
                &mut named
            } else if token == "*" {
                &mut any
            } else {
                continue;
            };
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            *slot = Some(!refused);
        }
        named.or(any).unwrap_or(false)
    }
}

/// A body and its brotli and gzip copies, each made once when first asked
/// for (or given, when precompressed).
#[derive(Debug, Default)]
pub struct Encoded {
    identity: Bytes,
    brotli: Compressed,
    gzip: Compressed,
}

/// A value made once by whoever claims it first.
#[derive(Debug, Default)]
pub struct Claimed<C> {
    pub cell: C,
    claimed: AtomicBool,
}

impl<C> Claimed<C> {
    /// True for the first caller only.
    pub fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }
}

/// One compressed copy, made by the first caller that asks for it.
type Compressed = Claimed<OnceLock<Bytes>>;

impl Compressed {
    /// The copy, made by `make` unless it is at hand; a caller that finds
    /// another one making it waits.
    fn get(&self, make: impl FnOnce() -> Bytes) -> Bytes {
        self.cell
            .get_or_init(|| {
                self.claim();
                make()
            })
            .clone()
    }

    /// The copy without waiting: `None` while another caller makes it.
    fn try_get(&self, make: impl FnOnce() -> Bytes) -> Option<Bytes> {
        if let Some(bytes) = self.cell.get() {
            return Some(bytes.clone());
        }
        self.claim().then(|| self.get(make))
    }
}

impl Encoded {
    pub fn new(identity: Bytes) -> Self {
        Self {
            identity,
            ..Self::default()
        }
    }

    /// With copies compressed beforehand; a missing one is made on demand.
    pub fn precompressed(identity: Bytes, brotli: Option<Bytes>, gzip: Option<Bytes>) -> Self {
        let encoded = Self::new(identity);
        if let Some(b) = brotli {
            let _ = encoded.brotli.cell.set(b);
        }
        if let Some(g) = gzip {
            let _ = encoded.gzip.cell.set(g);
        }
        encoded
    }

    pub fn identity(&self) -> &Bytes {
        &self.identity
    }

    /// The body in `coding`. Compresses on the first call for a coding;
    /// concurrent first callers wait for that one compression.
    pub fn get(&self, coding: Coding) -> Bytes {
        match coding {
            Coding::Identity => self.identity.clone(),
            Coding::Brotli => self.brotli.get(|| compress_brotli(&self.identity)),
            Coding::Gzip => self.gzip.get(|| compress_gzip(&self.identity)),
        }
    }

    /// The body in `coding` without waiting for anyone: `None` while
    /// another caller is compressing it. The first caller for a coding
    /// compresses it, as with [`Encoded::get`].
    ///
    /// Waiting blocks the thread, a runtime worker: when a new snapshot's
    /// page was first asked for by both workers at once, both stood still
    /// for its compression, and every connection with them.
    ///
    /// The first caller compresses on its own thread, rather than on the
    /// blocking pool while the previous snapshot's answer serves it: that
    /// was tried, and a lone request just after a change (an editor
    /// resolving an incident, then reloading) got the snapshot from before
    /// the change. Whoever asks first gets the new answer.
    pub fn try_get(&self, coding: Coding) -> Option<Bytes> {
        match coding {
            Coding::Identity => Some(self.identity.clone()),
            Coding::Brotli => self.brotli.try_get(|| compress_brotli(&self.identity)),
            Coding::Gzip => self.gzip.try_get(|| compress_gzip(&self.identity)),
        }
    }

    /// Marks `coding` as being made by someone else, as a test's stand-in
    /// for a concurrent request.
    #[cfg(test)]
    pub fn claim(&self, coding: Coding) {
        match coding {
            Coding::Identity => {}
            Coding::Brotli => _ = self.brotli.claim(),
            Coding::Gzip => _ = self.gzip.claim(),
        }
    }

    /// Whether the body in `coding` is at hand, made or given.
    pub fn has(&self, coding: Coding) -> bool {
        match coding {
            Coding::Identity => true,
            Coding::Brotli => self.brotli.cell.get().is_some(),
            Coding::Gzip => self.gzip.cell.get().is_some(),
        }
    }

    /// An answer with the body in the best coding the request accepts,
    /// marked so that caches keep one copy per coding.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        let coding = Coding::accepted(request);
        Self::coded(self.get(coding), coding)
    }

    /// An answer with `body`, which is in `coding`, marked so that caches
    /// keep one copy per coding.
    pub fn coded(body: Bytes, coding: Coding) -> Response {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        if let Some(token) = coding.token() {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        response
    }
}

fn compress_brotli(body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() / 4);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, 22);
        // Writing to memory cannot fail.
        let _ = writer.write_all(body);
    }
    Bytes::from(out)
}

fn compress_gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3),
        flate2::Compression::best(),
    );
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_best_accepted_coding_is_picked() {
        use Coding::{Brotli, Gzip, Identity};
        let cases = [
            ("gzip, deflate, br, zstd", Brotli),
            ("gzip, deflate", Gzip),
            ("br;q=0, gzip", Gzip),
            ("br;q=0.5, gzip;q=1", Brotli),
            ("BR", Brotli),
            ("*", Brotli),
            ("*, br;q=0", Gzip),
            ("identity", Identity),
            ("", Identity),
            ("gzip;q=0", Identity),
            ("deflate, zstd", Identity),
        ];
        for (accept, want) in cases {
            assert_eq!(pick(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn compressed_copies_decompress_to_the_body() {
        let body = Bytes::from("<p>All Systems Operational</p>\n".repeat(500));
        let encoded = Encoded::new(body.clone());
        let br = encoded.get(Coding::Brotli);
        assert!(br.len() < body.len() / 10, "{}", br.len());
        let mut out = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let gz = encoded.get(Coding::Gzip);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        // Made once: the same bytes again.
        assert_eq!(encoded.get(Coding::Brotli).as_ptr(), br.as_ptr());
        assert_eq!(encoded.get(Coding::Identity), body);
    }

    #[test]
    fn given_copies_are_used_as_they_are() {
        let encoded = Encoded::precompressed(
            Bytes::from_static(b"body"),
            Some(Bytes::from_static(b"BR")),
            None,
        );
        assert_eq!(encoded.get(Coding::Brotli), Bytes::from_static(b"BR"));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&encoded.get(Coding::Gzip)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"body");
    }

    #[test]
    fn a_copy_being_made_is_not_waited_for() {
        let encoded = Encoded::new(Bytes::from("status ".repeat(100_000)));
        assert!(encoded.has(Coding::Identity) && !encoded.has(Coding::Brotli));
        // Someone else is compressing the gzip copy: no copy, at once.
        let (started, finish) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                encoded.gzip.get(|| {
                    started.wait();
                    finish.wait();
                    compress_gzip(encoded.identity())
                })
            });
            started.wait();
            assert_eq!(encoded.try_get(Coding::Gzip), None, "while it is made");
            assert_eq!(
                encoded.try_get(Coding::Identity).as_ref(),
                Some(encoded.identity())
            );
            finish.wait();
        });
        assert!(encoded.has(Coding::Gzip));
        assert_eq!(
            encoded.try_get(Coding::Gzip),
            Some(encoded.get(Coding::Gzip))
        );
        // The first caller for a coding makes it.
        let br = encoded
            .try_get(Coding::Brotli)
            .expect("made by the first caller");
        assert!(encoded.has(Coding::Brotli));
        assert_eq!(encoded.get(Coding::Brotli).as_ptr(), br.as_ptr());
    }
}
