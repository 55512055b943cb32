//! PostgreSQL backend: the same schema meaning and invariants as the SQLite one, for several loket
//! instances sharing one database.
//!
//! - Connections come from a pool (`deadpool-postgres`, default 16 per instance; the URL's
//!   `pool_max_size=N` changes it). No TLS yet (`NoTls`): reach the server over localhost, a
//!   private network or a tunnel (docs/postgres.md).
//! - The ledger's steps (hold, resolve, transfer, place, settle, and place-and-settle for the
//!   sandbox) are functions of the schema (`migrations/postgres/0001_init.sql`): each is one
//!   statement from here, so a payment costs one round trip and its row locks are held only
//!   while the server runs it and makes its commit durable. A single-statement write runs
//!   without `BEGIN`/`COMMIT` ([`autocommit!`]); several statements run in one transaction
//!   ([`transaction!`]).
//! - Group commit (`batch`): a sandbox quote and a sandbox payment join a batch of other
//!   requests' that is sent as one set-based statement and one commit; whatever a batch cannot
//!   decide exactly as a single statement would runs alone. Members and products are answered
//!   from the instance's cache and confirmed against `config_version` before a request has any
//!   effect (crate::config). docs/postgres.md, "Group commit".
//! - House accounts' cached sums are sharded (`account_shards`, summed by the `account_balances`
//!   view): payments do not queue on one `upstream:sandbox` or `revenue` row. Members' rows are
//!   not: the conditional hold and the overdraft CHECK are on them.
//! - Every write is at READ COMMITTED (`isolation=serializable` in the URL: at SERIALIZABLE, as
//!   distributed engines run; same statements, more retries). READ COMMITTED is enough because
//!   no money decision is read-then-written: the balance check and the hold are one conditional
//!   `UPDATE`, an overdraft trips the `accounts` CHECK, a second resolution of a hold trips the
//!   unique index on `pending_id`, a second payment for a quote waits on `UNIQUE (tr_id)` and
//!   then fails (and is answered the first), and a settlement locks its payment row
//!   (`FOR UPDATE`) before looking at its state.
//! - A transaction that fails with a serialization failure (40001) or a deadlock (40P01) is run
//!   again from the start, up to [`MAX_ATTEMPTS`] times. Balance rows are locked in one order
//!   (the member's first), so deadlocks between transfers do not arise in the first place.
//! - Background workers claim due rows with `FOR UPDATE SKIP LOCKED` and a lease, so instances
//!   never wait on each other nor take the same payment or webhook.
//! - Migrations run in one READ COMMITTED transaction under `pg_advisory_xact_lock`: instances
//!   that start together apply them once. A read-only standby is refused.

mod batch;
mod members;
mod payments;
mod products;
mod quotes;
mod upstreams;
mod webhooks;

use crate::config::ConfigCache;
use crate::ledger::{self, AccountRow, JournalRow, PaymentRow, Side, Sums, TransferKind};
use crate::{LedgerReport, Result, StoreError};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, NoTls};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_upstream_http.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_group_commit.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_batch_plan.sql"),
    ),
];

/// Connections per instance unless the URL says `pool_max_size=N`.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Runs of one transaction, the first included, when it keeps failing with 40001 / 40P01.
pub const MAX_ATTEMPTS: u32 = 10;
/// How long a request waits for a connection, unless the URL says `pool_timeout_secs=N`: for a
/// free one when all are busy, and again for a new one to be made (so also the default
/// `connect_timeout`). Past it the request fails (RC 91 / INTERNAL_ERROR) instead of hanging
/// while the database is unreachable or saturated.
pub const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Batches of one kind (quotes, sandbox payments) in flight at once per instance unless the URL
/// says `group_commit=N`. One: while a batch runs, the next one gathers, so batches grow with the
/// load; with more, each is smaller and PostgreSQL spends more per bill (docs/postgres.md,
/// "Group commit").
pub const DEFAULT_GROUP_COMMIT: usize = 1;

