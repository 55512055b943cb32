//! Quotes: a successful inquiry, stored with its lifetime, that a payment later pays exactly.

use crate::sandbox::PaymentScenario;
use crate::{Mode, Rc, Rupiah};
use serde_json::Value;

/// Which protocol made a quote (it decides the answer's shape on status queries and webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Iak,
    Isikuota,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Iak => "iak",
            Protocol::Isikuota => "isikuota",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "iak" => Some(Protocol::Iak),
            "isikuota" => Some(Protocol::Isikuota),
            _ => None,
        }
    }
}

/// A quote's `desc` (or `paid_desc`): shared, not copied, between the quote, its answer, the
/// in-memory quote cache and the sandbox's bill templates (docs/performance.md, round 10c).
pub type Desc = std::sync::Arc<Value>;

/// A stored quote's `desc` and `paid_desc` from their JSON text (`null` if unreadable), parsed
/// once and shared when the texts are equal (most bills).
pub fn parse_descs(desc: &str, paid_desc: &str) -> (Desc, Desc) {
    let parse = |s: &str| Desc::new(serde_json::from_str(s).unwrap_or(Value::Null));
    let d = parse(desc);
    let p = if paid_desc == desc {
        d.clone()
    } else {
        parse(paid_desc)
    };
    (d, p)
}

/// A quote as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// IAK's `tr_id`: unique on the server.
    pub tr_id: i64,
    pub member_id: i64,
    pub mode: Mode,
    pub protocol: Protocol,
    pub ref_id: String,
    pub code: String,
    pub hp: String,
    pub name: String,
    pub period: String,
    pub nominal: Rupiah,
    pub admin: Rupiah,
    pub price: Rupiah,
    pub selling_price: Rupiah,
    /// The biller's cost for the bill, as the biller reported it.
    pub cost: Rupiah,
    pub sheets: u32,
    pub desc: Desc,
    pub paid_desc: Desc,
    /// Who answered the inquiry and will be paid: `sandbox` or an upstream's name.
    pub biller: String,
    /// The biller's own reference for the quote (its tr_id or ref_id), when it has one.
    pub biller_ref: Option<String>,
    /// The upstream's product code (the route's), for live quotes.
    pub upstream_code: Option<String>,
    /// loket's ref_id towards the upstream: the key of upstream pay, status and webhooks.
    pub upstream_ref_id: Option<String>,
    /// For the sandbox biller: how the payment will end.
    pub scenario: Option<PaymentScenario>,
    /// The biller's payment reference, when known in advance (sandbox).
    pub noref: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A quote before it has a `tr_id`.
pub type NewQuote = Quote;

impl Quote {
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }
}

/// How long quotes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteLifetime {
    /// Until the end of the quote's day in Asia/Jakarta (IAK's documented behaviour).
    EndOfDay,
    /// A fixed number of seconds.
    Seconds(i64),
}

impl QuoteLifetime {
    pub fn expires_at(self, created_at: i64) -> i64 {
        match self {
            QuoteLifetime::EndOfDay => crate::jakarta::end_of_day(created_at),
            QuoteLifetime::Seconds(s) => created_at.saturating_add(s),
        }
    }
}

/// Store encoding of a sandbox payment scenario: `success`, `fail:37`, `pending:39:00`,
/// `pending:39:` (never resolves by itself).
pub fn encode_scenario(s: PaymentScenario) -> String {
    match s {
        PaymentScenario::Success => "success".to_string(),
        PaymentScenario::Fail(rc) => format!("fail:{}", rc.code()),
        PaymentScenario::Pending { answer, then } => {
            format!(
                "pending:{}:{}",
                answer.code(),
                then.map(Rc::code).unwrap_or("")
            )
        }
    }
}

pub fn decode_scenario(s: &str) -> Option<PaymentScenario> {
    let mut parts = s.split(':');
    match parts.next()? {
        "success" => Some(PaymentScenario::Success),
        "fail" => Some(PaymentScenario::Fail(Rc::from_code(parts.next()?)?)),
        "pending" => {
            let answer = Rc::from_code(parts.next()?)?;
            let then = match parts.next()? {
                "" => None,
                code => Some(Rc::from_code(code)?),
            };
            Some(PaymentScenario::Pending { answer, then })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_round_trip() {
        for s in [
            PaymentScenario::Success,
            PaymentScenario::Fail(Rc::PaymentFailed),
            PaymentScenario::Fail(Rc::BillerSystemError),
            PaymentScenario::Pending {
                answer: Rc::Pending,
                then: Some(Rc::Success),
            },
            PaymentScenario::Pending {
                answer: Rc::UndefinedError,
                then: Some(Rc::PaymentFailed),
            },
            PaymentScenario::Pending {
                answer: Rc::Pending,
                then: None,
            },
        ] {
            assert_eq!(decode_scenario(&encode_scenario(s)), Some(s));
        }
        assert_eq!(decode_scenario("fail:12"), None);
        assert_eq!(decode_scenario("bogus"), None);
    }

    #[test]
    fn lifetimes() {
        let t = 1_795_280_399; // 23:59:59 WIB
        assert_eq!(QuoteLifetime::EndOfDay.expires_at(t), t + 1);
        assert_eq!(QuoteLifetime::Seconds(300).expires_at(t), t + 300);
    }
}
