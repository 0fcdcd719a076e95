//! moat's allocator settings (`moat::runtime::allocator`), in a process of their own: a large
//! buffer freed goes back to the system, as it would not with glibc's defaults.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_large_buffer_freed_goes_back_to_the_system() {
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
