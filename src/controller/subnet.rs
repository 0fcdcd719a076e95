//! The ComputeSubnet reconciler: NSG with the documented rules, route table with the
//! forced-tunneling routes, and the subnet attached to both.

use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::conditions::{self as cond, ReadyReason, condition};
use super::resync::Noting;
use super::arm::Arm;
use super::progress::{PassStatus, run_with_progress};
use super::context::{Context, FINALIZER, ObjectEvents, Outcome, current_status, ns_name, ops_persister, record_intents, with_finalizer, write_status};
use super::converge::{EventSink, OpsTracker};
use super::dag::{self, Node, NodeEnd};
use super::error::{Error, Result};
use super::workspace::observe_for_plan_knowing;
use crate::api::{ComputeSubnet, ComputeSubnetStatus, DeletionPolicy, SecureWorkspace};
use crate::plan::ownership::Owner;
use crate::plan::subnet::{SubnetIds, desired, rules_and_routes, stale_children};
use crate::plan::{Desired, Mode};
use crate::tenancy::{self, Subject};

pub async fn reconcile(cs: Arc<ComputeSubnet>, ctx: Arc<Context>) -> Result<Action> {
    with_finalizer(cs, &ctx, |o| apply(o, &ctx), |o| cleanup(o, &ctx)).await
}

fn owner_of(cs: &ComputeSubnet, ns: &str) -> Result<Owner> {
    let uid = cs.uid().ok_or(Error::MissingMetadata("uid"))?;
    Ok(Owner::new("ComputeSubnet", ns, &cs.name_any(), &uid))
}

async fn set_blocked(api: &Api<ComputeSubnet>, name: &str, mut status: ComputeSubnetStatus, generation: Option<i64>, reason: ReadyReason, message: &str) -> Result<()> {
    let before = status.clone();
    cond::set(&mut status.conditions, cond::ready(reason, message, generation));
    status.observed_generation = generation;
    write_status(api, name, Some(&before), &status).await
}

/// Usable addresses of a prefix: its size minus the five Azure keeps.
pub fn usable(prefix: &str) -> Option<i64> {
    let net: ipnet::Ipv4Net = prefix.parse().ok()?;
    Some((1i64 << (32 - net.prefix_len())) - 5).map(|n| n.max(0))
}

/// The workspace a ComputeSubnet refers to: from the shared store, or from the apiserver while
/// the store is still filling.
async fn workspace_of(ctx: &Context, ns: &str, cs: &ComputeSubnet) -> Result<Option<SecureWorkspace>> {
    if let Some(ws) = ctx.stores.workspace(ns, &cs.spec.workspace_ref.name) {
        return Ok(Some(ws.as_ref().clone()));
    }
    let api: Api<SecureWorkspace> = Api::namespaced(ctx.client.clone(), ns);
    api.get_opt(&cs.spec.workspace_ref.name).await.map_err(Error::kube("get SecureWorkspace"))
}

/// The moat-named rules and routes on the NSG and route table that the plan no longer wants,
/// with the body ARM returned (their effect decides when they may go).
fn stale(ids: &SubnetIds, wanted: &[Desired], observed: &HashMap<String, Option<Value>>) -> Vec<Desired> {
    let mut out = Vec::new();
    for (parent, collection, kind) in [(Some(&ids.nsg), "securityRules", "SecurityRule"), (ids.route_table.as_ref(), "routes", "Route")] {
        let Some(parent) = parent else { continue };
        let Some(Some(body)) = observed.get(&parent.to_ascii_lowercase()) else { continue };
        for id in stale_children(body, collection, parent, wanted) {
            let child = child_body(body, collection, &id);
            out.push(Desired { kind, id, mode: Mode::Child, body: child, managed: Value::Null, update: crate::plan::decide::UpdateStyle::MergePut, deps: vec![] });
        }
    }
    out
}

