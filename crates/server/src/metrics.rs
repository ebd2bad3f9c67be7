//! Prometheus metrics, one registry per server instance.
//!
//! Each [`Metrics`] owns its own recorder instead of installing a process-global one, so several
//! servers (tests, embedded use) can live in one process without mixing their numbers.

use metrics::{Counter, Gauge, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use parking_lot::Mutex;
use std::collections::HashMap;

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Why a subscription ended (label of `userstream_subscriptions_ended_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    Expired,
    Unsubscribed,
    Revoked,
    Disconnected,
    /// Ended by an injected fault.
    Terminated,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Unsubscribed => "unsubscribed",
            EndReason::Revoked => "revoked",
            EndReason::Disconnected => "disconnected",
            EndReason::Terminated => "terminated",
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
    pub slow_consumer_disconnects: Counter,
    pub faults_injected: Counter,
    errors: Mutex<HashMap<i32, Counter>>,
    ended: Mutex<HashMap<EndReason, Counter>>,
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
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
            slow_consumer_disconnects: counter("userstream_slow_consumer_disconnects_total"),
            faults_injected: counter("userstream_faults_injected_total"),
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

    fn labelled_counter(&self, name: &'static str, label: &'static str, value: String) -> Counter {
        self.counter_with(name, &[(label, value)])
    }

    /// A counter with several labels; for rare events (refusals, failures), where looking the
    /// series up each time costs nothing that matters.
    fn counter_with(&self, name: &'static str, labels: &[(&'static str, String)]) -> Counter {
        let labels = labels
            .iter()
            .map(|(label, value)| Label::new(*label, value.clone()))
            .collect::<Vec<_>>();
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    /// The gauge of TCP connections open on `listener` (kept by its connection caps).
    pub fn tcp_connections_open(&self, listener: &'static str) -> Gauge {
        let key = Key::from_parts(
            "userstream_tcp_connections_open",
            vec![Label::new("listener", listener)],
        );
        self.recorder.register_gauge(&key, &METADATA)
    }

    /// Counts a connection refused at accept time because a cap was reached.
    pub fn connection_refused(&self, listener: &'static str, full: crate::net::Full) {
        let reason = match full {
            crate::net::Full::PerClient { .. } => "per_client",
            crate::net::Full::Listener { .. } => "listener_full",
        };
        self.counter_with(
            "userstream_tcp_connections_refused_total",
            &[("listener", listener.into()), ("reason", reason.into())],
        )
        .increment(1);
    }

    /// Counts a failed `accept` (out of descriptors or memory), after which the listener pauses.
    pub fn accept_error(&self, listener: &'static str) {
        self.labelled_counter(
            "userstream_accept_errors_total",
            "listener",
            listener.into(),
        )
        .increment(1);
    }

    /// Counts a connection closed for taking too long over its request head, its TLS handshake,
    /// its request body or its idle time before an upgrade.
    pub fn timed_out(&self, listener: &'static str) {
        self.labelled_counter(
            "userstream_http_timeouts_total",
            "listener",
            listener.into(),
        )
        .increment(1);
    }

    /// Counts a TLS handshake that failed.
    pub fn tls_handshake_failed(&self, listener: &'static str) {
        self.labelled_counter(
            "userstream_tls_handshake_failures_total",
            "listener",
            listener.into(),
        )
        .increment(1);
    }

    /// Counts an admin request refused before it reached its handler, by why.
    pub fn admin_refused(&self, reason: &'static str) {
        self.labelled_counter("userstream_admin_refused_total", "reason", reason.into())
            .increment(1);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

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
