//! spec/isikuota.md over HTTP against the real server: `POST /v1/order` (inquiry, pay-pasca,
//! status) and `POST /v1/balance`, every error code a request can provoke with its HTTP status,
//! replays, expiry, concurrency, and what testing mode does (and does not do) to balances.
//!
//! Live isikuota requests answer PRODUCT_UNAVAILABLE until upstream routes exist (issue 6), so the
//! flows run with `"testing": true` (spec/sandbox.md: charges nothing, omits `balance`).

use crate::helpers::*;
use loket_api::Config;
use loket_client::isikuota::{IsikuotaClient, IsikuotaResponse, BALANCE_PATH, ORDER_PATH};
use loket_core::{Mode, PaymentState, Rc};
use loket_store::{MemberUpdate, SANDBOX_START_BALANCE};
use serde_json::{json, Map, Value};
use std::time::Duration;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Signs `params` with the client's clock and posts them to `path`.
async fn send(c: &IsikuotaClient, path: &str, params: Value) -> IsikuotaResponse {
    c.send_params(path, obj(params))
        .await
        .expect("an HTTP answer")
}

async fn inquiry(
    c: &IsikuotaClient,
    code: &str,
    no: &str,
    ref_id: Option<&str>,
    testing: bool,
) -> IsikuotaResponse {
    c.inquiry(code, no, ref_id, testing)
        .await
        .expect("an HTTP answer")
}

async fn pay(c: &IsikuotaClient, code: &str, no: &str, ref_id: &str) -> IsikuotaResponse {
    c.pay(code, no, ref_id, true).await.expect("an HTTP answer")
}

async fn status(c: &IsikuotaClient, ref_id: &str, testing: bool) -> IsikuotaResponse {
    c.status(ref_id, testing).await.expect("an HTTP answer")
}

/// A testing inquiry that must succeed; answers its data.
async fn quoted(c: &IsikuotaClient, code: &str, no: &str, ref_id: &str) -> Value {
    let r = inquiry(c, code, no, Some(ref_id), true).await;
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    assert_eq!(r.get("ref_id"), Some(&json!(ref_id)), "{}", r.body);
    r.data().cloned().unwrap()
}

/// The code and HTTP status the one RC table gives `rc` in the isikuota protocol.
fn row(rc: Rc) -> (u16, &'static str) {
    let e = rc.entry();
    (e.isikuota_http, e.isikuota)
}

/// Live and sandbox `(balance, held)` of a member.
async fn balances(app: &TestApp, m: &TestMember) -> [(i64, i64); 2] {
    let mut out = [(0, 0); 2];
    for (i, mode) in [Mode::Live, Mode::Sandbox].into_iter().enumerate() {
        let b = app.store.balance(m.id, mode).await.unwrap();
        out[i] = (b.balance.get(), b.held.get());
    }
    out
}

/// The keys of a pay-pasca answer's data in testing mode (no `balance`).
const IQ_PAY_KEYS: [&str; 12] = [
    "ref_id",
    "status",
    "customer_no",
    "customer_name",
    "code",
    "tagihan",
    "admin",
    "total",
    "desc",
    "price",
    "sn",
    "paid_at",
];

/// Seed 003 / sandbox.md: PGAS's NGATIMUN bill in isikuota's field names.
fn ngatimun_iq(ref_id: &str, no: &str) -> Value {
    json!({
        "ref_id": ref_id,
        "status": "success",
        "customer_no": no,
        "customer_name": "NGATIMUN",
        "code": "PGAS",
        "tagihan": 322_002,
        "admin": 2_500,
        "total": 324_502,
        "desc": {"address": "-", "first_meter": "006538", "last_meter": "006573", "usage": 35},
    })
}

#[each_backend]
async fn inquiry_answers_the_seeds_bill_in_testing_mode_and_moves_no_money() {
    let app = spawn_app().await;
    let m = app.create_member("081300000001").await;
    let c = app.isikuota_client(&m);
    let before = balances(&app, &m).await;
    let r = inquiry(&c, "MPBPJS", "122219256576", Some("INQ-001"), true).await;
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    assert_eq!(r.message(), Some("Tagihan berhasil ditemukan"));
    assert_eq!(
        r.data(),
        Some(&demo_member_data("INQ-001", "122219256576")),
        "{}",
        r.body
    );
    assert_eq!(keys(r.data().unwrap()), IQ_INQUIRY_KEYS, "{}", r.body);
    assert_raw_order(&r.body, "\"data\":", &IQ_INQUIRY_KEYS);
    for k in ["tagihan", "admin", "total"] {
        assert!(r.get(k).unwrap().is_i64(), "{k} is an integer: {}", r.body);
    }
    // Stored as a sandbox quote of this member, with the isikuota session lifetime.
    let q = app
        .quote(&m, Mode::Sandbox, "INQ-001")
        .await
        .expect("a quote");
    assert_eq!((q.code.as_str(), q.hp.as_str()), ("MPBPJS", "122219256576"));
    assert!(
        (q.expires_at - q.created_at - 300).abs() <= 1,
        "a 5-minute session: {} .. {}",
        q.created_at,
        q.expires_at
    );
    assert!(app.quote(&m, Mode::Live, "INQ-001").await.is_none());
    assert_eq!(
        balances(&app, &m).await,
        before,
        "an inquiry moves no money"
    );
    assert_eq!(before, [(0, 0), (SANDBOX_START_BALANCE, 0)]);
    // Its status: quoted, not paid; found without the testing flag too.
    for testing in [true, false] {
        let s = status(&c, "INQ-001", testing).await;
        assert_iq_ok(&s, true, "SUCCESS");
        assert_eq!(s.get("status"), Some(&json!("inquiry")), "{}", s.body);
        assert_eq!(s.get("customer_name"), Some(&json!("Demo Member")));
        assert_eq!(s.get("total"), Some(&json!(25_200)));
    }
}

