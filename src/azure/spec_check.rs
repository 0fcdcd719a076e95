//! Checks JSON bodies against the bundled Azure OpenAPI (swagger 2.0) specs.
//!
//! Test tooling (feature `emulator`): the client's conformance test checks every request body
//! it builds, and the emulator's tests can check every response body it returns:
//!
//! ```no_run
//! # use moat::azure::spec_check::SpecSet;
//! let specs = SpecSet::from_env().expect("specs");
//! let body = serde_json::json!({"properties": {"adressPrefix": "10.0.0.0/24"}});
//! let v = specs.check_response("Microsoft.Network/virtualNetworks/subnets", &body);
//! assert!(!v.is_empty()); // "unknown property properties.adressPrefix"
//! ```
//!
//! What is checked, at every depth: no property the schema does not define (unless the schema
//! allows `additionalProperties` or is a free-form object), enum values, JSON types, required
//! properties, and (requests only) no `readOnly` property. `$ref`s are resolved across files as
//! `shared/azure-specs/README.md` describes (common-types mapping, `./X.json` relative to the
//! referring file), `allOf` is merged and `discriminator` / `x-ms-discriminator-value`
//! subtypes are dispatched on. A `$ref` to a file that is not bundled is first looked up in a
//! sibling api-version folder of the same service (e.g. `network/2024-07-01/network.json` →
//! `network/2024-05-01/network.json`); if that fails the sub-schema is accepted unchecked.
//! Both cases are recorded in [`SpecSet::notes`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

/// Which way a body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to ARM: read-only properties are violations.
    Request,
    /// ARM to client.
    Response,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// A property the spec does not define (typically a misspelling).
    UnknownProperty,
    /// A read-only property in a request body.
    ReadOnlySent,
    /// A required property is missing.
    MissingRequired,
    /// A value outside the spec's enum.
    EnumValue,
    /// A JSON type other than the spec's.
    WrongType,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, e.g. `properties.subnets[0].properties.addressPrefix`.
    pub path: String,
    /// What.
    pub kind: ViolationKind,
    /// Details (allowed values, expected type, ...).
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {}: {}", self.kind, if self.path.is_empty() { "(root)" } else { &self.path }, self.detail)
    }
}

/// Loading failed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The directory is missing or unreadable.
    #[error("cannot read the Azure specs under {dir}: {reason}. Set MOAT_SHARED_DIR to the folder that contains azure-specs/ (default: $CARGO_MANIFEST_DIR/../shared)")]
    Missing {
        /// Where we looked.
        dir: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A spec file is not valid JSON.
    #[error("spec file {file} is not valid JSON: {reason}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
}

/// An operation in a spec file.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// Spec file (relative to the specs root).
    pub file: &'a str,
    /// Path template, e.g. `/subscriptions/{subscriptionId}/.../subnets/{subnetName}`.
    pub path: &'a str,
    /// Lower-case HTTP method.
    pub method: String,
    /// The file's api-version (`info.version`).
    pub api_version: &'a str,
    /// The operation object.
    pub op: &'a Value,
    /// The path item (for path-level parameters).
    path_item: &'a Value,
}