/// `pg_advisory_xact_lock` key space of the migrations ("loket" in ASCII); the second key is the
/// schema's, so instances migrating different schemas do not wait on each other.
const MIGRATION_LOCK: i32 = 0x6c6f_6b65;

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// Of every write transaction: READ COMMITTED unless the URL says `isolation=serializable`.
    isolation: IsolationLevel,
    /// Group commit of sandbox quotes and payments (`batch`); `None` at SERIALIZABLE, where a
    /// batch would be one more conflict for every transaction beside it.
    batches: Option<std::sync::Arc<batch::Batches>>,
    /// Members and products for protocol requests (crate::config).
    config: std::sync::Arc<std::sync::Mutex<ConfigCache>>,
}

/// loket's own URL parameters, taken out before the rest goes to the client library.
pub(crate) struct Params {
    pub pool_size: usize,
    pub pool_timeout: Duration,
    pub isolation: IsolationLevel,
    /// Batches of one kind in flight; 0: no group commit.
    pub group_commit: usize,
}

/// What can go wrong inside a transaction: the database's error, kept whole so its SQLSTATE
/// decides whether to run the transaction again, or a domain refusal.
pub(crate) enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> StoreError {
        match f {
            Fail::Pg(e) => pg_err(e),
            Fail::Store(e) => e,
        }
    }
}

pub(crate) type TxResult<T> = std::result::Result<T, Fail>;

/// `columns` (a comma-separated list), each written as `f` says: `m.id, m.username, ...`.
pub(crate) fn each_column(columns: &str, f: impl Fn(&str) -> String) -> String {
    columns.split(", ").map(f).collect::<Vec<_>>().join(", ")
}

/// The version of members and products now (`config_version`).
async fn config_version(c: &Object) -> Result<i64> {
    let st = c
        .prepare_cached("SELECT version FROM config_version WHERE id = 1")
        .await
        .map_err(pg_err)?;
    c.query_one(&st, &[])
        .await
        .and_then(|r| r.try_get(0))
        .map_err(pg_err)
}

/// The SQLSTATE of a database error, if the server sent one.
pub(crate) fn sqlstate(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.as_db_error().map(|d| d.code())
}

pub(crate) fn is_unique_violation(f: &Fail) -> bool {
    matches!(f, Fail::Pg(e) if sqlstate(e) == Some(&SqlState::UNIQUE_VIOLATION))
}

fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        sqlstate(e),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
    )
}

/// A database error as the store reports it. The message is the server's (no SQL parameters, no
/// DETAIL line, which may quote row values), or the client's for connection failures.
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::Database(describe(&e));
    };
    match *db.code() {
        SqlState::UNIQUE_VIOLATION => StoreError::Duplicate("row"),
        // Only the accounts table's CHECKs can fail on a valid request: an overdraft.
        SqlState::CHECK_VIOLATION if db.table() == Some("accounts") => {
            StoreError::InsufficientBalance
        }
        SqlState::NUMERIC_VALUE_OUT_OF_RANGE => StoreError::Invalid("amount out of range".into()),
        _ => StoreError::Database(describe(&e)),
    }
}

/// A client error with its cause ("error connecting to server: Connection refused"), or the
/// server's message and SQLSTATE, without DETAIL (it may quote row values).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A short random pause before running a transaction again: 1-16 ms times the attempt number.
pub(crate) async fn backoff(attempt: u32) {
    let mut b = [0u8; 1];
    let _ = getrandom::getrandom(&mut b);
    let ms = u64::from(b[0] % 16 + 1) * u64::from(attempt);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Run `$body` (an expression using the transaction `$tx`, with `?` for [`Fail`]) in one
/// transaction, committed at the end; run it all again, on a fresh transaction, when the
/// database answers a serialization failure or a deadlock.
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:expr) => {
        $crate::postgres::transaction!($store, $store.isolation, false, |$tx| $body)
    };
    ($store:expr, $isolation:expr, $read_only:expr, |$tx:ident| $body:expr) => {{
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut client = $store.client().await?;
            let result: $crate::postgres::TxResult<_> = async {
                let $tx = client
                    .build_transaction()
                    .isolation_level($isolation)
                    .read_only($read_only)
                    .start()
                    .await?;
                let value = $body;
                $tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err($crate::postgres::Fail::Pg(e))
                    if $crate::postgres::retry_after(&e, attempt) =>
                {
                    $crate::postgres::backoff(attempt).await;
                }
                Err(e) => break Err($crate::StoreError::from(e)),
            }
        }
    }};
}
pub(crate) use transaction;

