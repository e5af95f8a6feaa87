//! Allocator settings for a worker's allocation pattern.
//!
//! A proxy streaming large bodies allocates and frees 64 KiB read buffers at a high rate. With
//! glibc's defaults, every free that leaves more than 128 KiB at the top of the heap gives the
//! memory back to the kernel (`brk`), and the next allocation faults it in again as zeroed pages:
//! on the `large` benchmark that cost a fifth of the worker's time (page faults inside `read`'s
//! copy, `clear_page`, `brk`). Keeping a bounded slack at the top of the heap removes that churn;
//! a worker that once held more than `TRIM_THRESHOLD` of free heap still returns it.

/// Free heap above this size at the top of the heap goes back to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 << 20;
/// Extra heap requested with each `brk` growth, so that bursts do not grow it 64 KiB at a time.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TOP_PAD: libc::c_int = 1 << 20;

/// Applies the settings; called once when a worker starts, before it serves anything.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes allocator parameters; it is called before the worker
        // has other threads (it has none).
        let ok = unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
                && libc::mallopt(libc::M_TOP_PAD, TOP_PAD) == 1
        };
        if !ok {
            log::debug!("allocator tuning (mallopt) not applied");
        }
    }
}
