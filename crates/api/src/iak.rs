//! The IAK postpaid protocol (spec/iak.md): `POST /api/v1/bill/check` in JSON or XML.
//! Wire parsing and rendering live here; the flows are in [`crate::gateway`].

use crate::gateway::{self, InquiryInput, InquiryResult, PayResult, StatusResult};
use crate::log::RequestLog;
use crate::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use loket_client::iak::{sign, signatures_match};
use loket_client::xml::{parse_mp, write_mp_pairs};
use loket_core::{Member, Mode, Payment, PaymentState, ProductStatus, Protocol, Quote, Rc, Rupiah};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

/// The request's (and so the answer's) format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// From `Content-Type`; without one, a body starting with `<` is XML.
    fn detect(headers: &HeaderMap, body: &[u8]) -> Format {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes())
            .filter(|v| std::str::from_utf8(v).is_ok())
            .unwrap_or(b"");
        // Case-insensitive `contains`, without a lowercased copy.
        let has = |word: &[u8]| ct.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
        if has(b"xml") {
            Format::Xml
        } else if has(b"json") {
            Format::Json
        } else if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
            Format::Xml
        } else {
            Format::Json
        }
    }
}

/// An answer in the protocol's envelope.
struct Answer {
    status: StatusCode,
    format: Format,
    data: Data,
    /// An inquiry's quote, written straight into the JSON answer (no `data`: the answer's
    /// fields are the quote's, borrowed instead of copied into `Value`s).
    quote: Option<std::sync::Arc<Quote>>,
    /// The price list nests its `data` element in XML too.
    nested_xml: bool,
    log: RequestLog,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (ct, body) = match self.format {
            Format::Json => match &self.quote {
                Some(q) => ("application/json", quote_json(q, "INQUIRY SUCCESS")),
                None => ("application/json", self.data.to_json()),
            },
            Format::Xml => {
                let body = if self.nested_xml {
                    let inner: Map<String, Value> = self
                        .data
                        .0
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                    let data = Value::Object(inner);
                    write_mp_pairs([("data", &data)])
                } else {
                    write_mp_pairs(self.data.0.iter().map(|(k, v)| (*k, v)))
                };
                ("application/xml", body.into_bytes())
            }
        };
        let mut resp = (self.status, [(header::CONTENT_TYPE, ct)], body).into_response();
        // Read by the request log only (an extension costs a map and a box per response).
        if crate::log::lines_on() {
            resp.extensions_mut().insert(self.log);
        }
        resp
    }
}

/// An answer's fields in wire order. Answers have a dozen fields at most, so a linear search on
/// `insert` is cheaper than a map's hashing and key allocations (docs/performance.md).
struct Data(Vec<(&'static str, Value)>);

impl Data {
    fn new() -> Data {
        Data(Vec::with_capacity(16))
    }

    /// Set `key`: in place when present (the field keeps its position), else appended.
    fn insert(&mut self, key: &'static str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// IAK's JSON envelope: `{"data":{...},"meta":[]}`.
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"data\":{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys are this module's literals: nothing in them needs escaping.
            debug_assert!(k.bytes().all(|b| b >= b' ' && b != b'"' && b != b'\\'));
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            // Writing a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, v);
        }
        out.extend_from_slice(b"},\"meta\":[]}");
        out
    }
}

/// `quote_fields(q, message).to_json()`, written from the quote itself: the same bytes without
/// copying each field into a `Value` first.
fn quote_json(q: &Quote, message: &str) -> Vec<u8> {
    struct Fields {
        out: Vec<u8>,
        first: bool,
    }
    impl Fields {
        fn put<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
            if !self.first {
                self.out.push(b',');
            }
            self.first = false;
            self.out.push(b'"');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"\":");
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.out, value);
        }
    }
    let mut f = Fields {
        out: Vec::with_capacity(512),
        first: true,
    };
    f.out.extend_from_slice(b"{\"data\":{");
    f.put("tr_id", &q.tr_id);
    f.put("code", q.code.as_str());
    f.put("hp", q.hp.as_str());
    f.put("tr_name", q.name.as_str());
    f.put("period", q.period.as_str());
    f.put("nominal", &q.nominal.get());
    f.put("admin", &q.admin.get());
    f.put("ref_id", q.ref_id.as_str());
    f.put("response_code", Rc::Success.code());
    f.put("message", message);
    f.put("price", &q.price.get());
    f.put("selling_price", &q.selling_price.get());
    f.put("desc", &*q.desc);
    f.out.extend_from_slice(b"},\"meta\":[]}");
    f.out
}

/// What the request said, for echoing in failure answers.
#[derive(Default)]
struct Echo<'a> {
    tr_id: Option<i64>,
    code: Option<Cow<'a, str>>,
    hp: Option<Cow<'a, str>>,
    ref_id: Option<Cow<'a, str>>,
}

