//! Unpacking a root filesystem tarball with the system's GNU tar, after reading every entry
//! header here first: an archive with an entry that would land outside the root (an
//! absolute name, a `..` component, a hard link to such a name, or a path through a
//! symbolic link the archive itself creates) is refused before anything is written.
//!
//! The compression is recognised by its magic bytes (gzip, bzip2, xz, zstd or none) and
//! undone by the matching system tool; tar finds it by itself when extracting. Owners are
//! restored by number (`--numeric-owner`: the host's user database means nothing to the
//! container); extended attributes (file capabilities) are not restored.

use crate::delegate::DelegateError;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

const BLOCK: usize = 512;

/// Unpacks `tarball` into `target` (which must not exist yet) through `<target>.unpacking`,
/// so a crash never leaves a half-unpacked root under the final name.
pub(crate) fn unpack(tarball: &Path, target: &Path) -> Result<(), DelegateError> {
    validate(tarball)?;
    let partial = partial_path(target);
    remove_if_present(&partial)?;
    std::fs::create_dir_all(&partial)
        .map_err(|e| DelegateError::io(format!("create {}", partial.display()), e))?;
    let output = Command::new("tar")
        .arg("--extract")
        .arg("--file")
        .arg(tarball)
        .arg("--directory")
        .arg(&partial)
        .arg("--numeric-owner")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DelegateError::io("run tar (is GNU tar installed?)", e))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(DelegateError::Invalid(format!(
            "cannot unpack {}: tar {}: {}",
            tarball.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::rename(&partial, target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&partial);
        DelegateError::io(
            format!("rename {} to {}", partial.display(), target.display()),
            e,
        )
    })
}

/// Where [`unpack`] works before the root gets its name.
pub(crate) fn partial_path(target: &Path) -> std::path::PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".unpacking");
    target.with_file_name(name)
}

pub(crate) fn remove_if_present(path: &Path) -> Result<(), DelegateError> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path)
            .map_err(|e| DelegateError::io(format!("remove {}", path.display()), e)),
        Ok(_) => std::fs::remove_file(path)
            .map_err(|e| DelegateError::io(format!("remove {}", path.display()), e)),
    }
}

/// The decompressor for a file starting with `magic`, if it is compressed.
fn decompressor(magic: &[u8]) -> Option<&'static str> {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if magic.starts_with(b"BZh") {
        Some("bzip2")
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else {
        None
    }
}

