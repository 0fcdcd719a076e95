//! A controller's workers, and a pass that gives its worker to the next while it waits for
//! another pass's turn or for its operation.
//!
//! Each controller runs at most `--concurrency` reconciles at once: a pass takes a worker
//! before it starts. A pass that waits for its turn on a parent ARM serialises (`super::turns`:
//! a privatelink zone takes its VNet links one at a time) does nothing until other passes'
//! operations end, often for tens of seconds, and holding its worker meanwhile starves the
//! passes queued behind it. So does a pass that waits out its operation's `Retry-After` (on real
//! Azure a private endpoint or a workspace takes minutes). In the 10-workspace benchmark the
//! bindings of the AML workspaces, whose chain to their zone's first link is the longest,
//! waited 7 to 10 s for a worker that the workspaces' 40 other bindings held, in about half the
//! runs (first pass at 11–12 s instead of 4.3 s; all Ready after 38–41 s instead of 33–38 s).
//!
//! So while a step of a pass waits for a turn another holds or for an operation's `Retry-After`
//! ([`idle`]), the pass trades its worker for a **spare** slot (a controller has as many as
//! workers), and the next queued pass starts. When its last idle step's wait ends, it carries on
//! at once on its spare slot: a pass that holds a turn others wait for never waits for a worker
//! (no deadlock). It takes a worker back as soon as one is free. With no spare slot left, a pass
//! waits on its worker, as before. So at most twice `--concurrency` passes of a controller are in
//! flight, and the spare ones have each waited for a turn or an operation. What they send
//! stays paced as before (`crate::azure::pacing`): more passes in flight share the same budget.
//! SecureWorkspaces lend only while they wait for a turn ([`Workers::lending_only_for_turns`]):
//! their passes are the largest, and at 500 workspaces lending during their operations too
//! raised moat's peak RSS above its target.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One controller's workers and spare slots.
#[derive(Debug)]
pub struct Workers {
    workers: Arc<Semaphore>,
    spares: Arc<Semaphore>,
    /// Whether a wait for an operation's `Retry-After` lends the worker too ([`idle_for_operation`]).
    lends_on_operations: bool,
}

impl Workers {
    /// `n` workers (at least one) and as many spare slots; a pass lends its worker while it
    /// waits for a turn or for an operation.
    pub fn new(n: usize) -> Arc<Self> {
        Self::with(n, true)
    }

    /// As [`Workers::new`], but a pass lends its worker only while it waits for a turn: for
    /// SecureWorkspaces, whose passes are the largest and whose operations every workspace of a
    /// fleet runs at once. Lent during their operations too, up to twice as many workspace passes
    /// run at once, and at 500 workspaces moat's peak RSS was 165.3 MiB (132.6 MiB before); in
    /// the 10-workspace run it was the bindings' first passes that queued for a worker, not the
    /// workspaces'.
    pub fn lending_only_for_turns(n: usize) -> Arc<Self> {
        Self::with(n, false)
    }

    fn with(n: usize, lends_on_operations: bool) -> Arc<Self> {
        let n = n.max(1);
        Arc::new(Self { workers: Arc::new(Semaphore::new(n)), spares: Arc::new(Semaphore::new(n)), lends_on_operations })
    }

    /// Waits for a worker.
    pub async fn worker(self: &Arc<Self>) -> Hold {
        // The semaphore is never closed; a closed one would only lift the limit.
        let slot = match self.workers.clone().acquire_owned().await {
            Ok(p) => Slot::Worker(p),
            Err(_) => Slot::None,
        };
        Hold { workers: self.clone(), state: Mutex::new(State { slot, waiting: 0 }) }
    }

    /// Workers free now.
    #[cfg(test)]
    fn free_workers(&self) -> usize {
        self.workers.available_permits()
    }

    /// Spare slots free now.
    #[cfg(test)]
    fn free_spares(&self) -> usize {
        self.spares.available_permits()
    }
}

