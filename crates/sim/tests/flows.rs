//! Random order flows: balances never go negative, fills add up, commissions are charged once
//! per fill, the last outboundAccountPosition of every asset matches the account views, and
//! the same requests at the same times give the same events, byte for byte.

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use userstream_protocol::events::{Event, OrderType, Side, TimeInForce};
use userstream_protocol::{Account, Scope, TimeUnit};
use userstream_sim::{
    AccountEvent, BorrowRepay, Decimal, HistoryQuery, OcoRequest, OrderRef, OrderRequest,
    SideEffect, Simulator,
};

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "ETHBTC"];
const ASSETS: [&str; 3] = ["USDT", "BTC", "ETH"];

fn accounts() -> [Account; 4] {
    [
        Account::cross(1),
        Account::isolated(1, "BTCUSDT"),
        Account::cross(2),
        Account::isolated(2, "ETHBTC"),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        acct: usize,
        asset: usize,
        amount: u32,
    },
    Place {
        acct: usize,
        sym: usize,
        buy: bool,
        kind: u8,
        units: u32,
        offset_bp: i32,
        tif: u8,
        effect: u8,
        by_quote: bool,
    },
    Oco {
        acct: usize,
        sym: usize,
        buy: bool,
        units: u32,
        offset_bp: u32,
        effect: u8,
        limit_stop: bool,
    },
    Price {
        sym: usize,
        move_bp: i32,
    },
    Cancel {
        acct: usize,
        sym: usize,
        pick: usize,
    },
    CancelAll {
        acct: usize,
        sym: usize,
    },
    Fill {
        acct: usize,
        sym: usize,
        pick: usize,
        half: bool,
    },
    BorrowRepay {
        acct: usize,
        asset: usize,
        amount: u32,
        repay: bool,
    },
    Interest {
        hours: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, 0..3usize, 1..200_000u32)
            .prop_map(|(acct, asset, amount)| Op::Deposit { acct, asset, amount }),
        6 => (0..4usize, 0..3usize, any::<bool>(), 0..7u8, 1..300_000u32, -300..300i32, 0..3u8, 0..4u8, any::<bool>())
            .prop_map(|(acct, sym, buy, kind, units, offset_bp, tif, effect, by_quote)| Op::Place {
                acct, sym, buy, kind, units, offset_bp, tif, effect, by_quote
            }),
        2 => (0..4usize, 0..3usize, any::<bool>(), 1..100_000u32, 1..300u32, 0..4u8, any::<bool>())
            .prop_map(|(acct, sym, buy, units, offset_bp, effect, limit_stop)| Op::Oco {
                acct, sym, buy, units, offset_bp, effect, limit_stop
            }),
        5 => (0..3usize, -400..400i32).prop_map(|(sym, move_bp)| Op::Price { sym, move_bp }),
        2 => (0..4usize, 0..3usize, 0..8usize).prop_map(|(acct, sym, pick)| Op::Cancel { acct, sym, pick }),
        1 => (0..4usize, 0..3usize).prop_map(|(acct, sym)| Op::CancelAll { acct, sym }),
        1 => (0..4usize, 0..3usize, 0..8usize, any::<bool>())
            .prop_map(|(acct, sym, pick, half)| Op::Fill { acct, sym, pick, half }),
        2 => (0..4usize, 0..3usize, 1..50_000u32, any::<bool>())
            .prop_map(|(acct, asset, amount, repay)| Op::BorrowRepay { acct, asset, amount, repay }),
        1 => (0..5u8).prop_map(|hours| Op::Interest { hours }),
    ]
}

/// An amount of `asset` from a small integer: USDT whole, BTC in 1/10 000, ETH in 1/1 000.
fn amount(asset: &str, units: u32) -> Decimal {
    match asset {
        "USDT" => Decimal::from(units),
        "BTC" => Decimal::new(i64::from(units), 4),
        _ => Decimal::new(i64::from(units), 3),
    }
}

fn to_tick(value: Decimal, tick: Decimal) -> Decimal {
    ((value / tick).round() * tick).max(tick)
}

