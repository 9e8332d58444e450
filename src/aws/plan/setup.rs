//! `setup`'s plan: the endpoint, its certificate, associations, rules, routes and CRL.

use super::*;
use crate::config::Quotas;
use crate::error::{Error, Result};

/// Plan setup. Errors for drift that cannot be modified in place (client CIDR, VPC,
/// transport) and for more than one endpoint carrying the deployment's tags.
pub fn plan_setup(want: &Desired, seen: &Observed) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let push = |steps: &mut Vec<Step>, action| steps.push(Step::new(action));
    check_sign_in(want, seen)?;

    match seen.server_cert() {
        None => push(&mut steps, Action::ImportCertificate { reimport_arn: None }),
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
            push(&mut steps, Action::CreateEndpoint);
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
            // A sign-in given must be the endpoint's (AWS fixes it at creation); none given
            // keeps the endpoint's.
            let other_sign_in = spec.user_auth.as_ref().is_some_and(|want| {
                e.user_auth.as_ref().map(|a| (a.kind(), a.id())) != Some((want.kind(), want.id()))
            });
            if other_sign_in || spec.certificates.is_some_and(|c| c != e.certificates) {
                let says = |a: Option<&UserAuth>, certs: bool| match a {
                    None => "certificates only".to_string(),
                    Some(a) if certs => a.to_string(),
                    Some(a) => format!("{} alone ({})", a.kind_name(), a.id()),
                };
                return Err(Error::conflict(
                    format!(
                        "the endpoint {} signs in with {}, not {}; AWS cannot change the \
                         authentication in place",
                        e.id,
                        says(e.user_auth.as_ref(), e.certificates),
                        says(
                            spec.user_auth.as_ref().or(e.user_auth.as_ref()),
                            spec.certificates.unwrap_or(e.certificates)
                        )
                    ),
                    "keep its sign-in (--saml-provider / --directory-id and \
                     --client-certificates as they were, or none of them), or `vpnctl teardown` \
                     and setup again",
                ));
            }
            // The options given are converged; the others stay as the endpoint has them.
            let mut changes = Vec::new();
            let (o, want) = (&e.options, &spec.options);
            if let (
                Some(UserAuth::Saml {
                    self_service_portal: now,
                    ..
                }),
                Some(p),
            ) = (&e.user_auth, want.self_service_portal)
                && matches!(spec.user_auth, Some(UserAuth::Saml { .. }))
                && *now != p
            {
                changes.push(format!(
                    "self-service portal {}",
                    if p { "on" } else { "off" }
                ));
            }
            if let Some(h) = want.session_timeout_hours
                && o.session_timeout_hours != Some(h)
            {
                changes.push(format!("session timeout → {h}h"));
            }
            if let Some(d) = want.disconnect_on_session_timeout
                && o.disconnect_on_session_timeout != Some(d)
            {
                changes.push(format!("disconnect on session timeout → {d}"));
            }
            if let Some(b) = &want.banner
                && &o.banner != b
            {
                changes.push(match b {
                    Some(_) => "login banner".to_string(),
                    None => "login banner off".to_string(),
                });
            }
            if let Some(c) = want.client_route_enforcement
                && o.client_route_enforcement != Some(c)
            {
                changes.push(format!(
                    "client route enforcement {}",
                    if c { "on" } else { "off" }
                ));
            }
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
                push(&mut steps, Action::ModifyEndpoint { changes });
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
                Action::Associate {
                    subnet: s.id.clone(),
                    az: s.az.clone(),
                },
            ),
            Some(a) if a.state == AssociationState::Associated => {}
            Some(a) => push(
                &mut steps,
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
                Action::Disassociate {
                    subnet: a.subnet_id.clone(),
                    association: a.id.clone(),
                },
            );
        }
    }
    for (cidr, group) in want.grants() {
        match view.rules.iter().find(|r| {
            r.cidr == cidr
                && r.group == group
                && r.state != RuleState::Failed
                && r.state != RuleState::Revoking
        }) {
            None => push(&mut steps, Action::Authorize { cidr, group }),
            Some(r) if r.state == RuleState::Active => {}
            Some(r) => push(
                &mut steps,
                Action::WaitRule {
                    cidr,
                    group,
                    state: r.state.to_string(),
                },
            ),
        }
    }
    let routed = want.routed();
    for cidr in &routed {
        for s in &want.subnets {
            match view.routes.iter().find(|r| {
                &r.cidr == cidr
                    && r.subnet_id == s.id
                    && r.state != RouteState::Deleting
                    && r.state != RouteState::Failed
            }) {
                None => push(
                    &mut steps,
                    Action::CreateRoute {
                        cidr: cidr.clone(),
                        subnet: s.id.clone(),
                    },
                ),
                Some(r) if r.state == RouteState::Active => {}
                Some(r) => push(
                    &mut steps,
                    Action::WaitRoute {
                        cidr: cidr.clone(),
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
            && !want.wants_rule(&r.cidr, r.group.as_deref())
        {
            push(
                &mut steps,
                Action::RevokeRule {
                    cidr: r.cidr.clone(),
                    group: r.group.clone(),
                },
            );
        }
    }
    for r in &view.routes {
        let wanted = routed.contains(&r.cidr) && want.subnets.iter().any(|s| s.id == r.subnet_id);
        // A route via a subnet that is being disassociated goes with the association.
        let stays = want.subnets.iter().any(|s| s.id == r.subnet_id);
        if r.origin == "add-route"
            && r.description.as_deref() == Some(ours.as_str())
            && r.state != RouteState::Deleting
            && stays
            && !wanted
        {
            push(
                &mut steps,
                Action::DeleteRoute {
                    cidr: r.cidr.clone(),
                    subnet: r.subnet_id.clone(),
                },
            );
        }
    }
    // A CRL is for client certificates: an endpoint that signs users in without them gets
    // none (an import would only reset every connection).
    let certificates = view
        .endpoint
        .as_ref()
        .map_or(want.endpoint.certificates != Some(false), |e| {
            e.certificates
        });
    if certificates && let Some(a) = crl_step(view.crl.as_deref(), &want.crl_pem, &want.ca_pem)? {
        push(&mut steps, a);
    }
    if view.endpoint.as_ref().is_some_and(has_sleep_record) {
        // Setup associates from the settings: a sleep record left on the endpoint would make
        // a later sleep/wake bring back subnets the settings dropped.
        push(&mut steps, Action::ClearSleepRecord);
    }
    push(&mut steps, Action::WriteProfiles);
    Ok(ordered(steps))
}

/// Without client certificates, a sign-in must be given or the endpoint's. Rules for a group
/// need a sign-in that knows groups (the one given, or the endpoint's), and a CIDR of their
/// own: one also authorized for every client (the VPC's, a route, full
/// tunnel, `--authorize CIDR`) would let everyone in, since AWS applies the most specific
/// matching rule and the two are equally specific.
fn check_sign_in(want: &Desired, seen: &Observed) -> Result<()> {
    let endpoint_has = seen
        .endpoints
        .iter()
        .filter_map(|v| v.endpoint.as_ref())
        .any(|e| e.user_auth.is_some());
    // Without client certificates the sign-in is all there is: given, or the endpoint's.
    if want.endpoint.certificates == Some(false)
        && want.endpoint.user_auth.is_none()
        && !endpoint_has
    {
        return Err(Error::invalid(
            "--client-certificates false leaves no way to sign in",
            "add --saml-provider ARN or --directory-id ID (users then sign in by that alone)",
        ));
    }
    let Some((cidr, group)) = want.groups.first() else {
        return Ok(());
    };
    if want.endpoint.user_auth.is_none() && !endpoint_has {
        return Err(Error::invalid(
            format!(
                "--authorize {cidr}={group} needs a sign-in that knows groups: certificates \
                 carry none"
            ),
            "add --saml-provider ARN or --directory-id ID, or authorize the CIDR for every \
             client (--authorize CIDR)",
        ));
    }
    for (cidr, group) in &want.groups {
        if want.authorize.contains(cidr) {
            return Err(Error::invalid(
                format!(
                    "--authorize {cidr}={group}: {cidr} is authorized for every client too (the \
                     VPC's CIDR, a route, full tunnel or --authorize {cidr}), so the group's rule \
                     would keep nobody out"
                ),
                "authorize a narrower CIDR for the group (e.g. one subnet), or drop the rule \
                 for every client",
            ));
        }
    }
    Ok(())
}

/// AWS's limits a setup must respect, checked before anything is made (the Client VPN
/// administrator guide: target network requirements and quotas; see tests/emulator/README.md
/// for the sources): subnets, authorization rules per endpoint and, when the endpoint is new,
/// endpoints per Region (`in_region`: how many the Region holds). Quotas an account can raise
/// come from `quotas` (vpnctl.toml `[quotas]`), else AWS's defaults.
pub fn preflight(
    want: &Desired,
    seen: &Observed,
    quotas: &Quotas,
    in_region: Option<usize>,
) -> Result<()> {
    let view = seen.endpoints.iter().find(|v| {
        v.endpoint
            .as_ref()
            .is_some_and(|e| e.state != EndpointState::Deleting)
    });
    let associated = |s: &Subnet| {
        view.is_some_and(|v| {
            v.associations.iter().any(|a| {
                a.subnet_id == s.id
                    && association_bills(&a.state)
                    && a.state != AssociationState::Disassociating
            })
        })
    };
    for s in &want.subnets {
        target_network_fits(s, associated(s))?;
    }
    let raise = |quota: &str, key: &str| {
        format!(
            "ask AWS for more in Service Quotas (AWS Client VPN, \"{quota}\"), then say so in \
             vpnctl.toml: [quotas] {key} = N; nothing was created"
        )
    };
    let endpoints = quotas.endpoints_per_region.unwrap_or(ENDPOINTS_PER_REGION);
    if let Some(n) = in_region.filter(|n| view.is_none() && *n >= endpoints) {
        return Err(Error::conflict(
            format!(
                "the Region holds {n} Client VPN endpoints, its quota is {endpoints}: AWS would \
                 refuse another"
            ),
            raise("Client VPN endpoints per Region", "endpoints_per_region"),
        ));
    }
    let ours = owned_description(&want.deployment);
    let others = view.map_or(0, |v| {
        v.rules
            .iter()
            .filter(|r| r.description.as_deref() != Some(ours.as_str()))
            .filter(|r| !want.wants_rule(&r.cidr, r.group.as_deref()))
            .count()
    });
    // Only a setup that adds rules can pass the quota; what AWS holds already it accepted.
    let there = view.map_or(0, |v| v.rules.len());
    let grants = want.grants();
    let adds = grants
        .iter()
        .filter(|(c, g)| {
            !view.is_some_and(|v| v.rules.iter().any(|r| &r.cidr == c && &r.group == g))
        })
        .count();
    let rules = quotas
        .rules_per_endpoint
        .unwrap_or(RULES_PER_ENDPOINT)
        .max(there);
    if adds > 0 && grants.len() + others > rules {
        return Err(Error::conflict(
            format!(
                "{} authorization rules on one endpoint ({} asked for, {others} there already) \
                 pass its quota of {rules}",
                grants.len() + others,
                grants.len()
            ),
            raise(
                "Authorization rules per Client VPN endpoint",
                "rules_per_endpoint",
            ),
        ));
    }
    // Every routed destination goes via each subnet, besides the association's own VPC route.
    let per_association = 1 + want.routed().len();
    let routes = quotas
        .routes_per_association
        .unwrap_or(ROUTES_PER_ASSOCIATION);
    if per_association > routes {
        return Err(Error::conflict(
            format!(
                "{per_association} routes via each subnet (the VPC's and {} more) pass the \
                 quota of {routes} per associated subnet",
                per_association - 1
            ),
            raise(
                "Routes per Client VPN endpoint target network association",
                "routes_per_association",
            ),
        ));
    }
    Ok(())
}

/// A subnet Client VPN can use as a target network: a /27 or larger and, unless it is
/// associated already (an association keeps its addresses), 20 free addresses.
pub fn target_network_fits(s: &Subnet, associated: bool) -> Result<()> {
    let name = s.name.as_deref().unwrap_or(&s.id);
    if let Some(cidr) = s.cidr.filter(|c| c.prefix_len() > 27) {
        return Err(Error::invalid(
            format!(
                "subnet {name} ({cidr}) is smaller than a /27: Client VPN needs a target network \
                 of /27 or larger"
            ),
            "choose a subnet of /27 or larger (nothing was created)",
        ));
    }
    if let Some(free) = s.available_ips.filter(|n| *n < 20 && !associated) {
        return Err(Error::invalid(
            format!(
                "subnet {name} has {free} free IP address(es): Client VPN needs at least 20 in a \
                 target network at all times"
            ),
            "free addresses in it, or choose another subnet (nothing was created)",
        ));
    }
    Ok(())
}

/// AWS's default quota of routes per target network association (adjustable).
pub const ROUTES_PER_ASSOCIATION: usize = 100;

/// AWS's default quota of authorization rules per endpoint (adjustable).
pub const RULES_PER_ENDPOINT: usize = 200;

/// AWS's default quota of Client VPN endpoints per Region (adjustable).
pub const ENDPOINTS_PER_REGION: usize = 5;

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}
