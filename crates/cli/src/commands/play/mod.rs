//! `userstream play FILE`: a scenario's timeline against a gateway, and with `--check` a client
//! alongside whose items must include each step's observations.
//!
//! The order of things: read and check the file (nothing is sent for a bad one); start a
//! server if asked; set up (key, spare keys, prices, deposits); start the client and wait until
//! every account is subscribed; then the steps, each at its time. A step's observations are
//! awaited right after its action, before the next step runs, so a later step never races an
//! earlier step's check. The first observation that does not hold ends the run.

mod model;
mod observe;
mod server;

use crate::admin_client::AdminClient;
use crate::cli::{AdminArgs, DEFAULT_PUBLIC_URL, PlayArgs, url_or_default};
use crate::http_client::Remote;
use crate::output::print_json;
use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;
use model::{Action, Scenario, Step, When};
use observe::{Log, Seen, observation_json};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use userstream_client::{Clock as _, Options, SystemClock, UserStream};
use userstream_server::faults::FaultRequest;

/// Longest the client may take to subscribe every account before the timeline starts.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long after the last step `[check] forbid` keeps listening.
const FORBID_SETTLE: Duration = Duration::from_millis(300);
/// Fastest a timeline may be played.
const MAX_SPEED: f64 = 1000.0;

pub async fn run(args: PlayArgs) -> anyhow::Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0 && args.speed <= MAX_SPEED) {
        bail!("--speed must be above 0 and at most {MAX_SPEED}");
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut scenario = Scenario::parse_as(&text, model::Format::of(&args.file))
        .map_err(|error| anyhow!("{}: {error}", args.file.display()))?;
    if let Some(uid) = args.uid {
        scenario.setup.uid = Some(uid);
    }
    eprintln!(
        "playing '{}' ({} steps){}{}",
        scenario.name,
        scenario.steps.len(),
        if scenario.description.is_empty() {
            ""
        } else {
            ": "
        },
        scenario.description.trim()
    );
    let started = if args.start_server {
        Some(server::StartedServer::start().await?)
    } else {
        None
    };
    let (public_url, admin) = match &started {
        Some(server) => (
            server.public_url.clone(),
            AdminArgs {
                admin_url: server.admin_url.clone(),
                // The server started here has no admin token.
                admin_token: None,
                trust: args.admin.trust.clone(),
            },
        ),
        None => (
            url_or_default(&args.url, DEFAULT_PUBLIC_URL).to_owned(),
            args.admin.clone(),
        ),
    };
    let result = play(&scenario, &args, &public_url, &admin).await;
    if let Some(server) = started {
        server.stop().await;
    }
    let outcome = result?;
    print_json(&outcome.summary)?;
    match outcome.failure {
        None => Ok(()),
        Some(failure) => Err(anyhow!(failure)),
    }
}

/// A TOML scenario's name and description, for a list of scenarios; `None` when it does not
/// read.
pub fn describe(text: &str) -> Option<(String, String)> {
    let scenario = Scenario::parse_as(text, model::Format::Toml).ok()?;
    Some((scenario.name, scenario.description))
}

/// The summary line, and what failed, if anything.
struct Outcome {
    summary: Value,
    failure: Option<String>,
}

/// What the setup made: the streaming key and the spare ones.
struct Keys {
    uid: u64,
    api_key: String,
    secret: String,
    spare: Vec<(String, String)>,
}

struct Player<'a> {
    scenario: &'a Scenario,
    admin: AdminClient,
    public: Remote,
    keys: Keys,
    speed: f64,
    start: Instant,
    /// When the client started, before the timeline: its item times are shifted by this much.
    timeline_offset: u64,
    verbose: bool,
    log: Log,
    items: Option<mpsc::UnboundedReceiver<Seen>>,
}

