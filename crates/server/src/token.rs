//! Listen tokens: what `POST /sapi/v1/userListenToken` hands out and
//! `userDataStream.subscribe.listenToken` takes back (CONTRACT §3).
//!
//! A token is sealed with AES-256-GCM, so a client can neither read the account inside nor forge
//! one, and it carries everything needed to check it: any node holding the same [`KeyRing`]
//! verifies a token without a lookup. Expiry and revocation are deliberately *not* checked here:
//! they need the caller's injected clock and its revocation set.
//!
//! Binary layout, then standard base64 with `=` padding (Binance's tokens look the same, `+` and
//! `/` included):
//!
//! ```text
//! version (1) | kid (4, big-endian) | nonce (12) | ciphertext | GCM tag (16)
//! ```
//!
//! `version | kid` is the associated data: changing either fails authentication. The plaintext:
//!
//! ```text
//! uid (u64 BE) | api_key_id (u64 BE) | expires_at_us (i64 BE) | scope (u8: 0 cross, 1 isolated)
//!   | symbol (isolated only: the rest of the plaintext, 1..=20 ASCII bytes)
//! ```
//!
//! The symbol runs to the end instead of carrying a length byte, so minting cannot fail on any
//! input; opening insists on a well-formed symbol. The longest token is 78 bytes, 104 characters.
//!
//! Nonces are 96 random bits per token, so a key should sign far fewer than 2^32 tokens (NIST's
//! bound for random GCM nonces) before it is rotated out of the active slot.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use rand::{RngCore, TryRngCore};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use userstream_protocol::account::{MAX_SYMBOL_LEN, is_valid_symbol};
use userstream_protocol::clock::SharedClock;
use userstream_protocol::{Account, Scope};

/// Layout version; bumped if the binary layout ever changes.
const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const SCOPE_CROSS: u8 = 0;
const SCOPE_ISOLATED: u8 = 1;
/// uid + api_key_id + expires_at_us + scope tag.
const FIXED_PLAINTEXT_LEN: usize = 8 + 8 + 8 + 1;
const MAX_TOKEN_BYTES: usize =
    HEADER_LEN + NONCE_LEN + FIXED_PLAINTEXT_LEN + MAX_SYMBOL_LEN + TAG_LEN;
/// Anything longer cannot be ours: rejected before decoding so hostile input costs nothing.
const MAX_TOKEN_CHARS: usize = 4 * MAX_TOKEN_BYTES.div_ceil(3);

/// What a token asserts. Expiry is in microseconds, like the subscribe result's `expirationTime`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenClaims {
    pub account: Account,
    /// Internal id of the API key that minted the token, so revoking the key revokes its tokens.
    pub api_key_id: u64,
    pub expires_at_us: i64,
}

/// Why a token or a signing key was refused. Never echoes token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("listen token is not well-formed")]
    Malformed,
    #[error("listen token has unsupported version {0}")]
    UnsupportedVersion(u8),
    #[error("listen token names unknown signing key id {0}")]
    UnknownKid(u32),
    #[error("listen token failed authentication")]
    Forged,
    #[error("listen token payload is malformed")]
    BadPayload,
    #[error("invalid signing key string: {0}")]
    BadKeyString(&'static str),
    #[error("a key ring needs at least one signing key")]
    EmptyRing,
    #[error("signing key id {0} appears twice in the key ring")]
    DuplicateKid(u32),
}

/// One AES-256 key with its key id. The secret never appears in `Debug` output.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: u32,
    secret: [u8; KEY_LEN],
}

