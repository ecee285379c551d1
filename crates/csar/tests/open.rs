//! Opening CSARs: both forms, every archive kind, entry resolution.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use khutulun_csar::{is_archive, open, ArchiveKind, CsarError, Limits};

fn with_meta(meta: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("TOSCA-Metadata/TOSCA.meta", meta.as_bytes().to_vec()),
        ("main.yaml", TEMPLATE.as_bytes().to_vec()),
        ("subs/other.yaml", TEMPLATE.as_bytes().to_vec()),
        ("files/script.sh", b"#!/bin/sh\n".to_vec()),
    ]
}

fn refs<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(n, d)| (*n, d.as_slice())).collect()
}

#[test]
fn zip_with_meta() {
    let files = with_meta(&format!("{META}Other-Definitions: subs/other.yaml\n"));
    let scratch = Scratch::new();
    let path = scratch.write("service.csar", &zip(&refs(&files)));
    let csar = scratch.open(&path, &Limits::default()).unwrap();
    assert_eq!(csar.kind, ArchiveKind::Zip);
    assert_eq!(csar.entry, Path::new("main.yaml"));
    let meta = csar.meta.as_ref().unwrap();
    assert_eq!(meta.created_by, "tests");
    assert_eq!(meta.other_definitions, vec!["subs/other.yaml"]);
    assert_eq!(fs::read_to_string(csar.entry_path()).unwrap(), TEMPLATE);
    assert_eq!(
        fs::read(csar.root().join("files/script.sh")).unwrap(),
        b"#!/bin/sh\n"
    );
    assert_eq!(csar.files.len(), 4);
}

#[test]
fn tar_gz_with_meta_at_the_root() {
    let mut files = with_meta(META);
    files[0].0 = "TOSCA.meta";
    let scratch = Scratch::new();
    // The kind comes from the bytes, not the name.
    let path = scratch.write("service.zip", &tar_gz(&refs(&files)));
    let csar = scratch.open(&path, &Limits::default()).unwrap();
    assert_eq!(csar.kind, ArchiveKind::TarGz);
    assert_eq!(csar.entry, Path::new("main.yaml"));
    assert!(csar.meta.is_some());
}

#[test]
fn plain_tar_without_meta_takes_the_single_root_yaml() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "service.tar",
        &tar(&[
            ("./service.yml", TEMPLATE.as_bytes()),
            ("./nested/other.yaml", TEMPLATE.as_bytes()),
            ("./README.md", b"hi"),
        ]),
    );
    let csar = scratch.open(&path, &Limits::default()).unwrap();
    assert_eq!(csar.kind, ArchiveKind::Tar);
    assert_eq!(csar.entry, Path::new("service.yml"));
    assert!(csar.meta.is_none());
}

#[test]
fn zip_without_meta_and_meta_without_entry_definitions() {
    let scratch = Scratch::new();
    let path = scratch.write("a.zip", &zip(&[("only.yaml", TEMPLATE.as_bytes())]));
    let csar = scratch.open(&path, &Limits::default()).unwrap();
    assert_eq!(csar.entry, Path::new("only.yaml"));
    assert!(csar.meta.is_none());

    let path = scratch.write(
        "b.zip",
        &zip(&[
            (
                "TOSCA-Metadata/TOSCA.meta",
                b"CSAR-Version: 2.0\nCreated-By: x\n",
            ),
            ("only.yaml", TEMPLATE.as_bytes()),
        ]),
    );
    let csar = scratch.open(&path, &Limits::default()).unwrap();
    assert_eq!(csar.entry, Path::new("only.yaml"));
    assert_eq!(csar.meta.unwrap().entry_definitions, None);
}

#[test]
fn no_root_yaml_lists_what_was_found() {
    let (err, message) = refuse(
        "x.zip",
        &zip(&[("README.md", b"hi"), ("nested/a.yaml", TEMPLATE.as_bytes())]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::NoEntry { .. }), "{err:?}");
    assert!(message.contains("README.md"), "{message}");

    let (_, message) = refuse(
        "x.tar.gz",
        &tar_gz(&[("svc/a.yaml", TEMPLATE.as_bytes()), ("svc/b.txt", b"")]),
        &Limits::default(),
    );
    assert!(message.contains("inside \"svc/\""), "{message}");
}

