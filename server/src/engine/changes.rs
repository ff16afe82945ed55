//! Admin changes → snapshot rebuilds, acknowledged.
//!
//! An API handler that changed incidents or maintenance calls
//! [`Changes::announce`]: it wakes whichever task owns the snapshot (the
//! writer on the probing replica, the follower loop elsewhere) and waits
//! until a snapshot that includes the change is published, so the very next
//! request shows it. Each announcement takes a ticket; the owner reads the
//! newest ticket before it reloads from the database and marks it applied
//! after publishing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// How long a handler waits for the rebuild before answering anyway (the
/// change is stored; the snapshot catches up on its next refresh).
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Changes {
    notify: Notify,
    /// Alert events were written: wakes the alert dispatcher.
    alerts: Notify,
    /// Alert events or subscriptions were written: wakes the subscribers'
    /// sender.
    subscribers: Notify,
    requested: AtomicU64,
    applied: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            alerts: Notify::new(),
            subscribers: Notify::new(),
            requested: AtomicU64::new(0),
            applied: watch::Sender::new(0),
        }
    }
}

impl Changes {
    /// Announces a stored change and waits (at most [`ANNOUNCE_WAIT`]) for
    /// a snapshot that includes it. Returns whether it arrived in time.
    pub async fn announce(&self) -> bool {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut applied = self.applied.subscribe();
        self.notify.notify_one();
        // Admin changes to incidents write alert events.
        self.alerts.notify_one();
        self.subscribers.notify_one();
        tokio::time::timeout(ANNOUNCE_WAIT, applied.wait_for(|a| *a >= ticket))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves when a change was announced.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Says alert events were written (the writer, after a round with
    /// status changes).
    pub fn alerts_written(&self) {
        self.alerts.notify_one();
        self.subscribers.notify_one();
    }

    /// Says a subscription queued a mail.
    pub fn subscribers_written(&self) {
        self.subscribers.notify_one();
    }

    /// Resolves when events or subscriber mails were written since the
    /// last call.
    pub async fn subscribers_notified(&self) {
        self.subscribers.notified().await;
    }

    /// Resolves when alert events were written since the last call.
    pub async fn alerts_notified(&self) {
        self.alerts.notified().await;
    }

    /// The newest ticket; read it before reloading from the database.
    pub fn pending(&self) -> u64 {
        self.requested.load(Ordering::SeqCst)
    }

    /// Marks every ticket up to `ticket` as published.
    pub fn applied(&self, ticket: u64) {
        self.applied.send_if_modified(|a| {
            let newer = ticket > *a;
            if newer {
                *a = ticket;
            }
            newer
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn an_announcement_waits_for_its_rebuild() {
        let changes = Arc::new(Changes::default());
        let owner = Arc::clone(&changes);
        let task = tokio::spawn(async move {
            owner.notified().await;
            let ticket = owner.pending();
            owner.applied(ticket);
        });
        assert!(changes.announce().await);
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_owner_it_gives_up() {
        let changes = Changes::default();
        assert!(!changes.announce().await);
    }
}
