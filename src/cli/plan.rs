//! `moat plan -f FILE`: the ordered ARM actions applying FILE would take against what exists
//! now. It reads Azure (GETs only) and writes nothing.
//!
//! Offline (no cluster flag) the manifests have no UID, so ownership is read from the owner-name
//! tag and a resource moat created shows a drifted `moat.dev_owner-uid` tag. With `--live`,
//! `--kubeconfig` or `--context` each object is looked up in the cluster: planning then uses its
//! UID (and, for a workspace, its ComputeSubnets' subnets), exactly as the controllers do, so a
//! converged workspace plans zero writes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::validate::{read_inputs, split_documents};
use crate::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace};
use crate::azure::{ArmClient, ArmClientConfig, AzureCloud, AzureIdentityToken, CredentialConfig, ExtraTrust, StaticToken, TokenSource};
use crate::controller::arm::Arm;
use crate::controller::azure_arm::ClientArm;
use crate::controller::validation;
use crate::controller::watch::Snapshot;
use crate::controller::workspace::observe;
use crate::plan::ownership::Owner;
use crate::plan::{Decision, Desired, decide};

/// The public cloud's ARM endpoint, the default of `--arm-endpoint`.
const PUBLIC_ARM: &str = "https://management.azure.com/";

/// Where `plan` gets its ARM token: chosen explicitly, there is no credential chain.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanCredential {
    /// AKS workload identity from the environment (AZURE_CLIENT_ID, AZURE_TENANT_ID,
    /// AZURE_FEDERATED_TOKEN_FILE), as in the cluster.
    Workload,
    /// The account logged in to the Azure CLI (`az login`): `az account get-access-token`.
    AzureCli,
    /// Developer tools: the Azure CLI, then the Azure Developer CLI (`azd auth login`).
    Developer,
    /// `--arm-token` / MOAT_ARM_STATIC_TOKEN as it is (the emulator).
    Static,
}

/// Which ARM endpoint and credential, for the commands that read Azure from a laptop.
#[derive(clap::Args, Debug, Clone)]
pub struct ArmAccessArgs {
    /// ARM base URL (default: the public cloud).
    #[arg(long, default_value = PUBLIC_ARM)]
    pub arm_endpoint: url::Url,
    /// How to get an ARM token. Default: `static` when --arm-token is given, else `workload`.
    /// From a laptop use `azure-cli` (after `az login`) or `developer`.
    #[arg(long, value_enum, value_name = "KIND")]
    pub credential: Option<PlanCredential>,
    /// Static bearer token (the emulator); only with `--credential static`.
    #[arg(long, env = "MOAT_ARM_STATIC_TOKEN", hide_env_values = true)]
    pub arm_token: Option<String>,
    /// PEM file of CA certificates to trust for ARM and token requests, beside the system's roots
    /// (the ARM emulator's `--ca-file`).
    #[arg(long, env = "MOAT_ARM_CA_FILE", value_name = "PATH")]
    pub arm_ca_file: Option<PathBuf>,
}

/// Which cluster, when the command reads objects from one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Look the objects up in the cluster of the current kubeconfig context (implied by
    /// --kubeconfig and --context).
    #[arg(long)]
    pub live: bool,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// Whether a cluster is to be read.
    pub fn enabled(&self) -> bool {
        self.live || self.kubeconfig.is_some() || self.context.is_some()
    }
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Manifest file, folder, or - for stdin (repeatable).
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<String>,
    #[command(flatten)]
    pub arm: ArmAccessArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Tenant for key vaults whose SecureWorkspace sets no spec.tenantId (as `moat run --tenant-id`).
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,
    /// Output: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

