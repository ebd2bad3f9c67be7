//! The real `userstream` binary, end to end: `serve` on ephemeral ports, the client commands
//! against it, and a WebSocket client watching what subscribers receive.
//!
//! Every child process is killed when its handle drops, so a failing test leaves nothing behind.
//! Waits are bounded by [`WAIT`], which only a broken build ever reaches.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn events_flow_from_publish_to_a_cross_subscriber_until_revocation() {
    let gateway = Gateway::start().await;
    let (api_key, secret, uid) = gateway.create_key(&["--uid", "42", "--label", "e2e"]).await;
    assert_eq!(uid, 42);
    let listed = gateway.cli(&["keys", "list"]).await.json();
    assert_eq!(listed[0]["apiKey"], json!(api_key), "{listed}");
    assert_eq!(listed[0]["label"], "e2e");
    assert!(
        !gateway
            .cli(&["keys", "list"])
            .await
            .stdout
            .contains(&secret),
        "secrets are never listed"
    );

    let token = gateway.token(&["--api-key", &api_key]).await;
    let mut ws = gateway.ws().await;
    assert_eq!(ws.subscribe(&token).await, 0);

    let answer = gateway
        .cli(&["publish", "--uid", "42", BALANCE_UPDATE])
        .await
        .json();
    assert_eq!(answer, json!({"subscribers": 1}));
    let event: Value = serde_json::from_str(BALANCE_UPDATE).expect("event");
    assert_eq!(
        ws.event().await,
        json!({"subscriptionId": 0, "event": event})
    );

    // A signed request for a fresh token extends the same subscription.
    let signed = gateway
        .token(&[
            "--api-key",
            &api_key,
            "--secret",
            &secret,
            "--validity",
            "60000",
        ])
        .await;
    assert_eq!(ws.subscribe(&signed).await, 0);

    let revoked = gateway.cli(&["keys", "revoke", &api_key]).await.json();
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let terminated = ws.event().await;
    assert_eq!(terminated["subscriptionId"], 0, "{terminated}");
    assert_eq!(
        terminated["event"]["e"], "eventStreamTerminated",
        "{terminated}"
    );

    // The revoked key mints nothing more.
    gateway
        .cli(&["token", "--api-key", &api_key])
        .await
        .failed_with(&["server refused the request (HTTP 401)", "-2015"]);
}

#[tokio::test]
async fn isolated_tokens_receive_only_isolated_events_published_in_batches() {
    let gateway = Gateway::start().await;
    let (api_key, secret, uid) = gateway.create_key(&["--isolated", "BNBUSDT"]).await;
    let uid = uid.to_string();
    let token = gateway
        .token(&[
            "--api-key",
            &api_key,
            "--secret",
            &secret,
            "--isolated",
            "BNBUSDT",
        ])
        .await;
    let unsigned = gateway
        .token(&[
            "--api-key",
            &api_key,
            "--isolated",
            "bnbusdt",
            "--validity",
            "5000",
        ])
        .await;
    let mut ws = gateway.ws().await;
    assert_eq!(ws.subscribe(&token).await, 0);
    assert_eq!(ws.subscribe(&unsigned).await, 0);

    // The cross account has no subscriber here ...
    let cross = gateway
        .cli(&["publish", "--uid", &uid, BALANCE_UPDATE])
        .await
        .json();
    assert_eq!(cross, json!({"subscribers": 0}));
    // ... the isolated one does: NDJSON on stdin, one request.
    let ndjson = "{\"e\":\"balanceUpdate\",\"a\":\"BNB\",\"d\":\"1\",\"T\":1}\n\n\
                  {\"e\":\"balanceUpdate\",\"a\":\"BNB\",\"d\":\"2\",\"T\":2}\n";
    let mut command = gateway.command(&["publish", "--uid", &uid, "--isolated", "bnbusdt"]);
    command.args(["--file", "-"]);
    let batch = run(command, Some(ndjson)).await.json();
    assert_eq!(batch["published"], 2, "{batch}");
    for delta in ["1", "2"] {
        let frame = ws.event().await;
        assert_eq!(frame["subscriptionId"], 0, "{frame}");
        assert_eq!(frame["event"]["a"], "BNB", "{frame}");
        assert_eq!(frame["event"]["d"], delta, "{frame}");
    }
}

