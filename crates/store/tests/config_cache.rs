//! Members and products are cached in memory by each SQLite handle; a change made through another
//! handle (another process, in production: the `loket` CLI beside a running server) is seen by the
//! next lookup, never a stale copy.

use loket_core::catalogue::Catalogue;
use loket_core::ProductStatus;
use loket_store::{MemberUpdate, Store};

/// Two handles on one fresh SQLite database, `server` and `cli`, with the catalogue and the
/// member `username` (made through `cli`). The directory must outlive them.
async fn two_handles(username: &str) -> (tempfile::TempDir, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cache.db", dir.path().display());
    let server = Store::open(&url).await.unwrap();
    let cli = Store::open(&url).await.unwrap();
    server.load_catalogue(&Catalogue::builtin()).await.unwrap();
    cli.create_member(loket_store::new_keys(username, "Toko"))
        .await
        .unwrap();
    (dir, server, cli)
}

#[tokio::test]
async fn another_handles_member_and_product_changes_are_seen_at_once() {
    let (_dir, server, cli) = two_handles("081299990002").await;

    // Fill the server's cache: the member, the product, and a username that does not exist.
    let m = server
        .member_by_username("081299990002")
        .await
        .unwrap()
        .unwrap();
    assert!(!m.suspended);
    let p = server.product("PLNPOSTPAID").await.unwrap().unwrap();
    assert_eq!(p.status, ProductStatus::Active);
    assert!(server
        .member_by_username("081299990003")
        .await
        .unwrap()
        .is_none());

    // Another handle suspends the member: the server sees it on its next lookup.
    cli.update_member(
        "081299990002",
        MemberUpdate {
            suspended: Some(true),
            ..MemberUpdate::default()
        },
    )
    .await
    .unwrap();
    let m = server
        .member_by_username("081299990002")
        .await
        .unwrap()
        .unwrap();
    assert!(m.suspended, "a cached member outlived its change");
    let by_api_id = server.member_by_api_id(&m.api_id).await.unwrap().unwrap();
    assert!(by_api_id.suspended);

    // A member created elsewhere is found although its absence was cached.
    cli.create_member(loket_store::new_keys("081299990003", "Toko B"))
        .await
        .unwrap();
    assert!(server
        .member_by_username("081299990003")
        .await
        .unwrap()
        .is_some());

    // A product edited elsewhere.
    let mut inactive = p.clone();
    inactive.status = ProductStatus::Inactive;
    inactive.admin = loket_core::Rupiah::new(p.admin.get() + 500);
    cli.put_product(inactive).await.unwrap();
    let seen = server.product("PLNPOSTPAID").await.unwrap().unwrap();
    assert_eq!(seen.status, ProductStatus::Inactive);
    assert_eq!(seen.admin.get(), p.admin.get() + 500);
}

/// Inside `one_config_read` (one protocol request) the first lookup's version serves the later
/// ones; the next request sees a change made meanwhile.
#[tokio::test]
async fn one_request_reads_the_version_once_and_the_next_sees_changes() {
    let (_dir, server, cli) = two_handles("081299990004").await;

    let suspend = |on: bool| MemberUpdate {
        suspended: Some(on),
        ..MemberUpdate::default()
    };
    let (first, later) = loket_store::one_config_read(async {
        let first = server.member_by_username("081299990004").await.unwrap();
        // Another process suspends the member in the middle of this request.
        cli.update_member("081299990004", suspend(true))
            .await
            .unwrap();
        let later = server.member_by_username("081299990004").await.unwrap();
        (first.unwrap(), later.unwrap())
    })
    .await;
    assert!(!first.suspended);
    assert!(
        !later.suspended,
        "within one request the version first read serves: no second read"
    );

    // The next request reads the version again and sees the change, also from a scope.
    let next = loket_store::one_config_read(server.member_by_username("081299990004"))
        .await
        .unwrap()
        .unwrap();
    assert!(next.suspended, "a change is seen by the next request");
    // An older request's version does not bring the cache back to stale rows.
    cli.update_member("081299990004", suspend(false))
        .await
        .unwrap();
    let p = loket_store::one_config_read(async {
        let m = server.member_by_username("081299990004").await.unwrap();
        server.product("PLNPOSTPAID").await.unwrap().map(|p| (m, p))
    })
    .await
    .unwrap();
    assert!(!p.0.unwrap().suspended);
}

