//! The store suite: every test runs against SQLite and PostgreSQL
//! (`store::sqlite::*` and `store::postgres::*` in the test output).

use std::sync::Arc;

use app::model::{CreatedBy, Impact, IncidentStatus, SampleOutcome, ServiceStatus};
use chrono::{DateTime, Duration, TimeZone, Utc};
use upbeat::domain::incident::{IncidentPatch, NewIncident, Transition};
use upbeat::domain::maintenance::NewMaintenance;
use upbeat::domain::maintenance::Schedule;
use upbeat::domain::people::{Role, SessionPolicy};
use upbeat::domain::rollup::{Resolution, Rollup};
use upbeat::domain::sample::Sample;
use upbeat::domain::service::ServiceDef;
use upbeat::domain::status::ServiceState;
use upbeat::domain::status::Tracker;
use upbeat::engine::pruner::Pruner;
use upbeat::store::{self, AuditFilter, NewSession, RoundResult, Store};

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
    rollups_since_reads_one_slice_of_services_from_a_time,
    maintenance_samples_are_counted_apart_in_rollups,
    automatic_incidents_open_join_update_and_resolve_with_their_samples,
    a_restart_continues_the_open_incident_instead_of_opening_another,
    admin_incidents_are_left_alone_by_automation,
    a_failed_round_stores_neither_samples_nor_incidents,
    maintenance_windows_round_trip_and_completed_ones_are_left_out,
    one_replica_leads_and_a_takeover_fences_the_former_leader,
    rounds_are_logged_for_followers_where_there_are_followers,
    admin_incidents_are_created_patched_and_deleted_with_timeline_and_audit,
    incident_lists_filter_by_resolution_newest_first_up_to_the_limit,
    idempotency_keys_claim_replay_refuse_and_expire,
    tokens_are_created_used_listed_and_revoked,
    users_are_created_listed_changed_and_disabled_with_audit,
    sessions_end_when_revoked_idle_expired_or_their_user_is_disabled,
    password_links_work_once_before_they_expire,
    audit_entries_filter_by_actor_action_and_time_and_page_back,
    push_heartbeats_are_recorded_by_token_and_read_back,
    maintenance_is_created_patched_listed_and_deleted_with_timeline_and_audit,
    times_are_kept_to_the_millisecond_and_samples_to_the_second,
    alert_events_are_written_with_the_changes_that_cause_them,
    old_alerts_are_pruned_but_pending_ones_are_kept,
    objective_states_and_days_round_trip_and_are_pruned,
    old_hourly_histograms_are_cleared_and_daily_ones_kept,
    subscribers_are_fanned_out_once_claimed_once_and_finished,
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
    let samples: Vec<Sample> = transitions
        .iter()
        .map(|t| {
            let outcome = match t.to {
                ServiceStatus::MajorOutage => SampleOutcome::Down,
                ServiceStatus::DegradedPerformance => SampleOutcome::Degraded,
                _ => SampleOutcome::Up,
            };
            Sample {
                taken_at: t.at,
                ..sample(t.service_id, 0, outcome)
            }
        })
        .collect();
    store
        .insert_samples(&samples, &[], transitions, None)
        .await
        .unwrap()
}

async fn maintenance_samples_are_counted_apart_in_rollups(store: Arc<dyn Store>) {
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let batch = [
        sample(id, 0, SampleOutcome::Up),
        Sample {
            in_maintenance: true,
            ..sample(id, 1, SampleOutcome::Down)
        },
    ];
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    let rollups = store
        .rollups(id, Resolution::Hour, at(0), at(60))
        .await
        .unwrap();
    assert_eq!(rollups.len(), 1);
    let r = &rollups[0].1;
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
        .insert_samples(&bad, &[], &[transition(api, Op, Maj, 3)], None)
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
        at: at(0),
        quiet: false,
    };
    let once = NewMaintenance {
        title: "Disk swap".into(),
        description: None,
        starts_at: at(120),
        ends_at: at(180),
        recurrence: None,
        service_ids: vec![ids[1]],
        created_by: "test".into(),
        at: at(0),
        quiet: false,
    };
    // Recurring, but its two occurrences are over a week later.
    let twice = NewMaintenance {
        title: "Two nights".into(),
        recurrence: Some("FREQ=DAILY;COUNT=2".into()),
        service_ids: vec![ids[0]],
        ..once.clone()
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
    let schedule = Schedule::current(windows, at(30));
    assert!(schedule.covers(ids[0], at(30)));
    assert!(schedule.covers(ids[1], at(150)));
    assert!(!schedule.covers(ids[0], at(150)));
    // A week later the one-off window is over; the weekly one is not. The
    // store leaves the one-off out; the finished recurring one is left out
    // by the schedule's rule.
    let twice_id = store.create_maintenance(&twice).await.unwrap();
    let week = at(7 * 24 * 60);
    let later = store.maintenance_windows(week).await.unwrap();
    assert_eq!(
        later.iter().map(|w| w.id).collect::<Vec<_>>(),
        [weekly_id, twice_id]
    );
    let current = Schedule::current(later, week);
    assert_eq!(
        current.windows.iter().map(|w| w.id).collect::<Vec<_>>(),
        [weekly_id]
    );
}

async fn one_replica_leads_and_a_takeover_fences_the_former_leader(store: Arc<dyn Store>) {
    use ServiceStatus::{MajorOutage as Maj, Operational as Op};
    let ttl = Duration::seconds(10);
    let a = store
        .acquire_lease("replica-a", at(0), at(0) + ttl)
        .await
        .unwrap()
        .expect("nobody leads at first");
    // Renewing, or acquiring again, keeps the epoch: nobody else decided.
    assert!(store.renew_lease(&a, at(0) + ttl * 2).await.unwrap());
    let again = store
        .acquire_lease("replica-a", at(1), at(1) + ttl)
        .await
        .unwrap();
    assert_eq!(again, Some(a.clone()));
    let b = match store.backend() {
        // One process per SQLite file: whoever asks leads.
        store::Backend::Sqlite => store
            .acquire_lease("replica-b", at(1), at(1) + ttl)
            .await
            .unwrap()
            .expect("SQLite leads at once"),
        store::Backend::Postgres => {
            let early = store
                .acquire_lease("replica-b", at(1), at(1) + ttl)
                .await
                .unwrap();
            assert_eq!(early, None, "a's lease has not expired");
            // Expired, but nobody took it: still a's.
            assert!(store.renew_lease(&a, at(5) + ttl).await.unwrap());
            let b = store
                .acquire_lease("replica-b", at(6), at(6) + ttl)
                .await
                .unwrap()
                .expect("a's lease expired");
            assert!(
                !store.renew_lease(&a, at(6) + ttl).await.unwrap(),
                "a was deposed"
            );
            b
        }
    };
    assert_eq!(b.epoch, a.epoch + 1, "a takeover raises the epoch");

    // A round under a's lease stores its samples, nothing it decided.
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let state = |minute| ServiceState {
        service_id: id,
        tracker: Tracker {
            status: Maj,
            bad_run: 3,
            good_run: 0,
        },
        updated_at: at(minute),
    };
    let fenced = store
        .insert_samples(
            &[sample(id, 7, SampleOutcome::Down)],
            &[state(7)],
            &[transition(id, Op, Maj, 7)],
            Some(&a),
        )
        .await
        .unwrap();
    assert!(fenced.fenced);
    assert_eq!(fenced.incidents_opened, 0);
    assert_eq!(
        store.recent_samples(id, 10).await.unwrap().len(),
        1,
        "a fact"
    );
    let hour = store
        .rollups(id, Resolution::Hour, at(0), at(60))
        .await
        .unwrap();
    assert_eq!(hour[0].1.down, 1, "counted in the rollups");
    assert!(store.service_states().await.unwrap().is_empty());
    assert!(store.active_incidents().await.unwrap().is_empty());
    // The leader's round is stored whole.
    let led = store
        .insert_samples(
            &[sample(id, 8, SampleOutcome::Down)],
            &[state(8)],
            &[transition(id, Op, Maj, 8)],
            Some(&b),
        )
        .await
        .unwrap();
    assert!(!led.fenced);
    assert_eq!(led.incidents_opened, 1);
    assert_eq!(store.service_states().await.unwrap(), vec![state(8)]);

    // Released at shutdown: the next replica leads at once.
    store.release_lease(&b).await.unwrap();
    let c = store
        .acquire_lease("replica-c", at(9), at(9) + ttl)
        .await
        .unwrap()
        .expect("a released lease is free");
    assert_eq!(c.epoch, b.epoch + 1);
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
        .sync_services(defs, at(0))
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

fn sample(service_id: i64, minute: i64, outcome: SampleOutcome) -> Sample {
    Sample {
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
        .sync_services(&[def("api", "API"), def("web", "Web")], at(0))
        .await
        .unwrap();
    let slugs: Vec<_> = first.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(slugs, ["api", "web"]);
    let api_id = first[0].id;

    let mut renamed = def("web", "Website");
    renamed.group = Some("Frontend".into());
    let second = store
        .sync_services(&[renamed, def("db", "Database")], at(0))
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
    let third = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].id, api_id);
    assert!(!third[0].archived);
}

