//! Injecting the planned faults, keeping a record of each (what, when, on which streams), and
//! attributing every gap a stream reported to a fault that touched it.

use super::checker::GapSeen;
use super::plan::{Kind, Planned, Target};
use super::server::SoakServer;
use crate::BenchError;
use crate::net::now_us;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Instant;

/// A gap may start this long before the fault was injected (the last frame heard before it).
const BEFORE_US: i64 = 2_000_000;
/// …and the fault may end this long before the gap starts (frames still queued before a drop
/// are read, a silence takes seconds to notice).
const AFTER_US: i64 = 15_000_000;

/// What was injected.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    /// Main-phase seconds when it was injected and when it was over (mute or grace elapsed,
    /// server back up).
    pub t: f64,
    pub end_t: f64,
    /// The same, as wall-clock µs (the clock the client's gaps are on).
    pub start_us: i64,
    pub end_us: i64,
    pub kind: Kind,
    pub target: Target,
    /// The streams it touched; `None`: all of them.
    pub streams: Option<Vec<usize>>,
    pub duration_ms: u64,
    /// The server's answer: connections and subscriptions touched.
    pub sessions: Option<u64>,
    pub subscriptions: Option<u64>,
    /// Why it could not be injected.
    pub error: Option<String>,
}

impl FaultRecord {
    pub fn touches(&self, stream: usize) -> bool {
        self.error.is_none()
            && self
                .streams
                .as_ref()
                .is_none_or(|streams| streams.contains(&stream))
    }
}

/// What the injector needs.
pub struct Injector<'a> {
    pub server: &'a SoakServer,
    pub http: reqwest::Client,
    /// Stream index of each uid.
    pub streams_by_uid: HashMap<u64, usize>,
    pub uids: Vec<u64>,
    pub main_start: Instant,
    /// One JSON line per fault, as it happens.
    pub log: std::fs::File,
}

impl Injector<'_> {
    /// Runs the schedule to its end. A fault that cannot be injected is recorded with its
    /// error; a server that will not come back after a kill ends the run.
    pub async fn run(mut self, schedule: &[Planned]) -> Result<Vec<FaultRecord>, BenchError> {
        let mut records = Vec::with_capacity(schedule.len());
        for planned in schedule {
            tokio::time::sleep_until((self.main_start + planned.at).into()).await;
            let record = self.inject(planned).await?;
            tracing::info!(kind = record.kind.name(), t = record.t, "fault injected");
            let line = serde_json::to_string(&record)?;
            writeln!(self.log, "{line}")?;
            records.push(record);
        }
        Ok(records)
    }

    fn seconds(&self) -> f64 {
        self.main_start.elapsed().as_secs_f64()
    }

    async fn inject(&self, planned: &Planned) -> Result<FaultRecord, BenchError> {
        let duration_ms = planned.duration.as_millis() as u64;
        let mut record = FaultRecord {
            t: self.seconds(),
            end_t: 0.0,
            start_us: now_us(),
            end_us: 0,
            kind: planned.kind,
            target: planned.target,
            streams: None,
            duration_ms,
            sessions: None,
            subscriptions: None,
            error: None,
        };
        if planned.kind == Kind::Kill {
            self.server.kill().await;
            tokio::time::sleep(planned.duration).await;
            self.server.restart().await?;
        } else {
            let mut body = json!({ "kind": planned.kind.name() });
            if matches!(planned.kind, Kind::Mute | Kind::Shutdown) {
                body["durationMs"] = json!(duration_ms);
            }
            let chosen = match planned.target {
                Target::All => Ok(None),
                Target::Account => {
                    let stream = (planned.pick % self.uids.len() as u64) as usize;
                    body["uid"] = json!(self.uids[stream]);
                    Ok(Some(vec![stream]))
                }
                Target::Session => self.pick_session(planned.pick, &mut body).await,
            };
            match chosen {
                Ok(streams) => {
                    record.streams = streams;
                    match self.post_fault(&body).await {
                        Ok(answer) => {
                            record.sessions = answer["sessions"].as_u64();
                            record.subscriptions = answer["subscriptions"].as_u64();
                        }
                        Err(error) => record.error = Some(error.0),
                    }
                }
                Err(error) => record.error = Some(error.0),
            }
        }
        let lasting = matches!(planned.kind, Kind::Mute | Kind::Shutdown);
        let extra_us = if lasting {
            duration_ms as i64 * 1000
        } else {
            0
        };
        record.end_us = now_us() + extra_us;
        record.end_t = self.seconds() + extra_us as f64 / 1e6;
        Ok(record)
    }

    /// Chooses one live connection and names it in `body`: the streams it carries.
    async fn pick_session(
        &self,
        pick: u64,
        body: &mut Value,
    ) -> Result<Option<Vec<usize>>, BenchError> {
        let url = format!("http://{}/admin/v1/sessions", self.server.admin);
        let sessions: Vec<Value> = self.http.get(url).send().await?.json().await?;
        if sessions.is_empty() {
            return Err(BenchError("no live connection to target".into()));
        }
        let session = &sessions[(pick % sessions.len() as u64) as usize];
        body["sessionId"] = session["id"].clone();
        let streams = session["subscriptions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|sub| self.streams_by_uid.get(&sub["uid"].as_u64()?).copied())
            .collect();
        Ok(Some(streams))
    }

    async fn post_fault(&self, body: &Value) -> Result<Value, BenchError> {
        let url = format!("http://{}/admin/v1/faults", self.server.admin);
        let response = self.http.post(url).json(body).send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            return Err(BenchError(format!("fault refused ({status}): {answer}")));
        }
        Ok(answer)
    }
}

