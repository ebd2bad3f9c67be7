//! Whole lifecycles of the margin simulator over real sockets: each one placed with signed REST
//! requests as a Binance client sends them, its events watched on a real listenToken
//! subscription and checked field by field against the sequences of docs/simulator.md §2.
//! Time is the server's manual clock: nothing here sleeps.

mod common;

use common::{Key, TestServer, WsClient};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use userstream_protocol::events::{
    Event, ExecutionType, ExpiryReason, ListOrderStatus, ListStatusType, OrderStatus,
};
use userstream_protocol::sbe::events::{DecodedEvent, decode_event};
use userstream_server::{Clock, ManualClock};

const SBE_5: &str = "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5";
const HOUR_MS: u64 = 3_600_000;

// ---- helpers ----

/// A server with BTCUSDT at 60000.
async fn start() -> TestServer {
    let server = TestServer::start().await;
    server.set_price("BTCUSDT", "60000").await;
    server
}

/// A server whose clock stands ten minutes before a whole hour, with BTCUSDT at 60000. Its
/// connections do not wait for pongs across the clock's jumps of hours. Keep the directory.
async fn start_before_the_hour() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path().to_path_buf());
    config.ws.pong_timeout_ms = 100 * HOUR_MS;
    let hour_us = (HOUR_MS * 1000) as i64;
    let now_us = ManualClock::starting_now().now_us();
    let start_us = (now_us.div_euclid(hour_us) + 1) * hour_us - 600_000_000;
    let server = TestServer::start_on(config, ManualClock::new(start_us)).await;
    server.set_price("BTCUSDT", "60000").await;
    (server, dir)
}

async fn deposit(
    server: &TestServer,
    key: &Key,
    asset: &str,
    amount: &str,
    isolated: Option<&str>,
) {
    let mut body = json!({"asset": asset, "amount": amount});
    if let Some(symbol) = isolated {
        body["isolatedSymbol"] = json!(symbol);
    }
    let (status, answer) = server
        .admin_post(&format!("/admin/v1/accounts/{}/deposits", key.uid), body)
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// A signed request that must succeed: its answer.
async fn ok(server: &TestServer, key: &Key, method: Method, path: &str, params: &str) -> Value {
    let (status, answer) = server.signed(key, method, path, params).await;
    assert_eq!(status, 200, "{path}?{params}: {answer}");
    answer
}

/// A signed request that must be refused: Binance's (code, msg).
async fn refused(
    server: &TestServer,
    key: &Key,
    method: Method,
    path: &str,
    params: &str,
) -> (i64, String) {
    let (status, answer) = server.signed(key, method, path, params).await;
    assert_eq!(status, 400, "{path}?{params}: {answer}");
    (
        answer["code"].as_i64().unwrap(),
        answer["msg"].as_str().unwrap().to_owned(),
    )
}

/// A connection subscribed to the cross account (`None`) or an isolated pair.
async fn subscribed(server: &TestServer, key: &Key, isolated: Option<&str>) -> WsClient {
    let (token, _) = server.token(key, isolated, None).await;
    let mut ws = server.ws().await;
    assert_eq!(ws.subscribe(&token).await["subscriptionId"], 0);
    ws
}

/// The next event's body.
async fn next(ws: &mut WsClient) -> Value {
    let frame = ws.next_event().await;
    assert_eq!(frame["subscriptionId"], 0, "{frame}");
    frame["event"].clone()
}

/// Asserts every field of `expected` has that value in `event` (the others are not checked).
#[track_caller]
fn assert_fields(event: &Value, expected: Value) {
    for (name, value) in expected.as_object().unwrap() {
        assert_eq!(&event[name], value, "field {name} of {event}");
    }
}

/// An outboundAccountPosition at `now` listing exactly `balances` (asset, free, locked).
#[track_caller]
fn assert_position(event: &Value, now: i64, balances: &[(&str, &str, &str)]) {
    let listed: Vec<Value> = balances
        .iter()
        .map(|(a, f, l)| json!({"a": a, "f": f, "l": l}))
        .collect();
    assert_eq!(
        event,
        &json!({"e": "outboundAccountPosition", "E": now, "u": now, "B": listed}),
    );
}

#[track_caller]
fn assert_liability(
    event: &Value,
    now: i64,
    asset: &str,
    kind: &str,
    principal: &str,
    interest: &str,
) {
    assert_eq!(
        event,
        &json!({"e": "USER_LIABILITY_CHANGE", "E": now, "a": asset, "t": kind,
            "p": principal, "i": interest}),
    );
}

/// One row of an account view's assets.
fn asset_row<'a>(rows: &'a Value, asset: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["asset"] == asset)
        .unwrap_or_else(|| panic!("{asset} missing from {rows}"))
}

