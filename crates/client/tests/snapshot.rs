//! Snapshots against the real gateway and its margin simulator: with the API secret the client
//! reads the margin account and its open orders over REST (signed, as from Binance) once the
//! subscription is answered, on start and after a gap, and yields them ahead of the events
//! they may not reflect.
//!
//! All but the first test need the simulator's REST endpoints (`/sapi/v1/margin/account`,
//! `/openOrders`) and its admin routes (`POST /admin/v1/accounts/{uid}/deposits`,
//! `POST /admin/v1/orders`). The first puts a stand-in for them in front of the gateway.

mod harness;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use harness::{Recorder, TestServer, balance_update, builder, fast_options, without_positions};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use userstream_client::{
    Backoff, Endpoints, Event, Item, MarginAccount, Options, Scope, Snapshot, SnapshotError, Status,
};
use userstream_protocol::signature::hmac_sha256_hex;

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

/// A REST root in front of the gateway: token requests pass through to it; the snapshot's
/// endpoints check the signature as Binance does and answer for a cross account holding 1000
/// USDT, except the first account request, which fails with a 500.
struct StandIn {
    gateway: String,
    secret: String,
    now_ms: Box<dyn Fn() -> i64 + Send + Sync>,
    account_requests: AtomicU32,
    http: reqwest::Client,
}

impl StandIn {
    /// The signature over the query before `&signature=`, and the timestamp on the shared
    /// clock.
    fn refusal(&self, query: &str) -> Option<Response> {
        let signed = query
            .rsplit_once("&signature=")
            .and_then(|(payload, signature)| {
                let expected = hmac_sha256_hex(self.secret.as_bytes(), payload.as_bytes())?;
                let stamp = format!("recvWindow=5000&timestamp={}", (self.now_ms)());
                (expected == signature && payload.ends_with(&stamp)).then_some(())
            });
        signed.is_none().then(|| {
            let body = r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#;
            (StatusCode::BAD_REQUEST, body).into_response()
        })
    }
}

async fn pass_token_request(
    State(stand_in): State<Arc<StandIn>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let url = format!(
        "{}/sapi/v1/userListenToken?{}",
        stand_in.gateway,
        query.unwrap_or_default()
    );
    let mut request = stand_in.http.post(url);
    if let Some(key) = headers.get("x-mbx-apikey") {
        request = request.header("x-mbx-apikey", key);
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let extensions = answer
        .headers()
        .get("x-userstream-extensions")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = answer.text().await.unwrap();
    (status, [("x-userstream-extensions", extensions)], body).into_response()
}

async fn cross_account(
    State(stand_in): State<Arc<StandIn>>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refusal) = stand_in.refusal(&query.unwrap_or_default()) {
        return refusal;
    }
    if stand_in.account_requests.fetch_add(1, Ordering::SeqCst) == 0 {
        let body = r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#;
        return (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    }
    let body = r#"{"created":true,"borrowEnabled":true,"marginLevel":"999.00000000",
        "totalAssetOfBtc":"0.01000000","totalLiabilityOfBtc":"0.00000000",
        "totalNetAssetOfBtc":"0.01000000","tradeEnabled":true,"transferInEnabled":true,
        "transferOutEnabled":true,"userAssets":[{"asset":"USDT","borrowed":"0.00000000",
        "free":"1000.00000000","interest":"0.00000000","locked":"0.00000000",
        "netAsset":"1000.00000000"}]}"#;
    ([("content-type", "application/json")], body).into_response()
}

async fn open_orders(State(stand_in): State<Arc<StandIn>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    if let Some(refusal) = stand_in.refusal(&query) {
        return refusal;
    }
    // Cross: every open order, so no symbol.
    assert!(!query.contains("symbol"), "{query}");
    ([("content-type", "application/json")], "[]").into_response()
}

#[tokio::test]
async fn a_failed_snapshot_is_said_and_retried_and_the_snapshot_comes_before_later_events() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let clock = server.clock.clone();
    let stand_in = Arc::new(StandIn {
        gateway: server.url(""),
        secret: key.secret.clone(),
        now_ms: Box::new(move || {
            use userstream_server::Clock;
            clock.now_ms()
        }),
        account_requests: AtomicU32::new(0),
        http: reqwest::Client::new(),
    });
    let app = Router::new()
        .route("/sapi/v1/userListenToken", post(pass_token_request))
        .route("/sapi/v1/margin/account", get(cross_account))
        .route("/sapi/v1/margin/openOrders", get(open_orders))
        .with_state(Arc::clone(&stand_in));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let gateway = Endpoints::local(&server.url("")).unwrap();
    let endpoints = Endpoints::new(&rest, gateway.ws.as_str()).unwrap();
    let mut stream = Recorder::new(
        builder(&server, &key, fast_options())
            .endpoints(endpoints)
            .secret(&key.secret)
            .cross()
            .start()
            .unwrap(),
    );
    let failed = stream
        .until_status(|status| matches!(status, Status::SnapshotRetry { .. }))
        .await;
    let Status::SnapshotRetry {
        account,
        attempt: 1,
        error:
            SnapshotError::Refused {
                status: 500,
                code: -1001,
                ..
            },
        ..
    } = &failed
    else {
        panic!("{failed:?}");
    };
    assert_eq!(*account, Scope::Cross);
    assert!(
        failed
            .to_string()
            .starts_with("cross: snapshot failed (attempt 1, retry in "),
        "{failed}"
    );
    let snapshot = stream.until_snapshot().await;
    assert_eq!(balance(&snapshot, "USDT"), (1000.0, 0.0));
    assert!(snapshot.open_orders.is_empty());
    assert_eq!(stand_in.account_requests.load(Ordering::SeqCst), 2);
    // Events come after it.
    server.publish(key.uid, None, balance_update("7")).await;
    match stream.next().await {
        Item::Event(event) => assert!(matches!(event.event, Event::BalanceUpdate(_))),
        other => panic!("{other:?}"),
    }
    assert!(
        stream
            .statuses
            .iter()
            .all(|status| !matches!(status, Status::Terminated(_)))
    );
}
