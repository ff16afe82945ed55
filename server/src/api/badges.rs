//! Badges and the embeddable widget, from the in-memory snapshot (no
//! database access per request):
//!
//! - `GET /badge.svg`: the whole page's status;
//! - `GET /badge/{slug}.svg`: a service's status;
//! - `GET /badge/{slug}/uptime/{24h|7d|30d|90d}.svg`;
//! - `GET /badge/{slug}/response-time/{24h|7d|30d}.svg`: mean response time,
//!   or a percentile with `?stat=p50|p95|p99`;
//! - `GET /badge/{slug}.json`: the shields.io endpoint schema, for
//!   `https://img.shields.io/endpoint?url=…`;
//! - `GET /embed[?theme=light|dark|auto]`: a small HTML widget for an
//!   `<iframe>`, with no script.
//!
//! Query options of the SVG badges: `style` (`flat`, `flat-square`,
//! `for-the-badge`), `label` (escaped, capped at 40 characters), `color`
//! and `labelColor` (shields.io colour names or hex). Other parameters are
//! ignored, so cache-busting parameters of image proxies do no harm.
//!
//! Answers carry `Cache-Control: public, max-age=60` and an `ETag` of the
//! bytes, answered with `304`: camo-style proxies refresh every minute and
//! revalidate cheaply. An unknown slug is a grey "not found" badge with
//! `404`; a bad window, style or colour a red badge with `400`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use app::model::{PublicStatus, ServiceView};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::answers::Answer;
use super::AppState;
use crate::domain::badge::{self, cap_label, Badge, Color, Palette, Style, LIGHTGREY};
use crate::domain::markdown::escape_html;

/// How long clients and proxies may reuse a badge.
const BADGE_MAX_AGE: &str = "public, max-age=60";
/// What the shields.io endpoint schema asks shields.io to cache (its
/// minimum is 300 s).
const CACHE_SECONDS: u32 = 300;

pub fn router() -> Router<AppState> {
    // Paths with a suffix after a parameter (`{slug}.svg`) are not
    // expressible in the router, so the handlers take the last segment
    // whole and read the suffix themselves.
    Router::new()
        .route("/badge.svg", get(overall_svg))
        .route("/badge/{file}", get(service_file))
        .route("/badge/{slug}/uptime/{file}", get(uptime_svg))
        .route("/badge/{slug}/response-time/{file}", get(response_svg))
        .route("/embed", get(embed))
}

/// Query options of every badge (the description of them; the handlers
/// read the raw query leniently).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "only read by the OpenAPI description")]
pub struct BadgeQuery {
    /// `flat` (default), `flat-square` or `for-the-badge`.
    style: Option<String>,
    /// Text on the left; at most 40 characters are drawn.
    label: Option<String>,
    /// Right-hand colour: a shields.io name (`brightgreen`, `red`, …) or hex.
    color: Option<String>,
    /// Left-hand colour, same forms.
    #[param(rename = "labelColor")]
    label_color: Option<String>,
}

/// Options read from the query string.
#[derive(Debug, Default)]
struct Options {
    style: Style,
    label: Option<String>,
    color: Option<Color>,
    label_color: Option<Color>,
}

