//! What the state directory sits on, checked once at start. A local filesystem is one
//! kernel's: a free lock proves its holder ended. NFS needs version 4 (NFSv3 never frees a
//! crashed client's locks, so no host could ever fail over) and a lookup cache that does not
//! remember "not found" (with the default, a host told to start an instance another host
//! just placed answers that its service does not exist, for up to a minute).

use std::path::Path;
use std::time::Duration;

/// One line of /proc/self/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

/// What the agent concluded about its state filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFs {
    pub mount: Mount,
    pub kind: FsKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// One kernel's filesystem (ext4, xfs, tmpfs, a FUSE passthrough, ...).
    Local,
    /// NFSv4 with the options Khutulun needs.
    Nfs4,
    /// Another network filesystem: not tested; treated with NFS's caution.
    OtherNetwork,
}

impl StateFs {
    /// The shortest time after which this filesystem may free a lock of a client that is
    /// alive but cut off (see `lease::LeaseTiming::lock_expiry_floor`).
    pub fn lock_expiry_floor(&self) -> Option<Duration> {
        match self.kind {
            FsKind::Local => None,
            FsKind::Nfs4 | FsKind::OtherNetwork => {
                Some(khutulun_state::lease::NFS_MIN_SERVER_LEASE)
            }
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} {} on {}",
            self.mount.fstype, self.mount.source, self.mount.target
        )
    }
}

/// Parses /proc/self/mounts (octal escapes in paths decoded).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = unescape(fields.next()?);
            let target = unescape(fields.next()?);
            let fstype = fields.next()?.to_owned();
            let options = fields
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_owned)
                .collect();
            Some(Mount {
                source,
                target,
                fstype,
                options,
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount a (canonical) path lives on: the last mounted of the longest matching targets.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.target))
        .max_by_key(|(i, m)| (Path::new(&m.target).components().count(), *i))
        .map(|(_, m)| m)
}

/// Decides whether the state can live on `mount`, and how to treat it.
pub fn judge(mount: &Mount, state_dir: &Path) -> Result<StateFs, String> {
    let option = |name: &str| {
        mount
            .options
            .iter()
            .find_map(|o| o.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let kind = match mount.fstype.as_str() {
        "nfs" | "nfs4" => {
            let version = option("vers").or_else(|| option("nfsvers"));
            let v4 =
                mount.fstype == "nfs4" || version.as_deref().is_some_and(|v| v.starts_with('4'));
            if !v4 {
                return Err(format!(
                    "the state directory {} is on NFS version {} ({}): NFSv3 never releases the locks of a crashed client, so no host could ever be failed over. Mount it with NFSv4 (-o vers=4.2,lookupcache=positive); see docs/cluster.md, \"Running on NFS\"",
                    state_dir.display(),
                    version.as_deref().unwrap_or("3"),
                    mount.source
                ));
            }
            let lookup = option("lookupcache");
            let safe = matches!(lookup.as_deref(), Some("pos" | "positive" | "none"));
            if !safe {
                return Err(format!(
                    "the state directory {} is on NFS ({}) mounted with lookupcache={}: a host then remembers for up to a minute that a file did not exist, and is told to start instances of services it cannot see. Remount it with lookupcache=positive (e.g. mount -o remount,vers=4.2,lookupcache=positive {} {}); see docs/cluster.md, \"Running on NFS\"",
                    state_dir.display(),
                    mount.source,
                    lookup.as_deref().unwrap_or("all (the default)"),
                    mount.source,
                    mount.target
                ));
            }
            FsKind::Nfs4
        }
        "cifs" | "smb3" | "ceph" | "glusterfs" | "fuse.glusterfs" | "fuse.sshfs" | "9p" | "afs"
        | "lustre" | "gpfs" | "ocfs2" | "gfs2" => FsKind::OtherNetwork,
        _ => FsKind::Local,
    };
    Ok(StateFs {
        mount: mount.clone(),
        kind,
    })
}

/// Reads /proc/self/mounts and judges the state directory's filesystem.
pub fn check(state_dir: &Path) -> Result<StateFs, String> {
    let canonical = state_dir.canonicalize().map_err(|e| {
        format!(
            "cannot resolve the state directory {}: {e}",
            state_dir.display()
        )
    })?;
    let text = std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| format!("cannot read /proc/self/mounts: {e}"))?;
    let mounts = parse_mounts(&text);
    let mount = mount_of(&mounts, &canonical).ok_or_else(|| {
        format!(
            "no mount in /proc/self/mounts holds the state directory {}",
            canonical.display()
        )
    })?;
    judge(mount, &canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/sda1 / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid 0 0
10.0.0.1:/export /mnt/state nfs4 rw,relatime,vers=4.2,rsize=1048576,hard,proto=tcp,timeo=600,lookupcache=pos,clientaddr=10.0.0.2 0 0
10.0.0.1:/export /mnt/default nfs4 rw,relatime,vers=4.2,hard,proto=tcp 0 0
10.0.0.1:/old /mnt/v3 nfs rw,relatime,vers=3,hard,proto=tcp,lookupcache=pos 0 0
freezefs /tmp/with\\040space fuse.freezefs rw 0 0
";

    fn judged(path: &str) -> Result<StateFs, String> {
        let mounts = parse_mounts(MOUNTS);
        judge(mount_of(&mounts, Path::new(path)).unwrap(), Path::new(path))
    }

    #[test]
    fn the_deepest_mount_holds_a_path() {
        let mounts = parse_mounts(MOUNTS);
        assert_eq!(
            mount_of(&mounts, Path::new("/tmp/x")).unwrap().target,
            "/tmp"
        );
        assert_eq!(
            mount_of(&mounts, Path::new("/mnt/state/hosts"))
                .unwrap()
                .fstype,
            "nfs4"
        );
        assert_eq!(
            mount_of(&mounts, Path::new("/var/lib")).unwrap().target,
            "/"
        );
        // Octal escapes are decoded.
        assert_eq!(
            mount_of(&mounts, Path::new("/tmp/with space/s"))
                .unwrap()
                .fstype,
            "fuse.freezefs"
        );
        // "/mnt/statex" is not under "/mnt/state".
        assert_eq!(
            mount_of(&mounts, Path::new("/mnt/statex")).unwrap().target,
            "/"
        );
    }

    #[test]
    fn local_filesystems_need_nothing() {
        let fs = judged("/var/lib/khutulun").unwrap();
        assert_eq!(fs.kind, FsKind::Local);
        assert_eq!(fs.lock_expiry_floor(), None);
        assert_eq!(judged("/tmp/with space/s").unwrap().kind, FsKind::Local);
    }

    #[test]
    fn nfs4_with_a_positive_lookup_cache_is_accepted_with_caution() {
        let fs = judged("/mnt/state").unwrap();
        assert_eq!(fs.kind, FsKind::Nfs4);
        assert_eq!(fs.lock_expiry_floor(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn nfs4_with_the_default_lookup_cache_is_refused_with_the_fix() {
        let err = judged("/mnt/default/x").unwrap_err();
        assert!(err.contains("lookupcache=all (the default)"), "{err}");
        assert!(err.contains("lookupcache=positive"), "{err}");
        assert!(err.contains("Running on NFS"), "{err}");
    }

    #[test]
    fn nfs3_is_refused() {
        let err = judged("/mnt/v3").unwrap_err();
        assert!(err.contains("NFS version 3"), "{err}");
        assert!(err.contains("vers=4.2"), "{err}");
    }
}
