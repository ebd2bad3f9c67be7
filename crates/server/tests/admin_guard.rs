//! The admin API is for its owner: cross-site requests, foreign Host names and non-JSON bodies
//! are refused before any handler runs (a web page must not create keys through the browser).

mod common;

use common::{TestServer, raw_http, raw_status};
use serde_json::{Value, json};

/// What a page on another site can make a browser send: a "simple" cross-origin POST.
async fn cross_site_post(server: &TestServer, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: https://evil.example\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.server.admin_addr,
        body.len()
    );
    let answer = raw_http(server.server.admin_addr, &request).await;
    (raw_status(&answer), answer)
}

async fn key_count(server: &TestServer) -> usize {
    server
        .admin_get("/admin/v1/keys")
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn cross_site_requests_are_refused_on_every_route() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let event = json!({"uid": key.uid, "event": common::balance_update("1")}).to_string();
    for (path, body) in [
        ("/admin/v1/keys", r#"{"label":"x"}"#.to_owned()),
        ("/admin/v1/events", event),
        ("/admin/v1/faults", r#"{"kind":"drop"}"#.to_owned()),
    ] {
        let (status, answer) = cross_site_post(&server, path, &body).await;
        assert_eq!(status, 403, "{path}: {answer}");
        assert!(
            answer.contains("cross-origin requests to the admin API are refused"),
            "{answer}"
        );
        assert!(!answer.contains("secretKey"));
    }
    assert_eq!(key_count(&server).await, 1, "no key was created");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("userstream_admin_refused_total{reason=\"origin\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn foreign_host_names_are_refused_against_dns_rebinding() {
    let server = TestServer::start().await;
    let admin = server.server.admin_addr;
    let get = |host: String| {
        format!("GET /admin/v1/keys HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    let answer = raw_http(admin, &get(format!("attacker.example:{}", admin.port()))).await;
    assert_eq!(raw_status(&answer), 403, "{answer}");
    assert!(answer.contains("DNS rebinding"), "{answer}");
    for host in [admin.to_string(), format!("localhost:{}", admin.port())] {
        let answer = raw_http(admin, &get(host.clone())).await;
        assert_eq!(raw_status(&answer), 200, "{host}: {answer}");
    }
    // More names by configuration.
    let server = TestServer::start_with(|config| {
        config.admin_allowed_hosts = vec!["admin.internal".into()];
    })
    .await;
    let answer = raw_http(server.server.admin_addr, &get("admin.internal:9444".into())).await;
    assert_eq!(raw_status(&answer), 200, "{answer}");
}

#[tokio::test]
async fn bodies_must_be_json() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(server.admin_url("/admin/v1/keys"))
        .header("content-type", "text/plain")
        .body(r#"{"label":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{answer}"
    );
    // A form post (what `curl -d` sends by default) is refused the same way.
    let response = server
        .http
        .post(server.admin_url("/admin/v1/keys"))
        .form(&[("label", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(key_count(&server).await, 0);
    // The same-origin console (Origin naming the admin listener) and plain tools pass.
    let response = server
        .http
        .post(server.admin_url("/admin/v1/keys"))
        .header("origin", format!("http://{}", server.server.admin_addr))
        .json(&json!({"label": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_the_right_one_passes() {
    let server = TestServer::start_with(|config| config.admin_token = Some("sesame".into())).await;
    let url = server.admin_url("/admin/v1/keys");
    for token in [None, Some("sesam"), Some("sesame!"), Some("")] {
        let mut request = server.http.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{token:?}");
    }
    let response = server
        .http
        .get(&url)
        .bearer_auth("sesame")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_admin_api_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path().to_path_buf());
    config.admin_listen = "0.0.0.0:0".parse().unwrap();
    let clock = std::sync::Arc::new(userstream_server::ManualClock::starting_now());
    let error = userstream_server::Server::bind(config.clone(), clock.clone())
        .await
        .err()
        .expect("refuses to start");
    let message = error.to_string();
    assert!(
        message.contains("is not a loopback address") && message.contains("admin_token"),
        "{message}"
    );
    config.admin_token = Some("sesame".into());
    assert!(userstream_server::Server::bind(config, clock).await.is_ok());
}
