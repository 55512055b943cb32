//! The Digiflazz connector against a fake Digiflazz server: every mapping branch of
//! `transformers`, and the webhook's signature and reader.

use std::time::Duration;

use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::{Rc, RcStatus, Rupiah};
use serde_json::{json, Value};

use super::transformers::rc_info;
use super::{parse_webhook, verify_webhook, DigiflazzConnector};
use crate::fake::{FakeServer, Reply};
use crate::UpstreamSettings;

const USER: &str = "dfuser";
const KEY: &str = "dfkey";
const REF_ID: &str = "DF-1";
// python3 -c 'import hashlib;print(hashlib.md5(b"dfuserdfkeyDF-1").hexdigest())'
const SIGN: &str = "86e2a16a04c50af571757884a55e78d4";
const SECRET: &str = "somesecretvalue";

fn connector(base_url: &str, testing: bool) -> DigiflazzConnector {
    DigiflazzConnector::from_settings(&UpstreamSettings {
        name: "df".into(),
        kind: "digiflazz".into(),
        base_url: format!("{base_url}/"),
        username: USER.into(),
        api_key: KEY.into(),
        secret_key: SECRET.into(),
        testing,
        timeout_ms: 400,
        ..Default::default()
    })
    .unwrap()
}

fn inquiry() -> UpstreamInquiry {
    UpstreamInquiry {
        product_code: "pln".into(),
        number: "530000000001".into(),
        ref_id: REF_ID.into(),
        year: None,
        months: None,
        nomor_identitas: None,
        amount: None,
    }
}

fn payment() -> UpstreamPayment {
    UpstreamPayment {
        product_code: "pln".into(),
        number: "530000000001".into(),
        ref_id: REF_ID.into(),
        upstream_ref: None,
        quoted_cost: Rupiah::new(10_000),
    }
}

/// Digiflazz's documented PLN answer (two periods), with `rc`, `status` and `extra` fields.
fn data(rc: &str, status: &str, extra: Value) -> Value {
    let mut d = json!({
        "ref_id": REF_ID, "customer_no": "530000000001", "customer_name": "Nama Pelanggan Pertama",
        "buyer_sku_code": "pln", "admin": 2500, "message": "Pesan", "status": status, "rc": rc,
        "periode": "201901", "buyer_last_saldo": 100000, "price": 10000, "selling_price": 11000,
        "desc": {"tarif": "R1", "daya": 1300, "lembar_tagihan": 2, "detail": [
            {"periode": "201901", "nilai_tagihan": "4000", "admin": "1250", "denda": "0"},
            {"periode": "201902", "nilai_tagihan": "4500", "admin": "1250", "denda": "0"}
        ]}
    });
    if let (Some(m), Value::Object(extra)) = (d.as_object_mut(), extra) {
        for (k, v) in extra {
            if v.is_null() {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
    }
    d
}

fn reply(rc: &str, status: &str, extra: Value) -> Reply {
    Reply::json(json!({"data": data(rc, status, extra)}))
}

fn gagal(rc: &str) -> Reply {
    reply(rc, "Gagal", json!({"sn": ""}))
}

fn faults() -> Vec<(&'static str, Reply)> {
    let paid = json!({"data": data("00", "Sukses", json!({"sn": "SN1"}))}).to_string();
    vec![
        ("garbage", Reply::Body(200, "<html>oops</html>".into())),
        ("no data", Reply::Body(200, json!({"rc": "00"}).to_string())),
        (
            "data not an object",
            Reply::Body(200, json!({"data": []}).to_string()),
        ),
        ("500", Reply::Body(500, paid.clone())),
        ("closed", Reply::Close),
        (
            "slow",
            Reply::Slow(Duration::from_secs(3), Box::new(Reply::Body(200, paid))),
        ),
    ]
}

async fn inquire(r: Reply) -> InquiryOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url, false).inquiry(&inquiry()).await
}

