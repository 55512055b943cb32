//! A lean HTTP/1.1 client for the load generator: hyper-util's pooled client with keep-alive,
//! `TCP_NODELAY`, bodies as ready [`Bytes`] (no copy, no serialisation in the measured loop).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// The default timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled keep-alive client. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// An answer: HTTP status and the whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl HttpClient {
    /// A client keeping up to `pool` idle connections (size it to the concurrency).
    pub fn new(pool: usize) -> HttpClient {
        HttpClient::from_address(pool, None)
    }

    /// The same, its connections leaving from `local` (a client machine of its own: another
    /// loopback address, 127.0.0.2 and on, for another member).
    pub fn from_address(pool: usize, local: Option<std::net::IpAddr>) -> HttpClient {
        let mut connector = HttpConnector::new();
        connector.set_local_address(local);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(120))
            .build(connector);
        HttpClient {
            inner,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> HttpClient {
        self.timeout = timeout;
        self
    }

    /// POST `body` to `uri`. Errors are short kinds (`timeout`, `connect: ...`), used as keys of
    /// the error table.
    pub async fn post(
        &self,
        uri: &Uri,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Answer, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        self.send(req).await
    }

    /// GET `uri`.
    pub async fn get(&self, uri: &Uri) -> Result<Answer, String> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("request: {e}"))?;
        self.send(req).await
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Answer, String> {
        let call = async {
            let resp = self.inner.request(req).await.map_err(|e| error_kind(&e))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {}", error_chain(&e)))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err("timeout".into()),
        }
    }
}

/// `a: b: c` from an error and its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn error_kind(e: &hyper_util::client::legacy::Error) -> String {
    let kind = if e.is_connect() { "connect" } else { "http" };
    format!("{kind}: {}", error_chain(e))
}

/// `base` (`http://host:port`, trailing slash ignored) joined with `path`.
pub fn endpoint(base: &str, path: &str) -> Result<Uri, String> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    url.parse::<Uri>()
        .map_err(|e| format!("bad URL {url:?}: {e}"))
}

/// One connection of its own, outside any pool: to hold many requests in flight at once on
/// connections opened beforehand. HTTP/1.1 carries one request at a time; an h2c connection
/// (HTTP/2 with prior knowledge) carries any number, each a stream, and clones share it.
pub struct Conn {
    sender: Sender,
    host: String,
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2c(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Connect to `base` (`http://host:port`) over HTTP/1.1.
    pub async fn open(base: &str) -> Result<Conn, String> {
        Conn::connect(base, false).await
    }

    /// Connect to `base` over h2c; [`Conn::share`] gives further handles on the connection.
    pub async fn open_h2c(base: &str) -> Result<Conn, String> {
        Conn::connect(base, true).await
    }

    /// Another handle on an h2c connection (its requests are streams of the same connection);
    /// `None` for HTTP/1.1, which carries one request at a time.
    pub fn share(&self) -> Option<Conn> {
        match &self.sender {
            Sender::Http1(_) => None,
            Sender::H2c(s) => Some(Conn {
                sender: Sender::H2c(s.clone()),
                host: self.host.clone(),
            }),
        }
    }

    async fn connect(base: &str, h2c: bool) -> Result<Conn, String> {
        let uri: Uri = base.parse().map_err(|e| format!("bad URL {base:?}: {e}"))?;
        let host = uri
            .authority()
            .ok_or_else(|| format!("no host in {base:?}"))?
            .to_string();
        let stream = tokio::net::TcpStream::connect(host.as_str())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("connect: {e}"))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let handshake = |e: hyper::Error| format!("handshake: {}", error_chain(&e));
        let sender = if h2c {
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                // Thousands of answers arrive together: hyper's server sends what the window
                // allows, so a large window keeps them from trickling in.
                .initial_stream_window_size(1 << 20)
                .initial_connection_window_size(16 << 20)
                .handshake(io)
                .await
                .map_err(handshake)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::H2c(sender)
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(handshake)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Sender::Http1(sender)
        };
        Ok(Conn { sender, host })
    }

    /// POST `body` to `path` on this connection.
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &'static str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let call = async {
            let http = |e: hyper::Error| format!("http: {}", error_chain(&e));
            let req = Request::builder().method(Method::POST);
            let req = match &self.sender {
                Sender::Http1(_) => req
                    .uri(path)
                    .header(hyper::header::HOST, self.host.as_str()),
                // HTTP/2 names the authority in the URI (:authority), not in a Host header.
                Sender::H2c(_) => req.uri(format!("http://{}{path}", self.host)),
            }
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
            let resp = match &mut self.sender {
                Sender::Http1(s) => {
                    s.ready().await.map_err(http)?;
                    s.send_request(req).await.map_err(http)?
                }
                Sender::H2c(s) => {
                    s.ready().await.map_err(http)?;
                    s.send_request(req).await.map_err(http)?
                }
            };
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {}", error_chain(&e)))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(r) => r,
            Err(_) => Err("timeout".into()),
        }
    }
}

/// `n` connections to `base`, at most `parallel` connecting at a time (a gentle ramp: no burst
/// of SYNs to overflow the server's accept queue). Failed ones are `Err`.
pub async fn open_conns(base: &str, n: usize, parallel: usize) -> Vec<Result<Conn, String>> {
    let mut out: Vec<Result<Conn, String>> = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut started = 0;
    while out.len() < n {
        while started < n && set.len() < parallel.max(1) {
            let base = base.to_string();
            set.spawn(async move { Conn::open(&base).await });
            started += 1;
        }
        match set.join_next().await {
            Some(Ok(r)) => out.push(r),
            Some(Err(e)) => out.push(Err(format!("task: {e}"))),
            None => break,
        }
    }
    out
}
