//! Stream positions and resume (our extension, `streamPositions=true`), embedded mode: over real
//! sockets with a manual clock. A connection that comes back gets exactly what it missed, or is
//! told why not; a connection that did not ask sees Binance's bytes.

mod common;

use common::{TestServer, WsClient, balance_update};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const POSITIONS: &str = "streamPositions=true";

fn delta(frame: &Value) -> &str {
    frame["event"]["d"]
        .as_str()
        .unwrap_or_else(|| panic!("not a balanceUpdate frame: {frame}"))
}

/// Publishes balance updates with deltas `first..first+count` (as "N.0").
async fn publish_run(server: &TestServer, uid: u64, first: u32, count: u32) {
    for n in first..first + count {
        server
            .publish(uid, None, balance_update(&format!("{n}.0")))
            .await;
    }
}

/// Reads `count` events and returns their deltas, checking that positions rise.
async fn read_run(ws: &mut WsClient, count: usize, last: &mut Value) -> Vec<String> {
    let mut deltas = Vec::new();
    for _ in 0..count {
        let frame = ws.next_event().await;
        let position = frame["position"].clone();
        assert_eq!(position["epoch"], last["epoch"], "{frame}");
        assert!(
            position["sequence"].as_u64() > last["sequence"].as_u64(),
            "positions must rise: {frame} after {last}"
        );
        *last = position;
        deltas.push(delta(&frame).to_owned());
    }
    deltas
}

/// A key, a token for its cross account, and the position a first subscription started at;
/// that connection is gone again.
async fn subscribed_once(server: &TestServer) -> (common::Key, String, Value) {
    let key = server.create_key(&[]).await;
    let token = server.token(&key, None, Some(3_600_000)).await.0;
    let mut ws = server.ws_with(POSITIONS).await;
    let point = ws.subscribe_from(&token, None).await["position"].clone();
    (key, token, point)
}

fn run(first: u32, count: u32) -> Vec<String> {
    (first..first + count).map(|n| format!("{n}.0")).collect()
}

#[tokio::test]
async fn connections_that_do_not_ask_see_binance_bytes() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let (token, expiration_ms) = server.token(&key, None, None).await;
    let mut ws = server.ws().await;
    let refused = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({"listenToken": token, "resumeFrom": {"epoch": "x", "sequence": 1}}),
        )
        .await;
    assert_eq!(refused["error"]["code"], -1103, "{refused}");
    let result = ws.subscribe(&token).await;
    assert_eq!(
        result,
        json!({"subscriptionId": 0, "expirationTime": expiration_ms * 1000})
    );
    server.publish(key.uid, None, balance_update("1.0")).await;
    let frame = loop {
        match ws.stream.next().await.unwrap().unwrap() {
            Message::Text(text) => break text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        frame,
        r#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"1.0","T":1573200697068}}"#
    );
}

