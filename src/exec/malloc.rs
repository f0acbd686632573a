//! glibc malloc settings for a process that trains with libtorch on the CPU: large tensor buffers are
//! kept and reused instead of being mapped and unmapped at every step.
//!
//! libtorch's CPU allocator takes every tensor from glibc's `malloc`. By default glibc serves a block
//! above its (dynamic) mmap threshold with a fresh `mmap` and returns it with `munmap` when it is freed,
//! and trims the heap top back to the kernel above 128 KiB free: a training step that allocates and
//! frees activations of a few MB each then pays a page fault per 4 KiB page of every activation, every
//! step. Measured with `scripts/bench.sh` (Fashion-MNIST, batch 500 evaluation), this roughly halved
//! nasl's candidate-evaluation throughput and inflated peak memory. [`tune`] fixes the mmap threshold at
//! glibc's maximum (32 MiB on 64-bit) and keeps up to 256 MiB of freed heap top, so steady-state steps
//! reuse the same pages. Other platforms and allocators are left alone.

/// Blocks below this size come from the heap (glibc's upper limit for the threshold on 64-bit).
pub const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the heap top kept for reuse rather than returned to the kernel.
pub const TRIM_THRESHOLD: i32 = 256 << 20;

/// Applies the settings to this process (idempotent; call before the first tensor is made). Returns
/// whether glibc accepted both. An explicit `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in
/// the environment wins: the user's setting is left as it is.
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set = |var: &str, param: i32, value: i32| {
            // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
            std::env::var_os(var).is_some() || unsafe { libc::mallopt(param, value) } == 1
        };
        let a = set(
            "MALLOC_MMAP_THRESHOLD_",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
        );
        let b = set(
            "MALLOC_TRIM_THRESHOLD_",
            libc::M_TRIM_THRESHOLD,
            TRIM_THRESHOLD,
        );
        a && b
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// glibc accepts both values (a threshold above its limit would be refused and change nothing).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::tune());
    }
}
