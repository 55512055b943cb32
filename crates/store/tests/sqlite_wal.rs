//! The SQLite WAL stays bounded under steady writes with readers always about: checkpoints that
//! only ever run beside the writer cannot start the WAL over (docs/performance.md, round 6), so
//! without the writer's own checkpoint this WAL grew by every byte written.

use loket_core::{Mode, Quote};
use loket_store::{new_keys, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Quotes written; each carries a ~12 KiB description (three overflow pages and more).
const QUOTES: usize = 8_000;
const WRITERS: usize = 32;
/// The WAL may reach the rewind threshold (32 MiB) plus what arrives before the writer acts on
/// it; far less than the ~100 MB written.
const WAL_BOUND: u64 = 64 << 20;

fn quote(member_id: i64, ref_id: String, desc: &serde_json::Value) -> Quote {
    Quote {
        desc: desc.clone().into(),
        ..loket_store::testing::sandbox_quote(member_id, &ref_id, 10_000, 9_000)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wal_starts_over_under_steady_writes_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let member = store
        .create_member(new_keys("081299990009", "WAL"))
        .await
        .unwrap();
    let first = store
        .insert_quote(quote(member.id, "r-first".into(), &serde_json::json!({})))
        .await
        .unwrap();

    // Readers that never pause: each lookup is a short read transaction on the WAL.
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (store, done) = (store.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                let q = store.quote(first.tr_id).await.unwrap();
                assert_eq!(q.map(|q| q.ref_id).as_deref(), Some("r-first"));
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }

    // The WAL's size, sampled while the writers run.
    let wal = db.with_extension("db-wal");
    let sampler = {
        let (done, wal) = (done.clone(), wal.clone());
        tokio::spawn(async move {
            let mut largest = 0u64;
            while !done.load(Ordering::Relaxed) {
                let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                largest = largest.max(size);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            largest
        })
    };

    let desc = serde_json::json!({ "detail": "x".repeat(12 * 1024) });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, desc) = (store.clone(), desc.clone());
        writers.push(tokio::spawn(async move {
            for i in (w..QUOTES).step_by(WRITERS) {
                store
                    .insert_quote(quote(member.id, format!("r{i}"), &desc))
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let largest = sampler.await.unwrap();
    for r in readers {
        assert!(r.await.unwrap() > 0, "a reader never read");
    }

    let written = QUOTES as u64 * 12 * 1024;
    assert!(
        largest < WAL_BOUND,
        "the WAL reached {largest} bytes after {written} bytes of quotes (bound {WAL_BOUND})"
    );
    // Everything written is there, whatever the WAL did.
    let last = store
        .quote_by_ref(member.id, Mode::Sandbox, &format!("r{}", QUOTES - 1))
        .await
        .unwrap()
        .expect("the last quote");
    assert_eq!(*last.desc, desc);
}
