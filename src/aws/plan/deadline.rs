//! Server-side deadlines: one-time EventBridge Scheduler schedules that stop what bills with
//! no vpnctl process running anywhere. Each schedule is a universal target (one EC2 API call,
//! its `Input` the API's own parameters), run as the deployment's scheduler role; all live in
//! the deployment's schedule group, which carries the deployment's tags.
//!
//! - The endpoint's deadline (`setup --ttl`, re-armed by `wake`) is what `vpnctl sleep` does:
//!   one `DisassociateClientVpnTargetNetwork` per association, and `CreateTags` writing the
//!   sleep record (with `vpnctl:slept-by`) that `wake` restores from.
//! - The NAT gateway's deadline (`nat on --ttl`, 4 hours unless `--ttl none`) is what
//!   `nat off` does: the default route put back (`ReplaceRoute`) or removed (`DeleteRoute`),
//!   `DeleteNatGateway`, and `ReleaseAddress` a few minutes later, retried by the Scheduler's
//!   retry policy until the NAT gateway has let the address go.
//!
//! The schedules are computed here from what is on AWS when they are armed (pure functions);
//! the executor reads that state right before arming, so they name the association ids and the
//! NAT gateway that exist then.

use super::*;
use crate::error::{Error, Result};
use serde_json::json;

/// `nat on` without `--ttl`: the NAT gateway is gone after 4 hours.
pub const DEFAULT_NAT_TTL: i64 = 4 * 3600;
/// The Elastic IP is released this long after the NAT gateway's deletion was asked for
/// (AWS refuses while the deleting NAT gateway still holds it; the retry policy covers longer).
pub const RELEASE_AFTER: i64 = 5 * 60;
/// The retry policy of every deadline schedule: AWS's maxima, 185 retries within 24 hours.
pub const RETRIES: u32 = 185;
pub const MAX_AGE_SECS: u32 = 86_400;
/// The Scheduler's limit on a target's `Input` (characters).
pub const INPUT_MAX: usize = 8192;
/// The name of the role's one inline policy.
pub const POLICY_NAME: &str = "vpnctl-deadlines";

/// Which of the deployment's charges a deadline stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deadline {
    /// Every association of the endpoint (the endpoint sleeps).
    Endpoint,
    /// The NAT gateway and its Elastic IP.
    Nat,
}

impl Deadline {
    /// The prefix of this deadline's schedule names.
    pub fn prefix(self) -> &'static str {
        match self {
            Deadline::Endpoint => "sleep-",
            Deadline::Nat => "nat-",
        }
    }

    /// Which deadline a schedule of the group belongs to (`None`: not a deadline's).
    pub fn of(schedule: &Schedule) -> Option<Deadline> {
        [Deadline::Endpoint, Deadline::Nat]
            .into_iter()
            .find(|d| schedule.name.starts_with(d.prefix()) && schedule.at().is_some())
    }

    pub fn what(self) -> &'static str {
        match self {
            Deadline::Endpoint => "the endpoint sleeps (every association removed)",
            Deadline::Nat => "the NAT gateway is deleted and its Elastic IP released",
        }
    }
}

impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Deadline::Endpoint => "endpoint",
            Deadline::Nat => "NAT gateway",
        })
    }
}

/// The deployment's schedule group: `vpnctl-<deployment>`.
pub fn group_name(deployment: &str) -> String {
    format!("vpnctl-{deployment}")
}

/// The role the Scheduler assumes: `vpnctl-<deployment>-scheduler`.
pub fn role_name(deployment: &str) -> String {
    format!("vpnctl-{deployment}-scheduler")
}

/// The role the state machines run as: `vpnctl-<deployment>-states`.
pub fn states_role_name(deployment: &str) -> String {
    format!("vpnctl-{deployment}-states")
}

/// The ARN partition of `region`: `aws-cn` in China, `aws-us-gov` in GovCloud, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A trust policy: `service` may assume the role for `source` (ARNs or patterns) in `account`
/// only (AWS's guidance against the confused deputy: `aws:SourceAccount`, `aws:SourceArn`).
fn trust(service: &str, account: &str, source: serde_json::Value) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": source}
            }
        }]
    })
    .to_string()
}

