//! The in-memory view of API keys and accounts that every request consults.
//!
//! Loaded from the [`Store`] at start and written through on change, so issuing a token or
//! verifying a subscription never touches storage.

use crate::store::{ApiKeyRecord, NewApiKey, Store, StoreError, StoreSnapshot};
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
    fn put_key(&mut self, record: ApiKeyRecord) -> Arc<ApiKeyRecord> {
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
        let mut entries = Entries::default();
        for key in snapshot.keys {
            entries.put_key(key);
        }
        for (uid, symbol) in snapshot.isolated {
            entries.isolated.entry(uid).or_default().insert(symbol);
        }
        Directory {
            store,
            entries: RwLock::new(entries),
        }
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

    /// Revokes a key. `None` when it does not exist.
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
