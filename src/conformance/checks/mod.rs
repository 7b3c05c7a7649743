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
pub mod enum_01;
pub mod enum_02;
pub mod enum_03;
pub mod enum_04;
pub mod flow_01;
pub mod http_01;
pub mod http_02;
pub mod http_03;
pub mod http_04;
pub mod id_01;
pub mod id_02;
pub mod id_03;
pub mod leak_01;
pub mod leak_02;
pub mod leak_03;
pub mod leak_04;
pub mod leak_05;
pub mod leak_06;
pub mod leak_07;
pub mod leak_08;
pub mod leak_09;
pub mod life_01;
pub mod life_02;
pub mod life_03;
pub mod life_04;
pub mod obs_02;
pub mod obs_04;
pub mod reg_01;
pub mod reg_02;
pub mod reg_03;
pub mod reg_04;
pub mod tok_01;
pub mod tok_02;
pub mod tok_03;
pub mod tok_04;
pub mod tok_05;
