//! Constructors for `PlacementError`.

use crate::model::{InstanceId, PlacementError};

/// Malformed input: no policy, maybe no instance.
pub(crate) fn input(message: impl Into<String>) -> PlacementError {
    PlacementError {
        policy: None,
        instance: None,
        message: message.into(),
    }
}

/// `message` is what follows "cannot place <subject>: ".
pub(crate) fn cannot_place(
    policies: &[&str],
    instance: &InstanceId,
    subject: &str,
    message: impl AsRef<str>,
) -> PlacementError {
    PlacementError {
        policy: (!policies.is_empty()).then(|| policies.join(", ")),
        instance: Some(instance.clone()),
        message: format!("cannot place {subject}: {}", message.as_ref()),
    }
}
