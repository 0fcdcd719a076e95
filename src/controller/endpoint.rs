//! The PrivateEndpointBinding reconciler: the private endpoint, its privatelink zones and VNet
//! links, and its DNS zone group; or, in Custom DNS mode, the host records in status.

use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::arm::{Arm, ArmFailure};
use super::conditions::{self as cond, ReadyReason, condition};
use super::resync::Noting;
use super::progress::{PassStatus, run_with_progress};
use super::context::{Context, ObjectEvents, Outcome, current_status, ns_name, ops_persister, record_intents, with_finalizer, write_status};
use super::converge::{EventSink, OpsTracker};
use super::dag::{self, Node, NodeEnd};
use super::error::{Error, Result};
use super::workspace::observe_for_plan_knowing;
use crate::api::{DeletionPolicy, DnsRecord, EndpointDnsMode, PrivateEndpointBinding, PrivateEndpointBindingStatus};
use crate::plan::endpoint::{EndpointIds, desired};
use crate::plan::ownership::Owner;
use crate::plan::Desired;
use crate::plan::decide::{Decision, decide};
use crate::tenancy::{self, Subject};

pub async fn reconcile(peb: Arc<PrivateEndpointBinding>, ctx: Arc<Context>) -> Result<Action> {
    with_finalizer(peb, &ctx, |o| apply(o, &ctx), |o| cleanup(o, &ctx)).await
}

/// The privatelink zones the binding uses: its own list, or the documented ones for its groupId.
pub fn zones_for(peb: &PrivateEndpointBinding) -> Vec<String> {
    crate::plan::endpoint::zones(&peb.spec)
}

fn owner_of(peb: &PrivateEndpointBinding, ns: &str) -> Result<Owner> {
    let uid = peb.uid().ok_or(Error::MissingMetadata("uid"))?;
    Ok(Owner::new("PrivateEndpointBinding", ns, &peb.name_any(), &uid))
}

async fn set_blocked(
    api: &Api<PrivateEndpointBinding>,
    name: &str,
    mut status: PrivateEndpointBindingStatus,
    generation: Option<i64>,
    reason: ReadyReason,
    message: &str,
) -> Result<()> {
    let before = status.clone();
    cond::set(&mut status.conditions, cond::ready(reason, message, generation));
    status.observed_generation = generation;
    write_status(api, name, Some(&before), &status).await
}

/// The VNet of the endpoint's subnet.
fn vnet_of(peb: &PrivateEndpointBinding) -> &str {
    crate::plan::ids::parent_of(peb.spec.subnet_id.as_str())
}

/// True when the observed VNet lists the endpoint's subnet.
fn lists_subnet(vnet: Option<&Value>, subnet_id: &str) -> bool {
    let name = crate::plan::ids::name_of(subnet_id);
    vnet.and_then(|v| v.get("properties")?.get("subnets")?.as_array().cloned())
        .is_some_and(|subnets| subnets.iter().any(|s| s.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(name))))
}

/// What the zones serve for the endpoint's names: DnsReady holds only when every name of the
/// endpoint resolves, in a zone linked to its VNet, to the endpoint's own addresses.
async fn resolution(arm: &dyn Arm, records: &[DnsRecord], zones: &[(String, String)]) -> Result<Vec<String>, ArmFailure> {
    let mut problems = Vec::new();
    for r in records {
        let Some((zone, zid, name)) = zones.iter().find_map(|(z, zid)| crate::privatelink::record_name(&r.fqdn, z).map(|n| (z, zid, n))) else {
            problems.push(format!("no zone of this binding serves {}", r.fqdn));
            continue;
        };
        // The one record set, not the zone's list: a shared zone holds every workspace's names.
        let set = arm.get_shared(&format!("{zid}/A/{name}")).await?.value;
        let set = set.as_ref();
        let mut ips: Vec<String> = set
            .and_then(|rs| rs.get("properties")?.get("aRecords")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.get("ipv4Address").and_then(Value::as_str).map(str::to_string))
            .collect();
        ips.sort();
        let mut want = r.ip_addresses.clone();
        want.sort();
        if set.is_none() {
            problems.push(format!("{} has no record in {zone} yet", r.fqdn));
        } else if ips != want {
            problems.push(format!(
                "{} resolves to {} in {zone}, not to this endpoint's {}: another endpoint registered the name (see DNS-006)",
                r.fqdn,
                if ips.is_empty() { "nothing".to_string() } else { ips.join(", ") },
                want.join(", ")
            ));
        }
    }
    Ok(problems)
}

