//! A fake Digiflazz built from its documented buyer API (spec/upstreams.md): `POST /v1/transaction`
//! with `inq-pasca` / `pay-pasca` / `status-pasca`, one `ref_id` for all three, `sign =
//! md5(username + api_key + ref_id)` checked on every request; callbacks signed `X-Hub-Signature:
//! sha1=HMAC-SHA1(body, secret)`. Through it, A's member sees a success, a failure, a pending
//! payment settled by a signed webhook, and a pending payment failed by polling.

use super::fake::*;
use super::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const SECRET: &str = "df-webhook-secret";
const SKU: &str = "PGASDF";
/// A's selling_price for Digiflazz's bill: the customer's total less PGAS's commission (600).
const SELLING: i64 = DF_TOTAL - 600;
const DEPOSIT: i64 = 10_000_000;

async fn a_with_digiflazz() -> (TestApp, TestMember, FakeDigiflazz) {
    let df = FakeDigiflazz::start().await;
    let a = spawn_app_with(a_config()).await;
    a.add_upstream(UpstreamRecord {
        secret_key: SECRET.into(),
        ..upstream(
            "df",
            "digiflazz",
            &df.server.base_url,
            &df.username,
            &df.api_key,
        )
    })
    .await;
    a.add_route("PGAS", "df", 1, Some(SKU)).await;
    let am = a.live_member("081288800001", DEPOSIT).await;
    (a, am, df)
}

fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A's ref_id towards Digiflazz for the quote.
async fn df_ref(a: &TestApp, tr_id: i64) -> String {
    let q = a.store.quote(tr_id).await.unwrap().unwrap();
    assert_eq!(
        (q.biller.as_str(), q.upstream_code.as_deref()),
        ("df", Some(SKU))
    );
    q.upstream_ref_id.expect("a ref_id towards Digiflazz")
}

/// Every request followed the documented protocol, and every command about `hp` carried the
/// quote's one ref_id.
fn assert_protocol(df: &FakeDigiflazz, hp: &str, ref_id: &str, commands: &[&str]) {
    assert_eq!(df.bad(), Vec::<String>::new(), "protocol violations");
    for s in df.server.seen() {
        assert_eq!(s.path, "/v1/transaction", "{}", s.body);
        assert_eq!(
            s.body["buyer_sku_code"], SKU,
            "the route's code: {}",
            s.body
        );
    }
    let calls = df.calls(hp);
    let names: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    assert!(names.starts_with(commands), "{hp}: {names:?}");
    assert!(
        calls.iter().all(|(_, r)| r == ref_id),
        "one ref_id for inquiry, payment and status: {calls:?}"
    );
}

