//! `moat validate`: the schema checks and the whole constraint catalog, offline (no cluster, no
//! Azure), over manifests in files, folders or stdin.
//!
//! Exit codes: 0 when clean or only Warnings/Info, 1 on Error findings, 2 on unreadable input
//! (I/O errors, YAML syntax errors, documents that are not Kubernetes objects, a bad
//! `--observed` file). The library entry points ([`validate_sources`], [`Report`]) do no I/O.

use crate::api::{ComputeSubnet, PrivateEndpointBinding, SecureWorkspace, Severity};
use crate::constraints::{self, Finding, Inputs, ObjectRef, Observed};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A table for terminals.
    #[default]
    Table,
    /// One JSON document.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Manifest file, folder (searched recursively for *.yaml, *.yml and *.json) or - for stdin.
    /// Repeatable. Multi-document YAML is read document by document.
    #[arg(short = 'f', long = "file", value_name = "FILE|DIR|-", required_unless_present = "catalog")]
    pub files: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// YAML or JSON file with facts observed in Azure (for adopted resources): VNets, NSGs, route
    /// tables, registries... keyed by ARM id. See `moat::constraints::Observed`.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
    /// Print the constraint catalog as Markdown (what docs/constraints.md holds) and exit.
    #[arg(long)]
    pub catalog: bool,
}

/// One input text and the name it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Why input could not be read; exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct InputError {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub message: String,
}

/// Errors reading the files themselves.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("{path}: no *.yaml, *.yml or *.json files in this folder")]
    EmptyDir { path: String },
}

impl From<ReadError> for InputError {
    fn from(e: ReadError) -> Self {
        let file = match &e {
            ReadError::Io { path, .. } | ReadError::NotUtf8 { path } | ReadError::EmptyDir { path } => path.clone(),
        };
        let msg = e.to_string();
        let message = msg.strip_prefix(&format!("{file}: ")).unwrap_or(&msg).to_string();
        InputError { file, line: None, message }
    }
}

/// Where a document starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A finding with the manifest position of its object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocatedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The document the rule cites (`source.seed`): its title, date and public page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_document: Option<&'static constraints::Document>,
}

impl LocatedFinding {
    /// `finding` at `location`, with the document its rule cites.
    pub fn new(finding: Finding, location: Option<Location>) -> Self {
        let source_document = constraints::document(finding.source.seed);
        Self { finding, location, source_document }
    }

    /// Where the rule comes from, for people: title, date and page (or the file name when the
    /// document is not listed).
    pub fn source_line(&self) -> String {
        self.source_document.map_or_else(|| self.finding.source.seed.to_string(), |d| d.citation())
    }
}

/// The outcome of a validation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub findings: Vec<LocatedFinding>,
    /// Unreadable input (exit code 2).
    pub errors: Vec<InputError>,
    /// Skipped documents and checks that could not run.
    pub notes: Vec<String>,
    pub files: usize,
    pub documents: usize,
    pub objects: usize,
}

