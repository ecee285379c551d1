//! The lifeline: a descriptor the agent keeps open and every process it starts inherits
//! (`ProcessSpec::lifeline_fd`), and so does whatever those processes start, daemons that
//! left their session or process group included. Whoever holds it is one of the host's
//! workloads: a sweep of the holders finds what a stop by process group misses, and what
//! the agent's own bookkeeping may not know yet (a start still under way).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Duration;

/// What a descriptor of this process points at (`/proc/self/fd/N`), the key to compare.
fn target_of(fd: BorrowedFd<'_>) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

/// Whether process `pid` has a descriptor open on `target`.
fn holds(pid: u32, target: &PathBuf) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    // readlink only: no call reaches the file's filesystem (which may be a stalled NFS).
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| &t == target))
}

/// The processes, other than this one, that hold the file `lifeline` is open on.
pub fn holders(lifeline: BorrowedFd<'_>) -> Vec<u32> {
    let Some(target) = target_of(lifeline) else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && holds(*pid, &target))
        .collect()
}

/// A process found holding the lifeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its session: a workload's own pid, unless the process left that session.
    pub session: Option<u32>,
}

/// Ends every holder of the lifeline: SIGTERM, then SIGKILL to those still holding it after
/// `grace`. Returns those found at first. Blocking (it reads /proc and waits): call it off
/// the async workers.
pub fn end_holders(lifeline: BorrowedFd<'_>, grace: Duration) -> Vec<Holder> {
    let Some(target) = target_of(lifeline) else {
        return Vec::new();
    };
    let pids = holders(lifeline);
    let found: Vec<Holder> = pids
        .iter()
        .map(|pid| Holder {
            pid: *pid,
            session: crate::proc_stat::session(*pid),
        })
        .collect();
    crate::ending::term_then_kill(
        &pids,
        || holders(lifeline),
        |pid| holds(pid, &target),
        grace,
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn a_child_that_left_its_session_is_found_and_ended() {
        let dir = tempfile::tempdir().unwrap();
        let lifeline = std::fs::File::create(dir.path().join("workloads.lock")).unwrap();
        let other = std::fs::File::create(dir.path().join("other")).unwrap();
        let fd = lifeline.as_raw_fd();
        // The shell leaves a child in a session of its own, as a daemon does.
        let mut shell = Command::new("sh");
        shell.args(["-c", "setsid sleep 3600 & wait"]);
        unsafe {
            shell.pre_exec(move || {
                let fd = BorrowedFd::borrow_raw(fd);
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
                Ok(())
            });
        }
        let mut shell = shell.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = holders(lifeline.as_fd());
        while found.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = holders(lifeline.as_fd());
        }
        assert!(found.contains(&shell.id()), "{found:?}");
        assert_eq!(found.len(), 2, "the shell and the daemon: {found:?}");
        assert!(holders(other.as_fd()).is_empty());

        let ended = end_holders(lifeline.as_fd(), Duration::from_secs(2));
        assert_eq!(ended.len(), 2);
        let shell_session = ended.iter().find(|h| h.pid == shell.id()).unwrap().session;
        let daemon = ended.iter().find(|h| h.pid != shell.id()).unwrap();
        assert_eq!(
            daemon.session,
            Some(daemon.pid),
            "setsid made it a session leader"
        );
        assert_ne!(shell_session, daemon.session);
        assert!(holders(lifeline.as_fd()).is_empty());
        let _ = shell.wait();
    }
}
