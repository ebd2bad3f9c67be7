//! A real gateway on ephemeral loopback ports, with a manual clock, and real HTTP and WebSocket
//! clients to talk to it.
#![allow(dead_code)]

pub mod nats;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use userstream_server::{Backends, Config, ManualClock, RunningServer, Server};

/// Upper bound for anything a test waits for; reached only when something is broken.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub server: RunningServer,
    pub clock: ManualClock,
    pub config: Config,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

/// A freshly created API key.
#[derive(Debug, Clone)]
pub struct Key {
    pub api_key: String,
    pub secret: String,
    pub uid: u64,
}

pub fn test_config(data_dir: PathBuf) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        ..Config::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_prepared(adjust, |server| server).await
    }

    /// Starts a server as [`TestServer::start_with`], with `prepare` applied to it before it
    /// runs (a scenario runner, say).
    pub async fn start_prepared(
        adjust: impl FnOnce(&mut Config),
        prepare: impl FnOnce(Server) -> Server,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path().to_path_buf());
        adjust(&mut config);
        let backends = Backends::embedded(&config).unwrap();
        let clock = ManualClock::starting_now();
        let mut server = Self::start_on_backends_prepared(config, clock, backends, prepare).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server with this config and clock (the data dir is the caller's).
    pub async fn start_on(config: Config, clock: ManualClock) -> TestServer {
        let backends = Backends::embedded(&config).unwrap();
        Self::start_on_backends(config, clock, backends).await
    }

    /// Starts a server on the given store and bus.
    pub async fn start_on_backends(
        config: Config,
        clock: ManualClock,
        backends: Backends,
    ) -> TestServer {
        Self::start_on_backends_prepared(config, clock, backends, |server| server).await
    }

    async fn start_on_backends_prepared(
        config: Config,
        clock: ManualClock,
        backends: Backends,
        prepare: impl FnOnce(Server) -> Server,
    ) -> TestServer {
        let server = Server::bind_with(config.clone(), Arc::new(clock.clone()), backends)
            .await
            .unwrap();
        TestServer {
            server: prepare(server).spawn(),
            clock,
            config,
            http: reqwest::Client::new(),
            _dir: None,
        }
    }

    /// A node of a cluster on the NATS servers at `urls`.
    pub async fn start_cluster_node(
        urls: &[String],
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        Self::start_cluster_node_on(urls, ManualClock::starting_now(), adjust).await
    }

    /// A node of a cluster on the NATS servers at `urls`, on `clock`.
    pub async fn start_cluster_node_on(
        urls: &[String],
        clock: ManualClock,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path().to_path_buf());
        config.nats.urls = urls.to_vec();
        adjust(&mut config);
        let backends = Backends::cluster(&config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let mut server = Self::start_on_backends(config, clock, backends).await;
        server._dir = Some(dir);
        server
    }

    /// `size` nodes of one cluster on the NATS servers at `urls`, on `clock`, and a key created
    /// on the first; returns once the key mints on every node, failing after `spread`.
    pub async fn cluster_with_key(
        urls: &[String],
        size: usize,
        clock: &ManualClock,
        adjust: impl Fn(&mut Config),
        spread: Duration,
    ) -> (Vec<TestServer>, Key) {
        let mut nodes = Vec::new();
        for _ in 0..size {
            nodes.push(Self::start_cluster_node_on(urls, clock.clone(), &adjust).await);
        }
        let key = nodes[0].create_key(&[]).await;
        let started = std::time::Instant::now();
        for node in &nodes {
            while node.request_token(Some(&key.api_key), "").await.0 != 200 {
                assert!(
                    started.elapsed() < spread,
                    "the key did not reach every node within {spread:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        (nodes, key)
    }

    /// Stops this server and starts another on the same data directory and clock.
    pub async fn restart(mut self) -> TestServer {
        let dir = self._dir.take();
        let config = self.config.clone();
        let clock = self.clock.clone();
        self.server.shutdown().await.unwrap();
        let mut next = Self::start_on(config, clock).await;
        next._dir = dir;
        next
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.public_addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.admin_addr)
    }

    pub fn now_ms(&self) -> i64 {
        use userstream_server::Clock;
        self.clock.now_ms()
    }

    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    pub async fn create_key(&self, isolated: &[&str]) -> Key {
        let body = json!({ "isolatedSymbols": isolated });
        let (status, answer) = self.admin_post("/admin/v1/keys", body).await;
        assert_eq!(status, 200, "{answer}");
        Key {
            api_key: answer["apiKey"].as_str().unwrap().to_owned(),
            secret: answer["secretKey"].as_str().unwrap().to_owned(),
            uid: answer["uid"].as_u64().unwrap(),
        }
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.admin_url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Moves a simulator price with the admin API; returns how many events the move made.
    pub async fn set_price(&self, symbol: &str, price: &str) -> u64 {
        let (status, answer) = self
            .admin_post(
                "/admin/v1/prices",
                json!({"symbol": symbol, "price": price}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["events"].as_u64().unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.admin_url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `DELETE /admin/v1/keys/{api_key}`: status and answer.
    pub async fn revoke(&self, api_key: &str) -> (u16, Value) {
        let url = self.admin_url(&format!("/admin/v1/keys/{api_key}"));
        let response = self.http.delete(url).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// `POST /sapi/v1/userListenToken` with `query` and no body.
    pub async fn request_token(
        &self,
        api_key: Option<&str>,
        query: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        self.request_token_with_body(api_key, query, "").await
    }

    pub async fn request_token_with_body(
        &self,
        api_key: Option<&str>,
        query: &str,
        body: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let url = if query.is_empty() {
            self.url("/sapi/v1/userListenToken")
        } else {
            self.url(&format!("/sapi/v1/userListenToken?{query}"))
        };
        let mut request = self.http.post(url);
        if let Some(key) = api_key {
            request = request.header("X-MBX-APIKEY", key);
        }
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json().await.unwrap(), headers)
    }

    /// A token for `key`'s cross account (or isolated `symbol`), with `validity_ms` if given.
    pub async fn token(
        &self,
        key: &Key,
        isolated: Option<&str>,
        validity_ms: Option<i64>,
    ) -> (String, i64) {
        let mut query = Vec::new();
        if let Some(symbol) = isolated {
            query.push(format!("isIsolated=true&symbol={symbol}"));
        }
        if let Some(validity) = validity_ms {
            query.push(format!("validity={validity}"));
        }
        let (status, answer, _) = self
            .request_token(Some(&key.api_key), &query.join("&"))
            .await;
        assert_eq!(status, 200, "{answer}");
        (
            answer["token"].as_str().unwrap().to_owned(),
            answer["expirationTime"].as_i64().unwrap(),
        )
    }

    /// Publishes one event to a user's account; returns the subscriber count.
    pub async fn publish(&self, uid: u64, isolated: Option<&str>, event: Value) -> u64 {
        let mut body = json!({ "uid": uid, "event": event });
        if let Some(symbol) = isolated {
            body["isolatedSymbol"] = json!(symbol);
        }
        let (status, answer) = self.admin_post("/admin/v1/events", body).await;
        assert_eq!(status, 200, "{answer}");
        answer["subscribers"].as_u64().unwrap()
    }

    /// A SIGNED REST request as a Binance client makes it: `params` plus `timestamp` in the
    /// query string, signed with the key's secret. Status and JSON answer.
    pub async fn signed(
        &self,
        key: &Key,
        method: reqwest::Method,
        path: &str,
        params: &str,
    ) -> (u16, Value) {
        let timestamp = format!("timestamp={}", self.now_ms());
        let query = if params.is_empty() {
            timestamp
        } else {
            format!("{params}&{timestamp}")
        };
        let signature = userstream_protocol::signature::hmac_sha256_hex(
            key.secret.as_bytes(),
            query.as_bytes(),
        )
        .unwrap();
        let url = self.url(&format!("{path}?{query}&signature={signature}"));
        let response = self
            .http
            .request(method, url)
            .header("X-MBX-APIKEY", &key.api_key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn ws(&self) -> WsClient {
        self.ws_with("").await
    }

    /// A new JSON connection subscribed to `key`'s cross margin account.
    pub async fn subscribed(&self, key: &Key) -> WsClient {
        let (token, _) = self.token(key, None, None).await;
        let mut ws = self.ws().await;
        ws.subscribe(&token).await;
        ws
    }

    /// Connects to `/ws-api/v3?{query}`.
    pub async fn ws_with(&self, query: &str) -> WsClient {
        let url = format!("ws://{}/ws-api/v3?{query}", self.server.public_addr);
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        WsClient {
            stream,
            events: VecDeque::new(),
            next_id: 1000,
        }
    }

    /// Opens the WebSocket handshake from the source address `source` (any 127.0.0.x), returning
    /// the client or the HTTP status of a refused handshake.
    pub async fn ws_from(&self, source: &str) -> Result<WsClient, u16> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let stream = socket.connect(self.server.public_addr).await.unwrap();
        let url = format!("ws://{}/ws-api/v3", self.server.public_addr);
        let stream = MaybeTlsStream::Plain(stream);
        match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .unwrap()
        {
            Ok((stream, _)) => Ok(WsClient {
                stream,
                events: VecDeque::new(),
                next_id: 1000,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("handshake failed: {other}"),
        }
    }

    /// The Prometheus metrics text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one series (labels included) in the Prometheus metrics.
    pub async fn metric(&self, series: &str) -> u64 {
        let metrics = self.metrics().await;
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    }
}

/// A balanceUpdate with a recognisable delta.
pub fn balance_update(delta: &str) -> Value {
    json!({"e": "balanceUpdate", "E": 1573200697110_i64, "a": "BTC", "d": delta, "T": 1573200697068_i64})
}

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames without an `id` (events) read while waiting for a response.
    pub events: VecDeque<Value>,
    next_id: u64,
}

impl WsClient {
    pub fn from_stream(stream: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        WsClient {
            stream,
            events: VecDeque::new(),
            next_id: 1000,
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.unwrap();
    }

    /// The next message of any kind.
    pub async fn next_message(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.stream.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            Ok(Some(Err(_))) | Ok(None) => None,
            Err(_) => panic!("no message within {WAIT:?}"),
        }
    }

    /// Reads past any other frames to the server's close frame: its code and reason.
    pub async fn close_frame(&mut self) -> (u16, String) {
        loop {
            match self.next_message().await {
                Some(Message::Close(Some(frame))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Message::Close(None)) | None => panic!("closed without a close frame"),
                Some(_) => continue,
            }
        }
    }

    /// The next text frame, parsed (pings and pongs skipped).
    pub async fn next_json(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => return serde_json::from_str(&text).unwrap(),
                Some(Message::Ping(_)) | Some(Message::Pong(_)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends a raw text frame and returns the next frame that has an `id` (events are kept).
    pub async fn raw_call(&mut self, text: &str) -> Value {
        self.send_text(text).await;
        self.response().await
    }

    /// The next response frame, keeping events that arrive before it.
    pub async fn response(&mut self) -> Value {
        loop {
            let frame = self.next_json().await;
            if frame.get("id").is_some() {
                return frame;
            }
            self.events.push_back(frame);
        }
    }

    /// Sends `{"id":…,"method":…,"params":…}` and returns the response.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        let response = self.raw_call(&request.to_string()).await;
        assert_eq!(
            response["id"],
            json!(id),
            "response to another request: {response}"
        );
        response
    }

    /// Subscribes with a listen token and returns the result object (asserting success).
    pub async fn subscribe(&mut self, token: &str) -> Value {
        let response = self
            .call(
                "userDataStream.subscribe.listenToken",
                json!({ "listenToken": token }),
            )
            .await;
        assert_eq!(response["status"], 200, "{response}");
        response["result"].clone()
    }

    /// Subscribes, resuming from the stream position `from` when given (a connection opened with
    /// `streamPositions=true`); returns the result object (asserting success).
    pub async fn subscribe_from(&mut self, token: &str, from: Option<&Value>) -> Value {
        let mut params = json!({ "listenToken": token });
        if let Some(from) = from {
            params["resumeFrom"] = from.clone();
        }
        let response = self
            .call("userDataStream.subscribe.listenToken", params)
            .await;
        assert_eq!(response["status"], 200, "{response}");
        response["result"].clone()
    }

    /// The next binary frame (an SBE session's), pings and pongs skipped.
    pub async fn next_binary(&mut self) -> Vec<u8> {
        loop {
            match self.next_message().await {
                Some(Message::Binary(bytes)) => return bytes.to_vec(),
                Some(Message::Ping(_)) | Some(Message::Pong(_)) => continue,
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
    }

    /// The next event frame (`{"subscriptionId":…,"event":…}` or `{"event":…}`).
    pub async fn next_event(&mut self) -> Value {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        let frame = self.next_json().await;
        assert!(
            frame.get("id").is_none(),
            "expected an event, got a response: {frame}"
        );
        frame
    }

    /// Asserts nothing but the answer to a `ping` arrives: every frame the server queued before
    /// the ping would come first, so this proves silence without waiting on a timer.
    pub async fn expect_no_events(&mut self) {
        let response = self.call("ping", json!({})).await;
        assert_eq!(response["status"], 200);
        assert!(
            self.events.is_empty(),
            "unexpected events: {:?}",
            self.events
        );
    }
}

/// Sends `request` as raw bytes on a fresh connection and reads until the server closes it
/// (ask for `Connection: close`); for requests an HTTP library would not send.
pub async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}
