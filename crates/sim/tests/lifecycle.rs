//! Event sequences of each lifecycle, field by field, as Binance sends them.

mod common;

use common::*;
use userstream_protocol::Account;
use userstream_protocol::events::{
    ExecutionType, ExpiryReason, ListOrderStatus, ListStatusType, OrderStatus, OrderType, Side,
    TimeInForce,
};
use userstream_sim::{BorrowRepay, OcoRequest, OrderRef, OrderRequest, SideEffect};

const T0: i64 = 1_700_000_000_000_000;

fn limit(symbol: &str, side: Side, qty: &str, price: &str, tif: TimeInForce) -> OrderRequest {
    let mut order = OrderRequest::new(symbol, side, OrderType::Limit);
    order.quantity = Some(dec(qty));
    order.price = Some(dec(price));
    order.time_in_force = Some(tif);
    order
}

#[test]
fn deposit_sends_balance_update_then_position() {
    let mut sim = sim();
    let account = Account::cross(1);
    assert!(!sim.manages(&account));
    let events = sim.deposit(&account, "USDT", dec("1000"), T0).unwrap();
    assert!(sim.manages(&account));
    assert_eq!(kinds(&events), ["balanceUpdate", "outboundAccountPosition"]);
    let userstream_protocol::events::Event::BalanceUpdate(update) = &events[0].event else {
        panic!()
    };
    assert_eq!(update.asset, "USDT");
    assert_eq!(update.balance_delta.as_str(), "1000.00000000");
    assert_eq!(update.event_time_us, T0);
    assert_eq!(update.clear_time_us, T0);
    assert_eq!(
        balances(&events[1]),
        [b("USDT", "1000.00000000", "0.00000000")]
    );
    assert_eq!(position(&events[1]).last_update_time_us, T0);
    assert!(events.iter().all(|e| e.account == account));
}

