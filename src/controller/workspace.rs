//! The SecureWorkspace reconciler: validate -> observe -> plan -> apply -> status.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::join_all;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::arm::Arm;
use super::conditions::{self as cond, ReadyReason, condition};
use super::resync::{KubeChanges, Noting};
use super::progress::{PassStatus, run_with_progress};
use super::context::{Context, MANAGER, ObjectEvents, Outcome, current_status, ns_name, ops_persister, record_intents, with_finalizer, write_status};
use super::converge::{EventSink, OpsTracker};
use super::dag::{self, Node, NodeEnd};
use super::error::{Error, Result};
use super::validation;
use crate::api::{
    ComputeSubnet, DeletionPolicy, DnsMode, DnsRecord, PrivateEndpointBinding, SecureWorkspace, SecureWorkspaceStatus,
};
use crate::plan::ownership::Owner;
use crate::plan::workspace::{WorkspaceInputs, desired, endpoints};
use crate::plan::{Desired, Mode};
use crate::tenancy::{self, Subject};

pub use super::context::FINALIZER;
pub use crate::plan::workspace::WORKSPACE_LABEL;

pub async fn reconcile(ws: Arc<SecureWorkspace>, ctx: Arc<Context>) -> Result<Action> {
    with_finalizer(ws, &ctx, |o| apply(o, &ctx), |o| cleanup(o, &ctx)).await
}

fn owner_of(ws: &SecureWorkspace, ns: &str) -> Result<Owner> {
    let uid = ws.uid().ok_or(Error::MissingMetadata("uid"))?;
    Ok(Owner::new("SecureWorkspace", ns, &ws.name_any(), &uid))
}

/// The ComputeSubnets in the namespace that point at this workspace (from the shared store).
fn compute_subnets(ctx: &Context, ns: &str, name: &str) -> Vec<ComputeSubnet> {
    ctx.stores
        .subnets()
        .into_iter()
        .filter(|c| c.namespace().as_deref() == Some(ns) && c.spec.workspace_ref.name == name)
        .map(|c| c.as_ref().clone())
        .collect()
}

/// The bindings this workspace owns, from the shared store.
fn owned_bindings_cached(ctx: &Context, ns: &str, name: &str) -> Vec<PrivateEndpointBinding> {
    ctx.stores
        .endpoints()
        .into_iter()
        .filter(|b| b.namespace().as_deref() == Some(ns) && b.labels().get(WORKSPACE_LABEL).is_some_and(|w| w == name))
        .map(|b| b.as_ref().clone())
        .collect()
}

/// The bindings this workspace owns, as the apiserver has them now.
async fn owned_bindings(ctx: &Context, ns: &str, name: &str) -> Result<Vec<PrivateEndpointBinding>> {
    let api: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{WORKSPACE_LABEL}={name}"));
    Ok(api.list(&lp).await.map_err(Error::kube("list PrivateEndpointBindings"))?.items)
}

/// What an observe pass read: bodies by lower-case ARM id (`None`: absent), and whether any of
/// them is an answer another reconcile got earlier (`super::shared_reads`).
pub struct Observation {
    pub bodies: HashMap<String, Option<Value>>,
    pub reused: bool,
}

/// Reads every desired resource at once, with the fewest requests (`plan::reads`): one GET per
/// resource that stands alone or serves children (a VNet its subnets, an NSG its rules, a route
/// table its routes). Keys are lower-case ARM ids. Every
/// read goes to ARM (deletions and confirmations use this).
pub async fn observe(arm: &dyn Arm, desired: &[Desired]) -> Result<HashMap<String, Option<Value>>> {
    Ok(read_all(arm, desired, false, false, &HashMap::new()).await?.bodies)
}

/// [`observe`] for a reconcile's plan: the reads may be shared with other reconciles
/// (`Arm::get_shared`; at steady state a recent answer), and the bodies of the parents read for
/// their children are kept too (a compute subnet's VNet). See [`observe_for_plan`].
pub async fn observe_shared(arm: &dyn Arm, desired: &[Desired]) -> Result<Observation> {
    read_all(arm, desired, true, true, &HashMap::new()).await
}

/// True when the plan would write anything given `observed`: something to create or update, an
/// operation to wait for, a name to refuse, an adopted resource missing.
pub fn would_write(wanted: &[Desired], observed: &HashMap<String, Option<Value>>, owner: &Owner) -> bool {
    use crate::plan::decide::{Decision, decide};
    wanted.iter().any(|d| {
        let obs = observed.get(&d.id.to_ascii_lowercase()).and_then(Option::as_ref);
        !matches!(decide(d, obs, owner, 0), Decision::Converged)
    })
}

/// Observes for a plan: with shared reads first; when an answer was reused and the plan made
/// from it (`plan`) would change anything, everything is read again from ARM and planned again,
/// so that moat never writes on the strength of an answer another reconcile got earlier.
pub async fn observe_for_plan<P, E>(
    arm: &dyn Arm,
    first: &[Desired],
    owner: &Owner,
    plan: impl FnMut(&HashMap<String, Option<Value>>) -> std::result::Result<(Vec<Desired>, P), E>,
) -> Result<std::result::Result<(HashMap<String, Option<Value>>, Vec<Desired>, P), E>> {
    observe_for_plan_knowing(arm, first, owner, &HashMap::new(), plan).await
}

