//! Time units on the wire.

/// The unit of event and result timestamps in a WebSocket API session (`timeUnit` URL parameter).
///
/// Internally every timestamp is kept in microseconds; JSON sessions get milliseconds unless they
/// asked for microseconds. SBE always carries microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum TimeUnit {
    #[default]
    Millisecond,
    Microsecond,
}

impl TimeUnit {
    /// Parses the `timeUnit` URL parameter (`MILLISECOND` / `MICROSECOND`, either case).
    pub fn parse(text: &str) -> Option<TimeUnit> {
        if text.eq_ignore_ascii_case("MILLISECOND") {
            Some(TimeUnit::Millisecond)
        } else if text.eq_ignore_ascii_case("MICROSECOND") {
            Some(TimeUnit::Microsecond)
        } else {
            None
        }
    }

    /// Converts a microsecond timestamp to this unit (milliseconds truncate).
    pub fn from_micros(self, micros: i64) -> i64 {
        match self {
            TimeUnit::Millisecond => micros.div_euclid(1000),
            TimeUnit::Microsecond => micros,
        }
    }

    /// Converts a timestamp in this unit to microseconds (saturating on overflow).
    pub fn to_micros(self, value: i64) -> i64 {
        match self {
            TimeUnit::Millisecond => value.saturating_mul(1000),
            TimeUnit::Microsecond => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_either_case() {
        assert_eq!(TimeUnit::parse("microsecond"), Some(TimeUnit::Microsecond));
        assert_eq!(TimeUnit::parse("MILLISECOND"), Some(TimeUnit::Millisecond));
        assert_eq!(TimeUnit::parse("MS"), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(
            TimeUnit::Millisecond.from_micros(1_499_405_658_658_123),
            1_499_405_658_658
        );
        assert_eq!(
            TimeUnit::Millisecond.to_micros(1_499_405_658_658),
            1_499_405_658_658_000
        );
        assert_eq!(TimeUnit::Microsecond.from_micros(5), 5);
    }
}
