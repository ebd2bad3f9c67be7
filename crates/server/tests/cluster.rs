//! Gateway nodes as a cluster on real `nats-server` processes: keys, tokens, revocations and
//! events cross nodes; NATS failures end what may have lost events and nothing else.

mod common;

use common::nats::NatsServer;
use common::{Key, TestServer, WAIT, WsClient, balance_update};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use userstream_protocol::Account;
use userstream_protocol::events::{BalanceUpdate, Event};
use userstream_server::ManualClock;
use userstream_server::SystemClock;
use userstream_server::bus::{AccountEvent, Bus, Delivery, Interest, Listen, NatsBus, subject};

/// What the issue promises for keys and revocations crossing nodes.
const PROPAGATION: Duration = Duration::from_secs(1);

/// Longest a write may wait, after a NATS server died, for JetStream to elect new leaders in
/// its place (NATS 2.9 takes up to about ten seconds; docs/operations.md, "Cluster").
const FAILOVER: Duration = Duration::from_secs(30);

/// Three nodes on the NATS at `url` and a key made on the first, which must reach the others
/// within a second.
async fn three_nodes_and_a_key(url: &str) -> (Vec<TestServer>, Key) {
    let clock = ManualClock::starting_now();
    TestServer::cluster_with_key(&[url.to_owned()], 3, &clock, |_| {}, PROPAGATION).await
}

/// Polls `check` until it holds, failing after `limit`; returns how long it took.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn token_status(node: &TestServer, api_key: &str) -> u16 {
    node.request_token(Some(api_key), "").await.0
}

/// The deltas of the next `count` balance updates on `ws`.
async fn deltas(ws: &mut WsClient, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let frame = tokio::time::timeout(WAIT, ws.next_event()).await.unwrap();
        assert_eq!(frame["event"]["e"], "balanceUpdate", "{frame}");
        seen.push(frame["event"]["d"].as_str().unwrap().to_owned());
    }
    seen
}

/// Returns once the NATS server has handled everything `client` sent so far (a message to
/// itself, back through the server).
async fn settled(client: &async_nats::Client) {
    use futures_util::StreamExt;
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.unwrap();
    client.publish(inbox, "".into()).await.unwrap();
    tokio::time::timeout(WAIT, probe.next())
        .await
        .unwrap()
        .unwrap();
}

