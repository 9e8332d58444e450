//! How long the executor waits for each kind of AWS transition, and how it paces and retries
//! its calls. The numbers are AWS's, from the Client VPN and EC2 documentation and what users
//! of other tools report (`../shared/AWS-FACTS.md` §3, §4): associations often take over 10
//! minutes, rules and routes sometimes over 10.

use super::super::wait::Policy;
use std::time::Duration;

/// Waits, per kind of resource: a poll interval and a timeout after which the step fails
/// (exit 7) naming the resource, its last state and how long it waited; running the command
/// again continues the wait.
#[derive(Debug, Clone, Copy)]
pub struct Policies {
    /// Associating and disassociating a subnet: 5–30 minutes.
    pub association: Policy,
    /// Authorizing and revoking a rule: over 10 minutes seen.
    pub rule: Policy,
    /// Creating and deleting a Client VPN route.
    pub route: Policy,
    /// Deleting the endpoint.
    pub endpoint: Policy,
    /// ACM still seeing a certificate in use after its endpoint is gone.
    pub certificate_in_use: Policy,
    /// EC2 still seeing an Elastic IP held by a deleting NAT gateway.
    pub address_in_use: Policy,
    /// NAT gateways becoming available or deleted: 1–5 minutes.
    pub nat: Policy,
    pub retry: Retry,
}

/// The executor's retries and pacing (the SDK does not retry mutations: `sdk::AwsCloud`).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The first pause after a transient failure; each next one doubles, up to `cap`, and
    /// the pause drawn is uniform between its half and itself, all within the step's timeout.
    pub base: Duration,
    pub cap: Duration,
    /// How long "not found" for a resource this run created is taken for AWS's eventual
    /// consistency rather than an answer.
    pub consistency: Duration,
    /// Operations under way on one endpoint at a time. AWS allows 10
    /// (`ConcurrentMutationLimitExceeded` beyond); its quota page names associations (and
    /// security groups), and users report rules and routes refused with that code too, so
    /// vpnctl counts them all, an association or disassociation twice (its own operation and
    /// its VPC route's), keeps below 10, and retries the code when something else on the
    /// endpoint is busy.
    pub endpoint_budget: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            consistency: Duration::from_secs(120),
            endpoint_budget: 8,
        }
    }
}

/// The timeouts `[timeouts]` in vpnctl.toml may set, by kind.
pub const TIMEOUT_KINDS: &[&str] = &[
    "association",
    "rule",
    "route",
    "endpoint",
    "certificate",
    "address",
    "nat",
];

impl Policies {
    /// AWS's waits, every one polled at `interval` when given (tests shrink AWS's minutes to
    /// fractions of a second with it, and the retries' first pause with them).
    pub fn polling(interval: Option<Duration>) -> Self {
        let mut p = Policies::default();
        if let Some(i) = interval {
            for w in p.all_mut() {
                w.interval = i;
            }
            p.retry.base = p.retry.base.min(i).max(Duration::from_millis(1));
            p.retry.cap = p.retry.cap.min(i * 8);
        }
        p
    }

    /// Set the timeout of one kind (`TIMEOUT_KINDS`); false for an unknown kind.
    pub fn set_timeout(&mut self, kind: &str, timeout: Duration) -> bool {
        let w = match kind {
            "association" => &mut self.association,
            "rule" => &mut self.rule,
            "route" => &mut self.route,
            "endpoint" => &mut self.endpoint,
            "certificate" => &mut self.certificate_in_use,
            "address" => &mut self.address_in_use,
            "nat" => &mut self.nat,
            _ => return false,
        };
        w.timeout = timeout;
        true
    }

    fn all_mut(&mut self) -> [&mut Policy; 7] {
        [
            &mut self.association,
            &mut self.rule,
            &mut self.route,
            &mut self.endpoint,
            &mut self.certificate_in_use,
            &mut self.address_in_use,
            &mut self.nat,
        ]
    }
}

impl Default for Policies {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        let secs = Duration::from_secs;
        Policies {
            association: Policy::new(secs(10), min(30)),
            rule: Policy::new(secs(3), min(15)),
            route: Policy::new(secs(3), min(15)),
            endpoint: Policy::new(secs(5), min(15)),
            certificate_in_use: Policy::new(secs(5), min(10)),
            address_in_use: Policy::new(secs(5), min(5)),
            nat: Policy::new(secs(10), min(15)),
            retry: Retry::default(),
        }
    }
}
