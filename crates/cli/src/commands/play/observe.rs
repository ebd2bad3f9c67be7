//! What the client yielded, in a form observations are matched against, and the matching.
//!
//! Every item becomes a [`Seen`]: its kind (an event's `e`, or a status name), its account, and
//! its fields as JSON (an event in Binance's shape with millisecond times, a status in a few
//! named fields). An observation holds when kind, account and every field it names agree.

use super::model::{Observation, ObservationKind};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use userstream_client::{Item, Scope, Status};
use userstream_protocol::TimeUnit;

/// One item the client yielded, with when it arrived (ms since the timeline started).
#[derive(Debug, Clone)]
pub struct Seen {
    pub at_ms: u64,
    pub kind: ObservationKind,
    pub account: Option<String>,
    pub fields: Map<String, Value>,
    /// One readable line, for diffs.
    pub text: String,
}

/// `cross` or the isolated pair's symbol.
fn account_name(scope: &Scope) -> String {
    match scope {
        Scope::Cross => "cross".to_owned(),
        Scope::Isolated(symbol) => symbol.clone(),
    }
}

impl Seen {
    pub fn from_item(item: &Item, at_ms: u64) -> Option<Seen> {
        match item {
            Item::Event(event) => {
                let json = event.event.to_json(TimeUnit::Millisecond);
                let fields = match serde_json::from_slice::<Value>(&json) {
                    Ok(Value::Object(fields)) => fields,
                    _ => Map::new(),
                };
                let account = account_name(&event.account);
                let text = format!("{account} {}", String::from_utf8_lossy(&json));
                Some(Seen {
                    at_ms,
                    kind: ObservationKind::Event(event.event.event_type().to_owned()),
                    account: Some(account),
                    fields,
                    text,
                })
            }
            Item::Snapshot(snapshot) => Some(Seen {
                at_ms,
                kind: ObservationKind::Status("snapshot".to_owned()),
                account: Some(account_name(&snapshot.account)),
                fields: Map::new(),
                text: format!(
                    "{} snapshot ({} open orders)",
                    account_name(&snapshot.account),
                    snapshot.open_orders.len()
                ),
            }),
            Item::Status(status) => {
                let (name, account, fields) = status_fields(status)?;
                Some(Seen {
                    at_ms,
                    kind: ObservationKind::Status(name.to_owned()),
                    account: account.map(account_name),
                    fields,
                    text: format!("status {name}: {status}"),
                })
            }
            _ => None,
        }
    }

    /// Whether `observation` holds for this item.
    pub fn matches(&self, observation: &Observation) -> bool {
        self.kind == observation.kind && self.differences(observation).is_empty()
    }

    /// The fields (and account) that disagree, as `name: expected …, got …`.
    pub fn differences(&self, observation: &Observation) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(account) = &observation.account
            && self.account.as_ref() != Some(account)
        {
            out.push(format!(
                "account: expected {account}, got {}",
                self.account.as_deref().unwrap_or("none")
            ));
        }
        for (name, expected) in &observation.fields {
            match self.fields.get(name) {
                None => out.push(format!("{name}: expected {expected}, missing")),
                Some(actual) if !same(expected, actual) => {
                    out.push(format!("{name}: expected {expected}, got {actual}"));
                }
                Some(_) => {}
            }
        }
        out
    }
}

/// A status's name, account and fields.
fn status_fields(status: &Status) -> Option<(&'static str, Option<&Scope>, Map<String, Value>)> {
    let (name, account, fields) = match status {
        Status::Connected {
            connection,
            handover,
            ..
        } => (
            "connected",
            None,
            json!({ "connection": connection, "handover": handover }),
        ),
        Status::Subscribed {
            account,
            connection,
            subscription_id,
            ..
        } => (
            "subscribed",
            Some(account),
            json!({ "connection": connection, "subscription_id": subscription_id }),
        ),
        Status::Renewed {
            account,
            subscription_id,
            ..
        } => (
            "renewed",
            Some(account),
            json!({ "subscription_id": subscription_id }),
        ),
        Status::Reconnecting {
            attempt, reason, ..
        } => (
            "reconnecting",
            None,
            json!({ "attempt": attempt, "reason": reason.to_string() }),
        ),
        Status::HandoverStarted { reason } => (
            "handover_started",
            None,
            json!({ "reason": reason.to_string() }),
        ),
        Status::HandoverComplete { connection } => (
            "handover_complete",
            None,
            json!({ "connection": connection }),
        ),
        Status::TokenRetry {
            account,
            attempt,
            error,
            ..
        } => (
            "token_retry",
            Some(account),
            json!({ "attempt": attempt, "error": error.to_string() }),
        ),
        Status::SnapshotRetry {
            account, attempt, ..
        } => (
            "snapshot_retry",
            Some(account),
            json!({ "attempt": attempt }),
        ),
        Status::Gap(gap) => (
            "gap",
            Some(&gap.account),
            json!({ "reason": gap.reason.to_string() }),
        ),
        Status::Resumed { account, events } => {
            ("resumed", Some(account), json!({ "events": events }))
        }
        Status::NotRepresentable { connection } => (
            "not_representable",
            None,
            json!({ "connection": connection }),
        ),
        Status::Terminated(fatal) => ("terminated", None, json!({ "reason": fatal.to_string() })),
        _ => return None,
    };
    let Value::Object(fields) = fields else {
        return None;
    };
    Some((name, account, fields))
}

