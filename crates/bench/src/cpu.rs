//! CPU time of the processes under test over a measured window (user + system time from
//! `/proc/PID/stat`), per operation. On a machine shared with other work, throughput moves with
//! the neighbours; the CPU a server spends per operation moves much less, so the report shows it
//! beside every server-side figure.
//!
//! Linux only (elsewhere every figure is absent). A process that exits inside the window loses
//! its share (its `/proc` entry is gone); servers and PostgreSQL backends live through a run.

use serde::Serialize;
use std::collections::HashMap;

/// What to account for: processes by pid (loket servers, the baselines), and by name (the
/// PostgreSQL server's processes, which the harness did not start).
#[derive(Debug, Clone, Default)]
pub struct CpuWatch {
    targets: Vec<(String, Target)>,
}

#[derive(Debug, Clone)]
enum Target {
    Pid(u32),
    Comm(String),
}

/// CPU seconds of one label over a window.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUse {
    pub label: String,
    pub secs: f64,
}

/// Cumulative CPU ticks per (label, process).
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    /// (label, pid, start time) -> ticks: a pid reused by a new process is another process.
    ticks: HashMap<(String, u32, u64), u64>,
}

impl CpuWatch {
    pub fn new() -> CpuWatch {
        CpuWatch::default()
    }

    /// Account for process `pid` under `label` (several pids may share a label).
    pub fn pid(mut self, label: &str, pid: u32) -> CpuWatch {
        self.targets.push((label.to_string(), Target::Pid(pid)));
        self
    }

    /// Account for every process named `comm` under `label`.
    pub fn comm(mut self, label: &str, comm: &str) -> CpuWatch {
        self.targets
            .push((label.to_string(), Target::Comm(comm.to_string())));
        self
    }

    /// This process (the load generator) too, as `generator`.
    pub fn and_generator(self) -> CpuWatch {
        self.pid("generator", std::process::id())
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn snapshot(&self) -> CpuSnapshot {
        let mut ticks = HashMap::new();
        let named: Vec<(&str, &str)> = self
            .targets
            .iter()
            .filter_map(|(l, t)| match t {
                Target::Comm(c) => Some((l.as_str(), c.as_str())),
                Target::Pid(_) => None,
            })
            .collect();
        for (label, t) in &self.targets {
            if let Target::Pid(pid) = t {
                if let Some((_, start, cpu)) = stat(*pid) {
                    ticks.insert((label.clone(), *pid, start), cpu);
                }
            }
        }
        if !named.is_empty() {
            for pid in all_pids() {
                if let Some((comm, start, cpu)) = stat(pid) {
                    for (label, want) in &named {
                        if comm == *want {
                            ticks.insert((label.to_string(), pid, start), cpu);
                        }
                    }
                }
            }
        }
        CpuSnapshot { ticks }
    }
}

impl CpuSnapshot {
    /// CPU seconds per label from `self` to `later`, labels in first-seen order of the watch.
    /// A process found only in `later` started inside the window: all of its time counts.
    pub fn until(&self, later: &CpuSnapshot, watch: &CpuWatch) -> Vec<CpuUse> {
        let hz = ticks_per_sec();
        let mut labels: Vec<&str> = Vec::new();
        for (l, _) in &watch.targets {
            if !labels.contains(&l.as_str()) {
                labels.push(l);
            }
        }
        labels
            .into_iter()
            .map(|label| {
                let ticks: u64 = later
                    .ticks
                    .iter()
                    .filter(|((l, _, _), _)| l == label)
                    .map(|(k, t)| t.saturating_sub(self.ticks.get(k).copied().unwrap_or(0)))
                    .sum();
                CpuUse {
                    label: label.to_string(),
                    secs: ticks as f64 / hz,
                }
            })
            .collect()
    }
}

/// `comm`, start time and utime + stime (ticks) of `pid`.
fn stat(pid: u32) -> Option<(String, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

/// Fields of a `/proc/PID/stat` line: the name is in parentheses and may itself hold spaces
/// and parentheses, so the fields are counted from the last `)`.
fn parse_stat(s: &str) -> Option<(String, u64, u64)> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = s.get(close + 2..)?.split_whitespace().collect();
    // After the name: state (field 3) is rest[0], utime (14) rest[11], stime (15) rest[12],
    // starttime (22) rest[19].
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    let start: u64 = rest.get(19)?.parse().ok()?;
    Some((comm, start, utime + stime))
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf reads a constant of the system and touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// `loket 212 µs, postgres 480 µs` per operation, or `n/a`.
pub fn per_op(cpu: &[CpuUse], ops: u64) -> String {
    if cpu.is_empty() || ops == 0 {
        return "n/a".into();
    }
    cpu.iter()
        .map(|c| format!("{} {:.0} µs", c.label, c.secs * 1e6 / ops as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_awkward_names() {
        let line = "4242 (tokio (rt) w) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 4 0 987654 1000 200";
        assert_eq!(
            parse_stat(line),
            Some(("tokio (rt) w".to_string(), 987654, 175))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_uses_cpu_between_snapshots() {
        let me = std::process::id();
        let watch = CpuWatch::new().pid("me", me).comm("nobody", "no-such-comm");
        let a = watch.snapshot();
        // Burn a little CPU (a few ticks of 10 ms).
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(120) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = a.until(&watch.snapshot(), &watch);
        assert_eq!(used.len(), 2);
        assert_eq!(used[0].label, "me");
        assert!(used[0].secs > 0.0, "{used:?}");
        assert_eq!(used[1].label, "nobody");
        assert_eq!(used[1].secs, 0.0);
        assert_eq!(per_op(&used[..1], 0), "n/a");
        assert!(per_op(&used, 10).starts_with("me "));
    }
}
