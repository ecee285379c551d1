//! Packing directories: round trips, reproducibility, entry choice, refusals.

mod common;

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::*;
use khutulun_csar::{create, ArchiveKind, CsarError, Limits};

/// A service directory: a root template, a nested one, an executable script, an empty
/// directory and a `.git` to be left out.
fn service(scratch: &Scratch) -> PathBuf {
    scratch.write("svc/service.yaml", TEMPLATE.as_bytes());
    scratch.write("svc/nested/other.yaml", TEMPLATE.as_bytes());
    let script = scratch.write("svc/scripts/run.sh", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
    scratch.write("svc/.git/HEAD", b"ref: refs/heads/main\n");
    fs::create_dir_all(scratch.path("svc/empty")).unwrap();
    scratch.path("svc")
}

#[test]
fn round_trips_in_every_kind() {
    for (name, kind) in [
        ("out.csar", ArchiveKind::Zip),
        ("out.tar.gz", ArchiveKind::TarGz),
        ("out.tar", ArchiveKind::Tar),
    ] {
        let scratch = Scratch::new();
        let dir = service(&scratch);
        let out = scratch.path(name);
        let created = create(&dir, &out, None).unwrap();
        assert_eq!(created.kind, kind);
        assert_eq!(created.entry, Path::new("service.yaml"));
        assert_eq!(created.files, 3);
        assert_eq!(created.bytes, fs::metadata(&out).unwrap().len());

        let csar = scratch.open(&out, &Limits::default()).unwrap();
        assert_eq!(csar.kind, kind);
        assert_eq!(csar.entry, Path::new("service.yaml"));
        let meta = csar.meta.as_ref().unwrap();
        assert_eq!(meta.csar_version, "2.0");
        assert_eq!(
            meta.created_by,
            format!("Khutulun {}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(meta.entry_definitions.as_deref(), Some("service.yaml"));
        assert_eq!(
            csar.files,
            vec![
                "TOSCA-Metadata/TOSCA.meta",
                "nested/other.yaml",
                "scripts/run.sh",
                "service.yaml"
            ]
        );
        let run = csar.root().join("scripts/run.sh");
        assert_eq!(fs::read(&run).unwrap(), b"#!/bin/sh\necho hi\n");
        assert_eq!(
            fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(csar.root().join("empty").is_dir());
        assert!(!csar.root().join(".git").exists());
    }
}

#[test]
fn same_tree_same_bytes() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    for name in ["a.zip", "a.tgz", "a.tar"] {
        let first = scratch.path(&format!("1-{name}"));
        create(&dir, &first, None).unwrap();
        // Touch every file: timestamps must not leak into the archive.
        for file in ["service.yaml", "nested/other.yaml", "scripts/run.sh"] {
            let when = SystemTime::now() + Duration::from_secs(3600);
            File::options()
                .write(true)
                .open(dir.join(file))
                .unwrap()
                .set_times(FileTimes::new().set_modified(when).set_accessed(when))
                .unwrap();
        }
        let second = scratch.path(&format!("2-{name}"));
        create(&dir, &second, None).unwrap();
        assert_eq!(
            fs::read(&first).unwrap(),
            fs::read(&second).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn ambiguous_entry_names_the_candidates() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    scratch.write("svc/extra.yml", TEMPLATE.as_bytes());
    let out = scratch.path("out.zip");
    let err = create(&dir, &out, None).unwrap_err();
    assert!(matches!(err, CsarError::AmbiguousEntry { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("extra.yml, service.yaml") && message.contains("--entry"),
        "{message}"
    );
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(scratch.dir.path()).unwrap().count(),
        1,
        "a temp file was left"
    );

    // Naming it settles it, relative to the directory or absolute.
    let created = create(&dir, &out, Some(Path::new("extra.yml"))).unwrap();
    assert_eq!(created.entry, Path::new("extra.yml"));
    let created = create(&dir, &out, Some(&dir.join("nested/other.yaml"))).unwrap();
    assert_eq!(created.entry, Path::new("nested/other.yaml"));
    assert_eq!(
        scratch.open(&out, &Limits::default()).unwrap().entry,
        Path::new("nested/other.yaml")
    );

    let err = create(&dir, &out, Some(Path::new("nope.yaml"))).unwrap_err();
    assert!(matches!(err, CsarError::BadEntry { .. }), "{err:?}");
    let err = create(&dir, &out, Some(&scratch.path("outside.yaml"))).unwrap_err();
    assert!(matches!(err, CsarError::BadEntry { .. }), "{err:?}");
}

#[test]
fn no_yaml_at_all() {
    let scratch = Scratch::new();
    scratch.write("svc/README.md", b"hi");
    let err = create(&scratch.path("svc"), &scratch.path("o.zip"), None).unwrap_err();
    assert!(matches!(err, CsarError::NoEntry { .. }), "{err:?}");
    assert!(err.to_string().contains("README.md"), "{err}");
}

#[test]
fn unknown_extension_lists_the_known_ones() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    let err = create(&dir, &scratch.path("out.rar"), None).unwrap_err();
    assert!(matches!(err, CsarError::UnknownExtension { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(".csar") && message.contains(".tgz"),
        "{message}"
    );
}

#[test]
fn symlinks_are_refused() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    let out = scratch.path("out.zip");
    let err = create(&dir, &out, None).unwrap_err();
    assert!(matches!(err, CsarError::Unpackable { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!out.exists());
}

#[test]
fn output_inside_the_directory_is_left_out() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    let out = dir.join("service.csar");
    create(&dir, &out, None).unwrap();
    let first = fs::read(&out).unwrap();
    create(&dir, &out, None).unwrap();
    assert_eq!(fs::read(&out).unwrap(), first);
    let csar = scratch.open(&out, &Limits::default()).unwrap();
    assert!(
        !csar.files.iter().any(|f| f.ends_with(".csar")),
        "{:?}",
        csar.files
    );
}

#[test]
fn an_existing_meta_is_kept_and_must_agree() {
    let scratch = Scratch::new();
    let dir = service(&scratch);
    let meta = "CSAR-Version: 2.0\nCreated-By: ACME\nEntry-Definitions: nested/other.yaml\n\n\
                ACME-Note: kept\n";
    scratch.write("svc/TOSCA-Metadata/TOSCA.meta", meta.as_bytes());
    let out = scratch.path("out.tgz");
    let created = create(&dir, &out, None).unwrap();
    assert_eq!(created.entry, Path::new("nested/other.yaml"));
    let csar = scratch.open(&out, &Limits::default()).unwrap();
    assert_eq!(
        fs::read_to_string(csar.root().join("TOSCA-Metadata/TOSCA.meta")).unwrap(),
        meta
    );
    assert_eq!(csar.meta.unwrap().created_by, "ACME");

    let err = create(&dir, &out, Some(Path::new("service.yaml"))).unwrap_err();
    assert!(matches!(err, CsarError::BadEntry { .. }), "{err:?}");
    assert!(err.to_string().contains("nested/other.yaml"), "{err}");
}
