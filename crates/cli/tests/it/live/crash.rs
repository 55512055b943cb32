//! spec/ledger.md "After a crash" across a chain: loket A, a real process in live mode routing
//! PGAS to loket B (a sandbox) through the `iak` connector, is killed with SIGKILL while payments
//! are pending at B and others are in flight to B. After A restarts on the same database, every
//! payment is settled against B's truth, the member was charged exactly what B paid, and `loket
//! ledger verify` passes.

use super::*;
use loket_client::iak::IakClient;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use tokio::task::JoinSet;

/// What B finally does with a PGAS number: `Some(rc)` failed with rc, `None` paid.
fn b_outcome(hp: &str) -> Option<&'static str> {
    match hp {
        "0110010000" | "0110011039" | "0110012000" => None,
        "0110011037" | "0110012037" => Some("37"),
        "0110011105" => Some("105"),
        other => panic!("no outcome listed for {other}"),
    }
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_with_payments_in_flight_to_b_settles_each_against_b_after_restart() {
    let mut b_conf = b_config();
    b_conf.sandbox.pending_resolve_secs = 2;
    let b = spawn_app_with(b_conf).await;
    let bm = b.create_member("081255500009").await;

    let db = db();
    let username = "081299900001";
    let creds = run_json(&[
        "member",
        "add",
        "--username",
        username,
        "--database",
        &db.url,
    ]);
    let api_key = creds["api_key"].as_str().unwrap().to_string();
    const DEPOSIT: i64 = 100_000_000;
    run_json(&[
        "member",
        "deposit",
        "--username",
        username,
        "--amount",
        "100.000.000",
        "--database",
        &db.url,
    ]);
    // Status checks 3 s after a payment: none of them is claimed by A's resolver before the kill.
    let config = db.write_config(&format!(
        r#"
[quotes]
lifetime = 3600

[resolver]
backoff_secs = [3, 1]
not_received_grace_secs = 2

[[upstream]]
name = "b"
kind = "iak"
base_url = "{}"
username = "{}"
api_key = "{}"
timeout_ms = 5000

[[route]]
product = "PGAS"
upstream = "b"
"#,
        b.base_url, bm.username, bm.api_key
    ));
    let mut server = spawn_server(&db, &["--config", &config]);
    let client =
        IakClient::new(server.url(), username, &api_key).with_timeout(Duration::from_secs(10));

    // Quotes through A from B: 9 to pay first (pending at B), 18 to pay in flight.
    let pending_hps = ["0110011039", "0110012000", "0110012037"];
    let flight_hps = [
        "0110010000",
        "0110011037",
        "0110011039",
        "0110012000",
        "0110012037",
        "0110011105",
    ];
    let mut quotes: Vec<(&'static str, String, i64, bool)> = Vec::new();
    for (i, hp) in (0..9)
        .map(|i| (i, pending_hps[i % 3]))
        .chain((0..18).map(|i| (100 + i, flight_hps[i % 6])))
    {
        let p = params("PGAS", hp);
        let tr_id = quote_tr_id(&client, &p).await;
        quotes.push((hp, p.ref_id, tr_id, i >= 100));
    }

    let started = Instant::now();
    let mut set = JoinSet::new();
    for (_, _, tr_id, in_flight) in &quotes {
        if !in_flight {
            let (client, tr_id) = (client.clone(), *tr_id);
            set.spawn(async move { pay(&client, tr_id).await });
        }
    }
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.rc().as_deref(), Some("39"), "pending at B: {}", r.body);
    }
    let mut in_flight = JoinSet::new();
    for (_, _, tr_id, flying) in &quotes {
        if *flying {
            let (client, tr_id) = (client.clone(), *tr_id);
            in_flight.spawn(async move { (tr_id, client.pay(tr_id).await) });
        }
    }
    // Kill A as soon as the first of them is answered.
    let first = tokio::time::timeout(Duration::from_secs(10), in_flight.join_next())
        .await
        .expect("an in-flight payment is answered")
        .unwrap()
        .unwrap();
    assert_eq!(server.child.sigkill(), Some(9), "A died of SIGKILL");
    let killed_after = started.elapsed();
    let mut told: BTreeMap<i64, String> = BTreeMap::new();
    let mut results = vec![first];
    while let Some(r) = in_flight.join_next().await {
        results.push(r.unwrap());
    }
    for (tr_id, r) in results {
        if let Ok(r) = r {
            if r.http_status == 200 {
                told.insert(tr_id, r.rc().unwrap_or_default());
            }
        }
    }
    // The crashed database verifies as it is: a hold is a legitimate state.
    let at_crash = ledger_verify(&db.url).await;
    eprintln!(
        "live crash: killed {killed_after:?} after the first payments; {} of 18 in-flight answered; {} holds pending",
        told.len(),
        at_crash["pending_holds"]
    );

    // Restart on the same database; A's resolver asks B about every pending payment.
    let restarted = Instant::now();
    let server = spawn_server(&db, &["--config", &config]);
    let client =
        IakClient::new(server.url(), username, &api_key).with_timeout(Duration::from_secs(10));
    let statuses = loop {
        let mut statuses = BTreeMap::new();
        for (_, ref_id, tr_id, _) in &quotes {
            let r = check_status(&client, ref_id).await;
            assert_eq!(r.http_status, 200, "{}", r.body);
            statuses.insert(
                *tr_id,
                (int_field(&r, "status"), r.rc().unwrap_or_default()),
            );
        }
        let open = statuses.values().filter(|(s, _)| *s == 3).count();
        if open == 0 {
            break statuses;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(25),
            "{open} payments still pending 25 s after the restart (killed {killed_after:?} after the first payments; a payment claimed by the resolver before the kill waits out its 60 s lease): {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "live crash: all settled {:?} after the restart",
        restarted.elapsed()
    );
    drop(server);

    // Each payment against B's truth.
    let a_store = loket_store::Store::open(&db.url).await.unwrap();
    let member = a_store.member_by_username(username).await.unwrap().unwrap();
    let mut charged = 0;
    let mut reached_b = 0;
    let mut never_sent = 0;
    for (hp, ref_id, tr_id, flying) in &quotes {
        let what = format!("{hp} {ref_id} (in flight: {flying})");
        let quote = a_store.quote(*tr_id).await.unwrap().unwrap();
        let towards_b = quote.upstream_ref_id.clone().unwrap();
        let bq = b
            .quote(&bm, Mode::Sandbox, &towards_b)
            .await
            .unwrap_or_else(|| panic!("{what}: B has the quote"));
        let at_b = b.payment(bq.tr_id).await;
        let at_a = a_store.payment_by_tr_id(*tr_id).await.unwrap();
        let (status, rc) = &statuses[tr_id];
        match (&at_a, &at_b) {
            (None, None) => {
                // The request died before A placed a hold: nothing anywhere.
                assert!(*flying, "{what}: answered 39, so A had a payment");
                assert_eq!((*status, rc.as_str()), (0, "42"), "{what}");
            }
            (Some(pa), None) => {
                // A held and died before B got the request: B never received it, so it failed
                // (42, after the grace) and the charge went back.
                assert_eq!(
                    (pa.state, pa.rc.code()),
                    (PaymentState::Failed, "42"),
                    "{what}"
                );
                assert_eq!((*status, rc.as_str()), (2, "42"), "{what}");
                never_sent += 1;
            }
            (Some(pa), Some(pb)) => {
                reached_b += 1;
                assert_eq!(pb.state, pa.state, "{what}: A agrees with B");
                match b_outcome(hp) {
                    None => {
                        assert_eq!(pb.state, PaymentState::Success, "{what}");
                        assert_eq!(pa.noref, pb.noref, "{what}");
                        assert_eq!(pa.noref, PGAS_NOREF, "{what}");
                        assert_eq!(*status, 1, "{what}");
                        charged += pa.amount.get();
                    }
                    Some(want) => {
                        assert_eq!(pb.state, PaymentState::Failed, "{what}");
                        assert_eq!((*status, rc.as_str()), (2, want), "{what}");
                        assert_eq!(pa.rc.code(), want, "{what}");
                    }
                }
            }
            (None, Some(_)) => panic!("{what}: B paid what A never held"),
        }
        if let Some(pa) = &at_a {
            assert_eq!(pa.amount, Rupiah::new(PGAS_SELLING_PRICE), "{what}");
            assert_ne!(pa.state, PaymentState::Pending, "{what}");
        }
        // An answer A gave before the crash is never contradicted; RC 00 is never lost.
        match told.get(tr_id).map(String::as_str) {
            Some("39") | None => {}
            Some(rc_told) => assert_eq!(rc.as_str(), rc_told, "{what}: answered before the crash"),
        }
    }
    eprintln!(
        "live crash: {reached_b} payments reached B, {never_sent} held by A but never sent, {} never held",
        quotes.len() - reached_b - never_sent
    );
    assert!(
        reached_b >= 9,
        "at least the 9 pending payments reached B: {reached_b}"
    );
    let live = a_store.balance(member.id, Mode::Live).await.unwrap();
    assert_eq!(
        (live.balance.get(), live.held.get()),
        (DEPOSIT - charged, 0),
        "charged exactly what B paid"
    );
    assert_eq!(account(&db.url, "upstream:b"), (charged, 0));
    let report = ledger_verify(&db.url).await;
    assert_eq!(report["pending_holds"], json!(0), "{report}");
    b.assert_ledger_clean().await;
}
