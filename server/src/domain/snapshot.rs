//! The in-memory status snapshot: an immutable [`PublicStatus`] swapped in
//! atomically (the engine publishes it through a `watch` channel) whenever
//! stored data changes.
//!
//! Public reads (the page, `/public/status`) only ever clone an `Arc` out of
//! the channel; they never query the database, so a burst of visitors costs
//! nothing and keeps working while the database is slow or down (the
//! snapshot then says it is `stale`).
//!
//! [`SnapshotBuilder`] is seeded from the database at start-up (newest sample,
//! hysteresis state and rollups per service, open incidents, maintenance)
//! and then fed exactly the samples and states that were committed, so the
//! snapshot always shows what the database holds.
//!
//! Rebuilds are incremental: each service's view is an `Arc` that is only
//! rebuilt when the service got data, when the hour turns (its windows
//! slide), or when incidents or maintenance change; unchanged views are
//! shared with the previous snapshot. Rollups are kept as fixed rings of
//! compact counters (24 hours, 90 days) per service.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use app::model::{
    DayBars, IncidentView, ObjectiveView, OverallStatus, PackedCounts, PageInfo, PeriodCounts,
    PublicStatus, ResponseTimes, ServiceStatus, ServiceView, Uptimes,
};
use chrono::{DateTime, TimeDelta, Utc};

use super::incident::Transition;
use super::maintenance::Schedule;
use super::percentiles::LatencyBoard;
use super::rollup::{Resolution, Rollup};
use super::sample::Sample;
use super::service::ServiceRecord;
use super::slo::{
    objective_view, Board, Budget, Events, Measure, ObjectiveKind, ServiceMeasures,
    ServiceObjectives, Tracker,
};
use super::status::{status_for, ServiceState, Thresholds};

/// Days in the bar and in the longest uptime window.
pub const BAR_DAYS: i64 = 90;
/// Incidents, resolved ones included, the snapshot keeps for history and
/// the Statuspage-compatible API.
pub const RECENT_INCIDENTS: u32 = 50;
/// Hours in the shortest uptime window.
const WINDOW_HOURS: usize = 24;
/// [`BAR_DAYS`] as a slot count.
const DAY_SLOTS: usize = BAR_DAYS.unsigned_abs() as usize;

/// The newest periods of one resolution, oldest first. The slots are
/// shared with the views built from them (the daily bars) and copied only
/// when a sample lands in a ring a live view still holds.
#[derive(Clone, Debug)]
struct Ring {
    resolution: Resolution,
    /// Start of the oldest slot.
    first: DateTime<Utc>,
    slots: Arc<[PackedCounts]>,
}

impl Ring {
    fn new(resolution: Resolution, len: usize, now: DateTime<Utc>) -> Self {
        let mut ring = Self {
            resolution,
            first: resolution.start_of(now),
            slots: vec![PackedCounts::default(); len].into(),
        };
        ring.first -= ring.step() * (ring.len() - 1);
        ring
    }

    fn step(&self) -> TimeDelta {
        match self.resolution {
            Resolution::Hour => TimeDelta::hours(1),
            Resolution::Day => TimeDelta::days(1),
        }
    }

    fn len(&self) -> i32 {
        i32::try_from(self.slots.len()).unwrap_or(i32::MAX)
    }

    fn last(&self) -> DateTime<Utc> {
        self.first + self.step() * (self.len() - 1)
    }

    /// Periods from the newest slot to the period of `at` (0 when `at`
    /// falls in the newest slot or before).
    fn behind(&self, at: DateTime<Utc>) -> usize {
        let target = self.resolution.start_of(at);
        let periods = (target - self.last()).num_seconds() / self.step().num_seconds();
        usize::try_from(periods).unwrap_or(0)
    }

    /// Moves the ring so its newest slot is the period of `at`.
    fn advance_to(&mut self, at: DateTime<Utc>) {
        let behind = self.behind(at);
        if behind == 0 {
            return;
        }
        let kept = self.slots.get(behind..).unwrap_or_default();
        let mut slots = Vec::with_capacity(self.slots.len());
        slots.extend_from_slice(kept);
        slots.resize(self.slots.len(), PackedCounts::default());
        self.slots = slots.into();
        self.first = self.resolution.start_of(at) - self.step() * (self.len() - 1);
    }

    fn index(&self, period_start: DateTime<Utc>) -> Option<usize> {
        if period_start < self.first {
            return None;
        }
        let i = (period_start - self.first).num_seconds() / self.step().num_seconds();
        usize::try_from(i).ok().filter(|i| *i < self.slots.len())
    }

