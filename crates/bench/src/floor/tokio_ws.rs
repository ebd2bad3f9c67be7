//! The floor on `tokio-websockets`, on hyper's upgraded connection.

use super::{Payload, Shared, serve_subscriber};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_websockets::{Message, ServerBuilder, WebSocketStream};

pub(super) async fn upgrade(State(state): State<Shared>, mut request: Request) -> Response {
    let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return refuse();
    };
    let accept = derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            session(ServerBuilder::new().serve(TokioIo::new(upgraded)), state).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| refuse())
}

fn refuse() -> Response {
    let mut response = Response::new(Body::from("not a WebSocket handshake"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// Text frames; the floor checked the payload is UTF-8 when it was published.
fn text(payload: Payload) -> Option<Message> {
    Message::text(payload).into()
}

fn text_of(message: &Message) -> Option<&[u8]> {
    message.as_text().map(str::as_bytes)
}

async fn session<S>(socket: WebSocketStream<S>, state: Shared)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    serve_subscriber(socket, state, text_of, Message::text("ok"), text).await;
}
