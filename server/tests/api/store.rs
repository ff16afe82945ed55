//! The store suite: every test runs against SQLite and PostgreSQL
//! (`store::sqlite::*` and `store::postgres::*` in the test output).

use std::sync::Arc;

use app::model::{CreatedBy, Impact, IncidentStatus, SampleOutcome, ServiceStatus};
use chrono::{DateTime, Duration, TimeZone, Utc};
use upbeat::incident::Transition;
use upbeat::maintenance::Schedule;
use upbeat::prune::Pruner;
use upbeat::rollup::{Resolution, Rollup};
use upbeat::status::Tracker;
use upbeat::store::{
    self, NewMaintenance, NewSample, RoundResult, ServiceDef, ServiceState, Store,
};

use crate::helpers::{Backend, TestDb};

/// Generates one `#[tokio::test]` per backend for each listed test body.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run(crate::helpers::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run(crate::helpers::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

store_suite!(
    migrations_are_recorded_and_rerunning_them_changes_nothing,
    ping_answers,
    sync_services_inserts_updates_archives_and_restores,
    samples_round_trip_with_every_field,
    latest_samples_are_the_newest_per_service,
    a_retried_batch_is_not_stored_twice,
    recent_samples_are_newest_first_and_limited,
    samples_for_unknown_services_are_rejected,
    prune_deletes_only_old_samples_of_one_service_up_to_the_limit,
    pruner_removes_everything_past_retention_in_small_batches,
    service_states_are_stored_with_their_samples,
    rollups_summarise_exactly_the_stored_samples,
    maintenance_samples_are_counted_apart_in_rollups,
    automatic_incidents_open_join_update_and_resolve_with_their_samples,
    a_restart_continues_the_open_incident_instead_of_opening_another,
    admin_incidents_are_left_alone_by_automation,
    a_failed_round_stores_neither_samples_nor_incidents,
    maintenance_windows_round_trip_and_completed_ones_are_left_out,
    only_one_prober_holds_the_lock,
);

fn transition(service_id: i64, from: ServiceStatus, to: ServiceStatus, minute: i64) -> Transition {
    Transition {
        service_id,
        name: format!("Service {service_id}"),
        from,
        to,
        at: at(minute),
        error: (to == ServiceStatus::MajorOutage).then(|| "connection refused".to_owned()),
    }
}

/// Stores one sample per transition, with the transitions, as the writer does.
async fn round(store: &Arc<dyn Store>, transitions: &[Transition]) -> RoundResult {
    let samples: Vec<NewSample> = transitions
        .iter()
        .map(|t| {
            let outcome = match t.to {
                ServiceStatus::MajorOutage => SampleOutcome::Down,
                ServiceStatus::DegradedPerformance => SampleOutcome::Degraded,
                _ => SampleOutcome::Up,
            };
            NewSample {
                taken_at: t.at,
                ..sample(t.service_id, 0, outcome)
            }
        })
        .collect();
    store
        .insert_samples(&samples, &[], transitions)
        .await
        .unwrap()
}

async fn maintenance_samples_are_counted_apart_in_rollups(store: Arc<dyn Store>) {
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let batch = [
        sample(id, 0, SampleOutcome::Up),
        NewSample {
            in_maintenance: true,
            ..sample(id, 1, SampleOutcome::Down)
        },
    ];
    store.insert_samples(&batch, &[], &[]).await.unwrap();
    let rollups = store
        .rollups(id, Resolution::Hour, at(0), at(60))
        .await
        .unwrap();
    assert_eq!(rollups.len(), 1);
    let r = rollups[0].1;
    assert_eq!((r.up, r.down, r.maintenance), (1, 0, 1));
    assert_eq!(r.uptime(), Some(1.0));
}

