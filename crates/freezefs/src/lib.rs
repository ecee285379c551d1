//! freezefs: a passthrough FUSE filesystem that can be frozen.
//!
//! [`FreezeFs`] mirrors a source directory. Every request first passes the [`Gate`]: while
//! the gate is frozen no request is answered (the calling process waits in the kernel, as on
//! a stalled NFS server); thawing answers them all. The binary `freezefs` mounts it and maps
//! signals to the gate; tests drive it through `FrozenMount`
//! (`crates/khutulun/tests/common/freezefs.rs`).
//!
//! Design, chosen for correctness and simplicity over speed:
//!
//! - One `O_PATH` descriptor per inode the kernel knows (kept until `forget`), and every
//!   operation goes through it (`*at` calls relative to it, or `/proc/self/fd/N`). Renames
//!   of files and directories therefore never need bookkeeping here.
//! - The FUSE inode number is the source inode number (with the source root's number and 1
//!   swapped, because FUSE's root is 1), so inode numbers are stable across renames and
//!   `readdir` agrees with `stat`. The source must be one filesystem (no mounts below it).
//! - Attribute and entry timeouts are zero and files are opened with `direct_io`, so every
//!   system call that touches the mount reaches this process (nothing is answered from the
//!   kernel's caches while frozen).
//! - Files are opened with `noflush`: closing one sends no FLUSH, so a process that exits
//!   (or is killed) while the mount is frozen is not held in the kernel until the thaw. An
//!   NFS client does not hold it either (its waits are killable, and the unlock at exit is
//!   sent asynchronously); with FLUSH, a killed workload holding a file on the mount stayed
//!   half-exited, and looked alive, for the whole freeze.
//! - Locks are not implemented: the kernel then keeps `flock(2)` and `fcntl` locks locally on
//!   the FUSE inode, so processes using the mount exclude each other (but not processes that
//!   use the source directory directly), and locking never waits for this process.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, InitFlags, IoctlFlags, KernelConfig, LockOwner, OpenFlags, PollEvents,
    PollFlags, PollNotifier, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyLseek, ReplyOpen, ReplyPoll, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags, CWD};

/// How files are opened: see the module's design notes (`direct_io`, `noflush`).
const FILE_OPEN_FLAGS: FopenFlags = FopenFlags::FOPEN_DIRECT_IO.union(FopenFlags::FOPEN_NOFLUSH);

/// Nothing is cached by the kernel: every call reaches the filesystem (and the gate).
const TTL: Duration = Duration::ZERO;

