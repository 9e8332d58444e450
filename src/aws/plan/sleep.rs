//! `sleep` and `wake`: the record on the endpoint, the disassociations, the restoration;
//! and the one live endpoint and its CRL step, which every command that touches it uses.

use super::*;
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Tags `sleep` leaves on the endpoint so that `wake` can restore it from AWS alone. Each is
/// the first part of its list; a list longer than one tag value goes on in `KEY-2`, `KEY-3`, …
/// (see `Record`).
pub const TAG_ASLEEP_SUBNETS: &str = "vpnctl:asleep-subnets";
pub const TAG_ASLEEP_ROUTES: &str = "vpnctl:asleep-routes";
pub const TAG_ASLEEP_RULES: &str = "vpnctl:asleep-rules";
const RECORD_LISTS: [&str; 3] = [TAG_ASLEEP_SUBNETS, TAG_ASLEEP_ROUTES, TAG_ASLEEP_RULES];
/// Marks a recorded route vpnctl did not make (someone added it by hand): `!CIDR`.
const FOREIGN: &str = "!";

/// AWS's tag restrictions for EC2 resources, the Client VPN endpoint among them ("Tag your
/// Amazon EC2 resources", Tag restrictions): at most 50 tags per resource (tags whose key
/// starts with `aws:` do not count), each value at most 256 Unicode characters.
pub const TAGS_PER_RESOURCE: usize = 50;
pub const TAG_VALUE_MAX: usize = 256;

/// The key of part `n` (from 1) of the record's list `list`.
fn part_key(list: &str, n: usize) -> String {
    if n == 1 {
        list.to_string()
    } else {
        format!("{list}-{n}")
    }
}

/// Whether `key` is a part of the sleep record: `vpnctl:asleep-rules`, `vpnctl:asleep-rules-2`, …
pub fn is_sleep_record_key(key: &str) -> bool {
    RECORD_LISTS.iter().any(|list| {
        key.strip_prefix(list).is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix('-').is_some_and(|n| {
                    !n.is_empty()
                        && n != "1"
                        && !n.starts_with('0')
                        && n.bytes().all(|b| b.is_ascii_digit())
                })
        })
    })
}

/// The values of list `list`'s parts, in order: the first part, `-2`, `-3`, … up to the first
/// that is missing or empty (a record is written whole, and every later part emptied).
fn parts<'a>(tags: &'a Tags, list: &str) -> impl Iterator<Item = &'a str> {
    (1..)
        .map(move |n| tags.get(&part_key(list, n)).map(String::as_str))
        .take_while(|v| v.is_some_and(|v| !v.is_empty()))
        .flatten()
}

/// A rule as `vpnctl:asleep-rules` lists it: its CIDR, or `CIDR=GROUP` for a group's rule,
/// the group's `%` and `,` percent-encoded (the list is comma-separated; a directory group's
/// distinguished name holds commas).
pub fn rule_item(cidr: &str, group: Option<&str>) -> String {
    match group {
        Some(g) => format!("{cidr}={}", g.replace('%', "%25").replace(',', "%2C")),
        None => cidr.to_string(),
    }
}

/// `rule_item` read back: (CIDR, group).
pub fn parse_rule_item(item: &str) -> (String, Option<String>) {
    match item.split_once('=') {
        Some((cidr, group)) => (
            cidr.to_string(),
            Some(group.replace("%2C", ",").replace("%25", "%")),
        ),
        None => (item.to_string(), None),
    }
}

/// What `sleep` records and `wake` restores, as sets: read from the endpoint's tags (either
/// form), merged with what is live, and laid out over the tags again.
///
/// The lists are comma-separated, as they always were: `vpnctl:asleep-subnets` holds subnet
/// ids, `vpnctl:asleep-rules` CIDRs (`CIDR=GROUP` for a group's rule). `vpnctl:asleep-routes`
/// holds `;`-separated items
/// `CIDR,CIDR,…>SUBNET,SUBNET,…`, each meaning every CIDR listed via every subnet listed (a
/// Client VPN route usually goes through every associated subnet, so one item says it once);
/// the old form, `CIDR>SUBNET;…`, is the case of one of each. A list that does not fit in one
/// value of `TAG_VALUE_MAX` characters goes on in `KEY-2`, `KEY-3`, …, split only between
/// CIDRs or ids, so each part reads on its own.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Record {
    subnets: BTreeSet<String>,
    /// (CIDR, subnet).
    routes: BTreeSet<(String, String)>,
    rules: BTreeSet<String>,
}

