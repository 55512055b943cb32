//! Members and products are cached in memory by each store handle (crates/store/src/config.rs);
//! a change made through another handle (in production: the `loket` CLI beside a running server,
//! or another instance) is seen by every request that has not yet had an effect, never a stale
//! copy. Every test runs on each backend: lookups are answered from the cache and the version is
//! confirmed before the request has any effect, the request running again when it was stale.

use loket_core::catalogue::Catalogue;
use loket_core::{ProductStatus, Settlement};
use loket_store::{MemberUpdate, Store};
use loket_test_macros::each_backend;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Two handles on one fresh database, `server` and `cli`, with the catalogue and the member
/// `username` (made through `cli`). The directory must outlive them.
async fn two_handles(username: &str) -> (tempfile::TempDir, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = loket_store::testing::database_url(dir.path());
    let server = Store::open(&url).await.unwrap();
    let cli = Store::open(&url).await.unwrap();
    server.load_catalogue(&Catalogue::builtin()).await.unwrap();
    cli.create_member(loket_store::new_keys(username, "Toko"))
        .await
        .unwrap();
    (dir, server, cli)
}

fn suspend(on: bool) -> MemberUpdate {
    MemberUpdate {
        suspended: Some(on),
        ..MemberUpdate::default()
    }
}

/// (Un)suspend `username` through `cli` as another process would: on a task of its own, outside
/// the running request's scope (whose statements would otherwise confirm the request's version
/// before the change).
async fn elsewhere(cli: &Store, username: &str, on: bool) {
    let (cli, username) = (cli.clone(), username.to_string());
    tokio::spawn(async move { cli.update_member(&username, suspend(on)).await })
        .await
        .unwrap()
        .unwrap();
}

/// One lookup as a request of its own.
async fn member(server: &Store, username: &str) -> std::sync::Arc<loket_core::Member> {
    loket_store::one_config_read(server, || server.member_by_username(username))
        .await
        .unwrap()
        .unwrap()
}

