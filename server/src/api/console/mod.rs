//! The admin console under `/admin`: server-rendered HTML forms that work
//! without JavaScript (post, then redirect), for people signed in with a
//! name and a password.
//!
//! - **Sessions** live in the database (`sessions`), so every replica
//!   knows them and revoking one ends it everywhere at once. The cookie
//!   holds 32 random bytes; the database only their SHA-256. The cookie is
//!   `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` with the
//!   `__Host-` prefix when `server.public_url` is https (browsers refuse
//!   both over plain http, so a loopback install keeps working).
//! - **CSRF**: every form that changes something carries the session's
//!   own token (compared in constant time) and the request's `Origin`,
//!   when sent, must be this site's; the sign-in form, which has no
//!   session yet, is covered by the `Origin` check and `SameSite`.
//! - **Roles**: each screen and action names the role it needs
//!   ([`Signed::require`]); a viewer sees no buttons that change anything,
//!   and a forced post gets `403`.
//! - **One code path**: actions call the same functions as the JSON API
//!   (`super::incidents::open`, ...) and show their errors next to the
//!   field they name.
//! - The console is not in the public page's WebAssembly: its pages are
//!   HTML from the server with the page's stylesheet, plus a small
//!   stylesheet and script of its own (`server/assets/console.*`).

mod incidents;
mod maintenance;
mod people;
mod sign_in;
mod subscribers;
mod view;

use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;

use super::auth::Actor;
use super::limit::PerKey;
use super::AppState;
use crate::config::console::IncidentTemplate;
use crate::config::Config;
use crate::domain::people::{Role, SessionPolicy};
use crate::token::{constant_time_eq, hash_token};

/// What the console needs from the configuration, and its sign-in limits.
#[derive(Debug, Default)]
pub struct ConsoleState {
    pub policy: SessionPolicy,
    pub templates: Vec<IncidentTemplate>,
    /// `server.public_url` is https: `Secure` cookies with `__Host-`.
    pub secure: bool,
    /// `server.public_url`'s origin, the one `Origin` forms may come from;
    /// without it, the request's own `Host`.
    pub origin: Option<String>,
    /// Failed sign-ins per client address.
    pub failed_by_address: PerKey<std::net::IpAddr>,
    /// Failed sign-ins per name (known or not: the answer is the same).
    pub failed_by_name: PerKey<String>,
}

impl ConsoleState {
    pub fn new(config: &Config) -> Self {
        let public = config.server.public_url.as_ref();
        Self {
            policy: config.console.policy(),
            templates: config.incident_templates.clone(),
            secure: public.is_some_and(|u| u.scheme() == "https"),
            origin: public.map(|u| u.origin().ascii_serialization()),
            ..Self::default()
        }
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-upbeat_session"
        } else {
            "upbeat_session"
        }
    }

    /// `Set-Cookie` for a new session, or (with `None`) one that clears it.
    fn set_cookie(&self, value: Option<&str>) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = match value {
            Some(value) => format!(
                "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                self.cookie_name(),
                self.policy.lifetime.num_seconds()
            ),
            None => format!(
                "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
                self.cookie_name()
            ),
        };
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Whether a form post comes from this site: its `Origin`, when sent,
    /// is the public URL's (or, without one, this request's host's).
    /// Browsers send `Origin` with every form post; a client that sends
    /// none still needs the session's CSRF token.
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match &self.origin {
            Some(expected) => origin == expected,
            None => {
                let host = headers.get(HOST).and_then(|h| h.to_str().ok());
                host.is_some_and(|host| {
                    origin
                        .strip_prefix("http://")
                        .or_else(|| origin.strip_prefix("https://"))
                        == Some(host)
                })
            }
        }
    }
}

/// The console's routes. HTML, so not in the OpenAPI description.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/console.css", get(stylesheet))
        .route("/admin/console.js", get(script))
        .route("/admin", get(overview))
        .merge(sign_in::router())
        .merge(incidents::router())
        .merge(maintenance::router())
        .merge(people::router())
        .merge(subscribers::router())
}

const STYLESHEET: &str = include_str!("../../../assets/console.css");
const SCRIPT: &str = include_str!("../../../assets/console.js");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

/// What the console's pages may load: their own origin's stylesheets and
/// scripts, nothing inline; forms post only here. Nothing is cached: the
/// pages show who is signed in and forms carry their token.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The 403 page of a refused action (boxed: a response is large).
pub type Refused = Box<Response>;

/// A request from a signed-in user.
#[derive(Clone, Debug)]
pub struct Signed {
    pub actor: Actor,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
}

impl Signed {
    /// `Ok` when the user's role includes `needed`; else the 403 page.
    pub fn require(&self, state: &AppState, needed: Role) -> Result<(), Refused> {
        self.actor
            .require(needed)
            .map_err(|err| Box::new(forbidden(state, self, &err.message)))
    }