#[each_backend]
async fn an_inquiry_without_ref_id_gets_a_generated_one_that_pays() {
    let app = spawn_app().await;
    let m = app.create_member("081300000002").await;
    let c = app.isikuota_client(&m);
    // `ref_id: ""` (what the client sends for None) and no ref_id at all.
    let empty = inquiry(&c, "PGAS", "0110010000", None, true).await;
    let absent = send(
        &c,
        ORDER_PATH,
        json!({"cmd": "inquiry", "code": "PGAS", "customer_no": "0110010000", "testing": true}),
    )
    .await;
    let mut generated = Vec::new();
    for r in [&empty, &absent] {
        assert_iq_ok(r, true, "BILL_INQUIRY_SUCCESS");
        let ref_id = r.get("ref_id").and_then(Value::as_str).unwrap_or_default();
        assert!(ref_id.len() >= 8, "a generated ref_id: {}", r.body);
        let mut want = ngatimun_iq(ref_id, "0110010000");
        want["ref_id"] = json!(ref_id);
        assert_eq!(r.data(), Some(&want), "{}", r.body);
        assert!(app.quote(&m, Mode::Sandbox, ref_id).await.is_some());
        generated.push(ref_id.to_string());
    }
    assert_ne!(generated[0], generated[1], "each inquiry its own ref_id");
    for ref_id in &generated {
        let p = pay(&c, "PGAS", "0110010000", ref_id).await;
        assert_iq_ok(&p, true, "BILL_PAYMENT_SUCCESS");
        assert_eq!(p.get("ref_id"), Some(&json!(ref_id)), "{}", p.body);
    }
}

#[each_backend]
async fn a_repeated_inquiry_answers_the_same_and_another_bill_is_a_duplicate_ref_id() {
    let app = spawn_app().await;
    let m = app.create_member("081300000003").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    let first = inquiry(&c, "PGAS", "0110010000", Some(&ref_id), true).await;
    assert_iq_ok(&first, true, "BILL_INQUIRY_SUCCESS");
    let tr_id = app.quote(&m, Mode::Sandbox, &ref_id).await.unwrap().tr_id;
    let again = inquiry(&c, "PGAS", "0110010000", Some(&ref_id), true).await;
    assert_eq!(again.http_status, 200);
    assert_eq!(again.json, first.json, "the same answer");
    assert_eq!(
        app.quote(&m, Mode::Sandbox, &ref_id).await.unwrap().tr_id,
        tr_id,
        "the same quote"
    );
    // The same ref_id for another customer number, or another product: DUPLICATE_REF_ID, 409.
    let (http, code) = row(Rc::DuplicateRefId);
    assert_eq!((http, code), (409, "DUPLICATE_REF_ID"));
    for (product, no) in [("PGAS", "0110014601"), ("MPBPJS", "0110010000")] {
        let dup = inquiry(&c, product, no, Some(&ref_id), true).await;
        assert_iq_refused(&dup, http, code);
    }
    let q = app.quote(&m, Mode::Sandbox, &ref_id).await.unwrap();
    assert_eq!(
        (q.tr_id, q.code.as_str(), q.hp.as_str()),
        (tr_id, "PGAS", "0110010000")
    );
    // Once paid, the ref_id is spent: the same inquiry again is a duplicate, and nothing is paid
    // twice.
    assert_iq_ok(
        &pay(&c, "PGAS", "0110010000", &ref_id).await,
        true,
        "BILL_PAYMENT_SUCCESS",
    );
    let after = inquiry(&c, "PGAS", "0110010000", Some(&ref_id), true).await;
    assert_iq_refused(&after, 409, "DUPLICATE_REF_ID");
    // Another member may use the same ref_id.
    let other = app.create_member("081300000004").await;
    let r = inquiry(
        &app.isikuota_client(&other),
        "PGAS",
        "0110010000",
        Some(&ref_id),
        true,
    )
    .await;
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
}

#[each_backend]
async fn a_testing_payment_succeeds_charges_nothing_and_omits_balance() {
    let app = spawn_app().await;
    let m = app.create_member("081300000005").await;
    app.store
        .deposit(m.id, Mode::Live, loket_core::Rupiah::new(100_000))
        .await
        .unwrap();
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    let data = quoted(&c, "MPBPJS", "1234567890", &ref_id).await;
    let before = balances(&app, &m).await;
    assert_eq!(before, [(100_000, 0), (SANDBOX_START_BALANCE, 0)]);

    let r = pay(&c, "MPBPJS", "1234567890", &ref_id).await;
    assert_iq_ok(&r, true, "BILL_PAYMENT_SUCCESS");
    assert_eq!(r.message(), Some("Pembayaran tagihan berhasil"));
    let d = r.data().unwrap();
    assert_eq!(keys(d), IQ_PAY_KEYS, "no balance in testing: {}", r.body);
    for k in IQ_INQUIRY_KEYS {
        assert_eq!(d[k], data[k], "{k} as in the inquiry: {}", r.body);
    }
    assert_eq!(d["status"], "success");
    assert_eq!(d["price"], json!(25_200), "{}", r.body);
    // docs/sandbox.md: MPBPJS's noref.
    assert_eq!(d["sn"], "880000022500", "{}", r.body);
    let paid_at = d["paid_at"].as_str().unwrap_or_default();
    assert!(is_datetime(paid_at), "paid_at: {}", r.body);

    assert_eq!(balances(&app, &m).await, before, "testing charges nothing");
    let p = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .expect("the payment is stored");
    assert_eq!(p.state, PaymentState::Success);
    assert_eq!(p.amount.get(), 25_200);
    assert!(app
        .store
        .payment_by_ref(m.id, Mode::Live, &ref_id)
        .await
        .unwrap()
        .is_none());

    // Its status, with and without the testing flag: the payment's fields, still no balance.
    for testing in [true, false] {
        let s = status(&c, &ref_id, testing).await;
        assert_iq_ok(&s, true, "SUCCESS");
        assert_eq!(s.get("status"), Some(&json!("success")), "{}", s.body);
        assert_eq!(s.get("sn"), Some(&json!("880000022500")));
        assert_eq!(s.get("price"), Some(&json!(25_200)));
        assert_eq!(s.get("paid_at"), Some(&json!(paid_at)));
        assert!(s.get("balance").is_none(), "{}", s.body);
    }
    assert!(app.store.verify_ledger().await.unwrap().is_clean());
}

