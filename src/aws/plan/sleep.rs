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
            crate::pki::crl::Verdict::Import => Some(Action::ImportCrl {
                number: crate::pki::cert::crl_number(local_crl).unwrap_or(0),
            }),
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
pub fn plan_sleep(seen: &Observed) -> Result<(String, Vec<Step>)> {
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
    let mut steps: Vec<Step> = live
        .iter()
        .map(|a| {
            Step::on(
                &e.id,
                Action::Disassociate {
                    association: a.id.clone(),
                    subnet: a.subnet_id.clone(),
                },
            )
        })
        .collect();
    if !steps.is_empty() {
        // Recorded first (its own phase): a crash after it still leaves what wake needs.
        steps.push(Step::on(&e.id, Action::RecordSleep { record }));
    }
    Ok((e.id.clone(), ordered(steps)))
}

/// `wake`: give the endpoint the PKI's CRL (`crl`: the PKI's CRL and CA, when there is a PKI)
/// if it lacks it, associate the recorded subnets again, then restore the recorded routes and
/// rules that are missing (disassociation deleted the routes), and clear the record.
pub fn plan_wake(seen: &Observed, crl: Option<(&str, &str)>) -> Result<(String, Vec<Step>)> {
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
    // Revocations made while asleep must reach the endpoint before anyone connects.
    let mut steps = Vec::new();
    if let Some((crl, ca)) = crl
        && let Some(action) = crl_step(v.crl.as_deref(), crl, ca)?
    {
        steps.push(Step::new(action));
    }
    if subnets.is_empty() && v.associations.iter().any(|a| association_bills(&a.state)) {
        if has_sleep_record(e) {
            // An interrupted wake may have restored everything but not cleared the record.
            steps.push(Step::new(Action::ClearSleepRecord));
        }
        return Ok((e.id.clone(), steps));
    }
    if subnets.is_empty() {
        return Err(Error::not_found(
            format!("the endpoint {} has no record of a sleep", e.id),
            "`vpnctl sleep` records what to restore; `vpnctl setup` (re)creates associations \
                from your settings",
        ));
    }
    for s in &subnets {
        match v
            .associations
            .iter()
            .find(|a| &a.subnet_id == s && a.state != AssociationState::Disassociating)
        {
            None => steps.push(Step::new(Action::Associate {
                subnet: s.clone(),
                az: String::new(),
            })),
            Some(a) if a.state == AssociationState::Associated => {}
            Some(a) => steps.push(Step::new(Action::WaitAssociation {
                subnet: s.clone(),
                state: a.state.to_string(),
            })),
        }
    }
    for cidr in split(TAG_ASLEEP_RULES, ',') {
        if !v
            .rules
            .iter()
            .any(|r| r.cidr == cidr && r.state != RuleState::Revoking)
        {
            steps.push(Step::new(Action::Authorize { cidr }));
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
            steps.push(Step::new(Action::CreateRoute {
                cidr: cidr.to_string(),
                subnet: subnet.to_string(),
            }));
        }
    }
    // Restored: the record has served; a later sleep starts a new one.
    steps.push(Step::new(Action::ClearSleepRecord));
    Ok((e.id.clone(), ordered(steps)))
}

/// The user's live sessions on the endpoint.
fn sessions_of(v: &EndpointView, user: &str) -> usize {
    v.connections
        .iter()
        .filter(|c| c.state == ConnectionState::Active && c.username.as_deref() == Some(user))
        .count()
}

/// `kick`: end `user`'s live sessions (observed with connections). Planned even when none
/// is seen: one may be connecting, and ending none is harmless.
pub fn plan_kick(seen: &Observed, user: &str) -> Result<(String, Vec<Step>)> {
    let (e, v) = the_endpoint(seen)?;
    let step = Step::new(Action::EndSessions {
        user: user.to_string(),
        sessions: sessions_of(v, user),
    });
    Ok((e.id.clone(), vec![step]))
}

/// The CRL push of `pki revoke` and `pki merge-crl`: the CRL when the endpoint
/// lacks it (refused when the endpoint's is ahead, see `crl_step`), then the revoked `user`'s
/// sessions, which an import resets but a reconnect could bring back before it, ended
/// whatever was seen (`sessions` is what was live when planned).
pub fn plan_crl_push(
    seen: &Observed,
    crl: &str,
    ca: &str,
    user: Option<&str>,
) -> Result<(String, Vec<Step>)> {
    let (e, v) = the_endpoint(seen)?;
    let mut steps: Vec<Step> = crl_step(v.crl.as_deref(), crl, ca)?
        .map(Step::new)
        .into_iter()
        .collect();
    if let Some(u) = user {
        steps.push(Step::new(Action::EndSessions {
            user: u.to_string(),
            sessions: sessions_of(v, u),
        }));
    }
    Ok((e.id.clone(), ordered(steps)))
}
