//! loket's benchmark harness.
//!
//! A load generator that drives real protocol flows over HTTP against a running server (signed
//! IAK sandbox inquiries, inquiry + payment pairs, isikuota inquiries), in a closed loop (fixed
//! concurrency) or an open loop (fixed arrival rate, latency from the scheduled send time), and
//! the baselines measured by the same generator on the same machine: a minimal axum server
//! answering a fixed body (the HTTP ceiling) and durable SQLite commits from one writer (the disk
//! ceiling). `loket-bench run-all` starts everything and writes `bench/results/<date>.md`; see
//! `bench/README.md`.
//!
//! - [`load`]: the closed/open loop engine; [`flows`]: the prepared protocol requests;
//!   [`scenarios`]: each scenario against base URLs; [`slow`]: payments in flight to a slow
//!   upstream.
//! - [`axum_baseline`], [`sqlite_baseline`], [`fake_upstream`]: the baselines and the fake.
//! - [`harness`]: child processes and `run-all`; [`report`]: the markdown results.

pub mod axum_baseline;
pub mod cpu;
pub mod fake_upstream;
pub mod flows;
pub mod harness;
pub mod http;
pub mod load;
pub mod machine;
pub mod report;
pub mod scan;
pub mod scenarios;
pub mod server;
pub mod slow;
pub mod sqlite_baseline;
pub mod stats;