async fn play(
    scenario: &Scenario,
    args: &PlayArgs,
    public_url: &str,
    admin_args: &AdminArgs,
) -> anyhow::Result<Outcome> {
    let admin = AdminClient::new(admin_args)?;
    let trusted = admin_args.trust.certificates()?;
    let public = Remote::new(public_url, &trusted)?;
    let keys = setup(scenario, &admin).await.context("setup failed")?;
    let client_started = Instant::now();
    let (items, _stream_task) = if args.check {
        let (items, task) = start_client(scenario, &keys, public_url, trusted, client_started)?;
        (Some(items), Some(task))
    } else {
        (None, None)
    };
    let mut player = Player {
        scenario,
        admin,
        public,
        keys,
        speed: args.speed,
        start: client_started,
        timeline_offset: 0,
        verbose: args.verbose,
        log: Log::default(),
        items,
    };
    if player.items.is_some() {
        player.await_subscriptions().await?;
    }
    let timeline = Instant::now();
    player.start = timeline;
    player.timeline_offset =
        u64::try_from((timeline - client_started).as_millis()).unwrap_or(u64::MAX);
    // Items before the timeline (the subscriptions) are kept, but observations start after them.
    player.log.cursor = player.log.items.len();
    let mut previous_end = timeline;
    let mut steps_run = 0;
    let mut held = 0;
    let mut failure = None;
    for step in &scenario.steps {
        let due = match step.when {
            When::At(ms) => timeline + player.scaled(ms),
            When::After(ms) => previous_end + player.scaled(ms),
        };
        tokio::time::sleep_until(due.into()).await;
        let began = player.elapsed_ms();
        if let Err(error) = player.act(step).await {
            failure = Some((
                step,
                format!(
                    "step {} ({}) at +{began} ms failed: {error:#}",
                    step.number,
                    step.action.name()
                ),
                None,
            ));
            break;
        }
        steps_run += 1;
        if player.items.is_some() {
            let deadline = Instant::now() + Duration::from_millis(step.within_ms);
            for (index, observation) in step.expect.iter().enumerate() {
                if player.observe(observation, deadline).await {
                    held += 1;
                    continue;
                }
                let text = format!(
                    "step {} ({}) at +{began} ms: observation {} of {} did not hold within {} ms\n{}",
                    step.number,
                    step.action.name(),
                    index + 1,
                    step.expect.len(),
                    step.within_ms,
                    player.log.diff(observation)
                );
                failure = Some((step, text, Some(observation_json(observation))));
                break;
            }
            if failure.is_some() {
                break;
            }
        }
        previous_end = Instant::now();
    }
    if player.items.is_some() && failure.is_none() && !scenario.forbid.is_empty() {
        // What the last step set off may still be on its way.
        tokio::time::sleep(FORBID_SETTLE).await;
        player.drain();
        if let Some((seen, rule)) = player.log.forbidden(&scenario.forbid) {
            let text = format!(
                "[check] forbid: {rule} arrived at +{} ms: {}",
                seen.at_ms, seen.text
            );
            eprintln!("{text}");
            return Ok(Outcome {
                summary: summary(
                    scenario,
                    &player,
                    steps_run,
                    held,
                    Some(json!({"forbidden": observation_json(rule)})),
                ),
                failure: Some(format!(
                    "scenario '{}' failed: a forbidden item arrived",
                    scenario.name
                )),
            });
        }
    }
    Ok(match failure {
        None => Outcome {
            summary: summary(scenario, &player, steps_run, held, None),
            failure: None,
        },
        Some((step, text, expected)) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            let mut detail = json!({ "step": step.number, "action": step.action.name() });
            if let Some(expected) = expected {
                detail["expected"] = expected;
            }
            Outcome {
                summary: summary(scenario, &player, steps_run, held, Some(detail)),
                failure: Some(format!(
                    "scenario '{}' failed at step {}",
                    scenario.name, step.number
                )),
            }
        }
    })
}

fn summary(
    scenario: &Scenario,
    player: &Player<'_>,
    steps_run: usize,
    held: usize,
    failure: Option<Value>,
) -> Value {
    let mut line = json!({
        "scenario": scenario.name,
        "result": if failure.is_none() { "passed" } else { "failed" },
        "steps": scenario.steps.len(),
        "stepsRun": steps_run,
        "checked": player.items.is_some(),
        "observations": scenario.observation_count(),
        "held": held,
        "items": player.log.items.len(),
        "elapsedMs": player.elapsed_ms(),
    });
    if let Some(failure) = failure {
        line["failure"] = failure;
    }
    line
}

