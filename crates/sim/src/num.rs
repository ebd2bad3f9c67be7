//! Exact decimal helpers: rounding to ticks and steps, and Binance's 8-digit text.

use rust_decimal::{Decimal, RoundingStrategy};
use userstream_protocol::decimal::Decimal as Text;

/// Largest amount a single deposit, borrow or quote quantity may carry: sums stay far below
/// `Decimal::MAX`, so arithmetic never overflows.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 1e12

/// Binance's text: exactly 8 fraction digits, e.g. `"0.10264410"`.
pub fn text(value: Decimal) -> Text {
    let mut rounded = value.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() {
        rounded = Decimal::ZERO;
    }
    rounded.rescale(8);
    Text::parse(&rounded.to_string()).unwrap_or_else(|_| Text::from_mantissa_exponent(0, -8))
}

/// Rounds an amount to Binance's 8 decimals (half away from zero).
pub fn q8(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds an amount down to 8 decimals (commissions, max borrowable).
pub fn q8_down(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(8, RoundingStrategy::ToZero)
}

/// `value` rounded down to a multiple of `unit` (unit > 0; any other unit leaves `value` as
/// it is), or `None` when the quotient or the product overflows.
pub fn floor_to(value: Decimal, unit: Decimal) -> Option<Decimal> {
    if unit <= Decimal::ZERO {
        return Some(value);
    }
    value.checked_div(unit)?.floor().checked_mul(unit)
}

/// `value` rounded up to a multiple of `unit` (unit > 0; any other unit leaves `value` as it
/// is), or `None` when the quotient or the product overflows.
pub fn ceil_to(value: Decimal, unit: Decimal) -> Option<Decimal> {
    if unit <= Decimal::ZERO {
        return Some(value);
    }
    value.checked_div(unit)?.ceil().checked_mul(unit)
}

/// Whether `value` is a whole multiple of `unit`.
pub fn is_multiple(value: Decimal, unit: Decimal) -> bool {
    unit <= Decimal::ZERO || (value % unit).is_zero()
}

/// a × b, saturating instead of panicking on overflow.
pub fn mul(a: Decimal, b: Decimal) -> Decimal {
    a.checked_mul(b).unwrap_or(Decimal::MAX)
}

/// a ÷ b, or `None` when b is zero or the quotient overflows.
pub fn div(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_div(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_eight_digits() {
        assert_eq!(text(Decimal::new(10264410, 8)).as_str(), "0.10264410");
        assert_eq!(text(Decimal::new(100, 0)).as_str(), "100.00000000");
        assert_eq!(text(Decimal::new(-0, 0)).as_str(), "0.00000000");
        assert_eq!(text(Decimal::new(-15, 1)).as_str(), "-1.50000000");
        assert_eq!(MAX_AMOUNT, Decimal::new(1_000_000_000_000, 0));
    }

    #[test]
    fn rounding_to_units() {
        let unit = Decimal::new(1, 2);
        assert_eq!(
            floor_to(Decimal::new(12345, 3), unit),
            Some(Decimal::new(1234, 2))
        );
        assert_eq!(
            ceil_to(Decimal::new(12341, 3), unit),
            Some(Decimal::new(1235, 2))
        );
        assert!(is_multiple(Decimal::new(1230, 3), unit));
        assert!(!is_multiple(Decimal::new(1231, 3), unit));
    }

    #[test]
    fn rounding_to_units_never_panics() {
        let tiny = Decimal::new(1, 28);
        assert_eq!(floor_to(Decimal::MAX, tiny), None);
        assert_eq!(ceil_to(Decimal::MAX, tiny), None);
        assert_eq!(ceil_to(Decimal::MAX, Decimal::TWO), None);
        assert_eq!(floor_to(Decimal::MIN, tiny), None);
        assert_eq!(floor_to(Decimal::TEN, Decimal::ZERO), Some(Decimal::TEN));
        assert_eq!(ceil_to(Decimal::TEN, -Decimal::ONE), Some(Decimal::TEN));
    }
}
