//! `userstream serve`: configuration, the listening line, signals and graceful shutdown around
//! [`userstream_server::Server`].

use crate::cli::ServeArgs;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use userstream_server::{Config, Server, SystemClock};

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
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    }
    if let Some(admin_token) = &args.admin_token {
        // An empty token is refused by `validate`, not read as "no token": `--admin-token
        // "$UNSET_VARIABLE"` must not silently open the admin API.
        config.admin_token = Some(admin_token.clone());
    }
    if !args.nats.is_empty() {
        config.nats.urls = args.nats.clone();
    }
    if args.demo || args.demo_seed.is_some() {
        config.sim.demo.enabled = true;
    }
    if let Some(seed) = args.demo_seed {
        config.sim.demo.seed = seed;
    }
    // `Server::bind` validates the final settings, flags included.
    Ok(config)
}

/// Binds, announces, serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Listen for signals before announcing the addresses: whoever reads the line may signal
    // at once, and an uncaught SIGTERM would kill the process without `serverShutdown`.
    let signals = Signals::install()?;
    raise_descriptor_limit();
    let runner = crate::scenario_runner::PlayRunner::new(config.tls_cert.clone());
    let server = Server::bind(config, Arc::new(SystemClock))
        .await?
        .with_scenario_runner(Arc::new(runner));
    reload_on_hangup(server.tls())?;
    announce(
        server.public_addr(),
        server.admin_addr(),
        server.tls().is_some(),
    )?;
    if let Some(demo) = server.demo() {
        let urls = crate::demo::Urls::new(
            server.public_addr(),
            server.admin_addr(),
            server.tls().is_some(),
        );
        // The one place the demo secret appears: the user asked for it, on their terminal.
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "{}", crate::demo::instructions(demo, &urls))
            .and_then(|()| stdout.flush())
            .context("cannot write the demo instructions to stdout")?;
    }
    // The first signal starts the graceful shutdown; a second one (an impatient Ctrl-C) ends
    // the process at once.
    let (first, first_received) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut signals = signals;
        let name = signals.next().await;
        tracing::info!(
            signal = name,
            "shutting down (repeat the signal to exit at once)"
        );
        let _ = first.send(());
        let name = signals.next().await;
        tracing::warn!(
            signal = name,
            "second signal: exiting without waiting for connections"
        );
        std::process::exit(1);
    });
    // Returns once every WebSocket session has sent `serverShutdown` and closed (or the
    // server's grace period is over).
    server
        .run(async move {
            let _ = first_received.await;
        })
        .await?;
    tracing::info!("userstream stopped");
    Ok(())
}

/// Every connection holds a descriptor: take all the hard limit allows (the soft limit is often
/// 1024), and say what it came to, since the public listener's connection cap derives from it.
fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "file descriptor limit"),
        Err(error) => tracing::warn!(%error, "could not raise the file descriptor limit"),
    }
}

/// SIGHUP reads the certificate and key again; connections already open keep theirs. Without
/// TLS it is still caught (and said to do nothing), so it never ends the server unannounced.
fn reload_on_hangup(tls: Option<userstream_server::net::Tls>) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match tls.as_ref().map(|tls| tls.reload()) {
                    None => tracing::info!("SIGHUP: no TLS certificate to reload"),
                    Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Some(Err(error)) => {
                        tracing::error!(%error, "SIGHUP: TLS certificate not reloaded; the previous one stays in force")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = tls;
    Ok(())
}

/// The one line on stdout, e.g. `userstream listening on http://127.0.0.1:9443 (WebSocket API
/// ws://127.0.0.1:9443/ws-api/v3), admin on http://127.0.0.1:9444` (`https`/`wss` with TLS).
/// Scripts and tests bind port 0 and parse it, so its shape is an interface: change it only
/// with them.
pub fn listening_line(public: SocketAddr, admin: SocketAddr, tls: bool) -> String {
    let (http, ws) = if tls {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    format!(
        "userstream listening on {http}://{public} (WebSocket API {ws}://{public}/ws-api/v3), admin on {http}://{admin}"
    )
}

fn announce(public: SocketAddr, admin: SocketAddr, tls: bool) -> anyhow::Result<()> {
    let line = listening_line(public, admin, tls);
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

    /// Completes at the next signal and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                // Without a working Ctrl-C handler there is nothing to wait for but the end.
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
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
            listening_line(public, admin, false),
            "userstream listening on http://127.0.0.1:9443 (WebSocket API ws://127.0.0.1:9443/ws-api/v3), admin on http://127.0.0.1:9444"
        );
        assert_eq!(
            listening_line(public, admin, true),
            "userstream listening on https://127.0.0.1:9443 (WebSocket API wss://127.0.0.1:9443/ws-api/v3), admin on https://127.0.0.1:9444"
        );
    }
}
