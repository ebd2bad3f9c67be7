//! The WebSocket API envelope: ids, methods, rate limits, bad input, handshake parameters.

mod common;

use common::TestServer;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn ids_are_echoed_with_their_json_type() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    let int = ws.raw_call(r#"{"id":42,"method":"ping"}"#).await;
    assert_eq!(int["id"], json!(42));
    let numeric_string = ws.raw_call(r#"{"id":"42","method":"ping"}"#).await;
    assert_eq!(numeric_string["id"], json!("42"));
    let uuid = ws
        .raw_call(r#"{"id":"d3df8a21-98ea-4fe0-8f4e-0fcea5d418b7","method":"ping","params":{}}"#)
        .await;
    assert_eq!(uuid["id"], json!("d3df8a21-98ea-4fe0-8f4e-0fcea5d418b7"));
    let null = ws.raw_call(r#"{"id":null,"method":"ping"}"#).await;
    assert_eq!(null["id"], json!(null));
    assert_eq!(null["status"], json!(200));
    assert_eq!(null["result"], json!({}));
}

#[tokio::test]
async fn methods_with_version_prefix_time_and_status() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    let time = ws.raw_call(r#"{"id":1,"method":"v3/time"}"#).await;
    assert_eq!(
        time["result"]["serverTime"].as_i64().unwrap(),
        server.now_ms()
    );
    let status = ws.call("session.status", json!({})).await;
    assert_eq!(
        status["result"],
        json!({
            "apiKey": null,
            "authorizedSince": null,
            "connectedSince": server.now_ms(),
            "returnRateLimits": true,
            "serverTime": server.now_ms(),
            "userDataStream": false,
        })
    );
    let subscriptions = ws.call("session.subscriptions", json!({})).await;
    assert_eq!(subscriptions["result"], json!([]));
}

#[tokio::test]
async fn rate_limits_count_weight_per_ip_and_can_be_switched_off() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    // Opening the connection cost 2; ping costs 1.
    let ping = ws.call("ping", json!({})).await;
    assert_eq!(
        ping["rateLimits"],
        json!([{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":3}])
    );
    // A second connection from the same IP shares the count.
    let mut other = server.ws().await;
    let status = other.call("session.status", json!({})).await;
    assert_eq!(status["rateLimits"][0]["count"], json!(7));
    let quiet = ws.call("ping", json!({"returnRateLimits": false})).await;
    assert!(quiet.get("rateLimits").is_none(), "{quiet}");

    let mut silent = server.ws_with("returnRateLimits=false").await;
    let ping = silent.call("ping", json!({})).await;
    assert!(ping.get("rateLimits").is_none(), "{ping}");
    let loud = silent.call("ping", json!({"returnRateLimits": true})).await;
    assert_eq!(loud["rateLimits"][0]["count"], json!(12));
    let status = silent.call("session.status", json!({})).await;
    assert_eq!(status["result"]["returnRateLimits"], json!(false));
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_connection_lives_on() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    let not_json = ws.raw_call("hello").await;
    assert_eq!(not_json["id"], json!(null));
    assert_eq!(not_json["status"], json!(400));
    assert_eq!(
        not_json["error"],
        json!({"code": -1135, "msg": "Invalid JSON Request"})
    );
    assert!(not_json["rateLimits"].is_array());

    ws.stream
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    let binary = ws.response().await;
    assert_eq!(binary["error"]["code"], json!(-1135));

    let missing_method = ws.raw_call(r#"{"id":5}"#).await;
    assert_eq!(
        (
            missing_method["id"].clone(),
            missing_method["error"]["code"].clone()
        ),
        (json!(5), json!(-1102))
    );
    let missing_id = ws.raw_call(r#"{"method":"ping"}"#).await;
    assert_eq!(missing_id["error"]["code"], json!(-1102));
    assert_eq!(
        missing_id["error"]["msg"],
        json!("Mandatory parameter 'id' was not sent, was empty/null, or malformed.")
    );
    let unknown = ws.raw_call(r#"{"id":"u","method":"order.place"}"#).await;
    assert_eq!(
        (unknown["status"].clone(), unknown["error"]["code"].clone()),
        (json!(400), json!(-1013))
    );
    let extra = ws.call("ping", json!({"foo": 1})).await;
    assert_eq!(extra["error"]["code"], json!(-1103));
    let no_token = ws
        .call("userDataStream.subscribe.listenToken", json!({}))
        .await;
    assert_eq!(no_token["error"]["code"], json!(-1102));
    assert_eq!(
        no_token["error"]["msg"],
        json!("Mandatory parameter 'listenToken' was not sent, was empty/null, or malformed.")
    );
    let bad_id = ws
        .call("userDataStream.unsubscribe", json!({"subscriptionId": "x"}))
        .await;
    assert_eq!(bad_id["error"]["code"], json!(-1100));

    // Still healthy.
    assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    let errors = server.metrics().await;
    assert!(
        errors.contains("userstream_errors_total{code=\"-1135\"} 2"),
        "{errors}"
    );
}

#[tokio::test]
async fn oversized_frames_close_with_1009_and_spare_other_connections() {
    let server = TestServer::start_with(|config| config.ws.max_frame_bytes = 2048).await;
    let mut big = server.ws().await;
    let mut bystander = server.ws().await;
    let huge = format!(
        r#"{{"id":1,"method":"ping","params":{{"x":"{}"}}}}"#,
        "a".repeat(4096)
    );
    big.send_text(&huge).await;
    assert_eq!(big.close_frame().await.0, 1009);
    assert_eq!(
        bystander.call("ping", json!({})).await["status"],
        json!(200)
    );
}

#[tokio::test]
async fn handshake_refuses_bad_time_unit_and_accepts_microseconds() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/ws-api/v3?timeUnit=NANOSECOND"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!(-1194));

    let url = format!(
        "ws://{}/ws-api/v3?timeUnit=SECOND",
        server.server.public_addr
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], json!(-1194));
        }
        other => panic!("handshake should fail with HTTP 400, got {other:?}"),
    }

    let mut ws = server.ws_with("timeUnit=microsecond").await;
    let time = ws.call("time", json!({})).await;
    assert_eq!(
        time["result"]["serverTime"].as_i64().unwrap(),
        server.now_ms() * 1000
    );
}

#[tokio::test]
async fn client_pings_are_answered() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    ws.stream
        .send(Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    match ws.next_message().await {
        Some(Message::Pong(payload)) => assert_eq!(&payload[..], b"hi"),
        other => panic!("expected a pong, got {other:?}"),
    }
    ws.stream
        .send(Message::Pong(b"unsolicited".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
}

#[tokio::test]
async fn new_connections_are_limited_per_ip() {
    let server = TestServer::start_with(|config| config.limits.connections_per_window = 2).await;
    let _first = server.ws_from("127.0.0.1").await.unwrap();
    let _second = server.ws_from("127.0.0.1").await.unwrap();
    assert_eq!(server.ws_from("127.0.0.1").await.err(), Some(429));
    // Another address has its own budget, and the window resets after 5 minutes.
    let mut other = server.ws_from("127.0.0.2").await.unwrap();
    assert_eq!(other.call("ping", json!({})).await["status"], json!(200));
    server.advance_ms(300_000);
    assert!(server.ws_from("127.0.0.1").await.is_ok());
}

#[tokio::test]
async fn request_weight_over_the_limit_answers_429_and_spares_other_ips() {
    let server = TestServer::start_with(|config| {
        config.limits.request_weight_per_minute = 6;
        // This test moves the clock a minute on without answering pings.
        config.ws.pong_timeout_ms = 3_600_000;
    })
    .await;
    let mut heavy = server.ws_from("127.0.0.1").await.unwrap();
    for _ in 0..4 {
        assert_eq!(heavy.call("ping", json!({})).await["status"], json!(200));
    }
    let refused = heavy.call("ping", json!({})).await;
    assert_eq!(refused["status"], json!(429));
    assert_eq!(refused["error"]["code"], json!(-1003));
    assert_eq!(refused["rateLimits"][0]["count"], json!(7));
    let mut light = server.ws_from("127.0.0.3").await.unwrap();
    assert_eq!(light.call("ping", json!({})).await["status"], json!(200));
    server.advance_ms(60_000);
    assert_eq!(heavy.call("ping", json!({})).await["status"], json!(200));
}

#[tokio::test]
async fn ignoring_429s_gets_the_ip_banned_with_418() {
    let server = TestServer::start_with(|config| {
        config.limits.request_weight_per_minute = 4;
        config.limits.ban_after_rejections = 3;
        config.limits.ban_ms = 120_000;
        config.ws.pong_timeout_ms = 3_600_000;
    })
    .await;
    let mut abuser = server.ws_from("127.0.0.1").await.unwrap();
    assert_eq!(abuser.call("ping", json!({})).await["status"], json!(200));
    assert_eq!(abuser.call("ping", json!({})).await["status"], json!(200));
    // ban_after_rejections 429s, then the ban.
    for _ in 0..3 {
        let refused = abuser.call("ping", json!({})).await;
        assert_eq!(refused["status"], json!(429));
        let data = &refused["error"]["data"];
        assert_eq!(data["serverTime"], json!(server.now_ms()));
        assert!(data["retryAfter"].as_i64().unwrap() > server.now_ms());
    }
    let banned = abuser.call("ping", json!({})).await;
    assert_eq!(banned["status"], json!(418));
    assert_eq!(banned["error"]["code"], json!(-1003));
    let until = server.now_ms() + 120_000;
    assert_eq!(
        banned["error"]["data"],
        json!({"serverTime": server.now_ms(), "retryAfter": until})
    );
    // Still banned on the next request, and at the handshake; other IPs are fine.
    assert_eq!(abuser.call("time", json!({})).await["status"], json!(418));
    assert_eq!(server.ws_from("127.0.0.1").await.err(), Some(418));
    let mut neighbour = server.ws_from("127.0.0.4").await.unwrap();
    assert_eq!(
        neighbour.call("ping", json!({})).await["status"],
        json!(200)
    );
    // The ban lifts.
    server.advance_ms(120_000);
    assert_eq!(abuser.call("ping", json!({})).await["status"], json!(200));
}

/// The handshake, the WebSocket API and the token endpoint follow one rule: after
/// `ban_after_rejections` answers of 429, the address gets 418 everywhere.
#[tokio::test]
async fn every_way_in_bans_after_the_same_number_of_429s() {
    let server = TestServer::start_with(|config| {
        config.limits.connections_per_window = 1;
        config.limits.sapi_uid_weight_per_minute = 1;
        config.limits.ban_after_rejections = 3;
    })
    .await;
    let _first = server.ws_from("127.0.0.5").await.unwrap();
    let statuses: Vec<_> = futures_util::future::join_all(
        (0..4).map(|_| async { server.ws_from("127.0.0.5").await.err() }),
    )
    .await;
    let mut statuses: Vec<_> = statuses.into_iter().flatten().collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [418, 429, 429, 429]);

    // The token endpoint, from 127.0.0.1 (reqwest's source address).
    let key = server.create_key(&[]).await;
    assert_eq!(server.request_token(Some(&key.api_key), "").await.0, 200);
    for _ in 0..3 {
        let (status, body, headers) = server.request_token(Some(&key.api_key), "").await;
        assert_eq!(
            (status, body["code"].clone()),
            (429, json!(-1003)),
            "{body}"
        );
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    let (status, body, headers) = server.request_token(Some(&key.api_key), "").await;
    assert_eq!(status, 418, "{body}");
    assert!(
        body["msg"].as_str().unwrap().contains("IP banned until"),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "120");
    // Banned whatever key is sent, or none; and on the WebSocket API too.
    for api_key in [None, Some("nope")] {
        assert_eq!(server.request_token(api_key, "").await.0, 418);
    }
    assert_eq!(server.ws_from("127.0.0.1").await.err(), Some(418));
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007_and_spares_others() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let server = TestServer::start().await;
    let mut bad = server.ws().await;
    let mut bystander = server.ws().await;
    let frame = Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true);
    bad.stream.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(bad.close_frame().await.0, 1007);
    assert_eq!(
        bystander.call("ping", json!({})).await["status"],
        json!(200)
    );
}
