//! Scheduling probes.
//!
//! - Every service runs on its own interval in its own task, so a slow or
//!   hanging target only ever delays itself. Missed ticks are skipped, not
//!   burst. At start, first runs are spread so that many services do not
//!   fire in the same millisecond: over 10 s, or at 100 a second for a
//!   large config (never over more than a service's interval), so the load
//!   stays even across the interval. A leader that takes over keeps each
//!   service's cadence instead: its first run is one interval after the
//!   last stored sample (at once if that has passed), so no interval is
//!   missed beyond the takeover itself.
//! - A semaphore caps probes in flight; each probe has a hard deadline.
//! - Samples go through a channel to the [`super::writer::SampleWriter`].
//! - Shutdown: cancelling the token stops scheduling; a probe in flight
//!   finishes and its sample is still sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::domain::sample::{sample_time, Sample};
use crate::probe::{Probe, ProbeResult};

/// Extra time past a probe's own timeout before the sampler gives up on it.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// First runs are spread over at least this long (or the interval, if shorter).
const MIN_START_SPREAD: Duration = Duration::from_secs(10);
/// ... and at most this many start in a second.
const STARTS_PER_SECOND: f64 = 100.0;

/// One service, ready to be probed.
#[derive(Clone)]
pub struct ScheduledService {
    pub service_id: i64,
    pub slug: String,
    /// The check's kind (`http`, `tcp`, …), for the probe's span.
    pub kind: &'static str,
    pub interval: Duration,
    pub timeout: Duration,
    pub probe: Arc<dyn Probe>,
}

