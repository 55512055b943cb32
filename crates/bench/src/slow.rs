//! Many payments in flight to a slow upstream: a live member quotes `payments` PGAS bills through
//! the fake upstream (answered at once), then sends all their `pay-pasca` at the same moment (the
//! upstream answers each after its delay: they are all in flight together), while another member
//! runs sandbox inquiries at a fixed rate (open loop) whose latency must not suffer.

use crate::flows::{
    iak_inquiry_body, iak_pay_body, IakInquiryFlow, KeyKind, Member, IAK_PATH, JSON, PGAS,
};
use crate::http::{endpoint, open_conns, Conn, HttpClient};
use crate::load::{run_load, LoadMode, LoadSpec, Stop};
use crate::machine;
use crate::scan;
use crate::server::proc_status_kb;
use crate::stats::{micros, new_histogram, LoadResult, Summary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a payment of the burst may take.
const PAY_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct SlowOptions {
    /// Payments sent at once.
    pub payments: usize,
    /// The other member's sandbox inquiries per second during the burst.
    pub inquiry_rate: f64,
    /// Concurrency of the (unmeasured) quoting phase.
    pub setup_concurrency: usize,
    /// The number the live inquiries quote (any: the fake answers every number).
    pub number: String,
    /// How the paying member reaches loket: `None`, one HTTP/1.1 connection per payment;
    /// `Some(n)`, `n` h2c connections with the payments spread over them as streams.
    pub member_h2c: Option<usize>,
    /// The loopback address the other member's connections leave from, when the server is on
    /// loopback: another shop is another machine, with an address of its own (loket takes new
    /// connections' first requests in turns by peer address: docs/performance.md, round 13).
    /// `None`: the paying member's address, 127.0.0.1, as if both were one client machine.
    pub other_address: Option<std::net::IpAddr>,
}

impl Default for SlowOptions {
    fn default() -> Self {
        SlowOptions {
            payments: 10_000,
            inquiry_rate: 500.0,
            setup_concurrency: 64,
            number: "0110019999".into(),
            member_h2c: None,
            other_address: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2))),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SlowResult {
    pub payments: usize,
    /// How the payments reached loket, e.g. "10000 HTTP/1.1 connections (one per payment)".
    pub member_connections: String,
    /// Where the other member's connections came from, e.g. "127.0.0.2 (the paying member:
    /// 127.0.0.1)".
    pub other_member_address: String,
    pub paid: u64,
    pub pay_errors: BTreeMap<String, u64>,
    /// Latency of each payment (the upstream's delay included).
    pub pay_latency: Summary,
    /// From the first payment sent to the last answered, seconds.
    pub burst_secs: f64,
    /// The most payments the upstream held at once (from its `/stats`).
    pub upstream_max_in_flight: Option<u64>,
    /// SYNs dropped by full accept queues during the burst (machine-wide; each delays its
    /// connection by a 1 s retransmit).
    pub listen_overflows: Option<u64>,
    /// The quoting phase (closed loop, live inquiries through the upstream).
    pub setup: LoadResult,
    /// The other member's sandbox inquiries during the burst.
    pub inquiries: LoadResult,
    /// Their slowest moments: 250 ms windows (by send time, from the burst's start; negative
    /// before it), worst p99 first.
    pub inquiry_windows: Vec<Window>,
    /// The server's peak RSS over the scenario (VmHWM), KiB, when known.
    pub server_peak_rss_kb: Option<u64>,
    /// The server's RSS sampled during the burst (max of the samples), KiB.
    pub server_burst_rss_kb: Option<u64>,
    pub notes: Vec<String>,
}

/// The other member's inquiries sent within one window of the scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// Start of the window, seconds from the burst's first payment (negative: before it).
    pub from_secs: f64,
    pub count: usize,
    /// Their service time (send to answer; the generator's own lag excluded), µs.
    pub p99_us: u64,
    pub max_us: u64,
}

/// Length of a [`Window`].
pub const WINDOW: Duration = Duration::from_millis(250);