/// The live side: live inquiries are refused until upstream routes exist (issue 6), so no live
/// payment can be made and the live balance stays as deposited; testing payments never touch it.
#[each_backend]
async fn live_mode_is_unavailable_and_testing_never_touches_the_live_balance() {
    let app = spawn_app().await;
    let m = app.create_member("081300000006").await;
    app.store
        .deposit(m.id, Mode::Live, loket_core::Rupiah::new(1_000_000))
        .await
        .unwrap();
    let c = app.isikuota_client(&m);
    let (http, code) = row(Rc::ProductOutOfService);
    assert_eq!((http, code), (503, "PRODUCT_UNAVAILABLE"));
    let live_ref = ref_id();
    let r = inquiry(&c, "MPBPJS", "1234567890", Some(&live_ref), false).await;
    assert_iq_refused(&r, http, code);
    app.assert_nothing_stored(&m, &live_ref).await;
    // Paying it live: there is no live inquiry.
    let r = c
        .pay("MPBPJS", "1234567890", &live_ref, false)
        .await
        .unwrap();
    assert_iq_refused(&r, 404, "INQUIRY_NOT_FOUND");

    // Testing payments of every kind: success, failure, pending.
    for no in ["0110010000", "0110011037", "0110011039"] {
        let ref_id = ref_id();
        quoted(&c, "PGAS", no, &ref_id).await;
        let r = pay(&c, "PGAS", no, &ref_id).await;
        assert_eq!(r.http_status, 200, "{}", r.body);
        assert!(
            r.get("balance").is_none(),
            "no balance in testing: {}",
            r.body
        );
        // A testing ref_id is not a live one.
        let live = c.pay("PGAS", no, &ref_id, false).await.unwrap();
        assert_iq_refused(&live, 404, "INQUIRY_NOT_FOUND");
    }
    assert_eq!(
        balances(&app, &m).await,
        [(1_000_000, 0), (SANDBOX_START_BALANCE, 0)],
        "neither balance moved"
    );
    let b = c.balance().await.unwrap();
    assert_iq_ok(&b, true, "SUCCESS");
    assert_eq!(b.get("balance"), Some(&json!(1_000_000)), "{}", b.body);
}

/// INSUFFICIENT_BALANCE (422) needs a charge that the balance cannot cover. isikuota testing
/// payments charge nothing and live payments are not available until upstreams exist (issue 6),
/// so a request cannot provoke it over isikuota yet. What can be tested: an empty balance, live
/// and sandbox, does not make testing payments fail with it.
#[each_backend]
async fn insufficient_balance_is_not_produced_by_testing_payments() {
    let app = spawn_app().await;
    let m = app.create_member("081300000007").await;
    app.store
        .withdraw(
            m.id,
            Mode::Sandbox,
            loket_core::Rupiah::new(SANDBOX_START_BALANCE),
        )
        .await
        .unwrap();
    assert_eq!(balances(&app, &m).await, [(0, 0), (0, 0)]);
    assert_eq!(row(Rc::BalanceNotEnough), (422, "INSUFFICIENT_BALANCE"));
    let c = app.isikuota_client(&m);
    for (code, no) in [("PGAS", "0110010000"), ("MPBPJS", "1234567890")] {
        let ref_id = ref_id();
        quoted(&c, code, no, &ref_id).await;
        let r = pay(&c, code, no, &ref_id).await;
        assert_iq_ok(&r, true, "BILL_PAYMENT_SUCCESS");
    }
    assert_eq!(balances(&app, &m).await, [(0, 0), (0, 0)]);
}

#[each_backend]
async fn a_replayed_pay_body_pays_once_and_answers_the_first_payment() {
    let app = spawn_app().await;
    let m = app.create_member("081300000008").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    // The inquiry body replayed: the same answer, one quote.
    let inq = c.signed_body(
        IsikuotaClient::inquiry_params("PGAS", "0110010000", Some(&ref_id), true),
        c.now(),
    );
    let a = c.post_raw(ORDER_PATH, inq.clone()).await.unwrap();
    let b = c.post_raw(ORDER_PATH, inq.clone()).await.unwrap();
    assert_iq_ok(&a, true, "BILL_INQUIRY_SUCCESS");
    assert_eq!(a.json, b.json);

    let body = c.signed_body(
        IsikuotaClient::pay_params("PGAS", "0110010000", &ref_id, true),
        c.now(),
    );
    let first = c.post_raw(ORDER_PATH, body.clone()).await.unwrap();
    assert_iq_ok(&first, true, "BILL_PAYMENT_SUCCESS");
    let p1 = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .unwrap();
    let ledger = app.store.verify_ledger().await.unwrap();
    for _ in 0..3 {
        let again = c.post_raw(ORDER_PATH, body.clone()).await.unwrap();
        assert_iq_ok(&again, true, "BILL_PAYMENT_SUCCESS");
        assert_eq!(again.json, first.json, "the first payment's answer");
    }
    let p2 = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p1, p2, "the payment did not change");
    let after = app.store.verify_ledger().await.unwrap();
    assert!(after.is_clean(), "{:?}", after.problems);
    assert_eq!(
        (after.payments, after.transfers),
        (ledger.payments, ledger.transfers),
        "no new payment, no new transfer"
    );
    assert_eq!(after.payments, 1);
    // The inquiry replayed after the payment: the ref_id is spent, nothing new is stored.
    let late = c.post_raw(ORDER_PATH, inq).await.unwrap();
    assert_iq_refused(&late, 409, "DUPLICATE_REF_ID");
}

