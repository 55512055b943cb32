//! spec/ledger.md "Exactly once" and invariant 6, with the real binary: `kill -9` the server
//! while payments are pending and in flight, start it again on the same database, and every
//! payment is settled by the resolver, the ledger verifies, and the member was charged exactly
//! the successful payments' `selling_price`.

use crate::helpers::*;
use loket_client::iak::IakClient;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The outcome a sandbox PGAS number settles to: (checkstatus `status`, RC).
fn final_outcome(hp: &str) -> (i64, &'static str) {
    match hp {
        "0110010000" | "0110011039" | "0110012000" => (1, "00"),
        "0110011037" | "0110012037" => (2, "37"),
        "0110011105" => (2, "105"),
        other => panic!("no outcome listed for {other}"),
    }
}

#[derive(Debug, Clone)]
struct Q {
    hp: &'static str,
    ref_id: String,
    tr_id: i64,
}

/// Quotes for `hps`, made concurrently.
async fn quotes(client: &IakClient, hps: Vec<&'static str>) -> Vec<Q> {
    let mut set = JoinSet::new();
    for hp in hps {
        let client = client.clone();
        set.spawn(async move {
            let p = params("PGAS", hp);
            let tr_id = quote_tr_id(&client, &p).await;
            Q {
                hp,
                ref_id: p.ref_id,
                tr_id,
            }
        });
    }
    let mut out = Vec::new();
    while let Some(q) = set.join_next().await {
        out.push(q.expect("the inquiry task"));
    }
    out
}

