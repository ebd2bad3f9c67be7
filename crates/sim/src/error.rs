//! Refusals, each with the code and message Binance answers with (see docs/simulator.md).

use userstream_protocol::ApiError;

/// Why the simulator refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// -1121: the symbol is not traded (or not the isolated account's pair).
    #[error("Invalid symbol.")]
    BadSymbol,
    /// -1013: a PRICE_FILTER, LOT_SIZE or NOTIONAL check failed.
    #[error("Filter failure: {0}")]
    Filter(&'static str),
    /// -1102: a parameter the order type needs is missing.
    #[error("Mandatory parameter '{0}' was not sent, was empty/null, or malformed.")]
    MandatoryParam(&'static str),
    /// -1102: MARKET needs exactly one of quantity / quoteOrderQty.
    #[error("Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")]
    QuantityOrQuote,
    /// -1106: a parameter the order type does not take was sent.
    #[error("Parameter '{0}' sent when not required.")]
    ParamNotRequired(&'static str),
    /// -1130: an amount that must be positive was not.
    #[error("Data sent for parameter '{0}' is not valid.")]
    InvalidParam(&'static str),
    /// -2010: not enough free balance (and no borrowing asked for).
    #[error("Account has insufficient balance for requested action.")]
    InsufficientBalance,
    /// -2010: a LIMIT_MAKER would take.
    #[error("Order would immediately match and take.")]
    WouldMatch,
    /// -2010: a stop order whose condition already holds.
    #[error("Order would trigger immediately.")]
    WouldTrigger,
    /// -2010: an open order already has this client order id.
    #[error("Duplicate order sent.")]
    DuplicateOrder,
    /// -2010: OCO prices on the wrong sides of the market.
    #[error("The relationship of the prices for the orders is not correct.")]
    OcoPrices,
    /// -2011: cancel of an order that is unknown or no longer open.
    #[error("Unknown order sent.")]
    UnknownOrder,
    /// -2013: query of an order that does not exist.
    #[error("Order does not exist.")]
    OrderNotFound,
    /// -3003: the isolated margin account does not exist.
    #[error("Margin account does not exist.")]
    MarginAccountMissing,
    /// -3006: borrowing beyond maxBorrowable.
    #[error("Your borrow amount has exceed maximum borrow amount.")]
    ExceedMaxBorrowable,
    /// -3015: repaying more than is owed.
    #[error("Repay amount exceeds borrow amount.")]
    RepayExceedsLiability,
    /// -3027: the asset is not one of the account's margin assets.
    #[error("Not a valid margin asset.")]
    InvalidMarginAsset,
    /// -3041: repaying more than the free balance.
    #[error("Balance is not enough")]
    RepayBalance,
}

impl SimError {
    /// Binance's error code.
    pub fn code(&self) -> i32 {
        match self {
            SimError::BadSymbol => -1121,
            SimError::Filter(_) => -1013,
            SimError::MandatoryParam(_) | SimError::QuantityOrQuote => -1102,
            SimError::ParamNotRequired(_) => -1106,
            SimError::InvalidParam(_) => -1130,
            SimError::InsufficientBalance
            | SimError::WouldMatch
            | SimError::WouldTrigger
            | SimError::DuplicateOrder
            | SimError::OcoPrices => -2010,
            SimError::UnknownOrder => -2011,
            SimError::OrderNotFound => -2013,
            SimError::MarginAccountMissing => -3003,
            SimError::ExceedMaxBorrowable => -3006,
            SimError::RepayExceedsLiability => -3015,
            SimError::InvalidMarginAsset => -3027,
            SimError::RepayBalance => -3041,
        }
    }

    /// The error body Binance would send (HTTP 400).
    pub fn api_error(&self) -> ApiError {
        ApiError::new(400, self.code(), self.to_string())
    }
}