#[tokio::test]
async fn opening_an_isolated_account_enables_its_tokens() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    let isolated = ["token", "--api-key", &api_key, "--isolated", "ETHUSDT"];
    gateway
        .cli(&isolated)
        .await
        .failed_with(&["HTTP 400", "-3003"]);
    let opened = gateway
        .cli(&[
            "accounts",
            "open-isolated",
            "--uid",
            &uid,
            "--symbol",
            "ethusdt",
        ])
        .await
        .json();
    assert_eq!(opened["symbol"], "ETHUSDT", "{opened}");
    let token = gateway.token(&isolated[1..]).await;

    let mut ws = gateway.ws().await;
    assert_eq!(ws.subscribe(&token).await, 0);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let events = format!("[{BALANCE_UPDATE},{BALANCE_UPDATE}]");
    std::fs::write(file.path(), events).expect("write events");
    let path = file.path().to_str().expect("UTF-8 path");
    let answer = gateway
        .cli(&[
            "publish",
            "--uid",
            &uid,
            "--isolated",
            "ETHUSDT",
            "--file",
            path,
        ])
        .await
        .json();
    assert_eq!(answer, json!({"published": 2, "subscribers": 2}));
    assert_eq!(ws.event().await["event"]["a"], "BTC");
    assert_eq!(ws.event().await["event"]["a"], "BTC");
}

#[tokio::test]
async fn refusals_exit_1_and_quote_the_server() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    let refused = "server refused the request";
    gateway
        .cli(&["token", "--api-key", "nope"])
        .await
        .failed_with(&[refused, "(HTTP 401)", "-2014"]);
    let unknown = "A".repeat(64);
    gateway
        .cli(&["token", "--api-key", &unknown])
        .await
        .failed_with(&[refused, "(HTTP 401)", "-2015"]);
    gateway
        .cli(&["token", "--api-key", &api_key, "--secret", "wrong"])
        .await
        .failed_with(&[refused, "(HTTP 400)", "-1022"]);
    gateway
        .cli(&["token", "--api-key", &api_key, "--validity", "86400001"])
        .await
        .failed_with(&[refused, "-1130"]);
    gateway
        .cli(&["keys", "revoke", &unknown])
        .await
        .failed_with(&[refused, "(HTTP 404)"]);
    gateway
        .cli(&["publish", "--uid", &uid, r#"{"e":"noSuchEvent"}"#])
        .await
        .failed_with(&[refused, "(HTTP 400)", "noSuchEvent"]);
    // Caught before anything is sent.
    gateway
        .cli(&["publish", "--uid", &uid, "{\"e\":"])
        .await
        .failed_with(&["event 1 is not valid JSON"]);
    gateway
        .cli(&["publish", "--uid", &uid, "[]"])
        .await
        .failed_with(&["no events"]);
    gateway
        .cli(&["publish", "--uid", &uid, "--file", "/no/such/file"])
        .await
        .failed_with(&["cannot read the events from /no/such/file"]);
}

#[tokio::test]
async fn the_admin_token_is_enforced() {
    let gateway = Gateway::start_with(&["--admin-token", "sekret"], &[]).await;
    gateway
        .cli(&["keys", "list"])
        .await
        .failed_with(&["(HTTP 401)", "--admin-token"]);
    gateway
        .cli(&["keys", "list", "--admin-token", "wrong"])
        .await
        .failed_with(&["(HTTP 401)", "does not match"]);
    let listed = gateway
        .cli(&["keys", "list", "--admin-token", "sekret"])
        .await
        .json();
    assert_eq!(listed, json!([]));
    let mut command = gateway.command(&["keys", "create"]);
    command.env("USERSTREAM_ADMIN_TOKEN", "sekret");
    assert!(run(command, None).await.json()["apiKey"].is_string());
}

#[tokio::test]
async fn a_server_that_is_not_running_is_named() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let hint = format!("cannot reach {url}: is 'userstream serve' running?");
    run(
        {
            let mut command = userstream();
            command.args(["keys", "list", "--admin-url", &url]);
            command
        },
        None,
    )
    .await
    .failed_with(&[&hint]);
    run(
        {
            let mut command = userstream();
            command.args(["token", "--api-key", "k", "--url", &url]);
            command
        },
        None,
    )
    .await
    .failed_with(&[&hint]);
}

