//! Every refusal carries Binance's code and message.

mod common;

use common::*;
use userstream_protocol::Account;
use userstream_protocol::events::{OrderType, Side, TimeInForce};
use userstream_sim::{BorrowRepay, OcoRequest, OrderRef, OrderRequest, SimError, Simulator};

const T: i64 = 1_000_000;

fn funded() -> (Simulator, Account) {
    let mut sim = sim();
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("100000"), T).unwrap();
    sim.deposit(&account, "BTC", dec("1"), T).unwrap();
    (sim, account)
}

fn limit(qty: &str, price: &str) -> OrderRequest {
    let mut order = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Limit);
    order.quantity = Some(dec(qty));
    order.price = Some(dec(price));
    order.time_in_force = Some(TimeInForce::Gtc);
    order
}

fn refused(result: Result<impl std::fmt::Debug, SimError>, code: i32, msg: &str) {
    let error = result.unwrap_err();
    let api = error.api_error();
    assert_eq!(
        (api.code, api.msg.as_ref(), api.status),
        (code, msg, 400),
        "{error:?}"
    );
}

#[test]
fn filters() {
    let (mut sim, account) = funded();
    refused(
        sim.place_order(&account, limit("0.01", "90000.001"), T),
        -1013,
        "Filter failure: PRICE_FILTER",
    );
    refused(
        sim.place_order(&account, limit("0.000001", "90000"), T),
        -1013,
        "Filter failure: LOT_SIZE",
    );
    refused(
        sim.place_order(&account, limit("100000", "90000"), T),
        -1013,
        "Filter failure: LOT_SIZE",
    );
    refused(
        sim.place_order(&account, limit("0.00001", "90000"), T),
        -1013,
        "Filter failure: NOTIONAL",
    );
    let mut market = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    market.quote_order_qty = Some(dec("1"));
    refused(
        sim.place_order(&account, market, T),
        -1013,
        "Filter failure: NOTIONAL",
    );
}

#[test]
fn parameters() {
    let (mut sim, account) = funded();
    let mut order = limit("0.01", "90000");
    order.time_in_force = None;
    refused(
        sim.place_order(&account, order, T),
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    );
    let market = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    refused(
        sim.place_order(&account, market, T),
        -1102,
        "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
    );
    let mut market = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    market.quantity = Some(dec("0.01"));
    market.price = Some(dec("90000"));
    refused(
        sim.place_order(&account, market, T),
        -1106,
        "Parameter 'price' sent when not required.",
    );
    refused(
        sim.deposit(&account, "USDT", dec("-1"), T),
        -1130,
        "Data sent for parameter 'amount' is not valid.",
    );
}

#[test]
fn symbols_and_assets() {
    let (mut sim, account) = funded();
    let mut order = limit("0.01", "90000");
    order.symbol = "NOPEUSDT".into();
    refused(
        sim.place_order(&account, order, T),
        -1121,
        "Invalid symbol.",
    );
    refused(sim.set_price("NOPE", dec("1"), T), -1121, "Invalid symbol.");
    refused(
        sim.deposit(&account, "NOPE", dec("1"), T),
        -3027,
        "Not a valid margin asset.",
    );
    refused(
        sim.isolated_accounts(1, &["NOPE".to_string()], false),
        -1121,
        "Invalid symbol.",
    );
}

#[test]
fn balances() {
    let (mut sim, account) = funded();
    refused(
        sim.place_order(&account, limit("2", "90000"), T),
        -2010,
        "Account has insufficient balance for requested action.",
    );
    let mut sell = OrderRequest::new("BTCUSDT", Side::Sell, OrderType::Market);
    sell.quantity = Some(dec("2"));
    refused(
        sim.place_order(&account, sell, T),
        -2010,
        "Account has insufficient balance for requested action.",
    );
    // Nothing was touched by the refusals.
    let usdt = sim
        .cross_account(1)
        .user_assets
        .into_iter()
        .find(|a| a.asset == "USDT")
        .unwrap();
    assert_eq!(usdt.locked.as_str(), "0.00000000");
}