/// Run `$body`, a single statement through the client `$c` (one of the schema's ledger
/// functions, or a plain write), as a transaction of its own: at READ COMMITTED without
/// `BEGIN`/`COMMIT` round trips (one statement is atomic, and its answer arrives once its commit
/// is durable); at the URL's `isolation=serializable` inside [`transaction!`], so that it runs at
/// that level. Run again on 40001 / 40P01 as [`transaction!`] does.
macro_rules! autocommit {
    ($store:expr, |$c:ident| $body:expr) => {{
        if $store.single_statements() {
            let mut attempt: u32 = 0;
            loop {
                attempt += 1;
                let $c = $store.client().await?;
                let result: $crate::postgres::TxResult<_> = async { Ok($body) }.await;
                match result {
                    Ok(value) => break Ok(value),
                    Err($crate::postgres::Fail::Pg(e))
                        if $crate::postgres::retry_after(&e, attempt) =>
                    {
                        $crate::postgres::backoff(attempt).await;
                    }
                    Err(e) => break Err($crate::StoreError::from(e)),
                }
            }
        } else {
            $crate::postgres::transaction!($store, |$c| $body)
        }
    }};
}
pub(crate) use autocommit;

/// Should a transaction that failed with `e` on its `attempt`-th run be run again?
pub(crate) fn retry_after(e: &tokio_postgres::Error, attempt: u32) -> bool {
    let retry = is_retryable(e) && attempt < MAX_ATTEMPTS;
    if retry {
        tracing::debug!(attempt, error = %e, "postgres: transaction conflict, running it again");
    }
    retry
}

