//! Read-only answers: orders, trades and accounts in Binance's REST shapes (times in ms).

use rust_decimal::Decimal;
use userstream_protocol::rest::{
    CrossMarginAccount, IsolatedAsset, IsolatedMarginAccounts, IsolatedPair, MarginAsset,
    MarginOrder, MarginTrade,
};
use userstream_protocol::{Account, Scope, Uid};

use crate::engine::{HistoryQuery, OrderRef, Simulator};
use crate::error::SimError;
use crate::margin::{NO_DEBT_LEVEL, status};
use crate::num::{mul, text};
use crate::order::Order;

/// Binance's default and largest page of allOrders / myTrades.
const DEFAULT_LIMIT: usize = 500;
const MAX_LIMIT: usize = 1000;

/// The page of `items` (ascending) a history query asks for: from an id when given, else the
/// newest `limit`.
fn page<T: Clone>(items: Vec<T>, from_given: bool, limit: Option<usize>) -> Vec<T> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    if from_given {
        items.into_iter().take(limit).collect()
    } else {
        let skip = items.len().saturating_sub(limit);
        items.into_iter().skip(skip).collect()
    }
}

fn in_window(ms: i64, query: &HistoryQuery) -> bool {
    query.start_ms.is_none_or(|start| ms >= start) && query.end_ms.is_none_or(|end| ms <= end)
}

impl Simulator {
    pub fn order(
        &self,
        account: &Account,
        symbol: &str,
        target: &OrderRef,
    ) -> Result<MarginOrder, SimError> {
        self.trading_rules(account, symbol)?;
        let id = self.find(account, symbol, target)?;
        self.orders
            .get(&id)
            .map(Order::view)
            .ok_or(SimError::OrderNotFound)
    }

    pub fn open_orders(
        &self,
        account: &Account,
        symbol: Option<&str>,
    ) -> Result<Vec<MarginOrder>, SimError> {
        if let Some(symbol) = symbol {
            self.trading_rules(account, symbol)?;
        }
        let Some(holdings) = self.holdings.get(account) else {
            return Ok(Vec::new());
        };
        Ok(holdings
            .open
            .iter()
            .filter_map(|id| self.orders.get(id))
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .map(Order::view)
            .collect())
    }

    pub fn all_orders(
        &self,
        account: &Account,
        symbol: &str,
        query: &HistoryQuery,
    ) -> Result<Vec<MarginOrder>, SimError> {
        self.trading_rules(account, symbol)?;
        let Some(holdings) = self.holdings.get(account) else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<i64> = holdings
            .open
            .iter()
            .chain(&holdings.closed)
            .copied()
            .filter(|id| query.order_id.is_none_or(|from| *id >= from))
            .collect();
        ids.sort_unstable();
        let items: Vec<MarginOrder> = ids
            .iter()
            .filter_map(|id| self.orders.get(id))
            .filter(|o| o.symbol == symbol)
            .filter(|o| in_window(o.created_us.div_euclid(1000), query))
            .map(Order::view)
            .collect();
        Ok(page(items, query.order_id.is_some(), query.limit))
    }

    pub fn my_trades(
        &self,
        account: &Account,
        symbol: &str,
        query: &HistoryQuery,
    ) -> Result<Vec<MarginTrade>, SimError> {
        self.trading_rules(account, symbol)?;
        let Some(holdings) = self.holdings.get(account) else {
            return Ok(Vec::new());
        };
        let items: Vec<MarginTrade> = holdings
            .trades
            .range(query.from_id.unwrap_or(i64::MIN)..)
            .map(|(_, trade)| trade)
            .filter(|t| t.symbol == symbol)
            .filter(|t| query.order_id.is_none_or(|id| t.order_id == id))
            .filter(|t| in_window(t.time, query))
            .cloned()
            .collect();
        Ok(page(items, query.from_id.is_some(), query.limit))
    }

