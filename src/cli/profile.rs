//! `pushproof profile check FILE`: validates a backend profile and names
//! the field that is wrong (exit 2), or says what it describes.

use crate::cli::stdout::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::conformance::catalogue::ALL;
use crate::profile::{Capability, Profile, Scheme};

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: ProfileCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate a profile: exit 0 and a description, or exit 2 naming the
    /// field that is wrong.
    Check {
        /// The profile (TOML).
        file: PathBuf,
    },
}

const CAPABILITIES: [Capability; 10] = [
    Capability::Signup,
    Capability::Logout,
    Capability::ShortLivedToken,
    Capability::Unregister,
    Capability::Delete,
    Capability::DisableAccount,
    Capability::PayloadTtl,
    Capability::NotifyId,
    Capability::ShortPayloadTtl,
    Capability::FetchThrottle,
];

pub fn execute(args: ProfileArgs) -> anyhow::Result<i32> {
    let ProfileCommand::Check { file } = args.command;
    let profile = Profile::load(&file)?;
    let scheme = match &profile.auth.scheme {
        Scheme::Basic { .. } => "basic",
        Scheme::Bearer { .. } => "bearer",
        Scheme::Static { .. } => "static",
    };
    outln!("profile {} is valid: {}", file.display(), profile.name);
    outln!("  auth        {scheme} (header {})", profile.auth.header);
    let platforms: Vec<String> = profile
        .platforms()
        .iter()
        .map(|p| {
            let pp = profile
                .platform(*p)
                .expect("listed platforms are described");
            format!("{p} as {:?}, id in {}", pp.name, pp.id.describe())
        })
        .collect();
    outln!("  platforms   {}", platforms.join("; "));
    for capability in CAPABILITIES {
        let state = if profile.has(capability) {
            "yes"
        } else {
            "no "
        };
        outln!(
            "  {state}         {} ({})",
            capability.what(),
            capability.key()
        );
    }
    let skipped: Vec<&str> = ALL
        .iter()
        .filter(|c| c.needs.iter().any(|n| !profile.has(*n)))
        .map(|c| c.id)
        .collect();
    if !skipped.is_empty() {
        outln!("  will SKIP   {}", skipped.join(", "));
    }
    Ok(0)
}
