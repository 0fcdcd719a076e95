//! `moat graph`: the network design of manifests (or of a namespace in the cluster) as a picture
//! to review: VNet, subnets, NSGs and their rules, route tables and routes, private endpoints,
//! their targets, privatelink zones, VNet links and zone groups. Mermaid (renders in GitHub and
//! most Markdown viewers) or Graphviz DOT.
//!
//! The graph is built from the same desired state the controllers converge (`crate::plan`), so
//! it draws what moat would create, not a second description of it. [`build`] is pure; the
//! renderers are pure; only [`run`] reads files or the cluster.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use kube::ResourceExt;
use serde_json::Value;

use super::plan::{ClusterArgs, Objects, PlanError, kube_client, read_objects};
use crate::api::PrivateEndpointBinding;
use crate::plan::ownership::Owner;
use crate::plan::{Desired, Mode};

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GraphFormat {
    /// Mermaid flowchart.
    #[default]
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Manifest file, folder, or - for stdin (repeatable). Without it, the objects are read from
    /// the cluster (`--namespace`, or every namespace).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
    /// Namespace to read from the cluster (without -f). Default: every namespace.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// One resource in the picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// ARM id, lower-cased (the key).
    pub id: String,
    /// Short kind, e.g. `Subnet`, or `External` for a resource moat only refers to.
    pub kind: String,
    /// First line: what and which (`Subnet snet-training`).
    pub title: String,
    /// Further lines: prefixes, rule details, group ids.
    pub details: Vec<String>,
    /// Box it is drawn in: the object that declares it, `Private DNS` for shared zones and
    /// links, `Outside moat` for resources it only refers to.
    pub group: String,
}

/// One relation: `from` `label` `to` (a VNet *contains* a subnet, an NSG *secures* it...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// The design: nodes in first-seen order, edges sorted and unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The node of an ARM id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        let id = id.to_ascii_lowercase();
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Whether `from` `label` `to` is drawn.
    pub fn has_edge(&self, from: &str, label: &str, to: &str) -> bool {
        let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
        self.edges.iter().any(|e| e.from == from && e.to == to && e.label == label)
    }
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn props(body: &Value) -> &Value {
    body.get("properties").unwrap_or(body)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The first present of `keys` (`sourceAddressPrefix` or `sourceAddressPrefixes`...).
fn first(p: &Value, keys: &[&str]) -> String {
    keys.iter().map(|k| text(&p[*k])).find(|s| !s.is_empty()).unwrap_or_else(|| "*".into())
}

fn title_and_details(d: &Desired) -> (String, Vec<String>) {
    let name = last_segment(&d.id).to_string();
    let p = props(&d.body);
    match d.kind {
        "VirtualNetwork" => ("VNet ".to_string() + &name, vec![text(&p["addressSpace"]["addressPrefixes"])]),
        "Subnet" => {
            let mut details = vec![first(p, &["addressPrefix", "addressPrefixes"])];
            let delegated = text(&Value::Array(p["delegations"].as_array().into_iter().flatten().map(|x| x["properties"]["serviceName"].clone()).collect()));
            if !delegated.is_empty() {
                details.push(format!("delegated to {delegated}"));
            }
            (format!("Subnet {name}"), details)
        }
        "NetworkSecurityGroup" => (format!("NSG {name}"), vec![]),
        "SecurityRule" => (
            name,
            vec![
                format!("{} {} {} {}", text(&p["direction"]), text(&p["access"]), text(&p["priority"]), text(&p["protocol"])),
                format!(
                    "{} → {} : {}",
                    first(p, &["sourceAddressPrefix", "sourceAddressPrefixes"]),
                    first(p, &["destinationAddressPrefix", "destinationAddressPrefixes"]),
                    first(p, &["destinationPortRange", "destinationPortRanges"])
                ),
            ],
        ),
        "RouteTable" => (format!("Route table {name}"), vec![]),
        "Route" => {
            let hop = [text(&p["nextHopType"]), text(&p["nextHopIpAddress"])].join(" ").trim().to_string();
            (name, vec![format!("{} → {hop}", text(&p["addressPrefix"]))])
        }
        "PrivateEndpoint" => {
            let groups: Vec<String> = ["privateLinkServiceConnections", "manualPrivateLinkServiceConnections"]
                .iter()
                .flat_map(|k| p[*k].as_array().cloned().unwrap_or_default())
                .map(|c| text(&c["properties"]["groupIds"]))
                .collect();
            (format!("Private endpoint {name}"), vec![groups.join(", ")])
        }
        "PrivateDnsZone" => (format!("Zone {name}"), vec![]),
        "VirtualNetworkLink" => (format!("VNet link {name}"), vec![]),
        "PrivateDnsZoneGroup" => (format!("Zone group {name}"), vec![]),
        other => (format!("{other} {name}"), if d.mode == Mode::Adopt { vec!["adopted".into()] } else { vec![] }),
    }
}

/// What an ARM type is called in the picture when moat only refers to it.
fn external_title(id: &str) -> String {
    let t = crate::runtime::arm_resource_type(id);
    let short = t.rsplit('/').next().unwrap_or(&t);
    format!("{short} {}", last_segment(id))
}

/// Relations a child has with its parent by id (`<parent>/<collection>/<name>`).
fn parent_label(kind: &str) -> Option<&'static str> {
    match kind {
        "Subnet" => Some("contains"),
        "SecurityRule" => Some("rule"),
        "Route" => Some("route"),
        "VirtualNetworkLink" => Some("linked by"),
        "PrivateDnsZoneGroup" => Some("registers in DNS"),
        _ => None,
    }
}

