//! The soak: thousands of `userstream-client` streams against the real server for a long time,
//! under continuous publishing and random faults, proving that nothing is lost silently.
//!
//! 1. **Setup.** The server starts on free loopback ports with short token validity; one API key
//!    per stream; every stream subscribes its own cross margin account.
//! 2. **Ramp.** Publishing at rising rates finds where delivery stops keeping up
//!    (saturation); the run goes on at half of it.
//! 3. **Main.** Numbered events are published at that rate while a seeded schedule injects
//!    faults ([`plan`]): drop, mute, terminate and shutdown through the admin API (all
//!    connections, one account, or one connection), and `kill -9` of the server followed by a
//!    restart on the same ports and data. The server's memory and descriptors are sampled
//!    every second ([`samples`]).
//! 4. **Drain.** Publishing stops; each stream is sent fresh markers until it has caught up.
//! 5. **Verdict.** Per stream ([`checker`]): events lost without a gap, duplicates, events out
//!    of order; every gap blamed on a fault that touched the stream ([`faults`]); memory and
//!    descriptors must not grow after warm-up.

pub mod checker;
pub mod faults;
pub mod plan;
mod publisher;
pub mod samples;
mod server;
mod streams;

use crate::BenchError;
use crate::peer::Peer;
use crate::process;
use checker::{EventCounts, Loss};
use faults::{Attribution, FaultRecord, Injector};
use plan::PlanSettings;
use publisher::{PublishCounters, Publisher};
use samples::{GrowthRule, IncarnationVerdict, Phase, Sample};
use serde::Serialize;
use server::SoakServer;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};
use streams::{Fleet, FleetCounters, StatusCounts, StreamOutcome};

/// Requests in flight while creating API keys.
const SETUP_CONCURRENCY: usize = 64;
/// Rates tried by the ramp: from this, ×1.5 per step, up to the maximum.
const RAMP_START: f64 = 2_000.0;
const RAMP_FACTOR: f64 = 1.5;
const RAMP_MAX: f64 = 400_000.0;
/// A ramp step keeps up when this share of its rate is published and delivered.
const KEEPS_UP: f64 = 0.9;
/// Faults start this long into the main phase and stop this long before its end.
const FAULTS_AFTER: Duration = Duration::from_secs(10);
const QUIET_BEFORE_END: Duration = Duration::from_secs(30);
/// How long streams may take to subscribe at the start, or to catch up at the end.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a round of drain markers is given before the laggards get another.
const MARKER_ROUND: Duration = Duration::from_secs(3);

/// What a soak run does.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub streams: usize,
    /// The main phase.
    pub duration: Duration,
    pub seed: u64,
    /// Events per second in the main phase; `None`: half of the saturation the ramp finds.
    pub rate: Option<f64>,
    /// Each ramp step's length.
    pub ramp_step: Duration,
    /// Listen tokens live this long (the server's default and maximum, and what the client
    /// asks for), so each stream renews about every three quarters of it.
    pub token_validity: Duration,
    /// On average one fault per this long.
    pub mean_fault_interval: Duration,
    /// Where samples, faults, the server's log and the summary go.
    pub out_dir: PathBuf,
}

/// One ramp step.
#[derive(Debug, Clone, Serialize)]
pub struct RampStep {
    pub target_per_sec: f64,
    pub published_per_sec: f64,
    pub delivered_per_sec: f64,
    pub server_cpu_percent: Option<f64>,
    /// This process: every stream, the checks and the publisher.
    pub client_cpu_percent: Option<f64>,
}

/// The run's verdict and figures; `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub scenario: &'static str,
    pub passed: bool,
    /// Each broken promise, in words.
    pub failures: Vec<String>,
    pub streams: usize,
    pub minutes: f64,
    pub seed: u64,
    pub token_validity_ms: u64,
    /// Delivered events/s where the ramp stopped keeping up (`None` with a fixed rate).
    pub saturation_per_sec: Option<f64>,
    pub rate_per_sec: f64,
    pub ramp: Vec<RampStep>,
    /// Faults injected, per kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Faults per target (`all`, `account`, `session`; kills count as `all`).
    pub fault_targets: BTreeMap<&'static str, u64>,
    /// Faults that could not be injected (no live connection to pick, say).
    pub fault_errors: u64,
    /// Events the server accepted, and those whose publication is uncertain (requests cut
    /// by a kill).
    pub published: u64,
    pub uncertain: u64,
    pub failed_publish_requests: u64,
    /// Over all streams: events that had to arrive, distinct events that did, those missing
    /// where a gap had been reported, and those lost (must be 0).
    #[serde(flatten)]
    pub events: EventCounts,
    pub loss_examples: Vec<(usize, Loss)>,
    pub gaps: u64,
    pub gap_attribution: Attribution,
    pub statuses: StatusCounts,
    pub fatal_streams: u64,
    /// Streams that had not caught up when the drain gave up.
    pub undrained_streams: u64,
    /// What the server counted once the streams had caught up: one connection and one
    /// subscription per stream, or it kept something a fault should have ended.
    pub server_at_end: ServerCounts,
    pub server_restarts: u32,
    pub growth_rule: GrowthRule,
    pub growth: Vec<IncarnationVerdict>,
    pub peak_rss_bytes: Option<u64>,
    pub peak_fds: Option<usize>,
    pub peak_client_rss_bytes: Option<u64>,
    pub started_unix_ms: i64,
    pub wall_secs: f64,
}

