//! The planner: a pure function from what is wanted and what was observed (by tags) to an
//! ordered, printable list of actions. `--dry-run` prints exactly this; `apply` runs it.
//! No I/O here.

use super::model::*;
use crate::error::{Error, Result};
use ipnet::Ipv4Net;
use serde::Serialize;

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

/// Plan setup. Errors for drift that cannot be modified in place (client CIDR, VPC,
/// transport) and for more than one endpoint carrying the deployment's tags.
pub fn plan_setup(want: &Desired, seen: &Observed) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let push = |steps: &mut Vec<Step>, phase, action| steps.push(Step { phase, action });

    match seen.server_cert() {
        None => push(
            &mut steps,
            Phase::Certificate,
            Action::ImportCertificate { reimport_arn: None },
        ),
        Some(c) => {
            if let Some(body) = seen
                .server_cert_body
                .as_deref()
                .filter(|b| !same_pem(b, &want.server_cert_pem))
                && !crate::pki::cert::signed_by(body, &want.ca_pem)
            {
                // Re-importing would swap the endpoint's CA under every existing profile.
                return Err(Error::conflict(
                    format!(
                        "the ACM certificate {} of deployment '{}' was issued by another CA: \
                            another PKI uses this deployment name",
                        c.arn, want.deployment
                    ),
                    "use another --name for this PKI, or tear that deployment down from the \
                        directory of \
                     the PKI that made it",
                ));
            }
            if seen
                .server_cert_body
                .as_deref()
                .is_some_and(|b| !same_pem(b, &want.server_cert_pem))
            {
                push(
                    &mut steps,
                    Phase::Certificate,
                    Action::ImportCertificate {
                        reimport_arn: Some(c.arn.clone()),
                    },
                );
            }
        }
    }

    let live: Vec<&EndpointView> = seen
        .endpoints
        .iter()
        .filter(|v| {
            v.endpoint
                .as_ref()
                .is_some_and(|e| e.state != EndpointState::Deleting)
        })
        .collect();
    if live.len() > 1 {
        let ids: Vec<_> = live
            .iter()
            .filter_map(|v| v.endpoint.as_ref().map(|e| e.id.clone()))
            .collect();
        return Err(Error::conflict(
            format!(
                "{} endpoints carry the tags of deployment '{}': {}",
                live.len(),
                want.deployment,
                ids.join(", ")
            ),
            "run `vpnctl teardown` for this deployment, then setup again",
        ));
    }
    if seen.endpoints.iter().any(|v| {
        v.endpoint
            .as_ref()
            .is_some_and(|e| e.state == EndpointState::Deleting)
    }) && live.is_empty()
    {
        return Err(Error::conflict(
            format!(
                "the endpoint of deployment '{}' is being deleted",
                want.deployment
            ),
            "wait for `vpnctl teardown` to finish (or run it again), then setup",
        ));
    }
    let view = live.first().copied();
    let spec = &want.endpoint;
    let empty = EndpointView::default();
    let view = match view.and_then(|v| v.endpoint.as_ref().map(|e| (v, e))) {
        None => {
            push(&mut steps, Phase::Endpoint, Action::CreateEndpoint);
            &empty
        }
        Some((v, e)) => {
            if let Some(c) = e.client_cidr
                && c != spec.client_cidr
            {
                return Err(Error::conflict(
                    format!(
                        "the endpoint {} has client CIDR {c}, not {}; AWS cannot change it in \
                            place",
                        e.id, spec.client_cidr
                    ),
                    format!("keep --client-cidr {c}, or run `vpnctl teardown` and setup again"),
                ));
            }
            if let Some(vpc) = &e.vpc_id
                && vpc != &spec.vpc_id
            {
                return Err(Error::conflict(
                    format!(
                        "the endpoint {} belongs to {vpc}, not {}",
                        e.id, spec.vpc_id
                    ),
                    "use the deployment's VPC, or another --name for a new deployment",
                ));
            }
            if let Some(t) = e.transport
                && t != spec.transport
            {
                return Err(Error::conflict(
                    format!(
                        "the endpoint {} uses {}; AWS cannot change the transport in place",
                        e.id,
                        if t == Transport::Tcp { "tcp" } else { "udp" }
                    ),
                    "keep the transport, or teardown and setup again",
                ));
            }
            let mut changes = Vec::new();
            if e.split_tunnel != spec.split_tunnel {
                changes.push(format!(
                    "split tunnel {} → {}",
                    e.split_tunnel, spec.split_tunnel
                ));
            }
            let dns: Vec<String> = spec.dns_servers.iter().map(|d| d.to_string()).collect();
            if e.dns_servers != dns {
                changes.push(format!("DNS servers {:?} → {:?}", e.dns_servers, dns));
            }
            if e.port.is_some_and(|p| p != spec.port) {
                changes.push(format!(
                    "port {} → {}",
                    e.port.unwrap_or_default(),
                    spec.port
                ));
            }
            if e.description
                .as_deref()
                .is_some_and(|d| d != spec.description)
            {
                changes.push("description".to_string());
            }
            if !spec.security_groups.is_empty()
                && sorted(&e.security_groups) != sorted(&spec.security_groups)
            {
                changes.push(format!(
                    "security groups → {}",
                    spec.security_groups.join(", ")
                ));
            }
            if e.log_group != spec.log_group {
                changes.push(match &spec.log_group {
                    Some(g) => format!("connection logging on, to {g}"),
                    None => "connection logging off".to_string(),
                });
            }
            if !changes.is_empty() {
                push(
                    &mut steps,
                    Phase::Endpoint,
                    Action::ModifyEndpoint { changes },
                );
            }
            v
        }
    };

    for s in &want.subnets {
        match view.associations.iter().find(|a| {
            a.subnet_id == s.id
                && a.state != AssociationState::Disassociating
                && a.state != AssociationState::AssociationFailed
        }) {
            None => push(
                &mut steps,
                Phase::Network,
                Action::Associate {
                    subnet: s.id.clone(),
                    az: s.az.clone(),
                },
            ),
            Some(a) if a.state == AssociationState::Associated => {}
            Some(a) => push(
                &mut steps,
                Phase::Network,
                Action::WaitAssociation {
                    subnet: s.id.clone(),
                    state: a.state.to_string(),
                },
            ),
        }
    }
    for a in &view.associations {
        if !want.subnets.iter().any(|s| s.id == a.subnet_id)
            && a.state != AssociationState::Disassociating
        {
            push(
                &mut steps,
                Phase::Prune,
                Action::Disassociate {
                    subnet: a.subnet_id.clone(),
                    association: a.id.clone(),
                },
            );
        }
    }
    for cidr in &want.authorize {
        match view.rules.iter().find(|r| {
            r.cidr == cidr.to_string()
                && r.state != RuleState::Failed
                && r.state != RuleState::Revoking
        }) {
            None => push(
                &mut steps,
                Phase::Network,
                Action::Authorize {
                    cidr: cidr.to_string(),
                },
            ),
            Some(r) if r.state == RuleState::Active => {}
            Some(r) => push(
                &mut steps,
                Phase::Network,
                Action::WaitRule {
                    cidr: cidr.to_string(),
                    state: r.state.to_string(),
                },
            ),
        }
    }
    if want.full_tunnel {
        for s in &want.subnets {
            match view.routes.iter().find(|r| {
                r.cidr == "0.0.0.0/0"
                    && r.subnet_id == s.id
                    && r.state != RouteState::Deleting
                    && r.state != RouteState::Failed
            }) {
                None => push(
                    &mut steps,
                    Phase::Routes,
                    Action::CreateRoute {
                        cidr: "0.0.0.0/0".into(),
                        subnet: s.id.clone(),
                    },
                ),
                Some(r) if r.state == RouteState::Active => {}
                Some(r) => push(
                    &mut steps,
                    Phase::Routes,
                    Action::WaitRoute {
                        cidr: "0.0.0.0/0".into(),
                        subnet: s.id.clone(),
                        state: r.state.to_string(),
                    },
                ),
            }
        }
    }
    // What vpnctl's endpoint has beyond the settings goes: rules not asked for, and routes it
    // added ("add-route") that are not wanted — e.g. after switching full tunnel off. Routes
    // AWS adds with an association are left to AWS.
    let ours = owned_description(&want.deployment);
    for r in &view.rules {
        if r.description.as_deref() == Some(ours.as_str())
            && r.state != RuleState::Revoking
            && !want.authorize.iter().any(|c| c.to_string() == r.cidr)
        {
            push(
                &mut steps,
                Phase::Prune,
                Action::RevokeRule {
                    cidr: r.cidr.clone(),
                },
            );
        }
    }
    for r in &view.routes {
        let wanted = want.full_tunnel
            && r.cidr == "0.0.0.0/0"
            && want.subnets.iter().any(|s| s.id == r.subnet_id);
        if r.origin == "add-route"
            && r.description.as_deref() == Some(ours.as_str())
            && r.state != RouteState::Deleting
            && !wanted
        {
            push(
                &mut steps,
                Phase::Prune,
                Action::DeleteRoute {
                    cidr: r.cidr.clone(),
                    subnet: r.subnet_id.clone(),
                },
            );
        }
    }
    if let Some(a) = crl_step(view.crl.as_deref(), &want.crl_pem, &want.ca_pem)? {
        push(&mut steps, Phase::Network, a);
    }
    if view.endpoint.as_ref().is_some_and(has_sleep_record) {
        // Setup associates from the settings: a sleep record left on the endpoint would make
        // a later sleep/wake bring back subnets the settings dropped.
        push(&mut steps, Phase::Profiles, Action::ClearSleepRecord);
    }
    push(&mut steps, Phase::Profiles, Action::WriteProfiles);
    steps.sort_by_key(|s| s.phase);
    Ok(steps)
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum NatAction {
    AllocateAddress,
    /// Create the NAT gateway in `subnet`; `replaced` is the default route target to restore.
    CreateNatGateway {
        subnet: String,
        replaced: Option<String>,
    },
    WaitAvailable {
        id: Option<String>,
    },
    /// Point 0.0.0.0/0 of `table` at the NAT gateway.
    SetRoute {
        table: String,
        replace: bool,
    },
}

