//! moat's allocator settings (`moat::runtime::allocator`), in a process of their own: a large
//! buffer freed goes back to the system, as it would not with glibc's defaults.

/// The tests measure this process's RSS: one at a time.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_large_buffer_freed_goes_back_to_the_system() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // What `main` does first. Without it, freeing the first 4 MiB buffer raises glibc's mmap
    // threshold above 4 MiB, the next one comes from the heap, and freed it stays resident (the
    // trim threshold rises with it, to 8 MiB).
    moat::runtime::allocator::tune();
    let resident = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
    };
    for _ in 0..2 {
        let b = vec![1u8; 4 << 20];
        std::hint::black_box(&b);
        drop(b);
    }
    let before = resident();
    let b = vec![1u8; 4 << 20];
    std::hint::black_box(&b);
    let during = resident();
    drop(b);
    let after = resident();
    assert!(during >= before + 3 * 1024, "the buffer is resident while used: {before} kB, then {during} kB");
    assert!(after + 3 * 1024 <= during, "and given back when freed: {during} kB while used, {after} kB after");
}

/// Memory freed in the middle of the heap (here: 63 of every 64 small buffers) stays
/// resident until something trims it; `moat run` does every `TRIM_EVERY`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn memory_freed_in_the_middle_of_the_heap_goes_back_once_trimmed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let resident = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
    };
    // Run on a thread of its own, as a runtime thread allocates: from one of glibc's mapped heaps.
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut freed = Vec::new();
        for i in 0..200_000u32 {
            let b = vec![(i % 251) as u8; 256];
            if i % 64 == 0 { kept.push(b) } else { freed.push(b) }
        }
        std::hint::black_box(&freed);
        let full = resident();
        drop(freed);
        let after_free = resident();
        assert!(after_free + 16 * 1024 > full, "freed in the middle, it stays resident: {full} kB, then {after_free} kB");
        // What the trimming thread does.
        moat::runtime::allocator::keep_trimmed(std::time::Duration::from_millis(20));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut now = resident();
        while now + 16 * 1024 > after_free && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            now = resident();
        }
        assert!(now + 16 * 1024 <= after_free, "trimmed, at least 16 MiB of the 50 MiB freed goes back: {after_free} kB, then {now} kB");
        std::hint::black_box(&kept);
    })
    .join()
    .expect("the test thread");
}