#[each_backend]
async fn another_handles_member_and_product_changes_are_seen_by_the_next_request() {
    let (_dir, server, cli) = two_handles("081299990002").await;

    // Fill the server's cache: the member, the product, and a username that does not exist.
    assert!(!member(&server, "081299990002").await.suspended);
    let p = loket_store::one_config_read(&server, || server.product("PLNPOSTPAID"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, ProductStatus::Active);
    let nobody =
        loket_store::one_config_read(&server, || server.member_by_username("081299990003"))
            .await
            .unwrap();
    assert!(nobody.is_none());

    // Another handle suspends the member: the server's next request sees it.
    cli.update_member("081299990002", suspend(true))
        .await
        .unwrap();
    let m = member(&server, "081299990002").await;
    assert!(m.suspended, "a cached member outlived its change");
    let by_api_id = loket_store::one_config_read(&server, || server.member_by_api_id(&m.api_id))
        .await
        .unwrap()
        .unwrap();
    assert!(by_api_id.suspended);

    // A member created elsewhere is found although its absence was cached.
    cli.create_member(loket_store::new_keys("081299990003", "Toko B"))
        .await
        .unwrap();
    let found = loket_store::one_config_read(&server, || server.member_by_username("081299990003"))
        .await
        .unwrap();
    assert!(found.is_some());

    // A product edited elsewhere.
    let mut inactive = (*p).clone();
    inactive.status = ProductStatus::Inactive;
    inactive.admin = loket_core::Rupiah::new(p.admin.get() + 500);
    cli.put_product(inactive).await.unwrap();
    let seen = loket_store::one_config_read(&server, || server.product("PLNPOSTPAID"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.status, ProductStatus::Inactive);
    assert_eq!(seen.admin.get(), p.admin.get() + 500);

    // Outside a request (the CLI's own reads, background work) lookups see the database too.
    assert!(
        server
            .member_by_username("081299990002")
            .await
            .unwrap()
            .unwrap()
            .suspended
    );
}

/// A request sees one version of members and products: a change made in its middle is not half
/// seen. It is seen by the next request.
#[each_backend]
async fn one_request_sees_one_version_and_the_next_sees_changes() {
    let (_dir, server, cli) = two_handles("081299990004").await;
    let (first, later) = loket_store::one_config_read(&server, || async {
        let first = server.member_by_username("081299990004").await?;
        // Another process suspends the member in the middle of this request (once).
        if !first.as_ref().unwrap().suspended {
            elsewhere(&cli, "081299990004", true).await;
        }
        let later = server.member_by_username("081299990004").await?;
        Ok::<_, loket_store::StoreError>((first.unwrap(), later.unwrap()))
    })
    .await
    .unwrap();
    assert_eq!(
        first.suspended, later.suspended,
        "one request saw two versions of the member"
    );
    assert!(member(&server, "081299990004").await.suspended);

    // An older request's version does not bring the cache back to stale rows.
    cli.update_member("081299990004", suspend(false))
        .await
        .unwrap();
    // (A lookup that finds the request stale fails it; the request runs again.)
    let (m, p) = loket_store::one_config_read(&server, || async {
        let m = server.member_by_username("081299990004").await?;
        let p = server.product("PLNPOSTPAID").await?;
        Ok::<_, loket_store::StoreError>((m.unwrap(), p.unwrap()))
    })
    .await
    .unwrap();
    assert!(!m.suspended);
    assert_eq!(p.code, "PLNPOSTPAID");
}

/// What a request does with its view of the member: refuse when suspended, else store a quote
/// (the write every sandbox inquiry makes). Counts its runs.
async fn inquire(server: &Store, username: &str, ref_id: &str, runs: &AtomicUsize) -> bool {
    runs.fetch_add(1, Ordering::SeqCst);
    let Ok(Some(m)) = server.member_by_username(username).await else {
        return false;
    };
    if m.suspended {
        return false;
    }
    let q = loket_store::testing::sandbox_quote(m.id, ref_id, 10_000, 9_800);
    server.insert_quote(q).await.is_ok()
}

/// The heart of the cache's promise: a member suspended elsewhere after a request took its
/// cached copy, but before the request wrote anything, is never acted on: the write finds the
/// version moved (SQLite's writer inside its transaction, PostgreSQL's batch or first statement)
/// and writes nothing; the request runs again and refuses. What it answered matches what it
/// wrote.
#[each_backend]
async fn a_write_never_acts_on_a_stale_member() {
    let (_dir, server, cli) = two_handles("081299990006").await;
    // Warm the cache (the member, not suspended).
    assert!(!member(&server, "081299990006").await.suspended);

    let runs = AtomicUsize::new(0);
    let stored = loket_store::one_config_read(&server, || async {
        let run = runs.load(Ordering::SeqCst);
        // The member's copy is taken (from the cache on PostgreSQL), then it is suspended
        // elsewhere before the request writes its quote.
        let m = server
            .member_by_username("081299990006")
            .await
            .unwrap()
            .unwrap();
        if run == 0 {
            elsewhere(&cli, "081299990006", true).await;
        }
        runs.fetch_add(1, Ordering::SeqCst);
        if m.suspended {
            return false;
        }
        let q = loket_store::testing::sandbox_quote(m.id, "STALE-1", 10_000, 9_800);
        server.insert_quote(q).await.is_ok()
    })
    .await;
    let m = member(&server, "081299990006").await;
    let quote = server
        .quote_by_ref(m.id, loket_core::Mode::Sandbox, "STALE-1")
        .await
        .unwrap();
    assert_eq!(
        stored,
        quote.is_some(),
        "the answer and the database disagree"
    );
    assert!(
        !stored,
        "a quote was written for a member suspended before the write"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the stale request ran again"
    );

    // The same through the batched payment: the member is unsuspended, quotes a bill, the
    // request's cached copy is taken, the operator suspends the member... a payment of a
    // suspended member's request is not made on a stale view either.
    cli.update_member("081299990006", suspend(false))
        .await
        .unwrap();
    let runs2 = AtomicUsize::new(0);
    assert!(
        loket_store::one_config_read(&server, || inquire(
            &server,
            "081299990006",
            "STALE-2",
            &runs2
        ))
        .await
    );
    let q = server
        .quote_by_ref(m.id, loket_core::Mode::Sandbox, "STALE-2")
        .await
        .unwrap()
        .unwrap();
    assert!(!member(&server, "081299990006").await.suspended);
    let pay_runs = AtomicUsize::new(0);
    let paid = loket_store::one_config_read(&server, || async {
        let m = server
            .member_by_username("081299990006")
            .await
            .unwrap()
            .unwrap();
        if pay_runs.fetch_add(1, Ordering::SeqCst) == 0 {
            elsewhere(&cli, "081299990006", true).await;
        }
        if m.suspended {
            return None;
        }
        let outcome = Settlement::Success {
            noref: "N".into(),
            cost: loket_core::Rupiah::new(9_800),
        };
        Some(server.place_and_settle(q.tr_id, i64::MAX, outcome).await)
    })
    .await;
    let payment = server.payment_by_tr_id(q.tr_id).await.unwrap();
    assert!(
        paid.is_none(),
        "paid for a member suspended before the payment"
    );
    assert!(payment.is_none());
    assert_eq!(pay_runs.load(Ordering::SeqCst), 2);
    let report = server.verify_ledger().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

/// A request that answers from cached copies alone (a refusal: no statement runs) is confirmed at
/// its end: on PostgreSQL, a member unsuspended elsewhere is let in by the next request even
/// though the instance had cached the suspension.
#[each_backend]
async fn a_refusal_from_the_cache_is_confirmed() {
    let (_dir, server, cli) = two_handles("081299990008").await;
    cli.update_member("081299990008", suspend(true))
        .await
        .unwrap();
    let runs = AtomicUsize::new(0);
    assert!(
        !loket_store::one_config_read(&server, || inquire(&server, "081299990008", "R-1", &runs))
            .await
    );
    // Cached: suspended. Lifted elsewhere.
    cli.update_member("081299990008", suspend(false))
        .await
        .unwrap();
    let runs = AtomicUsize::new(0);
    assert!(
        loket_store::one_config_read(&server, || inquire(&server, "081299990008", "R-2", &runs))
            .await,
        "a suspension lifted elsewhere was not seen"
    );
}

/// A request that only looks (no statement) is confirmed when it ends, and one that must reach
/// beyond the store (a live inquiry's upstream) confirms first (`confirm_config`): either way a
/// product changed elsewhere after the instance cached it makes the request run again, and the
/// answer that stands is made from the change.
#[each_backend]
async fn looking_requests_and_confirm_config_see_changes() {
    let (_dir, server, cli) = two_handles("081299990010").await;
    let p = loket_store::one_config_read(&server, || server.product("PLNPOSTPAID"))
        .await
        .unwrap()
        .unwrap();
    let confirmed = loket_store::one_config_read(&server, || async {
        server.product("PLNPOSTPAID").await?;
        server.confirm_config().await
    })
    .await;
    assert!(confirmed.is_ok(), "{confirmed:?}");

    let mut inactive = (*p).clone();
    inactive.status = ProductStatus::Inactive;
    cli.put_product(inactive).await.unwrap();
    let runs = AtomicUsize::new(0);
    let seen = loket_store::one_config_read(&server, || async {
        runs.fetch_add(1, Ordering::SeqCst);
        server.product("PLNPOSTPAID").await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen.status, ProductStatus::Inactive);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the cached copy's answer was thrown away"
    );

    cli.put_product((*p).clone()).await.unwrap();
    let runs = AtomicUsize::new(0);
    let seen = loket_store::one_config_read(&server, || async {
        runs.fetch_add(1, Ordering::SeqCst);
        let product = server.product("PLNPOSTPAID").await?;
        server.confirm_config().await?;
        Ok::<_, loket_store::StoreError>(product)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen.status, ProductStatus::Active);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a stale request went past confirm_config"
    );
}
