//! The `loket` binary, as a process: the interface contract of spec/README.md.

use crate::helpers::test_database_url;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// `loket` with none of its environment variables inherited.
fn loket() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loket"));
    for var in [
        "LOKET_DATABASE_URL",
        "LOKET_CONFIG",
        "LOKET_LISTEN",
        "LOKET_URL",
        "LOKET_USERNAME",
        "LOKET_KEY",
        "LOKET_LOG_FORMAT",
    ] {
        c.env_remove(var);
    }
    c.env("LOKET_LOG", "warn");
    c
}

/// A fresh database for one test.
pub(crate) struct Db {
    pub(crate) url: String,
    _dir: TempDir,
}

pub(crate) fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    Db {
        url: test_database_url(dir.path()),
        _dir: dir,
    }
}

fn run(args: &[&str]) -> Output {
    loket()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("loket runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs, expects success and one JSON value on stdout.
pub(crate) fn run_json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "loket {args:?} failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not JSON ({e}): {}",
            text(&out.stdout)
        )
    })
}

/// Runs, expects failure with exactly one line on stderr; returns it.
fn run_fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "loket {args:?} should fail");
    let err = text(&out.stderr);
    let err = err.trim_end();
    assert!(!err.is_empty(), "an error message on stderr");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    err.to_string()
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn member_add_prints_the_credentials() {
    let db = db();
    let v = run_json(&[
        "member",
        "add",
        "--username",
        "081211110001",
        "--name",
        "Toko X",
        "--database",
        &db.url,
    ]);
    assert_eq!(
        sorted_keys(&v),
        ["api_id", "api_key", "dev_api_key", "secret_key", "username"]
    );
    assert_eq!(v["username"], "081211110001");
    let creds: Vec<&str> = ["api_id", "api_key", "dev_api_key", "secret_key"]
        .iter()
        .map(|k| v[*k].as_str().unwrap())
        .collect();
    for c in &creds {
        assert!(c.len() >= 16, "a long credential: {c}");
    }
    let mut unique = creds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "four different credentials");
    // `member show` agrees, and stdout is exactly one JSON object.
    let shown = run_json(&[
        "member",
        "show",
        "--username",
        "081211110001",
        "--database",
        &db.url,
    ]);
    assert_eq!(shown["name"], "Toko X");
    for k in ["username", "api_id", "api_key", "dev_api_key", "secret_key"] {
        assert_eq!(shown[k], v[k], "{k}");
    }
}

#[test]
fn member_add_twice_fails_with_one_line() {
    let db = db();
    let args = [
        "member",
        "add",
        "--username",
        "081211110002",
        "--database",
        &db.url,
    ];
    run_json(&args);
    let out = run(&args);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        text(&out.stdout)
    );
    let err = run_fails(&args);
    assert!(err.contains("081211110002"), "{err}");
    // Other refusals are one line too.
    run_fails(&[
        "member",
        "add",
        "--username",
        "not-a-phone",
        "--database",
        &db.url,
    ]);
    run_fails(&[
        "member",
        "show",
        "--username",
        "089999999999",
        "--database",
        &db.url,
    ]);
    run_fails(&[
        "member",
        "deposit",
        "--username",
        "089999999999",
        "--amount",
        "1000",
        "--database",
        &db.url,
    ]);
    run_fails(&[
        "member",
        "deposit",
        "--username",
        "081211110002",
        "--amount=0",
        "--database",
        &db.url,
    ]);
    run_fails(&[
        "member",
        "deposit",
        "--username",
        "081211110002",
        "--amount=-5",
        "--database",
        &db.url,
    ]);
}

#[test]
fn member_deposit_and_show_balances() {
    let db = db();
    let u = "081211110003";
    run_json(&["member", "add", "--username", u, "--database", &db.url]);
    let v = run_json(&[
        "member",
        "deposit",
        "--username",
        u,
        "--amount",
        "50000",
        "--database",
        &db.url,
    ]);
    assert_eq!(sorted_keys(&v), ["balance", "username"]);
    assert_eq!(v["username"], u);
    assert_eq!(v["balance"], serde_json::json!(50_000));
    let v = run_json(&[
        "member",
        "deposit",
        "--username",
        u,
        "--amount",
        "25000",
        "--database",
        &db.url,
    ]);
    assert_eq!(v["balance"], serde_json::json!(75_000));
    let v = run_json(&[
        "member",
        "deposit",
        "--username",
        u,
        "--amount",
        "50000",
        "--sandbox",
        "--database",
        &db.url,
    ]);
    assert_eq!(v["balance"], serde_json::json!(1_000_050_000i64));
    let shown = run_json(&["member", "show", "--username", u, "--database", &db.url]);
    assert_eq!(shown["username"], u);
    assert_eq!(shown["balance"], serde_json::json!(75_000));
    assert_eq!(
        shown["sandbox_balance"],
        serde_json::json!(1_000_050_000i64)
    );
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub(crate) struct ChildGuard(Child);

impl ChildGuard {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, and reap: the process gets no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        self.0.kill().expect("the process is killed");
        let status = self.0.wait().expect("the process is reaped");
        assert!(!status.success(), "killed, not exited: {status:?}");
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A running `loket serve`: its address and the lines it printed before listening.
pub(crate) struct Server {
    pub(crate) child: ChildGuard,
    pub(crate) addr: String,
    banner: Vec<String>,
}

pub(crate) fn serve(db: &Db, extra: &[&str]) -> Server {
    let mut cmd = loket();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &db.url])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("loket serve starts");
    let stdout = child.stdout.take().unwrap();
    let child = ChildGuard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no listening line ({e}); printed: {banner:#?}"));
        if let Some(rest) = line.strip_prefix("loket listening on http://") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            assert!(
                addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
                "a real port: {line}"
            );
            return Server {
                child,
                addr,
                banner,
            };
        }
        banner.push(line);
    }
}

