//! The load engine: a closed loop (N workers, each sending its next request when the previous
//! one is answered) or an open loop (requests scheduled at fixed intervals whatever the server
//! does; latency measured from the scheduled send time, so a slow server cannot hide its queue:
//! no coordinated omission).
//!
//! A closed loop's workers each own a [`Recorder`]; an open loop's (up to thousands of them,
//! mostly waiting for their slot) share [`OPEN_LOOP_RECORDERS`] behind locks: a recorder's
//! histograms take ~300 KB, and 2,048 of them cost the generator 0.6 GB and most of a second of
//! CPU right before the slow-upstream burst. Recorders are merged at the end. Operations started
//! during the warm-up are sent but not recorded.

use crate::cpu::CpuWatch;
use crate::http::HttpClient;
use crate::stats::{LoadResult, Op, Recorder, Summary};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most requests an open loop keeps outstanding, and so most connections it opens (wrk2's
/// model: a fixed set of connections sending on one schedule). Four times the closed loops'
/// connections: room for a server's hiccup to show as latency without the generator turning it
/// into a storm of new connections. With 4,096 (as before 2026-11-22) the cold start opened
/// 6,600 connections inside a second and the half-rate runs' p99 measured that storm (1.2-1.5 s
/// with p50 3 ms): docs/performance.md, round 6.
pub const OPEN_LOOP_CONNECTIONS: usize = 256;

/// The recorders an open loop's workers share (worker `k` records into `k % OPEN_LOOP_RECORDERS`).
pub const OPEN_LOOP_RECORDERS: usize = 8;

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadMode {
    /// `concurrency` workers, each with one request in flight at a time.
    Closed { concurrency: usize },
    /// `rate` operations per second on a fixed schedule; at most `max_in_flight` outstanding,
    /// each on a connection of its own (beyond that, requests leave late, and their lateness
    /// counts in their latency).
    Open { rate: f64, max_in_flight: usize },
}

impl LoadMode {
    pub fn describe(&self) -> String {
        match self {
            LoadMode::Closed { concurrency } => format!("closed loop, {concurrency} connections"),
            LoadMode::Open {
                rate,
                max_in_flight,
            } => format!("open loop, {rate:.0}/s, ≤ {max_in_flight} connections"),
        }
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub mode: LoadMode,
    /// Sent, not recorded.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Ends the run early when set (the open loop's other use: load "while something else
    /// happens").
    pub stop: Option<Arc<Stop>>,
    /// Whose CPU the measured window accounts for (the servers under test).
    pub cpu: Option<Arc<CpuWatch>>,
}

impl LoadSpec {
    /// Account for `watch`'s CPU over the measured window.
    pub fn with_cpu(mut self, watch: CpuWatch) -> LoadSpec {
        self.cpu = (!watch.is_empty()).then(|| Arc::new(watch));
        self
    }

    pub fn closed(concurrency: usize, warmup: Duration, duration: Duration) -> LoadSpec {
        LoadSpec {
            mode: LoadMode::Closed { concurrency },
            warmup,
            duration,
            stop: None,
            cpu: None,
        }
    }

    /// An open loop with at most [`OPEN_LOOP_CONNECTIONS`] requests outstanding.
    pub fn open(rate: f64, warmup: Duration, duration: Duration) -> LoadSpec {
        LoadSpec {
            mode: LoadMode::Open {
                rate,
                max_in_flight: OPEN_LOOP_CONNECTIONS,
            },
            warmup,
            duration,
            stop: None,
            cpu: None,
        }
    }

    /// Operations the run may issue at `rate_hint` per second (closed loop) or exactly (open).
    pub fn operations(&self, rate_hint: f64) -> usize {
        let secs = (self.warmup + self.duration).as_secs_f64();
        let rate = match self.mode {
            LoadMode::Closed { .. } => rate_hint,
            LoadMode::Open { rate, .. } => rate,
        };
        (secs * rate).ceil() as usize + 1
    }
}

/// Ends a run early (the open loop's use as background load "while something else happens").
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn new() -> Arc<Stop> {
        Arc::new(Stop::default())
    }

    /// Stop the run: no request is sent after this (those in flight finish).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleep until `t`; false when stopped first.
    pub async fn sleep_until(&self, t: Instant) -> bool {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(t.into()) => !self.is_stopped(),
            _ = notified => false,
        }
    }
}

