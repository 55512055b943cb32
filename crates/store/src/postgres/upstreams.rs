//! Upstreams and routes (the same meaning as the SQLite store's `upstreams.rs`).

use super::{pg_err, sqlstate, transaction, PostgresStore};
use crate::{Result, Route, StoreError, UpstreamRecord};
use loket_core::Rupiah;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

const COLUMNS: &str = "name, kind, base_url, username, api_key, api_key_env, secret_key, secret_key_env, testing, timeout_ms, max_concurrency, breaker_failures, breaker_cooldown_secs, enabled, http";

fn row_to_upstream(r: &Row) -> std::result::Result<UpstreamRecord, tokio_postgres::Error> {
    Ok(UpstreamRecord {
        name: r.try_get(0)?,
        kind: r.try_get(1)?,
        base_url: r.try_get(2)?,
        username: r.try_get(3)?,
        api_key: r.try_get(4)?,
        api_key_env: r.try_get(5)?,
        secret_key: r.try_get(6)?,
        secret_key_env: r.try_get(7)?,
        testing: r.try_get(8)?,
        timeout_ms: r.try_get(9)?,
        max_concurrency: r.try_get(10)?,
        breaker_failures: r.try_get(11)?,
        breaker_cooldown_secs: r.try_get(12)?,
        enabled: r.try_get(13)?,
        http: r.try_get(14)?,
    })
}

fn row_to_route(r: &Row) -> std::result::Result<Route, tokio_postgres::Error> {
    Ok(Route {
        product_code: r.try_get(0)?,
        position: r.try_get(1)?,
        upstream: r.try_get(2)?,
        upstream_code: r.try_get(3)?,
        cost_limit: r.try_get::<_, Option<i64>>(4)?.map(Rupiah::new),
    })
}

impl PostgresStore {
    pub async fn upstreams(&self) -> Result<Vec<UpstreamRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!("SELECT {COLUMNS} FROM upstreams ORDER BY name"))
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[]).await.map_err(pg_err)?;
        rows.iter()
            .map(row_to_upstream)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(pg_err)
    }

    /// Insert or replace an upstream (one statement: concurrent puts of one name do not conflict).
    pub async fn put_upstream(&self, u: UpstreamRecord) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "INSERT INTO upstreams ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, base_url = excluded.base_url, username = excluded.username, api_key = excluded.api_key, api_key_env = excluded.api_key_env, secret_key = excluded.secret_key, secret_key_env = excluded.secret_key_env, testing = excluded.testing, timeout_ms = excluded.timeout_ms, max_concurrency = excluded.max_concurrency, breaker_failures = excluded.breaker_failures, breaker_cooldown_secs = excluded.breaker_cooldown_secs, enabled = excluded.enabled, http = excluded.http, updated_at = excluded.updated_at"
            ))
            .await
            .map_err(pg_err)?;
        c.execute(
            &st,
            &[
                &u.name,
                &u.kind,
                &u.base_url,
                &u.username,
                &u.api_key,
                &u.api_key_env,
                &u.secret_key,
                &u.secret_key_env,
                &u.testing,
                &u.timeout_ms,
                &u.max_concurrency,
                &u.breaker_failures,
                &u.breaker_cooldown_secs,
                &u.enabled,
                &u.http,
                &loket_core::jakarta::now(),
            ],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    /// Remove an upstream and its routes (in one transaction); false when there was none.
    pub async fn remove_upstream(&self, name: String) -> Result<bool> {
        transaction!(self, |tx| {
            // ON DELETE CASCADE would do it too; said here as the SQLite store says it.
            tx.execute("DELETE FROM routes WHERE upstream = $1", &[&name])
                .await?;
            tx.execute("DELETE FROM upstreams WHERE name = $1", &[&name])
                .await?
                > 0
        })
    }

    pub async fn routes(&self, product: Option<String>) -> Result<Vec<Route>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT product_code, position, upstream, upstream_code, cost_limit FROM routes WHERE ($1::TEXT IS NULL OR product_code = $1) ORDER BY product_code, position, upstream",
            )
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[&product]).await.map_err(pg_err)?;
        rows.iter()
            .map(row_to_route)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(pg_err)
    }

    /// Insert or replace the route (product, upstream); [`StoreError::NotFound`]`("upstream")`
    /// when there is no such upstream (the foreign key).
    pub async fn put_route(&self, r: Route) -> Result<()> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO routes (product_code, position, upstream, upstream_code, cost_limit) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (product_code, upstream) DO UPDATE SET position = excluded.position, upstream_code = excluded.upstream_code, cost_limit = excluded.cost_limit",
            )
            .await
            .map_err(pg_err)?;
        let cost_limit = r.cost_limit.map(|c| c.get());
        match c
            .execute(
                &st,
                &[
                    &r.product_code,
                    &r.position,
                    &r.upstream,
                    &r.upstream_code,
                    &cost_limit,
                ],
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if sqlstate(&e) == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NotFound("upstream"))
            }
            Err(e) => Err(pg_err(e)),
        }
    }

    pub async fn remove_route(&self, product: String, upstream: String) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("DELETE FROM routes WHERE product_code = $1 AND upstream = $2")
            .await
            .map_err(pg_err)?;
        let n = c
            .execute(&st, &[&product, &upstream])
            .await
            .map_err(pg_err)?;
        Ok(n > 0)
    }
}
