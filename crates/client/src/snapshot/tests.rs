//! Signing and reading against a real HTTP server on loopback that checks every request the
//! way Binance does and answers with Binance's documented examples.

use super::*;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, Mutex};
use userstream_protocol::signature::hmac_sha256_hex;

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const NOW_US: i64 = 1_700_000_000_123_456;

/// Binance's example of `GET /sapi/v1/margin/account`.
const CROSS: &str = r#"{"created":true,"borrowEnabled":true,"marginLevel":"11.64405625",
    "collateralMarginLevel":"3.2","totalAssetOfBtc":"6.82728457",
    "totalLiabilityOfBtc":"0.58633215","totalNetAssetOfBtc":"6.24095242",
    "TotalCollateralValueInUSDT":"5.82728457","totalOpenOrderLossInUsdt":"582.728457",
    "tradeEnabled":true,"transferInEnabled":true,"transferOutEnabled":true,
    "accountType":"MARGIN_1","userAssets":[{"asset":"BTC","borrowed":"0.00000000",
    "free":"0.00499500","interest":"0.00000000","locked":"0.00000000",
    "netAsset":"0.00499500"},{"asset":"BNB","borrowed":"201.66666672",
    "free":"2346.50000000","interest":"0.00000000","locked":"0.00000000",
    "netAsset":"2144.83333328"}]}"#;

/// Binance's example of `GET /sapi/v1/margin/isolated/account?symbols=…` (symbols named: no
/// totals).
const ISOLATED: &str = r#"{"assets":[{"baseAsset":{"asset":"BTC","borrowEnabled":true,
    "borrowed":"0.00000000","free":"0.00000000","interest":"0.00000000","locked":"0.00000000",
    "netAsset":"0.00000000","netAssetOfBtc":"0.00000000","repayEnabled":true,
    "totalAsset":"0.00000000"},"quoteAsset":{"asset":"USDT","borrowEnabled":true,
    "borrowed":"0.00000000","free":"0.00000000","interest":"0.00000000","locked":"0.00000000",
    "netAsset":"0.00000000","netAssetOfBtc":"0.00000000","repayEnabled":true,
    "totalAsset":"0.00000000"},"symbol":"BTCUSDT","isolatedCreated":true,"enabled":true,
    "marginLevel":"0.00000000","marginLevelStatus":"EXCESSIVE","marginRatio":"0.00000000",
    "indexPrice":"10000.00000000","liquidatePrice":"1000.00000000",
    "liquidateRate":"1.00000000","tradeEnabled":true}]}"#;

/// Binance's example of `GET /sapi/v1/margin/openOrders`.
const OPEN_ORDERS: &str = r#"[{"clientOrderId":"qhcZw71gAkCCTv0t0k8LUK",
    "cummulativeQuoteQty":"0.00000000","executedQty":"0.00000000","icebergQty":"0.00000000",
    "isWorking":true,"orderId":211842552,"origQty":"0.30000000","price":"0.00475010",
    "side":"SELL","status":"NEW","stopPrice":"0.00000000","symbol":"BNBBTC",
    "isIsolated":true,"time":1562040170089,"timeInForce":"GTC","type":"LIMIT",
    "selfTradePreventionMode":"NONE","updateTime":1562040170089}]"#;

