//! The HTTP listener: HTTP/1.1 and cleartext HTTP/2 with prior knowledge (h2c) on one port, so a
//! loket in front of another (an upstream with `http = "http2"`) multiplexes its payments over a
//! few connections. Bounded: at most `max_connections` connections at once (more wait in the
//! listen backlog), at most `http2_max_streams` requests in flight per HTTP/2 connection.

use crate::admission::{peer_group, Admission, FirstRun};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;

/// How the listener serves connections (`[limits]` of the config file).
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Most connections served at once; beyond it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Most requests in flight on one HTTP/2 connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub http2_max_streams: u32,
    /// New connections' first runs and new h2c streams at once (`crate::admission`): the rest
    /// wait, taking turns by peer address.
    pub first_runs: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 16_384,
            http2_max_streams: 10_000,
            first_runs: 8,
        }
    }
}

/// Bind `addr` (`host:port`, the first address it resolves to) with an accept queue of
/// `backlog` connections (the kernel caps it at `net.core.somaxconn`). `TCP_NODELAY` is set on
/// the accepted connections.
pub async fn bind(addr: &str, backlog: u32) -> io::Result<TcpListener> {
    let resolved = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let socket = if resolved.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(resolved)?;
    socket.listen(backlog.max(1))
}

/// Serve `router` on `listener` until `shutdown` completes; then stop accepting and wait for the
/// connections to finish their requests. Handlers see the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let admission = Admission::new(opts.first_runs);
    serve_router_with(listener, router, opts, admission, shutdown).await
}

/// [`serve_router`] with the turns given (tests look at them).
async fn serve_router_with(
    listener: TcpListener,
    router: Router,
    opts: ServerOptions,
    admission: Arc<Admission>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    // Half-close: while a request is in flight, hyper does not poll the connection for an early
    // EOF. That poll reserved a second read buffer per connection (the first one is still
    // referenced by the request's headers): with 10,000 payments waiting on a slow upstream, the
    // largest single cost (docs/performance.md, "Slow upstream"). A client that goes away
    // mid-request is noticed when its answer is written; the request runs to its end either way
    // (a payment's outcome is written, never cut off halfway).
    h1.half_close(true);
    // The smallest buffer hyper allows (8 KiB, twice the largest request head loket expects):
    // the read buffer otherwise doubles to 16 KiB on the second read of a connection.
    h1.max_buf_size(8 * 1024);
    // The first read buffer (hyper: 8 KiB, our patch: vendor/README.md): a request to loket is a
    // few hundred bytes, and the buffer lives as long as the request does (its head is a view
    // into it): with 10,000 payments waiting on a slow upstream, 8 KiB each was ~40 MiB resident.
    // Larger requests still work: the buffer doubles while reads fill it, up to the 8 KiB above.
    h1.read_buf_initial_size(1024);
    let h1 = Arc::new(h1);
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let main = tokio::runtime::Handle::current();
    let doorman = Doorman::start()?;
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let http2_max_streams = opts.http2_max_streams.max(1);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = shutdown.as_mut() => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like: the connection stays queued; try
                    // again shortly rather than spin.
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            _ = shutdown.as_mut() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            router.clone().call(req)
        });
        let h1 = h1.clone();
        let watcher = graceful.watcher();
        let admission = admission.clone();
        let main = main.clone();
        let doorman_handle = doorman.handle.clone();
        let mut stopping = stopping_rx.clone();
        let peer = peer_group(remote.ip());
        // The connection waits for its first bytes and its turn on the doorman's thread, then
        // is served here (see `Doorman`).
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        doorman.handle.spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            // An idle connection is this small future until its first bytes arrive; one that
            // has sent nothing when the server stops is closed.
            let h2c = tokio::select! {
                h2c = starts_with_h2_preface(&stream) => match h2c {
                    Ok(h2c) => h2c,
                    Err(_) => return,
                },
                _ = stopping.wait_for(|stopping| *stopping) => return,
            };
            let turn = admission.turn(peer).await;
            let Ok(stream) = stream.into_std() else {
                return;
            };
            main.spawn(async move {
                let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                    return;
                };
                // Registered anew, the socket's readiness is not known yet: wait for it with the
                // turn held (the bytes are there: one turn of the event loop), so that the first
                // poll below reads and handles the request instead of giving the turn back at
                // once.
                if stream.readable().await.is_err() {
                    return;
                }
                // Its first run with its turn (`crate::admission`); the HTTP/1.1 connection
                // inline, HTTP/2's (larger, rarer) boxed.
                let io = TokioIo::new(stream);
                let served = if h2c {
                    // Each stream is new work too: it takes a turn the same way, and the ones
                    // still waiting are dropped with the connection (`gone`).
                    let (gone, connection) = tokio::sync::watch::channel(());
                    let mut h2 = hyper::server::conn::http2::Builder::new(StreamExecutor {
                        doorman: doorman_handle,
                        main: tokio::runtime::Handle::current(),
                        admission,
                        peer,
                        connection,
                    });
                    h2.max_concurrent_streams(http2_max_streams);
                    let served = Box::pin(FirstRun::new(
                        watcher.watch(h2.serve_connection(io, service)),
                        turn,
                    ))
                    .await;
                    drop(gone);
                    served
                } else {
                    FirstRun::new(watcher.watch(h1.serve_connection(io, service)), turn).await
                };
                if let Err(e) = served {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        });
    }
    // Stopping: connections that have sent nothing are closed, whatever waits for a turn goes on
    // without one (its request has arrived: it is answered), and those being served finish
    // their requests. The doorman stops last: streams of connections still being served may
    // pass through it until then.
    let _ = stopping_tx.send(true);
    admission.close();
    drop(listener);
    graceful.shutdown().await;
    drop(doorman);
    Ok(())
}

