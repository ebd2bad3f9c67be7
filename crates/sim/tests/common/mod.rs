//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use userstream_protocol::events::{
    Event, ExecutionReport, ListStatus, MarginLevelStatusChange, OutboundAccountPosition,
    UserLiabilityChange,
};
use userstream_sim::{AccountEvent, Decimal, SimConfig, Simulator};

pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn sim() -> Simulator {
    Simulator::new(SimConfig::default())
}

/// The event types in order, e.g. `["executionReport", "outboundAccountPosition"]`.
pub fn kinds(events: &[AccountEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.event_type()).collect()
}

pub fn report(event: &AccountEvent) -> &ExecutionReport {
    match &event.event {
        Event::ExecutionReport(r) => r,
        other => panic!("not an executionReport: {other:?}"),
    }
}

pub fn position(event: &AccountEvent) -> &OutboundAccountPosition {
    match &event.event {
        Event::OutboundAccountPosition(p) => p,
        other => panic!("not an outboundAccountPosition: {other:?}"),
    }
}

pub fn list(event: &AccountEvent) -> &ListStatus {
    match &event.event {
        Event::ListStatus(l) => l,
        other => panic!("not a listStatus: {other:?}"),
    }
}

pub fn liability(event: &AccountEvent) -> &UserLiabilityChange {
    match &event.event {
        Event::UserLiabilityChange(l) => l,
        other => panic!("not a USER_LIABILITY_CHANGE: {other:?}"),
    }
}

pub fn level(event: &AccountEvent) -> &MarginLevelStatusChange {
    match &event.event {
        Event::MarginLevelStatusChange(l) => l,
        other => panic!("not a MARGIN_LEVEL_STATUS_CHANGE: {other:?}"),
    }
}

/// (asset, free, locked) texts of a position.
pub fn balances(event: &AccountEvent) -> Vec<(String, String, String)> {
    position(event)
        .balances
        .iter()
        .map(|b| (b.asset.clone(), b.free.to_string(), b.locked.to_string()))
        .collect()
}

pub fn b(asset: &str, free: &str, locked: &str) -> (String, String, String) {
    (asset.to_owned(), free.to_owned(), locked.to_owned())
}
