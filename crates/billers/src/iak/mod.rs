//! IAK's postpaid API as an upstream (`spec/iak.md`): `inq-pasca` by `ref_id`, `pay-pasca` by
//! the inquiry's `tr_id`, `checkstatus` by `ref_id`. The signing and the requests are
//! [`loket_client::iak::IakClient`]'s; this module only calls it and maps its answers
//! ([`transformers`]). A loket server is itself an IAK upstream, so one loket can sit behind
//! another.
//!
//! To an `http://` upstream with `http = "http2"` the signed requests go through a lean h2c
//! channel ([`crate::h2c`]) instead of the client's HTTP stack; the answers are read into the
//! same [`IakResponse`] either way, so the transformers do not know which carried them.

pub mod transformers;

#[cfg(test)]
mod tests;

use loket_client::iak::{ClientError, IakClient, IakResponse, BILL_CHECK_PATH};
use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::Rc;

use serde_json::{Map, Value};

use crate::h2c::H2cChannel;
use crate::wire::{log_inquiry, log_pay};
use crate::{HttpVersion, UpstreamSettings};

/// An IAK upstream.
#[derive(Debug, Clone)]
pub struct IakConnector {
    name: String,
    /// Builds and signs the requests; sends them unless `h2c` is set.
    client: IakClient,
    /// The h2c channel that carries the requests to an `http://` upstream spoken to in HTTP/2.
    h2c: Option<H2cChannel>,
}

impl IakConnector {
    /// A connector over a ready client (its timeout is the per-call timeout).
    pub fn new(name: impl Into<String>, client: IakClient) -> Self {
        IakConnector {
            name: name.into(),
            client,
            h2c: None,
        }
    }

    /// A JSON client on `base_url`, signing with `username` and `api_key`, with the settings'
    /// per-call timeout and HTTP version: h2c over the channel of [`crate::h2c`] for
    /// `http = "http2"` to an `http://` URL, the client's HTTP stack otherwise.
    pub fn from_settings(s: &UpstreamSettings) -> Result<Self, String> {
        s.check_remote()?;
        let client = IakClient::new(&s.base_url, &s.username, &s.api_key)
            .with_http_client(s.http_client()?)
            .with_timeout(s.timeout());
        let mut connector = IakConnector::new(&s.name, client);
        if s.http == HttpVersion::Http2 && s.base_url.starts_with("http://") {
            let channel = H2cChannel::new(&s.base_url, s.timeout())
                .map_err(|e| format!("upstream {}: {e}", s.name))?;
            connector.h2c = Some(channel);
        }
        Ok(connector)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `inq-pasca` with loket's `ref_id` (and `year`, `month`, `nomor_identitas`, `desc.amount`
    /// when the inquiry has them).
    pub async fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        let params = transformers::inquiry_params(req);
        let answer = self.send(self.client.inquiry_fields(&params)).await;
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
        let answer = self.send(self.client.pay_fields(tr_id)).await;
        let outcome = transformers::pay_outcome(p, tr_id, answer);
        log_pay(&self.name, "pay", &p.ref_id, &outcome);
        outcome
    }

    /// `checkstatus` of `p.ref_id`.
    pub async fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        let answer = self.send(self.client.check_status_fields(&p.ref_id)).await;
        let outcome = transformers::status_outcome(p, answer);
        log_pay(&self.name, "status", &p.ref_id, &outcome);
        outcome
    }

    /// Post signed `fields` to the upstream's `/api/v1/bill/check`, over h2c when configured.
    async fn send(&self, fields: Map<String, Value>) -> Result<IakResponse, ClientError> {
        let Some(h2c) = &self.h2c else {
            return self.client.send_fields(fields).await;
        };
        let (content_type, body) = self.client.encode(&fields);
        drop(fields);
        match h2c.post(BILL_CHECK_PATH, content_type, body).await {
            Ok(a) => Ok(IakResponse::parse(a.status, a.content_type, &a.body)),
            Err(crate::h2c::H2cError::Timeout) => Err(ClientError::Timeout),
            Err(e) => Err(ClientError::Channel(Box::new(e))),
        }
    }
}