/// The references in a desired body: (path to the id, label, whether the edge points from the
/// referenced resource to this one).
fn references(d: &Desired) -> Vec<(String, &'static str, bool)> {
    let p = props(&d.body);
    let id = |v: &Value| v["id"].as_str().map(str::to_string);
    let mut out = Vec::new();
    match d.kind {
        "Subnet" => {
            out.extend(id(&p["networkSecurityGroup"]).map(|x| (x, "secures", true)));
            out.extend(id(&p["routeTable"]).map(|x| (x, "routes", true)));
        }
        "PrivateEndpoint" => {
            out.extend(id(&p["subnet"]).map(|x| (x, "hosts", true)));
            for k in ["privateLinkServiceConnections", "manualPrivateLinkServiceConnections"] {
                for c in p[k].as_array().into_iter().flatten() {
                    if let Some(target) = c["properties"]["privateLinkServiceId"].as_str() {
                        out.push((target.to_string(), "private link to", false));
                    }
                }
            }
        }
        "VirtualNetworkLink" => out.extend(id(&p["virtualNetwork"]).map(|x| (x, "resolves for", false))),
        "PrivateDnsZoneGroup" => {
            for c in p["privateDnsZoneConfigs"].as_array().into_iter().flatten() {
                if let Some(z) = c["properties"]["privateDnsZoneId"].as_str() {
                    out.push((z.to_string(), "records in", false));
                }
            }
        }
        "Workspace" => {
            for k in ["storageAccount", "keyVault", "containerRegistry", "applicationInsights"] {
                if let Some(x) = p[k].as_str() {
                    out.push((x.to_string(), "uses", false));
                }
            }
        }
        _ => {}
    }
    out
}

/// The graph of the desired resources of each object (`(object label, resources)`).
pub fn build(objects: &[(String, Vec<Desired>)]) -> Graph {
    let mut graph = Graph::default();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (object, desired) in objects {
        for d in desired {
            let id = d.id.to_ascii_lowercase();
            if index.contains_key(&id) {
                continue;
            }
            let (title, details) = title_and_details(d);
            let group = match d.mode {
                Mode::Shared => "Private DNS".to_string(),
                Mode::Adopt => "Outside moat".to_string(),
                _ => object.clone(),
            };
            index.insert(id.clone(), graph.nodes.len());
            graph.nodes.push(Node { id, kind: d.kind.to_string(), title, details, group });
        }
    }
    let mut edges = std::collections::BTreeSet::new();
    // Resources referred to but not desired, by lower-cased id, with the id as written.
    let mut externals: Vec<(String, String)> = Vec::new();
    let mut end = |id: &str| {
        let key = id.to_ascii_lowercase();
        if !index.contains_key(&key) && !externals.iter().any(|(k, _)| *k == key) {
            externals.push((key.clone(), id.to_string()));
        }
        key
    };
    for (_, desired) in objects {
        for d in desired {
            let me = end(&d.id);
            if let Some(label) = parent_label(d.kind) {
                let parent = crate::plan::ids::parent_of(&d.id);
                if !parent.eq_ignore_ascii_case(&d.id) {
                    edges.insert(Edge { from: end(parent), to: me.clone(), label: label.into() });
                }
            }
            for (other, label, towards_me) in references(d) {
                let other = end(&other);
                let (from, to) = if towards_me { (other, me.clone()) } else { (me.clone(), other) };
                edges.insert(Edge { from, to, label: label.into() });
            }
        }
    }
    for (id, written) in externals {
        graph.nodes.push(Node { title: external_title(&written), details: vec![], group: "Outside moat".into(), kind: "External".into(), id });
    }
    graph.edges = edges.into_iter().collect();
    graph
}