impl SigningKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate(kid: u32) -> SigningKey {
        let mut secret = [0u8; KEY_LEN];
        fill_random(&mut secret);
        SigningKey { kid, secret }
    }

    pub fn from_bytes(kid: u32, bytes: [u8; KEY_LEN]) -> SigningKey {
        SigningKey { kid, secret: bytes }
    }

    /// `kid:base64key`, the form used in configuration files and storage.
    pub fn to_config_string(&self) -> String {
        format!("{}:{}", self.kid, STANDARD.encode(self.secret))
    }

    /// Parses [`SigningKey::to_config_string`]'s form; surrounding whitespace (a trailing newline
    /// from a file) is ignored. Errors never quote the input, which holds a secret.
    pub fn parse_config_string(s: &str) -> Result<SigningKey, TokenError> {
        let (kid, key) = s
            .trim()
            .split_once(':')
            .ok_or(TokenError::BadKeyString("expected \"kid:base64key\""))?;
        let kid = parse_kid(kid).ok_or(TokenError::BadKeyString("kid must be a decimal u32"))?;
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| TokenError::BadKeyString("key must be standard base64"))?;
        let secret = <[u8; KEY_LEN]>::try_from(bytes)
            .map_err(|_| TokenError::BadKeyString("key must be 32 bytes"))?;
        Ok(SigningKey { kid, secret })
    }

    pub fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Digits only: `u32::from_str` would also take a leading `+`.
fn parse_kid(kid: &str) -> Option<u32> {
    if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    kid.parse().ok()
}

/// OS randomness; should the OS report a (transient) error, the thread-local CSPRNG, itself
/// seeded by the OS, takes over rather than failing a mint.
fn fill_random(buf: &mut [u8]) {
    if rand::rngs::OsRng.try_fill_bytes(buf).is_err() {
        rand::rng().fill_bytes(buf);
    }
}

/// The node's key ring while it runs. Keys from the store carry the time they start signing:
/// another node's key arrives through the store's change feed and verifies here at once, and
/// signs from its activation time on, on every node alike (rotation without downtime). A ring
/// given by configuration is the operator's and follows nothing.
pub struct LiveKeyRing {
    ring: RwLock<KeyRing>,
    /// When each store key starts signing, by kid; `None` for a configured ring.
    activations: Option<Mutex<BTreeMap<u32, i64>>>,
    clock: SharedClock,
    /// The next activation still to come (ms), `i64::MAX` when none: `current` compares the
    /// clock with it, and only then takes a lock.
    next_activation_ms: AtomicI64,
}

impl LiveKeyRing {
    /// A ring from configuration: its active key stays as chosen there.
    pub fn configured(ring: KeyRing, clock: SharedClock) -> LiveKeyRing {
        LiveKeyRing {
            ring: RwLock::new(ring),
            activations: None,
            clock,
            next_activation_ms: AtomicI64::new(i64::MAX),
        }
    }

    /// A ring from the store, with each key's activation time (ms) by kid.
    pub fn following_store(
        ring: KeyRing,
        activations: impl IntoIterator<Item = (u32, i64)>,
        clock: SharedClock,
    ) -> LiveKeyRing {
        let live = LiveKeyRing {
            ring: RwLock::new(ring),
            activations: Some(Mutex::new(activations.into_iter().collect())),
            clock,
            next_activation_ms: AtomicI64::new(i64::MAX),
        };
        live.choose_signing_key();
        live
    }

