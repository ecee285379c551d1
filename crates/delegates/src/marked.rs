//! Processes found by a mark in the environment they started with. Every process of an
//! instance carries its instance's directory (`KHUTULUN_INSTANCE_DIR`), and so does
//! everything it starts, daemons that left its session included: an agent that died between
//! starting a process and recording it finds the process by this mark and ends it, and a
//! stop ends what the recorded process left behind.

use std::time::Duration;

/// True when the NUL-separated `environ` holds exactly `key=value`.
pub fn environ_has(environ: &[u8], key: &str, value: &str) -> bool {
    let wanted = format!("{key}={value}");
    environ
        .split(|b| *b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// The live processes (not zombies) whose environment holds `key=value`, but never this
/// process.
pub fn processes_marked(key: &str, value: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ_has(&environ, key, value))
        })
        .filter(|pid| crate::proc_stat::start_time(*pid).is_some())
        .collect()
}

/// Ends every process marked `key=value`: SIGTERM, then SIGKILL to those left after
/// `grace`. Returns the pids found at first. Blocking (it reads /proc and waits): call it
/// off the async workers.
pub fn end_marked(key: &str, value: &str, grace: Duration) -> Vec<u32> {
    let found = processes_marked(key, value);
    crate::ending::term_then_kill(
        &found,
        || processes_marked(key, value),
        |pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ_has(&environ, key, value))
        },
        grace,
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn the_mark_must_match_a_whole_entry() {
        let environ = b"A=1\0KHUTULUN_INSTANCE_DIR=/d/x-0\0B=2\0";
        assert!(environ_has(environ, "KHUTULUN_INSTANCE_DIR", "/d/x-0"));
        assert!(!environ_has(environ, "KHUTULUN_INSTANCE_DIR", "/d/x"));
        assert!(!environ_has(environ, "KHUTULUN_INSTANCE_DIR", "/d/x-01"));
        assert!(!environ_has(environ, "INSTANCE_DIR", "/d/x-0"));
    }

    #[test]
    fn marked_processes_and_their_daemons_are_found_and_ended() {
        let mark = format!("/tmp/marked-test-{}", std::process::id());
        // A process that leaves a daemon in a session of its own, then goes on itself.
        let mut parent = Command::new("sh")
            .args(["-c", "setsid sleep 3600 & exec sleep 3601"])
            .env("KHUTULUN_INSTANCE_DIR", &mark)
            .spawn()
            .unwrap();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = processes_marked("KHUTULUN_INSTANCE_DIR", &mark);
            if found.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&parent.id()));
        let ended = end_marked("KHUTULUN_INSTANCE_DIR", &mark, Duration::from_secs(5));
        assert_eq!(ended.len(), 2);
        parent.wait().unwrap();
        assert!(processes_marked("KHUTULUN_INSTANCE_DIR", &mark).is_empty());
    }
}
