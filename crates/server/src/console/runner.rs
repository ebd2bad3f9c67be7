//! Scenario runs started from the console. The library only knows the [`ScenarioRunner`]
//! trait; the `userstream` binary implements it by running `userstream play` (its scenarios
//! and its player live there), and a test may bring its own.

use crate::console::tap::Feed;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Runs named scenarios against this server and reports their output line by line.
pub trait ScenarioRunner: Send + Sync + 'static {
    /// The scenarios it can run.
    fn scenarios(&self) -> Vec<ScenarioInfo>;

    /// Runs one (its name is one of [`ScenarioRunner::scenarios`]), sending its output to
    /// `output` as it comes, and says how it ended.
    fn run(&self, request: ScenarioRequest, output: ScenarioOutput) -> ScenarioFuture;
}

/// A run in progress, as [`ScenarioRunner::run`] returns it.
pub type ScenarioFuture = Pin<Box<dyn Future<Output = ScenarioOutcome> + Send + 'static>>;

/// A scenario as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ScenarioInfo {
    /// What a run request names, e.g. `full_fill`.
    pub name: String,
    /// The scenario's own name, e.g. `full-fill`.
    pub title: String,
    pub description: String,
}

impl ScenarioInfo {
    pub fn new(
        name: impl Into<String>,
        title: impl Into<String>,
        description: impl Into<String>,
    ) -> ScenarioInfo {
        ScenarioInfo {
            name: name.into(),
            title: title.into(),
            description: description.into(),
        }
    }
}

/// Which scenario to run, and where this server is.
#[non_exhaustive]
pub struct ScenarioRequest {
    pub name: String,
    /// The public API, e.g. `http://127.0.0.1:9443`.
    pub public_url: String,
    /// The admin API, e.g. `http://127.0.0.1:9444`.
    pub admin_url: String,
    /// The admin token the player must present, when one is set.
    pub admin_token: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScenarioOutcome {
    Passed,
    Failed,
}

/// Where a run's output goes: each line becomes a `scenario` item on the open consoles.
#[derive(Clone)]
pub struct ScenarioOutput {
    feed: Arc<Feed>,
    run: u64,
    name: Arc<str>,
    title: Arc<str>,
}

impl ScenarioOutput {
    /// One line of output.
    pub fn line(&self, line: &str) {
        self.send("running", Some(line));
    }

    fn send(&self, state: &str, line: Option<&str>) {
        let data = serde_json::json!({
            "run": self.run,
            "name": &*self.name,
            "title": &*self.title,
            "state": state,
            "line": line,
        });
        self.feed.scenario(data.to_string());
    }
}

/// The runner and its one run at a time.
pub(crate) struct Runs {
    /// Set once, before the server runs.
    runner: OnceLock<Arc<dyn ScenarioRunner>>,
    busy: Arc<AtomicBool>,
    last_run: AtomicU64,
}

/// Why a run did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("this server runs no scenarios (they need the simulator and a scenario runner)")]
    NoRunner,
    #[error("no scenario named '{0}'")]
    Unknown(String),
    #[error("a scenario is running already")]
    Busy,
}

/// Frees the one place for a run when the run ends, however it ends.
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Runs {
    pub(crate) fn new() -> Runs {
        Runs {
            runner: OnceLock::new(),
            busy: Arc::new(AtomicBool::new(false)),
            last_run: AtomicU64::new(0),
        }
    }

    /// Installs the runner; a second one is ignored (there is one per server).
    pub(crate) fn install(&self, runner: Arc<dyn ScenarioRunner>) {
        if self.runner.set(runner).is_err() {
            tracing::warn!("a scenario runner was installed already; the new one is ignored");
        }
    }

    pub(crate) fn available(&self) -> bool {
        self.runner.get().is_some()
    }

    pub(crate) fn list(&self) -> Option<Vec<ScenarioInfo>> {
        self.runner.get().map(|runner| runner.scenarios())
    }

    /// Starts `request` on a task of its own and returns its run number.
    pub(crate) fn start(
        &self,
        feed: &Arc<Feed>,
        request: ScenarioRequest,
    ) -> Result<u64, StartError> {
        let runner = self.runner.get().ok_or(StartError::NoRunner)?;
        let info = runner
            .scenarios()
            .into_iter()
            .find(|info| info.name == request.name)
            .ok_or_else(|| StartError::Unknown(request.name.clone()))?;
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| StartError::Busy)?;
        let busy = Busy(Arc::clone(&self.busy));
        let run = self.last_run.fetch_add(1, Ordering::Relaxed) + 1;
        let output = ScenarioOutput {
            feed: Arc::clone(feed),
            run,
            name: info.name.into(),
            title: info.title.into(),
        };
        output.send("running", None);
        tracing::info!(run, scenario = %request.name, "scenario run started");
        let running = runner.run(request, output.clone());
        tokio::spawn(async move {
            let outcome = running.await;
            // Free before telling, so whoever hears the outcome may start the next run.
            drop(busy);
            let state = match outcome {
                ScenarioOutcome::Passed => "passed",
                ScenarioOutcome::Failed => "failed",
            };
            tracing::info!(run, state, "scenario run ended");
            output.send(state, None);
        });
        Ok(run)
    }
}
