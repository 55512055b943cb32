//! The sandbox biller's rules (`spec/sandbox.md`): from a product and a customer number, decide the
//! outcome of the inquiry and of the later payment, and the bill's data. Pure and deterministic:
//! the same request always gives the same answer.
//!
//! Order of rules: (1) the documented tables of exact numbers; (2) the RC-encoded rule for
//! `prefix + dddd`; (3) a bill generated from a hash of product code and number.

mod documented;
mod generate;
#[cfg(test)]
mod tests;

use crate::catalogue::BillShape;
use crate::quote::Desc;
use crate::{Product, Rc, RcStatus, Rupiah};
use documented::{Listed, Profile};
use serde_json::Value;

/// What the sandbox needs to know about an inquiry.
#[derive(Debug, Clone)]
pub struct SandboxInquiry<'a> {
    pub product: &'a Product,
    /// The customer number (`hp` / `customer_no`) as received.
    pub number: &'a str,
    /// PBB tax year (`year`), when sent.
    pub year: Option<&'a str>,
    /// BPJS months to pay (`month`), when sent.
    pub months: Option<u32>,
    /// Custom amount (`desc.amount`), when sent.
    pub amount: Option<Rupiah>,
}

/// How the payment of a successfully inquired bill will end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentScenario {
    /// RC 00 at once.
    Success,
    /// A definite failure with this RC at once (37, 105, ...).
    Fail(Rc),
    /// Answer `answer` (RC 39, or 05 / 201), keep the hold, and resolve after
    /// `sandbox.pending_resolve_secs` to `then`: `Rc::Success` or a failure RC. `then: None` never
    /// resolves by itself (only by `loket sandbox resolve`).
    Pending { answer: Rc, then: Option<Rc> },
}

/// A bill as the sandbox answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bill {
    /// `tr_name` / `customer_name`.
    pub name: String,
    /// `period`: one period, or several joined by `,`.
    pub period: String,
    /// The bill before admin (`nominal` / `tagihan`).
    pub nominal: Rupiah,
    pub admin: Rupiah,
    /// The member's commission on this bill: `selling_price = price - commission`.
    pub commission: Rupiah,
    /// What the biller charges loket for this bill (its cost), reported when the payment posts.
    pub cost: Rupiah,
    /// Number of bill sheets.
    pub sheets: u32,
    /// `desc` of the inquiry answer: a JSON object whose key order is the answer's.
    pub desc: Desc,
    /// `desc` of the payment answer (often equal to `desc`; PLN postpaid adds fields).
    pub paid_desc: Desc,
    /// The biller's reference for the payment (`noref` / `sn`).
    pub noref: String,
}

impl Bill {
    /// `price`: what the customer pays.
    pub fn price(&self) -> Rupiah {
        self.nominal
            .checked_add(self.admin)
            .expect("bill amounts are small")
    }

    /// `selling_price`: what the member's balance is charged.
    pub fn selling_price(&self) -> Rupiah {
        self.price()
            .checked_sub(self.commission)
            .expect("bill amounts are small")
    }
}

/// The sandbox's decision for one inquiry.
// One outcome per inquiry, moved once: the size difference between the variants costs nothing,
// and boxing the bill would change a type others code against.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SandboxOutcome {
    /// The inquiry succeeds with this bill; its payment will end as `payment` says.
    Bill {
        bill: Bill,
        payment: PaymentScenario,
    },
    /// The inquiry fails with this RC (01, 14, 103, ...).
    InquiryFails(Rc),
}

