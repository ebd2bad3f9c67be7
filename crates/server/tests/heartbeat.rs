//! Server pings, the pong timeout and the connection lifetime, driven by the manual clock.

mod common;

use common::{TestServer, WsClient};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Reads frames until a ping arrives (the client library queues the pong, sent with the next write).
async fn next_ping(ws: &mut WsClient) {
    loop {
        if let Some(Message::Ping(_)) = ws.next_message().await {
            return;
        }
    }
}

#[tokio::test]
async fn answered_pings_keep_a_connection_alive() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    for _ in 0..5 {
        server.advance_ms(20_000);
        next_ping(&mut ws).await;
        // This write also carries the queued pong; its answer proves the pong was read first.
        assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    }
    // 100 s in, well past the 60 s pong timeout of a silent client.
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
        server.advance_ms(20_000);
        next_ping(&mut lively).await;
        lively.call("ping", json!({})).await;
    }
    server.advance_ms(20_000);
    let (code, reason) = silent.close_frame().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("Pong timeout"), "{reason}");
    next_ping(&mut lively).await;
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
    next_ping(&mut ws).await;
    assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    server.advance_ms(1_000);
    let (code, reason) = ws.close_frame().await;
    assert_eq!(
        (code, reason.as_str()),
        (1000, "Connection lifetime limit reached.")
    );
}
