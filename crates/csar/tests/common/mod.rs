//! Building real archives for the tests, and checking failures leave nothing behind.
#![allow(dead_code)]

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use khutulun_csar::{open_in, Csar, CsarError, Limits};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

pub const META: &str = "CSAR-Version: 2.0\nCreated-By: tests\nEntry-Definitions: main.yaml\n";
pub const TEMPLATE: &str = "tosca_definitions_version: tosca_2_0\n";

/// A zip of files (name, bytes), deflated.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(|z| {
        for (name, data) in files {
            z.start_file(*name, SimpleFileOptions::default()).unwrap();
            z.write_all(data).unwrap();
        }
    })
}

pub fn zip_with(build: impl FnOnce(&mut ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut z = ZipWriter::new(Cursor::new(Vec::new()));
    build(&mut z);
    z.finish().unwrap().into_inner()
}

/// A tar header for a regular file with a raw name (bypassing the tar crate's checks).
pub fn raw_header(name: &str, size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

/// A plain tarball of regular files.
pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    tar_with(|b| {
        for (name, data) in files {
            let h = raw_header(name, data.len() as u64, tar::EntryType::Regular);
            b.append(&h, *data).unwrap();
        }
    })
}

pub fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    gzip(&tar(files))
}

/// A scratch directory with the archive written into it as `name`, and an empty `unpack`
/// directory to open it into.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, bytes).unwrap();
        path
    }

    pub fn unpack_dir(&self) -> PathBuf {
        let dir = self.path("unpack");
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Opens the archive into `unpack/`.
    pub fn open(&self, archive: &Path, limits: &Limits) -> Result<Csar, CsarError> {
        open_in(archive, limits, &self.unpack_dir())
    }

    /// Opens an archive that must fail, checks nothing is left in `unpack/`, and returns
    /// the error.
    pub fn fail(&self, archive: &Path, limits: &Limits) -> CsarError {
        let err = self
            .open(archive, limits)
            .expect_err("the archive should be refused");
        let left: Vec<_> = fs::read_dir(self.unpack_dir()).unwrap().collect();
        assert!(left.is_empty(), "left behind after {err}: {left:?}");
        err
    }
}

/// Opens bytes of an archive written as `name` that must fail; returns the message too.
pub fn refuse(name: &str, bytes: &[u8], limits: &Limits) -> (CsarError, String) {
    let scratch = Scratch::new();
    let path = scratch.write(name, bytes);
    let err = scratch.fail(&path, limits);
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) || matches!(err, CsarError::Meta { .. }),
        "message does not name the archive: {message}"
    );
    (err, message)
}