async fn next_binary(ws: &mut WsClient) -> Vec<u8> {
    loop {
        match ws.next_message().await {
            Some(Message::Binary(bytes)) => return bytes.to_vec(),
            Some(Message::Ping(_)) | Some(Message::Pong(_)) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

/// The next SBE event of subscription 0.
async fn next_sbe(ws: &mut WsClient) -> Option<Event> {
    match decode_event(&next_binary(ws).await).unwrap() {
        DecodedEvent::Event {
            subscription_id,
            event,
        } => {
            assert_eq!(subscription_id, Some(0));
            Some(event)
        }
        DecodedEvent::NonRepresentable => None,
    }
}

// ---- 1. an isolated pair ----

#[tokio::test]
async fn an_isolated_pair_trades_on_its_own_stream_and_its_view_matches_the_events() {
    let server = start().await;
    let key = server.create_key(&["BTCUSDT"]).await;
    // One connection, two subscriptions: the cross account (0) and the isolated pair (1).
    let (cross_token, _) = server.token(&key, None, None).await;
    let (isolated_token, _) = server.token(&key, Some("BTCUSDT"), None).await;
    let mut ws = server.ws().await;
    assert_eq!(ws.subscribe(&cross_token).await["subscriptionId"], 0);
    assert_eq!(ws.subscribe(&isolated_token).await["subscriptionId"], 1);
    let isolated = async |ws: &mut WsClient| {
        let frame = ws.next_event().await;
        assert_eq!(
            frame["subscriptionId"], 1,
            "not on the isolated stream: {frame}"
        );
        frame["event"].clone()
    };

    deposit(&server, &key, "USDT", "1000", Some("BTCUSDT")).await;
    let now = server.now_ms();
    assert_eq!(
        isolated(&mut ws).await,
        json!({"e": "balanceUpdate", "E": now, "a": "USDT", "d": "1000.00000000", "T": now})
    );
    assert_position(
        &isolated(&mut ws).await,
        now,
        &[("USDT", "1000.00000000", "0.00000000")],
    );

    server.advance_ms(5);
    let placed_at = server.now_ms();
    let answer = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        "symbol=BTCUSDT&isIsolated=TRUE&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01\
         &price=59000&newClientOrderId=iso-1",
    )
    .await;
    assert_fields(
        &answer,
        json!({"symbol": "BTCUSDT", "clientOrderId": "iso-1", "isIsolated": true,
            "transactTime": placed_at, "status": "NEW", "fills": []}),
    );
    let order_id = answer["orderId"].as_i64().unwrap();
    let new = isolated(&mut ws).await;
    assert_fields(
        &new,
        json!({"e": "executionReport", "E": placed_at, "s": "BTCUSDT", "c": "iso-1", "S": "BUY",
            "o": "LIMIT", "f": "GTC", "q": "0.01000000", "p": "59000.00000000",
            "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW",
            "r": "NONE", "i": order_id, "l": "0.00000000", "z": "0.00000000",
            "L": "0.00000000", "n": "0", "N": null, "T": placed_at, "t": -1, "w": true,
            "m": false, "M": false, "O": placed_at, "Z": "0.00000000", "Y": "0.00000000",
            "Q": "0.00000000", "W": placed_at, "V": "NONE"}),
    );
    assert_position(
        &isolated(&mut ws).await,
        placed_at,
        &[("USDT", "410.00000000", "590.00000000")],
    );

    server.advance_ms(5);
    let filled_at = server.now_ms();
    assert_eq!(server.set_price("BTCUSDT", "58900").await, 2);
    let trade = isolated(&mut ws).await;
    assert_fields(
        &trade,
        json!({"e": "executionReport", "E": filled_at, "c": "iso-1", "x": "TRADE",
            "X": "FILLED", "i": order_id, "l": "0.01000000", "z": "0.01000000",
            "L": "59000.00000000", "n": "0.00001000", "N": "BTC", "T": filled_at, "m": true,
            "M": true, "O": placed_at, "Z": "590.00000000", "Y": "590.00000000"}),
    );
    let last = isolated(&mut ws).await;
    assert_position(
        &last,
        filled_at,
        &[
            ("BTC", "0.00999000", "0.00000000"),
            ("USDT", "410.00000000", "0.00000000"),
        ],
    );
    // Nothing reached the cross subscription: the ping's answer comes first.
    ws.expect_no_events().await;

    // The isolated view says what the last outboundAccountPosition said.
    let view = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/isolated/account",
        "symbols=BTCUSDT",
    )
    .await;
    let pairs = view["assets"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{view}");
    let pair = &pairs[0];
    assert_fields(
        pair,
        json!({"symbol": "BTCUSDT", "isolatedCreated": true, "indexPrice": "58900.00000000"}),
    );
    for balance in last["B"].as_array().unwrap() {
        let side = if balance["a"] == "BTC" {
            &pair["baseAsset"]
        } else {
            &pair["quoteAsset"]
        };
        assert_eq!(side["asset"], balance["a"], "{view}");
        assert_eq!(side["free"], balance["f"], "{view}");
        assert_eq!(side["locked"], balance["l"], "{view}");
        assert_eq!(side["borrowed"], "0.00000000", "{view}");
    }
    for total in [
        "totalAssetOfBtc",
        "totalLiabilityOfBtc",
        "totalNetAssetOfBtc",
    ] {
        assert!(view.get(total).is_none(), "{total} with symbols: {view}");
    }
    // Without `symbols`: every open pair, and the totals (998.411 USDT at 58900).
    let all = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/isolated/account",
        "",
    )
    .await;
    assert_eq!(all["assets"], view["assets"], "{all}");
    assert_fields(
        &all,
        json!({"totalAssetOfBtc": "0.01695095", "totalLiabilityOfBtc": "0.00000000",
            "totalNetAssetOfBtc": "0.01695095"}),
    );
    // The cross account was never touched.
    let cross = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    assert_eq!(cross["userAssets"], json!([]), "{cross}");
}

// ---- 2. OCO ----

const OCO_SELL: &str = "symbol=BTCUSDT&side=SELL&quantity=0.01&price=61000&stopPrice=59000\
    &stopLimitPrice=58900&stopLimitTimeInForce=GTC";

#[tokio::test]
async fn an_oco_whose_limit_leg_fills_expires_its_stop_leg() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "BTC", "0.1", None).await;
    let mut ws = subscribed(&server, &key, None).await;

    server.advance_ms(5);
    let placed_at = server.now_ms();
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        &format!(
            "{OCO_SELL}&listClientOrderId=my-list&limitClientOrderId=my-limit\
             &stopClientOrderId=my-stop&selfTradePreventionMode=EXPIRE_MAKER"
        ),
    )
    .await;
    // Binance's answer: the list, its orders (stop leg first) and their reports.
    let mut keys: Vec<&str> = list
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "contingencyType",
            "isIsolated",
            "listClientOrderId",
            "listOrderStatus",
            "listStatusType",
            "orderListId",
            "orderReports",
            "orders",
            "symbol",
            "transactionTime"
        ],
        "{list}"
    );
    let list_id = list["orderListId"].as_i64().unwrap();
    assert_fields(
        &list,
        json!({"contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING", "listClientOrderId": "my-list",
            "transactionTime": placed_at, "symbol": "BTCUSDT", "isIsolated": false}),
    );
    let stop_id = list["orders"][0]["orderId"].as_i64().unwrap();
    let limit_id = list["orders"][1]["orderId"].as_i64().unwrap();
    assert_eq!(
        list["orders"],
        json!([
            {"symbol": "BTCUSDT", "orderId": stop_id, "clientOrderId": "my-stop"},
            {"symbol": "BTCUSDT", "orderId": limit_id, "clientOrderId": "my-limit"},
        ])
    );
    assert_fields(
        &list["orderReports"][0],
        json!({"symbol": "BTCUSDT", "orderId": stop_id, "orderListId": list_id,
            "clientOrderId": "my-stop", "transactTime": placed_at, "price": "58900.00000000",
            "origQty": "0.01000000", "executedQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC",
            "type": "STOP_LOSS_LIMIT", "side": "SELL", "stopPrice": "59000.00000000"}),
    );
    assert_fields(
        &list["orderReports"][1],
        json!({"symbol": "BTCUSDT", "orderId": limit_id, "orderListId": list_id,
            "clientOrderId": "my-limit", "transactTime": placed_at, "price": "61000.00000000",
            "origQty": "0.01000000", "status": "NEW", "type": "LIMIT_MAKER", "side": "SELL"}),
    );

    // Placed: NEW (stop leg), NEW (limit leg), listStatus EXEC_STARTED, position.
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": placed_at, "c": "my-stop", "i": stop_id,
            "g": list_id, "o": "STOP_LOSS_LIMIT", "S": "SELL", "f": "GTC", "x": "NEW",
            "X": "NEW", "p": "58900.00000000", "P": "59000.00000000", "q": "0.01000000",
            "w": false, "O": placed_at, "W": placed_at, "V": "EXPIRE_MAKER"}),
    );
    // Both legs carry the list's self-trade prevention mode.
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": placed_at, "c": "my-limit", "i": limit_id,
            "g": list_id, "o": "LIMIT_MAKER", "S": "SELL", "x": "NEW", "X": "NEW",
            "p": "61000.00000000", "P": "0.00000000", "w": true, "V": "EXPIRE_MAKER"}),
    );
    let legs = json!([
        {"s": "BTCUSDT", "i": stop_id, "c": "my-stop"},
        {"s": "BTCUSDT", "i": limit_id, "c": "my-limit"},
    ]);
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "listStatus", "E": placed_at, "s": "BTCUSDT", "g": list_id, "c": "OCO",
            "l": "EXEC_STARTED", "L": "EXECUTING", "r": "NONE", "C": "my-list",
            "T": placed_at, "O": legs})
    );
    assert_position(
        &next(&mut ws).await,
        placed_at,
        &[("BTC", "0.09000000", "0.01000000")],
    );

    // The price rises to the limit leg: the stop leg expires, the list is done, the leg fills.
    server.advance_ms(5);
    let filled_at = server.now_ms();
    assert_eq!(server.set_price("BTCUSDT", "61000").await, 4);
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": filled_at, "i": stop_id, "c": "my-stop",
            "C": "", "g": list_id, "x": "EXPIRED", "X": "EXPIRED", "eR": "OCO_TRIGGER",
            "z": "0.00000000", "l": "0.00000000", "t": -1, "T": filled_at}),
    );
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "listStatus", "E": filled_at, "s": "BTCUSDT", "g": list_id, "c": "OCO",
            "l": "ALL_DONE", "L": "ALL_DONE", "r": "NONE", "C": "my-list", "T": filled_at,
            "O": legs})
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": filled_at, "i": limit_id, "c": "my-limit",
            "g": list_id, "x": "TRADE", "X": "FILLED", "l": "0.01000000", "z": "0.01000000",
            "L": "61000.00000000", "n": "0.61000000", "N": "USDT", "m": true,
            "Y": "610.00000000", "Z": "610.00000000"}),
    );
    assert_position(
        &next(&mut ws).await,
        filled_at,
        &[
            ("BTC", "0.09000000", "0.00000000"),
            ("USDT", "609.39000000", "0.00000000"),
        ],
    );
    ws.expect_no_events().await;
    let stop = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/order",
        &format!("symbol=BTCUSDT&orderId={stop_id}"),
    )
    .await;
    assert_eq!(stop["status"], "EXPIRED", "{stop}");
    let open = ok(&server, &key, Method::GET, "/sapi/v1/margin/openOrders", "").await;
    assert_eq!(open, json!([]));
}

