use super::{external_code, is_unique_violation, transaction, transfer, PostgresStore, TxResult};
use crate::config::MemberKey;
use crate::ledger::Side;
use crate::{MemberUpdate, NewMember, Result, StoreError, SANDBOX_START_BALANCE};
use deadpool_postgres::GenericClient;
use loket_core::{IpAllowlist, Member};
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

const COLUMNS: &str =
    "id, username, name, api_id, api_key, dev_api_key, secret_key, ip_allowlist, suspended, webhook_url, created_at, webhook_all";

fn row_to_member(r: &Row) -> std::result::Result<Member, tokio_postgres::Error> {
    row_to_member_at(r, 0)
}

/// The member in [`COLUMNS`] order from column `at` on.
fn row_to_member_at(r: &Row, at: usize) -> std::result::Result<Member, tokio_postgres::Error> {
    let allow: String = r.try_get(at + 7)?;
    Ok(Member {
        id: r.try_get(at)?,
        username: r.try_get(at + 1)?,
        name: r.try_get(at + 2)?,
        api_id: r.try_get(at + 3)?,
        api_key: r.try_get(at + 4)?,
        dev_api_key: r.try_get(at + 5)?,
        secret_key: r.try_get(at + 6)?,
        // The column is written only through IpAllowlist's Display, so it parses.
        allowlist: IpAllowlist::parse(&allow).unwrap_or_default(),
        suspended: r.try_get(at + 8)?,
        webhook_url: r.try_get(at + 9)?,
        created_at: r.try_get(at + 10)?,
        webhook_all: r.try_get(at + 11)?,
    })
}

/// The member whose `column` (a fixed column name, never input) equals `value`; `FOR UPDATE`
/// in `suffix` locks its row.
async fn get_member(
    c: &impl GenericClient,
    column: &str,
    value: &(dyn ToSql + Sync),
    suffix: &str,
) -> TxResult<Option<Member>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM members WHERE {column} = $1 {suffix}"
        ))
        .await?;
    match c.query_opt(&st, &[value]).await? {
        Some(r) => Ok(Some(row_to_member(&r)?)),
        None => Ok(None),
    }
}

async fn create(c: &impl GenericClient, m: &NewMember) -> TxResult<Member> {
    let now = loket_core::jakarta::now();
    let mut accounts = [0i64; 2];
    let st = c
        .prepare_cached("INSERT INTO accounts (code, kind) VALUES ($1, $2) RETURNING id")
        .await?;
    for (i, kind) in ["member_live", "member_sandbox"].iter().enumerate() {
        // Temporary unique code; renamed once the member id is known.
        let code = format!("new:{}:{kind}", m.username);
        accounts[i] = c.query_one(&st, &[&code, kind]).await?.try_get(0)?;
    }
    let st = c
        .prepare_cached(
            "INSERT INTO members (username, name, api_id, api_key, dev_api_key, secret_key, live_account, sandbox_account, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .await?;
    let inserted = c
        .query_one(
            &st,
            &[
                &m.username,
                &m.name,
                &m.api_id,
                &m.api_key,
                &m.dev_api_key,
                &m.secret_key,
                &accounts[0],
                &accounts[1],
                &now,
            ],
        )
        .await?;
    let id: i64 = inserted.try_get(0)?;
    let st = c
        .prepare_cached("UPDATE accounts SET code = $2 WHERE id = $1")
        .await?;
    c.execute(&st, &[&accounts[0], &format!("member:{id}:live")])
        .await?;
    c.execute(&st, &[&accounts[1], &format!("member:{id}:sandbox")])
        .await?;
    let external = super::account_id(c, external_code(Side::Sandbox)).await?;
    transfer(
        c,
        external,
        accounts[1],
        SANDBOX_START_BALANCE,
        "sandbox-opening",
        None,
    )
    .await?;
    get_member(c, "id", &id, "")
        .await?
        .ok_or_else(|| StoreError::NotFound("member").into())
}

async fn update(c: &impl GenericClient, username: &str, u: &MemberUpdate) -> TxResult<Member> {
    // The row lock keeps a concurrent update (another instance) from being overwritten with the
    // fields this one read.
    let Some(mut m) = get_member(c, "username", &username, "FOR UPDATE").await? else {
        return Err(StoreError::NotFound("member").into());
    };
    if let Some(name) = &u.name {
        m.name = name.clone();
    }
    if let Some(list) = &u.allowlist {
        m.allowlist = IpAllowlist::parse(list).map_err(StoreError::Invalid)?;
    }
    if let Some(s) = u.suspended {
        m.suspended = s;
    }
    if let Some(w) = &u.webhook_url {
        m.webhook_url = w.clone();
    }
    if let Some(all) = u.webhook_all {
        m.webhook_all = all;
    }
    let st = c
        .prepare_cached(
            "UPDATE members SET name = $2, ip_allowlist = $3, suspended = $4, webhook_url = $5, webhook_all = $6 WHERE id = $1",
        )
        .await?;
    c.execute(
        &st,
        &[
            &m.id,
            &m.name,
            &m.allowlist.to_string(),
            &m.suspended,
            &m.webhook_url,
            &m.webhook_all,
        ],
    )
    .await?;
    Ok(m)
}

impl PostgresStore {
    pub async fn create_member(&self, m: NewMember) -> Result<Member> {
        transaction!(self, |tx| match create(&tx, &m).await {
            // The username, the api_id, or a concurrent creation's temporary account code.
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Duplicate("member").into());
            }
            r => r?,
        })
    }

    pub async fn member_by_id(&self, id: i64) -> Result<Option<Member>> {
        let c = self.client().await?;
        Ok(get_member(&c, "id", &id, "").await?)
    }

    /// The member whose `column` (`username` or `api_id`) is `value`; for a protocol request,
    /// from the config cache (crate::config).
    pub(crate) async fn member_by(
        &self,
        key: MemberKey,
        value: &str,
    ) -> Result<Option<Arc<Member>>> {
        let column = key.column();
        self.config_lookup(
            |cache| cache.members(key).get(value).cloned(),
            async |c| {
                // The version and the row in one statement (a row of NULLs for no member).
                let st = c
                    .prepare_cached(&format!(
                        "SELECT v.version, {} FROM config_version v LEFT JOIN members m ON m.{column} = $1 WHERE v.id = 1",
                        super::each_column(COLUMNS, |c| format!("m.{c}"))
                    ))
                    .await?;
                let r = c.query_one(&st, &[&value]).await?;
                let member = match r.try_get::<_, Option<i64>>(1)? {
                    Some(_) => Some(Arc::new(row_to_member_at(&r, 1)?)),
                    None => None,
                };
                Ok((r.try_get(0)?, member))
            },
            |cache, member| {
                cache.members_mut(key).insert(value.to_string(), member);
            },
        )
        .await
    }

    pub async fn update_member(&self, username: String, u: MemberUpdate) -> Result<Member> {
        transaction!(self, |tx| update(&tx, &username, &u).await?)
    }
}
