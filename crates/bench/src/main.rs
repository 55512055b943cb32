//! `loket-bench`: the command line of loket's benchmark harness (the work is in the library).

use clap::{Args, Parser, Subcommand};
use loket_bench::flows::Member;
use loket_bench::harness::{self, Harness, Options};
use loket_bench::load::LoadSpec;
use loket_bench::report::results_table;
use loket_bench::scenarios::{self, RateHints};
use loket_bench::slow::SlowOptions;
use loket_bench::stats::{fmt_us, LoadResult};
use loket_bench::{machine, sqlite_baseline};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "loket-bench",
    about = "Load generator and baselines for loket (see bench/README.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every scenario and baseline, each on a fresh server; writes the results markdown.
    RunAll(RunAllArgs),
    /// Sandbox IAK inquiries (PGAS 0110010000).
    Inquiry(LoadArgs),
    /// Sandbox inquiry + payment pairs.
    Pay(LoadArgs),
    /// isikuota inquiries with `testing: true`.
    Isikuota(LoadArgs),
    /// The same signed inquiries against the minimal axum server (the HTTP ceiling).
    AxumBaseline {
        #[command(flatten)]
        load: LoadArgs,
        /// Size of the fixed answer (loket's inquiry answer is about this size).
        #[arg(long, default_value_t = 520)]
        body_size: usize,
    },
    /// Durable SQLite commits from one writer (the disk ceiling).
    SqliteBaseline {
        /// Directory of the scratch databases (put it on the disk loket's database is on).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds per batch size.
        #[arg(long, default_value_t = 5.0)]
        per_batch: f64,
        /// Rows per commit, comma-separated.
        #[arg(long, default_value = "1,16,64,256", value_delimiter = ',')]
        batches: Vec<usize>,
    },
    /// Payments in flight to a fake upstream that answers pay-pasca after a delay, while another
    /// member's sandbox inquiries are measured.
    SlowUpstream {
        #[arg(
            long,
            env = "LOKET_BENCH_LOKET",
            default_value = "target/release/loket"
        )]
        loket: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        payments: usize,
        #[arg(long, default_value_t = 500.0)]
        inquiry_rate: f64,
        #[arg(long, default_value_t = 2_000)]
        pay_delay_ms: u64,
        /// The paying member's payments as streams of this many h2c connections (default: one
        /// HTTP/1.1 connection per payment).
        #[arg(long)]
        member_h2c: Option<usize>,
        /// The other member connects from the paying member's address (127.0.0.1) instead of
        /// an address of its own (127.0.0.2).
        #[arg(long)]
        other_same_address: bool,
    },
    /// Payments through two loket instances on one PostgreSQL database (run-all's PostgreSQL
    /// scenario alone).
    PgPay(PgPayArgs),
    /// (internal) Serve the axum baseline: a fixed answer of --body-size bytes.
    AxumServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        #[arg(long, default_value_t = 520)]
        body_size: usize,
    },
    /// (internal) Serve the slow fake IAK upstream.
    FakeUpstream {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        #[arg(long, default_value_t = 2_000)]
        pay_delay_ms: u64,
    },
}

#[derive(Args)]
struct RunAllArgs {
    /// The results file (default bench/results/<date>.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A few seconds per scenario instead of ~20 s.
    #[arg(long)]
    quick: bool,
    /// The release loket binary.
    #[arg(
        long,
        env = "LOKET_BENCH_LOKET",
        default_value = "target/release/loket"
    )]
    loket: PathBuf,
    /// Connections of the closed loops.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Inquiries, the axum baseline and payments also run closed loops at these many
    /// connections (a comma-separated list; those larger than --concurrency; 0: none); each
    /// one's throughput is the best.
    #[arg(long, value_delimiter = ',', default_values_t = harness::CEILING_CONCURRENCY)]
    ceiling_concurrency: Vec<usize>,
    /// Measured seconds per scenario (default 20, quick 3).
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds per scenario (default 3, quick 1).
    #[arg(long)]
    warmup: Option<f64>,
    /// Payments sent at once in the slow-upstream scenario.
    #[arg(long, default_value_t = 10_000)]
    slow_payments: usize,
    /// Sandbox inquiries per second of the other member during the slow-upstream burst.
    #[arg(long, default_value_t = 500.0)]
    slow_inquiry_rate: f64,
    /// PostgreSQL URL for the two-instance scenario (skipped without it).
    #[arg(long, env = "LOKET_BENCH_PG_URL", hide_env_values = true)]
    pg_url: Option<String>,
    /// Directory of the temporary databases (default: the system's temporary directory).
    #[arg(long)]
    workdir: Option<PathBuf>,
    #[command(flatten)]
    hints: HintArgs,
}

#[derive(Args)]
struct PgPayArgs {
    /// The PostgreSQL database both instances share (its public schema; runs add members).
    #[arg(long, env = "LOKET_BENCH_PG_URL", hide_env_values = true)]
    pg_url: String,
    /// The release loket binary.
    #[arg(
        long,
        env = "LOKET_BENCH_LOKET",
        default_value = "target/release/loket"
    )]
    loket: PathBuf,
    /// Connections of the closed loop.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds (sent, not recorded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Members paying (default: one per connection, as run-all does).
    #[arg(long)]
    members: Option<usize>,
    #[command(flatten)]
    hints: HintArgs,
}

