//! One connection: read requests, write responses and events, until either side goes away.
//!
//! A single task per connection. Everything outgoing (responses included) goes through the
//! session's outbox, so frames leave in exactly the order they were queued, and every batch of
//! waiting frames is written with one flush.

use super::ConnectionOptions;
use super::methods::{self, MethodContext};
use crate::outbox::{OutFrame, OutboxState, Payload};
use crate::state::SharedState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::SinkExt;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

/// How long a closing handshake may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A plain function returning an `async move` block, not an `async fn`: an `async fn` keeps each
/// argument twice in its state (as the argument and as the local it is moved into), which for
/// the socket alone is 368 bytes of every connection's task.
#[allow(clippy::manual_async_fn)]
pub fn run(
    mut socket: WebSocket,
    state: SharedState,
    peer: SocketAddr,
    options: ConnectionOptions,
) -> impl Future<Output = ()> + Send {
    async move {
        let session = state.sessions.open(
            peer,
            options.format,
            options.positions,
            state.clock.now_us(),
        );
        tracing::debug!(session = session.id, %peer, "connection opened");
        let mut context = MethodContext {
            state: &state,
            session: &session,
            ip: peer.ip(),
            return_rate_limits: options.return_rate_limits,
        };
        let mut shutdown = state.shutdown.clone();
        let mut frames = VecDeque::new();
        let write_timeout = Duration::from_millis(state.config.ws.write_timeout_ms);
        let slow_consumer = || {
            state.metrics.slow_consumer_disconnects.increment(1);
            tracing::info!(session = session.id, %peer, "slow consumer disconnected");
        };
        let coalesce = Duration::from_millis(state.config.ws.write_coalesce_ms);
        // Set only while frames pile up for the connection: its next write waits until then.
        let mut hold_until: Option<tokio::time::Instant> = None;
        // Not `biased`: a busy outbox must not starve reads (pongs, renewals, pings).
        let close = loop {
            tokio::select! {
                _ = session.outbox.ready() => {
                    if let Some(until) = hold_until.take() {
                        // A busy connection waits out the interval, so that what arrives
                        // meanwhile shares this write.
                        tokio::time::sleep_until(until).await;
                    }
                    let delay_us = session.faults.delay_us();
                    if delay_us > 0 {
                        state.clock.sleep_until(state.clock.now_us().saturating_add(delay_us)).await;
                    }
                    let written = within(write_timeout, write_frames(&mut socket, &session.outbox, &mut frames, &state.metrics.frames_written)).await;
                    match written {
                        // Coalescing holds a connection back only while frames pile up for it
                        // (this write carried more than one, queued while it waited for a
                        // core). A connection written one frame at a time never waits: a fixed
                        // minimum gap between writes would give one whose events come about an
                        // interval apart a standing lag, each late write pushing the next along.
                        Ok(Ok(Written::Open { frames })) => {
                            if frames > 1 && !coalesce.is_zero() {
                                hold_until = Some(tokio::time::Instant::now() + coalesce);
                            }
                        }
                        Ok(Ok(Written::Close(code, reason))) => break Some((code, reason)),
                        Ok(Ok(Written::Drop)) => break None,
                        Ok(Ok(Written::Mute(until_us))) => {
                            state.clock.sleep_until(until_us).await;
                            // Whatever waits behind the mute goes out now.
                            session.outbox.wake();
                        }
                        Ok(Ok(Written::Overflowed)) => {
                            slow_consumer();
                            break Some((close_code::POLICY, "Outgoing queue overflow: the client is not reading fast enough."));
                        }
                        Ok(Err(_)) => break None,
                        // The client's receive window stayed shut: nothing more can be written.
                        Err(_) => {
                            slow_consumer();
                            break None;
                        }
                    }
                }
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => methods::handle(&mut context, text.as_bytes()),
                    Some(Ok(Message::Binary(_))) => methods::reject_unparsable(&mut context),
                    // tungstenite queued the pong; send it now rather than with the next frame.
                    Some(Ok(Message::Ping(_))) => {
                        if !matches!(tokio::time::timeout(write_timeout, socket.flush()).await, Ok(Ok(()))) {
                            break None;
                        }
                    }
                    Some(Ok(Message::Pong(_))) => session.liveness.pong(state.clock.now_us()),
                    Some(Ok(Message::Close(_))) => {
                        // Complete the closing handshake: tungstenite queued our reply.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.flush()).await;
                        break None;
                    }
                    None => break None,
                    Some(Err(error)) => break read_error_close(error),
                },
                _ = async { let _ = shutdown.wait_for(|stopping| *stopping).await; } => {
                    // serverShutdown goes after whatever is already queued (unless a drain sent it
                    // already), then the close frame.
                    if session.first_shutdown_notice() {
                        session.outbox.push(state.hub.shutdown_frame(session.format));
                    }
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, write_frames(&mut socket, &session.outbox, &mut frames, &state.metrics.frames_written)).await;
                    break Some((close_code::AWAY, "Server shutting down."));
                }
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
        }
        state.hub.disconnected(&session);
        state.sessions.close(session.id);
        tracing::debug!(session = session.id, %peer, "connection closed");
        // The socket goes last: it holds the connection's place under the caps, which the server
        // watches at shutdown to know that no session holds the state any more.
        drop(session);
        drop(state);
        drop(socket);
    }
}

