//! Decimal quantities and prices.
//!
//! Binance sends every quantity and price as a JSON string (`"0.10264410"`), never a float, and
//! clients compare those strings byte for byte. [`Decimal`] therefore keeps the exact text it was
//! given (trailing zeros included) and only checks its shape; SBE sessions get the exact
//! mantissa/exponent pair of the same text.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Longest decimal text accepted: far more than Binance's 8 fraction digits need, small enough
/// that a hostile publisher cannot make us store megabytes per field.
pub const MAX_DECIMAL_LEN: usize = 40;

/// A decimal number kept as its exact text, matching `-?[0-9]+(\.[0-9]+)?`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

/// Why a text is not a [`Decimal`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("decimal is empty")]
    Empty,
    #[error("decimal is longer than {MAX_DECIMAL_LEN} characters")]
    TooLong,
    #[error("decimal {0:?} must be digits with an optional '-' sign and '.' fraction")]
    Malformed(String),
}

impl Decimal {
    /// Checks `text` against `-?[0-9]+(\.[0-9]+)?` (at most 40 characters) and keeps it verbatim.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        if text.is_empty() {
            return Err(DecimalError::Empty);
        }
        if text.len() > MAX_DECIMAL_LEN {
            return Err(DecimalError::TooLong);
        }
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match unsigned.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if all_digits(int) && frac.is_none_or(all_digits) {
            Ok(Decimal(text.to_owned()))
        } else {
            Err(DecimalError::Malformed(text.to_owned()))
        }
    }

    /// The exact text, e.g. `"0.10264410"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact SBE form `mantissa × 10^exponent`: `"0.10264410"` → `(10264410, -8)`.
    ///
    /// The exponent is minus the number of fraction digits, so trailing zeros survive.
    /// `None` when the digits do not fit an `i64` mantissa.
    pub fn mantissa_exponent(&self) -> Option<(i64, i8)> {
        let (negative, unsigned) = match self.0.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.0.as_str()),
        };
        let frac_len = unsigned.find('.').map_or(0, |dot| unsigned.len() - dot - 1);
        let mut mantissa: i64 = 0;
        for digit in unsigned.bytes().filter(u8::is_ascii_digit) {
            let digit = i64::from(digit - b'0');
            mantissa = mantissa.checked_mul(10)?;
            // Accumulate on the sign's side so that i64::MIN is reachable.
            mantissa = if negative {
                mantissa.checked_sub(digit)?
            } else {
                mantissa.checked_add(digit)?
            };
        }
        let exponent = i8::try_from(frac_len).ok()?.checked_neg()?;
        Some((mantissa, exponent))
    }

    /// Writes `mantissa × 10^exponent` as text: a negative exponent gives that many fraction
    /// digits (zeros kept), a positive one appends zeros to the integer.
    ///
    /// Inverse of [`Decimal::mantissa_exponent`] for exponents ≤ 0. The result may be longer than
    /// [`MAX_DECIMAL_LEN`] for extreme exponents: it is still a well-formed decimal.
    pub fn from_mantissa_exponent(mantissa: i64, exponent: i8) -> Decimal {
        let digits = mantissa.unsigned_abs().to_string();
        let mut text = String::with_capacity(digits.len() + 4);
        if mantissa < 0 {
            text.push('-');
        }
        if exponent >= 0 {
            text.push_str(&digits);
            if mantissa != 0 {
                text.extend(std::iter::repeat_n(
                    '0',
                    usize::from(exponent.unsigned_abs()),
                ));
            }
        } else {
            let frac_len = usize::from(exponent.unsigned_abs());
            if digits.len() > frac_len {
                let (int, frac) = digits.split_at(digits.len() - frac_len);
                text.push_str(int);
                text.push('.');
                text.push_str(frac);
            } else {
                text.push_str("0.");
                text.extend(std::iter::repeat_n('0', frac_len - digits.len()));
                text.push_str(&digits);
            }
        }
        Decimal(text)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Decimal::parse(text)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DecimalVisitor)
    }
}

