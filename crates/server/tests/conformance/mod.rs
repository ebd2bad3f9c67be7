//! The contract of the backend seam, one suite for every backend: a store and a bus made by
//! `make` must pass all of it. The embedded backends run it in `tests/backends_conformance.rs`;
//! a clustered backend adds a call there with its own `make`.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use userstream_protocol::Account;
use userstream_protocol::events::{BalanceUpdate, Event};
use userstream_server::bus::{AccountEvent, Bus, BusError, Delivery, Listen, Published};
use userstream_server::store::{
    FIRST_UID, NewApiKey, SigningKeyRecord, Store, StoreChange, StoreError,
};

/// Longest wait for a change on a feed; reached only when the backend is broken.
const FEED_WAIT: Duration = Duration::from_secs(5);

fn new_key(name: &str, uid: Option<u64>) -> NewApiKey {
    NewApiKey {
        api_key: format!("{name:A<64}"),
        secret_key: format!("{name:S<64}"),
        uid,
        label: Some(name.to_owned()),
        created_at_ms: 1,
    }
}

async fn next_change(feed: &mut broadcast::Receiver<StoreChange>) -> StoreChange {
    tokio::time::timeout(FEED_WAIT, feed.recv())
        .await
        .expect("the store's feed told nothing")
        .expect("the store's feed closed or fell behind")
}

/// Everything a store must do, on a fresh, empty store.
pub async fn store_contract(store: Arc<dyn Store>) {
    let empty = store.load().await.unwrap();
    assert!(empty.keys.is_empty() && empty.isolated.is_empty());
    let mut feed = store.watch();

    // Keys: ids and UIDs assigned, a chosen UID kept, a repeated key refused.
    let first = store.insert_key(new_key("first", None)).await.unwrap();
    assert_eq!(first.uid, FIRST_UID);
    assert_eq!(first.revoked_at_ms, None);
    let second = store.insert_key(new_key("second", None)).await.unwrap();
    assert_eq!(second.uid, FIRST_UID + 1);
    assert_ne!(first.id, second.id);
    let chosen = store.insert_key(new_key("chosen", Some(42))).await.unwrap();
    assert_eq!(chosen.uid, 42);
    assert!(matches!(
        store.insert_key(new_key("first", None)).await,
        Err(StoreError::DuplicateKey)
    ));
    for key in [&first, &second, &chosen] {
        assert_eq!(
            next_change(&mut feed).await,
            StoreChange::KeyCreated(key.clone())
        );
    }

    // Isolated accounts: opened once.
    assert!(store.open_isolated(42, "BNBUSDT").await.unwrap());
    assert!(!store.open_isolated(42, "BNBUSDT").await.unwrap());
    assert_eq!(
        next_change(&mut feed).await,
        StoreChange::IsolatedOpened {
            uid: 42,
            symbol: "BNBUSDT".into()
        }
    );

    // Revocation: unknown keys are `None`, the first time stays.
    assert!(
        store
            .revoke_key(&"x".repeat(64), 5)
            .await
            .unwrap()
            .is_none()
    );
    let revoked = store
        .revoke_key(&second.api_key, 99)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(99));
    let again = store
        .revoke_key(&second.api_key, 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at_ms, Some(99));
    assert_eq!(
        next_change(&mut feed).await,
        StoreChange::KeyRevoked(revoked)
    );

    // Signing keys: added once; another key with a kid in use is refused.
    let signing = SigningKeyRecord::new("1:c2lnbmluZw==", 0);
    let next = SigningKeyRecord::new("2:bmV4dA==", 1_000);
    store.add_signing_key(&signing).await.unwrap();
    store.add_signing_key(&signing).await.unwrap();
    assert!(matches!(
        store
            .add_signing_key(&SigningKeyRecord::new("1:b3RoZXI=", 0))
            .await,
        Err(StoreError::Conflict(_))
    ));
    store.add_signing_key(&next).await.unwrap();
    assert_eq!(
        next_change(&mut feed).await,
        StoreChange::SigningKeyAdded(signing.clone())
    );
    assert_eq!(
        next_change(&mut feed).await,
        StoreChange::SigningKeyAdded(next.clone())
    );
    // Nothing else was told: the repeated writes changed nothing.
    assert!(matches!(
        feed.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    ));

    // A fresh read holds all of it.
    let snapshot = store.load().await.unwrap();
    let mut ids: Vec<u64> = snapshot.keys.iter().map(|key| key.id).collect();
    ids.sort();
    assert_eq!(ids.len(), 3);
    let stored = snapshot
        .keys
        .iter()
        .find(|key| key.id == second.id)
        .unwrap();
    assert_eq!(stored.revoked_at_ms, Some(99));
    assert_eq!(snapshot.isolated, vec![(42, "BNBUSDT".to_owned())]);
    assert_eq!(snapshot.signing_keys, vec![signing, next]);
}

