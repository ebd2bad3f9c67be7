//! The measurements: fan-out (throughput, latency, connect+subscribe rate, token rate, memory per
//! connection), on one server or across a cluster's nodes, token issuance, and the expiry storm.
//! Each is bounded in time and count.

use crate::BenchError;
use crate::latency::{Latencies, Percentiles};
use crate::net::{Ws, now_us};
use crate::peer::{BenchAccount, Counters, HistoryUsage, Peer, WriteCounters};
use crate::process::ServerProcess;
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Requests in flight while preparing accounts and tokens.
pub(crate) const SETUP_CONCURRENCY: usize = 64;
/// Connections being opened at once.
const CONNECT_CONCURRENCY: usize = 256;

/// What a fan-out run does.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub connections: usize,
    /// Events per second to publish; `None` publishes as fast as the server takes them.
    pub rate: Option<u64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Events per publish request.
    pub batch: usize,
    /// Publish requests in flight when publishing as fast as possible.
    pub publishers: usize,
    /// How often the server under test pings each connection (`None`: it does not), for the
    /// report: a latency window must span several pings to show what they cost.
    pub ping_interval: Option<Duration>,
    /// userstream's `ws.write_coalesce_ms`, for the report.
    pub write_coalesce_ms: Option<u64>,
    /// userstream's `history.enabled`, for the report (`None` for the peers).
    pub history: Option<bool>,
}

/// What a fan-out run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub scenario: &'static str,
    /// The system measured: the peer's name, with `/positions`, `/history-off` and `/cluster`
    /// for userstream run so.
    pub peer: String,
    pub connections: usize,
    pub target_rate: Option<u64>,
    /// Events per publish request.
    pub batch: usize,
    pub warmup_secs: f64,
    pub published_per_sec: f64,
    pub delivered_per_sec: f64,
    /// Payload bytes read per delivered event (frames and protocol overhead included).
    pub bytes_per_event: Option<f64>,
    pub latency: Percentiles,
    /// `(quantile, µs)` pairs, for a plot of the whole distribution.
    pub latency_distribution: Vec<(f64, u64)>,
    pub window_secs: f64,
    pub ping_interval_secs: Option<f64>,
    pub write_coalesce_ms: Option<u64>,
    /// userstream's `history.enabled` (`None` for the peers).
    pub history: Option<bool>,
    /// Whether userstream's connections asked for stream positions (`streamPositions=true`).
    pub positions: Option<bool>,
    /// How userstream's events were published: `stream` (the kept-open connection) or `http`
    /// (a request per batch).
    pub publish_over: Option<&'static str>,
    pub tokens_per_sec: Option<f64>,
    pub connect_subscribe_per_sec: f64,
    /// Server RSS per idle subscribed connection, beyond what its account takes. Server
    /// figures are the whole system's: for a cluster, its nodes' and its NATS server's summed.
    pub rss_per_connection_bytes: Option<u64>,
    /// Server RSS per account prepared (API key, account, a token minted), before connecting.
    pub rss_per_account_bytes: Option<u64>,
    /// Server RSS growth from the connections being subscribed to the end of the window, per
    /// account: what publishing added (buffers, and the resume history when it is on).
    pub rss_growth_per_account_bytes: Option<u64>,
    /// What userstream's resume history holds at the end of the window, per account: the
    /// `userstream_history_bytes` gauge (events as JSON plus about 96 bytes each) and
    /// `userstream_history_events`, divided by the accounts published to.
    pub history_bytes_per_account: Option<u64>,
    pub history_events_per_account: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    /// Events delivered per second of server CPU time (user + system).
    pub deliveries_per_cpu_second: Option<f64>,
    /// WebSocket frames per socket write in the window (userstream only: its own counters).
    pub frames_per_write: Option<f64>,
    /// A cluster run's own figures (absent for one server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterFigures>,
}

/// What a fan-out across a cluster measured beyond the whole: each side of the publishing
/// node. Memory and CPU in the report are the whole system's (the nodes and NATS).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterFigures {
    pub nodes: usize,
    /// Subscribers on the node every publish goes through.
    pub publishing_node: NodeGroup,
    /// Subscribers on the other nodes: each event reaches them across NATS.
    pub other_nodes: NodeGroup,
    /// The NATS server's part of the system's CPU.
    pub broker_cpu_percent: Option<f64>,
    /// Times a node's bus reported possible loss in the window (each ends that node's
    /// subscriptions, so the window's figures then undercount): `userstream_bus_losses_total`.
    pub bus_losses: Option<u64>,
}

