//! What the fuzz targets share: fixed keys and clocks, and the checks several targets make.
//!
//! Each target in `fuzz_targets/` feeds one parser of untrusted bytes and asserts what it can
//! about the answer (round trips through the matching encoder, error codes from the documented
//! set), so a wrong answer fails as loudly as a panic.

use std::sync::LazyLock;

use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;
use userstream_server::token::{KeyRing, SigningKey};

/// The HMAC secret every signed REST request of the fuzzer is checked against.
pub const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// "Now" for parsers that take the time, in milliseconds (2025-06-05) and microseconds.
pub const NOW_MS: i64 = 1_749_094_553_955;
pub const NOW_US: i64 = NOW_MS * 1000;

/// Key ids of [`key_ring`]: 7 signs, 3 only verifies (a key being rotated out).
pub const ACTIVE_KID: u32 = 7;
pub const OLD_KID: u32 = 3;

/// A fixed two-key ring, so minted seed tokens stay valid across runs.
pub fn key_ring() -> &'static KeyRing {
    static RING: LazyLock<KeyRing> = LazyLock::new(|| {
        let keys = vec![
            SigningKey::from_bytes(OLD_KID, [0x33; 32]),
            SigningKey::from_bytes(ACTIVE_KID, [0x77; 32]),
        ];
        match KeyRing::new(keys) {
            Ok(ring) => ring,
            Err(error) => panic!("fixed key ring: {error}"),
        }
    });
    &RING
}

/// Asserts that `event`, written as JSON with times in `unit`, reads back as the same event
/// through the lenient reader a client uses. Decimals from SBE may be longer than JSON allows
/// (extreme exponents); those are refused, never misread.
pub fn assert_json_round_trip(event: &Event, unit: TimeUnit) {
    let json = event.to_json(unit);
    match Event::from_json(&json, unit) {
        Ok(again) => assert_eq!(
            &again,
            event,
            "JSON round trip changed the event: {}",
            String::from_utf8_lossy(&json)
        ),
        Err(error) => assert!(
            error.to_string().contains("decimal is longer than"),
            "an event we wrote cannot be read back: {error}: {}",
            String::from_utf8_lossy(&json)
        ),
    }
}
