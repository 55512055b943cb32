//! A signing client for the IAK-compatible postpaid protocol, in JSON or XML.
//!
//! Answers of both formats are normalised into [`IakResponse::data`] so that tests can compare
//! them field by field: the JSON envelope `{"data": ..., "meta": []}` is unwrapped, XML answers
//! become the map of `<mp>`'s children (all scalars strings), the price list's
//! `<mp><data>..</data></mp>` is unwrapped too, and in XML answers `pasca` (price list) and every
//! `detail` field are always arrays, as they are in JSON.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Map, Value};

pub use crate::error::ClientError;
pub use crate::iak_sign::{sign, signatures_match};
use crate::xml;

/// The path every postpaid command is posted to.
pub const BILL_CHECK_PATH: &str = "/api/v1/bill/check";
/// Default timeout of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The wire format of requests (answers come back in the same format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The `Content-Type` requests of this format are sent with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

/// Parameters of an inquiry (`inq-pasca`).
#[derive(Clone, Debug, Default)]
pub struct InquiryParams {
    pub code: String,
    pub hp: String,
    pub ref_id: String,
    pub year: Option<String>,
    pub month: Option<String>,
    pub nomor_identitas: Option<String>,
    pub amount: Option<i64>,
}

/// A signing IAK client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct IakClient {
    http: reqwest::Client,
    base_url: String,
    username: String,
    key: String,
    format: Format,
    timeout: Duration,
}

