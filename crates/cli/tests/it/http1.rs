//! HTTP/1.1 framing over a raw socket: requests larger than a connection's first read buffer
//! (1 KiB, vendor/README.md), keep-alive connections whose requests change size, pipelined
//! requests, the 8 KiB limit on a request's head, and the turns new connections take for their
//! first run (loket_api::admission).

use crate::helpers::*;
use loket_client::iak::InquiryParams;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BILL_CHECK: &str = "/api/v1/bill/check";

/// One answer read off a keep-alive connection: its status, head and body (`Content-Length`
/// framed, as loket's answers are).
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Reads answers one after the other from a connection, keeping what arrived past each one.
struct Reader {
    stream: TcpStream,
    buffered: Vec<u8>,
}

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Reader {
            stream,
            buffered: Vec::new(),
        }
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.stream.read(&mut chunk),
        )
        .await
        .expect("an answer within 10 s")
        .expect("read");
        self.buffered.extend_from_slice(&chunk[..n]);
        n
    }

    async fn answer(&mut self) -> Answer {
        let head_end = loop {
            if let Some(i) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill().await > 0, "the connection closed mid-answer");
        };
        let head = String::from_utf8(self.buffered[..head_end].to_vec()).expect("a text head");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {head}"));
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("a Content-Length: {head}"));
        while self.buffered.len() < head_end + length {
            assert!(self.fill().await > 0, "the connection closed mid-body");
        }
        let body = self.buffered[head_end..head_end + length].to_vec();
        self.buffered.drain(..head_end + length);
        Answer { status, head, body }
    }
}

/// A signed sandbox inquiry as a JSON body, padded with `pad` bytes of whitespace (valid JSON).
fn inquiry_body(app: &TestApp, m: &TestMember, p: &InquiryParams, pad: usize) -> String {
    let json = Value::Object(app.sandbox_client(m).inquiry_fields(p)).to_string();
    format!("{json}{}", " ".repeat(pad))
}