/// Decide an inquiry. See the module docs and `spec/sandbox.md`.
///
/// 1. When the product has a documented profile (`sandbox_profile`) that lists the number, the
///    documented outcome and data. The `mpbpjs` profile lists every number.
/// 2. When the number is the product's `sandbox_prefix` followed by exactly four ASCII digits `d`:
///    - `0000`: success with one bill; `0999`: success with several bills (8 for
///      `plnpostpaid`, 4 for `pdam`, 3 for the other shapes with a detail list, one otherwise);
///    - `0xyz`: the inquiry fails with RC `xyz`;
///    - `1xyz`: the inquiry succeeds and the payment ends with RC `xyz` (`1000` success, a pending
///      code such as `1039`, `1005` or `1201` answers that code and resolves to success later, a
///      failure code fails the payment at once);
///    - `2xyz`: the inquiry succeeds and the payment answers RC 39, resolving later to RC `xyz`
///      (`2000` success, `2037` failure 37); a pending `xyz` (`2039`, `2005`, `2201`) never resolves
///      by itself.
///
///    A code that is not in the RC table, and a first digit other than `0`, `1`, `2`, falls through
///    to rule 3. The bill of a rule-2 success is the product's documented data when it has a
///    profile, otherwise a bill generated for the number.
/// 3. Any other number: a bill generated deterministically from product code and number, paid
///    successfully.
///
/// A generated bill can also fail the inquiry with RC 93 (INVALID AMOUNT) when the request's custom
/// amount is not positive or exceeds Rp 1.000.000.000.000, or when the product's fees are so
/// large that the bill's arithmetic would overflow (never with a sane catalogue).
pub fn inquire(req: &SandboxInquiry<'_>) -> SandboxOutcome {
    let product = req.product;
    let profile = product.sandbox_profile.as_deref().and_then(Profile::parse);

    // Rule 1: the documented tables.
    if let Some(profile) = profile {
        match documented::listed(profile, req.number) {
            Some(Listed::InquiryFails(rc)) => return SandboxOutcome::InquiryFails(rc),
            Some(Listed::Bill(payment)) => {
                return outcome(Ok(documented::bill(profile, false)), product, payment)
            }
            None => {}
        }
    }

    // Rule 2: the RC-encoded numbers.
    if let Some(prefix) = product.sandbox_prefix.as_deref() {
        if let Some(answer) = rc_encoded(req, profile, prefix) {
            return answer;
        }
    }

    // Rule 3: a generated bill.
    outcome(generate::bill(req, 1), product, PaymentScenario::Success)
}

/// How many bills `prefix + 0999` answers for a product without documented data, by shape:
/// `pdam` 4 (as IAK documents `10200999`), the other shapes with a per-period detail list (`pln`,
/// `telco`, `internet`) 3. The shapes WITHOUT a detail list (`pln-nontaglist`, `pbb`, `pgas`,
/// `bpjs`) cannot show several bills, so their `0999` answers exactly as `0000` (the same bill,
/// generated for the `0000` number). The `plnpostpaid` profile answers its documented 8 bills; the
/// other documented profiles have no detail list and answer their one documented bill.
fn multi_bill(shape: BillShape) -> Option<u32> {
    match shape {
        BillShape::Pdam => Some(4),
        BillShape::Pln | BillShape::Telco | BillShape::Internet => Some(3),
        BillShape::PlnNontaglist | BillShape::Pbb | BillShape::Pgas | BillShape::Bpjs => None,
    }
}