fn failure(
    format: Format,
    status: StatusCode,
    rc: Rc,
    message: &str,
    echo: &Echo,
    member: Option<&str>,
) -> Answer {
    let mut data = Data::new();
    if let Some(t) = echo.tr_id {
        data.insert("tr_id", t.into());
    }
    if let Some(c) = &echo.code {
        data.insert("code", c.as_ref().into());
    }
    if let Some(h) = &echo.hp {
        data.insert("hp", h.as_ref().into());
    }
    if let Some(r) = &echo.ref_id {
        data.insert("ref_id", r.as_ref().into());
    }
    data.insert("response_code", rc.code().into());
    data.insert("message", message.into());
    Answer {
        status,
        format,
        data,
        nested_xml: false,
        quote: None,
        log: RequestLog {
            protocol: "iak",
            member: member.map(str::to_string),
            rc: rc.code().to_string(),
        },
    }
}

fn format_error(
    format: Format,
    status: StatusCode,
    detail: &str,
    echo: &Echo,
    member: Option<&str>,
) -> Answer {
    let message = format!("{}: {detail}", Rc::FormatError.message());
    failure(format, status, Rc::FormatError, &message, echo, member)
}

fn internal_error(
    format: Format,
    echo: &Echo,
    member: Option<&str>,
    e: &loket_store::StoreError,
) -> Answer {
    // A stale read is no failure: the request runs again (`respond`) and this answer is dropped.
    if !matches!(e, loket_store::StoreError::Stale) {
        tracing::error!(error = %e, "store failure");
    }
    failure(
        format,
        StatusCode::OK,
        Rc::DatabaseError,
        Rc::DatabaseError.message(),
        echo,
        member,
    )
}

/// Field access with IAK's leniency: `tr_id`, `ref_id`, `month`, `year` may be numbers.
///
/// A short list searched from the end (a repeated field: the last one counts, as in a JSON map):
/// a request has about six fields, and building and searching a hash map cost more than the
/// search (docs/performance.md, round 6).
struct Fields(Vec<(FieldName, Value)>);

/// A request field's name: one of the names this module asks for without an allocation, any
/// other kept as it came (so that what a request holds does not depend on this list).
#[derive(Debug)]
enum FieldName {
    Known(&'static str),
    Other(Box<str>),
}

/// The field names of IAK's postpaid requests (a `String` for each was ~300 instructions with
/// its allocation and free, six or more per request: docs/performance.md, round 12).
const FIELD_NAMES: [&str; 13] = [
    "commands",
    "username",
    "sign",
    "ref_id",
    "hp",
    "code",
    "tr_id",
    "month",
    "year",
    "nomor_identitas",
    "desc",
    "status",
    "province",
];

impl FieldName {
    /// The protocol's own spelling of `name`, when it is one of [`FIELD_NAMES`].
    fn known(name: &str) -> Option<&'static str> {
        FIELD_NAMES.iter().copied().find(|&known| known == name)
    }

    fn new(name: &str) -> FieldName {
        FieldName::known(name).map_or_else(|| FieldName::Other(name.into()), FieldName::Known)
    }

