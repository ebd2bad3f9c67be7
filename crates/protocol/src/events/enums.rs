//! Enumerations carried by events, with their JSON text and SBE code (schema `spot_3_5.xml`).
//!
//! The SBE sentinels `UNKNOWN` and `NON_REPRESENTABLE` are left out: they only tell an SBE decoder
//! that the schema is too old, they are never a value an order can have.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Defines a C-like enum with its JSON text and SBE code, plus parsing and serde.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $json:literal, $code:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in SBE code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The JSON texts of [`Self::ALL`], for error messages.
            const NAMES: &'static [&'static str] = &[$($json,)+];

            /// The JSON text, e.g. `"NEW"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $json,)+
                }
            }

            /// Parses the exact (upper-case) JSON text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($json => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The SBE code of the schema's enum of the same name.
            pub fn sbe_value(self) -> u8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value of an SBE code; `None` for unknown codes and sentinels.
            pub fn from_sbe_value(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::parse(text).ok_or_else(|| E::unknown_variant(text, $name::NAMES))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

wire_enum! {
    /// Execution type `x` of an executionReport (SBE `executionType`).
    ExecutionType ("an execution type string") {
        New = "NEW", 0;
        Canceled = "CANCELED", 1;
        Replaced = "REPLACED", 2;
        Rejected = "REJECTED", 3;
        Trade = "TRADE", 4;
        Expired = "EXPIRED", 5;
        TradePrevention = "TRADE_PREVENTION", 8;
    }
}

wire_enum! {
    /// Order status `X` (SBE `orderStatus`).
    OrderStatus ("an order status string") {
        New = "NEW", 0;
        PartiallyFilled = "PARTIALLY_FILLED", 1;
        Filled = "FILLED", 2;
        Canceled = "CANCELED", 3;
        PendingCancel = "PENDING_CANCEL", 4;
        Rejected = "REJECTED", 5;
        Expired = "EXPIRED", 6;
        ExpiredInMatch = "EXPIRED_IN_MATCH", 9;
        /// An order of a list waiting for its working order (OTO).
        PendingNew = "PENDING_NEW", 11;
    }
}

wire_enum! {
    /// Order side `S` (SBE `orderSide`).
    Side ("an order side string") {
        Buy = "BUY", 0;
        Sell = "SELL", 1;
    }
}

wire_enum! {
    /// Order type `o` (SBE `orderType`).
    OrderType ("an order type string") {
        Market = "MARKET", 0;
        Limit = "LIMIT", 1;
        StopLoss = "STOP_LOSS", 2;
        StopLossLimit = "STOP_LOSS_LIMIT", 3;
        TakeProfit = "TAKE_PROFIT", 4;
        TakeProfitLimit = "TAKE_PROFIT_LIMIT", 5;
        LimitMaker = "LIMIT_MAKER", 6;
    }
}

wire_enum! {
    /// Time in force `f` (SBE `timeInForce`).
    TimeInForce ("a time in force string") {
        Gtc = "GTC", 0;
        Ioc = "IOC", 1;
        Fok = "FOK", 2;
    }
}

wire_enum! {
    /// Self-trade prevention mode `V` (SBE `selfTradePreventionMode`).
    SelfTradePreventionMode ("a self-trade prevention mode string") {
        None = "NONE", 1;
        ExpireTaker = "EXPIRE_TAKER", 2;
        ExpireMaker = "EXPIRE_MAKER", 3;
        ExpireBoth = "EXPIRE_BOTH", 4;
        Decrement = "DECREMENT", 5;
        Transfer = "TRANSFER", 6;
    }
}

wire_enum! {
    /// Match type `b` (SBE `matchType`).
    MatchType ("a match type string") {
        AutoMatch = "AUTO_MATCH", 1;
        OnePartyTradeReport = "ONE_PARTY_TRADE_REPORT", 2;
    }
}

wire_enum! {
    /// Working floor `k` (SBE `floor`).
    WorkingFloor ("a working floor string") {
        Exchange = "EXCHANGE", 1;
        Broker = "BROKER", 2;
        Sor = "SOR", 3;
    }
}

wire_enum! {
    /// Peg price type `gP` (SBE `pegPriceType`).
    PegPriceType ("a peg price type string") {
        PrimaryPeg = "PRIMARY_PEG", 1;
        MarketPeg = "MARKET_PEG", 2;
    }
}

wire_enum! {
    /// Peg offset type `gOT` (SBE `pegOffsetType`).
    PegOffsetType ("a peg offset type string") {
        PriceLevel = "PRICE_LEVEL", 1;
    }
}

wire_enum! {
    /// Expiry reason `eR` (SBE `expiryReason`).
    ExpiryReason ("an expiry reason string") {
        Rejected = "REJECTED", 1;
        ExchangeCanceled = "EXCHANGE_CANCELED", 2;
        OcoTrigger = "OCO_TRIGGER", 3;
        OtoPhaseOneExpired = "OTO_PHASE_ONE_EXPIRED", 4;
        UnfilledIocQuantityExpired = "UNFILLED_IOC_QUANTITY_EXPIRED", 5;
        UnfilledFokOrderExpired = "UNFILLED_FOK_ORDER_EXPIRED", 6;
        InsufficientLiquidity = "INSUFFICIENT_LIQUIDITY", 7;
        ExecutionRulePriceRangeExceeded = "EXECUTION_RULE_PRICE_RANGE_EXCEEDED", 8;
    }
}

wire_enum! {
    /// Contingency type `c` of a listStatus (SBE `contingencyType`; OTOCO lists report `OTO`).
    ContingencyType ("a contingency type string") {
        Oco = "OCO", 1;
        Oto = "OTO", 2;
    }
}

wire_enum! {
    /// List status type `l` of a listStatus (SBE `listStatusType`).
    ListStatusType ("a list status type string") {
        Response = "RESPONSE", 0;
        ExecStarted = "EXEC_STARTED", 1;
        AllDone = "ALL_DONE", 2;
        Updated = "UPDATED", 3;
    }
}

wire_enum! {
    /// List order status `L` of a listStatus (SBE `listOrderStatus`).
    ListOrderStatus ("a list order status string") {
        Canceling = "CANCELING", 0;
        Executing = "EXECUTING", 1;
        AllDone = "ALL_DONE", 2;
        Reject = "REJECT", 3;
    }
}

/// Longest upper-case code accepted in [`MarginLevelStatus`] / [`LiabilityType`].
const MAX_CODE_LEN: usize = 32;

/// Defines an open set of upper-case codes: Binance documents examples, not the full list, so
/// any `[A-Z][A-Z0-9_]*` text is kept rather than rejecting a value we have not seen yet.
macro_rules! code_string {
    ($(#[$meta:meta])* $name:ident ($what:literal)) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Accepts `[A-Z][A-Z0-9_]*`, at most 32 characters.
            pub fn parse(text: &str) -> Option<Self> {
                let mut bytes = text.bytes();
                let head_ok = bytes.next().is_some_and(|b| b.is_ascii_uppercase());
                let tail_ok = bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                (head_ok && tail_ok && text.len() <= MAX_CODE_LEN).then(|| $name(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::parse(text).ok_or_else(|| {
                            E::invalid_value(de::Unexpected::Str(text), &self)
                        })
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

code_string! {
    /// Margin level status `s` of MARGIN_LEVEL_STATUS_CHANGE, e.g. `MARGIN_CALL`,
    /// `PRE_LIQUIDATION`, `FORCE_LIQUIDATION`, `NORMAL`.
    MarginLevelStatus ("an upper-case margin level status such as \"MARGIN_CALL\"")
}

code_string! {
    /// Liability type `t` of USER_LIABILITY_CHANGE, e.g. `BORROW`, `REPAY`, `INTEREST`.
    LiabilityType ("an upper-case liability type such as \"BORROW\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks text and SBE code round trips of every value of one enum.
    macro_rules! check_enum {
        ($name:ident) => {
            for value in $name::ALL {
                assert_eq!($name::parse(value.as_str()), Some(*value));
                assert_eq!($name::from_sbe_value(value.sbe_value()), Some(*value));
                let json = serde_json::to_string(value).unwrap();
                assert_eq!(serde_json::from_str::<$name>(&json).unwrap(), *value);
            }
            assert_eq!($name::parse("new"), None);
            assert_eq!($name::from_sbe_value(254), None);
        };
    }

    #[test]
    fn enums_round_trip() {
        check_enum!(ExecutionType);
        check_enum!(OrderStatus);
        check_enum!(Side);
        check_enum!(OrderType);
        check_enum!(TimeInForce);
        check_enum!(SelfTradePreventionMode);
        check_enum!(MatchType);
        check_enum!(WorkingFloor);
        check_enum!(PegPriceType);
        check_enum!(PegOffsetType);
        check_enum!(ExpiryReason);
        check_enum!(ContingencyType);
        check_enum!(ListStatusType);
        check_enum!(ListOrderStatus);
    }

    #[test]
    fn sbe_codes_follow_the_schema() {
        assert_eq!(ExecutionType::TradePrevention.sbe_value(), 8);
        assert_eq!(OrderStatus::ExpiredInMatch.sbe_value(), 9);
        assert_eq!(OrderType::Market.sbe_value(), 0);
        assert_eq!(SelfTradePreventionMode::None.sbe_value(), 1);
        assert_eq!(ListStatusType::Updated.sbe_value(), 3);
    }

    #[test]
    fn unknown_value_lists_the_expected_ones() {
        let error = serde_json::from_str::<Side>("\"HOLD\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown variant `HOLD`, expected `BUY` or `SELL`"),
            "{error}"
        );
        let error = serde_json::from_str::<Side>("1").unwrap_err().to_string();
        assert!(error.contains("expected an order side string"), "{error}");
    }

    #[test]
    fn codes_are_validated() {
        assert!(MarginLevelStatus::parse("MARGIN_CALL").is_some());
        assert!(MarginLevelStatus::parse("SUPPLY_MARGIN2").is_some());
        for bad in ["", "margin_call", "_X", "1X", "A-B", &"A".repeat(33)] {
            assert!(MarginLevelStatus::parse(bad).is_none(), "{bad:?} accepted");
        }
        let error = serde_json::from_str::<LiabilityType>("\"borrow\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("such as \\\"BORROW\\\"") || error.contains("BORROW"),
            "{error}"
        );
    }
}
