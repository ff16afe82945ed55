//! `GET /feed.atom` and `GET /feed.rss`: the most recent incidents (with
//! their timelines) and the maintenance in progress or upcoming, from the
//! snapshot, built with the atom_syndication and rss crates. Bodies are
//! sent as text (Markdown source), so feed readers never run markup from
//! them.

use app::model::{IncidentView, MaintenanceView, PublicStatus};
use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::snapshot;
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(atom))
        .routes(routes!(rss_feed))
}

fn base(s: &PublicStatus) -> String {
    s.page
        .url
        .clone()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

fn fixed(at: DateTime<Utc>) -> FixedDateTime {
    at.fixed_offset()
}

fn incident_text(i: &IncidentView) -> String {
    let mut text = format!(
        "Status: {}. Impact: {}.",
        i.status.label(),
        i.impact.as_str()
    );
    if !i.services.is_empty() {
        let names: Vec<&str> = i.services.iter().map(|s| s.name.as_str()).collect();
        text.push_str(&format!(" Affected: {}.", names.join(", ")));
    }
    for u in &i.updates {
        text.push_str(&format!(
            "\n\n{} — {}\n{}",
            u.created_at.format("%Y-%m-%d %H:%M UTC"),
            u.status.label(),
            u.body
        ));
    }
    text
}

fn maintenance_text(m: &MaintenanceView) -> String {
    let mut text = format!(
        "Scheduled maintenance from {} to {}.",
        m.starts_at.format("%Y-%m-%d %H:%M UTC"),
        m.ends_at.format("%Y-%m-%d %H:%M UTC")
    );
    if !m.services.is_empty() {
        text.push_str(&format!(" Services: {}.", m.services.join(", ")));
    }
    if let Some(d) = &m.description {
        text.push_str("\n\n");
        text.push_str(d);
    }
    text
}

/// One entry of either feed.
struct FeedItem {
    id: String,
    title: String,
    link: String,
    published: DateTime<Utc>,
    updated: DateTime<Utc>,
    text: String,
}

/// Incidents and maintenance, most recently updated first.
fn items(s: &PublicStatus) -> Vec<FeedItem> {
    let base = base(s);
    let mut items: Vec<_> = s
        .recent_incidents
        .iter()
        .chain(
            s.incidents
                .iter()
                .filter(|a| !s.recent_incidents.iter().any(|r| r.id == a.id)),
        )
        .map(|i| {
            let link = format!("{base}/incidents/{}", i.id);
            FeedItem {
                id: format!("{link}#incident"),
                title: i.title.clone(),
                link,
                published: i.started_at,
                updated: i.updated_at,
                text: incident_text(i),
            }
        })
        .collect();
    items.extend(s.maintenances.iter().map(|m| {
        let link = format!("{base}/history#maintenance-{}", m.id);
        FeedItem {
            id: format!("{base}/maintenances/{}#{}", m.id, m.starts_at.timestamp()),
            title: format!("Maintenance: {}", m.title),
            link,
            published: m.starts_at,
            updated: m.starts_at,
            text: maintenance_text(m),
        }
    }));
    items.sort_by_key(|item| std::cmp::Reverse(item.updated));
    items
}

/// Atom feed of recent incidents and of maintenance.
#[utoipa::path(get, path = "/feed.atom", tag = "feeds",
    responses((status = 200, description = "Atom 1.0", content_type = "application/atom+xml", body = String)))]
async fn atom(State(state): State<AppState>) -> impl IntoResponse {
    let s = snapshot(&state);
    let base = base(&s);
    let entries: Vec<Entry> = items(&s)
        .into_iter()
        .map(|item| Entry {
            id: item.id,
            title: Text::plain(item.title),
            updated: fixed(item.updated),
            published: Some(fixed(item.published)),
            links: vec![Link {
                href: item.link,
                rel: "alternate".into(),
                ..Link::default()
            }],
            content: Some(Content {
                value: Some(item.text),
                content_type: Some("text".into()),
                ..Content::default()
            }),
            ..Entry::default()
        })
        .collect();
    let updated = entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or_else(|| fixed(s.generated_at));
    let feed = Feed {
        id: format!("{base}/feed.atom"),
        title: Text::plain(format!("{} status", s.page.title)),
        updated,
        authors: vec![Person {
            name: s.page.title.clone(),
            ..Person::default()
        }],
        links: vec![
            Link {
                href: format!("{base}/feed.atom"),
                rel: "self".into(),
                mime_type: Some("application/atom+xml".into()),
                ..Link::default()
            },
            Link {
                href: format!("{base}/"),
                rel: "alternate".into(),
                ..Link::default()
            },
        ],
        entries,
        ..Feed::default()
    };
    (
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        feed.to_string(),
    )
}

/// RSS 2.0 feed of recent incidents and of maintenance.
#[utoipa::path(get, path = "/feed.rss", tag = "feeds",
    responses((status = 200, description = "RSS 2.0", content_type = "application/rss+xml", body = String)))]
async fn rss_feed(State(state): State<AppState>) -> impl IntoResponse {
    let s = snapshot(&state);
    let base = base(&s);
    let items: Vec<rss::Item> = items(&s)
        .into_iter()
        .map(|item| rss::Item {
            title: Some(item.title),
            link: Some(item.link),
            guid: Some(rss::Guid {
                value: item.id,
                permalink: false,
            }),
            pub_date: Some(item.published.to_rfc2822()),
            description: Some(item.text),
            ..rss::Item::default()
        })
        .collect();
    let channel = rss::Channel {
        title: format!("{} status", s.page.title),
        link: format!("{base}/"),
        description: s
            .page
            .description
            .clone()
            .unwrap_or_else(|| format!("Incidents and maintenance of {}", s.page.title)),
        last_build_date: Some(s.generated_at.to_rfc2822()),
        items,
        ..rss::Channel::default()
    };
    (
        [
            (header::CONTENT_TYPE, "application/rss+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=60"),
        ],
        channel.to_string(),
    )
}
