//! The sandbox connector on the documented numbers of `spec/sandbox.md`.

use loket_core::upstream::{InquiryOutcome, PayOutcome, UpstreamInquiry, UpstreamPayment};
use loket_core::{Rc, Rupiah};

use super::SandboxConnector;
use crate::{Connector, UpstreamSettings};

fn connector() -> Connector {
    Connector::from_settings(&UpstreamSettings {
        name: "demo".into(),
        kind: "sandbox".into(),
        ..Default::default()
    })
    .unwrap()
}

fn inquiry(code: &str, number: &str) -> UpstreamInquiry {
    UpstreamInquiry {
        product_code: code.into(),
        number: number.into(),
        ref_id: format!("R-{number}"),
        year: None,
        months: None,
        nomor_identitas: None,
        amount: None,
    }
}

fn payment(code: &str, number: &str, cost: i64) -> UpstreamPayment {
    UpstreamPayment {
        product_code: code.into(),
        number: number.into(),
        ref_id: format!("R-{number}"),
        upstream_ref: None,
        quoted_cost: Rupiah::new(cost),
    }
}

/// PGAS `0110010000`: the documented NGATIMUN bill, paid with noref 244183135447.
#[tokio::test]
async fn pgas_success() {
    let c = connector();
    let InquiryOutcome::Bill(bill) = c.inquiry(&inquiry("PGAS", "0110010000")).await else {
        panic!("expected a bill");
    };
    assert_eq!(bill.name, "NGATIMUN");
    assert_eq!(bill.period, "0917");
    assert_eq!(bill.nominal, Rupiah::new(322_002));
    assert_eq!(bill.admin, Rupiah::new(2_500));
    assert_eq!(bill.desc["usage"], 35);
    assert_eq!(bill.upstream_ref, None);
    // The biller's cost: price minus the sandbox biller's commission.
    assert!(bill.cost < Rupiah::new(324_502), "{:?}", bill.cost);
    let p = payment("PGAS", "0110010000", bill.cost.get());
    let paid = PayOutcome::Success {
        noref: "244183135447".into(),
        cost: Some(bill.cost),
    };
    assert_eq!(c.pay(&p).await, paid);
    assert_eq!(c.status(&p).await, paid);
}

/// `0110011037`: the inquiry succeeds, the payment fails with 37.
#[tokio::test]
async fn pgas_payment_fails_37() {
    let c = connector();
    assert!(matches!(
        c.inquiry(&inquiry("PGAS", "0110011037")).await,
        InquiryOutcome::Bill(_)
    ));
    let p = payment("PGAS", "0110011037", 1);
    assert_eq!(c.pay(&p).await, PayOutcome::Failed(Rc::PaymentFailed));
    assert_eq!(c.status(&p).await, PayOutcome::Failed(Rc::PaymentFailed));
}

/// `0110011039`: the payment answers pending and resolves to success.
#[tokio::test]
async fn pgas_pending_then_success() {
    let c = connector();
    let InquiryOutcome::Bill(bill) = c.inquiry(&inquiry("PGAS", "0110011039")).await else {
        panic!("expected a bill");
    };
    let p = payment("PGAS", "0110011039", bill.cost.get());
    let pending = c.pay(&p).await;
    assert!(
        matches!(&pending, PayOutcome::Pending(why) if why.contains("39")),
        "{pending:?}"
    );
    assert_eq!(
        c.status(&p).await,
        PayOutcome::Success {
            noref: "244183135447".into(),
            cost: Some(bill.cost),
        }
    );
}

/// `0110010014`: the inquiry is refused with 14 (an answer about the number).
#[tokio::test]
async fn pgas_inquiry_refused_14() {
    let c = connector();
    assert_eq!(
        c.inquiry(&inquiry("PGAS", "0110010014")).await,
        InquiryOutcome::Refused(Rc::IncorrectDestinationNumber)
    );
    // A payment for a number that cannot have been quoted fails; its status was never received.
    let p = payment("PGAS", "0110010014", 1);
    assert_eq!(
        c.pay(&p).await,
        PayOutcome::Failed(Rc::IncorrectDestinationNumber)
    );
    assert_eq!(
        c.status(&p).await,
        PayOutcome::Failed(Rc::PaymentRequestNotReceived)
    );
}

#[tokio::test]
async fn upstream_side_inquiry_failures_are_unavailable() {
    let c = connector();
    for number in ["0110010103", "0110014603", "0110010106", "0110010105"] {
        let outcome = c.inquiry(&inquiry("PGAS", number)).await;
        assert!(
            matches!(outcome, InquiryOutcome::Unavailable(_)),
            "{number}: {outcome:?}"
        );
    }
    let outcome = c.inquiry(&inquiry("NOPE", "1")).await;
    assert!(
        matches!(outcome, InquiryOutcome::Unavailable(_)),
        "{outcome:?}"
    );
    // PBB needs its year.
    let outcome = c
        .inquiry(&inquiry("PBBKOT.CIMAHI", "329801092375990000"))
        .await;
    assert!(
        matches!(&outcome, InquiryOutcome::Unavailable(w) if w.contains("year")),
        "{outcome:?}"
    );
    let with_year = UpstreamInquiry {
        year: Some("2019".into()),
        ..inquiry("PBBKOT.CIMAHI", "329801092375990000")
    };
    assert!(matches!(
        c.inquiry(&with_year).await,
        InquiryOutcome::Bill(b) if b.name == "TESTING PBB"
    ));
    let unknown = payment("NOPE", "1", 1);
    assert_eq!(
        c.pay(&unknown).await,
        PayOutcome::Failed(Rc::InquiryIdNotFound)
    );
}

#[tokio::test]
async fn pending_rules_resolve_as_the_number_says() {
    let c = connector();
    // 2037: pending, then failed with 37; 2039: pending forever.
    let p = payment("PGAS", "0110012037", 1);
    assert!(matches!(c.pay(&p).await, PayOutcome::Pending(_)));
    assert_eq!(c.status(&p).await, PayOutcome::Failed(Rc::PaymentFailed));
    let p = payment("PGAS", "0110012039", 1);
    assert!(matches!(c.pay(&p).await, PayOutcome::Pending(_)));
    assert!(matches!(c.status(&p).await, PayOutcome::Pending(_)));
}

#[test]
fn generated_bills_are_deterministic() {
    let c = SandboxConnector::new("demo");
    let a = c.inquiry(&inquiry("PLNPOSTPAID", "123456789012"));
    let b = c.inquiry(&inquiry("PLNPOSTPAID", "123456789012"));
    assert_eq!(a, b);
    let InquiryOutcome::Bill(bill) = a else {
        panic!("expected a bill");
    };
    let p = payment("PLNPOSTPAID", "123456789012", bill.cost.get());
    assert!(matches!(c.pay(&p), PayOutcome::Success { cost: Some(cost), .. } if cost == bill.cost));
}
