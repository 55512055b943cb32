//! The h2c channel against a real h2c server (h2's, on 127.0.0.1:0). [`Server`] also serves the
//! IAK connector's h2c tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;

use super::{H2cChannel, H2cError, MAX_ANSWER_BYTES};

/// What the test server does with each request.
#[derive(Clone)]
pub(crate) enum Mode {
    /// Hold every answer until `n` requests have arrived, then answer them all at once: each
    /// answer is [`answer_for`] of its request's body.
    AllAtOnce { n: usize },
    /// Answer at once, then close the connection.
    OnePerConnection,
    /// Never answer.
    Silent,
    /// Answer with a body of this many bytes.
    Big(usize),
    /// Answer with this body.
    Fixed(Bytes),
}

pub(crate) struct Server {
    pub(crate) base_url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<(String, Bytes)>>>,
}

/// A pay-like answer of about 200 bytes, naming the request's body (its `tr_id`).
fn answer_for(request: &[u8]) -> Bytes {
    let tr_id = String::from_utf8_lossy(request);
    Bytes::from(format!(
        "{{\"data\":{{\"tr_id\":{tr_id},\"response_code\":\"00\",\"message\":\"PAYMENT SUCCESS\",\
         \"price\":324502,\"selling_price\":323500,\"noref\":\"BENCH{tr_id}\",\"balance\":0}},\
         \"meta\":[]}}"
    ))
}

impl Server {
    pub(crate) async fn start(mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        // For AllAtOnce: how many requests arrived, and the signal that all did.
        let arrived = Arc::new(AtomicUsize::new(0));
        let (all_in, _) = tokio::sync::watch::channel(false);
        let all_in = Arc::new(all_in);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let (mode, arrived, all_in) = (mode.clone(), arrived.clone(), all_in.clone());
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::Builder::new()
                        .max_concurrent_streams(1_000_000)
                        .handshake::<_, Bytes>(tcp)
                        .await
                    else {
                        return;
                    };
                    while let Some(Ok((request, respond))) = conn.accept().await {
                        let (mode, arrived, all_in) =
                            (mode.clone(), arrived.clone(), all_in.clone());
                        let seen = seen.clone();
                        if matches!(mode, Mode::OnePerConnection) {
                            // Drive the connection while answering, let the answer's frames
                            // go out, then close abruptly.
                            let answered = serve(request, respond, mode, &arrived, &all_in, &seen);
                            tokio::select! {
                                _ = answered => {}
                                _ = std::future::poll_fn(|cx| conn.poll_closed(cx)) => return,
                            }
                            let _ = tokio::time::timeout(
                                Duration::from_millis(50),
                                std::future::poll_fn(|cx| conn.poll_closed(cx)),
                            )
                            .await;
                            return;
                        }
                        tokio::spawn(async move {
                            let _ = serve(request, respond, mode, &arrived, &all_in, &seen).await;
                        });
                    }
                });
            }
        });
        Server {
            base_url: format!("http://{addr}"),
            connections,
            requests,
        }
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The path and body of every request received so far.
    pub(crate) fn requests(&self) -> Vec<(String, Bytes)> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn serve(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    mode: Mode,
    arrived: &AtomicUsize,
    all_in: &tokio::sync::watch::Sender<bool>,
    seen: &Mutex<Vec<(String, Bytes)>>,
) -> Result<(), h2::Error> {
    let path = request.uri().path().to_string();
    let mut body = request.into_body();
    let mut got = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    if !matches!(mode, Mode::AllAtOnce { .. }) {
        seen.lock()
            .expect("lock")
            .push((path, Bytes::from(got.clone())));
    }
    let answer = match mode {
        Mode::AllAtOnce { n } => {
            let mut rx = all_in.subscribe();
            if arrived.fetch_add(1, Ordering::SeqCst) + 1 >= n {
                all_in.send_replace(true);
            }
            let _ = rx.wait_for(|all| *all).await;
            answer_for(&got)
        }
        Mode::OnePerConnection => answer_for(&got),
        Mode::Silent => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Ok(());
        }
        Mode::Big(n) => Bytes::from(vec![b' '; n]),
        Mode::Fixed(body) => body,
    };
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(())
        .expect("response");
    let mut send = respond.send_response(response, false)?;
    // As hyper's server sends a body: claim one byte of the window, wait for it, then hand over
    // the whole chunk (h2 raises the claim to its length). When the client's window is short,
    // the streams waiting together get it in crumbs: many small DATA frames.
    send.reserve_capacity(1);
    while send.capacity() == 0 {
        match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(()),
        }
    }
    send.send_data(answer, true)
}

fn channel(base_url: &str, timeout: Duration) -> H2cChannel {
    H2cChannel::new(base_url, timeout).expect("channel")
}

