//! The kept-open publishing connection (`GET /admin/v1/events/stream`): each text message is a
//! publish body, published in order; refusals are answered and the connection carries on; it is
//! behind the admin guard like every admin route.

mod common;

use common::{TestServer, WAIT, WsClient, balance_update, raw_http, raw_status};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Opens the publishing connection, with `query` after `?` when not empty.
async fn publisher(server: &TestServer, query: &str) -> WsClient {
    let url = format!(
        "ws://{}/admin/v1/events/stream?{query}",
        server.server.admin_addr
    );
    let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    WsClient::from_stream(stream)
}

/// A user, and a connection subscribed to its cross margin account.
async fn subscribed(server: &TestServer) -> (u64, WsClient) {
    let key = server.create_key(&[]).await;
    (key.uid, server.subscribed(&key).await)
}

/// NDJSON of one balanceUpdate per delta, all to `uid`'s cross margin account.
fn lines(uid: u64, deltas: &[&str]) -> String {
    deltas
        .iter()
        .map(|delta| json!({"uid": uid, "event": balance_update(delta)}).to_string() + "\n")
        .collect()
}

#[tokio::test]
async fn messages_are_published_in_order_and_answered_only_when_refused() {
    let server = TestServer::start().await;
    let (uid, mut subscriber) = subscribed(&server).await;
    let mut stream = publisher(&server, "").await;
    stream.send_text(&lines(uid, &["1", "2"])).await;
    // One item alone, and a JSON array, as the POST takes them.
    let one = json!({"uid": uid, "event": balance_update("3")});
    stream.send_text(&one.to_string()).await;
    stream
        .send_text(&json!([one, {"uid": uid, "event": balance_update("4")}]).to_string())
        .await;
    // A refused message is answered with its number; nothing of it is published.
    stream
        .send_text(&format!("{}{{\"uid\":", lines(uid, &["nope"])))
        .await;
    let binary = Message::Binary(b"\x00".to_vec().into());
    stream.stream.send(binary).await.unwrap();
    stream.send_text(&lines(uid, &["5"])).await;
    let refusal = stream.next_json().await;
    assert_eq!(refusal["message"], json!(4), "{refusal}");
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .starts_with("line 2: invalid JSON"),
        "{refusal}"
    );
    let binary = stream.next_json().await;
    assert_eq!(
        binary,
        json!({"message": 5, "error": "publish bodies are JSON: send them as text frames"})
    );
    for delta in ["1", "2", "3", "3", "4", "5"] {
        let event = subscriber.next_event().await;
        assert_eq!(event["event"]["d"], json!(delta), "{event}");
    }
    subscriber.expect_no_events().await;
    assert_eq!(server.metric("userstream_events_published_total").await, 6);
}

#[tokio::test]
async fn messages_that_arrive_together_reach_a_subscriber_in_one_write() {
    let server = TestServer::start().await;
    let (uid, mut subscriber) = subscribed(&server).await;
    let mut stream = publisher(&server, "").await;
    let writes = "userstream_socket_writes_total{listener=\"public\"}";
    let before = server.metric(writes).await;
    // Three messages in one TCP write: the server reads them together and publishes them as
    // one batch, refusing the middle one alone.
    let refused = format!("{}{{\"uid\":", lines(uid, &["nope"]));
    for body in [lines(uid, &["1", "2"]), refused, lines(uid, &["3"])] {
        stream.stream.feed(Message::text(body)).await.unwrap();
    }
    stream.stream.flush().await.unwrap();
    let refusal = stream.next_json().await;
    assert_eq!(refusal["message"], json!(2), "{refusal}");
    for delta in ["1", "2", "3"] {
        let event = subscriber.next_event().await;
        assert_eq!(event["event"]["d"], json!(delta), "{event}");
    }
    // Its three frames went in one write. (On this test's single thread the server would
    // write them together anyway; what gathering adds shows with two cores: docs/benchmarks.md.)
    assert_eq!(server.metric(writes).await - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_one_account_larger_than_its_queue_reaches_a_reading_subscriber() {
    let server = TestServer::start_with(|config| config.ws.outbox_bytes = 16 * 1024).await;
    let (uid, mut subscriber) = subscribed(&server).await;
    let mut stream = publisher(&server, "").await;
    // 40 messages of 25 events, about 10 times the subscriber's 16 KiB queue, sent at once:
    // gathered into one batch, which the hub stops at the half-full queue until it is written.
    let deltas: Vec<String> = (1..=1000).map(|n| n.to_string()).collect();
    for chunk in deltas.chunks(25) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        stream
            .stream
            .feed(Message::text(lines(uid, &chunk)))
            .await
            .unwrap();
    }
    stream.stream.flush().await.unwrap();
    for delta in &deltas {
        let event = subscriber.next_event().await;
        assert_eq!(event["event"]["d"], json!(delta), "{event}");
    }
    assert_eq!(
        server
            .metric("userstream_slow_consumer_disconnects_total")
            .await,
        0
    );
}

#[tokio::test]
async fn answers_all_acknowledges_every_message() {
    let server = TestServer::start().await;
    let (uid, _subscriber) = subscribed(&server).await;
    let mut stream = publisher(&server, "answers=all").await;
    stream.send_text(&lines(uid, &["1", "2"])).await;
    assert_eq!(
        stream.next_json().await,
        json!({"message": 1, "published": 2, "subscribers": 2})
    );
    let one = json!({"uid": uid + 1, "event": balance_update("3")});
    stream.send_text(&one.to_string()).await;
    assert_eq!(
        stream.next_json().await,
        json!({"message": 2, "subscribers": 0})
    );
    // An unknown option is refused before the handshake, in the admin API's shape.
    let url = format!(
        "ws://{}/admin/v1/events/stream?answers=some",
        server.server.admin_addr
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 400)
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_open_it_and_the_token_is_required() {
    let server = TestServer::start_with(|config| config.admin_token = Some("s3cret".into())).await;
    let url = format!("ws://{}/admin/v1/events/stream", server.server.admin_addr);
    let refused = |request| async move {
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            other => panic!("expected a refused handshake, got {other:?}"),
        }
    };
    // A browser sends Origin with every handshake, and cannot add an Authorization header.
    let mut from_page = url.as_str().into_client_request().unwrap();
    from_page
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    from_page
        .headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    assert_eq!(refused(from_page).await, 403);
    assert_eq!(
        refused(url.as_str().into_client_request().unwrap()).await,
        401
    );
    let mut owner = url.as_str().into_client_request().unwrap();
    owner
        .headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(owner).await.unwrap();
    let mut stream = WsClient::from_stream(stream);
    stream.send_text("{}").await;
    assert_eq!(stream.next_json().await["message"], json!(1));
    // A plain GET, not a handshake, is refused as an admin request.
    let request = format!(
        "GET /admin/v1/events/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n",
        server.server.admin_addr
    );
    let answer = raw_http(server.server.admin_addr, &request).await;
    assert!((400..500).contains(&raw_status(&answer)), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
}

#[tokio::test]
async fn shutdown_closes_it_with_going_away() {
    let server = TestServer::start().await;
    let mut stream = publisher(&server, "").await;
    let shutdown = tokio::spawn(async move { server.server.shutdown().await.is_ok() });
    assert_eq!(stream.close_frame().await.0, 1001);
    assert!(tokio::time::timeout(WAIT, shutdown).await.unwrap().unwrap());
}