#[test]
fn order_rules() {
    let (mut sim, account) = funded();
    let mut maker = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::LimitMaker);
    maker.quantity = Some(dec("0.01"));
    maker.price = Some(dec("96000"));
    refused(
        sim.place_order(&account, maker, T),
        -2010,
        "Order would immediately match and take.",
    );
    let mut stop = OrderRequest::new("BTCUSDT", Side::Sell, OrderType::StopLoss);
    stop.quantity = Some(dec("0.01"));
    stop.stop_price = Some(dec("96000"));
    refused(
        sim.place_order(&account, stop, T),
        -2010,
        "Order would trigger immediately.",
    );
    let mut first = limit("0.01", "90000");
    first.new_client_order_id = Some("same".into());
    sim.place_order(&account, first.clone(), T).unwrap();
    refused(
        sim.place_order(&account, first, T),
        -2010,
        "Duplicate order sent.",
    );
    let oco = OcoRequest::new(
        "BTCUSDT",
        Side::Sell,
        dec("0.1"),
        dec("94000"),
        dec("93000"),
    );
    refused(
        sim.place_oco(&account, oco, T),
        -2010,
        "The relationship of the prices for the orders is not correct.",
    );
}

#[test]
fn unknown_orders() {
    let (mut sim, account) = funded();
    refused(
        sim.order(&account, "BTCUSDT", &OrderRef::Id(42)),
        -2013,
        "Order does not exist.",
    );
    refused(
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(42), None, T),
        -2011,
        "Unknown order sent.",
    );
    refused(
        sim.cancel_open_orders(&account, "BTCUSDT", T),
        -2011,
        "Unknown order sent.",
    );
    let (placed, _) = sim
        .place_order(&account, limit("0.01", "90000"), T)
        .unwrap();
    sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(placed.order_id), None, T)
        .unwrap();
    refused(
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(placed.order_id), None, T),
        -2011,
        "Unknown order sent.",
    );
    refused(
        sim.fill_order(
            &account,
            "BTCUSDT",
            &OrderRef::Id(placed.order_id),
            None,
            None,
            T,
        ),
        -2013,
        "Order does not exist.",
    );
    // Another account's order is unknown too.
    let (other, _) = sim
        .place_order(&account, limit("0.01", "90000"), T)
        .unwrap();
    refused(
        sim.order(&Account::cross(2), "BTCUSDT", &OrderRef::Id(other.order_id)),
        -2013,
        "Order does not exist.",
    );
}

#[test]
fn borrowing() {
    let (mut sim, account) = funded();
    refused(
        sim.borrow_repay(&account, "USDT", dec("10000000"), BorrowRepay::Borrow, T),
        -3006,
        "Your borrow amount has exceed maximum borrow amount.",
    );
    sim.borrow_repay(&account, "USDT", dec("100"), BorrowRepay::Borrow, T)
        .unwrap();
    refused(
        sim.borrow_repay(&account, "USDT", dec("101"), BorrowRepay::Repay, T),
        -3015,
        "Repay amount exceeds borrow amount.",
    );
    let empty = Account::cross(3);
    sim.deposit(&empty, "BTC", dec("1"), T).unwrap();
    sim.borrow_repay(&empty, "ETH", dec("1"), BorrowRepay::Borrow, T)
        .unwrap();
    let mut sell = OrderRequest::new("ETHUSDT", Side::Sell, OrderType::Market);
    sell.quantity = Some(dec("1"));
    sim.place_order(&empty, sell, T).unwrap();
    refused(
        sim.borrow_repay(&empty, "ETH", dec("1"), BorrowRepay::Repay, T),
        -3041,
        "Balance is not enough",
    );
    refused(
        sim.borrow_repay(&empty, "NOPE", dec("1"), BorrowRepay::Borrow, T),
        -3027,
        "Not a valid margin asset.",
    );
    let mut buy = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    buy.quantity = Some(dec("50"));
    buy.side_effect = userstream_sim::SideEffect::MarginBuy;
    refused(
        sim.place_order(&empty, buy, T),
        -3006,
        "Your borrow amount has exceed maximum borrow amount.",
    );
}
