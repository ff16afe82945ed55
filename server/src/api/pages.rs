//! The pages, rendered by Leptos on the server from the snapshot, and the
//! files of the site root.
//!
//! Each page route renders the whole document ([`app::shell`]) with the
//! current snapshot, the addresses of the built front end and what else the
//! page shows, loaded from the database beforehand (the month on
//! `/history`, an incident too old to be in the snapshot), so rendering
//! itself never waits. Anything else is a file of the site root or the 404
//! page. The page cache (see [`super::page_cache`]) sits in front of all of
//! this.

use std::sync::Arc;

use app::model::{Loaded, PageData};
use app::route::Route;
use app::ssr::{Preloaded, StatusSource};
use axum::extract::{Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::assets::SITE_FILE;
use super::AppState;
use crate::domain::listing::{scoped, Scope};

/// The page routes, the built front end under `/pkg/`, and the other files
/// of the site root with the 404 page as the fallback.
pub fn router() -> Router<AppState> {
    // Leptos spawns its rendering tasks on tokio (set once per process).
    let _ = any_spawner::Executor::init_tokio();
    Router::new()
        .route("/", get(page))
        .route("/services/{slug}", get(page))
        .route("/groups/{slug}", get(page))
        .route("/incidents/{id}", get(incident))
        .route("/history", get(history))
        .route("/pkg/{file}", get(site_file))
        .fallback(site_file)
}

async fn page(State(state): State<AppState>, request: Request) -> Response {
    render(&state, None, request).await
}

/// `/history[?month=YYYY-MM]`: the month is loaded before rendering.
async fn history(State(state): State<AppState>, request: Request) -> Response {
    let month = match Route::parse(request.uri().path(), request.uri().query()) {
        Route::History(month) => month,
        _ => None,
    };
    let loaded = match super::public::load_history(&state, month.as_deref()).await {
        Ok(month) => Loaded::Found(month),
        Err(e) if e.status.is_client_error() => Loaded::Missing,
        // Logged where the error was made.
        Err(_) => Loaded::Unavailable,
    };
    render(&state, Some(PageData::History(loaded)), request).await
}

/// `/incidents/{id}`: from the snapshot while the incident is active or
/// recent, from the database once it is older.
async fn incident(State(state): State<AppState>, request: Request) -> Response {
    let id = match Route::parse(request.uri().path(), request.uri().query()) {
        Route::Incident(Some(id)) => id,
        _ => return render(&state, None, request).await,
    };
    if state.snapshot.borrow().incident(id).is_some() {
        return render(&state, None, request).await;
    }
    let loaded = match state.store.incident(id).await {
        Ok(Some(incident)) => Loaded::Found(incident),
        Ok(None) => Loaded::Missing,
        Err(err) => {
            tracing::warn!(incident.id = id, error = %err, "incident page: database unavailable");
            Loaded::Unavailable
        }
    };
    render(&state, Some(PageData::Incident(loaded)), request).await
}

/// A built front-end file, another file of the site root, or the 404 page.
async fn site_file(State(state): State<AppState>, request: Request) -> Response {
    if let Some(response) = state
        .assets
        .respond(request.uri().path(), request.headers())
        .await
    {
        return response;
    }
    let (parts, body) = request.into_parts();
    let probe = Request::from_parts(parts.clone(), axum::body::Body::empty());
    let files = ServeDir::new(&*state.site_root)
        .append_index_html_on_directories(false)
        .precompressed_br()
        .precompressed_gzip();
    let Ok(mut response) = files.oneshot(probe).await;
    if response.status() != StatusCode::NOT_FOUND {
        if response.status().is_success() {
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(SITE_FILE));
        }
        return response.map(axum::body::Body::new);
    }
    render(&state, None, Request::from_parts(parts, body)).await
}

/// Renders the document for `request`.
async fn render(state: &AppState, data: Option<PageData>, request: Request) -> Response {
    // One snapshot for the whole render: head and body agree. A large
    // page gets the part of the services it shows.
    let source = {
        let snapshot = Arc::clone(&state.snapshot.borrow());
        let route = Route::parse(request.uri().path(), request.uri().query());
        let document = scoped(&snapshot, Scope::of(&route), state.max_listed);
        StatusSource::new(move || Arc::clone(&document))
    };
    let assets = state.assets.urls().cloned();
    let sentry = state
        .sentry
        .as_ref()
        .map(|tunnel| app::ssr::SentryDsn(tunnel.dsn().to_owned()));
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(source.clone());
            if let Some(urls) = assets.clone() {
                provide_context(urls);
            }
            if let Some(dsn) = sentry.clone() {
                provide_context(dsn);
            }
            if let Some(data) = data.clone() {
                provide_context(Preloaded(data));
            }
        },
        app::shell,
    );
    let (parts, body) = handler(request).await.into_response().into_parts();
    // The async render is one chunk of document and then the chunks of the
    // values shared with hydration, so collecting it costs one copy.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(document) => Response::from_parts(parts, close_document(document).into()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Moves what Leptos writes after `</html>` (the `<script>`s carrying the
/// values shared with hydration) to just before `</body>`: nothing may
/// follow `</html>` in a valid document, and browsers would move it into
/// the body anyway, so hydration reads the same thing.
fn close_document(document: axum::body::Bytes) -> axum::body::Bytes {
    const END: &[u8] = b"</body></html>";
    let Some(at) = memchr::memmem::rfind(&document, END) else {
        return document;
    };
    let tail = &document[at + END.len()..];
    if tail.iter().all(u8::is_ascii_whitespace) {
        return document;
    }
    let mut moved = Vec::with_capacity(document.len());
    moved.extend_from_slice(&document[..at]);
    moved.extend_from_slice(tail);
    moved.extend_from_slice(END);
    moved.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_the_document_moves_into_its_body() {
        #[rustfmt::skip]
        let cases = [
            ("<html><body><p>x</p></body></html><script>a</script><script>b</script>",
             "<html><body><p>x</p><script>a</script><script>b</script></body></html>"),
            ("<html><body></body></html>", "<html><body></body></html>"),
            ("<html><body></body></html>\n", "<html><body></body></html>\n"),
            ("not a document", "not a document"),
        ];
        for (before, after) in cases {
            let closed = close_document(axum::body::Bytes::from_static(before.as_bytes()));
            assert_eq!(std::str::from_utf8(&closed).unwrap(), after);
        }
    }
}