/// The streaming key (and spare keys) of the scenario's user, its prices and its deposits.
async fn setup(scenario: &Scenario, admin: &AdminClient) -> anyhow::Result<Keys> {
    let setup = &scenario.setup;
    let isolated: Vec<String> = setup
        .isolated
        .iter()
        .map(|symbol| symbol.trim().to_ascii_uppercase())
        .collect();
    let created = admin
        .create_key(setup.uid, Some("play"), &isolated)
        .await
        .context("cannot create the scenario's API key")?;
    let field = |value: &Value, name: &str| -> anyhow::Result<String> {
        value[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the key answer has no {name}: {value}"))
    };
    let uid = created["uid"]
        .as_u64()
        .with_context(|| format!("the key answer has no uid: {created}"))?;
    let mut spare = Vec::new();
    for name in &setup.spare_keys {
        let key = admin
            .create_key(Some(uid), Some(name), &[])
            .await
            .with_context(|| format!("cannot create the spare key {name}"))?;
        spare.push((name.clone(), field(&key, "apiKey")?));
    }
    for (symbol, price) in &setup.prices {
        admin
            .set_price(&symbol.trim().to_ascii_uppercase(), price)
            .await
            .with_context(|| format!("cannot set the price of {symbol}"))?;
    }
    for deposit in &setup.deposits {
        admin
            .deposit(
                uid,
                deposit.isolated.as_deref(),
                &deposit.asset,
                &deposit.amount,
            )
            .await
            .with_context(|| format!("cannot deposit {} {}", deposit.amount, deposit.asset))?;
    }
    Ok(Keys {
        uid,
        api_key: field(&created, "apiKey")?,
        secret: field(&created, "secretKey")?,
        spare,
    })
}

/// A client stream of the scenario's accounts, its items forwarded with their arrival times.
fn start_client(
    scenario: &Scenario,
    keys: &Keys,
    public_url: &str,
    trusted: userstream_client::TrustedCertificates,
    started: Instant,
) -> anyhow::Result<(mpsc::UnboundedReceiver<Seen>, AbortOnDrop)> {
    let mut builder = UserStream::builder()
        .api_key(&keys.api_key)
        .secret(&keys.secret)
        .local(public_url)?
        .options(Options {
            token_validity: scenario.setup.token_validity_ms.map(Duration::from_millis),
            trusted_certificates: trusted,
            ..Options::default()
        });
    if scenario.setup.cross {
        builder = builder.cross();
    }
    for symbol in &scenario.setup.isolated {
        builder = builder.isolated(symbol);
    }
    let mut stream = builder.start().context("cannot start the client")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if let Some(seen) = Seen::from_item(&item, at_ms)
                && tx.send(seen).is_err()
            {
                return;
            }
        }
    });
    Ok((rx, AbortOnDrop(task)))
}