/// The regression: thousands of answers arriving together (as when a slow upstream answers a
/// burst of payments) all come back, over one connection. With h2's default 64 KiB windows the
/// server cut them into small DATA frames and the client closed the connection with
/// ENHANCE_YOUR_CALM, failing most calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_answers_at_once_all_arrive_on_one_connection() {
    const N: usize = 5_000;
    let server = Server::start(Mode::AllAtOnce { n: N }).await;
    let ch = channel(&server.base_url, Duration::from_secs(60));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let ch = ch.clone();
        tasks.spawn(async move {
            let tr_id = 900_000_000 + i;
            let r = ch
                .post(
                    "/api/v1/bill/check",
                    "application/json",
                    tr_id.to_string().into_bytes(),
                )
                .await;
            (tr_id, r)
        });
    }
    let mut ok = 0;
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    while let Some(done) = tasks.join_next().await {
        let (tr_id, r) = done.expect("task");
        match r {
            Ok(a) => {
                assert_eq!(a.status, 200);
                assert_eq!(a.content_type, "application/json");
                assert_eq!(a.body, answer_for(tr_id.to_string().as_bytes()));
                ok += 1;
            }
            Err(e) => *errors.entry(e.to_string()).or_default() += 1,
        }
    }
    assert_eq!(ok, N, "errors: {errors:?}");
    assert_eq!(server.connections(), 1, "every call shared one connection");
}

#[tokio::test]
async fn a_closed_connection_is_opened_again() {
    let server = Server::start(Mode::OnePerConnection).await;
    let ch = channel(&server.base_url, Duration::from_secs(10));
    for i in 0..3 {
        let a = ch
            .post("api/v1/bill/check", "application/json", b"7".to_vec())
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(a.body, answer_for(b"7"));
        // The server closes the connection 50 ms after its answer (a call sent meanwhile would
        // fail, and be pending: it may have been received); the next call finds it gone.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let server = Server::start(Mode::Silent).await;
    let ch = channel(&server.base_url, Duration::from_millis(200));
    let started = std::time::Instant::now();
    let r = ch.post("/x", "application/json", b"1".to_vec()).await;
    assert!(matches!(r, Err(H2cError::Timeout)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused() {
    let server = Server::start(Mode::Big(MAX_ANSWER_BYTES + 1)).await;
    let ch = channel(&server.base_url, Duration::from_secs(10));
    let r = ch.post("/x", "application/json", b"1".to_vec()).await;
    assert!(matches!(r, Err(H2cError::TooLarge { .. })), "{r:?}");
    // Exactly the limit is fine.
    let server = Server::start(Mode::Big(MAX_ANSWER_BYTES)).await;
    let ch = channel(&server.base_url, Duration::from_secs(10));
    let a = ch.post("/x", "application/json", b"1".to_vec()).await;
    assert_eq!(a.expect("answer").body.len(), MAX_ANSWER_BYTES);
}

#[tokio::test]
async fn errors_name_no_credentials() {
    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let ch = channel(
        &format!("http://user:s3cr3t-pw@127.0.0.1:{port}/prefix/"),
        Duration::from_secs(5),
    );
    assert!(!format!("{ch:?}").contains("s3cr3t"), "{ch:?}");
    let e = ch
        .post(
            "/api/v1/bill/check",
            "application/json",
            b"sign=abc".to_vec(),
        )
        .await
        .expect_err("nobody listens");
    assert!(matches!(e, H2cError::Connect(_)), "{e:?}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(!shown.contains("sign=abc"), "{shown}");
}

#[tokio::test]
async fn an_http1_server_is_an_error_not_an_answer() {
    let fake = crate::fake::FakeServer::fixed(crate::fake::Reply::Body(200, "{}".into())).await;
    let ch = channel(&fake.base_url, Duration::from_secs(5));
    let r = ch
        .post("/api/v1/bill/check", "application/json", b"{}".to_vec())
        .await;
    assert!(
        matches!(r, Err(H2cError::Stream(_) | H2cError::Handshake(_))),
        "{r:?}"
    );
}

#[test]
fn base_urls() {
    assert!(H2cChannel::new("https://example.com", Duration::from_secs(1)).is_err());
    assert!(H2cChannel::new("not a url", Duration::from_secs(1)).is_err());
    assert!(H2cChannel::new("http://", Duration::from_secs(1)).is_err());
    let ch = H2cChannel::new("http://127.0.0.1:8080/base/", Duration::from_secs(1)).unwrap();
    assert_eq!(ch.shared.authority, "127.0.0.1:8080");
    assert_eq!(ch.shared.prefix, "http://127.0.0.1:8080/base");
    let ch = H2cChannel::new("http://[::1]", Duration::from_secs(1)).unwrap();
    assert_eq!(ch.shared.authority, "[::1]:80");
}
