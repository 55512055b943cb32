//! Webhooks to members (spec/isikuota.md "Webhook"): a local receiver checks every delivery's
//! headers and `X-Signature`, refuses the first two deliveries of each event and accepts the
//! third; the durable outbox must deliver exactly one accepted event per final state, also across
//! a SIGKILL of the server.

use crate::helpers::*;
use crate::helpers::{db, run_json, spawn_server};
use loket_api::Config;
use loket_client::isikuota::{IsikuotaClient, IsikuotaResponse};
use loket_core::{jakarta, Mode, PaymentState, Rc};
use loket_store::{MemberUpdate, Store, Webhook};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    /// 500 to the first two deliveries of each event (event name and ref_id), then 200.
    FailTwice,
    /// 500 to everything.
    Refuse,
    /// 200 to everything.
    Accept,
}

/// One delivery as the receiver saw it.
#[derive(Clone, Debug)]
struct Delivery {
    /// `event ref_id`.
    key: String,
    body: String,
    json: Value,
    /// What the receiver answered.
    status: u16,
}

#[derive(Default)]
struct Log {
    deliveries: Vec<Delivery>,
    /// Deliveries whose headers or signature were wrong (answered 400).
    problems: Vec<String>,
}

struct Inner {
    secret_key: String,
    policy: Mutex<Policy>,
    log: Mutex<Log>,
}