/// Who may assume the scheduler role: EventBridge Scheduler, for schedules of this account's
/// group of the deployment only.
pub fn trust_policy(deployment: &str, account: &str, region: &str) -> String {
    let group = format!(
        "arn:{}:scheduler:{region}:{account}:schedule-group/{}",
        partition(region),
        group_name(deployment)
    );
    trust("scheduler.amazonaws.com", account, json!(group))
}

/// Who may assume the states role: Step Functions, for the deployment's state machines only.
pub fn states_trust_policy(deployment: &str, account: &str, region: &str) -> String {
    trust(
        "states.amazonaws.com",
        account,
        json!(machines_arn(deployment, account, region)),
    )
}

/// The ARNs of the deployment's state machines, exactly (a pattern `vpnctl-lab-*` would
/// also cover deployment `lab-2`'s).
fn machines_arn(deployment: &str, account: &str, region: &str) -> Vec<String> {
    Machine::ALL
        .iter()
        .map(|m| {
            format!(
                "arn:{}:states:{region}:{account}:stateMachine:{}",
                partition(region),
                m.name(deployment)
            )
        })
        .collect()
}

fn tagged(deployment: &str) -> serde_json::Value {
    json!({"StringEquals": {format!("aws:ResourceTag/{TAG_DEPLOYMENT}"): deployment}})
}

