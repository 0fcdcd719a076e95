//! A keyed async mutex: one lock per parent resource, so writes to the same VNet / NSG / route
//! table / private endpoint are serialised inside this process (Network ignores ETags and
//! answers `AnotherOperationInProgress` to concurrent writes, azure-arm-facts.md §2.2, §4.4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::id::ResourceId;

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
        let m = {
            let mut map = match self.map.lock() {
                Ok(m) => m,
                Err(poisoned) => poisoned.into_inner(),
            };
            let existing = map.get(key).and_then(Weak::upgrade);
            match existing {
                Some(m) => m,
                None => {
                    if map.len() > 64 {
                        map.retain(|_, w| w.strong_count() > 0);
                    }
                    let m = Arc::new(AsyncMutex::new(()));
                    map.insert(key.clone(), Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
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
        drop(g);
        let g2 = tokio::time::timeout(Duration::from_millis(50), locks.lock(&a2)).await;
        assert!(g2.is_ok());
        drop(g2);
        drop(gb);
        assert_eq!(locks.live(), 0);
    }
}