/// Inside `optimistic_config` (a sandbox inquiry) the lookups take the rows in memory without
/// reading the version; the quote write checks it inside the writer's transaction. After another
/// process's change the write is refused, nothing is stored, and the request is told to run
/// again; run again, it sees the change.
#[tokio::test]
async fn an_optimistic_requests_quote_write_refuses_rows_another_process_changed() {
    let (_dir, server, cli) = two_handles("081299990005").await;
    let member = |s: &Store| {
        let s = s.clone();
        async move { s.member_by_username("081299990005").await.unwrap().unwrap() }
    };
    // Warm the cache, as the server's earlier requests do.
    let m = loket_store::one_config_read(member(&server)).await;
    server.product("PLNPOSTPAID").await.unwrap().unwrap();

    // Unchanged: the request's answer stands and its quote is stored.
    let first = loket_store::optimistic_config(&server, async {
        let m = member(&server).await;
        server.product("PLNPOSTPAID").await.unwrap().unwrap();
        server
            .insert_quote(loket_store::testing::sandbox_quote(
                m.id, "opt-1", 100_000, 99_000,
            ))
            .await
    })
    .await;
    assert!(first.expect("nothing changed: the answer stands").is_ok());

    // Another process suspends the member.
    cli.update_member(
        "081299990005",
        MemberUpdate {
            suspended: Some(true),
            ..MemberUpdate::default()
        },
    )
    .await
    .unwrap();
    let mut seen_in_memory = None;
    let second = loket_store::optimistic_config(&server, async {
        let m = member(&server).await;
        seen_in_memory = Some(m.suspended);
        server
            .insert_quote(loket_store::testing::sandbox_quote(
                m.id, "opt-2", 100_000, 99_000,
            ))
            .await
    })
    .await;
    assert_eq!(
        seen_in_memory,
        Some(false),
        "the lookup took the row in memory (no read)"
    );
    assert!(
        second.is_none(),
        "a request made from stale rows must run again"
    );
    assert!(
        server
            .quote_by_ref(m.id, loket_core::Mode::Sandbox, "opt-2")
            .await
            .unwrap()
            .is_none(),
        "a quote made from stale rows was stored"
    );
    // Run again (as the server does: with a read), the request sees the suspension.
    assert!(
        loket_store::one_config_read(member(&server))
            .await
            .suspended
    );
    // And the next optimistic request's rows are current again.
    let third = loket_store::optimistic_config(&server, member(&server)).await;
    assert!(third.expect("the cache is current").suspended);
}

/// An optimistic request that writes nothing is checked by one read when it ends; one that must
/// reach anything but the writer confirms its rows first.
#[tokio::test]
async fn an_optimistic_request_without_a_write_is_checked_when_it_ends() {
    let (_dir, server, cli) = two_handles("081299990006").await;
    let product = || async { server.product("PLNPOSTPAID").await.unwrap().unwrap() };
    let p = loket_store::one_config_read(product()).await;

    let same = loket_store::optimistic_config(&server, product()).await;
    assert_eq!(same.expect("nothing changed").status, p.status);
    let confirmed = loket_store::optimistic_config(&server, async {
        product().await;
        server.confirm_config().await
    })
    .await;
    assert!(matches!(confirmed, Some(Ok(()))));

    let mut inactive = p.clone();
    inactive.status = ProductStatus::Inactive;
    cli.put_product(inactive).await.unwrap();
    let stale = loket_store::optimistic_config(&server, product()).await;
    assert!(stale.is_none(), "a stale product must not answer");
    let refused = loket_store::optimistic_config(&server, async {
        product().await;
        server.confirm_config().await
    })
    .await;
    assert!(
        refused.is_none(),
        "a stale request must not reach beyond the writer"
    );
    // Run again with a read, it sees the change; later optimistic requests take it from memory.
    assert_eq!(
        loket_store::one_config_read(product()).await.status,
        ProductStatus::Inactive
    );
    let again = loket_store::optimistic_config(&server, product()).await;
    assert_eq!(
        again.expect("current again").status,
        ProductStatus::Inactive
    );
}
