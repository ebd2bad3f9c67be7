//! Snapshots against the real gateway and its margin simulator: with the API secret the client
//! reads the margin account and its open orders over REST (signed, as from Binance) once the
//! subscription is answered, on start and after a gap, and yields them ahead of the events
//! they may not reflect.
//!
//! These need the simulator's REST endpoints (`/sapi/v1/margin/account`, `/openOrders`) and
//! its admin routes (`POST /admin/v1/accounts/{uid}/deposits`, `POST /admin/v1/orders`).

mod harness;

use harness::{Recorder, TestServer, builder, fast_options, without_positions};
use serde_json::{Value, json};
use std::time::Duration;
use userstream_client::{Backoff, MarginAccount, Options, Scope, Snapshot, Status};

/// `POST` to the admin API, which must accept it.
async fn admin(server: &TestServer, path: &str, body: Value) -> Value {
    let (status, answer) = server.admin_post(path, body).await;
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

/// Deposits `amount` of `asset` into user `uid`'s cross margin account.
async fn deposit(server: &TestServer, uid: u64, asset: &str, amount: &str) {
    let path = format!("/admin/v1/accounts/{uid}/deposits");
    admin(server, &path, json!({"asset": asset, "amount": amount})).await;
}

/// A number from a decimal string (tests only: compares amounts written differently).
fn amount(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// The cross account's (free, locked) of `asset`.
fn balance(snapshot: &Snapshot, asset: &str) -> (f64, f64) {
    let MarginAccount::Cross(account) = &snapshot.margin_account else {
        panic!("not a cross account: {snapshot:?}");
    };
    let found = account.user_assets.iter().find(|a| a.asset == asset);
    let held = found.unwrap_or_else(|| panic!("no {asset} in {snapshot:?}"));
    (amount(held.free.as_str()), amount(held.locked.as_str()))
}

#[tokio::test]
async fn a_snapshot_with_the_deposit_and_the_open_order_follows_the_subscription() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, key.uid, "USDT", "1000").await;
    let order = admin(
        &server,
        "/admin/v1/orders",
        json!({
            "uid": key.uid,
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.001",
            "price": "10000",
        }),
    )
    .await;
    let mut stream = Recorder::new(
        builder(&server, &key, fast_options())
            .secret(&key.secret)
            .cross()
            .start()
            .unwrap(),
    );
    let snapshot = stream.until_snapshot().await;
    // It follows the subscription, with nothing in between that it may not reflect.
    assert!(
        matches!(stream.statuses.last(), Some(Status::Subscribed { .. })),
        "{:?}",
        stream.statuses
    );
    assert!(stream.events.is_empty(), "{:?}", stream.events);
    assert_eq!(snapshot.account, Scope::Cross);
    assert_eq!(snapshot.taken_at_us.div_euclid(1000), server.now_ms());
    // 1000 USDT, of which the order's 10 are locked.
    let (free, locked) = balance(&snapshot, "USDT");
    assert_eq!((free + locked, locked), (1000.0, 10.0), "{snapshot:?}");
    let [open] = &snapshot.open_orders[..] else {
        panic!("not one open order: {:?}", snapshot.open_orders);
    };
    if let Some(id) = order["orderId"].as_i64() {
        assert_eq!(open.order_id, id);
    }
    assert_eq!(open.symbol, "BTCUSDT");
    assert_eq!(open.side.as_str(), "BUY");
    assert_eq!(
        (amount(open.price.as_str()), amount(open.orig_qty.as_str())),
        (10000.0, 0.001)
    );
    assert!(!open.is_isolated);
    // Events after it apply on top.
    deposit(&server, key.uid, "USDT", "5").await;
    while stream.events.is_empty() {
        stream.next().await;
    }
    assert_eq!(stream.snapshots.len(), 1);
    assert!(
        stream.count(|status| matches!(status, Status::SnapshotRetry { .. })) == 0,
        "{:?}",
        stream.statuses
    );
}

#[tokio::test]
async fn after_a_gap_a_fresh_snapshot_shows_what_changed_meanwhile() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    deposit(&server, key.uid, "USDT", "1000").await;
    // Against Binance every lost stretch is a gap; reconnects wait long enough for a deposit.
    let options = Options {
        reconnect_backoff: Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(200),
        },
        ..without_positions()
    };
    let mut stream = Recorder::new(
        builder(&server, &key, options)
            .secret(&key.secret)
            .cross()
            .start()
            .unwrap(),
    );
    let first = stream.until_snapshot().await;
    assert_eq!(balance(&first, "USDT"), (1000.0, 0.0));
    let (status, answer) = server
        .admin_post("/admin/v1/faults", json!({"kind": "drop", "uid": key.uid}))
        .await;
    assert_eq!(status, 200, "{answer}");
    // Missed while away.
    deposit(&server, key.uid, "USDT", "500").await;
    let gap = stream.until_gap().await;
    assert_eq!(gap.account, Scope::Cross);
    let second = stream.until_snapshot().await;
    assert_eq!(balance(&second, "USDT"), (1500.0, 0.0));
    assert_eq!(stream.snapshots.len(), 2);
}
