//! The one SQL layer: [`SqlStore`] implements [`Store`] once, generic over
//! the backend, with statements written once in the `$N` dialect both
//! drivers read. A backend plugs in through [`Dialect`]: how to connect and
//! migrate, and the few statements whose behaviour really differs
//! (PostgreSQL's `UNNEST` batches and row locks).
//!
//! Values the backends encode differently go through [`super::codec`];
//! rows are grouped into records by the shared functions at the end.
//! Helpers take the caller's transaction; only the [`Store`] methods open
//! one.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use app::model::{
    AffectedService, CreatedBy, Impact, IncidentStatus, IncidentUpdateView, IncidentView,
    ServiceStatus,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::codec::{
    outcome_code, outcome_from_code, parse_column, u32_from_db, u32_to_db, Int, SampleTime, Time,
};
use super::{
    AlertHistoryFilter, AttemptOutcome, AttemptRecord, AuditFilter, AuditRecord, Backend,
    ClaimedDelivery, Credentials, DeliveryRecord, DeliveryStatus, Heartbeat, IdempotencyClaim,
    Imported, KeptResponse, Lease, LoggedRound, NewDelivery, NewSession, OutboxDepth,
    ReminderCandidate, RoundFeed, RoundResult, SessionRecord, SloDay, SloState, Store, StoreError,
    StoredAlertEvent, Subscribed, SubscriberCounts, SubscriberDelivery, SubscriberFilter,
    SubscriberOutcome, SubscriberRecord, TokenRecord, UserRecord, IDEMPOTENCY_ABANDONED,
    IDEMPOTENCY_TTL,
};
use crate::domain::alert::{
    incident_events, maintenance_event, status_event, AlertEvent, EventKind, IncidentFacts,
    IncidentInfo, MaintenanceInfo, ServiceRef,
};
use crate::domain::incident::{
    plan, IncidentChange, IncidentPatch, NewIncident, OpenIncident, Transition, AUTO_AUTHOR,
};
use crate::domain::maintenance::{
    MaintenancePatch, MaintenanceRecord, MaintenanceUpdate, NewMaintenance, Recurrence, Window,
};
use crate::domain::people::{Role, SEEN_RESOLUTION};
use crate::domain::rollup::{summarise, Histogram, Resolution, Rollup, COARSE_BUCKETS};
use crate::domain::sample::Sample;
use crate::domain::service::{ServiceDef, ServiceRecord};
use crate::domain::status::{ServiceState, Tracker};
use crate::domain::subscribers::{self, Purpose};

/// What a backend supplies; everything else is shared.
#[async_trait]
pub trait Dialect: Database {
    const BACKEND: Backend;
    /// Followers read the round log: write it (and notify them).
    const LOGS_ROUNDS: bool;
    /// One process per database: it may take the lease whatever its expiry
    /// (a restarted process would otherwise wait out its own old lease).
    const EXCLUSIVE: bool;
    /// Joins each service `v` to its newest sample `s`: a correlated `MAX`
    /// on SQLite, a `LATERAL` primary-key seek on PostgreSQL.
    const NEWEST_SAMPLE_JOIN: &'static str;

    /// What locks the selected rows of table alias `alias` until the
    /// transaction ends: nothing on SQLite, where a writing transaction
    /// holds the whole database, `FOR UPDATE OF alias` on PostgreSQL.
    fn lock_rows(alias: &str) -> String;

    /// Like [`Dialect::lock_rows`], skipping rows another transaction
    /// holds (`FOR UPDATE OF alias SKIP LOCKED` on PostgreSQL), so two
    /// claimers never take the same row.
    fn skip_locked(alias: &str) -> String;

    /// The backend's migrations (`migrations/sqlite` or `migrations/postgres`).
    const MIGRATOR: &'static Migrator;

    /// Starts a transaction that reads, then writes: `BEGIN IMMEDIATE` on
    /// SQLite, which takes the write lock at once (waiting out the busy
    /// timeout), where a plain `BEGIN` would fail at its first write if
    /// another connection wrote since its read; `BEGIN` on PostgreSQL.
    const BEGIN_WRITE: &'static str;

    /// Rows a statement changed (each driver has its own result type).
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// How to connect to `url`.
    fn connect_options(
        url: &str,
    ) -> Result<<Self::Connection as sqlx::Connection>::Options, StoreError>;

    /// Serialises service synchronisation of replicas starting together.
    async fn lock_services(conn: &mut Self::Connection) -> Result<(), StoreError>;

    /// Inserts `samples`, skipping any (service, time) already stored, and
    /// returns the ones inserted.
    async fn insert_new_samples(
        conn: &mut Self::Connection,
        samples: &[Sample],
    ) -> Result<Vec<Sample>, StoreError>;

    /// Sets the status an incident gives each of `services` (adding them).
    async fn upsert_incident_services(
        conn: &mut Self::Connection,
        incident_id: i64,
        services: &[(i64, ServiceStatus)],
    ) -> Result<(), StoreError>;

    /// The stored histograms of the rows of `keys`, locked until the
    /// transaction ends (rows are created empty where missing, so a
    /// concurrent round waits rather than both merging into nothing).
    async fn stored_histograms(
        conn: &mut Self::Connection,
        resolution: Resolution,
        keys: &[(i64, DateTime<Utc>)],
    ) -> Result<Vec<(i64, DateTime<Utc>, Histogram)>, StoreError>;

    /// Adds each rollup's counts to its (service, period) row of
    /// `resolution` and sets its histogram (already merged with the stored
    /// one by the caller; an empty one keeps the stored one).
    async fn upsert_rollups(
        conn: &mut Self::Connection,
        resolution: Resolution,
        rollups: &BTreeMap<(i64, DateTime<Utc>), Rollup>,
    ) -> Result<(), StoreError>;

    /// Stores the services' hysteresis states.
    async fn store_states(
        conn: &mut Self::Connection,
        states: &[ServiceState],
    ) -> Result<(), StoreError>;

    /// Tells followers, at commit, that a round was logged.
    async fn notify_round(conn: &mut Self::Connection) -> Result<(), StoreError>;

    /// A wake-up on every logged round, for a follower.
    async fn round_feed(pool: &Pool<Self>) -> Result<Option<RoundFeed>, StoreError>;

    /// Adds `service_ids` to a maintenance window (existing ones stay).
    async fn add_maintenance_services(
        conn: &mut Self::Connection,
        maintenance_id: i64,
        service_ids: &[i64],
    ) -> Result<(), StoreError>;
}

/// The store, over one backend's connection pool.
pub struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

