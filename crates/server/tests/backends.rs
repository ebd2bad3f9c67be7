//! One server type on injected backends: the store and bus it is given are the ones it uses.

mod common;

use async_trait::async_trait;
use common::{TestServer, balance_update, test_config};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use userstream_protocol::Uid;
use userstream_server::bus::{AccountEvent, Bus, BusError, LocalBus};
use userstream_server::hub::Hub;
use userstream_server::store::{
    ApiKeyRecord, NewApiKey, SqliteStore, Store, StoreError, StoreSnapshot,
};
use userstream_server::{Backends, ManualClock};

/// The in-process bus, counting what passes through it.
#[derive(Default)]
struct CountingBus {
    inner: LocalBus,
    published: AtomicUsize,
    revocations: AtomicUsize,
}

#[async_trait]
impl Bus for CountingBus {
    fn attach(&self, hub: Arc<Hub>) {
        self.inner.attach(hub);
    }

    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<usize, BusError> {
        self.published.fetch_add(batch.len(), Ordering::SeqCst);
        self.inner.publish(batch).await
    }

    async fn revoke_key(&self, api_key_id: u64) -> Result<usize, BusError> {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.inner.revoke_key(api_key_id).await
    }
}

/// SQLite, counting the keys written through it.
struct CountingStore {
    inner: SqliteStore,
    keys_inserted: AtomicUsize,
}

#[async_trait]
impl Store for CountingStore {
    async fn load(&self) -> Result<StoreSnapshot, StoreError> {
        self.inner.load().await
    }

    async fn insert_key(&self, key: NewApiKey) -> Result<ApiKeyRecord, StoreError> {
        self.keys_inserted.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_key(key).await
    }

    async fn revoke_key(
        &self,
        api_key: &str,
        at_ms: i64,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.revoke_key(api_key, at_ms).await
    }

    async fn open_isolated(&self, uid: Uid, symbol: &str) -> Result<bool, StoreError> {
        self.inner.open_isolated(uid, symbol).await
    }

    async fn add_signing_key(&self, key: &str) -> Result<(), StoreError> {
        self.inner.add_signing_key(key).await
    }
}

#[tokio::test]
async fn a_server_runs_on_the_store_and_bus_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path().to_path_buf());
    let store = Arc::new(CountingStore {
        inner: SqliteStore::open_in(&config.data_dir).unwrap(),
        keys_inserted: AtomicUsize::new(0),
    });
    let bus = Arc::new(CountingBus::default());
    let backends = Backends::new(store.clone(), bus.clone());
    let server = TestServer::start_on_backends(config, ManualClock::starting_now(), backends).await;

    let key = server.create_key(&[]).await;
    assert_eq!(store.keys_inserted.load(Ordering::SeqCst), 1);

    let mut ws = server.ws().await;
    ws.subscribe(&server.token(&key, None, None).await.0).await;
    assert_eq!(
        server.publish(key.uid, None, balance_update("1.5")).await,
        1
    );
    assert_eq!(bus.published.load(Ordering::SeqCst), 1);
    let event = ws.next_event().await;
    assert_eq!(event["event"]["e"], "balanceUpdate", "{event}");
    assert_eq!(event["event"]["d"], "1.5", "{event}");

    let (status, answer) = server.revoke(&key.api_key).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(bus.revocations.load(Ordering::SeqCst), 1);
    let event = ws.next_event().await;
    assert_eq!(event["event"]["e"], "eventStreamTerminated", "{event}");
}
