//! Group commit on PostgreSQL: the two writes of every sandbox paid bill (its quote, and its
//! payment placed and settled at once) are what a national peak is made of. Each has a
//! [`Batcher`]: requests queue their job, and a collector sends whatever has queued (up to
//! [`MAX_BATCH`]) as one set-based statement: one round trip, one executor start, one commit
//! for all of them, each request answered once that commit is durable. With a few batches in
//! flight at once (`in_flight`), jobs that arrive meanwhile queue for the next one, so batches
//! grow with the load and a lone request waits for nobody.
//!
//! A batch never decides anything a single statement would decide differently: whatever is not
//! plain (a duplicate, a member short of balance for the batch, an isikuota testing payment, a
//! webhook due, any database error of the batch) comes back [`Batched::Alone`], and the caller
//! runs that job by itself through the single-statement path, which decides it exactly as
//! before. docs/postgres.md, "Group commit", has the measurements.

use super::payments::row_to_payment_at;
use super::{describe, Fail, TxResult};
use crate::{Placed, StoreError};
use deadpool_postgres::Pool;
use loket_core::quote::{encode_scenario, NewQuote};
use loket_core::Settlement;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most jobs in one statement.
pub(crate) const MAX_BATCH: usize = 256;
/// Most jobs waiting for a batch; senders wait beyond it (backpressure).
const QUEUE: usize = 4096;

/// A job's result from a batch.
pub(crate) enum Batched<T> {
    Done(T),
    /// Not done by the batch, nothing written for it: run it by itself.
    Alone,
}

/// The job comes back with its result (a job run alone needs itself again).
type Reply<J, R> = oneshot::Sender<TxResult<(J, Batched<R>)>>;

/// A job in the queue: when it came, and where its answer goes.
struct Queued<J, R> {
    job: J,
    reply: Reply<J, R>,
    at: Instant,
}

/// Jobs of one kind, run in batches by a collector task.
pub(crate) struct Batcher<J, R> {
    tx: mpsc::Sender<Queued<J, R>>,
}

impl<J: Send + Sync + 'static, R: Send + 'static> Batcher<J, R> {
    /// Start the collector: `run` gets a batch of jobs and answers one result per job, in order.
    /// At most `in_flight` batches run at once.
    pub(crate) fn start<F, Fut>(run: F, in_flight: usize) -> Batcher<J, R>
    where
        F: Fn(Arc<Vec<J>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TxResult<Vec<Batched<R>>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(collect(rx, Arc::new(run), in_flight.max(1)));
        Batcher { tx }
    }

    /// Run `job` in the next batch; answered, with the job, once that batch's commit is durable
    /// (or failed).
    pub(crate) async fn run(&self, job: J) -> TxResult<(J, Batched<R>)> {
        let (reply, answer) = oneshot::channel();
        let at = Instant::now();
        self.tx
            .send(Queued { job, reply, at })
            .await
            .map_err(|_| StoreError::Database("the batch collector has stopped".into()))?;
        let answer = answer
            .await
            .map_err(|_| Fail::from(StoreError::Database("a batch dropped a job".into())))?;
        if answer.is_err() {
            // Only a batch without a connection fails its jobs (crate::config).
            crate::config::mark_unreachable();
        }
        answer
    }
}

async fn collect<J, R, F, Fut>(mut rx: mpsc::Receiver<Queued<J, R>>, run: Arc<F>, in_flight: usize)
where
    J: Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(Arc<Vec<J>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TxResult<Vec<Batched<R>>>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    // When a batch last found no connection, and why: jobs that were already waiting then have
    // waited through that attempt, and fail with it rather than wait through another (each
    // request waits for a connection once, as a single statement would: pool_timeout_secs).
    let unreachable: Arc<Mutex<Option<(Instant, String)>>> = Arc::new(Mutex::new(None));
    while let Some(first) = rx.recv().await {
        // A slot first, then whatever queued meanwhile: while every slot is busy, jobs gather
        // for the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let failed = unreachable.lock().map(|u| u.clone()).unwrap_or(None);
        let mut jobs = Vec::with_capacity(16);
        let mut replies = Vec::with_capacity(16);
        let mut next = Some(first);
        while jobs.len() < MAX_BATCH {
            let Some(q) = next.take().or_else(|| rx.try_recv().ok()) else {
                break;
            };
            match &failed {
                Some((when, message)) if q.at <= *when => {
                    let _ = q
                        .reply
                        .send(Err(StoreError::Database(message.clone()).into()));
                }
                _ => {
                    jobs.push(q.job);
                    replies.push(q.reply);
                }
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let run = run.clone();
        let unreachable = unreachable.clone();
        tokio::spawn(async move {
            let n = replies.len();
            let jobs = Arc::new(jobs);
            let results = run(jobs.clone()).await;
            // `run` keeps no reference to the jobs once it has answered.
            let jobs = Arc::try_unwrap(jobs).unwrap_or_else(|_| Vec::new());
            match results {
                Ok(results) if results.len() == n && jobs.len() == n => {
                    for ((reply, job), r) in replies.into_iter().zip(jobs).zip(results) {
                        let _ = reply.send(Ok((job, r)));
                    }
                }
                Ok(results) => {
                    tracing::error!(
                        jobs = n,
                        results = results.len(),
                        "a batch answered the wrong number of results"
                    );
                    for (reply, job) in replies.into_iter().zip(jobs) {
                        let _ = reply.send(Ok((job, Batched::Alone)));
                    }
                }
                // The database refused the batch (a conflict with a concurrent instance, a
                // constraint): each job alone finds its own answer. Without a connection there
                // is nothing to run them on: the error is theirs.
                Err(Fail::Pg(e)) if e.as_db_error().is_some() => {
                    tracing::debug!(jobs = n, error = %describe(&e), "a batch failed; its jobs run alone");
                    for (reply, job) in replies.into_iter().zip(jobs) {
                        let _ = reply.send(Ok((job, Batched::Alone)));
                    }
                }
                Err(e) => {
                    let message = match StoreError::from(e) {
                        StoreError::Database(m) => m,
                        e => e.to_string(),
                    };
                    if let Ok(mut u) = unreachable.lock() {
                        *u = Some((Instant::now(), message.clone()));
                    }
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Database(message.clone()).into()));
                    }
                }
            }
            drop(slot);
        });
    }
}

