//! Parameters and HMAC signatures of `POST /sapi/v1/userListenToken` (CONTRACT §1).
//!
//! Parameters may arrive in the query string, in an `application/x-www-form-urlencoded` body, or
//! split between both. The endpoint is USER_STREAM, so a signature is optional; when a client
//! sends one anyway it must be right, and it is checked over the raw bytes exactly as received,
//! because real clients sign differently (sorted bodies, insertion-ordered query strings, values
//! with `+` or percent escapes) and re-encoding would break some of them.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;
use userstream_protocol::ApiError;
use userstream_protocol::signature::hmac_sha256;

/// `recvWindow` when the client sends none, as on Binance.
pub const DEFAULT_RECV_WINDOW_MS: i64 = 5_000;
/// Largest accepted `recvWindow`; beyond it, -1131.
pub const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// A `timestamp` this far ahead of the server clock, or further, is refused (Binance's rule:
/// accept only `timestamp < serverTime + 1000`).
pub const MAX_AHEAD_MS: i64 = 1_000;

const SIGNATURE: &str = "signature";

/// The parameters `POST /sapi/v1/userListenToken` knows.
pub(crate) const LISTEN_TOKEN_PARAMS: &[&str] = &[
    "symbol",
    "isIsolated",
    "validity",
    "timestamp",
    "recvWindow",
    "signature",
];

/// Parsed, de-duplicated parameters. Query wins over body when a name appears in both; the same
/// name twice within ONE source is -1101.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// `allowed`: the names this endpoint knows; anything else → [`ApiError::unknown_param`]
    /// (-1103). Percent-decoding (and `+` as space) via `form_urlencoded`. Duplicates (-1101) are
    /// checked first, then unknown names (-1103).
    ///
    /// Names are case-sensitive, as on Binance. `allowed` must include `timestamp`, `recvWindow`
    /// and `signature` for signed requests to get through.
    pub fn parse(query: Option<&str>, body: &[u8], allowed: &[&str]) -> Result<Params, ApiError> {
        let from_query = parse_source(query.unwrap_or_default().as_bytes())?;
        let mut values = parse_source(body)?;
        // The query wins over the body.
        values.extend(from_query);
        if values.keys().any(|name| !allowed.contains(&name.as_str())) {
            return Err(ApiError::unknown_param());
        }
        Ok(Params { values })
    }

    /// The decoded value of `name`; `Some("")` when sent empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// One source's pairs, decoded; a repeated name is -1101.
fn parse_source(raw: &[u8]) -> Result<BTreeMap<String, String>, ApiError> {
    let mut values = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw) {
        if values
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return Err(ApiError::duplicate_param());
        }
    }
    Ok(values)
}

/// When a `signature` param is present, verify it: HMAC-SHA256 (hex, case-insensitive, compared
/// in constant time) over the raw bytes as received: the query string with its `signature=…`
/// pair removed, immediately followed by the body with its `signature=…` pair removed (Binance's
/// "totalParams = query string concatenated with the body"). Only that segment and one joining
/// `&` are removed; every other byte stays as sent, never re-sorted or re-encoded.
///
/// Order of checks, first failure wins:
/// 1. `timestamp` missing or not an integer → -1102;
/// 2. `recvWindow` not an integer (digits, optional leading `-`) → -1100 (it is optional, so
///    -1102's "Mandatory parameter" text would mislead); an integer outside 0..=60000 → -1131;
/// 3. `timestamp` older than `now - recvWindow` (default 5000) → -1021 outside the window;
/// 4. `timestamp` 1000 ms or more ahead of `now` → -1021 ahead;
/// 5. `signature` not 64 hex digits, or not the HMAC → -1022.
///
/// Without a `signature` param: Ok(()) (USER_STREAM needs no signature), whatever the timestamp.
pub fn verify_signature(
    query: Option<&str>,
    body: &[u8],
    params: &Params,
    secret: &[u8],
    now_ms: i64,
) -> Result<(), ApiError> {
    let Some(signature) = params.get(SIGNATURE) else {
        return Ok(());
    };
    check_timestamp(params, now_ms)?;
    let claimed = hex::decode(signature).map_err(|_| ApiError::bad_signature())?;
    let query = strip_signature(query.unwrap_or_default().as_bytes());
    let expected = hmac_sha256(secret, &[&query, &strip_signature(body)])
        .ok_or_else(ApiError::bad_signature)?;
    // `ct_eq` on slices of different lengths is false; the length is no secret.
    if bool::from(expected.as_slice().ct_eq(&claimed)) {
        Ok(())
    } else {
        Err(ApiError::bad_signature())
    }
}