/// Equal as JSON, or as text when one side is a string (`i = 1` and `i = "1"` both hold for
/// 1), with decimals compared by value (`"0.01"` holds for `"0.01000000"`).
fn same(expected: &Value, actual: &Value) -> bool {
    if expected == actual {
        return true;
    }
    let text = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    match (text(expected), text(actual)) {
        (Some(expected), Some(actual)) => {
            expected == actual
                || matches!((decimal(&expected), decimal(&actual)), (Some(a), Some(b)) if a == b)
        }
        _ => false,
    }
}

/// A plain decimal (`-12.3400`) in a canonical form (`-12.34`), else `None`.
fn decimal(text: &str) -> Option<String> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !plain(whole) || !plain(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let sign = if whole == "0" && fraction.is_empty() {
        ""
    } else {
        sign
    };
    Some(if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

/// What the client yielded so far, and how far observations have been matched.
#[derive(Default)]
pub struct Log {
    pub items: Vec<Seen>,
    /// Observations match from here on: each one after the one before it.
    pub cursor: usize,
}

impl Log {
    /// Matches `observation` at or after the cursor; on success the cursor moves past it.
    pub fn take(&mut self, observation: &Observation) -> bool {
        let found = self.items[self.cursor..]
            .iter()
            .position(|seen| seen.matches(observation));
        match found {
            Some(offset) => {
                self.cursor += offset + 1;
                true
            }
            None => false,
        }
    }

    /// The first item anywhere in the log that matches one of `forbidden`.
    pub fn forbidden<'a>(
        &'a self,
        forbidden: &'a [Observation],
    ) -> Option<(&'a Seen, &'a Observation)> {
        self.items.iter().find_map(|seen| {
            forbidden
                .iter()
                .find(|observation| seen.matches(observation))
                .map(|observation| (seen, observation))
        })
    }

    /// Expected against what arrived after the previous observation: each item on a line, and
    /// for items of the expected kind, the fields that differ.
    pub fn diff(&self, observation: &Observation) -> String {
        let mut out = format!("  expected: {observation}\n");
        let rest = &self.items[self.cursor..];
        if rest.is_empty() {
            out.push_str("  arrived after the previous observation: nothing\n");
            return out;
        }
        out.push_str(&format!(
            "  arrived after the previous observation ({} item{}):\n",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ));
        for seen in rest {
            out.push_str(&format!("    +{:>6} ms  {}\n", seen.at_ms, seen.text));
            if seen.kind == observation.kind {
                for difference in seen.differences(observation) {
                    out.push_str(&format!("               differs: {difference}\n"));
                }
            }
        }
        out
    }
}

/// An observation's expected fields as a JSON object, for the summary line.
pub fn observation_json(observation: &Observation) -> Value {
    let mut fields: BTreeMap<String, Value> = observation.fields.clone();
    match &observation.kind {
        ObservationKind::Event(name) => fields.insert("event".into(), json!(name)),
        ObservationKind::Status(name) => fields.insert("status".into(), json!(name)),
    };
    if let Some(account) = &observation.account {
        fields.insert("account".into(), json!(account));
    }
    json!(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_as_the_file_means_them() {
        assert!(same(&json!("0.01"), &json!("0.01000000")));
        assert!(same(&json!("60000"), &json!("60000.00000000")));
        assert!(same(&json!(1), &json!("1")));
        assert!(same(&json!("1"), &json!(1)));
        assert!(same(&json!(true), &json!(true)));
        assert!(!same(&json!("0.01"), &json!("0.0101")));
        assert!(!same(&json!("FILLED"), &json!("PARTIALLY_FILLED")));
        assert!(!same(&json!("-1"), &json!("1")));
        assert_eq!(decimal("-0.000"), Some("0".into()));
        assert_eq!(decimal("1e5"), None);
        assert_eq!(decimal("."), None);
    }

    fn seen(kind: &str, fields: Value) -> Seen {
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        Seen {
            at_ms: 0,
            kind: ObservationKind::Event(kind.into()),
            account: Some("cross".into()),
            fields,
            text: kind.into(),
        }
    }

    fn expect(kind: &str, fields: Value) -> Observation {
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        Observation {
            kind: ObservationKind::Event(kind.into()),
            account: None,
            fields: fields.into_iter().collect(),
        }
    }

    #[test]
    fn observations_match_in_order_and_diffs_show_what_differs() {
        let mut log = Log::default();
        log.items
            .push(seen("executionReport", json!({"x": "NEW", "X": "NEW"})));
        log.items.push(seen(
            "executionReport",
            json!({"x": "TRADE", "X": "PARTIALLY_FILLED"}),
        ));
        let filled = expect("executionReport", json!({"X": "FILLED"}));
        assert!(!log.take(&filled));
        let diff = log.diff(&filled);
        assert!(
            diff.contains("differs: X: expected \"FILLED\", got \"PARTIALLY_FILLED\""),
            "{diff}"
        );
        assert!(log.take(&expect("executionReport", json!({"x": "TRADE"}))));
        // Order matters: NEW came before TRADE, so it is not found after it.
        assert!(!log.take(&expect("executionReport", json!({"x": "NEW"}))));
        assert_eq!(log.cursor, 2);
    }
}