/// [`observe_for_plan`] given what the reconcile has read already in this pass (`known`, by
/// lower-cased id): those are not read again (unless a reused answer makes it read everything
/// again).
pub async fn observe_for_plan_knowing<P, E>(
    arm: &dyn Arm,
    first: &[Desired],
    owner: &Owner,
    known: &HashMap<String, super::arm::Observed<Option<Value>>>,
    mut plan: impl FnMut(&HashMap<String, Option<Value>>) -> std::result::Result<(Vec<Desired>, P), E>,
) -> Result<std::result::Result<(HashMap<String, Option<Value>>, Vec<Desired>, P), E>> {
    let shared = read_all(arm, first, true, true, known).await?;
    let planned = match plan(&shared.bodies) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    if !shared.reused || !would_write(&planned.0, &shared.bodies, owner) {
        return Ok(Ok((shared.bodies, planned.0, planned.1)));
    }
    tracing::debug!("a reused answer says something changed: reading again before any write");
    let bodies = read_all(arm, first, false, true, &HashMap::new()).await?.bodies;
    Ok(plan(&bodies).map(|(w, p)| (bodies, w, p)))
}

/// `shared`: reads may be shared (`Arm::get_shared`); `parents`: the bodies of the parents read
/// for their children are in the answer too.
///
/// What lives in another resource read here (a private endpoint's zone group, a zone's links) is
/// read after it, and only if it exists: nothing lives in a resource that is not there, so a new
/// object's first pass does not pay a 404 for each child of each absent parent.
async fn read_all(arm: &dyn Arm, desired: &[Desired], shared: bool, parents: bool, known: &HashMap<String, super::arm::Observed<Option<Value>>>) -> Result<Observation> {
    use crate::plan::reads::{Read, container_of, item_named, read_of, requests};
    let mut get_ids = requests(desired.iter().map(|d| d.id.as_str()));
    let read_here: std::collections::HashSet<String> = get_ids.iter().map(|i| i.to_ascii_lowercase()).collect();
    let mut reused = known.values().any(|o| o.reused);
    let mut bodies: HashMap<String, Option<Value>> = known.iter().map(|(k, o)| (k.to_ascii_lowercase(), o.value.clone())).collect();
    get_ids.retain(|id| !bodies.contains_key(&id.to_ascii_lowercase()));
    // The resource `target` lives in, when that is read here in the first round.
    let container = |target: &str| -> Option<String> {
        let c = container_of(target)?.to_ascii_lowercase();
        let first_round = !container_of(&c).is_some_and(|cc| read_here.contains(&cc.to_ascii_lowercase()));
        (read_here.contains(&c) && first_round).then_some(c)
    };
    // What lives in a resource the caller already read is read in the first round (or known
    // absent with it); what lives in one read here, in the second.
    let mut absent_with_known: Vec<String> = Vec::new();
    get_ids.retain(|id| {
        let gone = container(id).and_then(|c| bodies.get(&c)).is_some_and(Option::is_none);
        if gone {
            absent_with_known.push(id.to_ascii_lowercase());
        }
        !gone
    });
    bodies.extend(absent_with_known.into_iter().map(|k| (k, None)));
    let (later_gets, first_gets): (Vec<&String>, Vec<&String>) = get_ids.iter().partition(|i| container(i).is_some_and(|c| !bodies.contains_key(&c)));
    for round in 0..2 {
        let get_now: Vec<&String> = if round == 0 {
            first_gets.clone()
        } else {
            // Only what lives in a resource that exists; the rest is absent with it.
            let exists = |t: &&String| container(t).is_none_or(|c| !matches!(bodies.get(&c), Some(None)));
            let (gets, absent_gets): (Vec<&String>, Vec<&String>) = later_gets.iter().copied().partition(exists);
            bodies.extend(absent_gets.iter().map(|t| (t.to_ascii_lowercase(), None)));
            gets
        };
        let gets = join_all(get_now.iter().map(|id| async move {
            let r = if shared { arm.get_shared(id).await } else { arm.get(id).await.map(super::arm::Observed::fresh) };
            (id.to_ascii_lowercase(), r)
        }))
        .await;
        for (id, r) in gets {
            let o = r?;
            reused |= o.reused;
            bodies.insert(id, o.value);
        }
    }
    let mut out = HashMap::new();
    for d in desired {
        let key = d.id.to_ascii_lowercase();
        let value = match read_of(&d.id) {
            Read::Own => bodies.get(&key).cloned().flatten(),
            Read::InParent { parent, array } => bodies
                .get(&parent.to_ascii_lowercase())
                .and_then(Option::as_ref)
                .and_then(|p| p.get("properties")?.get(array)?.as_array().and_then(|items| item_named(items, &d.id))),
        };
        out.insert(key, value);
    }
    if parents {
        for (id, body) in bodies {
            out.entry(id).or_insert(body);
        }
    }
    Ok(Observation { bodies: out, reused })
}