/// Parses a Binance BOOLEAN (`true`/`false`, case-insensitive).
pub fn parse_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Binance's timing rule: `now - recvWindow <= timestamp < now + 1000`.
fn check_timestamp(params: &Params, now_ms: i64) -> Result<(), ApiError> {
    let timestamp = params
        .get("timestamp")
        .and_then(parse_integer)
        .ok_or_else(|| ApiError::mandatory_param("timestamp"))?;
    let recv_window = recv_window(params)?;
    if timestamp < now_ms.saturating_sub(recv_window) {
        return Err(ApiError::timestamp_outside_window());
    }
    if timestamp.saturating_sub(now_ms) >= MAX_AHEAD_MS {
        return Err(ApiError::timestamp_ahead());
    }
    Ok(())
}

fn recv_window(params: &Params) -> Result<i64, ApiError> {
    let Some(raw) = params.get("recvWindow") else {
        return Ok(DEFAULT_RECV_WINDOW_MS);
    };
    if !is_integer(raw) {
        return Err(ApiError::illegal_chars("recvWindow"));
    }
    // Too many digits for an i64 is still an integer, just out of range.
    match raw.parse::<i64>() {
        Ok(window) if (0..=MAX_RECV_WINDOW_MS).contains(&window) => Ok(window),
        _ => Err(ApiError::bad_recv_window()),
    }
}

/// An optional `-` then ASCII digits; stricter than `i64::from_str`, which also takes `+`.
fn is_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn parse_integer(raw: &str) -> Option<i64> {
    if is_integer(raw) {
        raw.parse().ok()
    } else {
        None
    }
}

/// `raw` without its `signature=…` segment and the `&` that joined it; all else byte for byte.
fn strip_signature(raw: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(raw.len());
    let mut first = true;
    for segment in raw.split(|&b| b == b'&') {
        if is_signature_segment(segment) {
            continue;
        }
        if !first {
            kept.push(b'&');
        }
        kept.extend_from_slice(segment);
        first = false;
    }
    kept
}

