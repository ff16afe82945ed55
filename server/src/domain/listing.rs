//! What part of a large page's services a document carries.
//!
//! A page with 50,000 services cannot send them all to every visitor (the
//! whole document is some 3.5 KB a service). Above `[page] max_listed`
//! services the snapshot is cut to what the visitor's page shows:
//!
//! - the home page (and plain `/public/status`): every group counted by
//!   status, and the services that are not operational, worst first, at
//!   most `max_listed` of them (services without data yet are counted
//!   only, so a fresh start does not list everything);
//!
//! At any size (these pages show no other service):
//! - a service's page: that service, with its daily percentiles (which
//!   no other document carries);
//! - a group's page (`/groups/{slug}?page=N`): one page of [`GROUP_PAGE`]
//!   services of that group, in page order.
//!
//! Incidents and maintenance are always whole. The cut copies `Arc`s to
//! the services' views, never the views.

use std::collections::HashMap;
use std::sync::Arc;

use app::model::{
    group_slug, GroupCount, ListedPart, Listing, PublicStatus, ServiceStatus, ServiceView,
};
use app::route::Route;

/// Services on one page of a group.
pub const GROUP_PAGE: usize = 100;

/// The part of the page's services a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The home page and every page that shows no service of its own.
    Home,
    Service(&'a str),
    Group {
        slug: &'a str,
        page: u32,
    },
}

impl<'a> Scope<'a> {
    /// The services `route`'s page shows.
    pub fn of(route: &'a Route) -> Self {
        match route {
            Route::Service(slug) => Self::Service(slug),
            Route::Group { slug, page } => Self::Group { slug, page: *page },
            _ => Self::Home,
        }
    }
}

/// The document for `scope`: a copy with the part of the services the
/// scope shows and a [`Listing`]; for the home scope `full` itself while it
/// has at most `max_listed` services.
pub fn scoped(full: &Arc<PublicStatus>, scope: Scope<'_>, max_listed: usize) -> Arc<PublicStatus> {
    let large = full.services.len() > max_listed;
    let (services, groups, part) = match scope {
        Scope::Home if large => {
            let mut listed: Vec<Arc<ServiceView>> = full
                .services
                .iter()
                .filter(|s| s.status.is_some_and(|st| st != ServiceStatus::Operational))
                .cloned()
                .collect();
            // Stable: page order within a status.
            listed.sort_by_key(|s| std::cmp::Reverse(s.status));
            listed.truncate(max_listed);
            (
                listed,
                count_groups(&full.services),
                ListedPart::NotOperational,
            )
        }
        Scope::Service(slug) => {
            // The one document that carries the daily percentiles and
            // the response-time chart drawn from them.
            let service: Vec<Arc<ServiceView>> = full
                .services
                .iter()
                .find(|s| s.slug == slug)
                .map(|s| {
                    let mut own = ServiceView::clone(s);
                    own.daily_percentiles.shown = true;
                    own.latency_chart = super::percentiles::latency_chart(&own);
                    Arc::new(own)
                })
                .into_iter()
                .collect();
            (service, Vec::new(), ListedPart::Service)
        }
        Scope::Group { slug, page } => {
            let members: Vec<&Arc<ServiceView>> = full
                .services
                .iter()
                .filter(|s| group_slug(s.group.as_deref()) == slug)
                .collect();
            let mut count = GroupCount::default();
            for service in &members {
                count.count(service.status);
            }
            let groups = match members.first() {
                Some(first) => vec![GroupCount {
                    name: first.group.clone(),
                    slug: slug.to_owned(),
                    ..count
                }],
                None => Vec::new(),
            };
            let pages = members.len().div_ceil(GROUP_PAGE).max(1);
            let start = (page as usize - 1).saturating_mul(GROUP_PAGE);
            let services = members
                .into_iter()
                .skip(start)
                .take(GROUP_PAGE)
                .cloned()
                .collect();
            let part = ListedPart::GroupPage {
                page,
                pages: u32::try_from(pages).unwrap_or(u32::MAX),
            };
            (services, groups, part)
        }
        _ => return Arc::clone(full),
    };
    Arc::new(PublicStatus {
        page: full.page.clone(),
        generated_at: full.generated_at,
        overall: full.overall.clone(),
        services,
        incidents: full.incidents.clone(),
        recent_incidents: full.recent_incidents.clone(),
        maintenances: full.maintenances.clone(),
        stale: full.stale,
        listing: Some(Listing {
            total: u32::try_from(full.services.len()).unwrap_or(u32::MAX),
            groups,
            part,
        }),
    })
}

/// Every group counted by status, in the page's order: services without a
/// group first, then the groups as their first service appears.
fn count_groups(services: &[Arc<ServiceView>]) -> Vec<GroupCount> {
    let mut groups: Vec<GroupCount> = Vec::new();
    let mut index: HashMap<Option<&str>, usize> = HashMap::new();
    for service in services {
        let name = service.group.as_deref();
        let i = *index.entry(name).or_insert_with(|| {
            groups.push(GroupCount {
                name: name.map(str::to_owned),
                slug: group_slug(name),
                ..GroupCount::default()
            });
            groups.len() - 1
        });
        groups[i].count(service.status);
    }
    groups.sort_by_key(|g| g.name.is_some());
    groups
}

#[cfg(test)]
mod tests {
    use app::model::{PageInfo, Uptimes};

    use super::*;

