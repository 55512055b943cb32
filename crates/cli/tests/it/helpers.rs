//! The test harness: a real loket server on `127.0.0.1:0` against a fresh database per test, and
//! assertions shared by the test modules (in the spirit of zero-to-production's
//! `tests/api/helpers.rs`).

use loket_api::Config;
use loket_client::iak::{Format, IakClient, IakResponse, InquiryParams};
use loket_client::isikuota::{IsikuotaClient, IsikuotaResponse};
use loket_core::{Catalogue, Mode, Quote};
use loket_store::Store;
/// Every test here runs once per backend: `#[each_backend]` instead of `#[tokio::test]`; the
/// few that only mean something on PostgreSQL (several instances on one database) are
/// `#[postgres_only]`.
pub use loket_test_macros::{each_backend, postgres_only};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The fields of a successful inquiry answer, in the order of `spec/iak.md`.
pub const INQUIRY_FIELDS: [&str; 13] = [
    "tr_id",
    "code",
    "hp",
    "tr_name",
    "period",
    "nominal",
    "admin",
    "ref_id",
    "response_code",
    "message",
    "price",
    "selling_price",
    "desc",
];

/// The money fields of an inquiry answer: JSON integers.
pub const MONEY_FIELDS: [&str; 4] = ["nominal", "admin", "price", "selling_price"];

/// The database URL of a test's fresh database, that belongs with the test's temporary
/// directory `dir`.
///
/// This is the one place the suite picks the backend, and it asks `loket_store::testing` (which
/// the store's own tests use too): SQLite in `dir`, or, for the `postgres` half of an
/// `#[each_backend]` test, a new schema on the server named by `LOKET_TEST_DATABASE_URL`,
/// dropped when the test ends.
pub fn test_database_url(dir: &Path) -> String {
    loket_store::testing::database_url(dir)
}

/// A running server on its own database. Dropping it shuts the server down.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The database the server runs on (for the `loket` binary: `ledger verify`, ...).
    pub database_url: String,
    /// The server's store (a handle on the same database), to look behind the API.
    pub store: Store,
    /// Unsigned HTTP client for raw requests.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

/// A member with its credentials.
#[derive(Clone, Debug)]
pub struct TestMember {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub api_key: String,
    pub dev_api_key: String,
    /// isikuota's `api_id`.
    pub api_id: String,
    /// isikuota's HMAC key, which also signs the member's webhooks.
    pub secret_key: String,
}

/// A server with the default configuration (live keys mean live mode).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

/// A server with `config`; `config.listen` and `config.database` are ignored (port 0, a fresh
/// database in a temporary directory).
pub async fn spawn_app_with(config: Config) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = test_database_url(dir.path());
    spawn_app_on(config, url, dir).await
}

