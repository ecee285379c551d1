//! An in-memory index of the services and instance records, for the read paths.
//!
//! Every host writes the shared state, so nothing here is told of a change: each read
//! checks what it holds against the files. A service's entry is valid while its
//! `service.json` and its `instances/` directory have the [`Stamp`] they had when the
//! entry was read; a namespace's service names while `services/<ns>/` has. Every state
//! write replaces a file by rename and every removal unlinks one, so each changes the
//! directory's mtime and ctime (and a record's inode). On a network filesystem the check
//! opens the path and `fstat`s it: on NFS an open revalidates the attributes with the
//! server (close-to-open), where a `stat` could answer from the client's attribute cache.
//! On a local filesystem a `stat` is the truth, and one system call instead of three.
//!
//! Timestamps are only as fine as the filesystem's clock tick: two changes within one tick
//! leave the same mtime, and an entry read between them would look valid. An entry is
//! therefore trusted only when its stamp was at least [`SETTLE`] old when its content was
//! read (the "racy" entries of git's index, solved the same way); until then every read
//! reads it again. On NFS the timestamps come from the server's clock: a server clock more
//! than [`SETTLE`] behind the host's could leave an entry stale after such a double write,
//! so no entry is trusted for longer than [`TRUST_FOR`] either.

use crate::error::{StateError, StateResult};
use crate::model::{InstanceRecord, ServiceRecord};
use crate::store::DirStore;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How old a stamp must be before an entry read under it is trusted.
pub const SETTLE: Duration = Duration::from_secs(2);
/// The longest an entry is trusted without reading it again.
pub const TRUST_FOR: Duration = Duration::from_secs(10);

/// What identifies one version of a file or directory: a rename or an unlink in a
/// directory changes its mtime and ctime; a replaced file has another inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of `path` (opened first when `how` says so: see the module's note on
    /// NFS), `None` when it does not exist.
    fn of(path: &Path, directory: bool, how: Revalidate) -> StateResult<Option<Stamp>> {
        use rustix::fs::{Mode, OFlags};
        let stat = crate::offload::blocking(|| match how {
            Revalidate::Stat => rustix::fs::lstat(path),
            Revalidate::Open => {
                let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
                if directory {
                    flags |= OFlags::DIRECTORY;
                }
                let fd = rustix::fs::open(path, flags, Mode::empty())?;
                rustix::fs::fstat(&fd)
            }
        });
        match stat {
            Ok(stat) => Ok(Some(Stamp {
                dev: stat.st_dev,
                ino: stat.st_ino,
                size: stat.st_size,
                mtime: (stat.st_mtime, stat.st_mtime_nsec as i64),
                ctime: (stat.st_ctime, stat.st_ctime_nsec as i64),
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(StateError::io("stat", path, e.into())),
        }
    }

    /// The later of mtime and ctime, as a time.
    fn changed_at(&self) -> SystemTime {
        let at = |(secs, nanos): (i64, i64)| {
            if secs >= 0 {
                SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos as u32)
            } else {
                SystemTime::UNIX_EPOCH
            }
        };
        at(self.mtime).max(at(self.ctime))
    }
}

/// How a stamp is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revalidate {
    /// `stat`: for a local filesystem.
    Stat,
    /// `open`, then `fstat`: for NFS and other network filesystems, whose clients cache
    /// attributes and revalidate them on open.
    Open,
}

/// A service as the read paths show it: its record and its instances' records.
#[derive(Debug)]
pub struct ServiceSnapshot {
    pub record: ServiceRecord,
    /// Sorted by node, then index.
    pub instances: Vec<InstanceRecord>,
}

/// A value read under stamps, and whether it may be served without reading it again.
struct Entry<S, T> {
    stamps: S,
    value: T,
    trusted_until: Option<Instant>,
}

impl<S: PartialEq, T: Clone> Entry<S, T> {
    fn serve(&self, stamps: &S) -> Option<T> {
        let trusted = self
            .trusted_until
            .is_some_and(|until| Instant::now() < until);
        (trusted && self.stamps == *stamps).then(|| self.value.clone())
    }
}

/// The wall clock the settle rule reads (tests move it).
pub type Clock = fn() -> SystemTime;

type ServiceKey = (String, String);
type ServiceStamps = (Option<Stamp>, Option<Stamp>);
type NamesEntry = Entry<Option<Stamp>, Arc<Vec<String>>>;

/// The index. Cheap to share (`Arc` it); every method does blocking IO.
pub struct StateIndex {
    store: DirStore,
    revalidate: Revalidate,
    clock: Clock,
    names: Mutex<HashMap<String, NamesEntry>>,
    services: Mutex<HashMap<ServiceKey, Entry<ServiceStamps, Arc<ServiceSnapshot>>>>,
}

