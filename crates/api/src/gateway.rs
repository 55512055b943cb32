//! The protocol-independent flows behind both protocols: inquiry (and, with the ledger, payment
//! and status). Handlers parse their wire format into these inputs and render the results; no wire
//! type reaches this module.

use crate::AppState;
use loket_core::quote::NewQuote;
use loket_core::sandbox::{self, SandboxInquiry, SandboxOutcome};
use loket_core::{ExtraField, Member, Mode, ProductStatus, Protocol, Quote, Rc, Rupiah};
use loket_store::StoreError;

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
            if rc == Rc::Timeout && state.config.sandbox_biller.timeout_delay_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(
                    state.config.sandbox_biller.timeout_delay_ms,
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
        expires_at: state.quote_lifetime.expires_at(now),
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
