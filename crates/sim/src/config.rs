//! What the simulated exchange trades and charges: symbols with Binance's filters, commissions,
//! slippage, liquidity, interest, leverage and margin level thresholds.

use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The simulator's settings. Build with [`SimConfig::default`] and change fields.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The tradable symbols (all of them are margin pairs, cross and isolated).
    pub symbols: Vec<SymbolRules>,
    /// Commission rate of a maker fill, charged in the received asset.
    pub maker_commission: Decimal,
    /// Commission rate of a taker fill, charged in the received asset.
    pub taker_commission: Decimal,
    /// Fraction the price moves against a taker per consumed price level.
    pub slippage: Decimal,
    /// Quote value one price level offers per fill: bigger orders fill in several fills.
    pub liquidity: Decimal,
    /// Hourly interest rate per asset; assets not listed use `default_hourly_interest_rate`.
    pub hourly_interest_rates: BTreeMap<String, Decimal>,
    /// Hourly interest rate of assets without their own entry (0.0001 a day / 24).
    pub default_hourly_interest_rate: Decimal,
    /// Cross margin leverage (Binance's Cross Margin Classic: 3x).
    pub cross_leverage: Decimal,
    /// Isolated margin leverage (our choice: 5x).
    pub isolated_leverage: Decimal,
    /// Margin level at or above which an account is `EXCESSIVE`.
    pub excessive_level: Decimal,
    /// Margin level at or above which an account is `NORMAL` (below: `MARGIN_CALL`).
    pub margin_call_level: Decimal,
    /// Margin level below which an account is `PRE_LIQUIDATION`.
    pub pre_liquidation_level: Decimal,
    /// Margin level below which an account is `FORCE_LIQUIDATION` (no liquidation is simulated).
    pub force_liquidation_level: Decimal,
    /// Most a user may owe of one asset, in that asset (the `borrowLimit` of maxBorrowable).
    pub borrow_limit: Decimal,
    /// MAX_NUM_ORDERS `maxNumOrders`: most open orders one account may have on one symbol (an
    /// OCO counts its two legs). Binance's: 200.
    pub max_num_orders: usize,
    /// Most closed orders, closed OCO lists and trades kept per account, each: beyond it the
    /// oldest (lowest id) are dropped and queries no longer find them. Open orders and
    /// executing lists are never dropped.
    pub max_history: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            symbols: default_symbols(),
            maker_commission: Decimal::new(1, 3),
            taker_commission: Decimal::new(1, 3),
            slippage: Decimal::new(5, 4),
            liquidity: Decimal::new(50_000, 0),
            hourly_interest_rates: BTreeMap::new(),
            default_hourly_interest_rate: Decimal::new(417, 8),
            cross_leverage: Decimal::new(3, 0),
            isolated_leverage: Decimal::new(5, 0),
            excessive_level: Decimal::new(2, 0),
            margin_call_level: Decimal::new(13, 1),
            pre_liquidation_level: Decimal::new(12, 1),
            force_liquidation_level: Decimal::new(11, 1),
            borrow_limit: Decimal::new(1_000_000_000, 0),
            max_num_orders: 200,
            max_history: 10_000,
        }
    }
}

impl SimConfig {
    /// The hourly interest rate of `asset`.
    pub fn hourly_rate(&self, asset: &str) -> Decimal {
        self.hourly_interest_rates
            .get(asset)
            .copied()
            .unwrap_or(self.default_hourly_interest_rate)
    }
}

/// One symbol and its filters (PRICE_FILTER, LOT_SIZE, NOTIONAL), as exchangeInfo shows them.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SymbolRules {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    /// PRICE_FILTER `tickSize` (also `minPrice`).
    pub tick_size: Decimal,
    /// LOT_SIZE `stepSize`.
    pub step_size: Decimal,
    /// LOT_SIZE `minQty`.
    pub min_qty: Decimal,
    /// LOT_SIZE `maxQty`.
    pub max_qty: Decimal,
    /// NOTIONAL `minNotional` (price × quantity, in the quote asset).
    pub min_notional: Decimal,
    pub initial_price: Decimal,
}

/// Highest price anything may have (PRICE_FILTER `maxPrice`): keeps products far from overflow.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

impl SymbolRules {
    /// Filters derived from the price: a tick of about 1/10 000 of the price (at most 0.01), a
    /// step worth about one quote unit (at most 1), minQty = step, maxQty = 900 000 000 steps,
    /// and a minNotional of 5 for dollar quotes (0.0001 BTC, 0.001 ETH, 0.01 BNB, else 100 ticks).
    pub fn new(
        symbol: impl Into<String>,
        base: impl Into<String>,
        quote: impl Into<String>,
        initial_price: Decimal,
    ) -> Self {
        let price = if initial_price > Decimal::ZERO {
            initial_price
        } else {
            Decimal::ONE
        };
        let magnitude = magnitude(price);
        let tick = pow10(magnitude - 4).clamp(Decimal::new(1, 8), Decimal::new(1, 2));
        let ceil_magnitude = if pow10(magnitude) == price {
            magnitude
        } else {
            magnitude + 1
        };
        let step = pow10(-ceil_magnitude).clamp(Decimal::new(1, 8), Decimal::ONE);
        let quote = quote.into();
        let min_notional = match quote.as_str() {
            "USDT" | "FDUSD" | "USDC" => Decimal::new(5, 0),
            "BTC" => Decimal::new(1, 4),
            "ETH" => Decimal::new(1, 3),
            "BNB" => Decimal::new(1, 2),
            _ => tick * Decimal::new(100, 0),
        };
        SymbolRules {
            symbol: symbol.into(),
            base: base.into(),
            quote,
            tick_size: tick,
            step_size: step,
            min_qty: step,
            max_qty: step * Decimal::new(900_000_000, 0),
            min_notional,
            initial_price,
        }
    }

