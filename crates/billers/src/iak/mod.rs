//! IAK's postpaid API as an upstream (`spec/iak.md`): `inq-pasca` by `ref_id`, `pay-pasca` by
//! the inquiry's `tr_id`, `checkstatus` by `ref_id`. The signing and the requests are
//! [`loket_client::iak::IakClient`]'s; this module only calls it and maps its answers
//! ([`transformers`]). A loket server is itself an IAK upstream, so one loket can sit behind
//! another.

pub mod transformers;

#[cfg(test)]
mod tests;

use loket_client::iak::IakClient;
use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::Rc;

use crate::wire::{log_inquiry, log_pay};
use crate::UpstreamSettings;

/// An IAK upstream.
#[derive(Debug, Clone)]
pub struct IakConnector {
    name: String,
    client: IakClient,
}

impl IakConnector {
    /// A connector over a ready client (its timeout is the per-call timeout).
    pub fn new(name: impl Into<String>, client: IakClient) -> Self {
        IakConnector {
            name: name.into(),
            client,
        }
    }

    /// A JSON client on `base_url`, signing with `username` and `api_key`, with the settings'
    /// per-call timeout and HTTP version.
    pub fn from_settings(s: &UpstreamSettings) -> Result<Self, String> {
        s.check_remote()?;
        let client = IakClient::new(&s.base_url, &s.username, &s.api_key)
            .with_http_client(s.http_client()?)
            .with_timeout(s.timeout());
        Ok(IakConnector::new(&s.name, client))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `inq-pasca` with loket's `ref_id` (and `year`, `month`, `nomor_identitas`, `desc.amount`
    /// when the inquiry has them).
    pub async fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        let answer = self
            .client
            .inquiry(&transformers::inquiry_params(req))
            .await;
        let outcome = transformers::inquiry_outcome(req, answer);
        log_inquiry(&self.name, &req.ref_id, &outcome);
        outcome
    }

    /// `pay-pasca` of the quote whose `tr_id` is `p.upstream_ref`. Without a usable `tr_id`
    /// nothing is sent and the payment fails (06): no request, no charge.
    pub async fn pay(&self, p: &UpstreamPayment) -> PayOutcome {
        let Some(tr_id) = transformers::tr_id(p) else {
            tracing::warn!(upstream = %self.name, ref_id = %p.ref_id, "iak pay without a tr_id");
            return PayOutcome::Failed(Rc::InquiryIdNotFound);
        };
        let answer = self.client.pay(tr_id).await;
        let outcome = transformers::pay_outcome(p, tr_id, answer);
        log_pay(&self.name, "pay", &p.ref_id, &outcome);
        outcome
    }

    /// `checkstatus` of `p.ref_id`.
    pub async fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        let answer = self.client.check_status(&p.ref_id).await;
        let outcome = transformers::status_outcome(p, answer);
        log_pay(&self.name, "status", &p.ref_id, &outcome);
        outcome
    }
}
