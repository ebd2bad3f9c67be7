//! Every scenario shipped in `scenarios/` plays and holds against the real binary:
//! `userstream play --check --start-server FILE`, each starting its own server. And a scenario
//! whose observation does not hold fails with a diff, one that is malformed before anything runs.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The slowest shipped scenario (token expiry) takes about 10 s; this leaves room for a busy CI.
const PLAY_TIMEOUT: Duration = Duration::from_secs(40);

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

async fn play(file: &Path, extra: &[&str]) -> Ran {
    let mut command = userstream();
    command
        .args(["play", "--check", "--start-server"])
        .args(extra)
        .arg(file);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("spawn userstream play");
    let output = tokio::time::timeout(PLAY_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in time", file.display()))
        .expect("play output");
    Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn every_shipped_scenario_holds() {
    let files = scenario_files();
    assert!(files.len() >= 7, "scenarios missing: {files:?}");
    // All at once: each has its own server, and most of their time is spent waiting.
    let runs = futures_util::future::join_all(files.iter().map(|file| play(file, &[]))).await;
    let mut failures = Vec::new();
    for (file, ran) in files.iter().zip(&runs) {
        let summary: Option<Value> = serde_json::from_str(ran.stdout.trim()).ok();
        let passed = ran.status.success()
            && summary.as_ref().is_some_and(|s| {
                s["result"] == "passed"
                    && s["held"] == s["observations"]
                    && s["stepsRun"] == s["steps"]
            });
        if !passed {
            failures.push(format!(
                "{}: {:?}\nstdout: {}\nstderr: {}",
                file.display(),
                ran.status,
                ran.stdout,
                ran.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn an_observation_that_does_not_hold_fails_with_a_diff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        r#"
[scenario]
name = "wrong"

[setup]
prices = { BTCUSDT = "60000" }
[[setup.deposit]]
asset = "USDT"
amount = "1000"

[[step]]
order = { symbol = "BTCUSDT", side = "BUY", type = "MARKET", quantity = "0.01" }
expect = [{ event = "executionReport", x = "TRADE", X = "PARTIALLY_FILLED" }]
within_ms = 500

[[step]]
wait = 1
"#,
    )
    .expect("write scenario");
    let ran = play(&file, &[]).await;
    assert_eq!(ran.status.code(), Some(1), "{ran:?}");
    let summary: Value = serde_json::from_str(ran.stdout.trim()).expect("summary line");
    assert_eq!(summary["result"], "failed", "{summary}");
    assert_eq!(summary["failure"]["step"], 1, "{summary}");
    assert_eq!(summary["stepsRun"], 1, "{summary}");
    for needle in [
        "step 1 (order)",
        "observation 1 of 1 did not hold within 500 ms",
        "expected: { event = \"executionReport\", X = \"PARTIALLY_FILLED\", x = \"TRADE\" }",
        "differs: X: expected \"PARTIALLY_FILLED\", got \"FILLED\"",
        "error: scenario 'wrong' failed at step 1",
    ] {
        assert!(ran.stderr.contains(needle), "{needle:?} missing: {ran:?}");
    }
}

#[tokio::test]
async fn a_malformed_scenario_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[scenario]\nname = \"bad\"\n[[step]]\nwait = 1\n[[step]]\nprice = { symbol = \"BTCUSDT\", price = \"1\" }\nwait = 5\n",
    )
    .expect("write scenario");
    // No server is started for a file that cannot run: this fails at once.
    let ran = play(&file, &[]).await;
    ran.failed_with(&["bad.toml: step 2: 2 actions (price, wait)"]);
}

/// An event without `E`, which the server sets when the replayed event goes out.
fn without_e(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        fields.remove("E");
    }
    event
}

/// A recorded step's event as JSON: its `event` table with the fields `nulls` names as null
/// (TOML has no null).
fn step_event(publish: &Value) -> Value {
    let mut event = publish["event"].clone();
    if let (Some(fields), Some(nulls)) = (event.as_object_mut(), publish["nulls"].as_array()) {
        for name in nulls {
            fields.insert(name.as_str().expect("a field name").to_owned(), Value::Null);
        }
    }
    event
}

/// `tail --record F` writes what it streams as a scenario (publish steps, statuses as
/// comments, no key), and `play F --uid N` replays it into another user's accounts, in order,
/// with fresh event times.
#[tokio::test]
async fn tail_records_a_scenario_that_play_replays_into_another_account() {
    let gateway = Gateway::start().await;
    let (api_key, secret, uid) = gateway.create_key(&["--isolated", "BTCUSDT"]).await;
    let (other_key, _, other_uid) = gateway.create_key(&["--isolated", "BTCUSDT"]).await;
    let uid = uid.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("day.toml");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let mut recording = Tail::start(
        &gateway,
        &[
            "--api-key",
            &api_key,
            "--json",
            "--cross",
            "--isolated",
            "BTCUSDT",
            "--record",
            file_arg,
        ],
    );
    recording.status("isolated:BTCUSDT: subscribed").await;
    recording.status("cross: subscribed").await;

    // Raw events on both accounts, then the simulator's: a deposit and a market order.
    gateway.publish(&uid, None, BALANCE_UPDATE).await;
    gateway.publish(&uid, Some("BTCUSDT"), BALANCE_UPDATE).await;
    gateway.cli(&["price", "BTCUSDT", "60000"]).await.json();
    gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "1000",
        ])
        .await
        .json();
    let placed = gateway
        .cli(&[
            "order",
            "place",
            "--uid",
            &uid,
            "--symbol",
            "BTCUSDT",
            "--side",
            "BUY",
            "--type",
            "MARKET",
            "--quantity",
            "0.01",
            "--client-order-id",
            "rec1",
        ])
        .await
        .json();
    assert_eq!(placed["status"], "FILLED", "{placed}");
    // A last event on the cross account: once it is in, everything before it is.
    const LAST: &str = r#"{"e":"balanceUpdate","a":"END","d":"1.00000000","T":1}"#;
    gateway.cli(&["publish", "--uid", &uid, LAST]).await.json();
    let mut recorded: Vec<(String, Value)> = Vec::new();
    loop {
        let line: Value = serde_json::from_str(&recording.line().await).expect("a JSON line");
        let account = line["account"].as_str().expect("account").to_owned();
        let event = line["event"].clone();
        let last = event["a"] == "END";
        recorded.push((account, event));
        if last {
            break;
        }
    }
    assert!(
        recorded
            .iter()
            .any(|(_, event)| event["e"] == "executionReport" && event["c"] == "rec1"),
        "{recorded:?}"
    );

    // Stopped as a user stops it: Ctrl-C.
    let status = recording.interrupt().await;
    assert!(status.success(), "{status:?}");

    // The file: a scenario with one publish step per event, in order, E left out.
    let text = std::fs::read_to_string(&file).expect("the record file");
    assert!(
        !text.contains(&api_key) && !text.contains(&secret),
        "{text}"
    );
    assert!(
        text.contains("# ") && text.contains("cross: subscribed"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "recording stopped after {} events",
            recorded.len()
        )),
        "{text}"
    );
    let parsed: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed["scenario"]["name"].as_str(), Some("day"), "{text}");
    let description = parsed["scenario"]["description"].as_str().unwrap_or("");
    assert!(
        description.contains(&format!("http://{}", gateway.public)),
        "{text}"
    );
    assert!(parsed.get("setup").is_none(), "{text}");
    let steps = parsed["step"].as_array().expect("steps");
    assert_eq!(steps.len(), recorded.len(), "{text}");
    let mut previous_at = 0;
    for (step, (account, event)) in steps.iter().zip(&recorded) {
        let at = step["at_ms"].as_integer().expect("at_ms");
        assert!(at >= previous_at, "{text}");
        previous_at = at;
        let publish: Value = serde_json::to_value(&step["publish"]).expect("JSON");
        let isolated = publish.get("isolated").and_then(Value::as_str);
        match account.strip_prefix("isolated:") {
            Some(symbol) => assert_eq!(isolated, Some(symbol), "{text}"),
            None => assert_eq!(isolated, None, "{text}"),
        }
        assert_eq!(step_event(&publish), without_e(event), "{text}");
    }

    // Replayed into the other user, ten times faster, while it streams.
    let mut replayed = Tail::start(
        &gateway,
        &[
            "--api-key",
            &other_key,
            "--json",
            "--cross",
            "--isolated",
            "BTCUSDT",
        ],
    );
    replayed.status("isolated:BTCUSDT: subscribed").await;
    replayed.status("cross: subscribed").await;
    let before_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let played = gateway
        .cli(&[
            "play",
            file_arg,
            "--uid",
            &other_uid.to_string(),
            "--speed",
            "10",
        ])
        .await
        .json();
    assert_eq!(played["result"], "passed", "{played}");
    assert_eq!(played["stepsRun"], recorded.len(), "{played}");
    let mut arrived: Vec<(String, Value)> = Vec::new();
    for _ in 0..recorded.len() {
        let line: Value = serde_json::from_str(&replayed.line().await).expect("a JSON line");
        let account = line["account"].as_str().expect("account").to_owned();
        let event = line["event"].clone();
        let e = event["E"].as_i64().expect("E");
        assert!(e >= before_ms - 1_000, "E is the replay's time: {event}");
        arrived.push((account, without_e(&event)));
    }
    // In order within each account (the accounts are separate subscriptions).
    for account in ["cross", "isolated:BTCUSDT"] {
        let want: Vec<Value> = recorded
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, event)| without_e(event))
            .collect();
        let got: Vec<Value> = arrived
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, event)| event.clone())
            .collect();
        assert_eq!(got, want, "{account}");
    }
}