#[each_backend]
async fn digiflazz_success_failures_and_a_refused_inquiry() {
    let (a, am, df) = a_with_digiflazz().await;
    let client = a.live_client(&am);
    let script = |pay: &'static str| DfScript {
        inquiry: "00",
        pay,
        status: pay,
    };
    df.script("0110018001", script("00"));
    df.script("0110018002", script("02"));
    df.script("0110018011", script("01"));
    df.script(
        "0110018054",
        DfScript {
            inquiry: "54",
            pay: "00",
            status: "00",
        },
    );

    // The bill as Digiflazz quotes it: the bill is its selling_price less admin, the period from
    // desc.detail, A's selling_price less A's commission; the cost is Digiflazz's price.
    let p = params("PGAS", "0110018001");
    let r = inquire(&client, &p).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(r.field("tr_name").as_deref(), Some(DF_NAME));
    assert_eq!(r.field("period").as_deref(), Some("201901"));
    assert_eq!(int_field(&r, "nominal"), DF_TOTAL - DF_ADMIN);
    assert_eq!(int_field(&r, "admin"), DF_ADMIN);
    assert_eq!(int_field(&r, "price"), DF_TOTAL);
    assert_eq!(int_field(&r, "selling_price"), SELLING);
    let tr_id = int_field(&r, "tr_id");
    let q = a.store.quote(tr_id).await.unwrap().unwrap();
    assert_eq!(q.cost, Rupiah::new(DF_PRICE));
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "00", "PAYMENT SUCCESS");
    assert_eq!(r.field("noref").as_deref(), Some("SN-0110018001"), "the sn");
    assert_eq!(int_field(&r, "balance"), DEPOSIT - SELLING);
    assert_protocol(
        &df,
        "0110018001",
        &df_ref(&a, tr_id).await,
        &["inq-pasca", "pay-pasca"],
    );
    assert_eq!(
        df.calls("0110018001").len(),
        2,
        "no status check for a paid bill"
    );

    // "Gagal": released at once. RC 02 is loket's 07, RC 01 (Digiflazz's timeout) its 103.
    for (hp, rc, message) in [
        ("0110018002", "07", "TRANSACTION FAILED"),
        ("0110018011", "103", "TIMEOUT"),
    ] {
        let tr_id = quote_tr_id(&client, &params("PGAS", hp)).await;
        let r = pay(&client, tr_id).await;
        assert_rc(&r, rc, message);
        assert_eq!(
            int_field(&r, "balance"),
            DEPOSIT - SELLING,
            "released: {}",
            r.body
        );
        let p = a.payment(tr_id).await.unwrap();
        assert_eq!((p.state, p.rc.code()), (PaymentState::Failed, rc));
        assert_protocol(
            &df,
            hp,
            &df_ref(&a, tr_id).await,
            &["inq-pasca", "pay-pasca"],
        );
    }

    // "Nomor Tujuan Salah" (54) is an answer about the number: RC 14.
    let p = params("PGAS", "0110018054");
    let r = inquire(&client, &p).await;
    assert_eq!(r.rc().as_deref(), Some("14"), "{}", r.body);
    a.assert_nothing_stored(&am, &p.ref_id).await;

    assert_eq!(a.live_balance(&am).await, (DEPOSIT - SELLING, 0));
    assert_eq!(a.account("upstream:df"), (DF_PRICE, 0));
    assert_eq!(a.account("revenue"), (SELLING - DF_PRICE, 0));
    a.assert_ledger_clean().await;
    ledger_verify(&a.database_url).await;
}

#[each_backend]
async fn digiflazz_pending_then_success_by_a_signed_webhook() {
    let (a, am, df) = a_with_digiflazz().await;
    let client = a.live_client(&am);
    let hp = "0110018003";
    df.script(
        hp,
        DfScript {
            inquiry: "00",
            pay: "03",
            status: "03",
        },
    );
    let p = params("PGAS", hp);
    let tr_id = quote_tr_id(&client, &p).await;
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "39", "PENDING / TRANSACTION IN PROCESS");
    let ref_id = df_ref(&a, tr_id).await;
    // The resolver asks status-pasca; "Pending" keeps the hold.
    eventually(Duration::from_secs(10), "a status-pasca", || async {
        df.calls(hp)
            .iter()
            .any(|(c, _)| c == "status-pasca")
            .then_some(())
    })
    .await;
    assert_protocol(
        &df,
        hp,
        &ref_id,
        &["inq-pasca", "pay-pasca", "status-pasca"],
    );
    assert_eq!(a.payment(tr_id).await.unwrap().state, PaymentState::Pending);
    assert_eq!(a.live_balance(&am).await, (DEPOSIT, SELLING));

    let hook = |data: Value| serde_json::to_vec(&json!({ "data": data })).unwrap();
    let post = |path: String, body: Vec<u8>, signature: Option<String>| {
        let mut req = a
            .http
            .post(format!("{}{path}", a.base_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature", s);
        }
        async move { req.send().await.expect("an answer").status().as_u16() }
    };
    let path = "/webhooks/digiflazz/df".to_string();
    let paid = hook(df_data(&ref_id, hp, SKU, "00", "SN-WEBHOOK-1"));

    // Unsigned, signed with another secret, signed over another body: 401, nothing changes.
    assert_eq!(post(path.clone(), paid.clone(), None).await, 401);
    assert_eq!(
        post(
            path.clone(),
            paid.clone(),
            Some(hub_signature("not-the-secret", &paid))
        )
        .await,
        401
    );
    let other = hook(df_data(&ref_id, hp, SKU, "02", ""));
    assert_eq!(
        post(
            path.clone(),
            paid.clone(),
            Some(hub_signature(SECRET, &other))
        )
        .await,
        401
    );
    // Another upstream's name: not found.
    assert_eq!(
        post(
            "/webhooks/digiflazz/nosuch".into(),
            paid.clone(),
            Some(hub_signature(SECRET, &paid))
        )
        .await,
        404
    );
    let p_now = a.payment(tr_id).await.unwrap();
    assert_eq!(
        p_now.state,
        PaymentState::Pending,
        "bad callbacks change nothing"
    );
    assert_eq!(a.live_balance(&am).await, (DEPOSIT, SELLING));

    // The signed callback settles it at once.
    assert_eq!(
        post(
            path.clone(),
            paid.clone(),
            Some(hub_signature(SECRET, &paid))
        )
        .await,
        200
    );
    let settled = a.payment(tr_id).await.unwrap();
    assert_eq!(
        (settled.state, settled.rc.code(), settled.noref.as_str()),
        (PaymentState::Success, "00", "SN-WEBHOOK-1")
    );
    assert_eq!(settled.resolved_by.as_deref(), Some("webhook df"));
    assert_eq!(a.live_balance(&am).await, (DEPOSIT - SELLING, 0));
    let transfers = a.store.verify_ledger().await.unwrap().transfers;

    // Idempotent: the same callback again, or one that contradicts it, changes nothing.
    assert_eq!(
        post(
            path.clone(),
            paid.clone(),
            Some(hub_signature(SECRET, &paid))
        )
        .await,
        200
    );
    let failed = hook(df_data(&ref_id, hp, SKU, "02", ""));
    assert_eq!(
        post(
            path.clone(),
            failed.clone(),
            Some(hub_signature(SECRET, &failed))
        )
        .await,
        200
    );
    let after = a.payment(tr_id).await.unwrap();
    assert_eq!(
        (after.state, after.noref.as_str(), after.updated_at),
        (PaymentState::Success, "SN-WEBHOOK-1", settled.updated_at)
    );
    assert_eq!(a.store.verify_ledger().await.unwrap().transfers, transfers);
    assert_eq!(a.live_balance(&am).await, (DEPOSIT - SELLING, 0));

    let s = check_status(&client, &p.ref_id).await;
    assert_eq!(int_field(&s, "status"), 1, "{}", s.body);
    assert_eq!(s.field("noref").as_deref(), Some("SN-WEBHOOK-1"));
    assert_eq!(a.account("upstream:df"), (DF_PRICE, 0));
    assert_eq!(a.account("revenue"), (SELLING - DF_PRICE, 0));
    a.assert_ledger_clean().await;
    ledger_verify(&a.database_url).await;
}

