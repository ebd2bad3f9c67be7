//! The servers under test, each in its own process so that its memory can be read apart from
//! the load generator's. They are killed when their handle is dropped.

use crate::BenchError;
use crate::floor::Stack;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Settings that lift Binance's per-IP limits, which a load generator on one host would hit at
/// once; everything else stays at its default.
pub const USERSTREAM_BENCH_ENV: &[(&str, &str)] = &[
    ("USERSTREAM_LIMITS__CONNECTIONS_PER_WINDOW", "1000000000"),
    ("USERSTREAM_NET__MAX_CONNECTIONS_PER_IP", "1000000"),
    ("USERSTREAM_LIMITS__REQUEST_WEIGHT_PER_MINUTE", "1000000000"),
    (
        "USERSTREAM_LIMITS__SAPI_UID_WEIGHT_PER_MINUTE",
        "1000000000",
    ),
    ("RUST_LOG", "warn"),
];

/// A running server process.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    _dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Resident memory, from `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_of(&self.pid.to_string())
    }

    /// CPU time (user + system) used so far, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&self.pid.to_string())
    }

    /// Open file descriptors (sockets included), counted in `/proc/<pid>/fd`.
    pub fn open_fds(&self) -> Option<usize> {
        let entries = std::fs::read_dir(format!("/proc/{}/fd", self.pid)).ok()?;
        Some(entries.count())
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Resident memory of process `pid` (`"self"`: this one), from `/proc/<pid>/status`.
pub fn rss_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) process `pid` (`"self"`: this one) has used so far, from
/// `/proc/<pid>/stat`.
pub fn cpu_time_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// `userstream serve` on ephemeral loopback ports: (process, public, admin).
pub async fn spawn_userstream(
    exe: &Path,
    extra_env: &[(&str, &str)],
) -> Result<(ServerProcess, SocketAddr, SocketAddr), BenchError> {
    spawn_loopback_node(exe, None, extra_env).await
}

/// `userstream serve` on ephemeral loopback ports with a data directory of its own, joining the
/// cluster on the NATS at `nats` when given: (process, public, admin).
async fn spawn_loopback_node(
    exe: &Path,
    nats: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Result<(ServerProcess, SocketAddr, SocketAddr), BenchError> {
    let dir = tempfile::tempdir()?;
    let placement = Placement {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path(),
        stderr: None,
        nats,
    };
    let (mut process, public, admin) = spawn_userstream_at(exe, &placement, extra_env).await?;
    process._dir = Some(dir);
    Ok((process, public, admin))
}

/// A cluster on this host: one `nats-server` with JetStream and `userstream serve --nats`
/// nodes on it, each on ephemeral loopback ports.
pub struct Cluster {
    pub broker: ServerProcess,
    /// Each node with its public and admin addresses, in the order they were started.
    pub nodes: Vec<(ServerProcess, SocketAddr, SocketAddr)>,
}

impl Cluster {
    /// Kills every node, then the NATS server.
    pub async fn stop(self) {
        for (node, _, _) in self.nodes {
            node.stop().await;
        }
        self.broker.stop().await;
    }
}

/// `nodes` userstream nodes on a fresh `nats-server` with JetStream. They start one after the
/// other, so that the first creates the KV bucket and its signing key and the others find them.
pub async fn spawn_cluster(
    exe: &Path,
    nodes: usize,
    extra_env: &[(&str, &str)],
) -> Result<Cluster, BenchError> {
    let (broker, client) = spawn_nats_jetstream().await?;
    let url = format!("nats://{client}");
    let mut cluster = Cluster {
        broker,
        nodes: Vec::with_capacity(nodes),
    };
    for _ in 0..nodes {
        match spawn_loopback_node(exe, Some(&url), extra_env).await {
            Ok(node) => cluster.nodes.push(node),
            Err(error) => {
                cluster.stop().await;
                return Err(error);
            }
        }
    }
    Ok(cluster)
}

/// Where a `userstream serve` runs: its listeners, its data directory, and where its logs go
/// (`None`: this process's stderr). A restart with the same placement finds the same keys.
pub struct Placement<'a> {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: &'a Path,
    pub stderr: Option<std::fs::File>,
    /// The NATS servers of the cluster it joins (`serve --nats`); `None`: embedded mode.
    pub nats: Option<&'a str>,
}

/// `userstream serve` at `placement`: (process, public, admin).
pub async fn spawn_userstream_at(
    exe: &Path,
    placement: &Placement<'_>,
    extra_env: &[(&str, &str)],
) -> Result<(ServerProcess, SocketAddr, SocketAddr), BenchError> {
    let mut command = Command::new(exe);
    command
        .arg("serve")
        .arg("--listen")
        .arg(placement.listen.to_string())
        .arg("--admin-listen")
        .arg(placement.admin_listen.to_string())
        .arg("--data-dir")
        .arg(placement.data_dir)
        .envs(USERSTREAM_BENCH_ENV.iter().copied())
        .envs(extra_env.iter().copied());
    if let Some(nats) = placement.nats {
        command.arg("--nats").arg(nats);
    }
    if let Some(log) = &placement.stderr {
        command.stderr(log.try_clone()?);
    } else {
        command.stderr(Stdio::inherit());
    }
    let (process, line) = spawn_and_read_line(command, None).await?;
    // `userstream listening on http://P (WebSocket API ws://P/ws-api/v3), admin on http://A`
    let parse = || -> Option<(SocketAddr, SocketAddr)> {
        let rest = line.strip_prefix("userstream listening on http://")?;
        let (public, rest) = rest.split_once(' ')?;
        let admin = rest.rsplit_once("admin on http://")?.1;
        Some((public.parse().ok()?, admin.trim().parse().ok()?))
    };
    let (public, admin) = parse().ok_or_else(|| BenchError(format!("unexpected line: {line}")))?;
    Ok((process, public, admin))
}

