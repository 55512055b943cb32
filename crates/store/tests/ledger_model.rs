//! The money ledger against spec/ledger.md, through the store's public API on a real database:
//! every test runs once per backend (`#[each_backend]`: SQLite, and PostgreSQL when
//! `LOKET_TEST_DATABASE_URL` is set; `loket_store::testing` picks the database).
//!
//! `ledger_matches_model`: a hand-rolled state machine. proptest generates a list of operations
//! (deposit, withdraw, hold, post/void, restart, verify) on 2-3 members and both sides; each is run
//! on the real store and on a small in-memory model, and after every operation every balance and
//! hold is compared. Invariants 1 (balances sum to zero), 2 (available never negative), 3 (a hold is
//! resolved at most once), 5 (replay gives the cached balances) and durability across a reopen.
//!
//! The other tests drive payments: exactly once per quote, the charge and the revenue split on
//! success, nothing on failure, settle exactly once (invariant 4), and concurrent placements.

use loket_core::quote::NewQuote;
use loket_core::{Balance, Mode, PaymentState, Rc, Rupiah, Settlement};
use loket_store::{new_keys, LedgerReport, Placed, Side, Store, StoreError, SANDBOX_START_BALANCE};
use loket_test_macros::{each_backend, postgres_only};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SIDES: [Side; 2] = [Side::Live, Side::Sandbox];
/// Accounts the first migration creates: external, revenue, sandbox:external, sandbox:revenue,
/// upstream:sandbox.
const FIXED_ACCOUNTS: usize = 5;
/// The live-side upstream the bare holds of the state machine may go to.
const UPSTREAM_X: &str = "upstream-x";

fn side_index(side: Side) -> usize {
    match side {
        Side::Live => 0,
        Side::Sandbox => 1,
    }
}

fn db_url(dir: &Path) -> String {
    loket_store::testing::database_url(dir)
}

// ---------------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------------

/// How much to withdraw or hold; `NearAvailable` lands on the edge of the model's available
/// balance (available - 2 ..= available + 2, at least 1), where an off-by-one would show.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Small(i64),
    Large(i64),
    NearAvailable(i64),
}

impl Amount {
    fn resolve(self, available: i64) -> i64 {
        match self {
            Amount::Small(a) | Amount::Large(a) => a,
            Amount::NearAvailable(d) => (available + d).max(1),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        member: usize,
        side: Side,
        amount: i64,
    },
    Withdraw {
        member: usize,
        side: Side,
        amount: Amount,
    },
    Hold {
        member: usize,
        side: Side,
        /// `true`: towards "upstream-x"; `false`: towards "sandbox".
        upstream_x: bool,
        amount: Amount,
    },
    /// Post or void the model's hold number `hold % holds.len()` (resolved or not).
    Resolve {
        hold: usize,
        post: bool,
    },
    /// Post or void transfer 1, the first member's sandbox-opening deposit: not a hold.
    ResolveNotAHold {
        post: bool,
    },
    Restart,
    Verify,
}

fn side_strategy() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Live), Just(Side::Sandbox)]
}

fn amount_strategy() -> impl Strategy<Value = Amount> {
    prop_oneof![
        3 => (1i64..=1_000_000).prop_map(Amount::Small),
        1 => (1i64..=1_100_000_000).prop_map(Amount::Large),
        2 => (-2i64..=2).prop_map(Amount::NearAvailable),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, side_strategy(), 1i64..=1_000_000)
            .prop_map(|(member, side, amount)| Op::Deposit { member, side, amount }),
        3 => (0usize..3, side_strategy(), amount_strategy())
            .prop_map(|(member, side, amount)| Op::Withdraw { member, side, amount }),
        4 => (0usize..3, side_strategy(), any::<bool>(), amount_strategy()).prop_map(
            |(member, side, upstream_x, amount)| Op::Hold { member, side, upstream_x, amount }
        ),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(hold, post)| Op::Resolve { hold, post }),
        1 => any::<bool>().prop_map(|post| Op::ResolveNotAHold { post }),
        1 => Just(Op::Restart),
        1 => Just(Op::Verify),
    ]
}

#[derive(Debug, Clone, Copy, Default)]
struct ModelAccount {
    balance: i64,
    held: i64,
}

impl ModelAccount {
    fn available(&self) -> i64 {
        self.balance - self.held
    }
}