/// The `n` windows with the worst p99 of `log` (send time, service time), relative to `start`.
fn worst_windows(log: &[(Instant, Duration)], start: Instant, n: usize) -> Vec<Window> {
    let mut by_window: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    let w = WINDOW.as_secs_f64();
    for (at, took) in log {
        let offset = if *at >= start {
            at.duration_since(start).as_secs_f64()
        } else {
            -start.duration_since(*at).as_secs_f64()
        };
        by_window
            .entry((offset / w).floor() as i64)
            .or_default()
            .push(micros(*took));
    }
    let mut windows: Vec<Window> = by_window
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            let p99 = v[((v.len() as f64 * 0.99).ceil() as usize).clamp(1, v.len()) - 1];
            Window {
                from_secs: k as f64 * w,
                count: v.len(),
                p99_us: p99,
                max_us: v[v.len() - 1],
            }
        })
        .collect();
    windows.sort_by_key(|w| std::cmp::Reverse(w.p99_us));
    windows.truncate(n);
    windows
}

/// The other member's inquiries, each one's send time and service time kept.
struct TimedFlow<F> {
    inner: F,
    log: Arc<std::sync::Mutex<Vec<(Instant, Duration)>>>,
}

impl<F: crate::load::Flow> crate::load::Flow for TimedFlow<F> {
    fn phases(&self) -> &'static [&'static str] {
        self.inner.phases()
    }

    fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }

    async fn run(&self, http: &HttpClient, i: usize) -> crate::stats::Op {
        let t0 = Instant::now();
        let op = self.inner.run(http, i).await;
        if let Ok(mut log) = self.log.lock() {
            log.push((t0, t0.elapsed()));
        }
        op
    }
}