    fn add(&mut self, at: DateTime<Utc>, counts: &PeriodCounts) {
        self.advance_to(at);
        if let Some(i) = self.index(self.resolution.start_of(at)) {
            Arc::make_mut(&mut self.slots)[i].add(counts);
        }
    }

    /// The counts of the period starting at `period_start` (zero outside
    /// the ring).
    fn at(&self, period_start: DateTime<Utc>) -> PeriodCounts {
        self.index(period_start)
            .and_then(|i| self.slots.get(i))
            .map(PackedCounts::unpack)
            .unwrap_or_default()
    }

    /// Sum of the newest `n` periods as seen at `now`: periods after the
    /// newest slot have no samples.
    fn newest(&self, n: usize, now: DateTime<Utc>) -> PeriodCounts {
        let n = n.saturating_sub(self.behind(now));
        let mut total = PeriodCounts::default();
        for c in self.slots.iter().rev().take(n) {
            total.add(&c.unpack());
        }
        total
    }

    /// The ring as daily bars ending on the day of `now`.
    fn bars(&self, now: DateTime<Utc>) -> DayBars {
        DayBars::counted(
            self.last().date_naive(),
            Arc::clone(&self.slots),
            self.behind(now),
        )
    }
}

pub struct SnapshotBuilder {
    page: PageInfo,
    services: Vec<ServiceRecord>,
    thresholds: HashMap<i64, Thresholds>,
    latest: HashMap<i64, Sample>,
    states: HashMap<i64, ServiceState>,
    hourly: HashMap<i64, Ring>,
    daily: HashMap<i64, Ring>,
    /// The days of a service without any: one set of empty slots for all.
    no_days: Ring,
    incidents: Vec<IncidentView>,
    recent_incidents: Vec<IncidentView>,
    /// Status an unresolved admin incident gives a service, by id.
    overrides: HashMap<i64, ServiceStatus>,
    schedule: Schedule,
    /// Services under maintenance at the last build.
    covered: HashSet<i64>,
    views: HashMap<i64, Arc<ServiceView>>,
    dirty: HashSet<i64>,
    /// Hour of the last build; when it changes every view is rebuilt.
    built_hour: Option<DateTime<Utc>>,
    stale: bool,
    /// Objectives by service, and the counts they are measured from.
    objectives: HashMap<i64, Arc<ServiceObjectives>>,
    trackers: HashMap<i64, Tracker>,
    board: Arc<Board>,
    /// Minute of the last measure of every service (windows slide).
    measured_minute: Option<i64>,
    /// Services with samples since.
    unmeasured: HashSet<i64>,
    /// Service views carry their objectives (`page.show_slo`), rebuilt
    /// when the minute turns.
    show_objectives: bool,
    built_minute: Option<i64>,
    /// Response-time percentiles, read from the stored histograms apart
    /// from the builder.
    latencies: Arc<LatencyBoard>,
}

impl SnapshotBuilder {
    /// Starts from what the database holds.
    pub fn new(
        page: PageInfo,
        services: Vec<ServiceRecord>,
        thresholds: HashMap<i64, Thresholds>,
        latest: &[Sample],
        states: &[ServiceState],
    ) -> Self {
        let mut builder = Self {
            page,
            services,
            thresholds,
            latest: HashMap::new(),
            states: HashMap::new(),
            hourly: HashMap::new(),
            daily: HashMap::new(),
            no_days: Ring::new(Resolution::Day, DAY_SLOTS, DateTime::UNIX_EPOCH),
            incidents: Vec::new(),
            recent_incidents: Vec::new(),
            overrides: HashMap::new(),
            schedule: Schedule::default(),
            covered: HashSet::new(),
            views: HashMap::new(),
            dirty: HashSet::new(),
            built_hour: None,
            stale: false,
            objectives: HashMap::new(),
            trackers: HashMap::new(),
            board: Arc::default(),
            measured_minute: None,
            unmeasured: HashSet::new(),
            show_objectives: false,
            built_minute: None,
            latencies: Arc::default(),
        };
        for sample in latest {
            builder.latest.insert(sample.service_id, sample.clone());
        }
        for state in states {
            builder.states.insert(state.service_id, *state);
        }
        builder
    }

    fn ring(&mut self, resolution: Resolution, service_id: i64, at: DateTime<Utc>) -> &mut Ring {
        let (map, len) = match resolution {
            Resolution::Hour => (&mut self.hourly, WINDOW_HOURS),
            Resolution::Day => (&mut self.daily, DAY_SLOTS),
        };
        map.entry(service_id)
            .or_insert_with(|| Ring::new(resolution, len, at))
    }