#[each_backend]
async fn pay_must_match_the_inquirys_code_and_customer_no() {
    let app = spawn_app().await;
    let m = app.create_member("081300000009").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    quoted(&c, "PGAS", "0110010000", &ref_id).await;
    let cases: [(&str, &str, &[&str]); 4] = [
        ("MPBPJS", "0110010000", &["code"]),
        ("PGAS", "0110014601", &["customer_no"]),
        ("MPBPJS", "0110014601", &["code", "customer_no"]),
        ("NOSUCHPRODUCT", "0110010000", &["code"]),
    ];
    for (code, no, fields) in cases {
        let r = pay(&c, code, no, &ref_id).await;
        assert_iq_invalid(&r, fields);
        let named = keys(r.errors().unwrap());
        assert_eq!(named, *fields, "only the mismatching fields: {}", r.body);
    }
    assert!(app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .is_none());
    let s = status(&c, &ref_id, true).await;
    assert_eq!(s.get("status"), Some(&json!("inquiry")), "{}", s.body);
    // The right ones pay.
    let r = pay(&c, "PGAS", "0110010000", &ref_id).await;
    assert_iq_ok(&r, true, "BILL_PAYMENT_SUCCESS");
    assert_eq!(r.get("sn"), Some(&json!("244183135447")), "{}", r.body);
    assert_eq!(r.get("price"), Some(&json!(323_902)), "{}", r.body);
}

#[each_backend]
async fn pay_after_the_inquiry_session_expired_is_410() {
    let mut config = Config::default();
    config.isikuota.inquiry_session_secs = 1;
    let app = spawn_app_with(config).await;
    let m = app.create_member("081300000010").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    quoted(&c, "PGAS", "0110010000", &ref_id).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (http, code) = row(Rc::BillingIdExpired);
    assert_eq!((http, code), (410, "INQUIRY_EXPIRED"));
    let r = pay(&c, "PGAS", "0110010000", &ref_id).await;
    assert_iq_refused(&r, http, code);
    assert!(app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .is_none());
    let s = status(&c, &ref_id, true).await;
    assert_iq_ok(&s, true, "SUCCESS");
    assert_eq!(s.get("status"), Some(&json!("expired")), "{}", s.body);
    // Still expired on a second try.
    assert_iq_refused(&pay(&c, "PGAS", "0110010000", &ref_id).await, 410, code);
}

/// 20 concurrent `pay-pasca` of one inquired ref_id (PGAS `0110010000`: an immediate success).
/// Answers the 20 answers, after checking that exactly one payment was made and charged once.
async fn twenty_concurrent_payments(member: &str) -> Vec<IsikuotaResponse> {
    let app = spawn_app().await;
    let m = app.create_member(member).await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    quoted(&c, "PGAS", "0110010000", &ref_id).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let c = c.clone();
        let ref_id = ref_id.clone();
        set.spawn(async move { pay(&c, "PGAS", "0110010000", &ref_id).await });
    }
    let mut answers = Vec::new();
    while let Some(r) = set.join_next().await {
        answers.push(r.expect("the task ends"));
    }
    assert_eq!(answers.len(), 20);
    let p = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .expect("one payment");
    assert_eq!(p.state, PaymentState::Success);
    let report = app.store.verify_ledger().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.payments, 1, "exactly one payment");
    assert_eq!(report.pending_holds, 0);
    assert_eq!(
        balances(&app, &m).await,
        [(0, 0), (SANDBOX_START_BALANCE, 0)]
    );
    // Afterwards, pay-pasca answers the one payment's success.
    let after = pay(&c, "PGAS", "0110010000", &ref_id).await;
    assert_iq_ok(&after, true, "BILL_PAYMENT_SUCCESS");
    assert_eq!(
        after.get("sn"),
        Some(&json!("244183135447")),
        "{}",
        after.body
    );
    answers
}

/// Exactly one payment and one charge; every answer is that payment: its success, or (see the
/// ignored test below) its pending state while the first request is still settling it.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_payments_of_one_ref_id_pay_once() {
    let answers = twenty_concurrent_payments("081300000011").await;
    let mut successes = 0;
    for r in &answers {
        match r.code() {
            Some("BILL_PAYMENT_SUCCESS") => {
                assert_iq_ok(r, true, "BILL_PAYMENT_SUCCESS");
                assert_eq!(r.get("sn"), Some(&json!("244183135447")), "{}", r.body);
                successes += 1;
            }
            _ => {
                assert_iq_ok(r, true, "BILL_PAYMENT_PENDING");
                assert_eq!(r.get("sn"), Some(&json!("")), "{}", r.body);
            }
        }
        for k in IQ_INQUIRY_KEYS.iter().filter(|k| **k != "status") {
            assert_eq!(r.get(k), answers[0].get(k), "{k}: the same bill");
        }
        assert_eq!(r.get("price"), Some(&json!(323_902)));
    }
    assert!(successes >= 1, "the first request answers the success");
}

/// spec/isikuota.md: pay-pasca again "answers the state of the first payment", and the sandbox
/// answers `0000` numbers as an immediate success. A request that arrives while the first one is
/// between placing the hold and recording the sandbox's answer gets BILL_PAYMENT_PENDING instead
/// (gateway::pay_quote answers `Placed::Existing` as it is, not after it settles).
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_payments_all_answer_the_first_payments_success() {
    let answers = twenty_concurrent_payments("081300000025").await;
    for r in &answers {
        assert_iq_ok(r, true, "BILL_PAYMENT_SUCCESS");
        assert_eq!(r.get("sn"), Some(&json!("244183135447")), "{}", r.body);
        assert_eq!(r.data(), answers[0].data(), "one payment's answer");
    }
}

