//! Demo mode on a real server and the manual clock: the demo key (made once, found again on
//! restart), its funded accounts, and the background trader's activity on a subscription, the
//! same for the same seed.

mod common;

use common::{Key, TestServer, WAIT};
use serde_json::Value;
use std::collections::BTreeSet;
use userstream_server::Config;

fn demo(seed: u64) -> impl FnOnce(&mut Config) {
    move |config| {
        config.sim.demo.enabled = true;
        config.sim.demo.seed = seed;
        // Nothing but the demo's own clockwork acts: one seed, one run.
        config.sim.hourly_interest = false;
        // The clock jumps minutes at a time; keep the heartbeat from ending the test's socket.
        config.ws.ping_interval_ms = 3_600_000;
        config.ws.pong_timeout_ms = 7_200_000;
    }
}

fn demo_key(server: &TestServer) -> Key {
    let demo = server.server.demo.clone().expect("demo mode is on");
    Key {
        api_key: demo.api_key,
        secret: demo.secret_key,
        uid: demo.uid,
    }
}

fn free(account: &Value, asset: &str) -> String {
    account["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|held| held["asset"] == asset)
        .map(|held| held["free"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn assert_funded(server: &TestServer, key: &Key) {
    let (status, cross) = server
        .signed(key, reqwest::Method::GET, "/sapi/v1/margin/account", "")
        .await;
    assert_eq!(status, 200, "{cross}");
    assert_eq!(free(&cross, "USDT"), "200000.00000000", "{cross}");
    assert_eq!(free(&cross, "BTC"), "2.00000000", "{cross}");
    let (status, isolated) = server
        .signed(
            key,
            reqwest::Method::GET,
            "/sapi/v1/margin/isolated/account",
            "symbols=BTCUSDT,ETHUSDT",
        )
        .await;
    assert_eq!(status, 200, "{isolated}");
    let pairs = isolated["assets"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{isolated}");
    for pair in pairs {
        assert_eq!(pair["quoteAsset"]["free"], "20000.00000000", "{pair}");
        assert_ne!(pair["baseAsset"]["free"], "0.00000000", "{pair}");
    }
}

#[tokio::test]
async fn the_demo_key_is_made_once_and_its_accounts_are_funded_at_every_start() {
    let server = TestServer::start_with(demo(1)).await;
    let key = demo_key(&server);
    assert_funded(&server, &key).await;
    // The trader has not acted yet (the clock has not moved); now it does.
    server.advance_ms(30_000);

    let server = server.restart().await;
    let again = demo_key(&server);
    assert_eq!(again.api_key, key.api_key);
    assert_eq!(again.secret, key.secret);
    assert_eq!(again.uid, key.uid);
    // Balances live in the simulator's memory: funded again from scratch.
    assert_funded(&server, &again).await;
    let keys = server.admin_get("/admin/v1/keys").await;
    let demo_keys = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["label"] == "demo")
        .count();
    assert_eq!(demo_keys, 1, "{keys}");
}

/// Subscribes to the demo's cross account, lets `seconds` pass, and reads the first `count`
/// executionReports as (execution type, order id, order type).
async fn reports(server: &TestServer, seconds: u64, count: usize) -> Vec<(String, i64, String)> {
    let key = demo_key(server);
    let mut ws = server.subscribed(&key).await;
    server.advance_ms(seconds * 1_000);
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < count {
        assert!(tokio::time::Instant::now() < deadline, "only {seen:?}");
        let frame = ws.next_event().await;
        let event = &frame["event"];
        if event["e"] == "executionReport" {
            seen.push((
                event["x"].as_str().unwrap().to_owned(),
                event["i"].as_i64().unwrap(),
                event["o"].as_str().unwrap().to_owned(),
            ));
        }
    }
    seen
}

#[tokio::test]
async fn the_trader_places_orders_that_fill_and_end_otherwise() {
    let server = TestServer::start_with(demo(5)).await;
    let seen = reports(&server, 600, 60).await;
    let kinds: BTreeSet<&str> = seen.iter().map(|(x, _, _)| x.as_str()).collect();
    assert!(kinds.contains("NEW"), "{kinds:?}");
    assert!(kinds.contains("TRADE"), "{kinds:?}");
    assert!(
        kinds.contains("CANCELED") || kinds.contains("EXPIRED"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_run() {
    let (a, b, c) = (
        TestServer::start_with(demo(9)).await,
        TestServer::start_with(demo(9)).await,
        TestServer::start_with(demo(10)).await,
    );
    let first = reports(&a, 300, 40).await;
    assert_eq!(first, reports(&b, 300, 40).await, "one seed, two runs");
    assert_ne!(
        first,
        reports(&c, 300, 40).await,
        "seeds 9 and 10 ran alike"
    );
}

#[tokio::test]
async fn now_and_then_a_margin_call_comes_and_goes() {
    let server = TestServer::start_with(|config| {
        demo(3)(config);
        // Twenty minutes of trading arrive at once.
        config.ws.outbox_bytes = 64 * 1024 * 1024;
    })
    .await;
    let key = demo_key(&server);
    let mut ws = server.subscribed(&key).await;
    server.advance_ms(20 * 60 * 1_000);
    let mut statuses = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while statuses.last().is_none_or(|status| status != "EXCESSIVE")
        || !statuses.iter().any(|status| status == "MARGIN_CALL")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "statuses so far: {statuses:?}"
        );
        let frame = ws.next_event().await;
        if frame["event"]["e"] == "MARGIN_LEVEL_STATUS_CHANGE" {
            statuses.push(frame["event"]["s"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("NORMAL"),
        "{statuses:?}"
    );
}
