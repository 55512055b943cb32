//! sandbox.md rule 2, the RC-encoded numbers (`prefix + dddd`), on four products: PGAS,
//! PLNPOSTPAID, a PDAM product and BPJS.

use crate::helpers::*;
use loket_api::Config;
use loket_client::iak::{Format, InquiryParams};
use loket_core::Mode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `(code, prefix, month)` of the products under test.
const PRODUCTS: &[(&str, &str, Option<&str>)] = &[
    ("PGAS", "011001", None),
    ("PLNPOSTPAID", "53000000", None),
    ("PDAMKOTA.SURABAYA", "1020", None),
    ("BPJS", "880123456", Some("2")),
];

fn p(code: &str, hp: &str, month: Option<&str>) -> InquiryParams {
    match month {
        Some(mo) => params_month(code, hp, mo),
        None => params(code, hp),
    }
}

#[each_backend]
async fn xyz_in_the_rc_table_fails_the_inquiry_with_that_rc() {
    let app = spawn_app().await;
    let m = app.create_member("081200000101").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        for (code, prefix, month) in PRODUCTS {
            for (d, rc) in [("0001", "01"), ("0014", "14"), ("0103", "103")] {
                let hp = format!("{prefix}{d}");
                let req = p(code, &hp, *month);
                let r = inquire(&client, &req).await;
                assert_failure(
                    &r,
                    format,
                    200,
                    rc,
                    &[("code", code), ("hp", &hp), ("ref_id", &req.ref_id)],
                );
                app.assert_nothing_stored(&m, &req.ref_id).await;
            }
        }
    }
}

#[each_backend]
async fn zero_zero_zero_zero_is_one_successful_bill() {
    let app = spawn_app().await;
    let m = app.create_member("081200000102").await;
    let client = app.sandbox_client(&m);
    // Documented data for the products that have it.
    let req = params("PGAS", "0110010000");
    assert_inquiry_success(
        &inquire(&client, &req).await,
        Format::Json,
        &ngatimun(&req.hp, &req.ref_id),
    );
    for format in FORMATS {
        let req = params("PLNPOSTPAID", "530000000000");
        let r = inquire(&app.sandbox_client(&m).with_format(format), &req).await;
        assert_inquiry_success(&r, format, &subcriber(&req.hp, &req.ref_id));
    }
    // Generated bills, one sheet.
    let req = params("PDAMKOTA.SURABAYA", "10200000");
    let r = inquire(&client, &req).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(
        r.get("desc.bill.detail")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(r.get("desc.bill_quantity"), Some(&json!(1)));
    let req = params_month("BPJS", "8801234560000", "2");
    let r = inquire(&client, &req).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    // BPJS: `period` is the number of months, two digits.
    assert_eq!(r.field("period").as_deref(), Some("02"), "{}", r.body);
    assert_eq!(
        keys(&r.data["desc"]),
        [
            "kode_cabang",
            "nama_cabang",
            "sisa_pembayaran",
            "jumlah_peserta"
        ]
    );
}

/// `0999`: several bills, one `detail` entry per period and `period` listing them.
#[each_backend]
async fn zero_nine_nine_nine_is_several_bills() {
    let app = spawn_app().await;
    let m = app.create_member("081200000103").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);

        let req = params("PLNPOSTPAID", "530000000999");
        let r = inquire(&client, &req).await;
        assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
        assert_format(&r, format);
        let detail = r
            .get("desc.tagihan.detail")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("desc.tagihan.detail: {}", r.body));
        assert_eq!(detail.len(), 8, "{}", r.body);
        assert_eq!(r.field("tr_name").as_deref(), Some("SUBCRIBER NAME"));
        let periods: Vec<String> = detail
            .iter()
            .map(|d| d["periode"].as_str().unwrap().to_string())
            .collect();
        let period = r.field("period").unwrap();
        assert_eq!(period.split(',').count(), 8, "period lists 8: {period}");
        assert_eq!(period, periods.join(","));
        assert!(periods.contains(&"201608".to_string()), "{period}");
        assert_eq!(
            r.get("desc.lembar_tagihan").and_then(scalar),
            Some("8".into())
        );
        // Eight documented bills of 300.000 + 2.500.
        assert_eq!(r.field("nominal").as_deref(), Some("2400000"));
        assert_eq!(r.field("admin").as_deref(), Some("20000"));
        assert_eq!(r.field("price").as_deref(), Some("2420000"));
        assert_eq!(r.field("selling_price").as_deref(), Some("2415200"));

        let req = params("PDAMKOTA.SURABAYA", "10200999");
        let r = inquire(&client, &req).await;
        assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
        let detail = r
            .get("desc.bill.detail")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("desc.bill.detail: {}", r.body));
        assert_eq!(detail.len(), 4, "{}", r.body);
        let periods: Vec<String> = detail
            .iter()
            .map(|d| scalar(&d["period"]).unwrap())
            .collect();
        assert_eq!(r.field("period").unwrap(), periods.join(","));
        assert_eq!(
            r.get("desc.bill_quantity").and_then(scalar),
            Some("4".into())
        );
        // The bill is the sum of its details.
        let sum: i64 = detail
            .iter()
            .map(|d| {
                ["bill_amount", "misc_amount", "penalty"]
                    .iter()
                    .map(|k| scalar(&d[*k]).unwrap().parse::<i64>().unwrap())
                    .sum::<i64>()
            })
            .sum();
        assert_eq!(r.field("nominal"), Some(sum.to_string()), "{}", r.body);
        assert_eq!(r.field("admin").as_deref(), Some("10000"), "4 x 2500");
    }
}

