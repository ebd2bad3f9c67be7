//! What goes to stdout: each result as one line of compact JSON, so output pipes straight into
//! `jq`, `grep` or a line-oriented script.

use anyhow::Context;
use serde_json::Value;
use std::io::Write;

/// Prints `value` as one line and flushes, so a reader on a pipe sees it at once.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value).context("cannot write to stdout")?;
    stdout
        .write_all(b"\n")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}
