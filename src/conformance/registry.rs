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
];

/// A check's entry by id.
pub fn entry(id: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.info.id == id)
}
