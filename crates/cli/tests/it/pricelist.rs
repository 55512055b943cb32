//! spec/iak.md `pricelist-pasca`: every product, the `status`, `/{type}` and `province` filters,
//! the fields of each entry, and the XML shape `<mp><data><pasca>…</pasca></data></mp>`.

use crate::helpers::*;
use loket_client::iak::{Format, IakClient, IakResponse};
use loket_core::{Catalogue, ProductStatus};
use serde_json::{json, Value};

async fn pricelist(
    client: &IakClient,
    kind: Option<&str>,
    status: Option<&str>,
    province: Option<&str>,
) -> IakResponse {
    client
        .pricelist(kind, status, province)
        .await
        .expect("an HTTP answer")
}

/// The codes of a successful price list, after checking every entry against the catalogue:
/// fields in order, types, `category`, `status` 1/4, `fee`, `komisi`, `province` only on PDAM.
fn codes(r: &IakResponse, format: Format) -> Vec<String> {
    assert_eq!(r.http_status, 200, "{}", r.body);
    let catalogue = Catalogue::builtin();
    let pasca = r.data["pasca"]
        .as_array()
        .unwrap_or_else(|| panic!("data.pasca is a list: {}", r.body));
    let mut out = Vec::new();
    for item in pasca {
        let code = item["code"].as_str().expect("a code").to_string();
        let p = catalogue
            .products
            .iter()
            .find(|p| p.code == code)
            .unwrap_or_else(|| panic!("{code} is in the catalogue"));
        let mut want = json!({
            "code": p.code,
            "name": p.name,
            "status": p.status.iak_code(),
            "fee": p.admin.get(),
            "komisi": p.commission.get(),
            "type": p.kind,
            "category": "postpaid",
        });
        if p.kind == "pdam" {
            let province = p.province.clone().expect("a PDAM product has a province");
            want["province"] = json!(province);
        } else {
            assert!(p.province.is_none(), "only PDAM has a province");
        }
        let want = match format {
            Format::Json => want,
            Format::Xml => stringly(&want),
        };
        assert_eq!(item, &want, "entry {code}");
        assert_eq!(keys(item), keys(&want), "field order of {code}");
        out.push(code);
    }
    // Sorted by type, then code (docs/protocols.md).
    let mut sorted: Vec<(String, String)> = pasca
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_string(),
                i["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let given = sorted.clone();
    sorted.sort();
    assert_eq!(given, sorted, "sorted by type, then code");
    out
}

fn catalogue_codes(keep: impl Fn(&loket_core::Product) -> bool) -> Vec<String> {
    let mut c: Vec<(String, String)> = Catalogue::builtin()
        .products
        .iter()
        .filter(|p| keep(p))
        .map(|p| (p.kind.clone(), p.code.clone()))
        .collect();
    c.sort();
    c.into_iter().map(|(_, code)| code).collect()
}

#[each_backend]
async fn the_price_list_has_every_product() {
    let app = spawn_app().await;
    let m = app.create_member("081200000601").await;
    let all = catalogue_codes(|_| true);
    assert!(all.len() >= 20, "the shipped catalogue");
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let r = pricelist(&client, None, None, None).await;
        assert_eq!(codes(&r, format), all, "{}", r.body);
        if format == Format::Json {
            assert!(r.content_type.starts_with("application/json"));
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(keys(&v), ["data", "meta"]);
            assert_eq!(keys(&v["data"]), ["pasca"]);
            assert_eq!(v["meta"], json!([]));
            let first = &v["data"]["pasca"][0];
            for k in ["status", "fee", "komisi"] {
                assert!(first[k].is_i64(), "{k} is a JSON integer: {first}");
            }
        }
        // status=all is the default; the live key answers the same list.
        let r2 = pricelist(&client, None, Some("all"), None).await;
        assert_eq!(r2.data, r.data);
        let live = app.live_client(&m).with_format(format);
        let r3 = pricelist(&live, None, None, None).await;
        assert_eq!(r3.data, r.data);
        // The trailing-slash path of IAK's SDKs.
        let (ct, body) = client.encode(&client.pricelist_fields(None, None));
        let r4 = client
            .post_raw("/api/v1/bill/check/", ct, body)
            .await
            .unwrap();
        assert_eq!(r4.data, r.data, "{}", r4.body);
    }
}

