//! REST parameters with signature checking: `Params::parse` then `verify_signature`, with the
//! parameter list of `POST /sapi/v1/userListenToken` and a fixed secret.
//!
//! Structured input: half the runs are raw (any query string, any body, any clock), half build
//! a request the way a client would, sign it correctly over the raw bytes, put `signature=…`
//! anywhere in the query or the body, and then maybe tamper with one byte. So the fuzzer reaches
//! the accepting path as well as every refusal, and the target knows the right answer:
//! - a correctly signed request whose parameters parsed as built is accepted exactly when its
//!   timestamp is inside `recvWindow` (else -1021);
//! - the same request with a byte changed outside the signature is refused with -1022;
//! - every refusal is one of the documented codes.
#![no_main]

use arbitrary::Arbitrary;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use userstream_fuzz::{NOW_MS, SECRET};
use userstream_protocol::error::codes;
use userstream_server::fuzzing::LISTEN_TOKEN_PARAMS;
use userstream_server::rest_params::{
    DEFAULT_RECV_WINDOW_MS, MAX_AHEAD_MS, Params, verify_signature,
};

#[derive(Arbitrary, Debug)]
enum Input {
    Raw {
        query: Option<String>,
        body: Vec<u8>,
        now_ms: i64,
    },
    Signed(Signed),
}

#[derive(Arbitrary, Debug)]
struct Signed {
    /// Parameters other than the timing ones, each in the query or the body.
    pairs: Vec<(Name, String, bool)>,
    timestamp_in_query: bool,
    /// The timestamp's distance from the server clock.
    skew_ms: i32,
    /// `recvWindow`, when sent, and where.
    recv_window: Option<(u16, bool)>,
    signature_in_query: bool,
    signature_position: u8,
    upper_case_hex: bool,
    /// A byte to change after signing: (position in query+body, xor mask).
    tamper: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Symbol,
    IsIsolated,
    Validity,
    /// Any name, percent-escaped or not; often unknown, so -1103.
    Other(String),
}

impl Name {
    fn text(&self) -> &str {
        match self {
            Name::Symbol => "symbol",
            Name::IsIsolated => "isIsolated",
            Name::Validity => "validity",
            Name::Other(name) => name,
        }
    }
}

/// Every code parsing or verification may answer with.
const REFUSALS: [i32; 7] = [
    codes::TOO_MANY_PARAMETERS,
    codes::UNKNOWN_PARAM,
    codes::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
    codes::ILLEGAL_CHARS,
    codes::BAD_RECV_WINDOW,
    codes::INVALID_TIMESTAMP,
    codes::INVALID_SIGNATURE,
];

fuzz_target!(|input: Input| match input {
    Input::Raw {
        query,
        body,
        now_ms,
    } => {
        let _ = check(query.as_deref(), &body, now_ms);
    }
    Input::Signed(signed) => signed_request(&signed),
});

/// Parses and verifies as the handler does; every refusal must be a documented code.
fn check(query: Option<&str>, body: &[u8], now_ms: i64) -> Result<Params, i32> {
    let params = Params::parse(query, body, LISTEN_TOKEN_PARAMS).map_err(|e| e.code)?;
    verify_signature(query, body, &params, SECRET, now_ms).map_err(|e| e.code)?;
    Ok(params)
}

