//! How the load generator talks to each server under test: prepare accounts, subscribe a
//! connection, publish a batch, and read what arrives.

use crate::BenchError;
use crate::floor::Stack;
use crate::latency::Latencies;
use crate::net::{Ws, connect_ws, embedded_timestamp, now_us, source_for};
use crate::publish_stream::StreamPublisher;
use crate::pusher::{self, PusherApp};
use crate::raw_post::RawPost;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use userstream_client::token::{API_KEY_HEADER, TOKEN_PATH, unsigned_query};
use userstream_protocol::sbe::responses::{Outcome, read_response};
use userstream_protocol::sbe::wire::HEADER_LEN;
use userstream_protocol::sbe::{LATEST_VERSION, url_parameters};
use userstream_protocol::ws::{Answer, JsonResponse, MethodParams, SubscribeParams};

/// A server under test.
#[derive(Clone)]
pub enum Peer {
    /// `userstream serve`: tokens over REST, the WebSocket API, publish over the admin API.
    Userstream {
        public: SocketAddr,
        admin: SocketAddr,
        http: reqwest::Client,
        /// Publishes to `admin` (see [`RawPost`] for why not through `http`).
        publisher: Arc<RawPost>,
        /// When set, publishes over the kept-open connection instead of one request per batch.
        stream: Option<Arc<StreamPublisher>>,
        /// Subscribe in SBE (schema 3:5) instead of JSON.
        sbe: bool,
        /// Connect with `streamPositions=true`: every event carries its position (JSON only).
        positions: bool,
    },
    /// The floor server: same HTTP stack, no protocol, on the WebSocket crate `stack`.
    Floor {
        addr: SocketAddr,
        http: reqwest::Client,
        stack: Stack,
    },
    /// Sockudo: one private channel per account (subscriptions signed like listen tokens),
    /// published through its signed HTTP API.
    Sockudo {
        addr: SocketAddr,
        http: reqwest::Client,
        app: PusherApp,
    },
    /// nats-server: one subject per account, WebSocket subscribers, TCP publisher.
    Nats {
        client: SocketAddr,
        ws: SocketAddr,
        publisher: Arc<Mutex<Option<TcpStream>>>,
    },
}

/// Frames and socket writes counted by the server (see [`Peer::write_counters`]).
#[derive(Debug, Clone, Copy)]
pub struct WriteCounters {
    pub frames: u64,
    pub writes: u64,
}

/// What a server's resume history holds (see [`Peer::history_usage`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryUsage {
    /// Events as JSON plus the server's estimate of each entry's overhead.
    pub bytes: u64,
    pub events: u64,
}

/// The value of the series named `series` (labels included) in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse::<f64>().ok().map(|value| value as u64)
    })
}

/// One account under test.
#[derive(Debug, Clone)]
pub struct BenchAccount {
    pub uid: u64,
    /// The API key (userstream only).
    pub api_key: String,
}

impl Peer {
    /// userstream at `public` (WebSocket API, tokens) and `admin` (keys, publishing), in JSON.
    pub fn userstream(public: SocketAddr, admin: SocketAddr, http: reqwest::Client) -> Peer {
        Peer::Userstream {
            public,
            admin,
            http,
            publisher: Arc::new(RawPost::new(admin)),
            stream: None,
            sbe: false,
            positions: false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Peer::Userstream {
                sbe: true,
                positions: false,
                ..
            } => "userstream/sbe",
            Peer::Userstream {
                positions: true, ..
            } => "userstream/positions",
            Peer::Userstream { .. } => "userstream",
            Peer::Floor { stack, .. } => match stack {
                Stack::Tungstenite => "floor",
                Stack::FastWebsockets => "floor/fastwebsockets",
                Stack::TokioWebsockets => "floor/tokio-websockets",
            },
            Peer::Nats { .. } => "nats-server",
            Peer::Sockudo { .. } => "sockudo",
        }
    }

