//! A scenario file: what it may say, read and checked before anything runs.
//!
//! The file is TOML. Each `[[step]]` is read on its own, so an error names the step it is in
//! (`step 3: unknown field `pirce``), and every check that does not need a server (one action
//! per step, times that make sense, observations of a known kind) is done here, before a single
//! request is sent.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// How long an observation may take to arrive unless the step says otherwise.
pub const DEFAULT_WITHIN_MS: u64 = 2_000;
/// Longest a scenario may ask anything to take (`after_ms`, a wait, a `within_ms`): an hour.
const MAX_MS: u64 = 3_600_000;
/// Latest a step's `at_ms` may be: a week, so that a recording of a day or more plays.
const MAX_AT_MS: u64 = 7 * 86_400_000;

/// A scenario, checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub setup: Setup,
    pub steps: Vec<Step>,
    /// Items that must not arrive at all while the scenario runs.
    pub forbid: Vec<Observation>,
}

/// What exists before the first step: the account, its key, balances and prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The user; a new one when absent.
    pub uid: Option<u64>,
    /// Stream the cross margin account (default: yes).
    #[serde(default = "yes")]
    pub cross: bool,
    /// Isolated pairs to open and stream.
    #[serde(default)]
    pub isolated: Vec<String>,
    /// Other keys of the same user, by name, for `revoke_key`.
    #[serde(default)]
    pub spare_keys: Vec<String>,
    /// Deposits made before the stream starts.
    #[serde(default, rename = "deposit")]
    pub deposits: Vec<Deposit>,
    /// Prices set before the stream starts: `BTCUSDT = "60000"`.
    #[serde(default)]
    pub prices: BTreeMap<String, String>,
    /// The validity the client asks its tokens for, in ms (default: the server's, 24 h).
    pub token_validity_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Default for Setup {
    /// No `[setup]`: a new user, streaming its cross margin account.
    fn default() -> Setup {
        Setup {
            uid: None,
            cross: true,
            isolated: Vec::new(),
            spare_keys: Vec::new(),
            deposits: Vec::new(),
            prices: BTreeMap::new(),
            token_validity_ms: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deposit {
    pub asset: String,
    pub amount: String,
    /// The isolated pair to deposit into (cross when absent).
    pub isolated: Option<String>,
}

/// One step: when, what, and what the client must see.
#[derive(Debug, Clone)]
pub struct Step {
    /// 1-based, as in error messages.
    pub number: usize,
    pub when: When,
    pub action: Action,
    pub expect: Vec<Observation>,
    pub within_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Milliseconds after the timeline started.
    At(u64),
    /// Milliseconds after the previous step ran (its observations included).
    After(u64),
}

#[derive(Debug, Clone)]
pub enum Action {
    Price {
        symbol: String,
        price: String,
    },
    /// `POST /admin/v1/orders`: Binance's order fields (the scenario's uid is added).
    Order(Map<String, Value>),
    /// `POST /admin/v1/orders/fill`.
    Fill(Map<String, Value>),
    /// `POST /admin/v1/orders/cancel`.
    Cancel(Map<String, Value>),
    /// `POST /sapi/v1/margin/order/oco`, signed with the scenario's key.
    Oco(Map<String, Value>),
    /// `POST /admin/v1/events`: one raw event for the scenario's account.
    Publish {
        isolated: Option<String>,
        event: Map<String, Value>,
    },
    Fault(Fault),
    /// Revoke a key by name: one of `setup.spare_keys`, or `client` for the streaming key.
    RevokeKey(String),
    /// Do nothing for this many ms.
    Wait(u64),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Price { .. } => "price",
            Action::Order(_) => "order",
            Action::Fill(_) => "fill",
            Action::Cancel(_) => "cancel",
            Action::Oco(_) => "oco",
            Action::Publish { .. } => "publish",
            Action::Fault(_) => "fault",
            Action::RevokeKey(_) => "revoke_key",
            Action::Wait(_) => "wait",
        }
    }
}

/// A fault, in the admin API's terms. It targets the scenario's account (cross, or `isolated`)
/// unless `all` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `terminate`, `drop`, `mute`, `shutdown`, `fail-token-requests` or `delay` (the
    /// admin API's camelCase names work too).
    #[serde(deserialize_with = "fault_kind")]
    pub kind: userstream_server::faults::FaultKind,
    #[serde(default)]
    pub all: bool,
    pub isolated: Option<String>,
    pub duration_ms: Option<u64>,
    pub count: Option<u32>,
    pub status: Option<u16>,
    pub code: Option<i32>,
    pub msg: Option<String>,
}

