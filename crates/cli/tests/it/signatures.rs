//! spec/iak.md "Signature": md5(username + key + ref_id); the key decides the mode.

use crate::helpers::*;
use loket_api::Config;
use loket_client::iak::{sign, Format, IakClient};
use loket_core::Mode;
use serde_json::Value;

#[each_backend]
async fn a_wrong_signature_is_rc_100_and_stores_nothing() {
    let app = spawn_app().await;
    let m = app.create_member("081200000401").await;
    let other = app.create_member("081200000402").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PLNNONTAG", "3225030005901");
        let good = client.inquiry_fields(&p);
        let wrong_signs = [
            // Signed over something else than the ref_id.
            sign(&m.username, &m.dev_api_key, "not-the-ref-id"),
            // Another member's key.
            sign(&m.username, &other.dev_api_key, &p.ref_id),
            // Another username in the hash.
            sign(&other.username, &m.dev_api_key, &p.ref_id),
            // Garbage of the right length, and of a wrong length.
            "0".repeat(32),
            format!("{}0", sign(&m.username, &m.dev_api_key, &p.ref_id)),
            sign(&m.username, &m.dev_api_key, &p.ref_id)[..31].to_string(),
        ];
        for wrong in wrong_signs {
            let mut fields = good.clone();
            fields.insert("sign".into(), wrong.clone().into());
            let r = app.post_fields(format, &fields).await;
            assert_failure(
                &r,
                format,
                200,
                "100",
                &[("ref_id", &p.ref_id), ("code", "PLNNONTAG"), ("hp", &p.hp)],
            );
            assert!(r.data.get("tr_id").is_none(), "{}", r.body);
        }
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

/// An unknown username answers exactly as a wrong signature: nothing tells which usernames exist.
#[each_backend]
async fn an_unknown_username_is_indistinguishable_from_a_wrong_signature() {
    let app = spawn_app().await;
    let m = app.create_member("081200000403").await;
    for format in FORMATS {
        let p = params("PLNNONTAG", "3225030005901");
        let mut wrong_sign = app
            .sandbox_client(&m)
            .with_format(format)
            .inquiry_fields(&p);
        wrong_sign.insert("sign".into(), "0123456789abcdef0123456789abcdef".into());
        let unknown = IakClient::new(&app.base_url, "089999999999", &m.dev_api_key)
            .with_format(format)
            .inquiry_fields(&p);
        // An unknown username "signed" with the empty key is refused too.
        let empty_key = IakClient::new(&app.base_url, "089999999998", "")
            .with_format(format)
            .inquiry_fields(&p);
        let a = app.post_fields(format, &wrong_sign).await;
        let b = app.post_fields(format, &unknown).await;
        let c = app.post_fields(format, &empty_key).await;
        assert_failure(&a, format, 200, "100", &[("ref_id", &p.ref_id)]);
        assert_eq!(a.http_status, b.http_status);
        assert_eq!(a.content_type, b.content_type);
        assert_eq!(a.body, b.body, "the same body, byte for byte");
        assert_eq!(a.body, c.body, "the same body, byte for byte");
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn the_live_key_means_live_mode_which_has_no_upstream_yet() {
    let app = spawn_app().await;
    let m = app.create_member("081200000404").await;
    for format in FORMATS {
        let p = params("PLNNONTAG", "3225030005901");
        let r = inquire(&app.live_client(&m).with_format(format), &p).await;
        assert_failure(
            &r,
            format,
            200,
            "106",
            &[("ref_id", &p.ref_id), ("code", "PLNNONTAG"), ("hp", &p.hp)],
        );
        app.assert_nothing_stored(&m, &p.ref_id).await;
    }
}

#[each_backend]
async fn a_sandbox_server_answers_live_keys_from_the_sandbox() {
    let mut config = Config::default();
    config.sandbox.enabled = true;
    let app = spawn_app_with(config).await;
    let m = app.create_member("081200000405").await;
    for format in FORMATS {
        for client in [app.live_client(&m), app.sandbox_client(&m)] {
            let client = client.with_format(format);
            let p = params("PLNNONTAG", "3225030005901");
            let r = inquire(&client, &p).await;
            assert_inquiry_success(&r, format, &jayusman("PLNNONTAG", &p.hp, &p.ref_id));
            assert!(app.quote(&m, Mode::Sandbox, &p.ref_id).await.is_some());
            assert!(app.quote(&m, Mode::Live, &p.ref_id).await.is_none());
        }
    }
}

#[each_backend]
async fn an_uppercase_signature_is_accepted() {
    let app = spawn_app().await;
    let m = app.create_member("081200000406").await;
    for format in FORMATS {
        let client = app.sandbox_client(&m).with_format(format);
        let p = params("PGAS", "0110010000");
        let mut fields = client.inquiry_fields(&p);
        let upper = client.sign(&p.ref_id).to_uppercase();
        assert_ne!(upper, client.sign(&p.ref_id), "the md5 has letters");
        fields.insert("sign".into(), Value::String(upper));
        let r = app.post_fields(format, &fields).await;
        assert_inquiry_success(&r, format, &ngatimun(&p.hp, &p.ref_id));
    }
}

/// The signature covers the ref_id as sent: changing the ref_id after signing breaks it.
#[each_backend]
async fn the_signature_covers_the_ref_id() {
    let app = spawn_app().await;
    let m = app.create_member("081200000407").await;
    let client = app.sandbox_client(&m);
    let p = params("PGAS", "0110010000");
    let mut fields = client.inquiry_fields(&p);
    let tampered = format!("{}9", p.ref_id);
    fields.insert("ref_id".into(), tampered.clone().into());
    let r = app.post_fields(Format::Json, &fields).await;
    assert_failure(&r, Format::Json, 200, "100", &[("ref_id", &tampered)]);
    app.assert_nothing_stored(&m, &tampered).await;
    app.assert_nothing_stored(&m, &p.ref_id).await;
}
