//! Balance events: `outboundAccountPosition` and `balanceUpdate`.

use super::EventError;
use super::json::{Reader, Writer};
use crate::decimal::Decimal;
use crate::time::TimeUnit;

/// The balances of the assets that changed in an account update.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundAccountPosition {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `u`: time of the last account update.
    pub last_update_time_us: i64,
    /// `B`: the changed balances.
    pub balances: Vec<Balance>,
}

/// One entry of `outboundAccountPosition.B`.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// `a`: asset.
    pub asset: String,
    /// `f`: free amount.
    pub free: Decimal,
    /// `l`: locked amount.
    pub locked: Decimal,
}

impl OutboundAccountPosition {
    pub const EVENT_TYPE: &'static str = "outboundAccountPosition";

    pub(super) fn read(
        r: &mut Reader,
        event_time_us: i64,
        unit: TimeUnit,
    ) -> Result<Self, EventError> {
        Ok(OutboundAccountPosition {
            event_time_us,
            last_update_time_us: r.time("u", "last account update time", unit)?,
            balances: r.list("B", "balances", |b| {
                Ok(Balance {
                    asset: b.req("a", "asset")?,
                    free: b.req("f", "free")?,
                    locked: b.req("l", "locked")?,
                })
            })?,
        })
    }

    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.time("u", self.last_update_time_us, unit);
        w.list("B", &self.balances, |w, balance| {
            w.str("a", &balance.asset);
            w.dec("f", &balance.free);
            w.dec("l", &balance.locked);
        });
        w.end();
    }
}

/// A deposit, withdrawal or transfer changed one asset's balance.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceUpdate {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `a`: asset.
    pub asset: String,
    /// `d`: balance delta (negative for a debit).
    pub balance_delta: Decimal,
    /// `T`: clear time.
    pub clear_time_us: i64,
}

impl BalanceUpdate {
    pub const EVENT_TYPE: &'static str = "balanceUpdate";

    pub(super) fn read(
        r: &mut Reader,
        event_time_us: i64,
        unit: TimeUnit,
    ) -> Result<Self, EventError> {
        Ok(BalanceUpdate {
            event_time_us,
            asset: r.req("a", "asset")?,
            balance_delta: r.req("d", "balance delta")?,
            clear_time_us: r.time("T", "clear time", unit)?,
        })
    }

    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.str("a", &self.asset);
        w.dec("d", &self.balance_delta);
        w.time("T", self.clear_time_us, unit);
        w.end();
    }
}
