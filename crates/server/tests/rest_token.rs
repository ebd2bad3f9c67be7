//! `POST /sapi/v1/userListenToken` and the supporting REST endpoints, over real HTTP.

mod common;

use common::{Key, TestServer};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: i64, msg: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body, &json!({ "code": code, "msg": msg }));
}

/// A 200 answer whose token expires `validity_ms` from now.
fn assert_issued(server: &TestServer, status: u16, body: &Value, validity_ms: i64) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["expirationTime"].as_i64().unwrap(),
        server.now_ms() + validity_ms
    );
}

async fn setup() -> (TestServer, Key) {
    let server = TestServer::start().await;
    let key = server.create_key(&["BNBUSDT"]).await;
    (server, key)
}

#[tokio::test]
async fn cross_token_with_default_validity_and_weight_header() {
    let (server, key) = setup().await;
    let (status, body, headers) = server.request_token(Some(&key.api_key), "").await;
    assert_issued(&server, status, &body, 86_400_000);
    let token = body["token"].as_str().unwrap();
    assert!(!token.is_empty() && token.len() < 200);
    assert_eq!(headers["x-sapi-used-uid-weight-1m"], "1");
    let (_, _, headers) = server
        .request_token(Some(&key.api_key), "isIsolated=FALSE")
        .await;
    assert_eq!(headers["x-sapi-used-uid-weight-1m"], "2");
}

/// The stream positions extension is announced on every token that is issued, and only there:
/// a refusal (Binance's shape) carries no extension header.
#[tokio::test]
async fn issued_tokens_announce_the_stream_positions_extension() {
    let (server, key) = setup().await;
    let (status, _, headers) = server.request_token(Some(&key.api_key), "").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-userstream-extensions"], "streamPositions");
    let (status, _, headers) = server
        .request_token(Some(&key.api_key), "isIsolated=true&symbol=BNBUSDT")
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-userstream-extensions"], "streamPositions");
    let (status, _, headers) = server.request_token(Some(&key.api_key), "validity=0").await;
    assert_eq!(status, 400);
    assert!(headers.get("x-userstream-extensions").is_none());
    let (status, _, headers) = server.request_token(None, "").await;
    assert_eq!(status, 401);
    assert!(headers.get("x-userstream-extensions").is_none());
}

#[tokio::test]
async fn isolated_token_and_explicit_validity() {
    let (server, key) = setup().await;
    let (status, body, _) = server
        .request_token(
            Some(&key.api_key),
            "isIsolated=TRUE&symbol=BNBUSDT&validity=60000",
        )
        .await;
    assert_issued(&server, status, &body, 60_000);
    // Params may travel in a form body too.
    let (status, body, _) = server
        .request_token_with_body(
            Some(&key.api_key),
            "",
            "isIsolated=true&symbol=BNBUSDT&validity=1",
        )
        .await;
    assert_issued(&server, status, &body, 1);
}

#[tokio::test]
async fn api_key_errors() {
    let (server, key) = setup().await;
    let (status, body, _) = server.request_token(None, "").await;
    assert_error(status, &body, 401, -2014, "API-key format invalid.");
    let (status, body, _) = server.request_token(Some("not-a-key"), "").await;
    assert_error(status, &body, 401, -2014, "API-key format invalid.");
    let unknown = "A".repeat(64);
    let (status, body, _) = server.request_token(Some(&unknown), "").await;
    assert_error(
        status,
        &body,
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    );
    assert_eq!(server.revoke(&key.api_key).await.0, 200);
    let (status, body, _) = server.request_token(Some(&key.api_key), "").await;
    assert_error(
        status,
        &body,
        401,
        -2015,
        "Invalid API-key, IP, or permissions for action.",
    );
}