/// What was wrong with a request, drawn as a badge.
struct Invalid(&'static str);

impl Options {
    fn parse(query: Option<&str>) -> Result<Self, Invalid> {
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let style = match params.get("style") {
            None => Style::Flat,
            Some(raw) => Style::parse(raw).ok_or(Invalid("unknown style"))?,
        };
        let color = params
            .get("color")
            .map(|raw| Color::parse(raw).ok_or(Invalid("invalid color")))
            .transpose()?;
        let label_color = params
            .get("labelColor")
            .map(|raw| Color::parse(raw).ok_or(Invalid("invalid labelColor")))
            .transpose()?;
        Ok(Self {
            style,
            label: params.get("label").map(|l| cap_label(l)),
            color,
            label_color,
        })
    }

    fn badge(self, default_label: &str, message: &str, color: Palette) -> Badge {
        Badge {
            label: self.label.unwrap_or_else(|| cap_label(default_label)),
            message: message.to_owned(),
            color: self.color.unwrap_or_else(|| color.into()),
            label_color: self.label_color,
            style: self.style,
        }
    }
}

/// An answer with an `ETag` of its bytes (`304` when the client has them),
/// readable from any origin.
fn made(
    status: StatusCode,
    content_type: &'static str,
    max_age: &'static str,
    body: String,
) -> Answer {
    let mut hasher = DefaultHasher::new();
    hasher.write(body.as_bytes());
    let tag = format!("\"{:016x}\"", hasher.finish());
    Answer::new(status, content_type, body)
        .etag(&tag)
        .header(header::CACHE_CONTROL, HeaderValue::from_static(max_age))
        .header(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        )
}

fn svg(status: StatusCode, badge: &Badge) -> Answer {
    made(
        status,
        "image/svg+xml; charset=utf-8",
        BADGE_MAX_AGE,
        badge::render(badge),
    )
}

/// The answer of `uri` in the current snapshot: made by `make` once per
/// snapshot and path with query (see [`super::answers`]).
fn respond(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    make: impl FnOnce(&PublicStatus) -> Answer,
) -> Response {
    let key = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    state.answer(key, headers, make)
}

/// A red badge naming what was wrong with the request.
fn invalid(Invalid(what): Invalid) -> Answer {
    let badge = Badge {
        label: "badge".to_owned(),
        message: what.to_owned(),
        color: Color::parse("red").unwrap_or_else(|| LIGHTGREY.into()),
        label_color: None,
        style: Style::Flat,
    };
    svg(StatusCode::BAD_REQUEST, &badge)
}

/// A grey "not found" badge, in the style asked for.
fn not_found(options: Options) -> Answer {
    let badge = Options {
        color: None,
        ..options
    }
    .badge("badge", "not found", LIGHTGREY);
    svg(StatusCode::NOT_FOUND, &badge)
}

fn service<'a>(s: &'a PublicStatus, slug: &str) -> Option<&'a ServiceView> {
    s.services.iter().find(|v| v.slug == slug).map(|v| &**v)
}

/// The whole page's status.
#[utoipa::path(get, path = "/badge.svg", tag = "badges", params(BadgeQuery),
    responses(
        (status = 200, description = "SVG badge", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "A bad `style` or colour, drawn as a badge", content_type = "image/svg+xml", body = String),
    ))]
pub async fn overall_svg(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    respond(&state, &uri, &headers, |s| {
        let options = match Options::parse(uri.query()) {
            Ok(options) => options,
            Err(bad) => return invalid(bad),
        };
        let (message, color) = badge::overall(s.overall.indicator);
        svg(StatusCode::OK, &options.badge("status", message, color))
    })
}

/// The shields.io endpoint schema (`schemaVersion` 1).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShieldsEndpoint {
    /// Always 1.
    schema_version: u8,
    label: String,
    message: String,
    color: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label_color: Option<String>,
    /// `true` for an unknown service or a bad option.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_error: bool,
    cache_seconds: u32,
}

impl ShieldsEndpoint {
    fn of(badge: &Badge, is_error: bool) -> Self {
        Self {
            schema_version: 1,
            label: badge.label.clone(),
            message: badge.message.clone(),
            color: badge.color.as_str().to_owned(),
            label_color: badge.label_color.as_ref().map(|c| c.as_str().to_owned()),
            is_error,
            cache_seconds: CACHE_SECONDS,
        }
    }
}

fn endpoint_json(status: StatusCode, badge: &Badge) -> Answer {
    let body = ShieldsEndpoint::of(badge, status != StatusCode::OK);
    made(
        status,
        "application/json",
        BADGE_MAX_AGE,
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

/// A service's status as a badge (`{slug}.svg`) or as the shields.io
/// endpoint schema (`{slug}.json`). `{file}` is the slug and the suffix.
#[utoipa::path(get, path = "/badge/{slug}.svg", tag = "badges",
    params(("slug" = String, Path, description = "The service's slug"), BadgeQuery),
    responses(
        (status = 200, description = "SVG badge", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "A bad `style` or colour, drawn as a badge", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown service: a grey \"not found\" badge", content_type = "image/svg+xml", body = String),
    ))]
pub async fn service_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    respond(&state, &uri, &headers, |s| {
        service_answer(s, &file, uri.query())
    })
}

