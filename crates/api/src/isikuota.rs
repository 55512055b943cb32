//! The isikuota protocol (spec/isikuota.md): `POST /v1/order` (`cmd` inquiry, pay-pasca, status)
//! and `POST /v1/balance`, HMAC-SHA256 signed over PHP-canonical JSON. Wire handling only; the
//! flows are in [`crate::gateway`], the codes in the one RC table of `loket_core::rc`.

use crate::gateway::{self, InquiryInput, InquiryResult, PayResult, StatusResult};
use crate::log::RequestLog;
use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use loket_client::canonical::{self, Json};
use loket_core::{
    jakarta, Member, Mode, Payment, PaymentState, Protocol, Quote, QuoteLifetime, Rc,
};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// An answer in isikuota's envelope.
struct Reply {
    status: StatusCode,
    success: bool,
    code: &'static str,
    message: String,
    data: Value,
    errors: Value,
    log: RequestLog,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let body = json!({
            "success": self.success,
            "code": self.code,
            "message": self.message,
            "data": self.data,
            "errors": self.errors,
            "meta": Value::Null,
        });
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if crate::log::lines_on() {
            resp.extensions_mut().insert(self.log);
        }
        resp
    }
}

/// isikuota's message for each of its codes.
fn message(code: &str) -> &'static str {
    match code {
        "VALIDATION_ERROR" => "Data yang dikirim tidak valid",
        "INVALID_SIGNATURE" => "Signature tidak valid",
        "TIMESTAMP_EXPIRED" => "Timestamp sudah kedaluwarsa",
        "IP_NOT_ALLOWED" => "IP tidak diizinkan",
        "ACCOUNT_SUSPENDED" => "Akun ditangguhkan",
        "PRODUCT_NOT_FOUND" => "Produk tidak ditemukan",
        "PRODUCT_UNAVAILABLE" => "Produk sedang tidak tersedia",
        "BILL_NOT_FOUND" => "Tagihan tidak ditemukan",
        "BILL_ALREADY_PAID" => "Tagihan sudah dibayar",
        "INQUIRY_NOT_FOUND" => "Inquiry tidak ditemukan",
        "INQUIRY_EXPIRED" => "Sesi inquiry sudah berakhir",
        "DUPLICATE_REF_ID" => "ref_id sudah digunakan",
        "INSUFFICIENT_BALANCE" => "Saldo tidak mencukupi",
        "BILL_PAYMENT_FAILED" => "Pembayaran tagihan gagal",
        "BILL_PAYMENT_PENDING" => "Pembayaran sedang diproses",
        "BILLER_TIMEOUT" => "Biller tidak merespons",
        "BILLER_ERROR" => "Biller sedang mengalami gangguan",
        "RATE_LIMITED" => "Terlalu banyak permintaan",
        _ => "Terjadi kesalahan pada server",
    }
}

fn log(member: Option<&Member>, code: &str) -> RequestLog {
    RequestLog {
        protocol: "isikuota",
        member: member.map(|m| m.username.clone()),
        rc: code.to_string(),
    }
}

/// A request refused with `code` (and its HTTP status) before or without processing.
fn refuse(
    status: StatusCode,
    code: &'static str,
    detail: Option<&str>,
    member: Option<&Member>,
) -> Reply {
    let message = match detail {
        Some(d) => format!("{} ({d})", message(code)),
        None => message(code).to_string(),
    };
    Reply {
        status,
        success: false,
        code,
        message,
        data: Value::Null,
        errors: Value::Null,
        log: log(member, code),
    }
}

