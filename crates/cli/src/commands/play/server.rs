//! `play --start-server`: a `userstream serve` of its own, on ephemeral loopback ports with a
//! temporary data directory, stopped (and its directory removed) at the end.

use anyhow::{Context, bail};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Longest the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct StartedServer {
    child: Child,
    pub public_url: String,
    pub admin_url: String,
    _dir: tempfile::TempDir,
}

impl StartedServer {
    pub async fn start() -> anyhow::Result<StartedServer> {
        let exe = std::env::current_exe().context("cannot find the userstream binary")?;
        let dir = tempfile::Builder::new()
            .prefix("userstream-play-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path());
        // The server is the scenario's, not the environment's: no USERSTREAM_* setting (a
        // config file, an admin token, other addresses) reaches it.
        for name in crate::child_env::userstream_variables() {
            command.env_remove(name);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            // Faults are logged as warnings; they are the scenario's own doing.
            command.env("RUST_LOG", "error");
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().context("cannot start userstream serve")?;
        let stdout = child
            .stdout
            .take()
            .context("no stdout from userstream serve")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(START_TIMEOUT, lines.next_line()).await {
            Err(_) => bail!("userstream serve printed no listening line within 30 s"),
            Ok(Err(error)) => return Err(error).context("cannot read userstream serve's output"),
            Ok(Ok(None)) => {
                bail!("userstream serve exited before listening (see its errors above)")
            }
            Ok(Ok(Some(line))) => line,
        };
        let (public_url, admin_url) = parse_listening_line(&line)
            .with_context(|| format!("unexpected first line from userstream serve: {line:?}"))?;
        // Keep reading, so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(StartedServer {
            child,
            public_url,
            admin_url,
            _dir: dir,
        })
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) {
        // The data directory is temporary and goes with it, so nothing needs a graceful end.
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// `userstream listening on http://P (WebSocket API ws://P/ws-api/v3), admin on http://A`:
/// the public and admin base URLs.
fn parse_listening_line(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("userstream listening on ")?;
    let (public, rest) = rest.split_once(" (WebSocket API ")?;
    let (_, admin) = rest.split_once("), admin on ")?;
    Some((public.trim().to_owned(), admin.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_both_urls() {
        assert_eq!(
            parse_listening_line(
                "userstream listening on http://127.0.0.1:4001 (WebSocket API ws://127.0.0.1:4001/ws-api/v3), admin on http://127.0.0.1:4002"
            ),
            Some((
                "http://127.0.0.1:4001".into(),
                "http://127.0.0.1:4002".into()
            ))
        );
        assert_eq!(parse_listening_line("something else"), None);
    }
}