fn service_answer(s: &PublicStatus, file: &str, query: Option<&str>) -> Answer {
    let (slug, json) = if let Some(slug) = file.strip_suffix(".svg") {
        (slug, false)
    } else if let Some(slug) = file.strip_suffix(".json") {
        (slug, true)
    } else {
        return not_found(Options::default());
    };
    let options = match Options::parse(query) {
        Ok(options) => options,
        Err(Invalid(what)) if json => {
            let badge = Options::default().badge("badge", what, LIGHTGREY);
            return endpoint_json(StatusCode::BAD_REQUEST, &badge);
        }
        Err(bad) => return invalid(bad),
    };
    let Some(service) = service(s, slug) else {
        if json {
            let badge = options.badge("badge", "not found", LIGHTGREY);
            return endpoint_json(StatusCode::NOT_FOUND, &badge);
        }
        return not_found(options);
    };
    let (message, color) = badge::status(service.status);
    let badge = options.badge(&service.name, message, color);
    if json {
        endpoint_json(StatusCode::OK, &badge)
    } else {
        svg(StatusCode::OK, &badge)
    }
}

/// The shields.io endpoint schema for a service's status.
#[utoipa::path(get, path = "/badge/{slug}.json", tag = "badges",
    params(("slug" = String, Path, description = "The service's slug"), BadgeQuery),
    responses(
        (status = 200, body = ShieldsEndpoint),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, body = ShieldsEndpoint, description = "A bad option (`isError: true`)"),
        (status = 404, body = ShieldsEndpoint, description = "Unknown service (`isError: true`)"),
    ))]
pub async fn service_json() {}

/// `24h.svg` and the like: the window, checked against `allowed`.
fn window<'a>(file: &'a str, allowed: &[&str]) -> Option<&'a str> {
    file.strip_suffix(".svg").filter(|w| allowed.contains(w))
}

/// A service's uptime over a window.
#[utoipa::path(get, path = "/badge/{slug}/uptime/{window}.svg", tag = "badges",
    params(
        ("slug" = String, Path, description = "The service's slug"),
        ("window" = String, Path, description = "`24h`, `7d`, `30d` or `90d`"),
        BadgeQuery,
    ),
    responses(
        (status = 200, description = "SVG badge", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "A bad window, `style` or colour, drawn as a badge", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown service: a grey \"not found\" badge", content_type = "image/svg+xml", body = String),
    ))]
pub async fn uptime_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, file)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let windows = ["24h", "7d", "30d", "90d"];
    respond(&state, &uri, &headers, |s| {
        window_badge(
            s,
            uri.query(),
            (&slug, &file),
            &windows,
            |service, window| {
                let share = match window {
                    "24h" => service.uptime.h24,
                    "7d" => service.uptime.d7,
                    "30d" => service.uptime.d30,
                    _ => service.uptime.d90,
                };
                let (message, color) = badge::uptime(share);
                (format!("uptime {window}"), message, color)
            },
        )
    })
}

/// A service's response time over a window: the mean, or with `?stat=`
/// a percentile (`p50`, `p95`, `p99`).
#[utoipa::path(get, path = "/badge/{slug}/response-time/{window}.svg", tag = "badges",
    params(
        ("slug" = String, Path, description = "The service's slug"),
        ("window" = String, Path, description = "`24h`, `7d` or `30d`"),
        ("stat" = Option<String>, Query, description = "`mean` (default), `p50`, `p95` or `p99`"),
        BadgeQuery,
    ),
    responses(
        (status = 200, description = "SVG badge", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "A bad window, `stat`, `style` or colour, drawn as a badge", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown service: a grey \"not found\" badge", content_type = "image/svg+xml", body = String),
    ))]
pub async fn response_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((slug, file)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    respond(&state, &uri, &headers, |s| {
        response_answer(s, uri.query(), (&slug, &file))
    })
}

