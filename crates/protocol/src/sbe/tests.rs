//! SBE: golden bytes written out from the schema's layout, JSON → SBE → JSON round trips, older
//! versions and longer blocks, and hostile bytes.

use super::events::{DecodedEvent, decode_event, encode_event};
use super::layout;
use super::wire::SbeError;
use crate::decimal::Decimal;
use crate::events::strategies::event as any_event;
use crate::events::*;
use crate::time::TimeUnit;
use proptest::prelude::*;

/// Little-endian bytes written field by field, the way the schema lays them out.
#[derive(Default)]
struct Bytes(Vec<u8>);

impl Bytes {
    fn header(block_length: u16, template: u16, version: u16) -> Bytes {
        Bytes::default()
            .u16(block_length)
            .u16(template)
            .u16(3)
            .u16(version)
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn i8(self, v: i8) -> Self {
        self.u8(v.to_le_bytes()[0])
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// `varString8`: u8 length, then the bytes.
    fn str8(self, text: &str) -> Self {
        let mut this = self.u8(text.len() as u8);
        this.0.extend_from_slice(text.as_bytes());
        this
    }
}

fn published(json: &str) -> Event {
    Event::parse_published(&sonic_rs::from_str(json).unwrap(), 0).unwrap()
}

const BALANCE_UPDATE: &str =
    r#"{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}"#;
const EXECUTION_REPORT: &str = r#"{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}"#;
const OUTBOUND_ACCOUNT_POSITION: &str = r#"{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"},{"a":"USDT","f":"10580.00000000","l":"70.00000000"}]}"#;
const LIST_STATUS: &str = r#"{"e":"listStatus","E":1564035303637,"s":"ETHBTC","g":2,"c":"OCO","l":"EXEC_STARTED","L":"EXECUTING","r":"NONE","C":"F4QN4G8DlFATFlIUQ0cjdD","T":1564035303625,"O":[{"s":"ETHBTC","i":17,"c":"AJYsMjErWJesZvqlJCTUgL"},{"s":"ETHBTC","i":18,"c":"bfYPSQdLoqAJeNrOr9adzq"}]}"#;
const MARGIN_LEVEL_STATUS_CHANGE: &str =
    r#"{"e":"MARGIN_LEVEL_STATUS_CHANGE","E":1701949763462,"l":"1.1","s":"MARGIN_CALL"}"#;

#[test]
fn balance_update_golden_bytes() {
    let encoded = encode_event(&published(BALANCE_UPDATE), 5).unwrap();
    let expected = Bytes::header(27, 601, 5)
        .i64(1_573_200_697_110_000) // eventTime, µs
        .i64(1_573_200_697_068_000) // clearTime
        .i8(-8) // qtyExponent
        .i64(10_000_000_000) // freeQtyDelta: 100.00000000
        .u16(7) // subscriptionId, spliced in
        .str8("BTC");
    assert_eq!(encoded.for_subscription(7), expected.0);
    // Before splicing the id is null.
    assert_eq!(&encoded.bytes[33..35], &[0xff, 0xff]);
}

#[test]
fn execution_report_golden_bytes() {
    let encoded = encode_event(&published(EXECUTION_REPORT), 5).unwrap();
    let none = i64::MIN;
    let expected = Bytes::header(282, 603, 5)
        .i64(1_499_405_658_658_000) // eventTime
        .i64(1_499_405_658_657_000) // transactTime
        .i8(-8) // priceExponent
        .i8(-8) // qtyExponent
        .i8(0) // commissionExponent
        .i64(1_499_405_658_657_000) // orderCreationTime
        .i64(1_499_405_658_657_000) // workingTime
        .i64(4_293_153) // orderId
        .i64(none) // orderListId: -1 in JSON
        .i64(100_000_000) // origQty 1.00000000
        .i64(10_264_410) // price 0.10264410
        .i64(0) // origQuoteOrderQty
        .i64(0) // icebergQty
        .i64(0) // stopPrice
        .u8(1) // orderType LIMIT
        .u8(0) // side BUY
        .u8(0) // timeInForce GTC
        .u8(0) // executionType NEW
        .u8(0) // orderStatus NEW
        .i64(none) // tradeId: -1 in JSON
        .i64(8_641_984) // executionId
        .i64(0) // executedQty
        .i64(0) // cummulativeQuoteQty
        .i64(0) // lastQty
        .i64(0) // lastPrice
        .i64(0) // quoteQty
        .i64(0) // commission
        .u8(1) // isWorking
        .u8(0) // isMaker
        .u8(0) // isBestMatch
        .u8(254) // matchType: not in this event
        .u8(1) // selfTradePreventionMode NONE
        .u8(254) // orderCapacity: not in the JSON stream
        .u8(254) // workingFloor: not in this event
        .u8(0) // usedSor
        .i64(none) // allocId
        .u64(u64::MAX) // trailingDelta
        .i64(none) // trailingTime
        .i64(none) // tradeGroupId
        .i64(0) // preventedQty
        .i64(none) // lastPreventedQty
        .i64(none) // preventedMatchId
        .i64(none) // preventedExecutionQty
        .i64(none) // preventedExecutionPrice
        .i64(none) // preventedExecutionQuoteQty
        .i32(i32::MIN) // strategyType
        .i64(none) // strategyId
        .i64(none) // counterOrderId
        .u16(u16::MAX) // subscriptionId
        .u8(255) // pegPriceType
        .u8(255) // pegOffsetType
        .u8(255) // pegOffsetValue
        .i64(none) // peggedPrice
        .u8(255) // expiryReason
        .str8("ETHBTC")
        .str8("mUvoqJxFIILMdfAW5iGSOW")
        .str8("") // origClientOrderId
        .str8("") // commissionAsset: null
        .str8("") // rejectReason: NONE
        .str8(""); // counterSymbol
    assert_eq!(encoded.bytes, expected.0);
    assert_eq!(encoded.subscription_at, Some(8 + 268));
}

#[test]
fn account_position_list_status_and_server_events_golden_bytes() {
    let position = encode_event(&published(OUTBOUND_ACCOUNT_POSITION), 5).unwrap();
    let expected = Bytes::header(18, 607, 5)
        .i64(1_564_034_571_105_000)
        .i64(1_564_034_571_073_000)
        .u16(1)
        .u16(17) // group: entry block length
        .u32(2) // count
        .i8(-6)
        .i64(10_000_000_000)
        .i64(0)
        .str8("ETH")
        .i8(-8)
        .i64(1_058_000_000_000)
        .i64(7_000_000_000)
        .str8("USDT");
    assert_eq!(position.for_subscription(1), expected.0);

    let list = encode_event(&published(LIST_STATUS), 5).unwrap();
    let expected = Bytes::header(29, 606, 5)
        .i64(1_564_035_303_637_000)
        .i64(1_564_035_303_625_000)
        .i64(2)
        .u8(1) // OCO
        .u8(1) // EXEC_STARTED
        .u8(1) // EXECUTING
        .u16(3)
        .u16(8) // group: entry block length
        .u16(2) // count (groupSize16Encoding)
        .i64(17)
        .str8("ETHBTC")
        .str8("AJYsMjErWJesZvqlJCTUgL")
        .i64(18)
        .str8("ETHBTC")
        .str8("bfYPSQdLoqAJeNrOr9adzq")
        .str8("ETHBTC")
        .str8("F4QN4G8DlFATFlIUQ0cjdD")
        .str8("");
    assert_eq!(list.for_subscription(3), expected.0);

    let terminated = Event::EventStreamTerminated(EventStreamTerminated {
        event_time_us: 1_759_089_357_377_000,
    });
    let expected = Bytes::header(10, 602, 5).i64(1_759_089_357_377_000).u16(9);
    assert_eq!(
        encode_event(&terminated, 5).unwrap().for_subscription(9),
        expected.0
    );

    let shutdown = Event::ServerShutdown(ServerShutdown {
        event_time_us: 1_770_123_456_789_000,
    });
    let encoded = encode_event(&shutdown, 5).unwrap();
    assert_eq!(
        encoded.bytes,
        Bytes::header(8, 610, 5).i64(1_770_123_456_789_000).0
    );
    assert_eq!(encoded.subscription_at, None);

    // The margin risk events have no SBE message.
    let risk = encode_event(&published(MARGIN_LEVEL_STATUS_CHANGE), 5).unwrap();
    assert_eq!(risk.bytes, Bytes::header(0, 999, 5).0);
    assert_eq!(
        decode_event(&risk.bytes).unwrap(),
        DecodedEvent::NonRepresentable
    );
}

#[test]
fn reference_events_round_trip_byte_identical() {
    for json in [
        BALANCE_UPDATE,
        EXECUTION_REPORT,
        OUTBOUND_ACCOUNT_POSITION,
        LIST_STATUS,
    ] {
        let event = published(json);
        let encoded = encode_event(&event, 5).unwrap();
        let DecodedEvent::Event {
            subscription_id,
            event: decoded,
        } = decode_event(&encoded.for_subscription(65_534)).unwrap()
        else {
            panic!("{json} decoded as non-representable");
        };
        assert_eq!(subscription_id, Some(65_534));
        let back = String::from_utf8(decoded.to_json(TimeUnit::Millisecond)).unwrap();
        assert_eq!(back, json);
    }
}

#[test]
fn older_versions_leave_out_what_they_lack() {
    let event = published(BALANCE_UPDATE);
    // Version 0 had no subscriptionId: a 25-byte block, nothing to splice.
    let v0 = encode_event(&event, 0).unwrap();
    assert_eq!(&v0.bytes[..2], &25u16.to_le_bytes());
    assert_eq!(v0.subscription_at, None);
    assert_eq!(v0.for_subscription(5), v0.bytes);
    assert_eq!(
        decode_event(&v0.bytes).unwrap(),
        DecodedEvent::Event {
            subscription_id: None,
            event: event.clone()
        }
    );
    // serverShutdown arrived in version 3.
    let shutdown = Event::ServerShutdown(ServerShutdown { event_time_us: 1 });
    assert_eq!(
        encode_event(&shutdown, 2).unwrap().bytes,
        Bytes::header(0, 999, 2).0
    );
    // expiryReason arrived in version 3: a version 2 execution report is one byte shorter.
    let report = published(EXECUTION_REPORT);
    let v2 = encode_event(&report, 2).unwrap();
    assert_eq!(&v2.bytes[..2], &281u16.to_le_bytes());
    assert!(
        matches!(decode_event(&v2.bytes).unwrap(), DecodedEvent::Event { event, .. } if event == report)
    );
}

#[test]
fn decoders_honour_a_longer_block() {
    // A newer writer appends fields this decoder does not know: it must skip them.
    let mut bytes = encode_event(&published(BALANCE_UPDATE), 5)
        .unwrap()
        .for_subscription(4);
    bytes[..2].copy_from_slice(&31u16.to_le_bytes());
    bytes.splice(35..35, [0xAA; 4]);
    assert_eq!(
        decode_event(&bytes).unwrap(),
        DecodedEvent::Event {
            subscription_id: Some(4),
            event: published(BALANCE_UPDATE)
        }
    );
    // The same for a group entry.
    let mut bytes = encode_event(&published(OUTBOUND_ACCOUNT_POSITION), 5)
        .unwrap()
        .bytes;
    bytes[26..28].copy_from_slice(&19u16.to_le_bytes());
    // Entries start at 32 (header, block, dimension): 17 known bytes each, then the asset.
    bytes.splice(49..49, [0xBB; 2]);
    // The first entry now ends at 51, its asset ("ETH") at 55; the second's 17 bytes end at 72.
    bytes.splice(72..72, [0xCC; 2]);
    let DecodedEvent::Event { event, .. } = decode_event(&bytes).unwrap() else {
        panic!("not an event");
    };
    assert_eq!(event, published(OUTBOUND_ACCOUNT_POSITION));
}

#[test]
fn enum_codes_agree_with_the_schema() {
    macro_rules! check {
        ($($ty:ty => $table:expr),+ $(,)?) => {$(
            for value in <$ty>::ALL {
                assert_eq!(
                    layout::enum_code($table, value.as_str()),
                    Some(value.sbe_value()),
                    "{}", value.as_str()
                );
            }
        )+};
    }
    check!(
        Side => layout::ORDER_SIDE,
        OrderType => layout::ORDER_TYPE,
        TimeInForce => layout::TIME_IN_FORCE,
        ExecutionType => layout::EXECUTION_TYPE,
        OrderStatus => layout::ORDER_STATUS,
        SelfTradePreventionMode => layout::SELF_TRADE_PREVENTION_MODE,
        MatchType => layout::MATCH_TYPE,
        WorkingFloor => layout::FLOOR,
        PegPriceType => layout::PEG_PRICE_TYPE,
        PegOffsetType => layout::PEG_OFFSET_TYPE,
        ExpiryReason => layout::EXPIRY_REASON,
        ContingencyType => layout::CONTINGENCY_TYPE,
        ListStatusType => layout::LIST_STATUS_TYPE,
        ListOrderStatus => layout::LIST_ORDER_STATUS,
    );
}

#[test]
fn truncated_and_inconsistent_frames_are_errors() {
    let frames = [
        encode_event(&published(EXECUTION_REPORT), 5).unwrap().bytes,
        encode_event(&published(LIST_STATUS), 5).unwrap().bytes,
        encode_event(&published(OUTBOUND_ACCOUNT_POSITION), 5)
            .unwrap()
            .bytes,
    ];
    for frame in &frames {
        for len in 0..frame.len() {
            assert!(
                decode_event(&frame[..len]).is_err(),
                "{len} of {}",
                frame.len()
            );
        }
    }
    // A group claiming more entries than bytes could hold.
    let mut huge = frames[2].clone();
    huge[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_event(&huge),
        Err(SbeError::GroupTooLarge(_))
    ));
    // Another schema, an unknown template, an unknown enum code.
    let mut other = frames[0].clone();
    other[4] = 1;
    assert_eq!(decode_event(&other), Err(SbeError::WrongSchema(1)));
    let mut unknown = frames[0].clone();
    unknown[2..4].copy_from_slice(&700u16.to_le_bytes());
    assert_eq!(decode_event(&unknown), Err(SbeError::UnknownTemplate(700)));
    let mut side = frames[0].clone();
    side[8 + 92] = 77;
    assert!(matches!(
        decode_event(&side),
        Err(SbeError::UnknownEnum {
            field: "side",
            code: 77
        })
    ));
}

/// What an event looks like after a trip through SBE, written independently of the codec: each
/// exponent group padded to its finest scale, sentinels and defaults mapped as the schema says.
fn through_sbe(event: &Event) -> Option<Event> {
    fn fraction_digits(d: &Decimal) -> usize {
        d.as_str().split_once('.').map_or(0, |(_, f)| f.len())
    }
    /// `d` with `digits` fraction digits, no leading zeros and no sign on zero: the one text a
    /// mantissa and exponent give back.
    fn pad(d: &Decimal, digits: usize) -> Decimal {
        let (negative, unsigned) = match d.as_str().strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, d.as_str()),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let int = match int.trim_start_matches('0') {
            "" => "0",
            digits => digits,
        };
        let mut frac = frac.to_owned();
        frac.extend(std::iter::repeat_n('0', digits - frac.len()));
        let zero = int == "0" && frac.bytes().all(|b| b == b'0');
        let sign = if negative && !zero { "-" } else { "" };
        let point = if frac.is_empty() { "" } else { "." };
        Decimal::parse(&format!("{sign}{int}{point}{frac}")).unwrap()
    }
    fn group(decimals: &mut [&mut Decimal]) {
        let digits = decimals
            .iter()
            .map(|d| fraction_digits(d))
            .max()
            .unwrap_or(0);
        for d in decimals.iter_mut() {
            **d = pad(d, digits);
        }
    }
    fn group_opt(decimals: &mut [&mut Decimal], optional: &mut [&mut Option<Decimal>]) {
        let mut digits = decimals
            .iter()
            .map(|d| fraction_digits(d))
            .max()
            .unwrap_or(0);
        for d in optional.iter().filter_map(|d| d.as_ref()) {
            digits = digits.max(fraction_digits(d));
        }
        for d in decimals.iter_mut() {
            **d = pad(d, digits);
        }
        for d in optional.iter_mut() {
            if let Some(value) = d.as_mut() {
                *value = pad(value, digits);
            }
        }
    }
    fn null<T: PartialEq>(value: Option<T>, null: T) -> Option<T> {
        value.filter(|v| *v != null)
    }
    let mut event = event.clone();
    match &mut event {
        Event::ExecutionReport(r) => {
            group_opt(
                &mut [
                    &mut r.price,
                    &mut r.quote_order_quantity,
                    &mut r.stop_price,
                    &mut r.cumulative_quote_quantity,
                    &mut r.last_executed_price,
                    &mut r.last_quote_quantity,
                ],
                &mut [
                    &mut r.prevented_execution_price,
                    &mut r.prevented_execution_quote_quantity,
                    &mut r.pegged_price,
                ],
            );
            group_opt(
                &mut [
                    &mut r.quantity,
                    &mut r.iceberg_quantity,
                    &mut r.cumulative_filled_quantity,
                    &mut r.last_executed_quantity,
                ],
                &mut [
                    &mut r.prevented_quantity,
                    &mut r.last_prevented_quantity,
                    &mut r.prevented_execution_quantity,
                ],
            );
            group(&mut [&mut r.commission]);
            if r.order_creation_time_us < 0 {
                r.order_creation_time_us = -1000;
            }
            if r.working_time_us < 0 {
                r.working_time_us = -1000;
            }
            if r.order_list_id == i64::MIN {
                r.order_list_id = -1;
            }
            if r.trade_id == i64::MIN {
                r.trade_id = -1;
            }
            if r.reject_reason.is_empty() {
                r.reject_reason = "NONE".into();
            }
            r.commission_asset = r.commission_asset.take().filter(|a| !a.is_empty());
            r.counter_symbol = r.counter_symbol.take().filter(|s| !s.is_empty());
            r.used_sor = r.used_sor.filter(|used| *used);
            r.prevented_quantity = r
                .prevented_quantity
                .take()
                .filter(|q| q.mantissa_exponent().is_some_and(|(m, _)| m != 0));
            r.allocation_id = null(r.allocation_id, i64::MIN);
            r.trailing_delta = null(r.trailing_delta, u64::MAX);
            r.trailing_time_us = null(r.trailing_time_us, i64::MIN);
            r.trade_group_id = null(r.trade_group_id, i64::MIN);
            r.prevented_match_id = null(r.prevented_match_id, i64::MIN);
            r.strategy_type = null(r.strategy_type, i32::MIN);
            r.strategy_id = null(r.strategy_id, i64::MIN);
            r.counter_order_id = null(r.counter_order_id, i64::MIN);
            r.peg_offset_value = null(r.peg_offset_value, u8::MAX);
        }
        Event::OutboundAccountPosition(p) => {
            for b in &mut p.balances {
                group(&mut [&mut b.free, &mut b.locked]);
            }
        }
        Event::BalanceUpdate(b) => group(&mut [&mut b.balance_delta]),
        Event::ListStatus(l) => {
            if l.reject_reason.is_empty() {
                l.reject_reason = "NONE".into();
            }
        }
        Event::MarginLevelStatusChange(_) | Event::UserLiabilityChange(_) => return None,
        Event::EventStreamTerminated(_) | Event::ServerShutdown(_) => {}
    }
    Some(event)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn events_round_trip_through_sbe(event in any_event(TimeUnit::Microsecond), id in 0u16..u16::MAX) {
        match encode_event(&event, 5) {
            Ok(encoded) => {
                let decoded = decode_event(&encoded.for_subscription(id)).unwrap();
                match through_sbe(&event) {
                    Some(expected) => {
                        let subscription_id = (!matches!(event, Event::ServerShutdown(_))).then_some(id);
                        // Equal as values, so equal as JSON, byte for byte, in both units.
                        prop_assert_eq!(decoded, DecodedEvent::Event { subscription_id, event: expected });
                    }
                    None => prop_assert_eq!(decoded, DecodedEvent::NonRepresentable),
                }
            }
            // Only numbers too long for a 64-bit mantissa are refused.
            Err(error) => prop_assert!(matches!(error, SbeError::NotRepresentable(_)), "{}", error),
        }
    }

