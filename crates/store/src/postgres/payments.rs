//! Payments on the ledger: the hold and the payment row in one transaction; the outcome and the
//! post/void in another; each hold resolved at most once. See `mod.rs` for why READ COMMITTED
//! suffices: every check below is a conditional statement, a constraint or a row lock.

use super::{
    account_balance, account_id, external_code, in_id_order, is_unique_violation, member_account,
    pg_err, transaction, Fail, PostgresStore, TxResult,
};
use crate::ledger::Side;
use crate::{Placed, Result, StoreError};
use deadpool_postgres::GenericClient;
use loket_core::{Mode, Payment, PaymentState, Protocol, Rc, Rupiah, Settlement};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

const COLUMNS: &str = "id, tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after, resolve_at, attempts, flagged, resolved_by, created_at, updated_at";

fn row_to_payment(r: &Row) -> std::result::Result<Payment, tokio_postgres::Error> {
    let mode: String = r.try_get(3)?;
    let state: String = r.try_get(5)?;
    let rc: String = r.try_get(6)?;
    Ok(Payment {
        id: r.try_get(0)?,
        tr_id: r.try_get(1)?,
        member_id: r.try_get(2)?,
        mode: Mode::parse(&mode).unwrap_or(Mode::Sandbox),
        ref_id: r.try_get(4)?,
        state: PaymentState::parse(&state).unwrap_or(PaymentState::Pending),
        rc: Rc::from_code(&rc).unwrap_or(Rc::UndefinedResponseCode),
        amount: Rupiah::new(r.try_get(7)?),
        hold_id: r.try_get(8)?,
        noref: r.try_get(9)?,
        balance_after: Rupiah::new(r.try_get::<_, Option<i64>>(10)?.unwrap_or(0)),
        resolve_at: r.try_get(11)?,
        attempts: r.try_get(12)?,
        flagged: r.try_get(13)?,
        resolved_by: r.try_get(14)?,
        created_at: r.try_get(15)?,
        updated_at: r.try_get(16)?,
    })
}

