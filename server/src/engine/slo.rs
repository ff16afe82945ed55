//! The leader's watch over the objectives: when an objective's status
//! changes, it stores the new status with its `slo.burn` alert event in
//! one transaction (the dispatcher routes it through the alert routes,
//! cooldown included); when a UTC day is over, it stores each objective's
//! day (`slo_days`) from the daily rollups, so a month's report needs
//! neither raw samples nor rollups.
//!
//! Statuses are compared with the stored ones, so a restart neither
//! repeats nor loses an alert: the short windows are seeded from the
//! stored samples before the first comparison.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;

use super::changes::Changes;
use super::SloReader;
use crate::clock::SharedClock;
use crate::domain::rollup::{Resolution, Rollup};
use crate::domain::slo::{burn_changes, day_measures, Board, Known, ServiceObjectives, Status};
use crate::store::{Lease, SloDay, SloState, Store, StoreError};

/// How far back the first run fills `slo_days`: the previous month's
/// first day, so last month's report is complete from the start.
const BACKFILL_DAYS: i64 = 62;
/// Services whose rollups are read per query.
const SLICE: usize = 500;

pub struct BurnWatch {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub changes: Arc<Changes>,
    pub services: Vec<Arc<ServiceObjectives>>,
}

impl BurnWatch {
    /// Runs while this replica leads (`fence`), until `cancel`.
    pub async fn run(self, mut board: SloReader, fence: Option<Lease>, cancel: CancellationToken) {
        let mut known: Option<Known> = None;
        // The last board compared in full and stored: services whose
        // measures are the same ones are skipped.
        let mut compared: Option<Arc<Board>> = None;
        let mut days_done: Option<DateTime<Utc>> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = board.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            if known.is_none() {
                match self.store.slo_states().await {
                    Ok(rows) => {
                        let mut stored = Known::new();
                        for row in rows {
                            if let Some(status) = Status::parse(&row.status) {
                                stored
                                    .entry(row.service_id)
                                    .or_default()
                                    .insert(row.objective, status);
                            }
                        }
                        known = Some(stored);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the objectives' statuses failed; will retry");
                        continue;
                    }
                }
            }
            let current = board.borrow_and_update().clone();
            if let Some(known) = known.as_mut() {
                let since = compared.as_deref();
                match self
                    .record_changes(&current, known, since, fence.as_ref())
                    .await
                {
                    Ok(true) => compared = Some(current),
                    Ok(false) => return,
                    Err(err) => {
                        compared = None;
                        tracing::warn!(error = %err, "storing the objectives' statuses failed; will retry");
                    }
                }
            }
            match self.record_days(days_done, self.clock.now()).await {
                Ok(done) => days_done = done,
                Err(err) => {
                    tracing::warn!(error = %err, "storing the objectives' days failed; will retry");
                }
            }
        }
    }

    /// Stores the status changes on `board` and their events; false when
    /// fenced (another replica leads).
    async fn record_changes(
        &self,
        board: &Board,
        known: &mut Known,
        unchanged_since: Option<&Board>,
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError> {
        let changes = burn_changes(board, known, unchanged_since);
        if changes.is_empty() {
            return Ok(true);
        }
        let states: Vec<SloState> = changes
            .iter()
            .map(|c| SloState {
                service_id: c.service_id,
                objective: c.objective.clone(),
                status: c.status.as_str().to_owned(),
                changed_at: c.at,
            })
            .collect();
        let events: Vec<_> = changes.iter().map(|c| c.event.clone()).collect();
        if !self
            .store
            .record_slo_changes(&states, &events, fence)
            .await?
        {
            return Ok(false);
        }
        for change in changes {
            tracing::info!(
                service_id = change.service_id,
                objective = %change.objective,
                status = change.status.as_str(),
                "objective status changed"
            );
            known
                .entry(change.service_id)
                .or_default()
                .insert(change.objective, change.status);
        }
        if !events.is_empty() {
            self.changes.alerts_written();
        }
        Ok(true)
    }

    /// Stores the finished days after the last stored one (at most
    /// [`BACKFILL_DAYS`] back); returns the last day now stored.
    async fn record_days(
        &self,
        done: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let yesterday = Resolution::Day.start_of(now) - TimeDelta::days(1);
        let done = match done {
            Some(done) => Some(done),
            None => self.store.last_slo_day().await?,
        };
        if done.is_some_and(|d| d >= yesterday) || self.services.is_empty() {
            return Ok(done.or(Some(yesterday)));
        }
        let from = done.map_or(yesterday - TimeDelta::days(BACKFILL_DAYS - 1), |d| {
            (d + TimeDelta::days(1)).max(yesterday - TimeDelta::days(BACKFILL_DAYS - 1))
        });
        // The window before `from` (a calendar month is at most 31 days).
        let read_from = from - TimeDelta::days(31);
        let mut ids: Vec<&Arc<ServiceObjectives>> = self.services.iter().collect();
        ids.sort_by_key(|s| s.id);
        for slice in ids.chunks(SLICE) {
            let (Some(first), Some(last)) = (slice.first(), slice.last()) else {
                continue;
            };
            let rollups = self
                .store
                .rollups_since(Resolution::Day, read_from, first.id..=last.id, read_from)
                .await?;
            let mut by_service: HashMap<i64, Vec<(DateTime<Utc>, Rollup)>> = HashMap::new();
            for (id, start, rollup) in rollups {
                if start <= yesterday {
                    by_service.entry(id).or_default().push((start, rollup));
                }
            }
            let mut rows = Vec::new();
            for service in slice {
                let days = by_service.remove(&service.id).unwrap_or_default();
                rows.extend(
                    day_measures(&service.objectives, &days, from, yesterday)
                        .into_iter()
                        .map(|d| SloDay {
                            service_id: service.id,
                            objective: d.objective,
                            day: d.day,
                            target: d.target,
                            good: d.day_events.good,
                            bad: d.day_events.bad,
                            window_good: d.window_events.good,
                            window_bad: d.window_events.bad,
                        }),
                );
            }
            self.store.record_slo_days(&rows).await?;
        }
        tracing::info!(from = %from.date_naive(), to = %yesterday.date_naive(), "stored the objectives' days");
        Ok(Some(yesterday))
    }
}
