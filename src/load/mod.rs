//! `pushproof load`: the open-model dispatch benchmark.
//!
//! Senders call the backend's send API at planned instants ([`schedule`]),
//! independent of completions ([`driver`]); the fleet takes its pushes from
//! a delivery feed on the gateways ([`plane`]), fetches and verifies the
//! content; every notification's path is kept in a [`ledger`] whose
//! counts reconcile and whose HDR histograms time each stage from the
//! planned instant. [`findmax`] steps the rate up until an [`slo`] breaks;
//! [`cpu`] charges CPU time to the backend, the mocks and the harness
//! apart; [`goose`] runs closed-model journeys beside the open model. The
//! result is a [`crate::report::load::LoadReport`] (`load.json`).

pub mod api;
pub mod cpu;
pub mod driver;
pub mod findmax;
#[cfg(feature = "goose")]
pub mod goose;
pub mod http;
pub mod ledger;
pub mod plane;
pub mod progress;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod slo;