    /// The ring as it is now, held for as long as the guard lives (a mint or a check: the lock
    /// is taken for writing only when a key is learnt or starts signing).
    pub fn current(&self) -> RwLockReadGuard<'_, KeyRing> {
        let next = self.next_activation_ms.load(Ordering::Acquire);
        // No activation to come (the usual case) costs no clock read.
        if next != i64::MAX && self.clock.now_ms() >= next {
            self.choose_signing_key();
        }
        self.ring.read()
    }

    /// Learns a key the store was given: it verifies from now on, and signs from its
    /// activation time.
    pub fn learn(&self, key: &str, active_from_ms: i64) -> Result<(), TokenError> {
        let Some(activations) = &self.activations else {
            return Ok(());
        };
        let key = SigningKey::parse_config_string(key)?;
        activations.lock().entry(key.kid).or_insert(active_from_ms);
        {
            let mut ring = self.ring.write();
            *ring = ring.with_key(key);
        }
        self.choose_signing_key();
        Ok(())
    }

    /// The kid that signs at `now`: of the keys already active, the latest to become so (the
    /// highest kid among equals); before any is, the first to come.
    fn choose_signing_key(&self) {
        let Some(activations) = &self.activations else {
            return;
        };
        let now = self.clock.now_ms();
        let activations = activations.lock();
        let active = activations
            .iter()
            .filter(|(_, from)| **from <= now)
            .max_by_key(|(kid, from)| (**from, **kid))
            .or_else(|| activations.iter().min_by_key(|(kid, from)| (**from, **kid)));
        let next = activations
            .values()
            .filter(|from| **from > now)
            .min()
            .copied()
            .unwrap_or(i64::MAX);
        self.next_activation_ms.store(next, Ordering::Release);
        let Some((&kid, _)) = active else {
            return;
        };
        let mut ring = self.ring.write();
        if ring.active_kid() != kid
            && let Ok(switched) = ring.clone().with_active_kid(kid)
        {
            tracing::info!(kid, "token signing key now active");
            *ring = switched;
        }
    }

    /// Every key's kid and activation time (ms; 0 for configured keys), and the signing kid.
    pub fn describe(&self) -> (Vec<(u32, i64)>, u32) {
        // Copied before the ring is read: `current` may take this lock, then the ring's.
        let activations = self.activations.as_ref().map(|a| a.lock().clone());
        let ring = self.current();
        let keys = ring
            .keys()
            .iter()
            .map(|key| {
                let from = activations
                    .as_ref()
                    .and_then(|a| a.get(&key.kid).copied())
                    .unwrap_or(0);
                (key.kid, from)
            })
            .collect();
        (keys, ring.active_kid())
    }
}

/// The signing keys a node knows: one key signs (the highest kid unless another is chosen with
/// [`KeyRing::with_active_kid`]), every key verifies. So a new key can be rolled out everywhere as
/// verify-only, then made active, and an old one retired once its tokens have expired.
#[derive(Clone)]
pub struct KeyRing {
    /// Sorted by kid, non-empty, no duplicate kids.
    keys: Vec<SigningKey>,
    /// `ciphers[i]` is `keys[i]` with its AES key schedule expanded once.
    ciphers: Vec<Aes256Gcm>,
    /// Index of the signing key in `keys`.
    active: usize,
}

impl KeyRing {
    /// A ring of `keys` in any order; the highest kid becomes the active (signing) key.
    pub fn new(mut keys: Vec<SigningKey>) -> Result<KeyRing, TokenError> {
        keys.sort_by_key(|key| key.kid);
        if keys.is_empty() {
            return Err(TokenError::EmptyRing);
        }
        if let Some(pair) = keys.windows(2).find(|pair| pair[0].kid == pair[1].kid) {
            return Err(TokenError::DuplicateKid(pair[0].kid));
        }
        let ciphers = keys
            .iter()
            .map(|key| Aes256Gcm::new(&key.secret.into()))
            .collect();
        let active = keys.len() - 1;
        Ok(KeyRing {
            keys,
            ciphers,
            active,
        })
    }

    /// Makes `kid` the signing key (it must be in the ring); the others keep verifying.
    pub fn with_active_kid(mut self, kid: u32) -> Result<KeyRing, TokenError> {
        self.active = self
            .keys
            .binary_search_by_key(&kid, |key| key.kid)
            .map_err(|_| TokenError::UnknownKid(kid))?;
        Ok(self)
    }