/// [`observe`] for a deletion: what one read says is absent gets a second look after `pause`. A
/// spurious 404 (ARM during incidents and replication lag) must not make moat skip something it
/// created: once the finalizer goes, nothing would ever delete it.
pub async fn observe_for_deletion(arm: &dyn Arm, desired: &[Desired], pause: std::time::Duration) -> Result<HashMap<String, Option<Value>>> {
    let first = observe(arm, desired).await?;
    if first.values().all(Option::is_some) {
        return Ok(first);
    }
    tokio::time::sleep(pause).await;
    let mut second = observe(arm, desired).await?;
    Ok(first
        .into_iter()
        .map(|(k, v)| {
            let again = second.remove(&k).flatten();
            (k, v.or(again))
        })
        .collect())
}

/// ServiceEndpoint mode: the compute subnets that exist in the observed VNet with the service
/// endpoint `service` (`Microsoft.Storage`, `Microsoft.KeyVault`): the firewall rules may name
/// only those (ARM refuses a rule for a subnet that does not exist).
pub fn subnets_with_endpoint(vnet_id: &str, vnet: Option<&Value>, subnets: &[ComputeSubnet], service: &str) -> Vec<String> {
    let Some(listed) = vnet.and_then(|v| v.get("properties")?.get("subnets")?.as_array().cloned()) else { return vec![] };
    let mut out: Vec<String> = subnets
        .iter()
        .filter(|c| c.spec.vnet_id.as_ref().is_none_or(|v| v.as_str().eq_ignore_ascii_case(vnet_id)))
        .filter(|c| {
            listed.iter().any(|s| {
                s.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(&c.spec.name))
                    && s.get("properties")
                        .and_then(|p| p.get("serviceEndpoints"))
                        .and_then(Value::as_array)
                        .is_some_and(|e| e.iter().any(|x| x.get("service").and_then(Value::as_str).is_some_and(|x| x.eq_ignore_ascii_case(service))))
            })
        })
        .map(|c| format!("{vnet_id}/subnets/{}", c.spec.name))
        .collect();
    out.sort();
    out
}

