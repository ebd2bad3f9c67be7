//! The clustered store: one JetStream key-value bucket that every node reads and writes.
//!
//! Keys in the bucket:
//! - `apikey.<base64url of the API key>`: the key's record (JSON), written once by `create`
//!   and changed only by its revocation, a compare-and-set on its revision;
//! - `user.<uid>`: a UID in use, claimed by `create`, so two nodes never hand out one UID;
//! - `isolated.<uid>.<SYMBOL>`: an opened isolated margin account;
//! - `signing.<kid>`: a token signing key (`{"key":"kid:base64","activeFromMs":…}`), so all
//!   nodes share one key ring;
//! - `counter.key_id`, `counter.uid`: the last key id and automatic UID handed out, each moved
//!   on by compare-and-set.
//!
//! The change feed is a watch on the bucket from the revision it had when the store opened, so
//! every node hears every node's writes, in the bucket's order.

use super::{
    ApiKeyRecord, CHANGE_FEED_CAPACITY, FIRST_UID, NewApiKey, SigningKeyRecord, Store, StoreChange,
    StoreError, StoreSnapshot,
};
use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use userstream_protocol::Uid;

const KEY_ID_COUNTER: &str = "counter.key_id";
const UID_COUNTER: &str = "counter.uid";

/// How long one JetStream request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Compare-and-set attempts before a write gives up (only a storm of writers to one key
/// could use them all).
const MAX_ATTEMPTS: usize = 1000;

/// How the bucket is made when it does not exist yet.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KvSettings {
    pub bucket: String,
    /// Copies JetStream keeps (3 on a 3-server cluster survives the loss of one).
    pub replicas: usize,
}

impl KvSettings {
    pub fn new(bucket: impl Into<String>, replicas: usize) -> KvSettings {
        KvSettings {
            bucket: bucket.into(),
            replicas,
        }
    }
}

/// A [`Store`] in a JetStream key-value bucket.
pub struct KvStore {
    kv: kv::Store,
    changes: broadcast::Sender<StoreChange>,
    watcher: AbortHandle,
}

impl Drop for KvStore {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// An API key as the bucket holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    id: u64,
    api_key: String,
    secret_key: String,
    uid: Uid,
    label: Option<String>,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl From<&ApiKeyRecord> for StoredKey {
    fn from(key: &ApiKeyRecord) -> Self {
        StoredKey {
            id: key.id,
            api_key: key.api_key.clone(),
            secret_key: key.secret_key.clone(),
            uid: key.uid,
            label: key.label.clone(),
            created_at_ms: key.created_at_ms,
            revoked_at_ms: key.revoked_at_ms,
        }
    }
}

impl From<StoredKey> for ApiKeyRecord {
    fn from(key: StoredKey) -> Self {
        ApiKeyRecord {
            id: key.id,
            api_key: key.api_key,
            secret_key: key.secret_key,
            uid: key.uid,
            label: key.label,
            created_at_ms: key.created_at_ms,
            revoked_at_ms: key.revoked_at_ms,
        }
    }
}

/// The JetStream stream behind a key-value bucket, as NATS's own clients lay it out: one
/// subject per key, the last value kept, writes that would need more refused rather than old
/// values dropped.
fn bucket_stream(settings: &KvSettings) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{}", settings.bucket),
        description: Some("userstream: API keys, accounts, signing keys".into()),
        subjects: vec![format!("$KV.{}.>", settings.bucket)],
        max_messages_per_subject: 1,
        storage: jetstream::stream::StorageType::File,
        num_replicas: settings.replicas.max(1),
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    }
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// NATS did not answer as it should (a timeout, a lost connection, a leader being elected):
/// trying again later may work.
fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn api_key_entry(api_key: &str) -> String {
    format!("apikey.{}", URL_SAFE_NO_PAD.encode(api_key))
}

fn encode_key(key: &ApiKeyRecord) -> Result<Bytes, StoreError> {
    serde_json::to_vec(&StoredKey::from(key))
        .map(Bytes::from)
        .map_err(unavailable)
}

fn decode_key(value: &[u8]) -> Result<ApiKeyRecord, StoreError> {
    serde_json::from_slice::<StoredKey>(value)
        .map(ApiKeyRecord::from)
        .map_err(|error| backend(format!("an API key record cannot be read: {error}")))
}

/// A signing key as the bucket holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSigningKey {
    key: String,
    active_from_ms: i64,
}

fn encode_signing_key(key: &SigningKeyRecord) -> Result<Bytes, StoreError> {
    let stored = StoredSigningKey {
        key: key.key.clone(),
        active_from_ms: key.active_from_ms,
    };
    serde_json::to_vec(&stored)
        .map(Bytes::from)
        .map_err(unavailable)
}

fn decode_signing_key(value: &[u8]) -> Option<SigningKeyRecord> {
    let stored: StoredSigningKey = serde_json::from_slice(value).ok()?;
    Some(SigningKeyRecord::new(stored.key, stored.active_from_ms))
}

