//! One WebSocket API connection, run by its own task.
//!
//! The task opens the socket, writes the requests the driver hands it, reads and classifies
//! every frame, answers pings, and watches for a connection that has gone quiet: when nothing
//! is heard for `ping_after` it pings, and when that ping or a request goes unanswered it gives
//! the connection up. Whatever ends the connection, the driver gets exactly one `Closed`.

use crate::frame::{self, Inbound};
use crate::item::Disconnect;
use crate::options::Options;
use crate::token::root_cause;
use futures_util::{SinkExt, StreamExt};
use reqwest::Url;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use userstream_protocol::TimeUnit;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::position::STREAM_POSITIONS;

/// How long a closing handshake may take before the socket is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// The largest frame accepted from the server (events are a few hundred bytes).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What a connection task reports.
// Nearly every report is an event frame; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ConnEvent {
    /// The WebSocket handshake succeeded.
    Open,
    Frame(Inbound),
    /// The connection is over; nothing follows. `last_heard_us` is the clock time of the last
    /// frame received (the opening time if none).
    Closed {
        reason: Disconnect,
        last_heard_us: i64,
    },
}

enum Command {
    Request { id: u64, text: String },
    Close,
}

/// The driver's handle on a connection task. Dropping it closes the connection.
#[derive(Debug)]
pub struct ConnHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl ConnHandle {
    /// Sends one request; its response comes back as a `ConnEvent::Frame`.
    pub fn request(&self, id: u64, text: String) {
        // A closed channel means the task already reported `Closed`; nothing to do.
        let _ = self.commands.send(Command::Request { id, text });
    }

    /// Starts a clean close (close frame, then wait for the server's).
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Request { id, .. } => write!(f, "Request({id})"),
            Command::Close => f.write_str("Close"),
        }
    }
}

/// Everything a connection task needs.
pub struct ConnSettings {
    pub url: Url,
    pub options: Arc<Options>,
    pub clock: SharedClock,
    pub events: mpsc::Sender<(u64, ConnEvent)>,
    /// Ask for stream positions (`streamPositions=true`): only ever towards a server that
    /// announced them.
    pub positions: bool,
}

/// Spawns the task for connection `id`.
pub fn spawn(id: u64, settings: ConnSettings) -> ConnHandle {
    let (commands, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run(id, settings, receiver));
    ConnHandle { commands }
}

/// The session URL: the WebSocket API URL plus our connection parameters. Without `positions`
/// it is exactly what a Binance client asks for.
fn session_url(base: &Url, unit: TimeUnit, sbe: bool, positions: bool) -> Url {
    let mut url = base.clone();
    let unit = match unit {
        TimeUnit::Millisecond => "MILLISECOND",
        TimeUnit::Microsecond => "MICROSECOND",
    };
    let mut query = url.query_pairs_mut();
    query
        .append_pair("timeUnit", unit)
        .append_pair("returnRateLimits", "false");
    if sbe {
        let version = userstream_protocol::sbe::LATEST_VERSION;
        for (name, value) in userstream_protocol::sbe::url_parameters(version) {
            query.append_pair(name, &value);
        }
    }
    if positions {
        query.append_pair(STREAM_POSITIONS, "true");
    }
    drop(query);
    url
}

/// A data frame of this session's format: JSON text or SBE binary. A frame of the other kind is
/// an error, not guessed at.
fn read_frame(message: &Message, options: &Options) -> Result<Inbound, frame::FrameError> {
    match (message, options.sbe) {
        (Message::Text(text), false) => frame::parse(text.as_str(), options.time_unit),
        (Message::Binary(bytes), true) => frame::parse_binary(bytes),
        (Message::Text(text), true) => Ok(Inbound::Ignored(format!(
            "a text frame on an SBE session: {}",
            userstream_protocol::events::clip(text.as_str())
        ))),
        _ => Ok(Inbound::Ignored("a binary frame on a JSON session".into())),
    }
}

