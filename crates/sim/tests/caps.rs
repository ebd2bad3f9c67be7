//! What a key holder can make the simulator keep is capped: open orders per symbol
//! (MAX_NUM_ORDERS), and closed orders, closed lists and trades per account; prices stay
//! within PRICE_FILTER; no setting makes a request panic.

mod common;

use common::*;
use userstream_protocol::Account;
use userstream_protocol::events::{OrderType, Side, TimeInForce};
use userstream_sim::{
    Decimal, HistoryQuery, MAX_PRICE, OcoRequest, OrderRef, OrderRequest, SimConfig, SimError,
    Simulator,
};

const T: i64 = 1_000_000;

fn funded(config: SimConfig) -> (Simulator, Account) {
    let mut sim = Simulator::new(config);
    let account = Account::cross(1);
    sim.deposit(&account, "USDT", dec("1000000"), T).unwrap();
    sim.deposit(&account, "BTC", dec("10"), T).unwrap();
    sim.deposit(&account, "ETH", dec("100"), T).unwrap();
    (sim, account)
}

fn limit(symbol: &str, qty: &str, price: &str) -> OrderRequest {
    let mut order = OrderRequest::new(symbol, Side::Buy, OrderType::Limit);
    order.quantity = Some(dec(qty));
    order.price = Some(dec(price));
    order.time_in_force = Some(TimeInForce::Gtc);
    order
}

fn market(qty: &str) -> OrderRequest {
    let mut order = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Market);
    order.quantity = Some(dec(qty));
    order
}

fn oco() -> OcoRequest {
    OcoRequest::new(
        "BTCUSDT",
        Side::Sell,
        dec("0.01"),
        dec("99000"),
        dec("90000"),
    )
}

fn refused(result: Result<impl std::fmt::Debug, SimError>, code: i32, msg: &str) {
    let api = result.unwrap_err().api_error();
    assert_eq!((api.code, api.msg.as_ref()), (code, msg));
}

fn everything() -> HistoryQuery {
    let mut query = HistoryQuery::default();
    query.limit = Some(1000);
    query
}

fn order_ids(sim: &Simulator, account: &Account) -> Vec<i64> {
    sim.all_orders(account, "BTCUSDT", &everything())
        .unwrap()
        .iter()
        .map(|o| o.order_id)
        .collect()
}

#[test]
fn max_num_orders_is_200_open_orders_per_account_and_symbol() {
    assert_eq!(SimConfig::default().max_num_orders, 200);
    let (mut sim, account) = funded(SimConfig::default());
    let mut ids = Vec::new();
    for _ in 0..199 {
        let (placed, _) = sim
            .place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T)
            .unwrap();
        ids.push(placed.order_id);
    }
    // An OCO counts its two legs: 199 + 2 > 200.
    refused(
        sim.place_oco(&account, oco(), T),
        -1013,
        "Filter failure: MAX_NUM_ORDERS",
    );
    sim.place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T)
        .unwrap();
    for order in [limit("BTCUSDT", "0.0001", "90000"), market("0.0001")] {
        refused(
            sim.place_order(&account, order, T),
            -1013,
            "Filter failure: MAX_NUM_ORDERS",
        );
    }
    // Per symbol and per account: others are not held back.
    sim.place_order(&account, limit("ETHUSDT", "0.01", "3000"), T)
        .unwrap();
    let other = Account::cross(2);
    sim.deposit(&other, "USDT", dec("1000"), T).unwrap();
    sim.place_order(&other, limit("BTCUSDT", "0.0001", "90000"), T)
        .unwrap();
    assert_eq!(
        sim.open_orders(&account, Some("BTCUSDT")).unwrap().len(),
        200
    );
    // A cancel makes room again; now two cancels make room for an OCO.
    sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(ids[0]), None, T)
        .unwrap();
    sim.place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T)
        .unwrap();
    for id in &ids[1..3] {
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(*id), None, T)
            .unwrap();
    }
    sim.place_oco(&account, oco(), T).unwrap();
    assert_eq!(
        sim.open_orders(&account, Some("BTCUSDT")).unwrap().len(),
        200
    );
}