/// Run the scenario against `base` (a loket whose PGAS route goes to the fake upstream whose
/// stats are at `upstream_stats`). `server_pid`: the server's process, whose resident set is
/// sampled (None when it is not a separate process). `Err` means the scenario could not run
/// (e.g. live quoting fails).
pub async fn run_slow(
    base: &str,
    live: &Member,
    other: &Member,
    upstream_stats: Option<&str>,
    opts: &SlowOptions,
    server_pid: Option<u32>,
) -> Result<SlowResult, String> {
    let uri = endpoint(base, IAK_PATH)?;
    let tag = crate::flows::run_tag();
    let mut notes = Vec::new();
    // Only towards a server on IPv4 loopback can the other member leave from another loopback
    // address.
    let on_loopback = uri
        .host()
        .and_then(|h| h.parse::<std::net::Ipv4Addr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    let other_address = opts.other_address.filter(|_| on_loopback);

    // A probe: the live path must work at all before 10,000 inquiries are spent on it.
    let probe_client = HttpClient::new(4);
    let probe = iak_inquiry_body(
        &live.username,
        &live.api_key,
        PGAS,
        &opts.number,
        &format!("sp{tag}probe"),
    );
    let answer = probe_client
        .post(&uri, JSON, probe)
        .await
        .map_err(|e| format!("live inquiry probe: {e}"))?;
    if scan::field_str(&answer.body, "response_code") != Some("00") {
        return Err(format!(
            "a live inquiry through the slow upstream answered HTTP {}: {}",
            answer.status,
            scan::excerpt(&answer.body)
        ));
    }

    // Quote every bill (measured for information only).
    let setup_http = HttpClient::new(opts.setup_concurrency);
    let quotes = Arc::new(std::sync::Mutex::new(vec![0i64; opts.payments]));
    let setup_flow = Arc::new(QuoteFlow {
        inner: IakInquiryFlow::prepare(
            &[base.to_string()],
            std::slice::from_ref(live),
            KeyKind::Live,
            &format!("sq{tag}"),
            opts.payments,
            false,
        )?,
        quotes: quotes.clone(),
    });
    let setup = run_load(
        "live inquiries via the slow upstream (setup)",
        setup_flow,
        setup_http,
        &LoadSpec::closed(
            opts.setup_concurrency,
            Duration::ZERO,
            Duration::from_secs(600),
        ),
    )
    .await;
    let tr_ids: Vec<i64> = quotes
        .lock()
        .map(|q| q.iter().copied().filter(|t| *t > 0).collect())
        .unwrap_or_default();
    if tr_ids.len() < opts.payments {
        notes.push(format!(
            "only {} of {} live inquiries answered RC 00 ({:?})",
            tr_ids.len(),
            opts.payments,
            setup.errors
        ));
    }
    let pays: Vec<bytes::Bytes> = tr_ids
        .iter()
        .map(|t| iak_pay_body(&live.username, &live.api_key, *t))
        .collect();

    // The members' connections are open before the burst (a member's client keeps its
    // connection), opened at a gentle pace: the burst is about payments in flight, not about
    // accepting 10,000 connections at once. Over HTTP/1.1 one connection per payment, outside any
    // pool; over h2c the payments are spread over a few connections.
    let (conns, member_connections) = member_conns(base, pays.len(), opts.member_h2c).await;
    let mut open_failures: BTreeMap<String, u64> = BTreeMap::new();
    let conns: Vec<Option<Conn>> = conns
        .into_iter()
        .map(|c| {
            c.map_err(|e| *open_failures.entry(e).or_insert(0) += 1)
                .ok()
        })
        .collect();
    if !open_failures.is_empty() {
        notes.push(format!(
            "connections that could not be opened before the burst (their payments connect during \
             it): {open_failures:?}"
        ));
    }

    // The other member: sandbox inquiries at a fixed rate, from before the burst until after it.
    let stop = Stop::new();
    let inquiry_log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let other_flow = Arc::new(TimedFlow {
        inner: IakInquiryFlow::prepare(
            &[base.to_string()],
            std::slice::from_ref(other),
            KeyKind::Sandbox,
            &format!("so{tag}"),
            (opts.inquiry_rate * 600.0) as usize + 16,
            false,
        )?,
        log: inquiry_log.clone(),
    });
    let inquiry_spec = LoadSpec {
        mode: LoadMode::Open {
            rate: opts.inquiry_rate,
            max_in_flight: 2048,
        },
        warmup: Duration::from_millis(500),
        duration: Duration::from_secs(590),
        stop: Some(stop.clone()),
        cpu: None,
    };
    // On a runtime of its own (its own thread): the burst's 10,000 tasks queue on the main
    // runtime, and must not delay these requests inside the generator.
    let (result_tx, inquiries) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("other-member".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = result_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let r = rt.block_on(async move {
                run_load(
                    "sandbox inquiries of another member during the burst",
                    other_flow,
                    HttpClient::from_address(256, other_address),
                    &inquiry_spec,
                )
                .await
            });
            let _ = result_tx.send(Ok(r));
        })
        .map_err(|e| format!("cannot start the inquiry generator: {e}"))?;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // The burst: every payment at once, each on its own connection.
    let burst_done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = burst_done.clone();
        tokio::spawn(async move {
            let mut max = None;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kb) = server_pid.and_then(|p| proc_status_kb(p, "VmRSS")) {
                    max = Some(max.map_or(kb, |m: u64| m.max(kb)));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            max
        })
    };
    let overflows_before = machine::listen_overflows();
    let burst_start = Instant::now();
    let tasks: Vec<_> = pays
        .into_iter()
        .zip(conns)
        .map(|(body, conn)| {
            let base = base.to_string();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let conn = match conn {
                    Some(c) => Ok(c),
                    None => Conn::open(&base).await,
                };
                let answer = match conn {
                    Ok(mut c) => c.post(IAK_PATH, JSON, body, PAY_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let r = match answer {
                    Err(e) => Err(e),
                    Ok(a) => match scan::field_str(&a.body, "response_code") {
                        Some("00") if a.status == 200 => Ok(()),
                        Some(rc) => Err(format!("pay RC {rc}")),
                        None => Err(format!("pay HTTP {} without an RC", a.status)),
                    },
                };
                (r, t0.elapsed())
            })
        })
        .collect();
    let mut hist = new_histogram();
    let mut paid = 0u64;
    let mut pay_errors: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        match t.await {
            Ok((r, d)) => {
                let _ = hist.record(micros(d));
                match r {
                    Ok(()) => paid += 1,
                    Err(e) => *pay_errors.entry(e).or_insert(0) += 1,
                }
            }
            Err(e) => *pay_errors.entry(format!("task: {e}")).or_insert(0) += 1,
        }
    }
    let burst_secs = burst_start.elapsed().as_secs_f64();
    let listen_overflows = match (overflows_before, machine::listen_overflows()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    burst_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let server_burst_rss_kb = sampler.await.ok().flatten();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.stop();
    let inquiries = inquiries
        .await
        .map_err(|e| format!("the inquiry generator failed: {e}"))?
        .map_err(|e| format!("the inquiry generator failed: {e}"))?;

    let inquiry_windows = inquiry_log
        .lock()
        .map(|log| worst_windows(&log, burst_start, 3))
        .unwrap_or_default();
    let upstream_max_in_flight = match upstream_stats {
        Some(url) => {
            let a = HttpClient::new(1).get(&endpoint(url, "")?).await?;
            scan::field_i64(&a.body, "max_in_flight").map(|n| n.max(0) as u64)
        }
        None => None,
    };
    Ok(SlowResult {
        payments: opts.payments,
        member_connections,
        other_member_address: match other_address {
            Some(ip) => format!("{ip} (the paying member: 127.0.0.1)"),
            None => "the paying member's address".into(),
        },
        paid,
        pay_errors,
        pay_latency: Summary::of(&hist),
        burst_secs,
        upstream_max_in_flight,
        listen_overflows,
        setup,
        inquiries,
        inquiry_windows,
        server_peak_rss_kb: server_pid.and_then(|p| proc_status_kb(p, "VmHWM")),
        server_burst_rss_kb,
        notes,
    })
}