/// The request's bytes: `extra_headers` of about `header_bytes` bytes in all, then the body.
fn request(app: &TestApp, body: &str, header_bytes: usize) -> Vec<u8> {
    let host = app.base_url.trim_start_matches("http://");
    let mut head = format!(
        "POST {BILL_CHECK} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let mut i = 0;
    while header_bytes > 0 && head.len() < header_bytes {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(100)));
        i += 1;
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

fn assert_inquiry_ok(a: &Answer, what: &str) {
    assert_eq!(a.status, 200, "{what}: {}", a.head);
    let v: Value = serde_json::from_slice(&a.body).expect("a JSON answer");
    assert_eq!(v["data"]["response_code"], "00", "{what}: {v}");
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

#[each_backend]
async fn a_large_head_and_a_large_body_on_one_keep_alive_connection() {
    let app = spawn_app().await;
    let m = app.create_member("081200000901").await;
    let mut conn = Reader::new(connect(&app).await);
    // (head bytes, body padding): small, then each over the first 1 KiB buffer, then a head near
    // the 8 KiB limit with a body of several times that, then small again.
    let sizes = [
        (0, 0),
        (3_000, 0),
        (0, 3_000),
        (7_000, 40_000),
        (0, 0),
        (7_000, 0),
    ];
    for (i, (head_bytes, pad)) in sizes.into_iter().enumerate() {
        let p = params("PGAS", "0110010000");
        let req = request(&app, &inquiry_body(&app, &m, &p, pad), head_bytes);
        conn.stream.write_all(&req).await.expect("write");
        let a = conn.answer().await;
        assert_inquiry_ok(
            &a,
            &format!("request {i}: head ~{head_bytes} B, body +{pad} B"),
        );
        assert!(
            app.quote(&m, loket_core::Mode::Sandbox, &p.ref_id)
                .await
                .is_some(),
            "request {i}: its quote is stored"
        );
    }
}

#[each_backend]
async fn pipelined_requests_are_answered_in_order() {
    let app = spawn_app().await;
    let m = app.create_member("081200000902").await;
    let mut conn = Reader::new(connect(&app).await);
    // Three requests in one write (over 1 KiB together, the second one larger by itself), then
    // the answers read: one each, in order.
    let ps: Vec<InquiryParams> = (0..3).map(|_| params("PGAS", "0110010000")).collect();
    let mut bytes = Vec::new();
    for (i, p) in ps.iter().enumerate() {
        let pad = if i == 1 { 2_000 } else { 0 };
        bytes.extend(request(&app, &inquiry_body(&app, &m, p, pad), 0));
    }
    conn.stream.write_all(&bytes).await.expect("write");
    for (i, p) in ps.iter().enumerate() {
        let a = conn.answer().await;
        assert_inquiry_ok(&a, &format!("pipelined request {i}"));
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(
            v["data"]["ref_id"],
            p.ref_id.as_str(),
            "answer {i} in order"
        );
    }
}

#[each_backend]
async fn a_head_that_does_not_fit_in_8_kib_is_refused_with_431_and_nothing_is_stored() {
    let app = spawn_app().await;
    let m = app.create_member("081200000903").await;
    let p = params("PGAS", "0110010000");
    let mut conn = Reader::new(connect(&app).await);
    // Exactly 8 KiB of an unfinished head: the server reads all of it (so it closes with nothing
    // left unread, and its answer is not lost to a reset) and finds no end.
    let mut req = request(&app, &inquiry_body(&app, &m, &p, 0), 9_000);
    req.truncate(8 * 1024);
    conn.stream.write_all(&req).await.expect("write");
    let a = conn.answer().await;
    assert_eq!(a.status, 431, "{}", a.head);
    app.assert_nothing_stored(&m, &p.ref_id).await;
    app.assert_alive().await;
}

/// A server whose new connections get one turn at a time for their first run
/// (`limits.first_runs`, loket_api::admission).
async fn spawn_app_one_turn() -> TestApp {
    let mut config = loket_api::Config::default();
    config.limits.first_runs = 1;
    spawn_app_with(config).await
}

/// A connection from `local` (a loopback address: another client machine).
async fn connect_from(app: &TestApp, local: std::net::Ipv4Addr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(std::net::SocketAddr::from((local, 0)))
        .expect("bind a loopback address");
    let addr = app
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address");
    socket.connect(addr).await.expect("connect")
}

#[each_backend]
async fn a_connection_that_sent_half_a_request_does_not_keep_the_turn_of_new_connections() {
    let app = spawn_app_one_turn().await;
    let m = app.create_member("081200000904").await;
    // The first connection sends half a request head and stops: its first run ends waiting for
    // the rest, and the one turn goes back.
    let p = params("PGAS", "0110010000");
    let req = request(&app, &inquiry_body(&app, &m, &p, 0), 0);
    let (first, rest) = req.split_at(40);
    let mut slow = Reader::new(connect(&app).await);
    slow.stream.write_all(first).await.expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // New connections are served meanwhile, one after the other.
    for i in 0..3 {
        let q = params("PGAS", "0110010000");
        let mut conn = Reader::new(connect(&app).await);
        conn.stream
            .write_all(&request(&app, &inquiry_body(&app, &m, &q, 0), 0))
            .await
            .expect("write");
        assert_inquiry_ok(&conn.answer().await, &format!("new connection {i}"));
    }
    // And the slow one is answered once its request is whole.
    slow.stream.write_all(rest).await.expect("write");
    assert_inquiry_ok(&slow.answer().await, "the connection that paused");
    assert!(app
        .quote(&m, loket_core::Mode::Sandbox, &p.ref_id)
        .await
        .is_some());
}

#[each_backend]
async fn a_burst_of_new_connections_from_two_addresses_is_answered_in_full_with_one_turn() {
    let app = spawn_app_one_turn().await;
    let m = app.create_member("081200000905").await;
    // 40 connections from 127.0.0.1 and 10 from 127.0.0.2 send their requests at once; with one
    // turn, each turn is handed on to the next waiter until all are answered.
    let mut conns = Vec::new();
    for i in 0..50u8 {
        let local = if i % 5 == 4 {
            std::net::Ipv4Addr::new(127, 0, 0, 2)
        } else {
            std::net::Ipv4Addr::LOCALHOST
        };
        let p = params("PGAS", "0110010000");
        let bytes = request(&app, &inquiry_body(&app, &m, &p, 0), 0);
        conns.push((
            Reader::new(connect_from(&app, local).await),
            bytes,
            p,
            local,
        ));
    }
    for (conn, bytes, _, _) in conns.iter_mut() {
        conn.stream.write_all(bytes).await.expect("write");
    }
    for (mut conn, _, p, local) in conns {
        let a = conn.answer().await;
        assert_inquiry_ok(&a, &format!("{} from {local}", p.ref_id));
        assert!(app
            .quote(&m, loket_core::Mode::Sandbox, &p.ref_id)
            .await
            .is_some());
    }
    app.assert_alive().await;
}
