//! Real `nats-server` processes with JetStream on random loopback ports, alone or as a
//! 3-server cluster, that a test can kill (`SIGKILL`) and start again on the same ports and
//! storage. `scripts/test.sh` installs nats-server when it is missing.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a server gets to start and have JetStream ready.
const READY_WAIT: Duration = Duration::from_secs(20);

pub struct NatsServer {
    name: String,
    pub port: u16,
    monitor_port: u16,
    cluster_port: u16,
    routes: Vec<u16>,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    child: Option<Child>,
}

/// A loopback port nothing listens on, and that no other server of this process was given:
/// the tests of one binary run at once, and a port let go may be handed out again.
fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free loopback port");
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

impl NatsServer {
    /// One server with JetStream.
    pub async fn start() -> NatsServer {
        let mut server = NatsServer::new("n1", Vec::new());
        server.launch();
        server.wait_ready().await;
        server
    }

    /// Three servers routed into one cluster with JetStream (replicated streams work once all
    /// three are ready).
    pub async fn cluster() -> Vec<NatsServer> {
        let cluster_ports = [free_port(), free_port(), free_port()];
        let mut servers: Vec<NatsServer> = (0..3)
            .map(|i| {
                let mut server = NatsServer::new(&format!("n{}", i + 1), cluster_ports.to_vec());
                server.cluster_port = cluster_ports[i];
                server
            })
            .collect();
        for server in &mut servers {
            server.launch();
        }
        for server in &servers {
            server.wait_ready().await;
        }
        servers
    }

    fn new(name: &str, routes: Vec<u16>) -> NatsServer {
        let temp = tempfile::tempdir().expect("a temporary directory");
        NatsServer {
            name: name.to_owned(),
            port: free_port(),
            monitor_port: free_port(),
            cluster_port: 0,
            routes,
            dir: temp.path().to_path_buf(),
            _temp: Some(temp),
            child: None,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let mut command = Command::new("nats-server");
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .args(["-js", "-sd", &self.dir.display().to_string()])
            .args(["--server_name", &self.name]);
        if self.cluster_port != 0 {
            let routes: Vec<String> = self
                .routes
                .iter()
                .filter(|port| **port != self.cluster_port)
                .map(|port| format!("nats://127.0.0.1:{port}"))
                .collect();
            command
                .args(["--cluster_name", "userstream-test"])
                .args([
                    "--cluster",
                    &format!("nats://127.0.0.1:{}", self.cluster_port),
                ])
                .args(["--routes", &routes.join(",")]);
        }
        let log = std::fs::File::create(self.log_path()).expect("a log file");
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server must be installed (scripts/test.sh installs it)");
        self.child = Some(child);
    }

    /// Waits until the server says JetStream is ready (its monitoring `/healthz`).
    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.monitor_port);
        let deadline = Instant::now() + READY_WAIT;
        let http = reqwest::Client::new();
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server {} never became ready",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and storage.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch();
        self.wait_ready().await;
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
