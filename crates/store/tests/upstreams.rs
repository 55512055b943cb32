//! Upstreams, routes, upstream references of quotes, and the pending-payment list (live mode's
//! store API), through the store's public API, once per backend (`#[each_backend]`).

use loket_core::quote::NewQuote;
use loket_core::{Mode, PaymentState, Quote, Rc, Rupiah, Settlement};
use loket_store::{new_keys, Placed, Route, Store, StoreError, UpstreamRecord};
use loket_test_macros::each_backend;

async fn new_store(dir: &std::path::Path) -> Store {
    Store::open(&loket_store::testing::database_url(dir))
        .await
        .expect("open the store")
}

fn upstream(name: &str, kind: &str) -> UpstreamRecord {
    UpstreamRecord {
        name: name.to_string(),
        kind: kind.to_string(),
        base_url: format!("https://{name}.example"),
        username: "loket".to_string(),
        api_key: "k-secret".to_string(),
        api_key_env: None,
        secret_key: String::new(),
        secret_key_env: Some("SECRET_ENV".to_string()),
        testing: true,
        timeout_ms: 5_000,
        max_concurrency: 8,
        breaker_failures: 3,
        breaker_cooldown_secs: 10,
        enabled: true,
        http: "auto".into(),
    }
}

fn route(product: &str, position: i64, upstream: &str, cost_limit: Option<i64>) -> Route {
    Route {
        product_code: product.to_string(),
        position,
        upstream: upstream.to_string(),
        upstream_code: format!("{product}-{upstream}"),
        cost_limit: cost_limit.map(Rupiah::new),
    }
}

fn live_quote(
    member_id: i64,
    ref_id: &str,
    biller: &str,
    upstream_ref_id: Option<&str>,
) -> NewQuote {
    Quote {
        mode: Mode::Live,
        desc: serde_json::json!({"lembar_tagihan": 1}).into(),
        biller: biller.to_string(),
        biller_ref: Some("UP-TR-1".to_string()),
        upstream_code: Some("PLNPASCA".to_string()),
        upstream_ref_id: upstream_ref_id.map(str::to_string),
        ..loket_store::testing::sandbox_quote(member_id, ref_id, 10_000, 9_800)
    }
}

#[each_backend]
async fn upstreams_and_routes_are_stored_replaced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    assert!(store.upstreams().await.unwrap().is_empty());

    store.put_upstream(upstream("zeta", "iak")).await.unwrap();
    store
        .put_upstream(upstream("alpha", "digiflazz"))
        .await
        .unwrap();
    let list = store.upstreams().await.unwrap();
    assert_eq!(
        list,
        vec![upstream("alpha", "digiflazz"), upstream("zeta", "iak")]
    );

    // Put again: replaced, every field.
    let mut changed = upstream("zeta", "isikuota");
    changed.enabled = false;
    changed.testing = false;
    changed.timeout_ms = 1_234;
    changed.api_key_env = Some("ZETA_KEY".into());
    changed.secret_key_env = None;
    store.put_upstream(changed.clone()).await.unwrap();
    assert_eq!(
        store.upstreams().await.unwrap(),
        vec![upstream("alpha", "digiflazz"), changed]
    );

    // A kind the schema does not know is refused.
    assert!(store.put_upstream(upstream("bad", "soap")).await.is_err());

    // Routes: to an unknown upstream, NotFound("upstream").
    match store
        .put_route(route("PLNPOSTPAID", 1, "nobody", None))
        .await
    {
        Err(StoreError::NotFound("upstream")) => {}
        other => panic!("expected NotFound(upstream), got {other:?}"),
    }
    store
        .put_route(route("PLNPOSTPAID", 2, "zeta", Some(9_900)))
        .await
        .unwrap();
    store
        .put_route(route("PLNPOSTPAID", 1, "alpha", None))
        .await
        .unwrap();
    store
        .put_route(route("BPJS", 1, "zeta", None))
        .await
        .unwrap();
    assert_eq!(
        store.routes(Some("PLNPOSTPAID")).await.unwrap(),
        vec![
            route("PLNPOSTPAID", 1, "alpha", None),
            route("PLNPOSTPAID", 2, "zeta", Some(9_900)),
        ]
    );
    assert_eq!(
        store.routes(None).await.unwrap(),
        vec![
            route("BPJS", 1, "zeta", None),
            route("PLNPOSTPAID", 1, "alpha", None),
            route("PLNPOSTPAID", 2, "zeta", Some(9_900)),
        ]
    );
    assert!(store.routes(Some("NOSUCH")).await.unwrap().is_empty());

    // Put again: the route (product, upstream) is replaced, not added.
    store
        .put_route(route("PLNPOSTPAID", 0, "zeta", Some(9_950)))
        .await
        .unwrap();
    assert_eq!(
        store.routes(Some("PLNPOSTPAID")).await.unwrap(),
        vec![
            route("PLNPOSTPAID", 0, "zeta", Some(9_950)),
            route("PLNPOSTPAID", 1, "alpha", None),
        ]
    );

    assert!(store.remove_route("PLNPOSTPAID", "alpha").await.unwrap());
    assert!(!store.remove_route("PLNPOSTPAID", "alpha").await.unwrap());
    assert_eq!(
        store.routes(Some("PLNPOSTPAID")).await.unwrap(),
        vec![route("PLNPOSTPAID", 0, "zeta", Some(9_950))]
    );

    // Removing an upstream removes its routes.
    assert!(store.remove_upstream("zeta").await.unwrap());
    assert!(!store.remove_upstream("zeta").await.unwrap());
    assert!(store.routes(None).await.unwrap().is_empty());
    assert_eq!(
        store.upstreams().await.unwrap(),
        vec![upstream("alpha", "digiflazz")]
    );
}

