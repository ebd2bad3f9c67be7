//! Failover between the gateways of a cluster: nodes that share token signing keys and API
//! keys, so a token minted on one is accepted by every other. A stream whose gateway dies moves
//! to the next one, with a gap exactly when events may have been lost; token requests move on
//! when a REST root is down; a dead cluster is tried in turn, with backoff, up to the limit.

mod harness;

use harness::{Cluster, Publisher, Recorder, balance_update, fast_options};
use serde_json::json;
use std::time::Duration;
use userstream_client::{
    Disconnect, Endpoints, Fatal, HandoverReason, Options, Scope, Status, TokenError, UserStream,
};

/// The WebSocket API URL of a cluster node, as statuses name it.
fn ws_of(cluster: &Cluster, index: usize) -> reqwest::Url {
    cluster.endpoints(index).ws
}

/// Tokens node `index` has minted.
async fn tokens_issued(cluster: &Cluster, index: usize) -> u64 {
    cluster
        .node(index)
        .metric("userstream_tokens_issued_total")
        .await
}

/// The connections open on a node now.
async fn sessions(cluster: &Cluster, index: usize) -> usize {
    let sessions = cluster.node(index).admin_get("/admin/v1/sessions").await;
    sessions.as_array().map_or(0, Vec::len)
}

/// Waits until node `index` holds exactly `count` connections.
async fn until_sessions(cluster: &Cluster, index: usize, count: usize) {
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    while sessions(cluster, index).await != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {index} never held {count} connections"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An address nothing listens on: bound, then let go.
fn dead_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn a_dead_gateway_is_left_for_the_next_one_with_a_gap() {
    let mut cluster = Cluster::start(2).await;
    let (first, second) = (ws_of(&cluster, 0), ws_of(&cluster, 1));
    let mut stream = Recorder::new(cluster.builder(fast_options()).cross().start().unwrap());
    stream.until_subscribed(1).await;
    assert_eq!(stream.connected_to(), vec![(first.clone(), false)]);
    // Deltas from 0 on: the publisher counts from 1.
    assert_eq!(cluster.publish(balance_update("0")).await, 1);
    stream.until_delta(&Scope::Cross, "0").await;

    let publisher = Publisher::on_cluster(&cluster);
    tokio::time::sleep(Duration::from_millis(20)).await;
    cluster.kill(0).await;
    let reconnecting = stream
        .until_status(|status| matches!(status, Status::Reconnecting { .. }))
        .await;
    let Status::Reconnecting {
        attempt,
        reason,
        gateway,
        ..
    } = &reconnecting
    else {
        unreachable!()
    };
    assert_eq!((*attempt, gateway), (1, &second), "{reconnecting:?}");
    assert!(matches!(reason, Disconnect::Lost(_)), "{reason:?}");
    assert_eq!(stream.until_gap().await.account, Scope::Cross);
    let published = publisher.stop().await;
    let (last, _) = published.last().unwrap();
    stream.until_delta(&Scope::Cross, &last.to_string()).await;

    // What the dead node had queued is gone (that is the gap); everything else arrived once,
    // in order, the rest from the survivor.
    let received = stream.sequence(&Scope::Cross);
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "{received:?}"
    );
    assert_eq!(stream.gaps().len(), 1, "{:?}", stream.statuses);
    assert_eq!(stream.connected_to(), vec![(first, false), (second, false)]);
    assert_eq!(sessions(&cluster, 1).await, 1);
    // The survivor took the token the dead node minted: it has issued none itself.
    assert_eq!(tokens_issued(&cluster, 1).await, 0);
    // The renewal's token comes from the survivor at the first try, not from the dead node.
    cluster.clock.advance(Duration::from_secs(46));
    stream
        .until_status(|status| matches!(status, Status::Renewed { .. }))
        .await;
    assert_eq!(tokens_issued(&cluster, 1).await, 1);
    assert_eq!(
        stream.count(|status| matches!(status, Status::TokenRetry { .. })),
        0,
        "{:?}",
        stream.statuses
    );
}