/// Runs the soak against `exe serve`. An error means the soak itself could not run; a run that
/// found something wrong returns a report with `passed: false`.
pub async fn run(exe: &Path, options: &SoakOptions) -> Result<SoakReport, BenchError> {
    let started = Instant::now();
    let started_unix_ms = crate::net::now_us() / 1000;
    std::fs::create_dir_all(&options.out_dir)?;
    let log = std::fs::File::create(options.out_dir.join("server.log"))?;
    let validity_ms = options.token_validity.as_millis().to_string();
    let env = vec![
        (
            "USERSTREAM_TOKEN__MAX_VALIDITY_MS".into(),
            validity_ms.clone(),
        ),
        ("USERSTREAM_TOKEN__DEFAULT_VALIDITY_MS".into(), validity_ms),
        // The resume history fills up to its age limit and then holds steady; with an age of
        // one renewal period it is full before memory is judged (after a period and a half),
        // so what is judged is that it stays bounded.
        (
            "USERSTREAM_HISTORY__MAX_AGE_MS".into(),
            (options.token_validity * 3 / 4).as_millis().to_string(),
        ),
    ];
    let server = Arc::new(SoakServer::start(exe, env, log).await?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(SETUP_CONCURRENCY)
        .build()?;
    let peer = Peer::userstream(server.public, server.admin, http.clone());
    let accounts = peer
        .prepare_accounts(options.streams, SETUP_CONCURRENCY)
        .await?;
    let uids: Vec<u64> = accounts.iter().map(|account| account.uid).collect();
    let api_keys: Vec<String> = accounts.into_iter().map(|a| a.api_key).collect();

    let phase = Arc::new(AtomicU8::new(Phase::Setup as u8));
    let mut publisher = Publisher::new(http.clone(), server.admin, uids.clone());
    let fleet = Fleet::start(
        server.public,
        &api_keys,
        &streams::client_options(options.token_validity),
    )?;
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample(
        Arc::clone(&server),
        Arc::clone(&fleet.counters),
        Arc::clone(&publisher.counters),
        Arc::clone(&phase),
        Arc::clone(&sampling),
        started,
    ));
    wait_until("every stream to subscribe", || {
        fleet.counters.subscribed.load(Ordering::Relaxed) == options.streams
    })
    .await?;

    phase.store(Phase::Ramp as u8, Ordering::Relaxed);
    let (saturation, ramp) = match options.rate {
        Some(_) => (None, Vec::new()),
        None => {
            let (saturation, steps) =
                calibrate(&mut publisher, &fleet.counters, &server, options.ramp_step).await?;
            (Some(saturation), steps)
        }
    };
    let rate = options
        .rate
        .or(saturation.map(|s| s / 2.0))
        .unwrap_or(RAMP_START);
    tracing::info!(?saturation, rate, "ramp done");
    // Let the streams catch up before the clock starts.
    wait_until("the streams to catch up after the ramp", || {
        behind(&publisher, &fleet.counters).is_empty()
    })
    .await?;

    phase.store(Phase::Main as u8, Ordering::Relaxed);
    let main_start = Instant::now();
    let main_offset = main_start.duration_since(started).as_secs_f64();
    let schedule = plan::plan(&PlanSettings {
        seed: options.seed,
        from: FAULTS_AFTER,
        until: options.duration.saturating_sub(QUIET_BEFORE_END),
        mean_interval: options.mean_fault_interval,
    });
    let injector = Injector {
        server: &server,
        http: http.clone(),
        streams_by_uid: uids.iter().enumerate().map(|(i, uid)| (*uid, i)).collect(),
        uids: uids.clone(),
        main_start,
        log: std::fs::File::create(options.out_dir.join("faults.jsonl"))?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let result = publisher.pace(rate, &stop).await;
            result.map(|()| publisher)
        })
    };
    let main_end = tokio::time::Instant::from_std(main_start + options.duration);
    let (records, ()) = tokio::join!(injector.run(&schedule), tokio::time::sleep_until(main_end));
    stop.store(true, Ordering::Relaxed);
    let mut publisher = publishing
        .await
        .map_err(|error| BenchError(format!("the publisher failed: {error}")))??;
    let records = records?;

    phase.store(Phase::Drain as u8, Ordering::Relaxed);
    let undrained = drain(&mut publisher, &fleet.counters).await?;
    let server_counts = settled_counts(&http, &server, options.streams).await?;
    let outcomes = fleet.stop().await?;
    sampling.store(true, Ordering::Relaxed);
    let mut samples = sampler
        .await
        .map_err(|error| BenchError(format!("the sampler failed: {error}")))?;
    server.stop().await;
    for sample in &mut samples {
        sample.t -= main_offset;
    }
    write_jsonl(&options.out_dir.join("samples.jsonl"), &samples)?;

    let restarts = server.probe().incarnation;
    let report = verdict(
        options,
        Collected {
            saturation,
            rate,
            ramp,
            publisher,
            records,
            outcomes,
            samples,
            undrained,
            server_counts,
            restarts,
            started,
            started_unix_ms,
        },
    );
    write_jsonl(
        &options.out_dir.join("summary.json"),
        std::slice::from_ref(&report),
    )?;
    Ok(report)
}

