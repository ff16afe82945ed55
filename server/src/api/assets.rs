//! The built front end and the other files of the site root.
//!
//! - The module, WebAssembly and stylesheet (`pkg/upbeat.{js,wasm,css}`)
//!   are opened once at start, with the brotli and gzip copies that
//!   `scripts/build.sh` writes beside them (`upbeat.wasm.br`), and served
//!   under names carrying a hash of their content
//!   (`/pkg/upbeat.3f9c0a1b2c4d5e6f.wasm`), cached by browsers for a year
//!   (`immutable`). A new build has new names, so nobody runs a stale mix.
//!   The plain names answer too, revalidated on every use (`no-cache`), for
//!   pages someone kept from before.
//! - With both copies there, each answer reads its coding from disk through
//!   the descriptor opened at start: a browser fetches these once per build,
//!   so holding the 1 MB of the three codings in memory for the process's
//!   life cost more than the read (bench/memory.sh; README → Memory). A
//!   file replaced by rename keeps being served as it was at start; one
//!   rewritten in place (its length or modification time changed) is
//!   refused with `503` and an error in the log: restart to serve the new
//!   build.
//! - A precompressed copy is used only when it is at least as new as the
//!   file; without one, the file is kept in memory and a copy is
//!   compressed (at a lower level) on first use, and start-up says so.
//! - Every other file under the site root (icons, a logo from `public/`) is
//!   served from disk, its precompressed copy when there is one, cached for
//!   an hour.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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
    body: Body,
}

/// Where an asset's codings are read from.
#[derive(Debug)]
enum Body {
    /// The file and both precompressed copies, read for each answer.
    OnDisk(Arc<Codings>),
    /// A copy is missing or stale: the file in memory, copies made on first
    /// use.
    InMemory(Encoded),
}

/// The file and its precompressed copies, opened at start.
#[derive(Debug)]
struct Codings {
    identity: OnDisk,
    brotli: OnDisk,
    gzip: OnDisk,
}

impl Codings {
    fn get(&self, coding: Coding) -> &OnDisk {
        match coding {
            Coding::Brotli => &self.brotli,
            Coding::Gzip => &self.gzip,
            Coding::Identity => &self.identity,
        }
    }
}

/// A file opened at start, read whole for each answer.
#[derive(Debug)]
struct OnDisk {
    path: PathBuf,
    file: File,
    len: u64,
    modified: SystemTime,
}

impl OnDisk {
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(Self {
            path: path.to_owned(),
            len: meta.len(),
            modified: meta.modified()?,
            file,
        })
    }

    /// The file as it was at start; an error when it was rewritten since
    /// (the descriptor follows the file, so its length or modification
    /// time tells).
    fn read(&self) -> std::io::Result<Bytes> {
        let meta = self.file.metadata()?;
        if meta.len() != self.len || meta.modified()? != self.modified {
            return Err(std::io::Error::other("changed on disk since start"));
        }
        let len = usize::try_from(self.len).map_err(std::io::Error::other)?;
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, 0)?;
        Ok(Bytes::from(bytes))
    }
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
fn fresh_copy(path: &Path, source: SystemTime) -> Option<OnDisk> {
    let copy = OnDisk::open(path).ok()?;
    if copy.modified < source {
        tracing::warn!(file = %path.display(), "precompressed copy is older than its file; ignored");
        return None;
    }
    Some(copy)
}

/// The file at `path`: its content (for the hash) and the descriptor it
/// was read through.
fn read_file(path: &Path) -> std::io::Result<(Vec<u8>, OnDisk)> {
    let mut opened = OnDisk::open(path)?;
    let mut content = Vec::new();
    (&opened.file).read_to_end(&mut content)?;
    opened.len = content.len() as u64;
    Ok((content, opened))
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
            let Ok((identity, opened)) = read_file(&path) else {
                tracing::warn!(file = %path.display(), "front-end file missing; pages are served without it (build with scripts/build.sh)");
                continue;
            };
            let digest = Sha256::digest(&identity);
            let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let brotli = fresh_copy(&path.with_file_name(format!("{file}.br")), opened.modified);
            let gzip = fresh_copy(&path.with_file_name(format!("{file}.gz")), opened.modified);
            let body = match (brotli, gzip) {
                (Some(brotli), Some(gzip)) => Body::OnDisk(Arc::new(Codings {
                    identity: opened,
                    brotli,
                    gzip,
                })),
                (brotli, gzip) => {
                    uncompressed.push(file.clone());
                    let read = |copy: Option<OnDisk>| copy.and_then(|c| c.read().ok());
                    Body::InMemory(Encoded::precompressed(
                        Bytes::from(identity),
                        read(brotli),
                        read(gzip),
                    ))
                }
            };
            let asset = Arc::new(Asset {
                content_type,
                hash: hash.clone(),
                body,
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
    pub async fn respond(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let (asset, hashed) = self.by_path.get(path)?;
        let coding = Coding::accepted(headers);
        let etag = match coding.token() {
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
            let mut response = match &asset.body {
                Body::InMemory(body) => body.respond(headers),
                Body::OnDisk(codings) => match read_coding(Arc::clone(codings), coding).await {
                    Ok(bytes) => Encoded::coded(bytes, coding),
                    Err(response) => return Some(response),
                },
            };
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

/// `coding` of an on-disk asset, read off the async workers; `503` when it
/// cannot be read as it was at start.
async fn read_coding(codings: Arc<Codings>, coding: Coding) -> Result<Bytes, Response> {
    let read = tokio::task::spawn_blocking(move || {
        let copy = codings.get(coding);
        copy.read().map_err(|e| (copy.path.clone(), e))
    })
    .await;
    match read {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err((path, error))) => {
            tracing::error!(file = %path.display(), %error, "front-end file unreadable; restart to serve the new build");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        Err(error) => {
            tracing::error!(%error, "reading a front-end file failed");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}