impl fmt::Debug for IakClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IakClient")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("key", &"<redacted>")
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl IakClient {
    /// A JSON client with a 30 s timeout. `base_url` is e.g. `http://127.0.0.1:8080` (a trailing
    /// slash is ignored). Proxy environment variables are not used.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let base_url = base_url.into().trim_end_matches('/').to_string();
        IakClient {
            http,
            base_url,
            username: username.into(),
            key: key.into(),
            format: Format::Json,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Send through `http` instead of a client of its own (e.g. one speaking HTTP/2; see
    /// `loket_billers::UpstreamSettings::http_client`).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    pub fn with_format(mut self, f: Format) -> Self {
        self.format = f;
        self
    }

    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `md5(username + key + x)` with this client's credentials.
    pub fn sign(&self, x: &str) -> String {
        sign(&self.username, &self.key, x)
    }

    /// The fields of an `inq-pasca` request, signed over `ref_id`.
    pub fn inquiry_fields(&self, p: &InquiryParams) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands".into(), "inq-pasca".into());
        m.insert("username".into(), self.username.clone().into());
        m.insert("code".into(), p.code.clone().into());
        m.insert("hp".into(), p.hp.clone().into());
        m.insert("ref_id".into(), p.ref_id.clone().into());
        if let Some(year) = &p.year {
            m.insert("year".into(), year.clone().into());
        }
        if let Some(month) = &p.month {
            m.insert("month".into(), month.clone().into());
        }
        if let Some(id) = &p.nomor_identitas {
            m.insert("nomor_identitas".into(), id.clone().into());
        }
        if let Some(amount) = p.amount {
            m.insert("desc".into(), json!({ "amount": amount }));
        }
        m.insert("sign".into(), self.sign(&p.ref_id).into());
        m
    }

    /// The fields of a `pay-pasca` request, `tr_id` as an integer, signed over its decimal form.
    pub fn pay_fields(&self, tr_id: i64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands".into(), "pay-pasca".into());
        m.insert("username".into(), self.username.clone().into());
        m.insert("tr_id".into(), tr_id.into());
        m.insert("sign".into(), self.sign(&tr_id.to_string()).into());
        m
    }

    /// The fields of a `checkstatus` request, signed over `cs`.
    pub fn check_status_fields(&self, ref_id: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands".into(), "checkstatus".into());
        m.insert("username".into(), self.username.clone().into());
        m.insert("ref_id".into(), ref_id.into());
        m.insert("sign".into(), self.sign("cs").into());
        m
    }

    /// The fields of a `pricelist-pasca` request, signed over `pl`.
    pub fn pricelist_fields(
        &self,
        status: Option<&str>,
        province: Option<&str>,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("commands".into(), "pricelist-pasca".into());
        m.insert("username".into(), self.username.clone().into());
        if let Some(status) = status {
            m.insert("status".into(), status.into());
        }
        if let Some(province) = province {
            m.insert("province".into(), province.into());
        }
        m.insert("sign".into(), self.sign("pl").into());
        m
    }

    /// The body of a request carrying `fields` in this client's format, with its content type.
    pub fn encode(&self, fields: &Map<String, Value>) -> (&'static str, Vec<u8>) {
        let body = match self.format {
            Format::Json => Value::Object(fields.clone()).to_string().into_bytes(),
            Format::Xml => xml::write_mp(fields).into_bytes(),
        };
        (self.format.content_type(), body)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{}", self.base_url, path)
        } else {
            format!("{}/{}", self.base_url, path)
        }
    }

    pub async fn inquiry(&self, p: &InquiryParams) -> Result<IakResponse, ClientError> {
        self.send_fields(self.inquiry_fields(p)).await
    }

    pub async fn pay(&self, tr_id: i64) -> Result<IakResponse, ClientError> {
        self.send_fields(self.pay_fields(tr_id)).await
    }

    pub async fn check_status(&self, ref_id: &str) -> Result<IakResponse, ClientError> {
        self.send_fields(self.check_status_fields(ref_id)).await
    }

    /// The price list, from `/api/v1/bill/check` or `/api/v1/bill/check/{kind}`.
    pub async fn pricelist(
        &self,
        kind: Option<&str>,
        status: Option<&str>,
        province: Option<&str>,
    ) -> Result<IakResponse, ClientError> {
        let path = match kind {
            Some(kind) => format!("{BILL_CHECK_PATH}/{kind}"),
            None => BILL_CHECK_PATH.to_string(),
        };
        let (ct, body) = self.encode(&self.pricelist_fields(status, province));
        self.post_raw(&path, ct, body).await
    }

    /// `GET /api/v1/download/{tr_id}?sign=..`: the HTTP status and the raw body (a PDF on success).
    pub async fn receipt_pdf(&self, tr_id: i64) -> Result<(u16, Vec<u8>), ClientError> {
        let resp = self
            .get_receipt(&format!("/api/v1/download/{tr_id}"), tr_id)
            .await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok((status, body.to_vec()))
    }

    /// `GET /api/v1/download/{tr_id}/1?sign=..`: the receipt as JSON.
    pub async fn receipt_json(&self, tr_id: i64) -> Result<IakResponse, ClientError> {
        let resp = self
            .get_receipt(&format!("/api/v1/download/{tr_id}/1"), tr_id)
            .await?;
        IakResponse::read(resp).await
    }

    async fn get_receipt(&self, path: &str, tr_id: i64) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}?sign={}", self.url(path), self.sign(&tr_id.to_string()));
        Ok(self.http.get(url).timeout(self.timeout).send().await?)
    }

    /// Posts exactly `fields` (nothing added, nothing signed) in this client's format to
    /// `/api/v1/bill/check`.
    pub async fn send_fields(
        &self,
        fields: Map<String, Value>,
    ) -> Result<IakResponse, ClientError> {
        let (ct, body) = self.encode(&fields);
        self.post_raw(BILL_CHECK_PATH, ct, body).await
    }

    /// Posts `body` as is with the given content type to `path` (relative to the base URL).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<IakResponse, ClientError> {
        let resp = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .timeout(self.timeout)
            .send()
            .await?;
        IakResponse::read(resp).await
    }
}