    /// [`FieldName::new`] for a name already owned: kept without a copy when it is not known.
    fn from_string(name: String) -> FieldName {
        match FieldName::known(&name) {
            Some(known) => FieldName::Known(known),
            None => FieldName::Other(name.into_boxed_str()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            FieldName::Known(s) => s,
            FieldName::Other(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for FieldName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldName, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FieldName, E> {
                Ok(FieldName::new(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    }

    /// A JSON body that must be an object; the error says what to tell the member.
    fn from_json(bytes: &[u8]) -> Result<Fields, String> {
        serde_json::from_slice::<Fields>(bytes).map_err(|e| match e.classify() {
            // Well-formed JSON of another type: the only data error a field list can meet.
            serde_json::error::Category::Data => "the body is not a JSON object".to_string(),
            _ => format!("malformed JSON at line {} column {}", e.line(), e.column()),
        })
    }
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8).min(16));
                while let Some(entry) = map.next_entry::<FieldName, Value>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(Debug)]
enum FieldError {
    Missing(&'static str),
    Invalid(&'static str),
}

impl FieldError {
    fn describe(&self) -> String {
        match self {
            FieldError::Missing(f) => format!("missing field {f}"),
            FieldError::Invalid(f) => format!("invalid field {f}"),
        }
    }
}

/// Longest accepted value of any text field.
const MAX_FIELD_LEN: usize = 128;

impl Fields {
    fn opt(&self, name: &'static str, lenient: bool) -> Result<Option<String>, FieldError> {
        Ok(self.opt_str(name, lenient)?.map(Cow::into_owned))
    }

    fn req(&self, name: &'static str, lenient: bool) -> Result<String, FieldError> {
        self.opt(name, lenient)?.ok_or(FieldError::Missing(name))
    }

    /// [`Fields::req`] borrowing the request's text (no copy) where it can.
    fn req_str(&self, name: &'static str, lenient: bool) -> Result<Cow<'_, str>, FieldError> {
        self.opt_str(name, lenient)?
            .ok_or(FieldError::Missing(name))
    }

    /// [`Fields::opt`] borrowing the request's text (no copy) where it can.
    fn opt_str(
        &self,
        name: &'static str,
        lenient: bool,
    ) -> Result<Option<Cow<'_, str>>, FieldError> {
        let s = match self.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => Cow::Borrowed(s.trim()),
            Some(Value::Number(n)) if lenient && (n.is_u64() || n.is_i64()) => {
                Cow::Owned(n.to_string())
            }
            Some(_) => return Err(FieldError::Invalid(name)),
        };
        if s.len() > MAX_FIELD_LEN || s.chars().any(char::is_control) {
            return Err(FieldError::Invalid(name));
        }
        Ok(if s.is_empty() { None } else { Some(s) })
    }

    /// `desc.amount`: an object `desc` holding a whole-rupiah `amount`.
    fn amount(&self) -> Result<Option<Rupiah>, FieldError> {
        let Some(desc) = self.get("desc") else {
            return Ok(None);
        };
        let Value::Object(desc) = desc else {
            return Err(FieldError::Invalid("desc"));
        };
        match desc.get("amount") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|a| *a > 0)
                .map(|a| Some(Rupiah::new(a)))
                .ok_or(FieldError::Invalid("desc.amount")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|a| *a > 0)
                .map(|a| Some(Rupiah::new(a)))
                .ok_or(FieldError::Invalid("desc.amount")),
            Some(_) => Err(FieldError::Invalid("desc.amount")),
        }
    }
}

/// `POST /api/v1/bill/check/{type}`: the price list filtered by type.
pub async fn bill_check_typed(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(kind): Path<String>,
    body: IakBody,
) -> Response {
    respond(&state, peer, body, Some(kind)).await
}

/// `POST /api/v1/bill/check`.
pub async fn bill_check(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: IakBody,
) -> Response {
    respond(&state, peer, body, None).await
}

/// One IAK request, run inside `loket_store::one_config_read`: its member and product lookups
/// come from the store's cache, and the store confirms them before the request has any effect;
/// in the rare case they had changed (the operator's edit a moment before), the request runs
/// again from its fields (docs/performance.md, rounds 10c and 10d). The fields therefore stay
/// with the request until it ends.
async fn respond(
    state: &AppState,
    peer: SocketAddr,
    body: IakBody,
    kind: Option<String>,
) -> Response {
    let IakBody { format, fields } = body;
    loket_store::one_config_read(&state.store, || {
        dispatch(state, peer, format, kind.clone(), &fields)
    })
    .await
    .into_response()
}

/// Unknown paths: 404, RC 117, in the request's format.
pub async fn not_found(headers: HeaderMap) -> Response {
    let format = Format::detect(&headers, b"");
    failure(
        format,
        StatusCode::NOT_FOUND,
        Rc::PageNotFound,
        Rc::PageNotFound.message(),
        &Echo::default(),
        None,
    )
    .into_response()
}

/// A `POST` of the IAK API, its body read (at most `max_body_bytes`) and parsed: the handlers'
/// last extractor, which answers every way this can fail in the request's format. An extractor,
/// not the handler's first step: axum keeps a handler's future, the request's largest allocation,
/// as large as its largest step for as long as the request runs (a payment's wait on a slow
/// upstream included), and reading and parsing the body is that step. Here it runs in a future
/// of its own, freed before the handler starts (docs/performance.md, round 9).
pub struct IakBody {
    format: Format,
    fields: Fields,
}

impl axum::extract::FromRequest<AppState> for IakBody {
    type Rejection = Response;

    fn from_request(
        req: Request,
        state: &AppState,
    ) -> impl std::future::Future<Output = Result<Self, Response>> + Send {
        Box::pin(read_body(req, state.config.limits.max_body_bytes))
    }
}

async fn read_body(req: Request, limit: usize) -> Result<IakBody, Response> {
    let (parts, body) = req.into_parts();
    if parts.method != Method::POST {
        let format = Format::detect(&parts.headers, b"");
        return Err(failure(
            format,
            StatusCode::NOT_FOUND,
            Rc::PageNotFound,
            Rc::PageNotFound.message(),
            &Echo::default(),
            None,
        )
        .into_response());
    }
    let bytes = match read_limited(body, limit).await {
        Ok(b) => b,
        Err(too_large) => {
            let format = Format::detect(&parts.headers, b"");
            let (status, detail) = if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body larger than {limit} bytes"),
                )
            } else {
                (StatusCode::BAD_REQUEST, "unreadable body".to_string())
            };
            return Err(
                format_error(format, status, &detail, &Echo::default(), None).into_response(),
            );
        }
    };
    let format = Format::detect(&parts.headers, &bytes);
    let parsed = match format {
        Format::Json => Fields::from_json(&bytes),
        Format::Xml => parse_mp(&bytes)
            .map(|m| {
                Fields(
                    m.into_iter()
                        .map(|(k, v)| (FieldName::from_string(k), v))
                        .collect(),
                )
            })
            .map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(fields) => Ok(IakBody { format, fields }),
        Err(detail) => Err(format_error(
            format,
            StatusCode::BAD_REQUEST,
            &detail,
            &Echo::default(),
            None,
        )
        .into_response()),
    }
}

/// Read at most `limit` bytes; `Err(true)` when the body is larger, `Err(false)` when it could
/// not be read. Both protocols read bodies through this.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, bool> {
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            // to_bytes fails with a length-limit error when the body is too large.
            let too_large = std::error::Error::source(&e)
                .map(|s| s.is::<http_body_util::LengthLimitError>())
                .unwrap_or(false);
            Err(too_large || e.to_string().contains("length limit"))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Inquiry,
    Pay,
    Status,
    PriceList,
}

