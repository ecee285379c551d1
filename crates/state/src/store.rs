//! DirStore: the state directory. Every write is atomic; read-modify-write happens under a
//! flock (service lock, host ports lock, events lock).

use crate::atomic::{read_json, sync_dir, write_batch_here, write_json, Replacement};
use crate::error::{StateError, StateResult};
use crate::events::{Event, InstanceRef};
use crate::group_commit::GroupCommit;
use crate::layout::Layout;
use crate::lease::LeaseRecord;
use crate::lease_file::LeaseFile;
use crate::lock::FileLock;
use crate::model::{
    ClusterInfo, DrainRecord, HostInfo, InstanceRecord, ServiceRecord, FORMAT_VERSION,
};
use crate::ports::{PortOwner, PortRange, PortRequest, PortReservations};
use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct DirStore {
    layout: Layout,
    /// Concurrent instance-record writes share their fsyncs.
    record_writes: std::sync::Arc<GroupCommit<Replacement, StateError>>,
}

impl DirStore {
    /// Opens (and on first use initialises) a state directory.
    pub fn open(root: impl Into<PathBuf>) -> StateResult<DirStore> {
        let store = DirStore {
            layout: Layout::new(root),
            record_writes: Default::default(),
        };
        let root = store.layout.root().to_owned();
        fs::create_dir_all(&root)
            .map_err(|e| StateError::io("create state directory", &root, e))?;
        let _guard = FileLock::acquire(&root.join(".cluster.lock"))?;
        let cluster_path = store.layout.cluster();
        match read_json::<ClusterInfo>(&cluster_path)? {
            Some(info) if info.format_version > FORMAT_VERSION => {
                return Err(StateError::io(
                    "use",
                    &cluster_path,
                    std::io::Error::other(format!(
                        "state format {} is newer than this khutulun understands ({FORMAT_VERSION}); upgrade khutulun",
                        info.format_version
                    )),
                ))
            }
            Some(_) => {}
            None => write_json(
                &cluster_path,
                &ClusterInfo {
                    id: new_id(),
                    format_version: FORMAT_VERSION,
                    created_at: Utc::now(),
                },
            )?,
        }
        Ok(store)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn cluster(&self) -> StateResult<ClusterInfo> {
        let path = self.layout.cluster();
        read_json(&path)?
            .ok_or_else(|| StateError::io("read", path, std::io::Error::from(ErrorKind::NotFound)))
    }

    /// A fresh, unique directory on the state filesystem, for staging a package.
    pub fn staging_dir(&self) -> StateResult<PathBuf> {
        crate::offload::blocking(|| self.staging_dir_here())
    }

    fn staging_dir_here(&self) -> StateResult<PathBuf> {
        let dir = self.layout.tmp().join(format!(
            "{}-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).map_err(|e| StateError::io("create directory", &dir, e))?;
        Ok(dir)
    }

    // ---- hosts ----

    /// Takes the host's `alive.lock` for the life of the returned guard; fails when another
    /// live agent serves this host.
    pub fn claim_host(&self, host: &str) -> StateResult<FileLock> {
        let path = self.layout.host_alive_lock(host);
        // A second try covers a `hosts` listing that probes the lock at the same instant.
        for _ in 0..2 {
            if let Some(lock) = FileLock::try_acquire(&path)? {
                return Ok(lock);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(StateError::HostTaken {
            host: host.to_owned(),
            path,
        })
    }

    /// Fencing: takes a host's `alive.lock` without waiting, once. `Some` proves that no
    /// agent serves the host (it died, or it lost the shared state); `None` means its agent
    /// still holds the lock, so its instances must not be touched.
    pub fn try_fence_host(&self, host: &str) -> StateResult<Option<FileLock>> {
        FileLock::try_acquire(&self.layout.host_alive_lock(host))
    }

    /// Takes a shared lock on the host's `workloads.lock`, read-only, for the agent to hold
    /// and its processes to inherit. Shared: a restarted agent takes it beside the workloads
    /// its predecessor left running.
    pub fn hold_workloads_lock(&self, host: &str) -> StateResult<fs::File> {
        let path = self.layout.host_workloads_lock(host);
        crate::offload::blocking(|| {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| StateError::io("create directory", dir, e))?;
            }
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| StateError::io("create", &path, e))?;
            let file = fs::File::open(&path).map_err(|e| StateError::io("open", &path, e))?;
            rustix::fs::flock(&file, rustix::fs::FlockOperation::LockShared)
                .map_err(|e| StateError::io("lock", &path, e.into()))?;
            Ok(file)
        })
    }

    /// Whether anything still holds the host's `workloads.lock`: its agent or any process
    /// it started. `false` proves nothing of the host runs (or the filesystem gave the
    /// locks of a cut-off client away).
    pub fn host_workloads_held(&self, host: &str) -> StateResult<bool> {
        let path = self.layout.host_workloads_lock(host);
        crate::offload::blocking(|| {
            // Read-write: NFS emulates flock with byte-range locks, and an exclusive one
            // needs a descriptor open for writing.
            let file = match fs::OpenOptions::new().read(true).write(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(StateError::io("open", &path, e)),
            };
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => Ok(false),
                Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
                Err(e) => Err(StateError::io("lock", &path, e.into())),
            }
        })
    }

    /// Opens the host's `lease.json` (record and lock in one file, see `lease_file`) for a
    /// holder that renews often and keeps it open.
    pub fn lease_file(&self, host: &str) -> StateResult<LeaseFile> {
        LeaseFile::open(&self.layout.host_lease(host))
    }

    pub fn lease(&self, host: &str) -> StateResult<Option<LeaseRecord>> {
        crate::lease_file::read(&self.layout.host_lease(host))
    }

    /// Read-modify-write of a host's lease under its lock: `change` sees the record as it
    /// is and returns the one to write, or `None` to leave it. Returns what was written.
    pub fn update_lease(
        &self,
        host: &str,
        change: impl FnOnce(Option<LeaseRecord>) -> Option<LeaseRecord>,
    ) -> StateResult<Option<LeaseRecord>> {
        self.lease_file(host)?.update(change)
    }

    pub fn host(&self, host: &str) -> StateResult<Option<HostInfo>> {
        read_json(&self.layout.host_info(host))
    }

    pub fn drain(&self, host: &str) -> StateResult<Option<DrainRecord>> {
        read_json(&self.layout.host_drain(host))
    }

    pub fn set_drain(&self, host: &str, drain: Option<&DrainRecord>) -> StateResult<()> {
        let path = self.layout.host_drain(host);
        match drain {
            Some(record) => write_json(&path, record),
            None => match crate::offload::blocking(|| std::fs::remove_file(&path)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StateError::io("remove", &path, e)),
            },
        }
    }

