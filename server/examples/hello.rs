//! The ceiling for HTTP benchmarks: a plain axum "hello, world" built with
//! the same profile and runtime as the server. Listens on the address given
//! as the first argument. Answers `GET /` and `POST /` (the alerts bench
//! delivers webhooks to it).
//!
//! `hello ADDR BODY HEADERS` is the ceiling for one given answer instead:
//! every `GET`, whatever its path, gets the bytes of the file BODY with the
//! headers in the file HEADERS (`name: value` lines, as `curl -D` writes
//! them; the status line and the framing headers are skipped). So a
//! benchmark can tell what sending exactly the server's bytes costs here,
//! apart from what the server does to pick them (`bench/hot-path.sh`).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3999".to_owned());
    let app = match (args.next(), args.next()) {
        (Some(body), Some(headers)) => {
            let body = Bytes::from(std::fs::read(body)?);
            let headers = read_headers(&std::fs::read_to_string(headers)?);
            Router::new().fallback(get(move || async move { (headers, body) }))
        }
        _ => Router::new().route(
            "/",
            get(|| async { "Hello, world!" }).post(|| async { "Hello, world!" }),
        ),
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// The headers of a `curl -D` dump, without the status line and without
/// what hyper sets itself (length, framing, date).
fn read_headers(dump: &str) -> HeaderMap {
    let framing = ["content-length", "transfer-encoding", "connection", "date"];
    dump.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| !framing.contains(&name.trim().to_ascii_lowercase().as_str()))
        .filter_map(|(name, value)| {
            Some((
                HeaderName::try_from(name.trim()).ok()?,
                HeaderValue::try_from(value.trim()).ok()?,
            ))
        })
        .collect()
}
