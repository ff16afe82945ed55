//! Persistence behind one [`Store`] trait, with a SQLite implementation (the
//! embedded default) and a PostgreSQL one (for several replicas), chosen by
//! the database URL's scheme.
//!
//! Invariants shared by both backends:
//! - Times are UTC. SQLite stores them as integer Unix milliseconds, sample
//!   times as whole seconds (compact rows for the largest table);
//!   PostgreSQL as `timestamptz`. Samples are stamped in whole seconds.
//! - Sample outcomes are stored as small integers ([`outcome_code`]).
//! - Services are keyed by slug. Services removed from the config are
//!   archived, never deleted, so their history stays.
//! - Only public methods open transactions.

mod postgres;
mod sqlite;

use std::sync::Arc;

use app::model::SampleOutcome;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use app::model::{AffectedService, IncidentUpdateView, IncidentView};

use crate::incident::{IncidentChange, Transition};
use crate::maintenance::Window;
use crate::rollup::{Resolution, Rollup};
use crate::status::Tracker;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database failure. Callers log it once where they handle it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A service as the config declares it, to be synchronised into the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDef {
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    pub check_kind: String,
}

/// A service row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    pub position: i64,
    pub check_kind: String,
    pub archived: bool,
}

/// One probe result to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSample {
    pub service_id: i64,
    pub taken_at: DateTime<Utc>,
    pub outcome: SampleOutcome,
    pub latency_ms: Option<u32>,
    pub error: Option<String>,
    /// Taken while a maintenance window covered the service. Counted apart
    /// in the rollups; raw sample rows do not store it (read back as false).
    pub in_maintenance: bool,
}

/// A stored sample.
pub type Sample = NewSample;

/// The newest heartbeat a push check received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub at: DateTime<Utc>,
    pub outcome: SampleOutcome,
    pub msg: Option<String>,
    pub latency_ms: Option<u32>,
}

/// An incident an admin opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    pub title: String,
    pub status: app::model::IncidentStatus,
    pub impact: app::model::Impact,
    pub auto_resolve: bool,
    pub started_at: DateTime<Utc>,
    /// Affected services by id, with the status the incident gives them.
    pub services: Vec<(i64, app::model::ServiceStatus)>,
    /// First timeline entry (Markdown).
    pub body: String,
    /// Name of the acting token.
    pub author: String,
    pub at: DateTime<Utc>,
}

/// An admin change to an incident; `None` leaves a field alone. A timeline
/// update is added when `body` is given or the status changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub status: Option<app::model::IncidentStatus>,
    pub impact: Option<app::model::Impact>,
    /// Replaces the affected services.
    pub services: Option<Vec<(i64, app::model::ServiceStatus)>>,
    pub auto_resolve: Option<bool>,
    pub body: Option<String>,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// An admin API token (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What committing a round did besides storing samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundResult {
    pub incidents_opened: u32,
    pub incidents_resolved: u32,
    /// Any incident was opened, updated or resolved.
    pub incidents_changed: bool,
}

impl RoundResult {
    fn count(&mut self, change: &IncidentChange) {
        self.incidents_changed = true;
        match change {
            IncidentChange::Open { resolved_at, .. } => {
                self.incidents_opened += 1;
                self.incidents_resolved += u32::from(resolved_at.is_some());
            }
            IncidentChange::Update { resolve, .. } => {
                self.incidents_resolved += u32::from(*resolve);
            }
        }
    }
}

/// A maintenance window to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMaintenance {
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Canonical rule text ([`crate::maintenance::Recurrence`]).
    pub recurrence: Option<String>,
    pub service_ids: Vec<i64>,
    pub created_by: String,
}

/// A stored maintenance window with its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct MaintenanceRecord {
    pub window: Window,
    pub created_by: String,
    /// Newest first.
    pub updates: Vec<MaintenanceUpdate>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MaintenanceUpdate {
    pub id: i64,
    /// `scheduled`, `in_progress`, `verifying` or `completed`.
    pub status: String,
    pub body: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// An admin change to a maintenance window; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenancePatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub recurrence: Option<Option<String>>,
    pub service_ids: Option<Vec<i64>>,
    /// A timeline update to add: (status, body).
    pub update: Option<(String, String)>,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// One admin change as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Name of the acting token.
    pub actor: String,
    /// `incident.created`, `incident.updated`, `incident.deleted`,
    /// `maintenance.created`, `maintenance.updated` or `maintenance.deleted`.
    pub action: String,
    /// Id of the incident or maintenance window.
    pub target_id: i64,
    /// The title for creations and deletions; the fields set for updates.
    pub detail: String,
}

