//! The one waiter: polls a probe with a policy (interval, timeout) until it reports done,
//! reporting progress while it waits. The intervals come from `exec::Policies`, which the
//! command layer builds (with `VPNCTL_POLL_INTERVAL` read once, in `commands::Environment`).

use super::cloud::CloudError;
use std::time::Duration;
// tokio's clock: the same as the wall clock in a run, and one a test can pause and advance.
use tokio::time::Instant;

/// Receives progress lines; the command layer implements it with the printer.
pub trait Reporter: Sync {
    fn progress(&self, line: &str);

    /// A wait's state at a poll, `elapsed` since it began; `changed` when the state differs
    /// from the one last reported or a heartbeat is due. By default a line then.
    fn waiting(&self, what: &str, state: &str, elapsed: Duration, changed: bool) {
        if changed {
            self.progress(&format!(
                "  waiting for {what}: {state} ({} elapsed)",
                self::elapsed(elapsed)
            ));
        }
    }

    /// A wait that ended as wanted after `elapsed`; `reported`: whether a state was shown.
    fn waited(&self, what: &str, elapsed: Duration, reported: bool) {
        if reported {
            self.progress(&format!("  {what}: done after {}", self::elapsed(elapsed)));
        }
    }

    /// A wait that ended otherwise (an error, a timeout): what showed it goes.
    fn wait_ended(&self, _what: &str) {}
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

#[derive(Debug, Clone)]
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

/// Poll `probe` until it is done. `what` names the resource in progress lines and errors. A
/// transient error of a probe (throttled, AWS busy or failing on its side, no answer) is one
/// more poll that saw nothing, within the timeout; any other error ends the wait.
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
        let seen = match probe().await {
            Err(e) if e.is_transient() => Probe::Pending(format!("not seen ({e})")),
            Err(e) => {
                reporter.wait_ended(what);
                return Err(e.into());
            }
            Ok(p) => p,
        };
        match seen {
            Probe::Done(v) => {
                reporter.waited(what, start.elapsed(), !last_state.is_empty());
                return Ok(v);
            }
            Probe::Pending(state) => {
                let changed = state != last_state || last_report.elapsed() >= policy.heartbeat;
                reporter.waiting(what, &state, start.elapsed(), changed);
                if changed {
                    last_state = state;
                    last_report = Instant::now();
                }
            }
        }
        if start.elapsed() >= policy.timeout {
            reporter.wait_ended(what);
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

#[cfg(test)]
mod tests {
    //! The waiter under tokio's paused clock: its sleeps advance the clock at once, so AWS's
    //! minutes take no time, and `tokio::time::Instant` tells how much clock time a wait took.
    use super::*;
    use crate::aws::cloud::Kind;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Reporter for Recorder {
        fn progress(&self, line: &str) {
            self.0.lock().expect("recorder").push(line.to_string());
        }
    }

    impl Recorder {
        fn lines(&self) -> Vec<String> {
            self.0.lock().expect("recorder").clone()
        }
    }

    fn policy(interval: u64, timeout: u64) -> Policy {
        Policy::new(Duration::from_secs(interval), Duration::from_secs(timeout))
    }

    /// Fails (instead of hanging) a wait that does not stop by `limit` of clock time.
    async fn bounded<T>(
        limit: Duration,
        wait: impl Future<Output = Result<T, WaitError>>,
    ) -> Result<T, WaitError> {
        match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) => panic!("the wait did not stop within {limit:?} of clock time"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn done_after_n_pendings_returns_the_value_after_n_intervals() {
        let r = Recorder::default();
        let calls = AtomicUsize::new(0);
        let start = tokio::time::Instant::now();
        let got = until(&policy(10, 600), "association of subnet-a", &r, || async {
            Ok(match calls.fetch_add(1, Ordering::SeqCst) {
                0..3 => Probe::Pending("associating".to_string()),
                _ => Probe::Done(42),
            })
        })
        .await;
        assert_eq!(got.ok(), Some(42));
        assert_eq!(calls.load(Ordering::SeqCst), 4, "three pendings, then done");
        // Three sleeps of the interval between the four probes, no more.
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        let lines = r.lines();
        assert_eq!(
            lines.first().map(String::as_str),
            Some("  waiting for association of subnet-a: associating (0.0s elapsed)")
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.starts_with("  waiting") || l.contains("associating")),
            "{lines:?}"
        );
        assert!(
            lines
                .last()
                .is_some_and(|l| l.starts_with("  association of subnet-a: done after")),
            "{lines:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn done_at_once_reports_nothing_and_does_not_sleep() {
        let r = Recorder::default();
        let start = tokio::time::Instant::now();
        let got = until(&policy(10, 600), "x", &r, || async {
            Ok(Probe::Done("ok"))
        })
        .await;
        assert_eq!(got.ok(), Some("ok"));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(r.lines().is_empty(), "{:?}", r.lines());
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_state_is_reported_once_when_it_changes() {
        let r = Recorder::default();
        let calls = AtomicUsize::new(0);
        until(&policy(2, 600), "NAT gateway nat-1", &r, || async {
            Ok(match calls.fetch_add(1, Ordering::SeqCst) {
                0..2 => Probe::Pending("pending".to_string()),
                2..4 => Probe::Pending("deleting".to_string()),
                _ => Probe::Done(()),
            })
        })
        .await
        .expect("done");
        let waiting: Vec<String> = r
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("  waiting"))
            .collect();
        // Intervals of 2 s stay below the 15 s heartbeat: one line per state, not per poll.
        assert_eq!(waiting.len(), 2, "{waiting:?}");
        assert!(waiting[0].contains(": pending ("), "{waiting:?}");
        assert!(waiting[1].contains(": deleting ("), "{waiting:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_probe_error_is_one_more_poll() {
        let r = Recorder::default();
        let calls = AtomicUsize::new(0);
        let got: Result<u8, WaitError> = until(
            &policy(10, 600),
            "deletion of cvpn-endpoint-1",
            &r,
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Ok(Probe::Pending("deleting".to_string())),
                    1 => Err(CloudError::new(Kind::Throttled, "Rate exceeded")),
                    2 => Err(CloudError::answered("ec2", "X", "InternalError", "oops")),
                    _ => Ok(Probe::Done(7)),
                }
            },
        )
        .await;
        assert_eq!(got.expect("done after the transient errors"), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let lines = r.0.lock().expect("lines").clone();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("not seen (throttled by AWS: Rate exceeded)")),
            "{lines:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_error_stops_the_wait_at_once() {
        let r = Recorder::default();
        let calls = AtomicUsize::new(0);
        let start = tokio::time::Instant::now();
        let got: Result<(), WaitError> = until(
            &policy(10, 600),
            "deletion of cvpn-endpoint-1",
            &r,
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Ok(Probe::Pending("deleting".to_string())),
                    _ => Err(CloudError::answered(
                        "ec2",
                        "DescribeClientVpnEndpoints",
                        "UnauthorizedOperation",
                        "You are not authorized",
                    )),
                }
            },
        )
        .await;
        match got {
            Err(WaitError::Cloud(e)) => {
                assert_eq!(e.code(), Some("UnauthorizedOperation"))
            }
            other => panic!("expected the probe's error, got {other:?}"),
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "no probe after the error");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(10),
            "no sleep after the error"
        );
    }

    // The next two hold because the waiter measures time with tokio's clock (with
    // `std::time::Instant` the paused clock would never reach the timeout or a heartbeat);
    // `bounded` makes them fail fast if it ever does not.

    #[tokio::test(start_paused = true)]
    async fn a_timeout_names_what_the_last_state_and_how_long() {
        let r = Recorder::default();
        let p = policy(10, 20 * 60);
        let start = tokio::time::Instant::now();
        let got: Result<(), WaitError> = bounded(
            p.timeout * 2,
            until(&p, "association of subnet-a", &r, || async {
                Ok(Probe::Pending("associating".to_string()))
            }),
        )
        .await;
        match got {
            Err(WaitError::Timeout(what, state, waited)) => {
                assert_eq!(what, "association of subnet-a");
                assert_eq!(state, "associating");
                assert!(waited >= p.timeout, "{waited:?}");
                assert!(waited < p.timeout + p.interval, "{waited:?}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        // It gave up at the first probe at or past the timeout, not later.
        assert_eq!(start.elapsed(), p.timeout);
        assert_eq!(elapsed(p.timeout), "20m00s");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unchanged_state_is_reported_again_at_each_heartbeat() {
        let r = Recorder::default();
        let p = policy(5, 600);
        let calls = AtomicUsize::new(0);
        bounded(
            p.timeout,
            until(&p, "NAT gateway nat-1", &r, || async {
                // Pending for 60 s of clock time (probes at 0, 5, …, 55 s), done at 60 s.
                Ok(match calls.fetch_add(1, Ordering::SeqCst) {
                    0..12 => Probe::Pending("pending".to_string()),
                    _ => Probe::Done(()),
                })
            }),
        )
        .await
        .expect("done");
        let lines = r.lines();
        let waiting: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("  waiting"))
            .collect();
        // At 0 s, then each 15 s heartbeat: 15, 30, 45 s.
        assert_eq!(
            waiting,
            [
                "  waiting for NAT gateway nat-1: pending (0.0s elapsed)",
                "  waiting for NAT gateway nat-1: pending (15.0s elapsed)",
                "  waiting for NAT gateway nat-1: pending (30.0s elapsed)",
                "  waiting for NAT gateway nat-1: pending (45.0s elapsed)",
            ],
            "{lines:?}"
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("  NAT gateway nat-1: done after 1m00s")
        );
    }
}
