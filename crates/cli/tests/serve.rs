//! `userstream serve` as an operator meets it: running out of descriptors, two servers on one
//! data directory, secrets on disk, and TLS with a certificate reloaded on SIGHUP.

mod common;

use common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `serve` whose log goes to a file the test can read.
struct Logged {
    gateway: Gateway,
    log: std::path::PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Logged {
    async fn start(mut command: tokio::process::Command, envs: &[(&str, &str)]) -> Logged {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log = log_dir.path().join("serve.log");
        serve_on_free_ports(&mut command, dir.path());
        command
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
        Logged {
            gateway: Gateway::launch(command, dir).await,
            log,
            _log_dir: log_dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`.
    async fn logged(&self, needle: &str) {
        let found = tokio::time::timeout(WAIT, async {
            while !self.log().contains(needle) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "{needle:?} never logged:\n{}", self.log());
    }
}

/// An HTTP/1.1 GET on a fresh connection; the status, or `None` when the connection was refused
/// or closed without an answer.
async fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// Opens `count` TCP connections that never send a byte.
async fn idle_connections(to: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        held.push(TcpStream::connect(to).await.expect("connect"));
    }
    held
}

/// CPU time the process has used, in clock ticks (utime + stime of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[tokio::test]
async fn idle_connections_cannot_take_the_listeners_down() {
    // The reported case: 80 idle connections against a process allowed 64 descriptors.
    let server = Logged::start(
        userstream_with_descriptor_limit(64),
        &[("USERSTREAM_NET__HEADER_TIMEOUT_MS", "500")],
    )
    .await;
    let held = idle_connections(server.gateway.public, 80).await;
    assert_eq!(get(server.gateway.admin, "/healthz").await, Some(200));
    let metrics = server.gateway.cli(&["keys", "list"]).await;
    assert!(metrics.status.success(), "{metrics:?}");
    let refused = reqwest::get(format!("http://{}/metrics", server.gateway.admin))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        refused.contains(
            "userstream_tcp_connections_refused_total{listener=\"public\",reason=\"listener_full\"}"
        ),
        "{refused}"
    );
    // Once the idle ones are gone, the public listener serves again.
    drop(held);
    served_again(&server).await;
    let log = server.log();
    assert!(
        log.contains("file descriptor limit") && log.contains("limit=64"),
        "{log}"
    );
    assert!(log.contains("connection caps"), "{log}");
}

#[tokio::test]
async fn accept_failures_are_logged_and_the_listener_backs_off() {
    // Caps forced above the descriptor limit, so `accept` itself runs out.
    let server = Logged::start(
        userstream_with_descriptor_limit(64),
        &[
            ("USERSTREAM_NET__MAX_CONNECTIONS", "10000"),
            ("USERSTREAM_NET__HEADER_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let held = idle_connections(server.gateway.public, 80).await;
    server.logged("cannot accept connections").await;
    // Backing off, not spinning: a spinning accept loop burns a whole core.
    let pid = server.gateway.pid();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = cpu_ticks(pid) - before;
    assert!(used < 20, "{used} ticks in 500 ms: the listener spins");
    drop(held);
    // Once the idle connections time out, descriptors come back and so does service.
    served_again(&server).await;
}

/// Waits until the public listener answers a ping (closed connections are noticed a moment
/// after the client drops them).
async fn served_again(server: &Logged) {
    let served = tokio::time::timeout(WAIT, async {
        loop {
            if get(server.gateway.public, "/api/v3/ping").await == Some(200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "{}", server.log());
}

#[cfg(unix)]
#[tokio::test]
async fn a_data_dir_is_private_and_serves_one_server() {
    use std::os::unix::fs::PermissionsExt;
    let gateway = Gateway::start().await;
    gateway.create_key(&[]).await;
    let mode = |name: &str| {
        let path = gateway.data_dir().join(name);
        std::fs::metadata(&path)
            .map(|meta| meta.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    assert_eq!(mode(""), 0o700);
    for file in [
        "userstream.db",
        "userstream.db-wal",
        "userstream.db-shm",
        "userstream.lock",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    let mut second = userstream();
    serve_on_free_ports(&mut second, gateway.data_dir());
    run(second, None).await.failed_with(&[
        "is in use by another userstream server",
        &format!("pid {}", gateway.pid()),
    ]);
    // The first one is unharmed.
    assert_eq!(
        gateway
            .cli(&["keys", "list"])
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// An HTTPS client that trusts `cert` only.
fn https_client(cert: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("PEM"))
        .build()
        .expect("client")
}

/// A TLS connector for WebSockets that trusts `cert` only.
fn wss_connector(cert: &str) -> tokio_tungstenite::Connector {
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("PEM");
    roots.add(der).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_tungstenite::Connector::Rustls(Arc::new(config))
}

#[tokio::test]
async fn both_listeners_speak_tls_and_reload_the_certificate_on_sighup() {
    let files = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    let (first_cert, first_key) = self_signed();
    std::fs::write(&cert_path, &first_cert).expect("write cert");
    std::fs::write(&key_path, &first_key).expect("write key");
    let paths = [
        cert_path.to_str().expect("path"),
        key_path.to_str().expect("path"),
    ];
    let gateway = Gateway::start_with(&["--tls-cert", paths[0], "--tls-key", paths[1]], &[]).await;
    let (public, admin) = (gateway.public, gateway.admin);

    // The whole flow over TLS: a key on the admin API, a token over REST, a wss subscription.
    let https = https_client(&first_cert);
    let created: Value = https
        .post(format!("https://{admin}/admin/v1/keys"))
        .json(&json!({}))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("JSON");
    let uid = created["uid"].as_u64().expect("uid");
    let issued: Value = https
        .post(format!("https://{public}/sapi/v1/userListenToken"))
        .header("X-MBX-APIKEY", created["apiKey"].as_str().expect("apiKey"))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let url = format!("wss://localhost:{}/ws-api/v3", public.port());
    let (stream, _) = tokio_tungstenite::connect_async_tls_with_config(
        url.clone(),
        None,
        false,
        Some(wss_connector(&first_cert)),
    )
    .await
    .expect("wss handshake");
    let mut ws = Ws { stream, next_id: 1 };
    ws.subscribe(issued["token"].as_str().expect("token")).await;
    let publish = |https: reqwest::Client, delta: &'static str| async move {
        let item =
            json!({"uid": uid, "event": {"e": "balanceUpdate", "a": "BTC", "d": delta, "T": 1}});
        let response = https
            .post(format!("https://{admin}/admin/v1/events"))
            .json(&item)
            .send()
            .await
            .expect("publish");
        assert_eq!(response.status(), 200);
    };
    publish(https.clone(), "1").await;
    assert_eq!(ws.event().await["event"]["d"], "1");
    // Plain HTTP on a TLS listener gets nowhere.
    assert_eq!(get(public, "/api/v3/ping").await, None);

    // A new certificate, then SIGHUP: new handshakes present it, open connections stay up.
    let (second_cert, second_key) = self_signed();
    std::fs::write(&cert_path, &second_cert).expect("write cert");
    std::fs::write(&key_path, &second_key).expect("write key");
    gateway.signal("HUP");
    let trusting_second = https_client(&second_cert);
    let reloaded = tokio::time::timeout(WAIT, async {
        loop {
            let ping = trusting_second
                .get(format!("https://{public}/api/v3/ping"))
                .send()
                .await;
            if ping.is_ok_and(|response| response.status() == 200) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reloaded.is_ok(), "the new certificate was never served");
    let stale = https_client(&first_cert)
        .get(format!("https://{public}/api/v3/ping"))
        .send()
        .await;
    assert!(stale.is_err(), "the old certificate is no longer presented");
    let https = trusting_second;
    publish(https.clone(), "2").await;
    assert_eq!(
        ws.event().await["event"]["d"],
        "2",
        "the wss connection survived"
    );

    // A broken file on SIGHUP keeps the certificate in force.
    std::fs::write(&cert_path, "not a certificate").expect("write cert");
    gateway.signal("HUP");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ping = https
        .get(format!("https://{public}/api/v3/ping"))
        .send()
        .await
        .expect("still served");
    assert_eq!(ping.status(), 200);
}

/// The command line against a gateway with a private certificate: refused without `--ca-cert`,
/// working with it (admin commands, `token`, and `tail` over `wss://`).
#[tokio::test]
async fn the_command_line_trusts_a_private_certificate_when_told() {
    let files = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    let (cert, key) = self_signed();
    std::fs::write(&cert_path, &cert).expect("write cert");
    std::fs::write(&key_path, &key).expect("write key");
    let paths = [
        cert_path.to_str().expect("path"),
        key_path.to_str().expect("path"),
    ];
    let gateway = Gateway::start_with(&["--tls-cert", paths[0], "--tls-key", paths[1]], &[]).await;
    let refused = gateway.cli(&["keys", "list"]).await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        refused.stderr.to_lowercase().contains("certificate"),
        "{refused:?}"
    );

    let trusting = |args: &[&str]| {
        let mut command = gateway.command(args);
        command.env("USERSTREAM_CA_CERT", &cert_path);
        command
    };
    let created = run(trusting(&["keys", "create"]), None).await.json();
    let api_key = created["apiKey"].as_str().expect("apiKey");
    let uid = created["uid"].as_u64().expect("uid").to_string();
    let token = run(trusting(&["token", "--api-key", api_key]), None)
        .await
        .json();
    assert!(token["token"].is_string(), "{token}");

    let mut tail = Tail::start(&gateway, &["--api-key", api_key, "--ca-cert", paths[0]]);
    tail.status("cross: subscribed").await;
    run(trusting(&["publish", "--uid", &uid, BALANCE_UPDATE]), None)
        .await
        .json();
    assert_eq!(
        tail.line().await,
        "2019-11-08T08:11:37.110000Z cross balanceUpdate BTC 100.00000000"
    );
}

/// `serve --demo` prints the demo key, its secret and a `tail` command after the listening
/// line; that command, run as printed, streams the trader's orders.
#[tokio::test]
async fn serve_demo_prints_a_key_and_a_tail_command_that_works() {
    let mut gateway = Gateway::start_with(&["--demo", "--demo-seed", "4"], &[]).await;
    let mut lines = Vec::new();
    while !lines
        .last()
        .is_some_and(|line: &String| line.contains("userstream tail"))
    {
        lines.push(gateway.stdout_line().await);
    }
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} line in {lines:#?}"))
    };
    let (key, secret) = (field("API key:"), field("secret:"));
    assert_eq!(key.len(), 64, "{lines:#?}");
    let command = lines.last().expect("the tail line").trim();
    assert!(
        command.contains(&format!("--api-key {key} --secret {secret}")),
        "{command}"
    );
    assert!(
        command.ends_with("--cross --isolated BTCUSDT --isolated ETHUSDT"),
        "{command}"
    );
    let args: Vec<&str> = command
        .strip_prefix("userstream tail ")
        .expect("a tail command")
        .split_whitespace()
        .collect();
    let mut tail = Tail::start(&gateway, &args);
    tail.status("isolated:ETHUSDT: subscribed").await;
    // The trader acts every 3 seconds (of the real clock here).
    loop {
        let line = tail.line().await;
        if line.contains("executionReport") {
            break;
        }
    }
}
