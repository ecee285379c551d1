//! (in progress) The docker delegate.