/// Runs one op; its events (empty when refused).
fn run(sim: &mut Simulator, op: &Op, now: i64) -> Vec<AccountEvent> {
    let accts = accounts();
    match *op {
        Op::Deposit {
            acct,
            asset,
            amount: units,
        } => sim
            .deposit(
                &accts[acct],
                ASSETS[asset],
                amount(ASSETS[asset], units),
                now,
            )
            .unwrap_or_default(),
        Op::Place {
            acct,
            sym,
            buy,
            kind,
            units,
            offset_bp,
            tif,
            effect,
            by_quote,
        } => {
            let symbol = SYMBOLS[sym];
            let rules = sim.rules(symbol).unwrap().clone();
            let market = sim.price(symbol).unwrap();
            let order_type = [
                OrderType::Limit,
                OrderType::Market,
                OrderType::LimitMaker,
                OrderType::StopLoss,
                OrderType::StopLossLimit,
                OrderType::TakeProfit,
                OrderType::TakeProfitLimit,
            ][usize::from(kind)];
            let side = if buy { Side::Buy } else { Side::Sell };
            let mut order = OrderRequest::new(symbol, side, order_type);
            let price = to_tick(
                market * (Decimal::ONE + Decimal::new(i64::from(offset_bp), 4)),
                rules.tick_size,
            );
            let qty = rules.step_size * Decimal::from(units)
                / Decimal::from(10u32.pow(rules.step_size.scale().saturating_sub(4).min(4)));
            let qty = (qty / rules.step_size).floor().max(Decimal::ONE) * rules.step_size;
            if order_type == OrderType::Market && by_quote {
                order.quote_order_qty = Some(to_tick(qty * market, Decimal::new(1, 2)));
            } else {
                order.quantity = Some(qty);
            }
            if matches!(
                order_type,
                OrderType::Limit
                    | OrderType::LimitMaker
                    | OrderType::StopLossLimit
                    | OrderType::TakeProfitLimit
            ) {
                order.price = Some(price);
            }
            if matches!(
                order_type,
                OrderType::StopLoss
                    | OrderType::StopLossLimit
                    | OrderType::TakeProfit
                    | OrderType::TakeProfitLimit
            ) {
                let stop_bp = Decimal::new(i64::from(offset_bp.abs().max(1)), 4);
                let above = matches!(
                    (order_type, side),
                    (OrderType::StopLoss | OrderType::StopLossLimit, Side::Buy)
                        | (
                            OrderType::TakeProfit | OrderType::TakeProfitLimit,
                            Side::Sell
                        )
                );
                let factor = if above {
                    Decimal::ONE + stop_bp
                } else {
                    Decimal::ONE - stop_bp
                };
                order.stop_price = Some(to_tick(market * factor, rules.tick_size));
            }
            if matches!(
                order_type,
                OrderType::Limit | OrderType::StopLossLimit | OrderType::TakeProfitLimit
            ) {
                order.time_in_force =
                    Some([TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok][usize::from(tif)]);
            }
            order.side_effect = [
                SideEffect::NoSideEffect,
                SideEffect::MarginBuy,
                SideEffect::AutoRepay,
                SideEffect::AutoBorrowRepay,
            ][usize::from(effect)];
            sim.place_order(&accts[acct], order, now)
                .map(|r| r.1)
                .unwrap_or_default()
        }
        Op::Oco {
            acct,
            sym,
            buy,
            units,
            offset_bp,
            effect,
            limit_stop,
        } => {
            let symbol = SYMBOLS[sym];
            let rules = sim.rules(symbol).unwrap().clone();
            let market = sim.price(symbol).unwrap();
            let bp = Decimal::new(i64::from(offset_bp), 4);
            let up = to_tick(market * (Decimal::ONE + bp), rules.tick_size);
            let down = to_tick(market * (Decimal::ONE - bp), rules.tick_size);
            let side = if buy { Side::Buy } else { Side::Sell };
            let (price, stop) = if buy { (down, up) } else { (up, down) };
            let qty = rules.step_size * Decimal::from(units);
            let mut oco = OcoRequest::new(symbol, side, qty, price, stop);
            if limit_stop {
                oco.stop_limit_price = Some(stop);
                oco.stop_limit_time_in_force = Some(TimeInForce::Gtc);
            }
            oco.side_effect = [
                SideEffect::NoSideEffect,
                SideEffect::MarginBuy,
                SideEffect::AutoRepay,
                SideEffect::AutoBorrowRepay,
            ][usize::from(effect)];
            sim.place_oco(&accts[acct], oco, now)
                .map(|r| r.1)
                .unwrap_or_default()
        }
        Op::Price { sym, move_bp } => {
            let symbol = SYMBOLS[sym];
            let tick = sim.rules(symbol).unwrap().tick_size;
            let market = sim.price(symbol).unwrap();
            let price = to_tick(
                market * (Decimal::ONE + Decimal::new(i64::from(move_bp), 4)),
                tick,
            );
            sim.set_price(symbol, price, now).unwrap_or_default()
        }
        Op::Cancel { acct, sym, pick } => {
            let open = sim
                .open_orders(&accts[acct], Some(SYMBOLS[sym]))
                .unwrap_or_default();
            match open.get(pick) {
                Some(order) => sim
                    .cancel_order(
                        &accts[acct],
                        SYMBOLS[sym],
                        &OrderRef::Id(order.order_id),
                        None,
                        now,
                    )
                    .map(|r| r.1)
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        }
        Op::CancelAll { acct, sym } => sim
            .cancel_open_orders(&accts[acct], SYMBOLS[sym], now)
            .map(|r| r.1)
            .unwrap_or_default(),
        Op::Fill {
            acct,
            sym,
            pick,
            half,
        } => {
            let open = sim
                .open_orders(&accts[acct], Some(SYMBOLS[sym]))
                .unwrap_or_default();
            let step = sim.rules(SYMBOLS[sym]).unwrap().step_size;
            match open.get(pick) {
                Some(order) => {
                    let left: Decimal = order.orig_qty.as_str().parse::<Decimal>().unwrap()
                        - order.executed_qty.as_str().parse::<Decimal>().unwrap();
                    let qty = half
                        .then(|| ((left / Decimal::TWO) / step).floor().max(Decimal::ONE) * step);
                    sim.fill_order(
                        &accts[acct],
                        SYMBOLS[sym],
                        &OrderRef::Id(order.order_id),
                        None,
                        qty,
                        now,
                    )
                    .map(|r| r.1)
                    .unwrap_or_default()
                }
                None => Vec::new(),
            }
        }
        Op::BorrowRepay {
            acct,
            asset,
            amount: units,
            repay,
        } => {
            let kind = if repay {
                BorrowRepay::Repay
            } else {
                BorrowRepay::Borrow
            };
            sim.borrow_repay(
                &accts[acct],
                ASSETS[asset],
                amount(ASSETS[asset], units),
                kind,
                now,
            )
            .map(|r| r.1)
            .unwrap_or_default()
        }
        Op::Interest { .. } => sim.accrue_interest(now),
    }
}

/// (free, locked) of every asset the views show, per account.
fn view_balances(sim: &Simulator) -> BTreeMap<(Account, String), (Decimal, Decimal, Decimal)> {
    let mut out = BTreeMap::new();
    for uid in [1, 2] {
        for a in sim.cross_account(uid).user_assets {
            out.insert(
                (Account::cross(uid), a.asset.clone()),
                (
                    dec(a.free.as_str()),
                    dec(a.locked.as_str()),
                    dec(a.borrowed.as_str()),
                ),
            );
        }
        for pair in sim
            .isolated_accounts(uid, &sim.isolated_pairs(uid), true)
            .unwrap()
            .assets
        {
            for a in [pair.base_asset, pair.quote_asset] {
                out.insert(
                    (Account::isolated(uid, pair.symbol.clone()), a.asset.clone()),
                    (
                        dec(a.free.as_str()),
                        dec(a.locked.as_str()),
                        dec(a.borrowed.as_str()),
                    ),
                );
            }
        }
    }
    out
}

/// Runs the ops, checking the invariants after each; returns the JSON of every event.
fn check_flow(ops: &[Op]) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let mut sim = sim();
    let mut last_position: BTreeMap<(Account, String), (String, String)> = BTreeMap::new();
    // trade id → (order id, qty, commission, commission asset)
    let mut trades: BTreeMap<i64, (i64, Decimal, Decimal, String)> = BTreeMap::new();
    let mut log = Vec::new();
    let mut now = 1_700_000_000_000_000i64;
    for op in ops {
        now += match op {
            Op::Interest { hours } => i64::from(*hours) * userstream_sim::HOUR_US,
            _ => 1_000,
        };
        let events = run(&mut sim, op, now);
        for event in &events {
            log.push(event.event.to_json(TimeUnit::Microsecond));
            prop_assert!(event.event.event_time_us() == now);
            match &event.event {
                Event::OutboundAccountPosition(position) => {
                    for balance in &position.balances {
                        last_position.insert(
                            (event.account.clone(), balance.asset.clone()),
                            (balance.free.to_string(), balance.locked.to_string()),
                        );
                    }
                }
                Event::ExecutionReport(report) if report.trade_id >= 0 => {
                    let previous = trades.insert(
                        report.trade_id,
                        (
                            report.order_id,
                            dec(report.last_executed_quantity.as_str()),
                            dec(report.commission.as_str()),
                            report.commission_asset.clone().unwrap_or_default(),
                        ),
                    );
                    prop_assert!(
                        previous.is_none(),
                        "trade {} reported twice",
                        report.trade_id
                    );
                }
                _ => {}
            }
        }
        let views = view_balances(&sim);
        for ((account, asset), (free, locked, borrowed)) in &views {
            prop_assert!(
                *free >= Decimal::ZERO,
                "{account} {asset} free {free} after {op:?}"
            );
            prop_assert!(
                *locked >= Decimal::ZERO,
                "{account} {asset} locked {locked} after {op:?}"
            );
            prop_assert!(*borrowed >= Decimal::ZERO);
        }
        for ((account, asset), (free, locked)) in &last_position {
            let Some((view_free, view_locked, _)) = views.get(&(account.clone(), asset.clone()))
            else {
                prop_assert!(false, "{account} {asset} has a position but no view");
                continue;
            };
            prop_assert_eq!(
                &format!("{view_free:.8}"),
                free,
                "{} {} free after {:?}",
                account,
                asset,
                op
            );
            prop_assert_eq!(
                &format!("{view_locked:.8}"),
                locked,
                "{} {} locked after {:?}",
                account,
                asset,
                op
            );
        }
    }
    // Fills add up, and each trade's commission was charged once, as reported.
    let mut all = HistoryQuery::default();
    all.limit = Some(1000);
    for account in accounts() {
        for symbol in SYMBOLS {
            if let Scope::Isolated(pair) = &account.scope
                && pair != symbol
            {
                continue;
            }
            let my_trades = sim.my_trades(&account, symbol, &all).unwrap();
            for trade in &my_trades {
                let (order_id, qty, commission, asset) = trades.get(&trade.id).cloned().unwrap();
                prop_assert_eq!(order_id, trade.order_id);
                prop_assert_eq!(qty, dec(trade.qty.as_str()));
                prop_assert_eq!(commission, dec(trade.commission.as_str()));
                prop_assert_eq!(asset, trade.commission_asset.clone());
            }
            for order in sim.all_orders(&account, symbol, &all).unwrap() {
                let filled: Decimal = my_trades
                    .iter()
                    .filter(|t| t.order_id == order.order_id)
                    .map(|t| dec(t.qty.as_str()))
                    .sum();
                prop_assert_eq!(
                    filled,
                    dec(order.executed_qty.as_str()),
                    "order {}",
                    order.order_id
                );
                prop_assert!(dec(order.executed_qty.as_str()) <= dec(order.orig_qty.as_str()));
            }
        }
    }
    let reported: usize = trades.len();
    let stored: usize = accounts()
        .iter()
        .flat_map(|a| SYMBOLS.iter().map(move |s| (a, s)))
        .filter_map(|(a, s)| sim.my_trades(a, s, &all).ok())
        .map(|t| t.len())
        .sum();
    prop_assert_eq!(reported, stored);
    Ok(log)
}