/// VALIDATION_ERROR naming each invalid field.
fn invalid(errors: &[(&str, &str)], member: Option<&Member>) -> Reply {
    let mut map = Map::new();
    for (field, reason) in errors {
        map.insert((*field).to_string(), Value::String((*reason).to_string()));
    }
    Reply {
        errors: Value::Object(map),
        ..refuse(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", None, member)
    }
}

/// A refusal for a core outcome, through the one RC table.
fn refuse_rc(rc: Rc, member: Option<&Member>) -> Reply {
    let e = rc.entry();
    let status = StatusCode::from_u16(e.isikuota_http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refuse(status, e.isikuota, Some(e.message), member)
}

fn internal(e: &loket_store::StoreError, member: Option<&Member>) -> Reply {
    tracing::error!(error = %e, "store failure");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        None,
        member,
    )
}

/// The authenticated request: its member and its business params.
struct Signed {
    member: Arc<Member>,
    params: Map<String, Value>,
}

async fn read_body(state: &AppState, req: Request) -> Result<axum::body::Bytes, Reply> {
    let limit = state.config.limits.max_body_bytes;
    crate::iak::read_limited(req.into_body(), limit)
        .await
        .map_err(|too_large| {
            if too_large {
                Reply {
                    errors: json!({"body": format!("larger than {limit} bytes")}),
                    ..refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "VALIDATION_ERROR",
                        None,
                        None,
                    )
                }
            } else {
                invalid(&[("body", "unreadable")], None)
            }
        })
}

/// Parse, authenticate (HMAC over the canonical body, constant-time), check the timestamp window,
/// suspension and allowlist. Nothing else is looked at before the signature verifies.
async fn authenticate(state: &AppState, peer: SocketAddr, bytes: &[u8]) -> Result<Signed, Reply> {
    let parsed =
        canonical::parse(bytes).map_err(|_| invalid(&[("body", "malformed JSON")], None))?;
    let Json::Object(fields) = &parsed else {
        return Err(invalid(&[("body", "must be a JSON object")], None));
    };
    let get = |k: &str| fields.iter().find(|(name, _)| name == k).map(|(_, v)| v);
    let api_id = match get("api_id") {
        Some(Json::String(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
        Some(_) => return Err(invalid(&[("api_id", "must be a string")], None)),
        None => return Err(invalid(&[("api_id", "required")], None)),
    };
    let timestamp = match get("timestamp") {
        Some(Json::Number(n))
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.len() <= 12 =>
        {
            n.clone()
        }
        Some(_) => {
            return Err(invalid(
                &[("timestamp", "must be an integer (unix seconds)")],
                None,
            ))
        }
        None => return Err(invalid(&[("timestamp", "required")], None)),
    };
    let given = match get("signature") {
        Some(Json::String(s)) if s.len() <= 128 => s.clone(),
        Some(_) => return Err(invalid(&[("signature", "must be a string")], None)),
        None => return Err(invalid(&[("signature", "required")], None)),
    };
    let business = canonical::business_params(&parsed)
        .map_err(|_| invalid(&[("body", "must be a JSON object")], None))?;
    let body_hash = canonical::body_hash(&canonical::canonical_body(&business));
    let member = state
        .store
        .member_by_api_id(&api_id)
        .await
        .map_err(|e| internal(&e, None))?;
    // Unknown api_id and a wrong signature cost the same and answer the same.
    let (api_key, secret) = match &member {
        Some(m) => (m.api_key.as_str(), m.secret_key.as_str()),
        None => ("", "unknown-member"),
    };
    let expected = canonical::sign(
        secret,
        &canonical::string_to_sign(&api_id, api_key, &timestamp, &body_hash),
    );
    let matches = canonical::signatures_match(&expected, &given);
    let member = match member {
        Some(m) if matches => m,
        _ => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "INVALID_SIGNATURE",
                None,
                None,
            ))
        }
    };
    let ts: i64 = timestamp.parse().unwrap_or(0);
    if (jakarta::now() - ts).abs() > state.config.isikuota.timestamp_window_secs {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "TIMESTAMP_EXPIRED",
            None,
            Some(&member),
        ));
    }
    if member.suspended {
        return Err(refuse_rc(Rc::AccountSuspended, Some(&member)));
    }
    if !member.allowlist.allows(peer.ip()) {
        return Err(refuse_rc(Rc::InvalidIpAddress, Some(&member)));
    }
    // Field access by serde_json (valid JSON by now; duplicates were refused by the parser).
    let params = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => m,
        _ => return Err(invalid(&[("body", "must be a JSON object")], Some(&member))),
    };
    Ok(Signed { member, params })
}

