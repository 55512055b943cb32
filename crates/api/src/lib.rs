//! The protocols over HTTP: IAK's postpaid API (`/api/v1/bill/check`, receipts) on loket's core.
//!
//! Error policy: a handler never panics and never answers outside its protocol's envelope. Bad
//! input gets the protocol's format error (IAK RC 107, HTTP 400/413) and changes nothing; a store
//! failure gets RC 91 without detail (the detail goes to the log, never a secret); unknown paths
//! get RC 117 with 404.

pub mod admission;
pub mod config;
pub mod gateway;
pub mod iak;
pub mod isikuota;
pub mod log;
pub mod pdf;
pub mod resolver;
pub mod server;
mod upstream_hooks;
pub mod upstreams;
pub mod webhooks;

pub use config::Config;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use loket_core::QuoteLifetime;
use loket_store::Store;
use std::sync::Arc;

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub quote_lifetime: QuoteLifetime,
    pub upstreams: Arc<upstreams::Upstreams>,
    /// Quotes this instance made, by tr_id (quotes never change once stored).
    pub quotes: Arc<QuoteCache>,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> Result<AppState, String> {
        let quote_lifetime = config.quote_lifetime()?;
        Ok(AppState {
            store,
            config: Arc::new(config),
            quote_lifetime,
            upstreams: Arc::new(upstreams::Upstreams::default()),
            quotes: Arc::new(QuoteCache::default()),
        })
    }

    /// The quote `tr_id` that a payment of `member_id` in `mode` consumes: taken out of the cache
    /// of quotes made here (the payment is its last user there: a repeated payment of the same
    /// tr_id finds it in the store, as it would after an eviction), else read from the store.
    /// A quote of another member or mode stays in the cache.
    pub async fn take_quote(
        &self,
        tr_id: i64,
        member_id: i64,
        mode: loket_core::Mode,
    ) -> Result<Option<loket_core::Quote>, loket_store::StoreError> {
        if let Some(q) = self
            .quotes
            .take_if(tr_id, |q| q.member_id == member_id && q.mode == mode)
        {
            return Ok(Some(q));
        }
        // Boxed: the store's future is large and would size every payment's (gateway::pay).
        Box::pin(self.store.quote(tr_id)).await
    }
}

/// Slots of [`QuoteCache`]: it keeps a quote until a quote 16,384 tr_ids newer takes its slot.
const QUOTE_CACHE: usize = 16_384;

/// A cache of the newest immutable quotes (no invalidation needed), which the payments that
/// follow their inquiries ask for. Shared with the inquiry's answer (`Arc`): putting a quote
/// copies nothing, and the payment that takes it after the answer was sent owns it without a copy
/// either.
///
/// Direct-mapped by tr_id (which the store hands out in sequence): a quote's slot is
/// `tr_id % QUOTE_CACHE`, each behind its own lock. No hashing, no eviction queue, no lock shared
/// by every request (a map and a queue under one mutex were ~3% of an inquiry's CPU:
/// docs/performance.md, round 10c).
pub struct QuoteCache {
    slots: Box<[std::sync::Mutex<Option<std::sync::Arc<loket_core::Quote>>>]>,
}

impl Default for QuoteCache {
    fn default() -> QuoteCache {
        QuoteCache {
            slots: (0..QUOTE_CACHE)
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
        }
    }
}

impl QuoteCache {
    fn slot(&self, tr_id: i64) -> &std::sync::Mutex<Option<std::sync::Arc<loket_core::Quote>>> {
        &self.slots[tr_id.rem_euclid(QUOTE_CACHE as i64) as usize]
    }

    /// The quote `tr_id`, left in the cache (the tests' view: payments take quotes out with
    /// [`QuoteCache::take_if`]).
    #[cfg(test)]
    pub fn get(&self, tr_id: i64) -> Option<std::sync::Arc<loket_core::Quote>> {
        let slot = self.slot(tr_id).lock().ok()?;
        slot.as_ref().filter(|q| q.tr_id == tr_id).cloned()
    }

    /// The quote `tr_id`, taken out of the cache (no copy) when `wanted` accepts it; a quote it
    /// refuses stays.
    pub fn take_if(
        &self,
        tr_id: i64,
        wanted: impl FnOnce(&loket_core::Quote) -> bool,
    ) -> Option<loket_core::Quote> {
        let taken = {
            let mut slot = self.slot(tr_id).lock().ok()?;
            match slot.as_deref() {
                Some(q) if q.tr_id == tr_id && wanted(q) => slot.take()?,
                _ => return None,
            }
        };
        // A copy only when the inquiry's answer still holds it.
        Some(std::sync::Arc::try_unwrap(taken).unwrap_or_else(|shared| (*shared).clone()))
    }

