//! A kept-open publishing connection: `GET /admin/v1/events/stream`, a WebSocket on the admin
//! listener. Each text message is a publish body as `POST /admin/v1/events` takes it (one item,
//! a JSON array, or NDJSON), checked whole and published in order. A refused message is
//! answered and the connection carries on; an accepted one is answered only with
//! `?answers=all`. So a publisher pays no request head, routing or answer per batch: the
//! counterpart of nats-server's publisher, which writes its protocol and hears back on errors.
//! Messages that are already here when one is read are published with it as one batch, as
//! nats-server delivers what one read brought before it flushes: at saturation a subscriber's
//! connection then takes many events per write instead of one or two.
//!
//! It sits behind the admin guard like every admin route: a browser page on another origin
//! cannot open it (browsers send `Origin` with every WebSocket handshake).

use super::{AdminError, bad_request, publish_bodies, publish_body};
use crate::bus::BusHealth;
use crate::http::ADMIN_BODY_LIMIT;
use crate::state::SharedState;
use crate::ws::read_error_close;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, SinkExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a closing handshake, or a write to a publisher that stopped reading, may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which messages are answered.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Answers {
    /// Only refused ones (the default).
    #[default]
    Errors,
    /// Every one, with what `POST /admin/v1/events` would have answered.
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    #[serde(default)]
    answers: Answers,
}

/// Opens the connection; a request that is not a WebSocket handshake, or names an unknown
/// option, is answered as any refused admin request is.
pub(super) async fn upgrade(
    State(state): State<SharedState>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AdminError> {
    let Query(query) = query.map_err(|rejection| bad_request(rejection.body_text()))?;
    let upgrade =
        upgrade.map_err(|rejection| AdminError(rejection.status(), rejection.body_text()))?;
    Ok(upgrade
        .max_message_size(ADMIN_BODY_LIMIT)
        .max_frame_size(ADMIN_BODY_LIMIT)
        .on_upgrade(move |socket| run(socket, state, query.answers))
        .into_response())
}

/// The most a batch gathered from messages already received may weigh: a quarter of the
/// admin body limit, so a burst is published in a few large batches rather than one huge one.
const GATHER_BYTES: usize = ADMIN_BODY_LIMIT / 4;

async fn run(mut socket: WebSocket, state: SharedState, answers: Answers) {
    let mut shutdown = state.shutdown.clone();
    // Messages are numbered from 1 on each connection, so an answer names the one it is about.
    let mut number: u64 = 0;
    // A message received while gathering a batch that is not a publish body: handled next.
    let mut held = None;
    // Gathering is for a bus that delivers in this process, whose only refusal is for the
    // whole batch; a broker may refuse one message of a batch (too large, not stored in time),
    // so on a clustered bus each message goes alone.
    let gather_bytes = match state.bus.health() {
        BusHealth::InProcess => GATHER_BYTES,
        _ => 0,
    };
    let close = 'messages: loop {
        let incoming = match held.take() {
            Some(incoming) => incoming,
            None => tokio::select! {
                incoming = socket.recv() => incoming,
                _ = shutdown.wait_for(|stopping| *stopping) => {
                    break Some((close_code::AWAY, "Server shutting down."));
                }
            },
        };
        let body = match incoming {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                number += 1;
                let answer = refused(number, "publish bodies are JSON: send them as text frames");
                if !send(&mut socket, answer).await {
                    break None;
                }
                continue;
            }
            // tungstenite queued the pong: send it now.
            Some(Ok(Message::Ping(_))) => {
                if !matches!(
                    tokio::time::timeout(WRITE_TIMEOUT, socket.flush()).await,
                    Ok(Ok(()))
                ) {
                    break None;
                }
                continue;
            }
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) => {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.flush()).await;
                break None;
            }
            Some(Err(error)) => break read_error_close(error),
            None => break None,
        };
        let replies: Vec<Value> = if answers == Answers::All {
            // Each message's own answer: published one at a time.
            number += 1;
            vec![match publish_body(&state, body.as_bytes()).await {
                Ok(mut answer) => {
                    answer["message"] = json!(number);
                    answer
                }
                Err(AdminError(_, message)) => refused(number, &message),
            }]
        } else {
            let bodies = gather(&mut socket, body, gather_bytes, &mut held);
            let first = number + 1;
            number += bodies.len() as u64;
            let bodies: Vec<&[u8]> = bodies.iter().map(|body| body.as_bytes()).collect();
            (first..)
                .zip(publish_bodies(&state, &bodies).await)
                .filter_map(|(number, result)| {
                    let AdminError(_, message) = result.err()?;
                    Some(refused(number, &message))
                })
                .collect()
        };
        for reply in replies {
            if !send(&mut socket, reply).await {
                break 'messages None;
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
}

/// The message just received, and the publish bodies sent after it that are already here, up to
/// `limit` bytes ([`GATHER_BYTES`], or none on a clustered bus): published together, the hub
/// queues them all before it wakes a subscriber's connection, which then takes them in one
/// write. A message of another kind ends the gathering and waits in `held`, so everything is
/// still handled in order.
fn gather(
    socket: &mut WebSocket,
    first: Utf8Bytes,
    limit: usize,
    held: &mut Option<Option<Result<Message, axum::Error>>>,
) -> Vec<Utf8Bytes> {
    let mut weight = first.len();
    let mut bodies = vec![first];
    while weight < limit {
        match socket.recv().now_or_never() {
            Some(Some(Ok(Message::Text(text)))) => {
                weight += text.len();
                bodies.push(text);
            }
            Some(other) => {
                *held = Some(other);
                break;
            }
            None => break,
        }
    }
    bodies
}

fn refused(number: u64, message: &str) -> Value {
    json!({ "message": number, "error": message })
}

/// Sends an answer; `false` when the publisher is gone or stopped reading.
async fn send(socket: &mut WebSocket, answer: Value) -> bool {
    let text = Message::Text(answer.to_string().into());
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, socket.send(text)).await,
        Ok(Ok(()))
    )
}
