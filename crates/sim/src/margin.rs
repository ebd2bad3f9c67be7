//! Valuation, margin level, its status and how much may be borrowed.
//!
//! Every asset is valued in USDT at the current prices: directly through `<ASSET>USDT`, else
//! through one pair whose other side has a USDT price. Totals in BTC divide by BTCUSDT.

use rust_decimal::Decimal;
use std::collections::BTreeMap;
use userstream_protocol::events::MarginLevelStatus;

use crate::config::{SimConfig, SymbolRules};
use crate::events::code;
use crate::ledger::Ledger;
use crate::num::{div, mul, q8_down};

/// Margin level shown when nothing is owed (Binance shows 999).
pub const NO_DEBT_LEVEL: Decimal = Decimal::from_parts(999, 0, 0, false, 0);

/// The prices and pairs valuation needs.
pub struct Valuer<'a> {
    pub prices: &'a BTreeMap<String, Decimal>,
    pub symbols: &'a [SymbolRules],
}

impl Valuer<'_> {
    fn direct(&self, asset: &str) -> Option<Decimal> {
        if asset == "USDT" {
            return Some(Decimal::ONE);
        }
        self.prices.get(&format!("{asset}USDT")).copied()
    }

    /// Price of one unit of `asset` in USDT (zero when it cannot be valued).
    pub fn usdt(&self, asset: &str) -> Decimal {
        if let Some(price) = self.direct(asset) {
            return price;
        }
        for rules in self.symbols {
            let Some(&price) = self.prices.get(&rules.symbol) else {
                continue;
            };
            if rules.base == asset
                && let Some(quote) = self.direct(&rules.quote)
            {
                return mul(price, quote);
            }
            if rules.quote == asset
                && let Some(base) = self.direct(&rules.base)
                && let Some(value) = div(base, price)
            {
                return value;
            }
        }
        Decimal::ZERO
    }

    /// A USDT value in BTC (zero when BTC has no price).
    pub fn in_btc(&self, usdt: Decimal) -> Decimal {
        div(usdt, self.usdt("BTC")).unwrap_or(Decimal::ZERO)
    }

    /// (owned, owed) of the account in USDT.
    pub fn totals(&self, ledger: &Ledger) -> (Decimal, Decimal) {
        let mut owned = Decimal::ZERO;
        let mut owed = Decimal::ZERO;
        for (asset, balance) in &ledger.assets {
            let price = self.usdt(asset);
            owned = owned.saturating_add(mul(balance.total(), price));
            owed = owed.saturating_add(mul(balance.liability(), price));
        }
        (owned, owed)
    }

    /// owned / owed; `None` when nothing is owed.
    pub fn level(&self, ledger: &Ledger) -> Option<Decimal> {
        let (owned, owed) = self.totals(ledger);
        if owed <= Decimal::ZERO {
            return None;
        }
        div(owned, owed)
    }

    /// The most of `asset` the account may still borrow at `leverage`: debts may reach
    /// (leverage − 1) × net equity, and one asset's debt `config.borrow_limit`.
    pub fn max_borrowable(
        &self,
        ledger: &Ledger,
        asset: &str,
        leverage: Decimal,
        config: &SimConfig,
    ) -> Decimal {
        let (owned, owed) = self.totals(ledger);
        let equity = owned.saturating_sub(owed);
        let room = mul(equity, leverage - Decimal::ONE).saturating_sub(owed);
        let price = self.usdt(asset);
        if room <= Decimal::ZERO || price <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let by_margin = q8_down(div(room, price).unwrap_or(Decimal::ZERO));
        let by_limit = config.borrow_limit - ledger.get(asset).borrowed;
        by_margin.min(by_limit).max(Decimal::ZERO)
    }
}

/// The status of a margin level (`None`: nothing owed).
pub fn status(level: Option<Decimal>, config: &SimConfig) -> MarginLevelStatus {
    let text = match level {
        None => "EXCESSIVE",
        Some(level) if level >= config.excessive_level => "EXCESSIVE",
        Some(level) if level >= config.margin_call_level => "NORMAL",
        Some(level) if level >= config.pre_liquidation_level => "MARGIN_CALL",
        Some(level) if level >= config.force_liquidation_level => "PRE_LIQUIDATION",
        Some(_) => "FORCE_LIQUIDATION",
    };
    code(MarginLevelStatus::parse, text)
}
