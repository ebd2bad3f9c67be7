//! The floor: a fan-out server on the same HTTP stack as userstream (axum) with no protocol
//! logic at all. Whatever userstream does beyond it is the cost of the protocol; what the floor
//! reaches is what the hardware and the libraries allow.
//!
//! Its WebSocket crate is selectable ([`Stack`]): running the same fan-out over each is how
//! userstream's WebSocket crate was chosen. Every stack coalesces what is queued for a
//! connection into as few writes as it allows.
//!
//! - `GET /ws`: a client sends one text frame `sub KEY`, then receives every payload published
//!   to KEY, one text frame each.
//! - `POST /publish`: lines `KEY PAYLOAD`; answers the number of frames queued.
//! - `POST /token`: a bare handler answering a fixed token, the peer of the token endpoint.

mod fast;
mod tokio_ws;
mod tungstenite;

use axum::Router;
use axum::extract::State;
use axum::routing::{any, post};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

const SHARDS: usize = 64;
/// Frames queued per connection before the floor drops them (it never blocks the publisher).
const QUEUE: usize = 4096;

/// The WebSocket crate the floor serves with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stack {
    /// `tungstenite` through axum's WebSocket extractor (what userstream uses).
    #[default]
    Tungstenite,
    /// `fastwebsockets` on hyper's upgraded connection.
    FastWebsockets,
    /// `tokio-websockets` on hyper's upgraded connection.
    TokioWebsockets,
}

impl Stack {
    pub const ALL: [Stack; 3] = [
        Stack::Tungstenite,
        Stack::FastWebsockets,
        Stack::TokioWebsockets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stack::Tungstenite => "tungstenite",
            Stack::FastWebsockets => "fastwebsockets",
            Stack::TokioWebsockets => "tokio-websockets",
        }
    }

    pub fn from_name(name: &str) -> Option<Stack> {
        Stack::ALL.into_iter().find(|stack| stack.name() == name)
    }
}

/// One published payload, shared by every connection it goes to.
type Payload = Bytes;

#[derive(Default)]
struct Subscribers {
    shards: Vec<Mutex<HashMap<Bytes, Vec<mpsc::Sender<Payload>>>>>,
}

impl Subscribers {
    fn new() -> Subscribers {
        Subscribers {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<HashMap<Bytes, Vec<mpsc::Sender<Payload>>>> {
        let hash = key.iter().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(*byte as usize)
        });
        &self.shards[hash % SHARDS]
    }

    /// Adds a connection subscribed to `key`: the frames published to it arrive here.
    fn register(&self, key: Bytes) -> mpsc::Receiver<Payload> {
        let (sender, frames) = mpsc::channel(QUEUE);
        self.shard(&key).lock().entry(key).or_default().push(sender);
        frames
    }

    /// Forgets the connections of `key` that have gone.
    fn unregister(&self, key: &Bytes) {
        let mut shard = self.shard(key).lock();
        if let Some(senders) = shard.get_mut(key) {
            senders.retain(|sender| !sender.is_closed());
            if senders.is_empty() {
                shard.remove(key);
            }
        }
    }
}

/// One connection's life for the crates whose socket is a `Sink` and a `Stream` of messages:
/// wait for `sub KEY` (`text_of` reads a message's text), answer `ok`, then send every frame
/// published to KEY, each wake-up feeding all that is waiting and flushing once.
async fn serve_subscriber<S, M, E>(
    mut socket: S,
    state: Shared,
    text_of: fn(&M) -> Option<&[u8]>,
    ok: M,
    message: fn(Payload) -> Option<M>,
) where
    S: futures_util::Sink<M> + futures_util::Stream<Item = Result<M, E>> + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    let key = loop {
        match socket.next().await {
            Some(Ok(incoming)) => match text_of(&incoming).and_then(subscription_key) {
                Some(key) => break key,
                None => continue,
            },
            _ => return,
        }
    };
    let mut frames = state.register(key.clone());
    if socket.send(ok).await.is_ok() {
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame.and_then(message) else { break };
                    if socket.feed(frame).await.is_err() { break; }
                    while let Some(frame) = frames.try_recv().ok().and_then(message) {
                        if socket.feed(frame).await.is_err() { break; }
                    }
                    if socket.flush().await.is_err() { break; }
                }
                incoming = socket.next() => match incoming {
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    }
    drop(frames);
    state.unregister(&key);
}

/// The key a client's first text frame (`sub KEY`) names.
fn subscription_key(text: &[u8]) -> Option<Bytes> {
    let key = text.strip_prefix(b"sub ")?;
    Some(Bytes::copy_from_slice(key.trim_ascii()))
}

type Shared = Arc<Subscribers>;

/// Serves the floor on `listen` until the process ends; `on_bound` gets the real address.
pub async fn serve(
    listen: SocketAddr,
    stack: Stack,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let state: Shared = Arc::new(Subscribers::new());
    let upgrade = match stack {
        Stack::Tungstenite => any(tungstenite::upgrade),
        Stack::FastWebsockets => any(fast::upgrade),
        Stack::TokioWebsockets => any(tokio_ws::upgrade),
    };
    let app = Router::new()
        .route("/ws", upgrade)
        .route("/publish", post(publish))
        .route("/token", post(token))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn publish(State(state): State<Shared>, body: Bytes) -> String {
    let mut queued = 0usize;
    for line in body.split(|byte| *byte == b'\n') {
        let Some(space) = line.iter().position(|byte| *byte == b' ') else {
            continue;
        };
        let (key, payload) = (&line[..space], &line[space + 1..]);
        // Text frames must carry UTF-8; checked once here, so the stacks can send it as is.
        if std::str::from_utf8(payload).is_err() {
            continue;
        }
        let payload = Bytes::copy_from_slice(payload);
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
