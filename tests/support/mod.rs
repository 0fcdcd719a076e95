//! Shared helpers for integration tests: `mod support;` in a test file.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod argo;
pub mod e2e;
pub mod hostile;
pub mod tenancy;
pub mod testenv;

use std::future::Future;
use std::time::Duration;

/// Calls `check` every 100 ms until it returns `Ok` or `timeout` has passed,
/// and returns its last result. For conditions that become true shortly
/// (an RBAC change reaching the authorizer, a controller catching up).
pub async fn eventually<T, E, F, Fut>(timeout: Duration, mut check: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let result = check().await;
        if result.is_ok() || tokio::time::Instant::now() >= deadline {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
