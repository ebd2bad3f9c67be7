//! The console's scenario runner: the shipped `scenarios/*.toml`, embedded in the binary, each
//! run by this same binary as `userstream play FILE --check --verbose` against the server that
//! asked, its output passed on line by line.

use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use userstream_server::console::{
    ScenarioFuture, ScenarioInfo, ScenarioOutcome, ScenarioOutput, ScenarioRequest, ScenarioRunner,
};

/// The shipped scenarios: the name a run request gives, and the file.
const SHIPPED: &[(&str, &str)] = &[
    (
        "full_fill",
        include_str!("../../../scenarios/full_fill.toml"),
    ),
    (
        "margin_call",
        include_str!("../../../scenarios/margin_call.toml"),
    ),
    ("oco", include_str!("../../../scenarios/oco.toml")),
    (
        "partial_fill_cancel",
        include_str!("../../../scenarios/partial_fill_cancel.toml"),
    ),
    (
        "revoked_key",
        include_str!("../../../scenarios/revoked_key.toml"),
    ),
    (
        "server_shutdown",
        include_str!("../../../scenarios/server_shutdown.toml"),
    ),
    (
        "token_expiry",
        include_str!("../../../scenarios/token_expiry.toml"),
    ),
];

/// Longest a run may take before it is stopped and counted failed (the slowest shipped one
/// takes about 10 s).
const RUN_LIMIT: Duration = Duration::from_secs(120);

pub struct PlayRunner {
    /// The server's certificate, for a player talking to it over TLS.
    ca_cert: Option<PathBuf>,
    scenarios: Vec<ScenarioInfo>,
}

impl PlayRunner {
    pub fn new(ca_cert: Option<PathBuf>) -> PlayRunner {
        let scenarios = SHIPPED
            .iter()
            .map(|(name, text)| match crate::commands::play::describe(text) {
                Some((title, description)) => ScenarioInfo::new(*name, title, description.trim()),
                None => ScenarioInfo::new(*name, *name, ""),
            })
            .collect();
        PlayRunner { ca_cert, scenarios }
    }
}

impl ScenarioRunner for PlayRunner {
    fn scenarios(&self) -> Vec<ScenarioInfo> {
        self.scenarios.clone()
    }

    fn run(&self, request: ScenarioRequest, output: ScenarioOutput) -> ScenarioFuture {
        let text = SHIPPED
            .iter()
            .find(|(name, _)| *name == request.name)
            .map(|(_, text)| *text);
        let ca_cert = self.ca_cert.clone();
        Box::pin(async move {
            let Some(text) = text else {
                output.line(&format!("error: no scenario named '{}'", request.name));
                return ScenarioOutcome::Failed;
            };
            match play(text, &request, ca_cert, &output).await {
                Ok(true) => ScenarioOutcome::Passed,
                Ok(false) => ScenarioOutcome::Failed,
                Err(error) => {
                    tracing::warn!(scenario = %request.name, error = %format!("{error:#}"), "scenario run failed");
                    output.line(&format!("error: {error:#}"));
                    ScenarioOutcome::Failed
                }
            }
        })
    }
}

/// Plays `text` with a child `userstream play`; whether it exited successfully.
async fn play(
    text: &str,
    request: &ScenarioRequest,
    ca_cert: Option<PathBuf>,
    output: &ScenarioOutput,
) -> anyhow::Result<bool> {
    let file = tempfile::Builder::new()
        .prefix("userstream-scenario-")
        .suffix(".toml")
        .tempfile()
        .context("cannot make the scenario's temporary file")?;
    std::fs::write(file.path(), text).context("cannot write the scenario's temporary file")?;
    let exe = std::env::current_exe().context("cannot find the userstream binary")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("play")
        .arg(file.path())
        .args(["--check", "--verbose", "--url", &request.public_url])
        .args(["--admin-url", &request.admin_url])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The player is this server's, not the environment's: it is given its own settings.
    for name in crate::child_env::userstream_variables() {
        command.env_remove(name);
    }
    // In the environment, not on the command line, which other local users can read.
    if let Some(token) = &request.admin_token {
        command.env("USERSTREAM_ADMIN_TOKEN", token);
    }
    if let Some(ca_cert) = ca_cert {
        command.env("USERSTREAM_CA_CERT", ca_cert);
    }
    let mut child = command.spawn().context("cannot start userstream play")?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let ran = tokio::time::timeout(RUN_LIMIT, async {
        let (status, (), ()) = tokio::join!(
            child.wait(),
            forward(stdout, output),
            forward(stderr, output)
        );
        status
    })
    .await;
    match ran {
        Ok(status) => Ok(status.context("userstream play")?.success()),
        Err(_) => {
            output.line(&format!(
                "stopped: the run took longer than {} s",
                RUN_LIMIT.as_secs()
            ));
            Ok(false)
        }
    }
}

/// Every line of `pipe`, to the console.
async fn forward(pipe: Option<impl AsyncRead + Unpin>, output: &ScenarioOutput) {
    let Some(pipe) = pipe else { return };
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        output.line(&line);
    }
}