#[derive(Debug, Clone)]
struct ModelHold {
    id: i64,
    member: usize,
    side: usize,
    amount: i64,
    /// `Some(true)`: posted; `Some(false)`: voided.
    resolved: Option<bool>,
}

#[derive(Debug)]
struct Model {
    /// `[live, sandbox]` per member.
    accounts: Vec<[ModelAccount; 2]>,
    holds: Vec<ModelHold>,
    /// Journal rows the store must have.
    transfers: usize,
    /// Has a hold towards "upstream-x" been placed (which creates its account)?
    upstream_x_account: bool,
}

impl Model {
    fn new(members: usize) -> Model {
        let opened = ModelAccount {
            balance: SANDBOX_START_BALANCE,
            held: 0,
        };
        Model {
            accounts: vec![[ModelAccount::default(), opened]; members],
            holds: Vec::new(),
            transfers: members,
            upstream_x_account: false,
        }
    }

    fn account(&mut self, member: usize, side: Side) -> &mut ModelAccount {
        &mut self.accounts[member][side_index(side)]
    }

    fn unresolved(&self) -> usize {
        self.holds.iter().filter(|h| h.resolved.is_none()).count()
    }
}

fn unexpected<T: std::fmt::Debug>(what: &str, got: T) -> TestCaseError {
    TestCaseError::fail(format!("{what}: unexpected {got:?}"))
}

async fn open(url: &str) -> Result<Store, TestCaseError> {
    Store::open(url)
        .await
        .map_err(|e| unexpected("Store::open", e))
}

/// Every member's balances on both sides equal the model's; available is never negative.
async fn check_balances(
    store: &Store,
    ids: &[i64],
    model: &Model,
    after: &str,
) -> Result<(), TestCaseError> {
    for (m, id) in ids.iter().enumerate() {
        for side in SIDES {
            let got = store
                .balance(*id, side)
                .await
                .map_err(|e| unexpected("balance", e))?;
            let want = model.accounts[m][side_index(side)];
            prop_assert_eq!(
                (got.balance.get(), got.held.get()),
                (want.balance, want.held),
                "member {} {:?} after {}",
                m,
                side,
                after
            );
            prop_assert!(
                got.available().get() >= 0,
                "member {} {:?} overdrawn after {}: {:?}",
                m,
                side,
                after,
                got
            );
        }
    }
    Ok(())
}

/// `verify_ledger` is clean and agrees with the model on holds, journal rows and accounts.
async fn check_verify(store: &Store, model: &Model, after: &str) -> Result<(), TestCaseError> {
    let r = store
        .verify_ledger()
        .await
        .map_err(|e| unexpected("verify_ledger", e))?;
    prop_assert!(r.is_clean(), "after {}: {:?}", after, r.problems);
    prop_assert_eq!(r.sum_of_balances, 0, "after {}", after);
    prop_assert_eq!(r.pending_holds, model.unresolved(), "after {}", after);
    prop_assert_eq!(r.transfers, model.transfers, "after {}", after);
    prop_assert_eq!(r.payments, 0, "after {}", after);
    let accounts =
        FIXED_ACCOUNTS + 2 * model.accounts.len() + usize::from(model.upstream_x_account);
    prop_assert_eq!(r.accounts, accounts, "after {}", after);
    Ok(())
}