async fn samples_round_trip_with_every_field(store: Arc<dyn Store>) {
    let services = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap();
    let id = services[0].id;
    let written = vec![
        sample(id, 0, SampleOutcome::Up),
        sample(id, 1, SampleOutcome::Degraded),
        Sample {
            latency_ms: None,
            ..sample(id, 2, SampleOutcome::Down)
        },
    ];
    store
        .insert_samples(&written, &[], &[], None)
        .await
        .unwrap();
    let mut read = store.recent_samples(id, 10).await.unwrap();
    read.reverse();
    assert_eq!(read, written);
}

async fn latest_samples_are_the_newest_per_service(store: Arc<dyn Store>) {
    let services = store
        .sync_services(
            &[def("api", "API"), def("web", "Web"), def("idle", "Idle")],
            at(0),
        )
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
            None,
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
    let id = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap()[0]
        .id;
    let batch: Vec<_> = (0..5).map(|m| sample(id, m, SampleOutcome::Up)).collect();
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    assert_eq!(store.recent_samples(id, 100).await.unwrap().len(), 5);
}

async fn recent_samples_are_newest_first_and_limited(store: Arc<dyn Store>) {
    let id = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap()[0]
        .id;
    let batch: Vec<_> = (0..20).map(|m| sample(id, m, SampleOutcome::Up)).collect();
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    let recent = store.recent_samples(id, 3).await.unwrap();
    let minutes: Vec<_> = recent.iter().map(|s| s.taken_at).collect();
    assert_eq!(minutes, vec![at(19), at(18), at(17)]);
}

async fn samples_for_unknown_services_are_rejected(store: Arc<dyn Store>) {
    let id = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap()[0]
        .id;
    let result = store
        .insert_samples(&[sample(id + 1000, 0, SampleOutcome::Up)], &[], &[], None)
        .await;
    assert!(result.is_err(), "foreign key not enforced");
    // The failed batch left nothing behind.
    assert!(store.latest_samples().await.unwrap().is_empty());
}

async fn prune_deletes_only_old_samples_of_one_service_up_to_the_limit(store: Arc<dyn Store>) {
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    for id in &ids {
        let batch: Vec<_> = (0..10).map(|m| sample(*id, m, SampleOutcome::Up)).collect();
        store.insert_samples(&batch, &[], &[], None).await.unwrap();
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
        .sync_services(&[def("api", "API"), def("old", "Old")], at(0))
        .await
        .unwrap();
    // "old" is archived by the next sync; its samples are pruned all the same.
    store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap();
    for service in &services {
        let batch: Vec<_> = (0..25)
            .map(|m| sample(service.id, m * 60, SampleOutcome::Up))
            .collect();
        store.insert_samples(&batch, &[], &[], None).await.unwrap();
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
        .insert_samples(
            &[sample(ids[0], 3, SampleOutcome::Down)],
            &[state],
            &[],
            None,
        )
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
            None,
        )
        .await;
    assert!(result.is_err());
    assert_eq!(store.service_states().await.unwrap(), vec![state]);
    assert_eq!(store.recent_samples(ids[0], 10).await.unwrap().len(), 1);
}

async fn rollups_since_reads_one_slice_of_services_from_a_time(store: Arc<dyn Store>) {
    let ids = ids_of(&store, &[def("a", "A"), def("b", "B"), def("c", "C")]).await;
    // Each service: one sample two hours back, one now.
    let batch: Vec<Sample> = ids
        .iter()
        .flat_map(|id| {
            [
                Sample {
                    taken_at: at(0) - Duration::hours(2),
                    ..sample(*id, 0, SampleOutcome::Up)
                },
                sample(*id, 0, SampleOutcome::Down),
            ]
        })
        .collect();
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    let hour = Resolution::Hour.start_of(at(0));
    let rows = store
        .rollups_since(Resolution::Hour, hour, ids[0]..=ids[1], hour)
        .await
        .unwrap();
    let got: Vec<(i64, DateTime<Utc>, u32)> = rows
        .iter()
        .map(|(id, start, r)| (*id, *start, r.down))
        .collect();
    assert_eq!(
        got,
        [(ids[0], hour, 1), (ids[1], hour, 1)],
        "the slice, from the hour on"
    );
    let all = store
        .rollups_since(
            Resolution::Hour,
            hour - Duration::hours(2),
            ids[0]..=ids[2],
            hour,
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 6, "two hours of each of three services");
    assert!(
        all.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)),
        "by service, then period"
    );
    let histograms: Vec<(bool, u64)> = all
        .iter()
        .map(|(_, start, r)| (*start == hour, r.histogram.total()))
        .collect();
    assert!(
        histograms
            .iter()
            .all(|(recent, total)| *total == u64::from(*recent)),
        "fine histograms only from `histograms_from` on: {histograms:?}"
    );
    // The samples of a slice from a time on, by service and time.
    let recent = store
        .samples_since(at(0) - Duration::hours(1), ids[1]..=ids[2])
        .await
        .unwrap();
    let got: Vec<(i64, DateTime<Utc>)> =
        recent.iter().map(|s| (s.service_id, s.taken_at)).collect();
    assert_eq!(got, [(ids[1], at(0)), (ids[2], at(0))]);
}

