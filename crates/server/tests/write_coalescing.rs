//! `ws.write_coalesce_ms`: under load, frames for one connection leave together, at most one
//! write per interval; off (the default), each frame is written as soon as it is queued.

mod common;

use common::{TestServer, balance_update};
use std::time::Instant;

const PUBLIC_WRITES: &str = "userstream_socket_writes_total{listener=\"public\"}";

/// Publishes `count` events one request at a time, each read by the subscriber; returns the
/// socket writes they took and how long publishing them took.
async fn publish_one_by_one(server: &TestServer, coalescing: bool) -> (u64, u128) {
    let key = server.create_key(&[]).await;
    let mut ws = server.ws().await;
    ws.subscribe(&server.token(&key, None, None).await.0).await;
    let before = server.metric(PUBLIC_WRITES).await;
    let started = Instant::now();
    for n in 0..20 {
        server
            .publish(key.uid, None, balance_update(&n.to_string()))
            .await;
        if !coalescing {
            // Each event has left before the next is published.
            ws.next_event().await;
        }
    }
    let elapsed_ms = started.elapsed().as_millis();
    if coalescing {
        for _ in 0..20 {
            ws.next_event().await;
        }
    }
    (server.metric(PUBLIC_WRITES).await - before, elapsed_ms)
}

#[tokio::test]
async fn frames_queued_within_the_interval_share_a_write() {
    let coalesce_ms = 10;
    let server = TestServer::start_with(|config| config.ws.write_coalesce_ms = coalesce_ms).await;
    let (writes, elapsed_ms) = publish_one_by_one(&server, true).await;
    // One write at most per interval while publishing, and one for what was left at the end
    // (about 3 when publishing takes 10 to 20 ms; without coalescing, 20).
    eprintln!("{writes} writes in {elapsed_ms} ms");
    let most = (elapsed_ms / u128::from(coalesce_ms)) as u64 + 2;
    assert!(
        writes <= most,
        "20 events took {writes} writes in {elapsed_ms} ms"
    );
}

#[tokio::test]
async fn without_coalescing_each_frame_is_written_at_once() {
    let server = TestServer::start().await;
    let (writes, _) = publish_one_by_one(&server, false).await;
    assert_eq!(writes, 20);
}
