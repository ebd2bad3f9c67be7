//! The floor on `fastwebsockets`, on hyper's upgraded connection. It writes each frame as it is
//! given, so queued frames are gathered into one buffer and written together, the way the other
//! stacks coalesce.

use super::{Payload, Shared, subscription_key};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use fastwebsockets::{Frame, OpCode, Payload as FramePayload, WebSocket};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWrite, BufWriter};

pub(super) async fn upgrade(State(state): State<Shared>, mut request: Request) -> Response {
    match fastwebsockets::upgrade::upgrade(&mut request) {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                if let Ok(socket) = upgrade.await {
                    session(socket, state).await;
                }
            });
            response.map(|_| Body::empty())
        }
        Err(_) => {
            let mut response = Response::new(Body::from("not a WebSocket handshake"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

async fn session(mut socket: WebSocket<TokioIo<hyper::upgrade::Upgraded>>, state: Shared) {
    // Pings are not part of the benchmark; pongs would need the write half from the read side.
    socket.set_auto_pong(false);
    let key = loop {
        match socket.read_frame().await {
            Ok(frame) if frame.opcode == OpCode::Text => match subscription_key(&frame.payload) {
                Some(key) => break key,
                None => continue,
            },
            Ok(frame) if frame.opcode == OpCode::Close => return,
            Ok(_) => continue,
            Err(_) => return,
        }
    };
    let mut frames = state.register(key.clone());
    let ok = socket
        .write_frame(Frame::text(FramePayload::Borrowed(b"ok")))
        .await;
    if ok.is_ok() {
        let (mut reader, writer) = socket.split(|io| {
            let (read, write) = tokio::io::split(io);
            (read, BufWriter::new(write))
        });
        let mut writer = writer;
        let mut no_obligations = |_: Frame<'_>| async { Ok::<(), std::io::Error>(()) };
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let Some(frame) = frame else { break };
                    if !write_all(&mut writer, frame, &mut frames).await { break; }
                }
                incoming = reader.read_frame(&mut no_obligations) => match incoming {
                    Ok(frame) if frame.opcode != OpCode::Close => {}
                    _ => break,
                },
            }
        }
    }
    drop(frames);
    state.unregister(&key);
}

/// Writes `first` and everything already queued behind it, then flushes once.
async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut fastwebsockets::WebSocketWrite<W>,
    first: Payload,
    frames: &mut tokio::sync::mpsc::Receiver<Payload>,
) -> bool {
    let mut next = Some(first);
    while let Some(payload) = next {
        let frame = Frame::text(FramePayload::Borrowed(&payload));
        if writer.write_frame(frame).await.is_err() {
            return false;
        }
        next = frames.try_recv().ok();
    }
    writer.flush().await.is_ok()
}
