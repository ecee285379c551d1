//! Starting a process without copying the agent: `clone(CLONE_VM | CLONE_VFORK)`.
//!
//! `fork` in a multi-threaded agent copies its page tables (a cost that grows with its
//! memory) and leaves the child with locks other threads held. posix_spawn avoids both, but
//! cannot join the instance's cgroups (glibc has no such attribute). So this does what
//! posix_spawn does inside, with that step added: the child borrows the parent's memory on
//! a stack of its own, the parent's thread waits until the child has exec'd or failed, and
//! the child makes only raw system calls (no allocation, no locks, no glibc wrapper that
//! walks the parent's threads, such as `setuid`).
//!
//! The child is born in its v2 cgroup where it can be (`clone3` with `CLONE_INTO_CGROUP`,
//! x86_64, Linux 5.7 or later): a process that writes itself into `cgroup.procs` is
//! migrated, and a migration waits for an RCU grace period (about 10 ms) unless another one
//! just happened. The v1 hierarchies that carry limits on hybrid hosts are still joined by
//! writing `cgroup.procs`. Where clone3 is refused, the child joins the v2 cgroup that way too.
//!
//! Everything the child needs (C strings, pointer arrays, descriptors) is prepared by
//! [`Launch::new`] in the parent before the clone.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cgroup::CgroupEntry;

/// The child's stack: its frames are small and it makes no calls that recurse.
const CHILD_STACK: usize = 128 * 1024;

/// What a failed child reports: which step, and errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Signals,
    Session,
    Cgroup,
    Descriptors,
    User,
    WorkingDirectory,
    Exec,
}

impl Step {
    /// What the child was doing, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Signals => "reset signal handlers",
            Step::Session => "start a session (setsid)",
            Step::Cgroup => "join the instance cgroup",
            Step::Descriptors => "set up standard input and output",
            Step::User => "switch user",
            Step::WorkingDirectory => "enter the working directory",
            Step::Exec => "execute",
        }
    }
}

/// A process to start, prepared for the child.
pub struct Launch {
    program: CString,
    /// NUL-terminated.
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    working_directory: CString,
    /// Owners of the strings the pointers point into.
    _strings: Vec<CString>,
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// The instance cgroup: born in its v2 directory, or written into its `cgroup.procs`
    /// files (opened for writing).
    cgroup: Option<CgroupEntry>,
    /// An inherited descriptor kept open across exec (every other one closes).
    keep: Option<RawFd>,
    /// (uid, gid) to switch to, supplementary groups dropped.
    user: Option<(u32, u32)>,
}

// The raw pointers point into `_strings`, which the Launch owns and never changes.
unsafe impl Send for Launch {}

/// What the child writes back when a step fails (shared memory: CLONE_VM).
#[derive(Default)]
struct Failure {
    step: Option<Step>,
    errno: i32,
}