impl StateIndex {
    pub fn new(store: DirStore, revalidate: Revalidate) -> StateIndex {
        StateIndex::with_clock(store, revalidate, SystemTime::now)
    }

    pub fn with_clock(store: DirStore, revalidate: Revalidate, clock: Clock) -> StateIndex {
        StateIndex {
            store,
            revalidate,
            clock,
            names: Mutex::default(),
            services: Mutex::default(),
        }
    }

    /// The committed services of a namespace with their instances, sorted by name.
    pub fn services(&self, namespace: &str) -> StateResult<Vec<Arc<ServiceSnapshot>>> {
        let mut services = Vec::new();
        for name in self.service_names(namespace)?.iter() {
            if let Some(service) = self.service(namespace, name)? {
                services.push(service);
            }
        }
        Ok(services)
    }

    /// One service with its instances; `None` when it has no record (never committed, or
    /// removed).
    pub fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> StateResult<Option<Arc<ServiceSnapshot>>> {
        let layout = self.store.layout();
        let stamps = (
            Stamp::of(
                &layout.service_record(namespace, name),
                false,
                self.revalidate,
            )?,
            Stamp::of(&layout.instances(namespace, name), true, self.revalidate)?,
        );
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(hit) = lock(&self.services)
            .get(&key)
            .and_then(|e| e.serve(&stamps))
        {
            return Ok(Some(hit));
        }
        let value = match stamps.0 {
            None => None,
            Some(_) => self.store.service(namespace, name)?.map(|record| {
                Ok::<_, StateError>(Arc::new(ServiceSnapshot {
                    instances: self.store.instances(namespace, name)?,
                    record,
                }))
            }),
        }
        .transpose()?;
        let Some(value) = value else {
            // Not kept: any name can be asked for.
            lock(&self.services).remove(&key);
            return Ok(None);
        };
        let newest = [stamps.0, stamps.1]
            .into_iter()
            .flatten()
            .map(|s| s.changed_at())
            .max();
        self.remember(&self.services, key, stamps, newest, value.clone());
        Ok(Some(value))
    }

    /// Like [`StateIndex::service`], an error when the service has no record.
    pub fn require_service(
        &self,
        namespace: &str,
        name: &str,
    ) -> StateResult<Arc<ServiceSnapshot>> {
        self.service(namespace, name)?
            .ok_or_else(|| StateError::ServiceNotFound {
                namespace: namespace.to_owned(),
                service: name.to_owned(),
            })
    }