/// What the server was asked: (path, query as received).
type Asked = Arc<Mutex<Vec<(&'static str, String)>>>;

/// Checks a request as Binance does: the key header, then the signature over the raw query
/// before `&signature=`, the timestamp and the recvWindow.
fn check(headers: &HeaderMap, query: &str) -> Result<(), (StatusCode, String)> {
    let refuse = |status: StatusCode, code: i32, msg: &str| {
        Err((status, format!(r#"{{"code":{code},"msg":"{msg}"}}"#)))
    };
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return refuse(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key.");
    }
    let Some((payload, signature)) = query.rsplit_once("&signature=") else {
        return refuse(StatusCode::BAD_REQUEST, -1102, "signature missing");
    };
    if hmac_sha256_hex(SECRET.as_bytes(), payload.as_bytes()).as_deref() != Some(signature) {
        return refuse(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        );
    }
    let ends = format!("recvWindow=5000&timestamp={}", NOW_US / 1000);
    if !payload.ends_with(&ends) {
        return refuse(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp outside recvWindow.",
        );
    }
    Ok(())
}

fn answer(
    path: &'static str,
    body: &'static str,
) -> impl Fn(State<Asked>, HeaderMap, RawQuery) -> std::future::Ready<Response> + Clone {
    move |State(asked): State<Asked>, headers: HeaderMap, RawQuery(query): RawQuery| {
        let query = query.unwrap_or_default();
        asked.lock().unwrap().push((path, query.clone()));
        std::future::ready(match check(&headers, &query) {
            Ok(()) => ([("content-type", "application/json")], body).into_response(),
            Err(refusal) => refusal.into_response(),
        })
    }
}

/// A Binance-like REST server on 127.0.0.1:0, under `prefix`; what it was asked.
async fn serve(prefix: &str) -> (Url, Asked) {
    let asked = Asked::default();
    let routes = Router::new()
        .route(CROSS_ACCOUNT_PATH, get(answer(CROSS_ACCOUNT_PATH, CROSS)))
        .route(
            ISOLATED_ACCOUNT_PATH,
            get(answer(ISOLATED_ACCOUNT_PATH, ISOLATED)),
        )
        .route(OPEN_ORDERS_PATH, get(answer(OPEN_ORDERS_PATH, OPEN_ORDERS)))
        .route(
            "/sapi/v1/teapot",
            get(|| async { (StatusCode::IM_A_TEAPOT, "<html>no</html>") }),
        );
    let app = if prefix.is_empty() {
        routes
    } else {
        Router::new().nest(prefix, routes)
    }
    .with_state(Arc::clone(&asked));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = Url::parse(&format!("http://{addr}{prefix}")).unwrap();
    (base, asked)
}

fn client(base: &Url, secret: &str) -> SnapshotClient {
    SnapshotClient::new(reqwest::Client::new(), base, KEY.into(), secret.into())
}

#[tokio::test]
async fn a_cross_snapshot_is_signed_and_read() {
    let (base, asked) = serve("").await;
    let snapshot = client(&base, SECRET)
        .fetch(&Scope::Cross, NOW_US)
        .await
        .unwrap();
    assert_eq!(snapshot.account, Scope::Cross);
    assert_eq!(snapshot.taken_at_us, NOW_US);
    let MarginAccount::Cross(account) = &snapshot.margin_account else {
        panic!("not a cross account: {snapshot:?}");
    };
    assert_eq!(account.user_assets[1].asset, "BNB");
    assert_eq!(account.user_assets[1].borrowed.as_str(), "201.66666672");
    assert_eq!(snapshot.open_orders.len(), 1);
    assert_eq!(snapshot.open_orders[0].order_id, 211_842_552);
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    let stamp = "recvWindow=5000&timestamp=1700000000123";
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0].0, CROSS_ACCOUNT_PATH);
    assert!(asked[0].1.starts_with(&format!("{stamp}&signature=")));
    // Cross: every open order, no symbol.
    assert_eq!(asked[1].0, OPEN_ORDERS_PATH);
    assert!(asked[1].1.starts_with(&format!("{stamp}&signature=")));
}

#[tokio::test]
async fn an_isolated_snapshot_names_its_pair_under_a_path_prefix() {
    let (base, asked) = serve("/gw").await;
    let account = Scope::Isolated("BTCUSDT".into());
    let snapshot = client(&base, SECRET).fetch(&account, NOW_US).await.unwrap();
    let MarginAccount::Isolated(pair) = &snapshot.margin_account else {
        panic!("not an isolated account: {snapshot:?}");
    };
    assert_eq!(pair.symbol, "BTCUSDT");
    assert_eq!(pair.quote_asset.asset, "USDT");
    assert_eq!(pair.margin_level_status, "EXCESSIVE");
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    assert!(
        asked[0]
            .1
            .starts_with("symbols=BTCUSDT&recvWindow=5000&timestamp=1700000000123&signature="),
        "{asked:?}"
    );
    assert!(
        asked[1].1.starts_with(
            "symbol=BTCUSDT&isIsolated=TRUE&recvWindow=5000&timestamp=1700000000123&signature="
        ),
        "{asked:?}"
    );
    // A pair the answer does not hold is a bad answer, not a panic.
    let error = client(&base, SECRET)
        .fetch(&Scope::Isolated("ETHUSDT".into()), NOW_US)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SnapshotError::BadAnswer { status: 200, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn failures_are_told_apart_and_never_quote_the_secret() {
    let (base, _) = serve("").await;
    let error = client(&base, "wrong-secret")
        .fetch(&Scope::Cross, NOW_US)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            SnapshotError::Refused {
                status: 400,
                code: -1022,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("wrong-secret"));
    // Something that is not Binance at all.
    let teapot = client(&base, SECRET)
        .get::<Vec<MarginOrder>>("/sapi/v1/teapot", &[], 1)
        .await
        .unwrap_err();
    assert_eq!(
        teapot,
        SnapshotError::BadAnswer {
            path: "/sapi/v1/teapot",
            status: 418,
            body: "<html>no</html>".into()
        }
    );
    // Nobody listening.
    let closed = Url::parse("http://127.0.0.1:1").unwrap();
    let error = client(&closed, SECRET)
        .fetch(&Scope::Cross, NOW_US)
        .await
        .unwrap_err();
    assert!(matches!(error, SnapshotError::Transport { .. }), "{error}");
    let shown = format!("{:?}", client(&base, SECRET));
    assert!(!shown.contains(SECRET) && !shown.contains(KEY), "{shown}");
}

#[test]
fn answers_are_classified() {
    let parse = |status, body: &str| parse_answer::<Vec<MarginOrder>>("/p", status, body, None);
    assert_eq!(parse(200, "[]"), Ok(Vec::new()));
    // Binance's error body, whatever the status.
    assert!(matches!(
        parse(200, r#"{"code":-1021,"msg":"late"}"#),
        Err(SnapshotError::Refused { code: -1021, .. })
    ));
    let Err(SnapshotError::BadAnswer { body, .. }) = parse(200, "{}") else {
        panic!("a 200 of the wrong shape is a bad answer");
    };
    assert!(body.starts_with("unexpected answer"), "{body}");
    let retry = parse_answer::<Vec<MarginOrder>>(
        "/p",
        429,
        r#"{"code":-1003,"msg":"slow down"}"#,
        Some(Duration::from_secs(7)),
    );
    assert_eq!(
        retry.unwrap_err().retry_after(),
        Some(Duration::from_secs(7))
    );
}

#[test]
fn the_query_is_params_then_recv_window_then_the_signature() {
    let query = signed_query(&[("symbol", "BNBBTC"), ("isIsolated", "TRUE")], SECRET, 5);
    let (payload, signature) = query.split_once("&signature=").unwrap();
    assert_eq!(
        payload,
        "symbol=BNBBTC&isIsolated=TRUE&recvWindow=5000&timestamp=5"
    );
    assert_eq!(
        hmac_sha256_hex(SECRET.as_bytes(), payload.as_bytes()).as_deref(),
        Some(signature)
    );
}