#[tokio::test]
async fn sigterm_sends_server_shutdown_and_exits_0() {
    let gateway = Gateway::start().await;
    let (api_key, _, _) = gateway.create_key(&[]).await;
    let token = gateway.token(&["--api-key", &api_key]).await;
    let mut ws = gateway.ws().await;
    ws.subscribe(&token).await;

    gateway.signal("TERM");
    let shutdown = ws.event().await;
    assert_eq!(shutdown["event"]["e"], "serverShutdown", "{shutdown}");
    assert!(shutdown["event"]["E"].is_i64(), "{shutdown}");
    assert!(shutdown.get("subscriptionId").is_none(), "{shutdown}");
    assert_eq!(ws.next().await, None, "the server closes the connection");
    assert!(gateway.exit_status().await.success());
}

#[tokio::test]
async fn sigint_exits_0_too() {
    let gateway = Gateway::start().await;
    gateway.signal("INT");
    assert!(gateway.exit_status().await.success());
}

#[tokio::test]
async fn serve_failures_exit_1_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("UTF-8 path");
    let serve = |args: &[&str]| {
        let mut command = userstream();
        command
            .args([
                "serve",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
                data_dir,
            ])
            .args(args);
        command
    };
    run(serve(&["--listen", &addr]), None)
        .await
        .failed_with(&[&format!("error: cannot listen on {addr}")]);
    run(serve(&["--config", "/no/such/userstream.toml"]), None)
        .await
        .failed_with(&["does not exist"]);
    // An empty token is a mistake (an unset variable), never a way to open the admin API.
    run(
        serve(&["--listen", "127.0.0.1:0", "--admin-token", ""]),
        None,
    )
    .await
    .failed_with(&["admin_token must not be empty"]);
    let mut bad = serve(&["--listen", "127.0.0.1:0"]);
    bad.env("USERSTREAM_TOKEN__MAX_VALIDITY_MS", "0");
    run(bad, None).await.failed_with(&["token.max_validity_ms"]);
}

/// A shell that exported the client commands' variables can still start the server, although
/// they share the `USERSTREAM_` prefix with its settings.
#[tokio::test]
async fn client_variables_do_not_upset_serve() {
    let gateway = Gateway::start_with(
        &[],
        &[
            ("USERSTREAM_URL", "http://127.0.0.1:1"),
            ("USERSTREAM_ADMIN_URL", "http://127.0.0.1:1"),
            ("USERSTREAM_API_KEY", "k"),
            ("USERSTREAM_SECRET", "s"),
        ],
    )
    .await;
    assert_eq!(gateway.cli(&["keys", "list"]).await.json(), json!([]));
}

#[tokio::test]
async fn help_names_every_command_and_hides_secrets() {
    let mut command = userstream();
    command.arg("--help");
    let help = run(command, None).await;
    assert!(help.status.success(), "{help:?}");
    for name in [
        "serve", "keys", "accounts", "publish", "token", "tail", "fault",
    ] {
        assert!(help.stdout.contains(name), "{name} missing: {help:?}");
    }
    let mut command = userstream();
    command
        .args(["token", "--help"])
        .env("USERSTREAM_SECRET", "topsecret")
        .env("USERSTREAM_API_KEY", "topkey");
    let help = run(command, None).await;
    assert!(help.status.success(), "{help:?}");
    assert!(help.stdout.contains("USERSTREAM_SECRET"), "{help:?}");
    assert!(!help.stdout.contains("topsecret"), "{help:?}");
    assert!(!help.stdout.contains("topkey"), "{help:?}");
}

/// An empty secret, such as an unset shell variable pasted into `--secret "$SECRET"`, is refused
/// rather than quietly meaning "no snapshots, unsigned requests".
#[tokio::test]
async fn an_empty_secret_is_refused() {
    let mut command = userstream();
    command.args(["tail", "--api-key", "k", "--secret", ""]);
    let refused = run(command, None).await;
    assert!(!refused.status.success(), "{refused:?}");
    assert!(refused.stderr.contains("--secret"), "{refused:?}");
}

