//! Flags `run` and `check` share, and their validation into a plan.

use std::time::Duration;

use clap::Args;
use pushproof_mocks::Platform;

/// How big and how hard a run is.
#[derive(Debug, Args)]
pub struct RunShape {
    /// Platforms the devices use, separated by commas or spaces.
    #[arg(long, num_args = 1.., default_values = ["apns", "fcm", "wns"], value_name = "PLATFORM")]
    pub platforms: Vec<String>,
    /// Seed for canaries and user names; a run with the same seed replays them.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds a device waits for its push (and any request for an answer).
    #[arg(long, default_value_t = 10.0, value_parser = super::positive_seconds)]
    pub timeout: f64,
}

impl RunShape {
    /// The platforms, deduplicated in order; a bad name is named.
    pub fn platforms(&self) -> anyhow::Result<Vec<Platform>> {
        let mut platforms = Vec::new();
        for word in self
            .platforms
            .iter()
            .flat_map(|p| p.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|w| !w.is_empty())
        {
            let platform: Platform = word.parse().map_err(|_| {
                anyhow::anyhow!("--platforms: {word:?} is not one of apns, fcm, wns")
            })?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        if platforms.is_empty() {
            anyhow::bail!("--platforms: name at least one of apns, fcm, wns");
        }
        Ok(platforms)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or_else(rand::random)
    }
}

/// The command line as given, for the report.
pub fn command_line() -> Vec<String> {
    std::env::args().collect()
}
