//! Small local upstreams the tests control: a raw HTTP/1.1 server (one request per connection)
//! that can also misbehave as no real upstream can be asked to (a slow answer, a connection closed
//! after the request was read, HTTP 500, garbage), and on top of it a fake IAK upstream and a fake
//! Digiflazz built from their documented protocols, each checking every request's signature.

use loket_client::iak_sign::sign;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This HTTP status and body, as `application/json`.
    Body(u16, String),
    /// Read the request, then close the connection without a word.
    Close,
    /// Wait, then reply.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn json(v: Value) -> Reply {
        Reply::Body(200, v.to_string())
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

type Handler = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

/// A running fake server; it lives as long as the test's runtime.
pub struct FakeServer {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// A server answering every request with `handler(body)`.
    pub async fn start(handler: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, log) = (handler.clone(), log.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, handler, log).await;
                });
            }
        });
        FakeServer {
            base_url: format!("http://{addr}"),
            seen,
        }
    }

    /// A server that always answers `reply`.
    pub async fn fixed(reply: Reply) -> FakeServer {
        FakeServer::start(move |_| reply.clone()).await
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests carried `commands: command`.
    pub fn count(&self, command: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.body["commands"] == command)
            .count()
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    log: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let mut reply = handler(&body);
    log.lock().unwrap().push(Seen { path, body });
    loop {
        match reply {
            Reply::Slow(wait, then) => {
                tokio::time::sleep(wait).await;
                reply = *then;
            }
            Reply::Close => return Ok(()),
            Reply::Body(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await?;
                stream.shutdown().await?;
                return Ok(());
            }
        }
    }
}

/// A port nothing listens on.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

// ------------------------------------------------------------------------------ a fake IAK

/// How the fake IAK answers `pay-pasca` for a customer number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayFault {
    /// RC 00 with a noref.
    Pay,
    /// RC 39: pending.
    Pending,
    /// Answer only after this long (past loket's timeout).
    Slow(Duration),
    /// Read the request, close the connection.
    Drop,
    /// HTTP 500.
    Http500,
    /// HTTP 200 with a body that is not an IAK answer.
    Garbage,
}

/// The bill the fake IAK quotes for every number: PGAS's shape, with its own name and a cost
/// (IAK's `selling_price`) below the sandbox's.
pub const FAKE_NOMINAL: i64 = 322_002;
pub const FAKE_ADMIN: i64 = 2_500;
pub const FAKE_COST: i64 = 323_000;
pub const FAKE_NAME: &str = "FAKE IAK CUSTOMER";

#[derive(Default)]
struct IakState {
    next_tr_id: i64,
    /// tr_id -> (ref_id, hp)
    quotes: HashMap<i64, (String, String)>,
    /// hp -> RC the inquiry answers instead of a bill.
    refuse: HashMap<String, String>,
    /// hp -> payment behaviour (default: pay).
    pay: HashMap<String, PayFault>,
    /// hp -> checkstatus `status` (default 3: in process).
    status: HashMap<String, i64>,
    /// Requests whose signature was wrong.
    bad_signs: Vec<Value>,
}

/// An IAK-compatible upstream: `inq-pasca` quotes, `pay-pasca` pays (or misbehaves) by the
/// quote's customer number, `checkstatus` answers what the test set. Every request's `sign` is
/// checked against `username` / `key`.
pub struct FakeIak {
    pub server: FakeServer,
    pub username: String,
    pub key: String,
    /// While set, every request gets HTTP 500.
    pub down: Arc<AtomicBool>,
    state: Arc<Mutex<IakState>>,
}

