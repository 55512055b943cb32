//! The harness's smoke run: every scenario for about a second at low load against real servers
//! (loket in-process on a temporary SQLite database, as crates/cli/tests/it/helpers.rs starts
//! it; the axum baseline as a child `loket-bench axum-server`; the fake upstream in-process),
//! then the report. It asserts that the run is correct (requests answered, no errors, every
//! latency recorded, every report section there), never how fast it was.

use loket_bench::flows::Member;
use loket_bench::harness;
use loket_bench::load::LoadSpec;
use loket_bench::report::{Report, Verdict, SECTIONS};
use loket_bench::scenarios::{self, RateHints};
use loket_bench::server::ChildServer;
use loket_bench::slow::{self, SlowOptions};
use loket_bench::stats::LoadResult;
use loket_bench::{axum_baseline, fake_upstream, machine, sqlite_baseline};
use loket_core::{Catalogue, Mode, Rupiah};
use loket_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// loket in-process on port 0; dropping the sender stops it.
struct App {
    base_url: String,
    store: Store,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn spawn_loket() -> App {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}/loket.db", dir.path().display());
    let store = Store::open(&url).await.expect("the database opens");
    store
        .load_catalogue(&Catalogue::builtin())
        .await
        .expect("the catalogue loads");
    let config = loket_api::Config {
        database: url,
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let state = loket_api::AppState::new(store.clone(), config).expect("a valid configuration");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = loket_api::serve(listener, state, async move {
            let _ = rx.await;
        })
        .await;
    });
    App {
        base_url: format!("http://{addr}"),
        store,
        _stop: tx,
        _dir: dir,
    }
}

impl App {
    async fn member(&self, username: &str, live: i64, sandbox: i64) -> Member {
        let m = self
            .store
            .create_member(loket_store::new_keys(username, "Bench member"))
            .await
            .expect("the member is created");
        for (mode, amount) in [(Mode::Live, live), (Mode::Sandbox, sandbox)] {
            if amount > 0 {
                self.store
                    .deposit(m.id, mode, Rupiah::new(amount))
                    .await
                    .expect("the deposit");
            }
        }
        Member {
            username: m.username,
            api_id: m.api_id,
            api_key: m.api_key,
            dev_api_key: m.dev_api_key,
            secret_key: m.secret_key,
        }
    }
}

fn closed() -> LoadSpec {
    LoadSpec::closed(4, Duration::from_millis(200), Duration::from_secs(1))
}

/// Well above what 4 connections reach even on a fast machine (isikuota's 5,000/s ran out on a
/// 2-core Xeon on 2026-12-03): a window cut short fails the run below.
const HINTS: RateHints = RateHints {
    inquiry: 30_000.0,
    pay: 15_000.0,
    isikuota: 30_000.0,
};

