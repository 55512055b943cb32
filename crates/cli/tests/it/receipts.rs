//! spec/iak.md "Receipt": `GET /api/v1/download/{tr_id}` (PDF) and `.../{tr_id}/1` (JSON), for
//! a paid transaction, to its owner only (a `sign` made with the key of the transaction, or a
//! request from the member's non-empty allowlist); anything else 404 / RC 117.

use crate::helpers::*;
use loket_client::iak::{IakClient, IakResponse};
use loket_store::MemberUpdate;
use serde_json::json;

/// A paid PGAS bill (NGATIMUN) of `m`; answers (tr_id, ref_id).
async fn paid_pgas(client: &IakClient) -> (i64, String) {
    let p = params("PGAS", "0110010000");
    let tr_id = quote_tr_id(client, &p).await;
    let r = pay(client, tr_id).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    (tr_id, p.ref_id)
}

fn assert_receipt_pdf(status: u16, bytes: &[u8], member_name: &str) {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(bytes));
    assert!(bytes.starts_with(b"%PDF"), "a PDF");
    loket_api::pdf::check_structure(bytes).expect("a well-formed PDF");
    let text = String::from_utf8_lossy(bytes);
    for want in [
        "NGATIMUN",
        member_name,
        PGAS_NOREF,
        "0110010000",
        "Rp 322.002",
        "Rp 2.500",
        "Rp 324.502",
        "PGN GAS NEGARA",
    ] {
        assert!(text.contains(want), "the PDF shows {want:?}");
    }
}

/// 404, RC 117 in the JSON envelope, and nothing of the transaction.
fn assert_not_found(status: u16, body: &[u8]) {
    let r = IakResponse::parse(status, "", body);
    assert_eq!(status, 404, "{}", r.body);
    assert_eq!(r.rc().as_deref(), Some("117"), "{}", r.body);
    assert_eq!(r.field("message").as_deref(), Some("PAGE NOT FOUND"));
    for leak in ["NGATIMUN", PGAS_NOREF, "%PDF"] {
        assert!(!r.body.contains(leak), "no {leak} in {}", r.body);
    }
}

/// GET `path` without a client signature; (status, content type, body).
async fn raw_get(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base_url))
        .send()
        .await
        .expect("an HTTP answer");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

#[each_backend]
async fn a_paid_transaction_has_a_pdf_receipt() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000701").await;
    let client = app.sandbox_client(&m);
    let (tr_id, _) = paid_pgas(&client).await;
    let (status, bytes) = client.receipt_pdf(tr_id).await.unwrap();
    let name = format!("Member {}", m.username);
    assert_receipt_pdf(status, &bytes, &name);
    // The content type, on the same request made by hand.
    let sign = client.sign(&tr_id.to_string());
    let (status, ct, raw) = raw_get(&app, &format!("/api/v1/download/{tr_id}?sign={sign}")).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/pdf"), "content type {ct}");
    assert_eq!(raw, bytes, "the same receipt twice");
}

#[each_backend]
async fn a_paid_transaction_has_a_json_receipt() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000702").await;
    let client = app.sandbox_client(&m);
    let (tr_id, _) = paid_pgas(&client).await;
    let r = client.receipt_json(tr_id).await.unwrap();
    assert_eq!(r.http_status, 200, "{}", r.body);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(keys(&v), ["data", "meta"], "{}", r.body);
    // spec/iak.md's keys in its order; docs/protocols.md adds LOKET.
    assert_eq!(
        keys(&r.data),
        [
            "HEADER",
            "NO REFERENSI",
            "TANGGAL",
            "NAMA PRODUK",
            "ID PELANGGAN",
            "NAMA",
            "PERIODE",
            "JUMLAH TAGIHAN",
            "ADMIN",
            "TOTAL BAYAR",
            "LOKET",
        ],
        "{}",
        r.body
    );
    let want = [
        ("NO REFERENSI", PGAS_NOREF.to_string()),
        ("NAMA PRODUK", "PGN GAS NEGARA".to_string()),
        ("ID PELANGGAN", "0110010000".to_string()),
        ("NAMA", "NGATIMUN".to_string()),
        ("PERIODE", "0917".to_string()),
        ("JUMLAH TAGIHAN", "Rp 322.002".to_string()),
        ("ADMIN", "Rp 2.500".to_string()),
        ("TOTAL BAYAR", "Rp 324.502".to_string()),
        ("LOKET", format!("Member {}", m.username)),
    ];
    for (k, v) in want {
        assert_eq!(r.field(k).as_deref(), Some(v.as_str()), "{k}: {}", r.body);
    }
    let header = r.field("HEADER").unwrap_or_default();
    assert!(header.contains("PGN GAS NEGARA"), "HEADER: {header}");
    assert!(!r.field("TANGGAL").unwrap_or_default().is_empty());
}

