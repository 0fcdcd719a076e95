//! Converges one desired Azure resource: decide, write, wait for the long-running operation
//! (recording it first, so a restart resumes it instead of starting it again), and report.

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;

use super::arm::{Arm, ArmFailure, Polled, Started};
use super::dag::NodeEnd;
use crate::api::{PendingOperation, ResourceStatus};
use crate::azure::pacing::{Priority, current_priority, with_priority};
use super::context::Settings;
use super::turns::Turns;
use crate::plan::decide::{is_terminal, provisioning_state};
use crate::plan::ownership::Owner;
use crate::plan::{Decision, Desired, Mode, Verb, decide};

/// Where events about the object go (a kube Recorder in the controller, a Vec in tests).
pub trait EventSink: Send + Sync {
    /// One event about the object; `about` names the Azure resource it concerns (kind, ARM id),
    /// so that writes to different resources are different events, never folded into one series.
    fn publish(&self, warning: bool, reason: &str, action: &str, note: String, about: Option<(&str, &str)>) -> BoxFuture<'_, ()>;
}

/// Saves the list of in-flight operations in the object's status.
pub type PersistOps = Box<dyn Fn(Vec<PendingOperation>) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// In-flight operations of one object, saved in its status so that a restart resumes them
/// instead of starting them again: at once when nothing else would show the operation (a 202, a
/// deletion), with the pass's next status write (progress or final) when the resource's own
/// `provisioningState` shows it (a restart that finds no record sees the resource busy and waits).
pub struct OpsTracker {
    ops: tokio::sync::Mutex<Vec<PendingOperation>>,
    persist: PersistOps,
    /// Set once anything was persisted: the status the reconcile read is no longer what the
    /// apiserver holds, so its final status write must not be skipped.
    wrote: std::sync::atomic::AtomicBool,
}

impl OpsTracker {
    pub fn new(initial: Vec<PendingOperation>, persist: PersistOps) -> Self {
        Self { ops: tokio::sync::Mutex::new(initial), persist, wrote: Default::default() }
    }

