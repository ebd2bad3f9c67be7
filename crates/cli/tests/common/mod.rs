//! The real `userstream` binary on ephemeral loopback ports, and the clients the tests drive it
//! with. Every child process is killed when its handle drops, so a failing test leaves nothing
//! behind. Waits are bounded by [`WAIT`], which only a broken build ever reaches.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

pub const BALANCE_UPDATE: &str =
    r#"{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}"#;

/// The binary with a clean environment: no `USERSTREAM_*` variable of the developer's shell
/// leaks in, logs stay quiet, and the child dies with its handle.
pub fn userstream() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_userstream")))
}

/// The binary run by a shell that first sets its descriptor limit (soft and hard) to `limit`.
pub fn userstream_with_descriptor_limit(limit: u32) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_userstream"));
    clean(command)
}

fn clean(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("USERSTREAM_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The single JSON line a successful command prints.
    pub fn json(&self) -> Value {
        assert!(self.status.success(), "command failed: {self:?}");
        assert_eq!(
            self.stdout.lines().count(),
            1,
            "one line expected: {self:?}"
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts exit code 1, nothing on stdout, and `needles` on stderr.
    pub fn failed_with(&self, needles: &[&str]) {
        assert_eq!(self.status.code(), Some(1), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        for needle in needles {
            assert!(self.stderr.contains(needle), "{needle:?} missing: {self:?}");
        }
    }
}

/// Runs a command to completion, feeding `stdin` if given.
pub async fn run(mut command: Command, stdin: Option<&str>) -> Ran {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("spawn userstream");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("command timed out")
        .expect("command output");
    Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running `userstream serve` on ephemeral loopback ports.
pub struct Gateway {
    pub child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    /// `https` when the listeners speak TLS, else `http`.
    pub scheme: &'static str,
    /// The server's stdout after the listening line (held so that it stays open).
    stdout: Lines<BufReader<ChildStdout>>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    pub async fn start() -> Gateway {
        Gateway::start_with(&[], &[]).await
    }

    pub async fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = userstream();
        serve_on_free_ports(&mut command, dir.path());
        command
            .args(args)
            .envs(envs.iter().copied())
            .stderr(Stdio::inherit());
        Gateway::launch(command, dir).await
    }

    /// Starts `command` (a `serve` command line) and waits for its listening line.
    pub async fn launch(mut command: Command, dir: tempfile::TempDir) -> Gateway {
        command.stdout(Stdio::piped());
        let mut child = command.spawn().expect("spawn userstream serve");
        let stdout = child.stdout.take().expect("stdout pipe");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("no listening line in time")
            .expect("read stdout")
            .expect("serve exited before listening");
        let (public, admin) = parse_listening_line(&line);
        let scheme = if line.contains("https://") {
            "https"
        } else {
            "http"
        };
        Gateway {
            child,
            public,
            admin,
            scheme,
            stdout: lines,
            _dir: dir,
        }
    }

    /// The next line the server writes on stdout after the listening line.
    pub async fn stdout_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("no stdout line in time")
            .expect("read stdout")
            .expect("serve closed stdout")
    }

    /// Where this server keeps its data.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("serve is running")
    }

    /// The binary, pointed at this gateway through the environment (as a user would set it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = userstream();
        command
            .env(
                "USERSTREAM_ADMIN_URL",
                format!("{}://{}", self.scheme, self.admin),
            )
            .env(
                "USERSTREAM_URL",
                format!("{}://{}", self.scheme, self.public),
            )
            .args(args);
        command
    }

    pub async fn cli(&self, args: &[&str]) -> Ran {
        run(self.command(args), None).await
    }

    /// `publish` of one event to `uid`'s cross account, or its isolated `symbol` account.
    pub async fn publish(&self, uid: &str, isolated: Option<&str>, event: &str) -> Value {
        let mut args = vec!["publish", "--uid", uid];
        if let Some(symbol) = isolated {
            args.extend(["--isolated", symbol]);
        }
        args.push(event);
        self.cli(&args).await.json()
    }

    /// `order place`: a GTC LIMIT BUY of 0.01 BTCUSDT at 59000 for `uid`'s cross account,
    /// as `client_order_id`; the order as the admin API answers it.
    pub async fn place_limit_buy(&self, uid: &str, client_order_id: &str) -> Value {
        let order = [
            "order",
            "place",
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--type",
            "LIMIT",
            "--time-in-force",
            "GTC",
            "--quantity",
            "0.01",
            "--price",
            "59000",
        ];
        let who = ["--uid", uid, "--client-order-id", client_order_id];
        self.cli(&[&order[..], &who[..]].concat()).await.json()
    }

    pub async fn create_key(&self, args: &[&str]) -> (String, String, u64) {
        let answer = self.cli(&[&["keys", "create"], args].concat()).await.json();
        (
            answer["apiKey"].as_str().expect("apiKey").to_owned(),
            answer["secretKey"].as_str().expect("secretKey").to_owned(),
            answer["uid"].as_u64().expect("uid"),
        )
    }

    pub async fn token(&self, args: &[&str]) -> String {
        let answer = self.cli(&[&["token"], args].concat()).await.json();
        assert!(answer["expirationTime"].is_i64(), "{answer}");
        answer["token"].as_str().expect("token").to_owned()
    }

    pub async fn ws(&self) -> Ws {
        let url = format!("ws://{}/ws-api/v3", self.public);
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("WebSocket connect timed out")
            .expect("WebSocket connect");
        Ws { stream, next_id: 1 }
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("serve is running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    pub async fn exit_status(mut self) -> ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("serve did not exit in time")
            .expect("wait for serve")
    }
}

/// Adds `serve` on ephemeral loopback ports with its data in `dir`.
pub fn serve_on_free_ports(command: &mut Command, dir: &std::path::Path) {
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
}

/// `userstream listening on http://P (WebSocket API ws://P/ws-api/v3), admin on http://A`, or
/// the same with `https`/`wss` when the listeners speak TLS.
pub fn parse_listening_line(line: &str) -> (SocketAddr, SocketAddr) {
    let (http, ws) = if line.contains("https://") {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let parsed = line
        .strip_prefix(&format!("userstream listening on {http}://"))
        .and_then(|rest| rest.split_once(&format!(" (WebSocket API {ws}://")))
        .and_then(|(public, rest)| {
            let (ws, admin) = rest.split_once(&format!("/ws-api/v3), admin on {http}://"))?;
            (ws == public).then_some((public.parse().ok()?, admin.parse().ok()?))
        });
    parsed.unwrap_or_else(|| panic!("unexpected listening line: {line:?}"))
}

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_id: u64,
}

impl Ws {
    /// The next text frame as JSON; `None` once the server closed the connection.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("no WebSocket frame in time");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            }
        }
    }

    pub async fn event(&mut self) -> Value {
        self.next().await.expect("connection closed")
    }

    /// Sends a request and returns its response (no events are expected in between).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params});
        self.stream
            .send(Message::text(request.to_string()))
            .await
            .expect("send request");
        let response = self.event().await;
        assert_eq!(response["id"], json!(id), "{response}");
        response
    }

    /// Subscribes and returns the subscription id.
    pub async fn subscribe(&mut self, token: &str) -> u64 {
        let response = self
            .request(
                "userDataStream.subscribe.listenToken",
                json!({ "listenToken": token }),
            )
            .await;
        assert_eq!(response["status"], 200, "{response}");
        response["result"]["subscriptionId"]
            .as_u64()
            .expect("subscriptionId")
    }
}

/// A running `userstream tail`, its stdout read line by line.
pub struct Tail {
    pub child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<tokio::process::ChildStderr>>,
    statuses: Vec<String>,
}

impl Tail {
    pub fn start(gateway: &Gateway, args: &[&str]) -> Tail {
        let mut command = gateway.command(&[&["tail"], args].concat());
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn userstream tail");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Tail {
            child,
            stdout,
            stderr,
            statuses: Vec::new(),
        }
    }

    /// Stops it as a user does, with Ctrl-C (SIGINT), and waits for it to exit.
    pub async fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("tail is running").to_string();
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("tail exits")
            .expect("wait")
    }

    pub async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("no event line in time")
            .expect("read stdout")
            .expect("tail ended")
    }

    /// The first status line containing `needle`, reading more as needed.
    pub async fn status(&mut self, needle: &str) -> String {
        if let Some(seen) = self.statuses.iter().find(|line| line.contains(needle)) {
            return seen.clone();
        }
        loop {
            let line = tokio::time::timeout(WAIT, self.stderr.next_line())
                .await
                .unwrap_or_else(|_| panic!("no status line with {needle:?} in time"))
                .expect("read stderr")
                .expect("tail ended");
            self.statuses.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}
