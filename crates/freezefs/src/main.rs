//! `freezefs [--until-stdin-closes] SOURCE_DIR MOUNTPOINT`: mounts a passthrough of
//! SOURCE_DIR at MOUNTPOINT (FUSE, in the foreground; needs root: it mounts with mount(2)
//! itself, no fusermount) and keeps it there until SIGTERM, SIGINT or SIGHUP.
//!
//! - SIGUSR1 freezes: from then on no filesystem request is answered; callers wait.
//! - SIGUSR2 thaws: every waiting request is answered, and new ones are answered at once.
//! - `--until-stdin-closes`: the end of standard input counts as SIGTERM, so a driver that
//!   dies without cleaning up (its end of a pipe closes) takes the mount with it.
//! - SIGTERM/SIGINT/SIGHUP thaw, unmount and exit 0. The requests the thaw released are
//!   answered first; a mount still busy after a grace period (an open file, a working
//!   directory) is detached lazily, and its users get errors (ENOTCONN/ECONNABORTED).
//!
//! One line on stdout reports each step, so a driver can wait for it: `mounted` once the
//! mount answers, `frozen` / `thawed` once the new state holds (every request that arrives
//! after `frozen` waits), `unmounted` before a clean exit.

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use freezefs::{FreezeFs, Gate};
use fuser::{Config, MountOption, Session, SessionACL};

const USAGE: &str = "usage: freezefs [--until-stdin-closes] SOURCE_DIR MOUNTPOINT\n\
  SIGUSR1 freezes (requests wait), SIGUSR2 thaws, SIGTERM/SIGINT unmounts and exits";

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A driver that stopped reading is no reason to stop serving.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The signals this process handles, blocked in every thread and taken with `sigtimedwait`.
fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset is given valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
        ] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// The next signal of `set`, or None after `timeout_ms` without one.
fn next_signal(set: &libc::sigset_t, timeout_ms: i64) -> Option<i32> {
    let timeout = libc::timespec {
        tv_sec: timeout_ms / 1000,
        tv_nsec: (timeout_ms % 1000) * 1_000_000,
    };
    // SAFETY: valid pointers to a set and a timespec; the siginfo pointer may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    (sig > 0).then_some(sig)
}

/// How long unmounting waits for the mount to become idle (requests released by the thaw
/// finish) before it detaches the mount.
const IDLE_GRACE: Duration = Duration::from_secs(3);

/// Unmounts `mountpoint`. While it is busy (requests in flight: the thaw has just released
/// them; or an open file, a working directory) it retries for [`IDLE_GRACE`], then detaches
/// it instead: the mount disappears from the namespace at once, and its remaining users get
/// errors once this process exits and closes the FUSE connection.
fn unmount(mountpoint: &Path) -> std::io::Result<()> {
    let path = CString::new(mountpoint.as_os_str().as_bytes())?;
    let deadline = Instant::now() + IDLE_GRACE;
    loop {
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EBUSY) {
            return Err(err);
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "freezefs: {} still busy after {IDLE_GRACE:?}: detaching it",
        mountpoint.display()
    );
    // SAFETY: as above.
    if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Raises SIGTERM (taken by the main loop) once standard input reaches its end.
fn watch_stdin() {
    std::thread::spawn(|| {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    });
}

fn run(source: PathBuf, mountpoint: PathBuf, until_stdin_closes: bool) -> Result<(), String> {
    let set = signal_set();
    // Block before any thread starts, so every thread inherits the mask and the signals
    // wait for `sigtimedwait` below instead of killing the process.
    // SAFETY: a valid set; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(format!(
            "pthread_sigmask: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    // The kernel applies the caller's umask to new files before asking us; ours must not
    // apply a second one.
    rustix::process::umask(rustix::fs::Mode::empty());

    let source = source
        .canonicalize()
        .map_err(|e| format!("source {}: {e}", source.display()))?;
    let mountpoint = mountpoint
        .canonicalize()
        .map_err(|e| format!("mountpoint {}: {e}", mountpoint.display()))?;

    let gate = Arc::new(Gate::new());
    let fs = FreezeFs::new(&source, gate.clone())
        .map_err(|e| format!("source {}: {e}", source.display()))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("freezefs".into()),
        MountOption::Subtype("freezefs".into()),
        MountOption::DefaultPermissions,
    ];
    // Like a real shared filesystem: every user may use it, the kernel checks permissions.
    config.acl = SessionACL::All;
    // Session::new mounts and completes the FUSE handshake: the mount answers from here on.
    let session = Session::new(fs, &mountpoint, &config)
        .map_err(|e| format!("mount at {}: {e}", mountpoint.display()))?;
    let background = session.spawn().map_err(|e| format!("start serving: {e}"))?;
    say("mounted");
    if until_stdin_closes {
        watch_stdin();
    }

    loop {
        match next_signal(&set, 200) {
            Some(libc::SIGUSR1) => {
                gate.freeze();
                say("frozen");
            }
            Some(libc::SIGUSR2) => {
                gate.thaw();
                say("thawed");
            }
            Some(_) => break,
            None => {
                if background.guard.is_finished() {
                    // Unmounted from outside (umount, or the connection was aborted).
                    eprintln!("freezefs: {} is no longer mounted", mountpoint.display());
                    return Ok(());
                }
            }
        }
    }

    gate.thaw();
    unmount(&mountpoint).map_err(|e| format!("unmount {}: {e}", mountpoint.display()))?;
    say("unmounted");
    // Exit without joining the serving thread: exiting closes the FUSE connection.
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let until_stdin_closes = args.first().is_some_and(|a| a == "--until-stdin-closes");
    if until_stdin_closes {
        args.remove(0);
    }
    if args.len() != 2 || args[0].to_str().is_some_and(|a| a.starts_with('-')) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let result = run(
        PathBuf::from(&args[0]),
        PathBuf::from(&args[1]),
        until_stdin_closes,
    );
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("freezefs: {e}");
            1
        }
    };
    // Not returning from main: the serving thread may still hold the session, and its
    // destructors (joining, unmounting again) are not wanted.
    std::process::exit(code)
}
