//! Faults that a real upstream cannot be asked for, from fake upstreams the tests control
//! (spec/upstreams.md, spec/ledger.md "Exactly once"): a payment whose answer is slow, lost, a
//! 5xx or garbage is pending, never failed, and the hold stays until the upstream's status says;
//! inquiries fail over to the next route; the circuit breaker opens and closes; a payment unknown
//! for too long is flagged for a person, who decides with `loket pending resolve`.

use super::fake::*;
use super::*;
use loket_client::iak::Format;
use serde_json::Value;
use tokio::task::JoinSet;

/// A's selling_price for the fake IAK's bill (PGAS commission 600).
const FAKE_SELLING: i64 = FAKE_NOMINAL + FAKE_ADMIN - 600;

/// A (live) with the fake IAK as upstream `fake` for PGAS.
async fn a_with_fake(config: Config, fake: &FakeIak, timeout_ms: i64) -> TestApp {
    let a = spawn_app_with(config).await;
    a.add_upstream(UpstreamRecord {
        timeout_ms,
        ..upstream("fake", "iak", fake.base_url(), &fake.username, &fake.key)
    })
    .await;
    a.add_route("PGAS", "fake", 1, None).await;
    a
}

/// The fake's tr_id for A's quote.
async fn fake_tr_id(a: &TestApp, tr_id: i64) -> String {
    let q = a.store.quote(tr_id).await.unwrap().unwrap();
    q.biller_ref.expect("the fake's tr_id")
}

