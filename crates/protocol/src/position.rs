//! Stream positions and resume: our extension, for connections that ask for it with
//! `streamPositions=true` (docs/protocol.md, "Stream positions and resume").
//!
//! Every event of an account stream has a position: the epoch of the history it belongs to and
//! a sequence number. Sequence numbers rise strictly within an account stream but are not
//! contiguous (one counter serves every account), so a client compares positions and never
//! counts them. A client that comes back names the last position it saw, and the server replays
//! what followed it, or says why it cannot.

use serde::{Deserialize, Serialize};

/// Longest epoch accepted in a resume point.
pub const MAX_EPOCH_LEN: usize = 64;

/// The connection URL parameter that asks for positions and resume (`streamPositions=true`).
pub const STREAM_POSITIONS: &str = "streamPositions";

/// The response header in which a userstream server lists its extensions, on every successful
/// answer of `POST /sapi/v1/userListenToken` (Binance never sends it). Its value is a
/// comma-separated list of names; [`STREAM_POSITIONS`] is the only one so far.
pub const EXTENSIONS_HEADER: &str = "x-userstream-extensions";

/// Whether an [`EXTENSIONS_HEADER`] value lists [`STREAM_POSITIONS`] (names compare without
/// regard to case or surrounding spaces).
pub fn advertises_stream_positions(header: &str) -> bool {
    header
        .split(',')
        .any(|name| name.trim().eq_ignore_ascii_case(STREAM_POSITIONS))
}

/// Where an event sits in its account's stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamPosition {
    /// Which history the sequence counts in: a server restart (embedded mode) starts a new one.
    pub epoch: String,
    pub sequence: u64,
}

impl StreamPosition {
    /// Whether `self` comes after `other` in the same stream (`None`: different epochs, so the
    /// two cannot be compared).
    pub fn is_after(&self, other: &StreamPosition) -> Option<bool> {
        (self.epoch == other.epoch).then_some(self.sequence > other.sequence)
    }

    /// Parses a client's resume point: an object with a short epoch and a sequence number.
    pub fn from_param(value: &serde_json::Value) -> Option<StreamPosition> {
        let position: StreamPosition = serde_json::from_value(value.clone()).ok()?;
        let fits = !position.epoch.is_empty()
            && position.epoch.len() <= MAX_EPOCH_LEN
            && position
                .epoch
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        fits.then_some(position)
    }
}

/// What follows an event object in an opted-in frame: `,"position":{"epoch":…,"sequence":…}`
/// (the frame's closing brace comes after it). Borrowed, so a server can write it for every
/// event without copying its epoch.
pub fn write_frame_tail(epoch: &str, sequence: u64, out: &mut Vec<u8>) {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        epoch: &'a str,
        sequence: u64,
    }
    out.extend_from_slice(b",\"position\":");
    // A struct of a string and an integer always serialises.
    let _ = serde_json::to_writer(&mut *out, &Borrowed { epoch, sequence });
}

/// Why a resume could not replay everything after the client's point. The subscription then
/// streams live from now, and the client knows it has a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ResumeFailure {
    /// This server keeps no history.
    HistoryDisabled,
    /// The point belongs to another epoch (the server restarted, or the history was reset).
    EpochChanged,
    /// Events after the point have already left the history (too old, or pushed out by newer
    /// ones).
    HistoryExpired,
    /// The point is later than anything this stream has had.
    PositionAhead,
    /// The history could not be read (a cluster's store is unreachable).
    HistoryUnavailable,
}

impl ResumeFailure {
    pub fn message(self) -> &'static str {
        match self {
            ResumeFailure::HistoryDisabled => "This server keeps no event history.",
            ResumeFailure::EpochChanged => {
                "The resume point is from another epoch of the event history."
            }
            ResumeFailure::HistoryExpired => {
                "Events after the resume point are no longer in the history."
            }
            ResumeFailure::PositionAhead => {
                "The resume point is later than the account stream's current position."
            }
            ResumeFailure::HistoryUnavailable => "The event history could not be read.",
        }
    }
}

