//! The margin exchange simulator over real sockets: orders placed with signed REST requests
//! exactly as a Binance client sends them, and the events they make arriving on a real
//! listenToken subscription, in JSON and in SBE; the admin controls; Binance's refusals.

mod common;

use common::{Key, TestServer, WsClient};
use reqwest::Method;
use serde_json::{Value, json};
use userstream_protocol::events::{Event, ExecutionType, OrderStatus};
use userstream_protocol::sbe::events::{DecodedEvent, decode_event};

const SBE_5: &str = "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5";

/// A server with BTCUSDT at 60000, a key, and 10000 USDT in its cross account.
async fn funded() -> (TestServer, Key) {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    server.set_price("BTCUSDT", "60000").await;
    let (status, answer) = server
        .admin_post(
            &format!("/admin/v1/accounts/{}/deposits", key.uid),
            json!({"asset": "USDT", "amount": "10000"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    (server, key)
}

async fn subscribed(server: &TestServer, key: &Key, query: &str) -> WsClient {
    let (token, _) = server.token(key, None, None).await;
    let mut ws = server.ws_with(query).await;
    if query.is_empty() {
        ws.subscribe(&token).await;
    } else {
        let request = json!({"id": "s", "method": "userDataStream.subscribe.listenToken",
            "params": {"listenToken": token}});
        ws.send_text(&request.to_string()).await;
        ws.next_binary().await;
    }
    ws
}

/// The next event's body.
async fn next(ws: &mut WsClient) -> Value {
    ws.next_event().await["event"].clone()
}

/// The balances of an `outboundAccountPosition` event, asset → (free, locked).
fn balances(event: &Value) -> Vec<(String, String, String)> {
    assert_eq!(event["e"], "outboundAccountPosition", "{event}");
    event["B"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["a"].as_str().unwrap().to_owned(),
                b["f"].as_str().unwrap().to_owned(),
                b["l"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_signed_limit_order_rests_then_fills_and_its_events_arrive_in_json() {
    let (server, key) = funded().await;
    let mut ws = subscribed(&server, &key, "").await;

    let (status, answer) = server
        .signed(
            &key,
            Method::POST,
            "/sapi/v1/margin/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=59000&newClientOrderId=bot-1",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "NEW", "{answer}");
    assert_eq!(answer["clientOrderId"], "bot-1");
    assert_eq!(answer["isIsolated"], false);
    assert_eq!(answer["fills"], json!([]));
    let order_id = answer["orderId"].as_i64().unwrap();

    let new = next(&mut ws).await;
    assert_eq!(new["e"], "executionReport");
    assert_eq!(new["s"], "BTCUSDT");
    assert_eq!(new["c"], "bot-1");
    assert_eq!(new["S"], "BUY");
    assert_eq!(new["o"], "LIMIT");
    assert_eq!(new["f"], "GTC");
    assert_eq!(new["x"], "NEW");
    assert_eq!(new["X"], "NEW");
    assert_eq!(new["i"], order_id);
    assert_eq!(new["z"], "0.00000000");
    let locked = next(&mut ws).await;
    assert!(
        balances(&locked).contains(&("USDT".into(), "9410.00000000".into(), "590.00000000".into())),
        "{locked}"
    );

    // The market falls through the limit: the order fills as a maker, at its price.
    server.set_price("BTCUSDT", "58900").await;
    let trade = next(&mut ws).await;
    assert_eq!(trade["e"], "executionReport");
    assert_eq!(trade["x"], "TRADE");
    assert_eq!(trade["X"], "FILLED");
    assert_eq!(trade["i"], order_id);
    assert_eq!(trade["l"], "0.01000000");
    assert_eq!(trade["z"], "0.01000000");
    assert_eq!(trade["L"], "59000.00000000");
    assert_eq!(trade["m"], true);
    assert_eq!(trade["N"], "BTC");
    assert_eq!(trade["n"], "0.00001000");
    assert!(trade["t"].as_i64().unwrap() >= 0);
    let after = next(&mut ws).await;
    let after = balances(&after);

    // What the stream said is what the account says.
    let (status, account) = server
        .signed(&key, Method::GET, "/sapi/v1/margin/account", "")
        .await;
    assert_eq!(status, 200, "{account}");
    for (asset, free, locked) in &after {
        let row = account["userAssets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["asset"] == asset.as_str())
            .unwrap_or_else(|| panic!("{asset} missing from {account}"));
        assert_eq!(row["free"], free.as_str(), "{account}");
        assert_eq!(row["locked"], locked.as_str(), "{account}");
    }
    assert!(after.contains(&("BTC".into(), "0.00999000".into(), "0.00000000".into())));

    // The order and its trade, as the query endpoints tell them.
    let (status, order) = server
        .signed(
            &key,
            Method::GET,
            "/sapi/v1/margin/order",
            &format!("symbol=BTCUSDT&orderId={order_id}"),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "FILLED");
    assert_eq!(order["executedQty"], "0.01000000");
    let (status, trades) = server
        .signed(
            &key,
            Method::GET,
            "/sapi/v1/margin/myTrades",
            "symbol=BTCUSDT",
        )
        .await;
    assert_eq!(status, 200, "{trades}");
    assert_eq!(trades.as_array().unwrap().len(), 1, "{trades}");
    assert_eq!(trades[0]["id"], trade["t"]);
    assert_eq!(trades[0]["isMaker"], true);
}

#[tokio::test]
async fn a_market_order_fills_at_once_and_its_events_arrive_in_sbe() {
    let (server, key) = funded().await;
    let mut ws = subscribed(&server, &key, SBE_5).await;
    let (status, answer) = server
        .signed(
            &key,
            Method::POST,
            "/sapi/v1/margin/order",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001",
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "FILLED", "{answer}");
    let fills = answer["fills"].as_array().unwrap();
    assert!(!fills.is_empty(), "{answer}");

    let mut reports = Vec::new();
    let mut positions = 0;
    while reports
        .last()
        .map(|r: &userstream_protocol::events::ExecutionReport| r.order_status)
        != Some(OrderStatus::Filled)
    {
        match decode_event(&ws.next_binary().await).unwrap() {
            DecodedEvent::Event {
                event: Event::ExecutionReport(report),
                subscription_id,
            } => {
                assert_eq!(subscription_id, Some(0));
                reports.push(report);
            }
            DecodedEvent::Event {
                event: Event::OutboundAccountPosition(_),
                ..
            } => positions += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let trades: Vec<_> = reports
        .iter()
        .filter(|r| r.execution_type == ExecutionType::Trade)
        .collect();
    assert_eq!(trades.len(), fills.len());
    assert_eq!(
        trades.last().unwrap().cumulative_filled_quantity.as_str(),
        "0.00100000"
    );
    assert!(trades.iter().all(|r| !r.is_maker));
    assert!(positions >= trades.len() - 1);
}

#[tokio::test]
async fn refusals_carry_binance_codes() {
    let (server, key) = funded().await;
    let order = |params: &'static str| {
        let server = &server;
        let key = &key;
        async move {
            server
                .signed(key, Method::POST, "/sapi/v1/margin/order", params)
                .await
        }
    };
    let cases: [(&str, i64); 9] = [
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=10", -2010),
        ("symbol=BTCUSDT&side=HOLD&type=MARKET&quantity=0.001", -1117),
        ("symbol=BTCUSDT&side=BUY&type=ICEBERG&quantity=0.001", -1116),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=DAY&quantity=0.001&price=1",
            -1115,
        ),
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1e-3", -1100),
        ("symbol=NOPE&side=BUY&type=MARKET&quantity=0.001", -1121),
        ("symbol=BTCUSDT&side=BUY&type=MARKET", -1102),
        (
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=59000.001",
            -1013,
        ),
        (
            "symbol=BTCUSDT&isIsolated=TRUE&side=BUY&type=MARKET&quantity=0.001",
            -3003,
        ),
    ];
    for (params, code) in cases {
        let (status, answer) = order(params).await;
        assert_eq!(status, 400, "{params}: {answer}");
        assert_eq!(answer["code"], code, "{params}: {answer}");
    }
    let (status, answer) = server
        .signed(
            &key,
            Method::DELETE,
            "/sapi/v1/margin/order",
            "symbol=BTCUSDT&orderId=424242",
        )
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (400, json!(-2011)),
        "{answer}"
    );
    let (status, answer) = server
        .signed(
            &key,
            Method::GET,
            "/sapi/v1/margin/order",
            "symbol=BTCUSDT&orderId=424242",
        )
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (400, json!(-2013)),
        "{answer}"
    );
    // Unsigned: the signature is mandatory on TRADE and USER_DATA endpoints.
    let response = server
        .http
        .get(server.url("/sapi/v1/margin/account"))
        .header("X-MBX-APIKEY", &key.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["code"], -1102, "{answer}");
}

#[tokio::test]
async fn admin_controls_cancel_and_force_fills() {
    let (server, key) = funded().await;
    let mut ws = subscribed(&server, &key, "").await;
    let place = json!({"uid": key.uid, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
        "timeInForce": "GTC", "quantity": "0.02", "price": "50000"});
    let (status, placed) = server.admin_post("/admin/v1/orders", place.clone()).await;
    assert_eq!(status, 200, "{placed}");
    let order_id = placed["orderId"].as_i64().unwrap();
    assert_eq!(next(&mut ws).await["X"], "NEW");
    next(&mut ws).await;

    // Half of it, at a price the market never reached.
    let fill = json!({"uid": key.uid, "symbol": "BTCUSDT", "orderId": order_id,
        "quantity": "0.01"});
    let (status, filled) = server.admin_post("/admin/v1/orders/fill", fill).await;
    assert_eq!(status, 200, "{filled}");
    assert_eq!(filled["status"], "PARTIALLY_FILLED", "{filled}");
    let trade = next(&mut ws).await;
    assert_eq!(
        (trade["x"].clone(), trade["X"].clone()),
        (json!("TRADE"), json!("PARTIALLY_FILLED"))
    );
    assert_eq!(trade["l"], "0.01000000");
    next(&mut ws).await;

    let listed = server
        .admin_get(&format!("/admin/v1/orders?uid={}&symbol=BTCUSDT", key.uid))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    let cancel = json!({"uid": key.uid, "symbol": "BTCUSDT", "orderId": order_id});
    let (status, canceled) = server.admin_post("/admin/v1/orders/cancel", cancel).await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "CANCELED");
    let report = next(&mut ws).await;
    assert_eq!(
        (report["x"].clone(), report["X"].clone()),
        (json!("CANCELED"), json!("CANCELED"))
    );
    assert_eq!(report["z"], "0.01000000");

    let account = server
        .admin_get(&format!("/admin/v1/accounts/{}", key.uid))
        .await;
    let usdt = account["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset"] == "USDT")
        .unwrap();
    assert_eq!(usdt["locked"], "0.00000000", "{account}");
    assert_eq!(usdt["free"], "9500.00000000", "{account}");
}

#[tokio::test]
async fn exchange_info_lists_the_filters_the_simulator_enforces() {
    let server = TestServer::start().await;
    let info: Value = server
        .http
        .get(server.url("/api/v3/exchangeInfo?symbol=BTCUSDT"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let filters = info["symbols"][0]["filters"].as_array().unwrap();
    let types: Vec<_> = filters.iter().map(|f| f["filterType"].clone()).collect();
    assert_eq!(
        types,
        vec![
            json!("PRICE_FILTER"),
            json!("LOT_SIZE"),
            json!("NOTIONAL"),
            json!("MAX_NUM_ORDERS")
        ]
    );
    assert_eq!(filters[3]["maxNumOrders"], 200);
    assert_eq!(filters[0]["tickSize"], "0.01000000", "{info}");
}

#[tokio::test]
async fn a_server_without_the_simulator_has_no_margin_trading() {
    let server = TestServer::start_with(|config| config.sim.enabled = false).await;
    let key = server.create_key(&[]).await;
    let (status, answer) = server
        .signed(&key, Method::GET, "/sapi/v1/margin/account", "")
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = server
        .admin_post(
            "/admin/v1/prices",
            json!({"symbol": "BTCUSDT", "price": "1"}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
}

#[tokio::test]
async fn hand_published_events_reach_a_simulated_account_but_do_not_change_it() {
    let (server, key) = funded().await;
    let mut ws = subscribed(&server, &key, "").await;
    let subscribers = server
        .publish(key.uid, None, common::balance_update("1.00000000"))
        .await;
    assert_eq!(subscribers, 1);
    assert_eq!(next(&mut ws).await["e"], "balanceUpdate");
    // The simulator's books are its own: the published BTC is not in the account.
    let (status, account) = server
        .signed(&key, Method::GET, "/sapi/v1/margin/account", "")
        .await;
    assert_eq!(status, 200, "{account}");
    let btc = account["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["asset"] == "BTC");
    assert!(
        btc.is_none_or(|btc| btc["free"] == "0.00000000"),
        "{account}"
    );
    // And a simulated event still follows on the same stream.
    let (status, answer) = server
        .admin_post(
            &format!("/admin/v1/accounts/{}/deposits", key.uid),
            json!({"asset": "BTC", "amount": "0.5"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let update = next(&mut ws).await;
    assert_eq!(
        (update["e"].clone(), update["d"].clone()),
        (json!("balanceUpdate"), json!("0.50000000"))
    );
    assert!(balances(&next(&mut ws).await).contains(&(
        "BTC".into(),
        "0.50000000".into(),
        "0.00000000".into()
    )));
}