/// Applies a fault to every connection of node `index`.
async fn fault(cluster: &Cluster, index: usize, body: serde_json::Value) {
    let (status, answer) = cluster
        .node(index)
        .admin_post("/admin/v1/faults", body)
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// `serverShutdown` on the gateway the stream is on: make-before-break to the next node, with
/// an event that certainly reaches both connections. The client is held (a buffer of one item,
/// not read) until the old node is stuck behind a delay fault, which keeps it from reading the
/// unsubscribe; the event then published reaches both nodes, and the copies, from two nodes,
/// must come out once, in order, with no gap.
#[tokio::test]
async fn server_shutdown_hands_over_to_the_next_gateway_without_loss_or_gap() {
    let cluster = Cluster::start(2).await;
    let (first, second) = (ws_of(&cluster, 0), ws_of(&cluster, 1));
    let options = Options {
        buffer: 1,
        ..fast_options()
    };
    let mut stream = Recorder::new(cluster.builder(options).cross().start().unwrap());
    stream.until_subscribed(1).await;
    // Event 1 fills the buffer, so the client stops at its next item: HandoverStarted.
    assert_eq!(cluster.publish(balance_update("1")).await, 1);
    // Node 0 announces its shutdown and would keep streaming for a minute of server time, which
    // the frozen clock never reaches.
    fault(
        &cluster,
        0,
        json!({"kind": "shutdown", "durationMs": 60_000}),
    )
    .await;
    // Node 0's next write waits for the clock: until then it reads nothing, the client's
    // unsubscribe included.
    fault(&cluster, 0, json!({"kind": "delay", "durationMs": 1_000})).await;
    assert_eq!(cluster.publish(balance_update("2")).await, 1);
    stream
        .until_status(|status| matches!(status, Status::HandoverStarted { .. }))
        .await;
    assert_eq!(
        stream.statuses.last(),
        Some(&Status::HandoverStarted {
            reason: HandoverReason::ServerShutdown
        })
    );
    stream
        .until_status(|status| matches!(status, Status::HandoverComplete { .. }))
        .await;
    assert_eq!(
        cluster.publish(balance_update("3")).await,
        2,
        "both connections hold the account"
    );
    // Node 0 catches up: events 2 and 3, then the answer to the unsubscribe.
    fault(&cluster, 0, json!({"kind": "delay", "durationMs": 0})).await;
    cluster.clock.advance(Duration::from_millis(1_000));
    stream.until_delta(&Scope::Cross, "3").await;
    until_sessions(&cluster, 0, 0).await;
    assert_eq!(cluster.publish(balance_update("4")).await, 1);
    stream.until_delta(&Scope::Cross, "4").await;

    assert_eq!(stream.sequence(&Scope::Cross), vec![1, 2, 3, 4]);
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
    assert_eq!(
        stream.count(|status| matches!(status, Status::Reconnecting { .. })),
        0
    );
    assert_eq!(stream.connected_to(), vec![(first, false), (second, true)]);
    assert_eq!(sessions(&cluster, 1).await, 1);
}

#[tokio::test]
async fn token_requests_move_on_when_a_rest_root_is_down() {
    let cluster = Cluster::start(2).await;
    // The first gateway's WebSocket API is up but its REST root is not: tokens must come from
    // the second, and node 0 must accept them.
    let rest_down = Endpoints::new(
        &format!("http://{}", dead_address()),
        ws_of(&cluster, 0).as_str(),
    )
    .unwrap();
    let mut stream = Recorder::new(
        UserStream::builder()
            .api_key(&cluster.key.api_key)
            .gateways([rest_down, cluster.endpoints(1)])
            .options(fast_options())
            .clock(std::sync::Arc::new(cluster.clock.clone()))
            .cross()
            .start()
            .unwrap(),
    );
    stream.until_subscribed(1).await;
    assert_eq!(
        stream.count(|status| matches!(
            status,
            Status::TokenRetry {
                error: TokenError::Transport(_),
                ..
            }
        )),
        1,
        "{:?}",
        stream.statuses
    );
    assert_eq!(stream.connected_to(), vec![(ws_of(&cluster, 0), false)]);
    assert_eq!(tokens_issued(&cluster, 1).await, 1);
    // The renewal asks the gateway that answered, at once.
    cluster.clock.advance(Duration::from_secs(46));
    stream
        .until_status(|status| matches!(status, Status::Renewed { .. }))
        .await;
    assert_eq!(
        stream.count(|status| matches!(status, Status::TokenRetry { .. })),
        1
    );
    cluster.publish(balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    assert!(stream.gaps().is_empty());
}

#[tokio::test]
async fn a_dead_cluster_is_tried_in_turn_with_backoff_until_the_limit() {
    let gateways: Vec<Endpoints> = (0..2)
        .map(|_| Endpoints::local(&format!("http://{}", dead_address())).unwrap())
        .collect();
    let options = Options {
        max_reconnect_attempts: Some(4),
        ..fast_options()
    };
    let backoff = options.reconnect_backoff;
    let mut stream = Recorder::new(
        UserStream::builder()
            .api_key("key")
            .gateways(gateways.clone())
            .options(options)
            .cross()
            .start()
            .unwrap(),
    );
    let end = stream
        .until_status(|status| matches!(status, Status::Terminated(_)))
        .await;
    assert_eq!(
        end,
        Status::Terminated(Fatal::ReconnectLimit { attempts: 4 })
    );
    let attempts: Vec<(u32, Duration, reqwest::Url)> = stream
        .statuses
        .iter()
        .filter_map(|status| match status {
            Status::Reconnecting {
                attempt,
                delay,
                reason: Disconnect::ConnectFailed(_),
                gateway,
            } => Some((*attempt, *delay, gateway.clone())),
            _ => None,
        })
        .collect();
    // Each failure moves on to the other gateway, and the waits grow as they do for one.
    let order: Vec<(u32, &reqwest::Url)> = attempts
        .iter()
        .map(|(attempt, _, gateway)| (*attempt, gateway))
        .collect();
    let (a, b) = (&gateways[0].ws, &gateways[1].ws);
    assert_eq!(order, vec![(1, b), (2, a), (3, b), (4, a)]);
    for (attempt, delay, _) in &attempts {
        let ceiling = backoff.ceiling(*attempt);
        assert!(
            *delay >= ceiling / 2 && *delay <= ceiling,
            "{attempt}: {delay:?}"
        );
    }
}
