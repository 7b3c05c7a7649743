//! Writes a conformance run's truth: `index.json` and one
//! `evidence/<id>.json` per check with evidence (all of it; the index keeps
//! the first few). Files are written under a temporary name and renamed,
//! so a reader never sees half a report.

use std::path::{Path, PathBuf};

use super::suite::SuiteReport;
use crate::conformance::findings::INDEX_EVIDENCE;

/// Checks that `dir` can hold a report (creating it), before a run starts.
pub fn validate_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".pushproof-write-test");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// Writes the evidence files, trims each record's inline evidence and sets
/// its `evidence_file`, then writes `index.json`. Returns its path.
pub fn write(report: &mut SuiteReport, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let evidence_dir = dir.join("evidence");
    for record in &mut report.checks {
        if record.evidence.is_empty() {
            continue;
        }
        std::fs::create_dir_all(&evidence_dir)?;
        let name = format!("evidence/{}.json", record.id);
        let body = serde_json::json!({
            "id": record.id,
            "verdict": record.verdict,
            "summary": record.summary,
            "evidence": record.evidence,
        });
        let text = serde_json::to_vec_pretty(&body).map_err(std::io::Error::other)?;
        write_atomically(&dir.join(&name), &text)?;
        record.evidence_total = record.evidence.len();
        record.evidence.truncate(INDEX_EVIDENCE);
        record.evidence_file = Some(name);
    }
    let path = dir.join("index.json");
    let text = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    write_atomically(&path, &text)?;
    Ok(path)
}