impl Record {
    fn read(tags: &Tags) -> Record {
        let list = |key: &str| -> BTreeSet<String> {
            parts(tags, key)
                .flat_map(|p| p.split(','))
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut routes = BTreeSet::new();
        for item in parts(tags, TAG_ASLEEP_ROUTES).flat_map(|p| p.split(';')) {
            let Some((cidrs, subnets)) = item.split_once('>') else {
                continue;
            };
            for cidr in cidrs.split(',').filter(|c| !c.is_empty()) {
                for subnet in subnets.split(',').filter(|s| !s.is_empty()) {
                    routes.insert((cidr.to_string(), subnet.to_string()));
                }
            }
        }
        Record {
            subnets: list(TAG_ASLEEP_SUBNETS),
            routes,
            rules: list(TAG_ASLEEP_RULES),
        }
    }

    /// The routes as groups `(">SUBNET,SUBNET…", CIDRs)`: the CIDRs that go via exactly those
    /// subnets.
    fn route_groups(&self) -> Vec<(String, Vec<String>)> {
        let mut via: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (cidr, subnet) in &self.routes {
            via.entry(cidr).or_default().push(subnet);
        }
        let mut by_subnets: BTreeMap<Vec<&str>, Vec<String>> = BTreeMap::new();
        for (cidr, subnets) in via {
            by_subnets
                .entry(subnets)
                .or_default()
                .push(cidr.to_string());
        }
        // In the order of their first CIDR, as the old one-route-an-item list read.
        let mut by_subnets: Vec<_> = by_subnets.into_iter().collect();
        by_subnets.sort_by(|a, b| a.1.first().cmp(&b.1.first()));
        let mut groups = Vec::new();
        for (subnets, cidrs) in by_subnets {
            let suffix = format!(">{}", subnets.join(","));
            let longest = cidrs.iter().map(String::len).max().unwrap_or(0);
            if suffix.len() + longest <= TAG_VALUE_MAX {
                groups.push((suffix, cidrs));
            } else {
                // Too many subnets to name in one value: one group per subnet.
                groups.extend(subnets.iter().map(|s| (format!(">{s}"), cidrs.clone())));
            }
        }
        groups
    }

    /// The tags that write this record onto an endpoint that now has `on`: every part of each
    /// list (none for an empty list: a missing tag reads as empty, and costs no tag), and
    /// every part of an earlier record on the endpoint that this one does not use, emptied,
    /// so that no stale part is read back.
    /// Refused (exit 3) when a value cannot be split small enough or the endpoint would pass
    /// AWS's 50 tags: checked by the planner, before `sleep` changes anything.
    fn tags(&self, endpoint: &str, on: &Tags) -> Result<Tags> {
        let single =
            |items: &BTreeSet<String>| vec![(String::new(), items.iter().cloned().collect())];
        let lists = [
            (TAG_ASLEEP_SUBNETS, single(&self.subnets)),
            (TAG_ASLEEP_ROUTES, self.route_groups()),
            (TAG_ASLEEP_RULES, single(&self.rules)),
        ];
        let mut out = Tags::new();
        for (list, groups) in lists {
            let values = lay_out(&groups).ok_or_else(|| {
                Error::conflict(
                    format!(
                        "the sleep record of {endpoint} cannot be written: an entry of \
                         {list} is longer than a tag value may be ({TAG_VALUE_MAX} characters)"
                    ),
                    "nothing was changed; the endpoint stays awake",
                )
            })?;
            for (i, value) in values.into_iter().enumerate() {
                out.insert(part_key(list, i + 1), value);
            }
        }
        for key in on.keys().filter(|k| is_sleep_record_key(k)) {
            out.entry(key.clone()).or_default();
        }
        // AWS does not count the tags it reserves (`aws:`); every other tag counts, an
        // emptied one too.
        let others = on
            .keys()
            .filter(|k| !is_sleep_record_key(k) && !k.to_ascii_lowercase().starts_with("aws:"))
            .count();
        if others + out.len() > TAGS_PER_RESOURCE {
            return Err(Error::conflict(
                format!(
                    "the sleep record of {endpoint} needs {} tags ({} subnet(s), {} route(s), \
                     {} rule(s); {TAG_VALUE_MAX} characters a tag) and the endpoint has room \
                     for {}: AWS allows {TAGS_PER_RESOURCE} tags a resource",
                    out.len(),
                    self.subnets.len(),
                    self.routes.len(),
                    self.rules.len(),
                    TAGS_PER_RESOURCE.saturating_sub(others),
                ),
                format!(
                    "nothing was changed, the endpoint stays awake. Make room for {} tag(s): \
                     remove tags of your own from {endpoint}, or rules or routes it no longer \
                     needs, then run `vpnctl sleep` again",
                    others + out.len() - TAGS_PER_RESOURCE
                ),
            ));
        }
        Ok(out)
    }
}

/// Lays `groups` out over tag values of at most `TAG_VALUE_MAX` characters, in order. A group
/// `(suffix, atoms)` is written as items `ATOM,ATOM,…SUFFIX`, the items of a value joined by
/// `;`; a group that does not fit in what is left of a value goes on in a new item of the
/// next value, so a value is split only between atoms. None when an atom and its suffix alone
/// are longer than a value. Lengths are counted in bytes, never fewer than AWS's characters.
fn lay_out(groups: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    let mut values = Vec::new();
    // The value being filled: its finished items, then this group's open item.
    let mut value = String::new();
    for (suffix, atoms) in groups {
        let mut item = String::new();
        for atom in atoms {
            let grown = item.len() + usize::from(!item.is_empty()) + atom.len();
            if value.len() + usize::from(!value.is_empty()) + grown + suffix.len() <= TAG_VALUE_MAX
            {
                if !item.is_empty() {
                    item.push(',');
                }
                item.push_str(atom);
                continue;
            }
            close(&mut value, &mut item, suffix);
            if !value.is_empty() {
                values.push(std::mem::take(&mut value));
            }
            if atom.len() + suffix.len() > TAG_VALUE_MAX {
                return None;
            }
            item.push_str(atom);
        }
        close(&mut value, &mut item, suffix);
    }
    if !value.is_empty() {
        values.push(value);
    }
    Some(values)
}

/// Ends the open `item` (if any) with its suffix and adds it to `value`.
fn close(value: &mut String, item: &mut String, suffix: &str) {
    if item.is_empty() {
        return;
    }
    if !value.is_empty() {
        value.push(';');
    }
    value.push_str(item);
    value.push_str(suffix);
    item.clear();
}

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

/// Tags that clear the sleep record of an endpoint that has `tags`, once `wake` (or `setup`)
/// has restored it: every part it has, emptied (`vpnctl:asleep-subnets` always, so that the
/// call is never empty), and no tag added that was not there.
pub fn cleared_sleep_record(tags: &Tags) -> Tags {
    std::iter::once(TAG_ASLEEP_SUBNETS.to_string())
        .chain(tags.keys().filter(|k| is_sleep_record_key(k)).cloned())
        // A deadline's mark ("slept by deadline …") goes with the record it came with.
        .chain(tags.keys().filter(|k| *k == TAG_SLEPT_BY).cloned())
        .map(|k| (k, String::new()))
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

/// What a sleep of `e` (seen as `v`) removes and records: its live associations, and the
/// record's tags (merged with an earlier record, see `plan_sleep`); `None` when nothing is
/// associated. Shared by `sleep` and by the deadline that sleeps the endpoint server-side.
pub fn sleep_record(e: &Endpoint, v: &EndpointView) -> Result<Option<(Vec<Association>, Tags)>> {
    let live: Vec<Association> = v
        .associations
        .iter()
        .filter(|a| association_bills(&a.state) && a.state != AssociationState::Disassociating)
        .cloned()
        .collect();
    if live.is_empty() {
        return Ok(None);
    }
    // Merged with an earlier record: a sleep interrupted after some disassociations must
    // not forget the subnets (and their routes) already gone.
    let mut record = Record::read(&e.tags);
    record
        .subnets
        .extend(live.iter().map(|a| a.subnet_id.clone()));
    // Routes with origin "associate" come back with the association by themselves. A route
    // someone added by hand is marked (`!CIDR`), so that wake restores it as theirs and a
    // later setup does not take it for one of vpnctl's no longer wanted.
    let ours = e.tags.get(TAG_DEPLOYMENT).map(|d| owned_description(d));
    record.routes.extend(
        v.routes
            .iter()
            .filter(|r| r.origin != "associate")
            .map(|r| {
                let mine = ours.is_some() && r.description == ours;
                let cidr = if mine {
                    r.cidr.clone()
                } else {
                    format!("{FOREIGN}{}", r.cidr)
                };
                (cidr, r.subnet_id.clone())
            }),
    );
    record.rules.extend(
        v.rules
            .iter()
            .map(|r| rule_item(&r.cidr, r.group.as_deref())),
    );
    Ok(Some((live, record.tags(&e.id, &e.tags)?)))
}

/// What working hours and idle sleep record and restore (`recurring::Restore`): the endpoint's
/// live state when something is associated (merged with an earlier record, as `sleep` does),
/// else the record an earlier sleep left; `None` when there is neither.
pub fn restore_of(e: &Endpoint, v: &EndpointView) -> Result<Option<Restore>> {
    let (record, tags) = match sleep_record(e, v)? {
        Some((_, tags)) => (Record::read(&tags), tags),
        None => {
            let r = Record::read(&e.tags);
            if r.subnets.is_empty() {
                return Ok(None);
            }
            let tags = r.tags(&e.id, &e.tags)?;
            (r, tags)
        }
    };
    let ours = e.tags.get(TAG_DEPLOYMENT).map(|d| owned_description(d));
    let routes = record
        .routes
        .iter()
        .map(|(cidr, subnet)| match cidr.strip_prefix(FOREIGN) {
            Some(c) => (c.to_string(), subnet.clone(), RESTORED_DESCRIPTION.into()),
            None => (
                cidr.clone(),
                subnet.clone(),
                ours.clone().unwrap_or_default(),
            ),
        })
        .collect();
    Ok(Some(Restore {
        subnets: record.subnets.iter().cloned().collect(),
        // The state machines restore the rules for every client only: a group's rule is
        // never turned into one for every client, and rules survive disassociation anyway
        // (`vpnctl wake` restores a missing group rule).
        rules: record
            .rules
            .iter()
            .filter(|item| parse_rule_item(item).1.is_none())
            .cloned()
            .collect(),
        routes,
        clear: cleared_sleep_record(&tags),
        record: tags,
    }))
}

/// `sleep`: record what the endpoint has (subnets, routes added beyond the automatic VPC
/// routes, authorization rules) as tags, then disassociate every subnet. Association billing
/// stops; the endpoint, its DNS name and every profile survive. Refused before any step when
/// the record would not fit in the endpoint's tags (see `Record::tags`).
pub fn plan_sleep(seen: &Observed) -> Result<(String, Vec<Step>)> {
    let (e, v) = the_endpoint(seen)?;
    let Some((live, record)) = sleep_record(e, v)? else {
        return Ok((e.id.clone(), Vec::new()));
    };
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
    // Recorded first (its own phase): a crash after it still leaves what wake needs.
    steps.push(Step::on(&e.id, Action::RecordSleep { record }));
    Ok((e.id.clone(), ordered(steps)))
}

/// `wake`: give the endpoint the PKI's CRL (`crl`: the PKI's CRL and CA, when there is a PKI)
/// if it lacks it, associate the recorded subnets again, then restore the recorded routes and
/// rules that are missing (disassociation deleted the routes), and clear the record.
pub fn plan_wake(seen: &Observed, crl: Option<(&str, &str)>) -> Result<(String, Vec<Step>)> {
    let (e, v) = the_endpoint(seen)?;
    let record = Record::read(&e.tags);
    let subnets = &record.subnets;
    // Revocations made while asleep must reach the endpoint before anyone connects.
    let mut steps = Vec::new();
    if let Some((crl, ca)) = crl
        && e.certificates
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
    for s in subnets {
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
    for item in &record.rules {
        let (cidr, group) = parse_rule_item(item);
        // A bare CIDR is a rule for every client, or (in a record an older vpnctl wrote) any
        // rule for it: a group's rule then counts, and wake never widens it to everyone.
        if !v.rules.iter().any(|r| {
            r.cidr == cidr
                && r.state != RuleState::Revoking
                && (group.is_none() || r.group == group)
        }) {
            steps.push(Step::new(Action::Authorize { cidr, group }));
        }
    }
    for (recorded, subnet) in &record.routes {
        let (cidr, foreign) = match recorded.strip_prefix(FOREIGN) {
            Some(c) => (c, true),
            None => (recorded.as_str(), false),
        };
        if !v
            .routes
            .iter()
            .any(|r| r.cidr == cidr && &r.subnet_id == subnet && r.state != RouteState::Deleting)
        {
            let (cidr, subnet) = (cidr.to_string(), subnet.clone());
            steps.push(Step::new(if foreign {
                Action::RestoreForeignRoute { cidr, subnet }
            } else {
                Action::CreateRoute { cidr, subnet }
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
    // Without client certificates the endpoint has no use for a CRL.
    let crl_action = if e.certificates {
        crl_step(v.crl.as_deref(), crl, ca)?
    } else {
        None
    };
    let mut steps: Vec<Step> = crl_action.map(Step::new).into_iter().collect();
    if let Some(u) = user {
        steps.push(Step::new(Action::EndSessions {
            user: u.to_string(),
            sessions: sessions_of(v, u),
        }));
    }
    Ok((e.id.clone(), ordered(steps)))
}
