//! Persistence behind one [`Store`] trait, implemented once over SQL
//! ([`sql::SqlStore`]) for SQLite (the embedded default) and PostgreSQL
//! (for several replicas), chosen by the database URL's scheme.
//!
//! - [`sql`]: every statement both backends share, in one `$N` dialect
//!   (sqlx's SQLite driver reads `$N` as argument N), and the grouping of
//!   rows into records.
//! - [`codec`]: what the backends encode differently (times, integer
//!   widths), as small types the shared SQL binds and reads.
//! - `sqlite`, `postgres`: only what really differs: connecting,
//!   migrations, PostgreSQL's `UNNEST` batches and row locks.
//!
//! Invariants shared by both backends:
//! - Times are UTC and always bound as parameters; SQL never reads the
//!   database's clock. SQLite stores them as integer Unix milliseconds,
//!   sample times as whole seconds; PostgreSQL as `timestamptz`.
//! - Services are keyed by slug. Services removed from the config are
//!   archived, never deleted, so their history stays.
//! - Only public methods open transactions; helpers take the transaction.
//! - The store keeps no rules of its own: what an automatic change does
//!   (`domain::incident::plan`), the timeline text of a patch, the first
//!   update of a maintenance window and which windows are over are decided
//!   in `domain` and stored here as they are.

pub mod codec;
mod postgres;
pub mod sql;
mod sqlite;

use std::sync::Arc;

use app::model::{IncidentView, SampleOutcome};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::alert::AlertEvent;
use crate::domain::incident::{IncidentChange, IncidentPatch, NewIncident, Transition};
use crate::domain::maintenance::{MaintenancePatch, MaintenanceRecord, NewMaintenance, Window};
use crate::domain::people::Role;
use crate::domain::rollup::{Resolution, Rollup};
use crate::domain::sample::Sample;
use crate::domain::service::{ServiceDef, ServiceRecord};
use crate::domain::status::ServiceState;
use crate::domain::subscribers;

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

    /// `db.system.name` of the OpenTelemetry database conventions.
    pub const fn otel_system(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgresql",
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

/// Where a delivery stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Every attempt failed; kept and shown, never retried by itself.
    Failed,
    /// Not sent: cooldown or maintenance (the reason says which).
    Suppressed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Delivered,
        Self::Failed,
        Self::Suppressed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A delivery the router decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub route: String,
    pub route_kind: String,
    /// `Pending` or `Suppressed`.
    pub status: DeliveryStatus,
    pub reason: Option<String>,
}

/// A pending delivery claimed for an attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub event_id: i64,
    pub route: String,
    /// Attempts before this one.
    pub attempts: u32,
    pub event: crate::domain::alert::AlertEvent,
}

/// One attempt to deliver.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status (SMTP reply code for mail), when it answered.
    pub status_code: Option<u16>,
    /// What went wrong, when something did.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What an attempt leaves a delivery as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time.
    Retry(DateTime<Utc>),
    Failed,
}

/// An objective's last status (`slo_states`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloState {
    pub service_id: i64,
    pub objective: String,
    /// `ok`, `warning`, `critical` or `exhausted`.
    pub status: String,
    pub changed_at: DateTime<Utc>,
}

/// One objective's UTC day (`slo_days`): the day's samples, and the SLO
/// window's as the day ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SloDay {
    pub service_id: i64,
    pub objective: String,
    pub day: DateTime<Utc>,
    pub target: f64,
    pub good: u64,
    pub bad: u64,
    pub window_good: u64,
    pub window_bad: u64,
}

/// One delivery, for the history.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    pub id: i64,
    pub event_id: i64,
    pub route: String,
    pub route_kind: String,
    pub event: String,
    pub dedup_key: String,
    pub incident_id: Option<i64>,
    pub service: Option<String>,
    pub status: DeliveryStatus,
    pub reason: Option<String>,
    pub attempts: u32,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Which deliveries the history lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertHistoryFilter {
    pub route: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub incident_id: Option<i64>,
    /// Only deliveries with a smaller id (the next page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// How much waits in the outbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    pub pending: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
    pub unrouted: u64,
}

