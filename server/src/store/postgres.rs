//! PostgreSQL implementation of [`Store`], for several replicas sharing one
//! database. Times are `timestamptz`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};

use crate::rollup::{summarise, Resolution, Rollup};

/// Position of `latency_sum_ms` (BIGINT) among the rollup columns.
const ROLLUP_SUM_INDEX: usize = 4;

use super::{
    outcome_code, outcome_from_code, rollup_from_values, rollup_select_sql, rollup_upsert_sql,
    rollup_values, rollups_since_sql, tracker_from_columns, Backend, Heartbeat, NewSample, Sample,
    ServiceDef, ServiceRecord, ServiceState, Store, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("upbeat");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

fn service_from_row(row: &sqlx::postgres::PgRow) -> Result<ServiceRecord, StoreError> {
    Ok(ServiceRecord {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        group: row.try_get("group_name")?,
        description: row.try_get("description")?,
        position: row.try_get::<i32, _>("position")?.into(),
        check_kind: row.try_get("check_kind")?,
        archived: row.try_get::<bool, _>("archived")?,
    })
}

fn sample_from_row(row: &sqlx::postgres::PgRow) -> Result<Sample, StoreError> {
    Ok(Sample {
        service_id: row.try_get("service_id")?,
        taken_at: row.try_get("taken_at")?,
        outcome: outcome_from_code(row.try_get::<i16, _>("outcome")?.into())?,
        latency_ms: row
            .try_get::<Option<i32>, _>("latency_ms")?
            .map(|v| u32::try_from(v).unwrap_or(0)),
        error: row.try_get("error")?,
    })
}

/// `period_start` then the rollup columns, as the rollup queries select them.
fn rollup_from_row(
    row: &sqlx::postgres::PgRow,
) -> Result<(chrono::DateTime<chrono::Utc>, Rollup), StoreError> {
    let mut values = [0i64; 17];
    for (i, value) in values.iter_mut().enumerate() {
        // INTEGER columns decode as i32, latency_sum_ms as i64.
        *value = if i == ROLLUP_SUM_INDEX {
            row.try_get::<i64, _>(i + 1)?
        } else {
            row.try_get::<i32, _>(i + 1)?.into()
        };
    }
    Ok((row.try_get(0)?, rollup_from_values(&values)))
}

const SERVICE_COLUMNS: &str =
    "id, slug, name, group_name, description, position, check_kind, archived_at IS NOT NULL AS archived";

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so replicas starting together migrate once.
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
        let mut tx = self.pool.begin().await?;
        // Replicas may start at the same moment: serialise the sync.
        sqlx::query("LOCK TABLE services IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE services SET archived_at = now(), updated_at = now() WHERE archived_at IS NULL",
        )
        .execute(&mut *tx)
        .await?;
        for (position, s) in services.iter().enumerate() {
            sqlx::query(
                "INSERT INTO services (slug, name, group_name, description, position, check_kind, created_at, updated_at, archived_at)
                 VALUES ($1, $2, $3, $4, $5, $6, now(), now(), NULL)
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
            .bind(i32::try_from(position).unwrap_or(i32::MAX))
            .bind(&s.check_kind)
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
        if samples.is_empty() && states.is_empty() {
            return Ok(());
        }
        // One round trip per batch: arrays unnested server-side.
        let ids: Vec<i64> = samples.iter().map(|s| s.service_id).collect();
        let times: Vec<_> = samples.iter().map(|s| s.taken_at).collect();
        let outcomes: Vec<i16> = samples.iter().map(|s| outcome_code(s.outcome)).collect();
        let latencies: Vec<Option<i32>> = samples
            .iter()
            .map(|s| s.latency_ms.map(|v| i32::try_from(v).unwrap_or(i32::MAX)))
            .collect();
        let errors: Vec<Option<String>> = samples.iter().map(|s| s.error.clone()).collect();
        let mut tx = self.pool.begin().await?;
        // RETURNING yields only the rows actually inserted, so a retried
        // batch is not counted twice in the rollups.
        let rows = sqlx::query(
            "INSERT INTO samples (service_id, taken_at, outcome, latency_ms, error)
             SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::smallint[], $4::int[], $5::text[])
             ON CONFLICT DO NOTHING
             RETURNING service_id, taken_at, outcome, latency_ms, error",
        )
        .bind(&ids)
        .bind(&times)
        .bind(&outcomes)
        .bind(&latencies)
        .bind(&errors)
        .fetch_all(&mut *tx)
        .await?;
        let inserted: Vec<Sample> = rows.iter().map(sample_from_row).collect::<Result<_, _>>()?;
        for resolution in [Resolution::Hour, Resolution::Day] {
            let sql = rollup_upsert_sql(resolution, |n| format!("${n}"), "GREATEST");
            for ((service_id, start), rollup) in summarise(&inserted, resolution) {
                let mut query = sqlx::query(&sql).bind(service_id).bind(start);
                for value in rollup_values(&rollup) {
                    query = query.bind(value);
                }
                query.execute(&mut *tx).await?;
            }
        }
        for state in states {
            sqlx::query("UPDATE services SET status = $2, bad_run = $3, good_run = $4, state_at = $5 WHERE id = $1")
                .bind(state.service_id)
                .bind(state.tracker.status.as_str())
                .bind(i32::try_from(state.tracker.bad_run).unwrap_or(i32::MAX))
                .bind(i32::try_from(state.tracker.good_run).unwrap_or(i32::MAX))
                .bind(state.updated_at)
                .execute(&mut *tx)
                .await?;
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
                        row.try_get::<i32, _>("bad_run")?.into(),
                        row.try_get::<i32, _>("good_run")?.into(),
                    )?,
                    updated_at: row.try_get("state_at")?,
                })
            })
            .collect()
    }

    async fn rollups(
        &self,
        service_id: i64,
        resolution: Resolution,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, Rollup)>, StoreError> {
        let rows = sqlx::query(&rollup_select_sql(resolution, |n| format!("${n}")))
            .bind(service_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rollup_from_row).collect()
    }

    async fn rollups_since(
        &self,
        resolution: Resolution,
        from: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(i64, chrono::DateTime<chrono::Utc>, Rollup)>, StoreError> {
        let rows = sqlx::query(&rollups_since_sql(resolution, |n| format!("${n}")))
            .bind(from)
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
        let rows = sqlx::query(
            "SELECT s.service_id, s.taken_at, s.outcome, s.latency_ms, s.error
             FROM services v
             CROSS JOIN LATERAL (
               SELECT * FROM samples WHERE service_id = v.id ORDER BY taken_at DESC LIMIT 1
             ) s",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sample_from_row).collect()
    }

    async fn recent_samples(&self, service_id: i64, limit: u32) -> Result<Vec<Sample>, StoreError> {
        let rows = sqlx::query(
            "SELECT service_id, taken_at, outcome, latency_ms, error FROM samples
             WHERE service_id = $1 ORDER BY taken_at DESC LIMIT $2",
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
        older_than: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM samples WHERE service_id = $1 AND taken_at IN (
               SELECT taken_at FROM samples WHERE service_id = $1 AND taken_at < $2
               ORDER BY taken_at LIMIT $3)",
        )
        .bind(service_id)
        .bind(older_than)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn set_push_token(&self, slug: &str, token_hash: &[u8]) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE services SET push_token_hash = $2 WHERE slug = $1")
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
            "UPDATE services SET last_push_at = $2, last_push_outcome = $3, last_push_msg = $4, last_push_latency_ms = $5
             WHERE push_token_hash = $1 AND archived_at IS NULL RETURNING slug",
        )
        .bind(token_hash)
        .bind(heartbeat.at)
        .bind(outcome_code(heartbeat.outcome))
        .bind(&heartbeat.msg)
        .bind(heartbeat.latency_ms.map(|v| i32::try_from(v).unwrap_or(i32::MAX)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("slug")).transpose()?)
    }

    async fn last_heartbeat(&self, service_id: i64) -> Result<Option<Heartbeat>, StoreError> {
        let row = sqlx::query(
            "SELECT last_push_at, last_push_outcome, last_push_msg, last_push_latency_ms FROM services
             WHERE id = $1 AND last_push_at IS NOT NULL",
        )
        .bind(service_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Heartbeat {
                at: row.try_get("last_push_at")?,
                outcome: outcome_from_code(row.try_get::<i16, _>("last_push_outcome")?.into())?,
                msg: row.try_get("last_push_msg")?,
                latency_ms: row
                    .try_get::<Option<i32>, _>("last_push_latency_ms")?
                    .map(|v| u32::try_from(v).unwrap_or(0)),
            })
        })
        .transpose()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
