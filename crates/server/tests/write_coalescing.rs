//! `ws.write_coalesce_ms`: once frames pile up for a connection, its writes leave at most one
//! per interval; a connection written one frame at a time is never held back; off (the
//! default), each frame is written as soon as it is queued.

mod common;

use common::{Key, TestServer, WsClient, balance_update};
use serde_json::json;
use std::time::Instant;

const PUBLIC_WRITES: &str = "userstream_socket_writes_total{listener=\"public\"}";

/// A server with `ws.write_coalesce_ms = coalesce_ms` and one subscribed connection.
async fn subscribed(coalesce_ms: u64) -> (TestServer, Key, WsClient) {
    let server = TestServer::start_with(|config| config.ws.write_coalesce_ms = coalesce_ms).await;
    let key = server.create_key(&[]).await;
    let ws = server.subscribed(&key).await;
    (server, key, ws)
}

#[tokio::test]
async fn once_frames_pile_up_the_next_writes_wait_out_the_interval() {
    let coalesce_ms = 10;
    let (server, key, mut ws) = subscribed(coalesce_ms).await;
    let before = server.metric(PUBLIC_WRITES).await;
    let started = Instant::now();
    // Two events in one request reach the outbox together: one write of two frames, which
    // marks the connection busy.
    let item = |n: u32| json!({ "uid": key.uid, "event": balance_update(&n.to_string()) });
    let (status, answer) = server
        .admin_post("/admin/v1/events", json!([item(0), item(1)]))
        .await;
    assert_eq!(status, 200, "{answer}");
    for n in 2..22 {
        server
            .publish(key.uid, None, balance_update(&n.to_string()))
            .await;
    }
    for _ in 0..22 {
        ws.next_event().await;
    }
    let elapsed_ms = started.elapsed().as_millis();
    let writes = server.metric(PUBLIC_WRITES).await - before;
    // At most one write per interval, plus the first and what was left at the end (about 3
    // when publishing takes 10 to 20 ms; without coalescing, 21).
    eprintln!("{writes} writes in {elapsed_ms} ms");
    let most = (elapsed_ms / u128::from(coalesce_ms)) as u64 + 2;
    assert!(
        writes <= most,
        "22 events took {writes} writes in {elapsed_ms} ms"
    );
}

#[tokio::test]
async fn a_connection_written_one_frame_at_a_time_is_never_held_back() {
    // A whole second: had any of these writes been held, the test would take seconds.
    let (server, key, mut ws) = subscribed(1000).await;
    let before = server.metric(PUBLIC_WRITES).await;
    let started = Instant::now();
    for n in 0..5 {
        server
            .publish(key.uid, None, balance_update(&n.to_string()))
            .await;
        ws.next_event().await;
    }
    let elapsed = started.elapsed();
    assert_eq!(server.metric(PUBLIC_WRITES).await - before, 5);
    assert!(
        elapsed.as_millis() < 1000,
        "five single frames took {elapsed:?}: a write was held back"
    );
}

#[tokio::test]
async fn without_coalescing_each_frame_is_written_at_once() {
    let (server, key, mut ws) = subscribed(0).await;
    let before = server.metric(PUBLIC_WRITES).await;
    for n in 0..20 {
        server
            .publish(key.uid, None, balance_update(&n.to_string()))
            .await;
        ws.next_event().await;
    }
    assert_eq!(server.metric(PUBLIC_WRITES).await - before, 20);
}