    /// True when this tracker wrote `status.operations` (see the field).
    pub fn wrote(&self) -> bool {
        self.wrote.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn find(&self, id: &str) -> Option<PendingOperation> {
        self.ops.lock().await.iter().find(|o| o.resource_id.eq_ignore_ascii_case(id)).cloned()
    }

    async fn add(&self, op: PendingOperation) -> Result<(), String> {
        let mut ops = self.ops.lock().await;
        ops.retain(|o| !o.resource_id.eq_ignore_ascii_case(&op.resource_id));
        ops.push(op);
        self.wrote.store(true, std::sync::atomic::Ordering::SeqCst);
        (self.persist)(ops.clone()).await
    }

    /// Records an operation the resource itself shows, for the next status write of the pass.
    async fn add_later(&self, op: PendingOperation) {
        let mut ops = self.ops.lock().await;
        ops.retain(|o| !o.resource_id.eq_ignore_ascii_case(&op.resource_id));
        ops.push(op);
    }

    /// Forgets an ended operation. Not written at once: the reconcile's final status write
    /// (`status.operations = snapshot()`) takes it out; a restart before that polls it once more
    /// and finds it ended. One status write per operation instead of two.
    async fn remove(&self, id: &str) {
        self.ops.lock().await.retain(|o| !o.resource_id.eq_ignore_ascii_case(id));
    }

    pub async fn snapshot(&self) -> Vec<PendingOperation> {
        self.ops.lock().await.clone()
    }

    /// Runs `write` with the operations as they are, no operation being added meanwhile: a status
    /// write that carries them cannot overtake a record written at once and drop it.
    pub async fn write_with<R, F: std::future::Future<Output = R>>(&self, write: impl FnOnce(Vec<PendingOperation>) -> F) -> R {
        let ops = self.ops.lock().await;
        write(ops.clone()).await
    }
}

/// Converges the resources of one object during one reconcile.
pub struct Converger<'a> {
    pub arm: &'a dyn Arm,
    pub owner: &'a Owner,
    pub ops: &'a OpsTracker,
    pub events: &'a dyn EventSink,
    /// Stop waiting on operations at this instant; they stay recorded and the next reconcile resumes them.
    pub deadline: Instant,
    /// Interval between GETs while another operation holds a resource.
    pub busy_poll: Duration,
    pub resources: Mutex<Vec<ResourceStatus>>,
    /// The last body seen of each resource (lower-cased id), for status.
    pub bodies: Mutex<std::collections::HashMap<String, Value>>,
    /// Children and shared resources status already records as created by moat (lower-cased ids).
    pub prior_owned: std::collections::HashSet<String>,
    /// Turns shared by every reconcile, one per serialised parent, and the operations left
    /// running on them (`super::turns`; `Context::turns`).
    pub turns: &'a Turns,
    /// Resources the object's status records as existing at some point (lower-cased ids): a 404
    /// for one of them is confirmed before anything is created over it.
    pub seen: std::collections::HashSet<String>,
    created: Mutex<std::collections::HashSet<String>>,
    /// Children sent inside their parent's create PUT (lower-cased parent id -> body array and
    /// items): an NSG moat creates gets its rules, a route table its routes, a VNet its subnets in
    /// one operation instead of one per child in a row.
    inline: Mutex<std::collections::HashMap<String, Vec<(&'static str, Value)>>>,
    /// What this pass created (kind, id), for one `Created` event at its end.
    created_events: Mutex<Vec<(&'static str, String)>>,
}

impl<'a> Converger<'a> {
    /// A converger for one reconcile. `recorded` is the object's status record of its
    /// resources: the children and shared resources it marks as moat's stay moat's.
    pub fn new(
        arm: &'a dyn Arm,
        owner: &'a Owner,
        ops: &'a OpsTracker,
        events: &'a dyn EventSink,
        settings: &Settings,
        turns: &'a Turns,
        recorded: &[ResourceStatus],
    ) -> Self {
        Self {
            arm,
            owner,
            ops,
            events,
            deadline: Instant::now() + settings.operation_budget,
            busy_poll: settings.busy_poll,
            resources: Mutex::new(Vec::new()),
            bodies: Mutex::new(Default::default()),
            prior_owned: recorded.iter().filter(|r| r.owned).map(|r| r.id.to_ascii_lowercase()).collect(),
            turns,
            seen: recorded
                .iter()
                .filter(|r| !matches!(r.state.as_str(), "Deleted" | "Missing" | "Refused" | "Blocked"))
                .map(|r| r.id.to_ascii_lowercase())
                .collect(),
            created: Mutex::new(Default::default()),
            inline: Mutex::new(Default::default()),
            created_events: Mutex::new(Vec::new()),
        }
    }

    /// One `Created` event for what the pass created, instead of one per resource (a workspace
    /// creates two dozen): it names each, and relates to the resource when there is one.
    pub async fn publish_created(&self) {
        let created = self.created_events.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default();
        match created.as_slice() {
            [] => {}
            [(kind, id)] => self.events.publish(false, "Created", "Create", format!("{kind} {id}"), Some((kind, id))).await,
            many => {
                let names: Vec<String> = many.iter().map(|(k, id)| format!("{k} {}", crate::plan::ids::name_of(id))).collect();
                let note = format!("{} Azure resources: {}", many.len(), names.join(", "));
                self.events.publish(false, "Created", "Create", note, None).await;
            }
        }
    }

    /// The children of `wanted` that go inside their parent's create PUT: children (not adopted,
    /// not shared) whose parent moat creates and lists them in full in its body.
    fn plan_inline(&self, wanted: &[Desired]) {
        use crate::plan::reads::{Read, read_of};
        let mut inline: std::collections::HashMap<String, Vec<(&'static str, Value)>> = Default::default();
        for d in wanted.iter().filter(|d| d.mode == Mode::Child) {
            let Read::InParent { parent, array } = read_of(&d.id) else { continue };
            if !wanted.iter().any(|p| p.mode == Mode::Create && p.id.eq_ignore_ascii_case(&parent)) {
                continue;
            }
            let name = crate::plan::ids::name_of(&d.id);
            let properties = d.body.get("properties").cloned().unwrap_or_else(|| serde_json::json!({}));
            inline.entry(parent.to_ascii_lowercase()).or_default().push((array, serde_json::json!({"name": name, "properties": properties})));
        }
        if let Ok(mut m) = self.inline.lock() {
            *m = inline;
        }
    }

    /// A create body with the children that travel inside it.
    fn with_inline_children(&self, d: &Desired, mut body: Value) -> Value {
        let items = self.inline.lock().ok().and_then(|m| m.get(&d.id.to_ascii_lowercase()).cloned()).unwrap_or_default();
        for (array, item) in items {
            if let Some(props) = body.as_object_mut().map(|o| o.entry("properties").or_insert_with(|| serde_json::json!({}))).and_then(Value::as_object_mut) {
                let list = props.entry(array).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.push(item);
                }
            }
        }
        body
    }

    /// A child that was not there when the reconcile looked, as its parent's body now lists it
    /// (it came with the parent's create); created by moat when the parent was.
    fn through_parent(&self, d: &Desired) -> Option<Value> {
        use crate::plan::reads::{Read, item_named, read_of};
        let Read::InParent { parent, array } = read_of(&d.id) else { return None };
        let body = self.body(&parent)?;
        let item = item_named(body.get("properties")?.get(array)?.as_array()?, &d.id)?;
        if let Ok(mut c) = self.created.lock()
            && c.contains(&parent.to_ascii_lowercase())
        {
            c.insert(d.id.to_ascii_lowercase());
        }
        Some(item)
    }

    /// Write-ahead record: the children and shared resources this reconcile will create (as
    /// `decide` says for what was observed) that the status does not yet record as moat's. The
    /// reconciler writes them to `status.resources` (state `Creating`, owned) before the first
    /// write, so that after a crash between a create and the status write, what moat created is
    /// still known to be moat's.
    pub fn intents(&self, wanted: &[Desired], observed: &std::collections::HashMap<String, Option<Value>>) -> Vec<ResourceStatus> {
        wanted
            .iter()
            .filter(|d| matches!(d.mode, Mode::Child | Mode::Shared))
            .filter(|d| !self.prior_owned.contains(&d.id.to_ascii_lowercase()))
            .filter(|d| matches!(observed.get(&d.id.to_ascii_lowercase()), Some(None)))
            .map(|d| ResourceStatus { kind: d.kind.to_string(), id: d.id.clone(), state: "Creating".into(), owned: true })
            .collect()
    }

    /// True when moat created the resource: tagged types by mode, children by record.
    pub fn is_owned(&self, d: &Desired) -> bool {
        let id = d.id.to_ascii_lowercase();
        match d.mode {
            Mode::Create => true,
            Mode::Adopt => false,
            Mode::Shared | Mode::Child => {
                self.prior_owned.contains(&id) || self.created.lock().map(|c| c.contains(&id)).unwrap_or(false)
            }
        }
    }

    fn record(&self, d: &Desired, state: &str) {
        let owned = self.is_owned(d);
        if let Ok(mut r) = self.resources.lock() {
            r.retain(|x| !x.id.eq_ignore_ascii_case(&d.id));
            r.push(ResourceStatus { kind: d.kind.to_string(), id: d.id.clone(), state: state.to_string(), owned });
        }
    }

    fn keep(&self, id: &str, body: Option<Value>) {
        if let (Some(b), Ok(mut m)) = (body, self.bodies.lock()) {
            m.insert(id.to_ascii_lowercase(), b);
        }
    }

    /// The last body seen of a resource.
    pub fn body(&self, id: &str) -> Option<Value> {
        self.bodies.lock().ok().and_then(|m| m.get(&id.to_ascii_lowercase()).cloned())
    }

    pub fn resources(&self) -> Vec<ResourceStatus> {
        self.resources.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The status record after this pass: what the pass recorded, and every resource `recorded`
    /// marks as moat's that the pass did not reach (its node waited on a dependency, a
    /// constraint held it back): an ownership record is never lost to a pass that ended early.
    /// Resources the pass deleted are left out; the list is sorted by id.
    pub fn record_after(&self, recorded: &[ResourceStatus]) -> Vec<ResourceStatus> {
        let mut out = self.resources();
        for r in recorded.iter().filter(|r| r.owned) {
            if !out.iter().any(|x| x.id.eq_ignore_ascii_case(&r.id)) {
                out.push(r.clone());
            }
        }
        out.retain(|r| r.state != "Deleted");
        out.sort_by_key(|r| r.id.to_ascii_lowercase());
        out
    }

    /// One graph node per desired resource: converge it from what the reconcile observed, or
    /// hold it when `held` says why writes are held back.
    pub fn nodes<'s>(
        &'s self,
        wanted: &'s [Desired],
        observed: &std::collections::HashMap<String, Option<Value>>,
        held: Option<&str>,
    ) -> Vec<super::dag::Node<'s>> {
        let stages = crate::plan::stage_numbers(wanted);
        if held.is_none() {
            self.plan_inline(wanted);
        }
        wanted
            .iter()
            .map(|d| {
                let key = d.id.to_ascii_lowercase();
                let obs = observed.get(&key).cloned().flatten();
                let stage = stages.get(&key).copied().unwrap_or(0);
                let held = held.map(|why| format!("{} writes {why}", d.kind));
                super::dag::Node {
                    key: d.id.clone(),
                    deps: d.deps.clone(),
                    run: Box::new(move || match held {
                        Some(why) => Box::pin(async move { self.hold(d, why) }),
                        None => Box::pin(self.converge(d, obs, stage)),
                    }),
                }
            })
            .collect()
    }

    /// Waits for this process's turn on the parent ARM serialises writes to `id` under, and
    /// keeps it until the guard drops (after the operation ended).
    async fn turn(&self, id: &str) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        self.turn_noting_wait(id).await.map(|(g, _)| g)
    }

    /// The read priority of what a pass does holding the turn on `id`'s parent (a read, an
    /// operation's polls): [`Priority::Held`], first of all reads, while other passes wait for
    /// that turn now; else at least [`Priority::Poll`], ahead of converging reads. In the
    /// 10-workspace benchmark a shared zone's creation was polled 2 and 2.6 s late among some 300
    /// other polls while the zone's ten links and nine other bindings queued behind it.
    fn holding_priority(&self, id: &str) -> Priority {
        let p = if self.turns.others_wait(id) { Priority::Held } else { Priority::Poll };
        current_priority().max(p)
    }

