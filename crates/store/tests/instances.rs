//! Several store handles on one database, each with its own connections: what several loket
//! instances sharing a database do to it. Every test runs on each backend (`#[each_backend]`).
//!
//! - Instances that start together apply the migrations once.
//! - The background workers' claims (`claim_due_payments`, `claim_due_webhooks`) split the due
//!   rows between instances: each row is claimed by exactly one of them.
//! - Settling one payment from every instance at once settles it once.
//! - Placing one quote from every instance at once holds once.

use loket_core::{PaymentState, Quote, Rc, Rupiah, Settlement};
use loket_store::{new_keys, MemberUpdate, Placed, Side, Store, SANDBOX_START_BALANCE};
use loket_test_macros::each_backend;
use std::collections::BTreeSet;

const INSTANCES: usize = 3;
const PRICE: i64 = 10_000;

fn now() -> i64 {
    loket_core::jakarta::now()
}

fn quote(member_id: i64, ref_id: &str) -> Quote {
    loket_store::testing::sandbox_quote(member_id, ref_id, PRICE, 9_800)
}

/// `INSTANCES` handles on one fresh database, opened at the same moment on PostgreSQL (what
/// its migration lock is for). SQLite's are opened one after the other: several handles
/// opening a brand-new file at once were seen to fail with "database is locked" under load (a
/// limit of the SQLite store's open, not what these tests are about).
async fn instances(url: &str) -> Vec<Store> {
    if loket_store::testing::backend() == loket_store::testing::Backend::Sqlite {
        let mut stores = Vec::new();
        for _ in 0..INSTANCES {
            stores.push(Store::open(url).await.expect("the store opens"));
        }
        return stores;
    }
    let opening: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let url = url.to_string();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opening {
        stores.push(o.await.expect("the task ran").expect("the store opens"));
    }
    stores
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = loket_store::testing::database_url(dir.path());
    let stores = instances(&url).await;
    assert_eq!(stores[0].backend(), loket_store::testing::backend().name());
    for s in &stores {
        let r = s.verify_ledger().await.unwrap();
        assert!(r.is_clean(), "{:?}", r.problems);
        // The first migration's five accounts, once.
        assert_eq!((r.accounts, r.transfers), (5, 0));
    }
    // Every instance sees what another wrote; tr_ids start where IAK's look like they do.
    let m = stores[1]
        .create_member(new_keys("081200000101", "Multi"))
        .await
        .unwrap();
    let q = stores[2].insert_quote(quote(m.id, "first")).await.unwrap();
    assert_eq!(q.tr_id, 100_000_001);
    assert_eq!(
        stores[0].quote(q.tr_id).await.unwrap().unwrap().member_id,
        m.id
    );
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn one_quote_placed_from_every_instance_holds_once() {
    let dir = tempfile::tempdir().unwrap();
    let stores = instances(&loket_store::testing::database_url(dir.path())).await;
    let m = stores[0]
        .create_member(new_keys("081200000102", "Multi"))
        .await
        .unwrap();
    let q = stores[0].insert_quote(quote(m.id, "same")).await.unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % INSTANCES].clone();
            tokio::spawn(async move { store.place_payment(q.tr_id, now() + 60).await })
        })
        .collect();
    let mut new = 0;
    let mut ids = BTreeSet::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Placed::New(p) => {
                new += 1;
                ids.insert(p.id);
            }
            Placed::Existing(p) => {
                ids.insert(p.id);
            }
        }
    }
    assert_eq!((new, ids.len()), (1, 1));
    let b = stores[1].balance(m.id, Side::Sandbox).await.unwrap();
    assert_eq!(
        (b.balance.get(), b.held.get()),
        (SANDBOX_START_BALANCE, PRICE)
    );
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn due_payments_and_webhooks_are_claimed_and_settled_once() {
    const PAYMENTS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let stores = instances(&loket_store::testing::database_url(dir.path())).await;
    let m = stores[0]
        .create_member(new_keys("081200000103", "Multi"))
        .await
        .unwrap();
    stores[0]
        .update_member(
            &m.username,
            MemberUpdate {
                webhook_url: Some(Some("http://127.0.0.1:9/hook".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let due = now() - 1;
    let mut all = BTreeSet::new();
    for i in 0..PAYMENTS {
        let q = stores[i % INSTANCES]
            .insert_quote(quote(m.id, &format!("due-{i}")))
            .await
            .unwrap();
        match stores[i % INSTANCES].place_payment(q.tr_id, due).await {
            Ok(Placed::New(p)) => all.insert(p.id),
            other => panic!("expected a new payment, got {other:?}"),
        };
    }

    // Every instance's resolver claims, a few at a time, at once.
    let claims: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_due_payments(now(), 60, 4).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|p| p.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap());
    }
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "a payment was claimed twice");
    assert_eq!(unique, all, "every due payment is claimed");
    // Claimed: not due again until the lease ends.
    assert!(stores[0]
        .claim_due_payments(now(), 60, 100)
        .await
        .unwrap()
        .is_empty());

    // Every instance settles every payment at once (a lease that ran out, an operator and the
    // resolver together): each is settled once.
    let settles: Vec<_> = all
        .iter()
        .flat_map(|id| stores.iter().map(move |s| (s.clone(), *id)))
        .map(|(s, id)| {
            tokio::spawn(async move {
                let outcome = if id % 2 == 0 {
                    Settlement::Success {
                        noref: "N".into(),
                        cost: Rupiah::new(9_800),
                    }
                } else {
                    Settlement::Failed(Rc::PaymentFailed)
                };
                s.settle_payment(id, outcome, Some("resolver".into()))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for s in settles {
        let p = s.await.unwrap();
        let want = if p.id % 2 == 0 {
            PaymentState::Success
        } else {
            PaymentState::Failed
        };
        assert_eq!(p.state, want);
    }
    let paid = all.iter().filter(|id| *id % 2 == 0).count() as i64;
    let b = stores[2].balance(m.id, Side::Sandbox).await.unwrap();
    assert_eq!(
        (b.balance.get(), b.held.get()),
        (SANDBOX_START_BALANCE - paid * PRICE, 0)
    );
    let r = stores[1].verify_ledger().await.unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.pending_holds, r.payments), (0, PAYMENTS));
    assert_eq!(
        stores[0]
            .account_balance_by_code("sandbox:revenue")
            .await
            .unwrap(),
        Some(paid * 200)
    );

    // One webhook per settled payment, each claimed by one instance.
    let hooks = stores[0].webhooks(Some(m.id), 1000).await.unwrap();
    assert_eq!(hooks.len(), PAYMENTS);
    let claims: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_due_webhooks(now(), 60, 4).await.unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|w| w.id));
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap());
    }
    let unique: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "a webhook was claimed twice");
    assert_eq!(unique, hooks.iter().map(|w| w.id).collect::<BTreeSet<_>>());
}