#[derive(Args)]
struct HintArgs {
    /// Closed loops prepare this many inquiries per second of the run.
    #[arg(long, default_value_t = scenarios::INQUIRY_RATE_HINT)]
    inquiry_rate_hint: f64,
    /// Closed loops prepare this many payment pairs per second of the run.
    #[arg(long, default_value_t = scenarios::PAY_RATE_HINT)]
    pay_rate_hint: f64,
    /// Closed loops prepare this many isikuota inquiries per second of the run.
    #[arg(long, default_value_t = scenarios::ISIKUOTA_RATE_HINT)]
    isikuota_rate_hint: f64,
}

impl HintArgs {
    fn hints(&self) -> RateHints {
        RateHints {
            inquiry: self.inquiry_rate_hint,
            pay: self.pay_rate_hint,
            isikuota: self.isikuota_rate_hint,
        }
    }
}

#[derive(Args)]
struct LoadArgs {
    /// A running server (without it, a fresh `loket serve` is started from --loket).
    #[arg(long)]
    url: Option<String>,
    /// With --url: a JSON file of member credentials as `loket member add` prints them (one
    /// object or an array).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// The release loket binary (when no --url).
    #[arg(
        long,
        env = "LOKET_BENCH_LOKET",
        default_value = "target/release/loket"
    )]
    loket: PathBuf,
    /// Closed loop with N connections (the default, 64).
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// Open loop at R operations per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Warm-up seconds (sent, not recorded).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Members to create (when no --url).
    #[arg(long, default_value_t = 4)]
    members: usize,
    #[command(flatten)]
    hints: HintArgs,
}

impl LoadArgs {
    fn spec(&self) -> LoadSpec {
        let (w, d) = (secs(self.warmup), secs(self.duration));
        match self.rate {
            Some(r) => LoadSpec::open(r, w, d),
            None => LoadSpec::closed(self.concurrency.unwrap_or(64), w, d),
        }
    }

    fn credentials(&self) -> Result<Vec<Member>, String> {
        let path = self
            .credentials
            .as_ref()
            .ok_or("--url needs --credentials FILE (the JSON `loket member add` prints)")?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let list = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        list.into_iter()
            .map(|m| serde_json::from_value(m).map_err(|e| format!("{}: {e}", path.display())))
            .collect()
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("loket-bench"))
}

fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.starts_with("postgres") {
                harness::redact(&a)
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Inquiry,
    Pay,
    Isikuota,
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::RunAll(a) => run_all(a).await,
        Command::Inquiry(a) => single(Kind::Inquiry, a).await,
        Command::Pay(a) => single(Kind::Pay, a).await,
        Command::Isikuota(a) => single(Kind::Isikuota, a).await,
        Command::AxumBaseline { load, body_size } => {
            let spec = load.spec();
            let r = match &load.url {
                Some(url) => {
                    let members = load.credentials().unwrap_or_else(|_| {
                        vec![Member {
                            username: "628110000000".into(),
                            api_id: String::new(),
                            api_key: "x".into(),
                            dev_api_key: "x".into(),
                            secret_key: String::new(),
                        }]
                    });
                    scenarios::fixed_answers("axum baseline", url, &members, &spec).await?
                }
                None => {
                    let mut opts = Options::new(load.loket.clone(), exe(), false);
                    opts.concurrency = load.concurrency.unwrap_or(64);
                    let h = Harness::new_without_loket(opts)?;
                    let server = h.axum_server(body_size).await?;
                    let spec = spec.with_cpu(
                        loket_bench::cpu::CpuWatch::new()
                            .pid("axum", server.pid)
                            .and_generator(),
                    );
                    let r = scenarios::fixed_answers(
                        "axum baseline",
                        &server.base_url,
                        &[Member {
                            username: "628110000000".into(),
                            api_id: String::new(),
                            api_key: "x".into(),
                            dev_api_key: "x".into(),
                            secret_key: String::new(),
                        }],
                        &spec,
                    )
                    .await;
                    let peak = server.stop().await;
                    let mut r = r?;
                    r.server_peak_rss_kb = peak;
                    r
                }
            };
            print!("{}", results_table(&[&r]));
            Ok(())
        }
        Command::SqliteBaseline {
            dir,
            per_batch,
            batches,
        } => {
            let tmp = tempfile::Builder::new()
                .prefix("loket-bench-sqlite-")
                .tempdir_in(dir.unwrap_or_else(std::env::temp_dir))
                .map_err(|e| e.to_string())?;
            let path = tmp.path().to_path_buf();
            let r = tokio::task::spawn_blocking(move || {
                sqlite_baseline::run(&path, &batches, secs(per_batch))
            })
            .await
            .map_err(|e| e.to_string())??;
            println!("| rows per commit | rows/s | commits/s | commit p50 | commit p99 |");
            println!("| --- | --- | --- | --- | --- |");
            for b in &r.per_batch {
                println!(
                    "| {} | {:.0} | {:.0} | {} | {} |",
                    b.batch,
                    b.rows_per_sec,
                    b.commits as f64 / b.secs.max(1e-9),
                    fmt_us(b.commit_latency.p50_us),
                    fmt_us(b.commit_latency.p99_us)
                );
            }
            Ok(())
        }
        Command::SlowUpstream {
            loket,
            payments,
            inquiry_rate,
            pay_delay_ms,
            member_h2c,
            other_same_address,
        } => {
            let mut opts = Options::new(loket, exe(), false);
            let defaults = SlowOptions::default();
            opts.slow = SlowOptions {
                payments,
                inquiry_rate,
                member_h2c,
                other_address: defaults.other_address.filter(|_| !other_same_address),
                ..defaults
            };
            opts.pay_delay = Duration::from_millis(pay_delay_ms);
            let slow_opts = opts.slow.clone();
            let h = Harness::new(opts)?;
            let s = h.slow(&slow_opts).await?;
            let mut report = loket_bench::report::Report::new(
                String::new(),
                String::new(),
                String::new(),
                machine::detect(),
            );
            report.slow = vec![(harness::slow_label(&slow_opts), Ok(s))];
            let md = report.to_markdown();
            // The slow-upstream section and the goals it decides.
            for g in report.goals().iter().filter(|g| g.goal.starts_with("Slow")) {
                println!("{}: {} ({})", g.goal, g.verdict.label(), g.measured);
            }
            if let Some(at) = md.find("## Slow upstream") {
                let rest = &md[at..];
                let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
                print!("{}", &rest[..end]);
            }
            Ok(())
        }
        Command::PgPay(a) => {
            let mut opts = Options::new(a.loket, exe(), false);
            opts.concurrency = a.concurrency;
            opts.warmup = secs(a.warmup);
            opts.duration = secs(a.duration);
            opts.pg_url = Some(a.pg_url);
            opts.pg_members = a.members.unwrap_or(0);
            opts.hints = a.hints.hints();
            let h = Harness::new(opts)?;
            let r = h.postgres().await?;
            print!("{}", results_table(&[&r]));
            Ok(())
        }
        Command::AxumServer { listen, body_size } => harness::serve_axum(&listen, body_size).await,
        Command::FakeUpstream {
            listen,
            pay_delay_ms,
        } => harness::serve_fake_upstream(&listen, Duration::from_millis(pay_delay_ms)).await,
    }
}