async fn pay(r: Reply) -> PayOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url, false).pay(&payment()).await
}

async fn status(r: Reply) -> PayOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url, false).status(&payment()).await
}

fn is_pending(o: &PayOutcome) -> bool {
    matches!(o, PayOutcome::Pending(_))
}

#[test]
fn rc_table() {
    let codes: Vec<String> = (0..100)
        .map(|n| format!("{n:02}"))
        .filter(|c| rc_info(c).is_some())
        .collect();
    assert_eq!(codes.len(), 47, "{codes:?}");
    assert_eq!(rc_info("00").unwrap().status, RcStatus::Success);
    for pending in ["03", "99"] {
        assert_eq!(rc_info(pending).unwrap().status, RcStatus::Pending);
    }
    for (code, rc) in [
        ("01", Rc::Timeout),
        ("02", Rc::TransactionFailed),
        ("43", Rc::ProductUnregistered),
        ("44", Rc::BillerSystemError),
        ("54", Rc::IncorrectDestinationNumber),
        ("58", Rc::SystemCutOff),
        ("60", Rc::BillNotAvailable),
    ] {
        assert_eq!(rc_info(code).unwrap().rc, rc, "{code}");
    }
    // "Transaksi Terbentuk: Tidak": refused before any processing.
    for code in [
        "40", "41", "42", "43", "44", "45", "47", "49", "61", "69", "80", "88",
    ] {
        assert!(!rc_info(code).unwrap().formed, "{code}");
    }
    assert!(rc_info("54").unwrap().formed);
    assert_eq!(rc_info("46"), None);
    assert_eq!(rc_info("0"), None);
}

// ------------------------------------------------------------------------------------ inquiry

#[tokio::test]
async fn inquiry_success_and_the_request() {
    let server = FakeServer::fixed(reply("00", "Sukses", json!({}))).await;
    let outcome = connector(&server.base_url, false).inquiry(&inquiry()).await;
    let InquiryOutcome::Bill(bill) = outcome else {
        panic!("expected a bill, got {outcome:?}");
    };
    assert_eq!(bill.name, "Nama Pelanggan Pertama");
    assert_eq!(bill.period, "201901,201902");
    assert_eq!(bill.admin, Rupiah::new(2_500));
    assert_eq!(bill.nominal, Rupiah::new(8_500), "selling_price - admin");
    assert_eq!(bill.cost, Rupiah::new(10_000), "cost is Digiflazz's price");
    assert_eq!(bill.desc["tarif"], "R1");
    assert_eq!(bill.upstream_ref, None);
    let (path, body) = &server.requests()[0];
    assert_eq!(path, "/v1/transaction");
    assert_eq!(
        serde_json::to_string(body).unwrap(),
        format!(
            r#"{{"commands":"inq-pasca","username":"{USER}","buyer_sku_code":"pln","customer_no":"530000000001","ref_id":"{REF_ID}","sign":"{SIGN}"}}"#
        )
    );
}

#[tokio::test]
async fn inquiry_sends_testing_and_year_only_when_set() {
    let server = FakeServer::fixed(reply("00", "Sukses", json!({}))).await;
    let req = UpstreamInquiry {
        year: Some("2019".into()),
        amount: Some(Rupiah::new(50_000)),
        ..inquiry()
    };
    connector(&server.base_url, true).inquiry(&req).await;
    let body = &server.requests()[0].1;
    assert_eq!(body["testing"], true);
    assert_eq!(body["year"], 2019);
    assert_eq!(body["amount"], 50000);
    assert_eq!(body["sign"], SIGN);
}

