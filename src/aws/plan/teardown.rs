//! `teardown`'s and `nat off`'s plans: what bills, removed in the order AWS requires
//! (associations before the endpoint, the endpoint before its certificate, the NAT gateway
//! before its Elastic IP; routes first). The phases of `Action::phase` give that order.

use super::*;

pub fn plan_teardown(seen: &Observed) -> Vec<Step> {
    let mut steps = plan_nat_off(seen);
    for v in &seen.endpoints {
        let Some(e) = &v.endpoint else { continue };
        for a in &v.associations {
            steps.push(Step::on(
                &e.id,
                Action::Disassociate {
                    association: a.id.clone(),
                    subnet: a.subnet_id.clone(),
                },
            ));
        }
        steps.push(Step::on(
            &e.id,
            Action::DeleteEndpoint {
                endpoint: e.id.clone(),
            },
        ));
    }
    for c in &seen.certificates {
        steps.push(Step::new(Action::DeleteCertificate { arn: c.arn.clone() }));
    }
    ordered(steps)
}

/// `nat off`: the default routes that point at the deployment's NAT gateways (restored to
/// what `nat on --force` replaced, else removed), the NAT gateways, their Elastic IPs.
pub fn plan_nat_off(seen: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    for t in &seen.route_tables {
        let Some(RouteTarget::Nat(id)) = t.default_route() else {
            continue;
        };
        let Some(nat) = seen.nat_gateways.iter().find(|n| &n.id == id) else {
            continue;
        };
        let action = match nat
            .tags
            .get(TAG_REPLACED_ROUTE)
            .filter(|_| nat.tags.get(TAG_ROUTE_TABLE) == Some(&t.id))
        {
            Some(old) => Action::RestoreDefaultRoute {
                table: t.id.clone(),
                target: old.clone(),
            },
            None => Action::RemoveDefaultRoute {
                table: t.id.clone(),
            },
        };
        steps.push(Step::new(action));
    }
    for n in &seen.nat_gateways {
        steps.push(Step::new(Action::DeleteNatGateway { nat: n.id.clone() }));
    }
    for a in &seen.addresses {
        steps.push(Step::new(Action::ReleaseAddress {
            allocation: a.allocation_id.clone(),
        }));
    }
    ordered(steps)
}