async fn apply(ws: Arc<SecureWorkspace>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(ws.as_ref())?;
    let api: Api<SecureWorkspace> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = ws.metadata.generation;
    // Status as the apiserver has it (the store's copy only when it holds moat's own last status
    // write): the ownership record of children and the in-flight operations must not be lost to
    // a cache that has not seen the last status write.
    let recorded = current_status(&api, ws.as_ref()).await?;
    let mut status = recorded.clone().unwrap_or_default();
    let events = ObjectEvents { recorder: &ctx.recorder, object: ws.object_ref(&()) };

    // Tenancy: every Azure scope the spec names is checked against the namespace's policies
    // before any ARM request; the ARM access is confined to them.
    let scoped = match tenancy::arm_for(ctx, &ns, &Subject::Workspace(&ws.spec)).await {
        Ok(a) => a,
        Err(r) => return blocked(&api, &name, status, generation, r.reason, &r.message, ctx).await,
    };
    let uid = ws.uid().ok_or(Error::MissingMetadata("uid"))?;
    let group = format!("{ns}/{name}");
    // A resync after a converged pass: the Activity Log says whether anything it read changed.
    // Its Azure work reads no status of another object, so a change of one (a binding's) does
    // not make it read; what it takes from its bindings' statuses is taken again here.
    if ctx.quiet_resync("SecureWorkspace", scoped.as_ref(), &uid, generation, &ns, KubeChanges::StatusesIgnored).await {
        settle_with_bindings(&ws, &mut status, &owned_bindings_cached(ctx, &ns, &name), None, generation);
        write_status(&api, &name, recorded.as_ref(), &status).await?;
        return Ok(ctx.next_pass(&uid, &group, Outcome::Settled));
    }
    let start = ctx.resyncs.start(&ns);
    let noting = Noting::new(scoped.as_ref());
    let arm: &dyn Arm = &noting;

    // Validate against the spec and the sibling objects first: an Error here writes nothing.
    let subnets = compute_subnets(ctx, &ns, &name);
    let owner = owner_of(&ws, &ns)?;
    let tenant = ctx.arm.default_tenant();
    let plan = |storage: &[String], vault: &[String]| {
        desired(&WorkspaceInputs { spec: &ws.spec, owner: &owner, tenant_id: tenant.as_deref(), storage_subnet_ids: storage, vault_subnet_ids: vault })
    };
    let first = match plan(&[], &[]) {
        Ok(d) => d,
        Err(e) => return blocked(&api, &name, status, generation, ReadyReason::InvalidSpec, &e.to_string(), ctx).await,
    };
    let limits = crate::plan::limits::check(&first);
    if !limits.is_empty() {
        let msg = format!("{}: nothing is written; change the names or tags in the spec", limits.join("; "));
        return blocked(&api, &name, status, generation, ReadyReason::InvalidSpec, &msg, ctx).await;
    }

    // Observe, then validate with what Azure says.
    let ids = crate::plan::ids::WorkspaceIds::of(&ws.spec);
    let planned = observe_for_plan(arm, &first, &owner, |observed| {
        let vnet = observed.get(&ids.vnet.to_ascii_lowercase()).and_then(Option::as_ref);
        let storage_subnets = subnets_with_endpoint(&ids.vnet, vnet, &subnets, "Microsoft.Storage");
        let vault_subnets = subnets_with_endpoint(&ids.vnet, vnet, &subnets, "Microsoft.KeyVault");
        plan(&storage_subnets, &vault_subnets).map(|d| (d, ()))
    })
    .await?;
    let (observed, wanted, ()) = match planned {
        Ok(p) => p,
        Err(e) => return blocked(&api, &name, status, generation, ReadyReason::InvalidSpec, &e.to_string(), ctx).await,
    };
    let objects = ctx.stores.snapshot();
    let verdict = validation::workspace(&ws, &objects, &observed);
    status.findings = verdict.status();
    ctx.report_findings("SecureWorkspace", &ns, &name, &status.findings);
    if verdict.set_conditions(&mut status.conditions, generation) {
        // Nothing is written, bindings included; the object looks again at the resync or when its
        // spec or a related object changes.
        status.observed_generation = generation;
        write_status(&api, &name, recorded.as_ref(), &status).await?;
        return Ok(Action::requeue(ctx.settings.resync));
    }

    // A resource group that does not exist fails every create in it: say so, send nothing.
    let rg_fields = [(ws.spec.resource_group.as_str(), "spec.resourceGroup")];
    if let Some(msg) = super::converge::missing_resource_group(arm, &wanted, &observed, &rg_fields).await? {
        return blocked(&api, &name, status, generation, ReadyReason::AzureError, &msg, ctx).await;
    }

    // Apply: ARM resources and owned private endpoints, as one dependency graph.
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm, &owner, &ops, &events, &status.resources);
    let bindings = owned_bindings_cached(ctx, &ns, &name);
    let wanted_endpoints = endpoints(&ws);
    let mut nodes: Vec<Node<'_>> = conv.nodes(&wanted, &observed, None);
    let pebs: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let mut to_write: Vec<String> = Vec::new();
    for ep in &wanted_endpoints {
        let existing = bindings.iter().find(|b| b.name_any() == ep.name);
        let needs_write = existing.is_none_or(|b| b.spec != ep.spec);
        if needs_write {
            to_write.push(format!("binding/{}", ep.name));
        }
        let obj = binding_object(&ws, ep)?;
        let pebs = pebs.clone();
        nodes.push(Node {
            key: format!("binding/{}", ep.name),
            deps: ep.deps.clone(),
            run: Box::new(move || {
                Box::pin(async move {
                    if !needs_write {
                        return NodeEnd::Done;
                    }
                    match pebs.patch(&ep.name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&obj)).await {
                        Ok(_) => NodeEnd::Done,
                        Err(e) => NodeEnd::NotDone(format!("apply PrivateEndpointBinding {}: {e}", ep.name)),
                    }
                })
            }),
        });
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

    // Status.
    status.operations = ops.snapshot().await;
    if ops.wrote() || progressed {
        // status changed in the apiserver during the pass (operations, progress): write the end state.
        baseline = None;
    }
    status.resources = conv.record_after(&status.resources);
    status.workspace_id = Some(ids.workspace.clone());
    let not_done = |keys: &[&str]| -> Vec<String> {
        keys.iter()
            .filter_map(|k| match ends.get(&k.to_ascii_lowercase()) {
                Some(NodeEnd::Done) => None,
                Some(e @ (NodeEnd::NotDone(_) | NodeEnd::Failed(_) | NodeEnd::Blocked(_))) => e.problem().map(str::to_string),
                None => Some(format!("{k} not reached")),
            })
            .collect()
    };
    let net = not_done(&[&ids.vnet, &ids.pe_subnet]);
    let res = not_done(&[&ids.storage, &ids.key_vault, &ids.registry, &ids.insights, &ids.workspace]);
    set_part(&mut status, cond::NETWORK_READY, &net, "VNet and private-endpoint subnet converged", generation);
    set_part(&mut status, cond::RESOURCES_READY, &res, "workspace and associated resources converged", generation);

    // Their status as the store has it, unless this reconcile created or changed one.
    let wrote = to_write.iter().any(|k| ends.get(&k.to_ascii_lowercase()) == Some(&NodeEnd::Done));
    let fresh = if wrote { owned_bindings(ctx, &ns, &name).await? } else { bindings };
    let failure = super::converge::failure_summary(&ends);
    settle_with_bindings(&ws, &mut status, &fresh, failure.as_ref(), generation);
    status.observed_generation = generation;
    write_status(&api, &name, baseline.as_ref(), &status).await?;
    // When every step of this reconcile finished, what is left is the bindings converging: their
    // status changes wake this object (it watches them), so there is nothing to poll for.
    let all_done = ends.values().all(|e| *e == NodeEnd::Done);
    let outcome = if failure.is_some() {
        Outcome::Failed
    } else if all_done || cond::is_true(&status.conditions, cond::READY) {
        Outcome::Settled
    } else {
        Outcome::Progressing
    };
    // Azure as this workspace wants it, whether or not its bindings are ready yet: what they
    // report is taken again at every pass, quiet or not, so its resyncs and the wake-ups their
    // status changes cause ask the Activity Log instead of reading (`KubeChanges::StatusesIgnored`).
    if all_done && failure.is_none() && status.operations.is_empty() {
        ctx.resyncs.converged(&uid, generation, start, noting.ids());
    }
    Ok(ctx.next_pass(&owner.uid, &group, outcome))
}