#[tokio::test]
async fn an_oco_whose_stop_leg_triggers_expires_its_limit_leg_and_takes() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "BTC", "0.1", None).await;
    let mut ws = subscribed(&server, &key, None).await;

    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        OCO_SELL,
    )
    .await;
    let list_id = list["orderListId"].as_i64().unwrap();
    let stop_id = list["orders"][0]["orderId"].as_i64().unwrap();
    let limit_id = list["orders"][1]["orderId"].as_i64().unwrap();
    // Generated ids, like Binance's: 22 characters.
    for member in list["orders"].as_array().unwrap() {
        assert_eq!(
            member["clientOrderId"].as_str().unwrap().len(),
            22,
            "{list}"
        );
    }
    for _ in 0..4 {
        next(&mut ws).await;
    }

    // The price falls to the stop: the limit leg expires, the list is done, and the stop-limit
    // (58900, marketable at 59000) takes level 1: 59000 × 0.9995 = 58970.50.
    server.advance_ms(5);
    let triggered_at = server.now_ms();
    server.set_price("BTCUSDT", "59000").await;
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": triggered_at, "i": limit_id, "g": list_id,
            "o": "LIMIT_MAKER", "x": "EXPIRED", "X": "EXPIRED", "eR": "OCO_TRIGGER"}),
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "listStatus", "E": triggered_at, "g": list_id, "l": "ALL_DONE",
            "L": "ALL_DONE"}),
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": triggered_at, "i": stop_id, "g": list_id,
            "o": "STOP_LOSS_LIMIT", "x": "TRADE", "X": "FILLED", "l": "0.01000000",
            "L": "58970.50000000", "n": "0.58970500", "N": "USDT", "m": false,
            "W": triggered_at}),
    );
    assert_position(
        &next(&mut ws).await,
        triggered_at,
        &[
            ("BTC", "0.09000000", "0.00000000"),
            ("USDT", "589.11529500", "0.00000000"),
        ],
    );
    ws.expect_no_events().await;
}