/// A thread of its own where new connections wait for their first bytes and for their turn
/// (`crate::admission`) before the runtime serving requests takes them.
///
/// Why a thread: 10,000 connections that send at once are 10,000 tasks woken together. On the
/// serving runtime those wake-ups (cheap each: a peek, a place in the queue for a turn) filled the
/// run queues, and every other task woken from outside the runtime (a request whose database
/// write had committed: the SQLite writer wakes it from its thread) waited behind all of them in
/// the runtime's shared queue: up to 77 ms measured (docs/performance.md, round 13). Here they wake
/// on the doorman's thread; the serving runtime gets them `first_runs` at a time. Each connection is
/// moved between the two event loops once (deregistered and registered again: two `epoll_ctl`s
/// each way), which a keep-alive connection pays once.
struct Doorman {
    runtime: Option<tokio::runtime::Runtime>,
    /// Spawning after the shutdown drops the task (its connection is closed).
    handle: tokio::runtime::Handle,
}

impl Doorman {
    fn start() -> io::Result<Doorman> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("loket-doorman")
            .enable_io()
            .enable_time()
            .build()?;
        Ok(Doorman {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

/// Dropped, the doorman stops at once (callable from async code), dropping what still waits on it.
impl Drop for Doorman {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs an h2c connection's streams: each waits on the doorman for a turn by the connection's
/// peer address, then runs on the serving runtime, its turn given back when it first waits. 10,000
/// payments as streams of 100 connections are otherwise 10,000 tasks spawned at once on the
/// serving runtime, with the same effect as 10,000 connections (see [`Doorman`]).
#[derive(Clone)]
struct StreamExecutor {
    doorman: tokio::runtime::Handle,
    main: tokio::runtime::Handle,
    admission: Arc<Admission>,
    peer: std::net::IpAddr,
    /// Closed when the connection ends: its streams still waiting for a turn are dropped.
    connection: tokio::sync::watch::Receiver<()>,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, stream: F) {
        let (main, admission, peer) = (self.main.clone(), self.admission.clone(), self.peer);
        let mut connection = self.connection.clone();
        self.doorman.spawn(async move {
            tokio::select! {
                turn = admission.turn(peer) => {
                    main.spawn(FirstRun::new(stream, turn));
                }
                // Only an error (the connection's end) finishes this: nothing is ever sent.
                _ = connection.changed() => {}
            }
        });
    }
}

/// What a client speaking HTTP/2 with prior knowledge (h2c) sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection may take to send the first bytes that tell HTTP/1.1 from HTTP/2 once it
/// has sent a prefix of HTTP/2's preface.
const PREFACE_WAIT: Duration = Duration::from_secs(10);

/// Whether the connection's first bytes are HTTP/2's preface, looked at without consuming them
/// (false for anything else, an early close included: HTTP/1.1 then answers or closes).
async fn starts_with_h2_preface(stream: &tokio::net::TcpStream) -> io::Result<bool> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let deadline = tokio::time::Instant::now() + PREFACE_WAIT;
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return Ok(false);
        }
        if n == H2_PREFACE.len() {
            return Ok(true);
        }
        // A prefix of the preface so far (peek answers at once while those bytes wait): look again
        // shortly, for a bounded time.
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Turn transparent huge pages off for this process (Linux; elsewhere a no-op). mimalloc asks
/// for huge pages on its arenas: with thousands of connections each touching a little memory
/// here and there, whole 2 MiB pages became resident, and 10,000 payments in flight held 600 MiB
/// instead of 450 (docs/performance.md). Call it before serving.
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Errors of one connection (it went away before it was accepted), not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// A server with one turn whose handler answers how many turns are free while it runs.
    async fn turns_server() -> (String, tokio::sync::oneshot::Sender<()>) {
        let admission = Admission::new(1);
        let seen = admission.clone();
        let router = Router::new().route(
            "/",
            get(move || {
                let seen = seen.clone();
                async move { seen.free().to_string() }
            }),
        );
        let listener = bind("127.0.0.1:0", 64).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_router_with(
            listener,
            router,
            ServerOptions::default(),
            admission,
            async move {
                let _ = stopped.await;
            },
        ));
        (format!("http://{addr}/"), stop)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_connections_first_request_runs_with_its_turn_and_the_next_without() {
        let (url, _stop) = turns_server().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // The first request of a new connection is read and handled while it holds the one turn.
        let first = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(first, "0", "the handler ran with the turn held");
        // The same keep-alive connection's next request takes no turn.
        let next = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(next, "1", "a later request on the connection takes no turn");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_h2c_stream_runs_with_a_turn() {
        let (url, _stop) = turns_server().await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        for i in 0..3 {
            let seen = client.get(&url).send().await.unwrap().text().await.unwrap();
            assert_eq!(seen, "0", "stream {i} ran with a turn held");
        }
    }
}