#[tokio::test]
async fn faults_terminate_streams_and_fail_token_requests() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&[]).await;
    let token = gateway.token(&["--api-key", &api_key]).await;
    let mut ws = gateway.ws().await;
    assert_eq!(ws.subscribe(&token).await, 0);
    let uid = uid.to_string();
    let answer = gateway
        .cli(&["fault", "terminate", "--uid", &uid])
        .await
        .json();
    assert_eq!(answer, json!({"sessions": 1, "subscriptions": 1}));
    let ended = ws.event().await;
    assert_eq!(
        ended["event"]["e"],
        json!("eventStreamTerminated"),
        "{ended}"
    );

    let answer = gateway
        .cli(&[
            "fault",
            "fail-token-requests",
            "--count",
            "1",
            "--status",
            "503",
            "--code",
            "-1001",
        ])
        .await
        .json();
    assert_eq!(answer["sessions"], json!(0));
    let refused = gateway.cli(&["token", "--api-key", &api_key]).await;
    refused.failed_with(&["503", "-1001"]);
    gateway.token(&["--api-key", &api_key]).await;

    let bad = gateway.cli(&["fault", "mute"]).await;
    bad.failed_with(&["durationMs"]);
}

#[tokio::test]
async fn tail_prints_events_of_every_account_and_survives_a_terminate() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&["--isolated", "BTCUSDT"]).await;
    let uid = uid.to_string();
    let mut readable = Tail::start(
        &gateway,
        &["--api-key", &api_key, "--cross", "--isolated", "btcusdt"],
    );
    let mut json = Tail::start(&gateway, &["--api-key", &api_key, "--json"]);
    readable.status("isolated:BTCUSDT: subscribed").await;
    readable.status("cross: subscribed").await;
    json.status("cross: subscribed").await;

    gateway.publish(&uid, None, BALANCE_UPDATE).await;
    gateway.publish(&uid, Some("BTCUSDT"), BALANCE_UPDATE).await;
    assert_eq!(
        readable.line().await,
        "2019-11-08T08:11:37.110000Z cross balanceUpdate BTC 100.00000000"
    );
    assert_eq!(
        readable.line().await,
        "2019-11-08T08:11:37.110000Z isolated:BTCUSDT balanceUpdate BTC 100.00000000"
    );
    let line: Value = serde_json::from_str(&json.line().await).expect("a JSON line");
    assert_eq!(
        line,
        json!({"account": "cross", "event": serde_json::from_str::<Value>(BALANCE_UPDATE).unwrap()})
    );

    // The server ends the subscriptions; tail subscribes again at once and resumes where it
    // was (userstream announces stream positions), with nothing missed.
    gateway
        .cli(&["fault", "terminate", "--uid", &uid])
        .await
        .json();
    readable.status("cross: resumed 0 events").await;
    gateway
        .cli(&["publish", "--uid", &uid, BALANCE_UPDATE])
        .await
        .json();
    assert!(
        readable
            .line()
            .await
            .ends_with("cross balanceUpdate BTC 100.00000000")
    );

    // Interrupted, it exits 0.
    let status = readable.interrupt().await;
    assert!(status.success(), "{status:?}");
}

/// With several gateways, a dead first one is left for the next, by `tail` (which says where
/// it reconnects to) and by `token` alike.
#[tokio::test]
async fn tail_and_token_move_on_from_a_dead_gateway() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&[]).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    let (dead, live) = (
        format!("http://{dead}"),
        format!("http://{}", gateway.public),
    );
    let mut tail = Tail::start(
        &gateway,
        &["--api-key", &api_key, "--url", &format!("{dead},{live}")],
    );
    tail.status(&format!(
        "reconnecting to ws://{}/ws-api/v3 (attempt 1",
        gateway.public
    ))
    .await;
    tail.status(&format!("connected to ws://{}/ws-api/v3", gateway.public))
        .await;
    tail.status("cross: subscribed").await;
    gateway
        .cli(&["publish", "--uid", &uid.to_string(), BALANCE_UPDATE])
        .await
        .json();
    assert!(
        tail.line()
            .await
            .ends_with("cross balanceUpdate BTC 100.00000000")
    );

    let answer = gateway
        .cli(&[
            "token",
            "--api-key",
            &api_key,
            "--url",
            &dead,
            "--url",
            &live,
        ])
        .await
        .json();
    assert!(answer["token"].is_string(), "{answer}");
    // A refusal is the answer: no other gateway is asked.
    gateway
        .cli(&[
            "token",
            "--api-key",
            "unknown",
            "--url",
            &format!("{live},{dead}"),
        ])
        .await
        .failed_with(&["401"]);
}

