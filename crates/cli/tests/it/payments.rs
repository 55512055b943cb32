//! spec/iak.md `pay-pasca` over HTTP against the real server: every sandbox payment outcome, the
//! balance after each (spec/ledger.md: success charges exactly `selling_price`, a failure nothing,
//! a pending payment holds it), paying twice, after expiry, and what is not the member's to pay.

use crate::helpers::*;
use loket_api::config::LifetimeSetting;
use loket_client::iak::{Format, IakClient, IakResponse};
use loket_core::{Mode, PaymentState, Rupiah};
use serde_json::{json, Value};
use std::time::Duration;

/// Inquiry then payment; answers (inquiry, payment, unix seconds before and after the payment).
async fn inquire_and_pay(
    client: &IakClient,
    p: &loket_client::iak::InquiryParams,
) -> (IakResponse, IakResponse, i64, i64) {
    let inquiry = inquire(client, p).await;
    assert_eq!(inquiry.rc().as_deref(), Some("00"), "{}", inquiry.body);
    let tr_id = int_field(&inquiry, "tr_id");
    let before = loket_core::jakarta::now();
    let paid = pay(client, tr_id).await;
    let after = loket_core::jakarta::now();
    (inquiry, paid, before, after)
}

#[each_backend]
async fn pgas_success_charges_exactly_the_selling_price() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000401").await;
    let mut expected = SANDBOX_START;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PGAS", "0110010000");
        let (inquiry, paid, before, after) = inquire_and_pay(&client, &p).await;
        expected -= PGAS_SELLING_PRICE;
        assert_payment_answer(
            &paid,
            format,
            "00",
            "PAYMENT SUCCESS",
            PGAS_NOREF,
            expected,
            None,
        );
        assert_same_quote(&paid, &inquiry);
        assert_eq!(int_field(&paid, "selling_price"), PGAS_SELLING_PRICE);
        assert_eq!(paid.field("tr_name").as_deref(), Some("NGATIMUN"));
        assert_eq!(
            stringly(&paid.data["desc"]),
            stringly(&inquiry.data["desc"]),
            "PGAS's desc is the inquiry's: {}",
            paid.body
        );
        assert_datetime_between(&paid, before, after);
        // Behind the API: posted, nothing left held, the payment row agrees.
        app.assert_sandbox_balance(&m, expected, 0).await;
        let payment = app
            .payment(int_field(&paid, "tr_id"))
            .await
            .expect("a payment");
        assert_eq!(payment.state, PaymentState::Success);
        assert_eq!(payment.amount, Rupiah::new(PGAS_SELLING_PRICE));
        assert_eq!(payment.noref, PGAS_NOREF);
        assert_eq!(payment.mode, Mode::Sandbox);
    }
    // The live balance is never touched by a sandbox payment.
    let live = app.store.balance(m.id, Mode::Live).await.unwrap();
    assert_eq!((live.balance.get(), live.held.get()), (0, 0));
    app.assert_ledger_clean().await;
}

/// The documented payments of sandbox.md: PLNNONTAG's and PBB's norefs, PLN postpaid's paid desc.
#[each_backend]
async fn documented_payments_answer_their_noref() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000402").await;
    let client = app.sandbox_client(&m);
    let mut expected = SANDBOX_START;
    let cases = [
        (params("PLNNONTAG", "3225030005901"), 696_200, "18147159"),
        (
            params_year("PBBKOT.CIMAHI", "329801092375990000", "2019"),
            208_857,
            "190814738977",
        ),
        (params("PGAS", "0110014601"), PGAS_SELLING_PRICE, PGAS_NOREF),
        (
            params("PLNPOSTPAID", "530000000000"),
            301_900,
            "201608000001",
        ),
    ];
    for (p, selling_price, noref) in cases {
        let (inquiry, paid, before, after) = inquire_and_pay(&client, &p).await;
        expected -= selling_price;
        assert_payment_answer(
            &paid,
            Format::Json,
            "00",
            "PAYMENT SUCCESS",
            noref,
            expected,
            None,
        );
        assert_same_quote(&paid, &inquiry);
        assert_eq!(
            int_field(&paid, "selling_price"),
            selling_price,
            "{}",
            paid.body
        );
        assert_datetime_between(&paid, before, after);
        app.assert_sandbox_balance(&m, expected, 0).await;
    }
    app.assert_ledger_clean().await;
}

