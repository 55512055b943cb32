//! The HTTP ceiling: a minimal axum server answering `POST /api/v1/bill/check` with a fixed body
//! of the same size as loket's inquiry answer. It reads the request body, as loket does, and does
//! nothing else. `loket-bench axum-server` runs it as a child process, so that it competes for
//! the same cores as loket does when measured.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;

/// Listen with a deep accept backlog (the default 1024 drops SYNs under bursts of connections).
pub fn listen(addr: &str, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    Ok(listen_many(addr, 1, backlog)?.remove(0))
}

/// `n` listeners on the same address (`SO_REUSEPORT`: the kernel spreads new connections over
/// them, each with its own accept queue of `backlog`). With port 0, they share the first one's
/// port.
pub fn listen_many(
    addr: &str,
    n: usize,
    backlog: u32,
) -> std::io::Result<Vec<tokio::net::TcpListener>> {
    let mut addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let mut out = Vec::with_capacity(n.max(1));
    for _ in 0..n.max(1) {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(backlog)?;
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// A JSON IAK-shaped answer of exactly `size` bytes (at least the envelope's own size), RC 00.
pub fn fixed_body(size: usize) -> Bytes {
    let head = r#"{"data":{"tr_id":1,"response_code":"00","message":"INQUIRY SUCCESS","pad":""#;
    let tail = r#""},"meta":[]}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(head.len() + pad + tail.len());
    s.push_str(head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    Bytes::from(s)
}

async fn answer(State(body): State<Bytes>, _request: Bytes) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], body)
}

async fn healthz() -> &'static str {
    "ok"
}

pub fn router(body: Bytes) -> Router {
    Router::new()
        .route("/api/v1/bill/check", post(answer))
        .route("/api/v1/bill/check/", post(answer))
        .route("/healthz", get(healthz))
        .with_state(body)
}

/// Serve the fixed `body` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    body: Bytes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(body))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_body_has_the_size_and_the_rc() {
        for size in [0, 100, 512, 1000] {
            let b = fixed_body(size);
            assert!(b.len() >= size.min(b.len()));
            if size >= 100 {
                assert_eq!(b.len(), size);
            }
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["data"]["response_code"], "00");
        }
    }
}