/// An open incident a route may remind of.
#[derive(Clone, Debug, PartialEq)]
pub struct ReminderCandidate {
    pub opened: StoredAlertEvent,
    /// The opening and the reminders sent (or being sent).
    pub sent: u32,
    pub last_at: DateTime<Utc>,
}

/// One row of the alert outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlertEvent {
    pub id: i64,
    pub event: crate::domain::alert::AlertEvent,
    pub routed_at: Option<DateTime<Utc>>,
}

/// The newest heartbeat a push check received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub at: DateTime<Utc>,
    pub outcome: SampleOutcome,
    pub msg: Option<String>,
    pub latency_ms: Option<u32>,
}

/// An admin API token (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A console user (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// `false` until a password is set (through a one-time link).
    pub has_password: bool,
}

/// A user as sign-in sees it: the record and its password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub user: UserRecord,
    pub password_hash: Option<String>,
}

/// A session to store at sign-in.
#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie's value.
    pub id_hash: &'a [u8],
    pub user_id: i64,
    pub csrf_token: &'a str,
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A live session with its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Which audit-log entries to read: all filters optional, newest first,
/// `before` (an entry id) pages back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// An exact action, or a prefix ending in `.` (`incident.`).
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// What committing a round did besides storing samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundResult {
    pub incidents_opened: u32,
    pub incidents_resolved: u32,
    /// Any incident was opened, updated or resolved.
    pub incidents_changed: bool,
    /// The round's lease is no longer the leader's: only its samples (and
    /// their rollups) were stored, not its states or incident changes.
    pub fenced: bool,
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

/// One admin change as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Name of the acting user or token (or `cli` for the command line).
    pub actor: String,
    /// `user` when the actor is a user's name, else `token`.
    pub actor_kind: String,
    /// `incident.created`, `incident.updated`, `incident.deleted`,
    /// `maintenance.created`, `maintenance.updated`, `maintenance.deleted`,
    /// `user.created`, `user.role_changed`, `user.disabled`,
    /// `user.password_reset`, `user.password_set`, `user.signed_in`,
    /// `user.signed_out`, `token.created` or `token.revoked`.
    pub action: String,
    /// Id of the incident, maintenance window, user or token.
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

/// A replica's claim to probe and decide: the holder's name and the epoch
/// it was granted. Another replica taking over raises the epoch, which
/// fences every write made under an older one (see [`Store::insert_samples`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: i64,
}

/// One writer round as followers read it from the round log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRound {
    /// Position in the log (increasing; numbers of rolled-back rounds are
    /// skipped).
    pub seq: i64,
    /// The epoch of the lease it was written under.
    pub epoch: i64,
    pub incidents_changed: bool,
    /// As stored; `in_maintenance` is not kept (a reader knows the schedule).
    pub samples: Vec<Sample>,
    /// The states the round stored (none for a fenced round).
    pub states: Vec<ServiceState>,
}

/// How long rounds stay in the log; a follower further behind reloads all.
pub const ROUND_LOG_KEEP: chrono::Duration = chrono::Duration::minutes(10);

/// Wakes a follower on every logged round (PostgreSQL `LISTEN`).
pub struct RoundFeed {
    listener: sqlx::postgres::PgListener,
}

impl RoundFeed {
    pub const fn new(listener: sqlx::postgres::PgListener) -> Self {
        Self { listener }
    }

    /// Resolves on the next notification, or when the connection was lost
    /// (notifications may have been missed: read the log anyway).
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.listener.try_recv().await?;
        Ok(())
    }
}

/// A subscriber as admins see it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriberRecord {
    pub id: i64,
    pub kind: subscribers::Kind,
    /// The email address or the destination's URL.
    pub address: String,
    pub status: subscribers::Status,
    /// Follows every service; else `services`.
    pub all_services: bool,
    pub services: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Why the mail server refused the address (status `rejected`).
    pub rejected_reason: Option<String>,
}

/// What a visitor's subscription did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscribed {
    /// A new or pending address: a confirmation mail is queued.
    Confirm(i64),
    /// A confirmed address: a mail with its manage link is queued.
    Manage(i64),
    /// The address had its mails for the day: nothing queued.
    Limited,
}