/// A job and the config version its request must still find current (crate::config), if any.
pub(crate) type Checked<J> = (J, Option<i64>);

/// The batchers of one store.
pub(crate) struct Batches {
    pub quotes: Batcher<Checked<NewQuote>, i64>,
    pub sandbox_payments: Batcher<Checked<(i64, Settlement)>, Placed>,
}

impl Batches {
    /// Collectors for `pool`, each with at most `in_flight` batches at once.
    pub(crate) fn start(pool: Pool, in_flight: usize) -> Batches {
        let p = pool.clone();
        let quotes = Batcher::start(
            move |jobs| {
                let pool = p.clone();
                async move { insert_quotes(&pool, &jobs).await }
            },
            in_flight,
        );
        let sandbox_payments = Batcher::start(
            move |jobs| {
                let pool = pool.clone();
                async move { place_and_settle(&pool, &jobs).await }
            },
            in_flight,
        );
        Batches {
            quotes,
            sandbox_payments,
        }
    }
}

async fn client(pool: &Pool) -> TxResult<deadpool_postgres::Object> {
    pool.get().await.map_err(|e| {
        let why = match &e {
            deadpool_postgres::PoolError::Backend(e) => describe(e),
            e => e.to_string(),
        };
        Fail::from(StoreError::Database(format!(
            "no database connection: {why}"
        )))
    })
}