impl Launch {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        program: &Path,
        arguments: &[impl AsRef<OsStr>],
        environment: impl IntoIterator<Item = (impl AsRef<OsStr>, impl AsRef<OsStr>)>,
        working_directory: &Path,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> std::io::Result<Launch> {
        let c = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{:?} contains a NUL byte", String::from_utf8_lossy(bytes)),
                )
            })
        };
        let program_c = c(program.as_os_str().as_bytes())?;
        let mut strings = Vec::new();
        // argv[0] is the program as given.
        strings.push(program_c.clone());
        for argument in arguments {
            strings.push(c(argument.as_ref().as_bytes())?);
        }
        let argc = strings.len();
        for (key, value) in environment {
            let mut pair = key.as_ref().as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_ref().as_bytes());
            strings.push(c(&pair)?);
        }
        let pointers = |range: &[CString]| {
            let mut ptrs: Vec<*const libc::c_char> = range.iter().map(|s| s.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            ptrs
        };
        Ok(Launch {
            argv_ptrs: pointers(&strings[..argc]),
            envp_ptrs: pointers(&strings[argc..]),
            program: program_c,
            working_directory: c(working_directory.as_os_str().as_bytes())?,
            _strings: strings,
            stdin,
            stdout,
            stderr,
            cgroup: None,
            keep: None,
            user: None,
        })
    }

    /// The child is in this instance cgroup before it executes.
    pub fn in_cgroup(mut self, cgroup: Option<CgroupEntry>) -> Launch {
        self.cgroup = cgroup;
        self
    }

    /// Keeps `fd` (an inherited descriptor of the agent) open in the process.
    pub fn keep_open(mut self, fd: Option<RawFd>) -> Launch {
        self.keep = fd;
        self
    }

    /// Runs the process as this uid and gid, without supplementary groups.
    pub fn user(mut self, ids: Option<(u32, u32)>) -> Launch {
        self.user = ids;
        self
    }

    /// Starts the process in a session of its own. Blocks until it has executed the
    /// program (or failed to): call it off the async workers. The caller reaps it.
    pub fn spawn(&self) -> Result<Spawned, (Step, std::io::Error)> {
        let mut failure = Failure::default();
        let mut stack = vec![0u8; CHILD_STACK];
        // The stack grows down from its (16-byte aligned) end.
        let base = stack.as_mut_ptr();
        let top = unsafe { base.add(CHILD_STACK) };
        let top = (top as usize & !15) as *mut libc::c_void;
        let mut context = ChildContext {
            launch: self,
            failure: &mut failure,
            born_in_cgroup: false,
        };

        // No signal handler of the agent may run in the child, which shares its memory:
        // everything is blocked until the child has reset the handlers.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        }
        let mut pid = -1;
        if let Some(cgroup) = &self.cgroup {
            context.born_in_cgroup = true;
            let context_ptr = &mut context as *mut ChildContext as *mut libc::c_void;
            pid = unsafe {
                clone3_into_cgroup(cgroup.unified_dir.as_raw_fd(), base, top, context_ptr)
            };
            // Refused (an older kernel, another architecture): the child writes itself in.
            context.born_in_cgroup = pid > 0;
        }
        if pid <= 0 {
            pid = unsafe {
                libc::clone(
                    child_main,
                    top,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                    &mut context as *mut ChildContext as *mut libc::c_void,
                )
            };
        }
        let clone_errno = std::io::Error::last_os_error();
        let born_in_cgroup = context.born_in_cgroup;
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        }
        drop(stack);
        if pid < 0 {
            return Err((Step::Exec, clone_errno));
        }
        // Written by the child through shared memory while this thread was suspended.
        let (step, errno) = unsafe {
            (
                std::ptr::read_volatile(&failure.step),
                std::ptr::read_volatile(&failure.errno),
            )
        };
        if let Some(step) = step {
            // The child has exited: reap it here, nobody else knows of it.
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return Err((step, std::io::Error::from_raw_os_error(errno)));
        }
        Ok(Spawned {
            pid: pid as u32,
            born_in_cgroup,
        })
    }
}

/// A started process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    pub pid: u32,
    /// It was created in its v2 cgroup (`CLONE_INTO_CGROUP`) rather than moved there.
    pub born_in_cgroup: bool,
}

