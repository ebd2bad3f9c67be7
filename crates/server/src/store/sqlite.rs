//! The embedded store: one SQLite file in the data directory.

use super::{
    ApiKeyRecord, CHANGE_FEED_CAPACITY, DataDir, FIRST_UID, NewApiKey, SigningKeyRecord, Store,
    StoreChange, StoreError, StoreSnapshot,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::broadcast;
use userstream_protocol::Uid;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    uid INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key TEXT NOT NULL UNIQUE,
    secret_key TEXT NOT NULL,
    uid INTEGER NOT NULL REFERENCES users(uid),
    label TEXT,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS isolated_accounts (
    uid INTEGER NOT NULL REFERENCES users(uid),
    symbol TEXT NOT NULL,
    PRIMARY KEY (uid, symbol)
);
CREATE TABLE IF NOT EXISTS signing_keys (
    key TEXT PRIMARY KEY,
    active_from_ms INTEGER NOT NULL DEFAULT 0
);
";

/// Brings a database made by an earlier version up to [`SCHEMA`].
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let has_activation: bool = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('signing_keys') WHERE name = 'active_from_ms'",
        [],
        |row| row.get::<_, i64>(0).map(|count| count > 0),
    )?;
    if !has_activation {
        connection.execute_batch(
            "ALTER TABLE signing_keys ADD COLUMN active_from_ms INTEGER NOT NULL DEFAULT 0",
        )?;
    }
    Ok(())
}

/// The database file, and the files SQLite keeps beside it in WAL mode.
const DATABASE: &str = "userstream.db";
const DATABASE_SIDE_FILES: [&str; 2] = ["userstream.db-wal", "userstream.db-shm"];

/// SQLite-backed [`Store`]. Calls run on the blocking pool so the runtime never waits on disk.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// The change feed: sent under the connection's lock, so in commit order.
    changes: broadcast::Sender<StoreChange>,
    /// Locked for as long as any clone of the store lives.
    _dir: Arc<DataDir>,
}

impl SqliteStore {
    /// Opens (creating when needed) `dir/userstream.db`, in a private directory this server
    /// has locked.
    pub fn open_in(dir: &Path) -> Result<SqliteStore, StoreError> {
        let data_dir = DataDir::open(dir)?;
        let database = data_dir.private_file(DATABASE)?;
        for side_file in DATABASE_SIDE_FILES {
            data_dir.restrict(side_file)?;
        }
        let connection = Connection::open(database)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.execute_batch(SCHEMA)?;
        migrate(&connection)?;
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
            changes: broadcast::Sender::new(CHANGE_FEED_CAPACITY),
            _dir: Arc::new(data_dir),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, &Feed) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = Arc::clone(&self.connection);
        let feed = Feed(self.changes.clone());
        tokio::task::spawn_blocking(move || work(&mut connection.lock(), &feed))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// The change feed, as a write sees it while it holds the connection.
struct Feed(broadcast::Sender<StoreChange>);

impl Feed {
    /// Tells every follower (none listening is fine: nothing has started following yet).
    fn tell(&self, change: StoreChange) {
        let _ = self.0.send(change);
    }
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get::<_, i64>(0)? as u64,
        api_key: row.get(1)?,
        secret_key: row.get(2)?,
        uid: row.get::<_, i64>(3)? as Uid,
        label: row.get(4)?,
        created_at_ms: row.get(5)?,
        revoked_at_ms: row.get(6)?,
    })
}

const KEY_COLUMNS: &str = "id, api_key, secret_key, uid, label, created_at_ms, revoked_at_ms";

