//! Prometheus metrics, one registry per server instance.
//!
//! Each [`Metrics`] owns its own recorder instead of installing a process-global one, so several
//! servers (tests, embedded use) can live in one process without mixing their numbers.

use crate::bus::{BusHealth, BusStats};
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use userstream_protocol::position::{ResumeFailure, ResumeOutcome};

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

const EXPIRY_LATENESS: &str = "userstream_expiry_lateness_seconds";
const BUS_LAG: &str = "userstream_bus_lag_seconds";
/// From half a millisecond (on time) to a second (a storm gone wrong).
const LATENESS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Why a subscription ended (label of `userstream_subscriptions_ended_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    Expired,
    Unsubscribed,
    Revoked,
    Disconnected,
    /// Ended by an injected fault.
    Terminated,
    /// Ended because events may have been lost on the way to this node (a broker outage).
    BusLoss,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Unsubscribed => "unsubscribed",
            EndReason::Revoked => "revoked",
            EndReason::Disconnected => "disconnected",
            EndReason::Terminated => "terminated",
            EndReason::BusLoss => "bus_loss",
        }
    }
}

/// Every counter and gauge the gateway reports.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    pub connections_opened: Counter,
    pub connections_active: Gauge,
    pub subscriptions_started: Counter,
    pub subscriptions_extended: Counter,
    pub subscriptions_active: Gauge,
    pub tokens_issued: Counter,
    pub events_published: Counter,
    pub events_delivered: Counter,
    /// WebSocket frames handed to the sockets (events, responses, pings).
    pub frames_written: Counter,
    pub slow_consumer_disconnects: Counter,
    pub faults_injected: Counter,
    /// Bytes and events held in the resume history.
    pub history_bytes: Gauge,
    pub history_events: Gauge,
    /// Resumes that replayed everything after their point, and the events they replayed.
    resumes: Counter,
    resumed_events: Counter,
    resume_failures: Mutex<HashMap<ResumeFailure, Counter>>,
    /// Seconds from a subscription's expiry to its `eventStreamTerminated` being queued: the
    /// server's own part of the lateness clients see.
    pub expiry_lateness: Histogram,
    /// Seconds from a gateway publishing events on the cluster's bus to this node receiving
    /// them (as the publisher's clock and this node's tell it).
    pub bus_lag: Histogram,
    /// The public listener's connections.
    pub public: ListenerMetrics,
    /// The admin listener's connections.
    pub admin: ListenerMetrics,
    admin_refused: [Counter; 4],
    bus: BusMetrics,
    errors: Mutex<HashMap<i32, Counter>>,
    ended: Mutex<HashMap<EndReason, Counter>>,
}

/// The bus's own counts, copied in from [`crate::bus::Bus::stats`] when the page is read.
struct BusMetrics {
    connected: Gauge,
    accounts: Gauge,
    reconnects: Counter,
    losses: Counter,
    rejected: Counter,
    caught_up: Counter,
}

/// Why the admin guard refused a request (label of `userstream_admin_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    Host,
    Origin,
    Token,
    ContentType,
}

impl AdminRefusal {
    const ALL: [AdminRefusal; 4] = [
        AdminRefusal::Host,
        AdminRefusal::Origin,
        AdminRefusal::Token,
        AdminRefusal::ContentType,
    ];

    fn as_str(self) -> &'static str {
        match self {
            AdminRefusal::Host => "host",
            AdminRefusal::Origin => "origin",
            AdminRefusal::Token => "token",
            AdminRefusal::ContentType => "content_type",
        }
    }
}

/// One listener's connection metrics, registered up front: refusals and failures come in
/// floods, and a flood must not pay for building labels and looking series up.
#[derive(Clone)]
pub struct ListenerMetrics {
    /// `userstream_tcp_connections_open`, kept by the listener's connection caps.
    pub open: Gauge,
    /// Refused because the client address holds its share.
    pub refused_per_client: Counter,
    /// Refused because the listener is full.
    pub refused_full: Counter,
    /// Failed `accept` calls (out of descriptors or memory), after which the listener pauses.
    pub accept_errors: Counter,
    /// Connections closed, or requests answered 408, for taking too long: a request head, a TLS
    /// handshake, idling before an upgrade, or a body.
    pub timeouts: Counter,
    /// TLS handshakes that failed.
    pub tls_failures: Counter,
    /// Writes to the connections' sockets: with `userstream_ws_frames_written_total`, how many
    /// frames each write carries.
    pub socket_writes: Counter,
}

