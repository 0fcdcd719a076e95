//! The PrivateEndpointBinding reconciler: the private endpoint, its privatelink zones and VNet
//! links, and its DNS zone group; or, in Custom DNS mode, the host records in status.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::Value;

use super::conditions::{self as cond, condition};
use super::context::{Context, ObjectEvents, current_status, ns_name, ops_persister, patch_status, with_finalizer, write_status};
use super::converge::OpsTracker;
use super::dag::{self, Node, NodeEnd};
use super::error::{Error, Result};
use super::workspace::observe;
use crate::api::{DeletionPolicy, DnsRecord, EndpointDnsMode, PrivateEndpointBinding, PrivateEndpointBindingStatus};
use crate::plan::endpoint::{EndpointIds, desired};
use crate::plan::ownership::Owner;
use crate::plan::Desired;
use crate::privatelink::{DnsCloud, default_zones};
use crate::tenancy::{self, Subject};

pub async fn reconcile(peb: Arc<PrivateEndpointBinding>, ctx: Arc<Context>) -> Result<Action> {
    with_finalizer(peb, &ctx, |o| apply(o, &ctx), |o| cleanup(o, &ctx)).await
}

/// The privatelink zones the binding uses: its own list, or the documented ones for its groupId.
pub fn zones_for(peb: &PrivateEndpointBinding) -> Vec<String> {
    match &peb.spec.dns.zones {
        Some(z) => z.clone(),
        None => default_zones(peb.spec.target.group_id, DnsCloud::from_region(peb.spec.location.as_str())),
    }
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
    reason: &str,
    message: &str,
) -> Result<()> {
    cond::set(&mut status.conditions, condition(cond::READY, false, reason, message, generation));
    status.observed_generation = generation;
    patch_status(api, name, &status).await
}

async fn apply(peb: Arc<PrivateEndpointBinding>, ctx: &Context) -> Result<Action> {
    let (ns, name) = ns_name(peb.as_ref())?;
    let api: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = peb.metadata.generation;
    // Status from a fresh read, not the watch cache: the ownership record of children and the
    // in-flight operations must not be lost to a cache that has not seen the last status write.
    let recorded = current_status(&api, &name).await?;
    let mut status = recorded.clone().unwrap_or_default();
    let retry = Action::requeue(ctx.settings.retry);

    // Tenancy: every Azure scope the spec names is checked against the namespace's policies
    // before any ARM request; the ARM access is confined to them.
    let arm = match tenancy::arm_for(ctx, &ns, &Subject::Endpoint(&peb.spec)).await {
        Ok(a) => a,
        Err(r) => {
            set_blocked(&api, &name, status, generation, r.reason.as_str(), &r.message).await?;
            return Ok(Action::requeue(r.requeue(ctx.settings.resync, ctx.settings.retry)));
        }
    };
    let owner = owner_of(&peb, &ns)?;
    let zones = zones_for(&peb);
    let wanted = desired(&peb.spec, &name, &owner, &zones);
    let ids = EndpointIds::of(&peb.spec, &name, &zones);

    // Observe the target too: the catalog needs its SKU and region.
    let (observed, target) = futures::join!(observe(arm.as_ref(), &wanted), arm.get(peb.spec.target.id.as_str()));
    let (mut observed, target) = (observed?, target?);
    // An existing endpoint proves its subnet exists (ARM keeps a subnet while endpoints use it).
    let endpoint_exists = matches!(observed.get(&ids.endpoint.to_ascii_lowercase()), Some(Some(_)));
    let subnet_exists = endpoint_exists || arm.get(peb.spec.subnet_id.as_str()).await?.is_some();
    let prerequisites = [("subnet", peb.spec.subnet_id.as_str(), subnet_exists), ("target", peb.spec.target.id.as_str(), target.is_some())];
    observed.insert(peb.spec.target.id.as_str().to_ascii_lowercase(), target);
    let verdict = super::validation::endpoint(&peb, &observed);
    let (constraints_ok, summary) = verdict.summary();
    cond::set(
        &mut status.conditions,
        condition(cond::CONSTRAINTS_SATISFIED, constraints_ok, if constraints_ok { "NoErrors" } else { "ConstraintViolation" }, summary, generation),
    );

    let events = ObjectEvents { recorder: &ctx.recorder, object: peb.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm.as_ref(), &owner, &ops, &events, &status.resources);
    let mut nodes: Vec<Node<'_>> = conv.nodes(&wanted, &observed, |k| verdict.blocked(k));
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
    let ends = dag::run(nodes).await;

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
    status.resources = conv.resources();
    status.resources.sort_by_key(|r| r.id.to_ascii_lowercase());
    status.operations = ops.snapshot().await;

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
                "AwaitingApproval",
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
            let recorded = conv.body(&ids.zone_group).map(|g| has_record_sets(&g)).unwrap_or(false);
            if problems.is_empty() && recorded {
                condition(cond::DNS_READY, true, "Registered", format!("A records registered in {}", zones.join(", ")), generation)
            } else if problems.is_empty() {
                condition(cond::DNS_READY, false, "Registering", "the DNS zone group has no record sets yet", generation)
            } else {
                condition(cond::DNS_READY, false, "Pending", problems.join("; "), generation)
            }
        }
    };
    cond::set(&mut status.conditions, dns);
    let why: Vec<String> =
        [cond::ENDPOINT_READY, cond::DNS_READY].iter().filter(|t| !cond::is_true(&status.conditions, t)).map(|t| t.to_string()).collect();
    let ready = why.is_empty();
    let ready_condition = if ready {
        condition(cond::READY, true, "Converged", "endpoint approved and resolvable", generation)
    } else {
        condition(cond::READY, false, "Converging", format!("waiting for {}", why.join(", ")), generation)
    };
    cond::set(&mut status.conditions, ready_condition);
    status.observed_generation = generation;
    write_status(&api, &name, recorded.as_ref(), &status).await?;
    Ok(if ready { Action::requeue(ctx.settings.resync) } else { retry })
}

