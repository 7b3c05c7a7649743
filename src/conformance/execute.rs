//! Runs the selected checks of the catalogue against a prepared suite,
//! concurrently (bounded), and returns one record per catalogue entry in
//! catalogue order: judged, skipped by selection, or skipped for a
//! capability the profile does not declare.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::context::Suite;
use super::findings::{judge, not_run, skipped};
use super::registry::REGISTRY;
use super::select::Selection;
use crate::report::suite::CheckRecord;

/// Checks running at once: enough to overlap their waits, few enough not
/// to drown a small backend.
pub const DEFAULT_PARALLEL: usize = 8;

/// Runs the checks `selection` picks; `progress` is told of each record as
/// it is decided.
pub async fn run(
    suite: Arc<Suite>,
    selection: &Selection,
    parallel: usize,
    progress: &(dyn Fn(&CheckRecord) + Sync),
) -> Vec<CheckRecord> {
    let mut records: Vec<Option<CheckRecord>> = vec![None; REGISTRY.len()];
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = JoinSet::new();
    for (i, entry) in REGISTRY.iter().enumerate() {
        let info = entry.info;
        if let Some(reason) = selection.excludes(info.id) {
            let record = skipped(info, reason, None);
            progress(&record);
            records[i] = Some(record);
            continue;
        }
        if let Some(missing) = info.needs.iter().find(|c| !suite.profile().has(**c)) {
            let record = skipped(
                info,
                format!("the profile does not declare {}", missing.what()),
                Some(missing.key().to_owned()),
            );
            progress(&record);
            records[i] = Some(record);
            continue;
        }
        let (suite, permits, run) = (suite.clone(), permits.clone(), entry.run);
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let started = Instant::now();
            let findings = run(&suite).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            (i, judge(info, findings, ms))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, record)) => {
                progress(&record);
                records[i] = Some(record);
            }
            Err(e) => tracing::error!(error = %e, "a check task failed"),
        }
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            record.unwrap_or_else(|| {
                let mut r = not_run(REGISTRY[i].info, "the check's task failed (a harness bug)");
                r.verdict = crate::conformance::Verdict::Error;
                r
            })
        })
        .collect()
}

/// Every selected check's record when the backend could not be tested at
/// all (it would not start): FAIL, saying why.
pub fn all_not_run(selection: &Selection, why: &str) -> Vec<CheckRecord> {
    REGISTRY
        .iter()
        .map(|entry| match selection.excludes(entry.info.id) {
            Some(reason) => skipped(entry.info, reason, None),
            None => not_run(entry.info, why),
        })
        .collect()
}
