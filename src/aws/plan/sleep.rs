//! `sleep` and `wake`: the record on the endpoint, the disassociations, the restoration;
//! and the one live endpoint and its CRL step, which every command that touches it uses.

use super::*;
use crate::error::{Error, Result};

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