impl ListenerMetrics {
    fn register(recorder: &PrometheusRecorder, listener: &'static str) -> ListenerMetrics {
        let key = |name: &'static str, extra: Option<&'static str>| {
            let mut labels = vec![Label::new("listener", listener)];
            if let Some(reason) = extra {
                labels.push(Label::new("reason", reason));
            }
            Key::from_parts(name, labels)
        };
        let counter = |name, extra| recorder.register_counter(&key(name, extra), &METADATA);
        ListenerMetrics {
            open: recorder.register_gauge(&key("userstream_tcp_connections_open", None), &METADATA),
            refused_per_client: counter(
                "userstream_tcp_connections_refused_total",
                Some("per_client"),
            ),
            refused_full: counter(
                "userstream_tcp_connections_refused_total",
                Some("listener_full"),
            ),
            accept_errors: counter("userstream_accept_errors_total", None),
            timeouts: counter("userstream_http_timeouts_total", None),
            tls_failures: counter("userstream_tls_handshake_failures_total", None),
            socket_writes: counter("userstream_socket_writes_total", None),
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(EXPIRY_LATENESS.into()), LATENESS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(BUS_LAG.into()), LATENESS_BUCKETS)
            })
            // Only an empty bucket list is refused, and these are not: a summary then.
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        Metrics {
            connections_opened: counter("userstream_connections_opened_total"),
            connections_active: gauge("userstream_connections_active"),
            subscriptions_started: counter("userstream_subscriptions_started_total"),
            subscriptions_extended: counter("userstream_subscriptions_extended_total"),
            subscriptions_active: gauge("userstream_subscriptions_active"),
            tokens_issued: counter("userstream_tokens_issued_total"),
            events_published: counter("userstream_events_published_total"),
            events_delivered: counter("userstream_events_delivered_total"),
            frames_written: counter("userstream_ws_frames_written_total"),
            slow_consumer_disconnects: counter("userstream_slow_consumer_disconnects_total"),
            faults_injected: counter("userstream_faults_injected_total"),
            history_bytes: gauge("userstream_history_bytes"),
            history_events: gauge("userstream_history_events"),
            resumes: counter("userstream_resumes_total"),
            resumed_events: counter("userstream_resume_replayed_events_total"),
            resume_failures: Mutex::new(HashMap::new()),
            expiry_lateness: recorder
                .register_histogram(&Key::from_static_name(EXPIRY_LATENESS), &METADATA),
            bus_lag: recorder.register_histogram(&Key::from_static_name(BUS_LAG), &METADATA),
            public: ListenerMetrics::register(&recorder, "public"),
            admin: ListenerMetrics::register(&recorder, "admin"),
            admin_refused: AdminRefusal::ALL.map(|reason| {
                let key = Key::from_parts(
                    "userstream_admin_refused_total",
                    vec![Label::new("reason", reason.as_str())],
                );
                recorder.register_counter(&key, &METADATA)
            }),
            bus: BusMetrics {
                connected: gauge("userstream_bus_connected"),
                accounts: gauge("userstream_bus_accounts"),
                reconnects: counter("userstream_bus_reconnects_total"),
                losses: counter("userstream_bus_losses_total"),
                rejected: counter("userstream_bus_rejected_messages_total"),
                caught_up: counter("userstream_bus_caught_up_messages_total"),
            },
            errors: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            recorder,
            handle,
        }
    }

    /// Counts an error answered to a client, by Binance code.
    pub fn error(&self, code: i32) {
        self.errors
            .lock()
            .entry(code)
            .or_insert_with(|| {
                self.labelled_counter("userstream_errors_total", "code", code.to_string())
            })
            .increment(1);
    }

    /// Counts subscriptions that ended, by reason.
    pub fn subscriptions_ended(&self, reason: EndReason, count: u64) {
        if count == 0 {
            return;
        }
        self.subscriptions_active.decrement(count as f64);
        self.ended
            .lock()
            .entry(reason)
            .or_insert_with(|| {
                self.labelled_counter(
                    "userstream_subscriptions_ended_total",
                    "reason",
                    reason.as_str().to_owned(),
                )
            })
            .increment(count);
    }

    /// Counts a resume: replayed (and how many events), or failed by reason.
    pub fn resumed(&self, outcome: &ResumeOutcome) {
        match outcome {
            ResumeOutcome::Replayed { events } => {
                self.resumes.increment(1);
                self.resumed_events.increment(*events);
            }
            ResumeOutcome::Failed { reason, .. } => self
                .resume_failures
                .lock()
                .entry(*reason)
                .or_insert_with(|| {
                    // The reason's wire name, in lower case: `history_expired`.
                    let name = serde_json::to_value(reason)
                        .ok()
                        .and_then(|name| name.as_str().map(str::to_ascii_lowercase))
                        .unwrap_or_else(|| "unknown".into());
                    self.labelled_counter("userstream_resume_failures_total", "reason", name)
                })
                .increment(1),
            _ => {}
        }
    }

    fn labelled_counter(&self, name: &'static str, label: &'static str, value: String) -> Counter {
        let key = Key::from_parts(name, vec![Label::new(label, value)]);
        self.recorder.register_counter(&key, &METADATA)
    }

    /// Counts an admin request refused before it reached its handler, by why.
    pub fn admin_refused(&self, reason: AdminRefusal) {
        self.admin_refused[reason as usize].increment(1);
    }

    /// Takes in the bus's counts and state, before the page is rendered.
    pub fn observe_bus(&self, stats: BusStats, health: BusHealth) {
        let bus = &self.bus;
        bus.connected
            .set(if matches!(health, BusHealth::Disconnected { .. }) {
                0.0
            } else {
                1.0
            });
        bus.accounts.set(stats.accounts as f64);
        bus.reconnects.absolute(stats.reconnects);
        bus.losses.absolute(stats.losses);
        bus.rejected.absolute(stats.rejected);
        bus.caught_up.absolute(stats.caught_up);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds histogram samples into their buckets every few seconds, forever: without it they
    /// pile up between scrapes, and a server nobody scrapes would grow without bound.
    pub async fn run_upkeep(self: std::sync::Arc<Self>) {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.handle.run_upkeep();
        }
    }
}

/// How often [`Metrics::run_upkeep`] folds histogram samples.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_independent() {
        let one = Metrics::new();
        let two = Metrics::new();
        one.tokens_issued.increment(3);
        one.error(-1209);
        one.subscriptions_active.increment(2.0);
        one.subscriptions_ended(EndReason::Expired, 1);
        let text = one.render();
        assert!(text.contains("userstream_tokens_issued_total 3"), "{text}");
        assert!(
            text.contains("userstream_errors_total{code=\"-1209\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("userstream_subscriptions_ended_total{reason=\"expired\"} 1"),
            "{text}"
        );
        assert!(text.contains("userstream_subscriptions_active 1"), "{text}");
        assert!(!two.render().contains("userstream_tokens_issued_total 3"));
    }
}
