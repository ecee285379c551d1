//! Hostile archives: escapes, links, devices, bombs, truncation. Each must fail with a
//! clear message and leave nothing on disk.

mod common;

use std::io::{self, Read, Write};

use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use khutulun_csar::{CsarError, Limits};
use zip::write::SimpleFileOptions;

fn small_limits() -> Limits {
    Limits {
        max_entries: 4,
        max_total_bytes: 1000,
        max_entry_bytes: 600,
        max_ratio: 200,
    }
}

#[test]
fn zip_slip_is_refused() {
    let (err, message) = refuse(
        "x.zip",
        &zip(&[("a.yaml", b""), ("../evil.sh", b"boom")]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::UnsafePath { .. }), "{err:?}");
    assert!(
        message.contains("\"../evil.sh\"") && message.contains(".."),
        "{message}"
    );

    let (err, _) = refuse(
        "x.tar.gz",
        &tar_gz(&[("a/../../evil.sh", b"boom")]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::UnsafePath { .. }), "{err:?}");
}

#[test]
fn absolute_paths_are_refused() {
    let (err, message) = refuse(
        "x.zip",
        &zip(&[("/tmp/evil.sh", b"boom")]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::UnsafePath { .. }), "{err:?}");
    assert!(message.contains("absolute"), "{message}");

    let (err, _) = refuse("x.tar", &tar(&[("/etc/evil", b"boom")]), &Limits::default());
    assert!(matches!(err, CsarError::UnsafePath { .. }), "{err:?}");
}

fn link_tar(kind: tar::EntryType) -> Vec<u8> {
    tar_with(|b| {
        b.append(
            &raw_header("a.yaml", 0, tar::EntryType::Regular),
            io::empty(),
        )
        .unwrap();
        let mut h = raw_header("passwd", 0, kind);
        h.set_link_name("/etc/passwd").unwrap();
        h.set_cksum();
        b.append(&h, io::empty()).unwrap();
    })
}