    /// Loads stored rollups (from [`crate::store::Store::rollups_since`]).
    pub fn seed_rollups(
        &mut self,
        resolution: Resolution,
        rows: Vec<(i64, DateTime<Utc>, Rollup)>,
    ) {
        for (service_id, start, rollup) in rows {
            self.ring(resolution, service_id, start)
                .add(start, &rollup.counts());
            if let Some(tracker) = self.trackers.get_mut(&service_id) {
                tracker.seed_rollup(resolution, start, &rollup);
            }
            self.dirty.insert(service_id);
        }
    }

    /// Sets the services' objectives (those without any have none); call
    /// before seeding.
    pub fn set_objectives(&mut self, objectives: &[Arc<ServiceObjectives>]) {
        self.trackers = objectives
            .iter()
            .map(|o| (o.id, Tracker::new(&o.objectives)))
            .collect();
        self.objectives = objectives.iter().map(|o| (o.id, Arc::clone(o))).collect();
        self.measured_minute = None;
    }

    /// Whether service views carry their objectives (`page.show_slo`).
    pub fn show_objectives(&mut self, show: bool) {
        self.show_objectives = show;
        self.views.clear();
    }

    /// Takes in new response-time percentiles; the views of services
    /// whose figures changed are rebuilt.
    pub fn set_latencies(&mut self, board: Arc<LatencyBoard>) {
        if Arc::ptr_eq(&self.latencies, &board) {
            return;
        }
        for (id, stats) in board.iter() {
            if self.latencies.get(id) != Some(stats) {
                self.dirty.insert(*id);
            }
        }
        self.dirty.extend(
            self.latencies
                .keys()
                .filter(|id| !board.contains_key(id))
                .copied(),
        );
        self.latencies = board;
    }

    /// The measures of a service's objectives at `now`: the burn windows
    /// from its tracker, the SLO window's base counts from the daily ring.
    fn measures_of(
        &self,
        tracker: &Tracker,
        of: &ServiceObjectives,
        now: DateTime<Utc>,
    ) -> Vec<Measure> {
        let counted = self
            .daily
            .get(&of.id)
            .map(|ring| ring.newest(of.objectives.window.days(now), now))
            .unwrap_or_default();
        let window = [
            u64::from(counted.samples()),
            u64::from(counted.down),
            u64::from(counted.latency_count),
        ];
        tracker.measure(&of.objectives, now, window)
    }

    /// A service's objectives as its page shows them at `now`: figures in
    /// words and the budget left day by day.
    fn objective_views(&self, id: i64, now: DateTime<Utc>) -> Vec<ObjectiveView> {
        let (Some(of), Some(tracker)) = (self.objectives.get(&id), self.trackers.get(&id)) else {
            return Vec::new();
        };
        let window = of.objectives.window;
        let (start, _) = window.bounds(now);
        let today = Resolution::Day.start_of(now);
        let daily = self.daily.get(&id).unwrap_or(&self.no_days);
        let measures = self.measures_of(tracker, of, now);
        let mut latency = 0;
        of.objectives
            .list
            .iter()
            .zip(measures)
            .map(|(objective, measure)| {
                let slow_index = match objective.kind {
                    ObjectiveKind::Latency { .. } => {
                        latency += 1;
                        Some(latency - 1)
                    }
                    ObjectiveKind::Availability => None,
                };
                let mut total = Events::default();
                let mut burndown = Vec::new();
                let mut day = start;
                while day <= today {
                    let c = daily.at(day);
                    let e = match slow_index {
                        None => Events {
                            good: u64::from(c.samples() - c.down.min(c.samples())),
                            bad: u64::from(c.down.min(c.samples())),
                        },
                        Some(j) => {
                            let slow = tracker.day_slow(day, j).min(u64::from(c.latency_count));
                            Events {
                                good: u64::from(c.latency_count) - slow,
                                bad: slow,
                            }
                        }
                    };
                    total.good += e.good;
                    total.bad += e.bad;
                    burndown.push(
                        Budget::of(total, objective.target)
                            .remaining_ratio()
                            .map(|r| (r * 1000.0).round().clamp(-1000.0, 1000.0) as i16),
                    );
                    day += TimeDelta::days(1);
                }
                objective_view(of, objective, &measure, now, burndown)
            })
            .collect()
    }