#[tokio::test]
async fn tail_exits_1_on_configuration_errors() {
    let gateway = Gateway::start().await;
    let (api_key, _, _) = gateway.create_key(&[]).await;
    let unknown: String = api_key.chars().rev().collect();
    gateway
        .cli(&["tail", "--api-key", &unknown])
        .await
        .failed_with(&["-2015", "check --api-key"]);
    gateway
        .cli(&["tail", "--api-key", &api_key, "--isolated", "ETHUSDT"])
        .await
        .failed_with(&["-3003", "no isolated margin account for ETHUSDT"]);
    gateway
        .cli(&["tail", "--api-key", &api_key, "--isolated", "no/pe"])
        .await
        .failed_with(&["not a valid symbol"]);
    gateway
        .cli(&["tail", "--api-key", &api_key, "--url", "localhost:1"])
        .await
        .failed_with(&["localhost:1"]);
}

/// The benchmark harness runs end to end against each server it compares (numbers are not
/// asserted: they belong in docs/benchmarks.md).
#[tokio::test]
async fn bench_runs_against_every_peer() {
    // userstream publishes over its kept-open connection unless told to POST each batch.
    let peers: [(&str, &str, &[&str]); 7] = [
        ("userstream", "tungstenite", &[]),
        ("userstream", "tungstenite", &["--sbe"]),
        ("userstream", "tungstenite", &["--publish-over", "http"]),
        ("floor", "tungstenite", &[]),
        ("floor", "fastwebsockets", &[]),
        ("floor", "tokio-websockets", &[]),
        ("nats", "tungstenite", &[]),
    ];
    for (peer, stack, extra) in peers {
        let mut command = userstream();
        command.args(["bench", "fanout"]);
        command.args(extra);
        command.args(["--peer", peer, "--floor-stack", stack]);
        command.args(SMALL_PACED_RUN);
        let report = run(command, None).await.json();
        assert_eq!(report["connections"], json!(20), "{peer}: {report}");
        assert!(
            report["delivered_per_sec"].as_f64().unwrap() > 0.0,
            "{peer}: {report}"
        );
        assert!(
            report["latency"]["count"].as_u64().unwrap() > 0,
            "{peer}: {report}"
        );
        if peer == "userstream" {
            let over = if extra.contains(&"http") {
                "http"
            } else {
                "stream"
            };
            assert_eq!(report["publish_over"], json!(over), "{report}");
        }
    }
    let mut command = userstream();
    command.args(["bench", "expiry", "--subscriptions", "20"]);
    let report = run(command, None).await.json();
    assert_eq!(report["terminated"], json!(20), "{report}");

    // The intake comparison: one line per parser, each having parsed the whole batch.
    let mut command = userstream();
    command.args(["bench", "intake", "--items", "8", "--duration-ms", "20"]);
    let output = run(command, None).await;
    let lines: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let parsers: Vec<&str> = lines
        .iter()
        .map(|l| l["parser"].as_str().unwrap())
        .collect();
    assert_eq!(parsers, ["serde_json", "sonic-rs", "simd-json"]);
    for line in &lines {
        assert!(line["events"].as_u64().unwrap() >= 8, "{line}");
    }
    assert!(lines[1]["decoded_ns_per_event"].as_f64().unwrap() > 0.0);
}

/// A fan-out run small and short enough for a test: 20 connections, 200 events/s, one second.
const SMALL_PACED_RUN: [&str; 10] = [
    "--connections",
    "20",
    "--rate",
    "200",
    "--batch",
    "2",
    "--duration-secs",
    "1",
    "--warmup-secs",
    "0",
];