impl FakeIak {
    pub async fn start() -> FakeIak {
        let username = "loket-a-at-fake".to_string();
        let key = "fake-iak-key".to_string();
        let state = Arc::new(Mutex::new(IakState {
            next_tr_id: 7_000_001,
            ..Default::default()
        }));
        let down = Arc::new(AtomicBool::new(false));
        let (s, d, u, k) = (state.clone(), down.clone(), username.clone(), key.clone());
        let server = FakeServer::start(move |body| {
            if d.load(Ordering::SeqCst) {
                return Reply::Body(500, "Internal Server Error".into());
            }
            iak_answer(&mut s.lock().unwrap(), &u, &k, body)
        })
        .await;
        FakeIak {
            server,
            username,
            key,
            down,
            state,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.server.base_url
    }

    pub fn set_pay(&self, hp: &str, fault: PayFault) {
        self.state.lock().unwrap().pay.insert(hp.into(), fault);
    }

    pub fn set_status(&self, hp: &str, status: i64) {
        self.state.lock().unwrap().status.insert(hp.into(), status);
    }

    pub fn refuse(&self, hp: &str, rc: &str) {
        self.state
            .lock()
            .unwrap()
            .refuse
            .insert(hp.into(), rc.into());
    }

    /// How many requests carried `commands: command`.
    pub fn count(&self, command: &str) -> usize {
        self.server.count(command)
    }

    pub fn bad_signs(&self) -> Vec<Value> {
        self.state.lock().unwrap().bad_signs.clone()
    }

    /// The requests of `command` about `ref_id` (inq-pasca, checkstatus) or `tr_id` (pay-pasca).
    pub fn requests(&self, command: &str, key: &str, value: &str) -> Vec<Seen> {
        self.server
            .seen()
            .into_iter()
            .filter(|s| {
                s.body["commands"] == command && crate::helpers::stringly(&s.body[key]) == value
            })
            .collect()
    }
}

fn iak_data(tr_id: i64, ref_id: &str, hp: &str, code: &str) -> serde_json::Map<String, Value> {
    let v = json!({
        "tr_id": tr_id,
        "code": code,
        "hp": hp,
        "tr_name": FAKE_NAME,
        "period": "0917",
        "nominal": FAKE_NOMINAL,
        "admin": FAKE_ADMIN,
        "ref_id": ref_id,
        "response_code": "00",
        "message": "INQUIRY SUCCESS",
        "price": FAKE_NOMINAL + FAKE_ADMIN,
        "selling_price": FAKE_COST,
        "desc": {"address": "-", "usage": 35},
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn wrap(data: serde_json::Map<String, Value>) -> Reply {
    Reply::json(json!({"data": data, "meta": []}))
}

fn iak_answer(st: &mut IakState, username: &str, key: &str, body: &Value) -> Reply {
    let s = |k: &str| match &body[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let command = s("commands");
    let signed_over = match command.as_str() {
        "inq-pasca" => s("ref_id"),
        "pay-pasca" => s("tr_id"),
        "checkstatus" => "cs".into(),
        _ => String::new(),
    };
    if s("username") != username || s("sign") != sign(username, key, &signed_over) {
        st.bad_signs.push(body.clone());
        return Reply::json(
            json!({"data": {"response_code": "100", "message": "INVALID SIGNATURE"}, "meta": []}),
        );
    }
    match command.as_str() {
        "inq-pasca" => {
            let (hp, ref_id, code) = (s("hp"), s("ref_id"), s("code"));
            if let Some(rc) = st.refuse.get(&hp) {
                return Reply::json(json!({"data": {
                    "ref_id": ref_id, "code": code, "hp": hp,
                    "response_code": rc, "message": "REFUSED BY THE FAKE",
                }, "meta": []}));
            }
            let tr_id = st.next_tr_id;
            st.next_tr_id += 1;
            st.quotes.insert(tr_id, (ref_id.clone(), hp.clone()));
            wrap(iak_data(tr_id, &ref_id, &hp, &code))
        }
        "pay-pasca" => {
            let tr_id: i64 = s("tr_id").parse().unwrap_or(0);
            let Some((ref_id, hp)) = st.quotes.get(&tr_id).cloned() else {
                return Reply::json(
                    json!({"data": {"tr_id": tr_id, "response_code": "06", "message": "INQUIRY ID NOT FOUND"}, "meta": []}),
                );
            };
            let mut d = iak_data(tr_id, &ref_id, &hp, "PGAS");
            d.insert("datetime".into(), "20260101120000".into());
            d.insert("balance".into(), 1_000_000.into());
            let paid = |mut d: serde_json::Map<String, Value>| {
                d.insert("message".into(), "PAYMENT SUCCESS".into());
                d.insert("noref".into(), format!("FAKE-{tr_id}").into());
                wrap(d)
            };
            match st.pay.get(&hp).copied().unwrap_or(PayFault::Pay) {
                PayFault::Pay => paid(d),
                PayFault::Pending => {
                    d.insert("response_code".into(), "39".into());
                    d.insert("message".into(), "PENDING / TRANSACTION IN PROCESS".into());
                    d.insert("noref".into(), "".into());
                    wrap(d)
                }
                PayFault::Slow(wait) => Reply::Slow(wait, Box::new(paid(d))),
                PayFault::Drop => Reply::Close,
                PayFault::Http500 => Reply::Body(500, "<h1>500 Internal Server Error</h1>".into()),
                PayFault::Garbage => Reply::Body(200, "<html>maintenance {\"data\": ".into()),
            }
        }
        "checkstatus" => {
            let ref_id = s("ref_id");
            let Some((tr_id, hp)) = st
                .quotes
                .iter()
                .find(|(_, (r, _))| *r == ref_id)
                .map(|(t, (_, hp))| (*t, hp.clone()))
            else {
                return Reply::json(json!({"data": {
                    "ref_id": ref_id, "response_code": "42",
                    "message": "REQUEST PEMBAYARAN BELUM DITERIMA", "status": 0,
                }, "meta": []}));
            };
            let status = st.status.get(&hp).copied().unwrap_or(3);
            let mut d = iak_data(tr_id, &ref_id, &hp, "PGAS");
            let (rc, message, noref) = match status {
                1 => ("00", "PAYMENT SUCCESS", format!("FAKE-{tr_id}")),
                2 => ("37", "PAYMENT FAILED", String::new()),
                3 => ("39", "PENDING / TRANSAKSI SEDANG DIPROSES", String::new()),
                _ => ("42", "REQUEST PEMBAYARAN BELUM DITERIMA", String::new()),
            };
            d.insert("response_code".into(), rc.into());
            d.insert("message".into(), message.into());
            d.insert("noref".into(), noref.into());
            d.insert("status".into(), status.into());
            wrap(d)
        }
        _ => Reply::json(
            json!({"data": {"response_code": "101", "message": "INVALID COMMAND"}, "meta": []}),
        ),
    }
}

// ------------------------------------------------------------------------ a fake Digiflazz

/// What the fake Digiflazz answers for one customer number: the `rc` of each command (`"00"`
/// Sukses, `"03"` Pending, `"02"` Gagal...). `status` can change while the test runs.
#[derive(Debug, Clone)]
pub struct DfScript {
    pub inquiry: &'static str,
    pub pay: &'static str,
    pub status: &'static str,
}

/// Digiflazz's bill for every number: the customer pays `DF_TOTAL` (its `selling_price`),
/// Digiflazz charges loket `DF_PRICE` (its `price`).
pub const DF_ADMIN: i64 = 2_500;
pub const DF_TOTAL: i64 = 324_502;
pub const DF_PRICE: i64 = 323_500;
pub const DF_NAME: &str = "DF PELANGGAN";

#[derive(Default)]
struct DfState {
    scripts: HashMap<String, DfScript>,
    bad: Vec<String>,
}

/// A Digiflazz buyer API on `POST /v1/transaction`: `inq-pasca`, `pay-pasca`, `status-pasca`,
/// all by the buyer's `ref_id`, signed `md5(username + api_key + ref_id)`.
pub struct FakeDigiflazz {
    pub server: FakeServer,
    pub username: String,
    pub api_key: String,
    state: Arc<Mutex<DfState>>,
}

impl FakeDigiflazz {
    pub async fn start() -> FakeDigiflazz {
        let username = "loketbuyer".to_string();
        let api_key = "dev-df-key-123".to_string();
        let state = Arc::new(Mutex::new(DfState::default()));
        let (s, u, k) = (state.clone(), username.clone(), api_key.clone());
        let server =
            FakeServer::start(move |body| df_answer(&mut s.lock().unwrap(), &u, &k, body)).await;
        FakeDigiflazz {
            server,
            username,
            api_key,
            state,
        }
    }

    pub fn script(&self, hp: &str, script: DfScript) {
        self.state.lock().unwrap().scripts.insert(hp.into(), script);
    }

    pub fn set_status(&self, hp: &str, rc: &'static str) {
        if let Some(s) = self.state.lock().unwrap().scripts.get_mut(hp) {
            s.status = rc;
        }
    }

    /// Requests that broke the documented protocol (path, signature, fields).
    pub fn bad(&self) -> Vec<String> {
        self.state.lock().unwrap().bad.clone()
    }

    /// The requests about `hp`, as `(commands, ref_id)`.
    pub fn calls(&self, hp: &str) -> Vec<(String, String)> {
        self.server
            .seen()
            .into_iter()
            .filter(|s| s.body["customer_no"] == hp)
            .map(|s| {
                (
                    s.body["commands"].as_str().unwrap_or("").to_string(),
                    s.body["ref_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// The `data` of a Digiflazz answer with `rc`.
pub fn df_data(ref_id: &str, hp: &str, sku: &str, rc: &str, sn: &str) -> Value {
    let (status, message) = match rc {
        "00" => ("Sukses", "Transaksi Sukses"),
        "03" => ("Pending", "Transaksi Pending"),
        "02" => ("Gagal", "Transaksi Gagal"),
        "01" => ("Gagal", "Timeout"),
        "54" => ("Gagal", "Nomor Tujuan Salah"),
        _ => ("Gagal", "Gagal"),
    };
    json!({
        "ref_id": ref_id,
        "customer_no": hp,
        "customer_name": DF_NAME,
        "buyer_sku_code": sku,
        "admin": DF_ADMIN,
        "message": message,
        "status": status,
        "rc": rc,
        "sn": sn,
        "buyer_last_saldo": 5_000_000,
        "price": DF_PRICE,
        "selling_price": DF_TOTAL,
        "desc": {"lembar_tagihan": 1, "detail": [{"periode": "201901", "nilai_tagihan": "322002", "admin": "2500"}]},
    })
}

fn df_answer(st: &mut DfState, username: &str, api_key: &str, body: &Value) -> Reply {
    let s = |k: &str| body[k].as_str().unwrap_or("").to_string();
    let (command, ref_id, hp, sku) = (
        s("commands"),
        s("ref_id"),
        s("customer_no"),
        s("buyer_sku_code"),
    );
    let mut problems = Vec::new();
    if s("username") != username {
        problems.push("username");
    }
    if ref_id.is_empty() || s("sign") != sign(username, api_key, &ref_id) {
        problems.push("sign");
    }
    if hp.is_empty() || sku.is_empty() {
        problems.push("customer_no / buyer_sku_code");
    }
    if body.get("testing").is_some() {
        problems.push("testing sent although the upstream is not in testing");
    }
    if !problems.is_empty() {
        st.bad.push(format!("{problems:?} in {body}"));
        return Reply::json(
            json!({"data": {"ref_id": ref_id, "rc": "41", "status": "Gagal", "message": "Signature tidak valid"}}),
        );
    }
    let Some(script) = st.scripts.get(&hp).cloned() else {
        st.bad.push(format!("no script for {hp}"));
        return Reply::json(json!({"data": df_data(&ref_id, &hp, &sku, "54", "")}));
    };
    let (rc, sn) = match command.as_str() {
        "inq-pasca" => (script.inquiry, String::new()),
        "pay-pasca" => (script.pay, format!("SN-{hp}")),
        "status-pasca" => (script.status, format!("SN-{hp}")),
        other => {
            st.bad.push(format!("unknown command {other}"));
            return Reply::json(
                json!({"data": {"ref_id": ref_id, "rc": "40", "status": "Gagal", "message": "Payload Error"}}),
            );
        }
    };
    let sn = if rc == "00" { sn } else { String::new() };
    Reply::json(json!({"data": df_data(&ref_id, &hp, &sku, rc, &sn)}))
}