/// `future`, given at most `limit` once it has had to wait. Most writes complete at their first
/// poll, and those arm no timer (a timer per write, armed and cancelled, was measurable at
/// saturation).
async fn within<T>(
    limit: Duration,
    future: impl Future<Output = T>,
) -> Result<T, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    let first = std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => tokio::time::timeout(limit, future).await,
    }
}

/// What writing the queued frames came to.
enum Written {
    /// Still open, after writing this many frames.
    Open {
        frames: u64,
    },
    Overflowed,
    /// A close was queued (heartbeat, lifetime): frames after it are dropped.
    Close(u16, &'static str),
    /// Fault injection: vanish without a close frame.
    Drop,
    /// Fault injection: go silent until this time; later frames stay queued.
    Mute(i64),
}

/// Writes every queued frame, then flushes once; counts the frames into `written`.
async fn write_frames(
    socket: &mut WebSocket,
    outbox: &crate::outbox::Outbox,
    frames: &mut VecDeque<OutFrame>,
    written: &metrics::Counter,
) -> Result<Written, axum::Error> {
    if outbox.drain(frames) == OutboxState::Overflowed {
        frames.clear();
        return Ok(Written::Overflowed);
    }
    // Set when a close or a mute ends the batch; otherwise the connection stays open.
    let mut ended = None;
    let mut fed = 0;
    while let Some(frame) = frames.pop_front() {
        let message = match frame {
            OutFrame::Close { code, reason } => {
                ended = Some(Written::Close(code, reason));
                frames.clear();
                break;
            }
            OutFrame::Drop => return Ok(Written::Drop),
            OutFrame::Mute { until_us } => {
                ended = Some(Written::Mute(until_us));
                break;
            }
            OutFrame::Ping => Message::Ping(Default::default()),
            other => match other.into_payload() {
                Some(Payload::Binary(bytes)) => Message::Binary(bytes),
                Some(Payload::Text(text)) => match Utf8Bytes::try_from(text) {
                    Ok(text) => Message::Text(text),
                    Err(_) => {
                        tracing::error!("dropped an outgoing frame that was not UTF-8");
                        continue;
                    }
                },
                None => continue,
            },
        };
        socket.feed(message).await?;
        fed += 1;
    }
    written.increment(fed);
    if frames.is_empty() {
        // Give the allocation back: an idle connection keeps none.
        *frames = VecDeque::new();
    }
    socket.flush().await?;
    Ok(ended.unwrap_or(Written::Open { frames: fed }))
}

/// A read error that deserves a close frame: a message over the size limit gets 1009.
pub(crate) fn read_error_close(error: axum::Error) -> Option<(u16, &'static str)> {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some((close_code::SIZE, "Message too big.")),
        Some(tungstenite::Error::Utf8(_)) => {
            Some((close_code::INVALID, "Text frame is not valid UTF-8."))
        }
        Some(tungstenite::Error::Protocol(_)) => {
            Some((close_code::PROTOCOL, "WebSocket protocol violation."))
        }
        _ => None,
    }
}
