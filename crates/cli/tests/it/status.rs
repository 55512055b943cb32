//! spec/iak.md `checkstatus`: the four states (0 no payment request, 3 in process, 1 paid,
//! 2 failed), in JSON and XML, and what a member may not see.

use crate::helpers::*;
use loket_client::iak::Format;

const NOT_RECEIVED: &str = "REQUEST PEMBAYARAN BELUM DITERIMA";
const IN_PROCESS: &str = "PENDING / TRANSAKSI SEDANG DIPROSES";

/// RC 42, status 0, for a ref_id nobody quoted: `ref_id`, `response_code`, `message`, `status`
/// (docs/protocols.md), and no bill.
fn assert_unknown(r: &loket_client::iak::IakResponse, format: Format, ref_id: &str) {
    assert_eq!(r.http_status, 200, "{}", r.body);
    assert_format(r, format);
    assert_eq!(r.rc().as_deref(), Some("42"), "{}", r.body);
    assert_eq!(
        r.field("message").as_deref(),
        Some(NOT_RECEIVED),
        "{}",
        r.body
    );
    assert_eq!(int_field(r, "status"), 0, "{}", r.body);
    assert_eq!(r.field("ref_id").as_deref(), Some(ref_id), "{}", r.body);
    if format == Format::Json {
        assert!(
            r.data["status"].is_i64(),
            "status is an integer: {}",
            r.body
        );
    }
    for k in ["tr_id", "tr_name", "nominal", "price", "noref", "balance"] {
        assert!(r.data.get(k).is_none(), "no {k}: {}", r.body);
    }
}

#[each_backend]
async fn checkstatus_answers_all_four_states() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000501").await;
    let sp = PGAS_SELLING_PRICE;
    // The answers' balance: after each payment's own charge (docs/ledger.md).
    let mut available = SANDBOX_START;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);

        // 0: nothing under this ref_id.
        let unknown = ref_id();
        assert_unknown(&check_status(&client, &unknown).await, format, &unknown);

        // 0: quoted, not paid: the quote's fields, RC 42.
        let quoted = params("PGAS", "0110010000");
        let inquiry = inquire(&client, &quoted).await;
        assert_eq!(inquiry.rc().as_deref(), Some("00"), "{}", inquiry.body);
        let r = check_status(&client, &quoted.ref_id).await;
        assert_eq!(r.http_status, 200, "{}", r.body);
        assert_format(&r, format);
        assert_eq!(r.rc().as_deref(), Some("42"), "{}", r.body);
        assert_eq!(r.field("message").as_deref(), Some(NOT_RECEIVED));
        assert_eq!(int_field(&r, "status"), 0);
        assert_same_quote(&r, &inquiry);
        assert!(
            r.field("noref").unwrap_or_default().is_empty(),
            "{}",
            r.body
        );

        // 3: pending (2039 stays pending).
        let pending = params("PGAS", "0110012039");
        let tr_id = quote_tr_id(&client, &pending).await;
        let paid = pay(&client, tr_id).await;
        assert_eq!(paid.rc().as_deref(), Some("39"), "{}", paid.body);
        available -= sp;
        let r = check_status(&client, &pending.ref_id).await;
        assert_payment_answer(&r, format, "39", IN_PROCESS, "", available, Some(3));
        assert_eq!(int_field(&r, "tr_id"), tr_id);
        assert_eq!(r.field("ref_id").as_deref(), Some(pending.ref_id.as_str()));
        assert_eq!(r.field("datetime"), paid.field("datetime"), "{}", r.body);

        // 1: paid.
        let success = params("PGAS", "0110010000");
        let tr_id = quote_tr_id(&client, &success).await;
        let paid = pay(&client, tr_id).await;
        assert_eq!(paid.rc().as_deref(), Some("00"), "{}", paid.body);
        available -= sp;
        let r = check_status(&client, &success.ref_id).await;
        assert_payment_answer(
            &r,
            format,
            "00",
            "PAYMENT SUCCESS",
            PGAS_NOREF,
            available,
            Some(1),
        );
        assert_same_quote(&r, &paid);
        assert_eq!(r.field("datetime"), paid.field("datetime"), "{}", r.body);

        // 2: failed, with the failure's RC and an empty noref; nothing charged.
        let failed = params("PGAS", "0110011037");
        let tr_id = quote_tr_id(&client, &failed).await;
        let paid = pay(&client, tr_id).await;
        assert_eq!(paid.rc().as_deref(), Some("37"), "{}", paid.body);
        let r = check_status(&client, &failed.ref_id).await;
        assert_payment_answer(&r, format, "37", "PAYMENT FAILED", "", available, Some(2));
        assert_same_quote(&r, &paid);

        // The quoted ref_id is still unpaid.
        let r = check_status(&client, &quoted.ref_id).await;
        assert_eq!(int_field(&r, "status"), 0, "{}", r.body);
    }
    app.assert_sandbox_balance(&m, SANDBOX_START - 2 * sp, 2 * sp)
        .await;
}

