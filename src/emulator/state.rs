//! The in-memory store: resources keyed by lower-cased id, resource groups, long-running
//! operations with their poll countdown, locks, soft-deleted vaults, faults and the request log.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::EmulatorConfig;
use super::admin::{FaultRule, LogEntry};
use super::error::ArmError;
use super::types::{self, EtagKind, TypeSpec};
use super::{hooks, path};

/// A resource's provisioning state as the emulator tracks it.
#[derive(Debug, Clone, PartialEq)]
pub enum Prov {
    Succeeded,
    Failed,
    /// An operation is running; `label` is what GET shows (`Updating`, `Creating`, `Deleting`).
    InFlight {
        op: String,
        label: &'static str,
    },
    /// Set through the admin API; shown as is and never changes by itself.
    Static(String),
}

impl Prov {
    pub fn label(&self) -> &str {
        match self {
            Prov::Succeeded => "Succeeded",
            Prov::Failed => "Failed",
            Prov::InFlight { label, .. } => label,
            Prov::Static(s) => s,
        }
    }

    pub fn op(&self) -> Option<&str> {
        match self {
            Prov::InFlight { op, .. } => Some(op),
            _ => None,
        }
    }

    pub fn from_label(s: &str) -> Prov {
        match s {
            "Succeeded" => Prov::Succeeded,
            "Failed" => Prov::Failed,
            other => Prov::Static(other.to_string()),
        }
    }
}

/// One stored resource.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Canonical id with the caller's (first-seen) casing of names.
    pub id: String,
    /// Lower-cased id.
    pub key: String,
    pub spec: &'static TypeSpec,
    pub name: String,
    pub sub: String,
    pub rg: String,
    /// Key of the parent resource (children only).
    pub parent: Option<String>,
    /// Key of the top-level resource (itself for top-level resources).
    pub root: String,
    /// What the caller wrote (sanitised of read-only properties) plus defaults.
    pub body: Map<String, Value>,
    /// Emulator-generated stable values (resourceGuid, workspaceId, allocated IPs, ...).
    pub meta: Map<String, Value>,
    pub etag: String,
    pub prov: Prov,
    pub seq: u64,
    pub created_at: String,
}

/// A resource group.
#[derive(Debug, Clone)]
pub struct RgEntry {
    pub sub: String,
    pub name: String,
    pub location: String,
    pub tags: Option<Value>,
    pub prov: Prov,
}

impl RgEntry {
    pub fn id(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, self.name)
    }

    pub fn render(&self) -> Value {
        let mut v = json!({
            "id": self.id(),
            "name": self.name,
            "type": types::RESOURCE_GROUP,
            "location": self.location,
            "properties": {"provisioningState": self.prov.label()},
        });
        if let (Some(t), Some(o)) = (&self.tags, v.as_object_mut()) {
            o.insert("tags".into(), t.clone());
        }
        v
    }
}

pub fn rg_key(sub: &str, rg: &str) -> String {
    format!("{}/{}", sub.to_ascii_lowercase(), rg.to_ascii_lowercase())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Put,
    Patch,
    Delete,
    DeleteResourceGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::InProgress => "InProgress",
            OpStatus::Succeeded => "Succeeded",
            OpStatus::Failed => "Failed",
        }
    }
}

/// A long-running operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub ns: String,
    pub sub: String,
    pub location: String,
    pub api_version: String,
    pub kind: OpKind,
    /// Key of the resource (or resource-group key for a resource-group delete).
    pub target: String,
    /// Root key this operation locks.
    pub lock: Option<String>,
    /// Entries whose provisioningState follows this operation.
    pub affected: Vec<String>,
    pub polls_left: u32,
    pub status: OpStatus,
    pub fail: Option<ArmError>,
    pub start: String,
    pub end: Option<String>,
    pub started_at: Instant,
    /// Location polls answer in Storage's style (`asyncoperations`, `monitor=true`).
    pub storage_style: bool,
}

impl Operation {
    fn url_prefix(&self, base: &str) -> String {
        format!(
            "{base}/subscriptions/{}/providers/{}/locations/{}",
            self.sub, self.ns, self.location
        )
    }

    /// The `Azure-AsyncOperation` URL.
    pub fn async_url(&self, base: &str) -> String {
        format!(
            "{}/operations/{}?api-version={}",
            self.url_prefix(base),
            self.id,
            self.api_version
        )
    }

    /// The `Location` URL.
    pub fn location_url(&self, base: &str) -> String {
        if self.storage_style {
            format!(
                "{}/asyncoperations/{}?monitor=true&api-version={}",
                self.url_prefix(base),
                self.id,
                self.api_version
            )
        } else {
            format!(
                "{}/operationResults/{}?api-version={}",
                self.url_prefix(base),
                self.id,
                self.api_version
            )
        }
    }

