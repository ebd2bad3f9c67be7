//! The liquidity model: how an order fills against the simulated price.
//!
//! There is no order book of other traders. A taker consumes price levels: level k (1, 2, …)
//! sits at the price moved k × `slippage` against the taker (rounded to the tick, away from the
//! taker's favour) and offers `liquidity` quote value. A limit taker stops at its limit price
//! (its first level fills at the limit when even level 1 is beyond it). A resting order fills
//! as maker at its own price, one level's worth per price move that crosses it.

use rust_decimal::Decimal;
use userstream_protocol::events::Side;

use crate::config::SymbolRules;
use crate::num::{ceil_to, div, floor_to, q8};

/// Most levels one taker order consumes; what is left then expires.
pub const MAX_LEVELS: u32 = 1000;

/// How much a taker wants.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A base quantity.
    Base(Decimal),
    /// A quote amount to spend or receive (`quoteOrderQty`).
    Quote(Decimal),
}

/// One planned fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub price: Decimal,
    pub qty: Decimal,
}

/// The market parameters of a plan.
pub struct Book<'a> {
    pub rules: &'a SymbolRules,
    pub market: Decimal,
    pub slippage: Decimal,
    pub liquidity: Decimal,
}

impl Book<'_> {
    /// Base quantity one level at `price` offers: `liquidity` worth, at least one step.
    pub fn level_qty(&self, price: Decimal) -> Decimal {
        let qty = div(self.liquidity, price)
            .and_then(|q| floor_to(q, self.rules.step_size))
            .unwrap_or(Decimal::ZERO);
        qty.max(self.rules.step_size)
    }

    /// Price of level `k` for a taker on `side`; `None` when the arithmetic overflows (the
    /// plan then stops).
    fn level_price(&self, side: Side, k: u32) -> Option<Decimal> {
        let shift = self.slippage.checked_mul(Decimal::from(k))?;
        match side {
            Side::Buy => ceil_to(
                self.market.checked_mul(Decimal::ONE.checked_add(shift)?)?,
                self.rules.tick_size,
            ),
            Side::Sell => floor_to(
                self.market.checked_mul(Decimal::ONE.checked_sub(shift)?)?,
                self.rules.tick_size,
            ),
        }
    }

    /// Whether a limit order at `limit` would take now.
    pub fn marketable(&self, side: Side, limit: Decimal) -> bool {
        match side {
            Side::Buy => limit >= self.market,
            Side::Sell => limit <= self.market,
        }
    }

    /// The fills a taker gets. `budget` caps the quote a buyer can pay.
    pub fn plan(
        &self,
        side: Side,
        limit: Option<Decimal>,
        target: Target,
        budget: Option<Decimal>,
    ) -> Vec<Level> {
        let mut levels = Vec::new();
        if let Some(limit) = limit
            && !self.marketable(side, limit)
        {
            return levels;
        }
        let mut left = match target {
            Target::Base(qty) | Target::Quote(qty) => qty,
        };
        let mut spent = Decimal::ZERO;
        for k in 1..=MAX_LEVELS {
            if left <= Decimal::ZERO {
                break;
            }
            let Some(mut price) = self.level_price(side, k) else {
                break;
            };
            if let Some(limit) = limit {
                let beyond = match side {
                    Side::Buy => price > limit,
                    Side::Sell => price < limit,
                };
                if beyond {
                    if k > 1 {
                        break;
                    }
                    price = limit;
                }
            }
            if price <= Decimal::ZERO {
                break;
            }
            let offered = self.level_qty(price);
            let mut qty = match target {
                Target::Base(_) => offered.min(left),
                Target::Quote(_) => {
                    let spend = left.min(self.liquidity);
                    div(spend, price)
                        .and_then(|q| floor_to(q, self.rules.step_size))
                        .unwrap_or(Decimal::ZERO)
                }
            };
            if let Some(budget) = budget
                && side == Side::Buy
                && spent + q8(qty * price) > budget
            {
                qty = div(budget - spent, price)
                    .and_then(|q| floor_to(q, self.rules.step_size))
                    .unwrap_or(Decimal::ZERO);
                while qty > Decimal::ZERO && spent + q8(qty * price) > budget {
                    qty -= self.rules.step_size;
                }
                if qty > Decimal::ZERO {
                    levels.push(Level { price, qty });
                }
                break;
            }
            if qty <= Decimal::ZERO {
                break;
            }
            spent += q8(qty * price);
            left -= match target {
                Target::Base(_) => qty,
                Target::Quote(_) => q8(qty * price),
            };
            levels.push(Level { price, qty });
        }
        levels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(rules: &SymbolRules) -> Book<'_> {
        Book {
            rules,
            market: Decimal::new(100, 0),
            slippage: Decimal::new(1, 2),
            liquidity: Decimal::new(1000, 0),
        }
    }

    #[test]
    fn absurd_settings_plan_nothing_instead_of_panicking() {
        let rules = SymbolRules::new("XUSDT", "X", "USDT", Decimal::new(100, 0));
        let huge = Book {
            rules: &rules,
            market: Decimal::new(100, 0),
            slippage: Decimal::MAX,
            liquidity: Decimal::MAX,
        };
        let qty = Target::Base(Decimal::ONE);
        assert!(huge.plan(Side::Buy, None, qty, None).is_empty());
        assert!(huge.plan(Side::Sell, None, qty, None).is_empty());
        assert_eq!(huge.level_qty(Decimal::new(1, 8)), rules.step_size);
    }

    #[test]
    fn market_buy_walks_levels() {
        let mut rules = SymbolRules::new("XUSDT", "X", "USDT", Decimal::new(100, 0));
        rules.step_size = Decimal::new(1, 3);
        let book = book(&rules);
        let plan = book.plan(Side::Buy, None, Target::Base(Decimal::new(25, 0)), None);
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[0].price, Decimal::new(101, 0));
        assert_eq!(plan[1].price, Decimal::new(102, 0));
        let total: Decimal = plan.iter().map(|l| l.qty).sum();
        assert_eq!(total, Decimal::new(25, 0));
    }

    #[test]
    fn limit_taker_stops_at_its_price() {
        let rules = SymbolRules::new("XUSDT", "X", "USDT", Decimal::new(100, 0));
        let book = book(&rules);
        let plan = book.plan(
            Side::Buy,
            Some(Decimal::new(100, 0)),
            Target::Base(Decimal::new(50, 0)),
            None,
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].price, Decimal::new(100, 0));
        assert!(
            book.plan(
                Side::Buy,
                Some(Decimal::new(99, 0)),
                Target::Base(Decimal::ONE),
                None
            )
            .is_empty()
        );
    }
}