/// The subscribers on one side of a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct NodeGroup {
    pub connections: usize,
    pub delivered_per_sec: f64,
    pub latency: Percentiles,
}

/// What a fan-out drives: one server, or the nodes of a cluster and its NATS server.
pub struct Servers<'a> {
    /// Connection `i` subscribes on node `i % nodes.len()`; the first node also makes the
    /// accounts and takes every publish.
    pub nodes: Vec<(&'a Peer, &'a ServerProcess)>,
    /// A cluster's NATS server, whose memory and CPU count as the system's.
    pub broker: Option<&'a ServerProcess>,
}

impl Servers<'_> {
    fn publisher(&self) -> Result<&Peer, BenchError> {
        self.nodes
            .first()
            .map(|(peer, _)| *peer)
            .ok_or_else(|| BenchError("no server to drive".into()))
    }

    fn peers(&self) -> Vec<&Peer> {
        self.nodes.iter().map(|(peer, _)| *peer).collect()
    }

    fn processes(&self) -> impl Iterator<Item = &ServerProcess> {
        self.nodes
            .iter()
            .map(|(_, process)| *process)
            .chain(self.broker)
    }

    /// Resident memory of every process, summed (`None` if one cannot be read).
    fn rss_bytes(&self) -> Option<u64> {
        self.processes().map(ServerProcess::rss_bytes).sum()
    }

    /// CPU time of every process so far, summed.
    fn cpu_time(&self) -> Option<Duration> {
        self.processes().map(ServerProcess::cpu_time).sum()
    }

    /// Frames and writes counted by every node, summed.
    async fn write_counters(&self) -> Option<WriteCounters> {
        let mut sum = WriteCounters {
            frames: 0,
            writes: 0,
        };
        for (peer, _) in &self.nodes {
            let counters = peer.write_counters().await?;
            sum.frames += counters.frames;
            sum.writes += counters.writes;
        }
        Some(sum)
    }

    /// What every node's resume history holds, summed.
    async fn history_usage(&self) -> Option<HistoryUsage> {
        let mut sum = HistoryUsage::default();
        for (peer, _) in &self.nodes {
            let usage = peer.history_usage().await?;
            sum.bytes += usage.bytes;
            sum.events += usage.events;
        }
        Some(sum)
    }

    /// Possible losses every node's bus reported so far, summed.
    async fn bus_losses(&self) -> Option<u64> {
        let mut sum = 0;
        for (peer, _) in &self.nodes {
            sum += peer.bus_losses().await?;
        }
        Some(sum)
    }
}

/// Connections subscribed, each with its number (connection `i` is on node `i % nodes`).
struct Subscribed {
    tokens_per_sec: Option<f64>,
    connect_subscribe_per_sec: f64,
    /// The servers' RSS once their accounts and tokens were made, before the first connection.
    rss_before_connecting: Option<u64>,
    sockets: Vec<(usize, Ws)>,
}

