//! A client that stops reading is cut off once its outgoing queue is full; nobody else notices.

mod common;

use common::{TestServer, WsClient};
use serde_json::{Value, json};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket client whose socket receive buffer is tiny, so the server's writes back up fast.
async fn stingy_client(server: &TestServer) -> WsClient {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.server.public_addr).await.unwrap();
    let url = format!("ws://{}/ws-api/v3", server.server.public_addr);
    let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    WsClient::from_stream(stream)
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_others_keep_receiving() {
    let server = TestServer::start_with(|config| config.ws.outbox_bytes = 64 * 1024).await;
    let key = server.create_key(&[]).await;
    let (token, _) = server.token(&key, None, None).await;
    let mut stalled = stingy_client(&server).await;
    stalled.subscribe(&token).await;
    let mut reader = server.ws().await;
    reader.subscribe(&token).await;

    // Publish in batches until the stalled client's queue overflows (bounded: ~30 MB at most); batches stay well under
    // the queue cap, so a client that keeps reading never overflows.
    let batch: Vec<Value> = (0..100)
        .map(|i| json!({"uid": key.uid, "event": common::balance_update(&i.to_string())}))
        .collect();
    let mut published = 0;
    let mut overflowed = false;
    for _ in 0..2000 {
        let (status, answer) = server
            .admin_post("/admin/v1/events", Value::Array(batch.clone()))
            .await;
        assert_eq!(status, 200, "{answer}");
        published += 100;
        // Drain the reader as we go so only the stalled client falls behind.
        for _ in 0..100 {
            reader.next_event().await;
        }
        if answer["subscribers"].as_u64().unwrap() < 200 {
            overflowed = true;
            break;
        }
    }
    assert!(
        overflowed,
        "the stalled client's queue never filled after {published} events"
    );

    // The stalled client finds the events that fit, then the close frame.
    let close = loop {
        match stalled.next_message().await {
            Some(Message::Close(frame)) => break frame,
            Some(_) => continue,
            None => panic!("connection dropped without a close frame"),
        }
    };
    assert_eq!(u16::from(close.expect("close frame").code), 1008);
    // The reader is unaffected.
    assert_eq!(
        server
            .publish(key.uid, None, common::balance_update("99999"))
            .await,
        1
    );
    assert_eq!(reader.next_event().await["event"]["d"], json!("99999"));
    assert!(
        server
            .metrics()
            .await
            .contains("userstream_slow_consumer_disconnects_total 1")
    );
}

#[tokio::test]
async fn a_write_that_never_completes_ends_the_connection() {
    // A queue big enough never to overflow here: only the write timeout can end it.
    let server = TestServer::start_with(|config| {
        config.ws.outbox_bytes = 256 * 1024 * 1024;
        config.ws.write_timeout_ms = 200;
    })
    .await;
    let key = server.create_key(&[]).await;
    let (token, _) = server.token(&key, None, None).await;
    let mut stalled = stingy_client(&server).await;
    stalled.subscribe(&token).await;
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"uid": key.uid, "event": common::balance_update(&i.to_string())}))
        .collect();
    // Fill the socket buffers, then wait (bounded) for the server to give up on the writer.
    for _ in 0..400 {
        let (status, answer) = server
            .admin_post("/admin/v1/events", Value::Array(batch.clone()))
            .await;
        assert_eq!(status, 200, "{answer}");
        if answer["subscribers"] == json!(0) {
            assert!(
                server
                    .metrics()
                    .await
                    .contains("userstream_slow_consumer_disconnects_total 1")
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("a connection whose writes never complete was never closed");
}