#[tokio::test]
async fn cancelling_the_triggered_leg_of_a_done_oco_sends_no_second_list_status() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "BTC", "1", None).await;
    let mut ws = subscribed(&server, &key, None).await;
    // The stop-limit leg sells at 59500 once the price falls to 59000: it rests, working.
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        "symbol=BTCUSDT&side=SELL&quantity=0.01&price=61000&stopPrice=59000\
         &stopLimitPrice=59500&stopLimitTimeInForce=GTC",
    )
    .await;
    let list_id = list["orderListId"].as_i64().unwrap();
    let stop_id = list["orders"][0]["orderId"].as_i64().unwrap();
    for _ in 0..4 {
        next(&mut ws).await;
    }
    server.set_price("BTCUSDT", "59000").await;
    assert_fields(
        &next(&mut ws).await,
        json!({"x": "EXPIRED", "eR": "OCO_TRIGGER"}),
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "listStatus", "g": list_id, "l": "ALL_DONE", "L": "ALL_DONE"}),
    );
    ws.expect_no_events().await;
    let open = ok(&server, &key, Method::GET, "/sapi/v1/margin/openOrders", "").await;
    assert_fields(
        &open[0],
        json!({"orderId": stop_id, "isWorking": true, "status": "NEW"}),
    );

    // The list said ALL_DONE once; cancelling its last order is a lone cancel.
    server.advance_ms(5);
    let now = server.now_ms();
    let canceled = ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/order",
        &format!("symbol=BTCUSDT&orderId={stop_id}&newClientOrderId=undo"),
    )
    .await;
    assert_fields(
        &canceled,
        json!({"orderId": stop_id, "clientOrderId": "undo", "status": "CANCELED"}),
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": now, "i": stop_id, "g": list_id, "c": "undo",
            "x": "CANCELED", "X": "CANCELED"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "1.00000000", "0.00000000")],
    );
    ws.expect_no_events().await;

    // The same through DELETE openOrders: the order comes back as an order, not as a list.
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        "symbol=BTCUSDT&side=SELL&quantity=0.01&price=60000&stopPrice=58000\
         &stopLimitPrice=58500&stopLimitTimeInForce=GTC",
    )
    .await;
    let stop_id = list["orders"][0]["orderId"].as_i64().unwrap();
    server.set_price("BTCUSDT", "58000").await;
    for _ in 0..6 {
        next(&mut ws).await;
    }
    let now = server.now_ms();
    let canceled = ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/openOrders",
        "symbol=BTCUSDT",
    )
    .await;
    assert_eq!(canceled.as_array().unwrap().len(), 1, "{canceled}");
    assert_fields(
        &canceled[0],
        json!({"orderId": stop_id, "status": "CANCELED", "type": "STOP_LOSS_LIMIT"}),
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "i": stop_id, "x": "CANCELED"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "1.00000000", "0.00000000")],
    );
    ws.expect_no_events().await;
}

// ---- 3. borrowing ----

#[tokio::test]
async fn borrow_margin_buy_auto_repay_and_repay_send_liability_changes() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "10000", None).await;
    let mut ws = subscribed(&server, &key, None).await;

    server.advance_ms(5);
    let now = server.now_ms();
    let answer = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=0.01&isIsolated=FALSE&type=BORROW",
    )
    .await;
    assert!(answer["tranId"].as_i64().is_some(), "{answer}");
    assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "0.01000000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "BORROW",
        "0.01000000",
        "0.00000000",
    );

    // Equity 10000 USDT at 3x: debts may reach 20000, 600 are owed.
    let max = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/maxBorrowable",
        "asset=USDT",
    )
    .await;
    assert_eq!(
        max,
        json!({"amount": "19400.00000000", "borrowLimit": "1000000000.00000000"})
    );
    let max = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/maxBorrowable",
        "asset=BTC",
    )
    .await;
    assert_eq!(max["amount"], "0.32333333", "{max}");

    // MARGIN_BUY: 0.2 BTC at level 1 (60030) cost 12006; 2006 USDT are borrowed.
    server.advance_ms(5);
    let now = server.now_ms();
    let answer = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.2&sideEffectType=MARGIN_BUY",
    )
    .await;
    assert_fields(
        &answer,
        json!({"status": "FILLED", "executedQty": "0.20000000",
            "cummulativeQuoteQty": "12006.00000000", "marginBuyBorrowAmount": "2006.00000000",
            "marginBuyBorrowAsset": "USDT"}),
    );
    let fills = answer["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 1, "{answer}");
    assert_fields(
        &fills[0],
        json!({"price": "60030.00000000", "qty": "0.20000000", "commission": "0.00020000",
            "commissionAsset": "BTC"}),
    );
    let order_id = answer["orderId"].as_i64().unwrap();
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": now, "i": order_id, "o": "MARKET", "x": "NEW",
            "X": "NEW", "q": "0.20000000"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "0.00000000", "12006.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "USDT",
        "BORROW",
        "2006.00000000",
        "0.00000000",
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": now, "i": order_id, "x": "TRADE", "X": "FILLED",
            "l": "0.20000000", "L": "60030.00000000", "n": "0.00020000", "N": "BTC",
            "m": false, "t": fills[0]["tradeId"]}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[
            ("BTC", "0.20980000", "0.00000000"),
            ("USDT", "0.00000000", "0.00000000"),
        ],
    );

    // AUTO_REPAY: 0.05 BTC sold at 59970 bring 2995.5015 USDT after commission; the 2006 owed
    // are repaid from them.
    server.advance_ms(5);
    let now = server.now_ms();
    let answer = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.05&sideEffectType=AUTO_REPAY",
    )
    .await;
    assert_eq!(answer["status"], "FILLED", "{answer}");
    assert!(answer.get("marginBuyBorrowAmount").is_none(), "{answer}");
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "x": "NEW", "S": "SELL"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "0.15980000", "0.05000000")],
    );
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "x": "TRADE", "X": "FILLED", "L": "59970.00000000",
            "n": "2.99850000", "N": "USDT"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[
            ("BTC", "0.15980000", "0.00000000"),
            ("USDT", "2995.50150000", "0.00000000"),
        ],
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "989.50150000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "USDT",
        "REPAY",
        "2006.00000000",
        "0.00000000",
    );

    // Repaying more than is owed: Binance's -3015; nothing happens.
    let (code, msg) = refused(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=0.02&type=REPAY",
    )
    .await;
    assert_eq!(
        (code, msg.as_str()),
        (-3015, "Repay amount exceeds borrow amount.")
    );
    ws.expect_no_events().await;

    server.advance_ms(5);
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=0.01&type=REPAY",
    )
    .await;
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "0.14980000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "REPAY",
        "0.01000000",
        "0.00000000",
    );
    ws.expect_no_events().await;
    let account = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    for asset in ["BTC", "USDT"] {
        assert_eq!(
            asset_row(&account["userAssets"], asset)["borrowed"],
            "0.00000000",
            "{account}"
        );
    }
    assert_eq!(account["marginLevel"], "999.00000000", "{account}");
}