fn member_show(db: &Db, username: &str) -> Value {
    run_json(&[
        "member",
        "show",
        "--username",
        username,
        "--database",
        &db.url,
    ])
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_settles_every_pending_payment_after_restart() {
    let db = db();
    let config =
        db.write_config("[sandbox]\npending_resolve_secs = 2\n\n[quotes]\nlifetime = 3600\n");
    let username = "081200000901";
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        username,
        "--database",
        &db.url,
    ]);
    let dev_key = creds["dev_api_key"].as_str().unwrap().to_string();
    let mut server = spawn_server(&db, &["--config", &config]);
    let client =
        IakClient::new(server.url(), username, &dev_key).with_timeout(Duration::from_secs(10));

    // 20 payments that answer pending (39) and resolve later, and 30 quotes to pay in flight.
    let pending_hps = ["0110011039", "0110012000", "0110012037"];
    let flight_hps = [
        "0110010000",
        "0110011037",
        "0110011039",
        "0110012000",
        "0110012037",
        "0110011105",
    ];
    let pending = quotes(&client, (0..20).map(|i| pending_hps[i % 3]).collect()).await;
    let flight = quotes(&client, (0..30).map(|i| flight_hps[i % 6]).collect()).await;

    let started = Instant::now();
    let mut set = JoinSet::new();
    for q in &pending {
        let (client, tr_id) = (client.clone(), q.tr_id);
        set.spawn(async move { pay(&client, tr_id).await });
    }
    while let Some(r) = set.join_next().await {
        let r = r.expect("the payment task");
        assert_eq!(r.rc().as_deref(), Some("39"), "pending: {}", r.body);
    }
    // In flight: fired, not awaited; the server dies under them.
    let mut in_flight = JoinSet::new();
    for q in &flight {
        let (client, tr_id) = (client.clone(), q.tr_id);
        in_flight.spawn(async move { (tr_id, client.pay(tr_id).await) });
    }
    // Kill as soon as the first of them is answered: the others are then somewhere between
    // the request, the hold and the outcome.
    let first = tokio::time::timeout(Duration::from_secs(10), in_flight.join_next())
        .await
        .expect("an in-flight payment is answered")
        .expect("a task")
        .expect("the payment task");
    let signal = server.child.sigkill();
    let killed_after = started.elapsed();
    assert_eq!(signal, Some(9), "the server died of SIGKILL");
    // What the in-flight requests were told before the server died.
    let mut told: BTreeMap<i64, String> = BTreeMap::new();
    let mut cut_off = 0;
    let mut results = vec![first];
    while let Some(r) = in_flight.join_next().await {
        results.push(r.expect("the payment task"));
    }
    for r in results {
        match r {
            (tr_id, Ok(resp)) if resp.http_status == 200 => {
                told.insert(tr_id, resp.rc().unwrap_or_default());
            }
            _ => cut_off += 1,
        }
    }
    assert!(!told.is_empty(), "the first in-flight payment was answered");

    // The crashed database verifies as it is (a hold is a legitimate state), and the pending
    // payments' charges are held.
    let report = ledger_verify(&db.url).await;
    let shown = member_show(&db, username);
    eprintln!(
        "crash: killed {killed_after:?} after the pending payments began; {} in-flight answered, {cut_off} cut off; {} holds pending at the crash",
        told.len(),
        report["pending_holds"]
    );
    if killed_after < Duration::from_millis(900) {
        // resolve_at is at least a second away: none of the 20 could have settled yet.
        let held = shown["sandbox_held"].as_i64().unwrap();
        assert!(
            held >= 20 * PGAS_SELLING_PRICE,
            "held at the crash: {shown}"
        );
        assert!(report["pending_holds"].as_i64().unwrap() >= 20, "{report}");
    }

    // Restart on the same database; the resolver settles everything.
    let restarted = Instant::now();
    let server = spawn_server(&db, &["--config", &config]);
    let client =
        IakClient::new(server.url(), username, &dev_key).with_timeout(Duration::from_secs(10));
    let all: Vec<&Q> = pending.iter().chain(flight.iter()).collect();
    let statuses = loop {
        let mut statuses = BTreeMap::new();
        for q in &all {
            let r = check_status(&client, &q.ref_id).await;
            assert_eq!(r.http_status, 200, "{}", r.body);
            statuses.insert(
                q.tr_id,
                (int_field(&r, "status"), r.rc().unwrap_or_default()),
            );
        }
        let open = statuses.values().filter(|(s, _)| *s == 3).count();
        if open == 0 {
            break statuses;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "{open} payments still pending 15 s after the restart: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "crash: all settled {:?} after the restart; {} of the in-flight payments reached the server",
        restarted.elapsed(),
        flight.iter().filter(|q| statuses[&q.tr_id].0 != 0).count()
    );

    let mut successes = 0;
    for q in &pending {
        let (status, rc) = &statuses[&q.tr_id];
        assert_eq!(
            (*status, rc.as_str()),
            final_outcome(q.hp),
            "pending payment {} of {}",
            q.ref_id,
            q.hp
        );
    }
    for q in &flight {
        let (status, rc) = &statuses[&q.tr_id];
        if *status != 0 {
            // It reached the server: settled as its scenario says.
            assert_eq!(
                (*status, rc.as_str()),
                final_outcome(q.hp),
                "{} of {}",
                q.ref_id,
                q.hp
            );
        } else {
            assert_eq!(rc, "42", "{}", q.ref_id);
        }
        // An answer given before the crash is never contradicted; RC 00 is never lost.
        match told.get(&q.tr_id).map(String::as_str) {
            Some("39") | None => {}
            Some(rc_told) => assert_eq!(
                (*status, rc.as_str()),
                (final_outcome(q.hp).0, rc_told),
                "answered {rc_told} before the crash: {}",
                q.ref_id
            ),
        }
    }
    for (status, _) in statuses.values() {
        if *status == 1 {
            successes += 1;
        }
    }
    assert!(
        successes >= 14,
        "at least the 14 pending successes: {successes}"
    );

    // Charged exactly the successes, nothing held, and the ledger verifies.
    let shown = member_show(&db, username);
    assert_eq!(
        shown["sandbox_balance"],
        json!(SANDBOX_START - successes * PGAS_SELLING_PRICE),
        "{shown}"
    );
    assert_eq!(shown["sandbox_held"], json!(0), "{shown}");
    assert_eq!(shown["balance"], json!(0), "live untouched: {shown}");
    let report = ledger_verify(&db.url).await;
    assert_eq!(report["pending_holds"], json!(0), "{report}");
    drop(server);
}
