//! isikuota requests against a tiny hand-rolled HTTP/1.1 server that verifies them the way loket
//! does, with the canonical functions.

use loket_client::canonical::{self, Json};
use loket_client::isikuota::IsikuotaClient;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request as the fake server saw it.
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// Serves exactly one request with a fixed status and JSON answer; returns the base URL and what
/// it received.
async fn serve_once(
    status: &'static str,
    answer: &'static str,
) -> (String, oneshot::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the end of the head");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the end of the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + len].to_vec();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        sock.write_all(response.as_bytes()).await.unwrap();
        sock.shutdown().await.ok();
        let _ = tx.send(Seen { head, body });
    });
    (format!("http://{addr}"), rx)
}

/// Checks a body's signature as loket does; returns its timestamp.
fn verify(body: &[u8], api_key: &str, secret: &str) -> Result<String, &'static str> {
    let parsed = canonical::parse(body).map_err(|_| "malformed")?;
    let Json::Object(fields) = &parsed else {
        return Err("not an object");
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(Json::String(api_id)), Some(Json::Number(ts)), Some(Json::String(given))) =
        (get("api_id"), get("timestamp"), get("signature"))
    else {
        return Err("auth fields");
    };
    let business = canonical::business_params(&parsed).map_err(|_| "params")?;
    let hash = canonical::body_hash(&canonical::canonical_body(&business));
    let expected = canonical::sign(
        secret,
        &canonical::string_to_sign(&api_id, api_key, &ts, &hash),
    );
    if canonical::signatures_match(&expected, &given) {
        Ok(ts)
    } else {
        Err("INVALID_SIGNATURE")
    }
}

// The seed's answer.
const INQUIRY_ANSWER: &str = r#"{"success":true,"code":"BILL_INQUIRY_SUCCESS","message":"Tagihan berhasil ditemukan","data":{"ref_id":"INQ-001","status":"success","customer_no":"122219256576","customer_name":"Demo Member","code":"MPBPJS","tagihan":22500,"admin":2700,"total":25200,"desc":{"jumlah_peserta":"2","lembar_tagihan":1,"alamat":"JAKARTA PUSAT","detail":[{"periode":"01"}]}},"errors":null,"meta":null}"#;

