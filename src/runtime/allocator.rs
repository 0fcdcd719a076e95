//! The memory allocator's settings, made before any thread starts, and the trimming that gives
//! freed memory back to the system.
//!
//! moat runs on glibc (the image is distroless `cc`). Left at its defaults, glibc's `malloc`
//! keeps far more memory resident than moat's heap holds. In the 500-workspace benchmark, at
//! 1,822 s (170 of 500 Ready), `malloc_stats` showed 117 MB taken from the system and
//! 51 MB in use: its second arena held 80.5 MB for 17.5 MB in use. That arena is one of glibc's
//! mapped heaps, which it shrinks only from the top, so freed memory in the middle stays
//! resident. `malloc_trim(0)` gives such memory back: called once there, it took the RSS from 138
//! to 96 MB.
//!
//! So, before the runtime starts ([`tune`]):
//! - at most two arenas (`M_ARENA_MAX`). glibc may give each thread that allocates its own
//!   arena, up to 8 per core, and memory freed in one arena is not reused by another; moat's
//!   work is I/O-bound and runs on a few runtime threads;
//! - a fixed 128 KiB `M_MMAP_THRESHOLD` and a 256 KiB `M_TRIM_THRESHOLD`. By default, the first
//!   large buffer freed raises the threshold to its size (up to 32 MiB), and later buffers of
//!   that size come from the heap instead of a mapping of their own that is given back when
//!   freed: an Activity Log page, a LIST answer, a batch of watch events;
//!
//! and while `moat run` runs, [`keep_trimmed`] calls `malloc_trim(0)` every [`TRIM_EVERY`] from
//! a thread of its own.
//!
//! A variable the operator sets (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
//! `MALLOC_TRIM_THRESHOLD_`) wins: glibc read it at start, and moat does not override it. With any
//! `GLIBC_TUNABLES`, moat sets nothing and does not trim. `docs/benchmarks.md` has the figures.

use std::time::Duration;

/// How often `moat run` gives freed memory back ([`keep_trimmed`]).
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

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

fn env(k: &str) -> Option<String> {
    std::env::var_os(k).map(|v| v.to_string_lossy().into_owned())
}

/// Applies [`to_apply`] for this process's environment. Call it first thing in `main`, before
/// any thread starts. Elsewhere than on glibc, it does nothing.
pub fn tune() {
    apply(&to_apply(env));
}

/// Starts a thread that gives the memory glibc holds free back to the system, in every arena
/// (`malloc_trim(0)`), every `every`, for as long as the process runs, unless the
/// operator set `GLIBC_TUNABLES`. Elsewhere than on glibc, starts nothing.
pub fn keep_trimmed(every: Duration) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || env("GLIBC_TUNABLES").is_some() {
        return;
    }
    let started = std::thread::Builder::new().name("moat-malloc-trim".into()).spawn(move || {
        loop {
            std::thread::sleep(every);
            trim_now();
        }
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "could not start the thread that gives freed memory back to the system");
    }
}

/// `malloc_trim(0)`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_now() {
    // SAFETY: `malloc_trim` walks glibc's arenas under their locks and only gives free pages back.
    let _ = unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_now() {}

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