impl Report {
    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.finding.severity == s).count()
    }

    /// 0 clean (or Warnings/Info only), 1 on Error findings, 2 on unreadable input.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self.count(Severity::Error) > 0 {
            1
        } else {
            0
        }
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let n = |c: usize, one: &str, many: &str| format!("{c} {}", if c == 1 { one } else { many });
        let mut s = format!(
            "{}, {}, {}: {} in {} from {}",
            n(self.count(Severity::Error), "error", "errors"),
            n(self.count(Severity::Warning), "warning", "warnings"),
            n(self.count(Severity::Info), "info", "info"),
            n(self.objects, "object", "objects"),
            n(self.documents, "document", "documents"),
            n(self.files, "file", "files"),
        );
        if !self.errors.is_empty() {
            s.push_str(&format!("; {} unreadable", n(self.errors.len(), "input", "inputs")));
        }
        s
    }

    /// Findings as a terminal table: a header row per finding, then the message, fix and source.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        if !self.findings.is_empty() {
            let obj_w = self.findings.iter().map(|f| f.finding.object.to_string().len()).max().unwrap_or(6).max(6);
            out.push_str(&format!("{:<8} {:<10} {:<obj_w$} LOCATION\n", "SEVERITY", "RULE", "OBJECT"));
            for lf in &self.findings {
                let f = &lf.finding;
                let loc = lf.location.as_ref().map(|l| l.to_string()).unwrap_or_default();
                out.push_str(&format!("{:<8} {:<10} {:<obj_w$} {loc}\n", f.severity.to_string(), f.rule_id, f.object.to_string()));
                let field = f.field.as_deref().map(|x| format!(" [{x}]")).unwrap_or_default();
                out.push_str(&format!("         {}{field}\n", f.message));
                out.push_str(&format!("         fix: {}\n", f.fix));
                out.push_str(&format!("         source: {}\n", lf.source_line()));
            }
            out.push('\n');
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// The report as one JSON document.
    pub fn render_json(&self) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            #[serde(flatten)]
            report: &'a Report,
            summary: String,
            exit_code: u8,
        }
        serde_json::to_string_pretty(&Out { report: self, summary: self.summary(), exit_code: self.exit_code() })
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the report as JSON: {e}\"}}"))
    }
}

/// One YAML document of a file: its text and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub start_line: u64,
    pub text: String,
}

fn is_marker(line: &str, marker: &str) -> Option<usize> {
    let rest = line.strip_prefix(marker)?;
    if rest.is_empty() || rest.starts_with([' ', '\t', '\r']) { Some(marker.len()) } else { None }
}

/// Splits a YAML stream into documents at `---` and `...` lines. YAML forbids these markers at the
/// start of a line inside a document's content, so a line-based split is exact; content after
/// `---` on the same line stays in the document (the marker is blanked so columns are kept).
pub fn split_documents(text: &str) -> Vec<Document> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1u64;
    let mut in_doc = false;
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if let Some(len) = is_marker(line, "---") {
            if in_doc || !cur.trim().is_empty() {
                docs.push(Document { start_line: start, text: std::mem::take(&mut cur) });
            }
            cur.clear();
            start = n;
            in_doc = true;
            cur.push_str(&" ".repeat(len));
            cur.push_str(&line[len..]);
            cur.push('\n');
        } else if is_marker(line, "...").is_some() {
            docs.push(Document { start_line: start, text: std::mem::take(&mut cur) });
            start = n + 1;
            in_doc = false;
        } else if !in_doc && cur.is_empty() && line.starts_with('%') {
            // A directive before the document: not content.
            start = n + 1;
        } else {
            if cur.is_empty() {
                start = n;
            }
            in_doc = true;
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if in_doc || !cur.trim().is_empty() {
        docs.push(Document { start_line: start, text: cur });
    }
    docs.retain(|d| d.text.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// A serde-saphyr error as (line within the document, message without the position suffix).
fn yaml_error(e: &serde_saphyr::Error) -> (Option<u64>, String) {
    let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(pos) if msg[pos..].contains(", column ") => msg[..pos].to_string(),
        _ => msg,
    };
    (line, msg.trim().to_string())
}

/// Everything parsed from the inputs.
#[derive(Default)]
struct Parsed {
    workspaces: Vec<SecureWorkspace>,
    subnets: Vec<ComputeSubnet>,
    endpoints: Vec<PrivateEndpointBinding>,
    locations: HashMap<ObjectRef, Location>,
    /// The YAML text of each object's document, to point findings at their field's line.
    texts: HashMap<ObjectRef, String>,
}

/// The line of a field path (`spec.nsg.sshFrom[0]`) in a block-style YAML document, found by
/// looking for each key in turn below the previous one; `None` when the first key is not found.
pub fn line_of_path(doc: &str, path: &str) -> Option<u64> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut from = 0usize;
    let mut found = None;
    for seg in path.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        match lines.iter().skip(from).position(|l| key_on_line(l, key)) {
            Some(i) => {
                from += i;
                found = Some(from as u64);
                from += 1;
            }
            None => break,
        }
    }
    found
}