/// The fault a gap is blamed on: one that touched the stream and overlaps the gap's window.
/// Any other kind is preferred to `shutdown`, which should cause no gap at all; among equals,
/// the one injected closest to the gap's start.
pub fn attribute(stream: usize, gap: &GapSeen, faults: &[FaultRecord]) -> Option<Kind> {
    faults
        .iter()
        .filter(|fault| fault.touches(stream))
        .filter(|fault| {
            gap.since_us <= fault.end_us + AFTER_US && gap.until_us >= fault.start_us - BEFORE_US
        })
        .min_by_key(|fault| {
            (
                fault.kind == Kind::Shutdown,
                (gap.since_us - fault.start_us).abs(),
            )
        })
        .map(|fault| fault.kind)
}

/// Every gap of every stream, blamed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attribution {
    /// Gaps per fault kind they were blamed on.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Gaps no fault explains (a renewal, say): must be 0.
    pub unexplained: u64,
    /// Some of them, for the report: (stream, gap).
    pub unexplained_examples: Vec<(usize, GapSeen)>,
}

impl Attribution {
    pub fn add(&mut self, stream: usize, gaps: &[GapSeen], faults: &[FaultRecord]) {
        for gap in gaps {
            match attribute(stream, gap, faults) {
                Some(kind) => *self.by_kind.entry(kind.name()).or_default() += 1,
                None => {
                    self.unexplained += 1;
                    if self.unexplained_examples.len() < 20 {
                        self.unexplained_examples.push((stream, *gap));
                    }
                }
            }
        }
    }

    /// Gaps that only a `shutdown` explains: a handover that did not finish in its grace.
    pub fn shutdown_gaps(&self) -> u64 {
        self.by_kind
            .get(Kind::Shutdown.name())
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: Kind, streams: Option<Vec<usize>>, start_s: i64, end_s: i64) -> FaultRecord {
        FaultRecord {
            t: start_s as f64,
            end_t: end_s as f64,
            start_us: start_s * 1_000_000,
            end_us: end_s * 1_000_000,
            kind,
            target: Target::Account,
            streams,
            duration_ms: 0,
            sessions: None,
            subscriptions: None,
            error: None,
        }
    }

    fn gap(since_s: f64, until_s: f64) -> GapSeen {
        GapSeen {
            since_us: (since_s * 1e6) as i64,
            until_us: (until_s * 1e6) as i64,
        }
    }

    #[test]
    fn a_gap_is_blamed_on_a_fault_that_touched_its_stream_at_that_time() {
        let faults = vec![
            fault(Kind::Drop, Some(vec![3]), 100, 100),
            fault(Kind::Kill, None, 200, 204),
        ];
        assert_eq!(attribute(3, &gap(99.5, 101.0), &faults), Some(Kind::Drop));
        assert_eq!(
            attribute(4, &gap(99.5, 101.0), &faults),
            None,
            "another stream"
        );
        assert_eq!(attribute(4, &gap(200.0, 206.0), &faults), Some(Kind::Kill));
        assert_eq!(
            attribute(3, &gap(150.0, 151.0), &faults),
            None,
            "no fault then"
        );
        assert_eq!(
            attribute(3, &gap(112.0, 113.0), &faults),
            Some(Kind::Drop),
            "a silence noticed late"
        );
    }

    #[test]
    fn shutdown_is_blamed_only_when_nothing_else_fits() {
        let faults = vec![
            fault(Kind::Shutdown, None, 100, 110),
            fault(Kind::Mute, Some(vec![1]), 104, 114),
        ];
        assert_eq!(attribute(1, &gap(104.0, 115.0), &faults), Some(Kind::Mute));
        assert_eq!(
            attribute(2, &gap(110.0, 111.0), &faults),
            Some(Kind::Shutdown)
        );
        let mut attribution = Attribution::default();
        attribution.add(2, &[gap(110.0, 111.0), gap(500.0, 501.0)], &faults);
        assert_eq!(attribution.shutdown_gaps(), 1);
        assert_eq!(attribution.unexplained, 1);
    }

    #[test]
    fn a_fault_that_failed_touches_nothing() {
        let mut failed = fault(Kind::Drop, None, 100, 100);
        failed.error = Some("refused".into());
        assert!(!failed.touches(0));
        assert_eq!(attribute(0, &gap(100.0, 101.0), &[failed]), None);
    }
}
