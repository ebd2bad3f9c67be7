//! Binance's margin REST shapes (`/sapi/v1/margin/...`), written once for both sides: the
//! simulator answers with them and the client reads its snapshot with them.
//!
//! Field names and spellings are Binance's, misspellings included (`cummulativeQuoteQty`,
//! `TotalCollateralValueInUSDT`). Quantities and prices are [`Decimal`] strings. Reading is
//! lenient where Binance is known to add or omit fields (`#[serde(default)]` on what a client
//! does not need), so the client reads real Binance answers as well as the simulator's.

use crate::decimal::Decimal;
use crate::events::{
    ContingencyType, ListOrderStatus, ListStatusType, OrderStatus, OrderType,
    SelfTradePreventionMode, Side, TimeInForce,
};
use serde::{Deserialize, Serialize};

/// `GET /sapi/v1/margin/account`: the cross margin account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossMarginAccount {
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub borrow_enabled: bool,
    pub margin_level: Decimal,
    #[serde(default)]
    pub collateral_margin_level: Option<Decimal>,
    pub total_asset_of_btc: Decimal,
    pub total_liability_of_btc: Decimal,
    pub total_net_asset_of_btc: Decimal,
    #[serde(rename = "TotalCollateralValueInUSDT", default)]
    pub total_collateral_value_in_usdt: Option<Decimal>,
    #[serde(default)]
    pub total_open_order_loss_in_usdt: Option<Decimal>,
    #[serde(default)]
    pub trade_enabled: bool,
    #[serde(default)]
    pub transfer_in_enabled: bool,
    #[serde(default)]
    pub transfer_out_enabled: bool,
    #[serde(default)]
    pub account_type: Option<String>,
    pub user_assets: Vec<MarginAsset>,
}

/// One asset of the cross margin account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginAsset {
    pub asset: String,
    pub borrowed: Decimal,
    pub free: Decimal,
    pub interest: Decimal,
    pub locked: Decimal,
    pub net_asset: Decimal,
}

/// `GET /sapi/v1/margin/isolated/account`: the isolated margin accounts of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolatedMarginAccounts {
    pub assets: Vec<IsolatedPair>,
    /// Absent when the request named symbols, as on Binance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_asset_of_btc: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_liability_of_btc: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_net_asset_of_btc: Option<Decimal>,
}

/// One isolated margin account (one pair).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolatedPair {
    pub base_asset: IsolatedAsset,
    pub quote_asset: IsolatedAsset,
    pub symbol: String,
    #[serde(default)]
    pub isolated_created: bool,
    #[serde(default)]
    pub enabled: bool,
    pub margin_level: Decimal,
    /// `EXCESSIVE`, `NORMAL`, `MARGIN_CALL`, `PRE_LIQUIDATION` or `FORCE_LIQUIDATION`.
    pub margin_level_status: String,
    pub margin_ratio: Decimal,
    pub index_price: Decimal,
    pub liquidate_price: Decimal,
    pub liquidate_rate: Decimal,
    #[serde(default)]
    pub trade_enabled: bool,
}

/// One side (base or quote) of an isolated pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolatedAsset {
    pub asset: String,
    #[serde(default)]
    pub borrow_enabled: bool,
    pub borrowed: Decimal,
    pub free: Decimal,
    pub interest: Decimal,
    pub locked: Decimal,
    pub net_asset: Decimal,
    pub net_asset_of_btc: Decimal,
    #[serde(default)]
    pub repay_enabled: bool,
    pub total_asset: Decimal,
}

/// An order as `GET /sapi/v1/margin/order`, `/openOrders` and `/allOrders` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginOrder {
    pub client_order_id: String,
    pub cummulative_quote_qty: Decimal,
    pub executed_qty: Decimal,
    pub iceberg_qty: Decimal,
    pub is_working: bool,
    pub order_id: i64,
    pub orig_qty: Decimal,
    pub price: Decimal,
    pub side: Side,
    pub status: OrderStatus,
    pub stop_price: Decimal,
    pub symbol: String,
    pub is_isolated: bool,
    /// Creation time, milliseconds.
    pub time: i64,
    pub time_in_force: TimeInForce,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    #[serde(default = "no_prevention")]
    pub self_trade_prevention_mode: SelfTradePreventionMode,
    /// Last change, milliseconds.
    pub update_time: i64,
}

fn no_prevention() -> SelfTradePreventionMode {
    SelfTradePreventionMode::None
}

/// `POST /sapi/v1/margin/order`: the answer, as `newOrderRespType` asks (ACK, RESULT, FULL).
/// ACK carries the first five fields only; RESULT adds the order's state; FULL adds the fills
/// and, for a MARGIN_BUY that borrowed, what it borrowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderResponse {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    pub is_isolated: bool,
    /// Milliseconds.
    pub transact_time: i64,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OrderState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_buy_borrow_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_buy_borrow_asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fills: Option<Vec<Fill>>,
}

