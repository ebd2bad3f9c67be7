//! Subscribing with listen tokens: delivery, isolation, extension, expiry, unsubscribe,
//! revocation and limits, over real sockets with a manual clock.

mod common;

use common::{TestServer, balance_update};
use serde_json::{Value, json};

fn delta(frame: &Value) -> &str {
    frame["event"]["d"]
        .as_str()
        .unwrap_or_else(|| panic!("not a balanceUpdate frame: {frame}"))
}

#[tokio::test]
async fn subscribe_then_receive_events_in_binance_shape() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let (token, expiration_ms) = server.token(&key, None, None).await;
    let mut ws = server.ws().await;
    let result = ws.subscribe(&token).await;
    assert_eq!(
        result,
        json!({"subscriptionId": 0, "expirationTime": expiration_ms * 1000})
    );
    let status = ws.call("session.status", json!({})).await;
    assert_eq!(status["result"]["userDataStream"], json!(true));

    assert_eq!(
        server
            .publish(key.uid, None, balance_update("100.00000000"))
            .await,
        1
    );
    let frame = ws.next_event().await;
    assert_eq!(
        frame,
        json!({"subscriptionId": 0, "event": {"e":"balanceUpdate","E":1573200697110_i64,"a":"BTC","d":"100.00000000","T":1573200697068_i64}})
    );
    let subscriptions = ws.call("session.subscriptions", json!({})).await;
    assert_eq!(
        subscriptions["result"],
        json!([{"subscriptionId": 0, "expirationTime": expiration_ms * 1000}])
    );
}

#[tokio::test]
async fn events_reach_only_their_account_on_every_connection() {
    let server = TestServer::start().await;
    let alice = server.create_key(&["BNBUSDT", "ETHBTC"]).await;
    let bob = server.create_key(&[]).await;
    let mut alice_ws = server.ws().await;
    let mut alice_second = server.ws().await;
    let mut bob_ws = server.ws().await;
    let cross = alice_ws
        .subscribe(&server.token(&alice, None, None).await.0)
        .await;
    let bnb = alice_ws
        .subscribe(&server.token(&alice, Some("BNBUSDT"), None).await.0)
        .await;
    let eth = alice_ws
        .subscribe(&server.token(&alice, Some("ETHBTC"), None).await.0)
        .await;
    assert_eq!(
        (
            cross["subscriptionId"].clone(),
            bnb["subscriptionId"].clone(),
            eth["subscriptionId"].clone()
        ),
        (json!(0), json!(1), json!(2))
    );
    alice_second
        .subscribe(&server.token(&alice, Some("BNBUSDT"), None).await.0)
        .await;
    bob_ws
        .subscribe(&server.token(&bob, None, None).await.0)
        .await;

    assert_eq!(
        server
            .publish(alice.uid, Some("BNBUSDT"), balance_update("1"))
            .await,
        2
    );
    assert_eq!(
        server.publish(alice.uid, None, balance_update("2")).await,
        1
    );
    assert_eq!(server.publish(bob.uid, None, balance_update("3")).await, 1);
    assert_eq!(
        server
            .publish(alice.uid, Some("ETHBTC"), balance_update("4"))
            .await,
        1
    );

    let got: Vec<(Value, String)> = {
        let mut got = Vec::new();
        for _ in 0..3 {
            let frame = alice_ws.next_event().await;
            got.push((frame["subscriptionId"].clone(), delta(&frame).to_owned()));
        }
        got
    };
    assert_eq!(
        got,
        vec![
            (json!(1), "1".into()),
            (json!(0), "2".into()),
            (json!(2), "4".into())
        ]
    );
    let second = alice_second.next_event().await;
    assert_eq!(
        (second["subscriptionId"].clone(), delta(&second)),
        (json!(0), "1")
    );
    let bobs = bob_ws.next_event().await;
    assert_eq!(delta(&bobs), "3");
    alice_ws.expect_no_events().await;
    alice_second.expect_no_events().await;
    bob_ws.expect_no_events().await;
}

