//! Restart policy and backoff: pure decisions, tested without processes.

use khutulun_delegates::Exit;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(text: &str) -> Result<RestartPolicy, String> {
        match text {
            "always" => Ok(RestartPolicy::Always),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "never" => Ok(RestartPolicy::Never),
            other => Err(format!(
                "restart policy \"{other}\" is not one of always, on-failure, never"
            )),
        }
    }

    pub fn restarts_after(self, exit: &Exit) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !exit.success(),
            RestartPolicy::Never => false,
        }
    }
}

/// Exponential backoff between restarts, reset once a run lasted long enough to count as
/// healthy.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
}

pub const FIRST_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(30);
pub const HEALTHY_RUN: Duration = Duration::from_secs(10);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { attempt: 0 }
    }

    /// The delay before the next restart, given how long the last run lasted.
    pub fn next_delay(&mut self, last_run: Duration) -> Duration {
        if last_run >= HEALTHY_RUN {
            self.attempt = 0;
        }
        let delay = FIRST_DELAY
            .saturating_mul(1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX))
            .min(MAX_DELAY);
        self.attempt += 1;
        delay
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH: Exit = Exit {
        code: None,
        signal: Some(9),
    };
    const CLEAN: Exit = Exit {
        code: Some(0),
        signal: None,
    };

    #[test]
    fn policies() {
        assert!(RestartPolicy::Always.restarts_after(&CLEAN));
        assert!(RestartPolicy::OnFailure.restarts_after(&CRASH));
        assert!(!RestartPolicy::OnFailure.restarts_after(&CLEAN));
        assert!(!RestartPolicy::Never.restarts_after(&CRASH));
        assert!(RestartPolicy::parse("sometimes").is_err());
    }

    #[test]
    fn backoff_doubles_caps_and_resets_after_a_healthy_run() {
        let mut b = Backoff::new();
        let quick = Duration::from_millis(10);
        let delays: Vec<_> = (0..12).map(|_| b.next_delay(quick)).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[2], Duration::from_millis(400));
        assert_eq!(*delays.last().unwrap(), MAX_DELAY);
        assert_eq!(b.next_delay(HEALTHY_RUN), FIRST_DELAY);
    }
}