    /// A read made while holding the turn on `id`'s parent ([`Self::holding_priority`]).
    async fn get_holding_turn(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
        with_priority(self.holding_priority(id), self.arm.get(id)).await
    }

    /// The read of a resource whose own turn another pass held first (it has likely just created
    /// it), made holding that turn ([`Self::holding_priority`]). Shared infrastructure (a
    /// privatelink zone: nothing managed, no write decided on its content) may take an answer
    /// that it exists which another pass got meanwhile ([`Arm::get_infrastructure`]): the
    /// bindings of a fleet that wait for the pass creating their zone then read it once, not once
    /// each. In the 10-workspace benchmark nine bindings read each new zone one after the other,
    /// each waiting for read budget under the turn (3.3 s for the AML zone), and their zone
    /// groups and the zone's first VNet link waited for them. An answer that would have moat
    /// write (an absence is never reused; a zone of its own, failed or busy) is read again.
    async fn read_after_the_holder(&self, d: &Desired, stage: u8) -> Result<Option<Value>, ArmFailure> {
        if d.is_infrastructure() {
            let read = with_priority(self.holding_priority(&d.id), self.arm.get_infrastructure(&d.id)).await?;
            if !read.reused || matches!(decide(d, read.value.as_ref(), self.owner, stage), Decision::Converged) {
                return Ok(read.value);
            }
        }
        self.get_holding_turn(&d.id).await
    }

    /// [`Self::turn`], and whether another reconcile held it first.
    async fn turn_noting_wait(&self, id: &str) -> Option<(tokio::sync::OwnedMutexGuard<()>, bool)> {
        self.turns.take(id).await
    }

    /// With the turn for a write to `d` taken: when an operation a pass stopped waiting for
    /// still holds the parent in ARM (`super::turns`), polls it until it ends rather than send
    /// a write ARM would refuse; `Some` when it still runs at the deadline (nothing written).
    async fn after_the_holder(&self, d: &Desired) -> Option<NodeEnd> {
        let op = self.turns.holder(&d.id)?;
        tracing::info!(id = %d.id, holder = %op.resource_id, "an operation left running holds the parent: polling it before writing");
        loop {
            match with_priority(self.holding_priority(&op.resource_id), self.arm.poll_status(&op)).await {
                Ok(Polled::Running(after)) => {
                    if Instant::now() + after > self.deadline {
                        return Some(NodeEnd::NotDone(format!("{} {} waits for {} {}, which holds its parent in Azure", d.kind, d.id, op.method, op.resource_id)));
                    }
                    super::workers::idle_for_operation(tokio::time::sleep(after)).await;
                }
                Err(e) if e.retryable => {
                    if Instant::now() + self.busy_poll > self.deadline {
                        return Some(NodeEnd::NotDone(format!("{} {} waits for {} {} (polling it: {e})", d.kind, d.id, op.method, op.resource_id)));
                    }
                    tokio::time::sleep(self.busy_poll).await;
                }
                // Done, failed, or unknown to ARM (or not this object's to read): the parent is
                // not held by it, or a refused write will tell.
                Ok(Polled::Done(_)) | Err(_) => {
                    self.turns.ended(&op);
                    return None;
                }
            }
        }
    }

    /// Records that a constraint holds back the writes of `d`, and writes nothing.
    pub fn hold(&self, d: &Desired, why: String) -> NodeEnd {
        self.record(d, "Blocked");
        NodeEnd::NotDone(why)
    }