#[tokio::test]
async fn parameter_errors_match_the_contract_table() {
    let (server, key) = setup().await;
    let other = server.create_key(&[]).await;
    let cases: &[(&Key, &str, u16, i64, &str)] = &[
        (
            &key,
            "isIsolated=true",
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            &key,
            "isIsolated=true&symbol=",
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            &key,
            "validity=abc",
            400,
            -1130,
            "Data sent for parameter 'validity' is not valid.",
        ),
        (
            &key,
            "validity=0",
            400,
            -1130,
            "Data sent for parameter 'validity' is not valid.",
        ),
        (
            &key,
            "validity=-5",
            400,
            -1130,
            "Data sent for parameter 'validity' is not valid.",
        ),
        (
            &key,
            "validity=86400001",
            400,
            -1130,
            "Data sent for parameter 'validity' is not valid.",
        ),
        (
            &key,
            "validity=1.5",
            400,
            -1130,
            "Data sent for parameter 'validity' is not valid.",
        ),
        (
            &key,
            "isIsolated=yes",
            400,
            -1130,
            "Data sent for parameter 'isIsolated' is not valid.",
        ),
        (
            &key,
            "isIsolated=true&symbol=NOPEUSDT",
            400,
            -1121,
            "Invalid symbol.",
        ),
        (
            &other,
            "isIsolated=true&symbol=BNBUSDT",
            400,
            -3003,
            "Margin account does not exist.",
        ),
        (
            &key,
            "validity=1000&validity=2000",
            400,
            -1101,
            "Duplicate values for a parameter detected.",
        ),
        (
            &key,
            "foo=bar",
            400,
            -1103,
            "An unknown parameter was sent.",
        ),
    ];
    for (key, query, status_want, code, msg) in cases {
        let (status, body, _) = server.request_token(Some(&key.api_key), query).await;
        assert_eq!(
            (status, &body),
            (*status_want, &json!({"code": code, "msg": msg})),
            "query {query}"
        );
    }
    // Validity at the maximum is accepted.
    let (status, _, _) = server
        .request_token(Some(&key.api_key), "validity=86400000")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn query_wins_over_body_and_duplicates_within_the_body_are_refused() {
    let (server, key) = setup().await;
    let (status, body, _) = server
        .request_token_with_body(Some(&key.api_key), "validity=1000", "validity=5000")
        .await;
    assert_issued(&server, status, &body, 1000);
    let (status, body, _) = server
        .request_token_with_body(Some(&key.api_key), "", "validity=1&validity=2")
        .await;
    assert_error(
        status,
        &body,
        400,
        -1101,
        "Duplicate values for a parameter detected.",
    );
}

#[tokio::test]
async fn signed_requests_in_query_body_or_both() {
    let (server, key) = setup().await;
    let now = server.now_ms();
    // Query string, insertion order.
    let query = format!("validity=60000&timestamp={now}");
    let signed = format!("{query}&signature={}", sign(&key.secret, &query));
    let (status, body, _) = server.request_token(Some(&key.api_key), &signed).await;
    assert_eq!(status, 200, "{body}");
    // Sorted form body, upper-case hex.
    let form = format!("isIsolated=true&recvWindow=10000&symbol=BNBUSDT&timestamp={now}");
    let signed = format!(
        "{form}&signature={}",
        sign(&key.secret, &form).to_uppercase()
    );
    let (status, body, _) = server
        .request_token_with_body(Some(&key.api_key), "", &signed)
        .await;
    assert_eq!(status, 200, "{body}");
    // Split: totalParams = query + body, signature last in the body.
    let query = "validity=1000";
    let form = format!("timestamp={now}");
    let signature = sign(&key.secret, &format!("{query}{form}"));
    let (status, body, _) = server
        .request_token_with_body(
            Some(&key.api_key),
            query,
            &format!("{form}&signature={signature}"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn signature_and_timestamp_errors() {
    let (server, key) = setup().await;
    let now = server.now_ms();
    let query = format!("timestamp={now}");
    let wrong = format!("{query}&signature={}", sign("another secret", &query));
    let (status, body, _) = server.request_token(Some(&key.api_key), &wrong).await;
    assert_error(
        status,
        &body,
        400,
        -1022,
        "Signature for this request is not valid.",
    );

    let old = format!("timestamp={}", now - 6_000);
    let stale = format!("{old}&signature={}", sign(&key.secret, &old));
    let (status, body, _) = server.request_token(Some(&key.api_key), &stale).await;
    assert_error(
        status,
        &body,
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    );

    let ahead = format!("timestamp={}", now + 5_000);
    let early = format!("{ahead}&signature={}", sign(&key.secret, &ahead));
    let (status, body, _) = server.request_token(Some(&key.api_key), &early).await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (400, Some(-1021)),
        "{body}"
    );

    let window = format!("timestamp={now}&recvWindow=70000");
    let too_wide = format!("{window}&signature={}", sign(&key.secret, &window));
    let (status, body, _) = server.request_token(Some(&key.api_key), &too_wide).await;
    assert_error(
        status,
        &body,
        400,
        -1131,
        "recvWindow must be less than 60000",
    );

    let unsigned_time = format!("signature={}", sign(&key.secret, ""));
    let (status, body, _) = server
        .request_token(Some(&key.api_key), &unsigned_time)
        .await;
    assert_error(
        status,
        &body,
        400,
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    );
}

#[tokio::test]
async fn uid_weight_limit_answers_429() {
    let server =
        TestServer::start_with(|config| config.limits.sapi_uid_weight_per_minute = 2).await;
    let key = server.create_key(&[]).await;
    for _ in 0..2 {
        assert_eq!(server.request_token(Some(&key.api_key), "").await.0, 200);
    }
    let (status, body, headers) = server.request_token(Some(&key.api_key), "").await;
    assert_eq!(
        (status, body["code"].as_i64()),
        (429, Some(-1003)),
        "{body}"
    );
    assert_eq!(headers["x-sapi-used-uid-weight-1m"], "3");
    // A new minute resets the window.
    server.advance_ms(60_000);
    assert_eq!(server.request_token(Some(&key.api_key), "").await.0, 200);
}

#[tokio::test]
async fn supporting_endpoints() {
    let (server, key) = setup().await;
    let get = |path: &str| server.http.get(server.url(path)).send();
    assert_eq!(
        get("/api/v3/ping")
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!({})
    );
    let time: Value = get("/api/v3/time").await.unwrap().json().await.unwrap();
    assert_eq!(time["serverTime"].as_i64().unwrap(), server.now_ms());
    let info: Value = get("/api/v3/exchangeInfo")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let symbols = info["symbols"].as_array().unwrap();
    let bnb = symbols.iter().find(|s| s["symbol"] == "BNBUSDT").unwrap();
    assert_eq!(
        (bnb["baseAsset"].as_str(), bnb["quoteAsset"].as_str()),
        (Some("BNB"), Some("USDT"))
    );
    assert_eq!(bnb["isMarginTradingAllowed"], json!(true));
    assert_eq!(info["rateLimits"][0]["limit"], json!(6000));
    assert_eq!(
        info["rateLimits"][1],
        json!({"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": 300})
    );
    let wrong_method = server
        .http
        .get(server.url("/sapi/v1/userListenToken"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["code"], json!(-1000));
    let one: Value = get("/api/v3/exchangeInfo?symbol=ETHBTC")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["symbols"].as_array().unwrap().len(), 1);

    // USER_DATA pairs need a signature.
    let query = format!("timestamp={}", server.now_ms());
    let signed = format!("{query}&signature={}", sign(&key.secret, &query));
    for path in [
        "/sapi/v1/margin/allPairs",
        "/sapi/v1/margin/isolated/allPairs",
    ] {
        let response = server
            .http
            .get(server.url(&format!("{path}?{signed}")))
            .header("X-MBX-APIKEY", &key.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let pairs: Value = response.json().await.unwrap();
        assert!(
            pairs
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["symbol"] == "BNBUSDT" && p["base"] == "BNB")
        );
        let unsigned = server
            .http
            .get(server.url(path))
            .header("X-MBX-APIKEY", &key.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 400);
    }
}

#[tokio::test]
async fn retired_listen_key_endpoints_are_gone() {
    let (server, key) = setup().await;
    for path in [
        "/sapi/v1/userDataStream",
        "/sapi/v1/userDataStream/isolated",
    ] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ] {
            let response = server
                .http
                .request(method, server.url(path))
                .header("X-MBX-APIKEY", &key.api_key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 410);
            let body: Value = response.json().await.unwrap();
            assert!(body["msg"].as_str().unwrap().contains("userListenToken"));
        }
    }
}