/// The fan-out across a cluster (two nodes on a nats-server it starts): subscribers on the
/// publishing node and on the other one each get their events, and the report tells them apart.
#[tokio::test]
async fn bench_runs_across_a_cluster() {
    let mut command = userstream();
    command.args(["bench", "fanout", "--cluster-nodes", "2"]);
    command.args(SMALL_PACED_RUN);
    let report = run(command, None).await.json();
    assert_eq!(report["peer"], json!("userstream/cluster"), "{report}");
    let cluster = &report["cluster"];
    assert_eq!(cluster["nodes"], json!(2), "{report}");
    assert_eq!(cluster["bus_losses"], json!(0), "{report}");
    for side in ["publishing_node", "other_nodes"] {
        assert_eq!(cluster[side]["connections"], json!(10), "{side}: {report}");
        assert!(
            cluster[side]["latency"]["count"].as_u64().unwrap() > 0,
            "{side}: {report}"
        );
    }
    assert!(cluster["broker_cpu_percent"].as_f64().is_some(), "{report}");
}

/// `--history off` reaches the server, whose history stays empty; `--positions` connects with
/// `streamPositions=true`, so every event read carries its position, and the history on by
/// default holds what was published. Both are in the report; the other peers refuse them.
#[tokio::test]
async fn bench_measures_positions_and_history() {
    let fanout = |flags: &[&str]| {
        let mut command = userstream();
        command
            .args(["bench", "fanout"])
            .args(flags)
            .args(SMALL_PACED_RUN);
        command
    };
    let off = run(fanout(&["--history", "off"]), None).await.json();
    assert_eq!(off["peer"], json!("userstream/history-off"), "{off}");
    assert_eq!(off["history"], json!(false), "{off}");
    assert_eq!(off["positions"], json!(false), "{off}");
    assert_eq!(off["history_bytes_per_account"], json!(0), "{off}");
    let positions = run(fanout(&["--positions"]), None).await.json();
    assert_eq!(
        positions["peer"],
        json!("userstream/positions"),
        "{positions}"
    );
    assert_eq!(positions["history"], json!(true), "{positions}");
    assert_eq!(positions["positions"], json!(true), "{positions}");
    assert!(
        positions["history_bytes_per_account"].as_u64().unwrap() > 0,
        "{positions}"
    );
    assert!(
        positions["history_events_per_account"].as_f64().unwrap() >= 1.0,
        "{positions}"
    );
    // The same event frames, each with `,"position":{"epoch":"…","sequence":N}` after it.
    let bytes = |report: &Value| report["bytes_per_event"].as_f64().unwrap();
    assert!(
        bytes(&positions) - bytes(&off) >= 35.0,
        "{positions}\n{off}"
    );
    let refused: [&[&str]; 2] = [
        &["--peer", "floor", "--positions"],
        &["--peer", "nats", "--history", "off"],
    ];
    for flags in refused {
        run(fanout(flags), None)
            .await
            .failed_with(&["applies to userstream only"]);
    }
}

#[tokio::test]
async fn tail_in_sbe_prints_what_json_prints() {
    let gateway = Gateway::start().await;
    let (api_key, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    let mut sbe = Tail::start(&gateway, &["--api-key", &api_key, "--json", "--sbe"]);
    let mut json = Tail::start(&gateway, &["--api-key", &api_key, "--json"]);
    sbe.status("cross: subscribed").await;
    json.status("cross: subscribed").await;
    gateway
        .cli(&["publish", "--uid", &uid, BALANCE_UPDATE])
        .await
        .json();
    let line = json.line().await;
    assert_eq!(sbe.line().await, line);
    let mut readable = Tail::start(&gateway, &["--api-key", &api_key, "--sbe"]);
    readable.status("cross: subscribed").await;
    gateway
        .cli(&["publish", "--uid", &uid, BALANCE_UPDATE])
        .await
        .json();
    assert_eq!(
        readable.line().await,
        "2019-11-08T08:11:37.110000Z cross balanceUpdate BTC 100.00000000"
    );
}