#[tokio::test]
async fn cancelling_a_margin_buy_order_repays_its_loan_unless_told_otherwise() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "1000", None).await;
    let mut ws = subscribed(&server, &key, None).await;
    const ORDER: &str = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.05\
        &price=50000&sideEffectType=MARGIN_BUY";

    // 2500 locked, 1500 of them borrowed.
    let now = server.now_ms();
    let placed = ok(&server, &key, Method::POST, "/sapi/v1/margin/order", ORDER).await;
    assert_eq!(placed["marginBuyBorrowAmount"], "1500.00000000", "{placed}");
    assert_fields(&next(&mut ws).await, json!({"x": "NEW"}));
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "0.00000000", "2500.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "USDT",
        "BORROW",
        "1500.00000000",
        "0.00000000",
    );
    // 2500 / 1500: the margin level falls under 2; its event comes last.
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "1.66666667", "s": "NORMAL"})
    );

    // autoRepayAtCancel defaults to true (Binance): the cancel repays the order's loan.
    server.advance_ms(5);
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/order",
        &format!("symbol=BTCUSDT&orderId={}", placed["orderId"]),
    )
    .await;
    assert_fields(&next(&mut ws).await, json!({"x": "CANCELED", "E": now}));
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "2500.00000000", "0.00000000")],
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "1000.00000000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "USDT",
        "REPAY",
        "1500.00000000",
        "0.00000000",
    );
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "999.00000000",
            "s": "EXCESSIVE"})
    );
    ws.expect_no_events().await;
    let account = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    assert_eq!(
        asset_row(&account["userAssets"], "USDT")["borrowed"],
        "0.00000000"
    );

    // autoRepayAtCancel=false keeps the loan.
    let placed = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        &format!("{ORDER}&autoRepayAtCancel=false"),
    )
    .await;
    for _ in 0..4 {
        next(&mut ws).await;
    }
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/openOrders",
        "symbol=BTCUSDT",
    )
    .await;
    assert_fields(
        &next(&mut ws).await,
        json!({"x": "CANCELED", "i": placed["orderId"]}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "2500.00000000", "0.00000000")],
    );
    ws.expect_no_events().await;
    let account = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    assert_eq!(
        asset_row(&account["userAssets"], "USDT")["borrowed"],
        "1500.00000000"
    );

    // An OCO's loan goes back when the list is cancelled: 0.042 × 61000 = 2562 locked, 2500
    // free, 62 more borrowed.
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        "symbol=BTCUSDT&side=BUY&quantity=0.042&price=59000&stopPrice=61000\
         &sideEffectType=MARGIN_BUY",
    )
    .await;
    assert_eq!(list["marginBuyBorrowAmount"], "62.00000000", "{list}");
    for _ in 0..5 {
        next(&mut ws).await;
    }
    server.advance_ms(5);
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/order",
        &format!("symbol=BTCUSDT&orderId={}", list["orders"][0]["orderId"]),
    )
    .await;
    assert_fields(&next(&mut ws).await, json!({"x": "CANCELED"}));
    assert_fields(&next(&mut ws).await, json!({"x": "CANCELED"}));
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "listStatus", "l": "ALL_DONE"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "2562.00000000", "0.00000000")],
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("USDT", "2500.00000000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "USDT",
        "REPAY",
        "62.00000000",
        "0.00000000",
    );
    ws.expect_no_events().await;
}

// ---- 4. margin level ----

#[tokio::test]
async fn a_price_move_against_a_borrower_crosses_margin_level_thresholds() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "10000", None).await;
    let mut ws = subscribed(&server, &key, None).await;
    ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=0.1&type=BORROW",
    )
    .await;
    next(&mut ws).await;
    next(&mut ws).await;
    // (10000 + 0.1 BTC) / 0.1 BTC: 2.25 at 80000 is still EXCESSIVE.
    assert_eq!(server.set_price("BTCUSDT", "80000").await, 0);
    ws.expect_no_events().await;

    // 22000 / 12000 at 120000: NORMAL.
    server.advance_ms(5);
    let now = server.now_ms();
    assert_eq!(server.set_price("BTCUSDT", "120000").await, 1);
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "1.83333333", "s": "NORMAL"})
    );
    // 50000 / 40000 at 400000: MARGIN_CALL; 1.1 or less would be FORCE_LIQUIDATION.
    server.advance_ms(5);
    let now = server.now_ms();
    server.set_price("BTCUSDT", "400000").await;
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "1.25000000",
            "s": "MARGIN_CALL"})
    );
    let account = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    assert_eq!(account["marginLevel"], "1.25000000", "{account}");
    server.advance_ms(5);
    let now = server.now_ms();
    server.set_price("BTCUSDT", "1000000").await;
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "1.10000000",
            "s": "PRE_LIQUIDATION"})
    );
    // Back down: EXCESSIVE again.
    server.advance_ms(5);
    let now = server.now_ms();
    server.set_price("BTCUSDT", "60000").await;
    assert_eq!(
        next(&mut ws).await,
        json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "E": now, "l": "2.66666667",
            "s": "EXCESSIVE"})
    );
    ws.expect_no_events().await;
}

// ---- 5. SBE ----