    /// Converges `d`, given what the GET at the start of the reconcile returned.
    pub async fn converge(&self, d: &Desired, observed: Option<Value>, stage: u8) -> NodeEnd {
        if let Some(op) = self.ops.find(&d.id).await {
            self.record(d, "Updating");
            return match self.wait(d, &op).await {
                Ok(body) => {
                    self.keep(&d.id, body);
                    self.record(d, "Succeeded");
                    NodeEnd::Done
                }
                Err(end) => end,
            };
        }
        // A shared resource (a privatelink zone) that is missing may be created by another object
        // while this one waits its turn: take the turn first, then look again.
        let mut observed = observed;
        if observed.is_none() && d.mode == Mode::Child {
            observed = self.through_parent(d);
        }
        // Where the provider honours `If-None-Match: *` (Private DNS), a create is sent create-only:
        // ARM refuses it (412) if the resource exists after all, so a 404 needs no second look,
        // unless another reconcile held this very resource's turn first (it has likely just
        // created the zone: a read then costs less than a refused write). A VNet link waits for
        // its zone's turn, which the other links of a shared zone hold one after the other: their
        // holders wrote other links, so the link is sent create-only without a second read (a
        // Private DNS read is the scarcest ARM allows: 500 per 5 minutes).
        let create_only = self.arm.can_create_only(&d.id);
        let mut turn = None;
        if d.mode == Mode::Shared && observed.is_none() {
            let (guard, held_for_it) = match self.turn_noting_wait(&d.id).await {
                Some((g, waited)) => (Some(g), waited && turn_is_its_own(&d.id)),
                None => (None, true),
            };
            turn = guard;
            if !create_only || held_for_it {
                let read = if turn.is_some() { self.read_after_the_holder(d, stage).await } else { self.arm.get(&d.id).await };
                if let Ok(now) = read {
                    observed = now;
                }
            }
        }
        // A 404 for something moat has seen exist is confirmed before anything is created over it:
        // ARM answers 404 spuriously during incidents and replication lag, and a create body over
        // an existing NSG or VNet would drop its rules or subnets. So is one for a VNet, NSG or
        // route table moat has not recorded: a moat killed right after sending its create left no
        // record, and others may have added children since.
        let confirm = self.seen.contains(&d.id.to_ascii_lowercase()) || crate::plan::reads::lists_children(&d.id);
        if observed.is_none() && confirm && !create_only && d.mode != Mode::Adopt {
            match self.confirm_absent(d).await {
                Absence::Confirmed => {}
                Absence::Exists(body) => observed = Some(body),
                Absence::Unsure(why) => {
                    self.record(d, "Unknown");
                    return NodeEnd::NotDone(why);
                }
            }
        }
        let mut retried_after_conflict = false;
        let mut found_on_create = false;
        loop {
            match decide(d, observed.as_ref(), self.owner, stage) {
                Decision::Converged => {
                    self.keep(&d.id, observed);
                    self.record(d, "Succeeded");
                    return NodeEnd::Done;
                }
                Decision::Refuse(msg) => {
                    self.record(d, "Refused");
                    self.events.publish(true, "NotOwned", "Reconcile", msg.clone(), Some((d.kind, &d.id))).await;
                    return NodeEnd::NotDone(msg);
                }
                Decision::Missing(msg) => {
                    self.record(d, "Missing");
                    self.events.publish(true, "AdoptedResourceMissing", "Reconcile", msg.clone(), Some((d.kind, &d.id))).await;
                    return NodeEnd::NotDone(msg);
                }
                Decision::Wait(msg) => {
                    self.record(d, "Updating");
                    return self.wait_until_terminal(d, msg).await;
                }
                Decision::Write(action) => {
                    let state = if action.verb == Verb::Create { "Creating" } else { "Updating" };
                    if action.verb == Verb::Create
                        && let Ok(mut c) = self.created.lock()
                    {
                        c.insert(d.id.to_ascii_lowercase());
                    }
                    self.record(d, state);
                    let _turn = match turn.take() {
                        Some(t) => Some(t),
                        None => self.turn(&d.id).await,
                    };
                    if let Some(end) = self.after_the_holder(d).await {
                        // Nothing was sent: not moat's creation (another object may create it
                        // meanwhile), as after a 412.
                        if let Ok(mut c) = self.created.lock() {
                            c.remove(&d.id.to_ascii_lowercase());
                        }
                        self.record(d, "Blocked");
                        return end;
                    }
                    let mut body = action.body.clone().unwrap_or(Value::Null);
                    if action.verb == Verb::Create {
                        body = self.with_inline_children(d, body);
                    }
                    let started = if action.verb == Verb::Create && action.method == "PUT" && create_only {
                        match self.arm.create_only(&d.id, &body).await {
                            Ok(Some(s)) => Ok(s),
                            // It exists after all (another object created it meanwhile, or the
                            // 404 was spurious): nothing was written; read it and decide again.
                            Ok(None) if !found_on_create => {
                                found_on_create = true;
                                // Not moat's creation: it must not be recorded as moat's.
                                if let Ok(mut c) = self.created.lock() {
                                    c.remove(&d.id.to_ascii_lowercase());
                                }
                                tracing::info!(id = %d.id, "a create-only PUT found the resource there (412); reading it before deciding again");
                                observed = match self.get_holding_turn(&d.id).await {
                                    Ok(v) => v,
                                    Err(e) => return self.failed(d, "Get", e).await,
                                };
                                continue;
                            }
                            Ok(None) => {
                                if let Ok(mut c) = self.created.lock() {
                                    c.remove(&d.id.to_ascii_lowercase());
                                }
                                self.record(d, "Unknown");
                                return NodeEnd::NotDone(format!("{} {}: ARM says it exists (412 to a create-only PUT) but reads it as absent; looking again later", d.kind, d.id));
                            }
                            Err(e) => Err(e),
                        }
                    } else {
                        self.arm.write(action.method, &d.id, &body).await
                    };
                    let (reason, verb) = match action.verb {
                        Verb::Create => ("Created", "Create"),
                        Verb::Update => ("Updated", "Update"),
                        Verb::Delete => ("Deleted", "Delete"),
                    };
                    tracing::info!(id = %d.id, kind = d.kind, operation = verb, method = action.method, why = %action.reason, "ARM write");
                    let result = match started {
                        // Another operation holds the resource (or its parent), often moat's own
                        // whose answer was lost: wait for it and decide again, never re-send blindly.
                        // The same when the answer was lost (5xx, timeout): ARM may have applied
                        // the write and be running its operation.
                        Err(e) if (e.is_another_operation() || e.maybe_applied) && !retried_after_conflict => {
                            retried_after_conflict = true;
                            drop(_turn);
                            if e.maybe_applied {
                                tracing::warn!(id = %d.id, code = %e.code, request_id = e.request_id.as_deref().unwrap_or(""), "the answer to a write was lost; reading the resource back before deciding again");
                            } else {
                                tracing::info!(id = %d.id, "another operation holds the resource; waiting for it before deciding again");
                            }
                            match self.wait_until_terminal(d, format!("{} {} is busy with another operation", d.kind, d.id)).await {
                                NodeEnd::Done => {}
                                other => return other,
                            }
                            observed = match self.arm.get(&d.id).await {
                                Ok(v) => v,
                                Err(e) => return self.failed(d, "Get", e).await,
                            };
                            continue;
                        }
                        Err(e) => Err(self.failed(d, verb, e).await),
                        Ok(Started::Done(v)) => Ok(v),
                        Ok(Started::Pending(op, after, tracked)) => {
                            if tracked {
                                self.ops.add_later(op.clone()).await;
                            } else if let Err(e) = self.ops.add(op.clone()).await {
                                tracing::warn!(id = %d.id, error = %e, "could not record the operation in status");
                            }
                            self.wait_after(d, &op, after).await
                        }
                    };
                    return match result {
                        Ok(body) => {
                            self.keep(&d.id, body);
                            self.record(d, "Succeeded");
                            if action.verb == Verb::Create {
                                // Creates are told once per pass, together (`publish_created`).
                                if let Ok(mut c) = self.created_events.lock() {
                                    c.push((d.kind, d.id.clone()));
                                }
                            } else {
                                let note = format!("{} {} ({})", d.kind, d.id, action.reason);
                                self.events.publish(false, reason, verb, note, Some((d.kind, &d.id))).await;
                            }
                            NodeEnd::Done
                        }
                        Err(end) => end,
                    };
                }
            }
        }
    }

