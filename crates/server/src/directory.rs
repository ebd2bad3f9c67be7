//! The in-memory view of API keys and accounts that every request consults.
//!
//! Loaded from the [`Store`] at start, written through on this node's changes and kept up to
//! date by the store's change feed (every node's), so issuing a token or verifying a
//! subscription never touches storage.

use crate::store::{ApiKeyRecord, NewApiKey, Store, StoreChange, StoreError, StoreSnapshot};
use parking_lot::RwLock;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use userstream_protocol::Uid;

/// Length of generated API and secret keys (Binance's are 64 alphanumerics).
pub const KEY_LEN: usize = 64;

/// True when `text` has the shape of an API key: 64 ASCII letters and digits.
pub fn is_api_key_shaped(text: &str) -> bool {
    text.len() == KEY_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A fresh random key of [`KEY_LEN`] alphanumerics.
pub fn generate_key() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(KEY_LEN)
        .map(char::from)
        .collect()
}

#[derive(Default)]
struct Entries {
    by_api_key: HashMap<String, Arc<ApiKeyRecord>>,
    by_id: HashMap<u64, Arc<ApiKeyRecord>>,
    isolated: HashMap<Uid, BTreeSet<String>>,
}

impl Entries {
    fn from_snapshot(snapshot: StoreSnapshot) -> Entries {
        let mut entries = Entries::default();
        for key in snapshot.keys {
            entries.put_key(key);
        }
        for (uid, symbol) in snapshot.isolated {
            entries.isolated.entry(uid).or_default().insert(symbol);
        }
        entries
    }

    /// Keeps `record`, unless the key is known revoked already: a revocation is never undone,
    /// whatever order a write and the feed's copy of an older one arrive in.
    fn put_key(&mut self, mut record: ApiKeyRecord) -> Arc<ApiKeyRecord> {
        if let Some(known) = self.by_id.get(&record.id)
            && known.revoked_at_ms.is_some()
            && record.revoked_at_ms.is_none()
        {
            record.revoked_at_ms = known.revoked_at_ms;
        }
        let record = Arc::new(record);
        self.by_api_key
            .insert(record.api_key.clone(), Arc::clone(&record));
        self.by_id.insert(record.id, Arc::clone(&record));
        record
    }
}

pub struct Directory {
    store: Arc<dyn Store>,
    entries: RwLock<Entries>,
}

impl Directory {
    /// Reads keys and accounts from the store.
    pub async fn load(store: Arc<dyn Store>) -> Result<Directory, StoreError> {
        let snapshot = store.load().await?;
        Ok(Self::from_snapshot(store, snapshot))
    }

    /// Builds the view from what the store already returned (its signing keys are not used here).
    pub fn from_snapshot(store: Arc<dyn Store>, snapshot: StoreSnapshot) -> Directory {
        Directory {
            store,
            entries: RwLock::new(Entries::from_snapshot(snapshot)),
        }
    }

    /// Applies one change from the store's feed (this node's own writes come back too, and
    /// change nothing). Returns the key, when the change revoked one.
    pub fn apply(&self, change: &StoreChange) -> Option<Arc<ApiKeyRecord>> {
        let mut entries = self.entries.write();
        match change {
            StoreChange::KeyCreated(record) => {
                entries.put_key(record.clone());
                None
            }
            StoreChange::KeyRevoked(record) => Some(entries.put_key(record.clone())),
            StoreChange::IsolatedOpened { uid, symbol } => {
                entries
                    .isolated
                    .entry(*uid)
                    .or_default()
                    .insert(symbol.clone());
                None
            }
            StoreChange::SigningKeyAdded(_) => None,
        }
    }

    /// Replaces everything with a fresh read of the store (after falling behind its feed); the
    /// revoked keys, which the caller must make sure no subscription still uses.
    pub fn replace(&self, snapshot: StoreSnapshot) -> Vec<Arc<ApiKeyRecord>> {
        let fresh = Entries::from_snapshot(snapshot);
        let mut entries = self.entries.write();
        let revoked = fresh
            .by_id
            .values()
            .filter(|key| key.revoked_at_ms.is_some())
            .cloned()
            .collect();
        *entries = fresh;
        revoked
    }

    /// The key record for an `X-MBX-APIKEY` value (revoked keys included; check `revoked_at_ms`).
    pub fn key(&self, api_key: &str) -> Option<Arc<ApiKeyRecord>> {
        self.entries.read().by_api_key.get(api_key).cloned()
    }

    /// True when the key with this internal id exists and is not revoked.
    pub fn is_key_active(&self, id: u64) -> bool {
        self.entries
            .read()
            .by_id
            .get(&id)
            .is_some_and(|key| key.revoked_at_ms.is_none())
    }

    /// True when `uid` has opened an isolated margin account for `symbol`.
    pub fn has_isolated(&self, uid: Uid, symbol: &str) -> bool {
        self.entries
            .read()
            .isolated
            .get(&uid)
            .is_some_and(|symbols| symbols.contains(symbol))
    }