#[tokio::test]
async fn an_oco_with_a_margin_buy_in_sbe_matches_json_and_sends_risk_events_as_non_representable() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "5000", None).await;
    let mut json_ws = subscribed(&server, &key, None).await;
    let (token, _) = server.token(&key, None, None).await;
    let mut sbe = server.ws_with(SBE_5).await;
    let request = json!({"id": "s", "method": "userDataStream.subscribe.listenToken",
        "params": {"listenToken": token}});
    sbe.send_text(&request.to_string()).await;
    next_binary(&mut sbe).await;

    // A buy OCO locks 0.1 × 61100 = 6110 USDT; 1110 are borrowed.
    server.advance_ms(5);
    let placed_at = server.now_ms();
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        "symbol=BTCUSDT&side=BUY&quantity=0.1&price=59000&stopPrice=61000\
         &stopLimitPrice=61100&stopLimitTimeInForce=GTC&sideEffectType=MARGIN_BUY",
    )
    .await;
    assert_fields(
        &list,
        json!({"marginBuyBorrowAmount": "1110.00000000", "marginBuyBorrowAsset": "USDT"}),
    );
    let list_id = list["orderListId"].as_i64().unwrap();
    let stop_id = list["orders"][0]["orderId"].as_i64().unwrap();
    let limit_id = list["orders"][1]["orderId"].as_i64().unwrap();

    // JSON: NEW, NEW, listStatus, position, USER_LIABILITY_CHANGE.
    let json_events = [
        next(&mut json_ws).await,
        next(&mut json_ws).await,
        next(&mut json_ws).await,
        next(&mut json_ws).await,
        next(&mut json_ws).await,
    ];
    let types: Vec<_> = json_events.iter().map(|e| e["e"].clone()).collect();
    assert_eq!(
        types,
        [
            "executionReport",
            "executionReport",
            "listStatus",
            "outboundAccountPosition",
            "USER_LIABILITY_CHANGE"
        ]
    );
    assert_liability(
        &json_events[4],
        placed_at,
        "USDT",
        "BORROW",
        "1110.00000000",
        "0.00000000",
    );

    // SBE: the same, the liability change as a NonRepresentableMessage.
    let placed_us = placed_at * 1000;
    let Some(Event::ExecutionReport(stop)) = next_sbe(&mut sbe).await else {
        panic!("expected the stop leg's NEW");
    };
    assert_eq!(
        (
            stop.order_id,
            stop.order_list_id,
            stop.execution_type,
            stop.event_time_us
        ),
        (stop_id, list_id, ExecutionType::New, placed_us)
    );
    assert_eq!(stop.stop_price.as_str(), "61000.00000000");
    assert_eq!(stop.price.as_str(), "61100.00000000");
    assert!(!stop.is_working);
    let Some(Event::ExecutionReport(limit)) = next_sbe(&mut sbe).await else {
        panic!("expected the limit leg's NEW");
    };
    assert_eq!(
        (limit.order_id, limit.order_list_id, limit.execution_type),
        (limit_id, list_id, ExecutionType::New)
    );
    assert!(limit.is_working);
    let Some(Event::ListStatus(started)) = next_sbe(&mut sbe).await else {
        panic!("expected listStatus");
    };
    assert_eq!(
        (
            started.order_list_id,
            started.list_status_type,
            started.list_order_status,
            started.event_time_us
        ),
        (
            list_id,
            ListStatusType::ExecStarted,
            ListOrderStatus::Executing,
            placed_us
        )
    );
    let ids: Vec<i64> = started.orders.iter().map(|o| o.order_id).collect();
    assert_eq!(ids, [stop_id, limit_id]);
    let Some(Event::OutboundAccountPosition(position)) = next_sbe(&mut sbe).await else {
        panic!("expected outboundAccountPosition");
    };
    let balances: Vec<_> = position
        .balances
        .iter()
        .map(|b| (b.asset.as_str(), b.free.as_str(), b.locked.as_str()))
        .collect();
    assert_eq!(balances, [("USDT", "0.00000000", "6110.00000000")]);
    assert!(
        next_sbe(&mut sbe).await.is_none(),
        "USER_LIABILITY_CHANGE has no SBE message: 999 NonRepresentable"
    );

    // The price falls to the limit leg: EXPIRED (stop leg), listStatus ALL_DONE, TRADE, position.
    server.advance_ms(5);
    let filled_at = server.now_ms();
    server.set_price("BTCUSDT", "59000").await;
    let Some(Event::ExecutionReport(expired)) = next_sbe(&mut sbe).await else {
        panic!("expected the stop leg's EXPIRED");
    };
    assert_eq!(
        (
            expired.order_id,
            expired.execution_type,
            expired.order_status,
            expired.expiry_reason
        ),
        (
            stop_id,
            ExecutionType::Expired,
            OrderStatus::Expired,
            Some(ExpiryReason::OcoTrigger)
        )
    );
    let Some(Event::ListStatus(done)) = next_sbe(&mut sbe).await else {
        panic!("expected listStatus");
    };
    assert_eq!(
        (
            done.list_status_type,
            done.list_order_status,
            done.event_time_us
        ),
        (
            ListStatusType::AllDone,
            ListOrderStatus::AllDone,
            filled_at * 1000
        )
    );
    let Some(Event::ExecutionReport(trade)) = next_sbe(&mut sbe).await else {
        panic!("expected the limit leg's TRADE");
    };
    assert_eq!(
        (trade.order_id, trade.execution_type, trade.order_status),
        (limit_id, ExecutionType::Trade, OrderStatus::Filled)
    );
    assert_eq!(trade.last_executed_price.as_str(), "59000.00000000");
    assert_eq!(trade.last_executed_quantity.as_str(), "0.10000000");
    assert_eq!(trade.commission.as_str(), "0.00010000");
    assert!(trade.is_maker);
    let Some(Event::OutboundAccountPosition(position)) = next_sbe(&mut sbe).await else {
        panic!("expected outboundAccountPosition");
    };
    let balances: Vec<_> = position
        .balances
        .iter()
        .map(|b| (b.asset.as_str(), b.free.as_str(), b.locked.as_str()))
        .collect();
    assert_eq!(
        balances,
        [
            ("BTC", "0.09990000", "0.00000000"),
            ("USDT", "210.00000000", "0.00000000")
        ]
    );
    // JSON saw the same four, in the same order.
    let types = [
        next(&mut json_ws).await,
        next(&mut json_ws).await,
        next(&mut json_ws).await,
        next(&mut json_ws).await,
    ]
    .map(|e| (e["e"].clone(), e["x"].clone()));
    assert_eq!(
        types,
        [
            (json!("executionReport"), json!("EXPIRED")),
            (json!("listStatus"), Value::Null),
            (json!("executionReport"), json!("TRADE")),
            (json!("outboundAccountPosition"), Value::Null),
        ]
    );
    json_ws.expect_no_events().await;
}

// ---- 6. answers, cancels, history, duplicates, stops ----

