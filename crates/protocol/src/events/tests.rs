//! Reference payloads, error messages and round trips of the event model.

use super::strategies::event;
use super::*;
use proptest::prelude::*;

const EXECUTION_REPORT: &str = r#"{
  "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW",
  "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000",
  "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 4293153,
  "l": "0.00000000", "z": "0.00000000", "L": "0.00000000", "n": "0", "N": null,
  "T": 1499405658657, "t": -1, "I": 8641984, "w": true, "m": false, "M": false,
  "O": 1499405658657, "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000",
  "W": 1499405658657, "V": "NONE"
}"#;
const OUTBOUND_ACCOUNT_POSITION: &str = r#"{
  "e": "outboundAccountPosition", "E": 1564034571105, "u": 1564034571073,
  "B": [
    {"a": "ETH", "f": "10000.000000", "l": "0.000000"},
    {"a": "USDT", "f": "10580.00000000", "l": "70.00000000"}
  ]
}"#;
const BALANCE_UPDATE: &str = r#"{"e": "balanceUpdate", "E": 1573200697110, "a": "BTC", "d": "100.00000000", "T": 1573200697068}"#;
const LIST_STATUS: &str = r#"{
  "e": "listStatus", "E": 1564035303637, "s": "ETHBTC", "g": 2, "c": "OCO", "l": "EXEC_STARTED",
  "L": "EXECUTING", "r": "NONE", "C": "F4QN4G8DlFATFlIUQ0cjdD", "T": 1564035303625,
  "O": [
    {"s": "ETHBTC", "i": 17, "c": "AJYsMjErWJesZvqlJCTUgL"},
    {"s": "ETHBTC", "i": 18, "c": "bfYPSQdLoqAJeNrOr9adzq"}
  ]
}"#;
const MARGIN_LEVEL_STATUS_CHANGE: &str =
    r#"{"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": 1701949763462, "l": "1.1", "s": "MARGIN_CALL"}"#;
const USER_LIABILITY_CHANGE: &str = r#"{"e": "USER_LIABILITY_CHANGE", "E": 1701949801133, "a": "BTC", "t": "BORROW", "p": "0.00000100", "i": "0.00000000"}"#;
/// The `event` objects of the two whole-frame references.
const EVENT_STREAM_TERMINATED: &str = r#"{"e": "eventStreamTerminated", "E": 1759089357377}"#;
const SERVER_SHUTDOWN: &str = r#"{"e": "serverShutdown", "E": 1770123456789}"#;

/// Each publishable reference with its timestamps (ms), which µs output multiplies by 1000.
const PUBLISHABLE: [(&str, &[&str]); 6] = [
    (EXECUTION_REPORT, &["1499405658658", "1499405658657"]),
    (
        OUTBOUND_ACCOUNT_POSITION,
        &["1564034571105", "1564034571073"],
    ),
    (BALANCE_UPDATE, &["1573200697110", "1573200697068"]),
    (LIST_STATUS, &["1564035303637", "1564035303625"]),
    (MARGIN_LEVEL_STATUS_CHANGE, &["1701949763462"]),
    (USER_LIABILITY_CHANGE, &["1701949801133"]),
];

/// [`Event::parse_published`] on a tree built with `serde_json`, which is easier to edit.
fn published_tree(value: serde_json::Value, now_us: i64) -> Result<Event, EventError> {
    Event::parse_published(&sonic_rs::from_str(&value.to_string()).unwrap(), now_us)
}

/// Drops the whitespace outside strings: the compact form with the reference's key order.
fn compact(json: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            escaped = !escaped && c == '\\';
            in_string = escaped || c != '"';
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        out.push(c);
    }
    out
}

fn in_micros(compact_ms: &str, times: &[&str]) -> String {
    times.iter().fold(compact_ms.to_owned(), |json, ms| {
        json.replace(ms, &format!("{ms}000"))
    })
}

fn published(json: &str) -> Result<Event, EventError> {
    Event::parse_published(&sonic_rs::from_str(json).unwrap(), 42)
}

