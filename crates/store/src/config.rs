//! Members and products: read by every protocol request, changed only by the operator (through
//! the CLI, another process, or another instance). Each store keeps copies in memory
//! ([`ConfigCache`]), valid at one `config_version`, a one-row table that triggers on `members`
//! and `products` move whoever writes.
//!
//! A protocol request runs inside [`crate::one_config_read`], whose [`Scope`] records the version
//! its lookups were answered at:
//! - SQLite reads `config_version` at the request's first lookup (a local read, microseconds):
//!   the version is confirmed at once and the request never runs again.
//! - PostgreSQL answers lookups from the cache without asking the database (a round trip each
//!   was most of a paid bill's statements, docs/postgres.md "Group commit"). The version is then
//!   *unconfirmed*, and is confirmed before the request has any effect: by its first statement
//!   (which reads `config_version` first), by the batched write it joins (which checks it in the
//!   same statement), or at its end when it ran no statement. If the database has moved on, the
//!   request is marked stale: nothing was written on the stale copies, the answer is thrown away
//!   and the request runs again with fresh ones. So, on both backends, a change the operator has
//!   committed is seen by every request that has not yet had an effect.

use loket_core::{Member, Product};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

/// Most member and product lookups (hits and misses) kept in memory; beyond it the cache starts
/// over (a bound against lookups of made-up usernames).
const CONFIG_CACHE_ENTRIES: usize = 65_536;

/// The unique columns a member is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberKey {
    Username,
    ApiId,
}

impl MemberKey {
    pub(crate) fn column(self) -> &'static str {
        match self {
            MemberKey::Username => "username",
            MemberKey::ApiId => "api_id",
        }
    }
}

/// In-memory copies of member and product rows, valid while `config_version` stands at
/// `version`.
#[derive(Default)]
pub(crate) struct ConfigCache {
    pub(crate) version: i64,
    /// By username, and by isikuota `api_id`. Shared, not copied, with the requests that read
    /// them (a copy was ~10 allocations per request).
    pub(crate) members_by_username: HashMap<String, Option<Arc<Member>>>,
    pub(crate) members_by_api_id: HashMap<String, Option<Arc<Member>>>,
    pub(crate) products: HashMap<String, Option<Arc<Product>>>,
}

impl ConfigCache {
    /// An empty cache that no version matches yet.
    pub(crate) fn new() -> ConfigCache {
        ConfigCache {
            version: -1,
            ..ConfigCache::default()
        }
    }

    /// The members by `column` (`username` or `api_id`).
    pub(crate) fn members(&self, column: MemberKey) -> &HashMap<String, Option<Arc<Member>>> {
        match column {
            MemberKey::Username => &self.members_by_username,
            MemberKey::ApiId => &self.members_by_api_id,
        }
    }

    pub(crate) fn members_mut(
        &mut self,
        column: MemberKey,
    ) -> &mut HashMap<String, Option<Arc<Member>>> {
        match column {
            MemberKey::Username => &mut self.members_by_username,
            MemberKey::ApiId => &mut self.members_by_api_id,
        }
    }

    /// Forget everything: the database has moved past the cache's version (by how much is not
    /// known).
    pub(crate) fn forget(&mut self) {
        *self = ConfigCache::new();
    }

    /// The cache for a caller that needs rows at least as new as `version`: forgotten when it is
    /// older. (A newer one serves an older `version` too: its rows were read after it.)
    pub(crate) fn at(&mut self, version: i64) -> &mut ConfigCache {
        if self.version < version
            || self.members_by_username.len() + self.members_by_api_id.len() + self.products.len()
                >= CONFIG_CACHE_ENTRIES
        {
            self.members_by_username.clear();
            self.members_by_api_id.clear();
            self.products.clear();
            self.version = version;
        }
        self
    }
}

/// What one protocol request has seen of members and products.
#[derive(Default)]
pub(crate) struct Scope {
    /// The `config_version` its lookups were answered at (`None` before the first).
    version: Cell<Option<i64>>,
    /// Whether the database has confirmed `version` as current during the request.
    confirmed: Cell<bool>,
    /// The database had moved past `version`: the request must run again.
    stale: Cell<bool>,
    /// The request could not reach the database (its answer says so): no use confirming.
    unreachable: Cell<bool>,
}

tokio::task_local! {
    pub(crate) static SCOPE: Scope;
}

/// The request's version and whether it is confirmed; `None` outside a request's scope.
pub(crate) fn current() -> Option<(Option<i64>, bool)> {
    SCOPE
        .try_with(|s| (s.version.get(), s.confirmed.get()))
        .ok()
}

/// The version a write in the request must still find current: `None` when there is nothing to
/// check (confirmed already, or outside a request).
pub(crate) fn unconfirmed() -> Option<i64> {
    match current() {
        Some((Some(v), false)) => Some(v),
        _ => None,
    }
}

/// The request's lookups were answered at `version` (confirmed: just read from the database).
pub(crate) fn answered_at(version: i64, confirmed: bool) {
    let _ = SCOPE.try_with(|s| {
        s.version.set(Some(version));
        if confirmed {
            s.confirmed.set(true);
        }
    });
}

/// The database has confirmed the request's version.
pub(crate) fn confirm() {
    let _ = SCOPE.try_with(|s| s.confirmed.set(true));
}

/// The database has moved past the request's version.
pub(crate) fn mark_stale() {
    let _ = SCOPE.try_with(|s| s.stale.set(true));
}

/// The request could not reach the database.
pub(crate) fn mark_unreachable() {
    let _ = SCOPE.try_with(|s| s.unreachable.set(true));
}

/// What a request ran on members and products stale: refused before it had any effect.
pub(crate) fn stale_error() -> crate::StoreError {
    crate::StoreError::Stale
}

/// How the request ended, read inside its scope: the version it must still confirm (`None`:
/// nothing to confirm, or no point: the database was unreachable), and whether it was stale.
pub(crate) fn outcome() -> (Option<i64>, bool) {
    SCOPE
        .try_with(|s| {
            let confirm = s
                .version
                .get()
                .filter(|_| !s.confirmed.get() && !s.unreachable.get() && !s.stale.get());
            (confirm, s.stale.get())
        })
        .unwrap_or((None, false))
}