/// sandbox.md: PLN postpaid's payment adds `"lembar_tagihan_sisa": 0` and the meter readings
/// `"00080000"` to each detail; the rest of the inquiry's desc stays as it was.
#[each_backend]
async fn plnpostpaid_payment_desc_adds_meters_and_remaining_sheets() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000403").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PLNPOSTPAID", "530000000000");
        let (inquiry, paid, _, _) = inquire_and_pay(&client, &p).await;
        assert_eq!(paid.rc().as_deref(), Some("00"), "{}", paid.body);
        assert!(
            inquiry.get("desc.lembar_tagihan_sisa").is_none(),
            "the inquiry has no lembar_tagihan_sisa: {}",
            inquiry.body
        );
        let mut want = subcriber("530000000000", &p.ref_id)["desc"].clone();
        want["lembar_tagihan_sisa"] = json!(0);
        want["tagihan"]["detail"][0]["meter_awal"] = json!("00080000");
        want["tagihan"]["detail"][0]["meter_akhir"] = json!("00080000");
        match format {
            Format::Json => {
                assert_eq!(paid.data["desc"], want, "paid desc: {}", paid.body);
                assert!(paid.data["desc"]["lembar_tagihan_sisa"].is_i64());
            }
            Format::Xml => assert_eq!(
                paid.data["desc"],
                stringly(&want),
                "paid desc: {}",
                paid.body
            ),
        }
        // checkstatus answers the paid desc too.
        let status = check_status(&client, &p.ref_id).await;
        assert_eq!(status.data["desc"], paid.data["desc"], "{}", status.body);
    }
}

/// A definite failure (rule 2 `1xyz`, and the documented `…606` / `…608`) releases the charge in
/// full: the answer's balance and the store's are as before.
#[each_backend]
async fn a_definite_failure_charges_nothing() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000404").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        for (hp, rc) in [
            ("0110011037", "37"),
            ("0110011105", "105"),
            ("0110011038", "38"),
            ("0110014606", "37"),
            ("0110014608", "105"),
        ] {
            let p = params("PGAS", hp);
            let (inquiry, paid, before, after) = inquire_and_pay(&client, &p).await;
            let message = match rc {
                "38" => "PAYMENT FAILED, PLEASE DO ANOTHER REQUEST",
                rc => message_of(rc),
            };
            assert_payment_answer(&paid, format, rc, message, "", SANDBOX_START, None);
            assert_same_quote(&paid, &inquiry);
            assert_datetime_between(&paid, before, after);
            app.assert_sandbox_balance(&m, SANDBOX_START, 0).await;
            let payment = app.payment(int_field(&paid, "tr_id")).await.unwrap();
            assert_eq!(payment.state, PaymentState::Failed, "{hp}");
        }
    }
    app.assert_ledger_clean().await;
}

/// `1039`: pending (RC 39), the charge held (not available) until it resolves, then success.
/// `2000` resolves to success and `2037` to failure 37, which releases the hold.
#[each_backend]
async fn pending_payments_hold_the_charge_until_they_resolve() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000405").await;
    let client = app.sandbox_client(&m);
    let sp = PGAS_SELLING_PRICE;
    let mut refs = Vec::new();
    for (i, hp) in ["0110011039", "0110012000", "0110012037"]
        .iter()
        .enumerate()
    {
        let p = params("PGAS", hp);
        let (inquiry, paid, _, _) = inquire_and_pay(&client, &p).await;
        let held = sp * (i as i64 + 1);
        assert_payment_answer(
            &paid,
            Format::Json,
            "39",
            "PENDING / TRANSACTION IN PROCESS",
            "",
            SANDBOX_START - held,
            None,
        );
        assert_same_quote(&paid, &inquiry);
        // Held, not charged: the posted balance is whole, the available one is not.
        app.assert_sandbox_balance(&m, SANDBOX_START, held).await;
        refs.push((p.ref_id.clone(), int_field(&paid, "tr_id"), *hp));
    }
    // pending_resolve_secs = 2: all three settle within a few seconds.
    for (ref_id, _, hp) in &refs {
        let want = if *hp == "0110012037" { 2 } else { 1 };
        let r = wait_for_status(&client, ref_id, want, Duration::from_secs(10)).await;
        assert_eq!(int_field(&r, "status"), want, "{hp} settles: {}", r.body);
    }
    app.assert_sandbox_balance(&m, SANDBOX_START - 2 * sp, 0)
        .await;
    for (ref_id, tr_id, hp) in &refs {
        let status = check_status(&client, ref_id).await;
        let again = pay(&client, *tr_id).await;
        if *hp == "0110012037" {
            assert_eq!(status.rc().as_deref(), Some("37"), "{}", status.body);
            assert_eq!(status.field("noref").as_deref(), Some(""));
            // Paying again answers the failure; it charges nothing.
            assert_eq!(again.rc().as_deref(), Some("37"), "{}", again.body);
            assert_eq!(again.field("message").as_deref(), Some("PAYMENT FAILED"));
            assert_eq!(again.field("noref").as_deref(), Some(""));
        } else {
            assert_eq!(status.rc().as_deref(), Some("00"), "{}", status.body);
            assert_eq!(status.field("noref").as_deref(), Some(PGAS_NOREF));
            assert_eq!(again.rc().as_deref(), Some("00"), "{}", again.body);
            assert_eq!(again.field("message").as_deref(), Some("PAYMENT SUCCESS"));
            assert_eq!(again.field("noref").as_deref(), Some(PGAS_NOREF));
        }
        let p = app.payment(*tr_id).await.unwrap();
        assert_eq!(p.resolved_by.as_deref(), Some("resolver"), "{hp}");
    }
    app.assert_sandbox_balance(&m, SANDBOX_START - 2 * sp, 0)
        .await;
    app.assert_ledger_clean().await;
    ledger_verify(&app.database_url).await;
}

