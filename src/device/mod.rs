//! Simulated devices: each one an app install with a user, a push handle
//! from its gateway and a session with the backend.
//!
//! [`client`] speaks the backend's API, [`account`] signs users in as the
//! profile says, [`device`] is one device's life (enrol, receive, fetch,
//! verify) and [`fleet`] runs thousands of them.

pub mod account;
pub mod client;
#[allow(clippy::module_inception)]
pub mod device;
pub mod fleet;

pub use client::{BackendClient, ClientError, Credential, Reply};
pub use device::{Device, Outcome, RoundTrip};
pub use fleet::{Fleet, FleetPlan};