/// A child's body as its parent's GET lists it.
fn child_body(parent: &Value, collection: &str, id: &str) -> Value {
    let name = crate::plan::ids::name_of(id);
    parent
        .get("properties")
        .and_then(|p| p.get(collection))
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|c| c.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Adds the safe-transition order (`plan::order`) to the plan: under one NSG or route table,
/// narrowing changes wait for widening ones; the subnet waits for all of them.
fn order_transition(wanted: &mut [Desired], stale: &mut [Desired]) {
    let changes: Vec<crate::plan::order::Change<'_>> = wanted
        .iter()
        .map(|d| crate::plan::order::Change { kind: d.kind, id: &d.id, body: &d.body, removing: false })
        .chain(stale.iter().map(|d| crate::plan::order::Change { kind: d.kind, id: &d.id, body: &d.body, removing: true }))
        .collect();
    let extra = crate::plan::order::safe_order(&changes);
    let stale_ids: Vec<String> = stale.iter().map(|d| d.id.clone()).collect();
    for d in wanted.iter_mut().chain(stale.iter_mut()) {
        if let Some(more) = extra.get(&d.id.to_ascii_lowercase()) {
            d.deps.extend(more.iter().cloned());
        }
        if d.kind == "Subnet" {
            d.deps.extend(stale_ids.iter().cloned());
        }
    }
}

async fn apply(cs: Arc<ComputeSubnet>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(cs.as_ref())?;
    let api: Api<ComputeSubnet> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = cs.metadata.generation;
    // Status as the apiserver has it (the store's copy only when it holds moat's own last status
    // write): the ownership record of children and the in-flight operations must not be lost to
    // a cache that has not seen the last status write.
    let recorded = current_status(&api, cs.as_ref()).await?;
    let mut status = recorded.clone().unwrap_or_default();
    let retry = Action::requeue(ctx.settings.retry);
    status.usable_ips = usable(cs.spec.address_prefix.as_str());

    let Some(ws) = workspace_of(ctx, &ns, &cs).await? else {
        let msg = format!("SecureWorkspace {} not found in namespace {ns}: create it, or fix spec.workspaceRef.name", cs.spec.workspace_ref.name);
        set_blocked(&api, &name, status, generation, ReadyReason::WorkspaceNotFound, &msg).await?;
        // The workspace's creation wakes this object (it is watched); the resync is a safety net.
        return Ok(Action::requeue(ctx.settings.resync));
    };
    // Tenancy: every Azure scope the spec (and its workspace) names is checked against the
    // namespace's policies before any ARM request; the ARM access is confined to them.
    let scoped = match tenancy::arm_for(ctx, &ns, &Subject::Subnet { spec: &cs.spec, workspace: &ws }).await {
        Ok(a) => a,
        Err(r) => {
            set_blocked(&api, &name, status, generation, r.reason, &r.message).await?;
            return Ok(Action::requeue(r.requeue(ctx.settings.resync, ctx.settings.retry)));
        }
    };
    let owner = owner_of(&cs, &ns)?;
    let group = format!("{ns}/{}", cs.spec.workspace_ref.name);
    // A resync after a converged pass: the Activity Log says whether anything it read changed.
    if ctx.quiet_resync("ComputeSubnet", scoped.as_ref(), &owner.uid, generation, &ns, super::resync::KubeChanges::All).await {
        return Ok(ctx.next_pass(&owner.uid, &group, Outcome::Settled));
    }
    let start = ctx.resyncs.start(&ns);
    let noting = Noting::new(scoped.as_ref());
    let arm: &dyn Arm = &noting;
    let ids = SubnetIds::of(&cs.spec, &ws.spec);
    let first = desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, None);
    status.subnet_id = Some(ids.subnet.clone());
    let limits = crate::plan::limits::check(&first);
    if !limits.is_empty() {
        let msg = format!("{}: nothing is written; change the names or tags in the spec", limits.join("; "));
        set_blocked(&api, &name, status, generation, ReadyReason::InvalidSpec, &msg).await?;
        return Ok(Action::requeue(ctx.settings.resync));
    }

    // Observe what the plan and the catalog read: the resources, the VNet (address space, other
    // subnets, region) and the route table already on the subnet (UDR-001).
    // The plan again, with rule priorities settled against the NSG as it is (same ids).
    // The VNet first: while it does not exist (its SecureWorkspace creates it) nothing of the
    // plan can be written, so nothing else is read; the catalog judges what it can without.
    let vnet_first = arm.get_shared(&ids.vnet).await?;
    let to_read: &[Desired] = if vnet_first.value.is_some() { &first } else { &[] };
    let known = std::collections::HashMap::from([(ids.vnet.to_ascii_lowercase(), vnet_first)]);
    let planned = observe_for_plan_knowing(arm, to_read, &owner, &known, |observed| {
        let existing_nsg = observed.get(&ids.nsg.to_ascii_lowercase()).cloned().flatten();
        let wanted = desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, existing_nsg.as_ref());
        Ok::<_, std::convert::Infallible>((wanted, rules_and_routes(&cs.spec, &ws.spec, existing_nsg.as_ref())))
    })
    .await?;
    let (mut observed, mut wanted, (rules, routes)) = match planned {
        Ok(p) => p,
        Err(never) => match never {},
    };
    status.nsg_rules = rules.iter().map(|r| r.to_rendered()).collect();
    status.routes = routes.iter().map(|r| r.to_rendered()).collect();
    // The VNet came with the subnet (its parent).
    let vnet = match observed.get(&ids.vnet.to_ascii_lowercase()) {
        Some(v) => v.clone(),
        None => {
            let v = arm.get(&ids.vnet).await?;
            observed.insert(ids.vnet.to_ascii_lowercase(), v.clone());
            v
        }
    };
    let current_route_table = vnet
        .as_ref()
        .and_then(|v| v.get("properties")?.get("subnets")?.as_array()?.iter().find(|s| s.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(&cs.spec.name))).cloned())
        .and_then(|s| s.get("properties")?.get("routeTable")?.get("id")?.as_str().map(str::to_string));
    if let Some(rt) = current_route_table.filter(|rt| !observed.contains_key(&rt.to_ascii_lowercase())) {
        match arm.get_shared(&rt).await {
            Ok(body) => {
                observed.insert(rt.to_ascii_lowercase(), body.value);
            }
            // Outside the namespace's scope: moat may not read it, so UDR-001 cannot be judged live.
            Err(e) if e.code == "OutOfScope" => tracing::info!(route_table = %rt, "the subnet's route table is outside the namespace's scope; not read"),
            Err(e) => return Err(e.into()),
        }
    }
    let objects = ctx.stores.snapshot();
    let verdict = super::validation::compute_subnet(&cs, &objects, &observed);
    status.findings = verdict.status();
    ctx.report_findings("ComputeSubnet", &ns, &name, &status.findings);
    let blocked = verdict.set_conditions(&mut status.conditions, generation);
    ctx.set_awaiting(&owner.uid, blocked || vnet.is_none());
    if blocked {
        // Nothing of the object is written, not even the rules moat would add to an adopted NSG;
        // it looks again at the resync, or as soon as its spec or a related object changes.
        status.observed_generation = generation;
        write_status(&api, &name, recorded.as_ref(), &status).await?;
        return Ok(Action::requeue(ctx.settings.resync));
    }
    if vnet.is_none() {
        let msg = format!("VNet {} does not exist yet (the SecureWorkspace creates it)", ids.vnet);
        cond::set(&mut status.conditions, cond::ready(ReadyReason::WaitingForDependency, msg, generation));
        status.observed_generation = generation;
        write_status(&api, &name, recorded.as_ref(), &status).await?;
        return Ok(retry);
    }

    let events = ObjectEvents { recorder: &ctx.recorder, object: cs.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm, &owner, &ops, &events, &status.resources);
    // moat-named rules and routes the spec no longer asks for go, in the safe order.
    let mut stale = stale(&ids, &wanted, &observed);
    order_transition(&mut wanted, &mut stale);
    let mut nodes: Vec<Node<'_>> = conv.nodes(&wanted, &observed, None);
    for d in &stale {
        let conv = &conv;
        nodes.push(Node { key: d.id.clone(), deps: d.deps.clone(), run: Box::new(move || Box::pin(conv.delete(d))) });
    }
    // Write-ahead: what this pass creates is recorded as moat's before the first write.
    let intents = conv.intents(&wanted, &observed);
    let mut baseline = recorded.clone();
    if !intents.is_empty() {
        status.resources = record_intents(&api, &name, &status.resources, intents).await?;
        baseline = None;
    }
    let pass = PassStatus { generation, conditions: &status.conditions, resources: &status.resources };
    let (ends, progressed) = run_with_progress(&api, &name, pass, &conv, ctx.settings.progress_every, nodes).await;

    status.resources = conv.record_after(&status.resources);
    status.operations = ops.snapshot().await;
    if ops.wrote() || progressed {
        // status changed in the apiserver during the pass (operations, progress): write the end state.
        baseline = None;
    }
    let problems = |pred: &dyn Fn(&Desired) -> bool| -> Vec<String> {
        wanted
            .iter()
            .chain(stale.iter())
            .filter(|d| pred(d))
            .filter_map(|d| match ends.get(&d.id.to_ascii_lowercase()) {
                Some(NodeEnd::Done) => None,
                Some(e @ (NodeEnd::NotDone(_) | NodeEnd::Failed(_) | NodeEnd::Blocked(_))) => e.problem().map(str::to_string),
                None => Some(format!("{} not reached", d.id)),
            })
            .collect()
    };
    let parts: [(&str, Vec<String>, &str); 3] = [
        (cond::NSG_READY, problems(&|d| matches!(d.kind, "NetworkSecurityGroup" | "SecurityRule")), "NSG carries every required rule"),
        (cond::ROUTES_READY, problems(&|d| matches!(d.kind, "RouteTable" | "Route")), "forced-tunneling routes in place"),
        (cond::SUBNET_READY, problems(&|d| d.kind == "Subnet"), "subnet attached to its NSG and route table"),
    ];
    let mut pending = Vec::new();
    for (t, p, ok) in parts {
        if !p.is_empty() {
            pending.push(t);
        }
        cond::set(
            &mut status.conditions,
            if p.is_empty() { condition(t, true, "Converged", ok, generation) } else { condition(t, false, "Pending", p.join("; "), generation) },
        );
    }
    let ready = pending.is_empty();
    let failure = super::converge::failure_summary(&ends);
    cond::set(
        &mut status.conditions,
        if ready {
            cond::ready(ReadyReason::Converged, "subnet, NSG and routes match the spec", generation)
        } else if let Some(failure) = &failure {
            cond::ready(ReadyReason::AzureError, failure.clone(), generation)
        } else {
            cond::ready(ReadyReason::Converging, format!("waiting for {}", pending.join(", ")), generation)
        },
    );
    status.observed_generation = generation;
    write_status(&api, &name, baseline.as_ref(), &status).await?;
    let outcome = if ready { Outcome::Settled } else if failure.is_none() { Outcome::Progressing } else { Outcome::Failed };
    if ready && status.operations.is_empty() {
        ctx.resyncs.converged(&owner.uid, generation, start, noting.ids());
    }
    Ok(ctx.next_pass(&owner.uid, &group, outcome))
}

