//! The registry: every check the suite runs, in report order. Adding a
//! check is one file under `checks/` (its `INFO` and `async fn run`) and
//! one line here; [`super::catalogue::ALL`] is built from this list.

use std::future::Future;
use std::pin::Pin;

use super::checks;
use super::context::Suite;
use super::findings::Findings;
use super::CheckInfo;

/// A check's run, boxed so the registry can hold every check's.
pub type Run = for<'a> fn(&'a Suite) -> Pin<Box<dyn Future<Output = Findings> + Send + 'a>>;

/// One registered check.
#[derive(Clone, Copy)]
pub struct Entry {
    pub info: &'static CheckInfo,
    pub run: Run,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.info.id)
    }
}

/// `check!(module)`: the entry of `checks::module` (its `INFO` and its
/// `async fn run(&Suite) -> Findings`).
macro_rules! check {
    ($module:ident) => {
        Entry {
            info: &checks::$module::INFO,
            run: {
                fn run(suite: &Suite) -> Pin<Box<dyn Future<Output = Findings> + Send + '_>> {
                    Box::pin(checks::$module::run(suite))
                }
                run
            },
        }
    };
}

/// Every check, in report order.
pub const REGISTRY: &[Entry] = &[
    check!(flow_01),
    check!(leak_01),
    check!(authz_01),
    check!(authz_03),
    check!(tok_02),
    check!(http_02),
    check!(authz_02),
    check!(authz_04),
    check!(authz_05),
    check!(authz_06),
    check!(authz_07),
    check!(tok_01),
    check!(tok_03),
    check!(tok_04),
    check!(tok_05),
    check!(http_01),
    check!(http_03),
    check!(http_04),
    check!(leak_02),
    check!(leak_03),
    check!(leak_04),
    check!(leak_05),
    check!(leak_06),
    check!(leak_07),
    check!(leak_08),
    check!(leak_09),
    check!(id_01),
    check!(id_02),
    check!(id_03),
    check!(obs_02),
    check!(enum_01),
    check!(enum_02),
    check!(enum_03),
    check!(enum_04),
    check!(life_01),
    check!(life_02),
    check!(life_03),
    check!(life_04),
    check!(reg_01),
    check!(reg_02),
    check!(reg_03),
    check!(reg_04),
    check!(obs_04),
];

/// A check's entry by id.
pub fn entry(id: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.info.id == id)
}
