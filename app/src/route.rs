//! Which page an address shows, and what the document's head says about it.
//!
//! The server and the browser both derive the page from the address with
//! [`Route::parse`], so they render the same view without a client-side
//! router (every link is an ordinary navigation to a cached page). The head
//! (title, description, tab icon) is written by the server's shell from
//! [`Head::of`]; after a refresh the browser updates the title and icon from
//! the same function.

use crate::model::{Loaded, PageData, PublicStatus};

/// A page of the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`
    Home,
    /// `/services/{slug}`
    Service(String),
    /// `/incidents/{id}`; `None` when the id is not a number.
    Incident(Option<i64>),
    /// `/history[?month=YYYY-MM]`; `None` for the current month.
    History(Option<String>),
    /// `/groups/{slug}[?page=N]`: one page of a group's services (pages
    /// from 1; anything else than a positive number means the first).
    Group { slug: String, page: u32 },
    /// Anything else.
    NotFound,
}

impl Route {
    /// The page at `path` with the query string `query` (without `?`).
    pub fn parse(path: &str, query: Option<&str>) -> Self {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        match segments.as_slice() {
            [""] => Self::Home,
            ["services", slug] if !slug.is_empty() => Self::Service((*slug).to_owned()),
            ["incidents", id] if !id.is_empty() => Self::Incident(id.parse().ok()),
            ["history"] => Self::History(param(query, "month").map(str::to_owned)),
            ["groups", slug] if !slug.is_empty() => Self::Group {
                slug: (*slug).to_owned(),
                page: param(query, "page")
                    .and_then(|p| p.parse().ok())
                    .filter(|p| *p > 0)
                    .unwrap_or(1),
            },
            _ => Self::NotFound,
        }
    }

    /// The query of `/public/status` that answers the document this page
    /// renders from (`None`: the plain `/public/status`). The server
    /// shortens the document of a large page to what the page shows.
    pub fn status_query(&self) -> Option<String> {
        match self {
            Self::Service(slug) => Some(format!("service={slug}")),
            Self::Group { slug, page } => Some(format!("group={slug}&page={page}")),
            _ => None,
        }
    }
}

/// The value of `name` in a query string (without `?`), as written.
fn param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        pair.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// What the document's head says about a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The tab title (also `og:title`).
    pub title: String,
    /// `description` and `og:description`.
    pub description: String,
    /// The tab icon, which follows the overall status.
    pub icon: String,
}

