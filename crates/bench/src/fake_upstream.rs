//! A fake IAK-compatible upstream for the slow-upstream scenario: `inq-pasca` answers at once
//! with a PGAS-like bill (a fresh `tr_id`, the request's `ref_id`), `pay-pasca` answers RC 00
//! after `pay_delay`, `checkstatus` answers paid. Signatures are not checked. `GET /stats` tells
//! how many payments it held at once (the proof that they were all in flight together).
//! `loket-bench fake-upstream` runs it as a child process (it holds one socket per payment in
//! flight: in its own process it does not eat into the generator's file descriptors).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The fake's bill: PGAS-like amounts; `selling_price` is what the upstream charges loket.
pub const NOMINAL: i64 = 322_002;
pub const ADMIN: i64 = 2_500;
pub const COST: i64 = 323_500;

#[derive(Default)]
pub struct Counters {
    next_tr_id: AtomicI64,
    pub inquiries: AtomicU64,
    pub pays: AtomicU64,
    pub status_checks: AtomicU64,
    pub in_flight: AtomicI64,
    pub max_in_flight: AtomicI64,
}

#[derive(Clone)]
struct FakeState {
    counters: Arc<Counters>,
    pay_delay: Duration,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn bill_check(State(s): State<FakeState>, body: axum::body::Bytes) -> Json<Value> {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = match text(&req, "commands").as_str() {
        "inq-pasca" => {
            s.counters.inquiries.fetch_add(1, Ordering::Relaxed);
            let tr_id = 900_000_000 + s.counters.next_tr_id.fetch_add(1, Ordering::Relaxed);
            json!({
                "tr_id": tr_id,
                "code": text(&req, "code"),
                "hp": text(&req, "hp"),
                "tr_name": "BENCH CUSTOMER",
                "period": "0917",
                "nominal": NOMINAL,
                "admin": ADMIN,
                "ref_id": text(&req, "ref_id"),
                "response_code": "00",
                "message": "INQUIRY SUCCESS",
                "price": NOMINAL + ADMIN,
                "selling_price": COST,
                "desc": {"address": "-", "first_meter": "006538", "last_meter": "006573", "usage": 35}
            })
        }
        "pay-pasca" => {
            let now = s.counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            s.counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(s.pay_delay).await;
            s.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
            s.counters.pays.fetch_add(1, Ordering::Relaxed);
            let tr_id = req.get("tr_id").cloned().unwrap_or(Value::Null);
            json!({
                "tr_id": tr_id,
                "response_code": "00",
                "message": "PAYMENT SUCCESS",
                "price": NOMINAL + ADMIN,
                "selling_price": COST,
                "noref": format!("BENCH{}", text(&req, "tr_id")),
                "balance": 0,
            })
        }
        "checkstatus" => {
            s.counters.status_checks.fetch_add(1, Ordering::Relaxed);
            json!({
                "ref_id": text(&req, "ref_id"),
                "response_code": "00",
                "message": "PAYMENT SUCCESS",
                "status": 1,
                "noref": "BENCHSTATUS",
                "selling_price": COST,
            })
        }
        _ => json!({"response_code": "101", "message": "INVALID COMMAND"}),
    };
    Json(json!({"data": data, "meta": []}))
}

async fn stats(State(s): State<FakeState>) -> Json<Value> {
    let c = &s.counters;
    Json(json!({
        "inquiries": c.inquiries.load(Ordering::Relaxed),
        "pays": c.pays.load(Ordering::Relaxed),
        "status_checks": c.status_checks.load(Ordering::Relaxed),
        "in_flight": c.in_flight.load(Ordering::SeqCst),
        "max_in_flight": c.max_in_flight.load(Ordering::SeqCst),
    }))
}

pub fn router(counters: Arc<Counters>, pay_delay: Duration) -> Router {
    Router::new()
        .route("/api/v1/bill/check", post(bill_check))
        .route("/api/v1/bill/check/", post(bill_check))
        .route("/stats", get(stats))
        .with_state(FakeState {
            counters,
            pay_delay,
        })
}

/// Most HTTP/2 streams one client connection may hold open at the fake: more than any
/// scenario's payments in flight, so that the fake never limits them.
pub const MAX_STREAMS: u32 = 1_000_000;

/// Serve the fake on `listener` until `shutdown` completes: HTTP/1.1, and cleartext HTTP/2 with
/// prior knowledge (h2c) with up to [`MAX_STREAMS`] streams per connection (loket's
/// `http = "http2"` upstreams send all their payments over one connection).
pub async fn serve(
    listener: tokio::net::TcpListener,
    counters: Arc<Counters>,
    pay_delay: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use tower::Service;
    let app = router(counters, pay_delay);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(MAX_STREAMS);
    let builder = Arc::new(builder);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.as_mut() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                app.clone().call(req)
            });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _ = watcher
                .watch(builder.serve_connection(TokioIo::new(stream), service))
                .await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}