fn key_on_line(line: &str, key: &str) -> bool {
    let t = line.trim_start().trim_start_matches("- ").trim_start();
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| t.strip_prefix(k.as_str()).is_some_and(|r| r.trim_start().starts_with(':')))
}

const MOAT_GROUP: &str = "moat.dev";
const MOAT_VERSION: &str = "v1alpha1";
const MOAT_KINDS: [&str; 3] = ["SecureWorkspace", "ComputeSubnet", "PrivateEndpointBinding"];

fn str_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// Keys present in `original` but not in `typed` (what the typed form dropped: unknown fields).
fn unknown_fields(original: &serde_json::Value, typed: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match (original, typed) {
        (Value::Object(o), Value::Object(t)) => {
            for (k, v) in o {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match t.get(k) {
                    Some(tv) => unknown_fields(v, tv, &p, out),
                    None => {
                        let empty = match v {
                            Value::Null => true,
                            Value::Array(a) => a.is_empty(),
                            Value::Object(m) => m.is_empty(),
                            _ => false,
                        };
                        if !empty {
                            out.push(p);
                        }
                    }
                }
            }
        }
        (Value::Array(o), Value::Array(t)) if o.len() == t.len() => {
            for (i, (a, b)) in o.iter().zip(t).enumerate() {
                unknown_fields(a, b, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

struct Ctx<'a> {
    report: &'a mut Report,
    parsed: &'a mut Parsed,
}

impl Ctx<'_> {
    fn schema_finding(&mut self, obj: ObjectRef, loc: Location, rule: &'static constraints::Rule, message: String, fix: &str) {
        self.report.findings.push(LocatedFinding::new(Finding::new(rule, obj, message, fix), Some(loc)));
    }

    /// One Kubernetes object: `value` is its generic form; `text` its YAML document (for line
    /// numbers) when it has one of its own.
    fn object(&mut self, file: &str, doc_line: u64, value: &serde_json::Value, text: Option<&str>) {
        let api_version = str_at(value, &["apiVersion"]).unwrap_or("");
        let kind = str_at(value, &["kind"]).unwrap_or("");
        let name = str_at(value, &["metadata", "name"]).unwrap_or("").to_string();
        let namespace = str_at(value, &["metadata", "namespace"]).unwrap_or("default").to_string();
        let loc = Location { file: file.to_string(), line: doc_line };
        if api_version.is_empty() || kind.is_empty() {
            self.report.errors.push(InputError {
                file: file.to_string(),
                line: Some(doc_line),
                message: "not a Kubernetes object: apiVersion and kind are required".into(),
            });
            return;
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        if group != MOAT_GROUP {
            let ns = if value.get("metadata").and_then(|m| m.get("namespace")).is_some() { format!("{namespace}/") } else { String::new() };
            self.report.notes.push(format!("{loc}: skipped {api_version} {kind} {ns}{name} (not a moat kind)"));
            return;
        }
        if kind == "AzureScopePolicy" {
            self.report.notes.push(format!("{loc}: skipped {api_version} {kind} {name} (a tenancy policy: moat run enforces it, see docs/tenancy.md)"));
            return;
        }
        self.report.objects += 1;
        let obj = ObjectRef { kind: kind.to_string(), namespace: namespace.clone(), name: name.clone() };
        if version != MOAT_VERSION || !MOAT_KINDS.contains(&kind) {
            self.schema_finding(
                obj,
                loc,
                &constraints::SCHEMA_001,
                format!("unknown kind {kind} in {api_version}: moat serves SecureWorkspace, ComputeSubnet and PrivateEndpointBinding in {MOAT_GROUP}/{MOAT_VERSION}"),
                "fix apiVersion or kind",
            );
            return;
        }
        match kind {
            "SecureWorkspace" => {
                if let Some(o) = self.typed::<SecureWorkspace>(file, doc_line, value, text, obj) {
                    self.remember(constraints::ObjectRef::workspace(&o), loc, text);
                    self.parsed.workspaces.push(o);
                }
            }
            "ComputeSubnet" => {
                if let Some(o) = self.typed::<ComputeSubnet>(file, doc_line, value, text, obj) {
                    self.remember(constraints::ObjectRef::compute_subnet(&o), loc, text);
                    self.parsed.subnets.push(o);
                }
            }
            _ => {
                if let Some(o) = self.typed::<PrivateEndpointBinding>(file, doc_line, value, text, obj) {
                    self.remember(constraints::ObjectRef::endpoint(&o), loc, text);
                    self.parsed.endpoints.push(o);
                }
            }
        }
    }

    fn remember(&mut self, obj: ObjectRef, loc: Location, text: Option<&str>) {
        if let Some(t) = text {
            self.parsed.texts.insert(obj.clone(), t.to_string());
        }
        self.parsed.locations.insert(obj, loc);
    }

    fn typed<T: DeserializeOwned + Serialize>(
        &mut self,
        file: &str,
        doc_line: u64,
        value: &serde_json::Value,
        text: Option<&str>,
        obj: ObjectRef,
    ) -> Option<T> {
        let parsed: Result<T, (Option<u64>, String)> = match text {
            Some(t) => serde_saphyr::from_str_with_options::<T>(t, yaml_options()).map_err(|e| yaml_error(&e)),
            None => serde_json::from_value::<T>(value.clone()).map_err(|e| (None, e.to_string())),
        };
        match parsed {
            Ok(o) => {
                let typed = serde_json::to_value(&o).unwrap_or(serde_json::Value::Null);
                let mut unknown = Vec::new();
                unknown_fields(value, &typed, "", &mut unknown);
                for path in unknown {
                    let line = text.and_then(|t| line_of_path(t, &path)).map(|l| doc_line + l).unwrap_or(doc_line);
                    self.schema_finding(
                        obj.clone(),
                        Location { file: file.to_string(), line },
                        &constraints::SCHEMA_002,
                        format!("unknown field {path}"),
                        "remove it or fix its spelling (see crds/ for the schema)",
                    );
                }
                Some(o)
            }
            Err((line, msg)) => {
                // Name the field: the path where the generic form stops fitting the schema.
                let path = schema_error_path::<T>(value);
                let line = match (&path, text) {
                    (Some(p), Some(t)) => line_of_path(t, p).map(|l| doc_line + l).or(line.map(|l| doc_line + l - 1)).unwrap_or(doc_line),
                    _ => line.map(|l| doc_line + l - 1).unwrap_or(doc_line),
                };
                let message = match &path {
                    Some(p) if !msg.contains(p.as_str()) => format!("{p}: {msg}"),
                    _ => msg,
                };
                let finding = Finding::new(&constraints::SCHEMA_001, obj, message, "fix the field to match the CRD schema (see crds/ or kubectl explain)");
                let finding = match path {
                    Some(p) => finding.at(p),
                    None => finding,
                };
                self.report.findings.push(LocatedFinding::new(finding, Some(Location { file: file.to_string(), line })));
                None
            }
        }
    }

    fn document(&mut self, file: &str, doc: &Document) {
        self.report.documents += 1;
        let value: serde_json::Value = match serde_saphyr::from_str_with_options(&doc.text, yaml_options()) {
            Ok(v) => v,
            Err(e) => {
                let (line, msg) = yaml_error(&e);
                self.report.errors.push(InputError {
                    file: file.to_string(),
                    line: Some(line.map(|l| doc.start_line + l - 1).unwrap_or(doc.start_line)),
                    message: format!("malformed YAML: {msg}"),
                });
                return;
            }
        };
        match &value {
            serde_json::Value::Null => {}
            serde_json::Value::Object(_) => {
                if str_at(&value, &["kind"]) == Some("List") && value.get("items").is_some_and(|i| i.is_array()) {
                    let items = value.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_default();
                    for (i, item) in items.iter().enumerate() {
                        let before = self.report.findings.len();
                        self.object(file, doc.start_line, item, None);
                        for f in &mut self.report.findings[before..] {
                            f.finding.message = format!("items[{i}]: {}", f.finding.message);
                        }
                    }
                } else {
                    self.object(file, doc.start_line, &value, Some(&doc.text));
                }
            }
            _ => self.report.errors.push(InputError {
                file: file.to_string(),
                line: Some(doc.start_line),
                message: "not a Kubernetes object: the document is not a mapping".into(),
            }),
        }
    }
}

/// Parses an `--observed` file.
pub fn parse_observed(src: &Source) -> Result<Observed, InputError> {
    if src.text.trim().is_empty() {
        return Ok(Observed::default());
    }
    serde_saphyr::from_str_with_options::<Observed>(&src.text, yaml_options()).map_err(|e| {
        let (line, msg) = yaml_error(&e);
        InputError { file: src.name.clone(), line, message: format!("cannot read observed facts: {msg}") }
    })
}

/// Validates manifests already read into memory. Pure: no I/O.
pub fn validate_sources(sources: &[Source], observed: Option<&Source>) -> Report {
    let mut report = Report { files: sources.len(), ..Default::default() };
    let observed = match observed.map(parse_observed) {
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            report.errors.push(e);
            Observed::default()
        }
        None => Observed::default(),
    };
    let mut parsed = Parsed::default();
    {
        let mut ctx = Ctx { report: &mut report, parsed: &mut parsed };
        for src in sources {
            for doc in split_documents(&src.text) {
                ctx.document(&src.name, &doc);
            }
        }
    }
    dedupe_objects(&mut parsed, &mut report);
    // Checks that could not run for lack of a referenced object.
    for cs in &parsed.subnets {
        let ns = cs.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let found = parsed.workspaces.iter().any(|w| {
            w.metadata.name.as_deref() == Some(cs.spec.workspace_ref.name.as_str())
                && w.metadata.namespace.clone().unwrap_or_else(|| "default".into()) == ns
        });
        if !found {
            let at = parsed.locations.get(&ObjectRef::compute_subnet(cs)).map(|l| format!("{l}: ")).unwrap_or_default();
            report.notes.push(format!(
                "{at}ComputeSubnet {ns}/{} refers (spec.workspaceRef.name) to SecureWorkspace {} that is not among the inputs; the checks against its VNet, region and sibling subnets were skipped",
                cs.metadata.name.as_deref().unwrap_or(""),
                cs.spec.workspace_ref.name
            ));
        }
    }
    let findings = constraints::evaluate(&Inputs::new(&parsed.workspaces, &parsed.subnets, &parsed.endpoints, &observed));
    for f in findings {
        let mut location = parsed.locations.get(&f.object).cloned();
        if let (Some(loc), Some(field), Some(text)) = (location.as_mut(), f.field.as_deref(), parsed.texts.get(&f.object))
            && let Some(l) = line_of_path(text, field) {
                loc.line += l;
            }
        report.findings.push(LocatedFinding::new(f, location));
    }
    report.findings.sort_by(|a, b| {
        let ka = (&a.location.as_ref().map(|l| (&l.file, l.line)), std::cmp::Reverse(a.finding.severity), a.finding.rule_id, &a.finding.field, &a.finding.message);
        let kb = (&b.location.as_ref().map(|l| (&l.file, l.line)), std::cmp::Reverse(b.finding.severity), b.finding.rule_id, &b.finding.field, &b.finding.message);
        ka.cmp(&kb)
    });
    report
}

/// Keeps the last definition of an object defined twice, with a note.
fn dedupe_objects(parsed: &mut Parsed, report: &mut Report) {
    fn keep_last<T>(items: &mut Vec<T>, key: impl Fn(&T) -> ObjectRef, report: &mut Report) {
        let mut seen: HashMap<ObjectRef, usize> = HashMap::new();
        let mut drop = vec![false; items.len()];
        for (i, it) in items.iter().enumerate() {
            if let Some(prev) = seen.insert(key(it), i) {
                drop[prev] = true;
                report.notes.push(format!("{} is defined more than once; the last definition is checked", key(it)));
            }
        }
        let mut i = 0;
        items.retain(|_| {
            let keep = !drop[i];
            i += 1;
            keep
        });
    }
    keep_last(&mut parsed.workspaces, ObjectRef::workspace, report);
    keep_last(&mut parsed.subnets, ObjectRef::compute_subnet, report);
    keep_last(&mut parsed.endpoints, ObjectRef::endpoint, report);
}

/// Validates one text (tests, fuzzing).
pub fn validate_str(name: &str, text: &str) -> Report {
    validate_sources(&[Source { name: name.to_string(), text: text.to_string() }], None)
}

/// The path (`spec.containerRegistry.sku`, `spec.location`) where `value` stops fitting `T`, for
/// a schema error that serde reports without it ("unknown variant", "missing field").
fn schema_error_path<T: DeserializeOwned>(value: &serde_json::Value) -> Option<String> {
    let err = serde_path_to_error::deserialize::<_, T>(value.clone()).err()?;
    let mut path = err.path().to_string();
    // A missing field is reported at its parent: name the field itself.
    let inner = err.inner().to_string();
    if let Some(field) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        path = if path == "." || path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
    }
    (!path.is_empty() && path != ".").then_some(path)
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("yaml" | "yml" | "json"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |e| ReadError::Io { path: dir.display().to_string(), source: e };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).map_err(io)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_manifest(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Source, ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io { path: name.clone(), source: e })?;
    let text = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: name.clone() })?;
    Ok(Source { name, text })
}