    /// ARM said 404 for a resource moat has seen: look again after a pause, then ask the
    /// collection it belongs to (its parent's children, or its resource group's resources of its
    /// type), a different request that an incident on one resource's path does not share.
    async fn confirm_absent(&self, d: &Desired) -> Absence {
        tokio::time::sleep(self.busy_poll).await;
        match self.arm.get(&d.id).await {
            Ok(Some(body)) => return Absence::Exists(body),
            Ok(None) => {}
            Err(e) => return Absence::Unsure(format!("{} {}: ARM answered 404, then {}: {}; not creating it until ARM answers clearly", d.kind, d.id, e.code, e.message)),
        }
        let Some((collection, name)) = d.id.rsplit_once('/') else { return Absence::Confirmed };
        match self.arm.list(collection).await {
            Ok(items) if items.iter().any(|i| i.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))) => {
                tracing::warn!(id = %d.id, "ARM answered 404 twice, but its collection lists it; not creating it over itself");
                Absence::Unsure(format!("{} {}: ARM answered 404 but lists it in {collection}; not creating it over itself, looking again later", d.kind, d.id))
            }
            Ok(_) => Absence::Confirmed,
            Err(e) if e.code == "NotFound" || e.code == "ResourceNotFound" || e.code.contains("NotFound") => {
                // The parent itself is gone: nothing to overwrite.
                Absence::Confirmed
            }
            Err(e) => Absence::Unsure(format!("{} {}: ARM answered 404, and listing {collection} failed ({}: {}); not creating it until ARM answers clearly", d.kind, d.id, e.code, e.message)),
        }
    }

    /// Deletes a resource moat owns and waits for ARM to finish.
    pub async fn delete(&self, d: &Desired) -> NodeEnd {
        if let Some(op) = self.ops.find(&d.id).await.filter(|o| o.method == "DELETE") {
            return match self.wait(d, &op).await {
                Ok(_) => NodeEnd::Done,
                Err(end) => end,
            };
        }
        self.record(d, "Deleting");
        let _turn = self.turn(&d.id).await;
        if let Some(end) = self.after_the_holder(d).await {
            return end;
        }
        let result = match self.arm.delete(&d.id).await {
            Err(e) => Err(self.failed(d, "Delete", e).await),
            Ok(Started::Done(_)) => Ok(None),
            Ok(Started::Pending(op, after, _)) => {
                if let Err(e) = self.ops.add(op.clone()).await {
                    tracing::warn!(id = %d.id, error = %e, "could not record the operation in status");
                }
                self.wait_after(d, &op, after).await
            }
        };
        match result {
            Ok(_) => {
                tracing::info!(id = %d.id, kind = d.kind, operation = "Delete", "ARM write");
                self.record(d, "Deleted");
                self.events.publish(false, "Deleted", "Delete", format!("{} {}", d.kind, d.id), Some((d.kind, &d.id))).await;
                NodeEnd::Done
            }
            Err(end) => end,
        }
    }

    async fn failed(&self, d: &Desired, verb: &str, e: ArmFailure) -> NodeEnd {
        self.record(d, "Failed");
        let msg = format!("{verb} {} {}: {}: {}", d.kind, d.id, e.code, e.message);
        let note = match &e.request_id {
            Some(r) => format!("{msg} (x-ms-request-id {r})"),
            None => msg.clone(),
        };
        tracing::warn!(id = %d.id, operation = verb, code = %e.code, request_id = e.request_id.as_deref().unwrap_or(""), message = %e.message, "ARM write failed");
        self.events.publish(true, "AzureError", verb, note, Some((d.kind, &d.id))).await;
        NodeEnd::Failed(msg)
    }

    /// Waits the `Retry-After` ARM answered a write with, then polls: polling sooner only
    /// costs a read that reports the operation still running. Every wait for an operation's
    /// `Retry-After` lends the pass's worker to the next queued pass where its controller lends on
    /// operations (`super::workers::idle_for_operation`).
    async fn wait_after(&self, d: &Desired, op: &PendingOperation, after: Duration) -> Result<Option<Value>, NodeEnd> {
        if Instant::now() + after > self.deadline {
            self.turns.left_running(op);
            return Err(NodeEnd::NotDone(format!("{} {} is still running", op.method, op.resource_id)));
        }
        super::workers::idle_for_operation(tokio::time::sleep(after)).await;
        self.wait(d, op).await
    }

    /// Polls a recorded operation until it ends or the deadline passes (at once first: a
    /// resumed operation may have ended while nobody watched). An operation that ends `Failed`
    /// is not done: the resource is recorded `Failed` with Azure's code and message.
    async fn wait(&self, d: &Desired, op: &PendingOperation) -> Result<Option<Value>, NodeEnd> {
        // The final GET of a write is only for the body; most bodies nothing reads afterwards.
        let read_body = op.method != "DELETE" && body_read_after_write(d.kind);
        loop {
            let polled = with_priority(self.holding_priority(&op.resource_id), async { if read_body { self.arm.poll(op).await } else { self.arm.poll_status(op).await } }).await;
            match polled {
                Ok(Polled::Done(v)) => {
                    self.turns.ended(op);
                    self.ops.remove(&op.resource_id).await;
                    return Ok(v);
                }
                Ok(Polled::Running(after)) => {
                    if Instant::now() + after > self.deadline {
                        self.turns.left_running(op);
                        return Err(NodeEnd::NotDone(format!("{} {} is still running", op.method, op.resource_id)));
                    }
                    super::workers::idle_for_operation(tokio::time::sleep(after)).await;
                }
                Err(e) if e.retryable => {
                    if Instant::now() + self.busy_poll > self.deadline {
                        self.turns.left_running(op);
                        return Err(NodeEnd::NotDone(format!("polling {}: {}", op.resource_id, e)));
                    }
                    tokio::time::sleep(self.busy_poll).await;
                }
                Err(e) => {
                    // The operation failed: forget it, so the next reconcile decides afresh (and
                    // writes the resource again, after the object's backoff).
                    self.turns.ended(op);
                    self.ops.remove(&op.resource_id).await;
                    self.record(d, "Failed");
                    let msg = format!("{} {} failed: {}: {}", op.method, op.resource_id, e.code, e.message);
                    let note = match &e.request_id {
                        Some(r) => format!("{msg} (x-ms-request-id {r})"),
                        None => msg.clone(),
                    };
                    tracing::warn!(id = %op.resource_id, code = %e.code, message = %e.message, "ARM operation failed");
                    self.events.publish(true, "OperationFailed", &op.method, note, Some((d.kind, &d.id))).await;
                    return Err(NodeEnd::Failed(msg));
                }
            }
        }
    }

    /// Someone else's operation holds the resource: re-read until it ends.
    async fn wait_until_terminal(&self, d: &Desired, msg: String) -> NodeEnd {
        loop {
            if Instant::now() + self.busy_poll > self.deadline {
                return NodeEnd::NotDone(msg);
            }
            tokio::time::sleep(self.busy_poll).await;
            match self.arm.get(&d.id).await {
                Ok(Some(v)) if is_terminal(&v) => {
                    let state = provisioning_state(&v).unwrap_or("Succeeded").to_string();
                    let ok = state.eq_ignore_ascii_case("Succeeded");
                    self.keep(&d.id, Some(v));
                    self.record(d, if ok { "Succeeded" } else { "Failed" });
                    return if ok { NodeEnd::Done } else { NodeEnd::Failed(format!("{} {} ended in provisioning state {state}", d.kind, d.id)) };
                }
                // Gone while we waited (a delete that was running): nothing holds it any more.
                Ok(None) => return NodeEnd::Done,
                Ok(_) => {}
                Err(e) if e.retryable => {}
                Err(e) => return self.failed(d, "Get", e).await,
            }
        }
    }
}

/// Whether a pass reads the body of a resource of `kind` after writing it: a private endpoint's
/// (its addresses and connection state go to status), and a VNet's, NSG's or route table's (the
/// children it lists are read through it). The others end with their operation's `Succeeded`,
/// without a final GET; the next observe reads them.
pub fn body_read_after_write(kind: &str) -> bool {
    matches!(kind, "PrivateEndpoint" | "VirtualNetwork" | "NetworkSecurityGroup" | "RouteTable")
}

/// The Ready message of a pass whose writes failed, the same for the same failures whatever
/// order the graph ran them in: the failure of the lowest id, and how many others failed.
pub fn failure_summary(ends: &std::collections::HashMap<String, NodeEnd>) -> Option<String> {
    let mut failed: Vec<(String, &str)> = ends.iter().filter(|(_, e)| e.is_failed()).filter_map(|(k, e)| e.problem().map(|p| (k.to_ascii_lowercase(), p))).collect();
    failed.sort();
    let (_, first) = failed.first()?;
    let more = match failed.len() - 1 {
        0 => String::new(),
        1 => " (and 1 more write failed)".to_string(),
        n => format!(" (and {n} more writes failed)"),
    };
    Some(format!("{first}{more}; moat writes again, backing off up to the resync period"))
}

/// Before creating anything, whether the resource groups moat would create in exist: a group
/// that does not (a typo in the spec) fails every create in it, so one read says so and nothing
/// is sent. Only read when something is to be created (a converged object costs nothing).
/// `fields` names the spec field of each group (`("rg-ml", "spec.resourceGroup")`).
pub async fn missing_resource_group(
    arm: &dyn Arm,
    wanted: &[Desired],
    observed: &std::collections::HashMap<String, Option<Value>>,
    fields: &[(&str, &str)],
) -> Result<Option<String>, ArmFailure> {
    let mut groups: Vec<(String, String)> = Vec::new();
    for d in wanted.iter().filter(|d| d.mode != Mode::Adopt) {
        if !matches!(observed.get(&d.id.to_ascii_lowercase()), Some(None)) {
            continue;
        }
        let Ok(id) = crate::azure::ResourceId::parse(&d.id) else { continue };
        let (Some(sub), Some(rg)) = (id.subscription(), id.resource_group()) else { continue };
        if !groups.iter().any(|(s, r)| s.eq_ignore_ascii_case(sub) && r.eq_ignore_ascii_case(rg)) {
            groups.push((sub.to_string(), rg.to_string()));
        }
    }
    for (sub, rg) in groups {
        if arm.get_lasting(&format!("/subscriptions/{sub}/resourceGroups/{rg}")).await?.value.is_none() {
            let field = fields.iter().find(|(r, _)| r.eq_ignore_ascii_case(&rg)).map(|(_, f)| *f).unwrap_or("the spec");
            return Ok(Some(format!(
                "resource group {rg} does not exist in subscription {sub}: moat creates resources in a resource group, not the group itself; create it, or fix {field}; nothing was written"
            )));
        }
    }
    Ok(None)
}