fn rows_to_payments(rows: Vec<Row>) -> TxResult<Vec<Payment>> {
    Ok(rows
        .iter()
        .map(row_to_payment)
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

async fn payment_where(
    c: &impl GenericClient,
    clause: &str,
    params: &[&(dyn ToSql + Sync)],
) -> TxResult<Option<Payment>> {
    let st = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM payments WHERE {clause}"))
        .await?;
    match c.query_opt(&st, params).await? {
        Some(r) => Ok(Some(row_to_payment(&r)?)),
        None => Ok(None),
    }
}

fn upstream_code(biller: &str) -> String {
    format!("upstream:{biller}")
}

fn revenue_code(side: Side) -> &'static str {
    match side {
        Side::Live => "revenue",
        Side::Sandbox => "sandbox:revenue",
    }
}

/// An upstream's account, created on first use (`ON CONFLICT DO NOTHING`: two instances creating
/// it at once end with one row).
async fn upstream_account(c: &impl GenericClient, biller: &str) -> TxResult<i64> {
    let code = upstream_code(biller);
    match account_id(c, &code).await {
        Err(Fail::Store(StoreError::NotFound(_))) => {}
        other => return other,
    }
    let st = c
        .prepare_cached(
            "INSERT INTO accounts (code, kind) VALUES ($1, 'upstream') ON CONFLICT (code) DO NOTHING",
        )
        .await?;
    c.execute(&st, &[&code]).await?;
    account_id(c, &code).await
}

/// Place a hold of `amount` from `debit` to `credit` if `debit`'s available balance covers it.
async fn hold(
    c: &impl GenericClient,
    debit: i64,
    credit: i64,
    amount: i64,
    reason: &str,
    reference: Option<&str>,
) -> TxResult<i64> {
    if amount <= 0 {
        return Err(StoreError::Invalid("a hold must be positive".into()).into());
    }
    // The balance check and the hold are one statement: the row is locked and the condition
    // evaluated on its newest version, so nothing can spend in between, from any instance.
    let debit_sql = "UPDATE accounts SET debits_pending = debits_pending + $2
         WHERE id = $1 AND (kind NOT IN ('member_live', 'member_sandbox') OR credits_posted - debits_posted - debits_pending >= $2)";
    let credit_sql = "UPDATE accounts SET credits_pending = credits_pending + $2 WHERE id = $1";
    // Lower account id first, like every transfer (no deadlocks between them).
    let mut steps = [(debit, debit_sql, true), (credit, credit_sql, false)];
    if credit < debit {
        steps.swap(0, 1);
    }
    for (id, sql, is_debit) in steps {
        let st = c.prepare_cached(sql).await?;
        let n = c.execute(&st, &[&id, &amount]).await?;
        if is_debit && n == 0 {
            return Err(StoreError::InsufficientBalance.into());
        }
    }
    let st = c
        .prepare_cached(
            "INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6) RETURNING id",
        )
        .await?;
    let r = c
        .query_one(
            &st,
            &[
                &debit,
                &credit,
                &amount,
                &reason,
                &reference,
                &loket_core::jakarta::now(),
            ],
        )
        .await?;
    Ok(r.try_get(0)?)
}

/// Post or void the hold `hold_id`. [`StoreError::Duplicate`] when it was already resolved.
async fn resolve_hold(c: &impl GenericClient, hold_id: i64, post: bool) -> TxResult<()> {
    let st = c
        .prepare_cached(
            "SELECT debit_account, credit_account, amount, reason FROM transfers WHERE id = $1 AND kind = 'pending'",
        )
        .await?;
    let Some(r) = c.query_opt(&st, &[&hold_id]).await? else {
        return Err(StoreError::NotFound("hold").into());
    };
    let (debit, credit, amount, reason): (i64, i64, i64, String) =
        (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
    let kind = if post { "post" } else { "void" };
    // pending_id is UNIQUE: a second resolution of the same hold, concurrent or later, fails here
    // (a concurrent one waits for the first to commit), before any balance moves.
    let st = c
        .prepare_cached(
            "INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let inserted = c
        .execute(
            &st,
            &[
                &debit,
                &credit,
                &amount,
                &kind,
                &hold_id,
                &reason,
                &loket_core::jakarta::now(),
            ],
        )
        .await
        .map_err(Fail::from);
    match inserted {
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Duplicate("hold resolution").into())
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    if post {
        in_id_order(
            c,
            (debit, "UPDATE accounts SET debits_pending = debits_pending - $2, debits_posted = debits_posted + $2 WHERE id = $1"),
            (credit, "UPDATE accounts SET credits_pending = credits_pending - $2, credits_posted = credits_posted + $2 WHERE id = $1"),
            amount,
        )
        .await
    } else {
        in_id_order(
            c,
            (
                debit,
                "UPDATE accounts SET debits_pending = debits_pending - $2 WHERE id = $1",
            ),
            (
                credit,
                "UPDATE accounts SET credits_pending = credits_pending - $2 WHERE id = $1",
            ),
            amount,
        )
        .await
    }
}

async fn place(c: &impl GenericClient, tr_id: i64, resolve_at: i64) -> TxResult<Placed> {
    // Lock the quote first: placements of one quote, from any instance, queue here, and each
    // one after the first sees (a new statement, a new snapshot) the payment it committed.
    let quote = super::quotes::get_quote(c, tr_id, true)
        .await?
        .ok_or(StoreError::NotFound("quote"))?;
    if let Some(existing) = payment_where(c, "tr_id = $1", &[&tr_id]).await? {
        return Ok(Placed::Existing(existing));
    }
    let now = loket_core::jakarta::now();
    // isikuota's testing payments charge nothing (spec/sandbox.md): the house pays them from the
    // sandbox's external account, so the ledger still balances.
    let member = if quote.protocol == Protocol::Isikuota && quote.mode == Mode::Sandbox {
        account_id(c, external_code(Side::Sandbox)).await?
    } else {
        member_account(c, quote.member_id, quote.mode).await?
    };
    let upstream = upstream_account(c, &quote.biller).await?;
    let reference = quote.tr_id.to_string();
    let hold_id = hold(
        c,
        member,
        upstream,
        quote.selling_price.get(),
        "payment",
        Some(&reference),
    )
    .await?;
    let after = account_balance(c, member).await?.available();
    let st = c
        .prepare_cached(&format!(
            "INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, balance_after, resolve_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
        ))
        .await?;
    let inserted = c
        .query_one(
            &st,
            &[
                &quote.tr_id,
                &quote.member_id,
                &quote.mode.as_str(),
                &quote.ref_id,
                &Rc::Pending.code(),
                &quote.selling_price.get(),
                &hold_id,
                &after.get(),
                &resolve_at,
                &now,
            ],
        )
        .await
        .map_err(Fail::from);
    match inserted {
        // The transaction, hold included, rolls back with this error.
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("payment").into()),
        Err(e) => Err(e),
        Ok(r) => Ok(Placed::New(row_to_payment(&r)?)),
    }
}

async fn settle(
    c: &impl GenericClient,
    payment_id: i64,
    outcome: &Settlement,
    by: &Option<String>,
) -> TxResult<Payment> {
    // The row lock makes the state check and the settlement one step: a concurrent settlement
    // (another instance's resolver, an operator) waits, then sees the new state.
    let p = payment_where(c, "id = $1 FOR UPDATE", &[&payment_id])
        .await?
        .ok_or(StoreError::NotFound("payment"))?;
    if p.state != PaymentState::Pending {
        return Ok(p);
    }
    let now = loket_core::jakarta::now();
    match outcome {
        Settlement::Success { noref, cost } => {
            resolve_hold(c, p.hold_id, true).await?;
            let st = c
                .prepare_cached(
                    "SELECT t.credit_account, q.mode FROM transfers t JOIN payments p ON p.hold_id = t.id JOIN quotes q ON q.tr_id = p.tr_id WHERE t.id = $1",
                )
                .await?;
            let r = c.query_one(&st, &[&p.hold_id]).await?;
            let upstream: i64 = r.try_get(0)?;
            let biller_side: String = r.try_get(1)?;
            let side = Mode::parse(&biller_side).unwrap_or(Mode::Sandbox);
            let revenue = account_id(c, revenue_code(side)).await?;
            // The upstream keeps its cost; the rest of the member's charge is revenue.
            let margin = p.amount.get() - cost.get();
            let reference = p.tr_id.to_string();
            if margin > 0 {
                super::transfer(c, upstream, revenue, margin, "revenue", Some(&reference)).await?;
            } else if margin < 0 {
                super::transfer(c, revenue, upstream, -margin, "revenue", Some(&reference)).await?;
            }
            let st = c
                .prepare_cached(
                    "UPDATE payments SET state = 'success', rc = '00', noref = $2, resolved_by = $3, resolve_at = NULL, updated_at = $4 WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&p.id, noref, by, &now]).await?;
        }
        Settlement::Failed(rc) => {
            resolve_hold(c, p.hold_id, false).await?;
            let st = c
                .prepare_cached(
                    "UPDATE payments SET state = 'failed', rc = $2, noref = '', resolved_by = $3, resolve_at = NULL, updated_at = $4 WHERE id = $1",
                )
                .await?;
            c.execute(&st, &[&p.id, &rc.code(), by, &now]).await?;
        }
    }
    let settled = payment_where(c, "id = $1", &[&p.id])
        .await?
        .ok_or(StoreError::NotFound("payment"))?;
    enqueue_webhook(c, &settled, by.is_some(), now).await?;
    Ok(settled)
}

impl PostgresStore {
    /// Hold the quote's `selling_price` and record the payment, atomically; or answer the payment
    /// the quote already has. `resolve_at`: when the resolver should look at it if still pending.
    pub async fn place_payment(&self, tr_id: i64, resolve_at: i64) -> Result<Placed> {
        transaction!(self, |tx| place(&tx, tr_id, resolve_at).await?)
    }

    /// Place a payment and settle it with `outcome` in one transaction, for billers whose outcome
    /// is known without calling anyone (the built-in sandbox): [`Self::place_payment`] then
    /// [`Self::settle_payment`]'s steps, one commit. An existing payment is answered as it is.
    pub async fn place_and_settle(
        &self,
        tr_id: i64,
        resolve_at: i64,
        outcome: Settlement,
    ) -> Result<Placed> {
        transaction!(self, |tx| match place(&tx, tr_id, resolve_at).await? {
            Placed::New(p) => Placed::New(settle(&tx, p.id, &outcome, &None).await?),
            existing => existing,
        })
    }

    /// Settle a pending payment: post (with the revenue split) or void its hold, and record the
    /// outcome, in one transaction. A payment that is no longer pending is answered as it is.
    pub async fn settle_payment(
        &self,
        payment_id: i64,
        outcome: Settlement,
        by: Option<String>,
    ) -> Result<Payment> {
        transaction!(self, |tx| settle(&tx, payment_id, &outcome, &by).await?)
    }

    /// Record the RC a pending payment answers (39, 05, 201) and when to look at it next.
    pub async fn mark_pending(
        &self,
        payment_id: i64,
        rc: Rc,
        resolve_at: Option<i64>,
    ) -> Result<Payment> {
        transaction!(self, |tx| {
            let st = tx
                .prepare_cached(
                    "UPDATE payments SET rc = $2, resolve_at = $3, attempts = attempts + 1, updated_at = $4 WHERE id = $1 AND state = 'pending'",
                )
                .await?;
            tx.execute(
                &st,
                &[
                    &payment_id,
                    &rc.code(),
                    &resolve_at,
                    &loket_core::jakarta::now(),
                ],
            )
            .await?;
            payment_where(&tx, "id = $1", &[&payment_id])
                .await?
                .ok_or(StoreError::NotFound("payment"))?
        })
    }

    pub async fn payment_by_tr_id(&self, tr_id: i64) -> Result<Option<Payment>> {
        let c = self.client().await?;
        Ok(payment_where(&c, "tr_id = $1", &[&tr_id]).await?)
    }

    pub async fn payment_by_ref(
        &self,
        member_id: i64,
        mode: Mode,
        ref_id: String,
    ) -> Result<Option<Payment>> {
        let c = self.client().await?;
        Ok(payment_where(
            &c,
            "member_id = $1 AND mode = $2 AND ref_id = $3",
            &[&member_id, &mode.as_str(), &ref_id],
        )
        .await?)
    }

    /// Claim pending payments whose `resolve_at` has come, oldest first: their `resolve_at` moves
    /// `lease_secs` ahead, so no other worker takes them meanwhile, and a worker that dies leaves
    /// them to be claimed again after the lease. `SKIP LOCKED`: instances claiming at the same
    /// moment split the due payments between them instead of waiting or taking the same ones.
    pub async fn claim_due_payments(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<Payment>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "WITH due AS MATERIALIZED (SELECT id AS due_id FROM payments WHERE state = 'pending' AND resolve_at IS NOT NULL AND resolve_at <= $1 ORDER BY resolve_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE payments SET resolve_at = $2 FROM due WHERE id = due.due_id RETURNING {COLUMNS}"
        );
        transaction!(self, |tx| {
            let st = tx.prepare_cached(&sql).await?;
            let rows = tx
                .query(&st, &[&now, &now.saturating_add(lease_secs), &limit])
                .await?;
            rows_to_payments(rows)?
        })
    }

    /// Pending payments with this ref_id, across members (for `loket sandbox resolve`).
    pub async fn pending_by_ref(&self, ref_id: String) -> Result<Vec<Payment>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments WHERE state = 'pending' AND ref_id = $1 ORDER BY id"
            ))
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[&ref_id]).await.map_err(pg_err)?;
        Ok(rows_to_payments(rows)?)
    }

    /// Pending payments, oldest first (`loket pending list`).
    pub async fn pending_payments(&self, limit: usize) -> Result<Vec<Payment>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM payments WHERE state = 'pending' ORDER BY created_at, id LIMIT $1"
            ))
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[&limit]).await.map_err(pg_err)?;
        Ok(rows_to_payments(rows)?)
    }

    /// Flag a pending payment for the operator; a payment no longer pending is left alone.
    pub async fn flag_payment(&self, payment_id: i64) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE payments SET flagged = TRUE WHERE id = $1 AND state = 'pending'",
            )
            .await
            .map_err(pg_err)?;
        c.execute(&st, &[&payment_id]).await.map_err(pg_err)?;
        Ok(())
    }

    pub async fn withdraw(
        &self,
        member_id: i64,
        side: Side,
        amount: Rupiah,
    ) -> Result<loket_core::Balance> {
        if amount.get() <= 0 {
            return Err(StoreError::Invalid("a withdrawal must be positive".into()));
        }
        transaction!(self, |tx| {
            let account = member_account(&tx, member_id, side).await?;
            let external = account_id(&tx, external_code(side)).await?;
            // The CHECK on accounts refuses an overdraft: InsufficientBalance, nothing moved.
            super::transfer(&tx, account, external, amount.get(), "withdrawal", None).await?;
            account_balance(&tx, account).await?
        })
    }

    /// A bare hold on a member's balance towards an upstream (ledger tests and tools).
    pub async fn hold(
        &self,
        member_id: i64,
        side: Side,
        biller: String,
        amount: Rupiah,
    ) -> Result<i64> {
        transaction!(self, |tx| {
            let member = member_account(&tx, member_id, side).await?;
            let upstream = upstream_account(&tx, &biller).await?;
            hold(&tx, member, upstream, amount.get(), "hold", None).await?
        })
    }

    /// Post (`true`) or void a bare hold.
    pub async fn resolve_hold(&self, hold_id: i64, post: bool) -> Result<()> {
        transaction!(self, |tx| resolve_hold(&tx, hold_id, post).await?)
    }
}