#[each_backend]
async fn digiflazz_pending_then_failed_by_polling_status() {
    let (a, am, df) = a_with_digiflazz().await;
    let client = a.live_client(&am);
    let hp = "0110018004";
    df.script(
        hp,
        DfScript {
            inquiry: "00",
            pay: "03",
            status: "03",
        },
    );
    let p = params("PGAS", hp);
    let tr_id = quote_tr_id(&client, &p).await;
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "39", "PENDING / TRANSACTION IN PROCESS");
    let ref_id = df_ref(&a, tr_id).await;
    let statuses = || {
        df.calls(hp)
            .iter()
            .filter(|(c, _)| c == "status-pasca")
            .count()
    };
    eventually(Duration::from_secs(10), "two status-pasca", || async {
        (statuses() >= 2).then_some(())
    })
    .await;
    assert_eq!(a.payment(tr_id).await.unwrap().state, PaymentState::Pending);
    assert_eq!(
        a.live_balance(&am).await,
        (DEPOSIT, SELLING),
        "held while Pending"
    );

    df.set_status(hp, "02");
    let p_done = a.settled(tr_id, Duration::from_secs(10)).await;
    assert_eq!(
        (p_done.state, p_done.rc.code()),
        (PaymentState::Failed, "07")
    );
    assert_eq!(p_done.resolved_by.as_deref(), Some("resolver"));
    assert_eq!(a.live_balance(&am).await, (DEPOSIT, 0), "released");
    assert_protocol(
        &df,
        hp,
        &ref_id,
        &["inq-pasca", "pay-pasca", "status-pasca", "status-pasca"],
    );
    assert_eq!(
        df.calls(hp)
            .iter()
            .filter(|(c, _)| c == "pay-pasca")
            .count(),
        1,
        "paid once, then only asked"
    );
    let s = check_status(&client, &p.ref_id).await;
    assert_eq!(
        (int_field(&s, "status"), s.rc()),
        (2, Some("07".into())),
        "{}",
        s.body
    );
    a.assert_ledger_clean().await;
    ledger_verify(&a.database_url).await;
}