    /// The Azure-AsyncOperation status resource.
    pub fn status_body(&self) -> Value {
        let mut v = json!({
            "id": format!("/subscriptions/{}/providers/{}/locations/{}/operations/{}", self.sub, self.ns, self.location, self.id),
            "name": self.id,
            "status": self.status.as_str(),
            "startTime": self.start,
        });
        if let Some(o) = v.as_object_mut() {
            if let Some(end) = &self.end {
                o.insert("endTime".into(), Value::String(end.clone()));
            }
            match self.status {
                OpStatus::InProgress => {
                    o.insert("percentComplete".into(), json!(50.0));
                }
                OpStatus::Succeeded => {
                    o.insert("percentComplete".into(), json!(100.0));
                }
                OpStatus::Failed => {
                    if let Some(err) = &self.fail {
                        o.insert("error".into(), err.error_object());
                    }
                }
            }
        }
        v
    }
}

/// A soft-deleted key vault.
#[derive(Debug, Clone)]
pub struct DeletedVault {
    pub sub: String,
    pub name: String,
    pub location: String,
    pub vault_id: String,
    pub deletion_date: String,
    pub entry: Entry,
}

impl DeletedVault {
    pub fn render(&self) -> Value {
        let tags = self.entry.body.get("tags").cloned().unwrap_or(json!({}));
        let purge_protection =
            super::json::get_map(&self.entry.body, "properties.enablePurgeProtection")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        json!({
            "id": format!("/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{}", self.sub, self.location, self.name),
            "name": self.name,
            "type": "Microsoft.KeyVault/deletedVaults",
            "properties": {
                "vaultId": self.vault_id,
                "location": self.location,
                "deletionDate": self.deletion_date,
                "scheduledPurgeDate": self.deletion_date,
                "tags": tags,
                "purgeProtectionEnabled": purge_protection,
            }
        })
    }
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Everything the emulator holds.
pub struct State {
    pub cfg: EmulatorConfig,
    pub rgs: BTreeMap<String, RgEntry>,
    pub entries: BTreeMap<String, Entry>,
    pub ops: HashMap<String, Operation>,
    pub in_progress: BTreeSet<String>,
    /// Root key -> operation id.
    pub locks: HashMap<String, String>,
    /// Lower-cased vault name -> deleted vault.
    pub deleted_vaults: BTreeMap<String, DeletedVault>,
    pub faults: Vec<FaultRule>,
    pub next_fault_id: u64,
    pub log: VecDeque<LogEntry>,
    pub next_log_seq: u64,
    /// ARM's request limits (see `ratelimit`).
    pub limiter: super::ratelimit::RateLimiter,
    /// Tokens the managed-identity endpoint issued.
    pub identities: super::identity::Identities,
    /// Every change, in order (when `cfg.journal` is on).
    pub journal: super::journal::Journal,
    /// Azure's Activity Log: an event for every change (see `activity`).
    pub activity: super::activity::ActivityLog,
    seq: u64,
}

/// Log entries kept before the oldest are dropped.
pub const LOG_CAPACITY: usize = 200_000;

impl State {
    pub fn new(cfg: EmulatorConfig) -> Self {
        let mut st = State {
            cfg,
            rgs: BTreeMap::new(),
            entries: BTreeMap::new(),
            ops: HashMap::new(),
            in_progress: BTreeSet::new(),
            locks: HashMap::new(),
            deleted_vaults: BTreeMap::new(),
            faults: Vec::new(),
            next_fault_id: 1,
            log: VecDeque::new(),
            next_log_seq: 1,
            limiter: Default::default(),
            identities: Default::default(),
            journal: super::journal::Journal::default(),
            activity: super::activity::ActivityLog::default(),
            seq: 0,
        };
        st.journal.enabled = st.cfg.journal;
        st.seed_configured_groups();
        st
    }

    /// Clears resources, operations, faults, the log and the Activity Log; re-seeds the configured
    /// resource groups.
    /// Issued managed-identity tokens stay valid (clients keep their cached tokens); the rate
    /// limits start afresh.
    pub fn reset(&mut self) {
        let cfg = self.cfg.clone();
        let identities = std::mem::take(&mut self.identities);
        *self = State::new(cfg);
        self.identities = identities;
    }

