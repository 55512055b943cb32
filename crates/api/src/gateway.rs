//! The protocol-independent flows behind both protocols: inquiry (and, with the ledger, payment
//! and status). Handlers parse their wire format into these inputs and render the results; no wire
//! type reaches this module.

use crate::AppState;
use loket_core::quote::NewQuote;
use loket_core::sandbox::{self, PaymentScenario, SandboxInquiry, SandboxOutcome};
use loket_core::{
    ExtraField, Member, Mode, ProductStatus, Protocol, Quote, Rc, Rupiah, Settlement,
};
use loket_store::{Placed, StoreError};

/// An inquiry, as both protocols ask it.
#[derive(Debug, Clone)]
pub struct InquiryInput {
    pub mode: Mode,
    pub protocol: Protocol,
    pub code: String,
    pub number: String,
    pub ref_id: String,
    pub year: Option<String>,
    pub months: Option<u32>,
    pub nomor_identitas: Option<String>,
    pub amount: Option<Rupiah>,
    /// How long the quote lives (IAK: the Jakarta day; isikuota: the inquiry session).
    pub lifetime: loket_core::QuoteLifetime,
}

/// How an inquiry ended.
#[derive(Debug, Clone)]
pub enum InquiryResult {
    /// A quote: new, or the same unpaid quote again for a repeated ref_id.
    Quote(Box<Quote>),
    /// Refused with `rc`; `tr_id` when a quote with this ref_id exists.
    Failed { rc: Rc, tr_id: Option<i64> },
    /// The product needs a request field that is missing (RC 107 naming it).
    MissingField(ExtraField),
}

pub async fn inquire(
    state: &AppState,
    member: &Member,
    input: InquiryInput,
) -> Result<InquiryResult, StoreError> {
    let Some(product) = state.store.product(&input.code).await? else {
        return Ok(InquiryResult::Failed {
            rc: Rc::ProductUnregistered,
            tr_id: None,
        });
    };
    for field in &product.fields {
        let present = match field {
            ExtraField::Year => input.year.is_some(),
            ExtraField::Month => input.months.is_some(),
            ExtraField::NomorIdentitas => input.nomor_identitas.is_some(),
            ExtraField::Amount => input.amount.is_some(),
        };
        if !present {
            return Ok(InquiryResult::MissingField(*field));
        }
    }
    let now = loket_core::jakarta::now();
    if let Some(existing) = state
        .store
        .quote_by_ref(member.id, input.mode, &input.ref_id)
        .await?
    {
        return repeated(state, existing, &input, now).await;
    }
    if product.status == ProductStatus::Inactive {
        return Ok(InquiryResult::Failed {
            rc: Rc::ProductOutOfService,
            tr_id: None,
        });
    }
    if !input.number.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(InquiryResult::Failed {
            rc: Rc::IncorrectDestinationNumber,
            tr_id: None,
        });
    }
    if input.mode == Mode::Live {
        // Live inquiries go to upstreams; until routes exist, the product is out of service.
        return Ok(InquiryResult::Failed {
            rc: Rc::ProductOutOfService,
            tr_id: None,
        });
    }
    let outcome = sandbox::inquire(&SandboxInquiry {
        product: &product,
        number: &input.number,
        year: input.year.as_deref(),
        months: input.months,
        amount: input.amount,
    });
    let (bill, scenario) = match outcome {
        SandboxOutcome::InquiryFails(rc) => {
            if rc == Rc::Timeout && state.config.sandbox.timeout_delay_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(
                    state.config.sandbox.timeout_delay_ms,
                ))
                .await;
            }
            return Ok(InquiryResult::Failed { rc, tr_id: None });
        }
        SandboxOutcome::Bill { bill, payment } => (bill, payment),
    };
    let quote = NewQuote {
        tr_id: 0,
        member_id: member.id,
        mode: input.mode,
        protocol: input.protocol,
        ref_id: input.ref_id.clone(),
        code: input.code.clone(),
        hp: input.number.clone(),
        name: bill.name.clone(),
        period: bill.period.clone(),
        nominal: bill.nominal,
        admin: bill.admin,
        price: bill.price(),
        selling_price: bill.selling_price(),
        cost: bill.cost,
        sheets: bill.sheets,
        desc: bill.desc,
        paid_desc: bill.paid_desc,
        biller: "sandbox".into(),
        biller_ref: None,
        scenario: Some(scenario),
        noref: bill.noref,
        created_at: now,
        expires_at: input.lifetime.expires_at(now),
    };
    match state.store.insert_quote(quote).await {
        Ok(q) => Ok(InquiryResult::Quote(Box::new(q))),
        // A concurrent inquiry with the same ref_id won the race: answer as for a repeat.
        Err(StoreError::Duplicate(_)) => match state
            .store
            .quote_by_ref(member.id, input.mode, &input.ref_id)
            .await?
        {
            Some(existing) => repeated(state, existing, &input, now).await,
            None => Err(StoreError::Database(
                "quote vanished after a duplicate insert".into(),
            )),
        },
        Err(e) => Err(e),
    }
}

/// A ref_id the member already used: the same answer when it asks for the same bill and the quote
/// is still payable, RC 11 otherwise (spec/iak.md).
async fn repeated(
    state: &AppState,
    existing: Quote,
    input: &InquiryInput,
    now: i64,
) -> Result<InquiryResult, StoreError> {
    let same = existing.code == input.code && existing.hp == input.number;
    if same && !existing.is_expired(now) && !state.store.quote_is_paid(existing.tr_id).await? {
        return Ok(InquiryResult::Quote(Box::new(existing)));
    }
    Ok(InquiryResult::Failed {
        rc: Rc::DuplicateRefId,
        tr_id: Some(existing.tr_id),
    })
}