#[tokio::test]
async fn inquiry_period_falls_back_to_periode() {
    let outcome = inquire(reply(
        "00",
        "Sukses",
        json!({"desc": {"lembar_tagihan": 1}}),
    ))
    .await;
    assert!(
        matches!(&outcome, InquiryOutcome::Bill(b) if b.period == "201901"),
        "{outcome:?}"
    );
    let outcome = inquire(reply(
        "00",
        "Sukses",
        json!({"desc": null, "periode": null}),
    ))
    .await;
    let InquiryOutcome::Bill(b) = outcome else {
        panic!("expected a bill");
    };
    assert_eq!(b.period, "");
    assert_eq!(b.desc, json!({}));
}

#[tokio::test]
async fn inquiry_refusals() {
    for (code, want) in [
        ("02", Rc::InquiryFailed),
        ("54", Rc::IncorrectDestinationNumber),
        ("60", Rc::BillNotAvailable),
        ("57", Rc::IncorrectDestinationNumber),
        ("51", Rc::CustomerNumberBlocked),
        ("52", Rc::NumberDoesntMatchOperator),
    ] {
        assert_eq!(
            inquire(gagal(code)).await,
            InquiryOutcome::Refused(want),
            "{code}"
        );
    }
}

#[tokio::test]
async fn inquiry_unavailable() {
    let mut cases: Vec<(String, Reply)> = [
        "01", "03", "99", "40", "41", "43", "44", "45", "47", "49", "50", "53", "55", "56", "58",
        "59", "61", "66", "70", "74", "83", "85", "88", "12", "100",
    ]
    .iter()
    .map(|c| (format!("RC {c}"), gagal(c)))
    .collect();
    cases.extend([
        ("no rc".into(), reply("00", "Sukses", json!({"rc": null}))),
        ("00 but Gagal".into(), reply("00", "Gagal", json!({}))),
        (
            "00 on a 400".into(),
            Reply::Body(
                400,
                json!({"data": data("00", "Sukses", json!({}))}).to_string(),
            ),
        ),
        (
            "admin above total".into(),
            reply("00", "Sukses", json!({"admin": 20000})),
        ),
        (
            "no price".into(),
            reply("00", "Sukses", json!({"price": null})),
        ),
        (
            "another ref_id".into(),
            reply("00", "Sukses", json!({"ref_id": "X"})),
        ),
    ]);
    cases.extend(faults().into_iter().map(|(w, r)| (w.to_string(), r)));
    for (what, r) in cases {
        let outcome = inquire(r).await;
        assert!(
            matches!(outcome, InquiryOutcome::Unavailable(_)),
            "{what}: {outcome:?}"
        );
    }
    let outcome = connector("http://127.0.0.1:1", false)
        .inquiry(&inquiry())
        .await;
    assert!(
        matches!(outcome, InquiryOutcome::Unavailable(_)),
        "{outcome:?}"
    );
}

// ------------------------------------------------------------------------------------ payment

#[tokio::test]
async fn pay_success_and_the_request() {
    let server = FakeServer::fixed(reply("00", "Sukses", json!({"sn": "S1234554321N"}))).await;
    let outcome = connector(&server.base_url, false).pay(&payment()).await;
    assert_eq!(
        outcome,
        PayOutcome::Success {
            noref: "S1234554321N".into(),
            cost: Some(Rupiah::new(10_000)),
        }
    );
    let body = &server.requests()[0].1;
    assert_eq!(body["commands"], "pay-pasca");
    assert_eq!(body["ref_id"], REF_ID);
    assert_eq!(body["buyer_sku_code"], "pln");
    assert_eq!(body["customer_no"], "530000000001");
    assert_eq!(body["sign"], SIGN);
    assert!(body.get("testing").is_none());
    // The pay answer is about our payment: an empty sn is still a success.
    let outcome = pay(reply("00", "Sukses", json!({"sn": ""}))).await;
    assert!(matches!(outcome, PayOutcome::Success { .. }), "{outcome:?}");
}