/// A server with `config` on the database at `url` (a test's database, `dir` its directory),
/// on port 0.
pub async fn spawn_app_on(mut config: Config, url: String, dir: TempDir) -> TestApp {
    config.database = url.clone();
    config.listen = "127.0.0.1:0".into();
    let store = Store::open(&url).await.expect("the test database opens");
    store
        .load_catalogue(&Catalogue::builtin())
        .await
        .expect("the catalogue loads");
    let state = loket_api::AppState::new(store.clone(), config).expect("a valid configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            // Either an explicit shutdown or the TestApp being dropped.
            let _ = rx.await;
        };
        if let Err(e) = loket_api::serve(listener, state, shutdown).await {
            panic!("the server failed: {e}");
        }
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    TestApp {
        base_url: format!("http://{addr}"),
        database_url: url,
        store,
        http,
        shutdown: Some(tx),
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh ref_id, unique in the test binary.
pub fn ref_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("it{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl TestApp {
    pub async fn create_member(&self, username: &str) -> TestMember {
        let m = self
            .store
            .create_member(loket_store::new_keys(
                username,
                &format!("Member {username}"),
            ))
            .await
            .expect("the member is created");
        TestMember {
            id: m.id,
            username: m.username.clone(),
            name: m.name.clone(),
            api_key: m.api_key.clone(),
            dev_api_key: m.dev_api_key.clone(),
            api_id: m.api_id.clone(),
            secret_key: m.secret_key.clone(),
        }
    }

    /// A JSON client signing with the member's `dev_api_key` (sandbox mode).
    pub fn sandbox_client(&self, m: &TestMember) -> IakClient {
        IakClient::new(&self.base_url, &m.username, &m.dev_api_key)
    }

    /// A JSON client signing with the member's `api_key` (live mode).
    pub fn live_client(&self, m: &TestMember) -> IakClient {
        IakClient::new(&self.base_url, &m.username, &m.api_key)
    }

    /// An isikuota client signing as the member (`testing` is per request).
    pub fn isikuota_client(&self, m: &TestMember) -> IsikuotaClient {
        IsikuotaClient::new(&self.base_url, &m.api_id, &m.api_key, &m.secret_key)
    }

    /// POST `body` as is to an isikuota `path` as `application/json`; the answer must be JSON.
    pub async fn post_iq(&self, path: &str, body: impl Into<Vec<u8>>) -> IsikuotaResponse {
        let resp = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .send()
            .await
            .expect("an HTTP answer");
        read_iq(resp).await
    }

    /// GET an isikuota `path`; the answer must be JSON.
    pub async fn get_iq(&self, path: &str) -> IsikuotaResponse {
        let resp = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("an HTTP answer");
        read_iq(resp).await
    }

    /// POST `body` as is to `path` with `content_type` (no content type when `None`).
    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> IakResponse {
        let mut req = self.http.post(format!("{}{path}", self.base_url));
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let resp = req.body(body.into()).send().await.expect("an HTTP answer");
        read(resp).await
    }

    /// POST `fields` in `format` to `/api/v1/bill/check`, unsigned and unchanged.
    pub async fn post_fields(&self, format: Format, fields: &Map<String, Value>) -> IakResponse {
        let (ct, body) = IakClient::new(&self.base_url, "", "")
            .with_format(format)
            .encode(fields);
        self.post("/api/v1/bill/check", Some(ct), body).await
    }

    /// GET `path`, with a content type header when given.
    pub async fn get(&self, path: &str, content_type: Option<&str>) -> IakResponse {
        let mut req = self.http.get(format!("{}{path}", self.base_url));
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        read(req.send().await.expect("an HTTP answer")).await
    }

    /// The member's quote for `ref_id`, in either mode.
    pub async fn quote(&self, m: &TestMember, mode: Mode, ref_id: &str) -> Option<Quote> {
        self.store
            .quote_by_ref(m.id, mode, ref_id)
            .await
            .expect("the store answers")
    }

    /// Nothing was stored for `ref_id`, in sandbox or live mode.
    pub async fn assert_nothing_stored(&self, m: &TestMember, ref_id: &str) {
        for mode in [Mode::Sandbox, Mode::Live] {
            assert!(
                self.quote(m, mode, ref_id).await.is_none(),
                "a {mode:?} quote was stored for ref_id {ref_id}"
            );
        }
    }

    /// The server still answers (no handler brought it down).
    pub async fn assert_alive(&self) {
        let r = self.get("/healthz", None).await;
        assert_eq!(r.http_status, 200, "healthz: {}", r.body);
    }
}

/// An isikuota answer, checking that it is `application/json` whatever its status.
async fn read_iq(resp: reqwest::Response) -> IsikuotaResponse {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await.expect("the answer's body");
    let r = IsikuotaResponse::parse(status, &body);
    assert!(
        ct.starts_with("application/json"),
        "content type {ct:?} of an isikuota answer: {}",
        r.body
    );
    r
}

async fn read(resp: reqwest::Response) -> IakResponse {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await.expect("the answer's body");
    IakResponse::parse(status, ct, &body)
}

/// Inquiry parameters with a fresh ref_id.
pub fn params(code: &str, hp: &str) -> InquiryParams {
    InquiryParams {
        code: code.into(),
        hp: hp.into(),
        ref_id: ref_id(),
        ..Default::default()
    }
}

/// Inquiry parameters for a product that needs `year`.
pub fn params_year(code: &str, hp: &str, year: &str) -> InquiryParams {
    InquiryParams {
        year: Some(year.into()),
        ..params(code, hp)
    }
}

/// Inquiry parameters for a product that needs `month`.
pub fn params_month(code: &str, hp: &str, month: &str) -> InquiryParams {
    InquiryParams {
        month: Some(month.into()),
        ..params(code, hp)
    }
}

/// Send an inquiry that must reach the server.
pub async fn inquire(client: &IakClient, p: &InquiryParams) -> IakResponse {
    client.inquiry(p).await.expect("an HTTP answer")
}

/// The string form of a JSON value as an XML answer carries it (numbers and bools as text, null
/// and `{}` as an empty element); arrays and objects element by element.
pub fn stringly(v: &Value) -> Value {
    match v {
        Value::Null => Value::String(String::new()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => Value::String(s.clone()),
        Value::Array(items) => Value::Array(items.iter().map(stringly).collect()),
        Value::Object(m) if m.is_empty() => Value::String(String::new()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), stringly(v))).collect())
        }
    }
}

