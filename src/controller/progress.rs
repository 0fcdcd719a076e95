//! A pass's progress, written while its graph runs: the Ready condition says how many steps are
//! done and which Azure operations it waits on, every few seconds, so a long pass is never
//! silent.
//!
//! The progress writer runs beside the graph, never instead of it. A node that records an
//! operation holds the operations' lock across a status write (`OpsTracker::add`), and a progress
//! write takes the same lock (so that it cannot drop a record written meanwhile); had the writer
//! run in the body of a `select!` arm, the graph (and the node holding the lock) would not be
//! polled until the writer got the lock: a reconcile hung for good.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::patch_status;
use super::converge::Converger;
use super::dag::{Node, NodeEnd};
use super::error::Result;
use crate::api::{PendingOperation, ResourceStatus};

/// What a pass's progress writes start from: the object's generation, and its conditions and
/// resources as the pass holds them.
pub struct PassStatus<'s> {
    pub generation: Option<i64>,
    pub conditions: &'s [Condition],
    pub resources: &'s [ResourceStatus],
}

/// Runs the pass's graph, writing its progress into the object's Ready condition,
/// `status.resources` and `status.operations` every `every` while it lasts (one status PATCH
/// per tick, only when the message changes). Returns the ends of the nodes, and whether progress
/// was written (the final status write must then not be skipped: the apiserver no longer holds
/// what the pass read).
pub async fn run_with_progress<'a, K>(
    api: &Api<K>,
    name: &str,
    pass: PassStatus<'_>,
    conv: &Converger<'_>,
    every: Duration,
    nodes: Vec<Node<'a>>,
) -> (HashMap<String, NodeEnd>, bool)
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let PassStatus { generation, conditions, resources: recorded } = pass;
    let write = |message: String, operations: Vec<PendingOperation>| {
        // The pass so far over the record: what it has not reached keeps its entry.
        let resources = conv.record_after(recorded);
        let mut now = conditions.to_vec();
        super::conditions::set(&mut now, super::conditions::ready(super::conditions::ReadyReason::Converging, &message, generation));
        async move { patch_status(api, name, &serde_json::json!({"conditions": now, "observedGeneration": generation, "resources": resources, "operations": operations})).await }
    };
    run_reporting(conv, every, nodes, write).await
}

/// [`run_with_progress`] with the status write given: `write(message, operations)` runs with
/// the operations' lock held, so no operation is recorded meanwhile.
pub async fn run_reporting<'a, W, F>(conv: &Converger<'_>, every: Duration, nodes: Vec<Node<'a>>, write: W) -> (HashMap<String, NodeEnd>, bool)
where
    W: Fn(String, Vec<PendingOperation>) -> F,
    F: Future<Output = Result<()>>,
{
    let total = nodes.len();
    let wrote = AtomicBool::new(false);
    let finished = tokio::sync::Notify::new();
    let work = async {
        let ends = super::dag::run(nodes).await;
        finished.notify_one();
        ends
    };
    let progress = async {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<String> = None;
        loop {
            // A write under way when the graph ends is finished, not cancelled: a cancelled
            // PATCH may still reach the apiserver after the pass's final status write.
            tokio::select! {
                biased;
                () = finished.notified() => return,
                _ = ticker.tick() => {}
            }
            let message = progress_message(conv, total);
            if last.as_deref() == Some(message.as_str()) {
                continue;
            }
            wrote.store(true, Ordering::SeqCst);
            match conv.ops.write_with(|operations| write(message.clone(), operations)).await {
                Ok(()) => last = Some(message),
                Err(e) => tracing::debug!(error = %e, "could not write progress"),
            }
        }
    };
    let (ends, ()) = tokio::join!(work, progress);
    conv.publish_created().await;
    (ends, wrote.load(Ordering::SeqCst))
}