#[test]
fn limit_order_new_partial_fills_filled() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("200000"), T0).unwrap();
    let (response, events) = sim
        .place_order(
            &account,
            limit("BTCUSDT", Side::Buy, "2", "94000", TimeInForce::Gtc),
            T0 + 1,
        )
        .unwrap();
    assert_eq!(response.order_id, 1);
    assert_eq!(response.client_order_id, "sim0000000000000000001");
    assert_eq!(response.result.as_ref().unwrap().status, OrderStatus::New);
    assert_eq!(response.fills.as_deref(), Some(&[][..]));
    assert_eq!(
        kinds(&events),
        ["executionReport", "outboundAccountPosition"]
    );
    let new = report(&events[0]);
    assert_eq!(new.execution_type, ExecutionType::New);
    assert_eq!(new.order_status, OrderStatus::New);
    assert_eq!(new.symbol, "BTCUSDT");
    assert_eq!(new.side, Side::Buy);
    assert_eq!(new.quantity.as_str(), "2.00000000");
    assert_eq!(new.price.as_str(), "94000.00000000");
    assert_eq!(new.order_list_id, -1);
    assert_eq!(new.trade_id, -1);
    assert_eq!(new.commission.as_str(), "0");
    assert_eq!(new.commission_asset, None);
    assert!(new.is_working);
    assert_eq!(new.order_creation_time_us, T0 + 1);
    assert_eq!(new.transaction_time_us, T0 + 1);
    assert_eq!(
        balances(&events[1]),
        [b("USDT", "12000.00000000", "188000.00000000")]
    );

    // Each price move through the limit fills one level: 50 000 USDT / 94 000 = 0.53191 BTC.
    let mut cumulative = dec("0");
    for (step, expect) in ["0.53191", "0.53191", "0.53191", "0.40427"]
        .iter()
        .enumerate()
    {
        let now = T0 + 10 + step as i64;
        let events = sim.set_price("BTCUSDT", dec("93900"), now).unwrap();
        assert_eq!(
            kinds(&events),
            ["executionReport", "outboundAccountPosition"]
        );
        let trade = report(&events[0]);
        cumulative += dec(expect);
        assert_eq!(trade.execution_type, ExecutionType::Trade);
        assert_eq!(
            trade.last_executed_quantity.as_str(),
            format!("{:.8}", dec(expect))
        );
        assert_eq!(
            trade.cumulative_filled_quantity.as_str(),
            format!("{cumulative:.8}")
        );
        assert_eq!(trade.last_executed_price.as_str(), "94000.00000000");
        assert_eq!(
            trade.commission.as_str(),
            format!("{:.8}", dec(expect) * dec("0.001"))
        );
        assert_eq!(trade.commission_asset.as_deref(), Some("BTC"));
        assert_eq!(trade.trade_id, step as i64 + 1);
        assert!(trade.is_maker);
        assert_eq!(
            trade.last_quote_quantity.as_str(),
            format!("{:.8}", dec(expect) * dec("94000"))
        );
        assert_eq!(
            trade.cumulative_quote_quantity.as_str(),
            format!("{:.8}", cumulative * dec("94000"))
        );
        let last = step == 3;
        assert_eq!(
            trade.order_status,
            if last {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            }
        );
        assert_eq!(trade.is_working, !last);
        let assets: Vec<String> = balances(&events[1]).into_iter().map(|b| b.0).collect();
        assert_eq!(assets, ["BTC", "USDT"]);
    }
    let account_view = sim.cross_account(1);
    let btc = account_view
        .user_assets
        .iter()
        .find(|a| a.asset == "BTC")
        .unwrap();
    assert_eq!(btc.free.as_str(), "1.99800000");
    let usdt = account_view
        .user_assets
        .iter()
        .find(|a| a.asset == "USDT")
        .unwrap();
    assert_eq!(usdt.free.as_str(), "12000.00000000");
    assert_eq!(usdt.locked.as_str(), "0.00000000");
    let view = sim.order(&account, "BTCUSDT", &OrderRef::Id(1)).unwrap();
    assert_eq!(view.status, OrderStatus::Filled);
    assert_eq!(view.executed_qty.as_str(), "2.00000000");
    assert_eq!(
        sim.my_trades(&account, "BTCUSDT", &Default::default())
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn cancel_sends_canceled_then_position() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "BTC", dec("1"), T0).unwrap();
    let mut order = limit("BTCUSDT", Side::Sell, "0.5", "99000", TimeInForce::Gtc);
    order.new_client_order_id = Some("mine".into());
    let (_, events) = sim.place_order(&account, order, T0 + 1).unwrap();
    assert_eq!(balances(&events[1]), [b("BTC", "0.50000000", "0.50000000")]);
    let (canceled, events) = sim
        .cancel_order(
            &account,
            "BTCUSDT",
            &OrderRef::ClientId("mine".into()),
            Some("undo".into()),
            T0 + 2,
        )
        .unwrap();
    assert_eq!(canceled.orig_client_order_id, "mine");
    assert_eq!(canceled.client_order_id, "undo");
    assert_eq!(canceled.state.status, OrderStatus::Canceled);
    assert_eq!(
        kinds(&events),
        ["executionReport", "outboundAccountPosition"]
    );
    let r = report(&events[0]);
    assert_eq!(r.execution_type, ExecutionType::Canceled);
    assert_eq!(r.order_status, OrderStatus::Canceled);
    assert_eq!(r.client_order_id, "undo");
    assert_eq!(r.orig_client_order_id, "mine");
    assert!(!r.is_working);
    assert_eq!(r.transaction_time_us, T0 + 2);
    assert_eq!(balances(&events[1]), [b("BTC", "1.00000000", "0.00000000")]);
    assert!(sim.open_orders(&account, None).unwrap().is_empty());
}

