//! Response-time percentiles, read from the stored fine histograms apart
//! from the writer: every replica reads the hourly rollups of the last 24
//! hours and the daily ones of the last 90 days, 100 services at a time,
//! and publishes a [`LatencyBoard`] the snapshot builders take in before
//! their next build.
//!
//! Why not in the builder: percentiles need histograms, and a 24-hour and
//! a 30-day histogram per service kept up to date sample by sample would
//! cost more memory than every other counter of the builder. Reading them
//! costs a query per slice instead, so the figures trail the samples by up
//! to the refresh pause: [`REFRESH_EVERY`] at least, longer on pages where
//! a read takes more than 1/[`BUSY_SHARE`] of that. Only the first read
//! takes 90 days; later ones read the last 30 and keep the older, finished
//! days' figures (10,000 services with 90 days of histograms on a 2-core
//! machine: 8.8 s first, then 3.7 s a read, one every 3 minutes or so;
//! `bench/percentiles.sh`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::domain::percentiles::{latency_stats, LatencyBoard};
use crate::domain::rollup::{Resolution, Rollup};
use crate::domain::snapshot::BAR_DAYS;
use crate::store::{Store, StoreError};

/// The shortest pause between two reads.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);
/// A read takes at most one part in this many of the time.
pub const BUSY_SHARE: u32 = 50;
/// Services read per query: about 11,400 rows with their histograms
/// (some 10 MB decoded) held at once.
const SLICE: usize = 100;

/// Reads percentiles until cancelled.
pub struct LatencyRefresh {
    pub store: Arc<dyn Store>,
    pub clock: SharedClock,
    pub services: Vec<i64>,
    pub publish: watch::Sender<Arc<LatencyBoard>>,
}

impl LatencyRefresh {
    /// Reads at once, then after 1, 2, 4, … seconds up to
    /// [`REFRESH_EVERY`], so a fresh start shows percentiles within
    /// seconds of its first samples.
    pub async fn run(self, cancel: CancellationToken) {
        let mut floor = Duration::from_secs(1);
        let mut last: Option<Arc<LatencyBoard>> = None;
        loop {
            let started = Instant::now();
            let read = read_board(
                &*self.store,
                self.clock.now(),
                &self.services,
                last.as_deref(),
            )
            .await;
            match read {
                Ok(board) => {
                    let board = Arc::new(board);
                    last = Some(Arc::clone(&board));
                    self.publish.send_replace(board);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading response-time percentiles failed; will retry");
                }
            }
            let pause = floor.max(started.elapsed() * BUSY_SHARE);
            floor = (floor * 2).min(REFRESH_EVERY);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

type Rows = Vec<(DateTime<Utc>, Rollup)>;

/// Days read again at every read after the first: the 30-day window's. The
/// figures of older days, which are finished, come from the last read.
const FRESH_DAYS: i64 = 30;

/// Every service's percentiles at `now` (services without rollups are
/// left out: they have none). With the `previous` read, only the last
/// [`FRESH_DAYS`] days are read and older days are taken from it (half the
/// rows of a full read).
pub async fn read_board(
    store: &dyn Store,
    now: DateTime<Utc>,
    services: &[i64],
    previous: Option<&LatencyBoard>,
) -> Result<LatencyBoard, StoreError> {
    let mut ids = services.to_vec();
    ids.sort_unstable();
    let hours_from = Resolution::Hour.start_of(now) - TimeDelta::hours(23);
    let days_back = if previous.is_some() {
        FRESH_DAYS
    } else {
        BAR_DAYS
    };
    let days_from = Resolution::Day.start_of(now) - TimeDelta::days(days_back - 1);
    let no_rows = (Rows::new(), Rows::new());
    let mut board = LatencyBoard::with_capacity(ids.len());
    for slice in ids.chunks(SLICE) {
        let (Some(first), Some(last)) = (slice.first(), slice.last()) else {
            continue;
        };
        let mut rows: HashMap<i64, (Rows, Rows)> = HashMap::new();
        for (resolution, from) in [(Resolution::Hour, hours_from), (Resolution::Day, days_from)] {
            for (id, start, rollup) in store
                .rollups_since(resolution, from, *first..=*last, from)
                .await?
            {
                let (hourly, daily) = rows.entry(id).or_default();
                match resolution {
                    Resolution::Hour => hourly.push((start, rollup)),
                    Resolution::Day => daily.push((start, rollup)),
                }
            }
        }
        for id in slice {
            let earlier = previous.and_then(|b| b.get(id));
            let (hourly, daily) = match rows.get(id) {
                Some(read) => read,
                None if earlier.is_some() => &no_rows,
                None => continue,
            };
            let mut stats = latency_stats(
                now,
                hourly.iter().map(|(at, r)| (*at, r)),
                daily.iter().map(|(at, r)| (*at, r)),
            );
            if let Some(earlier) = earlier {
                stats.fill_older(&earlier.days, days_from.date_naive());
            }
            board.insert(*id, Arc::new(stats));
        }
    }
    Ok(board)
}
