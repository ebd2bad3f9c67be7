//! Fault injection: each fault does exactly what it says, to exactly its targets.

mod common;

use common::{TestServer, WsClient, balance_update};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn fault(server: &TestServer, body: Value) -> Value {
    let (status, answer) = server.admin_post("/admin/v1/faults", body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Two connections: one subscribed to `key`'s cross account, one to another user's.
async fn two_clients(server: &TestServer) -> (WsClient, WsClient, common::Key, common::Key) {
    let target = server.create_key(&[]).await;
    let other = server.create_key(&[]).await;
    let mut a = server.ws().await;
    a.subscribe(&server.token(&target, None, None).await.0)
        .await;
    let mut b = server.ws().await;
    b.subscribe(&server.token(&other, None, None).await.0).await;
    (a, b, target, other)
}

#[tokio::test]
async fn terminate_ends_an_accounts_subscriptions_now() {
    let server = TestServer::start().await;
    let (mut a, mut b, target, _) = two_clients(&server).await;
    let answer = fault(&server, json!({"kind": "terminate", "uid": target.uid})).await;
    assert_eq!(answer, json!({"sessions": 1, "subscriptions": 1}));
    let frame = a.next_event().await;
    assert_eq!(
        frame,
        json!({"subscriptionId": 0, "event": {"e": "eventStreamTerminated", "E": server.now_ms()}})
    );
    assert_eq!(
        server.publish(target.uid, None, balance_update("1")).await,
        0
    );
    b.expect_no_events().await;
}

#[tokio::test]
async fn drop_closes_the_socket_without_a_close_frame() {
    let server = TestServer::start().await;
    let (mut a, mut b, _, _) = two_clients(&server).await;
    let sessions = server.admin_get("/admin/v1/sessions").await;
    let id = sessions[0]["id"].clone();
    assert_eq!(
        fault(&server, json!({"kind": "drop", "sessionId": id})).await["sessions"],
        json!(1)
    );
    match a.next_message().await {
        None => {}
        Some(Message::Close(_)) => panic!("a dropped connection must not get a close frame"),
        Some(other) => panic!("unexpected {other:?}"),
    }
    assert_eq!(b.call("ping", json!({})).await["status"], json!(200));
}

#[tokio::test]
async fn mute_silences_a_connection_until_the_time_is_up() {
    let server = TestServer::start().await;
    let (mut a, _b, target, _) = two_clients(&server).await;
    fault(
        &server,
        json!({"kind": "mute", "uid": target.uid, "durationMs": 30_000}),
    )
    .await;
    // While muted, nothing is answered; the request waits behind the mute.
    a.send_text(r#"{"id":"during","method":"ping"}"#).await;
    server.publish(target.uid, None, balance_update("1")).await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), a.next_json())
            .await
            .is_err(),
        "a muted connection spoke"
    );
    server.advance_ms(30_000);
    let first = a.next_json().await;
    assert_eq!(first["event"]["d"], json!("1"));
    assert_eq!(a.response().await["id"], json!("during"));
}

#[tokio::test]
async fn shutdown_warns_then_closes_after_the_grace_period() {
    let server = TestServer::start().await;
    let (mut a, mut b, _, _) = two_clients(&server).await;
    assert_eq!(
        fault(&server, json!({"kind": "shutdown", "durationMs": 5_000})).await["sessions"],
        json!(2)
    );
    for ws in [&mut a, &mut b] {
        assert_eq!(
            ws.next_event().await,
            json!({"event": {"e": "serverShutdown", "E": server.now_ms()}})
        );
        // Still usable during the grace period.
        assert_eq!(ws.call("ping", json!({})).await["status"], json!(200));
    }
    server.advance_ms(5_000);
    for ws in [&mut a, &mut b] {
        assert_eq!(ws.close_frame().await.0, 1001);
    }
}

#[tokio::test]
async fn token_requests_fail_as_asked_then_recover() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let body = json!({"kind": "failTokenRequests", "count": 2, "status": 503, "code": -1001, "msg": "Internal error; unable to process your request. Please try again."});
    fault(&server, body).await;
    for _ in 0..2 {
        let (status, answer, _) = server.request_token(Some(&key.api_key), "").await;
        assert_eq!(status, 503);
        assert_eq!(answer["code"], json!(-1001));
    }
    assert_eq!(server.request_token(Some(&key.api_key), "").await.0, 200);
}

#[tokio::test]
async fn delay_holds_deliveries_back() {
    let server = TestServer::start().await;
    let (mut a, mut b, target, other) = two_clients(&server).await;
    fault(
        &server,
        json!({"kind": "delay", "uid": target.uid, "durationMs": 2_000}),
    )
    .await;
    server.publish(target.uid, None, balance_update("1")).await;
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), a.next_json())
            .await
            .is_err()
    );
    server.advance_ms(2_000);
    assert_eq!(a.next_event().await["event"]["d"], json!("1"));
    // Others are not delayed.
    server.publish(other.uid, None, balance_update("2")).await;
    assert_eq!(b.next_event().await["event"]["d"], json!("2"));
}

#[tokio::test]
async fn bad_fault_requests_are_refused() {
    let server = TestServer::start().await;
    for body in [
        json!({"kind": "explode"}),
        json!({"kind": "mute"}),
        json!({"kind": "terminate", "isolatedSymbol": "BNBUSDT"}),
        json!({"kind": "failTokenRequests", "count": 0}),
        json!({"kind": "drop", "uid": 1, "sessionId": 2}),
    ] {
        let (status, answer) = server.admin_post("/admin/v1/faults", body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
    }
    assert!(
        server
            .metrics()
            .await
            .contains("userstream_faults_injected_total 0")
    );
}