/// An unknown `/v1/...` path, or a method other than POST.
pub fn not_found() -> Response {
    refuse_rc(Rc::PageNotFound, None).into_response()
}

/// A POST with a readable, authenticated body; anything else is answered here.
async fn accept(state: &AppState, peer: SocketAddr, req: Request) -> Result<Signed, Response> {
    if req.method() != axum::http::Method::POST {
        return Err(not_found());
    }
    let bytes = read_body(state, req)
        .await
        .map_err(IntoResponse::into_response)?;
    authenticate(state, peer, &bytes)
        .await
        .map_err(IntoResponse::into_response)
}

/// `POST /v1/order`.
pub async fn order(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if req.method() != axum::http::Method::POST {
        return not_found();
    }
    let bytes = match read_body(&state, req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // Run again when the members or products it used changed under it (PostgreSQL's cache).
    loket_store::one_config_read(&state.store, || order_request(&state, peer, &bytes)).await
}

async fn order_request(state: &AppState, peer: SocketAddr, bytes: &[u8]) -> Response {
    let signed = match authenticate(state, peer, bytes).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let m = &signed.member;
    let p = Params(&signed.params);
    let cmd = match p.string("cmd") {
        Ok(Some(c)) => c,
        Ok(None) => return invalid(&[("cmd", "required")], Some(m)).into_response(),
        Err(reason) => return invalid(&[("cmd", reason)], Some(m)).into_response(),
    };
    let testing = match p.0.get("testing") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return invalid(&[("testing", "must be a boolean")], Some(m)).into_response(),
    };
    let mode = if testing || state.config.sandbox.enabled {
        Mode::Sandbox
    } else {
        Mode::Live
    };
    match cmd.as_str() {
        "inquiry" => inquiry(state, m, mode, &p).await,
        "pay-pasca" => pay(state, m, mode, &p).await,
        "status" => status(state, m, mode, p.0.contains_key("testing"), &p).await,
        _ => invalid(&[("cmd", "must be inquiry, pay-pasca or status")], Some(m)),
    }
    .into_response()
}

/// `POST /v1/balance`.
pub async fn balance(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let signed = match accept(&state, peer, req).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let m = &signed.member;
    match state.store.balance(m.id, Mode::Live).await {
        Ok(b) => Reply {
            status: StatusCode::OK,
            success: true,
            code: "SUCCESS",
            message: "Saldo berhasil didapatkan".into(),
            data: json!({
                "name": m.name,
                "balance": b.available(),
                "currency": "IDR",
                "checked_at": jakarta::datetime(jakarta::now()),
            }),
            errors: Value::Null,
            log: log(Some(m), "SUCCESS"),
        }
        .into_response(),
        Err(e) => internal(&e, Some(m)).into_response(),
    }
}

struct Params<'a>(&'a Map<String, Value>);

impl Params<'_> {
    /// A text field; numbers are accepted as their text (customer numbers sent as numbers).
    fn string(&self, name: &str) -> Result<Option<String>, &'static str> {
        let s = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => return Err("must be a string"),
        };
        if s.len() > 128 || s.chars().any(char::is_control) {
            return Err("too long or has control characters");
        }
        Ok(if s.is_empty() { None } else { Some(s) })
    }
}

/// Collect `name`'s value or its error into `errors`.
fn field(
    p: &Params<'_>,
    name: &'static str,
    required: bool,
    errors: &mut Vec<(&'static str, &'static str)>,
) -> Option<String> {
    match p.string(name) {
        Ok(Some(v)) => Some(v),
        Ok(None) if required => {
            errors.push((name, "required"));
            None
        }
        Ok(None) => None,
        Err(reason) => {
            errors.push((name, reason));
            None
        }
    }
}

