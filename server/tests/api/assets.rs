//! The built front end: hashed names in the page, precompressed copies,
//! year-long caching of hashed names, revalidation of plain ones, and the
//! other files of the site root.

use std::io::Write;
use std::time::Duration;

use sha2::Digest;

use crate::helpers::{one_service_config, Backend, Target, TestApp, TestDb};

/// A site root like the one `scripts/build.sh` makes, with a brotli copy of
/// the WebAssembly that is older than the file (a stale build).
fn site_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let pkg = root.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(pkg.join(name), bytes).unwrap();
    write("upbeat.js", b"export default function init() {}\n");
    write("upbeat.css", b"body{margin:0}\n");
    write("upbeat.css.br", b"precompressed css");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"body{margin:0}\n").unwrap();
    write("upbeat.css.gz", &gz.finish().unwrap());
    write("upbeat.wasm.br", b"stale");
    // An hour older than written, by the file system's own clock.
    let written = std::fs::metadata(pkg.join("upbeat.wasm.br"))
        .and_then(|m| m.modified())
        .unwrap();
    let old = written - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(pkg.join("upbeat.wasm.br"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    write("upbeat.wasm", &[0, 97, 115, 109, 1, 0, 0, 0].repeat(200));
    std::fs::write(root.path().join("favicon-none.svg"), "<svg/>").unwrap();
    std::fs::write(root.path().join("favicon-none.svg.br"), "svg in brotli").unwrap();
    root
}

fn hash(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_front_end_is_served_under_hashed_names_and_precompressed() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let target = Target::start(200).await;
    let root = site_root();
    let config = format!(
        "[server]\nsite_root = {:?}\n{}",
        root.path().display().to_string(),
        one_service_config(&target.url(), "60s")
    );
    let app = TestApp::spawn(&config, &db.url).await;
    let read = |name: &str| std::fs::read(root.path().join("pkg").join(name)).unwrap();
    let (js, css, wasm) = (
        format!("/pkg/upbeat.{}.js", hash(&read("upbeat.js"))),
        format!("/pkg/upbeat.{}.css", hash(&read("upbeat.css"))),
        format!("/pkg/upbeat.{}.wasm", hash(&read("upbeat.wasm"))),
    );

    // The page links the hashed names and loads the module that way.
    let (_, headers, html) = app.get_full("/").await;
    for link in [
        format!(r#"<link rel="stylesheet" href="{css}">"#),
        format!(r#"<link rel="modulepreload" href="{js}">"#),
        format!(
            r#"<link rel="preload" href="{wasm}" as="fetch" type="application/wasm" crossorigin="">"#
        ),
        format!(r#"import("{js}").then(m=>m.default({{module_or_path:"{wasm}"}})"#),
    ] {
        assert!(html.contains(&link), "{link} in {html}");
    }
    crate::helpers::assert_inline_allowed(&headers, &html);

    let get = |path: String, accept: &'static str| {
        let request = app
            .client
            .get(app.url(&path))
            .header("accept-encoding", accept);
        async move {
            let response = request.send().await.unwrap();
            let headers = response.headers().clone();
            (response.status(), headers, response.bytes().await.unwrap())
        }
    };
    // Hashed names: a year, immutable; the precompressed copy as it is.
    let (status, headers, body) = get(css.clone(), "gzip, deflate, br").await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(&body[..], b"precompressed css");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (_, headers, body) = get(css.clone(), "gzip").await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(
        crate::helpers::decompress("gzip", &body),
        "body{margin:0}\n"
    );
    assert_ne!(
        headers["etag"].to_str().unwrap(),
        etag,
        "one tag per coding"
    );
    // Revalidation.
    let response = app
        .client
        .get(app.url(&css))
        .header("accept-encoding", "br")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    // A copy older than its file is not used: compressed from the file.
    let (_, headers, body) = get(wasm.clone(), "br").await;
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(headers["content-type"], "application/wasm");
    assert_ne!(&body[..], b"stale");
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut brotli::Decompressor::new(&body[..], 4096),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked, read("upbeat.wasm"));
    // No coding accepted: the file itself.
    let (_, headers, body) = get(js.clone(), "identity").await;
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(&body[..], &read("upbeat.js")[..]);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    // Plain names still answer, but are checked on every use.
    let (status, headers, _) = get("/pkg/upbeat.wasm".to_owned(), "br").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-cache");
    // Other files of the site root: an hour, precompressed when possible.
    let (status, headers, body) = get("/favicon-none.svg".to_owned(), "br").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(&body[..], b"svg in brotli");
    // Read from disk as they were at start: a copy replaced by rename
    // still answers with the bytes opened then; one rewritten in place is
    // refused rather than served under the old hash.
    let pkg = root.path().join("pkg");
    std::fs::write(pkg.join("next.css.gz"), b"another build").unwrap();
    std::fs::rename(pkg.join("next.css.gz"), pkg.join("upbeat.css.gz")).unwrap();
    let (status, _, body) = get(css.clone(), "gzip").await;
    assert_eq!(status, 200);
    assert_eq!(
        crate::helpers::decompress("gzip", &body),
        "body{margin:0}\n"
    );
    std::fs::write(pkg.join("upbeat.css.br"), b"rewritten in place").unwrap();
    let (status, headers, _) = get(css.clone(), "br").await;
    assert_eq!(status, 503);
    assert!(headers.get("cache-control").is_none());
    // Anything else is the 404 page.
    for path in [
        "/pkg/upbeat.0000000000000000.wasm",
        "/pkg/",
        "/pkg",
        "/pkg/../Cargo.toml",
    ] {
        let (status, _, body) = get(path.to_owned(), "identity").await;
        assert_eq!(status, 404, "{path}");
        assert!(
            String::from_utf8_lossy(&body).contains("Page not found"),
            "{path}"
        );
    }
    app.stop().await;
}
