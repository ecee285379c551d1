//! TOSCA 2.0 Cloud Service Archives (CSAR, chapter 17 of the standard).
//!
//! - [`open`] unpacks a zip, tar.gz or tar CSAR (told by its first bytes) into a private
//!   temporary directory, safely: no entry may leave the directory, links and devices are
//!   refused, and [`Limits`] bound entry count, sizes and compression ratio on the bytes
//!   actually produced. It then finds the TOSCA.meta (`TOSCA-Metadata/TOSCA.meta` or
//!   `TOSCA.meta`) and the entry: its Entry-Definitions, or the single YAML file at the
//!   root.
//! - [`parse_meta`] reads TOSCA.meta text.
//! - [`create`] packs a directory into a reproducible CSAR.

mod create;
mod error;
mod extract;
mod kind;
mod limits;
mod locate;
mod meta;
mod name;
mod open;

pub use create::{create, Created};
pub use error::CsarError;
pub use kind::{is_archive, ArchiveKind};
pub use limits::{Limits, RATIO_ALLOWANCE};
pub use meta::{parse_meta, Meta, META_PATHS};
pub use open::{open, open_in, Csar};
