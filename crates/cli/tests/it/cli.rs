//! The `loket` binary, as a process: the interface contract of spec/README.md.

use crate::helpers::{
    db, each_backend, loket, run, run_fails, run_json, spawn_server, spawn_server_with, text,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[each_backend]
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

#[each_backend]
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

#[each_backend]
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

#[each_backend]
fn serve_demo_answers_and_stops_on_sigterm() {
    let db = db();
    let mut server = spawn_server(&db, &["--demo"]);
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
    let again = spawn_server(&db, &["--demo"]);
    assert_eq!(banner_value(&again.banner, "dev_api_key"), dev_key);
    assert_eq!(banner_value(&again.banner, "username"), username);
}

/// Each request leaves one line on stderr (written by the request log's own thread, in tracing's
/// layouts), all of them out before the server exits, and never a key or a signature.
#[each_backend]
fn serve_logs_each_request_in_both_layouts_without_secrets() {
    let db = db();
    for layout in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut server = spawn_server_with(
            &db,
            &["--demo"],
            &[("LOKET_LOG_FORMAT", layout), ("LOKET_LOG", "info")],
            Stdio::from(file),
        );
        let username = banner_value(&server.banner, "username");
        let dev_key = banner_value(&server.banner, "dev_api_key");
        for _ in 0..20 {
            let out = call_inquiry(&server.addr, &username, &dev_key, &[]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let status = Command::new("kill")
            .args(["-TERM", &server.child.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = server.child.wait_for_exit(Duration::from_secs(10));
        assert!(exit.is_some_and(|e| e.success()), "{exit:?}");

        let logged = std::fs::read_to_string(&log).unwrap();
        let requests: Vec<&str> = logged
            .lines()
            .filter(|l| l.contains("loket::request"))
            .collect();
        assert_eq!(requests.len(), 20, "{layout}: {logged}");
        for line in &requests {
            match layout {
                "json" => {
                    let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"));
                    assert_eq!(v["level"], "INFO", "{line}");
                    assert_eq!(v["target"], "loket::request", "{line}");
                    let f = &v["fields"];
                    assert_eq!(f["message"], "request", "{line}");
                    assert_eq!(f["method"], "POST", "{line}");
                    assert_eq!(f["path"], "/api/v1/bill/check", "{line}");
                    assert_eq!(f["protocol"], "iak", "{line}");
                    assert_eq!(f["member"], username.as_str(), "{line}");
                    assert_eq!(f["rc"], "00", "{line}");
                    assert_eq!(f["status"], 200, "{line}");
                    assert!(f["latency_us"].is_u64(), "{line}");
                }
                _ => {
                    assert!(
                        line.contains("  INFO loket::request: request method=POST "),
                        "{line}"
                    );
                    assert!(
                        line.contains(&format!(
                            " path=/api/v1/bill/check protocol=\"iak\" member=\"{username}\" rc=00 status=200 latency_us="
                        )),
                        "{line}"
                    );
                }
            }
        }
        // The request lines come before the server's last line.
        assert!(
            logged.trim_end().ends_with(if layout == "json" {
                r#""fields":{"message":"stopped"},"target":"loket"}"#
            } else {
                "INFO loket: stopped"
            }),
            "{logged}"
        );
        assert!(!logged.contains(&dev_key), "a key in the log: {logged}");
        assert!(!logged.contains("sign"), "a signature in the log: {logged}");
    }
}

#[each_backend]
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

    let plain = spawn_server(&db, &[]);
    let out = call_inquiry(&plain.addr, username, api_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "106", "live mode: {v}");
    // The printed dev_api_key signs sandbox requests.
    let dev_key = creds["dev_api_key"].as_str().unwrap();
    let out = call_inquiry(&plain.addr, username, dev_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "00", "sandbox mode: {v}");
    drop(plain);

    let sandbox = spawn_server(&db, &["--sandbox"]);
    let out = call_inquiry(&sandbox.addr, username, api_key, &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["response_code"], "00", "sandbox server: {v}");
    assert_eq!(v["data"]["tr_name"], "NGATIMUN", "{v}");
}

/// sandbox.md names the sandbox biller's settings `sandbox.timeout_delay_ms` and
/// `sandbox.pending_resolve_secs`; a config file written from it must start the server.
#[each_backend]
fn config_file_sandbox_settings_as_sandbox_md_names_them() {
    let db = db();
    let config = db.write_config("[sandbox]\ntimeout_delay_ms = 700\npending_resolve_secs = 5\n");
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        "081211110005",
        "--database",
        &db.url,
    ]);
    let server = spawn_server(&db, &["--config", &config]);
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
#[each_backend]
fn config_file_settings_apply() {
    let db = db();
    let config = db.write_config("[sandbox]\nenabled = true\ntimeout_delay_ms = 0\n");
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        "081211110006",
        "--database",
        &db.url,
    ]);
    let server = spawn_server(&db, &["--config", &config]);
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
#[each_backend]
fn a_bad_config_file_is_a_one_line_error() {
    let db = db();
    let config = db.write_config("typo = 1\n");
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

/// `loket migrate` and `loket ledger verify` on the test's backend: migrating twice finds nothing
/// left to do, a sound ledger verifies (exit 0), and a cached balance changed behind loket's back
/// is found (exit non-zero, one line on stderr).
#[each_backend]
fn migrate_and_ledger_verify_work_on_the_backend() {
    let db = db();
    let backend = loket_store::testing::backend().name();
    for _ in 0..2 {
        let v = run_json(&["migrate", "--database", &db.url]);
        assert_eq!(v["backend"], backend, "{v}");
        assert_eq!(v["migrated"], true, "{v}");
    }
    let u = "081211110007";
    run_json(&["member", "add", "--username", u, "--database", &db.url]);
    run_json(&[
        "member",
        "deposit",
        "--username",
        u,
        "--amount",
        "50000",
        "--database",
        &db.url,
    ]);
    let v = run_json(&["ledger", "verify", "--database", &db.url]);
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");
    assert_eq!(v["sum_of_balances"], 0, "{v}");
    // The five house accounts and the member's two; its sandbox opening and the deposit.
    assert_eq!(
        (v["accounts"].as_i64(), v["transfers"].as_i64()),
        (Some(7), Some(2)),
        "{v}"
    );

    loket_store::testing::execute_sql(
        &db.url,
        "UPDATE accounts SET credits_posted = credits_posted + 1 WHERE code = 'revenue'",
    )
    .expect("the damage is done");
    let out = run(&["ledger", "verify", "--database", &db.url]);
    assert!(!out.status.success(), "a damaged ledger fails verify");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the report on stdout: {}", text(&out.stdout)));
    let problems = v["problems"].to_string();
    assert!(problems.contains("revenue"), "{v}");
    assert!(problems.contains("sum to 1"), "{v}");
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("problem"), "{err}");
}
