//! What the bench examples share (each example is its own crate root, so
//! they include this module by path).

#![allow(dead_code, reason = "each example uses part of it")]

use std::path::PathBuf;
use std::sync::Arc;

use upbeat::clock::{Clock, SystemClock};
use upbeat::domain::service::{ServiceDef, ServiceRecord};
use upbeat::store::{self, Store};

/// This process's resident memory, in MiB.
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A fresh SQLite database in a temporary directory, migrated, with
/// `services` HTTP services `svc-0`, `svc-1`, ….
pub struct Seeded {
    /// Removed when dropped.
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub url: String,
    pub store: Arc<dyn Store>,
    pub records: Vec<ServiceRecord>,
}

pub async fn sqlite_with_services(services: usize) -> anyhow::Result<Seeded> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let url = format!("sqlite://{}", path.display());
    let store = store::connect(&url, 1).await?;
    let defs: Vec<ServiceDef> = (0..services)
        .map(|i| ServiceDef {
            slug: format!("svc-{i}"),
            name: format!("Service {i}"),
            group: None,
            description: None,
            check_kind: "http".into(),
        })
        .collect();
    let records = store.sync_services(&defs, SystemClock.now()).await?;
    Ok(Seeded {
        dir,
        path,
        url,
        store,
        records,
    })
}