fn ensure_user(tx: &rusqlite::Transaction<'_>, uid: Uid) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO users (uid) VALUES (?1)",
        params![uid as i64],
    )?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<StoreSnapshot, StoreError> {
        self.with(|db, _| {
            let mut statement =
                db.prepare(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))?;
            let keys = statement
                .query_map([], key_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let mut statement =
                db.prepare("SELECT uid, symbol FROM isolated_accounts ORDER BY uid, symbol")?;
            let isolated = statement
                .query_map([], |row| {
                    Ok((row.get::<_, i64>(0)? as Uid, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut statement = db.prepare(
                "SELECT key, active_from_ms FROM signing_keys \
                 ORDER BY CAST(substr(key, 1, instr(key, ':') - 1) AS INTEGER)",
            )?;
            let signing_keys = statement
                .query_map([], |row| {
                    Ok(SigningKeyRecord::new(row.get::<_, String>(0)?, row.get(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(StoreSnapshot {
                keys,
                isolated,
                signing_keys,
            })
        })
        .await
    }

    async fn insert_key(&self, key: NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        self.with(move |db, feed| {
            let tx = db.transaction()?;
            let uid = match key.uid {
                Some(uid) => uid,
                None => {
                    let highest: Option<i64> = tx.query_row("SELECT MAX(uid) FROM users", [], |row| row.get(0))?;
                    highest.map_or(FIRST_UID, |uid| (uid as Uid + 1).max(FIRST_UID))
                }
            };
            ensure_user(&tx, uid)?;
            let inserted = tx.execute(
                "INSERT INTO api_keys (api_key, secret_key, uid, label, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.api_key, key.secret_key, uid as i64, key.label, key.created_at_ms],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(StoreError::DuplicateKey);
                }
                other => other?,
            };
            let id = tx.last_insert_rowid() as u64;
            tx.commit()?;
            let record = key.into_record(id, uid);
            feed.tell(StoreChange::KeyCreated(record.clone()));
            Ok(record)
        })
        .await
    }

    async fn revoke_key(
        &self,
        api_key: &str,
        at_ms: i64,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let api_key = api_key.to_owned();
        self.with(move |db, feed| {
            let changed = db.execute(
                "UPDATE api_keys SET revoked_at_ms = ?2 WHERE api_key = ?1 AND revoked_at_ms IS NULL",
                params![api_key, at_ms],
            )?;
            let record = db
                .query_row(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE api_key = ?1"), [&api_key], key_from_row)
                .optional()?;
            if let Some(record) = record.as_ref().filter(|_| changed == 1) {
                feed.tell(StoreChange::KeyRevoked(record.clone()));
            }
            Ok(record)
        })
        .await
    }

    async fn open_isolated(&self, uid: Uid, symbol: &str) -> Result<bool, StoreError> {
        let symbol = symbol.to_owned();
        self.with(move |db, feed| {
            let tx = db.transaction()?;
            ensure_user(&tx, uid)?;
            let added = tx.execute(
                "INSERT OR IGNORE INTO isolated_accounts (uid, symbol) VALUES (?1, ?2)",
                params![uid as i64, symbol],
            )?;
            tx.commit()?;
            if added == 1 {
                feed.tell(StoreChange::IsolatedOpened { uid, symbol });
            }
            Ok(added == 1)
        })
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        let kid = key
            .kid()
            .ok_or_else(|| StoreError::Backend("a signing key must read kid:base64".into()))?;
        self.with(move |db, feed| {
            let tx = db.transaction()?;
            let same_kid: Option<String> = tx
                .query_row(
                    "SELECT key FROM signing_keys WHERE key LIKE ?1 || ':%'",
                    [kid.to_string()],
                    |row| row.get(0),
                )
                .optional()?;
            match same_kid {
                Some(stored) if stored == key.key => return Ok(()),
                Some(_) => {
                    return Err(StoreError::Conflict(format!(
                        "another signing key with kid {kid} is stored"
                    )));
                }
                None => {}
            }
            tx.execute(
                "INSERT INTO signing_keys (key, active_from_ms) VALUES (?1, ?2)",
                params![key.key, key.active_from_ms],
            )?;
            tx.commit()?;
            feed.tell(StoreChange::SigningKeyAdded(key));
            Ok(())
        })
        .await
    }

    fn watch(&self) -> broadcast::Receiver<StoreChange> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key(name: &str, uid: Option<Uid>) -> NewApiKey {
        NewApiKey {
            api_key: name.to_owned(),
            secret_key: format!("{name}-secret"),
            uid,
            label: Some("test".into()),
            created_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn keys_accounts_and_signing_keys_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open_in(dir.path()).unwrap();
            let first = store.insert_key(new_key("a", None)).await.unwrap();
            assert_eq!(first.uid, FIRST_UID);
            let second = store.insert_key(new_key("b", None)).await.unwrap();
            assert_eq!(second.uid, FIRST_UID + 1);
            let chosen = store.insert_key(new_key("c", Some(42))).await.unwrap();
            assert_eq!(chosen.uid, 42);
            assert!(matches!(
                store.insert_key(new_key("a", None)).await,
                Err(StoreError::DuplicateKey)
            ));
            assert!(store.open_isolated(42, "BNBUSDT").await.unwrap());
            assert!(!store.open_isolated(42, "BNBUSDT").await.unwrap());
            let revoked = store.revoke_key("b", 99).await.unwrap().unwrap();
            assert_eq!(revoked.revoked_at_ms, Some(99));
            assert_eq!(
                store
                    .revoke_key("b", 100)
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at_ms,
                Some(99)
            );
            assert!(store.revoke_key("nope", 100).await.unwrap().is_none());
            store
                .add_signing_key(&SigningKeyRecord::new("1:abc", 0))
                .await
                .unwrap();
        }
        let store = SqliteStore::open_in(dir.path()).unwrap();
        let snapshot = store.load().await.unwrap();
        assert_eq!(snapshot.keys.len(), 3);
        assert_eq!(snapshot.keys[1].revoked_at_ms, Some(99));
        assert_eq!(snapshot.isolated, vec![(42, "BNBUSDT".to_owned())]);
        assert_eq!(
            snapshot.signing_keys,
            vec![SigningKeyRecord::new("1:abc", 0)]
        );
        let next = store.insert_key(new_key("d", None)).await.unwrap();
        assert_eq!(next.uid, FIRST_UID + 2);
    }
}
