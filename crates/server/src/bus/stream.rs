//! The cluster's event history: a JetStream stream over every account's event subject.
//!
//! Publishers put events on `userstream.v1.events.<account>` as before; the stream stores them
//! and republishes each one on `userstream.v1.live.<account>` with its stream sequence and the
//! sequence of the previous message on the same subject (`Nats-Sequence`,
//! `Nats-Last-Sequence`). Nodes listen on the live subjects, so every node sees every event with
//! the one sequence the stream's leader gave it: positions are assigned in one place. A node
//! that sees a message whose predecessor it never got (an outage, a dropped message) fetches
//! what it missed from the stream, and a resume on any node reads the stream.
//!
//! Positions: an event's sequence is its message's stream sequence times 2^16 plus its index
//! in the message, so a message may carry up to 65,536 events and positions stay in stream
//! order.

use super::BusError;
use crate::config::{Config, HistoryConfig};
use async_nats::Client;
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// Every event subject starts with this; the version lets a future payload live beside this one.
pub(super) const SUBJECT_PREFIX: &str = "userstream.v1.events";

/// Where the stream republishes what it stored, for the nodes.
pub(super) const LIVE_PREFIX: &str = "userstream.v1.live";

/// Events per message a position can tell apart.
pub(super) const EVENTS_PER_MESSAGE: u64 = 1 << 16;

/// The headers the stream republishes a message with.
pub(super) const SEQUENCE_HEADER: &str = "Nats-Sequence";
pub(super) const PREVIOUS_HEADER: &str = "Nats-Last-Sequence";

/// How long a publish waits for the stream to store it.
pub(super) const STORE_WAIT: Duration = Duration::from_secs(5);

/// The position of event `index` of the message at stream sequence `sequence`.
pub(super) fn position(sequence: u64, index: usize) -> u64 {
    sequence
        .saturating_mul(EVENTS_PER_MESSAGE)
        .saturating_add(index as u64)
}

/// The position just after every event of the message at `sequence`.
pub(super) fn end_of(sequence: u64) -> u64 {
    position(sequence, (EVENTS_PER_MESSAGE - 1) as usize)
}

/// The message a position belongs to.
pub(super) fn message_of(position: u64) -> u64 {
    position / EVENTS_PER_MESSAGE
}

/// The stream, and the epoch its positions count in.
#[derive(Clone)]
pub struct EventStream {
    pub(super) stream: stream::Stream,
    pub(super) context: jetstream::Context,
    /// The stream's creation time, in hex nanoseconds: the same on every node, and new when the
    /// stream is made anew (its sequences start again).
    pub(super) epoch: String,
}

impl EventStream {
    /// Opens the stream, making it if it does not exist yet.
    pub async fn open(client: Client, config: &Config) -> Result<EventStream, BusError> {
        let context = jetstream::new(client);
        let stream = context
            .get_or_create_stream(stream_config(
                &config.nats.events_stream,
                &config.history,
                config.nats.kv_replicas,
            ))
            .await
            .map_err(|error| {
                BusError::Unavailable(format!(
                    "cannot open the event stream '{}': {error}",
                    config.nats.events_stream
                ))
            })?;
        let created = stream.cached_info().created;
        Ok(EventStream {
            stream,
            context,
            epoch: format!("{:x}", created.unix_timestamp_nanos()),
        })
    }

    /// The last sequence the stream has given out, and the first it still holds.
    pub(super) async fn bounds(&self) -> Result<(u64, u64), BusError> {
        let mut stream = self.stream.clone();
        let info = stream.info().await.map_err(unavailable)?;
        Ok((info.state.last_sequence, info.state.first_sequence))
    }

    /// The messages on `subject` from stream sequence `from` up to `to`, oldest first.
    pub(super) async fn read(
        &self,
        subject: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<jetstream::message::StreamMessage>, BusError> {
        let mut messages = Vec::new();
        let mut next = from;
        while next <= to {
            match self
                .stream
                .direct_get_next_for_subject(subject, Some(next))
                .await
            {
                Ok(message) if message.sequence <= to => {
                    next = message.sequence + 1;
                    messages.push(message);
                }
                Ok(_) => break,
                Err(error) if error.kind() == stream::DirectGetErrorKind::NotFound => break,
                Err(error) => return Err(unavailable(error)),
            }
        }
        Ok(messages)
    }
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

/// The stream: every event subject, limited by the history's age and bytes, republished for
/// the nodes. Its oldest messages go first, so everything from its first sequence on is still
/// there (a per-subject limit would punch holes that a resume could not see).
fn stream_config(name: &str, history: &HistoryConfig, replicas: usize) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        description: Some("userstream: account events, for resume and catch-up".into()),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        republish: Some(stream::Republish {
            source: format!("{SUBJECT_PREFIX}.>"),
            destination: format!("{LIVE_PREFIX}.>"),
            headers_only: false,
        }),
        max_age: Duration::from_millis(history.max_age_ms),
        max_bytes: i64::try_from(history.max_bytes).unwrap_or(i64::MAX),
        storage: stream::StorageType::File,
        num_replicas: replicas.max(1),
        discard: stream::DiscardPolicy::Old,
        allow_direct: true,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_messages_then_events() {
        assert!(position(7, 0) > end_of(6));
        assert!(position(7, 1) > position(7, 0));
        assert_eq!(message_of(position(7, 3)), 7);
        assert_eq!(message_of(end_of(7)), 7);
    }
}