#[test]
fn tar_symlinks_and_hardlinks_are_refused() {
    let (err, message) = refuse(
        "x.tar",
        &link_tar(tar::EntryType::Symlink),
        &Limits::default(),
    );
    assert!(
        matches!(
            err,
            CsarError::Link {
                kind: "symbolic link",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        message.contains("/etc/passwd") && message.contains("\"passwd\""),
        "{message}"
    );

    let (err, _) = refuse(
        "x.tar.gz",
        &gzip(&link_tar(tar::EntryType::Link)),
        &Limits::default(),
    );
    assert!(
        matches!(
            err,
            CsarError::Link {
                kind: "hard link",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn zip_symlinks_are_refused() {
    let bytes = zip_with(|z| {
        z.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
    });
    let (err, _) = refuse("x.zip", &bytes, &Limits::default());
    assert!(matches!(err, CsarError::Link { .. }), "{err:?}");
}

#[test]
fn tar_devices_are_refused() {
    let bytes = tar_with(|b| {
        b.append(&raw_header("null", 0, tar::EntryType::Char), io::empty())
            .unwrap();
    });
    let (err, message) = refuse("x.tar", &bytes, &Limits::default());
    assert!(matches!(err, CsarError::Unsupported { .. }), "{err:?}");
    assert!(message.contains("character device"), "{message}");
}

#[test]
fn duplicate_entries_are_refused() {
    let (err, _) = refuse(
        "x.tar",
        &tar(&[("a.yaml", b"one"), ("./a.yaml", b"two")]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::Duplicate { .. }), "{err:?}");
    let (err, _) = refuse(
        "x.tar",
        &tar(&[("a", b"file"), ("a/b.yaml", b"")]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::Duplicate { .. }), "{err:?}");
}

#[test]
fn too_many_entries() {
    let files: Vec<(String, Vec<u8>)> = (0..6).map(|i| (format!("f{i}.txt"), vec![])).collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    for (name, bytes) in [("x.zip", zip(&refs)), ("x.tgz", tar_gz(&refs))] {
        let (err, message) = refuse(name, &bytes, &small_limits());
        assert!(
            matches!(err, CsarError::TooManyEntries { limit: 4, .. }),
            "{err:?}"
        );
        assert!(message.contains("more than 4 entries"), "{message}");
    }
}

#[test]
fn entry_and_total_size_limits() {
    let big = vec![7u8; 700];
    let (err, _) = refuse("x.zip", &zip(&[("big.bin", &big)]), &small_limits());
    assert!(
        matches!(err, CsarError::EntryTooLarge { limit: 600, .. }),
        "{err:?}"
    );

    let half = vec![7u8; 501];
    let (err, message) = refuse(
        "x.tar",
        &tar(&[("a.bin", &half), ("b.bin", &half)]),
        &small_limits(),
    );
    assert!(
        matches!(err, CsarError::TooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    assert!(message.contains("b.bin"), "{message}");
}

#[test]
fn a_huge_declared_size_fails_before_reading() {
    // 1 TiB declared, no data at all: refused on the header alone.
    let bytes = tar_with(|b| {
        let h = raw_header("huge.bin", 1 << 40, tar::EntryType::Regular);
        b.append(&h, io::empty()).unwrap();
    });
    let (err, _) = refuse("x.tar.gz", &gzip(&bytes), &Limits::default());
    assert!(matches!(err, CsarError::EntryTooLarge { .. }), "{err:?}");
}

const BOMB: usize = 2 << 20;

#[test]
fn zip_bomb() {
    let bytes = zip_with(|z| {
        z.start_file("zeros.bin", SimpleFileOptions::default())
            .unwrap();
        io::copy(&mut io::repeat(0).take(BOMB as u64), z).unwrap();
    });
    assert!(bytes.len() < 20_000);
    let (err, message) = refuse("bomb.zip", &bytes, &Limits::default());
    assert!(
        matches!(err, CsarError::CompressionBomb { limit: 200, .. }),
        "{err:?}"
    );
    assert!(
        message.contains("zeros.bin") && message.contains("200:1"),
        "{message}"
    );
}

#[test]
fn zip_bomb_with_lying_sizes() {
    let mut bytes = zip_with(|z| {
        z.start_file("zeros.bin", SimpleFileOptions::default())
            .unwrap();
        io::copy(&mut io::repeat(0).take(BOMB as u64), z).unwrap();
    });
    // Claim 100 bytes unpacked, in the local header (offset 22) and the central directory
    // entry (offset 24).
    let local = 0;
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[local + 22..local + 26].copy_from_slice(&100u32.to_le_bytes());
    bytes[central + 24..central + 28].copy_from_slice(&100u32.to_le_bytes());
    let (err, _) = refuse("liar.zip", &bytes, &Limits::default());
    assert!(
        matches!(
            err,
            CsarError::CompressionBomb { .. }
                | CsarError::Corrupt { .. }
                | CsarError::EntryTooLarge { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn gzip_bomb() {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    {
        let mut b = tar::Builder::new(&mut gz);
        let h = raw_header("zeros.bin", BOMB as u64, tar::EntryType::Regular);
        b.append(&h, io::repeat(0).take(BOMB as u64)).unwrap();
        b.finish().unwrap();
    }
    let bytes = gz.finish().unwrap();
    let (err, message) = refuse("bomb.tar.gz", &bytes, &Limits::default());
    assert!(matches!(err, CsarError::CompressionBomb { .. }), "{err:?}");
    assert!(message.contains("decompression bomb"), "{message}");
}

#[test]
fn gzip_bomb_hidden_in_tar_headers() {
    // Zeros after a bogus long-name header: the tar reader would buffer them whole.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(BOMB as u64);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    io::copy(&mut io::repeat(b'a').take(BOMB as u64), &mut gz).unwrap();
    let bytes = gz.finish().unwrap();
    let (err, _) = refuse("names.tar.gz", &bytes, &Limits::default());
    assert!(
        matches!(
            err,
            CsarError::CompressionBomb { .. } | CsarError::Corrupt { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_archives() {
    let files: Vec<(&str, &[u8])> = vec![("a.yaml", TEMPLATE.as_bytes()), ("b.txt", &[1u8; 3000])];
    let whole = zip(&files);
    let (err, message) = refuse("cut.zip", &whole[..whole.len() / 2], &Limits::default());
    assert!(matches!(err, CsarError::Corrupt { .. }), "{err:?}");
    assert!(message.contains("damaged or truncated"), "{message}");

    let whole = tar_gz(&files);
    let (err, _) = refuse("cut.tar.gz", &whole[..whole.len() - 10], &Limits::default());
    assert!(matches!(err, CsarError::Corrupt { .. }), "{err:?}");

    let whole = tar(&files);
    let (err, _) = refuse("cut.tar", &whole[..1200], &Limits::default());
    assert!(matches!(err, CsarError::Corrupt { .. }), "{err:?}");
}

#[test]
fn only_stored_and_deflate_zip_entries() {
    let bytes = zip_with(|z| {
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        z.start_file("a.yaml", options).unwrap();
        z.write_all(TEMPLATE.as_bytes()).unwrap();
    });
    let scratch = Scratch::new();
    let path = scratch.write("stored.zip", &bytes);
    assert!(scratch.open(&path, &Limits::default()).is_ok());
}
