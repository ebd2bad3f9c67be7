//! The server under test, which the soak may kill and start again: same ports, same data
//! directory (so the API keys and signing keys survive and the streams come back).

use crate::BenchError;
use crate::process::{self, Placement, ServerProcess};
use parking_lot::Mutex;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How often a restart tries to bind the old ports again.
const BIND_ATTEMPTS: u32 = 40;

pub struct SoakServer {
    exe: PathBuf,
    data_dir: tempfile::TempDir,
    log: File,
    env: Vec<(String, String)>,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    process: Mutex<Option<ServerProcess>>,
    incarnation: AtomicU32,
}

/// One look at the server process.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub incarnation: u32,
    /// `None` while the server is down.
    pub rss_bytes: Option<u64>,
    pub fds: Option<usize>,
    pub cpu: Option<Duration>,
}

impl SoakServer {
    /// Starts `userstream serve` on free loopback ports with a fresh data directory, its
    /// stderr appended to `log`.
    pub async fn start(
        exe: &Path,
        env: Vec<(String, String)>,
        log: File,
    ) -> Result<SoakServer, BenchError> {
        let data_dir = tempfile::tempdir()?;
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let (process, public, admin) = spawn(exe, data_dir.path(), (any, any), &env, &log).await?;
        Ok(SoakServer {
            exe: exe.to_owned(),
            data_dir,
            log,
            env,
            public,
            admin,
            process: Mutex::new(Some(process)),
            incarnation: AtomicU32::new(0),
        })
    }

    pub fn probe(&self) -> Probe {
        let process = self.process.lock();
        Probe {
            incarnation: self.incarnation.load(Ordering::Relaxed),
            rss_bytes: process.as_ref().and_then(ServerProcess::rss_bytes),
            fds: process.as_ref().and_then(ServerProcess::open_fds),
            cpu: process.as_ref().and_then(ServerProcess::cpu_time),
        }
    }

    /// `kill -9`: the process dies without a word to anyone.
    pub async fn kill(&self) {
        let process = self.process.lock().take();
        if let Some(process) = process {
            process.stop().await;
        }
    }

    /// Starts the server again on the same ports and data directory (a killed server's ports
    /// may take a moment to be free).
    pub async fn restart(&self) -> Result<(), BenchError> {
        let mut last_error = None;
        for _ in 0..BIND_ATTEMPTS {
            let addresses = (self.public, self.admin);
            match spawn(
                &self.exe,
                self.data_dir.path(),
                addresses,
                &self.env,
                &self.log,
            )
            .await
            {
                Ok((process, _, _)) => {
                    self.incarnation.fetch_add(1, Ordering::Relaxed);
                    *self.process.lock() = Some(process);
                    return Ok(());
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last_error.unwrap_or_else(|| BenchError("the server did not restart".into())))
    }

    /// Stops the server for good.
    pub async fn stop(&self) {
        self.kill().await;
    }
}

async fn spawn(
    exe: &Path,
    data_dir: &Path,
    (listen, admin_listen): (SocketAddr, SocketAddr),
    env: &[(String, String)],
    log: &File,
) -> Result<(ServerProcess, SocketAddr, SocketAddr), BenchError> {
    let placement = Placement {
        listen,
        admin_listen,
        data_dir,
        stderr: Some(log.try_clone()?),
        nats: None,
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    process::spawn_userstream_at(exe, &placement, &env).await
}
