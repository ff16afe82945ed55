//! Sending to subscribers, on the replica that leads (fenced like the
//! alert dispatcher).
//!
//! Each pass fans waiting events out (one delivery per follower, written
//! with the event's mark in one transaction), then claims a batch of due
//! deliveries (skip-locked on PostgreSQL) and sends them at most
//! `subscribers.max_per_second`, a few at a time over lettre's pooled
//! connections. Recipients are read a batch at a time, never all at once,
//! so 10,000 subscribers cost the memory of one batch.
//!
//! A claim lasts [`CLAIM`]; outcomes are stored a batch at a time. A
//! temporary failure (4xx from the mail server, no connection, a webhook's
//! 5xx) is retried with the alerts' backoff until `max_attempts`; a
//! permanent refusal of an address (5xx to `RCPT`) marks the subscriber
//! `rejected`, so nothing more goes to it. A crash between sending and
//! storing the outcome sends that batch's mails again after the claim
//! runs out: at least once, never lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use lettre::message::header::{HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use super::alerts::{answered, Sent};
use super::changes::Changes;
use super::mail::Mailer;
use crate::clock::SharedClock;
use crate::config::alerts::SmtpConfig;
use crate::config::subscribers::SubscribersConfig;
use crate::domain::alert::{backoff, signature, slack, AlertEvent};
use crate::domain::subscribers::{
    confirmation_mail, manage_mail, notification_mail, webhook_secret, Kind, MailPage, Purpose,
    SubscriberMail, FAN_OUT_WITHIN,
};
use crate::store::{Lease, Store, StoreError, SubscriberDelivery, SubscriberOutcome};