#[tokio::test]
async fn pay_failures() {
    for (code, want) in [
        ("01", Rc::Timeout),
        ("02", Rc::TransactionFailed),
        ("44", Rc::BillerSystemError),
        ("43", Rc::ProductUnregistered),
        ("41", Rc::BillerSystemError),
        ("45", Rc::BillerSystemError),
        ("50", Rc::InquiryIdNotFound),
        ("54", Rc::IncorrectDestinationNumber),
        ("58", Rc::SystemCutOff),
        ("60", Rc::BillNotAvailable),
        ("70", Rc::Timeout),
        ("74", Rc::TransactionFailed),
        ("84", Rc::InvalidAmount),
        ("88", Rc::BillerSystemError),
    ] {
        assert_eq!(pay(gagal(code)).await, PayOutcome::Failed(want), "{code}");
    }
    // Without a status field, the rc decides.
    assert_eq!(
        pay(reply("02", "", json!({"status": null}))).await,
        PayOutcome::Failed(Rc::TransactionFailed)
    );
}

#[tokio::test]
async fn pay_pending() {
    let mut cases: Vec<(String, Reply)> = vec![
        ("03".into(), reply("03", "Pending", json!({"sn": ""}))),
        ("99".into(), reply("99", "Pending", json!({}))),
        ("49: maybe our own earlier attempt".into(), gagal("49")),
        ("unknown rc".into(), gagal("12")),
        ("no rc".into(), reply("00", "Sukses", json!({"rc": null}))),
        ("02 but Pending".into(), reply("02", "Pending", json!({}))),
        ("00 but Gagal".into(), reply("00", "Gagal", json!({}))),
        (
            "00 on a 400".into(),
            Reply::Body(
                400,
                json!({"data": data("00", "Sukses", json!({}))}).to_string(),
            ),
        ),
        (
            "another ref_id".into(),
            reply("02", "Gagal", json!({"ref_id": "X"})),
        ),
    ];
    cases.extend(faults().into_iter().map(|(w, r)| (w.to_string(), r)));
    for (what, r) in cases {
        let outcome = pay(r).await;
        assert!(is_pending(&outcome), "{what}: {outcome:?}");
    }
    let outcome = connector("http://127.0.0.1:1", false).pay(&payment()).await;
    assert!(is_pending(&outcome), "{outcome:?}");
}

// ------------------------------------------------------------------------------------- status

#[tokio::test]
async fn status_answers() {
    let server = FakeServer::fixed(reply("00", "Sukses", json!({"sn": "SN9"}))).await;
    let outcome = connector(&server.base_url, false).status(&payment()).await;
    assert_eq!(
        outcome,
        PayOutcome::Success {
            noref: "SN9".into(),
            cost: Some(Rupiah::new(10_000)),
        }
    );
    assert_eq!(server.requests()[0].1["commands"], "status-pasca");
    assert_eq!(server.requests()[0].1["sign"], SIGN);
    for (code, want) in [
        ("02", Rc::TransactionFailed),
        ("01", Rc::Timeout),
        ("54", Rc::IncorrectDestinationNumber),
        ("74", Rc::TransactionFailed),
        ("50", Rc::PaymentRequestNotReceived),
    ] {
        assert_eq!(
            status(gagal(code)).await,
            PayOutcome::Failed(want),
            "{code}"
        );
    }
}

#[tokio::test]
async fn status_pending() {
    let mut cases: Vec<(String, Reply)> = vec![
        (
            "00 without sn (an inquiry record)".into(),
            reply("00", "Sukses", json!({})),
        ),
        ("03".into(), reply("03", "Pending", json!({}))),
        ("99".into(), reply("99", "Pending", json!({}))),
        ("41: our status request refused".into(), gagal("41")),
        ("44".into(), gagal("44")),
        ("49".into(), gagal("49")),
        ("unknown".into(), gagal("12")),
    ];
    cases.extend(faults().into_iter().map(|(w, r)| (w.to_string(), r)));
    for (what, r) in cases {
        let outcome = status(r).await;
        assert!(is_pending(&outcome), "{what}: {outcome:?}");
    }
}