#[each_backend]
async fn a_pending_payment_answers_pending_then_status_turns_success() {
    let mut config = Config::default();
    config.sandbox.pending_resolve_secs = 1;
    let app = spawn_app_with(config).await;
    let m = app.create_member("081300000012").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    quoted(&c, "PGAS", "0110011039", &ref_id).await;
    let r = pay(&c, "PGAS", "0110011039", &ref_id).await;
    assert_iq_ok(&r, true, "BILL_PAYMENT_PENDING");
    assert_eq!(r.get("status"), Some(&json!("pending")), "{}", r.body);
    assert_eq!(r.get("sn"), Some(&json!("")), "{}", r.body);
    assert_eq!(r.get("paid_at"), Some(&Value::Null), "{}", r.body);
    assert!(r.get("balance").is_none(), "{}", r.body);
    // Paying again while pending: the same pending payment.
    let again = pay(&c, "PGAS", "0110011039", &ref_id).await;
    assert_iq_ok(&again, true, "BILL_PAYMENT_PENDING");
    let (cr, rr) = (&c, ref_id.as_str());
    let s = eventually(
        Duration::from_secs(10),
        "the payment to resolve",
        move || async move {
            let s = status(cr, rr, true).await;
            assert_iq_ok(&s, true, "SUCCESS");
            (s.get("status") != Some(&json!("pending"))).then_some(s)
        },
    )
    .await;
    assert_eq!(s.get("status"), Some(&json!("success")), "{}", s.body);
    assert_eq!(s.get("sn"), Some(&json!("244183135447")), "{}", s.body);
    assert!(is_datetime(
        s.get("paid_at").and_then(Value::as_str).unwrap_or("")
    ));
    // pay-pasca now answers the settled payment, without a second charge.
    let after = pay(&c, "PGAS", "0110011039", &ref_id).await;
    assert_iq_ok(&after, true, "BILL_PAYMENT_SUCCESS");
    assert_eq!(after.get("sn"), Some(&json!("244183135447")));
    let report = app.store.verify_ledger().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.payments, report.pending_holds), (1, 0));
}

#[each_backend]
async fn a_definite_payment_failure_is_200_with_success_false() {
    let app = spawn_app().await;
    let m = app.create_member("081300000013").await;
    let c = app.isikuota_client(&m);
    let ref_id = ref_id();
    quoted(&c, "PGAS", "0110011037", &ref_id).await;
    let r = pay(&c, "PGAS", "0110011037", &ref_id).await;
    assert_iq_ok(&r, false, "BILL_PAYMENT_FAILED");
    assert_eq!(row(Rc::PaymentFailed), (200, "BILL_PAYMENT_FAILED"));
    assert_eq!(r.get("status"), Some(&json!("failed")), "{}", r.body);
    assert_eq!(r.get("sn"), Some(&json!("")), "{}", r.body);
    assert!(r.get("balance").is_none(), "{}", r.body);
    let p = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &ref_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.state, p.rc), (PaymentState::Failed, Rc::PaymentFailed));
    // Again: the same failure, not a second attempt.
    let again = pay(&c, "PGAS", "0110011037", &ref_id).await;
    assert_eq!(again.json, r.json);
    let s = status(&c, &ref_id, true).await;
    assert_iq_ok(&s, true, "SUCCESS");
    assert_eq!(s.get("status"), Some(&json!("failed")), "{}", s.body);
    let report = app.store.verify_ledger().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.payments, report.pending_holds), (1, 0));
    assert_eq!(
        balances(&app, &m).await,
        [(0, 0), (SANDBOX_START_BALANCE, 0)]
    );
}

/// Refusals the sandbox biller and the catalogue produce, each with the code and HTTP status of
/// its row in the one RC table; nothing is stored for them.
#[each_backend]
async fn inquiry_refusals_carry_their_codes_and_statuses() {
    let app = spawn_app().await;
    let m = app.create_member("081300000014").await;
    let c = app.isikuota_client(&m);
    let cases = [
        (
            "NOSUCHPRODUCT",
            "0110010000",
            Rc::ProductUnregistered,
            404,
            "PRODUCT_NOT_FOUND",
        ),
        (
            "PDAMKAB.BOGOR",
            "10200000",
            Rc::ProductOutOfService,
            503,
            "PRODUCT_UNAVAILABLE",
        ),
        (
            "PGAS",
            "0110010014",
            Rc::IncorrectDestinationNumber,
            404,
            "BILL_NOT_FOUND",
        ),
        (
            "PGAS",
            "0110010001",
            Rc::InvoiceHasBeenPaid,
            409,
            "BILL_ALREADY_PAID",
        ),
        ("PGAS", "0110010103", Rc::Timeout, 504, "BILLER_TIMEOUT"),
        // The biller's own errors: RC 105 and RC 09 (sandbox.md's RC-encoded rule).
        (
            "PGAS",
            "0110010105",
            Rc::BillerSystemError,
            502,
            "BILLER_ERROR",
        ),
        ("PGAS", "0110010009", Rc::InquiryFailed, 502, "BILLER_ERROR"),
        // Not digits: the wrong customer number of spec/isikuota.md.
        (
            "PGAS",
            "01100A",
            Rc::IncorrectDestinationNumber,
            404,
            "BILL_NOT_FOUND",
        ),
    ];
    for (code, no, rc, http, name) in cases {
        assert_eq!(row(rc), (http, name), "the RC table's row of {rc:?}");
        let ref_id = ref_id();
        let r = inquiry(&c, code, no, Some(&ref_id), true).await;
        assert_iq_refused(&r, http, name);
        assert!(
            r.message().unwrap().starts_with(match name {
                "PRODUCT_NOT_FOUND" => "Produk tidak ditemukan",
                "PRODUCT_UNAVAILABLE" => "Produk sedang tidak tersedia",
                "BILL_NOT_FOUND" => "Tagihan tidak ditemukan",
                "BILL_ALREADY_PAID" => "Tagihan sudah dibayar",
                "BILLER_TIMEOUT" => "Biller tidak merespons",
                _ => "Biller sedang mengalami gangguan",
            }),
            "{}",
            r.body
        );
        app.assert_nothing_stored(&m, &ref_id).await;
    }
}

