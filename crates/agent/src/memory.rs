//! Memory a flow no longer needs goes back to the system: a deploy or delete of many
//! instances allocates on many threads, and glibc keeps what they freed in its arenas.

/// Returns the free memory of every malloc arena to the system (glibc's `malloc_trim`);
/// elsewhere nothing. Cheap enough to call once per finished flow.
pub fn give_back() {
    trim();
}

/// A thread of the runtime stopped: what its malloc cache held goes back to its arena as
/// the thread exits, so the arenas are trimmed once more, shortly after (once for a burst
/// of stops: the blocking threads of a mass flow exit together).
fn thread_stopped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static PENDING: AtomicBool = AtomicBool::new(false);
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("memory-trim".into())
        .spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(500));
            PENDING.store(false, Ordering::Release);
            trim();
        });
    if spawned.is_err() {
        PENDING.store(false, Ordering::Release);
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; no pointer changes.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long an idle blocking thread lives (tokio's default is 10 s).
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// Blocking threads the agent's runtime may start (tokio's default is 512). A mass start
/// or stop makes blocking calls on every instance at once; hundreds of threads, each with
/// its stack and its malloc arena, stayed in the agent's memory after the flow.
pub const BLOCKING_THREADS: usize = 64;
/// malloc arenas (glibc's default is eight per core): memory freed on one thread's arena
/// is reused by fewer others, so less of it stays spread over many arenas.
const MALLOC_ARENAS: i32 = 4;

/// The async runtime an agent runs on, with its memory bounded as above. Call it before
/// any other thread exists.
pub fn agent_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .on_thread_stop(thread_stopped)
        .build()
}