    /// `price` on this symbol's tick: the nearest multiple (half to even), at least one tick
    /// and at most the highest multiple of the tick not above [`MAX_PRICE`]. For prices from
    /// elsewhere (a recording) before [`Simulator::set_price`](crate::Simulator::set_price),
    /// which refuses a price off the tick.
    pub fn on_tick(&self, price: Decimal) -> Decimal {
        if self.tick_size <= Decimal::ZERO {
            return price.min(MAX_PRICE);
        }
        crate::feed::on_tick(price, self.tick_size).unwrap_or(self.tick_size)
    }

    /// The same rules with Binance's own tick and step.
    fn with_filters(mut self, tick: Decimal, step: Decimal) -> Self {
        self.tick_size = tick;
        self.step_size = step;
        self.min_qty = step;
        self.max_qty = step * Decimal::new(900_000_000, 0);
        self
    }
}

/// floor(log10(x)) for x > 0.
fn magnitude(x: Decimal) -> i32 {
    let mut m = 0;
    let mut v = x;
    let ten = Decimal::TEN;
    while v >= ten {
        v /= ten;
        m += 1;
    }
    while v < Decimal::ONE && m > -28 {
        v *= ten;
        m -= 1;
    }
    m
}

/// 10^e for e in -28..=28.
fn pow10(e: i32) -> Decimal {
    let e = e.clamp(-28, 28);
    if e >= 0 {
        Decimal::from_i128_with_scale(10i128.pow(e.unsigned_abs()), 0)
    } else {
        Decimal::new(1, e.unsigned_abs())
    }
}

fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

/// The server's symbol list with prices of late 2025 and Binance's ticks and steps.
pub fn default_symbols() -> Vec<SymbolRules> {
    vec![
        SymbolRules::new("BTCUSDT", "BTC", "USDT", d(9_500_000, 2)).with_filters(d(1, 2), d(1, 5)),
        SymbolRules::new("ETHUSDT", "ETH", "USDT", d(320_000, 2)).with_filters(d(1, 2), d(1, 4)),
        SymbolRules::new("BNBUSDT", "BNB", "USDT", d(90_000, 2)).with_filters(d(1, 2), d(1, 3)),
        SymbolRules::new("SOLUSDT", "SOL", "USDT", d(14_000, 2)).with_filters(d(1, 2), d(1, 3)),
        SymbolRules::new("XRPUSDT", "XRP", "USDT", d(22_000, 4)).with_filters(d(1, 4), d(1, 1)),
        SymbolRules::new("DOGEUSDT", "DOGE", "USDT", d(15_000, 5)).with_filters(d(1, 5), d(1, 0)),
        SymbolRules::new("ADAUSDT", "ADA", "USDT", d(4_200, 4)).with_filters(d(1, 4), d(1, 1)),
        SymbolRules::new("TRXUSDT", "TRX", "USDT", d(2_800, 4)).with_filters(d(1, 4), d(1, 1)),
        SymbolRules::new("LTCUSDT", "LTC", "USDT", d(8_500, 2)).with_filters(d(1, 2), d(1, 3)),
        SymbolRules::new("BTCFDUSD", "BTC", "FDUSD", d(9_500_000, 2))
            .with_filters(d(1, 2), d(1, 5)),
        SymbolRules::new("ETHBTC", "ETH", "BTC", d(3_400, 5)).with_filters(d(1, 5), d(1, 4)),
        SymbolRules::new("BNBBTC", "BNB", "BTC", d(9_500, 6)).with_filters(d(1, 6), d(1, 3)),
        SymbolRules::new("LTCBTC", "LTC", "BTC", d(900, 6)).with_filters(d(1, 6), d(1, 3)),
        SymbolRules::new("BNBETH", "BNB", "ETH", d(2_800, 4)).with_filters(d(1, 4), d(1, 3)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_derives_filters_from_the_price() {
        let rules = SymbolRules::new("BTCUSDT", "BTC", "USDT", Decimal::new(9_500_000, 2));
        assert_eq!(rules.tick_size, Decimal::new(1, 2));
        assert_eq!(rules.step_size, Decimal::new(1, 5));
        assert_eq!(rules.min_notional, Decimal::new(5, 0));
        let rules = SymbolRules::new("XRPUSDT", "XRP", "USDT", Decimal::new(22_000, 4));
        assert_eq!(rules.tick_size, Decimal::new(1, 4));
        assert_eq!(rules.step_size, Decimal::new(1, 1));
    }

    #[test]
    fn defaults_cover_the_server_list() {
        let symbols: Vec<String> = default_symbols().into_iter().map(|s| s.symbol).collect();
        assert_eq!(symbols.len(), 14);
        assert!(symbols.contains(&"BNBETH".to_string()));
    }
}
