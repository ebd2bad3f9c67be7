//! The publish intake: `userstream_server::intake::parse(body, &Config::default(), now_us)`, one
//! item, a JSON array of items, or NDJSON.
//!
//! Checks, beyond "no panic": `single` exactly when the body is one JSON object; every accepted
//! item written back as a publish item (the event in Binance's JSON, the account as `uid` and
//! `isolatedSymbol`) is accepted again as the same account event, as a batch in both shapes; and
//! each event's JSON reads back unchanged through the lenient reader a client uses.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use userstream_fuzz::{NOW_US, assert_json_round_trip};
use userstream_protocol::TimeUnit;
use userstream_server::Config;
use userstream_server::bus::AccountEvent;
use userstream_server::intake::parse;

static CONFIG: LazyLock<Config> = LazyLock::new(Config::default);

fuzz_target!(|body: &[u8]| {
    let Ok(intake) = parse(body, &CONFIG, NOW_US) else {
        return;
    };
    let one_object = matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_)));
    assert_eq!(intake.single, one_object, "single is wrong");
    if intake.single {
        assert_eq!(intake.events.len(), 1);
    }
    for item in &intake.events {
        assert_json_round_trip(&item.event, TimeUnit::Millisecond);
    }
    let items: Vec<Vec<u8>> = intake.events.iter().map(publish_item).collect();
    let array = [b"[".as_slice(), &items.join(&b","[..]), b"]"].concat();
    assert_same(&intake.events, &array, "array");
    if items.len() >= 2 {
        let ndjson = items.join(&b"\n"[..]);
        assert_same(&intake.events, &ndjson, "NDJSON");
    }
    if let [item] = items.as_slice() {
        assert_same(&intake.events, item, "single item");
    }
});

/// One account event as the publish API takes it.
fn publish_item(item: &AccountEvent) -> Vec<u8> {
    let mut out = format!("{{\"uid\":{}", item.account.uid).into_bytes();
    if let Some(symbol) = item.account.scope.isolated_symbol() {
        out.extend_from_slice(format!(",\"isolatedSymbol\":\"{symbol}\"").as_bytes());
    }
    out.extend_from_slice(b",\"event\":");
    item.event.write_json(TimeUnit::Millisecond, &mut out);
    out.push(b'}');
    out
}

fn assert_same(events: &[AccountEvent], body: &[u8], shape: &str) {
    match parse(body, &CONFIG, NOW_US) {
        Ok(again) => assert_eq!(
            again.events, events,
            "{shape} written back reads differently"
        ),
        Err(error) => panic!(
            "{shape} written back is refused: {error}: {}",
            String::from_utf8_lossy(body)
        ),
    }
}
