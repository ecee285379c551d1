//! `khutulun exec`: a command run inside (or beside) an instance, streamed over a WebSocket.
//!
//! The delegate says how to reach the instance (an [`ExecPlan`](khutulun_delegates::ExecPlan):
//! `podman exec`, `docker exec`, `nsenter`, or the process's own user, environment and
//! directory); [`session`] runs that plan with pipes or a pseudo-terminal and relays its
//! input and output as [`protocol`] messages.

pub use khutulun_protocol::exec as protocol;
pub mod session;
