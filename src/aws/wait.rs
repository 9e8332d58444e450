//! The one waiter: polls a probe with a policy (interval, timeout) until it reports done,
//! reporting progress while it waits. The intervals come from `exec::Policies`, which the
//! command layer builds (with `VPNCTL_POLL_INTERVAL` read once, in `commands::Environment`).

use super::cloud::CloudError;
use std::time::{Duration, Instant};

/// Receives progress lines; the command layer implements it with the printer.
pub trait Reporter: Sync {
    fn progress(&self, line: &str);
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub interval: Duration,
    pub timeout: Duration,
    /// How often a wait that sees no change reports that it is still waiting.
    pub heartbeat: Duration,
}

impl Policy {
    pub fn new(interval: Duration, timeout: Duration) -> Policy {
        Policy {
            interval,
            timeout,
            heartbeat: Duration::from_secs(15),
        }
    }
}

pub enum Probe<T> {
    Done(T),
    /// Not yet; the resource's current state.
    Pending(String),
}

#[derive(Debug)]
pub enum WaitError {
    Cloud(CloudError),
    /// (what, last state, waited)
    Timeout(String, String, Duration),
    /// A change that AWS accepted but that reading it back does not show.
    Unverified(String),
    /// A change refused before it was made, because what AWS holds now forbids it
    /// (message, hint).
    Refused(String, String),
}

impl From<CloudError> for WaitError {
    fn from(e: CloudError) -> Self {
        WaitError::Cloud(e)
    }
}

/// Poll `probe` until it is done. `what` names the resource in progress lines and errors.
pub async fn until<T, F, Fut>(
    policy: &Policy,
    what: &str,
    reporter: &dyn Reporter,
    mut probe: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Probe<T>, CloudError>>,
{
    let start = Instant::now();
    let mut last_state = String::new();
    let mut last_report = start;
    loop {
        match probe().await? {
            Probe::Done(v) => {
                if !last_state.is_empty() {
                    reporter.progress(&format!(
                        "  {what}: done after {}",
                        elapsed(start.elapsed())
                    ));
                }
                return Ok(v);
            }
            Probe::Pending(state) => {
                if state != last_state || last_report.elapsed() >= policy.heartbeat {
                    reporter.progress(&format!(
                        "  waiting for {what}: {state} ({} elapsed)",
                        elapsed(start.elapsed())
                    ));
                    last_state = state;
                    last_report = Instant::now();
                }
            }
        }
        if start.elapsed() >= policy.timeout {
            return Err(WaitError::Timeout(
                what.to_string(),
                last_state,
                start.elapsed(),
            ));
        }
        tokio::time::sleep(policy.interval).await;
    }
}

pub fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
