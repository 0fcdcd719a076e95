//! `moat plan -f FILE`: the ordered ARM actions applying FILE would take against what exists
//! now. It reads Azure (GETs only) and writes nothing: no cluster is needed.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use kube::ResourceExt;
use serde_json::Value;

use super::validate::{read_inputs, split_documents};
use crate::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use crate::azure::{ArmClient, ArmClientConfig, AzureIdentityToken, CredentialConfig, StaticToken, TokenSource};
use crate::controller::arm::Arm;
use crate::controller::azure_arm::ClientArm;
use crate::controller::validation;
use crate::controller::workspace::observe;
use crate::plan::ownership::Owner;
use crate::plan::{Decision, Desired, decide};
use crate::privatelink::{DnsCloud, default_zones};

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Manifest file, folder, or - for stdin (repeatable).
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<String>,
    /// ARM base URL (default: the public cloud).
    #[arg(long, default_value = "https://management.azure.com/")]
    pub arm_endpoint: url::Url,
    /// Static bearer token (the emulator); without it moat uses workload identity from the environment.
    #[arg(long, env = "MOAT_ARM_STATIC_TOKEN", hide_env_values = true)]
    pub arm_token: Option<String>,
    /// Tenant for key vaults whose SecureWorkspace sets no spec.tenantId.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Output: table or json.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

/// One planned step.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub object: String,
    pub stage: u8,
    pub action: String,
    pub kind: String,
    pub id: String,
    pub reason: String,
}

#[derive(Default)]
struct Objects {
    workspaces: Vec<SecureWorkspace>,
    subnets: Vec<ComputeSubnet>,
    endpoints: Vec<PrivateEndpointBinding>,
}

