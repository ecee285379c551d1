//! Delegates run node instances. Each kind of workload (a bare process, a local directory,
//! later containers and VMs) has one; the agent picks it by the node's type and drives it
//! through the [`Delegate`] trait.

pub mod cgroup;
pub mod container;
mod delegate;
mod directory;
pub mod docker;
mod ending;
mod executable;
pub mod firewall;
pub mod launch;
pub mod lifeline;
pub mod marked;
pub mod nspawn;
pub mod podman;
pub mod proc_context;
pub mod proc_stat;
mod process;
mod user;

pub use cgroup::{CgroupEntry, CgroupJoiner, CgroupRequest, InstanceCgroup};
pub use container::{
    ContainerSpec, ImageSource, Mount, Network, PodSpec, PortMapping, RootSource,
    SystemContainerSpec, HOST_ALIAS, INSTANCE_LABEL,
};
pub use delegate::{Capabilities, Delegate, DelegateError, ExecPlan, Exit, Running, WorkloadSpec};
pub use directory::{DirectoryDelegate, DirectorySpec};
pub use executable::resolve_executable;
pub use process::{systemd_user_manager_available, ProcessDelegate, ProcessSpec};
