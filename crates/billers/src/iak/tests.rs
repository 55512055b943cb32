//! The IAK connector against a fake IAK server: every mapping branch of `transformers`.

use std::time::Duration;

use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::{Rc, Rupiah};
use serde_json::{json, Value};

use super::IakConnector;
use crate::fake::{FakeServer, Reply};
use crate::UpstreamSettings;

// Known vectors (see loket-client's iak_sign tests): md5("123123123" + "key" + X).
const USER: &str = "123123123";
const KEY: &str = "key";
const REF_ID: &str = "09128374655";
const SIGN_REF: &str = "82c1ec96be5015ea2c6f2417b3acd66b";
const TR_ID: i64 = 219346108;
const SIGN_TR: &str = "24c498b1b8aec8dd84137620fb00c7a0";
const SIGN_CS: &str = "04dc55ae0b6425d2b12e975f76b76473";

fn connector(base_url: &str) -> IakConnector {
    connector_with(base_url, crate::HttpVersion::Auto, 400)
}

/// The test upstream's connector over `http`, with a per-call timeout of `timeout_ms`.
fn connector_with(base_url: &str, http: crate::HttpVersion, timeout_ms: u64) -> IakConnector {
    IakConnector::from_settings(&UpstreamSettings {
        name: "iak-up".into(),
        kind: "iak".into(),
        base_url: base_url.into(),
        username: USER.into(),
        api_key: KEY.into(),
        timeout_ms,
        http,
        ..Default::default()
    })
    .unwrap()
}

fn inquiry() -> UpstreamInquiry {
    UpstreamInquiry {
        product_code: "PGAS".into(),
        number: "0110010000".into(),
        ref_id: REF_ID.into(),
        year: Some("2019".into()),
        months: Some(2),
        nomor_identitas: None,
        amount: None,
    }
}

fn payment() -> UpstreamPayment {
    UpstreamPayment {
        product_code: "PGAS".into(),
        number: "0110010000".into(),
        ref_id: REF_ID.into(),
        upstream_ref: Some(TR_ID.to_string()),
        quoted_cost: Rupiah::new(323_902),
    }
}

/// The PGAS answer of seed 003, with `rc` and `extra` fields.
fn answer(rc: &str, extra: Value) -> Value {
    let mut data = json!({
        "tr_id": TR_ID, "code": "PGAS", "hp": "0110010000", "tr_name": "NGATIMUN",
        "period": "0917", "nominal": 322002, "admin": 2500, "ref_id": REF_ID,
        "response_code": rc, "message": "SOME MESSAGE", "price": 324502, "selling_price": 323902,
        "desc": {"address": "-", "first_meter": "006538", "last_meter": "006573", "usage": 35}
    });
    if let (Some(d), Value::Object(extra)) = (data.as_object_mut(), extra) {
        d.extend(extra);
    }
    json!({"data": data, "meta": []})
}

fn reply(rc: &str, extra: Value) -> Reply {
    Reply::json(answer(rc, extra))
}

fn slow(r: Reply) -> Reply {
    Reply::Slow(Duration::from_secs(3), Box::new(r))
}

/// Faults a real upstream cannot be asked for.
fn faults() -> Vec<(&'static str, Reply)> {
    vec![
        ("garbage", Reply::Body(200, "<html>oops</html>".into())),
        ("not an object", Reply::Body(200, "[1,2]".into())),
        ("500", Reply::Body(500, answer("00", json!({})).to_string())),
        ("502 empty", Reply::Body(502, String::new())),
        ("closed", Reply::Close),
        ("slow", slow(reply("00", json!({"noref": "1"})))),
    ]
}

async fn inquire(r: Reply) -> InquiryOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url).inquiry(&inquiry()).await
}

async fn pay(r: Reply) -> PayOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url).pay(&payment()).await
}

async fn status(r: Reply) -> PayOutcome {
    let server = FakeServer::fixed(r).await;
    connector(&server.base_url).status(&payment()).await
}

fn is_unavailable(o: &InquiryOutcome) -> bool {
    matches!(o, InquiryOutcome::Unavailable(_))
}

fn is_pending(o: &PayOutcome) -> bool {
    matches!(o, PayOutcome::Pending(_))
}