/// The keys of an object value, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The answer's body is in `format`: the right content type and envelope.
pub fn assert_format(r: &IakResponse, format: Format) {
    match format {
        Format::Json => {
            assert!(
                r.content_type.starts_with("application/json"),
                "content type {:?} of a JSON answer: {}",
                r.content_type,
                r.body
            );
            let v: Value = serde_json::from_str(&r.body)
                .unwrap_or_else(|e| panic!("the JSON answer does not parse ({e}): {}", r.body));
            assert_eq!(keys(&v), ["data", "meta"], "JSON envelope: {}", r.body);
            assert!(v["data"].is_object(), "data is an object: {}", r.body);
            assert_eq!(v["meta"], json!([]), "meta is []: {}", r.body);
        }
        Format::Xml => {
            assert!(
                r.content_type.starts_with("application/xml"),
                "content type {:?} of an XML answer: {}",
                r.content_type,
                r.body
            );
            let m = loket_client::xml::parse_mp(r.body.as_bytes())
                .unwrap_or_else(|e| panic!("the XML answer does not parse ({e}): {}", r.body));
            assert!(
                r.body.trim_start().starts_with("<?xml"),
                "XML declaration: {}",
                r.body
            );
            assert!(
                r.body.contains("\n<mp>\n") && r.body.trim_end().ends_with("</mp>"),
                "root <mp>: {}",
                r.body
            );
            assert!(
                !m.contains_key("data"),
                "fields sit directly under <mp>: {}",
                r.body
            );
        }
    }
}

/// `expected` is the answer's `data` without `tr_id`; checks a successful inquiry field by field
/// (exact JSON types in JSON, string forms in XML), the field order, and that `tr_id` is a positive
/// integer. Returns the tr_id.
pub fn assert_inquiry_success(r: &IakResponse, format: Format, expected: &Value) -> i64 {
    assert_eq!(r.http_status, 200, "HTTP status: {}", r.body);
    assert_format(r, format);
    assert_eq!(r.rc().as_deref(), Some("00"), "response_code: {}", r.body);
    assert_eq!(keys(&r.data), INQUIRY_FIELDS, "field order: {}", r.body);
    let tr_id = match format {
        Format::Json => {
            assert!(r.data["tr_id"].is_i64(), "tr_id is an integer: {}", r.body);
            for f in MONEY_FIELDS {
                assert!(r.data[f].is_i64(), "{f} is a JSON integer: {}", r.body);
            }
            r.data["tr_id"].as_i64().unwrap()
        }
        Format::Xml => r
            .field("tr_id")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("tr_id is an integer: {}", r.body)),
    };
    assert!(tr_id > 0, "tr_id > 0: {}", r.body);
    let expected = expected.as_object().expect("expected data is an object");
    for (k, want) in expected {
        let want = match format {
            Format::Json => want.clone(),
            Format::Xml => stringly(want),
        };
        assert_eq!(r.data.get(k), Some(&want), "field {k}: {}", r.body);
    }
    if format == Format::Json {
        // The desc's own key order, as documented.
        assert_eq!(
            keys(&r.data["desc"]),
            keys(&expected["desc"]),
            "desc key order: {}",
            r.body
        );
        assert_raw_order(&r.body, "", &INQUIRY_FIELDS);
    }
    tr_id
}

/// The keys `"k":` appear in `body` in this order, after `start`.
pub fn assert_raw_order(body: &str, start: &str, keys: &[&str]) {
    let mut at = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {body}"))
        + start.len();
    for k in keys {
        let needle = format!("\"{k}\":");
        match body[at..].find(&needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("{needle} not found in order after byte {at}: {body}"),
        }
    }
}

/// The data of a successful inquiry answer: `tr_name` .. `desc` with the request's echoes.
#[allow(clippy::too_many_arguments)]
pub fn bill_data(
    code: &str,
    hp: &str,
    ref_id: &str,
    tr_name: &str,
    period: &str,
    nominal: i64,
    admin: i64,
    selling_price: i64,
    desc: Value,
) -> Value {
    json!({
        "code": code,
        "hp": hp,
        "tr_name": tr_name,
        "period": period,
        "nominal": nominal,
        "admin": admin,
        "ref_id": ref_id,
        "response_code": "00",
        "message": "INQUIRY SUCCESS",
        "price": nominal + admin,
        "selling_price": selling_price,
        "desc": desc,
    })
}

