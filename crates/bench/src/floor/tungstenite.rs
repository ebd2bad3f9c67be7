//! The floor on `tungstenite`, through axum's WebSocket extractor: userstream's stack.

use super::{Payload, Shared, subscription_key};
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use futures_util::SinkExt;

pub(super) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<Shared>,
) -> impl IntoResponse {
    // The same buffer sizes as userstream's defaults (`ws.read_buffer_bytes`,
    // `ws.write_buffer_bytes`): queued frames gather in the write buffer until the flush.
    ws.read_buffer_size(512)
        .write_buffer_size(4096)
        .on_upgrade(move |socket| session(socket, state))
}

/// Text frames; the floor checked the payload is UTF-8 when it was published.
fn text(payload: Payload) -> Option<Message> {
    Utf8Bytes::try_from(payload).ok().map(Message::Text)
}

async fn session(mut socket: WebSocket, state: Shared) {
    let key = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => match subscription_key(text.as_bytes()) {
                Some(key) => break key,
                None => continue,
            },
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let mut frames = state.register(key.clone());
    if socket.send(Message::text("ok")).await.is_ok() {
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame.and_then(text) else { break };
                    // Coalesce: everything already waiting leaves in one flush.
                    if socket.feed(frame).await.is_err() { break; }
                    while let Some(frame) = frames.try_recv().ok().and_then(text) {
                        if socket.feed(frame).await.is_err() { break; }
                    }
                    if socket.flush().await.is_err() { break; }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    }
    drop(frames);
    state.unregister(&key);
}
