//! SQLite implementation of [`Store`]: one file in WAL mode, created if
//! missing. Times are integer Unix milliseconds.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::rollup::{summarise, Resolution, Rollup};

use super::{
    outcome_code, outcome_from_code, rollup_from_values, rollup_select_sql, rollup_upsert_sql,
    rollup_values, rollups_since_sql, tracker_from_columns, Backend, Heartbeat, NewSample, Sample,
    ServiceDef, ServiceRecord, ServiceState, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode;
            // only an OS crash can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn service_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        group: row.try_get("group_name")?,
        description: row.try_get("description")?,
        position: row.try_get("position")?,
        check_kind: row.try_get("check_kind")?,
        archived: row.try_get::<Option<i64>, _>("archived_at")?.is_some(),
    })
}

fn sample_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Sample, StoreError> {
    Ok(Sample {
        service_id: row.try_get("service_id")?,
        taken_at: from_ms(row.try_get("taken_at")?)?,
        outcome: outcome_from_code(row.try_get("outcome")?)?,
        latency_ms: row
            .try_get::<Option<i64>, _>("latency_ms")?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        error: row.try_get("error")?,
    })
}

/// `period_start` then the rollup columns, as the rollup queries select them.
fn rollup_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<(DateTime<Utc>, Rollup), StoreError> {
    let mut values = [0i64; 17];
    for (i, value) in values.iter_mut().enumerate() {
        *value = row.try_get(i + 1)?;
    }
    Ok((from_ms(row.try_get(0)?)?, rollup_from_values(&values)))
}

