//! Turns for new work (a new connection's first request, a new HTTP/2 stream), taken in rotation
//! between peer addresses.
//!
//! Why: a client that opens thousands of connections and sends on all of them at once (10,000
//! payments in flight, one connection each) makes them readable together. Served in readiness
//! order, every other client's request that became readable after them waited for all of their
//! reading, parsing, signature checks and ledger holds (docs/performance.md, rounds 9, 10b and 13).
//! Here a new connection's first run (from reading its first request until it first waits on
//! anything: more bytes, the database, an upstream) needs a turn, and so does each new h2c
//! stream's; at most `turns` such runs go at once, and a freed turn goes to the next peer address
//! in rotation, so one address's burst is served interleaved with everybody else's new work.
//! Requests on an HTTP/1.1 connection after its first take no turn: they are not held back by a
//! burst of new connections.
//!
//! Bounded: waiting connections are counted by the listener's `max_connections`, waiting streams
//! by their connection's `http2_max_streams` (and dropped with their connection); a waiter costs
//! one small channel. Behind a reverse proxy every peer is the proxy: the rotation is then first
//! come, first served. Once [`Admission::close`]d (the server is stopping), nobody waits.

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
    /// Each peer's waiters, first come first served.
    waiting: HashMap<IpAddr, VecDeque<oneshot::Sender<Turn>>>,
    /// Peers with waiters, in the order their next turn comes.
    rotation: VecDeque<IpAddr>,
    /// The server is stopping: every waiter goes on without a turn.
    closed: bool,
}

/// A held turn; dropping it hands it to the next waiter in rotation.
#[derive(Debug)]
pub struct Turn {
    /// `None` only for a turn that could not be delivered, on its way back (`hand_on`).
    admission: Option<Arc<Admission>>,
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

    fn held(self: &Arc<Self>) -> Turn {
        Turn {
            admission: Some(self.clone()),
        }
    }

    /// Wait for a turn for work from `peer`. A peer waits behind its own earlier work and takes
    /// turns in rotation with the other peers waiting. `None`: the admission was closed (go on
    /// without a turn).
    pub async fn turn(self: &Arc<Self>, peer: IpAddr) -> Option<Turn> {
        let rx = {
            let mut s = self.state();
            if s.closed {
                return None;
            }
            if s.free > 0 && s.rotation.is_empty() {
                s.free -= 1;
                return Some(self.held());
            }
            let (tx, rx) = oneshot::channel();
            let queue = s.waiting.entry(peer).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                s.rotation.push_back(peer);
            }
            rx
        };
        // An error when the admission was closed while waiting: go on without a turn.
        rx.await.ok()
    }

    /// The server is stopping: whoever waits goes on without a turn, and so does whoever asks
    /// from now on (their request has arrived: it is served, not cut off).
    pub fn close(&self) {
        let waiters = {
            let mut s = self.state();
            s.closed = true;
            s.rotation.clear();
            std::mem::take(&mut s.waiting)
        };
        // Dropped outside the lock: each waiter's `turn` answers `None`.
        drop(waiters);
    }

    /// Give a turn back: to the oldest waiter still there of the next peer in rotation, or to
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
            // Sent outside the lock. A waiter that went away between the check and the send
            // gives the turn back here, and it goes to the next one; a turn sent but never
            // received is dropped by the channel, which hands it on through `Drop`.
            match next.send(self.held()) {
                Ok(()) => return,
                Err(mut undelivered) => undelivered.admission = None,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn free(&self) -> usize {
        self.state().free
    }
}

impl State {
    /// The next waiter still waiting: the oldest live one of the next peer in rotation (a peer
    /// whose oldest waiters went away does not lose its round to them).
    fn next_waiter(&mut self) -> Option<oneshot::Sender<Turn>> {
        while let Some(peer) = self.rotation.pop_front() {
            let Some(queue) = self.waiting.get_mut(&peer) else {
                continue;
            };
            let next = std::iter::from_fn(|| queue.pop_front()).find(|tx| !tx.is_closed());
            if queue.is_empty() {
                self.waiting.remove(&peer);
            } else {
                self.rotation.push_back(peer);
            }
            if next.is_some() {
                return next;
            }
        }
        None
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.hand_on();
        }
    }
}

/// The address whose turn a peer takes: itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6
/// (one machine usually holds a whole /64: its addresses are one client, not many).
pub fn peer_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(segments))
            }
        },
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

    /// Takes turns for `peers` in order, each as soon as possible; who got one, in order: (the
    /// index in `peers`, the peer).
    async fn order_of_turns(admission: &Arc<Admission>, peers: &[u8]) -> Vec<(usize, u8)> {
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
        while let Some(got) = done_rx.recv().await {
            order.push(got);
        }
        order
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_burst_from_one_peer_takes_turns_with_another_peer() {
        let admission = Admission::new(1);
        // Peer 1 queues six connections, then peer 2 two: peer 2 does not wait for all of 1's.
        let order = order_of_turns(&admission, &[1, 1, 1, 1, 1, 1, 2, 2]).await;
        let indices: Vec<usize> = order.iter().map(|&(k, _)| k).collect();
        assert_eq!(indices, vec![0, 1, 6, 2, 7, 3, 4, 5]);
        assert_eq!(admission.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_peer_is_served_first_come_first_served() {
        let admission = Admission::new(2);
        let order = order_of_turns(&admission, &[7, 7, 7, 7, 7]).await;
        let indices: Vec<usize> = order.iter().map(|&(k, _)| k).collect();
        assert_eq!(indices, vec![0, 1, 2, 3, 4]);
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

    #[tokio::test(flavor = "current_thread")]
    async fn once_closed_nobody_waits_for_a_turn() {
        let admission = Admission::new(1);
        let held = admission.turn(ip(1)).await;
        assert!(held.is_some());
        let waiting = tokio::spawn({
            let admission = admission.clone();
            async move { admission.turn(ip(2)).await.is_none() }
        });
        tokio::task::yield_now().await;
        admission.close();
        // The waiter goes on (without a turn), and so does whoever asks later.
        assert!(tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiter went on")
            .unwrap());
        assert!(admission.turn(ip(3)).await.is_none());
        drop(held);
        assert_eq!(admission.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_whose_oldest_waiter_went_away_keeps_its_round() {
        let admission = Admission::new(1);
        let held = admission.turn(ip(1)).await.unwrap();
        let mut gone = Vec::new();
        let mut order = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Peer 2 queues a waiter that will go away, then a live one; then peer 3 one.
        for (k, p) in [(0, 2), (1, 2), (2, 3)] {
            let (admission, tx) = (admission.clone(), tx.clone());
            let task = tokio::spawn(async move {
                let turn = admission.turn(ip(p)).await;
                tx.send(k).unwrap();
                drop(turn);
            });
            if k == 0 {
                gone.push(task);
            }
            tokio::task::yield_now().await;
        }
        for t in gone {
            t.abort();
            let _ = t.await;
        }
        drop(held);
        drop(tx);
        while let Some(k) = rx.recv().await {
            order.push(k);
        }
        // Peer 2's live waiter comes first: its round was not spent on the one that left.
        assert_eq!(order, vec![1, 2]);
        assert_eq!(admission.free(), 1);
    }

    #[test]
    fn an_ipv6_peer_takes_turns_as_its_64_and_a_mapped_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(peer_group(a), peer_group(b));
        assert_ne!(peer_group(a), peer_group(other));
        assert_eq!(peer_group(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(peer_group(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(peer_group(ip(9)), ip(9));
    }
}
