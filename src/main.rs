//! The `pushproof` binary: parses the command line, sets up logging, runs
//! the library and maps the result to an exit code (0 pass, 1 a check
//! failed, 2 harness or usage error).

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The gateways and the reference backend allocate on every request, from
/// many threads; mimalloc does that with less contention and time than
/// glibc's malloc (about a fifth off the mock gateways' CPU per push in
/// `cargo bench --bench gateways`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // clap prints usage errors itself and exits 2.
    let cli = pushproof::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pushproof: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(pushproof::cli::execute(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pushproof: {}", error_chain(&e));
            2
        }
    };
    std::process::exit(code);
}

/// An error and its causes on one line, each cause once: library errors
/// often repeat their source in their own message, and `{:#}` would print
/// it again (`Not a directory (os error 20): Not a directory (os error 20)`).
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}
