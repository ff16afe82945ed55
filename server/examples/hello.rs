//! The ceiling for HTTP benchmarks: a plain axum "hello, world" built with
//! the same profile and runtime as the server. Listens on the address given
//! as the first argument. Answers `GET /` and `POST /` (the alerts bench
//! delivers webhooks to it).

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3999".to_owned());
    let app = Router::new().route(
        "/",
        get(|| async { "Hello, world!" }).post(|| async { "Hello, world!" }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
