//! The protocol-independent flows behind both protocols: inquiry (and, with the ledger, payment
//! and status). Handlers parse their wire format into these inputs and render the results; no wire
//! type reaches this module.

use crate::AppState;
use loket_core::quote::NewQuote;
use loket_core::sandbox::{self, PaymentScenario, SandboxInquiry, SandboxOutcome};
use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
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
    Quote(std::sync::Arc<Quote>),
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
    // A repeated ref_id answers its quote (or RC 11) before anything else. Checked up front when
    // the answer would not be a new quote (and always before asking an upstream); on the
    // sandbox's success path the quotes' unique key finds repeats without a read.
    let inactive = product.status == ProductStatus::Inactive;
    let bad_number = !input.number.bytes().all(|b| b.is_ascii_digit());
    if inactive || bad_number || input.mode == Mode::Live {
        if let Some(existing) = state
            .store
            .quote_by_ref(member.id, input.mode, &input.ref_id)
            .await?
        {
            return repeated(state, existing, &input, now).await;
        }
    }
    if inactive {
        return Ok(InquiryResult::Failed {
            rc: Rc::ProductOutOfService,
            tr_id: None,
        });
    }
    if bad_number {
        return Ok(InquiryResult::Failed {
            rc: Rc::IncorrectDestinationNumber,
            tr_id: None,
        });
    }
    if input.mode == Mode::Live {
        // Upstreams are asked only on members and products known to be current.
        state.store.confirm_config().await?;
        return live_inquiry(state, member, &product, input, now).await;
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
            if let Some(existing) = state
                .store
                .quote_by_ref(member.id, input.mode, &input.ref_id)
                .await?
            {
                return repeated(state, existing, &input, now).await;
            }
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
    let (price, selling_price) = (bill.price(), bill.selling_price());
    let quote = NewQuote {
        tr_id: 0,
        member_id: member.id,
        mode: input.mode,
        protocol: input.protocol,
        ref_id: input.ref_id.clone(),
        code: input.code.clone(),
        hp: input.number.clone(),
        name: bill.name,
        period: bill.period,
        nominal: bill.nominal,
        admin: bill.admin,
        price,
        selling_price,
        cost: bill.cost,
        sheets: bill.sheets,
        desc: bill.desc,
        paid_desc: bill.paid_desc,
        biller: "sandbox".into(),
        biller_ref: None,
        upstream_code: None,
        upstream_ref_id: None,
        scenario: Some(scenario),
        noref: bill.noref,
        created_at: now,
        expires_at: input.lifetime.expires_at(now),
    };
    store_quote(state, member, &input, quote, now).await
}

/// Store a new quote; a concurrent inquiry with the same ref_id that won the race is answered as
/// a repeat.
async fn store_quote(
    state: &AppState,
    member: &Member,
    input: &InquiryInput,
    quote: NewQuote,
    now: i64,
) -> Result<InquiryResult, StoreError> {
    match state.store.insert_quote(quote).await {
        Ok(q) => {
            let q = std::sync::Arc::new(q);
            state.quotes.put(q.clone());
            Ok(InquiryResult::Quote(q))
        }
        Err(StoreError::Duplicate(_)) => match state
            .store
            .quote_by_ref(member.id, input.mode, &input.ref_id)
            .await?
        {
            Some(existing) => repeated(state, existing, input, now).await,
            None => Err(StoreError::Database(
                "quote vanished after a duplicate insert".into(),
            )),
        },
        Err(e) => Err(e),
    }
}

