//! Turns on the parents where ARM runs one operation at a time (a VNet, an NSG, a route table,
//! a private endpoint, a privatelink zone: `crate::azure::locks::operation_key`), shared by
//! every reconcile of this process.
//!
//! A write takes its parent's turn and keeps it until its operation ends. A pass that stops
//! waiting (its `--operation-budget-seconds` spent, under ARM's limits its polls waiting for read
//! budget) leaves the operation recorded in its object's status, to be resumed at its next pass,
//! and gives the turn back; but ARM still holds the parent until the operation ends, and any
//! other write to it meanwhile is refused (409 `AnotherOperationInProgress`), a write spent for
//! nothing. So the operation is noted here as still holding the parent, and the next writer to
//! it polls that operation (any reconcile may: it is a GET of the poll URL) before writing.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::OwnedMutexGuard;

use crate::api::PendingOperation;
use crate::azure::ResourceId;
use crate::azure::locks::{KeyedLocks, operation_key};

/// The turns, and the operations left running on them.
#[derive(Debug, Default)]
pub struct Turns {
    locks: KeyedLocks,
    unfinished: Mutex<HashMap<ResourceId, PendingOperation>>,
}

fn key_of(id: &str) -> Option<ResourceId> {
    operation_key(&ResourceId::parse(id).ok()?)
}

impl Turns {
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for the turn on the parent a write to `id` is serialised under, and whether
    /// another reconcile held it first; `None` when ARM does not serialise `id`'s writes.
    /// While it waits, the pass may trade its worker for a spare slot (`super::workers`).
    pub async fn take(&self, id: &str) -> Option<(OwnedMutexGuard<()>, bool)> {
        let key = key_of(id)?;
        if let Some(g) = self.locks.try_lock(&key) {
            return Some((g, false));
        }
        Some((super::workers::idle(self.locks.lock(&key)).await, true))
    }

    /// Whether other passes wait now for the turn on the parent a write to `id` is serialised
    /// under (which a pass holds).
    pub fn others_wait(&self, id: &str) -> bool {
        key_of(id).is_some_and(|k| self.locks.contended(&k))
    }

    /// `op` still runs, and the pass that started it stops waiting for it.
    pub fn left_running(&self, op: &PendingOperation) {
        if let Some(key) = key_of(&op.resource_id)
            && let Ok(mut m) = self.unfinished.lock()
        {
            m.insert(key, op.clone());
        }
    }

    /// `op` ended (done, failed, or ARM no longer knows it).
    pub fn ended(&self, op: &PendingOperation) {
        if let Some(key) = key_of(&op.resource_id)
            && let Ok(mut m) = self.unfinished.lock()
            && m.get(&key).is_some_and(|o| o.poll_url == op.poll_url)
        {
            m.remove(&key);
        }
    }

    /// The operation left running on the parent a write to `id` waits for, if any.
    pub fn holder(&self, id: &str) -> Option<PendingOperation> {
        let key = key_of(id)?;
        self.unfinished.lock().ok()?.get(&key).cloned()
    }

    /// Operations noted as left running.
    #[cfg(test)]
    pub fn unfinished(&self) -> usize {
        self.unfinished.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "/subscriptions/s/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net";

    fn op(id: &str, url: &str) -> PendingOperation {
        PendingOperation { resource_id: id.into(), method: "PUT".into(), poll_url: url.into(), poll_kind: "AzureAsyncOperation".into(), started_at: String::new() }
    }

    #[test]
    fn an_operation_left_running_holds_its_parent_for_every_write_under_it_until_it_ends() {
        let t = Turns::new();
        let a = op(&format!("{ZONE}/virtualNetworkLinks/a"), "https://arm/op/1");
        t.left_running(&a);
        let b = format!("{ZONE}/virtualNetworkLinks/b");
        assert_eq!(t.holder(&b), Some(a.clone()), "another link of the zone waits for it");
        assert_eq!(t.holder(&ZONE.to_uppercase()), Some(a.clone()), "the zone itself, whatever the case");
        assert_eq!(t.holder("/subscriptions/s/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/other/virtualNetworkLinks/b"), None);
        assert_eq!(t.holder("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"), None, "not serialised");
        // Another operation's end does not free it; its own does.
        t.ended(&op(&b, "https://arm/op/2"));
        assert_eq!(t.unfinished(), 1);
        t.ended(&a);
        assert_eq!(t.holder(&b), None);
        assert_eq!(t.unfinished(), 0);
    }
}
