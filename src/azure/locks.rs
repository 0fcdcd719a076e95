//! A keyed async mutex: one lock per parent resource, so writes to the same VNet / NSG / route
//! table / private endpoint are serialised inside this process (Network ignores ETags and
//! answers `AnotherOperationInProgress` to concurrent writes, azure-arm-facts.md §2.2, §4.4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::id::ResourceId;

/// Parents on which ARM runs one operation at a time, for themselves and their children: a
/// write while one runs is refused with 409 `AnotherOperationInProgress` (azure-arm-facts.md
/// §2.2, §2.3, §4.4). Private DNS zones honour ETags, so the client does not lock them for a
/// read-merge-write, but their VNet links still take turns.
pub const NETWORK_PARENTS: &[&str] = &[
    "Microsoft.Network/virtualNetworks",
    "Microsoft.Network/networkSecurityGroups",
    "Microsoft.Network/routeTables",
    "Microsoft.Network/privateEndpoints",
];
pub const PRIVATE_DNS_ZONE: &str = "Microsoft.Network/privateDnsZones";

/// The top-level resource of `id` (the id itself for a top-level resource) when its type is one
/// of `parents`: the key a write to `id` waits on.
pub fn parent_key(id: &ResourceId, parents: &[&str]) -> Option<ResourceId> {
    let mut top = id.clone();
    while top.is_child() {
        top = top.parent()?;
    }
    parents.iter().any(|t| top.is_type(t)).then_some(top)
}

/// The key of the turn a write to `id` takes until its operation ends: its Network parent or
/// private DNS zone.
pub fn operation_key(id: &ResourceId) -> Option<ResourceId> {
    parent_key(id, NETWORK_PARENTS).or_else(|| parent_key(id, &[PRIVATE_DNS_ZONE]))
}

/// Lock map keyed by resource id (case-insensitive, like [`ResourceId`] equality).
#[derive(Debug, Default)]
pub struct KeyedLocks {
    map: Mutex<HashMap<ResourceId, Weak<AsyncMutex<()>>>>,
}

impl KeyedLocks {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for and returns the lock for `key`. Entries are dropped once no guard or waiter
    /// holds them.
    pub async fn lock(&self, key: &ResourceId) -> OwnedMutexGuard<()> {
        self.entry(key).lock_owned().await
    }

    /// The lock for `key` if no one holds it now.
    pub fn try_lock(&self, key: &ResourceId) -> Option<OwnedMutexGuard<()>> {
        self.entry(key).try_lock_owned().ok()
    }

    /// The mutex of `key`, made if no guard or waiter holds one.
    fn entry(&self, key: &ResourceId) -> Arc<AsyncMutex<()>> {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(m) = map.get(key).and_then(Weak::upgrade) {
            return m;
        }
        if map.len() > 64 {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let m = Arc::new(AsyncMutex::new(()));
        map.insert(key.clone(), Arc::downgrade(&m));
        m
    }

    /// Whether a pass holds the lock for `key` while another waits for it.
    pub fn contended(&self, key: &ResourceId) -> bool {
        let map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        // The holder's guard and each waiter keep one reference; the map only a weak one.
        map.get(key).is_some_and(|w| w.strong_count() > 1)
    }

    /// Number of live entries (for tests).
    pub fn live(&self) -> usize {
        self.map
            .lock()
            .map(|m| m.values().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_wait_on_their_top_level_parent() {
        let id = |s: &str| -> ResourceId { format!("/subscriptions/s/resourceGroups/rg/providers/{s}").parse().unwrap() };
        let vnet = id("Microsoft.Network/virtualNetworks/V");
        assert_eq!(parent_key(&id("Microsoft.Network/virtualNetworks/V/subnets/a"), NETWORK_PARENTS), Some(vnet.clone()));
        assert_eq!(parent_key(&vnet, NETWORK_PARENTS), Some(vnet.clone()));
        let link = id("Microsoft.Network/privateDnsZones/z/virtualNetworkLinks/l");
        assert_eq!(parent_key(&link, NETWORK_PARENTS), None, "the client's read-merge-write lock leaves zones to ETags");
        assert_eq!(operation_key(&link), Some(id("Microsoft.Network/privateDnsZones/z")));
        let pe = id("microsoft.network/privateEndpoints/pe");
        assert_eq!(operation_key(&id("microsoft.network/privateEndpoints/pe/privateDnsZoneGroups/default")), Some(pe));
        assert_eq!(operation_key(&id("Microsoft.Storage/storageAccounts/sa")), None);
    }

    #[tokio::test]
    async fn same_key_serialises_case_insensitively_other_keys_do_not() {
        let locks = Arc::new(KeyedLocks::new());
        let a: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/V".parse().unwrap();
        let a2: ResourceId = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v".parse().unwrap();
        let b: ResourceId = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/w".parse().unwrap();
        let g = locks.lock(&a).await;
        // Another key is free.
        let gb = tokio::time::timeout(Duration::from_millis(50), locks.lock(&b)).await;
        assert!(gb.is_ok());
        // The same key (other casing) waits.
        let blocked = tokio::time::timeout(Duration::from_millis(50), locks.lock(&a2)).await;
        assert!(blocked.is_err());
        assert!(!locks.contended(&a), "the waiter above gave up");
        let waiter = {
            let (locks, a2) = (locks.clone(), a2.clone());
            tokio::spawn(async move { drop(locks.lock(&a2).await) })
        };
        tokio::time::timeout(Duration::from_secs(5), async {
            while !locks.contended(&a) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("held while another waits: contended");
        assert!(!locks.contended(&b), "another key is held by one only");
        drop(g);
        waiter.await.expect("waiter");
        assert!(!locks.contended(&a));
        let g2 = tokio::time::timeout(Duration::from_millis(50), locks.lock(&a2)).await;
        assert!(g2.is_ok());
        drop(g2);
        drop(gb);
        assert_eq!(locks.live(), 0);
    }
}