/// A kind of operation the engine drives. Requests are prepared before the run (signed bodies,
/// distinct ref_ids); `run` only sends them and checks the answers.
pub trait Flow: Send + Sync + 'static {
    /// Names of the phases an operation reports (at most two), besides its whole latency.
    fn phases(&self) -> &'static [&'static str] {
        &[]
    }

    /// How many operations are prepared; `None` when bodies are reused cyclically.
    fn capacity(&self) -> Option<usize>;

    /// Operation number `i` (each `i` is used once per run).
    fn run(&self, http: &HttpClient, i: usize) -> impl Future<Output = Op> + Send;
}

struct WorkerEnd {
    /// A closed loop's worker's own recorder (an open loop's are shared).
    rec: Option<Recorder>,
    last_done: Option<Instant>,
}

/// Drive `flow` as `spec` says, with `http`, and summarise what was measured.
pub async fn run_load<F: Flow>(
    name: &str,
    flow: Arc<F>,
    http: HttpClient,
    spec: &LoadSpec,
) -> LoadResult {
    let start = Instant::now();
    let warm_end = start + spec.warmup;
    let end = warm_end + spec.duration;
    // The servers' CPU from the end of the warm-up to the end of the window.
    let cpu_start = spec.cpu.clone().map(|watch| {
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            watch.snapshot()
        })
    });
    let next = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let phases = flow.phases();
    let stop = spec.stop.clone();
    let stopped = {
        let stop = stop.clone();
        move || stop.as_ref().is_some_and(|s| s.is_stopped())
    };

    let mut workers = Vec::new();
    let mut shared: Option<Arc<Vec<std::sync::Mutex<Recorder>>>> = None;
    match spec.mode {
        LoadMode::Closed { concurrency } => {
            for _ in 0..concurrency.max(1) {
                let (flow, http, next, exhausted, stopped) = (
                    flow.clone(),
                    http.clone(),
                    next.clone(),
                    exhausted.clone(),
                    stopped.clone(),
                );
                workers.push(tokio::spawn(async move {
                    let mut rec = Recorder::new(phases);
                    let mut last_done = None;
                    loop {
                        if Instant::now() >= end || stopped() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if flow.capacity().is_some_and(|c| i >= c) {
                            exhausted.store(true, Ordering::Relaxed);
                            break;
                        }
                        let t0 = Instant::now();
                        let op = flow.run(&http, i).await;
                        let t1 = Instant::now();
                        if t0 >= warm_end {
                            rec.record(&op, t1 - t0);
                            last_done = Some(t1);
                        }
                    }
                    WorkerEnd {
                        rec: Some(rec),
                        last_done,
                    }
                }));
            }
        }
        LoadMode::Open {
            rate,
            max_in_flight,
        } => {
            let total = spec.operations(rate);
            let interval = 1.0 / rate.max(1e-9);
            let recorders = shared.insert(Arc::new(
                (0..OPEN_LOOP_RECORDERS)
                    .map(|_| std::sync::Mutex::new(Recorder::new(phases)))
                    .collect::<Vec<_>>(),
            ));
            for k in 0..max_in_flight.max(1).min(total) {
                let (flow, http, next, exhausted, stopped, stop, recorders) = (
                    flow.clone(),
                    http.clone(),
                    next.clone(),
                    exhausted.clone(),
                    stopped.clone(),
                    stop.clone(),
                    recorders.clone(),
                );
                workers.push(tokio::spawn(async move {
                    let shared = &recorders[k % recorders.len()];
                    let mut last_done = None;
                    loop {
                        if stopped() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        if flow.capacity().is_some_and(|c| i >= c) {
                            exhausted.store(true, Ordering::Relaxed);
                            break;
                        }
                        let scheduled = start + Duration::from_secs_f64(i as f64 * interval);
                        if scheduled >= end {
                            break;
                        }
                        match &stop {
                            // A worker may wait for a slot seconds ahead: a stop ends the wait.
                            Some(stop) => {
                                if !stop.sleep_until(scheduled).await {
                                    break;
                                }
                            }
                            None => tokio::time::sleep_until(scheduled.into()).await,
                        }
                        let sent = Instant::now();
                        let op = flow.run(&http, i).await;
                        let done = Instant::now();
                        if scheduled >= warm_end {
                            if let Ok(mut rec) = shared.lock() {
                                rec.record(&op, done - scheduled);
                                rec.record_lag(sent - scheduled);
                            }
                            last_done = Some(done);
                        }
                    }
                    WorkerEnd {
                        rec: None,
                        last_done,
                    }
                }));
            }
        }
    }

    let mut rec = Recorder::new(phases);
    let mut last_done: Option<Instant> = None;
    for w in workers {
        if let Ok(end) = w.await {
            if let Some(r) = end.rec {
                rec.merge(&r);
            }
            last_done = match (last_done, end.last_done) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    for r in shared.iter().flat_map(|all| all.iter()) {
        if let Ok(r) = r.lock() {
            rec.merge(&r);
        }
    }
    let exhausted = exhausted.load(Ordering::Relaxed);
    let window_end = match last_done {
        // Stopped early (exhausted, or told to stop): the window ends with the last answer.
        Some(t) if exhausted || t < end => t,
        Some(t) => t.max(end),
        None => end,
    };
    let measured_secs = window_end
        .saturating_duration_since(warm_end)
        .as_secs_f64()
        .max(1e-6);
    let error_count = rec.error_count();
    let cpu = match (cpu_start, &spec.cpu) {
        (Some(first), Some(watch)) => match first.await {
            Ok(first) => first.until(&watch.snapshot(), watch),
            Err(_) => Vec::new(),
        },
        _ => Vec::new(),
    };
    LoadResult {
        name: name.to_string(),
        mode: spec.mode.describe(),
        target_rate: match spec.mode {
            LoadMode::Open { rate, .. } => Some(rate),
            LoadMode::Closed { .. } => None,
        },
        measured_secs,
        ok: rec.ok,
        error_count,
        throughput: rec.ok as f64 / measured_secs,
        latency: Summary::of(&rec.latency),
        phases: rec
            .phases
            .iter()
            .map(|(n, h)| (n.to_string(), Summary::of(h)))
            .collect(),
        send_lag: match spec.mode {
            LoadMode::Open { .. } => Some(Summary::of(&rec.send_lag)),
            LoadMode::Closed { .. } => None,
        },
        errors: rec.errors,
        exhausted,
        server_peak_rss_kb: None,
        cpu,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flow that answers after 1 ms without any I/O; every 10th operation fails.
    struct Sleepy {
        cap: Option<usize>,
    }

    impl Flow for Sleepy {
        fn capacity(&self) -> Option<usize> {
            self.cap
        }
        async fn run(&self, _http: &HttpClient, i: usize) -> Op {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if i % 10 == 9 {
                Op::err("RC 17")
            } else {
                Op::ok()
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_counts_everything() {
        let spec = LoadSpec::closed(4, Duration::from_millis(50), Duration::from_millis(300));
        let r = run_load(
            "t",
            Arc::new(Sleepy { cap: None }),
            HttpClient::new(1),
            &spec,
        )
        .await;
        assert!(r.ok > 100, "{r:?}");
        assert!(r.error_count > 0);
        assert!(r.all_latencies_recorded());
        assert!(!r.exhausted);
        assert!(r.measured_secs >= 0.3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_keeps_its_rate_and_reports_exhaustion() {
        let spec = LoadSpec::open(
            500.0,
            Duration::from_millis(100),
            Duration::from_millis(400),
        );
        let r = run_load(
            "t",
            Arc::new(Sleepy { cap: None }),
            HttpClient::new(1),
            &spec,
        )
        .await;
        let total = r.ok + r.error_count;
        assert!((190..=210).contains(&total), "{total} in {r:?}");
        assert!(r.send_lag.is_some());
        assert!(r.all_latencies_recorded());

        // A stop ends an open loop at once, even with workers waiting for slots far ahead.
        let stop = Stop::new();
        let spec = LoadSpec {
            stop: Some(stop.clone()),
            cpu: None,
            ..LoadSpec::open(10.0, Duration::ZERO, Duration::from_secs(60))
        };
        let t0 = Instant::now();
        let run = tokio::spawn(async move {
            run_load(
                "t",
                Arc::new(Sleepy { cap: None }),
                HttpClient::new(1),
                &spec,
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(350)).await;
        stop.stop();
        let r = run.await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!((3..=5).contains(&(r.ok + r.error_count)), "{r:?}");

        let spec = LoadSpec::closed(2, Duration::ZERO, Duration::from_secs(5));
        let r = run_load(
            "t",
            Arc::new(Sleepy { cap: Some(50) }),
            HttpClient::new(1),
            &spec,
        )
        .await;
        assert!(r.exhausted);
        assert_eq!(r.ok + r.error_count, 50);
        assert!(r.measured_secs < 1.0);
    }
}