/// What a resume came to, in the subscribe result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ResumeOutcome {
    /// Every event after the point followed the response, this many of them, before any live
    /// one.
    Replayed { events: u64 },
    /// Nothing was replayed; live events follow.
    Failed { reason: ResumeFailure, msg: String },
}

impl ResumeOutcome {
    pub fn failed(reason: ResumeFailure) -> ResumeOutcome {
        ResumeOutcome::Failed {
            reason,
            msg: reason.message().to_owned(),
        }
    }
}

/// The subscribe result on an opted-in connection: Binance's two fields, then the account
/// stream's current position (the last event before anything that follows the response) and,
/// when one was asked for, the resume's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionedSubscription {
    #[serde(flatten)]
    pub info: crate::ws::SubscriptionInfo,
    pub position: StreamPosition,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resume: Option<ResumeOutcome>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::SubscriptionInfo;
    use serde_json::json;

    #[test]
    fn resume_points_are_checked() {
        let parse = |value| StreamPosition::from_param(&value);
        assert_eq!(
            parse(json!({"epoch": "a1-b_2", "sequence": 7})),
            Some(StreamPosition {
                epoch: "a1-b_2".into(),
                sequence: 7
            })
        );
        for bad in [
            json!({"epoch": "", "sequence": 7}),
            json!({"epoch": "x y", "sequence": 7}),
            json!({"epoch": "x".repeat(65), "sequence": 7}),
            json!({"epoch": "x", "sequence": -1}),
            json!({"epoch": "x", "sequence": 1.5}),
            json!({"epoch": "x"}),
            json!("x:7"),
            json!(null),
        ] {
            assert_eq!(parse(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn wire_shapes() {
        let position = StreamPosition {
            epoch: "e1".into(),
            sequence: 42,
        };
        let mut tail = Vec::new();
        write_frame_tail(&position.epoch, position.sequence, &mut tail);
        assert_eq!(tail, br#","position":{"epoch":"e1","sequence":42}"#);
        let subscribed = PositionedSubscription {
            info: SubscriptionInfo {
                subscription_id: 0,
                expiration_time: 1_749_094_553_955_907,
            },
            position: position.clone(),
            resume: Some(ResumeOutcome::failed(ResumeFailure::HistoryExpired)),
        };
        let text = serde_json::to_string(&subscribed).unwrap();
        assert_eq!(
            text,
            r#"{"subscriptionId":0,"expirationTime":1749094553955907,"position":{"epoch":"e1","sequence":42},"resume":{"status":"FAILED","reason":"HISTORY_EXPIRED","msg":"Events after the resume point are no longer in the history."}}"#
        );
        assert_eq!(
            serde_json::from_str::<PositionedSubscription>(&text).unwrap(),
            subscribed
        );
        let replayed = serde_json::to_string(&ResumeOutcome::Replayed { events: 3 }).unwrap();
        assert_eq!(replayed, r#"{"status":"REPLAYED","events":3}"#);
    }

    #[test]
    fn the_extensions_header_is_a_list() {
        assert!(advertises_stream_positions("streamPositions"));
        assert!(advertises_stream_positions("other, streampositions "));
        assert!(!advertises_stream_positions(""));
        assert!(!advertises_stream_positions("streamPositionsX"));
    }

    #[test]
    fn positions_compare_within_an_epoch_only() {
        let at = |epoch: &str, sequence| StreamPosition {
            epoch: epoch.into(),
            sequence,
        };
        assert_eq!(at("a", 5).is_after(&at("a", 4)), Some(true));
        assert_eq!(at("a", 4).is_after(&at("a", 4)), Some(false));
        assert_eq!(at("b", 5).is_after(&at("a", 4)), None);
    }
}
