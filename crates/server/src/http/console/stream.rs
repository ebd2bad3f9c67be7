//! `GET /admin/v1/console/stream`: Server-Sent Events. On connect `hello`, the backlog
//! (`price` points, then `event`s), `sessions`; then live `event`, `price` and `scenario`
//! items, `sessions` once a second, `lagged` when this console fell behind, and a keepalive
//! comment every 15 s. It ends when the server shuts down.

use crate::console::tap::{Attached, EVENT_BACKLOG, Item, MAX_STREAMS, Tapped};
use crate::faults::FaultKind;
use crate::state::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;

/// Connections listed in a `sessions` item (its `total` counts them all).
const SESSIONS_SHOWN: usize = 200;
/// Between two `sessions` items.
const SESSIONS_EVERY_US: i64 = 1_000_000;
/// Between two keepalive comments, so that proxies keep an idle stream open.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub(crate) async fn stream(State(state): State<SharedState>) -> Response {
    let Some(attached) = state.console.feed.attach() else {
        let msg = format!(
            "at most {} console streams may be open at once",
            MAX_STREAMS
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": msg })),
        )
            .into_response();
    };
    let mut first = VecDeque::new();
    first.push_back(item("hello", hello(&state).await.to_string()));
    for tick in &attached.prices {
        first.push_back(item("price", tick.data()));
    }
    // Read after attaching, so nothing falls in between (`crate::console::tap` says why); what
    // the live feed brings twice is known by its position.
    let backlog = backlog(&state);
    let in_backlog: HashSet<u64> = backlog.iter().map(|tapped| tapped.position).collect();
    for tapped in &backlog {
        first.push_back(item("event", tapped.data().to_owned()));
    }
    first.push_back(item("sessions", sessions(&state).to_string()));
    let live = Live {
        next_sessions_us: state.clock.now_us().saturating_add(SESSIONS_EVERY_US),
        shutdown: state.shutdown.clone(),
        first,
        in_backlog,
        attached,
        state,
    };
    let items = futures_util::stream::unfold(live, |mut live| async move {
        let item = live.next().await?;
        Some((Ok::<_, Infallible>(item), live))
    });
    Sse::new(items)
        .keep_alive(KeepAlive::new().interval(KEEPALIVE).text("keepalive"))
        .into_response()
}

/// The node's last events, from the hub's resume history (none without one, as on a cluster
/// node).
fn backlog(state: &SharedState) -> Vec<Tapped> {
    state
        .hub
        .recent_events(EVENT_BACKLOG)
        .into_iter()
        .filter_map(|(position, at_us, account, json)| {
            // Stored by the hub itself, so it parses; anything else is passed over.
            let event = Event::from_json(&json, TimeUnit::Microsecond).ok()?;
            Some(Tapped::new(
                account,
                position,
                event,
                at_us.div_euclid(1000),
            ))
        })
        .collect()
}

fn item(kind: &str, data: String) -> SseEvent {
    SseEvent::default().event(kind).data(data)
}

/// One console's stream after its first items.
struct Live {
    first: VecDeque<SseEvent>,
    /// Positions sent in the backlog, which the live feed may bring again.
    in_backlog: HashSet<u64>,
    attached: Attached,
    state: SharedState,
    next_sessions_us: i64,
    shutdown: watch::Receiver<bool>,
}

impl Live {
    async fn next(&mut self) -> Option<SseEvent> {
        if let Some(first) = self.first.pop_front() {
            return Some(first);
        }
        if *self.shutdown.borrow() {
            return None;
        }
        let clock = &self.state.clock;
        loop {
            tokio::select! {
                received = self.attached.live.recv() => match received {
                    Ok(Item::Event(event)) if self.in_backlog.remove(&event.position) => continue,
                    Ok(Item::Event(event)) => return Some(item("event", event.data().to_owned())),
                    Ok(Item::Price(tick)) => return Some(item("price", tick.data())),
                    Ok(Item::Scenario(data)) => return Some(item("scenario", data.to_string())),
                    Err(RecvError::Lagged(missed)) => {
                        return Some(item("lagged", json!({ "missed": missed }).to_string()));
                    }
                    Err(RecvError::Closed) => return None,
                },
                () = clock.sleep_until(self.next_sessions_us) => {
                    self.next_sessions_us = clock.now_us().saturating_add(SESSIONS_EVERY_US);
                    return Some(item("sessions", sessions(&self.state).to_string()));
                }
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
            }
        }
    }
}

/// `{"serverTimeMs":…,"total":n,"sessions":[…as GET /admin/v1/sessions, the oldest
/// SESSIONS_SHOWN…]}`: a node with thousands of connections sends each console a page, not
/// megabytes a second.
fn sessions(state: &SharedState) -> Value {
    let (total, sessions) = crate::http::sessions::sessions_json(state, SESSIONS_SHOWN);
    json!({
        "serverTimeMs": state.clock.now_ms(),
        "total": total,
        "sessions": sessions,
    })
}

async fn hello(state: &SharedState) -> Value {
    let symbols: Vec<Value> = match &state.exchange {
        Some(exchange) => {
            exchange
                .read(|sim| {
                    sim.symbols()
                        .iter()
                        .map(|rules| {
                            json!({
                                "symbol": rules.symbol,
                                "price": sim.price(&rules.symbol).map(|p| p.to_string()),
                                "tickSize": rules.tick_size.to_string(),
                            })
                        })
                        .collect()
                })
                .await
        }
        None => state
            .config
            .symbols
            .iter()
            .map(|symbol| {
                json!({ "symbol": symbol.symbol, "price": null, "tickSize": symbol.tick_size })
            })
            .collect(),
    };
    json!({
        "serverTimeMs": state.clock.now_ms(),
        "simulator": state.exchange.is_some(),
        "symbols": symbols,
        "scenarios": state.console.runs.available(),
        "faults": fault_kinds(),
    })
}

/// Every fault kind in its wire spelling.
fn fault_kinds() -> Vec<Value> {
    FaultKind::ALL
        .iter()
        .filter_map(|kind| serde_json::to_value(kind).ok())
        .collect()
}