/// What the scheduler role may do: the deadlines' actions, on the deployment's tagged
/// resources (the endpoint, the NAT gateway, the Elastic IP) and on the route tables `nat on`
/// changed, and start the deployment's state machines.
pub fn role_policy(deployment: &str, account: &str, region: &str, tables: &[String]) -> String {
    let p = partition(region);
    let arn = |kind: &str, id: &str| format!("arn:{p}:ec2:{region}:{account}:{kind}/{id}");
    let mut statements = vec![
        json!({
            "Sid": "SleepTheEndpoint",
            "Effect": "Allow",
            "Action": ["ec2:DisassociateClientVpnTargetNetwork", "ec2:CreateTags"],
            "Resource": arn("client-vpn-endpoint", "*"),
            "Condition": tagged(deployment),
        }),
        json!({
            "Sid": "StopTheNatGateway",
            "Effect": "Allow",
            "Action": ["ec2:DeleteNatGateway", "ec2:ReleaseAddress"],
            "Resource": [arn("natgateway", "*"), arn("elastic-ip", "*")],
            "Condition": tagged(deployment),
        }),
        json!({
            "Sid": "StartTheStateMachines",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": machines_arn(deployment, account, region),
        }),
    ];
    if !tables.is_empty() {
        statements.push(json!({
            "Sid": "PutTheDefaultRouteBack",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceRoute", "ec2:DeleteRoute"],
            "Resource": tables.iter().map(|t| arn("route-table", t)).collect::<Vec<_>>(),
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// What the states role may do: the state machines' calls, on the deployment's tagged endpoint
/// and on subnets (where the wake associates and routes); reads, which IAM does not scope to a
/// resource, on any.
pub fn states_role_policy(deployment: &str, account: &str, region: &str) -> String {
    let p = partition(region);
    let arn = |kind: &str, id: &str| format!("arn:{p}:ec2:{region}:{account}:{kind}/{id}");
    json!({"Version": "2012-10-17", "Statement": [
        {
            "Sid": "SleepAndWakeTheEndpoint",
            "Effect": "Allow",
            "Action": [
                "ec2:DisassociateClientVpnTargetNetwork",
                "ec2:CreateTags",
                "ec2:AssociateClientVpnTargetNetwork",
                "ec2:AuthorizeClientVpnIngress",
                "ec2:CreateClientVpnRoute"
            ],
            "Resource": arn("client-vpn-endpoint", "*"),
            "Condition": tagged(deployment),
        },
        {
            "Sid": "TheSubnetsItWakesIn",
            "Effect": "Allow",
            "Action": ["ec2:AssociateClientVpnTargetNetwork", "ec2:CreateClientVpnRoute"],
            "Resource": arn("subnet", "*"),
        },
        {
            "Sid": "SeeTheEndpoint",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeClientVpnTargetNetworks",
                "ec2:DescribeClientVpnConnections",
                "ec2:DescribeClientVpnAuthorizationRules",
                "ec2:DescribeClientVpnRoutes",
                "ec2:DescribeTags"
            ],
            "Resource": "*",
        }
    ]})
    .to_string()
}

fn one_time(name: String, at: i64, action: &str, input: serde_json::Value, role: &str) -> Schedule {
    Schedule {
        name,
        expression: Schedule::at_expression(at),
        timezone: None,
        action: action.to_string(),
        input: input.to_string(),
        role_arn: role.to_string(),
        enabled: true,
        delete_after: true,
        retries: RETRIES,
        max_age_secs: MAX_AGE_SECS,
    }
}

/// The mark the endpoint's deadline leaves with the sleep record.
pub fn slept_by(at: i64) -> String {
    format!("deadline {}", crate::json::time(at).unwrap_or_default())
}

/// The schedules that put `e` (seen as `v`) to sleep at `at`, exactly as `vpnctl sleep`
/// would then: the sleep record (with `vpnctl:slept-by`) written by `CreateTags`, split over
/// several schedules when it does not fit one `Input`, and one disassociation per live
/// association. Empty when nothing is associated.
pub fn sleep_schedules(
    e: &Endpoint,
    v: &EndpointView,
    at: i64,
    role: &str,
) -> Result<Vec<Schedule>> {
    let Some((live, mut record)) = sleep_record(e, v)? else {
        return Ok(Vec::new());
    };
    record.insert(TAG_SLEPT_BY.to_string(), slept_by(at));
    // The mark is one tag more than `vpnctl sleep` writes: AWS's 50 must still hold.
    let total = e
        .tags
        .keys()
        .filter(|k| !record.contains_key(*k) && !k.to_ascii_lowercase().starts_with("aws:"))
        .count()
        + record.len();
    if total > TAGS_PER_RESOURCE {
        return Err(Error::conflict(
            format!(
                "the deadline's sleep record of {} needs {total} tags on the endpoint, and AWS \
                 allows {TAGS_PER_RESOURCE}",
                e.id
            ),
            "nothing was armed; remove tags of your own from the endpoint, or rules or routes \
             it no longer needs",
        ));
    }
    let mut out = Vec::new();
    let mut chunk: Vec<serde_json::Value> = Vec::new();
    let input = |tags: &[serde_json::Value]| json!({"Resources": [e.id], "Tags": tags});
    let mut chunks = Vec::new();
    for (k, val) in &record {
        chunk.push(json!({"Key": k, "Value": val}));
        if input(&chunk).to_string().len() > INPUT_MAX {
            let last = chunk.pop().unwrap_or_default();
            if chunk.is_empty() {
                return Err(Error::conflict(
                    format!("the sleep record tag {k} does not fit a schedule's input"),
                    "nothing was changed",
                ));
            }
            chunks.push(std::mem::take(&mut chunk));
            chunk.push(last);
        }
    }
    chunks.push(chunk);
    let n = chunks.len();
    for (i, c) in chunks.iter().enumerate() {
        let name = if n == 1 {
            "sleep-record".to_string()
        } else {
            format!("sleep-record-{}", i + 1)
        };
        out.push(one_time(name, at, "ec2:createTags", input(c), role));
    }
    for a in &live {
        out.push(one_time(
            format!("sleep-{}", a.id),
            at,
            "ec2:disassociateClientVpnTargetNetwork",
            json!({"ClientVpnEndpointId": e.id, "AssociationId": a.id}),
            role,
        ));
    }
    Ok(out)
}

/// The parameter of `ReplaceRoute` that names `target`.
fn route_target_key(target: &RouteTarget) -> Option<(&'static str, &str)> {
    Some(match target {
        RouteTarget::Gateway(id) => ("GatewayId", id),
        RouteTarget::Nat(id) => ("NatGatewayId", id),
        RouteTarget::Interface(id) => ("NetworkInterfaceId", id),
        RouteTarget::TransitGateway(id) => ("TransitGatewayId", id),
        RouteTarget::Peering(id) => ("VpcPeeringConnectionId", id),
        RouteTarget::Instance(id) => ("InstanceId", id),
        RouteTarget::LocalGateway(id) => ("LocalGatewayId", id),
        RouteTarget::CarrierGateway(id) => ("CarrierGatewayId", id),
        RouteTarget::Local | RouteTarget::Other(_) => return None,
    })
}

/// The schedules that end `nat` at `at`, as `nat off` would: the default route of the route
/// table it serves put back to what `nat on --force` replaced (or removed), the NAT gateway
/// deleted, and its Elastic IP released `RELEASE_AFTER` later.
pub fn nat_schedules(nat: &NatGateway, at: i64, role: &str) -> Vec<Schedule> {
    let mut out = Vec::new();
    if let Some(table) = nat.tags.get(TAG_ROUTE_TABLE) {
        let replaced = nat
            .tags
            .get(TAG_REPLACED_ROUTE)
            .map(|r| RouteTarget::from_id(r));
        let (action, input) = match replaced.as_ref().and_then(route_target_key) {
            Some((key, id)) => (
                "ec2:replaceRoute",
                json!({"RouteTableId": table, "DestinationCidrBlock": "0.0.0.0/0", key: id}),
            ),
            None => (
                "ec2:deleteRoute",
                json!({"RouteTableId": table, "DestinationCidrBlock": "0.0.0.0/0"}),
            ),
        };
        out.push(one_time("nat-route".into(), at, action, input, role));
    }
    out.push(one_time(
        "nat-delete".into(),
        at,
        "ec2:deleteNatGateway",
        json!({"NatGatewayId": nat.id}),
        role,
    ));
    if let Some(allocation) = &nat.allocation_id {
        out.push(one_time(
            "nat-release".into(),
            at + RELEASE_AFTER,
            "ec2:releaseAddress",
            json!({"AllocationId": allocation}),
            role,
        ));
    }
    out
}

/// `s` moved `by` seconds later (`vpnctl extend`): its time, and the deadline's own time in
/// the sleep record's `vpnctl:slept-by` it writes. A recurring schedule is returned as it is.
pub fn moved(s: &Schedule, by: i64) -> Schedule {
    let Some(old) = s.at() else {
        return s.clone();
    };
    let mut input = s.input.clone();
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&s.input)
        && let Some(tags) = v.get_mut("Tags").and_then(|t| t.as_array_mut())
    {
        for t in tags.iter_mut() {
            if t["Key"] == TAG_SLEPT_BY {
                // The deadline is the endpoint's time, which this schedule shares.
                t["Value"] = json!(slept_by(old + by));
            }
        }
        input = v.to_string();
    }
    Schedule {
        expression: Schedule::at_expression(old + by),
        input,
        ..s.clone()
    }
}

/// A deadline as it stands on AWS: when it fires (the earliest of its schedules) and how many
/// schedules it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub deadline: Deadline,
    #[serde(serialize_with = "crate::json::unix")]
    pub at: i64,
    pub schedules: usize,
}

/// The pending deadlines among `schedules`, endpoint first.
pub fn pending(schedules: &[Schedule]) -> Vec<Pending> {
    let mut out: Vec<Pending> = Vec::new();
    for s in schedules {
        let (Some(d), Some(at)) = (Deadline::of(s), s.at()) else {
            continue;
        };
        // The release comes RELEASE_AFTER later by design: the deadline is its first call.
        match out.iter_mut().find(|p| p.deadline == d) {
            Some(p) => {
                p.at = p.at.min(at);
                p.schedules += 1;
            }
            None => out.push(Pending {
                deadline: d,
                at,
                schedules: 1,
            }),
        }
    }
    out.sort_by_key(|p| p.deadline);
    out
}

/// Whether a live NAT gateway of the deployment has a pending deadline: a `nat-delete`
/// schedule that names it. (A deadline's schedules outlive the NAT gateway they stopped by
/// `RELEASE_AFTER`, and one deleted by hand leaves all of them.)
pub fn nat_deadline_holds(seen: &Observed) -> bool {
    let live: Vec<&str> = seen
        .nat_gateways
        .iter()
        .filter(|n| n.state.is_live())
        .map(|n| n.id.as_str())
        .collect();
    seen.schedules
        .iter()
        .filter(|s| Deadline::of(s) == Some(Deadline::Nat) && s.name == "nat-delete")
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s.input).ok())
        .any(|v| {
            v["NatGatewayId"]
                .as_str()
                .is_some_and(|id| live.contains(&id))
        })
}

