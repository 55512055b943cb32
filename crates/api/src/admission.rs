//! Turns for new connections' first requests, taken in rotation between peer addresses.
//!
//! Why: a client that opens thousands of connections and sends on all of them at once (10,000
//! payments in flight, one connection each) makes them readable together. Served in readiness
//! order, every other client's request that became readable after them waited for all of their
//! reading, parsing, signature checks and ledger holds (docs/performance.md, rounds 9, 10b and 13).
//! Here a connection's first run (from its first bytes until it first waits on anything: more
//! bytes, the database, an upstream) needs a turn; at most `turns` first runs go at once, and a
//! freed turn goes to the next peer address in rotation, so one address's burst is served
//! interleaved with everybody else's new connections. Requests on connections that already
//! served their first run take no turn: they are not held back by a burst of new connections.
//!
//! Bounded: waiters are connections already counted by the listener's `max_connections`; a
//! waiter costs one small channel. Behind a reverse proxy every peer is the proxy: the rotation
//! is then first come, first served, as before.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// Turns for first runs, shared by the listener's connections.
#[derive(Debug)]
pub struct Admission {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Turns nobody holds.
    free: usize,
    /// Each peer's waiting connections, first come first served.
    waiting: HashMap<IpAddr, VecDeque<oneshot::Sender<Turn>>>,
    /// Peers with waiting connections, in the order their next turn comes.
    rotation: VecDeque<IpAddr>,
}

/// A held turn; dropping it hands it to the next waiter in rotation.
#[derive(Debug)]
pub struct Turn {
    admission: Arc<Admission>,
}

impl Admission {
    /// `turns` first runs at once (at least one).
    pub fn new(turns: usize) -> Arc<Admission> {
        Arc::new(Admission {
            state: Mutex::new(State {
                free: turns.max(1),
                ..State::default()
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that changes it: a panic elsewhere while
        // the lock was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait for a turn for a connection from `peer`. A peer waits behind its own earlier
    /// connections and takes turns in rotation with the other peers waiting.
    pub async fn turn(self: &Arc<Self>, peer: IpAddr) -> Option<Turn> {
        let rx = {
            let mut s = self.state();
            if s.free > 0 && s.rotation.is_empty() {
                s.free -= 1;
                return Some(Turn {
                    admission: self.clone(),
                });
            }
            let (tx, rx) = oneshot::channel();
            let queue = s.waiting.entry(peer).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                s.rotation.push_back(peer);
            }
            rx
        };
        // An error only if the admission itself is gone (the listener stopped): go on unturned.
        rx.await.ok()
    }

    /// Give a turn back: to the next peer in rotation's oldest waiter that is still there, or to
    /// the free turns.
    fn hand_on(self: &Arc<Self>) {
        loop {
            let next = {
                let mut s = self.state();
                match s.next_waiter() {
                    Some(tx) => tx,
                    None => {
                        s.free += 1;
                        return;
                    }
                }
            };
            // Sent outside the lock: a turn whose receiver is gone comes back here and is
            // offered to the next waiter (a turn sent but never received is dropped by the
            // channel, which hands it on through `Drop`).
            match next.send(Turn {
                admission: self.clone(),
            }) {
                Ok(()) => return,
                Err(turn) => std::mem::forget(turn),
            }
        }
    }

    #[cfg(test)]
    fn free(&self) -> usize {
        self.state().free
    }
}

impl State {
    fn next_waiter(&mut self) -> Option<oneshot::Sender<Turn>> {
        while let Some(peer) = self.rotation.pop_front() {
            let Some(queue) = self.waiting.get_mut(&peer) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                self.waiting.remove(&peer);
            } else {
                self.rotation.push_back(peer);
            }
            if let Some(tx) = next {
                return Some(tx);
            }
        }
        None
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.admission.hand_on();
    }
}

pin_project_lite::pin_project! {
    /// A connection's future that gives its turn back the first time it waits.
    pub struct FirstRun<F> {
        #[pin]
        inner: F,
        turn: Option<Turn>,
    }
}

impl<F> FirstRun<F> {
    pub fn new(inner: F, turn: Option<Turn>) -> FirstRun<F> {
        FirstRun { inner, turn }
    }
}

impl<F: Future> Future for FirstRun<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let polled = this.inner.poll(cx);
        // Ready or waiting: either way the first run is over.
        *this.turn = None;
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    /// Takes turns for `peers` in order, each as soon as possible, and records who got one.
    async fn order_of_turns(admission: &Arc<Admission>, peers: &[u8]) -> Vec<u8> {
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (k, &p) in peers.iter().enumerate() {
            let (admission, done_tx) = (admission.clone(), done_tx.clone());
            tasks.push(tokio::spawn(async move {
                let turn = admission.turn(ip(p)).await;
                assert!(turn.is_some());
                done_tx.send((k, p)).unwrap();
                // Hold the turn a moment so that the others queue behind it.
                tokio::time::sleep(Duration::from_millis(1)).await;
                drop(turn);
            }));
            // Queue in the order given.
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        drop(done_tx);
        let mut order = Vec::new();
        while let Some((_, p)) = done_rx.recv().await {
            order.push(p);
        }
        order
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_burst_from_one_peer_takes_turns_with_another_peer() {
        let admission = Admission::new(1);
        // Peer 1 queues six connections, then peer 2 two: peer 2 does not wait for all of 1's.
        let order = order_of_turns(&admission, &[1, 1, 1, 1, 1, 1, 2, 2]).await;
        assert_eq!(order, vec![1, 1, 2, 1, 2, 1, 1, 1]);
        assert_eq!(admission.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_peer_is_served_first_come_first_served() {
        let admission = Admission::new(2);
        let order = order_of_turns(&admission, &[7, 7, 7, 7, 7]).await;
        assert_eq!(order, vec![7; 5]);
        assert_eq!(admission.free(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_that_went_away_does_not_keep_its_turn() {
        let admission = Admission::new(1);
        let held = admission.turn(ip(1)).await.unwrap();
        // A connection that closes while waiting: its turn must go to the next one.
        let gone = tokio::spawn({
            let admission = admission.clone();
            async move { admission.turn(ip(2)).await }
        });
        tokio::task::yield_now().await;
        gone.abort();
        let _ = gone.await;
        let next = tokio::spawn({
            let admission = admission.clone();
            async move { admission.turn(ip(3)).await.is_some() }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the next waiter got the turn")
            .unwrap());
        assert_eq!(admission.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_first_run_gives_its_turn_back_when_it_first_waits() {
        let admission = Admission::new(1);
        let turn = admission.turn(ip(1)).await;
        assert_eq!(admission.free(), 0);
        let (tx, rx) = oneshot::channel::<u8>();
        let run = tokio::spawn(FirstRun::new(async move { rx.await.unwrap() }, turn));
        // The run is waiting on the channel now: its turn is free again.
        tokio::task::yield_now().await;
        assert_eq!(admission.free(), 1);
        tx.send(5).unwrap();
        assert_eq!(run.await.unwrap(), 5);
        assert_eq!(admission.free(), 1);
    }
}