/// Why a plan could not be made (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Unreadable or malformed manifests.
    #[error("{0}")]
    Input(String),
    /// The credential flags do not fit together, or the credential cannot be built.
    #[error("ARM credential: {0}")]
    Credential(String),
    /// The Kubernetes client could not be configured.
    #[error("cluster: {what}: {message}")]
    ClusterConfig { what: String, message: String },
    /// A read from the cluster failed.
    #[error("cluster: {what}: {source}")]
    Cluster {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The desired state of an object cannot be computed.
    #[error("{object}: {message}")]
    Object { object: String, message: String },
    /// Reading Azure failed.
    #[error("reading Azure: {0}")]
    Arm(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
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

impl Step {
    /// True for a step that would write to Azure.
    pub fn is_write(&self) -> bool {
        self.action.starts_with("CREATE") || self.action.starts_with("UPDATE") || self.action.starts_with("DELETE")
    }
}

/// The objects of the manifests (or of a namespace of the cluster).
#[derive(Default, Debug, Clone)]
pub struct Objects {
    pub workspaces: Vec<SecureWorkspace>,
    pub subnets: Vec<ComputeSubnet>,
    pub endpoints: Vec<PrivateEndpointBinding>,
}

/// Reads the SecureWorkspaces, ComputeSubnets and PrivateEndpointBindings of `files` (other
/// kinds are skipped; a manifest without a namespace goes to `default`).
pub fn read_objects(files: &[String]) -> Result<Objects, PlanError> {
    let (sources, errors) = read_inputs(files);
    if let Some(e) = errors.first() {
        return Err(PlanError::Input(e.to_string()));
    }
    let mut out = Objects::default();
    for src in sources {
        for doc in split_documents(&src.text) {
            if doc.text.trim().is_empty() {
                continue;
            }
            let at = |e: &dyn std::fmt::Display| PlanError::Input(format!("{}:{}: {e} (run `moat validate` for details)", src.name, doc.start_line));
            let mut v: Value = serde_saphyr::from_str(&doc.text).map_err(|e| at(&e))?;
            if v["metadata"]["namespace"].is_null() {
                v["metadata"]["namespace"] = Value::String("default".into());
            }
            match v.get("kind").and_then(Value::as_str) {
                Some("SecureWorkspace") => out.workspaces.push(serde_json::from_value(v).map_err(|e| at(&e))?),
                Some("ComputeSubnet") => out.subnets.push(serde_json::from_value(v).map_err(|e| at(&e))?),
                Some("PrivateEndpointBinding") => out.endpoints.push(serde_json::from_value(v).map_err(|e| at(&e))?),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// A Kubernetes client for `args`: `--kubeconfig` and `--context` when given, else the usual
/// inference (KUBECONFIG, ~/.kube/config, in-cluster).
pub async fn kube_client(args: &ClusterArgs) -> Result<kube::Client, PlanError> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
    let fail = |what: String| move |e: &dyn std::fmt::Display| PlanError::ClusterConfig { what, message: e.to_string() };
    let config = match (&args.kubeconfig, &args.context) {
        (Some(path), _) => {
            let what = format!("kubeconfig {}", path.display());
            let kc = Kubeconfig::read_from(path).map_err(|e| fail(what.clone())(&e))?;
            kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| fail(what)(&e))?
        }
        (None, Some(context)) => kube::Config::from_kubeconfig(&options).await.map_err(|e| fail(format!("context {context}"))(&e))?,
        (None, None) => kube::Config::infer().await.map_err(|e| fail("kubeconfig".into())(&e))?,
    };
    kube::Client::try_from(config).map_err(|source| PlanError::Cluster { what: "building the client".into(), source })
}

/// What the cluster knows that manifests cannot: the live objects, by namespace and name.
#[derive(Default)]
pub struct Live {
    workspaces: HashMap<(String, String), SecureWorkspace>,
    subnets: HashMap<String, Vec<ComputeSubnet>>,
    endpoints: HashMap<(String, String), PrivateEndpointBinding>,
}

fn key<K: ResourceExt>(o: &K) -> (String, String) {
    (o.namespace().unwrap_or_default(), o.name_any())
}

impl Live {
    /// Reads, for each namespace of `objects`, its SecureWorkspaces, ComputeSubnets and
    /// PrivateEndpointBindings (three lists per namespace).
    pub async fn read(client: &kube::Client, objects: &Objects) -> Result<Self, PlanError> {
        let mut namespaces: Vec<String> = objects
            .workspaces
            .iter()
            .map(|o| o.namespace())
            .chain(objects.subnets.iter().map(|o| o.namespace()))
            .chain(objects.endpoints.iter().map(|o| o.namespace()))
            .flatten()
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let mut live = Live::default();
        for ns in namespaces {
            let lp = ListParams::default();
            let list = |what: &str| {
                let what = format!("list {what} in namespace {ns}");
                move |source| PlanError::Cluster { what, source }
            };
            for o in Api::<SecureWorkspace>::namespaced(client.clone(), &ns).list(&lp).await.map_err(list("SecureWorkspaces"))? {
                live.workspaces.insert(key(&o), o);
            }
            let subnets = Api::<ComputeSubnet>::namespaced(client.clone(), &ns).list(&lp).await.map_err(list("ComputeSubnets"))?;
            live.subnets.insert(ns.clone(), subnets.items);
            for o in Api::<PrivateEndpointBinding>::namespaced(client.clone(), &ns).list(&lp).await.map_err(list("PrivateEndpointBindings"))? {
                live.endpoints.insert(key(&o), o);
            }
        }
        Ok(live)
    }

    fn uid_of<K: Resource>(o: Option<&K>) -> String {
        o.and_then(|o| o.meta().uid.clone()).unwrap_or_default()
    }

}

/// An owner for planning: the live object's UID when the cluster has it, else none (ownership
/// is then read from the owner-name tag).
fn planning_owner(kind: &str, ns: &str, name: &str, uid: &str) -> Owner {
    Owner::new(kind, ns, name, uid)
}

async fn plan_object(arm: &dyn Arm, object: &str, owner: &Owner, desired: Vec<Desired>, held: Option<String>, out: &mut Vec<Step>) -> Result<(), PlanError> {
    let observed: HashMap<String, Option<Value>> = observe(arm, &desired).await.map_err(|e| PlanError::Arm(e.to_string()))?;
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

/// The token source for `args`; every choice is explicit.
pub fn token_source(args: &ArmAccessArgs, cloud: &AzureCloud, trust: &ExtraTrust) -> Result<Arc<dyn TokenSource>, PlanError> {
    let kind = args.credential.unwrap_or(if args.arm_token.is_some() { PlanCredential::Static } else { PlanCredential::Workload });
    if kind != PlanCredential::Static && args.arm_token.is_some() {
        return Err(PlanError::Credential(format!(
            "--arm-token / MOAT_ARM_STATIC_TOKEN is only used with --credential static (got --credential {kind:?}); unset it or drop --credential"
        )));
    }
    let cli = |e: azure_core::Error| PlanError::Credential(format!("{kind:?}: {e}"));
    Ok(match kind {
        PlanCredential::Static => {
            let token = args.arm_token.as_ref().ok_or_else(|| PlanError::Credential("--credential static needs --arm-token or MOAT_ARM_STATIC_TOKEN".into()))?;
            Arc::new(StaticToken::new(token.clone()))
        }
        PlanCredential::Workload => Arc::new(
            AzureIdentityToken::from_config_with_trust(cloud, &CredentialConfig::default(), None, trust)
                .map_err(|e| PlanError::Credential(format!("workload identity: {e} (from a laptop, use --credential azure-cli)")))?,
        ),
        PlanCredential::AzureCli => {
            let credential = azure_identity::AzureCliCredential::new(None).map_err(cli)?;
            Arc::new(AzureIdentityToken::from_credential(credential, cloud.token_scope()))
        }
        PlanCredential::Developer => {
            let credential = azure_identity::DeveloperToolsCredential::new(None).map_err(cli)?;
            Arc::new(AzureIdentityToken::from_credential(credential, cloud.token_scope()))
        }
    })
}

/// The ARM access of `args`: the public cloud, or a custom endpoint (the emulator).
pub fn arm_access(args: &ArmAccessArgs) -> Result<ClientArm, PlanError> {
    let cloud = if args.arm_endpoint.as_str() == PUBLIC_ARM { AzureCloud::Public } else { AzureCloud::emulator(args.arm_endpoint.clone()) };
    let trust = match &args.arm_ca_file {
        Some(p) => ExtraTrust::from_file(p).map_err(|e| PlanError::Credential(format!("--arm-ca-file: {e}")))?,
        None => ExtraTrust::default(),
    };
    let token = token_source(args, &cloud, &trust)?;
    let client = ArmClient::new(ArmClientConfig { cloud, trust, ..ArmClientConfig::default() }, token).map_err(|e| PlanError::Arm(e.to_string()))?;
    Ok(ClientArm::new(client))
}

/// The steps for `objects`; `live` holds what the cluster knows about them. The constraint
/// catalog sees what the controllers would: the objects of the files and, when the cluster was
/// read, its objects too.
pub async fn plan_objects(arm: &dyn Arm, objects: &Objects, live: Option<&Live>, tenant_id: Option<&str>) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::new();
    let snapshot = {
        let mut all = Snapshot::of(&objects.workspaces, &objects.subnets, &objects.endpoints);
        if let Some(l) = live {
            let known = |ns: Option<String>, name: String| (ns.unwrap_or_default(), name);
            let in_files_ws: Vec<(String, String)> = objects.workspaces.iter().map(|o| known(o.namespace(), o.name_any())).collect();
            all.workspaces.extend(l.workspaces.values().filter(|o| !in_files_ws.contains(&key(*o))).cloned().map(std::sync::Arc::new));
            let in_files_cs: Vec<(String, String)> = objects.subnets.iter().map(|o| known(o.namespace(), o.name_any())).collect();
            all.subnets.extend(l.subnets.values().flatten().filter(|o| !in_files_cs.contains(&key(*o))).cloned().map(std::sync::Arc::new));
            let in_files_peb: Vec<(String, String)> = objects.endpoints.iter().map(|o| known(o.namespace(), o.name_any())).collect();
            all.endpoints.extend(l.endpoints.values().filter(|o| !in_files_peb.contains(&key(*o))).cloned().map(std::sync::Arc::new));
        }
        all
    };
    for ws in &objects.workspaces {
        let (ns, name) = key(ws);
        let live_ws = live.and_then(|l| l.workspaces.get(&(ns.clone(), name.clone())));
        let owner = planning_owner("SecureWorkspace", &ns, &name, &Live::uid_of(live_ws));
        let object = || format!("SecureWorkspace {ns}/{name}");
        let plan = |storage: &[String], vault: &[String]| {
            let inputs = crate::plan::workspace::WorkspaceInputs { spec: &ws.spec, owner: &owner, tenant_id, storage_subnet_ids: storage, vault_subnet_ids: vault };
            crate::plan::workspace::desired(&inputs).map_err(|e| PlanError::Object { object: object(), message: e.to_string() })
        };
        let first = plan(&[], &[])?;
        let observed = observe(arm, &first).await.map_err(|e| PlanError::Arm(e.to_string()))?;
        // As the controller does: firewall rules only for compute subnets that exist with the service endpoint.
        let ids = crate::plan::ids::WorkspaceIds::of(&ws.spec);
        let vnet = observed.get(&ids.vnet.to_ascii_lowercase()).and_then(Option::as_ref);
        let subnets: Vec<ComputeSubnet> = snapshot.subnets.iter().filter(|c| c.namespace().as_deref() == Some(ns.as_str()) && c.spec.workspace_ref.name == name).map(|c| c.as_ref().clone()).collect();
        let storage = crate::controller::workspace::subnets_with_endpoint(&ids.vnet, vnet, &subnets, "Microsoft.Storage");
        let vault = crate::controller::workspace::subnets_with_endpoint(&ids.vnet, vnet, &subnets, "Microsoft.KeyVault");
        let desired = plan(&storage, &vault)?;
        let verdict = validation::workspace(ws, &snapshot, &observed);
        plan_object(arm, &format!("sws/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
        for ep in crate::plan::workspace::endpoints(ws) {
            let live_peb = live.and_then(|l| l.endpoints.get(&(ns.clone(), ep.name.clone())));
            let mut peb = PrivateEndpointBinding::new(&ep.name, ep.spec.clone());
            peb.metadata.namespace = Some(ns.clone());
            let owner = planning_owner("PrivateEndpointBinding", &ns, &ep.name, &Live::uid_of(live_peb));
            let zones = crate::controller::endpoint::zones_for(&peb);
            let desired = crate::plan::endpoint::desired(&peb.spec, &ep.name, &owner, &zones);
            plan_object(arm, &format!("peb/{}", ep.name), &owner, desired, verdict.held(), &mut steps).await?;
        }
    }
    for peb in &objects.endpoints {
        let (ns, name) = key(peb);
        let live_peb = live.and_then(|l| l.endpoints.get(&(ns.clone(), name.clone())));
        let owner = planning_owner("PrivateEndpointBinding", &ns, &name, &Live::uid_of(live_peb));
        let zones = crate::controller::endpoint::zones_for(peb);
        let desired = crate::plan::endpoint::desired(&peb.spec, &name, &owner, &zones);
        let mut observed = observe(arm, &desired).await.map_err(|e| PlanError::Arm(e.to_string()))?;
        let vnet_id = crate::plan::ids::parent_of(peb.spec.subnet_id.as_str()).to_string();
        let vnet = arm.get(&vnet_id).await.map_err(|e| PlanError::Arm(e.to_string()))?;
        observed.insert(vnet_id.to_ascii_lowercase(), vnet);
        let verdict = validation::endpoint(peb, &snapshot, &observed);
        plan_object(arm, &format!("peb/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
    }
    for cs in &objects.subnets {
        let (ns, name) = key(cs);
        let ws = objects
            .workspaces
            .iter()
            .find(|w| w.name_any() == cs.spec.workspace_ref.name && w.namespace() == cs.namespace())
            .or_else(|| live.and_then(|l| l.workspaces.get(&(ns.clone(), cs.spec.workspace_ref.name.clone()))))
            .ok_or_else(|| PlanError::Object {
                object: format!("ComputeSubnet {ns}/{name}"),
                message: format!("its SecureWorkspace {} is not in the files given{}", cs.spec.workspace_ref.name, if live.is_some() { " nor in the cluster" } else { "" }),
            })?;
        let live_cs = live.and_then(|l| l.subnets.get(&ns)).and_then(|list| list.iter().find(|c| c.name_any() == name));
        let owner = planning_owner("ComputeSubnet", &ns, &name, &Live::uid_of(live_cs));
        let first = crate::plan::subnet::desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, None);
        let mut observed = observe(arm, &first).await.map_err(|e| PlanError::Arm(e.to_string()))?;
        let ids = crate::plan::subnet::SubnetIds::of(&cs.spec, &ws.spec);
        let existing_nsg = observed.get(&ids.nsg.to_ascii_lowercase()).cloned().flatten();
        let desired = crate::plan::subnet::desired(&cs.spec, &ws.spec, &owner, &ws.spec.tags, existing_nsg.as_ref());
        let vnet = arm.get(&ids.vnet).await.map_err(|e| PlanError::Arm(e.to_string()))?;
        observed.insert(ids.vnet.to_ascii_lowercase(), vnet);
        let verdict = validation::compute_subnet(cs, &snapshot, &observed);
        plan_object(arm, &format!("csn/{name}"), &owner, desired, verdict.held(), &mut steps).await?;
    }
    Ok(steps)
}

/// What `plan` found: the steps, and how ownership was decided.
pub struct Outcome {
    pub steps: Vec<Step>,
    /// Objects of the files that the cluster does not have (planned without a UID).
    pub not_in_cluster: Vec<String>,
    /// Whether the cluster was read.
    pub live: bool,
}

async fn plan(args: &PlanArgs) -> Result<Outcome, PlanError> {
    let objects = read_objects(&args.files)?;
    let arm = arm_access(&args.arm)?;
    let live = match args.cluster.enabled() {
        true => Some(Live::read(&kube_client(&args.cluster).await?, &objects).await?),
        false => None,
    };
    let mut not_in_cluster = Vec::new();
    if let Some(l) = &live {
        not_in_cluster.extend(objects.workspaces.iter().map(key).filter(|k| !l.workspaces.contains_key(k)).map(|(n, m)| format!("sws {n}/{m}")));
        not_in_cluster.extend(objects.endpoints.iter().map(key).filter(|k| !l.endpoints.contains_key(k)).map(|(n, m)| format!("peb {n}/{m}")));
        for cs in &objects.subnets {
            let (ns, name) = key(cs);
            if !l.subnets.get(&ns).is_some_and(|list| list.iter().any(|c| c.name_any() == name)) {
                not_in_cluster.push(format!("csn {ns}/{name}"));
            }
        }
    }
    let steps = plan_objects(&arm, &objects, live.as_ref(), args.tenant_id.as_deref()).await?;
    Ok(Outcome { steps, not_in_cluster, live: live.is_some() })
}

/// The table `moat plan` prints.
pub fn render_table(outcome: &Outcome) -> String {
    let mut out = String::new();
    if outcome.steps.is_empty() {
        out.push_str("No changes: Azure already matches every object.\n");
    }
    for s in &outcome.steps {
        out.push_str(&format!("{:<22} stage {}  {:<14} {:<20} {}\n{:>32}{}\n", s.object, s.stage, s.action, s.kind, s.id, "", s.reason));
    }
    let writes = outcome.steps.iter().filter(|s| s.is_write()).count();
    out.push_str(&format!("\n{} step(s), {writes} ARM write(s); nothing was written.\n", outcome.steps.len()));
    if !outcome.live {
        out.push_str("Planned from the files alone: resources moat created show their owner-uid tag as drift. Add --live (or --kubeconfig/--context) to plan with the objects' UIDs from the cluster.\n");
    } else if !outcome.not_in_cluster.is_empty() {
        out.push_str(&format!("Not in the cluster, planned as new objects: {}\n", outcome.not_in_cluster.join(", ")));
    }
    out
}

pub fn run(args: &PlanArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(PlanError::Runtime).and_then(|rt| rt.block_on(plan(args)));
    match result {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Ok(outcome) if args.output == "json" => {
            let text = serde_json::to_string_pretty(&outcome.steps).map(|t| t + "\n").unwrap_or_else(|e| format!("{{\"error\": \"cannot render the plan as JSON: {e}\"}}\n"));
            super::output::print_then(&text, ExitCode::SUCCESS)
        }
        Ok(outcome) => super::output::print_then(&render_table(&outcome), ExitCode::SUCCESS),
    }
}
