//! `userstream bench`: start the server under test, drive it, print one JSON report line.

use crate::cli::{BenchCommand, FanoutArgs, PeerKind, PublishOver, SoakArgs, StormArgs, Switch};
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use userstream_bench::floor::Stack as FloorStack;
use userstream_bench::intake;
use userstream_bench::peer::Peer;
use userstream_bench::process::{self, ServerProcess};
use userstream_bench::publish_stream::StreamPublisher;
use userstream_bench::pusher::PusherApp;
use userstream_bench::scenarios::{self, FanoutOptions, Servers};
use userstream_bench::soak::{self, SoakOptions};
use userstream_bench::storm;

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    crate::logging::init("warn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            BenchCommand::Floor(args) => {
                userstream_bench::floor::serve(args.listen, args.stack, |addr| {
                    println!("floor listening on http://{addr}");
                })
                .await
                .context("the floor server failed")
            }
            BenchCommand::Intake(args) => {
                let batch = intake::sample_batch(args.items);
                let duration = Duration::from_millis(args.duration_ms);
                for parser in intake::Parser::ALL {
                    print(&intake::measure(parser, &batch, duration)?)?;
                }
                Ok(())
            }
            BenchCommand::Fanout(args) => {
                check_userstream_flags(&args)?;
                let ping = Duration::from_secs(args.ping_secs);
                let coalesce_ms = args.coalesce_ms.to_string();
                let mut env = vec![("USERSTREAM_WS__WRITE_COALESCE_MS", coalesce_ms.as_str())];
                let history = args.history.unwrap_or(Switch::On) == Switch::On;
                if !history {
                    env.push(("USERSTREAM_HISTORY__ENABLED", "false"));
                }
                let options = FanoutOptions {
                    connections: args.connections,
                    rate: args.rate,
                    warmup: Duration::from_secs(args.warmup_secs),
                    duration: Duration::from_secs(args.duration_secs),
                    batch: args.batch,
                    publishers: args.publishers,
                    ping_interval: pings(args.peer).then_some(ping),
                    write_coalesce_ms: (args.peer == PeerKind::Userstream)
                        .then_some(args.coalesce_ms),
                    // A cluster keeps its history in its JetStream stream, not in the node.
                    history: (args.peer == PeerKind::Userstream && args.cluster_nodes.is_none())
                        .then_some(history),
                };
                let clients = Clients {
                    sbe: args.sbe,
                    positions: args.positions,
                    stream: args.publish_over == PublishOver::Stream,
                };
                if let Some(nodes) = args.cluster_nodes {
                    return fanout_cluster(nodes as usize, ping, &env, clients, &options).await;
                }
                let (mut peer, server) =
                    start_with(args.peer, args.floor_stack, ping, &env).await?;
                clients.apply(&mut peer);
                let report = scenarios::fanout(&peer, &server, &options).await;
                server.stop().await;
                print(&report?)
            }
            BenchCommand::Tokens(args) => {
                let (peer, server) =
                    start(args.peer, FloorStack::default(), PRODUCTION_PING).await?;
                let report = scenarios::tokens(&peer, args.requests, args.concurrency).await;
                server.stop().await;
                print(&report?)
            }
            BenchCommand::Churn(args) => {
                let (peer, server) = start(args.peer, args.floor_stack, PRODUCTION_PING).await?;
                let duration = Duration::from_secs(args.duration_secs);
                let report = scenarios::churn(&peer, args.concurrency, duration).await;
                server.stop().await;
                print(&report?)
            }
            BenchCommand::Soak(args) => soak(args).await,
            BenchCommand::Storm(args) => storm(args).await,
            BenchCommand::Expiry(args) => {
                let (peer, server) =
                    start(PeerKind::Userstream, FloorStack::default(), PRODUCTION_PING).await?;
                let report =
                    scenarios::expiry_storm(&peer, args.subscriptions, args.spread_ms).await;
                server.stop().await;
                print(&report?)
            }
        }
    })
}

