//! Khutulun's state: plain JSON files on a filesystem that every host shares, coordinated
//! with `flock(2)`. See ARCHITECTURE.md for the layout.

mod atomic;
mod error;
mod events;
#[cfg(test)]
mod fixtures;
pub mod group_commit;
pub mod index;
mod layout;
pub mod lease;
mod lease_file;
mod lock;
mod model;
mod name;
mod offload;
mod ports;
mod store;

pub use atomic::{
    read_json, set_writer, write_atomic, write_atomic_batch, write_json, write_json_for_this_boot,
    Replacement,
};
pub use error::{StateError, StateResult};
pub use events::{Event, EventKind, InstanceRef};
pub use index::{Revalidate, ServiceSnapshot, StateIndex};
pub use layout::Layout;
pub use lease_file::LeaseFile;
pub use lock::FileLock;
pub use model::*;
pub use name::{BadName, Name};
pub use offload::{blocking, install_blocking_hook, BlockingHook};
pub use ports::{PortOwner, PortRange, PortRequest, PortReservations};
pub use store::DirStore;
