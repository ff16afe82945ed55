//! The built front end and the other files of the site root.
//!
//! - The module, WebAssembly and stylesheet (`pkg/upbeat.{js,wasm,css}`)
//!   are read once at start, with the brotli and gzip copies that
//!   `scripts/build.sh` writes beside them (`upbeat.wasm.br`), and
//!   served from memory under names carrying a hash of their content
//!   (`/pkg/upbeat.3f9c0a1b2c4d5e6f.wasm`), cached by browsers for a year
//!   (`immutable`). A new build has new names, so nobody runs a stale mix.
//!   The plain names answer too, revalidated on every use (`no-cache`), for
//!   pages someone kept from before.
//! - A precompressed copy is used only when it is at least as new as the
//!   file; without one, a copy is compressed (at a lower level) on first
//!   use, and start-up says so.
//! - Every other file under the site root (icons, a logo from `public/`) is
//!   served from disk, its precompressed copy when there is one, cached for
//!   an hour.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use app::ssr::AssetUrls;
use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::encoding::{Coding, Encoded};

/// The name cargo-leptos gives the built files (`output-name`).
pub const OUTPUT_NAME: &str = "upbeat";

/// How long browsers keep files whose names carry their hash.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Files served under their plain names: use, but check first.
const REVALIDATE: &str = "no-cache";
/// Other files of the site root (icons, logo): they may be replaced.
pub const SITE_FILE: &str = "public, max-age=3600";

/// One built file, with its compressed copies.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    hash: String,
    body: Encoded,
}

/// The front end, loaded at start.
#[derive(Default)]
pub struct SiteAssets {
    /// By path (`/pkg/upbeat.<hash>.wasm` and `/pkg/upbeat.wasm`), with
    /// whether that name is the hashed one.
    by_path: HashMap<String, (Arc<Asset>, bool)>,
    /// What pages link to.
    urls: Option<AssetUrls>,
}

impl std::fmt::Debug for SiteAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteAssets")
            .field("urls", &self.urls)
            .finish()
    }
}

/// The copy at `path` when it is at least as new as the file it compresses
/// (modified at `source`).
fn fresh_copy(path: &Path, source: std::time::SystemTime) -> Option<Bytes> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    if modified < source {
        tracing::warn!(file = %path.display(), "precompressed copy is older than its file; ignored");
        return None;
    }
    std::fs::read(path).ok().map(Bytes::from)
}

impl SiteAssets {
    /// Reads `pkg/` of `site_root`. A missing file is not fatal: it is
    /// left out with a warning, and unless all three are there pages link
    /// none of them (they are complete without JavaScript or styles).
    pub fn load(site_root: &Path) -> Self {
        let mut assets = Self::default();
        let mut urls = HashMap::new();
        let mut uncompressed = Vec::new();
        for (ext, content_type) in [
            ("js", "text/javascript; charset=utf-8"),
            ("wasm", "application/wasm"),
            ("css", "text/css; charset=utf-8"),
        ] {
            let file = format!("{OUTPUT_NAME}.{ext}");
            let path = site_root.join("pkg").join(&file);
            let (Ok(identity), Ok(modified)) = (
                std::fs::read(&path),
                std::fs::metadata(&path).and_then(|m| m.modified()),
            ) else {
                tracing::warn!(file = %path.display(), "front-end file missing; pages are served without it (build with scripts/build.sh)");
                continue;
            };
            let digest = Sha256::digest(&identity);
            let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let brotli = fresh_copy(&path.with_file_name(format!("{file}.br")), modified);
            let gzip = fresh_copy(&path.with_file_name(format!("{file}.gz")), modified);
            if brotli.is_none() || gzip.is_none() {
                uncompressed.push(file.clone());
            }
            let asset = Arc::new(Asset {
                content_type,
                hash: hash.clone(),
                body: Encoded::precompressed(Bytes::from(identity), brotli, gzip),
            });
            let hashed = format!("/pkg/{OUTPUT_NAME}.{hash}.{ext}");
            assets
                .by_path
                .insert(format!("/pkg/{file}"), (Arc::clone(&asset), false));
            assets.by_path.insert(hashed.clone(), (asset, true));
            urls.insert(ext, hashed);
        }
        if !uncompressed.is_empty() {
            tracing::warn!(files = ?uncompressed, "front-end files without precompressed copies are compressed at a lower level on first use (build with scripts/build.sh)");
        }
        if let (Some(js), Some(wasm), Some(css)) =
            (urls.remove("js"), urls.remove("wasm"), urls.remove("css"))
        {
            assets.urls = Some(AssetUrls { js, wasm, css });
        }
        assets
    }

    /// The addresses pages link to, when the front end is built.
    pub fn urls(&self) -> Option<&AssetUrls> {
        self.urls.as_ref()
    }

    /// The answer for `path`, or `None` when it is not a built file.
    pub fn respond(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let (asset, hashed) = self.by_path.get(path)?;
        let etag = match Coding::accepted(headers).token() {
            Some(token) => format!("\"{}-{token}\"", asset.hash),
            None => format!("\"{}\"", asset.hash),
        };
        let mut response = if super::answers::if_none_match(headers, &etag) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(VARY, HeaderValue::from_static("accept-encoding"));
            response
        } else {
            let mut response = asset.body.respond(headers);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            response
        };
        let h = response.headers_mut();
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(if *hashed { IMMUTABLE } else { REVALIDATE }),
        );
        if let Ok(value) = HeaderValue::from_str(&etag) {
            h.insert(ETAG, value);
        }
        Some(response)
    }
}