async fn automatic_incidents_open_join_update_and_resolve_with_their_samples(
    store: Arc<dyn Store>,
) {
    use ServiceStatus::{DegradedPerformance as Deg, MajorOutage as Maj, Operational as Op};
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let (api, web) = (ids[0], ids[1]);

    let opened = round(&store, &[transition(api, Op, Maj, 3)]).await;
    assert_eq!(
        (opened.incidents_opened, opened.incidents_changed),
        (1, true)
    );
    let active = store.active_incidents().await.unwrap();
    assert_eq!(active.len(), 1);
    let incident = &active[0];
    assert_eq!(
        incident.title,
        "Outage: Service ".to_owned() + &api.to_string()
    );
    assert_eq!(incident.created_by, CreatedBy::Auto);
    assert_eq!(incident.status, IncidentStatus::Investigating);
    assert_eq!(incident.impact, Impact::Critical);
    assert_eq!(incident.started_at, at(3));
    assert_eq!(incident.services.len(), 1);
    assert_eq!(incident.services[0].slug, "api");
    assert_eq!(incident.services[0].status, Maj);
    assert_eq!(incident.updates.len(), 1);
    assert!(
        incident.updates[0].body.contains("connection refused"),
        "{:?}",
        incident.updates
    );

    // Web fails a minute later: same incident.
    let joined = round(&store, &[transition(web, Op, Deg, 4)]).await;
    assert_eq!(joined.incidents_opened, 0);
    // API improves: impact follows the worst remaining status.
    round(&store, &[transition(api, Maj, Deg, 5)]).await;
    let active = store.active_incidents().await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].impact, Impact::Minor);
    let statuses: Vec<_> = active[0]
        .services
        .iter()
        .map(|s| (s.slug.as_str(), s.status))
        .collect();
    assert_eq!(statuses, [("api", Deg), ("web", Deg)]);
    assert_eq!(active[0].updates.len(), 3);

    let done = round(
        &store,
        &[transition(api, Deg, Op, 8), transition(web, Deg, Op, 9)],
    )
    .await;
    assert_eq!(done.incidents_resolved, 1);
    assert!(store.active_incidents().await.unwrap().is_empty());
    let history = store.incidents_since(at(0)).await.unwrap();
    assert_eq!(history.len(), 1);
    let resolved = &history[0];
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.resolved_at, Some(at(9)));
    assert_eq!(resolved.impact, Impact::Minor);
    // Newest first; the final update says it resolved itself.
    assert_eq!(resolved.updates.len(), 4);
    assert_eq!(resolved.updates[0].status, IncidentStatus::Resolved);
    assert!(resolved.updates[0].body.contains("resolved automatically"));
    assert!(resolved.updates[3].created_at <= resolved.updates[0].created_at);

    // A new failure much later opens a new incident.
    round(&store, &[transition(api, Op, Maj, 300)]).await;
    assert_eq!(store.incidents_since(at(0)).await.unwrap().len(), 2);
}

async fn a_restart_continues_the_open_incident_instead_of_opening_another(store: Arc<dyn Store>) {
    use ServiceStatus::{DegradedPerformance as Deg, MajorOutage as Maj, Operational as Op};
    let api = ids_of(&store, &[def("api", "API")]).await[0];
    round(&store, &[transition(api, Op, Maj, 3)]).await;
    // A restarted process knows nothing in memory; the open incident in the
    // database is found, even past the join window.
    let again = round(&store, &[transition(api, Maj, Deg, 30)]).await;
    assert_eq!(again.incidents_opened, 0);
    let active = store.active_incidents().await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].services[0].status, Deg);
    round(&store, &[transition(api, Deg, Op, 40)]).await;
    assert!(store.active_incidents().await.unwrap().is_empty());
}

async fn admin_incidents_are_left_alone_by_automation(store: Arc<dyn Store>) {
    use ServiceStatus::{MajorOutage as Maj, Operational as Op};
    let api = ids_of(&store, &[def("api", "API")]).await[0];
    round(&store, &[transition(api, Op, Maj, 3)]).await;
    // Simulate an admin taking the incident over: auto-resolve off.
    let id = store.active_incidents().await.unwrap()[0].id;
    store.set_incident_auto_resolve(id, false).await.unwrap();
    round(&store, &[transition(api, Maj, Op, 10)]).await;
    let active = store.active_incidents().await.unwrap();
    assert_eq!(active.len(), 1, "auto-resolve off keeps it open");
    assert_eq!(active[0].services[0].status, Op);
    assert!(active[0].updates[0].body.contains("has recovered"));
}

