//! Every bad input: the documented HTTP status and RC, an answer in the request's format, no
//! panic, and nothing stored.

use crate::helpers::*;
use loket_client::iak::{Format, IakClient, InquiryParams};
use loket_store::MemberUpdate;
use serde_json::{json, Map, Value};

const BILL_CHECK: &str = "/api/v1/bill/check";

/// A fresh server and one member on it.
async fn setup(username: &str) -> (TestApp, TestMember) {
    let app = spawn_app().await;
    let m = app.create_member(username).await;
    (app, m)
}

fn signed(app: &TestApp, m: &TestMember, p: &InquiryParams) -> Map<String, Value> {
    app.sandbox_client(m).inquiry_fields(p)
}

fn xml_body(fields: &Map<String, Value>) -> String {
    let (_, body) = IakClient::new("http://unused", "", "")
        .with_format(Format::Xml)
        .encode(fields);
    String::from_utf8(body).unwrap()
}

fn json_body(fields: &Map<String, Value>) -> String {
    Value::Object(fields.clone()).to_string()
}

#[each_backend]
async fn malformed_json_is_400_107() {
    let (app, m) = setup("081200000501").await;
    let p = params("PGAS", "0110010000");
    let good = json_body(&signed(&app, &m, &p));
    let truncated = good[..good.len() - 1].to_string();
    let bodies: Vec<Vec<u8>> = vec![
        truncated.into_bytes(),
        good.replace("\",\"", "\" \"").into_bytes(),
        format!("{good}{good}").into_bytes(),
        b"".to_vec(),
        b"{".to_vec(),
        b"\xff\xfe{}".to_vec(),
        good.replace("\"hp\":", "hp:").into_bytes(),
        // Deeper than any parser should recurse.
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes(),
    ];
    for body in bodies {
        let r = app.post(BILL_CHECK, Some("application/json"), body).await;
        assert_format_error(&r, Format::Json, 400, None);
    }
    app.assert_nothing_stored(&m, &p.ref_id).await;
    app.assert_alive().await;
}

#[each_backend]
async fn json_that_is_not_an_object_is_400_107() {
    let (app, m) = setup("081200000502").await;
    let p = params("PGAS", "0110010000");
    let good = json_body(&signed(&app, &m, &p));
    for body in [
        "[]".to_string(),
        "null".to_string(),
        "42".to_string(),
        "\"inq-pasca\"".to_string(),
        "true".to_string(),
        format!("[{good}]"),
    ] {
        let r = app.post(BILL_CHECK, Some("application/json"), body).await;
        assert_format_error(&r, Format::Json, 400, None);
    }
    app.assert_nothing_stored(&m, &p.ref_id).await;
}

#[each_backend]
async fn malformed_xml_is_400_107_in_xml() {
    let (app, m) = setup("081200000503").await;
    let p = params("PGAS", "0110010000");
    let good = xml_body(&signed(&app, &m, &p));
    let bodies = vec![
        good.replace("</mp>", ""),
        good.replace("</hp>", "</code>"),
        good.replace("<mp>", "<notmp>").replace("</mp>", "</notmp>"),
        format!("{good}<mp></mp>"),
        good.replace("<hp>", "<hp>0110<x>")
            .replace("</hp>", "</x></hp>"),
        "<mp".to_string(),
        "<".to_string(),
        good.replace(
            "<?xml version=\"1.0\"?>\n<mp>",
            "<mp><?xml version=\"1.0\"?>",
        ),
    ];
    let mut bodies: Vec<Vec<u8>> = bodies.into_iter().map(String::into_bytes).collect();
    // Resource exhaustion: deep nesting, very many elements.
    bodies.push(
        good.replace(
            "</mp>",
            &format!("{}{}</mp>", "<d>".repeat(1000), "</d>".repeat(1000)),
        )
        .into_bytes(),
    );
    bodies.push(
        good.replace("</mp>", &format!("{}</mp>", "<e/>".repeat(20_000)))
            .into_bytes(),
    );
    // A control character, and bytes that are not UTF-8.
    bodies.push(good.replace("0110010000", "0110\u{1}").into_bytes());
    let mut latin1 = good.clone().into_bytes();
    let at = latin1.windows(4).position(|w| w == b"<hp>").unwrap() + 4;
    latin1[at] = 0xE9;
    bodies.push(latin1);
    for body in bodies {
        let r = app.post(BILL_CHECK, Some("application/xml"), body).await;
        assert_format_error(&r, Format::Xml, 400, None);
    }
    app.assert_nothing_stored(&m, &p.ref_id).await;
    app.assert_alive().await;
    // A byte-order mark is fine.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(good.as_bytes());
    let r = app.post(BILL_CHECK, Some("application/xml"), bom).await;
    assert_inquiry_success(&r, Format::Xml, &ngatimun(&p.hp, &p.ref_id));
}

