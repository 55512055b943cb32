//! SQLite backend. One writer thread owns the only write connection and commits jobs in batches
//! (group commit: every job of a batch is answered only after the batch's `COMMIT`); readers use
//! a small pool of WAL read connections. `synchronous=FULL`: an answered write survives a crash.

mod members;
mod payments;
mod products;
mod quotes;
mod upstreams;
mod webhooks;

use crate::config::ConfigCache;
use crate::ledger::{self, AccountRow, JournalRow, PaymentRow, Side, Sums, TransferKind};
use crate::{LedgerReport, Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// Most write jobs waiting for the writer; senders wait (backpressure) beyond it.
const WRITE_QUEUE: usize = 16_384;
/// Most idle read connections kept.
const MAX_IDLE_READERS: usize = 16;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_upstream_http.sql"),
    ),
];

type Finish = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn for<'c> FnOnce(&Writer<'c>) -> Finish + Send>;

/// What a write job runs on: the writer thread's connection, and the statements the writer keeps
/// prepared for its whole life. A statement from rusqlite's cache (`prepare_cached`) hashes its
/// SQL text when taken and again when given back; for the quote's 400-byte INSERT, the statement
/// of every sandbox inquiry, keeping it took the writer's job from 30.5k to 29.2k instructions
/// per inquiry (callgrind, docs/performance.md, round 11).
pub(crate) struct Writer<'c> {
    pub(crate) conn: &'c Connection,
    quote_insert: std::cell::RefCell<Option<rusqlite::Statement<'c>>>,
}

impl<'c> Writer<'c> {
    fn new(conn: &'c Connection) -> Writer<'c> {
        Writer {
            conn,
            quote_insert: std::cell::RefCell::new(None),
        }
    }

    /// Run `f` with the quote INSERT ([`quotes::QUOTE_INSERT`]), prepared on first use and kept.
    pub(crate) fn with_quote_insert<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Statement<'c>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut slot = self.quote_insert.borrow_mut();
        let st = match slot.as_mut() {
            Some(st) => st,
            None => slot.insert(self.conn.prepare(quotes::QUOTE_INSERT)?),
        };
        f(st)
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    config: Mutex<ConfigCache>,
}

impl Inner {
    /// Run `f` on a pooled read connection (opened when none is idle), returned to the pool after.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path, false).map_err(db_err)?,
        };
        let r = catch_unwind(AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| Err(StoreError::Database("a read job panicked".into())));
        if let Ok(mut v) = self.readers.lock() {
            if v.len() < MAX_IDLE_READERS {
                v.push(conn);
            }
        }
        r
    }
}

pub(crate) fn config_version(c: &Connection) -> Result<i64> {
    query_row(
        c,
        "SELECT version FROM config_version WHERE id = 1",
        [],
        |r| r.get(0),
    )
    .map_err(db_err)
}

/// Run one statement through the connection's prepared-statement cache: parsing SQL was the
/// largest single cost in profiles (docs/performance.md).
pub(crate) fn exec(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache.
pub(crate) fn query_row<T>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(params, f)
}

/// Attempts to open a database that another process is creating at the same moment.
const OPEN_RETRIES: u32 = 50;