#[track_caller]
fn assert_clean(r: &LoadResult) {
    assert!(r.ok > 0, "{}: nothing answered: {r:?}", r.name);
    assert_eq!(r.error_count, 0, "{}: errors {:?}", r.name, r.errors);
    assert!(r.all_latencies_recorded(), "{}: {r:?}", r.name);
    assert!(r.latency.p50_us > 0 && r.latency.p99_us >= r.latency.p50_us);
    assert!(r.throughput > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_and_the_report_renders() {
    let (date, started) = machine::now_utc();
    let mut report = Report::new(date, started, "smoke".into(), machine::detect());
    report.quick = true;
    report.command = "cargo test -p loket-bench --test smoke".into();
    report.concurrency = 4;

    // The disk ceiling.
    let dir = tempfile::tempdir().unwrap();
    let ceiling = sqlite_baseline::run(dir.path(), &[1, 16], Duration::from_millis(300)).unwrap();
    assert!(ceiling.per_batch.iter().all(|b| b.rows > 0));
    report.sqlite = Ok(ceiling);

    // Sandbox inquiries, closed then open loop.
    let app = spawn_loket().await;
    let members = vec![
        app.member("62811000001", 0, 0).await,
        app.member("62811000002", 0, 0).await,
    ];
    let base = vec![app.base_url.clone()];
    let size = scenarios::inquiry_answer_size(&base[0], &members[0])
        .await
        .unwrap();
    assert!(size > 100, "an inquiry answer of {size} bytes");
    report.answer_bytes = Some(size);
    let r = scenarios::iak_inquiries("IAK inquiries", &base, &members, &closed(), HINTS)
        .await
        .unwrap();
    assert_clean(&r);
    assert!(r.send_lag.is_none());
    report.inquiry = Ok(r);
    let open = LoadSpec::open(100.0, Duration::from_millis(200), Duration::from_secs(1));
    let r = scenarios::iak_inquiries("IAK inquiries, half", &base, &members, &open, HINTS)
        .await
        .unwrap();
    assert_clean(&r);
    let total = r.ok + r.error_count;
    assert!(
        (90..=110).contains(&total),
        "open loop at 100/s for 1 s sent {total}"
    );
    assert!(r.send_lag.is_some());
    report.inquiry_half = Ok(r);

    // The HTTP ceiling, as run-all runs it: a child process of this binary.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_loket-bench"));
    let log = dir.path().join("axum.log");
    let axum = harness::serve_axum_child(exe, size, &log).await.unwrap();
    let r = scenarios::fixed_answers("axum baseline", &axum.base_url, &members, &closed())
        .await
        .unwrap();
    assert_clean(&r);
    let peak = axum.stop().await;
    assert!(peak.is_some_and(|kb| kb > 0), "the child's peak RSS");
    report.axum = Ok(LoadResult {
        server_peak_rss_kb: peak,
        ..r
    });

    // Payments: inquiry + pay pairs, closed and open loop.
    let payers = vec![
        app.member("62811000011", 0, 0).await,
        app.member("62811000012", 0, 0).await,
    ];
    let r = scenarios::payments("payments", &base, &payers, &closed(), HINTS)
        .await
        .unwrap();
    assert_clean(&r);
    assert_eq!(r.phases.len(), 2);
    assert!(r.phases.iter().all(|(_, s)| s.count == r.ok));
    report.pay = Ok(r);
    let open = LoadSpec::open(50.0, Duration::from_millis(200), Duration::from_secs(1));
    let r = scenarios::payments("payments, half", &base, &payers, &open, HINTS)
        .await
        .unwrap();
    assert_clean(&r);
    report.pay_half = Ok(r);

    // isikuota.
    let r = scenarios::isikuota_inquiries("isikuota", &base, &members, &closed(), HINTS)
        .await
        .unwrap();
    assert_clean(&r);
    report.isikuota = Ok(r);

    // A wrong key is an error of the run, not a silent success.
    let mut wrong = members[0].clone();
    wrong.dev_api_key = "not-the-key".into();
    let e = scenarios::iak_inquiries("wrong key", &base, &[wrong], &closed(), HINTS)
        .await
        .unwrap_err();
    assert!(e.contains("RC 100"), "{e}");

    // Payments in flight to a slow upstream (few, briefly), on a live loket routing PGAS to it.
    let counters = Arc::new(fake_upstream::Counters::default());
    let listener = axum_baseline::listen("127.0.0.1:0", 1024).unwrap();
    let upstream_url = format!("http://{}", listener.local_addr().unwrap());
    let (up_tx, up_rx) = oneshot::channel::<()>();
    tokio::spawn(fake_upstream::serve(
        listener,
        counters.clone(),
        Duration::from_millis(300),
        async move {
            let _ = up_rx.await;
        },
    ));
    let live_app = spawn_loket().await;
    live_app
        .store
        .put_upstream(loket_store::UpstreamRecord {
            name: "slow".into(),
            kind: "iak".into(),
            base_url: upstream_url.clone(),
            username: "benchup".into(),
            api_key: "benchkey".into(),
            api_key_env: None,
            secret_key: String::new(),
            secret_key_env: None,
            testing: false,
            timeout_ms: 30_000,
            max_concurrency: 20_000,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            enabled: true,
            // As the harness configures it: all payments over one h2c connection.
            http: "http2".into(),
        })
        .await
        .unwrap();
    live_app
        .store
        .put_route(loket_store::Route {
            product_code: "PGAS".into(),
            position: 1,
            upstream: "slow".into(),
            upstream_code: "PGAS".into(),
            cost_limit: None,
        })
        .await
        .unwrap();
    let live = live_app.member("62812000001", 100 * 400_000, 0).await;
    let other = live_app.member("62812000002", 0, 0).await;
    // Members over HTTP/1.1 (a connection per payment), then over h2c (streams of 4 connections).
    for member_h2c in [None, Some(4)] {
        let opts = SlowOptions {
            payments: 40,
            inquiry_rate: 50.0,
            setup_concurrency: 4,
            member_h2c,
            ..SlowOptions::default()
        };
        let stats = format!("{upstream_url}/stats");
        // The server is in this process: its RSS is this process's.
        let me = Some(std::process::id());
        let s = slow::run_slow(&live_app.base_url, &live, &other, Some(&stats), &opts, me)
            .await
            .unwrap();
        assert_eq!(s.paid, 40, "{member_h2c:?}: {:?}", s.pay_errors);
        assert!(s.pay_errors.is_empty());
        assert_eq!(s.pay_latency.count, 40);
        assert!(
            s.pay_latency.p50_us >= 300_000,
            "the upstream's delay is in it"
        );
        assert!(s.upstream_max_in_flight.is_some_and(|n| n > 1 && n <= 40));
        assert_clean(&s.setup);
        assert_clean(&s.inquiries);
        let expected = match member_h2c {
            None => "40 HTTP/1.1 connections (one per payment)",
            Some(_) => "4 h2c connections (10 payments each as streams)",
        };
        assert_eq!(s.member_connections, expected);
        report.slow.push((harness::slow_label(&opts), Ok(s)));
    }
    let _ = up_tx.send(());
    report.pg = Err("not run: LOKET_BENCH_PG_URL is unset".into());

    let md = report.to_markdown();
    for section in SECTIONS {
        assert!(md.contains(section), "{section} missing from\n{md}");
    }
    let goals = report.goals();
    // Three slow-upstream goals per way of connecting.
    assert_eq!(goals.len(), 12);
    assert!(goals
        .iter()
        .all(|g| g.verdict != Verdict::NotRun || g.goal.starts_with("PostgreSQL")));
    for g in &goals {
        assert!(md.contains(&g.goal), "goal {} missing", g.goal);
    }
    assert!(
        md.contains("None: every answer had the expected RC."),
        "{md}"
    );
    assert!(!md.contains("ran out"), "{md}");
}

/// The child-process path: `loket-bench axum-server` prints its address and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_child_answers_a_fixed_body() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_loket-bench"));
    let dir = tempfile::tempdir().unwrap();
    let child: ChildServer = harness::serve_axum_child(exe, 600, &dir.path().join("a.log"))
        .await
        .unwrap();
    let http = loket_bench::http::HttpClient::new(1);
    let uri = loket_bench::http::endpoint(&child.base_url, "/api/v1/bill/check").unwrap();
    let a = http
        .post(&uri, "application/json", "{}".into())
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.body.len(), 600);
    assert!(child.rss_kb().is_some());
    child.stop().await;
}
