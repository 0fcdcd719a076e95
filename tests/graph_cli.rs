//! `moat graph` draws the design of the samples: the resources and their relations are in the
//! graph, and the Mermaid and DOT texts declare every node once and draw every edge between
//! declared nodes.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use moat::cli::graph::{Graph, build, desired_of, dot, mermaid};
use moat::cli::plan::read_objects;

const SUB: &str = "/subscriptions/6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-ml-prod/providers";

fn samples() -> String {
    format!("{}/config/samples", env!("CARGO_MANIFEST_DIR"))
}

fn graph() -> Graph {
    let objects = read_objects(&[samples()]).expect("samples");
    build(&desired_of(&objects).expect("desired"))
}

fn id(rest: &str) -> String {
    format!("{SUB}/{rest}")
}

#[test]
fn the_samples_draw_their_network() {
    let g = graph();
    let vnet = id("Microsoft.Network/virtualNetworks/vnet-ml-prod");
    let subnet = format!("{vnet}/subnets/snet-training");
    let nsg = id("Microsoft.Network/networkSecurityGroups/nsg-training");
    let rt = id("Microsoft.Network/routeTables/rt-training");
    let storage = id("Microsoft.Storage/storageAccounts/stmlprod01");
    let blob_pe = id("Microsoft.Network/privateEndpoints/pe-stmlprod01-blob");
    let pe_subnet = format!("{vnet}/subnets/snet-private-endpoints");

    let node = |i: &str| g.node(i).unwrap_or_else(|| panic!("no node {i}"));
    assert_eq!(node(&vnet).details, vec!["10.20.0.0/16"]);
    assert_eq!(node(&subnet).details, vec!["10.20.4.0/25"]);
    let batch = node(&format!("{nsg}/securityRules/moat-in-batchnodemanagement"));
    assert!(batch.details.iter().any(|d| d.contains("BatchNodeManagement") && d.contains("29876-29877")), "{batch:?}");
    assert!(batch.details[0].starts_with("Inbound Allow"), "{batch:?}");
    let deny = node(&format!("{nsg}/securityRules/moat-out-deny-internet"));
    assert!(deny.details[0].starts_with("Outbound Deny") && deny.details[1].contains("Internet"), "{deny:?}");
    let firewall = node(&format!("{rt}/routes/moat-default-firewall"));
    assert_eq!(firewall.details, vec!["0.0.0.0/0 → VirtualAppliance 10.30.0.4"]);

    for (from, label, to) in [
        (vnet.as_str(), "contains", subnet.as_str()),
        (vnet.as_str(), "contains", pe_subnet.as_str()),
        (nsg.as_str(), "secures", subnet.as_str()),
        (rt.as_str(), "routes", subnet.as_str()),
        (pe_subnet.as_str(), "hosts", blob_pe.as_str()),
        (blob_pe.as_str(), "private link to", storage.as_str()),
    ] {
        assert!(g.has_edge(from, label, to), "{from} {label} {to}");
    }
    assert!(g.has_edge(&nsg, "rule", &format!("{nsg}/securityRules/moat-in-azuremachinelearning")));
    assert!(g.has_edge(&rt, "route", &format!("{rt}/routes/moat-default-firewall")));

    // Six private endpoints (five of the workspace, the standalone data-lake one), seven
    // privatelink zones, each linked to the VNet and filled by a zone group.
    let of_kind = |k: &str| g.nodes.iter().filter(|n| n.kind == k).count();
    assert_eq!(of_kind("PrivateEndpoint"), 6);
    assert_eq!(of_kind("PrivateDnsZone"), 7);
    let zone = id("Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net");
    let link = g.edges.iter().find(|e| e.from == zone.to_ascii_lowercase() && e.label == "linked by").expect("the blob zone's VNet link");
    assert!(g.has_edge(&link.to, "resolves for", &vnet));
    assert!(g.has_edge(&format!("{blob_pe}/privateDnsZoneGroups/default"), "records in", &zone));
    // The data lake is not moat's: drawn outside, as what the endpoint links to.
    let lake = g.nodes.iter().find(|n| n.title == "storageAccounts stdatalake01").expect("the data lake");
    assert_eq!((lake.kind.as_str(), lake.group.as_str()), ("External", "Outside moat"));
    // Every edge joins drawn nodes; nothing is drawn twice.
    let ids: HashSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids.len(), g.nodes.len());
    assert!(g.edges.iter().all(|e| ids.contains(e.from.as_str()) && ids.contains(e.to.as_str())));
}

