//! Turns per member: at most `limits.requests_per_member` requests of one member are worked on at
//! once; the member's further requests wait for a turn, in arrival order, without being runnable.
//!
//! Why: a member that sends thousands of requests at once (10,000 payments to a slow upstream)
//! otherwise makes thousands of tasks runnable together, and every other member's request (and
//! each step of it, e.g. the wake-up after its quote is committed) queues behind all of them in
//! the runtime (docs/performance.md, round 10b). With turns, at most this many of one member's
//! requests are runnable or at the database writer at once, whoever else is waiting.
//!
//! A turn is taken once the member is known (authenticated), and given back while the request
//! waits for an upstream's answer ([`outside`]): 10,000 payments can still be in flight to an
//! upstream at once; only the work before and after that wait takes turns.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The members' turns (one semaphore per member with requests in progress).
pub struct MemberTurns {
    per_member: usize,
    members: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// One request's turn; given back when dropped.
struct Turn {
    turns: Arc<MemberTurns>,
    member: i64,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(p) = self.permit.take() {
            self.turns.give_back(self.member, p);
        }
    }
}

tokio::task_local! {
    /// The turn of the request this task is working on (see [`within`]).
    static TURN: RefCell<Turn>;
}

impl MemberTurns {
    pub fn new(per_member: usize) -> MemberTurns {
        MemberTurns {
            per_member: per_member.max(1),
            members: Mutex::new(HashMap::new()),
        }
    }

    /// Most requests of one member worked on at once.
    pub fn per_member(&self) -> usize {
        self.per_member
    }

    /// Members with a turn taken or awaited (a member's entry goes when its last turn does).
    pub fn members_in_progress(&self) -> usize {
        self.members.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Wait for a turn of `member` (first come, first served). `None` only if the semaphore
    /// were closed, which nothing does (the request then goes without a turn).
    async fn take(&self, member: i64) -> Option<OwnedSemaphorePermit> {
        let semaphore = self
            .members
            .lock()
            .ok()?
            .entry(member)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_member)))
            .clone();
        match semaphore.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            // Boxed: a request's future keeps room for its largest step for as long as it lives.
            Err(_) => Box::pin(semaphore.acquire_owned()).await.ok(),
        }
    }

    /// Give a turn back; a member with nothing in progress is forgotten. The count is read under
    /// the map's lock, where every other holder of the semaphore got it: 1 means nobody else
    /// has it or is waiting on it.
    fn give_back(&self, member: i64, permit: OwnedSemaphorePermit) {
        let Ok(mut m) = self.members.lock() else {
            return;
        };
        drop(permit);
        if m.get(&member).is_some_and(|s| Arc::strong_count(s) == 1) {
            m.remove(&member);
        }
    }
}

/// Run `request` (the work of an authenticated request of `member`) in a turn of that member:
/// waits for one first; gives it back when `request` ends (or is dropped).
pub fn within<F: Future>(
    turns: &Arc<MemberTurns>,
    member: i64,
    request: F,
) -> impl Future<Output = F::Output> {
    let turn = Turn {
        turns: turns.clone(),
        member,
        permit: None,
    };
    // A plain function returning the scope's future: an `async fn` would keep `request` twice
    // (its argument and the scope that owns the moved copy), docs/performance.md round 8.
    TURN.scope(RefCell::new(turn), async move {
        resume().await;
        request.await
    })
}

/// Await `wait` (an upstream's answer) without holding the request's turn: given back before,
/// taken again after (a request outside [`within`] just awaits).
pub async fn outside<F: Future>(wait: F) -> F::Output {
    let held = TURN
        .try_with(|t| {
            let t = &mut *t.borrow_mut();
            match t.permit.take() {
                Some(p) => {
                    t.turns.give_back(t.member, p);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false);
    let out = wait.await;
    if held {
        resume().await;
    }
    out
}

/// Take the current request's turn again (first taken in [`within`]).
async fn resume() {
    let Ok((turns, member)) = TURN.try_with(|t| {
        let t = t.borrow();
        (t.turns.clone(), t.member)
    }) else {
        return;
    };
    let permit = turns.take(member).await;
    let _ = TURN.try_with(|t| t.borrow_mut().permit = permit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_member_works_on_at_most_its_turns_and_waiters_go_in_order() {
        let turns = Arc::new(MemberTurns::new(2));
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut tasks = Vec::new();
        for i in 0..4 {
            let turns = turns.clone();
            let order = order.clone();
            let mut release = release_tx.subscribe();
            tasks.push(tokio::spawn(within(&turns.clone(), 7, async move {
                order.lock().unwrap().push(i);
                let _ = release.recv().await;
            })));
            // Each request has asked for its turn before the next one arrives.
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        // Two are in; the other two wait, not started.
        assert_eq!(*order.lock().unwrap(), vec![0, 1]);
        // Another member is not held up by member 7's queue.
        let other = within(&turns, 8, async { "other member served" }).await;
        assert_eq!(other, "other member served");
        let _ = release_tx.send(());
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
        // Everything given back: no member is remembered.
        assert_eq!(turns.members_in_progress(), 0);
    }

    #[tokio::test]
    async fn waiting_outside_gives_the_turn_to_the_next_request() {
        let turns = Arc::new(MemberTurns::new(1));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The first request waits for its "upstream" outside its turn...
        let first = tokio::spawn(within(&turns.clone(), 1, async move {
            outside(rx).await.unwrap();
            "first"
        }));
        tokio::task::yield_now().await;
        // ...so the member's second request gets the only turn meanwhile.
        assert_eq!(within(&turns, 1, async { "second" }).await, "second");
        tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), "first");
        assert_eq!(turns.members_in_progress(), 0);
    }
}
