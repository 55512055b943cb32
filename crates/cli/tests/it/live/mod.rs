//! Live mode (spec/upstreams.md, spec/ledger.md): loket A in live mode in front of upstreams —
//! another loket B in `--sandbox` mode (through the `iak` and the `isikuota` connectors), a fake
//! Digiflazz, and fake IAK upstreams that misbehave on purpose — and what A's ledger says after
//! each outcome.

mod chain;
mod crash;
mod digiflazz;
mod fake;
mod faults;
mod h2c;

use crate::helpers::*;
use loket_api::Config;
use loket_core::{Mode, Payment, PaymentState, Rupiah};
use loket_store::{Route, UpstreamRecord};
use std::time::Duration;

/// A's configuration: quotes that live an hour, status checks every second, and "never
/// received" believed 2 s after the payment.
pub fn a_config() -> Config {
    let mut c = payments_config();
    c.resolver.backoff_secs = vec![1];
    c.resolver.not_received_grace_secs = 2;
    c
}

/// B's configuration: the whole server a sandbox; pending payments settle after 1 s.
pub fn b_config() -> Config {
    let mut c = payments_config();
    c.sandbox.enabled = true;
    c.sandbox.pending_resolve_secs = 1;
    c
}

/// An upstream record with test-friendly defaults (5 s timeout, breaker of 5, 30 s cool-down).
pub fn upstream(
    name: &str,
    kind: &str,
    base_url: &str,
    username: &str,
    key: &str,
) -> UpstreamRecord {
    UpstreamRecord {
        name: name.into(),
        kind: kind.into(),
        base_url: base_url.into(),
        username: username.into(),
        api_key: key.into(),
        api_key_env: None,
        secret_key: String::new(),
        secret_key_env: None,
        testing: false,
        timeout_ms: 5_000,
        max_concurrency: 64,
        breaker_failures: 5,
        breaker_cooldown_secs: 30,
        enabled: true,
        http: "auto".into(),
    }
}

/// B's member as A's `iak` upstream named `name`.
pub fn iak_upstream_to(name: &str, b: &TestApp, bm: &TestMember) -> UpstreamRecord {
    upstream(name, "iak", &b.base_url, &bm.username, &bm.api_key)
}

impl TestApp {
    pub async fn add_upstream(&self, u: UpstreamRecord) {
        self.store
            .put_upstream(u)
            .await
            .expect("the upstream is stored");
    }

    /// Route `product` through `upstream` at `position` (the upstream's code: `upstream_code`,
    /// or the product's own).
    pub async fn add_route(
        &self,
        product: &str,
        upstream: &str,
        position: i64,
        upstream_code: Option<&str>,
    ) {
        self.store
            .put_route(Route {
                product_code: product.into(),
                position,
                upstream: upstream.into(),
                upstream_code: upstream_code.unwrap_or(product).into(),
                cost_limit: None,
            })
            .await
            .expect("the route is stored");
    }

    /// A member with `deposit` on its live balance.
    pub async fn live_member(&self, username: &str, deposit: i64) -> TestMember {
        let m = self.create_member(username).await;
        self.store
            .deposit(m.id, Mode::Live, Rupiah::new(deposit))
            .await
            .expect("the deposit");
        m
    }

    /// The member's live (balance, held).
    pub async fn live_balance(&self, m: &TestMember) -> (i64, i64) {
        let b = self.store.balance(m.id, Mode::Live).await.unwrap();
        (b.balance.get(), b.held.get())
    }

    /// Waits until the payment of `tr_id` is no longer pending; answers it.
    pub async fn settled(&self, tr_id: i64, limit: Duration) -> Payment {
        eventually(
            limit,
            &format!("payment {tr_id} to settle"),
            || async move {
                self.payment(tr_id)
                    .await
                    .filter(|p| p.state != PaymentState::Pending)
            },
        )
        .await
    }

    /// An account's (balance, credits pending), read behind the store (`upstream:NAME`,
    /// `revenue`...); (0, 0) for an account that does not exist yet.
    pub fn account(&self, code: &str) -> (i64, i64) {
        account(&self.database_url, code)
    }
}

/// An account of the database at `url` (see [`TestApp::account`]), on either backend.
pub fn account(url: &str, code: &str) -> (i64, i64) {
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_".contains(&b)),
        "an account code: {code}"
    );
    // PostgreSQL shards house accounts' sums; the view adds them up (docs/postgres.md).
    let table = if url.starts_with("postgres") {
        "account_balances"
    } else {
        "accounts"
    };
    let sql = format!(
        "SELECT credits_posted - debits_posted, credits_pending FROM {table} WHERE code = '{code}'"
    );
    match loket_store::testing::query_row(url, &sql).expect("the database answers") {
        Some(v) => (v[0], v[1]),
        None => (0, 0),
    }
}

/// The live payment answer says `rc` with its documented message.
pub fn assert_rc(r: &loket_client::iak::IakResponse, rc: &str, message: &str) {
    assert_eq!(r.http_status, 200, "HTTP status: {}", r.body);
    assert_eq!(r.rc().as_deref(), Some(rc), "response_code: {}", r.body);
    assert_eq!(
        r.field("message").as_deref(),
        Some(message),
        "message: {}",
        r.body
    );
}
