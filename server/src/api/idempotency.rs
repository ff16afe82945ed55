//! `Idempotency-Key` on admin `POST`s, so that a script that retries after a
//! timeout does not open an incident twice.
//!
//! - A key is 1 to 255 visible ASCII characters, scoped to the acting
//!   token and remembered for 24 hours, in the database (so every replica
//!   sees it).
//! - The first request with a key runs; its answer is kept if it succeeded
//!   (2xx). Retries with the same key, path and body get that answer again,
//!   with `Idempotent-Replayed: true`, and change nothing.
//! - A failed first request (4xx, 5xx) keeps nothing: fixing the request and
//!   retrying with the same key runs it.
//! - The same key with another path or body answers `422`; while the first
//!   request is still running, a retry answers `409`. A claim whose request
//!   died unanswered is released after a minute.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::Actor;
use super::error::ApiError;
use super::AppState;
use crate::store::{IdempotencyClaim, KeptResponse};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// Largest admin request body read (bodies are a title and some Markdown).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

fn key_error(code: &'static str, status: StatusCode, message: &str) -> Response {
    ApiError {
        status,
        code,
        message: message.to_owned(),
        field: Some("Idempotency-Key".to_owned()),
    }
    .into_response()
}

/// The key, checked: 1 to 255 visible ASCII characters.
fn parse_key(raw: &HeaderValue) -> Option<String> {
    let key = raw.to_str().ok()?.trim();
    (!key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| key.to_owned())
}

/// SHA-256 of what makes two requests the same one, hex.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update([0]);
    hash.update(path.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn replay(kept: KeptResponse) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (REPLAYED, HeaderValue::from_static("true")),
        ],
        kept.body,
    )
        .into_response();
    if let Some(location) = kept.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Middleware over the admin routes.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw) = request.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(request).await;
    };
    let Some(key) = parse_key(raw) else {
        return key_error(
            "invalid_field",
            StatusCode::BAD_REQUEST,
            "must be 1 to 255 visible ASCII characters",
        );
    };
    let (mut parts, body) = request.into_parts();
    // Authenticate first: keys belong to a token, and unauthenticated
    // requests must not reach the database.
    let admin = match Actor::from_request_parts(&mut parts, &state).await {
        Ok(admin) => admin,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            field: Some("body".to_owned()),
        }
        .into_response();
    };
    let print = fingerprint(&parts.method, parts.uri.path(), &bytes);
    let claim = state
        .store
        .claim_idempotency_key(&admin.name, &key, &print, state.clock.now())
        .await;
    match claim {
        Err(err) => ApiError::internal(&err).into_response(),
        Ok(IdempotencyClaim::Replay(kept)) => replay(kept),
        Ok(IdempotencyClaim::InProgress) => key_error(
            "idempotency_in_progress",
            StatusCode::CONFLICT,
            "a request with this key is still running; retry later",
        ),
        Ok(IdempotencyClaim::Mismatch) => key_error(
            "idempotency_key_reused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "this key was used for a different request",
        ),
        Ok(IdempotencyClaim::Claimed) => {
            // The handler's own extractor finds the admin here instead of
            // checking the token a second time.
            parts.extensions.insert(admin.clone());
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            keep(&state, &admin.name, &key, response).await
        }
    }
}

/// Keeps a successful answer for retries, or releases the key.
async fn keep(state: &AppState, actor: &str, key: &str, response: Response) -> Response {
    if !response.status().is_success() {
        if let Err(err) = state.store.finish_idempotency_key(actor, key, None).await {
            tracing::warn!(error = %err, "could not release an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return ApiError::internal(&"could not read a response body").into_response();
    };
    let kept = KeptResponse {
        status: parts.status.as_u16(),
        body: bytes.to_vec(),
        location: parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    if let Err(err) = state
        .store
        .finish_idempotency_key(actor, key, Some(&kept))
        .await
    {
        // The change is made; a retry would get 409 for a minute, then run
        // again. Say so in the log.
        tracing::warn!(error = %err, "could not keep the answer to an idempotency key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255_characters() {
        let ok = |s: &str| parse_key(&HeaderValue::from_str(s).expect("header"));
        assert_eq!(ok("retry-42").as_deref(), Some("retry-42"));
        assert_eq!(ok(&"k".repeat(255)).map(|k| k.len()), Some(255));
        assert_eq!(ok(&"k".repeat(256)), None);
        assert_eq!(ok(""), None);
        assert_eq!(ok("two words"), None);
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint(&Method::POST, "/api/v1/incidents", b"{}");
        assert_eq!(a, fingerprint(&Method::POST, "/api/v1/incidents", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/api/v1/incidents", b"{ }"));
        assert_ne!(a, fingerprint(&Method::POST, "/api/v1/maintenances", b"{}"));
        assert_eq!(a.len(), 64);
    }
}
