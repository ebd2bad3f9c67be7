//! The backend seam's conformance suite (`tests/conformance`) on every backend this build has.

mod conformance;

use std::sync::Arc;
use userstream_server::bus::LocalBus;
use userstream_server::store::SqliteStore;

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
