use super::{autocommit, is_unique_violation, pg_err, Fail, PostgresStore, TxResult};
use crate::{Result, StoreError};
use deadpool_postgres::GenericClient;
use loket_core::quote::{decode_scenario, encode_scenario, NewQuote};
use loket_core::{Mode, Protocol, Quote, Rupiah};
use tokio_postgres::Row;

const COLUMNS: &str = "tr_id, member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id";

fn row_to_quote(r: &Row) -> std::result::Result<Quote, tokio_postgres::Error> {
    let mode: String = r.try_get(2)?;
    let protocol: String = r.try_get(3)?;
    let desc: String = r.try_get(15)?;
    let paid_desc: String = r.try_get(16)?;
    let (desc, paid_desc) = loket_core::quote::parse_descs(&desc, &paid_desc);
    let scenario: Option<String> = r.try_get(19)?;
    let sheets: i64 = r.try_get(14)?;
    Ok(Quote {
        tr_id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        mode: Mode::parse(&mode).unwrap_or(Mode::Sandbox),
        protocol: Protocol::parse(&protocol).unwrap_or(Protocol::Iak),
        ref_id: r.try_get(4)?,
        code: r.try_get(5)?,
        hp: r.try_get(6)?,
        name: r.try_get(7)?,
        period: r.try_get(8)?,
        nominal: Rupiah::new(r.try_get(9)?),
        admin: Rupiah::new(r.try_get(10)?),
        price: Rupiah::new(r.try_get(11)?),
        selling_price: Rupiah::new(r.try_get(12)?),
        cost: Rupiah::new(r.try_get(13)?),
        // Written from a u32, so it fits.
        sheets: u32::try_from(sheets).unwrap_or(u32::MAX),
        desc,
        paid_desc,
        biller: r.try_get(17)?,
        biller_ref: r.try_get(18)?,
        scenario: scenario.as_deref().and_then(decode_scenario),
        noref: r.try_get(20)?,
        created_at: r.try_get(21)?,
        expires_at: r.try_get(22)?,
        upstream_code: r.try_get(23)?,
        upstream_ref_id: r.try_get(24)?,
    })
}

/// The quote `tr_id`; with `lock`, its row is locked (`FOR UPDATE`) until the transaction ends.
pub(crate) async fn get_quote(
    c: &impl GenericClient,
    tr_id: i64,
    lock: bool,
) -> TxResult<Option<Quote>> {
    let sql = if lock {
        format!("SELECT {COLUMNS} FROM quotes WHERE tr_id = $1 FOR UPDATE")
    } else {
        format!("SELECT {COLUMNS} FROM quotes WHERE tr_id = $1")
    };
    let st = c.prepare_cached(&sql).await?;
    match c.query_opt(&st, &[&tr_id]).await? {
        Some(r) => Ok(Some(row_to_quote(&r)?)),
        None => Ok(None),
    }
}

impl PostgresStore {
    pub async fn quote_by_ref(
        &self,
        member_id: i64,
        mode: Mode,
        ref_id: String,
    ) -> Result<Option<Quote>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM quotes WHERE member_id = $1 AND mode = $2 AND ref_id = $3"
            ))
            .await
            .map_err(pg_err)?;
        let row = c
            .query_opt(&st, &[&member_id, &mode.as_str(), &ref_id])
            .await
            .map_err(pg_err)?;
        row.map(|r| row_to_quote(&r)).transpose().map_err(pg_err)
    }

    /// The quote loket made with `upstream_ref_id` towards `biller` (upstream webhooks).
    pub async fn quote_by_upstream_ref(
        &self,
        biller: String,
        upstream_ref_id: String,
    ) -> Result<Option<Quote>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM quotes WHERE biller = $1 AND upstream_ref_id = $2"
            ))
            .await
            .map_err(pg_err)?;
        let row = c
            .query_opt(&st, &[&biller, &upstream_ref_id])
            .await
            .map_err(pg_err)?;
        row.map(|r| row_to_quote(&r)).transpose().map_err(pg_err)
    }

    pub async fn quote(&self, tr_id: i64) -> Result<Option<Quote>> {
        let c = self.client().await?;
        Ok(get_quote(&c, tr_id, false).await?)
    }

    pub async fn insert_quote(&self, q: NewQuote) -> Result<Quote> {
        // A sandbox quote (no upstream ref) in the next batch; anything else, or a quote the
        // batch did not insert, by itself below.
        let q = match &self.batches {
            Some(b) if q.upstream_ref_id.is_none() => {
                match b.quotes.run((q, crate::config::unconfirmed())).await? {
                    ((q, expected), super::batch::Batched::Done(tr_id)) => {
                        if expected.is_some() {
                            crate::config::confirm();
                        }
                        return Ok(Quote { tr_id, ..q });
                    }
                    ((q, _), super::batch::Batched::Alone) => q,
                }
            }
            _ => q,
        };
        let desc = q.desc.to_string();
        let paid_desc = q.paid_desc.to_string();
        let scenario = q.scenario.map(encode_scenario);
        let sheets = i64::from(q.sheets);
        // One INSERT: a transaction of its own (no BEGIN/COMMIT round trips).
        let tr_id: i64 = autocommit!(self, |tx| {
            let st = tx
                .prepare_cached(
                    "INSERT INTO quotes (member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) RETURNING tr_id",
                )
                .await?;
            let inserted = tx
                .query_one(
                    &st,
                    &[
                        &q.member_id,
                        &q.mode.as_str(),
                        &q.protocol.as_str(),
                        &q.ref_id,
                        &q.code,
                        &q.hp,
                        &q.name,
                        &q.period,
                        &q.nominal.get(),
                        &q.admin.get(),
                        &q.price.get(),
                        &q.selling_price.get(),
                        &q.cost.get(),
                        &sheets,
                        &desc,
                        &paid_desc,
                        &q.biller,
                        &q.biller_ref,
                        &scenario,
                        &q.noref,
                        &q.created_at,
                        &q.expires_at,
                        &q.upstream_code,
                        &q.upstream_ref_id,
                    ],
                )
                .await
                .map_err(Fail::from);
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Duplicate("ref_id").into())
                }
                r => r?.try_get(0)?,
            }
        })?;
        Ok(Quote { tr_id, ..q })
    }

    pub async fn quote_is_paid(&self, tr_id: i64) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM payments WHERE tr_id = $1)")
            .await
            .map_err(pg_err)?;
        let row = c.query_one(&st, &[&tr_id]).await.map_err(pg_err)?;
        row.try_get(0).map_err(pg_err)
    }
}