async fn rollups_summarise_exactly_the_stored_samples(store: Arc<dyn Store>) {
    let id = store
        .sync_services(&[def("api", "API")], at(0))
        .await
        .unwrap()[0]
        .id;
    // at(m) = 12:00 + m minutes: minutes 0..=119 span 12:00-13:59, one day.
    let mut batch: Vec<Sample> = (0..120)
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
    store
        .insert_samples(&batch[..60], &[], &[], None)
        .await
        .unwrap();
    // A retried batch overlapping the first must not count twice.
    store
        .insert_samples(&batch[30..], &[], &[], None)
        .await
        .unwrap();

    let expected = |samples: &[Sample]| {
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
    assert!(store.insert_samples(&bad, &[], &[], None).await.is_err());
    let days = store
        .rollups(id, Resolution::Day, day, day + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(days[0].1, expected(&batch[..120]));
}

fn new_incident(title: &str, services: Vec<(i64, ServiceStatus)>, minute: i64) -> NewIncident {
    NewIncident {
        title: title.into(),
        status: IncidentStatus::Investigating,
        impact: Impact::Major,
        auto_resolve: false,
        started_at: at(minute),
        services,
        body: format!("Looking into {title}."),
        author: "ops-bot".into(),
        at: at(minute),
        quiet: false,
    }
}

async fn admin_incidents_are_created_patched_and_deleted_with_timeline_and_audit(
    store: Arc<dyn Store>,
) {
    use ServiceStatus::{DegradedPerformance as Deg, MajorOutage as Maj};
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let id = store
        .create_incident(&new_incident("Login errors", vec![(ids[0], Maj)], 1))
        .await
        .unwrap();
    let created = store.incident(id).await.unwrap().expect("stored");
    assert_eq!(created.title, "Login errors");
    assert_eq!(created.created_by, CreatedBy::Admin);
    assert_eq!(
        (created.impact, created.auto_resolve),
        (Impact::Major, false)
    );
    assert_eq!(created.started_at, at(1));
    assert_eq!(created.resolved_at, None);
    assert_eq!(created.services.len(), 1);
    assert_eq!(
        (
            created.services[0].slug.as_str(),
            created.services[0].status
        ),
        ("api", Maj)
    );
    assert_eq!(created.updates.len(), 1);
    assert_eq!(created.updates[0].body, "Looking into Login errors.");
    assert!(
        created.updates[0].body_html.starts_with("<p>"),
        "rendered once, stored as Markdown"
    );

    // A status change alone adds the line the domain writes.
    let identified = IncidentPatch {
        status: Some(IncidentStatus::Identified),
        services: Some(vec![(ids[1], Deg)]),
        author: "alice".into(),
        at: at(5),
        ..IncidentPatch::default()
    };
    assert!(store.update_incident(id, &identified).await.unwrap());
    let patched = store.incident(id).await.unwrap().unwrap();
    assert_eq!(patched.status, IncidentStatus::Identified);
    assert_eq!(patched.updated_at, at(5));
    let services: Vec<_> = patched
        .services
        .iter()
        .map(|s| (s.slug.as_str(), s.status))
        .collect();
    assert_eq!(services, [("web", Deg)], "the list is replaced");
    assert_eq!(patched.updates[0].body, "Status changed to identified.");
    assert_eq!(patched.updates[0].status, IncidentStatus::Identified);

    // A title alone adds no update; a body is added as it is.
    let retitled = IncidentPatch {
        title: Some("Login errors in EU".into()),
        author: "alice".into(),
        at: at(6),
        ..IncidentPatch::default()
    };
    assert!(store.update_incident(id, &retitled).await.unwrap());
    assert_eq!(store.incident(id).await.unwrap().unwrap().updates.len(), 2);
    let resolved = IncidentPatch {
        status: Some(IncidentStatus::Resolved),
        body: Some("Fixed by a rollback.".into()),
        author: "alice".into(),
        at: at(9),
        ..IncidentPatch::default()
    };
    assert!(store.update_incident(id, &resolved).await.unwrap());
    let done = store.incident(id).await.unwrap().unwrap();
    assert_eq!(done.title, "Login errors in EU");
    assert_eq!(done.resolved_at, Some(at(9)));
    assert_eq!(done.updates.len(), 3);
    assert_eq!(done.updates[0].body, "Fixed by a rollback.");
    assert_eq!(done.updates[0].created_at, at(9));
    assert!(!store.update_incident(id + 100, &resolved).await.unwrap());

    assert!(store.delete_incident(id, "bob", at(20)).await.unwrap());
    assert!(store.incident(id).await.unwrap().is_none());
    assert!(!store.delete_incident(id, "bob", at(21)).await.unwrap());

    let audit = store.audit_log(&filter(10)).await.unwrap();
    let entries: Vec<_> = audit
        .iter()
        .map(|a| {
            (
                a.actor.as_str(),
                a.action.as_str(),
                a.target_id,
                a.detail.as_str(),
                a.at,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("bob", "incident.deleted", id, "Login errors in EU", at(20)),
            ("alice", "incident.updated", id, "status, body", at(9)),
            ("alice", "incident.updated", id, "title", at(6)),
            ("alice", "incident.updated", id, "status, services", at(5)),
            ("ops-bot", "incident.created", id, "Login errors", at(1)),
        ]
    );
    assert_eq!(
        store.audit_log(&filter(2)).await.unwrap().len(),
        2,
        "the newest two"
    );
}

async fn incident_lists_filter_by_resolution_newest_first_up_to_the_limit(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for minute in [10, 30, 20] {
        let id = store
            .create_incident(&new_incident(&format!("at {minute}"), vec![], minute))
            .await
            .unwrap();
        ids.push(id);
    }
    let resolve = IncidentPatch {
        status: Some(IncidentStatus::Resolved),
        author: "alice".into(),
        at: at(40),
        ..IncidentPatch::default()
    };
    store.update_incident(ids[1], &resolve).await.unwrap();
    let titles =
        |list: Vec<app::model::IncidentView>| list.into_iter().map(|i| i.title).collect::<Vec<_>>();
    assert_eq!(
        titles(store.incidents(None, 10).await.unwrap()),
        ["at 30", "at 20", "at 10"]
    );
    assert_eq!(
        titles(store.incidents(None, 2).await.unwrap()),
        ["at 30", "at 20"]
    );
    assert_eq!(
        titles(store.incidents(Some(true), 10).await.unwrap()),
        ["at 30"]
    );
    assert_eq!(
        titles(store.incidents(Some(false), 10).await.unwrap()),
        ["at 20", "at 10"]
    );
    assert_eq!(
        titles(store.active_incidents().await.unwrap()),
        ["at 20", "at 10"]
    );
    assert_eq!(
        titles(store.incidents_since(at(20)).await.unwrap()),
        ["at 30", "at 20"]
    );
}

async fn idempotency_keys_claim_replay_refuse_and_expire(store: Arc<dyn Store>) {
    use upbeat::store::{IdempotencyClaim, KeptResponse};
    let claim = |key: &'static str, print: &'static str, minute: i64| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_idempotency_key("ops-bot", key, print, at(minute))
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("k1", "post-a", 0).await, IdempotencyClaim::Claimed);
    // Still running: a retry waits, another request with the key is refused.
    assert_eq!(claim("k1", "post-a", 0).await, IdempotencyClaim::InProgress);
    assert_eq!(claim("k1", "post-b", 0).await, IdempotencyClaim::Mismatch);
    // Keys belong to their token.
    assert_eq!(
        store
            .claim_idempotency_key("other", "k1", "post-b", at(0))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed
    );
    let kept = KeptResponse {
        status: 201,
        body: br#"{"id":7}"#.to_vec(),
        location: Some("/api/v1/incidents/7".into()),
    };
    store
        .finish_idempotency_key("ops-bot", "k1", Some(&kept))
        .await
        .unwrap();
    assert_eq!(
        claim("k1", "post-a", 5).await,
        IdempotencyClaim::Replay(kept.clone())
    );
    assert_eq!(claim("k1", "post-b", 5).await, IdempotencyClaim::Mismatch);
    // A day later the key is free again.
    assert_eq!(
        claim("k1", "post-b", 24 * 60 + 1).await,
        IdempotencyClaim::Claimed
    );

    // A failed request releases its claim; one that died is taken over.
    assert_eq!(claim("k2", "post-c", 0).await, IdempotencyClaim::Claimed);
    store
        .finish_idempotency_key("ops-bot", "k2", None)
        .await
        .unwrap();
    assert_eq!(claim("k2", "post-d", 0).await, IdempotencyClaim::Claimed);
    assert_eq!(claim("k2", "post-d", 0).await, IdempotencyClaim::InProgress);
    assert_eq!(
        claim("k2", "post-d", 2).await,
        IdempotencyClaim::Claimed,
        "abandoned after a minute"
    );

    // Pruning forgets keys claimed before the cutoff.
    assert_eq!(
        store.prune_idempotency_keys(at(1)).await.unwrap(),
        1,
        "other/k1"
    );
    assert_eq!(
        store.prune_idempotency_keys(at(24 * 60 + 2)).await.unwrap(),
        2
    );
    assert_eq!(claim("k1", "post-z", 0).await, IdempotencyClaim::Claimed);
}

async fn tokens_are_created_used_listed_and_revoked(store: Arc<dyn Store>) {
    use upbeat::token::hash_token;
    let laptop = hash_token("upb_laptop");
    let id = store
        .create_token("laptop", &laptop, Role::Editor, "cli", at(0))
        .await
        .unwrap();
    assert!(id.is_some());
    assert_eq!(
        store
            .create_token(
                "laptop",
                &hash_token("upb_other"),
                Role::Admin,
                "cli",
                at(1)
            )
            .await
            .unwrap(),
        None,
        "names are never reused"
    );
    store
        .create_token("ci", &hash_token("upb_ci"), Role::Viewer, "cli", at(2))
        .await
        .unwrap()
        .unwrap();

    let used = store
        .use_token(&laptop, at(5))
        .await
        .unwrap()
        .expect("active token");
    assert_eq!(
        (used.name.as_str(), used.role, used.created_at),
        ("laptop", Role::Editor, at(0))
    );
    assert_eq!(used.last_used_at, Some(at(5)));
    assert_eq!(
        store
            .use_token(&hash_token("upb_guess"), at(5))
            .await
            .unwrap(),
        None
    );

    assert!(store.revoke_token("laptop", "alice", at(7)).await.unwrap());
    assert!(
        !store.revoke_token("laptop", "alice", at(8)).await.unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token("nobody", "alice", at(8)).await.unwrap());
    assert_eq!(store.use_token(&laptop, at(9)).await.unwrap(), None);

    let tokens = store.tokens().await.unwrap();
    let summary: Vec<_> = tokens
        .iter()
        .map(|t| (t.name.as_str(), t.last_used_at, t.revoked_at))
        .collect();
    assert_eq!(
        summary,
        [("laptop", Some(at(5)), Some(at(7))), ("ci", None, None)]
    );
}

async fn push_heartbeats_are_recorded_by_token_and_read_back(store: Arc<dyn Store>) {
    use upbeat::store::Heartbeat;
    use upbeat::token::hash_token;
    let ids = ids_of(&store, &[def("backup", "Backup"), def("cron", "Cron")]).await;
    let token = hash_token("push-backup");
    assert!(store.set_push_token("backup", &token).await.unwrap());
    assert!(!store.set_push_token("nope", &token).await.unwrap());
    assert_eq!(store.last_heartbeat(ids[0]).await.unwrap(), None);

    let beat = Heartbeat {
        at: at(3) + Duration::milliseconds(250),
        outcome: SampleOutcome::Degraded,
        msg: Some("disk 91% full".into()),
        latency_ms: Some(1234),
    };
    assert_eq!(
        store
            .record_heartbeat(&token, &beat)
            .await
            .unwrap()
            .as_deref(),
        Some("backup")
    );
    assert_eq!(
        store.last_heartbeat(ids[0]).await.unwrap(),
        Some(beat.clone())
    );
    assert_eq!(store.last_heartbeat(ids[1]).await.unwrap(), None);
    assert_eq!(
        store
            .record_heartbeat(&hash_token("guess"), &beat)
            .await
            .unwrap(),
        None
    );
    // An archived service no longer takes heartbeats.
    store
        .sync_services(&[def("cron", "Cron")], at(10))
        .await
        .unwrap();
    assert_eq!(store.record_heartbeat(&token, &beat).await.unwrap(), None);
}

async fn maintenance_is_created_patched_listed_and_deleted_with_timeline_and_audit(
    store: Arc<dyn Store>,
) {
    use upbeat::domain::maintenance::{MaintenancePatch, UpdateStatus};
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let new = |title: &str, description: Option<&str>, start: i64| NewMaintenance {
        title: title.into(),
        description: description.map(str::to_owned),
        starts_at: at(start),
        ends_at: at(start + 60),
        recurrence: None,
        service_ids: vec![ids[0]],
        created_by: "ops-bot".into(),
        at: at(0),
        quiet: false,
    };
    let first = store
        .create_maintenance(&new("Patching", Some("Kernel"), 100))
        .await
        .unwrap();
    let second = store
        .create_maintenance(&new("Disk swap", None, 300))
        .await
        .unwrap();
    let record = store.maintenance(second).await.unwrap().expect("stored");
    assert_eq!(record.created_by, "ops-bot");
    assert_eq!(record.window.services, [ids[0]]);
    let timeline: Vec<_> = record
        .updates
        .iter()
        .map(|u| (u.status.as_str(), u.body.as_str(), u.created_at))
        .collect();
    assert_eq!(
        timeline,
        [("scheduled", "Disk swap", at(0))],
        "the title when there is no description"
    );
    let first_update = &store.maintenance(first).await.unwrap().unwrap().updates[0];
    assert_eq!(first_update.body, "Kernel");

    let patch = MaintenancePatch {
        title: Some("Disk swap, rack 4".into()),
        description: Some(Some("Two disks".into())),
        ends_at: Some(at(400)),
        recurrence: Some(Some("FREQ=WEEKLY".into())),
        service_ids: Some(vec![ids[1], ids[0]]),
        update: Some((UpdateStatus::InProgress, "Started.".into())),
        author: "alice".into(),
        at: at(301),
        ..MaintenancePatch::default()
    };
    assert!(store.update_maintenance(second, &patch).await.unwrap());
    let record = store.maintenance(second).await.unwrap().unwrap();
    assert_eq!(record.window.title, "Disk swap, rack 4");
    assert_eq!(record.window.description.as_deref(), Some("Two disks"));
    assert_eq!(
        (record.window.starts_at, record.window.ends_at),
        (at(300), at(400))
    );
    assert_eq!(
        record.window.recurrence.map(|r| r.to_string()).as_deref(),
        Some("FREQ=WEEKLY")
    );
    let mut services = record.window.services.clone();
    services.sort_unstable();
    assert_eq!(services, ids);
    let timeline: Vec<_> = record
        .updates
        .iter()
        .map(|u| (u.status.as_str(), u.created_by.as_str()))
        .collect();
    assert_eq!(
        timeline,
        [("in_progress", "alice"), ("scheduled", "ops-bot")],
        "newest first"
    );
    // `Some(None)` clears a field; absent fields stay.
    let clear = MaintenancePatch {
        description: Some(None),
        recurrence: Some(None),
        author: "alice".into(),
        at: at(302),
        ..MaintenancePatch::default()
    };
    assert!(store.update_maintenance(second, &clear).await.unwrap());
    let record = store.maintenance(second).await.unwrap().unwrap();
    assert_eq!(
        (record.window.description, record.window.recurrence),
        (None, None)
    );
    assert_eq!(record.window.title, "Disk swap, rack 4");
    assert!(!store
        .update_maintenance(second + 100, &clear)
        .await
        .unwrap());

    let listed: Vec<i64> = store
        .maintenances(10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.window.id)
        .collect();
    assert_eq!(listed, [second, first], "latest start first");
    assert_eq!(store.maintenances(1).await.unwrap().len(), 1);

    assert!(store
        .delete_maintenance(first, "bob", at(500))
        .await
        .unwrap());
    assert!(!store
        .delete_maintenance(first, "bob", at(501))
        .await
        .unwrap());
    assert!(store.maintenance(first).await.unwrap().is_none());
    let audit: Vec<_> = store
        .audit_log(&filter(10))
        .await
        .unwrap()
        .iter()
        .map(|a| (a.action.clone(), a.detail.clone(), a.at))
        .collect();
    assert_eq!(
        audit,
        [
            (
                "maintenance.deleted".to_owned(),
                "Patching".to_owned(),
                at(500)
            ),
            (
                "maintenance.updated".to_owned(),
                "description, recurrence".to_owned(),
                at(302)
            ),
            (
                "maintenance.updated".to_owned(),
                "title, description, ends_at, recurrence, services, update".to_owned(),
                at(301)
            ),
            (
                "maintenance.created".to_owned(),
                "Disk swap".to_owned(),
                at(0)
            ),
            (
                "maintenance.created".to_owned(),
                "Patching".to_owned(),
                at(0)
            ),
        ]
    );
}

async fn times_are_kept_to_the_millisecond_and_samples_to_the_second(store: Arc<dyn Store>) {
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let precise = at(1) + Duration::milliseconds(987);
    let incident = store
        .create_incident(&NewIncident {
            at: precise,
            started_at: precise,
            ..new_incident("Precise", vec![], 1)
        })
        .await
        .unwrap();
    let stored = store.incident(incident).await.unwrap().unwrap();
    assert_eq!((stored.started_at, stored.updated_at), (precise, precise));
    store
        .insert_samples(&[sample(id, 2, SampleOutcome::Up)], &[], &[], None)
        .await
        .unwrap();
    assert_eq!(store.latest_samples().await.unwrap()[0].taken_at, at(2));
}

/// Rows another writer (or an older version) left with latencies that do
/// not fit a `u32` read back the same way on both backends: saturated.
async fn stored_latencies_out_of_range_read_back_saturated(backend: Backend) {
    use sqlx::{Connection, Executor};
    use upbeat::store::Heartbeat;
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = store::connect(&db.url, 2).await.unwrap();
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let huge = Sample {
        latency_ms: Some(u32::MAX),
        ..sample(id, 0, SampleOutcome::Up)
    };
    store.insert_samples(&[huge], &[], &[], None).await.unwrap();
    // Written as at most i32::MAX, PostgreSQL's INTEGER, on both.
    let latency = |store: Arc<dyn Store>| async move {
        store.recent_samples(id, 1).await.unwrap()[0].latency_ms
    };
    assert_eq!(
        latency(Arc::clone(&store)).await,
        Some(i32::MAX.unsigned_abs())
    );
    let token = upbeat::token::hash_token("push");
    store.set_push_token("api", &token).await.unwrap();
    let beat = Heartbeat {
        at: at(1),
        outcome: SampleOutcome::Up,
        msg: None,
        latency_ms: Some(5),
    };
    store.record_heartbeat(&token, &beat).await.unwrap();

    let corrupt = |sql: &'static str| {
        let url = db.url.clone();
        async move {
            match backend {
                Backend::Sqlite => {
                    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    conn.execute(sql).await.unwrap();
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    conn.execute(sql).await.unwrap();
                }
            }
        }
    };
    corrupt("UPDATE samples SET latency_ms = -5").await;
    corrupt("UPDATE services SET last_push_latency_ms = -7").await;
    assert_eq!(latency(Arc::clone(&store)).await, Some(0));
    assert_eq!(store.latest_samples().await.unwrap()[0].latency_ms, Some(0));
    let read = store.last_heartbeat(id).await.unwrap().unwrap();
    assert_eq!(read.latency_ms, Some(0));
    if let Backend::Sqlite = backend {
        // Only SQLite's 64-bit INTEGER can hold more than a u32.
        corrupt("UPDATE samples SET latency_ms = 5000000000").await;
        assert_eq!(latency(Arc::clone(&store)).await, Some(u32::MAX));
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_stored_latencies_out_of_range_read_back_saturated() {
    stored_latencies_out_of_range_read_back_saturated(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_stored_latencies_out_of_range_read_back_saturated() {
    stored_latencies_out_of_range_read_back_saturated(Backend::Postgres).await;
}

async fn rounds_are_logged_for_followers_where_there_are_followers(store: Arc<dyn Store>) {
    use ServiceStatus::{MajorOutage as Maj, Operational as Op};
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let lease = store
        .acquire_lease("replica-a", at(0), at(1))
        .await
        .unwrap()
        .unwrap();
    let mut feed = store.round_feed().await.unwrap();
    let state = ServiceState {
        service_id: id,
        tracker: Tracker {
            status: Maj,
            bad_run: 3,
            good_run: 0,
        },
        updated_at: at(3),
    };
    let samples = [
        sample(id, 2, SampleOutcome::Up),
        sample(id, 3, SampleOutcome::Down),
    ];
    store
        .insert_samples(
            &samples,
            &[state],
            &[transition(id, Op, Maj, 3)],
            Some(&lease),
        )
        .await
        .unwrap();
    let rounds = store.rounds_since(0, 100).await.unwrap();
    match store.backend() {
        // One process per file: no followers, no log.
        store::Backend::Sqlite => {
            assert!(feed.is_none());
            assert!(rounds.is_empty());
            assert_eq!(store.last_round().await.unwrap(), 0);
        }
        store::Backend::Postgres => {
            // The commit woke the listener.
            let heard = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                feed.as_mut().expect("PostgreSQL has followers").next(),
            )
            .await;
            assert!(matches!(heard, Ok(Ok(()))), "{heard:?}");
            let [round] = rounds.as_slice() else {
                panic!("one round: {rounds:?}");
            };
            assert_eq!(round.epoch, lease.epoch);
            assert!(round.incidents_changed);
            assert_eq!(round.samples, samples, "as stored");
            assert_eq!(round.states, vec![state]);
            assert_eq!(store.last_round().await.unwrap(), round.seq);
            assert!(store.rounds_since(round.seq, 100).await.unwrap().is_empty());
            // A round that stored nothing new is not logged.
            store
                .insert_samples(&samples, &[], &[], Some(&lease))
                .await
                .unwrap();
            assert_eq!(store.last_round().await.unwrap(), round.seq);
            // Pruned by the time of its newest sample.
            assert_eq!(store.prune_rounds(at(3)).await.unwrap(), 0);
            assert_eq!(store.prune_rounds(at(4)).await.unwrap(), 1);
            assert!(store.rounds_since(0, 100).await.unwrap().is_empty());
        }
    }
}

/// The outbox: every incident change and status change writes its alert
/// events in its own transaction; a fenced round and a failed round write
/// none; an admin edit that changes nothing people see writes none.
async fn alert_events_are_written_with_the_changes_that_cause_them(store: Arc<dyn Store>) {
    use upbeat::domain::alert::EventKind::{self, *};
    use ServiceStatus::{MajorOutage as Maj, Operational as Op};
    let ids = ids_of(&store, &[def("api", "API")]).await;
    let api = ids[0];
    let kinds = |events: &[upbeat::store::StoredAlertEvent]| -> Vec<(EventKind, String)> {
        events
            .iter()
            .map(|e| (e.event.event, e.event.dedup_key()))
            .collect()
    };

    // Down: the status change and the automatic incident, together.
    round(&store, &[transition(api, Op, Maj, 3)]).await;
    let events = store.alert_events(0, 100).await.unwrap();
    let incident = store.active_incidents().await.unwrap()[0].id;
    let key = format!("upbeat-incident-{incident}");
    assert_eq!(
        kinds(&events),
        [
            (IncidentOpened, key.clone()),
            (ServiceStatusChanged, "upbeat-service-api".into())
        ]
    );
    let opened = &events[0].event;
    let info = opened.incident.as_ref().unwrap();
    assert_eq!(
        (info.impact, info.status),
        (Impact::Critical, IncidentStatus::Investigating)
    );
    assert_eq!(info.services[0].slug, "api");
    assert!(
        info.update
            .as_deref()
            .unwrap()
            .contains("connection refused"),
        "{info:?}"
    );
    assert_eq!(opened.occurred_at, at(3));
    let change = events[1].event.service.as_ref().unwrap();
    assert_eq!((change.previous, change.status), (Some(Op), Maj));
    assert_eq!(change.error.as_deref(), Some("connection refused"));
    assert!(events.iter().all(|e| e.routed_at.is_none()));

    // Recovered: resolved, with the same key.
    round(&store, &[transition(api, Maj, Op, 9)]).await;
    let later = store.alert_events(events[1].id, 100).await.unwrap();
    assert_eq!(
        kinds(&later),
        [
            (IncidentResolved, key),
            (ServiceStatusChanged, "upbeat-service-api".into())
        ]
    );

    // A fenced round writes no events (a former leader cannot alert).
    let ttl = Duration::seconds(10);
    let lease = store
        .acquire_lease("a", at(10), at(10) + ttl)
        .await
        .unwrap()
        .unwrap();
    store.release_lease(&lease).await.unwrap();
    store
        .acquire_lease("b", at(11), at(11) + ttl)
        .await
        .unwrap()
        .unwrap();
    let before = store.alert_events(0, 1000).await.unwrap().len();
    let fenced = store
        .insert_samples(
            &[sample(api, 12, SampleOutcome::Down)],
            &[],
            &[transition(api, Op, Maj, 12)],
            Some(&lease),
        )
        .await
        .unwrap();
    assert!(fenced.fenced);
    assert_eq!(store.alert_events(0, 1000).await.unwrap().len(), before);

    // Admin incidents: created → opened; an update with text → updated;
    // resolved → resolved; a change nobody sees (auto_resolve) → nothing.
    let id = store
        .create_incident(&new_incident("Login errors", vec![(api, Maj)], 20))
        .await
        .unwrap();
    let patch = |minute, status, body: Option<&str>| IncidentPatch {
        title: None,
        status,
        impact: None,
        services: None,
        auto_resolve: None,
        body: body.map(str::to_owned),
        author: "ops".into(),
        at: at(minute),
        quiet: false,
    };
    store
        .update_incident(id, &patch(21, None, Some("Found it.")))
        .await
        .unwrap();
    store
        .update_incident(
            id,
            &IncidentPatch {
                auto_resolve: Some(true),
                ..patch(22, None, None)
            },
        )
        .await
        .unwrap();
    store
        .update_incident(id, &patch(23, Some(IncidentStatus::Resolved), None))
        .await
        .unwrap();
    let admin: Vec<_> = store
        .alert_events(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.incident.as_ref().is_some_and(|i| i.id == id))
        .collect();
    assert_eq!(
        admin
            .iter()
            .map(|e| (e.event.event, e.event.occurred_at))
            .collect::<Vec<_>>(),
        [
            (IncidentOpened, at(20)),
            (IncidentUpdated, at(21)),
            (IncidentResolved, at(23))
        ]
    );
    assert_eq!(
        admin[1].event.incident.as_ref().unwrap().update.as_deref(),
        Some("Found it.")
    );
}

/// Retention: delivered (and failed) alerts older than the cut are deleted
/// with their deliveries and attempts; pending ones and unrouted events
/// stay, whatever their age.
async fn old_alerts_are_pruned_but_pending_ones_are_kept(store: Arc<dyn Store>) {
    use upbeat::domain::alert::test_event;
    use upbeat::store::{AlertHistoryFilter, AttemptOutcome, AttemptRecord};
    let done = store
        .insert_routed_alert(&test_event(at(0)), "hook", "webhook", None)
        .await
        .unwrap()
        .unwrap();
    let pending = store
        .insert_routed_alert(&test_event(at(1)), "hook", "webhook", None)
        .await
        .unwrap()
        .unwrap();
    let attempt = AttemptRecord {
        at: at(2),
        status_code: Some(202),
        error: None,
        duration_ms: 3,
    };
    store
        .finish_alert_attempt(done, &attempt, AttemptOutcome::Delivered)
        .await
        .unwrap();
    let all = AlertHistoryFilter {
        limit: 10,
        ..AlertHistoryFilter::default()
    };
    assert_eq!(store.alert_history(&all).await.unwrap().len(), 2);
    assert_eq!(
        store.prune_alerts(at(0)).await.unwrap(),
        0,
        "nothing older than the cut"
    );
    assert_eq!(store.prune_alerts(at(60)).await.unwrap(), 1);
    let left = store.alert_history(&all).await.unwrap();
    assert_eq!(left.iter().map(|d| d.id).collect::<Vec<_>>(), [pending]);
    assert!(store.alert_attempts(done).await.unwrap().is_empty());
    assert_eq!(store.alert_outbox().await.unwrap().pending, 1);
}

async fn objective_states_and_days_round_trip_and_are_pruned(store: Arc<dyn Store>) {
    use upbeat::domain::alert::{slo_event, ServiceRef, SloInfo};
    use upbeat::store::{SloDay, SloState};
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let state = |id, status: &str, minute| SloState {
        service_id: id,
        objective: "availability".into(),
        status: status.into(),
        changed_at: at(minute),
    };
    let info = SloInfo {
        service: ServiceRef {
            slug: "api".into(),
            name: "API".into(),
            group: None,
        },
        objective: "availability".into(),
        target: 0.999,
        window: "30d".into(),
        status: "critical".into(),
        previous: Some("ok".into()),
        compliance: Some(0.99),
        budget_remaining: Some(0.5),
        burn_rates: [("1h".to_owned(), 20.0)].into_iter().collect(),
        exhausted_in_s_at_1h_rate: Some(3600),
        exhausted_in_s_at_24h_rate: None,
        url: None,
    };
    let event = slo_event(info, at(1));
    // Fenced by a lease that is not held: nothing written.
    let stranger = upbeat::store::Lease {
        holder: "nobody".into(),
        epoch: 99,
    };
    assert!(!store
        .record_slo_changes(
            &[state(ids[0], "critical", 1)],
            std::slice::from_ref(&event),
            Some(&stranger)
        )
        .await
        .unwrap());
    assert!(store.slo_states().await.unwrap().is_empty());
    // Unfenced: the state and its event together; a later change replaces it.
    assert!(store
        .record_slo_changes(
            &[state(ids[0], "critical", 1), state(ids[1], "ok", 1)],
            &[event],
            None
        )
        .await
        .unwrap());
    assert!(store
        .record_slo_changes(&[state(ids[0], "exhausted", 2)], &[], None)
        .await
        .unwrap());
    let mut states = store.slo_states().await.unwrap();
    states.sort_by_key(|s| s.service_id);
    assert_eq!(
        states,
        [state(ids[0], "exhausted", 2), state(ids[1], "ok", 1)]
    );
    let events = store.unrouted_alert_events(10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.dedup_key(), "upbeat-slo-api-availability");

    let day = |id, d: i64, good, bad| SloDay {
        service_id: id,
        objective: "availability".into(),
        day: Resolution::Day.start_of(at(0)) + Duration::days(d),
        target: 0.9995,
        good,
        bad,
        window_good: good * 2,
        window_bad: bad,
    };
    let days = [
        day(ids[0], -1, 1430, 10),
        day(ids[0], 0, 1440, 0),
        day(ids[1], 0, 5, 5),
    ];
    store.record_slo_days(&days).await.unwrap();
    // A day already stored is kept as it is.
    store
        .record_slo_days(&[day(ids[0], 0, 1, 1)])
        .await
        .unwrap();
    assert_eq!(store.last_slo_day().await.unwrap(), Some(days[1].day));
    let from = days[0].day;
    let to = days[1].day + Duration::days(1);
    assert_eq!(
        store.slo_days(Some(ids[0]), from, to).await.unwrap(),
        days[..2]
    );
    assert_eq!(
        store.slo_days(None, days[1].day, to).await.unwrap(),
        [days[1].clone(), days[2].clone()]
    );
    assert_eq!(store.prune_slo_days(days[1].day).await.unwrap(), 1);
    assert_eq!(store.slo_days(None, from, to).await.unwrap().len(), 2);
}

async fn old_hourly_histograms_are_cleared_and_daily_ones_kept(store: Arc<dyn Store>) {
    let id = ids_of(&store, &[def("api", "API")]).await[0];
    let batch: Vec<Sample> = [0, 90, 180]
        .iter()
        .map(|m| sample(id, *m, SampleOutcome::Up))
        .collect();
    store.insert_samples(&batch, &[], &[], None).await.unwrap();
    let cleared = store.prune_hourly_histograms(id, at(120)).await.unwrap();
    assert_eq!(cleared, 2, "the hours of minutes 0 and 90");
    let hours = store
        .rollups(id, Resolution::Hour, at(0), at(240))
        .await
        .unwrap();
    let totals: Vec<u64> = hours.iter().map(|(_, r)| r.histogram.total()).collect();
    assert_eq!(totals, [0, 0, 1]);
    assert_eq!(hours[0].1.latency_count, 1, "the counts stay");
    let days = store
        .rollups(
            id,
            Resolution::Day,
            at(0) - Duration::days(1),
            at(0) + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(days[0].1.histogram.total(), 3);
    assert_eq!(store.prune_hourly_histograms(id, at(120)).await.unwrap(), 0);
}

fn filter(limit: u32) -> AuditFilter {
    AuditFilter {
        limit,
        ..AuditFilter::default()
    }
}

async fn users_are_created_listed_changed_and_disabled_with_audit(store: Arc<dyn Store>) {
    use upbeat::token::hash_token;
    let alice = store
        .create_user("alice", Role::Editor, Some("$argon2id$fake"), "cli", at(0))
        .await
        .unwrap()
        .expect("a new name");
    assert_eq!(
        store
            .create_user("alice", Role::Admin, None, "cli", at(1))
            .await
            .unwrap(),
        None,
        "user names are unique"
    );
    store
        .create_token(
            "deploy",
            &hash_token("upb_deploy"),
            Role::Editor,
            "cli",
            at(1),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .create_user("deploy", Role::Viewer, None, "cli", at(2))
            .await
            .unwrap(),
        None,
        "a token has the name"
    );
    assert_eq!(
        store
            .create_token("alice", &hash_token("upb_alice"), Role::Admin, "cli", at(2))
            .await
            .unwrap(),
        None,
        "a user has the name"
    );
    store
        .create_user("bob", Role::Viewer, None, "alice", at(3))
        .await
        .unwrap()
        .unwrap();

    let credentials = store.credentials("alice").await.unwrap().unwrap();
    assert_eq!(credentials.password_hash.as_deref(), Some("$argon2id$fake"));
    assert_eq!(
        (credentials.user.id, credentials.user.role),
        (alice, Role::Editor)
    );
    assert!(store.credentials("carol").await.unwrap().is_none());

    assert!(store
        .set_user_role("bob", Role::Admin, "alice", at(4))
        .await
        .unwrap());
    assert!(!store
        .set_user_role("carol", Role::Admin, "alice", at(4))
        .await
        .unwrap());
    assert!(store.disable_user("alice", "bob", at(5)).await.unwrap());
    assert!(
        !store.disable_user("alice", "bob", at(6)).await.unwrap(),
        "already disabled"
    );

    let users: Vec<_> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role, u.has_password, u.disabled_at))
        .collect();
    assert_eq!(
        users,
        [
            ("alice".to_owned(), Role::Editor, true, Some(at(5))),
            ("bob".to_owned(), Role::Admin, false, None),
        ]
    );
    let audit: Vec<_> = store
        .audit_log(&filter(10))
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.actor, a.actor_kind, a.action, a.detail))
        .collect();
    let row = |actor: &str, kind: &str, action: &str, detail: &str| {
        (
            actor.to_owned(),
            kind.to_owned(),
            action.to_owned(),
            detail.to_owned(),
        )
    };
    assert_eq!(
        audit,
        [
            row("bob", "user", "user.disabled", "alice"),
            row("alice", "user", "user.role_changed", "bob: viewer → admin"),
            row("alice", "user", "user.created", "bob (viewer)"),
            row("cli", "token", "token.created", "deploy (editor)"),
            row("cli", "token", "user.created", "alice (editor)"),
        ]
    );
}

async fn sessions_end_when_revoked_idle_expired_or_their_user_is_disabled(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let user = store
        .create_user("alice", Role::Editor, Some("hash"), "cli", at(0))
        .await
        .unwrap()
        .unwrap();
    let start = |id: &'static [u8], minute: i64| {
        let store = store.clone();
        async move {
            let session = NewSession {
                id_hash: id,
                user_id: user,
                csrf_token: "csrf-1",
                at: at(minute),
                expires_at: policy.expires_at(at(minute)),
            };
            store.create_session(&session).await.unwrap();
        }
    };
    let live = |id: &'static [u8], minute: i64| {
        let store = store.clone();
        async move {
            store
                .session(id, at(minute), policy.idle_cutoff(at(minute)))
                .await
                .unwrap()
        }
    };
    start(b"one", 0).await;
    let seen = live(b"one", 0).await.expect("a live session");
    assert_eq!(
        (seen.name.as_str(), seen.role, seen.csrf_token.as_str()),
        ("alice", Role::Editor, "csrf-1")
    );
    assert_eq!(seen.last_seen_at, at(0));
    assert!(live(b"two", 0).await.is_none(), "unknown");

    // Seen every 7 hours: never idle for 8, until the week is over.
    let mut minute = 0;
    while minute + 7 * 60 < 7 * 24 * 60 {
        minute += 7 * 60;
        let seen = live(b"one", minute).await.expect("busy sessions last");
        assert_eq!(seen.last_seen_at, at(minute), "marked seen");
    }
    assert!(
        live(b"one", 7 * 24 * 60).await.is_none(),
        "a week after sign-in"
    );

    // Idle: 8 hours without a request.
    start(b"idle", 0).await;
    assert!(live(b"idle", 8 * 60 - 1).await.is_some());
    start(b"idle2", 0).await;
    assert!(live(b"idle2", 8 * 60).await.is_none(), "idle for 8 hours");

    // Signed out.
    start(b"out", 10).await;
    assert!(store.end_session(b"out", at(11)).await.unwrap());
    assert!(!store.end_session(b"out", at(12)).await.unwrap());
    assert!(live(b"out", 12).await.is_none());

    // Disabled: every session of the user ends at once.
    start(b"three", 20).await;
    start(b"four", 20).await;
    assert!(live(b"three", 21).await.is_some());
    store.disable_user("alice", "bob", at(22)).await.unwrap();
    assert!(live(b"three", 22).await.is_none());
    assert!(live(b"four", 22).await.is_none());

    let signed_in = store
        .audit_log(&AuditFilter {
            action: Some("user.signed_in".to_owned()),
            ..filter(100)
        })
        .await
        .unwrap();
    assert_eq!(signed_in.len(), 6);
    assert!(signed_in
        .iter()
        .all(|a| a.actor == "alice" && a.target_id == user));
}