/// The privatelink zones the plan wants: none unless the binding manages its DNS in Azure
/// (`AzurePrivateDns`), whatever zones its groupId documents.
fn zones_wanted(wanted: &[Desired]) -> impl Iterator<Item = &str> {
    wanted.iter().filter(|d| d.kind == "PrivateDnsZone").map(|d| d.id.as_str())
}

/// Whether the plan writes nothing to zone `zid` as `body` shows it (absent: it creates it).
fn leaves_zone_alone(wanted: &[Desired], zid: &str, body: Option<&Value>, owner: &Owner) -> bool {
    wanted.iter().find(|d| d.id.eq_ignore_ascii_case(zid)).is_none_or(|d| matches!(decide(d, body, owner, 0), Decision::Converged))
}

/// The resync group of a binding (`Context::next_pass`): its workspace's, so that it resyncs with
/// the workspace and the other bindings that read the same VNet and targets.
fn resync_group(peb: &PrivateEndpointBinding, ns: &str) -> String {
    format!("{ns}/{}", peb.labels().get(crate::plan::workspace::WORKSPACE_LABEL).map(String::as_str).unwrap_or_default())
}

async fn apply(peb: Arc<PrivateEndpointBinding>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(peb.as_ref())?;
    let api: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = peb.metadata.generation;
    // Status as the apiserver has it (the store's copy only when it holds moat's own last status
    // write): the ownership record of children and the in-flight operations must not be lost to
    // a cache that has not seen the last status write.
    let recorded = current_status(&api, peb.as_ref()).await?;
    let mut status = recorded.clone().unwrap_or_default();

    // Tenancy: every Azure scope the spec names is checked against the namespace's policies
    // before any ARM request; the ARM access is confined to them.
    let scoped = match tenancy::arm_for(ctx, &ns, &Subject::Endpoint(&peb.spec)).await {
        Ok(a) => a,
        Err(r) => {
            set_blocked(&api, &name, status, generation, r.reason, &r.message).await?;
            return Ok(Action::requeue(r.requeue(ctx.settings.resync, ctx.settings.retry)));
        }
    };
    let owner = owner_of(&peb, &ns)?;
    // A resync after a converged pass: the Activity Log says whether anything it read changed.
    if ctx.quiet_resync("PrivateEndpointBinding", scoped.as_ref(), &owner.uid, generation, &ns, super::resync::KubeChanges::All).await {
        return Ok(ctx.next_pass(&owner.uid, &resync_group(&peb, &ns), Outcome::Settled));
    }
    let start = ctx.resyncs.start(&ns);
    let noting = Noting::new(scoped.as_ref());
    let arm: &dyn Arm = &noting;
    let zones = zones_for(&peb);
    let mut wanted = desired(&peb.spec, &name, &owner, &zones);
    let ids = EndpointIds::of(&peb.spec, &name, &zones);
    let limits = crate::plan::limits::check(&wanted);
    if !limits.is_empty() {
        let msg = format!("{}: nothing is written; set spec.privateEndpointName, or shorten the names or tags", limits.join("; "));
        set_blocked(&api, &name, status, generation, ReadyReason::InvalidSpec, &msg).await?;
        return Ok(Action::requeue(ctx.settings.resync));
    }

    // Observe the target (its region, that it exists) and the VNet (its region, its subnets, its
    // DNS servers: what the catalog reads; listing the subnet proves the subnet exists).
    // The privatelink zones first: every binding of the fleet that uses one reads it, and moat
    // writes nothing to a zone that exists (`Mode::Shared`, nothing managed), so an answer that it
    // exists may be one another binding got up to half a resync ago (`Arm::get_infrastructure`);
    // what lives in it (this VNet's link) is still read on its own, and a zone deleted meanwhile
    // fails the link's create, which the next pass reads again. Private DNS allows 500 reads per
    // 5 minutes: at 500 workspaces the zones were a third of them.
    let vnet_id = vnet_of(&peb).to_string();
    let (zones_read, target, vnet) = futures::join!(
        futures::future::join_all(zones_wanted(&wanted).map(|zid| async move { (zid.to_ascii_lowercase(), arm.get_infrastructure(zid).await) })),
        arm.get_lasting(peb.spec.target.id.as_str()),
        arm.get_lasting(&vnet_id)
    );
    let mut known = HashMap::new();
    for (zid, read) in zones_read {
        let read = read?;
        // Nothing is written on the strength of another binding's answer: one that would have
        // moat write the zone (its own, failed or busy) is read again.
        let value = if read.reused && !leaves_zone_alone(&wanted, &zid, read.value.as_ref(), &owner) { arm.get(&zid).await? } else { read.value };
        known.insert(zid, super::arm::Observed::fresh(value));
    }
    let planned = observe_for_plan_knowing(arm, &wanted, &owner, &known, |_| Ok::<_, std::convert::Infallible>((wanted.clone(), ()))).await;
    let mut observed = match planned? {
        Ok((observed, _, ())) => observed,
        Err(never) => match never {},
    };
    let (target, vnet) = (target?.value, vnet?.value);
    let subnet_exists = lists_subnet(vnet.as_ref(), peb.spec.subnet_id.as_str());
    let prerequisites = [("subnet", peb.spec.subnet_id.as_str(), subnet_exists), ("target", peb.spec.target.id.as_str(), target.is_some())];
    observed.insert(peb.spec.target.id.as_str().to_ascii_lowercase(), target);
    observed.insert(vnet_id.to_ascii_lowercase(), vnet);
    let objects = ctx.stores.snapshot();
    let verdict = super::validation::endpoint(&peb, &objects, &observed);
    status.findings = verdict.status();
    ctx.report_findings("PrivateEndpointBinding", &ns, &name, &status.findings);
    let blocked = verdict.set_conditions(&mut status.conditions, generation);
    ctx.set_awaiting(&owner.uid, blocked || prerequisites.iter().any(|(_, _, present)| !present));
    if blocked {
        status.observed_generation = generation;
        write_status(&api, &name, recorded.as_ref(), &status).await?;
        return Ok(Action::requeue(ctx.settings.resync));
    }

    // A resource group that does not exist fails every create in it: say so, send nothing.
    let mut rg_fields: Vec<(&str, &str)> = Vec::new();
    if let Some(rg) = &peb.spec.resource_group {
        rg_fields.push((rg.as_str(), "spec.resourceGroup"));
    }
    if let Some(rg) = &peb.spec.dns.zone_resource_group {
        rg_fields.push((rg.as_str(), "spec.dns.zoneResourceGroup"));
    }
    if let Some(msg) = super::converge::missing_resource_group(arm, &wanted, &observed, &rg_fields).await? {
        set_blocked(&api, &name, status, generation, ReadyReason::AzureError, &msg).await?;
        return Ok(ctx.next_pass(&peb.metadata.uid.clone().unwrap_or_default(), "", Outcome::Failed));
    }

    // Records before links: a VNet linked to a zone that does not yet hold the endpoint's records
    // would get no answer at all for names that resolved publicly before.
    for d in wanted.iter_mut().filter(|d| d.kind == "VirtualNetworkLink") {
        d.deps.push(ids.zone_group.clone());
    }
    let events = ObjectEvents { recorder: &ctx.recorder, object: peb.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm, &owner, &ops, &events, &status.resources);
    let mut nodes: Vec<Node<'_>> = conv.nodes(&wanted, &observed, None);
    // The subnet and the target may be another object's to create (a SecureWorkspace's): the
    // endpoint waits for them instead of sending a PUT that ARM would refuse.
    for (what, id, present) in prerequisites {
        nodes.push(Node {
            key: id.to_string(),
            deps: vec![],
            run: Box::new(move || {
                Box::pin(async move { if present { NodeEnd::Done } else { NodeEnd::NotDone(format!("the {what} {id} does not exist yet")) } })
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

    // Status: connection state, addresses, names.
    let pe = conv.body(&ids.endpoint);
    let state = pe.as_ref().and_then(connection_state);
    status.connection_state = state.clone();
    status.private_endpoint_id = Some(ids.endpoint.clone());
    let records = pe.as_ref().map(dns_records).unwrap_or_default();
    status.private_ips = {
        let mut ips: Vec<String> = records.iter().flat_map(|r| r.ip_addresses.clone()).collect();
        ips.sort();
        ips.dedup();
        ips
    };
    status.fqdns = records;
    status.resources = conv.record_after(&status.resources);
    status.operations = ops.snapshot().await;
    if ops.wrote() || progressed {
        // status changed in the apiserver during the pass (operations, progress): write the end state.
        baseline = None;
    }

    let end_of = |id: &str| ends.get(&id.to_ascii_lowercase()).cloned();
    let endpoint_ok = matches!(end_of(&ids.endpoint), Some(NodeEnd::Done));
    let approved = state.as_deref() == Some("Approved");
    cond::set(
        &mut status.conditions,
        match (endpoint_ok, approved) {
            (true, true) => condition(cond::ENDPOINT_READY, true, "Approved", "private endpoint provisioned and its connection approved", generation),
            (true, false) => condition(
                cond::ENDPOINT_READY,
                false,
                ReadyReason::AwaitingApproval.as_str(),
                format!("connection state is {}: the target's owner must approve it", state.as_deref().unwrap_or("unknown")),
                generation,
            ),
            (false, _) => condition(cond::ENDPOINT_READY, false, "Provisioning", explain(end_of(&ids.endpoint)), generation),
        },
    );
    let dns = match peb.spec.dns.mode {
        EndpointDnsMode::None => condition(cond::DNS_READY, true, "NoDns", "DNS is not managed for this endpoint", generation),
        EndpointDnsMode::Custom => condition(
            cond::DNS_READY,
            !status.fqdns.is_empty(),
            "CustomDns",
            "serve the host records in status.fqdns from your DNS server",
            generation,
        ),
        EndpointDnsMode::AzurePrivateDns => {
            let problems: Vec<String> = wanted
                .iter()
                .filter(|d| d.kind != "PrivateEndpoint")
                .filter_map(|d| match end_of(&d.id) {
                    Some(NodeEnd::Done) => None,
                    e => Some(format!("{} {}: {}", d.kind, d.id, explain(e))),
                })
                .collect();
            if !problems.is_empty() {
                condition(cond::DNS_READY, false, "Pending", problems.join("; "), generation)
            } else if status.fqdns.is_empty() {
                condition(cond::DNS_READY, false, "Registering", "the endpoint has no names and addresses yet", generation)
            } else {
                // Every link the plan wants exists (the graph ended Done), so each zone answers in the
                // endpoint's VNet: what it answers is what counts.
                match resolution(arm, &status.fqdns, &ids.zones).await? {
                    wrong if wrong.is_empty() => condition(
                        cond::DNS_READY,
                        true,
                        "Resolves",
                        format!("every name resolves to this endpoint's addresses in {} (linked to VNet {})", zones.join(", "), crate::plan::ids::name_of(&vnet_id)),
                        generation,
                    ),
                    wrong => condition(cond::DNS_READY, false, "NotResolving", wrong.join("; "), generation),
                }
            }
        }
    };
    cond::set(&mut status.conditions, dns);
    let why: Vec<String> =
        [cond::ENDPOINT_READY, cond::DNS_READY].iter().filter(|t| !cond::is_true(&status.conditions, t)).map(|t| t.to_string()).collect();
    let ready = why.is_empty();
    let awaiting = !approved && endpoint_ok;
    let failure = super::converge::failure_summary(&ends);
    let ready_condition = if ready {
        cond::ready(ReadyReason::Converged, "endpoint approved and resolvable", generation)
    } else if let Some(failure) = &failure {
        cond::ready(ReadyReason::AzureError, failure.clone(), generation)
    } else if awaiting {
        cond::ready(ReadyReason::AwaitingApproval, format!("waiting for {}", why.join(", ")), generation)
    } else {
        cond::ready(ReadyReason::Converging, format!("waiting for {}", why.join(", ")), generation)
    };
    cond::set(&mut status.conditions, ready_condition);
    status.observed_generation = generation;
    write_status(&api, &name, baseline.as_ref(), &status).await?;
    let outcome = if ready { Outcome::Settled } else if failure.is_none() { Outcome::Progressing } else { Outcome::Failed };
    if ready && status.operations.is_empty() {
        ctx.resyncs.converged(&owner.uid, generation, start, noting.ids());
    }
    Ok(ctx.next_pass(&owner.uid, &resync_group(&peb, &ns), outcome))
}

fn explain(end: Option<NodeEnd>) -> String {
    match end {
        Some(NodeEnd::Done) => "done".into(),
        Some(NodeEnd::NotDone(m)) | Some(NodeEnd::Failed(m)) | Some(NodeEnd::Blocked(m)) => m,
        None => "not reached".into(),
    }
}

/// `Approved`, `Pending`, `Rejected` or `Disconnected`, from either connection list.
pub fn connection_state(pe: &Value) -> Option<String> {
    let props = pe.get("properties")?;
    ["privateLinkServiceConnections", "manualPrivateLinkServiceConnections"].iter().find_map(|k| {
        props.get(*k)?.as_array()?.first()?.get("properties")?.get("privateLinkServiceConnectionState")?.get("status")?.as_str().map(str::to_string)
    })
}

/// The endpoint's names and addresses from `customDnsConfigs`.
pub fn dns_records(pe: &Value) -> Vec<DnsRecord> {
    let configs = pe.get("properties").and_then(|p| p.get("customDnsConfigs")).and_then(Value::as_array);
    configs
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let fqdn = c.get("fqdn")?.as_str()?.to_string();
            let ips = c.get("ipAddresses")?.as_array()?.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
            Some(DnsRecord { fqdn, ip_addresses: ips, zone: None })
        })
        .collect()
}

/// A zone's fate when a binding goes: its moat links and the zone itself go only when nothing
/// but this endpoint's records is in it and no link but moat's points at it.
struct ZonePlan<'a> {
    zone: &'a Desired,
    links: Vec<&'a Desired>,
    /// Only this endpoint's records are in the zone, and only moat's links: the zone goes, its
    /// links first (so the VNet never asks a linked zone that lost the names).
    empties: bool,
    /// Why the zone stays, when it does.
    kept_because: Option<String>,
    /// moat's links go before the endpoint: the zone goes, or others use it only through their own
    /// links (no other endpoint's records rely on moat's links).
    drop_links: bool,
}

async fn cleanup(peb: Arc<PrivateEndpointBinding>, ctx: &Context) -> Result<Action> {
    if peb.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    let (ns, name) = ns_name(peb.as_ref())?;
    let api: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let status = current_status(&api, peb.as_ref()).await?.unwrap_or_default();
    let arm = match tenancy::arm_for(ctx, &ns, &Subject::Endpoint(&peb.spec)).await {
        Ok(a) => a,
        Err(r) => {
            let msg = r.deletion_message();
            set_blocked(&api, &name, status, peb.metadata.generation, r.reason, &msg).await?;
            return Err(Error::Waiting(msg));
        }
    };
    let owner = owner_of(&peb, &ns)?;
    let zones = zones_for(&peb);
    let wanted = desired(&peb.spec, &name, &owner, &zones);
    let observed = super::workspace::observe_for_deletion(arm.as_ref(), &wanted, ctx.settings.busy_poll).await?;
    let events = ObjectEvents { recorder: &ctx.recorder, object: peb.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm.as_ref(), &owner, &ops, &events, &status.resources);
    let present = |d: &Desired| observed.get(&d.id.to_ascii_lowercase()).and_then(|v| v.as_ref()).cloned();
    let ids = EndpointIds::of(&peb.spec, &name, &zones);
    let endpoint = wanted.iter().find(|d| d.kind == "PrivateEndpoint");
    let my_ips: Vec<String> = endpoint.and_then(present).map(|pe| dns_records(&pe).into_iter().flat_map(|r| r.ip_addresses).collect()).unwrap_or_default();

    // What other live bindings still need: their VNet links (a link serves every binding in its
    // VNet), and their addresses (their records are theirs, not someone unknown's).
    let mut needed_links: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut live_ips: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut leaving_ips: std::collections::HashSet<String> = std::collections::HashSet::new();
    for other in ctx.stores.endpoints().iter().filter(|b| b.uid() != peb.uid()) {
        let ips = other.status.iter().flat_map(|s| s.private_ips.iter().cloned());
        if other.metadata.deletion_timestamp.is_some() {
            leaving_ips.extend(ips);
            continue;
        }
        live_ips.extend(ips);
        let other_owner = Owner::new("PrivateEndpointBinding", &other.namespace().unwrap_or_default(), &other.name_any(), "");
        for d in desired(&other.spec, &other.name_any(), &other_owner, &zones_for(other)).into_iter().filter(|d| d.kind == "VirtualNetworkLink") {
            needed_links.insert(d.id.to_ascii_lowercase());
        }
    }
    live_ips.extend(leaving_ips.iter().cloned());

    // Decide each zone's fate first. moat's own links go unless another binding still needs
    // them, or records of endpoints moat does not know may rely on them; a zone moat created
    // (any binding's) goes once nothing but this endpoint's records and the links that go are in
    // it; a zone others use stays, and an event says why.
    let mut plans: Vec<ZonePlan<'_>> = Vec::new();
    let mut waiting: Vec<String> = Vec::new();
    for (zone_name, zid) in &ids.zones {
        let Some(zd) = wanted.iter().find(|d| d.id == *zid) else { continue };
        let Some(zone) = present(zd) else { continue };
        let moat_made = zone.get("tags").and_then(|t| t.get(crate::plan::ownership::TAG_MANAGED_BY)).and_then(Value::as_str) == Some("moat");
        let links: Vec<&Desired> = wanted
            .iter()
            .filter(|d| d.kind == "VirtualNetworkLink" && d.deps.contains(zid) && present(d).is_some() && !needed_links.contains(&d.id.to_ascii_lowercase()))
            .collect();
        let records = arm.list(&format!("{zid}/A")).await?;
        let ips_of = |rs: &Value| -> Vec<String> {
            rs.get("properties").and_then(|p| p.get("aRecords")).and_then(Value::as_array).into_iter().flatten().filter_map(|a| a.get("ipv4Address").and_then(Value::as_str).map(str::to_string)).collect()
        };
        let name_of = |rs: &Value| rs.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let not_mine: Vec<&Value> = records.iter().filter(|rs| {
            let ips = ips_of(rs);
            ips.is_empty() || !ips.iter().all(|ip| my_ips.iter().any(|m| m == ip))
        }).collect();
        let unknown_records: Vec<String> = not_mine.iter().filter(|rs| !ips_of(rs).iter().all(|ip| live_ips.contains(ip)) || ips_of(rs).is_empty()).map(|rs| name_of(rs)).collect();
        let all_links = arm.list(&format!("{zid}/virtualNetworkLinks")).await?;
        let dropping: Vec<String> = links.iter().map(|d| crate::plan::ids::name_of(&d.id).to_ascii_lowercase()).collect();
        let staying_links: Vec<String> = all_links
            .iter()
            .filter_map(|l| l.get("name").and_then(Value::as_str))
            .filter(|n| !dropping.contains(&n.to_ascii_lowercase()))
            .map(str::to_string)
            .collect();
        // Records of bindings that are going too: wait for them to leave, then decide (two
        // bindings of one zone deleted together must not each keep it for the other).
        let others_leaving = moat_made && !not_mine.is_empty() && not_mine.iter().all(|rs| {
            let ips = ips_of(rs);
            !ips.is_empty() && ips.iter().all(|ip| leaving_ips.contains(ip))
        });
        if others_leaving {
            waiting.push(format!("zone {zone_name} still holds records of bindings being deleted; looking again once they are gone"));
        }
        let kept_because = if others_leaving {
            None
        } else if !moat_made {
            Some(format!("zone {zone_name} was not created by moat; kept"))
        } else if !not_mine.is_empty() {
            Some(format!("zone {zone_name} still holds records of other endpoints ({}); kept", not_mine.iter().map(|rs| name_of(rs)).collect::<Vec<_>>().join(", ")))
        } else if !staying_links.is_empty() {
            Some(format!("zone {zone_name} has virtual network links that stay ({}); kept with moat's own link removed", staying_links.join(", ")))
        } else {
            None
        };
        // The event is for people: a zone that others use is worth one; a zone moat never made
        // is simply not moat's.
        let kept_because = kept_because.filter(|_| moat_made || !links.is_empty());
        plans.push(ZonePlan { zone: zd, empties: moat_made && not_mine.is_empty() && staying_links.is_empty(), drop_links: unknown_records.is_empty(), links, kept_because });
    }

    let mut left = Vec::new();
    // 1. Links of the zones that go, and moat's links of zones others use without them (foreign links).
    let first: Vec<&Desired> = plans.iter().filter(|p| p.drop_links).flat_map(|p| p.links.iter().copied()).collect();
    let conv_ref = &conv;
    let ends = dag::run(first.into_iter().map(|d| Node { key: d.id.clone(), deps: vec![], run: Box::new(move || Box::pin(conv_ref.delete(d))) }).collect()).await;
    left.extend(ends.into_values().filter(|e| *e != NodeEnd::Done).map(|e| format!("{e:?}")));
    // 2. The endpoint (its zone group and records go with it).
    if left.is_empty() {
        for d in wanted.iter().filter(|d| d.kind == "PrivateEndpoint") {
            if present(d).is_some_and(|v| owner.owns(&v))
                && let NodeEnd::NotDone(m) | NodeEnd::Failed(m) | NodeEnd::Blocked(m) = conv.delete(d).await
            {
                left.push(m);
            }
        }
    }
    // 3. The emptied zones.
    if left.is_empty() {
        for p in plans.iter().filter(|p| p.empties) {
            if let NodeEnd::NotDone(m) | NodeEnd::Failed(m) | NodeEnd::Blocked(m) = conv.delete(p.zone).await {
                left.push(m);
            }
        }
    }
    if left.is_empty() {
        left.extend(waiting);
    }
    for (zone, why) in plans.iter().filter_map(|p| p.kept_because.as_ref().map(|w| (p.zone, w))) {
        tracing::info!(binding = %name, "{why}");
        events.publish(false, "ZoneKept", "Delete", why.clone(), Some((zone.kind, &zone.id))).await;
    }
    if left.is_empty() {
        return Ok(Action::await_change());
    }
    let msg = format!("deleting: {}", left.join("; "));
    set_blocked(&api, &name, status, peb.metadata.generation, ReadyReason::Deleting, &msg).await?;
    Err(Error::Waiting(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_binding_that_manages_its_dns_in_azure_reads_zones() {
        let owner = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let spec = |mode: &str| -> crate::api::PrivateEndpointBindingSpec {
            serde_json::from_value(json!({
                "location": "westeurope",
                "subnetId": "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pe",
                "target": {"id": "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st", "groupId": "blob"},
                "dns": {"mode": mode}
            }))
            .expect("spec")
        };
        for (mode, zones) in [("AzurePrivateDns", 1), ("Custom", 0), ("None", 0)] {
            let s = spec(mode);
            let documented = crate::plan::endpoint::zones(&s);
            assert_eq!(documented.len(), 1, "the groupId documents its zone in every mode");
            let wanted = desired(&s, "b", &owner, &documented);
            assert_eq!(zones_wanted(&wanted).count(), zones, "{mode}");
        }
    }

    #[test]
    fn a_zone_answer_is_taken_from_another_binding_only_when_moat_would_write_nothing_to_it() {
        let zid = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";
        let mine = Owner::new("PrivateEndpointBinding", "ns", "b", "uid-1");
        let other = Owner::new("PrivateEndpointBinding", "ns", "c", "uid-2");
        let wanted = vec![Desired {
            kind: "PrivateDnsZone",
            id: zid.into(),
            mode: crate::plan::decide::Mode::Shared,
            body: json!({"location": "global", "tags": mine.tags(&Default::default())}),
            managed: json!({}),
            update: crate::plan::decide::UpdateStyle::MergePut,
            deps: vec![],
        }];
        let zone = |owner: &Owner, state: &str| json!({"id": zid, "location": "global", "tags": owner.tags(&Default::default()), "properties": {"provisioningState": state}});
        assert!(leaves_zone_alone(&wanted, zid, Some(&zone(&mine, "Succeeded")), &mine));
        assert!(leaves_zone_alone(&wanted, zid, Some(&zone(&other, "Succeeded")), &mine));
        assert!(leaves_zone_alone(&wanted, zid, Some(&zone(&other, "Failed")), &mine), "another's zone is never written");
        assert!(!leaves_zone_alone(&wanted, zid, Some(&zone(&mine, "Failed")), &mine), "its own failed zone is written again: read it first");
        assert!(!leaves_zone_alone(&wanted, zid, Some(&zone(&mine, "Updating")), &mine), "a busy zone is waited on");
        assert!(!leaves_zone_alone(&wanted, zid, None, &mine), "an absent zone is created");
    }
}
