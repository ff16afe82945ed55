//! PostgreSQL implementation of [`Store`], for several replicas sharing one
//! database. Times are `timestamptz`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Row};

use std::collections::BTreeMap;

use app::model::{
    AffectedService, CreatedBy, Impact, IncidentStatus, IncidentUpdateView, IncidentView,
    MaintenanceStatus, ServiceStatus,
};
use chrono::{DateTime, Utc};

use crate::incident::{plan, IncidentChange, OpenIncident, Transition};
use crate::maintenance::{Recurrence, Window};
use crate::rollup::{summarise, Resolution, Rollup};

/// Position of `latency_sum_ms` (BIGINT) among the rollup columns.
const ROLLUP_SUM_INDEX: usize = 5;

use super::{
    assemble_incidents, incident_status_str, parse_column, update_body, IncidentPatch,
    MaintenancePatch, MaintenanceRecord, MaintenanceUpdate, NewIncident,
};
use super::{
    outcome_code, outcome_from_code, rollup_from_values, rollup_select_sql, rollup_upsert_sql,
    rollup_values, rollups_since_sql, tracker_from_columns, Backend, Heartbeat, NewMaintenance,
    NewSample, ProberLease, RoundResult, Sample, ServiceDef, ServiceRecord, ServiceState, Store,
    StoreError, TokenRecord, AUTO_AUTHOR,
};
use super::{AuditRecord, IdempotencyClaim, KeptResponse, IDEMPOTENCY_ABANDONED, IDEMPOTENCY_TTL};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("upbeat");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
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
        in_maintenance: false,
    })
}