#[test]
fn several_root_yaml_files_are_ambiguous() {
    let (err, message) = refuse(
        "x.zip",
        &zip(&[
            ("a.yaml", TEMPLATE.as_bytes()),
            ("b.yml", TEMPLATE.as_bytes()),
        ]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::AmbiguousEntry { .. }), "{err:?}");
    assert!(message.contains("a.yaml, b.yml"), "{message}");
    assert!(message.contains("TOSCA.meta"), "{message}");
}

#[test]
fn missing_entry_definitions_file() {
    let meta = "CSAR-Version: 2.0\nCreated-By: t\nEntry-Definitions: nope.yaml\n";
    let (err, message) = refuse(
        "x.zip",
        &zip(&[
            ("TOSCA-Metadata/TOSCA.meta", meta.as_bytes()),
            ("main.yaml", b""),
        ]),
        &Limits::default(),
    );
    assert!(matches!(
        err,
        CsarError::MissingDefinitions {
            key: "Entry-Definitions",
            ..
        }
    ));
    assert!(message.contains("nope.yaml") && message.contains("TOSCA-Metadata/TOSCA.meta"));
}

#[test]
fn missing_other_definitions_file() {
    let files = with_meta(&format!(
        "{META}Other-Definitions: subs/other.yaml \"subs/gone.yaml\"\n"
    ));
    let (err, message) = refuse("x.tgz", &tar_gz(&refs(&files)), &Limits::default());
    assert!(matches!(
        err,
        CsarError::MissingDefinitions {
            key: "Other-Definitions",
            ..
        }
    ));
    assert!(message.contains("subs/gone.yaml"), "{message}");
}

#[test]
fn bad_meta_in_an_archive_names_archive_file_and_line() {
    let (err, message) = refuse(
        "x.zip",
        &zip(&[
            ("TOSCA-Metadata/TOSCA.meta", b"CSAR-Version: 2.0\nbroken\n"),
            ("a.yaml", b""),
        ]),
        &Limits::default(),
    );
    assert!(
        matches!(err, CsarError::Meta { line: Some(2), .. }),
        "{err:?}"
    );
    assert!(
        message.contains("x.zip: TOSCA-Metadata/TOSCA.meta:2:"),
        "{message}"
    );
}

#[test]
fn two_metas_are_refused() {
    let (err, _) = refuse(
        "x.zip",
        &zip(&[
            ("TOSCA-Metadata/TOSCA.meta", META.as_bytes()),
            ("TOSCA.meta", META.as_bytes()),
            ("main.yaml", b""),
        ]),
        &Limits::default(),
    );
    assert!(matches!(err, CsarError::TwoMetas { .. }), "{err:?}");
}

#[test]
fn detection_by_magic_bytes() {
    let scratch = Scratch::new();
    let yaml = scratch.write("service.csar", TEMPLATE.as_bytes());
    assert!(!is_archive(&yaml));
    assert!(!is_archive(scratch.dir.path()));
    assert!(!is_archive(&scratch.path("missing.zip")));
    let err = scratch.fail(&yaml, &Limits::default());
    assert!(matches!(err, CsarError::NotAnArchive { .. }), "{err:?}");
    assert!(err.to_string().contains(".tar.gz"), "{err}");

    for (name, bytes) in [
        ("a.bin", zip(&[("a.yaml", b"")])),
        ("b.bin", tar_gz(&[("a.yaml", b"")])),
        ("c.bin", tar(&[("a.yaml", b"")])),
    ] {
        assert!(is_archive(&scratch.write(name, &bytes)), "{name}");
    }
}

#[test]
fn modes_are_sanitised_and_the_root_is_removed_on_drop() {
    let bytes = tar_with(|b| {
        let mut h = raw_header("run.sh", 3, tar::EntryType::Regular);
        h.set_mode(0o4777);
        h.set_cksum();
        b.append(&h, &b"hi\n"[..]).unwrap();
        b.append(&raw_header("a.yaml", 0, tar::EntryType::Regular), &b""[..])
            .unwrap();
    });
    let scratch = Scratch::new();
    let path = scratch.write("x.tar", &bytes);
    let csar = open(&path, &Limits::default()).unwrap();
    let root = csar.root().to_path_buf();
    let mode = fs::metadata(root.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    let mode = fs::metadata(root.join("a.yaml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o644);
    drop(csar);
    assert!(!root.exists());
}
