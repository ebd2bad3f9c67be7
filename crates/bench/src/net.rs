//! Opening many client sockets from one host: connections are spread over several loopback
//! source addresses, since one (source, destination) pair has only ~28k ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

/// Connections per source address before moving to the next one. Small: binding a source
/// address with port 0 searches that address's ports, which slows as it fills up.
pub const PER_SOURCE: usize = 1_000;

/// The source address of connection `index`: 127.0.0.2 and up (127.0.0.1 is left to the
/// servers' own clients). Each process starts at its own address, so a run does not meet the
/// previous run's sockets still in TIME_WAIT.
pub fn source_for(index: usize) -> IpAddr {
    let base = std::process::id() as usize % 64 * 3;
    let host = 2 + (base + index / PER_SOURCE) % 250;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, host as u8))
}

/// A bench WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// Connects a WebSocket to `url` (whose host is `server`) from `source`, with small buffers.
pub async fn connect_ws(source: IpAddr, server: SocketAddr, url: &str) -> std::io::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    // A port left in TIME_WAIT by an earlier connection may be bound again.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 4096;
    config.write_buffer_size = 0;
    let (ws, _) = client_async_with_config(url, stream, Some(config))
        .await
        .map_err(std::io::Error::other)?;
    Ok(ws)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_micros() as i64)
        .unwrap_or(0)
}

/// The timestamp a bench event carries in its `"d":"<µs>"` field.
pub fn embedded_timestamp(frame: &[u8]) -> Option<i64> {
    number_after(frame, b"\"d\":\"")
}

/// The same, inside a JSON string (Pusher carries the event as an escaped `data` string).
pub fn escaped_timestamp(frame: &[u8]) -> Option<i64> {
    number_after(frame, br#"\"d\":\""#)
}

/// The decimal digits right after the first `key` in `frame`.
fn number_after(frame: &[u8], key: &[u8]) -> Option<i64> {
    let start = frame.windows(key.len()).position(|window| window == key)? + key.len();
    let digits = &frame[start..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_found() {
        let frame = br#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1,"a":"BTC","d":"1732443600123456","T":0}}"#;
        assert_eq!(embedded_timestamp(frame), Some(1_732_443_600_123_456));
        assert_eq!(embedded_timestamp(b"{}"), None);
        let pusher = br#"{"event":"e","data":"{\"d\":\"1732443600123456\",\"T\":0}"}"#;
        assert_eq!(escaped_timestamp(pusher), Some(1_732_443_600_123_456));
    }

    #[test]
    fn sources_rotate() {
        let first = source_for(0);
        assert_eq!(source_for(PER_SOURCE - 1), first);
        assert_ne!(source_for(PER_SOURCE), first);
        assert!(first.to_string().starts_with("127.0.0."));
    }
}
