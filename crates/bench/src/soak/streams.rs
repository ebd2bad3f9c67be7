//! The streams under test: one `userstream-client` [`UserStream`] per account, each read by its
//! own task that feeds a [`StreamCheck`] in the order the client yields items.

use super::checker::{GapSeen, StreamCheck};
use crate::BenchError;
use futures_util::StreamExt;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use userstream_client::{Backoff, Event, Item, Options, Status, UserStream};

/// How often each kind of status came up, summed over streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub connected: u64,
    pub subscribed: u64,
    pub renewed: u64,
    pub reconnecting: u64,
    pub handovers_started: u64,
    pub handovers_completed: u64,
    pub token_retries: u64,
    pub gaps: u64,
    pub terminated: u64,
    /// Events that were not the soak's numbered `balanceUpdate`s.
    pub foreign_events: u64,
}

impl StatusCounts {
    pub fn add(&mut self, other: &StatusCounts) {
        self.connected += other.connected;
        self.subscribed += other.subscribed;
        self.renewed += other.renewed;
        self.reconnecting += other.reconnecting;
        self.handovers_started += other.handovers_started;
        self.handovers_completed += other.handovers_completed;
        self.token_retries += other.token_retries;
        self.gaps += other.gaps;
        self.terminated += other.terminated;
        self.foreign_events += other.foreign_events;
    }
}

/// What one stream's reader ends with.
pub struct StreamOutcome {
    pub check: StreamCheck,
    pub statuses: StatusCounts,
    /// Why the stream ended for good, if it did (it never should).
    pub fatal: Option<String>,
}

/// Counters every task can read while the streams run.
#[derive(Debug)]
pub struct FleetCounters {
    /// Events yielded, all streams.
    pub delivered: AtomicU64,
    /// Streams subscribed at least once.
    pub subscribed: AtomicUsize,
    /// The highest number each stream has received.
    pub highest: Vec<AtomicU64>,
}

/// Every stream and its reader.
pub struct Fleet {
    pub counters: Arc<FleetCounters>,
    stop: watch::Sender<bool>,
    readers: Vec<JoinHandle<StreamOutcome>>,
}

/// The client's options in the soak: tokens of `validity`, and silence noticed within seconds
/// (a ping after 5 s without a frame, given 3 s to be answered) so that a long mute becomes a
/// reconnect rather than a stall; backoff capped at 5 s so outages end quickly.
pub fn client_options(validity: Duration) -> Options {
    let backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(5),
    };
    Options {
        token_validity: Some(validity),
        ping_after: Duration::from_secs(5),
        pong_timeout: Duration::from_secs(3),
        reconnect_backoff: backoff,
        token_backoff: backoff,
        ..Options::default()
    }
}

impl Fleet {
    /// Starts one stream per API key (cross margin account) against the server at `public`.
    pub fn start(
        public: SocketAddr,
        api_keys: &[String],
        options: &Options,
    ) -> Result<Fleet, BenchError> {
        let counters = Arc::new(FleetCounters {
            delivered: AtomicU64::new(0),
            subscribed: AtomicUsize::new(0),
            highest: api_keys.iter().map(|_| AtomicU64::new(0)).collect(),
        });
        let (stop, stopping) = watch::channel(false);
        let base = format!("http://{public}");
        let mut readers = Vec::with_capacity(api_keys.len());
        for (index, api_key) in api_keys.iter().enumerate() {
            let stream = UserStream::builder()
                .api_key(api_key)
                .local(&base)
                .and_then(|builder| builder.cross().options(options.clone()).start())
                .map_err(|error| BenchError(format!("cannot start stream {index}: {error}")))?;
            readers.push(tokio::spawn(read(
                index,
                stream,
                Arc::clone(&counters),
                stopping.clone(),
            )));
        }
        Ok(Fleet {
            counters,
            stop,
            readers,
        })
    }

    /// Stops every stream and collects what each one saw, in stream order.
    pub async fn stop(self) -> Result<Vec<StreamOutcome>, BenchError> {
        let _ = self.stop.send(true);
        let mut outcomes = Vec::with_capacity(self.readers.len());
        for reader in self.readers {
            outcomes.push(
                reader
                    .await
                    .map_err(|error| BenchError(format!("a stream reader failed: {error}")))?,
            );
        }
        Ok(outcomes)
    }
}

/// Reads one stream until told to stop.
async fn read(
    index: usize,
    mut stream: UserStream,
    counters: Arc<FleetCounters>,
    mut stop: watch::Receiver<bool>,
) -> StreamOutcome {
    let mut outcome = StreamOutcome {
        check: StreamCheck::new(),
        statuses: StatusCounts::default(),
        fatal: None,
    };
    let counts = &mut outcome.statuses;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let Some(item) = item else { break };
        match item {
            Item::Event(event) => match sequence_number(&event.event) {
                Some(seq) => {
                    outcome.check.event(seq);
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    counters.highest[index].fetch_max(seq, Ordering::Relaxed);
                }
                None => counts.foreign_events += 1,
            },
            Item::Status(status) => match status {
                Status::Connected { .. } => counts.connected += 1,
                Status::Subscribed { .. } => {
                    if counts.subscribed == 0 {
                        counters.subscribed.fetch_add(1, Ordering::Relaxed);
                    }
                    counts.subscribed += 1;
                }
                Status::Renewed { .. } => counts.renewed += 1,
                Status::Reconnecting { .. } => counts.reconnecting += 1,
                Status::HandoverStarted { .. } => counts.handovers_started += 1,
                Status::HandoverComplete { .. } => counts.handovers_completed += 1,
                Status::TokenRetry { .. } => counts.token_retries += 1,
                Status::Gap(gap) => {
                    counts.gaps += 1;
                    outcome.check.gap(GapSeen {
                        since_us: gap.since_us,
                        until_us: gap.until_us,
                    });
                }
                Status::Terminated(fatal) => {
                    counts.terminated += 1;
                    outcome.fatal = Some(fatal.to_string());
                }
                // A resume replays what a lost connection missed: the events themselves are
                // checked like any others. Statuses added later carry nothing to count.
                _ => {}
            },
            // Soak streams run without a secret: no snapshots.
            _ => {}
        }
    }
    outcome
}

/// The number a soak event carries in its balance delta.
fn sequence_number(event: &Event) -> Option<u64> {
    match event {
        Event::BalanceUpdate(update) => update.balance_delta.as_str().parse().ok(),
        _ => None,
    }
}