#[test]
fn max_num_orders_is_configurable() {
    let mut config = SimConfig::default();
    config.max_num_orders = 1;
    let (mut sim, account) = funded(config);
    refused(
        sim.place_oco(&account, oco(), T),
        -1013,
        "Filter failure: MAX_NUM_ORDERS",
    );
    sim.place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T)
        .unwrap();
    refused(
        sim.place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T),
        -1013,
        "Filter failure: MAX_NUM_ORDERS",
    );
}

#[test]
fn closed_orders_beyond_the_history_cap_are_dropped_open_ones_never() {
    assert_eq!(SimConfig::default().max_history, 10_000);
    let mut config = SimConfig::default();
    config.max_history = 3;
    let (mut sim, account) = funded(config);
    // Five open orders: more than the cap, all kept.
    let mut open = Vec::new();
    for _ in 0..5 {
        let (placed, _) = sim
            .place_order(&account, limit("BTCUSDT", "0.0001", "80000"), T)
            .unwrap();
        open.push(placed.order_id);
    }
    // Five orders placed and canceled.
    let mut closed = Vec::new();
    for _ in 0..5 {
        let (placed, _) = sim
            .place_order(&account, limit("BTCUSDT", "0.0001", "90000"), T)
            .unwrap();
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(placed.order_id), None, T)
            .unwrap();
        closed.push(placed.order_id);
    }
    // The next order trims the closed ones to the newest three.
    let (next, _) = sim
        .place_order(&account, limit("BTCUSDT", "0.0001", "80000"), T)
        .unwrap();
    let mut kept = open.clone();
    kept.extend(&closed[2..]);
    kept.push(next.order_id);
    assert_eq!(order_ids(&sim, &account), kept);
    assert_eq!(sim.open_orders(&account, None).unwrap().len(), 6);
    // A dropped order is gone: queries -2013, cancels -2011, as for an unknown one.
    refused(
        sim.order(&account, "BTCUSDT", &OrderRef::Id(closed[0])),
        -2013,
        "Order does not exist.",
    );
    refused(
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(closed[0]), None, T),
        -2011,
        "Unknown order sent.",
    );
    sim.order(&account, "BTCUSDT", &OrderRef::Id(closed[2]))
        .unwrap();
    // Another account's history is its own.
    let other = Account::cross(2);
    sim.deposit(&other, "USDT", dec("1000"), T).unwrap();
    let (theirs, _) = sim
        .place_order(&other, limit("BTCUSDT", "0.0001", "90000"), T)
        .unwrap();
    sim.cancel_order(&other, "BTCUSDT", &OrderRef::Id(theirs.order_id), None, T)
        .unwrap();
    assert_eq!(order_ids(&sim, &other), [theirs.order_id]);
    assert_eq!(order_ids(&sim, &account), kept);
}

#[test]
fn trades_beyond_the_history_cap_are_dropped() {
    let mut config = SimConfig::default();
    config.max_history = 3;
    let (mut sim, account) = funded(config);
    let mut trade_ids = Vec::new();
    for _ in 0..5 {
        let (placed, _) = sim.place_order(&account, market("0.0001"), T).unwrap();
        let fills = placed.fills.unwrap();
        assert_eq!(fills.len(), 1);
        trade_ids.push(fills[0].trade_id);
    }
    let kept: Vec<i64> = sim
        .my_trades(&account, "BTCUSDT", &everything())
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(kept, trade_ids[2..]);
    // Trade ids come from a counter: dropping never makes one come back.
    let (placed, _) = sim.place_order(&account, market("0.0001"), T).unwrap();
    assert_eq!(placed.fills.unwrap()[0].trade_id, trade_ids[4] + 1);
    let mut from = everything();
    from.from_id = Some(trade_ids[0]);
    assert_eq!(sim.my_trades(&account, "BTCUSDT", &from).unwrap().len(), 3);
}