/// The quotes of `jobs` in one INSERT; their tr_ids.
async fn insert_quotes(pool: &Pool, jobs: &[Checked<NewQuote>]) -> TxResult<Vec<Batched<i64>>> {
    let n = jobs.len();
    // The first job of each (member, mode, ref_id) goes in; later ones are duplicates.
    let mut first: HashMap<(i64, &str, &str), usize> = HashMap::with_capacity(n);
    let mut sent = Vec::with_capacity(n);
    for (i, (q, expected)) in jobs.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(v) =
            first.entry((q.member_id, q.mode.as_str(), q.ref_id.as_str()))
        {
            v.insert(i);
            sent.push((q, *expected));
        }
    }
    let col = |f: fn(&NewQuote) -> i64| sent.iter().map(|(q, _)| f(q)).collect::<Vec<i64>>();
    let text = |f: for<'a> fn(&'a NewQuote) -> &'a str| {
        sent.iter().map(|(q, _)| f(q)).collect::<Vec<&str>>()
    };
    let opt = |f: for<'a> fn(&'a NewQuote) -> Option<&'a str>| {
        sent.iter()
            .map(|(q, _)| f(q))
            .collect::<Vec<Option<&str>>>()
    };
    let desc: Vec<String> = sent.iter().map(|(q, _)| q.desc.to_string()).collect();
    // Stored whole; most bills' is the desc itself (one shared tree: `Quote::paid_desc`).
    let paid_desc: Vec<String> = sent
        .iter()
        .zip(&desc)
        .map(|((q, _), d)| {
            if std::sync::Arc::ptr_eq(&q.paid_desc, &q.desc) || q.paid_desc == q.desc {
                d.clone()
            } else {
                q.paid_desc.to_string()
            }
        })
        .collect();
    let scenario: Vec<Option<String>> = sent
        .iter()
        .map(|(q, _)| q.scenario.map(encode_scenario))
        .collect();
    let expected: Vec<Option<i64>> = sent.iter().map(|(_, e)| *e).collect();
    let c = client(pool).await?;
    let st = c
        .prepare_cached(
            "INSERT INTO quotes (member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id) \
             SELECT member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id \
               FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::TEXT[], $16::TEXT[], $17::TEXT[], $18::TEXT[], $19::TEXT[], $20::TEXT[], $21::BIGINT[], $22::BIGINT[], $23::TEXT[], $24::TEXT[], $25::BIGINT[]) \
                 AS j (member_id, mode, protocol, ref_id, code, hp, name, period, nominal, admin, price, selling_price, cost, sheets, desc_json, paid_desc_json, biller, biller_ref, scenario, noref, created_at, expires_at, upstream_code, upstream_ref_id, expected) \
              WHERE j.expected IS NULL OR j.expected = (SELECT version FROM config_version WHERE id = 1) \
             ON CONFLICT (member_id, mode, ref_id) DO NOTHING RETURNING tr_id, member_id, mode, ref_id",
        )
        .await?;
    let rows = c
        .query(
            &st,
            &[
                &col(|q| q.member_id),
                &text(|q| q.mode.as_str()),
                &text(|q| q.protocol.as_str()),
                &text(|q| &q.ref_id),
                &text(|q| &q.code),
                &text(|q| &q.hp),
                &text(|q| &q.name),
                &text(|q| &q.period),
                &col(|q| q.nominal.get()),
                &col(|q| q.admin.get()),
                &col(|q| q.price.get()),
                &col(|q| q.selling_price.get()),
                &col(|q| q.cost.get()),
                &col(|q| i64::from(q.sheets)),
                &desc,
                &paid_desc,
                &text(|q| &q.biller),
                &opt(|q| q.biller_ref.as_deref()),
                &scenario,
                &text(|q| &q.noref),
                &col(|q| q.created_at),
                &col(|q| q.expires_at),
                &opt(|q| q.upstream_code.as_deref()),
                &opt(|q| q.upstream_ref_id.as_deref()),
                &expected,
            ],
        )
        .await?;
    let mut tr_ids: HashMap<(i64, String, String), i64> = HashMap::with_capacity(rows.len());
    for r in &rows {
        tr_ids.insert((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?), r.try_get(0)?);
    }
    // Not inserted (a ref_id used before, or twice here; a request that saw an older config
    // version): alone, the single INSERT answers as it always has.
    Ok(jobs
        .iter()
        .enumerate()
        .map(|(i, (q, _))| {
            let key = (q.member_id, q.mode.as_str(), q.ref_id.as_str());
            let owned = (key.0, key.1.to_string(), key.2.to_string());
            match tr_ids.get(&owned) {
                Some(&tr_id) if first.get(&key) == Some(&i) => Batched::Done(tr_id),
                _ => Batched::Alone,
            }
        })
        .collect())
}

/// The built-in sandbox's payments of `jobs` (tr_id, immediate outcome), placed and settled by
/// `loket_place_and_settle_batch` (migrations/postgres/0003_group_commit.sql). A tr_id a second
/// time in the batch is not sent: alone, it finds the first one's payment.
async fn place_and_settle(
    pool: &Pool,
    jobs: &[Checked<(i64, Settlement)>],
) -> TxResult<Vec<Batched<Placed>>> {
    let n = jobs.len();
    let mut sent = std::collections::HashSet::with_capacity(n);
    let mut tr_ids = Vec::with_capacity(n);
    let mut success = Vec::with_capacity(n);
    let mut noref = Vec::with_capacity(n);
    let mut cost = Vec::with_capacity(n);
    let mut rc = Vec::with_capacity(n);
    let mut expected = Vec::with_capacity(n);
    for ((tr_id, outcome), e) in jobs {
        if !sent.insert(*tr_id) {
            continue;
        }
        let (s, nr, c, r) = super::payments::outcome_args(outcome);
        tr_ids.push(*tr_id);
        success.push(s);
        noref.push(nr);
        cost.push(c);
        rc.push(r);
        expected.push(*e);
    }
    let now = loket_core::jakarta::now();
    let c = client(pool).await?;
    let st = c
        .prepare_cached(&format!(
            "SELECT o_status, {} FROM loket_place_and_settle_batch($1, $2, $3, $4, $5, $6, $7)",
            *super::payments::O_PAYMENT
        ))
        .await?;
    let rows = c
        .query(
            &st,
            &[&tr_ids, &success, &noref, &cost, &rc, &expected, &now],
        )
        .await?;
    // One row per tr_id sent, in order.
    let mut answers = rows.iter();
    let mut seen = std::collections::HashSet::with_capacity(n);
    jobs.iter()
        .map(|((tr_id, _), _)| {
            if !seen.insert(*tr_id) {
                return Ok(Batched::Alone);
            }
            let Some(r) = answers.next() else {
                return Ok(Batched::Alone);
            };
            let status: &str = r.try_get(0)?;
            Ok(match status {
                "new" => Batched::Done(Placed::New(row_to_payment_at(r, 1)?)),
                "existing" => Batched::Done(Placed::Existing(row_to_payment_at(r, 1)?)),
                _ => Batched::Alone,
            })
        })
        .collect()
}