/// What a run collected, to be judged.
struct Collected {
    saturation: Option<f64>,
    rate: f64,
    ramp: Vec<RampStep>,
    publisher: Publisher,
    records: Vec<FaultRecord>,
    outcomes: Vec<StreamOutcome>,
    samples: Vec<Sample>,
    undrained: usize,
    server_counts: ServerCounts,
    restarts: u32,
    started: Instant,
    started_unix_ms: i64,
}

/// Sums up every stream, blames every gap, judges growth, and lists what failed.
fn verdict(options: &SoakOptions, run: Collected) -> SoakReport {
    let Collected {
        saturation,
        rate,
        ramp,
        publisher,
        records,
        outcomes,
        samples,
        undrained,
        server_counts,
        restarts,
        started,
        started_unix_ms,
    } = run;
    let growth_rule = GrowthRule::for_renewal_period(options.token_validity * 3 / 4);
    let mut report = SoakReport {
        scenario: "soak",
        passed: false,
        failures: Vec::new(),
        streams: options.streams,
        minutes: options.duration.as_secs_f64() / 60.0,
        seed: options.seed,
        token_validity_ms: options.token_validity.as_millis() as u64,
        saturation_per_sec: saturation,
        rate_per_sec: rate,
        ramp,
        faults: BTreeMap::new(),
        fault_targets: BTreeMap::new(),
        fault_errors: 0,
        published: publisher.counters.published.load(Ordering::Relaxed),
        uncertain: publisher.counters.uncertain.load(Ordering::Relaxed),
        failed_publish_requests: publisher.counters.failed_requests.load(Ordering::Relaxed),
        events: EventCounts::default(),
        loss_examples: Vec::new(),
        gaps: 0,
        gap_attribution: Attribution::default(),
        statuses: StatusCounts::default(),
        fatal_streams: 0,
        undrained_streams: undrained as u64,
        server_at_end: server_counts,
        server_restarts: restarts,
        growth: samples::judge(&samples, &growth_rule),
        growth_rule,
        peak_rss_bytes: samples.iter().filter_map(|s| s.rss_bytes).max(),
        peak_fds: samples.iter().filter_map(|s| s.fds).max(),
        peak_client_rss_bytes: samples.iter().filter_map(|s| s.client_rss_bytes).max(),
        started_unix_ms,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    for record in &records {
        if record.error.is_some() {
            report.fault_errors += 1;
            continue;
        }
        *report.faults.entry(record.kind.name()).or_default() += 1;
        *report
            .fault_targets
            .entry(record.target.name())
            .or_default() += 1;
    }
    for (stream, outcome) in outcomes.iter().enumerate() {
        let verdict = outcome
            .check
            .finish(publisher.last()[stream], &publisher.optional()[stream]);
        report.events.add(&verdict.counts);
        for loss in verdict.losses {
            if report.loss_examples.len() < 20 {
                report.loss_examples.push((stream, loss));
            }
        }
        report.gaps += outcome.check.gaps().len() as u64;
        report
            .gap_attribution
            .add(stream, outcome.check.gaps(), &records);
        report.statuses.add(&outcome.statuses);
        report.fatal_streams += u64::from(outcome.fatal.is_some());
    }
    report.failures = failures(&report);
    report.passed = report.failures.is_empty();
    report
}

/// Every promise the run broke, in words.
fn failures(report: &SoakReport) -> Vec<String> {
    let mut failures = Vec::new();
    let mut check = |broken: bool, text: String| {
        if broken {
            failures.push(text);
        }
    };
    check(
        report.events.lost > 0,
        format!("{} events lost with no gap reported", report.events.lost),
    );
    check(
        report.events.duplicates > 0,
        format!("{} duplicate events", report.events.duplicates),
    );
    check(
        report.events.out_of_order > 0,
        format!("{} events out of order", report.events.out_of_order),
    );
    check(
        report.events.unknown > 0,
        format!(
            "{} events numbered beyond what was published",
            report.events.unknown
        ),
    );
    check(
        report.statuses.foreign_events > 0,
        format!(
            "{} events that were never published",
            report.statuses.foreign_events
        ),
    );
    let attribution = &report.gap_attribution;
    check(
        attribution.unexplained > 0,
        format!("{} gaps no fault explains", attribution.unexplained),
    );
    check(
        attribution.shutdown_gaps() > 0,
        format!(
            "{} gaps caused by a shutdown (its handover should lose nothing)",
            attribution.shutdown_gaps()
        ),
    );
    check(
        report.fatal_streams > 0,
        format!("{} streams ended for good", report.fatal_streams),
    );
    check(
        report.undrained_streams > 0,
        format!(
            "{} streams never caught up after publishing stopped",
            report.undrained_streams
        ),
    );
    check(report.statuses.renewed == 0, "no token was renewed".into());
    let at_end = &report.server_at_end;
    check(
        at_end.connections != report.streams as u64
            || at_end.subscriptions != report.streams as u64,
        format!(
            "at the end the server held {} connections and {} subscriptions for {} streams",
            at_end.connections, at_end.subscriptions, report.streams
        ),
    );
    for verdict in &report.growth {
        check(
            !verdict.rss_ok && verdict.judged,
            format!(
                "server RSS grew in incarnation {}: {} MiB to {} MiB",
                verdict.incarnation,
                verdict.rss_first_bytes >> 20,
                verdict.rss_last_bytes >> 20
            ),
        );
        check(
            !verdict.fds_ok && verdict.judged,
            format!(
                "server descriptors grew in incarnation {}: {} to {}",
                verdict.incarnation, verdict.fds_first, verdict.fds_last
            ),
        );
    }
    failures
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), BenchError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in rows {
        serde_json::to_writer(&mut file, row)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    Ok(())
}

/// Polls `done` until it holds, or fails after [`SETTLE_TIMEOUT`].
async fn wait_until(what: &str, done: impl Fn() -> bool) -> Result<(), BenchError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !done() {
        if Instant::now() >= deadline {
            return Err(BenchError(format!(
                "gave up waiting for {what} after {} s",
                SETTLE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The streams that have not yet received the last number published to them.
fn behind(publisher: &Publisher, counters: &FleetCounters) -> Vec<usize> {
    publisher
        .last()
        .iter()
        .enumerate()
        .filter(|(stream, last)| counters.highest[*stream].load(Ordering::Relaxed) < **last)
        .map(|(stream, _)| stream)
        .collect()
}

/// Rising rates until delivery (or publishing) stops keeping up: the saturation is the best
/// delivered rate seen. Each step is judged on its last two thirds, after the previous step's
/// backlog has had time to clear.
async fn calibrate(
    publisher: &mut Publisher,
    counters: &FleetCounters,
    server: &SoakServer,
    step: Duration,
) -> Result<(f64, Vec<RampStep>), BenchError> {
    let published = Arc::clone(&publisher.counters);
    let mut steps: Vec<RampStep> = Vec::new();
    let mut rate = RAMP_START;
    loop {
        let stop = AtomicBool::new(false);
        let measure = async {
            tokio::time::sleep(step / 3).await;
            let from = Reading::take(&published, counters, server);
            tokio::time::sleep(step - step / 3).await;
            let to = Reading::take(&published, counters, server);
            stop.store(true, Ordering::Relaxed);
            to.since(&from, rate)
        };
        let (paced, measured) = tokio::join!(publisher.pace(rate, &stop), measure);
        paced?;
        tracing::info!(?measured, "ramp step");
        let keeps_up = measured.published_per_sec >= KEEPS_UP * rate
            && measured.delivered_per_sec >= KEEPS_UP * rate;
        steps.push(measured);
        if !keeps_up || rate * RAMP_FACTOR > RAMP_MAX {
            break;
        }
        rate *= RAMP_FACTOR;
    }
    let saturation = steps
        .iter()
        .map(|step| step.delivered_per_sec)
        .fold(0.0, f64::max);
    Ok((saturation, steps))
}

/// Counters at one instant, for rates over an interval.
struct Reading {
    at: Instant,
    published: u64,
    delivered: u64,
    cpu: Option<Duration>,
    own_cpu: Option<Duration>,
}

impl Reading {
    fn take(published: &PublishCounters, fleet: &FleetCounters, server: &SoakServer) -> Reading {
        Reading {
            at: Instant::now(),
            published: published.published.load(Ordering::Relaxed),
            delivered: fleet.delivered.load(Ordering::Relaxed),
            cpu: server.probe().cpu,
            own_cpu: process::cpu_time_of("self"),
        }
    }

    fn since(&self, earlier: &Reading, target: f64) -> RampStep {
        let secs = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        RampStep {
            target_per_sec: target,
            published_per_sec: (self.published - earlier.published) as f64 / secs,
            delivered_per_sec: (self.delivered - earlier.delivered) as f64 / secs,
            server_cpu_percent: cpu_percent(earlier.cpu, self.cpu, secs),
            client_cpu_percent: cpu_percent(earlier.own_cpu, self.own_cpu, secs),
        }
    }
}

fn cpu_percent(from: Option<Duration>, to: Option<Duration>, secs: f64) -> Option<f64> {
    Some(to?.checked_sub(from?)?.as_secs_f64() / secs * 100.0)
}

/// After publishing stops: every stream that has not received the last number published to
/// it gets a fresh one (a marker), round after round, until all have caught up or
/// [`SETTLE_TIMEOUT`] passes. A marker that reaches a stream proves it is subscribed again and
/// has everything before it (or has said, with a gap, what it missed). Returns how many
/// streams never caught up.
async fn drain(publisher: &mut Publisher, counters: &FleetCounters) -> Result<usize, BenchError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut pending = behind(publisher, counters);
    while !pending.is_empty() && Instant::now() < deadline {
        for chunk in pending.chunks(1_000) {
            while !publisher.publish(chunk).await? {
                if Instant::now() >= deadline {
                    return Ok(pending.len());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let round_end = Instant::now() + MARKER_ROUND;
        while Instant::now() < round_end && !behind(publisher, counters).is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        pending = behind(publisher, counters);
    }
    Ok(pending.len())
}

/// The server's count of connections and subscriptions (`GET /healthz`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ServerCounts {
    pub connections: u64,
    pub subscriptions: u64,
}

/// The server's counts once they settle at one connection and one subscription per stream
/// (connections that just closed may take a moment to leave), or what they are after
/// [`SETTLE_TIMEOUT`].
async fn settled_counts(
    http: &reqwest::Client,
    server: &SoakServer,
    streams: usize,
) -> Result<ServerCounts, BenchError> {
    let url = format!("http://{}/healthz", server.admin);
    let want = ServerCounts {
        connections: streams as u64,
        subscriptions: streams as u64,
    };
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let counts: ServerCounts = http.get(&url).send().await?.json().await?;
        if counts == want || Instant::now() >= deadline {
            return Ok(counts);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Samples the server, the streams and the publisher every second until `stop`.
async fn sample(
    server: Arc<SoakServer>,
    fleet: Arc<FleetCounters>,
    published: Arc<PublishCounters>,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    started: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous = Reading::take(&published, &fleet, &server);
    let mut previous_incarnation = server.probe().incarnation;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let probe = server.probe();
        let now = Reading::take(&published, &fleet, &server);
        let secs = now.at.duration_since(previous.at).as_secs_f64().max(1e-3);
        let cpu = if probe.incarnation == previous_incarnation {
            cpu_percent(previous.cpu, now.cpu, secs)
        } else {
            None
        };
        samples.push(Sample {
            t: now.at.duration_since(started).as_secs_f64(),
            phase: Phase::from_u8(phase.load(Ordering::Relaxed)),
            incarnation: probe.incarnation,
            rss_bytes: probe.rss_bytes,
            fds: probe.fds,
            server_cpu_percent: cpu,
            client_cpu_percent: cpu_percent(previous.own_cpu, now.own_cpu, secs),
            delivered_per_sec: (now.delivered - previous.delivered) as f64 / secs,
            published_per_sec: (now.published - previous.published) as f64 / secs,
            client_rss_bytes: process::rss_of("self"),
        });
        previous = now;
        previous_incarnation = probe.incarnation;
    }
    samples
}