async fn cleanup(cs: Arc<ComputeSubnet>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(cs.as_ref())?;
    let api: Api<ComputeSubnet> = Api::namespaced(ctx.client.clone(), &ns);
    let status = current_status(&api, cs.as_ref()).await?.unwrap_or_default();
    let Some(ws) = workspace_of(ctx, &ns, &cs).await? else {
        if status.resources.iter().all(|r| !r.owned) {
            return Ok(Action::await_change());
        }
        let msg = format!(
            "SecureWorkspace {} is gone, so moat cannot reach Azure to delete what it created here; recreate the workspace object, or remove the finalizer {FINALIZER} to leave the Azure resources",
            cs.spec.workspace_ref.name
        );
        set_blocked(&api, &name, status, cs.metadata.generation, ReadyReason::Deleting, &msg).await?;
        return Err(Error::Waiting(msg));
    };
    if ws.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    let arm = match tenancy::arm_for(ctx, &ns, &Subject::Subnet { spec: &cs.spec, workspace: &ws }).await {
        Ok(a) => a,
        Err(r) => {
            let msg = r.deletion_message();
            set_blocked(&api, &name, status, cs.metadata.generation, r.reason, &msg).await?;
            return Err(Error::Waiting(msg));
        }
    };
    let owner = owner_of(&cs, &ns)?;
    let ids = SubnetIds::of(&cs.spec, &ws.spec);
    let wanted = desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, None);
    let observed: HashMap<String, Option<Value>> = super::workspace::observe_for_deletion(arm.as_ref(), &wanted, ctx.settings.busy_poll).await?;
    let events = ObjectEvents { recorder: &ctx.recorder, object: cs.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm.as_ref(), &owner, &ops, &events, &status.resources);
    let exists = |d: &Desired| matches!(observed.get(&d.id.to_ascii_lowercase()), Some(Some(_)));
    let tagged = |d: &Desired| matches!(observed.get(&d.id.to_ascii_lowercase()), Some(Some(v)) if owner.owns(v));
    // What goes: the subnet if moat created it; moat-named rules and routes (even on adopted
    // NSGs and route tables); the NSG and route table if they carry this object's tags.
    let doomed: Vec<&Desired> = wanted
        .iter()
        .filter(|d| exists(d))
        .filter(|d| match d.kind {
            "Subnet" => conv.is_owned(d),
            "SecurityRule" | "Route" => true,
            _ => d.mode == Mode::Create && tagged(d),
        })
        .collect();
    // An NSG or route table moat created that now holds someone else's rules or routes is kept
    // (deleting it would delete them): moat's own rules and routes go, an event says why.
    let foreign_children = |d: &Desired, array: &str| -> Vec<String> {
        observed
            .get(&d.id.to_ascii_lowercase())
            .and_then(Option::as_ref)
            .and_then(|v| v.get("properties")?.get(array)?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .filter(|n| !crate::plan::ownership::is_moat_child(n))
            .map(str::to_string)
            .collect()
    };
    let mut kept: Vec<(&'static str, String, String)> = Vec::new();
    let doomed: Vec<&Desired> = doomed
        .into_iter()
        .filter(|d| {
            let array = match d.kind {
                "NetworkSecurityGroup" => "securityRules",
                "RouteTable" => "routes",
                _ => return true,
            };
            let foreign = foreign_children(d, array);
            if foreign.is_empty() {
                return true;
            }
            let what = if array == "routes" { "routes" } else { "rules" };
            kept.push((d.kind, d.id.clone(), format!("{} {} holds {what} moat did not create ({}); kept with moat's own {what} removed", d.kind, crate::plan::ids::name_of(&d.id), foreign.join(", "))));
            false
        })
        .collect();
    for (kind, id, why) in &kept {
        tracing::info!(computesubnet = %name, "{why}");
        events.publish(false, if *kind == "RouteTable" { "RouteTableKept" } else { "NsgKept" }, "Delete", why.clone(), Some((kind, id))).await;
    }
    let subnet_stays = !doomed.iter().any(|d| d.kind == "Subnet") && wanted.iter().any(|d| d.kind == "Subnet" && exists(d));
    // An adopted NSG or route table may serve other subnets: its moat rules and routes go in the
    // safe order (denies before allows, the default route before the exceptions).
    let null = Value::Null;
    let removals: Vec<crate::plan::order::Change<'_>> = doomed
        .iter()
        .map(|d| crate::plan::order::Change {
            kind: d.kind,
            id: &d.id,
            body: observed.get(&d.id.to_ascii_lowercase()).and_then(Option::as_ref).unwrap_or(&null),
            removing: true,
        })
        .collect();
    let safe = crate::plan::order::safe_order(&removals);
    let nodes: Vec<Node<'_>> = doomed
        .iter()
        .filter(|d| !(subnet_stays && matches!(d.kind, "NetworkSecurityGroup" | "RouteTable")))
        .map(|d| {
            // Reverse order: a resource goes after what depends on it.
            let mut dependents: Vec<String> = doomed.iter().filter(|o| o.deps.iter().any(|x| x.eq_ignore_ascii_case(&d.id))).map(|o| o.id.clone()).collect();
            dependents.extend(safe.get(&d.id.to_ascii_lowercase()).cloned().unwrap_or_default());
            let conv = &conv;
            let d: &Desired = d;
            Node { key: d.id.clone(), deps: dependents, run: Box::new(move || Box::pin(conv.delete(d))) }
        })
        .collect();
    let ends = dag::run(nodes).await;
    let mut left: Vec<String> = ends.iter().filter(|(_, e)| **e != NodeEnd::Done).map(|(k, e)| format!("{k}: {e:?}")).collect();
    if left.is_empty() {
        let gone: Vec<&str> = ends.keys().map(String::as_str).collect();
        left = super::converge::still_present(arm.as_ref(), gone).await?.into_iter().map(|id| format!("{id} still exists")).collect();
    }
    if left.is_empty() {
        if subnet_stays {
            tracing::info!(subnet = %ids.subnet, "subnet was not created by moat; left in place with its NSG and route table");
        }
        return Ok(Action::await_change());
    }
    let msg = format!("deleting: {}", left.join("; "));
    set_blocked(&api, &name, status, cs.metadata.generation, ReadyReason::Deleting, &msg).await?;
    Err(Error::Waiting(msg))
}
