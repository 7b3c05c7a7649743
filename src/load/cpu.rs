//! CPU time by component, so a saturated generator is never mistaken for a
//! slow backend.
//!
//! In this process, every component that shares it runs on threads of its
//! own with a name prefix (the embedded backend `pp-backend-*` and its
//! store `backend-store-*`, in-process gateways `pp-mocks-*`, goose
//! `pp-goose-*`); each thread's CPU time comes from
//! `/proc/self/task/<tid>/schedstat` (nanoseconds on the CPU) and is
//! charged to its component, the rest to the harness. A backend started
//! as a command is measured as its whole process tree from
//! `/proc/<pid>/stat` (user + system, including children it reaped).
//! Remote mocks report their own process's CPU over the control API.
//! Figures are the difference between a sample before and after the run.
//! Linux only: elsewhere every figure is `None`.

use std::collections::HashMap;
use std::path::Path;

/// The components CPU time is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Backend,
    Mocks,
    Goose,
    Harness,
}

/// Thread-name prefixes of the components that share this process. A
/// Linux thread name holds 15 bytes: prefixes are short.
pub const BACKEND_PREFIXES: [&str; 2] = ["pp-backend", "backend-store"];
pub const MOCKS_PREFIX: &str = "pp-mocks";
pub const GOOSE_PREFIX: &str = "pp-goose";

/// The component a thread of this process belongs to, by its name.
pub fn component_of(thread: &str) -> Component {
    if BACKEND_PREFIXES.iter().any(|p| thread.starts_with(p)) {
        Component::Backend
    } else if thread.starts_with(MOCKS_PREFIX) {
        Component::Mocks
    } else if thread.starts_with(GOOSE_PREFIX) {
        Component::Goose
    } else {
        Component::Harness
    }
}

/// CPU nanoseconds per live thread of this process, by thread id.
#[derive(Debug, Clone, Default)]
pub struct ThreadSample {
    threads: HashMap<u32, (Component, u64)>,
}

impl ThreadSample {
    /// Reads every thread of this process; empty where `/proc` is absent.
    pub fn now() -> ThreadSample {
        let mut threads = HashMap::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return ThreadSample { threads };
        };
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if let Some(ns) = thread_cpu_ns(&path) {
                threads.insert(tid, (component_of(name.trim_end()), ns));
            }
        }
        ThreadSample { threads }
    }

    /// Microseconds each component spent since `earlier`. A thread that
    /// started in between counts from zero; one that ended is lost (its
    /// time cannot be read any more), which only undercounts.
    pub fn since(&self, earlier: &ThreadSample) -> HashMap<Component, u64> {
        let mut spent = HashMap::new();
        for (tid, (component, ns)) in &self.threads {
            let before = earlier
                .threads
                .get(tid)
                .filter(|(c, _)| c == component)
                .map_or(0, |(_, ns)| *ns);
            *spent.entry(*component).or_insert(0) += ns.saturating_sub(before) / 1000;
        }
        spent
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

/// A thread's time on the CPU: `schedstat`'s first field, else `stat`'s
/// utime + stime in clock ticks.
fn thread_cpu_ns(dir: &Path) -> Option<u64> {
    if let Ok(text) = std::fs::read_to_string(dir.join("schedstat")) {
        if let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse().ok()) {
            return Some(ns);
        }
    }
    let (utime, stime, _, _) = stat_times(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    Some((utime + stime) * TICK_NS)
}

/// USER_HZ is 100 on every Linux ABI.
const TICK_NS: u64 = 10_000_000;

/// utime, stime, cutime, cstime of a `stat` line, in ticks.
fn stat_times(stat: &str) -> Option<(u64, u64, u64, u64)> {
    // The command name is in parentheses and may hold spaces: count the
    // fields after its closing one (state is field 3; utime is 14).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((field(11)?, field(12)?, field(13)?, field(14)?))
}

fn parent_of(stat: &str) -> Option<u32> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// CPU microseconds of process `root` and every live descendant, plus
/// what `root` reaped from children that ended.
pub fn process_tree_us(root: u32) -> Option<u64> {
    let mut stats: HashMap<u32, String> = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            stats.insert(pid, stat);
        }
    }
    let root_stat = stats.get(&root)?;
    let (u, s, cu, cs) = stat_times(root_stat)?;
    let mut ticks = u + s + cu + cs;
    let parents: HashMap<u32, u32> = stats
        .iter()
        .filter_map(|(pid, stat)| Some((*pid, parent_of(stat)?)))
        .collect();
    for (pid, stat) in &stats {
        if *pid == root {
            continue;
        }
        // Walk up to see whether `root` is an ancestor; bounded by the
        // table's size against a cycle from a pid reused mid-scan.
        let mut at = *pid;
        let mut steps = 0;
        let descends = loop {
            match parents.get(&at) {
                Some(&parent) if parent == root => break true,
                Some(&parent) if parent > 1 && steps < parents.len() => {
                    at = parent;
                    steps += 1;
                }
                _ => break false,
            }
        };
        if descends {
            if let Some((u, s, _, _)) = stat_times(stat) {
                ticks += u + s;
            }
        }
    }
    Some(ticks * (TICK_NS / 1000))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn threads_are_charged_by_name() {
        assert_eq!(component_of("pp-backend-work"), Component::Backend);
        assert_eq!(component_of("backend-store-0"), Component::Backend);
        assert_eq!(component_of("pp-mocks-worker"), Component::Mocks);
        assert_eq!(component_of("pp-goose"), Component::Goose);
        assert_eq!(component_of("tokio-runtime-w"), Component::Harness);
    }

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let line = "123 (a b) c) S 1 123 123 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 100 0 0";
        assert_eq!(stat_times(line), Some((7, 3, 2, 1)));
        assert_eq!(parent_of(line), Some(1));
    }

    #[test]
    fn a_busy_named_thread_is_measured_on_linux() {
        if !Path::new("/proc/self/task").exists() {
            return;
        }
        let before = ThreadSample::now();
        std::thread::Builder::new()
            .name("pp-mocks-test".to_owned())
            .spawn(|| {
                let started = std::time::Instant::now();
                let mut x = 0u64;
                while started.elapsed() < std::time::Duration::from_millis(30) {
                    x = x.wrapping_add(std::hint::black_box(1));
                }
                // Sampled while alive: a thread's time is gone once it ends.
                let after = ThreadSample::now();
                (x, after)
            })
            .unwrap()
            .join()
            .map(|(_, after)| {
                let spent = after.since(&before);
                assert!(
                    spent.get(&Component::Mocks).copied().unwrap_or(0) >= 10_000,
                    "{spent:?}"
                );
            })
            .unwrap();
        assert!(process_tree_us(std::process::id()).is_some());
    }
}
