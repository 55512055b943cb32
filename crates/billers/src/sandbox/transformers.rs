//! The sandbox rules' decisions ([`SandboxOutcome`], [`PaymentScenario`]) as upstream outcomes.
//!
//! | sandbox | inquiry | pay | status |
//! | --- | --- | --- | --- |
//! | bill, payment `Success` | `Bill` | `Success { noref, cost }` | `Success` |
//! | bill, payment `Fail(rc)` | `Bill` | `Failed(rc)` | `Failed(rc)` |
//! | bill, payment `Pending { then: Some(00) }` | `Bill` | `Pending` | `Success` |
//! | bill, payment `Pending { then: Some(rc) }` | `Bill` | `Pending` | `Failed(rc)` |
//! | bill, payment `Pending { then: None }` | `Bill` | `Pending` | `Pending` |
//! | inquiry fails with `rc` | `Refused(rc)`, or `Unavailable` for an RC that means "this upstream cannot do it now" (103 timeout, 106, 105, ...: the IAK connector's [`inquiry_refusal`] table, so that this upstream reads like a loket IAK upstream in sandbox mode) | `Failed(rc)` (no bill can have been quoted) | `Failed(42)` |
//! | product unknown to the catalogue or inactive, a required field missing | `Unavailable` | `Failed(06)` | `Failed(42)` |

use loket_core::sandbox::{self, PaymentScenario, SandboxInquiry, SandboxOutcome};
use loket_core::upstream::{
    InquiryOutcome, PayOutcome, UpstreamBill, UpstreamInquiry, UpstreamPayment,
};
use loket_core::{Catalogue, ExtraField, Product, ProductStatus, Rc, Rupiah};

use crate::iak::transformers::inquiry_refusal;

/// The product a route names, when the sandbox serves it.
fn product<'a>(catalogue: &'a Catalogue, code: &str) -> Result<&'a Product, String> {
    match catalogue.get(code) {
        Some(p) if p.status == ProductStatus::Active => Ok(p),
        Some(_) => Err(format!("sandbox: product {code} is inactive")),
        None => Err(format!("sandbox: no product {code}")),
    }
}

/// The sandbox's inquiry rule, answered as an upstream.
pub fn inquiry_outcome(catalogue: &Catalogue, req: &UpstreamInquiry) -> InquiryOutcome {
    let product = match product(catalogue, &req.product_code) {
        Ok(p) => p,
        Err(why) => return InquiryOutcome::Unavailable(why),
    };
    let missing = [
        (ExtraField::Year, req.year.is_none()),
        (ExtraField::Month, req.months.is_none()),
        (ExtraField::NomorIdentitas, req.nomor_identitas.is_none()),
        (ExtraField::Amount, req.amount.is_none()),
    ]
    .into_iter()
    .find(|(field, absent)| *absent && product.requires(*field));
    if let Some((field, _)) = missing {
        return InquiryOutcome::Unavailable(format!("sandbox: {} is required", field.name()));
    }
    let decision = sandbox::inquire(&SandboxInquiry {
        product,
        number: &req.number,
        year: req.year.as_deref(),
        months: req.months,
        amount: req.amount,
    });
    match decision {
        SandboxOutcome::Bill { bill, .. } => InquiryOutcome::Bill(UpstreamBill {
            name: bill.name,
            period: bill.period,
            nominal: bill.nominal,
            admin: bill.admin,
            cost: bill.cost,
            desc: std::sync::Arc::unwrap_or_clone(bill.desc),
            upstream_ref: None,
        }),
        SandboxOutcome::InquiryFails(rc) => {
            inquiry_refusal(rc, format!("sandbox: RC {} {}", rc.code(), rc.message()))
        }
    }
}

/// The sandbox's decision for a payment's (product, number). A custom amount is not part of a
/// payment, so for a custom-amount product the cost is the quote's.
fn decide(
    catalogue: &Catalogue,
    p: &UpstreamPayment,
) -> Result<(PaymentScenario, String, Rupiah), Rc> {
    let product = product(catalogue, &p.product_code).map_err(|_| Rc::InquiryIdNotFound)?;
    let decision = sandbox::inquire(&SandboxInquiry {
        product,
        number: &p.number,
        year: None,
        months: None,
        amount: None,
    });
    match decision {
        SandboxOutcome::Bill { bill, payment } => {
            let cost = if product.requires(ExtraField::Amount) {
                p.quoted_cost
            } else {
                bill.cost
            };
            Ok((payment, bill.noref, cost))
        }
        SandboxOutcome::InquiryFails(rc) => Err(rc),
    }
}

/// The payment, ended as the rule says at once.
pub fn pay_outcome(catalogue: &Catalogue, p: &UpstreamPayment) -> PayOutcome {
    match decide(catalogue, p) {
        Ok((PaymentScenario::Success, noref, cost)) => PayOutcome::Success {
            noref,
            cost: Some(cost),
        },
        Ok((PaymentScenario::Fail(rc), _, _)) => PayOutcome::Failed(rc),
        Ok((PaymentScenario::Pending { answer, .. }, _, _)) => PayOutcome::Pending(format!(
            "sandbox: RC {} {}",
            answer.code(),
            answer.message()
        )),
        Err(rc) => PayOutcome::Failed(rc),
    }
}

/// Where the payment resolves to.
pub fn status_outcome(catalogue: &Catalogue, p: &UpstreamPayment) -> PayOutcome {
    match decide(catalogue, p) {
        Ok((PaymentScenario::Success, noref, cost))
        | Ok((
            PaymentScenario::Pending {
                then: Some(Rc::Success),
                ..
            },
            noref,
            cost,
        )) => PayOutcome::Success {
            noref,
            cost: Some(cost),
        },
        Ok((PaymentScenario::Fail(rc), _, _))
        | Ok((PaymentScenario::Pending { then: Some(rc), .. }, _, _)) => PayOutcome::Failed(rc),
        Ok((PaymentScenario::Pending { then: None, .. }, _, _)) => {
            PayOutcome::Pending("sandbox: pending without a resolution".into())
        }
        Err(_) => PayOutcome::Failed(Rc::PaymentRequestNotReceived),
    }
}
