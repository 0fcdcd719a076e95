//! The constraint catalog: every documented Azure ML network-isolation constraint as a rule with a
//! stable id, a severity, the writes an Error blocks, and the sentence it comes from.
//!
//! Pure code. The input is the desired specs (SecureWorkspace, ComputeSubnet,
//! PrivateEndpointBinding) plus what was observed in Azure ([`Observed`], all optional); the output
//! is [`Finding`]s, sorted deterministically. Nothing here does I/O.
//!
//! - [`evaluate`] runs the schema mirror and the whole catalog over a set of objects (what
//!   `moat validate` calls).
//! - [`evaluate_workspace`], [`evaluate_compute_subnet`] and [`evaluate_endpoint`] evaluate one
//!   object with its related objects (what the controllers call before writing to Azure).
//! - [`blocked`] tells whether the findings block a [`Scope`] of writes.
//! - [`catalog_markdown`] renders `docs/constraints.md`.

mod arm;
mod catalog;
mod checks;
mod markdown;
mod observed;
pub mod schema;

pub use catalog::*;
pub use markdown::catalog_markdown;
pub use observed::*;

use crate::api::{ComputeSubnet, FindingSource, FindingStatus, PrivateEndpointBinding, SecureWorkspace, Severity};
use kube::ResourceExt;
use serde::Serialize;

/// The writes to Azure an Error finding holds back. A controller stops only the writes of the
/// scopes its findings block and carries on with the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Scope {
    /// The workspace and its associated resources (storage, key vault, registry, Application Insights).
    Workspace,
    /// The VNet and subnets (for a ComputeSubnet: its subnet).
    Network,
    /// The network security group and its rules.
    Nsg,
    /// The route table and its routes.
    Routes,
    /// Private endpoints.
    Endpoint,
    /// Private DNS zones, VNet links and zone groups.
    Dns,
    /// Every write of the object.
    All,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One document a rule cites, with the exact sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Citation {
    /// File name: a seed under `shared/seeds/` (`004_47c2132afb48e4ac.txt`), the facts sheet
    /// `azure-arm-facts.md` under `shared/docs/`, or a CRD under `crds/` in this repository.
    pub doc: &'static str,
    /// The sentence, copied verbatim (the source test compares it whitespace-normalised).
    pub quote: &'static str,
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The citation that decides the rule (the newest document when they disagree).
    pub seed: &'static str,
    /// Its sentence, verbatim.
    pub quote: &'static str,
    /// Other documents that state the same or an older, different version of it.
    pub also: &'static [Citation],
    /// How disagreements between the documents were settled, when they disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// One rule of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, `AREA-NNN`. Never reused.
    pub id: &'static str,
    pub severity: Severity,
    /// The writes an Error finding of this rule blocks.
    pub blocks: Scope,
    /// One line: what the rule requires.
    pub title: &'static str,
    pub source: Source,
}

/// Which object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// `SecureWorkspace`, `ComputeSubnet` or `PrivateEndpointBinding` (or the manifest's own kind
    /// for a document that is not one of them).
    pub kind: String,
    /// The namespace (`default` when the manifest has none).
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Namespace of an object, `default` when unset (what kubectl assumes without a context namespace).
pub(crate) fn namespace_of<K: ResourceExt>(o: &K) -> String {
    o.namespace().unwrap_or_else(|| "default".to_string())
}

impl ObjectRef {
    pub fn workspace(o: &SecureWorkspace) -> Self {
        Self { kind: "SecureWorkspace".into(), namespace: namespace_of(o), name: o.name_any() }
    }
    pub fn compute_subnet(o: &ComputeSubnet) -> Self {
        Self { kind: "ComputeSubnet".into(), namespace: namespace_of(o), name: o.name_any() }
    }
    pub fn endpoint(o: &PrivateEndpointBinding) -> Self {
        Self { kind: "PrivateEndpointBinding".into(), namespace: namespace_of(o), name: o.name_any() }
    }
}

/// One violated rule on one object, with the figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub rule_id: &'static str,
    pub severity: Severity,
    /// The writes this finding blocks when it is an Error.
    pub blocks: Scope,
    pub object: ObjectRef,
    /// The spec field concerned, as a path (`spec.addressPrefix`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, with the concrete figures.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    pub source: &'static Source,
}

impl Finding {
    /// A finding of `rule` on `object`.
    pub fn new(rule: &'static Rule, object: ObjectRef, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            rule_id: rule.id,
            severity: rule.severity,
            blocks: rule.blocks,
            object,
            field: None,
            message: message.into(),
            fix: fix.into(),
            source: &rule.source,
        }
    }

    /// Names the spec field concerned.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Whether this finding holds back the writes of `scope`.
    pub fn blocks(&self, scope: Scope) -> bool {
        self.severity == Severity::Error && (self.blocks == scope || self.blocks == Scope::All)
    }

    /// The status form.
    pub fn to_status(&self) -> FindingStatus {
        FindingStatus {
            id: self.rule_id.to_string(),
            severity: self.severity,
            message: self.message.clone(),
            fix: Some(self.fix.clone()),
            field: self.field.clone(),
            source: document(self.source.seed).map(|d| FindingSource { title: d.title.to_string(), url: d.url.map(str::to_string) }),
        }
    }

    fn sort_key(&self) -> (&ObjectRef, std::cmp::Reverse<Severity>, &str, &Option<String>, &str) {
        (&self.object, std::cmp::Reverse(self.severity), self.rule_id, &self.field, &self.message)
    }
}

