//! The ledger's rules that do not depend on the database: how a transfer moves the cached sums of
//! its two accounts, and the replay that `loket ledger verify` runs (spec/ledger.md).

pub use loket_core::Mode as Side;
use std::collections::{BTreeMap, HashMap};

/// Kinds of transfers, TigerBeetle style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// Posted at once (deposits, revenue splits).
    Single,
    /// A hold: counted as pending until a `Post` or `Void` names it.
    Pending,
    Post,
    Void,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Single => "single",
            TransferKind::Pending => "pending",
            TransferKind::Post => "post",
            TransferKind::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<TransferKind> {
        match s {
            "single" => Some(TransferKind::Single),
            "pending" => Some(TransferKind::Pending),
            "post" => Some(TransferKind::Post),
            "void" => Some(TransferKind::Void),
            _ => None,
        }
    }
}

/// One journal row, as replay needs it.
#[derive(Debug, Clone)]
pub struct JournalRow {
    pub id: i64,
    pub debit: i64,
    pub credit: i64,
    pub amount: i64,
    pub kind: TransferKind,
    pub pending_id: Option<i64>,
}

/// The four cached sums of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

impl Sums {
    pub fn balance(&self) -> i64 {
        self.credits_posted - self.debits_posted
    }

    pub fn available(&self) -> i64 {
        self.balance() - self.debits_pending
    }
}

/// An account's cached row.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: i64,
    pub code: String,
    pub is_member: bool,
    pub sums: Sums,
}

/// A payment as verify checks it against its hold.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: i64,
    pub state: String,
    pub amount: i64,
    pub hold_id: i64,
}

/// What `loket ledger verify` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LedgerReport {
    pub accounts: usize,
    pub transfers: usize,
    pub payments: usize,
    /// Sum of every account's balance; zero in a sound ledger.
    pub sum_of_balances: i64,
    pub pending_holds: usize,
    pub problems: Vec<String>,
}

