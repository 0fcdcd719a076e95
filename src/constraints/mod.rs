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

pub(crate) mod arm;
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

/// The part of the design a rule is about. An Error finding holds back **every** Azure write of the
/// object it is reported on (nothing is half-built: an NSG and its rules exist only for their
/// subnet, a DNS zone only for its endpoint); the scope says what to look at.
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
    /// The part of the design the rule is about.
    pub concerns: Scope,
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
    /// The part of the design the finding is about.
    pub concerns: Scope,
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
            concerns: rule.concerns,
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

    /// Whether this finding holds back the writes of its object (every Error does).
    pub fn holds_back(&self) -> bool {
        self.severity == Severity::Error
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

/// Whether the findings hold back the writes of their object: any Error does.
pub fn holds_back(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::holds_back)
}

/// Sorts findings deterministically (object, severity descending, rule id, field, message) and
/// drops exact duplicates.
pub fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
}

/// Everything the catalog looks at: the objects (all of them: `moat validate` passes every
/// manifest, the controllers every object they watch) and what was observed in Azure. The same
/// inputs give the same findings offline and live: both go through [`evaluate_workspace`],
/// [`evaluate_compute_subnet`] and [`evaluate_endpoint`].
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub workspaces: Vec<&'a SecureWorkspace>,
    pub subnets: Vec<&'a ComputeSubnet>,
    pub endpoints: Vec<&'a PrivateEndpointBinding>,
    pub observed: &'a Observed,
}

impl<'a> Inputs<'a> {
    pub fn new(
        workspaces: &'a [SecureWorkspace],
        subnets: &'a [ComputeSubnet],
        endpoints: &'a [PrivateEndpointBinding],
        observed: &'a Observed,
    ) -> Self {
        Inputs { workspaces: workspaces.iter().collect(), subnets: subnets.iter().collect(), endpoints: endpoints.iter().collect(), observed }
    }

    /// The workspace a ComputeSubnet refers to (same namespace).
    fn workspace_of(&self, cs: &ComputeSubnet) -> Option<&'a SecureWorkspace> {
        self.workspaces.iter().copied().find(|w| refers_to(cs, w))
    }

    /// The ComputeSubnets that refer to a workspace.
    fn subnets_of(&self, ws: &SecureWorkspace) -> Vec<&'a ComputeSubnet> {
        self.subnets.iter().copied().filter(|cs| refers_to(cs, ws)).collect()
    }

    /// ComputeSubnets of the same workspace as `cs` (itself included; the checks skip it).
    fn siblings_of(&self, cs: &ComputeSubnet) -> Vec<&'a ComputeSubnet> {
        let ns = namespace_of(cs);
        self.subnets.iter().copied().filter(|s| namespace_of(*s) == ns && s.spec.workspace_ref.name == cs.spec.workspace_ref.name).collect()
    }
}

fn refers_to(cs: &ComputeSubnet, ws: &SecureWorkspace) -> bool {
    cs.spec.workspace_ref.name == ws.name_any() && namespace_of(cs) == namespace_of(ws)
}

/// The schema mirror and the whole catalog over every object, sorted.
pub fn evaluate(inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let endpoints = checks::endpoint_set(inputs);
    for ws in &inputs.workspaces {
        out.extend(workspace_findings(ws, inputs));
    }
    for cs in &inputs.subnets {
        out.extend(compute_subnet_findings(cs, inputs));
    }
    for peb in &inputs.endpoints {
        out.extend(endpoint_findings(peb, inputs, &endpoints));
    }
    sort_findings(&mut out);
    out
}

fn workspace_findings(ws: &SecureWorkspace, inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = schema::check_workspace(ws);
    checks::workspace(ws, &inputs.subnets_of(ws), &inputs.endpoints, inputs.observed, &mut out);
    out
}

fn compute_subnet_findings(cs: &ComputeSubnet, inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = schema::check_compute_subnet(cs);
    checks::compute_subnet(cs, inputs.workspace_of(cs), &inputs.siblings_of(cs), inputs.observed, &mut out);
    out
}

fn endpoint_findings(peb: &PrivateEndpointBinding, inputs: &Inputs<'_>, endpoints: &[checks::PlannedEndpoint<'_>]) -> Vec<Finding> {
    let mut out = schema::check_endpoint(peb);
    checks::endpoint(peb, &inputs.workspaces, &inputs.subnets, endpoints, inputs.observed, &mut out);
    out
}

/// Findings for one SecureWorkspace: its schema, then the catalog with the ComputeSubnets that
/// refer to it, the bindings (endpoints in its private-endpoint subnet) and the Azure facts.
pub fn evaluate_workspace(ws: &SecureWorkspace, inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = workspace_findings(ws, inputs);
    sort_findings(&mut out);
    out
}

/// Findings for one ComputeSubnet: its schema, then the catalog with its workspace, its siblings
/// and the Azure facts.
pub fn evaluate_compute_subnet(cs: &ComputeSubnet, inputs: &Inputs<'_>) -> Vec<Finding> {
    let mut out = compute_subnet_findings(cs, inputs);
    sort_findings(&mut out);
    out
}

/// Findings for one PrivateEndpointBinding: its schema, then the catalog with the workspaces
/// (whose resources it may target), their compute subnets, every other endpoint (bindings and the
/// endpoints workspaces ask for: one name in one zone) and the Azure facts.
pub fn evaluate_endpoint(peb: &PrivateEndpointBinding, inputs: &Inputs<'_>) -> Vec<Finding> {
    let endpoints = checks::endpoint_set(inputs);
    let mut out = endpoint_findings(peb, inputs, &endpoints);
    sort_findings(&mut out);
    out
}

/// Whitespace-normalises text (runs of whitespace become one space), as the source test compares
/// quotes with their documents.
pub fn normalize_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
