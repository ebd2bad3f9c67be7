//! One margin account's balances: per asset free, locked, borrowed and interest.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use userstream_protocol::events::{Balance, MarginLevelStatus, OutboundAccountPosition};

use crate::num::text;

/// One asset of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetBalance {
    pub free: Decimal,
    pub locked: Decimal,
    pub borrowed: Decimal,
    pub interest: Decimal,
    /// Hour index (µs / 3 600 000 000) up to which interest was charged.
    pub interest_hour: Option<i64>,
}

impl AssetBalance {
    /// What the account owns of the asset.
    pub fn total(&self) -> Decimal {
        self.free + self.locked
    }

    /// What the account owes of the asset.
    pub fn liability(&self) -> Decimal {
        self.borrowed + self.interest
    }

    /// `netAsset`: owned minus owed.
    pub fn net(&self) -> Decimal {
        self.total() - self.liability()
    }
}

/// A margin account (cross, or one isolated pair).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub assets: BTreeMap<String, AssetBalance>,
    /// Last margin level status reported (cross accounts); `None` until the first check.
    pub status: Option<MarginLevelStatus>,
    /// Time of the last balance change, µs.
    pub updated_us: i64,
}

impl Ledger {
    /// The asset's balances (zero when never touched).
    pub fn get(&self, asset: &str) -> AssetBalance {
        self.assets.get(asset).cloned().unwrap_or_default()
    }

    /// The asset's balances, created on first use.
    pub fn entry(&mut self, asset: &str) -> &mut AssetBalance {
        self.assets.entry(asset.to_owned()).or_default()
    }

    pub fn free(&self, asset: &str) -> Decimal {
        self.assets.get(asset).map_or(Decimal::ZERO, |b| b.free)
    }

    /// Moves `amount` from free to locked.
    pub fn lock(&mut self, asset: &str, amount: Decimal) {
        let balance = self.entry(asset);
        balance.free -= amount;
        balance.locked += amount;
    }

    /// Moves `amount` from locked back to free.
    pub fn unlock(&mut self, asset: &str, amount: Decimal) {
        let balance = self.entry(asset);
        balance.locked -= amount;
        balance.free += amount;
    }

    /// `outboundAccountPosition` listing `changed` assets with their balances now.
    pub fn position(&self, changed: &BTreeSet<String>, now_us: i64) -> OutboundAccountPosition {
        OutboundAccountPosition {
            event_time_us: now_us,
            last_update_time_us: now_us,
            balances: changed
                .iter()
                .map(|asset| {
                    let balance = self.get(asset);
                    Balance {
                        asset: asset.clone(),
                        free: text(balance.free),
                        locked: text(balance.locked),
                    }
                })
                .collect(),
        }
    }
}
