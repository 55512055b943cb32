//! isikuota's answers, read into loket's outcomes.
//!
//! isikuota answers with an envelope `{"success", "code", "message", "data", "errors", "meta"}`
//! and an HTTP status: 200 when the request was processed (whatever the outcome), 4xx for a
//! request refused before any processing, 5xx for the biller's or its own errors
//! (`spec/isikuota.md`). Its codes map back to loket's [`Rc`] through the one table in
//! `loket_core::rc` ([`rc_from_isikuota`]); what each code means at each step is decided by
//! [`inquiry_outcome`], [`pay_outcome`] and [`status_outcome`].

use loket_client::isikuota::{ClientError, IsikuotaResponse};
use loket_core::upstream::{
    InquiryOutcome, PayOutcome, UpstreamBill, UpstreamInquiry, UpstreamPayment,
};
use loket_core::Rc;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::wire::{amount, detail_periods, snippet, text, transport_reason};

/// The envelope of every isikuota answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    pub success: Option<bool>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub data: Option<Value>,
    pub errors: Option<Value>,
}

/// The `data` of `inquiry`, `pay-pasca` and `status` answers (the payment adds `price`,
/// `balance`, `sn`, `paid_at`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderData {
    pub ref_id: Option<Value>,
    /// `success` (inquiry); `inquiry` | `pending` | `success` | `failed` | `expired` (status).
    pub status: Option<Value>,
    pub customer_no: Option<Value>,
    pub customer_name: Option<Value>,
    pub code: Option<Value>,
    /// The bill before admin.
    pub tagihan: Option<Value>,
    pub admin: Option<Value>,
    /// `tagihan + admin`: what the customer pays.
    pub total: Option<Value>,
    pub desc: Option<Value>,
    /// What the payment charged loket.
    pub price: Option<Value>,
    pub sn: Option<Value>,
    pub paid_at: Option<Value>,
}

impl OrderData {
    fn status(&self) -> Option<String> {
        text(self.status.as_ref())
    }

    fn other_ref_id(&self, ours: &str) -> bool {
        matches!(text(self.ref_id.as_ref()), Some(r) if !r.is_empty() && r != ours)
    }
}

/// A parsed answer.
struct Answer {
    http: u16,
    env: Envelope,
    data: Option<OrderData>,
}

impl Answer {
    fn read(resp: &IsikuotaResponse) -> Result<Answer, String> {
        if !resp.json.is_object() {
            return Err(unparseable(resp));
        }
        let env: Envelope =
            serde_json::from_value(resp.json.clone()).map_err(|_| unparseable(resp))?;
        if env.code.is_none() {
            return Err(unparseable(resp));
        }
        let data = match &env.data {
            Some(d @ Value::Object(_)) => serde_json::from_value(d.clone()).ok(),
            _ => None,
        };
        Ok(Answer {
            http: resp.http_status,
            env,
            data,
        })
    }

    fn code(&self) -> &str {
        self.env.code.as_deref().unwrap_or("")
    }

    fn ok_http(&self) -> bool {
        (200..300).contains(&self.http)
    }

    /// A refusal before any processing comes with a 4xx.
    fn refused_http(&self) -> bool {
        (400..500).contains(&self.http)
    }

    fn describe(&self) -> String {
        match self.env.message.as_deref() {
            Some(m) if !m.is_empty() => {
                format!("{} {} (HTTP {})", self.code(), snippet(m), self.http)
            }
            _ => format!("{} (HTTP {})", self.code(), self.http),
        }
    }
}

/// loket's [`Rc`] for an isikuota code, through the core's table (`loket_core::rc`: each row names
/// the isikuota code of the same outcome). Where several rows share a code the most telling one is
/// chosen: `BILL_NOT_FOUND` is 14 (wrong customer number, as isikuota documents it),
/// `BILL_ALREADY_PAID` 34, `VALIDATION_ERROR` 107, `BILLER_ERROR` 105, `BILL_PAYMENT_FAILED` 37,
/// `BILL_PAYMENT_PENDING` 39, `PRODUCT_UNAVAILABLE` 106, `INQUIRY_NOT_FOUND` 06, `INTERNAL_ERROR`
/// 92. `TIMESTAMP_EXPIRED` has no row and reads as 100 (a request refused on its signature);
/// `RATE_LIMITED` has no row: `None`, as for any unknown code.
pub fn rc_from_isikuota(code: &str) -> Option<Rc> {
    let preferred = match code {
        "BILL_INQUIRY_SUCCESS" | "BILL_PAYMENT_SUCCESS" => Some(Rc::Success),
        "BILL_NOT_FOUND" => Some(Rc::IncorrectDestinationNumber),
        "BILL_ALREADY_PAID" => Some(Rc::BillHasBeenPaid),
        "VALIDATION_ERROR" => Some(Rc::FormatError),
        "BILLER_ERROR" => Some(Rc::BillerSystemError),
        "BILL_PAYMENT_FAILED" => Some(Rc::PaymentFailed),
        "BILL_PAYMENT_PENDING" => Some(Rc::Pending),
        "PRODUCT_UNAVAILABLE" => Some(Rc::ProductOutOfService),
        "INQUIRY_NOT_FOUND" => Some(Rc::InquiryIdNotFound),
        "INTERNAL_ERROR" => Some(Rc::GeneralError),
        "TIMESTAMP_EXPIRED" => Some(Rc::InvalidSignature),
        _ => None,
    };
    preferred.or_else(|| Rc::all().find(|rc| rc.entry().isikuota == code))
}

