//! The background resolver: settles pending payments whose time has come. For the sandbox biller
//! the quote's scenario says how; the store's `resolve_at` survives restarts, so a payment left
//! pending by a killed server is settled after the next start.

use crate::gateway::{apply_outcome, sandbox_settlement, upstream_payment};
use crate::AppState;
use std::time::Duration;

/// How often the resolver looks for due payments.
const TICK: Duration = Duration::from_millis(500);
/// Most payments settled per tick.
const BATCH: usize = 256;
/// How long a claimed payment is left to this worker before another may take it.
const LEASE_SECS: i64 = 60;

pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = resolve_due(&state).await {
            tracing::warn!(error = %e, "resolver: store error, will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Settle every due payment once; answers how many were settled.
pub async fn resolve_due(state: &AppState) -> Result<usize, loket_store::StoreError> {
    let now = loket_core::jakarta::now();
    let due = state
        .store
        .claim_due_payments(now, LEASE_SECS, BATCH)
        .await?;
    let mut settled = 0;
    for payment in due {
        let Some(quote) = state.store.quote(payment.tr_id).await? else {
            continue;
        };
        if quote.scenario.is_some() {
            match sandbox_settlement(&quote) {
                Some(outcome) => {
                    let p = state
                        .store
                        .settle_payment(payment.id, outcome, Some("resolver".into()))
                        .await?;
                    tracing::info!(
                        tr_id = p.tr_id,
                        state = p.state.as_str(),
                        rc = p.rc.code(),
                        "resolver settled a payment"
                    );
                    settled += 1;
                }
                // Never resolves by itself: only an operator can decide.
                None => {
                    state
                        .store
                        .mark_pending(payment.id, payment.rc, None)
                        .await?;
                }
            }
            continue;
        }
        // A live payment: ask the upstream that has it.
        let Some(up) = state.upstreams.get(&state.store, &quote.biller).await else {
            tracing::warn!(tr_id = quote.tr_id, upstream = %quote.biller, "pending payment of an unknown upstream: will retry");
            let retry = loket_core::jakarta::now() + 60;
            state
                .store
                .mark_pending(payment.id, payment.rc, Some(retry))
                .await?;
            continue;
        };
        let outcome = up.connector.status(&upstream_payment(&quote)).await;
        let p = apply_outcome(
            state,
            &quote,
            &payment,
            outcome,
            Some("resolver".into()),
            &up.breaker,
        )
        .await?;
        if p.state != loket_core::PaymentState::Pending {
            tracing::info!(
                tr_id = p.tr_id,
                state = p.state.as_str(),
                rc = p.rc.code(),
                "resolver settled a payment"
            );
            settled += 1;
        }
    }
    Ok(settled)
}
