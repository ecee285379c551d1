//! Crash points: named places in the flows where a test can have the agent die as by
//! `kill -9` (`KHUTULUN_TEST_CRASH_AT=<point>` or `<point>:<n>` for the n-th time it is
//! reached), to show that a restarted agent finds a consistent state whatever the moment.
//! Without the variable a point costs one load of a cached value.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The variable tests set on the agent they mean to crash.
pub const VARIABLE: &str = "KHUTULUN_TEST_CRASH_AT";

struct Target {
    point: String,
    nth: u32,
    seen: AtomicU32,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let value = std::env::var(VARIABLE).ok()?;
            let (point, nth) = parse(&value);
            Some(Target {
                point,
                nth,
                seen: AtomicU32::new(0),
            })
        })
        .as_ref()
}

/// `point` or `point:n` (n counts from 1).
fn parse(value: &str) -> (String, u32) {
    match value.rsplit_once(':') {
        Some((point, n)) => match n.parse::<u32>() {
            Ok(n) if n > 0 => (point.to_owned(), n),
            _ => (value.to_owned(), 1),
        },
        None => (value.to_owned(), 1),
    }
}

/// Dies here when a test asked for this point (and this is the asked-for time).
pub fn point(name: &str) {
    let Some(target) = target() else {
        return;
    };
    if target.point != name {
        return;
    }
    if target.seen.fetch_add(1, Ordering::SeqCst) + 1 == target.nth {
        eprintln!(
            "crash point {name} (time {}): the agent kills itself",
            target.nth
        );
        // SIGKILL, as a crash or the OOM killer would: no destructor, no flush runs.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn points_and_counts_are_parsed() {
        assert_eq!(
            super::parse("deploy.committed"),
            ("deploy.committed".into(), 1)
        );
        assert_eq!(
            super::parse("deploy.instance-written:3"),
            ("deploy.instance-written".into(), 3)
        );
        assert_eq!(super::parse("x:0"), ("x:0".into(), 1));
    }
}