/// A webhook receiver on `127.0.0.1:0`, stopped when dropped.
struct Receiver {
    /// The URL to give the member.
    url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut problems = Vec::new();
    if header("content-type") != "application/json" {
        problems.push(format!("Content-Type {:?}", header("content-type")));
    }
    if header("x-type-transaction") != "ppob" {
        problems.push(format!(
            "X-Type-Transaction {:?}",
            header("x-type-transaction")
        ));
    }
    // Lowercase hex HMAC-SHA256 of the raw body with the member's secret_key.
    let want = loket_client::canonical::sign(&inner.secret_key, &text);
    if header("x-signature") != want {
        problems.push(format!("X-Signature {:?}", header("x-signature")));
    }
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !json.is_object() {
        problems.push("the body is not a JSON object".into());
    }
    let mut log = inner.log.lock().unwrap();
    if !problems.is_empty() {
        log.problems
            .push(format!("{}: {text}", problems.join(", ")));
        return axum::http::StatusCode::BAD_REQUEST;
    }
    let key = format!(
        "{} {}",
        json["event"].as_str().unwrap_or(""),
        json["data"]["ref_id"].as_str().unwrap_or("")
    );
    let earlier = log.deliveries.iter().filter(|d| d.key == key).count();
    let status = match *inner.policy.lock().unwrap() {
        Policy::FailTwice if earlier < 2 => 500,
        Policy::FailTwice | Policy::Accept => 200,
        Policy::Refuse => 500,
    };
    log.deliveries.push(Delivery {
        key,
        body: text,
        json,
        status,
    });
    axum::http::StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(secret_key: &str, policy: Policy) -> Receiver {
        let inner = Arc::new(Inner {
            secret_key: secret_key.to_string(),
            policy: Mutex::new(policy),
            log: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { url, inner, task }
    }

    fn set_policy(&self, policy: Policy) {
        *self.inner.policy.lock().unwrap() = policy;
    }

    fn deliveries(&self) -> Vec<Delivery> {
        let log = self.inner.log.lock().unwrap();
        assert!(
            log.problems.is_empty(),
            "bad deliveries: {:#?}",
            log.problems
        );
        log.deliveries.clone()
    }

    fn accepted(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.status == 200)
            .collect()
    }

    /// Waits until `n` deliveries were accepted, then a while longer (more than a retry's
    /// backoff) to see that no other arrives; answers the accepted ones.
    async fn exactly_accepted(&self, n: usize) -> Vec<Delivery> {
        let me = self;
        eventually(
            Duration::from_secs(20),
            "accepted webhooks",
            move || async move { (me.accepted().len() >= n).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        let accepted = self.accepted();
        assert_eq!(accepted.len(), n, "exactly {n} accepted: {accepted:#?}");
        accepted
    }
}

/// Webhooks retried after 1 s, pending sandbox payments resolved after 1 s.
fn webhook_config(max_attempts: i64) -> Config {
    let mut config = Config::default();
    config.sandbox.pending_resolve_secs = 1;
    config.webhooks.backoff_ms = vec![1_000];
    config.webhooks.max_attempts = max_attempts;
    config.webhooks.timeout_ms = 5_000;
    config
}

async fn set_webhook(app: &TestApp, m: &TestMember, url: &str, all: bool) {
    let updated = app
        .store
        .update_member(
            &m.username,
            MemberUpdate {
                webhook_url: Some(Some(url.to_string())),
                webhook_all: Some(all),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.webhook_url.as_deref(), Some(url));
    assert_eq!(updated.webhook_all, all);
}

/// A testing inquiry and its payment; answers the payment's answer.
async fn pay_testing(c: &IsikuotaClient, code: &str, no: &str, ref_id: &str) -> IsikuotaResponse {
    let r = c.inquiry(code, no, Some(ref_id), true).await.unwrap();
    assert_iq_ok(&r, true, "BILL_INQUIRY_SUCCESS");
    c.pay(code, no, ref_id, true).await.unwrap()
}

/// spec/isikuota.md: the webhook's data fields, in order.
const IQ_WEBHOOK_KEYS: [&str; 11] = [
    "order_id",
    "ref_id",
    "status",
    "product_code",
    "product_name",
    "customer_number",
    "price",
    "sn",
    "message",
    "created_at",
    "updated_at",
];

/// `2026-11-21T14:30:05+07:00`, within `slack` seconds of now.
fn assert_timestamp(ts: &str, slack: i64) {
    let now = unix_now();
    let ok = (now - slack..=now + 1).any(|t| jakarta::rfc3339(t) == ts);
    assert!(
        ok && ts.ends_with("+07:00"),
        "timestamp {ts:?}: RFC 3339 in +07:00, recent"
    );
}

/// The envelope `{event, timestamp, data}`.
fn assert_webhook_envelope(d: &Delivery, event: &str) {
    assert_eq!(keys(&d.json), ["event", "timestamp", "data"], "{}", d.body);
    assert_eq!(d.json["event"], event, "{}", d.body);
    assert_timestamp(d.json["timestamp"].as_str().unwrap_or(""), 30);
}

/// An isikuota member's event for its payment `ref_id`, field by field.
async fn assert_iq_event(app: &TestApp, m: &TestMember, d: &Delivery, ref_id: &str, success: bool) {
    assert_webhook_envelope(
        d,
        if success {
            "order.success"
        } else {
            "order.failed"
        },
    );
    let data = &d.json["data"];
    assert_eq!(keys(data), IQ_WEBHOOK_KEYS, "{}", d.body);
    let q = app.quote(m, Mode::Sandbox, ref_id).await.unwrap();
    let p = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, ref_id)
        .await
        .unwrap()
        .unwrap();
    let product = app.store.product(&q.code).await.unwrap().unwrap();
    assert_eq!(product.name, "PGN GAS NEGARA");
    assert_eq!(data["order_id"], json!(q.tr_id.to_string()), "{}", d.body);
    assert_eq!(data["ref_id"], ref_id);
    assert_eq!(data["status"], if success { "Success" } else { "Failed" });
    assert_eq!(data["product_code"], "PGAS");
    assert_eq!(data["product_name"], json!(product.name));
    assert_eq!(data["customer_number"], json!(q.hp));
    assert_eq!(data["price"], json!(323_902), "the charge: {}", d.body);
    assert_eq!(data["created_at"], json!(jakarta::datetime(p.created_at)));
    assert_eq!(data["updated_at"], json!(jakarta::datetime(p.updated_at)));
    assert!(is_datetime(data["created_at"].as_str().unwrap()));
    let message = data["message"].as_str().unwrap_or("");
    if success {
        assert_eq!(p.state, PaymentState::Success);
        assert_eq!(data["sn"], "244183135447", "{}", d.body);
        assert_eq!(message, "Pembayaran tagihan berhasil");
    } else {
        assert_eq!(p.state, PaymentState::Failed);
        assert_eq!(data["sn"], "", "{}", d.body);
        assert!(
            message.starts_with("Pembayaran tagihan gagal") && message.contains("PAYMENT FAILED"),
            "{}",
            d.body
        );
    }
}

/// The member's outbox rows, oldest first.
async fn outbox(store: &Store, member_id: Option<i64>) -> Vec<Webhook> {
    let mut rows = store.webhooks(member_id, 100).await.unwrap();
    rows.reverse();
    rows
}

#[each_backend]
async fn pending_payments_send_one_accepted_event_per_final_state() {
    let app = spawn_app_with(webhook_config(6)).await;
    let m = app.create_member("081500000001").await;
    let rx = Receiver::start(&m.secret_key, Policy::FailTwice).await;
    set_webhook(&app, &m, &rx.url, false).await;
    let c = app.isikuota_client(&m);
    let (ok_ref, failed_ref) = (ref_id(), ref_id());
    // 1039: pending, then success; 2037 (loket's extension): pending, then failed with RC 37.
    for (no, r) in [("0110011039", &ok_ref), ("0110012037", &failed_ref)] {
        let p = pay_testing(&c, "PGAS", no, r).await;
        assert_iq_ok(&p, true, "BILL_PAYMENT_PENDING");
    }
    assert!(
        outbox(&app.store, Some(m.id)).await.is_empty(),
        "nothing to send while pending"
    );
    let accepted = rx.exactly_accepted(2).await;
    let all = rx.deliveries();
    for (r, event, success) in [
        (&ok_ref, "order.success", true),
        (&failed_ref, "order.failed", false),
    ] {
        let key = format!("{event} {r}");
        let mine: Vec<&Delivery> = all.iter().filter(|d| d.key == key).collect();
        let statuses: Vec<u16> = mine.iter().map(|d| d.status).collect();
        assert_eq!(statuses, [500, 500, 200], "refused twice, then accepted");
        assert!(
            mine.iter().all(|d| d.body == mine[0].body),
            "every attempt sends the same body"
        );
        let d = accepted.iter().find(|d| d.key == key).expect("accepted");
        assert_iq_event(&app, &m, d, r, success).await;
    }
    assert_eq!(all.len(), 6, "no other event: {all:#?}");
    // The outbox: one row per event, delivered after three attempts, holding the body sent.
    let rows = outbox(&app.store, Some(m.id)).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for w in &rows {
        assert_eq!(w.state, "delivered", "{w:#?}");
        assert_eq!(w.attempts, 3, "{w:#?}");
        assert_eq!(w.last_status, Some(200), "{w:#?}");
        assert_eq!(w.url, rx.url);
        assert!(accepted.iter().any(|d| d.body == w.body), "{w:#?}");
    }
    // And the status answers agree with the events.
    for (r, state) in [(&ok_ref, "success"), (&failed_ref, "failed")] {
        let s = c.status(r, true).await.unwrap();
        assert_eq!(s.get("status"), Some(&json!(state)), "{}", s.body);
    }
}

#[each_backend]
async fn immediate_outcomes_send_webhooks_only_to_members_who_ask() {
    let app = spawn_app_with(webhook_config(6)).await;
    let m = app.create_member("081500000002").await;
    let rx = Receiver::start(&m.secret_key, Policy::FailTwice).await;
    set_webhook(&app, &m, &rx.url, false).await;
    let c = app.isikuota_client(&m);
    // Without webhook_all: an answer that is already final sends nothing. The outbox is written
    // in the settling transaction, so it is empty as soon as the answers are in.
    let (quiet_ok, quiet_failed) = (ref_id(), ref_id());
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110010000", &quiet_ok).await,
        true,
        "BILL_PAYMENT_SUCCESS",
    );
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110011037", &quiet_failed).await,
        false,
        "BILL_PAYMENT_FAILED",
    );
    assert!(outbox(&app.store, Some(m.id)).await.is_empty());

    // With webhook_all: every final state, once, pending ones included.
    set_webhook(&app, &m, &rx.url, true).await;
    let (ok, failed, pending) = (ref_id(), ref_id(), ref_id());
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110010000", &ok).await,
        true,
        "BILL_PAYMENT_SUCCESS",
    );
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110011037", &failed).await,
        false,
        "BILL_PAYMENT_FAILED",
    );
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110011039", &pending).await,
        true,
        "BILL_PAYMENT_PENDING",
    );
    let accepted = rx.exactly_accepted(3).await;
    for (r, success) in [(&ok, true), (&failed, false), (&pending, true)] {
        let d = accepted
            .iter()
            .find(|d| d.json["data"]["ref_id"] == json!(r))
            .unwrap_or_else(|| panic!("an event for {r}: {accepted:#?}"));
        assert_iq_event(&app, &m, d, r, success).await;
    }
    let all = rx.deliveries();
    assert_eq!(
        all.len(),
        9,
        "three attempts for each of three events: {all:#?}"
    );
    for quiet in [&quiet_ok, &quiet_failed] {
        assert!(
            !all.iter().any(|d| d.json["data"]["ref_id"] == json!(quiet)),
            "no webhook for {quiet}"
        );
    }
    assert_eq!(outbox(&app.store, Some(m.id)).await.len(), 3);
}