    pub fn put(&self, q: std::sync::Arc<loket_core::Quote>) {
        let old = match self.slot(q.tr_id).lock() {
            Ok(mut slot) => slot.replace(q),
            Err(_) => return,
        };
        // The quote it replaces (16,384 tr_ids older) is freed outside the lock.
        drop(old);
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/bill/check", any(iak::bill_check))
        .route("/api/v1/bill/check/", any(iak::bill_check))
        .route("/api/v1/bill/check/{kind}", any(iak::bill_check_typed))
        .route("/webhooks/{kind}/{upstream}", post(upstream_hooks::receive))
        .route("/v1/order", any(isikuota::order))
        .route("/v1/balance", any(isikuota::balance))
        .route("/api/v1/download/{tr_id}", get(iak::receipt_pdf))
        .route("/api/v1/download/{tr_id}/{format}", get(iak::receipt_json))
        .fallback(not_found)
        .layer(log::RequestLogLayer)
        .with_state(state)
}

/// Unknown paths: 404 in the envelope of the protocol the path belongs to.
async fn not_found(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    if uri.path().starts_with("/v1/") {
        isikuota::not_found().into_response()
    } else {
        iak::not_found(headers).await
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "database": state.store.backend()})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(
                    serde_json::json!({"status": "unavailable", "database": state.store.backend()}),
                ),
            )
                .into_response()
        }
    }
}

/// Serve until `shutdown` completes, then finish in-flight requests. Runs the background workers
/// (the pending-payment resolver) for as long as the server runs.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let resolver = tokio::spawn(resolver::run(state.clone(), stop_rx.clone()));
    let webhooks = tokio::spawn(webhooks::run(state.clone(), stop_rx));
    let opts = state.config.limits.server_options();
    let result = server::serve_router(listener, router(state), opts, shutdown).await;
    let _ = stop_tx.send(true);
    let _ = resolver.await;
    let _ = webhooks.await;
    result
}

#[cfg(test)]
mod quote_cache_tests {
    use super::QuoteCache;
    use loket_core::Quote;

    fn quote(tr_id: i64, member_id: i64) -> Quote {
        Quote {
            tr_id,
            ..loket_store::testing::sandbox_quote(member_id, &format!("r{tr_id}"), 10_000, 9_800)
        }
    }

    #[test]
    fn take_if_takes_only_what_it_is_asked_for() {
        let cache = QuoteCache::default();
        let shared = std::sync::Arc::new(quote(1, 10));
        cache.put(shared.clone());
        // Another member's payment leaves the quote where it is.
        assert!(cache.take_if(1, |q| q.member_id == 11).is_none());
        assert_eq!(cache.get(1).map(|q| q.member_id), Some(10));
        // Its own takes it (a copy while the inquiry's answer still holds it, else the quote
        // itself): a second take (a repeated payment) goes to the store.
        drop(shared);
        assert_eq!(
            cache.take_if(1, |q| q.member_id == 10).map(|q| q.tr_id),
            Some(1)
        );
        assert!(cache.take_if(1, |_| true).is_none());
        assert!(cache.get(1).is_none());
        assert!(cache.take_if(2, |_| true).is_none());
    }

    /// A quote stays until one `QUOTE_CACHE` tr_ids newer takes its slot; a lookup of the older
    /// tr_id never answers the newer quote.
    #[test]
    fn a_quote_stays_until_a_newer_one_takes_its_slot() {
        let cache = QuoteCache::default();
        let n = super::QUOTE_CACHE as i64;
        for tr_id in 100..100 + n {
            cache.put(std::sync::Arc::new(quote(tr_id, 10)));
        }
        assert_eq!(cache.get(100).map(|q| q.tr_id), Some(100));
        assert_eq!(cache.get(99 + n).map(|q| q.tr_id), Some(99 + n));
        cache.put(std::sync::Arc::new(quote(100 + n, 10)));
        assert!(cache.get(100).is_none());
        assert!(cache.take_if(100, |_| true).is_none());
        assert_eq!(
            cache.take_if(100 + n, |_| true).map(|q| q.tr_id),
            Some(100 + n)
        );
        assert_eq!(cache.get(101).map(|q| q.tr_id), Some(101));
    }
}