async fn publish_batch(node: &TestServer, items: Value) -> Value {
    let (status, answer) = node.admin_post("/admin/v1/events", items).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// More NATS messages in one publish than the JetStream context lets wait for their acks (5,000):
/// one event to each of 6,000 accounts. Such a batch used to wait forever on its own acks.
#[tokio::test]
async fn a_batch_of_more_messages_than_acks_in_flight_is_stored() {
    let nats = NatsServer::start().await;
    let (cluster, key) = three_nodes_and_a_key(&nats.url()).await;
    let (token, _) = cluster[0].token(&key, None, None).await;
    let mut ws = cluster[1].ws().await;
    ws.subscribe(&token).await;
    let mut items: Vec<Value> = (0..6_000u64)
        .map(|n| json!({ "uid": key.uid + 1 + n, "event": balance_update("1") }))
        .collect();
    items.push(json!({ "uid": key.uid, "event": balance_update("2") }));
    let publish = publish_batch(&cluster[0], Value::Array(items));
    let answer = tokio::time::timeout(Duration::from_secs(30), publish)
        .await
        .expect("the batch was not stored within 30 s");
    assert_eq!(
        answer,
        json!({ "published": 6_001, "delivery": "persisted" })
    );
    assert_eq!(deltas(&mut ws, 1).await, ["2"]);
}

#[tokio::test]
async fn keys_tokens_and_events_cross_nodes_and_every_subscriber_gets_each_event_once() {
    let nats = NatsServer::start().await;
    // A key created on A works on B and C within a second.
    let (cluster, key) = three_nodes_and_a_key(&nats.url()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);

    // A token minted on A subscribes on every node.
    let (token, _) = a.token(&key, None, None).await;
    let mut subscribers = Vec::new();
    for node in [a, b, c] {
        let mut ws = node.ws().await;
        ws.subscribe(&token).await;
        subscribers.push(ws);
    }

    // Published on B (the admin API answers what it knows: the event stream stored them), and
    // straight to NATS by an upstream service: each subscriber sees each event once, in publish
    // order.
    let items: Vec<Value> = (1..=3)
        .map(|n| json!({ "uid": key.uid, "event": balance_update(&n.to_string()) }))
        .collect();
    let answer = publish_batch(b, Value::Array(items)).await;
    assert_eq!(answer, json!({ "published": 3, "delivery": "persisted" }));
    let upstream = async_nats::connect(nats.url()).await.unwrap();
    let payload = json!([
        { "uid": key.uid, "event": balance_update("4") },
        { "uid": key.uid, "event": balance_update("5") },
    ]);
    upstream
        .publish(
            subject(&Account::cross(key.uid)),
            payload.to_string().into(),
        )
        .await
        .unwrap();
    // An item naming another account than its subject is refused, whole message and all.
    let stray = json!({ "uid": key.uid + 1, "event": balance_update("6") });
    upstream
        .publish(subject(&Account::cross(key.uid)), stray.to_string().into())
        .await
        .unwrap();
    settled(&upstream).await;
    publish_batch(c, json!({ "uid": key.uid, "event": balance_update("7") })).await;
    for ws in &mut subscribers {
        assert_eq!(deltas(ws, 6).await, ["1", "2", "3", "4", "5", "7"]);
        ws.expect_no_events().await;
    }
    // The gateways stamp what they publish, so each node can tell the bus's lag: two messages
    // (from B and from C) reached every node.
    for node in [a, b, c] {
        assert_eq!(node.metric("userstream_bus_lag_seconds_count").await, 2);
    }
    within(WAIT, "the stray message counted", || async {
        let mut refused = 0;
        for node in [a, b, c] {
            refused += node.metric("userstream_bus_rejected_messages_total").await;
        }
        refused == 3
    })
    .await;
}

#[tokio::test]
async fn a_revocation_on_one_node_ends_subscriptions_and_minting_on_every_node() {
    let nats = NatsServer::start().await;
    let (cluster, key) = three_nodes_and_a_key(&nats.url()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);
    let (token, _) = c.token(&key, None, None).await;
    let mut on_c = c.ws().await;
    on_c.subscribe(&token).await;

    let (status, _) = a.revoke(&key.api_key).await;
    assert_eq!(status, 200);
    let ended = tokio::time::timeout(PROPAGATION, on_c.next_event())
        .await
        .expect("the subscription on C did not end within a second");
    assert_eq!(ended["event"]["e"], "eventStreamTerminated", "{ended}");
    for node in [a, b, c] {
        within(PROPAGATION, "minting refused", || async {
            token_status(node, &key.api_key).await != 200
        })
        .await;
    }
    // The connection stays, and the token no longer subscribes there.
    let again = on_c
        .call(
            "userDataStream.subscribe.listenToken",
            json!({ "listenToken": token }),
        )
        .await;
    assert_eq!(again["error"]["code"], -1209, "{again}");
}

/// The NATS server a node is connected to restarts while events are published through
/// another: the node's subscriptions live through it, and what was published meanwhile comes
/// from the event stream, then live events, once each.
#[tokio::test]
async fn a_restart_of_nats_during_publishing_loses_nothing_and_ends_no_subscription() {
    let mut nats = NatsServer::cluster().await;
    let urls: Vec<String> = nats.iter().map(NatsServer::url).collect();
    // The node knows only the first server, so it cannot hear anything while that one is down.
    let node = TestServer::start_cluster_node(&urls[..1], |config| {
        config.nats.unhealthy_after_ms = 0;
        config.nats.kv_replicas = 3;
    })
    .await;
    let key = node.create_key(&[]).await;
    let (token, _) = node.token(&key, None, None).await;
    let mut ws = node.ws().await;
    ws.subscribe(&token).await;
    let health = |node: &TestServer| {
        let url = node.admin_url("/healthz");
        let http = node.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    publish_batch(
        &node,
        json!({ "uid": key.uid, "event": balance_update("1") }),
    )
    .await;
    assert_eq!(deltas(&mut ws, 1).await, ["1"]);

    nats[0].kill();
    within(WAIT, "the node seeing NATS gone", || async {
        let (status, body) = health(&node).await;
        status == 503 && body["bus"]["state"] == "disconnected"
    })
    .await;
    // An upstream service publishes through another server meanwhile (once JetStream has a
    // leader on the two left; the message id keeps a retried publish from counting twice).
    let upstream = async_nats::connect(urls[1].as_str()).await.unwrap();
    let js = async_nats::jetstream::new(upstream);
    for n in ["2", "3"] {
        let item = json!({ "uid": key.uid, "event": balance_update(n) });
        within(FAILOVER, "a publish while the node is away", || async {
            let message = async_nats::jetstream::message::PublishMessage::build()
                .payload(item.to_string().into())
                .message_id(format!("restart-{n}"));
            match js
                .send_publish(subject(&Account::cross(key.uid)), message)
                .await
            {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
    }
    nats[0].restart().await;
    within(FAILOVER, "the node back", || async {
        health(&node).await.0 == 200
    })
    .await;
    within(FAILOVER, "a publish after the restart", || async {
        let body = json!({ "uid": key.uid, "event": balance_update("4") });
        node.admin_post("/admin/v1/events", body).await.0 == 200
    })
    .await;

    assert_eq!(deltas(&mut ws, 3).await, ["2", "3", "4"]);
    ws.expect_no_events().await;
    assert_eq!(node.metric("userstream_bus_reconnects_total").await, 1);
    assert!(node.metric("userstream_bus_caught_up_messages_total").await >= 1);
    assert!(!node.metrics().await.contains("reason=\"bus_loss\""));
}

#[tokio::test]
async fn kill_9_of_one_nats_server_out_of_three_loses_no_session_and_no_stored_write() {
    let mut nats = NatsServer::cluster().await;
    let urls: Vec<String> = nats.iter().map(NatsServer::url).collect();
    let replicated = |config: &mut userstream_server::Config| config.nats.kv_replicas = 3;
    let clock = ManualClock::starting_now();
    let (cluster, key) =
        TestServer::cluster_with_key(&urls, 3, &clock, replicated, PROPAGATION).await;
    let (token, _) = cluster[0].token(&key, None, None).await;
    let mut subscribers = Vec::new();
    for node in &cluster {
        let mut ws = node.ws().await;
        ws.subscribe(&token).await;
        subscribers.push(ws);
    }
    publish_batch(
        &cluster[1],
        json!({ "uid": key.uid, "event": balance_update("1") }),
    )
    .await;
    for ws in &mut subscribers {
        assert_eq!(deltas(ws, 1).await, ["1"]);
    }

    nats[0].kill();

    // A write after the kill lands once JetStream has a leader again, and nothing written
    // before it is lost: a node that starts now, on the two servers left, reads both keys.
    within(FAILOVER, "a key created after the kill", || async {
        cluster[1].admin_post("/admin/v1/keys", json!({})).await.0 == 200
    })
    .await;
    let late = TestServer::start_cluster_node(&urls[1..], replicated).await;
    let keys = late.admin_get("/admin/v1/keys").await;
    assert_eq!(keys.as_array().map(Vec::len), Some(2), "{keys}");
    assert_eq!(token_status(&late, &key.api_key).await, 200);

    // Every session is still open. A node whose NATS connection was on the dead server moved
    // to another and ended its subscriptions (events may have been lost meanwhile): those
    // subscribe again, and then every subscriber gets the next event once.
    for node in &cluster {
        within(FAILOVER, "the node's bus connected", || async {
            node.admin_get("/healthz").await["bus"]["state"] == "connected"
        })
        .await;
    }
    for ws in &mut subscribers {
        let held = ws.call("session.subscriptions", json!({})).await;
        assert_eq!(held["status"], 200, "{held}");
        if held["result"].as_array().is_some_and(Vec::is_empty) {
            ws.subscribe(&token).await;
        }
    }
    within(FAILOVER, "a publish after the kill", || async {
        let body = json!({ "uid": key.uid, "event": balance_update("2") });
        cluster[2].admin_post("/admin/v1/events", body).await.0 == 200
    })
    .await;
    for ws in &mut subscribers {
        let frame = loop {
            let frame = tokio::time::timeout(WAIT, ws.next_event()).await.unwrap();
            if frame["event"]["e"] != "eventStreamTerminated" {
                break frame;
            }
        };
        assert_eq!(frame["event"]["d"], "2", "{frame}");
        ws.expect_no_events().await;
    }
}

#[tokio::test]
async fn a_rotated_signing_key_reaches_every_node_and_signs_from_its_activation_without_downtime() {
    let nats = NatsServer::start().await;
    let (cluster, key) = three_nodes_and_a_key(&nats.url()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);
    let (old_token, _) = b.token(&key, None, None).await;

    let (status, rotated) = a
        .admin_post("/admin/v1/signing-keys", json!({ "activateInMs": 60_000 }))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let kid = rotated["kid"].as_u64().unwrap();
    for node in [a, b, c] {
        within(PROPAGATION, "the new key reaching a node", || async {
            let listed = node.admin_get("/admin/v1/signing-keys").await;
            listed["keys"].as_array().map(Vec::len) == Some(2)
                && listed["signingKid"].as_u64() == Some(kid - 1)
        })
        .await;
    }
    // A minute later every node signs with it, and a token from before still subscribes.
    for node in [a, b, c] {
        node.advance_ms(60_000);
        let listed = node.admin_get("/admin/v1/signing-keys").await;
        assert_eq!(listed["signingKid"].as_u64(), Some(kid), "{listed}");
    }
    let (new_token, _) = c.token(&key, None, None).await;
    for (node, token) in [(a, &old_token), (b, &new_token), (c, &old_token)] {
        let mut ws = node.ws().await;
        ws.subscribe(token).await;
    }
    // Two nodes rotating at the same moment cannot both take a kid.
    let answers = futures_util::future::join_all(
        [b, c].map(|node| node.admin_post("/admin/v1/signing-keys", json!({}))),
    )
    .await;
    let added = answers.iter().filter(|(status, _)| *status == 200).count();
    assert!(added >= 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| [200, 409].contains(status)),
        "{answers:?}"
    );
    for node in [a, b, c] {
        within(PROPAGATION, "every node knowing the same keys", || async {
            let listed = node.admin_get("/admin/v1/signing-keys").await;
            listed["keys"].as_array().map(Vec::len) == Some(2 + added)
        })
        .await;
    }
}

/// A delivery side that takes its time over every event and counts the losses it is told of.
#[derive(Default)]
struct SlowDelivery {
    delivered: std::sync::atomic::AtomicUsize,
    lost: std::sync::atomic::AtomicUsize,
}

impl Delivery for SlowDelivery {
    fn deliver(&self, _event: &AccountEvent) -> usize {
        std::thread::sleep(Duration::from_millis(5));
        self.delivered.fetch_add(1, Ordering::SeqCst);
        1
    }

    fn lost(&self) -> usize {
        self.lost.fetch_add(1, Ordering::SeqCst);
        0
    }
}

/// NATS messages dropped for a subscription that cannot keep up are fetched again from the
/// event stream: nothing is lost, and no subscription needs to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_dropped_for_a_slow_subscription_are_fetched_from_the_stream() {
    let nats = NatsServer::start().await;
    let (events, connection_events) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::new()
        // Room for one message per subscription: a burst overflows it at once.
        .subscription_capacity(1)
        .event_callback(move |event| {
            let _ = events.send(event);
            async {}
        })
        .connect(nats.url())
        .await
        .unwrap();
    let bus = NatsBus::open(
        client,
        connection_events,
        &userstream_server::Config::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let slow = Arc::new(SlowDelivery::default());
    bus.attach(Arc::clone(&slow) as Arc<dyn Delivery>);
    let account = Account::cross(7);
    let listening = match bus.listen(&account) {
        Listen::Ready(listening) => listening,
        Listen::Pending(confirmed) => confirmed.await.unwrap(),
    };
    bus.interest(&account, true);
    drop(listening);
    for n in 0..50 {
        let event = Event::BalanceUpdate(BalanceUpdate {
            event_time_us: 1_000,
            asset: "BTC".into(),
            balance_delta: n.to_string().parse().unwrap(),
            clear_time_us: 1_000,
        });
        let item = AccountEvent {
            account: account.clone(),
            event,
        };
        bus.publish(vec![item]).await.unwrap();
    }
    within(WAIT, "every event delivered", || async {
        slow.delivered.load(Ordering::SeqCst) == 50
    })
    .await;
    assert_eq!(slow.lost.load(Ordering::SeqCst), 0);
    assert_eq!(bus.stats().losses, 0);
    assert!(
        bus.stats().caught_up >= 1,
        "no message was dropped: the test proves nothing"
    );
}

/// A client on node A loses its connection while events are published through node C; it
/// resumes on node B from the last position it saw and gets exactly those events, then live
/// ones. Every node numbers the events alike, from the stream.
#[tokio::test]
async fn a_client_dropped_on_one_node_resumes_on_another_with_exactly_what_it_missed() {
    let nats = NatsServer::start().await;
    let (cluster, key) = three_nodes_and_a_key(&nats.url()).await;
    let (a, b, c) = (&cluster[0], &cluster[1], &cluster[2]);
    let (token, _) = a.token(&key, None, None).await;
    let mut on_a = a.ws_with("streamPositions=true").await;
    let subscribed = on_a.subscribe_from(&token, None).await;
    assert!(subscribed["resume"].is_null(), "{subscribed}");
    publish_batch(c, json!({ "uid": key.uid, "event": balance_update("1") })).await;
    let first = on_a.next_event().await;
    assert_eq!(first["event"]["d"], "1");
    assert!(
        first["position"]["sequence"].as_u64() > subscribed["position"]["sequence"].as_u64(),
        "{first} after {subscribed}"
    );
    drop(on_a);

    let missed: Vec<Value> = (2..=4)
        .map(|n| json!({ "uid": key.uid, "event": balance_update(&n.to_string()) }))
        .collect();
    publish_batch(c, Value::Array(missed)).await;

    let mut on_b = b.ws_with("streamPositions=true").await;
    let resumed = on_b.subscribe_from(&token, Some(&first["position"])).await;
    assert_eq!(
        resumed["resume"],
        json!({"status": "REPLAYED", "events": 3}),
        "{resumed}"
    );
    let mut last = first["position"].clone();
    for expected in ["2", "3", "4"] {
        let frame = on_b.next_event().await;
        assert_eq!(frame["event"]["d"], expected, "{frame}");
        assert_eq!(frame["position"]["epoch"], last["epoch"]);
        assert!(frame["position"]["sequence"].as_u64() > last["sequence"].as_u64());
        last = frame["position"].clone();
    }
    // The result's position covers everything replayed (it may be past the last event: a
    // position marks a place in the stream, not necessarily an event of this account).
    assert_eq!(resumed["position"]["epoch"], last["epoch"]);
    assert!(resumed["position"]["sequence"].as_u64() >= last["sequence"].as_u64());
    publish_batch(a, json!({ "uid": key.uid, "event": balance_update("5") })).await;
    let live = on_b.next_event().await;
    assert_eq!(live["event"]["d"], "5", "{live}");
    on_b.expect_no_events().await;

    // A point in another epoch, or ahead of the stream, replays nothing and says why.
    let mut other = last.clone();
    other["epoch"] = json!("0");
    let result = on_b.subscribe_from(&token, Some(&other)).await;
    assert_eq!(result["resume"]["reason"], "EPOCH_CHANGED", "{result}");
    let mut ahead = last.clone();
    ahead["sequence"] = json!(u64::MAX >> 8);
    let result = on_b.subscribe_from(&token, Some(&ahead)).await;
    assert_eq!(result["resume"]["reason"], "POSITION_AHEAD", "{result}");
    on_b.expect_no_events().await;
}