    /// Counts stored samples in the objectives' short windows, which the
    /// rollups are too coarse for (from
    /// [`crate::store::Store::samples_since`], the last two hours).
    pub fn seed_samples(&mut self, samples: &[Sample]) {
        for sample in samples {
            if let Some(tracker) = self.trackers.get_mut(&sample.service_id) {
                let mut sample = sample.clone();
                sample.in_maintenance = self.schedule.covers(sample.service_id, sample.taken_at);
                tracker.seed_sample(&sample);
            }
        }
    }

    /// The objectives' measures at `now`: every service's when the minute
    /// turned (the windows slide), else those with samples since.
    pub fn measure(&mut self, now: DateTime<Utc>) -> Arc<Board> {
        let minute = now.timestamp().div_euclid(60);
        let all = self.measured_minute != Some(minute);
        if !all && self.unmeasured.is_empty() {
            return Arc::clone(&self.board);
        }
        let ids: Vec<i64> = if all {
            self.trackers.keys().copied().collect()
        } else {
            self.unmeasured.iter().copied().collect()
        };
        self.measured_minute = Some(minute);
        self.unmeasured.clear();
        let measured: Vec<(i64, Arc<ServiceMeasures>)> = ids
            .into_iter()
            .filter_map(|id| {
                let (tracker, of) = (self.trackers.get(&id)?, self.objectives.get(&id)?);
                let measures = ServiceMeasures {
                    service: Arc::clone(of),
                    measures: self.measures_of(tracker, of, now).into(),
                    at: now,
                    through: self.latest.get(&id).map(|s| s.taken_at),
                };
                Some((id, Arc::new(measures)))
            })
            .collect();
        Arc::make_mut(&mut self.board).services.extend(measured);
        Arc::clone(&self.board)
    }

    /// The service states `samples` lead to, and the status changes on the
    /// way (for automatic incidents), without applying them: the caller
    /// stores samples, states and incident changes together, then calls
    /// [`Self::record`]. Samples not newer than a service's state are not
    /// applied twice.
    pub fn advance(&self, samples: &[Sample]) -> (Vec<ServiceState>, Vec<Transition>) {
        let mut ordered: Vec<&Sample> = samples.iter().collect();
        ordered.sort_by_key(|s| (s.service_id, s.taken_at));
        let mut changed: HashMap<i64, ServiceState> = HashMap::new();
        let mut transitions = Vec::new();
        for sample in ordered {
            let id = sample.service_id;
            let current = changed.get(&id).or_else(|| self.states.get(&id));
            if current.is_some_and(|state| state.updated_at >= sample.taken_at) {
                continue;
            }
            let from = current.map_or(ServiceStatus::Operational, |old| {
                self.probed_status(id, old.tracker.status, old.updated_at)
            });
            let tracker = current.map(|state| state.tracker).unwrap_or_default();
            let thresholds = self.thresholds.get(&id).copied().unwrap_or_default();
            // Maintenance samples say nothing about health: the state
            // carries over the window unchanged.
            let tracker = if sample.in_maintenance {
                tracker
            } else {
                tracker.observe(sample.outcome, thresholds)
            };
            let to = self.probed_status(id, tracker.status, sample.taken_at);
            if from != to {
                transitions.push(Transition {
                    service_id: id,
                    name: self
                        .services
                        .iter()
                        .find(|s| s.id == id)
                        .map_or_else(|| format!("service {id}"), |s| s.name.clone()),
                    from,
                    to,
                    at: sample.taken_at,
                    error: sample.error.clone(),
                });
            }
            changed.insert(
                id,
                ServiceState {
                    service_id: id,
                    tracker,
                    updated_at: sample.taken_at,
                },
            );
        }
        let mut states: Vec<ServiceState> = changed.into_values().collect();
        states.sort_by_key(|s| s.service_id);
        (states, transitions)
    }

    /// The status the probes give a service at `at`: its tracked status,
    /// or `under_maintenance` while a window covers it.
    fn probed_status(
        &self,
        service_id: i64,
        tracked: ServiceStatus,
        at: DateTime<Utc>,
    ) -> ServiceStatus {
        if self.schedule.covers(service_id, at) {
            ServiceStatus::UnderMaintenance
        } else {
            tracked
        }
    }