/// How a payment request ended, as both protocols answer it.
#[derive(Debug, Clone)]
pub enum PayResult {
    /// The payment (new or earlier) in its current state, with its quote.
    Payment {
        quote: Box<Quote>,
        payment: loket_core::Payment,
    },
    /// Refused before any money moved.
    Refused { rc: Rc, quote: Option<Box<Quote>> },
}

/// Seconds after which the resolver looks at a sandbox payment that a crash left pending although
/// its outcome was immediate (the request itself settles it long before).
const CRASH_GRACE_SECS: i64 = 10;

/// Pay the quote `tr_id` for `member` (spec/iak.md `pay-pasca`, spec/ledger.md).
pub async fn pay(
    state: &AppState,
    member: &Member,
    mode: Mode,
    tr_id: i64,
) -> Result<PayResult, StoreError> {
    let quote = match state.store.quote(tr_id).await? {
        Some(q) if q.member_id == member.id && q.mode == mode => q,
        _ => {
            return Ok(PayResult::Refused {
                rc: Rc::InquiryIdNotFound,
                quote: None,
            })
        }
    };
    pay_quote(state, quote).await
}

/// Pay a quote the caller has already matched to its member.
pub async fn pay_quote(state: &AppState, quote: Quote) -> Result<PayResult, StoreError> {
    let now = loket_core::jakarta::now();
    if let Some(existing) = state.store.payment_by_tr_id(quote.tr_id).await? {
        return Ok(PayResult::Payment {
            quote: Box::new(quote),
            payment: existing,
        });
    }
    if quote.is_expired(now) {
        return Ok(PayResult::Refused {
            rc: Rc::BillingIdExpired,
            quote: Some(Box::new(quote)),
        });
    }
    let scenario = quote.scenario.unwrap_or(PaymentScenario::Pending {
        answer: Rc::Pending,
        then: None,
    });
    let resolve_at = match scenario {
        PaymentScenario::Pending { then: Some(_), .. } => {
            now + state.config.sandbox.pending_resolve_secs as i64
        }
        PaymentScenario::Pending { then: None, .. } => i64::MAX,
        _ => now + CRASH_GRACE_SECS,
    };
    let payment = match state.store.place_payment(quote.tr_id, resolve_at).await {
        Ok(Placed::New(p)) => p,
        Ok(Placed::Existing(p)) => {
            return Ok(PayResult::Payment {
                quote: Box::new(quote),
                payment: p,
            })
        }
        Err(StoreError::InsufficientBalance) => {
            return Ok(PayResult::Refused {
                rc: Rc::BalanceNotEnough,
                quote: Some(Box::new(quote)),
            })
        }
        Err(StoreError::Duplicate(_)) => match state.store.payment_by_tr_id(quote.tr_id).await? {
            Some(p) => {
                return Ok(PayResult::Payment {
                    quote: Box::new(quote),
                    payment: p,
                })
            }
            None => {
                return Err(StoreError::Database(
                    "payment vanished after a duplicate insert".into(),
                ))
            }
        },
        Err(e) => return Err(e),
    };
    // The hold is durable; now "call" the biller. The sandbox answers from the quote's scenario.
    let payment = match scenario {
        PaymentScenario::Success => {
            let outcome = Settlement::Success {
                noref: quote.noref.clone(),
                cost: quote.cost,
            };
            state
                .store
                .settle_payment(payment.id, outcome, None)
                .await?
        }
        PaymentScenario::Fail(rc) => {
            state
                .store
                .settle_payment(payment.id, Settlement::Failed(rc), None)
                .await?
        }
        PaymentScenario::Pending { answer, then } => {
            let resolve_at = then.map(|_| resolve_at);
            state
                .store
                .mark_pending(payment.id, answer, resolve_at)
                .await?
        }
    };
    Ok(PayResult::Payment {
        quote: Box::new(quote),
        payment,
    })
}

/// The settlement a sandbox quote's scenario resolves to, when it resolves by itself.
pub fn sandbox_settlement(quote: &Quote) -> Option<Settlement> {
    let target = match quote.scenario? {
        PaymentScenario::Success => Rc::Success,
        PaymentScenario::Fail(rc) => rc,
        PaymentScenario::Pending { then, .. } => then?,
    };
    Some(if target == Rc::Success {
        Settlement::Success {
            noref: quote.noref.clone(),
            cost: quote.cost,
        }
    } else {
        Settlement::Failed(target)
    })
}

/// A ref_id's state for `checkstatus` / isikuota `status`.
#[derive(Debug, Clone)]
pub enum StatusResult {
    /// Neither a quote nor a payment for this ref_id.
    Unknown,
    /// Quoted, not paid.
    Quoted(Box<Quote>),
    Paid {
        quote: Box<Quote>,
        payment: loket_core::Payment,
    },
}

pub async fn status(
    state: &AppState,
    member: &Member,
    mode: Mode,
    ref_id: &str,
) -> Result<StatusResult, StoreError> {
    let Some(quote) = state.store.quote_by_ref(member.id, mode, ref_id).await? else {
        return Ok(StatusResult::Unknown);
    };
    Ok(match state.store.payment_by_tr_id(quote.tr_id).await? {
        Some(payment) => StatusResult::Paid {
            quote: Box::new(quote),
            payment,
        },
        None => StatusResult::Quoted(Box::new(quote)),
    })
}