/// Cached statements per connection: every distinct statement loket runs fits.
const STATEMENT_CACHE: usize = 256;

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn open_conn(path: &PathBuf, write: bool) -> rusqlite::Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if write {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool = query_row(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, loket_core::jakarta::now()],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// How often the checkpointer copies the WAL back into the database file. Often, so that each
/// pass writes little: on this kind of virtual disk every fsync (the writer's commits included)
/// waits for whatever the checkpoint wrote before it. At 15,000 inquiries/s, 100 ms passes gave
/// commits over 10 ms 2-15 times per 11 s run, 20 ms passes 0-1 times, at the same throughput
/// (docs/performance.md, round 12).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// WAL frames (4 KiB pages) beyond which the writer is asked to finish the checkpoint itself so
/// that the WAL starts over (32 MiB). Each time costs the writer one checkpoint that every write
/// queued behind it waits for (the frames the checkpointer left and two fsyncs; see
/// [`checkpoint_loop`]): at 2,048 frames that came three times a second at 3,000 payments/s, at
/// 8,192 under once.
const WAL_REWIND_FRAMES: i64 = 8192;

/// Bytes a rewound WAL file is truncated to (SQLite's `journal_size_limit`): above the WAL's
/// usual peak, so the file is overwritten in place rather than shrunk and grown again (a file
/// that keeps its size costs each commit's fsync no metadata).
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Catch-up passes at most before the writer is asked to rewind (see [`checkpoint_loop`]).
const CATCH_UP_PASSES: usize = 8;

/// A catch-up pass that copied at most this many new frames and left at most as many behind ends
/// the catch-up ([`caught_up`]): what the writer is left to copy is about as much again.
const CAUGHT_UP_FRAMES: i64 = 64;

/// Checkpoint the WAL (PASSIVE: never waits for the writer or readers, copies what it can) until
/// the store is dropped.
///
/// A PASSIVE checkpoint alone cannot bound the WAL under steady load: SQLite starts the WAL over
/// only when a write transaction begins with every frame already copied, and the writer appends
/// new frames while the checkpointer copies, so that moment never comes (measured: 145 MB of WAL
/// after 12 s of 2,000 inquiries/s, and every checkpoint sorting a longer WAL index). So once
/// the WAL holds [`WAL_REWIND_FRAMES`], the writer is asked (`rewind`) to copy the frames left
/// between two batches, when nothing else can append; its next transaction then rewinds.
///
/// Every write waits while the writer copies, so before asking, the checkpointer catches up: it
/// copies again what arrived during its last pass, until a pass finds little and leaves little
/// behind ([`caught_up`]). The writer is then left with a few frames and two fsyncs, not a whole
/// pass's frames (with passes every 100 ms and no catch-up: 4-5 ms at the median, up to 18 ms,
/// twice a second at 15,000 inquiries/s; now 1-3 ms, at most 5.6; docs/performance.md, round 12).
fn checkpoint_loop(
    conn: Connection,
    store: std::sync::Weak<Inner>,
    rewind: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        // After the store is dropped, one last checkpoint leaves a short WAL behind.
        let last = store.strong_count() == 0;
        match checkpoint(&conn) {
            Ok(Some(wal)) if wal.frames >= WAL_REWIND_FRAMES => {
                // Not when the WAL started over meanwhile: the writer would sync twice for nothing.
                if catch_up(&conn, wal).frames >= WAL_REWIND_FRAMES {
                    rewind.store(true, std::sync::atomic::Ordering::Relaxed)
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        if last {
            return;
        }
    }
}

/// Checkpoint again until [`caught_up`] (at most [`CATCH_UP_PASSES`] times), from the pass that
/// found `wal`; the WAL after the last pass that ran.
fn catch_up(conn: &Connection, mut wal: WalFrames) -> WalFrames {
    for _ in 0..CATCH_UP_PASSES {
        match checkpoint(conn) {
            Ok(Some(next)) => {
                let done = caught_up(wal, next);
                wal = next;
                if done {
                    break;
                }
            }
            // Another checkpoint is running (the writer's): it copies what is left.
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                break;
            }
        }
    }
    wal
}

/// Is a catch-up done after a pass that found `next`, the pass before having found `before`?
/// Yes when the pass copied at most [`CAUGHT_UP_FRAMES`] new frames (about what arrived while
/// it ran, so about what the writer will be left with) and left at most as many behind (a
/// reader's snapshot can hold a pass back), or when the WAL started over in between.
fn caught_up(before: WalFrames, next: WalFrames) -> bool {
    let restarted = next.copied < before.copied || next.frames < before.frames;
    let new = next.copied - before.copied;
    let behind = next.frames - next.copied;
    restarted || (new <= CAUGHT_UP_FRAMES && behind <= CAUGHT_UP_FRAMES)
}

/// The WAL after a checkpoint.
#[derive(Debug, Clone, Copy)]
struct WalFrames {
    /// Frames in the WAL.
    frames: i64,
    /// Of which copied into the database file.
    copied: i64,
}

/// One PASSIVE checkpoint: the WAL afterwards (`None` when another checkpoint was running).
fn checkpoint(conn: &Connection) -> rusqlite::Result<Option<WalFrames>> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        let busy: i64 = r.get(0)?;
        Ok((busy == 0).then_some(WalFrames {
            frames: r.get(1)?,
            copied: r.get(2)?,
        }))
    })
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    rewind: Arc<std::sync::atomic::AtomicBool>,
) {
    let writer = Writer::new(&conn);
    while let Some(first) = rx.blocking_recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        BATCH_CONFIG_VERSION.with(|b| b.set(None));
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE", []) {
            tracing::error!(error = %e, "cannot begin a write transaction");
            // Each job still gets an answer: run none, fail all.
            for job in batch {
                drop(job);
            }
            continue;
        }
        let finishers: Vec<Finish> = batch.into_iter().map(|job| job(&writer)).collect();
        let committed = match exec(&conn, "COMMIT", []) {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                forget_accounts();
                false
            }
        };
        for finish in finishers {
            finish(committed);
        }
        // Between batches nothing else appends to the WAL: a checkpoint here copies what the
        // checkpointer could not reach yet, so the next transaction starts the WAL over.
        if rewind.swap(false, std::sync::atomic::Ordering::Relaxed) {
            match checkpoint(&conn) {
                // Another checkpoint held the lock: ask again after the next batch.
                Ok(None) => rewind.store(true, std::sync::atomic::Ordering::Relaxed),
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint on the writer failed"),
            }
        }
    }
}

