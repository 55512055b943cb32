//! What the figures were measured on: cores, memory, CPU, kernel, load, the commit.

use serde::Serialize;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Machine {
    /// `nproc`: the cores this process may use.
    pub nproc: usize,
    /// MemTotal of /proc/meminfo, KiB.
    pub mem_total_kb: u64,
    pub cpu_model: String,
    pub kernel: String,
    /// /proc/loadavg when the run started (other work on the machine shows here).
    pub loadavg: String,
    /// This process's open-files limit (soft/hard).
    pub open_files: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn detect() -> Machine {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_total_kb = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let cpu_model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let loadavg = loadavg();
    let open_files = read("/proc/self/limits")
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("Max open files")?;
            let mut it = rest.split_whitespace();
            Some(format!("{}/{}", it.next()?, it.next()?))
        })
        .unwrap_or_default();
    Machine {
        nproc,
        mem_total_kb,
        cpu_model,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        loadavg,
        open_files,
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The soft open-files limit of process `pid`.
pub fn open_files_limit(pid: u32) -> Option<u64> {
    read(&format!("/proc/{pid}/limits"))
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
}

/// TcpExt ListenOverflows of /proc/net/netstat: SYNs dropped because an accept queue was full,
/// machine-wide (each costs the connecting client a retransmit, 1 s at first).
pub fn listen_overflows() -> Option<u64> {
    let text = read("/proc/net/netstat");
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let i = names
            .split_whitespace()
            .position(|n| n == "ListenOverflows")?;
        return values.split_whitespace().nth(i)?.parse().ok();
    }
    None
}

/// `git rev-parse --short HEAD` in `dir`, with `-dirty` when the work tree has changes.
pub fn git_commit(dir: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{head} (with uncommitted changes)")
            } else {
                head
            }
        }
        None => "unknown".into(),
    }
}

/// Today's date (`YYYY-MM-DD`) and the time (`HH:MM:SS`), UTC.
pub fn now_utc() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    utc(secs)
}

/// Date and time of a unix timestamp, UTC (the civil-from-days algorithm).
pub fn utc(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", tod / 3600, tod % 3600 / 60, tod % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(utc(951_782_400), ("2000-02-29".into(), "00:00:00".into()));
        assert_eq!(utc(1_798_761_599), ("2026-12-31".into(), "23:59:59".into()));
    }

    #[test]
    fn detects_this_machine() {
        let m = detect();
        assert!(m.nproc >= 1);
        assert!(m.mem_total_kb > 0);
        assert!(!m.open_files.is_empty());
        assert!(open_files_limit(std::process::id()).is_some());
        assert!(listen_overflows().is_some());
    }
}