fn fault_kind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<userstream_server::faults::FaultKind, D::Error> {
    use userstream_server::faults::FaultKind;
    let name = String::deserialize(deserializer)?;
    let squashed: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(match squashed.as_str() {
        "terminate" => FaultKind::Terminate,
        "drop" => FaultKind::Drop,
        "mute" => FaultKind::Mute,
        "shutdown" => FaultKind::Shutdown,
        "failtokenrequests" => FaultKind::FailTokenRequests,
        "delay" => FaultKind::Delay,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "unknown fault kind {name:?}; one of terminate, drop, mute, shutdown, fail-token-requests, delay"
            )));
        }
    })
}

/// Something the client must yield: an event or a status, with field values.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub kind: ObservationKind,
    /// `cross` or an isolated pair's symbol.
    pub account: Option<String>,
    /// Other fields and the values they must have.
    pub fields: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservationKind {
    /// An event of this `e`.
    Event(String),
    /// A status, by name (`subscribed`, `gap`…).
    Status(String),
}

/// The status names an observation may use.
pub const STATUSES: &[&str] = &[
    "connected",
    "subscribed",
    "renewed",
    "reconnecting",
    "handover_started",
    "handover_complete",
    "token_retry",
    "snapshot_retry",
    "gap",
    "resumed",
    "not_representable",
    "terminated",
    "snapshot",
];

impl fmt::Display for Observation {
    /// In the file's own syntax: `{ event = "executionReport", X = "FILLED" }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![match &self.kind {
            ObservationKind::Event(name) => format!("event = {}", Value::from(name.as_str())),
            ObservationKind::Status(name) => format!("status = {}", Value::from(name.as_str())),
        }];
        if let Some(account) = &self.account {
            parts.push(format!("account = {}", Value::from(account.as_str())));
        }
        for (name, value) in &self.fields {
            parts.push(format!("{name} = {value}"));
        }
        write!(f, "{{ {} }}", parts.join(", "))
    }
}

/// Why a scenario file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

fn error(text: impl Into<String>) -> ScenarioError {
    ScenarioError(text.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    scenario: RawMeta,
    #[serde(default)]
    setup: Setup,
    /// Read whole first, so that an error names its step.
    #[serde(default)]
    step: Vec<Value>,
    #[serde(default)]
    check: RawCheck,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default)]
    forbid: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at_ms: Option<u64>,
    after_ms: Option<u64>,
    price: Option<RawPrice>,
    order: Option<Map<String, Value>>,
    fill: Option<Map<String, Value>>,
    cancel: Option<Map<String, Value>>,
    oco: Option<Map<String, Value>>,
    publish: Option<RawPublish>,
    fault: Option<Fault>,
    revoke_key: Option<String>,
    wait: Option<u64>,
    #[serde(default)]
    expect: Vec<Map<String, Value>>,
    within_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    symbol: String,
    price: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    isolated: Option<String>,
    event: Map<String, Value>,
    /// Fields of the event that are null (TOML has no null), e.g. `["N"]`: an executionReport
    /// with no commission asset.
    #[serde(default)]
    nulls: Vec<String>,
}