async fn single(kind: Kind, a: LoadArgs) -> Result<(), String> {
    let spec = a.spec();
    let hints = a.hints.hints();
    let go = |bases: Vec<String>, members: Vec<Member>, spec: LoadSpec| async move {
        match kind {
            Kind::Inquiry => {
                scenarios::iak_inquiries("IAK inquiries, sandbox", &bases, &members, &spec, hints)
                    .await
            }
            Kind::Pay => {
                scenarios::payments("payments, sandbox", &bases, &members, &spec, hints).await
            }
            Kind::Isikuota => {
                scenarios::isikuota_inquiries(
                    "isikuota inquiries, testing",
                    &bases,
                    &members,
                    &spec,
                    hints,
                )
                .await
            }
        }
    };
    let r: LoadResult = match &a.url {
        Some(url) => go(vec![url.clone()], a.credentials()?, spec).await?,
        None => {
            let h = Harness::new(Options::new(a.loket.clone(), exe(), false))?;
            let deposit = if matches!(kind, Kind::Pay) {
                10_000_000_000_000
            } else {
                0
            };
            let s = h.loket_server("single", a.members, deposit, "").await?;
            let spec = spec.with_cpu(loket_bench::harness::loket_cpu(&s.server));
            let r = go(vec![s.server.base_url.clone()], s.members.clone(), spec).await;
            let tail = s.server.log_tail();
            let peak = s.server.stop().await;
            let mut r = r.map_err(|e| format!("{e}{tail}"))?;
            r.server_peak_rss_kb = peak;
            r
        }
    };
    print!("{}", results_table(&[&r]));
    Ok(())
}

async fn run_all(a: RunAllArgs) -> Result<(), String> {
    let mut opts = Options::new(a.loket, exe(), a.quick);
    opts.concurrency = a.concurrency;
    opts.ceiling_concurrency = a.ceiling_concurrency;
    if let Some(d) = a.duration {
        opts.duration = secs(d);
    }
    if let Some(w) = a.warmup {
        opts.warmup = secs(w);
    }
    opts.slow.payments = a.slow_payments;
    opts.slow.inquiry_rate = a.slow_inquiry_rate;
    opts.pg_url = a.pg_url.filter(|u| !u.is_empty());
    opts.hints = a.hints.hints();
    opts.workdir = a.workdir;
    opts.command = command_line();
    let report = harness::run_all(opts).await?;
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("bench/results/{}.md", report.date)));
    harness::write_report(&report, &out)?;
    let md = report.to_markdown();
    println!("{md}");
    eprintln!("wrote {}", out.display());
    Ok(())
}
