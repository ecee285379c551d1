//! The delegates of this host, one slot per kind: the delegate when it can run here, or why
//! it cannot. Filled once at start-up (`Delegates::detect`); tests put fakes in (`with`).
//! Everything else asks the registry, never a delegate type by name.

use crate::workload::DelegateKind;
use khutulun_delegates::docker::DockerDelegate;
use khutulun_delegates::nspawn::NspawnDelegate;
use khutulun_delegates::podman::PodmanDelegate;
use khutulun_delegates::{Capabilities, Delegate, DirectoryDelegate, ProcessDelegate};
use std::collections::BTreeMap;
use std::path::Path;

type Found = Result<Box<dyn Delegate>, String>;

#[derive(Default)]
pub struct Delegates {
    slots: BTreeMap<DelegateKind, Found>,
}

impl Delegates {
    /// Looks for every delegate this host could run: its tool installed, its engine
    /// answering, and what its capabilities ask of the agent (root) given.
    pub async fn detect(docker_socket: Option<&Path>) -> Delegates {
        let uid = rustix::process::geteuid().as_raw();
        let docker = DockerDelegate::connect(docker_socket).await;
        let found: [(DelegateKind, Found); 5] = [
            (DelegateKind::Process, Ok(Box::new(ProcessDelegate))),
            (DelegateKind::Directory, Ok(Box::new(DirectoryDelegate))),
            (DelegateKind::Podman, boxed(PodmanDelegate::detect())),
            (DelegateKind::Docker, boxed(docker)),
            (DelegateKind::Nspawn, boxed(NspawnDelegate::detect())),
        ];
        let mut delegates = Delegates::default();
        for (kind, found) in found {
            let found = found.and_then(|d| match refusal(d.capabilities(), uid) {
                Some(why) => Err(why),
                None => Ok(d),
            });
            if let Err(why) = &found {
                tracing::info!("no {} delegate on this host: {why}", kind.name());
            }
            delegates.slots.insert(kind, found);
        }
        delegates
    }

    /// Puts `delegate` in the slot of `kind` (tests: a fake in place of a real one).
    pub fn with(mut self, kind: DelegateKind, delegate: Box<dyn Delegate>) -> Delegates {
        self.slots.insert(kind, Ok(delegate));
        self
    }

    /// The delegate of `kind`: `None` for nodes nothing runs, why not when it cannot run
    /// on this host.
    pub fn get(&self, kind: DelegateKind) -> Result<Option<&dyn Delegate>, String> {
        if kind == DelegateKind::None {
            return Ok(None);
        }
        match self.slots.get(&kind) {
            Some(Ok(delegate)) => Ok(Some(delegate.as_ref())),
            Some(Err(why)) => Err(why.clone()),
            None => Err("this agent has no such delegate".into()),
        }
    }

    /// The names of the delegates that can run here (published in the host record).
    pub fn available(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(_, found)| found.is_ok())
            .map(|(kind, _)| kind.name().to_owned())
            .collect()
    }
}

fn boxed<D: Delegate + 'static>(found: Result<D, khutulun_delegates::DelegateError>) -> Found {
    found
        .map(|d| Box::new(d) as Box<dyn Delegate>)
        .map_err(|e| e.to_string())
}

/// Why a delegate with these capabilities cannot run for an agent running as `uid`.
pub fn refusal(capabilities: Capabilities, uid: u32) -> Option<String> {
    (capabilities.needs_root && uid != 0)
        .then(|| format!("it needs root, and the agent runs as uid {uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delegate_that_needs_root_is_refused_to_other_users() {
        let nspawn = NspawnDelegate::CAPABILITIES;
        assert_eq!(refusal(nspawn, 0), None);
        assert_eq!(
            refusal(nspawn, 1000).as_deref(),
            Some("it needs root, and the agent runs as uid 1000")
        );
        assert_eq!(refusal(ProcessDelegate::CAPABILITIES, 1000), None);
    }

    #[test]
    fn an_empty_slot_says_so_and_fakes_take_a_slot() {
        let delegates =
            Delegates::default().with(DelegateKind::Directory, Box::new(DirectoryDelegate));
        assert!(matches!(delegates.get(DelegateKind::None), Ok(None)));
        assert!(delegates.get(DelegateKind::Podman).is_err());
        assert_eq!(
            delegates
                .get(DelegateKind::Directory)
                .unwrap()
                .unwrap()
                .name(),
            "directory"
        );
        assert_eq!(delegates.available(), ["directory"]);
    }
}
