//! Logs: human-readable lines on standard error, warnings and errors only unless `-v` asks for
//! more; `RUST_LOG` (tracing-subscriber's syntax) overrides the level when set.

use std::io::IsTerminal;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Installs the global subscriber. `verbose` counts the `-v` flags.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    // Ignore failure: a subscriber already set means someone else owns the logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
