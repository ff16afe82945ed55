//! Persistence behind one [`Store`] trait, with a SQLite implementation (the
//! embedded default) and a PostgreSQL one (for several replicas), chosen by
//! the database URL's scheme.
//!
//! Invariants shared by both backends:
//! - Times are UTC. SQLite stores them as integer Unix milliseconds (compact
//!   rows for the samples table); PostgreSQL as `timestamptz`.
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

    /// Stores samples, the service states they led to, and their hourly and
    /// daily rollups, in one transaction. A sample for a (service, time) that
    /// is already stored is ignored (and not counted again in the rollups), so
    /// a retried batch is harmless.
    async fn insert_samples(
        &self,
        samples: &[NewSample],
        states: &[ServiceState],
    ) -> Result<(), StoreError>;

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

/// Opens the store a URL names and applies migrations.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url, max_connections).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PostgresStore::connect(url, max_connections).await?)
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
const ROLLUP_COLUMNS: [&str; 17] = [
    "up",
    "degraded",
    "down",
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

/// A rollup as the integers stored, in [`ROLLUP_COLUMNS`] order.
fn rollup_values(r: &Rollup) -> [i64; 17] {
    let mut values = [0i64; 17];
    values[0] = r.up.into();
    values[1] = r.degraded.into();
    values[2] = r.down.into();
    values[3] = r.latency_count.into();
    values[4] = i64::try_from(r.latency_sum_ms).unwrap_or(i64::MAX);
    values[5] = r.latency_max_ms.into();
    for (slot, count) in values[6..].iter_mut().zip(r.buckets) {
        *slot = count.into();
    }
    values
}

fn rollup_from_values(values: &[i64; 17]) -> Rollup {
    let int = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    let mut buckets = [0u32; crate::rollup::BUCKETS];
    for (bucket, value) in buckets.iter_mut().zip(&values[6..]) {
        *bucket = int(*value);
    }
    Rollup {
        up: int(values[0]),
        degraded: int(values[1]),
        down: int(values[2]),
        latency_count: int(values[3]),
        latency_sum_ms: u64::try_from(values[4]).unwrap_or(0),
        latency_max_ms: int(values[5]),
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