/// The kernel's `struct clone_args` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), which the libc crate may not name.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Whether clone3 with `CLONE_INTO_CGROUP` was refused once: not tried again.
static CLONE3_REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process use the plain clone, as on a kernel that refuses clone3.
#[cfg(test)]
pub(crate) fn refuse_clone3() {
    CLONE3_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `clone3(CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP)` running `child_main(context)` on
/// the stack `[base, top)`: the child's pid, or -1 when clone3 refused (errno says why).
///
/// glibc exports no clone3 wrapper, and the child of a raw clone3 with its own stack starts
/// right after the system call with no frame to return to: the few instructions that call
/// `child_main` there and exit with its result are written out (x86_64 only).
#[cfg(target_arch = "x86_64")]
unsafe fn clone3_into_cgroup(
    cgroup_dir: RawFd,
    base: *mut u8,
    top: *mut libc::c_void,
    context: *mut libc::c_void,
) -> libc::c_int {
    use std::sync::atomic::Ordering;
    if CLONE3_REFUSED.load(Ordering::Relaxed) {
        return -1;
    }
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: base as u64,
        stack_size: top as u64 - base as u64,
        cgroup: cgroup_dir as u64,
        ..Default::default()
    };
    let child: extern "C" fn(*mut libc::c_void) -> libc::c_int = child_main;
    let ret: i64;
    // The parent gets the pid (or -errno) in rax and goes on after label 2. The child
    // gets 0, on its own stack (the kernel starts it at stack + stack_size, 16-byte
    // aligned), calls child_main (which executes the program or _exits) and exits.
    core::arch::asm!(
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "xor ebp, ebp",
        "mov rdi, r13",
        "call r12",
        "mov edi, eax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        "2:",
        exit = const libc::SYS_exit,
        inlateout("rax") libc::SYS_clone3 => ret,
        in("rdi") &args as *const CloneArgs,
        in("rsi") std::mem::size_of::<CloneArgs>(),
        in("r12") child,
        in("r13") context,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    if ret < 0 {
        let errno = -ret as i32;
        // Not this kernel's (ENOSYS), or an older clone_args (E2BIG), or no
        // CLONE_INTO_CGROUP (EINVAL): the plain clone from now on. Other refusals (the
        // cgroup itself) are left for the plain clone's cgroup step to report.
        if matches!(errno, libc::ENOSYS | libc::E2BIG | libc::EINVAL) {
            CLONE3_REFUSED.store(true, Ordering::Relaxed);
        }
        *libc::__errno_location() = errno;
        return -1;
    }
    ret as libc::c_int
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone3_into_cgroup(
    _cgroup_dir: RawFd,
    _base: *mut u8,
    _top: *mut libc::c_void,
    _context: *mut libc::c_void,
) -> libc::c_int {
    -1
}

struct ChildContext<'a> {
    launch: &'a Launch,
    failure: &'a mut Failure,
    /// Created in the v2 cgroup already: only the v1 ones are left to join.
    born_in_cgroup: bool,
}

/// The child, between clone and exec. Raw system calls only.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let context = unsafe { &mut *(arg as *mut ChildContext) };
    let launch = context.launch;
    let step = match unsafe { prepare_and_exec(launch, context.born_in_cgroup) } {
        Err(step) => step,
        Ok(never) => match never {},
    };
    context.failure.errno = errno();
    context.failure.step = Some(step);
    unsafe { libc::_exit(127) }
}

enum Never {}

/// The kernel's `struct sigaction` (x86_64 and aarch64 layout), which raw `rt_sigaction`
/// takes; all zero is SIG_DFL with no flags and an empty mask.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