fn inquiry_data(q: &Quote) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("ref_id".into(), q.ref_id.clone().into());
    d.insert("status".into(), "success".into());
    d.insert("customer_no".into(), q.hp.clone().into());
    d.insert("customer_name".into(), q.name.clone().into());
    d.insert("code".into(), q.code.clone().into());
    d.insert("tagihan".into(), q.nominal.get().into());
    d.insert("admin".into(), q.admin.get().into());
    d.insert("total".into(), q.price.get().into());
    d.insert("desc".into(), Value::clone(&q.desc));
    d
}

async fn inquiry(state: &AppState, m: &Member, mode: Mode, p: &Params<'_>) -> Reply {
    let mut errors = Vec::new();
    let code = field(p, "code", true, &mut errors);
    let number = field(p, "customer_no", true, &mut errors);
    let ref_id = field(p, "ref_id", false, &mut errors);
    let year = field(p, "year", false, &mut errors);
    let month = field(p, "month", false, &mut errors);
    let nomor_identitas = field(p, "nomor_identitas", false, &mut errors);
    let months = match month.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(n)) if (1..=12).contains(&n) => Some(n),
        Some(_) => {
            errors.push(("month", "must be 1 to 12"));
            None
        }
    };
    if !errors.is_empty() {
        return invalid(&errors, Some(m));
    }
    let (Some(code), Some(number)) = (code, number) else {
        return invalid(&[("code", "required")], Some(m));
    };
    let ref_id =
        ref_id.unwrap_or_else(|| format!("INQ-{}", loket_store::random_hex(8).to_uppercase()));
    let input = InquiryInput {
        mode,
        protocol: Protocol::Isikuota,
        code,
        number,
        ref_id,
        year,
        months,
        nomor_identitas,
        amount: None,
        lifetime: QuoteLifetime::Seconds(state.config.isikuota.inquiry_session_secs),
    };
    match gateway::inquire(state, m, input).await {
        Ok(InquiryResult::Quote(q)) => Reply {
            status: StatusCode::OK,
            success: true,
            code: "BILL_INQUIRY_SUCCESS",
            message: "Tagihan berhasil ditemukan".into(),
            data: Value::Object(inquiry_data(&q)),
            errors: Value::Null,
            log: log(Some(m), "BILL_INQUIRY_SUCCESS"),
        },
        Ok(InquiryResult::Failed { rc, .. }) => refuse_rc(rc, Some(m)),
        Ok(InquiryResult::MissingField(f)) => {
            invalid(&[(f.name(), "required for this product")], Some(m))
        }
        Err(e) => internal(&e, Some(m)),
    }
}

/// The payment's data: the inquiry fields, `price` (what the balance is charged), `balance`
/// (live only), `sn`, `paid_at`, and `status`.
fn payment_data(q: &Quote, pay: &Payment, status: &str) -> Map<String, Value> {
    let mut d = inquiry_data(q);
    d.insert("status".into(), status.into());
    if pay.state == PaymentState::Success {
        d.insert("desc".into(), Value::clone(&q.paid_desc));
    }
    d.insert("price".into(), q.selling_price.get().into());
    if q.mode == Mode::Live {
        let balance = match pay.state {
            PaymentState::Failed => pay.balance_after.get() + pay.amount.get(),
            _ => pay.balance_after.get(),
        };
        d.insert("balance".into(), balance.into());
    }
    d.insert("sn".into(), pay.noref.clone().into());
    let paid_at = match pay.state {
        PaymentState::Success => Value::String(jakarta::datetime(pay.updated_at)),
        _ => Value::Null,
    };
    d.insert("paid_at".into(), paid_at);
    d
}