fn explain(end: Option<NodeEnd>) -> String {
    match end {
        Some(NodeEnd::Done) => "done".into(),
        Some(NodeEnd::NotDone(m)) | Some(NodeEnd::Blocked(m)) => m,
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

fn has_record_sets(group: &Value) -> bool {
    group
        .get("properties")
        .and_then(|p| p.get("privateDnsZoneConfigs"))
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            !cs.is_empty()
                && cs.iter().all(|c| {
                    c.get("properties").and_then(|p| p.get("recordSets")).and_then(Value::as_array).is_some_and(|r| !r.is_empty())
                })
        })
}

async fn cleanup(peb: Arc<PrivateEndpointBinding>, ctx: &Context) -> Result<Action> {
    if peb.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    let (ns, name) = ns_name(peb.as_ref())?;
    let api: Api<PrivateEndpointBinding> = Api::namespaced(ctx.client.clone(), &ns);
    let status = current_status(&api, &name).await?.unwrap_or_default();
    let arm = match tenancy::arm_for(ctx, &ns, &Subject::Endpoint(&peb.spec)).await {
        Ok(a) => a,
        Err(r) => {
            let msg = r.deletion_message();
            set_blocked(&api, &name, status, peb.metadata.generation, r.reason.as_str(), &msg).await?;
            return Err(Error::Waiting(msg));
        }
    };
    let owner = owner_of(&peb, &ns)?;
    let zones = zones_for(&peb);
    let wanted = desired(&peb.spec, &name, &owner, &zones);
    let observed = observe(arm.as_ref(), &wanted).await?;
    let events = ObjectEvents { recorder: &ctx.recorder, object: peb.object_ref(&()) };
    let ops = OpsTracker::new(status.operations.clone(), ops_persister(api.clone(), name.clone()));
    let conv = ctx.converger(arm.as_ref(), &owner, &ops, &events, &status.resources);
    // The endpoint (its zone group goes with it), then zones and links moat created and that no
    // other endpoint still uses.
    let mut left = Vec::new();
    let present = |d: &Desired| observed.get(&d.id.to_ascii_lowercase()).and_then(|v| v.as_ref()).cloned();
    for d in wanted.iter().filter(|d| d.kind == "PrivateEndpoint") {
        if present(d).is_some_and(|v| owner.owns(&v))
            && let NodeEnd::NotDone(m) | NodeEnd::Blocked(m) = conv.delete(d).await
        {
            left.push(m);
        }
    }
    if left.is_empty() {
        for (zone, zid) in EndpointIds::of(&peb.spec, &name, &zones).zones {
            let Some(zd) = wanted.iter().find(|d| d.id == zid) else { continue };
            if !present(zd).is_some_and(|v| owner.owns(&v)) {
                continue;
            }
            let records = arm.list(&format!("{zid}/A")).await.unwrap_or_default();
            if !records.is_empty() {
                tracing::info!(%zone, "private DNS zone still holds records of other endpoints; kept");
                continue;
            }
            let links: Vec<&Desired> = wanted.iter().filter(|d| d.kind == "VirtualNetworkLink" && d.deps.contains(&zid)).collect();
            let links_done = dag::run(
                links
                    .iter()
                    // The zone is moat's and empty: its moat-named links go with it.
                    .filter(|l| present(l).is_some())
                    .map(|l| {
                        let conv = &conv;
                        Node { key: l.id.clone(), deps: vec![], run: Box::new(move || Box::pin(conv.delete(l))) }
                    })
                    .collect(),
            )
            .await;
            if links_done.values().all(|e| *e == NodeEnd::Done) {
                if let NodeEnd::NotDone(m) | NodeEnd::Blocked(m) = conv.delete(zd).await {
                    left.push(m);
                }
            } else {
                left.extend(links_done.into_values().filter(|e| *e != NodeEnd::Done).map(|e| format!("{e:?}")));
            }
        }
    }
    if left.is_empty() {
        return Ok(Action::await_change());
    }
    let msg = format!("deleting: {}", left.join("; "));
    set_blocked(&api, &name, status, peb.metadata.generation, "Deleting", &msg).await?;
    Err(Error::Waiting(msg))
}
