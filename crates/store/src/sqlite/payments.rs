//! Payments on the ledger: the hold and the payment row in one transaction; the outcome and the
//! post/void in another; each hold resolved at most once.

use super::{
    account_balance, account_id, check_err, db_err, exec, is_unique_violation, member_account,
    query_row, SqliteStore,
};
use crate::ledger::Side;
use crate::{Placed, Result, StoreError};
use loket_core::{Mode, Payment, PaymentState, Protocol, Quote, Rc, Rupiah, Settlement};
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "id, tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after, resolve_at, attempts, flagged, resolved_by, created_at, updated_at";

fn row_to_payment(r: &Row<'_>) -> rusqlite::Result<Payment> {
    let mode: String = r.get(3)?;
    let state: String = r.get(5)?;
    let rc: String = r.get(6)?;
    Ok(Payment {
        id: r.get(0)?,
        tr_id: r.get(1)?,
        member_id: r.get(2)?,
        mode: Mode::parse(&mode).unwrap_or(Mode::Sandbox),
        ref_id: r.get(4)?,
        state: PaymentState::parse(&state).unwrap_or(PaymentState::Pending),
        rc: Rc::from_code(&rc).unwrap_or(Rc::UndefinedResponseCode),
        amount: Rupiah::new(r.get(7)?),
        hold_id: r.get(8)?,
        noref: r.get(9)?,
        balance_after: Rupiah::new(r.get::<_, Option<i64>>(10)?.unwrap_or(0)),
        resolve_at: r.get(11)?,
        attempts: r.get(12)?,
        flagged: r.get(13)?,
        resolved_by: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

fn payment_where(
    c: &Connection,
    clause: &str,
    p: impl rusqlite::Params,
) -> Result<Option<Payment>> {
    query_row(
        c,
        &format!("SELECT {COLUMNS} FROM payments WHERE {clause}"),
        p,
        row_to_payment,
    )
    .optional()
    .map_err(db_err)
}

pub(crate) fn upstream_code(biller: &str) -> String {
    format!("upstream:{biller}")
}

fn revenue_code(side: Side) -> &'static str {
    match side {
        Side::Live => "revenue",
        Side::Sandbox => "sandbox:revenue",
    }
}

/// An upstream's account, created on first use.
fn upstream_account(c: &Connection, biller: &str) -> Result<i64> {
    let code = upstream_code(biller);
    if let Some(id) = super::known_account(&code) {
        return Ok(id);
    }
    let created = exec(
        c,
        "INSERT OR IGNORE INTO accounts (code, kind) VALUES (?1, 'upstream')",
        [&code],
    )
    .map_err(db_err)?;
    let id = account_id(c, &code)?;
    if created == 0 {
        // It existed before this transaction: no rollback can take it away.
        super::remember_account(code, id);
    }
    Ok(id)
}

/// Place a hold of `amount` from `debit` to `credit` if `debit`'s available balance covers it.
pub(crate) fn hold(
    c: &Connection,
    debit: i64,
    credit: i64,
    amount: i64,
    reason: &str,
    reference: Option<&str>,
) -> Result<i64> {
    if amount <= 0 {
        return Err(StoreError::Invalid("a hold must be positive".into()));
    }
    // The balance check and the hold are one statement: nothing can spend in between.
    let n = exec(c,
            "UPDATE accounts SET debits_pending = debits_pending + ?2
             WHERE id = ?1 AND (kind NOT IN ('member_live', 'member_sandbox') OR credits_posted - debits_posted - debits_pending >= ?2)",
            params![debit, amount],
        )
        .map_err(check_err)?;
    if n == 0 {
        return Err(StoreError::InsufficientBalance);
    }
    exec(
        c,
        "UPDATE accounts SET credits_pending = credits_pending + ?2 WHERE id = ?1",
        params![credit, amount],
    )
    .map_err(db_err)?;
    exec(c,
        "INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
        params![debit, credit, amount, reason, reference, loket_core::jakarta::now()],
    )
    .map_err(db_err)?;
    Ok(c.last_insert_rowid())
}

/// Post or void the hold `hold_id`. [`StoreError::Duplicate`] when it was already resolved.
pub(crate) fn resolve_hold(c: &Connection, hold_id: i64, post: bool) -> Result<()> {
    let (debit, credit, amount, reason): (i64, i64, i64, String) = query_row(c,
            "SELECT debit_account, credit_account, amount, reason FROM transfers WHERE id = ?1 AND kind = 'pending'",
            [hold_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(db_err)?
        .ok_or(StoreError::NotFound("hold"))?;
    let kind = if post { "post" } else { "void" };
    // pending_id is UNIQUE: a second resolution of the same hold fails here, before any balance moves.
    let inserted = exec(c,
        "INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![debit, credit, amount, kind, hold_id, reason, loket_core::jakarta::now()],
    );
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("hold resolution")),
        Err(e) => return Err(db_err(e)),
        Ok(_) => {}
    }
    let (d_sql, c_sql) = if post {
        (
            "UPDATE accounts SET debits_pending = debits_pending - ?2, debits_posted = debits_posted + ?2 WHERE id = ?1",
            "UPDATE accounts SET credits_pending = credits_pending - ?2, credits_posted = credits_posted + ?2 WHERE id = ?1",
        )
    } else {
        (
            "UPDATE accounts SET debits_pending = debits_pending - ?2 WHERE id = ?1",
            "UPDATE accounts SET credits_pending = credits_pending - ?2 WHERE id = ?1",
        )
    };
    exec(c, d_sql, params![debit, amount]).map_err(check_err)?;
    exec(c, c_sql, params![credit, amount]).map_err(check_err)?;
    Ok(())
}

impl SqliteStore {
    /// Hold the quote's `selling_price` and record the payment, atomically; or answer the payment
    /// the quote already has. `resolve_at`: when the resolver should look at it if still pending.
    pub async fn place_payment(&self, tr_id: i64, resolve_at: i64) -> Result<Placed> {
        self.write(move |c| place(c, tr_id, resolve_at)).await
    }

    /// Place a payment and settle it with `outcome` in one transaction, for billers whose outcome
    /// is known without calling anyone (the built-in sandbox): the same atomic steps as
    /// [`Self::place_payment`] then [`Self::settle_payment`], one commit instead of two.
    pub async fn place_and_settle(
        &self,
        tr_id: i64,
        resolve_at: i64,
        outcome: Settlement,
    ) -> Result<Placed> {
        self.write(move |c| {
            if let Settlement::Success { noref, cost } = &outcome {
                if let Some(placed) = place_and_post(c, tr_id, noref, cost.get())? {
                    return Ok(placed);
                }
            }
            match place(c, tr_id, resolve_at)? {
                Placed::New(p) => settle(c, p.id, outcome, None).map(Placed::New),
                existing => Ok(existing),
            }
        })
        .await
    }

    /// Settle a pending payment: post (with the revenue split) or void its hold, and record the
    /// outcome, in one transaction. A payment that is no longer pending is answered as it is.
    pub async fn settle_payment(
        &self,
        payment_id: i64,
        outcome: Settlement,
        by: Option<String>,
    ) -> Result<Payment> {
        self.write(move |c| settle(c, payment_id, outcome, by))
            .await
    }
}

/// A member-funded payment whose outcome is success, placed and posted in the fewest statements
/// (the sandbox's hot path, docs/performance.md): the same journal rows and cached sums as
/// [`place`] then [`settle`] (a pending transfer, its post, the revenue transfer; the payment row
/// in its final state), with the member's balance check and charge in one conditional UPDATE.
/// `None`: not this path's case (house-funded testing payments): use the general one.
fn place_and_post(c: &Connection, tr_id: i64, noref: &str, cost: i64) -> Result<Option<Placed>> {
    if let Some(existing) = payment_where(c, "tr_id = ?1", [tr_id])? {
        return Ok(Some(Placed::Existing(existing)));
    }
    // The stored quote, not a caller's copy, decides what is charged.
    let quote = query_row(
        c,
        "SELECT member_id, mode, protocol, ref_id, selling_price, biller FROM quotes WHERE tr_id = ?1",
        [tr_id],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        },
    )
    .optional()
    .map_err(db_err)?;
    let Some((member_id, mode, protocol, ref_id, amount, biller)) = quote else {
        return Err(StoreError::NotFound("quote"));
    };
    let mode = Mode::parse(&mode).unwrap_or(Mode::Sandbox);
    if Protocol::parse(&protocol) == Some(Protocol::Isikuota) && mode == Mode::Sandbox {
        return Ok(None);
    }
    let column = super::member_account_column(mode);
    let (member, webhook_url, webhook_all): (i64, Option<String>, bool) = query_row(
        c,
        &format!("SELECT {column}, webhook_url, webhook_all FROM members WHERE id = ?1"),
        [member_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .map_err(super::member_read_err)?;
    let upstream = upstream_account(c, &biller)?;
    let revenue = super::cached_account_id(c, revenue_code(mode))?;
    let now = loket_core::jakarta::now();
    // The hold's check and the member's charge: one statement, nothing can spend in between.
    // (Not `RETURNING`: SQLite builds a temporary table for it, dearer than a second read.)
    let charged = exec(
        c,
        "UPDATE accounts SET debits_posted = debits_posted + ?2 WHERE id = ?1 AND credits_posted - debits_posted - debits_pending >= ?2",
        params![member, amount],
    )
    .map_err(check_err)?;
    if charged == 0 {
        return Err(StoreError::InsufficientBalance);
    }
    let available = account_balance(c, member)?.available().get();
    // The upstream keeps its cost; the rest of the member's charge is revenue (or the loss).
    let margin = amount - cost;
    let (gain, loss) = (margin.max(0), (-margin).max(0));
    add_posted(c, upstream, amount + loss, gain)?;
    let reference = tr_id.to_string();
    exec(c,
        "INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at) VALUES (?1, ?2, ?3, 'pending', 'payment', ?4, ?5)",
        params![member, upstream, amount, reference, now],
    )
    .map_err(db_err)?;
    let hold_id = c.last_insert_rowid();
    exec(c,
        "INSERT INTO transfers (debit_account, credit_account, amount, kind, pending_id, reason, created_at) VALUES (?1, ?2, ?3, 'post', ?4, 'payment', ?5)",
        params![member, upstream, amount, hold_id, now],
    )
    .map_err(db_err)?;
    if margin != 0 {
        add_posted(c, revenue, gain, loss)?;
        let (debit, credit) = if margin > 0 {
            (upstream, revenue)
        } else {
            (revenue, upstream)
        };
        exec(c,
            "INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at) VALUES (?1, ?2, ?3, 'single', 'revenue', ?4, ?5)",
            params![debit, credit, margin.abs(), reference, now],
        )
        .map_err(db_err)?;
    }
    let inserted = exec(c,
        "INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, noref, balance_after, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'success', ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![tr_id, member_id, mode.as_str(), ref_id, Rc::Success.code(), amount, hold_id, noref, available, now],
    );
    match inserted {
        // The savepoint rolls the charge back with this error.
        Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("payment")),
        Err(e) => return Err(db_err(e)),
        Ok(_) => {}
    }
    let payment = Payment {
        id: c.last_insert_rowid(),
        tr_id,
        member_id,
        mode,
        ref_id,
        state: PaymentState::Success,
        rc: Rc::Success,
        amount: Rupiah::new(amount),
        hold_id,
        noref: noref.to_string(),
        balance_after: Rupiah::new(available),
        resolve_at: None,
        attempts: 0,
        flagged: false,
        resolved_by: None,
        created_at: now,
        updated_at: now,
    };
    if webhook_all && webhook_url.is_some_and(|u| !u.is_empty()) {
        enqueue_webhook(c, &payment, false, now)?;
    }
    Ok(Some(Placed::New(payment)))
}

/// Add `credits` and `debits` to `account`'s posted sums.
fn add_posted(c: &Connection, account: i64, credits: i64, debits: i64) -> Result<()> {
    exec(
        c,
        "UPDATE accounts SET credits_posted = credits_posted + ?2, debits_posted = debits_posted + ?3 WHERE id = ?1",
        params![account, credits, debits],
    )
    .map(|_| ())
    .map_err(check_err)
}

/// See [`SqliteStore::place_payment`].
fn place(c: &Connection, tr_id: i64, resolve_at: i64) -> Result<Placed> {
    if let Some(existing) = payment_where(c, "tr_id = ?1", [tr_id])? {
        return Ok(Placed::Existing(existing));
    }
    // The stored quote, not a caller's copy, decides what is held.
    let quote: Quote = super::quotes::get_quote(c, tr_id)?.ok_or(StoreError::NotFound("quote"))?;
    let now = loket_core::jakarta::now();
    // isikuota's testing payments charge nothing (spec/sandbox.md): the house pays them
    // from the sandbox's external account, so the ledger still balances.
    let member = if quote.protocol == Protocol::Isikuota && quote.mode == Mode::Sandbox {
        account_id(c, super::external_code(Side::Sandbox))?
    } else {
        member_account(c, quote.member_id, quote.mode)?
    };
    let upstream = upstream_account(c, &quote.biller)?;
    let reference = quote.tr_id.to_string();
    let hold_id = hold(
        c,
        member,
        upstream,
        quote.selling_price.get(),
        "payment",
        Some(&reference),
    )?;
    let after = account_balance(c, member)?.available();
    let inserted = exec(c,
        "INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, hold_id, balance_after, resolve_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![quote.tr_id, quote.member_id, quote.mode.as_str(), quote.ref_id, Rc::Pending.code(), quote.selling_price.get(), hold_id, after.get(), resolve_at, now],
    );
    match inserted {
        // The savepoint rolls the hold back with this error.
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("payment")),
        Err(e) => Err(db_err(e)),
        Ok(_) => payment_where(c, "id = ?1", [c.last_insert_rowid()])?
            .map(Placed::New)
            .ok_or(StoreError::NotFound("payment")),
    }
}

/// See [`SqliteStore::settle_payment`].
fn settle(
    c: &Connection,
    payment_id: i64,
    outcome: Settlement,
    by: Option<String>,
) -> Result<Payment> {
    let p = payment_where(c, "id = ?1", [payment_id])?.ok_or(StoreError::NotFound("payment"))?;
    if p.state != PaymentState::Pending {
        return Ok(p);
    }
    let now = loket_core::jakarta::now();
    match outcome {
        Settlement::Success { noref, cost } => {
            resolve_hold(c, p.hold_id, true)?;
            let (upstream, biller_side): (i64, String) = query_row(c,
                    "SELECT t.credit_account, q.mode FROM transfers t JOIN payments p ON p.hold_id = t.id JOIN quotes q ON q.tr_id = p.tr_id WHERE t.id = ?1",
                    [p.hold_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_err)?;
            let side = Mode::parse(&biller_side).unwrap_or(Mode::Sandbox);
            let revenue = account_id(c, revenue_code(side))?;
            // The upstream keeps its cost; the rest of the member's charge is revenue.
            let margin = p.amount.get() - cost.get();
            if margin > 0 {
                super::transfer(
                    c,
                    upstream,
                    revenue,
                    margin,
                    "revenue",
                    Some(&p.tr_id.to_string()),
                )?;
            } else if margin < 0 {
                super::transfer(
                    c,
                    revenue,
                    upstream,
                    -margin,
                    "revenue",
                    Some(&p.tr_id.to_string()),
                )?;
            }
            exec(c,
                "UPDATE payments SET state = 'success', rc = '00', noref = ?2, resolved_by = ?3, resolve_at = NULL, updated_at = ?4 WHERE id = ?1",
                params![p.id, noref, by, now],
            )
            .map_err(db_err)?;
        }
        Settlement::Failed(rc) => {
            resolve_hold(c, p.hold_id, false)?;
            exec(c,
                "UPDATE payments SET state = 'failed', rc = ?2, noref = '', resolved_by = ?3, resolve_at = NULL, updated_at = ?4 WHERE id = ?1",
                params![p.id, rc.code(), by, now],
            )
            .map_err(db_err)?;
        }
    }
    let settled = payment_where(c, "id = ?1", [p.id])?.ok_or(StoreError::NotFound("payment"))?;
    enqueue_webhook(c, &settled, by.is_some(), now)?;
    Ok(settled)
}

impl SqliteStore {
    /// Record the RC a pending payment answers (39, 05, 201) and when to look at it next.
    pub async fn mark_pending(
        &self,
        payment_id: i64,
        rc: Rc,
        resolve_at: Option<i64>,
    ) -> Result<Payment> {
        self.write(move |c| {
            exec(c,
                "UPDATE payments SET rc = ?2, resolve_at = ?3, attempts = attempts + 1, updated_at = ?4 WHERE id = ?1 AND state = 'pending'",
                params![payment_id, rc.code(), resolve_at, loket_core::jakarta::now()],
            )
            .map_err(db_err)?;
            payment_where(c, "id = ?1", [payment_id])?.ok_or(StoreError::NotFound("payment"))
        })
        .await
    }

    pub async fn payment_by_tr_id(&self, tr_id: i64) -> Result<Option<Payment>> {
        self.lookup(move |c| payment_where(c, "tr_id = ?1", [tr_id]))
    }

    pub async fn payment_by_ref(
        &self,
        member_id: i64,
        mode: Mode,
        ref_id: String,
    ) -> Result<Option<Payment>> {
        self.lookup(move |c| {
            payment_where(
                c,
                "member_id = ?1 AND mode = ?2 AND ref_id = ?3",
                params![member_id, mode.as_str(), ref_id],
            )
        })
    }

    /// Claim pending payments whose `resolve_at` has come, oldest first: their `resolve_at` moves
    /// `lease_secs` ahead, so no other worker takes them meanwhile, and a worker that dies leaves
    /// them to be claimed again after the lease.
    pub async fn claim_due_payments(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<Payment>> {
        self.write(move |c| {
            let mut st = c.prepare_cached(&format!(
                    "UPDATE payments SET resolve_at = ?2 WHERE id IN (SELECT id FROM payments WHERE state = 'pending' AND resolve_at IS NOT NULL AND resolve_at <= ?1 ORDER BY resolve_at LIMIT ?3) RETURNING {COLUMNS}"
                ))
                .map_err(db_err)?;
            let rows = st.query_map(params![now, now + lease_secs, limit as i64], row_to_payment).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    /// Pending payments with this ref_id, across members (for `loket sandbox resolve`).
    pub async fn pending_by_ref(&self, ref_id: String) -> Result<Vec<Payment>> {
        self.read(move |c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM payments WHERE state = 'pending' AND ref_id = ?1"
                ))
                .map_err(db_err)?;
            let rows = st.query_map([ref_id], row_to_payment).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    pub async fn pending_payments(&self, limit: usize) -> Result<Vec<Payment>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!("SELECT {COLUMNS} FROM payments WHERE state = 'pending' ORDER BY created_at, id LIMIT ?1"))
                .map_err(db_err)?;
            let rows = st.query_map([limit as i64], row_to_payment).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    pub async fn flag_payment(&self, payment_id: i64) -> Result<()> {
        self.write(move |c| {
            exec(
                c,
                "UPDATE payments SET flagged = 1 WHERE id = ?1 AND state = 'pending'",
                [payment_id],
            )
            .map(|_| ())
            .map_err(db_err)
        })
        .await
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
        self.write(move |c| {
            let account = member_account(c, member_id, side)?;
            let external = account_id(c, super::external_code(side))?;
            // The CHECK on accounts refuses an overdraft: InsufficientBalance, nothing moved.
            super::transfer(c, account, external, amount.get(), "withdrawal", None)?;
            account_balance(c, account)
        })
        .await
    }

    /// A bare hold on a member's balance towards an upstream (ledger tests and tools).
    pub async fn hold(
        &self,
        member_id: i64,
        side: Side,
        biller: String,
        amount: Rupiah,
    ) -> Result<i64> {
        self.write(move |c| {
            let member = member_account(c, member_id, side)?;
            let upstream = upstream_account(c, &biller)?;
            hold(c, member, upstream, amount.get(), "hold", None)
        })
        .await
    }

    /// Post (`true`) or void a bare hold.
    pub async fn resolve_hold(&self, hold_id: i64, post: bool) -> Result<()> {
        self.write(move |c| resolve_hold(c, hold_id, post)).await
    }
}

/// Put the member's webhook for a settled payment in the outbox, in the settling transaction:
/// when the payment was settled after its answer (`after_answer`: by the resolver, an operator or
/// an upstream's callback), or on every final state when the member asked for that.
fn enqueue_webhook(c: &Connection, p: &Payment, after_answer: bool, now: i64) -> Result<()> {
    let (url, all): (Option<String>, bool) = query_row(
        c,
        "SELECT webhook_url, webhook_all FROM members WHERE id = ?1",
        [p.member_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(db_err)?;
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    if !(after_answer || all) {
        return Ok(());
    }
    let quote = super::quotes::get_quote(c, p.tr_id)?.ok_or(StoreError::NotFound("quote"))?;
    let product_name: String = query_row(
        c,
        "SELECT name FROM products WHERE code = ?1",
        [&quote.code],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)?
    .unwrap_or_else(|| quote.code.clone());
    let Some((event, body)) = loket_core::webhook::order_event(&quote, p, &product_name, now)
    else {
        return Ok(());
    };
    exec(c,
        "INSERT OR IGNORE INTO webhooks (member_id, payment_id, event, url, body, state, next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
        params![p.member_id, p.id, event, url, body, now],
    )
    .map_err(db_err)?;
    Ok(())
}