#[tokio::test]
async fn resubscribing_extends_with_the_same_id_and_no_loss_or_duplicate() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.ws().await;
    let (first, _) = server.token(&key, None, Some(10_000)).await;
    assert_eq!(ws.subscribe(&first).await["subscriptionId"], json!(0));
    let mut sent = 0;
    for round in 0..5 {
        for _ in 0..3 {
            sent += 1;
            server
                .publish(key.uid, None, balance_update(&sent.to_string()))
                .await;
        }
        server.advance_ms(9_000);
        let (fresh, expiration_ms) = server.token(&key, None, Some(10_000)).await;
        let result = ws.subscribe(&fresh).await;
        assert_eq!(
            result,
            json!({"subscriptionId": 0, "expirationTime": expiration_ms * 1000}),
            "round {round}"
        );
        sent += 1;
        server
            .publish(key.uid, None, balance_update(&sent.to_string()))
            .await;
    }
    let mut received = Vec::new();
    for _ in 0..sent {
        let frame = ws.next_event().await;
        assert_eq!(frame["subscriptionId"], json!(0));
        received.push(delta(&frame).parse::<u32>().unwrap());
    }
    assert_eq!(received, (1..=sent).collect::<Vec<_>>());
    ws.expect_no_events().await;
    let subscriptions = ws.call("session.subscriptions", json!({})).await;
    assert_eq!(subscriptions["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expiry_terminates_at_the_instant_and_stops_delivery() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.ws().await;
    let (token, expiration_ms) = server.token(&key, None, Some(5_000)).await;
    ws.subscribe(&token).await;
    server.advance_ms(4_999);
    assert_eq!(server.publish(key.uid, None, balance_update("1")).await, 1);
    assert_eq!(delta(&ws.next_event().await), "1");
    server.advance_ms(1);
    let terminated = ws.next_event().await;
    assert_eq!(
        terminated,
        json!({"subscriptionId": 0, "event": {"e": "eventStreamTerminated", "E": expiration_ms}})
    );
    assert_eq!(server.publish(key.uid, None, balance_update("2")).await, 0);
    ws.expect_no_events().await;
    let status = ws.call("session.status", json!({})).await;
    assert_eq!(status["result"]["userDataStream"], json!(false));
    // The expired token is refused; a fresh one gets the next id.
    let refused = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": token}),
        )
        .await;
    assert_eq!(
        refused["error"],
        json!({"code": -1209, "msg": "Invalid listen token."})
    );
    let (fresh, _) = server.token(&key, None, None).await;
    assert_eq!(ws.subscribe(&fresh).await["subscriptionId"], json!(1));
}

#[tokio::test]
async fn many_subscriptions_expire_in_one_sweep() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let (token, expiration_ms) = server.token(&key, None, Some(1_000)).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut ws = server.ws().await;
        ws.subscribe(&token).await;
        clients.push(ws);
    }
    server.advance_ms(1_000);
    for ws in &mut clients {
        let frame = ws.next_event().await;
        assert_eq!(
            frame["event"],
            json!({"e": "eventStreamTerminated", "E": expiration_ms})
        );
    }
    assert!(
        server
            .metrics()
            .await
            .contains("userstream_subscriptions_ended_total{reason=\"expired\"} 20")
    );
}

/// The server's own part of expiry lateness, per subscription: from the deadline to the
/// terminated frame being queued (here the clock jumps 3 ms past the deadline).
#[tokio::test]
async fn expiry_lateness_is_measured_per_subscription() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let (token, _) = server.token(&key, None, Some(1_000)).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = server.ws().await;
        ws.subscribe(&token).await;
        clients.push(ws);
    }
    server.advance_ms(1_003);
    for ws in &mut clients {
        assert_eq!(
            ws.next_event().await["event"]["e"],
            json!("eventStreamTerminated")
        );
    }
    let metrics = server.metrics().await;
    for line in [
        "userstream_expiry_lateness_seconds_bucket{le=\"0.002\"} 0",
        "userstream_expiry_lateness_seconds_bucket{le=\"0.005\"} 3",
        "userstream_expiry_lateness_seconds_count 3",
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
}