/// Put the member's webhook for a settled payment in the outbox, in the settling transaction:
/// when the payment was settled after its answer (`after_answer`: by the resolver, an operator or
/// an upstream's callback), or on every final state when the member asked for that.
async fn enqueue_webhook(
    c: &impl GenericClient,
    p: &Payment,
    after_answer: bool,
    now: i64,
) -> TxResult<()> {
    let st = c
        .prepare_cached("SELECT webhook_url, webhook_all FROM members WHERE id = $1")
        .await?;
    let r = c.query_one(&st, &[&p.member_id]).await?;
    let url: Option<String> = r.try_get(0)?;
    let all: bool = r.try_get(1)?;
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    if !(after_answer || all) {
        return Ok(());
    }
    let quote = super::quotes::get_quote(c, p.tr_id, false)
        .await?
        .ok_or(StoreError::NotFound("quote"))?;
    let st = c
        .prepare_cached("SELECT name FROM products WHERE code = $1")
        .await?;
    let product_name: String = match c.query_opt(&st, &[&quote.code]).await? {
        Some(r) => r.try_get(0)?,
        None => quote.code.clone(),
    };
    let Some((event, body)) = loket_core::webhook::order_event(&quote, p, &product_name, now)
    else {
        return Ok(());
    };
    let st = c
        .prepare_cached(
            "INSERT INTO webhooks (member_id, payment_id, event, url, body, state, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6) ON CONFLICT (payment_id, event) DO NOTHING",
        )
        .await?;
    c.execute(&st, &[&p.member_id, &p.id, &event, &url, &body, &now])
        .await?;
    Ok(())
}
