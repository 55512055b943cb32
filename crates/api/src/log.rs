//! One log line per request: method, path, protocol, member, RC, latency. Never a key, a signature
//! or a query string (receipts carry `?sign=`).
//!
//! The lines are not formatted by `tracing`'s formatter on the request's thread: that cost about
//! 12,000 instructions per request (7% of a sandbox inquiry) plus one write to stderr each
//! (docs/performance.md, round 6). Once [`start`] has run (`loket serve` calls it), a request hands
//! a small record to a bounded queue, and one thread formats the records in `tracing`'s own
//! layouts (its text format without colours, or its JSON format) and writes them in batches.
//! `LOKET_LOG` still decides: a line is queued only when `loket::request` is enabled at INFO.
//! When the queue is full, lines are dropped and counted (a later line says how many), never
//! waited for. The queue takes memory only for the lines in it (a bounded channel would allocate
//! all 65,536 slots, 10 MB, up front). Without [`start`] (the library embedded, tests) lines go
//! through `tracing`.

use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

/// What a handler tells the request log; put in the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    pub protocol: &'static str,
    pub member: Option<String>,
    pub rc: String,
}

/// Whether request lines are written (`loket::request` at INFO): handlers leave their
/// [`RequestLog`] out of the response when not.
pub(crate) fn lines_on() -> bool {
    tracing::enabled!(target: "loket::request", tracing::Level::INFO)
}

/// Lines waiting for the log thread, at most.
const QUEUE: usize = 65_536;
/// Lines formatted per write, at most.
const BATCH: usize = 1_024;

/// One request, as the log thread receives it.
struct Record {
    at: SystemTime,
    method: Method,
    path: String,
    info: RequestLog,
    status: u16,
    latency_us: u64,
}

enum Message {
    Line(Record),
    /// Answered once everything queued before it is written.
    Flush(SyncSender<()>),
}

/// The sending end of the log thread's queue: an unbounded channel (memory for the lines in it
/// only) bounded by a count of the lines not yet taken out.
struct Sink {
    tx: Sender<Message>,
    queued: Arc<AtomicUsize>,
    limit: usize,
}

impl Sink {
    fn new(limit: usize) -> (Sink, Receiver<Message>) {
        let (tx, rx) = channel();
        let sink = Sink {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            limit,
        };
        (sink, rx)
    }

    /// Queue a line, or drop and count it when `limit` lines are waiting.
    fn line(&self, record: Record) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.tx.send(Message::Line(record)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

static SINK: OnceLock<Sink> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The layout of the lines, as `LOKET_LOG_FORMAT` chose for the other logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Text,
    Json,
}

/// Start the log thread (once; later calls change nothing). Lines go to stderr.
pub fn start(layout: Layout) -> std::io::Result<()> {
    if SINK.get().is_some() {
        return Ok(());
    }
    let (sink, rx) = Sink::new(QUEUE);
    let queued = sink.queued.clone();
    std::thread::Builder::new()
        .name("loket-access-log".into())
        .spawn(move || write_loop(rx, &queued, layout, std::io::stderr()))?;
    let _ = SINK.set(sink);
    Ok(())
}

/// Wait (at most 2 s) until every line queued so far is written: before the process ends.
pub fn flush() {
    let Some(sink) = SINK.get() else { return };
    let (tx, rx) = sync_channel(1);
    if sink.tx.send(Message::Flush(tx)).is_ok() {
        let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
    }
}

/// The request log as a layer around every route ([`crate::router`]). A hand-written future, not
/// `axum::middleware::from_fn`: that one boxes an async block holding the whole inner call
/// (1,128 bytes per request, for as long as the request runs: 11 MB with 10,000 payments waiting
/// on a slow upstream, docs/performance.md, round 9); this one adds the line's few fields to the
/// inner future, and nothing when request lines are off.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLogLayer;

impl<S> tower::Layer<S> for RequestLogLayer {
    type Service = RequestLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLogService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequestLogService<S> {
    inner: S,
}

/// What the line needs from the request, taken when it starts.
struct Started {
    at: Instant,
    method: Method,
    path: String,
}

impl<S> tower::Service<Request> for RequestLogService<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = LogFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = lines_on().then(|| Started {
            at: Instant::now(),
            method: req.method().clone(),
            path: req.uri().path().to_string(),
        });
        LogFuture {
            inner: self.inner.call(req),
            started,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner call's future; when it is done, the line is handed to the log.
    pub struct LogFuture<F> {
        #[pin]
        inner: F,
        started: Option<Started>,
    }
}

impl<F, E> std::future::Future for LogFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Some(started), Ok(response)) = (this.started.take(), result.as_mut()) {
            log_line(started, response);
        }
        std::task::Poll::Ready(result)
    }
}