/// A filter's one bound value (see [`SqlStore::load_incidents`]).
#[derive(Clone, Debug)]
enum Param {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

const SERVICE_COLUMNS: &str = "id, slug, name, group_name, description, position, check_kind, \
     archived_at IS NOT NULL AS archived";

const SAMPLE_COLUMNS: &str = "service_id, taken_at, outcome, latency_ms, error";

/// The columns every incident query selects, over alias `i`.
const INCIDENT_COLUMNS: &str = "i.id, i.title, i.status, i.impact, i.created_by, i.auto_resolve, \
     i.started_at, i.resolved_at, i.updated_at";

const TOKEN_COLUMNS: &str = "id, name, role, created_at, last_used_at, revoked_at";

const USER_COLUMNS: &str = "id, name, role, created_at, disabled_at, password_hash";

/// Maintenance windows with their services, one row per (window, service),
/// over aliases `m` and `s`.
const WINDOW_ROWS: &str = "SELECT m.id, m.title, m.description, m.starts_at, m.ends_at, \
     m.recurrence, m.created_by, s.service_id \
     FROM maintenances m LEFT JOIN maintenance_services s ON s.maintenance_id = m.id";

impl<DB: Dialect> SqlStore<DB> {
    /// A pool of at most `max_connections` on `url`; a query waits at most
    /// `acquire_timeout` for a free connection.
    pub async fn open(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = PoolOptions::<DB>::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(DB::connect_options(url)?)
            .await?;
        Ok(Self { pool })
    }
}

// The bounds below say what the shared SQL needs of a backend: executors
// for its connections, and the Rust types it binds and reads. Both sqlx
// drivers meet them; they are written twice (here and on the `Store` impl)
// because Rust does not imply bounds on other types from a trait.
impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Time: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> SampleTime: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Int: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<bool>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<Time>: Encode<'q, DB>,
    for<'q> &'q str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    fn stored_alert_event(row: &DB::Row) -> Result<StoredAlertEvent, StoreError> {
        let body: String = row.try_get("body")?;
        Ok(StoredAlertEvent {
            id: row.try_get("id")?,
            event: serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("alert event: {e}")))?,
            routed_at: Self::optional_time(row, "routed_at")?,
        })
    }

    /// Whether `fence` (when given) is still the leader's lease, checked
    /// and locked in the caller's transaction.
    async fn holds(conn: &mut DB::Connection, fence: Option<&Lease>) -> Result<bool, StoreError> {
        let Some(lease) = fence else {
            return Ok(true);
        };
        let sql = format!(
            "SELECT l.epoch FROM leadership l WHERE l.id = 1 AND l.holder = $1 AND l.epoch = $2{}",
            DB::lock_rows("l")
        );
        let held: Option<i64> = sqlx::query_scalar(&sql)
            .bind(&lease.holder)
            .bind(lease.epoch)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(held.is_some())
    }

    fn time(row: &DB::Row, column: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(row.try_get::<Time, _>(column)?.0)
    }

    fn optional_time(row: &DB::Row, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(row.try_get::<Option<Time>, _>(column)?.map(|t| t.0))
    }

    fn int(row: &DB::Row, column: &str) -> Result<i64, StoreError> {
        Ok(row.try_get::<Int, _>(column)?.0)
    }

    fn optional_u32(row: &DB::Row, column: &str) -> Result<Option<u32>, StoreError> {
        Ok(row
            .try_get::<Option<Int>, _>(column)?
            .map(|v| u32_from_db(v.0)))
    }

    fn service_from_row(row: &DB::Row) -> Result<ServiceRecord, StoreError> {
        Ok(ServiceRecord {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            group: row.try_get("group_name")?,
            description: row.try_get("description")?,
            position: Self::int(row, "position")?,
            check_kind: row.try_get("check_kind")?,
            archived: row.try_get("archived")?,
        })
    }

    /// A sample row ([`SAMPLE_COLUMNS`]).
    pub(super) fn sample_from_row(row: &DB::Row) -> Result<Sample, StoreError> {
        Ok(Sample {
            service_id: row.try_get("service_id")?,
            taken_at: row.try_get::<SampleTime, _>("taken_at")?.0,
            outcome: outcome_from_code(Self::int(row, "outcome")?)?,
            latency_ms: Self::optional_u32(row, "latency_ms")?,
            error: row.try_get("error")?,
            in_maintenance: false,
        })
    }

    /// `period_start` then [`ROLLUP_SELECT`], as the rollup queries select them.
    fn rollup_from_row(row: &DB::Row) -> Result<(DateTime<Utc>, Rollup), StoreError> {
        let mut values = [0i64; ROLLUP_COLUMNS.len()];
        for (i, value) in values.iter_mut().enumerate() {
            *value = row.try_get::<Int, _>(i + 1)?.0;
        }
        let mut rollup = rollup_from_values(&values);
        rollup.histogram = Self::histogram_from_row(row)?;
        Ok((row.try_get::<Time, _>(0)?.0, rollup))
    }

    /// The histogram of a row selecting `latency_max_ms` and
    /// [`HISTOGRAM_SELECT`]: the fine one, or for a row older than it, the
    /// coarse buckets read as fine ones.
    pub(super) fn histogram_from_row(row: &DB::Row) -> Result<Histogram, StoreError> {
        let max_ms = u32_from_db(row.try_get::<Int, _>("latency_max_ms")?.0);
        if let Some(bytes) = row.try_get::<Option<Vec<u8>>, _>("histogram")? {
            return Histogram::decode(&bytes).ok_or_else(|| {
                StoreError::Corrupt("a rollup's histogram is not in the stored form".into())
            });
        }
        let mut coarse = [0u32; COARSE_BUCKETS];
        for (i, count) in coarse.iter_mut().enumerate() {
            *count = u32_from_db(row.try_get::<Int, _>(format!("b{i}").as_str())?.0);
        }
        Ok(Histogram::from_coarse(&coarse, max_ms))
    }

    fn token_from_row(row: &DB::Row) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: Self::role(row)?,
            created_at: Self::time(row, "created_at")?,
            last_used_at: Self::optional_time(row, "last_used_at")?,
            revoked_at: Self::optional_time(row, "revoked_at")?,
        })
    }

    fn role(row: &DB::Row) -> Result<Role, StoreError> {
        row.try_get::<String, _>("role")?
            .parse()
            .map_err(StoreError::Corrupt)
    }

    fn credentials_from_row(row: &DB::Row) -> Result<Credentials, StoreError> {
        let password_hash: Option<String> = row.try_get("password_hash")?;
        Ok(Credentials {
            user: UserRecord {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                role: Self::role(row)?,
                created_at: Self::time(row, "created_at")?,
                disabled_at: Self::optional_time(row, "disabled_at")?,
                has_password: password_hash.is_some(),
            },
            password_hash,
        })
    }

    /// The id of the user `name`, in the caller's transaction.
    async fn user_id(conn: &mut DB::Connection, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?)
    }

    /// Ends every live session of a user at `at`.
    async fn end_sessions(
        conn: &mut DB::Connection,
        user_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(Time(at))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    fn window_from_row(row: &DB::Row) -> Result<Window, StoreError> {
        Ok(Window {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            starts_at: Self::time(row, "starts_at")?,
            ends_at: Self::time(row, "ends_at")?,
            recurrence: parse_recurrence(row.try_get("recurrence")?)?,
            services: Vec::new(),
        })
    }

    /// Groups [`WINDOW_ROWS`] rows into windows with their creators.
    fn windows_from_rows(rows: &[DB::Row]) -> Result<Vec<(Window, String)>, StoreError> {
        let mut windows: Vec<(Window, String)> = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("id")?;
            if windows.last().is_none_or(|(w, _)| w.id != id) {
                windows.push((Self::window_from_row(row)?, row.try_get("created_by")?));
            }
            if let (Some((window, _)), Some(service_id)) = (
                windows.last_mut(),
                row.try_get::<Option<i64>, _>("service_id")?,
            ) {
                window.services.push(service_id);
            }
        }
        Ok(windows)
    }

    fn bind_param<'q>(
        query: Query<'q, DB, DB::Arguments<'q>>,
        param: Option<Param>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        match param {
            None => query,
            Some(Param::Int(value)) => query.bind(value),
            Some(Param::Time(at)) => query.bind(Time(at)),
            Some(Param::Text(text)) => query.bind(text),
        }
    }

    /// Logs a round for followers and tells them, in the round's
    /// transaction (nothing when the backend has no followers, or the
    /// round changed nothing they show).
    async fn log_round(
        conn: &mut DB::Connection,
        fence: Option<&Lease>,
        samples: &[Sample],
        states: &[ServiceState],
        incidents_changed: bool,
    ) -> Result<(), StoreError> {
        if !DB::LOGS_ROUNDS {
            return Ok(());
        }
        let newest = samples
            .iter()
            .map(|s| s.taken_at)
            .chain(states.iter().map(|s| s.updated_at))
            .max();
        if newest.is_none() && !incidents_changed {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO writer_rounds (epoch, incidents_changed, newest_sample, body)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(fence.map_or(0, |l| l.epoch))
        .bind(incidents_changed)
        .bind(Time(newest.unwrap_or(DateTime::UNIX_EPOCH)))
        .bind(RoundBody::of(samples, states).to_json())
        .execute(&mut *conn)
        .await?;
        DB::notify_round(conn).await
    }

    /// Reads the open automatic incidents and applies what `transitions` plan
    /// for them, inside the caller's transaction. The incident rows are
    /// locked so an admin change cannot interleave.
    async fn apply_transitions(
        conn: &mut DB::Connection,
        transitions: &[Transition],
    ) -> Result<RoundResult, StoreError> {
        let mut result = RoundResult::default();
        if transitions.is_empty() {
            return Ok(result);
        }
        let sql = format!(
            "SELECT i.id, i.started_at, i.auto_resolve, i.impact, s.service_id, s.status
             FROM incidents i LEFT JOIN incident_services s ON s.incident_id = i.id
             WHERE i.resolved_at IS NULL AND i.created_by = 'auto' ORDER BY i.id{}",
            DB::lock_rows("i")
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
        let mut open: Vec<OpenIncident> = Vec::new();
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            if open.last().is_none_or(|o| o.id != id) {
                open.push(OpenIncident {
                    id,
                    started_at: Self::time(row, "started_at")?,
                    auto_resolve: row.try_get("auto_resolve")?,
                    impact: parse_column(
                        &row.try_get::<String, _>("impact")?,
                        Impact::parse,
                        "impact",
                    )?,
                    services: BTreeMap::new(),
                });
            }
            if let (Some(incident), Some(service_id)) = (
                open.last_mut(),
                row.try_get::<Option<i64>, _>("service_id")?,
            ) {
                let status = parse_column(
                    &row.try_get::<String, _>("status")?,
                    ServiceStatus::parse,
                    "status",
                )?;
                incident.services.insert(service_id, status);
            }
        }
        for change in plan(&open, transitions) {
            result.count(&change);
            let (id, services, body, status, at, opened) = match change {
                IncidentChange::Open {
                    title,
                    impact,
                    started_at,
                    services,
                    body,
                    resolved_at,
                } => {
                    let status = if resolved_at.is_some() {
                        IncidentStatus::Resolved
                    } else {
                        IncidentStatus::Investigating
                    };
                    let at = resolved_at.unwrap_or(started_at);
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (title, status, impact, created_by, auto_resolve, started_at, resolved_at, created_at, updated_at)
                         VALUES ($1, $2, $3, 'auto', TRUE, $4, $5, $4, $6) RETURNING id",
                    )
                    .bind(title)
                    .bind(status.as_str())
                    .bind(impact.as_str())
                    .bind(Time(started_at))
                    .bind(resolved_at.map(Time))
                    .bind(Time(at))
                    .fetch_one(&mut *conn)
                    .await?;
                    (id, services, body, status, at, true)
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
                    .bind(Time(at))
                    .bind(resolve)
                    .fetch_one(&mut *conn)
                    .await?;
                    let status = parse_column(&status, IncidentStatus::parse, "incident status")?;
                    (id, services, body, status, at, false)
                }
            };
            let services: Vec<(i64, ServiceStatus)> = services.into_iter().collect();
            DB::upsert_incident_services(&mut *conn, id, &services).await?;
            Self::insert_incident_update(&mut *conn, id, status, &body, AUTO_AUTHOR, at).await?;
            let facts = Self::incident_facts(&mut *conn, id, opened, at).await?;
            Self::insert_alert_events(&mut *conn, &incident_events(&facts), false).await?;
        }
        for t in transitions {
            let service = Self::service_ref(&mut *conn, t.service_id).await?;
            let event = status_event(service, t.from, t.to, t.error.clone(), t.at);
            Self::insert_alert_events(&mut *conn, &[event], false).await?;
        }
        Ok(result)
    }

    async fn insert_incident_update(
        conn: &mut DB::Connection,
        id: i64,
        status: IncidentStatus,
        body: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incident_updates (incident_id, status, body, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(body)
        .bind(author)
        .bind(Time(at))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The incident `id` as the transaction sees it, for its alert events.
    async fn incident_facts(
        conn: &mut DB::Connection,
        id: i64,
        opened: bool,
        at: DateTime<Utc>,
    ) -> Result<IncidentFacts, StoreError> {
        let row = sqlx::query(
            "SELECT title, status, impact, started_at, resolved_at FROM incidents WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let services = sqlx::query(
            "SELECT s.slug, s.name, s.group_name FROM incident_services x
             JOIN services s ON s.id = x.service_id WHERE x.incident_id = $1 ORDER BY s.position, s.id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(ServiceRef {
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                group: r.try_get("group_name")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let update: Option<String> = sqlx::query_scalar(
            "SELECT body FROM incident_updates WHERE incident_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(IncidentFacts {
            info: IncidentInfo {
                id,
                title: row.try_get("title")?,
                status: parse_column(
                    &row.try_get::<String, _>("status")?,
                    IncidentStatus::parse,
                    "status",
                )?,
                impact: parse_column(
                    &row.try_get::<String, _>("impact")?,
                    Impact::parse,
                    "impact",
                )?,
                started_at: Self::time(&row, "started_at")?,
                resolved_at: Self::optional_time(&row, "resolved_at")?,
                update,
                services,
                url: None,
            },
            opened,
            at,
        })
    }

    /// The service `id` as alerts name it.
    async fn service_ref(conn: &mut DB::Connection, id: i64) -> Result<ServiceRef, StoreError> {
        let row = sqlx::query("SELECT slug, name, group_name FROM services WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(ServiceRef {
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            group: row.try_get("group_name")?,
        })
    }

    /// Replaces the services subscriber `id` follows, in the caller's
    /// transaction.
    async fn replace_subscriber_services(
        conn: &mut DB::Connection,
        id: i64,
        services: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM subscriber_services WHERE subscriber_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for slug in services {
            sqlx::query(
                "INSERT INTO subscriber_services (subscriber_id, slug) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(slug)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Queues a confirmation or manage-link mail to subscriber `id`, in the
    /// transaction of the subscription that causes it.
    async fn queue_subscriber_mail(
        conn: &mut DB::Connection,
        id: i64,
        purpose: Purpose,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO subscriber_deliveries (subscriber_id, purpose, status, next_attempt_at, created_at)
             VALUES ($1, $2, 'pending', $3, $3)",
        )
        .bind(id)
        .bind(purpose.as_str())
        .bind(Time(at))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Adds a confirmed subscriber in the caller's transaction; `None`
    /// when one with that address exists.
    async fn insert_confirmed_subscriber(
        conn: &mut DB::Connection,
        kind: subscribers::Kind,
        address: &str,
        services: &[String],
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO subscribers (kind, address, status, all_services, created_at, confirmed_at)
             VALUES ($1, $2, 'confirmed', $3, $4, $4) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(kind.as_str())
        .bind(address)
        .bind(services.is_empty())
        .bind(Time(at))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = id {
            Self::replace_subscriber_services(conn, id, services).await?;
        }
        Ok(id)
    }

    /// Subscribers matching `clause` (over `s`, with `params` as `$1`…),
    /// newest first, with the services each follows.
    async fn load_subscribers(
        conn: &mut DB::Connection,
        clause: &str,
        params: &[Param],
        limit: u32,
    ) -> Result<Vec<SubscriberRecord>, StoreError> {
        let sql = format!(
            "SELECT s.id, s.kind, s.address, s.status, s.all_services, s.created_at, s.confirmed_at, s.rejected_reason
             FROM subscribers s WHERE {clause} ORDER BY s.id DESC LIMIT {limit}"
        );
        let mut query = sqlx::query(&sql);
        for param in params {
            query = match param {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.clone()),
                Param::Time(v) => query.bind(Time(*v)),
            };
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind: String = row.try_get("kind")?;
            let status: String = row.try_get("status")?;
            records.push(SubscriberRecord {
                id: row.try_get("id")?,
                kind: parse_column(&kind, subscribers::Kind::parse, "subscriber kind")?,
                address: row.try_get("address")?,
                status: parse_column(&status, subscribers::Status::parse, "subscriber status")?,
                all_services: row.try_get("all_services")?,
                services: Vec::new(),
                created_at: Self::time(row, "created_at")?,
                confirmed_at: Self::optional_time(row, "confirmed_at")?,
                rejected_reason: row.try_get("rejected_reason")?,
            });
        }
        if !records.is_empty() {
            let list: Vec<String> = (1..=records.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT subscriber_id, slug FROM subscriber_services WHERE subscriber_id IN ({}) ORDER BY slug",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for r in &records {
                query = query.bind(r.id);
            }
            let by_id: HashMap<i64, usize> =
                records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
            for row in query.fetch_all(&mut *conn).await? {
                let id: i64 = row.try_get("subscriber_id")?;
                if let Some(&i) = by_id.get(&id) {
                    records[i].services.push(row.try_get("slug")?);
                }
            }
        }
        Ok(records)
    }

    /// Writes alert events to the outbox, in the caller's transaction: the
    /// change that causes them and the events commit together or not at
    /// all.
    ///
    /// An event subscribers get ([`subscribers::audience`]) waits to be
    /// fanned out to them, unless `quiet` (posted with `notify: false`).
    async fn insert_alert_events(
        conn: &mut DB::Connection,
        events: &[AlertEvent],
        quiet: bool,
    ) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_string(event)
                .map_err(|e| StoreError::Corrupt(format!("alert event: {e}")))?;
            let incident_id = event.incident.as_ref().map(|i| i.id);
            let fanned_out = quiet || subscribers::audience(event).is_none();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alert_events (kind, occurred_at, dedup_key, subject, incident_id, body, created_at, subscribers_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $2, CASE WHEN $7 THEN $2 END) RETURNING id",
            )
            .bind(event.event.as_str())
            .bind(Time(event.occurred_at))
            .bind(event.dedup_key())
            .bind(event.subject_slug())
            .bind(incident_id)
            .bind(body)
            .bind(fanned_out)
            .fetch_one(&mut *conn)
            .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Writes one audit-log row in the transaction of the change it records.
    async fn record_audit(
        conn: &mut DB::Connection,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        target_id: i64,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target_id, detail) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Time(at))
        .bind(actor)
        .bind(action)
        .bind(target_id)
        .bind(detail)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn insert_maintenance_update(
        conn: &mut DB::Connection,
        id: i64,
        status: &str,
        body: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO maintenance_updates (maintenance_id, status, body, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(status)
        .bind(body)
        .bind(author)
        .bind(Time(at))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Deletes the row `id` of `table` with an audit record of `action`;
    /// `false` when there is none.
    async fn delete_with_audit(
        &self,
        table: &str,
        id: i64,
        actor: &str,
        action: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("DELETE FROM {table} WHERE id = $1 RETURNING title");
        let title: Option<String> = sqlx::query_scalar(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(title) = title else {
            return Ok(false);
        };
        Self::record_audit(&mut tx, at, actor, action, id, &title).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Maintenance windows matching `filter` (over alias `m`, with `$1`
    /// bound to `param`) with services and updates, latest start first.
    async fn load_maintenances(
        &self,
        filter: &str,
        param: i64,
    ) -> Result<Vec<MaintenanceRecord>, StoreError> {
        let sql = format!("{WINDOW_ROWS} WHERE {filter} ORDER BY m.starts_at DESC, m.id DESC");
        let rows = sqlx::query(&sql).bind(param).fetch_all(&self.pool).await?;
        let mut records: Vec<MaintenanceRecord> = Self::windows_from_rows(&rows)?
            .into_iter()
            .map(|(window, created_by)| MaintenanceRecord {
                window,
                created_by,
                updates: Vec::new(),
            })
            .collect();
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
                    created_at: Self::time(&row, "created_at")?,
                });
            }
        }
        Ok(records)
    }

    /// Incidents matching `filter` (over alias `i`, with `$1` bound to
    /// `param` when there is one), with their services and updates, newest
    /// first.
    async fn load_incidents(
        &self,
        filter: &str,
        param: Option<Param>,
    ) -> Result<Vec<IncidentView>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i WHERE {filter} ORDER BY i.started_at DESC, i.id DESC"
        );
        let incidents = Self::bind_param(sqlx::query(&sql), param.clone())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(IncidentView {
                    id: row.try_get("id")?,
                    title: row.try_get("title")?,
                    status: parse_column(
                        &row.try_get::<String, _>("status")?,
                        IncidentStatus::parse,
                        "incident status",
                    )?,
                    impact: parse_column(
                        &row.try_get::<String, _>("impact")?,
                        Impact::parse,
                        "impact",
                    )?,
                    created_by: parse_column(
                        &row.try_get::<String, _>("created_by")?,
                        CreatedBy::parse,
                        "creator",
                    )?,
                    auto_resolve: row.try_get("auto_resolve")?,
                    started_at: Self::time(row, "started_at")?,
                    resolved_at: Self::optional_time(row, "resolved_at")?,
                    updated_at: Self::time(row, "updated_at")?,
                    services: Vec::new(),
                    updates: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if incidents.is_empty() {
            return Ok(incidents);
        }
        let sql = format!(
            "SELECT s.incident_id, v.slug, v.name, s.status FROM incident_services s
             JOIN services v ON v.id = s.service_id JOIN incidents i ON i.id = s.incident_id
             WHERE {filter} ORDER BY v.position, v.id"
        );
        let services = Self::bind_param(sqlx::query(&sql), param.clone())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("incident_id")?,
                    AffectedService {
                        slug: row.try_get("slug")?,
                        name: row.try_get("name")?,
                        status: parse_column(
                            &row.try_get::<String, _>("status")?,
                            ServiceStatus::parse,
                            "status",
                        )?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sql = format!(
            "SELECT u.id, u.incident_id, u.status, u.body, u.created_at FROM incident_updates u
             JOIN incidents i ON i.id = u.incident_id
             WHERE {filter} ORDER BY u.created_at DESC, u.id DESC"
        );
        let updates = Self::bind_param(sqlx::query(&sql), param)
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
                            &row.try_get::<String, _>("status")?,
                            IncidentStatus::parse,
                            "incident status",
                        )?,
                        body: row.try_get("body")?,
                        created_at: Self::time(row, "created_at")?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(assemble_incidents(incidents, services, updates))
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Time: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> SampleTime: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Int: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<bool>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<Time>: Encode<'q, DB>,
    for<'q> &'q str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    DB::Connection: Migrate,
{
    fn backend(&self) -> Backend {
        DB::BACKEND
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.migrate", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "migrate"))]
    async fn migrate(&self) -> Result<(), StoreError> {
        DB::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.applied_migrations", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "applied_migrations"))]
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows =
            sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("version")?)).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.ping", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "ping"))]
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.sync_services", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "sync_services"))]
    async fn sync_services(
        &self,
        services: &[ServiceDef],
        now: DateTime<Utc>,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        DB::lock_services(&mut tx).await?;
        // Archive first; configured services are un-archived by the upsert.
        sqlx::query(
            "UPDATE services SET archived_at = $1, updated_at = $1 WHERE archived_at IS NULL",
        )
        .bind(Time(now))
        .execute(&mut *tx)
        .await?;
        for (position, s) in services.iter().enumerate() {
            sqlx::query(
                "INSERT INTO services (slug, name, group_name, description, position, check_kind, created_at, updated_at, archived_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, NULL)
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
            .bind(u32_to_db(u32::try_from(position).unwrap_or(u32::MAX)))
            .bind(&s.check_kind)
            .bind(Time(now))
            .execute(&mut *tx)
            .await?;
        }
        let sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE archived_at IS NULL ORDER BY position"
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter().map(Self::service_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.services", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "services"))]
    async fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let sql = format!("SELECT {SERVICE_COLUMNS} FROM services ORDER BY position, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(Self::service_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.insert_samples", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "insert_samples"))]
    async fn insert_samples(
        &self,
        samples: &[Sample],
        states: &[ServiceState],
        transitions: &[Transition],
        fence: Option<&Lease>,
    ) -> Result<RoundResult, StoreError> {
        if samples.is_empty() && states.is_empty() && transitions.is_empty() {
            return Ok(RoundResult::default());
        }
        let mut tx = self.pool.begin().await?;
        // The leader's row stays locked until the commit, so a takeover
        // waits for this round or fences it: never both.
        let fenced = !Self::holds(&mut tx, fence).await?;
        // Only the samples actually inserted count in the rollups, so a
        // retried batch is not counted twice.
        let inserted = DB::insert_new_samples(&mut tx, samples).await?;
        for resolution in [Resolution::Hour, Resolution::Day] {
            let mut rollups = summarise(&inserted, resolution);
            let keys: Vec<_> = rollups
                .iter()
                .filter(|(_, r)| !r.histogram.is_empty())
                .map(|(key, _)| *key)
                .collect();
            for (id, start, stored) in DB::stored_histograms(&mut tx, resolution, &keys).await? {
                if let Some(rollup) = rollups.get_mut(&(id, start)) {
                    rollup.histogram.merge(&stored);
                }
            }
            DB::upsert_rollups(&mut tx, resolution, &rollups).await?;
        }
        if fenced {
            Self::log_round(&mut tx, fence, &inserted, &[], false).await?;
            tx.commit().await?;
            return Ok(RoundResult {
                fenced: true,
                ..RoundResult::default()
            });
        }
        DB::store_states(&mut tx, states).await?;
        let result = Self::apply_transitions(&mut tx, transitions).await?;
        Self::log_round(&mut tx, fence, &inserted, states, result.incidents_changed).await?;
        tx.commit().await?;
        Ok(result)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.alert_events", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "alert_events"))]
    async fn alert_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredAlertEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, routed_at FROM alert_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::stored_alert_event).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.insert_routed_alert", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "insert_routed_alert"))]
    async fn insert_routed_alert(
        &self,
        event: &AlertEvent,
        route: &str,
        route_kind: &str,
        fence: Option<&Lease>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(None);
        }
        let event_id =
            // Quiet: a test or a reminder is for one route, never for
            // subscribers.
            Self::insert_alert_events(&mut tx, std::slice::from_ref(event), true).await?[0];
        sqlx::query("UPDATE alert_events SET routed_at = $2 WHERE id = $1")
            .bind(event_id)
            .bind(Time(event.occurred_at))
            .execute(&mut *tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_deliveries (event_id, route, route_kind, status, next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $4) RETURNING id",
        )
        .bind(event_id)
        .bind(route)
        .bind(route_kind)
        .bind(Time(event.occurred_at))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.slo_states", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "slo_states"))]
    async fn slo_states(&self) -> Result<Vec<SloState>, StoreError> {
        let rows = sqlx::query("SELECT service_id, objective, status, changed_at FROM slo_states")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SloState {
                    service_id: Self::int(row, "service_id")?,
                    objective: row.try_get("objective")?,
                    status: row.try_get("status")?,
                    changed_at: Self::time(row, "changed_at")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.record_slo_changes", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "record_slo_changes"))]
    async fn record_slo_changes(
        &self,
        states: &[SloState],
        events: &[AlertEvent],
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(false);
        }
        for state in states {
            sqlx::query(
                "INSERT INTO slo_states (service_id, objective, status, changed_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (service_id, objective) DO UPDATE SET status = excluded.status, changed_at = excluded.changed_at",
            )
            .bind(state.service_id)
            .bind(&state.objective)
            .bind(&state.status)
            .bind(Time(state.changed_at))
            .execute(&mut *tx)
            .await?;
        }
        Self::insert_alert_events(&mut tx, events, false).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.record_slo_days", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "record_slo_days"))]
    async fn record_slo_days(&self, days: &[SloDay]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for day in days {
            sqlx::query(
                "INSERT INTO slo_days (service_id, objective, day, target_ppb, good, bad, window_good, window_bad)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (service_id, objective, day) DO NOTHING",
            )
            .bind(day.service_id)
            .bind(&day.objective)
            .bind(Time(day.day))
            .bind((day.target * 1e9).round() as i64)
            .bind(i64::try_from(day.good).unwrap_or(i64::MAX))
            .bind(i64::try_from(day.bad).unwrap_or(i64::MAX))
            .bind(i64::try_from(day.window_good).unwrap_or(i64::MAX))
            .bind(i64::try_from(day.window_bad).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_slo_days", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_slo_days"))]
    async fn prune_slo_days(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM slo_days WHERE day < $1")
            .bind(Time(before))
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.last_slo_day", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "last_slo_day"))]
    async fn last_slo_day(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query("SELECT MAX(day) AS day FROM slo_days")
            .fetch_one(&self.pool)
            .await?;
        Self::optional_time(&row, "day")
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.slo_days", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "slo_days"))]
    async fn slo_days(
        &self,
        service_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SloDay>, StoreError> {
        let rows = sqlx::query(
            "SELECT service_id, objective, day, target_ppb, good, bad, window_good, window_bad FROM slo_days
             WHERE ($1 IS NULL OR service_id = $1) AND day >= $2 AND day < $3
             ORDER BY service_id, objective, day",
        )
        .bind(service_id)
        .bind(Time(from))
        .bind(Time(to))
        .fetch_all(&self.pool)
        .await?;
        let count = |row: &DB::Row, column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(Self::int(row, column)?).unwrap_or(0))
        };
        rows.iter()
            .map(|row| {
                Ok(SloDay {
                    service_id: Self::int(row, "service_id")?,
                    objective: row.try_get("objective")?,
                    day: Self::time(row, "day")?,
                    target: Self::int(row, "target_ppb")? as f64 / 1e9,
                    good: count(row, "good")?,
                    bad: count(row, "bad")?,
                    window_good: count(row, "window_good")?,
                    window_bad: count(row, "window_bad")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.incident_counts", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "incident_counts"))]
    async fn incident_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.service_id, COUNT(DISTINCT i.id) AS n FROM incidents i
             JOIN incident_services s ON s.incident_id = i.id
             WHERE i.started_at >= $1 AND i.started_at < $2
             GROUP BY s.service_id ORDER BY s.service_id",
        )
        .bind(Time(from))
        .bind(Time(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    Self::int(row, "service_id")?,
                    u64::try_from(Self::int(row, "n")?).unwrap_or(0),
                ))
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.insert_alert_event_once", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "insert_alert_event_once"))]
    async fn insert_alert_event_once(
        &self,
        event: &AlertEvent,
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(false);
        }
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM alert_events WHERE dedup_key = $1 AND kind = $2 LIMIT 1",
        )
        .bind(event.dedup_key())
        .bind(event.event.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            return Ok(false);
        }
        Self::insert_alert_events(&mut tx, std::slice::from_ref(event), false).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.unfinished_maintenance_events", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "unfinished_maintenance_events"))]
    async fn unfinished_maintenance_events(&self) -> Result<Vec<StoredAlertEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.body, e.routed_at FROM alert_events e
             WHERE e.kind = 'maintenance.started' AND NOT EXISTS (
               SELECT 1 FROM alert_events c WHERE c.kind = 'maintenance.completed' AND c.dedup_key = e.dedup_key)
             ORDER BY e.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::stored_alert_event).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.reminder_candidates", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "reminder_candidates"))]
    async fn reminder_candidates(&self, route: &str) -> Result<Vec<ReminderCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.body, e.routed_at,
               (SELECT COUNT(*) FROM alert_deliveries d2 JOIN alert_events e2 ON e2.id = d2.event_id
                 WHERE d2.route = $1 AND e2.dedup_key = e.dedup_key AND e2.kind = 'incident.opened'
                   AND d2.status <> 'suppressed') AS sent,
               (SELECT MAX(d3.created_at) FROM alert_deliveries d3 JOIN alert_events e3 ON e3.id = d3.event_id
                 WHERE d3.route = $1 AND e3.dedup_key = e.dedup_key AND d3.status <> 'suppressed') AS last_at
             FROM alert_events e
             JOIN alert_deliveries d ON d.event_id = e.id AND d.route = $1 AND d.status = 'delivered'
             JOIN incidents i ON i.id = e.incident_id AND i.resolved_at IS NULL
             WHERE e.kind = 'incident.opened'
               AND e.id = (SELECT MIN(e4.id) FROM alert_events e4
                           WHERE e4.dedup_key = e.dedup_key AND e4.kind = 'incident.opened')
             ORDER BY e.id LIMIT 100",
        )
        .bind(route)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReminderCandidate {
                    opened: Self::stored_alert_event(row)?,
                    sent: u32_from_db(Self::int(row, "sent")?),
                    last_at: Self::time(row, "last_at")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.unrouted_alert_events", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "unrouted_alert_events"))]
    async fn unrouted_alert_events(&self, limit: u32) -> Result<Vec<StoredAlertEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, routed_at FROM alert_events WHERE routed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::stored_alert_event).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.route_alert_events", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "route_alert_events"))]
    async fn route_alert_events(
        &self,
        routed: &[(i64, Vec<NewDelivery>)],
        at: DateTime<Utc>,
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(false);
        }
        for (event_id, deliveries) in routed {
            let marked = sqlx::query(
                "UPDATE alert_events SET routed_at = $2 WHERE id = $1 AND routed_at IS NULL",
            )
            .bind(event_id)
            .bind(Time(at))
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&marked) != 1 {
                continue;
            }
            for d in deliveries {
                let finished = (d.status != DeliveryStatus::Pending).then_some(Time(at));
                sqlx::query(
                    "INSERT INTO alert_deliveries (event_id, route, route_kind, status, reason, next_attempt_at, created_at, finished_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (event_id, route) DO NOTHING",
                )
                .bind(event_id)
                .bind(&d.route)
                .bind(&d.route_kind)
                .bind(d.status.as_str())
                .bind(&d.reason)
                .bind(Time(at))
                .bind(finished)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.recent_alert", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "recent_alert"))]
    async fn recent_alert(
        &self,
        route: &str,
        subject: &str,
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT d.created_at FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
             WHERE d.route = $1 AND e.subject = $2 AND e.kind = $3 AND d.status <> 'suppressed'
               AND d.created_at > $4
             ORDER BY d.created_at DESC LIMIT 1",
        )
        .bind(route)
        .bind(subject)
        .bind(kind)
        .bind(Time(since))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::time(&r, "created_at")).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.last_alert_status", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "last_alert_status"))]
    async fn last_alert_status(
        &self,
        route: &str,
        dedup_key: &str,
    ) -> Result<Option<DeliveryStatus>, StoreError> {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT d.status FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
             WHERE d.route = $1 AND e.dedup_key = $2 ORDER BY d.id DESC LIMIT 1",
        )
        .bind(route)
        .bind(dedup_key)
        .fetch_optional(&self.pool)
        .await?;
        status
            .map(|s| parse_column(&s, DeliveryStatus::parse, "delivery status"))
            .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.claim_alert_deliveries", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "claim_alert_deliveries"))]
    async fn claim_alert_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        fence: Option<&Lease>,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.event_id, d.route, d.attempts, e.body FROM alert_deliveries d
             JOIN alert_events e ON e.id = d.event_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
               AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
             ORDER BY d.next_attempt_at, d.id LIMIT $2{}",
            DB::skip_locked("d")
        );
        let rows = sqlx::query(&sql)
            .bind(Time(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let body: String = row.try_get("body")?;
            let delivery = ClaimedDelivery {
                id: row.try_get("id")?,
                event_id: row.try_get("event_id")?,
                route: row.try_get("route")?,
                attempts: u32_from_db(Self::int(row, "attempts")?),
                event: serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("alert event: {e}")))?,
            };
            sqlx::query("UPDATE alert_deliveries SET claimed_until = $2 WHERE id = $1")
                .bind(delivery.id)
                .bind(Time(until))
                .execute(&mut *tx)
                .await?;
            claimed.push(delivery);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.finish_alert_attempt", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "finish_alert_attempt"))]
    async fn finish_alert_attempt(
        &self,
        delivery_id: i64,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO alert_attempts (delivery_id, at, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(delivery_id)
        .bind(Time(attempt.at))
        .bind(attempt.status_code.map(i64::from))
        .bind(&attempt.error)
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        let (status, next, finished) = match outcome {
            AttemptOutcome::Delivered => (DeliveryStatus::Delivered, attempt.at, Some(attempt.at)),
            AttemptOutcome::Retry(at) => (DeliveryStatus::Pending, at, None),
            AttemptOutcome::Failed => (DeliveryStatus::Failed, attempt.at, Some(attempt.at)),
        };
        sqlx::query(
            "UPDATE alert_deliveries SET attempts = attempts + 1, status = $2, next_attempt_at = $3,
               claimed_until = NULL, finished_at = $4, last_error = $5
             WHERE id = $1",
        )
        .bind(delivery_id)
        .bind(status.as_str())
        .bind(Time(next))
        .bind(finished.map(Time))
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.alert_history", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "alert_history"))]
    async fn alert_history(
        &self,
        filter: &AlertHistoryFilter,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, d.route, d.route_kind, e.kind, e.dedup_key, e.incident_id, e.subject,
                    d.status, d.reason, d.attempts, e.occurred_at, d.created_at, d.next_attempt_at,
                    d.finished_at, d.last_error
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
             WHERE ($1 IS NULL OR d.route = $1) AND ($2 IS NULL OR d.status = $2)
               AND ($3 IS NULL OR e.incident_id = $3) AND ($4 IS NULL OR d.id < $4)
             ORDER BY d.id DESC LIMIT $5",
        )
        .bind(&filter.route)
        .bind(filter.status.map(DeliveryStatus::as_str))
        .bind(filter.incident_id)
        .bind(filter.before_id)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status = parse_column(
                    &row.try_get::<String, _>("status")?,
                    DeliveryStatus::parse,
                    "delivery status",
                )?;
                Ok(DeliveryRecord {
                    id: row.try_get("id")?,
                    event_id: row.try_get("event_id")?,
                    route: row.try_get("route")?,
                    route_kind: row.try_get("route_kind")?,
                    event: row.try_get("kind")?,
                    dedup_key: row.try_get("dedup_key")?,
                    incident_id: row.try_get("incident_id")?,
                    service: row.try_get("subject")?,
                    status,
                    reason: row.try_get("reason")?,
                    attempts: u32_from_db(Self::int(row, "attempts")?),
                    occurred_at: Self::time(row, "occurred_at")?,
                    created_at: Self::time(row, "created_at")?,
                    next_attempt_at: (status == DeliveryStatus::Pending)
                        .then(|| Self::time(row, "next_attempt_at"))
                        .transpose()?,
                    finished_at: Self::optional_time(row, "finished_at")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.alert_attempts", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "alert_attempts"))]
    async fn alert_attempts(&self, delivery_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, status_code, error, duration_ms FROM alert_attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let code: Option<i64> = row.try_get("status_code")?;
                Ok(AttemptRecord {
                    at: Self::time(row, "at")?,
                    status_code: code.and_then(|c| u16::try_from(c).ok()),
                    error: row.try_get("error")?,
                    duration_ms: u64::try_from(Self::int(row, "duration_ms")?).unwrap_or_default(),
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.alert_outbox", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "alert_outbox"))]
    async fn alert_outbox(&self) -> Result<OutboxDepth, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM alert_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        let unrouted =
            sqlx::query("SELECT COUNT(*) AS n FROM alert_events WHERE routed_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(OutboxDepth {
            pending: u64::try_from(Self::int(&row, "pending")?).unwrap_or_default(),
            oldest_pending: Self::optional_time(&row, "oldest")?,
            unrouted: u64::try_from(Self::int(&unrouted, "n")?).unwrap_or_default(),
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_alerts", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_alerts"))]
    async fn prune_alerts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Kept while anything about them is pending: a route's delivery,
        // the fan-out to subscribers (until it would be stale news), a
        // subscriber's mail.
        let old = "SELECT id FROM alert_events WHERE created_at < $1 AND routed_at IS NOT NULL
                   AND (subscribers_at IS NOT NULL OR created_at < $2)
                   AND NOT EXISTS (SELECT 1 FROM alert_deliveries p WHERE p.event_id = alert_events.id AND p.status = 'pending')
                   AND NOT EXISTS (SELECT 1 FROM subscriber_deliveries q WHERE q.event_id = alert_events.id AND q.status = 'pending')";
        let stale = before - subscribers::FAN_OUT_WITHIN;
        for sql in [
            format!("DELETE FROM alert_attempts WHERE delivery_id IN (SELECT id FROM alert_deliveries WHERE event_id IN ({old}))"),
            format!("DELETE FROM alert_deliveries WHERE event_id IN ({old})"),
            format!("DELETE FROM subscriber_deliveries WHERE event_id IN ({old})"),
        ] {
            sqlx::query(&sql)
                .bind(Time(before))
                .bind(Time(stale))
                .execute(&mut *tx)
                .await?;
        }
        let result = sqlx::query(&format!("DELETE FROM alert_events WHERE id IN ({old})"))
            .bind(Time(before))
            .bind(Time(stale))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.active_incidents", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "active_incidents"))]
    async fn active_incidents(&self) -> Result<Vec<IncidentView>, StoreError> {
        self.load_incidents("i.resolved_at IS NULL", None).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.incidents_since", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "incidents_since"))]
    async fn incidents_since(&self, since: DateTime<Utc>) -> Result<Vec<IncidentView>, StoreError> {
        self.load_incidents("i.started_at >= $1", Some(Param::Time(since)))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.create_incident", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "create_incident"))]
    async fn create_incident(&self, new: &NewIncident) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let resolved_at = (new.status == IncidentStatus::Resolved).then_some(Time(new.at));
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (title, status, impact, created_by, auto_resolve, started_at, resolved_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'admin', $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&new.title)
        .bind(new.status.as_str())
        .bind(new.impact.as_str())
        .bind(new.auto_resolve)
        .bind(Time(new.started_at))
        .bind(resolved_at)
        .bind(Time(new.at))
        .fetch_one(&mut *tx)
        .await?;
        DB::upsert_incident_services(&mut tx, id, &new.services).await?;
        Self::insert_incident_update(&mut tx, id, new.status, &new.body, &new.author, new.at)
            .await?;
        let facts = Self::incident_facts(&mut tx, id, true, new.at).await?;
        Self::insert_alert_events(&mut tx, &incident_events(&facts), new.quiet).await?;
        Self::record_audit(
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

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.incident", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "incident"))]
    async fn incident(&self, id: i64) -> Result<Option<IncidentView>, StoreError> {
        Ok(self
            .load_incidents("i.id = $1", Some(Param::Int(id)))
            .await?
            .pop())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.incidents", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "incidents"))]
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
        // The newest `limit`, chosen in SQL; their details are loaded after.
        let filter = format!(
            "i.id IN (SELECT i.id FROM incidents i WHERE {filter} ORDER BY i.started_at DESC, i.id DESC LIMIT $1)"
        );
        self.load_incidents(&filter, Some(Param::Int(limit.into())))
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.update_incident", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "update_incident"))]
    async fn update_incident(&self, id: i64, patch: &IncidentPatch) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let sql = format!(
            "SELECT i.status FROM incidents i WHERE i.id = $1{}",
            DB::lock_rows("i")
        );
        let current: Option<String> = sqlx::query_scalar(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = current else {
            return Ok(false);
        };
        let current = parse_column(&current, IncidentStatus::parse, "incident status")?;
        let status = patch.status_after(current);
        sqlx::query(
            "UPDATE incidents SET title = COALESCE($2, title), status = $3, impact = COALESCE($4, impact),
               auto_resolve = COALESCE($5, auto_resolve), updated_at = $6,
               resolved_at = CASE WHEN $3 = 'resolved' THEN COALESCE(resolved_at, $6) ELSE NULL END
             WHERE id = $1",
        )
        .bind(id)
        .bind(&patch.title)
        .bind(status.as_str())
        .bind(patch.impact.map(|i| i.as_str()))
        .bind(patch.auto_resolve)
        .bind(Time(patch.at))
        .execute(&mut *tx)
        .await?;
        if let Some(services) = &patch.services {
            sqlx::query("DELETE FROM incident_services WHERE incident_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            DB::upsert_incident_services(&mut tx, id, services).await?;
        }
        if let Some(body) = patch.timeline_entry(current) {
            Self::insert_incident_update(&mut tx, id, status, &body, &patch.author, patch.at)
                .await?;
            // Whoever follows the incident hears of each timeline entry.
            let facts = Self::incident_facts(&mut tx, id, false, patch.at).await?;
            let mut events = incident_events(&facts);
            if current == IncidentStatus::Resolved {
                // A resolved incident edited again: an update, not a
                // second resolution.
                for e in &mut events {
                    e.event = EventKind::IncidentUpdated;
                }
            }
            Self::insert_alert_events(&mut tx, &events, patch.quiet).await?;
        }
        Self::record_audit(
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

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.delete_incident", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "delete_incident"))]
    async fn delete_incident(
        &self,
        id: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delete_with_audit("incidents", id, actor, "incident.deleted", at)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.set_incident_auto_resolve", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "set_incident_auto_resolve"))]
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
        Ok(DB::rows_affected(&result) == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.create_maintenance", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "create_maintenance"))]
    async fn create_maintenance(&self, m: &NewMaintenance) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO maintenances (title, description, starts_at, ends_at, recurrence, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&m.title)
        .bind(&m.description)
        .bind(Time(m.starts_at))
        .bind(Time(m.ends_at))
        .bind(&m.recurrence)
        .bind(&m.created_by)
        .bind(Time(m.at))
        .fetch_one(&mut *tx)
        .await?;
        DB::add_maintenance_services(&mut tx, id, &m.service_ids).await?;
        let (status, body) = m.first_update();
        Self::insert_maintenance_update(&mut tx, id, status.as_str(), body, &m.created_by, m.at)
            .await?;
        let mut services = Vec::with_capacity(m.service_ids.len());
        for &service in &m.service_ids {
            services.push(Self::service_ref(&mut tx, service).await?);
        }
        let info = MaintenanceInfo {
            id,
            title: m.title.clone(),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            services,
        };
        let event = maintenance_event(EventKind::MaintenanceScheduled, info, m.at);
        Self::insert_alert_events(&mut tx, &[event], m.quiet).await?;
        Self::record_audit(
            &mut tx,
            m.at,
            &m.created_by,
            "maintenance.created",
            id,
            &m.title,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.maintenance", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "maintenance"))]
    async fn maintenance(&self, id: i64) -> Result<Option<MaintenanceRecord>, StoreError> {
        Ok(self.load_maintenances("m.id = $1", id).await?.pop())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.maintenances", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "maintenances"))]
    async fn maintenances(&self, limit: u32) -> Result<Vec<MaintenanceRecord>, StoreError> {
        self.load_maintenances(
            "m.id IN (SELECT id FROM maintenances ORDER BY starts_at DESC, id DESC LIMIT $1)",
            limit.into(),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.update_maintenance", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "update_maintenance"))]
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
        .bind(patch.starts_at.map(Time))
        .bind(patch.ends_at.map(Time))
        .bind(patch.recurrence.is_some())
        .bind(patch.recurrence.clone().flatten())
        .bind(Time(patch.at))
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&result) == 0 {
            return Ok(false);
        }
        if let Some(ids) = &patch.service_ids {
            sqlx::query("DELETE FROM maintenance_services WHERE maintenance_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            DB::add_maintenance_services(&mut tx, id, ids).await?;
        }
        if let Some((status, body)) = &patch.update {
            Self::insert_maintenance_update(
                &mut tx,
                id,
                status.as_str(),
                body,
                &patch.author,
                patch.at,
            )
            .await?;
        }
        Self::record_audit(
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

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.delete_maintenance", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "delete_maintenance"))]
    async fn delete_maintenance(
        &self,
        id: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delete_with_audit("maintenances", id, actor, "maintenance.deleted", at)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.audit_log", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "audit_log"))]
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        // One text for every combination: a filter left out is a NULL
        // parameter. An action ending in '.' is a prefix.
        let rows = sqlx::query(
            "SELECT a.id, a.at, a.actor, a.action, a.target_id, a.detail,
                    CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.name = a.actor)
                         THEN 'user' ELSE 'token' END AS actor_kind
             FROM audit_log a
             WHERE ($1 IS NULL OR a.actor = $1)
               AND ($2 IS NULL OR a.action = $2
                    OR (substr($2, length($2), 1) = '.' AND substr(a.action, 1, length($2)) = $2))
               AND ($3 IS NULL OR a.at >= $3)
               AND ($4 IS NULL OR a.at < $4)
               AND ($5 IS NULL OR a.id < $5)
             ORDER BY a.id DESC LIMIT $6",
        )
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.from.map(Time))
        .bind(filter.until.map(Time))
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: Self::time(row, "at")?,
                    actor: row.try_get("actor")?,
                    actor_kind: row.try_get("actor_kind")?,
                    action: row.try_get("action")?,
                    target_id: row.try_get("target_id")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.claim_idempotency_key", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "claim_idempotency_key"))]
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
        .bind(Time(now))
        .bind(Time(now - IDEMPOTENCY_TTL))
        .bind(Time(now - IDEMPOTENCY_ABANDONED))
        .execute(&self.pool)
        .await?;
        if DB::rows_affected(&claimed) == 1 {
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
        let status = row.try_get::<Option<Int>, _>("status")?;
        Ok(match status {
            None => IdempotencyClaim::InProgress,
            Some(Int(status)) => IdempotencyClaim::Replay(KeptResponse {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::Corrupt(format!("HTTP status {status}")))?,
                body: row
                    .try_get::<Option<Vec<u8>>, _>("body")?
                    .unwrap_or_default(),
                location: row.try_get("location")?,
            }),
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.finish_idempotency_key", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "finish_idempotency_key"))]
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
                .bind(i64::from(kept.status))
                .bind(kept.body.as_slice())
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

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_idempotency_keys", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_idempotency_keys"))]
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(Time(before))
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.maintenance_windows", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "maintenance_windows"))]
    async fn maintenance_windows(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError> {
        let sql =
            format!("{WINDOW_ROWS} WHERE m.ends_at > $1 OR m.recurrence IS NOT NULL ORDER BY m.id");
        let rows = sqlx::query(&sql)
            .bind(Time(now))
            .fetch_all(&self.pool)
            .await?;
        Ok(Self::windows_from_rows(&rows)?
            .into_iter()
            .map(|(window, _)| window)
            .collect())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.create_token", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "create_token"))]
    async fn create_token(
        &self,
        name: &str,
        token_hash: &[u8],
        role: Role,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, role, created_at)
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = $1)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(Time(at))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            Self::record_audit(
                &mut tx,
                at,
                actor,
                "token.created",
                id,
                &format!("{name} ({role})"),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.tokens", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "tokens"))]
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(Self::token_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.revoke_token", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "revoke_token"))]
    async fn revoke_token(
        &self,
        name: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING id",
        )
        .bind(name)
        .bind(Time(at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        Self::record_audit(&mut tx, at, actor, "token.revoked", id, name).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.use_token", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "use_token"))]
    async fn use_token(
        &self,
        token_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!(
            "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(Time(at))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::token_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.create_user", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "create_user"))]
    async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (name, role, password_hash, created_at)
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM api_tokens WHERE name = $1)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(Time(at))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            Self::record_audit(
                &mut tx,
                at,
                actor,
                "user.created",
                id,
                &format!("{name} ({role})"),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(id)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.users", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "users"))]
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(Self::credentials_from_row(row)?.user))
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.credentials", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "credentials"))]
    async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::credentials_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.set_user_role", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "set_user_role"))]
    async fn set_user_role(
        &self,
        name: &str,
        role: Role,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT id, role FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let (id, before): (i64, Role) = (row.try_get("id")?, Self::role(&row)?);
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        let detail = format!("{name}: {before} → {role}");
        Self::record_audit(&mut tx, at, actor, "user.role_changed", id, &detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.disable_user", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "disable_user"))]
    async fn disable_user(
        &self,
        name: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET disabled_at = $2 WHERE name = $1 AND disabled_at IS NULL RETURNING id",
        )
        .bind(name)
        .bind(Time(at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        Self::end_sessions(&mut tx, id, at).await?;
        Self::record_audit(&mut tx, at, actor, "user.disabled", id, name).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.reset_password", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "reset_password"))]
    async fn reset_password(
        &self,
        name: &str,
        link_hash: &[u8],
        expires_at: DateTime<Utc>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(id) = Self::user_id(&mut tx, name).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE users SET password_hash = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM password_links WHERE user_id = $1 OR expires_at <= $2")
            .bind(id)
            .bind(Time(at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO password_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(link_hash)
        .bind(id)
        .bind(Time(expires_at))
        .execute(&mut *tx)
        .await?;
        Self::end_sessions(&mut tx, id, at).await?;
        Self::record_audit(&mut tx, at, actor, "user.password_reset", id, name).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.password_link", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "password_link"))]
    async fn password_link(
        &self,
        link_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT u.name FROM password_links l JOIN users u ON u.id = l.user_id
             WHERE l.token_hash = $1 AND l.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(link_hash)
        .bind(Time(now))
        .fetch_optional(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.set_password_by_link", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "set_password_by_link"))]
    async fn set_password_by_link(
        &self,
        link_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "DELETE FROM password_links WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        )
        .bind(link_hash)
        .bind(Time(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $2 WHERE id = $1 AND disabled_at IS NULL RETURNING name",
        )
        .bind(user_id)
        .bind(password_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(name) = name else {
            return Ok(None);
        };
        Self::record_audit(&mut tx, now, &name, "user.password_set", user_id, &name).await?;
        tx.commit().await?;
        Ok(Some(name))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.create_session", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "create_session"))]
    async fn create_session(&self, session: &NewSession<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Sessions past their absolute expiry are of no use to anyone.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(Time(session.at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(session.id_hash)
        .bind(session.user_id)
        .bind(session.csrf_token)
        .bind(Time(session.at))
        .bind(Time(session.expires_at))
        .execute(&mut *tx)
        .await?;
        let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(session.user_id)
            .fetch_one(&mut *tx)
            .await?;
        Self::record_audit(
            &mut tx,
            session.at,
            &name,
            "user.signed_in",
            session.user_id,
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.session", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "session"))]
    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT s.user_id, u.name, u.role, s.csrf_token, s.last_seen_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
               AND s.last_seen_at > $3 AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .bind(Time(now))
        .bind(Time(idle_cutoff))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut record = SessionRecord {
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            role: Self::role(&row)?,
            csrf_token: row.try_get("csrf_token")?,
            last_seen_at: Self::time(&row, "last_seen_at")?,
            expires_at: Self::time(&row, "expires_at")?,
        };
        if record.last_seen_at <= now - SEEN_RESOLUTION {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(Time(now))
                .execute(&self.pool)
                .await?;
            record.last_seen_at = now;
        }
        Ok(Some(record))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.end_session", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "end_session"))]
    async fn end_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL RETURNING user_id",
        )
        .bind(id_hash)
        .bind(Time(at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(false);
        };
        let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        Self::record_audit(&mut tx, at, &name, "user.signed_out", user_id, "").await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.acquire_lease", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "acquire_lease"))]
    async fn acquire_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE leadership SET
               epoch = CASE WHEN holder = $1 THEN epoch ELSE epoch + 1 END,
               holder = $1, expires_at = $3
             WHERE id = 1 AND (holder = $1 OR expires_at <= $2 OR $4)
             RETURNING epoch",
        )
        .bind(holder)
        .bind(Time(now))
        .bind(Time(expires_at))
        .bind(DB::EXCLUSIVE)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch.map(|epoch| Lease {
            holder: holder.to_owned(),
            epoch,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.renew_lease", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "renew_lease"))]
    async fn renew_lease(
        &self,
        lease: &Lease,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE leadership SET expires_at = $3 WHERE id = 1 AND holder = $1 AND epoch = $2",
        )
        .bind(&lease.holder)
        .bind(lease.epoch)
        .bind(Time(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&result) == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.release_lease", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "release_lease"))]
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.renew_lease(lease, DateTime::UNIX_EPOCH)
            .await
            .map(|_| ())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.rounds_since", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "rounds_since"))]
    async fn rounds_since(&self, after: i64, limit: u32) -> Result<Vec<LoggedRound>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, epoch, incidents_changed, body FROM writer_rounds
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let body = RoundBody::from_json(&row.try_get::<String, _>("body")?)?;
                Ok(LoggedRound {
                    seq: row.try_get("seq")?,
                    epoch: row.try_get("epoch")?,
                    incidents_changed: row.try_get("incidents_changed")?,
                    samples: body.samples()?,
                    states: body.states()?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.last_round", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "last_round"))]
    async fn last_round(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM writer_rounds")
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_rounds", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_rounds"))]
    async fn prune_rounds(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM writer_rounds WHERE newest_sample < $1")
            .bind(Time(before))
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.round_feed", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "round_feed"))]
    async fn round_feed(&self) -> Result<Option<RoundFeed>, StoreError> {
        DB::round_feed(&self.pool).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.service_states", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "service_states"))]
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
                    tracker: Tracker {
                        status: parse_column(
                            &row.try_get::<String, _>("status")?,
                            ServiceStatus::parse,
                            "service status",
                        )?,
                        bad_run: u32_from_db(Self::int(row, "bad_run")?),
                        good_run: u32_from_db(Self::int(row, "good_run")?),
                    },
                    updated_at: Self::time(row, "state_at")?,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.rollups", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "rollups"))]
    async fn rollups(
        &self,
        service_id: i64,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Rollup)>, StoreError> {
        let sql = format!(
            "SELECT period_start, {}, {HISTOGRAM_SELECT} FROM {} \
             WHERE service_id = $1 AND period_start >= $2 AND period_start < $3 \
             ORDER BY period_start",
            ROLLUP_COLUMNS.join(", "),
            rollup_table(resolution),
        );
        let rows = sqlx::query(&sql)
            .bind(service_id)
            .bind(Time(from))
            .bind(Time(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::rollup_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.rollups_since", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "rollups_since"))]
    async fn rollups_since(
        &self,
        resolution: Resolution,
        from: DateTime<Utc>,
        services: std::ops::RangeInclusive<i64>,
        histograms_from: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>, Rollup)>, StoreError> {
        let select = HISTOGRAM_SELECT.replacen(
            "histogram",
            "CASE WHEN period_start >= $4 THEN histogram END AS histogram",
            1,
        );
        let sql = format!(
            "SELECT period_start, {}, {select}, service_id FROM {} \
             WHERE service_id BETWEEN $2 AND $3 AND period_start >= $1 \
             ORDER BY service_id, period_start",
            ROLLUP_COLUMNS.join(", "),
            rollup_table(resolution),
        );
        let rows = sqlx::query(&sql)
            .bind(Time(from))
            .bind(services.start())
            .bind(services.end())
            .bind(Time(histograms_from))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let (start, rollup) = Self::rollup_from_row(row)?;
                Ok((row.try_get("service_id")?, start, rollup))
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.samples_since", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "samples_since"))]
    async fn samples_since(
        &self,
        from: DateTime<Utc>,
        services: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<Sample>, StoreError> {
        let sql = format!(
            "SELECT {SAMPLE_COLUMNS} FROM samples \
             WHERE service_id BETWEEN $2 AND $3 AND taken_at >= $1 ORDER BY service_id, taken_at"
        );
        let rows = sqlx::query(&sql)
            .bind(SampleTime(from))
            .bind(services.start())
            .bind(services.end())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::sample_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.latest_samples", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "latest_samples"))]
    async fn latest_samples(&self) -> Result<Vec<Sample>, StoreError> {
        let sql = format!(
            "SELECT s.service_id, s.taken_at, s.outcome, s.latency_ms, s.error FROM services v {}",
            DB::NEWEST_SAMPLE_JOIN
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(Self::sample_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.recent_samples", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "recent_samples"))]
    async fn recent_samples(&self, service_id: i64, limit: u32) -> Result<Vec<Sample>, StoreError> {
        let sql = format!(
            "SELECT {SAMPLE_COLUMNS} FROM samples WHERE service_id = $1 ORDER BY taken_at DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(service_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::sample_from_row).collect()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_hourly_histograms", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_hourly_histograms"))]
    async fn prune_hourly_histograms(
        &self,
        service_id: i64,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE rollups_hourly SET histogram = NULL
             WHERE service_id = $1 AND period_start < $2 AND histogram IS NOT NULL",
        )
        .bind(service_id)
        .bind(Time(before))
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_samples", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_samples"))]
    async fn prune_samples(
        &self,
        service_id: i64,
        older_than: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM samples WHERE service_id = $1 AND taken_at IN (
               SELECT taken_at FROM samples WHERE service_id = $1 AND taken_at < $2
               ORDER BY taken_at LIMIT $3)",
        )
        .bind(service_id)
        .bind(SampleTime(older_than))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(DB::rows_affected(&result))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.set_push_token", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "set_push_token"))]
    async fn set_push_token(&self, slug: &str, token_hash: &[u8]) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE services SET push_token_hash = $2 WHERE slug = $1")
            .bind(slug)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&result) == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.record_heartbeat", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "record_heartbeat"))]
    async fn record_heartbeat(
        &self,
        token_hash: &[u8],
        heartbeat: &Heartbeat,
    ) -> Result<Option<String>, StoreError> {
        let slug = sqlx::query_scalar(
            "UPDATE services SET last_push_at = $2, last_push_outcome = $3, last_push_msg = $4, last_push_latency_ms = $5
             WHERE push_token_hash = $1 AND archived_at IS NULL RETURNING slug",
        )
        .bind(token_hash)
        .bind(Time(heartbeat.at))
        .bind(i64::from(outcome_code(heartbeat.outcome)))
        .bind(&heartbeat.msg)
        .bind(heartbeat.latency_ms.map(u32_to_db))
        .fetch_optional(&self.pool)
        .await?;
        Ok(slug)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.last_heartbeat", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "last_heartbeat"))]
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
                at: Self::time(&row, "last_push_at")?,
                outcome: outcome_from_code(Self::int(&row, "last_push_outcome")?)?,
                msg: row.try_get("last_push_msg")?,
                latency_ms: Self::optional_u32(&row, "last_push_latency_ms")?,
            })
        })
        .transpose()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.subscribe", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "subscribe"))]
    async fn subscribe(
        &self,
        email: &str,
        services: &[String],
        at: DateTime<Utc>,
    ) -> Result<Subscribed, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let day = subscribers::day_of(at);
        let sql = format!(
            "SELECT s.id, s.status, s.mails_day, s.mails_sent FROM subscribers s
             WHERE s.kind = 'email' AND s.address = $1{}",
            DB::lock_rows("s")
        );
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO subscribers (kind, address, status, all_services, created_at, mails_day, mails_sent)
                 VALUES ('email', $1, 'pending', $2, $3, $4, 1) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(email)
            .bind(services.is_empty())
            .bind(Time(at))
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                // Another request subscribed it a moment ago: that one
                // sends the confirmation.
                return Ok(Subscribed::Limited);
            };
            Self::replace_subscriber_services(&mut tx, id, services).await?;
            Self::queue_subscriber_mail(&mut tx, id, Purpose::Confirm, at).await?;
            tx.commit().await?;
            return Ok(Subscribed::Confirm(id));
        };
        let id: i64 = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        let status = parse_column(&status, subscribers::Status::parse, "subscriber status")?;
        if !subscribers::may_mail(
            day,
            Self::int(&row, "mails_day")?,
            Self::int(&row, "mails_sent")?,
        ) {
            return Ok(Subscribed::Limited);
        }
        sqlx::query(
            "UPDATE subscribers SET mails_sent = CASE WHEN mails_day = $2 THEN mails_sent + 1 ELSE 1 END,
               mails_day = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(day)
        .execute(&mut *tx)
        .await?;
        let done = if status == subscribers::Status::Confirmed {
            Self::queue_subscriber_mail(&mut tx, id, Purpose::Manage, at).await?;
            Subscribed::Manage(id)
        } else {
            // Subscribed anew: unconfirmed subscriptions are pruned by
            // this time.
            sqlx::query(
                "UPDATE subscribers SET status = 'pending', all_services = $2, rejected_reason = NULL,
                   created_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(services.is_empty())
            .bind(Time(at))
            .execute(&mut *tx)
            .await?;
            Self::replace_subscriber_services(&mut tx, id, services).await?;
            Self::queue_subscriber_mail(&mut tx, id, Purpose::Confirm, at).await?;
            Subscribed::Confirm(id)
        };
        tx.commit().await?;
        Ok(done)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.confirm_subscriber", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "confirm_subscriber"))]
    async fn confirm_subscriber(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<SubscriberRecord>, StoreError> {
        sqlx::query(
            "UPDATE subscribers SET status = 'confirmed', confirmed_at = $2 WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(Time(at))
        .execute(&self.pool)
        .await?;
        self.subscriber(id).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.subscriber", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "subscriber"))]
    async fn subscriber(&self, id: i64) -> Result<Option<SubscriberRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(
            Self::load_subscribers(&mut conn, "s.id = $1", &[Param::Int(id)], 1)
                .await?
                .pop(),
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.set_subscriber_services", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "set_subscriber_services"))]
    async fn set_subscriber_services(
        &self,
        id: i64,
        services: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE subscribers SET all_services = $2 WHERE id = $1")
            .bind(id)
            .bind(services.is_empty())
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&changed) != 1 {
            return Ok(false);
        }
        Self::replace_subscriber_services(&mut tx, id, services).await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.remove_subscriber", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "remove_subscriber"))]
    async fn remove_subscriber(
        &self,
        id: i64,
        actor: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<SubscriberRecord>, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let Some(record) = Self::load_subscribers(&mut tx, "s.id = $1", &[Param::Int(id)], 1)
            .await?
            .pop()
        else {
            return Ok(None);
        };
        // Deleted in order rather than by cascade: SQLite enforces foreign
        // keys only where the connection turned them on.
        for sql in [
            "DELETE FROM subscriber_deliveries WHERE subscriber_id = $1",
            "DELETE FROM subscriber_services WHERE subscriber_id = $1",
            "DELETE FROM subscribers WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        if let Some(actor) = actor {
            // The audit log is for viewers too: no address (personal data,
            // or a destination's secret URL), only what it was.
            Self::record_audit(
                &mut tx,
                at,
                actor,
                "subscriber.removed",
                id,
                record.kind.as_str(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(record))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.add_subscriber", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "add_subscriber"))]
    async fn add_subscriber(
        &self,
        kind: subscribers::Kind,
        address: &str,
        services: &[String],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(id) =
            Self::insert_confirmed_subscriber(&mut tx, kind, address, services, at).await?
        else {
            return Ok(None);
        };
        // No address: see `remove_subscriber`.
        Self::record_audit(&mut tx, at, actor, "subscriber.added", id, kind.as_str()).await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.import_subscribers", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "import_subscribers"))]
    async fn import_subscribers(
        &self,
        rows: &[subscribers::ImportRow],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Imported, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut imported = Imported::default();
        for row in rows {
            let kind = subscribers::Kind::Email;
            match Self::insert_confirmed_subscriber(&mut tx, kind, &row.email, &row.services, at)
                .await?
            {
                Some(_) => imported.added += 1,
                None => imported.existing += 1,
            }
        }
        let detail = format!(
            "{} added, {} already subscribed",
            imported.added, imported.existing
        );
        Self::record_audit(&mut tx, at, actor, "subscriber.imported", 0, &detail).await?;
        tx.commit().await?;
        Ok(imported)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.subscribers", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "subscribers"))]
    async fn subscribers(
        &self,
        filter: &SubscriberFilter,
    ) -> Result<Vec<SubscriberRecord>, StoreError> {
        let mut clauses = vec!["TRUE".to_owned()];
        let mut params = Vec::new();
        if let Some(query) = filter.query.as_deref().filter(|q| !q.is_empty()) {
            let escaped = query
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            params.push(Param::Text(format!("%{escaped}%")));
            clauses.push(format!(
                "LOWER(s.address) LIKE ${} ESCAPE '\\'",
                params.len()
            ));
        }
        if let Some(status) = filter.status {
            params.push(Param::Text(status.as_str().to_owned()));
            clauses.push(format!("s.status = ${}", params.len()));
        }
        if let Some(before) = filter.before {
            params.push(Param::Int(before));
            clauses.push(format!("s.id < ${}", params.len()));
        }
        let mut conn = self.pool.acquire().await?;
        Self::load_subscribers(&mut conn, &clauses.join(" AND "), &params, filter.limit).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.subscriber_counts", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "subscriber_counts"))]
    async fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError> {
        let mut counts = SubscriberCounts::default();
        let rows = sqlx::query(
            "SELECT status, kind, COUNT(*) AS n FROM subscribers GROUP BY status, kind",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let n = u64::try_from(Self::int(row, "n")?).unwrap_or(0);
            let status: String = row.try_get("status")?;
            match subscribers::Status::parse(&status) {
                Some(subscribers::Status::Pending) => counts.pending += n,
                Some(subscribers::Status::Confirmed) => {
                    counts.confirmed += n;
                    *counts.by_kind.entry(row.try_get("kind")?).or_default() += n;
                }
                Some(subscribers::Status::Rejected) => counts.rejected += n,
                None => {}
            }
        }
        let all: i64 = sqlx::query_scalar::<_, Int>(
            "SELECT COUNT(*) FROM subscribers WHERE status = 'confirmed' AND all_services",
        )
        .fetch_one(&self.pool)
        .await?
        .0;
        counts.all_services = u64::try_from(all).unwrap_or(0);
        let rows = sqlx::query(
            "SELECT x.slug, COUNT(*) AS n FROM subscriber_services x
             JOIN subscribers s ON s.id = x.subscriber_id
             WHERE s.status = 'confirmed' AND NOT s.all_services GROUP BY x.slug",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let n = u64::try_from(Self::int(row, "n")?).unwrap_or(0);
            counts.by_service.insert(row.try_get("slug")?, n);
        }
        Ok(counts)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.audit_subscribers", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "audit_subscribers"))]
    async fn audit_subscribers(
        &self,
        action: &str,
        detail: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::record_audit(&mut tx, at, actor, action, 0, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.fan_out_to_subscribers", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "fan_out_to_subscribers"))]
    async fn fan_out_to_subscribers(
        &self,
        limit: u32,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        fence: Option<&Lease>,
    ) -> Result<(usize, u64), StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok((0, 0));
        }
        let rows = sqlx::query(
            "SELECT id, body FROM alert_events WHERE subscribers_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut written = 0;
        for row in &rows {
            let id: i64 = row.try_get("id")?;
            let body: String = row.try_get("body")?;
            let event: AlertEvent = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("alert event: {e}")))?;
            let audience =
                subscribers::audience(&event).filter(|_| event.occurred_at >= stale_before);
            if let Some(slugs) = audience {
                let who = if slugs.is_empty() {
                    "TRUE".to_owned()
                } else {
                    let list: Vec<String> = (3..3 + slugs.len()).map(|i| format!("${i}")).collect();
                    format!(
                        "s.all_services OR EXISTS (SELECT 1 FROM subscriber_services x
                           WHERE x.subscriber_id = s.id AND x.slug IN ({}))",
                        list.join(", ")
                    )
                };
                let sql = format!(
                    "INSERT INTO subscriber_deliveries (subscriber_id, purpose, event_id, status, next_attempt_at, created_at)
                     SELECT s.id, 'event', $1, 'pending', $2, $2 FROM subscribers s
                     WHERE s.status = 'confirmed' AND ({who})
                     ON CONFLICT DO NOTHING"
                );
                let mut query = sqlx::query(&sql).bind(id).bind(Time(at));
                for slug in &slugs {
                    query = query.bind(slug);
                }
                written += DB::rows_affected(&query.execute(&mut *tx).await?);
            }
            sqlx::query("UPDATE alert_events SET subscribers_at = $2 WHERE id = $1")
                .bind(id)
                .bind(Time(at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok((rows.len(), written))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.claim_subscriber_deliveries", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "claim_subscriber_deliveries"))]
    async fn claim_subscriber_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        fence: Option<&Lease>,
    ) -> Result<Vec<SubscriberDelivery>, StoreError> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        if !Self::holds(&mut tx, fence).await? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.subscriber_id, d.purpose, d.event_id, d.attempts, s.kind, s.address, e.body
             FROM subscriber_deliveries d
             JOIN subscribers s ON s.id = d.subscriber_id
             LEFT JOIN alert_events e ON e.id = d.event_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
               AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
             ORDER BY d.next_attempt_at, d.id LIMIT $2{}",
            DB::skip_locked("d")
        );
        let rows = sqlx::query(&sql)
            .bind(Time(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        // One event goes to many: parse each body once.
        let mut events: HashMap<i64, AlertEvent> = HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let purpose: String = row.try_get("purpose")?;
            let kind: String = row.try_get("kind")?;
            let event_id: Option<i64> = row.try_get("event_id")?;
            let event = match (event_id, row.try_get::<Option<String>, _>("body")?) {
                (Some(id), Some(body)) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(id) {
                        slot.insert(
                            serde_json::from_str(&body)
                                .map_err(|e| StoreError::Corrupt(format!("alert event: {e}")))?,
                        );
                    }
                    events.get(&id).map(|e| (id, e.clone()))
                }
                _ => None,
            };
            claimed.push(SubscriberDelivery {
                id: row.try_get("id")?,
                subscriber_id: row.try_get("subscriber_id")?,
                kind: parse_column(&kind, subscribers::Kind::parse, "subscriber kind")?,
                address: row.try_get("address")?,
                purpose: parse_column(&purpose, Purpose::parse, "delivery purpose")?,
                event,
                attempts: u32_from_db(Self::int(row, "attempts")?),
            });
        }
        if !claimed.is_empty() {
            let list: Vec<String> = (2..2 + claimed.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE subscriber_deliveries SET claimed_until = $1 WHERE id IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(Time(until));
            for d in &claimed {
                query = query.bind(d.id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.finish_subscriber_deliveries", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "finish_subscriber_deliveries"))]
    async fn finish_subscriber_deliveries(
        &self,
        outcomes: &[(i64, SubscriberOutcome)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, outcome) in outcomes {
            let (status, next, error) = match outcome {
                SubscriberOutcome::Delivered => ("delivered", at, None),
                SubscriberOutcome::Retry(next, error) => ("pending", *next, Some(error)),
                SubscriberOutcome::Failed(error) | SubscriberOutcome::Rejected(error) => {
                    ("failed", at, Some(error))
                }
            };
            let finished = (status != "pending").then_some(Time(at));
            sqlx::query(
                "UPDATE subscriber_deliveries SET attempts = attempts + 1, status = $2, next_attempt_at = $3,
                   claimed_until = NULL, finished_at = $4, last_error = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(Time(next))
            .bind(finished)
            .bind(error.cloned())
            .execute(&mut *tx)
            .await?;
            if let SubscriberOutcome::Rejected(reason) = outcome {
                // Nothing more to an address its server refuses.
                sqlx::query(
                    "UPDATE subscribers SET status = 'rejected', rejected_reason = $2
                     WHERE id = (SELECT subscriber_id FROM subscriber_deliveries WHERE id = $1)",
                )
                .bind(id)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE subscriber_deliveries SET status = 'failed', finished_at = $2,
                       last_error = 'the address was refused'
                     WHERE status = 'pending' AND subscriber_id =
                       (SELECT subscriber_id FROM subscriber_deliveries WHERE id = $1)",
                )
                .bind(id)
                .bind(Time(at))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.subscriber_outbox", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "subscriber_outbox"))]
    async fn subscriber_outbox(&self) -> Result<u64, StoreError> {
        let n = sqlx::query_scalar::<_, Int>(
            "SELECT COUNT(*) FROM subscriber_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?
        .0;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.prune_subscribers", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "prune_subscribers"))]
    async fn prune_subscribers(
        &self,
        finished_before: DateTime<Utc>,
        pending_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stale = "SELECT id FROM subscribers WHERE status = 'pending' AND created_at < $1";
        let mut n = 0;
        for sql in [
            format!("DELETE FROM subscriber_deliveries WHERE subscriber_id IN ({stale})"),
            format!("DELETE FROM subscriber_services WHERE subscriber_id IN ({stale})"),
        ] {
            sqlx::query(&sql)
                .bind(Time(pending_before))
                .execute(&mut *tx)
                .await?;
        }
        let gone =
            sqlx::query("DELETE FROM subscribers WHERE status = 'pending' AND created_at < $1")
                .bind(Time(pending_before))
                .execute(&mut *tx)
                .await?;
        n += DB::rows_affected(&gone);
        let old = sqlx::query(
            "DELETE FROM subscriber_deliveries WHERE status <> 'pending' AND finished_at < $1",
        )
        .bind(Time(finished_before))
        .execute(&mut *tx)
        .await?;
        n += DB::rows_affected(&old);
        tx.commit().await?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.signing_key", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "signing_key"))]
    async fn signing_key(
        &self,
        name: &str,
        candidate: &str,
        at: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(Time(at))
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM signing_keys WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    #[tracing::instrument(level = "debug", skip_all, fields(otel.name = "store.close", db.system.name = DB::BACKEND.otel_system(), db.operation.name = "close"))]
    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A logged round's samples and states, as JSON with short keys (a log
/// row a round, read by every follower).
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct RoundBody {
    #[serde(default, rename = "x")]
    samples: Vec<LoggedSample>,
    #[serde(default, rename = "s")]
    states: Vec<LoggedState>,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct LoggedSample {
    /// Service id.
    s: i64,
    /// Unix seconds.
    t: i64,
    /// Outcome code.
    o: i16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct LoggedState {
    /// Service id.
    s: i64,
    /// Status.
    st: String,
    b: u32,
    g: u32,
    /// Unix milliseconds.
    t: i64,
}

impl RoundBody {
    fn of(samples: &[Sample], states: &[ServiceState]) -> Self {
        Self {
            samples: samples
                .iter()
                .map(|s| LoggedSample {
                    s: s.service_id,
                    t: s.taken_at.timestamp(),
                    o: outcome_code(s.outcome),
                    l: s.latency_ms,
                    e: s.error.clone(),
                })
                .collect(),
            states: states
                .iter()
                .map(|s| LoggedState {
                    s: s.service_id,
                    st: s.tracker.status.as_str().to_owned(),
                    b: s.tracker.bad_run,
                    g: s.tracker.good_run,
                    t: s.updated_at.timestamp_millis(),
                })
                .collect(),
        }
    }

    fn to_json(&self) -> String {
        // Plain data: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    fn from_json(text: &str) -> Result<Self, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("round log: {e}")))
    }

    fn samples(&self) -> Result<Vec<Sample>, StoreError> {
        self.samples
            .iter()
            .map(|s| {
                Ok(Sample {
                    service_id: s.s,
                    taken_at: DateTime::from_timestamp(s.t, 0)
                        .ok_or_else(|| StoreError::Corrupt(format!("round log time {}", s.t)))?,
                    outcome: outcome_from_code(s.o.into())?,
                    latency_ms: s.l,
                    error: s.e.clone(),
                    in_maintenance: false,
                })
            })
            .collect()
    }

    fn states(&self) -> Result<Vec<ServiceState>, StoreError> {
        self.states
            .iter()
            .map(|s| {
                Ok(ServiceState {
                    service_id: s.s,
                    tracker: Tracker {
                        status: parse_column(&s.st, ServiceStatus::parse, "service status")?,
                        bad_run: s.b,
                        good_run: s.g,
                    },
                    updated_at: DateTime::from_timestamp_millis(s.t)
                        .ok_or_else(|| StoreError::Corrupt(format!("round log time {}", s.t)))?,
                })
            })
            .collect()
    }
}

fn parse_recurrence(rule: Option<String>) -> Result<Option<Recurrence>, StoreError> {
    rule.map(|r| {
        r.parse()
            .map_err(|e| StoreError::Corrupt(format!("recurrence {r:?}: {e}")))
    })
    .transpose()
}

/// Builds [`IncidentView`]s from the three queries of
/// [`SqlStore::load_incidents`]: incidents, their services and their
/// updates (whose Markdown is rendered here, once).
fn assemble_incidents(
    incidents: Vec<IncidentView>,
    services: Vec<(i64, AffectedService)>,
    updates: Vec<(i64, IncidentUpdateView)>,
) -> Vec<IncidentView> {
    let order: Vec<i64> = incidents.iter().map(|i| i.id).collect();
    let mut by_id: HashMap<i64, IncidentView> = incidents.into_iter().map(|i| (i.id, i)).collect();
    for (id, service) in services {
        if let Some(incident) = by_id.get_mut(&id) {
            incident.services.push(service);
        }
    }
    for (id, mut update) in updates {
        if let Some(incident) = by_id.get_mut(&id) {
            update.body_html = crate::domain::markdown::to_safe_html(&update.body);
            incident.updates.push(update);
        }
    }
    order.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// Rollup count columns after `service_id, period_start`, in
/// [`rollup_values`] order; the histogram is written apart.
pub(super) const ROLLUP_COLUMNS: [&str; 7] = [
    "up",
    "degraded",
    "down",
    "maintenance",
    "latency_count",
    "latency_sum_ms",
    "latency_max_ms",
];

/// What [`SqlStore::histogram_from_row`] reads: the fine histogram and,
/// for rows written before it, the coarse buckets.
pub(super) const HISTOGRAM_SELECT: &str = "histogram, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10";

pub(super) fn rollup_table(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Hour => "rollups_hourly",
        Resolution::Day => "rollups_daily",
    }
}

/// An upsert that adds rollups to their rows: `rows` yields
/// `service_id, period_start`, the [`ROLLUP_COLUMNS`] and the merged
/// histogram or NULL (`VALUES (...)` or a `SELECT`); `greatest` is the
/// dialect's two-argument maximum.
pub(super) fn rollup_upsert_sql(resolution: Resolution, rows: &str, greatest: &str) -> String {
    let table = rollup_table(resolution);
    let columns = ROLLUP_COLUMNS.join(", ");
    let updates = ROLLUP_COLUMNS
        .iter()
        .map(|c| {
            if *c == "latency_max_ms" {
                format!("{c} = {greatest}({table}.{c}, excluded.{c})")
            } else {
                format!("{c} = {table}.{c} + excluded.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} (service_id, period_start, {columns}, histogram) {rows} \
         ON CONFLICT (service_id, period_start) DO UPDATE SET {updates}, \
         histogram = COALESCE(excluded.histogram, {table}.histogram)"
    )
}

/// A rollup as the integers stored, in [`ROLLUP_COLUMNS`] order.
pub(super) fn rollup_values(r: &Rollup) -> [i64; ROLLUP_COLUMNS.len()] {
    let mut values = [0i64; ROLLUP_COLUMNS.len()];
    values[0] = r.up.into();
    values[1] = r.degraded.into();
    values[2] = r.down.into();
    values[3] = r.maintenance.into();
    values[4] = r.latency_count.into();
    values[5] = i64::try_from(r.latency_sum_ms).unwrap_or(i64::MAX);
    values[6] = r.latency_max_ms.into();
    values
}

/// The histogram column's value: NULL for an empty one, which keeps the
/// stored histogram.
pub(super) fn histogram_value(r: &Rollup) -> Option<Vec<u8>> {
    (!r.histogram.is_empty()).then(|| r.histogram.encode())
}

fn rollup_from_values(values: &[i64; ROLLUP_COLUMNS.len()]) -> Rollup {
    Rollup {
        up: u32_from_db(values[0]),
        degraded: u32_from_db(values[1]),
        down: u32_from_db(values[2]),
        maintenance: u32_from_db(values[3]),
        latency_count: u32_from_db(values[4]),
        latency_sum_ms: u64::try_from(values[5]).unwrap_or(0),
        latency_max_ms: u32_from_db(values[6]),
        histogram: Histogram::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollups_round_trip_through_their_stored_integers() {
        let mut rollup = Rollup::default();
        for (outcome, latency, maintenance) in [
            (app::model::SampleOutcome::Up, Some(8), false),
            (app::model::SampleOutcome::Degraded, Some(700), false),
            (app::model::SampleOutcome::Down, None, false),
            (app::model::SampleOutcome::Up, Some(20_000), false),
            (app::model::SampleOutcome::Down, None, true),
        ] {
            rollup.add(outcome, latency, maintenance);
        }
        let mut read = rollup_from_values(&rollup_values(&rollup));
        read.histogram = Histogram::decode(&histogram_value(&rollup).unwrap()).unwrap();
        assert_eq!(read, rollup);
    }

    #[test]
    fn the_rollup_upsert_adds_counts_and_keeps_the_greatest_maximum() {
        let sql = rollup_upsert_sql(Resolution::Day, "VALUES ($1)", "GREATEST");
        assert!(sql.starts_with("INSERT INTO rollups_daily (service_id, period_start, up,"));
        assert!(sql.contains("histogram) VALUES ($1) ON CONFLICT"), "{sql}");
        assert!(sql.contains("histogram = COALESCE(excluded.histogram, rollups_daily.histogram)"));
        assert!(sql.contains("up = rollups_daily.up + excluded.up"));
        assert!(sql.contains(
            "latency_max_ms = GREATEST(rollups_daily.latency_max_ms, excluded.latency_max_ms)"
        ));
    }

    #[test]
    fn incidents_are_assembled_in_the_order_selected() {
        let incident = |id| IncidentView {
            id,
            title: format!("#{id}"),
            status: IncidentStatus::Investigating,
            impact: Impact::Minor,
            created_by: CreatedBy::Admin,
            auto_resolve: false,
            started_at: DateTime::UNIX_EPOCH,
            resolved_at: None,
            updated_at: DateTime::UNIX_EPOCH,
            services: Vec::new(),
            updates: Vec::new(),
        };
        let service = |slug: &str| AffectedService {
            slug: slug.into(),
            name: slug.into(),
            status: ServiceStatus::MajorOutage,
        };
        let update = |id, body: &str| IncidentUpdateView {
            id,
            status: IncidentStatus::Investigating,
            body: body.into(),
            body_html: String::new(),
            created_at: DateTime::UNIX_EPOCH,
        };
        let assembled = assemble_incidents(
            vec![incident(2), incident(1)],
            vec![
                (1, service("api")),
                (2, service("web")),
                (9, service("gone")),
            ],
            vec![(2, update(5, "**down**")), (1, update(4, "up"))],
        );
        let ids: Vec<i64> = assembled.iter().map(|i| i.id).collect();
        assert_eq!(ids, [2, 1]);
        assert_eq!(assembled[0].services[0].slug, "web");
        assert_eq!(assembled[1].services[0].slug, "api");
        assert_eq!(
            assembled[0].updates[0].body_html,
            "<p><strong>down</strong></p>\n"
        );
    }
}