async fn run(id: u64, settings: ConnSettings, mut commands: mpsc::UnboundedReceiver<Command>) {
    let ConnSettings {
        url,
        options,
        clock,
        events,
        positions,
    } = settings;
    let report = |event| {
        let events = events.clone();
        async move {
            // The driver is gone only when the stream was dropped; then nobody listens.
            let _ = events.send((id, event)).await;
        }
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE_BYTES);
    config.max_frame_size = Some(MAX_MESSAGE_BYTES);
    let url = session_url(&url, options.time_unit, options.sbe, positions);
    let connector = options.trusted_certificates.websocket_connector();
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(config),
        true,
        connector,
    );
    let mut ws = match timeout(options.connect_timeout, connecting).await {
        Ok(Ok((ws, _response))) => ws,
        Ok(Err(error)) => {
            let reason = Disconnect::ConnectFailed(describe_handshake_error(&error));
            report(ConnEvent::Closed {
                reason,
                last_heard_us: clock.now_us(),
            })
            .await;
            return;
        }
        Err(_) => {
            let reason = Disconnect::ConnectFailed(format!(
                "no answer within {} ms",
                options.connect_timeout.as_millis()
            ));
            report(ConnEvent::Closed {
                reason,
                last_heard_us: clock.now_us(),
            })
            .await;
            return;
        }
    };
    report(ConnEvent::Open).await;

    let mut last_heard = Instant::now();
    let mut last_heard_us = clock.now_us();
    let mut ping_sent: Option<Instant> = None;
    let mut outstanding: HashMap<u64, Instant> = HashMap::new();
    let mut closing: Option<Instant> = None;
    let reason = loop {
        let deadline = watchdog_deadline(
            &options,
            last_heard,
            ping_sent,
            outstanding.values().min().copied(),
            closing,
        );
        // Biased: requests first (rare, and a renewal must not wait behind a flood of events),
        // then the socket, and the watchdog last, so that a reply that is already waiting
        // after a slow reader held us up is read before anything is declared unanswered.
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Request { id: request, text }) => {
                    outstanding.insert(request, Instant::now());
                    if let Err(error) = ws.send(Message::text(text)).await {
                        break Disconnect::Lost(root_cause(&error));
                    }
                }
                Some(Command::Close) | None => {
                    if closing.is_none() {
                        closing = Some(Instant::now() + CLOSE_GRACE);
                        let _ = ws.close(None).await;
                    }
                    if command.is_none() {
                        // The driver is gone: nobody will read a report.
                        let _ = timeout(CLOSE_GRACE, async { while ws.next().await.is_some() {} }).await;
                        return;
                    }
                }
            },
            message = ws.next() => {
                let message = match message {
                    None => break Disconnect::Lost("the server ended the connection without a close frame".into()),
                    Some(Err(error)) => break Disconnect::Lost(root_cause(&error)),
                    Some(Ok(message)) => message,
                };
                last_heard = Instant::now();
                last_heard_us = clock.now_us();
                ping_sent = None;
                match message {
                    Message::Text(_) | Message::Binary(_) => match read_frame(&message, &options) {
                        Ok(inbound) => {
                            if let Inbound::Response { id, .. } = &inbound {
                                outstanding.remove(id);
                            }
                            if let Inbound::Ignored(what) = &inbound {
                                tracing::debug!(connection = id, "skipped {what}");
                            } else {
                                report(ConnEvent::Frame(inbound)).await;
                            }
                        }
                        Err(error) => tracing::warn!(connection = id, %error, "unreadable frame skipped"),
                    },
                    // tungstenite queues the pong itself and sends it on the next read.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    Message::Close(frame) => {
                        let (code, reason) = frame
                            .map(|frame| (u16::from(frame.code), frame.reason.as_str().to_owned()))
                            .unwrap_or((u16::from(CloseCode::Status), String::new()));
                        // Finish the closing handshake, briefly.
                        let _ = timeout(CLOSE_GRACE, async { while ws.next().await.is_some() {} }).await;
                        break Disconnect::Closed { code, reason };
                    }
                }
            }
            () = sleep_until(deadline) => {
                let now = Instant::now();
                if closing.is_some_and(|deadline| now >= deadline) {
                    break Disconnect::Closed { code: u16::from(CloseCode::Normal), reason: "closed by the client".into() };
                }
                if outstanding.values().any(|sent| now >= *sent + options.request_timeout) {
                    break Disconnect::RequestTimeout;
                }
                match ping_sent {
                    Some(sent) if now >= sent + options.pong_timeout => break Disconnect::Stale,
                    Some(_) => {}
                    None if now >= last_heard + options.ping_after => {
                        ping_sent = Some(now);
                        if let Err(error) = ws.send(Message::Ping(Default::default())).await {
                            break Disconnect::Lost(root_cause(&error));
                        }
                    }
                    None => {}
                }
            }
        }
    };
    report(ConnEvent::Closed {
        reason,
        last_heard_us,
    })
    .await;
}

/// The next instant the watchdog must look at the connection.
fn watchdog_deadline(
    options: &Options,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    oldest_request: Option<Instant>,
    closing: Option<Instant>,
) -> Instant {
    let mut deadline = match ping_sent {
        Some(sent) => sent + options.pong_timeout,
        None => last_heard + options.ping_after,
    };
    if let Some(sent) = oldest_request {
        deadline = deadline.min(sent + options.request_timeout);
    }
    if let Some(closing) = closing {
        deadline = deadline.min(closing);
    }
    deadline
}

/// A handshake failure in words: an HTTP refusal quotes the status and the body's start, since
/// that is where a Binance error code lives.
fn describe_handshake_error(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
                .unwrap_or_default();
            format!("HTTP {} {}", response.status().as_u16(), body.trim())
        }
        other => root_cause(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_of_the_other_format_is_skipped_without_harm() {
        let sbe = Options {
            sbe: true,
            ..Options::default()
        };
        // Cutting the echo must respect character boundaries.
        let text = format!("{}é{}", "a".repeat(99), "b".repeat(50));
        let frame = read_frame(&Message::text(text), &sbe).unwrap();
        assert!(matches!(frame, Inbound::Ignored(_)));
        let binary = Message::binary(vec![1, 2, 3]);
        let frame = read_frame(&binary, &Options::default()).unwrap();
        assert!(matches!(frame, Inbound::Ignored(_)));
    }

    #[test]
    fn session_url_asks_for_the_time_unit_and_no_rate_limits() {
        let base = Url::parse("wss://ws-api.binance.com:443/ws-api/v3").unwrap();
        assert_eq!(
            session_url(&base, TimeUnit::Microsecond, false, false).as_str(),
            "wss://ws-api.binance.com/ws-api/v3?timeUnit=MICROSECOND&returnRateLimits=false"
        );
        let local = Url::parse("ws://127.0.0.1:9443/ws-api/v3").unwrap();
        assert_eq!(
            session_url(&local, TimeUnit::Microsecond, false, true).as_str(),
            "ws://127.0.0.1:9443/ws-api/v3?timeUnit=MICROSECOND&returnRateLimits=false&streamPositions=true"
        );
        assert_eq!(
            session_url(&base, TimeUnit::Millisecond, true, false).as_str(),
            "wss://ws-api.binance.com/ws-api/v3?timeUnit=MILLISECOND&returnRateLimits=false&responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5"
        );
    }
}