/// Reads every entry header of `tarball` and refuses entries that would escape the root.
pub(crate) fn validate(tarball: &Path) -> Result<(), DelegateError> {
    let open = || {
        std::fs::File::open(tarball).map_err(|e| {
            DelegateError::io(format!("open the root tarball {}", tarball.display()), e)
        })
    };
    let mut magic = [0u8; 6];
    let n = read_full(&mut open()?, &mut magic)
        .map_err(|e| DelegateError::io(format!("read {}", tarball.display()), e))?;
    let result = match decompressor(&magic[..n]) {
        None => check_entries(&mut open()?),
        Some(tool) => {
            let mut child = Command::new(tool)
                .arg("-dc")
                .stdin(open()?)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| {
                    DelegateError::io(
                        format!(
                            "run {tool} to read {} (is it installed?)",
                            tarball.display()
                        ),
                        e,
                    )
                })?;
            let mut stdout = child.stdout.take().expect("piped");
            let checked = check_entries(&mut stdout);
            // Let the decompressor finish so that its own verdict counts too.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            drop(stdout);
            let output = child
                .wait_with_output()
                .map_err(|e| DelegateError::io(format!("run {tool}"), e))?;
            match checked {
                Err(e) => Err(e),
                Ok(()) if !output.status.success() => Err(DelegateError::Invalid(format!(
                    "{tool} {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ))),
                Ok(()) => Ok(()),
            }
        }
    };
    result.map_err(|e| match e {
        DelegateError::Invalid(why) => DelegateError::Invalid(format!(
            "the root tarball {} cannot be used: {why}",
            tarball.display()
        )),
        other => other,
    })
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Walks the archive's headers (ustar, GNU long names, pax extended headers).
fn check_entries(reader: &mut impl Read) -> Result<(), DelegateError> {
    let io = |e| DelegateError::io("read the root tarball", e);
    let mut symlinks: HashSet<Vec<u8>> = HashSet::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut header = [0u8; BLOCK];
    let mut entries = 0usize;
    loop {
        let n = read_full(reader, &mut header).map_err(io)?;
        let pending = long_name.is_some() || long_link.is_some();
        // Some writers omit the end-of-archive blocks.
        let ended = (n == 0 && entries > 0) || (n == BLOCK && header.iter().all(|b| *b == 0));
        if ended {
            return if pending {
                Err(DelegateError::Invalid("it ends inside an entry".into()))
            } else {
                Ok(())
            };
        }
        if n < BLOCK {
            return Err(DelegateError::Invalid(
                "it is not a tar archive or ends early".into(),
            ));
        }
        if !checksum_ok(&header) {
            return Err(DelegateError::Invalid(format!(
                "it is not a tar archive (bad header checksum after {entries} entries)"
            )));
        }
        let size = parse_number(&header[124..136])
            .ok_or_else(|| DelegateError::Invalid("an entry has an unreadable size".into()))?;
        let kind = header[156];
        match kind {
            b'L' | b'K' | b'x' => {
                let data = read_data(reader, size)?;
                match kind {
                    b'L' => long_name = Some(trim_nul(&data).to_vec()),
                    b'K' => long_link = Some(trim_nul(&data).to_vec()),
                    _ => {
                        for (key, value) in pax_records(&data) {
                            match key {
                                b"path" => long_name = Some(value.to_vec()),
                                b"linkpath" => long_link = Some(value.to_vec()),
                                _ => {}
                            }
                        }
                    }
                }
                continue;
            }
            b'g' => {
                read_data(reader, size)?;
                continue;
            }
            _ => {}
        }
        entries += 1;
        let name = long_name.take().unwrap_or_else(|| header_name(&header));
        let link = long_link
            .take()
            .unwrap_or_else(|| trim_nul(&header[157..257]).to_vec());
        let path = normalize(&name)?;
        // Nothing may be written (or hard-linked) through a symbolic link the archive made.
        through_symlink(&name, &path, &symlinks)?;
        match kind {
            b'1' => {
                let target = normalize(&link).map_err(|e| match e {
                    DelegateError::Invalid(why) => DelegateError::Invalid(format!(
                        "hard link \"{}\": {why}",
                        String::from_utf8_lossy(&name)
                    )),
                    other => other,
                })?;
                through_symlink(&link, &target, &symlinks)?;
                symlinks.remove(&path);
            }
            b'2' => {
                symlinks.insert(path);
            }
            _ => {
                symlinks.remove(&path);
            }
        }
        // Links, devices, directories and fifos carry no data whatever their size says.
        if !matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
            skip_data(reader, size)?;
        }
    }
}

/// Refuses `path` (normalized `name`) when one of its parents is a symbolic link.
fn through_symlink(
    name: &[u8],
    path: &[u8],
    symlinks: &HashSet<Vec<u8>>,
) -> Result<(), DelegateError> {
    for (i, byte) in path.iter().enumerate() {
        if *byte == b'/' && symlinks.contains(&path[..i]) {
            return Err(DelegateError::Invalid(format!(
                "entry \"{}\" lies under the symbolic link \"{}\" the archive creates",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(&path[..i])
            )));
        }
    }
    Ok(())
}

/// The entry's path without `./` and empty components; absolute paths and `..` refused.
fn normalize(name: &[u8]) -> Result<Vec<u8>, DelegateError> {
    let shown = || String::from_utf8_lossy(name).into_owned();
    if name.first() == Some(&b'/') {
        return Err(DelegateError::Invalid(format!(
            "entry \"{}\" has an absolute path",
            shown()
        )));
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                return Err(DelegateError::Invalid(format!(
                    "entry \"{}\" has a `..` component, which would reach outside the root",
                    shown()
                )))
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join(&b'/'))
}

fn header_name(header: &[u8; BLOCK]) -> Vec<u8> {
    let name = trim_nul(&header[0..100]);
    // POSIX ustar splits long names into a prefix (GNU's "ustar  " has no prefix field).
    if &header[257..263] == b"ustar\0" {
        let prefix = trim_nul(&header[345..500]);
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(name);
            return full;
        }
    }
    name.to_vec()
}

fn trim_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    &field[..end]
}

fn checksum_ok(header: &[u8; BLOCK]) -> bool {
    let Some(stored) = parse_number(&header[148..156]) else {
        return false;
    };
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                b' ' as u64
            } else {
                *b as u64
            }
        })
        .sum();
    sum == stored
}

/// An octal field, or GNU's base-256 for large values.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = (field[0] & 0x7f) as u64;
        for b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(*b as u64)?;
        }
        return Some(value);
    }
    let text = std::str::from_utf8(trim_nul(field)).ok()?.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

fn read_data(reader: &mut impl Read, size: u64) -> Result<Vec<u8>, DelegateError> {
    if size > 16 << 20 {
        return Err(DelegateError::Invalid(
            "an extended header is implausibly large".into(),
        ));
    }
    let mut data = vec![0u8; padded(size) as usize];
    let n =
        read_full(reader, &mut data).map_err(|e| DelegateError::io("read the root tarball", e))?;
    if n < data.len() {
        return Err(DelegateError::Invalid("it ends inside an entry".into()));
    }
    data.truncate(size as usize);
    Ok(data)
}

