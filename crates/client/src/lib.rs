//! Wire codecs and signing clients.
//!
//! - [`iak_sign`]: the IAK signature (`md5(username + key + X)`) and its constant-time comparison.
//! - [`xml`]: the IAK XML codec (`<mp>` documents), hardened against DTDs, entities and
//!   resource-exhaustion inputs.
//! - [`iak`]: a signing IAK client speaking JSON or XML.
//! - [`canonical`]: the isikuota signature: a strict JSON parser, PHP's `json_encode` for the
//!   canonical body, and the HMAC-SHA256 over it.
//! - [`isikuota`]: a signing isikuota client.
//! - [`error`]: the transport error both clients return.

pub mod canonical;
pub mod error;
pub mod iak;
pub mod iak_sign;
pub mod isikuota;
pub mod xml;