#[each_backend]
async fn unknown_ref_ids_are_inquiry_not_found() {
    let app = spawn_app().await;
    let m = app.create_member("081300000015").await;
    let other = app.create_member("081300000016").await;
    let c = app.isikuota_client(&m);
    assert_eq!(row(Rc::InquiryIdNotFound), (404, "INQUIRY_NOT_FOUND"));
    let unknown = ref_id();
    assert_iq_refused(
        &pay(&c, "PGAS", "0110010000", &unknown).await,
        404,
        "INQUIRY_NOT_FOUND",
    );
    for testing in [true, false] {
        assert_iq_refused(
            &status(&c, &unknown, testing).await,
            404,
            "INQUIRY_NOT_FOUND",
        );
    }
    // Another member's ref_id.
    let theirs = ref_id();
    quoted(&app.isikuota_client(&other), "PGAS", "0110010000", &theirs).await;
    assert_iq_refused(
        &pay(&c, "PGAS", "0110010000", &theirs).await,
        404,
        "INQUIRY_NOT_FOUND",
    );
    assert_iq_refused(&status(&c, &theirs, true).await, 404, "INQUIRY_NOT_FOUND");
    // An IAK-protocol quote of the same member is not an isikuota inquiry.
    let iak_ref = ref_id();
    let r = inquire(
        &app.sandbox_client(&m),
        &loket_client::iak::InquiryParams {
            ref_id: iak_ref.clone(),
            ..params("PGAS", "0110010000")
        },
    )
    .await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_iq_refused(
        &pay(&c, "PGAS", "0110010000", &iak_ref).await,
        404,
        "INQUIRY_NOT_FOUND",
    );
    assert!(app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &iak_ref)
        .await
        .unwrap()
        .is_none());
}

/// The body as sent, with `field` removed or replaced.
fn edit(body: &[u8], field: &str, value: Option<Value>) -> Vec<u8> {
    let mut m: Map<String, Value> = serde_json::from_slice(body).unwrap();
    match value {
        Some(v) => {
            m.insert(field.into(), v);
        }
        None => {
            m.shift_remove(field);
        }
    }
    serde_json::to_vec(&m).unwrap()
}

#[each_backend]
async fn validation_errors_are_400_and_name_the_field() {
    let app = spawn_app().await;
    let m = app.create_member("081300000017").await;
    let c = app.isikuota_client(&m);
    // Bodies that are not a JSON object.
    for body in [
        &b""[..],
        b"{\"cmd\":\"inquiry\",",
        b"not json",
        b"[]",
        b"[{\"api_id\":\"x\"}]",
        b"\"text\"",
        b"42",
        b"null",
        // Duplicate keys: the signature would cover one value and the handler read another.
        b"{\"cmd\":\"inquiry\",\"cmd\":\"status\"}",
    ] {
        let r = app.post_iq(ORDER_PATH, body.to_vec()).await;
        assert_iq_invalid(&r, &["body"]);
    }
    // The fields the signature needs.
    let good = c.signed_body(
        IsikuotaClient::inquiry_params("MPBPJS", "1234567890", Some(&ref_id()), true),
        c.now(),
    );
    for field in ["api_id", "timestamp", "signature"] {
        let r = app.post_iq(ORDER_PATH, edit(&good, field, None)).await;
        assert_iq_invalid(&r, &[field]);
    }
    let bad_types = [
        ("api_id", json!(12345)),
        ("timestamp", json!(c.now().to_string())),
        ("timestamp", json!(1.5)),
        ("timestamp", json!(-1)),
        ("signature", json!(null)),
        ("signature", json!(["a"])),
    ];
    for (field, value) in bad_types {
        let r = app
            .post_iq(ORDER_PATH, edit(&good, field, Some(value.clone())))
            .await;
        assert_iq_invalid(&r, &[field]);
    }
    // Signed requests with invalid business params.
    let order_cases = [
        (json!({}), vec!["cmd"]),
        (json!({"cmd": "refund"}), vec!["cmd"]),
        (json!({"cmd": 1}), vec!["cmd"]),
        (
            json!({"cmd": "inquiry", "customer_no": "1234567890", "testing": true}),
            vec!["code"],
        ),
        (
            json!({"cmd": "inquiry", "code": "MPBPJS", "testing": true}),
            vec!["customer_no"],
        ),
        (
            json!({"cmd": "inquiry", "testing": true}),
            vec!["code", "customer_no"],
        ),
        (
            json!({"cmd": "inquiry", "code": "MPBPJS", "customer_no": "1234567890", "testing": "true"}),
            vec!["testing"],
        ),
        (
            json!({"cmd": "inquiry", "code": "MPBPJS", "customer_no": "1234567890", "testing": 1}),
            vec!["testing"],
        ),
        (
            json!({"cmd": "inquiry", "code": ["MPBPJS"], "customer_no": "1234567890", "testing": true}),
            vec!["code"],
        ),
        (
            json!({"cmd": "inquiry", "code": "MPBPJS", "customer_no": {"no": 1}, "testing": true}),
            vec!["customer_no"],
        ),
        (
            json!({"cmd": "inquiry", "code": "MPBPJS", "customer_no": "1234567890", "ref_id": "x".repeat(200), "testing": true}),
            vec!["ref_id"],
        ),
        (
            json!({"cmd": "pay-pasca", "code": "MPBPJS", "customer_no": "1234567890", "testing": true}),
            vec!["ref_id"],
        ),
        (
            json!({"cmd": "pay-pasca", "ref_id": "R1", "testing": true}),
            vec!["code", "customer_no"],
        ),
        (json!({"cmd": "status", "testing": true}), vec!["ref_id"]),
        (
            json!({"cmd": "status", "ref_id": "", "testing": true}),
            vec!["ref_id"],
        ),
    ];
    for (params, fields) in order_cases {
        let r = send(&c, ORDER_PATH, params.clone()).await;
        assert_iq_invalid(&r, &fields);
        assert!(
            r.message()
                .unwrap()
                .starts_with("Data yang dikirim tidak valid"),
            "{}",
            r.body
        );
    }
    assert_eq!(
        balances(&app, &m).await,
        [(0, 0), (SANDBOX_START_BALANCE, 0)]
    );
    // A customer number sent as a JSON number is accepted (and signed as a number).
    let r = send(
        &c,
        ORDER_PATH,
        json!({"cmd": "inquiry", "code": "MPBPJS", "customer_no": 1234567890, "ref_id": ref_id(), "testing": true}),
    )
    .await;
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    assert_eq!(
        r.get("customer_no"),
        Some(&json!("1234567890")),
        "{}",
        r.body
    );
}