/// What a bucket entry means to the gateway, if anything.
fn change_of(key: &str, value: &[u8]) -> Option<StoreChange> {
    let (kind, rest) = key.split_once('.')?;
    match kind {
        "apikey" => match decode_key(value) {
            Ok(key) if key.revoked_at_ms.is_some() => Some(StoreChange::KeyRevoked(key)),
            Ok(key) => Some(StoreChange::KeyCreated(key)),
            Err(error) => {
                tracing::error!(%error, "skipped an unreadable entry of the store");
                None
            }
        },
        "isolated" => {
            let (uid, symbol) = rest.split_once('.')?;
            Some(StoreChange::IsolatedOpened {
                uid: uid.parse().ok()?,
                symbol: symbol.to_owned(),
            })
        }
        "signing" => decode_signing_key(value).map(StoreChange::SigningKeyAdded),
        _ => None,
    }
}

fn is_conflict(error: &kv::UpdateError) -> bool {
    error.kind() == kv::UpdateErrorKind::WrongLastRevision
}

fn already_exists(error: &kv::CreateError) -> bool {
    error.kind() == kv::CreateErrorKind::AlreadyExists
}

impl KvStore {
    /// Opens the bucket `settings.bucket`, creating it when it does not exist, and starts
    /// following it.
    pub async fn open(
        client: async_nats::Client,
        settings: &KvSettings,
    ) -> Result<KvStore, StoreError> {
        // Short enough that a node retries soon while JetStream elects a leader, long enough
        // for a replicated write.
        let context = jetstream::context::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client);
        let kv = match context.get_key_value(&settings.bucket).await {
            Ok(kv) => kv,
            Err(_) => {
                // The stream a key-value bucket is, made directly: the client's own
                // `create_key_value` first asks for account details that NATS 2.9 words
                // differently.
                context
                    .get_or_create_stream(bucket_stream(settings))
                    .await
                    .map_err(|error| {
                        unavailable(format!(
                            "cannot create the key-value bucket '{}': {error}",
                            settings.bucket
                        ))
                    })?;
                context
                    .get_key_value(&settings.bucket)
                    .await
                    .map_err(|error| {
                        unavailable(format!(
                            "cannot open the key-value bucket '{}': {error}",
                            settings.bucket
                        ))
                    })?
            }
        };
        let status = kv.status().await.map_err(unavailable)?;
        let from = status.info.state.last_sequence + 1;
        let changes = broadcast::Sender::new(CHANGE_FEED_CAPACITY);
        let watcher = tokio::spawn(follow(kv.clone(), from, changes.clone())).abort_handle();
        Ok(KvStore {
            kv,
            changes,
            watcher,
        })
    }

    /// Moves `counter` on by one (starting at `first`), by compare-and-set.
    async fn next(&self, counter: &str, first: u64) -> Result<u64, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            match self.kv.entry(counter).await.map_err(unavailable)? {
                Some(entry) if entry.operation == kv::Operation::Put => {
                    let last: u64 = std::str::from_utf8(&entry.value)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| backend(format!("{counter} is not a number")))?;
                    let next = last + 1;
                    match self
                        .kv
                        .update(counter, next.to_string().into(), entry.revision)
                        .await
                    {
                        Ok(_) => return Ok(next),
                        Err(error) if is_conflict(&error) => continue,
                        Err(error) => return Err(unavailable(error)),
                    }
                }
                _ => match self.kv.create(counter, first.to_string().into()).await {
                    Ok(_) => return Ok(first),
                    Err(error) if already_exists(&error) => continue,
                    Err(error) => return Err(unavailable(error)),
                },
            }
        }
        Err(backend(format!("{counter}: too many concurrent writers")))
    }

    /// Claims `uid`; `false` when it was already in use.
    async fn claim_user(&self, uid: Uid) -> Result<bool, StoreError> {
        self.create_once(&format!("user.{uid}"), Bytes::new()).await
    }

    /// Writes `key` unless it exists; `false` when it did.
    async fn create_once(&self, key: &str, value: Bytes) -> Result<bool, StoreError> {
        match self.kv.create(key, value).await {
            Ok(_) => Ok(true),
            Err(error) if already_exists(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn value(&self, key: &str) -> Result<Option<kv::Entry>, StoreError> {
        let entry = self.kv.entry(key).await.map_err(unavailable)?;
        Ok(entry.filter(|entry| entry.operation == kv::Operation::Put))
    }
}

/// Follows the bucket from revision `from` on, telling `changes` what each write means. The
/// watch is an ordered consumer, which the client restarts after an outage where it left off;
/// when it ends anyway, it is made again from the next revision.
async fn follow(kv: kv::Store, mut from: u64, changes: broadcast::Sender<StoreChange>) {
    loop {
        match kv.watch_all_from_revision(from).await {
            Ok(mut watch) => {
                while let Some(entry) = watch.next().await {
                    match entry {
                        Ok(entry) => {
                            from = entry.revision + 1;
                            if entry.operation == kv::Operation::Put
                                && let Some(change) = change_of(&entry.key, &entry.value)
                            {
                                let _ = changes.send(change);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the store's watch failed; watching again");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot watch the store; trying again"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait]
impl Store for KvStore {
    async fn load(&self) -> Result<StoreSnapshot, StoreError> {
        // The keys from the stream's own list of subjects, which its leader answers: the
        // client's `keys` makes a consumer, which can hang for seconds after a server died.
        let prefix = self.kv.prefix.as_str();
        let subjects = self
            .kv
            .stream
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(unavailable)?;
        let names: Vec<String> = subjects
            .map_ok(|(subject, _)| subject.strip_prefix(prefix).unwrap_or(&subject).to_owned())
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut snapshot = StoreSnapshot::default();
        let mut entries = futures_util::stream::iter(names)
            .map(|name| async move { (self.value(&name).await, name) })
            .buffer_unordered(64);
        while let Some((entry, name)) = entries.next().await {
            let Some(entry) = entry? else { continue };
            match change_of(&name, &entry.value) {
                Some(StoreChange::KeyCreated(key) | StoreChange::KeyRevoked(key)) => {
                    snapshot.keys.push(key)
                }
                Some(StoreChange::IsolatedOpened { uid, symbol }) => {
                    snapshot.isolated.push((uid, symbol))
                }
                Some(StoreChange::SigningKeyAdded(key)) => snapshot.signing_keys.push(key),
                None => {}
            }
        }
        snapshot.keys.sort_by_key(|key| key.id);
        snapshot.isolated.sort();
        snapshot.signing_keys.sort_by_key(SigningKeyRecord::kid);
        Ok(snapshot)
    }

    async fn insert_key(&self, key: NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        let entry = api_key_entry(&key.api_key);
        // Taken already: refused before an id or a UID is spent on it.
        if self.value(&entry).await?.is_some() {
            return Err(StoreError::DuplicateKey);
        }
        let uid = match key.uid {
            Some(uid) => {
                self.claim_user(uid).await?;
                uid
            }
            None => loop {
                let uid = self.next(UID_COUNTER, FIRST_UID).await?;
                if self.claim_user(uid).await? {
                    break uid;
                }
            },
        };
        let record = key.into_record(self.next(KEY_ID_COUNTER, 1).await?, uid);
        match self.kv.create(&entry, encode_key(&record)?).await {
            Ok(_) => Ok(record),
            Err(error) if already_exists(&error) => Err(StoreError::DuplicateKey),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn revoke_key(
        &self,
        api_key: &str,
        at_ms: i64,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let name = api_key_entry(api_key);
        for _ in 0..MAX_ATTEMPTS {
            let Some(entry) = self.value(&name).await? else {
                return Ok(None);
            };
            let mut key = decode_key(&entry.value)?;
            if key.revoked_at_ms.is_some() {
                return Ok(Some(key));
            }
            key.revoked_at_ms = Some(at_ms);
            match self
                .kv
                .update(&name, encode_key(&key)?, entry.revision)
                .await
            {
                Ok(_) => return Ok(Some(key)),
                Err(error) if is_conflict(&error) => continue,
                Err(error) => return Err(unavailable(error)),
            }
        }
        Err(backend("revocation: too many concurrent writers"))
    }

    async fn open_isolated(&self, uid: Uid, symbol: &str) -> Result<bool, StoreError> {
        self.create_once(&format!("isolated.{uid}.{symbol}"), Bytes::new())
            .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let kid = key
            .kid()
            .ok_or_else(|| backend("a signing key must read kid:base64"))?;
        let name = format!("signing.{kid}");
        if self.create_once(&name, encode_signing_key(key)?).await? {
            return Ok(());
        }
        let stored = self.value(&name).await?;
        match stored.and_then(|entry| decode_signing_key(&entry.value)) {
            Some(stored) if stored.key == key.key => Ok(()),
            _ => Err(StoreError::Conflict(format!(
                "another signing key with kid {kid} is stored"
            ))),
        }
    }

    fn watch(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_what_they_hold() {
        assert_eq!(api_key_entry("ab+/"), "apikey.YWIrLw");
        assert_eq!(SigningKeyRecord::new("12:abc", 0).kid(), Some(12));
        assert_eq!(SigningKeyRecord::new("x:abc", 0).kid(), None);
        assert_eq!(SigningKeyRecord::new("abc", 0).kid(), None);
        assert_eq!(
            change_of("isolated.42.BNBUSDT", b""),
            Some(StoreChange::IsolatedOpened {
                uid: 42,
                symbol: "BNBUSDT".into()
            })
        );
        assert_eq!(
            change_of("signing.1", br#"{"key":"1:abc","activeFromMs":5}"#),
            Some(StoreChange::SigningKeyAdded(SigningKeyRecord::new(
                "1:abc", 5
            )))
        );
        assert_eq!(change_of("counter.uid", b"10000001"), None);
        assert_eq!(change_of("user.7", b""), None);
    }
}