    #[test]
    fn binance_shaped_json_round_trips_byte_identical(event in any_event(TimeUnit::Millisecond)) {
        // Binance writes each exponent group at one scale: normalising first gives such events.
        if let (Some(shaped), false) = (through_sbe(&event), matches!(event, Event::ServerShutdown(_)))
            && let Ok(encoded) = encode_event(&shaped, 5)
        {
            let json = shaped.to_json(TimeUnit::Millisecond);
            let DecodedEvent::Event { event: decoded, .. } = decode_event(&encoded.bytes).unwrap() else {
                return Err(TestCaseError::fail("decoded as non-representable"));
            };
            prop_assert_eq!(decoded.to_json(TimeUnit::Millisecond), json);
        }
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_event(&bytes);
    }

    #[test]
    fn hostile_bytes_behind_a_real_header_never_panic(
        template in prop_oneof![Just(601u16), Just(602), Just(603), Just(606), Just(607), Just(610)],
        block_length in 0u16..300,
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = Bytes::header(block_length, template, 5).0;
        bytes.extend_from_slice(&body);
        let _ = decode_event(&bytes);
    }
}

mod responses {
    use super::Bytes;
    use crate::error::ApiError;
    use crate::sbe::responses::{Outcome, Response, read_response, write_response};
    use crate::ws::{Answer, ErrorData, RateLimitStatus, SessionStatus, SubscriptionInfo};
    use std::borrow::Cow;

