//! The planner: pure functions from what is wanted and what was observed (by tags) to an
//! ordered, printable list of `Step`s (the one vocabulary, in `step`). `--dry-run` prints
//! exactly this; the executor runs it. No I/O here.
//!
//! One file per command family: `setup`, `teardown` (also `nat off`), `nat` (`nat on`),
//! `sleep` (`sleep`, `wake`, `kick`, the CRL push and the one endpoint); the types they share
//! are here.

use super::model::*;

use ipnet::Ipv4Net;
use serde::Serialize;

mod deadline;
mod nat;
mod recurring;
mod setup;
mod sleep;
mod step;
mod teardown;

pub use deadline::*;
pub use nat::*;
pub use recurring::*;
pub use setup::*;
pub use sleep::*;
pub use step::*;
pub use teardown::*;

/// What setup should produce.
#[derive(Debug, Clone)]
pub struct Desired {
    pub deployment: String,
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub endpoint: EndpointSpec,
    /// Authorization rules: the VPC CIDR, extra CIDRs, the routed ones, 0.0.0.0/0 for a full
    /// tunnel.
    pub authorize: Vec<Ipv4Net>,
    /// Rules for one SAML or Active Directory group each (`--authorize CIDR=GROUP`).
    pub groups: Vec<(Ipv4Net, String)>,
    pub full_tunnel: bool,
    /// Destinations beyond the VPC routed via every subnet (`--route`).
    pub routes: Vec<Ipv4Net>,
    /// The local server certificate, to compare with what ACM holds.
    pub server_cert_pem: String,
    /// The PKI's CRL, to compare with what the endpoint holds.
    pub crl_pem: String,
    /// The PKI's CA: a certificate in ACM it did not sign belongs to another PKI.
    pub ca_pem: String,
}

/// One endpoint as observed, with its children.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointView {
    pub endpoint: Option<Endpoint>,
    pub associations: Vec<Association>,
    pub rules: Vec<AuthRule>,
    pub routes: Vec<Route>,
    pub connections: Vec<Connection>,
    /// The CRL the endpoint holds.
    pub crl: Option<String>,
}

/// Everything of one deployment found by its tags.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub certificates: Vec<Certificate>,
    pub endpoints: Vec<EndpointView>,
    pub nat_gateways: Vec<NatGateway>,
    pub addresses: Vec<Address>,
    /// The route tables of the VPCs the NAT gateways are in.
    pub route_tables: Vec<RouteTable>,
    /// The body ACM holds for the certificate setup would use (see `Observed::server_cert`).
    #[serde(skip)]
    pub server_cert_body: Option<String>,
    /// The schedules of the deployment's schedule group (its deadlines).
    pub schedules: Vec<Schedule>,
    /// The ARN of the deployment's scheduler role, when it exists.
    pub scheduler_role: Option<String>,
    /// The ARN of the role the deployment's state machines run as, when it exists.
    pub states_role: Option<String>,
    /// The deployment's Step Functions state machines (working hours, idle sleep): (name, ARN).
    pub state_machines: Vec<(String, String)>,
    /// Why the state machines could not be read (no Step Functions permission); `None` when
    /// they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machines_unread: Option<String>,
    /// Why the deadlines could not be read (the credentials may not reach Scheduler or IAM);
    /// `None` when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadlines_unread: Option<String>,
}

impl Desired {
    /// Every rule wanted, as (CIDR, group): the rules for every client, then the groups'.
    pub fn grants(&self) -> Vec<(String, Option<String>)> {
        self.authorize
            .iter()
            .map(|c| (c.to_string(), None))
            .chain(
                self.groups
                    .iter()
                    .map(|(c, g)| (c.to_string(), Some(g.clone()))),
            )
            .collect()
    }

    /// Whether the rule for `cidr` (and `group`) is one the settings ask for.
    pub fn wants_rule(&self, cidr: &str, group: Option<&str>) -> bool {
        self.grants()
            .iter()
            .any(|(c, g)| c == cidr && g.as_deref() == group)
    }

    /// Every destination routed via each subnet: 0.0.0.0/0 for a full tunnel, then `routes`.
    pub fn routed(&self) -> Vec<String> {
        let all = self.full_tunnel.then(|| "0.0.0.0/0".to_string());
        all.into_iter()
            .chain(self.routes.iter().map(ToString::to_string))
            .collect()
    }
}

impl Observed {
    /// The certificate the endpoint uses, else the newest tagged one.
    /// (A certificate `adopt` marked as the clients' root CA is never the server's.)
    pub fn server_cert(&self) -> Option<&Certificate> {
        let used = self
            .endpoints
            .iter()
            .filter_map(|v| v.endpoint.as_ref()?.server_cert_arn.as_deref())
            .next();
        used.and_then(|arn| self.certificates.iter().find(|c| c.arn == arn))
            .or_else(|| {
                self.certificates
                    .iter()
                    .filter(|c| !c.tags.contains_key(crate::aws::model::TAG_CERT_ROLE))
                    .max_by_key(|c| c.created.unwrap_or(0))
            })
    }
}

/// An ACM ARN as people read it in a plan line: `certificate/<id>` (the region and account
/// are the command's own).
pub fn short_arn(arn: &str) -> &str {
    arn.rfind(":certificate/")
        .map(|i| &arn[i + 1..])
        .unwrap_or(arn)
}

/// Compare PEM texts ignoring line breaks and surrounding white space.
pub use crate::pki::crl::same_pem;

#[cfg(test)]
mod tests;
