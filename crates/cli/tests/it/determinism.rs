//! sandbox.md rule 3: generated bills are deterministic in product and number.

use crate::helpers::*;
use loket_client::iak::{Format, InquiryParams};

/// Numbers outside every table and prefix, one per bill shape.
fn generated_cases() -> Vec<InquiryParams> {
    vec![
        params("PLNPOSTPAID", "512345678901"),
        params("PLNNONTAG", "5123456789012"),
        params_year("PBBKAB.BANDUNG", "320412345678901234", "2024"),
        params("PGAS", "0220123456"),
        params_month("BPJS", "0001234567890", "1"),
        params("PDAMKOTA.SURABAYA", "99887766"),
        params("TELKOMPSTN", "0215551234"),
        params("INDIHOME", "122334455667"),
    ]
}

fn again(p: &InquiryParams) -> InquiryParams {
    InquiryParams {
        ref_id: ref_id(),
        ..p.clone()
    }
}

#[each_backend]
async fn the_same_number_gives_the_same_bill() {
    let app = spawn_app().await;
    let m = app.create_member("081200000201").await;
    let client = app.sandbox_client(&m);
    for p in generated_cases() {
        let q = again(&p);
        let a = inquire(&client, &p).await;
        let b = inquire(&client, &q).await;
        assert_eq!(a.rc().as_deref(), Some("00"), "{}", a.body);
        assert_eq!(b.rc().as_deref(), Some("00"), "{}", b.body);
        assert_same_bill(&a, &b);
        // The same data with its JSON types, not only its string forms.
        for k in ["nominal", "admin", "price", "selling_price", "desc"] {
            assert_eq!(a.data[k], b.data[k], "{k}");
        }
        // Two inquiries, two quotes.
        assert_ne!(a.data["tr_id"], b.data["tr_id"]);
        assert_eq!(a.field("ref_id"), Some(p.ref_id.clone()));
        assert_eq!(b.field("ref_id"), Some(q.ref_id.clone()));
    }
}

#[each_backend]
async fn different_numbers_give_different_bills() {
    let app = spawn_app().await;
    let m = app.create_member("081200000202").await;
    let client = app.sandbox_client(&m);
    for p in generated_cases() {
        let mut other = again(&p);
        other.hp.push('7');
        let a = inquire(&client, &p).await;
        let b = inquire(&client, &other).await;
        assert_eq!(a.rc().as_deref(), Some("00"), "{}", a.body);
        assert_eq!(b.rc().as_deref(), Some("00"), "{}", b.body);
        let bill = |r: &loket_client::iak::IakResponse| {
            (
                r.field("tr_name"),
                r.field("period"),
                r.field("nominal"),
                r.data["desc"].clone(),
            )
        };
        assert_ne!(bill(&a), bill(&b), "{} vs {}", a.body, b.body);
    }
}

#[each_backend]
async fn every_member_and_every_server_gets_the_same_bill() {
    let app = spawn_app().await;
    let one = app.create_member("081200000203").await;
    let two = app.create_member("081200000204").await;
    let other_app = spawn_app().await;
    let three = other_app.create_member("081200000205").await;
    for p in generated_cases() {
        let a = inquire(&app.sandbox_client(&one), &p).await;
        // The same ref_id is the other members' own.
        let b = inquire(&app.sandbox_client(&two), &p).await;
        let c = inquire(
            &other_app.sandbox_client(&three).with_format(Format::Xml),
            &p,
        )
        .await;
        assert_eq!(a.rc().as_deref(), Some("00"), "{}", a.body);
        assert_same_bill(&a, &b);
        assert_same_bill(&a, &c);
        assert_ne!(a.data["tr_id"], b.data["tr_id"]);
    }
}

/// The request's `year` (PBB) and `month` (BPJS) change only the fields they name.
#[each_backend]
async fn year_and_month_change_only_their_fields() {
    let app = spawn_app().await;
    let m = app.create_member("081200000206").await;
    let client = app.sandbox_client(&m);
    let a = inquire(&client, &params_month("BPJS", "0001234567890", "1")).await;
    let b = inquire(&client, &params_month("BPJS", "0001234567890", "3")).await;
    assert_eq!(a.field("period").as_deref(), Some("01"));
    assert_eq!(b.field("period").as_deref(), Some("03"));
    assert_eq!(a.field("tr_name"), b.field("tr_name"));
    assert_eq!(a.data["desc"], b.data["desc"]);
    let one: i64 = a.field("nominal").unwrap().parse().unwrap();
    let three: i64 = b.field("nominal").unwrap().parse().unwrap();
    assert_eq!(three, 3 * one, "three months cost three times one");

    let a = inquire(
        &client,
        &params_year("PBBKAB.BANDUNG", "320412345678901234", "2023"),
    )
    .await;
    assert_eq!(
        a.get("desc.tahun_pajak").and_then(|v| v.as_str()),
        Some("2023")
    );
    assert_eq!(
        a.get("desc.nop").and_then(|v| v.as_str()),
        Some("320412345678901234")
    );
}
