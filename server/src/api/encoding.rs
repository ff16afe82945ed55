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
use std::sync::{Arc, OnceLock};

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

    /// Has the body in `coding` made on the runtime's blocking pool by the
    /// first caller that asks, and returns at once; the caller answers with
    /// something else meanwhile (the previous snapshot's answer). Outside a
    /// runtime the copy is made before returning.
    ///
    /// Made on the runtime worker, the copy stopped every connection of that
    /// worker: brotli of a new snapshot's page of 100 services took 6–9 ms
    /// a snapshot (`perf` under `SERVICES=100 bench/hot-path.sh`), the
    /// whole of the page's p99. Before that, a second request waiting for
    /// the copy blocked the other worker too.
    pub fn make_aside(self: &Arc<Self>, coding: Coding) {
        let first = match coding {
            Coding::Identity => return,
            Coding::Brotli => self.brotli.claim(),
            Coding::Gzip => self.gzip.claim(),
        };
        if !first {
            return;
        }
        let this = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || this.get(coding))),
            Err(_) => drop(this.get(coding)),
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
    fn a_copy_is_made_aside_once() {
        let encoded = Arc::new(Encoded::new(Bytes::from("status ".repeat(100_000))));
        assert!(encoded.has(Coding::Identity) && !encoded.has(Coding::Brotli));
        // In a runtime: on the blocking pool, by the first caller only.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            encoded.make_aside(Coding::Gzip);
            // Gzip at its best level of 700 KB takes milliseconds; made on
            // this thread, it would be there already.
            assert!(!encoded.has(Coding::Gzip), "made on the caller's thread");
            encoded.make_aside(Coding::Gzip);
            let mut waited = 0;
            while !encoded.has(Coding::Gzip) {
                assert!(waited < 500, "the gzip copy was never made");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                waited += 1;
            }
        });
        let gzip = encoded.get(Coding::Gzip);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut text)
            .unwrap();
        assert_eq!(text.as_bytes(), &encoded.identity()[..]);
        assert!(!encoded.gzip.claim(), "claimed once, by the first call");
        // Outside a runtime: made before returning.
        encoded.make_aside(Coding::Brotli);
        assert!(encoded.has(Coding::Brotli));
        encoded.make_aside(Coding::Identity);
    }
}