/// The answer kept for an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

/// What claiming an `Idempotency-Key` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new (or its earlier request died): run the request.
    Claimed,
    /// An earlier request with this key finished: answer what it answered.
    Replay(KeptResponse),
    /// An earlier request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// A claim this old with no answer belongs to a request that died.
pub const IDEMPOTENCY_ABANDONED: chrono::Duration = chrono::Duration::minutes(1);

/// The fields an incident patch sets, for the audit log.
impl IncidentPatch {
    pub fn fields(&self) -> String {
        let set = [
            ("title", self.title.is_some()),
            ("status", self.status.is_some()),
            ("impact", self.impact.is_some()),
            ("services", self.services.is_some()),
            ("auto_resolve", self.auto_resolve.is_some()),
            ("body", self.body.is_some()),
        ];
        join_set(&set)
    }
}

impl MaintenancePatch {
    pub fn fields(&self) -> String {
        let set = [
            ("title", self.title.is_some()),
            ("description", self.description.is_some()),
            ("starts_at", self.starts_at.is_some()),
            ("ends_at", self.ends_at.is_some()),
            ("recurrence", self.recurrence.is_some()),
            ("services", self.service_ids.is_some()),
            ("update", self.update.is_some()),
        ];
        join_set(&set)
    }
}

fn join_set(set: &[(&str, bool)]) -> String {
    let names: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

/// Proof that this replica holds the prober lock. Dropping it releases the
/// lock (PostgreSQL releases session locks when the connection closes).
pub struct ProberLease {
    /// The session holding a PostgreSQL advisory lock, detached from the
    /// pool so that dropping it closes the session and releases the lock.
    conn: Option<sqlx::PgConnection>,
}

impl ProberLease {
    /// Still held: the connection that holds it still answers.
    pub async fn is_held(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(conn) => tokio::time::timeout(
                std::time::Duration::from_secs(5),
                sqlx::query("SELECT 1").execute(conn),
            )
            .await
            .is_ok_and(|r| r.is_ok()),
        }
    }
}

impl ProberLease {
    /// The lease of a database only one process uses.
    pub const fn exclusive() -> Self {
        Self { conn: None }
    }

    /// The lease of the session `conn`, which holds the advisory lock.
    pub const fn held(conn: sqlx::PgConnection) -> Self {
        Self { conn: Some(conn) }
    }
}

/// The stored incident status, checked (a `'static` spelling of it).
fn incident_status_str(status: &str) -> Result<&'static str, StoreError> {
    Ok(parse_column(status, app::model::IncidentStatus::parse, "incident status")?.as_str())
}

/// The timeline entry an admin change adds, if any: its body, or a line
/// saying the status changed.
fn update_body(patch: &IncidentPatch, current: &str, status: &str) -> Option<String> {
    match &patch.body {
        Some(body) => Some(body.clone()),
        None if status != current => Some(format!("Status changed to {status}.")),
        None => None,
    }
}

/// Name recorded as the author of automatic timeline updates.
pub const AUTO_AUTHOR: &str = "upbeat";

/// Builds [`IncidentView`]s from the three queries both backends run:
/// incidents, their services and their updates.
fn assemble_incidents(
    incidents: Vec<IncidentView>,
    services: Vec<(i64, AffectedService)>,
    updates: Vec<(i64, IncidentUpdateView)>,
) -> Vec<IncidentView> {
    let order: Vec<i64> = incidents.iter().map(|i| i.id).collect();
    let mut by_id: std::collections::HashMap<i64, IncidentView> =
        incidents.into_iter().map(|i| (i.id, i)).collect();
    for (id, service) in services {
        if let Some(incident) = by_id.get_mut(&id) {
            incident.services.push(service);
        }
    }
    for (id, mut update) in updates {
        if let Some(incident) = by_id.get_mut(&id) {
            update.body_html = crate::markdown::to_safe_html(&update.body);
            incident.updates.push(update);
        }
    }
    order.iter().filter_map(|id| by_id.remove(id)).collect()
}