/// "`done` of `total` steps done; waiting on Azure for …" from the pass's record so far.
fn progress_message(conv: &Converger<'_>, total: usize) -> String {
    let pass = conv.resources();
    let done = pass.iter().filter(|r| r.state == "Succeeded").count();
    let busy: Vec<&str> = pass
        .iter()
        .filter(|r| matches!(r.state.as_str(), "Creating" | "Updating" | "Deleting"))
        .map(|r| crate::plan::ids::name_of(&r.id))
        .collect();
    let waiting = if busy.is_empty() { String::new() } else { format!("; waiting on Azure for {}", busy.join(", ")) };
    format!("{done} of {total} steps done{waiting}")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use futures::future::BoxFuture;
    use serde_json::{Value, json};

    use super::*;
    use crate::controller::turns::Turns;
    use crate::controller::Settings;
    use crate::controller::arm::{Arm, ArmFailure, Polled, Started};
    use crate::controller::converge::{EventSink, OpsTracker};
    use crate::plan::decide::UpdateStyle;
    use crate::plan::ownership::Owner;
    use crate::plan::{Desired, Mode};

    const NSG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg";

    /// Network as the reconcilers see it: every rule delete is a 202 whose operation ends at
    /// the first poll.
    #[derive(Default)]
    struct Network(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Arm for Network {
        async fn get(&self, _: &str) -> Result<Option<Value>, ArmFailure> {
            Ok(None)
        }
        async fn list(&self, _: &str) -> Result<Vec<Value>, ArmFailure> {
            Ok(vec![])
        }
        async fn write(&self, method: &str, id: &str, _: &Value) -> Result<Started, ArmFailure> {
            Err(ArmFailure::local(method, id, "Unexpected", "no write in this test"))
        }
        async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
            self.0.lock().expect("lock").push(format!("DELETE {id}"));
            let op = PendingOperation { resource_id: id.into(), method: "DELETE".into(), poll_url: "https://op".into(), poll_kind: "Location".into(), started_at: "2026-12-06T00:00:00Z".into() };
            Ok(Started::Pending(op, Duration::ZERO, false))
        }
        async fn poll(&self, _: &PendingOperation) -> Result<Polled, ArmFailure> {
            Ok(Polled::Done(None))
        }
    }

    struct NoEvents;
    impl EventSink for NoEvents {
        fn publish(&self, _: bool, _: &str, _: &str, _: String, _: Option<(&str, &str)>) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn rule(name: &str) -> Desired {
        Desired { kind: "SecurityRule", id: format!("{NSG}/securityRules/{name}"), mode: Mode::Child, managed: json!({}), body: json!({}), update: UpdateStyle::MergePut, deps: vec![] }
    }

    /// The failure seen in CI: a pass deleting nine rules hung with "waiting on Azure for" all of
    /// them, because a progress tick waited for the operations' lock that a delete held across
    /// its status write, and the delete was never polled again.
    #[tokio::test]
    async fn a_progress_tick_during_an_operation_record_does_not_hang_the_pass() {
        let arm = Network::default();
        let owner = Owner::new("ComputeSubnet", "ns", "training", "uid-1");
        // Recording an operation in status takes a while (a PATCH to the apiserver), far longer
        // than a progress tick here.
        let ops = OpsTracker::new(
            vec![],
            Box::new(|_| {
                Box::pin(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(())
                })
            }),
        );
        let locks = Turns::new();
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &locks, &[]);
        let rules: Vec<Desired> = (0..9).map(|i| rule(&format!("moat-out-{i}"))).collect();
        let nodes: Vec<Node<'_>> = rules
            .iter()
            .map(|d| Node { key: d.id.clone(), deps: vec![], run: Box::new(|| Box::pin(conv.delete(d))) })
            .collect();
        let writes = AtomicUsize::new(0);
        let messages = Mutex::new(Vec::new());
        let write = |message: String, _: Vec<PendingOperation>| {
            writes.fetch_add(1, Ordering::SeqCst);
            messages.lock().expect("lock").push(message);
            async { Ok(()) }
        };
        let ran = tokio::time::timeout(Duration::from_secs(20), run_reporting(&conv, Duration::from_millis(1), nodes, write)).await;
        let (ends, wrote) = ran.expect("the pass ends: a progress tick never stops the graph");
        assert_eq!(ends.len(), 9);
        assert!(ends.values().all(|e| *e == NodeEnd::Done), "{ends:?}");
        assert_eq!(arm.0.lock().expect("lock").len(), 9, "each rule deleted once");
        assert!(writes.load(Ordering::SeqCst) > 0 && wrote, "progress was written while the deletes ran");
        let messages = messages.lock().expect("lock").clone();
        assert!(messages.iter().any(|m| m.contains("waiting on Azure for moat-out-")), "{messages:?}");
        assert!(messages.windows(2).all(|w| w[0] != w[1]), "a message is written once: {messages:?}");
    }
}
