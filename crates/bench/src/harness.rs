//! The harness: starts the servers under test as child processes (a fresh `loket serve` per
//! scenario, the axum baseline, the fake upstream), runs the scenarios against them, and
//! collects the [`Report`]. `loket-bench run-all` is [`run_all`].

use crate::axum_baseline;
use crate::cpu::CpuWatch;
use crate::flows::Member;
use crate::load::LoadSpec;
use crate::machine;
use crate::report::{Outcome, Report};
use crate::scenarios::{self, RateHints};
use crate::server::{spawn_self, ChildServer, Loket};
use crate::slow::{self, SlowOptions};
use crate::sqlite_baseline;
use crate::stats::{fmt_us, LoadResult};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Extra sandbox balance of each payment member: enough for millions of payments.
const SANDBOX_DEPOSIT: i64 = 10_000_000_000_000;

/// The throughput scenarios' further closed loops (beyond `--concurrency`). A server that answers
/// only after its write is durable keeps gaining with more connections in flight (more answers per
/// fsync cycle): loket's inquiries measured 5% more at 512 connections than at 256 in
/// side-by-side runs on 2026-12-03, while the axum baseline peaks by 64 (docs/performance.md,
/// rounds 11 and 13).
pub const CEILING_CONCURRENCY: [usize; 2] = [256, 512];

/// `concurrency`, then each larger count of `ceiling`, ascending, once each.
pub fn closed_counts(concurrency: usize, ceiling: &[usize]) -> Vec<usize> {
    let mut counts = vec![concurrency];
    let mut more: Vec<usize> = ceiling
        .iter()
        .copied()
        .filter(|&c| c > concurrency)
        .collect();
    more.sort_unstable();
    more.dedup();
    counts.extend(more);
    counts
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The release `loket` binary.
    pub loket: PathBuf,
    /// This binary (`axum-server` and `fake-upstream` run as its children).
    pub exe: PathBuf,
    pub quick: bool,
    pub concurrency: usize,
    /// The throughput scenarios (inquiries, the axum baseline, payments) also run a closed loop
    /// at each of these counts that is larger than `concurrency` ([`CEILING_CONCURRENCY`]); each
    /// server's maximum is the best of them (docs/performance.md, rounds 11 and 13).
    pub ceiling_concurrency: Vec<usize>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Each SQLite batch size runs this long.
    pub sqlite_per_batch: Duration,
    pub slow: SlowOptions,
    /// The fake upstream's pay-pasca delay.
    pub pay_delay: Duration,
    /// `LOKET_BENCH_PG_URL`: the PostgreSQL scenario runs only with it.
    pub pg_url: Option<String>,
    pub hints: RateHints,
    /// Members of the payment scenario.
    pub pay_members: usize,
    /// Members of the PostgreSQL scenario; 0: one per connection of the closed loop. A member's
    /// own payments take turns on its balance row (by design), so few members for many
    /// connections would measure that queue; many agents paying at once is the national peak.
    pub pg_members: usize,
    /// Where the temporary databases go (default: the system's temporary directory).
    pub workdir: Option<PathBuf>,
    /// The repository whose commit the report names.
    pub repo: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    /// The defaults of a full run (`quick`: a few seconds per scenario).
    pub fn new(loket: PathBuf, exe: PathBuf, quick: bool) -> Options {
        let (warmup, duration, per_batch) = if quick {
            (
                Duration::from_secs(1),
                Duration::from_secs(3),
                Duration::from_secs(1),
            )
        } else {
            (
                Duration::from_secs(3),
                Duration::from_secs(20),
                Duration::from_secs(5),
            )
        };
        Options {
            loket,
            exe,
            quick,
            concurrency: 64,
            ceiling_concurrency: CEILING_CONCURRENCY.to_vec(),
            warmup,
            duration,
            sqlite_per_batch: per_batch,
            slow: SlowOptions::default(),
            pay_delay: Duration::from_secs(2),
            pg_url: None,
            hints: RateHints::default(),
            pay_members: 8,
            pg_members: 0,
            workdir: None,
            repo: PathBuf::from("."),
            command: String::new(),
        }
    }

    pub fn closed(&self) -> LoadSpec {
        LoadSpec::closed(self.concurrency, self.warmup, self.duration)
    }

    /// The connection counts of the throughput scenarios' closed loops, smallest first.
    pub fn closed_counts(&self) -> Vec<usize> {
        closed_counts(self.concurrency, &self.ceiling_concurrency)
    }

    pub fn closed_at(&self, concurrency: usize) -> LoadSpec {
        LoadSpec::closed(concurrency, self.warmup, self.duration)
    }

    pub fn open(&self, rate: f64) -> LoadSpec {
        LoadSpec::open(rate, self.warmup, self.duration)
    }
}