/// Seed 001 / sandbox.md: PLNNONTAG's JAYUSMAN bill.
pub fn jayusman(code: &str, hp: &str, ref_id: &str) -> Value {
    let data = bill_data(
        code,
        hp,
        ref_id,
        "JAYUSMAN",
        "",
        696_400,
        1_600,
        696_200,
        json!({
            "transaksi": "PENYAMBUNGAN BARU",
            "no_registrasi": "5392112011703",
            "tanggal_registrasi": "20120524",
        }),
    );
    assert_eq!(data["price"], json!(698_000));
    data
}

/// The 15 desc keys of seed 002's PBB bill, in order.
pub const PBB_DESC_KEYS: [&str; 15] = [
    "tanggal",
    "nop",
    "tahun_pajak",
    "lokasi",
    "kelurahan",
    "kecamatan",
    "kode_kab_kota",
    "kab_kota",
    "luas_tanah",
    "luas_gedung",
    "jatuh_tempo",
    "total_tagihan",
    "denda",
    "admin",
    "total_bayar",
];

/// Seed 002 / sandbox.md: PBBKOT.CIMAHI's TESTING PBB bill.
pub fn testing_pbb(hp: &str, ref_id: &str) -> Value {
    let data = bill_data(
        "PBBKOT.CIMAHI",
        hp,
        ref_id,
        "TESTING PBB",
        "201909",
        203_857,
        5_000,
        208_857,
        json!({
            "tanggal": "2019-08-14 14:38:59",
            "nop": "328073000401005610",
            "tahun_pajak": "2019",
            "lokasi": "KO. GRIYA ASRI CIPAGERAN",
            "kelurahan": "CIPAGERAN",
            "kecamatan": "CIMAHI UTARA",
            "kode_kab_kota": "0023",
            "kab_kota": "PEMKOT CIMAHI",
            "luas_tanah": "113 M2",
            "luas_gedung": "47 M2",
            "jatuh_tempo": "31/10/2019",
            "total_tagihan": 203_857,
            "denda": 0,
            "admin": 5_000,
            "total_bayar": 208_857,
        }),
    );
    assert_eq!(keys(&data["desc"]), PBB_DESC_KEYS);
    assert_eq!(data["price"], json!(208_857));
    data
}

/// Seed 003 / sandbox.md: PGAS's NGATIMUN bill.
pub fn ngatimun(hp: &str, ref_id: &str) -> Value {
    let data = bill_data(
        "PGAS",
        hp,
        ref_id,
        "NGATIMUN",
        "0917",
        322_002,
        2_500,
        323_902,
        json!({
            "address": "-",
            "first_meter": "006538",
            "last_meter": "006573",
            "usage": 35,
        }),
    );
    assert_eq!(data["price"], json!(324_502));
    data
}

/// sandbox.md: PLNPOSTPAID's SUBCRIBER NAME bill (`530000000000`).
pub fn subcriber(hp: &str, ref_id: &str) -> Value {
    bill_data(
        "PLNPOSTPAID",
        hp,
        ref_id,
        "SUBCRIBER NAME",
        "201608",
        300_000,
        2_500,
        301_900,
        json!({
            "tarif": "R1",
            "daya": 1300,
            "lembar_tagihan": "1",
            "tagihan": {"detail": [{
                "periode": "201608",
                "nilai_tagihan": "300000",
                "admin": "2500",
                "denda": "0",
                "total": 302_500,
            }]},
        }),
    )
}

/// The IAK message of an RC (spec/iak.md's table) for the failures these tests expect.
pub fn message_of(rc: &str) -> &'static str {
    match rc {
        "01" => "INVOICE HAS BEEN PAID",
        "11" => "DUPLICATE REF ID",
        "14" => "INCORRECT DESTINATION NUMBER",
        "20" => "PRODUCT UNREGISTERED",
        "100" => "INVALID SIGNATURE",
        "101" => "INVALID COMMAND",
        "102" => "INVALID IP ADDRESS",
        "103" => "TIMEOUT",
        "106" => "PRODUCT IS TEMPORARILY OUT OF SERVICE",
        "117" => "PAGE NOT FOUND",
        "118" => "ACCOUNT SUSPENDED",
        "04" => "BILLING ID EXPIRED",
        "06" => "INQUIRY ID NOT FOUND",
        "17" => "BALANCE NOT ENOUGH",
        "37" => "PAYMENT FAILED",
        "39" => "PENDING / TRANSACTION IN PROCESS",
        "105" => "MISC ERROR / BILLER SYSTEM ERROR",
        other => panic!("no message listed for RC {other}"),
    }
}