impl std::fmt::Display for NatAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatAction::AllocateAddress => write!(f, "allocate an Elastic IP"),
            NatAction::CreateNatGateway {
                subnet,
                replaced: None,
            } => write!(f, "create a NAT gateway in {subnet}"),
            NatAction::CreateNatGateway {
                subnet,
                replaced: Some(r),
            } => write!(
                f,
                "create a NAT gateway in {subnet} (remembering the replaced route to {r})"
            ),
            NatAction::WaitAvailable { id } => write!(
                f,
                "wait until the NAT gateway{} is available",
                id.as_ref().map(|i| format!(" {i}")).unwrap_or_default()
            ),
            NatAction::SetRoute {
                table,
                replace: false,
            } => write!(f, "add 0.0.0.0/0 → NAT gateway to {table}"),
            NatAction::SetRoute {
                table,
                replace: true,
            } => write!(f, "replace 0.0.0.0/0 in {table} with → NAT gateway"),
        }
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

pub fn plan_nat_on(want: &NatWant, seen: &Observed) -> Result<Vec<NatAction>> {
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
    match live.first() {
        None => {
            if !seen.addresses.iter().any(|a| a.association_id.is_none()) {
                steps.push(NatAction::AllocateAddress);
            }
            let replaced = if route == Some(true) {
                want.table.default_route().map(|t| t.id().to_string())
            } else {
                None
            };
            steps.push(NatAction::CreateNatGateway {
                subnet: want.public.id.clone(),
                replaced,
            });
            steps.push(NatAction::WaitAvailable { id: None });
        }
        Some(n) if n.state == NatState::Pending => steps.push(NatAction::WaitAvailable {
            id: Some(n.id.clone()),
        }),
        Some(_) => {}
    }
    if let Some(replace) = route {
        steps.push(NatAction::SetRoute {
            table: want.table.id.clone(),
            replace,
        });
    }
    Ok(steps)
}

