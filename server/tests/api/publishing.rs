//! When the sample writer publishes snapshots: after a round that changed
//! no status, at most once per `publish_every`; after a status change, at
//! once. A real SQLite database and the real writer, on the real clock.

use std::sync::Arc;
use std::time::Duration;

use app::model::{PublicStatus, SampleOutcome, ServiceStatus};
use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};
use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::sample::Sample;

use crate::helpers::{one_service_writer, Backend, TestDb};

const EVERY: Duration = Duration::from_secs(2);

fn sample(id: i64, at: DateTime<Utc>, outcome: SampleOutcome) -> Sample {
    Sample {
        service_id: id,
        taken_at: at,
        outcome,
        latency_ms: Some(1),
        error: (outcome == SampleOutcome::Down).then(|| "refused".to_owned()),
        in_maintenance: false,
    }
}

/// The next snapshot published within `within`, if any.
async fn next(
    snapshots: &mut watch::Receiver<Arc<PublicStatus>>,
    within: Duration,
) -> Option<Arc<PublicStatus>> {
    timeout(within, snapshots.changed()).await.ok()?.ok()?;
    Some(Arc::clone(&snapshots.borrow_and_update()))
}

#[tokio::test]
async fn quiet_rounds_wait_for_the_next_snapshot_and_a_status_change_does_not() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (_store, id, mut writer, _, mut snapshots) = one_service_writer(&db.url).await;
    writer.gather = Duration::from_millis(10);
    writer.publish_every = EVERY;
    let (sink, samples) = mpsc::channel(100);
    let writer = tokio::spawn(writer.run(samples, tokio_util::sync::CancellationToken::new()));
    let start = SystemClock.now().trunc_subsecs(0);
    let at = |s: i64| start + chrono::TimeDelta::seconds(s);

    // The first round publishes at once.
    sink.send(sample(id, at(0), SampleOutcome::Up))
        .await
        .unwrap();
    let first = next(&mut snapshots, Duration::from_secs(2))
        .await
        .expect("the first round's snapshot");
    let first_at = Instant::now();
    assert_eq!(first.services[0].status, Some(ServiceStatus::Operational));

    // A quiet round: its snapshot comes `EVERY` after the last one.
    sink.send(sample(id, at(1), SampleOutcome::Up))
        .await
        .unwrap();
    assert!(
        next(&mut snapshots, EVERY / 2).await.is_none(),
        "a round without a status change published before its time"
    );
    let quiet = next(&mut snapshots, EVERY * 2)
        .await
        .expect("the quiet round's snapshot, once due");
    let waited = first_at.elapsed();
    assert!(
        waited >= EVERY - Duration::from_millis(100),
        "published {waited:?} after the last snapshot"
    );
    assert!(
        quiet.generated_at > first.generated_at,
        "a new snapshot, with the quiet round in it"
    );

    // A status change publishes at once, well before `EVERY` has passed.
    let failures: Vec<_> = (2..8)
        .map(|s| sample(id, at(s), SampleOutcome::Down))
        .collect();
    for failure in failures {
        sink.send(failure).await.unwrap();
    }
    let changed = next(&mut snapshots, EVERY / 2)
        .await
        .expect("the status change published at once");
    assert_ne!(
        changed.services[0].status,
        Some(ServiceStatus::Operational),
        "the snapshot published at once shows the change"
    );

    drop(sink);
    writer.await.unwrap();
}