#[each_backend]
async fn signature_failures_are_401_and_an_unknown_api_id_looks_the_same() {
    let app = spawn_app().await;
    let m = app.create_member("081300000018").await;
    let other = app.create_member("081300000019").await;
    let c = app.isikuota_client(&m);
    assert_eq!(row(Rc::InvalidSignature), (401, "INVALID_SIGNATURE"));
    let ref_id = ref_id();
    let params = IsikuotaClient::inquiry_params("MPBPJS", "1234567890", Some(&ref_id), true);
    let ts = c.now();
    let good = c.signed_body(params.clone(), ts);
    let sig = serde_json::from_slice::<Value>(&good).unwrap()["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = {
        let mut s = sig.clone();
        let last = if s.ends_with('0') { "1" } else { "0" };
        s.replace_range(63.., last);
        s
    };
    let unknown_id = IsikuotaClient::new(
        &app.base_url,
        "LK0000000000000000",
        &m.api_key,
        &m.secret_key,
    );
    let bodies = [
        (
            "a wrong signature",
            edit(&good, "signature", Some(json!(flipped))),
        ),
        (
            "an empty signature",
            edit(&good, "signature", Some(json!(""))),
        ),
        (
            "a business param changed after signing",
            edit(&good, "customer_no", Some(json!("1234567891"))),
        ),
        (
            "testing removed after signing",
            edit(&good, "testing", None),
        ),
        (
            "testing changed after signing",
            edit(&good, "testing", Some(json!(false))),
        ),
        (
            "the timestamp changed after signing",
            edit(&good, "timestamp", Some(json!(ts - 1))),
        ),
        (
            "another member's secret",
            IsikuotaClient::new(&app.base_url, &m.api_id, &m.api_key, &other.secret_key)
                .signed_body(params.clone(), ts),
        ),
        (
            "another member's api_key",
            IsikuotaClient::new(&app.base_url, &m.api_id, &other.api_key, &m.secret_key)
                .signed_body(params.clone(), ts),
        ),
        (
            "an unknown api_id",
            unknown_id.signed_body(params.clone(), ts),
        ),
    ];
    let mut first: Option<IsikuotaResponse> = None;
    for (what, body) in bodies {
        let r = app.post_iq(ORDER_PATH, body).await;
        assert_iq_refused(&r, 401, "INVALID_SIGNATURE");
        match &first {
            None => first = Some(r),
            Some(f) => assert_eq!(r.body, f.body, "{what}: the same answer, byte for byte"),
        }
    }
    app.assert_nothing_stored(&m, &ref_id).await;
    let r = app.post_iq(ORDER_PATH, good.clone()).await;
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    // The business params are sorted before signing: their order in the body does not matter.
    let moved = edit(&edit(&good, "cmd", None), "cmd", Some(json!("inquiry")));
    assert_ne!(moved, good);
    let again = app.post_iq(ORDER_PATH, moved).await;
    assert_iq_ok(&again, true, "BILL_INQUIRY_SUCCESS");
    assert_eq!(again.json, r.json);
    // /v1/balance is signed the same way.
    let r = unknown_id.balance().await.unwrap();
    assert_iq_refused(&r, 401, "INVALID_SIGNATURE");
}

fn long_ago() -> i64 {
    unix_now() - 301
}

fn far_ahead() -> i64 {
    unix_now() + 301
}

fn a_bit_ago() -> i64 {
    unix_now() - 290
}

fn a_bit_ahead() -> i64 {
    unix_now() + 290
}

#[each_backend]
async fn timestamps_more_than_300_s_away_are_expired() {
    let app = spawn_app().await;
    let m = app.create_member("081300000020").await;
    let base = app.isikuota_client(&m);
    assert_eq!(
        Config::default().isikuota.timestamp_window_secs,
        300,
        "the documented default"
    );
    for clock in [long_ago as fn() -> i64, far_ahead] {
        let c = base.clone().with_clock(clock);
        let ref_id = ref_id();
        let r = inquiry(&c, "MPBPJS", "1234567890", Some(&ref_id), true).await;
        assert_iq_refused(&r, 401, "TIMESTAMP_EXPIRED");
        app.assert_nothing_stored(&m, &ref_id).await;
        assert_iq_refused(&c.balance().await.unwrap(), 401, "TIMESTAMP_EXPIRED");
        assert_iq_refused(&status(&c, &ref_id, true).await, 401, "TIMESTAMP_EXPIRED");
    }
    for clock in [a_bit_ago as fn() -> i64, a_bit_ahead] {
        let c = base.clone().with_clock(clock);
        let r = inquiry(&c, "MPBPJS", "1234567890", Some(&ref_id()), true).await;
        assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    }
}

