//! `userstream serve`: configuration, the listening line, signals and graceful shutdown around
//! [`userstream_server::Server`].

use crate::cli::ServeArgs;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use userstream_server::{Config, Server, SystemClock};

/// Variables that configure the client commands. They share the `USERSTREAM_` prefix with the
/// server's settings, and the server refuses unknown settings, so a shell that exported one for
/// `userstream token` would otherwise fail to start `userstream serve`.
const CLIENT_VARIABLES: &[&str] = &[
    "USERSTREAM_URL",
    "USERSTREAM_ADMIN_URL",
    "USERSTREAM_API_KEY",
    "USERSTREAM_SECRET",
];

/// How long, after the server has stopped, sessions still get to write `serverShutdown` and
/// their close frame. The server's own grace period covers the HTTP listeners, not the
/// WebSocket sessions, which live on their own tasks and die with the runtime.
const SESSION_DRAIN: Duration = Duration::from_secs(3);
const SESSION_DRAIN_POLL: Duration = Duration::from_millis(10);

/// Removes the client commands' variables from this process's environment.
///
/// Must run before any thread exists (that is, before the tokio runtime is built): changing the
/// environment while another thread might read it is undefined behaviour on most platforms.
pub fn forget_client_variables() {
    for name in CLIENT_VARIABLES {
        if std::env::var_os(name).is_some() {
            // SAFETY: called from `main` before the runtime or any other thread is started, so
            // no other thread can be reading the environment concurrently.
            unsafe { std::env::remove_var(name) };
        }
    }
}

/// Defaults, then the TOML file, then `USERSTREAM_*` variables (all in [`Config::load`]), then
/// the flags, which win because they are the most specific thing the user typed.
pub fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(admin_listen) = args.admin_listen {
        config.admin_listen = admin_listen;
    }
    if let Some(data_dir) = &args.data_dir {
        config.data_dir = data_dir.clone();
    }
    if let Some(admin_token) = &args.admin_token {
        config.admin_token = Some(admin_token.clone()).filter(|token| !token.is_empty());
    }
    config.validate()?;
    Ok(config)
}

/// Binds, announces, serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Listen for signals before announcing the addresses: whoever reads the line may signal
    // at once, and an uncaught SIGTERM would kill the process without `serverShutdown`.
    let signals = Signals::install()?;
    if config.admin_token.is_none() && !config.admin_listen.ip().is_loopback() {
        tracing::warn!(
            admin = %config.admin_listen,
            "the admin API listens beyond loopback without an admin token; anyone who can reach it can create keys"
        );
    }
    let server = Server::bind(config, Arc::new(SystemClock)).await?;
    announce(server.public_addr(), server.admin_addr())?;
    let state = Arc::clone(server.state());
    server.run(signals.received()).await?;
    // Let the WebSocket sessions deliver `serverShutdown` and close; they unregister from the
    // hub when done.
    let drained = tokio::time::timeout(SESSION_DRAIN, async {
        while !state.hub.sessions().is_empty() {
            tokio::time::sleep(SESSION_DRAIN_POLL).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            sessions = state.hub.sessions().len(),
            "WebSocket sessions still open after the drain period; exiting anyway"
        );
    }
    tracing::info!("userstream stopped");
    Ok(())
}

/// The one line on stdout, e.g. `userstream listening on http://127.0.0.1:9443 (WebSocket API
/// ws://127.0.0.1:9443/ws-api/v3), admin on http://127.0.0.1:9444`. Scripts and tests bind
/// port 0 and parse it, so its shape is an interface: change it only with them.
pub fn listening_line(public: SocketAddr, admin: SocketAddr) -> String {
    format!(
        "userstream listening on http://{public} (WebSocket API ws://{public}/ws-api/v3), admin on http://{admin}"
    )
}

fn announce(public: SocketAddr, admin: SocketAddr) -> anyhow::Result<()> {
    let line = listening_line(public, admin);
    tracing::info!(%public, %admin, "listening");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .context("cannot write the listening line to stdout")
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM (what service managers and `kill` send).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers now, not when first polled, so no signal is missed in between.
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Completes at the first signal.
    async fn received(self) {
        #[cfg(unix)]
        {
            let Signals {
                mut interrupt,
                mut terminate,
            } = self;
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "shutting down");
        }
        #[cfg(not(unix))]
        {
            let _ = self;
            if tokio::signal::ctrl_c().await.is_err() {
                // Without a working Ctrl-C handler there is nothing to wait for but the end.
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C: shutting down");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line() {
        let public: SocketAddr = "127.0.0.1:9443".parse().unwrap();
        let admin: SocketAddr = "127.0.0.1:9444".parse().unwrap();
        assert_eq!(
            listening_line(public, admin),
            "userstream listening on http://127.0.0.1:9443 (WebSocket API ws://127.0.0.1:9443/ws-api/v3), admin on http://127.0.0.1:9444"
        );
    }
}