#[tokio::test]
async fn microsecond_sessions_get_microsecond_event_times() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.ws_with("timeUnit=MICROSECOND").await;
    let mut ms = server.ws().await;
    let (token, expiration_ms) = server.token(&key, None, Some(1_000)).await;
    assert_eq!(
        ws.subscribe(&token).await["expirationTime"],
        json!(expiration_ms * 1000)
    );
    ms.subscribe(&token).await;
    server.publish(key.uid, None, balance_update("5")).await;
    let frame = ws.next_event().await;
    assert_eq!(frame["event"]["E"], json!(1573200697110000_i64));
    assert_eq!(frame["event"]["T"], json!(1573200697068000_i64));
    assert_eq!(
        ms.next_event().await["event"]["E"],
        json!(1573200697110_i64)
    );
    server.advance_ms(1_000);
    assert_eq!(
        ws.next_event().await["event"]["E"],
        json!(expiration_ms * 1000)
    );
}

#[tokio::test]
async fn unsubscribe_one_or_all_sends_terminated_first() {
    let server = TestServer::start().await;
    let key = server.create_key(&["BNBUSDT", "ETHBTC"]).await;
    let mut ws = server.ws().await;
    for symbol in [None, Some("BNBUSDT"), Some("ETHBTC")] {
        ws.subscribe(&server.token(&key, symbol, None).await.0)
            .await;
    }
    let response = ws
        .call("userDataStream.unsubscribe", json!({"subscriptionId": 1}))
        .await;
    assert_eq!(response["result"], json!({}));
    let terminated = ws
        .events
        .pop_front()
        .expect("eventStreamTerminated before the response");
    assert_eq!(terminated["subscriptionId"], json!(1));
    assert_eq!(terminated["event"]["e"], json!("eventStreamTerminated"));
    assert_eq!(terminated["event"]["E"], json!(server.now_ms()));
    assert_eq!(
        server
            .publish(key.uid, Some("BNBUSDT"), balance_update("1"))
            .await,
        0
    );

    // Unknown ids are not an error.
    let unknown = ws
        .call("userDataStream.unsubscribe", json!({"subscriptionId": 99}))
        .await;
    assert_eq!(unknown["status"], json!(200));
    assert!(ws.events.is_empty());

    let all = ws.call("userDataStream.unsubscribe", json!({})).await;
    assert_eq!(all["status"], json!(200));
    let mut ended: Vec<Value> = ws
        .events
        .drain(..)
        .map(|frame| frame["subscriptionId"].clone())
        .collect();
    ended.sort_by_key(|id| id.as_u64());
    assert_eq!(ended, vec![json!(0), json!(2)]);
    assert_eq!(
        ws.call("session.subscriptions", json!({})).await["result"],
        json!([])
    );
}

#[tokio::test]
async fn invalid_tokens_are_refused_with_1209() {
    let server = TestServer::start().await;
    let elsewhere = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let foreign_key = elsewhere.create_key(&[]).await;
    let (foreign, _) = elsewhere.token(&foreign_key, None, None).await;
    let (valid, _) = server.token(&key, None, None).await;
    let mut tampered = valid.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let mut ws = server.ws().await;
    for token in [
        "garbage",
        "",
        "QUJD",
        &foreign,
        &tampered,
        &"A".repeat(5000),
    ] {
        let response = ws
            .call(
                "userDataStream.subscribe.listenToken",
                json!({"listenToken": token}),
            )
            .await;
        let code = response["error"]["code"].as_i64();
        assert!(
            code == Some(-1209) || (token.is_empty() && code == Some(-1102)),
            "{token}: {response}"
        );
    }
    let wrong_type = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": 5}),
        )
        .await;
    assert_eq!(wrong_type["error"]["code"], json!(-1102));
    assert_eq!(ws.subscribe(&valid).await["subscriptionId"], json!(0));
}

