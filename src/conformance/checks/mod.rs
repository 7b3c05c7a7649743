//! One file per check. Each declares `pub const INFO: CheckInfo` and
//! `pub async fn run(suite: &Suite) -> Findings`, and has one line in
//! [`super::registry::REGISTRY`].

pub mod authz_01;
pub mod authz_03;
pub mod flow_01;
pub mod http_02;
pub mod leak_01;
pub mod tok_02;
