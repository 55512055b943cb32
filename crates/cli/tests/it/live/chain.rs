//! A chain of two lokets (spec/upstreams.md "one loket can be the upstream of another"): A in
//! live mode routes PGAS, PBB and PLN non-taglist to B, which runs as a sandbox, through the
//! `iak` connector and through the `isikuota` connector. Every sandbox scenario of sandbox.md,
//! driven through A, must end in A's ledger as it should: a success charged exactly A's
//! `selling_price`, a failure released, a pending payment held until B resolves it and then
//! settled by A's resolver; B's records agree with A's.

use super::*;
use loket_client::iak::Format;
use serde_json::Value;

/// What A must answer for a number.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// The inquiry is refused with this RC.
    Inquiry(&'static str),
    /// Paid at once.
    Paid,
    /// The payment fails at once with this RC.
    PayFails(&'static str),
    /// The payment answers 39, then settles: `None` success, `Some(rc)` failed.
    Pending(Option<&'static str>),
    /// The payment answers 39 and stays pending at B until B's operator decides
    /// (`loket sandbox resolve --to success|failed`); then A settles the same way.
    Stuck(&'static str),
}

#[derive(Debug, Clone, Copy)]
struct Case {
    code: &'static str,
    hp: &'static str,
    year: Option<&'static str>,
    want: Want,
    /// A's selling_price for the bill (the product's documented one); 0 for a generated bill
    /// (sandbox.md rule 3), whose amounts are B's.
    selling: i64,
    /// The documented noref of a success ("" for a generated bill: B's).
    noref: &'static str,
}

impl Case {
    fn documented(&self) -> bool {
        self.selling != 0
    }
}

const PGAS: (&str, i64, &str) = ("PGAS", PGAS_SELLING_PRICE, PGAS_NOREF);
const PBB: (&str, i64, &str) = ("PBBKOT.CIMAHI", 208_857, "190814738977");
const PLN: (&str, i64, &str) = ("PLNNONTAG", 696_200, "18147159");

fn case(product: (&'static str, i64, &'static str), hp: &'static str, want: Want) -> Case {
    Case {
        code: product.0,
        hp,
        year: (product.0 == "PBBKOT.CIMAHI").then_some("2019"),
        want,
        selling: product.1,
        noref: product.2,
    }
}

/// A number outside the documented tables and the RC rule: B generates its bill (rule 3).
fn generated(code: &'static str, hp: &'static str) -> Case {
    Case {
        code,
        hp,
        year: (code == "PBBKOT.CIMAHI").then_some("2021"),
        want: Want::Paid,
        selling: 0,
        noref: "",
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Iak,
    Isikuota,
}

/// sandbox.md's scenarios of PGAS (rule 1 and rule 2), PLN non-taglist (rule 1) and PBB (rule
/// 1), as A answers them through `via`. The isikuota protocol carries no RC: every payment
/// failure is 37 there, and RC 01 at inquiry arrives as `BILL_ALREADY_PAID` (34).
fn cases(via: Via) -> Vec<Case> {
    use Want::*;
    let fails105 = if via == Via::Iak { "105" } else { "37" };
    let paid01 = if via == Via::Iak { "01" } else { "34" };
    let mut v = vec![
        case(PGAS, "0110010000", Paid),
        case(PGAS, "0110010999", Paid),
        case(PGAS, "0110014601", Paid),
        case(PGAS, "0110011037", PayFails("37")),
        case(PGAS, "0110014606", PayFails("37")),
        case(PGAS, "0110011105", PayFails(fails105)),
        case(PGAS, "0110014608", PayFails(fails105)),
        case(PGAS, "0110011039", Pending(None)),
        case(PGAS, "0110014607", Pending(None)),
        case(PGAS, "0110012000", Pending(None)),
        case(PGAS, "0110012037", Pending(Some("37"))),
        // Pending-class RCs at B (05, 201) are pending at A too, and resolve to success.
        case(PGAS, "0110011005", Pending(None)),
        case(PGAS, "0110011201", Pending(None)),
        // Stays pending at B until its operator decides.
        case(PGAS, "0110012039", Stuck("success")),
        case(PGAS, "0110012201", Stuck("failed")),
        case(PGAS, "0110010014", Inquiry("14")),
        case(PGAS, "0110014605", Inquiry("14")),
        case(PGAS, "0110010001", Inquiry(paid01)),
        case(PGAS, "0110014604", Inquiry(paid01)),
        // The upstream's biller timed out: not an answer about the bill, so A tries the next
        // route, and with none left answers 106.
        case(PGAS, "0110010103", Inquiry("106")),
        case(PGAS, "0110014603", Inquiry("106")),
        case(PLN, "3225030005901", Paid),
        case(PLN, "3225030005906", PayFails("37")),
        case(PLN, "3225030005908", PayFails(fails105)),
        case(PLN, "3225030005907", Pending(None)),
        case(PLN, "3225030005905", Inquiry("14")),
        case(PLN, "3225030005903", Inquiry("106")),
        generated("PGAS", "0220557788"),
        generated("PLNNONTAG", "5512345678901"),
    ];
    if via == Via::Iak {
        // PBB needs `year`, which the isikuota connector does not forward (see
        // `pbb_through_isikuota_forwards_the_year`).
        v.extend([
            case(PBB, "329801092375999901", Paid),
            case(PBB, "329801092375999906", PayFails("37")),
            case(PBB, "329801092375999907", Pending(None)),
            case(PBB, "329801092375999905", Inquiry("14")),
            generated("PBBKOT.CIMAHI", "327301000100200300"),
        ]);
    }
    v
}

fn message(rc: &str) -> &'static str {
    match rc {
        "00" => "PAYMENT SUCCESS",
        "34" => "BILL HAS BEEN PAID",
        "39" => "PENDING / TRANSACTION IN PROCESS",
        other => message_of(other),
    }
}

/// The documented bill of a case, as A's inquiry answers it through IAK.
fn documented_bill(c: &Case, ref_id: &str) -> Value {
    match c.code {
        "PGAS" => ngatimun(c.hp, ref_id),
        "PBBKOT.CIMAHI" => testing_pbb(c.hp, ref_id),
        "PLNNONTAG" => jayusman("PLNNONTAG", c.hp, ref_id),
        other => panic!("no documented bill for {other}"),
    }
}

/// How long B's sandbox keeps a payment pending.
const PENDING_AT_B_SECS: u64 = 3;

/// B and its member; A with `via` to B and a member with Rp 50.000.000 on its live balance.
async fn chain(via: Via) -> (TestApp, TestMember, TestApp, TestMember) {
    let mut config = b_config();
    // Long enough that every pending payment is still pending at B while the test places them.
    config.sandbox.pending_resolve_secs = PENDING_AT_B_SECS;
    let b = spawn_app_with(config).await;
    let bm = b.create_member("081255500001").await;
    let a = spawn_app_with(a_config()).await;
    let record = match via {
        Via::Iak => iak_upstream_to("b", &b, &bm),
        Via::Isikuota => UpstreamRecord {
            secret_key: bm.secret_key.clone(),
            testing: true,
            ..upstream("b", "isikuota", &b.base_url, &bm.api_id, &bm.api_key)
        },
    };
    a.add_upstream(record).await;
    for product in ["PGAS", "PBBKOT.CIMAHI", "PLNNONTAG"] {
        a.add_route(product, "b", 1, None).await;
    }
    let am = a.live_member("081266600001", 50_000_000).await;
    (a, am, b, bm)
}

/// B's quote for A's quote `tr_id` (B's ref_id is A's `upstream_ref_id`).
async fn b_quote(a: &TestApp, b: &TestApp, bm: &TestMember, tr_id: i64) -> loket_core::Quote {
    let quote = a.store.quote(tr_id).await.unwrap().expect("A's quote");
    let towards_b = quote.upstream_ref_id.expect("A's reference towards B");
    let bq = b
        .quote(bm, Mode::Sandbox, &towards_b)
        .await
        .unwrap_or_else(|| panic!("B has the quote {towards_b} that A asked for"));
    assert_eq!(
        (bq.code.as_str(), bq.hp.as_str()),
        (quote.code.as_str(), quote.hp.as_str())
    );
    bq
}

/// The state of B's payment for A's quote `tr_id` (None: B has no payment for it).
async fn b_payment(a: &TestApp, b: &TestApp, bm: &TestMember, tr_id: i64) -> Option<Payment> {
    b.payment(b_quote(a, b, bm, tr_id).await.tr_id).await
}

/// Waits for A's resolver to settle the pending payment of `c` as B did; checks A against B.
#[allow(clippy::too_many_arguments)]
async fn settle_and_check(
    a: &TestApp,
    b: &TestApp,
    bm: &TestMember,
    client: &loket_client::iak::IakClient,
    via: Via,
    c: &Case,
    tr_id: i64,
    balance: &mut i64,
    paid_to_b: &mut i64,
) {
    let what = format!("{via:?} {} {}", c.code, c.hp);
    let p = a.settled(tr_id, Duration::from_secs(15)).await;
    let at_b = b_payment(a, b, bm, tr_id).await.unwrap();
    assert_eq!(p.resolved_by.as_deref(), Some("resolver"), "{what}");
    assert!(p.attempts >= 1, "{what}: settled after asking B");
    let success = matches!(c.want, Want::Pending(None) | Want::Stuck("success"));
    if success {
        *balance -= p.amount.get();
        *paid_to_b += p.amount.get();
        assert_eq!(
            (p.state, p.rc.code()),
            (PaymentState::Success, "00"),
            "{what}"
        );
        assert_eq!(
            (at_b.state, at_b.noref.as_str()),
            (PaymentState::Success, c.noref),
            "{what}"
        );
        assert_eq!(p.noref, c.noref, "{what}");
    } else {
        assert_eq!(at_b.state, PaymentState::Failed, "{what}");
        // The RC B failed it with, as A's connector reads it (isikuota carries none: 37).
        let want = match (c.want, via) {
            (Want::Pending(Some(rc)), _) => rc,
            (_, Via::Isikuota) => "37",
            (_, Via::Iak) => at_b.rc.code(),
        };
        assert_eq!(
            (p.state, p.rc.code()),
            (PaymentState::Failed, want),
            "{what}"
        );
    }
    // A's checkstatus tells the member the settled state.
    let s = check_status(client, &p.ref_id).await;
    assert_eq!(
        int_field(&s, "status"),
        if success { 1 } else { 2 },
        "{what}: {}",
        s.body
    );
}

async fn every_scenario_through(via: Via) {
    let (a, am, b, bm) = chain(via).await;
    let client = a.live_client(&am);
    const DEPOSIT: i64 = 50_000_000;
    let mut balance = DEPOSIT;
    let mut held = 0;
    let mut paid_to_b = 0;
    let mut pending: Vec<(Case, i64)> = Vec::new();
    // The immediate outcomes first, then the pending ones, each checked exactly while nothing
    // can have settled yet: within B's pending time of the first pending payment.
    let mut cases = cases(via);
    cases.sort_by_key(|c| matches!(c.want, Want::Pending(_) | Want::Stuck(_)));
    let mut first_pending: Option<std::time::Instant> = None;
    for c in cases {
        let what = format!("{via:?} {} {}", c.code, c.hp);
        let mut p = params(c.code, c.hp);
        p.year = c.year.map(str::to_string);
        let r = inquire(&client, &p).await;
        if let Want::Inquiry(rc) = c.want {
            assert_rc(&r, rc, message(rc));
            assert_eq!(
                r.field("ref_id").as_deref(),
                Some(p.ref_id.as_str()),
                "{what}"
            );
            assert_eq!(r.field("hp").as_deref(), Some(c.hp), "{what}");
            assert!(
                r.data.get("tr_id").is_none() && r.data.get("selling_price").is_none(),
                "{what}: no quote: {}",
                r.body
            );
            a.assert_nothing_stored(&am, &p.ref_id).await;
            continue;
        }
        // The bill as B quoted it, priced by A: the documented selling_price (A's commission is
        // B's sandbox commission), or, for a generated bill, B's.
        assert_eq!(r.rc().as_deref(), Some("00"), "{what}: {}", r.body);
        let tr_id = int_field(&r, "tr_id");
        let bq = b_quote(&a, &b, &bm, tr_id).await;
        let selling = if c.documented() {
            let want = documented_bill(&c, &p.ref_id);
            match via {
                Via::Iak => {
                    assert_inquiry_success(&r, Format::Json, &want);
                }
                // isikuota's inquiry carries no period.
                Via::Isikuota => {
                    for k in INQUIRY_FIELDS
                        .iter()
                        .filter(|k| !["tr_id", "period"].contains(k))
                    {
                        assert_eq!(r.data[*k], want[*k], "{what}: {k} in {}", r.body);
                    }
                }
            }
            c.selling
        } else {
            assert_eq!(r.field("tr_name"), Some(bq.name.clone()), "{what}");
            assert_eq!(int_field(&r, "nominal"), bq.nominal.get(), "{what}");
            assert_eq!(int_field(&r, "admin"), bq.admin.get(), "{what}");
            bq.selling_price.get()
        };
        assert_eq!(int_field(&r, "selling_price"), selling, "{what}");
        assert_eq!(
            bq.selling_price.get(),
            selling,
            "{what}: B's price for its member"
        );
        let quote = a.store.quote(tr_id).await.unwrap().unwrap();
        assert_eq!(quote.mode, Mode::Live, "{what}");
        assert_eq!(quote.biller, "b", "{what}");
        assert_eq!(quote.upstream_code.as_deref(), Some(c.code), "{what}");
        let towards_b = quote.upstream_ref_id.clone().unwrap();
        assert!(
            towards_b.starts_with("LK") && towards_b.len() == 18,
            "{what}: {towards_b}"
        );
        assert!(
            b_payment(&a, &b, &bm, tr_id).await.is_none(),
            "{what}: B paid nothing yet"
        );

        let r = pay(&client, tr_id).await;
        let payment = a.payment(tr_id).await.expect("A's payment");
        assert_eq!(payment.amount, Rupiah::new(selling), "{what}");
        let at_b = b_payment(&a, &b, &bm, tr_id)
            .await
            .expect("B received the payment");
        match c.want {
            Want::Paid => {
                balance -= selling;
                paid_to_b += selling;
                assert_rc(&r, "00", "PAYMENT SUCCESS");
                assert_eq!(
                    (at_b.state, payment.state),
                    (PaymentState::Success, PaymentState::Success),
                    "{what}"
                );
                assert!(!at_b.noref.is_empty(), "{what}: B's noref");
                if c.documented() {
                    assert_eq!(at_b.noref, c.noref, "{what}");
                }
                assert_eq!(
                    r.field("noref"),
                    Some(at_b.noref.clone()),
                    "{what}: {}",
                    r.body
                );
                assert_eq!(payment.noref, at_b.noref, "{what}");
                assert_eq!(
                    int_field(&r, "balance"),
                    balance - held,
                    "{what}: {}",
                    r.body
                );
            }
            Want::PayFails(rc) => {
                assert_rc(&r, rc, message(rc));
                assert_eq!(r.field("noref").as_deref(), Some(""), "{what}: {}", r.body);
                assert_eq!(
                    int_field(&r, "balance"),
                    balance - held,
                    "released: {}",
                    r.body
                );
                assert_eq!(
                    (payment.state, payment.rc.code()),
                    (PaymentState::Failed, rc),
                    "{what}"
                );
                assert_eq!(at_b.state, PaymentState::Failed, "{what}");
            }
            Want::Pending(_) | Want::Stuck(_) => {
                held += selling;
                assert_rc(&r, "39", "PENDING / TRANSACTION IN PROCESS");
                let started = *first_pending.get_or_insert_with(std::time::Instant::now);
                if started.elapsed() < Duration::from_millis(PENDING_AT_B_SECS * 1000 - 500) {
                    assert_eq!(int_field(&r, "balance"), balance - held, "held: {}", r.body);
                    assert_eq!(payment.state, PaymentState::Pending, "{what}");
                    assert_eq!(at_b.state, PaymentState::Pending, "{what}");
                    assert_eq!(
                        a.live_balance(&am).await,
                        (balance, held),
                        "{what}: A's (balance, held)"
                    );
                } else {
                    eprintln!("{what}: placing the pending payments took too long to check each");
                }
                pending.push((c, tr_id));
                continue;
            }
            Want::Inquiry(_) => unreachable!(),
        }
        assert_eq!(
            a.live_balance(&am).await,
            (balance, held),
            "{what}: A's (balance, held)"
        );
        // Paying again never charges again: the first payment's state.
        let again = pay(&client, tr_id).await;
        assert_eq!(again.rc(), r.rc(), "{what}: {}", again.body);
        assert_eq!(
            a.live_balance(&am).await,
            (balance, held),
            "{what}: paid twice"
        );
    }
    assert_eq!(
        pending.len(),
        if via == Via::Iak { 10 } else { 9 },
        "pending scenarios: {pending:?}"
    );

    // B resolves its pending payments after 1 s; A's resolver asks B and settles each. The
    // stuck ones stay pending at B, so at A too, still held, however often A asks.
    let (resolving, stuck): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .partition(|(c, _)| matches!(c.want, Want::Pending(_)));
    for (c, tr_id) in &resolving {
        settle_and_check(
            &a,
            &b,
            &bm,
            &client,
            via,
            c,
            *tr_id,
            &mut balance,
            &mut paid_to_b,
        )
        .await;
    }
    for (c, tr_id) in &stuck {
        let p = eventually(Duration::from_secs(10), "A to ask B twice", || async {
            a.payment(*tr_id).await.filter(|p| p.attempts >= 2)
        })
        .await;
        assert_eq!(
            p.state,
            PaymentState::Pending,
            "{via:?} {}: still pending",
            c.hp
        );
        let at_b = b_payment(&a, &b, &bm, *tr_id).await.unwrap();
        assert_eq!(at_b.state, PaymentState::Pending, "{via:?} {}", c.hp);
    }
    let stuck_held: i64 = stuck.iter().map(|(c, _)| c.selling).sum();
    assert_eq!(
        a.live_balance(&am).await,
        (balance, stuck_held),
        "only the stuck ones held"
    );
    // B's operator decides; A follows B.
    for (c, tr_id) in &stuck {
        let Want::Stuck(to) = c.want else {
            unreachable!()
        };
        let towards_b = b_quote(&a, &b, &bm, *tr_id).await.ref_id;
        let args = [
            "sandbox",
            "resolve",
            "--ref-id",
            &towards_b,
            "--to",
            to,
            "--database",
            &b.database_url,
        ]
        .map(String::from)
        .to_vec();
        let out = run_async(args).await;
        let decided = output_json(&["sandbox", "resolve"], &out);
        let want_state = if to == "success" { "success" } else { "failed" };
        assert_eq!(decided["state"], want_state, "{decided}");
        settle_and_check(
            &a,
            &b,
            &bm,
            &client,
            via,
            c,
            *tr_id,
            &mut balance,
            &mut paid_to_b,
        )
        .await;
    }

    // Exactly the successes charged, nothing held; B's account got every charge (its cost is
    // A's selling_price for these products, so the revenue is zero), and the ledger verifies.
    assert_eq!(
        a.live_balance(&am).await,
        (balance, 0),
        "A's member at the end"
    );
    assert_eq!(a.account("upstream:b"), (paid_to_b, 0), "upstream:b");
    assert_eq!(a.account("revenue"), (0, 0), "revenue");
    assert_eq!(a.account("external").0, -DEPOSIT, "external");
    a.assert_ledger_clean().await;
    let report = ledger_verify(&a.database_url).await;
    assert_eq!(report["pending_holds"], 0, "{report}");
    b.assert_ledger_clean().await;
    // B in sandbox mode: its member's live balance was never touched.
    assert_eq!(b.live_balance(&bm).await, (0, 0));
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn every_sandbox_scenario_through_the_iak_connector() {
    every_scenario_through(Via::Iak).await;
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn every_sandbox_scenario_through_the_isikuota_connector() {
    every_scenario_through(Via::Isikuota).await;
}

/// loket's own isikuota protocol takes `year` (and `month`) at inquiry, as PBB and BPJS need;
/// A's isikuota connector must forward them, or those products cannot be routed to a loket.
#[each_backend]
async fn pbb_through_isikuota_forwards_the_year() {
    let (a, am, _b, _bm) = chain(Via::Isikuota).await;
    let client = a.live_client(&am);
    let p = params_year("PBBKOT.CIMAHI", "329801092375999901", "2019");
    let r = inquire(&client, &p).await;
    assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(int_field(&r, "selling_price"), 208_857, "{}", r.body);
    let r = pay(&client, int_field(&r, "tr_id")).await;
    assert_rc(&r, "00", "PAYMENT SUCCESS");
    assert_eq!(r.field("noref").as_deref(), Some("190814738977"));
}
