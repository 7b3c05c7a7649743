//! The live progress display: on a terminal, one line rewritten four times
//! a second (offered and verified rate, p99 end to end, errors, in
//! flight); elsewhere a plain line every five seconds, so CI logs stay
//! short. Written to stderr; stdout keeps the summary.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::ledger::Ledger;
use super::schedule;

/// How the progress is shown.
#[derive(Debug, Clone)]
pub struct Progress {
    terminal: bool,
    /// Printed before each line (a find-max step, a shard).
    pub label: String,
}

impl Progress {
    /// Shown on stderr, live if it is a terminal.
    pub fn stderr(label: &str) -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            label: label.to_owned(),
        }
    }

    /// Ticks until `stop`; retires old ledger records as it goes.
    pub async fn run(self, ledger: Arc<Ledger>, rates: schedule::Profile, stop: CancellationToken) {
        let every = if self.terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        let start = ledger.start();
        let mut last = (Instant::now(), 0u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => break,
            }
            let now = Instant::now();
            ledger.retire(now);
            let p = ledger.progress();
            let elapsed = now.saturating_duration_since(start).as_secs_f64();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
            let rate = (p.verified.saturating_sub(last.1)) as f64 / dt;
            last = (now, p.verified);
            let line = format!(
                "{}{:>6.1}s  offered {:>8.0}/s  verified {:>8.0}/s  p99 {:>8.1} ms  errors {:>6}  in flight {:>6}  ({} of {} planned sent)",
                self.label,
                elapsed,
                rates.rate_at(elapsed),
                rate,
                p.p99_ms,
                p.failed,
                p.in_flight,
                p.sent,
                p.planned,
            );
            let mut err = std::io::stderr().lock();
            if self.terminal {
                let _ = write!(err, "\r\x1b[2K{line}");
            } else {
                let _ = writeln!(err, "{line}");
            }
            let _ = err.flush();
        }
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
