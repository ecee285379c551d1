//! (in progress) The podman delegate.