unsafe fn prepare_and_exec(launch: &Launch, born_in_cgroup: bool) -> Result<Never, Step> {
    let check = |rc: libc::c_long, step: Step| if rc < 0 { Err(step) } else { Ok(()) };
    // Handlers of the agent become the default action (rt_sigaction on the child's own
    // copy of the table: no CLONE_SIGHAND), then the mask opens.
    for signal in 1..=64 {
        let mut current = KernelSigaction::default();
        if libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            std::ptr::null::<KernelSigaction>(),
            &mut current,
            8,
        ) < 0
        {
            continue; // Not a signal this kernel has.
        }
        let handled = current.handler != libc::SIG_DFL && current.handler != libc::SIG_IGN;
        // Rust ignores SIGPIPE; a started program expects the default, as std gives it.
        if handled || signal == libc::SIGPIPE {
            let default = KernelSigaction::default();
            check(
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &default,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8,
                ),
                Step::Signals,
            )?;
        }
    }
    let empty: [u64; 1] = [0];
    check(
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8,
        ),
        Step::Signals,
    )?;

    check(libc::syscall(libc::SYS_setsid), Step::Session)?;
    if let Some(cgroup) = &launch.cgroup {
        let unified = (!born_in_cgroup).then_some(&cgroup.unified_procs);
        for procs in unified.into_iter().chain(&cgroup.v1_procs) {
            check(
                libc::syscall(libc::SYS_write, procs.as_raw_fd(), b"0".as_ptr(), 1),
                Step::Cgroup,
            )?;
        }
    }
    for (from, to) in [
        (launch.stdin.as_raw_fd(), 0),
        (launch.stdout.as_raw_fd(), 1),
        (launch.stderr.as_raw_fd(), 2),
    ] {
        if from == to {
            // dup2 onto itself keeps close-on-exec: clear it instead.
            check(
                libc::syscall(libc::SYS_fcntl, to, libc::F_SETFD, 0),
                Step::Descriptors,
            )?;
        } else {
            check(
                libc::syscall(libc::SYS_dup3, from, to, 0),
                Step::Descriptors,
            )?;
        }
    }
    if let Some(fd) = launch.keep {
        check(
            libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, 0),
            Step::Descriptors,
        )?;
    }
    if let Some((uid, gid)) = launch.user {
        // Raw calls: glibc's wrappers would signal the agent's other threads. Root drops
        // its supplementary groups (as std's Command does); another user cannot.
        if libc::syscall(libc::SYS_geteuid) == 0 {
            check(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
                Step::User,
            )?;
        }
        check(libc::syscall(libc::SYS_setgid, gid), Step::User)?;
        check(libc::syscall(libc::SYS_setuid, uid), Step::User)?;
    }
    check(
        libc::syscall(libc::SYS_chdir, launch.working_directory.as_ptr()),
        Step::WorkingDirectory,
    )?;
    libc::syscall(
        libc::SYS_execve,
        launch.program.as_ptr(),
        launch.argv_ptrs.as_ptr(),
        launch.envp_ptrs.as_ptr(),
    );
    Err(Step::Exec)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn null() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    /// A launch of `program` with `arguments` in `dir`, no environment, stdio on /dev/null.
    fn quiet(program: &str, arguments: &[&str], dir: &str) -> std::io::Result<Launch> {
        Launch::new(
            Path::new(program),
            arguments,
            [] as [(&str, &str); 0],
            Path::new(dir),
            null(),
            null(),
            null(),
        )
    }

    fn wait(pid: u32) -> i32 {
        let mut status = 0;
        assert_eq!(
            unsafe { libc::waitpid(pid as i32, &mut status, 0) },
            pid as i32
        );
        status
    }

    #[test]
    fn the_child_runs_with_its_arguments_environment_directory_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let launch = Launch::new(
            Path::new("/bin/sh"),
            &[
                "-c",
                "echo \"$0 $1 $GREETING $(pwd)\"; grep SigIgn /proc/self/status",
                "x",
                "y",
            ],
            [("GREETING", "hello"), ("PATH", "/usr/bin:/bin")],
            dir.path(),
            null(),
            out.try_clone().unwrap().into(),
            out.into(),
        )
        .unwrap();
        let pid = launch.spawn().unwrap().pid;
        assert_eq!(wait(pid), 0);
        let mut text = String::new();
        std::fs::File::open(dir.path().join("out"))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let mut lines = text.lines();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(
            lines.next(),
            Some(format!("x y hello {}", cwd.display()).as_str())
        );
        // SIGPIPE (bit 12) has its default action again, though this test ignores it.
        let ignored = lines
            .next()
            .and_then(|l| l.strip_prefix("SigIgn:"))
            .unwrap();
        let ignored = u64::from_str_radix(ignored.trim(), 16).unwrap();
        assert_eq!(ignored & (1 << 12), 0, "{text}");
    }

    #[test]
    fn the_child_leads_a_session_of_its_own_and_keeps_only_the_kept_descriptor() {
        // Like every descriptor the agent opens, both are close-on-exec.
        let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let (kept, _kept_writer) = pipe();
        let (closed, _closed_writer) = pipe();
        let launch = quiet("/bin/sleep", &["30"], "/")
            .unwrap()
            .keep_open(Some(kept.as_raw_fd()));
        let pid = launch.spawn().unwrap().pid;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // Fields 5 and 6 of stat: process group and session.
        assert_eq!(
            (fields[2], fields[3]),
            (pid.to_string().as_str(), pid.to_string().as_str())
        );
        let has = |fd: RawFd| std::path::Path::new(&format!("/proc/{pid}/fd/{fd}")).exists();
        assert!(has(kept.as_raw_fd()), "the kept descriptor closed");
        assert!(!has(closed.as_raw_fd()), "another descriptor stayed open");
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        wait(pid);
    }

    #[test]
    fn a_failure_says_which_step() {
        let missing = quiet("/nonexistent/program", &[], "/").unwrap();
        let (step, error) = missing.spawn().unwrap_err();
        assert_eq!(
            (step, error.kind()),
            (Step::Exec, std::io::ErrorKind::NotFound)
        );

        let no_dir = quiet("/bin/true", &[], "/nonexistent/dir").unwrap();
        let (step, error) = no_dir.spawn().unwrap_err();
        assert_eq!(
            (step, error.kind()),
            (Step::WorkingDirectory, std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_nul_byte_is_refused_before_anything_starts() {
        let error = quiet("/bin/true", &["a\0b"], "/").err().unwrap();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
}
