//! A lean cleartext HTTP/2 channel (h2c, prior knowledge) to one upstream, on the `h2` crate.
//!
//! Used by the IAK connector for upstreams with `http = "http2"` and an `http://` base URL
//! (docs/upstreams.md, "HTTP versions"): every call is a stream on one shared connection, opened
//! on first use and again after it fails. Compared with a general HTTP client it keeps no pool,
//! no per-request connection state and no decoding layers: a payment waiting on a slow upstream
//! holds its stream and little else (docs/performance.md, "Round 6").
//!
//! Flow control is set as hyper's client sets it ([`STREAM_WINDOW`], [`CONNECTION_WINDOW`]) and
//! answers' bytes are released as they are read. With h2's default 64 KiB windows, thousands of
//! answers arriving together are cut by the sender into many small DATA frames, and h2 closes the
//! connection (GOAWAY `ENHANCE_YOUR_CALM`, "too many small DATA frames"), leaving every payment
//! on it pending.
//!
//! Errors say what failed, never the request (its body carries a signature) nor any credentials
//! in the base URL.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;

/// Receive window of each stream (hyper's client default).
pub(crate) const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// Receive window of the connection (hyper's client default): the answers of all the calls in
/// flight share it.
pub(crate) const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
/// Largest answer body read; a larger one is an error (IAK's answers are a few KiB).
pub(crate) const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Streams assumed allowed before the server's SETTINGS arrive (hyper's client default).
const INITIAL_MAX_SEND_STREAMS: usize = 100;
/// Largest header list accepted in an answer (hyper's client default).
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// Why a call through the channel got no answer.
#[derive(Debug, thiserror::Error)]
pub enum H2cError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("cannot connect to the upstream: {0}")]
    Connect(#[source] std::io::Error),
    #[error("HTTP/2 handshake with the upstream failed: {0}")]
    Handshake(#[source] h2::Error),
    #[error("HTTP/2 connection or stream failed: {0}")]
    Stream(#[source] h2::Error),
    #[error("answer body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request could not be built (bad path)")]
    Request,
}

/// An HTTP answer, whatever its status.
#[derive(Debug, Clone)]
pub struct H2cAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

/// A channel to one h2c upstream. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct H2cChannel {
    shared: Arc<Shared>,
}

struct Shared {
    /// `host:port` to connect to (IPv6 hosts in brackets).
    authority: String,
    /// `http://host:port` plus the base URL's path, without a trailing slash.
    prefix: String,
    timeout: Duration,
    /// The open connection, if any, and its number.
    live: Mutex<Option<(u64, SendRequest<Bytes>)>>,
    /// Held by the one caller opening a connection; the others wait and share it.
    connecting: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl fmt::Debug for H2cChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2cChannel")
            .field("authority", &self.shared.authority)
            .field("timeout", &self.shared.timeout)
            .finish()
    }
}

