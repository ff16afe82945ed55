//! Subscribers (SPEC "People"): who follows what, which events reach them,
//! the signed links in their mail, and the mail itself. Pure rules; the
//! store keeps the rows, `engine::subscribers` sends, `api::subscribe`
//! answers visitors.
//!
//! - An email address subscribes as **pending** and gets one confirmation
//!   mail; only a **confirmed** address gets notifications. A mail server
//!   that refuses an address for good (5xx) makes it **rejected**: nothing
//!   more is sent to it.
//! - Subscribers get `incident.opened`, `incident.updated`,
//!   `incident.resolved`, `maintenance.scheduled`, `maintenance.started`
//!   and `maintenance.completed`, for the services they follow; an event
//!   about no service goes to everyone.
//! - Links are HMAC-SHA256 signed tokens over (purpose, subscriber id,
//!   expiry), not guessable ids: a confirmation link lasts 24 hours; a
//!   manage or unsubscribe link does not expire (it sits in mail kept for
//!   years, and RFC 8058 asks that it keep working), but dies with the
//!   subscriber, whose id is never reused.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::alert::{AlertEvent, EventKind};
use super::markdown::{escape_html, to_safe_html};

/// How a subscriber is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Email,
    Webhook,
    Slack,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Email, Self::Webhook, Self::Slack]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a subscriber stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Subscribed, not confirmed yet: gets nothing but the confirmation.
    Pending,
    Confirmed,
    /// Its mail server refused it for good: gets nothing more.
    Rejected,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Confirmed, Self::Rejected]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a mail to a subscriber is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// "Confirm your subscription", with a 24-hour link.
    Confirm,
    /// "You are already subscribed": the manage link again, to a
    /// confirmed address that subscribed once more (the form's answer is
    /// the same either way, so the mail is where the two differ).
    Manage,
    /// A notification of an event.
    Event,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Manage => "manage",
            Self::Event => "event",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Confirm, Self::Manage, Self::Event]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The longest address accepted (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL: usize = 254;
/// How long a confirmation link works.
pub const CONFIRM_LIFETIME: Duration = Duration::hours(24);
/// Confirmation and manage-link mails to one address a day.
pub const MAILS_PER_DAY: u32 = 3;

/// A visitor's address, checked and lowercased (providers treat the local
/// part without case, and one address must be one subscriber): the syntax
/// by lettre's parser (`email_address`), plus a domain with a dot and no
/// address literal, as a public address has.
pub fn normalize_email(input: &str) -> Result<String, &'static str> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("is required");
    }
    if trimmed.len() > MAX_EMAIL {
        return Err("must be at most 254 characters");
    }
    let address: lettre::Address = trimmed
        .parse()
        .map_err(|_| "is not an email address (name@example.com)")?;
    let domain = address.domain();
    if !domain.contains('.') || domain.starts_with('[') || domain.ends_with('.') {
        return Err("needs a domain such as example.com after the @");
    }
    Ok(trimmed.to_lowercase())
}

/// Whether `day` (days since the epoch) may have one more confirmation or
/// manage mail, given the count on the day stored with the subscriber.
pub const fn may_mail(day: i64, mails_day: i64, mails_sent: i64) -> bool {
    day != mails_day || mails_sent < MAILS_PER_DAY as i64
}

/// Days since the epoch of `at`, the day the mail limit counts in.
pub fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// An event older than this when the leader comes to fan it out is not
/// sent to subscribers (marked done): stale news, e.g. from before
/// subscriptions were enabled, or after a very long outage of every
/// replica. Alert routes are not affected.
pub const FAN_OUT_WITHIN: Duration = Duration::hours(24);

