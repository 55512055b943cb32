//! Webhook bodies to members when a payment reaches a final state (spec/isikuota.md "Webhook").
//! isikuota members get isikuota's body; IAK members get the same envelope with IAK's field names
//! (see docs/webhooks.md).

use crate::{jakarta, Payment, PaymentState, Protocol, Quote};
use serde_json::{json, Value};

/// The event name and JSON body for a settled payment; `None` while it is pending.
pub fn order_event(
    quote: &Quote,
    payment: &Payment,
    product_name: &str,
    now: i64,
) -> Option<(String, String)> {
    let (event, status) = match payment.state {
        PaymentState::Success => ("order.success", "Success"),
        PaymentState::Failed => ("order.failed", "Failed"),
        PaymentState::Pending => return None,
    };
    let message = match payment.state {
        PaymentState::Success => "Pembayaran tagihan berhasil".to_string(),
        _ => format!("Pembayaran tagihan gagal: {}", payment.rc.message()),
    };
    let data: Value = match quote.protocol {
        Protocol::Isikuota => json!({
            "order_id": quote.tr_id.to_string(),
            "ref_id": quote.ref_id,
            "status": status,
            "product_code": quote.code,
            "product_name": product_name,
            "customer_number": quote.hp,
            "price": quote.selling_price,
            "sn": payment.noref,
            "message": message,
            "created_at": jakarta::datetime(payment.created_at),
            "updated_at": jakarta::datetime(payment.updated_at),
        }),
        Protocol::Iak => json!({
            "tr_id": quote.tr_id,
            "ref_id": quote.ref_id,
            "code": quote.code,
            "hp": quote.hp,
            "tr_name": quote.name,
            "period": quote.period,
            "nominal": quote.nominal,
            "admin": quote.admin,
            "price": quote.price,
            "selling_price": quote.selling_price,
            "response_code": payment.rc.code(),
            "message": if payment.state == PaymentState::Success { "PAYMENT SUCCESS" } else { payment.rc.message() },
            "noref": payment.noref,
            "status": if payment.state == PaymentState::Success { 1 } else { 2 },
            "datetime": jakarta::ymdhis(payment.updated_at),
        }),
    };
    let body = json!({"event": event, "timestamp": jakarta::rfc3339(now), "data": data});
    Some((event.to_string(), body.to_string()))
}