#[test]
fn ioc_remainder_expires() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("300000"), T0).unwrap();
    // Levels at 95047.50 and 95095.00 are within the limit, 95142.50 is not.
    let (response, events) = sim
        .place_order(
            &account,
            limit("BTCUSDT", Side::Buy, "2", "95100", TimeInForce::Ioc),
            T0,
        )
        .unwrap();
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "outboundAccountPosition",
            "executionReport",
            "outboundAccountPosition",
            "executionReport",
            "outboundAccountPosition",
            "executionReport",
            "outboundAccountPosition"
        ]
    );
    let fills = response.fills.unwrap();
    assert_eq!(fills.len(), 2);
    assert_eq!(fills[0].price.as_str(), "95047.50000000");
    assert_eq!(fills[0].qty.as_str(), "0.52605000");
    assert_eq!(fills[1].price.as_str(), "95095.00000000");
    let first = report(&events[2]);
    assert!(!first.is_maker);
    assert_eq!(first.order_status, OrderStatus::PartiallyFilled);
    let expired = report(&events[6]);
    assert_eq!(expired.execution_type, ExecutionType::Expired);
    assert_eq!(expired.order_status, OrderStatus::Expired);
    assert_eq!(
        expired.expiry_reason,
        Some(ExpiryReason::UnfilledIocQuantityExpired)
    );
    assert_eq!(expired.cumulative_filled_quantity.as_str(), "1.05183000");
    let last = balances(&events[7]);
    assert_eq!(last[0].2, "0.00000000", "nothing stays locked");
    assert_eq!(response.result.unwrap().status, OrderStatus::Expired);
}

#[test]
fn fok_that_cannot_fill_expires_whole() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("300000"), T0).unwrap();
    let (response, events) = sim
        .place_order(
            &account,
            limit("BTCUSDT", Side::Buy, "2", "95100", TimeInForce::Fok),
            T0,
        )
        .unwrap();
    assert_eq!(response.fills.unwrap().len(), 0);
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "outboundAccountPosition",
            "executionReport",
            "outboundAccountPosition"
        ]
    );
    assert_eq!(report(&events[2]).order_status, OrderStatus::Expired);
    assert_eq!(
        balances(&events[3]),
        [b("USDT", "300000.00000000", "0.00000000")]
    );
}

#[test]
fn oco_limit_leg_fills_and_the_stop_leg_expires() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "BTC", dec("1"), T0).unwrap();
    let oco = OcoRequest::new(
        "BTCUSDT",
        Side::Sell,
        dec("0.5"),
        dec("96000"),
        dec("94000"),
    );
    let (list_answer, events) = sim.place_oco(&account, oco, T0 + 1).unwrap();
    assert_eq!(list_answer.order_list_id, 1);
    assert_eq!(list_answer.orders.len(), 2);
    assert_eq!(
        list_answer.order_reports[0].state.order_type,
        OrderType::StopLoss
    );
    assert_eq!(
        list_answer.order_reports[1].state.order_type,
        OrderType::LimitMaker
    );
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "executionReport",
            "listStatus",
            "outboundAccountPosition"
        ]
    );
    let stop = report(&events[0]);
    let limit_leg = report(&events[1]);
    assert_eq!(stop.order_type, OrderType::StopLoss);
    assert_eq!(stop.stop_price.as_str(), "94000.00000000");
    assert!(!stop.is_working);
    assert_eq!(stop.order_list_id, 1);
    assert_eq!(limit_leg.order_type, OrderType::LimitMaker);
    assert!(limit_leg.is_working);
    let started = list(&events[2]);
    assert_eq!(started.list_status_type, ListStatusType::ExecStarted);
    assert_eq!(started.list_order_status, ListOrderStatus::Executing);
    assert_eq!(started.orders.len(), 2);
    assert_eq!(balances(&events[3]), [b("BTC", "0.50000000", "0.50000000")]);

    let events = sim.set_price("BTCUSDT", dec("96000"), T0 + 2).unwrap();
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "listStatus",
            "executionReport",
            "outboundAccountPosition"
        ]
    );
    let expired = report(&events[0]);
    assert_eq!(expired.order_id, stop.order_id);
    assert_eq!(expired.execution_type, ExecutionType::Expired);
    assert_eq!(expired.expiry_reason, Some(ExpiryReason::OcoTrigger));
    let done = list(&events[1]);
    assert_eq!(done.list_status_type, ListStatusType::AllDone);
    assert_eq!(done.list_order_status, ListOrderStatus::AllDone);
    let trade = report(&events[2]);
    assert_eq!(trade.order_id, limit_leg.order_id);
    assert_eq!(trade.order_status, OrderStatus::Filled);
    assert!(trade.is_maker);
    assert_eq!(trade.commission_asset.as_deref(), Some("USDT"));
    assert_eq!(trade.commission.as_str(), "48.00000000");
    assert_eq!(
        balances(&events[3]),
        [
            b("BTC", "0.50000000", "0.00000000"),
            b("USDT", "47952.00000000", "0.00000000")
        ]
    );
}