/// Who an event goes to: `None` when subscribers never get its kind;
/// else the services it is about (empty: everyone).
pub fn audience(event: &AlertEvent) -> Option<Vec<String>> {
    // A reminder is for the route that pages, not for subscribers.
    (event.reminder.is_none()
        && matches!(
            event.event,
            EventKind::IncidentOpened
                | EventKind::IncidentUpdated
                | EventKind::IncidentResolved
                | EventKind::MaintenanceScheduled
                | EventKind::MaintenanceStarted
                | EventKind::MaintenanceCompleted
        ))
    .then(|| event.services().iter().map(|s| s.slug.clone()).collect())
}

/// What a link lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Confirm a pending subscription.
    Confirm,
    /// Change services or unsubscribe.
    Manage,
}

/// A link's token, before signing or after checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub purpose: LinkPurpose,
    pub subscriber: i64,
    /// Unix seconds; `None`: does not expire.
    pub expires: Option<i64>,
}

/// Why a link was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token this server makes.
    Malformed,
    /// The signature does not match: altered, or made with another key.
    Forged,
    Expired,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => {
                "This link is incomplete or damaged. Copy the whole link from the mail."
            }
            Self::Forged => "This link is not valid. Use the link from the latest mail.",
            Self::Expired => "This link has expired. Subscribe again to get a new one.",
        })
    }
}

impl Link {
    /// A confirmation link for `subscriber`, valid [`CONFIRM_LIFETIME`].
    pub fn confirm(subscriber: i64, now: DateTime<Utc>) -> Self {
        Self {
            purpose: LinkPurpose::Confirm,
            subscriber,
            expires: Some((now + CONFIRM_LIFETIME).timestamp()),
        }
    }

    pub const fn manage(subscriber: i64) -> Self {
        Self {
            purpose: LinkPurpose::Manage,
            subscriber,
            expires: None,
        }
    }

    fn payload(&self) -> String {
        let p = match self.purpose {
            LinkPurpose::Confirm => 'c',
            LinkPurpose::Manage => 'm',
        };
        format!("{p}{}.{}", self.subscriber, self.expires.unwrap_or(0))
    }