/// An HTTP answer of an IAK server, whatever its status.
#[derive(Clone, Debug)]
pub struct IakResponse {
    pub http_status: u16,
    pub content_type: String,
    /// The body as text (lossy if it was not UTF-8).
    pub body: String,
    /// The normalised `data` (see the module docs); `Null` when the body could not be parsed.
    pub data: Value,
}

impl IakResponse {
    async fn read(resp: reqwest::Response) -> Result<IakResponse, ClientError> {
        let http_status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = resp.bytes().await?;
        Ok(IakResponse::parse(http_status, content_type, &body))
    }

    /// Builds a response from its parts, parsing `body` as JSON or XML (chosen by its first
    /// non-blank byte, so a wrong content type does not matter).
    pub fn parse(http_status: u16, content_type: impl Into<String>, body: &[u8]) -> IakResponse {
        IakResponse {
            http_status,
            content_type: content_type.into(),
            body: String::from_utf8_lossy(body).into_owned(),
            data: parse_data(body),
        }
    }

    /// `data.response_code` as a string.
    pub fn rc(&self) -> Option<String> {
        self.field("response_code")
    }

    /// The string form of a scalar field of `data`: strings as is, numbers and bools as their
    /// JSON text. `None` for a missing field, null, an object or an array.
    pub fn field(&self, key: &str) -> Option<String> {
        scalar_string(self.data.get(key)?)
    }