#[test]
fn oco_cancel_cancels_both_legs() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "BTC", dec("1"), T0).unwrap();
    let oco = OcoRequest::new(
        "BTCUSDT",
        Side::Sell,
        dec("0.5"),
        dec("96000"),
        dec("94000"),
    );
    sim.place_oco(&account, oco, T0).unwrap();
    let (items, events) = sim.cancel_open_orders(&account, "BTCUSDT", T0 + 1).unwrap();
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], userstream_sim::Canceled::List(_)));
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "executionReport",
            "listStatus",
            "outboundAccountPosition"
        ]
    );
    assert_eq!(report(&events[0]).order_status, OrderStatus::Canceled);
    assert_eq!(report(&events[1]).order_status, OrderStatus::Canceled);
    assert_eq!(balances(&events[3]), [b("BTC", "1.00000000", "0.00000000")]);
    let json = serde_json::to_value(&items).unwrap();
    assert_eq!(json[0]["listStatusType"], "ALL_DONE");
}

#[test]
fn stop_loss_triggers_and_fills_as_taker() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "BTC", dec("1"), T0).unwrap();
    let mut order = OrderRequest::new("BTCUSDT", Side::Sell, OrderType::StopLoss);
    order.quantity = Some(dec("0.1"));
    order.stop_price = Some(dec("94000"));
    let (_, events) = sim.place_order(&account, order, T0).unwrap();
    assert_eq!(
        kinds(&events),
        ["executionReport", "outboundAccountPosition"]
    );
    assert!(!report(&events[0]).is_working);
    assert!(
        sim.set_price("BTCUSDT", dec("94500"), T0 + 1)
            .unwrap()
            .is_empty()
    );
    let events = sim.set_price("BTCUSDT", dec("93990"), T0 + 2).unwrap();
    assert_eq!(
        kinds(&events),
        ["executionReport", "outboundAccountPosition"]
    );
    let trade = report(&events[0]);
    assert_eq!(trade.execution_type, ExecutionType::Trade);
    assert_eq!(trade.order_status, OrderStatus::Filled);
    assert_eq!(trade.last_executed_price.as_str(), "93943.00000000");
    assert!(!trade.is_maker);
    assert_eq!(trade.working_time_us, T0 + 2);
}

#[test]
fn stop_limit_triggers_then_rests() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("20000"), T0).unwrap();
    let mut order = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::TakeProfitLimit);
    order.quantity = Some(dec("0.1"));
    order.stop_price = Some(dec("94000"));
    order.price = Some(dec("93000"));
    order.time_in_force = Some(TimeInForce::Gtc);
    sim.place_order(&account, order, T0).unwrap();
    // Triggered at 94 000 but its limit 93 000 is below the market: it rests, no event.
    assert!(
        sim.set_price("BTCUSDT", dec("94000"), T0 + 1)
            .unwrap()
            .is_empty()
    );
    let view = sim.order(&account, "BTCUSDT", &OrderRef::Id(1)).unwrap();
    assert!(view.is_working);
    let events = sim.set_price("BTCUSDT", dec("92900"), T0 + 2).unwrap();
    assert_eq!(
        report(&events[0]).last_executed_price.as_str(),
        "93000.00000000"
    );
    assert!(report(&events[0]).is_maker);
}