/// Refuses the fan-out's userstream-only flags for the other peers, and `--history` on a
/// cluster, whose history is the JetStream stream that carries its events either way.
fn check_userstream_flags(args: &FanoutArgs) -> anyhow::Result<()> {
    let flags = [
        ("--sbe", args.sbe),
        ("--positions", args.positions),
        ("--history", args.history.is_some()),
        ("--cluster-nodes", args.cluster_nodes.is_some()),
    ];
    for (flag, given) in flags {
        anyhow::ensure!(
            !given || args.peer == PeerKind::Userstream,
            "{flag} applies to userstream only, not to --peer {}",
            peer_name(args.peer)
        );
    }
    anyhow::ensure!(
        args.history.is_none() || args.cluster_nodes.is_none(),
        "--history does not apply to --cluster-nodes: a cluster's history is the JetStream stream that carries its events either way"
    );
    Ok(())
}

/// A peer as `--peer` names it.
fn peer_name(kind: PeerKind) -> String {
    use clap::ValueEnum;
    kind.to_possible_value()
        .map_or_else(|| format!("{kind:?}"), |value| value.get_name().to_owned())
}

/// How userstream's clients connect (in SBE, with stream positions), and how its events are
/// published (over the kept-open connection, or a request per batch).
#[derive(Debug, Clone, Copy)]
struct Clients {
    sbe: bool,
    positions: bool,
    stream: bool,
}

impl Clients {
    fn apply(self, peer: &mut Peer) {
        if let Peer::Userstream {
            sbe,
            positions,
            stream,
            admin,
            ..
        } = peer
        {
            *sbe = self.sbe;
            *positions = self.positions;
            *stream = self.stream.then(|| Arc::new(StreamPublisher::new(*admin)));
        }
    }
}

/// The fan-out across `nodes` userstream nodes on a nats-server started for the run.
async fn fanout_cluster(
    nodes: usize,
    ping: Duration,
    userstream_env: &[(&str, &str)],
    clients: Clients,
    options: &FanoutOptions,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary to start servers with")?;
    let heartbeat = Heartbeat::every(ping);
    let env = heartbeat.env(userstream_env);
    let cluster = process::spawn_cluster(&exe, nodes, &env).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let peers: Vec<Peer> = cluster
        .nodes
        .iter()
        .map(|(_, public, admin)| {
            let mut peer = Peer::userstream(*public, *admin, http.clone());
            clients.apply(&mut peer);
            peer
        })
        .collect();
    let servers = Servers {
        nodes: peers
            .iter()
            .zip(&cluster.nodes)
            .map(|(peer, (process, _, _))| (peer, process))
            .collect(),
        broker: Some(&cluster.broker),
    };
    let report = scenarios::fanout_across(&servers, options).await;
    drop(servers);
    cluster.stop().await;
    print(&report?)
}

/// The reconnect storm, against a server that is killed and started again on the same ports
/// (userstream: and the same data directory, where its keys are).
async fn storm(args: StormArgs) -> anyhow::Result<()> {
    let limit = Duration::from_secs(args.limit_secs);
    let exe = std::env::current_exe().context("cannot find this binary to start servers with")?;
    let report = match args.peer {
        PeerKind::Userstream => storm::against_userstream(&exe, args.connections, limit).await?,
        PeerKind::Nats => storm::against_nats(PRODUCTION_PING, args.connections, limit).await?,
        other => {
            anyhow::bail!("the reconnect storm runs against userstream or nats, not {other:?}")
        }
    };
    print(&report)
}

/// The soak: prints its summary, and fails when the run broke a promise.
async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.minutes.is_finite() && args.minutes >= 1.0,
        "--minutes must be at least 1 (faults start 10 s in and stop 30 s before the end)"
    );
    anyhow::ensure!(
        args.fault_interval_secs.is_finite() && args.fault_interval_secs >= 1.0,
        "--fault-interval-secs must be at least 1"
    );
    let exe =
        std::env::current_exe().context("cannot find this binary to start the server with")?;
    let options = SoakOptions {
        streams: args.streams as usize,
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        seed: args.seed,
        rate: args.rate,
        ramp_step: Duration::from_secs(args.ramp_step_secs),
        token_validity: Duration::from_millis(args.token_validity_ms),
        mean_fault_interval: Duration::from_secs_f64(args.fault_interval_secs),
        out_dir: args.out,
    };
    let report = soak::run(&exe, &options).await?;
    print(&report)?;
    anyhow::ensure!(
        report.passed,
        "the soak failed: {}",
        report.failures.join("; ")
    );
    Ok(())
}