/// The floor server (`userstream bench floor`) on an ephemeral port.
pub async fn spawn_floor(
    exe: &Path,
    stack: Stack,
) -> Result<(ServerProcess, SocketAddr), BenchError> {
    let mut command = Command::new(exe);
    command.args([
        "bench",
        "floor",
        "--listen",
        "127.0.0.1:0",
        "--stack",
        stack.name(),
    ]);
    let (process, line) = spawn_and_read_line(command, None).await?;
    let addr = line
        .strip_prefix("floor listening on http://")
        .and_then(|addr| addr.trim().parse().ok())
        .ok_or_else(|| BenchError(format!("unexpected line: {line}")))?;
    Ok((process, addr))
}

/// `nats-server` with a WebSocket listener on free ports, pinging every `ping`: (process,
/// client port, WebSocket port).
pub async fn spawn_nats(
    ping: Duration,
) -> Result<(ServerProcess, SocketAddr, SocketAddr), BenchError> {
    let (client, ws) = (free_port()?, free_port()?);
    let process = spawn_nats_at(client, ws, ping).await?;
    Ok((process, client, ws))
}

/// `nats-server` on these ports (a restart after a kill takes the same ones).
pub async fn spawn_nats_at(
    client: SocketAddr,
    ws: SocketAddr,
    ping: Duration,
) -> Result<ServerProcess, BenchError> {
    let dir = tempfile::tempdir()?;
    let config = format!(
        "listen: \"{client}\"\nmax_payload: 1048576\nping_interval: \"{}ms\"\nwebsocket {{\n  listen: \"{ws}\"\n  no_tls: true\n  compression: false\n}}\n",
        ping.as_millis()
    );
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, config)?;
    let mut command = Command::new("nats-server");
    command.arg("-c").arg(&path);
    spawn_until_listening(
        command,
        dir,
        &[client, ws],
        "nats-server (apt-get install -y nats-server)",
    )
    .await
}

/// `nats-server` with JetStream (storage in a temporary directory) on free loopback ports,
/// for a cluster of userstream nodes: (process, client address). Returns once its monitoring
/// `/healthz` says JetStream is ready.
pub async fn spawn_nats_jetstream() -> Result<(ServerProcess, SocketAddr), BenchError> {
    let dir = tempfile::tempdir()?;
    let (client, monitor) = (free_port()?, free_port()?);
    let store = dir.path().join("jetstream");
    let config = format!(
        "server_name: \"bench\"\nlisten: \"{client}\"\nhttp: \"{monitor}\"\njetstream {{\n  store_dir: {store:?}\n}}\n"
    );
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, config)?;
    let mut command = Command::new("nats-server");
    command.arg("-c").arg(&path);
    let process = spawn_until_listening(
        command,
        dir,
        &[client, monitor],
        "nats-server (apt-get install -y nats-server)",
    )
    .await?;
    let http = reqwest::Client::new();
    let healthz = format!("http://{monitor}/healthz");
    for _ in 0..400 {
        if let Ok(answer) = http.get(&healthz).send().await
            && answer.status().is_success()
        {
            return Ok((process, client));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(BenchError(
        "nats-server's JetStream was not ready in 10 s".into(),
    ))
}

/// Sockudo (built by `scripts/bench.sh` when asked) with one app and its limits lifted:
/// (process, address).
pub async fn spawn_sockudo(
    binary: &Path,
    app: &crate::pusher::PusherApp,
) -> Result<(ServerProcess, SocketAddr), BenchError> {
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let config = format!(
        r#"port = {port}
host = "127.0.0.1"
debug = false

[app_manager]
driver = "memory"

[app_manager.array]
[[app_manager.array.apps]]
id = "{id}"
key = "{key}"
secret = "{secret}"
enabled = true
enable_client_messages = false
max_connections = 1000000

[rate_limiter]
enabled = false

[metrics]
enabled = false
"#,
        port = addr.port(),
        id = app.id,
        key = app.key,
        secret = app.secret,
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config)?;
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(&path)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn");
    let process = spawn_until_listening(command, dir, &[addr], "sockudo").await?;
    Ok((process, addr))
}

/// Starts a server that prints nothing useful and waits until it accepts on every address.
async fn spawn_until_listening(
    mut command: Command,
    dir: tempfile::TempDir,
    addrs: &[SocketAddr],
    name: &str,
) -> Result<ServerProcess, BenchError> {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| BenchError(format!("cannot start {name}: {error}")))?;
    let pid = child.id().unwrap_or(0);
    let process = ServerProcess {
        child,
        pid,
        _dir: Some(dir),
    };
    for _ in 0..400 {
        let mut listening = true;
        for addr in addrs {
            listening &= tokio::net::TcpStream::connect(addr).await.is_ok();
        }
        if listening {
            return Ok(process);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(BenchError(format!(
        "{name} did not start listening in 10 s"
    )))
}

fn free_port() -> Result<SocketAddr, BenchError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

async fn spawn_and_read_line(
    mut command: Command,
    dir: Option<tempfile::TempDir>,
) -> Result<(ServerProcess, String), BenchError> {
    let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| BenchError("the server printed no listening line in 30 s".into()))??
        .ok_or_else(|| BenchError("the server exited before listening".into()))?;
    // Keep reading so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let pid = child.id().unwrap_or(0);
    Ok((
        ServerProcess {
            child,
            pid,
            _dir: dir,
        },
        line,
    ))
}