fn response_answer(s: &PublicStatus, query: Option<&str>, path: (&str, &str)) -> Answer {
    let stat = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "stat")
        .map(|(_, value)| value.into_owned());
    let stat = match stat.as_deref() {
        None | Some("mean") => None,
        Some(p @ ("p50" | "p95" | "p99")) => Some(p.to_owned()),
        Some(_) => return invalid(Invalid("unknown stat")),
    };
    let windows = ["24h", "7d", "30d"];
    window_badge(s, query, path, &windows, |service, window| {
        let (mean, percentiles) = match window {
            "24h" => (service.response_ms.h24, service.percentiles.h24),
            "7d" => (service.response_ms.d7, service.percentiles.d7),
            _ => (service.response_ms.d30, service.percentiles.d30),
        };
        let (figure, label) = match stat.as_deref() {
            None => (mean, format!("response time {window}")),
            Some(p) => {
                let figure = match p {
                    "p50" => percentiles.p50,
                    "p95" => percentiles.p95,
                    _ => percentiles.p99,
                };
                (figure, format!("response time {p} {window}"))
            }
        };
        let (message, color) = badge::response_time(figure);
        (label, message, color)
    })
}

/// A badge over a window of a service: `(slug, file)` from the path, where
/// `file` is `{window}.svg` with the window one of `windows`; `say` gives
/// the default label, the message and the colour.
fn window_badge(
    s: &PublicStatus,
    query: Option<&str>,
    (slug, file): (&str, &str),
    windows: &[&str],
    say: impl Fn(&ServiceView, &str) -> (String, String, Palette),
) -> Answer {
    let Some(window) = window(file, windows) else {
        return invalid(Invalid("unknown window"));
    };
    let options = match Options::parse(query) {
        Ok(options) => options,
        Err(bad) => return invalid(bad),
    };
    let Some(service) = service(s, slug) else {
        return not_found(options);
    };
    let (label, message, color) = say(service, window);
    svg(StatusCode::OK, &options.badge(&label, &message, color))
}

const EMBED_CSS: &str = "\
*{box-sizing:border-box;margin:0}\
html,body{height:100%}\
body{font:14px/1.35 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:transparent}\
a.w{display:flex;gap:.6em;align-items:center;height:100%;padding:.5em .75em;border-radius:8px;\
text-decoration:none;border:1px solid #d0d7de;background:#fff;color:#1f2328}\
a.w:focus-visible{outline:3px solid #0969da;outline-offset:-3px}\
.i{flex:none;width:1.5em;height:1.5em;border-radius:50%;display:grid;place-items:center;\
font-weight:700;color:#fff;font-size:.85em}\
.none .i{background:#1a7f37}.minor .i{background:#9a6700}.major .i{background:#bc4c00}\
.critical .i{background:#cf222e}.maintenance .i{background:#0969da}\
.t{min-width:0}.t strong{display:block}\
.n{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#59636e;font-size:.9em}\
.dark a.w{background:#0d1117;color:#e6edf3;border-color:#30363d}.dark .n{color:#9198a1}\
@media (prefers-color-scheme:dark){.auto a.w{background:#0d1117;color:#e6edf3;border-color:#30363d}\
.auto .n{color:#9198a1}}";

/// The widget's script: every minute, while the widget is visible, it
/// fetches `/public/status` (revalidated by its ETag, so an unchanged page
/// costs a 304) and rewrites the link's text, colour and target in place.
/// A `<meta http-equiv="refresh">` reloaded the whole document instead,
/// which WCAG 2.2.1 counts as a failure: a screen reader lost its place
/// every minute. Without JavaScript the widget shows the state at load.
/// The path is relative, so a page served under a prefix works too.
/// Allowed by its hash in the widget's CSP ([`embed_csp`]); it mirrors
/// [`embed_html`], and the browser test checks the two agree.
const EMBED_SCRIPT: &str = "(()=>{\
const a=document.querySelector('a.w'),i=a.querySelector('.i'),s=a.querySelector('strong'),\
n=a.querySelector('.n'),b=a.dataset.base;\
const f=()=>{if(document.hidden)return;\
fetch('public/status',{cache:'no-cache'}).then(r=>r.ok?r.json():Promise.reject(r.status)).then(d=>{\
const o=d.overall,c=d.incidents||[],x=c[0];\
a.className='w '+o.indicator;\
i.textContent=o.indicator=='none'?'\\u2713':o.indicator=='maintenance'?'i':'!';\
s.textContent=o.description;\
n.textContent=x?x.title+(c.length>1?' (+'+(c.length-1)+' more)':''):'View '+d.page.title+' status';\
a.href=x?b+'/incidents/'+x.id:(b||'/');\
}).catch(()=>{})};\
setInterval(f,60000);document.addEventListener('visibilitychange',f)})()";

