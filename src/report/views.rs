//! The views rendered from `index.json`'s data: JUnit (`--junit FILE`),
//! SARIF (`--sarif FILE`), and, in the report directory, `summary.md` and
//! `report.html`. This is the one place they are written from.

use std::path::{Path, PathBuf};

use super::suite::SuiteReport;
use super::{html, junit, markdown, sarif};

/// Where the views go besides the report directory.
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

fn put(path: &Path, text: &str) -> Result<PathBuf, ViewError> {
    let error = |source| ViewError {
        path: path.display().to_string(),
        source,
    };
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).map_err(error)?;
    std::fs::rename(&partial, path).map_err(error)?;
    Ok(path.to_path_buf())
}

/// Writes `summary.md` and `report.html` into `dir`, and the JUnit and
/// SARIF files where asked; returns the files written.
pub fn write(
    report: &SuiteReport,
    dir: &Path,
    paths: &ViewPaths,
) -> Result<Vec<PathBuf>, ViewError> {
    let mut written = vec![
        put(&dir.join("summary.md"), &markdown::render(report))?,
        put(&dir.join("report.html"), &html::render(report))?,
    ];
    if let Some(path) = &paths.junit {
        written.push(put(path, &junit::render(report))?);
    }
    if let Some(path) = &paths.sarif {
        written.push(put(path, &sarif::render(report))?);
    }
    Ok(written)
}