/// Compares the decoded name, so `%73ignature=…` is recognised just as `Params` saw it.
fn is_signature_segment(segment: &[u8]) -> bool {
    form_urlencoded::parse(segment)
        .next()
        .is_some_and(|(name, _)| name == SIGNATURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use userstream_protocol::error::codes;

    // Binance's documented HMAC example (Spot API "SIGNED request example (HMAC)").
    const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const TOTAL: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&\
        quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const TOTAL_SIGNATURE: &str =
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    const MIXED_QUERY: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
    const MIXED_BODY: &str = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const MIXED_SIGNATURE: &str =
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
    const EXAMPLE_TS: i64 = 1_499_827_319_559;
    const ALLOWED: &[&str] = &[
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "price",
        "recvWindow",
        "timestamp",
        "signature",
        "isIsolated",
        "validity",
    ];

    fn sign(message: &str) -> String {
        userstream_protocol::signature::hmac_sha256_hex(SECRET, message.as_bytes()).unwrap()
    }

    /// Parses then verifies, as the handler will.
    fn check(query: Option<&str>, body: &str, now_ms: i64) -> Result<Params, ApiError> {
        let params = Params::parse(query, body.as_bytes(), ALLOWED)?;
        verify_signature(query, body.as_bytes(), &params, SECRET, now_ms)?;
        Ok(params)
    }

    fn code(result: Result<Params, ApiError>) -> i32 {
        result.unwrap_err().code
    }

    /// A query signed as sent, with the given timing params.
    fn signed(timing: &str) -> String {
        let params = format!("symbol=BNBUSDT&{timing}");
        format!("{params}&signature={}", sign(&params))
    }

    #[test]
    fn documented_signatures() {
        assert_eq!(sign(TOTAL), TOTAL_SIGNATURE);
        assert_eq!(sign(&format!("{MIXED_QUERY}{MIXED_BODY}")), MIXED_SIGNATURE);
    }

    #[test]
    fn binance_example_in_query() {
        let query = format!("{TOTAL}&signature={TOTAL_SIGNATURE}");
        let params = check(Some(&query), "", EXAMPLE_TS + 100).unwrap();
        assert_eq!(params.get("price"), Some("0.1"));
        assert_eq!(params.get("signature"), Some(TOTAL_SIGNATURE));
    }

    #[test]
    fn binance_example_in_body() {
        let body = format!("{TOTAL}&signature={TOTAL_SIGNATURE}");
        check(None, &body, EXAMPLE_TS).unwrap();
        check(Some(""), &body, EXAMPLE_TS).unwrap();
    }

    #[test]
    fn binance_example_split_between_query_and_body() {
        let body = format!("{MIXED_BODY}&signature={MIXED_SIGNATURE}");
        check(Some(MIXED_QUERY), &body, EXAMPLE_TS).unwrap();
        // The signature may travel in the query while the rest is in the body.
        let query = format!("{MIXED_QUERY}&signature={MIXED_SIGNATURE}");
        check(Some(&query), MIXED_BODY, EXAMPLE_TS).unwrap();
    }

    #[test]
    fn signature_anywhere_in_the_source() {
        let first = format!("signature={TOTAL_SIGNATURE}&{TOTAL}");
        check(Some(&first), "", EXAMPLE_TS).unwrap();
        let middle = TOTAL.replace("&side=", &format!("&signature={TOTAL_SIGNATURE}&side="));
        check(Some(&middle), "", EXAMPLE_TS).unwrap();
        let escaped_name = format!("{TOTAL}&%73ignature={TOTAL_SIGNATURE}");
        check(Some(&escaped_name), "", EXAMPLE_TS).unwrap();
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let query = format!("{TOTAL}&signature={}", TOTAL_SIGNATURE.to_uppercase());
        check(Some(&query), "", EXAMPLE_TS).unwrap();
    }

    #[test]
    fn escaped_values_are_signed_as_sent() {
        let raw =
            format!("symbol=BNB%2BUSDT&isIsolated=TRUE+&validity=%31%30&timestamp={EXAMPLE_TS}");
        let query = format!("{raw}&signature={}", sign(&raw));
        let params = check(Some(&query), "", EXAMPLE_TS).unwrap();
        assert_eq!(params.get("symbol"), Some("BNB+USDT"));
        assert_eq!(params.get("isIsolated"), Some("TRUE "));
        assert_eq!(params.get("validity"), Some("10"));
        // A client that signed the decoded form, or a re-encoding server, would not match.
        let decoded =
            format!("symbol=BNB+USDT&isIsolated=TRUE &validity=10&timestamp={EXAMPLE_TS}");
        let query = format!("{raw}&signature={}", sign(&decoded));
        assert_eq!(
            code(check(Some(&query), "", EXAMPLE_TS)),
            codes::INVALID_SIGNATURE
        );
    }

    #[test]
    fn stray_ampersands_are_kept() {
        let raw = format!("&symbol=BNBUSDT&&timestamp={EXAMPLE_TS}&");
        let query = format!("{raw}&signature={}", sign(&raw));
        check(Some(&query), "", EXAMPLE_TS).unwrap();
    }

    #[test]
    fn bad_signatures() {
        let wrong = TOTAL_SIGNATURE.replace('c', "d");
        for signature in [
            wrong.as_str(),
            "zz",
            "",
            "c8db",
            &format!("{TOTAL_SIGNATURE}00"),
        ] {
            let query = format!("{TOTAL}&signature={signature}");
            assert_eq!(
                code(check(Some(&query), "", EXAMPLE_TS)),
                codes::INVALID_SIGNATURE,
                "{signature}"
            );
        }
        // A tampered parameter.
        let query = format!(
            "{}&signature={TOTAL_SIGNATURE}",
            TOTAL.replace("price=0.1", "price=0.2")
        );
        assert_eq!(
            code(check(Some(&query), "", EXAMPLE_TS)),
            codes::INVALID_SIGNATURE
        );
        // Another secret.
        let params = Params::parse(
            Some(&format!("{TOTAL}&signature={TOTAL_SIGNATURE}")),
            b"",
            ALLOWED,
        )
        .unwrap();
        let query = format!("{TOTAL}&signature={TOTAL_SIGNATURE}");
        let err = verify_signature(Some(&query), b"", &params, b"other", EXAMPLE_TS).unwrap_err();
        assert_eq!(err, ApiError::bad_signature());
    }

    #[test]
    fn no_signature_needs_no_timestamp() {
        check(
            Some("symbol=BNBUSDT&timestamp=garbage&recvWindow=999999"),
            "",
            0,
        )
        .unwrap();
        check(None, "", 0).unwrap();
    }

    #[test]
    fn timestamp_errors() {
        let now = EXAMPLE_TS;
        let missing = format!("symbol=X&signature={}", sign("symbol=X"));
        assert_eq!(
            check(Some(&missing), "", now).unwrap_err(),
            ApiError::mandatory_param("timestamp")
        );
        for bad in [
            "timestamp=",
            "timestamp=abc",
            "timestamp=+1",
            "timestamp=1.5",
            "timestamp=99999999999999999999",
        ] {
            assert_eq!(
                check(Some(&signed(bad)), "", now).unwrap_err(),
                ApiError::mandatory_param("timestamp")
            );
        }
    }

    #[test]
    fn recv_window_errors() {
        let ts = format!("timestamp={EXAMPLE_TS}");
        for bad in ["abc", "", "+5", "1.5", "5000ms"] {
            let query = signed(&format!("{ts}&recvWindow={bad}"));
            assert_eq!(
                check(Some(&query), "", EXAMPLE_TS).unwrap_err(),
                ApiError::illegal_chars("recvWindow")
            );
        }
        for bad in ["60001", "-1", "99999999999999999999999"] {
            let query = signed(&format!("{ts}&recvWindow={bad}"));
            assert_eq!(
                check(Some(&query), "", EXAMPLE_TS).unwrap_err(),
                ApiError::bad_recv_window()
            );
        }
        for good in ["0", "60000", "00010"] {
            check(
                Some(&signed(&format!("{ts}&recvWindow={good}"))),
                "",
                EXAMPLE_TS,
            )
            .unwrap();
        }
        // A bad recvWindow is reported before a bad signature.
        let query = format!("{ts}&recvWindow=70000&signature=00");
        assert_eq!(
            check(Some(&query), "", EXAMPLE_TS).unwrap_err(),
            ApiError::bad_recv_window()
        );
    }

    #[test]
    fn timing_window_boundaries() {
        let ts = EXAMPLE_TS;
        let default = signed(&format!("timestamp={ts}"));
        check(Some(&default), "", ts + DEFAULT_RECV_WINDOW_MS).unwrap();
        let late = check(Some(&default), "", ts + DEFAULT_RECV_WINDOW_MS + 1).unwrap_err();
        assert_eq!(late, ApiError::timestamp_outside_window());
        check(Some(&default), "", ts - (MAX_AHEAD_MS - 1)).unwrap();
        let ahead = check(Some(&default), "", ts - MAX_AHEAD_MS).unwrap_err();
        assert_eq!(ahead, ApiError::timestamp_ahead());

        let wide = signed(&format!("timestamp={ts}&recvWindow=60000"));
        check(Some(&wide), "", ts + 60_000).unwrap();
        assert_eq!(
            check(Some(&wide), "", ts + 60_001).unwrap_err(),
            ApiError::timestamp_outside_window()
        );
        let zero = signed(&format!("timestamp={ts}&recvWindow=0"));
        check(Some(&zero), "", ts).unwrap();
        assert_eq!(
            check(Some(&zero), "", ts + 1).unwrap_err().code,
            codes::INVALID_TIMESTAMP
        );

        let ancient = signed("timestamp=-5");
        assert_eq!(
            check(Some(&ancient), "", ts).unwrap_err(),
            ApiError::timestamp_outside_window()
        );
        // Timing is checked before the signature.
        let query = format!("timestamp={ts}&signature=00");
        assert_eq!(
            check(Some(&query), "", ts + 10_000).unwrap_err(),
            ApiError::timestamp_outside_window()
        );
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let query = signed(&format!("timestamp={}", i64::MAX));
        assert_eq!(
            check(Some(&query), "", i64::MIN).unwrap_err(),
            ApiError::timestamp_ahead()
        );
        let query = signed(&format!("timestamp={}", i64::MIN));
        assert_eq!(
            check(Some(&query), "", i64::MAX).unwrap_err(),
            ApiError::timestamp_outside_window()
        );
    }

    #[test]
    fn duplicates() {
        let dup = ApiError::duplicate_param();
        assert_eq!(
            Params::parse(Some("symbol=A&symbol=B"), b"", ALLOWED).unwrap_err(),
            dup
        );
        assert_eq!(
            Params::parse(Some("symbol=A&symbol=A"), b"", ALLOWED).unwrap_err(),
            dup
        );
        assert_eq!(
            Params::parse(None, b"validity=1&validity=2", ALLOWED).unwrap_err(),
            dup
        );
        assert_eq!(
            Params::parse(Some("%73ymbol=A&symbol=B"), b"", ALLOWED).unwrap_err(),
            dup
        );
        // Duplicates are reported before unknown names.
        assert_eq!(
            Params::parse(Some("bogus=1"), b"symbol=A&symbol=B", ALLOWED).unwrap_err(),
            dup
        );
        assert_eq!(
            Params::parse(Some("symbol=A&symbol=B&bogus=1"), b"", ALLOWED).unwrap_err(),
            dup
        );
    }

    #[test]
    fn query_wins_over_body() {
        let params =
            Params::parse(Some("symbol=QUERY"), b"symbol=BODY&validity=5", ALLOWED).unwrap();
        assert_eq!(params.get("symbol"), Some("QUERY"));
        assert_eq!(params.get("validity"), Some("5"));
    }

    #[test]
    fn unknown_params() {
        let unknown = ApiError::unknown_param();
        assert_eq!(
            Params::parse(Some("bogus=1"), b"", ALLOWED).unwrap_err(),
            unknown
        );
        assert_eq!(
            Params::parse(None, b"symbol=A&Symbol=B", ALLOWED).unwrap_err(),
            unknown
        );
        assert_eq!(
            Params::parse(Some("=1"), b"", ALLOWED).unwrap_err(),
            unknown
        );
        assert_eq!(
            Params::parse(Some("symbol=A"), b"", &[]).unwrap_err(),
            unknown
        );
    }

    #[test]
    fn parsing_basics() {
        let params = Params::parse(Some("symbol&validity="), b"", ALLOWED).unwrap();
        assert_eq!(params.get("symbol"), Some(""));
        assert_eq!(params.get("validity"), Some(""));
        assert_eq!(params.get("isIsolated"), None);
        assert_eq!(
            Params::parse(None, b"", ALLOWED).unwrap(),
            Params::default()
        );
        assert_eq!(
            Params::parse(Some("&&"), b"&", ALLOWED).unwrap(),
            Params::default()
        );
    }

    #[test]
    fn booleans() {
        for (text, value) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("false", false),
            ("fAlSe", false),
        ] {
            assert_eq!(parse_bool(text), Some(value));
        }
        for text in ["", "1", "0", "yes", "true ", " false", "truee"] {
            assert_eq!(parse_bool(text), None);
        }
    }

    /// Query-string-ish input that often parses, so verification runs too.
    fn paramish() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("timestamp"),
            Just("recvWindow"),
            Just("signature"),
            Just("symbol"),
            Just("%73ignature"),
            Just("bogus"),
        ];
        let pair =
            (name, "[-+%0-9a-fA-F&=]{0,70}").prop_map(|(name, value)| format!("{name}={value}"));
        proptest::collection::vec(pair, 0..5).prop_map(|pairs| pairs.join("&"))
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            query in proptest::option::of(".{0,100}"),
            body in proptest::collection::vec(any::<u8>(), 0..100),
            now in any::<i64>(),
        ) {
            if let Ok(params) = Params::parse(query.as_deref(), &body, ALLOWED) {
                let _ = verify_signature(query.as_deref(), &body, &params, SECRET, now);
            }
        }

        #[test]
        fn paramish_input_never_panics(
            query in paramish(),
            body in paramish(),
            now in any::<i64>(),
        ) {
            if let Ok(params) = Params::parse(Some(&query), body.as_bytes(), ALLOWED) {
                let _ = verify_signature(Some(&query), body.as_bytes(), &params, SECRET, now);
            }
        }

        #[test]
        fn any_split_with_signature_anywhere_verifies(
            split in 0usize..=4,
            in_query in any::<bool>(),
            position in 0usize..=4,
        ) {
            let pairs = ["symbol=BNB%2BUSDT", "isIsolated=true", "validity=1+0", "recvWindow=5000"];
            let (query, body) = pairs.split_at(split);
            let mut query: Vec<String> = query.iter().map(|p| p.to_string()).collect();
            let mut body: Vec<String> = body.iter().map(|p| p.to_string()).collect();
            body.push(format!("timestamp={EXAMPLE_TS}"));
            let total = format!("{}{}", query.join("&"), body.join("&"));
            let signature = format!("signature={}", sign(&total));
            let target = if in_query { &mut query } else { &mut body };
            let at = position.min(target.len());
            target.insert(at, signature);
            let (query, body) = (query.join("&"), body.join("&"));
            prop_assert!(check(Some(&query), &body, EXAMPLE_TS).is_ok(), "{} | {}", query, body);
        }
    }
}