/// Whether the turn `id` waits for (`crate::azure::locks::operation_key`) is its own: a private
/// DNS zone's, not the zone a VNet link of it waits for.
fn turn_is_its_own(id: &str) -> bool {
    let Ok(rid) = crate::azure::ResourceId::parse(id) else { return true };
    crate::azure::locks::operation_key(&rid).is_none_or(|key| key == rid)
}

/// What a second look at a 404 says.
enum Absence {
    /// Gone, as far as ARM can tell: create it.
    Confirmed,
    /// It is there after all.
    Exists(Value),
    /// ARM contradicts itself or does not answer: write nothing this pass.
    Unsure(String),
}

/// After a teardown, the ids in `ids` that ARM still returns: the object keeps its finalizer
/// until this is empty, so a deletion is only reported done once ARM agrees.
pub async fn still_present(arm: &dyn Arm, ids: impl IntoIterator<Item = &str>) -> Result<Vec<String>, ArmFailure> {
    let mut left = Vec::new();
    for id in ids {
        if arm.get(id).await?.is_some() {
            left.push(id.to_string());
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::decide::UpdateStyle;
    use serde_json::json;

    const ZONE: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";

    /// A Private DNS provider that logs every request. `someone_else` makes a create-only PUT
    /// find the zone there (created meanwhile by another party): 412, nothing written.
    struct Dns {
        log: Mutex<Vec<String>>,
        zone: Mutex<Option<Value>>,
        someone_else: Option<Value>,
        running: bool,
        /// The pacing priority of each GET.
        read_priorities: Mutex<Vec<Priority>>,
    }

    impl Dns {
        fn new(someone_else: Option<Value>, running: bool) -> Self {
            Dns { log: Mutex::new(vec![]), zone: Mutex::new(None), someone_else, running, read_priorities: Mutex::new(vec![]) }
        }
        fn read_priorities(&self) -> Vec<Priority> {
            self.read_priorities.lock().expect("lock").clone()
        }
        fn log(&self, s: String) {
            self.log.lock().expect("lock").push(s);
        }
        fn requests(&self) -> Vec<String> {
            self.log.lock().expect("lock").clone()
        }
    }

    #[async_trait::async_trait]
    impl Arm for Dns {
        async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
            self.log(format!("GET {id}"));
            self.read_priorities.lock().expect("lock").push(current_priority());
            Ok(self.zone.lock().expect("lock").clone())
        }
        async fn list(&self, c: &str) -> Result<Vec<Value>, ArmFailure> {
            self.log(format!("LIST {c}"));
            Ok(vec![])
        }
        async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure> {
            self.log(format!("{method} {id}"));
            *self.zone.lock().expect("lock") = Some(body.clone());
            Ok(Started::Done(Some(body.clone())))
        }
        fn can_create_only(&self, _: &str) -> bool {
            true
        }
        async fn create_only(&self, id: &str, body: &Value) -> Result<Option<Started>, ArmFailure> {
            self.log(format!("PUT if-none-match {id}"));
            if let Some(theirs) = &self.someone_else {
                *self.zone.lock().expect("lock") = Some(theirs.clone());
                return Ok(None);
            }
            *self.zone.lock().expect("lock") = Some(body.clone());
            if self.running {
                let op = PendingOperation { resource_id: id.into(), method: "PUT".into(), poll_url: "https://op".into(), poll_kind: "AzureAsyncOperation".into(), started_at: "2026-12-06T00:00:00Z".into() };
                return Ok(Some(Started::Pending(op, Duration::ZERO, true)));
            }
            Ok(Some(Started::Done(Some(body.clone()))))
        }
        async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
            self.log(format!("DELETE {id}"));
            Ok(Started::Done(None))
        }
        async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.log(format!("POLL+GET {}", op.resource_id));
            Ok(Polled::Done(self.zone.lock().expect("lock").clone()))
        }
        async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.log(format!("POLL {}", op.resource_id));
            Ok(Polled::Done(None))
        }
    }

    struct NoEvents;
    impl EventSink for NoEvents {
        fn publish(&self, _: bool, _: &str, _: &str, _: String, _: Option<(&str, &str)>) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    fn zone(owner: &Owner) -> Desired {
        let body = json!({"location": "global", "tags": owner.tags(&Default::default())});
        Desired { kind: "PrivateDnsZone", id: ZONE.into(), mode: Mode::Shared, managed: json!({}), body, update: UpdateStyle::MergePut, deps: vec![] }
    }

    async fn converge_zone(arm: &Dns, recorded: &[ResourceStatus]) -> (NodeEnd, Vec<ResourceStatus>) {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let locks = Turns::new();
        let conv = Converger::new(arm, &owner, &ops, &NoEvents, &Settings::default(), &locks, recorded);
        let end = conv.converge(&zone(&owner), None, 0).await;
        (end, conv.resources())
    }

    #[tokio::test]
    async fn a_zone_read_absent_is_created_create_only_without_a_second_look() {
        let arm = Dns::new(None, false);
        let (end, _) = converge_zone(&arm, &[]).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        assert_eq!(arm.requests(), vec![format!("PUT if-none-match {ZONE}")]);
    }

    #[tokio::test]
    async fn a_zone_someone_created_meanwhile_is_read_and_left_as_it_is() {
        let theirs = json!({"id": ZONE, "location": "global", "tags": {"team": "hub"}, "properties": {"provisioningState": "Succeeded"}});
        let arm = Dns::new(Some(theirs), false);
        let (end, resources) = converge_zone(&arm, &[]).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        // The create-only PUT wrote nothing (412); one read, and no other write.
        assert_eq!(arm.requests(), vec![format!("PUT if-none-match {ZONE}"), format!("GET {ZONE}")]);
        // That read holds the zone's turn: it goes with operation polls, before converging reads.
        assert_eq!(arm.read_priorities(), vec![Priority::Poll]);
        assert_eq!(resources.iter().map(|r| (r.state.as_str(), r.owned)).collect::<Vec<_>>(), vec![("Succeeded", false)], "someone else's zone is never recorded as moat's");
    }

    #[tokio::test]
    async fn a_zone_moat_recorded_that_reads_absent_needs_no_confirmation_when_created_create_only() {
        let recorded = vec![ResourceStatus { kind: "PrivateDnsZone".into(), id: ZONE.into(), state: "Succeeded".into(), owned: true }];
        let arm = Dns::new(None, false);
        let (end, _) = converge_zone(&arm, &recorded).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        assert_eq!(arm.requests(), vec![format!("PUT if-none-match {ZONE}")]);
    }

    #[tokio::test]
    async fn a_write_whose_body_nothing_reads_ends_with_its_operation_and_no_final_get() {
        let arm = Dns::new(None, true);
        let (end, _) = converge_zone(&arm, &[]).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        assert_eq!(arm.requests(), vec![format!("PUT if-none-match {ZONE}"), format!("POLL {ZONE}")]);
        assert!(!body_read_after_write("PrivateDnsZone") && body_read_after_write("PrivateEndpoint") && body_read_after_write("VirtualNetwork"));
    }

    /// Converges `d` (read absent) while another reconcile holds the zone's turn for a moment.
    async fn converge_after_the_zone_was_held(d: Desired) -> (NodeEnd, Vec<String>, Vec<Priority>) {
        let arm = Dns::new(None, false);
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let locks = Turns::new();
        let (held, _) = locks.take(ZONE).await.expect("a zone serialises its writes");
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &locks, &[]);
        let release = async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(held);
        };
        let (end, ()) = tokio::join!(conv.converge(&d, None, 0), release);
        (end, arm.requests(), arm.read_priorities())
    }

    #[tokio::test]
    async fn a_link_that_waited_for_its_zone_is_created_create_only_without_a_second_read() {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let link = format!("{ZONE}/virtualNetworkLinks/moat-vnet-a");
        let managed = json!({"properties": {"virtualNetwork": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet-a"}, "registrationEnabled": false}});
        let mut body = json!({"location": "global", "tags": owner.tags(&Default::default())});
        crate::plan::diff::merge(&mut body, &managed);
        let d = Desired { kind: "VirtualNetworkLink", id: link.clone(), mode: Mode::Shared, managed, body, update: UpdateStyle::MergePut, deps: vec![] };
        let (end, requests, _) = converge_after_the_zone_was_held(d).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        // The holder wrote the zone or another of its links: no Private DNS read for this one.
        assert_eq!(requests, vec![format!("PUT if-none-match {link}")]);
    }

    #[tokio::test]
    async fn a_zone_whose_turn_another_held_is_read_again_before_its_create() {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let (end, requests, priorities) = converge_after_the_zone_was_held(zone(&owner)).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        // The holder has likely just created this very zone: a read costs less than a refused write.
        assert_eq!(requests, vec![format!("GET {ZONE}"), format!("PUT if-none-match {ZONE}")]);
        // Made holding the zone's turn, which the fleet's other bindings of the zone wait for, it
        // goes with operation polls: converging reads of the fleet do not hold it back.
        assert_eq!(priorities, vec![Priority::Poll]);
    }

    /// Passes that waited for the turn of a zone another pass held (creating it) each converge it
    /// through the fleet's shared reads; returns ARM's requests.
    async fn zone_waited_for_by(waiters: usize, zone_then: Value, waiter_uid: &str) -> (Vec<NodeEnd>, Vec<String>) {
        let dns = std::sync::Arc::new(Dns::new(None, false));
        let shared = super::super::shared_reads::SharedReads::new(dns.clone(), Duration::from_secs(150));
        let locks = Turns::new();
        let (held, _) = locks.take(ZONE).await.expect("a zone serialises its writes");
        let owners: Vec<Owner> = (0..waiters).map(|k| Owner::new("PrivateEndpointBinding", "ns", &format!("b{k}"), &format!("{waiter_uid}{k}"))).collect();
        let ops: Vec<OpsTracker> = (0..waiters).map(|_| OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })))).collect();
        let convs: Vec<Converger<'_>> = owners.iter().zip(&ops).map(|(o, ops)| Converger::new(&shared, o, ops, &NoEvents, &Settings::default(), &locks, &[])).collect();
        let desired: Vec<Desired> = owners.iter().map(zone).collect();
        // The creator ends once the waiters queue for its turn.
        let creator = async {
            tokio::time::timeout(Duration::from_secs(5), async {
                while !locks.others_wait(ZONE) {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the waiters queue for the zone's turn");
            *dns.zone.lock().expect("lock") = Some(zone_then);
            drop(held);
        };
        let (ends, ()) = tokio::join!(futures::future::join_all(convs.iter().zip(&desired).map(|(c, d)| c.converge(d, None, 0))), creator);
        (ends, dns.requests())
    }

    #[tokio::test]
    async fn the_passes_that_waited_for_the_pass_creating_their_zone_read_it_once_between_them() {
        let creator = Owner::new("PrivateEndpointBinding", "ns", "creator", "uid-creator");
        let created = json!({"id": ZONE, "location": "global", "tags": creator.tags(&Default::default()), "properties": {"provisioningState": "Succeeded"}});
        let (ends, requests) = zone_waited_for_by(3, created, "uid-w").await;
        assert!(ends.iter().all(|e| matches!(e, NodeEnd::Done)), "{ends:?}");
        // One read for the three (the first to take the turn); the others take its answer, and
        // nobody writes a zone that exists.
        assert_eq!(requests, vec![format!("GET {ZONE}")]);
    }

    #[tokio::test]
    async fn a_shared_answer_that_would_have_moat_write_its_zone_is_read_again() {
        // The zone is the second waiter's own and failed: the first waiter (another binding)
        // reads it and leaves it alone; the second would write it again, so it does not take the
        // first one's answer but reads it afresh before writing.
        let own = Owner::new("PrivateEndpointBinding", "ns", "b1", "uid-w1");
        let failed = json!({"id": ZONE, "location": "global", "tags": own.tags(&Default::default()), "properties": {"provisioningState": "Failed"}});
        let (ends, requests) = zone_waited_for_by(2, failed, "uid-w").await;
        assert!(ends.iter().all(|e| matches!(e, NodeEnd::Done)), "{ends:?}");
        assert_eq!(requests, vec![format!("GET {ZONE}"), format!("GET {ZONE}"), format!("PUT {ZONE}")]);
    }

    /// [`Dns`] whose operations run for `polls` polls (`u32::MAX`: for ever).
    struct Slow {
        dns: Dns,
        polls: std::sync::atomic::AtomicU32,
        /// The pacing priority of each poll.
        poll_priorities: Mutex<Vec<Priority>>,
    }

    impl Slow {
        fn new(polls: u32) -> Self {
            Slow { dns: Dns::new(None, true), polls: std::sync::atomic::AtomicU32::new(polls), poll_priorities: Mutex::new(vec![]) }
        }
        fn next(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.dns.log(format!("POLL {}", op.resource_id));
            self.poll_priorities.lock().expect("lock").push(current_priority());
            let left = self.polls.load(std::sync::atomic::Ordering::SeqCst);
            if left == 0 {
                return Ok(Polled::Done(None));
            }
            if left != u32::MAX {
                self.polls.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(Polled::Running(Duration::from_millis(10)))
        }
    }

    #[async_trait::async_trait]
    impl Arm for Slow {
        async fn get(&self, id: &str) -> Result<Option<Value>, ArmFailure> {
            self.dns.get(id).await
        }
        async fn list(&self, c: &str) -> Result<Vec<Value>, ArmFailure> {
            self.dns.list(c).await
        }
        async fn write(&self, method: &str, id: &str, body: &Value) -> Result<Started, ArmFailure> {
            self.dns.write(method, id, body).await
        }
        fn can_create_only(&self, _: &str) -> bool {
            true
        }
        async fn create_only(&self, id: &str, body: &Value) -> Result<Option<Started>, ArmFailure> {
            self.dns.create_only(id, body).await
        }
        async fn delete(&self, id: &str) -> Result<Started, ArmFailure> {
            self.dns.delete(id).await
        }
        async fn poll(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.next(op)
        }
        async fn poll_status(&self, op: &PendingOperation) -> Result<Polled, ArmFailure> {
            self.next(op)
        }
    }

    fn link(owner: &Owner, vnet: &str) -> Desired {
        let managed = json!({"properties": {"virtualNetwork": {"id": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/{vnet}")}, "registrationEnabled": false}});
        let mut body = json!({"location": "global", "tags": owner.tags(&Default::default())});
        crate::plan::diff::merge(&mut body, &managed);
        Desired { kind: "VirtualNetworkLink", id: format!("{ZONE}/virtualNetworkLinks/moat-{vnet}"), mode: Mode::Shared, managed, body, update: UpdateStyle::MergePut, deps: vec![] }
    }

    #[tokio::test]
    async fn a_write_under_a_parent_an_operation_left_running_holds_polls_that_operation_first() {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let turns = Turns::new();
        // Another binding's link create: its pass stopped waiting (its budget spent) while ARM ran it.
        let (a, b) = (link(&owner, "vnet-a"), link(&owner, "vnet-b"));
        let arm = Slow::new(u32::MAX);
        let mut first = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        first.deadline = Instant::now() + Duration::from_millis(50);
        let end = first.converge(&a, None, 0).await;
        assert!(matches!(&end, NodeEnd::NotDone(m) if m.contains("still running")), "{end:?}");
        assert_eq!(turns.holder(&b.id).map(|o| o.resource_id), Some(a.id.clone()), "the zone is held by it");

        // The next write to the zone polls that operation, and writes once it ended.
        let arm = Slow::new(2);
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        let end = conv.converge(&b, None, 0).await;
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        let poll_a = format!("POLL {}", a.id);
        assert_eq!(arm.dns.requests()[..3], [poll_a.clone(), poll_a.clone(), poll_a.clone()], "{:?}", arm.dns.requests());
        assert_eq!(arm.dns.requests()[3], format!("PUT if-none-match {}", b.id));
        assert_eq!(turns.unfinished(), 0, "it ended: nothing holds the zone");

        // Still running at the writer's own deadline: nothing is sent, and it still holds the zone.
        let arm = Slow::new(u32::MAX);
        turns.left_running(&PendingOperation { resource_id: a.id.clone(), method: "PUT".into(), poll_url: "https://op".into(), poll_kind: "AzureAsyncOperation".into(), started_at: String::new() });
        let mut conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        conv.deadline = Instant::now() + Duration::from_millis(50);
        let end = conv.converge(&b, None, 0).await;
        assert!(matches!(&end, NodeEnd::NotDone(m) if m.contains("waits for PUT") && m.contains("moat-vnet-a")), "{end:?}");
        assert!(arm.dns.requests().iter().all(|r| r.starts_with("POLL ")), "no write: {:?}", arm.dns.requests());
        assert_eq!(turns.unfinished(), 1);
        // Not recorded as moat's: nothing was created, and another binding may create it meanwhile.
        let rec = conv.resources().into_iter().find(|r| r.id == b.id).expect("recorded");
        assert_eq!((rec.state.as_str(), rec.owned), ("Blocked", false));
    }

    #[tokio::test]
    async fn an_operation_other_passes_wait_for_is_polled_first_of_all_reads() {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let turns = Turns::new();
        // Alone on the zone: its polls go at the caller's priority.
        let arm = Slow::new(3);
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        assert!(matches!(conv.converge(&link(&owner, "vnet-a"), None, 0).await, NodeEnd::Done));
        assert!(!arm.poll_priorities.lock().expect("lock").contains(&Priority::Held));

        // Another binding queues for the zone's turn while the link's operation runs (20 polls,
        // 10 ms apart): from then on the operation it waits for is polled first of all reads.
        let arm = Slow::new(20);
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        let queued = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(turns.take(&link(&owner, "vnet-b").id).await);
        };
        let c = link(&owner, "vnet-c");
        let (end, ()) = tokio::join!(conv.converge(&c, None, 0), queued);
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        let priorities = arm.poll_priorities.lock().expect("lock").clone();
        assert_eq!(priorities.last(), Some(&Priority::Held), "{priorities:?}");
        assert!(priorities.iter().filter(|p| **p == Priority::Held).count() >= 15, "{priorities:?}");
        assert!(!turns.others_wait(ZONE), "nobody waits once it ended");
    }

    #[tokio::test]
    async fn a_pass_waiting_out_its_operations_retry_after_lends_its_worker_to_the_next_pass() {
        use super::super::workers::{Workers, holding};
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let turns = Turns::new();
        // One worker; the operation runs 200 polls 10 ms apart (about 2 s).
        let workers = Workers::new(1);
        let arm = Slow::new(200);
        let conv = Converger::new(&arm, &owner, &ops, &NoEvents, &Settings::default(), &turns, &[]);
        let d = link(&owner, "vnet-a");
        let first = holding(workers.worker().await, conv.converge(&d, None, 0));
        // A pass queued behind it starts while it waits, not once its operation ended.
        let next = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let started = tokio::time::timeout(Duration::from_millis(500), workers.worker()).await.is_ok();
            let polls_then = arm.poll_priorities.lock().expect("lock").len();
            (started, polls_then)
        };
        let (end, (started, polls_then)) = tokio::join!(first, next);
        assert!(matches!(end, NodeEnd::Done), "{end:?}");
        assert!(started, "the next pass got the worker while the first waited for its operation");
        assert!(polls_then < 150, "long before the operation ended ({polls_then} polls)");
    }

    #[derive(Default)]
    struct Recording(Mutex<Vec<(String, String, bool)>>);
    impl EventSink for Recording {
        fn publish(&self, _: bool, reason: &str, _: &str, note: String, about: Option<(&str, &str)>) -> BoxFuture<'_, ()> {
            self.0.lock().expect("lock").push((reason.to_string(), note, about.is_some()));
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn what_a_pass_creates_is_told_in_one_event() {
        let arm = Dns::new(None, false);
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let ops = OpsTracker::new(vec![], Box::new(|_| Box::pin(async { Ok(()) })));
        let locks = Turns::new();
        let events = Recording::default();
        let conv = Converger::new(&arm, &owner, &ops, &events, &Settings::default(), &locks, &[]);
        let mut second = zone(&owner);
        second.id = ZONE.replace("blob", "file");
        for d in [zone(&owner), second] {
            assert!(matches!(conv.converge(&d, None, 0).await, NodeEnd::Done));
        }
        assert!(events.0.lock().expect("lock").is_empty(), "nothing told before the pass ends");
        conv.publish_created().await;
        let told = events.0.lock().expect("lock").clone();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].0, "Created");
        assert!(told[0].1.starts_with("2 Azure resources: PrivateDnsZone privatelink.blob.core.windows.net, PrivateDnsZone privatelink.file.core.windows.net"), "{}", told[0].1);
        conv.publish_created().await;
        assert_eq!(events.0.lock().expect("lock").len(), 1, "told once");
    }
}
