//! The alert dispatcher: routes the outbox's events and delivers them.
//!
//! It runs on the replica that leads, fenced by its lease: routing an event
//! (its deliveries and `routed_at` in one transaction) and claiming
//! deliveries both check the lease inside their transaction, and claims use
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL, so a takeover never delivers
//! twice what was already delivered. A claim lasts [`CLAIM`]: a dispatcher
//! that dies mid-send leaves the delivery to be sent again after it (the
//! providers' dedup keys make that harmless).
//!
//! Each attempt is recorded; a failure is retried with exponential backoff
//! and jitter (`Retry-After` honoured) until `alerts.max_attempts`, then
//! the delivery is `failed`, kept and visible. 4xx answers other than 408
//! and 429 fail at once: sending the same request again cannot help.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::alerts::{AlertsConfig, RouteConfig, RouteFilters, RouteKind, SmtpConfig};
use crate::domain::alert::{
    backoff, mail, maintenance_event, opsgenie, pagerduty, signature, slack, verdict, AlertEvent,
    Earlier, EventKind, MaintenanceInfo, RouteRule, ServiceRef, Verdict,
};
use crate::domain::maintenance::Window;
use crate::domain::service::ServiceRecord;
use crate::engine::changes::Changes;
use crate::store::{
    AttemptOutcome, AttemptRecord, ClaimedDelivery, DeliveryStatus, Lease, NewDelivery, Store,
    StoreError,
};

/// How long a claimed delivery is reserved for its attempt.
pub const CLAIM: Duration = Duration::from_secs(60);
/// How often the dispatcher looks at the outbox when nothing wakes it.
pub const POLL: Duration = Duration::from_secs(1);
/// Events routed and deliveries claimed per pass.
const BATCH: u32 = 100;
/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;

/// A route with its filters compiled.
#[derive(Clone, Debug)]
pub struct Route {
    pub config: RouteConfig,
    filters: RouteFilters,
}

impl Route {
    /// `config` was validated at start-up, so its globs compile.
    pub fn new(config: RouteConfig) -> Self {
        let filters = config.filters().unwrap_or_default();
        Self { config, filters }
    }

    fn rule(&self, event: &AlertEvent) -> RouteRule {
        let services = event.services();
        let covered = match &event.service {
            Some(s) => self
                .config
                .covers(&self.filters, &s.slug, s.group.as_deref()),
            None if services.is_empty() => {
                self.config.services.is_empty() && self.config.groups.is_empty()
            }
            None => services.iter().any(|s| {
                self.config
                    .covers(&self.filters, &s.slug, s.group.as_deref())
            }),
        };
        RouteRule {
            wants: self.config.wants(event.event),
            covers: covered,
            min_impact: self.config.min_impact,
            send_resolved: self.config.send_resolved,
            closes_alerts: self.config.closes_alerts(),
        }
    }
}

/// Decisions of one routing batch, not stored yet: the cooldown and the
/// resolutions of later events in the batch must see them.
#[derive(Default)]
struct Batch {
    /// (route, subject, kind) sent.
    sent: std::collections::HashSet<(String, String, EventKind)>,
    /// (route, dedup key) → sent (true) or suppressed (false), the latest.
    by_key: HashMap<(String, String), bool>,
}

impl Batch {
    fn amend(&self, earlier: &mut Earlier, route: &Route, event: &AlertEvent) {
        let name = &route.config.name;
        if let Some(subject) = event.subject_slug() {
            if !route.config.cooldown.is_zero()
                && self
                    .sent
                    .contains(&(name.clone(), subject.to_owned(), event.event))
            {
                earlier.within_cooldown = true;
            }
        }
        if let Some(sent) = self.by_key.get(&(name.clone(), event.dedup_key())) {
            earlier.opened_here = *sent;
        }
    }

    fn record(&mut self, route: &Route, event: &AlertEvent, verdict: Verdict) {
        let name = route.config.name.clone();
        match verdict {
            Verdict::Send => {
                if let Some(subject) = event.subject_slug() {
                    self.sent
                        .insert((name.clone(), subject.to_owned(), event.event));
                }
                self.by_key.insert((name, event.dedup_key()), true);
            }
            Verdict::Suppress(_) => {
                self.by_key.insert((name, event.dedup_key()), false);
            }
            Verdict::Skip => {}
        }
    }
}

