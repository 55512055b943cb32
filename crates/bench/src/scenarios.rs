//! The scenarios as functions of a running server: base URL(s), member credentials and a load
//! spec. They prepare their requests, check the server answers one as expected (a clear error
//! otherwise), then drive the load. `run-all`, the single-scenario commands and the smoke test
//! all call these.

use crate::flows::{
    IakInquiryFlow, IsikuotaInquiryFlow, KeyKind, Member, PayFlow, ISIKUOTA_EXPECTED, JSON,
};
use crate::http::HttpClient;
use crate::load::{run_load, Flow, LoadMode, LoadSpec};
use crate::scan;
use crate::stats::LoadResult;
use std::sync::Arc;

/// Closed-loop request preparation: this many operations per second of the run are prepared
/// (the run stops early, and says so, when they run out).
#[derive(Debug, Clone, Copy)]
pub struct RateHints {
    pub inquiry: f64,
    pub pay: f64,
    pub isikuota: f64,
}

/// The default hints: well above what a 2-core machine reaches (a 2-core Xeon answered 55,000
/// inquiries/s and 20,600 payment pairs/s on 2026-12-03; preparing for less cut those runs short).
pub const INQUIRY_RATE_HINT: f64 = 80_000.0;
pub const PAY_RATE_HINT: f64 = 30_000.0;
pub const ISIKUOTA_RATE_HINT: f64 = 60_000.0;

impl Default for RateHints {
    fn default() -> Self {
        RateHints {
            inquiry: INQUIRY_RATE_HINT,
            pay: PAY_RATE_HINT,
            isikuota: ISIKUOTA_RATE_HINT,
        }
    }
}

fn pool(spec: &LoadSpec) -> HttpClient {
    match spec.mode {
        LoadMode::Closed { concurrency } => HttpClient::new(concurrency),
        LoadMode::Open { max_in_flight, .. } => HttpClient::new(max_in_flight.min(1024)),
    }
}

/// Send operation `i` of `flow` once, outside any measurement; `Err` with the reason when it
/// fails (the scenario cannot run).
async fn probe<F: Flow>(flow: &F, i: usize, what: &str) -> Result<(), String> {
    let op = flow.run(&HttpClient::new(1), i).await;
    op.result
        .map_err(|e| format!("{what}: the first request failed: {e}"))
}

/// Sandbox IAK inquiries (signed with the development key), PGAS `0110010000`.
pub async fn iak_inquiries(
    name: &str,
    bases: &[String],
    members: &[Member],
    spec: &LoadSpec,
    hints: RateHints,
) -> Result<LoadResult, String> {
    let tag = crate::flows::run_tag();
    let n = spec.operations(hints.inquiry) + 1;
    let flow = IakInquiryFlow::prepare(
        bases,
        members,
        KeyKind::Sandbox,
        &format!("bi{tag}x"),
        n,
        false,
    )?;
    // Operation n-1 is the probe: the run stops before it in any case but exhaustion.
    probe(&flow, n - 1, name).await?;
    let flow = Arc::new(Truncated {
        inner: flow,
        len: n - 1,
    });
    Ok(run_load(name, flow, pool(spec), spec).await)
}

/// The size of the server's answer to one sandbox inquiry (for the axum baseline's body).
pub async fn inquiry_answer_size(base: &str, member: &Member) -> Result<usize, String> {
    let tag = crate::flows::run_tag();
    let flow = IakInquiryFlow::prepare(
        &[base.to_string()],
        std::slice::from_ref(member),
        KeyKind::Sandbox,
        &format!("bs{tag}x"),
        1,
        false,
    )?;
    let a = HttpClient::new(1)
        .post(flow.uri(0), JSON, flow.body(0))
        .await?;
    match scan::field_str(&a.body, "response_code") {
        Some("00") if a.status == 200 => Ok(a.body.len()),
        _ => Err(format!(
            "the probe inquiry answered HTTP {}: {}",
            a.status,
            scan::excerpt(&a.body)
        )),
    }
}

/// The same signed inquiries against a server that answers a fixed body (the axum baseline):
/// a pool of prepared bodies reused cyclically.
pub async fn fixed_answers(
    name: &str,
    base: &str,
    members: &[Member],
    spec: &LoadSpec,
) -> Result<LoadResult, String> {
    let flow = IakInquiryFlow::prepare(
        &[base.to_string()],
        members,
        KeyKind::Sandbox,
        "ax",
        50_000,
        true,
    )?;
    probe(&flow, 0, name).await?;
    Ok(run_load(name, Arc::new(flow), pool(spec), spec).await)
}

/// Sandbox payments: inquiry then pay-pasca of its tr_id, RC 00 both.
pub async fn payments(
    name: &str,
    bases: &[String],
    members: &[Member],
    spec: &LoadSpec,
    hints: RateHints,
) -> Result<LoadResult, String> {
    let tag = crate::flows::run_tag();
    let n = spec.operations(hints.pay) + 1;
    let flow = PayFlow::prepare(bases, members, KeyKind::Sandbox, &format!("bp{tag}x"), n)?;
    probe(&flow, n - 1, name).await?;
    let flow = Arc::new(Truncated {
        inner: flow,
        len: n - 1,
    });
    Ok(run_load(name, flow, pool(spec), spec).await)
}

/// isikuota sandbox inquiries (`testing: true`), MPBPJS.
pub async fn isikuota_inquiries(
    name: &str,
    bases: &[String],
    members: &[Member],
    spec: &LoadSpec,
    hints: RateHints,
) -> Result<LoadResult, String> {
    let tag = crate::flows::run_tag();
    let n = spec.operations(hints.isikuota) + 1;
    let flow = IsikuotaInquiryFlow::prepare(bases, members, &format!("bk{tag}x"), n)?;
    probe(&flow, n - 1, name)
        .await
        .map_err(|e| format!("{e} (expected {ISIKUOTA_EXPECTED})"))?;
    let flow = Arc::new(Truncated {
        inner: flow,
        len: n - 1,
    });
    Ok(run_load(name, flow, pool(spec), spec).await)
}

/// A flow limited to its first `len` operations (the last prepared one was spent on the probe).
struct Truncated<F> {
    inner: F,
    len: usize,
}

impl<F: Flow> Flow for Truncated<F> {
    fn phases(&self) -> &'static [&'static str] {
        self.inner.phases()
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.len)
    }

    fn run(
        &self,
        http: &HttpClient,
        i: usize,
    ) -> impl std::future::Future<Output = crate::stats::Op> + Send {
        self.inner.run(http, i)
    }
}
