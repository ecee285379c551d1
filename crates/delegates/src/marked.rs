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

/// True when the NUL-separated `environ` holds `key=<dir>/...`: a mark of something inside
/// `dir`.
pub fn environ_has_within(environ: &[u8], key: &str, dir: &str) -> bool {
    let wanted = format!("{key}={}/", dir.trim_end_matches('/'));
    environ
        .split(|b| *b == 0)
        .any(|entry| entry.starts_with(wanted.as_bytes()))
}

/// The live processes (not zombies) whose environment holds `key=value`, but never this
/// process.
pub fn processes_marked(key: &str, value: &str) -> Vec<u32> {
    processes_whose_environ(|environ| environ_has(environ, key, value))
}

/// The live processes marked with anything inside `dir` (`key=<dir>/...`): one pass over
/// /proc for the marks of many instances.
pub fn processes_marked_within(key: &str, dir: &str) -> Vec<u32> {
    processes_whose_environ(|environ| environ_has_within(environ, key, dir))
}

fn processes_whose_environ(matches: impl Fn(&[u8]) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| matches(&environ))
        })
        .filter(|pid| crate::proc_stat::start_time(*pid).is_some())
        .collect()
}

/// Ends every process marked `key=value`: SIGTERM, then SIGKILL to those left after
/// `grace`. Returns the pids found at first. Blocking (it reads /proc and waits): call it
/// off the async workers.
pub fn end_marked(key: &str, value: &str, grace: Duration) -> Vec<u32> {
    end_found(
        processes_marked(key, value),
        || processes_marked(key, value),
        |environ| environ_has(environ, key, value),
        grace,
    )
}

/// [`end_marked`] for every mark inside `dir`: what a whole service's stop left behind on
/// this host, in one pass over /proc.
pub fn end_marked_within(key: &str, dir: &str, grace: Duration) -> Vec<u32> {
    end_found(
        processes_marked_within(key, dir),
        || processes_marked_within(key, dir),
        |environ| environ_has_within(environ, key, dir),
        grace,
    )
}

/// [`end_marked`] for several marks at once (`key=<one of values>`): one pass over /proc.
pub fn end_marked_among(
    key: &str,
    values: &std::collections::BTreeSet<String>,
    grace: Duration,
) -> Vec<u32> {
    let among = |environ: &[u8]| values.iter().any(|value| environ_has(environ, key, value));
    end_found(
        processes_whose_environ(among),
        || processes_whose_environ(among),
        among,
        grace,
    )
}

fn end_found(
    found: Vec<u32>,
    again: impl Fn() -> Vec<u32>,
    still_marked: impl Fn(&[u8]) -> bool,
    grace: Duration,
) -> Vec<u32> {
    crate::ending::term_then_kill(
        &found,
        again,
        |pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| still_marked(&environ))
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
        assert!(environ_has_within(environ, "KHUTULUN_INSTANCE_DIR", "/d"));
        assert!(environ_has_within(environ, "KHUTULUN_INSTANCE_DIR", "/d/"));
        assert!(!environ_has_within(
            environ,
            "KHUTULUN_INSTANCE_DIR",
            "/d/x-0"
        ));
        assert!(!environ_has_within(
            b"KHUTULUN_INSTANCE_DIR=/dx/y\0",
            "KHUTULUN_INSTANCE_DIR",
            "/d"
        ));
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

    #[test]
    fn only_the_processes_with_one_of_the_marks_are_ended() {
        let mark = |tag: &str| format!("/tmp/marked-among-{}-{tag}", std::process::id());
        let start = |tag: &str| {
            Command::new("sleep")
                .arg("3600")
                .env("KHUTULUN_INSTANCE_DIR", mark(tag))
                .spawn()
                .unwrap()
        };
        let mut children = [start("a"), start("b"), start("c")];
        // spawn returns once the child's descriptors closed on exec, a moment before the
        // kernel points /proc/<pid>/environ at the new environment: wait until all show.
        for (child, tag) in children.iter().zip(["a", "b", "c"]) {
            let mut seen = false;
            for _ in 0..500 {
                seen = processes_marked("KHUTULUN_INSTANCE_DIR", &mark(tag)) == [child.id()];
                if seen {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(seen, "process {} never showed its mark", child.id());
        }
        let wanted: std::collections::BTreeSet<String> = [mark("a"), mark("b")].into();
        let mut ended = end_marked_among("KHUTULUN_INSTANCE_DIR", &wanted, Duration::from_secs(5));
        ended.sort();
        let mut expected = vec![children[0].id(), children[1].id()];
        expected.sort();
        assert_eq!(ended, expected);
        assert_eq!(
            processes_marked("KHUTULUN_INSTANCE_DIR", &mark("c")),
            [children[2].id()]
        );
        children[2].kill().unwrap();
        for child in &mut children {
            child.wait().unwrap();
        }
    }
}
