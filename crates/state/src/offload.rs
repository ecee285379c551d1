//! Filesystem calls may block for as long as the filesystem does (an NFS server that stops
//! answering, a lock held by another host). The state crate has no async runtime; the agent
//! installs a hook that runs each blocking section where it cannot hold an async worker
//! hostage (tokio's `block_in_place`). Without a hook, sections run in place.

use std::cell::Cell;
use std::sync::OnceLock;

/// Runs the closure it is given, somewhere a blocked thread does no harm.
pub type BlockingHook = fn(&mut dyn FnMut());

static HOOK: OnceLock<BlockingHook> = OnceLock::new();

thread_local! {
    /// Inside a section already: nested sections run in place.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook for the whole process (the first one wins).
pub fn install_blocking_hook(hook: BlockingHook) {
    let _ = HOOK.set(hook);
}

/// Runs `f`, a section that may block on the filesystem, through the installed hook.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    let hook = match HOOK.get() {
        Some(hook) if !INSIDE.with(Cell::get) => hook,
        _ => return f(),
    };
    let mut f = Some(f);
    let mut out = None;
    hook(&mut || {
        let f = f.take().expect("a blocking section runs once");
        INSIDE.with(|inside| inside.set(true));
        out = Some(f());
        INSIDE.with(|inside| inside.set(false));
    });
    out.expect("the blocking hook must run the section")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_return_their_value_without_a_hook() {
        assert_eq!(blocking(|| 41 + 1), 42);
        assert_eq!(blocking(|| blocking(|| "nested")), "nested");
    }
}
