//! Delivers the webhook outbox: each pending webhook is POSTed with `X-Signature` (HMAC-SHA256 of
//! the raw body with the member's `secret_key`) until a 2xx, with backoff, at most
//! `webhooks.max_attempts` times. The outbox is in the database, so deliveries survive restarts.

use crate::AppState;
use loket_store::{Delivery, Webhook};
use std::time::Duration;

const TICK: Duration = Duration::from_millis(250);
/// Most webhooks attempted per tick (and so in flight at once).
const BATCH: usize = 64;

/// `X-Signature`: lowercase hex HMAC-SHA256 of the raw body with the member's `secret_key`.
pub fn signature(secret_key: &str, body: &str) -> String {
    loket_client::canonical::sign(secret_key, body)
}

pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(state.config.webhooks.timeout_ms))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build an HTTP client; webhooks stay queued");
            return;
        }
    };
    loop {
        if let Err(e) = deliver_due(&state, &client).await {
            tracing::warn!(error = %e, "webhooks: store error, will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn deliver_due(
    state: &AppState,
    client: &reqwest::Client,
) -> Result<(), loket_store::StoreError> {
    // The lease outlasts an attempt's timeout, so one worker at a time attempts a webhook.
    let lease = (state.config.webhooks.timeout_ms / 1000 + 30) as i64;
    let due = state
        .store
        .claim_due_webhooks(loket_core::jakarta::now(), lease, BATCH)
        .await?;
    // Attempt them together: a slow receiver must not delay the others.
    let mut set = tokio::task::JoinSet::new();
    for w in due {
        let state = state.clone();
        let client = client.clone();
        set.spawn(async move {
            let outcome = attempt(&state, &client, &w).await;
            state.store.record_delivery(w.id, outcome).await
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok(Err(e)) = joined {
            return Err(e);
        }
    }
    Ok(())
}

async fn attempt(state: &AppState, client: &reqwest::Client, w: &Webhook) -> Delivery {
    let member = match state.store.member_by_id(w.member_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return retry(state, w, None, "member not found".into()),
        Err(e) => return retry(state, w, None, format!("store: {e}")),
    };
    let sig = signature(&member.secret_key, &w.body);
    let sent = client
        .post(&w.url)
        .header("Content-Type", "application/json")
        .header("X-Signature", sig)
        .header("X-Type-Transaction", "ppob")
        .body(w.body.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            tracing::info!(webhook = w.id, event = %w.event, status = resp.status().as_u16(), "webhook delivered");
            Delivery::Delivered {
                status: resp.status().as_u16(),
            }
        }
        Ok(resp) => retry(
            state,
            w,
            Some(resp.status().as_u16()),
            format!("HTTP {}", resp.status().as_u16()),
        ),
        // reqwest's error text names the URL but never the body or headers.
        Err(e) => retry(state, w, None, e.without_url().to_string()),
    }
}

fn retry(state: &AppState, w: &Webhook, status: Option<u16>, error: String) -> Delivery {
    let cfg = &state.config.webhooks;
    let attempts = w.attempts + 1;
    let next_attempt_at = if attempts >= cfg.max_attempts {
        tracing::warn!(webhook = w.id, attempts, %error, "webhook failed for good");
        None
    } else {
        let i = (w.attempts as usize).min(cfg.backoff_ms.len().saturating_sub(1));
        let wait_ms = cfg.backoff_ms.get(i).copied().unwrap_or(60_000);
        // Round up to whole seconds: the outbox schedules in seconds.
        Some(loket_core::jakarta::now() + wait_ms.div_ceil(1000) as i64)
    };
    Delivery::Retry {
        status,
        error,
        next_attempt_at,
    }
}
