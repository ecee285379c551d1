//! Memory a flow no longer needs goes back to the system: a deploy or delete of many
//! instances allocates on many threads, and glibc keeps what they freed in its arenas.

/// Returns the free memory at the top of every malloc arena to the system (glibc's
/// `malloc_trim`); elsewhere nothing. Cheap enough to call once per finished flow.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; no pointer changes.
    unsafe {
        libc::malloc_trim(0);
    }
}