proptest! {
    // 128 cases by default; PROPTEST_CASES raises it for a longer soak.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_flows_keep_the_books(ops in proptest::collection::vec(op(), 1..60)) {
        let first = check_flow(&ops)?;
        let second = check_flow(&ops)?;
        prop_assert_eq!(first, second);
    }

    /// Arbitrary numbers and names are refused or handled, never a panic.
    #[test]
    fn arbitrary_inputs_never_panic(
        mantissas in proptest::collection::vec(any::<i64>(), 6),
        scales in proptest::collection::vec(0u32..=28, 6),
        symbol in "[A-Z]{0,10}",
        kind in 0..7usize,
    ) {
        let mut sim = sim();
        let n: Vec<Decimal> = mantissas.iter().zip(&scales).map(|(m, s)| Decimal::new(*m, *s)).collect();
        let account = Account::cross(1);
        let _ = sim.deposit(&account, "USDT", n[0], 1);
        let _ = sim.deposit(&account, "BTC", n[1].abs(), 1);
        let _ = sim.set_price("BTCUSDT", n[2], 2);
        let _ = sim.set_price(&symbol, n[2], 2);
        let order_type = [OrderType::Limit, OrderType::Market, OrderType::LimitMaker, OrderType::StopLoss,
            OrderType::StopLossLimit, OrderType::TakeProfit, OrderType::TakeProfitLimit][kind];
        for symbol in [symbol.as_str(), "BTCUSDT"] {
            let mut order = OrderRequest::new(symbol, Side::Buy, order_type);
            order.quantity = Some(n[3]);
            order.price = Some(n[4]);
            order.stop_price = Some(n[5]);
            order.time_in_force = Some(TimeInForce::Gtc);
            let _ = sim.place_order(&account, order, 3);
            let mut market = OrderRequest::new(symbol, Side::Sell, OrderType::Market);
            market.quote_order_qty = Some(n[4]);
            let _ = sim.place_order(&account, market, 3);
            let _ = sim.place_oco(&account, OcoRequest::new(symbol, Side::Sell, n[3], n[4], n[5]), 3);
            let _ = sim.borrow_repay(&account, "USDT", n[3], BorrowRepay::Borrow, 4);
            let _ = sim.borrow_repay(&account, "USDT", n[4], BorrowRepay::Repay, 4);
            let _ = sim.fill_order(&account, symbol, &OrderRef::Id(1), Some(n[4]), Some(n[3]), 5);
            let _ = sim.max_borrowable(&account, symbol);
        }
        let _ = sim.accrue_interest(i64::MAX);
        let _ = sim.cross_account(1);
        let _ = sim.isolated_accounts(1, &sim.isolated_pairs(1), true);
    }
}