impl Command {
    fn parse(s: &str) -> Option<Command> {
        match s {
            "inq-pasca" => Some(Command::Inquiry),
            "pay-pasca" => Some(Command::Pay),
            "checkstatus" => Some(Command::Status),
            "pricelist-pasca" => Some(Command::PriceList),
            _ => None,
        }
    }
}

async fn dispatch(
    state: &AppState,
    peer: SocketAddr,
    format: Format,
    kind: Option<String>,
    f: &Fields,
) -> Answer {
    let mut echo = Echo {
        code: f.opt_str("code", false).ok().flatten(),
        hp: f.opt_str("hp", false).ok().flatten(),
        ref_id: f.opt_str("ref_id", true).ok().flatten(),
        tr_id: None,
    };
    let commands = match f.req_str("commands", false) {
        Ok(c) => c,
        Err(e) => return format_error(format, StatusCode::BAD_REQUEST, &e.describe(), &echo, None),
    };
    let Some(command) = Command::parse(&commands) else {
        return failure(
            format,
            StatusCode::OK,
            Rc::InvalidCommand,
            Rc::InvalidCommand.message(),
            &echo,
            None,
        );
    };
    // The fields the signature covers come first: nothing else is looked at before it verifies.
    // (username, sign, the signed value)
    type Signed<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);
    let signed = (|| -> Result<Signed<'_>, FieldError> {
        let username = f.req_str("username", false)?;
        let given = f.req_str("sign", false)?;
        let x = match command {
            Command::Inquiry => f.req_str("ref_id", true)?,
            Command::Pay => f.req_str("tr_id", true)?,
            Command::Status => Cow::Borrowed("cs"),
            Command::PriceList => Cow::Borrowed("pl"),
        };
        Ok((username, given, x))
    })();
    let (username, given, x) = match signed {
        Ok(t) => t,
        Err(e) => return format_error(format, StatusCode::BAD_REQUEST, &e.describe(), &echo, None),
    };
    // The store call and each command's future are boxed: this future (allocated for as long as
    // the request runs, a payment's wait on a slow upstream included) holds pointers, not the
    // largest state of every command (docs/performance.md, "Slow upstream").
    let member = match Box::pin(state.store.member_by_username(&username)).await {
        Ok(m) => m,
        Err(e) => return internal_error(format, &echo, None, &e),
    };
    let Some((member, mode)) = authenticate(state, member, &username, &given, &x) else {
        return failure(
            format,
            StatusCode::OK,
            Rc::InvalidSignature,
            Rc::InvalidSignature.message(),
            &echo,
            None,
        );
    };
    let who = Some(member.username.as_str());
    if member.suspended {
        return failure(
            format,
            StatusCode::OK,
            Rc::AccountSuspended,
            Rc::AccountSuspended.message(),
            &echo,
            who,
        );
    }
    if !member.allowlist.allows(peer.ip()) {
        return failure(
            format,
            StatusCode::OK,
            Rc::InvalidIpAddress,
            Rc::InvalidIpAddress.message(),
            &echo,
            who,
        );
    }
    match command {
        Command::Inquiry => Box::pin(inquiry(state, format, &member, mode, f, &mut echo)).await,
        Command::Pay => {
            let tr_id = match x.parse::<i64>() {
                Ok(t) if t > 0 => t,
                _ => {
                    return format_error(
                        format,
                        StatusCode::BAD_REQUEST,
                        "invalid field tr_id",
                        &echo,
                        who,
                    )
                }
            };
            Box::pin(pay(state, format, &member, mode, tr_id)).await
        }
        Command::Status => match f.req("ref_id", true) {
            Ok(ref_id) => Box::pin(check_status(state, format, &member, mode, &ref_id)).await,
            Err(e) => format_error(format, StatusCode::BAD_REQUEST, &e.describe(), &echo, who),
        },
        Command::PriceList => Box::pin(price_list(state, format, &member, kind, f)).await,
    }
}