// ------------------------------------------------------------------------------------ webhook

const HOOK_BODY: &str = r#"{"data":{"ref_id":"DF-1","customer_no":"530000000001","buyer_sku_code":"pln","message":"Transaksi Sukses","status":"Sukses","rc":"00","sn":"S1234554321N","price":10000,"selling_price":11000}}"#;
// python3 -c 'import hashlib,hmac;print(hmac.new(b"somesecretvalue",BODY,hashlib.sha1).hexdigest())'
const HOOK_SIG: &str = "1624ae544a5cc4fce63a1099486cea7d90b54665";

#[test]
fn webhook_signature() {
    let body = HOOK_BODY.as_bytes();
    assert!(verify_webhook(SECRET, body, &format!("sha1={HOOK_SIG}")));
    assert!(verify_webhook(
        SECRET,
        body,
        &format!(" sha1={} ", HOOK_SIG.to_uppercase())
    ));
    assert!(verify_webhook(SECRET, body, &format!("SHA1={HOOK_SIG}")));
    assert!(!verify_webhook("other", body, &format!("sha1={HOOK_SIG}")));
    assert!(!verify_webhook("", body, &format!("sha1={HOOK_SIG}")));
    assert!(!verify_webhook(SECRET, b"{}", &format!("sha1={HOOK_SIG}")));
    assert!(!verify_webhook(SECRET, body, HOOK_SIG));
    assert!(!verify_webhook(SECRET, body, &format!("sha256={HOOK_SIG}")));
    assert!(!verify_webhook(
        SECRET,
        body,
        &format!("sha1={}", &HOOK_SIG[..38])
    ));
    assert!(!verify_webhook(SECRET, body, "sha1=zz"));
    assert!(!verify_webhook(SECRET, body, ""));
    assert!(!verify_webhook(SECRET, body, "sha1="));
    let c = connector("http://127.0.0.1:1", false);
    assert!(c.verify_webhook(body, &format!("sha1={HOOK_SIG}")));
    assert!(!c.verify_webhook(b"tampered", &format!("sha1={HOOK_SIG}")));
}

#[test]
fn webhook_bodies() {
    assert_eq!(
        parse_webhook(HOOK_BODY.as_bytes()),
        Some((
            "DF-1".into(),
            PayOutcome::Success {
                noref: "S1234554321N".into(),
                cost: Some(Rupiah::new(10_000)),
            }
        ))
    );
    let hook = |rc: &str, status: &str, sn: &str| {
        json!({"data": {"ref_id": "DF-2", "rc": rc, "status": status, "sn": sn, "price": 1}})
            .to_string()
    };
    assert_eq!(
        parse_webhook(hook("02", "Gagal", "").as_bytes()),
        Some(("DF-2".into(), PayOutcome::Failed(Rc::TransactionFailed)))
    );
    for (rc, status, sn) in [
        ("03", "Pending", ""),
        ("00", "Sukses", ""),
        ("00", "Gagal", "X"),
        ("50", "Gagal", ""),
        ("41", "Gagal", ""),
        ("12", "Gagal", ""),
    ] {
        let parsed = parse_webhook(hook(rc, status, sn).as_bytes());
        assert!(
            matches!(&parsed, Some((r, PayOutcome::Pending(_))) if r == "DF-2"),
            "{rc} {status}: {parsed:?}"
        );
    }
    for body in [
        &b"not json"[..],
        b"{}",
        b"{\"data\": []}",
        b"{\"data\": {\"rc\": \"00\"}}",
        b"{\"data\": {\"ref_id\": \"\", \"rc\": \"00\"}}",
    ] {
        assert_eq!(
            parse_webhook(body),
            None,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn debug_redacts_the_keys() {
    let dbg = format!("{:?}", connector("http://127.0.0.1:1", false));
    assert!(!dbg.contains(KEY), "{dbg}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(dbg.contains(USER), "{dbg}");
}
