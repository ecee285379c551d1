//! Ending processes that are not our children, found by a look at /proc (the holders of
//! the lifeline, the carriers of an instance's mark).

use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::time::{Duration, Instant};

/// Ends `found`: SIGTERM, then SIGKILL to those `find` still returns after `grace`. Each
/// is signalled through a pidfd taken before `still(pid)` checks it again, so a pid reused
/// in between is never signalled. Blocking (it reads /proc and waits): call it off the
/// async workers.
pub(crate) fn term_then_kill(
    found: &[u32],
    find: impl Fn() -> Vec<u32>,
    still: impl Fn(u32) -> bool,
    grace: Duration,
) {
    if found.is_empty() {
        return;
    }
    signal(found, &still, Signal::TERM);
    let deadline = Instant::now() + grace;
    loop {
        let left = find();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            // SIGKILL is not refused; what is left now is on its way out.
            signal(&left, &still, Signal::KILL);
            return;
        }
        // Exits are not announced to a non-parent; a short look again is the simple way.
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pids: &[u32], still: &impl Fn(u32) -> bool, signal: Signal) {
    for pid in pids {
        let Some(raw) = Pid::from_raw(*pid as i32) else {
            continue;
        };
        let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
            continue;
        };
        if still(*pid) {
            let _ = pidfd_send_signal(&pidfd, signal);
        }
    }
}