/// The two ways a scenario may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for a `.yaml` or `.yml` file, TOML for anything else.
    pub fn of(path: &std::path::Path) -> Format {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension)
                if extension.eq_ignore_ascii_case("yaml")
                    || extension.eq_ignore_ascii_case("yml") =>
            {
                Format::Yaml
            }
            _ => Format::Toml,
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario from the text of a TOML file.
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_as(text, Format::Toml)
    }

    /// Reads and checks a scenario written in `format`; both formats have the same tables and
    /// keys (`step` is a list of maps in YAML, where `null` may stand in for `nulls`).
    pub fn parse_as(text: &str, format: Format) -> Result<Scenario, ScenarioError> {
        let raw: RawFile = match format {
            Format::Toml => toml::from_str(text).map_err(|e| error(e.to_string()))?,
            Format::Yaml => yaml_serde::from_str(text).map_err(|e| error(e.to_string()))?,
        };
        if raw.scenario.name.trim().is_empty() {
            return Err(error("[scenario] name must not be empty"));
        }
        check_setup(&raw.setup)?;
        let mut steps = Vec::with_capacity(raw.step.len());
        let mut last_at = 0;
        for (index, value) in raw.step.into_iter().enumerate() {
            let number = index + 1;
            let step = parse_step(number, value, &raw.setup)
                .map_err(|e| error(format!("step {number}: {}", e.0)))?;
            if let When::At(at) = step.when {
                if at < last_at {
                    return Err(error(format!(
                        "step {number}: at_ms = {at} is before the previous step's at_ms = {last_at}; steps run in file order"
                    )));
                }
                last_at = at;
            }
            steps.push(step);
        }
        let forbid = raw
            .check
            .forbid
            .into_iter()
            .map(observation)
            .collect::<Result<_, _>>()
            .map_err(|e| error(format!("[check] forbid: {}", e.0)))?;
        Ok(Scenario {
            name: raw.scenario.name,
            description: raw.scenario.description,
            setup: raw.setup,
            steps,
            forbid,
        })
    }

    /// How many observations the steps expect.
    pub fn observation_count(&self) -> usize {
        self.steps.iter().map(|step| step.expect.len()).sum()
    }
}

fn check_setup(setup: &Setup) -> Result<(), ScenarioError> {
    if !setup.cross && setup.isolated.is_empty() {
        return Err(error(
            "[setup] streams no account: leave cross = true or list isolated pairs",
        ));
    }
    for name in &setup.spare_keys {
        if name == "client" || name.trim().is_empty() {
            return Err(error(format!(
                "[setup] spare_keys: {name:?} cannot name a spare key ('client' is the streaming key)"
            )));
        }
    }
    if let Some(ms) = setup.token_validity_ms
        && !(1..=86_400_000).contains(&ms)
    {
        return Err(error(
            "[setup] token_validity_ms must be 1..=86400000 (a day)",
        ));
    }
    Ok(())
}

