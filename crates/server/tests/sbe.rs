//! SBE sessions over real sockets: the handshake table, responses inside `WebSocketResponse`,
//! events as bare binary frames with their `subscriptionId`, deprecated versions, and what the
//! schema cannot carry.

mod common;

use common::{TestServer, WsClient, balance_update};
use serde_json::json;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;
use userstream_protocol::sbe::events::{DecodedEvent, decode_event};
use userstream_protocol::sbe::responses::{Outcome, Response, read_response};
use userstream_protocol::ws::{Answer, SubscriptionInfo};

const SBE_5: &str = "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5";

async fn sbe_call(
    ws: &mut WsClient,
    id: &str,
    method: &str,
    params: serde_json::Value,
) -> Response {
    let request = json!({ "id": id, "method": method, "params": params });
    ws.send_text(&request.to_string()).await;
    let response = read_response(&ws.next_binary().await).unwrap();
    assert_eq!(response.id, id);
    response
}

async fn next_event(ws: &mut WsClient) -> (Option<u16>, Event) {
    match decode_event(&ws.next_binary().await).unwrap() {
        DecodedEvent::Event {
            subscription_id,
            event,
        } => (subscription_id, event),
        DecodedEvent::NonRepresentable => panic!("a NonRepresentableMessage"),
    }
}