#[test]
fn done_lists_are_dropped_and_list_ids_never_come_back() {
    let mut config = SimConfig::default();
    config.max_history = 0;
    let (mut sim, account) = funded(config);
    let mut list_ids = Vec::new();
    let mut leg_ids = Vec::new();
    for _ in 0..4 {
        let (list, _) = sim.place_oco(&account, oco(), T).unwrap();
        list_ids.push(list.order_list_id);
        leg_ids.extend(list.orders.iter().map(|o| o.order_id));
        sim.cancel_open_orders(&account, "BTCUSDT", T).unwrap();
    }
    assert_eq!(list_ids, [1, 2, 3, 4]);
    assert_eq!(leg_ids, [1, 2, 3, 4, 5, 6, 7, 8]);
    // With a cap of 0 only the last list's legs (closed after the last placement) remain.
    assert_eq!(order_ids(&sim, &account), [7, 8]);
    // An executing list is never dropped, and its listClientOrderId stays taken.
    let mut named = oco();
    named.list_client_order_id = Some("mine".into());
    let (list, _) = sim.place_oco(&account, named.clone(), T).unwrap();
    assert_eq!(list.order_list_id, 5);
    sim.place_order(&account, limit("BTCUSDT", "0.0001", "80000"), T)
        .unwrap();
    refused(
        sim.place_oco(&account, named, T),
        -2010,
        "Duplicate order sent.",
    );
}

#[test]
fn set_price_applies_the_price_filter() {
    let mut sim = sim();
    for price in [
        "90000.001",
        "0",
        "-1",
        "0.001",
        "1000000000.01",
        "2000000000",
    ] {
        refused(
            sim.set_price("BTCUSDT", dec(price), T),
            -1013,
            "Filter failure: PRICE_FILTER",
        );
    }
    assert_eq!(sim.price("BTCUSDT"), Some(dec("95000.00")));
    sim.set_price("BTCUSDT", dec("90000.01"), T).unwrap();
    sim.set_price("BTCUSDT", MAX_PRICE, T).unwrap();
    // A price from elsewhere goes on the tick first.
    let rules = sim.rules("BTCUSDT").unwrap().clone();
    for (raw, ticked) in [
        ("109608.00500000", "109608.00"),
        ("109608.015", "109608.02"),
        ("0.001", "0.01"),
        ("5000000000", "1000000000"),
    ] {
        let price = rules.on_tick(dec(raw));
        assert_eq!(price, dec(ticked), "{raw}");
        sim.set_price("BTCUSDT", price, T).unwrap();
    }
}

#[test]
fn oco_legs_cannot_share_a_client_order_id() {
    let (mut sim, account) = funded(SimConfig::default());
    let mut request = oco();
    request.limit_client_order_id = Some("twin".into());
    request.stop_client_order_id = Some("twin".into());
    refused(
        sim.place_oco(&account, request.clone(), T),
        -2010,
        "Duplicate order sent.",
    );
    assert!(sim.open_orders(&account, None).unwrap().is_empty());
    let btc = sim
        .cross_account(1)
        .user_assets
        .into_iter()
        .find(|a| a.asset == "BTC")
        .unwrap();
    assert_eq!(btc.locked.as_str(), "0.00000000");
    request.stop_client_order_id = Some("other".into());
    sim.place_oco(&account, request, T).unwrap();
    sim.cancel_order(
        &account,
        "BTCUSDT",
        &OrderRef::ClientId("twin".into()),
        None,
        T,
    )
    .unwrap();
}

#[test]
fn huge_settings_refuse_instead_of_panicking() {
    let mut config = SimConfig::default();
    config.symbols[0].max_qty = Decimal::MAX;
    config.slippage = Decimal::MAX;
    let (mut sim, account) = funded(config);
    assert_eq!(sim.symbols()[0].symbol, "BTCUSDT");
    refused(
        sim.place_order(
            &account,
            limit("BTCUSDT", "100000000000000000000", "1000000000"),
            T,
        ),
        -2010,
        "Account has insufficient balance for requested action.",
    );
    let mut stop = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::StopLoss);
    stop.quantity = Some(dec("100000000000000000000"));
    stop.stop_price = Some(dec("1000000000"));
    refused(
        sim.place_order(&account, stop, T),
        -2010,
        "Account has insufficient balance for requested action.",
    );
    let mut big = oco();
    big.side = Side::Buy;
    big.quantity = dec("100000000000000000000");
    big.price = dec("90000");
    big.stop_price = dec("1000000000");
    refused(
        sim.place_oco(&account, big, T),
        -2010,
        "Account has insufficient balance for requested action.",
    );
    // With a slippage past any price, a market order finds no level and expires.
    let (placed, _) = sim.place_order(&account, market("0.0001"), T).unwrap();
    assert!(placed.fills.unwrap().is_empty());
}