/// One fixed flow through every kind of operation, twice: identical JSON, event by event.
#[test]
fn same_requests_same_events() {
    let ops = vec![
        Op::Deposit {
            acct: 0,
            asset: 0,
            amount: 150_000,
        },
        Op::Deposit {
            acct: 0,
            asset: 1,
            amount: 10_000,
        },
        Op::Place {
            acct: 0,
            sym: 0,
            buy: true,
            kind: 0,
            units: 150_000,
            offset_bp: -20,
            tif: 0,
            effect: 0,
            by_quote: false,
        },
        Op::Place {
            acct: 0,
            sym: 0,
            buy: true,
            kind: 1,
            units: 50_000,
            offset_bp: 0,
            tif: 0,
            effect: 1,
            by_quote: false,
        },
        Op::Oco {
            acct: 0,
            sym: 0,
            buy: false,
            units: 20_000,
            offset_bp: 50,
            effect: 2,
            limit_stop: true,
        },
        Op::Price {
            sym: 0,
            move_bp: -30,
        },
        Op::Price {
            sym: 0,
            move_bp: 80,
        },
        Op::BorrowRepay {
            acct: 0,
            asset: 2,
            amount: 1_000,
            repay: false,
        },
        Op::Interest { hours: 3 },
        Op::Cancel {
            acct: 0,
            sym: 0,
            pick: 0,
        },
    ];
    let first = check_flow(&ops).unwrap();
    let second = check_flow(&ops).unwrap();
    assert!(first.len() > 10, "{}", first.len());
    assert_eq!(first, second);
}
