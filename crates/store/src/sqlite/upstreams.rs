//! Upstreams and routes.

use super::{db_err, exec, SqliteStore};
use crate::{Result, Route, UpstreamRecord};
use loket_core::Rupiah;
use rusqlite::{params, Row};

const COLUMNS: &str = "name, kind, base_url, username, api_key, api_key_env, secret_key, secret_key_env, testing, timeout_ms, max_concurrency, breaker_failures, breaker_cooldown_secs, enabled, http";

fn row_to_upstream(r: &Row<'_>) -> rusqlite::Result<UpstreamRecord> {
    Ok(UpstreamRecord {
        name: r.get(0)?,
        kind: r.get(1)?,
        base_url: r.get(2)?,
        username: r.get(3)?,
        api_key: r.get(4)?,
        api_key_env: r.get(5)?,
        secret_key: r.get(6)?,
        secret_key_env: r.get(7)?,
        testing: r.get(8)?,
        timeout_ms: r.get(9)?,
        max_concurrency: r.get(10)?,
        breaker_failures: r.get(11)?,
        breaker_cooldown_secs: r.get(12)?,
        enabled: r.get(13)?,
        http: r.get(14)?,
    })
}

fn row_to_route(r: &Row<'_>) -> rusqlite::Result<Route> {
    Ok(Route {
        product_code: r.get(0)?,
        position: r.get(1)?,
        upstream: r.get(2)?,
        upstream_code: r.get(3)?,
        cost_limit: r.get::<_, Option<i64>>(4)?.map(Rupiah::new),
    })
}

impl SqliteStore {
    pub async fn upstreams(&self) -> Result<Vec<UpstreamRecord>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM upstreams ORDER BY name"))
                .map_err(db_err)?;
            let rows = st.query_map([], row_to_upstream).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    pub async fn put_upstream(&self, u: UpstreamRecord) -> Result<()> {
        self.write(move |c| {
            exec(c,
                &format!("INSERT INTO upstreams ({COLUMNS}, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, username = excluded.username, api_key = excluded.api_key, api_key_env = excluded.api_key_env, secret_key = excluded.secret_key, secret_key_env = excluded.secret_key_env, testing = excluded.testing, timeout_ms = excluded.timeout_ms, max_concurrency = excluded.max_concurrency, breaker_failures = excluded.breaker_failures, breaker_cooldown_secs = excluded.breaker_cooldown_secs, enabled = excluded.enabled, http = excluded.http, updated_at = excluded.updated_at"),
                params![
                    u.name,
                    u.kind,
                    u.base_url,
                    u.username,
                    u.api_key,
                    u.api_key_env,
                    u.secret_key,
                    u.secret_key_env,
                    u.testing,
                    u.timeout_ms,
                    u.max_concurrency,
                    u.breaker_failures,
                    u.breaker_cooldown_secs,
                    u.enabled,
                    u.http,
                    loket_core::jakarta::now()
                ],
            )
            .map(|_| ())
            .map_err(db_err)
        })
        .await
    }

    pub async fn remove_upstream(&self, name: String) -> Result<bool> {
        self.write(move |c| {
            exec(c, "DELETE FROM routes WHERE upstream = ?1", [&name]).map_err(db_err)?;
            exec(c, "DELETE FROM upstreams WHERE name = ?1", [&name])
                .map(|n| n > 0)
                .map_err(db_err)
        })
        .await
    }

    pub async fn routes(&self, product: Option<String>) -> Result<Vec<Route>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                    "SELECT product_code, position, upstream, upstream_code, cost_limit FROM routes WHERE (?1 IS NULL OR product_code = ?1) ORDER BY product_code, position, upstream",
                )
                .map_err(db_err)?;
            let rows = st.query_map([product], row_to_route).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }

    pub async fn put_route(&self, r: Route) -> Result<()> {
        self.write(move |c| {
            exec(c,
                "INSERT INTO routes (product_code, position, upstream, upstream_code, cost_limit) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (product_code, upstream) DO UPDATE SET position = excluded.position, upstream_code = excluded.upstream_code, cost_limit = excluded.cost_limit",
                params![r.product_code, r.position, r.upstream, r.upstream_code, r.cost_limit.map(|c| c.get())],
            )
            .map(|_| ())
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    crate::StoreError::NotFound("upstream")
                }
                _ => db_err(e),
            })
        })
        .await
    }

    pub async fn remove_route(&self, product: String, upstream: String) -> Result<bool> {
        self.write(move |c| {
            exec(
                c,
                "DELETE FROM routes WHERE product_code = ?1 AND upstream = ?2",
                params![product, upstream],
            )
            .map(|n| n > 0)
            .map_err(db_err)
        })
        .await
    }
}