/// The XML price list nests `<data>` (unlike every other answer) with one `<pasca>` per product.
#[each_backend]
async fn the_xml_price_list_is_mp_data_pasca() {
    let app = spawn_app().await;
    let m = app.create_member("081200000602").await;
    let json_answer = pricelist(&app.sandbox_client(&m), None, None, None).await;
    let client = app.sandbox_client(&m).with_format(Format::Xml);
    let r = pricelist(&client, None, None, None).await;
    assert_eq!(r.http_status, 200, "{}", r.body);
    assert!(
        r.content_type.starts_with("application/xml"),
        "{}",
        r.content_type
    );
    assert!(r.body.trim_start().starts_with("<?xml"), "{}", r.body);
    let raw = loket_client::xml::parse_mp(r.body.as_bytes()).expect("the XML parses");
    assert_eq!(
        raw.keys().collect::<Vec<_>>(),
        ["data"],
        "<mp> holds <data>"
    );
    let data = raw["data"].as_object().expect("<data> holds elements");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["pasca"],
        "<data> holds <pasca>"
    );
    let n = catalogue_codes(|_| true).len();
    assert_eq!(
        data["pasca"].as_array().map(Vec::len),
        Some(n),
        "{}",
        r.body
    );
    assert_eq!(r.body.matches("<pasca>").count(), n);
    let mp = r.body.find("<mp>").unwrap();
    let d = r.body.find("<data>").unwrap();
    let p = r.body.find("<pasca>").unwrap();
    assert!(mp < d && d < p, "<mp><data><pasca>: {}", r.body);
    assert!(r.body.trim_end().ends_with("</data>\n</mp>"), "{}", r.body);
    // Field for field the JSON list, as text.
    assert_eq!(r.data, stringly(&json_answer.data));
    // A filter that matches nothing: an empty <data>, still a list to the client.
    let none = pricelist(&client, Some("nothing-here"), None, None).await;
    assert_eq!(none.http_status, 200, "{}", none.body);
    assert!(none.body.contains("<data"), "{}", none.body);
    assert_eq!(none.data["pasca"], json!([]), "{}", none.body);
}

#[each_backend]
async fn the_status_filter() {
    let app = spawn_app().await;
    let m = app.create_member("081200000603").await;
    let active = catalogue_codes(|p| p.status == ProductStatus::Active);
    let inactive = catalogue_codes(|p| p.status == ProductStatus::Inactive);
    assert!(inactive.contains(&"PDAMKAB.BOGOR".to_string()));
    assert!(!active.is_empty());
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let r = pricelist(&client, None, Some("active"), None).await;
        assert_eq!(codes(&r, format), active, "{}", r.body);
        assert!(r.data["pasca"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("status").and_then(scalar) == Some("1".into())));
        let r = pricelist(&client, None, Some("non active"), None).await;
        assert_eq!(codes(&r, format), inactive, "{}", r.body);
        let bogor = r.data["pasca"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == "PDAMKAB.BOGOR")
            .expect("PDAMKAB.BOGOR is inactive");
        assert_eq!(bogor.get("status").and_then(scalar), Some("4".into()));
        // Anything else is a format error naming status.
        for bad in ["inactive", "ACTIVE", "1", "semua"] {
            let r = pricelist(&client, None, Some(bad), None).await;
            assert_format_error(&r, format, 400, Some("status"));
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    loket_client::iak::scalar_string(v)
}

#[each_backend]
async fn the_type_and_province_filters() {
    let app = spawn_app().await;
    let m = app.create_member("081200000604").await;
    let pdam = catalogue_codes(|p| p.kind == "pdam");
    assert_eq!(pdam.len(), 5, "the shipped PDAM products");
    let jabar = catalogue_codes(|p| p.province.as_deref() == Some("JAWA BARAT"));
    assert_eq!(jabar, ["PDAMKAB.BOGOR", "PDAMKOTA.BANDUNG"]);
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        // /{type}, matched case-insensitively.
        for kind in ["pdam", "PDAM"] {
            let r = pricelist(&client, Some(kind), None, None).await;
            assert_eq!(codes(&r, format), pdam, "/{kind}: {}", r.body);
        }
        let r = pricelist(&client, Some("gas"), None, None).await;
        assert_eq!(codes(&r, format), ["PGAS"]);
        let r = pricelist(&client, Some("pbb"), None, None).await;
        assert_eq!(codes(&r, format), catalogue_codes(|p| p.kind == "pbb"));
        // province, case-insensitively; only PDAM products have one.
        for province in ["JAWA BARAT", "jawa barat"] {
            let r = pricelist(&client, None, None, Some(province)).await;
            assert_eq!(codes(&r, format), jabar, "{province}: {}", r.body);
            let r = pricelist(&client, Some("pdam"), None, Some(province)).await;
            assert_eq!(codes(&r, format), jabar, "{province}: {}", r.body);
        }
        // Filters combine.
        let r = pricelist(&client, Some("pdam"), Some("active"), Some("JAWA BARAT")).await;
        assert_eq!(codes(&r, format), ["PDAMKOTA.BANDUNG"]);
        let r = pricelist(&client, None, Some("non active"), Some("JAWA BARAT")).await;
        assert_eq!(codes(&r, format), ["PDAMKAB.BOGOR"]);
        let r = pricelist(&client, Some("gas"), None, Some("JAWA BARAT")).await;
        assert_eq!(codes(&r, format), Vec::<String>::new());
        let r = pricelist(&client, None, None, Some("PAPUA")).await;
        assert_eq!(codes(&r, format), Vec::<String>::new());
    }
}

/// The price list is signed over `pl`: another signature is RC 100.
#[each_backend]
async fn the_price_list_needs_its_signature() {
    let app = spawn_app().await;
    let m = app.create_member("081200000605").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let mut fields = client.pricelist_fields(None, None);
        fields.insert("sign".into(), client.sign("cs").into());
        let r = client.send_fields(fields).await.unwrap();
        assert_failure(&r, format, 200, "100", &[]);
        assert!(r.data.get("pasca").is_none(), "{}", r.body);
    }
}
