//! Logs: human-readable lines on stderr, so stdout stays reserved for results and the
//! listening line that scripts parse.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `RUST_LOG` filters (e.g. `RUST_LOG=userstream_server=debug`), and
/// `default` applies when it is unset or unreadable.
pub fn init(default: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text).unwrap_or_else(|error| {
            eprintln!("warning: ignoring RUST_LOG={text:?}: {error}");
            EnvFilter::new(default)
        }),
        _ => EnvFilter::new(default),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files or pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
