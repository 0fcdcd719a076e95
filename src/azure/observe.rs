//! What the ARM client reports about its traffic, through a trait so that the client stays free
//! of any metrics library (`moat run` plugs in `runtime::metrics::ArmMetrics`).
//!
//! The observer rides in [`ArmClientConfig::observer`](super::ArmClientConfig::observer), so every
//! client built from one configuration (moat's own identity and each credentialRef Secret)
//! reports to the same place.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Receives one call per HTTP exchange with ARM and per state change of a long-running operation.
/// Calls are synchronous and on the request path: keep them cheap and never block.
pub trait ArmObserver: Send + Sync + 'static {
    /// One HTTP exchange ended. `path` is the URL path without the query (a resource id, a
    /// collection, or an operation-status URL); `status` is the HTTP status, `None` when no
    /// response came (connect error, timeout). Retries are separate exchanges.
    fn request(&self, method: &str, path: &str, status: Option<u16>, duration: Duration);

    /// A long-running operation is running: after the write that started it, and again at every
    /// poll that finds it still running. `key` identifies it (method and lower-cased resource id),
    /// `resource_type` is the ARM type of the resource it writes.
    fn operation_running(&self, _key: &str, _method: &str, _resource_type: &str) {}

    /// The operation `key` ended: succeeded, failed or was canceled.
    fn operation_ended(&self, _key: &str) {}

    /// One read of a reconcile's observe pass (`controller::shared_reads`) of `path`:
    /// `outcome` is `sent` (a request), `joined` (a read of the same path in flight) or `reused`
    /// (a recent answer, at steady state).
    fn observe_read(&self, _path: &str, _outcome: &str) {}
}

/// Records nothing.
#[derive(Debug)]
pub struct NoObserver;

impl ArmObserver for NoObserver {
    fn request(&self, _: &str, _: &str, _: Option<u16>, _: Duration) {}
}

static NO_OBSERVER: LazyLock<Arc<dyn ArmObserver>> = LazyLock::new(|| Arc::new(NoObserver));

/// A shared [`ArmObserver`] that can sit in a serde configuration: skipped by serde, equal only
/// to a handle on the same observer, [`NoObserver`] by default.
#[derive(Clone)]
pub struct ObserverHandle(Arc<dyn ArmObserver>);

impl ObserverHandle {
    /// A handle on `observer`.
    pub fn new(observer: Arc<dyn ArmObserver>) -> Self {
        Self(observer)
    }

    /// The observer.
    pub fn get(&self) -> &dyn ArmObserver {
        self.0.as_ref()
    }
}

impl Default for ObserverHandle {
    fn default() -> Self {
        Self(NO_OBSERVER.clone())
    }
}

impl PartialEq for ObserverHandle {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl std::fmt::Debug for ObserverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if *self == Self::default() { "ObserverHandle(none)" } else { "ObserverHandle(..)" })
    }
}

/// The key [`ArmObserver::operation_running`] and [`ArmObserver::operation_ended`] use for the
/// operation `method` on `resource_id`.
pub fn operation_key(method: &str, resource_id: &str) -> String {
    format!("{method} {}", resource_id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_compare_by_observer() {
        assert_eq!(ObserverHandle::default(), ObserverHandle::default());
        let a = ObserverHandle::new(Arc::new(NoObserver));
        assert_ne!(a, ObserverHandle::default());
        assert_eq!(a.clone(), a);
        assert_eq!(operation_key("PUT", "/Subscriptions/S/x"), "PUT /subscriptions/s/x");
    }
}
