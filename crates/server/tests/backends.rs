//! One server type on injected backends: the store and bus it is given are the ones it uses.

mod common;

use async_trait::async_trait;
use common::{TestServer, balance_update, test_config};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::broadcast;
use userstream_protocol::Account;
use userstream_protocol::Uid;
use userstream_server::bus::{
    AccountEvent, Bus, BusError, Delivery, Interest, LocalBus, Published,
};
use userstream_server::store::{
    ApiKeyRecord, NewApiKey, SigningKeyRecord, SqliteStore, Store, StoreChange, StoreError,
    StoreSnapshot,
};
use userstream_server::token::{KeyRing, SigningKey, TokenClaims};
use userstream_server::{Backends, Clock, ManualClock};

/// The in-process bus, counting what passes through it and recording the hub's interest; or,
/// with `accept_only`, a broker's bus that takes events and delivers none here.
#[derive(Default)]
struct CountingBus {
    inner: LocalBus,
    accept_only: bool,
    published: AtomicUsize,
    interest: Mutex<Vec<(Account, bool)>>,
}

impl Interest for CountingBus {
    fn interest(&self, account: &Account, interested: bool) {
        self.interest.lock().push((account.clone(), interested));
    }
}

#[async_trait]
impl Bus for CountingBus {
    fn attach(&self, delivery: Arc<dyn Delivery>) {
        self.inner.attach(delivery);
    }

    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<Published, BusError> {
        self.published.fetch_add(batch.len(), Ordering::SeqCst);
        if self.accept_only {
            return Ok(Published::Accepted);
        }
        self.inner.publish(batch).await
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

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        self.inner.add_signing_key(key).await
    }

    fn watch(&self) -> broadcast::Receiver<StoreChange> {
        self.inner.watch()
    }
}

/// A server on a counting store and `bus`, in a data directory of its own.
async fn server_on(bus: Arc<CountingBus>) -> (TestServer, Arc<CountingStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path().to_path_buf());
    let store = Arc::new(CountingStore {
        inner: SqliteStore::open_in(&config.data_dir).unwrap(),
        keys_inserted: AtomicUsize::new(0),
    });
    let backends = Backends::new(store.clone(), bus);
    let server = TestServer::start_on_backends(config, ManualClock::starting_now(), backends).await;
    (server, store, dir)
}

#[tokio::test]
async fn a_server_runs_on_the_store_and_bus_it_is_given() {
    let bus = Arc::new(CountingBus::default());
    let (server, store, _dir) = server_on(bus.clone()).await;

    let key = server.create_key(&[]).await;
    assert_eq!(store.keys_inserted.load(Ordering::SeqCst), 1);

    let mut ws = server.subscribed(&key).await;
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
    assert_eq!(answer["terminatedSubscriptions"], 1, "{answer}");
    let event = ws.next_event().await;
    assert_eq!(event["event"]["e"], "eventStreamTerminated", "{event}");
}

/// The hub tells the bus when an account gains its first subscriber on this node and loses its
/// last, however many come and go in between.
#[tokio::test]
async fn the_bus_hears_of_interest_once_per_account() {
    let bus = Arc::new(CountingBus::default());
    let (server, _store, _dir) = server_on(bus.clone()).await;
    let key = server.create_key(&[]).await;
    let account = Account::cross(key.uid);
    let mut first = server.ws().await;
    first
        .subscribe(&server.token(&key, None, None).await.0)
        .await;
    let mut second = server.ws().await;
    second
        .subscribe(&server.token(&key, None, None).await.0)
        .await;
    assert_eq!(*bus.interest.lock(), [(account.clone(), true)]);

    first.call("userDataStream.unsubscribe", json!({})).await;
    assert_eq!(bus.interest.lock().len(), 1, "one subscriber is left");
    second.call("userDataStream.unsubscribe", json!({})).await;
    assert_eq!(
        *bus.interest.lock(),
        [(account.clone(), true), (account, false)]
    );
}

