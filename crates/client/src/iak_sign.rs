//! IAK request signatures: `sign = md5(username + api_key + X)`, lowercase hex.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Lowercase hex `md5(username + key + x)`.
pub fn sign(username: &str, key: &str, x: &str) -> String {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(key.as_bytes());
    h.update(x.as_bytes());
    hex::encode(h.finalize())
}

/// Compares an expected (lowercase hex) signature with the one a client sent, in constant time.
///
/// `given` is lowercased first, so an uppercase md5 is accepted; `expected` is taken as is.
/// Different lengths never match.
pub fn signatures_match(expected: &str, given: &str) -> bool {
    let given = given.to_ascii_lowercase();
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_known_vectors() {
        assert_eq!(sign("", "", ""), "d41d8cd98f00b204e9800998ecf8427e");
        // python3 -c 'import hashlib;print(hashlib.md5(b"123123123key09128374655").hexdigest())'
        assert_eq!(
            sign("123123123", "key", "09128374655"),
            "82c1ec96be5015ea2c6f2417b3acd66b"
        );
        assert_eq!(
            sign("123123123", "key", "cs"),
            "04dc55ae0b6425d2b12e975f76b76473"
        );
        assert_eq!(
            sign("123123123", "key", "pl"),
            "359016e2e84f591eb820dc5cc089aa74"
        );
        assert_eq!(
            sign("123123123", "key", "219346108"),
            "24c498b1b8aec8dd84137620fb00c7a0"
        );
    }

    #[test]
    fn concatenation_order_matters() {
        assert_ne!(sign("a", "b", "c"), sign("b", "a", "c"));
        assert_eq!(sign("ab", "", "c"), sign("a", "b", "c"));
    }

    #[test]
    fn matching() {
        let s = sign("123123123", "key", "09128374655");
        assert!(signatures_match(&s, &s));
        assert!(signatures_match(&s, &s.to_uppercase()));
        assert!(!signatures_match(&s, &s[..31]));
        assert!(!signatures_match(&s, ""));
        assert!(!signatures_match(&s, &format!("{s}0")));
        assert!(!signatures_match(&s, "d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!signatures_match("", "x"));
        assert!(signatures_match("", ""));
    }
}