async fn run_case(members: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| unexpected("tempdir", e))?;
    let url = db_url(dir.path());
    let mut store = open(&url).await?;
    let mut ids = Vec::new();
    for i in 0..members {
        let m = store
            .create_member(new_keys(&format!("08120000000{i}"), &format!("member {i}")))
            .await
            .map_err(|e| unexpected("create_member", e))?;
        ids.push(m.id);
    }
    let mut model = Model::new(members);
    check_balances(&store, &ids, &model, "create_member").await?;
    check_verify(&store, &model, "create_member").await?;

    for (step, op) in ops.into_iter().enumerate() {
        let label = format!("step {step}: {op:?}");
        match op {
            Op::Deposit {
                member,
                side,
                amount,
            } => {
                let member = member % members;
                let got = store
                    .deposit(ids[member], side, Rupiah::new(amount))
                    .await
                    .map_err(|e| unexpected(&label, e))?;
                let acct = model.account(member, side);
                acct.balance += amount;
                let want = *acct;
                model.transfers += 1;
                prop_assert_eq!(
                    (got.balance.get(), got.held.get()),
                    (want.balance, want.held),
                    "answer of {}",
                    label
                );
            }
            Op::Withdraw {
                member,
                side,
                amount,
            } => {
                let member = member % members;
                let acct = model.account(member, side);
                let amount = amount.resolve(acct.available());
                let covered = acct.available() >= amount;
                let r = store.withdraw(ids[member], side, Rupiah::new(amount)).await;
                match (covered, r) {
                    (true, Ok(got)) => {
                        let acct = model.account(member, side);
                        acct.balance -= amount;
                        let want = *acct;
                        model.transfers += 1;
                        prop_assert_eq!(
                            (got.balance.get(), got.held.get()),
                            (want.balance, want.held),
                            "answer of {} (amount {})",
                            label,
                            amount
                        );
                    }
                    (false, Err(StoreError::InsufficientBalance)) => {}
                    (covered, other) => {
                        return Err(unexpected(
                            &format!("{label} (amount {amount}, covered {covered})"),
                            other,
                        ))
                    }
                }
            }
            Op::Hold {
                member,
                side,
                upstream_x,
                amount,
            } => {
                let member = member % members;
                let biller = if upstream_x { UPSTREAM_X } else { "sandbox" };
                let acct = model.account(member, side);
                let amount = amount.resolve(acct.available());
                let covered = acct.available() >= amount;
                let r = store
                    .hold(ids[member], side, biller, Rupiah::new(amount))
                    .await;
                match (covered, r) {
                    (true, Ok(id)) => {
                        prop_assert!(
                            model.holds.iter().all(|h| h.id != id),
                            "{}: hold id {} reused",
                            label,
                            id
                        );
                        model.account(member, side).held += amount;
                        model.holds.push(ModelHold {
                            id,
                            member,
                            side: side_index(side),
                            amount,
                            resolved: None,
                        });
                        model.transfers += 1;
                        model.upstream_x_account |= upstream_x;
                    }
                    (false, Err(StoreError::InsufficientBalance)) => {}
                    (covered, other) => {
                        return Err(unexpected(
                            &format!("{label} (amount {amount}, covered {covered})"),
                            other,
                        ))
                    }
                }
            }
            Op::Resolve { hold, post } => {
                if model.holds.is_empty() {
                    // Nothing held yet: an id that was never a transfer is not found.
                    let r = store.resolve_hold(i64::MAX, post).await;
                    prop_assert!(
                        matches!(r, Err(StoreError::NotFound(_))),
                        "{}: resolving a missing hold answered {:?}",
                        label,
                        r
                    );
                } else {
                    let i = hold % model.holds.len();
                    let h = model.holds[i].clone();
                    let r = store.resolve_hold(h.id, post).await;
                    match (h.resolved, r) {
                        (None, Ok(())) => {
                            let acct = &mut model.accounts[h.member][h.side];
                            acct.held -= h.amount;
                            if post {
                                acct.balance -= h.amount;
                            }
                            model.holds[i].resolved = Some(post);
                            model.transfers += 1;
                        }
                        (Some(_), Err(StoreError::Duplicate(_))) => {}
                        (before, other) => {
                            return Err(unexpected(
                                &format!("{label} on {h:?} (resolved before: {before:?})"),
                                other,
                            ))
                        }
                    }
                }
            }
            Op::ResolveNotAHold { post } => {
                // Transfer 1 is member 0's sandbox-opening deposit, a posted transfer.
                prop_assert!(model.holds.iter().all(|h| h.id != 1));
                let r = store.resolve_hold(1, post).await;
                prop_assert!(
                    matches!(r, Err(StoreError::NotFound(_))),
                    "{}: answered {:?}",
                    label,
                    r
                );
            }
            Op::Restart => {
                drop(store);
                store = open(&url).await?;
                check_verify(&store, &model, &label).await?;
            }
            Op::Verify => check_verify(&store, &model, &label).await?,
        }
        check_balances(&store, &ids, &model, &label).await?;
    }
    check_verify(&store, &model, "the last step").await?;
    // And once more from a fresh open: everything answered was durable.
    drop(store);
    let store = open(&url).await?;
    check_balances(&store, &ids, &model, "the final reopen").await?;
    check_verify(&store, &model, "the final reopen").await?;
    Ok(())
}