pub struct Sampler {
    services: Vec<ScheduledService>,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<Sample>,
    clock: SharedClock,
    /// When services were last sampled, to keep their cadence.
    last_sampled: HashMap<i64, DateTime<Utc>>,
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
            last_sampled: HashMap::new(),
        }
    }

    /// Continues the cadence of stored samples (a takeover): a service
    /// last sampled at `t` is first probed at `t + interval`, at once if
    /// that has passed; services never sampled take their place in the
    /// start spread.
    pub fn resume(&mut self, last_sampled: HashMap<i64, DateTime<Utc>>) {
        self.last_sampled = last_sampled;
    }

    /// How long after start `service` is first probed.
    fn first_run(&self, service: &ScheduledService, place: Duration) -> Duration {
        let Some(last) = self.last_sampled.get(&service.service_id) else {
            return place;
        };
        let interval =
            chrono::TimeDelta::from_std(service.interval).unwrap_or(chrono::TimeDelta::MAX);
        (*last + interval - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// Probes every service until `cancel` fires, then waits for probes in
    /// flight to hand over their samples.
    pub async fn run(self, cancel: CancellationToken) {
        let count = u32::try_from(self.services.len())
            .unwrap_or(u32::MAX)
            .max(1);
        let offsets: Vec<Duration> = self
            .services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                let spread = start_spread(count, service.interval);
                let place = spread * u32::try_from(i).unwrap_or(u32::MAX) / count;
                self.first_run(service, place)
            })
            .collect();
        let mut tasks = JoinSet::new();
        for (service, offset) in self.services.into_iter().zip(offsets) {
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

/// How long the first runs of `count` services at `interval` are spread
/// over: 10 s, or at 100 starts a second, but never over more than the
/// interval.
fn start_spread(count: u32, interval: Duration) -> Duration {
    let at_rate = Duration::from_secs_f64(f64::from(count) / STARTS_PER_SECOND);
    interval.min(MIN_START_SPREAD.max(at_rate))
}

async fn run_service(
    service: ScheduledService,
    offset: Duration,
    in_flight: Arc<Semaphore>,
    sink: mpsc::Sender<Sample>,
    clock: SharedClock,
    cancel: CancellationToken,
) {
    let stats = crate::metrics::ProbeStats::of(&service.slug);
    let offset = offset.max(service.probe.first_delay());
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, service.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_taken = None;
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
        let taken_at = next_stamp(clock.now(), last_taken);
        last_taken = Some(taken_at);
        let deadline = service.timeout + DEADLINE_GRACE;
        let started = Instant::now();
        // Below `info`: disabled at the call site unless traces are on.
        let span = tracing::debug_span!(
            "probe",
            otel.name = "probe",
            upbeat.service = %service.slug,
            upbeat.check.kind = service.kind,
            upbeat.outcome = tracing::field::Empty,
            upbeat.latency_ms = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let result = tokio::time::timeout(deadline, service.probe.run(service.timeout))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| {
                ProbeResult::down(
                    None,
                    format!("timed out after {}s", service.timeout.as_secs()),
                )
            });
        drop(permit);
        span.record("upbeat.outcome", result.outcome.as_str());
        if let Some(latency) = result.latency_ms {
            span.record("upbeat.latency_ms", latency);
        }
        if result.outcome == app::model::SampleOutcome::Down {
            span.record("otel.status_code", "error");
        }
        drop(span);
        stats.record(result.outcome, started.elapsed());
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

/// The stamp of a service's next sample, taken `now`: its whole second,
/// or the second after `last` when that one is taken.
///
/// A service's samples are keyed by their second, and a repeated key is
/// not stored. Ticks are at least a second apart, but a tick woken a few
/// milliseconds late and the next one on time can fall in the same
/// second; the second sample would then be lost.
fn next_stamp(now: DateTime<Utc>, last: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let at = sample_time(now);
    match last {
        Some(last) if at <= last => last + chrono::TimeDelta::seconds(1),
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;

    struct Idle;

    #[async_trait]
    impl Probe for Idle {
        async fn run(&self, _timeout: Duration) -> ProbeResult {
            ProbeResult::down(None, "not run in these tests")
        }
    }

    fn service(id: i64, interval_s: u64) -> ScheduledService {
        ScheduledService {
            service_id: id,
            kind: "http",
            slug: format!("s{id}"),
            interval: Duration::from_secs(interval_s),
            timeout: Duration::from_secs(5),
            probe: Arc::new(Idle),
        }
    }

    #[test]
    fn first_runs_spread_over_ten_seconds_or_at_a_hundred_a_second() {
        let s = Duration::from_secs;
        let cases = [
            (20, s(60), s(10)),
            (20, s(5), s(5)),
            (3000, s(60), s(30)),
            (10_000, s(60), s(60)),
            (50_000, s(300), s(300)),
            (50_000, s(60), s(60)),
        ];
        for (count, interval, expected) in cases {
            assert_eq!(
                start_spread(count, interval),
                expected,
                "{count} at {interval:?}"
            );
        }
    }

    #[test]
    fn two_ticks_in_one_second_get_two_stamps() {
        let at = |ms| {
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
                + chrono::TimeDelta::milliseconds(ms)
        };
        let first = next_stamp(at(1_004), None);
        assert_eq!(first, at(1_000), "a woken-late tick keeps its second");
        let second = next_stamp(at(1_998), Some(first));
        assert_eq!(
            second,
            at(2_000),
            "the next, on time in the same second, takes the next"
        );
        assert_eq!(
            next_stamp(at(3_001), Some(second)),
            at(3_000),
            "and the one after is on its own second again"
        );
    }

    #[test]
    fn a_takeover_keeps_each_services_cadence() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let clock: SharedClock = Arc::new(ManualClock::starting_at(now));
        let (sink, _samples) = mpsc::channel(1);
        let services = vec![service(1, 60), service(2, 60), service(3, 60)];
        let mut sampler = Sampler::new(services.clone(), 8, sink, clock);
        let place = Duration::from_secs(5);
        assert_eq!(
            sampler.first_run(&services[0], place),
            place,
            "at start: the spread"
        );
        sampler.resume(HashMap::from([
            (1, now - chrono::TimeDelta::seconds(20)),
            (2, now - chrono::TimeDelta::seconds(90)),
        ]));
        let cases = [
            (
                0,
                Duration::from_secs(40),
                "due one interval after its last sample",
            ),
            (1, Duration::ZERO, "overdue: at once"),
            (2, place, "never sampled: its place in the spread"),
        ];
        for (i, expected, why) in cases {
            assert_eq!(sampler.first_run(&services[i], place), expected, "{why}");
        }
    }
}
