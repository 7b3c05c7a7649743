//! Writes the JSON report, the source of truth of a run.

use std::path::{Path, PathBuf};

use super::Report;

/// Writes `<dir>/<run id>/report.json` and returns its path. The file is
/// written to a temporary name first, so a reader never sees half a report.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<PathBuf> {
    let run_dir = dir.join(&report.run.id);
    std::fs::create_dir_all(&run_dir)?;
    let path = run_dir.join("report.json");
    let partial = run_dir.join("report.json.partial");
    let text = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}