    /// `GET /sapi/v1/margin/account`: every asset the account ever held, by name.
    pub fn cross_account(&self, uid: Uid) -> CrossMarginAccount {
        let ledger = self.ledger(&Account::cross(uid));
        let valuer = self.valuer();
        let (owned, owed) = valuer.totals(&ledger);
        let level = valuer.level(&ledger);
        CrossMarginAccount {
            created: true,
            borrow_enabled: true,
            margin_level: text(level.unwrap_or(NO_DEBT_LEVEL)),
            collateral_margin_level: Some(text(level.unwrap_or(NO_DEBT_LEVEL))),
            total_asset_of_btc: text(valuer.in_btc(owned)),
            total_liability_of_btc: text(valuer.in_btc(owed)),
            total_net_asset_of_btc: text(valuer.in_btc(owned.saturating_sub(owed))),
            total_collateral_value_in_usdt: Some(text(owned)),
            total_open_order_loss_in_usdt: Some(text(Decimal::ZERO)),
            trade_enabled: true,
            transfer_in_enabled: true,
            transfer_out_enabled: true,
            account_type: Some("MARGIN_1".to_owned()),
            user_assets: ledger
                .assets
                .iter()
                .map(|(asset, b)| MarginAsset {
                    asset: asset.clone(),
                    borrowed: text(b.borrowed),
                    free: text(b.free),
                    interest: text(b.interest),
                    locked: text(b.locked),
                    net_asset: text(b.net()),
                })
                .collect(),
        }
    }

    /// The isolated pairs of `uid` the simulator has touched (funded or traded in).
    pub fn isolated_pairs(&self, uid: Uid) -> Vec<String> {
        self.accounts
            .keys()
            .filter(|a| a.uid == uid)
            .filter_map(|a| match &a.scope {
                Scope::Isolated(symbol) => Some(symbol.clone()),
                Scope::Cross => None,
            })
            .collect()
    }

    /// `GET /sapi/v1/margin/isolated/account` for the pairs `symbols` (shown even when empty:
    /// which pairs a user opened is the server's to know), with the totals when `with_totals`
    /// (Binance adds them when the request named no pair).
    pub fn isolated_accounts(
        &self,
        uid: Uid,
        symbols: &[String],
        with_totals: bool,
    ) -> Result<IsolatedMarginAccounts, SimError> {
        for symbol in symbols {
            if self.rules(symbol).is_none() {
                return Err(SimError::BadSymbol);
            }
        }
        let pairs = symbols.to_vec();
        let valuer = self.valuer();
        let mut assets = Vec::new();
        let (mut owned_all, mut owed_all) = (Decimal::ZERO, Decimal::ZERO);
        for symbol in pairs {
            let Some(rules) = self.rules(&symbol) else {
                continue;
            };
            let account = Account::isolated(uid, symbol.clone());
            let ledger = self.ledger(&account);
            let (owned, owed) = valuer.totals(&ledger);
            owned_all = owned_all.saturating_add(owned);
            owed_all = owed_all.saturating_add(owed);
            let level = valuer.level(&ledger);
            let side = |asset: &str| {
                let b = ledger.get(asset);
                IsolatedAsset {
                    asset: asset.to_owned(),
                    borrow_enabled: true,
                    borrowed: text(b.borrowed),
                    free: text(b.free),
                    interest: text(b.interest),
                    locked: text(b.locked),
                    net_asset: text(b.net()),
                    net_asset_of_btc: text(valuer.in_btc(mul(b.net(), valuer.usdt(asset)))),
                    repay_enabled: true,
                    total_asset: text(b.total()),
                }
            };
            assets.push(IsolatedPair {
                base_asset: side(&rules.base),
                quote_asset: side(&rules.quote),
                symbol: symbol.clone(),
                // The caller names the pairs the user opened (the server's directory knows).
                isolated_created: true,
                enabled: true,
                margin_level: text(level.unwrap_or(NO_DEBT_LEVEL)),
                margin_level_status: status(level, &self.config).as_str().to_owned(),
                margin_ratio: text(self.config.isolated_leverage),
                index_price: text(self.price(&symbol).unwrap_or(rules.initial_price)),
                liquidate_price: text(Decimal::ZERO),
                liquidate_rate: text(Decimal::ZERO),
                trade_enabled: true,
            });
        }
        let totals = with_totals;
        Ok(IsolatedMarginAccounts {
            assets,
            total_asset_of_btc: totals.then(|| text(valuer.in_btc(owned_all))),
            total_liability_of_btc: totals.then(|| text(valuer.in_btc(owed_all))),
            total_net_asset_of_btc: totals
                .then(|| text(valuer.in_btc(owned_all.saturating_sub(owed_all)))),
        })
    }
}