#[tokio::test]
async fn revoking_a_key_ends_its_live_subscriptions_and_tokens() {
    let server = TestServer::start().await;
    let key = server.create_key(&["BNBUSDT"]).await;
    let spare = server.create_key(&[]).await;
    let mut ws = server.ws().await;
    let (cross, _) = server.token(&key, None, None).await;
    let (isolated, _) = server.token(&key, Some("BNBUSDT"), None).await;
    ws.subscribe(&cross).await;
    ws.subscribe(&isolated).await;
    let mut bystander = server.ws().await;
    bystander
        .subscribe(&server.token(&spare, None, None).await.0)
        .await;

    let (status, body) = server.revoke(&key.api_key).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["revoked"].clone(),
            body["terminatedSubscriptions"].clone()
        ),
        (json!(true), json!(2))
    );
    let mut ended = [ws.next_event().await, ws.next_event().await];
    ended.sort_by_key(|frame| frame["subscriptionId"].as_u64());
    for (frame, id) in ended.iter().zip([0, 1]) {
        assert_eq!(frame["subscriptionId"], json!(id));
        assert_eq!(frame["event"]["e"], json!("eventStreamTerminated"));
    }
    let refused = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": cross}),
        )
        .await;
    assert_eq!(refused["error"]["code"], json!(-1209));
    assert_eq!(
        server.publish(spare.uid, None, balance_update("7")).await,
        1
    );
    assert_eq!(delta(&bystander.next_event().await), "7");
}

#[tokio::test]
async fn active_and_lifetime_subscription_limits() {
    let server = TestServer::start_with(|config| {
        config.ws.max_active_subscriptions = 2;
        config.ws.max_lifetime_subscriptions = 3;
    })
    .await;
    let key = server.create_key(&["BNBUSDT", "ETHBTC"]).await;
    let mut ws = server.subscribed(&key).await;
    ws.subscribe(&server.token(&key, Some("BNBUSDT"), None).await.0)
        .await;
    let (eth, _) = server.token(&key, Some("ETHBTC"), None).await;
    let third = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": eth}),
        )
        .await;
    assert_eq!(third["status"], json!(400));
    assert_eq!(third["error"]["code"], json!(-2043));
    // Extending an existing subscription is not a new one.
    ws.subscribe(&server.token(&key, None, None).await.0).await;
    ws.call("userDataStream.unsubscribe", json!({"subscriptionId": 0}))
        .await;
    assert_eq!(ws.subscribe(&eth).await["subscriptionId"], json!(2));
    ws.call("userDataStream.unsubscribe", json!({"subscriptionId": 2}))
        .await;
    let exhausted = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": eth}),
        )
        .await;
    assert_eq!(
        exhausted["error"],
        json!({"code": -2042, "msg": "Maximum subscription ID reached for this connection."})
    );
}

#[tokio::test]
async fn tokens_and_keys_survive_a_restart() {
    let server = TestServer::start().await;
    let key = server.create_key(&["BNBUSDT"]).await;
    let (token, _) = server.token(&key, Some("BNBUSDT"), None).await;
    let server = server.restart().await;
    let mut ws = server.ws().await;
    assert_eq!(ws.subscribe(&token).await["subscriptionId"], json!(0));
    assert_eq!(
        server
            .publish(key.uid, Some("BNBUSDT"), balance_update("9"))
            .await,
        1
    );
    assert_eq!(delta(&ws.next_event().await), "9");
    // The key still mints, for its isolated account too.
    server.token(&key, Some("BNBUSDT"), Some(1000)).await;
}

#[tokio::test]
async fn closing_a_connection_releases_its_subscriptions() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.subscribed(&key).await;
    ws.stream.close(None).await.unwrap();
    while ws.next_message().await.is_some() {}
    // The server notices the close asynchronously; wait (bounded) for the hub to let go.
    for _ in 0..200 {
        if server.publish(key.uid, None, balance_update("1")).await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("subscription outlived its connection");
}
