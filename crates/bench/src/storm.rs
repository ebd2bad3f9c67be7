//! The reconnect storm: every subscribed client dropped at once by a crash of the server
//! (`kill -9`), the server started again on the same ports (and, for userstream, the same data
//! directory, so the clients' listen tokens stay valid), and every client reconnecting and
//! subscribing again at once.
//!
//! Each client retries on its own: at once when its connection drops, then every 20 to 40 ms
//! while the server refuses (the same policy for every peer). What is measured is the time from
//! the kill until each client is subscribed again.

use crate::BenchError;
use crate::latency::{Latencies, Percentiles};
use crate::net::now_us;
use crate::peer::Peer;
use crate::process::{self, Placement, ServerProcess};
use crate::scenarios::{SETUP_CONCURRENCY, fetch_tokens, open_all};
use futures_util::StreamExt;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What a reconnect storm measured.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    pub scenario: &'static str,
    pub peer: &'static str,
    pub connections: usize,
    /// From the kill until the new process accepted connections.
    pub restart_ms: f64,
    /// Clients subscribed again within the time limit.
    pub resubscribed: u64,
    /// From the kill until the last client was subscribed again.
    pub all_resubscribed_ms: Option<f64>,
    /// Clients subscribed again per second, from the restart to the last one.
    pub resubscribe_per_sec: Option<f64>,
    /// Each client's time from the kill until it was subscribed again.
    pub per_client: Percentiles,
    /// Connection attempts refused or failed on the way (the server was down, or busy).
    pub failed_attempts: u64,
}

/// What the clients report as they come back, shared by all of them.
struct Tally {
    /// When the server was killed (µs); far in the future until then.
    killed_at_us: AtomicI64,
    /// Each client's time from the kill until it was subscribed again.
    back: Latencies,
    resubscribed: AtomicU64,
    /// Connection attempts refused or failed.
    failed: AtomicU64,
    /// When the last client came back (µs).
    last_back_us: AtomicI64,
}

impl Tally {
    /// Client `index` is subscribed again at `now_us`.
    fn back_at(&self, index: usize, now_us: i64) {
        let since_kill = now_us - self.killed_at_us.load(Ordering::Relaxed);
        self.back.record(index, since_kill);
        self.last_back_us.fetch_max(now_us, Ordering::Relaxed);
        self.resubscribed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The storm against `userstream serve` (this binary, `exe`), restarted on the same ports and
/// data directory.
pub async fn against_userstream(
    exe: &Path,
    connections: usize,
    limit: Duration,
) -> Result<StormReport, BenchError> {
    let dir = tempfile::tempdir()?;
    let placement = |listen, admin_listen| Placement {
        listen,
        admin_listen,
        data_dir: dir.path(),
        stderr: None,
        nats: None,
    };
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (server, public, admin) =
        process::spawn_userstream_at(exe, &placement(any, any), &[]).await?;
    let peer = Peer::userstream(public, admin, reqwest::Client::new());
    let restart = || async {
        let (server, _, _) =
            process::spawn_userstream_at(exe, &placement(public, admin), &[]).await?;
        Ok(server)
    };
    let (report, server) = reconnect_storm(&peer, server, restart, connections, limit).await?;
    server.stop().await;
    Ok(report)
}

/// The storm against nats-server, restarted on the same ports.
pub async fn against_nats(
    ping: Duration,
    connections: usize,
    limit: Duration,
) -> Result<StormReport, BenchError> {
    let (server, client, ws) = process::spawn_nats(ping).await?;
    let peer = Peer::Nats {
        client,
        ws,
        publisher: Arc::new(tokio::sync::Mutex::new(None)),
    };
    let restart = || process::spawn_nats_at(client, ws, ping);
    let (report, server) = reconnect_storm(&peer, server, restart, connections, limit).await?;
    server.stop().await;
    Ok(report)
}

/// Subscribes `connections` clients, kills `server`, starts it again with `restart`, and waits
/// up to `limit` for every client to be back.
async fn reconnect_storm<F, R>(
    peer: &Peer,
    server: ServerProcess,
    restart: R,
    connections: usize,
    limit: Duration,
) -> Result<(StormReport, ServerProcess), BenchError>
where
    R: FnOnce() -> F,
    F: Future<Output = Result<ServerProcess, BenchError>>,
{
    let accounts = peer
        .prepare_accounts(connections, SETUP_CONCURRENCY)
        .await?;
    let tokens = fetch_tokens(peer, &accounts, None).await?;
    let opened = open_all(peer, &accounts, &tokens).await?;
    let tally = Arc::new(Tally {
        killed_at_us: AtomicI64::new(i64::MAX),
        back: Latencies::new(),
        resubscribed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        last_back_us: AtomicI64::new(0),
    });
    let (stop, stopped) = watch::channel(false);
    let mut clients = JoinSet::new();
    for (index, ((mut ws, _), (account, token))) in opened
        .into_iter()
        .zip(accounts.into_iter().zip(tokens))
        .enumerate()
    {
        let (peer, tally) = (peer.clone(), Arc::clone(&tally));
        let mut stopped = stopped.clone();
        clients.spawn(async move {
            // Read (and drop) whatever comes until the connection goes.
            while let Some(Ok(_)) = ws.next().await {}
            drop(ws);
            let jitter = Duration::from_millis(20 + (index % 21) as u64);
            let mut again = loop {
                if *stopped.borrow() {
                    return;
                }
                match peer.subscribe(index, &account, token.as_deref()).await {
                    Ok((ws, _)) => break ws,
                    Err(_) => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(jitter).await;
                    }
                }
            };
            tally.back_at(index, now_us());
            // Hold the connection (reading what comes) until the measurement ends.
            tokio::select! {
                _ = async { while let Some(Ok(_)) = again.next().await {} } => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
    // Let every client settle into reading before the fault.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed_at = now_us();
    tally.killed_at_us.store(killed_at, Ordering::Relaxed);
    server.stop().await;
    let server = restart().await?;
    let restart_ms = (now_us() - killed_at) as f64 / 1000.0;
    let deadline = tokio::time::Instant::now() + limit;
    while tally.resubscribed.load(Ordering::Relaxed) < connections as u64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    let resubscribed = tally.resubscribed.load(Ordering::Relaxed);
    let all_back = resubscribed == connections as u64;
    let last = tally.last_back_us.load(Ordering::Relaxed);
    clients.shutdown().await;
    let storm_secs = (last - killed_at) as f64 / 1e6 - restart_ms / 1000.0;
    Ok((
        StormReport {
            scenario: "storm",
            peer: peer.name(),
            connections,
            restart_ms,
            resubscribed,
            all_resubscribed_ms: all_back.then(|| (last - killed_at) as f64 / 1000.0),
            resubscribe_per_sec: (all_back && storm_secs > 0.0)
                .then(|| connections as f64 / storm_secs),
            per_client: tally.back.percentiles(),
            failed_attempts: tally.failed.load(Ordering::Relaxed),
        },
        server,
    ))
}
