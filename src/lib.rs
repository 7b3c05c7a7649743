//! pushproof: a load-testing and conformance harness for "secure push"
//! notification backends.
//!
//! The library holds everything the `pushproof` binary does, so tests and
//! other tools can drive a run in-process. Floors, top to bottom:
//! `cli` → `runner` → `report` → `conformance`, `device` → `backend`,
//! `profile`, `pushproof_mocks`, `metrics`. No module reaches back up, and
//! `backend` imports nothing of the rest.

pub mod backend;
pub mod cli;
pub mod conformance;
pub mod device;
pub mod load;
pub mod metrics;
pub mod profile;
pub mod report;
pub mod runner;