/// IAK members get the same envelope with IAK's field names (crates/core/src/webhook.rs).
#[each_backend]
async fn iak_members_get_iak_field_names() {
    let app = spawn_app_with(webhook_config(6)).await;
    let m = app.create_member("081500000003").await;
    let rx = Receiver::start(&m.secret_key, Policy::FailTwice).await;
    set_webhook(&app, &m, &rx.url, false).await;
    let client = app.sandbox_client(&m);
    let p = params("PGAS", "0110011039");
    let inq = inquire(&client, &p).await;
    assert_eq!(inq.rc().as_deref(), Some("00"), "{}", inq.body);
    let tr_id = inq.data["tr_id"].as_i64().unwrap();
    let paid = client.pay(tr_id).await.unwrap();
    assert_eq!(paid.rc().as_deref(), Some("39"), "pending: {}", paid.body);
    let sandbox_after_hold = app.store.balance(m.id, Mode::Sandbox).await.unwrap();
    assert_eq!(sandbox_after_hold.held.get(), 323_902, "IAK sandbox holds");

    let accepted = rx.exactly_accepted(1).await;
    let d = &accepted[0];
    assert_webhook_envelope(d, "order.success");
    let data = &d.json["data"];
    assert_eq!(
        keys(data),
        [
            "tr_id",
            "ref_id",
            "code",
            "hp",
            "tr_name",
            "period",
            "nominal",
            "admin",
            "price",
            "selling_price",
            "response_code",
            "message",
            "noref",
            "status",
            "datetime"
        ],
        "{}",
        d.body
    );
    let payment = app
        .store
        .payment_by_ref(m.id, Mode::Sandbox, &p.ref_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.state, PaymentState::Success);
    let want = json!({
        "tr_id": tr_id,
        "ref_id": p.ref_id,
        "code": "PGAS",
        "hp": "0110011039",
        "tr_name": "NGATIMUN",
        "period": "0917",
        "nominal": 322_002,
        "admin": 2_500,
        "price": 324_502,
        "selling_price": 323_902,
        "response_code": "00",
        "message": "PAYMENT SUCCESS",
        "noref": "244183135447",
        "status": 1,
        "datetime": jakarta::ymdhis(payment.updated_at),
    });
    assert_eq!(data, &want, "{}", d.body);
    assert_eq!(rx.deliveries().len(), 3);
    // The charge was posted from the sandbox balance.
    let sandbox = app.store.balance(m.id, Mode::Sandbox).await.unwrap();
    assert_eq!(
        (sandbox.balance.get(), sandbox.held.get()),
        (loket_store::SANDBOX_START_BALANCE - 323_902, 0)
    );
}

