use super::{db_err, exec, external_code, is_unique_violation, query_row, transfer, SqliteStore};
use crate::config::MemberKey;
use crate::ledger::Side;
use crate::{MemberUpdate, NewMember, Result, StoreError, SANDBOX_START_BALANCE};
use loket_core::{IpAllowlist, Member};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;

const COLUMNS: &str =
    "id, username, name, api_id, api_key, dev_api_key, secret_key, ip_allowlist, suspended, webhook_url, created_at, webhook_all";

fn row_to_member(r: &Row<'_>) -> rusqlite::Result<Member> {
    let allow: String = r.get(7)?;
    Ok(Member {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        api_id: r.get(3)?,
        api_key: r.get(4)?,
        dev_api_key: r.get(5)?,
        secret_key: r.get(6)?,
        // The column is written only through IpAllowlist's Display, so it parses.
        allowlist: IpAllowlist::parse(&allow).unwrap_or_default(),
        suspended: r.get(8)?,
        webhook_url: r.get(9)?,
        created_at: r.get(10)?,
        webhook_all: r.get(11)?,
    })
}

fn get_member(c: &Connection, column: &str, value: &str) -> Result<Option<Member>> {
    query_row(
        c,
        &format!("SELECT {COLUMNS} FROM members WHERE {column} = ?1"),
        [value],
        row_to_member,
    )
    .optional()
    .map_err(db_err)
}

impl SqliteStore {
    pub async fn create_member(&self, m: NewMember) -> Result<Member> {
        self.write(move |c| {
            let now = loket_core::jakarta::now();
            let mut accounts = [0i64; 2];
            for (i, kind) in ["member_live", "member_sandbox"].iter().enumerate() {
                // Temporary unique code; renamed once the member id is known.
                exec(c,
                    "INSERT INTO accounts (code, kind) VALUES (?1, ?2)",
                    params![format!("new:{}:{kind}", m.username), kind],
                )
                .map_err(db_err)?;
                accounts[i] = c.last_insert_rowid();
            }
            let inserted = exec(c,
                "INSERT INTO members (username, name, api_id, api_key, dev_api_key, secret_key, live_account, sandbox_account, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![m.username, m.name, m.api_id, m.api_key, m.dev_api_key, m.secret_key, accounts[0], accounts[1], now],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("member")),
                Err(e) => return Err(db_err(e)),
                Ok(_) => {}
            }
            let id = c.last_insert_rowid();
            exec(c, "UPDATE accounts SET code = ?2 WHERE id = ?1", params![accounts[0], format!("member:{id}:live")])
                .map_err(db_err)?;
            exec(c, "UPDATE accounts SET code = ?2 WHERE id = ?1", params![accounts[1], format!("member:{id}:sandbox")])
                .map_err(db_err)?;
            let external = super::account_id(c, external_code(Side::Sandbox))?;
            transfer(c, external, accounts[1], SANDBOX_START_BALANCE, "sandbox-opening", None)?;
            get_member(c, "id", &id.to_string())?.ok_or(StoreError::NotFound("member"))
        })
        .await
    }

    pub async fn member_by_id(&self, id: i64) -> Result<Option<Member>> {
        self.lookup(move |c| get_member(c, "id", &id.to_string()))
    }

    pub(crate) async fn member_by(
        &self,
        key: MemberKey,
        value: &str,
    ) -> Result<Option<Arc<Member>>> {
        if let Some(hit) = self.cached(|cache| cache.members(key).get(value).cloned()) {
            return Ok(hit);
        }
        self.with_config(move |c, cache| {
            if let Some(hit) = cache.members(key).get(value) {
                return Ok(hit.clone());
            }
            let member = get_member(c, key.column(), value)?.map(Arc::new);
            cache
                .members_mut(key)
                .insert(value.to_string(), member.clone());
            Ok(member)
        })
    }

    pub async fn update_member(&self, username: String, u: MemberUpdate) -> Result<Member> {
        self.write(move |c| {
            let Some(mut m) = get_member(c, "username", &username)? else {
                return Err(StoreError::NotFound("member"));
            };
            if let Some(name) = u.name {
                m.name = name;
            }
            if let Some(list) = u.allowlist {
                m.allowlist = IpAllowlist::parse(&list).map_err(StoreError::Invalid)?;
            }
            if let Some(s) = u.suspended {
                m.suspended = s;
            }
            if let Some(w) = u.webhook_url {
                m.webhook_url = w;
            }
            if let Some(all) = u.webhook_all {
                m.webhook_all = all;
            }
            exec(c,
                "UPDATE members SET name = ?2, ip_allowlist = ?3, suspended = ?4, webhook_url = ?5, webhook_all = ?6 WHERE id = ?1",
                params![m.id, m.name, m.allowlist.to_string(), m.suspended, m.webhook_url, m.webhook_all],
            )

            .map_err(db_err)?;
            Ok(m)
        })
        .await
    }
}