    /// This ring with `key` added to verify only (the signing key stays); unchanged when its
    /// kid is known already.
    pub fn with_key(&self, key: SigningKey) -> KeyRing {
        if self.keys.iter().any(|known| known.kid == key.kid) {
            return self.clone();
        }
        let mut keys = self.keys.clone();
        keys.push(key);
        // Kids are distinct and the active one is among them, so neither step can fail.
        KeyRing::new(keys)
            .and_then(|ring| ring.with_active_kid(self.active_kid()))
            .unwrap_or_else(|_| self.clone())
    }

    pub fn active_kid(&self) -> u32 {
        self.keys[self.active_index()].kid
    }

    /// All keys, sorted by kid.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Seals `claims` with the active key and a fresh random nonce.
    pub fn mint(&self, claims: &TokenClaims) -> String {
        self.seal(&encode_claims(claims))
    }

    /// Seals any plaintext as [`KeyRing::mint`] seals encoded claims (the fuzzer also seals
    /// arbitrary payloads with it, to reach the payload checks behind authentication).
    pub(crate) fn seal(&self, plaintext: &[u8]) -> String {
        let active = self.active_index();
        let header = header(self.keys[active].kid);
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: &header,
        };
        // AES-GCM only refuses messages over 64 GiB; should it ever fail, the empty token that
        // results is rejected by `open` instead of panicking here.
        let Ok(sealed) = self.ciphers[active].encrypt(&Nonce::<Aes256Gcm>::from(nonce), payload)
        else {
            return String::new();
        };
        let mut token = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        token.extend_from_slice(&header);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&sealed);
        STANDARD.encode(token)
    }

    /// Authenticates and decrypts. Does NOT check expiry or revocation (the caller does, with its
    /// injected clock and its revocation set). Never panics, whatever the input.
    pub fn open(&self, token: &str) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let bytes = STANDARD.decode(token).map_err(|_| TokenError::Malformed)?;
        let (header, rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(TokenError::Malformed)?;
        let (nonce, sealed) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(TokenError::Malformed)?;
        let [version, kid @ ..] = *header;
        if version != VERSION {
            return Err(TokenError::UnsupportedVersion(version));
        }
        let kid = u32::from_be_bytes(kid);
        let cipher = self.cipher(kid).ok_or(TokenError::UnknownKid(kid))?;
        let payload = Payload {
            msg: sealed,
            aad: header,
        };
        let plaintext = cipher
            .decrypt(&Nonce::<Aes256Gcm>::from(*nonce), payload)
            .map_err(|_| TokenError::Forged)?;
        decode_claims(&plaintext)
    }

    /// In range by construction: the ring is non-empty and `active` only ever indexes it.
    fn active_index(&self) -> usize {
        self.active
    }

    fn cipher(&self, kid: u32) -> Option<&Aes256Gcm> {
        let index = self.keys.binary_search_by_key(&kid, |key| key.kid).ok()?;
        self.ciphers.get(index)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<u32> = self.keys.iter().map(|key| key.kid).collect();
        f.debug_struct("KeyRing")
            .field("kids", &kids)
            .field("active_kid", &self.active_kid())
            .finish()
    }
}

/// The associated data: layout version and signing key id.
fn header(kid: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = kid.to_be_bytes();
    [VERSION, a, b, c, d]
}

fn encode_claims(claims: &TokenClaims) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_PLAINTEXT_LEN + MAX_SYMBOL_LEN);
    out.extend_from_slice(&claims.account.uid.to_be_bytes());
    out.extend_from_slice(&claims.api_key_id.to_be_bytes());
    out.extend_from_slice(&claims.expires_at_us.to_be_bytes());
    match &claims.account.scope {
        Scope::Cross => out.push(SCOPE_CROSS),
        Scope::Isolated(symbol) => {
            debug_assert!(
                is_valid_symbol(symbol),
                "minting a token for a malformed symbol"
            );
            out.push(SCOPE_ISOLATED);
            out.extend_from_slice(symbol.as_bytes());
        }
    }
    out
}