fn parse_step(number: usize, value: Value, setup: &Setup) -> Result<Step, ScenarioError> {
    // The error of a lone value has no line to point at; its message is what helps.
    let raw: RawStep = serde_json::from_value(value).map_err(|e| error(e.to_string()))?;
    let when = match (raw.at_ms, raw.after_ms) {
        (Some(_), Some(_)) => return Err(error("give at_ms or after_ms, not both")),
        (Some(at), None) => When::At(at),
        (None, Some(after)) => When::After(after),
        (None, None) => When::After(0),
    };
    let mut actions = Vec::new();
    if let Some(price) = raw.price {
        actions.push(Action::Price {
            symbol: price.symbol.trim().to_ascii_uppercase(),
            price: price.price,
        });
    }
    if let Some(order) = raw.order {
        actions.push(Action::Order(order));
    }
    if let Some(fill) = raw.fill {
        actions.push(Action::Fill(fill));
    }
    if let Some(cancel) = raw.cancel {
        actions.push(Action::Cancel(cancel));
    }
    if let Some(oco) = raw.oco {
        actions.push(Action::Oco(oco));
    }
    if let Some(publish) = raw.publish {
        let mut event = publish.event;
        for name in publish.nulls {
            if event.contains_key(&name) {
                return Err(error(format!("publish: {name} is in both event and nulls")));
            }
            event.insert(name, Value::Null);
        }
        actions.push(Action::Publish {
            isolated: publish.isolated,
            event,
        });
    }
    if let Some(fault) = raw.fault {
        if fault.all && fault.isolated.is_some() {
            return Err(error(
                "a fault targets all connections or one account, not both",
            ));
        }
        actions.push(Action::Fault(fault));
    }
    if let Some(name) = raw.revoke_key {
        if name != "client" && !setup.spare_keys.contains(&name) {
            return Err(error(format!(
                "revoke_key = {name:?} names no key: use \"client\" or one of [setup] spare_keys"
            )));
        }
        actions.push(Action::RevokeKey(name));
    }
    if let Some(ms) = raw.wait {
        actions.push(Action::Wait(ms));
    }
    let action = match actions.len() {
        1 => actions.remove(0),
        0 => {
            return Err(error(
                "no action: give one of price, order, fill, cancel, oco, publish, fault, revoke_key, wait",
            ));
        }
        _ => {
            let names: Vec<_> = actions.iter().map(Action::name).collect();
            return Err(error(format!(
                "{} actions ({}); a step does one thing, split it",
                names.len(),
                names.join(", ")
            )));
        }
    };
    for (name, fields) in [
        ("order", action_fields(&action, "order")),
        ("fill", action_fields(&action, "fill")),
        ("cancel", action_fields(&action, "cancel")),
        ("oco", action_fields(&action, "oco")),
    ] {
        if let Some(fields) = fields {
            for key in ["uid", "timestamp", "signature"] {
                if fields.contains_key(key) {
                    return Err(error(format!(
                        "{name}: {key} is filled in by play; leave it out"
                    )));
                }
            }
            if !fields.contains_key("symbol") {
                return Err(error(format!("{name}: symbol is required")));
            }
        }
    }
    if raw.at_ms.is_some_and(|ms| ms > MAX_AT_MS) {
        return Err(error(format!("at_ms must be at most {MAX_AT_MS} (a week)")));
    }
    let times = [
        ("after_ms", raw.after_ms),
        ("wait", raw.wait),
        ("within_ms", raw.within_ms),
    ];
    for (name, value) in times {
        if value.is_some_and(|ms| ms > MAX_MS) {
            return Err(error(format!("{name} must be at most {MAX_MS} (an hour)")));
        }
    }
    let expect = raw
        .expect
        .into_iter()
        .enumerate()
        .map(|(index, table)| {
            observation(table).map_err(|e| error(format!("expect[{}]: {}", index + 1, e.0)))
        })
        .collect::<Result<_, _>>()?;
    Ok(Step {
        number,
        when,
        action,
        expect,
        within_ms: raw.within_ms.unwrap_or(DEFAULT_WITHIN_MS),
    })
}

fn action_fields<'a>(action: &'a Action, name: &str) -> Option<&'a Map<String, Value>> {
    match (action, name) {
        (Action::Order(fields), "order")
        | (Action::Fill(fields), "fill")
        | (Action::Cancel(fields), "cancel")
        | (Action::Oco(fields), "oco") => Some(fields),
        _ => None,
    }
}

