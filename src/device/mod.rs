//! Simulated devices: each one an app install with a user, a push handle
//! from its gateway and a session with the backend.
//!
//! [`api`] speaks the backend's API as its profile describes it, [`device`]
//! is one device's life (enrol, receive, fetch, verify) and [`fleet`] runs
//! many of them.

pub mod api;
#[allow(clippy::module_inception)]
pub mod device;
pub mod fleet;

pub use api::{Api, StepError};
pub use device::{Context, Device, EnrollError, Outcome, RoundTrip};
pub use fleet::{EnrolFailure, Fleet, FleetPlan};
