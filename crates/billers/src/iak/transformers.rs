//! IAK's answers, read into loket's outcomes.
//!
//! The RC of an answer means different things at each step, so there is one documented table per
//! step: [`inquiry_refusal`] (inquiry), [`pay_failure`] (payment) and [`status_outcome`]
//! (check status). An RC that is not in `spec/iak.md`'s table, a missing RC, an unparseable
//! body, an HTTP 5xx, a timeout or a dropped connection is `Unavailable` at inquiry and
//! `Pending` at payment and status: never a failure.

use loket_client::iak::{ClientError, IakResponse, InquiryParams};
use loket_core::upstream::{
    InquiryOutcome, PayOutcome, UpstreamBill, UpstreamInquiry, UpstreamPayment,
};
use loket_core::Rc;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::wire::{amount, snippet, text, transport_reason};

/// The fields of an IAK answer's `data` that loket reads (inquiry, payment and checkstatus
/// answers share them). Values stay JSON values: JSON answers carry numbers, XML answers strings,
/// and `tr_id` / `status` arrive either way.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IakData {
    pub tr_id: Option<Value>,
    pub code: Option<Value>,
    pub hp: Option<Value>,
    pub tr_name: Option<Value>,
    pub period: Option<Value>,
    pub nominal: Option<Value>,
    pub admin: Option<Value>,
    pub ref_id: Option<Value>,
    pub response_code: Option<Value>,
    pub message: Option<Value>,
    pub price: Option<Value>,
    pub selling_price: Option<Value>,
    pub noref: Option<Value>,
    /// checkstatus: 1 paid, 2 failed, 3 in process, 0 no payment request received.
    pub status: Option<Value>,
    pub desc: Option<Value>,
}

impl IakData {
    fn read(resp: &IakResponse) -> Option<IakData> {
        match &resp.data {
            Value::Object(_) => serde_json::from_value(resp.data.clone()).ok(),
            _ => None,
        }
    }

    fn rc(&self) -> Option<String> {
        text(self.response_code.as_ref())
    }

    /// `RC xx MESSAGE` for a reason string.
    fn describe(&self, rc: &str) -> String {
        match text(self.message.as_ref()) {
            Some(m) if !m.is_empty() => format!("RC {rc} {}", snippet(&m)),
            _ => format!("RC {rc}"),
        }
    }

    /// True when the answer names another `ref_id` than `ours` (a cross-wired answer).
    fn other_ref_id(&self, ours: &str) -> bool {
        matches!(text(self.ref_id.as_ref()), Some(r) if !r.is_empty() && r != ours)
    }
}

/// The `inq-pasca` parameters of an upstream inquiry. `month` is sent as two digits (`"02"`), as
/// IAK's examples write it.
pub fn inquiry_params(req: &UpstreamInquiry) -> InquiryParams {
    InquiryParams {
        code: req.product_code.clone(),
        hp: req.number.clone(),
        ref_id: req.ref_id.clone(),
        year: req.year.clone(),
        month: req.months.map(|m| format!("{m:02}")),
        nomor_identitas: req.nomor_identitas.clone(),
        amount: req.amount.map(|a| a.get()),
    }
}

/// The `tr_id` to pay: the inquiry's `upstream_ref`, a decimal integer.
pub fn tr_id(p: &UpstreamPayment) -> Option<i64> {
    p.upstream_ref.as_deref()?.trim().parse().ok()
}

// ------------------------------------------------------------------------------------ inquiry

/// What a non-00 RC means at inquiry.
///
/// | RC | outcome |
/// | --- | --- |
/// | 01, 02, 08, 09, 10, 13, 14, 15, 16, 30, 31, 32, 33, 34, 35, 36, 40, 41, 93 | `Refused(rc)`: an answer about the bill or the number; routing stops |
/// | 17 (our float), 20, 91, 92, 94, 100 (our credentials), 101, 102, 103 (biller timeout), 105, 106, 107, 108, 109, 110, 117, 118 | `Unavailable`: this upstream cannot do it now; routing moves on |
/// | 03 (our ref_id), 11 (our ref_id reused), 04, 05, 06, 07, 37, 38, 39, 42, 201 (meaningless for an inquiry), any other | `Unavailable` |
///
/// 09 INQUIRY FAILED is taken as an answer about the bill, as Digiflazz's 02 is. 11 DUPLICATE REF
/// ID is loket's reference, not the customer's bill: another upstream may answer.
pub fn inquiry_refusal(rc: Rc, reason: String) -> InquiryOutcome {
    use Rc::*;
    match rc {
        InvoiceHasBeenPaid
        | BillUnpaid
        | BillingIdBlocked
        | InquiryFailed
        | BillNotAvailable
        | CustomerNumberBlocked
        | IncorrectDestinationNumber
        | NumberNotSupported
        | NumberDoesntMatchOperator
        | PayViaCounter
        | ExceedingMaxTotalBill
        | PayAllPeriods
        | TryAgainLater
        | BillHasBeenPaid
        | AnotherUnpaidArrear
        | ExceedingDueDate
        | ArrearAlreadyPaid
        | PayToCompany
        | InvalidAmount => InquiryOutcome::Refused(rc),
        _ => InquiryOutcome::Unavailable(reason),
    }
}

