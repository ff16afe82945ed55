//! What admin handlers share to read a request: the JSON body with errors
//! that name the field ([`Body`]), text limits ([`check_text`]), ids from
//! the path ([`path_id`]), list limits, and the current snapshot
//! ([`snapshot`]) for the public handlers.

use std::sync::Arc;

use app::model::PublicStatus;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;

/// Longest title of an incident or a maintenance window.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest Markdown body of a timeline update or a description.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most incidents or maintenance windows one list request returns.
pub const MAX_LIST: u32 = 100;

/// JSON body read with serde_path_to_error, so errors name the field:
/// `400` for JSON that cannot be read, `422` for well-formed JSON with
/// unacceptable content.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid_field("body", e.body_text()))?;
        parse_json(&bytes).map(Self)
    }
}

/// JSON read as [`Body`] reads it, with errors that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = inner.to_string();
            if let Some(field) = missing_field(&path, &message) {
                return Err(ApiError::unprocessable(field, "is required"));
            }
            // "?" is where the JSON broke before any field: the body.
            let field = if path == "." || path == "?" {
                "body".to_owned()
            } else {
                path
            };
            if inner.is_data() {
                Err(ApiError::unprocessable(field, message))
            } else {
                Err(ApiError::invalid_field(
                    field,
                    format!("invalid JSON: {inner}"),
                ))
            }
        }
    }
}

/// The field a "missing field" error is about: serde names it only in the
/// message, and the path is that of the object lacking it.
fn missing_field(path: &str, message: &str) -> Option<String> {
    let name = message.strip_prefix("missing field `")?.split('`').next()?;
    Some(if path == "." {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    })
}

/// `text` trimmed, if it is not empty and at most `max` characters.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::unprocessable(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(ApiError::unprocessable(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A positive id from the path; anything else is `404 no such {what}`.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(format!("no such {what}")))
}

/// A list's `limit` query parameter: `default` when absent, else 1 to `max`.
pub fn list_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid_field(
            "limit",
            format!("must be from 1 to {max}"),
        ))
    }
}

/// The current public snapshot; cloning the `Arc` is all a read costs.
pub fn snapshot(state: &AppState) -> Arc<PublicStatus> {
    state.snapshot.borrow().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_limited() {
        let cases: &[(&str, usize, Result<&str, &str>)] = &[
            ("  Database down ", 200, Ok("Database down")),
            ("", 200, Err("must not be empty")),
            ("   ", 200, Err("must not be empty")),
            ("ééé", 3, Ok("ééé")),
            ("éééé", 3, Err("must be at most 3 characters")),
        ];
        for (text, max, expected) in cases {
            let got = check_text("title", text, *max).map_err(|e| e.message);
            assert_eq!(
                got.as_deref().map_err(String::as_str),
                *expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let cases = [
            (
                ".",
                "missing field `title` at line 1 column 13",
                Some("title"),
            ),
            (
                "services[0]",
                "missing field `status` at line 1 column 40",
                Some("services[0].status"),
            ),
            (".", "invalid type: string \"x\", expected u32", None),
        ];
        for (path, message, field) in cases {
            assert_eq!(missing_field(path, message).as_deref(), field, "{message}");
        }
    }

    #[test]
    fn ids_are_positive_integers() {
        let cases = [
            ("1", Some(1)),
            ("42", Some(42)),
            ("0", None),
            ("-3", None),
            ("abc", None),
        ];
        for (raw, id) in cases {
            assert_eq!(path_id(raw, "incident").ok(), id, "{raw}");
        }
        let err = path_id("x", "maintenance").unwrap_err();
        assert_eq!(err.message, "no such maintenance");
    }

    #[test]
    fn limits_default_and_stay_in_range() {
        let cases = [
            (None, Ok(50)),
            (Some(1), Ok(1)),
            (Some(100), Ok(100)),
            (Some(0), Err(())),
            (Some(101), Err(())),
        ];
        for (limit, expected) in cases {
            assert_eq!(
                list_limit(limit, 50, 100).map_err(|_| ()),
                expected,
                "{limit:?}"
            );
        }
    }
}
