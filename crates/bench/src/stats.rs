//! Latency histograms (HdrHistogram, microseconds), error counts, and the summary of one load run.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The largest latency a histogram holds: two minutes (larger values are clamped to it).
pub const MAX_MICROS: u64 = 120_000_000;

/// An empty latency histogram: 1 µs .. 2 min, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// A duration in whole microseconds, clamped into the histogram's range.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS)
}

/// What one worker saw (a closed loop's worker owns one; an open loop's workers share a few):
/// merged at the end.
pub struct Recorder {
    /// Latency of every measured operation, successful or not.
    pub latency: Histogram<u64>,
    /// Latency of each named phase of an operation (e.g. the inquiry and the payment of a pair).
    pub phases: Vec<(&'static str, Histogram<u64>)>,
    /// Open loop only: how late each request was sent after its scheduled time.
    pub send_lag: Histogram<u64>,
    pub ok: u64,
    /// Failed operations by kind (`RC 17`, `HTTP 500`, `timeout`, a transport error...).
    pub errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn new(phases: &[&'static str]) -> Recorder {
        Recorder {
            latency: new_histogram(),
            phases: phases.iter().map(|p| (*p, new_histogram())).collect(),
            send_lag: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    /// One measured operation: its outcome, its latency and its phases' latencies.
    pub fn record(&mut self, op: &Op, latency: Duration) {
        let _ = self.latency.record(micros(latency));
        for (i, d) in op.phases.iter().enumerate() {
            if let (Some(d), Some((_, h))) = (d, self.phases.get_mut(i)) {
                let _ = h.record(micros(*d));
            }
        }
        match &op.result {
            Ok(()) => self.ok += 1,
            Err(kind) => *self.errors.entry(kind.clone()).or_insert(0) += 1,
        }
    }

    pub fn record_lag(&mut self, lag: Duration) {
        let _ = self.send_lag.record(micros(lag));
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.latency.add(&other.latency);
        for ((_, mine), (_, theirs)) in self.phases.iter_mut().zip(other.phases.iter()) {
            let _ = mine.add(theirs);
        }
        let _ = self.send_lag.add(&other.send_lag);
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }
}

/// The outcome of one operation: success or the kind of failure, and the latency of each of the
/// flow's phases (in the order of [`crate::load::Flow::phases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub result: Result<(), String>,
    pub phases: [Option<Duration>; 2],
}

impl Op {
    pub fn ok() -> Op {
        Op {
            result: Ok(()),
            phases: [None, None],
        }
    }

    pub fn err(kind: impl Into<String>) -> Op {
        Op {
            result: Err(kind.into()),
            phases: [None, None],
        }
    }

    pub fn with_phases(mut self, phases: [Option<Duration>; 2]) -> Op {
        self.phases = phases;
        self
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Everything one load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// What was driven, e.g. `IAK inquiry (sandbox)`.
    pub name: String,
    /// `closed loop, 64 connections` or `open loop, 5000/s, ≤ 256 connections`.
    pub mode: String,
    /// The open loop's target rate (operations per second).
    pub target_rate: Option<f64>,
    /// Length of the measured window (after the warm-up), seconds.
    pub measured_secs: f64,
    /// Successful operations in the measured window.
    pub ok: u64,
    pub error_count: u64,
    pub errors: BTreeMap<String, u64>,
    /// Successful operations per second.
    pub throughput: f64,
    /// Whole-operation latency (open loop: from the scheduled send time).
    pub latency: Summary,
    /// Per-phase latency (the inquiry and the payment of a pair).
    pub phases: Vec<(String, Summary)>,
    /// Open loop: how late requests left after their scheduled time (generator lag).
    pub send_lag: Option<Summary>,
    /// The prepared requests ran out before the end of the window.
    pub exhausted: bool,
    /// The server's peak resident set (VmHWM), KiB, when it is a child process.
    pub server_peak_rss_kb: Option<u64>,
    /// CPU of the servers under test over the measured window (crate::cpu), when watched.
    pub cpu: Vec<crate::cpu::CpuUse>,
}

impl LoadResult {
    /// Every operation of the window has a recorded latency.
    pub fn all_latencies_recorded(&self) -> bool {
        self.latency.count == self.ok + self.error_count
    }
}

/// `1.23 ms`, `456 µs`, `2.10 s`.
pub fn fmt_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_merges_and_summarises() {
        let mut a = Recorder::new(&["inquiry", "pay"]);
        let mut b = Recorder::new(&["inquiry", "pay"]);
        for i in 1..=100u64 {
            let op = Op::ok().with_phases([Some(Duration::from_micros(i)), None]);
            a.record(&op, Duration::from_micros(i * 10));
        }
        b.record(&Op::err("RC 17"), Duration::from_millis(5));
        b.record(&Op::err("RC 17"), Duration::from_millis(5));
        a.merge(&b);
        assert_eq!(a.ok, 100);
        assert_eq!(a.error_count(), 2);
        assert_eq!(a.errors["RC 17"], 2);
        let s = Summary::of(&a.latency);
        assert_eq!(s.count, 102);
        assert!(s.p50_us >= 500 && s.p50_us <= 520, "{s:?}");
        assert!(s.max_us >= 5_000);
        assert_eq!(Summary::of(&a.phases[0].1).count, 100);
        assert_eq!(Summary::of(&a.phases[1].1).count, 0);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_us(999), "999 µs");
        assert_eq!(fmt_us(1_500), "1.50 ms");
        assert_eq!(fmt_us(2_100_000), "2.10 s");
        assert_eq!(micros(Duration::ZERO), 1);
        assert_eq!(micros(Duration::from_secs(1_000)), MAX_MICROS);
    }
}