    /// Drops what is kept of a service (deleted here: its memory goes now, not at the next
    /// read).
    pub fn forget(&self, namespace: &str, name: &str) {
        lock(&self.services).remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// The names of the service directories of a namespace, sorted.
    fn service_names(&self, namespace: &str) -> StateResult<Arc<Vec<String>>> {
        let dir = self.store.layout().services(namespace);
        let stamp = Stamp::of(&dir, true, self.revalidate)?;
        if let Some(hit) = lock(&self.names)
            .get(namespace)
            .and_then(|e| e.serve(&stamp))
        {
            return Ok(hit);
        }
        let names = Arc::new(self.store.service_dirs(namespace)?);
        let newest = stamp.map(|s| s.changed_at());
        self.remember(
            &self.names,
            namespace.to_owned(),
            stamp,
            newest,
            names.clone(),
        );
        Ok(names)
    }

    /// Keeps what was read under `stamps`, trusted only when the newest of them had
    /// settled before the read began (they were taken before it).
    fn remember<K: std::hash::Hash + Eq, S, T>(
        &self,
        map: &Mutex<HashMap<K, Entry<S, T>>>,
        key: K,
        stamps: S,
        newest: Option<SystemTime>,
        value: T,
    ) {
        let settled = newest.is_none_or(|changed| {
            (self.clock)()
                .duration_since(changed)
                .is_ok_and(|age| age >= SETTLE)
        });
        let trusted_until = settled.then(|| Instant::now() + TRUST_FOR);
        lock(map).insert(
            key,
            Entry {
                stamps,
                value,
                trusted_until,
            },
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding it leaves a map that is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::model::InstanceStatus;

    /// A clock an hour ahead: every stamp has settled, every entry is trusted.
    fn an_hour_later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(3600)
    }

    fn an_hour_earlier() -> SystemTime {
        SystemTime::now() - Duration::from_secs(3600)
    }

    /// An index over a state directory and a second store on the same directory: the
    /// other host, whose writes the index is never told of.
    fn index_and_other_host(clock: Clock) -> (tempfile::TempDir, StateIndex, DirStore) {
        index_and_other_host_by(Revalidate::Stat, clock)
    }

    fn index_and_other_host_by(
        how: Revalidate,
        clock: Clock,
    ) -> (tempfile::TempDir, StateIndex, DirStore) {
        let dir = tempfile::tempdir().unwrap();
        let own = DirStore::open(dir.path()).unwrap();
        let other = DirStore::open(dir.path()).unwrap();
        (dir, StateIndex::with_clock(own, how, clock), other)
    }

    fn states(index: &StateIndex, name: &str) -> Vec<(String, InstanceStatus)> {
        index
            .service("default", name)
            .unwrap()
            .map(|s| {
                s.instances
                    .iter()
                    .map(|i| (i.node.clone(), i.state))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_trusted_entry_is_served_from_memory() {
        let (_dir, index, other) = index_and_other_host(an_hour_later);
        other
            .write_service(&fixtures::service("default", "web", 1))
            .unwrap();
        other
            .write_instance(&fixtures::instance("default", "web", "a", 0))
            .unwrap();
        let first = index.service("default", "web").unwrap().unwrap();
        let again = index.service("default", "web").unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again), "read twice");
        let listed = index.services("default").unwrap();
        assert!(Arc::ptr_eq(&first, &listed[0]), "the listing read it again");
    }

    #[test]
    fn every_change_another_host_makes_is_seen_by_a_trusted_entry() {
        for how in [Revalidate::Stat, Revalidate::Open] {
            every_change_is_seen(how);
        }
    }

    fn every_change_is_seen(how: Revalidate) {
        let (_dir, index, other) = index_and_other_host_by(how, an_hour_later);
        assert!(index.services("default").unwrap().is_empty());

        // A new service appears in the listing.
        other
            .write_service(&fixtures::service("default", "web", 1))
            .unwrap();
        let names = |index: &StateIndex| -> Vec<String> {
            let services = index.services("default").unwrap();
            services.iter().map(|s| s.record.name.clone()).collect()
        };
        assert_eq!(names(&index), ["web"]);

        // An instance is added, then changes, then goes.
        other
            .write_instance(&fixtures::instance("default", "web", "a", 0))
            .unwrap();
        assert_eq!(
            states(&index, "web"),
            [("a".into(), InstanceStatus::Running)]
        );
        let mut stopped = fixtures::instance("default", "web", "a", 0);
        stopped.state = InstanceStatus::Stopped;
        other.write_instance(&stopped).unwrap();
        assert_eq!(
            states(&index, "web"),
            [("a".into(), InstanceStatus::Stopped)]
        );
        other.remove_instance("default", "web", "a", 0).unwrap();
        assert_eq!(states(&index, "web"), []);

        // The service record changes.
        let mut record = fixtures::service("default", "web", 2);
        record.message = Some("second".into());
        other.write_service(&record).unwrap();
        let service = index.service("default", "web").unwrap().unwrap();
        assert_eq!(
            (service.record.revision, service.record.message.as_deref()),
            (2, Some("second"))
        );

        // A second service, then the first one goes.
        other
            .write_service(&fixtures::service("default", "db", 1))
            .unwrap();
        assert_eq!(names(&index), ["db", "web"]);
        other.remove_service("default", "web").unwrap();
        assert_eq!(names(&index), ["db"]);
        assert!(index.service("default", "web").unwrap().is_none());
    }

    #[test]
    fn an_entry_read_before_its_stamp_settled_is_read_again() {
        // A clock an hour behind: every stamp is younger than SETTLE (newer than "now").
        let (_dir, index, other) = index_and_other_host(an_hour_earlier);
        other
            .write_service(&fixtures::service("default", "web", 1))
            .unwrap();
        let first = index.service("default", "web").unwrap().unwrap();
        let again = index.service("default", "web").unwrap().unwrap();
        assert!(
            !Arc::ptr_eq(&first, &again),
            "an entry whose stamp was younger than SETTLE was trusted"
        );
    }

    #[test]
    fn an_untrusted_or_expired_entry_is_not_served_even_with_equal_stamps() {
        // A second write within the filesystem's clock tick leaves the stamps as they
        // were: only the settle rule and the expiry keep the old value from being served.
        let entry = |trusted_until| Entry {
            stamps: 1,
            value: "old",
            trusted_until,
        };
        assert_eq!(entry(None).serve(&1), None);
        assert_eq!(entry(Some(Instant::now())).serve(&1), None);
        let later = Instant::now() + TRUST_FOR;
        assert_eq!(entry(Some(later)).serve(&1), Some("old"));
        assert_eq!(entry(Some(later)).serve(&2), None);
    }

    #[test]
    fn names_nobody_has_are_not_kept() {
        let (_dir, index, _other) = index_and_other_host(an_hour_later);
        for i in 0..10 {
            assert!(index
                .service("default", &format!("nope{i}"))
                .unwrap()
                .is_none());
        }
        assert!(lock(&index.services).is_empty());
    }
}