/// A token for each account (none for the peers), `SETUP_CONCURRENCY` requests at a time.
pub(crate) async fn fetch_tokens(
    peer: &Peer,
    accounts: &[BenchAccount],
    validity_ms: Option<u64>,
) -> Result<Vec<Option<String>>, BenchError> {
    futures_util::stream::iter(accounts)
        .map(|account| peer.token(account, validity_ms))
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// How long a key made on one node of a cluster may take to work on the others.
const PROPAGATION: Duration = Duration::from_secs(5);

/// A token for each account from the node its connection goes to (account `i` on node
/// `i % peers.len()`), `SETUP_CONCURRENCY` requests at a time. On a cluster a request is
/// tried again until the key, made on the first node, has reached the asked one.
async fn fetch_tokens_spread(
    peers: &[&Peer],
    accounts: &[BenchAccount],
) -> Result<Vec<Option<String>>, BenchError> {
    match peers {
        [] => return Err(BenchError("no server to ask for tokens".into())),
        [peer] => return fetch_tokens(peer, accounts, None).await,
        _ => {}
    }
    futures_util::stream::iter(accounts.iter().enumerate())
        .map(|(index, account)| async move {
            let peer = peers[index % peers.len()];
            let started = Instant::now();
            loop {
                match peer.token(account, None).await {
                    Err(_) if started.elapsed() < PROPAGATION => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    answer => return answer,
                }
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Opens and subscribes one connection per account, `CONNECT_CONCURRENCY` at a time: each
/// socket with its subscription's expiration time (userstream).
pub(crate) async fn open_all(
    peer: &Peer,
    accounts: &[BenchAccount],
    tokens: &[Option<String>],
) -> Result<Vec<(Ws, Option<i64>)>, BenchError> {
    let opened = open_spread(&[peer], accounts, tokens).await?;
    Ok(opened
        .into_iter()
        .map(|(_, ws, expiration)| (ws, expiration))
        .collect())
}

/// [`open_all`], connection `i` on `peers[i % peers.len()]`: each socket with its `i`, in the
/// order they were subscribed.
async fn open_spread(
    peers: &[&Peer],
    accounts: &[BenchAccount],
    tokens: &[Option<String>],
) -> Result<Vec<(usize, Ws, Option<i64>)>, BenchError> {
    if peers.is_empty() {
        return Err(BenchError("no server to connect to".into()));
    }
    futures_util::stream::iter(accounts.iter().zip(tokens).enumerate())
        .map(|(index, (account, token))| async move {
            let (ws, expiration) = peers[index % peers.len()]
                .subscribe(index, account, token.as_deref())
                .await?;
            Ok((index, ws, expiration))
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Prepares one account per connection on the first node, fetches each connection's token
/// from its node, opens and subscribes every connection.
async fn subscribe_all(
    servers: &Servers<'_>,
    connections: usize,
) -> Result<Subscribed, BenchError> {
    let first = servers.publisher()?;
    let peers = servers.peers();
    let accounts = first
        .prepare_accounts(connections, SETUP_CONCURRENCY)
        .await?;
    let started = Instant::now();
    let tokens = fetch_tokens_spread(&peers, &accounts).await?;
    let tokens_per_sec = matches!(first, Peer::Userstream { .. })
        .then(|| connections as f64 / started.elapsed().as_secs_f64());
    let rss_before_connecting = servers.rss_bytes();
    let started = Instant::now();
    let opened = open_spread(&peers, &accounts, &tokens).await?;
    let connect_subscribe_per_sec = connections as f64 / started.elapsed().as_secs_f64();
    let sockets = opened
        .into_iter()
        .map(|(index, ws, _)| (index, ws))
        .collect();
    Ok(Subscribed {
        tokens_per_sec,
        connect_subscribe_per_sec,
        rss_before_connecting,
        sockets,
    })
}

/// The readers of the subscribers on one side of the publishing node.
#[derive(Default)]
struct Side {
    connections: usize,
    latencies: Arc<Latencies>,
    counters: Arc<Counters>,
}

impl Side {
    fn events(&self) -> u64 {
        self.counters.events.load(Ordering::Relaxed)
    }

    fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

/// The name a run is reported under: the peer's, with `/history-off` when userstream keeps no
/// history and `/cluster` for a cluster of userstream nodes.
fn system_name(peer: &Peer, history: Option<bool>, cluster: bool) -> String {
    let mut name = peer.name().to_owned();
    if history == Some(false) {
        name.push_str("/history-off");
    }
    if cluster {
        name.push_str("/cluster");
    }
    name
}

/// Publishes to connections spread over one account each and measures what arrives.
pub async fn fanout(
    peer: &Peer,
    server: &ServerProcess,
    options: &FanoutOptions,
) -> Result<FanoutReport, BenchError> {
    let servers = Servers {
        nodes: vec![(peer, server)],
        broker: None,
    };
    fanout_across(&servers, options).await
}

/// [`fanout`] across several servers: connections spread evenly over the nodes, every event
/// published through the first. Memory and CPU are the whole system's; a cluster's report also
/// tells the subscribers on the publishing node from those on the others.
pub async fn fanout_across(
    servers: &Servers<'_>,
    options: &FanoutOptions,
) -> Result<FanoutReport, BenchError> {
    let peer = servers.publisher()?;
    let nodes = servers.nodes.len();
    let rss_at_start = servers.rss_bytes();
    let subscribed = subscribe_all(servers, options.connections).await?;
    // Let the servers settle before reading their memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = servers.rss_bytes();
    let per_connection = |before: Option<u64>, after: Option<u64>| {
        Some(after?.saturating_sub(before?) / options.connections as u64)
    };
    // An account (its key, its row, a minted token) is not a connection's cost: the two are
    // reported apart.
    let rss_per_account_bytes = per_connection(rss_at_start, subscribed.rss_before_connecting);
    let rss_per_connection_bytes = per_connection(subscribed.rss_before_connecting, rss_after);
    // Subscribers on the publishing node, and on the others.
    let mut sides = [Side::default(), Side::default()];
    let mut readers = JoinSet::new();
    for (index, ws) in subscribed.sockets {
        let node = index % nodes;
        let side = &mut sides[usize::from(node != 0)];
        side.connections += 1;
        let (peer, latencies, counters) = (
            servers.nodes[node].0.clone(),
            Arc::clone(&side.latencies),
            Arc::clone(&side.counters),
        );
        readers.spawn(async move { peer.read(index, ws, latencies, counters).await });
    }
    let delivered = || sides.iter().map(Side::events).sum::<u64>();
    let bytes = || sides.iter().map(Side::bytes).sum::<u64>();

    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = JoinSet::new();
    let uids: Arc<Vec<u64>> = Arc::new((1..=options.connections as u64).collect());
    let tasks = if options.rate.is_some() {
        1
    } else {
        options.publishers.max(1)
    };
    for task in 0..tasks {
        let (peer, published, stop, uids) = (
            peer.clone(),
            Arc::clone(&published),
            Arc::clone(&stop),
            Arc::clone(&uids),
        );
        let (batch, rate) = (options.batch.max(1), options.rate);
        publishers.spawn(async move {
            let mut cursor = task * batch;
            let mut ticker = rate.map(|rate| {
                let period = Duration::from_secs_f64(batch as f64 / rate.max(1) as f64);
                tokio::time::interval(period)
            });
            let mut chunk = Vec::with_capacity(batch);
            while !stop.load(Ordering::Relaxed) {
                if let Some(ticker) = ticker.as_mut() {
                    ticker.tick().await;
                }
                chunk.clear();
                for _ in 0..batch {
                    chunk.push(uids[cursor % uids.len()]);
                    cursor += 1;
                }
                if peer.publish(&chunk).await.is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                published.fetch_add(batch as u64, Ordering::Relaxed);
            }
        });
    }

    let cluster = servers.broker.is_some();
    tokio::time::sleep(options.warmup).await;
    for side in &sides {
        side.latencies.reset();
    }
    let start = Instant::now();
    let cpu_start = servers.cpu_time();
    let broker_cpu_start = servers.broker.and_then(ServerProcess::cpu_time);
    let losses_start = if cluster {
        servers.bus_losses().await
    } else {
        None
    };
    let published_start = published.load(Ordering::Relaxed);
    let delivered_start = delivered();
    let side_start = sides.each_ref().map(Side::events);
    let bytes_start = bytes();
    let writes_start = servers.write_counters().await;
    tokio::time::sleep(options.duration).await;
    let writes_end = servers.write_counters().await;
    let elapsed = start.elapsed().as_secs_f64();
    let published_end = published.load(Ordering::Relaxed);
    let delivered_end = delivered();
    let side_end = sides.each_ref().map(Side::events);
    let bytes_end = bytes();
    let cpu_end = servers.cpu_time();
    let rss_at_end = servers.rss_bytes();
    let history_at_end = servers.history_usage().await;
    let broker_cpu_end = servers.broker.and_then(ServerProcess::cpu_time);
    let all = Latencies::union(sides.iter().map(|side| side.latencies.as_ref()));
    let latency = all.percentiles();
    let latency_distribution = all.distribution();
    let side_latency = sides.each_ref().map(|side| side.latencies.percentiles());
    stop.store(true, Ordering::Relaxed);
    publishers.shutdown().await;
    let losses_end = if cluster {
        servers.bus_losses().await
    } else {
        None
    };
    readers.shutdown().await;

    let delivered_per_sec = (delivered_end - delivered_start) as f64 / elapsed;
    let cpu_seconds = |start: Option<Duration>, end: Option<Duration>| match (start, end) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    let server_cpu = cpu_seconds(cpu_start, cpu_end);
    let frames_per_write = match (writes_start, writes_end) {
        (Some(a), Some(b)) if b.writes > a.writes => {
            Some((b.frames - a.frames) as f64 / (b.writes - a.writes) as f64)
        }
        _ => None,
    };
    let group = |side: usize| NodeGroup {
        connections: sides[side].connections,
        delivered_per_sec: (side_end[side] - side_start[side]) as f64 / elapsed,
        latency: side_latency[side],
    };
    let cluster = cluster.then(|| ClusterFigures {
        nodes,
        publishing_node: group(0),
        other_nodes: group(1),
        broker_cpu_percent: cpu_seconds(broker_cpu_start, broker_cpu_end)
            .map(|cpu| cpu / elapsed * 100.0),
        bus_losses: match (losses_start, losses_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
    });
    Ok(FanoutReport {
        scenario: "fanout",
        peer: system_name(peer, options.history, cluster.is_some()),
        connections: options.connections,
        target_rate: options.rate,
        batch: options.batch.max(1),
        warmup_secs: options.warmup.as_secs_f64(),
        published_per_sec: (published_end - published_start) as f64 / elapsed,
        delivered_per_sec,
        bytes_per_event: (delivered_end > delivered_start)
            .then(|| (bytes_end - bytes_start) as f64 / (delivered_end - delivered_start) as f64),
        latency,
        latency_distribution,
        window_secs: elapsed,
        ping_interval_secs: options.ping_interval.map(|ping| ping.as_secs_f64()),
        write_coalesce_ms: options.write_coalesce_ms,
        history: options.history,
        positions: match peer {
            Peer::Userstream { positions, .. } => Some(*positions),
            _ => None,
        },
        publish_over: match peer {
            Peer::Userstream {
                stream: Some(_), ..
            } => Some("stream"),
            Peer::Userstream { .. } => Some("http"),
            _ => None,
        },
        tokens_per_sec: subscribed.tokens_per_sec,
        connect_subscribe_per_sec: subscribed.connect_subscribe_per_sec,
        rss_per_connection_bytes,
        rss_per_account_bytes,
        rss_growth_per_account_bytes: per_connection(rss_after, rss_at_end),
        history_bytes_per_account: history_at_end
            .map(|usage| usage.bytes / options.connections.max(1) as u64),
        history_events_per_account: history_at_end
            .map(|usage| usage.events as f64 / options.connections.max(1) as f64),
        server_cpu_percent: server_cpu.map(|cpu| cpu / elapsed * 100.0),
        deliveries_per_cpu_second: server_cpu
            .filter(|cpu| *cpu > 0.0)
            .map(|cpu| delivered_per_sec * elapsed / cpu),
        frames_per_write,
        cluster,
    })
}

/// What a token issuance run measured.
#[derive(Debug, Clone, Serialize)]
pub struct TokenReport {
    pub scenario: &'static str,
    pub peer: &'static str,
    pub requests: usize,
    pub concurrency: usize,
    pub requests_per_sec: f64,
}

/// `requests` token requests, `concurrency` at a time: userstream's real endpoint, or the
/// floor's bare handler.
pub async fn tokens(
    peer: &Peer,
    requests: usize,
    concurrency: usize,
) -> Result<TokenReport, BenchError> {
    let accounts = peer.prepare_accounts(1, 1).await?;
    let account = accounts
        .first()
        .cloned()
        .ok_or_else(|| BenchError("no account".into()))?;
    let started = Instant::now();
    let results = futures_util::stream::iter(0..requests)
        .map(|_| {
            let (peer, account) = (peer.clone(), account.clone());
            async move {
                match &peer {
                    Peer::Floor { addr, http, .. } => {
                        http.post(format!("http://{addr}/token"))
                            .send()
                            .await?
                            .bytes()
                            .await?;
                        Ok(())
                    }
                    _ => peer.token(&account, None).await.map(|_| ()),
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<Result<(), BenchError>>>()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(TokenReport {
        scenario: "tokens",
        peer: peer.name(),
        requests,
        concurrency,
        requests_per_sec: requests as f64 / elapsed,
    })
}

/// What an expiry storm measured: how late `eventStreamTerminated` arrived after each
/// subscription's expiration time.
#[derive(Debug, Clone, Serialize)]
pub struct ExpiryReport {
    pub scenario: &'static str,
    pub peer: &'static str,
    pub subscriptions: usize,
    /// The expiration times are spread evenly over this many milliseconds (0: all in one).
    pub spread_ms: u64,
    pub terminated: u64,
    pub lateness: Percentiles,
    /// The server's own part, from its `userstream_expiry_lateness_seconds` histogram: each
    /// bucket's upper bound in ms and how many subscriptions fell at or under it.
    pub server_lateness_buckets: Vec<(f64, u64)>,
    /// The smallest bucket bound holding 99 % of the server's lateness samples, in ms.
    pub server_p99_at_most_ms: Option<f64>,
}

/// `count` subscriptions whose tokens expire spread evenly over `spread_ms` milliseconds.
pub async fn expiry_storm(
    peer: &Peer,
    count: usize,
    spread_ms: u64,
) -> Result<ExpiryReport, BenchError> {
    if !matches!(peer, Peer::Userstream { .. }) {
        return Err(BenchError(
            "the expiry storm needs userstream (the peers have no expiry)".into(),
        ));
    }
    // Every token gets the validity that ends it at `expire_at_ms`: far enough out for all of
    // them to be minted and subscribed first (a generous 2 ms each, plus 5 s).
    let expire_at_ms = now_us() / 1000 + 5_000 + 2 * count as i64;
    let accounts = peer.prepare_accounts(count, SETUP_CONCURRENCY).await?;
    let tokens = futures_util::stream::iter(accounts.iter().enumerate())
        .map(|(index, account)| async move {
            let offset_ms = (index as u64 * spread_ms / count.max(1) as u64) as i64;
            let validity = (expire_at_ms + offset_ms - now_us() / 1000).max(1) as u64;
            peer.token(account, Some(validity)).await
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let opened = open_all(peer, &accounts, &tokens).await?;
    if now_us() / 1000 >= expire_at_ms {
        return Err(BenchError(
            "setup took longer than the tokens live; use fewer subscriptions".into(),
        ));
    }
    let lateness = Arc::new(Latencies::new());
    let terminated = Arc::new(AtomicU64::new(0));
    let mut readers = JoinSet::new();
    for (reader, (mut ws, expiration)) in opened.into_iter().enumerate() {
        let (lateness, terminated) = (Arc::clone(&lateness), Arc::clone(&terminated));
        let expiration_us = expiration.unwrap_or(0);
        readers.spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if message
                    .to_text()
                    .is_ok_and(|text| text.contains("eventStreamTerminated"))
                {
                    lateness.record(reader, now_us() - expiration_us);
                    terminated.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        });
    }
    let wait =
        Duration::from_millis((expire_at_ms - now_us() / 1000).max(0) as u64 + spread_ms + 10_000);
    let _ =
        tokio::time::timeout(wait, async { while readers.join_next().await.is_some() {} }).await;
    readers.shutdown().await;
    let server_lateness_buckets = peer.expiry_lateness_buckets().await.unwrap_or_default();
    let total = server_lateness_buckets
        .last()
        .map_or(0, |(_, count)| *count);
    let server_p99_at_most_ms = server_lateness_buckets
        .iter()
        .find(|(_, count)| total > 0 && *count as f64 >= total as f64 * 0.99)
        .map(|(bound, _)| *bound);
    Ok(ExpiryReport {
        scenario: "expiry",
        peer: peer.name(),
        subscriptions: count,
        spread_ms,
        terminated: terminated.load(Ordering::Relaxed),
        lateness: lateness.percentiles(),
        server_lateness_buckets,
        server_p99_at_most_ms,
    })
}

/// What a subscribe-churn run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    pub scenario: &'static str,
    pub peer: &'static str,
    pub concurrency: usize,
    pub cycles: u64,
    pub cycles_per_sec: f64,
}

/// Connections opened, subscribed and closed again, `concurrency` loops at a time, for
/// `duration`. A cycle is connect + subscribe (+ its answer) + close.
pub async fn churn(
    peer: &Peer,
    concurrency: usize,
    duration: Duration,
) -> Result<ChurnReport, BenchError> {
    let accounts = peer
        .prepare_accounts(concurrency, SETUP_CONCURRENCY)
        .await?;
    let tokens = fetch_tokens(peer, &accounts, None).await?;
    let cycles = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut loops = JoinSet::new();
    for (account, token) in accounts.into_iter().zip(tokens) {
        let (peer, cycles, failures) = (peer.clone(), Arc::clone(&cycles), Arc::clone(&failures));
        loops.spawn(async move {
            while Instant::now() < deadline {
                // Each cycle takes the next connection number, so source addresses rotate
                // before any one runs out of ports to TIME_WAIT.
                let index = cycles.load(Ordering::Relaxed) as usize;
                match peer.subscribe(index, &account, token.as_deref()).await {
                    Ok((mut ws, _)) => {
                        let _ = ws.close(None).await;
                        cycles.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while loops.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        tracing::warn!(failed, "churn cycles failed");
    }
    let cycles = cycles.load(Ordering::Relaxed);
    Ok(ChurnReport {
        scenario: "churn",
        peer: peer.name(),
        concurrency,
        cycles,
        cycles_per_sec: cycles as f64 / elapsed,
    })
}