#[tokio::test]
async fn handshake_refusals_are_http_400_with_json_bodies() {
    let server = TestServer::start_with(|_| {}).await;
    let cases = [
        ("responseFormat=sbe", -1152),
        ("responseFormat=sbe&sbeSchemaId=3", -1152),
        (
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=five",
            -1152,
        ),
        ("responseFormat=sbe&sbeSchemaId=1&sbeSchemaVersion=0", -1153),
        ("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=1", -1153),
        ("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=6", -1153),
        (
            "responseFormat=sbe&responseFormat=json&sbeSchemaId=3&sbeSchemaVersion=5",
            -1101,
        ),
        ("responseFormat=protobuf", -1130),
    ];
    for (query, code) in cases {
        let url = format!("ws://{}/ws-api/v3?{query}", server.server.public_addr);
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{query}");
                let content_type = response.headers()["content-type"].to_str().unwrap();
                assert_eq!(content_type, "application/json;charset=UTF-8", "{query}");
                let body: serde_json::Value =
                    serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["code"], json!(code), "{query}: {body}");
                assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()));
            }
            other => panic!("{query}: expected HTTP 400, got {other:?}"),
        }
    }

    let disabled = TestServer::start_with(|config| config.ws.sbe_enabled = false).await;
    let response = disabled
        .http
        .get(disabled.url(&format!("/ws-api/v3?{SBE_5}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!(-1155));
}

#[tokio::test]
async fn a_session_in_sbe_from_subscribe_to_termination() {
    let server = TestServer::start().await;
    let key = server.create_key(&["BNBUSDT"]).await;
    let (token, expiration_ms) = server.token(&key, None, Some(10_000)).await;
    let mut ws = server.ws_with(SBE_5).await;

    let subscribed = sbe_call(
        &mut ws,
        "7",
        "userDataStream.subscribe.listenToken",
        json!({ "listenToken": token }),
    )
    .await;
    assert!(!subscribed.deprecated);
    assert_eq!(subscribed.status, 200);
    assert_eq!(subscribed.rate_limits.len(), 1);
    assert_eq!(subscribed.rate_limits[0].limit, 6000);
    let Outcome::Answer(Answer::Subscribed(SubscriptionInfo {
        subscription_id,
        expiration_time,
    })) = subscribed.outcome
    else {
        panic!("{subscribed:?}");
    };
    assert_eq!(expiration_time, expiration_ms * 1000);

    // Events: bare binary frames carrying the subscription id, timestamps in µs.
    server.publish(key.uid, None, balance_update("-1.50")).await;
    let (id, event) = next_event(&mut ws).await;
    assert_eq!(id, Some(subscription_id as u16));
    let Event::BalanceUpdate(update) = &event else {
        panic!("{event:?}");
    };
    assert_eq!(update.balance_delta.as_str(), "-1.50");
    assert_eq!(update.asset, "BTC");

    // Risk events have no SBE message: 999.
    let risk = json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "l": "1.1", "s": "MARGIN_CALL"});
    server.publish(key.uid, None, risk).await;
    assert_eq!(
        decode_event(&ws.next_binary().await).unwrap(),
        DecodedEvent::NonRepresentable
    );

    // Every method answers in SBE; the id comes back as a string.
    let pong = sbe_call(&mut ws, "", "ping", json!({})).await;
    assert_eq!(pong.outcome, Outcome::Answer(Answer::Pong));
    let time = sbe_call(&mut ws, "t", "time", json!({})).await;
    assert_eq!(
        time.outcome,
        Outcome::Answer(Answer::ServerTime(server.now_ms() * 1000))
    );
    let list = sbe_call(&mut ws, "l", "session.subscriptions", json!({})).await;
    assert_eq!(
        list.outcome,
        Outcome::Answer(Answer::Subscriptions(vec![SubscriptionInfo {
            subscription_id,
            expiration_time,
        }]))
    );
    let Outcome::Answer(Answer::SessionStatus(status)) =
        sbe_call(&mut ws, "s", "session.status", json!({}))
            .await
            .outcome
    else {
        panic!("session.status");
    };
    assert!(status.user_data_stream);
    assert_eq!(status.server_time, server.now_ms() * 1000);

    // Errors are ErrorResponse inside the envelope, with the HTTP-like status.
    let bad = sbe_call(
        &mut ws,
        "b",
        "userDataStream.subscribe.listenToken",
        json!({ "listenToken": "nope" }),
    )
    .await;
    assert_eq!(bad.status, 400);
    let Outcome::Error(error, None) = bad.outcome else {
        panic!("{bad:?}");
    };
    assert_eq!(error.code, -1209);
    // Unparsable text and binary requests too (an integer id comes back as its digits).
    ws.send_text("{not json").await;
    let broken = read_response(&ws.next_binary().await).unwrap();
    assert!(matches!(broken.outcome, Outcome::Error(ref e, _) if e.code == -1135));
    assert_eq!(broken.id, "");
    ws.send_text(r#"{"id":42,"method":"nope"}"#).await;
    let unknown = read_response(&ws.next_binary().await).unwrap();
    assert_eq!(unknown.id, "42");

    // Expiry: eventStreamTerminated (602) with the id, at the expiration time.
    server.advance_ms((expiration_ms - server.now_ms()) as u64);
    let (id, event) = next_event(&mut ws).await;
    assert_eq!(id, Some(subscription_id as u16));
    assert_eq!(event.event_type(), "eventStreamTerminated");
    assert_eq!(event.event_time_us(), expiration_ms * 1000);

    // The same event reaches a JSON session unchanged.
    let (token, _) = server.token(&key, None, None).await;
    let mut json_ws = server.ws().await;
    json_ws.subscribe(&token).await;
    let sbe_again = sbe_call(
        &mut ws,
        "8",
        "userDataStream.subscribe.listenToken",
        json!({ "listenToken": token }),
    )
    .await;
    assert_eq!(sbe_again.status, 200);
    server.publish(key.uid, None, balance_update("2")).await;
    let frame = json_ws.next_event().await;
    assert_eq!(frame["event"]["d"], json!("2"));
    let (_, event) = next_event(&mut ws).await;
    let decoded: serde_json::Value =
        serde_json::from_slice(&event.to_json(TimeUnit::Millisecond)).unwrap();
    assert_eq!(decoded, frame["event"]);
}

#[tokio::test]
async fn deprecated_versions_are_served_and_flagged() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let (token, _) = server.token(&key, None, None).await;
    let mut ws = server
        .ws_with("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=2")
        .await;
    let subscribed = sbe_call(
        &mut ws,
        "1",
        "userDataStream.subscribe.listenToken",
        json!({ "listenToken": token }),
    )
    .await;
    assert!(subscribed.deprecated);
    assert_eq!(subscribed.status, 200);
    server.publish(key.uid, None, balance_update("1")).await;
    let frame = ws.next_binary().await;
    // The header names the version written.
    assert_eq!(&frame[6..8], &2u16.to_le_bytes());
    assert!(matches!(
        decode_event(&frame).unwrap(),
        DecodedEvent::Event { .. }
    ));
    // serverShutdown arrived in 3:3, so a 3:2 session gets 999 for it.
    server
        .admin_post(
            "/admin/v1/faults",
            json!({"kind": "shutdown", "durationMs": 1000}),
        )
        .await;
    assert_eq!(
        decode_event(&ws.next_binary().await).unwrap(),
        DecodedEvent::NonRepresentable
    );
}

#[tokio::test]
async fn server_shutdown_reaches_sbe_sessions() {
    let server = TestServer::start().await;
    let mut ws = server.ws_with(SBE_5).await;
    let (status, answer) = server
        .admin_post(
            "/admin/v1/faults",
            json!({"kind": "shutdown", "durationMs": 1000}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (id, event) = next_event(&mut ws).await;
    assert_eq!(id, None);
    assert_eq!(event.event_type(), "serverShutdown");
}