#[each_backend]
fn ledger_matches_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let config = Config {
        cases: 32,
        // No regression files are written into the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (2usize..=3, prop::collection::vec(op_strategy(), 1..=40));
    let result = runner.run(&strategy, |(members, ops)| {
        rt.block_on(run_case(members, ops))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Payments through the store
// ---------------------------------------------------------------------------------------------

const PRICE: i64 = 10_000;

fn now() -> i64 {
    loket_core::jakarta::now()
}

fn sandbox_quote(member_id: i64, ref_id: &str, selling_price: i64, cost: i64) -> NewQuote {
    loket_store::testing::sandbox_quote(member_id, ref_id, selling_price, cost)
}

async fn new_store(dir: &Path) -> Store {
    Store::open(&db_url(dir)).await.expect("open the store")
}

async fn new_member(store: &Store, username: &str) -> i64 {
    store
        .create_member(new_keys(username, "Payment Test"))
        .await
        .expect("create a member")
        .id
}

async fn sandbox_balance(store: &Store, member_id: i64) -> Balance {
    store
        .balance(member_id, Side::Sandbox)
        .await
        .expect("a balance")
}

fn bal(balance: i64, held: i64) -> Balance {
    Balance {
        balance: Rupiah::new(balance),
        held: Rupiah::new(held),
    }
}

async fn clean_report(store: &Store) -> LedgerReport {
    let r = store.verify_ledger().await.expect("verify_ledger");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.sum_of_balances, 0);
    r
}

/// The balance of a non-member account (revenue, an upstream).
async fn account_balance(store: &Store, code: &str) -> i64 {
    store
        .account_balance_by_code(code)
        .await
        .expect("the store answers")
        .unwrap_or_else(|| panic!("the account {code} exists"))
}

fn success(noref: &str, cost: i64) -> Settlement {
    Settlement::Success {
        noref: noref.to_string(),
        cost: Rupiah::new(cost),
    }
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn payment_is_placed_once_and_settled_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = new_member(&store, "081200000001").await;
    let start = SANDBOX_START_BALANCE;
    assert_eq!(sandbox_balance(&store, m).await, bal(start, 0));

    let q = store
        .insert_quote(sandbox_quote(m, "ref-1", PRICE, 9_800))
        .await
        .unwrap();
    assert!(q.tr_id > 0);
    // (member, ref_id) is unique already for quotes.
    assert!(matches!(
        store
            .insert_quote(sandbox_quote(m, "ref-1", PRICE, 9_800))
            .await,
        Err(StoreError::Duplicate(_))
    ));
    assert!(!store.quote_is_paid(q.tr_id).await.unwrap());

    // Place: the hold of selling_price and a pending payment.
    let resolve_at = now() + 60;
    let p = match store.place_payment(q.tr_id, resolve_at).await.unwrap() {
        Placed::New(p) => p,
        other => panic!("expected a new payment, got {other:?}"),
    };
    assert_eq!(p.state, PaymentState::Pending);
    assert_eq!(p.tr_id, q.tr_id);
    assert_eq!(p.member_id, m);
    assert_eq!(p.mode, Mode::Sandbox);
    assert_eq!(p.ref_id, "ref-1");
    assert_eq!(p.amount, Rupiah::new(PRICE));
    assert_eq!(p.balance_after, Rupiah::new(start - PRICE));
    assert_eq!(p.resolve_at, Some(resolve_at));
    assert_eq!(sandbox_balance(&store, m).await, bal(start, PRICE));
    assert_eq!(
        store.balance(m, Side::Live).await.unwrap(),
        bal(0, 0),
        "the live side is untouched"
    );
    assert!(store.quote_is_paid(q.tr_id).await.unwrap());
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (1, 1));
    let transfers_after_hold = r.transfers;

    // Place again: the same payment, no second hold.
    match store.place_payment(q.tr_id, resolve_at).await.unwrap() {
        Placed::Existing(again) => assert_eq!(again, p),
        other => panic!("expected the existing payment, got {other:?}"),
    }
    assert_eq!(sandbox_balance(&store, m).await, bal(start, PRICE));
    let r = clean_report(&store).await;
    assert_eq!(
        (r.pending_holds, r.payments, r.transfers),
        (1, 1, transfers_after_hold)
    );
    assert_eq!(
        store.payment_by_tr_id(q.tr_id).await.unwrap().as_ref(),
        Some(&p)
    );
    assert_eq!(
        store
            .payment_by_ref(m, Mode::Sandbox, "ref-1")
            .await
            .unwrap()
            .as_ref(),
        Some(&p)
    );

    // Settle: charged exactly selling_price, nothing held; the upstream keeps its cost and the
    // rest is revenue.
    let done = store
        .settle_payment(p.id, success("NOREF-1", 9_800), Some("test".into()))
        .await
        .unwrap();
    assert_eq!(done.id, p.id);
    assert_eq!(done.state, PaymentState::Success);
    assert_eq!(done.rc, Rc::Success);
    assert_eq!(done.noref, "NOREF-1");
    assert_eq!(done.resolved_by.as_deref(), Some("test"));
    assert_eq!(done.resolve_at, None);
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    assert_eq!(account_balance(&store, "sandbox:revenue").await, 200);
    assert_eq!(account_balance(&store, "upstream:sandbox").await, 9_800);
    assert_eq!(account_balance(&store, "revenue").await, 0);
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (0, 1));
    let transfers_after_settle = r.transfers;
    // post + revenue split
    assert_eq!(transfers_after_settle, transfers_after_hold + 2);

    // Settling again, either way, answers the payment as it is and moves nothing.
    for outcome in [
        Settlement::Failed(Rc::PaymentFailed),
        success("NOREF-OTHER", 1),
    ] {
        let again = store
            .settle_payment(p.id, outcome, Some("again".into()))
            .await
            .unwrap();
        assert_eq!(again, done);
    }
    // The hold itself cannot be resolved again behind the payment's back.
    for post in [true, false] {
        assert!(matches!(
            store.resolve_hold(p.hold_id, post).await,
            Err(StoreError::Duplicate(_))
        ));
    }
    // Placing a settled quote answers the settled payment.
    match store.place_payment(q.tr_id, resolve_at).await.unwrap() {
        Placed::Existing(again) => assert_eq!(again, done),
        other => panic!("expected the existing payment, got {other:?}"),
    }
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    assert_eq!(account_balance(&store, "sandbox:revenue").await, 200);
    assert_eq!(account_balance(&store, "upstream:sandbox").await, 9_800);
    assert_eq!(clean_report(&store).await.transfers, transfers_after_settle);

    // A second payment that fails: the hold is released in full, nothing charged, no revenue.
    let q2 = store
        .insert_quote(sandbox_quote(m, "ref-2", PRICE, 9_800))
        .await
        .unwrap();
    let p2 = match store.place_payment(q2.tr_id, resolve_at).await.unwrap() {
        Placed::New(p) => p,
        other => panic!("expected a new payment, got {other:?}"),
    };
    assert_eq!(p2.balance_after, Rupiah::new(start - 2 * PRICE));
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, PRICE));
    let failed = store
        .settle_payment(p2.id, Settlement::Failed(Rc::PaymentFailed), None)
        .await
        .unwrap();
    assert_eq!(failed.state, PaymentState::Failed);
    assert_eq!(failed.rc, Rc::PaymentFailed);
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    assert_eq!(
        store
            .settle_payment(p2.id, success("LATE", 9_800), None)
            .await
            .unwrap(),
        failed
    );
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    assert_eq!(account_balance(&store, "sandbox:revenue").await, 200);
    assert_eq!(account_balance(&store, "upstream:sandbox").await, 9_800);
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (0, 2));

    // The split when the upstream's cost equals or exceeds the price: the member is still charged
    // exactly selling_price, the upstream exactly its cost, revenue the (possibly negative) rest.
    let mut revenue = 200;
    let mut upstream = 9_800;
    let mut charged = PRICE;
    for (i, cost) in [PRICE, PRICE + 300, 1].into_iter().enumerate() {
        let q = store
            .insert_quote(sandbox_quote(m, &format!("split-{i}"), PRICE, cost))
            .await
            .unwrap();
        let Placed::New(p) = store.place_payment(q.tr_id, resolve_at).await.unwrap() else {
            panic!("expected a new payment");
        };
        store
            .settle_payment(p.id, success("S", cost), None)
            .await
            .unwrap();
        revenue += PRICE - cost;
        upstream += cost;
        charged += PRICE;
        assert_eq!(sandbox_balance(&store, m).await, bal(start - charged, 0));
        assert_eq!(account_balance(&store, "sandbox:revenue").await, revenue);
        assert_eq!(account_balance(&store, "upstream:sandbox").await, upstream);
        clean_report(&store).await;
    }

    // Everything survives a reopen.
    drop(store);
    let store = new_store(dir.path()).await;
    assert_eq!(
        store.payment_by_tr_id(q.tr_id).await.unwrap().as_ref(),
        Some(&done)
    );
    assert_eq!(
        store.payment_by_tr_id(q2.tr_id).await.unwrap().as_ref(),
        Some(&failed)
    );
    assert_eq!(sandbox_balance(&store, m).await, bal(start - charged, 0));
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (0, 5));
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_placements_of_one_quote_hold_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = new_member(&store, "081200000002").await;
    let q = store
        .insert_quote(sandbox_quote(m, "same", PRICE, 9_800))
        .await
        .unwrap();
    let resolve_at = now() + 60;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, q) = (store.clone(), q.clone());
            tokio::spawn(async move { store.place_payment(q.tr_id, resolve_at).await })
        })
        .collect();
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.expect("the task finished") {
            Ok(Placed::New(p)) => new.push(p),
            Ok(Placed::Existing(p)) => existing.push(p),
            Err(StoreError::Duplicate(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(new.len(), 1, "exactly one placement is new");
    let p = &new[0];
    assert!(existing
        .iter()
        .all(|e| e.id == p.id && e.hold_id == p.hold_id));
    assert_eq!(
        sandbox_balance(&store, m).await,
        bal(SANDBOX_START_BALANCE, PRICE)
    );
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (1, 1));
}

#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_placements_never_overdraw() {
    const QUOTES: usize = 100;
    const COVERED: i64 = 37;
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = new_member(&store, "081200000003").await;
    let left = store
        .withdraw(
            m,
            Side::Sandbox,
            Rupiah::new(SANDBOX_START_BALANCE - COVERED * PRICE),
        )
        .await
        .unwrap();
    assert_eq!(left, bal(COVERED * PRICE, 0));
    let mut quotes = Vec::new();
    for i in 0..QUOTES {
        quotes.push(
            store
                .insert_quote(sandbox_quote(m, &format!("many-{i}"), PRICE, 9_800))
                .await
                .unwrap(),
        );
    }

    // A reader watching the balance while the placements run.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let b = sandbox_balance(&store, m).await;
                assert!(b.available().get() >= 0, "overdrawn: {b:?}");
                seen += 1;
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let resolve_at = now() + 60;
    let tasks: Vec<_> = quotes
        .iter()
        .cloned()
        .map(|q| {
            let store = store.clone();
            tokio::spawn(async move { store.place_payment(q.tr_id, resolve_at).await })
        })
        .collect();
    let mut new = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("the task finished") {
            Ok(Placed::New(p)) => new.push(p),
            Err(StoreError::InsufficientBalance) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.expect("the watcher finished") > 0);

    assert_eq!(new.len() as i64, COVERED);
    assert_eq!(refused, QUOTES as i64 - COVERED);
    assert_eq!(
        sandbox_balance(&store, m).await,
        bal(COVERED * PRICE, COVERED * PRICE)
    );
    // Each placement saw the one before it: the available balances after them are all distinct.
    let after: BTreeSet<i64> = new.iter().map(|p| p.balance_after.get()).collect();
    let want: BTreeSet<i64> = (0..COVERED).map(|k| k * PRICE).collect();
    assert_eq!(after, want);
    // A refused placement leaves no payment behind.
    let placed: BTreeSet<i64> = new.iter().map(|p| p.tr_id).collect();
    for q in &quotes {
        let paid = store.quote_is_paid(q.tr_id).await.unwrap();
        assert_eq!(paid, placed.contains(&q.tr_id), "quote {}", q.tr_id);
    }
    let r = clean_report(&store).await;
    assert_eq!(
        (r.pending_holds, r.payments),
        (COVERED as usize, COVERED as usize)
    );

    // Settle them, alternately paid and failed: charged exactly for the paid ones.
    let mut paid = 0;
    for (i, p) in new.iter().enumerate() {
        let outcome = if i % 2 == 0 {
            paid += 1;
            success("N", 9_800)
        } else {
            Settlement::Failed(Rc::PaymentFailed)
        };
        store.settle_payment(p.id, outcome, None).await.unwrap();
    }
    assert_eq!(
        sandbox_balance(&store, m).await,
        bal((COVERED - paid) * PRICE, 0)
    );
    assert_eq!(account_balance(&store, "sandbox:revenue").await, paid * 200);
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (0, COVERED as usize));
}