    fn seed_configured_groups(&mut self) {
        let groups = self.cfg.resource_groups.clone();
        let loc = self.cfg.location_default.clone();
        for (sub, rg) in groups {
            self.ensure_rg(&sub, &rg, &loc);
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn ensure_rg(&mut self, sub: &str, rg: &str, location: &str) {
        let key = rg_key(sub, rg);
        self.rgs.entry(key).or_insert_with(|| RgEntry {
            sub: sub.to_string(),
            name: rg.to_string(),
            location: normalize_location(location),
            tags: None,
            prov: Prov::Succeeded,
        });
    }

    pub fn rg(&self, sub: &str, rg: &str) -> Option<&RgEntry> {
        self.rgs.get(&rg_key(sub, rg))
    }

    pub fn new_etag(spec: &TypeSpec) -> String {
        match spec.etag {
            EtagKind::Weak => format!("W/\"{}\"", new_guid()),
            EtagKind::Strong | EtagKind::None => new_guid(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Looks a resource up by any-cased id.
    pub fn get_by_id(&self, id: &str) -> Option<&Entry> {
        self.entries.get(&path::key_of(id))
    }

    /// Children of `parent_key` of the given canonical type, in creation order.
    pub fn children(&self, parent_key: &str, canonical: &str) -> Vec<&Entry> {
        let prefix = format!("{parent_key}/");
        let mut v: Vec<&Entry> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, e)| e)
            .filter(|e| e.parent.as_deref() == Some(parent_key) && e.spec.is(canonical))
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Every entry of a type, in creation order.
    pub fn of_type(&self, canonical: &str) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self
            .entries
            .values()
            .filter(|e| e.spec.is(canonical))
            .collect();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Keys of all descendants of `key`, deepest first.
    pub fn descendants(&self, key: &str) -> Vec<String> {
        let prefix = format!("{key}/");
        let mut v: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
        v
    }

    /// The operation holding the lock on `root_key`, if it is still running.
    pub fn lock_holder(&self, root_key: &str) -> Option<&Operation> {
        let op = self.ops.get(self.locks.get(root_key)?)?;
        (op.status == OpStatus::InProgress).then_some(op)
    }

    /// 409 `AnotherOperationInProgress` if `root_key` is locked.
    pub fn check_lock(&self, root_key: &str, base: &str) -> Result<(), ArmError> {
        if let Some(op) = self.lock_holder(root_key) {
            return Err(ArmError::conflict(
                "AnotherOperationInProgress",
                format!(
                    "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}",
                    op.async_url(base)
                ),
            ));
        }
        Ok(())
    }

    /// Starts an operation; marks `affected` entries in flight with `label` and locks `lock`.
    /// With `polls_to_complete == 0` the operation completes before this returns.
    #[allow(clippy::too_many_arguments)]
    pub fn start_op(
        &mut self,
        kind: OpKind,
        ns: &str,
        sub: &str,
        location: &str,
        api_version: &str,
        target: &str,
        lock: Option<String>,
        affected: Vec<String>,
        label: &'static str,
        fail: Option<ArmError>,
        storage_style: bool,
    ) -> String {
        let id = new_guid();
        for k in &affected {
            if let Some(e) = self.entries.get_mut(k) {
                e.prov = Prov::InFlight {
                    op: id.clone(),
                    label,
                };
            }
        }
        if kind == OpKind::DeleteResourceGroup
            && let Some(rg) = self.rgs.get_mut(target)
        {
            rg.prov = Prov::InFlight {
                op: id.clone(),
                label,
            };
        }
        if let Some(l) = &lock {
            self.locks.insert(l.clone(), id.clone());
        }
        let op = Operation {
            id: id.clone(),
            ns: ns.to_string(),
            sub: sub.to_string(),
            location: if location.is_empty() {
                self.cfg.location_default.clone()
            } else {
                location.to_string()
            },
            api_version: api_version.to_string(),
            kind,
            target: target.to_string(),
            lock,
            affected,
            polls_left: self.cfg.polls_to_complete,
            status: OpStatus::InProgress,
            fail,
            start: now_rfc3339(),
            end: None,
            started_at: Instant::now(),
            storage_style,
        };
        self.ops.insert(id.clone(), op);
        self.in_progress.insert(id.clone());
        self.activity.op_started(&id);
        if self.cfg.polls_to_complete == 0 {
            self.complete_op(&id);
        }
        id
    }

    /// One poll of an operation: counts down, then completes it.
    pub fn tick(&mut self, op_id: &str) {
        let Some(op) = self.ops.get_mut(op_id) else {
            return;
        };
        if op.status != OpStatus::InProgress {
            return;
        }
        if op.polls_left > 0 {
            op.polls_left -= 1;
            return;
        }
        self.complete_op(op_id);
    }

    /// Finishes an operation (Succeeded, or Failed when a fault said so) and applies its effect.
    pub fn complete_op(&mut self, op_id: &str) {
        let Some(op) = self.ops.get_mut(op_id) else {
            return;
        };
        if op.status != OpStatus::InProgress {
            return;
        }
        let failed = op.fail.is_some();
        op.status = if failed {
            OpStatus::Failed
        } else {
            OpStatus::Succeeded
        };
        op.end = Some(now_rfc3339());
        let (kind, target, affected, lock, fail) = (
            op.kind,
            op.target.clone(),
            op.affected.clone(),
            op.lock.clone(),
            op.fail.clone(),
        );
        // What the Activity Log names, taken before a delete removes it.
        let subject = match kind {
            OpKind::DeleteResourceGroup => self.rg_target(&target),
            _ => self.entry_target(&target),
        };
        self.in_progress.remove(op_id);
        if let Some(l) = lock
            && self.locks.get(&l).map(String::as_str) == Some(op_id)
        {
            self.locks.remove(&l);
        }
        match kind {
            OpKind::Put | OpKind::Patch => {
                for k in affected {
                    if let Some(e) = self.entries.get_mut(&k)
                        && e.prov.op() == Some(op_id)
                    {
                        e.prov = if failed {
                            Prov::Failed
                        } else {
                            Prov::Succeeded
                        };
                        e.etag = Self::new_etag(e.spec);
                    }
                }
            }
            OpKind::Delete => {
                if failed {
                    for k in affected {
                        if let Some(e) = self.entries.get_mut(&k)
                            && e.prov.op() == Some(op_id)
                        {
                            e.prov = Prov::Failed;
                        }
                    }
                } else {
                    self.remove_with_effects(&target);
                }
            }
            OpKind::DeleteResourceGroup => {
                if failed {
                    if let Some(rg) = self.rgs.get_mut(&target) {
                        rg.prov = Prov::Failed;
                    }
                } else {
                    self.remove_rg(&target);
                }
            }
        }
        self.record_op_end(op_id, kind, subject, fail.as_ref());
    }

    /// Completes every running operation older than `lro_max_duration`, if that is set.
    pub fn expire_ops(&mut self) {
        let Some(max) = self.cfg.lro_max_duration else {
            return;
        };
        let due: Vec<String> = self
            .in_progress
            .iter()
            .filter(|id| {
                self.ops
                    .get(*id)
                    .is_some_and(|o| o.started_at.elapsed() >= max)
            })
            .cloned()
            .collect();
        for id in due {
            self.complete_op(&id);
        }
    }

    /// Completes every running operation now.
    pub fn settle(&mut self) -> usize {
        let all: Vec<String> = self.in_progress.iter().cloned().collect();
        for id in &all {
            self.complete_op(id);
        }
        all.len()
    }

    /// Removes a resource, its descendants, and what they own (NICs, DNS records), soft-deleting vaults.
    pub fn remove_with_effects(&mut self, key: &str) {
        let mut keys = self.descendants(key);
        keys.push(key.to_string());
        for k in keys {
            if let Some(e) = self.entries.remove(&k) {
                hooks::on_removed(self, e);
            }
        }
    }

    /// Removes a resource and its descendants only (admin API: no side effects).
    pub fn remove_raw(&mut self, key: &str) -> bool {
        let mut keys = self.descendants(key);
        keys.push(key.to_string());
        let mut any = false;
        for k in keys {
            any |= self.entries.remove(&k).is_some();
        }
        any
    }

    fn remove_rg(&mut self, rg_key_: &str) {
        let Some(rg) = self.rgs.get(rg_key_).cloned() else {
            return;
        };
        let mut keys: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.sub.eq_ignore_ascii_case(&rg.sub) && e.rg.eq_ignore_ascii_case(&rg.name))
            .map(|e| e.key.clone())
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.matches('/').count()));
        for k in keys {
            if let Some(e) = self.entries.remove(&k) {
                hooks::on_removed(self, e);
            }
        }
        self.rgs.remove(rg_key_);
    }

    /// The resource as a GET returns it (without counting as a poll).
    pub fn render(&self, e: &Entry) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), Value::String(e.id.clone()));
        obj.insert("name".into(), Value::String(e.name.clone()));
        obj.insert("type".into(), Value::String(e.spec.canonical.to_string()));
        if e.spec.etag != EtagKind::None {
            obj.insert("etag".into(), Value::String(e.etag.clone()));
        }
        for (k, v) in &e.body {
            if k != "properties" {
                obj.insert(k.clone(), v.clone());
            }
        }
        let mut props = match e.body.get("properties") {
            Some(Value::Object(p)) => p.clone(),
            _ => Map::new(),
        };
        props.insert(
            "provisioningState".into(),
            Value::String(e.prov.label().to_string()),
        );
        obj.insert("properties".into(), Value::Object(props));
        hooks::decorate(self, e, &mut obj);
        Value::Object(obj)
    }

    pub fn render_key(&self, key: &str) -> Option<Value> {
        self.entries.get(key).map(|e| self.render(e))
    }
}

/// `East US` -> `eastus`.
pub fn normalize_location(loc: &str) -> String {
    loc.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}
