//! The floor: a fan-out server on the same WebSocket stack as userstream (axum + tungstenite)
//! with no protocol logic at all. Whatever userstream does beyond it is the cost of the
//! protocol; what the floor reaches is what the hardware and the libraries allow.
//!
//! - `GET /ws`: a client sends one text frame `sub KEY`, then receives every payload published
//!   to KEY, one text frame each.
//! - `POST /publish`: lines `KEY PAYLOAD`; answers the number of frames queued.
//! - `POST /token`: a bare handler answering a fixed token, the peer of the token endpoint.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use bytes::Bytes;
use futures_util::SinkExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

const SHARDS: usize = 64;
/// Frames queued per connection before the floor drops them (it never blocks the publisher).
const QUEUE: usize = 4096;

#[derive(Default)]
struct Subscribers {
    shards: Vec<Mutex<HashMap<Bytes, Vec<mpsc::Sender<Utf8Bytes>>>>>,
}

impl Subscribers {
    fn new() -> Subscribers {
        Subscribers {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Bytes, Vec<mpsc::Sender<Utf8Bytes>>>> {
        let hash = key.iter().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(*byte as usize)
        });
        &self.shards[hash % SHARDS]
    }
}

type Shared = Arc<Subscribers>;

/// Serves the floor on `listen` until the process ends; `on_bound` gets the real address.
pub async fn serve(listen: SocketAddr, on_bound: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let state: Shared = Arc::new(Subscribers::new());
    let app = Router::new()
        .route("/ws", any(upgrade))
        .route("/publish", post(publish))
        .route("/token", post(token))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<Shared>) -> impl IntoResponse {
    // The same buffer sizes as userstream's defaults.
    ws.read_buffer_size(512)
        .write_buffer_size(0)
        .on_upgrade(move |socket| session(socket, state))
}

async fn session(mut socket: WebSocket, state: Shared) {
    let key = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => match text.as_str().strip_prefix("sub ") {
                Some(key) => break Bytes::copy_from_slice(key.trim().as_bytes()),
                None => continue,
            },
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let (sender, mut frames) = mpsc::channel(QUEUE);
    state
        .shard(&key)
        .lock()
        .entry(key.clone())
        .or_default()
        .push(sender);
    if socket.send(Message::text("ok")).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                // Coalesce: everything already waiting leaves in one flush.
                if socket.feed(Message::Text(frame)).await.is_err() { break; }
                while let Ok(frame) = frames.try_recv() {
                    if socket.feed(Message::Text(frame)).await.is_err() { return; }
                }
                if socket.flush().await.is_err() { break; }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    let mut shard = state.shard(&key).lock();
    if let Some(senders) = shard.get_mut(&key) {
        senders.retain(|sender| !sender.is_closed());
        if senders.is_empty() {
            shard.remove(&key);
        }
    }
}

async fn publish(State(state): State<Shared>, body: Bytes) -> String {
    let mut queued = 0usize;
    for line in body.split(|byte| *byte == b'\n') {
        let Some(space) = line.iter().position(|byte| *byte == b' ') else {
            continue;
        };
        let (key, payload) = (&line[..space], &line[space + 1..]);
        let Ok(payload) = std::str::from_utf8(payload) else {
            continue;
        };
        let payload = Utf8Bytes::from(payload);
        let shard = state.shard(key).lock();
        if let Some(senders) = shard.get(key) {
            for sender in senders {
                if sender.try_send(payload.clone()).is_ok() {
                    queued += 1;
                }
            }
        }
    }
    queued.to_string()
}

async fn token() -> &'static str {
    r#"{"token":"AQAAAAEObwHeMIfzUCVuFyQxp0GvuqH1GaBC8U0g4JbaoFR3rCBOKcWZ4xbYASJ+VqNk//aTkNLKJQ==","expirationTime":1795517510442}"#
}
