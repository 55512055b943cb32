//! The three IAK seeds (001 PLNNONTAG, 002 PBBKOT.CIMAHI, 003 PGAS): every number of every
//! test-case table, in JSON and in XML, field by field against the documented data.

use crate::helpers::*;
use loket_client::iak::{Format, IakClient};
use loket_core::Mode;

/// What a test number's inquiry answers.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// The documented bill.
    Bill,
    /// The inquiry fails with this RC.
    Rc(&'static str),
}

/// Seed 001's test-case table, plus the other numbers sandbox.md lists as success.
const SEED_001: &[(&str, Want)] = &[
    ("3225030005901", Want::Bill),
    ("3225030005902", Want::Bill),
    ("3225030005903", Want::Rc("103")),
    ("3225030005904", Want::Rc("01")),
    ("3225030005905", Want::Rc("14")),
    // 906..908 fail (or pend) only at payment: the inquiry succeeds.
    ("3225030005906", Want::Bill),
    ("3225030005907", Want::Bill),
    ("3225030005908", Want::Bill),
    ("3225030005922", Want::Bill),
    ("1811217010329", Want::Bill),
    ("3226015008229", Want::Bill),
    // Rule 2: the test prefix 322503000 + 0000.
    ("3225030000000", Want::Bill),
];

/// Seed 002's test-case table.
const SEED_002: &[(&str, Want)] = &[
    ("329801092375990000", Want::Bill),
    ("329801092375990001", Want::Rc("01")),
    ("329801092375990014", Want::Rc("14")),
    ("329801092375990103", Want::Rc("103")),
    ("329801092375991037", Want::Bill),
    ("329801092375991039", Want::Bill),
    ("329801092375991105", Want::Bill),
];

/// Seed 003's test-case table.
const SEED_003: &[(&str, Want)] = &[
    ("0110010000", Want::Bill),
    ("0110010001", Want::Rc("01")),
    ("0110010014", Want::Rc("14")),
    ("0110010103", Want::Rc("103")),
    ("0110011037", Want::Bill),
    ("0110011039", Want::Bill),
    ("0110011105", Want::Bill),
];

/// sandbox.md's rule-1 table for PBBKOT.CIMAHI (beyond the seed).
const SANDBOX_PBB: &[(&str, Want)] = &[
    ("329801092375999901", Want::Bill),
    ("329801092375999903", Want::Rc("103")),
    ("329801092375999904", Want::Rc("01")),
    ("329801092375999905", Want::Rc("14")),
    ("329801092375999906", Want::Bill),
    ("329801092375999907", Want::Bill),
    ("329801092375999908", Want::Bill),
];

/// sandbox.md's rule-1 table for PGAS (beyond the seed).
const SANDBOX_PGAS: &[(&str, Want)] = &[
    ("0110014601", Want::Bill),
    ("0110014603", Want::Rc("103")),
    ("0110014604", Want::Rc("01")),
    ("0110014605", Want::Rc("14")),
    ("0110014606", Want::Bill),
    ("0110014607", Want::Bill),
    ("0110014608", Want::Bill),
];

/// Runs a table in `format`: each success answers `bill(hp, ref_id)`, each failure its RC with the
/// request echoed and nothing stored.
async fn run_table(
    code: &str,
    year: Option<&str>,
    table: &[(&str, Want)],
    format: Format,
    bill: impl Fn(&str, &str) -> serde_json::Value,
) {
    let app = spawn_app().await;
    let m = app.create_member("081200000001").await;
    let client: IakClient = app.sandbox_client(&m).with_format(format);
    let mut tr_ids = Vec::new();
    for (hp, want) in table {
        let p = match year {
            Some(y) => params_year(code, hp, y),
            None => params(code, hp),
        };
        let r = inquire(&client, &p).await;
        match want {
            Want::Bill => {
                let tr_id = assert_inquiry_success(&r, format, &bill(hp, &p.ref_id));
                let q = app
                    .quote(&m, Mode::Sandbox, &p.ref_id)
                    .await
                    .unwrap_or_else(|| panic!("{code} {hp}: the quote is stored"));
                assert_eq!(q.tr_id, tr_id, "{code} {hp}: stored tr_id");
                assert_eq!((q.code.as_str(), q.hp.as_str()), (code, *hp));
                assert_eq!(Some(q.name.clone()), r.field("tr_name"));
                assert_eq!(
                    Some(q.selling_price.get().to_string()),
                    r.field("selling_price")
                );
                tr_ids.push(tr_id);
            }
            Want::Rc(rc) => {
                assert_failure(
                    &r,
                    format,
                    200,
                    rc,
                    &[("code", code), ("hp", hp), ("ref_id", &p.ref_id)],
                );
                assert!(
                    r.data.get("tr_id").is_none(),
                    "{code} {hp}: no quote, no tr_id: {}",
                    r.body
                );
                app.assert_nothing_stored(&m, &p.ref_id).await;
            }
        }
    }
    // An inquiry moves no money.
    let sandbox = app.store.balance(m.id, Mode::Sandbox).await.unwrap();
    assert_eq!(sandbox.balance.get(), loket_store::SANDBOX_START_BALANCE);
    assert_eq!(sandbox.held.get(), 0);
    let live = app.store.balance(m.id, Mode::Live).await.unwrap();
    assert_eq!((live.balance.get(), live.held.get()), (0, 0));
    let mut unique = tr_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), tr_ids.len(), "tr_ids are unique: {tr_ids:?}");
}

