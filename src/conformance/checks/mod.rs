//! One file per check. Each declares `pub const INFO: CheckInfo` and
//! `pub async fn run(suite: &Suite) -> Findings`, and has one line in
//! [`super::registry::REGISTRY`].

pub mod authz_01;
pub mod authz_02;
pub mod authz_03;
pub mod authz_04;
pub mod authz_05;
pub mod authz_06;
pub mod authz_07;
pub mod flow_01;
pub mod http_01;
pub mod http_02;
pub mod http_03;
pub mod http_04;
pub mod leak_01;
pub mod tok_01;
pub mod tok_02;
pub mod tok_03;
pub mod tok_04;
pub mod tok_05;
