//! The planner: a pure function from what is wanted and what was observed (by tags) to an
//! ordered, printable list of actions. `--dry-run` prints exactly this; `apply` runs it.
//! No I/O here.
//!
//! One file per command family: `setup` (and the step vocabulary of the endpoint's side),
//! `teardown` (also `nat off`), `nat` (`nat on`), `sleep` (`sleep`, `wake`, the CRL step and
//! the one endpoint); the types they share are here.

use super::model::*;

use ipnet::Ipv4Net;
use serde::Serialize;

mod nat;
mod setup;
mod sleep;
mod teardown;

pub use nat::*;
pub use setup::*;
pub use sleep::*;
pub use teardown::*;

/// What setup should produce.
#[derive(Debug, Clone)]
pub struct Desired {
    pub deployment: String,
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub endpoint: EndpointSpec,
    /// Authorization rules: the VPC CIDR, extra CIDRs, 0.0.0.0/0 for a full tunnel.
    pub authorize: Vec<Ipv4Net>,
    pub full_tunnel: bool,
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
}

impl Observed {
    /// The certificate the endpoint uses, else the newest tagged one.
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
                    .max_by_key(|c| c.created.unwrap_or(0))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Phase {
    Certificate = 1,
    Endpoint = 2,
    /// Removals first: a subnet moved within one Availability Zone can only be associated
    /// once the old one is gone.
    Prune = 3,
    Network = 4,
    Routes = 5,
    Profiles = 6,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    ImportCertificate {
        reimport_arn: Option<String>,
    },
    CreateEndpoint,
    ModifyEndpoint {
        changes: Vec<String>,
    },
    Associate {
        subnet: String,
        az: String,
    },
    WaitAssociation {
        subnet: String,
        state: String,
    },
    Disassociate {
        subnet: String,
        association: String,
    },
    Authorize {
        cidr: String,
    },
    WaitRule {
        cidr: String,
        state: String,
    },
    CreateRoute {
        cidr: String,
        subnet: String,
    },
    WaitRoute {
        cidr: String,
        subnet: String,
        state: String,
    },
    /// Remove an authorization rule the settings no longer ask for.
    RevokeRule {
        cidr: String,
    },
    /// Remove a route vpnctl added that the settings no longer ask for (e.g. full tunnel off).
    DeleteRoute {
        cidr: String,
        subnet: String,
    },
    /// Give the endpoint the PKI's current CRL.
    ImportCrl,
    /// Remove a sleep record the endpoint no longer needs (setup re-associated it).
    ClearSleepRecord,
    WriteProfiles,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub phase: Phase,
    #[serde(flatten)]
    pub action: Action,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::ImportCertificate { reimport_arn: None } => write!(
                f,
                "import the server certificate into ACM (CA as chain; also the client root)"
            ),
            Action::ImportCertificate {
                reimport_arn: Some(arn),
            } => write!(
                f,
                "re-import the renewed server certificate to the same ARN ({}): endpoint and \
                 profiles survive",
                short_arn(arn)
            ),
            Action::CreateEndpoint => write!(f, "create the Client VPN endpoint"),
            Action::ModifyEndpoint { changes } => {
                write!(f, "modify the endpoint: {}", changes.join(", "))
            }
            Action::Associate { subnet, az } if az.is_empty() => {
                write!(f, "associate subnet {subnet} and wait until associated")
            }
            Action::Associate { subnet, az } => write!(
                f,
                "associate subnet {subnet} ({az}) and wait until associated"
            ),
            Action::WaitAssociation { subnet, state } => write!(
                f,
                "wait for the association of {subnet} ({state} → associated)"
            ),
            Action::Disassociate {
                subnet,
                association,
            } => write!(
                f,
                "disassociate subnet {subnet} ({association}), no longer wanted"
            ),
            Action::Authorize { cidr } => write!(f, "authorize access to {cidr}"),
            Action::WaitRule { cidr, state } => {
                write!(f, "wait for the authorization of {cidr} ({state} → active)")
            }
            Action::CreateRoute { cidr, subnet } => write!(f, "route {cidr} via {subnet}"),
            Action::WaitRoute {
                cidr,
                subnet,
                state,
            } => write!(
                f,
                "wait for the route {cidr} via {subnet} ({state} → active)"
            ),
            Action::RevokeRule { cidr } => {
                write!(f, "revoke the authorization of {cidr}, no longer wanted")
            }
            Action::DeleteRoute { cidr, subnet } => {
                write!(f, "delete the route {cidr} via {subnet}, no longer wanted")
            }
            Action::ClearSleepRecord => {
                write!(f, "clear the endpoint's sleep record (it is awake again)")
            }
            Action::ImportCrl => write!(
                f,
                "import the PKI's CRL (AWS resets every live connection; revoked users are refused)"
            ),
            Action::WriteProfiles => write!(
                f,
                "export the client configuration and write a .ovpn per valid user"
            ),
        }
    }
}

/// Compare PEM texts ignoring line breaks and surrounding white space.
pub use crate::pki::crl::same_pem;

#[cfg(test)]
mod tests;