fn decode_claims(plaintext: &[u8]) -> Result<TokenClaims, TokenError> {
    let (uid, rest) = split_array::<8>(plaintext)?;
    let (api_key_id, rest) = split_array::<8>(rest)?;
    let (expires_at_us, rest) = split_array::<8>(rest)?;
    let ([tag], symbol) = split_array::<1>(rest)?;
    let scope = match tag {
        SCOPE_CROSS if symbol.is_empty() => Scope::Cross,
        SCOPE_ISOLATED => Scope::Isolated(decode_symbol(symbol)?),
        _ => return Err(TokenError::BadPayload),
    };
    Ok(TokenClaims {
        account: Account {
            uid: u64::from_be_bytes(uid),
            scope,
        },
        api_key_id: u64::from_be_bytes(api_key_id),
        expires_at_us: i64::from_be_bytes(expires_at_us),
    })
}

fn split_array<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), TokenError> {
    let (head, rest) = bytes
        .split_first_chunk::<N>()
        .ok_or(TokenError::BadPayload)?;
    Ok((*head, rest))
}

fn decode_symbol(bytes: &[u8]) -> Result<String, TokenError> {
    match std::str::from_utf8(bytes) {
        Ok(symbol) if is_valid_symbol(symbol) => Ok(symbol.to_owned()),
        _ => Err(TokenError::BadPayload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key learnt from the store verifies at once, and signs from its activation time on.
    #[test]
    fn a_learnt_key_verifies_at_once_and_signs_from_its_activation() {
        use std::sync::Arc;
        use std::time::Duration;
        use userstream_protocol::clock::{Clock, ManualClock};
        let clock = ManualClock::starting_now();
        let shared: SharedClock = Arc::new(clock.clone());
        let now = clock.now_ms();
        let ours = SigningKey::generate(5);
        let lower = SigningKey::generate(2);
        let higher = SigningKey::generate(9);
        let live = LiveKeyRing::following_store(
            KeyRing::new(vec![ours.clone()]).unwrap(),
            [(5, 0)],
            Arc::clone(&shared),
        );
        live.learn(&lower.to_config_string(), 0).unwrap();
        live.learn(&higher.to_config_string(), now + 60_000)
            .unwrap();
        live.learn(&higher.to_config_string(), now + 60_000)
            .unwrap();
        let claims = TokenClaims {
            account: Account::cross(1),
            api_key_id: 3,
            expires_at_us: 10,
        };
        {
            let ring = live.current();
            assert_eq!(ring.active_kid(), 5);
            assert_eq!(
                ring.keys().iter().map(|key| key.kid).collect::<Vec<_>>(),
                [2, 5, 9]
            );
            let elsewhere = KeyRing::new(vec![higher.clone()]).unwrap().mint(&claims);
            assert_eq!(ring.open(&elsewhere).unwrap(), claims);
        }
        assert!(live.learn("not a key", 0).is_err());
        clock.advance(Duration::from_millis(59_999));
        assert_eq!(live.current().active_kid(), 5);
        clock.advance(Duration::from_millis(1));
        assert_eq!(live.current().active_kid(), 9);
        assert_eq!(
            live.describe(),
            (vec![(2, 0), (5, 0), (9, now + 60_000)], 9)
        );

        let configured = LiveKeyRing::configured(KeyRing::new(vec![ours]).unwrap(), shared);
        configured.learn(&lower.to_config_string(), 0).unwrap();
        assert_eq!(configured.current().keys().len(), 1);
    }
    use proptest::prelude::*;

    fn ring(kids: &[u32]) -> KeyRing {
        KeyRing::new(kids.iter().map(|&kid| SigningKey::generate(kid)).collect()).unwrap()
    }

    fn claims(account: Account) -> TokenClaims {
        TokenClaims {
            account,
            api_key_id: 42,
            expires_at_us: 1_749_094_553_955_907,
        }
    }

    /// Seals arbitrary plaintext exactly as `mint` would, to test payload validation.
    fn seal_raw(ring: &KeyRing, plaintext: &[u8]) -> String {
        let active = ring.active_index();
        let header = header(ring.keys[active].kid);
        let nonce = [7u8; NONCE_LEN];
        let sealed = ring.ciphers[active]
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .unwrap();
        STANDARD.encode([&header[..], &nonce, &sealed].concat())
    }

    #[test]
    fn round_trip_cross() {
        let ring = ring(&[1]);
        let claims = claims(Account::cross(123_456_789));
        assert_eq!(ring.open(&ring.mint(&claims)), Ok(claims));
    }

    #[test]
    fn round_trip_isolated() {
        let ring = ring(&[1]);
        let claims = claims(Account::isolated(7, "BNBUSDT"));
        assert_eq!(ring.open(&ring.mint(&claims)), Ok(claims));
    }

    #[test]
    fn round_trip_extremes() {
        let ring = ring(&[u32::MAX]);
        for expires_at_us in [i64::MIN, -1, 0, i64::MAX] {
            let claims = TokenClaims {
                account: Account::isolated(u64::MAX, "1000SATSUSDT"),
                api_key_id: u64::MAX,
                expires_at_us,
            };
            assert_eq!(ring.open(&ring.mint(&claims)), Ok(claims));
        }
    }

    #[test]
    fn same_claims_give_different_tokens() {
        let ring = ring(&[1]);
        let claims = claims(Account::cross(1));
        assert_ne!(ring.mint(&claims), ring.mint(&claims));
    }

    #[test]
    fn token_is_standard_base64_and_short() {
        let ring = ring(&[u32::MAX]);
        let longest = TokenClaims {
            account: Account::isolated(u64::MAX, "A".repeat(MAX_SYMBOL_LEN)),
            api_key_id: u64::MAX,
            expires_at_us: i64::MAX,
        };
        let token = ring.mint(&longest);
        assert_eq!(token.len(), MAX_TOKEN_CHARS);
        assert!(token.len() < 200);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        assert_eq!(ring.open(&token), Ok(longest));
    }

    #[test]
    fn account_is_not_readable() {
        let ring = ring(&[1]);
        let token = ring.mint(&claims(Account::isolated(0x0102_0304_0506_0708, "BNBUSDT")));
        let bytes = STANDARD.decode(&token).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"BNBUSDT"));
        assert!(
            !bytes
                .windows(8)
                .any(|w| w == 0x0102_0304_0506_0708u64.to_be_bytes())
        );
    }

    #[test]
    fn plus_in_token_is_kept_as_is() {
        let ring = ring(&[1]);
        let claims = claims(Account::cross(9));
        let token = std::iter::repeat_with(|| ring.mint(&claims))
            .take(1000)
            .find(|token| token.contains('+'))
            .unwrap();
        assert_eq!(ring.open(&token), Ok(claims));
        // What a wrong URL-decoding would make of it must not verify.
        assert!(ring.open(&token.replace('+', " ")).is_err());
        assert!(ring.open(&token.replace('+', "%2B")).is_err());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = SigningKey::generate(1);
        let before = KeyRing::new(vec![old.clone()]).unwrap();
        let token = before.mint(&claims(Account::cross(5)));

        let rotated = KeyRing::new(vec![SigningKey::generate(2), old]).unwrap();
        assert_eq!(rotated.active_kid(), 2);
        assert_eq!(rotated.open(&token), Ok(claims(Account::cross(5))));
        let fresh = rotated.mint(&claims(Account::cross(5)));
        assert_eq!(STANDARD.decode(&fresh).unwrap()[1..5], 2u32.to_be_bytes());

        let retired = KeyRing::new(vec![rotated.keys()[1].clone()]).unwrap();
        assert_eq!(retired.open(&token), Err(TokenError::UnknownKid(1)));
        assert_eq!(retired.open(&fresh), Ok(claims(Account::cross(5))));
    }

    #[test]
    fn another_ring_is_rejected() {
        let ours = ring(&[1]);
        let token = ring(&[1]).mint(&claims(Account::cross(5)));
        assert_eq!(ours.open(&token), Err(TokenError::Forged));
        let token = ring(&[9]).mint(&claims(Account::cross(5)));
        assert_eq!(ours.open(&token), Err(TokenError::UnknownKid(9)));
    }

    #[test]
    fn kid_and_version_are_authenticated() {
        let ring = ring(&[1, 2]);
        let mut bytes = STANDARD
            .decode(ring.mint(&claims(Account::cross(5))))
            .unwrap();
        bytes[1..5].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(ring.open(&STANDARD.encode(&bytes)), Err(TokenError::Forged));
        bytes[0] = 2;
        assert_eq!(
            ring.open(&STANDARD.encode(&bytes)),
            Err(TokenError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn malformed_tokens() {
        let ring = ring(&[1]);
        let token = ring.mint(&claims(Account::cross(5)));
        for bad in [
            "",
            "AAAA",
            "not base64!",
            &token[..token.len() - 4],
            &format!("{token}AAAA"),
        ] {
            assert!(ring.open(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ring.open(&"A".repeat(MAX_TOKEN_CHARS + 4)),
            Err(TokenError::Malformed)
        );
        // Unpadded and URL-safe spellings are not ours.
        assert_eq!(
            ring.open(token.trim_end_matches('=')).is_ok(),
            !token.ends_with('=')
        );
        let url_safe = token.replace('+', "-").replace('/', "_");
        assert_eq!(ring.open(&url_safe).is_ok(), url_safe == token);
    }

    #[test]
    fn sealed_but_bad_payload_is_rejected() {
        let ring = ring(&[1]);
        let fixed = [0u8; FIXED_PLAINTEXT_LEN - 1];
        let cases: [&[u8]; 6] = [
            &[],
            &fixed,                                       // no scope tag
            &[&fixed[..], &[SCOPE_CROSS, b'X']].concat(), // trailing byte after cross
            &[&fixed[..], &[SCOPE_ISOLATED]].concat(),    // empty symbol
            &[&fixed[..], &[SCOPE_ISOLATED], b"bnbusdt"].concat(),
            &[&fixed[..], &[2]].concat(),
        ];
        for plaintext in cases {
            assert_eq!(
                ring.open(&seal_raw(&ring, plaintext)),
                Err(TokenError::BadPayload)
            );
        }
        let ok = [&fixed[..], &[SCOPE_ISOLATED], b"BTCUSDT"].concat();
        assert!(ring.open(&seal_raw(&ring, &ok)).is_ok());
    }

    #[test]
    fn ring_construction() {
        assert_eq!(KeyRing::new(vec![]).unwrap_err(), TokenError::EmptyRing);
        let dup = vec![
            SigningKey::generate(3),
            SigningKey::generate(1),
            SigningKey::generate(3),
        ];
        assert_eq!(KeyRing::new(dup).unwrap_err(), TokenError::DuplicateKid(3));
        let ring = ring(&[5, 9, 2]);
        assert_eq!(ring.active_kid(), 9);
        let kids: Vec<u32> = ring.keys().iter().map(|key| key.kid).collect();
        assert_eq!(kids, [2, 5, 9]);
    }

    #[test]
    fn config_string_round_trip() {
        let key = SigningKey::generate(17);
        let text = key.to_config_string();
        assert!(text.starts_with("17:"));
        let parsed = SigningKey::parse_config_string(&format!(" {text}\n")).unwrap();
        assert_eq!(parsed.kid, 17);
        assert_eq!(parsed.secret_bytes(), key.secret_bytes());
        let fixed = SigningKey::from_bytes(4, [0xAB; 32]);
        assert_eq!(
            SigningKey::parse_config_string(&fixed.to_config_string())
                .unwrap()
                .secret_bytes(),
            &[0xAB; 32]
        );
    }

    #[test]
    fn bad_config_strings() {
        let key = STANDARD.encode([1u8; 32]);
        let short = STANDARD.encode([1u8; 31]);
        for bad in [
            String::new(),
            key.clone(),
            format!(":{key}"),
            format!("+1:{key}"),
            format!("-1:{key}"),
            format!("4294967296:{key}"),
            format!("1:{short}"),
            "1:not base64".to_owned(),
        ] {
            let err = SigningKey::parse_config_string(&bad).unwrap_err();
            assert!(matches!(err, TokenError::BadKeyString(_)), "{bad:?}");
            assert!(!err.to_string().contains(&key), "error quotes the key");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SigningKey::from_bytes(3, [0x5A; 32]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "SigningKey { kid: 3, .. }");
        let ring = KeyRing::new(vec![key.clone()]).unwrap();
        let shown = format!("{ring:?} {ring:#?}");
        assert!(
            !shown.contains("90") && !shown.contains("5a") && !shown.contains("5A"),
            "{shown}"
        );
        assert!(!shown.contains(&STANDARD.encode([0x5A; 32])));
    }

    fn any_claims() -> impl Strategy<Value = TokenClaims> {
        let scope = prop_oneof![
            Just(Scope::Cross),
            "[A-Z0-9]{1,20}".prop_map(Scope::Isolated)
        ];
        (any::<u64>(), scope, any::<u64>(), any::<i64>()).prop_map(
            |(uid, scope, api_key_id, expires_at_us)| TokenClaims {
                account: Account { uid, scope },
                api_key_id,
                expires_at_us,
            },
        )
    }

    proptest! {
        #[test]
        fn any_claims_round_trip(claims in any_claims()) {
            let ring = ring(&[1]);
            prop_assert_eq!(ring.open(&ring.mint(&claims)), Ok(claims));
        }

        #[test]
        fn arbitrary_strings_never_panic(token in ".{0,200}") {
            prop_assert!(ring(&[0, 1]).open(&token).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let ring = ring(&[0, 1]);
            prop_assert!(ring.open(&STANDARD.encode(&bytes)).is_err());
            if let Ok(text) = std::str::from_utf8(&bytes) {
                prop_assert!(ring.open(text).is_err());
            }
        }

        #[test]
        fn any_bit_flip_in_the_bytes_fails(
            claims in any_claims(),
            bit in any::<prop::sample::Index>(),
        ) {
            let ring = ring(&[1]);
            let mut bytes = STANDARD.decode(ring.mint(&claims)).unwrap();
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ring.open(&STANDARD.encode(&bytes)).is_err());
        }

        #[test]
        fn any_bit_flip_in_the_text_fails(
            claims in any_claims(),
            bit in any::<prop::sample::Index>(),
        ) {
            let ring = ring(&[1]);
            let mut text = ring.mint(&claims).into_bytes();
            let bit = bit.index(text.len() * 8);
            text[bit / 8] ^= 1 << (bit % 8);
            if let Ok(text) = String::from_utf8(text) {
                prop_assert!(ring.open(&text).is_err());
            }
        }
    }

    #[test]
    fn a_lower_kid_can_stay_active_while_a_new_key_rolls_out() {
        let ring = KeyRing::new(vec![SigningKey::generate(1), SigningKey::generate(2)])
            .unwrap()
            .with_active_kid(1)
            .unwrap();
        assert_eq!(ring.active_kid(), 1);
        let old_only = KeyRing::new(vec![ring.keys()[0].clone()]).unwrap();
        let claims = TokenClaims {
            account: Account::cross(5),
            api_key_id: 1,
            expires_at_us: 10,
        };
        assert!(old_only.open(&ring.mint(&claims)).is_ok());
        assert!(matches!(
            ring.clone().with_active_kid(3),
            Err(TokenError::UnknownKid(3))
        ));
    }
}
