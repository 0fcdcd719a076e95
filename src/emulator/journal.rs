//! The journal: every change to the emulator's resources, in order, grouped by the request (or
//! admin call, or operation ending on its own) that made it. The e2e tests rebuild every
//! intermediate Azure state from it and check the safety invariant on each
//! (`moat::netcheck::check_transition`). Off by default (benchmarks run without it).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::State;

/// One resource changed by one commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalChange {
    /// Changes with the same commit happened at once (one ARM request).
    pub commit: u64,
    /// `arm` (a request to the ARM API, or an operation ending) or `admin` (the test's own change).
    pub origin: String,
    /// The last request-log `seq` when the change was committed.
    pub log_seq: u64,
    /// Lower-cased resource id.
    pub id: String,
    /// The resource as GET returns it; `None` once deleted.
    pub body: Option<Value>,
}

/// The journal's bookkeeping inside the state.
#[derive(Debug, Default)]
pub struct Journal {
    pub enabled: bool,
    fingerprints: HashMap<String, u64>,
    pub changes: Vec<JournalChange>,
    commits: u64,
}

impl State {
    /// Marks a point in the journal where the test considers Azure settled (a converged
    /// scenario): an admin commit that changes nothing, so a transition's check ends and the next
    /// begins there.
    pub fn journal_mark(&mut self, label: &str) {
        if !self.journal.enabled {
            return;
        }
        self.journal_commit("admin");
        self.journal.commits += 1;
        let log_seq = self.next_log_seq.saturating_sub(1);
        self.journal.changes.push(JournalChange { commit: self.journal.commits, origin: "admin".into(), log_seq, id: format!("_mark/{label}"), body: None });
    }

    /// Records what changed since the last commit, under one commit number.
    pub fn journal_commit(&mut self, origin: &str) {
        if !self.journal.enabled {
            return;
        }
        let mut now: HashMap<String, u64> = HashMap::with_capacity(self.entries.len());
        for (key, e) in &self.entries {
            let mut h = DefaultHasher::new();
            (e.etag.as_str(), e.prov.label(), serde_json::to_string(&e.body).unwrap_or_default(), serde_json::to_string(&e.meta).unwrap_or_default()).hash(&mut h);
            now.insert(key.clone(), h.finish());
        }
        let mut changed: Vec<(String, Option<Value>)> = Vec::new();
        for (key, fp) in &now {
            if self.journal.fingerprints.get(key) != Some(fp) {
                let body = self.entries.get(key).map(|e| self.render(e));
                changed.push((key.clone(), body));
            }
        }
        for key in self.journal.fingerprints.keys() {
            if !now.contains_key(key) {
                changed.push((key.clone(), None));
            }
        }
        if changed.is_empty() {
            return;
        }
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        self.journal.commits += 1;
        let commit = self.journal.commits;
        let log_seq = self.next_log_seq.saturating_sub(1);
        for (id, body) in changed {
            self.journal.changes.push(JournalChange { commit, origin: origin.to_string(), log_seq, id, body });
        }
        self.journal.fingerprints = now;
    }
}
