//! What loket asks an upstream biller, and what it can answer, in the core's terms. Connectors
//! (crates/billers) translate their wire protocols into these types; the core never sees a wire
//! type (spec/upstreams.md).

use crate::{Rc, Rupiah};
use serde_json::Value;

/// An inquiry as sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamInquiry {
    /// The upstream's product code for this route.
    pub product_code: String,
    /// Customer number.
    pub number: String,
    /// loket's reference towards this upstream (unique per upstream; reused for pay and status
    /// where the protocol pays by reference).
    pub ref_id: String,
    pub year: Option<String>,
    pub months: Option<u32>,
    pub nomor_identitas: Option<String>,
    pub amount: Option<Rupiah>,
}

/// A bill as an upstream quoted it.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamBill {
    pub name: String,
    pub period: String,
    /// The bill before admin.
    pub nominal: Rupiah,
    pub admin: Rupiah,
    /// What the upstream will charge loket for paying it (its `selling_price` / `price`).
    pub cost: Rupiah,
    pub desc: Value,
    /// The upstream's own reference for the quote (IAK's `tr_id`), when the protocol has one.
    pub upstream_ref: Option<String>,
}

/// How an upstream inquiry ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InquiryOutcome {
    Bill(UpstreamBill),
    /// An answer about the bill itself (paid, wrong number, not available...): routing stops.
    Refused(Rc),
    /// The upstream could not answer for this product now (transport failure, timeout, 5xx,
    /// product unavailable, open breaker): routing moves to the next route.
    Unavailable(String),
}

/// What loket knows of a payment after asking the upstream (to pay, or for its status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Paid: the biller's reference and what the upstream charged.
    Success { noref: String, cost: Option<Rupiah> },
    /// A definite failure: the hold may be voided.
    Failed(Rc),
    /// Unknown yet: timeouts, dropped connections, 5xx, unparseable answers, "pending". Never a
    /// refund on a guess (spec/ledger.md).
    Pending(String),
}

/// A quote as the upstream needs it to pay or to tell a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPayment {
    pub product_code: String,
    pub number: String,
    /// loket's reference towards the upstream (the inquiry's `ref_id`).
    pub ref_id: String,
    /// The upstream's reference for the quote, when it has one (IAK `tr_id`).
    pub upstream_ref: Option<String>,
    /// The cost the quote promised; an upstream answer above it is not paid.
    pub quoted_cost: Rupiah,
}