async fn upstream_ref(a: &TestApp, tr_id: i64) -> String {
    let q = a.store.quote(tr_id).await.unwrap().unwrap();
    q.upstream_ref_id.expect("A's ref_id towards the upstream")
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_or_unreadable_payment_answer_is_pending_until_the_status_says() {
    let fake = FakeIak::start().await;
    let mut config = a_config();
    config.resolver.not_received_grace_secs = 3;
    let a = a_with_fake(config, &fake, 1_500).await;
    const DEPOSIT: i64 = 10_000_000;
    let am = a.live_member("081277700001", DEPOSIT).await;
    let client = a.live_client(&am);

    // (number, what pay-pasca does, the status the fake finally tells)
    let cases = [
        ("0110019001", PayFault::Slow(Duration::from_secs(3)), 1),
        ("0110019002", PayFault::Drop, 2),
        ("0110019003", PayFault::Http500, 1),
        ("0110019004", PayFault::Garbage, 2),
        ("0110019005", PayFault::Pending, 1),
    ];
    // Lost before the upstream recorded it: its status says "never received" (0).
    let lost = "0110019006";
    for (hp, fault, _) in cases {
        fake.set_pay(hp, fault);
        fake.set_status(hp, 3);
    }
    fake.set_pay(lost, PayFault::Drop);
    fake.set_status(lost, 0);

    let mut quotes = Vec::new();
    for hp in cases.iter().map(|c| c.0).chain([lost]) {
        let tr_id = quote_tr_id(&client, &params("PGAS", hp)).await;
        let q = a.store.quote(tr_id).await.unwrap().unwrap();
        assert_eq!(
            (q.selling_price, q.cost),
            (Rupiah::new(FAKE_SELLING), Rupiah::new(FAKE_COST))
        );
        quotes.push((hp, tr_id));
    }
    let mut set = JoinSet::new();
    for (hp, tr_id) in quotes.clone() {
        let client = client.clone();
        set.spawn(async move { (hp, pay(&client, tr_id).await) });
    }
    while let Some(r) = set.join_next().await {
        let (hp, r) = r.unwrap();
        // Not a failure: pending, and the charge is held.
        assert_rc(&r, "39", "PENDING / TRANSACTION IN PROCESS");
        assert_eq!(r.field("noref").as_deref(), Some(""), "{hp}: {}", r.body);
    }
    let n = quotes.len() as i64;
    assert_eq!(
        a.live_balance(&am).await,
        (DEPOSIT, n * FAKE_SELLING),
        "all held"
    );
    for (hp, tr_id) in &quotes {
        let p = a.payment(*tr_id).await.unwrap();
        assert_eq!(p.state, PaymentState::Pending, "{hp}");
    }

    // The never-received one is believed only after the grace (3 s): until then it stays
    // pending, then fails with 42 and its charge is released.
    let (_, lost_tr) = quotes[5];
    let p = a.settled(lost_tr, Duration::from_secs(15)).await;
    assert_eq!((p.state, p.rc.code()), (PaymentState::Failed, "42"));
    assert!(
        p.updated_at - p.created_at >= 3,
        "not believed before the grace: {p:?}"
    );
    let lost_ref = upstream_ref(&a, lost_tr).await;
    assert!(
        fake.requests("checkstatus", "ref_id", &lost_ref).len() >= 2,
        "asked within the grace, kept pending, asked again"
    );

    // The resolver asks each one's status; "in process" keeps the hold.
    for (hp, tr_id) in &quotes[..5] {
        let r = upstream_ref(&a, *tr_id).await;
        eventually(Duration::from_secs(10), "a status check", || {
            let n = fake.requests("checkstatus", "ref_id", &r).len();
            async move { (n >= 1).then_some(()) }
        })
        .await;
        let p = a.payment(*tr_id).await.unwrap();
        assert_eq!(
            p.state,
            PaymentState::Pending,
            "{hp}: status 3 keeps it pending"
        );
    }
    assert_eq!(a.live_balance(&am).await, (DEPOSIT, 5 * FAKE_SELLING));

    // Now the upstream knows.
    for (hp, _, status) in cases {
        fake.set_status(hp, status);
    }
    let mut successes = 0;
    for ((hp, _, status), (_, tr_id)) in cases.iter().zip(&quotes) {
        let p = a.settled(*tr_id, Duration::from_secs(10)).await;
        assert_eq!(p.resolved_by.as_deref(), Some("resolver"), "{hp}");
        if *status == 1 {
            successes += 1;
            let noref = format!("FAKE-{}", fake_tr_id(&a, *tr_id).await);
            assert_eq!(
                (p.state, p.rc.code(), p.noref.as_str()),
                (PaymentState::Success, "00", noref.as_str()),
                "{hp}"
            );
        } else {
            assert_eq!((p.state, p.rc.code()), (PaymentState::Failed, "37"), "{hp}");
        }
    }
    // Each payment was sent exactly once: a lost answer is resolved by status, never by paying
    // again.
    for (hp, tr_id) in &quotes {
        let t = fake_tr_id(&a, *tr_id).await;
        assert_eq!(
            fake.requests("pay-pasca", "tr_id", &t).len(),
            1,
            "{hp} paid once"
        );
    }
    assert_eq!(
        fake.bad_signs(),
        Vec::<Value>::new(),
        "every request signed"
    );
    assert_eq!(
        a.live_balance(&am).await,
        (DEPOSIT - successes * FAKE_SELLING, 0)
    );
    assert_eq!(a.account("upstream:fake"), (successes * FAKE_COST, 0));
    assert_eq!(
        a.account("revenue"),
        (successes * (FAKE_SELLING - FAKE_COST), 0)
    );
    a.assert_ledger_clean().await;
    ledger_verify(&a.database_url).await;
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn an_inquiry_fails_over_to_the_next_route_and_stops_at_an_answer_about_the_bill() {
    let b = spawn_app_with(b_config()).await;
    let bm = b.create_member("081255500002").await;
    let a = spawn_app_with(a_config()).await;
    let am = a.live_member("081277700002", 10_000_000).await;
    let client = a.live_client(&am);

    let five = FakeServer::fixed(Reply::Body(500, "<h1>Internal Server Error</h1>".into())).await;
    let junk = FakeServer::fixed(Reply::Body(200, "<html>not an answer</html>".into())).await;
    let slow = FakeServer::fixed(Reply::Slow(
        Duration::from_secs(3),
        Box::new(Reply::Body(500, String::new())),
    ))
    .await;
    let refusing = FakeIak::start().await;
    let second = FakeIak::start().await;
    let dead = closed_port_url();
    a.add_upstream(iak_upstream_to("b", &b, &bm)).await;
    for (name, url) in [
        ("dead", dead.as_str()),
        ("five", five.base_url.as_str()),
        ("junk", junk.base_url.as_str()),
    ] {
        a.add_upstream(upstream(name, "iak", url, "u", "k")).await;
    }
    a.add_upstream(UpstreamRecord {
        timeout_ms: 500,
        ..upstream("slow", "iak", &slow.base_url, "u", "k")
    })
    .await;
    a.add_upstream(upstream(
        "refusing",
        "iak",
        refusing.base_url(),
        &refusing.username,
        &refusing.key,
    ))
    .await;
    a.add_upstream(upstream(
        "second",
        "iak",
        second.base_url(),
        &second.username,
        &second.key,
    ))
    .await;

    // Down, 5xx, garbage, timeout: the next route (B) answers.
    let failover = [
        ("PGAS", "0110010000", "dead"),
        ("PLNNONTAG", "3225030005901", "five"),
        ("PLNPOSTPAID", "530000000000", "junk"),
        ("PDAMKOTA.SURABAYA", "10200000", "slow"),
    ];
    for (product, _, first) in failover {
        a.add_route(product, first, 1, None).await;
        a.add_route(product, "b", 2, None).await;
    }
    for (product, hp, first) in failover {
        let p = params(product, hp);
        let r = inquire(&client, &p).await;
        assert_eq!(
            r.rc().as_deref(),
            Some("00"),
            "{product} past {first}: {}",
            r.body
        );
        let q = a
            .store
            .quote(int_field(&r, "tr_id"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q.biller, "b", "{product}: answered by the second route");
        if product == "PGAS" {
            assert_inquiry_success(&r, Format::Json, &ngatimun(hp, &p.ref_id));
        }
    }
    for fake in [&five, &junk, &slow] {
        assert_eq!(fake.count("inq-pasca"), 1, "{}: asked once", fake.base_url);
    }
    // The payment goes to the upstream that quoted, and only there.
    let p = params("PLNNONTAG", "3225030005901");
    let tr_id = quote_tr_id(&client, &p).await;
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "00", "PAYMENT SUCCESS");
    assert_eq!(r.field("noref").as_deref(), Some("18147159"));
    for fake in [&five, &junk, &slow] {
        assert_eq!(fake.count("pay-pasca"), 0, "{}: never paid", fake.base_url);
    }

    // An answer about the bill itself stops the routing; the upstream's biller timing out does
    // not.
    a.add_route("PLNNONH", "refusing", 1, None).await;
    a.add_route("PLNNONH", "second", 2, None).await;
    refusing.refuse("3225030007014", "14");
    refusing.refuse("3225030007103", "103");
    let p = params("PLNNONH", "3225030007014");
    let r = inquire(&client, &p).await;
    assert_failure(&r, Format::Json, 200, "14", &[("ref_id", &p.ref_id)]);
    a.assert_nothing_stored(&am, &p.ref_id).await;
    assert!(
        second.server.seen().is_empty(),
        "the second route is not asked after RC 14"
    );
    let p = params("PLNNONH", "3225030007103");
    let r = inquire(&client, &p).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(r.field("tr_name").as_deref(), Some(FAKE_NAME));
    let q = a
        .store
        .quote(int_field(&r, "tr_id"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.biller, "second");
    assert_eq!(second.count("inq-pasca"), 1);

    // No route answers: 106, nothing stored.
    a.add_route("PDAMKOTA.MEDAN", "dead", 1, None).await;
    a.add_route("PDAMKOTA.MEDAN", "five", 2, None).await;
    let p = params("PDAMKOTA.MEDAN", "10200000");
    let r = inquire(&client, &p).await;
    assert_failure(&r, Format::Json, 200, "106", &[("ref_id", &p.ref_id)]);
    a.assert_nothing_stored(&am, &p.ref_id).await;
    assert_eq!(
        five.count("inq-pasca"),
        3,
        "PLNNONTAG twice, PDAMKOTA.MEDAN once"
    );

    assert_eq!(refusing.bad_signs(), Vec::<Value>::new());
    assert_eq!(second.bad_signs(), Vec::<Value>::new());
    assert_eq!(a.live_balance(&am).await, (10_000_000 - 696_200, 0));
    a.assert_ledger_clean().await;
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn the_circuit_breaker_opens_after_failures_and_closes_after_a_good_trial() {
    let b = spawn_app_with(b_config()).await;
    let bm = b.create_member("081255500003").await;
    let flaky = FakeIak::start().await;
    let a = spawn_app_with(a_config()).await;
    a.add_upstream(UpstreamRecord {
        breaker_failures: 2,
        breaker_cooldown_secs: 1,
        ..upstream(
            "flaky",
            "iak",
            flaky.base_url(),
            &flaky.username,
            &flaky.key,
        )
    })
    .await;
    a.add_upstream(iak_upstream_to("b", &b, &bm)).await;
    a.add_route("PGAS", "flaky", 1, None).await;
    a.add_route("PGAS", "b", 2, None).await;
    let am = a.live_member("081277700003", 10_000_000).await;
    let client = a.live_client(&am);
    let hits = || flaky.server.seen().len();
    // One inquiry; answers who quoted it.
    let ask = || async {
        let r = inquire(&client, &params("PGAS", "0110010000")).await;
        assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
        let tr_id = int_field(&r, "tr_id");
        (a.store.quote(tr_id).await.unwrap().unwrap().biller, tr_id)
    };

    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ask().await.0, "b");
    assert_eq!(ask().await.0, "b");
    assert_eq!(hits(), 2, "two failures reach the upstream");
    // Open: the upstream is not asked at all.
    for _ in 0..3 {
        assert_eq!(ask().await.0, "b");
    }
    assert_eq!(hits(), 2, "no request while the breaker is open");
    // After the cool-down one trial goes through; it fails, so the breaker opens again.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(ask().await.0, "b");
    assert_eq!(hits(), 3, "one trial after the cool-down");
    assert_eq!(ask().await.0, "b");
    assert_eq!(hits(), 3, "open again after a failed trial");
    // The upstream recovers: the next trial succeeds and closes the breaker.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (biller, quoted_by_flaky) = ask().await;
    assert_eq!((biller.as_str(), hits()), ("flaky", 4), "the trial answers");
    assert_eq!(ask().await.0, "flaky");
    assert_eq!(ask().await.0, "flaky");
    assert_eq!(hits(), 6, "closed: every inquiry goes to the first route");

    // A payment to an upstream whose breaker is open is refused before any money moves.
    flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ask().await.0, "b");
    assert_eq!(ask().await.0, "b");
    let before = hits();
    let r = pay(&client, quoted_by_flaky).await;
    assert_failure(&r, Format::Json, 200, "106", &[]);
    assert!(
        a.payment(quoted_by_flaky).await.is_none(),
        "no payment, no hold"
    );
    assert_eq!(a.live_balance(&am).await, (10_000_000, 0));
    assert_eq!(
        (hits(), flaky.count("pay-pasca")),
        (before, 0),
        "nothing sent"
    );
    // Recovered and closed again: the same quote is paid, once.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(ask().await.0, "flaky");
    let r = pay(&client, quoted_by_flaky).await;
    assert_rc(&r, "00", "PAYMENT SUCCESS");
    let t = fake_tr_id(&a, quoted_by_flaky).await;
    assert_eq!(r.field("noref"), Some(format!("FAKE-{t}")));
    assert_eq!(flaky.count("pay-pasca"), 1);
    assert_eq!(a.live_balance(&am).await, (10_000_000 - FAKE_SELLING, 0));
    assert_eq!(flaky.bad_signs(), Vec::<Value>::new());
    a.assert_ledger_clean().await;
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_unknown_past_the_age_limit_is_flagged_and_an_operator_decides() {
    let fake = FakeIak::start().await;
    let mut config = a_config();
    config.resolver.max_age_secs = 2;
    let a = a_with_fake(config, &fake, 1_500).await;
    let am = a.live_member("081277700004", 10_000_000).await;
    let client = a.live_client(&am);
    let hp = "0110019100";
    fake.set_pay(hp, PayFault::Pending);
    // The upstream never learns the outcome: status 3 forever.
    let p = params("PGAS", hp);
    let tr_id = quote_tr_id(&client, &p).await;
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "39", "PENDING / TRANSACTION IN PROCESS");

    let flagged = eventually(
        Duration::from_secs(10),
        "the payment to be flagged",
        || async { a.payment(tr_id).await.filter(|p| p.flagged) },
    )
    .await;
    assert_eq!(
        flagged.state,
        PaymentState::Pending,
        "flagged, not refunded"
    );
    // Still asked, still pending, still held: never refunded automatically.
    let attempts = flagged.attempts;
    let later = eventually(Duration::from_secs(10), "another status check", || async {
        a.payment(tr_id).await.filter(|p| p.attempts > attempts)
    })
    .await;
    assert_eq!((later.state, later.flagged), (PaymentState::Pending, true));
    assert_eq!(a.live_balance(&am).await, (10_000_000, FAKE_SELLING));

    let list = run_async(
        ["pending", "list", "--database", &a.database_url]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let list = output_json(&["pending", "list"], &list);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ref_id"] == p.ref_id.as_str())
        .unwrap_or_else(|| panic!("listed: {list}"))
        .clone();
    assert_eq!(entry["flagged"], true, "{entry}");
    assert_eq!(entry["state"], "pending", "{entry}");
    assert_eq!(entry["mode"], "live", "{entry}");
    assert_eq!(entry["biller"], "fake", "{entry}");
    assert_eq!(entry["amount"], FAKE_SELLING, "{entry}");
    assert_eq!(entry["tr_id"], tr_id, "{entry}");

    let args = [
        "pending",
        "resolve",
        "--ref-id",
        &p.ref_id,
        "--to",
        "failed",
        "--by",
        "ops",
        "--reason",
        "checked with biller",
        "--database",
        &a.database_url,
    ]
    .map(String::from)
    .to_vec();
    let out = run_async(args.clone()).await;
    let decided = output_json(&["pending", "resolve"], &out);
    assert_eq!(decided["state"], "failed", "{decided}");
    assert_eq!(
        decided["resolved_by"], "operator ops: checked with biller",
        "{decided}"
    );
    let p_now = a.payment(tr_id).await.unwrap();
    assert_eq!(p_now.state, PaymentState::Failed);
    assert_eq!(
        p_now.resolved_by.as_deref(),
        Some("operator ops: checked with biller")
    );
    assert_eq!(a.live_balance(&am).await, (10_000_000, 0), "released");
    // Decided once: the same decision again finds nothing pending, and the resolver stops asking.
    let again = run_async(args).await;
    assert!(!again.status.success(), "nothing left to resolve");
    let asked = fake.count("checkstatus");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(
        fake.count("checkstatus"),
        asked,
        "a settled payment is not polled"
    );
    assert_eq!(a.payment(tr_id).await.unwrap().state, PaymentState::Failed);
    let list = run_async(
        ["pending", "list", "--database", &a.database_url]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert_eq!(
        output_json(&["pending", "list"], &list),
        serde_json::json!([])
    );
    a.assert_ledger_clean().await;
    ledger_verify(&a.database_url).await;
}