/// An `inq-pasca` answer (or its absence) as an inquiry outcome.
pub fn inquiry_outcome(
    req: &UpstreamInquiry,
    answer: Result<IakResponse, ClientError>,
) -> InquiryOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return InquiryOutcome::Unavailable(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return InquiryOutcome::Unavailable(format!("HTTP {}", resp.http_status));
    }
    let Some(data) = IakData::read(&resp) else {
        return InquiryOutcome::Unavailable(unparseable(&resp));
    };
    let Some(rc_text) = data.rc() else {
        return InquiryOutcome::Unavailable(unparseable(&resp));
    };
    if data.other_ref_id(&req.ref_id) {
        return InquiryOutcome::Unavailable("answer for another ref_id".into());
    }
    let reason = data.describe(&rc_text);
    match Rc::from_code(&rc_text) {
        Some(Rc::Success) if (200..300).contains(&resp.http_status) => match bill(&data) {
            Ok(bill) => InquiryOutcome::Bill(bill),
            Err(why) => InquiryOutcome::Unavailable(why),
        },
        Some(Rc::Success) => {
            InquiryOutcome::Unavailable(format!("RC 00 with HTTP {}", resp.http_status))
        }
        Some(rc) => inquiry_refusal(rc, reason),
        None => InquiryOutcome::Unavailable(format!("unknown {reason}")),
    }
}

/// The bill of an RC 00 inquiry answer: `cost` is IAK's `selling_price` (what IAK charges
/// loket), `upstream_ref` its `tr_id`.
fn bill(data: &IakData) -> Result<UpstreamBill, String> {
    let tr_id = text(data.tr_id.as_ref())
        .filter(|t| t.trim().parse::<i64>().is_ok())
        .ok_or("RC 00 without a usable tr_id")?;
    Ok(UpstreamBill {
        name: text(data.tr_name.as_ref()).unwrap_or_default(),
        period: text(data.period.as_ref()).unwrap_or_default(),
        nominal: amount(data.nominal.as_ref(), "nominal")?,
        admin: amount(data.admin.as_ref(), "admin")?,
        cost: amount(data.selling_price.as_ref(), "selling_price")?,
        desc: data
            .desc
            .clone()
            .filter(|d| !d.is_null())
            .unwrap_or_else(|| Value::Object(Map::new())),
        upstream_ref: Some(tr_id.trim().to_string()),
    })
}

// ------------------------------------------------------------------------------------ payment

/// How a `pay-pasca` RC is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayClass {
    /// The bill was definitely not paid.
    Failed,
    /// Not known: ask `checkstatus`.
    Unknown,
}

/// What a non-00 RC means at payment (and the RC the member is told).
///
/// | RC | outcome |
/// | --- | --- |
/// | 01, 02, 04, 06, 07, 08, 09, 10, 13, 14, 15, 16, 20, 30-38, 40, 41, 93, 94, 105, 106, 109, 110 | `Failed(rc)`: a definite failure of the bill or the quote |
/// | 17 (our float at IAK), 03, 100 (our signature), 101, 102 (our IP), 107, 108 (our account), 117, 118 (our account) | `Failed(105)`: refused before any processing for a reason of loket's side, so the bill was not paid; the member is told "biller system error" |
/// | 05, 39, 201 | `Pending` (IAK's table says pending) |
/// | 103 (timeout between IAK and the biller), 91, 92 (IAK's own errors), 11, 42 (meaningless for a payment), any other | `Pending`: the bill may have been paid; `checkstatus` tells |
pub fn pay_failure(rc: Rc) -> (PayClass, Rc) {
    use Rc::*;
    match rc {
        InvoiceHasBeenPaid
        | BillUnpaid
        | BillingIdExpired
        | InquiryIdNotFound
        | TransactionFailed
        | BillingIdBlocked
        | InquiryFailed
        | BillNotAvailable
        | CustomerNumberBlocked
        | IncorrectDestinationNumber
        | NumberNotSupported
        | NumberDoesntMatchOperator
        | ProductUnregistered
        | PayViaCounter
        | ExceedingMaxTotalBill
        | PayAllPeriods
        | TryAgainLater
        | BillHasBeenPaid
        | AnotherUnpaidArrear
        | ExceedingDueDate
        | PaymentFailed
        | PaymentFailedRetry
        | ArrearAlreadyPaid
        | PayToCompany
        | InvalidAmount
        | ServiceExpired
        | BillerSystemError
        | ProductOutOfService
        | SystemCutOff
        | Maintenance => (PayClass::Failed, rc),
        BalanceNotEnough
        | InvalidRefId
        | InvalidSignature
        | InvalidCommand
        | InvalidIpAddress
        | FormatError
        | IdNotAllowedForProduct
        | PageNotFound
        | AccountSuspended => (PayClass::Failed, BillerSystemError),
        _ => (PayClass::Unknown, rc),
    }
}