async fn password_links_work_once_before_they_expire(store: Arc<dyn Store>) {
    let user = store
        .create_user("alice", Role::Viewer, None, "cli", at(0))
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .reset_password("alice", b"link-1", at(60), "cli", at(0))
        .await
        .unwrap());
    assert!(!store
        .reset_password("nobody", b"link-x", at(60), "cli", at(0))
        .await
        .unwrap());
    assert_eq!(
        store
            .password_link(b"link-1", at(59))
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        store.password_link(b"link-1", at(60)).await.unwrap(),
        None,
        "expired"
    );
    // A second reset replaces the first link.
    assert!(store
        .reset_password("alice", b"link-2", at(120), "cli", at(1))
        .await
        .unwrap());
    assert_eq!(
        store
            .set_password_by_link(b"link-1", "h1", at(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .set_password_by_link(b"link-2", "h2", at(2))
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        store
            .set_password_by_link(b"link-2", "h3", at(3))
            .await
            .unwrap(),
        None,
        "used"
    );
    let credentials = store.credentials("alice").await.unwrap().unwrap();
    assert_eq!(credentials.password_hash.as_deref(), Some("h2"));

    // A reset takes the password away and ends sessions.
    store
        .create_session(&NewSession {
            id_hash: b"s",
            user_id: user,
            csrf_token: "c",
            at: at(4),
            expires_at: at(1000),
        })
        .await
        .unwrap();
    assert!(store
        .reset_password("alice", b"link-3", at(200), "bob", at(5))
        .await
        .unwrap());
    assert!(store.session(b"s", at(5), at(0)).await.unwrap().is_none());
    assert_eq!(
        store
            .credentials("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        None
    );
    // A disabled user's link does nothing.
    store.disable_user("alice", "bob", at(6)).await.unwrap();
    assert_eq!(store.password_link(b"link-3", at(7)).await.unwrap(), None);
    assert_eq!(
        store
            .set_password_by_link(b"link-3", "h4", at(7))
            .await
            .unwrap(),
        None
    );
}

async fn audit_entries_filter_by_actor_action_and_time_and_page_back(store: Arc<dyn Store>) {
    for (minute, (actor, role)) in [
        ("alice", Role::Admin),
        ("bob", Role::Viewer),
        ("carol", Role::Editor),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .create_user(actor, role, None, "cli", at(minute as i64))
            .await
            .unwrap()
            .unwrap();
    }
    store
        .set_user_role("bob", Role::Editor, "alice", at(10))
        .await
        .unwrap();
    store.disable_user("carol", "alice", at(20)).await.unwrap();
    let actions = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            store
                .audit_log(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.action)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        actions(AuditFilter {
            actor: Some("alice".into()),
            ..filter(10)
        })
        .await,
        ["user.disabled", "user.role_changed"]
    );
    assert_eq!(
        actions(AuditFilter {
            action: Some("user.".into()),
            ..filter(10)
        })
        .await
        .len(),
        5,
        "a prefix ending in a dot"
    );
    assert!(actions(AuditFilter {
        action: Some("user".into()),
        ..filter(10)
    })
    .await
    .is_empty());
    assert_eq!(
        actions(AuditFilter {
            from: Some(at(1)),
            until: Some(at(20)),
            ..filter(10)
        })
        .await,
        ["user.role_changed", "user.created", "user.created"]
    );
    let newest = store.audit_log(&filter(2)).await.unwrap();
    let older = store
        .audit_log(&AuditFilter {
            before: Some(newest[1].id),
            ..filter(2)
        })
        .await
        .unwrap();
    assert_eq!(
        older.iter().map(|a| a.detail.as_str()).collect::<Vec<_>>(),
        ["carol (editor)", "bob (viewer)"]
    );
}

/// Subscribers: double opt-in and its daily limit, fan-out by service
/// exactly once (never by a fenced leader, never for quiet changes),
/// claims that two senders never share and that come back when a sender
/// died, outcomes (a refused address is marked and its other mail given
/// up), removal, counts, the shared key and pruning.
async fn subscribers_are_fanned_out_once_claimed_once_and_finished(store: Arc<dyn Store>) {
    use upbeat::domain::subscribers::{Kind, Purpose, Status};
    use upbeat::store::{Subscribed, SubscriberFilter, SubscriberOutcome};
    let ids = ids_of(&store, &[def("api", "API"), def("web", "Web")]).await;
    let (api, _web) = (ids[0], ids[1]);

    // Double opt-in: a confirmation each time, three a day at most.
    let Subscribed::Confirm(ada) = store
        .subscribe("ada@example.com", &[], at(0))
        .await
        .unwrap()
    else {
        panic!("a new address gets a confirmation");
    };
    let web_only = vec!["web".to_owned()];
    let Subscribed::Confirm(bob) = store
        .subscribe("bob@example.com", &web_only, at(0))
        .await
        .unwrap()
    else {
        panic!("a new address gets a confirmation");
    };
    assert_eq!(
        store
            .subscribe("ada@example.com", &[], at(1))
            .await
            .unwrap(),
        Subscribed::Confirm(ada)
    );
    assert_eq!(
        store
            .subscribe("ada@example.com", &[], at(2))
            .await
            .unwrap(),
        Subscribed::Confirm(ada)
    );
    assert_eq!(
        store
            .subscribe("ada@example.com", &[], at(3))
            .await
            .unwrap(),
        Subscribed::Limited
    );
    // The next day counts afresh.
    let tomorrow = at(24 * 60);
    assert_eq!(
        store
            .subscribe("ada@example.com", &[], tomorrow)
            .await
            .unwrap(),
        Subscribed::Confirm(ada)
    );
    assert_eq!(
        store.subscriber(ada).await.unwrap().unwrap().status,
        Status::Pending
    );
    let confirmed = store.confirm_subscriber(ada, at(5)).await.unwrap().unwrap();
    assert_eq!(
        (confirmed.status, confirmed.all_services),
        (Status::Confirmed, true)
    );
    store.confirm_subscriber(bob, at(5)).await.unwrap().unwrap();
    // Confirmed: subscribing again sends the manage link, changes nothing.
    assert_eq!(
        store
            .subscribe("bob@example.com", &[], at(6))
            .await
            .unwrap(),
        Subscribed::Manage(bob)
    );
    assert_eq!(
        store.subscriber(bob).await.unwrap().unwrap().services,
        web_only
    );

    // The mails of the subscriptions, all pending, oldest first.
    let claim = |now, limit| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_subscriber_deliveries(now, now + Duration::minutes(5), limit, None)
                .await
                .unwrap()
        }
    };
    let mails = claim(tomorrow, 100).await;
    let purposes: Vec<(i64, Purpose)> =
        mails.iter().map(|d| (d.subscriber_id, d.purpose)).collect();
    assert_eq!(
        purposes,
        [
            (ada, Purpose::Confirm),
            (bob, Purpose::Confirm),
            (ada, Purpose::Confirm),
            (ada, Purpose::Confirm),
            (bob, Purpose::Manage),
            (ada, Purpose::Confirm),
        ]
    );
    assert!(mails
        .iter()
        .all(|d| d.kind == Kind::Email && d.event.is_none()));
    // Claimed: a second sender gets none of them until the claim ends.
    assert!(claim(tomorrow, 100).await.is_empty());
    let outcomes: Vec<_> = mails
        .iter()
        .map(|d| (d.id, SubscriberOutcome::Delivered))
        .collect();
    store
        .finish_subscriber_deliveries(&outcomes, tomorrow)
        .await
        .unwrap();
    assert_eq!(store.subscriber_outbox().await.unwrap(), 0);

    // An incident on the API reaches Ada (everything), not Bob (web).
    let incident = store
        .create_incident(&new_incident(
            "Down",
            vec![(api, ServiceStatus::MajorOutage)],
            10,
        ))
        .await
        .unwrap();
    // A quiet update is never fanned out.
    let quiet = IncidentPatch {
        body: Some("typo".into()),
        author: "ops".into(),
        at: at(11),
        quiet: true,
        ..IncidentPatch::default()
    };
    store.update_incident(incident, &quiet).await.unwrap();
    // A former leader fans out nothing.
    let ttl = Duration::seconds(10);
    let old = store
        .acquire_lease("a", at(12), at(12) + ttl)
        .await
        .unwrap()
        .unwrap();
    store.release_lease(&old).await.unwrap();
    let lease = store
        .acquire_lease("b", at(12), at(12) + ttl)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .fan_out_to_subscribers(10, at(12), at(0), Some(&old))
            .await
            .unwrap(),
        (0, 0)
    );
    // The leader does, once: the incident's opening and the earlier
    // status-free events of setup (none here) — one event, one recipient.
    assert_eq!(
        store
            .fan_out_to_subscribers(10, at(12), at(0), Some(&lease))
            .await
            .unwrap(),
        (1, 1)
    );
    assert_eq!(
        store
            .fan_out_to_subscribers(10, at(12), at(0), Some(&lease))
            .await
            .unwrap(),
        (0, 0)
    );
    // An incident about no service goes to both.
    store
        .create_incident(&new_incident("Everything", vec![], 13))
        .await
        .unwrap();
    assert_eq!(
        store
            .fan_out_to_subscribers(10, at(13), at(0), None)
            .await
            .unwrap(),
        (1, 2)
    );

    let due = claim(at(13), 1).await;
    assert_eq!(due.len(), 1, "up to the limit");
    let (event_id, event) = due[0].event.clone().unwrap();
    assert_eq!(
        (due[0].subscriber_id, due[0].purpose),
        (ada, Purpose::Event)
    );
    assert_eq!(event.incident.as_ref().unwrap().title, "Down");
    // A sender that died: its claim ends, the mail is claimed again.
    let again = claim(at(13) + Duration::minutes(6), 10).await;
    assert_eq!(again.len(), 3, "the expired claim and the other two");
    assert_eq!(again[0].id, due[0].id);
    assert_eq!(again[0].event.as_ref().unwrap().0, event_id);

    // Outcomes: Bob's server refuses him for good; Ada's mail retries.
    let bobs = again.iter().find(|d| d.subscriber_id == bob).unwrap().id;
    let adas: Vec<i64> = again
        .iter()
        .filter(|d| d.subscriber_id == ada)
        .map(|d| d.id)
        .collect();
    let later = at(30);
    store
        .finish_subscriber_deliveries(
            &[
                (bobs, SubscriberOutcome::Rejected("550 no such user".into())),
                (adas[0], SubscriberOutcome::Retry(later, "451 later".into())),
                (adas[1], SubscriberOutcome::Failed("given up".into())),
            ],
            at(20),
        )
        .await
        .unwrap();
    let bob_now = store.subscriber(bob).await.unwrap().unwrap();
    assert_eq!(bob_now.status, Status::Rejected);
    assert_eq!(bob_now.rejected_reason.as_deref(), Some("550 no such user"));
    assert!(claim(at(29), 10).await.is_empty(), "the retry waits");
    let retried = claim(later, 10).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    // A rejected address gets no later event.
    store
        .create_incident(&new_incident("Again", vec![], 31))
        .await
        .unwrap();
    assert_eq!(
        store
            .fan_out_to_subscribers(10, at(31), at(0), None)
            .await
            .unwrap(),
        (1, 1)
    );
    // Stale news (before `stale_before`) is marked, not sent.
    store
        .create_incident(&new_incident("Old news", vec![], 32))
        .await
        .unwrap();
    let fan_out = |stale| {
        let store = Arc::clone(&store);
        async move {
            store
                .fan_out_to_subscribers(10, at(40), stale, None)
                .await
                .unwrap()
        }
    };
    assert_eq!(fan_out(at(33)).await, (1, 0));
    assert_eq!(fan_out(at(0)).await, (0, 0));

    // Counts and the admin list.
    let counts = store.subscriber_counts().await.unwrap();
    assert_eq!(
        (counts.pending, counts.confirmed, counts.rejected),
        (0, 1, 1)
    );
    assert_eq!(counts.all_services, 1);
    let listed = store
        .subscribers(&SubscriberFilter {
            query: Some("BOB".into()),
            limit: 10,
            ..SubscriberFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].address, "bob@example.com");

    // Removing deletes the subscriber and its mail; audited for an admin.
    let removed = store
        .remove_subscriber(ada, Some("ops"), at(40))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.address, "ada@example.com");
    assert!(store.subscriber(ada).await.unwrap().is_none());
    assert!(store
        .remove_subscriber(ada, Some("ops"), at(40))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store.subscriber_outbox().await.unwrap(),
        0,
        "{:?}",
        claim(at(50), 10).await
    );
    let audit = store
        .audit_log(&AuditFilter {
            action: Some("subscriber.removed".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit[0].detail, "email",
        "no address in the log viewers read"
    );

    // Admin-added destinations are confirmed; the same one twice is refused.
    let hook = store
        .add_subscriber(
            Kind::Webhook,
            "https://hooks.example.com/a",
            &[],
            "ops",
            at(41),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.subscriber(hook).await.unwrap().unwrap().status,
        Status::Confirmed
    );
    assert!(store
        .add_subscriber(
            Kind::Webhook,
            "https://hooks.example.com/a",
            &[],
            "ops",
            at(41)
        )
        .await
        .unwrap()
        .is_none());

    // Pruning: unconfirmed subscriptions after a while, finished mail.
    let Subscribed::Confirm(carol) = store
        .subscribe("carol@example.com", &[], at(42))
        .await
        .unwrap()
    else {
        panic!("a new address gets a confirmation");
    };
    let pruned = store.prune_subscribers(at(100), at(43)).await.unwrap();
    assert!(pruned >= 2, "carol and bob's finished mail: {pruned}");
    assert!(store.subscriber(carol).await.unwrap().is_none());

    // One key for every replica: the first stored wins.
    let first = store
        .signing_key("subscribers", "first-key", at(0))
        .await
        .unwrap();
    let second = store
        .signing_key("subscribers", "second-key", at(1))
        .await
        .unwrap();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("first-key", "first-key")
    );
}