/// On PostgreSQL at SERIALIZABLE (`isolation=serializable`, how distributed engines run), the
/// same contended work makes the server abort transactions with serialization failures (40001);
/// the store runs them again, and every answer and balance is as if they had run one by one. On
/// SQLite the same work runs as usual.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn serialization_failures_are_retried() {
    const TASKS: i64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let mut url = loket_store::testing::database_url(dir.path());
    if loket_store::testing::backend() == loket_store::testing::Backend::Postgres {
        url.push_str("&isolation=serializable");
    }
    let stores = instances(&url).await;
    let m = stores[0]
        .create_member(new_keys("081200000104", "Multi"))
        .await
        .unwrap();
    let mut quotes = Vec::new();
    for i in 0..TASKS {
        quotes.push(
            stores[0]
                .insert_quote(quote(m.id, &format!("s-{i}")))
                .await
                .unwrap(),
        );
    }
    // Every task moves the member's sandbox balance and a house account: all on the same rows.
    let tasks: Vec<_> = quotes
        .into_iter()
        .enumerate()
        .map(|(i, q)| {
            let s = stores[i % INSTANCES].clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => s
                        .deposit(m.id, Side::Sandbox, Rupiah::new(1_000))
                        .await
                        .map(|_| ()),
                    1 => s
                        .withdraw(m.id, Side::Sandbox, Rupiah::new(700))
                        .await
                        .map(|_| ()),
                    _ => s.place_payment(q.tr_id, now() + 60).await.map(|_| ()),
                }
            })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .expect("a conflict is retried, not answered");
    }
    let per_kind = TASKS / 3;
    let b = stores[1].balance(m.id, Side::Sandbox).await.unwrap();
    assert_eq!(
        (b.balance.get(), b.held.get()),
        (
            SANDBOX_START_BALANCE + per_kind * 1_000 - per_kind * 700,
            per_kind * PRICE
        )
    );
    let r = stores[2].verify_ledger().await.unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.payments as i64, per_kind);
}
