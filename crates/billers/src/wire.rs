//! Small readers shared by the connectors' transformers: lenient amounts and strings, as real
//! upstreams send them (numbers, numeric strings, `696400.0`).

use loket_client::error::ClientError;
use loket_core::upstream::{InquiryOutcome, PayOutcome};
use loket_core::Rupiah;
use serde_json::Value;

/// Whole rupiah from a JSON integer, a float without fraction (`696400.0`, IAK documents amounts
/// as "Double"), or a string of either (XML answers carry every scalar as a string). Anything
/// else, a fraction included, is not an amount.
pub(crate) fn rupiah(v: &Value) -> Option<Rupiah> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Some(Rupiah::new(i));
            }
            let f = n.as_f64()?;
            // Below 2^53 a float holds every integer exactly.
            (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| Rupiah::new(f as i64))
        }
        Value::String(s) => {
            let s = s.trim();
            let (int, frac) = match s.split_once('.') {
                Some((i, f)) => (i, f),
                None => (s, ""),
            };
            if !frac.bytes().all(|b| b == b'0') {
                return None;
            }
            let digits = int.strip_prefix('-').unwrap_or(int);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            int.parse::<i64>().ok().map(Rupiah::new)
        }
        _ => None,
    }
}

/// A non-negative amount from an optional field, or why not.
pub(crate) fn amount(v: Option<&Value>, field: &str) -> Result<Rupiah, String> {
    let v = v.ok_or_else(|| format!("answer without {field}"))?;
    match rupiah(v) {
        Some(r) if !r.is_negative() => Ok(r),
        _ => Err(format!(
            "answer with an unusable {field}: {}",
            snippet(&v.to_string())
        )),
    }
}

/// Strings as is, numbers and bools as their JSON text; nothing for null, objects and arrays.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `desc.detail[].periode` joined by `,`, when the list is there and names at least one period.
pub(crate) fn detail_periods(desc: &Value) -> Option<String> {
    let details = desc.get("detail")?.as_array()?;
    let periods: Vec<String> = details
        .iter()
        .filter_map(|d| text(d.get("periode")))
        .filter(|p| !p.is_empty())
        .collect();
    (!periods.is_empty()).then(|| periods.join(","))
}

/// The start of an answer body, for a reason string: one line, at most 120 characters.
pub(crate) fn snippet(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    if body.chars().count() > 120 {
        format!("{one_line}...")
    } else {
        one_line
    }
}

/// Why a call got no answer.
pub(crate) fn transport_reason(e: &ClientError) -> String {
    match e {
        ClientError::Timeout => "no answer within the timeout".into(),
        ClientError::Transport(e) => format!("transport error: {e}"),
        ClientError::Channel(e) => format!("transport error: {e}"),
    }
}

/// Logs an inquiry outcome (never a key: none reaches here).
pub(crate) fn log_inquiry(upstream: &str, ref_id: &str, outcome: &InquiryOutcome) {
    match outcome {
        InquiryOutcome::Bill(b) => {
            tracing::debug!(
                upstream,
                ref_id,
                cost = b.cost.get(),
                "upstream inquiry: bill"
            )
        }
        InquiryOutcome::Refused(rc) => {
            tracing::debug!(
                upstream,
                ref_id,
                rc = rc.code(),
                "upstream inquiry: refused"
            )
        }
        InquiryOutcome::Unavailable(why) => {
            tracing::info!(upstream, ref_id, reason = %why, "upstream inquiry: unavailable")
        }
    }
}

/// Logs a payment or status outcome.
pub(crate) fn log_pay(upstream: &str, call: &str, ref_id: &str, outcome: &PayOutcome) {
    match outcome {
        PayOutcome::Success { noref, .. } => {
            tracing::info!(upstream, call, ref_id, noref = %noref, "upstream payment: success")
        }
        PayOutcome::Failed(rc) => {
            tracing::info!(
                upstream,
                call,
                ref_id,
                rc = rc.code(),
                "upstream payment: failed"
            )
        }
        PayOutcome::Pending(why) => {
            tracing::info!(upstream, call, ref_id, reason = %why, "upstream payment: pending")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_read_leniently_but_exactly() {
        for (v, want) in [
            (json!(696400), Some(696_400)),
            (json!(696400.0), Some(696_400)),
            (json!("696400"), Some(696_400)),
            (json!(" 696400.00 "), Some(696_400)),
            (json!("0"), Some(0)),
            (json!(-5), Some(-5)),
            (json!("-5"), Some(-5)),
            (json!(1.5), None),
            (json!("1.5"), None),
            (json!("1e3"), None),
            (json!(""), None),
            (json!("-"), None),
            (json!("12a"), None),
            (json!(null), None),
            (json!([1]), None),
            (json!(true), None),
            (json!("99999999999999999999"), None),
        ] {
            assert_eq!(rupiah(&v), want.map(Rupiah::new), "{v}");
        }
        assert_eq!(amount(Some(&json!(5)), "admin"), Ok(Rupiah::new(5)));
        assert!(amount(Some(&json!(-5)), "admin").is_err());
        assert!(amount(None, "admin").unwrap_err().contains("admin"));
    }

    #[test]
    fn periods_from_details() {
        assert_eq!(
            detail_periods(&json!({"detail": [{"periode": "201901"}, {"periode": 201902}]})),
            Some("201901,201902".into())
        );
        assert_eq!(detail_periods(&json!({"detail": []})), None);
        assert_eq!(detail_periods(&json!({"detail": [{"x": 1}]})), None);
        assert_eq!(detail_periods(&json!({})), None);
        assert_eq!(detail_periods(&json!(null)), None);
    }

    #[test]
    fn snippets_are_short_and_single_line() {
        assert_eq!(snippet("a\nb"), "a b");
        let long = "x".repeat(500);
        assert_eq!(snippet(&long).len(), 123);
    }
}