#[tokio::test]
async fn the_handshake_checks_the_opt_in() {
    let server = TestServer::start().await;
    for query in [
        "streamPositions=maybe",
        "streamPositions=true&responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5",
    ] {
        let answer = server
            .http
            .get(server.url(&format!("/ws-api/v3?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{query}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], -1130, "{query}: {body}");
    }
}

#[tokio::test]
async fn a_connection_that_comes_back_gets_exactly_what_it_missed() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let other = server.create_key(&[]).await;
    let mut ws = server.ws_with(POSITIONS).await;
    let token = server.token(&key, None, None).await.0;
    let subscribed = ws.subscribe_from(&token, None).await;
    let mut last = subscribed["position"].clone();
    assert!(
        last["epoch"].as_str().is_some_and(|e| e.len() == 16),
        "{subscribed}"
    );
    assert!(subscribed.get("resume").is_none(), "{subscribed}");

    publish_run(&server, key.uid, 0, 3).await;
    // Another account's events take positions too, between this one's.
    publish_run(&server, other.uid, 100, 2).await;
    assert_eq!(read_run(&mut ws, 3, &mut last).await, run(0, 3));
    drop(ws);

    // Missed while away, with another account's events in between.
    publish_run(&server, key.uid, 3, 2).await;
    publish_run(&server, other.uid, 102, 1).await;
    publish_run(&server, key.uid, 5, 2).await;

    let mut ws = server.ws_with(POSITIONS).await;
    let resumed = ws.subscribe_from(&token, Some(&last)).await;
    assert_eq!(
        resumed["resume"],
        json!({"status": "REPLAYED", "events": 4}),
        "{resumed}"
    );
    assert_eq!(read_run(&mut ws, 4, &mut last).await, run(3, 4));
    // The result's position covers the replay (here nothing else was published since).
    assert_eq!(resumed["position"], last);
    // Then live, with no gap and no repeat.
    publish_run(&server, key.uid, 7, 1).await;
    assert_eq!(read_run(&mut ws, 1, &mut last).await, run(7, 1));
    ws.expect_no_events().await;

    // Nothing missed: an empty replay is a complete one.
    drop(ws);
    let mut ws = server.ws_with(POSITIONS).await;
    let resumed = ws.subscribe_from(&token, Some(&last)).await;
    assert_eq!(
        resumed["resume"],
        json!({"status": "REPLAYED", "events": 0})
    );
    ws.expect_no_events().await;

    assert_eq!(server.metric("userstream_resumes_total").await, 2);
    assert_eq!(
        server
            .metric("userstream_resume_replayed_events_total")
            .await,
        4
    );
    assert!(server.metric("userstream_history_events").await >= 11);
}

#[tokio::test]
async fn re_subscribing_to_extend_can_resume_too() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.ws_with(POSITIONS).await;
    let first = ws
        .subscribe_from(&server.token(&key, None, None).await.0, None)
        .await;
    let point = first["position"].clone();
    publish_run(&server, key.uid, 0, 2).await;
    let mut last = point.clone();
    assert_eq!(read_run(&mut ws, 2, &mut last).await, run(0, 2));
    server.advance_ms(1_000);
    let fresh = server.token(&key, None, None).await.0;
    let extended = ws.subscribe_from(&fresh, Some(&point)).await;
    assert_eq!(extended["subscriptionId"], first["subscriptionId"]);
    assert_eq!(
        extended["resume"],
        json!({"status": "REPLAYED", "events": 2})
    );
    let mut again = point;
    assert_eq!(read_run(&mut ws, 2, &mut again).await, run(0, 2));
    ws.expect_no_events().await;
}

#[tokio::test]
async fn a_resume_that_cannot_be_complete_says_why_and_goes_live() {
    let server = TestServer::start_with(|config| {
        config.history.max_events_per_account = 3;
        config.history.max_age_ms = 60_000;
    })
    .await;
    let (key, token, point) = subscribed_once(&server).await;
    let failure = |result: &Value| result["resume"]["reason"].as_str().unwrap().to_owned();

    // Four missed where three are kept.
    publish_run(&server, key.uid, 0, 4).await;
    let mut ws = server.ws_with(POSITIONS).await;
    let result = ws.subscribe_from(&token, Some(&point)).await;
    assert_eq!(failure(&result), "HISTORY_EXPIRED", "{result}");
    assert_eq!(result["resume"]["status"], "FAILED");
    assert!(
        result["resume"]["msg"]
            .as_str()
            .unwrap()
            .contains("no longer")
    );
    ws.expect_no_events().await;
    publish_run(&server, key.uid, 4, 1).await;
    let mut last = result["position"].clone();
    assert_eq!(read_run(&mut ws, 1, &mut last).await, run(4, 1));
    drop(ws);

    // From the last three: fine. Then the same, after the age limit.
    let mut ws = server.ws_with(POSITIONS).await;
    let mut from = result["position"].clone();
    from["sequence"] = json!(from["sequence"].as_u64().unwrap() - 1);
    let result = ws.subscribe_from(&token, Some(&from)).await;
    assert_eq!(result["resume"], json!({"status": "REPLAYED", "events": 2}));
    drop(ws);
    server.advance_ms(60_001);
    let mut ws = server.ws_with(POSITIONS).await;
    let result = ws.subscribe_from(&token, Some(&from)).await;
    assert_eq!(failure(&result), "HISTORY_EXPIRED", "{result}");
    ws.expect_no_events().await;

    // Another epoch; a point in the future.
    let mut other_epoch = from.clone();
    other_epoch["epoch"] = json!("0123456789abcdef");
    let result = ws.subscribe_from(&token, Some(&other_epoch)).await;
    assert_eq!(failure(&result), "EPOCH_CHANGED");
    let mut ahead = from.clone();
    ahead["sequence"] = json!(1_000_000);
    let result = ws.subscribe_from(&token, Some(&ahead)).await;
    assert_eq!(failure(&result), "POSITION_AHEAD");
    ws.expect_no_events().await;

    // A malformed point is a bad parameter, and the connection goes on.
    for bad in [
        json!("7"),
        json!({"epoch": "", "sequence": 1}),
        json!({"epoch": "a"}),
    ] {
        let response = ws
            .call(
                "userDataStream.subscribe.listenToken",
                json!({"listenToken": token, "resumeFrom": bad}),
            )
            .await;
        assert_eq!(response["error"]["code"], -1102, "{response}");
    }
    assert_eq!(
        server
            .metric("userstream_resume_failures_total{reason=\"history_expired\"}")
            .await,
        2
    );
    assert_eq!(
        server
            .metric("userstream_resume_failures_total{reason=\"position_ahead\"}")
            .await,
        1
    );
}

#[tokio::test]
async fn a_restart_starts_a_new_epoch() {
    let server = TestServer::start().await;
    let (_, token, point) = subscribed_once(&server).await;
    let server = server.restart().await;
    let mut ws = server.ws_with(POSITIONS).await;
    let result = ws.subscribe_from(&token, Some(&point)).await;
    assert_eq!(result["resume"]["reason"], "EPOCH_CHANGED", "{result}");
    assert_ne!(result["position"]["epoch"], point["epoch"]);
}

#[tokio::test]
async fn without_history_every_resume_fails_plainly() {
    let server = TestServer::start_with(|config| config.history.enabled = false).await;
    let key = server.create_key(&[]).await;
    let token = server.token(&key, None, None).await.0;
    let mut ws = server.ws_with(POSITIONS).await;
    let point = ws.subscribe_from(&token, None).await["position"].clone();
    publish_run(&server, key.uid, 0, 1).await;
    let mut last = point.clone();
    assert_eq!(read_run(&mut ws, 1, &mut last).await, run(0, 1));
    drop(ws);
    let mut ws = server.ws_with(POSITIONS).await;
    let result = ws.subscribe_from(&token, Some(&point)).await;
    assert_eq!(result["resume"]["reason"], "HISTORY_DISABLED", "{result}");
    assert_eq!(server.metric("userstream_history_events").await, 0);
}

/// Events published while a resume is answered: each arrives once, in order, whether it was
/// replayed or live.
#[tokio::test]
async fn live_events_wait_for_the_replay() {
    let server = TestServer::start().await;
    let (key, token, point) = subscribed_once(&server).await;
    publish_run(&server, key.uid, 0, 50).await;
    let publisher = {
        let admin = server.admin_url("/admin/v1/events");
        let http = server.http.clone();
        let uid = key.uid;
        tokio::spawn(async move {
            for n in 50..150 {
                let body = json!({"uid": uid, "event": balance_update(&format!("{n}.0"))});
                let answer = http.post(&admin).json(&body).send().await.unwrap();
                assert_eq!(answer.status(), 200);
            }
        })
    };
    let mut ws = server.ws_with(POSITIONS).await;
    let result = ws.subscribe_from(&token, Some(&point)).await;
    let replayed = result["resume"]["events"].as_u64().unwrap();
    assert!(replayed >= 50, "{result}");
    publisher.await.unwrap();
    let mut last = point;
    assert_eq!(read_run(&mut ws, 150, &mut last).await, run(0, 150));
    ws.expect_no_events().await;
}