fn groups(graph: &Graph) -> BTreeMap<&str, Vec<(usize, &Node)>> {
    let mut out: BTreeMap<&str, Vec<(usize, &Node)>> = BTreeMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        out.entry(n.group.as_str()).or_default().push((i, n));
    }
    out
}

fn node_numbers(graph: &Graph) -> HashMap<&str, usize> {
    graph.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect()
}

fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

/// Mermaid flowchart: one subgraph per object (and for shared DNS and outside resources).
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for (g, (name, nodes)) in groups(graph).into_iter().enumerate() {
        out.push_str(&format!("  subgraph g{g}[\"{}\"]\n", mermaid_text(name)));
        for (i, n) in nodes {
            let label = std::iter::once(n.title.as_str()).chain(n.details.iter().map(String::as_str)).map(mermaid_text).collect::<Vec<_>>().join("<br/>");
            let (open, close) = if n.kind == "External" { ("([", "])") } else { ("[", "]") };
            out.push_str(&format!("    n{i}{open}\"{label}\"{close}\n"));
        }
        out.push_str("  end\n");
    }
    let num = node_numbers(graph);
    for e in &graph.edges {
        if let (Some(a), Some(b)) = (num.get(e.from.as_str()), num.get(e.to.as_str())) {
            out.push_str(&format!("  n{a} -->|{}| n{b}\n", mermaid_text(&e.label)));
        }
    }
    out
}

fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT: one cluster per object.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph moat {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for (g, (name, nodes)) in groups(graph).into_iter().enumerate() {
        out.push_str(&format!("  subgraph cluster_{g} {{\n    label=\"{}\";\n", dot_text(name)));
        for (i, n) in nodes {
            let label = std::iter::once(n.title.as_str()).chain(n.details.iter().map(String::as_str)).map(dot_text).collect::<Vec<_>>().join("\\n");
            let style = if n.kind == "External" { ", style=dashed" } else { "" };
            out.push_str(&format!("    n{i} [label=\"{label}\"{style}];\n"));
        }
        out.push_str("  }\n");
    }
    let num = node_numbers(graph);
    for e in &graph.edges {
        if let (Some(a), Some(b)) = (num.get(e.from.as_str()), num.get(e.to.as_str())) {
            out.push_str(&format!("  n{a} -> n{b} [label=\"{}\"];\n", dot_text(&e.label)));
        }
    }
    out.push_str("}\n");
    out
}