/// Accepts strings only: a JSON number would already have lost its exact text.
struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Decimal, E> {
        Decimal::parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn parse_keeps_text() {
        for text in [
            "0",
            "100",
            "-1.5",
            "0.10264410",
            "10580.00000000",
            "-0.00000001",
        ] {
            assert_eq!(dec(text).as_str(), text);
            assert_eq!(dec(text).to_string(), text);
        }
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        for text in [
            "", "-", ".5", "5.", "1e5", "+1", "1.2.3", " 1", "1 ", "0x10", "--1", "１",
        ] {
            assert!(Decimal::parse(text).is_err(), "{text:?} accepted");
        }
        assert_eq!(Decimal::parse(""), Err(DecimalError::Empty));
        let long = "1".repeat(MAX_DECIMAL_LEN + 1);
        assert_eq!(Decimal::parse(&long), Err(DecimalError::TooLong));
        assert!(Decimal::parse(&long[1..]).is_ok());
        let message = Decimal::parse("1,5").unwrap_err().to_string();
        assert!(message.contains("\"1,5\""), "{message}");
    }

    #[test]
    fn mantissa_exponent_examples() {
        assert_eq!(dec("0.10264410").mantissa_exponent(), Some((10264410, -8)));
        assert_eq!(dec("100").mantissa_exponent(), Some((100, 0)));
        assert_eq!(dec("-1.5").mantissa_exponent(), Some((-15, -1)));
        assert_eq!(dec("0.00000000").mantissa_exponent(), Some((0, -8)));
        assert_eq!(
            dec("9223372036854775807").mantissa_exponent(),
            Some((i64::MAX, 0))
        );
        assert_eq!(
            dec("-922337203685477580.8").mantissa_exponent(),
            Some((i64::MIN, -1))
        );
        assert_eq!(dec("9223372036854775808").mantissa_exponent(), None);
        assert_eq!(
            dec("0.00000000000000000000000000000000000001").mantissa_exponent(),
            Some((1, -38))
        );
    }

    #[test]
    fn from_mantissa_exponent_examples() {
        assert_eq!(
            Decimal::from_mantissa_exponent(10264410, -8).as_str(),
            "0.10264410"
        );
        assert_eq!(Decimal::from_mantissa_exponent(100, 0).as_str(), "100");
        assert_eq!(Decimal::from_mantissa_exponent(-15, -1).as_str(), "-1.5");
        assert_eq!(
            Decimal::from_mantissa_exponent(0, -8).as_str(),
            "0.00000000"
        );
        assert_eq!(Decimal::from_mantissa_exponent(-1, -3).as_str(), "-0.001");
        assert_eq!(Decimal::from_mantissa_exponent(15, 2).as_str(), "1500");
        assert_eq!(Decimal::from_mantissa_exponent(0, 2).as_str(), "0");
        assert_eq!(
            Decimal::from_mantissa_exponent(i64::MIN, 0).as_str(),
            "-9223372036854775808"
        );
    }

    #[test]
    fn serde_uses_strings_only() {
        let value: Decimal = serde_json::from_str("\"0.10264410\"").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"0.10264410\"");
        let number = serde_json::from_str::<Decimal>("0.1")
            .unwrap_err()
            .to_string();
        assert!(number.contains("expected a decimal string"), "{number}");
        let bad = serde_json::from_str::<Decimal>("\"abc\"")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("\"abc\""), "{bad}");
    }

    /// Decimals the way an exchange writes them: no leading zeros, no negative zero.
    fn canonical_decimal() -> impl Strategy<Value = String> {
        "-?(0|[1-9][0-9]{0,8})(\\.[0-9]{1,9})?".prop_filter("negative zero", |text| {
            !(text.starts_with('-') && text.bytes().all(|b| matches!(b, b'-' | b'0' | b'.')))
        })
    }

    proptest! {
        #[test]
        fn text_round_trips_through_mantissa_exponent(text in canonical_decimal()) {
            let decimal = Decimal::parse(&text).unwrap();
            let (mantissa, exponent) = decimal.mantissa_exponent().unwrap();
            prop_assert_eq!(Decimal::from_mantissa_exponent(mantissa, exponent), decimal);
        }

        #[test]
        fn mantissa_exponent_round_trips_through_text(mantissa in any::<i64>(), exponent in -30i8..=0) {
            let decimal = Decimal::from_mantissa_exponent(mantissa, exponent);
            prop_assert!(Decimal::parse(decimal.as_str()).is_ok());
            prop_assert_eq!(decimal.mantissa_exponent(), Some((mantissa, exponent)));
        }

        #[test]
        fn positive_exponent_keeps_the_value(mantissa in -1_000_000i64..1_000_000, exponent in 1i8..=6) {
            let decimal = Decimal::from_mantissa_exponent(mantissa, exponent);
            let scaled = mantissa * 10i64.pow(u32::from(exponent.unsigned_abs()));
            prop_assert_eq!(decimal.mantissa_exponent(), Some((scaled, 0)));
        }
    }
}