/// A delivery side that records what it is handed.
#[derive(Default)]
struct Recorder {
    delivered: parking_lot::Mutex<Vec<AccountEvent>>,
}

impl Delivery for Recorder {
    fn deliver(&self, event: &AccountEvent) -> usize {
        self.delivered.lock().push(event.clone());
        1
    }

    fn lost(&self) -> usize {
        0
    }
}

fn balance_update(account: Account, delta: &str) -> AccountEvent {
    AccountEvent {
        account,
        event: Event::BalanceUpdate(BalanceUpdate {
            event_time_us: 1,
            asset: "BTC".into(),
            balance_delta: delta.parse().unwrap(),
            clear_time_us: 1,
        }),
    }
}

/// Everything a bus must do: refuse to publish before it is attached; then, once it listens for
/// an account (as the hub's first subscriber makes it), hand every event of that account to its
/// delivery side exactly once and in publish order, and say what it knows of the publish.
pub async fn bus_contract(bus: Arc<dyn Bus>) {
    let cross = Account::cross(7);
    let isolated = Account::isolated(7, "BNBUSDT");
    let unheard = Account::cross(8);
    let early = bus.publish(vec![balance_update(cross.clone(), "0")]).await;
    assert!(matches!(early, Err(BusError::Unavailable(_))), "{early:?}");

    let recorder = Arc::new(Recorder::default());
    bus.attach(Arc::clone(&recorder) as Arc<dyn Delivery>);
    // As the subscribe method and the hub do: listen, take the interest, let go of the hold.
    for account in [&cross, &isolated] {
        let listening = match bus.listen(account) {
            Listen::Ready(listening) => listening,
            Listen::Pending(confirmed) => tokio::time::timeout(FEED_WAIT, confirmed)
                .await
                .expect("the bus never confirmed")
                .expect("the bus refused to listen"),
        };
        bus.interest(account, true);
        drop(listening);
    }
    let batch: Vec<AccountEvent> = (1..=6)
        .map(|n| {
            let account = match n % 3 {
                0 => &isolated,
                1 => &cross,
                _ => &unheard,
            };
            balance_update(account.clone(), &n.to_string())
        })
        .collect();
    let published = bus.publish(batch.clone()).await.unwrap();
    let heard: Vec<AccountEvent> = batch
        .iter()
        .filter(|item| item.account != unheard)
        .cloned()
        .collect();
    let deadline = tokio::time::Instant::now() + FEED_WAIT;
    while recorder.delivered.lock().len() < heard.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not everything was delivered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Each account's events in publish order; accounts may interleave on a clustered bus.
    for account in [&cross, &isolated] {
        let of = |items: &[AccountEvent]| -> Vec<AccountEvent> {
            items
                .iter()
                .filter(|item| item.account == *account)
                .cloned()
                .collect()
        };
        assert_eq!(of(&recorder.delivered.lock()), of(&heard));
    }
    match published {
        // The in-process bus hands every event to its one hub, which counts its subscribers.
        Published::Delivered { subscriptions } => assert_eq!(subscriptions, batch.len()),
        Published::Accepted | Published::Persisted => {
            // A clustered bus delivers only what this node listens for, and nothing twice:
            // a marker published after everything else arrives last.
            let marker = balance_update(cross.clone(), "99");
            bus.publish(vec![marker.clone()]).await.unwrap();
            let deadline = tokio::time::Instant::now() + FEED_WAIT;
            while recorder.delivered.lock().last() != Some(&marker) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the marker never came"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(recorder.delivered.lock().len(), heard.len() + 1);
        }
        other => panic!("unexpected publish outcome {other:?}"),
    }
    bus.interest(&cross, false);
    bus.interest(&isolated, false);
}