/// Stands in for the tenant id in the key vault body, which the picture does not show.
const DRAWING_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// The desired resources of every object, labelled `sws/<name>`, `peb/<name>`, `csn/<name>`.
pub fn desired_of(objects: &Objects) -> Result<Vec<(String, Vec<Desired>)>, PlanError> {
    let mut out = Vec::new();
    let owner = |kind: &str, o: &dyn Fn() -> (String, String)| {
        let (ns, name) = o();
        Owner::new(kind, &ns, &name, "")
    };
    for ws in &objects.workspaces {
        let key = || (ws.namespace().unwrap_or_default(), ws.name_any());
        let o = owner("SecureWorkspace", &key);
        let inputs = crate::plan::workspace::WorkspaceInputs { spec: &ws.spec, owner: &o, tenant_id: Some(DRAWING_TENANT), storage_subnet_ids: &[], vault_subnet_ids: &[] };
        let desired = crate::plan::workspace::desired(&inputs).map_err(|e| PlanError::Object { object: format!("SecureWorkspace {}", ws.name_any()), message: e.to_string() })?;
        out.push((format!("sws/{}", ws.name_any()), desired));
        for ep in crate::plan::workspace::endpoints(ws) {
            let mut peb = PrivateEndpointBinding::new(&ep.name, ep.spec.clone());
            peb.metadata.namespace = ws.namespace();
            let o = Owner::new("PrivateEndpointBinding", &key().0, &ep.name, "");
            let zones = crate::controller::endpoint::zones_for(&peb);
            out.push((format!("sws/{}", ws.name_any()), crate::plan::endpoint::desired(&peb.spec, &ep.name, &o, &zones)));
        }
    }
    for peb in &objects.endpoints {
        // A workspace's own bindings, read from the cluster, are already drawn with it.
        if objects.workspaces.iter().any(|ws| crate::plan::workspace::endpoints(ws).iter().any(|e| e.name == peb.name_any() && ws.namespace() == peb.namespace())) {
            continue;
        }
        let o = owner("PrivateEndpointBinding", &|| (peb.namespace().unwrap_or_default(), peb.name_any()));
        let zones = crate::controller::endpoint::zones_for(peb);
        out.push((format!("peb/{}", peb.name_any()), crate::plan::endpoint::desired(&peb.spec, &peb.name_any(), &o, &zones)));
    }
    for cs in &objects.subnets {
        let Some(ws) = objects.workspaces.iter().find(|w| w.name_any() == cs.spec.workspace_ref.name && w.namespace() == cs.namespace()) else {
            return Err(PlanError::Object {
                object: format!("ComputeSubnet {}", cs.name_any()),
                message: format!("its SecureWorkspace {} is not among the objects: give its manifest too", cs.spec.workspace_ref.name),
            });
        };
        let o = owner("ComputeSubnet", &|| (cs.namespace().unwrap_or_default(), cs.name_any()));
        out.push((format!("csn/{}", cs.name_any()), crate::plan::subnet::desired(&cs.spec, &ws.spec, &o, &ws.spec.tags, None)));
    }
    Ok(out)
}

async fn cluster_objects(args: &GraphArgs) -> Result<Objects, PlanError> {
    use kube::api::{Api, ListParams};
    let client = kube_client(&args.cluster).await?;
    let lp = ListParams::default();
    let list = |what: &'static str| move |source| PlanError::Cluster { what: format!("list {what}"), source };
    macro_rules! api {
        ($k:ty) => {
            match &args.namespace {
                Some(ns) => Api::<$k>::namespaced(client.clone(), ns),
                None => Api::<$k>::all(client.clone()),
            }
        };
    }
    Ok(Objects {
        workspaces: api!(crate::api::SecureWorkspace).list(&lp).await.map_err(list("SecureWorkspaces"))?.items,
        subnets: api!(crate::api::ComputeSubnet).list(&lp).await.map_err(list("ComputeSubnets"))?.items,
        endpoints: api!(PrivateEndpointBinding).list(&lp).await.map_err(list("PrivateEndpointBindings"))?.items,
    })
}

async fn objects(args: &GraphArgs) -> Result<Objects, PlanError> {
    if !args.files.is_empty() {
        return read_objects(&args.files);
    }
    cluster_objects(args).await
}

pub fn run(args: &GraphArgs) -> ExitCode {
    let objects = if args.files.is_empty() {
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PlanError::Runtime).and_then(|rt| rt.block_on(objects(args)))
    } else {
        read_objects(&args.files)
    };
    let graph = objects.and_then(|o| desired_of(&o)).map(|d| build(&d));
    match graph {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Ok(g) if g.nodes.is_empty() => {
            eprintln!("error: no SecureWorkspace, ComputeSubnet or PrivateEndpointBinding to draw");
            ExitCode::from(2)
        }
        Ok(g) => {
            let text = match args.format {
                GraphFormat::Mermaid => mermaid(&g),
                GraphFormat::Dot => dot(&g),
            };
            super::output::print_then(&text, ExitCode::SUCCESS)
        }
    }
}
