//! The disk ceiling: durable SQLite commits from one writer, with loket's pragmas
//! (`journal_mode=WAL`, `synchronous=FULL`, `foreign_keys=ON`, the same open flags), one row per
//! payment (a payment-like row: integers and short texts), `BEGIN IMMEDIATE` .. `COMMIT` around
//! batches of N rows. rows/s at each batch size; the best is the ceiling.

use crate::stats::{micros, new_histogram, Summary};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Batch sizes measured by default.
pub const BATCHES: [usize; 4] = [1, 16, 64, 256];

#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    pub batch: usize,
    pub rows: u64,
    pub commits: u64,
    pub secs: f64,
    pub rows_per_sec: f64,
    /// Latency of one transaction (BEGIN .. COMMIT), µs.
    pub commit_latency: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct SqliteCeiling {
    pub per_batch: Vec<BatchResult>,
}

impl SqliteCeiling {
    /// The batch size with the most rows/s.
    pub fn best(&self) -> Option<&BatchResult> {
        self.per_batch
            .iter()
            .max_by(|a, b| a.rows_per_sec.total_cmp(&b.rows_per_sec))
    }

    pub fn batch(&self, n: usize) -> Option<&BatchResult> {
        self.per_batch.iter().find(|b| b.batch == n)
    }
}

/// Open a write connection as loket's store does (crates/store/src/sqlite/mod.rs).
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS payments (
    id          INTEGER PRIMARY KEY,
    tr_id       INTEGER NOT NULL UNIQUE,
    member_id   INTEGER NOT NULL,
    mode        TEXT NOT NULL,
    ref_id      TEXT NOT NULL,
    state       TEXT NOT NULL,
    rc          TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    noref       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (member_id, mode, ref_id)
);";

/// Commit batches of `batch` rows for `duration` into a fresh database in `dir`.
pub fn run_batch(dir: &Path, batch: usize, duration: Duration) -> Result<BatchResult, String> {
    let path = dir.join(format!("ceiling-{batch}.db"));
    let conn = open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    conn.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO payments (tr_id, member_id, mode, ref_id, state, rc, amount, noref, created_at, updated_at)
             VALUES (?1, ?2, 'sandbox', ?3, 'success', '00', ?4, ?5, ?6, ?6)",
        )
        .map_err(|e| e.to_string())?;
    let mut hist = new_histogram();
    let mut rows: u64 = 0;
    let mut commits: u64 = 0;
    let start = Instant::now();
    let end = start + duration;
    let mut ref_id = String::with_capacity(24);
    while Instant::now() < end {
        let t0 = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string())?;
        for _ in 0..batch.max(1) {
            rows += 1;
            ref_id.clear();
            use std::fmt::Write;
            let _ = write!(ref_id, "ref{rows}");
            let tr_id = rows as i64;
            stmt.execute(rusqlite::params![
                tr_id,
                (tr_id % 16) + 1,
                ref_id,
                323_902i64,
                "244183135447",
                1_700_000_000i64 + tr_id,
            ])
            .map_err(|e| e.to_string())?;
        }
        conn.execute_batch("COMMIT").map_err(|e| e.to_string())?;
        commits += 1;
        let _ = hist.record(micros(t0.elapsed()));
    }
    let secs = start.elapsed().as_secs_f64();
    drop(stmt);
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(BatchResult {
        batch,
        rows,
        commits,
        secs,
        rows_per_sec: rows as f64 / secs.max(1e-9),
        commit_latency: Summary::of(&hist),
    })
}

/// Every batch size in `batches`, `per_batch` each, in `dir` (put it on the disk loket's
/// database is on).
pub fn run(dir: &Path, batches: &[usize], per_batch: Duration) -> Result<SqliteCeiling, String> {
    let per_batch = batches
        .iter()
        .map(|&b| run_batch(dir, b, per_batch))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SqliteCeiling { per_batch })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_rows_durably_and_reports_them() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(dir.path(), &[1, 8], Duration::from_millis(200)).unwrap();
        assert_eq!(r.per_batch.len(), 2);
        for b in &r.per_batch {
            assert!(b.rows > 0 && b.commits > 0);
            assert_eq!(b.rows, b.commits * b.batch as u64);
            assert_eq!(b.commit_latency.count, b.commits);
        }
        assert!(r.best().is_some());
        let conn = open(&dir.path().join("check.db")).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }
}
