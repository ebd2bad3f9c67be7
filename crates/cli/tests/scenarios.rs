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
