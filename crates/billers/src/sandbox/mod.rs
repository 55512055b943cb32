//! The built-in sandbox biller (`spec/sandbox.md`) as a live upstream, for demonstrations and
//! tests: the same deterministic rules as sandbox mode ([`loket_core::sandbox::inquire`]), no I/O.
//!
//! The connector keeps no state: a payment and a status re-run the rule for (product, number), so
//! they answer the same whatever happened before. Unlike sandbox mode, a pending payment does not
//! wait `pending_resolve_secs`: the first status after it already tells where it resolves to
//! (a rule without a resolution, `2039`, stays pending forever).

pub mod transformers;

#[cfg(test)]
mod tests;

use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::Catalogue;

use crate::wire::{log_inquiry, log_pay};

/// The sandbox biller as an upstream.
#[derive(Debug, Clone)]
pub struct SandboxConnector {
    name: String,
    catalogue: Catalogue,
}

impl SandboxConnector {
    /// A sandbox upstream over the built-in catalogue.
    pub fn new(name: impl Into<String>) -> Self {
        SandboxConnector::with_catalogue(name, Catalogue::builtin())
    }

    /// A sandbox upstream over the operator's catalogue (products looked up by the route's
    /// product code).
    pub fn with_catalogue(name: impl Into<String>, catalogue: Catalogue) -> Self {
        SandboxConnector {
            name: name.into(),
            catalogue,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The sandbox's inquiry rule. See [`transformers::inquiry_outcome`].
    pub fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        let outcome = transformers::inquiry_outcome(&self.catalogue, req);
        log_inquiry(&self.name, &req.ref_id, &outcome);
        outcome
    }

    /// The payment as the rule for (product, number) ends it at once.
    pub fn pay(&self, p: &UpstreamPayment) -> PayOutcome {
        let outcome = transformers::pay_outcome(&self.catalogue, p);
        log_pay(&self.name, "pay", &p.ref_id, &outcome);
        outcome
    }

    /// Where the payment resolves to.
    pub fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        let outcome = transformers::status_outcome(&self.catalogue, p);
        log_pay(&self.name, "status", &p.ref_id, &outcome);
        outcome
    }
}