/// The widget's Content-Security-Policy: any site may frame it; it runs
/// only its own script (by hash), fetches only from this server, and
/// styles only inline.
fn embed_csp() -> &'static HeaderValue {
    static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
        let script = super::page_cache::hash_source(EMBED_SCRIPT.as_bytes());
        HeaderValue::try_from(format!(
            "default-src 'none'; script-src {script}; connect-src 'self'; \
style-src 'unsafe-inline'; frame-ancestors *; base-uri 'none'; form-action 'none'"
        ))
        .expect("a CSP is a valid header value")
    });
    &CSP
}

/// The widget's HTML: overall status, the newest active incident's title
/// and a link to the page. Pure, so that it is cached by its bytes.
pub fn embed_html(s: &PublicStatus, theme: &str) -> String {
    let indicator = s.overall.indicator;
    let icon = match indicator.as_str() {
        "none" => "✓",
        "maintenance" => "i",
        _ => "!",
    };
    // The page's address without its trailing slash ("" when unset): the
    // script builds the same links from it.
    let base = s
        .page
        .url
        .as_deref()
        .map_or("", |u| u.trim_end_matches('/'));
    let (href, note) = match s.incidents.first() {
        Some(incident) => {
            let more = match s.incidents.len() - 1 {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            (
                format!("{base}/incidents/{}", incident.id),
                format!("{}{more}", incident.title),
            )
        }
        None => (
            if base.is_empty() { "/" } else { base }.to_owned(),
            format!("View {} status", s.page.title),
        ),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title} status</title>\
<style>{EMBED_CSS}</style></head><body class=\"{theme}\">\
<a class=\"w {indicator}\" href=\"{href}\" data-base=\"{base}\" target=\"_blank\" rel=\"noopener\">\
<span class=\"i\" aria-hidden=\"true\">{icon}</span><span class=\"t\" aria-live=\"polite\">\
<strong>{description}</strong><span class=\"n\">{note}</span></span></a>\
<script>{EMBED_SCRIPT}</script></body></html>",
        title = escape_html(&s.page.title),
        indicator = indicator.as_str(),
        href = escape_html(&href),
        base = escape_html(base),
        description = escape_html(&s.overall.description),
        note = escape_html(&note),
    )
}

/// A compact widget for an `<iframe>`. It shows the state at load and,
/// with JavaScript, refreshes its text in place every minute from
/// `/public/status` (no reload). `theme`: `light`, `dark`, or `auto`
/// (default, follows the reader's setting).
#[utoipa::path(get, path = "/embed", tag = "badges",
    params(("theme" = Option<String>, Query, description = "`light`, `dark` or `auto` (default)")),
    responses(
        (status = 200, description = "HTML, framable from any origin", content_type = "text/html", body = String),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "Unknown theme", content_type = "text/plain", body = String),
    ))]
pub async fn embed(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let theme = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "theme")
        .map_or_else(|| "auto".to_owned(), |(_, v)| v.into_owned());
    if !["light", "dark", "auto"].contains(&theme.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            "theme must be light, dark or auto\n",
        )
            .into_response();
    }
    respond(&state, &uri, &headers, |s| {
        made(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "public, max-age=30",
            embed_html(s, &theme),
        )
        .header(header::CONTENT_SECURITY_POLICY, embed_csp().clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn options_are_validated() {
        let ok = Options::parse(Some(
            "style=for-the-badge&label=My%20API&color=4c1&labelColor=%23333&cb=123",
        ))
        .ok()
        .expect("valid");
        assert_eq!(ok.style, Style::ForTheBadge);
        assert_eq!(ok.label.as_deref(), Some("My API"));
        assert_eq!(ok.color, Color::parse("#4c1"));
        assert_eq!(ok.label_color, Color::parse("#333"));
        for (query, why) in [
            ("style=plastic", "unknown style"),
            ("color=url(javascript:x)", "invalid color"),
            ("labelColor=%22%3E", "invalid labelColor"),
        ] {
            assert_eq!(Options::parse(Some(query)).err().map(|i| i.0), Some(why));
        }
    }

    #[test]
    fn windows_are_checked() {
        assert_eq!(window("30d.svg", &["24h", "30d"]), Some("30d"));
        assert_eq!(window("90d.svg", &["24h", "30d"]), None);
        assert_eq!(window("30d.png", &["30d"]), None);
    }
}