async fn a_failed_round_stores_neither_samples_nor_incidents(store: Arc<dyn Store>) {
    use ServiceStatus::{MajorOutage as Maj, Operational as Op};
    let api = ids_of(&store, &[def("api", "API")]).await[0];
    // The unknown service makes the batch fail after the incident logic ran.
    let bad = [
        sample(api, 3, SampleOutcome::Down),
        sample(api + 1000, 3, SampleOutcome::Down),
    ];
    assert!(store
        .insert_samples(&bad, &[], &[transition(api, Op, Maj, 3)])
        .await
        .is_err());
    assert!(store.active_incidents().await.unwrap().is_empty());
    assert!(store.recent_samples(api, 10).await.unwrap().is_empty());
}

async fn maintenance_windows_round_trip_and_completed_ones_are_left_out(store: Arc<dyn Store>) {
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let weekly = NewMaintenance {
        title: "Weekly patching".into(),
        description: Some("Kernel updates".into()),
        starts_at: at(0),
        ends_at: at(60),
        recurrence: Some("FREQ=WEEKLY".into()),
        service_ids: ids.clone(),
        created_by: "test".into(),
    };
    let once = NewMaintenance {
        title: "Disk swap".into(),
        description: None,
        starts_at: at(120),
        ends_at: at(180),
        recurrence: None,
        service_ids: vec![ids[1]],
        created_by: "test".into(),
    };
    let weekly_id = store.create_maintenance(&weekly).await.unwrap();
    let once_id = store.create_maintenance(&once).await.unwrap();
    let windows = store.maintenance_windows(at(30)).await.unwrap();
    let found: Vec<_> = windows.iter().map(|w| (w.id, w.services.len())).collect();
    assert_eq!(found, [(weekly_id, 2), (once_id, 1)]);
    assert_eq!(
        windows[0].recurrence.map(|r| r.to_string()).as_deref(),
        Some("FREQ=WEEKLY")
    );
    assert_eq!(windows[0].starts_at, at(0));
    let schedule = Schedule { windows };
    assert!(schedule.covers(ids[0], at(30)));
    assert!(schedule.covers(ids[1], at(150)));
    assert!(!schedule.covers(ids[0], at(150)));
    // A day later the one-off window is over; the weekly one is not.
    let later = store.maintenance_windows(at(24 * 60)).await.unwrap();
    assert_eq!(later.iter().map(|w| w.id).collect::<Vec<_>>(), [weekly_id]);
}