fn signed_request(signed: &Signed) {
    let timestamp = NOW_MS + i64::from(signed.skew_ms);
    let mut query: Vec<String> = Vec::new();
    let mut body: Vec<String> = Vec::new();
    for (name, value, in_query) in &signed.pairs {
        let pair = format!("{}={value}", name.text());
        if *in_query { &mut query } else { &mut body }.push(pair);
    }
    let timing = format!("timestamp={timestamp}");
    if signed.timestamp_in_query {
        &mut query
    } else {
        &mut body
    }
    .push(timing);
    if let Some((window, in_query)) = signed.recv_window {
        let pair = format!("recvWindow={window}");
        if in_query { &mut query } else { &mut body }.push(pair);
    }
    let (raw_query, raw_body) = (query.join("&"), body.join("&"));
    let mut mac = match Hmac::<Sha256>::new_from_slice(SECRET) {
        Ok(mac) => mac,
        Err(error) => panic!("HMAC key: {error}"),
    };
    mac.update(raw_query.as_bytes());
    mac.update(raw_body.as_bytes());
    let mut signature = hex::encode(mac.finalize().into_bytes());
    if signed.upper_case_hex {
        signature.make_ascii_uppercase();
    }
    let target = if signed.signature_in_query {
        &mut query
    } else {
        &mut body
    };
    let at = usize::from(signed.signature_position) % (target.len() + 1);
    target.insert(at, format!("signature={signature}"));
    let (mut sent_query, mut sent_body) = (query.join("&"), body.join("&").into_bytes());

    // Only a request that parses into what was built has a known answer: arbitrary names and
    // values may add, repeat or hide parameters (a value holding `&timestamp=…`, say).
    let no_other_signature = [raw_query.as_bytes(), raw_body.as_bytes()]
        .iter()
        .all(|raw| {
            raw.split(|&b| b == b'&')
                .all(|segment| !names_signature(segment))
        });
    let window = signed
        .recv_window
        .map_or(DEFAULT_RECV_WINDOW_MS, |(w, _)| i64::from(w));
    let in_window = timestamp >= NOW_MS - window && timestamp - NOW_MS < MAX_AHEAD_MS;
    let as_built = |params: &Params| {
        params.get("timestamp") == Some(timestamp.to_string().as_str())
            && params.get("recvWindow") == signed.recv_window.map(|(w, _)| w.to_string()).as_deref()
            && params.get("signature") == Some(signature.as_str())
    };
    let known = window <= 60_000 && no_other_signature;

    let result = check(Some(&sent_query), &sent_body, NOW_MS);
    if let Ok(params) = Params::parse(Some(&sent_query), &sent_body, LISTEN_TOKEN_PARAMS)
        && known
        && as_built(&params)
    {
        let expected = if in_window {
            Ok(())
        } else {
            Err(codes::INVALID_TIMESTAMP)
        };
        assert_eq!(
            result.as_ref().map(|_| ()).map_err(|c| *c),
            expected,
            "signed request judged wrongly: {sent_query:?} | {:?}",
            String::from_utf8_lossy(&sent_body)
        );
    }
    if let Err(code) = result {
        assert!(REFUSALS.contains(&code), "undocumented code {code}");
    }

    // One byte changed after signing, outside the signature segment.
    let Some((position, mask)) = signed.tamper else {
        return;
    };
    if mask == 0 {
        return;
    }
    let total = sent_query.len() + sent_body.len();
    if total == 0 {
        return;
    }
    let position = usize::from(position) % total;
    let signature_segment = format!("signature={signature}");
    let mut query_bytes = sent_query.clone().into_bytes();
    let (bytes, at) = if position < query_bytes.len() {
        (&mut query_bytes, position)
    } else {
        (&mut sent_body, position - sent_query.len())
    };
    if let Some(start) = find(bytes, signature_segment.as_bytes())
        && (start.saturating_sub(1)..=start + signature_segment.len()).contains(&at)
    {
        return;
    }
    bytes[at] ^= mask;
    let Ok(tampered_query) = String::from_utf8(query_bytes) else {
        return;
    };
    sent_query = tampered_query;
    let result = check(Some(&sent_query), &sent_body, NOW_MS);
    if let Ok(params) = Params::parse(Some(&sent_query), &sent_body, LISTEN_TOKEN_PARAMS)
        && known
        && in_window
        && as_built(&params)
        && [sent_query.as_bytes(), &sent_body]
            .iter()
            .map(|raw| {
                raw.split(|&b| b == b'&')
                    .filter(|s| names_signature(s))
                    .count()
            })
            .sum::<usize>()
            == 1
    {
        assert_eq!(
            result.map(|_| ()),
            Err(codes::INVALID_SIGNATURE),
            "tampered request accepted: {sent_query:?} | {:?}",
            String::from_utf8_lossy(&sent_body)
        );
    }
}

/// Whether a `&`-separated segment is a `signature=…` pair once decoded.
fn names_signature(segment: &[u8]) -> bool {
    form_urlencoded::parse(segment)
        .next()
        .is_some_and(|(name, _)| name == "signature")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