/// h2c connections of the paying member in run-all's second slow-upstream run: 100 payments
/// in flight on each (an agent's backend multiplexing its customers' payments).
pub const SLOW_H2C_CONNECTIONS: usize = 100;

/// How a slow-upstream run's paying member connects, for the report: "HTTP/1.1" or "h2c".
pub fn slow_label(opts: &SlowOptions) -> String {
    match opts.member_h2c {
        None => "HTTP/1.1".into(),
        Some(_) => "h2c".into(),
    }
}

/// A loket server under test with its members.
pub struct Spawned {
    pub server: ChildServer,
    pub members: Vec<Member>,
    pub database: String,
}

pub struct Harness {
    pub opts: Options,
    pub loket: Loket,
    /// The temporary directory of the databases and logs (`LOKET_BENCH_KEEP=1` keeps it).
    root: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    started: Instant,
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = url[s + 3..at].split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Harness {
    pub fn new(opts: Options) -> Result<Harness, String> {
        Harness::build(opts, true)
    }

    /// A harness for the baselines only (no loket binary needed).
    pub fn new_without_loket(opts: Options) -> Result<Harness, String> {
        Harness::build(opts, false)
    }

    fn build(opts: Options, need_loket: bool) -> Result<Harness, String> {
        if need_loket && !opts.loket.is_file() {
            return Err(format!(
                "no loket binary at {} (build it: cargo build --release -p loket-cli, or pass --loket)",
                opts.loket.display()
            ));
        }
        let mut b = tempfile::Builder::new();
        b.prefix("loket-bench-");
        let tmp = match &opts.workdir {
            Some(dir) => b.tempdir_in(dir),
            None => b.tempdir(),
        }
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let (root, tmp) = if std::env::var_os("LOKET_BENCH_KEEP").is_some() {
            let kept = tmp.keep();
            eprintln!("keeping the databases and logs in {}", kept.display());
            (kept, None)
        } else {
            (tmp.path().to_path_buf(), Some(tmp))
        };
        Ok(Harness {
            loket: Loket::new(&opts.loket),
            opts,
            root,
            _tmp: tmp,
            started: Instant::now(),
        })
    }

    pub fn dir(&self, name: &str) -> Result<PathBuf, String> {
        let d = self.root.join(name);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        Ok(d)
    }

    /// Progress on stderr.
    pub fn say(&self, what: &str) {
        eprintln!("[{:>5.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    pub fn say_result(&self, r: &Outcome<LoadResult>) {
        match r {
            Ok(r) => self.say(&format!(
                "  {} ({}): {:.0}/s, p50 {}, p99 {}, {} ok, {} errors",
                r.name,
                r.mode,
                r.throughput,
                fmt_us(r.latency.p50_us),
                fmt_us(r.latency.p99_us),
                r.ok,
                r.error_count
            )),
            Err(e) => self.say(&format!("  {e}")),
        }
    }

    /// A fresh loket on its own SQLite database, with `members` members (each with `deposit`
    /// more on its sandbox balance), configured by `config` (TOML).
    pub async fn loket_server(
        &self,
        name: &str,
        members: usize,
        deposit: i64,
        config: &str,
    ) -> Result<Spawned, String> {
        let dir = self.dir(name)?;
        let database = format!("sqlite://{}", dir.join("bench.db").display());
        let config_path = dir.join("loket.toml");
        std::fs::write(&config_path, config)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        let members = self
            .loket
            .members(&database, "6281100", members, deposit, true)?;
        let server = self
            .loket
            .serve(&database, &config_path, &dir.join("loket.log"))
            .await?;
        Ok(Spawned {
            server,
            members,
            database,
        })
    }

    /// The axum baseline as a child process, answering `body_size` bytes.
    pub async fn axum_server(&self, body_size: usize) -> Result<ChildServer, String> {
        let dir = self.dir("axum")?;
        serve_axum_child(&self.opts.exe, body_size, &dir.join("axum.log")).await
    }

    /// The slow fake upstream as a child process.
    pub async fn fake_upstream(&self) -> Result<ChildServer, String> {
        let dir = self.dir("upstream")?;
        spawn_self(
            &self.opts.exe,
            &[
                "fake-upstream".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--pay-delay-ms".into(),
                self.opts.pay_delay.as_millis().to_string(),
            ],
            &dir.join("upstream.log"),
        )
        .await
    }

    /// The raw SQLite ceiling, in the directory the servers' databases are in.
    pub async fn sqlite(&self) -> Outcome<sqlite_baseline::SqliteCeiling> {
        let dir = self.dir("sqlite")?;
        let per = self.opts.sqlite_per_batch;
        tokio::task::spawn_blocking(move || {
            sqlite_baseline::run(&dir, &sqlite_baseline::BATCHES, per)
        })
        .await
        .map_err(|e| format!("the SQLite baseline failed: {e}"))?
    }

    /// Sandbox IAK inquiries: closed loop, then open loop at half its throughput. Also measures
    /// the size of loket's answer (for the axum baseline).
    pub async fn inquiries(
        &self,
    ) -> (
        Vec<Outcome<LoadResult>>,
        Outcome<LoadResult>,
        Option<usize>,
        Vec<Member>,
    ) {
        let s = match self.loket_server("inquiry", 4, 0, "").await {
            Ok(s) => s,
            Err(e) => {
                return (
                    vec![Err(format!("not run: {e}"))],
                    not_run_after(),
                    None,
                    vec![],
                )
            }
        };
        let base = vec![s.server.base_url.clone()];
        let size = scenarios::inquiry_answer_size(&base[0], &s.members[0]).await;
        let (bases, members, hints) = (&base, &s.members, self.opts.hints);
        let runs = self
            .closed_runs(&s.server, "loket", |spec| async move {
                scenarios::iak_inquiries("IAK inquiries, sandbox", bases, members, &spec, hints)
                    .await
            })
            .await;
        let closed = best_of(&runs);
        let half = match &closed {
            Ok(r) if r.throughput > 0.0 => {
                let rate = (r.throughput / 2.0).max(1.0);
                settle().await;
                self.say(&format!("IAK inquiries at half rate: {rate:.0}/s"));
                scenarios::iak_inquiries(
                    "IAK inquiries, sandbox, half rate",
                    &base,
                    &s.members,
                    &self.opts.open(rate).with_cpu(loket_cpu(&s.server)),
                    self.opts.hints,
                )
                .await
                .map(|mut r| {
                    r.server_peak_rss_kb = s.server.peak_rss_kb();
                    r
                })
            }
            _ => not_run_after(),
        };
        self.say_result(&half);
        let runs = runs
            .into_iter()
            .map(|r| r.map_err(|e| with_log(e, &s.server)))
            .collect();
        let members = s.members.clone();
        s.server.stop().await;
        (runs, half, size.ok(), members)
    }

    /// One closed loop per connection count (`Options::closed_counts`), a pause between them:
    /// `run` gets each count's spec, watching the CPU of `server` (as `label`) and of the
    /// generator; each result carries `server`'s peak RSS so far.
    async fn closed_runs<F, Fut>(
        &self,
        server: &ChildServer,
        label: &str,
        mut run: F,
    ) -> Vec<Outcome<LoadResult>>
    where
        F: FnMut(LoadSpec) -> Fut,
        Fut: std::future::Future<Output = Outcome<LoadResult>>,
    {
        let mut runs = Vec::new();
        for (i, concurrency) in self.opts.closed_counts().into_iter().enumerate() {
            if i > 0 {
                settle().await;
            }
            let cpu = CpuWatch::new().pid(label, server.pid).and_generator();
            let r = run(self.opts.closed_at(concurrency).with_cpu(cpu))
                .await
                .map(|mut r| {
                    r.server_peak_rss_kb = server.peak_rss_kb();
                    r
                });
            self.say_result(&r);
            runs.push(r);
        }
        runs
    }

    /// The same requests against the axum baseline (closed loop).
    pub async fn axum(&self, body_size: usize, members: &[Member]) -> Vec<Outcome<LoadResult>> {
        let server = match self.axum_server(body_size).await {
            Ok(s) => s,
            Err(e) => return vec![Err(format!("not run: {e}"))],
        };
        let fallback = [Member {
            username: "628110000000".into(),
            api_id: String::new(),
            api_key: "x".into(),
            dev_api_key: "x".into(),
            secret_key: String::new(),
        }];
        let members = if members.is_empty() {
            &fallback[..]
        } else {
            members
        };
        let base = &server.base_url;
        let runs = self
            .closed_runs(&server, "axum", |spec| async move {
                scenarios::fixed_answers("axum baseline (HTTP ceiling)", base, members, &spec).await
            })
            .await;
        server.stop().await;
        runs
    }

    /// Sandbox payments: closed loop, then open loop at half its throughput.
    pub async fn payments(&self) -> (Vec<Outcome<LoadResult>>, Outcome<LoadResult>) {
        let s = match self
            .loket_server("pay", self.opts.pay_members, SANDBOX_DEPOSIT, "")
            .await
        {
            Ok(s) => s,
            Err(e) => return (vec![Err(format!("not run: {e}"))], not_run_after()),
        };
        let base = vec![s.server.base_url.clone()];
        let (bases, members, hints) = (&base, &s.members, self.opts.hints);
        let runs = self
            .closed_runs(&s.server, "loket", |spec| async move {
                scenarios::payments(
                    "payments (inquiry + pay), sandbox",
                    bases,
                    members,
                    &spec,
                    hints,
                )
                .await
            })
            .await;
        // Judged at the base count, as since round 7 (docs/performance.md, round 11).
        let closed = runs.first().cloned().unwrap_or_else(crate::report::not_run);
        let half = match &closed {
            Ok(r) if r.throughput > 0.0 => {
                let rate = (r.throughput / 2.0).max(1.0);
                settle().await;
                self.say(&format!("payments at half rate: {rate:.0} pairs/s"));
                scenarios::payments(
                    "payments, sandbox, half rate",
                    &base,
                    &s.members,
                    &self.opts.open(rate).with_cpu(loket_cpu(&s.server)),
                    self.opts.hints,
                )
                .await
                .map(|mut r| {
                    r.server_peak_rss_kb = s.server.peak_rss_kb();
                    r
                })
            }
            _ => not_run_after(),
        };
        self.say_result(&half);
        let runs = runs
            .into_iter()
            .map(|r| r.map_err(|e| with_log(e, &s.server)))
            .collect();
        s.server.stop().await;
        (runs, half)
    }

    /// isikuota sandbox inquiries (closed loop).
    pub async fn isikuota(&self) -> Outcome<LoadResult> {
        let s = self
            .loket_server("isikuota", 4, 0, "")
            .await
            .map_err(|e| format!("not run: {e}"))?;
        let r = scenarios::isikuota_inquiries(
            "isikuota inquiries, testing",
            std::slice::from_ref(&s.server.base_url),
            &s.members,
            &self.opts.closed().with_cpu(loket_cpu(&s.server)),
            self.opts.hints,
        )
        .await
        .map_err(|e| with_log(e, &s.server));
        let peak = s.server.stop().await;
        let r = r.map(|mut r| {
            r.server_peak_rss_kb = peak;
            r
        });
        self.say_result(&r);
        r
    }

    /// The slow-upstream scenario: the fake upstream, a loket routing PGAS to it, a live member
    /// with the money for every payment, another member for sandbox inquiries.
    pub async fn slow(&self, opts: &SlowOptions) -> Outcome<slow::SlowResult> {
        let upstream = self
            .fake_upstream()
            .await
            .map_err(|e| format!("not run: {e}"))?;
        let config = format!(
            "[[upstream]]\nname = \"slow\"\nkind = \"iak\"\nbase_url = \"{}\"\nusername = \"benchup\"\n\
             api_key = \"benchkey\"\nmax_concurrency = 20000\ntimeout_ms = 30000\nhttp = \"http2\"\n\n\
             [[route]]\nproduct = \"PGAS\"\nupstream = \"slow\"\n",
            upstream.base_url
        );
        // A fresh server and database per run (run-all runs the scenario once per way of
        // connecting).
        let dir = self.dir(&format!("slow-{}", slow_label(opts).replace('/', "")))?;
        let database = format!("sqlite://{}", dir.join("bench.db").display());
        let config_path = dir.join("loket.toml");
        std::fs::write(&config_path, &config).map_err(|e| e.to_string())?;
        let live = self
            .loket
            .member_add(&database, "628120000001")
            .map_err(|e| format!("not run: {e}"))?;
        let money = (opts.payments as i64 + 16) * 400_000;
        self.loket
            .deposit(&database, &live.username, money, false)
            .map_err(|e| format!("not run: {e}"))?;
        let other = self
            .loket
            .member_add(&database, "628120000002")
            .map_err(|e| format!("not run: {e}"))?;
        let server = self
            .loket
            .serve(&database, &config_path, &dir.join("loket.log"))
            .await
            .map_err(|e| format!("not run: {e}"))?;
        let stats = format!("{}/stats", upstream.base_url);
        let r = slow::run_slow(
            &server.base_url,
            &live,
            &other,
            Some(&stats),
            opts,
            Some(server.pid),
        )
        .await;
        let fd_limit = machine::open_files_limit(server.pid);
        let log = server.log_tail();
        server.stop().await;
        upstream.stop().await;
        let mut r = r.map_err(|e| format!("not run: {e}{log}"))?;
        if let Some(limit) = fd_limit {
            // A member connection each; the upstream's streams share one HTTP/2 connection.
            let needed = r.payments as u64 + 64;
            if limit < needed {
                r.notes.push(format!(
                    "loket's open-files limit is {limit}; {} payments in flight hold about {needed} \
                     descriptors in loket (a member connection each, the upstream's HTTP/2 \
                     connection shared), so this machine's limit, not loket, caps what can be in \
                     flight at once",
                    r.payments
                ));
            }
        }
        if r.paid < r.payments as u64 && !log.is_empty() {
            r.notes.push(format!("the server's log ends with{log}"));
        }
        Ok(r)
    }

    /// Members of the PostgreSQL scenario (see [`Options::pg_members`]).
    pub fn pg_members(&self) -> usize {
        match self.opts.pg_members {
            0 => self.opts.concurrency.max(1),
            n => n,
        }
    }

    /// Payments on PostgreSQL through two loket instances sharing one database.
    pub async fn postgres(&self) -> Outcome<LoadResult> {
        let Some(url) = &self.opts.pg_url else {
            return Err("not run: LOKET_BENCH_PG_URL is unset".into());
        };
        if let Err(e) = self.loket.migrate(url) {
            return Err(format!(
                "not run: this loket binary cannot use {} yet ({e})",
                redact(url)
            ));
        }
        let dir = self.dir("pg")?;
        let config_path = dir.join("loket.toml");
        std::fs::write(&config_path, "").map_err(|e| e.to_string())?;
        // Usernames unique to this run: the database outlives it.
        let prefix = format!(
            "629{}",
            &format!("{:06}", std::process::id() % 1_000_000)[..5]
        );
        let members = self
            .loket
            .members(url, &prefix, self.pg_members(), SANDBOX_DEPOSIT, true)
            .map_err(|e| format!("not run: {e}"))?;
        let a = self
            .loket
            .serve(url, &config_path, &dir.join("loket-a.log"))
            .await
            .map_err(|e| format!("not run: {e}"))?;
        let b = self
            .loket
            .serve(url, &config_path, &dir.join("loket-b.log"))
            .await
            .map_err(|e| format!("not run: {e}"))?;
        let r = scenarios::payments(
            "payments, PostgreSQL, two instances",
            &[a.base_url.clone(), b.base_url.clone()],
            &members,
            &self.opts.closed().with_cpu(
                CpuWatch::new()
                    .pid("loket", a.pid)
                    .pid("loket", b.pid)
                    .comm("postgres", "postgres")
                    .and_generator(),
            ),
            self.opts.hints,
        )
        .await;
        let pa = a.stop().await;
        let pb = b.stop().await;
        r.map(|mut r| {
            r.server_peak_rss_kb = pa.max(pb);
            r
        })
    }
}

/// A loket server's CPU and the generator's, for a scenario's report row.
pub fn loket_cpu(server: &ChildServer) -> CpuWatch {
    CpuWatch::new().pid("loket", server.pid).and_generator()
}

fn not_run_after() -> Outcome<LoadResult> {
    Err("not run: the closed-loop run failed".into())
}

fn with_log(e: String, server: &ChildServer) -> String {
    format!("{e}{}", server.log_tail())
}

/// Everything, in order; the report of the whole run.
pub async fn run_all(opts: Options) -> Result<Report, String> {
    let (date, started) = machine::now_utc();
    let mut report = Report::new(
        date,
        started,
        machine::git_commit(&opts.repo),
        machine::detect(),
    );
    report.quick = opts.quick;
    report.command = opts.command.clone();
    report.concurrency = opts.concurrency;
    report.ceiling_concurrency = opts.ceiling_concurrency.clone();
    let h = Harness::new(opts)?;

    h.say("SQLite ceiling (batches of 1, 16, 64, 256 rows)");
    report.sqlite = h.sqlite().await;
    if let Ok(s) = &report.sqlite {
        for b in &s.per_batch {
            h.say(&format!(
                "  batch {}: {:.0} rows/s",
                b.batch, b.rows_per_sec
            ));
        }
    }

    h.say("IAK inquiries, sandbox");
    let (inquiry, half, size, members) = h.inquiries().await;
    report.inquiry = best_of(&inquiry);
    report.inquiry_runs = inquiry;
    report.inquiry_half = half;
    report.answer_bytes = size;

    let body = size.unwrap_or(520);
    h.say(&format!("axum baseline ({body}-byte answers)"));
    let axum = h.axum(body, &members).await;
    report.axum = best_of(&axum);
    report.axum_runs = axum;

    h.say("payments (inquiry + pay), sandbox");
    let (pay, pay_half) = h.payments().await;
    // The payment goal is judged at --concurrency (the first run), the others are shown.
    report.pay = pay.first().cloned().unwrap_or_else(crate::report::not_run);
    report.pay_runs = pay;
    report.pay_half = pay_half;

    h.say("isikuota inquiries, testing");
    report.isikuota = h.isikuota().await;

    // Members over HTTP/1.1 (a connection per payment in flight), then over h2c (streams of a
    // few connections).
    for member_h2c in [None, Some(SLOW_H2C_CONNECTIONS)] {
        let opts = SlowOptions {
            member_h2c,
            ..h.opts.slow.clone()
        };
        let label = slow_label(&opts);
        h.say(&format!(
            "slow upstream: {} payments in flight, members over {label}",
            opts.payments
        ));
        let r = h.slow(&opts).await;
        match &r {
            Ok(s) => h.say(&format!(
                "  {} of {} paid in {:.1} s; upstream held {:?} at once; peak RSS {:?} KiB; other inquiries p99 {}",
                s.paid,
                s.payments,
                s.burst_secs,
                s.upstream_max_in_flight,
                s.server_peak_rss_kb,
                fmt_us(s.inquiries.latency.p99_us)
            )),
            Err(e) => h.say(&format!("  {e}")),
        }
        report.slow.push((label, r));
    }

    h.say("PostgreSQL, two instances");
    report.pg = h.postgres().await;
    report.pg_members = h.pg_members();
    h.say_result(&report.pg);

    report.wall_secs = h.started.elapsed().as_secs_f64();
    report.loadavg_end = machine::loadavg();
    Ok(report)
}

/// Write `report` to `out` (creating its directory).
pub fn write_report(report: &Report, out: &Path) -> Result<(), String> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(out, report.to_markdown()).map_err(|e| format!("{}: {e}", out.display()))
}

/// The run with the highest throughput; a run with errors counts only when every run had some
/// (its goals then fail on them). The first error when none ran.
pub fn best_of(runs: &[Outcome<LoadResult>]) -> Outcome<LoadResult> {
    let best = |clean: bool| {
        runs.iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|r| !clean || r.error_count == 0)
            .max_by(|a, b| a.throughput.total_cmp(&b.throughput))
            .cloned()
    };
    match best(true).or_else(|| best(false)) {
        Some(r) => Ok(r),
        None => runs.first().cloned().unwrap_or_else(crate::report::not_run),
    }
}

