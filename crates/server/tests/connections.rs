//! What a stranger may hold open: idle and slow connections time out, each client address and
//! the whole listener have a cap with a clear refusal, and the admin listener keeps answering
//! while the public one is full.

mod common;

use common::{TestServer, WAIT, raw_http, raw_status};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection from `source` (any 127.0.0.x) that sends nothing.
async fn idle_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Everything the server sends until it closes the connection, and how long that took.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

async fn ping_from(server: &TestServer, source: &str) -> String {
    let mut stream = idle_from(source, server.server.public_addr).await;
    stream
        .write_all(b"GET /api/v3/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_until_closed(&mut stream).await.0
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = TestServer::start_with(|config| config.net.header_timeout_ms = 200).await;
    // Connected, never a byte.
    let mut silent = idle_from("127.0.0.1", server.server.public_addr).await;
    let (_, waited) = read_until_closed(&mut silent).await;
    assert!(
        waited >= Duration::from_millis(150),
        "closed after {waited:?}"
    );
    // Half a request head, then nothing.
    let mut half = idle_from("127.0.0.1", server.server.public_addr).await;
    half.write_all(b"GET /api/v3/ping HTTP/1.1\r\nHo")
        .await
        .unwrap();
    read_until_closed(&mut half).await;
    // One request answered, then idle on a kept-alive connection (the admin listener too).
    let mut kept = idle_from("127.0.0.1", server.server.admin_addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("userstream_http_timeouts_total{listener=\"public\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("userstream_http_timeouts_total{listener=\"admin\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_trickled_body_meets_the_request_deadline() {
    let server = TestServer::start_with(|config| config.net.request_timeout_ms = 200).await;
    let mut stream = idle_from("127.0.0.1", server.server.public_addr).await;
    stream
        .write_all(b"POST /sapi/v1/userListenToken HTTP/1.1\r\nHost: x\r\nX-MBX-APIKEY: k\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nvalidity=1")
        .await
        .unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(WAIT, stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":-1007"#), "{answer}");
}

#[tokio::test]
async fn each_client_address_has_a_cap_with_a_clear_refusal() {
    let server = TestServer::start_with(|config| config.net.max_connections_per_ip = 3).await;
    let public = server.server.public_addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(idle_from("127.0.0.1", public).await);
    }
    let mut refused = idle_from("127.0.0.1", public).await;
    let (answer, _) = read_until_closed(&mut refused).await;
    assert!(
        answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            r#"{"code":-1003,"msg":"Too many open connections from this address; the limit is 3."}"#
        ),
        "{answer}"
    );
    // Another address is not affected.
    assert!(
        ping_from(&server, "127.0.0.2")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // A place comes back when a connection closes.
    drop(held.pop());
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            let answer = ping_from(&server, "127.0.0.1").await;
            if answer.starts_with("HTTP/1.1 200") {
                break answer;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert!(answer.ends_with("{}"), "{answer}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            "userstream_tcp_connections_refused_total{listener=\"public\",reason=\"per_client\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_admin_listener_answers_while_the_public_one_is_full() {
    let server = TestServer::start_with(|config| config.net.max_connections = 4).await;
    let public = server.server.public_addr;
    let mut held = Vec::new();
    for index in 0..4 {
        held.push(idle_from(&format!("127.0.0.{}", 10 + index), public).await);
    }
    let mut refused = idle_from("127.0.0.20", public).await;
    let (answer, _) = read_until_closed(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""code":-1008"#), "{answer}");
    let health = raw_http(
        server.server.admin_addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&health), 200, "{health}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("userstream_tcp_connections_open{listener=\"public\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "userstream_tcp_connections_refused_total{listener=\"public\",reason=\"listener_full\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn shutdown_does_not_wait_for_strangers_that_never_sent_a_request() {
    let server = TestServer::start_with(|config| config.shutdown_grace_ms = 5_000).await;
    let _silent = idle_from("127.0.0.1", server.server.public_addr).await;
    let mut half = idle_from("127.0.0.1", server.server.admin_addr).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    // Let the server take both connections in.
    let open = tokio::time::timeout(WAIT, async {
        while !server
            .metrics()
            .await
            .contains("userstream_tcp_connections_open{listener=\"admin\"} 2")
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(open.is_ok(), "{}", server.metrics().await);
    let started = Instant::now();
    server.server.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown waited {:?} for connections without a request",
        started.elapsed()
    );
}

/// The listen backlog as the kernel reports it for the listening socket (`ss`: Send-Q).
fn backlog_of(addr: SocketAddr) -> u32 {
    let output = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no listener in {text:?}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|field| field.parse().ok())
        .unwrap_or_else(|| panic!("no Send-Q in {line:?}"))
}

#[tokio::test]
async fn the_listen_backlog_is_the_system_maximum_unless_configured() {
    let system: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let server = TestServer::start().await;
    assert_eq!(backlog_of(server.server.public_addr), system);
    assert_eq!(backlog_of(server.server.admin_addr), system);
    assert!(system > 128, "this machine's somaxconn is {system}");
    let server = TestServer::start_with(|config| config.net.listen_backlog = 200).await;
    assert_eq!(backlog_of(server.server.public_addr), 200);
}

/// The accept path sets TCP_NODELAY on every socket; read back with getsockopt by the server
/// itself and handed to handlers, which a test router echoes.
#[tokio::test]
async fn accepted_sockets_have_tcp_nodelay() {
    use axum::extract::ConnectInfo;
    use userstream_server::net::{self, Accepted, ConnectionCaps, Listener, ServeSettings};
    let metrics = userstream_server::metrics::Metrics::new();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = Listener {
        name: "public",
        tcp,
        caps: ConnectionCaps::new(10, 10, metrics.public.open.clone()),
        metrics: metrics.public.clone(),
    };
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(|ConnectInfo(accepted): ConnectInfo<Accepted>| async move {
            accepted.nodelay.to_string()
        }),
    );
    let settings = ServeSettings {
        header_timeout: Duration::from_secs(10),
        tls: None,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(net::serve(listener, router, settings, stopping));
    let answer = raw_http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.ends_with("\r\n\r\ntrue"), "{answer}");
    stop.send(true).unwrap();
    serving.await.unwrap();
}