#[each_backend]
async fn seed_001_plnnontag_json() {
    run_table("PLNNONTAG", None, SEED_001, Format::Json, |hp, r| {
        jayusman("PLNNONTAG", hp, r)
    })
    .await;
}

#[each_backend]
async fn seed_001_plnnontag_xml() {
    run_table("PLNNONTAG", None, SEED_001, Format::Xml, |hp, r| {
        jayusman("PLNNONTAG", hp, r)
    })
    .await;
}

#[each_backend]
async fn seed_001_alias_plnnonh_json_and_xml() {
    for format in FORMATS {
        run_table("PLNNONH", None, SEED_001, format, |hp, r| {
            jayusman("PLNNONH", hp, r)
        })
        .await;
    }
}

#[each_backend]
async fn seed_002_pbb_cimahi_json() {
    run_table(
        "PBBKOT.CIMAHI",
        Some("2023"),
        SEED_002,
        Format::Json,
        testing_pbb,
    )
    .await;
}

#[each_backend]
async fn seed_002_pbb_cimahi_xml() {
    run_table(
        "PBBKOT.CIMAHI",
        Some("2023"),
        SEED_002,
        Format::Xml,
        testing_pbb,
    )
    .await;
}

#[each_backend]
async fn sandbox_md_pbb_cimahi_table() {
    for format in FORMATS {
        run_table(
            "PBBKOT.CIMAHI",
            Some("2019"),
            SANDBOX_PBB,
            format,
            testing_pbb,
        )
        .await;
    }
}

#[each_backend]
async fn seed_003_pgas_json() {
    run_table("PGAS", None, SEED_003, Format::Json, ngatimun).await;
}

#[each_backend]
async fn seed_003_pgas_xml() {
    run_table("PGAS", None, SEED_003, Format::Xml, ngatimun).await;
}

#[each_backend]
async fn sandbox_md_pgas_table() {
    for format in FORMATS {
        run_table("PGAS", None, SANDBOX_PGAS, format, ngatimun).await;
    }
}

/// The seed's PBB answer: the 15 desc keys in the documented order, read from the raw body, and
/// money as JSON integers (`203857`, not `203857.0`).
#[each_backend]
async fn seed_002_raw_json_body() {
    let app = spawn_app().await;
    let m = app.create_member("081200000002").await;
    let p = params_year("PBBKOT.CIMAHI", "329801092375990000", "2023");
    let r = inquire(&app.sandbox_client(&m), &p).await;
    assert_inquiry_success(&r, Format::Json, &testing_pbb(&p.hp, &p.ref_id));
    assert_raw_order(&r.body, "\"desc\":", &PBB_DESC_KEYS);
    for money in [
        "\"nominal\":203857,",
        "\"admin\":5000,",
        "\"price\":208857,",
        "\"selling_price\":208857,",
        "\"total_tagihan\":203857,",
        "\"denda\":0,",
        "\"total_bayar\":208857}",
    ] {
        assert!(r.body.contains(money), "{money} in {}", r.body);
    }
    assert!(!r.body.contains(".0,"), "no float money: {}", r.body);
    // tr_id is a bare integer too.
    let tr_id = r.data["tr_id"].as_i64().unwrap();
    assert!(r
        .body
        .starts_with(&format!("{{\"data\":{{\"tr_id\":{tr_id},")));
    assert!(r.body.ends_with("},\"meta\":[]}"), "{}", r.body);
}

/// Seed 001's answer in XML: the documented document, element by element.
#[each_backend]
async fn seed_001_raw_xml_body() {
    let app = spawn_app().await;
    let m = app.create_member("081200000003").await;
    let p = params("PLNNONTAG", "3225030005901");
    let r = inquire(&app.sandbox_client(&m).with_format(Format::Xml), &p).await;
    let tr_id = assert_inquiry_success(&r, Format::Xml, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));
    let expected = format!(
        "<?xml version=\"1.0\"?>
<mp>
  <tr_id>{tr_id}</tr_id>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <tr_name>JAYUSMAN</tr_name>
  <period></period>
  <nominal>696400</nominal>
  <admin>1600</admin>
  <ref_id>{}</ref_id>
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
",
        p.ref_id
    );
    assert_eq!(r.body, expected);
}

