use super::{db_err, is_unique_violation, query_row, SqliteStore};
use crate::{Result, StoreError};
use loket_core::quote::{decode_scenario, encode_scenario, NewQuote};
use loket_core::{Mode, Protocol, Quote, Rupiah};
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "tr_id, member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id";

pub(crate) fn row_to_quote(r: &Row<'_>) -> rusqlite::Result<Quote> {
    let mode: String = r.get(2)?;
    let protocol: String = r.get(3)?;
    let desc: String = r.get(15)?;
    let paid_desc: String = r.get(16)?;
    let (desc, paid_desc) = loket_core::quote::parse_descs(&desc, &paid_desc);
    let scenario: Option<String> = r.get(19)?;
    Ok(Quote {
        tr_id: r.get(0)?,
        member_id: r.get(1)?,
        mode: Mode::parse(&mode).unwrap_or(Mode::Sandbox),
        protocol: Protocol::parse(&protocol).unwrap_or(Protocol::Iak),
        ref_id: r.get(4)?,
        code: r.get(5)?,
        hp: r.get(6)?,
        name: r.get(7)?,
        period: r.get(8)?,
        nominal: Rupiah::new(r.get(9)?),
        admin: Rupiah::new(r.get(10)?),
        price: Rupiah::new(r.get(11)?),
        selling_price: Rupiah::new(r.get(12)?),
        cost: Rupiah::new(r.get(13)?),
        sheets: r.get(14)?,
        desc,
        paid_desc,
        biller: r.get(17)?,
        biller_ref: r.get(18)?,
        scenario: scenario.as_deref().and_then(decode_scenario),
        noref: r.get(20)?,
        created_at: r.get(21)?,
        expires_at: r.get(22)?,
        upstream_code: r.get(23)?,
        upstream_ref_id: r.get(24)?,
    })
}

pub(crate) fn get_quote(c: &Connection, tr_id: i64) -> Result<Option<Quote>> {
    query_row(
        c,
        &format!("SELECT {COLUMNS} FROM quotes WHERE tr_id = ?1"),
        [tr_id],
        row_to_quote,
    )
    .optional()
    .map_err(db_err)
}

/// The quote's INSERT, which the writer keeps prepared ([`super::Writer::with_quote_insert`]).
pub(super) const QUOTE_INSERT: &str = "INSERT INTO quotes (member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)";

impl SqliteStore {
    pub async fn quote_by_ref(
        &self,
        member_id: i64,
        mode: Mode,
        ref_id: String,
    ) -> Result<Option<Quote>> {
        self.lookup(move |c| {
            query_row(c,
                &format!("SELECT {COLUMNS} FROM quotes WHERE member_id = ?1 AND mode = ?2 AND ref_id = ?3"),
                params![member_id, mode.as_str(), ref_id],
                row_to_quote,
            )
            .optional()
            .map_err(db_err)
        })
    }

    pub async fn quote_by_upstream_ref(
        &self,
        biller: String,
        upstream_ref_id: String,
    ) -> Result<Option<Quote>> {
        self.lookup(move |c| {
            query_row(
                c,
                &format!("SELECT {COLUMNS} FROM quotes WHERE biller = ?1 AND upstream_ref_id = ?2"),
                params![biller, upstream_ref_id],
                row_to_quote,
            )
            .optional()
            .map_err(db_err)
        })
    }

    pub async fn quote(&self, tr_id: i64) -> Result<Option<Quote>> {
        self.lookup(move |c| get_quote(c, tr_id))
    }

    pub async fn insert_quote(&self, q: NewQuote) -> Result<Quote> {
        // Serialized here, not on the writer thread, which every write of the server waits for.
        let desc =
            serde_json::to_string(&*q.desc).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let paid_desc = if std::sync::Arc::ptr_eq(&q.paid_desc, &q.desc) || q.paid_desc == q.desc {
            desc.clone()
        } else {
            serde_json::to_string(&*q.paid_desc).map_err(|e| StoreError::Invalid(e.to_string()))?
        };
        // One INSERT: a failed one leaves nothing behind.
        self.write_statement(move |w| {
            let r = w.with_quote_insert(|st| {
                st.execute(params![
                    q.member_id,
                    q.mode.as_str(),
                    q.protocol.as_str(),
                    q.ref_id,
                    q.code,
                    q.hp,
                    q.name,
                    q.period,
                    q.nominal.get(),
                    q.admin.get(),
                    q.price.get(),
                    q.selling_price.get(),
                    q.cost.get(),
                    q.sheets,
                    desc,
                    paid_desc,
                    q.biller,
                    q.biller_ref,
                    q.scenario.map(encode_scenario),
                    q.noref,
                    q.created_at,
                    q.expires_at,
                    q.upstream_code,
                    q.upstream_ref_id
                ])
            });
            match r {
                Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate("ref_id")),
                Err(e) => Err(db_err(e)),
                Ok(_) => Ok(Quote {
                    tr_id: w.conn.last_insert_rowid(),
                    ..q
                }),
            }
        })
        .await
    }

    pub async fn quote_is_paid(&self, tr_id: i64) -> Result<bool> {
        self.lookup(move |c| {
            query_row(
                c,
                "SELECT EXISTS (SELECT 1 FROM payments WHERE tr_id = ?1)",
                [tr_id],
                |r| r.get(0),
            )
            .map_err(db_err)
        })
    }
}
