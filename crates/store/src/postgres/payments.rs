//! Payments on the ledger: the hold and the payment row in one transaction; the outcome and the
//! post/void in another (or both in one, for the sandbox); each hold resolved at most once. The
//! steps are the ledger functions of the schema (`migrations/postgres/0001_init.sql`), one
//! statement each; see there and `mod.rs` for why READ COMMITTED suffices: every check is a
//! conditional statement, a constraint or a row lock.

use super::{
    account_balance, account_id, autocommit, external_code, is_unique_violation, member_account,
    pg_err, sqlstate, transaction, Fail, PostgresStore, TxResult,
};
use crate::ledger::Side;
use crate::{Placed, Result, StoreError};
use deadpool_postgres::GenericClient;
use loket_core::{Mode, Payment, PaymentState, Rc, Rupiah, Settlement};
use std::sync::LazyLock;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

const COLUMNS: &str = "id, tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after, resolve_at, attempts, flagged, resolved_by, created_at, updated_at";

fn row_to_payment(r: &Row) -> std::result::Result<Payment, tokio_postgres::Error> {
    row_to_payment_at(r, 0)
}

/// The payment in [`COLUMNS`] order from column `at` on.
pub(crate) fn row_to_payment_at(
    r: &Row,
    at: usize,
) -> std::result::Result<Payment, tokio_postgres::Error> {
    let mode: String = r.try_get(at + 3)?;
    let state: String = r.try_get(at + 5)?;
    let rc: String = r.try_get(at + 6)?;
    Ok(Payment {
        id: r.try_get(at)?,
        tr_id: r.try_get(at + 1)?,
        member_id: r.try_get(at + 2)?,
        mode: Mode::parse(&mode).unwrap_or(Mode::Sandbox),
        ref_id: r.try_get(at + 4)?,
        state: PaymentState::parse(&state).unwrap_or(PaymentState::Pending),
        rc: Rc::from_code(&rc).unwrap_or(Rc::UndefinedResponseCode),
        amount: Rupiah::new(r.try_get(at + 7)?),
        hold_id: r.try_get(at + 8)?,
        noref: r.try_get(at + 9)?,
        balance_after: Rupiah::new(r.try_get::<_, Option<i64>>(at + 10)?.unwrap_or(0)),
        resolve_at: r.try_get(at + 11)?,
        attempts: r.try_get(at + 12)?,
        flagged: r.try_get(at + 13)?,
        resolved_by: r.try_get(at + 14)?,
        created_at: r.try_get(at + 15)?,
        updated_at: r.try_get(at + 16)?,
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

/// The payment in a ledger function's `o_payment`, as [`COLUMNS`] lists it.
pub(crate) static O_PAYMENT: LazyLock<String> =
    LazyLock::new(|| super::each_column(COLUMNS, |c| format!("(o_payment).{c}")));

/// The arguments of the ledger functions that settle: success, noref, cost, rc.
pub(crate) fn outcome_args(outcome: &Settlement) -> (bool, &str, i64, &'static str) {
    match outcome {
        Settlement::Success { noref, cost } => {
            (true, noref.as_str(), cost.get(), Rc::Success.code())
        }
        Settlement::Failed(rc) => (false, "", 0, rc.code()),
    }
}

/// A ledger function's answer: its status, where a due webhook goes, and the payment.
struct Answer {
    status: String,
    webhook_url: Option<String>,
    payment: Option<Payment>,
}

fn answer(r: &Row, webhook: bool) -> TxResult<Answer> {
    let status: String = r.try_get(0)?;
    let (webhook_url, at) = if webhook {
        (r.try_get::<_, Option<String>>(1)?, 2)
    } else {
        (None, 1)
    };
    // A function that found no payment answers NULL columns.
    let payment = match r.try_get::<_, Option<i64>>(at)? {
        Some(_) => Some(row_to_payment_at(r, at)?),
        None => None,
    };
    Ok(Answer {
        status,
        webhook_url,
        payment,
    })
}

/// What placing answered, as [`Placed`]; a unique violation is a concurrent placement of the same
/// quote (or ref_id) that committed first.
fn placed(a: Answer) -> TxResult<Placed> {
    match (a.status.as_str(), a.payment) {
        ("new", Some(p)) => Ok(Placed::New(p)),
        ("existing", Some(p)) => Ok(Placed::Existing(p)),
        ("no_quote", _) => Err(StoreError::NotFound("quote").into()),
        (other, _) => Err(StoreError::Database(format!("loket_place answered {other}")).into()),
    }
}

fn duplicate_payment(e: Fail) -> Fail {
    if is_unique_violation(&e) {
        StoreError::Duplicate("payment").into()
    } else {
        e
    }
}

/// `loket_place` in the caller's transaction (or as a statement of its own).
async fn place(c: &impl GenericClient, tr_id: i64, resolve_at: i64) -> TxResult<Placed> {
    let st = c
        .prepare_cached(&format!(
            "SELECT o_status, {} FROM loket_place($1, $2, $3, $4)",
            *O_PAYMENT
        ))
        .await?;
    let r = c
        .query_one(
            &st,
            &[
                &tr_id,
                &resolve_at,
                &Rc::Pending.code(),
                &loket_core::jakarta::now(),
            ],
        )
        .await
        .map_err(|e| duplicate_payment(e.into()))?;
    placed(answer(&r, false)?)
}

/// `loket_settle` and, when the member's webhook is due, the webhook, in the caller's transaction.
async fn settle(
    c: &impl GenericClient,
    payment_id: i64,
    outcome: &Settlement,
    by: &Option<String>,
) -> TxResult<Payment> {
    let (success, noref, cost, rc) = outcome_args(outcome);
    let now = loket_core::jakarta::now();
    let st = c
        .prepare_cached(&format!(
            "SELECT o_status, o_webhook_url, {} FROM loket_settle($1, $2, $3, $4, $5, $6, $7)",
            *O_PAYMENT
        ))
        .await?;
    let r = c
        .query_one(&st, &[&payment_id, &success, &noref, &cost, &rc, by, &now])
        .await?;
    let a = answer(&r, true)?;
    let Some(p) = a.payment else {
        return Err(StoreError::NotFound("payment").into());
    };
    if let Some(url) = a.webhook_url {
        enqueue_webhook(c, &p, &url, now).await?;
    }
    Ok(p)
}

/// `loket_place_and_settle`; with `webhooks`, the member's due webhook too (the caller's
/// transaction), without, [`Fast::Webhook`] when one would be due (nothing written).
async fn place_and_settle(
    c: &impl GenericClient,
    tr_id: i64,
    resolve_at: i64,
    outcome: &Settlement,
    webhooks: bool,
) -> TxResult<Fast> {
    let (success, noref, cost, rc) = outcome_args(outcome);
    let now = loket_core::jakarta::now();
    let st = c
        .prepare_cached(&format!(
            "SELECT o_status, o_webhook_url, {} FROM loket_place_and_settle($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            *O_PAYMENT
        ))
        .await?;
    let r = c
        .query_one(
            &st,
            &[
                &tr_id,
                &resolve_at,
                &Rc::Pending.code(),
                &now,
                &success,
                &noref,
                &cost,
                &rc,
                &webhooks,
            ],
        )
        .await
        .map_err(|e| duplicate_payment(e.into()))?;
    let a = answer(&r, true)?;
    if a.status == "webhook" {
        return Ok(Fast::Webhook);
    }
    let url = a.webhook_url.clone();
    let placed = placed(a)?;
    if let (Placed::New(p), Some(url)) = (&placed, url) {
        enqueue_webhook(c, p, &url, now).await?;
    }
    Ok(Fast::Done(placed))
}

/// What [`place_and_settle`] did.
enum Fast {
    Done(Placed),
    /// The member's webhook would be due: run it again in a transaction, with webhooks.
    Webhook,
}

impl PostgresStore {
    /// Hold the quote's `selling_price` and record the payment, atomically; or answer the payment
    /// the quote already has. `resolve_at`: when the resolver should look at it if still pending.
    pub async fn place_payment(&self, tr_id: i64, resolve_at: i64) -> Result<Placed> {
        match autocommit!(self, |c| place(&c, tr_id, resolve_at).await?) {
            // A concurrent placement of this quote committed first (this one waited for it on
            // UNIQUE (tr_id), then rolled back): now it finds that payment.
            Err(StoreError::Duplicate(_)) => {
                autocommit!(self, |c| place(&c, tr_id, resolve_at).await?)
            }
            r => r,
        }
    }

    /// Place a payment and settle it with `outcome` in one transaction, for billers whose outcome
    /// is known without calling anyone (the built-in sandbox): [`Self::place_payment`] then
    /// [`Self::settle_payment`]'s steps, one commit, one statement unless the member's webhook is
    /// due. An existing payment is answered as it is.
    pub async fn place_and_settle(
        &self,
        tr_id: i64,
        resolve_at: i64,
        outcome: Settlement,
    ) -> Result<Placed> {
        let outcome = match &self.batches {
            Some(b) => {
                let job = ((tr_id, outcome), crate::config::unconfirmed());
                match b.sandbox_payments.run(job).await? {
                    ((_, expected), super::batch::Batched::Done(placed)) => {
                        if expected.is_some() {
                            crate::config::confirm();
                        }
                        return Ok(placed);
                    }
                    (((_, outcome), _), super::batch::Batched::Alone) => outcome,
                }
            }
            None => outcome,
        };
        // In one statement; in a transaction when the member's webhook is due (the ledger
        // function says so without writing anything), to write the webhook too.
        let mut webhooks = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = if webhooks {
                transaction!(self, |tx| {
                    place_and_settle(&tx, tr_id, resolve_at, &outcome, true).await?
                })
            } else {
                autocommit!(self, |c| {
                    place_and_settle(&c, tr_id, resolve_at, &outcome, false).await?
                })
            };
            match r {
                Ok(Fast::Done(placed)) => return Ok(placed),
                Ok(Fast::Webhook) if !webhooks => webhooks = true,
                // A concurrent placement of this quote committed first (this one waited for it
                // on UNIQUE (tr_id), then rolled back): run again, and find that payment.
                Err(StoreError::Duplicate(_)) if attempt < 3 => {}
                Ok(Fast::Webhook) => {
                    return Err(StoreError::Database(
                        "loket_place_and_settle refused to write a webhook".into(),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
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
        if amount.get() <= 0 {
            return Err(StoreError::Invalid("a hold must be positive".into()));
        }
        transaction!(self, |tx| {
            let member = member_account(&tx, member_id, side).await?;
            let st = tx
                .prepare_cached(
                    "SELECT loket_hold($1, loket_upstream_account($2), $3, 'hold', NULL, $4)",
                )
                .await?;
            tx.query_one(
                &st,
                &[&member, &biller, &amount.get(), &loket_core::jakarta::now()],
            )
            .await?
            .try_get::<_, i64>(0)?
        })
    }

    /// Post (`true`) or void a bare hold. [`StoreError::Duplicate`] when it was already resolved.
    pub async fn resolve_hold(&self, hold_id: i64, post: bool) -> Result<()> {
        autocommit!(self, |c| {
            let st = c
                .prepare_cached("SELECT loket_resolve_hold($1, $2, $3)")
                .await?;
            match c
                .execute(&st, &[&hold_id, &post, &loket_core::jakarta::now()])
                .await
                .map_err(Fail::from)
            {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Duplicate("hold resolution").into())
                }
                Err(Fail::Pg(e)) if sqlstate(&e) == Some(&SqlState::NO_DATA_FOUND) => {
                    return Err(StoreError::NotFound("hold").into())
                }
                r => {
                    r?;
                }
            }
        })
    }
}

/// Put the member's webhook for a settled payment in the outbox (the ledger function said it is
/// due, and where it goes), in the settling transaction.
async fn enqueue_webhook(c: &impl GenericClient, p: &Payment, url: &str, now: i64) -> TxResult<()> {
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