fn resolve_args(ref_id: &str, to: &str, url: &str) -> Vec<String> {
    [
        "sandbox",
        "resolve",
        "--ref-id",
        ref_id,
        "--to",
        to,
        "--database",
        url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `2039` stays pending (it never resolves by itself) until `loket sandbox resolve`, run as a
/// process against the same database, settles it: to success (charged) or failed (released).
#[each_backend]
async fn a_stuck_payment_waits_for_sandbox_resolve() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000406").await;
    let client = app.sandbox_client(&m);
    let sp = PGAS_SELLING_PRICE;
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let p = params("PGAS", "0110012039");
        let (_, paid, _, _) = inquire_and_pay(&client, &p).await;
        assert_eq!(paid.rc().as_deref(), Some("39"), "{}", paid.body);
        stuck.push((p.ref_id.clone(), int_field(&paid, "tr_id")));
    }
    app.assert_sandbox_balance(&m, SANDBOX_START, 2 * sp).await;
    // Longer than pending_resolve_secs (2 s) and several resolver ticks: still pending.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    for (ref_id, _) in &stuck {
        let r = check_status(&client, ref_id).await;
        assert_eq!(int_field(&r, "status"), 3, "still pending: {}", r.body);
        assert_eq!(r.rc().as_deref(), Some("39"));
    }
    app.assert_sandbox_balance(&m, SANDBOX_START, 2 * sp).await;

    let (ok_ref, ok_tr) = &stuck[0];
    let args = resolve_args(ok_ref, "success", &app.database_url);
    let out = run_async(args.clone()).await;
    let v = output_json(&args.iter().map(String::as_str).collect::<Vec<_>>(), &out);
    assert_eq!(v["state"], "success", "{v}");
    assert_eq!(v["rc"], "00", "{v}");
    assert_eq!(v["noref"], PGAS_NOREF, "{v}");
    assert_eq!(v["tr_id"], json!(ok_tr), "{v}");
    let r = check_status(&client, ok_ref).await;
    assert_eq!(int_field(&r, "status"), 1, "{}", r.body);
    assert_eq!(r.field("noref").as_deref(), Some(PGAS_NOREF));
    app.assert_sandbox_balance(&m, SANDBOX_START - sp, sp).await;

    let (fail_ref, _) = &stuck[1];
    let args = resolve_args(fail_ref, "failed", &app.database_url);
    let out = run_async(args.clone()).await;
    let v = output_json(&args.iter().map(String::as_str).collect::<Vec<_>>(), &out);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["rc"], "37", "{v}");
    let r = check_status(&client, fail_ref).await;
    assert_eq!(int_field(&r, "status"), 2, "{}", r.body);
    assert_eq!(r.rc().as_deref(), Some("37"));
    app.assert_sandbox_balance(&m, SANDBOX_START - sp, 0).await;

    // A settled payment cannot be resolved again: a one-line error, nothing moves.
    for (ref_id, _) in &stuck {
        let out = run_async(resolve_args(ref_id, "failed", &app.database_url)).await;
        assert!(!out.status.success(), "resolving {ref_id} twice");
        assert_eq!(text(&out.stderr).trim_end().lines().count(), 1);
    }
    app.assert_sandbox_balance(&m, SANDBOX_START - sp, 0).await;
    app.assert_ledger_clean().await;
    ledger_verify(&app.database_url).await;
}