fn parse(args: &PlanArgs) -> Result<Objects, String> {
    let (sources, errors) = read_inputs(&args.files);
    if let Some(e) = errors.first() {
        return Err(e.to_string());
    }
    let mut out = Objects::default();
    for src in sources {
        for doc in split_documents(&src.text) {
            if doc.text.trim().is_empty() {
                continue;
            }
            let v: Value = serde_saphyr::from_str(&doc.text).map_err(|e| format!("{}:{}: {e}", src.name, doc.start_line))?;
            let at = |e: serde_json::Error| format!("{}:{}: {e} (run `moat validate` for details)", src.name, doc.start_line);
            let mut v = v;
            if v["metadata"]["namespace"].is_null() {
                v["metadata"]["namespace"] = Value::String("default".into());
            }
            match v.get("kind").and_then(Value::as_str) {
                Some("SecureWorkspace") => out.workspaces.push(serde_json::from_value(v).map_err(at)?),
                Some("ComputeSubnet") => out.subnets.push(serde_json::from_value(v).map_err(at)?),
                Some("PrivateEndpointBinding") => out.endpoints.push(serde_json::from_value(v).map_err(at)?),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// An owner for planning: the object has no uid yet, so ownership is read from the owner-name tag.
fn planning_owner(kind: &str, ns: &str, name: &str) -> Owner {
    Owner::new(kind, ns, name, "")
}

async fn plan_object(arm: &dyn Arm, object: &str, owner: &Owner, desired: Vec<Desired>, held: Option<String>, out: &mut Vec<Step>) -> Result<(), String> {
    let observed: HashMap<String, Option<Value>> = observe(arm, &desired).await.map_err(|e| e.to_string())?;
    let stages = crate::plan::stage_numbers(&desired);
    let stage_of = |d: &Desired| stages.get(&d.id.to_ascii_lowercase()).copied().unwrap_or(0);
    let mut ordered: Vec<&Desired> = desired.iter().collect();
    ordered.sort_by_key(|d| stage_of(d));
    for d in ordered {
        let stage = stage_of(d);
        let obs = observed.get(&d.id.to_ascii_lowercase()).cloned().flatten();
        let (action, reason) = match (held.clone(), decide(d, obs.as_ref(), owner, stage)) {
            (_, Decision::Converged) => continue,
            (Some(why), _) => ("BLOCKED".to_string(), why),
            (None, Decision::Write(a)) => (format!("{} ({})", a.verb.to_string().to_uppercase(), a.method), a.reason),
            (None, Decision::Wait(m)) => ("WAIT".into(), m),
            (None, Decision::Refuse(m)) => ("REFUSED".into(), m),
            (None, Decision::Missing(m)) => ("MISSING".into(), m),
        };
        out.push(Step { object: object.to_string(), stage, action, kind: d.kind.to_string(), id: d.id.clone(), reason });
    }
    Ok(())
}

async fn plan(args: &PlanArgs) -> Result<Vec<Step>, String> {
    let objects = parse(args)?;
    let token: Arc<dyn TokenSource> = match &args.arm_token {
        Some(t) => Arc::new(StaticToken::new(t.clone())),
        None => Arc::new(
            AzureIdentityToken::from_config(&crate::azure::AzureCloud::Public, &CredentialConfig::WorkloadIdentity { tenant_id: None, client_id: None, token_file: None }, None)
                .map_err(|e| e.to_string())?,
        ),
    };
    let cloud = if args.arm_endpoint.as_str() == "https://management.azure.com/" {
        crate::azure::AzureCloud::Public
    } else {
        crate::azure::AzureCloud::emulator(args.arm_endpoint.clone())
    };
    let client = ArmClient::new(ArmClientConfig { cloud, ..ArmClientConfig::default() }, token).map_err(|e| e.to_string())?;
    let arm = ClientArm::new(client);
    let mut steps = Vec::new();
    let snapshot = crate::controller::watch::Snapshot::of(&objects.workspaces, &objects.subnets, &objects.endpoints);
    for ws in &objects.workspaces {
        let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
        let owner = planning_owner("SecureWorkspace", &ns, &name);
        let inputs = crate::plan::workspace::WorkspaceInputs { spec: &ws.spec, owner: &owner, tenant_id: args.tenant_id.as_deref(), storage_subnet_ids: &[], vault_subnet_ids: &[] };
        let desired = crate::plan::workspace::desired(&inputs).map_err(|e| format!("SecureWorkspace {ns}/{name}: {e}"))?;
        let observed = observe(&arm, &desired).await.map_err(|e| e.to_string())?;
        let verdict = validation::workspace(ws, &snapshot, &observed);
        plan_object(&arm, &format!("sws/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
        for ep in crate::plan::workspace::endpoints(ws) {
            let mut peb = PrivateEndpointBinding::new(&ep.name, ep.spec.clone());
            peb.metadata.namespace = Some(ns.clone());
            let owner = planning_owner("PrivateEndpointBinding", &ns, &ep.name);
            let zones = default_zones(peb.spec.target.group_id, DnsCloud::from_region(peb.spec.location.as_str()));
            let desired = crate::plan::endpoint::desired(&peb.spec, &ep.name, &owner, &zones);
            plan_object(&arm, &format!("peb/{}", ep.name), &owner, desired, verdict.held(), &mut steps).await?;
        }
    }
    for peb in &objects.endpoints {
        let (ns, name) = (peb.namespace().unwrap_or_default(), peb.name_any());
        let owner = planning_owner("PrivateEndpointBinding", &ns, &name);
        let zones = crate::controller::endpoint::zones_for(peb);
        let desired = crate::plan::endpoint::desired(&peb.spec, &name, &owner, &zones);
        let observed = observe(&arm, &desired).await.map_err(|e| e.to_string())?;
        let verdict = validation::endpoint(peb, &snapshot, &observed);
        plan_object(&arm, &format!("peb/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
    }
    for cs in &objects.subnets {
        let (ns, name) = (cs.namespace().unwrap_or_default(), cs.name_any());
        let ws = objects
            .workspaces
            .iter()
            .find(|w| w.name_any() == cs.spec.workspace_ref.name && w.namespace() == cs.namespace())
            .ok_or_else(|| format!("ComputeSubnet {ns}/{name}: its SecureWorkspace {} is not in the files given", cs.spec.workspace_ref.name))?;
        let owner = planning_owner("ComputeSubnet", &ns, &name);
        let desired = crate::plan::subnet::desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, None);
        let observed = observe(&arm, &desired).await.map_err(|e| e.to_string())?;
        let verdict = validation::compute_subnet(cs, &snapshot, &observed);
        plan_object(&arm, &format!("csn/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
    }
    Ok(steps)
}

pub fn run(args: &PlanArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(plan(args)) {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Ok(steps) if args.output == "json" => {
            println!("{}", serde_json::to_string_pretty(&steps).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(steps) => {
            if steps.is_empty() {
                println!("No changes: Azure already matches every object.");
            }
            for s in &steps {
                println!("{:<22} stage {}  {:<14} {:<20} {}\n{:>32}{}", s.object, s.stage, s.action, s.kind, s.id, "", s.reason);
            }
            let writes = steps.iter().filter(|s| s.action.starts_with("CREATE") || s.action.starts_with("UPDATE")).count();
            println!("\n{} step(s), {writes} ARM write(s); nothing was written.", steps.len());
            ExitCode::SUCCESS
        }
    }
}