#[tokio::test]
async fn inquiry_round_trip() {
    let (base, seen) = serve_once("200 OK", INQUIRY_ANSWER).await;
    let c = IsikuotaClient::new(format!("{base}/"), "LK1", "k", "s");
    let before = c.now();
    let r = c
        .inquiry("MPBPJS", "122219256576", None, true)
        .await
        .unwrap();
    let seen = seen.await.unwrap();
    assert!(
        seen.head.starts_with("POST /v1/order HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert!(seen
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json\r\n"));
    let ts: i64 = verify(&seen.body, "k", "s").unwrap().parse().unwrap();
    assert!((before..before + 60).contains(&ts), "{ts}");
    assert_eq!(verify(&seen.body, "k", "wrong"), Err("INVALID_SIGNATURE"));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["cmd"], "inquiry");
    assert_eq!(sent["code"], "MPBPJS");
    assert_eq!(sent["customer_no"], "122219256576");
    assert_eq!(sent["ref_id"], "");
    assert_eq!(sent["testing"], true);
    assert_eq!(sent["api_id"], "LK1");

    assert_eq!(r.http_status, 200);
    assert_eq!(r.body, INQUIRY_ANSWER);
    assert_eq!(r.success(), Some(true));
    assert_eq!(r.code(), Some("BILL_INQUIRY_SUCCESS"));
    assert_eq!(r.get("ref_id"), Some(&json!("INQ-001")));
    assert_eq!(r.get("total"), Some(&json!(25200)));
    assert_eq!(r.get("desc.detail.0.periode"), Some(&json!("01")));
}

#[tokio::test]
async fn clock_balance_and_refusals() {
    // An old timestamp is sent as the clock says; a 401 is an answer, not an error.
    let (base, seen) = serve_once(
        "401 Unauthorized",
        r#"{"success":false,"code":"TIMESTAMP_EXPIRED","message":"x","data":null,"errors":null,"meta":null}"#,
    )
    .await;
    let c = IsikuotaClient::new(base, "LK1", "k", "s").with_clock(|| 1_000);
    let r = c.status("INQ-001", false).await.unwrap();
    let seen = seen.await.unwrap();
    assert_eq!(verify(&seen.body, "k", "s").as_deref(), Ok("1000"));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        sent,
        json!({"cmd": "status", "ref_id": "INQ-001", "api_id": "LK1", "timestamp": 1000,
               "signature": sent["signature"].clone()})
    );
    assert_eq!(r.http_status, 401);
    assert_eq!(r.code(), Some("TIMESTAMP_EXPIRED"));
    assert_eq!(r.success(), Some(false));
    assert_eq!(r.data(), None);

    // Balance: no business params.
    let (base, seen) = serve_once(
        "200 OK",
        r#"{"success":true,"code":"SUCCESS","message":"Saldo berhasil didapatkan","data":{"name":"Demo","balance":100000,"currency":"IDR","checked_at":"2024-01-01 00:00:00"},"errors":null,"meta":null}"#,
    )
    .await;
    let c = IsikuotaClient::new(base, "LK1", "k", "s").with_clock(|| 1_700_000_000);
    let r = c.balance().await.unwrap();
    let seen = seen.await.unwrap();
    assert!(seen.head.starts_with("POST /v1/balance HTTP/1.1\r\n"));
    assert_eq!(
        String::from_utf8(seen.body).unwrap(),
        r#"{"api_id":"LK1","timestamp":1700000000,"signature":"402c7ffdf66027e732e03f8cb68e200da711fbea30cb4cae02f452395e371475"}"#
    );
    assert_eq!(r.get("balance"), Some(&json!(100000)));

    // post_raw sends the bytes as they are; a non-JSON answer gives a null envelope.
    let (base, seen) = serve_once("400 Bad Request", "oops").await;
    let c = IsikuotaClient::new(base, "LK1", "k", "s");
    let r = c
        .post_raw("/v1/order", b"{\"a\":1,}".to_vec())
        .await
        .unwrap();
    assert_eq!(seen.await.unwrap().body, b"{\"a\":1,}");
    assert_eq!(r.http_status, 400);
    assert_eq!(r.json, Value::Null);
    assert_eq!(r.body, "oops");
}

#[tokio::test]
async fn pay_and_arbitrary_params() {
    let (base, seen) = serve_once(
        "200 OK",
        r#"{"success":true,"code":"BILL_PAYMENT_SUCCESS"}"#,
    )
    .await;
    let c = IsikuotaClient::new(base, "LK1", "k", "s");
    let r = c
        .pay("MPBPJS", "122219256576", "INQ-001", false)
        .await
        .unwrap();
    let seen = seen.await.unwrap();
    assert!(verify(&seen.body, "k", "s").is_ok());
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(sent["cmd"], "pay-pasca");
    assert!(sent.get("testing").is_none());
    assert_eq!(r.code(), Some("BILL_PAYMENT_SUCCESS"));

    let (base, seen) = serve_once("200 OK", "{}").await;
    let c = IsikuotaClient::new(base, "LK1", "k", "s");
    let Value::Object(params) = json!({"customer_no": 122219256576_u64, "cmd": "inquiry",
                                        "code": "MPBPJS", "note": "Dédé/王\u{2028}"})
    else {
        unreachable!()
    };
    c.send_params("/v1/order", params).await.unwrap();
    let body = seen.await.unwrap().body;
    assert!(verify(&body, "k", "s").is_ok());
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with(r#"{"cmd":"inquiry","code":"MPBPJS","customer_no":122219256576,"note":"#),
        "{text}"
    );
}