fn error(json: &str) -> String {
    published(json).unwrap_err().to_string()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn references_re_encode_byte_identical_in_both_units() {
    for (reference, times) in PUBLISHABLE {
        let event = published(reference).unwrap();
        let ms = compact(reference);
        let us = in_micros(&ms, times);
        assert_eq!(text(event.to_json(TimeUnit::Millisecond)), ms);
        assert_eq!(text(event.to_json(TimeUnit::Microsecond)), us);
        assert_eq!(
            Event::from_json(ms.as_bytes(), TimeUnit::Millisecond).unwrap(),
            event
        );
        assert_eq!(
            Event::from_json(us.as_bytes(), TimeUnit::Microsecond).unwrap(),
            event
        );
    }
}

#[test]
fn server_events_decode_and_encode() {
    for (reference, variant) in [
        (EVENT_STREAM_TERMINATED, "eventStreamTerminated"),
        (SERVER_SHUTDOWN, "serverShutdown"),
    ] {
        let event = Event::from_json(reference.as_bytes(), TimeUnit::Millisecond).unwrap();
        assert_eq!(event.event_type(), variant);
        assert_eq!(
            text(event.to_json(TimeUnit::Millisecond)),
            compact(reference)
        );
    }
    let terminated = Event::EventStreamTerminated(EventStreamTerminated {
        event_time_us: 1_759_089_357_377_123,
    });
    assert_eq!(
        text(terminated.to_json(TimeUnit::Microsecond)),
        r#"{"e":"eventStreamTerminated","E":1759089357377123}"#
    );
    assert_eq!(
        text(terminated.to_json(TimeUnit::Millisecond)),
        r#"{"e":"eventStreamTerminated","E":1759089357377}"#
    );
}

#[test]
fn reference_fields_are_typed() {
    let Event::ExecutionReport(report) = published(EXECUTION_REPORT).unwrap() else {
        panic!()
    };
    assert_eq!(report.event_time_us, 1_499_405_658_658_000);
    assert_eq!(report.transaction_time_us, 1_499_405_658_657_000);
    assert_eq!(report.side, Side::Buy);
    assert_eq!(report.order_type, OrderType::Limit);
    assert_eq!(report.price.mantissa_exponent(), Some((10_264_410, -8)));
    assert_eq!(report.commission_asset, None);
    assert_eq!(report.order_list_id, -1);
    assert_eq!(
        report.self_trade_prevention_mode,
        SelfTradePreventionMode::None
    );

    let event = published(LIST_STATUS).unwrap();
    assert_eq!(event.symbol(), Some("ETHBTC"));
    assert!(!event.is_risk_event());
    assert!(published(USER_LIABILITY_CHANGE).unwrap().is_risk_event());
    assert!(
        published(MARGIN_LEVEL_STATUS_CHANGE)
            .unwrap()
            .is_risk_event()
    );
    assert_eq!(published(BALANCE_UPDATE).unwrap().symbol(), None);
}

#[test]
fn missing_event_time_is_filled() {
    let mut event =
        published(r#"{"e":"balanceUpdate","a":"BTC","d":"-1.5","T":1573200697068}"#).unwrap();
    assert_eq!(event.event_time_us(), 42);
    event.set_event_time_us(1_573_200_697_110_999);
    assert_eq!(event.event_time_us(), 1_573_200_697_110_999);
    assert_eq!(
        text(event.to_json(TimeUnit::Millisecond)),
        r#"{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"-1.5","T":1573200697068}"#
    );
    // A client session always carries `E`.
    let received =
        Event::from_json(br#"{"e":"serverShutdown"}"#, TimeUnit::Millisecond).unwrap_err();
    assert_eq!(
        received.to_string(),
        "serverShutdown: missing field `E` (event time)"
    );
}

#[test]
fn conditional_fields_follow_binance_order() {
    let mut value: serde_json::Value = serde_json::from_str(EXECUTION_REPORT).unwrap();
    let extra = serde_json::json!({
        "eR": "INSUFFICIENT_LIQUIDITY", "gp": "1.5", "gOV": 4, "gOT": "PRICE_LEVEL", "gP": "PRIMARY_PEG",
        "uS": true, "k": "SOR", "a": 1234, "b": "ONE_PARTY_TRADE_REPORT", "pY": "0.3", "pL": "0.2",
        "pl": "0.1", "Cs": "BTCUSDT", "U": 99, "u": 7, "B": "0.5", "A": "1.5", "J": 1000000, "j": 1,
        "D": 1499405658000_i64, "d": 4, "v": 5, "N": "BNB"
    });
    value
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let event = published_tree(value, 0).unwrap();
    let json = text(event.to_json(TimeUnit::Millisecond));
    let tail = r#""t":-1,"v":5,"I":8641984,"#;
    assert!(json.contains(tail), "{json}");
    assert!(json.contains(r#""N":"BNB","T""#), "{json}");
    let end = r#""V":"NONE","d":4,"D":1499405658000,"j":1,"J":1000000,"A":"1.5","B":"0.5","u":7,"U":99,"Cs":"BTCUSDT","pl":"0.1","pL":"0.2","pY":"0.3","b":"ONE_PARTY_TRADE_REPORT","a":1234,"k":"SOR","uS":true,"gP":"PRIMARY_PEG","gOT":"PRICE_LEVEL","gOV":4,"gp":"1.5","eR":"INSUFFICIENT_LIQUIDITY"}"#;
    assert!(json.ends_with(end), "{json}");
    assert_eq!(
        Event::from_json(json.as_bytes(), TimeUnit::Millisecond).unwrap(),
        event
    );
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        (r#"{"e":"foo","E":1}"#, "unknown event type 'foo'"),
        (r#"{"E":1}"#, "missing field `e` (event type)"),
        (
            r#"{"e":5}"#,
            "field `e` (event type) must be a string, found a number",
        ),
        (r#"[1]"#, "an event must be a JSON object, found an array"),
        (
            r#"{"e":"eventStreamTerminated","E":1}"#,
            "event type 'eventStreamTerminated' is generated by the server and cannot be published",
        ),
        (
            r#"{"e":"serverShutdown"}"#,
            "event type 'serverShutdown' is generated by the server and cannot be published",
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","d":"1","T":1,"zz":0}"#,
            "balanceUpdate: unknown field `zz`",
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","T":1}"#,
            "balanceUpdate: missing field `d` (balance delta)",
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","d":1.5,"T":1}"#,
            "balanceUpdate: field `d` (balance delta): invalid type: floating point `1.5`, expected a decimal string",
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","d":"1e3","T":1}"#,
            r#"balanceUpdate: field `d` (balance delta): decimal "1e3" must be digits"#,
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","d":"1","T":"1"}"#,
            "balanceUpdate: field `T` (clear time): invalid type: string \"1\", expected i64",
        ),
        (
            r#"{"e":"balanceUpdate","a":"BTC","d":"1","T":1,"E":9223372036854775807}"#,
            "balanceUpdate: field `E` (event time): timestamp 9223372036854775807 is out of range",
        ),
        (
            r#"{"e":"outboundAccountPosition","u":1,"B":[{"a":"BTC","f":"1","l":"0"},{"a":"ETH","l":"0"}]}"#,
            "outboundAccountPosition: B[1]: missing field `f` (free)",
        ),
        (
            r#"{"e":"outboundAccountPosition","u":1,"B":[{"a":"BTC","f":"1","l":"0","x":1}]}"#,
            "outboundAccountPosition: B[0]: unknown field `x`",
        ),
        (
            r#"{"e":"outboundAccountPosition","u":1,"B":[5]}"#,
            "outboundAccountPosition: B[0]: field `B` (entry): expected a JSON object, found a number",
        ),
        (
            r#"{"e":"listStatus","s":"X","g":1,"c":"OTOCO","l":"UPDATED","L":"EXECUTING","r":"NONE","C":"a","T":1,"O":[]}"#,
            "listStatus: field `c` (contingency type): unknown variant `OTOCO`, expected `OCO` or `OTO`",
        ),
        (
            r#"{"e":"MARGIN_LEVEL_STATUS_CHANGE","l":"1.1","s":"margin call"}"#,
            "MARGIN_LEVEL_STATUS_CHANGE: field `s` (margin level status): invalid value",
        ),
        (
            r#"{"e":"USER_LIABILITY_CHANGE","a":"BTC","t":"BORROW","p":"1","i":null}"#,
            "USER_LIABILITY_CHANGE: field `i` (interest): invalid type: null, expected a decimal string",
        ),
    ];
    for (json, expected) in cases {
        let message = error(json);
        assert!(
            message.starts_with(expected),
            "{json}\n  gave {message}\n  wanted {expected}"
        );
    }

    let mut value: serde_json::Value = serde_json::from_str(EXECUTION_REPORT).unwrap();
    value.as_object_mut().unwrap().remove("s");
    let message = published_tree(value, 0).unwrap_err().to_string();
    assert_eq!(message, "executionReport: missing field `s` (symbol)");

    let mut value: serde_json::Value = serde_json::from_str(EXECUTION_REPORT).unwrap();
    value.as_object_mut().unwrap().remove("N");
    let message = published_tree(value, 0).unwrap_err().to_string();
    assert_eq!(
        message,
        "executionReport: missing field `N` (commission asset)"
    );

    let mut value: serde_json::Value = serde_json::from_str(EXECUTION_REPORT).unwrap();
    value["x"] = "FILLED".into();
    let message = published_tree(value, 0).unwrap_err().to_string();
    assert!(
        message
            .starts_with("executionReport: field `x` (execution type): unknown variant `FILLED`"),
        "{message}"
    );

    let long = format!(r#"{{"e":"{}"}}"#, "x".repeat(10_000));
    assert!(error(&long).len() < 100);

    let bad_json = Event::from_json(b"{", TimeUnit::Millisecond)
        .unwrap_err()
        .to_string();
    assert!(bad_json.starts_with("invalid JSON: "), "{bad_json}");
    // The parser quotes the input around the error: a long line stays a short message.
    let mut long_bad = format!(r#"{{"e":"balanceUpdate","a":"{}"#, "x".repeat(10_000));
    long_bad.push_str(r#"","d":1.0.0}"#);
    let bad_json = Event::from_json(long_bad.as_bytes(), TimeUnit::Millisecond)
        .unwrap_err()
        .to_string();
    assert!(bad_json.len() < 200, "{bad_json}");
}

#[test]
fn hostile_nesting_and_bad_json_get_one_line_errors() {
    let deep = format!(
        r#"{{"e":"balanceUpdate","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = Event::from_json(deep.as_bytes(), TimeUnit::Millisecond)
        .unwrap_err()
        .to_string();
    assert_eq!(error, "invalid JSON: nested more than 32 levels deep");
    // Brackets inside strings do not count, and 32 levels are fine.
    let quoted = format!(
        r#"{{"e":"balanceUpdate","E":1,"a":"{}","d":"1","T":1}}"#,
        "[".repeat(500)
    );
    assert!(Event::from_json(quoted.as_bytes(), TimeUnit::Millisecond).is_ok());
    let nested = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_tree(nested.as_bytes()).is_ok());
    for bad in ["not json", "", "{\"e\":", "01"] {
        let error = Event::from_json(bad.as_bytes(), TimeUnit::Millisecond)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid JSON: ") && !error.contains('\n'),
            "{error:?}"
        );
    }
}

#[test]
fn a_client_reading_a_repeated_key_keeps_the_first_value() {
    let twice = br#"{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1,"a":"ETH"}"#;
    let Event::BalanceUpdate(update) = Event::from_json(twice, TimeUnit::Millisecond).unwrap()
    else {
        panic!("not a balanceUpdate");
    };
    assert_eq!(update.asset, "BTC");
}

#[test]
fn repeated_keys_are_named_as_such() {
    let twice = r#"{"e":"balanceUpdate","a":"BTC","d":"1","T":1,"a":"ETH"}"#;
    assert_eq!(
        error(twice),
        "balanceUpdate: field `a` appears more than once"
    );
    let twice = r#"{"e":"balanceUpdate","e":"balanceUpdate","a":"BTC","d":"1","T":1}"#;
    assert_eq!(
        error(twice),
        "balanceUpdate: field `e` appears more than once"
    );
    let nested =
        r#"{"e":"outboundAccountPosition","u":1,"B":[{"a":"BTC","f":"1","l":"0","f":"2"}]}"#;
    assert_eq!(
        error(nested),
        "outboundAccountPosition: B[0]: field `f` appears more than once"
    );
}

#[test]
fn clients_ignore_fields_binance_may_add() {
    let json = br#"{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1,"newField":[1,2]}"#;
    let event = Event::from_json(json, TimeUnit::Millisecond).unwrap();
    assert_eq!(event.event_time_us(), 1000);
}

#[test]
fn odd_client_order_ids_round_trip() {
    let Event::ExecutionReport(mut report) = published(EXECUTION_REPORT).unwrap() else {
        panic!()
    };
    for id in [
        "quo\"te",
        "back\\slash\\",
        "uni→cødé😀",
        "ctl\u{0}\u{1f}\n\t",
        "</script>",
        "\u{7f}\u{2028}",
    ] {
        report.client_order_id = id.to_owned();
        report.orig_client_order_id = format!("{id}{id}");
        let event = Event::ExecutionReport(report.clone());
        let json = event.to_json(TimeUnit::Microsecond);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["c"], id);
        assert_eq!(
            Event::from_json(&json, TimeUnit::Microsecond).unwrap(),
            event
        );
    }
}

#[test]
fn published_text_fields_are_capped_and_received_ones_are_not() {
    let at_most = "A".repeat(MAX_TEXT_LEN);
    let too_long = "A".repeat(10_000);
    let with_asset =
        |asset: &str| format!(r#"{{"e":"balanceUpdate","E":1,"a":"{asset}","d":"1","T":1}}"#);
    assert!(published(&with_asset(&at_most)).is_ok());
    let message = error(&with_asset(&too_long));
    assert!(
        message.contains("`a`")
            && message.contains("10000 bytes of text, more than the 64 allowed"),
        "{message}"
    );
    assert!(Event::from_json(with_asset(&too_long).as_bytes(), TimeUnit::Millisecond).is_ok());
}

// ---- property tests ----

proptest! {
    #[test]
    fn round_trip_milliseconds(event in event(TimeUnit::Millisecond)) {
        let json = event.to_json(TimeUnit::Millisecond);
        prop_assert_eq!(Event::from_json(&json, TimeUnit::Millisecond).unwrap(), event);
    }

    #[test]
    fn round_trip_microseconds(event in event(TimeUnit::Microsecond)) {
        let json = event.to_json(TimeUnit::Microsecond);
        prop_assert_eq!(Event::from_json(&json, TimeUnit::Microsecond).unwrap(), event.clone());
        // The output is the compact JSON serde_json itself would accept and re-emit.
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(value["e"].as_str(), Some(event.event_type()));
    }

    #[test]
    fn published_events_round_trip(event in event(TimeUnit::Millisecond)) {
        let value: serde_json::Value = serde_json::from_slice(&event.to_json(TimeUnit::Millisecond)).unwrap();
        match published_tree(value, 0) {
            Ok(parsed) => prop_assert_eq!(parsed, event),
            Err(EventError::NotPublishable(_)) => prop_assert!(matches!(
                event,
                Event::EventStreamTerminated(_) | Event::ServerShutdown(_)
            )),
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