// ------------------------------------------------------------------------------------ inquiry

#[tokio::test]
async fn inquiry_success_is_a_bill_and_the_request_is_signed() {
    let server = FakeServer::fixed(reply("00", json!({}))).await;
    let outcome = connector(&server.base_url).inquiry(&inquiry()).await;
    let InquiryOutcome::Bill(bill) = outcome else {
        panic!("expected a bill, got {outcome:?}");
    };
    assert_eq!(bill.name, "NGATIMUN");
    assert_eq!(bill.period, "0917");
    assert_eq!(bill.nominal, Rupiah::new(322_002));
    assert_eq!(bill.admin, Rupiah::new(2_500));
    assert_eq!(
        bill.cost,
        Rupiah::new(323_902),
        "cost is IAK's selling_price"
    );
    assert_eq!(bill.desc["usage"], 35);
    assert_eq!(bill.upstream_ref.as_deref(), Some("219346108"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let (path, body) = &requests[0];
    assert_eq!(path, "/api/v1/bill/check");
    assert_eq!(body["commands"], "inq-pasca");
    assert_eq!(body["username"], USER);
    assert_eq!(body["code"], "PGAS");
    assert_eq!(body["hp"], "0110010000");
    assert_eq!(body["ref_id"], REF_ID);
    assert_eq!(body["year"], "2019");
    assert_eq!(body["month"], "02");
    assert_eq!(body["sign"], SIGN_REF);
    assert!(body.get("desc").is_none());
}

#[tokio::test]
async fn inquiry_passes_extra_fields_and_reads_xml_like_strings() {
    let server = FakeServer::fixed(Reply::json(json!({"data": {
        "tr_id": "77", "tr_name": "A", "period": "", "nominal": "50000", "admin": "2500.0",
        "response_code": "00", "selling_price": "52000", "ref_id": REF_ID
    }})))
    .await;
    let req = UpstreamInquiry {
        nomor_identitas: Some("3201".into()),
        amount: Some(Rupiah::new(50_000)),
        year: None,
        months: None,
        ..inquiry()
    };
    let InquiryOutcome::Bill(bill) = connector(&server.base_url).inquiry(&req).await else {
        panic!("expected a bill");
    };
    assert_eq!(bill.nominal, Rupiah::new(50_000));
    assert_eq!(bill.admin, Rupiah::new(2_500));
    assert_eq!(bill.cost, Rupiah::new(52_000));
    assert_eq!(bill.upstream_ref.as_deref(), Some("77"));
    assert_eq!(bill.desc, json!({}));
    let body = &server.requests()[0].1;
    assert_eq!(body["nomor_identitas"], "3201");
    assert_eq!(body["desc"], json!({"amount": 50000}));
    assert!(body.get("year").is_none() && body.get("month").is_none());
}

#[tokio::test]
async fn inquiry_answers_about_the_bill_are_refusals() {
    for code in [
        "01", "02", "08", "09", "10", "13", "14", "15", "16", "30", "31", "32", "33", "34", "35",
        "36", "40", "41", "93",
    ] {
        let outcome = inquire(reply(code, json!({}))).await;
        let rc = Rc::from_code(code).unwrap();
        assert_eq!(outcome, InquiryOutcome::Refused(rc), "RC {code}");
    }
}

#[tokio::test]
async fn inquiry_answers_about_the_upstream_are_unavailable() {
    for code in [
        "20", "100", "101", "102", "103", "105", "106", "107", "108", "109", "110", "117", "118",
        "91", "92", "94", "17", "03", "04", "05", "06", "07", "11", "37", "38", "39", "42", "201",
        "12", "999",
    ] {
        let outcome = inquire(reply(code, json!({}))).await;
        assert!(is_unavailable(&outcome), "RC {code}: {outcome:?}");
    }
    // A refusal RC on a 5xx is still a 5xx.
    let outcome = inquire(Reply::Body(503, answer("14", json!({})).to_string())).await;
    assert!(is_unavailable(&outcome), "{outcome:?}");
    // 400 / 404 envelopes with their RC.
    let outcome = inquire(Reply::Body(
        404,
        json!({"data": {"response_code": "117"}}).to_string(),
    ))
    .await;
    assert!(is_unavailable(&outcome), "{outcome:?}");
}

#[tokio::test]
async fn inquiry_faults_are_unavailable() {
    for (what, r) in faults() {
        let outcome = inquire(r).await;
        assert!(is_unavailable(&outcome), "{what}: {outcome:?}");
    }
    // Nobody listening.
    let outcome = connector("http://127.0.0.1:1").inquiry(&inquiry()).await;
    assert!(is_unavailable(&outcome), "{outcome:?}");
}

#[tokio::test]
async fn inquiry_success_without_usable_data_is_unavailable() {
    for (what, extra) in [
        ("no selling_price", json!({"selling_price": null})),
        ("fractional nominal", json!({"nominal": 1.5})),
        ("negative admin", json!({"admin": -1})),
        ("no tr_id", json!({"tr_id": null})),
        ("tr_id not a number", json!({"tr_id": "abc"})),
        ("other ref_id", json!({"ref_id": "SOMEONE-ELSE"})),
    ] {
        let outcome = inquire(reply("00", extra)).await;
        assert!(is_unavailable(&outcome), "{what}: {outcome:?}");
    }
    let outcome = inquire(Reply::Body(400, answer("00", json!({})).to_string())).await;
    assert!(is_unavailable(&outcome), "RC 00 on a 400: {outcome:?}");
    let outcome = inquire(Reply::json(json!({"data": {"message": "no rc"}}))).await;
    assert!(is_unavailable(&outcome), "{outcome:?}");
}

// ------------------------------------------------------------------------------------ payment

#[tokio::test]
async fn pay_success_and_the_request_is_signed_over_tr_id() {
    let server = FakeServer::fixed(reply(
        "00",
        json!({"noref": "244183135447", "message": "PAYMENT SUCCESS", "balance": 1000}),
    ))
    .await;
    let outcome = connector(&server.base_url).pay(&payment()).await;
    assert_eq!(
        outcome,
        PayOutcome::Success {
            noref: "244183135447".into(),
            cost: Some(Rupiah::new(323_902)),
        }
    );
    let (path, body) = &server.requests()[0];
    assert_eq!(path, "/api/v1/bill/check");
    assert_eq!(
        *body,
        json!({"commands": "pay-pasca", "username": USER, "tr_id": TR_ID, "sign": SIGN_TR})
    );
}

#[tokio::test]
async fn pay_pending_answers() {
    for code in [
        "39", "05", "201", "103", "91", "92", "11", "42", "12", "777",
    ] {
        let outcome = pay(reply(code, json!({}))).await;
        assert!(is_pending(&outcome), "RC {code}: {outcome:?}");
    }
    let outcome = pay(Reply::json(json!({"data": {"message": "no rc"}}))).await;
    assert!(is_pending(&outcome), "{outcome:?}");
}

#[tokio::test]
async fn pay_definite_failures() {
    for code in [
        "37", "38", "07", "105", "106", "04", "06", "01", "02", "34", "40", "41", "08", "10", "13",
        "14", "30", "36", "93", "94", "109", "110",
    ] {
        let outcome = pay(reply(code, json!({}))).await;
        let rc = Rc::from_code(code).unwrap();
        assert_eq!(outcome, PayOutcome::Failed(rc), "RC {code}");
    }
    assert_eq!(
        pay(reply("20", json!({}))).await,
        PayOutcome::Failed(Rc::ProductUnregistered)
    );
}

#[tokio::test]
async fn pay_refused_for_our_own_reasons_is_a_biller_error() {
    // Our float short, our credentials, our IP, our account, our malformed request: refused before
    // any processing, so not paid; the member is not told about loket's balance or keys.
    for code in ["17", "100", "101", "102", "107", "108", "117", "118", "03"] {
        let outcome = pay(reply(code, json!({}))).await;
        assert_eq!(
            outcome,
            PayOutcome::Failed(Rc::BillerSystemError),
            "RC {code}"
        );
    }
    // The same refusal in a 4xx envelope.
    let outcome = pay(Reply::Body(
        400,
        json!({"data": {"response_code": "107"}}).to_string(),
    ))
    .await;
    assert_eq!(outcome, PayOutcome::Failed(Rc::BillerSystemError));
}

#[tokio::test]
async fn pay_faults_are_pending() {
    for (what, r) in faults() {
        let outcome = pay(r).await;
        assert!(is_pending(&outcome), "{what}: {outcome:?}");
    }
    // A definite-looking RC on a 5xx is still a 5xx.
    let outcome = pay(Reply::Body(502, answer("37", json!({})).to_string())).await;
    assert!(is_pending(&outcome), "{outcome:?}");
    let outcome = connector("http://127.0.0.1:1").pay(&payment()).await;
    assert!(is_pending(&outcome), "connection refused: {outcome:?}");
}

#[tokio::test]
async fn pay_answer_for_another_transaction_is_pending() {
    let outcome = pay(reply("00", json!({"tr_id": 5}))).await;
    assert!(is_pending(&outcome), "{outcome:?}");
    let outcome = pay(reply("37", json!({"ref_id": "OTHER"}))).await;
    assert!(is_pending(&outcome), "{outcome:?}");
    let outcome = pay(Reply::Body(202, answer("00", json!({})).to_string())).await;
    assert!(matches!(outcome, PayOutcome::Success { .. }), "{outcome:?}");
    let outcome = pay(Reply::Body(409, answer("00", json!({})).to_string())).await;
    assert!(is_pending(&outcome), "RC 00 on a 409: {outcome:?}");
}

#[tokio::test]
async fn pay_without_tr_id_sends_nothing() {
    let server = FakeServer::fixed(reply("00", json!({}))).await;
    let c = connector(&server.base_url);
    for upstream_ref in [None, Some("abc".to_string())] {
        let p = UpstreamPayment {
            upstream_ref,
            ..payment()
        };
        assert_eq!(c.pay(&p).await, PayOutcome::Failed(Rc::InquiryIdNotFound));
    }
    assert!(server.requests().is_empty());
}

// ------------------------------------------------------------------------------------- status

#[tokio::test]
async fn status_answers() {
    let server = FakeServer::fixed(reply("00", json!({"status": 1, "noref": "N1"}))).await;
    let outcome = connector(&server.base_url).status(&payment()).await;
    assert_eq!(
        outcome,
        PayOutcome::Success {
            noref: "N1".into(),
            cost: Some(Rupiah::new(323_902)),
        }
    );
    assert_eq!(
        server.requests()[0].1,
        json!({"commands": "checkstatus", "username": USER, "ref_id": REF_ID, "sign": SIGN_CS})
    );

    let cases: Vec<(Value, PayOutcome)> = vec![
        (json!({"status": "1", "noref": "N2"}), success("N2")),
        (
            json!({"status": 2, "response_code": "37"}),
            PayOutcome::Failed(Rc::PaymentFailed),
        ),
        (
            json!({"status": "2", "response_code": "105"}),
            PayOutcome::Failed(Rc::BillerSystemError),
        ),
        (
            json!({"status": 2, "response_code": null}),
            PayOutcome::Failed(Rc::PaymentFailed),
        ),
        (
            json!({"status": 2, "response_code": "12"}),
            PayOutcome::Failed(Rc::PaymentFailed),
        ),
        (
            json!({"status": 2, "response_code": "17"}),
            PayOutcome::Failed(Rc::BillerSystemError),
        ),
        (
            json!({"status": 2, "response_code": "103"}),
            PayOutcome::Failed(Rc::Timeout),
        ),
        (
            json!({"status": 0, "response_code": "42"}),
            PayOutcome::Failed(Rc::PaymentRequestNotReceived),
        ),
        (
            json!({"status": null, "response_code": "42"}),
            PayOutcome::Failed(Rc::PaymentRequestNotReceived),
        ),
    ];
    for (extra, want) in cases {
        let mut data = answer("00", json!({}))["data"].clone();
        data.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let outcome = status(Reply::json(json!({"data": data}))).await;
        assert_eq!(outcome, want, "{extra}");
    }
}

fn success(noref: &str) -> PayOutcome {
    PayOutcome::Success {
        noref: noref.into(),
        cost: Some(Rupiah::new(323_902)),
    }
}

#[tokio::test]
async fn status_pending_and_errors() {
    for extra in [
        json!({"status": 3, "response_code": "39"}),
        json!({"status": 2, "response_code": "39"}),
        json!({"status": 2, "response_code": "00"}),
        json!({"status": 9, "response_code": "00"}),
        json!({"status": "x"}),
        json!({"response_code": "100"}),
        json!({"response_code": "00"}),
        json!({"status": 1, "ref_id": "OTHER"}),
    ] {
        let mut data = answer("00", json!({}))["data"].clone();
        let d = data.as_object_mut().unwrap();
        d.remove("status");
        d.extend(extra.as_object().unwrap().clone());
        let outcome = status(Reply::json(json!({"data": data}))).await;
        assert!(is_pending(&outcome), "{extra}: {outcome:?}");
    }
    for (what, r) in faults() {
        let outcome = status(r).await;
        assert!(is_pending(&outcome), "{what}: {outcome:?}");
    }
    let outcome = status(Reply::Body(
        500,
        answer("00", json!({"status": 1})).to_string(),
    ))
    .await;
    assert!(is_pending(&outcome), "{outcome:?}");
}

// ------------------------------------------------------------------------------------ h2c

fn connector_over(base_url: &str, http: crate::HttpVersion) -> IakConnector {
    connector_with(base_url, http, 2_000)
}

#[test]
fn only_http2_to_http_urls_uses_the_h2c_channel() {
    use crate::HttpVersion::*;
    for (url, http, h2c) in [
        ("http://127.0.0.1:9", Http2, true),
        ("http://127.0.0.1:9", Http1, false),
        ("http://127.0.0.1:9", Auto, false),
        ("https://127.0.0.1:9", Http2, false),
    ] {
        let c = connector_over(url, http);
        assert_eq!(c.h2c.is_some(), h2c, "{url} {http:?}");
    }
}

/// Over h2c the connector sends the same signed requests and reads the answers as over HTTP/1.1;
/// the calls share one connection.
#[tokio::test]
async fn pay_and_status_over_h2c() {
    use crate::h2c::tests::{Mode, Server};
    let paid = answer(
        "00",
        json!({"noref": "244183135447", "message": "PAYMENT SUCCESS", "status": 1}),
    );
    let server = Server::start(Mode::Fixed(paid.to_string().into())).await;
    let c = connector_over(&format!("{}/", server.base_url), crate::HttpVersion::Http2);
    assert_eq!(c.pay(&payment()).await, success("244183135447"));
    assert_eq!(c.status(&payment()).await, success("244183135447"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let body = |i: usize| serde_json::from_slice::<Value>(&requests[i].1).unwrap();
    assert_eq!(requests[0].0, "/api/v1/bill/check");
    assert_eq!(
        body(0),
        json!({"commands": "pay-pasca", "username": USER, "tr_id": TR_ID, "sign": SIGN_TR})
    );
    assert_eq!(
        body(1),
        json!({"commands": "checkstatus", "username": USER, "ref_id": REF_ID, "sign": SIGN_CS})
    );
    assert_eq!(server.connections(), 1);
}

/// Transport faults over h2c map as over HTTP/1.1: pending at payment, unavailable at inquiry.
#[tokio::test]
async fn h2c_faults_are_pending_or_unavailable() {
    use crate::h2c::tests::{Mode, Server};
    let silent = Server::start(Mode::Silent).await;
    let mut c = connector_over(&silent.base_url, crate::HttpVersion::Http2);
    c = IakConnector {
        h2c: Some(
            crate::h2c::H2cChannel::new(&silent.base_url, Duration::from_millis(200)).unwrap(),
        ),
        ..c
    };
    let outcome = c.pay(&payment()).await;
    assert!(
        matches!(&outcome, PayOutcome::Pending(why) if why.contains("timeout")),
        "{outcome:?}"
    );
    // An upstream that speaks only HTTP/1.1.
    let http1 = FakeServer::fixed(reply("00", json!({}))).await;
    let c = connector_over(&http1.base_url, crate::HttpVersion::Http2);
    assert!(is_pending(&c.pay(&payment()).await));
    assert!(is_unavailable(&c.inquiry(&inquiry()).await));
    // It saw the HTTP/2 preface, never a command.
    assert!(
        http1.requests().iter().all(|(_, body)| body.is_null()),
        "{:?}",
        http1.requests()
    );
}