/// How long a claimed delivery is reserved for its attempt.
pub const CLAIM: Duration = Duration::from_secs(300);
/// How often the sender looks for work when nothing wakes it.
const POLL: Duration = Duration::from_secs(5);
/// Events fanned out per transaction.
const FAN_OUT: u32 = 20;
/// Mails or posts in flight at once: one per pooled SMTP connection.
const IN_FLIGHT: usize = super::mail::CONNECTIONS as usize;
/// How long a webhook or Slack post may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often finished deliveries and stale subscriptions are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Sends to subscribers while its replica leads.
pub struct Notifier {
    store: Arc<dyn Store>,
    clock: SharedClock,
    changes: Arc<Changes>,
    page: MailPage,
    /// Signs links and webhook bodies ([`crate::domain::subscribers`]).
    key: Vec<u8>,
    mailer: Option<Mailer>,
    http: reqwest::Client,
    config: SubscribersConfig,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        changes: Arc<Changes>,
        page: MailPage,
        key: Vec<u8>,
        config: &SubscribersConfig,
        smtp: Option<&SmtpConfig>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Upbeat/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            store,
            clock,
            changes,
            page,
            key,
            mailer: smtp.and_then(Mailer::new),
            http,
            config: config.clone(),
        }
    }

    /// Deliveries claimed at once: about ten seconds of sending.
    fn batch(&self) -> u32 {
        (self.config.max_per_second * 10).clamp(10, 1000)
    }

    /// Passes until `cancel`: woken by new events or subscriptions, else
    /// every [`POLL`].
    pub async fn run(self: Arc<Self>, lease: Option<Lease>, cancel: CancellationToken) {
        let mut pace = tokio::time::interval(Duration::from_secs_f64(
            1.0 / f64::from(self.config.max_per_second.max(1)),
        ));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        let mut pruned_at: Option<Instant> = None;
        loop {
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(Instant::now());
                self.prune().await;
            }
            let more = tokio::select! {
                () = cancel.cancelled() => return,
                result = self.pass(lease.as_ref(), &mut pace) => match result {
                    Ok(more) => {
                        if failing {
                            tracing::info!("subscribers: database back");
                            failing = false;
                        }
                        more
                    }
                    Err(err) => {
                        if !failing {
                            tracing::warn!(error = %err, "subscribers: database unavailable; mails wait in the outbox");
                        }
                        failing = true;
                        false
                    }
                },
            };
            if more {
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.changes.subscribers_notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn prune(&self) {
        let now = self.clock.now();
        let of = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
        match self
            .store
            .prune_subscribers(
                now - of(self.config.retention),
                now - of(self.config.pending_for),
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "old subscriber mails and unconfirmed subscriptions pruned"
            ),
            Err(err) => tracing::warn!(error = %err, "pruning subscriber mails failed"),
        }
    }

    /// One pass: fans out waiting events, then sends one batch. Returns
    /// whether more may be waiting.
    pub async fn pass(
        &self,
        fence: Option<&Lease>,
        pace: &mut tokio::time::Interval,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let (events, written) = self
            .store
            .fan_out_to_subscribers(FAN_OUT, now, now - FAN_OUT_WITHIN, fence)
            .await?;
        if events > 0 {
            tracing::info!(
                events,
                deliveries = written,
                "events fanned out to subscribers"
            );
        }
        let until = now + chrono::Duration::from_std(CLAIM).unwrap_or_default();
        let batch = self.batch();
        let claimed = self
            .store
            .claim_subscriber_deliveries(now, until, batch, fence)
            .await?;
        let full = claimed.len() == batch as usize;
        if !claimed.is_empty() {
            let outcomes = self.send_all(claimed, pace).await;
            self.store
                .finish_subscriber_deliveries(&outcomes, self.clock.now())
                .await?;
        }
        crate::metrics::subscriber_outbox(self.store.subscriber_outbox().await?);
        Ok(full || events == FAN_OUT as usize)
    }

    /// Sends each delivery, paced, a few at once; the outcomes in any
    /// order.
    async fn send_all(
        &self,
        deliveries: Vec<SubscriberDelivery>,
        pace: &mut tokio::time::Interval,
    ) -> Vec<(i64, SubscriberOutcome)> {
        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut in_flight = FuturesUnordered::new();
        for delivery in deliveries {
            // The mails in flight go on while the next tick comes (they
            // progress only while polled). `Interval::tick` is cancel-safe.
            loop {
                tokio::select! {
                    _ = pace.tick() => break,
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => outcomes.push(done),
                }
            }
            while in_flight.len() >= IN_FLIGHT {
                match in_flight.next().await {
                    Some(done) => outcomes.push(done),
                    None => break,
                }
            }
            in_flight.push(self.attempt(delivery));
        }
        while let Some(done) = in_flight.next().await {
            outcomes.push(done);
        }
        outcomes
    }

    async fn attempt(&self, delivery: SubscriberDelivery) -> (i64, SubscriberOutcome) {
        let sent = match delivery.kind {
            Kind::Email => self.send_mail(&delivery).await,
            Kind::Webhook | Kind::Slack => self.post(&delivery).await,
        };
        let attempts = delivery.attempts + 1;
        let error = sent.error.unwrap_or_default();
        let (outcome, label) = if error.is_empty() {
            (SubscriberOutcome::Delivered, "delivered")
        } else if sent.permanent
            && delivery.kind == Kind::Email
            && is_address_refused(sent.status, &error)
        {
            (SubscriberOutcome::Rejected(error), "rejected")
        } else if sent.permanent || attempts >= self.config.max_attempts {
            (SubscriberOutcome::Failed(error), "failed")
        } else {
            let delay = backoff(attempts, rand::random(), sent.retry_after);
            let at = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
            (SubscriberOutcome::Retry(at, error), "retry")
        };
        crate::metrics::subscriber_send(delivery.kind.as_str(), label);
        match &outcome {
            SubscriberOutcome::Rejected(e) | SubscriberOutcome::Failed(e) => {
                tracing::warn!(subscriber = delivery.subscriber_id, attempts, error = %e, outcome = label, "subscriber delivery given up");
            }
            SubscriberOutcome::Retry(_, e) => {
                tracing::info!(subscriber = delivery.subscriber_id, attempts, error = %e, "subscriber delivery failed; will retry");
            }
            SubscriberOutcome::Delivered => {}
        }
        (delivery.id, outcome)
    }

    /// The mail a delivery stands for.
    fn mail_for(&self, d: &SubscriberDelivery) -> Option<SubscriberMail> {
        let now = self.clock.now();
        match (d.purpose, &d.event) {
            (Purpose::Confirm, _) => Some(confirmation_mail(
                &self.page,
                &self.key,
                d.subscriber_id,
                d.id,
                now,
            )),
            (Purpose::Manage, _) => Some(manage_mail(&self.page, &self.key, d.subscriber_id, d.id)),
            (Purpose::Event, Some((event_id, event))) => Some(notification_mail(
                &self.page,
                &self.key,
                d.subscriber_id,
                *event_id,
                event,
            )),
            (Purpose::Event, None) => None,
        }
    }

    async fn send_mail(&self, d: &SubscriberDelivery) -> Sent {
        let failed = |error: String| Sent {
            status: None,
            error: Some(error),
            retry_after: None,
            permanent: true,
        };
        let Some(mailer) = &self.mailer else {
            return failed("no usable [smtp] settings".to_owned());
        };
        let Some(content) = self.mail_for(d) else {
            return failed("the event is gone".to_owned());
        };
        let to = match d.address.parse() {
            Ok(to) => to,
            Err(err) => return failed(format!("to: {err}")),
        };
        match build(mailer, to, content) {
            Ok(message) => mailer.send(message).await,
            Err(err) => failed(format!("building the mail: {err}")),
        }
    }

    /// A webhook or Slack subscriber: the alert webhook's body (signed
    /// with the subscriber's own secret) or Slack's blocks.
    async fn post(&self, d: &SubscriberDelivery) -> Sent {
        let Some((_, event)) = &d.event else {
            return Sent {
                status: None,
                error: Some("nothing to post".to_owned()),
                retry_after: None,
                permanent: true,
            };
        };
        let event: AlertEvent = event
            .clone()
            .on_page(Some(&self.page.url), &self.page.title);
        let now = self.clock.now();
        let request = if d.kind == Kind::Slack {
            self.http.post(&d.address).json(&slack(&event))
        } else {
            let body = serde_json::to_vec(&event).unwrap_or_default();
            let secret = webhook_secret(&self.key, d.subscriber_id);
            self.http
                .post(&d.address)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Upbeat-Event", event.event.as_str())
                .header("X-Upbeat-Delivery", format!("s{}", d.id))
                .header(
                    "X-Upbeat-Signature",
                    signature(&secret, now.timestamp(), &body),
                )
                .body(body)
        };
        let sent = answered(
            request.timeout(HTTP_TIMEOUT).send().await,
            HTTP_TIMEOUT,
            now,
        )
        .await;
        // The URL is the subscriber's secret: keep it out of the history.
        Sent {
            error: sent.error.map(|e| e.replace(&d.address, "***")),
            ..sent
        }
    }
}