/// A JSON and an XML answer of the same number agree on every field by string form.
#[each_backend]
async fn json_and_xml_answers_agree_field_by_field() {
    let app = spawn_app().await;
    let m = app.create_member("081200000004").await;
    let json = app.sandbox_client(&m);
    let xml = app.sandbox_client(&m).with_format(Format::Xml);
    let cases = [
        params("PLNNONTAG", "3225030005901"),
        params_year("PBBKOT.CIMAHI", "329801092375990000", "2023"),
        params("PGAS", "0110010000"),
        params("PLNPOSTPAID", "530000000999"),
        params("PDAMKOTA.SURABAYA", "10200999"),
        params_month("BPJS", "8801234567890", "3"),
        params("TELKOMPSTN", "0215551234"),
    ];
    for p in cases {
        let j = inquire(&json, &p).await;
        let mut px = p.clone();
        px.ref_id = ref_id();
        let x = inquire(&xml, &px).await;
        assert_eq!(j.rc().as_deref(), Some("00"), "{}", j.body);
        assert_format(&j, Format::Json);
        assert_format(&x, Format::Xml);
        assert_eq!(keys(&j.data), keys(&x.data), "same fields, same order");
        assert_same_bill(&j, &x);
        for k in INQUIRY_FIELDS {
            if k != "desc" {
                assert!(x.field(k).is_some(), "XML field {k}: {}", x.body);
            }
        }
        assert_eq!(x.field("ref_id"), Some(px.ref_id.clone()));
        assert_eq!(j.field("ref_id"), Some(p.ref_id.clone()));
    }
}

#[each_backend]
async fn seed_002_without_year_is_a_format_error_naming_year() {
    let app = spawn_app().await;
    let m = app.create_member("081200000005").await;
    for format in FORMATS {
        let p = params("PBBKOT.CIMAHI", "329801092375990000");
        let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
        assert_format_error(&r, format, 400, Some("year"));
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

/// seed 003: `desc.usage` is an integer in JSON.
#[each_backend]
async fn seed_003_usage_is_an_integer() {
    let app = spawn_app().await;
    let m = app.create_member("081200000006").await;
    let p = params("PGAS", "0110010000");
    let r = inquire(&app.sandbox_client(&m), &p).await;
    assert_eq!(r.get("desc.usage"), Some(&serde_json::json!(35)));
    assert!(r.body.contains("\"usage\":35}"), "{}", r.body);
}

/// The seeds' request bodies as documented (spacing, `<?xml version="1.0" ?>`), with this
/// member's username and signature.
#[each_backend]
async fn seed_request_bodies_verbatim() {
    let app = spawn_app().await;
    let m = app.create_member("081200000007").await;
    let p = params("PLNNONTAG", "3225030005901");
    let sign = app.sandbox_client(&m).sign(&p.ref_id);
    let json = format!(
        r#"{{
  "commands"    : "inq-pasca",
  "username"    : "{}",
  "code"        : "PLNNONTAG",
  "hp"          : "3225030005901",
  "ref_id"      : "{}",
  "sign"        : "{sign}"
}}"#,
        m.username, p.ref_id
    );
    let r = app
        .post("/api/v1/bill/check", Some("application/json"), json)
        .await;
    assert_inquiry_success(&r, Format::Json, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));

    let p = params("PLNNONTAG", "3225030005901");
    let sign = app.sandbox_client(&m).sign(&p.ref_id);
    let xml = format!(
        r#"<?xml version="1.0" ?>
<mp>
  <commands>inq-pasca</commands>
  <username>{}</username>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <ref_id>{}</ref_id>
  <sign>{sign}</sign>
</mp>
"#,
        m.username, p.ref_id
    );
    let r = app
        .post("/api/v1/bill/check", Some("application/xml"), xml)
        .await;
    assert_inquiry_success(&r, Format::Xml, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));

    let p = params_year("PBBKOT.CIMAHI", "329801092375990000", "2023");
    let sign = app.sandbox_client(&m).sign(&p.ref_id);
    let json = format!(
        "{{\n\"commands\" : \"inq-pasca\",\n\"username\" : \"{}\",\n\"code\" : \"PBBKOT.CIMAHI\",\n\"hp\" : \"329801092375990000\",\n\"ref_id\" : \"{}\",\n\"sign\" : \"{sign}\",\n\"year\" : \"2023\"\n}}",
        m.username, p.ref_id
    );
    let r = app
        .post("/api/v1/bill/check", Some("application/json"), json)
        .await;
    assert_inquiry_success(&r, Format::Json, &testing_pbb(&p.hp, &p.ref_id));
}