/// What an attempt came to.
#[derive(Debug)]
pub struct Sent {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    /// Sending it again cannot succeed.
    pub permanent: bool,
}

/// Routes and delivers alerts while its replica leads.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub routes: Vec<Route>,
    pub page_url: Option<String>,
    pub page_title: String,
    pub max_attempts: u32,
    /// Delivered and failed alerts older than this are deleted.
    pub retention: Duration,
    /// Wakes the dispatcher when a change wrote events.
    pub changes: Arc<Changes>,
    /// The services by id, as synchronised at start-up (maintenance
    /// events name them).
    services: HashMap<i64, ServiceRef>,
    http: reqwest::Client,
    mailer: Option<super::mail::Mailer>,
}

/// How often old alerts are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        alerts: &AlertsConfig,
        smtp: Option<&SmtpConfig>,
        page_url: Option<String>,
        page_title: String,
        changes: Arc<Changes>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Upbeat/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        for route in &alerts.routes {
            let events: Vec<&'static str> = EventKind::ALL
                .into_iter()
                .filter(|&k| route.wants(k))
                .map(EventKind::as_str)
                .collect();
            crate::metrics::alert_route(&route.name, route.kind.as_str(), &events);
        }
        Self {
            store,
            clock,
            routes: alerts.routes.iter().cloned().map(Route::new).collect(),
            page_url,
            page_title,
            max_attempts: alerts.max_attempts,
            retention: alerts.retention,
            changes,
            http,
            mailer: smtp.and_then(super::mail::Mailer::new),
            services: HashMap::new(),
        }
    }

    /// The services, as synchronised at start-up, by id.
    #[must_use]
    pub fn with_services(mut self, services: &[ServiceRecord]) -> Self {
        self.services = services
            .iter()
            .map(|s| {
                let named = ServiceRef {
                    slug: s.slug.clone(),
                    name: s.name.clone(),
                    group: s.group.clone(),
                };
                (s.id, named)
            })
            .collect();
        self
    }

    /// Passes until `cancel`: woken by new events, else every [`POLL`].
    pub async fn run(self: Arc<Self>, lease: Option<Lease>, cancel: CancellationToken) {
        let mut failing = false;
        let mut pruned_at: Option<Instant> = None;
        loop {
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                let before = self.clock.now()
                    - chrono::Duration::from_std(self.retention).unwrap_or_default();
                match self.store.prune_alerts(before).await {
                    Ok(n) => {
                        pruned_at = Some(Instant::now());
                        if n > 0 {
                            tracing::info!(events = n, "old alerts pruned");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "pruning old alerts failed"),
                }
            }
            let mut more = false;
            match self.pass(lease.as_ref()).await {
                Ok(full) => {
                    if failing {
                        tracing::info!("alert dispatcher: database back");
                        failing = false;
                    }
                    more = full;
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "alert dispatcher: database unavailable; alerts wait in the outbox");
                    }
                    failing = true;
                }
            }
            if more {
                // A full batch: more is waiting, go on at once.
                if cancel.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.changes.alerts_notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass: routes new events, then sends what is due. Returns the
    /// deliveries attempted.
    /// One pass: notices maintenance, routes new events, queues due
    /// reminders, then sends what is due. Returns whether a full batch was
    /// routed or sent (more may be waiting: pass again at once).
    pub async fn pass(&self, fence: Option<&Lease>) -> Result<bool, StoreError> {
        // One read of the windows serves both steps.
        let windows = self.store.maintenance_windows(self.clock.now()).await?;
        self.notice_maintenance(&windows, fence).await?;
        let routed = self.route_new(&windows, fence).await?;
        self.remind(fence).await?;
        let attempted = self.deliver_due(fence).await?;
        let depth = self.store.alert_outbox().await?;
        crate::metrics::alert_outbox(depth.pending);
        Ok(routed == BATCH as usize || attempted == BATCH as usize)
    }

    /// Routes up to a batch of new events; returns how many.
    async fn route_new(
        &self,
        windows: &[Window],
        fence: Option<&Lease>,
    ) -> Result<usize, StoreError> {
        let events = self.store.unrouted_alert_events(BATCH).await?;
        let n = events.len();
        if events.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let in_maintenance = self.services_in_maintenance(windows);
        // What this batch decided, for the events after it in the batch
        // (their deliveries are not stored yet).
        let mut batch = Batch::default();
        let mut routed = Vec::with_capacity(n);
        for stored in events {
            let event = &stored.event;
            let mut deliveries = Vec::new();
            for route in &self.routes {
                let name = route.config.name.clone();
                let rule = route.rule(event);
                if event.event != EventKind::Test && !(rule.wants && rule.covers) {
                    // Not for this route: no need to ask the outbox.
                    crate::metrics::alert_suppressed(&name, "filter");
                    continue;
                }
                let mut earlier = self.earlier(route, event, &in_maintenance).await?;
                batch.amend(&mut earlier, route, event);
                let verdict = verdict(event, rule, earlier);
                batch.record(route, event, verdict);
                match verdict {
                    Verdict::Send => deliveries.push(NewDelivery {
                        route: name,
                        route_kind: route.config.kind.as_str().to_owned(),
                        status: DeliveryStatus::Pending,
                        reason: None,
                    }),
                    Verdict::Skip => crate::metrics::alert_suppressed(&name, "filter"),
                    Verdict::Suppress(reason) => {
                        crate::metrics::alert_suppressed(&name, reason);
                        deliveries.push(NewDelivery {
                            route: name,
                            route_kind: route.config.kind.as_str().to_owned(),
                            status: DeliveryStatus::Suppressed,
                            reason: Some(reason.to_owned()),
                        });
                    }
                }
            }
            routed.push((stored.id, deliveries));
        }
        if !self.store.route_alert_events(&routed, now, fence).await? {
            // Deposed: the next leader routes them.
            return Ok(0);
        }
        Ok(n)
    }

    /// Writes `maintenance.started` for each window occurrence in progress
    /// and `maintenance.completed` for each started one that is over (or
    /// deleted), once each: time, not a stored change, causes these, so
    /// the leader writes them when it notices (within a pass).
    async fn notice_maintenance(
        &self,
        windows: &[Window],
        fence: Option<&Lease>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let names = &self.services;
        let mut running = Vec::new();
        for w in windows {
            let Some((starts_at, ends_at)) = w.current_or_next(now).filter(|(s, _)| *s <= now)
            else {
                continue;
            };
            let info = MaintenanceInfo {
                id: w.id,
                title: w.title.clone(),
                starts_at,
                ends_at,
                services: w
                    .services
                    .iter()
                    .filter_map(|id| names.get(id).cloned())
                    .collect(),
            };
            let event = maintenance_event(EventKind::MaintenanceStarted, info, starts_at);
            running.push(event.dedup_key());
            self.store.insert_alert_event_once(&event, fence).await?;
        }
        for started in self.store.unfinished_maintenance_events().await? {
            let key = started.event.dedup_key();
            let Some(info) = started.event.maintenance.clone() else {
                continue;
            };
            if running.contains(&key) && now < info.ends_at {
                continue;
            }
            let at = info.ends_at.min(now);
            let event = maintenance_event(EventKind::MaintenanceCompleted, info, at);
            self.store.insert_alert_event_once(&event, fence).await?;
        }
        Ok(())
    }

    /// Queues the reminders that are due: an open incident whose opening
    /// a route with `repeat_every` delivered, silent on that route for
    /// `repeat_every`, reminded fewer than `repeat_max` times.
    async fn remind(&self, fence: Option<&Lease>) -> Result<(), StoreError> {
        let now = self.clock.now();
        for route in &self.routes {
            let (Some(every), max) = (route.config.repeat_every, route.config.repeat_max()) else {
                continue;
            };
            let every = chrono::Duration::from_std(every).unwrap_or_default();
            for candidate in self.store.reminder_candidates(&route.config.name).await? {
                let reminded = candidate.sent.saturating_sub(1);
                if reminded >= max || candidate.last_at + every > now {
                    continue;
                }
                let mut event = candidate.opened.event.clone();
                event.occurred_at = now;
                event.reminder = Some(reminded + 1);
                let kind = route.config.kind.as_str();
                if self
                    .store
                    .insert_routed_alert(&event, &route.config.name, kind, fence)
                    .await?
                    .is_none()
                {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Slugs of services a maintenance window covers now.
    fn services_in_maintenance(&self, windows: &[Window]) -> Vec<String> {
        let now = self.clock.now();
        windows
            .iter()
            .filter(|w| w.in_progress(now))
            .flat_map(|w| w.services.iter())
            .filter_map(|id| self.services.get(id).map(|s| s.slug.clone()))
            .collect()
    }

    async fn earlier(
        &self,
        route: &Route,
        event: &AlertEvent,
        in_maintenance: &[String],
    ) -> Result<Earlier, StoreError> {
        let subject = event.subject_slug();
        let covered = |slug: &str| in_maintenance.iter().any(|m| m == slug);
        let in_maintenance = match &event.service {
            Some(s) => covered(&s.slug),
            None => {
                let services = event.services();
                !services.is_empty() && services.iter().all(|s| covered(&s.slug))
            }
        };
        let cooldown = chrono::Duration::from_std(route.config.cooldown).unwrap_or_default();
        let within_cooldown = match subject {
            Some(subject) if !cooldown.is_zero() => self
                .store
                .recent_alert(
                    &route.config.name,
                    subject,
                    event.event.as_str(),
                    event.occurred_at - cooldown,
                )
                .await?
                .is_some(),
            _ => false,
        };
        let opened_here = if event.is_resolution() && route.config.closes_alerts() {
            matches!(
                self.store
                    .last_alert_status(&route.config.name, &event.dedup_key())
                    .await?,
                Some(DeliveryStatus::Pending | DeliveryStatus::Delivered | DeliveryStatus::Failed)
            )
        } else {
            false
        };
        Ok(Earlier {
            in_maintenance,
            within_cooldown,
            opened_here,
        })
    }

    async fn deliver_due(&self, fence: Option<&Lease>) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(CLAIM).unwrap_or_default();
        let claimed = self
            .store
            .claim_alert_deliveries(now, until, BATCH, fence)
            .await?;
        let n = claimed.len();
        let results: Vec<Result<(), StoreError>> = stream::iter(claimed)
            .map(|delivery| self.attempt(delivery))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), StoreError>>()?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(
        otel.name = "alert delivery",
        upbeat.route = %delivery.route,
        upbeat.delivery = delivery.id,
        upbeat.attempt = delivery.attempts + 1,
        upbeat.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    ))]
    async fn attempt(&self, delivery: ClaimedDelivery) -> Result<(), StoreError> {
        let at = self.clock.now();
        let started = Instant::now();
        let route = self.routes.iter().find(|r| r.config.name == delivery.route);
        let event = delivery
            .event
            .clone()
            .on_page(self.page_url.as_deref(), &self.page_title);
        let sent = match route {
            Some(route) => self.send(route, &event, delivery.id, at).await,
            None => Sent {
                status: None,
                error: Some(format!("route {} is no longer configured", delivery.route)),
                retry_after: None,
                permanent: true,
            },
        };
        let elapsed = started.elapsed();
        // A receiver may echo what it got: keep the route's secrets (its
        // key, and a Slack or webhook URL) out of the history and logs.
        let sent = Sent {
            error: sent
                .error
                .map(|e| route.map_or(e.clone(), |r| redact(&e, &r.config))),
            ..sent
        };
        let kind = route.map_or("unknown", |r| r.config.kind.as_str());
        let ok = sent.error.is_none();
        crate::metrics::alert_attempt(&delivery.route, kind, elapsed, !ok);
        let attempts = delivery.attempts + 1;
        let (outcome, delay) = if ok {
            crate::metrics::alert_fired(&delivery.route, kind, event_name(event.event));
            (AttemptOutcome::Delivered, None)
        } else if sent.permanent || attempts >= self.max_attempts {
            (AttemptOutcome::Failed, None)
        } else {
            let jitter: f64 = rand::random();
            let delay = backoff(attempts, jitter, sent.retry_after);
            (
                AttemptOutcome::Retry(at + chrono::Duration::from_std(delay).unwrap_or_default()),
                Some(delay),
            )
        };
        let record = AttemptRecord {
            at,
            status_code: sent.status,
            error: sent.error,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        let span = tracing::Span::current();
        span.record(
            "upbeat.outcome",
            match outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::Failed => "failed",
                AttemptOutcome::Retry(_) => "retry",
            },
        );
        if !ok {
            span.record("otel.status_code", "error");
        }
        self.store
            .finish_alert_attempt(delivery.id, &record, outcome)
            .await?;
        // Logged once stored, so the log never says more than the history.
        let error = record.error.as_deref().unwrap_or_default();
        match (outcome, delay) {
            (AttemptOutcome::Failed, _) => {
                tracing::warn!(route = %delivery.route, attempts, error, "alert delivery failed for good");
            }
            (AttemptOutcome::Retry(_), Some(delay)) => {
                tracing::info!(route = %delivery.route, attempts, retry_in_s = delay.as_secs_f64(), error, "alert delivery failed; will retry");
            }
            _ => {}
        }
        Ok(())
    }

    /// One HTTP request to the route's receiver.
    async fn send(
        &self,
        route: &Route,
        event: &AlertEvent,
        delivery_id: i64,
        now: chrono::DateTime<Utc>,
    ) -> Sent {
        let config = &route.config;
        let secret = config.secret.as_ref().map(|s| s.0.as_str());
        let endpoint = config.endpoint().unwrap_or_default().trim_end_matches('/');
        let request = match config.kind {
            RouteKind::Pagerduty => self
                .http
                .post(endpoint)
                .json(&pagerduty(event, secret.unwrap_or_default())),
            RouteKind::Opsgenie => {
                let call = opsgenie(event);
                self.http
                    .post(format!("{endpoint}{}", call.path))
                    .header(
                        reqwest::header::AUTHORIZATION,
                        format!("GenieKey {}", secret.unwrap_or_default()),
                    )
                    .json(&call.body)
            }
            RouteKind::Slack => self.http.post(endpoint).json(&slack(event)),
            RouteKind::Webhook => {
                let body = serde_json::to_vec(event).unwrap_or_default();
                let mut request = self
                    .http
                    .post(endpoint)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("X-Upbeat-Event", event.event.as_str())
                    .header("X-Upbeat-Delivery", delivery_id.to_string());
                if let Some(secret) = secret {
                    request = request.header(
                        "X-Upbeat-Signature",
                        signature(secret, now.timestamp(), &body),
                    );
                }
                // The receiver's spans join the delivery's trace.
                request
                    .headers(crate::trace::propagation(&tracing::Span::current()))
                    .body(body)
            }
            RouteKind::Email => return self.send_mail(config, event, delivery_id).await,
        };
        answered(
            request.timeout(config.timeout).send().await,
            config.timeout,
            now,
        )
        .await
    }
}

impl Dispatcher {
    /// One mail to the route's recipients, threaded per incident.
    async fn send_mail(&self, route: &RouteConfig, event: &AlertEvent, delivery_id: i64) -> Sent {
        let failed = |error: String, permanent: bool| Sent {
            status: None,
            error: Some(error),
            retry_after: None,
            permanent,
        };
        let Some(mailer) = &self.mailer else {
            return failed("no usable [smtp] settings".to_owned(), true);
        };
        let content = mail(event, delivery_id);
        let mut builder = lettre::Message::builder()
            .from(mailer.from.clone())
            .subject(content.subject)
            .message_id(Some(content.message_id));
        if let Some(root) = content.in_reply_to {
            builder = builder.in_reply_to(root.clone()).references(root);
        }
        for to in &route.to {
            match to.parse() {
                Ok(mailbox) => builder = builder.to(mailbox),
                Err(err) => return failed(format!("to {to:?}: {err}"), true),
            }
        }
        let message = match builder.multipart(lettre::message::MultiPart::alternative_plain_html(
            content.text,
            content.html,
        )) {
            Ok(message) => message,
            Err(err) => return failed(format!("building the mail: {err}"), true),
        };
        mailer.send(message).await
    }
}

/// What an HTTP receiver's answer (or the failure to get one within
/// `timeout`) means for the attempt: 4xx other than 408 and 429 cannot
/// succeed later; `Retry-After` is read relative to `now`. Never the
/// request: it holds keys.
pub async fn answered(
    result: Result<reqwest::Response, reqwest::Error>,
    timeout: Duration,
    now: chrono::DateTime<Utc>,
) -> Sent {
    match result {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            if status.is_success() {
                return Sent {
                    status: Some(status.as_u16()),
                    error: None,
                    retry_after: None,
                    permanent: false,
                };
            }
            // The answer says why (never the request: it holds keys).
            let text = response.text().await.unwrap_or_default();
            let permanent = status.is_client_error()
                && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                && status != reqwest::StatusCode::REQUEST_TIMEOUT;
            Sent {
                status: Some(status.as_u16()),
                error: Some(format!(
                    "status {}: {}",
                    status.as_u16(),
                    crate::domain::alert::truncate(text.trim(), 300)
                )),
                retry_after,
                permanent,
            }
        }
        Err(err) => Sent {
            status: None,
            // reqwest's message names the URL, never the headers.
            error: Some(if err.is_timeout() {
                format!("no answer within {:?}", timeout)
            } else {
                without_url(&err)
            }),
            retry_after: None,
            permanent: false,
        },
    }
}