/// `exe axum-server` (exe: this binary) as a child process answering `body_size` bytes.
pub async fn serve_axum_child(
    exe: &Path,
    body_size: usize,
    log: &Path,
) -> Result<ChildServer, String> {
    spawn_self(
        exe,
        &[
            "axum-server".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--body-size".into(),
            body_size.to_string(),
        ],
        log,
    )
    .await
}

/// The axum baseline's server, for `loket-bench axum-server`.
pub async fn serve_axum(listen: &str, body_size: usize) -> Result<(), String> {
    let listener = axum_baseline::listen(listen, 4096).map_err(|e| format!("{listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("axum baseline listening on http://{addr}");
    axum_baseline::serve(listener, axum_baseline::fixed_body(body_size), shutdown())
        .await
        .map_err(|e| e.to_string())
}

/// The fake upstream, for `loket-bench fake-upstream`.
/// It listens on 4 sockets of one port (`SO_REUSEPORT`), so that a burst of 10,000 connections
/// from loket finds 4 accept queues of 4096 rather than one: the fake must not be what limits
/// the payments in flight.
pub async fn serve_fake_upstream(listen: &str, pay_delay: Duration) -> Result<(), String> {
    let listeners =
        axum_baseline::listen_many(listen, 4, 4096).map_err(|e| format!("{listen}: {e}"))?;
    let addr = listeners[0].local_addr().map_err(|e| e.to_string())?;
    let counters = std::sync::Arc::new(crate::fake_upstream::Counters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let servers: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let mut stop = stop_rx.clone();
            tokio::spawn(crate::fake_upstream::serve(
                l,
                counters.clone(),
                pay_delay,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            ))
        })
        .collect();
    println!("fake upstream listening on http://{addr}");
    shutdown().await;
    let _ = stop_tx.send(true);
    for s in servers {
        s.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

/// Before a half-rate run: write back what the closed loop before it left dirty in the page
/// cache (hundreds of MB of database pages after 20 s at full speed) and let the checkpointer
/// catch up, so that the half-rate run measures its own load, not the kernel flushing the last
/// one's. Without it the half-rate inquiries measured p99 87 ms (2026-11-22) where the same rate
/// alone gave 5 ms.
async fn settle() {
    let _ = tokio::process::Command::new("sync").status().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[cfg(test)]
mod tests {
    use super::{best_of, closed_counts};
    use crate::report::{Outcome, Report};
    use crate::stats::LoadResult;

    fn run(mode: &str, throughput: f64, errors: u64) -> Outcome<LoadResult> {
        Ok(LoadResult {
            name: "x".into(),
            mode: mode.into(),
            target_rate: None,
            measured_secs: 1.0,
            ok: throughput as u64,
            error_count: errors,
            errors: Default::default(),
            throughput,
            latency: Default::default(),
            phases: Vec::new(),
            send_lag: None,
            exhausted: false,
            server_peak_rss_kb: None,
            cpu: Vec::new(),
        })
    }

    #[test]
    fn the_best_run_is_the_fastest_clean_one() {
        let runs = [
            run("closed loop, 64 connections", 100.0, 0),
            run("closed loop, 256 connections", 300.0, 1),
            run("closed loop, 512 connections", 200.0, 0),
        ];
        assert_eq!(best_of(&runs).unwrap().throughput, 200.0);
        // Only runs with errors: the fastest of them, whose goal then fails on its errors.
        let dirty = [run("a", 100.0, 2), run("b", 150.0, 1)];
        assert_eq!(best_of(&dirty).unwrap().throughput, 150.0);
        let failed: [Outcome<LoadResult>; 2] = [Err("down".into()), run("b", 5.0, 0)];
        assert_eq!(best_of(&failed).unwrap().throughput, 5.0);
        assert_eq!(best_of(&[Err("down".into())]).unwrap_err(), "down");
        assert!(best_of(&[]).is_err());
    }

    #[test]
    fn the_closed_loop_counts_are_the_base_then_larger_ceilings_once_each() {
        assert_eq!(closed_counts(64, &[256, 512]), vec![64, 256, 512]);
        assert_eq!(
            closed_counts(64, &[512, 256, 512, 64, 32]),
            vec![64, 256, 512]
        );
        assert_eq!(closed_counts(64, &[0]), vec![64]);
        assert_eq!(closed_counts(300, &[256, 512]), vec![300, 512]);
    }

    #[test]
    fn the_inquiry_goal_compares_maxima_and_shows_each_count() {
        let mut report = Report::new("d".into(), "s".into(), "c".into(), crate::machine::detect());
        report.concurrency = 64;
        report.ceiling_concurrency = vec![256];
        report.inquiry_runs = vec![
            run("closed loop, 64 connections", 300.0, 0),
            run("closed loop, 256 connections", 400.0, 0),
        ];
        report.axum_runs = vec![
            run("closed loop, 64 connections", 1000.0, 0),
            run("closed loop, 256 connections", 900.0, 0),
        ];
        report.inquiry = best_of(&report.inquiry_runs);
        report.axum = best_of(&report.axum_runs);
        let goal = &report.goals()[0];
        assert_eq!(
            goal.measured,
            "400/s vs 1000/s = 40% (each at its best: loket 256 connections, axum 64 connections; \
             at the same count: 64 connections: 30%, 256 connections: 44%)"
        );
        assert_eq!(goal.verdict, crate::report::Verdict::Fail);
        // At 50% or more it passes, unless any run of either server had errors.
        report.axum_runs = vec![
            run("closed loop, 64 connections", 800.0, 0),
            run("closed loop, 256 connections", 700.0, 0),
        ];
        report.axum = best_of(&report.axum_runs);
        assert_eq!(report.goals()[0].verdict, crate::report::Verdict::Pass);
        report.inquiry_runs[0] = run("closed loop, 64 connections", 300.0, 3);
        let goal = &report.goals()[0];
        assert_eq!(goal.verdict, crate::report::Verdict::Fail);
        assert!(
            goal.measured.ends_with("; 3 errors in its other runs"),
            "{}",
            goal.measured
        );
        report.inquiry_runs[0] = run("closed loop, 64 connections", 300.0, 0);
        report.axum_runs[1] = run("closed loop, 256 connections", 700.0, 2);
        let goal = &report.goals()[0];
        assert_eq!(goal.verdict, crate::report::Verdict::Fail);
        assert!(
            goal.measured.ends_with("; the axum baseline had 2 errors"),
            "{}",
            goal.measured
        );
        // Payments are judged at the base count; the other is shown, not judged.
        report.pay_runs = vec![
            run("closed loop, 64 connections", 9_000.0, 0),
            run("closed loop, 256 connections", 12_000.0, 0),
        ];
        report.pay = report.pay_runs[0].clone();
        let goal = &report.goals()[1];
        assert_eq!(
            goal.measured,
            "9000 paid bills/s (closed loop, 64 connections; not judged: closed loop, 256 connections: 12000/s)"
        );
        assert_eq!(goal.verdict, crate::report::Verdict::Fail);
        let md = report.to_markdown();
        assert!(md.contains("also at 256"), "{md}");
        // Payments (judged at 64) against axum at 64: 2 × 9,000 / 800.
        assert!(
            md.contains("| payment pairs / axum baseline (requests: 2 per pair; same connections) | 2250.0% |"),
            "{md}"
        );
        for mode in ["64 connections", "256 connections"] {
            let rows = md
                .lines()
                .filter(|l| l.starts_with("| IAK inquiries, sandbox |") && l.contains(mode))
                .count();
            assert_eq!(rows, 1, "{mode}: {md}");
        }
    }
}
