//! Payments: one per quote, placed as a hold on the member's balance and settled exactly once.

use crate::{Mode, Rc, Rupiah};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Held; the outcome is not known yet.
    Pending,
    /// Paid: the hold was posted.
    Success,
    /// Definitely failed: the hold was voided.
    Failed,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Success => "success",
            PaymentState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        match s {
            "pending" => Some(PaymentState::Pending),
            "success" => Some(PaymentState::Success),
            "failed" => Some(PaymentState::Failed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: i64,
    pub tr_id: i64,
    pub member_id: i64,
    pub mode: Mode,
    pub ref_id: String,
    pub state: PaymentState,
    /// The RC the payment answers now (00, 39, or the failure's).
    pub rc: Rc,
    /// The amount held, then charged: the quote's `selling_price`.
    pub amount: Rupiah,
    pub hold_id: i64,
    /// The biller's reference (empty until paid).
    pub noref: String,
    /// The member's available balance right after this payment's charge was held.
    pub balance_after: Rupiah,
    /// When the resolver should look at a pending payment next.
    pub resolve_at: Option<i64>,
    pub attempts: i64,
    /// Past the age limit and still unknown: waiting for an operator.
    pub flagged: bool,
    /// Who settled it, when a person or a webhook did (`cli:...`, `webhook:...`).
    pub resolved_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a pending payment ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Paid; `cost` is what the biller charged, for the revenue split.
    Success { noref: String, cost: Rupiah },
    /// Definitely failed with this RC: the hold is released in full.
    Failed(Rc),
}
