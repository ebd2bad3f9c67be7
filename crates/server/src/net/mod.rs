//! Accepting connections: caps on what a stranger may hold open, TLS, the HTTP/1.1 connection
//! with its header timeout, and the hand-over to the router (which may upgrade to a WebSocket).
//!
//! Both listeners run this same loop with their own caps, so a flood on the public listener
//! never takes the admin listener's places.

mod caps;
mod tls;

pub use caps::{ConnectionCaps, Full, Permit, client_key};
pub use tls::{Tls, TlsError};

use crate::metrics::ListenerMetrics;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::Service;
use userstream_protocol::ApiError;

/// Largest request head (request line plus headers). Longer heads are refused by the HTTP
/// layer itself with a bare 431; nothing this server serves needs more.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest pause after an accept failure such as running out of descriptors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// One listener and what governs it.
pub struct Listener {
    /// `public` or `admin`: the label of its logs.
    pub name: &'static str,
    pub tcp: TcpListener,
    pub caps: Arc<ConnectionCaps>,
    pub metrics: ListenerMetrics,
}

/// What a handler learns of the connection its request came on (as axum's `ConnectInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub peer: SocketAddr,
    /// `TCP_NODELAY` as read back from the socket after it was set.
    pub nodelay: bool,
}

/// What every connection of a listener shares.
#[derive(Clone)]
pub struct ServeSettings {
    pub header_timeout: Duration,
    pub tls: Option<Tls>,
}

/// Accepts connections until `stop` turns true, then returns the tasks of the connections
/// still open: each HTTP connection finishes the request it is serving and closes. Upgraded
/// WebSocket connections are the sessions' to close.
pub async fn serve(
    listener: Listener,
    router: Router,
    settings: ServeSettings,
    mut stop: watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut connections = JoinSet::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut backoff = Duration::ZERO;
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        // Finished connections leave the set as new ones come, so it holds only open ones.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.tcp.accept() => accepted,
            () = stopped(&mut stop) => return connections,
        };
        match accepted {
            Ok((tcp, peer)) => {
                backoff = Duration::ZERO;
                let tls = settings.tls.is_some();
                let Some(permit) = admit(&listener, &tcp, peer, tls) else {
                    continue;
                };
                let connection = Connection {
                    http: http.clone(),
                    router: router.clone(),
                    settings: settings.clone(),
                    listener: listener.name,
                    metrics: listener.metrics.clone(),
                    peer,
                };
                connections.spawn(connection.run(tcp, permit, stop.clone()));
            }
            // Running out of descriptors or memory: retrying at once would spin. Pause, longer
            // each time.
            Err(error) if is_exhaustion(&error) => {
                listener.metrics.accept_errors.increment(1);
                backoff = (backoff * 2).clamp(Duration::from_millis(5), MAX_ACCEPT_BACKOFF);
                let now = tokio::time::Instant::now();
                if last_warning.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
                    last_warning = Some(now);
                    tracing::warn!(
                        listener = listener.name,
                        %error,
                        open = listener.caps.open(),
                        backoff_ms = backoff.as_millis() as u64,
                        "cannot accept connections (out of file descriptors?); pausing the listener"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    () = stopped(&mut stop) => return connections,
                }
            }
            // Anything else concerns one connection (reset before it was accepted, or a network
            // error Linux passes on from it): go on at once.
            Err(error) => tracing::debug!(listener = listener.name, %error, "accept failed"),
        }
    }
}

/// Completes once the server is stopping (holding no borrow of the flag across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Whether `accept` failed for want of descriptors or memory (the process's or the system's).
fn is_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Takes a place under the listener's caps, or refuses the connection. A plain HTTP client is
/// answered in Binance's shape, written straight to the socket; a TLS client just sees the
/// close (no handshake is spent on a refusal).
fn admit(listener: &Listener, tcp: &TcpStream, peer: SocketAddr, tls: bool) -> Option<Permit> {
    let full = match listener.caps.try_acquire(peer.ip()) {
        Ok(permit) => return Some(permit),
        Err(full) => full,
    };
    match full {
        Full::PerClient { .. } => listener.metrics.refused_per_client.increment(1),
        Full::Listener => listener.metrics.refused_full.increment(1),
    }
    tracing::debug!(listener = listener.name, %peer, ?full, "connection refused");
    if tls {
        return None;
    }
    let error = match full {
        Full::PerClient { limit } => ApiError::new(
            429,
            userstream_protocol::error::codes::TOO_MANY_REQUESTS,
            format!("Too many open connections from this address; the limit is {limit}."),
        ),
        Full::Listener => ApiError::new(
            503,
            userstream_protocol::error::codes::SERVER_BUSY,
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        ),
    };
    // Best effort and never waiting: a fresh socket's send buffer takes this at once. Whatever
    // the client already sent is read first, so closing does not reset the connection and
    // throw the answer away.
    let _ = tcp.try_read(&mut [0; 4096]);
    let _ = tcp.try_write(&refusal_bytes(&error));
    None
}

