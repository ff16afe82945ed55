//! `GET /api/v1/config` (admin): the configuration this instance runs
//! with, after the file, the `UPBEAT_*` and `OTEL_*` variables and the
//! command-line flags, defaults included, as JSON. Secrets never appear:
//! the ones read from the environment or files are not part of it (only
//! where they come from: `routing_key_env`, `password_file`, …), and what
//! may carry one is masked:
//!
//! - `database.url`: the password;
//! - alert routes' `url` (Slack and webhook addresses are secrets): the
//!   origin only;
//! - checks' `url`: the password and every query value; `headers`: every
//!   value (`Authorization`); `body`;
//! - `tracing.endpoint`: the password.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::error::ErrorBody;
use super::AppState;
use crate::config::Config;

/// What replaces a masked value.
pub const MASK: &str = "***";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(effective_config))
}

/// The effective configuration, secrets masked.
#[utoipa::path(get, path = "/api/v1/config", tag = "meta", security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The configuration as JSON, in the file's shape", content_type = "application/json"),
        (status = 401, body = ErrorBody, description = "Missing, unknown or revoked token"),
        (status = 403, body = ErrorBody, description = "The role is below admin"),
        (status = 429, body = ErrorBody, description = "Too many failed attempts from this address"),
    ))]
async fn effective_config(State(state): State<AppState>, _admin: Admin) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.effective_config.as_ref().clone(),
    )
}

/// `config` as JSON with what may carry a secret masked (see the module).
pub fn effective(config: &Config) -> String {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Some(url) = value.pointer_mut("/database/url") {
        if let Some(text) = url.as_str() {
            *url = Value::String(crate::store::redact_url(text));
        }
    }
    // Unset, it depends on the backend: say what the pool really is.
    if let Some(size) = value.pointer_mut("/database/max_connections") {
        *size = Value::from(config.database.pool_size());
    }
    if let Some(routes) = value
        .pointer_mut("/alerts/routes")
        .and_then(Value::as_array_mut)
    {
        for route in routes {
            if let Some(url) = route.get_mut("url") {
                if let Some(text) = url.as_str() {
                    let origin = super::alerts::origin(text).unwrap_or_default();
                    *url = Value::String(format!("{origin}/{MASK}"));
                }
            }
        }
    }
    if let Some(services) = value.pointer_mut("/services").and_then(Value::as_array_mut) {
        for check in services.iter_mut().filter_map(|s| s.get_mut("check")) {
            if let Some(url) = check.get_mut("url") {
                if let Some(text) = url.as_str() {
                    *url = Value::String(masked_url(text));
                }
            }
            if let Some(headers) = check.get_mut("headers").and_then(Value::as_object_mut) {
                for value in headers.values_mut() {
                    *value = Value::String(MASK.to_owned());
                }
            }
            if let Some(body) = check.get_mut("body").filter(|b| !b.is_null()) {
                *body = Value::String(MASK.to_owned());
            }
        }
    }
    if let Some(endpoint) = value.pointer_mut("/tracing/endpoint") {
        if let Some(text) = endpoint.as_str() {
            *endpoint = Value::String(masked_url(text));
        }
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// `url` with its password and query values masked; a relative URL
/// (`/health`) as it is.
fn masked_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.split('?').next().unwrap_or_default().to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    let pairs: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    if !pairs.is_empty() {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for key in &pairs {
            query.append_pair(key, MASK);
        }
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_and_query_values() {
        assert_eq!(
            masked_url("https://user:hunter2@api.example.com/health?token=abc&x=1"),
            "https://user:***@api.example.com/health?token=***&x=***"
        );
        assert_eq!(
            masked_url("http://127.0.0.1:9/health"),
            "http://127.0.0.1:9/health"
        );
        assert_eq!(masked_url("/health?key=s3cret"), "/health");
    }
}
