//! The memory allocator's settings, made before any thread starts.
//!
//! moat runs on glibc (the image is distroless `cc`). Left at its defaults, glibc's `malloc`
//! costs moat far more resident memory than its heap holds. A heap profile at 100 workspaces
//! peaks at 24.6 MB while the process's peak RSS is 53 MiB. The benchmark at 500 workspaces
//! reached 153 MiB. The growth comes from the large short-lived buffers that scale with the
//! fleet: a privatelink zone's record sets, an Activity Log page, a watch event batch.
//!
//! - glibc serves a buffer above `M_MMAP_THRESHOLD` (128 KiB) from its own mapping and unmaps it
//!   when freed. But the first time such a buffer is freed, glibc raises the threshold to that
//!   size, up to 32 MiB. After that, every buffer of that size comes from the heap, and the heap
//!   only shrinks from its top, so freed space in the middle stays resident. Setting the
//!   threshold explicitly turns that adjustment off: large buffers stay mapped and are given back
//!   when freed.
//! - Each thread that allocates may get its own arena, up to 8 per core. Memory freed in one
//!   arena is not reused by another. moat's work is I/O-bound and runs on a few runtime threads,
//!   so two arenas (`M_ARENA_MAX`) are enough.
//!
//! A variable the operator sets (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
//! `MALLOC_TRIM_THRESHOLD_`, or any `GLIBC_TUNABLES`) wins: glibc read it at start, and moat
//! does not override it. `docs/benchmarks.md` has the figures before and after.

/// What moat sets, and the environment variable that overrides each.
pub const SETTINGS: [(Setting, &str); 3] = [
    (Setting::ArenaMax(2), "MALLOC_ARENA_MAX"),
    (Setting::MmapThreshold(128 * 1024), "MALLOC_MMAP_THRESHOLD_"),
    (Setting::TrimThreshold(256 * 1024), "MALLOC_TRIM_THRESHOLD_"),
];

/// One `mallopt` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `M_ARENA_MAX`: at most this many arenas.
    ArenaMax(i32),
    /// `M_MMAP_THRESHOLD`: buffers at least this large get their own mapping (fixed, not
    /// adjusted by glibc).
    MmapThreshold(i32),
    /// `M_TRIM_THRESHOLD`: free memory at the heap's top beyond this goes back to the system.
    TrimThreshold(i32),
}

/// The settings to make, given the environment (`var` looks a variable up): none of those the
/// operator set, and none at all under `GLIBC_TUNABLES`.
pub fn to_apply(var: impl Fn(&str) -> Option<String>) -> Vec<Setting> {
    if var("GLIBC_TUNABLES").is_some() {
        return Vec::new();
    }
    SETTINGS.iter().filter(|(_, env)| var(env).is_none()).map(|(s, _)| *s).collect()
}

/// Applies [`to_apply`] for this process's environment. Call it first thing in `main`, before
/// any thread starts. Elsewhere than on glibc, it does nothing.
pub fn tune() {
    let settings = to_apply(|k| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned()));
    apply(&settings);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply(settings: &[Setting]) {
    for s in settings {
        let (param, value) = match *s {
            Setting::ArenaMax(v) => (libc::M_ARENA_MAX, v),
            Setting::MmapThreshold(v) => (libc::M_MMAP_THRESHOLD, v),
            Setting::TrimThreshold(v) => (libc::M_TRIM_THRESHOLD, v),
        };
        // SAFETY: `mallopt` only changes malloc's parameters. It is called before the runtime
        // starts any thread. An unknown parameter or value makes it return 0 and change nothing.
        let _ = unsafe { libc::mallopt(param, value) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply(_: &[Setting]) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn moat_sets_the_allocator_unless_the_operator_did() {
        assert_eq!(to_apply(env(&[])), vec![Setting::ArenaMax(2), Setting::MmapThreshold(128 * 1024), Setting::TrimThreshold(256 * 1024)]);
        // A variable the operator set is left as glibc read it; the others are still made.
        assert_eq!(to_apply(env(&[("MALLOC_ARENA_MAX", "8")])), vec![Setting::MmapThreshold(128 * 1024), Setting::TrimThreshold(256 * 1024)]);
        // Tunables say everything the operator wants: moat sets nothing.
        assert_eq!(to_apply(env(&[("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")])), vec![]);
    }
}