/// A rendered edge: (from, label, to) as the text names them.
type Drawn = (String, String, String);

/// Node declarations and edges of a rendered text, by the renderer's own syntax.
fn parse(text: &str, node: &regex::Regex, edge: &regex::Regex) -> (HashMap<String, String>, Vec<Drawn>) {
    let mut nodes = HashMap::new();
    let mut edges = Vec::new();
    for line in text.lines() {
        if let Some(c) = edge.captures(line) {
            edges.push((c[1].to_string(), c[2].to_string(), c[3].to_string()));
        } else if let Some(c) = node.captures(line) {
            assert!(nodes.insert(c[1].to_string(), c[2].to_string()).is_none(), "{} declared twice", &c[1]);
        }
    }
    (nodes, edges)
}

fn check_rendering(g: &Graph, nodes: &HashMap<String, String>, edges: &[Drawn]) {
    assert_eq!(nodes.len(), g.nodes.len(), "every node declared once");
    assert_eq!(edges.len(), g.edges.len(), "every edge drawn");
    for (a, label, b) in edges {
        assert!(nodes.contains_key(a) && nodes.contains_key(b), "edge {a} -{label}- {b} between undeclared nodes");
    }
    // The edges between the rendered labels are the graph's.
    let by_title: HashMap<&str, &str> = g.nodes.iter().map(|n| (n.id.as_str(), n.title.as_str())).collect();
    let want: HashSet<Drawn> =
        g.edges.iter().map(|e| (by_title[e.from.as_str()].to_string(), e.label.clone(), by_title[e.to.as_str()].to_string())).collect();
    let first_line = |n: &String| nodes[n].split(['\n']).next().unwrap_or_default().to_string();
    let have: HashSet<Drawn> = edges.iter().map(|(a, l, b)| (first_line(a), l.clone(), first_line(b))).collect();
    assert_eq!(have, want);
}

#[test]
fn mermaid_declares_each_node_once_and_draws_each_edge() {
    let g = graph();
    let text = mermaid(&g);
    assert!(text.starts_with("flowchart LR\n"));
    assert_eq!(text.matches("  subgraph ").count(), text.matches("  end\n").count());
    let node = regex::Regex::new(r#"^\s+(n\d+)\(?\["(.*)"\]\)?$"#).expect("regex");
    let edge = regex::Regex::new(r"^\s+(n\d+) -->\|([^|]+)\| (n\d+)$").expect("regex");
    let (nodes, edges) = parse(&text, &node, &edge);
    let nodes = nodes.into_iter().map(|(k, v)| (k, v.replace("<br/>", "\n"))).collect();
    check_rendering(&g, &nodes, &edges);
    assert!(text.contains("subgraph g") && text.contains("[\"csn/training\"]"), "one box per object");
}

#[test]
fn dot_declares_each_node_once_and_draws_each_edge() {
    let g = graph();
    let text = dot(&g);
    assert!(text.starts_with("digraph moat {") && text.trim_end().ends_with('}'));
    assert_eq!(text.matches('{').count(), text.matches('}').count());
    let node = regex::Regex::new(r#"^\s+(n\d+) \[label="(.*)"(?:, style=dashed)?\];$"#).expect("regex");
    let edge = regex::Regex::new(r#"^\s+(n\d+) -> (n\d+) \[label="([^"]+)"\];$"#).expect("regex");
    let (nodes, raw) = parse(&text, &node, &edge);
    // DOT puts the label last.
    let edges: Vec<Drawn> = raw.into_iter().map(|(a, b, l)| (a, l, b)).collect();
    let nodes = nodes.into_iter().map(|(k, v)| (k, v.replace("\\n", "\n"))).collect();
    check_rendering(&g, &nodes, &edges);
}

#[test]
fn the_command_prints_both_formats_and_refuses_a_subnet_without_its_workspace() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_moat")).args(args).output().expect("run moat graph");
    let out = run(&["graph", "-f", &samples(), "--format", "dot"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("digraph moat {"));
    let out = run(&["graph", "-f", &samples()]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("flowchart LR"));
    let lone = format!("{}/computesubnet-training.yaml", samples());
    let out = run(&["graph", "-f", &lone]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SecureWorkspace ml-prod") && err.contains("give its manifest too"), "{err}");
}
