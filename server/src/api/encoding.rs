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

use std::collections::HashMap;
use std::io::Write;
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

/// Whether `accept` (an `Accept-Encoding` value) allows a coding, by name.
fn acceptance(accept: &str) -> impl Fn(&str) -> bool {
    let mut allowed: HashMap<String, bool> = HashMap::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        allowed.insert(name, !refused);
    }
    move |name: &str| {
        allowed
            .get(name)
            .or_else(|| allowed.get("*"))
            .copied()
            .unwrap_or(false)
    }
}

/// A body and its brotli and gzip copies, each made once when first asked
/// for (or given, when precompressed).
#[derive(Debug, Default)]
pub struct Encoded {
    identity: Bytes,
    brotli: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
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
            let _ = encoded.brotli.set(b);
        }
        if let Some(g) = gzip {
            let _ = encoded.gzip.set(g);
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
            Coding::Brotli => self
                .brotli
                .get_or_init(|| compress_brotli(&self.identity))
                .clone(),
            Coding::Gzip => self
                .gzip
                .get_or_init(|| compress_gzip(&self.identity))
                .clone(),
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
}