/// The URL without loket's own parameters (`pool_max_size=N`, `pool_timeout_secs=N`,
/// `isolation=read_committed | serializable`, `group_commit=N`), and their values.
pub(crate) fn split_url(url: &str) -> Result<(String, Params)> {
    let mut params = Params {
        pool_size: DEFAULT_POOL_SIZE,
        pool_timeout: DEFAULT_POOL_TIMEOUT,
        isolation: IsolationLevel::ReadCommitted,
        group_commit: DEFAULT_GROUP_COMMIT,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("isolation", v)) => {
                params.isolation = match v {
                    "read_committed" => IsolationLevel::ReadCommitted,
                    "serializable" => IsolationLevel::Serializable,
                    other => {
                        return Err(StoreError::Invalid(format!(
                            "isolation must be read_committed or serializable: {other}"
                        )))
                    }
                };
            }
            Some(("pool_max_size", v)) => {
                params.pool_size = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::Invalid(format!("pool_max_size must be a positive number: {v}"))
                })?;
            }
            Some(("group_commit", v)) => {
                params.group_commit =
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n <= 64)
                        .ok_or_else(|| {
                            StoreError::Invalid(format!(
                                "group_commit must be a number from 0 to 64: {v}"
                            ))
                        })?;
            }
            Some(("pool_timeout_secs", v)) => {
                let secs = v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "pool_timeout_secs must be a positive number of seconds: {v}"
                    ))
                })?;
                params.pool_timeout = Duration::from_secs(secs);
            }
            _ => kept.push(pair),
        }
    }
    if kept.is_empty() {
        Ok((base.to_string(), params))
    } else {
        Ok((format!("{base}?{}", kept.join("&")), params))
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://` or `postgresql://`, libpq's URL form; `options=-c
    /// search_path=SCHEMA` selects a schema) and apply the migrations it lacks.
    pub async fn open(url: &str) -> Result<PostgresStore> {
        let (url, params) = split_url(url)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Invalid(format!("invalid PostgreSQL URL: {}", describe(&e)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(params.pool_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("loket");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(params.pool_size)
            .runtime(Runtime::Tokio1)
            // Every way of getting a connection is bounded: waiting for a free one, making a
            // new one (connect and startup), and checking an idle one before reuse.
            .wait_timeout(Some(params.pool_timeout))
            .create_timeout(Some(params.pool_timeout))
            .recycle_timeout(Some(params.pool_timeout))
            .build()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let batches = (matches!(params.isolation, IsolationLevel::ReadCommitted)
            && params.group_commit > 0)
            .then(|| std::sync::Arc::new(batch::Batches::start(pool.clone(), params.group_commit)));
        let store = PostgresStore {
            pool,
            isolation: params.isolation,
            batches,
            config: std::sync::Arc::new(std::sync::Mutex::new(ConfigCache::new())),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// May a single-statement write run without `BEGIN`/`COMMIT` (see [`autocommit!`])?
    pub(crate) fn single_statements(&self) -> bool {
        matches!(self.isolation, IsolationLevel::ReadCommitted)
    }

    /// A connection for a statement. Inside a protocol request answered from the config cache
    /// and not yet confirmed, its version is confirmed first (one read of `config_version`): no
    /// statement of a request runs on members or products older than the database's.
    pub(crate) async fn client(&self) -> Result<Object> {
        let c = self.raw_client().await?;
        if let Some(v) = crate::config::unconfirmed() {
            let current = config_version(&c).await?;
            if current != v {
                return Err(self.stale(current));
            }
            crate::config::confirm();
        }
        Ok(c)
    }

    /// A connection, without confirming the request's config version.
    async fn raw_client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            // The request's answer says the database is away: confirming its config version at
            // its end would only wait for a connection again.
            crate::config::mark_unreachable();
            let why = match &e {
                deadpool_postgres::PoolError::Backend(e) => describe(e),
                e => e.to_string(),
            };
            StoreError::Database(format!("no database connection: {why}"))
        })
    }

    /// The request ran on members or products older than `current`: it must run again (and the
    /// cache starts over at `current`).
    fn stale(&self, current: i64) -> StoreError {
        crate::config::mark_stale();
        self.config_cache().at(current);
        crate::config::stale_error()
    }

    fn config_cache(&self) -> std::sync::MutexGuard<'_, ConfigCache> {
        self.config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Is `config_version` still `version`?
    pub async fn config_is_current(&self, version: i64) -> Result<bool> {
        let c = self.raw_client().await?;
        let current = config_version(&c).await?;
        if current != version {
            self.config_cache().at(current);
        }
        Ok(current == version)
    }

    /// A member or product for a protocol request: from the cache when it holds it at the
    /// request's version (the request's first lookup takes the cache's version, unconfirmed);
    /// otherwise `fetch` reads it with the current `config_version` in one statement, and `put`
    /// files it. Outside a request, always `fetch`ed.
    pub(crate) async fn config_lookup<T: Clone>(
        &self,
        get: impl FnOnce(&ConfigCache) -> Option<Option<T>>,
        fetch: impl AsyncFnOnce(&Object) -> TxResult<(i64, Option<T>)>,
        put: impl FnOnce(&mut ConfigCache, Option<T>),
    ) -> Result<Option<T>> {
        let Some((asked, _)) = crate::config::current() else {
            let c = self.raw_client().await?;
            return Ok(fetch(&c).await?.1);
        };
        {
            let cache = self.config_cache();
            if cache.version >= 0 && asked.is_none_or(|v| v == cache.version) {
                if let Some(hit) = get(&cache) {
                    if asked.is_none() {
                        crate::config::answered_at(cache.version, false);
                    }
                    return Ok(hit);
                }
            }
        }
        let c = self.raw_client().await?;
        let (version, row) = fetch(&c).await?;
        if asked.is_some_and(|v| v != version) {
            return Err(self.stale(version));
        }
        crate::config::answered_at(version, true);
        let mut cache = self.config_cache();
        let cache = cache.at(version);
        if cache.version == version {
            put(cache, row.clone());
        }
        Ok(row)
    }

    async fn migrate(&self) -> Result<()> {
        // READ COMMITTED whatever the URL says: each statement must see what was committed before
        // the advisory lock was granted (at REPEATABLE READ or SERIALIZABLE the snapshot would be
        // older than the lock, and a second instance would apply the migrations again).
        transaction!(self, IsolationLevel::ReadCommitted, false, |tx| {
            // Every read and write goes to the server of the URL; a standby (a read replica)
            // would serve stale reads and refuse the writes: refuse it now, clearly.
            let standby: bool = tx
                .query_one("SELECT pg_is_in_recovery()", &[])
                .await?
                .try_get(0)?;
            if standby {
                return Err(StoreError::Invalid(
                    "the database is a read-only standby; loket needs the primary".into(),
                )
                .into());
            }
            // Instances starting together take turns; the second finds everything applied.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
                &[&MIGRATION_LOCK],
            )
            .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await?;
            for (version, sql) in MIGRATIONS {
                let done: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
                        &[version],
                    )
                    .await?
                    .try_get(0)?;
                if !done {
                    tx.batch_execute(sql).await?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        &[version, &loket_core::jakarta::now()],
                    )
                    .await?;
                    tracing::info!(version, "postgres: migration applied");
                }
            }
        })
    }

    pub async fn ping(&self) -> Result<()> {
        let c = self.client().await?;
        c.simple_query("SELECT 1").await.map_err(pg_err)?;
        Ok(())
    }

    pub async fn balance(&self, member_id: i64, side: Side) -> Result<loket_core::Balance> {
        let c = self.client().await?;
        let r: TxResult<_> = async {
            let account = member_account(&c, member_id, side).await?;
            account_balance(&c, account).await
        }
        .await;
        Ok(r?)
    }

    pub async fn account_balance_by_code(&self, code: String) -> Result<Option<i64>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT credits_posted - debits_posted FROM account_balances WHERE code = $1",
            )
            .await
            .map_err(pg_err)?;
        let row = c.query_opt(&st, &[&code]).await.map_err(pg_err)?;
        row.map(|r| r.try_get(0)).transpose().map_err(pg_err)
    }

    pub async fn deposit(
        &self,
        member_id: i64,
        side: Side,
        amount: loket_core::Rupiah,
    ) -> Result<loket_core::Balance> {
        if amount.get() <= 0 {
            return Err(StoreError::Invalid("a deposit must be positive".into()));
        }
        transaction!(self, |tx| {
            let account = member_account(&tx, member_id, side).await?;
            let external = account_id(&tx, external_code(side)).await?;
            transfer(&tx, external, account, amount.get(), "deposit", None).await?;
            account_balance(&tx, account).await?
        })
    }

    /// Replay the journal against one snapshot (REPEATABLE READ, read only) of accounts, journal
    /// and payments: writers are not blocked meanwhile.
    pub async fn verify_ledger(&self) -> Result<LedgerReport> {
        transaction!(self, IsolationLevel::RepeatableRead, true, |tx| {
            verify_snapshot(&tx).await?
        })
    }
}