fn log_line(started: Started, response: &mut Response) {
    // This layer is the outermost: nothing after it reads the handler's note.
    let info = response
        .extensions_mut()
        .remove::<RequestLog>()
        .unwrap_or_default();
    let record = Record {
        at: SystemTime::now(),
        method: started.method,
        path: started.path,
        info,
        status: response.status().as_u16(),
        latency_us: started.at.elapsed().as_micros() as u64,
    };
    match SINK.get() {
        Some(sink) => sink.line(record),
        None => tracing::info!(
            target: "loket::request",
            method = %record.method,
            path = %record.path,
            protocol = record.info.protocol,
            member = record.info.member.as_deref().unwrap_or("-"),
            rc = %record.info.rc,
            status = record.status,
            latency_us = record.latency_us,
            "request"
        ),
    }
}

fn write_loop(rx: Receiver<Message>, queued: &AtomicUsize, layout: Layout, mut out: impl Write) {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Ok(first) = rx.recv() {
        let mut flushes = Vec::new();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(message) = next.take() {
            match message {
                Message::Line(r) => {
                    queued.fetch_sub(1, Ordering::Relaxed);
                    format_record(&mut buf, layout, &r)
                }
                Message::Flush(done) => flushes.push(done),
            }
            n += 1;
            if n < BATCH {
                next = rx.try_recv().ok();
            }
        }
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            format_dropped(&mut buf, layout, SystemTime::now(), dropped);
        }
        // Nowhere to report a failed write to stderr: the lines are lost, the server goes on.
        let _ = out.write_all(&buf).and_then(|_| out.flush());
        buf.clear();
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// `tracing_subscriber::fmt`'s line for the same event, byte for byte (without colours).
fn format_record(buf: &mut Vec<u8>, layout: Layout, r: &Record) {
    let member = r.info.member.as_deref().unwrap_or("-");
    match layout {
        Layout::Text => {
            let _ = writeln!(
                buf,
                "{}  INFO loket::request: request method={} path={} protocol={:?} member={:?} rc={} status={} latency_us={}",
                Rfc3339(r.at),
                r.method,
                r.path,
                r.info.protocol,
                member,
                r.info.rc,
                r.status,
                r.latency_us
            );
        }
        Layout::Json => {
            let line = serde_json::json!({
                "timestamp": Rfc3339(r.at).to_string(),
                "level": "INFO",
                "fields": {
                    "message": "request",
                    "method": r.method.as_str(),
                    "path": r.path,
                    "protocol": r.info.protocol,
                    "member": member,
                    "rc": r.info.rc,
                    "status": r.status,
                    "latency_us": r.latency_us,
                },
                "target": "loket::request",
            });
            let _ = serde_json::to_writer(&mut *buf, &line);
            buf.push(b'\n');
        }
    }
}

fn format_dropped(buf: &mut Vec<u8>, layout: Layout, at: SystemTime, dropped: u64) {
    match layout {
        Layout::Text => {
            let _ = writeln!(
                buf,
                "{}  WARN loket::request: request log lines dropped (queue full) dropped={dropped}",
                Rfc3339(at)
            );
        }
        Layout::Json => {
            let line = serde_json::json!({
                "timestamp": Rfc3339(at).to_string(),
                "level": "WARN",
                "fields": {
                    "message": "request log lines dropped (queue full)",
                    "dropped": dropped,
                },
                "target": "loket::request",
            });
            let _ = serde_json::to_writer(&mut *buf, &line);
            buf.push(b'\n');
        }
    }
}

/// `2026-11-22T04:29:51.009167Z`: UTC with microseconds, as `tracing_subscriber` writes it.
struct Rfc3339(SystemTime);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let since = self
            .0
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = since.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            since.subsec_micros()
        )
    }
}

