//! `push` checks: the service reports in with heartbeats
//! (`/api/v1/push/{token}`); every interval this check turns the newest one
//! into a sample: its own status when it arrived within `interval + grace`,
//! down otherwise. One sample per interval keeps uptime arithmetic the same
//! as for active checks, however irregular the heartbeats are.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Probe, ProbeResult};
use crate::clock::SharedClock;
use crate::store::Store;

pub struct PushProbe {
    store: Arc<dyn Store>,
    service_id: i64,
    /// `interval + grace`.
    max_silence: Duration,
    clock: SharedClock,
}

impl PushProbe {
    pub fn new(
        store: Arc<dyn Store>,
        service_id: i64,
        max_silence: Duration,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            service_id,
            max_silence,
            clock,
        }
    }
}

#[async_trait]
impl Probe for PushProbe {
    async fn run(&self, _timeout: Duration) -> ProbeResult {
        let heartbeat = match self.store.last_heartbeat(self.service_id).await {
            Ok(heartbeat) => heartbeat,
            Err(err) => {
                tracing::warn!(error = %err, "reading the last heartbeat failed");
                return ProbeResult::down(None, "heartbeat state unavailable");
            }
        };
        let Some(heartbeat) = heartbeat else {
            return ProbeResult::down(None, "no heartbeat received yet");
        };
        let silence = (self.clock.now() - heartbeat.at)
            .to_std()
            .unwrap_or_default();
        if silence > self.max_silence {
            return ProbeResult::down(None, format!("no heartbeat for {}", human(silence)));
        }
        ProbeResult {
            outcome: heartbeat.outcome,
            latency_ms: heartbeat.latency_ms,
            error: (heartbeat.outcome != app::model::SampleOutcome::Up)
                .then_some(heartbeat.msg)
                .flatten(),
        }
    }

    /// Before one full `interval + grace` has passed there is nothing true
    /// to say about a service that has not reported yet.
    fn first_delay(&self) -> Duration {
        self.max_silence
    }
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..120 => format!("{secs}s"),
        120..7200 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}
