//! `userstream tail --record FILE`: every event the stream delivers, appended to a scenario file
//! as a `publish` step (the event in Binance's JSON shape, for its account) at its time after the
//! first event, so that `userstream play FILE --uid N` replays it into another account. TOML
//! has no null: an event's null fields (an executionReport's `N` when no commission was paid)
//! are named in the step's `nulls`.
//!
//! The file is written as the stream goes and flushed after every step: a TOML array of tables
//! appended one table at a time is a valid document at every point, so a tail stopped by Ctrl-C
//! (or killed) leaves a file that plays. Status items (gaps, resumes, reconnects) and snapshots
//! become comments, so the file says where events may be missing. `E` (the event time) is left
//! out of the step, so the server stamps the replayed event with the time it goes out, as live
//! events are; the recorded value stays in a comment after the step. Nothing about the API key
//! or its secret is written.

use anyhow::Context;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use userstream_client::{AccountEvent, Endpoints, Event, Scope, format_time_us};
use userstream_protocol::TimeUnit;

/// A scenario file being written.
pub struct Recorder {
    file: File,
    /// When the first event arrived: `at_ms` counts from here.
    first: Option<Instant>,
    events: u64,
}

impl Recorder {
    /// Creates (or truncates) `path` and writes the scenario's header.
    pub fn create(path: &Path, gateways: &[Endpoints], now_us: i64) -> anyhow::Result<Recorder> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the record file {}", path.display()))?;
        let mut recorder = Recorder {
            file,
            first: None,
            events: 0,
        };
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .filter(|stem| !stem.trim().is_empty())
            .unwrap_or_else(|| "recorded".to_owned());
        let sources: Vec<String> = gateways.iter().map(source_url).collect();
        let started = format_time_us(now_us);
        let description = format!(
            "Recorded by userstream tail from {} starting {started}.",
            sources.join(", ")
        );
        let header = format!(
            "# Recorded by `userstream tail --record`: each event as a publish step, at its time after\n\
             # the first event. Replay it into an account with `userstream play FILE --uid N [--speed N]`.\n\
             # E (the event time) is left out so the server stamps the replayed event; the recorded E is\n\
             # in a comment after each step. Comments mark where events may be missing (gaps).\n\
             [scenario]\nname = {}\ndescription = {}\n",
            json_string(&name),
            json_string(&description)
        );
        recorder.write(&header)?;
        Ok(recorder)
    }

    /// Appends one event as a `publish` step.
    pub fn event(&mut self, event: &AccountEvent) -> anyhow::Result<()> {
        if matches!(
            event.event,
            Event::EventStreamTerminated(_) | Event::ServerShutdown(_)
        ) {
            // About a connection, not the account: nothing to replay.
            return self.comment(&format!(
                "{} {} (not replayed)",
                event.account,
                event.event.event_type()
            ));
        }
        let mut json = Vec::with_capacity(320);
        event.event.write_json(TimeUnit::Millisecond, &mut json);
        let mut fields: Map<String, Value> =
            serde_json::from_slice(&json).context("an event that is not a JSON object")?;
        let recorded_e = fields.remove("E");
        let nulls: Vec<String> = fields
            .iter()
            .filter(|(_, value)| value.is_null())
            .map(|(name, _)| json_string(name))
            .collect();
        let first = *self.first.get_or_insert_with(Instant::now);
        let at_ms = first.elapsed().as_millis();
        let mut step = format!("\n[[step]]\nat_ms = {at_ms}\npublish = {{ ");
        if let Scope::Isolated(symbol) = &event.account {
            let _ = write!(step, "isolated = {}, ", json_string(symbol));
        }
        step.push_str("event = ");
        write_inline(&mut step, &Value::Object(fields));
        if !nulls.is_empty() {
            let _ = write!(step, ", nulls = [{}]", nulls.join(", "));
        }
        step.push_str(" }\n");
        if let Some(e) = recorded_e {
            let _ = writeln!(step, "# recorded E = {e}");
        }
        self.events += 1;
        self.write(&step)
    }

    /// Appends a comment line (a status, a snapshot), with the wall-clock time.
    pub fn comment(&mut self, text: &str) -> anyhow::Result<()> {
        let now = format_time_us(userstream_client::Clock::now_us(
            &userstream_client::SystemClock,
        ));
        let mut line = format!("\n# {now}");
        if let Some(first) = self.first {
            let _ = write!(line, " (+{} ms)", first.elapsed().as_millis());
        }
        // One comment line whatever the text holds.
        let flat: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(line, " {flat}");
        self.write(&line)
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    fn write(&mut self, text: &str) -> anyhow::Result<()> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .context("cannot write to the record file")
    }
}

/// A gateway's REST URL without any user name, password or query (nothing secret goes in the
/// file).
fn source_url(endpoints: &Endpoints) -> String {
    let mut url = endpoints.rest.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// A TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`…) are TOML's too.
fn json_string(text: &str) -> String {
    Value::from(text).to_string()
}

/// A JSON value as a one-line TOML value (inline tables and arrays). TOML has no null: a null
/// field is left out. An integer beyond TOML's i64 is written as a string.
fn write_inline(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("\"\""),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => {
            if number.is_i64() {
                out.push_str(&number.to_string());
            } else if number.is_u64() {
                out.push_str(&json_string(&number.to_string()));
            } else {
                let float = number.as_f64().unwrap_or(0.0);
                if float.is_finite() {
                    // `{:?}` always has a `.` or an exponent, as TOML floats need.
                    let _ = write!(out, "{float:?}");
                } else {
                    out.push('0');
                }
            }
        }
        Value::String(text) => out.push_str(&json_string(text)),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().filter(|item| !item.is_null()).enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_inline(out, item);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            let mut first = true;
            for (key, item) in fields.iter().filter(|(_, item)| !item.is_null()) {
                out.push_str(if first { " " } else { ", " });
                first = false;
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    out.push_str(key);
                } else {
                    out.push_str(&json_string(key));
                }
                out.push_str(" = ");
                write_inline(out, item);
            }
            out.push_str(if first { "}" } else { " }" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_toml_that_reads_back_as_the_same_json() {
        let json: Value = serde_json::json!({
            "e": "outboundAccountPosition", "E": 1, "u": 2, "big": u64::MAX, "f": 1.5,
            "ok": true, "none": null, "odd key": "a\"b\\c\nd",
            "B": [{"a": "BTC", "f": "1.00000000", "l": "0"}, {"a": "USDT", "f": "2", "l": "0"}],
        });
        let mut text = "x = ".to_owned();
        write_inline(&mut text, &json);
        let back: Map<String, Value> = toml::from_str(&text).unwrap();
        let mut expected = json.as_object().unwrap().clone();
        expected.remove("none");
        expected.insert("big".into(), Value::from(u64::MAX.to_string()));
        assert_eq!(back["x"], Value::Object(expected));
        let mut empty = String::new();
        write_inline(&mut empty, &serde_json::json!({}));
        assert_eq!(empty, "{}");
    }
}
