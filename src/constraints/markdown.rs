//! `docs/constraints.md`, generated from the catalog.

use super::catalog::{CATALOG, DOCUMENTS, SUPERSEDED, UNCHECKED, document};
use super::Citation;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The document's title, linked to its public page when it has one, and its date.
fn document_ref(name: &str) -> String {
    match document(name) {
        Some(d) => {
            let date = d.date.map(|x| format!(" ({x})")).unwrap_or_default();
            match d.url {
                Some(url) => format!("[{}]({url}){date}", cell(d.title)),
                None => format!("*{}*{date}", cell(d.title)),
            }
        }
        None => format!("`{name}`"),
    }
}

fn cite(c: &Citation) -> String {
    format!("{}: “{}”", document_ref(c.doc), cell(c.quote))
}

/// The catalog as Markdown: one table row per rule (id, severity, what it concerns, how it is checked live, the rule,
/// its source), the documents and their dates, and the older statements a newer document replaced.
pub fn catalog_markdown() -> String {
    let mut md = String::new();
    md.push_str("# Constraint catalog\n\n");
    md.push_str("<!-- Generated from src/constraints/catalog.rs; do not edit. Regenerate with\n     `cargo run -- validate --catalog > docs/constraints.md` (tests/constraints_doc.rs checks it). -->\n\n");
    md.push_str("Every rule `moat validate` and the controllers check. An **Error** holds back every Azure write of the\n");
    md.push_str("object it is reported on until fixed (nothing is half-built); **Warning** and **Info** hold back nothing.\n");
    md.push_str("*Concerns* is the part of the design the rule is about; *Live* says how the controllers check it.\n");
    md.push_str("Each rule cites the sentence it comes from, verbatim; where documents disagree the newest one decides\n");
    md.push_str("and the note says so.\n\n");
    md.push_str("| Id | Severity | Concerns | Live | Rule | Source |\n|---|---|---|---|---|---|\n");
    for r in CATALOG {
        let mut src = cite(&Citation { doc: r.source.seed, quote: r.source.quote });
        for a in r.source.also {
            src.push_str("<br>also ");
            src.push_str(&cite(a));
        }
        if let Some(n) = r.source.note {
            src.push_str("<br>*Note:* ");
            src.push_str(&cell(n));
        }
        let live = cell(&super::catalog::liveness(r).to_string());
        md.push_str(&format!("| {} | {} | {} | {} | {} | {} |\n", r.id, r.severity, r.concerns, live, cell(r.title), src));
    }
    md.push_str("\n## Documents\n\nThe public page of each document, where it has one; the file is the copy the quotes are checked against.\n\n");
    md.push_str("| Document | Date | Public page | What it is | File |\n|---|---|---|---|---|\n");
    for d in DOCUMENTS {
        let page = d.url.map_or_else(|| "none".to_string(), |u| format!("<{u}>"));
        md.push_str(&format!(
            "| {} | {} | {page} | {} | `{}/{}` |\n",
            cell(d.title),
            d.date.unwrap_or("undated"),
            cell(d.note),
            d.dir,
            d.name
        ));
    }
    md.push_str("\n## Documented but not checked\n\n| Statement | Why no rule |\n|---|---|\n");
    for u in UNCHECKED {
        md.push_str(&format!("| {} | {} |\n", cite(&u.cite), cell(u.why)));
    }
    md.push_str(&netrules_markdown());
    md.push_str("\n## Superseded statements\n\nOlder statements that a newer document replaced; the catalog does not enforce them.\n\n");
    md.push_str("| Older | Newer | Decision |\n|---|---|---|\n");
    for s in SUPERSEDED {
        md.push_str(&format!("| {} | {} | {} |\n", cite(&s.old), cite(&s.new), cell(s.decision)));
    }
    md
}

/// The NSG rules and routes moat manages, from `crate::netrules` (the single source).
fn netrules_markdown() -> String {
    use crate::api::{ComputePurpose, ComputeSubnetSpec, ForcedTunnelingSpec, LocalObjectRef, OutboundMode, OutboundSpec};
    use crate::netrules::{self, Context, DesiredSecurityRule};
    let spec = |purpose, mode| ComputeSubnetSpec {
        workspace_ref: LocalObjectRef { name: "ws".into() },
        vnet_id: None,
        name: "snet".into(),
        address_prefix: "10.0.0.0/24".into(),
        purpose,
        expected_nodes: 0,
        nsg: Default::default(),
        outbound: OutboundSpec { mode, extra_rules: vec![] },
        forced_tunneling: Some(ForcedTunnelingSpec { firewall_ip: Some("<firewallIp>".into()), ..Default::default() }),
        aks: None,
    };
    let ctx = Context { region: "<region>", storage_via_service_endpoint: false };
    let row = |r: &DesiredSecurityRule| {
        format!(
            "| `{}` | {} | {} | {} | {} | `{}` | `{}` | {} |\n",
            r.name, r.direction, r.priority, r.access, r.protocol.as_arm(), r.source_address_prefix, r.destination_address_prefix, r.destination_port_ranges.join(", ")
        )
    };
    let head = "| Name | Direction | Priority | Access | Protocol | Source | Destination | Ports |\n|---|---|---|---|---|---|---|---|\n";
    let mut md = String::from("\n## NSG rules and routes moat manages\n\n");
    md.push_str("Generated from `src/netrules.rs`. Every name starts with `moat-`: in an adopted NSG or route table moat owns\n");
    md.push_str("exactly the rules and routes with that prefix. SSH rules (`moat-in-ssh-<i>`, priority 350+i) come from `nsg.sshFrom`,\n");
    md.push_str("extra outbound rules (`moat-out-<name>`, priority 400+i) from `outbound.extraRules`.\n\n");
    md.push_str("### Inbound, by purpose\n\n");
    md.push_str(head);
    for purpose in [ComputePurpose::Training, ComputePurpose::ComputeInstance, ComputePurpose::Inference, ComputePurpose::ContainerInstances, ComputePurpose::Databricks] {
        let rules = netrules::required_inbound(purpose);
        if rules.is_empty() {
            md.push_str(&format!("| *({}: none)* | | | | | | | |\n", purpose.as_str()));
        }
        for r in rules {
            md.push_str(&row(&r).replacen("| `", &format!("| {}: `", purpose.as_str()), 1));
        }
    }
    md.push_str("\n### Outbound with `outbound.mode: Restricted` (every purpose)\n\n");
    md.push_str(head);
    for r in netrules::security_rules(&spec(ComputePurpose::Training, OutboundMode::Restricted), ctx).iter().filter(|r| r.direction == netrules::Direction::Outbound) {
        md.push_str(&row(r));
    }
    md.push_str("\nWith storage on service endpoints (`connectivity.mode: ServiceEndpoint`) `moat-out-storage` also opens 445 (SMB).\n");
    md.push_str("`moat-out-azurefrontdoor-frontend` is left out in Azure China.\n\n");
    md.push_str("### Routes with `forcedTunneling`\n\n| Name | Address prefix | Next hop |\n|---|---|---|\n");
    for r in netrules::routes(&spec(ComputePurpose::Training, OutboundMode::Internet), ctx) {
        md.push_str(&format!("| `{}` | `{}` | {}{} |\n", r.name, r.address_prefix, r.next_hop_type, r.next_hop_ip.map(|i| format!(" `{i}`")).unwrap_or_default()));
    }
    md.push_str("\nThe 0.0.0.0/0 route is added only when `forcedTunneling.firewallIp` is set.\n");
    md
}
