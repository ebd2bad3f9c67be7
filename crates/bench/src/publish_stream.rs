//! Publishing to userstream over its kept-open connection (`/admin/v1/events/stream`): one
//! WebSocket, written by whichever publishing task holds it, each batch one text message, with
//! answers only for refusals. The same shape as the harness's nats-server publisher (one TCP
//! stream, `verbose:false`), so the two intakes are compared like for like.

use crate::BenchError;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

pub struct StreamPublisher {
    admin: SocketAddr,
    sink: Mutex<Option<Sink>>,
    /// Messages the server refused (each is also printed to stderr).
    refused: Arc<AtomicU64>,
}

impl StreamPublisher {
    pub fn new(admin: SocketAddr) -> StreamPublisher {
        StreamPublisher {
            admin,
            sink: Mutex::new(None),
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends one publish body, opening the connection first if need be.
    pub async fn publish(&self, body: String) -> Result<(), BenchError> {
        let mut guard = self.sink.lock().await;
        let sink = match guard.as_mut() {
            Some(sink) => sink,
            None => guard.insert(self.open().await?),
        };
        if let Err(error) = sink.send(Message::text(body)).await {
            // The next batch opens a new connection.
            *guard = None;
            return Err(error.into());
        }
        Ok(())
    }

    /// Messages refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    async fn open(&self) -> Result<Sink, BenchError> {
        let stream = TcpStream::connect(self.admin).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}/admin/v1/events/stream", self.admin);
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        let (sink, mut answers) = ws.split();
        let refused = Arc::clone(&self.refused);
        tokio::spawn(async move {
            while let Some(Ok(message)) = answers.next().await {
                if let Message::Text(text) = message {
                    refused.fetch_add(1, Ordering::Relaxed);
                    eprintln!("publish refused: {text}");
                }
            }
        });
        Ok(sink)
    }
}