/// A refused request: HTTP status, RC and its documented message, the request's format, the
/// echoed fields (`echo` pairs), and no bill data.
pub fn assert_failure(
    r: &IakResponse,
    format: Format,
    http_status: u16,
    rc: &str,
    echo: &[(&str, &str)],
) {
    assert_eq!(r.http_status, http_status, "HTTP status: {}", r.body);
    assert_format(r, format);
    assert_eq!(r.rc().as_deref(), Some(rc), "response_code: {}", r.body);
    if rc != "107" {
        assert_eq!(
            r.field("message").as_deref(),
            Some(message_of(rc)),
            "message: {}",
            r.body
        );
    }
    for (k, v) in echo {
        assert_eq!(r.field(k).as_deref(), Some(*v), "echoed {k}: {}", r.body);
    }
    for k in ["tr_name", "nominal", "price", "selling_price", "desc"] {
        assert!(
            r.data.get(k).is_none(),
            "a failure carries no {k}: {}",
            r.body
        );
    }
}

/// A format error (RC 107) whose message names `field` as a word.
pub fn assert_format_error(r: &IakResponse, format: Format, http_status: u16, field: Option<&str>) {
    assert_failure(r, format, http_status, "107", &[]);
    let message = r.field("message").unwrap_or_default();
    assert!(
        message.starts_with("XML FORMAT ERROR"),
        "RC 107's message: {}",
        r.body
    );
    if let Some(field) = field {
        let named = message
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .any(|w| w == field);
        assert!(named, "the message names {field}: {}", r.body);
    }
}

/// Both formats, for tests that run in each.
pub const FORMATS: [Format; 2] = [Format::Json, Format::Xml];