/// One connection handle per payment (`n`), and how they were made: HTTP/1.1, one connection
/// each; or `h2c` connections, payment `i` on connection `i % h2c`.
async fn member_conns(
    base: &str,
    n: usize,
    h2c: Option<usize>,
) -> (Vec<Result<Conn, String>>, String) {
    match h2c {
        None => (
            open_conns(base, n, 128).await,
            format!("{n} HTTP/1.1 connections (one per payment)"),
        ),
        Some(k) => {
            let k = k.clamp(1, n.max(1));
            let mut shared = Vec::with_capacity(k);
            for _ in 0..k {
                shared.push(Conn::open_h2c(base).await);
            }
            let conns = (0..n)
                .map(|i| match &shared[i % k] {
                    Ok(c) => c.share().ok_or_else(|| "not h2c".to_string()),
                    Err(e) => Err(e.clone()),
                })
                .collect();
            (
                conns,
                format!(
                    "{k} h2c connections ({} payments each as streams)",
                    n.div_ceil(k)
                ),
            )
        }
    }
}

/// Live inquiries that keep each answer's `tr_id`.
struct QuoteFlow {
    inner: IakInquiryFlow,
    quotes: Arc<std::sync::Mutex<Vec<i64>>>,
}

impl crate::load::Flow for QuoteFlow {
    fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }

    async fn run(&self, http: &HttpClient, i: usize) -> crate::stats::Op {
        use crate::stats::Op;
        match http.post(self.inner.uri(i), JSON, self.inner.body(i)).await {
            Err(e) => Op::err(e),
            Ok(a) => match (
                scan::field_str(&a.body, "response_code"),
                scan::field_i64(&a.body, "tr_id"),
            ) {
                (Some("00"), Some(tr_id)) => {
                    if let Ok(mut q) = self.quotes.lock() {
                        q[i] = tr_id;
                    }
                    Op::ok()
                }
                (Some(rc), _) => Op::err(format!("inquiry RC {rc}")),
                (None, _) => Op::err(format!("inquiry HTTP {} without an RC", a.status)),
            },
        }
    }
}