/// A pending payment that settles changes its status from 3 to 1 (or 2); the answer is the
/// payment's current state every time.
#[each_backend]
async fn checkstatus_follows_a_pending_payment_to_its_outcome() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000502").await;
    for (format, hp, status, rc, noref) in [
        (Format::Json, "0110011039", 1, "00", PGAS_NOREF),
        (Format::Xml, "0110012037", 2, "37", ""),
    ] {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PGAS", hp);
        let tr_id = quote_tr_id(&client, &p).await;
        assert_eq!(pay(&client, tr_id).await.rc().as_deref(), Some("39"));
        let r = check_status(&client, &p.ref_id).await;
        assert_eq!(int_field(&r, "status"), 3, "{}", r.body);
        let r = wait_for_status(
            &client,
            &p.ref_id,
            status,
            std::time::Duration::from_secs(10),
        )
        .await;
        assert_eq!(int_field(&r, "status"), status, "{}", r.body);
        assert_eq!(r.rc().as_deref(), Some(rc), "{}", r.body);
        assert_eq!(r.field("noref").as_deref(), Some(noref), "{}", r.body);
        assert_format(&r, format);
    }
    app.assert_sandbox_balance(&m, SANDBOX_START - PGAS_SELLING_PRICE, 0)
        .await;
}

/// A member sees only its own ref_ids, in the mode of the key that signed: another member's
/// payment, the sandbox payment asked with the live key, and a failed inquiry's ref_id answer
/// RC 42, status 0, with nothing of the payment.
#[each_backend]
async fn checkstatus_does_not_show_what_is_not_the_members() {
    let app = spawn_app_with(payments_config()).await;
    let owner = app.create_member("081200000503").await;
    let other = app.create_member("081200000504").await;
    let p = params("PGAS", "0110010000");
    let client = app.sandbox_client(&owner);
    let tr_id = quote_tr_id(&client, &p).await;
    assert_eq!(pay(&client, tr_id).await.rc().as_deref(), Some("00"));
    let failed_inquiry = params("PGAS", "0110010014");
    assert_eq!(
        inquire(&client, &failed_inquiry).await.rc().as_deref(),
        Some("14")
    );
    for format in FORMATS {
        for c in [
            app.sandbox_client(&other).with_format(format),
            app.live_client(&other).with_format(format),
            app.live_client(&owner).with_format(format),
        ] {
            let r = check_status(&c, &p.ref_id).await;
            assert_unknown(&r, format, &p.ref_id);
        }
        let c = app.sandbox_client(&owner).with_format(format);
        let r = check_status(&c, &failed_inquiry.ref_id).await;
        assert_unknown(&r, format, &failed_inquiry.ref_id);
        // The owner, with the key that paid, sees it.
        let r = check_status(&c, &p.ref_id).await;
        assert_eq!(int_field(&r, "status"), 1, "{}", r.body);
    }
}