/// Which subscribers a list shows, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberFilter {
    /// Part of the address, any case.
    pub query: Option<String>,
    pub status: Option<subscribers::Status>,
    /// Ids below this one (the next page).
    pub before: Option<i64>,
    pub limit: u32,
}

/// How many subscribers there are.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriberCounts {
    pub pending: u64,
    pub confirmed: u64,
    pub rejected: u64,
    /// Confirmed subscribers by kind (`email`, `webhook`, `slack`).
    pub by_kind: std::collections::BTreeMap<String, u64>,
    /// Confirmed subscribers following every service.
    pub all_services: u64,
    /// Confirmed subscribers following each service by name (not
    /// counting those who follow all).
    pub by_service: std::collections::BTreeMap<String, u64>,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Imported {
    pub added: u64,
    /// Addresses already there (left as they were).
    pub existing: u64,
}

/// A claimed mail or post to one subscriber.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriberDelivery {
    pub id: i64,
    pub subscriber_id: i64,
    pub kind: subscribers::Kind,
    pub address: String,
    pub purpose: subscribers::Purpose,
    /// The event, for a notification, with its outbox id.
    pub event: Option<(i64, AlertEvent)>,
    pub attempts: u32,
}

/// How an attempt at a subscriber delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriberOutcome {
    Delivered,
    /// Try again at this time.
    Retry(DateTime<Utc>, String),
    /// Given up (attempts spent, or refused for good).
    Failed(String),
    /// The mail server refused the address for good: the subscriber is
    /// marked `rejected` and gets nothing more.
    Rejected(String),
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

    /// Makes the services table match the config at `now`: inserts new
    /// slugs, updates changed ones, sets `position` to config order,
    /// archives slugs that are no longer configured (and un-archives
    /// returning ones). Returns the active services in config order.
    async fn sync_services(
        &self,
        services: &[ServiceDef],
        now: DateTime<Utc>,
    ) -> Result<Vec<ServiceRecord>, StoreError>;

    /// Every service, archived ones included, by position.
    async fn services(&self) -> Result<Vec<ServiceRecord>, StoreError>;

    /// Stores samples, the service states they led to, their hourly and
    /// daily rollups, and the automatic incident changes the status
    /// `transitions` cause (see [`crate::domain::incident::plan`], run
    /// against the open incidents as stored), in one transaction. A sample
    /// for a (service, time) that is already stored is ignored (and not
    /// counted again in the rollups), so a retried batch is harmless.
    ///
    /// With a `fence`, the transaction first checks (and locks) that lease
    /// as the leader's: if another replica took over since, only the
    /// samples and their rollups are stored, and the result says `fenced`.
    async fn insert_samples(
        &self,
        samples: &[Sample],
        states: &[ServiceState],
        transitions: &[Transition],
        fence: Option<&Lease>,
    ) -> Result<RoundResult, StoreError>;

    /// Alert events (the outbox) with an id above `after`, oldest first.
    async fn alert_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredAlertEvent>, StoreError>;

    /// Writes an event already routed to `route` alone (a test, a
    /// reminder), with its pending delivery; returns the delivery's id.
    /// `None` when `fence` is no longer the leader's lease.
    async fn insert_routed_alert(
        &self,
        event: &crate::domain::alert::AlertEvent,
        route: &str,
        route_kind: &str,
        fence: Option<&Lease>,
    ) -> Result<Option<i64>, StoreError>;

    /// Every objective's last status.
    async fn slo_states(&self) -> Result<Vec<SloState>, StoreError>;

    /// Stores the objectives' new statuses and the `slo.burn` events they
    /// cause, together; false (nothing written) when `fence` is not the
    /// leader's lease.
    async fn record_slo_changes(
        &self,
        states: &[SloState],
        events: &[AlertEvent],
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError>;

    /// Stores finished days (a day already stored is kept as it is).
    async fn record_slo_days(&self, days: &[SloDay]) -> Result<(), StoreError>;

    /// Deletes the days before `before`; returns how many.
    async fn prune_slo_days(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The newest day stored, of any service.
    async fn last_slo_day(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Days in `[from, to)`, of one service or all, by service, objective
    /// and day.
    async fn slo_days(
        &self,
        service_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SloDay>, StoreError>;

    /// Per service, the incidents about it that started in `[from, to)`.
    async fn incident_counts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(i64, u64)>, StoreError>;

    /// Writes `event` unless an event of its kind with its dedup key
    /// exists (what the leader notices happening, once); false when it
    /// existed or `fence` is not the leader's lease.
    async fn insert_alert_event_once(
        &self,
        event: &crate::domain::alert::AlertEvent,
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError>;

    /// `maintenance.started` events without their `maintenance.completed`.
    async fn unfinished_maintenance_events(&self) -> Result<Vec<StoredAlertEvent>, StoreError>;

    /// Open incidents whose `incident.opened` was delivered on `route`:
    /// that event, how many `incident.opened` (with reminders) the route
    /// sent for the incident, and when it last sent anything about it.
    async fn reminder_candidates(&self, route: &str) -> Result<Vec<ReminderCandidate>, StoreError>;

    /// Alert events not routed yet, oldest first.
    async fn unrouted_alert_events(&self, limit: u32) -> Result<Vec<StoredAlertEvent>, StoreError>;

    /// Routes events once each: their deliveries and `routed_at`, all in
    /// one transaction (an event routed meanwhile is left as it is). False
    /// when `fence` is no longer the leader's lease (nothing written).
    async fn route_alert_events(
        &self,
        routed: &[(i64, Vec<NewDelivery>)],
        at: DateTime<Utc>,
        fence: Option<&Lease>,
    ) -> Result<bool, StoreError>;

    /// The newest delivery on `route` (pending, delivered or failed, not
    /// suppressed) of an event of `kind` about service `subject`, created
    /// after `since`: the cooldown.
    async fn recent_alert(
        &self,
        route: &str,
        subject: &str,
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The status of the newest delivery on `route` of an event with
    /// `dedup_key`: whether what a resolution closes was sent there.
    async fn last_alert_status(
        &self,
        route: &str,
        dedup_key: &str,
    ) -> Result<Option<DeliveryStatus>, StoreError>;

    /// Claims up to `limit` pending deliveries due at `now` (not claimed by
    /// a live claim) until `until`; on PostgreSQL `FOR UPDATE SKIP LOCKED`.
    /// Nothing when `fence` is not the leader's lease.
    async fn claim_alert_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        fence: Option<&Lease>,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records one attempt and what it leaves the delivery as.
    async fn finish_alert_attempt(
        &self,
        delivery_id: i64,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError>;

    /// Deliveries, newest first, as the history shows them.
    async fn alert_history(
        &self,
        filter: &AlertHistoryFilter,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// The attempts of one delivery, oldest first.
    async fn alert_attempts(&self, delivery_id: i64) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Pending deliveries and when the oldest was created; unrouted events.
    async fn alert_outbox(&self) -> Result<OutboxDepth, StoreError>;

    /// Deletes alert events (with their deliveries and attempts) created
    /// before `before`, except those still pending; returns events deleted.
    async fn prune_alerts(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

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

    /// Deletes an incident with its timeline at `at`; `false` when there is
    /// none. `actor` is recorded in the audit log.
    async fn delete_incident(
        &self,
        id: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

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

    /// Deletes a window with its timeline at `at`; `false` when there is
    /// none. `actor` is recorded in the audit log.
    async fn delete_maintenance(
        &self,
        id: i64,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Admin changes, sign-ins and people changes, newest first.
    async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

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

    /// Maintenance windows whose first occurrence ends after `now`, and
    /// every recurring one, with their services, by id. Which recurring
    /// ones are over is the rule's business:
    /// [`crate::domain::maintenance::Schedule::current`].
    async fn maintenance_windows(&self, now: DateTime<Utc>) -> Result<Vec<Window>, StoreError>;

    /// Stores an admin token's hash under `name` with its role, created
    /// by `actor` at `at`; `None` when a token or a user has the name
    /// (token names are never reused, revoked or not).
    async fn create_token(
        &self,
        name: &str,
        token_hash: &[u8],
        role: Role,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;

    /// Every token, revoked ones included, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the token `name` at `at`, recording `actor`; `false` when
    /// there is no such active token.
    async fn revoke_token(
        &self,
        name: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Creates a user, with a password hash or none yet; `None` when a
    /// user or a token has the name.
    async fn create_user(
        &self,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;

    /// Every user, disabled ones included, oldest first.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// The user `name` with the password hash, for sign-in.
    async fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError>;

    /// Gives the user `name` another role; `false` when there is none.
    async fn set_user_role(
        &self,
        name: &str,
        role: Role,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Disables the user `name` and ends their sessions in one
    /// transaction; `false` when there is no such enabled user.
    async fn disable_user(
        &self,
        name: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Removes the password of the user `name`, ends their sessions and
    /// stores a one-time link (its token's hash) that sets a new one until
    /// `expires_at`; earlier links stop working. `false`: no such user.
    async fn reset_password(
        &self,
        name: &str,
        link_hash: &[u8],
        expires_at: DateTime<Utc>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The name of the enabled user a live link (by hash) is for.
    async fn password_link(
        &self,
        link_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Uses a live link once: sets the password hash of its user and
    /// forgets the link; returns the user's name, `None` for a used,
    /// expired or unknown link.
    async fn set_password_by_link(
        &self,
        link_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Stores a session at sign-in and records the sign-in.
    async fn create_session(&self, session: &NewSession<'_>) -> Result<(), StoreError>;

    /// The live session with this hash: not revoked, not past its
    /// expiry, seen after `idle_cutoff`, its user enabled. Marks it seen at
    /// `now` when last marked before `now - SEEN_RESOLUTION`.
    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends a session (sign-out) and records it; `false` when it had ended.
    async fn end_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// The active token with this hash, marking it used at `at`.
    async fn use_token(
        &self,
        token_hash: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// Tries to become the one replica that probes and decides, until
    /// `expires_at`. It succeeds when `holder` already leads (the epoch
    /// stays: nobody else decided in between) or when the lease expired by
    /// `now` (the epoch goes up). `None`: another replica leads. SQLite has
    /// one process per file, so there it always succeeds.
    async fn acquire_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError>;

    /// Rounds logged after `after` (a [`LoggedRound::seq`]), oldest first,
    /// at most `limit`. Only backends with followers (PostgreSQL) log
    /// rounds; elsewhere this is empty.
    async fn rounds_since(&self, after: i64, limit: u32) -> Result<Vec<LoggedRound>, StoreError>;

    /// The newest logged round's `seq`, 0 when there is none.
    async fn last_round(&self) -> Result<i64, StoreError>;

    /// Forgets rounds whose newest sample is older than `before`.
    async fn prune_rounds(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Wakes on every logged round; `None` where there are no followers.
    async fn round_feed(&self) -> Result<Option<RoundFeed>, StoreError>;

    /// Extends `lease` to `expires_at`; `false` when another replica took
    /// over (an expired lease nobody took is still this one's).
    async fn renew_lease(
        &self,
        lease: &Lease,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives `lease` up at shutdown, so another replica takes over at once.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;

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

    /// Rollups with `period_start >= from` of the services whose ids are in
    /// `services`, by service and period: the snapshot is seeded a slice
    /// of services at a time, so a start with 50,000 services and 90 days
    /// never holds every row (and its histogram) at once. Only rows from
    /// `histograms_from` on carry their fine histogram.
    async fn rollups_since(
        &self,
        resolution: Resolution,
        from: DateTime<Utc>,
        services: std::ops::RangeInclusive<i64>,
        histograms_from: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>, Rollup)>, StoreError>;

    /// The samples taken from `from` on by the services whose ids are in
    /// `services` (to seed the objectives' short windows at start-up).
    async fn samples_since(
        &self,
        from: DateTime<Utc>,
        services: std::ops::RangeInclusive<i64>,
    ) -> Result<Vec<Sample>, StoreError>;

    /// The newest sample of each service that has one.
    async fn latest_samples(&self) -> Result<Vec<Sample>, StoreError>;

    /// Clears the fine histograms of one service's hourly rollups that
    /// started before `before` (see `engine::pruner::HOURLY_HISTOGRAMS`);
    /// returns how many.
    async fn prune_hourly_histograms(
        &self,
        service_id: i64,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

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

    /// A visitor subscribes `email` (normalised) to `services` (empty:
    /// all), in one transaction with the mail it causes: a confirmation
    /// for a new, pending or rejected address (pending again, services
    /// replaced), the manage link for a confirmed one (its services left
    /// alone: the form needs no sign-in). At most
    /// [`subscribers::MAILS_PER_DAY`] such mails an address a day.
    async fn subscribe(
        &self,
        email: &str,
        services: &[String],
        at: DateTime<Utc>,
    ) -> Result<Subscribed, StoreError>;

    /// Confirms subscriber `id` (from a valid link); `None` when it is
    /// gone (unsubscribed, or removed).
    async fn confirm_subscriber(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<SubscriberRecord>, StoreError>;

    async fn subscriber(&self, id: i64) -> Result<Option<SubscriberRecord>, StoreError>;

    /// Replaces what subscriber `id` follows (empty: everything);
    /// `false` when it is gone.
    async fn set_subscriber_services(
        &self,
        id: i64,
        services: &[String],
    ) -> Result<bool, StoreError>;

    /// Deletes subscriber `id` and what was sent to it; audited when an
    /// admin (`actor`) removes it. `None` when it was gone.
    async fn remove_subscriber(
        &self,
        id: i64,
        actor: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<SubscriberRecord>, StoreError>;

    /// An admin adds a confirmed subscriber (a webhook or Slack URL, or an
    /// email address); `None` when it is there already.
    async fn add_subscriber(
        &self,
        kind: subscribers::Kind,
        address: &str,
        services: &[String],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError>;

    /// Adds already-confirmed addresses (moving from another page), in
    /// one transaction with one audit row; addresses already there are
    /// left alone.
    async fn import_subscribers(
        &self,
        rows: &[subscribers::ImportRow],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Imported, StoreError>;

    async fn subscribers(
        &self,
        filter: &SubscriberFilter,
    ) -> Result<Vec<SubscriberRecord>, StoreError>;

    async fn subscriber_counts(&self) -> Result<SubscriberCounts, StoreError>;

    /// Records an admin's action on subscribers that changes nothing
    /// stored (an export) in the audit log.
    async fn audit_subscribers(
        &self,
        action: &str,
        detail: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Fans up to `limit` waiting events out to the subscribers who follow
    /// them, one delivery each, marking each event in the same
    /// transaction (fenced); events that occurred before `stale_before` are
    /// marked without deliveries. Returns the events marked and the
    /// deliveries written.
    async fn fan_out_to_subscribers(
        &self,
        limit: u32,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        fence: Option<&Lease>,
    ) -> Result<(usize, u64), StoreError>;

    /// Claims up to `limit` due subscriber deliveries until `until`
    /// (fenced, skip-locked), oldest due first.
    async fn claim_subscriber_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        fence: Option<&Lease>,
    ) -> Result<Vec<SubscriberDelivery>, StoreError>;

    /// Records how attempts ended, in one transaction.
    async fn finish_subscriber_deliveries(
        &self,
        outcomes: &[(i64, SubscriberOutcome)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Subscriber deliveries not yet delivered or given up.
    async fn subscriber_outbox(&self) -> Result<u64, StoreError>;

    /// Deletes finished subscriber deliveries before `finished_before`
    /// and subscriptions never confirmed made before `pending_before`.
    async fn prune_subscribers(
        &self,
        finished_before: DateTime<Utc>,
        pending_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The shared secret `name`: stored the first time (`candidate`), the
    /// stored one ever after, so every replica signs with the same key.
    async fn signing_key(
        &self,
        name: &str,
        candidate: &str,
        at: DateTime<Utc>,
    ) -> Result<String, StoreError>;

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
        Arc::new(SqliteStore::open(url, max_connections, acquire_timeout).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PostgresStore::open(url, max_connections, acquire_timeout).await?)
    } else {
        return Err(StoreError::UnsupportedUrl);
    };
    store.migrate().await?;
    Ok(store)
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