/// Userstream's default ping interval, for runs that do not measure latency.
const PRODUCTION_PING: Duration = Duration::from_secs(20);

/// Whether the server under test pings its connections.
fn pings(kind: PeerKind) -> bool {
    matches!(kind, PeerKind::Userstream | PeerKind::Nats)
}

/// Starts the server under test as a child process, pinging every `ping` where it pings.
async fn start(
    kind: PeerKind,
    floor_stack: FloorStack,
    ping: Duration,
) -> anyhow::Result<(Peer, ServerProcess)> {
    start_with(kind, floor_stack, ping, &[]).await
}

/// [`start`], with more environment for userstream.
async fn start_with(
    kind: PeerKind,
    floor_stack: FloorStack,
    ping: Duration,
    userstream_env: &[(&str, &str)],
) -> anyhow::Result<(Peer, ServerProcess)> {
    let exe = std::env::current_exe().context("cannot find this binary to start servers with")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    Ok(match kind {
        PeerKind::Userstream => {
            let heartbeat = Heartbeat::every(ping);
            let env = heartbeat.env(userstream_env);
            let (server, public, admin) = process::spawn_userstream(&exe, &env).await?;
            (Peer::userstream(public, admin, http), server)
        }
        PeerKind::Floor => {
            let (server, addr) = process::spawn_floor(&exe, floor_stack).await?;
            (
                Peer::Floor {
                    addr,
                    http,
                    stack: floor_stack,
                },
                server,
            )
        }
        PeerKind::Sockudo => {
            let binary = sockudo_binary()?;
            let app = PusherApp::bench();
            let (server, addr) = process::spawn_sockudo(&binary, &app).await?;
            (Peer::Sockudo { addr, http, app }, server)
        }
        PeerKind::Nats => {
            let (server, client, ws) = process::spawn_nats(ping).await?;
            (
                Peer::Nats {
                    client,
                    ws,
                    publisher: Arc::new(Mutex::new(None)),
                },
                server,
            )
        }
    })
}

/// userstream's heartbeat settings for a run: a ping every `ping`, and no pong for three times
/// that closes the connection (Binance's 20 s and 60 s, scaled), but never less than 5 s more
/// than the interval (the server insists on a few seconds' slack).
struct Heartbeat {
    ping_ms: String,
    pong_ms: String,
}

impl Heartbeat {
    fn every(ping: Duration) -> Self {
        let ping_ms = ping.as_millis();
        let pong_ms = ping_ms.saturating_mul(3).max(ping_ms.saturating_add(5000));
        Heartbeat {
            ping_ms: ping_ms.to_string(),
            pong_ms: pong_ms.to_string(),
        }
    }

    /// userstream's environment: these settings, then `extra`.
    fn env<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![
            ("USERSTREAM_WS__PING_INTERVAL_MS", self.ping_ms.as_str()),
            ("USERSTREAM_WS__PONG_TIMEOUT_MS", self.pong_ms.as_str()),
        ];
        env.extend_from_slice(extra);
        env
    }
}

/// Where Sockudo was built: `USERSTREAM_BENCH_SOCKUDO`, else the bench script's cache.
fn sockudo_binary() -> anyhow::Result<PathBuf> {
    let binary = match std::env::var_os("USERSTREAM_BENCH_SOCKUDO") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set")?;
            PathBuf::from(home).join(".cache/userstream-bench/sockudo/bin/sockudo")
        }
    };
    anyhow::ensure!(
        binary.is_file(),
        "sockudo is not built at {} (SOCKUDO=1 scripts/bench.sh builds it)",
        binary.display()
    );
    Ok(binary)
}

fn print(report: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(report)?);
    Ok(())
}