fn parse_column<T>(
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("unknown {what} {value:?}")))
}

/// A service's hysteresis state after the newest sample applied to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceState {
    pub service_id: i64,
    pub tracker: Tracker,
    /// Time of the newest sample the state includes.
    pub updated_at: DateTime<Utc>,
}

/// The storage contract. Implementations are cheap to share (`Arc<dyn Store>`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Versions of the migrations applied so far, ascending.
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError>;

    /// Answers when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Makes the services table match the config: inserts new slugs, updates
    /// changed ones, sets `position` to config order, archives slugs that
    /// are no longer configured (and un-archives returning ones). Returns the
    /// active services in config order.
    async fn sync_services(
        &self,
        services: &[ServiceDef],
    ) -> Result<Vec<ServiceRecord>, StoreError>;

    /// Every service, archived ones included, by position.
    async fn services(&self) -> Result<Vec<ServiceRecord>, StoreError>;

    /// Stores samples, the service states they led to, their hourly and
    /// daily rollups, and the automatic incident changes the status
    /// `transitions` cause (see [`crate::incident::plan`], run against the
    /// open incidents as stored), in one transaction. A sample for a
    /// (service, time) that is already stored is ignored (and not counted
    /// again in the rollups), so a retried batch is harmless.
    async fn insert_samples(
        &self,
        samples: &[NewSample],
        states: &[ServiceState],
        transitions: &[Transition],
    ) -> Result<RoundResult, StoreError>;

    /// Unresolved incidents with their services and updates, newest first.
    async fn active_incidents(&self) -> Result<Vec<IncidentView>, StoreError>;

    /// Every incident (resolved ones too) started at or after `since`,
    /// newest first, with services and updates.
    async fn incidents_since(&self, since: DateTime<Utc>) -> Result<Vec<IncidentView>, StoreError>;

    /// Stores an incident opened by an admin with its first update; returns
    /// its id.
    async fn create_incident(&self, incident: &NewIncident) -> Result<i64, StoreError>;

    /// One incident with its services and updates.
    async fn incident(&self, id: i64) -> Result<Option<IncidentView>, StoreError>;

    /// Up to `limit` incidents, newest first, optionally only unresolved
    /// (`Some(false)`) or only resolved (`Some(true)`) ones.
    async fn incidents(
        &self,
        resolved: Option<bool>,
        limit: u32,
    ) -> Result<Vec<IncidentView>, StoreError>;

    /// Applies an admin change; `false` when there is no such incident.
    async fn update_incident(&self, id: i64, patch: &IncidentPatch) -> Result<bool, StoreError>;

    /// Deletes an incident with its timeline; `false` when there is none.
    async fn delete_incident(&self, id: i64, actor: &str) -> Result<bool, StoreError>;

    /// Turns automatic resolution of an incident on or off (an admin taking
    /// an automatic incident over); `false` when there is no such incident.
    async fn set_incident_auto_resolve(
        &self,
        id: i64,
        auto_resolve: bool,
    ) -> Result<bool, StoreError>;

    /// Stores a maintenance window; returns its id.
    async fn create_maintenance(&self, maintenance: &NewMaintenance) -> Result<i64, StoreError>;

    /// One maintenance window with its timeline (newest first).
    async fn maintenance(&self, id: i64) -> Result<Option<MaintenanceRecord>, StoreError>;

    /// Up to `limit` maintenance windows, latest start first.
    async fn maintenances(&self, limit: u32) -> Result<Vec<MaintenanceRecord>, StoreError>;

    /// Applies an admin change; `false` when there is no such window.
    async fn update_maintenance(
        &self,
        id: i64,
        patch: &MaintenancePatch,
    ) -> Result<bool, StoreError>;

    /// Deletes a window with its timeline; `false` when there is none.
    /// `actor` is recorded in the audit log.
    async fn delete_maintenance(&self, id: i64, actor: &str) -> Result<bool, StoreError>;

    /// The newest `limit` admin changes, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;

    /// Claims `key` for `actor`'s request with this fingerprint at `now`.
    async fn claim_idempotency_key(
        &self,
        actor: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Keeps the answer to a claimed key, or with `None` forgets the claim
    /// so that a retry runs again.
    async fn finish_idempotency_key(
        &self,
        actor: &str,
        key: &str,
        response: Option<&KeptResponse>,
    ) -> Result<(), StoreError>;

    /// Forgets keys claimed before `before`; returns how many.
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Maintenance windows that are not over at `now` (recurring ones
    /// included), with their services.
    async fn maintenance_windows(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError>;

    /// Stores an admin token's hash under `name`; `None` when the name is
    /// taken (names are never reused, revoked or not).
    async fn create_token(&self, name: &str, token_hash: &[u8]) -> Result<Option<i64>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the token `name`; `false` when there is no such active token.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;

    /// The active token with this hash, marking it used now.
    async fn use_token(&self, token_hash: &[u8]) -> Result<Option<TokenRecord>, StoreError>;

    /// Tries to become the one replica that probes. `None` means another
    /// replica holds the lock. SQLite has one process per file, so it
    /// always succeeds there.
    async fn try_lock_prober(&self) -> Result<Option<ProberLease>, StoreError>;

    /// The stored state of every service that has one.
    async fn service_states(&self) -> Result<Vec<ServiceState>, StoreError>;

    /// Rollups of one service with `from <= period_start < to`, oldest first.
    async fn rollups(
        &self,
        service_id: i64,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Rollup)>, StoreError>;

    /// Rollups of every service with `period_start >= from`, to seed the
    /// in-memory snapshot with one query.
    async fn rollups_since(
        &self,
        resolution: Resolution,
        from: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>, Rollup)>, StoreError>;

    /// The newest sample of each service that has one.
    async fn latest_samples(&self) -> Result<Vec<Sample>, StoreError>;

    /// Up to `limit` newest samples of one service, newest first.
    async fn recent_samples(&self, service_id: i64, limit: u32) -> Result<Vec<Sample>, StoreError>;

    /// Deletes up to `limit` of one service's samples taken before
    /// `older_than`, oldest first; returns how many went. Small batches walk
    /// the primary key, so pruning never holds a long lock.
    async fn prune_samples(
        &self,
        service_id: i64,
        older_than: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Sets the push token hash of the service `slug`; `false` when there is
    /// no such service.
    async fn set_push_token(&self, slug: &str, token_hash: &[u8]) -> Result<bool, StoreError>;

    /// Records a heartbeat for the service whose token hashes to
    /// `token_hash`; returns its slug, or `None` for an unknown token.
    async fn record_heartbeat(
        &self,
        token_hash: &[u8],
        heartbeat: &Heartbeat,
    ) -> Result<Option<String>, StoreError>;

    /// The newest heartbeat of a service, if any arrived.
    async fn last_heartbeat(&self, service_id: i64) -> Result<Option<Heartbeat>, StoreError>;

    /// Closes the connection pool.
    async fn close(&self);
}

/// How long a query waits for a free connection before it fails.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the store a URL names and applies migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    connect_with_timeout(url, max_connections, ACQUIRE_TIMEOUT).await
}

/// [`connect`] with another wait for a free connection. Simulations on
/// tokio's paused clock need a very long one: time jumps ahead whenever the
/// runtime waits on the database.
pub async fn connect_with_timeout(
    url: &str,
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url, max_connections, acquire_timeout).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PostgresStore::connect(url, max_connections, acquire_timeout).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    store.migrate().await?;
    Ok(store)
}

/// The integer stored for an outcome.
pub const fn outcome_code(outcome: SampleOutcome) -> i16 {
    match outcome {
        SampleOutcome::Up => 0,
        SampleOutcome::Degraded => 1,
        SampleOutcome::Down => 2,
    }
}

fn tracker_from_columns(status: &str, bad_run: i64, good_run: i64) -> Result<Tracker, StoreError> {
    Ok(Tracker {
        status: app::model::ServiceStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown service status {status:?}")))?,
        bad_run: u32::try_from(bad_run).unwrap_or(u32::MAX),
        good_run: u32::try_from(good_run).unwrap_or(u32::MAX),
    })
}

pub fn outcome_from_code(code: i64) -> Result<SampleOutcome, StoreError> {
    match code {
        0 => Ok(SampleOutcome::Up),
        1 => Ok(SampleOutcome::Degraded),
        2 => Ok(SampleOutcome::Down),
        other => Err(StoreError::Corrupt(format!("unknown outcome code {other}"))),
    }
}

/// Rollup columns after `service_id, period_start`, in [`rollup_values`] order.
const ROLLUP_COLUMNS: [&str; 18] = [
    "up",
    "degraded",
    "down",
    "maintenance",
    "latency_count",
    "latency_sum_ms",
    "latency_max_ms",
    "b0",
    "b1",
    "b2",
    "b3",
    "b4",
    "b5",
    "b6",
    "b7",
    "b8",
    "b9",
    "b10",
];

fn rollup_table(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Hour => "rollups_hourly",
        Resolution::Day => "rollups_daily",
    }
}