#[tokio::test]
async fn response_types_cancel_all_history_duplicates_and_a_triggered_stop() {
    let server = start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "10000", None).await;
    deposit(&server, &key, "BTC", "1", None).await;
    let mut ws = subscribed(&server, &key, None).await;
    let order = |params: String| {
        let (server, key) = (&server, &key);
        async move { ok(server, key, Method::POST, "/sapi/v1/margin/order", &params).await }
    };
    let keys = |answer: &Value| {
        let mut keys: Vec<String> = answer.as_object().unwrap().keys().cloned().collect();
        keys.sort_unstable();
        keys
    };
    const RESTING: &str = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01";

    // ACK, RESULT and FULL, as Binance shapes them.
    let ack = order(format!(
        "{RESTING}&price=50000&newOrderRespType=ACK&newClientOrderId=a"
    ))
    .await;
    assert_eq!(
        keys(&ack),
        [
            "clientOrderId",
            "isIsolated",
            "orderId",
            "symbol",
            "transactTime"
        ],
        "{ack}"
    );
    let result = order(format!(
        "{RESTING}&price=50100&newOrderRespType=RESULT&newClientOrderId=b"
    ))
    .await;
    assert_eq!(
        keys(&result),
        [
            "clientOrderId",
            "cummulativeQuoteQty",
            "executedQty",
            "isIsolated",
            "orderId",
            "origQty",
            "price",
            "selfTradePreventionMode",
            "side",
            "status",
            "symbol",
            "timeInForce",
            "transactTime",
            "type"
        ],
        "{result}"
    );
    let full = order(format!("{RESTING}&price=50200&newClientOrderId=c")).await;
    let mut with_fills = keys(&result);
    with_fills.push("fills".into());
    with_fills.sort_unstable();
    assert_eq!(keys(&full), with_fills, "{full}");
    for _ in 0..6 {
        next(&mut ws).await;
    }

    // The same client order id as an open order: Binance's -2010, and nothing happens.
    let (code, msg) = refused(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        &format!("{RESTING}&price=50300&newClientOrderId=b"),
    )
    .await;
    assert_eq!((code, msg.as_str()), (-2010, "Duplicate order sent."));
    ws.expect_no_events().await;

    // An OCO beside them; DELETE openOrders cancels all, the OCO as a list.
    let list = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        "symbol=BTCUSDT&side=SELL&quantity=0.01&price=61000&stopPrice=59000",
    )
    .await;
    let list_id = list["orderListId"].as_i64().unwrap();
    for _ in 0..4 {
        next(&mut ws).await;
    }
    // Its listClientOrderId is taken while it executes.
    let (code, msg) = refused(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order/oco",
        &format!(
            "symbol=BTCUSDT&side=SELL&quantity=0.01&price=61000&stopPrice=59000\
             &listClientOrderId={}",
            list["listClientOrderId"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!((code, msg.as_str()), (-2010, "Duplicate order sent."));
    ws.expect_no_events().await;
    server.advance_ms(5);
    let now = server.now_ms();
    let canceled = ok(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/openOrders",
        "symbol=BTCUSDT",
    )
    .await;
    let items = canceled.as_array().unwrap();
    assert_eq!(items.len(), 4, "{canceled}");
    for (item, (id, client_id)) in items.iter().zip([
        (ack["orderId"].clone(), "a"),
        (result["orderId"].clone(), "b"),
        (full["orderId"].clone(), "c"),
    ]) {
        assert_fields(
            item,
            json!({"symbol": "BTCUSDT", "isIsolated": false, "orderId": id,
                "origClientOrderId": client_id, "status": "CANCELED", "type": "LIMIT"}),
        );
    }
    assert_fields(
        &items[3],
        json!({"orderListId": list_id, "contingencyType": "OCO", "listStatusType": "ALL_DONE",
            "listOrderStatus": "ALL_DONE"}),
    );
    assert_eq!(
        items[3]["orderReports"][0]["status"], "CANCELED",
        "{canceled}"
    );
    assert_eq!(
        items[3]["orderReports"][1]["status"], "CANCELED",
        "{canceled}"
    );
    for (id, client_id, free, locked) in [
        (&ack["orderId"], "a", "8997.00000000", "1003.00000000"),
        (&result["orderId"], "b", "9498.00000000", "502.00000000"),
        (&full["orderId"], "c", "10000.00000000", "0.00000000"),
    ] {
        let report = next(&mut ws).await;
        assert_fields(
            &report,
            json!({"e": "executionReport", "E": now, "i": id, "C": client_id,
                "x": "CANCELED", "X": "CANCELED"}),
        );
        assert_ne!(report["c"], client_id, "c is the cancel's own id: {report}");
        assert_position(&next(&mut ws).await, now, &[("USDT", free, locked)]);
    }
    for leg in [&list["orders"][0]["orderId"], &list["orders"][1]["orderId"]] {
        assert_fields(
            &next(&mut ws).await,
            json!({"e": "executionReport", "i": leg, "g": list_id, "x": "CANCELED"}),
        );
    }
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "listStatus", "g": list_id, "l": "ALL_DONE", "L": "ALL_DONE"}),
    );
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "1.00000000", "0.00000000")],
    );
    ws.expect_no_events().await;
    let (code, _) = refused(
        &server,
        &key,
        Method::DELETE,
        "/sapi/v1/margin/openOrders",
        "symbol=BTCUSDT",
    )
    .await;
    assert_eq!(code, -2011);
    // The duplicate id is free again once its order is done.
    order(format!(
        "{RESTING}&price=50300&newClientOrderId=b&newOrderRespType=ACK"
    ))
    .await;
    next(&mut ws).await;
    next(&mut ws).await;

    // A STOP_LOSS_LIMIT sell answers ACK by default, waits, and takes when the price falls to
    // its stop: level 1 at 59500 × 0.9995 = 59470.25, within its 59400 limit.
    server.advance_ms(5);
    let placed_at = server.now_ms();
    let stop = order(
        "symbol=BTCUSDT&side=SELL&type=STOP_LOSS_LIMIT&timeInForce=GTC&quantity=0.01\
         &price=59400&stopPrice=59500"
            .into(),
    )
    .await;
    assert_eq!(
        keys(&stop),
        [
            "clientOrderId",
            "isIsolated",
            "orderId",
            "symbol",
            "transactTime"
        ],
        "{stop}"
    );
    let stop_id = stop["orderId"].as_i64().unwrap();
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "i": stop_id, "o": "STOP_LOSS_LIMIT", "x": "NEW",
            "w": false, "W": placed_at, "P": "59500.00000000", "p": "59400.00000000"}),
    );
    assert_position(
        &next(&mut ws).await,
        placed_at,
        &[("BTC", "0.99000000", "0.01000000")],
    );
    assert_eq!(server.set_price("BTCUSDT", "59600").await, 0);
    server.advance_ms(5);
    let triggered_at = server.now_ms();
    assert_eq!(server.set_price("BTCUSDT", "59500").await, 2);
    assert_fields(
        &next(&mut ws).await,
        json!({"e": "executionReport", "E": triggered_at, "i": stop_id, "x": "TRADE",
            "X": "FILLED", "L": "59470.25000000", "l": "0.01000000", "m": false,
            "O": placed_at, "W": triggered_at}),
    );
    next(&mut ws).await;

    // History: seven orders so far (the OCO's legs among them), by id; `limit` keeps the newest,
    // `orderId` pages from that id.
    let all = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/allOrders",
        "symbol=BTCUSDT",
    )
    .await;
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 7, "{all}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{all}");
    let newest = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/allOrders",
        "symbol=BTCUSDT&limit=2",
    )
    .await;
    let newest: Vec<i64> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_i64().unwrap())
        .collect();
    assert_eq!(newest, ids[5..]);
    let from = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/allOrders",
        &format!("symbol=BTCUSDT&orderId={}&limit=3", ids[1]),
    )
    .await;
    let from: Vec<i64> = from
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_i64().unwrap())
        .collect();
    assert_eq!(from, ids[1..4]);

    // Trades: three more market buys, then pages by `fromId` and `limit`.
    for _ in 0..3 {
        order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001".into()).await;
    }
    let trades = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/myTrades",
        "symbol=BTCUSDT",
    )
    .await;
    let trade_ids: Vec<i64> = trades
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(trade_ids.len(), 4, "{trades}");
    let page = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/myTrades",
        &format!("symbol=BTCUSDT&fromId={}&limit=2", trade_ids[1]),
    )
    .await;
    let page: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page, trade_ids[1..3]);
    let last = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/myTrades",
        "symbol=BTCUSDT&limit=1",
    )
    .await;
    assert_eq!(last[0]["id"], trade_ids[3], "{last}");
    let (code, _) = refused(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/myTrades",
        "symbol=BTCUSDT&limit=1001",
    )
    .await;
    assert_eq!(code, -1130);
}