/// What a workspace takes from its bindings' statuses, computed again at every pass (a quiet one
/// too): `PrivateEndpointsReady`, `DnsReady`, the names of Custom DNS mode, and `Ready` from
/// those and the Azure conditions already in `status`; `failure`: the pass's Azure failure.
fn settle_with_bindings(ws: &SecureWorkspace, status: &mut SecureWorkspaceStatus, bindings: &[PrivateEndpointBinding], failure: Option<&String>, generation: Option<i64>) {
    let mut ep_missing = Vec::new();
    let mut dns_missing = Vec::new();
    let mut records: Vec<DnsRecord> = Vec::new();
    for ep in &endpoints(ws) {
        match bindings.iter().find(|b| b.name_any() == ep.name) {
            None => {
                ep_missing.push(format!("{} not created yet", ep.name));
                dns_missing.push(format!("{} not created yet", ep.name));
            }
            Some(b) => {
                let st = b.status.clone().unwrap_or_default();
                let current = st.observed_generation == b.metadata.generation;
                if !(current && cond::is_true(&st.conditions, cond::ENDPOINT_READY)) {
                    ep_missing.push(format!("{}: {}", ep.name, reason_of(&st.conditions, cond::ENDPOINT_READY)));
                }
                if !(current && cond::is_true(&st.conditions, cond::DNS_READY)) {
                    dns_missing.push(format!("{}: {}", ep.name, reason_of(&st.conditions, cond::DNS_READY)));
                }
                records.extend(st.fqdns.iter().cloned());
            }
        }
    }
    set_part(status, cond::PRIVATE_ENDPOINTS_READY, &ep_missing, "all private endpoints approved and provisioned", generation);
    set_part(status, cond::DNS_READY, &dns_missing, "every private endpoint's names resolve to its addresses", generation);
    status.dns_records = if ws.spec.dns.mode == DnsMode::Custom { records } else { vec![] };
    let pending: Vec<String> = [cond::NETWORK_READY, cond::RESOURCES_READY, cond::PRIVATE_ENDPOINTS_READY, cond::DNS_READY]
        .iter()
        .filter(|t| !cond::is_true(&status.conditions, t))
        .map(|t| t.to_string())
        .collect();
    let ready = pending.is_empty();
    cond::set(
        &mut status.conditions,
        if ready {
            cond::ready(ReadyReason::Converged, "the secure workspace matches its spec", generation)
        } else if let Some(failure) = failure {
            cond::ready(ReadyReason::AzureError, failure.clone(), generation)
        } else {
            cond::ready(ReadyReason::Converging, format!("waiting for {}", pending.join(", ")), generation)
        },
    );
}

fn reason_of(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition], t: &str) -> String {
    conds.iter().find(|c| c.type_ == t).map(|c| format!("{} ({})", c.reason, c.message)).unwrap_or_else(|| "not reported yet".into())
}

fn ids_vnet_key(spec: &crate::api::SecureWorkspaceSpec) -> String {
    crate::plan::ids::WorkspaceIds::of(spec).vnet.to_ascii_lowercase()
}

fn set_part(status: &mut SecureWorkspaceStatus, type_: &str, problems: &[String], ok_msg: &str, generation: Option<i64>) {
    let c = if problems.is_empty() {
        condition(type_, true, "Converged", ok_msg, generation)
    } else {
        condition(type_, false, "Pending", problems.join("; "), generation)
    };
    cond::set(&mut status.conditions, c);
}

fn binding_object(ws: &SecureWorkspace, ep: &crate::plan::workspace::WantedEndpoint) -> Result<PrivateEndpointBinding> {
    let mut obj = PrivateEndpointBinding::new(&ep.name, ep.spec.clone());
    obj.metadata.namespace = ws.namespace();
    obj.metadata.owner_references = Some(vec![ws.controller_owner_ref(&()).ok_or(Error::MissingMetadata("uid"))?]);
    // The workspace's own labels too, so a `moat run --selector` that picks the workspace also
    // picks the bindings it owns.
    let mut labels = ws.labels().clone();
    labels.insert(WORKSPACE_LABEL.to_string(), ws.name_any());
    obj.metadata.labels = Some(labels);
    Ok(obj)
}

/// Reports a reason nothing is written, and requeues.
async fn blocked(
    api: &Api<SecureWorkspace>,
    name: &str,
    mut status: SecureWorkspaceStatus,
    generation: Option<i64>,
    reason: ReadyReason,
    message: &str,
    ctx: &Context,
) -> Result<Action> {
    let before = status.clone();
    cond::set(&mut status.conditions, cond::ready(reason, message, generation));
    status.observed_generation = generation;
    write_status(api, name, Some(&before), &status).await?;
    // A change of the spec or of what it refers to wakes the object; until then, the resync.
    Ok(Action::requeue(ctx.settings.resync))
}

