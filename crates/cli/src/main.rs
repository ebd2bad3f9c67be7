//! `userstream`: the gateway (`serve`) and the commands that drive a running one.
//!
//! Every command prints its result to stdout as one line of JSON, and on failure prints
//! `error: …` to stderr and exits with status 1 (2 for a malformed command line).

mod admin_client;
mod child_env;
mod cli;
mod commands;
mod demo;
mod http_client;
mod logging;
mod output;
mod scenario_runner;
mod serve;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use cli::{Cli, Command};
use std::future::Future;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            logging::init("info");
            serve::load_config(&args).and_then(|config| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(serve::run(config))
            })
        }
        Command::Keys(command) => client(commands::keys::run(command)),
        Command::Accounts(command) => client(commands::accounts::run(command)),
        Command::Publish(args) => client(commands::publish::run(args)),
        Command::Token(args) => client(commands::token::run(args)),
        Command::Tail(args) => client(commands::tail::run(args)),
        Command::Bench(command) => commands::bench::run(command),
        Command::Fault(args) => client(commands::fault::run(args)),
        Command::Price(args) => client(commands::simulator::price(args)),
        Command::Order(command) => client(commands::simulator::order(command)),
        Command::Play(args) => client(commands::play::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// Runs a client command on a single-threaded runtime: one request at a time needs no more.
/// Only warnings are logged by default, so stderr stays quiet unless something is off.
fn client(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    logging::init("warn");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(command)
}

/// The error and its causes on one line, like `{:#}`, but without repeating a cause that a
/// message already quotes: many library errors embed their source in their own text and also
/// return it from `source()`, which `{:#}` would print twice.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_are_not_repeated() {
        let io = std::io::Error::other("disk on fire");
        let repeated = anyhow::Error::new(io).context("cannot write: disk on fire");
        assert_eq!(describe(&repeated), "cannot write: disk on fire");
        let chained: anyhow::Result<()> = Err(anyhow::anyhow!("root")).context("outer");
        assert_eq!(describe(&chained.unwrap_err()), "outer: root");
    }
}
