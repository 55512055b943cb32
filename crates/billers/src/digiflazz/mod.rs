//! Digiflazz's buyer API as an upstream (`spec/upstreams.md`): `POST {base}/v1/transaction` with
//! `commands` `inq-pasca`, `pay-pasca` and `status-pasca`, all by the same `ref_id` (loket's),
//! signed `md5(username + api_key + ref_id)`; answers wrapped in `{"data": {...}}`. The settings'
//! `testing` flag is sent (as `"testing": true`) only when set. Wire types and the RC table are in
//! [`transformers`], with the webhook's signature check ([`verify_webhook`]) and reader
//! ([`parse_webhook`]).

pub mod transformers;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use loket_client::error::ClientError;
use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};

pub use transformers::{parse_webhook, verify_webhook};
use transformers::{Command, DigiflazzResponse, TransactionRequest};

use crate::wire::{log_inquiry, log_pay};
use crate::UpstreamSettings;

/// Where every transaction command is posted.
pub const TRANSACTION_PATH: &str = "/v1/transaction";

/// A Digiflazz upstream. `Debug` redacts the API key and the webhook secret.
#[derive(Clone)]
pub struct DigiflazzConnector {
    name: String,
    http: reqwest::Client,
    base_url: String,
    username: String,
    api_key: String,
    webhook_secret: String,
    testing: bool,
    timeout: Duration,
}

impl fmt::Debug for DigiflazzConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigiflazzConnector")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .field("testing", &self.testing)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DigiflazzConnector {
    /// A connector on `base_url` (e.g. `https://api.digiflazz.com`; a trailing slash is
    /// ignored) with `username` and `api_key`, `secret_key` as the webhook secret, the `testing`
    /// flag and the per-call timeout. Proxy environment variables are not used.
    pub fn from_settings(s: &UpstreamSettings) -> Result<Self, String> {
        s.check_remote()?;
        let http = s.http_client()?;
        Ok(DigiflazzConnector {
            name: s.name.clone(),
            http,
            base_url: s.base_url.trim_end_matches('/').to_string(),
            username: s.username.clone(),
            api_key: s.api_key.clone(),
            webhook_secret: s.secret_key.clone(),
            testing: s.testing,
            timeout: s.timeout(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a webhook body carries this upstream's `X-Hub-Signature` (false when no secret is
    /// configured).
    pub fn verify_webhook(&self, body: &[u8], header: &str) -> bool {
        verify_webhook(&self.webhook_secret, body, header)
    }

    /// `inq-pasca` with loket's `ref_id` (plus `year` and `amount` when the inquiry has them).
    pub async fn inquiry(&self, req: &UpstreamInquiry) -> InquiryOutcome {
        let mut body = self.request(
            Command::Inquiry,
            &req.product_code,
            &req.number,
            &req.ref_id,
        );
        body.year = transformers::year(req.year.as_deref());
        body.amount = req.amount.map(|a| a.get());
        let answer = self.send(&body).await;
        let outcome = transformers::inquiry_outcome(req, answer);
        log_inquiry(&self.name, &req.ref_id, &outcome);
        outcome
    }

    /// `pay-pasca` with the inquiry's `ref_id`.
    pub async fn pay(&self, p: &UpstreamPayment) -> PayOutcome {
        let body = self.request(Command::Pay, &p.product_code, &p.number, &p.ref_id);
        let answer = self.send(&body).await;
        let outcome = transformers::pay_outcome(p, answer);
        log_pay(&self.name, "pay", &p.ref_id, &outcome);
        outcome
    }

    /// `status-pasca` of the `ref_id`.
    pub async fn status(&self, p: &UpstreamPayment) -> PayOutcome {
        let body = self.request(Command::Status, &p.product_code, &p.number, &p.ref_id);
        let answer = self.send(&body).await;
        let outcome = transformers::status_outcome(p, answer);
        log_pay(&self.name, "status", &p.ref_id, &outcome);
        outcome
    }

    fn request<'a>(
        &'a self,
        command: Command,
        sku: &'a str,
        number: &'a str,
        ref_id: &'a str,
    ) -> TransactionRequest<'a> {
        TransactionRequest::new(
            command,
            &self.username,
            &self.api_key,
            sku,
            number,
            ref_id,
            self.testing,
        )
    }

    async fn send(&self, body: &TransactionRequest<'_>) -> Result<DigiflazzResponse, ClientError> {
        let resp = self
            .http
            .post(format!("{}{TRANSACTION_PATH}", self.base_url))
            .json(body)
            .timeout(self.timeout)
            .send()
            .await?;
        let http_status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok(DigiflazzResponse::parse(http_status, &bytes))
    }
}