fn skip_data(reader: &mut impl Read, size: u64) -> Result<(), DelegateError> {
    let want = padded(size);
    let copied = std::io::copy(&mut reader.take(want), &mut std::io::sink())
        .map_err(|e| DelegateError::io("read the root tarball", e))?;
    if copied < want {
        return Err(DelegateError::Invalid("it ends inside an entry".into()));
    }
    Ok(())
}

/// `<length> <key>=<value>\n` records of a pax extended header.
fn pax_records(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|b| *b == b' ') else {
            break;
        };
        let Some(length) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if length <= space || length > rest.len() {
            break;
        }
        let record = &rest[space + 1..length];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|b| *b == b'=') {
            records.push((&record[..eq], &record[eq + 1..]));
        }
        rest = &rest[length..];
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar header for `name` of `kind`, with `link` and `size`, checksummed.
    fn header(name: &str, kind: u8, link: &str, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| *b as u64).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn archive(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in entries {
            out.extend(header(name, *kind, link, data.len() as u64));
            out.extend_from_slice(data);
            out.resize(padded(out.len() as u64) as usize, 0);
        }
        out.extend(vec![0u8; 2 * BLOCK]);
        out
    }

    fn check(bytes: Vec<u8>) -> Result<(), String> {
        check_entries(&mut bytes.as_slice()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_plain_root_passes() {
        check(archive(&[
            ("./", b'5', "", b""),
            ("./bin/", b'5', "", b""),
            ("./bin/busybox", b'0', "", b"#!binary"),
            ("./bin/sh", b'2', "busybox", b""),
            ("./etc/localtime", b'2', "/usr/share/zoneinfo/UTC", b""),
            ("./bin/ash", b'1', "./bin/busybox", b""),
        ]))
        .unwrap();
    }

    #[test]
    fn escaping_entries_are_refused() {
        let err = check(archive(&[("../evil", b'0', "", b"x")])).unwrap_err();
        assert!(err.contains("`..`"), "{err}");
        let err = check(archive(&[("/etc/passwd", b'0', "", b"x")])).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
        let err = check(archive(&[("ok", b'1', "../../etc/shadow", b"")])).unwrap_err();
        assert!(err.contains("hard link"), "{err}");
        let err = check(archive(&[
            ("./escape", b'2', "/", b""),
            ("./escape/etc/cron.d/x", b'0', "", b"x"),
        ]))
        .unwrap_err();
        assert!(err.contains("symbolic link \"escape\""), "{err}");
        let err = check(archive(&[
            ("./escape", b'2', "/", b""),
            ("./shadow", b'1', "escape/etc/shadow", b""),
        ]))
        .unwrap_err();
        assert!(err.contains("symbolic link \"escape\""), "{err}");
    }

    #[test]
    fn gnu_long_names_and_pax_paths_are_checked() {
        let long = format!("{}/../x", "d".repeat(120));
        let mut bytes = Vec::new();
        bytes.extend(header("././@LongLink", b'L', "", long.len() as u64 + 1));
        let mut data = long.clone().into_bytes();
        data.push(0);
        data.resize(BLOCK, 0);
        bytes.extend(data);
        bytes.extend(archive(&[("short", b'0', "", b"")]));
        let err = check(bytes).unwrap_err();
        assert!(err.contains("`..`"), "{err}");

        let record = "20 path=/etc/shadow\n";
        let mut bytes = Vec::new();
        bytes.extend(header("PaxHeaders/x", b'x', "", record.len() as u64));
        let mut data = record.as_bytes().to_vec();
        data.resize(BLOCK, 0);
        bytes.extend(data);
        bytes.extend(archive(&[("harmless", b'0', "", b"")]));
        let err = check(bytes).unwrap_err();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let err = check(vec![7u8; 2048]).unwrap_err();
        assert!(err.contains("not a tar archive"), "{err}");
        let err = check(vec![1u8; 10]).unwrap_err();
        assert!(err.contains("not a tar archive"), "{err}");
    }

    #[test]
    fn system_tar_archives_validate_and_unpack() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("a/b/file"), "hello").unwrap();
        std::os::unix::fs::symlink("/a/b/file", src.join("link")).unwrap();
        let tarball = dir.path().join("root.tar.gz");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-czf")
            .arg(&tarball)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        validate(&tarball).unwrap();
        let target = dir.path().join("rootfs");
        unpack(&tarball, &target).unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a/b/file")).unwrap(),
            "hello"
        );
        assert!(!partial_path(&target).exists());
    }
}
