//! Writes `report.json` of `pushproof run` into its report folder.

use std::path::{Path, PathBuf};

use super::Report;

/// Writes `<dir>/report.json` and returns its path. The file is written to
/// a temporary name first, so a reader never sees half a report.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.json");
    let partial = dir.join("report.json.partial");
    let text = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}