impl SqliteStore {
    pub async fn open(path: &str) -> Result<SqliteStore> {
        let path = PathBuf::from(path);
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
            // Setting WAL on a brand-new file can answer SQLITE_BUSY without calling the busy
            // handler when several processes open it at once: retry, bounded.
            let mut attempt = 0;
            loop {
                let opened =
                    open_conn(&p, true).and_then(|mut conn| migrate(&mut conn).map(|_| conn));
                match opened {
                    Err(rusqlite::Error::SqliteFailure(f, _))
                        if f.code == rusqlite::ErrorCode::DatabaseBusy
                            && attempt < OPEN_RETRIES =>
                    {
                        attempt += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    other => return other,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
        .map_err(db_err)?;
        // Checkpoints run on their own thread (below), not inside the writer's commits, where
        // each one (copying the WAL back and an fsync of the database file) stalled every job
        // queued behind it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(db_err)?;
        let rewind = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Job>(WRITE_QUEUE);
        let writer_rewind = rewind.clone();
        std::thread::Builder::new()
            .name("loket-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, writer_rewind))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: tx,
                readers: Mutex::new(Vec::new()),
                config: Mutex::new(ConfigCache::new()),
            }),
        };
        let checkpointer = open_conn(&store.inner.path, true).map_err(db_err)?;
        let weak = Arc::downgrade(&store.inner);
        std::thread::Builder::new()
            .name("loket-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpointer, weak, rewind))
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(store)
    }

    /// Run `f` inside the writer's transaction; answered after the commit. An `Err` from `f` rolls
    /// back `f`'s own changes only (a savepoint), never its batch-mates'.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.write_job(true, move |w: &Writer<'_>| f(w.conn)).await
    }

    /// [`SqliteStore::write`] for a job that is one SQL statement: SQLite undoes a failed
    /// statement by itself, so it needs no savepoint (two statements fewer per job). It runs on
    /// the [`Writer`], with its kept statements.
    pub(crate) async fn write_statement<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&Writer<'c>) -> Result<T> + Send + 'static,
    {
        self.write_job(false, f).await
    }

    async fn write_job<T, F>(&self, savepoint: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&Writer<'c>) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        // Inside a request answered from the config cache: the writer checks its version first,
        // in the batch's transaction (crate::config); a stale one writes nothing.
        let expected = crate::config::unconfirmed();
        let job: Job = Box::new(move |w: &Writer<'_>| {
            let conn = w.conn;
            let run = move || {
                if let Some(v) = expected {
                    match batch_config_version(conn) {
                        Ok(current) if current == v => {}
                        Ok(_) => return Err(StoreError::Stale),
                        Err(e) => return Err(e),
                    }
                }
                catch_unwind(AssertUnwindSafe(|| f(w)))
                    .unwrap_or_else(|_| Err(StoreError::Database("a write job panicked".into())))
            };
            let result = if !savepoint {
                run()
            } else {
                match exec(conn, "SAVEPOINT job", []) {
                    Err(e) => Err(db_err(e)),
                    Ok(_) => {
                        let r = run();
                        let rollback = if r.is_ok() {
                            Ok(0)
                        } else {
                            exec(conn, "ROLLBACK TO job", [])
                        };
                        match rollback.and_then(|_| exec(conn, "RELEASE job", [])) {
                            Ok(_) => r,
                            Err(e) => Err(db_err(e)),
                        }
                    }
                }
            };
            Box::new(move |committed: bool| {
                let result = match result {
                    Ok(_) if !committed => Err(StoreError::Database("commit failed".into())),
                    other => other,
                };
                let _ = tx.send(result);
            })
        });
        self.inner
            .writer
            .send(job)
            .await
            .map_err(|_| StoreError::Database("the writer has stopped".into()))?;
        let r = rx
            .await
            .map_err(|_| StoreError::Database("the writer dropped a job".into()))?;
        self.checked(expected, r)
    }

