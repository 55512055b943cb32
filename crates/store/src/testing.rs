//! Which database a test runs on, and a fresh one for each test (feature `testing`: the
//! workspace's own tests, never the server).
//!
//! This is the one place that decides it. [`database_url`] answers a fresh, empty database of the
//! backend selected for the running test:
//! - SQLite: a file in the test's temporary directory.
//! - PostgreSQL, on the server named by `LOKET_TEST_DATABASE_URL` (for example
//!   `postgres://postgres@127.0.0.1:5432/test`): a schema of its own, `loket_test_<unix
//!   time>_<random>`, created here and selected with the URL's `options=-c search_path=...`. It is
//!   dropped when the test ends ([`run`], [`run_sync`]); schemas left behind by a killed run are
//!   dropped by a later run once they are [`STALE_SECS`] old.
//!
//! Tests written with `#[loket_test_macros::each_backend]` run once per backend, through [`run`]
//! or [`run_sync`], which select the backend for the test's thread. Elsewhere (a plain
//! `#[tokio::test]`), the backend is PostgreSQL when `LOKET_TEST_DATABASE_URL` is set and SQLite
//! otherwise.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The environment variable that names the PostgreSQL server tests use.
pub const URL_VAR: &str = "LOKET_TEST_DATABASE_URL";
/// Test schemas older than this are dropped by the next test run that creates one.
pub const STALE_SECS: i64 = 3 * 3600;
/// The prefix of every test schema's name.
pub const SCHEMA_PREFIX: &str = "loket_test_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// As `Store::backend` names it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The runtime an async test runs on, as `#[tokio::test]` would build it.
#[derive(Debug, Clone, Copy)]
pub enum Flavor {
    CurrentThread,
    MultiThread(usize),
}

thread_local! {
    static CURRENT: Cell<Option<Backend>> = const { Cell::new(None) };
    /// Schemas created on this thread by the running test, dropped when it ends: the directory
    /// each was made for, the server's URL, the schema.
    static SCHEMAS: RefCell<Vec<(PathBuf, String, String)>> = const { RefCell::new(Vec::new()) };
}

/// `LOKET_TEST_DATABASE_URL`, when set and not empty.
pub fn postgres_url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// The backend of the running test.
pub fn backend() -> Backend {
    CURRENT.with(Cell::get).unwrap_or_else(|| {
        if postgres_url().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    })
}

/// A fresh database for one test, that belongs with the test's temporary directory `dir`:
/// SQLite in `dir`, or a new schema on the PostgreSQL server. Asked again for the same `dir`
/// (a test that reopens its database), it answers the same database.
pub fn database_url(dir: &Path) -> String {
    match backend() {
        Backend::Sqlite => format!("sqlite://{}/loket.db", dir.display()),
        Backend::Postgres => {
            let base = postgres_url()
                .unwrap_or_else(|| panic!("a PostgreSQL test needs {URL_VAR} set at run time"));
            let known = SCHEMAS.with(|s| {
                s.borrow()
                    .iter()
                    .find(|(d, b, _)| d == dir && *b == base)
                    .map(|(_, _, schema)| schema.clone())
            });
            let schema = match known {
                Some(schema) => schema,
                None => {
                    let schema = new_schema(&base);
                    SCHEMAS.with(|s| {
                        s.borrow_mut()
                            .push((dir.to_path_buf(), base.clone(), schema.clone()))
                    });
                    schema
                }
            };
            with_search_path(&base, &schema)
        }
    }
}