    pub fn write_host(&self, info: &HostInfo) -> StateResult<()> {
        write_json(&self.layout.host_info(&info.name), info)
    }

    pub fn hosts(&self) -> StateResult<Vec<HostInfo>> {
        let mut hosts = Vec::new();
        for name in list_dir(&self.layout.hosts())? {
            if let Some(info) = read_json::<HostInfo>(&self.layout.host_info(&name))? {
                hosts.push(info);
            }
        }
        Ok(hosts)
    }

    /// True when an agent holds the host's `alive.lock`.
    pub fn host_is_alive(&self, host: &str) -> StateResult<bool> {
        let path = self.layout.host_alive_lock(host);
        if !crate::offload::blocking(|| path.exists()) {
            return Ok(false);
        }
        Ok(FileLock::try_acquire(&path)?.is_none())
    }

    // ---- ports ----

    /// Reserves ports on `host`, all or none, under the host's ports lock.
    pub fn reserve_ports(
        &self,
        host: &str,
        requests: &[PortRequest],
        range: PortRange,
        in_use: &dyn Fn(u16) -> bool,
    ) -> StateResult<Vec<u16>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = FileLock::acquire(&self.layout.host_ports_lock(host))?;
        let path = self.layout.host_ports(host);
        let mut reservations: PortReservations = read_json(&path)?.unwrap_or_default();
        let ports = reservations
            .reserve(requests, range, in_use)
            .map_err(StateError::Ports)?;
        write_json(&path, &reservations)?;
        Ok(ports)
    }

    /// Releases every port a service holds on `host`.
    pub fn release_ports(&self, host: &str, namespace: &str, service: &str) -> StateResult<usize> {
        let _lock = FileLock::acquire(&self.layout.host_ports_lock(host))?;
        let path = self.layout.host_ports(host);
        let mut reservations: PortReservations = read_json(&path)?.unwrap_or_default();
        let released = reservations.release_service(namespace, service);
        if released > 0 {
            write_json(&path, &reservations)?;
        }
        Ok(released)
    }

    /// Releases the ports one instance holds on `host`.
    pub fn release_instance_ports(
        &self,
        host: &str,
        namespace: &str,
        service: &str,
        node: &str,
        index: u32,
    ) -> StateResult<usize> {
        let _lock = FileLock::acquire(&self.layout.host_ports_lock(host))?;
        let path = self.layout.host_ports(host);
        let mut reservations: PortReservations = read_json(&path)?.unwrap_or_default();
        let released = reservations.release_instance(namespace, service, node, index);
        if released > 0 {
            write_json(&path, &reservations)?;
        }
        Ok(released)
    }

    /// Makes the service's reservations on `host` exactly `held` (see
    /// `PortReservations::resync_service`), under the host's ports lock.
    pub fn resync_service_ports(
        &self,
        host: &str,
        namespace: &str,
        service: &str,
        held: &[(PortOwner, u16)],
    ) -> StateResult<Vec<PortOwner>> {
        let _lock = FileLock::acquire(&self.layout.host_ports_lock(host))?;
        let path = self.layout.host_ports(host);
        let mut reservations: PortReservations = read_json(&path)?.unwrap_or_default();
        let before = reservations.clone();
        let refused = reservations.resync_service(namespace, service, held);
        if reservations != before {
            write_json(&path, &reservations)?;
        }
        Ok(refused)
    }

    pub fn port_reservations(&self, host: &str) -> StateResult<PortReservations> {
        Ok(read_json(&self.layout.host_ports(host))?.unwrap_or_default())
    }

    // ---- services ----

    /// The service lock: every change to a service's record, revisions or instance set is
    /// made while holding it. Blocks until it is free.
    pub fn lock_service(&self, namespace: &str, service: &str) -> StateResult<FileLock> {
        FileLock::acquire(&self.layout.service_lock(namespace, service))
    }

    pub fn namespaces(&self) -> StateResult<Vec<String>> {
        list_dir(&self.layout.namespaces())
    }

    pub fn services(&self, namespace: &str) -> StateResult<Vec<ServiceRecord>> {
        let mut services = Vec::new();
        for name in list_dir(&self.layout.services(namespace))? {
            if let Some(record) = self.service(namespace, &name)? {
                services.push(record);
            }
        }
        Ok(services)
    }

    /// The names of a namespace's service directories, sorted (committed or not).
    pub fn service_dirs(&self, namespace: &str) -> StateResult<Vec<String>> {
        list_dir(&self.layout.services(namespace))
    }

    /// Service directories without a service record: a first deploy that stored its
    /// revision and never committed it. (Another agent may be in the middle of one: take
    /// the service lock before removing.)
    pub fn uncommitted_services(&self, namespace: &str) -> StateResult<Vec<String>> {
        let mut found = Vec::new();
        for name in list_dir(&self.layout.services(namespace))? {
            if self.service(namespace, &name)?.is_none() {
                found.push(name);
            }
        }
        Ok(found)
    }

    pub fn service(&self, namespace: &str, service: &str) -> StateResult<Option<ServiceRecord>> {
        read_json(&self.layout.service_record(namespace, service))
    }

    pub fn require_service(&self, namespace: &str, service: &str) -> StateResult<ServiceRecord> {
        self.service(namespace, service)?
            .ok_or_else(|| StateError::ServiceNotFound {
                namespace: namespace.to_owned(),
                service: service.to_owned(),
            })
    }

    /// Caller holds the service lock.
    pub fn write_service(&self, record: &ServiceRecord) -> StateResult<()> {
        write_json(
            &self.layout.service_record(&record.namespace, &record.name),
            record,
        )
    }

    /// Stores a new, immutable revision: the package (moved from a staging directory), the
    /// graph and the instance records it plans (stamped with its number). Returns the number. Caller holds the service
    /// lock. The revision counts only once it is committed: once service.json names it
    /// (`write_service`); until then a crash leaves a directory that
    /// `remove_uncommitted_revisions` takes away, and its number is used again.
    pub fn create_revision<G: Serialize>(
        &self,
        namespace: &str,
        service: &str,
        staged_package: &Path,
        graph: &G,
        plan: &mut [InstanceRecord],
    ) -> StateResult<u64> {
        crate::offload::blocking(|| {
            self.create_revision_here(namespace, service, staged_package, graph, plan)
        })
    }

    fn create_revision_here<G: Serialize>(
        &self,
        namespace: &str,
        service: &str,
        staged_package: &Path,
        graph: &G,
        plan: &mut [InstanceRecord],
    ) -> StateResult<u64> {
        let committed = self.service(namespace, service)?.map_or(0, |r| r.revision);
        self.remove_uncommitted_revisions_here(namespace, service, committed)?;
        let next = self
            .revision_numbers(namespace, service)?
            .into_iter()
            .max()
            .unwrap_or(0)
            .max(committed)
            + 1;
        let dir = self.layout.revision(namespace, service, next);
        fs::create_dir_all(&dir).map_err(|e| StateError::io("create directory", &dir, e))?;
        let package = self.layout.revision_package(namespace, service, next);
        fs::rename(staged_package, &package)
            .map_err(|e| StateError::io("move package into", &package, e))?;
        write_json(&self.layout.revision_graph(namespace, service, next), graph)?;
        for record in plan.iter_mut() {
            record.revision = next;
        }
        write_json(&self.layout.revision_plan(namespace, service, next), &plan)?;
        sync_dir(&dir)?;
        Ok(next)
    }

    fn revision_numbers(&self, namespace: &str, service: &str) -> StateResult<Vec<u64>> {
        Ok(list_dir(&self.layout.revisions(namespace, service))?
            .iter()
            .filter_map(|n| n.parse::<u64>().ok())
            .collect())
    }

    /// Removes the revisions above `committed`: stored by a deploy that never committed
    /// them (it failed, or its agent died, before service.json named them). Caller holds the
    /// service lock. Returns the numbers removed.
    pub fn remove_uncommitted_revisions(
        &self,
        namespace: &str,
        service: &str,
        committed: u64,
    ) -> StateResult<Vec<u64>> {
        crate::offload::blocking(|| {
            self.remove_uncommitted_revisions_here(namespace, service, committed)
        })
    }

    fn remove_uncommitted_revisions_here(
        &self,
        namespace: &str,
        service: &str,
        committed: u64,
    ) -> StateResult<Vec<u64>> {
        let mut removed = Vec::new();
        for n in self.revision_numbers(namespace, service)? {
            if n > committed {
                let dir = self.layout.revision(namespace, service, n);
                fs::remove_dir_all(&dir).map_err(|e| StateError::io("remove", &dir, e))?;
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// The instance records a revision planned (None for revisions stored before plans
    /// were kept).
    pub fn revision_plan(
        &self,
        namespace: &str,
        service: &str,
        revision: u64,
    ) -> StateResult<Option<Vec<InstanceRecord>>> {
        read_json(&self.layout.revision_plan(namespace, service, revision))
    }

    pub fn read_graph<G: DeserializeOwned>(
        &self,
        namespace: &str,
        service: &str,
        revision: u64,
    ) -> StateResult<Option<G>> {
        read_json(&self.layout.revision_graph(namespace, service, revision))
    }

    /// Removes a service's directory. Caller holds the service lock. The directory is first
    /// renamed away so that readers never see half of it.
    /// Removes a service's directory, and its lock file: the caller holds the service lock,
    /// and a waiter for it finds the file unlinked when it gets it and takes the lock on a
    /// new one (`FileLock::acquire`), so no lock file is left per deleted service.
    pub fn remove_service(&self, namespace: &str, service: &str) -> StateResult<()> {
        crate::offload::blocking(|| self.remove_service_here(namespace, service))
    }

    fn remove_service_here(&self, namespace: &str, service: &str) -> StateResult<()> {
        let dir = self.layout.service(namespace, service);
        let lock = self.layout.service_lock(namespace, service);
        match fs::remove_file(&lock) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(StateError::io("remove", &lock, e)),
        }
        if !dir.exists() {
            return Ok(());
        }
        let graveyard = self.staging_dir()?;
        let moved = graveyard.join(service);
        fs::rename(&dir, &moved).map_err(|e| StateError::io("move away", &dir, e))?;
        sync_dir(&self.layout.services(namespace))?;
        fs::remove_dir_all(&graveyard).map_err(|e| StateError::io("remove", &graveyard, e))?;
        Ok(())
    }

    /// Removes what crashes leave on the state: temporary files of `write_atomic` that an
    /// earlier agent of `host` never renamed into place, and service lock files without a
    /// service (taken first, so that nobody holds one as it goes). Other hosts' temporary
    /// files are theirs. Returns (temporary files, lock files) removed.
    pub fn sweep_leftovers(&self, host: &str) -> StateResult<(usize, usize)> {
        crate::offload::blocking(|| {
            let temps = sweep_temp_files(self.layout.root(), host);
            let mut locks = 0;
            for ns in list_dir(&self.layout.namespaces())? {
                let dir = self.layout.services(&ns);
                let names = match fs::read_dir(&dir) {
                    Ok(entries) => entries
                        .flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .collect::<Vec<_>>(),
                    Err(_) => continue,
                };
                for name in names {
                    let Some(service) =
                        name.strip_prefix('.').and_then(|n| n.strip_suffix(".lock"))
                    else {
                        continue;
                    };
                    if self.layout.service(&ns, service).exists() {
                        continue;
                    }
                    let path = self.layout.service_lock(&ns, service);
                    if let Some(_held) = FileLock::try_acquire(&path)? {
                        if !self.layout.service(&ns, service).exists()
                            && fs::remove_file(&path).is_ok()
                        {
                            locks += 1;
                        }
                    }
                }
            }
            Ok((temps, locks))
        })
    }

    // ---- instances ----

    /// Only the agent of the instance's host writes its record, so no lock is needed.
    /// Records written at the same time by other threads share one batch of fsyncs
    /// (`write_atomic_batch`); this returns once this one is durable.
    pub fn write_instance(&self, record: &InstanceRecord) -> StateResult<()> {
        let item = Replacement::json(self.instance_path(record), record);
        crate::offload::blocking(|| {
            self.record_writes
                .submit(item, |batch| write_batch_here(batch, &mut |_| {}))
        })
    }

    /// Writes several instance records as one batch: each atomically, their fsyncs shared.
    /// `written` is told each record's index in `records` once it is in place. The first
    /// error, if any (the other records are written all the same).
    pub fn write_instances(
        &self,
        records: &[InstanceRecord],
        written: &mut dyn FnMut(usize),
    ) -> StateResult<()> {
        let items: Vec<Replacement> = records
            .iter()
            .map(|r| Replacement::json(self.instance_path(r), r))
            .collect();
        crate::atomic::write_atomic_batch(&items, written)
            .into_iter()
            .find(Result::is_err)
            .unwrap_or(Ok(()))
    }

    fn instance_path(&self, record: &InstanceRecord) -> PathBuf {
        self.layout.instance(
            &record.namespace,
            &record.service,
            &record.node,
            record.index,
        )
    }

    pub fn instance(
        &self,
        namespace: &str,
        service: &str,
        node: &str,
        index: u32,
    ) -> StateResult<Option<InstanceRecord>> {
        read_json(&self.layout.instance(namespace, service, node, index))
    }

    /// The record of `instance`; `None` when it has none.
    pub fn instance_record(&self, instance: &InstanceRef) -> StateResult<Option<InstanceRecord>> {
        self.instance(
            &instance.namespace,
            &instance.service,
            &instance.node,
            instance.index,
        )
    }

    pub fn instances(&self, namespace: &str, service: &str) -> StateResult<Vec<InstanceRecord>> {
        let dir = self.layout.instances(namespace, service);
        let mut records = Vec::new();
        for name in list_dir(&dir)? {
            if !name.ends_with(".json") {
                continue;
            }
            if let Some(record) = read_json::<InstanceRecord>(&dir.join(&name))? {
                records.push(record);
            }
        }
        records.sort_by(|a, b| (&a.node, a.index).cmp(&(&b.node, b.index)));
        Ok(records)
    }

    pub fn remove_instance(
        &self,
        namespace: &str,
        service: &str,
        node: &str,
        index: u32,
    ) -> StateResult<()> {
        let path = self.layout.instance(namespace, service, node, index);
        match crate::offload::blocking(|| fs::remove_file(&path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::io("remove", path, e)),
        }
    }

    // ---- events ----

    /// Appends one event to its day's log under the events lock, so lines from several
    /// agents never interleave.
    pub fn append_event(&self, event: &Event) -> StateResult<()> {
        self.append_events(std::slice::from_ref(event))
    }

    /// Appends events, in order, to their days' logs: one lock, one write and one fsync per
    /// day file for the whole batch.
    pub fn append_events(&self, events: &[Event]) -> StateResult<()> {
        crate::offload::blocking(|| self.append_events_here(events))
    }

    fn append_events_here(&self, events: &[Event]) -> StateResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let _lock = FileLock::acquire(&self.layout.events_lock())?;
        let mut start = 0;
        while start < events.len() {
            let day = events[start].time.format("%Y-%m-%d").to_string();
            let mut lines = Vec::new();
            let mut end = start;
            while end < events.len() && events[end].time.format("%Y-%m-%d").to_string() == day {
                serde_json::to_writer(&mut lines, &events[end]).expect("events serialize");
                lines.push(b'\n');
                end += 1;
            }
            let path = self.layout.event_log(&day);
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| StateError::io("open event log", &path, e))?;
            file.write_all(&lines)
                .and_then(|()| file.sync_data())
                .map_err(|e| StateError::io("append to", &path, e))?;
            start = end;
        }
        Ok(())
    }

    /// Events from the log, oldest first, optionally only those at or after `since`.
    /// Lines that do not parse (a newer agent's event types) are skipped.
    pub fn events(&self, since: Option<DateTime<Utc>>) -> StateResult<Vec<Event>> {
        let mut days: Vec<String> = list_dir(&self.layout.events())?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".jsonl").map(str::to_owned))
            .collect();
        days.sort();
        if let Some(since) = since {
            let first = since.format("%Y-%m-%d").to_string();
            days.retain(|d| *d >= first);
        }
        let mut events = Vec::new();
        for day in days {
            let path = self.layout.event_log(&day);
            let text = crate::offload::blocking(|| fs::read_to_string(&path))
                .map_err(|e| StateError::io("read", &path, e))?;
            events.extend(
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Event>(l).ok())
                    .filter(|e| since.is_none_or(|s| e.time >= s)),
            );
        }
        Ok(events)
    }
}