/// A complete HTTP/1.1 response carrying `error`, closing the connection.
fn refusal_bytes(error: &ApiError) -> Vec<u8> {
    let body = serde_json::to_vec(error).unwrap_or_default();
    let reason = axum::http::StatusCode::from_u16(error.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        error.status,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// One accepted connection, until it closes or upgrades.
struct Connection {
    http: http1::Builder,
    router: Router,
    settings: ServeSettings,
    listener: &'static str,
    metrics: ListenerMetrics,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, tcp: TcpStream, permit: Permit, mut stop: watch::Receiver<bool>) {
        let Connection {
            http,
            router,
            settings,
            listener,
            metrics,
            peer,
        } = self;
        // Events and answers are small and latency-bound: never hold them back for Nagle.
        let nodelay = tcp
            .set_nodelay(true)
            .and_then(|()| tcp.nodelay())
            .unwrap_or(false);
        let accepted = Accepted { peer, nodelay };
        let transport = match &settings.tls {
            None => Transport::Plain(tcp),
            Some(tls) => {
                let handshake =
                    tokio::time::timeout(settings.header_timeout, tls.acceptor().accept(tcp));
                let handshake = tokio::select! {
                    handshake = handshake => handshake,
                    () = stopped(&mut stop) => return,
                };
                match handshake {
                    Ok(Ok(stream)) => Transport::Tls(Box::new(stream)),
                    Ok(Err(error)) => {
                        metrics.tls_failures.increment(1);
                        tracing::debug!(listener, %peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        metrics.timeouts.increment(1);
                        tracing::debug!(listener, %peer, "TLS handshake timed out");
                        return;
                    }
                }
            }
        };
        let stream = Stream {
            transport,
            writes: metrics.socket_writes.clone(),
            _permit: permit,
        };
        // Requests being answered on this connection right now (HTTP/1: zero or one).
        let serving = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&serving);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(accepted));
            let answered = router.clone().call(request);
            let serving = Serving::start(&counter);
            async move {
                let response = answered.await;
                drop(serving);
                response
            }
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopped(&mut stop) => {
                // A request being answered is finished; a connection that is only waiting for
                // one (idle, or a stranger that never sends) is closed now.
                if serving.load(Ordering::Acquire) == 0 {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = result {
            if error.is_timeout() {
                metrics.timeouts.increment(1);
            }
            tracing::debug!(listener, %peer, %error, "connection ended with an error");
        }
    }
}

/// Counts a request as being answered for as long as it lives.
struct Serving(Arc<AtomicUsize>);

impl Serving {
    fn start(counter: &Arc<AtomicUsize>) -> Serving {
        counter.fetch_add(1, Ordering::AcqRel);
        Serving(Arc::clone(counter))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A connection's byte stream, holding its place under the caps for as long as it is open
/// (through a WebSocket upgrade too: the upgraded socket is this same value).
struct Stream {
    transport: Transport,
    /// Counts the writes that moved bytes (not `WouldBlock` polls).
    writes: metrics::Counter,
    _permit: Permit,
}

impl Stream {
    fn count(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(1..)) = written {
            self.writes.increment(1);
        }
        written
    }
}

macro_rules! delegate {
    ($this:expr, $stream:ident => $call:expr) => {
        match &mut $this.transport {
            Transport::Plain($stream) => {
                let $stream = Pin::new($stream);
                $call
            }
            Transport::Tls($stream) => {
                let $stream = Pin::new($stream.as_mut());
                $call
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), stream => stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = delegate!(this, stream => stream.poll_write(cx, buf));
        this.count(written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = delegate!(this, stream => stream.poll_write_vectored(cx, bufs));
        this.count(written)
    }

    fn is_write_vectored(&self) -> bool {
        match &self.transport {
            Transport::Plain(stream) => stream.is_write_vectored(),
            Transport::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), stream => stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), stream => stream.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_complete_responses() {
        let error = ApiError::new(429, -1003, "Too many open connections.");
        let text = String::from_utf8(refusal_bytes(&error)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(head.contains("Connection: close"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(body, r#"{"code":-1003,"msg":"Too many open connections."}"#);
    }
}