    /// Takes in committed samples and states, keeping the newest per service.
    pub fn record(&mut self, samples: &[Sample], states: &[ServiceState]) {
        for sample in samples {
            let newer = self
                .latest
                .get(&sample.service_id)
                .is_none_or(|known| known.taken_at < sample.taken_at);
            // A service's samples arrive in time order, so one that is not
            // newer is a duplicate the database ignored too (same second).
            if !newer {
                continue;
            }
            self.latest.insert(sample.service_id, sample.clone());
            let mut one = Rollup::default();
            one.add(sample.outcome, sample.latency_ms, sample.in_maintenance);
            let counts = one.counts();
            for resolution in [Resolution::Hour, Resolution::Day] {
                self.ring(resolution, sample.service_id, sample.taken_at)
                    .add(sample.taken_at, &counts);
            }
            if let Some(tracker) = self.trackers.get_mut(&sample.service_id) {
                tracker.record(sample);
                self.unmeasured.insert(sample.service_id);
            }
            self.dirty.insert(sample.service_id);
        }
        for state in states {
            let newer = self
                .states
                .get(&state.service_id)
                .is_none_or(|known| known.updated_at <= state.updated_at);
            if newer {
                self.states.insert(state.service_id, *state);
                self.dirty.insert(state.service_id);
            }
        }
    }

    /// Replaces the most recent incidents, resolved ones included.
    pub fn set_recent_incidents(&mut self, incidents: Vec<IncidentView>) {
        self.recent_incidents = incidents;
    }