async fn only_one_prober_holds_the_lock(store: Arc<dyn Store>) {
    let first = store.try_lock_prober().await.unwrap();
    assert!(first.is_some());
    let second = store.try_lock_prober().await.unwrap();
    match store.backend() {
        // One process per SQLite file: there is nothing to compete with.
        store::Backend::Sqlite => assert!(second.is_some()),
        store::Backend::Postgres => {
            assert!(second.is_none(), "a second replica must not probe");
            let mut first = first.unwrap();
            assert!(first.is_held().await);
            drop(first);
            // The session closes when the lease is dropped; the lock follows.
            let mut taken = None;
            for _ in 0..50 {
                taken = store.try_lock_prober().await.unwrap();
                if taken.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert!(
                taken.is_some(),
                "the lock was not released with its session"
            );
        }
    }
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = store::connect(&db.url, 4)
        .await
        .expect("connect and migrate");
    test(Arc::clone(&store)).await;
    store.close().await;
    drop(db);
}

/// Synchronises `defs` and returns their ids, in order.
async fn ids_of(store: &Arc<dyn Store>, defs: &[ServiceDef]) -> Vec<i64> {
    store
        .sync_services(defs)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect()
}

fn def(slug: &str, name: &str) -> ServiceDef {
    ServiceDef {
        slug: slug.into(),
        name: name.into(),
        group: None,
        description: None,
        check_kind: "http".into(),
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    // Samples are stamped in whole seconds, which both backends keep exactly.
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

fn sample(service_id: i64, minute: i64, outcome: SampleOutcome) -> NewSample {
    NewSample {
        service_id,
        taken_at: at(minute),
        outcome,
        latency_ms: Some(u32::try_from(minute).unwrap() + 10),
        error: (outcome == SampleOutcome::Down)
            .then(|| format!("status 503, expected 2xx (#{minute})")),
        in_maintenance: false,
    }
}

async fn migrations_are_recorded_and_rerunning_them_changes_nothing(store: Arc<dyn Store>) {
    let applied = store.applied_migrations().await.unwrap();
    assert!(!applied.is_empty(), "no migrations recorded");
    store.migrate().await.expect("second migrate is a no-op");
    assert_eq!(store.applied_migrations().await.unwrap(), applied);
}

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

async fn sync_services_inserts_updates_archives_and_restores(store: Arc<dyn Store>) {
    let first = store
        .sync_services(&[def("api", "API"), def("web", "Web")])
        .await
        .unwrap();
    let slugs: Vec<_> = first.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(slugs, ["api", "web"]);
    let api_id = first[0].id;

    let mut renamed = def("web", "Website");
    renamed.group = Some("Frontend".into());
    let second = store
        .sync_services(&[renamed, def("db", "Database")])
        .await
        .unwrap();
    let summary: Vec<_> = second
        .iter()
        .map(|s| (s.slug.as_str(), s.name.as_str(), s.position))
        .collect();
    assert_eq!(summary, [("web", "Website", 0), ("db", "Database", 1)]);
    assert_eq!(second[0].group.as_deref(), Some("Frontend"));

    let all = store.services().await.unwrap();
    let api = all
        .iter()
        .find(|s| s.slug == "api")
        .expect("api kept, not deleted");
    assert!(api.archived);

    // A service that comes back keeps its id, and with it its history.
    let third = store.sync_services(&[def("api", "API")]).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].id, api_id);
    assert!(!third[0].archived);
}

async fn samples_round_trip_with_every_field(store: Arc<dyn Store>) {
    let services = store.sync_services(&[def("api", "API")]).await.unwrap();
    let id = services[0].id;
    let written = vec![
        sample(id, 0, SampleOutcome::Up),
        sample(id, 1, SampleOutcome::Degraded),
        NewSample {
            latency_ms: None,
            ..sample(id, 2, SampleOutcome::Down)
        },
    ];
    store.insert_samples(&written, &[], &[]).await.unwrap();
    let mut read = store.recent_samples(id, 10).await.unwrap();
    read.reverse();
    assert_eq!(read, written);
}

async fn latest_samples_are_the_newest_per_service(store: Arc<dyn Store>) {
    let services = store
        .sync_services(&[def("api", "API"), def("web", "Web"), def("idle", "Idle")])
        .await
        .unwrap();
    let (api, web) = (services[0].id, services[1].id);
    store
        .insert_samples(
            &[
                sample(api, 5, SampleOutcome::Down),
                sample(api, 3, SampleOutcome::Up),
                sample(web, 1, SampleOutcome::Up),
                sample(web, 2, SampleOutcome::Degraded),
            ],
            &[],
            &[],
        )
        .await
        .unwrap();
    let mut latest = store.latest_samples().await.unwrap();
    latest.sort_by_key(|s| s.service_id);
    assert_eq!(
        latest,
        vec![
            sample(api, 5, SampleOutcome::Down),
            sample(web, 2, SampleOutcome::Degraded)
        ]
    );
}

async fn a_retried_batch_is_not_stored_twice(store: Arc<dyn Store>) {
    let id = store.sync_services(&[def("api", "API")]).await.unwrap()[0].id;
    let batch: Vec<_> = (0..5).map(|m| sample(id, m, SampleOutcome::Up)).collect();
    store.insert_samples(&batch, &[], &[]).await.unwrap();
    store.insert_samples(&batch, &[], &[]).await.unwrap();
    assert_eq!(store.recent_samples(id, 100).await.unwrap().len(), 5);
}

async fn recent_samples_are_newest_first_and_limited(store: Arc<dyn Store>) {
    let id = store.sync_services(&[def("api", "API")]).await.unwrap()[0].id;
    let batch: Vec<_> = (0..20).map(|m| sample(id, m, SampleOutcome::Up)).collect();
    store.insert_samples(&batch, &[], &[]).await.unwrap();
    let recent = store.recent_samples(id, 3).await.unwrap();
    let minutes: Vec<_> = recent.iter().map(|s| s.taken_at).collect();
    assert_eq!(minutes, vec![at(19), at(18), at(17)]);
}

async fn samples_for_unknown_services_are_rejected(store: Arc<dyn Store>) {
    let id = store.sync_services(&[def("api", "API")]).await.unwrap()[0].id;
    let result = store
        .insert_samples(&[sample(id + 1000, 0, SampleOutcome::Up)], &[], &[])
        .await;
    assert!(result.is_err(), "foreign key not enforced");
    // The failed batch left nothing behind.
    assert!(store.latest_samples().await.unwrap().is_empty());
}

async fn prune_deletes_only_old_samples_of_one_service_up_to_the_limit(store: Arc<dyn Store>) {
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    for id in &ids {
        let batch: Vec<_> = (0..10).map(|m| sample(*id, m, SampleOutcome::Up)).collect();
        store.insert_samples(&batch, &[], &[]).await.unwrap();
    }
    // Minutes 0..=5 are older than the cutoff; only 4 may go in one call.
    let deleted = store
        .prune_samples(ids[0], at(6) - Duration::milliseconds(123), 4)
        .await
        .unwrap();
    assert_eq!(deleted, 4);
    let left: Vec<_> = store
        .recent_samples(ids[0], 100)
        .await
        .unwrap()
        .iter()
        .map(|s| s.taken_at)
        .collect();
    assert_eq!(left.len(), 6);
    assert_eq!(left.last(), Some(&at(4)), "the oldest went first");
    // The other service is untouched.
    assert_eq!(store.recent_samples(ids[1], 100).await.unwrap().len(), 10);
}

async fn pruner_removes_everything_past_retention_in_small_batches(store: Arc<dyn Store>) {
    let services = store
        .sync_services(&[def("api", "API"), def("old", "Old")])
        .await
        .unwrap();
    // "old" is archived by the next sync; its samples are pruned all the same.
    store.sync_services(&[def("api", "API")]).await.unwrap();
    for service in &services {
        let batch: Vec<_> = (0..25)
            .map(|m| sample(service.id, m * 60, SampleOutcome::Up))
            .collect();
        store.insert_samples(&batch, &[], &[]).await.unwrap();
    }
    // Samples are one hour apart from at(0); keep the last 5 hours at "now".
    let now = at(24 * 60);
    let mut pruner = Pruner::new(
        Arc::clone(&store),
        std::time::Duration::from_secs(5 * 3600),
        Arc::new(upbeat::clock::SystemClock),
    );
    pruner.batch = 3;
    pruner.pause = std::time::Duration::ZERO;
    let deleted = pruner.run_once(now).await.unwrap();
    assert_eq!(deleted, 2 * 19, "hours 0..=18 of both services");
    for service in &services {
        let left = store.recent_samples(service.id, 100).await.unwrap();
        assert_eq!(left.len(), 6, "hours 19..=24 stay for {}", service.slug);
        assert!(left.iter().all(|s| s.taken_at >= now - Duration::hours(5)));
    }
    assert_eq!(
        pruner.run_once(now).await.unwrap(),
        0,
        "a second pass finds nothing"
    );
}

async fn service_states_are_stored_with_their_samples(store: Arc<dyn Store>) {
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    assert!(
        store.service_states().await.unwrap().is_empty(),
        "no state before any sample"
    );
    let state = ServiceState {
        service_id: ids[0],
        tracker: Tracker {
            status: ServiceStatus::MajorOutage,
            bad_run: 4,
            good_run: 0,
        },
        updated_at: at(3),
    };
    store
        .insert_samples(&[sample(ids[0], 3, SampleOutcome::Down)], &[state], &[])
        .await
        .unwrap();
    assert_eq!(store.service_states().await.unwrap(), vec![state]);

    // A failing batch stores neither its samples nor its states.
    let recovered = ServiceState {
        tracker: Tracker {
            status: ServiceStatus::Operational,
            bad_run: 0,
            good_run: 2,
        },
        updated_at: at(4),
        ..state
    };
    let result = store
        .insert_samples(
            &[
                sample(ids[0], 4, SampleOutcome::Up),
                sample(9999, 4, SampleOutcome::Up),
            ],
            &[recovered],
            &[],
        )
        .await;
    assert!(result.is_err());
    assert_eq!(store.service_states().await.unwrap(), vec![state]);
    assert_eq!(store.recent_samples(ids[0], 10).await.unwrap().len(), 1);
}

async fn rollups_summarise_exactly_the_stored_samples(store: Arc<dyn Store>) {
    let id = store.sync_services(&[def("api", "API")]).await.unwrap()[0].id;
    // at(m) = 12:00 + m minutes: minutes 0..=119 span 12:00-13:59, one day.
    let mut batch: Vec<NewSample> = (0..120)
        .map(|m| {
            let outcome = match m % 10 {
                0 => SampleOutcome::Down,
                1 => SampleOutcome::Degraded,
                _ => SampleOutcome::Up,
            };
            sample(id, m, outcome)
        })
        .collect();
    // One more the next day.
    batch.push(sample(id, 24 * 60, SampleOutcome::Up));
    store.insert_samples(&batch[..60], &[], &[]).await.unwrap();
    // A retried batch overlapping the first must not count twice.
    store.insert_samples(&batch[30..], &[], &[]).await.unwrap();

    let expected = |samples: &[NewSample]| {
        let mut r = Rollup::default();
        for s in samples {
            r.add(s.outcome, s.latency_ms, false);
        }
        r
    };
    let day = at(0) - Duration::hours(12);
    let hours = store
        .rollups(id, Resolution::Hour, day, day + Duration::days(3))
        .await
        .unwrap();
    let starts: Vec<_> = hours.iter().map(|(start, _)| *start).collect();
    assert_eq!(
        starts,
        [
            day + Duration::hours(12),
            day + Duration::hours(13),
            day + Duration::hours(36)
        ]
    );
    assert_eq!(hours[0].1, expected(&batch[..60]));
    assert_eq!(hours[1].1, expected(&batch[60..120]));
    assert_eq!(hours[0].1.down, 6);
    assert_eq!(hours[0].1.degraded, 6);

    let days = store
        .rollups(id, Resolution::Day, day, day + Duration::days(3))
        .await
        .unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0], (day, expected(&batch[..120])));
    assert_eq!(days[1].1.samples(), 1);
    // The window is half-open: [from, to).
    let first_day_only = store
        .rollups(id, Resolution::Day, day, day + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(first_day_only.len(), 1);

    // A failed batch leaves no trace in the rollups either.
    let bad = [
        sample(id, 200, SampleOutcome::Down),
        sample(id + 999, 200, SampleOutcome::Down),
    ];
    assert!(store.insert_samples(&bad, &[], &[]).await.is_err());
    let days = store
        .rollups(id, Resolution::Day, day, day + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(days[0].1, expected(&batch[..120]));
}
