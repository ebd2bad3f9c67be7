//! Margin risk events (Binance's separate risk stream, carried here as an extension):
//! `MARGIN_LEVEL_STATUS_CHANGE` and `USER_LIABILITY_CHANGE`.

use super::EventError;
use super::enums::{LiabilityType, MarginLevelStatus};
use super::json::{Reader, Writer};
use crate::decimal::Decimal;
use crate::time::TimeUnit;

/// The margin level of a cross margin account crossed a threshold (margin call).
#[derive(Debug, Clone, PartialEq)]
pub struct MarginLevelStatusChange {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `l`: margin level, e.g. `"1.1"`.
    pub margin_level: Decimal,
    /// `s`: margin level status, e.g. `MARGIN_CALL`.
    pub status: MarginLevelStatus,
}

impl MarginLevelStatusChange {
    pub const EVENT_TYPE: &'static str = "MARGIN_LEVEL_STATUS_CHANGE";

    pub(super) fn read(r: &mut Reader, event_time_us: i64) -> Result<Self, EventError> {
        Ok(MarginLevelStatusChange {
            event_time_us,
            margin_level: r.req("l", "margin level")?,
            status: r.req("s", "margin level status")?,
        })
    }

    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.dec("l", &self.margin_level);
        w.str("s", self.status.as_str());
        w.end();
    }
}

/// A liability changed through borrowing, repayment or interest.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLiabilityChange {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `a`: asset.
    pub asset: String,
    /// `t`: liability type, e.g. `BORROW`.
    pub liability_type: LiabilityType,
    /// `p`: principal quantity.
    pub principal: Decimal,
    /// `i`: interest quantity.
    pub interest: Decimal,
}

impl UserLiabilityChange {
    pub const EVENT_TYPE: &'static str = "USER_LIABILITY_CHANGE";

    pub(super) fn read(r: &mut Reader, event_time_us: i64) -> Result<Self, EventError> {
        Ok(UserLiabilityChange {
            event_time_us,
            asset: r.req("a", "asset")?,
            liability_type: r.req("t", "liability type")?,
            principal: r.req("p", "principal")?,
            interest: r.req("i", "interest")?,
        })
    }

    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.str("a", &self.asset);
        w.str("t", self.liability_type.as_str());
        w.dec("p", &self.principal);
        w.dec("i", &self.interest);
        w.end();
    }
}
