//! The benchmark harness: a load generator and the peers userstream is measured against.
//!
//! Every server runs in its own process ([`process`]) so its memory and CPU are its own; the
//! generator ([`scenarios`]) drives each through the same steps with the same connection
//! counts, message sizes and rates ([`peer`]), spreading connections over several loopback
//! source addresses ([`net`]). The floor peer ([`floor`]) is a fan-out server with no protocol
//! logic on the same WebSocket stack.

pub mod floor;
pub mod intake;
pub mod latency;
pub mod net;
pub mod peer;
pub mod process;
pub mod publish_stream;
pub mod pusher;
pub mod raw_post;
pub mod scenarios;
pub mod soak;
pub mod storm;

/// A bench step that failed, in words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

macro_rules! bench_error_from {
    ($($source:ty),+) => {
        $(impl From<$source> for BenchError {
            fn from(error: $source) -> BenchError {
                BenchError(error.to_string())
            }
        })+
    };
}

bench_error_from!(
    std::io::Error,
    reqwest::Error,
    serde_json::Error,
    tokio_tungstenite::tungstenite::Error
);