/// Which key signed the request decides its mode; `None` for an unknown member or a bad signature
/// (indistinguishable to the caller, and computed the same way for both).
fn authenticate(
    state: &AppState,
    member: Option<Arc<Member>>,
    username: &str,
    given: &str,
    x: &str,
) -> Option<(Arc<Member>, Mode)> {
    let (dev_key, live_key) = match &member {
        Some(m) => (m.dev_api_key.as_str(), m.api_key.as_str()),
        None => ("", ""),
    };
    // The live key is tried only when the dev key did not sign: which key signed is the
    // caller's own knowledge, so the shortcut tells them nothing (and spares an md5 per request).
    let dev = signatures_match(&sign(username, dev_key, x), given);
    let live = !dev && signatures_match(&sign(username, live_key, x), given);
    let member = member?;
    let mode = if dev {
        Mode::Sandbox
    } else if live {
        if state.config.sandbox.enabled {
            Mode::Sandbox
        } else {
            Mode::Live
        }
    } else {
        return None;
    };
    Some((member, mode))
}

async fn inquiry(
    state: &AppState,
    format: Format,
    member: &Member,
    mode: Mode,
    f: &Fields,
    echo: &mut Echo<'_>,
) -> Answer {
    let who = Some(member.username.as_str());
    let parsed = (|| -> Result<InquiryInput, FieldError> {
        let code = f.req("code", false)?;
        let number = f.req("hp", false)?;
        let ref_id = f.req("ref_id", true)?;
        let year = f.opt("year", true)?;
        if let Some(y) = &year {
            if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
                return Err(FieldError::Invalid("year"));
            }
        }
        let months = match f.opt("month", true)? {
            None => None,
            Some(m) => Some(
                m.parse::<u32>()
                    .ok()
                    .filter(|m| (1..=12).contains(m))
                    .ok_or(FieldError::Invalid("month"))?,
            ),
        };
        Ok(InquiryInput {
            mode,
            protocol: Protocol::Iak,
            code,
            number,
            ref_id,
            year,
            months,
            nomor_identitas: f.opt("nomor_identitas", false)?,
            amount: f.amount()?,
            lifetime: state.quote_lifetime,
        })
    })();
    let input = match parsed {
        Ok(i) => i,
        Err(e) => return format_error(format, StatusCode::BAD_REQUEST, &e.describe(), echo, who),
    };
    match gateway::inquire(state, member, input).await {
        Ok(InquiryResult::Quote(q)) => quote_answer(format, q, who),
        Ok(InquiryResult::Failed { rc, tr_id }) => {
            echo.tr_id = tr_id;
            failure(format, StatusCode::OK, rc, rc.message(), echo, who)
        }
        Ok(InquiryResult::MissingField(field)) => format_error(
            format,
            StatusCode::BAD_REQUEST,
            &format!("missing field {}", field.name()),
            echo,
            who,
        ),
        Err(e) => internal_error(format, echo, who, &e),
    }
}

/// The inquiry fields of a quote, in the order of spec/iak.md.
fn quote_fields(q: &Quote, message: &str) -> Data {
    let mut d = Data::new();
    d.insert("tr_id", q.tr_id.into());
    d.insert("code", q.code.clone().into());
    d.insert("hp", q.hp.clone().into());
    d.insert("tr_name", q.name.clone().into());
    d.insert("period", q.period.clone().into());
    d.insert("nominal", q.nominal.get().into());
    d.insert("admin", q.admin.get().into());
    d.insert("ref_id", q.ref_id.clone().into());
    d.insert("response_code", Rc::Success.code().into());
    d.insert("message", message.into());
    d.insert("price", q.price.get().into());
    d.insert("selling_price", q.selling_price.get().into());
    d.insert("desc", Value::clone(&q.desc));
    d
}

fn quote_answer(format: Format, q: std::sync::Arc<Quote>, member: Option<&str>) -> Answer {
    let (data, quote) = match format {
        Format::Json => (Data(Vec::new()), Some(q)),
        Format::Xml => (quote_fields(&q, "INQUIRY SUCCESS"), None),
    };
    Answer {
        status: StatusCode::OK,
        format,
        data,
        quote,
        nested_xml: false,
        log: RequestLog {
            protocol: "iak",
            member: member.map(str::to_string),
            rc: Rc::Success.code().to_string(),
        },
    }
}