#[test]
fn borrow_margin_buy_then_auto_repay_sell() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("10000"), T0).unwrap();

    let (tran, events) = sim
        .borrow_repay(&account, "USDT", dec("5000"), BorrowRepay::Borrow, T0 + 1)
        .unwrap();
    assert_eq!(tran.tran_id, 1);
    assert_eq!(
        kinds(&events),
        ["outboundAccountPosition", "USER_LIABILITY_CHANGE"]
    );
    assert_eq!(
        balances(&events[0]),
        [b("USDT", "15000.00000000", "0.00000000")]
    );
    let borrow = liability(&events[1]);
    assert_eq!(borrow.asset, "USDT");
    assert_eq!(borrow.liability_type.as_str(), "BORROW");
    assert_eq!(borrow.principal.as_str(), "5000.00000000");
    assert_eq!(borrow.interest.as_str(), "0.00000000");

    let mut buy = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    buy.quantity = Some(dec("0.2"));
    buy.side_effect = SideEffect::MarginBuy;
    let (response, events) = sim.place_order(&account, buy, T0 + 2).unwrap();
    assert_eq!(response.margin_buy_borrow_asset.as_deref(), Some("USDT"));
    assert_eq!(
        response
            .margin_buy_borrow_amount
            .as_ref()
            .map(|d| d.as_str()),
        Some("4009.50000000")
    );
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "outboundAccountPosition",
            "USER_LIABILITY_CHANGE",
            "executionReport",
            "outboundAccountPosition"
        ]
    );
    assert_eq!(
        balances(&events[1]),
        [b("USDT", "0.00000000", "19009.50000000")]
    );
    assert_eq!(liability(&events[2]).principal.as_str(), "4009.50000000");
    let trade = report(&events[3]);
    assert_eq!(trade.last_executed_price.as_str(), "95047.50000000");
    assert_eq!(trade.order_status, OrderStatus::Filled);
    assert_eq!(
        balances(&events[4]),
        [
            b("BTC", "0.19980000", "0.00000000"),
            b("USDT", "0.00000000", "0.00000000")
        ]
    );
    let usdt = |sim: &userstream_sim::Simulator| {
        sim.cross_account(1)
            .user_assets
            .into_iter()
            .find(|a| a.asset == "USDT")
            .unwrap()
    };
    assert_eq!(usdt(&sim).borrowed.as_str(), "9009.50000000");
    assert_eq!(usdt(&sim).net_asset.as_str(), "-9009.50000000");

    let mut sell = OrderRequest::new("BTCUSDT", Side::Sell, OrderType::Market);
    sell.quantity = Some(dec("0.1"));
    sell.side_effect = SideEffect::AutoRepay;
    let (_, events) = sim.place_order(&account, sell, T0 + 3).unwrap();
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "outboundAccountPosition",
            "executionReport",
            "outboundAccountPosition",
            "outboundAccountPosition",
            "USER_LIABILITY_CHANGE"
        ]
    );
    // 0.1 × 94 952.50 = 9 495.25, less 0.1 % commission = 9 485.75475; 9 009.50 repays the debt.
    assert_eq!(report(&events[2]).commission.as_str(), "9.49525000");
    assert_eq!(
        balances(&events[3]),
        [
            b("BTC", "0.09980000", "0.00000000"),
            b("USDT", "9485.75475000", "0.00000000")
        ]
    );
    assert_eq!(
        balances(&events[4]),
        [b("USDT", "476.25475000", "0.00000000")]
    );
    let repay = liability(&events[5]);
    assert_eq!(repay.liability_type.as_str(), "REPAY");
    assert_eq!(repay.principal.as_str(), "9009.50000000");
    assert_eq!(usdt(&sim).borrowed.as_str(), "0.00000000");
}