#[each_backend]
async fn a_disallowed_address_and_a_suspended_account_are_403() {
    let app = spawn_app().await;
    let m = app.create_member("081300000021").await;
    let c = app.isikuota_client(&m);
    assert_eq!(row(Rc::InvalidIpAddress), (403, "IP_NOT_ALLOWED"));
    assert_eq!(row(Rc::AccountSuspended), (403, "ACCOUNT_SUSPENDED"));
    let paid = ref_id();
    quoted(&c, "PGAS", "0110010000", &paid).await;

    app.store
        .update_member(
            &m.username,
            MemberUpdate {
                allowlist: Some("10.9.9.9".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let fresh = ref_id();
    assert_iq_refused(
        &inquiry(&c, "PGAS", "0110010000", Some(&fresh), true).await,
        403,
        "IP_NOT_ALLOWED",
    );
    assert_iq_refused(
        &pay(&c, "PGAS", "0110010000", &paid).await,
        403,
        "IP_NOT_ALLOWED",
    );
    assert_iq_refused(&c.balance().await.unwrap(), 403, "IP_NOT_ALLOWED");
    app.assert_nothing_stored(&m, &fresh).await;
    app.store
        .update_member(
            &m.username,
            MemberUpdate {
                allowlist: Some("10.9.9.9, 127.0.0.1".into()),
                suspended: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_iq_refused(
        &inquiry(&c, "PGAS", "0110010000", Some(&fresh), true).await,
        403,
        "ACCOUNT_SUSPENDED",
    );
    assert_iq_refused(
        &pay(&c, "PGAS", "0110010000", &paid).await,
        403,
        "ACCOUNT_SUSPENDED",
    );
    assert_iq_refused(&status(&c, &paid, true).await, 403, "ACCOUNT_SUSPENDED");
    assert_iq_refused(&c.balance().await.unwrap(), 403, "ACCOUNT_SUSPENDED");
    app.assert_nothing_stored(&m, &fresh).await;
    assert!(app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &paid)
        .await
        .unwrap()
        .is_none());
    // Unsuspended, and 127.0.0.1 allowed: it pays.
    app.store
        .update_member(
            &m.username,
            MemberUpdate {
                suspended: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_iq_ok(
        &pay(&c, "PGAS", "0110010000", &paid).await,
        true,
        "BILL_PAYMENT_SUCCESS",
    );
}

#[each_backend]
async fn oversized_bodies_unknown_paths_and_other_methods() {
    let app = spawn_app().await;
    let m = app.create_member("081300000022").await;
    let c = app.isikuota_client(&m);
    // Over limits.max_body_bytes (1 MiB by default): 413 in the envelope.
    let big = format!(
        "{{\"cmd\":\"inquiry\",\"pad\":\"{}\"}}",
        "x".repeat(1024 * 1024)
    );
    for path in [ORDER_PATH, BALANCE_PATH] {
        let r = app.post_iq(path, big.clone()).await;
        assert_envelope(&r);
        assert_eq!(r.http_status, 413, "{}", &r.body);
        assert_eq!(r.success(), Some(false));
        assert_eq!(r.json["data"], Value::Null);
        assert!(
            r.errors().and_then(|e| e.get("body")).is_some(),
            "{}",
            r.body
        );
    }
    // A signed request that is too big, too.
    let r = c
        .send_params(
            ORDER_PATH,
            obj(json!({"cmd": "status", "ref_id": "R", "pad": "y".repeat(1024 * 1024)})),
        )
        .await
        .unwrap();
    assert_eq!(r.http_status, 413, "{}", r.body);
    // Unknown paths under /v1/ and methods other than POST: 404 in the envelope.
    let (http, code) = row(Rc::PageNotFound);
    assert_eq!(http, 404);
    let good = c.signed_body(IsikuotaClient::status_params("R", true), c.now());
    for path in ["/v1/orders", "/v1/", "/v1/order/status", "/v1/Balance"] {
        let r = app.post_iq(path, good.clone()).await;
        assert_iq_refused(&r, 404, code);
    }
    for path in [ORDER_PATH, BALANCE_PATH, "/v1/nope"] {
        let r = app.get_iq(path).await;
        assert_iq_refused(&r, 404, code);
    }
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let resp = app
            .http
            .request(method.clone(), format!("{}{ORDER_PATH}", app.base_url))
            .header("content-type", "application/json")
            .body(good.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let r = IsikuotaResponse::parse(status, &resp.bytes().await.unwrap());
        assert_iq_refused(&r, 404, code);
    }
    app.assert_alive().await;
}

#[each_backend]
async fn balance_answers_the_live_available_balance() {
    let app = spawn_app().await;
    let m = app.create_member("081300000023").await;
    let c = app.isikuota_client(&m);
    let r = c.balance().await.unwrap();
    assert_iq_ok(&r, true, "SUCCESS");
    assert_eq!(
        r.get("balance"),
        Some(&json!(0)),
        "a new member: {}",
        r.body
    );
    app.store
        .deposit(m.id, Mode::Live, loket_core::Rupiah::new(150_000))
        .await
        .unwrap();
    app.store
        .deposit(m.id, Mode::Sandbox, loket_core::Rupiah::new(7))
        .await
        .unwrap();
    // A hold is not available.
    app.store
        .hold(m.id, Mode::Live, "sandbox", loket_core::Rupiah::new(50_000))
        .await
        .unwrap();
    let before = unix_now();
    let r = c.balance().await.unwrap();
    let after = unix_now();
    assert_iq_ok(&r, true, "SUCCESS");
    assert_eq!(r.message(), Some("Saldo berhasil didapatkan"));
    let d = r.data().unwrap();
    assert_eq!(
        keys(d),
        ["name", "balance", "currency", "checked_at"],
        "{}",
        r.body
    );
    assert_eq!(d["name"], json!(m.name));
    assert_eq!(d["balance"], json!(100_000), "live, available: {}", r.body);
    assert_eq!(d["currency"], "IDR");
    let checked_at = d["checked_at"].as_str().unwrap();
    assert!(is_datetime(checked_at), "{}", r.body);
    let window: Vec<String> = (before..=after)
        .map(loket_core::jakarta::datetime)
        .collect();
    assert!(
        window.iter().any(|w| w == checked_at),
        "checked_at {checked_at} is now in Jakarta ({window:?})"
    );
    // Extra business params are signed like any others and do not change the answer.
    let r = send(&c, BALANCE_PATH, json!({"cmd": "balance"})).await;
    assert_iq_ok(&r, true, "SUCCESS");
    assert_eq!(r.get("balance"), Some(&json!(100_000)));
}

#[each_backend]
async fn loket_call_isikuota_inquiry_prints_the_answer() {
    let app = spawn_app().await;
    let m = app.create_member("081300000024").await;
    let ref_id = ref_id();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .env_remove("LOKET_URL")
        .env_remove("LOKET_API_ID")
        .env_remove("LOKET_API_KEY")
        .env_remove("LOKET_SECRET_KEY")
        .args(["call", "isikuota", "inquiry", "--url", &app.base_url])
        .args(["--api-id", &m.api_id, "--api-key", &m.api_key])
        .args(["--secret-key", &m.secret_key, "--code", "MPBPJS"])
        .args([
            "--customer-no",
            "1234567890",
            "--ref-id",
            &ref_id,
            "--testing",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("loket runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("JSON on stdout ({e}): {stdout}"));
    assert_eq!(v["code"], "BILL_INQUIRY_SUCCESS", "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["data"], demo_member_data(&ref_id, "1234567890"), "{v}");
    assert!(app.quote(&m, Mode::Sandbox, &ref_id).await.is_some());
}