fn log(member: &Member, rc: Rc) -> RequestLog {
    RequestLog {
        protocol: "iak",
        member: Some(member.username.clone()),
        rc: rc.code().to_string(),
    }
}

fn echo_quote(q: &Quote) -> Echo<'_> {
    Echo {
        tr_id: Some(q.tr_id),
        code: Some(Cow::Borrowed(&q.code)),
        hp: Some(Cow::Borrowed(&q.hp)),
        ref_id: Some(Cow::Borrowed(&q.ref_id)),
    }
}

/// The payment fields: the inquiry fields, then `datetime`, `balance`, `noref` (spec/iak.md).
fn payment_fields(q: &Quote, p: &Payment, message: &str) -> Data {
    let mut d = quote_fields(q, message);
    d.insert("response_code", p.rc.code().into());
    if p.state == PaymentState::Success {
        d.insert("desc", Value::clone(&q.paid_desc));
    }
    d.insert("datetime", loket_core::jakarta::ymdhis(p.updated_at).into());
    // A failed payment's charge was released: the balance is as before it.
    let balance = match p.state {
        PaymentState::Failed => p.balance_after.get() + p.amount.get(),
        _ => p.balance_after.get(),
    };
    d.insert("balance", balance.into());
    d.insert("noref", p.noref.clone().into());
    d
}

fn pay_message(p: &Payment) -> &'static str {
    match p.state {
        PaymentState::Success => "PAYMENT SUCCESS",
        _ => p.rc.message(),
    }
}

async fn pay(state: &AppState, format: Format, member: &Member, mode: Mode, tr_id: i64) -> Answer {
    let who = Some(member.username.as_str());
    match gateway::pay(state, member, mode, tr_id).await {
        Ok(PayResult::Payment { quote, payment }) => Answer {
            status: StatusCode::OK,
            format,
            data: payment_fields(&quote, &payment, pay_message(&payment)),
            nested_xml: false,
            quote: None,
            log: log(member, payment.rc),
        },
        Ok(PayResult::Refused { rc, quote }) => {
            let echo = quote.as_deref().map(echo_quote).unwrap_or_default();
            failure(format, StatusCode::OK, rc, rc.message(), &echo, who)
        }
        Err(e) => internal_error(
            format,
            &Echo {
                tr_id: Some(tr_id),
                ..Echo::default()
            },
            who,
            &e,
        ),
    }
}

async fn check_status(
    state: &AppState,
    format: Format,
    member: &Member,
    mode: Mode,
    ref_id: &str,
) -> Answer {
    let who = Some(member.username.as_str());
    let not_received = "REQUEST PEMBAYARAN BELUM DITERIMA";
    let (data, rc) = match gateway::status(state, member, mode, ref_id).await {
        Ok(StatusResult::Unknown) => {
            let mut d = Data::new();
            d.insert("ref_id", ref_id.into());
            d.insert("response_code", Rc::PaymentRequestNotReceived.code().into());
            d.insert("message", not_received.into());
            d.insert("status", 0.into());
            (d, Rc::PaymentRequestNotReceived)
        }
        Ok(StatusResult::Quoted(q)) => {
            let mut d = quote_fields(&q, not_received);
            d.insert("response_code", Rc::PaymentRequestNotReceived.code().into());
            d.insert("status", 0.into());
            (d, Rc::PaymentRequestNotReceived)
        }
        Ok(StatusResult::Paid { quote, payment }) => {
            let (message, status) = match payment.state {
                PaymentState::Success => ("PAYMENT SUCCESS", 1),
                PaymentState::Pending => ("PENDING / TRANSAKSI SEDANG DIPROSES", 3),
                PaymentState::Failed => (payment.rc.message(), 2),
            };
            let mut d = payment_fields(&quote, &payment, message);
            d.insert("status", status.into());
            (d, payment.rc)
        }
        Err(e) => {
            let echo = Echo {
                ref_id: Some(Cow::Borrowed(ref_id)),
                ..Echo::default()
            };
            return internal_error(format, &echo, who, &e);
        }
    };
    Answer {
        status: StatusCode::OK,
        format,
        data,
        nested_xml: false,
        quote: None,
        log: log(member, rc),
    }
}