    const WEIGHT: RateLimitStatus = RateLimitStatus::request_weight(6000, 4);

    #[test]
    fn subscribe_response_golden_bytes() {
        let mut out = Vec::new();
        let answer = Outcome::Answer(Answer::Subscribed(SubscriptionInfo {
            subscription_id: 3,
            expiration_time: 1_759_175_757_000_000,
        }));
        write_response(&mut out, 5, false, 200, &[WEIGHT], "7", &answer).unwrap();
        let inner = Bytes::header(10, 505, 5)
            .u16(3)
            .i64(1_759_175_757_000_000)
            .0;
        let expected = Bytes::header(3, 50, 5)
            .u8(0) // sbeSchemaIdVersionDeprecated
            .u16(200) // status
            .u16(19) // rateLimits: entry block length
            .u16(1) // count
            .u8(2) // REQUEST_WEIGHT
            .u8(1) // MINUTE
            .u8(1) // intervalNum
            .i64(6000)
            .i64(4)
            .str8("7") // id
            .u32(inner.len() as u32);
        let mut expected = expected.0;
        expected.extend_from_slice(&inner);
        assert_eq!(out, expected);
    }

    #[test]
    fn error_response_golden_bytes() {
        let mut out = Vec::new();
        let error = ApiError {
            status: 400,
            code: -1209,
            msg: Cow::Borrowed("Invalid listenToken."),
        };
        write_response(
            &mut out,
            4,
            true,
            400,
            &[],
            "",
            &Outcome::Error(error, None),
        )
        .unwrap();
        let mut inner = Bytes::header(18, 100, 4)
            .u16((-1209i16) as u16)
            .i64(i64::MIN)
            .i64(i64::MIN)
            .u16(20);
        inner.0.extend_from_slice(b"Invalid listenToken.");
        let inner = inner.u32(0).0; // data: empty = null
        let mut expected = Bytes::header(3, 50, 4)
            .u8(1) // deprecated version
            .u16(400)
            .u16(19)
            .u16(0)
            .str8("")
            .u32(inner.len() as u32)
            .0;
        expected.extend_from_slice(&inner);
        assert_eq!(out, expected);
    }