/// Names of the entries of a directory (sorted, hidden ones skipped); empty when missing.
fn list_dir(dir: &Path) -> StateResult<Vec<String>> {
    crate::offload::blocking(|| list_dir_here(dir))
}

fn list_dir_here(dir: &Path) -> StateResult<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StateError::io("list", dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes `host`'s stale temporary files below `dir` (revision packages are skipped: no
/// temporary file is ever written there). Returns how many.
fn sweep_temp_files(dir: &Path, host: &str) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match entry.file_type() {
            Ok(t) if t.is_dir() && name != "package" => {
                removed += sweep_temp_files(&entry.path(), host);
            }
            Ok(t)
                if t.is_file()
                    && crate::atomic::is_stale_temp_of(&name, host)
                    && fs::remove_file(entry.path()).is_ok() =>
            {
                removed += 1;
            }
            _ => {}
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortOwner;

    fn record(ns: &str, name: &str, revision: u64) -> ServiceRecord {
        crate::fixtures::service(ns, name, revision)
    }

    #[test]
    fn open_writes_cluster_info_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirStore::open(dir.path()).unwrap().cluster().unwrap();
        let b = DirStore::open(dir.path()).unwrap().cluster().unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
    }

    #[test]
    fn revisions_are_numbered_and_hold_package_and_graph() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        for expected in 1..=2 {
            let staged = store.staging_dir().unwrap();
            fs::write(staged.join("service.yaml"), "x").unwrap();
            let _lock = store.lock_service("default", "web").unwrap();
            let n = store
                .create_revision(
                    "default",
                    "web",
                    &staged,
                    &serde_json::json!({"rev": expected}),
                    &mut [],
                )
                .unwrap();
            assert_eq!(n, expected);
            store.write_service(&record("default", "web", n)).unwrap();
        }
        let graph: serde_json::Value = store.read_graph("default", "web", 1).unwrap().unwrap();
        assert_eq!(graph["rev"], 1);
        assert!(store
            .layout()
            .revision_package("default", "web", 2)
            .join("service.yaml")
            .exists());
    }

    #[test]
    fn leftovers_of_a_crash_are_swept_and_live_things_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store.write_service(&record("default", "web", 1)).unwrap();
        let service_dir = store.layout().service("default", "web");
        let dead_pid = u32::MAX - 1;
        let stale = service_dir.join(format!(".service.json~h1~{dead_pid}.0.tmp"));
        let other_host = service_dir.join(format!(".service.json~h2~{dead_pid}.0.tmp"));
        for path in [&stale, &other_host] {
            fs::write(path, "{").unwrap();
        }
        // A lock without a service, one somebody holds, and the live service's own.
        let orphan = store.layout().service_lock("default", "gone");
        let held_path = store.layout().service_lock("default", "coming");
        fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        fs::write(&orphan, "").unwrap();
        let held = store.lock_service("default", "coming").unwrap();
        drop(store.lock_service("default", "web").unwrap());
        assert_eq!(store.sweep_leftovers("h1").unwrap(), (1, 1));
        assert!(!stale.exists());
        assert!(other_host.exists(), "another host's temporary file stays");
        assert!(!orphan.exists());
        assert!(held_path.exists(), "a held lock stays");
        assert!(store.layout().service_lock("default", "web").exists());
        drop(held);
    }

    #[test]
    fn an_uncommitted_revision_is_removed_and_its_number_used_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let create = |store: &DirStore| {
            let staged = store.staging_dir().unwrap();
            fs::write(staged.join("service.yaml"), "x").unwrap();
            store
                .create_revision("default", "web", &staged, &serde_json::json!({}), &mut [])
                .unwrap()
        };
        let _lock = store.lock_service("default", "web").unwrap();
        assert_eq!(create(&store), 1);
        store.write_service(&record("default", "web", 1)).unwrap();
        // Stored, never committed (the deploy failed or its agent died): 2 goes away.
        assert_eq!(create(&store), 2);
        assert_eq!(
            store
                .remove_uncommitted_revisions("default", "web", 1)
                .unwrap(),
            vec![2]
        );
        assert!(!store.layout().revision("default", "web", 2).exists());
        // And the next deploy that commits gets 2, not 3.
        assert_eq!(create(&store), 2);
        assert_eq!(
            create(&store),
            2,
            "an uncommitted 2 is replaced, not skipped"
        );
        assert!(store.layout().revision("default", "web", 1).exists());
    }

    #[test]
    fn concurrent_updates_of_one_service_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store.write_service(&record("default", "s", 0)).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let _lock = store.lock_service("default", "s").unwrap();
                        let mut r = store.require_service("default", "s").unwrap();
                        r.revision += 1;
                        store.write_service(&r).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.require_service("default", "s").unwrap().revision, 200);
    }

    #[test]
    fn locks_of_different_services_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let _a = store.lock_service("default", "a").unwrap();
        let other = store.clone();
        let t = std::thread::spawn(move || other.lock_service("default", "b").map(|_| ()));
        t.join().unwrap().unwrap();
    }

    #[test]
    fn removed_service_is_gone_and_lock_still_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let lock = store.lock_service("default", "s").unwrap();
        store.write_service(&record("default", "s", 1)).unwrap();
        // Another holder-to-be waits on the lock while the service is removed.
        let waiter = {
            let store = store.clone();
            std::thread::spawn(move || {
                let _lock = store.lock_service("default", "s").unwrap();
                store.write_service(&record("default", "s", 2)).unwrap();
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        store.remove_service("default", "s").unwrap();
        let lock_file = store.layout().service_lock("default", "s");
        assert!(!lock_file.exists(), "the lock file outlived its service");
        drop(lock);
        waiter.join().unwrap();
        // The waiter got the lock (on a new file) and wrote after the removal.
        assert_eq!(store.service("default", "s").unwrap().unwrap().revision, 2);
        store.remove_service("default", "s").unwrap();
        assert!(store.service("default", "s").unwrap().is_none());
        assert!(store.services("default").unwrap().is_empty());
        assert!(!lock_file.exists());
        let _again = store.lock_service("default", "s").unwrap();
    }

    #[test]
    fn instances_round_trip_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        for node in ["b", "a"] {
            store
                .write_instance(&crate::fixtures::instance("default", "s", node, 0))
                .unwrap();
        }
        let all = store.instances("default", "s").unwrap();
        assert_eq!(
            all.iter().map(|i| i.node.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(all[0].ports["endpoint"], 20000);
    }

    #[test]
    fn ports_are_reserved_per_host_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let owner = PortOwner {
            namespace: "default".into(),
            service: "s".into(),
            node: "n".into(),
            index: 0,
            endpoint: "endpoint".into(),
        };
        let range = PortRange {
            first: 30000,
            last: 30001,
        };
        let got = store
            .reserve_ports(
                "h",
                &[PortRequest {
                    owner: owner.clone(),
                    port: None,
                }],
                range,
                &|_| false,
            )
            .unwrap();
        assert_eq!(got, vec![30000]);
        assert_eq!(store.port_reservations("h").unwrap().ports.len(), 1);
        assert_eq!(store.release_ports("h", "default", "s").unwrap(), 1);
        assert!(store.port_reservations("h").unwrap().ports.is_empty());
    }

    #[test]
    fn host_claim_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let claim = store.claim_host("h1").unwrap();
        assert!(store.host_is_alive("h1").unwrap());
        let err = store.claim_host("h1").unwrap_err();
        assert!(
            err.to_string()
                .contains("already served by a running agent"),
            "{err}"
        );
        drop(claim);
        assert!(!store.host_is_alive("h1").unwrap());
    }

    #[test]
    fn events_append_and_read_back_in_order() {
        use crate::events::EventKind;
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        for i in 0..3 {
            store
                .append_event(&Event::now(
                    "h",
                    EventKind::ServiceDeployed {
                        namespace: "default".into(),
                        service: format!("s{i}"),
                        revision: 1,
                    },
                ))
                .unwrap();
        }
        let events = store.events(None).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].service(), Some(("default", "s2")));
    }
}