// ---- 7. hourly interest ----

#[tokio::test]
async fn interest_is_charged_at_every_whole_hour_of_the_servers_clock() {
    let (server, _dir) = start_before_the_hour().await;
    let key = server.create_key(&[]).await;
    deposit(&server, &key, "USDT", "100000", None).await;
    let mut ws = subscribed(&server, &key, None).await;
    ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=1&type=BORROW",
    )
    .await;
    next(&mut ws).await;
    next(&mut ws).await;
    // No charge at the moment of borrowing, none before the hour.
    server.advance_ms(599_000);
    ws.expect_no_events().await;

    // Past the whole hour: one hour of 0.00000417 per hour on 1 BTC.
    server.advance_ms(2_000);
    let now = server.now_ms();
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "INTEREST",
        "0.00000000",
        "0.00000417",
    );
    ws.expect_no_events().await;

    // A whole hour later, one more.
    server.advance_ms(HOUR_MS);
    let now = server.now_ms();
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "INTEREST",
        "0.00000000",
        "0.00000417",
    );
    // Two hours at once: one charge for both.
    server.advance_ms(2 * HOUR_MS);
    let now = server.now_ms();
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "INTEREST",
        "0.00000000",
        "0.00000834",
    );
    ws.expect_no_events().await;

    let account = ok(&server, &key, Method::GET, "/sapi/v1/margin/account", "").await;
    let btc = asset_row(&account["userAssets"], "BTC");
    assert_fields(
        btc,
        json!({"borrowed": "1.00000000", "interest": "0.00001668", "free": "1.00000000",
            "netAsset": "-0.00001668"}),
    );
    // A repayment pays the interest first.
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=BTC&amount=0.5&type=REPAY",
    )
    .await;
    assert_position(
        &next(&mut ws).await,
        now,
        &[("BTC", "0.50000000", "0.00000000")],
    );
    assert_liability(
        &next(&mut ws).await,
        now,
        "BTC",
        "REPAY",
        "0.49998332",
        "0.00001668",
    );
    ws.expect_no_events().await;
}

#[tokio::test]
async fn an_isolated_pairs_loans_and_interest_send_no_risk_events() {
    let (server, _dir) = start_before_the_hour().await;
    let key = server.create_key(&["BTCUSDT"]).await;
    deposit(&server, &key, "USDT", "1000", Some("BTCUSDT")).await;
    let (cross_token, _) = server.token(&key, None, None).await;
    let (isolated_token, _) = server.token(&key, Some("BTCUSDT"), None).await;
    let mut ws = server.ws().await;
    ws.subscribe(&cross_token).await;
    ws.subscribe(&isolated_token).await;
    let isolated = async |ws: &mut WsClient| {
        let frame = ws.next_event().await;
        assert_eq!(
            frame["subscriptionId"], 1,
            "not on the isolated stream: {frame}"
        );
        frame["event"].clone()
    };

    // Isolated margin at 5x: debts may reach 4 × 1000.
    let max = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/maxBorrowable",
        "asset=USDT&isolatedSymbol=BTCUSDT",
    )
    .await;
    assert_eq!(max["amount"], "4000.00000000", "{max}");

    // A borrow: the position, and no USER_LIABILITY_CHANGE (a cross account's risk event).
    let now = server.now_ms();
    ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=USDT&isIsolated=TRUE&symbol=BTCUSDT&amount=100&type=BORROW",
    )
    .await;
    assert_position(
        &isolated(&mut ws).await,
        now,
        &[("USDT", "1100.00000000", "0.00000000")],
    );
    ws.expect_no_events().await;

    // MARGIN_BUY: 0.03 at 60030 cost 1800.9, 700.9 borrowed; the answer says so, the stream
    // carries the order's reports and positions only.
    let answer = ok(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/order",
        "symbol=BTCUSDT&isIsolated=TRUE&side=BUY&type=MARKET&quantity=0.03\
         &sideEffectType=MARGIN_BUY",
    )
    .await;
    assert_fields(
        &answer,
        json!({"isIsolated": true, "status": "FILLED", "marginBuyBorrowAmount": "700.90000000",
            "marginBuyBorrowAsset": "USDT"}),
    );
    assert_fields(
        &isolated(&mut ws).await,
        json!({"e": "executionReport", "x": "NEW"}),
    );
    assert_position(
        &isolated(&mut ws).await,
        now,
        &[("USDT", "0.00000000", "1800.90000000")],
    );
    assert_fields(
        &isolated(&mut ws).await,
        json!({"e": "executionReport", "x": "TRADE"}),
    );
    assert_position(
        &isolated(&mut ws).await,
        now,
        &[
            ("BTC", "0.02997000", "0.00000000"),
            ("USDT", "0.00000000", "0.00000000"),
        ],
    );
    ws.expect_no_events().await;

    // The whole hour passes: interest is charged, silently.
    server.advance_ms(601_000);
    ws.expect_no_events().await;
    let view = ok(
        &server,
        &key,
        Method::GET,
        "/sapi/v1/margin/isolated/account",
        "symbols=BTCUSDT",
    )
    .await;
    assert_fields(
        &view["assets"][0]["quoteAsset"],
        json!({"borrowed": "800.90000000", "interest": "0.00333975"}),
    );
    let (code, _) = refused(
        &server,
        &key,
        Method::POST,
        "/sapi/v1/margin/borrow-repay",
        "asset=USDT&isIsolated=TRUE&symbol=BTCUSDT&amount=900&type=REPAY",
    )
    .await;
    assert_eq!(code, -3015);
}