    /// The `result` bytes of `answer` at version 5, as the envelope carries them.
    fn result_bytes(answer: Answer) -> Vec<u8> {
        let mut out = Vec::new();
        write_response(&mut out, 5, false, 200, &[], "", &Outcome::Answer(answer)).unwrap();
        // Envelope: header 8, block 3, empty group 4, empty id 1, result length 4.
        out[20..].to_vec()
    }

    #[test]
    fn error_times_are_microseconds() {
        let mut out = Vec::new();
        let error = ApiError {
            status: 418,
            code: -1003,
            msg: Cow::Borrowed("banned"),
        };
        let data = ErrorData {
            server_time: 5,
            retry_after: 7,
        };
        let outcome = Outcome::Error(error, Some(data));
        write_response(&mut out, 5, false, 418, &[], "", &outcome).unwrap();
        // ErrorData is ms (as JSON writes it); the SBE fields are µs.
        let block = &out[20 + 8..20 + 8 + 18];
        assert_eq!(&block[2..10], &5000i64.to_le_bytes());
        assert_eq!(&block[10..18], &7000i64.to_le_bytes());
        assert_eq!(read_response(&out).unwrap().outcome, outcome);
    }

    #[test]
    fn other_answers_golden_bytes() {
        assert_eq!(
            result_bytes(Answer::Unsubscribed),
            Bytes::header(0, 504, 5).0
        );
        assert_eq!(result_bytes(Answer::Pong), Bytes::header(0, 101, 5).0);
        assert_eq!(
            result_bytes(Answer::ServerTime(1_700_000_000_000_123)),
            Bytes::header(8, 102, 5).i64(1_700_000_000_000_123).0
        );
        let list = vec![
            SubscriptionInfo {
                subscription_id: 0,
                expiration_time: 5,
            },
            SubscriptionInfo {
                subscription_id: 1,
                expiration_time: 6,
            },
        ];
        assert_eq!(
            result_bytes(Answer::Subscriptions(list)),
            Bytes::header(0, 54, 5)
                .u16(10) // entry block length
                .u32(2) // count (groupSizeEncoding)
                .u16(0)
                .i64(5)
                .u16(1)
                .i64(6)
                .0
        );
        let status = SessionStatus {
            api_key: None,
            authorized_since: None,
            connected_since: 7,
            return_rate_limits: false,
            server_time: 8,
            user_data_stream: true,
        };
        assert_eq!(
            result_bytes(Answer::SessionStatus(status)),
            Bytes::header(26, 52, 5)
                .i64(i64::MIN) // authorizedSince
                .i64(7) // connectedSince
                .u8(0) // returnRateLimits
                .i64(8) // serverTime
                .u8(1) // userDataStream
                .u16(0) // loggedOnApiKey: empty (optionalVarString)
                .0
        );
    }

