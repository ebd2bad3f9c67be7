//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): private pieces the fuzzer
//! needs, and nothing else. Not part of the API.

use crate::token::KeyRing;

/// The parameters `POST /sapi/v1/userListenToken` accepts, as its handler passes them to
/// [`crate::rest_params::Params::parse`].
pub const LISTEN_TOKEN_PARAMS: &[&str] = crate::rest_params::LISTEN_TOKEN_PARAMS;

/// Seals an arbitrary plaintext as a listen token under `ring`'s active key, so the fuzzer
/// reaches the payload checks that authentication otherwise keeps it from.
pub fn seal_token_plaintext(ring: &KeyRing, plaintext: &[u8]) -> String {
    ring.seal(plaintext)
}
