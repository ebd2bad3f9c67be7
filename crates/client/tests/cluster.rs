//! The client against a real cluster: gateway nodes on a real `nats-server`, which share keys,
//! signing keys and events through it. A stream whose node dies moves to another; an outage of
//! NATS ends the node's subscriptions, and the client reports the gap and carries on.

mod harness;

use harness::common::nats::NatsServer;
use harness::{Recorder, TestServer, WAIT, balance_update, fast_options};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use userstream_client::{Endpoints, HandoverReason, Scope, Status, UserStream};
use userstream_server::ManualClock;

/// `size` nodes on the NATS at `url`, all on `clock`, and a key that works on every one.
async fn cluster(url: &str, size: usize, clock: &ManualClock) -> (Vec<TestServer>, harness::Key) {
    TestServer::cluster_with_key(&[url.to_owned()], size, clock, |_| {}, WAIT).await
}

fn endpoints(node: &TestServer) -> Endpoints {
    Endpoints::local(&node.url("")).unwrap()
}

async fn publish(node: &TestServer, uid: u64, delta: &str) {
    let body = json!({ "uid": uid, "event": balance_update(delta) });
    let (status, answer) = node.admin_post("/admin/v1/events", body).await;
    assert_eq!(status, 200, "{answer}");
}

/// A cross margin stream of `key` over `gateways`, subscribed, with an event published through
/// `publisher` received.
async fn streaming(
    gateways: impl IntoIterator<Item = Endpoints>,
    key: &harness::Key,
    clock: &ManualClock,
    publisher: &TestServer,
) -> Recorder {
    let mut stream = Recorder::new(
        UserStream::builder()
            .api_key(&key.api_key)
            .gateways(gateways)
            .options(fast_options())
            .clock(Arc::new(clock.clone()))
            .cross()
            .start()
            .unwrap(),
    );
    stream.until_subscribed(1).await;
    publish(publisher, key.uid, "1").await;
    stream.until_delta(&Scope::Cross, "1").await;
    stream
}

/// Publishes through `node` until the stream has an event from it (a subscription made after a
/// move may come just after a publish); returns the last delta sent.
async fn publish_until_received(stream: &mut Recorder, node: &TestServer, uid: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    for seq in 100.. {
        let delta = seq.to_string();
        publish(node, uid, &delta).await;
        let received = stream.until_delta(&Scope::Cross, &delta);
        if tokio::time::timeout(Duration::from_millis(200), received)
            .await
            .is_ok()
        {
            return seq;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event came through"
        );
    }
    unreachable!()
}

#[tokio::test]
async fn a_stream_on_a_killed_node_resumes_on_another_node() {
    let nats = NatsServer::start().await;
    let clock = ManualClock::starting_now();
    let (mut nodes, key) = cluster(&nats.url(), 3, &clock).await;
    // The stream starts on node 1 (B) and has A and C to move to.
    let gateways = [
        endpoints(&nodes[1]),
        endpoints(&nodes[0]),
        endpoints(&nodes[2]),
    ];
    let mut stream = streaming(gateways.clone(), &key, &clock, &nodes[0]).await;

    // B dies as a process does: its connections drop without a word, its listeners close.
    let b = nodes.remove(1);
    let (status, answer) = b
        .admin_post("/admin/v1/faults", json!({"kind": "drop"}))
        .await;
    assert_eq!(status, 200, "{answer}");
    b.server.shutdown().await.unwrap();

    // It resumes on the next node from where it was: the nodes share the event stream, and so
    // its positions.
    stream
        .until_status(|status| matches!(status, Status::Resumed { .. }))
        .await;
    // Events published anywhere reach it on its new node.
    publish_until_received(&mut stream, &nodes[1], key.uid).await;
    assert_eq!(
        stream.connected_to(),
        [
            (gateways[0].ws.clone(), false),
            (gateways[1].ws.clone(), false)
        ]
    );
    assert_eq!(stream.gaps().len(), 0, "{:?}", stream.statuses);
}

#[tokio::test]
async fn a_restart_of_nats_keeps_the_connection_and_the_subscription_without_a_gap() {
    let mut nats = NatsServer::start().await;
    let clock = ManualClock::starting_now();
    let (nodes, key) = cluster(&nats.url(), 1, &clock).await;
    let node = &nodes[0];
    let mut stream = streaming([endpoints(node)], &key, &clock, node).await;

    nats.kill();
    nats.restart().await;
    // The node catches up from the event stream (nothing was published meanwhile): the
    // subscription lives through it, and events flow again once NATS is back.
    publish_until_received(&mut stream, node, key.uid).await;
    for (what, unwanted) in [
        (
            "a gap",
            stream.count(|status| matches!(status, Status::Gap { .. })),
        ),
        (
            "a reconnection",
            stream.count(|status| matches!(status, Status::Reconnecting { .. })),
        ),
    ] {
        assert_eq!(unwanted, 0, "{what}: {:?}", stream.statuses);
    }
    assert_eq!(
        stream.count(|status| matches!(status, Status::Connected { .. })),
        1
    );
}

#[tokio::test]
async fn a_draining_node_hands_its_streams_to_another_without_a_gap() {
    let nats = NatsServer::start().await;
    let clock = ManualClock::starting_now();
    let urls = [nats.url()];
    let drains = |config: &mut userstream_server::Config| config.shutdown_drain_ms = 600_000;
    let (mut nodes, key) = TestServer::cluster_with_key(&urls, 2, &clock, drains, WAIT).await;
    let gateways = [endpoints(&nodes[0]), endpoints(&nodes[1])];
    let mut stream = streaming(gateways.clone(), &key, &clock, &nodes[1]).await;

    // A rolling restart takes node 0 down: it says serverShutdown and keeps streaming, the
    // client subscribes on node 1 and then leaves, and node 0 stops without waiting the drain
    // out.
    let leaving = nodes.remove(0);
    let stopping = tokio::spawn(leaving.server.shutdown());
    stream
        .until_status(|status| {
            matches!(
                status,
                Status::HandoverStarted {
                    reason: HandoverReason::ServerShutdown
                }
            )
        })
        .await;
    let connected = stream
        .until_status(|status| matches!(status, Status::Connected { handover: true, .. }))
        .await;
    let Status::Connected { gateway, .. } = connected else {
        unreachable!()
    };
    assert_eq!(gateway, gateways[1].ws);
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("node 0 waited for its drain to run out")
        .unwrap()
        .unwrap();
    publish(&nodes[0], key.uid, "2").await;
    stream.until_delta(&Scope::Cross, "2").await;
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
    assert_eq!(
        stream.count(|status| matches!(status, Status::Reconnecting { .. })),
        0
    );
}