    #[test]
    fn every_answer_round_trips() {
        let mut answers: Vec<Outcome> = [
            Answer::Subscribed(SubscriptionInfo {
                subscription_id: 65_534,
                expiration_time: 1,
            }),
            Answer::Unsubscribed,
            Answer::Subscriptions(vec![
                SubscriptionInfo {
                    subscription_id: 0,
                    expiration_time: 10,
                },
                SubscriptionInfo {
                    subscription_id: 1,
                    expiration_time: 20,
                },
            ]),
            Answer::Subscriptions(vec![]),
            Answer::SessionStatus(SessionStatus {
                api_key: None,
                authorized_since: None,
                connected_since: 5,
                return_rate_limits: true,
                server_time: 6,
                user_data_stream: true,
            }),
            Answer::Pong,
            Answer::ServerTime(1_700_000_000_000_000),
        ]
        .map(Outcome::Answer)
        .into();
        answers.push(Outcome::Error(
            ApiError {
                status: 418,
                code: -1003,
                msg: Cow::Borrowed("Way too much request weight used; IP banned."),
            },
            Some(ErrorData {
                server_time: 1,
                retry_after: 2,
            }),
        ));
        for answer in answers {
            let status = match &answer {
                Outcome::Error(error, _) => error.status,
                _ => 200,
            };
            let mut out = Vec::new();
            write_response(
                &mut out,
                5,
                false,
                status,
                &[WEIGHT, WEIGHT],
                "abc",
                &answer,
            )
            .unwrap();
            assert_eq!(
                read_response(&out).unwrap(),
                Response {
                    deprecated: false,
                    status,
                    rate_limits: vec![WEIGHT, WEIGHT],
                    id: "abc".into(),
                    outcome: answer,
                }
            );
            for len in 0..out.len() {
                assert!(read_response(&out[..len]).is_err());
            }
        }
        // Version 0 had no 505: the answer says so rather than lying.
        let mut out = Vec::new();
        let answer = Outcome::Answer(Answer::Subscribed(SubscriptionInfo {
            subscription_id: 1,
            expiration_time: 1,
        }));
        write_response(&mut out, 0, true, 200, &[], "1", &answer).unwrap();
        assert_eq!(
            read_response(&out).unwrap().outcome,
            Outcome::NonRepresentable
        );
    }