    /// A change by a user with at least `needed`, from a form of this
    /// console: [`Self::require`], then [`Self::check`].
    pub fn may(
        &self,
        state: &AppState,
        needed: Role,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<(), Refused> {
        self.require(state, needed)?;
        self.check(state, headers, csrf)
    }

    /// Checks a form's CSRF token and origin; the 403 page when either is
    /// wrong.
    pub fn check(&self, state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<(), Refused> {
        let token_ok = constant_time_eq(csrf.as_bytes(), self.csrf.as_bytes());
        if token_ok && state.console.same_origin(headers) {
            Ok(())
        } else {
            tracing::warn!(user = %self.actor.name, "console: a form post with a wrong CSRF token or origin was refused");
            Err(Box::new(forbidden(
                state,
                self,
                "This form did not come from this console (its security token or origin is wrong). Reload the page and try again.",
            )))
        }
    }
}

fn forbidden(state: &AppState, signed: &Signed, message: &str) -> Response {
    let body = view::page_in(
        state,
        "Not allowed",
        signed,
        view::Nav::None,
        maud::html! {
            h1 { "Not allowed" }
            p.form-error role="alert" { (message) }
            p { a href="/admin" { "Back to the overview" } }
        },
    );
    (StatusCode::FORBIDDEN, body).into_response()
}

/// A form that carries only its CSRF token (sign-out, take over, delete).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The value of `name` in a posted form read as pairs ("" when absent).
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The session cookie's value in a request.
fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// Without a live session: to the sign-in page, back here afterwards.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next = url::form_urlencoded::byte_serialize(self.0.as_bytes()).collect::<String>();
        Redirect::to(&format!("/admin/login?next={next}")).into_response()
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let back = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map_or("/admin", |p| p.as_str())
                .to_owned()
        } else {
            "/admin".to_owned()
        };
        let console = &state.console;
        let Some(value) = session_cookie(&parts.headers, console.cookie_name()) else {
            return Err(SignInFirst(back).into_response());
        };
        let now = state.clock.now();
        let found = state
            .store
            .session(&hash_token(value), now, console.policy.idle_cutoff(now))
            .await
            .map_err(|err| super::error::ApiError::internal(&err).into_response())?;
        match found {
            Some(session) => Ok(Self {
                actor: Actor {
                    name: session.name,
                    role: session.role,
                },
                csrf: session.csrf_token,
            }),
            None => {
                // An ended session: clear the cookie on the way to sign-in.
                let mut response = SignInFirst(back).into_response();
                response
                    .headers_mut()
                    .insert(SET_COOKIE, console.set_cookie(None));
                Err(response)
            }
        }
    }
}

/// `/admin`: the overview.
async fn overview(State(state): State<AppState>, signed: Signed) -> Markup {
    view::overview(&state, &signed).await
}

/// The client's address, for the sign-in limits.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(super::limit::client_ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; upbeat_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers, "upbeat_session"), Some("abc"));
        assert_eq!(session_cookie(&headers, "__Host-upbeat_session"), None);
        headers.insert(COOKIE, HeaderValue::from_static("upbeat_session="));
        assert_eq!(session_cookie(&headers, "upbeat_session"), None);
    }

    #[test]
    fn form_posts_must_come_from_this_site() {
        let with = |origin: Option<&str>, public: Option<&str>| {
            let state = ConsoleState {
                origin: public.map(str::to_owned),
                ..ConsoleState::default()
            };
            let mut headers = HeaderMap::new();
            headers.insert(HOST, HeaderValue::from_static("status.example.com"));
            if let Some(origin) = origin {
                headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
            }
            state.same_origin(&headers)
        };
        let cases = [
            (None, None, true),
            (Some("https://status.example.com"), None, true),
            (Some("http://status.example.com"), None, true),
            (Some("https://evil.example"), None, false),
            (Some("null"), None, false),
            (
                Some("https://status.example.com"),
                Some("https://status.example.com"),
                true,
            ),
            (
                Some("http://status.example.com"),
                Some("https://status.example.com"),
                false,
            ),
            (
                Some("https://evil.example"),
                Some("https://status.example.com"),
                false,
            ),
        ];
        for (origin, public, ok) in cases {
            assert_eq!(with(origin, public), ok, "{origin:?} with {public:?}");
        }
    }

    #[test]
    fn cookies_are_secure_and_prefixed_behind_https_only() {
        let plain = ConsoleState::default();
        let cookie = plain.set_cookie(Some("v"));
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("upbeat_session=v; Path=/; HttpOnly; SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"));
        let https = ConsoleState {
            secure: true,
            ..ConsoleState::default()
        };
        let cookie = https.set_cookie(Some("v"));
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("__Host-upbeat_session=v; Path=/;") && cookie.ends_with("; Secure"),
            "{cookie}"
        );
        assert!(https
            .set_cookie(None)
            .to_str()
            .unwrap()
            .contains("Max-Age=0"));
    }
}