/// Reads the `-f` arguments: files, folders (recursively) and `-` (stdin).
pub fn read_inputs(args: &[String]) -> (Vec<Source>, Vec<InputError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for a in args {
        if a == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => sources.push(Source { name: "<stdin>".into(), text }),
                Err(e) => errors.push(ReadError::Io { path: "<stdin>".into(), source: e }.into()),
            }
            continue;
        }
        let path = Path::new(a);
        if path.is_dir() {
            let mut files = Vec::new();
            match walk(path, &mut files) {
                Err(e) => errors.push(e.into()),
                Ok(()) if files.is_empty() => errors.push(ReadError::EmptyDir { path: a.clone() }.into()),
                Ok(()) => {
                    for f in files {
                        match read_file(&f) {
                            Ok(s) => sources.push(s),
                            Err(e) => errors.push(e.into()),
                        }
                    }
                }
            }
        } else {
            match read_file(path) {
                Ok(s) => sources.push(s),
                Err(e) => errors.push(e.into()),
            }
        }
    }
    (sources, errors)
}

/// `moat validate`.
pub fn run(args: &ValidateArgs) -> ExitCode {
    if args.catalog {
        return super::output::print_then(&constraints::catalog_markdown(), ExitCode::SUCCESS);
    }
    let (sources, read_errors) = read_inputs(&args.files);
    let observed = match &args.observed {
        None => None,
        Some(p) => match read_file(p) {
            Ok(s) => Some(s),
            Err(e) => {
                let e: InputError = e.into();
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut report = validate_sources(&sources, observed.as_ref());
    report.files += read_errors.len();
    let mut errors = read_errors;
    errors.append(&mut report.errors);
    report.errors = errors;
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    let text = match args.output {
        OutputFormat::Table => {
            let mut shown = report.clone();
            shown.errors.clear(); // already on stderr
            shown.render_table()
        }
        OutputFormat::Json => format!("{}\n", report.render_json()),
    };
    // A closed pipe (`| head`) is not an error of the validation.
    super::output::print_then(&text, ExitCode::from(report.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_lines() {
        let docs = split_documents("# c\n---\na: 1\n---\n\nb: 2\n...\n--- {c: 3}\n");
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].start_line, 2);
        assert_eq!(docs[1].start_line, 4);
        assert!(docs[2].text.contains("{c: 3}"));
        assert_eq!(docs[2].start_line, 8);
        assert!(split_documents("").is_empty());
        assert_eq!(split_documents("a: 1\n").len(), 1);
    }

    #[test]
    fn malformed_yaml_is_an_input_error_with_its_line() {
        let r = validate_str("bad.yaml", "---\napiVersion: v1\nkind: Namespace\n---\na: [1, 2\nb: 3\n");
        assert_eq!(r.exit_code(), 2);
        assert_eq!(r.errors[0].file, "bad.yaml");
        assert_eq!(r.errors[0].line, Some(6), "{:?}", r.errors);
    }
}