/// `GET path` over a plain socket: the status code and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {resp}"));
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

/// The value printed after `label` in the demo banner.
fn banner_value(banner: &[String], label: &str) -> String {
    banner
        .iter()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(label)).then(|| words.next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("{label} in the banner: {banner:#?}"))
}

fn call_inquiry(addr: &str, username: &str, key: &str, extra: &[&str]) -> Output {
    let url = format!("http://{addr}");
    loket()
        .args([
            "call",
            "iak",
            "inquiry",
            "--url",
            &url,
            "--username",
            username,
            "--key",
            key,
            "--code",
            "PGAS",
            "--hp",
            "0110010000",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("loket call runs")
}

#[test]
fn serve_demo_answers_and_stops_on_sigterm() {
    let db = db();
    let mut server = serve(&db, &["--demo"]);
    let (status, body) = http_get(&server.addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(health["status"], "ok");

    let username = banner_value(&server.banner, "username");
    let dev_key = banner_value(&server.banner, "dev_api_key");
    let out = call_inquiry(&server.addr, &username, &dev_key, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("JSON on stdout: {}", text(&out.stdout)));
    assert_eq!(v["data"]["response_code"], "00", "{v}");
    assert_eq!(v["data"]["tr_name"], "NGATIMUN", "{v}");
    assert_eq!(v["data"]["hp"], "0110010000", "{v}");
    // And in XML.
    let out = call_inquiry(&server.addr, &username, &dev_key, &["--xml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let xml = text(&out.stdout);
    assert!(xml.contains("<tr_name>NGATIMUN</tr_name>"), "{xml}");
    assert!(xml.contains("<response_code>00</response_code>"), "{xml}");

    let status = Command::new("kill")
        .args(["-TERM", &server.child.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = server
        .child
        .wait_for_exit(Duration::from_secs(10))
        .expect("the server exits within 10 s of SIGTERM");
    assert!(exit.success(), "exit status 0 after SIGTERM: {exit:?}");

    // The demo member persists: a second start reuses it.
    let again = serve(&db, &["--demo"]);
    assert_eq!(banner_value(&again.banner, "dev_api_key"), dev_key);
    assert_eq!(banner_value(&again.banner, "username"), username);
}

#[test]
fn serve_sandbox_flag_answers_live_keys_from_the_sandbox() {
    let db = db();
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        "081211110004",
        "--database",
        &db.url,
    ]);
    let api_key = creds["api_key"].as_str().unwrap();
    let username = creds["username"].as_str().unwrap();

    let plain = serve(&db, &[]);
    let out = call_inquiry(&plain.addr, username, api_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "106", "live mode: {v}");
    // The printed dev_api_key signs sandbox requests.
    let dev_key = creds["dev_api_key"].as_str().unwrap();
    let out = call_inquiry(&plain.addr, username, dev_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "00", "sandbox mode: {v}");
    drop(plain);

    let sandbox = serve(&db, &["--sandbox"]);
    let out = call_inquiry(&sandbox.addr, username, api_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "00", "sandbox server: {v}");
    assert_eq!(v["data"]["tr_name"], "NGATIMUN", "{v}");
}

pub(crate) fn write_config(db: &Db, text: &str) -> String {
    let path = db._dir.path().join("loket.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// sandbox.md names the sandbox biller's settings `sandbox.timeout_delay_ms` and
/// `sandbox.pending_resolve_secs`; a config file written from it must start the server.
#[test]
fn config_file_sandbox_settings_as_sandbox_md_names_them() {
    let db = db();
    let config = write_config(
        &db,
        "[sandbox]\ntimeout_delay_ms = 700\npending_resolve_secs = 5\n",
    );
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        "081211110005",
        "--database",
        &db.url,
    ]);
    let server = serve(&db, &["--config", &config]);
    let started = Instant::now();
    let url = format!("http://{}", server.addr);
    let out = loket()
        .args([
            "call",
            "iak",
            "inquiry",
            "--url",
            &url,
            "--username",
            creds["username"].as_str().unwrap(),
            "--key",
            creds["dev_api_key"].as_str().unwrap(),
            "--code",
            "PGAS",
            "--hp",
            "0110010103",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "103", "{v}");
    assert!(started.elapsed() >= Duration::from_millis(700));
}

/// The configuration file is read by `loket serve` and its settings apply.
#[test]
fn config_file_settings_apply() {
    let db = db();
    let config = write_config(&db, "[sandbox]\nenabled = true\ntimeout_delay_ms = 0\n");
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        "081211110006",
        "--database",
        &db.url,
    ]);
    let server = serve(&db, &["--config", &config]);
    assert!(
        !server.banner.iter().any(|l| l.contains("dev_api_key")),
        "no demo without --demo"
    );
    let out = call_inquiry(
        &server.addr,
        creds["username"].as_str().unwrap(),
        creds["api_key"].as_str().unwrap(),
        &[],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["data"]["response_code"], "00",
        "sandbox = true in the file: {v}"
    );
}

/// spec/README.md: "a clear one-line error on stderr". A bad configuration file is an error like
/// any other.
#[test]
fn a_bad_config_file_is_a_one_line_error() {
    let db = db();
    let config = write_config(&db, "typo = 1\n");
    let err = run_fails(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &db.url,
        "--config",
        &config,
    ]);
    assert!(err.contains("typo"), "{err}");
}
