//! Wire codecs and signing clients.
//!
//! - [`iak_sign`]: the IAK signature (`md5(username + key + X)`) and its constant-time comparison.
//! - [`xml`]: the IAK XML codec (`<mp>` documents), hardened against DTDs, entities and
//!   resource-exhaustion inputs.
//! - [`iak`]: a signing IAK client speaking JSON or XML.

pub mod iak;
pub mod iak_sign;
pub mod xml;
