//! Reading /proc/<pid>/stat: the start time that tells a live process from a reused pid.

/// The fields of /proc/<pid>/stat from field 3 (state) on, if the process exists. (The
/// command name, field 2, is in parentheses and may contain spaces or ')'.)
fn fields_after_comm(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.get(text.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// (state letter, start time in clock ticks since boot) of a process, if it exists.
pub fn state_and_start_time(pid: u32) -> Option<(char, u64)> {
    let fields = fields_after_comm(pid)?;
    // Starttime is field 22.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some((state, start))
}

/// The start time of a live (not zombie) process.
pub fn start_time(pid: u32) -> Option<u64> {
    match state_and_start_time(pid)? {
        ('Z', _) | ('X', _) => None,
        (_, start) => Some(start),
    }
}

/// The session id of a process (field 6), if it exists.
pub fn session(pid: u32) -> Option<u32> {
    // From field 3: state, ppid, pgrp, session.
    fields_after_comm(pid)?.get(3)?.parse().ok()
}

/// Pids of the live (not zombie) processes of process group `pgid`.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Some(fields) = fields_after_comm(*pid) else {
                return false;
            };
            // From field 3: state, ppid, pgrp.
            let live = !matches!(fields.first().map(String::as_str), Some("Z") | Some("X"));
            live && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_start_time() {
        let me = std::process::id();
        let (state, start) = super::state_and_start_time(me).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert!(start > 0);
        assert_eq!(super::start_time(me), Some(start));
        assert_eq!(super::start_time(u32::MAX / 2), None);
        // getsid(2) says 0 when our session's leader is outside this pid namespace (as in
        // a container); rustix's Pid cannot hold 0, so ask libc.
        let sid = unsafe { libc::getsid(0) };
        assert!(sid >= 0);
        assert_eq!(super::session(me), Some(sid as u32));
    }

    #[test]
    fn a_session_leader_s_session_is_its_own_pid() {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("sleep");
        command.arg("30");
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap();
        let seen = super::session(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, Some(child.id()));
    }
}