/// `place_and_settle`: the hold, the payment and its outcome in one step; 20 concurrent calls
/// for one quote settle it once, and a placement that finds the payment answers it unchanged.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn place_and_settle_settles_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = new_member(&store, "0812000077").await;
    let start = sandbox_balance(&store, m).await.balance.get();

    let q = store
        .insert_quote(sandbox_quote(m, "ps-1", PRICE, 9_800))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .place_and_settle(q.tr_id, i64::MAX, success("NOREF-PS", 9_800))
                .await
        }));
    }
    let (mut new, mut existing) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(Placed::New(p)) => {
                new += 1;
                assert_eq!(p.state, PaymentState::Success);
                assert_eq!(p.noref, "NOREF-PS");
            }
            // The others wait for the first and answer its (settled) payment.
            Ok(Placed::Existing(p)) => {
                existing += 1;
                assert_eq!(p.state, PaymentState::Success);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((new, existing), (1, 19), "one placement placed and settled");
    let p = store.payment_by_tr_id(q.tr_id).await.unwrap().unwrap();
    assert_eq!(
        (p.state, p.noref.as_str()),
        (PaymentState::Success, "NOREF-PS")
    );
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    assert_eq!(account_balance(&store, "sandbox:revenue").await, 200);

    // A failure: nothing charged, the hold voided in the same step.
    let q2 = store
        .insert_quote(sandbox_quote(m, "ps-2", PRICE, 9_800))
        .await
        .unwrap();
    match store
        .place_and_settle(q2.tr_id, i64::MAX, Settlement::Failed(Rc::PaymentFailed))
        .await
        .unwrap()
    {
        Placed::New(p) => assert_eq!((p.state, p.rc), (PaymentState::Failed, Rc::PaymentFailed)),
        other => panic!("a new payment, got {other:?}"),
    }
    // Again: the first outcome, unchanged.
    match store
        .place_and_settle(q2.tr_id, i64::MAX, success("LATE", 9_800))
        .await
        .unwrap()
    {
        Placed::Existing(p) => assert_eq!(p.state, PaymentState::Failed),
        other => panic!("the existing payment, got {other:?}"),
    }
    assert_eq!(sandbox_balance(&store, m).await, bal(start - PRICE, 0));
    let r = clean_report(&store).await;
    assert_eq!((r.pending_holds, r.payments), (0, 2));
}