/// Compare two successful answers of the same bill (different requests): every field but `tr_id`
/// and `ref_id`, by string form (so a JSON and an XML answer compare too).
pub fn assert_same_bill(a: &IakResponse, b: &IakResponse) {
    for k in INQUIRY_FIELDS {
        if k == "tr_id" || k == "ref_id" {
            continue;
        }
        if k == "desc" {
            assert_eq!(
                stringly(&a.data["desc"]),
                stringly(&b.data["desc"]),
                "desc differs:\n{}\n{}",
                a.body,
                b.body
            );
        } else {
            assert_eq!(
                a.field(k),
                b.field(k),
                "field {k} differs:\n{}\n{}",
                a.body,
                b.body
            );
            assert!(a.field(k).is_some(), "field {k} missing: {}", a.body);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payments: shared expectations.

/// The balance a new member starts with on the sandbox side (spec/sandbox.md).
pub const SANDBOX_START: i64 = loket_store::SANDBOX_START_BALANCE;

/// PGAS's documented bill (NGATIMUN, `0110010000` and every successful rule-2 PGAS number):
/// what the member is charged, and the biller's reference of its payment.
pub const PGAS_SELLING_PRICE: i64 = 323_902;
pub const PGAS_NOREF: &str = "244183135447";

/// The fields of a payment answer (pay-pasca), in order: the inquiry fields, then `datetime`,
/// `balance`, `noref` (spec/iak.md, docs/protocols.md).
pub const PAY_FIELDS: [&str; 16] = [
    "tr_id",
    "code",
    "hp",
    "tr_name",
    "period",
    "nominal",
    "admin",
    "ref_id",
    "response_code",
    "message",
    "price",
    "selling_price",
    "desc",
    "datetime",
    "balance",
    "noref",
];

/// A configuration for payment tests: quotes that live an hour (no test meets Jakarta's
/// midnight) and pending sandbox payments that settle after 2 s.
pub fn payments_config() -> Config {
    let mut c = Config::default();
    c.quotes.lifetime = loket_api::config::LifetimeSetting::Seconds(3600);
    c.sandbox.pending_resolve_secs = 2;
    c
}

impl TestApp {
    /// The member's sandbox balance, from the store.
    pub async fn sandbox_balance(&self, m: &TestMember) -> loket_core::Balance {
        self.store
            .balance(m.id, Mode::Sandbox)
            .await
            .expect("the store answers")
    }

    /// Asserts the member's sandbox balance: posted `balance` and `held`.
    pub async fn assert_sandbox_balance(&self, m: &TestMember, balance: i64, held: i64) {
        let b = self.sandbox_balance(m).await;
        assert_eq!(
            (b.balance.get(), b.held.get()),
            (balance, held),
            "sandbox (balance, held) of {}",
            m.username
        );
    }

    /// The store's ledger replays clean.
    pub async fn assert_ledger_clean(&self) {
        let report = self
            .store
            .verify_ledger()
            .await
            .expect("the ledger verifies");
        assert!(report.is_clean(), "ledger problems: {:#?}", report.problems);
        assert_eq!(report.sum_of_balances, 0, "double entry sums to zero");
    }

    /// The payment of a quote, if any.
    pub async fn payment(&self, tr_id: i64) -> Option<loket_core::Payment> {
        self.store
            .payment_by_tr_id(tr_id)
            .await
            .expect("the store answers")
    }
}

/// An inquiry that must succeed; answers its tr_id.
pub async fn quote_tr_id(client: &IakClient, p: &InquiryParams) -> i64 {
    let r = inquire(client, p).await;
    assert_eq!(
        r.rc().as_deref(),
        Some("00"),
        "inquiry of {}: {}",
        p.hp,
        r.body
    );
    r.field("tr_id")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a tr_id: {}", r.body))
}

/// A pay-pasca that must reach the server.
pub async fn pay(client: &IakClient, tr_id: i64) -> IakResponse {
    client.pay(tr_id).await.expect("an HTTP answer")
}

/// A checkstatus that must reach the server.
pub async fn check_status(client: &IakClient, ref_id: &str) -> IakResponse {
    client.check_status(ref_id).await.expect("an HTTP answer")
}

/// An integer field of an answer (JSON integer, or XML text).
pub fn int_field(r: &IakResponse, key: &str) -> i64 {
    r.field(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} is an integer: {}", r.body))
}

/// Polls checkstatus until its `status` is `want` (or `timeout` passes); answers the last answer.
pub async fn wait_for_status(
    client: &IakClient,
    ref_id: &str,
    want: i64,
    timeout: std::time::Duration,
) -> IakResponse {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let r = check_status(client, ref_id).await;
        if r.field("status").and_then(|s| s.parse::<i64>().ok()) == Some(want)
            || std::time::Instant::now() >= deadline
        {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `datetime` is `YmdHis` in Asia/Jakarta, between `before` and `after` (unix seconds).
pub fn assert_datetime_between(r: &IakResponse, before: i64, after: i64) {
    let dt = r.field("datetime").unwrap_or_default();
    assert!(
        dt.len() == 14 && dt.bytes().all(|b| b.is_ascii_digit()),
        "datetime is YmdHis: {}",
        r.body
    );
    let ok = (before..=after).any(|t| loket_core::jakarta::ymdhis(t) == dt);
    assert!(
        ok,
        "datetime {dt} is Jakarta time between {} and {}: {}",
        loket_core::jakarta::ymdhis(before),
        loket_core::jakarta::ymdhis(after),
        r.body
    );
}

// ---------------------------------------------------------------------------------------------
// The `loket` binary as a process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `loket` with none of its environment variables inherited.
pub fn loket() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loket"));
    for var in [
        "LOKET_DATABASE_URL",
        "LOKET_CONFIG",
        "LOKET_LISTEN",
        "LOKET_URL",
        "LOKET_USERNAME",
        "LOKET_KEY",
        "LOKET_LOG_FORMAT",
    ] {
        c.env_remove(var);
    }
    c.env("LOKET_LOG", "warn");
    c
}

/// A fresh database for one test (removed with its directory when dropped).
pub struct Db {
    pub url: String,
    dir: TempDir,
}

impl Db {
    /// The test's temporary directory (for config files, receipts, ...).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `loket.toml` with `text` next to the database; answers its path.
    pub fn write_config(&self, text: &str) -> String {
        let path = self.dir().join("loket.toml");
        std::fs::write(&path, text).expect("the config file is written");
        path.display().to_string()
    }
}

pub fn db() -> Db {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Db {
        url: test_database_url(dir.path()),
        dir,
    }
}

/// Runs `loket args` to its end.
pub fn run(args: &[&str]) -> Output {
    loket()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("loket runs")
}

/// [`run`] off the async runtime (the test's server may share its thread).
pub async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .expect("loket ran")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Expects success and one JSON value on stdout.
pub fn output_json(args: &[&str], out: &Output) -> Value {
    assert!(
        out.status.success(),
        "loket {args:?} failed ({:?}): {}{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not JSON ({e}): {}",
            text(&out.stdout)
        )
    })
}

/// Runs, expects success and one JSON value on stdout.
pub fn run_json(args: &[&str]) -> Value {
    output_json(args, &run(args))
}

/// Runs, expects failure with exactly one line on stderr; returns it.
pub fn run_fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "loket {args:?} should fail");
    let err = text(&out.stderr);
    let err = err.trim_end();
    assert!(!err.is_empty(), "an error message on stderr");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    err.to_string()
}

