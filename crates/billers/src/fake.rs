//! A tiny local HTTP/1.1 server for the connectors' tests: it answers each request with what its
//! handler returns, including the faults a real upstream cannot be asked for (a slow answer, a
//! connection closed without an answer, garbage, 5xx). One request per connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// Answer with this HTTP status and body (`Content-Type: application/json`).
    Body(u16, String),
    /// Read the request, then close the connection without a word.
    Close,
    /// Wait, then reply.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub(crate) fn json(v: Value) -> Reply {
        Reply::Body(200, v.to_string())
    }
}

type Handler = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

/// A running fake server; it lives as long as the test's runtime.
pub(crate) struct FakeServer {
    pub base_url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeServer {
    /// A server answering every request with `handler(body as JSON)` (`Null` when the body is
    /// not JSON).
    pub(crate) async fn start(handler: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, handler, seen).await;
                });
            }
        });
        FakeServer {
            base_url: format!("http://{addr}"),
            requests,
        }
    }

    /// A server that always answers `reply`.
    pub(crate) async fn fixed(reply: Reply) -> Self {
        FakeServer::start(move |_| reply.clone()).await
    }

    /// The `(path, JSON body)` of every request received so far.
    pub(crate) fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Handler,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
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
    seen.lock().expect("lock").push((path, body));
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