    /// The isolated accounts of `uid`, sorted.
    pub fn isolated_symbols(&self, uid: Uid) -> Vec<String> {
        self.entries
            .read()
            .isolated
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> Vec<Arc<ApiKeyRecord>> {
        let mut keys: Vec<_> = self.entries.read().by_id.values().cloned().collect();
        keys.sort_by_key(|key| key.id);
        keys
    }

    /// Creates a key (for a new user when `uid` is `None`) and opens the given isolated accounts.
    pub async fn create_key(
        &self,
        uid: Option<Uid>,
        label: Option<String>,
        isolated_symbols: &[String],
        now_ms: i64,
    ) -> Result<Arc<ApiKeyRecord>, StoreError> {
        let new = NewApiKey {
            api_key: generate_key(),
            secret_key: generate_key(),
            uid,
            label,
            created_at_ms: now_ms,
        };
        let record = self.store.insert_key(new).await?;
        let uid = record.uid;
        let record = self.entries.write().put_key(record);
        for symbol in isolated_symbols {
            self.open_isolated(uid, symbol).await?;
        }
        Ok(record)
    }

    /// Marks a key revoked in this node's cache only, ahead of [`Directory::revoke_key`]: from
    /// now on it mints and subscribes no more here, so its live subscriptions can be ended (and
    /// counted) before the store's change feed reaches any node. `None` when no such key is
    /// known; a key revoked before keeps its time.
    pub fn mark_revoked(&self, api_key: &str, now_ms: i64) -> Option<Arc<ApiKeyRecord>> {
        let mut entries = self.entries.write();
        let known = entries.by_api_key.get(api_key)?;
        if known.revoked_at_ms.is_some() {
            return Some(Arc::clone(known));
        }
        let mut record = ApiKeyRecord::clone(known);
        record.revoked_at_ms = Some(now_ms);
        Some(entries.put_key(record))
    }

    /// Revokes a key in the store (and this cache). `None` when it does not exist.
    pub async fn revoke_key(
        &self,
        api_key: &str,
        now_ms: i64,
    ) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        let Some(record) = self.store.revoke_key(api_key, now_ms).await? else {
            return Ok(None);
        };
        Ok(Some(self.entries.write().put_key(record)))
    }

    /// Opens an isolated margin account; `false` when it already existed.
    pub async fn open_isolated(&self, uid: Uid, symbol: &str) -> Result<bool, StoreError> {
        let added = self.store.open_isolated(uid, symbol).await?;
        self.entries
            .write()
            .isolated
            .entry(uid)
            .or_default()
            .insert(symbol.to_owned());
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn generated_keys_have_the_api_key_shape() {
        let key = generate_key();
        assert!(is_api_key_shaped(&key));
        assert_ne!(key, generate_key());
        assert!(!is_api_key_shaped("short"));
        assert!(!is_api_key_shaped(&"-".repeat(KEY_LEN)));
    }

    /// A stale copy of a key (its creation, arriving after its revocation) does not bring it
    /// back.
    #[tokio::test]
    async fn a_revocation_is_never_undone_by_an_older_change() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).unwrap());
        let mut changes = store.watch();
        let directory = Directory::load(Arc::clone(&store)).await.unwrap();
        let key = directory.create_key(None, None, &[], 5).await.unwrap();
        directory
            .revoke_key(&key.api_key, 6)
            .await
            .unwrap()
            .unwrap();
        let created = changes.recv().await.unwrap();
        let revoked = changes.recv().await.unwrap();
        assert!(matches!(created, StoreChange::KeyCreated(_)), "{created:?}");
        assert!(matches!(revoked, StoreChange::KeyRevoked(_)), "{revoked:?}");
        assert!(directory.apply(&created).is_none());
        assert!(!directory.is_key_active(key.id));
        let again = directory.apply(&revoked).unwrap();
        assert_eq!(again.revoked_at_ms, Some(6));
        assert!(!directory.is_key_active(key.id));
    }

    #[tokio::test]
    async fn writes_go_through_to_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).unwrap());
        let directory = Directory::load(Arc::clone(&store)).await.unwrap();
        let key = directory
            .create_key(None, None, &["BNBUSDT".into()], 5)
            .await
            .unwrap();
        assert!(directory.is_key_active(key.id));
        assert!(directory.has_isolated(key.uid, "BNBUSDT"));
        directory
            .revoke_key(&key.api_key, 6)
            .await
            .unwrap()
            .unwrap();
        assert!(!directory.is_key_active(key.id));

        let reloaded = Directory::load(store).await.unwrap();
        assert_eq!(reloaded.key(&key.api_key).unwrap().revoked_at_ms, Some(6));
        assert_eq!(
            reloaded.isolated_symbols(key.uid),
            vec!["BNBUSDT".to_owned()]
        );
    }
}