/// Rule 2, or `None` when the number does not trigger it (the rule falls through).
fn rc_encoded(
    req: &SandboxInquiry<'_>,
    profile: Option<Profile>,
    prefix: &str,
) -> Option<SandboxOutcome> {
    let rest = req.number.strip_prefix(prefix)?;
    let d: [u8; 4] = rest.as_bytes().try_into().ok()?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let xyz = d[1..]
        .iter()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    let success = |many: bool, payment: PaymentScenario| {
        let draft = match profile {
            Some(profile) => Ok(documented::bill(profile, many)),
            None if many => match multi_bill(req.product.shape) {
                Some(count) => generate::bill(req, count),
                None => {
                    let zero = format!("{prefix}0000");
                    let as_zero = SandboxInquiry {
                        number: &zero,
                        ..req.clone()
                    };
                    generate::bill(&as_zero, 1)
                }
            },
            None => generate::bill(req, 1),
        };
        outcome(draft, req.product, payment)
    };
    match d[0] {
        b'0' => match xyz {
            0 => Some(success(false, PaymentScenario::Success)),
            999 => Some(success(true, PaymentScenario::Success)),
            _ => Rc::from_three_digits(xyz).map(SandboxOutcome::InquiryFails),
        },
        b'1' => {
            let rc = Rc::from_three_digits(xyz)?;
            let payment = match rc.status() {
                RcStatus::Success => PaymentScenario::Success,
                RcStatus::Pending => PaymentScenario::Pending {
                    answer: rc,
                    then: Some(Rc::Success),
                },
                RcStatus::Failed => PaymentScenario::Fail(rc),
            };
            Some(success(false, payment))
        }
        b'2' => {
            let rc = Rc::from_three_digits(xyz)?;
            let then = match rc.status() {
                RcStatus::Success | RcStatus::Failed => Some(rc),
                RcStatus::Pending => None,
            };
            Some(success(
                false,
                PaymentScenario::Pending {
                    answer: Rc::Pending,
                    then,
                },
            ))
        }
        _ => None,
    }
}

fn outcome(
    draft: Result<Draft, Rc>,
    product: &Product,
    payment: PaymentScenario,
) -> SandboxOutcome {
    match draft.and_then(|d| d.finish(product)) {
        Ok(bill) => SandboxOutcome::Bill { bill, payment },
        Err(rc) => SandboxOutcome::InquiryFails(rc),
    }
}

/// A bill before its cost, which depends on the product's `biller_commission`.
#[derive(Clone)]
struct Draft {
    name: String,
    period: String,
    nominal: Rupiah,
    admin: Rupiah,
    commission: Rupiah,
    sheets: u32,
    desc: Desc,
    paid_desc: Desc,
    noref: String,
}

impl Draft {
    /// The bill, with `cost = price - biller_commission * sheets`. Checks that every amount the
    /// bill reports (price, selling price, cost) fits, so [`Bill::price`] and
    /// [`Bill::selling_price`] cannot overflow: RC 93 otherwise.
    fn finish(self, product: &Product) -> Result<Bill, Rc> {
        let price = self
            .nominal
            .checked_add(self.admin)
            .ok_or(Rc::InvalidAmount)?;
        price
            .checked_sub(self.commission)
            .ok_or(Rc::InvalidAmount)?;
        let cost = product
            .biller_commission
            .checked_mul(i64::from(self.sheets))
            .and_then(|c| price.checked_sub(c))
            .ok_or(Rc::InvalidAmount)?;
        Ok(Bill {
            name: self.name,
            period: self.period,
            nominal: self.nominal,
            admin: self.admin,
            commission: self.commission,
            cost,
            sheets: self.sheets,
            desc: self.desc,
            paid_desc: self.paid_desc,
            noref: self.noref,
        })
    }
}

/// The payment's `desc` of a `pln` bill: the inquiry's `desc` with `meter_awal` / `meter_akhir`
/// appended to each `tagihan.detail[]` entry (from `meters`, in order) and `lembar_tagihan_sisa: 0`
/// appended at the end.
fn pln_paid_desc(desc: &Value, meters: &[(String, String)]) -> Value {
    let mut paid = desc.clone();
    if let Some(obj) = paid.as_object_mut() {
        if let Some(details) = obj
            .get_mut("tagihan")
            .and_then(|t| t.get_mut("detail"))
            .and_then(Value::as_array_mut)
        {
            for (entry, (awal, akhir)) in details.iter_mut().zip(meters) {
                if let Some(entry) = entry.as_object_mut() {
                    entry.insert("meter_awal".into(), Value::from(awal.as_str()));
                    entry.insert("meter_akhir".into(), Value::from(akhir.as_str()));
                }
            }
        }
        obj.insert("lembar_tagihan_sisa".into(), Value::from(0));
    }
    paid
}