    /// Run a point lookup `f` on a pooled read connection on the calling thread. For indexed
    /// lookups of one or a few rows (microseconds on cached pages; WAL readers never wait for the
    /// writer), a hop to the blocking pool costs more than the query (docs/performance.md).
    /// Inside a request answered from the config cache and not yet confirmed, its version is
    /// confirmed first, on the same connection (crate::config).
    pub(crate) fn lookup<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        let expected = crate::config::unconfirmed();
        let r = self.inner.with_reader(|c| {
            if let Some(v) = expected {
                if config_version(c)? != v {
                    return Err(StoreError::Stale);
                }
            }
            f(c)
        });
        self.checked(expected, r)
    }

    /// What a read or write that checked the request's `expected` version found: confirmed, or
    /// stale (the request runs again; the cache starts over).
    fn checked<T>(&self, expected: Option<i64>, r: Result<T>) -> Result<T> {
        match (&r, expected) {
            (Err(StoreError::Stale), _) => {
                crate::config::mark_stale();
                self.config_cache().forget();
            }
            (_, Some(_)) => crate::config::confirm(),
            _ => {}
        }
        r
    }

    fn config_cache(&self) -> std::sync::MutexGuard<'_, ConfigCache> {
        self.inner
            .config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` with the member/product cache as of the current `config_version`, on a pooled
    /// read connection. The version is read first, so a row read after it is at least as new.
    /// Inside [`crate::one_config_read`] the request's version, once read or confirmed, serves
    /// the rest; one taken from the cache is confirmed here first.
    pub(crate) fn with_config<T>(
        &self,
        f: impl FnOnce(&Connection, &mut ConfigCache) -> Result<T>,
    ) -> Result<T> {
        let r = self.inner.with_reader(|c| {
            let version = match crate::config::current() {
                Some((Some(v), true)) => v,
                Some((Some(v), false)) => {
                    if config_version(c)? != v {
                        return Err(StoreError::Stale);
                    }
                    crate::config::confirm();
                    v
                }
                scoped => {
                    let v = config_version(c)?;
                    if scoped.is_some() {
                        crate::config::answered_at(v, true);
                    }
                    v
                }
            };
            f(c, self.config_cache().at(version))
        });
        self.checked(None, r)
    }

    /// Inside a request: the row `get` finds in memory, without reading `config_version` and
    /// without a read connection, when the cache holds it at the version the request uses (the
    /// cache's own, unconfirmed, for its first lookup). `None`: look it up as usual.
    pub(crate) fn cached<T>(&self, get: impl FnOnce(&ConfigCache) -> Option<T>) -> Option<T> {
        let (asked, _) = crate::config::current()?;
        let cache = self.config_cache();
        if cache.version < 0 || asked.is_some_and(|v| v != cache.version) {
            return None;
        }
        let hit = get(&cache)?;
        if asked.is_none() {
            crate::config::answered_at(cache.version, false);
        }
        Some(hit)
    }

    /// Is `config_version` still `version`? One read on a pooled connection; the cache starts
    /// over when it is not.
    pub async fn config_is_current(&self, version: i64) -> Result<bool> {
        let current = self.inner.with_reader(config_version)? == version;
        if !current {
            self.config_cache().forget();
        }
        Ok(current)
    }

    /// Run `f` on a read connection in the blocking pool (scans, reports).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let expected = crate::config::unconfirmed();
        let r = tokio::task::spawn_blocking(move || {
            inner.with_reader(|c| {
                if let Some(v) = expected {
                    if config_version(c)? != v {
                        return Err(StoreError::Stale);
                    }
                }
                f(c)
            })
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?;
        self.checked(expected, r)
    }

    pub async fn ping(&self) -> Result<()> {
        self.read(|c| query_row(c, "SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    pub async fn balance(&self, member_id: i64, side: Side) -> Result<loket_core::Balance> {
        self.lookup(move |c| account_balance(c, member_account(c, member_id, side)?))
    }

    pub async fn account_balance_by_code(&self, code: String) -> Result<Option<i64>> {
        self.read(move |c| {
            use rusqlite::OptionalExtension;
            c.query_row(
                "SELECT credits_posted - debits_posted FROM accounts WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
        })
        .await
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
        self.write(move |c| {
            let account = member_account(c, member_id, side)?;
            let external = account_id(c, external_code(side))?;
            transfer(c, external, account, amount.get(), "deposit", None)?;
            account_balance(c, account)
        })
        .await
    }

    pub async fn verify_ledger(&self) -> Result<LedgerReport> {
        self.read(|c| {
            // One read transaction: a consistent snapshot of accounts, journal and payments.
            c.execute_batch("BEGIN").map_err(db_err)?;
            let r = verify_snapshot(c);
            let _ = c.execute_batch("COMMIT");
            r
        })
        .await
    }
}

fn verify_snapshot(c: &Connection) -> Result<LedgerReport> {
    let mut st = c.prepare_cached("SELECT id, code, kind, debits_posted, credits_posted, debits_pending, credits_pending FROM accounts")
        .map_err(db_err)?;
    let accounts = st
        .query_map([], |r| {
            let kind: String = r.get(2)?;
            Ok(AccountRow {
                id: r.get(0)?,
                code: r.get(1)?,
                is_member: kind.starts_with("member"),
                sums: Sums {
                    debits_posted: r.get(3)?,
                    credits_posted: r.get(4)?,
                    debits_pending: r.get(5)?,
                    credits_pending: r.get(6)?,
                },
            })
        })
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    let mut st = c.prepare_cached("SELECT id, debit_account, credit_account, amount, kind, pending_id FROM transfers ORDER BY id")
        .map_err(db_err)?;
    let journal = st
        .query_map([], |r| {
            let kind: String = r.get(4)?;
            Ok(JournalRow {
                id: r.get(0)?,
                debit: r.get(1)?,
                credit: r.get(2)?,
                amount: r.get(3)?,
                kind: TransferKind::parse(&kind).unwrap_or(TransferKind::Single),
                pending_id: r.get(5)?,
            })
        })
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    let mut st = c
        .prepare_cached("SELECT id, state, amount, hold_id FROM payments")
        .map_err(db_err)?;
    let payments = st
        .query_map([], |r| {
            Ok(PaymentRow {
                id: r.get(0)?,
                state: r.get(1)?,
                amount: r.get(2)?,
                hold_id: r.get(3)?,
            })
        })
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    Ok(ledger::verify(&accounts, &journal, &payments))
}

pub(crate) fn external_code(side: Side) -> &'static str {
    match side {
        Side::Live => "external",
        Side::Sandbox => "sandbox:external",
    }
}

thread_local! {
    /// The writer's `config_version` in the current batch's transaction, read by the first job
    /// that checks it (see [`batch_config_version`]).
    static BATCH_CONFIG_VERSION: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// `config_version` as the writer's current transaction sees it. Read once per batch: after
/// `BEGIN IMMEDIATE` no other process can commit until this batch has, so the value holds for the
/// whole batch. A job of the same batch that changes a member or product (this process's own
/// writes) moves it after the read; a request checked against the batch's first value is then
/// ordered before that change, which is consistent since both were in flight together and
/// become visible in the same commit.
pub(crate) fn batch_config_version(c: &Connection) -> Result<i64> {
    if let Some(v) = BATCH_CONFIG_VERSION.with(std::cell::Cell::get) {
        return Ok(v);
    }
    let v = config_version(c)?;
    BATCH_CONFIG_VERSION.with(|b| b.set(Some(v)));
    Ok(v)
}

thread_local! {
    /// Account ids by code, as the writer thread has seen them committed: accounts are never
    /// deleted and their ids never change. Only ids known to predate the current transaction go
    /// in; the writer forgets them all when a commit fails (docs/performance.md).
    static ACCOUNT_IDS: std::cell::RefCell<std::collections::HashMap<String, i64>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Most account ids [`ACCOUNT_IDS`] keeps (house accounts and upstreams: a handful).
const ACCOUNT_IDS_MAX: usize = 1024;

pub(crate) fn known_account(code: &str) -> Option<i64> {
    ACCOUNT_IDS.with(|m| m.borrow().get(code).copied())
}

pub(crate) fn remember_account(code: String, id: i64) {
    ACCOUNT_IDS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < ACCOUNT_IDS_MAX {
            m.insert(code, id);
        }
    });
}

fn forget_accounts() {
    ACCOUNT_IDS.with(|m| m.borrow_mut().clear());
}

/// [`account_id`] for the accounts the migration creates (they predate every transaction).
pub(crate) fn cached_account_id(c: &Connection, code: &str) -> Result<i64> {
    if let Some(id) = known_account(code) {
        return Ok(id);
    }
    let id = account_id(c, code)?;
    remember_account(code.to_string(), id);
    Ok(id)
}

pub(crate) fn account_id(c: &Connection, code: &str) -> Result<i64> {
    query_row(c, "SELECT id FROM accounts WHERE code = ?1", [code], |r| {
        r.get(0)
    })
    .map_err(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("account"),
        e => db_err(e),
    })
}

/// The `members` column holding the member's account on `side`.
pub(crate) fn member_account_column(side: Side) -> &'static str {
    match side {
        Side::Live => "live_account",
        Side::Sandbox => "sandbox_account",
    }
}

/// A member row's read error: no row is [`StoreError::NotFound`].
pub(crate) fn member_read_err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("member"),
        e => db_err(e),
    }
}

pub(crate) fn member_account(c: &Connection, member_id: i64, side: Side) -> Result<i64> {
    let col = member_account_column(side);
    query_row(
        c,
        &format!("SELECT {col} FROM members WHERE id = ?1"),
        [member_id],
        |r| r.get(0),
    )
    .map_err(member_read_err)
}

pub(crate) fn account_balance(c: &Connection, account: i64) -> Result<loket_core::Balance> {
    query_row(
        c,
        "SELECT credits_posted - debits_posted, debits_pending FROM accounts WHERE id = ?1",
        [account],
        |r| {
            Ok(loket_core::Balance {
                balance: loket_core::Rupiah::new(r.get(0)?),
                held: loket_core::Rupiah::new(r.get(1)?),
            })
        },
    )
    .map_err(db_err)
}

/// Append a posted transfer and move both cached balances, in the caller's transaction.
pub(crate) fn transfer(
    c: &Connection,
    debit: i64,
    credit: i64,
    amount: i64,
    reason: &str,
    reference: Option<&str>,
) -> Result<i64> {
    debug_assert!(amount > 0);
    exec(
        c,
        "UPDATE accounts SET debits_posted = debits_posted + ?2 WHERE id = ?1",
        rusqlite::params![debit, amount],
    )
    .map_err(check_err)?;
    exec(
        c,
        "UPDATE accounts SET credits_posted = credits_posted + ?2 WHERE id = ?1",
        rusqlite::params![credit, amount],
    )
    .map_err(check_err)?;
    exec(c,
        "INSERT INTO transfers (debit_account, credit_account, amount, kind, reason, reference, created_at) VALUES (?1, ?2, ?3, 'single', ?4, ?5, ?6)",
        rusqlite::params![debit, credit, amount, reason, reference, loket_core::jakarta::now()],
    )
    .map_err(db_err)?;
    Ok(c.last_insert_rowid())
}

/// A CHECK constraint failing on `accounts` means the move would overdraw a member.
pub(crate) fn check_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::InsufficientBalance
        }
        _ => db_err(e),
    }
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of 2 KB, each in a transaction of its own: a frame or two each.
    fn append(conn: &Connection, rows: usize) {
        for _ in 0..rows {
            conn.execute("INSERT INTO t (v) VALUES (zeroblob(2000))", [])
                .unwrap();
        }
    }

    /// A pass that could not copy everything (a reader held an older snapshot) is followed by
    /// more passes until the WAL is copied: the writer is left with nothing to copy, and its next
    /// transaction starts the WAL over.
    #[test]
    fn catch_up_copies_what_the_first_pass_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let writer = open_conn(&path, true).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (v BLOB);")
            .unwrap();
        append(&writer, 100);
        let reader = open_conn(&path, false).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        append(&writer, 200);

        let checkpointer = open_conn(&path, true).unwrap();
        let first = checkpoint(&checkpointer).unwrap().unwrap();
        assert!(
            first.copied + CAUGHT_UP_FRAMES < first.frames,
            "the reader's snapshot must hold the first pass back: {first:?}"
        );
        reader.execute_batch("COMMIT").unwrap();

        let last = catch_up(&checkpointer, first);
        assert_eq!(last.copied, last.frames, "{last:?}");
        // Every frame copied: the writer's next transaction starts the WAL over (the rewind).
        append(&writer, 1);
        let after = checkpoint(&checkpointer).unwrap().unwrap();
        assert!(
            after.frames < 8,
            "the WAL did not start over: {first:?}, then {after:?}"
        );
    }

    fn wal(frames: i64, copied: i64) -> WalFrames {
        WalFrames { frames, copied }
    }

    #[test]
    fn a_catch_up_ends_when_a_pass_found_little_new_and_left_little_behind() {
        // The writer appended 3,000 frames during the last pass: go on.
        assert!(!caught_up(wal(9_000, 9_000), wal(12_000, 12_000)));
        // 40 new frames, all copied: done.
        assert!(caught_up(wal(9_000, 9_000), wal(9_040, 9_040)));
        // Few new frames copied, but a reader held 2,000 back: go on.
        assert!(!caught_up(wal(9_000, 7_000), wal(9_050, 7_010)));
        // A pass that copied nothing new while nothing is behind: done.
        assert!(caught_up(wal(9_000, 9_000), wal(9_000, 9_000)));
        // The WAL started over between the passes: nothing of the old one is left to copy.
        assert!(caught_up(wal(9_000, 9_000), wal(300, 300)));
        assert!(caught_up(wal(9_000, 8_000), wal(9_000, 120)));
    }
}