/// Tags `sleep` leaves on the endpoint so that `wake` can restore it from AWS alone.
pub const TAG_ASLEEP_SUBNETS: &str = "vpnctl:asleep-subnets";
pub const TAG_ASLEEP_ROUTES: &str = "vpnctl:asleep-routes";
pub const TAG_ASLEEP_RULES: &str = "vpnctl:asleep-rules";

/// Whether the endpoint carries a (non-empty) sleep record.
pub fn has_sleep_record(e: &Endpoint) -> bool {
    e.tags
        .get(TAG_ASLEEP_SUBNETS)
        .is_some_and(|v| !v.is_empty())
}

/// Whether the endpoint needs the PKI's CRL: the rules of `pki::crl::check_replace` (refused
/// when the endpoint's CRL is newer, equal in number but different, or revokes a serial the
/// PKI's does not; no import when it already holds this CRL).
pub fn crl_step(
    endpoint_crl: Option<&str>,
    local_crl: &str,
    ca_pem: &str,
) -> Result<Option<Action>> {
    Ok(
        match crate::pki::crl::check_replace(endpoint_crl, local_crl, ca_pem)? {
            crate::pki::crl::Verdict::Same => None,
            crate::pki::crl::Verdict::Import => Some(Action::ImportCrl),
        },
    )
}

/// Tags that clear the sleep record once `wake` has restored it.
pub fn cleared_sleep_record() -> Tags {
    [TAG_ASLEEP_SUBNETS, TAG_ASLEEP_ROUTES, TAG_ASLEEP_RULES]
        .iter()
        .map(|k| (k.to_string(), String::new()))
        .collect()
}

/// The one live endpoint of the deployment, or an error that says to run setup.
pub fn the_endpoint(seen: &Observed) -> Result<(&Endpoint, &EndpointView)> {
    seen.endpoints
        .iter()
        .find_map(|v| {
            v.endpoint
                .as_ref()
                .filter(|e| e.state != EndpointState::Deleting)
                .map(|e| (e, v))
        })
        .ok_or_else(|| {
            Error::not_found(
                "the deployment has no Client VPN endpoint",
                "create it with `vpnctl setup`",
            )
        })
}

