//! The console's scenario runner in the real binary: `serve` lists the shipped scenarios and
//! runs one with `userstream play`, its lines and outcome arriving on the console's stream.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "console-test-token";
/// A whole run of full_fill, a few seconds, with room for a busy machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The next `scenario` item's data on a Server-Sent Events stream.
async fn next_scenario(response: &mut reqwest::Response, buffer: &mut String) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            let mut lines = message.lines();
            if lines.next() != Some("event: scenario") {
                continue;
            }
            let data = lines
                .find_map(|line| line.strip_prefix("data: "))
                .expect("a data line");
            return serde_json::from_str(data).expect("scenario data is JSON");
        }
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .expect("no console item in time")
            .expect("read the stream")
            .expect("the stream ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_console_runs_a_shipped_scenario_with_play() {
    let gateway = Gateway::start_with(&["--admin-token", TOKEN], &[]).await;
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("http://{}{path}", gateway.admin);
    let list: Value = http
        .get(admin("/admin/v1/scenarios"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("list scenarios")
        .json()
        .await
        .expect("JSON");
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for name in [
        "full_fill",
        "margin_call",
        "oco",
        "partial_fill_cancel",
        "revoked_key",
        "server_shutdown",
        "token_expiry",
    ] {
        assert!(names.contains(&name), "{name} missing: {list}");
    }
    let full_fill = list
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == "full_fill"))
        .expect("full_fill");
    assert_eq!(full_fill["title"], "full-fill");
    assert!(!full_fill["description"].as_str().unwrap_or("").is_empty());

    let mut stream = http
        .get(admin("/admin/v1/console/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("open the stream");
    assert_eq!(stream.status(), 200);
    let started = http
        .post(admin("/admin/v1/scenarios/run"))
        .bearer_auth(TOKEN)
        .json(&json!({ "name": "full_fill" }))
        .send()
        .await
        .expect("start a run");
    assert_eq!(started.status(), 202);
    let run = started.json::<Value>().await.expect("JSON")["run"].clone();

    let mut buffer = String::new();
    let mut lines = Vec::new();
    let outcome = tokio::time::timeout(RUN_TIMEOUT, async {
        loop {
            let item = next_scenario(&mut stream, &mut buffer).await;
            assert_eq!(item["run"], run, "{item}");
            match item["state"].as_str() {
                Some("running") => {
                    if let Some(line) = item["line"].as_str() {
                        lines.push(line.to_owned());
                    }
                }
                _ => return item,
            }
        }
    })
    .await
    .expect("the run did not end in time");
    assert_eq!(
        outcome["state"],
        "passed",
        "{outcome}\n{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|line| line.contains("full-fill")),
        "the player's own lines: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"result\":\"passed\"")),
        "the summary: {lines:?}"
    );
}
