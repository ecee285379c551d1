//! Finding the container's leader: its PID 1, the child nspawn starts in the new PID
//! namespace, which `nsenter` targets and which takes the whole container with it when it
//! dies.
//!
//! nspawn announces it over the sd_notify protocol (`X_NSPAWN_LEADER_PID=` next to
//! `STATUS=Container running.`) to whatever socket `NOTIFY_SOCKET` names, whether or not
//! systemd supervises it. The delegate gives it a private abstract socket and waits for
//! that datagram or for nspawn's exit, whichever comes first (no polling). A claimed pid is
//! believed only when /proc confirms it: a child of that nspawn and PID 1 of its own PID
//! namespace. Should no announcement arrive (an nspawn that does not send it), /proc is
//! scanned once after [`ANNOUNCE_TIMEOUT`]; `exec_plan` scans again when it needs the pid.

use crate::delegate::Running;
use crate::proc_stat;
use crate::process::{open_pidfd, wait_readable};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long `start` waits for nspawn to announce its container.
pub(crate) const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) const LEADER_PID: &str = "leader_pid";
pub(crate) const LEADER_START_TIME: &str = "leader_start_time";

/// A datagram socket in the abstract namespace for nspawn's sd_notify messages.
pub(crate) struct NotifySocket {
    socket: tokio::net::UnixDatagram,
    name: String,
}

impl NotifySocket {
    pub(crate) fn bind() -> std::io::Result<NotifySocket> {
        use std::os::linux::net::SocketAddrExt;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "khutulun/nspawn/{}/{}/{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&address)?;
        socket.set_nonblocking(true)?;
        Ok(NotifySocket {
            socket: tokio::net::UnixDatagram::from_std(socket)?,
            name,
        })
    }

    /// The `NOTIFY_SOCKET` value that names this socket.
    pub(crate) fn address(&self) -> String {
        format!("@{}", self.name)
    }

    /// The leader `nspawn` announces, or None when nspawn ends first or says nothing
    /// within `timeout`.
    pub(crate) async fn leader(&self, nspawn: u32, timeout: Duration) -> Option<u32> {
        let exited = open_pidfd(nspawn);
        let ended = async {
            match &exited {
                Some(fd) => wait_readable(fd).await,
                None => std::future::pending().await,
            }
        };
        let announced = async {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok(n) = self.socket.recv(&mut buf).await else {
                    return None;
                };
                let message = String::from_utf8_lossy(&buf[..n]);
                if let Some(pid) = announced_leader(&message) {
                    if is_leader_of(pid, nspawn) {
                        return Some(pid);
                    }
                    // A container that ended at once is simply gone; anything else is odd.
                    if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                        tracing::warn!(
                            pid,
                            nspawn,
                            "ignoring a leader announcement /proc does not confirm"
                        );
                    }
                }
            }
        };
        tokio::select! {
            pid = announced => pid,
            _ = ended => None,
            _ = tokio::time::sleep(timeout) => {
                tracing::warn!(nspawn, "systemd-nspawn announced no leader within {timeout:?}; looking in /proc");
                find_leader(nspawn)
            }
        }
    }
}

/// The pid in an `X_NSPAWN_LEADER_PID=` line of an sd_notify message.
pub(crate) fn announced_leader(message: &str) -> Option<u32> {
    message
        .lines()
        .find_map(|line| line.strip_prefix("X_NSPAWN_LEADER_PID="))
        .and_then(|pid| pid.trim().parse().ok())
}

/// (parent pid, pids in each nested PID namespace) from `/proc/<pid>/status`.
fn parent_and_namespace_pids(pid: u32) -> Option<(u32, Vec<u32>)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut parent = None;
    let mut nspids = None;
    for line in status.lines() {
        if let Some(value) = line.strip_prefix("PPid:") {
            parent = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("NSpid:") {
            nspids = value
                .split_whitespace()
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u32>>>();
        }
    }
    Some((parent?, nspids?))
}

/// True when `pid` is a child of `nspawn` and PID 1 of a PID namespace of its own.
pub(crate) fn is_leader_of(pid: u32, nspawn: u32) -> bool {
    match parent_and_namespace_pids(pid) {
        Some((parent, nspids)) => parent == nspawn && nspids.len() > 1 && nspids.last() == Some(&1),
        None => false,
    }
}

/// Looks through /proc for the leader of `nspawn`.
pub(crate) fn find_leader(nspawn: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| is_leader_of(*pid, nspawn))
}

/// The leader recorded in `running`, as (pid, start time).
fn recorded(running: &Running) -> Option<(u32, u64)> {
    let pid = running.handle.get(LEADER_PID)?.as_u64()?;
    let start = running.handle.get(LEADER_START_TIME)?.as_u64()?;
    Some((u32::try_from(pid).ok()?, start))
}

/// The live leader of the container `running` describes: the recorded one when it is still
/// the same process, else whichever /proc shows under its nspawn.
pub(crate) fn current(running: &Running) -> Option<u32> {
    if let Some((pid, start)) = recorded(running) {
        if proc_stat::start_time(pid) == Some(start) {
            return Some(pid);
        }
    }
    let nspawn = running.pid?;
    if running.pid_start_time.is_some() && proc_stat::start_time(nspawn) != running.pid_start_time {
        return None;
    }
    find_leader(nspawn)
}

/// The recorded leader when it is still alive and the same process, as a pidfd.
fn live_recorded(running: &Running) -> Option<(u32, OwnedFd)> {
    let (pid, start) = recorded(running)?;
    // The pidfd pins the process: checking its start time afterwards rules out a reused pid.
    let fd = open_pidfd(pid)?;
    (proc_stat::start_time(pid) == Some(start)).then_some((pid, fd))
}

/// After nspawn is gone: a container it left behind (nspawn killed by SIGKILL cannot take
/// it down, and nothing else would) is killed through its leader, and this returns once the
/// leader, and with it the whole PID namespace, has ended.
pub(crate) async fn kill_orphan(running: &Running) {
    let Some((pid, fd)) = live_recorded(running) else {
        return;
    };
    tracing::warn!(
        leader = pid,
        nspawn = running.pid,
        "systemd-nspawn is gone but its container is not; killing it"
    );
    if let Err(e) = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL) {
        tracing::warn!(leader = pid, "cannot kill the container's leader: {e}");
        return;
    }
    wait_readable(&fd).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_announced_leader() {
        assert_eq!(
            announced_leader("STATUS=Container running.\nX_NSPAWN_LEADER_PID=4242"),
            Some(4242)
        );
        assert_eq!(announced_leader("READY=1\n"), None);
        assert_eq!(announced_leader("X_NSPAWN_LEADER_PID=x"), None);
    }

    #[test]
    fn an_ordinary_process_is_no_leader() {
        let me = std::process::id();
        let parent = rustix::process::getppid()
            .map(|p| p.as_raw_pid() as u32)
            .unwrap_or(0);
        assert!(!is_leader_of(me, parent));
        assert_eq!(find_leader(me), None);
    }
}
