//! The backend seam's conformance suite (`tests/conformance`) on every backend this build has.

mod common;
mod conformance;

use common::nats::NatsServer;

use std::sync::Arc;
use userstream_server::bus::{LocalBus, NatsBus};
use userstream_server::store::{KvSettings, KvStore, SqliteStore};
use userstream_server::{Config, SystemClock};

#[tokio::test]
async fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in(dir.path()).unwrap();
    conformance::store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn the_in_process_bus_keeps_the_bus_contract() {
    conformance::bus_contract(Arc::new(LocalBus::new())).await;
}

#[tokio::test]
async fn jetstream_kv_keeps_the_store_contract() {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let store = KvStore::open(client, &KvSettings::new("conformance", 1))
        .await
        .unwrap();
    conformance::store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn the_nats_bus_keeps_the_bus_contract() {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let (_events, connection_events) = tokio::sync::mpsc::unbounded_channel();
    let bus = NatsBus::open(
        client,
        connection_events,
        &Config::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    conformance::bus_contract(Arc::new(bus)).await;
}
