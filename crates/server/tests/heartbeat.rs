//! Server pings, the pong timeout and the connection lifetime, driven by the manual clock.

mod common;

use common::{TestServer, WsClient, balance_update};
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Reads frames until a ping arrives (the client library queues the pong, sent with the next write).
async fn next_ping(ws: &mut WsClient) {
    loop {
        if let Some(Message::Ping(_)) = ws.next_message().await {
            return;
        }
    }
}

/// Moves the clock on a second at a time until a ping arrives. A quiet connection's ping, once
/// due, waits for a frame to go out with, and goes out alone when the heartbeat comes back to
/// it a second later; the heartbeat task runs on its own, so each step waits a moment for it.
async fn advance_until_ping(server: &TestServer, ws: &mut WsClient) {
    for _ in 0..10 {
        server.advance_ms(1_000);
        let wait = Duration::from_millis(200);
        if tokio::time::timeout(wait, next_ping(ws)).await.is_ok() {
            return;
        }
    }
    panic!("no ping in 10 s of the clock");
}

#[tokio::test]
async fn answered_pings_keep_a_connection_alive() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    for _ in 0..5 {
        server.advance_ms(19_000);
        advance_until_ping(&server, &mut ws).await;
        // This write also carries the queued pong; its answer proves the pong was read first.
        assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    }
    // Over 100 s in, well past the 60 s pong timeout of a silent client.
    assert_eq!(
        ws.call("session.status", json!({})).await["status"],
        json!(200)
    );
}

#[tokio::test]
async fn a_client_that_never_answers_is_closed_after_the_pong_timeout() {
    let server = TestServer::start().await;
    let mut silent = server.ws().await;
    let mut lively = server.ws().await;
    for _ in 0..2 {
        server.advance_ms(19_000);
        advance_until_ping(&server, &mut lively).await;
        lively.call("ping", json!({})).await;
    }
    // Past the 60 s since the silent client connected.
    server.advance_ms(20_000);
    let (code, reason) = silent.close_frame().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("Pong timeout"), "{reason}");
    advance_until_ping(&server, &mut lively).await;
    assert_eq!(lively.call("ping", json!({})).await["status"], json!(200));
}

#[tokio::test]
async fn connections_close_at_their_lifetime_limit() {
    let server = TestServer::start_with(|config| {
        config.ws.max_connection_lifetime_ms = 30_000;
        config.ws.pong_timeout_ms = 3_600_000;
    })
    .await;
    let mut ws = server.ws().await;
    server.advance_ms(29_000);
    assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    server.advance_ms(1_000);
    let (code, reason) = ws.close_frame().await;
    assert_eq!(
        (code, reason.as_str()),
        (1000, "Connection lifetime limit reached.")
    );
}

/// A connection that receives events is pinged along with them: its ping, once due, is not
/// written on its own but waits for the next event, and goes out just before it.
#[tokio::test]
async fn a_due_ping_goes_out_with_the_next_event() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let mut ws = server.subscribed(&key).await;
    server.advance_ms(20_000);
    let quiet = tokio::time::timeout(Duration::from_millis(300), ws.next_message()).await;
    assert!(quiet.is_err(), "the ping went out alone: {quiet:?}");
    assert_eq!(server.publish(key.uid, None, balance_update("1")).await, 1);
    assert!(matches!(ws.next_message().await, Some(Message::Ping(_))));
    assert_eq!(ws.next_event().await["event"]["e"], json!("balanceUpdate"));
}
