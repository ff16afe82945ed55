//! Scheduling probes.
//!
//! - Every service runs on its own interval in its own task, so a slow or
//!   hanging target only ever delays itself. Missed ticks are skipped, not
//!   burst. First runs are spread over a short window so many services do
//!   not fire in the same millisecond, and a leader that takes over probes
//!   every service within `min(interval, 10 s)`: no interval is missed
//!   beyond the takeover itself.
//! - A semaphore caps probes in flight; each probe has a hard deadline.
//! - Samples go through a channel to the [`super::writer::SampleWriter`].
//! - Shutdown: cancelling the token stops scheduling; a probe in flight
//!   finishes and its sample is still sent.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::domain::sample::{sample_time, Sample};
use crate::probe::{Probe, ProbeResult};

/// Extra time past a probe's own timeout before the sampler gives up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// First runs are spread over at most this long (or the interval, if shorter).
const MAX_START_SPREAD: Duration = Duration::from_secs(10);

/// One service, ready to be probed.
#[derive(Clone)]
pub struct ScheduledService {
    pub service_id: i64,
    pub slug: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub probe: Arc<dyn Probe>,
}

pub struct Sampler {
    services: Vec<ScheduledService>,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<Sample>,
    clock: SharedClock,
}

impl Sampler {
    pub fn new(
        services: Vec<ScheduledService>,
        max_in_flight: usize,
        sink: mpsc::Sender<Sample>,
        clock: SharedClock,
    ) -> Self {
        Self {
            services,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            sink,
            clock,
        }
    }

    /// Probes every service until `cancel` fires, then waits for probes in
    /// flight to hand over their samples.
    pub async fn run(self, cancel: CancellationToken) {
        let count = u32::try_from(self.services.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut tasks = JoinSet::new();
        for (i, service) in self.services.into_iter().enumerate() {
            let spread = service.interval.min(MAX_START_SPREAD);
            let offset = spread * u32::try_from(i).unwrap_or(u32::MAX) / count;
            tasks.spawn(run_service(
                service,
                offset,
                Arc::clone(&self.in_flight),
                self.sink.clone(),
                Arc::clone(&self.clock),
                cancel.clone(),
            ));
        }
        drop(self.sink);
        while tasks.join_next().await.is_some() {}
    }
}

async fn run_service(
    service: ScheduledService,
    offset: Duration,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<Sample>,
    clock: SharedClock,
    cancel: CancellationToken,
) {
    let offset = offset.max(service.probe.first_delay());
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, service.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            permit = in_flight.acquire() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let taken_at = sample_time(clock.now());
        let deadline = service.timeout + DEADLINE_GRACE;
        let started = Instant::now();
        let result = tokio::time::timeout(deadline, service.probe.run(service.timeout))
            .await
            .unwrap_or_else(|_| {
                ProbeResult::down(
                    None,
                    format!("timed out after {}s", service.timeout.as_secs()),
                )
            });
        drop(permit);
        crate::metrics::probe_finished(&service.slug, result.outcome, started.elapsed());
        tracing::debug!(
            service.slug = %service.slug,
            outcome = result.outcome.as_str(),
            latency_ms = result.latency_ms,
            "probe finished"
        );
        let sample = Sample {
            service_id: service.service_id,
            taken_at,
            outcome: result.outcome,
            latency_ms: result.latency_ms,
            error: result.error,
            // The writer knows the maintenance schedule.
            in_maintenance: false,
        };
        if sink.send(sample).await.is_err() {
            return;
        }
    }
}