/// Paying a quote again never charges again: the answer is the first payment's current state,
/// in either format.
#[each_backend]
async fn paying_twice_charges_once() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000407").await;
    let json_client = app.sandbox_client(&m);
    let xml_client = app.sandbox_client(&m).with_format(Format::Xml);
    let sp = PGAS_SELLING_PRICE;
    // (number, RC, the sandbox (balance, held) after paying it however often).
    let cases = [
        ("0110010000", "00", SANDBOX_START - sp, 0),
        ("0110011037", "37", SANDBOX_START - sp, 0),
        ("0110012039", "39", SANDBOX_START - sp, sp),
    ];
    for (hp, rc, balance, held) in cases {
        let p = params("PGAS", hp);
        let (_, first, _, _) = inquire_and_pay(&json_client, &p).await;
        assert_eq!(first.rc().as_deref(), Some(rc), "{}", first.body);
        app.assert_sandbox_balance(&m, balance, held).await;
        let tr_id = int_field(&first, "tr_id");
        for client in [&json_client, &xml_client, &json_client] {
            // Long enough apart that a re-stamped datetime would show.
            tokio::time::sleep(Duration::from_millis(400)).await;
            let again = pay(client, tr_id).await;
            assert_eq!(again.rc(), first.rc(), "{}", again.body);
            for k in PAY_FIELDS {
                if k == "desc" {
                    assert_eq!(stringly(&again.data[k]), stringly(&first.data[k]));
                } else {
                    assert_eq!(
                        again.field(k),
                        first.field(k),
                        "{k} of a repeated payment:\n{}\n{}",
                        first.body,
                        again.body
                    );
                }
            }
            app.assert_sandbox_balance(&m, balance, held).await;
        }
    }
    // One success charged once; the failure nothing; the stuck payment holds once.
    app.assert_sandbox_balance(&m, SANDBOX_START - sp, sp).await;
    app.assert_ledger_clean().await;
}

#[each_backend]
async fn paying_an_expired_quote_is_04_and_holds_nothing() {
    let mut config = payments_config();
    config.quotes.lifetime = LifetimeSetting::Seconds(1);
    let app = spawn_app_with(config).await;
    let m = app.create_member("081200000408").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PGAS", "0110010000");
        let tr_id = quote_tr_id(&client, &p).await;
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        for _ in 0..2 {
            let r = pay(&client, tr_id).await;
            let tr = tr_id.to_string();
            assert_failure(
                &r,
                format,
                200,
                "04",
                &[
                    ("tr_id", &tr),
                    ("code", "PGAS"),
                    ("hp", "0110010000"),
                    ("ref_id", &p.ref_id),
                ],
            );
        }
        assert!(app.payment(tr_id).await.is_none(), "no payment row");
        app.assert_sandbox_balance(&m, SANDBOX_START, 0).await;
        // Never paid: checkstatus says so.
        let s = check_status(&client, &p.ref_id).await;
        assert_eq!(s.rc().as_deref(), Some("42"), "{}", s.body);
        assert_eq!(int_field(&s, "status"), 0, "{}", s.body);
    }
    app.assert_ledger_clean().await;
}

/// What is not the member's to pay: an unknown tr_id, another member's quote, a sandbox quote
/// paid with the live key. RC 06, nothing moves, nothing of the other quote leaks; the owner can
/// still pay it.
#[each_backend]
async fn unknown_and_foreign_tr_ids_are_06() {
    let app = spawn_app_with(payments_config()).await;
    let owner = app.create_member("081200000409").await;
    let other = app.create_member("081200000410").await;
    let p = params("PGAS", "0110010000");
    let tr_id = quote_tr_id(&app.sandbox_client(&owner), &p).await;
    for format in FORMATS {
        let attempts = [
            (
                app.sandbox_client(&owner).with_format(format),
                tr_id + 1_000_000,
            ),
            (app.sandbox_client(&other).with_format(format), tr_id),
            (app.live_client(&other).with_format(format), tr_id),
            (app.live_client(&owner).with_format(format), tr_id),
        ];
        for (client, t) in attempts {
            let r = pay(&client, t).await;
            assert_failure(&r, format, 200, "06", &[]);
            for k in ["hp", "code", "ref_id", "balance", "noref"] {
                assert!(r.data.get(k).is_none(), "no {k} in a 06: {}", r.body);
            }
        }
    }
    assert!(app.payment(tr_id).await.is_none());
    for m in [&owner, &other] {
        app.assert_sandbox_balance(m, SANDBOX_START, 0).await;
        let live = app.store.balance(m.id, Mode::Live).await.unwrap();
        assert_eq!((live.balance.get(), live.held.get()), (0, 0));
    }
    let r = pay(&app.sandbox_client(&owner), tr_id).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "the owner pays: {}", r.body);
    app.assert_sandbox_balance(&owner, SANDBOX_START - PGAS_SELLING_PRICE, 0)
        .await;
    app.assert_sandbox_balance(&other, SANDBOX_START, 0).await;
    app.assert_ledger_clean().await;
}