// ------------------------------------------------------------------------------------ inquiry

/// A `cmd=inquiry` answer (or its absence) as an inquiry outcome.
///
/// | answer | outcome |
/// | --- | --- |
/// | `BILL_INQUIRY_SUCCESS` (2xx) | `Bill { name: customer_name, nominal: tagihan, admin, cost: total, period: desc.detail[].periode joined by "," or "", desc, upstream_ref: None }` |
/// | `BILL_NOT_FOUND`, `BILL_ALREADY_PAID`, `VALIDATION_ERROR` naming `customer_no` | `Refused(14 / 34 / 14)`: about the bill or the number |
/// | `PRODUCT_NOT_FOUND`, `PRODUCT_UNAVAILABLE`, `INVALID_SIGNATURE`, `TIMESTAMP_EXPIRED`, `IP_NOT_ALLOWED`, `ACCOUNT_SUSPENDED`, `BILLER_ERROR`, `BILLER_TIMEOUT`, `RATE_LIMITED`, `INTERNAL_ERROR`, `INSUFFICIENT_BALANCE`, `DUPLICATE_REF_ID` (loket's reference, not the bill), another `VALIDATION_ERROR`, any other code, garbage, 5xx, transport | `Unavailable` |
///
/// isikuota's inquiry tells no buyer price: `cost` is the customer's `total`, the most the
/// payment can charge; the payment answer's `price` is what it did charge.
pub fn inquiry_outcome(
    req: &UpstreamInquiry,
    answer: Result<IsikuotaResponse, ClientError>,
) -> InquiryOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return InquiryOutcome::Unavailable(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return InquiryOutcome::Unavailable(format!(
            "HTTP {}: {}",
            resp.http_status,
            snippet(&resp.body)
        ));
    }
    let a = match Answer::read(&resp) {
        Ok(a) => a,
        Err(why) => return InquiryOutcome::Unavailable(why),
    };
    match a.code() {
        "BILL_INQUIRY_SUCCESS" if a.ok_http() && a.env.success != Some(false) => {
            match bill(req, a.data.as_ref()) {
                Ok(bill) => InquiryOutcome::Bill(bill),
                Err(why) => InquiryOutcome::Unavailable(why),
            }
        }
        "BILL_NOT_FOUND" => InquiryOutcome::Refused(Rc::IncorrectDestinationNumber),
        "BILL_ALREADY_PAID" => InquiryOutcome::Refused(Rc::BillHasBeenPaid),
        "VALIDATION_ERROR" if names_field(a.env.errors.as_ref(), "customer_no") => {
            InquiryOutcome::Refused(Rc::IncorrectDestinationNumber)
        }
        _ => InquiryOutcome::Unavailable(a.describe()),
    }
}

fn names_field(errors: Option<&Value>, field: &str) -> bool {
    errors
        .and_then(Value::as_object)
        .is_some_and(|e| e.contains_key(field))
}

fn bill(req: &UpstreamInquiry, data: Option<&OrderData>) -> Result<UpstreamBill, String> {
    let data = data.ok_or("BILL_INQUIRY_SUCCESS without data")?;
    if data.other_ref_id(&req.ref_id) {
        return Err("answer for another ref_id".into());
    }
    let desc = data
        .desc
        .clone()
        .filter(|d| !d.is_null())
        .unwrap_or_else(|| Value::Object(Map::new()));
    Ok(UpstreamBill {
        name: text(data.customer_name.as_ref()).unwrap_or_default(),
        period: detail_periods(&desc).unwrap_or_default(),
        nominal: amount(data.tagihan.as_ref(), "tagihan")?,
        admin: amount(data.admin.as_ref(), "admin")?,
        cost: amount(data.total.as_ref(), "total")?,
        desc,
        upstream_ref: None,
    })
}

