//! (in progress) The nspawn delegate.
