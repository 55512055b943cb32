//! spec/ledger.md under concurrent load over HTTP: the hold is placed only if the available
//! balance covers it, atomically with the check (no overdraft however requests interleave), and
//! a quote is charged at most once however many requests pay it at the same time.

use crate::helpers::*;
use loket_client::iak::{Format, IakClient, IakResponse};
use loket_core::{PaymentState, Rupiah};
use std::collections::{BTreeMap, BTreeSet};
use tokio::task::JoinSet;

/// `n` PGAS quotes of the documented successful number, each under its own ref_id (one customer
/// number may have many quotes); made concurrently. Answers their tr_ids.
async fn pgas_quotes(client: &IakClient, n: usize) -> Vec<i64> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let client = client.clone();
        set.spawn(async move { quote_tr_id(&client, &params("PGAS", "0110010000")).await });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(tr_id) = set.join_next().await {
        out.push(tr_id.expect("the inquiry task"));
    }
    let unique: BTreeSet<_> = out.iter().collect();
    assert_eq!(unique.len(), n, "distinct tr_ids");
    out
}

/// Pays every tr_id at once, each in its own task and HTTP request; answers (tr_id, answer).
async fn pay_all(clients: &[IakClient], tr_ids: &[i64]) -> Vec<(i64, IakResponse)> {
    let mut set = JoinSet::new();
    for (i, &tr_id) in tr_ids.iter().enumerate() {
        let client = clients[i % clients.len()].clone();
        set.spawn(async move { (tr_id, pay(&client, tr_id).await) });
    }
    let mut out = Vec::with_capacity(tr_ids.len());
    while let Some(r) = set.join_next().await {
        out.push(r.expect("the payment task"));
    }
    out
}

/// 200 concurrent payments of 200 different quotes by one member whose balance covers exactly 73
/// of them (plus a remainder smaller than one): 73 succeed, 127 get RC 17, nothing overdraws,
/// and both the store's and the binary's ledger verification pass.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_never_overdraw() {
    const QUOTES: usize = 200;
    const COVERED: i64 = 73;
    const REMAINDER: i64 = 1_234;
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000801").await;
    let json_client = app.sandbox_client(&m);
    let xml_client = app.sandbox_client(&m).with_format(Format::Xml);
    let sp = PGAS_SELLING_PRICE;
    let tr_ids = pgas_quotes(&json_client, QUOTES).await;
    let start = COVERED * sp + REMAINDER;
    app.store
        .withdraw(
            m.id,
            loket_core::Mode::Sandbox,
            Rupiah::new(SANDBOX_START - start),
        )
        .await
        .expect("the withdrawal");
    app.assert_sandbox_balance(&m, start, 0).await;

    let answers = pay_all(&[json_client.clone(), xml_client], &tr_ids).await;
    let mut by_rc: BTreeMap<String, usize> = BTreeMap::new();
    let mut balances = BTreeSet::new();
    let mut paid = BTreeSet::new();
    for (tr_id, r) in &answers {
        assert_eq!(r.http_status, 200, "{}", r.body);
        let rc = r.rc().unwrap_or_else(|| panic!("an RC: {}", r.body));
        *by_rc.entry(rc.clone()).or_default() += 1;
        assert_eq!(int_field(r, "tr_id"), *tr_id, "{}", r.body);
        match rc.as_str() {
            "00" => {
                assert_eq!(r.field("noref").as_deref(), Some(PGAS_NOREF));
                let b = int_field(r, "balance");
                assert!(b >= 0, "never below zero: {}", r.body);
                assert!(
                    balances.insert(b),
                    "each charge leaves its own balance: {b}"
                );
                paid.insert(*tr_id);
            }
            "17" => {
                assert_eq!(r.field("message").as_deref(), Some("BALANCE NOT ENOUGH"));
            }
            other => panic!("unexpected RC {other}: {}", r.body),
        }
    }
    assert_eq!(
        by_rc,
        BTreeMap::from([
            ("00".to_string(), COVERED as usize),
            ("17".to_string(), QUOTES - COVERED as usize)
        ]),
        "as many successes as the balance allows"
    );
    // The answers' balances are exactly the 73 steps down to the remainder: no charge twice,
    // none skipped, none below zero.
    let steps: BTreeSet<i64> = (0..COVERED).map(|k| REMAINDER + k * sp).collect();
    assert_eq!(balances, steps);
    app.assert_sandbox_balance(&m, REMAINDER, 0).await;
    for tr_id in &tr_ids {
        let p = app.payment(*tr_id).await;
        if paid.contains(tr_id) {
            assert_eq!(p.map(|p| p.state), Some(PaymentState::Success), "{tr_id}");
        } else {
            assert!(p.is_none(), "a refused payment leaves no row: {tr_id}");
        }
    }
    app.assert_ledger_clean().await;
    let report = ledger_verify(&app.database_url).await;
    assert_eq!(report["pending_holds"], 0, "{report}");
}