#[derive(Debug)]
enum Slot {
    Worker(#[allow(dead_code)] OwnedSemaphorePermit),
    Spare(#[allow(dead_code)] OwnedSemaphorePermit),
    None,
}

#[derive(Debug)]
struct State {
    slot: Slot,
    /// Steps of the pass in an idle wait now.
    waiting: usize,
}

/// One pass's worker (or spare slot), given back when the pass ends.
#[derive(Debug)]
pub struct Hold {
    workers: Arc<Workers>,
    state: Mutex<State>,
}

impl Hold {
    /// A step of the pass starts an idle wait: the first one trades the worker for a spare
    /// slot, if one is free.
    fn waits(&self) {
        let Ok(mut st) = self.state.lock() else { return };
        st.waiting += 1;
        if st.waiting == 1
            && matches!(st.slot, Slot::Worker(_))
            && let Ok(spare) = self.workers.spares.clone().try_acquire_owned()
        {
            st.slot = Slot::Spare(spare);
        }
    }

    /// A step stops waiting: the last one takes a worker back, if one is free.
    fn waited(&self) {
        let Ok(mut st) = self.state.lock() else { return };
        st.waiting = st.waiting.saturating_sub(1);
        if st.waiting == 0
            && matches!(st.slot, Slot::Spare(_))
            && let Ok(worker) = self.workers.workers.clone().try_acquire_owned()
        {
            st.slot = Slot::Worker(worker);
        }
    }

    /// Whether the pass holds a worker (and not a spare slot) now.
    #[cfg(test)]
    fn on_worker(&self) -> bool {
        self.state.lock().is_ok_and(|st| matches!(st.slot, Slot::Worker(_)))
    }
}

tokio::task_local! {
    static HOLD: Arc<Hold>;
}

/// Runs `pass` holding `hold`: its idle waits ([`idle`]) may trade it.
pub async fn holding<F: Future>(hold: Hold, pass: F) -> F::Output {
    HOLD.scope(Arc::new(hold), pass).await
}

/// Awaits `wait` (another pass's turn, an operation's `Retry-After`) on a spare slot when one is
/// free, the worker going to the next queued pass; then takes a worker back if one is free, and
/// carries on either way.
/// Outside a pass (tests, the CLI), only awaits.
pub async fn idle<F: Future>(wait: F) -> F::Output {
    let hold = HOLD.try_with(Arc::clone).ok();
    if let Some(h) = &hold {
        h.waits();
    }
    // Given back even if the wait is dropped (the pass cancelled at shutdown).
    let _waited = Waited(hold);
    wait.await
}

/// [`idle`] for a wait on an operation's `Retry-After`: the worker is lent only where the
/// controller's [`Workers`] lend on operations; elsewhere the pass keeps it and only awaits.
pub async fn idle_for_operation<F: Future>(wait: F) -> F::Output {
    let lends = HOLD.try_with(|h| h.workers.lends_on_operations).unwrap_or(false);
    if lends { idle(wait).await } else { wait.await }
}

struct Waited(Option<Arc<Hold>>);

impl Drop for Waited {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.waited();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_pass_waiting_for_a_turn_lets_the_next_pass_start_and_takes_a_worker_back_when_one_is_free() {
        let workers = Workers::new(1);
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let held = turn.clone().lock_owned().await;

        // The first pass waits for a turn another holds: its worker goes to the next pass.
        let (w, t) = (workers.clone(), turn.clone());
        let first = tokio::spawn(async move {
            let hold = w.worker().await;
            holding(hold, async move {
                let _turn = idle(t.lock_owned()).await;
                HOLD.with(|h| h.on_worker())
            })
            .await
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            while workers.free_spares() == 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the waiting pass takes the spare slot");
        assert_eq!(workers.free_workers(), 1, "and gives its worker back");

        // The second pass starts and holds the worker while the first gets its turn: the first
        // carries on on its spare slot rather than wait for a worker.
        let second = workers.worker().await;
        drop(held);
        assert!(!first.await.expect("first pass"), "carried on on the spare slot");
        assert_eq!(workers.free_spares(), 1, "given back at the end");
        drop(second);
        assert_eq!(workers.free_workers(), 1);
    }

    #[tokio::test]
    async fn an_operation_wait_lends_the_worker_only_where_the_controller_lends_on_operations() {
        for (workers, lent) in [(Workers::new(1), true), (Workers::lending_only_for_turns(1), false)] {
            let hold = workers.worker().await;
            let free_during = holding(hold, idle_for_operation(async { workers.free_workers() })).await;
            assert_eq!(free_during == 1, lent, "worker free during the operation wait: {free_during}");
            // A turn wait lends it in both.
            let hold = workers.worker().await;
            assert_eq!(holding(hold, idle(async { workers.free_workers() })).await, 1);
        }
        // Outside a pass, only the wait.
        assert_eq!(idle_for_operation(async { 7 }).await, 7);
    }

    #[tokio::test]
    async fn with_no_spare_slot_left_a_pass_waits_for_its_turn_on_its_worker_and_a_free_worker_is_taken_back() {
        let workers = Workers::new(1);
        let spare = workers.spares.clone().try_acquire_owned().expect("the one spare slot");
        let hold = workers.worker().await;
        let on_worker = holding(hold, async {
            idle(tokio::task::yield_now()).await;
            HOLD.with(|h| h.on_worker())
        })
        .await;
        assert!(on_worker, "no spare: kept its worker");
        drop(spare);

        // A spare slot free and the worker free again after the wait: taken back.
        let hold = workers.worker().await;
        let (on_worker, free_during) = holding(hold, async {
            let free = idle(async { workers.free_workers() }).await;
            (HOLD.with(|h| h.on_worker()), free)
        })
        .await;
        assert_eq!(free_during, 1, "the worker was free while the pass waited");
        assert!(on_worker, "and taken back after");
        assert_eq!((workers.free_workers(), workers.free_spares()), (1, 1));
        // Outside a pass, only the wait.
        assert_eq!(idle(async { 7 }).await, 7);
    }
}