/// `period_start` then the rollup columns, as the rollup queries select them.
fn rollup_from_row(
    row: &sqlx::postgres::PgRow,
) -> Result<(chrono::DateTime<chrono::Utc>, Rollup), StoreError> {
    let mut values = [0i64; super::ROLLUP_VALUES];
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

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Advisory lock key of the prober role ("upbeat" in ASCII).
const PROBER_LOCK_KEY: i64 = 0x7570_6265_6174;

/// Reads the open automatic incidents and applies what `transitions` plan
/// for them, inside the caller's transaction. The incident rows are locked
/// (`FOR UPDATE`) so an admin change cannot interleave.
async fn apply_transitions(
    conn: &mut PgConnection,
    transitions: &[Transition],
) -> Result<RoundResult, StoreError> {
    let mut result = RoundResult::default();
    if transitions.is_empty() {
        return Ok(result);
    }
    let rows = sqlx::query(
        "SELECT i.id, i.started_at, i.auto_resolve, i.impact, s.service_id, s.status
         FROM incidents i LEFT JOIN incident_services s ON s.incident_id = i.id
         WHERE i.resolved_at IS NULL AND i.created_by = 'auto' ORDER BY i.id FOR UPDATE OF i",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut open: Vec<OpenIncident> = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        if open.last().is_none_or(|o| o.id != id) {
            open.push(OpenIncident {
                id,
                started_at: row.try_get("started_at")?,
                auto_resolve: row.try_get("auto_resolve")?,
                impact: parse_column(row.try_get("impact")?, Impact::parse, "impact")?,
                services: BTreeMap::new(),
            });
        }
        if let (Some(incident), Some(service_id)) = (
            open.last_mut(),
            row.try_get::<Option<i64>, _>("service_id")?,
        ) {
            let status = parse_column(row.try_get("status")?, ServiceStatus::parse, "status")?;
            incident.services.insert(service_id, status);
        }
    }
    for change in plan(&open, transitions) {
        result.count(&change);
        let (id, services, body, status, at) = match change {
            IncidentChange::Open {
                title,
                impact,
                started_at,
                services,
                body,
                resolved_at,
            } => {
                let status = if resolved_at.is_some() {
                    "resolved"
                } else {
                    "investigating"
                };
                let at = resolved_at.unwrap_or(started_at);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO incidents (title, status, impact, created_by, auto_resolve, started_at, resolved_at, created_at, updated_at)
                     VALUES ($1, $2, $3, 'auto', TRUE, $4, $5, $4, $6) RETURNING id",
                )
                .bind(title)
                .bind(status)
                .bind(impact.as_str())
                .bind(started_at)
                .bind(resolved_at)
                .bind(at)
                .fetch_one(&mut *conn)
                .await?;
                (id, services, body, status, at)
            }
            IncidentChange::Update {
                id,
                impact,
                services,
                body,
                at,
                resolve,
            } => {
                let status: String = sqlx::query_scalar(
                    "UPDATE incidents SET impact = $2, updated_at = $3,
                       status = CASE WHEN $4 THEN 'resolved' ELSE status END,
                       resolved_at = CASE WHEN $4 THEN $3 ELSE resolved_at END
                     WHERE id = $1 RETURNING status",
                )
                .bind(id)
                .bind(impact.as_str())
                .bind(at)
                .bind(resolve)
                .fetch_one(&mut *conn)
                .await?;
                let status = if resolve {
                    "resolved"
                } else {
                    incident_status_str(&status)?
                };
                (id, services, body, status, at)
            }
        };
        let (service_ids, statuses): (Vec<i64>, Vec<&str>) =
            services.iter().map(|(id, s)| (*id, s.as_str())).unzip();
        sqlx::query(
            "INSERT INTO incident_services (incident_id, service_id, status)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::text[])
             ON CONFLICT (incident_id, service_id) DO UPDATE SET status = excluded.status",
        )
        .bind(id)
        .bind(&service_ids)
        .bind(&statuses)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO incident_updates (incident_id, status, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(status)
        .bind(body)
        .bind(AUTO_AUTHOR)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(result)
}

async fn replace_incident_services(
    conn: &mut PgConnection,
    id: i64,
    services: &[(i64, ServiceStatus)],
) -> Result<(), StoreError> {
    let (ids, statuses): (Vec<i64>, Vec<&str>) =
        services.iter().map(|(id, s)| (*id, s.as_str())).unzip();
    sqlx::query(
        "INSERT INTO incident_services (incident_id, service_id, status)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[])
         ON CONFLICT (incident_id, service_id) DO UPDATE SET status = excluded.status",
    )
    .bind(id)
    .bind(&ids)
    .bind(&statuses)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_incident_update(
    conn: &mut PgConnection,
    id: i64,
    status: &str,
    body: &str,
    author: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_updates (incident_id, status, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(status)
    .bind(body)
    .bind(author)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes one audit-log row in the transaction of the change it records.
async fn record_audit(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target_id: i64,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(target_id)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn parse_recurrence(rule: Option<String>) -> Result<Option<Recurrence>, StoreError> {
    rule.map(|r| {
        r.parse()
            .map_err(|e| StoreError::Corrupt(format!("recurrence {r:?}: {e}")))
    })
    .transpose()
}

impl PostgresStore {
    /// Maintenance windows matching `filter` (over alias `m`, with
    /// placeholder 1 bound to `param`) with services and updates, latest
    /// start first.
    async fn load_maintenances(
        &self,
        filter: &str,
        param: i64,
    ) -> Result<Vec<MaintenanceRecord>, StoreError> {
        let sql = format!(
            "SELECT m.id, m.title, m.description, m.starts_at, m.ends_at, m.recurrence, m.created_by, s.service_id
             FROM maintenances m LEFT JOIN maintenance_services s ON s.maintenance_id = m.id
             WHERE {filter} ORDER BY m.starts_at DESC, m.id DESC"
        );
        let rows = sqlx::query(&sql).bind(param).fetch_all(&self.pool).await?;
        let mut records: Vec<MaintenanceRecord> = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if records.last().is_none_or(|r| r.window.id != id) {
                records.push(MaintenanceRecord {
                    window: Window {
                        id,
                        title: row.try_get("title")?,
                        description: row.try_get("description")?,
                        starts_at: row.try_get("starts_at")?,
                        ends_at: row.try_get("ends_at")?,
                        recurrence: parse_recurrence(row.try_get("recurrence")?)?,
                        services: Vec::new(),
                    },
                    created_by: row.try_get("created_by")?,
                    updates: Vec::new(),
                });
            }
            if let (Some(record), Some(service_id)) = (
                records.last_mut(),
                row.try_get::<Option<i64>, _>("service_id")?,
            ) {
                record.window.services.push(service_id);
            }
        }
        let sql = format!(
            "SELECT u.id, u.maintenance_id, u.status, u.body, u.created_by, u.created_at
             FROM maintenance_updates u JOIN maintenances m ON m.id = u.maintenance_id
             WHERE {filter} ORDER BY u.created_at DESC, u.id DESC"
        );
        for row in sqlx::query(&sql).bind(param).fetch_all(&self.pool).await? {
            let id: i64 = row.try_get("maintenance_id")?;
            if let Some(record) = records.iter_mut().find(|r| r.window.id == id) {
                record.updates.push(MaintenanceUpdate {
                    id: row.try_get("id")?,
                    status: row.try_get("status")?,
                    body: row.try_get("body")?,
                    created_by: row.try_get("created_by")?,
                    created_at: row.try_get("created_at")?,
                });
            }
        }
        Ok(records)
    }

    /// Incidents matching `filter` (over alias `i`, with `$1` bound to
    /// `param`), with their services and updates, newest first.
    async fn load_incidents_by(
        &self,
        filter: &str,
        bind: impl for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    ) -> Result<Vec<IncidentView>, StoreError> {
        let sql = format!(
            "SELECT i.id, i.title, i.status, i.impact, i.created_by, i.auto_resolve, i.started_at, i.resolved_at, i.updated_at
             FROM incidents i WHERE {filter} ORDER BY i.started_at DESC, i.id DESC"
        );
        let incidents = sqlx::query(&sql);
        let incidents = bind(incidents)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(IncidentView {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    status: parse_column(
                        row.try_get("status")?,
                        IncidentStatus::parse,
                        "incident status",
                    )?,
                    impact: parse_column(row.try_get("impact")?, Impact::parse, "impact")?,
                    created_by: parse_column(
                        row.try_get("created_by")?,
                        CreatedBy::parse,
                        "creator",
                    )?,
                    auto_resolve: row.try_get("auto_resolve")?,
                    started_at: row.try_get("started_at")?,
                    resolved_at: row.try_get("resolved_at")?,
                    updated_at: row.try_get("updated_at")?,
                    services: Vec::new(),
                    updates: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if incidents.is_empty() {
            return Ok(incidents);
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
        let services = sqlx::query(
            "SELECT s.incident_id, v.slug, v.name, s.status FROM incident_services s
             JOIN services v ON v.id = s.service_id
             WHERE s.incident_id = ANY($1) ORDER BY v.position, v.id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("incident_id")?,
                AffectedService {
                    slug: row.try_get("slug")?,
                    name: row.try_get("name")?,
                    status: parse_column(row.try_get("status")?, ServiceStatus::parse, "status")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let updates = sqlx::query(
            "SELECT id, incident_id, status, body, created_at FROM incident_updates
             WHERE incident_id = ANY($1) ORDER BY created_at DESC, id DESC",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("incident_id")?,
                IncidentUpdateView {
                    id: row.try_get("id")?,
                    body_html: String::new(),
                    status: parse_column(
                        row.try_get("status")?,
                        IncidentStatus::parse,
                        "incident status",
                    )?,
                    body: row.try_get("body")?,
                    created_at: row.try_get("created_at")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(assemble_incidents(incidents, services, updates))
    }
}

fn token_from_row(row: &sqlx::postgres::PgRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
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
        transitions: &[Transition],
    ) -> Result<RoundResult, StoreError> {
        if samples.is_empty() && states.is_empty() && transitions.is_empty() {
            return Ok(RoundResult::default());
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
        let mut inserted: Vec<Sample> =
            rows.iter().map(sample_from_row).collect::<Result<_, _>>()?;
        // RETURNING cannot say which samples were taken in maintenance.
        let in_maintenance: std::collections::HashSet<(i64, DateTime<Utc>)> = samples
            .iter()
            .filter(|s| s.in_maintenance)
            .map(|s| (s.service_id, s.taken_at))
            .collect();
        for sample in &mut inserted {
            sample.in_maintenance = in_maintenance.contains(&(sample.service_id, sample.taken_at));
        }
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
        let result = apply_transitions(&mut tx, transitions).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn active_incidents(&self) -> Result<Vec<IncidentView>, StoreError> {
        self.load_incidents_by("i.resolved_at IS NULL", |q| q).await
    }

    async fn incidents_since(&self, since: DateTime<Utc>) -> Result<Vec<IncidentView>, StoreError> {
        self.load_incidents_by("i.started_at >= $1", |q| q.bind(since))
            .await
    }

    async fn create_incident(&self, new: &NewIncident) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let resolved_at = (new.status == IncidentStatus::Resolved).then_some(new.at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (title, status, impact, created_by, auto_resolve, started_at, resolved_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'admin', $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&new.title)
        .bind(new.status.as_str())
        .bind(new.impact.as_str())
        .bind(new.auto_resolve)
        .bind(new.started_at)
        .bind(resolved_at)
        .bind(new.at)
        .fetch_one(&mut *tx)
        .await?;
        replace_incident_services(&mut tx, id, &new.services).await?;
        insert_incident_update(
            &mut tx,
            id,
            new.status.as_str(),
            &new.body,
            &new.author,
            new.at,
        )
        .await?;
        record_audit(
            &mut tx,
            new.at,
            &new.author,
            "incident.created",
            id,
            &new.title,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn incident(&self, id: i64) -> Result<Option<IncidentView>, StoreError> {
        Ok(self
            .load_incidents_by("i.id = $1", |q| q.bind(id))
            .await?
            .pop())
    }

    async fn incidents(
        &self,
        resolved: Option<bool>,
        limit: u32,
    ) -> Result<Vec<IncidentView>, StoreError> {
        let filter = match resolved {
            None => "TRUE",
            Some(true) => "i.resolved_at IS NOT NULL",
            Some(false) => "i.resolved_at IS NULL",
        };
        let filter = format!(
            "i.id IN (SELECT i.id FROM incidents i WHERE {filter} ORDER BY i.started_at DESC, i.id DESC LIMIT $1)"
        );
        self.load_incidents_by(&filter, |q| q.bind(i64::from(limit)))
            .await
    }

    async fn update_incident(&self, id: i64, patch: &IncidentPatch) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Ok(false);
        };
        let status = patch
            .status
            .map_or_else(|| incident_status_str(&current), |s| Ok(s.as_str()))?;
        sqlx::query(
            "UPDATE incidents SET title = COALESCE($2, title), status = $3, impact = COALESCE($4, impact),
               auto_resolve = COALESCE($5, auto_resolve), updated_at = $6,
               resolved_at = CASE WHEN $3 = 'resolved' THEN COALESCE(resolved_at, $6) ELSE NULL END
             WHERE id = $1",
        )
        .bind(id)
        .bind(&patch.title)
        .bind(status)
        .bind(patch.impact.map(|i| i.as_str()))
        .bind(patch.auto_resolve)
        .bind(patch.at)
        .execute(&mut *tx)
        .await?;
        if let Some(services) = &patch.services {
            sqlx::query("DELETE FROM incident_services WHERE incident_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            replace_incident_services(&mut tx, id, services).await?;
        }
        if let Some(body) = update_body(patch, &current, status) {
            insert_incident_update(&mut tx, id, status, &body, &patch.author, patch.at).await?;
        }
        record_audit(
            &mut tx,
            patch.at,
            &patch.author,
            "incident.updated",
            id,
            &patch.fields(),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_incident(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let title: Option<String> =
            sqlx::query_scalar("DELETE FROM incidents WHERE id = $1 RETURNING title")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(title) = title else {
            return Ok(false);
        };
        record_audit(&mut tx, Utc::now(), actor, "incident.deleted", id, &title).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_incident_auto_resolve(
        &self,
        id: i64,
        auto_resolve: bool,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE incidents SET auto_resolve = $2 WHERE id = $1")
            .bind(id)
            .bind(auto_resolve)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_maintenance(&self, m: &NewMaintenance) -> Result<i64, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO maintenances (title, description, starts_at, ends_at, recurrence, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&m.title)
        .bind(&m.description)
        .bind(m.starts_at)
        .bind(m.ends_at)
        .bind(&m.recurrence)
        .bind(&m.created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO maintenance_services (maintenance_id, service_id)
             SELECT $1, UNNEST($2::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(&m.service_ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO maintenance_updates (maintenance_id, status, body, created_by, created_at)
             VALUES ($1, 'scheduled', $2, $3, $4)",
        )
        .bind(id)
        .bind(m.description.as_deref().unwrap_or(&m.title))
        .bind(&m.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        record_audit(
            &mut tx,
            now,
            &m.created_by,
            "maintenance.created",
            id,
            &m.title,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn maintenance(&self, id: i64) -> Result<Option<MaintenanceRecord>, StoreError> {
        Ok(self.load_maintenances("m.id = $1", id).await?.pop())
    }

    async fn maintenances(&self, limit: u32) -> Result<Vec<MaintenanceRecord>, StoreError> {
        self.load_maintenances(
            "m.id IN (SELECT id FROM maintenances ORDER BY starts_at DESC, id DESC LIMIT $1)",
            i64::from(limit),
        )
        .await
    }

    async fn update_maintenance(
        &self,
        id: i64,
        patch: &MaintenancePatch,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE maintenances SET title = COALESCE($2, title),
               description = CASE WHEN $3 THEN $4 ELSE description END,
               starts_at = COALESCE($5, starts_at), ends_at = COALESCE($6, ends_at),
               recurrence = CASE WHEN $7 THEN $8 ELSE recurrence END, updated_at = $9
             WHERE id = $1",
        )
        .bind(id)
        .bind(&patch.title)
        .bind(patch.description.is_some())
        .bind(patch.description.clone().flatten())
        .bind(patch.starts_at)
        .bind(patch.ends_at)
        .bind(patch.recurrence.is_some())
        .bind(patch.recurrence.clone().flatten())
        .bind(patch.at)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(ids) = &patch.service_ids {
            sqlx::query("DELETE FROM maintenance_services WHERE maintenance_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO maintenance_services (maintenance_id, service_id)
                 SELECT $1, UNNEST($2::bigint[]) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(ids)
            .execute(&mut *tx)
            .await?;
        }
        if let Some((status, body)) = &patch.update {
            sqlx::query(
                "INSERT INTO maintenance_updates (maintenance_id, status, body, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(status)
            .bind(body)
            .bind(&patch.author)
            .bind(patch.at)
            .execute(&mut *tx)
            .await?;
        }
        record_audit(
            &mut tx,
            patch.at,
            &patch.author,
            "maintenance.updated",
            id,
            &patch.fields(),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_maintenance(&self, id: i64, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let title: Option<String> =
            sqlx::query_scalar("DELETE FROM maintenances WHERE id = $1 RETURNING title")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(title) = title else {
            return Ok(false);
        };
        record_audit(
            &mut tx,
            Utc::now(),
            actor,
            "maintenance.deleted",
            id,
            &title,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target_id, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target_id: row.try_get("target_id")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn claim_idempotency_key(
        &self,
        actor: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        // One statement claims a new key, an expired one, or one whose
        // request died; a claim held by a live request is left alone.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (actor, key, fingerprint, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (actor, key) DO UPDATE
               SET fingerprint = excluded.fingerprint, status = NULL, body = NULL, location = NULL,
                   created_at = excluded.created_at
               WHERE idempotency_keys.created_at < $5
                  OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < $6)",
        )
        .bind(actor)
        .bind(key)
        .bind(fingerprint)
        .bind(now)
        .bind(now - IDEMPOTENCY_TTL)
        .bind(now - IDEMPOTENCY_ABANDONED)
        .execute(&self.pool)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT fingerprint, status, body, location FROM idempotency_keys WHERE actor = $1 AND key = $2",
        )
        .bind(actor)
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        let stored: String = row.try_get("fingerprint")?;
        if stored != fingerprint {
            return Ok(IdempotencyClaim::Mismatch);
        }
        let status: Option<i32> = row.try_get("status")?;
        Ok(match status {
            None => IdempotencyClaim::InProgress,
            Some(status) => IdempotencyClaim::Replay(KeptResponse {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("HTTP status {status}")))?,
                body: row
                    .try_get::<Option<Vec<u8>>, _>("body")?
                    .unwrap_or_default(),
                location: row.try_get("location")?,
            }),
        })
    }

    async fn finish_idempotency_key(
        &self,
        actor: &str,
        key: &str,
        response: Option<&KeptResponse>,
    ) -> Result<(), StoreError> {
        match response {
            Some(kept) => {
                sqlx::query(
                    "UPDATE idempotency_keys SET status = $3, body = $4, location = $5 WHERE actor = $1 AND key = $2",
                )
                .bind(actor)
                .bind(key)
                .bind(i32::from(kept.status))
                .bind(&kept.body)
                .bind(&kept.location)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2 AND status IS NULL",
                )
                .bind(actor)
                .bind(key)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    async fn maintenance_windows(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.title, m.description, m.starts_at, m.ends_at, m.recurrence, s.service_id
             FROM maintenances m LEFT JOIN maintenance_services s ON s.maintenance_id = m.id
             WHERE m.ends_at > $1 OR m.recurrence IS NOT NULL ORDER BY m.id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut windows: Vec<Window> = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if windows.last().is_none_or(|w| w.id != id) {
                windows.push(Window {
                    id,
                    title: row.try_get("title")?,
                    description: row.try_get("description")?,
                    starts_at: row.try_get("starts_at")?,
                    ends_at: row.try_get("ends_at")?,
                    recurrence: parse_recurrence(row.try_get("recurrence")?)?,
                    services: Vec::new(),
                });
            }
            if let (Some(window), Some(service_id)) = (
                windows.last_mut(),
                row.try_get::<Option<i64>, _>("service_id")?,
            ) {
                window.services.push(service_id);
            }
        }
        windows.retain(|w| w.status(now) != MaintenanceStatus::Completed);
        Ok(windows)
    }

    async fn create_token(&self, name: &str, token_hash: &[u8]) -> Result<Option<i64>, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL
             RETURNING id, name, created_at, last_used_at, revoked_at",
        )
        .bind(token_hash)
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn try_lock_prober(&self) -> Result<Option<ProberLease>, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(PROBER_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        // Without the lock the session closes here; nothing was taken.
        Ok(locked.then(|| ProberLease::held(conn)))
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
