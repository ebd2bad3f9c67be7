//! Publishing numbered events: every stream's account gets `balanceUpdate`s whose `d` is its
//! own sequence number (1, 2, 3…), in batches through `POST /admin/v1/events`, one request at a
//! time so that each account's numbers are published in order.
//!
//! A request that fails before reaching the server (connection refused: the server is down)
//! takes its numbers back. One that fails after (the server was killed mid-request) may or may
//! not have published them, so they become *optional* for the checker.

use crate::BenchError;
use crate::net::now_us;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most events in one request.
const MAX_BATCH: usize = 1_000;
/// How often the pacing loop looks at the clock.
const TICK: Duration = Duration::from_millis(10);
/// Falling further behind than this much of the rate starts the pacing over, rather than
/// bursting to catch up (after an outage, say).
const MAX_BEHIND: Duration = Duration::from_secs(1);
/// The wait after a failed request.
const RETRY: Duration = Duration::from_millis(100);

/// What every task may read while publishing goes on.
#[derive(Debug, Default)]
pub struct PublishCounters {
    /// Events the server accepted.
    pub published: AtomicU64,
    /// Requests that failed (server down, killed mid-request).
    pub failed_requests: AtomicU64,
    /// Events whose fate is unknown.
    pub uncertain: AtomicU64,
}

pub struct Publisher {
    http: reqwest::Client,
    url: String,
    uids: Vec<u64>,
    /// The last number given to each stream's account.
    last: Vec<u64>,
    /// Numbers whose publication is uncertain, per stream, ascending.
    optional: Vec<Vec<u64>>,
    cursor: usize,
    pub counters: Arc<PublishCounters>,
}

/// How a request failed.
enum Failure {
    /// Nothing reached the server.
    NotSent,
    /// It may have been published.
    Uncertain,
}

impl Publisher {
    /// A publisher for streams whose accounts are `uids` (stream `i` is `uids[i]`).
    pub fn new(http: reqwest::Client, admin: std::net::SocketAddr, uids: Vec<u64>) -> Publisher {
        let streams = uids.len();
        Publisher {
            http,
            url: format!("http://{admin}/admin/v1/events"),
            uids,
            last: vec![0; streams],
            optional: vec![Vec::new(); streams],
            cursor: 0,
            counters: Arc::new(PublishCounters::default()),
        }
    }

    /// The last number published (or tried) for each stream.
    pub fn last(&self) -> &[u64] {
        &self.last
    }

    /// The numbers whose publication is uncertain, per stream, ascending.
    pub fn optional(&self) -> &[Vec<u64>] {
        &self.optional
    }

    /// Publishes about `rate` events per second, round robin over the streams, until `stop`.
    pub async fn pace(&mut self, rate: f64, stop: &AtomicBool) -> Result<(), BenchError> {
        let mut started = Instant::now();
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let due = (rate * started.elapsed().as_secs_f64()) as u64;
            let behind = due.saturating_sub(sent);
            if behind as f64 > rate * MAX_BEHIND.as_secs_f64() {
                (started, sent) = (Instant::now(), 0);
                continue;
            }
            if behind == 0 {
                tokio::time::sleep(TICK).await;
                continue;
            }
            let count = (behind as usize).min(MAX_BATCH);
            let streams: Vec<usize> = (0..count)
                .map(|offset| (self.cursor + offset) % self.uids.len())
                .collect();
            if self.publish(&streams).await? {
                self.cursor = (self.cursor + count) % self.uids.len();
                sent += count as u64;
            } else {
                tokio::time::sleep(RETRY).await;
                (started, sent) = (Instant::now(), 0);
            }
        }
        Ok(())
    }

    /// One request with the next number for each of `streams`. `Ok(false)`: it failed (the
    /// server is down or went down); an error: the server refused the batch, which is a bug.
    pub async fn publish(&mut self, streams: &[usize]) -> Result<bool, BenchError> {
        let time_ms = now_us() / 1000;
        let mut body = String::with_capacity(streams.len() * 96 + 2);
        body.push('[');
        for (index, &stream) in streams.iter().enumerate() {
            self.last[stream] += 1;
            if index > 0 {
                body.push(',');
            }
            let _ = write!(
                body,
                r#"{{"uid":{},"event":{{"e":"balanceUpdate","a":"BTC","d":"{}","T":{time_ms}}}}}"#,
                self.uids[stream], self.last[stream]
            );
        }
        body.push(']');
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let failure = match request.send().await {
            Ok(response) if response.status().is_success() => {
                // Reading the answer also lets the connection be reused.
                let _ = response.bytes().await;
                self.counters
                    .published
                    .fetch_add(streams.len() as u64, Ordering::Relaxed);
                return Ok(true);
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                return Err(BenchError(format!(
                    "the server refused a publish batch ({status}): {text}"
                )));
            }
            Ok(_) => Failure::Uncertain,
            Err(error) if error.is_connect() => Failure::NotSent,
            Err(_) => Failure::Uncertain,
        };
        self.counters
            .failed_requests
            .fetch_add(1, Ordering::Relaxed);
        for &stream in streams.iter().rev() {
            match failure {
                Failure::NotSent => self.last[stream] -= 1,
                Failure::Uncertain => {
                    self.optional[stream].push(self.last[stream]);
                    self.counters.uncertain.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Failure::Uncertain = failure {
            // A stream can appear twice in one batch; keep its list ascending.
            for &stream in streams {
                self.optional[stream].sort_unstable();
                self.optional[stream].dedup();
            }
        }
        Ok(false)
    }
}