/// `tr_id` must be a positive integer (a JSON number or a numeric string): anything else is
/// HTTP 400, RC 107 naming tr_id, and nothing is paid.
#[each_backend]
async fn a_tr_id_that_is_not_a_number_is_a_format_error() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000411").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        for bad in ["abc", "0", "-5", "12.5"] {
            let mut fields = client.pay_fields(1);
            fields.insert("tr_id".into(), Value::String(bad.into()));
            fields.insert("sign".into(), client.sign(bad).into());
            let r = client.send_fields(fields).await.unwrap();
            assert_format_error(&r, format, 400, Some("tr_id"));
        }
    }
    app.assert_sandbox_balance(&m, SANDBOX_START, 0).await;
    // Leniency: the tr_id as a numeric string pays.
    let client = app.sandbox_client(&m);
    let tr_id = quote_tr_id(&client, &params("PGAS", "0110010000")).await;
    let mut fields = client.pay_fields(tr_id);
    fields.insert("tr_id".into(), Value::String(tr_id.to_string()));
    let r = client.send_fields(fields).await.unwrap();
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(int_field(&r, "tr_id"), tr_id);
    app.assert_sandbox_balance(&m, SANDBOX_START - PGAS_SELLING_PRICE, 0)
        .await;
}

/// Balance below `selling_price`: RC 17, nothing charged or held, no payment; exactly
/// `selling_price` available is enough.
#[each_backend]
async fn a_short_balance_is_17_and_holds_nothing() {
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000412").await;
    let sp = PGAS_SELLING_PRICE;
    let leave = sp - 1;
    app.store
        .withdraw(m.id, Mode::Sandbox, Rupiah::new(SANDBOX_START - leave))
        .await
        .expect("the withdrawal");
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PGAS", "0110010000");
        let tr_id = quote_tr_id(&client, &p).await;
        let r = pay(&client, tr_id).await;
        let tr = tr_id.to_string();
        assert_failure(
            &r,
            format,
            200,
            "17",
            &[
                ("tr_id", &tr),
                ("code", "PGAS"),
                ("hp", "0110010000"),
                ("ref_id", &p.ref_id),
            ],
        );
        assert!(app.payment(tr_id).await.is_none(), "no payment row");
        app.assert_sandbox_balance(&m, leave, 0).await;
        let s = check_status(&client, &p.ref_id).await;
        assert_eq!(s.rc().as_deref(), Some("42"), "not paid: {}", s.body);
    }
    // A pending payment's hold counts: with one rupiah more, a 1039 payment holds everything.
    app.store
        .deposit(m.id, Mode::Sandbox, Rupiah::new(1))
        .await
        .unwrap();
    let client = app.sandbox_client(&m);
    let tr_id = quote_tr_id(&client, &params("PGAS", "0110012039")).await;
    let r = pay(&client, tr_id).await;
    assert_eq!(r.rc().as_deref(), Some("39"), "{}", r.body);
    assert_eq!(int_field(&r, "balance"), 0, "{}", r.body);
    app.assert_sandbox_balance(&m, sp, sp).await;
    let tr_id = quote_tr_id(&client, &params("PGAS", "0110010000")).await;
    let r = pay(&client, tr_id).await;
    assert_eq!(
        r.rc().as_deref(),
        Some("17"),
        "held is not available: {}",
        r.body
    );
    // Exactly enough: the quote refused with 17 pays once the balance covers it.
    app.store
        .deposit(m.id, Mode::Sandbox, Rupiah::new(sp))
        .await
        .unwrap();
    let r = pay(&client, tr_id).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(int_field(&r, "balance"), 0, "{}", r.body);
    app.assert_sandbox_balance(&m, sp, sp).await;
    app.assert_ledger_clean().await;
}