/// PostgreSQL makes the batch function's one generic plan at a connection's first call: on a new
/// database its tables are empty then, and it planned sequential scans of quotes and payments,
/// kept for the connection's life, each batch reading every payment so far (a fresh database's
/// first minutes: PostgreSQL CPU per paid bill 1.0-1.4 ms against 0.34 ms; docs/postgres.md).
/// Migration 0004 has the function plan key lookups whatever the statistics say.
#[postgres_only]
async fn the_batch_function_is_set_to_plan_no_sequential_scan() {
    let dir = tempfile::tempdir().unwrap();
    let url = db_url(dir.path());
    let _store = new_store(dir.path()).await;
    let setting = loket_store::testing::query_row(
        &url,
        "SELECT count(*) FROM pg_proc WHERE oid = to_regprocedure(\
         'loket_place_and_settle_batch(bigint[], boolean[], text[], bigint[], text[], bigint[], bigint)') \
         AND 'enable_seqscan=off' = ANY(proconfig)",
    )
    .unwrap();
    assert_eq!(setting, Some(vec![1]), "the function's enable_seqscan");
    // Only the function: the instance's other statements plan as PostgreSQL is configured.
    let elsewhere = loket_store::testing::query_row(
        &url,
        "SELECT count(*) FROM pg_proc WHERE 'enable_seqscan=off' = ANY(proconfig) \
         AND pronamespace = current_schema()::regnamespace",
    )
    .unwrap();
    assert_eq!(elsewhere, Some(vec![1]));
}

