//! Who an event or a subscription belongs to.
//!
//! Binance keeps one user data stream per margin account, and a user (UID) has one cross margin
//! account plus one isolated margin account per pair. An [`Account`] names exactly one of them.

use std::fmt;

/// Binance user id.
pub type Uid = u64;

/// Longest symbol we accept anywhere (Binance's longest pairs are well under this).
pub const MAX_SYMBOL_LEN: usize = 20;

/// Which margin account of a user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The cross margin account.
    Cross,
    /// The isolated margin account of one pair, e.g. `BNBUSDT` (always upper case).
    Isolated(String),
}

impl Scope {
    /// The isolated pair, if any.
    pub fn isolated_symbol(&self) -> Option<&str> {
        match self {
            Scope::Cross => None,
            Scope::Isolated(symbol) => Some(symbol),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Cross => f.write_str("cross"),
            Scope::Isolated(symbol) => write!(f, "isolated:{symbol}"),
        }
    }
}

/// One margin account: the unit a subscription and an event are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account {
    pub uid: Uid,
    pub scope: Scope,
}

impl Account {
    pub fn cross(uid: Uid) -> Self {
        Account {
            uid,
            scope: Scope::Cross,
        }
    }

    pub fn isolated(uid: Uid, symbol: impl Into<String>) -> Self {
        Account {
            uid,
            scope: Scope::Isolated(symbol.into()),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.uid, self.scope)
    }
}

/// True when `symbol` has the shape of a Binance symbol: 1..=20 upper-case ASCII letters or digits.
pub fn is_valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol.len() <= MAX_SYMBOL_LEN
        && symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_shape() {
        assert!(is_valid_symbol("BNBUSDT"));
        assert!(is_valid_symbol("1000SATSUSDT"));
        assert!(!is_valid_symbol("bnbusdt"));
        assert!(!is_valid_symbol(""));
        assert!(!is_valid_symbol("BNB-USDT"));
        assert!(!is_valid_symbol(&"A".repeat(21)));
    }

    #[test]
    fn display_names_the_account() {
        assert_eq!(Account::cross(7).to_string(), "7/cross");
        assert_eq!(
            Account::isolated(7, "BNBUSDT").to_string(),
            "7/isolated:BNBUSDT"
        );
    }
}
