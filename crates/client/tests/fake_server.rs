//! A full inquiry round trip against a tiny hand-rolled HTTP/1.1 server, in JSON and XML.

use loket_client::iak::{Format, IakClient, InquiryParams};
use loket_client::xml::parse_mp;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request as the fake server saw it.
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// Serves exactly one request with a fixed answer; returns the base URL and what it received.
async fn serve_once(
    content_type: &'static str,
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
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        sock.write_all(response.as_bytes()).await.unwrap();
        sock.shutdown().await.ok();
        let _ = tx.send(Seen { head, body });
    });
    (format!("http://{addr}"), rx)
}

const JSON_ANSWER: &str = r#"{"data":{"tr_id":219346108,"code":"PLNNONTAG","hp":"3225030005901","tr_name":"JAYUSMAN","period":"","nominal":696400,"admin":1600,"ref_id":"09128374655","response_code":"00","message":"INQUIRY SUCCESS","price":698000,"selling_price":696200,"desc":{"transaksi":"PENYAMBUNGAN BARU","no_registrasi":"5392112011703","tanggal_registrasi":"20120524"}},"meta":[]}"#;

const XML_ANSWER: &str = r#"<?xml version="1.0"?>
<mp>
  <tr_id>219346108</tr_id>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <tr_name>JAYUSMAN</tr_name>
  <period></period>
  <nominal>696400</nominal>
  <admin>1600</admin>
  <ref_id>09128374655</ref_id>
  <response_code>00</response_code>
  <message>INQUIRY SUCCESS</message>
  <price>698000</price>
  <selling_price>696200</selling_price>
  <desc>
    <transaksi>PENYAMBUNGAN BARU</transaksi>
    <no_registrasi>5392112011703</no_registrasi>
    <tanggal_registrasi>20120524</tanggal_registrasi>
  </desc>
</mp>
"#;

const FIELDS: [&str; 12] = [
    "tr_id",
    "code",
    "hp",
    "tr_name",
    "period",
    "nominal",
    "admin",
    "ref_id",
    "response_code",
    "message",
    "price",
    "selling_price",
];

fn params() -> InquiryParams {
    InquiryParams {
        code: "PLNNONTAG".into(),
        hp: "3225030005901".into(),
        ref_id: "09128374655".into(),
        ..Default::default()
    }
}

// python3 -c 'import hashlib;print(hashlib.md5(b"123123123key09128374655").hexdigest())'
const SIGN: &str = "82c1ec96be5015ea2c6f2417b3acd66b";

#[tokio::test]
async fn inquiry_round_trip_json_and_xml() {
    // JSON
    let (base, seen) = serve_once("application/json", JSON_ANSWER).await;
    let c = IakClient::new(base, "123123123", "key");
    let j = c.inquiry(&params()).await.unwrap();
    let seen = seen.await.unwrap();
    assert!(
        seen.head
            .starts_with("POST /api/v1/bill/check HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert!(seen
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/json\r\n"));
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        sent,
        json!({"commands": "inq-pasca", "username": "123123123", "code": "PLNNONTAG",
               "hp": "3225030005901", "ref_id": "09128374655", "sign": SIGN})
    );
    assert_eq!(j.http_status, 200);
    assert_eq!(j.content_type, "application/json");
    assert_eq!(j.body, JSON_ANSWER);
    assert_eq!(j.rc().as_deref(), Some("00"));
    assert_eq!(j.get("tr_id"), Some(&json!(219346108)));

    // XML
    let (base, seen) = serve_once("application/xml", XML_ANSWER).await;
    let c = IakClient::new(base, "123123123", "key").with_format(Format::Xml);
    let x = c.inquiry(&params()).await.unwrap();
    let seen = seen.await.unwrap();
    assert!(seen
        .head
        .starts_with("POST /api/v1/bill/check HTTP/1.1\r\n"));
    assert!(seen
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/xml\r\n"));
    let sent = parse_mp(&seen.body).unwrap();
    assert_eq!(
        Value::Object(sent),
        json!({"commands": "inq-pasca", "username": "123123123", "code": "PLNNONTAG",
               "hp": "3225030005901", "ref_id": "09128374655", "sign": SIGN})
    );
    assert_eq!(x.http_status, 200);
    assert_eq!(x.content_type, "application/xml");
    assert_eq!(x.body, XML_ANSWER);

    // Both formats agree field by field.
    for f in FIELDS {
        assert_eq!(j.field(f), x.field(f), "field {f}");
        assert!(j.field(f).is_some(), "field {f}");
    }
    for p in [
        "desc.transaksi",
        "desc.no_registrasi",
        "desc.tanggal_registrasi",
    ] {
        assert_eq!(j.get(p), x.get(p), "path {p}");
    }
    assert_eq!(x.field("price").as_deref(), Some("698000"));
}

#[tokio::test]
async fn pricelist_uses_the_kind_path_and_pay_sends_an_integer() {
    let (base, seen) = serve_once(
        "application/xml",
        "<mp><data><pasca><code>PDAMKOTA.BANDUNG</code><province>Jawa Barat</province></pasca></data></mp>",
    )
    .await;
    let c = IakClient::new(format!("{base}/"), "123123123", "key").with_format(Format::Xml);
    let r = c
        .pricelist(Some("pdam"), Some("active"), None)
        .await
        .unwrap();
    let seen = seen.await.unwrap();
    assert!(seen
        .head
        .starts_with("POST /api/v1/bill/check/pdam HTTP/1.1\r\n"));
    let sent = parse_mp(&seen.body).unwrap();
    assert_eq!(sent["commands"], "pricelist-pasca");
    assert_eq!(sent["status"], "active");
    assert_eq!(r.get("pasca.0.code"), Some(&json!("PDAMKOTA.BANDUNG")));

    let (base, seen) = serve_once(
        "application/json",
        r#"{"data":{"response_code":"06"},"meta":[]}"#,
    )
    .await;
    let c = IakClient::new(base, "123123123", "key");
    let r = c.pay(219346108).await.unwrap();
    let sent: Value = serde_json::from_slice(&seen.await.unwrap().body).unwrap();
    assert_eq!(sent["tr_id"], json!(219346108));
    assert_eq!(r.rc().as_deref(), Some("06"));

    let (base, seen) = serve_once("application/json", r#"{"data":{"HEADER":"STRUK"}}"#).await;
    let c = IakClient::new(base, "123123123", "key");
    let r = c.receipt_json(219346108).await.unwrap();
    let head = seen.await.unwrap().head;
    assert!(
        head.starts_with(
            "GET /api/v1/download/219346108/1?sign=24c498b1b8aec8dd84137620fb00c7a0 HTTP/1.1\r\n"
        ),
        "{head}"
    );
    assert_eq!(r.field("HEADER").as_deref(), Some("STRUK"));
}
