//! isikuota's `/v1/order` as an upstream (`spec/isikuota.md`): `cmd=inquiry`, `cmd=pay-pasca` and
//! `cmd=status`, all by loket's `ref_id`, HMAC-signed by [`loket_client::isikuota::IsikuotaClient`]
//! (which signs exactly as the seed's PHP sample). The settings' `testing` flag is sent with every
//! call. Answers are mapped in [`transformers`], with the webhook's signature check
//! ([`verify_webhook`], `X-Signature`) and reader ([`parse_webhook`]).

pub mod transformers;

#[cfg(test)]
mod tests;

use std::fmt;

use loket_client::isikuota::IsikuotaClient;
use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};

pub use transformers::{parse_webhook, verify_webhook};

use crate::wire::{log_inquiry, log_pay};
use crate::UpstreamSettings;

/// An isikuota upstream. `Debug` redacts the keys.
#[derive(Clone)]
pub struct IsikuotaConnector {
    name: String,
    client: IsikuotaClient,
    /// loket's `secret_key` at this upstream: the key of its `X-Signature` webhooks.
    webhook_secret: String,
    testing: bool,
}

impl fmt::Debug for IsikuotaConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsikuotaConnector")
            .field("name", &self.name)
            .field("client", &self.client)
            .field("webhook_secret", &"<redacted>")
            .field("testing", &self.testing)
            .finish()
    }
}

impl IsikuotaConnector {
    /// A connector over a ready client (its timeout is the per-call timeout); `webhook_secret`
    /// is the client's `secret_key`, which isikuota signs its webhooks with.
    pub fn new(
        name: impl Into<String>,
        client: IsikuotaClient,
        webhook_secret: impl Into<String>,
        testing: bool,
    ) -> Self {
        IsikuotaConnector {
            name: name.into(),
            client,
            webhook_secret: webhook_secret.into(),
            testing,
        }
    }

    /// A client on `base_url` with `api_id` = `username`, `api_key`, and `secret_key` as the HMAC
    /// key, with the settings' per-call timeout.
    pub fn from_settings(s: &UpstreamSettings) -> Result<Self, String> {
        s.check_remote()?;
        if s.secret_key.is_empty() {
            return Err(format!("upstream {}: secret_key is empty", s.name));
        }
        let client = IsikuotaClient::new(&s.base_url, &s.username, &s.api_key, &s.secret_key)
            .with_http_client(s.http_client()?)
            .with_timeout(s.timeout());
        Ok(IsikuotaConnector::new(
            &s.name,
            client,
            &s.secret_key,
            s.testing,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a webhook body carries this upstream's `X-Signature` (HMAC-SHA256 of the raw body
    /// with loket's `secret_key` there).
    pub fn verify_webhook(&self, body: &[u8], header: &str) -> bool {
        verify_webhook(&self.webhook_secret, body, header)
    }

    /// `cmd=inquiry` with loket's `ref_id`.
    pub async fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        let mut params = IsikuotaClient::inquiry_params(
            &req.product_code,
            &req.number,
            Some(&req.ref_id),
            self.testing,
        );
        // The product's extra fields (PBB `year`, BPJS `month`, ESAMSAT `nomor_identitas`), as
        // loket's own isikuota endpoint accepts them.
        if let Some(year) = &req.year {
            params.insert("year".into(), year.clone().into());
        }
        if let Some(months) = req.months {
            params.insert("month".into(), months.to_string().into());
        }
        if let Some(id) = &req.nomor_identitas {
            params.insert("nomor_identitas".into(), id.clone().into());
        }
        let answer = self
            .client
            .send_params(loket_client::isikuota::ORDER_PATH, params)
            .await;
        let outcome = transformers::inquiry_outcome(req, answer);
        log_inquiry(&self.name, &req.ref_id, &outcome);
        outcome
    }

    /// `cmd=pay-pasca` of the inquiry's `ref_id`.
    pub async fn pay(&self, p: &UpstreamPayment) -> PayOutcome {
        let answer = self
            .client
            .pay(&p.product_code, &p.number, &p.ref_id, self.testing)
            .await;
        let outcome = transformers::pay_outcome(p, answer);
        log_pay(&self.name, "pay", &p.ref_id, &outcome);
        outcome
    }

    /// `cmd=status` of `p.ref_id`.
    pub async fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        let answer = self.client.status(&p.ref_id, self.testing).await;
        let outcome = transformers::status_outcome(p, answer);
        log_pay(&self.name, "status", &p.ref_id, &outcome);
        outcome
    }
}