/// A permanent SMTP refusal that is about the address, not about the
/// message, the sender or the relay: by its enhanced status code (RFC
/// 3463) when the server gives one, `5.1.x` (bad mailbox or address);
/// else by the reply code (550 mailbox unavailable, 551, 553 bad name),
/// unless the text speaks of relaying. A relay that refuses us ("550
/// 5.7.1 relaying denied") must not mark every subscriber refused.
fn is_address_refused(status: Option<u16>, error: &str) -> bool {
    let enhanced = error
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3 && parts[0] == "5" && parts.iter().all(|p| !p.is_empty())
        });
    match enhanced {
        Some(code) => code.starts_with("5.1."),
        None => {
            matches!(status, Some(550 | 551 | 553)) && !error.to_ascii_lowercase().contains("relay")
        }
    }
}

/// The lettre message: both parts, threading and list headers.
fn build(
    mailer: &Mailer,
    to: lettre::message::Mailbox,
    content: SubscriberMail,
) -> Result<lettre::Message, lettre::error::Error> {
    const LIST_ID: HeaderName = HeaderName::new_from_ascii_str("List-Id");
    const UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
    const ONE_CLICK: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
    const AUTO: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
    let mut builder = lettre::Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(content.subject)
        .message_id(Some(content.message_id))
        .raw_header(HeaderValue::new(LIST_ID, content.list_id))
        // RFC 3834: machines do not answer it.
        .raw_header(HeaderValue::new(AUTO, "auto-generated".to_owned()));
    if let Some(root) = content.in_reply_to {
        builder = builder.in_reply_to(root.clone()).references(root);
    }
    if let Some(url) = content.unsubscribe {
        // RFC 8058: a POST of `List-Unsubscribe=One-Click` to the URL.
        builder = builder
            .raw_header(HeaderValue::new(UNSUBSCRIBE, format!("<{url}>")))
            .raw_header(HeaderValue::new(
                ONE_CLICK,
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder.multipart(lettre::message::MultiPart::alternative_plain_html(
        content.text,
        content.html,
    ))
}

#[cfg(test)]
mod tests {
    use super::is_address_refused;

    #[test]
    fn only_a_refusal_of_the_address_marks_it() {
        let cases = [
            (
                Some(550),
                "smtp: permanent error (550): 5.1.1 No such user here",
                true,
            ),
            (
                Some(553),
                "smtp: permanent error (553): 5.1.3 Bad recipient address syntax",
                true,
            ),
            (
                Some(550),
                "smtp: permanent error (550): 5.7.1 Relaying denied",
                false,
            ),
            (
                Some(554),
                "smtp: permanent error (554): 5.7.1 Message rejected as spam",
                false,
            ),
            (
                Some(550),
                "smtp: permanent error (550): Requested action not taken: mailbox unavailable",
                true,
            ),
            (
                Some(550),
                "smtp: permanent error (550): relay access denied",
                false,
            ),
            (
                Some(552),
                "smtp: permanent error (552): message too large",
                false,
            ),
            (None, "smtp: connection refused", false),
        ];
        for (status, error, want) in cases {
            assert_eq!(is_address_refused(status, error), want, "{error}");
        }
    }
}
