//! pushproof: a load-testing and conformance harness for "secure push"
//! notification backends.
//!
//! The library holds everything the `pushproof` binary does, so tests and
//! other tools can drive a run in-process. Floors, top to bottom:
//! `cli` → `runner` → `report` → `conformance` → `device` → `target`,
//! `plane` → `client`, `profile`, `pushproof_mocks`, `metrics`. No module
//! reaches back up, except to the plain data of `report::suite` (the
//! evidence and target records every layer fills). The reference backend is
//! its own crate, `pushproof_backend`, which imports nothing of the harness
//! or the mocks.

pub mod cli;
pub mod client;
pub mod conformance;
pub mod device;
pub mod load;
pub mod metrics;
pub mod plane;
pub mod profile;
pub mod report;
pub mod runner;
pub mod target;