impl Operation<'_> {
    /// `x-ms-long-running-operation`.
    pub fn is_long_running(&self) -> bool {
        self.op.get("x-ms-long-running-operation").and_then(Value::as_bool).unwrap_or(false)
    }
    /// `x-ms-long-running-operation-options.final-state-via`.
    pub fn final_state_via(&self) -> Option<&str> {
        self.op
            .get("x-ms-long-running-operation-options")?
            .get("final-state-via")?
            .as_str()
    }
    /// The declared response status codes (`"200"`, `"201"`, `"default"`, ...).
    pub fn status_codes(&self) -> Vec<&str> {
        self.op
            .get("responses")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
    /// Names of declared header parameters (e.g. `If-Match`).
    pub fn header_parameters(&self, specs: &SpecSet) -> Vec<String> {
        self.parameters(specs)
            .into_iter()
            .filter(|(p, _)| p.get("in").and_then(Value::as_str) == Some("header"))
            .filter_map(|(p, _)| p.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    fn parameters<'s>(&self, specs: &'s SpecSet) -> Vec<(&'s Value, String)>
    where
        Self: 's,
    {
        let mut out = Vec::new();
        let lists = [self.path_item.get("parameters"), self.op.get("parameters")];
        for list in lists.into_iter().flatten() {
            for p in list.as_array().into_iter().flatten() {
                if let Some((v, f)) = specs.deref(p, self.file) {
                    out.push((v, f));
                }
            }
        }
        out
    }
}

// Operations borrow from the SpecSet, so parameters resolved through it share its lifetime.
impl<'a> Operation<'a> {
    fn body_schema(&self, specs: &'a SpecSet) -> Option<(&'a Value, String)> {
        let lists = [self.path_item.get("parameters"), self.op.get("parameters")];
        for list in lists.into_iter().flatten() {
            for p in list.as_array().into_iter().flatten() {
                let (p, f) = specs.deref(p, self.file)?;
                if p.get("in").and_then(Value::as_str) == Some("body") {
                    return p.get("schema").map(|s| (s, f));
                }
            }
        }
        None
    }

    fn response_schema(&self, status: &str) -> Option<(&'a Value, &'a str)> {
        let r = self.op.get("responses")?;
        let r = r.get(status).or_else(|| r.get("default"))?;
        r.get("schema").map(|s| (s, self.file))
    }
}

/// All spec files under one root.
pub struct SpecSet {
    root: PathBuf,
    files: BTreeMap<String, Value>,
    notes: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for SpecSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpecSet")
            .field("root", &self.root)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Effective (allOf-merged) view of a schema.
#[derive(Default)]
struct Effective<'a> {
    props: BTreeMap<String, (&'a Value, String)>,
    required: BTreeSet<String>,
    /// None: not allowed; Some(None): any; Some(Some(schema)).
    additional: Option<Option<(&'a Value, String)>>,
    ty: Option<String>,
    enum_values: Option<Vec<Value>>,
    read_only: bool,
    discriminator: Option<String>,
    items: Option<(&'a Value, String)>,
    opaque: bool,
    /// (file, definition name) of the top-level definition, when the schema was a `$ref`.
    def: Option<(String, String)>,
}

fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

impl SpecSet {
    /// Loads every `*.json` under `root` (an `azure-specs` folder), except `examples/`.
    pub fn load(root: impl AsRef<Path>) -> Result<Self, SpecError> {
        let root = root.as_ref().to_path_buf();
        let mut files = BTreeMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| SpecError::Missing {
                dir: dir.clone(),
                reason: e.to_string(),
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "examples") {
                        stack.push(p);
                    }
                } else if p.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&p).map_err(|e| SpecError::Missing {
                        dir: p.clone(),
                        reason: e.to_string(),
                    })?;
                    let v: Value = serde_json::from_str(&text).map_err(|e| SpecError::Parse {
                        file: p.clone(),
                        reason: e.to_string(),
                    })?;
                    let rel = p.strip_prefix(&root).map(normalize).unwrap_or_else(|_| p.display().to_string());
                    files.insert(rel, v);
                }
            }
        }
        if !files.keys().any(|k| k.starts_with("network/")) {
            return Err(SpecError::Missing {
                dir: root,
                reason: "no network/*.json spec found (is this the azure-specs folder?)".into(),
            });
        }
        Ok(Self {
            root,
            files,
            notes: Mutex::new(BTreeSet::new()),
        })
    }

    /// The shared folder: `$MOAT_SHARED_DIR`, else the first `shared/` with an `azure-specs/`
    /// in `$CARGO_MANIFEST_DIR/..` or further up (a git worktree under `wt/` sits one level
    /// deeper than the main checkout).
    pub fn shared_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("MOAT_SHARED_DIR") {
            return PathBuf::from(d);
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        manifest
            .ancestors()
            .skip(1)
            .map(|a| a.join("shared"))
            .find(|d| d.join("azure-specs").is_dir())
            .unwrap_or_else(|| manifest.join("..").join("shared"))
    }

    /// Loads `{shared_dir}/azure-specs`.
    pub fn from_env() -> Result<Self, SpecError> {
        Self::load(Self::shared_dir().join("azure-specs"))
    }

    /// The specs root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Files loaded (relative paths).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Substitutions and unresolved references met so far.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.iter().cloned().collect()).unwrap_or_default()
    }

    fn note(&self, s: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.insert(s);
        }
    }

    /// Maps a `$ref` file part, seen in `from`, to a loaded file.
    fn resolve_file(&self, reference: &str, from: &str) -> Option<String> {
        if reference.is_empty() {
            return Some(from.to_string());
        }
        if let Some(pos) = reference.find("common-types/resource-management/") {
            let k = reference[pos..].to_string();
            return self.files.contains_key(&k).then_some(k).or_else(|| {
                self.note(format!("unresolved: {reference} (from {from})"));
                None
            });
        }
        let dir = Path::new(from).parent().unwrap_or(Path::new(""));
        let k = normalize(&dir.join(reference));
        if self.files.contains_key(&k) {
            return Some(k);
        }
        // Same service, another api-version folder.
        let p = Path::new(&k);
        let (Some(name), Some(version_dir)) = (p.file_name(), p.parent()) else {
            return None;
        };
        let service = version_dir.parent().map(normalize).unwrap_or_default();
        let mut candidates: Vec<&String> = self
            .files
            .keys()
            .filter(|f| {
                let fp = Path::new(f.as_str());
                fp.file_name() == Some(name) && fp.parent().and_then(Path::parent).map(normalize).as_deref() == Some(service.as_str())
            })
            .collect();
        candidates.sort();
        match candidates.last() {
            Some(sub) => {
                self.note(format!("substituted {sub} for missing {k} (from {from})"));
                Some((*sub).clone())
            }
            None => {
                self.note(format!("unresolved: {k} (from {from}); checked as 'anything'"));
                None
            }
        }
    }

    /// Follows a JSON pointer (`/definitions/X`) in a file.
    fn pointer<'s>(&'s self, file: &str, ptr: &str) -> Option<&'s Value> {
        let mut v = self.files.get(file)?;
        for part in ptr.trim_start_matches('/').split('/').filter(|p| !p.is_empty()) {
            let key = part.replace("~1", "/").replace("~0", "~");
            v = v.get(&key)?;
        }
        Some(v)
    }

    /// Resolves `node` if it is a `$ref` (recursively), returning the target and its file.
    fn deref<'s>(&'s self, node: &'s Value, file: &str) -> Option<(&'s Value, String)> {
        let mut node = node;
        let mut file = file.to_string();
        for _ in 0..32 {
            let Some(r) = node.get("$ref").and_then(Value::as_str) else {
                return Some((node, file));
            };
            let (f, ptr) = r.split_once('#').unwrap_or((r, ""));
            let target_file = self.resolve_file(f, &file)?;
            node = self.pointer(&target_file, ptr).or_else(|| {
                self.note(format!("unresolved pointer {r} (from {file})"));
                None
            })?;
            file = target_file;
        }
        None
    }

    fn ref_identity(&self, node: &Value, file: &str) -> Option<(String, String)> {
        let r = node.get("$ref")?.as_str()?;
        let (f, ptr) = r.split_once('#')?;
        let name = ptr.strip_prefix("/definitions/")?;
        Some((self.resolve_file(f, file)?, name.to_string()))
    }

    fn effective<'s>(&'s self, schema: &'s Value, file: &str, depth: usize) -> Effective<'s> {
        let mut eff = Effective::default();
        if depth > 24 {
            eff.opaque = true;
            return eff;
        }
        let def = self.ref_identity(schema, file);
        let sibling_read_only = schema.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
        let Some((node, nfile)) = self.deref(schema, file) else {
            eff.opaque = true;
            return eff;
        };
        eff.def = def;
        eff.read_only = sibling_read_only || node.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
        eff.ty = node.get("type").and_then(Value::as_str).map(str::to_string);
        eff.enum_values = node.get("enum").and_then(Value::as_array).cloned();
        eff.discriminator = node.get("discriminator").and_then(Value::as_str).map(str::to_string);
        if let Some(items) = node.get("items") {
            eff.items = Some((items, nfile.clone()));
        }
        for part in node.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            let sub = self.effective(part, &nfile, depth + 1);
            if sub.opaque {
                eff.opaque = true;
            }
            eff.props.extend(sub.props);
            eff.required.extend(sub.required);
            if eff.additional.is_none() {
                eff.additional = sub.additional;
            }
            if eff.ty.is_none() {
                eff.ty = sub.ty;
            }
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                eff.props.insert(k.clone(), (v, nfile.clone()));
            }
        }
        for r in node.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = r.as_str() {
                eff.required.insert(r.to_string());
            }
        }
        match node.get("additionalProperties") {
            Some(Value::Bool(true)) => eff.additional = Some(None),
            Some(Value::Bool(false)) | None => {}
            Some(s) => eff.additional = Some(Some((s, nfile.clone()))),
        }
        eff
    }

    /// Finds the subtype of `base` (file, name) whose discriminator value is `value`.
    fn subtype(&self, base: &(String, String), value: &str) -> Option<(&Value, String)> {
        for (file, doc) in &self.files {
            let Some(defs) = doc.get("definitions").and_then(Value::as_object) else {
                continue;
            };
            for (name, def) in defs {
                let dv = def.get("x-ms-discriminator-value").and_then(Value::as_str).unwrap_or(name);
                if dv != value {
                    continue;
                }
                let extends = def
                    .get("allOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|p| self.ref_identity(p, file).as_ref() == Some(base));
                if extends {
                    return Some((def, file.clone()));
                }
            }
        }
        None
    }

    fn is_read_only(&self, schema: &Value, file: &str) -> bool {
        if schema.get("readOnly").and_then(Value::as_bool).unwrap_or(false) {
            return true;
        }
        self.deref(schema, file)
            .is_some_and(|(n, _)| n.get("readOnly").and_then(Value::as_bool).unwrap_or(false))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_value(
        &self,
        v: &Value,
        schema: &Value,
        file: &str,
        path: &str,
        dir: Direction,
        out: &mut Vec<Violation>,
        depth: usize,
    ) {
        if depth > 64 || v.is_null() {
            return;
        }
        let eff = self.effective(schema, file, 0);
        if eff.opaque {
            return;
        }
        if let (Some(d), Some(base)) = (&eff.discriminator, &eff.def)
            && let Some(dv) = v.get(d).and_then(Value::as_str)
            && let Some((sub, sfile)) = self.subtype(base, dv)
        {
            let sub_eff = self.effective(sub, &sfile, 0);
            return self.check_object(v, &sub_eff, path, dir, out, depth);
        }
        let push = |out: &mut Vec<Violation>, kind, detail: String| {
            out.push(Violation {
                path: path.to_string(),
                kind,
                detail,
            })
        };
        if let Some(allowed) = &eff.enum_values {
            if let Some(s) = v.as_str() {
                let ok = allowed.iter().any(|a| a.as_str() == Some(s))
                    || (s.contains(',')
                        && s.split(',').all(|p| allowed.iter().any(|a| a.as_str() == Some(p.trim()))));
                if !ok {
                    let list: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                    push(out, ViolationKind::EnumValue, format!("'{s}' is not one of {list:?}"));
                }
            } else if !allowed.contains(v) {
                push(out, ViolationKind::EnumValue, format!("{v} is not one of {allowed:?}"));
            }
        }
        let ty = eff.ty.as_deref().or(if !eff.props.is_empty() || eff.additional.is_some() {
            Some("object")
        } else if eff.items.is_some() {
            Some("array")
        } else {
            None
        });
        match ty {
            Some("object") => self.check_object(v, &eff, path, dir, out, depth),
            Some("array") => match v.as_array() {
                None => push(out, ViolationKind::WrongType, format!("expected an array, got {}", kind_of(v))),
                Some(items) => {
                    if let Some((is, ifile)) = &eff.items {
                        for (i, item) in items.iter().enumerate() {
                            self.check_value(item, is, ifile, &format!("{path}[{i}]"), dir, out, depth + 1);
                        }
                    }
                }
            },
            Some("string") if !v.is_string() => push(out, ViolationKind::WrongType, format!("expected a string, got {}", kind_of(v))),
            Some("boolean") if !v.is_boolean() => push(out, ViolationKind::WrongType, format!("expected a boolean, got {}", kind_of(v))),
            Some("integer") if !(v.is_i64() || v.is_u64()) => {
                push(out, ViolationKind::WrongType, format!("expected an integer, got {}", kind_of(v)))
            }
            Some("number") if !v.is_number() => push(out, ViolationKind::WrongType, format!("expected a number, got {}", kind_of(v))),
            _ => {}
        }
    }

    fn check_object(&self, v: &Value, eff: &Effective<'_>, path: &str, dir: Direction, out: &mut Vec<Violation>, depth: usize) {
        let Some(obj) = v.as_object() else {
            out.push(Violation {
                path: path.to_string(),
                kind: ViolationKind::WrongType,
                detail: format!("expected an object, got {}", kind_of(v)),
            });
            return;
        };
        let free_form = eff.props.is_empty() && eff.additional.is_none();
        for (k, val) in obj {
            let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if let Some((ps, pf)) = eff.props.get(k) {
                if dir == Direction::Request && self.is_read_only(ps, pf) {
                    out.push(Violation {
                        path: p,
                        kind: ViolationKind::ReadOnlySent,
                        detail: "read-only property in a request body".into(),
                    });
                    continue;
                }
                self.check_value(val, ps, pf, &p, dir, out, depth + 1);
            } else if let Some(add) = &eff.additional {
                if let Some((s, f)) = add {
                    self.check_value(val, s, f, &format!("{path}[{k:?}]"), dir, out, depth + 1);
                }
            } else if !free_form {
                let known: Vec<&str> = eff.props.keys().map(String::as_str).collect();
                out.push(Violation {
                    path: p,
                    kind: ViolationKind::UnknownProperty,
                    detail: format!("'{k}' is not defined here; known: {known:?}"),
                });
            }
        }
        for r in &eff.required {
            if obj.contains_key(r) {
                continue;
            }
            if dir == Direction::Request
                && let Some((ps, pf)) = eff.props.get(r)
                && self.is_read_only(ps, pf)
            {
                continue;
            }
            out.push(Violation {
                path: if path.is_empty() { r.clone() } else { format!("{path}.{r}") },
                kind: ViolationKind::MissingRequired,
                detail: "required property is missing".into(),
            });
        }
    }

    /// Checks `body` against a named definition.
    pub fn check_definition(&self, file: &str, definition: &str, body: &Value, dir: Direction) -> Vec<Violation> {
        let schema = serde_json::json!({ "$ref": format!("#/definitions/{definition}") });
        let mut out = Vec::new();
        self.check_value(body, &schema, file, "", dir, &mut out, 0);
        out
    }

    /// All operations in all files.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut out = Vec::new();
        for (file, doc) in &self.files {
            let version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("");
            for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
                for (method, op) in item.as_object().into_iter().flatten() {
                    if matches!(method.as_str(), "get" | "put" | "patch" | "delete" | "post" | "head") {
                        out.push(Operation {
                            file,
                            path,
                            method: method.clone(),
                            api_version: version,
                            op,
                            path_item: item,
                        });
                    }
                }
            }
        }
        out
    }

    /// The resource type a path template addresses (`Microsoft.Network/virtualNetworks/subnets`)
    /// when it ends with a name parameter; `None` for collections and actions.
    pub fn template_resource_type(path: &str) -> Option<String> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let prov = segs.iter().rposition(|s| s.eq_ignore_ascii_case("providers"))?;
        let ns = segs.get(prov + 1)?;
        let rest = &segs[prov + 2..];
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return None;
        }
        let mut t = ns.to_string();
        for pair in rest.chunks(2) {
            if pair[0].starts_with('{') || !pair[1].starts_with('{') {
                return None;
            }
            t.push('/');
            t.push_str(pair[0]);
        }
        Some(t)
    }

    /// The operation `method` on an instance of `resource_type`, preferring `api_version`
    /// (a substitution is recorded in [`Self::notes`]).
    pub fn operation(&self, method: &str, resource_type: &str, api_version: &str) -> Option<Operation<'_>> {
        let mut candidates: Vec<Operation<'_>> = self
            .operations()
            .into_iter()
            .filter(|o| o.method.eq_ignore_ascii_case(method))
            .filter(|o| {
                Self::template_resource_type(o.path).is_some_and(|t| t.eq_ignore_ascii_case(resource_type))
                    && o.path.contains("{resourceGroupName}")
            })
            .collect();
        if let Some(i) = candidates.iter().position(|o| o.api_version == api_version) {
            return Some(candidates.swap_remove(i));
        }
        candidates.sort_by(|a, b| b.api_version.cmp(a.api_version));
        let o = candidates.into_iter().next()?;
        self.note(format!(
            "{} {resource_type}: no spec at api-version {api_version}; checked against {} ({})",
            method.to_ascii_uppercase(),
            o.api_version,
            o.file
        ));
        Some(o)
    }

    /// The operation whose template matches a concrete URL path (e.g. from the emulator's
    /// router), preferring `api_version`.
    pub fn operation_for_path(&self, method: &str, url_path: &str, api_version: Option<&str>) -> Option<Operation<'_>> {
        let segs: Vec<&str> = url_path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, bool, Operation<'_>)> = None;
        for o in self.operations() {
            if !o.method.eq_ignore_ascii_case(method) {
                continue;
            }
            let t: Vec<&str> = o.path.trim_matches('/').split('/').collect();
            if t.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let ok = t.iter().zip(&segs).all(|(a, b)| {
                if a.starts_with('{') {
                    !b.is_empty()
                } else if a.eq_ignore_ascii_case(b) {
                    literal += 1;
                    true
                } else {
                    false
                }
            });
            if !ok {
                continue;
            }
            let version_match = api_version.is_some_and(|v| v == o.api_version);
            let better = match &best {
                None => true,
                Some((l, vm, _)) => (literal, version_match) > (*l, *vm),
            };
            if better {
                best = Some((literal, version_match, o));
            }
        }
        best.map(|(_, _, o)| o)
    }

    /// Checks a request body for `method` (PUT / PATCH) on `resource_type`.
    pub fn check_request(&self, method: &str, resource_type: &str, api_version: &str, body: &Value) -> Vec<Violation> {
        match self.operation(method, resource_type, api_version) {
            Some(op) => self.check_request_for(&op, body),
            None => vec![Violation {
                path: String::new(),
                kind: ViolationKind::UnknownProperty,
                detail: format!("no {method} operation for {resource_type} in the specs"),
            }],
        }
    }

    /// Checks a request body against an operation's body parameter.
    pub fn check_request_for(&self, op: &Operation<'_>, body: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some((schema, file)) = op.body_schema(self) {
            self.check_value(body, schema, &file, "", Direction::Request, &mut out, 0);
        }
        out
    }

    /// Checks a GET response body of `resource_type` (the 200 schema, at the api-version
    /// moat uses when the specs have it).
    pub fn check_response(&self, resource_type: &str, body: &Value) -> Vec<Violation> {
        let version = crate::azure::api_versions::for_type(resource_type).unwrap_or("");
        self.check_response_status("get", resource_type, version, "200", body)
    }

    /// Checks a response body with `status` for `method` on `resource_type`.
    pub fn check_response_status(
        &self,
        method: &str,
        resource_type: &str,
        api_version: &str,
        status: &str,
        body: &Value,
    ) -> Vec<Violation> {
        match self.operation(method, resource_type, api_version) {
            Some(op) => self.check_response_for(&op, status, body),
            None => vec![Violation {
                path: String::new(),
                kind: ViolationKind::UnknownProperty,
                detail: format!("no {method} operation for {resource_type} in the specs"),
            }],
        }
    }

    /// Checks a response body against an operation's response schema for `status` (falling
    /// back to `default`, the error schema). A status without a schema accepts any body.
    pub fn check_response_for(&self, op: &Operation<'_>, status: &str, body: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some((schema, file)) = op.response_schema(status) {
            self.check_value(body, schema, file, "", Direction::Response, &mut out, 0);
        }
        out
    }

    /// Every resource type with an instance GET, with the api-versions available.
    pub fn resource_types(&self) -> HashMap<String, BTreeSet<String>> {
        let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
        for o in self.operations() {
            if o.method == "get"
                && let Some(t) = Self::template_resource_type(o.path)
            {
                out.entry(t).or_default().insert(o.api_version.to_string());
            }
        }
        out
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
