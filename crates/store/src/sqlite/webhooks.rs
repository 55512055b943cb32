//! The webhook outbox.

use super::{db_err, exec, query_row, SqliteStore};
use crate::{Delivery, Result, StoreError, Webhook};
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str =
    "id, member_id, payment_id, event, url, body, state, attempts, next_attempt_at, last_status, last_error, created_at, updated_at";

fn row_to_webhook(r: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        member_id: r.get(1)?,
        payment_id: r.get(2)?,
        event: r.get(3)?,
        url: r.get(4)?,
        body: r.get(5)?,
        state: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_status: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

impl SqliteStore {
    /// Claim pending webhooks whose next attempt is due (their `next_attempt_at` moves
    /// `lease_secs` ahead while one worker attempts them).
    pub async fn claim_due_webhooks(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<Webhook>> {
        self.write(move |c| {
            let mut st = c.prepare_cached(&format!(
                    "UPDATE webhooks SET next_attempt_at = ?2 WHERE id IN (SELECT id FROM webhooks WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?3) RETURNING {COLUMNS}"
                ))
                .map_err(db_err)?;
            let rows = st.query_map(params![now, now + lease_secs, limit as i64], row_to_webhook).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    /// Record an attempt. Only a pending webhook changes.
    pub async fn record_delivery(&self, id: i64, d: Delivery) -> Result<()> {
        self.write(move |c| {
            let now = loket_core::jakarta::now();
            match d {
                Delivery::Delivered { status } => exec(c,
                    "UPDATE webhooks SET state = 'delivered', attempts = attempts + 1, last_status = ?2, last_error = NULL, updated_at = ?3 WHERE id = ?1 AND state = 'pending'",
                    params![id, status, now],
                ),
                Delivery::Retry { status, error, next_attempt_at: Some(at) } => exec(c,
                    "UPDATE webhooks SET attempts = attempts + 1, last_status = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1 AND state = 'pending'",
                    params![id, status, error, at, now],
                ),
                Delivery::Retry { status, error, next_attempt_at: None } => exec(c,
                    "UPDATE webhooks SET state = 'failed', attempts = attempts + 1, last_status = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1 AND state = 'pending'",
                    params![id, status, error, now],
                ),
            }
            .map(|_| ())
            .map_err(db_err)
        })
        .await
    }

    pub async fn webhooks(&self, member_id: Option<i64>, limit: usize) -> Result<Vec<Webhook>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhooks WHERE (?1 IS NULL OR member_id = ?1) ORDER BY id DESC LIMIT ?2"
                ))
                .map_err(db_err)?;
            let rows = st.query_map(params![member_id, limit as i64], row_to_webhook).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    /// Queue a webhook again (delivered or failed ones too), with fresh attempts.
    pub async fn resend_webhook(&self, id: i64) -> Result<Webhook> {
        self.write(move |c| {
            let now = loket_core::jakarta::now();
            exec(c,
                "UPDATE webhooks SET state = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
            query_row(c, &format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"), [id], row_to_webhook)
                .optional()
                .map_err(db_err)?
                .ok_or(StoreError::NotFound("webhook"))
        })
        .await
    }
}
