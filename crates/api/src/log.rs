//! One log line per request: method, path, protocol, member, RC, latency. Never a key, a signature
//! or a query string (receipts carry `?sign=`).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// What a handler tells the request log; put in the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    pub protocol: &'static str,
    pub member: Option<String>,
    pub rc: String,
}

pub async fn log_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let info = response
        .extensions()
        .get::<RequestLog>()
        .cloned()
        .unwrap_or_default();
    tracing::info!(
        target: "loket::request",
        %method,
        path = %path,
        protocol = info.protocol,
        member = info.member.as_deref().unwrap_or("-"),
        rc = %info.rc,
        status = response.status().as_u16(),
        latency_us = start.elapsed().as_micros() as u64,
        "request"
    );
    response
}