    fn service(slug: &str, group: Option<&str>, status: Option<ServiceStatus>) -> Arc<ServiceView> {
        Arc::new(ServiceView {
            slug: slug.into(),
            name: slug.to_uppercase(),
            group: group.map(str::to_owned),
            description: None,
            status,
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
        })
    }

    fn page() -> Arc<PublicStatus> {
        use ServiceStatus::*;
        let mut status = PublicStatus::empty(PageInfo::titled("Acme"));
        status.services = vec![
            service("a", Some("Edge"), Some(Operational)),
            service("b", Some("Edge"), Some(MajorOutage)),
            service("c", None, Some(DegradedPerformance)),
            service("d", Some("Data stores"), Some(Operational)),
            service("e", Some("Edge"), None),
            service("f", Some("Data stores"), Some(MajorOutage)),
            service("g", Some("Edge"), Some(UnderMaintenance)),
        ];
        Arc::new(status)
    }

    fn slugs(doc: &PublicStatus) -> Vec<&str> {
        doc.services.iter().map(|s| s.slug.as_str()).collect()
    }

    #[test]
    fn a_page_within_the_limit_is_sent_whole() {
        let full = page();
        assert!(Arc::ptr_eq(&scoped(&full, Scope::Home, 7), &full));
        assert!(!Arc::ptr_eq(&scoped(&full, Scope::Home, 6), &full));
    }

    #[test]
    fn a_large_home_page_lists_what_is_not_operational_worst_first() {
        let cases: &[(usize, &[&str])] = &[
            (6, &["b", "f", "c", "g"]),
            (3, &["b", "f", "c"]),
            (1, &["b"]),
        ];
        for (max, want) in cases {
            let doc = scoped(&page(), Scope::Home, *max);
            assert_eq!(slugs(&doc), *want, "max {max}");
            let listing = doc.listing.as_ref().expect("a listing");
            assert_eq!(listing.total, 7);
            assert_eq!(listing.part, ListedPart::NotOperational);
        }
        let doc = scoped(&page(), Scope::Home, 6);
        let listing = doc.listing.as_ref().expect("a listing");
        let group = |name: Option<&str>, slug: &str, counts: [u32; 6]| GroupCount {
            name: name.map(str::to_owned),
            slug: slug.to_owned(),
            total: counts.iter().sum(),
            operational: counts[0],
            under_maintenance: counts[1],
            degraded_performance: counts[2],
            partial_outage: counts[3],
            major_outage: counts[4],
            no_data: counts[5],
        };
        assert_eq!(
            listing.groups,
            [
                group(None, "ungrouped", [0, 0, 1, 0, 0, 0]),
                group(Some("Edge"), "edge", [1, 1, 0, 0, 1, 1]),
                group(Some("Data stores"), "data-stores", [1, 0, 0, 0, 1, 0]),
            ]
        );
        assert_eq!(listing.groups[1].under_maintenance, 1);
        assert_eq!(listing.groups[1].worst(), Some(ServiceStatus::MajorOutage));
        assert_eq!(
            listing.groups[0].worst(),
            Some(ServiceStatus::DegradedPerformance)
        );
    }

    #[test]
    fn a_large_service_page_carries_that_service() {
        // At any size.
        let doc = scoped(&page(), Scope::Service("d"), 100);
        assert_eq!(slugs(&doc), ["d"]);
        assert_eq!(
            doc.listing.as_ref().map(|l| &l.part),
            Some(&ListedPart::Service)
        );
        let unknown = scoped(&page(), Scope::Service("zz"), 2);
        assert!(unknown.services.is_empty());
    }

    #[test]
    fn group_pages_hold_a_hundred_services_each() {
        let mut full = PublicStatus::empty(PageInfo::titled("Acme"));
        full.services = (0..250)
            .map(|i| {
                service(
                    &format!("s{i}"),
                    Some("Edge"),
                    Some(ServiceStatus::Operational),
                )
            })
            .chain([service("other", Some("Core"), None)])
            .collect();
        let full = Arc::new(full);
        let cases: &[(u32, usize, Option<&str>)] = &[
            (1, 100, Some("s0")),
            (2, 100, Some("s100")),
            (3, 50, Some("s200")),
            (4, 0, None),
        ];
        for (page, len, first) in cases {
            // Cut at any size.
            let doc = scoped(
                &full,
                Scope::Group {
                    slug: "edge",
                    page: *page,
                },
                10_000,
            );
            assert_eq!(doc.services.len(), *len, "page {page}");
            assert_eq!(doc.services.first().map(|s| s.slug.as_str()), *first);
            let listing = doc.listing.as_ref().expect("a listing");
            assert_eq!(
                listing.part,
                ListedPart::GroupPage {
                    page: *page,
                    pages: 3
                }
            );
            assert_eq!(listing.groups.len(), 1);
            assert_eq!(
                (listing.groups[0].name.as_deref(), listing.groups[0].total),
                (Some("Edge"), 250)
            );
        }
        let none = scoped(
            &full,
            Scope::Group {
                slug: "nope",
                page: 1,
            },
            10,
        );
        assert!(
            none.services.is_empty() && none.listing.as_ref().is_some_and(|l| l.groups.is_empty())
        );
    }

    #[test]
    fn group_slugs_are_lower_case_words_joined_by_dashes() {
        let cases = [
            (Some("Edge"), "edge"),
            (Some("Data stores"), "data-stores"),
            (Some("  EU / West (2) "), "eu-west-2"),
            (Some("Сервисы"), "group"),
            (None, "ungrouped"),
        ];
        for (name, want) in cases {
            assert_eq!(group_slug(name), want, "{name:?}");
        }
    }
}