/// 50 concurrent pay-pasca of one tr_id: one charge (one hold, posted or voided once). Every
/// answer is that payment: its outcome, or, for a request that arrived while the first one was
/// still between its hold and its outcome, RC 39 (spec/iak.md: "the current state of the first
/// payment ... 39 while pending"). The request that placed the payment answers its outcome;
/// answers with the same RC agree on every field. The same for a failing and a stuck-pending
/// quote: nothing charged, held once.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_payments_of_one_quote_charge_once() {
    const REQUESTS: usize = 50;
    let app = spawn_app_with(payments_config()).await;
    let m = app.create_member("081200000802").await;
    let clients = [
        app.sandbox_client(&m),
        app.sandbox_client(&m).with_format(Format::Xml),
    ];
    let sp = PGAS_SELLING_PRICE;
    // (number, RC of the outcome, posted balance and held afterwards)
    let cases = [
        ("0110010000", "00", SANDBOX_START - sp, 0),
        ("0110011037", "37", SANDBOX_START - sp, 0),
        ("0110012039", "39", SANDBOX_START - sp, sp),
    ];
    for (hp, rc, balance, held) in cases {
        let p = params("PGAS", hp);
        let tr_id = quote_tr_id(&clients[0], &p).await;
        let answers = pay_all(&clients, &vec![tr_id; REQUESTS]).await;
        assert_eq!(answers.len(), REQUESTS);
        let mut by_rc: BTreeMap<String, Vec<&IakResponse>> = BTreeMap::new();
        for (_, r) in &answers {
            assert_eq!(r.http_status, 200, "{}", r.body);
            assert_eq!(int_field(r, "tr_id"), tr_id, "{}", r.body);
            let got = r.rc().unwrap_or_default();
            assert!(got == rc || got == "39", "{hp}: RC {got}: {}", r.body);
            by_rc.entry(got).or_default().push(r);
        }
        for (got, group) in &by_rc {
            let first = group[0];
            for r in group {
                for k in ["noref", "datetime", "balance", "message", "ref_id"] {
                    assert_eq!(
                        r.field(k),
                        first.field(k),
                        "{k} of RC {got}:\n{}\n{}",
                        first.body,
                        r.body
                    );
                }
            }
        }
        let outcome = by_rc
            .get(rc)
            .unwrap_or_else(|| panic!("{hp}: the placing request answers {rc}: {by_rc:?}"))[0];
        eprintln!(
            "concurrency: {hp}: {} x {rc}, {} x 39 (in flight)",
            by_rc[rc].len(),
            if rc == "39" {
                0
            } else {
                by_rc.get("39").map_or(0, Vec::len)
            }
        );
        if rc == "00" {
            assert_eq!(outcome.field("noref").as_deref(), Some(PGAS_NOREF));
            assert_eq!(int_field(outcome, "balance"), SANDBOX_START - sp);
        }
        // Once the dust settles, every answer is the outcome.
        let again = pay(&clients[1], tr_id).await;
        assert_eq!(again.rc().as_deref(), Some(rc), "{}", again.body);
        assert_eq!(again.field("noref"), outcome.field("noref"));
        let status = check_status(&clients[0], &p.ref_id).await;
        assert_eq!(status.rc().as_deref(), Some(rc), "{}", status.body);
        app.assert_sandbox_balance(&m, balance, held).await;
    }
    app.assert_ledger_clean().await;
    let report = ledger_verify(&app.database_url).await;
    assert_eq!(
        report["pending_holds"], 1,
        "the stuck payment's hold: {report}"
    );
}
