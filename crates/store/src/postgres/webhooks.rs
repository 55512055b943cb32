//! The webhook outbox.

use super::{pg_err, transaction, PostgresStore, TxResult};
use crate::{Delivery, Result, StoreError, Webhook};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

const COLUMNS: &str =
    "id, member_id, payment_id, event, url, body, state, attempts, next_attempt_at, last_status, last_error, created_at, updated_at";

fn row_to_webhook(r: &Row) -> std::result::Result<Webhook, tokio_postgres::Error> {
    Ok(Webhook {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        payment_id: r.try_get(2)?,
        event: r.try_get(3)?,
        url: r.try_get(4)?,
        body: r.try_get(5)?,
        state: r.try_get(6)?,
        attempts: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        last_status: r.try_get(9)?,
        last_error: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

fn rows_to_webhooks(rows: Vec<Row>) -> TxResult<Vec<Webhook>> {
    Ok(rows
        .iter()
        .map(row_to_webhook)
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

async fn record(c: &impl GenericClient, id: i64, d: &Delivery) -> TxResult<()> {
    let now = loket_core::jakarta::now();
    match d {
        Delivery::Delivered { status } => {
            let st = c
                .prepare_cached(
                    "UPDATE webhooks SET state = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL, updated_at = $3 WHERE id = $1 AND state = 'pending'",
                )
                .await?;
            c.execute(&st, &[&id, &i64::from(*status), &now]).await?;
        }
        Delivery::Retry {
            status,
            error,
            next_attempt_at: Some(at),
        } => {
            let st = c
                .prepare_cached(
                    "UPDATE webhooks SET attempts = attempts + 1, last_status = $2, last_error = $3, next_attempt_at = $4, updated_at = $5 WHERE id = $1 AND state = 'pending'",
                )
                .await?;
            c.execute(&st, &[&id, &status.map(i64::from), error, at, &now])
                .await?;
        }
        Delivery::Retry {
            status,
            error,
            next_attempt_at: None,
        } => {
            let st = c
                .prepare_cached(
                    "UPDATE webhooks SET state = 'failed', attempts = attempts + 1, last_status = $2, last_error = $3, updated_at = $4 WHERE id = $1 AND state = 'pending'",
                )
                .await?;
            c.execute(&st, &[&id, &status.map(i64::from), error, &now])
                .await?;
        }
    }
    Ok(())
}

impl PostgresStore {
    /// Claim pending webhooks whose next attempt is due (their `next_attempt_at` moves
    /// `lease_secs` ahead while one worker attempts them). `SKIP LOCKED`: instances claiming at
    /// the same moment take different webhooks.
    pub async fn claim_due_webhooks(
        &self,
        now: i64,
        lease_secs: i64,
        limit: usize,
    ) -> Result<Vec<Webhook>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "WITH due AS MATERIALIZED (SELECT id AS due_id FROM webhooks WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE webhooks SET next_attempt_at = $2 FROM due WHERE id = due.due_id RETURNING {COLUMNS}"
        );
        transaction!(self, |tx| {
            let st = tx.prepare_cached(&sql).await?;
            let rows = tx
                .query(&st, &[&now, &now.saturating_add(lease_secs), &limit])
                .await?;
            rows_to_webhooks(rows)?
        })
    }

    /// Record an attempt. Only a pending webhook changes.
    pub async fn record_delivery(&self, id: i64, d: Delivery) -> Result<()> {
        transaction!(self, |tx| record(&tx, id, &d).await?)
    }

    pub async fn webhooks(&self, member_id: Option<i64>, limit: usize) -> Result<Vec<Webhook>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhooks WHERE ($1::BIGINT IS NULL OR member_id = $1) ORDER BY id DESC LIMIT $2"
            ))
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[&member_id, &limit]).await.map_err(pg_err)?;
        Ok(rows_to_webhooks(rows)?)
    }

    /// Queue a webhook again (delivered or failed ones too), with fresh attempts.
    pub async fn resend_webhook(&self, id: i64) -> Result<Webhook> {
        transaction!(self, |tx| {
            let now = loket_core::jakarta::now();
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE webhooks SET state = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $1 RETURNING {COLUMNS}"
                ))
                .await?;
            match tx.query_opt(&st, &[&id, &now]).await? {
                Some(r) => row_to_webhook(&r)?,
                None => return Err(StoreError::NotFound("webhook").into()),
            }
        })
    }
}