/// `0xyz` with an xyz that is not in the RC table, and a first digit other than 0/1/2, fall
/// through to a generated successful bill.
#[each_backend]
async fn codes_not_in_the_rc_table_fall_through_to_a_generated_bill() {
    let app = spawn_app().await;
    let m = app.create_member("081200000104").await;
    let client = app.sandbox_client(&m);
    for (code, prefix, month) in PRODUCTS {
        for d in ["0012", "0104", "0998", "5001"] {
            let hp = format!("{prefix}{d}");
            let req = p(code, &hp, *month);
            let r = inquire(&client, &req).await;
            assert_eq!(r.rc().as_deref(), Some("00"), "{code} {hp}: {}", r.body);
            assert_eq!(keys(&r.data), INQUIRY_FIELDS, "{}", r.body);
            assert!(app.quote(&m, Mode::Sandbox, &req.ref_id).await.is_some());
            let name = r.field("tr_name").unwrap();
            assert!(!name.is_empty());
            // Not the documented data of rule 1/2.
            assert_ne!(name, "NGATIMUN", "{code} {hp}");
            assert_ne!(name, "SUBCRIBER NAME", "{code} {hp}");
        }
    }
    // Generated bills are shaped like the product type's bills.
    let r = inquire(&client, &params("PGAS", "0110010012")).await;
    assert_eq!(
        keys(&r.data["desc"]),
        ["address", "first_meter", "last_meter", "usage"]
    );
    assert!(r.data["desc"]["usage"].is_i64(), "{}", r.body);
    let r = inquire(&client, &params("PLNPOSTPAID", "530000000012")).await;
    assert_eq!(
        keys(&r.data["desc"]),
        ["tarif", "daya", "lembar_tagihan", "tagihan"]
    );
    assert!(r.data["desc"]["daya"].is_i64(), "{}", r.body);
}

/// `1xyz`: the inquiry succeeds (the payment fails later); the documented bill for PGAS.
#[each_backend]
async fn one_xyz_inquiries_succeed() {
    let app = spawn_app().await;
    let m = app.create_member("081200000105").await;
    let client = app.sandbox_client(&m);
    for (code, prefix, month) in PRODUCTS {
        for d in ["1037", "1039", "1105", "2000", "2037"] {
            let hp = format!("{prefix}{d}");
            let req = p(code, &hp, *month);
            let r = inquire(&client, &req).await;
            assert_eq!(r.rc().as_deref(), Some("00"), "{code} {hp}: {}", r.body);
            if *code == "PGAS" {
                assert_inquiry_success(&r, Format::Json, &ngatimun(&hp, &req.ref_id));
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    loket_client::iak::scalar_string(v)
}

/// An inquiry "timeout" (RC 103) answers at once, unless the delay is configured.
#[each_backend]
async fn the_timeout_rc_waits_only_when_configured() {
    let app = spawn_app().await;
    let m = app.create_member("081200000106").await;
    let started = Instant::now();
    let r = inquire(&app.sandbox_client(&m), &params("PGAS", "0110010103")).await;
    assert_eq!(r.rc().as_deref(), Some("103"), "{}", r.body);
    assert!(started.elapsed() < Duration::from_millis(1500), "at once");

    let mut config = Config::default();
    config.sandbox.timeout_delay_ms = 1000;
    let app = spawn_app_with(config).await;
    let m = app.create_member("081200000107").await;
    let started = Instant::now();
    let r = inquire(&app.sandbox_client(&m), &params("PGAS", "0110010103")).await;
    assert_eq!(r.rc().as_deref(), Some("103"), "{}", r.body);
    assert!(started.elapsed() >= Duration::from_millis(1000), "delayed");
    // Other answers are not delayed.
    let started = Instant::now();
    let r = inquire(&app.sandbox_client(&m), &params("PGAS", "0110010000")).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "not delayed"
    );
}
