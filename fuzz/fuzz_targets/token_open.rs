//! The listen-token decoder: `KeyRing::open` on any text, with a fixed two-key ring (the seeds
//! are real tokens minted by it).
//!
//! Checks, beyond "no panic": a token that opens is canonical standard base64 of the documented
//! layout, signed by a key of the ring, and its claims are well-formed (a valid symbol for an
//! isolated account); minting those claims again gives a token that opens to the same claims.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use userstream_fuzz::{ACTIVE_KID, OLD_KID, key_ring};
use userstream_protocol::Scope;
use userstream_protocol::account::is_valid_symbol;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ring = key_ring();
    let Ok(claims) = ring.open(&text) else {
        return;
    };
    let bytes = match STANDARD.decode(text.as_bytes()) {
        Ok(bytes) => bytes,
        Err(error) => panic!("opened a token that is not standard base64: {error}"),
    };
    assert_eq!(
        STANDARD.encode(&bytes),
        text,
        "opened a non-canonical encoding"
    );
    assert_eq!(
        bytes.first(),
        Some(&1),
        "opened a token of another layout version"
    );
    let kid = bytes
        .get(1..5)
        .and_then(|kid| <[u8; 4]>::try_from(kid).ok())
        .map(u32::from_be_bytes);
    assert!(
        kid == Some(ACTIVE_KID) || kid == Some(OLD_KID),
        "opened a token of kid {kid:?}"
    );
    if let Scope::Isolated(symbol) = &claims.account.scope {
        assert!(
            is_valid_symbol(symbol),
            "opened a malformed symbol {symbol:?}"
        );
    }
    assert_eq!(ring.open(&ring.mint(&claims)), Ok(claims));
});
