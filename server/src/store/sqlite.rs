//! SQLite's side of the store: one file in WAL mode, created if missing.
//! One process owns a file, so it always gets the lease and a writing
//! transaction already excludes every other writer; batches are plain
//! per-row statements (there is no round trip to save).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use app::model::ServiceStatus;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Pool, Sqlite, SqliteConnection};

use super::codec::{outcome_code, u32_to_db, SampleTime, Time};
use super::sql::{
    histogram_value, rollup_table, rollup_upsert_sql, rollup_values, Dialect, SqlStore,
    HISTOGRAM_SELECT, ROLLUP_COLUMNS,
};
use super::{Backend, RoundFeed, StoreError};
use crate::domain::rollup::{Histogram, Resolution, Rollup};
use crate::domain::sample::Sample;
use crate::domain::status::ServiceState;

pub type SqliteStore = SqlStore<Sqlite>;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

#[async_trait]
impl Dialect for Sqlite {
    const MIGRATOR: &'static Migrator = &MIGRATOR;
    const BACKEND: Backend = Backend::Sqlite;
    const EXCLUSIVE: bool = true;
    // One process per file: no followers to tell.
    const LOGS_ROUNDS: bool = false;
    // One primary-key seek per service instead of a scan of all samples.
    const NEWEST_SAMPLE_JOIN: &'static str = "JOIN samples s ON s.service_id = v.id
         AND s.taken_at = (SELECT MAX(taken_at) FROM samples WHERE service_id = v.id)";

    fn lock_rows(_alias: &str) -> String {
        String::new()
    }

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn skip_locked(_alias: &str) -> String {
        String::new()
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
        Ok(SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode;
            // only an OS crash can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5)))
    }

    async fn lock_services(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    async fn stored_histograms(
        conn: &mut SqliteConnection,
        resolution: Resolution,
        keys: &[(i64, DateTime<Utc>)],
    ) -> Result<Vec<(i64, DateTime<Utc>, Histogram)>, StoreError> {
        // The round's transaction already holds SQLite's write lock.
        let sql = format!(
            "SELECT latency_max_ms, {HISTOGRAM_SELECT} FROM {} \
             WHERE service_id = $1 AND period_start = $2",
            rollup_table(resolution)
        );
        let mut stored = Vec::new();
        for (id, start) in keys {
            let row = sqlx::query(&sql)
                .bind(id)
                .bind(Time(*start))
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = row {
                stored.push((*id, *start, SqliteStore::histogram_from_row(&row)?));
            }
        }
        Ok(stored)
    }

    async fn upsert_rollups(
        conn: &mut SqliteConnection,
        resolution: Resolution,
        rollups: &BTreeMap<(i64, DateTime<Utc>), Rollup>,
    ) -> Result<(), StoreError> {
        let values = (1..=ROLLUP_COLUMNS.len() + 3)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = rollup_upsert_sql(resolution, &format!("VALUES ({values})"), "MAX");
        for ((service_id, start), rollup) in rollups {
            let mut query = sqlx::query(&sql).bind(service_id).bind(Time(*start));
            for value in rollup_values(rollup) {
                query = query.bind(value);
            }
            query
                .bind(histogram_value(rollup))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn store_states(
        conn: &mut SqliteConnection,
        states: &[ServiceState],
    ) -> Result<(), StoreError> {
        for state in states {
            sqlx::query(
                "UPDATE services SET status = $2, bad_run = $3, good_run = $4, state_at = $5 WHERE id = $1",
            )
            .bind(state.service_id)
            .bind(state.tracker.status.as_str())
            .bind(u32_to_db(state.tracker.bad_run))
            .bind(u32_to_db(state.tracker.good_run))
            .bind(Time(state.updated_at))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn notify_round(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    async fn round_feed(_pool: &Pool<Self>) -> Result<Option<RoundFeed>, StoreError> {
        Ok(None)
    }

    async fn insert_new_samples(
        conn: &mut SqliteConnection,
        samples: &[Sample],
    ) -> Result<Vec<Sample>, StoreError> {
        let mut inserted = Vec::with_capacity(samples.len());
        for s in samples {
            let result = sqlx::query(
                "INSERT INTO samples (service_id, taken_at, outcome, latency_ms, error)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(s.service_id)
            .bind(SampleTime(s.taken_at))
            .bind(outcome_code(s.outcome))
            .bind(s.latency_ms.map(u32_to_db))
            .bind(&s.error)
            .execute(&mut *conn)
            .await?;
            if result.rows_affected() == 1 {
                inserted.push(s.clone());
            }
        }
        Ok(inserted)
    }

    async fn upsert_incident_services(
        conn: &mut SqliteConnection,
        incident_id: i64,
        services: &[(i64, ServiceStatus)],
    ) -> Result<(), StoreError> {
        for (service_id, status) in services {
            sqlx::query(
                "INSERT INTO incident_services (incident_id, service_id, status) VALUES ($1, $2, $3)
                 ON CONFLICT (incident_id, service_id) DO UPDATE SET status = excluded.status",
            )
            .bind(incident_id)
            .bind(service_id)
            .bind(status.as_str())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn add_maintenance_services(
        conn: &mut SqliteConnection,
        maintenance_id: i64,
        service_ids: &[i64],
    ) -> Result<(), StoreError> {
        for service_id in service_ids {
            sqlx::query(
                "INSERT INTO maintenance_services (maintenance_id, service_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(maintenance_id)
            .bind(service_id)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