/// A `pay-pasca` answer (or its absence) as a payment outcome.
pub fn pay_outcome(
    p: &UpstreamPayment,
    tr_id: i64,
    answer: Result<IakResponse, ClientError>,
) -> PayOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return PayOutcome::Pending(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return PayOutcome::Pending(format!("HTTP {}", resp.http_status));
    }
    let Some(data) = IakData::read(&resp) else {
        return PayOutcome::Pending(unparseable(&resp));
    };
    let Some(rc_text) = data.rc() else {
        return PayOutcome::Pending(unparseable(&resp));
    };
    let answered_tr_id = text(data.tr_id.as_ref()).and_then(|t| t.trim().parse::<i64>().ok());
    if answered_tr_id.is_some_and(|t| t != tr_id) || data.other_ref_id(&p.ref_id) {
        return PayOutcome::Pending("answer for another transaction".into());
    }
    let reason = data.describe(&rc_text);
    match Rc::from_code(&rc_text) {
        Some(Rc::Success) if (200..300).contains(&resp.http_status) => success(&data),
        Some(Rc::Success) => PayOutcome::Pending(format!("RC 00 with HTTP {}", resp.http_status)),
        Some(rc) => match pay_failure(rc) {
            (PayClass::Failed, told) => PayOutcome::Failed(told),
            (PayClass::Unknown, _) => PayOutcome::Pending(reason),
        },
        None => PayOutcome::Pending(format!("unknown {reason}")),
    }
}

/// A paid answer: `noref` (empty when IAK has none yet) and `selling_price` as the cost.
fn success(data: &IakData) -> PayOutcome {
    PayOutcome::Success {
        noref: text(data.noref.as_ref()).unwrap_or_default(),
        cost: amount(data.selling_price.as_ref(), "selling_price").ok(),
    }
}

// ------------------------------------------------------------------------------------- status

/// A `checkstatus` answer (or its absence) as a payment outcome.
///
/// | answer | outcome |
/// | --- | --- |
/// | `status` 1 | `Success { noref, cost: selling_price }` |
/// | `status` 2 | `Failed(rc)`, the RC of the failure read as at payment ([`pay_failure`]: 17, 100... become 105); no RC or an unknown one: 37; an RC that says success or pending: `Pending` (a contradiction) |
/// | `status` 3 | `Pending` |
/// | `status` 0, or no `status` and RC 42 | `Failed(42)`: IAK never received the payment request. How old the payment must be before this is trusted is the resolver's decision, not this function's |
/// | anything else (RC 100 on our signature, garbage, 5xx, timeout...) | `Pending` |
pub fn status_outcome(p: &UpstreamPayment, answer: Result<IakResponse, ClientError>) -> PayOutcome {
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => return PayOutcome::Pending(transport_reason(&e)),
    };
    if resp.http_status >= 500 {
        return PayOutcome::Pending(format!("HTTP {}", resp.http_status));
    }
    let Some(data) = IakData::read(&resp) else {
        return PayOutcome::Pending(unparseable(&resp));
    };
    if data.other_ref_id(&p.ref_id) {
        return PayOutcome::Pending("answer for another ref_id".into());
    }
    let rc_text = data.rc();
    let rc = rc_text.as_deref().and_then(Rc::from_code);
    let status = text(data.status.as_ref()).map(|s| s.trim().to_string());
    match status.as_deref() {
        Some("1") => success(&data),
        Some("2") => match rc {
            None => PayOutcome::Failed(Rc::PaymentFailed),
            Some(rc) if rc.status() != loket_core::RcStatus::Failed => {
                PayOutcome::Pending(format!("status 2 with {}", data.describe(rc.code())))
            }
            Some(rc) => match pay_failure(rc) {
                (PayClass::Failed, told) => PayOutcome::Failed(told),
                // Failed for sure by status 2, even where the RC alone would not say so (103).
                (PayClass::Unknown, _) => PayOutcome::Failed(rc),
            },
        },
        Some("3") => PayOutcome::Pending("status 3: in process".into()),
        Some("0") => PayOutcome::Failed(Rc::PaymentRequestNotReceived),
        None if rc == Some(Rc::PaymentRequestNotReceived) => {
            PayOutcome::Failed(Rc::PaymentRequestNotReceived)
        }
        Some(other) => PayOutcome::Pending(format!("unknown status {}", snippet(other))),
        None => PayOutcome::Pending(match rc_text {
            Some(rc) => format!(
                "checkstatus answer without a status: {}",
                data.describe(&rc)
            ),
            None => unparseable(&resp),
        }),
    }
}

fn unparseable(resp: &IakResponse) -> String {
    format!(
        "unparseable answer (HTTP {}): {}",
        resp.http_status,
        snippet(&resp.body)
    )
}