/// `sleep`: record what the endpoint has (subnets, routes added beyond the automatic VPC
/// routes, authorization rules) as tags, then disassociate every subnet. Association billing
/// stops; the endpoint, its DNS name and every profile survive.
pub fn plan_sleep(seen: &Observed) -> Result<(String, Tags, Vec<TeardownAction>)> {
    let (e, v) = the_endpoint(seen)?;
    let live: Vec<&Association> = v
        .associations
        .iter()
        .filter(|a| association_bills(&a.state) && a.state != AssociationState::Disassociating)
        .collect();
    // Merged with an earlier record: a sleep interrupted after some disassociations must
    // not forget the subnets (and their routes) already gone.
    let recorded = |key: &str, sep: char| -> Vec<String> {
        e.tags
            .get(key)
            .map(|t| {
                t.split(sep)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let merge = |key: &str, sep: char, now: Vec<String>| -> String {
        let mut all = recorded(key, sep);
        all.extend(now);
        all.sort();
        all.dedup();
        all.join(&sep.to_string())
    };
    let mut record = Tags::new();
    if !live.is_empty() {
        record.insert(
            TAG_ASLEEP_SUBNETS.into(),
            merge(
                TAG_ASLEEP_SUBNETS,
                ',',
                live.iter().map(|a| a.subnet_id.clone()).collect(),
            ),
        );
        // Routes with origin "associate" come back with the association by themselves.
        record.insert(
            TAG_ASLEEP_ROUTES.into(),
            merge(
                TAG_ASLEEP_ROUTES,
                ';',
                v.routes
                    .iter()
                    .filter(|r| r.origin != "associate")
                    .map(|r| format!("{}>{}", r.cidr, r.subnet_id))
                    .collect(),
            ),
        );
        record.insert(
            TAG_ASLEEP_RULES.into(),
            merge(
                TAG_ASLEEP_RULES,
                ',',
                v.rules.iter().map(|r| r.cidr.clone()).collect(),
            ),
        );
    }
    let steps = live
        .iter()
        .map(|a| TeardownAction::Disassociate {
            endpoint: e.id.clone(),
            association: a.id.clone(),
            subnet: a.subnet_id.clone(),
        })
        .collect();
    Ok((e.id.clone(), record, steps))
}

/// `wake`: associate the recorded subnets again, then restore the recorded routes and rules
/// that are missing (disassociation deleted the routes).
pub fn plan_wake(seen: &Observed) -> Result<(String, Vec<Step>)> {
    let (e, v) = the_endpoint(seen)?;
    let split = |key: &str, sep: char| -> Vec<String> {
        e.tags
            .get(key)
            .map(|t| {
                t.split(sep)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let subnets = split(TAG_ASLEEP_SUBNETS, ',');
    if subnets.is_empty() && v.associations.iter().any(|a| association_bills(&a.state)) {
        return Ok((e.id.clone(), Vec::new()));
    }
    if subnets.is_empty() {
        return Err(Error::not_found(
            format!("the endpoint {} has no record of a sleep", e.id),
            "`vpnctl sleep` records what to restore; `vpnctl setup` (re)creates associations \
                from your settings",
        ));
    }
    let mut steps = Vec::new();
    for s in &subnets {
        match v
            .associations
            .iter()
            .find(|a| &a.subnet_id == s && a.state != AssociationState::Disassociating)
        {
            None => steps.push(Step {
                phase: Phase::Network,
                action: Action::Associate {
                    subnet: s.clone(),
                    az: String::new(),
                },
            }),
            Some(a) if a.state == AssociationState::Associated => {}
            Some(a) => steps.push(Step {
                phase: Phase::Network,
                action: Action::WaitAssociation {
                    subnet: s.clone(),
                    state: a.state.to_string(),
                },
            }),
        }
    }
    for cidr in split(TAG_ASLEEP_RULES, ',') {
        if !v
            .rules
            .iter()
            .any(|r| r.cidr == cidr && r.state != RuleState::Revoking)
        {
            steps.push(Step {
                phase: Phase::Network,
                action: Action::Authorize { cidr },
            });
        }
    }
    for route in split(TAG_ASLEEP_ROUTES, ';') {
        let Some((cidr, subnet)) = route.split_once('>') else {
            continue;
        };
        if !v
            .routes
            .iter()
            .any(|r| r.cidr == cidr && r.subnet_id == subnet && r.state != RouteState::Deleting)
        {
            steps.push(Step {
                phase: Phase::Routes,
                action: Action::CreateRoute {
                    cidr: cidr.to_string(),
                    subnet: subnet.to_string(),
                },
            });
        }
    }
    steps.sort_by_key(|s| s.phase);
    Ok((e.id.clone(), steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(full_tunnel: bool) -> Desired {
        let vpc = Vpc {
            id: "vpc-1".into(),
            name: Some("lab-vpc".into()),
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
        };
        let subnets = vec![
            Subnet {
                id: "subnet-a".into(),
                name: None,
                vpc_id: "vpc-1".into(),
                az: "us-east-1a".into(),
                cidr: None,
            },
            Subnet {
                id: "subnet-b".into(),
                name: None,
                vpc_id: "vpc-1".into(),
                az: "us-east-1b".into(),
                cidr: None,
            },
        ];
        let mut authorize = vec!["10.0.0.0/16".parse().unwrap()];
        if full_tunnel {
            authorize.push("0.0.0.0/0".parse().unwrap());
        }
        Desired {
            deployment: "lab".into(),
            endpoint: EndpointSpec {
                name: "lab".into(),
                client_cidr: "10.83.0.0/16".parse().unwrap(),
                vpc_id: vpc.id.clone(),
                split_tunnel: !full_tunnel,
                dns_servers: vec!["10.0.0.2".parse().unwrap()],
                transport: Transport::Udp,
                port: 443,
                security_groups: vec![],
                description: "vpnctl lab".into(),
                log_group: None,
            },
            vpc,
            subnets,
            authorize,
            full_tunnel,
            server_cert_pem: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n".into(),
            crl_pem: "-----BEGIN X509 CRL-----\nCRL\n-----END X509 CRL-----\n".into(),
            ca_pem: String::new(),
        }
    }

    fn endpoint(want: &Desired) -> Endpoint {
        Endpoint {
            id: "cvpn-endpoint-1".into(),
            state: "available".into(),
            dns_name: Some("*.cvpn-endpoint-1.prod.clientvpn.us-east-1.amazonaws.com".into()),
            client_cidr: Some(want.endpoint.client_cidr),
            vpc_id: Some("vpc-1".into()),
            split_tunnel: want.endpoint.split_tunnel,
            dns_servers: vec!["10.0.0.2".into()],
            transport: Some(Transport::Udp),
            port: Some(443),
            security_groups: vec!["sg-1".into()],
            description: Some("vpnctl lab".into()),
            server_cert_arn: Some("arn:cert".into()),
            log_group: None,
            created: Some(0),
            tags: tags_for("lab", "lab"),
        }
    }

    fn converged(want: &Desired) -> Observed {
        let mut routes = vec![];
        if want.full_tunnel {
            routes = want
                .subnets
                .iter()
                .map(|s| Route {
                    description: Some(owned_description("lab")),
                    cidr: "0.0.0.0/0".into(),
                    subnet_id: s.id.clone(),
                    origin: "add-route".into(),
                    state: "active".into(),
                })
                .collect();
        }
        Observed {
            certificates: vec![Certificate {
                arn: "arn:cert".into(),
                tags: tags_for("lab", "lab"),
                domain: None,
                not_after: None,
                created: Some(1),
                in_use_by: vec![],
            }],
            endpoints: vec![EndpointView {
                endpoint: Some(endpoint(want)),
                associations: want
                    .subnets
                    .iter()
                    .map(|s| Association {
                        id: format!("assoc-{}", s.id),
                        subnet_id: s.id.clone(),
                        state: "associated".into(),
                    })
                    .collect(),
                rules: want
                    .authorize
                    .iter()
                    .map(|c| AuthRule {
                        description: Some(owned_description("lab")),
                        cidr: c.to_string(),
                        state: "active".into(),
                    })
                    .collect(),
                routes,
                connections: vec![],
                crl: Some(want.crl_pem.clone()),
            }],
            server_cert_body: Some(want.server_cert_pem.replace('\n', "\r\n")),
            ..Default::default()
        }
    }

    fn actions(steps: &[Step]) -> Vec<Action> {
        steps.iter().map(|s| s.action.clone()).collect()
    }

    #[test]
    fn from_nothing_everything_in_dependency_order() {
        let want = desired(true);
        let steps = plan_setup(&want, &Observed::default()).unwrap();
        let phases: Vec<Phase> = steps.iter().map(|s| s.phase).collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]));
        let a = actions(&steps);
        assert_eq!(a[0], Action::ImportCertificate { reimport_arn: None });
        assert_eq!(a[1], Action::CreateEndpoint);
        assert_eq!(
            a.iter()
                .filter(|x| matches!(x, Action::Associate { .. }))
                .count(),
            2
        );
        assert_eq!(
            a.iter()
                .filter(|x| matches!(x, Action::Authorize { .. }))
                .count(),
            2
        );
        assert_eq!(
            a.iter()
                .filter(|x| matches!(x, Action::CreateRoute { .. }))
                .count(),
            2
        );
        assert_eq!(a.last(), Some(&Action::WriteProfiles));
    }

    #[test]
    fn converged_state_plans_only_profiles() {
        for full in [false, true] {
            let want = desired(full);
            let steps = plan_setup(&want, &converged(&want)).unwrap();
            assert_eq!(
                actions(&steps),
                vec![Action::WriteProfiles],
                "full_tunnel={full}"
            );
        }
    }

    #[test]
    fn interrupted_setup_continues_with_waits() {
        let want = desired(false);
        let mut seen = converged(&want);
        seen.endpoints[0].associations[0].state = "associating".into();
        seen.endpoints[0].associations.remove(1);
        seen.endpoints[0].rules[0].state = "authorizing".into();
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert!(a.contains(&Action::WaitAssociation {
            subnet: "subnet-a".into(),
            state: "associating".into()
        }));
        assert!(a.contains(&Action::Associate {
            subnet: "subnet-b".into(),
            az: "us-east-1b".into()
        }));
        assert!(a.contains(&Action::WaitRule {
            cidr: "10.0.0.0/16".into(),
            state: "authorizing".into()
        }));
        assert!(!a.contains(&Action::CreateEndpoint));
    }

    #[test]
    fn renewed_server_certificate_is_reimported_to_the_same_arn() {
        use crate::pki::cert::{self, Ca, Leaf, Serial};
        let now = time::OffsetDateTime::now_utc();
        let make_ca = |cn: &str| {
            let key = cert::new_key().unwrap();
            let pem = cert::make_ca(cn, &key, &Serial::random().unwrap(), now, 30).unwrap();
            Ca::load(&pem, key).unwrap()
        };
        let server = |ca: &Ca| {
            ca.sign(
                Leaf::Server("vpn.lab.internal"),
                &cert::new_key().unwrap(),
                &Serial::random().unwrap(),
                now,
                10,
            )
            .unwrap()
        };
        let ours = make_ca("ours");
        let mut want = desired(false);
        want.ca_pem = ours.cert_pem.clone();
        want.server_cert_pem = server(&ours);
        // ACM holds an older server certificate of the same CA: a renewal, re-imported in place.
        let mut seen = converged(&want);
        seen.server_cert_body = Some(server(&ours));
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert_eq!(
            a[0],
            Action::ImportCertificate {
                reimport_arn: Some("arn:cert".into())
            }
        );
        // ACM holds one of another CA: another PKI uses this deployment name. Refuse.
        seen.server_cert_body = Some(server(&make_ca("theirs")));
        assert!(matches!(
            plan_setup(&want, &seen),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn drift_that_cannot_be_modified_is_an_error_and_the_rest_is_modified() {
        let want = desired(false);
        let mut seen = converged(&want);
        seen.endpoints[0].endpoint.as_mut().unwrap().client_cidr =
            Some("10.99.0.0/16".parse().unwrap());
        assert!(matches!(
            plan_setup(&want, &seen),
            Err(Error::Conflict { .. })
        ));
        let mut seen = converged(&want);
        seen.endpoints[0].endpoint.as_mut().unwrap().split_tunnel = false;
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert!(matches!(&a[0], Action::ModifyEndpoint { changes }
                if changes[0].contains("split tunnel")));
        let mut seen = converged(&want);
        let dup = seen.endpoints[0].clone();
        seen.endpoints.push(dup);
        assert!(matches!(
            plan_setup(&want, &seen),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn unwanted_associations_are_removed_and_full_tunnel_routes_restored() {
        let mut want = desired(true);
        let mut seen = converged(&want);
        seen.endpoints[0].routes.clear(); // e.g. after a disassociation deleted them
        want.subnets.pop();
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert!(a.contains(&Action::Disassociate {
            subnet: "subnet-b".into(),
            association: "assoc-subnet-b".into()
        }));
        assert!(a.contains(&Action::CreateRoute {
            cidr: "0.0.0.0/0".into(),
            subnet: "subnet-a".into()
        }));
        assert!(
            !a.iter()
                .any(|x| matches!(x, Action::CreateRoute { subnet, .. } if subnet == "subnet-b"))
        );
    }

    #[test]
    fn teardown_orders_associations_endpoint_certificates() {
        let want = desired(true);
        let seen = converged(&want);
        let t = plan_teardown(&seen);
        let phases: Vec<u8> = t.iter().map(|s| s.phase()).collect();
        assert_eq!(phases, vec![1, 1, 2, 3]);
        assert!(t.iter().all(|s| !s.is_nat()));
        assert!(plan_teardown(&Observed::default()).is_empty());
    }

    fn subnet(id: &str, vpc: &str) -> Subnet {
        Subnet {
            id: id.into(),
            name: Some(id.into()),
            vpc_id: vpc.into(),
            az: "us-east-1a".into(),
            cidr: None,
        }
    }

    fn table(id: &str, main: bool, subnets: &[&str], default: Option<RouteTarget>) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            main,
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            routes: default
                .into_iter()
                .map(|t| TableRoute {
                    destination: "0.0.0.0/0".into(),
                    target: t,
                })
                .collect(),
        }
    }

    #[test]
    fn nat_public_subnet_inference_and_route_tables() {
        let private = subnet("priv", "vpc-1");
        let public = subnet("pub", "vpc-1");
        let tables = vec![
            table("rtb-main", true, &[], None),
            table(
                "rtb-pub",
                false,
                &["pub"],
                Some(RouteTarget::Gateway("igw-1".into())),
            ),
        ];
        assert_eq!(table_of(&private, &tables).unwrap().id, "rtb-main");
        assert_eq!(table_of(&public, &tables).unwrap().id, "rtb-pub");
        assert_eq!(
            infer_public(&private, &[private.clone(), public.clone()], &tables)
                .unwrap()
                .id,
            "pub"
        );
        // No internet gateway route anywhere: a clear error.
        let no_igw = vec![table("rtb-main", true, &[], None)];
        assert!(infer_public(&private, &[private.clone(), public.clone()], &no_igw).is_err());
        // Two public subnets: ambiguous.
        let tables2 = vec![table(
            "rtb-main",
            true,
            &[],
            Some(RouteTarget::Gateway("igw-1".into())),
        )];
        assert!(
            infer_public(
                &private,
                &[private.clone(), public.clone(), subnet("pub2", "vpc-1")],
                &tables2
            )
            .is_err()
        );
    }

    fn nat(id: &str, state: &str, tags: Tags) -> NatGateway {
        NatGateway {
            id: id.into(),
            state: state.into(),
            subnet_id: "pub".into(),
            vpc_id: "vpc-1".into(),
            allocation_id: Some("eipalloc-1".into()),
            public_ip: None,
            created: Some(0),
            tags,
        }
    }

    #[test]
    fn nat_on_plans_and_refuses_foreign_routes_without_force() {
        let want = |default: Option<RouteTarget>, force| NatWant {
            private: subnet("priv", "vpc-1"),
            public: subnet("pub", "vpc-1"),
            table: table("rtb-main", true, &[], default),
            expires: None,
            force,
        };
        let steps = plan_nat_on(&want(None, false), &Observed::default()).unwrap();
        assert_eq!(
            steps,
            vec![
                NatAction::AllocateAddress,
                NatAction::CreateNatGateway {
                    subnet: "pub".into(),
                    replaced: None
                },
                NatAction::WaitAvailable { id: None },
                NatAction::SetRoute {
                    table: "rtb-main".into(),
                    replace: false
                }
            ]
        );
        let foreign = Some(RouteTarget::Gateway("igw-9".into()));
        assert!(matches!(
            plan_nat_on(&want(foreign.clone(), false), &Observed::default()),
            Err(Error::Conflict { .. })
        ));
        let steps = plan_nat_on(&want(foreign, true), &Observed::default()).unwrap();
        assert!(steps.contains(&NatAction::CreateNatGateway {
            subnet: "pub".into(),
            replaced: Some("igw-9".into())
        }));
        assert!(steps.contains(&NatAction::SetRoute {
            table: "rtb-main".into(),
            replace: true
        }));
        // Already on: nothing to do.
        let mut tags = tags_for("lab", "lab-nat");
        tags.insert(TAG_PRIVATE_SUBNET.into(), "priv".into());
        let seen = Observed {
            nat_gateways: vec![nat("nat-1", "available", tags)],
            ..Default::default()
        };
        assert!(
            plan_nat_on(&want(Some(RouteTarget::Nat("nat-1".into())), false), &seen)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn nat_off_restores_a_replaced_route_and_releases_the_address() {
        let mut tags = tags_for("lab", "lab-nat");
        tags.insert(TAG_ROUTE_TABLE.into(), "rtb-main".into());
        tags.insert(TAG_REPLACED_ROUTE.into(), "igw-9".into());
        let seen = Observed {
            nat_gateways: vec![nat("nat-1", "available", tags)],
            addresses: vec![Address {
                allocation_id: "eipalloc-1".into(),
                public_ip: None,
                association_id: Some("a".into()),
                tags: Tags::new(),
            }],
            route_tables: vec![table(
                "rtb-main",
                true,
                &[],
                Some(RouteTarget::Nat("nat-1".into())),
            )],
            ..Default::default()
        };
        let steps = plan_nat_off(&seen);
        assert_eq!(
            steps,
            vec![
                TeardownAction::RestoreRoute {
                    table: "rtb-main".into(),
                    target: "igw-9".into()
                },
                TeardownAction::DeleteNatGateway { id: "nat-1".into() },
                TeardownAction::ReleaseAddress {
                    allocation: "eipalloc-1".into()
                },
            ]
        );
        assert!(plan_teardown(&seen).iter().all(|s| s.is_nat()));
    }

    #[test]
    fn sleep_records_what_wake_restores() {
        let want = desired(true);
        let awake = converged(&want);
        let mut awake = awake;
        // The automatic VPC route of each association is not recorded; added routes are.
        awake.endpoints[0].routes.push(Route {
            description: None,
            cidr: "10.0.0.0/16".into(),
            subnet_id: "subnet-a".into(),
            origin: "associate".into(),
            state: "active".into(),
        });
        let (id, record, steps) = plan_sleep(&awake).unwrap();
        assert_eq!(id, "cvpn-endpoint-1");
        assert_eq!(steps.len(), 2);
        assert_eq!(record[TAG_ASLEEP_SUBNETS], "subnet-a,subnet-b");
        assert_eq!(
            record[TAG_ASLEEP_ROUTES],
            "0.0.0.0/0>subnet-a;0.0.0.0/0>subnet-b"
        );
        // Asleep: no associations, no routes (disassociation deleted them), rules kept.
        let mut asleep = awake.clone();
        asleep.endpoints[0].associations.clear();
        asleep.endpoints[0].routes.clear();
        asleep.endpoints[0]
            .endpoint
            .as_mut()
            .unwrap()
            .tags
            .extend(record);
        let (_, steps) = plan_wake(&asleep).unwrap();
        let a = actions(&steps);
        assert_eq!(
            a.iter()
                .filter(|x| matches!(x, Action::Associate { .. }))
                .count(),
            2
        );
        assert_eq!(
            a.iter()
                .filter(|x| matches!(x, Action::CreateRoute { .. }))
                .count(),
            2
        );
        assert!(
            !a.iter().any(|x| matches!(x, Action::Authorize { .. })),
            "rules survive a sleep"
        );
        let first_route = steps.iter().position(|s| s.phase == Phase::Routes).unwrap();
        assert!(
            steps[..first_route]
                .iter()
                .all(|s| s.phase == Phase::Network),
            "routes wait for the associations"
        );
        // Sleeping twice does nothing; waking an endpoint that never slept is an error.
        let (_, _, again) = plan_sleep(&asleep).unwrap();
        assert!(again.is_empty());
        assert!(
            plan_wake(&converged(&want)).unwrap().1.is_empty(),
            "awake: nothing to do"
        );
        let mut bare = converged(&want);
        bare.endpoints[0].associations.clear();
        assert!(
            plan_wake(&bare).is_err(),
            "no record and no association: say to run setup"
        );
    }

    #[test]
    fn switching_full_tunnel_off_removes_its_rule_and_routes() {
        let full = desired(true);
        let seen = converged(&full);
        let split = desired(false);
        let a = actions(&plan_setup(&split, &seen).unwrap());
        assert!(
            a.contains(&Action::RevokeRule {
                cidr: "0.0.0.0/0".into()
            }),
            "{a:?}"
        );
        assert!(a.contains(&Action::DeleteRoute {
            cidr: "0.0.0.0/0".into(),
            subnet: "subnet-a".into()
        }));
        assert!(a.contains(&Action::DeleteRoute {
            cidr: "0.0.0.0/0".into(),
            subnet: "subnet-b".into()
        }));
        assert!(!a.contains(&Action::RevokeRule {
            cidr: "10.0.0.0/16".into()
        }));
    }

    #[test]
    fn rules_and_routes_vpnctl_did_not_create_are_left_alone() {
        let want = desired(false);
        let mut seen = converged(&want);
        seen.endpoints[0].rules.push(AuthRule {
            cidr: "172.31.0.0/16".into(),
            description: Some("added by hand".into()),
            state: "active".into(),
        });
        seen.endpoints[0].routes.push(Route {
            cidr: "172.31.0.0/16".into(),
            description: None,
            subnet_id: "subnet-a".into(),
            origin: "add-route".into(),
            state: "active".into(),
        });
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert_eq!(a, vec![Action::WriteProfiles], "{a:?}");
    }

    #[test]
    fn an_interrupted_sleep_keeps_what_it_recorded() {
        let want = desired(true);
        let awake = converged(&want);
        let (_, record, _) = plan_sleep(&awake).unwrap();
        // subnet-a went (with its route); the process died before subnet-b.
        let mut half = awake.clone();
        half.endpoints[0]
            .associations
            .retain(|a| a.subnet_id == "subnet-b");
        half.endpoints[0]
            .routes
            .retain(|r| r.subnet_id == "subnet-b");
        half.endpoints[0]
            .endpoint
            .as_mut()
            .unwrap()
            .tags
            .extend(record.clone());
        let (_, again, steps) = plan_sleep(&half).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(
            again, record,
            "the second sleep must keep subnet-a and its route"
        );
        // Once awake with the record cleared, wake is a no-op rather than an error.
        let mut woken = awake.clone();
        woken.endpoints[0]
            .endpoint
            .as_mut()
            .unwrap()
            .tags
            .extend(cleared_sleep_record());
        assert!(plan_wake(&woken).unwrap().1.is_empty());
    }

    #[test]
    fn turning_connection_logging_on_modifies_the_endpoint() {
        let mut want = desired(false);
        let seen = converged(&want);
        want.endpoint.log_group = Some("/vpn/lab".into());
        let a = actions(&plan_setup(&want, &seen).unwrap());
        assert!(
            matches!(&a[0], Action::ModifyEndpoint { changes }
                if changes.iter().any(|c| c.contains("/vpn/lab"))),
            "{a:?}"
        );
    }
}