/// `{ event = "…", account? = "…", field = value… }` or `{ status = "…", … }`.
fn observation(mut table: Map<String, Value>) -> Result<Observation, ScenarioError> {
    let text =
        |table: &mut Map<String, Value>, key: &str| -> Result<Option<String>, ScenarioError> {
            match table.remove(key) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(other) => Err(error(format!("{key} must be a string, not {other}"))),
            }
        };
    let event = text(&mut table, "event")?;
    let status = text(&mut table, "status")?;
    let account = text(&mut table, "account")?.map(|account| {
        if account.eq_ignore_ascii_case("cross") {
            "cross".to_owned()
        } else {
            account.trim().to_ascii_uppercase()
        }
    });
    let kind = match (event, status) {
        (Some(event), None) => ObservationKind::Event(event),
        (None, Some(status)) => {
            if !STATUSES.contains(&status.as_str()) {
                return Err(error(format!(
                    "unknown status {status:?}; one of {}",
                    STATUSES.join(", ")
                )));
            }
            ObservationKind::Status(status)
        }
        (Some(_), Some(_)) => {
            return Err(error("an observation is an event or a status, not both"));
        }
        (None, None) => {
            return Err(error(
                "say what to observe: event = \"executionReport\" (or another e), or status = \"subscribed\" (or another status)",
            ));
        }
    };
    Ok(Observation {
        kind,
        account,
        fields: table.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[scenario]\nname = \"t\"\n";

    #[test]
    fn a_full_scenario_reads() {
        let text = format!(
            "{HEAD}
[setup]
uid = 5
isolated = [\"BTCUSDT\"]
prices = {{ BTCUSDT = \"60000\" }}
[[setup.deposit]]
asset = \"USDT\"
amount = \"1000\"

[[step]]
at_ms = 100
order = {{ symbol = \"BTCUSDT\", side = \"BUY\", type = \"MARKET\", quantity = \"0.01\" }}
expect = [{{ event = \"executionReport\", x = \"TRADE\", account = \"cross\" }}]

[[step]]
after_ms = 50
fault = {{ kind = \"terminate\" }}
expect = [{{ status = \"resumed\" }}]
within_ms = 5000
"
        );
        let scenario = Scenario::parse(&text).unwrap();
        assert_eq!(scenario.steps.len(), 2);
        assert_eq!(scenario.steps[0].when, When::At(100));
        assert_eq!(scenario.steps[1].when, When::After(50));
        assert_eq!(scenario.steps[1].within_ms, 5000);
        assert_eq!(scenario.steps[0].within_ms, DEFAULT_WITHIN_MS);
        assert_eq!(
            scenario.steps[0].expect[0].to_string(),
            "{ event = \"executionReport\", account = \"cross\", x = \"TRADE\" }"
        );
        assert_eq!(scenario.observation_count(), 2);
        let text =
            format!("{HEAD}[[step]]\npublish = {{ event = {{ e = \"x\" }}, nulls = [\"N\"] }}\n");
        let scenario = Scenario::parse(&text).unwrap();
        let Action::Publish { event, .. } = &scenario.steps[0].action else {
            panic!("not a publish: {:?}", scenario.steps[0].action);
        };
        assert_eq!(event.get("N"), Some(&Value::Null));
    }

    fn refused(steps: &str) -> String {
        Scenario::parse(&format!("{HEAD}{steps}")).unwrap_err().0
    }

    #[test]
    fn errors_name_the_step() {
        let text = refused("[[step]]\nwait = 1\n[[step]]\npirce = 1\n");
        assert!(text.starts_with("step 2: unknown field `pirce`"), "{text}");
        let text = refused("[[step]]\nwait = 1\nprice = { symbol = \"A\", price = \"1\" }\n");
        assert!(text.contains("step 1: 2 actions (price, wait)"), "{text}");
        let text = refused("[[step]]\nat_ms = 5\n");
        assert!(text.contains("step 1: no action"), "{text}");
        let text = refused("[[step]]\nat_ms = 5\nafter_ms = 1\nwait = 1\n");
        assert!(text.contains("not both"), "{text}");
        let text = refused("[[step]]\nat_ms = 5\nwait = 1\n[[step]]\nat_ms = 4\nwait = 1\n");
        assert!(text.starts_with("step 2: at_ms = 4"), "{text}");
        let text = refused("[[step]]\nwait = 1\nexpect = [{ status = \"gapp\" }]\n");
        assert!(
            text.contains("step 1: expect[1]: unknown status \"gapp\""),
            "{text}"
        );
        let text = refused("[[step]]\nwait = 1\nexpect = [{ x = \"TRADE\" }]\n");
        assert!(text.contains("say what to observe"), "{text}");
        let text = refused("[[step]]\nrevoke_key = \"other\"\n");
        assert!(text.contains("names no key"), "{text}");
        let text = refused("[[step]]\norder = { uid = 1, symbol = \"BTCUSDT\" }\n");
        assert!(text.contains("uid is filled in"), "{text}");
        let text =
            refused("[[step]]\npublish = { event = { e = \"x\", N = 1 }, nulls = [\"N\"] }\n");
        assert!(text.contains("N is in both event and nulls"), "{text}");
        let text = refused("[[step]]\nfault = { kind = \"explode\" }\n");
        assert!(
            text.starts_with("step 1: unknown fault kind \"explode\""),
            "{text}"
        );
    }

    /// `scenarios/full_fill.toml`, written in YAML.
    const FULL_FILL_YAML: &str = r#"
scenario:
  name: full-fill
  description: A resting LIMIT buy is filled in full when the price comes down to it.
setup:
  prices: { BTCUSDT: "60000" }
  deposit:
    - { asset: USDT, amount: "10000" }
step:
  - at_ms: 0
    order: { symbol: BTCUSDT, side: BUY, type: LIMIT, timeInForce: GTC, price: "59000", quantity: "0.01", newClientOrderId: buy1 }
    expect:
      - { event: executionReport, s: BTCUSDT, c: buy1, x: NEW, X: NEW }
      - { event: outboundAccountPosition }
  - after_ms: 300
    price: { symbol: BTCUSDT, price: "58990" }
    expect:
      - { event: executionReport, c: buy1, x: TRADE, X: FILLED, l: "0.01", z: "0.01", L: "59000" }
      - { event: outboundAccountPosition, account: cross }
check:
  forbid: [{ status: gap }, { status: terminated }]
"#;

    #[test]
    fn yaml_reads_as_the_same_scenario_as_toml() {
        let toml =
            Scenario::parse(include_str!("../../../../../scenarios/full_fill.toml")).unwrap();
        let yaml = Scenario::parse_as(FULL_FILL_YAML, Format::Yaml).unwrap();
        assert_eq!(format!("{yaml:?}"), format!("{toml:?}"));
        let null = "scenario: { name: t }\nstep:\n  - publish: { event: { e: x, N: null } }\n";
        let scenario = Scenario::parse_as(null, Format::Yaml).unwrap();
        let Action::Publish { event, .. } = &scenario.steps[0].action else {
            panic!("not a publish: {:?}", scenario.steps[0].action);
        };
        assert_eq!(event.get("N"), Some(&Value::Null));
        let text = Scenario::parse_as("scenario: { name: t }\nstep:\n  - pirce: 1\n", Format::Yaml)
            .unwrap_err()
            .0;
        assert!(text.starts_with("step 1: unknown field `pirce`"), "{text}");
        assert_eq!(Format::of("a/b.YML".as_ref()), Format::Yaml);
        assert_eq!(Format::of("a/b.toml".as_ref()), Format::Toml);
        assert_eq!(Format::of("recording".as_ref()), Format::Toml);
    }

    #[test]
    fn unknown_tables_are_refused() {
        let text = Scenario::parse(&format!("{HEAD}[stup]\nuid = 1\n"))
            .unwrap_err()
            .0;
        assert!(text.contains("unknown field `stup`"), "{text}");
        let text = Scenario::parse("[scenario]\nname = \"\"\n").unwrap_err().0;
        assert!(text.contains("name must not be empty"), "{text}");
    }
}
