//! Servers under test as child processes: the `loket` binary (`serve`, `member add`,
//! `member deposit`, `migrate`), and this binary's own `axum-server` / `fake-upstream`. A child
//! prints `... listening on http://ADDR` on stdout when ready; its peak RSS is read from
//! `/proc/PID/status` (VmHWM) before it is stopped.

use crate::flows::Member;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Environment variables of loket's that must not leak from the caller into a child.
const LOKET_ENV: [&str; 5] = [
    "LOKET_DATABASE_URL",
    "LOKET_CONFIG",
    "LOKET_LISTEN",
    "LOKET_LOG_FORMAT",
    "LOKET_LOG",
];

/// The children's `LOKET_LOG`: `warn` (logging stays out of the measurement), or
/// `LOKET_BENCH_LOKET_LOG` to look into a run.
fn loket_log() -> String {
    std::env::var("LOKET_BENCH_LOKET_LOG").unwrap_or_else(|_| "warn".into())
}

/// A running child server. Dropping it kills the child.
pub struct ChildServer {
    child: tokio::process::Child,
    pub base_url: String,
    pub pid: u32,
    log: Option<PathBuf>,
}

impl ChildServer {
    /// Start `cmd` and wait (up to 60 s) for its `listening on http://ADDR` line.
    pub async fn spawn(
        mut cmd: tokio::process::Command,
        what: &str,
        log: Option<&Path>,
    ) -> Result<ChildServer, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        match log {
            Some(path) => {
                let f =
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
                cmd.stderr(Stdio::from(f));
            }
            None => {
                cmd.stderr(Stdio::null());
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| format!("{what}: no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("listening on http://") {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    return Some(url);
                }
            }
            None
        })
        .await;
        let base_url = match ready {
            Ok(Some(url)) => url,
            other => {
                let _ = child.start_kill();
                let why = if other.is_err() {
                    "did not say it was listening within 60 s"
                } else {
                    "exited before listening"
                };
                let tail = log.map(log_tail).unwrap_or_default();
                return Err(format!("{what} {why}{tail}"));
            }
        };
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ChildServer {
            child,
            base_url,
            pid,
            log: log.map(Path::to_path_buf),
        })
    }

    /// The child's peak resident set so far (VmHWM), KiB.
    pub fn peak_rss_kb(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmHWM")
    }

    /// The child's resident set now (VmRSS), KiB.
    pub fn rss_kb(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmRSS")
    }

    /// The last lines the child wrote to its log.
    pub fn log_tail(&self) -> String {
        self.log.as_deref().map(log_tail).unwrap_or_default()
    }

    /// Read the peak RSS, then stop the child (SIGKILL: a benchmark database is thrown away).
    pub async fn stop(mut self) -> Option<u64> {
        let peak = self.peak_rss_kb();
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        peak
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        String::new()
    } else {
        let mut lines = lines;
        lines.reverse();
        format!(": {}", lines.join(" | "))
    }
}

/// A `kB` field of `/proc/PID/status`.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The `loket` binary.
#[derive(Debug, Clone)]
pub struct Loket {
    pub bin: PathBuf,
}

impl Loket {
    pub fn new(bin: impl Into<PathBuf>) -> Loket {
        Loket { bin: bin.into() }
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.bin);
        for var in LOKET_ENV {
            cmd.env_remove(var);
        }
        cmd.env("LOKET_LOG", loket_log());
        cmd
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "loket {}: {}",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Create or upgrade the schema of `database`.
    pub fn migrate(&self, database: &str) -> Result<(), String> {
        self.run(&["migrate", "--database", database]).map(|_| ())
    }

    /// `loket member add`: the new member's credentials.
    pub fn member_add(&self, database: &str, username: &str) -> Result<Member, String> {
        let out = self.run(&[
            "member",
            "add",
            "--username",
            username,
            "--database",
            database,
        ])?;
        serde_json::from_str(&out).map_err(|e| format!("member add printed {out:?}: {e}"))
    }

    /// `loket member deposit` (the sandbox balance with `sandbox`).
    pub fn deposit(
        &self,
        database: &str,
        username: &str,
        amount: i64,
        sandbox: bool,
    ) -> Result<(), String> {
        let amount = amount.to_string();
        let mut args = vec![
            "member",
            "deposit",
            "--username",
            username,
            "--amount",
            &amount,
            "--database",
            database,
        ];
        if sandbox {
            args.push("--sandbox");
        }
        self.run(&args).map(|_| ())
    }

    /// `n` members named `{prefix}0001`.. (phone-number-like usernames), each with `deposit`
    /// more on the sandbox (or live) balance when it is not zero.
    pub fn members(
        &self,
        database: &str,
        prefix: &str,
        n: usize,
        deposit: i64,
        sandbox: bool,
    ) -> Result<Vec<Member>, String> {
        (0..n)
            .map(|i| {
                let username = format!("{prefix}{i:04}");
                let m = self.member_add(database, &username)?;
                if deposit > 0 {
                    self.deposit(database, &username, deposit, sandbox)?;
                }
                Ok(m)
            })
            .collect()
    }

    /// `loket serve --listen 127.0.0.1:0 --database DB --config FILE`, stderr to `log`.
    pub async fn serve(
        &self,
        database: &str,
        config: &Path,
        log: &Path,
    ) -> Result<ChildServer, String> {
        let mut cmd = tokio::process::Command::new(&self.bin);
        for var in LOKET_ENV {
            cmd.env_remove(var);
        }
        cmd.env("LOKET_LOG", loket_log()).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database,
            "--config",
        ]);
        cmd.arg(config);
        ChildServer::spawn(cmd, "loket serve", Some(log)).await
    }
}

/// This binary's own servers, run as children (`axum-server`, `fake-upstream`).
pub async fn spawn_self(exe: &Path, args: &[String], log: &Path) -> Result<ChildServer, String> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(args);
    ChildServer::spawn(cmd, &format!("loket-bench {}", args.join(" ")), Some(log)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_rss() {
        let me = std::process::id();
        let hwm = proc_status_kb(me, "VmHWM").unwrap();
        let rss = proc_status_kb(me, "VmRSS").unwrap();
        assert!(hwm >= rss && rss > 0);
        assert_eq!(proc_status_kb(me, "NoSuchField"), None);
    }
}