/// The state of an order in RESULT and FULL answers, in cancel answers and in OCO reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderState {
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cummulative_quote_qty: Decimal,
    pub status: OrderStatus,
    pub time_in_force: TimeInForce,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    #[serde(default = "no_prevention")]
    pub self_trade_prevention_mode: SelfTradePreventionMode,
}

/// One fill of a FULL answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
}

/// `DELETE /sapi/v1/margin/order`, and each order of `DELETE /sapi/v1/margin/openOrders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanceledOrder {
    pub symbol: String,
    pub is_isolated: bool,
    pub order_id: i64,
    pub orig_client_order_id: String,
    /// The cancel request's own id (`newClientOrderId`, or a generated one).
    pub client_order_id: String,
    #[serde(flatten)]
    pub state: OrderState,
}

/// A trade of `GET /sapi/v1/margin/myTrades`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginTrade {
    pub commission: Decimal,
    pub commission_asset: String,
    pub id: i64,
    pub is_best_match: bool,
    pub is_buyer: bool,
    pub is_maker: bool,
    pub order_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub symbol: String,
    pub is_isolated: bool,
    /// Milliseconds.
    pub time: i64,
}

/// `POST /sapi/v1/margin/order/oco`, and an OCO among `DELETE /sapi/v1/margin/openOrders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub order_list_id: i64,
    pub contingency_type: ContingencyType,
    pub list_status_type: ListStatusType,
    pub list_order_status: ListOrderStatus,
    pub list_client_order_id: String,
    /// Milliseconds.
    pub transaction_time: i64,
    pub symbol: String,
    pub is_isolated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_buy_borrow_amount: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin_buy_borrow_asset: Option<String>,
    pub orders: Vec<ListMember>,
    pub order_reports: Vec<ListOrderReport>,
}

/// An order of a list, by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMember {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
}

/// An order of a list, with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOrderReport {
    pub symbol: String,
    pub order_id: i64,
    pub order_list_id: i64,
    pub client_order_id: String,
    /// Milliseconds.
    pub transact_time: i64,
    #[serde(flatten)]
    pub state: OrderState,
}

/// `GET /sapi/v1/margin/maxBorrowable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxBorrowable {
    pub amount: Decimal,
    pub borrow_limit: Decimal,
}

/// `POST /sapi/v1/margin/borrow-repay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub tran_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's documented example of `GET /sapi/v1/margin/account` reads as it is.
    #[test]
    fn reads_binance_cross_account_example() {
        let text = r#"{"created":true,"borrowEnabled":true,"marginLevel":"11.64405625",
            "collateralMarginLevel":"3.2","totalAssetOfBtc":"6.82728457",
            "totalLiabilityOfBtc":"0.58633215","totalNetAssetOfBtc":"6.24095242",
            "TotalCollateralValueInUSDT":"5.82728457","totalOpenOrderLossInUsdt":"582.728457",
            "tradeEnabled":true,"transferInEnabled":true,"transferOutEnabled":true,
            "accountType":"MARGIN_1","userAssets":[{"asset":"BTC","borrowed":"0.00000000",
            "free":"0.00499500","interest":"0.00000000","locked":"0.00000000",
            "netAsset":"0.00499500"}]}"#;
        let account: CrossMarginAccount = serde_json::from_str(text).unwrap();
        assert_eq!(account.user_assets[0].free.as_str(), "0.00499500");
        assert_eq!(
            account
                .total_collateral_value_in_usdt
                .as_ref()
                .map(Decimal::as_str),
            Some("5.82728457")
        );
        let again = serde_json::to_value(&account).unwrap();
        assert_eq!(again["TotalCollateralValueInUSDT"], "5.82728457");
        assert_eq!(again["userAssets"][0]["netAsset"], "0.00499500");
    }

    /// An ACK answer carries no state and no fills.
    #[test]
    fn ack_answer_has_five_fields() {
        let ack = NewOrderResponse {
            symbol: "BTCUSDT".into(),
            order_id: 28,
            client_order_id: "6gCrw2kRUAF9CvJDGP16IP".into(),
            is_isolated: false,
            transact_time: 1_507_725_176_595,
            result: None,
            margin_buy_borrow_amount: None,
            margin_buy_borrow_asset: None,
            fills: None,
        };
        let value = serde_json::to_value(&ack).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 5);
        let back: NewOrderResponse = serde_json::from_value(value).unwrap();
        assert_eq!(back, ack);
    }
}
