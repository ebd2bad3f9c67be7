//! Publishing over kept-alive HTTP/1.1 sockets written and read by the publishing task itself:
//! the counterpart of nats-server's publisher, which writes its protocol on a raw TCP socket.
//! A client library (reqwest, hyper's client) hands each request to a connection task first,
//! a hop between the latency stamp and the first byte on the wire that only one peer would pay.

use crate::BenchError;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most headers an answer may carry.
const MAX_HEADERS: usize = 32;

/// POSTs to one server, over as many kept-alive sockets as there are requests in flight.
pub struct RawPost {
    addr: SocketAddr,
    idle: parking_lot::Mutex<Vec<Conn>>,
}

/// An answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
}

impl RawPost {
    pub fn new(addr: SocketAddr) -> RawPost {
        RawPost {
            addr,
            idle: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// POSTs `body` to `path` and reads the whole answer.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Answer, BenchError> {
        let idle = self.idle.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                Conn {
                    stream,
                    buf: Vec::with_capacity(1024),
                }
            }
        };
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        conn.stream.write_all(&request).await?;
        let (answer, keep_alive) = conn.read_answer().await?;
        if keep_alive {
            self.idle.lock().push(conn);
        }
        Ok(answer)
    }
}

impl Conn {
    /// Reads one answer with a `Content-Length`; whether the socket may be used again.
    async fn read_answer(&mut self) -> Result<(Answer, bool), BenchError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            let parsed = response
                .parse(&self.buf)
                .map_err(|error| BenchError(format!("unreadable HTTP answer: {error}")))?;
            if let httparse::Status::Complete(head_len) = parsed {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|header| header.name.eq_ignore_ascii_case(name))
                        .map(|header| String::from_utf8_lossy(header.value).into_owned())
                };
                let length: usize = header("content-length")
                    .and_then(|value| value.trim().parse().ok())
                    .ok_or_else(|| BenchError("an HTTP answer without Content-Length".into()))?;
                let keep_alive =
                    !header("connection").is_some_and(|value| value.eq_ignore_ascii_case("close"));
                while self.buf.len() < head_len + length {
                    self.fill().await?;
                }
                let body = self.buf[head_len..head_len + length].to_vec();
                self.buf.drain(..head_len + length);
                return Ok((Answer { status, body }, keep_alive));
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), BenchError> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(BenchError("the server closed the publishing socket".into()));
        }
        self.buf.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}