/// Stops the client when play ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Player<'_> {
    fn scaled(&self, ms: u64) -> Duration {
        Duration::from_secs_f64(ms as f64 / 1000.0 / self.speed)
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Moves what arrived into the log, with times relative to the timeline.
    fn drain(&mut self) {
        let offset = self.timeline_offset;
        if let Some(items) = &mut self.items {
            while let Ok(mut seen) = items.try_recv() {
                seen.at_ms = seen.at_ms.saturating_sub(offset);
                if self.verbose {
                    eprintln!("  +{:>6} ms  {}", seen.at_ms, seen.text);
                }
                self.log.items.push(seen);
            }
        }
    }

    /// Waits until `observation` holds (after the ones before it) or `deadline` passes.
    async fn observe(&mut self, observation: &model::Observation, deadline: Instant) -> bool {
        loop {
            self.drain();
            if self.log.take(observation) {
                return true;
            }
            let Some(items) = &mut self.items else {
                return false;
            };
            let next = tokio::time::timeout_at(deadline.into(), items.recv()).await;
            match next {
                Ok(Some(mut seen)) => {
                    seen.at_ms = seen.at_ms.saturating_sub(self.timeline_offset);
                    if self.verbose {
                        eprintln!("  +{:>6} ms  {}", seen.at_ms, seen.text);
                    }
                    self.log.items.push(seen);
                }
                // The stream ended (terminated) or time is up: one last look, then give up.
                Ok(None) | Err(_) => {
                    self.drain();
                    return self.log.take(observation);
                }
            }
        }
    }

    /// Every account subscribed, before the timeline starts.
    async fn await_subscriptions(&mut self) -> anyhow::Result<()> {
        let mut accounts: Vec<String> = self
            .scenario
            .setup
            .isolated
            .iter()
            .map(|symbol| symbol.trim().to_ascii_uppercase())
            .collect();
        if self.scenario.setup.cross {
            accounts.push("cross".to_owned());
        }
        let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
        let subscribed = |log: &Log, account: &String| {
            log.items.iter().any(|seen| {
                seen.kind == model::ObservationKind::Status("subscribed".into())
                    && seen.account.as_ref() == Some(account)
            })
        };
        loop {
            if accounts
                .iter()
                .all(|account| subscribed(&self.log, account))
            {
                return Ok(());
            }
            let Some(items) = &mut self.items else {
                return Ok(());
            };
            match tokio::time::timeout_at(deadline.into(), items.recv()).await {
                Ok(Some(seen)) => {
                    if self.verbose {
                        eprintln!("  before start  {}", seen.text);
                    }
                    self.log.items.push(seen);
                }
                Ok(None) => {
                    let last = self.log.items.last().map(|seen| seen.text.clone());
                    bail!(
                        "the client stopped before subscribing: {}",
                        last.unwrap_or_default()
                    );
                }
                Err(_) => {
                    let seen: Vec<String> = self
                        .log
                        .items
                        .iter()
                        .map(|seen| seen.text.clone())
                        .collect();
                    bail!(
                        "the client did not subscribe every account within {} s; it yielded:\n  {}",
                        SUBSCRIBE_TIMEOUT.as_secs(),
                        seen.join("\n  ")
                    );
                }
            }
        }
    }

    async fn act(&self, step: &Step) -> anyhow::Result<()> {
        let uid = self.keys.uid;
        match &step.action {
            Action::Price { symbol, price } => {
                self.admin.set_price(symbol, price).await?;
            }
            Action::Order(fields) => {
                self.admin.place_order(&with_uid(fields, uid)).await?;
            }
            Action::Fill(fields) => {
                self.admin.fill_order(&with_uid(fields, uid)).await?;
            }
            Action::Cancel(fields) => {
                self.admin.cancel_order(&with_uid(fields, uid)).await?;
            }
            Action::Oco(fields) => {
                self.signed_post(&["sapi", "v1", "margin", "order", "oco"], fields)
                    .await?;
            }
            Action::Publish { isolated, event } => {
                let mut item = json!({ "uid": uid, "event": event });
                if let Some(symbol) = isolated {
                    item["isolatedSymbol"] = json!(symbol.trim().to_ascii_uppercase());
                }
                self.admin.publish(&item).await?;
            }
            Action::Fault(fault) => {
                let request = FaultRequest {
                    kind: fault.kind,
                    uid: (!fault.all).then_some(uid),
                    isolated_symbol: fault
                        .isolated
                        .as_ref()
                        .map(|symbol| symbol.trim().to_ascii_uppercase()),
                    session_id: None,
                    duration_ms: fault.duration_ms,
                    count: fault.count,
                    status: fault.status,
                    code: fault.code,
                    msg: fault.msg.clone(),
                };
                self.admin.inject_fault(&request).await?;
            }
            Action::RevokeKey(name) => {
                let key = if name == "client" {
                    &self.keys.api_key
                } else {
                    self.keys
                        .spare
                        .iter()
                        .find(|(spare, _)| spare == name)
                        .map(|(_, key)| key)
                        .with_context(|| format!("no spare key {name}"))?
                };
                self.admin.revoke_key(key).await?;
            }
            Action::Wait(ms) => tokio::time::sleep(self.scaled(*ms)).await,
        }
        Ok(())
    }

    /// A SIGNED POST on the public REST API, as a Binance client sends it: the parameters and
    /// `timestamp` in the query, its HMAC-SHA256 with the key's secret as `signature`.
    async fn signed_post(
        &self,
        path: &[&str],
        fields: &Map<String, Value>,
    ) -> anyhow::Result<Value> {
        let mut url = self.public.url(path);
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in fields {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                query.append_pair(name, &text);
            }
            query.append_pair("timestamp", &(SystemClock.now_us() / 1000).to_string());
        }
        let signed = url.query().unwrap_or_default().to_owned();
        let signature = userstream_protocol::signature::hmac_sha256_hex(
            self.keys.secret.as_bytes(),
            signed.as_bytes(),
        )
        .context("cannot sign the request")?;
        url.query_pairs_mut().append_pair("signature", &signature);
        let request = self
            .public
            .client()
            .post(url)
            .header("X-MBX-APIKEY", &self.keys.api_key);
        self.public.send(request).await
    }
}

/// An order's fields with the scenario's uid.
fn with_uid(fields: &Map<String, Value>, uid: u64) -> Map<String, Value> {
    let mut body = fields.clone();
    body.insert("uid".into(), json!(uid));
    body
}