/// `loket ledger verify --database url` exits 0; answers its report.
pub async fn ledger_verify(url: &str) -> Value {
    let args = ["ledger", "verify", "--database", url];
    let out = run_async(args.iter().map(|s| s.to_string()).collect()).await;
    let report = output_json(&args, &out);
    assert_eq!(
        report["problems"],
        json!([]),
        "ledger verify reports no problem: {report}"
    );
    assert_eq!(report["sum_of_balances"], json!(0), "{report}");
    report
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `kill -9`: no signal handler runs, nothing is flushed or finished. Answers the signal the
    /// process died of.
    pub fn sigkill(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let status = Command::new("kill")
            .args(["-9", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -9 {}", self.pid());
        let exit = self
            .wait_for_exit(Duration::from_secs(10))
            .expect("the process dies of SIGKILL");
        exit.signal()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A running `loket serve`: its address and the lines it printed before listening.
pub struct Server {
    pub child: ChildGuard,
    pub addr: String,
    pub banner: Vec<String>,
}

impl Server {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `loket serve --listen 127.0.0.1:0 --database db.url EXTRA...`, once it listens.
pub fn spawn_server(db: &Db, extra: &[&str]) -> Server {
    spawn_server_with(db, extra, &[], Stdio::null())
}

/// [`spawn_server`] with environment variables `envs` and its stderr (the logs) to `stderr`.
pub fn spawn_server_with(db: &Db, extra: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Server {
    let mut cmd = loket();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .args(extra)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = cmd.spawn().expect("loket serve starts");
    let stdout = child.stdout.take().expect("a piped stdout");
    let child = ChildGuard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no listening line ({e}); printed: {banner:#?}"));
        if let Some(rest) = line.strip_prefix("loket listening on http://") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            assert!(
                addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
                "a real port: {line}"
            );
            return Server {
                child,
                addr,
                banner,
            };
        }
        banner.push(line);
    }
}

/// A payment answer (pay-pasca; with `status`, a checkstatus answer of a payment): HTTP 200, the
/// request's format, RC, message, `noref`, `balance`, the fields in order (`status` last), and
/// JSON integers for the money fields in JSON.
pub fn assert_payment_answer(
    r: &IakResponse,
    format: Format,
    rc: &str,
    message: &str,
    noref: &str,
    balance: i64,
    status: Option<i64>,
) {
    assert_eq!(r.http_status, 200, "HTTP status: {}", r.body);
    assert_format(r, format);
    assert_eq!(r.rc().as_deref(), Some(rc), "response_code: {}", r.body);
    assert_eq!(
        r.field("message").as_deref(),
        Some(message),
        "message: {}",
        r.body
    );
    assert_eq!(
        r.field("noref").as_deref(),
        Some(noref),
        "noref: {}",
        r.body
    );
    assert_eq!(int_field(r, "balance"), balance, "balance: {}", r.body);
    let mut order: Vec<&str> = PAY_FIELDS.to_vec();
    if let Some(status) = status {
        order.push("status");
        assert_eq!(int_field(r, "status"), status, "status: {}", r.body);
    }
    assert_eq!(keys(&r.data), order, "field order: {}", r.body);
    if format == Format::Json {
        for f in [
            "tr_id",
            "nominal",
            "admin",
            "price",
            "selling_price",
            "balance",
        ] {
            assert!(r.data[f].is_i64(), "{f} is a JSON integer: {}", r.body);
        }
        if status.is_some() {
            assert!(
                r.data["status"].is_i64(),
                "status is a JSON integer: {}",
                r.body
            );
        }
        assert_raw_order(&r.body, "", &order);
    }
}

/// The payment answer names the same bill as the inquiry answer (every inquiry field but the RC,
/// its message, and `desc`, which a payment may complete).
pub fn assert_same_quote(pay: &IakResponse, inquiry: &IakResponse) {
    for k in [
        "tr_id",
        "code",
        "hp",
        "tr_name",
        "period",
        "nominal",
        "admin",
        "ref_id",
        "price",
        "selling_price",
    ] {
        assert!(inquiry.field(k).is_some(), "{k} in {}", inquiry.body);
        assert_eq!(
            pay.field(k),
            inquiry.field(k),
            "{k}:\n{}\n{}",
            pay.body,
            inquiry.body
        );
    }
}

/// The keys of isikuota's envelope, in the order loket writes them.
pub const ENVELOPE_KEYS: [&str; 6] = ["success", "code", "message", "data", "errors", "meta"];

/// Every isikuota answer: `{success, code, message, data, errors, meta: null}`, `code` in
/// UPPER_SNAKE, a non-empty message, `data` an object or null, `errors` an object or null.
pub fn assert_envelope(r: &IsikuotaResponse) {
    assert!(r.json.is_object(), "a JSON object: {}", r.body);
    assert_eq!(keys(&r.json), ENVELOPE_KEYS, "envelope: {}", r.body);
    assert!(r.json["success"].is_boolean(), "success: {}", r.body);
    let code = r.code().unwrap_or_else(|| panic!("code: {}", r.body));
    assert!(
        !code.is_empty()
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit()),
        "code in UPPER_SNAKE: {}",
        r.body
    );
    assert!(
        r.message().is_some_and(|m| !m.is_empty()),
        "a message: {}",
        r.body
    );
    assert!(
        r.json["data"].is_object() || r.json["data"].is_null(),
        "data: {}",
        r.body
    );
    assert!(
        r.json["errors"].is_object() || r.json["errors"].is_null(),
        "errors: {}",
        r.body
    );
    assert_eq!(r.json["meta"], Value::Null, "meta is null: {}", r.body);
}

/// A processed isikuota request: HTTP 200, `success`, `code`, no `errors`.
pub fn assert_iq_ok(r: &IsikuotaResponse, success: bool, code: &str) {
    assert_envelope(r);
    assert_eq!(r.http_status, 200, "HTTP status: {}", r.body);
    assert_eq!(r.code(), Some(code), "code: {}", r.body);
    assert_eq!(r.success(), Some(success), "success: {}", r.body);
    assert!(r.data().is_some(), "data: {}", r.body);
    assert_eq!(r.json["errors"], Value::Null, "errors: {}", r.body);
}

/// A refused isikuota request: `http_status`, `success: false`, `code`, `data: null`, and
/// `errors` only for `VALIDATION_ERROR`.
pub fn assert_iq_refused(r: &IsikuotaResponse, http_status: u16, code: &str) {
    assert_envelope(r);
    assert_eq!(r.http_status, http_status, "HTTP status: {}", r.body);
    assert_eq!(r.code(), Some(code), "code: {}", r.body);
    assert_eq!(r.success(), Some(false), "success: {}", r.body);
    assert_eq!(r.json["data"], Value::Null, "no data: {}", r.body);
    if code != "VALIDATION_ERROR" {
        assert_eq!(r.json["errors"], Value::Null, "no errors: {}", r.body);
    }
}

/// `VALIDATION_ERROR` (HTTP 400) whose `errors` names each of `fields` with a reason.
pub fn assert_iq_invalid(r: &IsikuotaResponse, fields: &[&str]) {
    assert_iq_refused(r, 400, "VALIDATION_ERROR");
    let errors = r
        .errors()
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("errors is an object: {}", r.body));
    for f in fields {
        let reason = errors.get(*f).and_then(Value::as_str);
        assert!(
            reason.is_some_and(|s| !s.is_empty()),
            "errors names {f} with a reason: {}",
            r.body
        );
    }
}

/// Seed 000's example `data` (spec/sandbox.md: MPBPJS through the isikuota protocol), with the
/// request's `ref_id` and `customer_no` echoed.
pub fn demo_member_data(ref_id: &str, customer_no: &str) -> Value {
    json!({
        "ref_id": ref_id,
        "status": "success",
        "customer_no": customer_no,
        "customer_name": "Demo Member",
        "code": "MPBPJS",
        "tagihan": 22_500,
        "admin": 2_700,
        "total": 25_200,
        "desc": {
            "jumlah_peserta": "2",
            "lembar_tagihan": 1,
            "alamat": "JAKARTA PUSAT",
            "detail": [{"periode": "01"}],
        },
    })
}

/// The keys of an isikuota inquiry's `data`, in seed 000's order.
pub const IQ_INQUIRY_KEYS: [&str; 9] = [
    "ref_id",
    "status",
    "customer_no",
    "customer_name",
    "code",
    "tagihan",
    "admin",
    "total",
    "desc",
];

/// `YYYY-MM-DD HH:MM:SS`.
pub fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    loket_core::jakarta::now()
}

/// Polls `check` every 50 ms until it answers `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