/// What a command wants of one deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Leave it as it is (re-armed at its time when what it stops changed: `setup`).
    Keep,
    /// Arm it for Unix time `at`; `ttl` is the duration as given (recorded for `wake`).
    At { at: i64, ttl: String },
    /// Remove it (`--ttl none`, `sleep`, `nat off`).
    Off,
}

/// The deadline steps of a command that changes `deadline` as `want` says, seen `seen`, with
/// `others` the rest of its plan: the role and the group first when arming (they are the same
/// when repeated), the schedules after the lanes that made what they stop. `Want::Keep`
/// re-arms a pending deadline at its own time only when `others` change what it stops or its
/// schedules no longer match what AWS holds. Arming with nothing to stop disarms.
pub fn plan_deadline(
    seen: &Observed,
    deadline: Deadline,
    want: &Want,
    others: &[Step],
) -> Vec<Step> {
    let existing = pending(&seen.schedules)
        .into_iter()
        .find(|p| p.deadline == deadline);
    let arm = |at: i64| {
        vec![
            Step::new(Action::PutSchedulerRole),
            Step::new(Action::CreateScheduleGroup),
            Step::new(Action::ArmDeadline { deadline, at }),
        ]
    };
    match (want, existing) {
        (Want::At { at, .. }, _) => arm(*at),
        (Want::Keep, Some(p)) if changes(deadline, others) || stale(seen, deadline, p.at) => {
            arm(p.at)
        }
        (Want::Keep, _) => Vec::new(),
        (Want::Off, Some(_)) => vec![Step::new(Action::DisarmDeadline { deadline })],
        (Want::Off, None) => Vec::new(),
    }
}

