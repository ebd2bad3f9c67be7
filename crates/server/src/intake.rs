//! The publish intake: turns a body of untrusted bytes (one item, a JSON array of items, or
//! NDJSON) into account events, validated as a whole before anything is published.
//!
//! One item addresses one account: `{"uid":N, "isolatedSymbol":"BNBUSDT"?, "timeUnit":…?,
//! "event":{…}}`, with the event's timestamps in milliseconds unless `timeUnit` says
//! `MICROSECOND`. The admin API reads its bodies here; a clustered bus reads the same items from
//! its subjects.

use crate::bus::AccountEvent;
use crate::config::Config;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value as JsonTree};
use userstream_protocol::events::{Event, parse_tree};
use userstream_protocol::{Account, TimeUnit, Uid};

/// A publish body, read and checked.
#[derive(Debug)]
pub struct Intake {
    pub events: Vec<AccountEvent>,
    /// The body was one object rather than a batch (the answer's shape differs).
    pub single: bool,
}

/// Why a publish body was refused; the message names the item (or line) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntakeError(pub String);

/// The shape of one item. The event is skipped here (not copied) and read in place from the
/// parsed tree afterwards.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Item {
    uid: Uid,
    isolated_symbol: Option<String>,
    time_unit: Option<String>,
    #[serde(rename = "event")]
    _event: IgnoredAny,
}

/// Reads a publish body. Events without `E` get `now_us`. Symbols must be configured.
pub fn parse(body: &[u8], config: &Config, now_us: i64) -> Result<Intake, IntakeError> {
    let mut events = Vec::new();
    let single = parse_into(body, config, now_us, &mut events)?;
    Ok(Intake { events, single })
}

/// [`parse`], appending the body's events to `events`, so that bodies gathered into one batch
/// are read in place rather than moved again (an event is several hundred bytes). On an error
/// `events` is left as it was. `true` when the body was one object rather than a batch.
pub fn parse_into(
    body: &[u8],
    config: &Config,
    now_us: i64,
    events: &mut Vec<AccountEvent>,
) -> Result<bool, IntakeError> {
    let before = events.len();
    let read = read_items(body, config, now_us, events);
    if read.is_err() {
        events.truncate(before);
    }
    read
}

fn read_items(
    body: &[u8],
    config: &Config,
    now_us: i64,
    events: &mut Vec<AccountEvent>,
) -> Result<bool, IntakeError> {
    let batch = split(body)?;
    let single = batch.is_single();
    let items = batch.items();
    events.reserve(items.len());
    for (index, tree) in items.into_iter().enumerate() {
        let place = |msg: String| {
            if single {
                IntakeError(msg)
            } else {
                IntakeError(format!("item {index}: {msg}"))
            }
        };
        let item: Item = sonic_rs::from_value(tree).map_err(|e| place(e.to_string()))?;
        let account = match item.isolated_symbol {
            None => Account::cross(item.uid),
            Some(symbol) => {
                let symbol = symbol.to_ascii_uppercase();
                check_symbol(config, &symbol).map_err(|e| place(e.0))?;
                Account::isolated(item.uid, symbol)
            }
        };
        let Some(event) = tree.get("event") else {
            return Err(place("missing field `event`".into()));
        };
        let unit = match item.time_unit.as_deref() {
            None => TimeUnit::Millisecond,
            Some(text) => TimeUnit::parse(text)
                .ok_or_else(|| place("timeUnit must be MILLISECOND or MICROSECOND".into()))?,
        };
        let event =
            Event::parse_published_in(event, unit, now_us).map_err(|e| place(e.to_string()))?;
        // The margin risk events describe the cross margin account (our extension of the stream).
        if event.is_risk_event() && account.scope.isolated_symbol().is_some() {
            return Err(place(format!(
                "{} belongs to cross margin accounts; omit isolatedSymbol",
                event.event_type()
            )));
        }
        events.push(AccountEvent { account, event });
    }
    Ok(single)
}

/// Fails unless `symbol` (already upper-case) is a configured pair.
pub fn check_symbol(config: &Config, symbol: &str) -> Result<(), IntakeError> {
    match config.symbol(symbol) {
        Some(_) => Ok(()),
        None => Err(IntakeError(format!(
            "unknown symbol '{}' (not in the configured symbols)",
            userstream_protocol::events::clip(symbol)
        ))),
    }
}

/// A publish body, parsed (with `sonic_rs`, chosen by measurement: docs/benchmarks.md).
enum Batch {
    /// A single object.
    One(JsonTree),
    /// A JSON array of items.
    Array(JsonTree),
    /// NDJSON, one item per line.
    Lines(Vec<JsonTree>),
}

impl Batch {
    fn is_single(&self) -> bool {
        matches!(self, Batch::One(_))
    }

    fn items(&self) -> Vec<&JsonTree> {
        match self {
            Batch::One(item) => vec![item],
            Batch::Array(array) => array
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Batch::Lines(lines) => lines.iter().collect(),
        }
    }
}