impl H2cChannel {
    /// A channel to `base_url` (`http://host[:port][/prefix]`; credentials in it are ignored),
    /// each call limited to `timeout`. Connects on first use.
    pub fn new(base_url: &str, timeout: Duration) -> Result<H2cChannel, String> {
        let uri: http::Uri = base_url
            .parse()
            .map_err(|_| "base_url is not a valid URL".to_string())?;
        if uri.scheme_str() != Some("http") {
            return Err("an h2c channel needs an http:// base_url".into());
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "base_url has no host".to_string())?;
        let port = uri.port_u16().unwrap_or(80);
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let authority = format!("{host}:{port}");
        let path = uri.path().trim_end_matches('/');
        let prefix = format!("http://{authority}{path}");
        if format!("{prefix}/").parse::<http::Uri>().is_err() {
            return Err("base_url is not a valid URL".into());
        }
        Ok(H2cChannel {
            shared: Arc::new(Shared {
                prefix,
                authority,
                timeout,
                live: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// POST `body` to `path` (relative to the base URL) and read the whole answer, within the
    /// channel's timeout.
    pub async fn post(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<H2cAnswer, H2cError> {
        let body = Bytes::from(body);
        tokio::time::timeout(self.shared.timeout, self.call(path, content_type, body))
            .await
            .unwrap_or(Err(H2cError::Timeout))
    }

    async fn call(
        &self,
        path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<H2cAnswer, H2cError> {
        let uri = if path.starts_with('/') {
            format!("{}{path}", self.shared.prefix)
        } else {
            format!("{}/{path}", self.shared.prefix)
        };
        let request = || {
            http::Request::post(uri.as_str())
                .header(http::header::CONTENT_TYPE, content_type)
                .header(http::header::CONTENT_LENGTH, body.len())
                .body(())
                .map_err(|_| H2cError::Request)
        };
        let (id, sender, fresh) = self.sender().await?;
        // A request that could not even be opened was never sent: on a connection found already
        // open (it may have died idle), it is safe to try once more on a new one.
        let (response, mut stream) = match open(sender, request()?).await {
            Ok(opened) => opened,
            Err(e) => {
                self.shared.forget(id);
                if fresh {
                    return Err(H2cError::Stream(e));
                }
                let (id, sender, _) = self.sender().await?;
                match open(sender, request()?).await {
                    Ok(opened) => opened,
                    Err(e) => {
                        self.shared.forget(id);
                        return Err(H2cError::Stream(e));
                    }
                }
            }
        };
        stream.send_data(body, true).map_err(H2cError::Stream)?;
        let response = response.await.map_err(H2cError::Stream)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_ANSWER_BYTES) {
            return Err(H2cError::TooLarge {
                limit: MAX_ANSWER_BYTES,
            });
        }
        let mut recv = response.into_body();
        let mut buf = Vec::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(H2cError::Stream)?;
            // Give the window back at once: the answers of every call share the connection's.
            let _ = recv.flow_control().release_capacity(chunk.len());
            if buf.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(H2cError::TooLarge {
                    limit: MAX_ANSWER_BYTES,
                });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(H2cAnswer {
            status,
            content_type,
            body: Bytes::from(buf),
        })
    }

    /// The open connection's sender, or a new connection's; `fresh` when it was just opened.
    async fn sender(&self) -> Result<(u64, SendRequest<Bytes>, bool), H2cError> {
        if let Some((id, sender)) = self.shared.current() {
            return Ok((id, sender, false));
        }
        let _connecting = self.shared.connecting.lock().await;
        // Someone else may have connected while this caller waited.
        if let Some((id, sender)) = self.shared.current() {
            return Ok((id, sender, false));
        }
        let (id, sender) = self.connect().await?;
        Ok((id, sender, true))
    }

    async fn connect(&self) -> Result<(u64, SendRequest<Bytes>), H2cError> {
        let tcp = tokio::net::TcpStream::connect(self.shared.authority.as_str())
            .await
            .map_err(H2cError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .initial_max_send_streams(INITIAL_MAX_SEND_STREAMS)
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake::<_, Bytes>(tcp)
            .await
            .map_err(H2cError::Handshake)?;
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        // The connection is driven by a task of its own, which holds no strong reference to the
        // channel: when the connector is dropped, the senders go and the connection closes.
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let authority = self.shared.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(upstream = %authority, error = %e, "h2c connection ended");
            }
            if let Some(shared) = weak.upgrade() {
                shared.forget(id);
            }
        });
        if let Ok(mut live) = self.shared.live.lock() {
            *live = Some((id, sender.clone()));
        }
        Ok((id, sender))
    }
}

impl Shared {
    fn current(&self) -> Option<(u64, SendRequest<Bytes>)> {
        self.live.lock().ok()?.clone()
    }

    /// Drop connection `id` (if it is still the current one): the next call opens a new one.
    fn forget(&self, id: u64) {
        if let Ok(mut live) = self.live.lock() {
            if live.as_ref().is_some_and(|(current, _)| *current == id) {
                *live = None;
            }
        }
    }
}

/// Wait for room for one more stream on `sender`'s connection, then open the request's.
async fn open(
    sender: SendRequest<Bytes>,
    request: http::Request<()>,
) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), h2::Error> {
    let mut sender = sender.ready().await?;
    sender.send_request(request, false)
}

#[cfg(test)]
pub(crate) mod tests;