/// An upsert that adds one rollup to its row. `param(n)` renders the n-th
/// (1-based) placeholder; `max` is the dialect's two-argument maximum.
fn rollup_upsert_sql(resolution: Resolution, param: impl Fn(usize) -> String, max: &str) -> String {
    let table = rollup_table(resolution);
    let columns = ROLLUP_COLUMNS.join(", ");
    let values = (1..=ROLLUP_COLUMNS.len() + 2)
        .map(&param)
        .collect::<Vec<_>>()
        .join(", ");
    let updates = ROLLUP_COLUMNS
        .iter()
        .map(|c| {
            if *c == "latency_max_ms" {
                format!("{c} = {max}({table}.{c}, excluded.{c})")
            } else {
                format!("{c} = {table}.{c} + excluded.{c}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} (service_id, period_start, {columns}) VALUES ({values}) \
         ON CONFLICT (service_id, period_start) DO UPDATE SET {updates}"
    )
}

fn rollups_since_sql(resolution: Resolution, param: impl Fn(usize) -> String) -> String {
    format!(
        "SELECT period_start, {}, service_id FROM {} WHERE period_start >= {} ORDER BY service_id, period_start",
        ROLLUP_COLUMNS.join(", "),
        rollup_table(resolution),
        param(1)
    )
}

fn rollup_select_sql(resolution: Resolution, param: impl Fn(usize) -> String) -> String {
    format!(
        "SELECT period_start, {} FROM {} WHERE service_id = {} AND period_start >= {} AND period_start < {} \
         ORDER BY period_start",
        ROLLUP_COLUMNS.join(", "),
        rollup_table(resolution),
        param(1),
        param(2),
        param(3)
    )
}

const ROLLUP_VALUES: usize = ROLLUP_COLUMNS.len();

/// A rollup as the integers stored, in [`ROLLUP_COLUMNS`] order.
fn rollup_values(r: &Rollup) -> [i64; ROLLUP_VALUES] {
    let mut values = [0i64; ROLLUP_VALUES];
    values[0] = r.up.into();
    values[1] = r.degraded.into();
    values[2] = r.down.into();
    values[3] = r.maintenance.into();
    values[4] = r.latency_count.into();
    values[5] = i64::try_from(r.latency_sum_ms).unwrap_or(i64::MAX);
    values[6] = r.latency_max_ms.into();
    for (slot, count) in values[7..].iter_mut().zip(r.buckets) {
        *slot = count.into();
    }
    values
}

fn rollup_from_values(values: &[i64; ROLLUP_VALUES]) -> Rollup {
    let int = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let mut buckets = [0u32; crate::rollup::BUCKETS];
    for (bucket, value) in buckets.iter_mut().zip(&values[7..]) {
        *bucket = int(*value);
    }
    Rollup {
        up: int(values[0]),
        degraded: int(values[1]),
        down: int(values[2]),
        maintenance: int(values[3]),
        latency_count: int(values[4]),
        latency_sum_ms: u64::try_from(values[5]).unwrap_or(0),
        latency_max_ms: int(values[6]),
        buckets,
    }
}

/// Removes credentials from a database URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