/// Splits a publish body into items. NDJSON is recognised by its first line, a whole value with
/// more after it, which one JSON body cannot be: so a batch of lines is never first read as one
/// value, whose depth check would scan the whole body a byte at a time only to fail.
fn split(body: &[u8]) -> Result<Batch, IntakeError> {
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .collect();
    if let [first, rest @ ..] = lines.as_slice()
        && !rest.is_empty()
        && let Ok(first) = parse_tree(first)
    {
        return lines_from(first, rest).map(Batch::Lines);
    }
    match parse_tree(body) {
        Ok(tree) if tree.is_array() => Ok(Batch::Array(tree)),
        Ok(tree) if tree.is_object() => Ok(Batch::One(tree)),
        Ok(_) => Err(IntakeError(
            "expected a JSON object, an array of objects, or NDJSON".into(),
        )),
        Err(whole_error) => match lines.as_slice() {
            // Neither one value nor a first line that is one: the first line's own error.
            [first, _, ..] => Err(line_error(1, parse_tree(first).err().unwrap_or_default())),
            _ => Err(IntakeError(format!("invalid JSON: {whole_error}"))),
        },
    }
}

/// NDJSON items: the first line's, already read, then one per line after it.
fn lines_from(first: JsonTree, rest: &[&[u8]]) -> Result<Vec<JsonTree>, IntakeError> {
    let mut items = Vec::with_capacity(rest.len() + 1);
    items.push(first);
    for (index, line) in rest.iter().enumerate() {
        items.push(parse_tree(line).map_err(|e| line_error(index + 2, e))?);
    }
    Ok(items)
}

fn line_error(number: usize, error: String) -> IntakeError {
    IntakeError(format!("line {number}: invalid JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_three_ways() {
        let shape = |body: &[u8]| split(body).ok().map(|b| (b.items().len(), b.is_single()));
        assert_eq!(shape(br#"{"uid":1}"#), Some((1, true)));
        assert_eq!(shape(br#"[{"uid":1},{"uid":2}]"#), Some((2, false)));
        assert_eq!(shape(b"{\"uid\":1}\n{\"uid\":2}\n"), Some((2, false)));
        assert!(split(b"{\"uid\":1}\nnope\n").is_err());
        assert!(split(b"nope").is_err());
        // One value over several lines is still one value; a first line that is not a value
        // whole is not NDJSON.
        assert_eq!(shape(b"{\n  \"uid\": 1\n}\n"), Some((1, true)));
        assert_eq!(shape(b"[\n{\"uid\":1},\n{\"uid\":2}\n]"), Some((2, false)));
        assert_eq!(shape(b"\n{\"uid\":1}\n\n{\"uid\":2}\n\n"), Some((2, false)));
        let error = |body: &[u8]| split(body).err().map(|e| e.0);
        let line_2 = error(b"{\"uid\":1}\n{\"uid\":\n").unwrap_or_default();
        assert!(line_2.starts_with("line 2: invalid JSON: "), "{line_2}");
        let line_1 = error(b"{\"uid\":\n{\"uid\":2}\n").unwrap_or_default();
        assert!(line_1.starts_with("line 1: invalid JSON: "), "{line_1}");
        let whole = error(b"{\"uid\":").unwrap_or_default();
        assert!(whole.starts_with("invalid JSON: "), "{whole}");
    }

    #[test]
    fn items_become_account_events() {
        let config = Config::default();
        let body = b"{\"uid\":7,\"event\":{\"e\":\"balanceUpdate\",\"a\":\"BTC\",\"d\":\"1.5\",\"T\":1}}\n\
            {\"uid\":7,\"isolatedSymbol\":\"bnbusdt\",\"event\":{\"e\":\"balanceUpdate\",\"a\":\"BNB\",\"d\":\"-0.1\",\"T\":1}}";
        let intake = parse(body, &config, 5_000).unwrap();
        assert!(!intake.single);
        assert_eq!(intake.events.len(), 2);
        assert_eq!(intake.events[0].account, Account::cross(7));
        assert_eq!(intake.events[1].account, Account::isolated(7, "BNBUSDT"));
        // Appended to what is there; a refused body leaves it as it was.
        let mut events = intake.events;
        assert_eq!(parse_into(body, &config, 5_000, &mut events), Ok(false));
        assert_eq!(events.len(), 4);
        let second_bad = format!("{}\n{{\"uid\":7}}", std::str::from_utf8(body).unwrap());
        assert!(parse_into(second_bad.as_bytes(), &config, 5_000, &mut events).is_err());
        assert_eq!(events.len(), 4);
        let unknown = br#"[{"uid":7,"isolatedSymbol":"NOPE","event":{}}]"#;
        assert_eq!(
            parse(unknown, &config, 0).unwrap_err().0,
            "item 0: unknown symbol 'NOPE' (not in the configured symbols)"
        );
    }
}
