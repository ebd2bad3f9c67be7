//! The floor on `tungstenite`, through axum's WebSocket extractor: userstream's stack.

use super::{Payload, Shared, serve_subscriber};
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

fn text_of(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        _ => None,
    }
}

async fn session(socket: WebSocket, state: Shared) {
    serve_subscriber(socket, state, text_of, Message::text("ok"), text).await;
}