// ------------------------------------------------------------------------------------ payment

/// A `cmd=pay-pasca` answer (or its absence) as a payment outcome.
///
/// | answer | outcome |
/// | --- | --- |
/// | `BILL_PAYMENT_SUCCESS` (2xx, `data.status` `success` or absent) | `Success { noref: sn, cost: price }` |
/// | `BILL_PAYMENT_PENDING` | `Pending` |
/// | `BILL_PAYMENT_FAILED` (`success` not true, `data.status` `failed` or absent) | `Failed(37)` |
/// | on a 4xx (refused before any processing, so not paid): `INSUFFICIENT_BALANCE` (our float) | `Failed(105)` |
/// | on a 4xx: `INQUIRY_EXPIRED`, `INQUIRY_NOT_FOUND` | `Failed(04)`, `Failed(06)` |
/// | on a 4xx: `BILL_NOT_FOUND`, `BILL_ALREADY_PAID`, `PRODUCT_NOT_FOUND`, `PRODUCT_UNAVAILABLE` | `Failed(14 / 34 / 20 / 106)` |
/// | on a 4xx: `INVALID_SIGNATURE`, `TIMESTAMP_EXPIRED`, `IP_NOT_ALLOWED`, `ACCOUNT_SUSPENDED`, `VALIDATION_ERROR`, `RATE_LIMITED` (loket's side) | `Failed(105)` |
/// | `DUPLICATE_REF_ID` (maybe loket's own earlier attempt), `BILLER_ERROR`, `BILLER_TIMEOUT`, `INTERNAL_ERROR`, a refusal code without a 4xx, a contradiction, any other code, garbage, 5xx, transport | `Pending` |
pub fn pay_outcome(
    p: &UpstreamPayment,
    answer: Result<IsikuotaResponse, ClientError>,
) -> PayOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return PayOutcome::Pending(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return PayOutcome::Pending(format!(
            "HTTP {}: {}",
            resp.http_status,
            snippet(&resp.body)
        ));
    }
    let a = match Answer::read(&resp) {
        Ok(a) => a,
        Err(why) => return PayOutcome::Pending(why),
    };
    if a.data.as_ref().is_some_and(|d| d.other_ref_id(&p.ref_id)) {
        return PayOutcome::Pending("answer for another ref_id".into());
    }
    let status = a.data.as_ref().and_then(OrderData::status);
    let status = status.as_deref();
    match a.code() {
        "BILL_PAYMENT_SUCCESS"
            if a.ok_http()
                && a.env.success != Some(false)
                && matches!(status, None | Some("success")) =>
        {
            success(a.data.as_ref())
        }
        "BILL_PAYMENT_FAILED"
            if a.env.success != Some(true) && matches!(status, None | Some("failed")) =>
        {
            PayOutcome::Failed(Rc::PaymentFailed)
        }
        code if a.refused_http() => match refused_before_processing(code) {
            Some(rc) => PayOutcome::Failed(rc),
            None => PayOutcome::Pending(a.describe()),
        },
        _ => PayOutcome::Pending(a.describe()),
    }
}

/// What a refusal before any processing means for the payment: `None` when it may still have
/// been paid (a duplicate ref_id may be loket's own earlier attempt) or the code is unknown.
fn refused_before_processing(code: &str) -> Option<Rc> {
    match code {
        "INSUFFICIENT_BALANCE" => Some(Rc::BillerSystemError),
        "INQUIRY_EXPIRED"
        | "INQUIRY_NOT_FOUND"
        | "BILL_NOT_FOUND"
        | "BILL_ALREADY_PAID"
        | "PRODUCT_NOT_FOUND"
        | "PRODUCT_UNAVAILABLE" => rc_from_isikuota(code),
        "INVALID_SIGNATURE" | "TIMESTAMP_EXPIRED" | "IP_NOT_ALLOWED" | "ACCOUNT_SUSPENDED"
        | "VALIDATION_ERROR" | "RATE_LIMITED" => Some(Rc::BillerSystemError),
        _ => None,
    }
}

fn success(data: Option<&OrderData>) -> PayOutcome {
    PayOutcome::Success {
        noref: data.and_then(|d| text(d.sn.as_ref())).unwrap_or_default(),
        cost: data.and_then(|d| amount(d.price.as_ref(), "price").ok()),
    }
}

// ------------------------------------------------------------------------------------- status