async fn price_list(
    state: &AppState,
    format: Format,
    member: &Member,
    kind: Option<String>,
    f: &Fields,
) -> Answer {
    let who = Some(member.username.as_str());
    let status = match f.opt("status", false) {
        Ok(None) => None,
        Ok(Some(s)) if s == "all" => None,
        Ok(Some(s)) if s == "active" => Some(ProductStatus::Active),
        Ok(Some(s)) if s == "non active" => Some(ProductStatus::Inactive),
        _ => {
            return format_error(
                format,
                StatusCode::BAD_REQUEST,
                "invalid field status",
                &Echo::default(),
                who,
            )
        }
    };
    let province = match f.opt("province", false) {
        Ok(p) => p,
        Err(e) => {
            return format_error(
                format,
                StatusCode::BAD_REQUEST,
                &e.describe(),
                &Echo::default(),
                who,
            )
        }
    };
    let products = match state.store.products().await {
        Ok(p) => p,
        Err(e) => return internal_error(format, &Echo::default(), who, &e),
    };
    let pasca: Vec<Value> = products
        .iter()
        .filter(|p| {
            kind.as_deref()
                .is_none_or(|k| p.kind.eq_ignore_ascii_case(k))
        })
        .filter(|p| status.is_none_or(|s| p.status == s))
        .filter(|p| match &province {
            None => true,
            Some(want) => p
                .province
                .as_deref()
                .is_some_and(|have| have.eq_ignore_ascii_case(want)),
        })
        .map(|p| {
            let mut m = Map::new();
            m.insert("code".into(), p.code.clone().into());
            m.insert("name".into(), p.name.clone().into());
            m.insert("status".into(), p.status.iak_code().into());
            m.insert("fee".into(), p.admin.get().into());
            m.insert("komisi".into(), p.commission.get().into());
            m.insert("type".into(), p.kind.clone().into());
            m.insert("category".into(), "postpaid".into());
            if let Some(prov) = &p.province {
                m.insert("province".into(), prov.clone().into());
            }
            Value::Object(m)
        })
        .collect();
    let mut data = Data::new();
    data.insert("pasca", Value::Array(pasca));
    Answer {
        status: StatusCode::OK,
        format,
        data,
        nested_xml: true,
        quote: None,
        log: log(member, Rc::Success),
    }
}

#[derive(serde::Deserialize)]
pub struct ReceiptQuery {
    sign: Option<String>,
}

/// `GET /api/v1/download/{tr_id}`: the receipt as a PDF.
pub async fn receipt_pdf(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(tr_id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ReceiptQuery>,
) -> Response {
    match receipt(&state, peer, &tr_id, q.sign.as_deref()).await {
        Ok((member, lines, _)) => {
            let pdf = crate::pdf::text_page(&lines);
            let mut resp = (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/pdf".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("inline; filename=\"struk-{tr_id}.pdf\""),
                    ),
                ],
                pdf,
            )
                .into_response();
            resp.extensions_mut().insert(log(&member, Rc::Success));
            resp
        }
        Err(answer) => answer.into_response(),
    }
}