/// A live inquiry: the product's routes in order; the next route on "unavailable" (transport
/// failure, timeout, 5xx, product out of service, open breaker, a cost above the route's limit);
/// stop at the first answer about the bill itself (spec/upstreams.md).
async fn live_inquiry(
    state: &AppState,
    member: &Member,
    product: &loket_core::Product,
    input: InquiryInput,
    now: i64,
) -> Result<InquiryResult, StoreError> {
    let routes = state.store.routes(Some(&product.code)).await?;
    let upstream_ref_id = format!("LK{}", loket_store::random_hex(8).to_uppercase());
    for route in routes {
        let Some(up) = state.upstreams.get(&state.store, &route.upstream).await else {
            continue;
        };
        if !up.breaker.allows() {
            tracing::info!(upstream = %route.upstream, "inquiry skips an upstream whose breaker is open");
            continue;
        }
        let Some(_permit) = up.permit().await else {
            tracing::warn!(upstream = %route.upstream, "inquiry: upstream at its concurrency limit");
            continue;
        };
        let req = UpstreamInquiry {
            product_code: route.upstream_code.clone(),
            number: input.number.clone(),
            ref_id: upstream_ref_id.clone(),
            year: input.year.clone(),
            months: input.months,
            nomor_identitas: input.nomor_identitas.clone(),
            amount: input.amount,
        };
        let bill = match up.connector.inquiry(&req).await {
            InquiryOutcome::Bill(bill) => {
                up.breaker.success();
                bill
            }
            InquiryOutcome::Refused(rc) => {
                up.breaker.success();
                return Ok(InquiryResult::Failed { rc, tr_id: None });
            }
            InquiryOutcome::Unavailable(reason) => {
                up.breaker.failure();
                tracing::info!(upstream = %route.upstream, %reason, "inquiry fails over");
                continue;
            }
        };
        if route.cost_limit.is_some_and(|limit| bill.cost > limit) {
            tracing::warn!(upstream = %route.upstream, cost = %bill.cost, "upstream cost above the route's limit; next route");
            continue;
        }
        let price = bill.nominal.checked_add(bill.admin).unwrap_or(Rupiah::ZERO);
        let selling_price = price
            .checked_sub(product.commission)
            .unwrap_or(Rupiah::ZERO);
        if selling_price.get() <= 0 || bill.cost.get() < 0 {
            tracing::warn!(upstream = %route.upstream, "upstream quoted an impossible amount; next route");
            continue;
        }
        let desc = loket_core::quote::Desc::new(bill.desc);
        let quote = NewQuote {
            tr_id: 0,
            member_id: member.id,
            mode: input.mode,
            protocol: input.protocol,
            ref_id: input.ref_id.clone(),
            code: input.code.clone(),
            hp: input.number.clone(),
            name: bill.name,
            period: bill.period,
            nominal: bill.nominal,
            admin: bill.admin,
            price,
            selling_price,
            cost: bill.cost,
            sheets: 1,
            paid_desc: desc.clone(),
            desc,
            biller: route.upstream.clone(),
            biller_ref: bill.upstream_ref,
            upstream_code: Some(route.upstream_code.clone()),
            upstream_ref_id: Some(upstream_ref_id),
            scenario: None,
            noref: String::new(),
            created_at: now,
            expires_at: input.lifetime.expires_at(now),
        };
        return store_quote(state, member, &input, quote, now).await;
    }
    Ok(InquiryResult::Failed {
        rc: Rc::ProductOutOfService,
        tr_id: None,
    })
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
        return Ok(InquiryResult::Quote(std::sync::Arc::new(existing)));
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
    let quote = match state.take_quote(tr_id, member.id, mode).await? {
        Some(q) if q.member_id == member.id && q.mode == mode => Box::new(q),
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
///
/// The quote travels boxed: every future on a payment's path holds a pointer instead of a
/// 464-byte copy in each of its states (docs/performance.md, round 8).
pub async fn pay_quote(state: &AppState, quote: Box<Quote>) -> Result<PayResult, StoreError> {
    let now = loket_core::jakarta::now();
    let upstream = quote.scenario.is_none() && quote.upstream_code.is_some();
    // A repeat answers the first payment, even past expiry or with the upstream unavailable. For
    // a fresh sandbox quote, placing the payment finds a repeat by itself (no read needed).
    // The store calls below are boxed: this future lives as long as a payment does, its wait on a
    // slow upstream included, and unboxed it would hold the largest state of every path
    // (docs/performance.md, "Slow upstream").
    if upstream || quote.is_expired(now) {
        if let Some(existing) = Box::pin(state.store.payment_by_tr_id(quote.tr_id)).await? {
            return Box::pin(first_payment(state, quote, existing)).await;
        }
    }
    if quote.is_expired(now) {
        return Ok(PayResult::Refused {
            rc: Rc::BillingIdExpired,
            quote: Some(quote),
        });
    }
    if upstream {
        return Box::pin(pay_upstream(state, quote, now)).await;
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
    // The sandbox biller answers from the quote's scenario without calling anyone: an immediate
    // outcome is written with the hold, in the same transaction (nothing to lose in between).
    let immediate = match scenario {
        PaymentScenario::Success => Some(Settlement::Success {
            noref: quote.noref.clone(),
            cost: quote.cost,
        }),
        PaymentScenario::Fail(rc) => Some(Settlement::Failed(rc)),
        PaymentScenario::Pending { .. } => None,
    };
    let placed = match immediate {
        Some(outcome) => {
            Box::pin(
                state
                    .store
                    .place_and_settle(quote.tr_id, resolve_at, outcome),
            )
            .await
        }
        None => Box::pin(state.store.place_payment(quote.tr_id, resolve_at)).await,
    };
    let (quote, payment) = match Box::pin(placed_or_answer(state, quote, placed)).await? {
        Ok(placed) => placed,
        Err(answer) => return Ok(answer),
    };
    let payment = match scenario {
        PaymentScenario::Pending { answer, then } => {
            let resolve_at = then.map(|_| resolve_at);
            Box::pin(state.store.mark_pending(payment.id, answer, resolve_at)).await?
        }
        _ => payment,
    };
    Ok(PayResult::Payment { quote, payment })
}

/// What placing the quote's payment (hold and row, one transaction) did. `Err(answer)`: nothing
/// new was placed and `answer` is what the request gets (the first payment's state, or RC 17).
async fn placed_or_answer(
    state: &AppState,
    quote: Box<Quote>,
    placed: Result<Placed, StoreError>,
) -> Result<Result<(Box<Quote>, loket_core::Payment), PayResult>, StoreError> {
    let existing = match placed {
        Ok(Placed::New(p)) => return Ok(Ok((quote, p))),
        Ok(Placed::Existing(p)) => p,
        Err(StoreError::InsufficientBalance) => {
            return Ok(Err(PayResult::Refused {
                rc: Rc::BalanceNotEnough,
                quote: Some(quote),
            }))
        }
        Err(StoreError::Duplicate(_)) => state
            .store
            .payment_by_tr_id(quote.tr_id)
            .await?
            .ok_or_else(|| {
                StoreError::Database("payment vanished after a duplicate insert".into())
            })?,
        Err(e) => return Err(e),
    };
    first_payment(state, quote, existing).await.map(Err)
}

/// How long a repeated pay waits for the first one's outcome while that one is still in flight.
const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A repeated pay answers the first payment's state. While the first is still in flight (its hold
/// placed, no outcome written yet: `attempts == 0`), wait a little for its outcome, so that
/// repeats see what the first request answers rather than a transient "pending".
async fn first_payment(
    state: &AppState,
    quote: Box<Quote>,
    mut payment: loket_core::Payment,
) -> Result<PayResult, StoreError> {
    let deadline = tokio::time::Instant::now() + IN_FLIGHT_WAIT;
    while payment.state == loket_core::PaymentState::Pending
        && payment.attempts == 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        match state.store.payment_by_tr_id(quote.tr_id).await? {
            Some(p) => payment = p,
            None => break,
        }
    }
    Ok(PayResult::Payment { quote, payment })
}

/// The upstream's view of a quote, for pay and status.
pub fn upstream_payment(quote: &Quote) -> UpstreamPayment {
    UpstreamPayment {
        product_code: quote
            .upstream_code
            .clone()
            .unwrap_or_else(|| quote.code.clone()),
        number: quote.hp.clone(),
        ref_id: quote
            .upstream_ref_id
            .clone()
            .unwrap_or_else(|| quote.ref_id.clone()),
        upstream_ref: quote.biller_ref.clone(),
        quoted_cost: quote.cost,
    }
}

/// Pay a live quote at the upstream that quoted it, and only there. Refused before any money
/// moves when that upstream is gone, its breaker is open or it is at its concurrency limit.
async fn pay_upstream(
    state: &AppState,
    quote: Box<Quote>,
    now: i64,
) -> Result<PayResult, StoreError> {
    let refuse = |quote: Box<Quote>| {
        Ok(PayResult::Refused {
            rc: Rc::ProductOutOfService,
            quote: Some(quote),
        })
    };
    let Some(up) = state.upstreams.get(&state.store, &quote.biller).await else {
        return refuse(quote);
    };
    if !up.breaker.allows() {
        return refuse(quote);
    }
    let Some(permit) = up.permit().await else {
        return refuse(quote);
    };
    let first_check = now
        + state
            .config
            .resolver
            .backoff_secs
            .first()
            .copied()
            .unwrap_or(10);
    let placed = {
        // In turn with the other upstream payments: a burst of them does not queue ahead of
        // every other request at the database writer.
        let _turn = state.upstreams.write_turn().await;
        Box::pin(state.store.place_payment(quote.tr_id, first_check)).await
    };
    let (quote, payment) = match Box::pin(placed_or_answer(state, quote, placed)).await? {
        Ok(placed) => placed,
        Err(answer) => return Ok(answer),
    };
    // The hold is durable: from here on, whatever happens, the resolver finishes the payment.
    let outcome = up.connector.pay(&upstream_payment(&quote)).await;
    drop(permit);
    let payment = {
        let _turn = state.upstreams.write_turn().await;
        Box::pin(apply_outcome(
            state,
            &quote,
            &payment,
            outcome,
            None,
            &up.breaker,
        ))
        .await?
    };
    Ok(PayResult::Payment { quote, payment })
}

/// Write what an upstream said about a pending payment. `by`: who settles it after its answer
/// (the resolver, a webhook), `None` inside the paying request.
pub async fn apply_outcome(
    state: &AppState,
    quote: &Quote,
    payment: &loket_core::Payment,
    outcome: PayOutcome,
    by: Option<String>,
    breaker: &crate::upstreams::Breaker,
) -> Result<loket_core::Payment, StoreError> {
    let now = loket_core::jakarta::now();
    match outcome {
        PayOutcome::Success { noref, cost } => {
            breaker.success();
            let cost = cost.unwrap_or(quote.cost);
            if cost > quote.cost {
                // Paid already: the member pays the quote, loket carries the difference; flag it.
                tracing::warn!(tr_id = quote.tr_id, quoted = %quote.cost, charged = %cost, "upstream charged more than it quoted");
                state.store.flag_payment(payment.id).await?;
            }
            state
                .store
                .settle_payment(payment.id, Settlement::Success { noref, cost }, by)
                .await
        }
        PayOutcome::Failed(rc)
            if rc == Rc::PaymentRequestNotReceived
                && now - payment.created_at < state.config.resolver.not_received_grace_secs =>
        {
            // Too early to believe "never received": it may still be on its way.
            reschedule(state, payment, now).await
        }
        PayOutcome::Failed(rc) => {
            breaker.success();
            state
                .store
                .settle_payment(payment.id, Settlement::Failed(rc), by)
                .await
        }
        PayOutcome::Pending(reason) => {
            // Not a breaker failure: "pending" is a normal answer, and a lost answer is resolved
            // by status. Breakers are driven by inquiries, which fail over.
            tracing::info!(tr_id = quote.tr_id, %reason, "upstream payment pending");
            reschedule(state, payment, now).await
        }
    }
}

/// Keep a payment pending and schedule its next status check with backoff; past the age limit,
/// flag it for the operator (never refunded automatically).
async fn reschedule(
    state: &AppState,
    payment: &loket_core::Payment,
    now: i64,
) -> Result<loket_core::Payment, StoreError> {
    let backoff = &state.config.resolver.backoff_secs;
    let i = (payment.attempts.max(0) as usize).min(backoff.len().saturating_sub(1));
    let wait = backoff.get(i).copied().unwrap_or(900).max(1);
    if now - payment.created_at > state.config.resolver.max_age_secs && !payment.flagged {
        tracing::warn!(
            tr_id = payment.tr_id,
            "payment still unknown past the age limit: flagged for the operator"
        );
        state.store.flag_payment(payment.id).await?;
    }
    state
        .store
        .mark_pending(payment.id, Rc::Pending, Some(now + wait))
        .await
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