    /// Creates `count` accounts (for userstream: one API key per user, `concurrency` at a time).
    pub async fn prepare_accounts(
        &self,
        count: usize,
        concurrency: usize,
    ) -> Result<Vec<BenchAccount>, BenchError> {
        let Peer::Userstream { admin, http, .. } = self else {
            return Ok((0..count)
                .map(|index| BenchAccount {
                    uid: 1 + index as u64,
                    api_key: String::new(),
                })
                .collect());
        };
        let url = format!("http://{admin}/admin/v1/keys");
        let results = futures_util::stream::iter(0..count)
            .map(|index| {
                let http = http.clone();
                let url = url.clone();
                async move {
                    let uid = 1 + index as u64;
                    let answer: Value = http
                        .post(&url)
                        .json(&json!({"uid": uid}))
                        .send()
                        .await?
                        .json()
                        .await?;
                    let api_key = answer["apiKey"]
                        .as_str()
                        .ok_or_else(|| BenchError(format!("no apiKey in {answer}")))?
                        .to_owned();
                    Ok::<_, BenchError>(BenchAccount { uid, api_key })
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>()
            .await;
        let mut accounts = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by_key(|account| account.uid);
        Ok(accounts)
    }

    /// A listen token for the account (userstream), or nothing to fetch (the peers).
    pub async fn token(
        &self,
        account: &BenchAccount,
        validity_ms: Option<u64>,
    ) -> Result<Option<String>, BenchError> {
        let Peer::Userstream { public, http, .. } = self else {
            return Ok(None);
        };
        let mut url = format!("http://{public}{TOKEN_PATH}");
        let query = unsigned_query(None, validity_ms);
        if !query.is_empty() {
            url.push_str(&format!("?{query}"));
        }
        let answer: Value = http
            .post(url)
            .header(API_KEY_HEADER, &account.api_key)
            .send()
            .await?
            .json()
            .await?;
        answer["token"]
            .as_str()
            .map(|token| Some(token.to_owned()))
            .ok_or_else(|| BenchError(format!("no token in {answer}")))
    }

    /// Opens connection number `index` and subscribes it to `account`. Returns the socket and,
    /// for userstream, the subscription's expiration time (µs).
    pub async fn subscribe(
        &self,
        index: usize,
        account: &BenchAccount,
        token: Option<&str>,
    ) -> Result<(Ws, Option<i64>), BenchError> {
        let source = source_for(index);
        match self {
            Peer::Userstream {
                public,
                sbe,
                positions,
                ..
            } => {
                let url = userstream_url(*public, *sbe, *positions);
                let mut ws = connect_ws(source, *public, &url).await?;
                let request = SubscribeParams::new(token.unwrap_or_default()).to_frame(1);
                ws.send(Message::text(request)).await?;
                if *sbe {
                    let answer = read_response(&next_data(&mut ws).await?)
                        .map_err(|error| BenchError(error.to_string()))?;
                    let Outcome::Answer(Answer::Subscribed(info)) = answer.outcome else {
                        return Err(BenchError(format!("subscribe refused: {answer:?}")));
                    };
                    return Ok((ws, Some(info.expiration_time)));
                }
                let answer = next_text(&mut ws).await?;
                let refused = || BenchError(format!("subscribe refused: {answer}"));
                let response = JsonResponse::read(&answer).map_err(|_| refused())?;
                let result = response.outcome.map_err(|_| refused())?;
                let info = SubscribeParams::read_result(&result).map_err(|_| refused())?;
                Ok((ws, Some(info.expiration_time)))
            }
            Peer::Floor { addr, .. } => {
                let mut ws = connect_ws(source, *addr, &format!("ws://{addr}/ws")).await?;
                ws.send(Message::text(format!("sub {}", account.uid)))
                    .await?;
                next_text(&mut ws).await?;
                Ok((ws, None))
            }
            Peer::Sockudo { addr, app, .. } => {
                let url = format!(
                    "ws://{addr}/app/{}?protocol=7&client=userstream-bench&version=1",
                    app.key
                );
                let mut ws = connect_ws(source, *addr, &url).await?;
                let established = next_text(&mut ws).await?;
                let socket_id = pusher::socket_id(&established)
                    .ok_or_else(|| BenchError(format!("no socket_id in {established}")))?;
                let channel = PusherApp::channel(account.uid);
                let subscribe = json!({"event": "pusher:subscribe", "data": {
                    "channel": channel, "auth": app.channel_auth(&socket_id, &channel)}});
                ws.send(Message::text(subscribe.to_string())).await?;
                loop {
                    let answer = next_text(&mut ws).await?;
                    if answer.contains("subscription_succeeded") {
                        break;
                    }
                    if answer.contains("pusher:error") || answer.contains("subscription_error") {
                        return Err(BenchError(format!("subscribe refused: {answer}")));
                    }
                }
                Ok((ws, None))
            }
            Peer::Nats { ws: addr, .. } => {
                let mut ws = connect_ws(source, *addr, &format!("ws://{addr}/")).await?;
                let hello = format!(
                    "CONNECT {{\"verbose\":false,\"pedantic\":false,\"protocol\":1}}\r\nSUB acct.{} 1\r\nPING\r\n",
                    account.uid
                );
                ws.send(Message::binary(hello.into_bytes())).await?;
                // INFO first, then PONG once the subscription is in place.
                loop {
                    let frame = next_data(&mut ws).await?;
                    if frame.windows(4).any(|window| window == b"PONG") {
                        break;
                    }
                }
                Ok((ws, None))
            }
        }
    }

    /// userstream's Prometheus metrics (the peers' are not read).
    async fn metrics_text(&self) -> Option<String> {
        let Peer::Userstream { admin, http, .. } = self else {
            return None;
        };
        let response = http.get(format!("http://{admin}/metrics")).send().await;
        response.ok()?.text().await.ok()
    }

    /// `userstream_expiry_lateness_seconds` as `(upper bound in ms, cumulative count)` pairs,
    /// `+Inf` last as `f64::INFINITY`.
    pub async fn expiry_lateness_buckets(&self) -> Option<Vec<(f64, u64)>> {
        let text = self.metrics_text().await?;
        let buckets = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("userstream_expiry_lateness_seconds_bucket{le=\"")?;
                let (bound, count) = rest.split_once("\"} ")?;
                let bound = match bound {
                    "+Inf" => f64::INFINITY,
                    bound => bound.parse::<f64>().ok()? * 1000.0,
                };
                Some((bound, count.trim().parse::<f64>().ok()? as u64))
            })
            .collect();
        Some(buckets)
    }

    /// WebSocket frames written and socket writes so far on the public listener, read from
    /// userstream's metrics (the peers do not say).
    pub async fn write_counters(&self) -> Option<WriteCounters> {
        let text = self.metrics_text().await?;
        Some(WriteCounters {
            frames: metric(&text, "userstream_ws_frames_written_total")?,
            writes: metric(&text, "userstream_socket_writes_total{listener=\"public\"}")?,
        })
    }

    /// What this server's resume history holds, from `userstream_history_bytes` and
    /// `userstream_history_events` (`None` for the peers).
    pub async fn history_usage(&self) -> Option<HistoryUsage> {
        let text = self.metrics_text().await?;
        Some(HistoryUsage {
            bytes: metric(&text, "userstream_history_bytes")?,
            events: metric(&text, "userstream_history_events")?,
        })
    }

    /// Times this node's bus reported possible loss (`userstream_bus_losses_total`: cluster
    /// mode only).
    pub async fn bus_losses(&self) -> Option<u64> {
        let text = self.metrics_text().await?;
        metric(&text, "userstream_bus_losses_total")
    }

    /// Publishes one event to each account in `batch`, each carrying the current time.
    pub async fn publish(&self, batch: &[u64]) -> Result<(), BenchError> {
        let stamp = now_us();
        match self {
            Peer::Userstream {
                publisher, stream, ..
            } => {
                let mut body = String::with_capacity(batch.len() * 96);
                for uid in batch {
                    let _ = writeln!(
                        body,
                        r#"{{"uid":{uid},"event":{{"e":"balanceUpdate","a":"BTC","d":"{stamp}","T":0}}}}"#
                    );
                }
                if let Some(stream) = stream {
                    return stream.publish(body).await;
                }
                let answer = publisher
                    .post("/admin/v1/events", "application/x-ndjson", body.as_bytes())
                    .await?;
                if !(200..300).contains(&answer.status) {
                    return Err(BenchError(format!(
                        "publish refused: {}",
                        String::from_utf8_lossy(&answer.body)
                    )));
                }
            }
            Peer::Floor { addr, http, .. } => {
                let mut body = String::with_capacity(batch.len() * 128);
                for uid in batch {
                    let _ = writeln!(body, "{uid} {}", frame_payload(stamp));
                }
                http.post(format!("http://{addr}/publish"))
                    .body(body)
                    .send()
                    .await?;
            }
            Peer::Sockudo { addr, http, app } => {
                // The Pusher API takes at most 10 events per batch request.
                let payload = frame_payload(stamp);
                let path = format!("/apps/{}/batch_events", app.id);
                let requests = batch.chunks(10).map(|chunk| {
                    let events: Vec<Value> = chunk
                        .iter()
                        .map(|uid| json!({"name": "e", "channel": PusherApp::channel(*uid), "data": payload}))
                        .collect();
                    let body = json!({"batch": events}).to_string().into_bytes();
                    let query = app.signed_query(&path, &body, (stamp / 1_000_000) as u64);
                    http.post(format!("http://{addr}{path}?{query}"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                });
                for response in futures_util::future::join_all(requests).await {
                    let response = response?;
                    if !response.status().is_success() {
                        return Err(BenchError(format!(
                            "publish refused: {}",
                            response.text().await?
                        )));
                    }
                }
            }
            Peer::Nats {
                client, publisher, ..
            } => {
                let mut guard = publisher.lock().await;
                if guard.is_none() {
                    let mut stream = TcpStream::connect(client).await?;
                    stream.set_nodelay(true)?;
                    stream
                        .write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n")
                        .await?;
                    *guard = Some(stream);
                }
                let payload = frame_payload(stamp);
                let mut out = Vec::with_capacity(batch.len() * (payload.len() + 32));
                for uid in batch {
                    let _ = write!(
                        VecWriter(&mut out),
                        "PUB acct.{uid} {}\r\n{payload}\r\n",
                        payload.len()
                    );
                }
                if let Some(stream) = guard.as_mut() {
                    stream.write_all(&out).await?;
                }
            }
        }
        Ok(())
    }

    /// Reads a subscribed connection until it closes, counting events in `delivered` and
    /// recording each one's latency.
    pub async fn read(
        &self,
        reader: usize,
        mut ws: Ws,
        latencies: Arc<Latencies>,
        counters: Arc<Counters>,
    ) {
        let nats = matches!(self, Peer::Nats { .. });
        let pusher = matches!(self, Peer::Sockudo { .. });
        let sbe = matches!(self, Peer::Userstream { sbe: true, .. });
        let delivered = &counters.events;
        let mut pending = Vec::new();
        while let Some(Ok(message)) = ws.next().await {
            let data: &[u8] = match &message {
                Message::Text(text) => text.as_bytes(),
                Message::Binary(bytes) => bytes,
                _ => continue,
            };
            counters
                .bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            if sbe {
                if let Some(stamp) = sbe_timestamp(data) {
                    latencies.record(reader, now_us() - stamp);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            } else if nats {
                pending.extend_from_slice(data);
                let (events, ping) = nats_messages(&mut pending, |stamp| {
                    latencies.record(reader, now_us() - stamp);
                });
                delivered.fetch_add(events, Ordering::Relaxed);
                if ping
                    && ws
                        .send(Message::binary(b"PONG\r\n".to_vec()))
                        .await
                        .is_err()
                {
                    break;
                }
            } else if pusher {
                if data.windows(11).any(|w| w == b"pusher:ping") {
                    let pong = Message::text(r#"{"event":"pusher:pong","data":{}}"#);
                    if ws.send(pong).await.is_err() {
                        break;
                    }
                } else if let Some(stamp) = crate::net::escaped_timestamp(data) {
                    latencies.record(reader, now_us() - stamp);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            } else if let Some(stamp) = embedded_timestamp(data) {
                latencies.record(reader, now_us() - stamp);
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The WebSocket API URL a userstream connection opens: JSON or SBE (schema 3:5), with
/// `streamPositions=true` when asked (the server refuses it on SBE connections).
fn userstream_url(public: SocketAddr, sbe: bool, positions: bool) -> String {
    let mut url = format!("ws://{public}/ws-api/v3?returnRateLimits=false");
    if sbe {
        for (name, value) in url_parameters(LATEST_VERSION) {
            let _ = write!(url, "&{name}={value}");
        }
    }
    if positions {
        url.push_str("&streamPositions=true");
    }
    url
}

/// What the readers of one run count.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events delivered.
    pub events: AtomicU64,
    /// Payload bytes of every frame read.
    pub bytes: AtomicU64,
}

/// The publish time in an SBE `balanceUpdate` (601): its `freeQtyDelta` mantissa, read in place
/// as a client on the hot path would.
fn sbe_timestamp(frame: &[u8]) -> Option<i64> {
    use userstream_protocol::sbe::layout::balance_update_event as bu;
    let template = frame.get(2..4)?;
    if template != bu::TEMPLATE_ID.to_le_bytes() {
        return None;
    }
    let at = HEADER_LEN + bu::FREE_QTY_DELTA.offset;
    let bytes: [u8; 8] = frame.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// The frame userstream would send for a bench event, used as the peers' payload so every
/// server moves the same bytes.
fn frame_payload(stamp: i64) -> String {
    format!(
        r#"{{"subscriptionId":0,"event":{{"e":"balanceUpdate","E":{},"a":"BTC","d":"{stamp}","T":0}}}}"#,
        stamp / 1000
    )
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// Consumes complete NATS protocol messages from `buffer`: calls `on_event` with each MSG's
/// embedded timestamp; returns the number of MSGs and whether a PING came.
fn nats_messages(buffer: &mut Vec<u8>, mut on_event: impl FnMut(i64)) -> (u64, bool) {
    let mut consumed = 0;
    let mut events = 0;
    let mut ping = false;
    loop {
        let rest = &buffer[consumed..];
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let line = &rest[..line_end];
        if line.starts_with(b"MSG ") {
            let size: Option<usize> = std::str::from_utf8(line)
                .ok()
                .and_then(|line| line.rsplit(' ').next())
                .and_then(|size| size.parse().ok());
            let Some(size) = size else {
                consumed += line_end + 2;
                continue;
            };
            let total = line_end + 2 + size + 2;
            if rest.len() < total {
                break;
            }
            if let Some(stamp) = embedded_timestamp(&rest[line_end + 2..line_end + 2 + size]) {
                on_event(stamp);
            }
            events += 1;
            consumed += total;
        } else {
            if line == b"PING" {
                ping = true;
            }
            consumed += line_end + 2;
        }
    }
    buffer.drain(..consumed);
    (events, ping)
}

async fn next_text(ws: &mut Ws) -> Result<String, BenchError> {
    let data = next_data(ws).await?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

async fn next_data(ws: &mut Ws) -> Result<Vec<u8>, BenchError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_bytes().to_vec()),
            Some(Ok(Message::Binary(bytes))) => return Ok(bytes.to_vec()),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => return Err(BenchError("connection closed".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_asked_for_in_the_url() {
        let public = SocketAddr::from(([127, 0, 0, 1], 9000));
        let plain = userstream_url(public, false, false);
        assert!(!plain.contains("streamPositions"), "{plain}");
        let positions = userstream_url(public, false, true);
        assert!(positions.ends_with("&streamPositions=true"), "{positions}");
        assert!(userstream_url(public, true, false).contains("responseFormat=sbe"));
    }

    #[test]
    fn nats_frames_are_split_into_messages() {
        let payload = frame_payload(1_732_443_600_123_456);
        let mut buffer = format!(
            "INFO {{}}\r\nMSG acct.1 1 {}\r\n{payload}\r\nPING\r\nMSG acct.1 1 {}\r\n{}",
            payload.len(),
            payload.len(),
            &payload[..10]
        )
        .into_bytes();
        let mut stamps = Vec::new();
        let (events, ping) = nats_messages(&mut buffer, |stamp| stamps.push(stamp));
        assert_eq!((events, ping), (1, true));
        assert_eq!(stamps, vec![1_732_443_600_123_456]);
        assert!(
            buffer.starts_with(b"MSG acct.1 1 "),
            "the partial message stays"
        );
    }
}