/// Freezes and thaws request handling. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Gate {
    frozen: Mutex<bool>,
    thawed: Condvar,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// From now on, requests wait in [`Gate::pass`] until [`Gate::thaw`]. A request already
    /// past the gate finishes.
    pub fn freeze(&self) {
        *self.lock() = true;
    }

    /// Lets every waiting and future request through.
    pub fn thaw(&self) {
        *self.lock() = false;
        self.thawed.notify_all();
    }

    pub fn is_frozen(&self) -> bool {
        *self.lock()
    }

    /// Returns at once unless frozen; then waits for the thaw.
    pub fn pass(&self) {
        let mut frozen = self.lock();
        while *frozen {
            frozen = self.thawed.wait(frozen).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// [`Gate::pass`] for a request of process (or thread) `caller`: true once thawed, false
    /// if the caller was killed meanwhile (the request is then answered EINTR). An NFS
    /// client's waits are killable; a FUSE request that its server has read is not (the
    /// kernel waits for the answer even after SIGKILL), so without this a workload killed
    /// while the mount is frozen would stay half-dead until the thaw. Nothing announces a
    /// pending signal, so the caller is looked at every 50 ms while frozen.
    pub fn pass_for(&self, caller: u32) -> bool {
        let mut frozen = self.lock();
        while *frozen {
            if caller != 0 && kill_pending(caller) {
                return false;
            }
            frozen = self
                .thawed
                .wait_timeout(frozen, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.frozen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether thread or process `pid` has SIGKILL pending (or no longer exists).
fn kill_pending(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    status.lines().any(|line| {
        let Some((key, value)) = line.split_once(':') else {
            return false;
        };
        matches!(key, "SigPnd" | "ShdPnd")
            && u64::from_str_radix(value.trim(), 16).is_ok_and(|mask| mask & SIGKILL_BIT != 0)
    })
}

/// An inode the kernel holds a reference to: an `O_PATH` descriptor and the kernel's lookup
/// count.
struct Node {
    file: Arc<File>,
    lookups: u64,
}

/// An open file or directory.
enum Handle {
    File(Arc<File>),
    Dir {
        file: Arc<File>,
        /// A snapshot taken when reading starts at offset 0; offsets index into it.
        entries: Vec<DirEntry>,
    },
}

struct DirEntry {
    ino: u64,
    kind: FileType,
    name: std::ffi::OsString,
}

type Res<T> = Result<T, Errno>;

fn errno(e: impl Into<io::Error>) -> Errno {
    Errno::from(e.into())
}

/// The path through which the kernel reopens what a descriptor refers to.
fn proc_path(file: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", file.as_raw_fd())
}

fn system_time(secs: i64, nsecs: i64) -> SystemTime {
    let nsecs = Duration::from_nanos(nsecs.clamp(0, 999_999_999) as u64);
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64) + nsecs
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + nsecs
    }
}

fn timespec(time: TimeOrNow) -> rustix::fs::Timespec {
    match time {
        TimeOrNow::Now => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        TimeOrNow::SpecificTime(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => rustix::fs::Timespec {
                tv_sec: d.as_secs() as i64,
                tv_nsec: d.subsec_nanos().into(),
            },
            Err(before) => {
                let d = before.duration();
                // Round down to whole seconds before the epoch, then add the nanoseconds.
                let (secs, nsecs) = if d.subsec_nanos() == 0 {
                    (-(d.as_secs() as i64), 0)
                } else {
                    (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
                };
                rustix::fs::Timespec {
                    tv_sec: secs,
                    tv_nsec: nsecs.into(),
                }
            }
        },
    }
}

const OMIT: rustix::fs::Timespec = rustix::fs::Timespec {
    tv_sec: 0,
    tv_nsec: rustix::fs::UTIME_OMIT,
};

/// The passthrough filesystem. See the crate documentation.
pub struct FreezeFs {
    gate: Arc<Gate>,
    /// The source root's inode number (swapped with 1).
    root_ino: u64,
    /// The source's device: entries on another device (a mount below the source) are refused,
    /// since their inode numbers could collide.
    dev: u64,
    nodes: Mutex<HashMap<u64, Node>>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_handle: AtomicU64,
    /// Who runs this process: entries created for another caller are given to the caller.
    euid: u32,
}

impl FreezeFs {
    /// A filesystem mirroring `source` (a directory), gated by `gate`.
    pub fn new(source: &Path, gate: Arc<Gate>) -> io::Result<FreezeFs> {
        let fd = rustix::fs::open(
            source,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let root = File::from(fd);
        let meta = root.metadata()?;
        let mut nodes = HashMap::new();
        nodes.insert(
            INodeNo::ROOT.0,
            Node {
                file: Arc::new(root),
                lookups: 1,
            },
        );
        Ok(FreezeFs {
            gate,
            root_ino: meta.ino(),
            dev: meta.dev(),
            nodes: Mutex::new(nodes),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            euid: rustix::process::geteuid().as_raw(),
        })
    }

    /// The FUSE inode number of a source inode number (an involution).
    fn fuse_ino(&self, source_ino: u64) -> u64 {
        if source_ino == self.root_ino {
            INodeNo::ROOT.0
        } else if source_ino == INodeNo::ROOT.0 {
            self.root_ino
        } else {
            source_ino
        }
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handles(&self) -> MutexGuard<'_, HashMap<u64, Handle>> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn node(&self, ino: INodeNo) -> Res<Arc<File>> {
        self.nodes()
            .get(&ino.0)
            .map(|n| n.file.clone())
            .ok_or(Errno::ESTALE)
    }

    /// fsync or fdatasync of an open file or directory.
    fn sync_handle(&self, fh: FileHandle, datasync: bool) -> Res<()> {
        let file = self.handle_file(fh)?;
        if datasync {
            file.sync_data().map_err(errno)
        } else {
            file.sync_all().map_err(errno)
        }
    }

    fn handle_file(&self, fh: FileHandle) -> Res<Arc<File>> {
        match self.handles().get(&fh.0) {
            Some(Handle::File(file)) | Some(Handle::Dir { file, .. }) => Ok(file.clone()),
            None => Err(Errno::EBADF),
        }
    }

    fn add_handle(&self, handle: Handle) -> FileHandle {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles().insert(fh, handle);
        FileHandle(fh)
    }

    fn attr(&self, meta: &std::fs::Metadata) -> Res<FileAttr> {
        Ok(FileAttr {
            ino: INodeNo(self.fuse_ino(meta.ino())),
            size: meta.size(),
            blocks: meta.blocks(),
            atime: system_time(meta.atime(), meta.atime_nsec()),
            mtime: system_time(meta.mtime(), meta.mtime_nsec()),
            ctime: system_time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: FileType::from_std(meta.file_type()).ok_or(Errno::EIO)?,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: meta.blksize() as u32,
            flags: 0,
        })
    }

    /// Takes an `O_PATH` descriptor as the node of its inode (or, when the kernel already
    /// knows the inode, counts one more lookup of the existing node) and returns the
    /// attributes to answer with. Every successful entry reply must come from here.
    fn remember(&self, opath: File) -> Res<FileAttr> {
        let meta = opath.metadata().map_err(errno)?;
        if meta.dev() != self.dev {
            return Err(Errno::EXDEV);
        }
        let attr = self.attr(&meta)?;
        self.nodes()
            .entry(attr.ino.0)
            .or_insert_with(|| Node {
                file: Arc::new(opath),
                lookups: 0,
            })
            .lookups += 1;
        Ok(attr)
    }

    fn lookup_child(&self, parent: &File, name: &OsStr) -> Res<FileAttr> {
        let fd = rustix::fs::openat(
            parent,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        self.remember(File::from(fd))
    }

    /// A new entry made for a caller other than this process's user belongs to the caller.
    fn give_to_caller(&self, req: &Request, parent: &File, name: &OsStr) -> Res<()> {
        if req.uid() == self.euid {
            return Ok(());
        }
        rustix::fs::chownat(
            parent,
            name,
            Some(rustix::fs::Uid::from_raw(req.uid())),
            Some(rustix::fs::Gid::from_raw(req.gid())),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno)
    }

    /// Reads a directory, `.` and `..` first.
    fn read_entries(&self, ino: INodeNo, dir: &File) -> Res<Vec<DirEntry>> {
        let parent_ino = if ino == INodeNo::ROOT {
            INodeNo::ROOT.0
        } else {
            rustix::fs::statat(dir, "..", AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| self.fuse_ino(st.st_ino))
                .unwrap_or(INodeNo::ROOT.0)
        };
        let mut entries = vec![
            DirEntry {
                ino: ino.0,
                kind: FileType::Directory,
                name: ".".into(),
            },
            DirEntry {
                ino: parent_ino,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for entry in std::fs::read_dir(proc_path(dir)).map_err(errno)? {
            let entry = entry.map_err(errno)?;
            let kind = entry
                .file_type()
                .ok()
                .and_then(FileType::from_std)
                .unwrap_or(FileType::RegularFile);
            entries.push(DirEntry {
                ino: self.fuse_ino(entry.ino()),
                kind,
                name: entry.file_name(),
            });
        }
        Ok(entries)
    }

    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
    ) -> Res<FileAttr> {
        let node = self.node(ino)?;
        let path = proc_path(&*node);
        if let Some(mode) = mode {
            rustix::fs::chmodat(
                CWD,
                &path,
                Mode::from_raw_mode(mode & 0o7777),
                AtFlags::empty(),
            )
            .map_err(errno)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &*node,
                "",
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::EMPTY_PATH,
            )
            .map_err(errno)?;
        }
        if let Some(size) = size {
            // Through the caller's descriptor when there is one (ftruncate), else by path.
            let through_fh = fh
                .and_then(|fh| self.handle_file(fh).ok())
                .is_some_and(|file| file.set_len(size).is_ok());
            if !through_fh {
                let fd = rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(errno)?;
                rustix::fs::ftruncate(fd, size).map_err(errno)?;
            }
        }
        if atime.is_some() || mtime.is_some() {
            let times = rustix::fs::Timestamps {
                last_access: atime.map(timespec).unwrap_or(OMIT),
                last_modification: mtime.map(timespec).unwrap_or(OMIT),
            };
            rustix::fs::utimensat(CWD, &path, &times, AtFlags::empty()).map_err(errno)?;
        }
        self.attr(&node.metadata().map_err(errno)?)
    }

    fn do_open(&self, ino: INodeNo, flags: i32) -> Res<FileHandle> {
        let node = self.node(ino)?;
        // The kernel resolved the path already; O_DIRECT would need aligned buffers here.
        let dropped = OFlags::NOFOLLOW
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOCTTY
            | OFlags::TRUNC
            | OFlags::DIRECT;
        let flags = (OFlags::from_bits_retain(flags as _) - dropped) | OFlags::CLOEXEC;
        let fd = rustix::fs::open(proc_path(&*node), flags, Mode::empty()).map_err(errno)?;
        Ok(self.add_handle(Handle::File(Arc::new(File::from(fd)))))
    }

    fn do_create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> Res<(FileAttr, FileHandle)> {
        let dir = self.node(parent)?;
        let flags = (OFlags::from_bits_retain(flags as _) - (OFlags::NOFOLLOW | OFlags::DIRECT))
            | OFlags::CREATE
            | OFlags::CLOEXEC;
        let fd: OwnedFd =
            rustix::fs::openat(&*dir, name, flags, Mode::from_raw_mode(mode & 0o7777))
                .map_err(errno)?;
        self.give_to_caller(req, &dir, name)?;
        let opath = rustix::fs::open(
            proc_path(&fd),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let attr = self.remember(File::from(opath))?;
        let fh = self.add_handle(Handle::File(Arc::new(File::from(fd))));
        Ok((attr, fh))
    }

    fn do_read(&self, fh: FileHandle, offset: u64, size: u32) -> Res<Vec<u8>> {
        let file = self.handle_file(fh)?;
        let mut buf = vec![0u8; size as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(errno(e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    fn do_readdir(
        &self,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: &mut ReplyDirectory,
    ) -> Res<()> {
        let mut handles = self.handles();
        let Some(Handle::Dir { file, entries }) = handles.get_mut(&fh.0) else {
            return Err(Errno::EBADF);
        };
        if offset == 0 {
            *entries = self.read_entries(ino, file)?;
        }
        for (index, entry) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(
                INodeNo(entry.ino),
                index as u64 + 1,
                entry.kind,
                &entry.name,
            ) {
                break;
            }
        }
        Ok(())
    }

    fn do_statfs(&self) -> Res<rustix::fs::StatVfs> {
        let root = self.node(INodeNo::ROOT)?;
        rustix::fs::statvfs(proc_path(&*root)).map_err(errno)
    }
}

fn entry(reply: ReplyEntry, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, result: Res<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn attr(reply: ReplyAttr, result: Res<FileAttr>) {
    match result {
        Ok(attr) => reply.attr(&TTL, &attr),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for FreezeFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Shared mmap of files opened with direct_io (kernels from 6.6 on; older ones
        // refuse such maps with ENODEV, which is fine for tests).
        let _ = config.add_capabilities(InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        entry(
            reply,
            self.node(parent)
                .and_then(|dir| self.lookup_child(&dir, name)),
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.gate.pass();
        if ino == INodeNo::ROOT {
            return;
        }
        let mut nodes = self.nodes();
        if let Some(node) = nodes.get_mut(&ino.0) {
            node.lookups = node.lookups.saturating_sub(nlookup);
            if node.lookups == 0 {
                nodes.remove(&ino.0);
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        let file = match fh.and_then(|fh| self.handle_file(fh).ok()) {
            Some(file) => Ok(file),
            None => self.node(ino),
        };
        attr(
            reply,
            file.and_then(|f| f.metadata().map_err(errno))
                .and_then(|m| self.attr(&m)),
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        attr(
            reply,
            self.do_setattr(ino, mode, uid, gid, size, atime, mtime, fh),
        );
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        let target = self
            .node(ino)
            .and_then(|node| rustix::fs::readlinkat(&*node, "", Vec::new()).map_err(errno));
        match target {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        if !self.gate.pass_for(req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        entry(
            reply,
            self.node(parent).and_then(|dir| {
                rustix::fs::mkdirat(&*dir, name, Mode::from_raw_mode(mode & 0o7777))
                    .map_err(errno)?;
                self.give_to_caller(req, &dir, name)?;
                self.lookup_child(&dir, name)
            }),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        empty(
            reply,
            self.node(parent)
                .and_then(|dir| rustix::fs::unlinkat(&*dir, name, AtFlags::empty()).map_err(errno)),
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        empty(
            reply,
            self.node(parent).and_then(|dir| {
                rustix::fs::unlinkat(&*dir, name, AtFlags::REMOVEDIR).map_err(errno)
            }),
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        if !self.gate.pass_for(req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        entry(
            reply,
            self.node(parent).and_then(|dir| {
                rustix::fs::symlinkat(target, &*dir, link_name).map_err(errno)?;
                self.give_to_caller(req, &dir, link_name)?;
                self.lookup_child(&dir, link_name)
            }),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        let result = self.node(parent).and_then(|from| {
            let to = self.node(newparent)?;
            rustix::fs::renameat_with(
                &*from,
                name,
                &*to,
                newname,
                rustix::fs::RenameFlags::from_bits_retain(flags.bits()),
            )
            .map_err(errno)
        });
        empty(reply, result);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        entry(
            reply,
            self.node(ino).and_then(|node| {
                let dir = self.node(newparent)?;
                rustix::fs::linkat(&*node, "", &*dir, newname, AtFlags::EMPTY_PATH)
                    .map_err(errno)?;
                self.lookup_child(&dir, newname)
            }),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        match self.do_open(ino, flags.0) {
            Ok(fh) => reply.opened(fh, FILE_OPEN_FLAGS),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        match self.do_read(fh, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        let result = self
            .handle_file(fh)
            .and_then(|file| file.write_all_at(data, offset).map_err(errno));
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        self.handles().remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        empty(reply, self.sync_handle(fh, datasync));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        let result = self.node(ino).and_then(|node| {
            let fd = rustix::fs::open(
                proc_path(&*node),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            Ok(self.add_handle(Handle::Dir {
                file: Arc::new(File::from(fd)),
                entries: Vec::new(),
            }))
        });
        match result {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        match self.do_readdir(ino, fh, offset, &mut reply) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        self.handles().remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        empty(reply, self.sync_handle(fh, datasync));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        match self.do_statfs() {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        if !self.gate.pass_for(req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        match self.do_create(req, parent, name, mode, flags) {
            Ok((attr, fh)) => reply.created(&TTL, &attr, Generation(0), fh, FILE_OPEN_FLAGS),
            Err(e) => reply.error(e),
        }
    }

    // Not implemented, but gated too: while frozen, nothing is answered, not even ENOSYS.
    // (The kernel stops sending most of these after the first ENOSYS.)

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: i64,
        _whence: i32,
        reply: ReplyLseek,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }

    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _ph: PollNotifier,
        _events: PollEvents,
        _flags: PollFlags,
        reply: ReplyPoll,
    ) {
        if !self.gate.pass_for(_req.pid()) {
            reply.error(Errno::EINTR);
            return;
        }
        reply.error(Errno::ENOSYS);
    }
}