impl LedgerReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Replay `journal` from empty and compare with `accounts`; check every invariant of ledger.md
/// that the rows can show.
pub fn verify(
    accounts: &[AccountRow],
    journal: &[JournalRow],
    payments: &[PaymentRow],
) -> LedgerReport {
    let mut report = LedgerReport {
        accounts: accounts.len(),
        transfers: journal.len(),
        payments: payments.len(),
        ..Default::default()
    };
    let mut replayed: HashMap<i64, Sums> =
        accounts.iter().map(|a| (a.id, Sums::default())).collect();
    let mut holds: BTreeMap<i64, (&JournalRow, Option<TransferKind>)> = BTreeMap::new();
    for t in journal {
        if t.amount <= 0 {
            report
                .problems
                .push(format!("transfer {} has amount {}", t.id, t.amount));
        }
        if !replayed.contains_key(&t.debit) || !replayed.contains_key(&t.credit) {
            report
                .problems
                .push(format!("transfer {} names an unknown account", t.id));
            continue;
        }
        match t.kind {
            TransferKind::Single => {
                replayed.get_mut(&t.debit).expect("checked").debits_posted += t.amount;
                replayed.get_mut(&t.credit).expect("checked").credits_posted += t.amount;
            }
            TransferKind::Pending => {
                replayed.get_mut(&t.debit).expect("checked").debits_pending += t.amount;
                replayed
                    .get_mut(&t.credit)
                    .expect("checked")
                    .credits_pending += t.amount;
                holds.insert(t.id, (t, None));
            }
            TransferKind::Post | TransferKind::Void => {
                let Some(pid) = t.pending_id else {
                    report
                        .problems
                        .push(format!("transfer {} resolves no hold", t.id));
                    continue;
                };
                let Some((hold, resolved)) = holds.get_mut(&pid) else {
                    report.problems.push(format!(
                        "transfer {} resolves {} which is not an earlier hold",
                        t.id, pid
                    ));
                    continue;
                };
                if let Some(prev) = resolved {
                    report.problems.push(format!(
                        "hold {pid} resolved twice ({} then {})",
                        prev.as_str(),
                        t.kind.as_str()
                    ));
                    continue;
                }
                if hold.debit != t.debit || hold.credit != t.credit || hold.amount != t.amount {
                    report
                        .problems
                        .push(format!("transfer {} does not match its hold {pid}", t.id));
                }
                *resolved = Some(t.kind);
                let (d, c) = (hold.debit, hold.credit);
                let a = hold.amount;
                let dr = replayed.get_mut(&d).expect("checked");
                dr.debits_pending -= a;
                if t.kind == TransferKind::Post {
                    dr.debits_posted += a;
                }
                let cr = replayed.get_mut(&c).expect("checked");
                cr.credits_pending -= a;
                if t.kind == TransferKind::Post {
                    cr.credits_posted += a;
                }
            }
        }
    }
    for a in accounts {
        let r = replayed[&a.id];
        if r != a.sums {
            report.problems.push(format!(
                "account {} cached {:?} but the journal gives {:?}",
                a.code, a.sums, r
            ));
        }
        if a.is_member && r.available() < 0 {
            report.problems.push(format!(
                "account {} is overdrawn: available {}",
                a.code,
                r.available()
            ));
        }
        report.sum_of_balances += a.sums.balance();
    }
    if report.sum_of_balances != 0 {
        report.problems.push(format!(
            "balances sum to {}, not zero",
            report.sum_of_balances
        ));
    }
    report.pending_holds = holds.values().filter(|(_, r)| r.is_none()).count();
    for p in payments {
        let Some((hold, resolved)) = holds.get(&p.hold_id) else {
            report
                .problems
                .push(format!("payment {} has no hold {}", p.id, p.hold_id));
            continue;
        };
        if hold.amount != p.amount {
            report.problems.push(format!(
                "payment {} holds {} but charges {}",
                p.id, hold.amount, p.amount
            ));
        }
        let expected = match p.state.as_str() {
            "success" => Some(TransferKind::Post),
            "failed" => Some(TransferKind::Void),
            _ => None,
        };
        if *resolved != expected {
            report.problems.push(format!(
                "payment {} is {} but its hold is {:?}",
                p.id, p.state, resolved
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(id: i64, member: bool, sums: Sums) -> AccountRow {
        AccountRow {
            id,
            code: format!("a{id}"),
            is_member: member,
            sums,
        }
    }

    fn row(
        id: i64,
        debit: i64,
        credit: i64,
        amount: i64,
        kind: TransferKind,
        pending_id: Option<i64>,
    ) -> JournalRow {
        JournalRow {
            id,
            debit,
            credit,
            amount,
            kind,
            pending_id,
        }
    }

    #[test]
    fn clean_ledger_verifies() {
        let journal = vec![
            row(1, 1, 2, 100, TransferKind::Single, None),
            row(2, 2, 3, 30, TransferKind::Pending, None),
            row(3, 2, 3, 30, TransferKind::Post, Some(2)),
            row(4, 2, 3, 20, TransferKind::Pending, None),
        ];
        let accounts = vec![
            acct(
                1,
                false,
                Sums {
                    debits_posted: 100,
                    ..Default::default()
                },
            ),
            acct(
                2,
                true,
                Sums {
                    credits_posted: 100,
                    debits_posted: 30,
                    debits_pending: 20,
                    credits_pending: 0,
                },
            ),
            acct(
                3,
                false,
                Sums {
                    credits_posted: 30,
                    credits_pending: 20,
                    ..Default::default()
                },
            ),
        ];
        let payments = vec![
            PaymentRow {
                id: 1,
                state: "success".into(),
                amount: 30,
                hold_id: 2,
            },
            PaymentRow {
                id: 2,
                state: "pending".into(),
                amount: 20,
                hold_id: 4,
            },
        ];
        let r = verify(&accounts, &journal, &payments);
        assert!(r.is_clean(), "{:?}", r.problems);
        assert_eq!(r.pending_holds, 1);
    }

    #[test]
    fn finds_every_kind_of_damage() {
        let journal = vec![
            row(1, 1, 2, 100, TransferKind::Single, None),
            row(2, 2, 3, 30, TransferKind::Pending, None),
            row(3, 2, 3, 30, TransferKind::Post, Some(2)),
            row(4, 2, 3, 30, TransferKind::Void, Some(2)),
        ];
        let accounts = vec![
            acct(
                1,
                false,
                Sums {
                    debits_posted: 100,
                    ..Default::default()
                },
            ),
            acct(
                2,
                true,
                Sums {
                    credits_posted: 100,
                    debits_posted: 31,
                    ..Default::default()
                },
            ),
            acct(
                3,
                false,
                Sums {
                    credits_posted: 30,
                    ..Default::default()
                },
            ),
        ];
        let payments = vec![PaymentRow {
            id: 1,
            state: "failed".into(),
            amount: 30,
            hold_id: 2,
        }];
        let r = verify(&accounts, &journal, &payments);
        let all = r.problems.join("\n");
        assert!(all.contains("resolved twice"), "{all}");
        assert!(all.contains("cached"), "{all}");
        assert!(all.contains("sum to"), "{all}");
        assert!(all.contains("payment 1 is failed"), "{all}");
    }
}