/// Only the owner's signature, made with the key of the transaction: no sign, a wrong one,
/// another member's, or the owner's live key for a sandbox transaction: 404 / RC 117.
#[each_backend]
async fn a_receipt_needs_the_owners_signature() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000703").await;
    let other = app.create_member("081200000704").await;
    let client = app.sandbox_client(&m);
    let (tr_id, _) = paid_pgas(&client).await;
    let strangers = [
        IakClient::new(&app.base_url, &m.username, "not-the-key"),
        app.sandbox_client(&other),
        app.live_client(&other),
        app.live_client(&m),
    ];
    for c in &strangers {
        let (status, body) = c.receipt_pdf(tr_id).await.unwrap();
        assert_not_found(status, &body);
        let r = c.receipt_json(tr_id).await.unwrap();
        assert_not_found(r.http_status, r.body.as_bytes());
    }
    for path in [
        format!("/api/v1/download/{tr_id}"),
        format!("/api/v1/download/{tr_id}/1"),
        format!("/api/v1/download/{tr_id}?sign="),
        format!("/api/v1/download/{tr_id}/1?sign=0123456789abcdef0123456789abcdef"),
    ] {
        let (status, _, body) = raw_get(&app, &path).await;
        assert_not_found(status, &body);
    }
    // The owner still gets it, in upper-case hex too.
    let sign = client.sign(&tr_id.to_string()).to_uppercase();
    let (status, _, body) = raw_get(&app, &format!("/api/v1/download/{tr_id}?sign={sign}")).await;
    assert_receipt_pdf(status, &body, &format!("Member {}", m.username));
}

/// Only a paid (RC 00) transaction has a receipt: not a quote, a failed or pending payment, an
/// unknown or malformed tr_id, even with a valid signature.
#[each_backend]
async fn only_a_paid_transaction_has_a_receipt() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000705").await;
    let client = app.sandbox_client(&m);
    let unpaid = quote_tr_id(&client, &params("PGAS", "0110010000")).await;
    let failed = quote_tr_id(&client, &params("PGAS", "0110011037")).await;
    assert_eq!(pay(&client, failed).await.rc().as_deref(), Some("37"));
    let pending = quote_tr_id(&client, &params("PGAS", "0110012039")).await;
    assert_eq!(pay(&client, pending).await.rc().as_deref(), Some("39"));
    for tr_id in [unpaid, failed, pending, pending + 1_000] {
        let (status, body) = client.receipt_pdf(tr_id).await.unwrap();
        assert_not_found(status, &body);
        let r = client.receipt_json(tr_id).await.unwrap();
        assert_not_found(r.http_status, r.body.as_bytes());
    }
    for path in ["/api/v1/download/abc", "/api/v1/download/-1/1"] {
        let sign = client.sign(path.rsplit('/').next().unwrap());
        let (status, _, body) = raw_get(&app, &format!("{path}?sign={sign}")).await;
        assert_not_found(status, &body);
    }
    // Unknown format segment.
    let sign = client.sign(&failed.to_string());
    let (status, _, body) =
        raw_get(&app, &format!("/api/v1/download/{failed}/2?sign={sign}")).await;
    assert_not_found(status, &body);
}

/// A member with a non-empty allowlist gets its receipts from an allowed address without a
/// signature, as IAK does; a member without one never does.
#[each_backend]
async fn an_allowlisted_address_needs_no_signature() {
    let app = spawn_app_with(payments_config()).await;
    let listed = app.create_member("081200000706").await;
    let open = app.create_member("081200000707").await;
    app.store
        .update_member(
            &listed.username,
            MemberUpdate {
                allowlist: Some("127.0.0.1".into()),
                ..MemberUpdate::default()
            },
        )
        .await
        .unwrap();
    let (listed_tr, _) = paid_pgas(&app.sandbox_client(&listed)).await;
    let (open_tr, _) = paid_pgas(&app.sandbox_client(&open)).await;
    let (status, ct, body) = raw_get(&app, &format!("/api/v1/download/{listed_tr}")).await;
    assert!(ct.starts_with("application/pdf"), "{ct}");
    assert_receipt_pdf(status, &body, &format!("Member {}", listed.username));
    let (status, _, body) = raw_get(&app, &format!("/api/v1/download/{listed_tr}/1")).await;
    let r = IakResponse::parse(status, "", &body);
    assert_eq!(status, 200, "{}", r.body);
    assert_eq!(r.field("NAMA").as_deref(), Some("NGATIMUN"));
    let (status, _, body) = raw_get(&app, &format!("/api/v1/download/{open_tr}")).await;
    assert_not_found(status, &body);
}

/// `loket call iak receipt --out FILE` writes the PDF; a transaction without a receipt is a
/// one-line error and no file.
#[each_backend]
async fn loket_call_writes_the_pdf_receipt() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000708").await;
    let client = app.sandbox_client(&m);
    let (tr_id, _) = paid_pgas(&client).await;
    let failed = quote_tr_id(&client, &params("PGAS", "0110011037")).await;
    assert_eq!(pay(&client, failed).await.rc().as_deref(), Some("37"));
    let dir = tempfile::tempdir().unwrap();
    let call = |tr_id: i64, file: &str| -> Vec<String> {
        [
            "call",
            "iak",
            "receipt",
            "--url",
            &app.base_url,
            "--username",
            &m.username,
            "--key",
            &m.dev_api_key,
            "--tr-id",
            &tr_id.to_string(),
            "--out",
            &dir.path().join(file).display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = call(tr_id, "struk.pdf");
    let out = run_async(args.clone()).await;
    let v = output_json(&args.iter().map(String::as_str).collect::<Vec<_>>(), &out);
    let bytes = std::fs::read(dir.path().join("struk.pdf")).expect("the PDF is written");
    assert_eq!(v["tr_id"], json!(tr_id), "{v}");
    assert_eq!(v["bytes"], json!(bytes.len()), "{v}");
    assert_receipt_pdf(200, &bytes, &format!("Member {}", m.username));

    let out = run_async(call(failed, "none.pdf")).await;
    assert!(!out.status.success(), "no receipt for a failed payment");
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("404"), "{err}");
    assert!(!dir.path().join("none.pdf").exists());
}