#[each_backend]
async fn quotes_keep_their_upstream_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = store
        .create_member(new_keys("0812000001", "U"))
        .await
        .unwrap()
        .id;

    let q = store
        .insert_quote(live_quote(m, "r1", "iak-main", Some("LKT-0001")))
        .await
        .unwrap();
    assert_eq!(q.upstream_code.as_deref(), Some("PLNPASCA"));
    let read = store.quote(q.tr_id).await.unwrap().expect("the quote");
    assert_eq!(read.upstream_code.as_deref(), Some("PLNPASCA"));
    assert_eq!(read.upstream_ref_id.as_deref(), Some("LKT-0001"));
    assert_eq!(read.biller_ref.as_deref(), Some("UP-TR-1"));

    let found = store
        .quote_by_upstream_ref("iak-main", "LKT-0001")
        .await
        .unwrap()
        .expect("found by its upstream reference");
    assert_eq!(found.tr_id, q.tr_id);
    assert_eq!(found.ref_id, "r1");
    // The reference is per upstream.
    assert!(store
        .quote_by_upstream_ref("digiflazz", "LKT-0001")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .quote_by_upstream_ref("iak-main", "LKT-0002")
        .await
        .unwrap()
        .is_none());

    // One upstream reference per upstream (quotes_upstream_ref); other upstreams may reuse it,
    // and quotes without one (sandbox) do not collide.
    assert!(matches!(
        store
            .insert_quote(live_quote(m, "r2", "iak-main", Some("LKT-0001")))
            .await,
        Err(StoreError::Duplicate(_))
    ));
    store
        .insert_quote(live_quote(m, "r3", "digiflazz", Some("LKT-0001")))
        .await
        .unwrap();
    store
        .insert_quote(live_quote(m, "r4", "iak-main", None))
        .await
        .unwrap();
    store
        .insert_quote(live_quote(m, "r5", "iak-main", None))
        .await
        .unwrap();
}

#[each_backend]
async fn pending_payments_are_listed_oldest_first_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = store
        .create_member(new_keys("0812000002", "P"))
        .await
        .unwrap()
        .id;
    store
        .deposit(m, loket_store::Side::Live, Rupiah::new(100_000))
        .await
        .unwrap();
    let mut payments = Vec::new();
    for i in 0..4 {
        let q = store
            .insert_quote(live_quote(
                m,
                &format!("p{i}"),
                "iak-main",
                Some(&format!("LKT-P{i}")),
            ))
            .await
            .unwrap();
        match store.place_payment(q.tr_id, i64::MAX).await.unwrap() {
            Placed::New(p) => payments.push(p),
            other => panic!("a new payment, got {other:?}"),
        }
    }
    assert!(store
        .pending_payments(10)
        .await
        .unwrap()
        .iter()
        .all(|p| !p.flagged));
    let ids = |ps: Vec<loket_core::Payment>| ps.iter().map(|p| p.id).collect::<Vec<_>>();
    let all: Vec<i64> = payments.iter().map(|p| p.id).collect();
    assert_eq!(ids(store.pending_payments(10).await.unwrap()), all);
    assert_eq!(ids(store.pending_payments(2).await.unwrap()), all[..2]);

    // Settled payments leave the list; flagging one that is no longer pending does nothing.
    let done = store
        .settle_payment(
            payments[1].id,
            Settlement::Success {
                noref: "N1".into(),
                cost: Rupiah::new(9_800),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.state, PaymentState::Success);
    store.flag_payment(payments[1].id).await.unwrap();
    assert!(
        !store
            .payment_by_tr_id(payments[1].tr_id)
            .await
            .unwrap()
            .unwrap()
            .flagged
    );
    store
        .settle_payment(payments[3].id, Settlement::Failed(Rc::PaymentFailed), None)
        .await
        .unwrap();
    assert_eq!(
        ids(store.pending_payments(10).await.unwrap()),
        [all[0], all[2]]
    );

    store.flag_payment(payments[2].id).await.unwrap();
    let pending = store.pending_payments(10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.id, p.flagged))
            .collect::<Vec<_>>(),
        [(all[0], false), (all[2], true)]
    );
    let r = store.verify_ledger().await.unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.pending_holds, r.payments), (2, 4));
}