async fn cleanup(ws: Arc<SecureWorkspace>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(ws.as_ref())?;
    let api: Api<SecureWorkspace> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = ws.metadata.generation;
    let status = current_status(&api, ws.as_ref()).await?.unwrap_or_default();
    let bindings = owned_bindings(ctx, &ns, &name).await?;
    let pebs: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    if ws.spec.deletion_policy == DeletionPolicy::Orphan {
        // The owned bindings go too, each leaving its Azure resources: they are told to orphan
        // them first (Kubernetes would garbage-collect them anyway, but not necessarily before
        // they reconcile a stale Delete policy).
        for b in &bindings {
            if b.spec.deletion_policy != DeletionPolicy::Orphan {
                let patch = serde_json::json!({"spec": {"deletionPolicy": "Orphan"}});
                pebs.patch(&b.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(Error::kube("orphan PrivateEndpointBinding"))?;
            }
            if b.metadata.deletion_timestamp.is_none() {
                pebs.delete(&b.name_any(), &DeleteParams::background()).await.map_err(Error::kube("delete PrivateEndpointBinding"))?;
            }
        }
        if !bindings.is_empty() {
            let msg = format!("waiting for {} private endpoint binding(s) to go (Azure resources are kept)", bindings.len());
            blocked(&api, &name, status, generation, ReadyReason::Deleting, &msg, ctx).await?;
            return Err(Error::Waiting(msg));
        }
        ctx.recorder
            .publish(
                &kube::runtime::events::Event {
                    type_: kube::runtime::events::EventType::Normal,
                    reason: "Orphaned".into(),
                    note: Some("deletionPolicy Orphan: Azure resources left as they are".into()),
                    action: "Delete".into(),
                    secondary: None,
                },
                &ws.object_ref(&()),
            )
            .await
            .ok();
        return Ok(Action::await_change());
    }
    // Private endpoints first: their bindings delete them in Azure, then go.
    if !bindings.is_empty() {
        for b in bindings.iter().filter(|b| b.metadata.deletion_timestamp.is_none()) {
            pebs.delete(&b.name_any(), &DeleteParams::background()).await.map_err(Error::kube("delete PrivateEndpointBinding"))?;
        }
        let names: Vec<String> = bindings.iter().map(|b| b.name_any()).collect();
        let msg = format!("waiting for private endpoints to be deleted: {}", names.join(", "));
        blocked(&api, &name, status, generation, ReadyReason::Deleting, &msg, ctx).await?;
        return Err(Error::Waiting(msg));
    }
    let subnets = compute_subnets(ctx, &ns, &name);
    if !subnets.is_empty() {
        let names: Vec<String> = subnets.iter().map(|c| c.name_any()).collect();
        let msg = format!("waiting for ComputeSubnets that use this workspace's VNet to be deleted: {}", names.join(", "));
        blocked(&api, &name, status, generation, ReadyReason::Deleting, &msg, ctx).await?;
        return Err(Error::Waiting(msg));
    }
    let arm = match tenancy::arm_for(ctx, &ns, &Subject::Workspace(&ws.spec)).await {
        Ok(a) => a,
        Err(r) => {
            let msg = r.deletion_message();
            blocked(&api, &name, status, generation, r.reason, &msg, ctx).await?;
            return Err(Error::Waiting(msg));
        }
    };
    let owner = owner_of(&ws, &ns)?;
    let tenant = ctx.arm.default_tenant().or_else(|| Some(String::new()));
    let inputs = WorkspaceInputs { spec: &ws.spec, owner: &owner, tenant_id: tenant.as_deref(), storage_subnet_ids: &[], vault_subnet_ids: &[] };
    let wanted = desired(&inputs).unwrap_or_default();
    let vnet_owned = ws.spec.network.vnet.id.is_none();
    let recorded_owned = |id: &str| status.resources.iter().any(|r| r.owned && r.id.eq_ignore_ascii_case(id));
    // What moat created: tagged resources (checked again on a fresh GET) and the subnet it made.
    let observed = observe_for_deletion(arm.as_ref(), &wanted, ctx.settings.busy_poll).await?;
    let doomed: Vec<Desired> = wanted
        .into_iter()
        .filter(|d| match observed.get(&d.id.to_ascii_lowercase()) {
            Some(Some(v)) => match d.mode {
                Mode::Create | Mode::Shared => owner.owns(v),
                Mode::Child => vnet_owned || recorded_owned(&d.id),
                Mode::Adopt => false,
            },
            _ => false,
        })
        .collect();
    let events = ObjectEvents { recorder: &ctx.recorder, object: ws.object_ref(&()) };
    // A VNet moat created that now holds subnets moat does not manage (someone added theirs) is
    // kept: deleting it would delete their subnets. moat's own subnet goes; an event says why.
    let foreign_subnets: Vec<String> = observed
        .get(&ids_vnet_key(&ws.spec))
        .and_then(Option::as_ref)
        .and_then(|v| v.get("properties")?.get("subnets")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .filter(|n| !n.eq_ignore_ascii_case(&ws.spec.network.private_endpoint_subnet.name))
        .map(str::to_string)
        .collect();
    let doomed: Vec<Desired> = if foreign_subnets.is_empty() {
        doomed
    } else {
        let why = format!("VNet {} holds subnets moat did not create ({}); kept with moat's own subnet removed", ws.spec.network.vnet.name.as_deref().unwrap_or("?"), foreign_subnets.join(", "));
        tracing::info!(workspace = %name, "{why}");
        let vnet = doomed.iter().find(|d| d.kind == "VirtualNetwork").map(|d| (d.kind, d.id.clone()));
        if let Some((kind, id)) = &vnet {
            events.publish(false, "VnetKept", "Delete", why, Some((kind, id))).await;
        }
        doomed.into_iter().filter(|d| d.kind != "VirtualNetwork").collect()
    };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm.as_ref(), &owner, &ops, &events, &status.resources);
    // Reverse the dependencies: a resource goes only after everything that depends on it.
    let nodes: Vec<Node<'_>> = doomed
        .iter()
        .map(|d| {
            let dependents: Vec<String> = doomed.iter().filter(|o| o.deps.iter().any(|x| x.eq_ignore_ascii_case(&d.id))).map(|o| o.id.clone()).collect();
            let conv = &conv;
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
        return Ok(Action::await_change());
    }
    let mut status = status;
    let operations = ops.snapshot().await;
    if ops.wrote() || operations != status.operations {
        // The operations that ended leave status now (`blocked` writes only a Ready change).
        super::context::patch_status(&api, &name, &serde_json::json!({"operations": operations})).await?;
    }
    status.operations = operations;
    let msg = format!("deleting: {}", left.join("; "));
    blocked(&api, &name, status, generation, ReadyReason::Deleting, &msg, ctx).await?;
    Err(Error::Waiting(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PendingOperation;
    use crate::azure::pacing::{Priority, with_priority};
    use crate::controller::arm::{ArmFailure, Polled, Started};
    use crate::controller::shared_reads::SharedReads;
    use crate::plan::decide::UpdateStyle;
    use serde_json::json;
    use std::sync::Mutex;
    use std::time::Duration;

    /// ARM with one storage account whose body the test sets.
    struct OneAccount(Mutex<Value>, Mutex<u32>);

    #[async_trait::async_trait]
    impl Arm for OneAccount {
        async fn get(&self, _: &str) -> std::result::Result<Option<Value>, ArmFailure> {
            *self.1.lock().expect("lock") += 1;
            Ok(Some(self.0.lock().expect("lock").clone()))
        }
        async fn list(&self, _: &str) -> std::result::Result<Vec<Value>, ArmFailure> {
            Ok(vec![])
        }
        async fn write(&self, _: &str, _: &str, _: &Value) -> std::result::Result<Started, ArmFailure> {
            Ok(Started::Done(None))
        }
        async fn delete(&self, _: &str) -> std::result::Result<Started, ArmFailure> {
            Ok(Started::Done(None))
        }
        async fn poll(&self, _: &PendingOperation) -> std::result::Result<Polled, ArmFailure> {
            Ok(Polled::Done(None))
        }
    }

    const ST: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st";

    fn account(public: &str, owner: &Owner) -> Value {
        json!({"id": ST, "location": "westeurope", "tags": owner.tags(&Default::default()), "properties": {"publicNetworkAccess": public, "provisioningState": "Succeeded"}})
    }

    #[tokio::test]
    async fn a_reused_answer_that_says_something_changed_is_read_again_before_any_write() {
        let owner = Owner::new("SecureWorkspace", "ns", "ws", "uid-1");
        let inner = Arc::new(OneAccount(Mutex::new(account("Enabled", &owner)), Mutex::new(0)));
        let arm = SharedReads::new(inner.clone(), Duration::from_secs(60));
        let wanted = vec![Desired {
            kind: "StorageAccount",
            id: ST.into(),
            mode: Mode::Create,
            body: account("Disabled", &owner),
            managed: json!({"properties": {"publicNetworkAccess": "Disabled"}}),
            update: UpdateStyle::Patch,
            deps: vec![],
        }];
        // An earlier steady-state read saw drift (public access on); ARM has since been put back.
        with_priority(Priority::Steady, arm.get_shared(ST)).await.expect("read");
        *inner.0.lock().expect("lock") = account("Disabled", &owner);
        let planned = with_priority(Priority::Steady, observe_for_plan(&arm, &wanted, &owner, |_| Ok::<_, std::convert::Infallible>((wanted.clone(), ()))))
            .await
            .expect("observe");
        let Ok((observed, wanted_now, ())) = planned;
        assert_eq!(*inner.1.lock().expect("lock"), 2, "the reused answer said 'write', so ARM was read again");
        assert!(!would_write(&wanted_now, &observed, &owner), "the fresh answer is converged: nothing to write");
        // Converged in the reused answer too: it is trusted, nothing is read again.
        let again = with_priority(Priority::Steady, observe_for_plan(&arm, &wanted, &owner, |_| Ok::<_, std::convert::Infallible>((wanted.clone(), ())))).await.expect("observe");
        assert!(again.is_ok());
        assert_eq!(*inner.1.lock().expect("lock"), 2);
    }

    /// ARM holding some resources; every request is logged.
    struct Holding {
        present: Vec<String>,
        log: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Arm for Holding {
        async fn get(&self, id: &str) -> std::result::Result<Option<Value>, ArmFailure> {
            self.log.lock().expect("lock").push(format!("GET {id}"));
            Ok(self.present.iter().any(|p| p.eq_ignore_ascii_case(id)).then(|| json!({"id": id, "name": crate::plan::ids::name_of(id)})))
        }
        async fn list(&self, c: &str) -> std::result::Result<Vec<Value>, ArmFailure> {
            self.log.lock().expect("lock").push(format!("LIST {c}"));
            Ok(self.present.iter().filter(|p| crate::plan::ids::parent_of(p).eq_ignore_ascii_case(c)).map(|p| json!({"id": p, "name": crate::plan::ids::name_of(p)})).collect())
        }
        async fn write(&self, _: &str, _: &str, _: &Value) -> std::result::Result<Started, ArmFailure> {
            Ok(Started::Done(None))
        }
        async fn delete(&self, _: &str) -> std::result::Result<Started, ArmFailure> {
            Ok(Started::Done(None))
        }
        async fn poll(&self, _: &PendingOperation) -> std::result::Result<Polled, ArmFailure> {
            Ok(Polled::Done(None))
        }
    }

    fn want(kind: &'static str, id: &str) -> Desired {
        Desired { kind, id: id.into(), mode: Mode::Create, body: json!({}), managed: json!({}), update: UpdateStyle::MergePut, deps: vec![] }
    }

    #[tokio::test]
    async fn what_lives_in_an_absent_resource_is_not_read_and_is_absent() {
        let pe = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe";
        let group = format!("{pe}/privateDnsZoneGroups/default");
        let zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";
        let link = format!("{zone}/virtualNetworkLinks/moat-vnet");
        let wanted = vec![want("PrivateEndpoint", pe), want("PrivateDnsZoneGroup", &group), want("PrivateDnsZone", zone), want("VirtualNetworkLink", &link)];
        // Nothing exists yet: one GET per top-level resource, nothing for what would live in them.
        let arm = Holding { present: vec![], log: Mutex::new(vec![]) };
        let seen = observe(&arm, &wanted).await.expect("observe");
        assert_eq!(arm.log.lock().expect("lock").len(), 2, "{:?}", arm.log.lock().expect("lock"));
        assert!(wanted.iter().all(|d| matches!(seen.get(&d.id.to_ascii_lowercase()), Some(None))), "{seen:?}");
        // The endpoint and the zone exist: their zone group and links are read, after them.
        let arm = Holding { present: vec![pe.into(), zone.into(), group.clone()], log: Mutex::new(vec![]) };
        let seen = observe(&arm, &wanted).await.expect("observe");
        let log = arm.log.lock().expect("lock").clone();
        assert_eq!(log.len(), 4, "{log:?}");
        assert!(log[2..].iter().all(|r| r.contains("privateDnsZoneGroups") || r.contains("virtualNetworkLinks")), "children after their parents: {log:?}");
        assert!(seen.get(&group.to_ascii_lowercase()).is_some_and(Option::is_some));
        assert!(matches!(seen.get(&link.to_ascii_lowercase()), Some(None)));
    }

    #[tokio::test]
    async fn what_lives_in_a_resource_the_caller_read_already_is_read_in_the_first_round_and_only_it() {
        let pe = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe";
        let zone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";
        let gone = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.file.core.windows.net";
        let (link, gone_link) = (format!("{zone}/virtualNetworkLinks/moat-vnet"), format!("{gone}/virtualNetworkLinks/moat-vnet"));
        let wanted = vec![want("PrivateEndpoint", pe), want("PrivateDnsZone", zone), want("VirtualNetworkLink", &link), want("PrivateDnsZone", gone), want("VirtualNetworkLink", &gone_link)];
        // The binding read its zones already (`Arm::get_infrastructure`): one exists, one does not.
        let known: HashMap<String, super::super::arm::Observed<Option<Value>>> = [
            (zone.to_ascii_lowercase(), super::super::arm::Observed::fresh(Some(json!({"id": zone})))),
            (gone.to_ascii_lowercase(), super::super::arm::Observed::fresh(None)),
        ]
        .into_iter()
        .collect();
        let arm = Holding { present: vec![pe.into(), zone.into(), link.clone()], log: Mutex::new(vec![]) };
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let planned = observe_for_plan_knowing(&arm, &wanted, &owner, &known, |_| Ok::<_, std::convert::Infallible>((wanted.clone(), ()))).await.expect("observe");
        let Ok((seen, _, ())) = planned;
        let log = arm.log.lock().expect("lock").clone();
        // The existing zone's link and the endpoint, in one round (the first round goes in id
        // order; a second round would come after the endpoint); neither zone again, and nothing
        // for the link of the zone that does not exist.
        assert_eq!(log, vec![format!("GET {link}"), format!("GET {pe}")]);
        assert!(seen.get(&link.to_ascii_lowercase()).is_some_and(Option::is_some));
        assert!(matches!(seen.get(&gone_link.to_ascii_lowercase()), Some(None)));
        assert!(seen.get(&zone.to_ascii_lowercase()).is_some_and(Option::is_some));
    }
}
