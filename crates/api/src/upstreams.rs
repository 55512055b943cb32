//! Upstreams as the gateway uses them: a connector per upstream (built from its stored record,
//! secrets resolved from the environment where named), with a concurrency limit and a circuit
//! breaker around it. Records are re-read every few seconds, so `loket upstream ...` and
//! `loket route ...` take effect on a running server (and on every instance of a cluster).

use loket_billers::{Connector, HttpVersion, UpstreamSettings};
use loket_store::{Store, UpstreamRecord};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long loaded upstream records are trusted before they are read again.
const RELOAD: Duration = Duration::from_secs(2);

/// Consecutive failures open the breaker for a cool-down; then one trial call is let through
/// (half-open): success closes it, failure opens it again.
pub struct Breaker {
    threshold: u32,
    cooldown_ms: i64,
    failures: AtomicU32,
    open_until_ms: AtomicI64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown_ms: cooldown.as_millis() as i64,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicI64::new(0),
        }
    }

    /// May a call go through now?
    pub fn allows(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = now_ms();
        // Half-open: the first caller after the cool-down takes the trial; others wait it out.
        now >= until
            && self
                .open_until_ms
                .compare_exchange(
                    until,
                    now + self.cooldown_ms,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn is_open(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Acquire);
        until != 0 && now_ms() < until
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until_ms.store(0, Ordering::Release);
    }

    pub fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold {
            self.open_until_ms
                .store(now_ms() + self.cooldown_ms, Ordering::Release);
        }
    }
}

/// One upstream, ready to call.
pub struct Upstream {
    pub record: UpstreamRecord,
    pub connector: Connector,
    pub breaker: Breaker,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Upstream {
    /// A permit within the upstream's concurrency limit, waiting at most the call timeout.
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

fn env_or(literal: &str, var: &Option<String>) -> String {
    match var {
        Some(name) => std::env::var(name).unwrap_or_default(),
        None => literal.to_string(),
    }
}

fn build(record: &UpstreamRecord) -> Result<Upstream, String> {
    let settings = UpstreamSettings {
        name: record.name.clone(),
        kind: record.kind.clone(),
        base_url: record.base_url.clone(),
        username: record.username.clone(),
        api_key: env_or(&record.api_key, &record.api_key_env),
        secret_key: env_or(&record.secret_key, &record.secret_key_env),
        testing: record.testing,
        timeout_ms: record.timeout_ms.max(1) as u64,
        http: HttpVersion::parse(&record.http)
            .map_err(|e| format!("upstream {}: {e}", record.name))?,
    };
    let connector = Connector::from_settings(&settings)?;
    Ok(Upstream {
        record: record.clone(),
        connector,
        breaker: Breaker::new(
            record.breaker_failures.clamp(1, u32::MAX as i64) as u32,
            Duration::from_secs(record.breaker_cooldown_secs.max(0) as u64),
        ),
        permits: Arc::new(Semaphore::new(
            record.max_concurrency.clamp(1, 100_000) as usize
        )),
        timeout: Duration::from_millis(record.timeout_ms.max(1) as u64),
    })
}

/// Most payments to upstreams that write to the database at once (a hold before the call, the
/// outcome after it). The writer commits jobs in arrival order: 10,000 payments arriving together
/// would put 10,000 jobs ahead of every other member's request; with this bound at most this many
/// are ahead, and the rest wait their turn here (docs/performance.md, "Slow upstream").
pub const PAYMENT_WRITES: usize = 128;

/// The loaded upstreams.
pub struct Upstreams {
    inner: Mutex<Loaded>,
    /// Held by the one caller reading the records again: when they go stale under load, the
    /// others go on with the loaded ones instead of all reading the database at once.
    reloading: tokio::sync::Mutex<()>,
    /// Turns of upstream payments at the database writer ([`PAYMENT_WRITES`]).
    writes: Semaphore,
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams {
            inner: Mutex::default(),
            reloading: tokio::sync::Mutex::default(),
            writes: Semaphore::new(PAYMENT_WRITES),
        }
    }
}

#[derive(Default)]
struct Loaded {
    at: Option<Instant>,
    by_name: HashMap<String, Arc<Upstream>>,
}

impl Upstreams {
    /// The upstream `name`, if it exists and is enabled.
    pub async fn get(&self, store: &Store, name: &str) -> Option<Arc<Upstream>> {
        let (fresh, loaded) = {
            let loaded = self.inner.lock().ok()?;
            (
                loaded.at.is_some_and(|at| at.elapsed() < RELOAD),
                loaded.at.is_some(),
            )
        };
        if !fresh {
            // Before the first load everyone waits for it; after it, one caller reloads and the
            // others use the records it replaces (at most a reload's time older).
            let guard = if loaded {
                self.reloading.try_lock().ok()
            } else {
                Some(self.reloading.lock().await)
            };
            let still_stale = self
                .inner
                .lock()
                .ok()?
                .at
                .is_none_or(|at| at.elapsed() >= RELOAD);
            if guard.is_some() && still_stale {
                // Boxed: the store's future is large, and this one lives inside every payment.
                match Box::pin(store.upstreams()).await {
                    Ok(records) => self.reload(records),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reload upstreams; using the loaded ones");
                        if let Ok(mut l) = self.inner.lock() {
                            // Try again after RELOAD, not at every call.
                            l.at = Some(Instant::now());
                        }
                    }
                }
            }
        }
        let loaded = self.inner.lock().ok()?;
        loaded.by_name.get(name).cloned()
    }

    /// A turn to write an upstream payment's hold or outcome (see [`PAYMENT_WRITES`]); waiters
    /// are served in order. Hold it for the one write.
    pub async fn write_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.writes.acquire().await.ok()
    }

    /// Keep the handles (and their breakers) of unchanged records; rebuild changed ones.
    fn reload(&self, records: Vec<UpstreamRecord>) {
        let Ok(mut loaded) = self.inner.lock() else {
            return;
        };
        let mut next = HashMap::new();
        for r in records.into_iter().filter(|r| r.enabled) {
            let kept = loaded
                .by_name
                .get(&r.name)
                .filter(|u| u.record == r)
                .cloned();
            let handle = match kept {
                Some(h) => h,
                None => match build(&r) {
                    Ok(u) => Arc::new(u),
                    Err(e) => {
                        tracing::error!(upstream = %r.name, error = %e, "cannot build the upstream's connector");
                        continue;
                    }
                },
            };
            next.insert(r.name.clone(), handle);
        }
        loaded.by_name = next;
        loaded.at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_the_threshold_and_half_opens_after_the_cooldown() {
        let b = Breaker::new(3, Duration::from_millis(50));
        assert!(b.allows());
        b.failure();
        b.failure();
        assert!(b.allows() && !b.is_open());
        b.failure();
        assert!(b.is_open() && !b.allows());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allows(), "one trial after the cool-down");
        assert!(!b.allows(), "only one trial at a time");
        b.success();
        assert!(b.allows() && !b.is_open());
    }
}
