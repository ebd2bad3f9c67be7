//! Prices that move by themselves: the seeded walk and a recorded file replayed, on the
//! server's injected clock (no real waiting), and the same seed giving the same prices.

mod common;

use common::{TestServer, WAIT};
use serde_json::{Value, json};
use std::time::Duration;
use userstream_server::config::{PriceSource, ReplayFile};

/// The admin API's prices, symbol → price text.
async fn prices(server: &TestServer) -> Vec<(String, String)> {
    let answer = server.admin_get("/admin/v1/prices").await;
    answer
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["symbol"].as_str().unwrap().to_owned(),
                p["price"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits (briefly, in real time) until the feed task has acted on the clock's latest advance.
async fn prices_after(server: &TestServer, before: &[(String, String)]) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = prices(server).await;
        if now != before {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "prices never moved");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn walking(seed: u64) -> TestServer {
    TestServer::start_with(|config| {
        config.sim.prices = PriceSource::Walk;
        config.sim.seed = seed;
        config.sim.walk_interval_ms = 1_000;
    })
    .await
}

#[tokio::test]
async fn the_same_seed_walks_the_same_prices_and_another_does_not() {
    let (a, b, c) = (walking(7).await, walking(7).await, walking(8).await);
    let start = prices(&a).await;
    assert_eq!(start, prices(&b).await);
    let (mut last_a, mut last_b, mut last_c) = (start.clone(), start.clone(), start);
    let mut differ = false;
    for _ in 0..5 {
        for server in [&a, &b, &c] {
            server.advance_ms(1_000);
        }
        last_a = prices_after(&a, &last_a).await;
        last_b = prices_after(&b, &last_b).await;
        last_c = prices_after(&c, &last_c).await;
        assert_eq!(last_a, last_b, "one seed, two walks");
        differ |= last_a != last_c;
    }
    assert!(differ, "seeds 7 and 8 walked the same prices");
}

#[tokio::test]
async fn a_walking_price_fills_a_resting_order_and_the_stream_says_so() {
    let server = walking(3).await;
    let key = server.create_key(&[]).await;
    server
        .admin_post(
            &format!("/admin/v1/accounts/{}/deposits", key.uid),
            json!({"asset": "USDT", "amount": "100000"}),
        )
        .await;
    let mut ws = server.subscribed(&key).await;
    // A buy just under the market and a sell just over it: a walk in either direction fills one.
    let start: Value = prices(&server)
        .await
        .into_iter()
        .find(|(s, _)| s == "DOGEUSDT")
        .map(|(_, p)| json!(p))
        .unwrap();
    let start: f64 = start.as_str().unwrap().parse().unwrap();
    let below = format!("{:.5}", start * 0.9995);
    let above = format!("{:.5}", start * 1.0005);
    for (side, price) in [("BUY", &below), ("SELL", &above)] {
        if side == "SELL" {
            server
                .admin_post(
                    &format!("/admin/v1/accounts/{}/deposits", key.uid),
                    json!({"asset": "DOGE", "amount": "1000"}),
                )
                .await;
        }
        let (status, answer) = server
            .admin_post(
                "/admin/v1/orders",
                json!({"uid": key.uid, "symbol": "DOGEUSDT", "side": side, "type": "LIMIT",
                    "timeInForce": "GTC", "quantity": "100", "price": price}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // Step the walk until one of the two orders is no longer open.
    let open = || async {
        server
            .admin_get(&format!("/admin/v1/orders?uid={}", key.uid))
            .await
            .as_array()
            .unwrap()
            .len()
    };
    let mut seen = prices(&server).await;
    let mut steps = 0;
    while open().await == 2 {
        steps += 1;
        assert!(steps < 500, "the walk never reached either order");
        server.advance_ms(1_000);
        seen = prices_after(&server, &seen).await;
    }
    // Its fill is on the stream, after the deposits' and the orders' own events.
    for _ in 0..20 {
        let frame = ws.next_event().await;
        let event = &frame["event"];
        if event["e"] == "executionReport" && event["x"] == "TRADE" {
            assert_eq!(event["s"], "DOGEUSDT");
            assert_eq!(event["m"], true, "a resting order fills as maker: {event}");
            return;
        }
    }
    panic!("no TRADE report on the stream");
}

#[tokio::test]
async fn a_recorded_file_replays_at_its_pace_on_the_servers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("BTCUSDT-trades.csv");
    // Binance's trades dump: id,price,qty,quote_qty,time(ms),is_buyer_maker,is_best_match.
    std::fs::write(
        &file,
        "1,91000.00,0.1,9100.0,1735689600000,true,true\n\
         2,91500.50,0.1,9150.05,1735689601000,false,true\n\
         3,90000.25,0.1,9000.025,1735689603000,true,true\n",
    )
    .unwrap();
    let server = TestServer::start_with(|config| {
        config.sim.prices = PriceSource::Replay;
        config.sim.replay = vec![ReplayFile {
            symbol: "BTCUSDT".into(),
            file: file.clone(),
        }];
    })
    .await;
    let btc = |prices: &[(String, String)]| {
        prices
            .iter()
            .find(|(s, _)| s == "BTCUSDT")
            .map(|(_, p)| p.clone())
            .unwrap()
    };
    // The first point plays at once.
    let deadline = tokio::time::Instant::now() + WAIT;
    while btc(&prices(&server).await) != "91000.00" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first point never played"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut seen = prices(&server).await;
    server.advance_ms(1_000);
    seen = prices_after(&server, &seen).await;
    assert_eq!(btc(&seen), "91500.50");
    // Two seconds pass between the second and the third point: one is not enough.
    server.advance_ms(1_000);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(btc(&prices(&server).await), "91500.50");
    server.advance_ms(1_000);
    seen = prices_after(&server, &seen).await;
    assert_eq!(btc(&seen), "90000.25");
}

#[tokio::test]
async fn a_bad_recording_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "1,not-a-price,0.1,1,1735689600000,true,true\n").unwrap();
    let mut config = common::test_config(dir.path().join("data"));
    config.sim.prices = PriceSource::Replay;
    config.sim.replay = vec![ReplayFile {
        symbol: "BTCUSDT".into(),
        file,
    }];
    let error = userstream_server::Server::bind(
        config,
        std::sync::Arc::new(userstream_server::ManualClock::starting_now()),
    )
    .await
    .err()
    .expect("a bad recording is refused");
    let message = error.to_string();
    assert!(
        message.contains("bad.csv") && message.contains("line 1"),
        "{message}"
    );
}