/// A `cmd=status` answer (or its absence) as a payment outcome.
///
/// | answer | outcome |
/// | --- | --- |
/// | `SUCCESS` (2xx), `data.status` `success` | `Success { noref: sn, cost: price }` |
/// | `data.status` `failed` | `Failed(37)` |
/// | `data.status` `pending` | `Pending` |
/// | `data.status` `inquiry` or `expired`; `INQUIRY_NOT_FOUND` on a 4xx | `Failed(42)`: the payment request never arrived. How old the payment must be before this is trusted is the resolver's decision |
/// | anything else (our signature refused, garbage, 5xx, transport...) | `Pending` |
pub fn status_outcome(
    p: &UpstreamPayment,
    answer: Result<IsikuotaResponse, ClientError>,
) -> PayOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return PayOutcome::Pending(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return PayOutcome::Pending(format!(
            "HTTP {}: {}",
            resp.http_status,
            snippet(&resp.body)
        ));
    }
    let a = match Answer::read(&resp) {
        Ok(a) => a,
        Err(why) => return PayOutcome::Pending(why),
    };
    match a.code() {
        "SUCCESS" if a.ok_http() => {
            let Some(data) = a.data.as_ref() else {
                return PayOutcome::Pending("status answer without data".into());
            };
            if data.other_ref_id(&p.ref_id) {
                return PayOutcome::Pending("answer for another ref_id".into());
            }
            match data.status().as_deref() {
                Some("success") => success(Some(data)),
                Some("failed") => PayOutcome::Failed(Rc::PaymentFailed),
                Some("pending") => PayOutcome::Pending("status pending".into()),
                Some("inquiry") | Some("expired") => {
                    PayOutcome::Failed(Rc::PaymentRequestNotReceived)
                }
                Some(other) => PayOutcome::Pending(format!("unknown status {}", snippet(other))),
                None => PayOutcome::Pending("status answer without a status".into()),
            }
        }
        "INQUIRY_NOT_FOUND" if a.refused_http() => {
            PayOutcome::Failed(Rc::PaymentRequestNotReceived)
        }
        _ => PayOutcome::Pending(a.describe()),
    }
}

fn unparseable(resp: &IsikuotaResponse) -> String {
    format!(
        "unparseable answer (HTTP {}): {}",
        resp.http_status,
        snippet(&resp.body)
    )
}

// ------------------------------------------------------------------------------------ webhook

/// The body of isikuota's webhook (`spec/isikuota.md`): `{"event": "order.success" |
/// "order.failed", "timestamp", "data": {order_id, ref_id, status: "Success" | "Failed",
/// product_code, product_name, customer_number, price, sn, message, created_at, updated_at}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebhookBody {
    pub event: Option<String>,
    pub timestamp: Option<Value>,
    pub data: Option<WebhookData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebhookData {
    pub order_id: Option<Value>,
    pub ref_id: Option<Value>,
    pub status: Option<Value>,
    pub price: Option<Value>,
    pub sn: Option<Value>,
    pub message: Option<Value>,
}

/// Whether `header` (`X-Signature`) is the lowercase or uppercase hex HMAC-SHA256 of the raw
/// `body` with `secret` (loket's `secret_key` at that upstream), compared in constant time. An
/// empty secret verifies nothing.
pub fn verify_webhook(secret: &str, body: &[u8], header: &str) -> bool {
    use hmac::{Hmac, Mac};
    if secret.is_empty() {
        return false;
    }
    let Ok(given) = hex::decode(header.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The `ref_id` a webhook is about and what it says: `order.success` with `status` `Success` is
/// `Success { noref: sn, cost: price }`, `order.failed` with `Failed` is `Failed(37)` (the body
/// carries no RC); an event and a status that disagree, or anything else, `Pending`. `None` for a
/// body that is not an isikuota order event (not JSON, no `data`, no `ref_id`). Verify the
/// signature first.
pub fn parse_webhook(body: &[u8]) -> Option<(String, PayOutcome)> {
    let hook: WebhookBody = serde_json::from_slice(body).ok()?;
    let data = hook.data?;
    let ref_id = text(data.ref_id.as_ref()).filter(|r| !r.trim().is_empty())?;
    let status = text(data.status.as_ref()).unwrap_or_default();
    let outcome = match (hook.event.as_deref(), status.as_str()) {
        (Some("order.success"), "Success") => PayOutcome::Success {
            noref: text(data.sn.as_ref()).unwrap_or_default(),
            cost: amount(data.price.as_ref(), "price").ok(),
        },
        (Some("order.failed"), "Failed") => PayOutcome::Failed(Rc::PaymentFailed),
        (event, status) => PayOutcome::Pending(format!(
            "webhook event {} with status {}",
            snippet(event.unwrap_or("")),
            snippet(status)
        )),
    };
    Some((ref_id, outcome))
}