#[each_backend]
async fn a_webhook_that_failed_max_attempts_times_is_failed_and_can_be_resent() {
    let app = spawn_app_with(webhook_config(3)).await;
    let m = app.create_member("081500000004").await;
    let rx = Receiver::start(&m.secret_key, Policy::Refuse).await;
    set_webhook(&app, &m, &rx.url, false).await;
    let c = app.isikuota_client(&m);
    let r = ref_id();
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110011039", &r).await,
        true,
        "BILL_PAYMENT_PENDING",
    );
    let (store, member_id) = (&app.store, m.id);
    let failed = eventually(
        Duration::from_secs(20),
        "the webhook to fail",
        move || async move {
            let rows = outbox(store, Some(member_id)).await;
            rows.into_iter().find(|w| w.state == "failed")
        },
    )
    .await;
    assert_eq!(failed.attempts, 3, "{failed:#?}");
    assert_eq!(failed.last_status, Some(500), "{failed:#?}");
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")),
        "{failed:#?}"
    );
    assert_eq!(failed.event, "order.success");
    // No attempt after the last one.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let refused = rx.deliveries();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert!(refused.iter().all(|d| d.status == 500));
    assert_eq!(outbox(store, Some(m.id)).await[0].state, "failed");

    // `loket webhook resend --id N` queues it again; the receiver accepts now.
    rx.set_policy(Policy::Accept);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .env_remove("LOKET_CONFIG")
        .env_remove("LOKET_DATABASE_URL")
        .env("LOKET_LOG", "warn")
        .args(["webhook", "resend", "--id", &failed.id.to_string()])
        .args(["--database", &app.database_url])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queued: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(queued["id"], json!(failed.id), "{queued}");
    assert_eq!(queued["state"], "pending", "{queued}");
    assert_eq!(queued["attempts"], 0, "{queued}");
    let accepted = rx.exactly_accepted(1).await;
    assert_eq!(accepted[0].body, failed.body, "the same body, unchanged");
    assert_iq_event(&app, &m, &accepted[0], &r, true).await;
    assert_eq!(rx.deliveries().len(), 4);
    let rows = outbox(store, Some(m.id)).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].state.as_str(),
            rows[0].attempts,
            rows[0].last_status
        ),
        ("delivered", 1, Some(200))
    );
    // A resend of an unknown webhook is a one-line error.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .env("LOKET_LOG", "warn")
        .args(["webhook", "resend", "--id", "999999"])
        .args(["--database", &app.database_url])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("999999"));
}