/// `GET /api/v1/download/{tr_id}/1`: the receipt as JSON.
pub async fn receipt_json(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((tr_id, kind)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<ReceiptQuery>,
) -> Response {
    if kind != "1" {
        return receipt_not_found().into_response();
    }
    match receipt(&state, peer, &tr_id, q.sign.as_deref()).await {
        Ok((member, _, data)) => Answer {
            status: StatusCode::OK,
            format: Format::Json,
            data,
            nested_xml: false,
            quote: None,
            log: log(&member, Rc::Success),
        }
        .into_response(),
        Err(answer) => answer.into_response(),
    }
}

fn receipt_not_found() -> Answer {
    failure(
        Format::Json,
        StatusCode::NOT_FOUND,
        Rc::PageNotFound,
        Rc::PageNotFound.message(),
        &Echo::default(),
        None,
    )
}

/// The receipt of a paid transaction, for its owner only: a `sign` made with the key that made
/// the transaction, or a request from the member's (non-empty) allowlist. Anything else is 404.
async fn receipt(
    state: &AppState,
    peer: SocketAddr,
    tr_id: &str,
    given: Option<&str>,
) -> Result<(Member, Vec<String>, Data), Answer> {
    let tr_id: i64 = tr_id.parse().map_err(|_| receipt_not_found())?;
    let store_err =
        |e: loket_store::StoreError| internal_error(Format::Json, &Echo::default(), None, &e);
    let quote = state
        .store
        .quote(tr_id)
        .await
        .map_err(store_err)?
        .ok_or_else(receipt_not_found)?;
    let member = state
        .store
        .member_by_id(quote.member_id)
        .await
        .map_err(store_err)?
        .ok_or_else(receipt_not_found)?;
    let key = match quote.mode {
        Mode::Sandbox => &member.dev_api_key,
        Mode::Live => &member.api_key,
    };
    let signed = given
        .is_some_and(|g| signatures_match(&sign(&member.username, key, &tr_id.to_string()), g));
    let allowed = !member.allowlist.is_empty() && member.allowlist.contains(peer.ip());
    if !(signed || allowed) {
        return Err(receipt_not_found());
    }
    let payment = state
        .store
        .payment_by_tr_id(tr_id)
        .await
        .map_err(store_err)?;
    let Some(payment) = payment.filter(|p| p.state == PaymentState::Success) else {
        return Err(receipt_not_found());
    };
    let product = state.store.product(&quote.code).await.map_err(store_err)?;
    let product_name = product.map_or_else(|| quote.code.clone(), |p| p.name.clone());
    let mut d = Data::new();
    let header = format!("STRUK PEMBAYARAN {product_name}");
    let rows = [
        ("HEADER", header.clone()),
        ("NO REFERENSI", payment.noref.clone()),
        ("TANGGAL", loket_core::jakarta::datetime(payment.updated_at)),
        ("NAMA PRODUK", product_name),
        ("ID PELANGGAN", quote.hp.clone()),
        ("NAMA", quote.name.clone()),
        ("PERIODE", quote.period.clone()),
        ("JUMLAH TAGIHAN", quote.nominal.display_idr()),
        ("ADMIN", quote.admin.display_idr()),
        ("TOTAL BAYAR", quote.price.display_idr()),
        ("LOKET", member.name.clone()),
    ];
    let mut lines = vec![header, String::new()];
    for (k, v) in &rows {
        d.insert(k, v.clone().into());
        if *k != "HEADER" {
            lines.push(format!("{k:<15}: {v}"));
        }
    }
    lines.push(String::new());
    lines.push("Simpan struk ini sebagai bukti pembayaran yang sah.".into());
    lines.push("Terima kasih.".into());
    Ok((member, lines, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_keep_the_last_of_a_repeated_name_and_refuse_non_objects() {
        let f =
            Fields::from_json(br#"{"hp":"1","ref_id":7,"hp":" 2 ","desc":{"amount":5}}"#).unwrap();
        assert_eq!(f.opt("hp", false).unwrap().as_deref(), Some("2"));
        assert_eq!(f.opt("ref_id", true).unwrap().as_deref(), Some("7"));
        assert!(matches!(
            f.opt("ref_id", false),
            Err(FieldError::Invalid(_))
        ));
        assert_eq!(f.opt("code", false).unwrap(), None);
        assert_eq!(f.amount().unwrap(), Some(Rupiah::new(5)));
        for body in [&b"[]"[..], b"null", b"42", b"\"x\""] {
            assert_eq!(
                Fields::from_json(body).err().as_deref(),
                Some("the body is not a JSON object")
            );
        }
        for body in [&b"{"[..], b"", b"{\"a\":1} x", b"{\"a\" 1}"] {
            let e = Fields::from_json(body).err().unwrap();
            assert!(e.starts_with("malformed JSON at line 1 column "), "{e}");
        }
    }

    /// Known names are kept without an allocation, others as they came; a name with escapes
    /// is read as its text. What `get` answers does not depend on which kind a name is.
    #[test]
    fn field_names_known_or_not_are_found_by_their_text() {
        let f = Fields::from_json(
            br#"{"username":"a","x-extra":"b","h\u0070":"c","ref_id":"d","ref\u005fid":"e"}"#,
        )
        .unwrap();
        let names: Vec<_> = f.0.iter().map(|(k, _)| k).collect();
        assert!(matches!(names[0], FieldName::Known("username")));
        assert!(matches!(names[1], FieldName::Other(s) if &**s == "x-extra"));
        assert!(matches!(names[2], FieldName::Known("hp")), "{names:?}");
        assert!(matches!(names[4], FieldName::Known("ref_id")), "{names:?}");
        assert_eq!(f.opt("username", false).unwrap().as_deref(), Some("a"));
        assert_eq!(f.get("x-extra"), Some(&Value::from("b")));
        assert_eq!(f.opt("hp", false).unwrap().as_deref(), Some("c"));
        assert_eq!(f.opt("ref_id", false).unwrap().as_deref(), Some("e"));
        assert_eq!(f.get("sign"), None);
    }

    /// The inquiry answer written from the quote is byte for byte the one built from its fields,
    /// whatever the strings hold (escapes, control characters, non-ASCII) and however deep `desc`.
    #[test]
    fn a_quote_written_directly_is_the_answer_built_from_its_fields() {
        let mut q = loket_store::testing::sandbox_quote(7, "r\"e\\f\u{1}é", 324_502, 323_702);
        q.tr_id = 100_000_123;
        q.code = "PG\tAS".into();
        q.hp = "0110\n010000".into();
        q.name = "NGATIMUN \u{2028} 名".into();
        q.period = String::new();
        q.desc = serde_json::json!({
            "address": "-", "usage": 35, "x": -1.5, "ok": true, "none": null,
            "tagihan": {"detail": [{"periode": "201608", "total": 302_500}]},
        })
        .into();
        for message in ["INQUIRY SUCCESS", "\"quoted\""] {
            assert_eq!(
                String::from_utf8(quote_json(&q, message)).unwrap(),
                String::from_utf8(quote_fields(&q, message).to_json()).unwrap()
            );
        }
    }
}