    proptest::proptest! {
        #[test]
        fn hostile_responses_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = read_response(&bytes);
            let mut framed = Bytes::header(3, 50, 5).0;
            framed.extend_from_slice(&bytes);
            let _ = read_response(&framed);
        }
    }
}

/// A mutation fuzzer for the decoders, bounded in count so it runs with every test pass: valid
/// frames of every kind are bit-flipped, overwritten with boundary values, truncated, extended
/// and spliced, and every decoder must answer without panicking. Stable Rust has no cargo-fuzz;
/// seeding with real frames reaches the paths past the header that random bytes rarely do.
mod fuzz {
    use super::*;
    use crate::sbe::responses::{Outcome, read_response, write_response};
    use crate::ws::{Answer, SubscriptionInfo};

    /// xorshift64*: enough randomness for mutations, reproducible by seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn seeds() -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = [
            BALANCE_UPDATE,
            EXECUTION_REPORT,
            OUTBOUND_ACCOUNT_POSITION,
            LIST_STATUS,
            MARGIN_LEVEL_STATUS_CHANGE,
        ]
        .iter()
        .flat_map(|json| [2, 5].map(|v| encode_event(&published(json), v).unwrap().bytes))
        .collect();
        let mut response = Vec::new();
        let answer = Outcome::Answer(Answer::Subscriptions(vec![SubscriptionInfo {
            subscription_id: 1,
            expiration_time: 2,
        }]));
        write_response(&mut response, 5, false, 200, &[], "12", &answer).unwrap();
        seeds.push(response);
        seeds
    }

    fn mutate(rng: &mut Rng, frame: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        const INTERESTING: [u16; 8] = [0, 1, 2, 0x7f, 0xff, 0x100, 0x7fff, 0xffff];
        for _ in 0..=rng.below(4) {
            let at = rng.below(frame.len());
            match rng.below(6) {
                0 if !frame.is_empty() => frame[at] ^= 1 << rng.below(8),
                1 if !frame.is_empty() => frame[at] = rng.next() as u8,
                2 if at + 2 <= frame.len() => {
                    let value = INTERESTING[rng.below(INTERESTING.len())];
                    frame[at..at + 2].copy_from_slice(&value.to_le_bytes());
                }
                3 => frame.truncate(at),
                4 => frame.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
                _ => {
                    let donor = &seeds[rng.below(seeds.len())];
                    let from = rng.below(donor.len());
                    let len = rng.below(donor.len() - from + 1);
                    let at = at.min(frame.len());
                    frame.splice(at..at, donor[from..from + len].iter().copied());
                }
            }
        }
    }

    #[test]
    fn decoders_survive_mutated_frames() {
        let seeds = seeds();
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let (mut decoded, mut refused) = (0u32, 0u32);
        for round in 0..200_000 {
            let mut frame = seeds[round % seeds.len()].clone();
            mutate(&mut rng, &mut frame, &seeds);
            match decode_event(&frame) {
                Ok(_) => decoded += 1,
                Err(_) => refused += 1,
            }
            let _ = read_response(&frame);
            let _ = super::super::events::subscription_offset(&frame);
        }
        // Both outcomes must be common, or the mutations are not exploring anything.
        assert!(
            decoded > 10_000 && refused > 10_000,
            "{decoded} decoded, {refused} refused"
        );
    }
}
