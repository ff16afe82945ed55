//! Bearer tokens for the admin API.
//!
//! - Tokens are created by `upbeat token create` (or one bootstrap token
//!   comes from `UPBEAT_ADMIN_TOKEN`); only SHA-256 hashes are stored or
//!   kept in memory. A presented token is hashed and looked up by hash, and
//!   the bootstrap hash is compared in constant time.
//! - A missing or wrong token gets `401` with `WWW-Authenticate: Bearer`.
//! - Failed attempts are counted per client address: after
//!   [`MAX_FAILURES`] within [`FAILURE_WINDOW`] that address gets `429`
//!   until the window passes, valid token or not.
//! - The acting token's name is what admin changes record as their author.
//! - Every token has a role ([`Role`]); each admin route names the role it
//!   needs through its extractor ([`Viewer`], [`Editor`] or [`Admin`]),
//!   and a token with less gets `403` naming both. The bootstrap token is
//!   an admin.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::limit::{client_ip, too_many, PerAddress};
use super::AppState;
use crate::domain::people::Role;
use crate::token::{constant_time_eq, hash_token};

pub const MAX_FAILURES: u32 = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Name recorded for changes made with the bootstrap token.
pub const BOOTSTRAP_NAME: &str = "bootstrap";

/// Per-address counts of failed attempts.
#[derive(Debug, Default)]
pub struct AuthGuard {
    bootstrap_hash: Option<Vec<u8>>,
    failures: PerAddress,
}

impl AuthGuard {
    /// `bootstrap`: the token from `UPBEAT_ADMIN_TOKEN`, if set.
    pub fn new(bootstrap: Option<&str>) -> Self {
        Self {
            bootstrap_hash: bootstrap.filter(|t| !t.is_empty()).map(hash_token),
            failures: PerAddress::default(),
        }
    }

    fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        self.failures.wait(&ip, MAX_FAILURES, FAILURE_WINDOW)
    }

    fn fail(&self, ip: IpAddr) {
        self.failures.add(ip, FAILURE_WINDOW);
    }

    fn is_bootstrap(&self, hash: &[u8]) -> bool {
        self.bootstrap_hash
            .as_deref()
            .is_some_and(|known| constant_time_eq(known, hash))
    }
}

/// Who makes an authenticated request: a token (bearer) or a user (a
/// console session), with the role it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// What changes record as their author.
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// `Ok` when this actor's role includes `needed`, else `403`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "forbidden",
                message: format!(
                    "this needs the {needed} role; \"{}\" has the {} role",
                    self.name, self.role
                ),
                field: None,
            })
        }
    }
}

/// An extractor for an actor with at least one role.
macro_rules! role_guard {
    ($(#[$doc:meta])* $guard:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $guard(pub Actor);

        impl $guard {
            pub const ROLE: Role = $role;
        }

        impl std::ops::Deref for $guard {
            type Target = Actor;

            fn deref(&self) -> &Actor {
                &self.0
            }
        }

        impl FromRequestParts<AppState> for $guard {
            type Rejection = AuthRejection;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                let actor = Actor::from_request_parts(parts, state).await?;
                actor.require(Self::ROLE).map_err(AuthRejection::Failed)?;
                Ok(Self(actor))
            }
        }
    };
}

role_guard!(
    /// A request that only reads: any role.
    Viewer,
    Role::Viewer
);
role_guard!(
    /// A request that changes incidents or maintenance.
    Editor,
    Role::Editor
);
role_guard!(
    /// A request that manages users, tokens, alert routes or subscribers,
    /// or reads the configuration and profiles.
    Admin,
    Role::Admin
);

pub enum AuthRejection {
    Unauthorized(&'static str),
    TooMany(Duration),
    Failed(ApiError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized(message) => {
                let mut response = ApiError {
                    status: StatusCode::UNAUTHORIZED,
                    code: "unauthorized",
                    message: message.to_owned(),
                    field: None,
                }
                .into_response();
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"upbeat\""),
                );
                response
            }
            Self::TooMany(left) => too_many(
                "too_many_attempts",
                "too many failed authentication attempts; try again later".to_owned(),
                left,
            ),
            Self::Failed(err) => err.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Already checked by a middleware (see `super::idempotency`).
        if let Some(admin) = parts.extensions.get::<Self>() {
            return Ok(admin.clone());
        }
        let ip = client_ip(&parts.extensions);
        let guard: &Arc<AuthGuard> = &state.auth;
        if let Some(left) = guard.blocked(ip) {
            return Err(AuthRejection::TooMany(left));
        }
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            guard.fail(ip);
            return Err(AuthRejection::Unauthorized("a bearer token is required"));
        };
        let hash = hash_token(token);
        if guard.is_bootstrap(&hash) {
            return Ok(Self {
                name: BOOTSTRAP_NAME.to_owned(),
                role: Role::Admin,
            });
        }
        match state.store.use_token(&hash, state.clock.now()).await {
            Ok(Some(record)) => Ok(Self {
                name: record.name,
                role: record.role,
            }),
            Ok(None) => {
                guard.fail(ip);
                tracing::warn!(client = %ip, "admin API: invalid or revoked token");
                Err(AuthRejection::Unauthorized("invalid or revoked token"))
            }
            Err(err) => Err(AuthRejection::Failed(ApiError::internal(&err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn an_address_is_blocked_after_too_many_failures() {
        let guard = AuthGuard::new(Some("secret"));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..MAX_FAILURES - 1 {
            guard.fail(ip);
        }
        assert!(guard.blocked(ip).is_none());
        guard.fail(ip);
        assert!(guard.blocked(ip).is_some());
        assert!(guard.blocked(IpAddr::V4(Ipv4Addr::BROADCAST)).is_none());
        assert!(guard.is_bootstrap(&hash_token("secret")));
        assert!(!guard.is_bootstrap(&hash_token("guess")));
        assert!(!AuthGuard::new(Some("")).is_bootstrap(&hash_token("")));
    }
}