    /// Replaces the unresolved incidents shown (and the statuses admin
    /// incidents give their services).
    pub fn set_incidents(&mut self, incidents: Vec<IncidentView>) {
        let ids: HashMap<&str, i64> = self
            .services
            .iter()
            .map(|s| (s.slug.as_str(), s.id))
            .collect();
        let mut overrides: HashMap<i64, ServiceStatus> = HashMap::new();
        for incident in incidents
            .iter()
            .filter(|i| i.created_by == app::model::CreatedBy::Admin)
        {
            for affected in &incident.services {
                if let Some(id) = ids.get(affected.slug.as_str()) {
                    let worst = overrides.entry(*id).or_insert(affected.status);
                    *worst = (*worst).max(affected.status);
                }
            }
        }
        self.dirty
            .extend(overrides.keys().chain(self.overrides.keys()).copied());
        self.overrides = overrides;
        self.incidents = incidents;
    }

    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }

    /// When each service was last sampled, as far as this builder knows.
    pub fn last_sample_times(&self) -> HashMap<i64, DateTime<Utc>> {
        self.latest
            .iter()
            .map(|(id, sample)| (*id, sample.taken_at))
            .collect()
    }

    pub const fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Marks the next snapshots as showing old data (the database failed).
    pub fn set_stale(&mut self, stale: bool) {
        self.stale = stale;
    }

    fn view(&self, s: &ServiceRecord, now: DateTime<Utc>) -> ServiceView {
        let latest = self.latest.get(&s.id);
        // A service shows a status once it has data; the state holds it.
        let tracked = latest.map(|l| {
            self.states
                .get(&s.id)
                .map_or_else(|| status_for(l.outcome), |state| state.tracker.status)
        });
        let status = if self.covered.contains(&s.id) {
            Some(ServiceStatus::UnderMaintenance)
        } else if let Some(status) = self.overrides.get(&s.id) {
            Some(*status)
        } else {
            tracked
        };
        let daily = self.daily.get(&s.id).unwrap_or(&self.no_days);
        let hourly = self
            .hourly
            .get(&s.id)
            .map(|ring| ring.newest(WINDOW_HOURS, now));
        let (d7, d30, d90) = (
            daily.newest(7, now),
            daily.newest(30, now),
            daily.newest(DAY_SLOTS, now),
        );
        let uptime = Uptimes {
            h24: hourly.and_then(|c| c.uptime()),
            d7: d7.uptime(),
            d30: d30.uptime(),
            d90: d90.uptime(),
        };
        let response_ms = ResponseTimes {
            h24: hourly.and_then(|c| c.mean_latency_ms()),
            d7: d7.mean_latency_ms(),
            d30: d30.mean_latency_ms(),
        };
        let days = daily.bars(now);
        let objectives = if self.show_objectives {
            self.objective_views(s.id, now)
        } else {
            Vec::new()
        };
        let latency = self.latencies.get(&s.id);
        ServiceView {
            objectives,
            uptime,
            response_ms,
            percentiles: latency.map(|l| l.windows).unwrap_or_default(),
            daily_percentiles: latency.map(|l| l.days.clone()).unwrap_or_default(),
            latency_chart: None,
            days,
            slug: s.slug.clone(),
            name: s.name.clone(),
            group: s.group.clone(),
            description: s.description.clone(),
            status,
            last_checked_at: latest.map(|l| l.taken_at),
            last_outcome: latest.map(|l| l.outcome),
            last_latency_ms: latest.and_then(|l| l.latency_ms),
            last_error: latest.and_then(|l| l.error.clone()),
        }
    }

    /// A new snapshot at `now`. Only services whose view changed are rebuilt.
    pub fn build(&mut self, now: DateTime<Utc>) -> PublicStatus {
        let hour = Resolution::Hour.start_of(now);
        if self.built_hour != Some(hour) {
            self.built_hour = Some(hour);
            self.views.clear();
        }
        let minute = now.timestamp().div_euclid(60);
        if self.show_objectives && self.built_minute != Some(minute) {
            self.built_minute = Some(minute);
            for id in self.objectives.keys() {
                self.views.remove(id);
            }
        }
        let covered: HashSet<i64> = self
            .services
            .iter()
            .filter(|s| self.schedule.covers(s.id, now))
            .map(|s| s.id)
            .collect();
        self.dirty
            .extend(covered.symmetric_difference(&self.covered).copied());
        self.covered = covered;
        for id in std::mem::take(&mut self.dirty) {
            self.views.remove(&id);
        }
        let mut services = Vec::with_capacity(self.services.len());
        for s in self.services.iter().filter(|s| !s.archived) {
            let view = match self.views.get(&s.id) {
                Some(view) => Arc::clone(view),
                None => {
                    let view = Arc::new(self.view(s, now));
                    self.views.insert(s.id, Arc::clone(&view));
                    view
                }
            };
            services.push(view);
        }
        let maintenances = self.schedule.views(now, |id| {
            self.services
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.slug.clone())
        });
        PublicStatus {
            page: self.page.clone(),
            generated_at: now,
            overall: OverallStatus::from_services(services.iter().map(|s| s.status)),
            services,
            incidents: self.incidents.clone(),
            recent_incidents: self.recent_incidents.clone(),
            maintenances,
            stale: self.stale,
            listing: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use app::model::{Indicator, SampleOutcome, ServiceStatus};
    use chrono::TimeZone;

    use super::*;

    fn service(id: i64, slug: &str) -> ServiceRecord {
        ServiceRecord {
            id,
            slug: slug.into(),
            name: slug.to_uppercase(),
            group: None,
            description: None,
            position: id,
            check_kind: "http".into(),
            archived: false,
        }
    }

    fn sample(service_id: i64, minute: u32, outcome: SampleOutcome) -> Sample {
        Sample {
            service_id,
            taken_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, minute, 0).unwrap(),
            outcome,
            latency_ms: Some(12),
            error: (outcome == SampleOutcome::Down).then(|| "connection refused".to_owned()),
            in_maintenance: false,
        }
    }

    /// A fixed "now" shortly after the samples.
    fn test_now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 11, 0, 0).unwrap()
    }

    fn page() -> PageInfo {
        PageInfo::titled("Status")
    }

    fn builder(services: Vec<ServiceRecord>, latest: &[Sample]) -> SnapshotBuilder {
        let thresholds = services
            .iter()
            .map(|s| (s.id, Thresholds::default()))
            .collect();
        SnapshotBuilder::new(page(), services, thresholds, latest, &[])
    }

    /// Advances and records like the writer does after a commit.
    fn commit(builder: &mut SnapshotBuilder, samples: &[Sample]) {
        let (states, _) = builder.advance(samples);
        builder.record(samples, &states);
    }

    #[test]
    fn newest_sample_wins_even_when_recorded_out_of_order() {
        let mut b = builder(vec![service(1, "api")], &[]);
        commit(&mut b, &[sample(1, 5, SampleOutcome::Down)]);
        commit(&mut b, &[sample(1, 3, SampleOutcome::Up)]);
        let snap = b.build(test_now());
        assert_eq!(snap.services[0].last_outcome, Some(SampleOutcome::Down));
        assert_eq!(
            snap.services[0].last_error.as_deref(),
            Some("connection refused")
        );
        // The older sample did not count towards the state either.
        assert_eq!(b.advance(&[sample(1, 4, SampleOutcome::Up)]).0, vec![]);
    }

    #[test]
    fn status_changes_only_after_the_failure_and_recovery_thresholds() {
        let mut b = builder(vec![service(1, "api")], &[]);
        let mut statuses = Vec::new();
        for (minute, outcome) in [
            (1, SampleOutcome::Down),
            (2, SampleOutcome::Down),
            (3, SampleOutcome::Down),
            (4, SampleOutcome::Up),
            (5, SampleOutcome::Up),
        ] {
            commit(&mut b, &[sample(1, minute, outcome)]);
            statuses.push(b.build(test_now()).services[0].status);
        }
        let o = Some(ServiceStatus::Operational);
        let m = Some(ServiceStatus::MajorOutage);
        assert_eq!(statuses, [o, o, m, m, o]);
    }

    #[test]
    fn a_batch_is_applied_in_time_order_per_service() {
        let b = builder(vec![service(1, "api"), service(2, "web")], &[]);
        // Delivered out of order, as a buffered batch may be.
        let batch = [
            sample(1, 3, SampleOutcome::Down),
            sample(2, 1, SampleOutcome::Down),
            sample(1, 1, SampleOutcome::Down),
            sample(1, 2, SampleOutcome::Down),
        ];
        let (states, transitions) = b.advance(&batch);
        assert_eq!(states.len(), 2);
        assert_eq!(states[0].tracker.status, ServiceStatus::MajorOutage);
        assert_eq!(states[0].tracker.bad_run, 3);
        assert_eq!(
            states[0].updated_at,
            sample(1, 3, SampleOutcome::Down).taken_at
        );
        assert_eq!(states[1].tracker.status, ServiceStatus::Operational);
        assert_eq!(states[1].tracker.bad_run, 1);
        // The change is dated by the sample that caused it, even in a batch.
        assert_eq!(transitions.len(), 1);
        assert_eq!(
            transitions[0].at,
            sample(1, 3, SampleOutcome::Down).taken_at
        );
        assert_eq!(transitions[0].to, ServiceStatus::MajorOutage);
        assert_eq!(transitions[0].error.as_deref(), Some("connection refused"));
    }

    #[test]
    fn services_without_samples_show_no_data_and_archived_ones_are_hidden() {
        let mut archived = service(3, "old");
        archived.archived = true;
        let mut b = builder(vec![service(1, "api"), service(2, "web"), archived], &[]);
        for minute in 1..=3 {
            commit(&mut b, &[sample(2, minute, SampleOutcome::Degraded)]);
        }
        let snap = b.build(test_now());
        let slugs: Vec<_> = snap.services.iter().map(|s| s.slug.as_str()).collect();
        assert_eq!(slugs, ["api", "web"]);
        assert_eq!(snap.services[0].status, None);
        assert_eq!(snap.services[0].last_checked_at, None);
        assert_eq!(
            snap.services[1].status,
            Some(ServiceStatus::DegradedPerformance)
        );
        assert_eq!(snap.overall.indicator, Indicator::Minor);
    }

    #[test]
    fn uptime_windows_and_daily_bars_come_from_rollups() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let mut b = builder(vec![service(1, "api"), service(2, "idle")], &[]);
        let day = |back: i64| Resolution::Day.start_of(now) - TimeDelta::days(back);
        let counts = |up: u32, down: u32| Rollup {
            up,
            down,
            ..Rollup::default()
        };
        b.seed_rollups(
            Resolution::Day,
            vec![
                (1, day(100), counts(0, 50)), // outside every window
                (1, day(60), counts(50, 50)),
                (1, day(10), counts(90, 10)),
                (1, day(0), counts(10, 0)),
            ],
        );
        b.seed_rollups(
            Resolution::Hour,
            vec![(1, Resolution::Hour.start_of(now), counts(10, 0))],
        );
        let snap = b.build(now);
        let api = &snap.services[0];
        assert_eq!(api.uptime.h24, Some(1.0));
        assert_eq!(api.uptime.d7, Some(1.0));
        assert_eq!(api.uptime.d30, Some(100.0 / 110.0));
        assert_eq!(api.uptime.d90, Some(150.0 / 210.0));
        let days: Vec<_> = api.days.iter().collect();
        assert_eq!(days.len(), 90);
        assert_eq!(days[89].date, now.date_naive());
        assert_eq!(days[89].worst, Some(SampleOutcome::Up));
        assert_eq!(days[79].uptime, Some(0.9));
        assert_eq!(days[79].worst, Some(SampleOutcome::Down));
        assert_eq!(days[0].samples, 0);
        assert_eq!(days[0].uptime, None);
        // A service without data has no uptime at all, not 0 % or 100 %.
        let idle = &snap.services[1];
        assert_eq!(idle.uptime, Uptimes::default());
        assert!(idle
            .days
            .iter()
            .all(|d| d.uptime.is_none() && d.worst.is_none()));
    }

    #[test]
    fn bars_and_windows_move_with_the_days_even_without_samples() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 30, 0).unwrap();
        let mut b = builder(vec![service(1, "api")], &[]);
        let counts = Rollup {
            up: 9,
            down: 1,
            ..Rollup::default()
        };
        b.seed_rollups(
            Resolution::Day,
            vec![(
                1,
                Resolution::Day.start_of(now) - TimeDelta::days(4),
                counts,
            )],
        );
        let at = |days: i64| now + TimeDelta::days(days);
        let on_time = b.build(now);
        // Two days on: the bars end on the new day, the counted day moved
        // two bars to the left, and the 7-day window still holds it.
        let later = b.build(at(2));
        let days: Vec<_> = later.services[0].days.iter().collect();
        assert_eq!(days.len(), 90);
        assert_eq!(days[89].date, at(2).date_naive());
        assert_eq!(days[83].date, (now - TimeDelta::days(4)).date_naive());
        assert_eq!(days[83].samples, 10);
        assert_eq!(
            on_time.services[0].days.get(85).map(|d| d.samples),
            Some(10)
        );
        assert_eq!(later.services[0].uptime.d7, Some(0.9));
        // A day further, it falls out of the 7-day window only.
        let out = b.build(at(3));
        assert_eq!(out.services[0].uptime.d7, None);
        assert_eq!(out.services[0].uptime.d30, Some(0.9));
    }

    #[test]
    fn committed_samples_update_the_rollups_in_memory() {
        let mut b = builder(vec![service(1, "api")], &[]);
        for minute in 1..=4 {
            let outcome = if minute == 4 {
                SampleOutcome::Down
            } else {
                SampleOutcome::Up
            };
            commit(&mut b, &[sample(1, minute, outcome)]);
        }
        let now = sample(1, 5, SampleOutcome::Up).taken_at;
        let api = &b.build(now).services[0];
        assert_eq!(api.uptime.h24, Some(0.75));
        assert_eq!(api.uptime.d90, Some(0.75));
        assert_eq!(api.days.get(89).map(|d| d.samples), Some(4));
    }

    #[test]
    fn pages_show_each_objective_with_its_budget_day_by_day() {
        use crate::domain::slo::{Objective, Objectives, ServiceObjectives, Window};
        let mut b = builder(vec![service(1, "api"), service(2, "web")], &[]);
        let objectives = Arc::new(ServiceObjectives {
            id: 1,
            slug: "api".into(),
            name: "API".into(),
            group: None,
            interval: std::time::Duration::from_secs(60),
            objectives: Objectives {
                window: Window::Rolling30d,
                list: vec![Objective::availability(0.99), Objective::latency(0.9, 100)],
            },
        });
        b.set_objectives(&[objectives]);
        b.show_objectives(true);
        // Three days: 100 good; 99 good and 1 down; 100 good, 20 of them
        // slower than 100 ms.
        let day = |d: i64, i: i64| {
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
                + TimeDelta::days(d)
                + TimeDelta::minutes(i)
        };
        let mut samples = Vec::new();
        for d in 0..3 {
            for i in 0..100 {
                let down = d == 1 && i == 0;
                samples.push(Sample {
                    service_id: 1,
                    taken_at: day(d, i),
                    outcome: if down {
                        SampleOutcome::Down
                    } else {
                        SampleOutcome::Up
                    },
                    latency_ms: (!down).then_some(if d == 2 && i < 20 { 150 } else { 40 }),
                    error: None,
                    in_maintenance: false,
                });
            }
        }
        commit(&mut b, &samples);
        let now = day(2, 200);
        let snapshot = b.build(now);
        let api = &snapshot.services[0];
        assert_eq!(api.objectives.len(), 2);
        let availability = &api.objectives[0];
        assert_eq!(availability.label, "99 % available");
        assert_eq!(availability.burndown.len(), 30);
        // Days 27, 28 and 29 of 30 (x = 600 i / 29).
        assert_eq!(availability.points, "558.6,10.0 579.3,35.0 600.0,26.6");
        assert!(availability.burndown[..27].iter().all(Option::is_none));
        // 1 bad of 200 against 2 allowed: half left; of 300 against 3, two thirds.
        assert_eq!(
            availability.burndown[27..],
            [Some(1000), Some(500), Some(667)]
        );
        assert_eq!(availability.achieved, "99.66 % over 30 days");
        assert_eq!(availability.budget, "66 % of the error budget left");
        assert!(availability.summary.starts_with("API: objective 99 % available. Achieved 99.66 % over 30 days. 66 % of the error budget left. Status"), "{}", availability.summary);
        // 20 slow of 299 with a latency against 29.9 allowed.
        let latency = &api.objectives[1];
        assert_eq!(latency.label, "90 % within 100 ms");
        assert_eq!(latency.burndown[29], Some(331));
        assert!(snapshot.services[1].objectives.is_empty(), "web has none");
        // Off: nothing on the page.
        b.show_objectives(false);
        assert!(b.build(now).services[0].objectives.is_empty());
    }
}