async fn verify_snapshot(c: &impl GenericClient) -> TxResult<LedgerReport> {
    let mut accounts = Vec::new();
    for r in c
        .query(
            "SELECT id, code, kind, debits_posted, credits_posted, debits_pending, credits_pending FROM account_balances",
            &[],
        )
        .await?
    {
        let kind: String = r.try_get(2)?;
        accounts.push(AccountRow {
            id: r.try_get(0)?,
            code: r.try_get(1)?,
            is_member: kind.starts_with("member"),
            sums: Sums {
                debits_posted: r.try_get(3)?,
                credits_posted: r.try_get(4)?,
                debits_pending: r.try_get(5)?,
                credits_pending: r.try_get(6)?,
            },
        });
    }
    let mut journal = Vec::new();
    for r in c
        .query(
            "SELECT id, debit_account, credit_account, amount, kind, pending_id FROM transfers ORDER BY id",
            &[],
        )
        .await?
    {
        let kind: String = r.try_get(4)?;
        journal.push(JournalRow {
            id: r.try_get(0)?,
            debit: r.try_get(1)?,
            credit: r.try_get(2)?,
            amount: r.try_get(3)?,
            kind: TransferKind::parse(&kind).unwrap_or(TransferKind::Single),
            pending_id: r.try_get(5)?,
        });
    }
    let mut payments = Vec::new();
    for r in c
        .query("SELECT id, state, amount, hold_id FROM payments", &[])
        .await?
    {
        payments.push(PaymentRow {
            id: r.try_get(0)?,
            state: r.try_get(1)?,
            amount: r.try_get(2)?,
            hold_id: r.try_get(3)?,
        });
    }
    Ok(ledger::verify(&accounts, &journal, &payments))
}