/// Run an async test on `backend`, on a fresh runtime of `flavor`; its PostgreSQL schemas are
/// dropped afterwards, whether it passed or not.
pub fn run<F, Fut>(backend: Backend, flavor: Flavor, test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let _scope = Scope::enter(backend);
    let rt = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Flavor::MultiThread(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .expect("a tokio runtime");
    rt.block_on(test());
    // The runtime (its servers, pools and connections) goes before the scope drops the schemas.
    drop(rt);
}

/// Run a synchronous test (one that starts the `loket` binary, say) on `backend`.
pub fn run_sync(backend: Backend, test: impl FnOnce()) {
    let _scope = Scope::enter(backend);
    test();
}

/// The backend selected for this thread while a test runs.
struct Scope {
    previous: Option<Backend>,
}

impl Scope {
    fn enter(backend: Backend) -> Scope {
        if backend == Backend::Postgres && postgres_url().is_none() {
            panic!("this test was built for PostgreSQL but {URL_VAR} is not set now");
        }
        Scope {
            previous: CURRENT.with(|c| c.replace(Some(backend))),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        let schemas = SCHEMAS.with(|s| std::mem::take(&mut *s.borrow_mut()));
        for (_, base, schema) in schemas {
            // Best effort: a schema that cannot be dropped now is swept by a later run.
            if let Err(e) = admin(
                &base,
                format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE"),
            ) {
                eprintln!("note: test schema {schema} not dropped: {e}");
            }
        }
    }
}

/// Run `sql` (one or more statements, no results) straight on the database at `url`, behind the
/// store's back: for tests that damage a ledger on purpose, say. Blocks; callable from inside a
/// runtime.
pub fn execute_sql(url: &str, sql: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return admin(url, sql.to_string());
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| format!("not a database URL: {url}"))?;
    let c = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    c.execute_batch(sql).map_err(|e| e.to_string())
}

/// The first row of `sql` (a query without parameters, in the SQL both backends speak) on the
/// database at `url`, its columns read as integers; `None` when there is no row. Read behind the
/// store's back, on a connection of its own: for tests that look at what the API does not show.
/// Blocks; callable from inside a runtime.
pub fn query_row(url: &str, sql: &str) -> Result<Option<Vec<i64>>, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let base = crate::postgres::split_url(url)
            .map_err(|e| e.to_string())?
            .0;
        let sql = sql.to_string();
        return std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                let conn = tokio::spawn(conn);
                let r = client.query_opt(&sql, &[]).await.map_err(|e| e.to_string());
                drop(client);
                let _ = conn.await;
                let Some(row) = r? else { return Ok(None) };
                (0..row.len())
                    .map(|i| row.try_get::<_, i64>(i).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            })
        })
        .join()
        .map_err(|_| "the query thread panicked".to_string())?;
    }
    use rusqlite::OptionalExtension;
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| format!("not a database URL: {url}"))?;
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    c.query_row(sql, [], |r| {
        (0..r.as_ref().column_count())
            .map(|i| r.get::<_, i64>(i))
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .optional()
    .map_err(|e| e.to_string())
}

/// Connections per store in tests: tests run in parallel, some with several stores (and several
/// `loket` processes), and the server's `max_connections` is 100 by default.
pub const TEST_POOL_SIZE: usize = 8;

/// `base` with `options=-c search_path=SCHEMA` added (percent-encoded, as libpq URLs want it),
/// and a pool of [`TEST_POOL_SIZE`] unless `base` sets one.
pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    let pool = if base.contains("pool_max_size=") {
        String::new()
    } else {
        format!("&pool_max_size={TEST_POOL_SIZE}")
    };
    format!("{base}{sep}options=-c%20search_path%3D{schema}{pool}")
}

/// Create a new, empty schema on the server at `base`; answer its name.
fn new_schema(base: &str) -> String {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        if let Err(e) = admin(base, sweep_sql()) {
            eprintln!("note: old test schemas not swept: {e}");
        }
    });
    let schema = format!(
        "{SCHEMA_PREFIX}{}_{}",
        loket_core::jakarta::now(),
        crate::random_hex(6)
    );
    admin(base, format!("CREATE SCHEMA {schema}"))
        .unwrap_or_else(|e| panic!("cannot create a test schema on {URL_VAR}'s server: {e}"));
    schema
}

/// Drop the test schemas older than [`STALE_SECS`] (left by killed runs).
fn sweep_sql() -> String {
    let cutoff = loket_core::jakarta::now() - STALE_SECS;
    format!(
        r"SET lock_timeout = '2s';
DO $$
DECLARE s text;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^{SCHEMA_PREFIX}[0-9]+_[0-9a-f]+$'
            AND split_part(substr(nspname, {start}), '_', 1)::bigint < {cutoff}
    LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', s);
    END LOOP;
END
$$;",
        start = SCHEMA_PREFIX.len() + 1
    )
}

/// Run `sql` on its own connection to `base`, from a thread of its own (callers may be inside a
/// runtime already).
fn admin(base: &str, sql: String) -> Result<(), String> {
    // Without loket's own URL parameters, which the client library does not know.
    let base = crate::postgres::split_url(base)
        .map_err(|e| e.to_string())?
        .0;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let conn = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = conn.await;
            r
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

/// A sandbox IAK quote of PLNPOSTPAID for tests: `selling_price` charged (admin 2,500 of it),
/// `cost` owed to the biller, valid for a year. Tests change the fields they care about.
pub fn sandbox_quote(
    member_id: i64,
    ref_id: &str,
    selling_price: i64,
    cost: i64,
) -> loket_core::Quote {
    use loket_core::{Mode, Protocol, Quote, Rupiah};
    let created_at = loket_core::jakarta::now();
    Quote {
        tr_id: 0,
        member_id,
        mode: Mode::Sandbox,
        protocol: Protocol::Iak,
        ref_id: ref_id.to_string(),
        code: "PLNPOSTPAID".to_string(),
        hp: "530000000001".to_string(),
        name: "PELANGGAN UJI".to_string(),
        period: "202501".to_string(),
        nominal: Rupiah::new(selling_price - 2_500),
        admin: Rupiah::new(2_500),
        price: Rupiah::new(selling_price),
        selling_price: Rupiah::new(selling_price),
        cost: Rupiah::new(cost),
        sheets: 1,
        desc: serde_json::json!({}).into(),
        paid_desc: serde_json::json!({}).into(),
        biller: "sandbox".to_string(),
        biller_ref: None,
        upstream_code: None,
        upstream_ref_id: None,
        scenario: None,
        noref: String::new(),
        created_at,
        expires_at: created_at + 365 * 86_400,
    }
}
