//! loket's integration tests: one binary (faster to link than one per file) that starts the real
//! server on port 0 against a fresh database per test and talks to it over HTTP, plus the `loket`
//! binary as a process. See `helpers.rs` for the harness.
//!
//! Every test is `#[each_backend]`: its body runs once on SQLite (`module::test::sqlite`) and
//! once on PostgreSQL (`module::test::postgres`, a schema of its own on the server named by
//! `LOKET_TEST_DATABASE_URL`; ignored, with the reason, when that is not set).

mod backend;
mod bad_input;
mod cli;
mod concurrency;
mod crash;
mod determinism;
mod helpers;
mod http1;
mod iak_inquiry;
mod instances;
mod isikuota;
mod live;
mod payments;
mod php;
mod pricelist;
mod rc_rule;
mod receipts;
mod ref_id;
mod signatures;
mod status;
mod webhooks;
