//! PostgreSQL's side of the store, for several replicas sharing one
//! database: batches go in one round trip (`UNNEST` of arrays), rows an
//! automatic change reads are locked (`FOR UPDATE`) so an admin change
//! cannot interleave, and replicas starting together synchronise services
//! one at a time. Who leads is the `leadership` row's lease (shared SQL).

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use app::model::ServiceStatus;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{PgConnection, Pool, Postgres, Row};

use super::codec::{outcome_code, u32_to_db};
use super::sql::{
    histogram_value, rollup_table, rollup_upsert_sql, rollup_values, Dialect, SqlStore,
    HISTOGRAM_SELECT, ROLLUP_COLUMNS,
};
use super::{Backend, RoundFeed, StoreError};
use crate::domain::rollup::{Histogram, Resolution, Rollup};
use crate::domain::sample::Sample;
use crate::domain::status::ServiceState;

pub type PostgresStore = SqlStore<Postgres>;

/// The channel a writer round is announced on (`LISTEN upbeat_rounds`).
const ROUNDS_CHANNEL: &str = "upbeat_rounds";

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

#[async_trait]
impl Dialect for Postgres {
    const MIGRATOR: &'static Migrator = &MIGRATOR;
    const BACKEND: Backend = Backend::Postgres;
    const EXCLUSIVE: bool = false;
    const LOGS_ROUNDS: bool = true;
    const NEWEST_SAMPLE_JOIN: &'static str = "CROSS JOIN LATERAL (
           SELECT * FROM samples WHERE service_id = v.id ORDER BY taken_at DESC LIMIT 1
         ) s";

    fn lock_rows(alias: &str) -> String {
        format!(" FOR UPDATE OF {alias}")
    }

    const BEGIN_WRITE: &'static str = "BEGIN";

    fn skip_locked(alias: &str) -> String {
        format!(" FOR UPDATE OF {alias} SKIP LOCKED")
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
        // sqlx's migrator takes an advisory lock, so replicas starting
        // together migrate once.
        Ok(PgConnectOptions::from_str(url)?.application_name("upbeat"))
    }

    async fn lock_services(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("LOCK TABLE services IN SHARE ROW EXCLUSIVE MODE")
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn stored_histograms(
        conn: &mut PgConnection,
        resolution: Resolution,
        keys: &[(i64, DateTime<Utc>)],
    ) -> Result<Vec<(i64, DateTime<Utc>, Histogram)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let table = rollup_table(resolution);
        let ids: Vec<i64> = keys.iter().map(|(id, _)| *id).collect();
        let starts: Vec<DateTime<Utc>> = keys.iter().map(|(_, start)| *start).collect();
        // Missing rows are created first: a round inserting the same row at
        // the same time then waits for this one instead of both merging
        // into nothing; the rows stay locked until the commit.
        sqlx::query(&format!(
            "INSERT INTO {table} (service_id, period_start) \
             SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[]) ON CONFLICT DO NOTHING"
        ))
        .bind(&ids)
        .bind(&starts)
        .execute(&mut *conn)
        .await?;
        let rows = sqlx::query(&format!(
            "SELECT service_id, period_start, latency_max_ms, {HISTOGRAM_SELECT} FROM {table} \
             WHERE (service_id, period_start) IN \
               (SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[])) \
             FOR UPDATE"
        ))
        .bind(&ids)
        .bind(&starts)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("service_id")?,
                    row.try_get("period_start")?,
                    PostgresStore::histogram_from_row(row)?,
                ))
            })
            .collect()
    }

    async fn upsert_rollups(
        conn: &mut PgConnection,
        resolution: Resolution,
        rollups: &BTreeMap<(i64, DateTime<Utc>), Rollup>,
    ) -> Result<(), StoreError> {
        if rollups.is_empty() {
            return Ok(());
        }
        // One array a column, unnested server-side: one round trip.
        let ids: Vec<i64> = rollups.keys().map(|(id, _)| *id).collect();
        let starts: Vec<DateTime<Utc>> = rollups.keys().map(|(_, start)| *start).collect();
        let mut columns = vec![Vec::with_capacity(rollups.len()); ROLLUP_COLUMNS.len()];
        let mut histograms = Vec::with_capacity(rollups.len());
        for rollup in rollups.values() {
            for (column, value) in columns.iter_mut().zip(rollup_values(rollup)) {
                column.push(value);
            }
            histograms.push(histogram_value(rollup));
        }
        let arrays = (3..=ROLLUP_COLUMNS.len() + 2)
            .map(|n| format!("${n}::bigint[]"))
            .collect::<Vec<_>>()
            .join(", ");
        let histogram = ROLLUP_COLUMNS.len() + 3;
        let rows = format!(
            "SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], {arrays}, ${histogram}::bytea[])"
        );
        let sql = rollup_upsert_sql(resolution, &rows, "GREATEST");
        let mut query = sqlx::query(&sql).bind(&ids).bind(&starts);
        for column in &columns {
            query = query.bind(column);
        }
        query.bind(&histograms).execute(conn).await?;
        Ok(())
    }

    async fn store_states(
        conn: &mut PgConnection,
        states: &[ServiceState],
    ) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = states.iter().map(|s| s.service_id).collect();
        let statuses: Vec<&str> = states.iter().map(|s| s.tracker.status.as_str()).collect();
        let bad: Vec<i64> = states
            .iter()
            .map(|s| u32_to_db(s.tracker.bad_run))
            .collect();
        let good: Vec<i64> = states
            .iter()
            .map(|s| u32_to_db(s.tracker.good_run))
            .collect();
        let at: Vec<DateTime<Utc>> = states.iter().map(|s| s.updated_at).collect();
        sqlx::query(
            "UPDATE services s SET status = u.status, bad_run = u.bad_run, good_run = u.good_run,
               state_at = u.state_at
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])
               AS u (id, status, bad_run, good_run, state_at)
             WHERE s.id = u.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&bad)
        .bind(&good)
        .bind(&at)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn notify_round(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROUNDS_CHANNEL)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn round_feed(pool: &Pool<Self>) -> Result<Option<RoundFeed>, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(ROUNDS_CHANNEL).await?;
        Ok(Some(RoundFeed::new(listener)))
    }

    async fn insert_new_samples(
        conn: &mut PgConnection,
        samples: &[Sample],
    ) -> Result<Vec<Sample>, StoreError> {
        let ids: Vec<i64> = samples.iter().map(|s| s.service_id).collect();
        let times: Vec<DateTime<Utc>> = samples.iter().map(|s| s.taken_at).collect();
        let outcomes: Vec<i16> = samples.iter().map(|s| outcome_code(s.outcome)).collect();
        let latencies: Vec<Option<i64>> = samples
            .iter()
            .map(|s| s.latency_ms.map(u32_to_db))
            .collect();
        let errors: Vec<Option<&str>> = samples.iter().map(|s| s.error.as_deref()).collect();
        // RETURNING yields only the rows actually inserted.
        let rows = sqlx::query(
            "INSERT INTO samples (service_id, taken_at, outcome, latency_ms, error)
             SELECT * FROM UNNEST($1::bigint[], $2::timestamptz[], $3::smallint[], $4::bigint[]::int[], $5::text[])
             ON CONFLICT DO NOTHING
             RETURNING service_id, taken_at, outcome, latency_ms, error",
        )
        .bind(&ids)
        .bind(&times)
        .bind(&outcomes)
        .bind(&latencies)
        .bind(&errors)
        .fetch_all(conn)
        .await?;
        let mut inserted = rows
            .iter()
            .map(SqlStore::<Postgres>::sample_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING cannot say which samples were taken in maintenance.
        let in_maintenance: HashSet<(i64, DateTime<Utc>)> = samples
            .iter()
            .filter(|s| s.in_maintenance)
            .map(|s| (s.service_id, s.taken_at))
            .collect();
        for sample in &mut inserted {
            sample.in_maintenance = in_maintenance.contains(&(sample.service_id, sample.taken_at));
        }
        Ok(inserted)
    }

    async fn upsert_incident_services(
        conn: &mut PgConnection,
        incident_id: i64,
        services: &[(i64, ServiceStatus)],
    ) -> Result<(), StoreError> {
        let (ids, statuses): (Vec<i64>, Vec<&str>) =
            services.iter().map(|(id, s)| (*id, s.as_str())).unzip();
        sqlx::query(
            "INSERT INTO incident_services (incident_id, service_id, status)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[])
             ON CONFLICT (incident_id, service_id) DO UPDATE SET status = excluded.status",
        )
        .bind(incident_id)
        .bind(&ids)
        .bind(&statuses)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn add_maintenance_services(
        conn: &mut PgConnection,
        maintenance_id: i64,
        service_ids: &[i64],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO maintenance_services (maintenance_id, service_id)
             SELECT $1, UNNEST($2::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(maintenance_id)
        .bind(service_ids)
        .execute(conn)
        .await?;
        Ok(())
    }
}