/// Year, month, day of the `days`th day after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, micros * 1_000)
    }

    fn record() -> Record {
        Record {
            // 2026-11-22T04:29:51.009167Z
            at: at(1_795_321_791, 9_167),
            method: Method::POST,
            path: "/api/v1/bill/check".into(),
            info: RequestLog {
                protocol: "iak",
                member: Some("0811\"x".into()),
                rc: "00".into(),
            },
            status: 200,
            latency_us: 744,
        }
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        assert_eq!(Rfc3339(at(0, 0)).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            Rfc3339(at(951_782_400, 1)).to_string(),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(
            Rfc3339(at(1_795_321_791, 9_167)).to_string(),
            "2026-11-22T04:29:51.009167Z"
        );
        assert_eq!(
            Rfc3339(at(4_102_444_799, 999_999)).to_string(),
            "2099-12-31T23:59:59.999999Z"
        );
    }

    /// The layouts `tracing_subscriber` printed for the same event before the log thread
    /// existed (captured from `loket serve`).
    #[test]
    fn lines_keep_tracings_layouts() {
        let mut buf = Vec::new();
        format_record(&mut buf, Layout::Text, &record());
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-11-22T04:29:51.009167Z  INFO loket::request: request method=POST \
             path=/api/v1/bill/check protocol=\"iak\" member=\"0811\\\"x\" rc=00 status=200 \
             latency_us=744\n"
        );
        let mut buf = Vec::new();
        format_record(&mut buf, Layout::Json, &record());
        let text = String::from_utf8(buf).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
        assert_eq!(
            text.trim_end(),
            r#"{"timestamp":"2026-11-22T04:29:51.009167Z","level":"INFO","fields":{"message":"request","method":"POST","path":"/api/v1/bill/check","protocol":"iak","member":"0811\"x","rc":"00","status":200,"latency_us":744},"target":"loket::request"}"#
        );
    }

    #[test]
    fn the_thread_writes_batches_bounded_by_the_queue_and_answers_flushes_after_them() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Shared::default();
        let (sink, rx) = Sink::new(3);
        let queued = sink.queued.clone();
        // Four lines before the thread runs: the queue holds three, the fourth is counted.
        let dropped_before = DROPPED.load(Ordering::Relaxed);
        for _ in 0..4 {
            sink.line(record());
        }
        assert_eq!(queued.load(Ordering::Relaxed), 3);
        assert!(DROPPED.load(Ordering::Relaxed) > dropped_before);
        let thread = {
            let out = out.clone();
            let queued = queued.clone();
            std::thread::spawn(move || write_loop(rx, &queued, Layout::Text, out))
        };
        let (done_tx, done_rx) = sync_channel(1);
        sink.tx.send(Message::Flush(done_tx)).unwrap();
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            4,
            "three lines and the count of the dropped one: {text}"
        );
        assert!(lines[..3].iter().all(|l| l.contains(" rc=00 status=200 ")));
        assert!(
            lines[3].contains("request log lines dropped (queue full) dropped="),
            "{text}"
        );
        // Taken out, the lines free their places in the queue: a full queue's worth goes in
        // again without a drop. (The thread may take each out at once: the count is checked
        // after a flush, never while it runs.)
        assert_eq!(queued.load(Ordering::Relaxed), 0);
        let dropped_before = DROPPED.load(Ordering::Relaxed);
        for _ in 0..3 {
            sink.line(record());
        }
        let (done_tx, done_rx) = sync_channel(1);
        sink.tx.send(Message::Flush(done_tx)).unwrap();
        done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(DROPPED.load(Ordering::Relaxed), dropped_before);
        assert_eq!(queued.load(Ordering::Relaxed), 0);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 7, "{text}");
        drop(sink);
        thread.join().unwrap();
    }
}