#[test]
fn margin_level_crossing_is_reported() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "BTC", dec("0.1"), T0).unwrap();
    let (_, events) = sim
        .borrow_repay(&account, "USDT", dec("15000"), BorrowRepay::Borrow, T0 + 1)
        .unwrap();
    // 24 500 owned / 15 000 owed = 1.633…: from EXCESSIVE to NORMAL.
    assert_eq!(
        kinds(&events),
        [
            "outboundAccountPosition",
            "USER_LIABILITY_CHANGE",
            "MARGIN_LEVEL_STATUS_CHANGE"
        ]
    );
    assert_eq!(level(&events[2]).status.as_str(), "NORMAL");
    assert_eq!(level(&events[2]).margin_level.as_str(), "1.63333333");
    assert!(
        sim.set_price("BTCUSDT", dec("60000"), T0 + 2)
            .unwrap()
            .is_empty()
    );
    let events = sim.set_price("BTCUSDT", dec("40000"), T0 + 3).unwrap();
    assert_eq!(kinds(&events), ["MARGIN_LEVEL_STATUS_CHANGE"]);
    assert_eq!(events[0].account, account);
    assert_eq!(level(&events[0]).status.as_str(), "MARGIN_CALL");
    assert_eq!(level(&events[0]).margin_level.as_str(), "1.26666667");
    assert_eq!(sim.cross_account(1).margin_level.as_str(), "1.26666667");
    let events = sim.set_price("BTCUSDT", dec("10000"), T0 + 4).unwrap();
    assert_eq!(level(&events[0]).status.as_str(), "FORCE_LIQUIDATION");
}

#[test]
fn interest_accrues_hourly() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("10000"), 0).unwrap();
    sim.borrow_repay(&account, "USDT", dec("1000"), BorrowRepay::Borrow, 10)
        .unwrap();
    assert!(sim.accrue_interest(20).is_empty());
    let events = sim.accrue_interest(2 * userstream_sim::HOUR_US + 5);
    assert_eq!(kinds(&events), ["USER_LIABILITY_CHANGE"]);
    let charge = liability(&events[0]);
    assert_eq!(charge.liability_type.as_str(), "INTEREST");
    assert_eq!(charge.interest.as_str(), "0.00834000");
    let usdt = sim
        .cross_account(1)
        .user_assets
        .into_iter()
        .find(|a| a.asset == "USDT")
        .unwrap();
    assert_eq!(usdt.interest.as_str(), "0.00834000");
}

#[test]
fn isolated_account_holds_its_pair_only() {
    let mut sim = sim();
    let account = Account::isolated(1, "BTCUSDT");
    sim.deposit(&account, "USDT", dec("1000"), T0).unwrap();
    assert_eq!(
        sim.deposit(&account, "ETH", dec("1"), T0)
            .unwrap_err()
            .code(),
        -3027
    );
    let max = sim.max_borrowable(&account, "USDT").unwrap();
    assert_eq!(max.amount.as_str(), "4000.00000000");
    let view = sim
        .isolated_accounts(1, &sim.isolated_pairs(1), true)
        .unwrap();
    assert_eq!(view.assets.len(), 1);
    assert_eq!(view.assets[0].quote_asset.free.as_str(), "1000.00000000");
    assert!(view.total_asset_of_btc.is_some());
    let named = sim
        .isolated_accounts(1, &["BTCUSDT".to_string()], false)
        .unwrap();
    assert!(named.total_asset_of_btc.is_none());
    let mut order = OrderRequest::new("ETHUSDT", Side::Buy, OrderType::Market);
    order.quantity = Some(dec("0.01"));
    assert_eq!(
        sim.place_order(&account, order, T0).unwrap_err().code(),
        -1121
    );
    assert_eq!(
        sim.max_borrowable(&Account::cross(1), "USDT")
            .unwrap()
            .amount
            .as_str(),
        "0.00000000"
    );
}