impl Head {
    /// The head of `route` given the status document and what the server
    /// loaded for the page.
    pub fn of(route: &Route, status: &PublicStatus, data: Option<&PageData>) -> Self {
        let title = match route {
            Route::Home => Some(format!(
                "{} — {}",
                status.page.title, status.overall.description
            )),
            Route::Service(slug) => status.services.iter().find(|s| s.slug == *slug).map(|s| {
                let label = s.status.map_or("No data yet", |st| st.label());
                format!("{} — {}", s.name, label)
            }),
            Route::Incident(id) => match (id.and_then(|id| status.incident(id)), data) {
                (Some(incident), _) => Some(incident.title.clone()),
                (None, Some(PageData::Incident(Loaded::Found(incident)))) => {
                    Some(incident.title.clone())
                }
                (None, Some(PageData::Incident(Loaded::Unavailable))) => {
                    Some("Incident".to_owned())
                }
                (None, _) => None,
            },
            Route::History(_) => match data {
                Some(PageData::History(Loaded::Found(_) | Loaded::Unavailable)) => {
                    Some("Incident history".to_owned())
                }
                _ => None,
            },
            Route::Group { slug, .. } => status
                .listing
                .as_ref()
                .and_then(|l| l.groups.iter().find(|g| g.slug == *slug))
                .map(|g| {
                    let name = g.name.as_deref().unwrap_or("Services without a group");
                    let label = g.worst().map_or("No data yet", |st| st.label());
                    format!("{name} — {label}")
                }),
            Route::NotFound => None,
        };
        Self {
            title: title.unwrap_or_else(|| "Not found".to_owned()),
            description: status
                .page
                .description
                .clone()
                .unwrap_or_else(|| status.overall.description.clone()),
            icon: format!("/favicon-{}.svg", status.overall.indicator.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::model::{
        CreatedBy, History, Impact, IncidentStatus, IncidentView, OverallStatus, PageInfo,
        ServiceStatus, ServiceView, Uptimes,
    };

    fn status() -> PublicStatus {
        let mut status = PublicStatus::empty(PageInfo::titled("Acme"));
        status.overall = OverallStatus::from_services([Some(ServiceStatus::MajorOutage)]);
        status.services = vec![Arc::new(ServiceView {
            slug: "api".into(),
            name: "API".into(),
            group: None,
            description: None,
            status: Some(ServiceStatus::MajorOutage),
            last_checked_at: None,
            last_outcome: None,
            last_latency_ms: None,
            last_error: None,
            uptime: Uptimes::default(),
            response_ms: Default::default(),
            percentiles: Default::default(),
            daily_percentiles: Default::default(),
            latency_chart: None,
            days: Default::default(),
            objectives: Vec::new(),
        })];
        status.recent_incidents = vec![IncidentView {
            id: 7,
            title: "Outage: API".into(),
            status: IncidentStatus::Investigating,
            impact: Impact::Critical,
            created_by: CreatedBy::Auto,
            auto_resolve: true,
            started_at: DateTime::<Utc>::UNIX_EPOCH,
            resolved_at: None,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            services: Vec::new(),
            updates: Vec::new(),
        }];
        status
    }

    #[test]
    fn the_head_names_the_page_and_follows_the_status() {
        let status = status();
        let month = PageData::History(Loaded::Found(History {
            month: "2026-11".into(),
            incidents: Vec::new(),
            maintenances: Vec::new(),
            previous: "2026-10".into(),
            next: None,
        }));
        let mut archived = status.recent_incidents[0].clone();
        archived.id = 3;
        archived.title = "Old outage".into();
        let archived = PageData::Incident(Loaded::Found(archived));
        let history = |loaded| PageData::History(loaded);
        let incident = |loaded| PageData::Incident(loaded);
        let cases = [
            (Route::Home, None, "Acme — Partial System Outage"),
            (Route::Service("api".into()), None, "API — Major outage"),
            (Route::Service("nope".into()), None, "Not found"),
            (Route::Incident(Some(7)), None, "Outage: API"),
            (Route::Incident(Some(3)), Some(archived), "Old outage"),
            (
                Route::Incident(Some(8)),
                Some(incident(Loaded::Missing)),
                "Not found",
            ),
            (
                Route::Incident(Some(8)),
                Some(incident(Loaded::Unavailable)),
                "Incident",
            ),
            (Route::Incident(None), None, "Not found"),
            (Route::History(None), Some(month), "Incident history"),
            (
                Route::History(None),
                Some(history(Loaded::Unavailable)),
                "Incident history",
            ),
            (
                Route::History(Some("2026-13".into())),
                Some(history(Loaded::Missing)),
                "Not found",
            ),
            (Route::NotFound, None, "Not found"),
        ];
        for (route, data, title) in cases {
            let head = Head::of(&route, &status, data.as_ref());
            assert_eq!(head.title, title, "{route:?}");
            assert_eq!(head.icon, "/favicon-major.svg");
            assert_eq!(head.description, "Partial System Outage");
        }
        let mut described = status;
        described.page.description = Some("Acme's services".into());
        assert_eq!(
            Head::of(&Route::Home, &described, None).description,
            "Acme's services"
        );
    }

    #[test]
    fn addresses_map_to_pages() {
        let cases = [
            ("/", None, Route::Home),
            ("/services/api", None, Route::Service("api".into())),
            ("/services/", None, Route::NotFound),
            ("/services/api/more", None, Route::NotFound),
            ("/incidents/42", None, Route::Incident(Some(42))),
            ("/incidents/abc", None, Route::Incident(None)),
            ("/history", None, Route::History(None)),
            (
                "/history",
                Some("month=2026-11"),
                Route::History(Some("2026-11".into())),
            ),
            (
                "/history",
                Some("x=1&month=2001-01"),
                Route::History(Some("2001-01".into())),
            ),
            ("/history", Some("months=3"), Route::History(None)),
            (
                "/groups/edge",
                None,
                Route::Group {
                    slug: "edge".into(),
                    page: 1,
                },
            ),
            (
                "/groups/edge",
                Some("page=3"),
                Route::Group {
                    slug: "edge".into(),
                    page: 3,
                },
            ),
            (
                "/groups/edge",
                Some("page=0"),
                Route::Group {
                    slug: "edge".into(),
                    page: 1,
                },
            ),
            (
                "/groups/edge",
                Some("pages=2"),
                Route::Group {
                    slug: "edge".into(),
                    page: 1,
                },
            ),
            ("/groups/", None, Route::NotFound),
            ("/no/such/page", None, Route::NotFound),
            ("/favicon.ico", None, Route::NotFound),
        ];
        for (path, query, want) in cases {
            assert_eq!(Route::parse(path, query), want, "{path}?{query:?}");
        }
    }
}