fn payment_reply(m: &Member, q: &Quote, pay: &Payment) -> Reply {
    let (success, code, status, message) = match pay.state {
        PaymentState::Success => (
            true,
            "BILL_PAYMENT_SUCCESS",
            "success",
            "Pembayaran tagihan berhasil".to_string(),
        ),
        PaymentState::Pending => (
            true,
            "BILL_PAYMENT_PENDING",
            "pending",
            message("BILL_PAYMENT_PENDING").to_string(),
        ),
        PaymentState::Failed => (
            false,
            "BILL_PAYMENT_FAILED",
            "failed",
            format!("{} ({})", message("BILL_PAYMENT_FAILED"), pay.rc.message()),
        ),
    };
    Reply {
        status: StatusCode::OK,
        success,
        code,
        message,
        data: Value::Object(payment_data(q, pay, status)),
        errors: Value::Null,
        log: log(Some(m), code),
    }
}

async fn pay(state: &AppState, m: &Member, mode: Mode, p: &Params<'_>) -> Reply {
    let mut errors = Vec::new();
    let code = field(p, "code", true, &mut errors);
    let number = field(p, "customer_no", true, &mut errors);
    let ref_id = field(p, "ref_id", true, &mut errors);
    if !errors.is_empty() {
        return invalid(&errors, Some(m));
    }
    let (Some(code), Some(number), Some(ref_id)) = (code, number, ref_id) else {
        return invalid(&[("ref_id", "required")], Some(m));
    };
    let quote = match state.store.quote_by_ref(m.id, mode, &ref_id).await {
        Ok(Some(q)) if q.protocol == Protocol::Isikuota => q,
        Ok(_) => return refuse_rc(Rc::InquiryIdNotFound, Some(m)),
        Err(e) => return internal(&e, Some(m)),
    };
    let mut mismatch = Vec::new();
    if quote.code != code {
        mismatch.push(("code", "does not match the inquiry"));
    }
    if quote.hp != number {
        mismatch.push(("customer_no", "does not match the inquiry"));
    }
    if !mismatch.is_empty() {
        return invalid(&mismatch, Some(m));
    }
    match gateway::pay_quote(state, Box::new(quote)).await {
        Ok(PayResult::Payment { quote, payment }) => payment_reply(m, &quote, &payment),
        Ok(PayResult::Refused { rc, .. }) => refuse_rc(rc, Some(m)),
        Err(e) => internal(&e, Some(m)),
    }
}

async fn status(
    state: &AppState,
    m: &Member,
    mode: Mode,
    explicit_mode: bool,
    p: &Params<'_>,
) -> Reply {
    let ref_id = match p.string("ref_id") {
        Ok(Some(r)) => r,
        Ok(None) => return invalid(&[("ref_id", "required")], Some(m)),
        Err(reason) => return invalid(&[("ref_id", reason)], Some(m)),
    };
    let mut found = gateway::status(state, m, mode, &ref_id).await;
    // Without a `testing` flag, a testing transaction is found too.
    if !explicit_mode && matches!(found, Ok(StatusResult::Unknown)) && mode == Mode::Live {
        found = gateway::status(state, m, Mode::Sandbox, &ref_id).await;
    }
    let data = match found {
        Ok(StatusResult::Unknown) => return refuse_rc(Rc::InquiryIdNotFound, Some(m)),
        Ok(StatusResult::Quoted(q)) => {
            let mut d = inquiry_data(&q);
            let s = if q.is_expired(jakarta::now()) {
                "expired"
            } else {
                "inquiry"
            };
            d.insert("status".into(), s.into());
            d
        }
        Ok(StatusResult::Paid { quote, payment }) => {
            let s = payment.state.as_str();
            payment_data(&quote, &payment, s)
        }
        Err(e) => return internal(&e, Some(m)),
    };
    Reply {
        status: StatusCode::OK,
        success: true,
        code: "SUCCESS",
        message: "Status transaksi berhasil didapatkan".into(),
        data: Value::Object(data),
        errors: Value::Null,
        log: log(Some(m), "SUCCESS"),
    }
}