/// Whether any of the findings blocks the writes of `scope`.
pub fn blocked(findings: &[Finding], scope: Scope) -> bool {
    findings.iter().any(|f| f.blocks(scope))
}

/// Sorts findings deterministically (object, severity descending, rule id, field, message) and
/// drops exact duplicates.
pub fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
}

/// Everything the catalog looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub workspaces: &'a [SecureWorkspace],
    pub subnets: &'a [ComputeSubnet],
    pub endpoints: &'a [PrivateEndpointBinding],
    pub observed: &'a Observed,
}

fn refers_to(cs: &ComputeSubnet, ws: &SecureWorkspace) -> bool {
    cs.spec.workspace_ref.name == ws.name_any() && namespace_of(cs) == namespace_of(ws)
}

/// The schema mirror and the whole catalog over every object, sorted.
pub fn evaluate(inputs: &Inputs<'_>) -> Vec<Finding> {
    use std::collections::HashMap;
    let mut out = Vec::new();
    // Group subnets by (namespace, workspace name) once, so the pass stays linear in the input.
    let mut by_ws: HashMap<(String, &str), Vec<&ComputeSubnet>> = HashMap::new();
    for cs in inputs.subnets {
        by_ws.entry((namespace_of(cs), cs.spec.workspace_ref.name.as_str())).or_default().push(cs);
    }
    let mut ws_index: HashMap<(String, String), &SecureWorkspace> = HashMap::new();
    for ws in inputs.workspaces {
        let key = (namespace_of(ws), ws.name_any());
        let subnets = by_ws.get(&(key.0.clone(), key.1.as_str())).map(Vec::as_slice).unwrap_or(&[]);
        out.extend(schema::check_workspace(ws));
        checks::workspace(ws, subnets, inputs.endpoints, inputs.observed, &mut out);
        ws_index.insert(key, ws);
    }
    for cs in inputs.subnets {
        let key = (namespace_of(cs), cs.spec.workspace_ref.name.clone());
        let ws = ws_index.get(&key).copied();
        let siblings = by_ws.get(&(key.0, cs.spec.workspace_ref.name.as_str())).map(Vec::as_slice).unwrap_or(&[]);
        out.extend(schema::check_compute_subnet(cs));
        checks::compute_subnet(cs, ws, siblings, inputs.observed, &mut out);
    }
    for peb in inputs.endpoints {
        out.extend(schema::check_endpoint(peb));
        checks::endpoint(peb, inputs.workspaces, inputs.subnets, inputs.observed, &mut out);
    }
    sort_findings(&mut out);
    out
}

/// Findings for one SecureWorkspace: its schema, then the catalog with the ComputeSubnets that
/// refer to it (`subnets`; others are ignored), the bindings (for endpoints in its private-endpoint
/// subnet) and what was observed in Azure.
pub fn evaluate_workspace(
    ws: &SecureWorkspace,
    subnets: &[ComputeSubnet],
    endpoints: &[PrivateEndpointBinding],
    observed: &Observed,
) -> Vec<Finding> {
    let mut out = schema::check_workspace(ws);
    let mine: Vec<&ComputeSubnet> = subnets.iter().filter(|cs| refers_to(cs, ws)).collect();
    checks::workspace(ws, &mine, endpoints, observed, &mut out);
    sort_findings(&mut out);
    out
}

/// Findings for one ComputeSubnet: its schema, then the catalog with its workspace (when known),
/// its siblings (other ComputeSubnets; those of other workspaces and itself are ignored) and what
/// was observed.
pub fn evaluate_compute_subnet(
    cs: &ComputeSubnet,
    ws: Option<&SecureWorkspace>,
    siblings: &[ComputeSubnet],
    observed: &Observed,
) -> Vec<Finding> {
    let mut out = schema::check_compute_subnet(cs);
    let ws = ws.filter(|w| refers_to(cs, w));
    let ns = namespace_of(cs);
    let sibs: Vec<&ComputeSubnet> = siblings
        .iter()
        .filter(|s| namespace_of(*s) == ns && s.spec.workspace_ref.name == cs.spec.workspace_ref.name)
        .collect();
    checks::compute_subnet(cs, ws, &sibs, observed, &mut out);
    sort_findings(&mut out);
    out
}

/// Findings for one PrivateEndpointBinding: its schema, then the catalog with the workspaces
/// (whose associated resources it may target), their compute subnets and what was observed.
pub fn evaluate_endpoint(
    peb: &PrivateEndpointBinding,
    workspaces: &[SecureWorkspace],
    subnets: &[ComputeSubnet],
    observed: &Observed,
) -> Vec<Finding> {
    let mut out = schema::check_endpoint(peb);
    checks::endpoint(peb, workspaces, subnets, observed, &mut out);
    sort_findings(&mut out);
    out
}

/// Whitespace-normalises text (runs of whitespace become one space), as the source test compares
/// quotes with their documents.
pub fn normalize_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