/// A bus that can only say the broker took the events gets that answer to the publisher, with
/// no subscriber count it cannot know.
#[tokio::test]
async fn a_broker_bus_answers_accepted() {
    let bus = Arc::new(CountingBus {
        accept_only: true,
        ..CountingBus::default()
    });
    let (server, _store, _dir) = server_on(bus.clone()).await;
    let key = server.create_key(&[]).await;
    let item = json!({ "uid": key.uid, "event": balance_update("2") });
    let (status, answer) = server.admin_post("/admin/v1/events", item.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "published": 1, "delivery": "accepted" }));
    let (status, answer) = server
        .admin_post("/admin/v1/events", json!([item.clone(), item]))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({ "published": 2, "delivery": "accepted" }));
    assert_eq!(bus.published.load(Ordering::SeqCst), 3);
}

/// Polls `check` until it holds: the store's feed reaches the server on a task of its own.
async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// What another node writes to a shared store reaches this one through the store's change
/// feed: a key created there mints tokens here, and a revocation there ends the key's live
/// subscriptions here and stops its minting.
#[tokio::test]
async fn another_nodes_writes_reach_this_node_through_the_store() {
    let bus = Arc::new(CountingBus::default());
    let (server, store, _dir) = server_on(bus).await;
    // Written straight to the store, as another node sharing it would.
    let record = store
        .insert_key(NewApiKey {
            api_key: "A".repeat(64),
            secret_key: "S".repeat(64),
            uid: Some(77),
            label: Some("elsewhere".into()),
            created_at_ms: server.now_ms(),
        })
        .await
        .unwrap();
    let key = common::Key {
        api_key: record.api_key.clone(),
        secret: record.secret_key.clone(),
        uid: record.uid,
    };
    eventually(async || server.request_token(Some(&key.api_key), "").await.0 == 200).await;
    let mut ws = server.subscribed(&key).await;

    store
        .revoke_key(&key.api_key, server.now_ms())
        .await
        .unwrap()
        .unwrap();
    let event = ws.next_event().await;
    assert_eq!(event["event"]["e"], "eventStreamTerminated", "{event}");
    let (status, answer, _) = server.request_token(Some(&key.api_key), "").await;
    assert_eq!(status, 401, "{answer}");
}

/// A signing key another node adds to the store verifies here at once, while this node keeps
/// signing with its own until the new key's activation time.
#[tokio::test]
async fn a_signing_key_added_elsewhere_verifies_here() {
    let (server, store, _dir) = server_on(Arc::new(CountingBus::default())).await;
    let state = &server.server.state;
    let key = server.create_key(&[]).await;
    let record = state.directory.key(&key.api_key).unwrap();
    let ours = state.keyring.current().active_kid();
    let theirs = SigningKey::generate(ours + 1);
    let token = KeyRing::new(vec![theirs.clone()])
        .unwrap()
        .mint(&TokenClaims {
            account: Account::cross(key.uid),
            api_key_id: record.id,
            expires_at_us: server.clock.now_us() + 60_000_000,
        });
    let mut ws = server.ws().await;
    let refused = ws
        .call(
            "userDataStream.subscribe.listenToken",
            json!({ "listenToken": token }),
        )
        .await;
    assert_eq!(refused["error"]["code"], -1209, "{refused}");

    let active_from = server.now_ms() + 60_000;
    store
        .add_signing_key(&SigningKeyRecord::new(
            theirs.to_config_string(),
            active_from,
        ))
        .await
        .unwrap();
    eventually(async || state.keyring.current().keys().len() == 2).await;
    ws.subscribe(&token).await;
    assert_eq!(state.keyring.current().active_kid(), ours);
    server.advance_ms(60_000);
    assert_eq!(state.keyring.current().active_kid(), theirs.kid);
    // Tokens minted here from now on are sealed with the new key.
    let (minted, _) = server.token(&key, None, None).await;
    let theirs_only = KeyRing::new(vec![theirs]).unwrap();
    assert!(theirs_only.open(&minted).is_ok());
}