pub(crate) fn external_code(side: Side) -> &'static str {
    match side {
        Side::Live => "external",
        Side::Sandbox => "sandbox:external",
    }
}

pub(crate) async fn account_id(c: &impl GenericClient, code: &str) -> TxResult<i64> {
    let st = c
        .prepare_cached("SELECT id FROM accounts WHERE code = $1")
        .await?;
    match c.query_opt(&st, &[&code]).await? {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(StoreError::NotFound("account").into()),
    }
}

pub(crate) async fn member_account(
    c: &impl GenericClient,
    member_id: i64,
    side: Side,
) -> TxResult<i64> {
    let sql = match side {
        Side::Live => "SELECT live_account FROM members WHERE id = $1",
        Side::Sandbox => "SELECT sandbox_account FROM members WHERE id = $1",
    };
    let st = c.prepare_cached(sql).await?;
    match c.query_opt(&st, &[&member_id]).await? {
        Some(r) => Ok(r.try_get(0)?),
        None => Err(StoreError::NotFound("member").into()),
    }
}

/// A member account's balance (members' sums are their row; house accounts' are sharded, see
/// `account_balances`).
pub(crate) async fn account_balance(
    c: &impl GenericClient,
    account: i64,
) -> TxResult<loket_core::Balance> {
    let st = c
        .prepare_cached(
            "SELECT credits_posted - debits_posted, debits_pending FROM accounts WHERE id = $1",
        )
        .await?;
    let r = c.query_one(&st, &[&account]).await?;
    Ok(loket_core::Balance {
        balance: loket_core::Rupiah::new(r.try_get(0)?),
        held: loket_core::Rupiah::new(r.try_get(1)?),
    })
}

/// Append a posted transfer and move both accounts' cached sums (`loket_transfer`), in the
/// caller's transaction. An overdraft of a member fails the accounts CHECK:
/// [`StoreError::InsufficientBalance`].
pub(crate) async fn transfer(
    c: &impl GenericClient,
    debit: i64,
    credit: i64,
    amount: i64,
    reason: &str,
    reference: Option<&str>,
) -> TxResult<i64> {
    debug_assert!(amount > 0);
    let st = c
        .prepare_cached("SELECT loket_transfer($1, $2, $3, $4, $5, $6)")
        .await?;
    let r = c
        .query_one(
            &st,
            &[
                &debit,
                &credit,
                &amount,
                &reason,
                &reference,
                &loket_core::jakarta::now(),
            ],
        )
        .await?;
    Ok(r.try_get(0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loket_parameters_are_taken_out_of_the_url() {
        let (url, p) = split_url(
            "postgres://u@h:5432/db?pool_max_size=4&options=-c%20search_path%3Ds&pool_timeout_secs=2&isolation=serializable&group_commit=3&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u@h:5432/db?options=-c%20search_path%3Ds&connect_timeout=3"
        );
        assert_eq!(p.pool_size, 4);
        assert_eq!(p.pool_timeout, Duration::from_secs(2));
        assert!(matches!(p.isolation, IsolationLevel::Serializable));
        assert_eq!(p.group_commit, 3);

        let (url, p) = split_url("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(
            (p.pool_size, p.pool_timeout, p.group_commit),
            (
                DEFAULT_POOL_SIZE,
                DEFAULT_POOL_TIMEOUT,
                DEFAULT_GROUP_COMMIT
            )
        );
        assert_eq!(
            split_url("postgres://h/db?group_commit=0")
                .unwrap()
                .1
                .group_commit,
            0
        );
        for bad in [
            "postgres://h/db?pool_timeout_secs=0",
            "postgres://h/db?pool_timeout_secs=soon",
            "postgres://h/db?pool_max_size=0",
            "postgres://h/db?isolation=chaos",
            "postgres://h/db?group_commit=many",
            "postgres://h/db?group_commit=65",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
