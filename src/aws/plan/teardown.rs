//! `teardown`'s and `nat off`'s plans: what bills, removed in the order AWS requires.

use super::*;
use serde::Serialize;

/// Teardown's steps, in the order AWS requires: associations must go before the endpoint
/// can be deleted (and disassociating already deletes the routes), and ACM refuses to delete
/// a certificate an endpoint still uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum TeardownAction {
    /// Put back the default route `nat on --force` replaced.
    RestoreRoute {
        table: String,
        target: String,
    },
    /// Remove the default route `nat on` added.
    DeleteRoute {
        table: String,
    },
    Disassociate {
        endpoint: String,
        association: String,
        subnet: String,
    },
    DeleteNatGateway {
        id: String,
    },
    DeleteEndpoint {
        endpoint: String,
    },
    DeleteCertificate {
        arn: String,
    },
    /// Deleting a NAT gateway leaves its Elastic IP allocated (and billing): release it.
    ReleaseAddress {
        allocation: String,
    },
}

impl TeardownAction {
    /// 1: routes and associations (nothing depends on them); 2: the NAT gateway and the
    /// endpoint, each waited until gone (an endpoint cannot go while associated); 3: what
    /// those held: ACM certificates (in use by the endpoint) and Elastic IPs (held by the NAT).
    pub fn phase(&self) -> u8 {
        match self {
            TeardownAction::RestoreRoute { .. }
            | TeardownAction::DeleteRoute { .. }
            | TeardownAction::Disassociate { .. } => 1,
            TeardownAction::DeleteNatGateway { .. } | TeardownAction::DeleteEndpoint { .. } => 2,
            TeardownAction::DeleteCertificate { .. } | TeardownAction::ReleaseAddress { .. } => 3,
        }
    }

    pub fn is_nat(&self) -> bool {
        matches!(
            self,
            TeardownAction::RestoreRoute { .. }
                | TeardownAction::DeleteRoute { .. }
                | TeardownAction::DeleteNatGateway { .. }
                | TeardownAction::ReleaseAddress { .. }
        )
    }
}

/// An ACM ARN as people read it in a plan line: `certificate/<id>` (the region and account
/// are the command's own).
pub fn short_arn(arn: &str) -> &str {
    arn.rfind(":certificate/")
        .map(|i| &arn[i + 1..])
        .unwrap_or(arn)
}

impl std::fmt::Display for TeardownAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TeardownAction::RestoreRoute { table, target } => {
                write!(f, "restore 0.0.0.0/0 → {target} in {table}")
            }
            TeardownAction::DeleteRoute { table } => write!(
                f,
                "remove the 0.0.0.0/0 route to the NAT gateway from {table}"
            ),
            TeardownAction::Disassociate {
                endpoint: _,
                association,
                subnet,
            } => write!(
                f,
                "disassociate {subnet} ({association}) from the endpoint and wait until gone"
            ),
            TeardownAction::DeleteNatGateway { id } => {
                write!(f, "delete the NAT gateway {id} and wait until deleted")
            }
            TeardownAction::DeleteEndpoint { endpoint } => {
                write!(f, "delete the endpoint {endpoint} and wait until gone")
            }
            TeardownAction::DeleteCertificate { arn } => {
                write!(f, "delete the ACM certificate {}", short_arn(arn))
            }
            TeardownAction::ReleaseAddress { allocation } => {
                write!(f, "release the Elastic IP {allocation}")
            }
        }
    }
}

pub fn plan_teardown(seen: &Observed) -> Vec<TeardownAction> {
    let mut steps = plan_nat_off(seen);
    for v in &seen.endpoints {
        let Some(e) = &v.endpoint else { continue };
        for a in &v.associations {
            steps.push(TeardownAction::Disassociate {
                endpoint: e.id.clone(),
                association: a.id.clone(),
                subnet: a.subnet_id.clone(),
            });
        }
        steps.push(TeardownAction::DeleteEndpoint {
            endpoint: e.id.clone(),
        });
    }
    for c in &seen.certificates {
        steps.push(TeardownAction::DeleteCertificate { arn: c.arn.clone() });
    }
    steps.sort_by_key(|s| s.phase());
    steps
}

/// `nat off`: the default routes that point at the deployment's NAT gateways (restored to
/// what `nat on --force` replaced, else removed), the NAT gateways, their Elastic IPs.
pub fn plan_nat_off(seen: &Observed) -> Vec<TeardownAction> {
    let mut steps = Vec::new();
    for t in &seen.route_tables {
        let Some(RouteTarget::Nat(id)) = t.default_route() else {
            continue;
        };
        let Some(nat) = seen.nat_gateways.iter().find(|n| &n.id == id) else {
            continue;
        };
        match nat
            .tags
            .get(TAG_REPLACED_ROUTE)
            .filter(|_| nat.tags.get(TAG_ROUTE_TABLE) == Some(&t.id))
        {
            Some(old) => steps.push(TeardownAction::RestoreRoute {
                table: t.id.clone(),
                target: old.clone(),
            }),
            None => steps.push(TeardownAction::DeleteRoute {
                table: t.id.clone(),
            }),
        }
    }
    for n in &seen.nat_gateways {
        steps.push(TeardownAction::DeleteNatGateway { id: n.id.clone() });
    }
    for a in &seen.addresses {
        steps.push(TeardownAction::ReleaseAddress {
            allocation: a.allocation_id.clone(),
        });
    }
    steps.sort_by_key(|s| s.phase());
    steps
}