    /// A value at a dotted path into `data`, e.g. `desc.usage`, `desc.tagihan.detail` or
    /// `desc.tagihan.detail.0.periode` (numeric segments index arrays).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut cur = &self.data;
        for seg in path.split('.') {
            cur = match cur {
                Value::Object(m) => m.get(seg)?,
                Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// Strings as is, numbers and bools as their JSON text; nothing for other values.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_data(body: &[u8]) -> Value {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') | Some(b'[') => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut m)) => match m.remove("data") {
                Some(data) => data,
                None => Value::Object(m),
            },
            Ok(other) => other,
            Err(_) => Value::Null,
        },
        Some(b'<') | Some(0xEF) => match xml::parse_mp(body) {
            Ok(m) => normalise_xml(m),
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Makes an XML answer look like the `data` of the JSON one.
fn normalise_xml(mut m: Map<String, Value>) -> Value {
    // The price list: <mp><data><pasca>..</pasca>..</data></mp>.
    if m.len() == 1 && m.contains_key("data") {
        let mut data = match m.remove("data") {
            Some(Value::Object(d)) => d,
            _ => Map::new(), // `<data></data>`: an empty price list
        };
        let pasca = match data.remove("pasca") {
            Some(Value::Array(items)) => items,
            Some(one) => vec![one],
            None => Vec::new(),
        };
        data.insert("pasca".into(), Value::Array(pasca));
        let mut v = Value::Object(data);
        arrays_for_details(&mut v);
        return v;
    }
    let mut v = Value::Object(m);
    arrays_for_details(&mut v);
    v
}

/// Every `detail` field is a list in JSON answers; a single XML `<detail>` becomes a list too.
fn arrays_for_details(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "detail" && !child.is_array() {
                    let one = child.take();
                    *child = Value::Array(vec![one]);
                }
                arrays_for_details(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(arrays_for_details),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(format: Format) -> IakClient {
        IakClient::new("http://127.0.0.1:1/", "123123123", "key").with_format(format)
    }

    fn params() -> InquiryParams {
        InquiryParams {
            code: "PLNNONTAG".into(),
            hp: "3225030005901".into(),
            ref_id: "09128374655".into(),
            ..Default::default()
        }
    }

    #[test]
    fn inquiry_json_body() {
        let c = client(Format::Json);
        let (ct, body) = c.encode(&c.inquiry_fields(&params()));
        assert_eq!(ct, "application/json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"commands":"inq-pasca","username":"123123123","code":"PLNNONTAG","hp":"3225030005901","ref_id":"09128374655","sign":"82c1ec96be5015ea2c6f2417b3acd66b"}"#
        );
    }

    #[test]
    fn inquiry_xml_body() {
        let c = client(Format::Xml);
        let p = InquiryParams {
            year: Some("2019".into()),
            month: Some("02".into()),
            nomor_identitas: Some("3201".into()),
            amount: Some(50000),
            ..params()
        };
        let (ct, body) = c.encode(&c.inquiry_fields(&p));
        assert_eq!(ct, "application/xml");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "<?xml version=\"1.0\"?>
<mp>
  <commands>inq-pasca</commands>
  <username>123123123</username>
  <code>PLNNONTAG</code>
  <hp>3225030005901</hp>
  <ref_id>09128374655</ref_id>
  <year>2019</year>
  <month>02</month>
  <nomor_identitas>3201</nomor_identitas>
  <desc>
    <amount>50000</amount>
  </desc>
  <sign>82c1ec96be5015ea2c6f2417b3acd66b</sign>
</mp>
"
        );
        let json = Value::Object(client(Format::Json).inquiry_fields(&p));
        assert_eq!(json["desc"], json!({"amount": 50000}));
        assert_eq!(json["year"], "2019");
        assert_eq!(json["month"], "02");
    }

    #[test]
    fn pay_status_pricelist_bodies() {
        let c = client(Format::Json);
        assert_eq!(
            Value::Object(c.pay_fields(219346108)),
            json!({"commands": "pay-pasca", "username": "123123123", "tr_id": 219346108,
                   "sign": "24c498b1b8aec8dd84137620fb00c7a0"})
        );
        let (_, body) = c.encode(&c.pay_fields(219346108));
        assert!(String::from_utf8(body)
            .unwrap()
            .contains(r#""tr_id":219346108"#));
        assert_eq!(
            Value::Object(c.check_status_fields("09128374655")),
            json!({"commands": "checkstatus", "username": "123123123", "ref_id": "09128374655",
                   "sign": "04dc55ae0b6425d2b12e975f76b76473"})
        );
        assert_eq!(
            Value::Object(c.pricelist_fields(None, None)),
            json!({"commands": "pricelist-pasca", "username": "123123123",
                   "sign": "359016e2e84f591eb820dc5cc089aa74"})
        );
        assert_eq!(
            Value::Object(c.pricelist_fields(Some("active"), Some("Jawa Barat"))),
            json!({"commands": "pricelist-pasca", "username": "123123123", "status": "active",
                   "province": "Jawa Barat", "sign": "359016e2e84f591eb820dc5cc089aa74"})
        );
        let x = client(Format::Xml);
        let (_, body) = x.encode(&x.pay_fields(7));
        assert!(String::from_utf8(body)
            .unwrap()
            .contains("  <tr_id>7</tr_id>\n"));
    }

    #[test]
    fn debug_redacts_the_key() {
        let c = IakClient::new("http://h", "user", "s3cr3t-key-value");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("user"));
        assert_eq!(c.username(), "user");
        assert_eq!(c.base_url(), "http://h");
        assert_eq!(c.format(), Format::Json);
    }

    #[test]
    fn urls() {
        let c = client(Format::Json);
        assert_eq!(
            c.url("/api/v1/bill/check"),
            "http://127.0.0.1:1/api/v1/bill/check"
        );
        assert_eq!(c.url("api/x"), "http://127.0.0.1:1/api/x");
    }

    const JSON_ANSWER: &str = r#"{"data": {"tr_id": 219346108, "code": "PLNPOSTPAID", "nominal": 300000,
        "response_code": "00", "ok": true, "period": "", "desc": {"tarif": "R1", "daya": 1300,
        "tagihan": {"detail": [{"periode": "201608", "total": 302500}]}}}, "meta": []}"#;

    const XML_ANSWER: &str = "<?xml version=\"1.0\"?>
<mp>
  <tr_id>219346108</tr_id>
  <code>PLNPOSTPAID</code>
  <nominal>300000</nominal>
  <response_code>00</response_code>
  <ok>true</ok>
  <period></period>
  <desc>
    <tarif>R1</tarif>
    <daya>1300</daya>
    <tagihan>
      <detail>
        <periode>201608</periode>
        <total>302500</total>
      </detail>
    </tagihan>
  </desc>
</mp>
";

    #[test]
    fn answers_compare_field_by_field() {
        let j = IakResponse::parse(200, "application/json", JSON_ANSWER.as_bytes());
        let x = IakResponse::parse(200, "application/xml", XML_ANSWER.as_bytes());
        for r in [&j, &x] {
            assert_eq!(r.rc().as_deref(), Some("00"));
            assert_eq!(r.field("tr_id").as_deref(), Some("219346108"));
            assert_eq!(r.field("nominal").as_deref(), Some("300000"));
            assert_eq!(r.field("ok").as_deref(), Some("true"));
            assert_eq!(r.field("period").as_deref(), Some(""));
            assert_eq!(r.field("desc"), None);
            assert_eq!(r.field("missing"), None);
            assert_eq!(
                r.get("desc.daya").and_then(scalar_string).as_deref(),
                Some("1300")
            );
            assert_eq!(
                r.get("desc.tagihan.detail")
                    .and_then(Value::as_array)
                    .map(Vec::len),
                Some(1)
            );
            assert_eq!(
                r.get("desc.tagihan.detail.0.periode")
                    .and_then(Value::as_str),
                Some("201608")
            );
            assert!(r.get("desc.nope").is_none());
            assert!(r.get("desc.tarif.x").is_none());
        }
        assert_eq!(j.get("desc.daya"), Some(&json!(1300)));
    }

    #[test]
    fn pricelist_answers_look_alike() {
        let j = IakResponse::parse(
            200,
            "application/json",
            br#"{"data": {"pasca": [{"code": "PLNPOSTPAID", "fee": 2500}]}, "meta": []}"#,
        );
        let x = IakResponse::parse(
            200,
            "application/xml",
            b"<mp><data><pasca><code>PLNPOSTPAID</code><fee>2500</fee></pasca></data></mp>",
        );
        for r in [&j, &x] {
            let list = r.get("pasca").and_then(Value::as_array).unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(
                r.get("pasca.0.code").and_then(Value::as_str),
                Some("PLNPOSTPAID")
            );
        }
        let two = IakResponse::parse(
            200,
            "text/xml",
            b"<mp><data><pasca><code>A</code></pasca><pasca><code>B</code></pasca></data></mp>",
        );
        assert_eq!(
            two.get("pasca").and_then(Value::as_array).map(Vec::len),
            Some(2)
        );
        let empty = IakResponse::parse(200, "application/xml", b"<mp><data></data></mp>");
        assert_eq!(empty.data, json!({"pasca": []}));
    }

    #[test]
    fn unparseable_bodies_give_null_data() {
        for body in [
            &b""[..],
            b"not json",
            b"{broken",
            b"<mp><a></mp>",
            b"<!DOCTYPE x><mp/>",
            b"\xff",
        ] {
            let r = IakResponse::parse(400, "text/plain", body);
            assert_eq!(r.data, Value::Null);
            assert_eq!(r.rc(), None);
            assert_eq!(r.http_status, 400);
        }
        let r = IakResponse::parse(404, "application/json", br#"{"response_code": "117"}"#);
        assert_eq!(r.rc().as_deref(), Some("117"));
    }

    #[test]
    fn client_error_never_shows_the_key() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Port 1 on localhost: connection refused.
        let c = IakClient::new("http://127.0.0.1:1", "user", "s3cr3t-key-value")
            .with_timeout(Duration::from_secs(5));
        let err = rt.block_on(c.receipt_json(5)).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains(&c.sign("5")), "{text}");
    }
}