/// Whether `steps` change what the endpoint's associations, rules and routes are (what its
/// deadline, working hours and idle sleep record and restore).
pub fn changes_endpoint(steps: &[Step]) -> bool {
    changes(Deadline::Endpoint, steps)
}

/// Whether `steps` change what `deadline` stops (its schedules name association ids, routes,
/// rules, the NAT gateway).
fn changes(deadline: Deadline, steps: &[Step]) -> bool {
    use Action::*;
    steps.iter().any(|s| match (deadline, &s.action) {
        (
            Deadline::Endpoint,
            CreateEndpoint
            | Associate { .. }
            | WaitAssociation { .. }
            | Disassociate { .. }
            | Authorize { .. }
            | RevokeRule { .. }
            | CreateRoute { .. }
            | DeleteRoute { .. }
            | RestoreForeignRoute { .. },
        ) => true,
        (Deadline::Nat, a) => a.lane() == Lane::Nat && !matches!(a, SetNatDeadline { .. }),
        _ => false,
    })
}

/// Whether `deadline`'s schedules differ from those it would have now, armed for `at` (an
/// association, route or rule made or removed by hand since, a NAT gateway replaced).
fn stale(seen: &Observed, deadline: Deadline, at: i64) -> bool {
    let mine: Vec<&Schedule> = seen
        .schedules
        .iter()
        .filter(|s| Deadline::of(s) == Some(deadline))
        .collect();
    let role = mine.first().map(|s| s.role_arn.clone()).unwrap_or_default();
    let now = match deadline {
        Deadline::Endpoint => match the_endpoint(seen) {
            Ok((e, v)) => sleep_schedules(e, v, at, &role).unwrap_or_default(),
            Err(_) => Vec::new(),
        },
        Deadline::Nat => seen
            .nat_gateways
            .iter()
            .find(|n| n.state.is_live())
            .map(|n| nat_schedules(n, at, &role))
            .unwrap_or_default(),
    };
    let key = |s: &Schedule| (s.name.clone(), s.action.clone(), s.input.clone(), s.at());
    let mut a: Vec<_> = mine.into_iter().map(key).collect();
    let mut b: Vec<_> = now.iter().map(key).collect();
    a.sort();
    b.sort();
    a != b
}

