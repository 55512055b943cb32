//! spec/iak.md "Repeated ref_id".

use crate::helpers::*;
use loket_api::config::LifetimeSetting;
use loket_api::Config;
use loket_client::iak::{Format, InquiryParams};
use loket_core::Mode;

/// Quotes that live an hour, so that no test meets Jakarta's midnight.
fn hour_long_quotes() -> Config {
    let mut c = Config::default();
    c.quotes.lifetime = LifetimeSetting::Seconds(3600);
    c
}

#[each_backend]
async fn the_same_request_again_gets_the_same_answer() {
    let app = spawn_app_with(hour_long_quotes()).await;
    let m = app.create_member("081200000301").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        for p in [
            params("PLNNONTAG", "3225030005901"),
            params("PDAMKOTA.MEDAN", "55501234"),
        ] {
            let first = inquire(&client, &p).await;
            let second = inquire(&client, &p).await;
            assert_eq!(first.rc().as_deref(), Some("00"), "{}", first.body);
            assert_eq!(first.field("tr_id"), second.field("tr_id"));
            assert_eq!(first.data, second.data, "the same answer");
            assert_eq!(first.body, second.body, "byte for byte");
        }
    }
}

/// The repeat may come in the other format: still the same quote.
#[each_backend]
async fn a_repeat_in_the_other_format_names_the_same_quote() {
    let app = spawn_app_with(hour_long_quotes()).await;
    let m = app.create_member("081200000302").await;
    let p = params("PGAS", "0110010000");
    let j = inquire(&app.sandbox_client(&m), &p).await;
    let x = inquire(&app.sandbox_client(&m).with_format(Format::Xml), &p).await;
    assert_eq!(j.rc().as_deref(), Some("00"), "{}", j.body);
    assert_format(&x, Format::Xml);
    assert_eq!(j.field("tr_id"), x.field("tr_id"));
    assert_same_bill(&j, &x);
}

#[each_backend]
async fn the_same_ref_id_for_another_bill_is_a_duplicate() {
    let app = spawn_app_with(hour_long_quotes()).await;
    let m = app.create_member("081200000303").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PLNNONTAG", "3225030005901");
        let first = inquire(&client, &p).await;
        let tr_id = first.field("tr_id").expect("a tr_id");
        let other_hp = InquiryParams {
            hp: "3225030005902".into(),
            ..p.clone()
        };
        let other_code = InquiryParams {
            code: "PLNNONH".into(),
            ..p.clone()
        };
        for q in [other_hp, other_code] {
            let r = inquire(&client, &q).await;
            assert_failure(
                &r,
                format,
                200,
                "11",
                &[
                    ("ref_id", &p.ref_id),
                    ("code", &q.code),
                    ("hp", &q.hp),
                    // The quote that owns the ref_id.
                    ("tr_id", &tr_id),
                ],
            );
        }
        // The stored quote is still the first one.
        let stored = app.quote(&m, Mode::Sandbox, &p.ref_id).await.unwrap();
        assert_eq!(stored.tr_id.to_string(), tr_id);
        assert_eq!(stored.hp, "3225030005901");
        assert_eq!(stored.code, "PLNNONTAG");
        // And the original request still gets its answer.
        let again = inquire(&client, &p).await;
        assert_eq!(again.field("tr_id"), Some(tr_id));
    }
}

#[each_backend]
async fn another_member_may_use_the_same_ref_id() {
    let app = spawn_app_with(hour_long_quotes()).await;
    let one = app.create_member("081200000304").await;
    let two = app.create_member("081200000305").await;
    let p = params("PLNNONTAG", "3225030005901");
    let a = inquire(&app.sandbox_client(&one), &p).await;
    // Another member, the same ref_id, even for another bill.
    let q = InquiryParams {
        code: "PGAS".into(),
        hp: "0110010000".into(),
        ..p.clone()
    };
    let b = inquire(&app.sandbox_client(&two), &q).await;
    assert_inquiry_success(&a, Format::Json, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));
    assert_inquiry_success(&b, Format::Json, &ngatimun(&q.hp, &q.ref_id));
    assert_ne!(a.field("tr_id"), b.field("tr_id"));
    let qa = app.quote(&one, Mode::Sandbox, &p.ref_id).await.unwrap();
    let qb = app.quote(&two, Mode::Sandbox, &p.ref_id).await.unwrap();
    assert_eq!(qa.code, "PLNNONTAG");
    assert_eq!(qb.code, "PGAS");
}

/// An expired quote's ref_id cannot be inquired again (RC 11).
#[each_backend]
async fn an_expired_quote_makes_its_ref_id_a_duplicate() {
    let mut config = Config::default();
    config.quotes.lifetime = LifetimeSetting::Seconds(1);
    let app = spawn_app_with(config).await;
    let m = app.create_member("081200000306").await;
    let client = app.sandbox_client(&m);
    let p = params("PGAS", "0110010000");
    let first = inquire(&client, &p).await;
    let tr_id = first.field("tr_id").expect("a tr_id");
    // Quote times are whole seconds: wait until the quote's second is surely over.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = inquire(&client, &p).await;
    assert_failure(
        &r,
        Format::Json,
        200,
        "11",
        &[("ref_id", &p.ref_id), ("tr_id", &tr_id)],
    );
}