    /// `c42.1764800000.<43 characters of base64url HMAC>`.
    pub fn sign(&self, key: &[u8]) -> String {
        let payload = self.payload();
        let tag = URL_SAFE_NO_PAD.encode(mac(key, &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The link `token` stands for, if `key` signed it and it is still
    /// valid at `now`; the tag is compared in constant time.
    pub fn verify(key: &[u8], token: &str, now: DateTime<Utc>) -> Result<Self, LinkError> {
        let (payload, tag) = token.trim().rsplit_once('.').ok_or(LinkError::Malformed)?;
        let (head, expires) = payload.split_once('.').ok_or(LinkError::Malformed)?;
        let purpose = match head.chars().next() {
            Some('c') => LinkPurpose::Confirm,
            Some('m') => LinkPurpose::Manage,
            _ => return Err(LinkError::Malformed),
        };
        let subscriber: i64 = head[1..].parse().map_err(|_| LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .ok()
            // A link cut short in a mail client: a whole tag is 32 bytes.
            .filter(|t| t.len() == 32)
            .ok_or(LinkError::Malformed)?;
        mac(key, payload)
            .verify_slice(&tag)
            .map_err(|_| LinkError::Forged)?;
        let link = Self {
            purpose,
            subscriber,
            expires: (expires != 0).then_some(expires),
        };
        if link.expires.is_some_and(|e| now.timestamp() >= e) {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

fn mac(key: &[u8], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(b"upbeat-subscriber-link.");
    mac.update(payload.as_bytes());
    mac
}

/// The secret that signs the webhook bodies sent to webhook subscriber
/// `id`: derived from the link key, so it is never stored; shown once,
/// when the subscriber is added.
pub fn webhook_secret(key: &[u8], id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("upbeat-subscriber-webhook.{id}").as_bytes());
    format!("whsec_{}", hex::encode(mac.finalize().into_bytes()))
}

/// The page a mail speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailPage {
    pub title: String,
    /// `#rrggbb`, validated by the config.
    pub accent: Option<String>,
    /// `server.public_url`, without a trailing slash.
    pub url: String,
}

impl MailPage {
    /// The host of the page's address, for message ids and `List-Id`.
    pub fn host(&self) -> String {
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "upbeat.invalid".to_owned())
    }

    /// `/subscribe/manage?token=…`, absolute.
    pub fn manage_url(&self, key: &[u8], subscriber: i64) -> String {
        format!(
            "{}/subscribe/manage?token={}",
            self.url,
            Link::manage(subscriber).sign(key)
        )
    }

    /// The one-click address (RFC 8058): a `POST` there unsubscribes.
    pub fn unsubscribe_url(&self, key: &[u8], subscriber: i64) -> String {
        format!(
            "{}/subscribe/unsubscribe?token={}",
            self.url,
            Link::manage(subscriber).sign(key)
        )
    }

    /// `List-Id` (RFC 2919): the page's title and a label of its host.
    pub fn list_id(&self) -> String {
        let label: String = self
            .title
            .chars()
            // ASCII: a quoted phrase is not decoded by mail readers.
            .filter(|c| c.is_ascii_alphanumeric() || *c == ' ' || *c == '-')
            .collect();
        format!("\"{}\" <updates.{}>", label.trim(), self.host())
    }

    fn name(&self) -> &str {
        if self.title.is_empty() {
            "Status"
        } else {
            &self.title
        }
    }
}

/// A mail to one subscriber: subject, both parts, threading and list
/// headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberMail {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    /// The thread's first message, when this one follows it.
    pub in_reply_to: Option<String>,
    /// `List-Unsubscribe`'s URL (RFC 8058), for notifications.
    pub unsubscribe: Option<String>,
    pub list_id: String,
}

/// The confirmation mail of a new or pending subscription.
pub fn confirmation_mail(
    page: &MailPage,
    key: &[u8],
    subscriber: i64,
    delivery: i64,
    now: DateTime<Utc>,
) -> SubscriberMail {
    let link = format!(
        "{}/subscribe/confirm?token={}",
        page.url,
        Link::confirm(subscriber, now).sign(key)
    );
    let name = page.name();
    let lead = format!("Confirm that you want updates from {name}.");
    let note = "The link works for 24 hours. If you did not ask for this, ignore this mail: \
                nothing will be sent to you.";
    SubscriberMail {
        subject: format!("Confirm your subscription to {name}"),
        text: format!("{lead}\n\nConfirm: {link}\n\n{note}\n"),
        html: layout(
            page,
            &escape_html(&lead),
            &format!(
                "{}<p style=\"color:#555\">{}</p>",
                button(page, &link, "Confirm subscription"),
                escape_html(note)
            ),
            None,
        ),
        message_id: format!("<confirm.{delivery}@{}>", page.host()),
        in_reply_to: None,
        unsubscribe: None,
        list_id: page.list_id(),
    }
}

/// The mail to a confirmed address that subscribed again: its manage link.
pub fn manage_mail(page: &MailPage, key: &[u8], subscriber: i64, delivery: i64) -> SubscriberMail {
    let link = page.manage_url(key, subscriber);
    let name = page.name();
    let lead = format!("You are already subscribed to {name}.");
    let note = "Use the link to choose services or unsubscribe. If you did not ask for this, \
                ignore this mail.";
    SubscriberMail {
        subject: format!("Your subscription to {name}"),
        text: format!("{lead}\n\nManage your subscription: {link}\n\n{note}\n"),
        html: layout(
            page,
            &escape_html(&lead),
            &format!(
                "{}<p style=\"color:#555\">{}</p>",
                button(page, &link, "Manage subscription"),
                escape_html(note)
            ),
            None,
        ),
        message_id: format!("<manage.{delivery}@{}>", page.host()),
        in_reply_to: None,
        unsubscribe: None,
        list_id: page.list_id(),
    }
}

/// The notification of `event` to `subscriber`. Every mail about one
/// incident (or one maintenance occurrence) is a thread: the first one's
/// `Message-ID` is `<{dedup key}.subscribers@{host}>`, the later ones
/// answer it. The update's Markdown goes through the page's sanitiser.
pub fn notification_mail(
    page: &MailPage,
    key: &[u8],
    subscriber: i64,
    event_id: i64,
    event: &AlertEvent,
) -> SubscriberMail {
    let host = page.host();
    let root = format!("<{}.subscribers@{host}>", event.dedup_key());
    let (message_id, in_reply_to) = if matches!(
        event.event,
        EventKind::IncidentOpened | EventKind::MaintenanceScheduled
    ) {
        (root, None)
    } else {
        (
            format!("<{}.subscribers.{event_id}@{host}>", event.dedup_key()),
            Some(root),
        )
    };
    let summary = event.summary();
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut update = None;
    if let Some(i) = &event.incident {
        rows.push(("Status", i.status.label().to_owned()));
        if i.impact != app::model::Impact::None {
            rows.push(("Impact", capitalise(i.impact.as_str())));
        }
        update = i.update.clone();
    }
    if let Some(m) = &event.maintenance {
        rows.push(("From", utc(m.starts_at)));
        rows.push(("Until", utc(m.ends_at)));
    }
    let names: Vec<&str> = event.services().iter().map(|s| s.name.as_str()).collect();
    rows.push((
        "Affects",
        if names.is_empty() {
            "All services".to_owned()
        } else {
            names.join(", ")
        },
    ));
    rows.push(("Posted", utc(event.occurred_at)));
    let link = event
        .incident
        .as_ref()
        .map(|i| format!("{}/incidents/{}", page.url, i.id))
        .unwrap_or_else(|| page.url.clone());
    let manage = page.manage_url(key, subscriber);
    let unsubscribe = page.unsubscribe_url(key, subscriber);

    let mut text = vec![summary.clone(), String::new()];
    if let Some(update) = &update {
        text.push(update.clone());
        text.push(String::new());
    }
    text.extend(rows.iter().map(|(k, v)| format!("{k}: {v}")));
    text.extend([
        String::new(),
        format!("Details: {link}"),
        String::new(),
        "--".to_owned(),
        format!(
            "You get this mail because you subscribed to {}.",
            page.name()
        ),
        format!("Manage your subscription: {manage}"),
        format!("Unsubscribe: {unsubscribe}"),
    ]);

    let mut body = String::new();
    if let Some(update) = &update {
        body.push_str(&format!(
            "<div style=\"margin:0 0 16px\">{}</div>",
            to_safe_html(update)
        ));
    }
    body.push_str("<table cellpadding=\"4\" style=\"border-collapse:collapse;margin:0 0 16px\">");
    for (k, v) in &rows {
        body.push_str(&format!(
            "<tr><th align=\"left\" style=\"color:#555;font-weight:normal;padding-right:12px\">{k}</th><td>{}</td></tr>",
            escape_html(v)
        ));
    }
    body.push_str("</table>");
    body.push_str(&button(page, &link, "View on the status page"));
    let footer = format!(
        "You get this mail because you subscribed to {}. <a href=\"{}\">Manage your subscription</a> · <a href=\"{}\">Unsubscribe</a>",
        escape_html(page.name()),
        escape_html(&manage),
        escape_html(&unsubscribe),
    );
    SubscriberMail {
        subject: super::alert::truncate(&format!("[{}] {summary}", page.name()), 200),
        text: text.join("\n") + "\n",
        html: layout(page, &escape_html(&summary), &body, Some(&footer)),
        message_id,
        in_reply_to,
        unsubscribe: Some(unsubscribe),
        list_id: page.list_id(),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
        .replace('T', " ")
        .replace('Z', " UTC")
}

fn accent(page: &MailPage) -> &str {
    page.accent.as_deref().unwrap_or("#2563eb")
}

fn button(page: &MailPage, href: &str, label: &str) -> String {
    format!(
        "<p><a href=\"{href}\" style=\"display:inline-block;background:{accent};color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none\">{label}</a></p>",
        href = escape_html(href),
        accent = accent(page),
        label = escape_html(label),
    )
}

/// The HTML part around `body`: the page's title on a bar of its accent.
/// Inline styles only (mail clients drop style sheets).
fn layout(page: &MailPage, heading: &str, body: &str, footer: Option<&str>) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"margin:0;padding:24px;font-family:system-ui,sans-serif;color:#111;line-height:1.5\">\
         <div style=\"max-width:600px;margin:0 auto\">\
         <div style=\"border-top:4px solid {accent};padding-top:12px;font-weight:600\"><a href=\"{url}\" style=\"color:#111;text-decoration:none\">{title}</a></div>\
         <h1 style=\"font-size:20px;margin:16px 0\">{heading}</h1>{body}\
         {footer}</div></body></html>",
        title = escape_html(page.name()),
        accent = accent(page),
        url = escape_html(&page.url),
        footer = footer
            .map(|f| format!("<p style=\"margin-top:32px;font-size:13px;color:#555\">{f}</p>"))
            .unwrap_or_default(),
    )
}

/// One row of an import: an already-confirmed address and the services
/// it follows (none: all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The line of the file it came from.
    pub line: u64,
    pub email: String,
    pub services: Vec<String>,
}

/// A CSV of subscribers to import (a header row with `email` and,
/// optionally, `services`, slugs separated by spaces), or every problem
/// as (line, message). The export reads back: with `kind` and `status`
/// columns, only confirmed email rows are taken. Unknown slugs are the
/// caller's to check.
pub fn parse_import(csv_text: &str) -> Result<Vec<ImportRow>, Vec<(u64, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(err) => return Err(vec![(1, format!("not CSV: {err}"))]),
    };
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(email_at) = column("email") else {
        return Err(vec![(
            1,
            "the header row needs an `email` column".to_owned(),
        )]);
    };
    let services_at = column("services");
    let kind_at = column("kind");
    let status_at = column("status");
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                let line = err.position().map_or(0, csv::Position::line);
                problems.push((line, format!("not CSV: {err}")));
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        let other = |at: Option<usize>, want: &str| {
            at.and_then(|i| record.get(i))
                .is_some_and(|v| !v.is_empty() && v != want)
        };
        if other(kind_at, "email") || other(status_at, "confirmed") {
            continue;
        }
        let raw = record.get(email_at).unwrap_or_default();
        // The export defuses cells a spreadsheet would run (`csv_field`);
        // undo that here.
        let raw = raw
            .strip_prefix('\'')
            .filter(|r| r.starts_with(['=', '+', '-', '@']))
            .unwrap_or(raw);
        match normalize_email(raw) {
            Ok(email) => rows.push(ImportRow {
                line,
                email,
                services: services_at
                    .and_then(|i| record.get(i))
                    .unwrap_or_default()
                    .split([' ', ';', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            }),
            Err(why) => problems.push((line, format!("email {raw:?} {why}"))),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// A CSV field, quoted when it must be, and defused when a spreadsheet
/// would read it as a formula (OWASP's CSV injection advice).
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::alert::{incident_events, IncidentFacts, IncidentInfo, ServiceRef};
    use app::model::{Impact, IncidentStatus};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 14, 7, 0).unwrap()
    }

    #[test]
    fn addresses_are_checked_and_lowercased() {
        let cases = [
            (" Ada@Example.COM ", Ok("ada@example.com")),
            (
                "ada+status@mail.example.org",
                Ok("ada+status@mail.example.org"),
            ),
            ("", Err("is required")),
            ("ada", Err("is not an email address (name@example.com)")),
            ("ada@", Err("is not an email address (name@example.com)")),
            (
                "a b@example.com",
                Err("is not an email address (name@example.com)"),
            ),
            (
                "ada@localhost",
                Err("needs a domain such as example.com after the @"),
            ),
            (
                "ada@[127.0.0.1]",
                Err("needs a domain such as example.com after the @"),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_email(input).as_deref().map_err(|e| *e),
                want,
                "{input:?}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            normalize_email(&long),
            Err("must be at most 254 characters")
        );
    }

    #[test]
    fn links_verify_only_as_signed_and_until_they_expire() {
        let confirm = Link::confirm(42, at());
        let token = confirm.sign(KEY);
        assert_eq!(Link::verify(KEY, &token, at()), Ok(confirm));
        let later = at() + CONFIRM_LIFETIME;
        assert_eq!(Link::verify(KEY, &token, later), Err(LinkError::Expired));
        assert_eq!(
            Link::verify(b"another key", &token, at()),
            Err(LinkError::Forged)
        );
        // Another subscriber's id under the same tag.
        let altered = token.replacen("c42", "c43", 1);
        assert_eq!(Link::verify(KEY, &altered, at()), Err(LinkError::Forged));
        // A confirm link made into a manage link.
        let promoted = token.replacen('c', "m", 1);
        assert_eq!(Link::verify(KEY, &promoted, at()), Err(LinkError::Forged));
        let cut = &token[..token.len() - 5];
        for junk in ["", "42", "c42.0", "x42.0.AAAA", "c42.0.!!", cut] {
            assert_eq!(
                Link::verify(KEY, junk, at()),
                Err(LinkError::Malformed),
                "{junk}"
            );
        }
        let manage = Link::manage(7).sign(KEY);
        let years = at() + Duration::days(3650);
        assert_eq!(Link::verify(KEY, &manage, years), Ok(Link::manage(7)));
    }

    #[test]
    fn the_daily_mail_limit_counts_within_one_day() {
        let day = day_of(at());
        assert!(may_mail(day, day, 2));
        assert!(!may_mail(day, day, 3));
        assert!(may_mail(day + 1, day, 3));
    }

    fn event(kind: EventKind, services: &[&str]) -> AlertEvent {
        let info = IncidentInfo {
            id: 9,
            title: "Checkout <errors>".into(),
            status: if kind == EventKind::IncidentResolved {
                IncidentStatus::Resolved
            } else {
                IncidentStatus::Investigating
            },
            impact: Impact::Major,
            started_at: at(),
            resolved_at: None,
            update: Some("We are **on it**. <script>alert(1)</script>".into()),
            services: services
                .iter()
                .map(|s| ServiceRef {
                    slug: (*s).into(),
                    name: s.to_uppercase(),
                    group: None,
                })
                .collect(),
            url: None,
        };
        let opened = kind == EventKind::IncidentOpened;
        let mut events = incident_events(&IncidentFacts {
            info,
            opened,
            at: at(),
        });
        events.retain(|e| e.event == kind);
        events.remove(0)
    }

    #[test]
    fn the_audience_is_the_events_services_or_everyone() {
        assert_eq!(
            audience(&event(EventKind::IncidentOpened, &["api", "web"])),
            Some(vec!["api".into(), "web".into()])
        );
        assert_eq!(
            audience(&event(EventKind::IncidentUpdated, &[])),
            Some(vec![])
        );
        let test = crate::domain::alert::test_event(at());
        assert_eq!(audience(&test), None);
        let reminder = AlertEvent {
            reminder: Some(1),
            ..event(EventKind::IncidentOpened, &["api"])
        };
        assert_eq!(audience(&reminder), None, "reminders are for routes");
    }

    fn page() -> MailPage {
        MailPage {
            title: "Acme status".into(),
            accent: Some("#ff5500".into()),
            url: "https://status.example.com".into(),
        }
    }

    #[test]
    fn notifications_thread_per_incident_and_carry_the_list_headers() {
        let opened = notification_mail(
            &page(),
            KEY,
            5,
            100,
            &event(EventKind::IncidentOpened, &["api"]),
        );
        assert_eq!(
            opened.message_id,
            "<upbeat-incident-9.subscribers@status.example.com>"
        );
        assert_eq!(opened.in_reply_to, None);
        assert_eq!(
            opened.subject,
            "[Acme status] Incident opened: Checkout <errors>"
        );
        let resolved = notification_mail(
            &page(),
            KEY,
            5,
            101,
            &event(EventKind::IncidentResolved, &["api"]),
        );
        assert_eq!(
            resolved.message_id,
            "<upbeat-incident-9.subscribers.101@status.example.com>"
        );
        assert_eq!(
            resolved.in_reply_to.as_deref(),
            Some(opened.message_id.as_str())
        );
        let unsubscribe = opened.unsubscribe.clone().unwrap();
        assert!(
            unsubscribe.starts_with("https://status.example.com/subscribe/unsubscribe?token=m5.0.")
        );
        let token = unsubscribe.split("token=").nth(1).unwrap();
        assert_eq!(Link::verify(KEY, token, at()), Ok(Link::manage(5)));
        assert_eq!(
            opened.list_id,
            "\"Acme status\" <updates.status.example.com>"
        );
        // User text escaped, Markdown rendered and sanitised.
        assert!(
            opened.html.contains("Checkout &lt;errors&gt;"),
            "{}",
            opened.html
        );
        assert!(opened.html.contains("<strong>on it</strong>"));
        assert!(!opened.html.contains("<script"));
        assert!(opened.html.contains("#ff5500"));
        assert!(opened.text.contains("We are **on it**."));
        assert!(opened
            .text
            .contains("Unsubscribe: https://status.example.com/subscribe/unsubscribe?token=m5.0."));
        assert!(opened
            .text
            .contains("Details: https://status.example.com/incidents/9"));
    }

    #[test]
    fn the_confirmation_link_confirms_that_subscriber_for_a_day() {
        let mail = confirmation_mail(&page(), KEY, 12, 3, at());
        let token = mail
            .text
            .split("token=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .unwrap();
        assert_eq!(Link::verify(KEY, token, at()), Ok(Link::confirm(12, at())));
        assert_eq!(mail.unsubscribe, None);
        assert!(mail.html.contains("Confirm subscription"));
    }

    #[test]
    fn imports_read_the_exports_format_and_name_bad_lines() {
        let ok =
            parse_import("email,services\nAda@Example.com,api web\nbob@example.com,\n").unwrap();
        assert_eq!(
            ok,
            vec![
                ImportRow {
                    line: 2,
                    email: "ada@example.com".into(),
                    services: vec!["api".into(), "web".into()]
                },
                ImportRow {
                    line: 3,
                    email: "bob@example.com".into(),
                    services: vec![]
                },
            ]
        );
        let bad = parse_import("email\nada@example.com\nnot-an-address\n").unwrap_err();
        assert_eq!(
            bad,
            vec![(
                3,
                "email \"not-an-address\" is not an email address (name@example.com)".to_owned()
            )]
        );
        assert_eq!(parse_import("name\nada\n").unwrap_err()[0].0, 1);
        // The export's own format: other kinds and unconfirmed rows left out.
        let export = "id,kind,email,status,services\n3,webhook,https://x.example/h,confirmed,\n2,email,p@example.com,pending,\n1,email,c@example.com,confirmed,api\n";
        let rows = parse_import(export).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].line, rows[0].email.as_str()), (4, "c@example.com"));
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("ada@example.com"), "ada@example.com");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        // And back.
        let rows = parse_import(&format!("email\n{}\n", csv_field("-ada@example.com"))).unwrap();
        assert_eq!(rows[0].email, "-ada@example.com");
    }
}