/// `extend`: every pending deadline `by` seconds later.
pub fn plan_extend(seen: &Observed, by: i64) -> Result<Vec<Step>> {
    let steps: Vec<Step> = pending(&seen.schedules)
        .into_iter()
        .map(|p| {
            Step::new(Action::MoveDeadline {
                deadline: p.deadline,
                from: p.at,
                to: p.at + by,
            })
        })
        .collect();
    if steps.is_empty() {
        return Err(Error::not_found(
            "the deployment has no pending deadline to extend",
            "`vpnctl setup --ttl 8h` or `vpnctl nat on --ttl 2h` sets one",
        ));
    }
    Ok(steps)
}

/// `teardown`: every schedule and the group, then the role.
pub fn plan_remove_deadlines(seen: &Observed) -> Vec<Step> {
    let mut steps = Vec::new();
    if seen.scheduler_role.is_some() || seen.states_role.is_some() || !seen.schedules.is_empty() {
        steps.push(Step::new(Action::DeleteSchedules {
            schedules: seen.schedules.len(),
        }));
    }
    if !seen.state_machines.is_empty() {
        steps.push(Step::new(Action::DeleteStateMachines {
            machines: seen
                .state_machines
                .iter()
                .map(|(_, arn)| arn.clone())
                .collect(),
        }));
    }
    if let Some(role) = &seen.states_role {
        steps.push(Step::new(Action::DeleteSchedulerRole {
            role: role.clone(),
        }));
    }
    if let Some(role) = &seen.scheduler_role {
        steps.push(Step::new(Action::DeleteSchedulerRole {
            role: role.clone(),
        }));
    }
    steps
}

/// The endpoint's deadline steps for `setup` and `wake`: `plan_deadline`, and the duration
/// recorded on the endpoint for the next `wake` (cleared by `Want::Off`).
pub fn plan_endpoint_deadline(seen: &Observed, want: &Want, others: &[Step]) -> Vec<Step> {
    let mut steps = plan_deadline(seen, Deadline::Endpoint, want, others);
    let recorded = seen
        .endpoints
        .iter()
        .filter_map(|v| v.endpoint.as_ref())
        .filter_map(|e| e.tags.get(TAG_TTL))
        .find(|t| !t.is_empty());
    match want {
        Want::At { ttl, .. } if recorded != Some(ttl) => {
            steps.push(Step::new(Action::RecordTtl { ttl: ttl.clone() }))
        }
        Want::Off if recorded.is_some() => {
            steps.push(Step::new(Action::RecordTtl { ttl: String::new() }))
        }
        _ => {}
    }
    steps
}

/// The deadline duration `setup --ttl` recorded on the deployment's endpoint: `none` when
/// `--ttl none` cleared it, `None` when nothing was ever recorded.
pub fn recorded_ttl(seen: &Observed) -> Option<&str> {
    seen.endpoints
        .iter()
        .filter_map(|v| v.endpoint.as_ref())
        .find_map(|e| e.tags.get(TAG_TTL))
        .map(|t| if t.is_empty() { "none" } else { t.as_str() })
}
