//! Small operating-system calls that do not belong to one layer.

/// Hands the heap memory freed so far back to the kernel. Loading a model builds and drops
/// tens of megabytes of small allocations (the vocabulary, the merge list, the BPE
/// tables); glibc keeps such freed heap resident, and it would count in the process's
/// peak RSS for as long as it lives.
pub(crate) fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it does not touch
    // memory in use and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
