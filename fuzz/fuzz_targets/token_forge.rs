//! The listen-token decoder, structured: mint real claims and then change the token, or seal an
//! arbitrary plaintext under the ring's key so the payload checks behind authentication are
//! reached (random bytes never get past AES-GCM).
//!
//! Checks:
//! - minted claims open to themselves;
//! - any change to a minted token, in its text or its bytes, is refused, with the error its
//!   layout predicts (version, key id, authentication, or malformed);
//! - a sealed plaintext opens exactly when an independent reading of the documented layout says
//!   it is well-formed, and to the claims that reading gives.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use userstream_fuzz::{ACTIVE_KID, OLD_KID, key_ring};
use userstream_protocol::account::{MAX_SYMBOL_LEN, is_valid_symbol};
use userstream_protocol::{Account, Scope};
use userstream_server::fuzzing::seal_token_plaintext;
use userstream_server::token::{TokenClaims, TokenError};

#[derive(Arbitrary, Debug)]
enum Input {
    Mint {
        uid: u64,
        api_key_id: u64,
        expires_at_us: i64,
        symbol: Option<String>,
        changes: Vec<Change>,
        on_bytes: bool,
    },
    Seal(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Change {
    Flip { at: u16, mask: u8 },
    Truncate(u16),
    Insert { at: u16, byte: u8 },
    Remove(u16),
    Append(Vec<u8>),
}

/// version (1) + kid (4) + nonce (12).
const PREFIX_LEN: usize = 17;
/// uid + api key id + expiry + scope tag.
const FIXED_PLAINTEXT_LEN: usize = 25;
/// The AES-GCM tag.
const TAG_LEN: usize = 16;
/// The longest token there is: an isolated account with a 20-character symbol. Its base64 is
/// 104 characters; anything longer is refused before it is decoded.
const MAX_TOKEN_BYTES: usize = PREFIX_LEN + FIXED_PLAINTEXT_LEN + MAX_SYMBOL_LEN + TAG_LEN;

fuzz_target!(|input: Input| match input {
    Input::Mint {
        uid,
        api_key_id,
        expires_at_us,
        symbol,
        changes,
        on_bytes,
    } => minted(uid, api_key_id, expires_at_us, symbol, &changes, on_bytes),
    Input::Seal(plaintext) => sealed(&plaintext),
});

fn minted(
    uid: u64,
    api_key_id: u64,
    expires_at_us: i64,
    symbol: Option<String>,
    changes: &[Change],
    on_bytes: bool,
) {
    let scope = match symbol {
        None => Scope::Cross,
        Some(raw) => {
            let symbol: String = raw
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_uppercase())
                .take(MAX_SYMBOL_LEN)
                .collect();
            if symbol.is_empty() {
                Scope::Cross
            } else {
                Scope::Isolated(symbol)
            }
        }
    };
    let claims = TokenClaims {
        account: Account { uid, scope },
        api_key_id,
        expires_at_us,
    };
    let ring = key_ring();
    let token = ring.mint(&claims);
    assert_eq!(ring.open(&token), Ok(claims));
    let Ok(original) = STANDARD.decode(&token) else {
        panic!("minted a token that is not base64");
    };
    if on_bytes {
        let mut bytes = original.clone();
        for change in changes {
            apply(change, &mut bytes);
        }
        if bytes == original {
            return;
        }
        let result = ring.open(&STANDARD.encode(&bytes));
        // Checked in this order: length, version, key id, then authentication.
        let expected = if bytes.len() < PREFIX_LEN || bytes.len() > MAX_TOKEN_BYTES {
            TokenError::Malformed
        } else if bytes[0] != 1 {
            TokenError::UnsupportedVersion(bytes[0])
        } else {
            let kid = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            if kid == ACTIVE_KID || kid == OLD_KID {
                TokenError::Forged
            } else {
                TokenError::UnknownKid(kid)
            }
        };
        assert_eq!(result, Err(expected), "changed token bytes");
    } else {
        let mut text = token.clone().into_bytes();
        for change in changes {
            apply(change, &mut text);
        }
        let text = String::from_utf8_lossy(&text);
        if text == token {
            return;
        }
        assert!(
            ring.open(&text).is_err(),
            "changed token text {text:?} opened"
        );
    }
}

fn apply(change: &Change, bytes: &mut Vec<u8>) {
    let at = |i: u16, len: usize| usize::from(i) % len.max(1);
    match change {
        Change::Flip { at: i, mask } if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes[i] ^= mask;
        }
        Change::Truncate(len) => bytes.truncate(usize::from(*len)),
        Change::Insert { at: i, byte } => {
            let i = at(*i, bytes.len() + 1);
            bytes.insert(i, *byte);
        }
        Change::Remove(i) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes.remove(i);
        }
        Change::Append(tail) => bytes.extend_from_slice(tail),
        _ => {}
    }
}

fn sealed(plaintext: &[u8]) {
    let ring = key_ring();
    let result = ring.open(&seal_token_plaintext(ring, plaintext));
    if PREFIX_LEN + plaintext.len() + TAG_LEN > MAX_TOKEN_BYTES {
        assert_eq!(result, Err(TokenError::Malformed));
        return;
    }
    assert_eq!(result, read_layout(plaintext).ok_or(TokenError::BadPayload));
}

/// The documented plaintext layout, read independently of the server's code:
/// uid (u64 BE) | api_key_id (u64 BE) | expires_at_us (i64 BE) | scope (0 cross, 1 isolated)
/// | symbol (isolated only: the rest, 1..=20 upper-case ASCII letters or digits).
fn read_layout(plaintext: &[u8]) -> Option<TokenClaims> {
    if plaintext.len() < FIXED_PLAINTEXT_LEN {
        return None;
    }
    let word = |i: usize| {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&plaintext[i * 8..i * 8 + 8]);
        raw
    };
    let rest = &plaintext[FIXED_PLAINTEXT_LEN..];
    let scope = match plaintext[24] {
        0 if rest.is_empty() => Scope::Cross,
        1 => {
            let symbol = std::str::from_utf8(rest).ok()?;
            if !is_valid_symbol(symbol) {
                return None;
            }
            Scope::Isolated(symbol.to_owned())
        }
        _ => return None,
    };
    Some(TokenClaims {
        account: Account {
            uid: u64::from_be_bytes(word(0)),
            scope,
        },
        api_key_id: u64::from_be_bytes(word(1)),
        expires_at_us: i64::from_be_bytes(word(2)),
    })
}
