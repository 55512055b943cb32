//! Whole rupiah. Indonesia's bills have no subunit in practice; every amount loket computes or
//! stores is an `i64` of rupiah inside this newtype, and arithmetic is checked.

use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Rupiah(i64);

impl Rupiah {
    pub const ZERO: Rupiah = Rupiah(0);

    pub const fn new(amount: i64) -> Rupiah {
        Rupiah(amount)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Rupiah) -> Option<Rupiah> {
        self.0.checked_add(other.0).map(Rupiah)
    }

    pub fn checked_sub(self, other: Rupiah) -> Option<Rupiah> {
        self.0.checked_sub(other.0).map(Rupiah)
    }

    pub fn checked_mul(self, n: i64) -> Option<Rupiah> {
        self.0.checked_mul(n).map(Rupiah)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// A positive amount parsed from user input (CLI, config): digits only, optionally with `.`
    /// thousands separators as Indonesians write them (`1.000.000`).
    pub fn parse_amount(s: &str) -> Result<Rupiah, String> {
        let digits: String = s.chars().filter(|c| *c != '.' && *c != '_').collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("not a whole rupiah amount: {s:?}"));
        }
        digits
            .parse::<i64>()
            .map(Rupiah)
            .map_err(|_| format!("amount too large: {s:?}"))
    }

    /// `Rp 1.234.567`, as a receipt prints it.
    pub fn display_idr(self) -> String {
        let neg = self.0 < 0;
        let digits = self.0.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + 8);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('.');
            }
            out.push(ch);
        }
        if neg {
            format!("-Rp {out}")
        } else {
            format!("Rp {out}")
        }
    }
}

impl fmt::Display for Rupiah {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_receipt() {
        assert_eq!(Rupiah::new(50_000).display_idr(), "Rp 50.000");
        assert_eq!(Rupiah::new(2_500).display_idr(), "Rp 2.500");
        assert_eq!(Rupiah::new(999).display_idr(), "Rp 999");
        assert_eq!(Rupiah::new(1_000_000_000).display_idr(), "Rp 1.000.000.000");
        assert_eq!(Rupiah::new(0).display_idr(), "Rp 0");
        assert_eq!(Rupiah::new(-1_500).display_idr(), "-Rp 1.500");
    }

    #[test]
    fn parses_amounts() {
        assert_eq!(
            Rupiah::parse_amount("1.000.000"),
            Ok(Rupiah::new(1_000_000))
        );
        assert_eq!(Rupiah::parse_amount("250000"), Ok(Rupiah::new(250_000)));
        assert!(Rupiah::parse_amount("-5").is_err());
        assert!(Rupiah::parse_amount("1.5e3").is_err());
        assert!(Rupiah::parse_amount("").is_err());
        assert!(Rupiah::parse_amount("99999999999999999999").is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Rupiah::new(i64::MAX).checked_add(Rupiah::new(1)), None);
        assert_eq!(
            Rupiah::new(5).checked_sub(Rupiah::new(7)),
            Some(Rupiah::new(-2))
        );
        assert_eq!(Rupiah::new(i64::MAX).checked_mul(2), None);
    }

    #[test]
    fn serialises_as_a_json_integer() {
        assert_eq!(
            serde_json::to_string(&Rupiah::new(696_400)).unwrap(),
            "696400"
        );
    }
}
