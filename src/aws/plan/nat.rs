//! `nat on`'s plan: an Elastic IP, a NAT gateway in the public subnet, the default route.

use super::*;
use crate::error::{Error, Result};

/// What `nat on` should produce.
#[derive(Debug, Clone)]
pub struct NatWant {
    pub private: Subnet,
    pub public: Subnet,
    /// The route table the private subnet uses (its explicit association, else the main one).
    pub table: RouteTable,
    /// Unix time the NAT should be gone by (`--ttl`), recorded as a tag.
    pub expires: Option<i64>,
    /// Replace a default route vpnctl did not create (and remember it for `nat off`).
    pub force: bool,
}

impl NatWant {
    /// The deadline as the NAT gateway's `vpnctl:expires` tag holds it (RFC 3339).
    pub fn expires_tag(&self) -> Option<String> {
        self.expires
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
    }
}

/// The route table a subnet uses: its explicit association, else the VPC's main table.
pub fn table_of<'a>(subnet: &Subnet, tables: &'a [RouteTable]) -> Option<&'a RouteTable> {
    tables
        .iter()
        .find(|t| t.subnets.contains(&subnet.id))
        .or_else(|| tables.iter().find(|t| t.main && t.vpc_id == subnet.vpc_id))
}

/// The public subnet for the NAT gateway: a subnet of the VPC whose route table sends
/// 0.0.0.0/0 to an internet gateway. Exactly one, or an error that says what to do.
pub fn infer_public(private: &Subnet, subnets: &[Subnet], tables: &[RouteTable]) -> Result<Subnet> {
    let public: Vec<&Subnet> = subnets
        .iter()
        .filter(|s| s.id != private.id && s.vpc_id == private.vpc_id)
        .filter(|s| {
            table_of(s, tables)
                .and_then(|t| t.default_route())
                .is_some_and(RouteTarget::is_internet_gateway)
        })
        .collect();
    match public.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::invalid(
            format!(
                "no subnet of {} routes 0.0.0.0/0 to an internet gateway, so a NAT gateway there \
                    could not reach the internet",
                private.vpc_id
            ),
            "attach an internet gateway and route a public subnet to it, or name the public \
                subnet: `vpnctl nat on --subnet ... --via ID|NAME`",
        )),
        many => Err(Error::invalid(
            format!(
                "several public subnets in {}: {}",
                private.vpc_id,
                many.iter()
                    .map(|s| s.name.clone().unwrap_or_else(|| s.id.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "choose one: `vpnctl nat on --subnet ... --via ID|NAME`",
        )),
    }
}

pub fn plan_nat_on(want: &NatWant, seen: &Observed) -> Result<Vec<Step>> {
    let live: Vec<&NatGateway> = seen
        .nat_gateways
        .iter()
        .filter(|n| n.state.is_live())
        .collect();
    if let Some(other) = live.iter().find(|n| {
        n.tags
            .get(TAG_PRIVATE_SUBNET)
            .is_some_and(|s| s != &want.private.id)
    }) {
        return Err(Error::conflict(
            format!(
                "the deployment's NAT gateway {} serves another subnet ({})",
                other.id,
                other
                    .tags
                    .get(TAG_PRIVATE_SUBNET)
                    .map(String::as_str)
                    .unwrap_or("?")
            ),
            "run `vpnctl nat off` first, or use another --name",
        ));
    }
    let ours: Vec<&str> = live.iter().map(|n| n.id.as_str()).collect();
    let mut steps = Vec::new();
    let route = match want.table.default_route() {
        Some(RouteTarget::Nat(id)) if ours.contains(&id.as_str()) => None,
        None => Some(false),
        Some(other) if want.force && other.restorable() => Some(true),
        Some(other) if want.force => {
            return Err(Error::conflict(
                format!(
                    "route table {} sends 0.0.0.0/0 to {}, which vpnctl could not restore after \
                        `nat off`",
                    want.table.id,
                    if other.id().is_empty() {
                        "a target vpnctl does not know"
                    } else {
                        other.id()
                    }
                ),
                "change that route yourself, or give the NAT its own route table",
            ));
        }
        Some(other) => {
            return Err(Error::conflict(
                format!(
                    "route table {} already sends 0.0.0.0/0 to {}, which vpnctl did not create",
                    want.table.id,
                    other.id()
                ),
                format!(
                    "`vpnctl nat on --subnet {} --force` replaces it (vpnctl remembers it and \
                     `vpnctl nat off` restores it)",
                    want.private.name.as_deref().unwrap_or(&want.private.id)
                ),
            ));
        }
    };
    let expires = want.expires_tag();
    match live.first() {
        None => {
            if !seen.addresses.iter().any(|a| a.association_id.is_none()) {
                steps.push(Step::new(Action::AllocateAddress));
            }
            let replaced = if route == Some(true) {
                want.table.default_route().map(|t| t.id().to_string())
            } else {
                None
            };
            steps.push(Step::new(Action::CreateNatGateway {
                subnet: want.public.id.clone(),
                private: want.private.id.clone(),
                table: want.table.id.clone(),
                replaced,
                expires,
            }));
        }
        Some(n) => {
            // A new --ttl on a NAT that is already on moves its deadline.
            if let Some(e) = expires.filter(|e| n.tags.get(TAG_EXPIRES) != Some(e)) {
                steps.push(Step::new(Action::SetNatDeadline {
                    nat: n.id.clone(),
                    expires: e,
                }));
            }
            if n.state == NatState::Pending {
                steps.push(Step::new(Action::WaitNatGateway { nat: n.id.clone() }));
            }
        }
    }
    if let Some(replace) = route {
        steps.push(Step::new(Action::SetDefaultRoute {
            table: want.table.id.clone(),
            replace,
        }));
    }
    Ok(ordered(steps))
}