/// `loket serve` as a process: the payment is resolved while the receiver refuses, the server is
/// killed (SIGKILL) before any delivery was accepted, and the restarted server delivers the event
/// from the outbox: exactly one accepted event in all.
#[each_backend(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_once_across_a_sigkill_and_a_restart() {
    let db = db();
    // A 3 s backoff: the server is killed between two attempts, not during one (an attempt in
    // flight keeps its claim for timeout + 30 s, which only delays it).
    let config = db.write_config("[sandbox]\npending_resolve_secs = 1\n[webhooks]\nbackoff_ms = [3000]\nmax_attempts = 10\ntimeout_ms = 2000\n",
    );
    let username = "081500000005";
    let creds = tokio::task::block_in_place(|| {
        run_json(&[
            "member",
            "add",
            "--username",
            username,
            "--database",
            &db.url,
        ])
    });
    let secret = creds["secret_key"].as_str().unwrap();
    let rx = Receiver::start(secret, Policy::Refuse).await;
    let set = tokio::task::block_in_place(|| {
        run_json(&[
            "member",
            "set",
            "--username",
            username,
            "--webhook-url",
            &rx.url,
            "--database",
            &db.url,
        ])
    });
    assert_eq!(set["webhook_url"], json!(rx.url));
    let client_for = |addr: &str| {
        IsikuotaClient::new(
            format!("http://{addr}"),
            creds["api_id"].as_str().unwrap(),
            creds["api_key"].as_str().unwrap(),
            secret,
        )
    };

    let mut first = tokio::task::block_in_place(|| spawn_server(&db, &["--config", &config]));
    let c = client_for(&first.addr);
    let r = ref_id();
    assert_iq_ok(
        &pay_testing(&c, "PGAS", "0110011039", &r).await,
        true,
        "BILL_PAYMENT_PENDING",
    );
    // Look behind the server: the same database, from this process.
    let store = Store::open(&db.url).await.unwrap();
    let store = &store;
    let refused = eventually(
        Duration::from_secs(15),
        "a refused attempt to be recorded",
        move || async move {
            let rows = outbox(store, None).await;
            rows.into_iter().find(|w| w.attempts >= 1)
        },
    )
    .await;
    tokio::task::block_in_place(|| first.child.sigkill());
    assert_eq!(refused.state, "pending", "{refused:#?}");
    assert_eq!(refused.last_status, Some(500));
    assert!(rx.accepted().is_empty());
    let before_restart = rx.deliveries();
    assert!(!before_restart.is_empty());
    let payment = store
        .payment_by_ref(refused.member_id, Mode::Sandbox, &r)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (payment.state, payment.rc),
        (PaymentState::Success, Rc::Success)
    );

    rx.set_policy(Policy::Accept);
    let second = tokio::task::block_in_place(|| spawn_server(&db, &["--config", &config]));
    let accepted = rx.exactly_accepted(1).await;
    let d = &accepted[0];
    assert_webhook_envelope(d, "order.success");
    assert_eq!(d.json["data"]["ref_id"], json!(r));
    assert_eq!(d.json["data"]["status"], "Success");
    assert_eq!(d.json["data"]["sn"], "244183135447");
    assert_eq!(d.body, refused.body, "the outbox's body");
    let all = rx.deliveries();
    assert!(
        all.iter().all(|x| x.body == refused.body),
        "one event only: {all:#?}"
    );
    let rows = outbox(store, None).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].state, "delivered");
    assert_eq!(rows[0].attempts as usize, all.len());
    // The restarted server answers the settled payment.
    let s = client_for(&second.addr).status(&r, true).await.unwrap();
    assert_eq!(s.get("status"), Some(&json!("success")), "{}", s.body);
}