#[test]
fn quote_order_qty_market_buy() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("1000"), T0).unwrap();
    let mut order = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    order.quote_order_qty = Some(dec("100"));
    let (response, events) = sim.place_order(&account, order, T0).unwrap();
    let state = response.result.unwrap();
    assert_eq!(state.status, OrderStatus::Filled);
    assert_eq!(state.orig_qty.as_str(), "0.00105000");
    assert_eq!(
        report(&events[0]).quote_order_quantity.as_str(),
        "100.00000000"
    );
}

#[test]
fn oco_stop_leg_triggers_and_takes_the_lock() {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("20000"), T0).unwrap();
    // Buy 0.1 BTC below the market at 94 000, or stop in at 96 000 (limit 96 500).
    let mut oco = OcoRequest::new("BTCUSDT", Side::Buy, dec("0.1"), dec("94000"), dec("96000"));
    oco.stop_limit_price = Some(dec("96500"));
    oco.stop_limit_time_in_force = Some(TimeInForce::Gtc);
    let (_, events) = sim.place_oco(&account, oco, T0).unwrap();
    assert_eq!(
        balances(&events[3]),
        [b("USDT", "10350.00000000", "9650.00000000")]
    );
    let events = sim.set_price("BTCUSDT", dec("96100"), T0 + 1).unwrap();
    assert_eq!(
        kinds(&events),
        [
            "executionReport",
            "listStatus",
            "executionReport",
            "outboundAccountPosition"
        ]
    );
    let expired = report(&events[0]);
    assert_eq!(expired.order_type, OrderType::LimitMaker);
    assert_eq!(expired.order_status, OrderStatus::Expired);
    assert_eq!(list(&events[1]).list_order_status, ListOrderStatus::AllDone);
    let trade = report(&events[2]);
    assert_eq!(trade.order_type, OrderType::StopLossLimit);
    assert_eq!(trade.last_executed_price.as_str(), "96148.05000000");
    assert_eq!(trade.order_status, OrderStatus::Filled);
    // 0.1 × 96 148.05 = 9 614.805 paid; the rest of the lock is free again.
    assert_eq!(
        balances(&events[3]),
        [
            b("BTC", "0.09990000", "0.00000000"),
            b("USDT", "10385.19500000", "0.00000000")
        ]
    );
}

#[test]
fn admin_fill_fills_part_of_an_order() {
    let mut sim = sim();
    let account = Account::isolated(7, "ETHUSDT");
    sim.deposit(&account, "ETH", dec("2"), T0).unwrap();
    let mut order = limit("ETHUSDT", Side::Sell, "1.5", "3500", TimeInForce::Gtc);
    order.new_client_order_id = Some("sell-eth".into());
    sim.place_order(&account, order, T0).unwrap();
    let target = OrderRef::ClientId("sell-eth".into());
    let (view, events) = sim
        .fill_order(&account, "ETHUSDT", &target, None, Some(dec("0.5")), T0 + 1)
        .unwrap();
    assert_eq!(view.status, OrderStatus::PartiallyFilled);
    assert_eq!(view.executed_qty.as_str(), "0.50000000");
    assert!(view.is_isolated);
    assert_eq!(
        kinds(&events),
        ["executionReport", "outboundAccountPosition"]
    );
    assert!(report(&events[0]).is_maker);
    assert_eq!(
        balances(&events[1]),
        [
            b("ETH", "0.50000000", "1.00000000"),
            b("USDT", "1748.25000000", "0.00000000")
        ]
    );
    let (view, _) = sim
        .fill_order(
            &account,
            "ETHUSDT",
            &target,
            Some(dec("3600")),
            None,
            T0 + 2,
        )
        .unwrap();
    assert_eq!(view.status, OrderStatus::Filled);
    assert_eq!(view.cummulative_quote_qty.as_str(), "5350.00000000");
    let pair = &sim
        .isolated_accounts(7, &sim.isolated_pairs(7), true)
        .unwrap()
        .assets[0];
    assert_eq!(pair.base_asset.free.as_str(), "0.50000000");
    assert_eq!(pair.quote_asset.free.as_str(), "5344.65000000");
}
