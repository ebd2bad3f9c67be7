//! Where HTTP itself is misused: every refusal a client can meet is JSON in the listener's own
//! error shape, except request heads too large for the HTTP layer to read (a bare 431).

mod common;

use common::{TestServer, raw_http, raw_status};
use serde_json::{Value, json};

fn body_of(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[tokio::test]
async fn a_plain_get_on_the_websocket_endpoint_is_answered_in_binance_shape() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/ws-api/v3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!(-1000));
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .starts_with("This endpoint speaks the WebSocket API only"),
        "{body}"
    );
}

#[tokio::test]
async fn oversized_bodies_and_heads() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    // A body over 16 KiB: 413 in Binance's shape.
    let (status, body, _) = server
        .request_token_with_body(Some(&key.api_key), "", &"a=1&".repeat(5_000))
        .await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], json!(-1000), "{body}");
    // A 100 KB query: the request head is over 16 KiB, refused by the HTTP layer with no body.
    let request = format!(
        "POST /sapi/v1/userListenToken?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "validity=1&".repeat(9_000)
    );
    let answer = raw_http(server.server.public_addr, &request).await;
    assert_eq!(raw_status(&answer), 431, "{answer}");
    // The admin listener answers in its own shape.
    let response = server
        .http
        .post(server.admin_url("/admin/v1/events"))
        .header("content-type", "application/json")
        .body(vec![b' '; 17 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn admin_routes_and_parameters_that_do_not_exist() {
    let server = TestServer::start().await;
    let answer = raw_http(
        server.server.admin_addr,
        "GET /admin/v1/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 404);
    assert_eq!(body_of(&answer), json!({"error": "no such admin route"}));
    let answer = raw_http(
        server.server.admin_addr,
        "PUT /admin/v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 405);
    assert!(body_of(&answer)["error"].is_string(), "{answer}");
    // A wrong method on a public path: 405 in Binance's shape.
    let answer = raw_http(
        server.server.public_addr,
        "DELETE /api/v3/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 405);
    assert_eq!(body_of(&answer)["code"], json!(-1000));
}

#[tokio::test]
async fn unsubscribe_ids_are_64_bit_integers() {
    let server = TestServer::start().await;
    let mut ws = server.ws().await;
    for id in [
        json!(18446744073709551615u64),
        json!("18446744073709551615"),
        json!("007"),
    ] {
        let answer = ws
            .call(
                "userDataStream.unsubscribe",
                json!({ "subscriptionId": id }),
            )
            .await;
        assert_eq!(answer["status"], json!(200), "{id}: {answer}");
    }
    for id in [
        json!("18446744073709551616"),
        json!("1e3"),
        json!(-1),
        json!(1.5),
        json!(""),
    ] {
        let answer = ws
            .call(
                "userDataStream.unsubscribe",
                json!({ "subscriptionId": id }),
            )
            .await;
        assert_eq!(answer["error"]["code"], json!(-1100), "{id}: {answer}");
    }
    let raw = ws
        .raw_call(r#"{"id":1,"method":"userDataStream.unsubscribe","params":{"subscriptionId":18446744073709551616}}"#)
        .await;
    assert_eq!(raw["error"]["code"], json!(-1100), "{raw}");
}
