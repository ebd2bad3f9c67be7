//! Durable state: API keys, isolated margin accounts, token signing keys.
//!
//! The gateway reads the whole store once at start (see [`crate::directory`]) and then follows its
//! change feed ([`Store::watch`]), so the hot paths never wait on storage and every node sees
//! every node's writes. Two backends share this trait: SQLite (embedded default) and, for
//! clusters, a replicated key-value store.

mod data_dir;
mod jetstream;
mod sqlite;

pub use data_dir::DataDir;
pub use jetstream::{KvSettings, KvStore};

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use tokio::sync::broadcast;
use userstream_protocol::Uid;

/// The first UID handed out when a key is created without one.
pub const FIRST_UID: Uid = 10_000_001;

/// An API key and its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Internal id, carried inside listen tokens.
    pub id: u64,
    pub api_key: String,
    pub secret_key: String,
    pub uid: Uid,
    pub label: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A key about to be created; the store assigns its id and, when absent, its UID.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub api_key: String,
    pub secret_key: String,
    pub uid: Option<Uid>,
    pub label: Option<String>,
    pub created_at_ms: i64,
}

impl NewApiKey {
    /// The key as stored, once the store has given it its id and UID.
    pub fn into_record(self, id: u64, uid: Uid) -> ApiKeyRecord {
        ApiKeyRecord {
            id,
            api_key: self.api_key,
            secret_key: self.secret_key,
            uid,
            label: self.label,
            created_at_ms: self.created_at_ms,
            revoked_at_ms: None,
        }
    }
}

/// Everything the store holds, as read at start.
#[derive(Debug, Clone, Default)]
pub struct StoreSnapshot {
    pub keys: Vec<ApiKeyRecord>,
    /// Opened isolated margin accounts: (uid, symbol).
    pub isolated: Vec<(Uid, String)>,
    /// Token signing keys.
    pub signing_keys: Vec<SigningKeyRecord>,
}

/// A token signing key as stored: `kid:base64`, and when it starts signing. Until then it only
/// verifies, so that every node knows it before any node signs with it (rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub key: String,
    /// Milliseconds since the epoch; 0 for a key that signs from the start.
    pub active_from_ms: i64,
}

impl SigningKeyRecord {
    pub fn new(key: impl Into<String>, active_from_ms: i64) -> SigningKeyRecord {
        SigningKeyRecord {
            key: key.into(),
            active_from_ms,
        }
    }

    /// The kid, the digits before the colon.
    pub fn kid(&self) -> Option<u32> {
        let (kid, _) = self.key.split_once(':')?;
        let kid = kid.trim();
        (!kid.is_empty() && kid.bytes().all(|b| b.is_ascii_digit()))
            .then(|| kid.parse().ok())
            .flatten()
    }
}

/// One write to the store, as its change feed tells it (to the node that made it too).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreChange {
    KeyCreated(ApiKeyRecord),
    /// The key as stored after its revocation (`revoked_at_ms` set).
    KeyRevoked(ApiKeyRecord),
    IsolatedOpened {
        uid: Uid,
        symbol: String,
    },
    SigningKeyAdded(SigningKeyRecord),
}

/// How many changes a follower may fall behind before it must reload everything.
pub const CHANGE_FEED_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Backend(String),
    #[error("store: API key already exists")]
    DuplicateKey,
    /// The store did not answer for now (a clustered store's servers are out of reach or
    /// electing a leader); the same call may work later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Another node wrote something else first (two nodes made the first signing key at once).
    #[error("store: {0}")]
    Conflict(String),
    /// The data directory cannot be used: locked by another server, or not writable.
    #[error("{0}")]
    DataDir(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Backend(error.to_string())
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads everything.
    async fn load(&self) -> Result<StoreSnapshot, StoreError>;
    /// Saves a new key (and its user), returning it with its id and UID.
    async fn insert_key(&self, key: NewApiKey) -> Result<ApiKeyRecord, StoreError>;
    /// Marks a key revoked. `None` when no such key exists; a key revoked before keeps its time.
    async fn revoke_key(
        &self,
        api_key: &str,
        at_ms: i64,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Opens an isolated margin account; `false` when it was already open.
    async fn open_isolated(&self, uid: Uid, symbol: &str) -> Result<bool, StoreError>;
    /// Adds a token signing key. Adding it again changes nothing; another key with its kid is a
    /// [`StoreError::Conflict`].
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Every write from now on that changed something (a second revocation or opening tells
    /// nothing), in the order the store applied them, whichever node made it. A
    /// receiver that falls more than [`CHANGE_FEED_CAPACITY`] behind gets `Lagged` and must
    /// [`load`](Store::load) again.
    fn watch(&self) -> broadcast::Receiver<StoreChange>;
}
