//! The publish intake, in process: how fast each JSON parser builds a tree from the lines of a
//! publish batch (NDJSON, one `{"uid":…,"event":{…}}` item per line), and how fast the chosen one
//! goes on to typed events. This is the comparison that chose the server's parser; no server is
//! involved, so the numbers are the parser's alone.
//!
//! The decoder reads a tree rather than deserializing straight into types so that every error can
//! name its key; what differs between parsers is how fast the tree is built.

use crate::BenchError;
use serde::Serialize;
use sonic_rs::JsonValueTrait;
use std::time::{Duration, Instant};
use userstream_protocol::events::{Event, parse_tree};

/// A JSON parser building its own tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `serde_json::Value` (a `BTreeMap` per object, a `String` per key and string).
    SerdeJson,
    /// `sonic_rs::Value` (SIMD; one arena per document). The server's choice.
    SonicRs,
    /// `simd_json::BorrowedValue` (SIMD; parses in place, strings borrowed from the input).
    SimdJson,
}

impl Parser {
    pub const ALL: [Parser; 3] = [Parser::SerdeJson, Parser::SonicRs, Parser::SimdJson];

    pub fn name(self) -> &'static str {
        match self {
            Parser::SerdeJson => "serde_json",
            Parser::SonicRs => "sonic-rs",
            Parser::SimdJson => "simd-json",
        }
    }

    /// Builds and drops one line's tree; `scratch` is the copy a parser that writes into its
    /// input needs.
    fn tree(self, line: &[u8], scratch: &mut Vec<u8>) -> Result<(), BenchError> {
        match self {
            Parser::SerdeJson => {
                std::hint::black_box(serde_json::from_slice::<serde_json::Value>(line)?);
            }
            Parser::SonicRs => {
                let tree = sonic_rs::from_slice::<sonic_rs::Value>(line);
                std::hint::black_box(tree.map_err(|error| BenchError(error.to_string()))?);
            }
            Parser::SimdJson => {
                scratch.clear();
                scratch.extend_from_slice(line);
                let tree = simd_json::to_borrowed_value(scratch);
                std::hint::black_box(tree.map_err(|error| BenchError(error.to_string()))?);
            }
        }
        Ok(())
    }
}

/// One parser's result.
#[derive(Debug, Serialize)]
pub struct IntakeReport {
    pub scenario: &'static str,
    pub parser: &'static str,
    pub events: u64,
    /// Nanoseconds per item to build the tree.
    pub tree_ns_per_event: f64,
    /// Nanoseconds per item to build the tree and decode the typed event (the server's path;
    /// only for the parser the decoder reads).
    pub decoded_ns_per_event: Option<f64>,
}

/// A batch of `items` lines cycling through the event types the stream carries, the same
/// shapes and sizes a venue publishes (the fan-out benchmark publishes only the first kind).
pub fn sample_batch(items: usize) -> Vec<u8> {
    const EVENTS: [&str; 4] = [
        r#"{"e":"balanceUpdate","a":"BTC","d":"1732450000123456","T":0}"#,
        r#"{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"},{"a":"USDT","f":"10580.00000000","l":"70.00000000"}]}"#,
        r#"{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}"#,
        r#"{"e":"USER_LIABILITY_CHANGE","E":1701949801133,"a":"BTC","t":"BORROW","p":"0.00000100","i":"0.00000000"}"#,
    ];
    let mut batch = Vec::new();
    for index in 0..items {
        let event = EVENTS[index % EVENTS.len()];
        batch.extend_from_slice(format!(r#"{{"uid":{},"event":{event}}}"#, index + 1).as_bytes());
        batch.push(b'\n');
    }
    batch
}

/// Runs `parser` over `batch` again and again for about `duration`.
pub fn measure(
    parser: Parser,
    batch: &[u8],
    duration: Duration,
) -> Result<IntakeReport, BenchError> {
    let lines: Vec<&[u8]> = batch
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    let mut scratch = Vec::new();
    let (mut events, mut tree_time, mut decoded_time) = (0u64, Duration::ZERO, Duration::ZERO);
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        let started = Instant::now();
        for line in &lines {
            parser.tree(line, &mut scratch)?;
        }
        tree_time += started.elapsed();
        if parser == Parser::SonicRs {
            let started = Instant::now();
            for line in &lines {
                std::hint::black_box(decode(line)?);
            }
            decoded_time += started.elapsed();
        }
        events += lines.len() as u64;
    }
    let per_event = |time: Duration| time.as_nanos() as f64 / events.max(1) as f64;
    Ok(IntakeReport {
        scenario: "intake",
        parser: parser.name(),
        events,
        tree_ns_per_event: per_event(tree_time),
        decoded_ns_per_event: (parser == Parser::SonicRs).then(|| per_event(decoded_time)),
    })
}

/// One line the way the server's publish handler reads it (depth check, tree, typed event).
fn decode(line: &[u8]) -> Result<Event, BenchError> {
    let item = parse_tree(line).map_err(BenchError)?;
    let event = item
        .get("event")
        .ok_or_else(|| BenchError("an item without an event".into()))?;
    Event::parse_published(event, 0).map_err(|error| BenchError(error.to_string()))
}
