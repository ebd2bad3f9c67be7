//! `userstream publish`: read events in Binance's shape, address them to an account, and hand
//! them to the gateway in one request.

use crate::admin_client::AdminClient;
use crate::cli::PublishArgs;
use crate::output::print_json;
use anyhow::{Context, bail};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;
use userstream_protocol::events::clip;

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    // Parse before connecting: a typo in the events should not depend on the server being up.
    // Reading is blocking, which is fine: nothing else runs on this runtime yet.
    let text = match (&args.file, &args.events) {
        (Some(file), _) => read_file(file)?,
        (None, Some(events)) => events.clone(),
        (None, None) => bail!("give the events as an argument or with --file"),
    };
    let events = parse_events(&text)?;
    let isolated = args
        .isolated
        .as_deref()
        .map(|symbol| symbol.trim().to_ascii_uppercase());
    let mut items: Vec<Value> = events
        .into_iter()
        .map(|event| address(args.uid, isolated.as_deref(), event))
        .collect();
    // One event goes as a bare object (answer `{"subscribers":N}`), several as one batch: a
    // request per event costs the gateway more than delivering the event.
    let body = match items.len() {
        1 => items.remove(0),
        _ => Value::Array(items),
    };
    let answer = AdminClient::new(&args.admin)?.publish(&body).await?;
    print_json(&answer)
}

/// The whole file, or standard input for `-`.
fn read_file(file: &Path) -> anyhow::Result<String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the events from standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the events from {}", file.display()))
    }
}

/// Accepts one JSON object, one array of objects, or a sequence of objects (NDJSON, or any
/// whitespace between them, so pretty-printed events pasted one after another work too).
fn parse_events(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let index = values.len() + 1;
        values.push(value.with_context(|| format!("event {index} is not valid JSON"))?);
    }
    if values.is_empty() {
        bail!("no events given: expected a JSON object, an array of objects, or NDJSON");
    }
    let events = match values.pop() {
        Some(Value::Array(array)) if values.is_empty() => array,
        Some(last) => {
            values.push(last);
            values
        }
        None => values,
    };
    if events.is_empty() {
        bail!("the array holds no events");
    }
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| match event {
            Value::Object(fields) => Ok(Value::Object(fields)),
            other => bail!(
                "event {} is not a JSON object ({}); events look like {{\"e\":\"balanceUpdate\",…}}",
                index + 1,
                clip(&other.to_string())
            ),
        })
        .collect()
}

/// The admin API's publish item: `{"uid", "isolatedSymbol"?, "event"}`.
fn address(uid: u64, isolated: Option<&str>, event: Value) -> Value {
    let mut item = Map::new();
    item.insert("uid".into(), uid.into());
    if let Some(symbol) = isolated {
        item.insert("isolatedSymbol".into(), symbol.into());
    }
    item.insert("event".into(), event);
    Value::Object(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_object_an_array_or_ndjson() {
        assert_eq!(
            parse_events(r#"{"e":"a"}"#).unwrap(),
            vec![json!({"e":"a"})]
        );
        assert_eq!(parse_events(r#"[{"e":"a"},{"e":"b"}]"#).unwrap().len(), 2);
        assert_eq!(
            parse_events("{\"e\":\"a\"}\n\n{\"e\":\"b\"}\n{\"e\":\"c\"}\n")
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            parse_events("{\n  \"e\": \"a\"\n}\n{\n  \"e\": \"b\"\n}")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn bad_input_is_named() {
        let error = parse_events("{\"e\":\"a\"}\n{nope\n").unwrap_err();
        assert!(
            format!("{error:#}").contains("event 2 is not valid JSON"),
            "{error:#}"
        );
        assert!(parse_events("").is_err());
        assert!(parse_events("  \n").is_err());
        assert!(parse_events("[]").is_err());
        let error = parse_events("[1]").unwrap_err();
        assert!(
            error.to_string().contains("not a JSON object (1)"),
            "{error}"
        );
        assert!(parse_events("[{\"e\":\"a\"}] [{\"e\":\"b\"}]").is_err());
    }

    #[test]
    fn events_are_addressed() {
        assert_eq!(
            address(7, Some("BNBUSDT"), json!({"e":"a"})),
            json!({"uid":7,"isolatedSymbol":"BNBUSDT","event":{"e":"a"}})
        );
        assert_eq!(address(7, None, json!({})), json!({"uid":7,"event":{}}));
    }
}