/// `text` without the route's secret or its URL's path and query.
fn redact(text: &str, route: &RouteConfig) -> String {
    let mut out = text.to_owned();
    if let Some(secret) = route.secret.as_ref().filter(|s| !s.0.is_empty()) {
        out = out.replace(&secret.0, "***");
    }
    if let Some(url) = route.url.as_deref().and_then(|u| url::Url::parse(u).ok()) {
        let path = url.path();
        if path.len() > 1 {
            out = out.replace(path, "/***");
        }
        if let Some(query) = url.query() {
            out = out.replace(query, "***");
        }
    }
    out
}

/// `Retry-After` in seconds or as an HTTP date (relative to `now`), at
/// most an hour.
fn parse_retry_after(value: &str, now: chrono::DateTime<Utc>) -> Option<Duration> {
    let cap = Duration::from_secs(3600);
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(cap));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - now)
        .to_std()
        .ok()
        .map(|d| d.min(cap))
}

/// What went wrong, without the URL: a Slack or webhook URL is a secret
/// of its own, and reqwest's own message names it.
fn without_url(err: &reqwest::Error) -> String {
    let what = if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "bad answer"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

const fn event_name(kind: EventKind) -> &'static str {
    kind.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_the_routes_secrets() {
        let toml = "[[alerts.routes]]\nname = \"a\"\nkind = \"webhook\"\n\
                    url = \"https://hooks.example/T0/secret-path?token=abc\"\n";
        let mut route = crate::config::Config::from_toml(toml, Vec::new(), &Default::default())
            .unwrap()
            .alerts
            .routes
            .remove(0);
        route.secret = Some(crate::config::Secret("k3y".into()));
        assert_eq!(
            redact(
                "status 400: bad key k3y for /T0/secret-path?token=abc",
                &route
            ),
            "status 400: bad key *** for /***?***"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date_and_capped() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        let cases = [
            ("30", Some(Duration::from_secs(30))),
            (" 5 ", Some(Duration::from_secs(5))),
            ("99999", Some(Duration::from_secs(3600))),
            ("soon", None),
            (
                "Wed, 21 Oct 2015 07:28:00 GMT",
                Some(Duration::from_secs(60)),
            ),
            ("Wed, 21 Oct 2015 07:00:00 GMT", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_retry_after(value, now), want, "{value}");
        }
    }
}