#[each_backend]
async fn xml_with_a_doctype_is_refused_without_expanding_anything() {
    let (app, m) = setup("081200000504").await;
    let p = params("PGAS", "0110010000");
    let fields = signed(&app, &m, &p);
    let good = xml_body(&fields);
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE mp [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"#;
    let body = good.replace("<?xml version=\"1.0\"?>\n", laughs).replace(
        &format!("<ref_id>{}</ref_id>", p.ref_id),
        &format!("<ref_id>{}</ref_id><tr_name>&lol9;</tr_name>", p.ref_id),
    );
    assert!(body.contains("<!DOCTYPE mp ["));
    let started = std::time::Instant::now();
    let r = app.post(BILL_CHECK, Some("application/xml"), body).await;
    assert_format_error(&r, Format::Xml, 400, None);
    assert!(!r.body.contains("lollol"), "{}", r.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // A harmless DOCTYPE is refused too.
    let r = app
        .post(
            BILL_CHECK,
            Some("application/xml"),
            good.replace(
                "<?xml version=\"1.0\"?>\n",
                "<?xml version=\"1.0\"?>\n<!DOCTYPE mp>\n",
            ),
        )
        .await;
    assert_format_error(&r, Format::Xml, 400, None);
    app.assert_nothing_stored(&m, &p.ref_id).await;
}

#[each_backend]
async fn xml_with_an_external_entity_is_refused() {
    let (app, m) = setup("081200000505").await;
    // The entity stands for the customer number: a parser that read it would inquire it.
    let p = params("PGAS", "0110010000");
    let good = xml_body(&signed(&app, &m, &p));
    let hp = "<hp>0110010000</hp>";
    assert!(good.contains(hp));
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("xxe.txt");
    std::fs::write(&secret, "0110010000").unwrap();
    let with_dtd = good
        .replace(
            "<?xml version=\"1.0\"?>\n",
            &format!(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE mp [ <!ENTITY xxe SYSTEM \"file://{}\"> ]>\n",
                secret.display()
            ),
        )
        .replace(hp, "<hp>&xxe;</hp>");
    let without_dtd = good.replace(hp, "<hp>&xxe;</hp>");
    let parameter_entity = good.replace(
        "<?xml version=\"1.0\"?>\n",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE mp [ <!ENTITY % ext SYSTEM \"http://127.0.0.1:1/x.dtd\"> %ext; ]>\n",
    );
    for body in [with_dtd, without_dtd, parameter_entity] {
        let r = app.post(BILL_CHECK, Some("application/xml"), body).await;
        assert_format_error(&r, Format::Xml, 400, None);
        assert!(!r.body.contains("NGATIMUN"), "{}", r.body);
    }
    app.assert_nothing_stored(&m, &p.ref_id).await;
}

#[each_backend]
async fn a_missing_field_is_400_107_naming_it() {
    let (app, m) = setup("081200000506").await;
    for format in FORMATS {
        for field in ["hp", "code", "sign", "commands", "username", "ref_id"] {
            let p = params("PGAS", "0110010000");
            let mut fields = signed(&app, &m, &p);
            assert!(fields.remove(field).is_some());
            let r = app.post_fields(format, &fields).await;
            assert_format_error(&r, format, 400, Some(field));
            app.assert_nothing_stored(&m, &p.ref_id).await;
            // An empty value is missing too.
            let mut fields = signed(&app, &m, &p);
            fields.insert(field.into(), "".into());
            let r = app.post_fields(format, &fields).await;
            assert_format_error(&r, format, 400, Some(field));
            app.assert_nothing_stored(&m, &p.ref_id).await;
        }
    }
}

#[each_backend]
async fn a_field_of_the_wrong_type_is_400_107_naming_it() {
    let (app, m) = setup("081200000507").await;
    let cases: Vec<(&str, Value)> = vec![
        ("hp", json!({"number": "0110010000"})),
        ("hp", json!(["0110010000"])),
        ("hp", json!(110010000)),
        ("code", json!(123)),
        ("code", json!(true)),
        ("commands", json!(1)),
        ("username", json!({"u": 1})),
        ("sign", json!(12345)),
        ("ref_id", json!(1.5)),
        ("ref_id", json!({"id": 1})),
    ];
    for (field, value) in cases {
        let p = params("PGAS", "0110010000");
        let mut fields = signed(&app, &m, &p);
        fields.insert(field.into(), value.clone());
        let r = app.post_fields(Format::Json, &fields).await;
        assert_format_error(&r, Format::Json, 400, Some(field));
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
    // In XML, a repeated field, and a field with child elements where text belongs.
    let p = params("PGAS", "0110010000");
    let body = xml_body(&signed(&app, &m, &p)).replace(
        "<hp>0110010000</hp>",
        "<hp>0110010000</hp><hp>0110010001</hp>",
    );
    let r = app.post(BILL_CHECK, Some("application/xml"), body).await;
    assert_format_error(&r, Format::Xml, 400, Some("hp"));
    app.assert_nothing_stored(&m, &p.ref_id).await;
    for field in ["hp", "code"] {
        let p = params("PGAS", "0110010000");
        let mut fields = signed(&app, &m, &p);
        fields.insert(field.into(), json!({"x": "1"}));
        let r = app.post_fields(Format::Xml, &fields).await;
        assert_format_error(&r, Format::Xml, 400, Some(field));
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn invalid_extra_fields_are_400_107_naming_them() {
    let (app, m) = setup("081200000508").await;
    let client = app.sandbox_client(&m);
    let cases = [
        (
            params_year("PBBKOT.CIMAHI", "329801092375990000", "20x3"),
            "year",
        ),
        (
            params_year("PBBKOT.CIMAHI", "329801092375990000", "19"),
            "year",
        ),
        (params_month("BPJS", "8801234560000", "13"), "month"),
        (params_month("BPJS", "8801234560000", "0"), "month"),
        (params_month("BPJS", "8801234560000", "satu"), "month"),
        // BPJS needs `month`.
        (params("BPJS", "8801234560000"), "month"),
        // A ref_id no client would send.
        (
            InquiryParams {
                ref_id: "r".repeat(10_000),
                ..params("PGAS", "0110010000")
            },
            "ref_id",
        ),
    ];
    for (p, field) in cases {
        let r = inquire(&client, &p).await;
        assert_format_error(&r, Format::Json, 400, Some(field));
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn an_unknown_command_is_rc_101() {
    let (app, m) = setup("081200000509").await;
    for format in FORMATS {
        for command in ["inq-prepaid", "pay", "topup", "inq-pasca2"] {
            let p = params("PGAS", "0110010000");
            let mut fields = signed(&app, &m, &p);
            fields.insert("commands".into(), command.into());
            let r = app.post_fields(format, &fields).await;
            assert_failure(&r, format, 200, "101", &[("ref_id", &p.ref_id)]);
            app.assert_nothing_stored(&m, &p.ref_id).await;
        }
    }
}

#[each_backend]
async fn an_unknown_product_is_rc_20() {
    let (app, m) = setup("081200000510").await;
    for format in FORMATS {
        for code in ["NOSUCHPRODUCT", "PGAS.X"] {
            let p = params(code, "0110010000");
            let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
            assert_failure(
                &r,
                format,
                200,
                "20",
                &[("code", code), ("hp", &p.hp), ("ref_id", &p.ref_id)],
            );
            app.assert_nothing_stored(&m, &p.ref_id).await;
        }
    }
}

#[each_backend]
async fn an_inactive_product_is_rc_106() {
    let (app, m) = setup("081200000511").await;
    for format in FORMATS {
        for hp in ["10200000", "55501234"] {
            let p = params("PDAMKAB.BOGOR", hp);
            let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
            assert_failure(
                &r,
                format,
                200,
                "106",
                &[("code", "PDAMKAB.BOGOR"), ("hp", hp), ("ref_id", &p.ref_id)],
            );
            app.assert_nothing_stored(&m, &p.ref_id).await;
        }
    }
}

#[each_backend]
async fn a_customer_number_that_is_not_digits_is_rc_14() {
    let (app, m) = setup("081200000512").await;
    for hp in ["01100A0000", "0110-010000", "0110010000 OR 1=1"] {
        let p = params("PGAS", hp);
        let r = inquire(&app.sandbox_client(&m), &p).await;
        assert_failure(&r, Format::Json, 200, "14", &[("ref_id", &p.ref_id)]);
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn a_body_over_one_mebibyte_is_413_107() {
    let (app, m) = setup("081200000513").await;
    const LIMIT: usize = 1024 * 1024;
    let p = params("PGAS", "0110010000");
    let fields = signed(&app, &m, &p);
    // JSON: a valid signed inquiry padded to exactly LIMIT + 1 bytes.
    let pad = |base: &str, target: usize| "x".repeat(target - base.len());
    let mut with_pad = fields.clone();
    with_pad.insert("pad".into(), "".into());
    let base = json_body(&with_pad);
    let mut big = fields.clone();
    big.insert("pad".into(), pad(&base, LIMIT + 1).into());
    let body = json_body(&big);
    assert_eq!(body.len(), LIMIT + 1);
    let r = app.post(BILL_CHECK, Some("application/json"), body).await;
    assert_format_error(&r, Format::Json, 413, None);
    app.assert_nothing_stored(&m, &p.ref_id).await;
    // XML, the same.
    let base = xml_body(&with_pad);
    let mut big = fields.clone();
    big.insert("pad".into(), pad(&base, LIMIT + 1).into());
    let body = xml_body(&big);
    assert_eq!(body.len(), LIMIT + 1);
    let r = app.post(BILL_CHECK, Some("application/xml"), body).await;
    assert_format_error(&r, Format::Xml, 413, None);
    app.assert_nothing_stored(&m, &p.ref_id).await;
    // Exactly the limit is accepted.
    let base = json_body(&with_pad);
    let mut ok = fields.clone();
    ok.insert("pad".into(), pad(&base, LIMIT).into());
    let body = json_body(&ok);
    assert_eq!(body.len(), LIMIT);
    let r = app.post(BILL_CHECK, Some("application/json"), body).await;
    assert_inquiry_success(&r, Format::Json, &ngatimun(&p.hp, &p.ref_id));
}

#[each_backend]
async fn a_suspended_member_is_rc_118() {
    let (app, m) = setup("081200000514").await;
    app.store
        .update_member(
            &m.username,
            MemberUpdate {
                suspended: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for format in FORMATS {
        let p = params("PGAS", "0110010000");
        let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
        assert_failure(&r, format, 200, "118", &[("ref_id", &p.ref_id)]);
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
    // A wrong signature still says 100: suspension is only told to the member itself.
    let p = params("PGAS", "0110010000");
    let mut fields = signed(&app, &m, &p);
    fields.insert("sign".into(), "0".repeat(32).into());
    let r = app.post_fields(Format::Json, &fields).await;
    assert_failure(&r, Format::Json, 200, "100", &[]);
    // Lifting the suspension lets the member in again.
    app.store
        .update_member(
            &m.username,
            MemberUpdate {
                suspended: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let p = params("PGAS", "0110010000");
    let r = inquire(&app.sandbox_client(&m), &p).await;
    assert_inquiry_success(&r, Format::Json, &ngatimun(&p.hp, &p.ref_id));
}

/// The `loket` CLI (another process) suspends a member or takes a product out of service while
/// the server runs with both in memory: the server's very next inquiry sees it, and stores
/// nothing (inquiries take members and products from memory without a read and have their quote
/// write check them: docs/performance.md, round 10c).
#[each_backend]
async fn another_process_changing_a_member_or_product_is_seen_by_the_next_inquiry() {
    let (app, m) = setup("081200000519").await;
    let cli = |args: &[&str]| {
        let out = loket()
            .args(args)
            .args(["--database", &app.database_url])
            .output()
            .expect("loket runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let set_suspended = |on: &str| {
        cli(&[
            "member",
            "set",
            "--username",
            &m.username,
            "--suspended",
            on,
        ])
    };
    let client = app.sandbox_client(&m);
    // Warm: the member and the product are in the server's memory.
    for _ in 0..2 {
        let p = params("PGAS", "0110010000");
        let r = inquire(&client, &p).await;
        assert_inquiry_success(&r, Format::Json, &ngatimun(&p.hp, &p.ref_id));
    }
    set_suspended("true");
    let p = params("PGAS", "0110010000");
    let r = inquire(&client, &p).await;
    assert_failure(&r, Format::Json, 200, "118", &[("ref_id", &p.ref_id)]);
    app.assert_nothing_stored(&m, &p.ref_id).await;

    set_suspended("false");
    let p = params("PGAS", "0110010000");
    let r = inquire(&client, &p).await;
    assert_inquiry_success(&r, Format::Json, &ngatimun(&p.hp, &p.ref_id));

    cli(&["product", "set", "--code", "PGAS", "--status", "inactive"]);
    for format in FORMATS {
        let p = params("PGAS", "0110010000");
        let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
        assert_failure(&r, format, 200, "106", &[("ref_id", &p.ref_id)]);
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn the_ip_allowlist_is_enforced() {
    let (app, m) = setup("081200000515").await;
    let allow = |list: &str| MemberUpdate {
        allowlist: Some(list.into()),
        ..Default::default()
    };
    app.store
        .update_member(&m.username, allow("10.9.9.9"))
        .await
        .unwrap();
    for format in FORMATS {
        let p = params("PGAS", "0110010000");
        let r = inquire(&app.sandbox_client(&m).with_format(format), &p).await;
        assert_failure(&r, format, 200, "102", &[("ref_id", &p.ref_id)]);
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
    for list in ["127.0.0.1", "10.9.9.9, 127.0.0.1", "127.0.0.0/8"] {
        app.store
            .update_member(&m.username, allow(list))
            .await
            .unwrap();
        let p = params("PGAS", "0110010000");
        let r = inquire(&app.sandbox_client(&m), &p).await;
        assert_inquiry_success(&r, Format::Json, &ngatimun(&p.hp, &p.ref_id));
    }
}

#[each_backend]
async fn other_methods_and_unknown_paths_are_404_117() {
    let (app, m) = setup("081200000516").await;
    for path in [BILL_CHECK, "/api/v1/bill/check/", "/", "/api/v1/nope"] {
        let r = app.get(path, None).await;
        assert_failure(&r, Format::Json, 404, "117", &[]);
        let r = app.get(path, Some("application/xml")).await;
        assert_failure(&r, Format::Xml, 404, "117", &[]);
    }
    // PUT / DELETE on the endpoint.
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let resp = app
            .http
            .request(method.clone(), format!("{}{BILL_CHECK}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{method}");
    }
    // A valid request to an unknown path.
    let p = params("PGAS", "0110010000");
    let fields = signed(&app, &m, &p);
    for (format, body) in [
        (Format::Json, json_body(&fields)),
        (Format::Xml, xml_body(&fields)),
    ] {
        let r = app
            .post("/api/v1/bill/cek", Some(format_ct(format)), body)
            .await;
        assert_failure(&r, format, 404, "117", &[]);
    }
    app.assert_nothing_stored(&m, &p.ref_id).await;
}

fn format_ct(format: Format) -> &'static str {
    format.content_type()
}

#[each_backend]
async fn the_trailing_slash_path_works_like_the_plain_one() {
    let (app, m) = setup("081200000517").await;
    for format in FORMATS {
        let p = params("PLNNONTAG", "3225030005901");
        let fields = signed(&app, &m, &p);
        let body = match format {
            Format::Json => json_body(&fields),
            Format::Xml => xml_body(&fields),
        };
        let r = app
            .post("/api/v1/bill/check/", Some(format_ct(format)), body)
            .await;
        assert_inquiry_success(&r, format, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));
        // And bad input there is answered as on the plain path.
        let r = app
            .post("/api/v1/bill/check/", Some(format_ct(format)), "{oops")
            .await;
        assert_format_error(&r, format, 400, None);
    }
}

/// IAK's leniency: `ref_id`, `year` and `month` may arrive as JSON numbers.
#[each_backend]
async fn numbers_are_accepted_for_ref_id_year_and_month() {
    let (app, m) = setup("081200000518").await;
    let client = app.sandbox_client(&m);
    // ref_id as a number; the signature covers its decimal form.
    let ref_num: u64 = 9_128_374_655;
    let p = InquiryParams {
        ref_id: ref_num.to_string(),
        ..params("PLNNONTAG", "3225030005901")
    };
    let mut fields = client.inquiry_fields(&p);
    fields.insert("ref_id".into(), json!(ref_num));
    let r = app.post_fields(Format::Json, &fields).await;
    assert_inquiry_success(
        &r,
        Format::Json,
        &jayusman("PLNNONTAG", &p.hp, "9128374655"),
    );
    assert_eq!(r.data["ref_id"], json!("9128374655"), "echoed as a string");
    // year as a number.
    let p = params_year("PBBKOT.CIMAHI", "329801092375990000", "2023");
    let mut fields = client.inquiry_fields(&p);
    fields.insert("year".into(), json!(2023));
    let r = app.post_fields(Format::Json, &fields).await;
    assert_inquiry_success(&r, Format::Json, &testing_pbb(&p.hp, &p.ref_id));
    // month as a number.
    let p = params_month("BPJS", "8801234560000", "2");
    let mut fields = client.inquiry_fields(&p);
    fields.insert("month".into(), json!(2));
    let r = app.post_fields(Format::Json, &fields).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(r.field("period").as_deref(), Some("02"));
}

/// The format comes from the content type, or from the body when there is none.
#[each_backend]
async fn the_format_is_detected() {
    let (app, m) = setup("081200000519").await;
    let cases = [
        (None, Format::Xml),
        (None, Format::Json),
        (Some("text/xml; charset=utf-8"), Format::Xml),
        (Some("application/json; charset=utf-8"), Format::Json),
    ];
    for (ct, format) in cases {
        let p = params("PGAS", "0110010000");
        let fields = signed(&app, &m, &p);
        let body = match format {
            Format::Json => json_body(&fields),
            Format::Xml => format!(
                "\n  {}",
                xml_body(&fields).trim_start_matches("<?xml version=\"1.0\"?>\n")
            ),
        };
        let r = app.post(BILL_CHECK, ct, body).await;
        assert_inquiry_success(&r, format, &ngatimun(&p.hp, &p.ref_id));
    }
    // Errors too: an XML content type gets an XML error even for a JSON body.
    let r = app.post(BILL_CHECK, Some("text/xml"), "{}").await;
    assert_format_error(&r, Format::Xml, 400, None);
    let r = app.post(BILL_CHECK, None, "<mp>").await;
    assert_format_error(&r, Format::Xml, 400, None);
}
