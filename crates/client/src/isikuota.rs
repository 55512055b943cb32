//! A signing client for the isikuota-compatible protocol (`shared/spec/isikuota.md`).
//!
//! Bodies are built as the PHP sample (seed 000) builds them: the business params sorted by key,
//! then `api_id`, `timestamp` (unix seconds, an integer) and `signature`. The signature is
//! computed over the JSON actually sent: the params are serialised, read back with
//! [`canonical::parse`] and canonicalised with [`canonical::business_params`] and
//! [`canonical::canonical_body`], the very functions loket verifies with, so client and server
//! agree by construction.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::canonical::{self, CanonError, AUTH_FIELDS};
pub use crate::error::ClientError;

/// Where `inquiry`, `pay-pasca` and `status` are posted.
pub const ORDER_PATH: &str = "/v1/order";
/// Where the balance is asked for.
pub const BALANCE_PATH: &str = "/v1/balance";
/// Default timeout of a request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Unix seconds from the system clock.
fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A signing isikuota client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct IsikuotaClient {
    http: reqwest::Client,
    base_url: String,
    api_id: String,
    api_key: String,
    secret_key: String,
    timeout: Duration,
    clock: fn() -> i64,
}

impl fmt::Debug for IsikuotaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsikuotaClient")
            .field("base_url", &self.base_url)
            .field("api_id", &self.api_id)
            .field("api_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl IsikuotaClient {
    /// A client with a 30 s timeout and the system clock. `base_url` is e.g.
    /// `http://127.0.0.1:8080` (a trailing slash is ignored). Proxy environment variables are
    /// not used.
    pub fn new(
        base_url: impl Into<String>,
        api_id: impl Into<String>,
        api_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let base_url = base_url.into().trim_end_matches('/').to_string();
        IsikuotaClient {
            http,
            base_url,
            api_id: api_id.into(),
            api_key: api_key.into(),
            secret_key: secret_key.into(),
            timeout: DEFAULT_TIMEOUT,
            clock: system_clock,
        }
    }

    /// Send through `http` instead of a client of its own (e.g. one speaking HTTP/2).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The source of the `timestamp` of signed requests (unix seconds), e.g. a fixed past time
    /// to get `TIMESTAMP_EXPIRED`.
    pub fn with_clock(mut self, f: fn() -> i64) -> Self {
        self.clock = f;
        self
    }

    pub fn api_id(&self) -> &str {
        &self.api_id
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The timestamp the next signed request carries.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The business params of an inquiry. `ref_id: None` is sent as `""` (loket generates
    /// one); `testing` is sent only when true (absent means false).
    pub fn inquiry_params(
        code: &str,
        customer_no: &str,
        ref_id: Option<&str>,
        testing: bool,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("cmd".into(), "inquiry".into());
        m.insert("code".into(), code.into());
        m.insert("customer_no".into(), customer_no.into());
        m.insert("ref_id".into(), ref_id.unwrap_or("").into());
        if testing {
            m.insert("testing".into(), true.into());
        }
        m
    }

    /// The business params of a `pay-pasca`; `testing` is sent only when true.
    pub fn pay_params(
        code: &str,
        customer_no: &str,
        ref_id: &str,
        testing: bool,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("cmd".into(), "pay-pasca".into());
        m.insert("code".into(), code.into());
        m.insert("customer_no".into(), customer_no.into());
        m.insert("ref_id".into(), ref_id.into());
        if testing {
            m.insert("testing".into(), true.into());
        }
        m
    }

    /// The business params of a `status`; `testing` is sent only when true (without it loket
    /// looks the ref_id up in both modes).
    pub fn status_params(ref_id: &str, testing: bool) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("cmd".into(), "status".into());
        m.insert("ref_id".into(), ref_id.into());
        if testing {
            m.insert("testing".into(), true.into());
        }
        m
    }

    /// The body of a signed request: the business params (`path_params`, less any `api_id`,
    /// `timestamp` or `signature` in it) sorted by key, then `api_id`, `timestamp` and
    /// `signature`, as the PHP sample's `array_merge` orders them.
    ///
    /// Params that cannot be canonicalised (nested deeper than [`canonical::MAX_DEPTH`], which
    /// loket refuses as malformed anyway) still give a body, with an empty signature, so that
    /// such a request can be sent; [`IsikuotaClient::try_signed_body`] reports them instead.
    pub fn signed_body(&self, path_params: Map<String, Value>, timestamp: i64) -> Vec<u8> {
        let (mut body, signature) = self.sign_fields(path_params, timestamp);
        body.insert("signature".into(), signature.unwrap_or_default().into());
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// [`IsikuotaClient::signed_body`], or why the params cannot be canonicalised.
    pub fn try_signed_body(
        &self,
        path_params: Map<String, Value>,
        timestamp: i64,
    ) -> Result<Vec<u8>, CanonError> {
        let (mut body, signature) = self.sign_fields(path_params, timestamp);
        body.insert("signature".into(), signature?.into());
        Ok(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// The fields but `signature` in the order they are sent, and the signature over them.
    fn sign_fields(
        &self,
        params: Map<String, Value>,
        timestamp: i64,
    ) -> (Map<String, Value>, Result<String, CanonError>) {
        let mut fields: Vec<(String, Value)> = params
            .into_iter()
            .filter(|(k, _)| !AUTH_FIELDS.contains(&k.as_str()))
            .collect();
        fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut body: Map<String, Value> = fields.into_iter().collect();
        body.insert("api_id".into(), self.api_id.clone().into());
        body.insert("timestamp".into(), timestamp.into());
        // Read the params back from the JSON text that is sent (adding `signature` at the end
        // changes none of it), exactly as the server will.
        let unsigned = serde_json::to_vec(&body).unwrap_or_default();
        let signature = canonical::parse(&unsigned)
            .and_then(|parsed| canonical::business_params(&parsed))
            .map(|business| {
                canonical::signature(
                    &self.api_id,
                    &self.api_key,
                    &self.secret_key,
                    &timestamp.to_string(),
                    &business,
                )
            });
        (body, signature)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{}", self.base_url, path)
        } else {
            format!("{}/{}", self.base_url, path)
        }
    }

    /// `cmd = inquiry`. `ref_id: None` is sent as `""`: loket generates one and answers it.
    pub async fn inquiry(
        &self,
        code: &str,
        customer_no: &str,
        ref_id: Option<&str>,
        testing: bool,
    ) -> Result<IsikuotaResponse, ClientError> {
        let params = Self::inquiry_params(code, customer_no, ref_id, testing);
        self.send_params(ORDER_PATH, params).await
    }

    /// `cmd = pay-pasca` for the `ref_id` of an inquiry.
    pub async fn pay(
        &self,
        code: &str,
        customer_no: &str,
        ref_id: &str,
        testing: bool,
    ) -> Result<IsikuotaResponse, ClientError> {
        let params = Self::pay_params(code, customer_no, ref_id, testing);
        self.send_params(ORDER_PATH, params).await
    }

    /// `cmd = status` of a ref_id.
    pub async fn status(
        &self,
        ref_id: &str,
        testing: bool,
    ) -> Result<IsikuotaResponse, ClientError> {
        self.send_params(ORDER_PATH, Self::status_params(ref_id, testing))
            .await
    }

    /// `POST /v1/balance`: no business params, so the canonical body is the empty string.
    pub async fn balance(&self) -> Result<IsikuotaResponse, ClientError> {
        self.send_params(BALANCE_PATH, Map::new()).await
    }

    /// Signs `params` with the clock's timestamp and posts them to `path` (relative to the base
    /// URL).
    pub async fn send_params(
        &self,
        path: &str,
        params: Map<String, Value>,
    ) -> Result<IsikuotaResponse, ClientError> {
        let body = self.signed_body(params, self.now());
        self.post_raw(path, body).await
    }

    /// Posts `body` as is (nothing added, nothing signed) as `application/json` to `path`
    /// (relative to the base URL).
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<IsikuotaResponse, ClientError> {
        let resp = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout)
            .send()
            .await?;
        IsikuotaResponse::read(resp).await
    }
}

/// An HTTP answer of an isikuota server, whatever its status.
#[derive(Clone, Debug)]
pub struct IsikuotaResponse {
    pub http_status: u16,
    /// The body as text (lossy if it was not UTF-8).
    pub body: String,
    /// The parsed envelope; `Null` when the body is not JSON.
    pub json: Value,
}

impl IsikuotaResponse {
    async fn read(resp: reqwest::Response) -> Result<IsikuotaResponse, ClientError> {
        let http_status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok(IsikuotaResponse::parse(http_status, &body))
    }

    /// Builds a response from its parts.
    pub fn parse(http_status: u16, body: &[u8]) -> IsikuotaResponse {
        IsikuotaResponse {
            http_status,
            body: String::from_utf8_lossy(body).into_owned(),
            json: serde_json::from_slice(body).unwrap_or(Value::Null),
        }
    }

    /// The envelope's `code`, e.g. `BILL_INQUIRY_SUCCESS` or `INVALID_SIGNATURE`.
    pub fn code(&self) -> Option<&str> {
        self.json.get("code")?.as_str()
    }

    /// The envelope's `success`.
    pub fn success(&self) -> Option<bool> {
        self.json.get("success")?.as_bool()
    }

    /// The envelope's `message`.
    pub fn message(&self) -> Option<&str> {
        self.json.get("message")?.as_str()
    }

    /// The envelope's `data`; `None` when missing or null.
    pub fn data(&self) -> Option<&Value> {
        self.json.get("data").filter(|v| !v.is_null())
    }

    /// The envelope's `errors` (each invalid field with its reason); `None` when missing or null.
    pub fn errors(&self) -> Option<&Value> {
        self.json.get("errors").filter(|v| !v.is_null())
    }

    /// A value at a dotted path into `data`, e.g. `ref_id` or `desc.detail.0.periode` (numeric
    /// segments index arrays).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut cur = self.data()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Json;
    use serde_json::json;

    // The known vector of `canonical::tests::known_vector`, which the seed's PHP code gives too.
    const VECTOR_SIGNATURE: &str =
        "5f6568692558ed57b78a9177272b52dace2c337fcb9b2a9fae8dfdd99628f629";
    const TS: i64 = 1_700_000_000;

    fn client() -> IsikuotaClient {
        IsikuotaClient::new("http://127.0.0.1:1/", "LK1", "k", "s")
    }

    fn text(body: &[u8]) -> String {
        String::from_utf8(body.to_vec()).unwrap()
    }

    fn keys(body: &[u8]) -> Vec<String> {
        match canonical::parse(body).unwrap() {
            Json::Object(members) => members.into_iter().map(|(k, _)| k).collect(),
            _ => panic!("not an object"),
        }
    }

    /// Verifies a body the way loket does, with the canonical functions.
    fn verifies(body: &[u8], api_key: &str, secret: &str) -> bool {
        let parsed = canonical::parse(body).unwrap();
        let Json::Object(fields) = &parsed else {
            return false;
        };
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (Some(Json::String(api_id)), Some(Json::Number(ts)), Some(Json::String(given))) =
            (get("api_id"), get("timestamp"), get("signature"))
        else {
            return false;
        };
        let business = canonical::business_params(&parsed).unwrap();
        let hash = canonical::body_hash(&canonical::canonical_body(&business));
        let expected = canonical::sign(
            secret,
            &canonical::string_to_sign(&api_id, api_key, &ts, &hash),
        );
        canonical::signatures_match(&expected, &given)
    }

    #[test]
    fn inquiry_body_is_what_the_php_sample_sends() {
        let c = client();
        let params = IsikuotaClient::inquiry_params("MPBPJS", "1234567890", Some("INQ-1"), false);
        let body = c.signed_body(params, TS);
        assert_eq!(
            text(&body),
            format!(
                r#"{{"cmd":"inquiry","code":"MPBPJS","customer_no":"1234567890","ref_id":"INQ-1","api_id":"LK1","timestamp":1700000000,"signature":"{VECTOR_SIGNATURE}"}}"#
            )
        );
        assert!(verifies(&body, "k", "s"));
        assert!(!verifies(&body, "k", "other secret"));
        assert!(!verifies(&body, "other key", "s"));
    }

    #[test]
    fn inquiry_without_ref_id_and_in_testing_mode() {
        let c = client();
        let body = c.signed_body(
            IsikuotaClient::inquiry_params("MPBPJS", "1234567890", None, true),
            TS,
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ref_id"], "");
        assert_eq!(v["testing"], true);
        assert_eq!(
            keys(&body),
            [
                "cmd",
                "code",
                "customer_no",
                "ref_id",
                "testing",
                "api_id",
                "timestamp",
                "signature"
            ]
        );
        assert!(verifies(&body, "k", "s"));
        assert_ne!(v["signature"], VECTOR_SIGNATURE);
    }

    #[test]
    fn pay_and_status_bodies() {
        let c = client();
        let body = c.signed_body(
            IsikuotaClient::pay_params("MPBPJS", "1234567890", "INQ-1", false),
            TS,
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["cmd"], "pay-pasca");
        assert_eq!(v["ref_id"], "INQ-1");
        assert!(v.get("testing").is_none());
        assert!(verifies(&body, "k", "s"));

        let body = c.signed_body(IsikuotaClient::status_params("INQ-1", false), TS);
        assert_eq!(
            keys(&body),
            ["cmd", "ref_id", "api_id", "timestamp", "signature"]
        );
        assert!(verifies(&body, "k", "s"));
        let body = c.signed_body(IsikuotaClient::status_params("INQ-1", true), TS);
        assert_eq!(
            keys(&body),
            [
                "cmd",
                "ref_id",
                "testing",
                "api_id",
                "timestamp",
                "signature"
            ]
        );
        assert!(verifies(&body, "k", "s"));
    }

    #[test]
    fn balance_body_signs_the_empty_canonical_body() {
        let body = client().signed_body(Map::new(), TS);
        // python3 -c 'import hashlib,hmac;print(hmac.new(b"s",b"LK1|k|1700000000|"+hashlib.sha256(b"").hexdigest().encode(),hashlib.sha256).hexdigest())'
        assert_eq!(
            text(&body),
            r#"{"api_id":"LK1","timestamp":1700000000,"signature":"402c7ffdf66027e732e03f8cb68e200da711fbea30cb4cae02f452395e371475"}"#
        );
        assert!(verifies(&body, "k", "s"));
    }

    #[test]
    fn arbitrary_params_are_sorted_and_verify() {
        let params = json!({
            "ref_id": "a/b",
            "customer_no": 1234567890,
            "name": "Dédé Şükür 王 \u{2028} \"q\" \\",
            "amount": 1.50,
            "big": 9007199254740993_u64,
            "nested": {"z": 1, "a": [true, null, {}], "e": 1e20},
            "Zed": "upper first",
            "cmd": "inquiry",
        });
        let Value::Object(params) = params else {
            unreachable!()
        };
        let body = client().signed_body(params, TS);
        assert_eq!(
            keys(&body),
            [
                "Zed",
                "amount",
                "big",
                "cmd",
                "customer_no",
                "name",
                "nested",
                "ref_id",
                "api_id",
                "timestamp",
                "signature"
            ]
        );
        assert!(verifies(&body, "k", "s"));
        let text = text(&body);
        // Nested keys keep their order.
        assert!(
            text.contains(r#""nested":{"z":1,"a":[true,null,{}],"e":1e+20}"#),
            "{text}"
        );
        // What is signed, as PHP's json_encode writes it (checked with php-cli).
        let parsed = canonical::parse(&body).unwrap();
        assert_eq!(
            canonical::canonical_body(&canonical::business_params(&parsed).unwrap()),
            r#"{"Zed":"upper first","amount":1.5,"big":9007199254740993,"cmd":"inquiry","customer_no":1234567890,"name":"Dédé Şükür 王 \u2028 \"q\" \\","nested":{"z":1,"a":[true,null,[]],"e":1.0e+20},"ref_id":"a/b"}"#
        );
        // The number stays a number.
        assert!(text.contains(r#""customer_no":1234567890,"#), "{text}");
    }

    #[test]
    fn auth_fields_in_params_are_replaced_not_doubled() {
        let params = json!({"cmd": "status", "api_id": "X", "timestamp": 5, "signature": "bad"});
        let Value::Object(params) = params else {
            unreachable!()
        };
        let body = client().signed_body(params, TS);
        assert_eq!(keys(&body), ["cmd", "api_id", "timestamp", "signature"]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["api_id"], "LK1");
        assert_eq!(v["timestamp"], TS);
        assert!(verifies(&body, "k", "s"));
    }

    #[test]
    fn params_too_deep_to_canonicalise() {
        let mut deep = json!(1);
        for _ in 0..canonical::MAX_DEPTH {
            deep = json!([deep]);
        }
        let mut params = Map::new();
        params.insert("deep".into(), deep);
        let c = client();
        assert_eq!(
            c.try_signed_body(params.clone(), TS),
            Err(CanonError::TooDeep)
        );
        let body = c.signed_body(params, TS);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["signature"], "");
        assert_eq!(v["api_id"], "LK1");
        // One level less is fine.
        let mut ok = json!(1);
        for _ in 0..canonical::MAX_DEPTH - 2 {
            ok = json!([ok]);
        }
        let mut params = Map::new();
        params.insert("ok".into(), ok);
        let body = c.try_signed_body(params, TS).unwrap();
        assert!(verifies(&body, "k", "s"));
    }

    #[test]
    fn clock_and_accessors() {
        let c = client().with_clock(|| 42);
        assert_eq!(c.now(), 42);
        assert_eq!(c.api_id(), "LK1");
        assert_eq!(c.base_url(), "http://127.0.0.1:1");
        assert_eq!(c.url("/v1/order"), "http://127.0.0.1:1/v1/order");
        assert_eq!(c.url("v1/balance"), "http://127.0.0.1:1/v1/balance");
        let now = client().now();
        assert!(now > TS, "{now}");
    }

    #[test]
    fn debug_redacts_the_keys() {
        let c = IsikuotaClient::new("http://h", "LK1", "ap1-k3y-value", "s3cr3t-value");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("ap1-k3y"), "{dbg}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("LK1"));
    }

    #[test]
    fn responses() {
        let r = IsikuotaResponse::parse(
            200,
            br#"{"success":true,"code":"BILL_INQUIRY_SUCCESS","message":"Tagihan berhasil ditemukan",
                "data":{"ref_id":"INQ-001","tagihan":22500,"desc":{"detail":[{"periode":"01"}]}},
                "errors":null,"meta":null}"#,
        );
        assert_eq!(r.code(), Some("BILL_INQUIRY_SUCCESS"));
        assert_eq!(r.success(), Some(true));
        assert_eq!(r.message(), Some("Tagihan berhasil ditemukan"));
        assert_eq!(r.get("ref_id"), Some(&json!("INQ-001")));
        assert_eq!(r.get("tagihan"), Some(&json!(22500)));
        assert_eq!(r.get("desc.detail.0.periode"), Some(&json!("01")));
        assert_eq!(r.get("desc.nope"), None);
        assert_eq!(r.errors(), None);
        let r = IsikuotaResponse::parse(
            400,
            br#"{"success":false,"code":"VALIDATION_ERROR","data":null,"errors":{"code":"required"}}"#,
        );
        assert_eq!(r.data(), None);
        assert_eq!(r.errors(), Some(&json!({"code": "required"})));
        for body in [&b""[..], b"not json", b"\xff", b"<mp/>"] {
            let r = IsikuotaResponse::parse(502, body);
            assert_eq!(r.json, Value::Null);
            assert_eq!(r.code(), None);
            assert_eq!(r.success(), None);
            assert_eq!(r.data(), None);
            assert_eq!(r.http_status, 502);
        }
    }

    #[test]
    fn client_error_never_shows_the_keys() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Port 1 on localhost: connection refused.
        let c = IsikuotaClient::new("http://127.0.0.1:1", "LK1", "ap1-k3y", "s3cr3t")
            .with_timeout(Duration::from_secs(5));
        let err = rt.block_on(c.balance()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("ap1-k3y"), "{text}");
    }
}