const SERVICE_COLUMNS: &str =
    "id, slug, name, group_name, description, position, check_kind, archived_at";

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows =
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("version")?)).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn sync_services(
        &self,
        services: &[ServiceDef],
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let now = to_ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        // Archive first; configured services are un-archived by the upsert.
        sqlx::query(
            "UPDATE services SET archived_at = ?1, updated_at = ?1 WHERE archived_at IS NULL",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (position, s) in services.iter().enumerate() {
            sqlx::query(
                "INSERT INTO services (slug, name, group_name, description, position, check_kind, created_at, updated_at, archived_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, NULL)
                 ON CONFLICT (slug) DO UPDATE SET
                   name = excluded.name, group_name = excluded.group_name,
                   description = excluded.description, position = excluded.position,
                   check_kind = excluded.check_kind, updated_at = excluded.updated_at,
                   archived_at = NULL",
            )
            .bind(&s.slug)
            .bind(&s.name)
            .bind(&s.group)
            .bind(&s.description)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&s.check_kind)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE archived_at IS NULL ORDER BY position"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(service_from_row).collect()
    }

    async fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services ORDER BY position, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(service_from_row).collect()
    }

    async fn insert_samples(
        &self,
        samples: &[NewSample],
        states: &[ServiceState],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for state in states {
            sqlx::query("UPDATE services SET status = ?2, bad_run = ?3, good_run = ?4, state_at = ?5 WHERE id = ?1")
                .bind(state.service_id)
                .bind(state.tracker.status.as_str())
                .bind(i64::from(state.tracker.bad_run))
                .bind(i64::from(state.tracker.good_run))
                .bind(to_ms(state.updated_at))
                .execute(&mut *tx)
                .await?;
        }
        let mut inserted = Vec::with_capacity(samples.len());
        for s in samples {
            let result = sqlx::query(
                "INSERT INTO samples (service_id, taken_at, outcome, latency_ms, error)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )
            .bind(s.service_id)
            .bind(to_ms(s.taken_at))
            .bind(outcome_code(s.outcome))
            .bind(s.latency_ms.map(i64::from))
            .bind(&s.error)
            .execute(&mut *tx)
            .await?;
            if result.rows_affected() == 1 {
                inserted.push(s.clone());
            }
        }
        for resolution in [Resolution::Hour, Resolution::Day] {
            let sql = rollup_upsert_sql(resolution, |n| format!("?{n}"), "MAX");
            for ((service_id, start), rollup) in summarise(&inserted, resolution) {
                let mut query = sqlx::query(&sql).bind(service_id).bind(to_ms(start));
                for value in rollup_values(&rollup) {
                    query = query.bind(value);
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn service_states(&self) -> Result<Vec<ServiceState>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, bad_run, good_run, state_at FROM services
             WHERE status IS NOT NULL AND state_at IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServiceState {
                    service_id: row.try_get("id")?,
                    tracker: tracker_from_columns(
                        row.try_get("status")?,
                        row.try_get("bad_run")?,
                        row.try_get("good_run")?,
                    )?,
                    updated_at: from_ms(row.try_get("state_at")?)?,
                })
            })
            .collect()
    }

    async fn rollups(
        &self,
        service_id: i64,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Rollup)>, StoreError> {
        let rows = sqlx::query(&rollup_select_sql(resolution, |n| format!("?{n}")))
            .bind(service_id)
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rollup_from_row).collect()
    }

    async fn rollups_since(
        &self,
        resolution: Resolution,
        from: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>, Rollup)>, StoreError> {
        let rows = sqlx::query(&rollups_since_sql(resolution, |n| format!("?{n}")))
            .bind(to_ms(from))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let (start, rollup) = rollup_from_row(row)?;
                Ok((row.try_get("service_id")?, start, rollup))
            })
            .collect()
    }

    async fn latest_samples(&self) -> Result<Vec<Sample>, StoreError> {
        // One primary-key seek per service instead of a scan of all samples.
        let rows = sqlx::query(
            "SELECT s.service_id, s.taken_at, s.outcome, s.latency_ms, s.error
             FROM services v
             JOIN samples s ON s.service_id = v.id
              AND s.taken_at = (SELECT MAX(taken_at) FROM samples WHERE service_id = v.id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sample_from_row).collect()
    }

    async fn recent_samples(&self, service_id: i64, limit: u32) -> Result<Vec<Sample>, StoreError> {
        let rows = sqlx::query(
            "SELECT service_id, taken_at, outcome, latency_ms, error FROM samples
             WHERE service_id = ?1 ORDER BY taken_at DESC LIMIT ?2",
        )
        .bind(service_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sample_from_row).collect()
    }

    async fn prune_samples(
        &self,
        service_id: i64,
        older_than: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM samples WHERE service_id = ?1 AND taken_at IN (
               SELECT taken_at FROM samples WHERE service_id = ?1 AND taken_at < ?2
               ORDER BY taken_at LIMIT ?3)",
        )
        .bind(service_id)
        .bind(to_ms(older_than))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn set_push_token(&self, slug: &str, token_hash: &[u8]) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE services SET push_token_hash = ?2 WHERE slug = ?1")
            .bind(slug)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn record_heartbeat(
        &self,
        token_hash: &[u8],
        heartbeat: &Heartbeat,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "UPDATE services SET last_push_at = ?2, last_push_outcome = ?3, last_push_msg = ?4, last_push_latency_ms = ?5
             WHERE push_token_hash = ?1 AND archived_at IS NULL RETURNING slug",
        )
        .bind(token_hash)
        .bind(to_ms(heartbeat.at))
        .bind(outcome_code(heartbeat.outcome))
        .bind(&heartbeat.msg)
        .bind(heartbeat.latency_ms.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("slug")).transpose()?)
    }

    async fn last_heartbeat(&self, service_id: i64) -> Result<Option<Heartbeat>, StoreError> {
        let row = sqlx::query(
            "SELECT last_push_at, last_push_outcome, last_push_msg, last_push_latency_ms FROM services
             WHERE id = ?1 AND last_push_at IS NOT NULL",
        )
        .bind(service_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Heartbeat {
                at: from_ms(row.try_get("last_push_at")?)?,
                outcome: outcome_from_code(row.try_get("last_push_outcome")?)?,
                msg: row.try_get("last_push_msg")?,
                latency_ms: row
                    .try_get::<Option<i64>, _>("last_push_latency_ms")?
                    .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            })
        })
        .transpose()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
