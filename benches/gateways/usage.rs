//! Resource usage read from `/proc`: resident memory of the process, and CPU
//! time split between the load generator's thread and everything else (the
//! server under load), so a rate can be told apart from its cost.

use std::time::Duration;

use anyhow::Context as _;

/// `VmRSS` of this process, in bytes.
pub fn rss_bytes() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("/proc/self/status has no VmRSS line")?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("VmRSS is a number of kB")?;
    Ok(kib * 1024)
}

/// CPU time used so far by the whole process and by the calling thread.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    process: Duration,
    thread: Duration,
}

/// CPU time spent over an interval, by the server side and the generator.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSplit {
    /// Every thread but the caller's: the server under load.
    pub server: Duration,
    /// The calling thread: the load generator.
    pub generator: Duration,
}

impl CpuClock {
    /// Reads the clocks; `None` where `/proc` cannot be read. Call it from
    /// the generator's thread.
    pub fn now() -> Option<CpuClock> {
        Some(CpuClock {
            process: cpu_time("/proc/self/stat")?,
            thread: cpu_time("/proc/thread-self/stat")?,
        })
    }

    /// The CPU time spent since `earlier`.
    pub fn since(self, earlier: CpuClock) -> CpuSplit {
        let process = self.process.saturating_sub(earlier.process);
        let generator = self.thread.saturating_sub(earlier.thread);
        CpuSplit {
            server: process.saturating_sub(generator),
            generator,
        }
    }
}

/// `utime + stime` from a `stat` file. The kernel reports them in USER_HZ
/// ticks, which is 100 per second on every Linux ABI.
fn cpu_time(path: &str) -> Option<Duration> {
    const USER_HZ: u64 = 100;
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may contain spaces: fields are counted after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14, 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// The 1-minute load average: on a shared machine, how busy the other
/// processes were (the benchmark itself adds about 2).
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
