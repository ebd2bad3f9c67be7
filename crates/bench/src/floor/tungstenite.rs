//! The floor on `tungstenite`, through axum's WebSocket extractor: userstream's stack.

use super::{Payload, Shared, pump, subscription_key};
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;

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
        pump(&mut socket, &mut frames, text).await;
    }
    drop(frames);
    state.unregister(&key);
}