/// Many members paying at once, each payment placed and settled in one step (on PostgreSQL, in
/// batches of several requests' payments: docs/postgres.md, "Group commit"): a member whose
/// balance covers only some of its payments gets exactly those, the others are refused with
/// nothing held; every answer's balance_after is one a payment-by-payment order gives; failures
/// charge nothing; the ledger stays clean.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn many_members_place_and_settle_at_once() {
    const MEMBERS: usize = 6;
    const EACH: usize = 12;
    const POOR_COVERS: i64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let m = new_member(&store, &format!("08120000090{i}")).await;
        members.push(m);
    }
    // The first member can pay for POOR_COVERS bills.
    let poor = members[0];
    store
        .withdraw(
            poor,
            Side::Sandbox,
            Rupiah::new(SANDBOX_START_BALANCE - POOR_COVERS * PRICE),
        )
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for (k, m) in members.iter().enumerate() {
        for i in 0..EACH {
            let q = store
                .insert_quote(sandbox_quote(*m, &format!("mm-{k}-{i}"), PRICE, 9_800))
                .await
                .unwrap();
            // Every third payment of a rich member fails (nothing charged).
            let fails = k > 0 && i % 3 == 2;
            jobs.push((*m, q.tr_id, fails));
        }
    }
    let tasks: Vec<_> = jobs
        .iter()
        .map(|&(m, tr_id, fails)| {
            let store = store.clone();
            tokio::spawn(async move {
                let outcome = if fails {
                    Settlement::Failed(Rc::PaymentFailed)
                } else {
                    success("N", 9_800)
                };
                (
                    m,
                    fails,
                    store.place_and_settle(tr_id, i64::MAX, outcome).await,
                )
            })
        })
        .collect();
    let mut paid: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    let mut failed_after: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    let mut refused = 0;
    for t in tasks {
        let (m, fails, r) = t.await.unwrap();
        match r {
            Ok(Placed::New(p)) if !fails => {
                assert_eq!(p.state, PaymentState::Success);
                paid.entry(m).or_default().push(p.balance_after.get());
            }
            Ok(Placed::New(p)) => {
                assert_eq!((p.state, p.rc), (PaymentState::Failed, Rc::PaymentFailed));
                failed_after
                    .entry(m)
                    .or_default()
                    .push(p.balance_after.get());
            }
            Err(StoreError::InsufficientBalance) => {
                assert_eq!(m, poor, "a rich member was refused");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(paid[&poor].len() as i64, POOR_COVERS);
    assert_eq!(refused, EACH as i64 - POOR_COVERS);
    for (k, m) in members.iter().enumerate() {
        let n = paid[m].len() as i64;
        let start = if k == 0 {
            POOR_COVERS * PRICE
        } else {
            SANDBOX_START_BALANCE
        };
        // Each successful payment saw the ones before it: start - PRICE, start - 2 PRICE, ...
        let after: BTreeSet<i64> = paid[m].iter().copied().collect();
        let want: BTreeSet<i64> = (1..=n).map(|j| start - j * PRICE).collect();
        assert_eq!(after, want, "member {k}");
        // A failed payment answers the balance as it was with its hold: some prefix of the
        // successes, minus its own amount.
        for a in failed_after.get(m).into_iter().flatten() {
            assert!(
                (0..=n).any(|j| start - j * PRICE - PRICE == *a),
                "member {k}: failed payment's balance_after {a}"
            );
        }
        assert_eq!(sandbox_balance(&store, *m).await, bal(start - n * PRICE, 0));
    }
    let total_paid: i64 = paid.values().map(|v| v.len() as i64).sum();
    assert_eq!(
        account_balance(&store, "sandbox:revenue").await,
        total_paid * 200
    );
    let r = clean_report(&store).await;
    assert_eq!(r.pending_holds, 0);
}

#[each_backend(flavor = "multi_thread", worker_threads = 2)]
async fn non_positive_amounts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(dir.path()).await;
    let m = new_member(&store, "081200000004").await;
    for side in SIDES {
        let before = store.balance(m, side).await.unwrap();
        for amount in [0, -1, i64::MIN] {
            let a = Rupiah::new(amount);
            assert!(store.deposit(m, side, a).await.is_err());
            assert!(matches!(
                store.withdraw(m, side, a).await,
                Err(StoreError::Invalid(_))
            ));
            assert!(matches!(
                store.hold(m, side, "sandbox", a).await,
                Err(StoreError::Invalid(_))
            ));
        }
        assert_eq!(store.balance(m, side).await.unwrap(), before);
    }
    let r = clean_report(&store).await;
    assert_eq!((r.transfers, r.pending_holds), (1, 0));
}
