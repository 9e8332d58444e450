//! The one step vocabulary. Every command that changes AWS plans a list of `Step`s with a
//! pure function from (desired, observed) and hands it to the one executor
//! (`aws::exec::Executor::run`). A step is an `Action` (what), the endpoint it works on when
//! it is not the deployment's one, and a `Phase` (when). The executor runs the steps of one
//! phase concurrently and the phases in order, in two independent lanes (`Lane`): the
//! endpoint's and the NAT gateway's, which share no resource.

use super::{Deadline, Recurring, RecurringKind, short_arn};
use crate::aws::model::Tags;
use crate::aws::price::ChargeKind;
use serde::Serialize;

/// When a step runs, within its lane: after every step of the earlier phases has ended (and,
/// unless `teardown --keep-going`, succeeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// What must be on AWS before anything is removed: the sleep record, a NAT's deadline.
    Record,
    Certificate,
    /// The NAT gateway's Elastic IP.
    Address,
    Endpoint,
    /// The NAT gateway, created and waited until available.
    Gateway,
    /// The PKI's CRL, before any association: nobody revoked connects once the endpoint
    /// can be reached again.
    Revocation,
    /// Removals first: a subnet moved within one Availability Zone can only be associated
    /// once the old one is gone; an endpoint can only be deleted once disassociated.
    Prune,
    Network,
    Routes,
    /// Endpoints and NAT gateways, once what depends on them is gone.
    Delete,
    /// What the deleted held: ACM certificates (in use by the endpoint), Elastic IPs (held
    /// by the NAT gateway).
    Release,
    /// Live sessions, after a CRL import that resets them.
    Sessions,
    /// After the network: the sleep record cleared, the client configuration exported.
    Profiles,
    /// The deadlines' schedules, armed for what the other lanes left.
    Deadline,
}

/// Which chain of phases a step belongs to. The lanes run concurrently: a NAT gateway needs
/// nothing of the endpoint and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lane {
    Endpoint,
    Nat,
    /// The deadlines (schedules, their group and role): after both other lanes, since a
    /// deadline names what they made; its removals only when they succeeded, so that what is
    /// left keeps its deadline.
    Deadline,
}

/// What a step does to AWS, for the plan's reader and for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    Creates,
    Changes,
    Deletes,
    /// Only waits for a change AWS is already making.
    Waits,
}

/// How a step moves the bill: a charge that starts or stops (per unit; the number of
/// sessions for `EndSessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    Starts(ChargeKind),
    Stops(ChargeKind),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    // The endpoint's lane.
    /// Record on the endpoint what `wake` restores (tags), before `sleep` removes it.
    RecordSleep {
        record: Tags,
    },
    ImportCertificate {
        reimport_arn: Option<String>,
    },
    CreateEndpoint,
    ModifyEndpoint {
        changes: Vec<String>,
    },
    /// Remove an association and wait until it is gone.
    Disassociate {
        subnet: String,
        association: String,
    },
    /// Remove an authorization rule the settings no longer ask for.
    RevokeRule {
        cidr: String,
        /// The SAML or Active Directory group it is for; absent: every client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    /// Remove a route vpnctl added that the settings no longer ask for (e.g. full tunnel off).
    DeleteRoute {
        cidr: String,
        subnet: String,
    },
    Associate {
        subnet: String,
        az: String,
    },
    WaitAssociation {
        subnet: String,
        state: String,
    },
    Authorize {
        cidr: String,
        /// The SAML or Active Directory group it is for; absent: every client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },
    WaitRule {
        cidr: String,
        /// The SAML or Active Directory group it is for; absent: every client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        state: String,
    },
    /// Give the endpoint the PKI's current CRL, CRL number `number` (compared again right
    /// before, read back after).
    ImportCrl {
        number: u64,
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
    /// Put back a route someone added by hand, which a sleep's disassociation deleted (with a
    /// description that is not vpnctl's, so no later setup prunes it).
    RestoreForeignRoute {
        cidr: String,
        subnet: String,
    },
    DeleteEndpoint {
        endpoint: String,
    },
    DeleteCertificate {
        arn: String,
    },
    /// End `user`'s live sessions (`sessions` seen when planned).
    EndSessions {
        user: String,
        sessions: usize,
    },
    /// Remove a sleep record the endpoint no longer needs.
    ClearSleepRecord,
    /// Export the client configuration the profiles are written from.
    WriteProfiles,
    /// Record the deployment's deadline duration on the endpoint (what `wake` arms again;
    /// empty: none).
    RecordTtl {
        ttl: String,
    },

    // The NAT gateway's lane.
    /// Move a live NAT gateway's deadline (`--ttl` given again).
    SetNatDeadline {
        nat: String,
        expires: String,
    },
    AllocateAddress,
    /// Create the NAT gateway in `subnet` for `private` (routed through `table`) and wait
    /// until it is available; `replaced` is the default route target `nat off` restores.
    CreateNatGateway {
        subnet: String,
        private: String,
        table: String,
        replaced: Option<String>,
        expires: Option<String>,
    },
    WaitNatGateway {
        nat: String,
    },
    /// Point 0.0.0.0/0 of `table` at the NAT gateway.
    SetDefaultRoute {
        table: String,
        replace: bool,
    },
    /// Put back the default route `nat on --force` replaced.
    RestoreDefaultRoute {
        table: String,
        target: String,
    },
    /// Remove the default route `nat on` added.
    RemoveDefaultRoute {
        table: String,
    },
    DeleteNatGateway {
        nat: String,
    },
    /// Deleting a NAT gateway leaves its Elastic IP allocated (and billing): release it.
    ReleaseAddress {
        allocation: String,
    },

    // The deadlines' lane.
    /// Create (or update) the IAM role EventBridge Scheduler runs the deadlines as.
    PutSchedulerRole,
    /// Create the deployment's schedule group, tagged (kept when it exists).
    CreateScheduleGroup,
    /// Arm `deadline` for `at`: its schedules, computed from what AWS holds right before.
    ArmDeadline {
        deadline: Deadline,
        #[serde(serialize_with = "crate::json::unix")]
        at: i64,
    },
    /// Remove `deadline`'s schedules.
    DisarmDeadline {
        deadline: Deadline,
    },
    /// Move `deadline` (`vpnctl extend`).
    MoveDeadline {
        deadline: Deadline,
        #[serde(serialize_with = "crate::json::unix")]
        from: i64,
        #[serde(serialize_with = "crate::json::unix")]
        to: i64,
    },
    /// Remove every schedule of the deployment's group, then the group.
    DeleteSchedules {
        schedules: usize,
    },
    DeleteSchedulerRole {
        role: String,
    },
    /// Create or update the deployment's Step Functions state machines (sleep, wake, idle).
    PutStateMachines,
    /// Arm a recurring schedule (working hours, idle sleep): its input computed from what AWS
    /// holds right before.
    ArmRecurring {
        recurring: Recurring,
    },
    /// Remove a recurring schedule.
    DisarmRecurring {
        kind: RecurringKind,
    },
    /// Delete the deployment's state machines (ARNs).
    DeleteStateMachines {
        machines: Vec<String>,
    },

    // `adopt`: tags only, on what someone else made.
    /// Mark the endpoint (named by the step) as the deployment's: these tags added.
    AdoptEndpoint {
        tags: crate::aws::model::Tags,
    },
    /// Mark an ACM certificate the endpoint uses as the deployment's: these tags added.
    AdoptCertificate {
        arn: String,
        tags: crate::aws::model::Tags,
    },
}

impl Action {
    /// The phase this action runs in: fixed per kind, so every plan orders it the same way.
    pub fn phase(&self) -> Phase {
        use Action::*;
        match self {
            RecordSleep { .. } | SetNatDeadline { .. } => Phase::Record,
            AdoptEndpoint { .. } | AdoptCertificate { .. } => Phase::Record,
            ImportCertificate { .. } => Phase::Certificate,
            AllocateAddress => Phase::Address,
            CreateEndpoint | ModifyEndpoint { .. } => Phase::Endpoint,
            CreateNatGateway { .. } | WaitNatGateway { .. } => Phase::Gateway,
            Disassociate { .. }
            | RevokeRule { .. }
            | DeleteRoute { .. }
            | RestoreDefaultRoute { .. }
            | RemoveDefaultRoute { .. } => Phase::Prune,
            Associate { .. } | WaitAssociation { .. } | Authorize { .. } | WaitRule { .. } => {
                Phase::Network
            }
            ImportCrl { .. } => Phase::Revocation,
            CreateRoute { .. }
            | WaitRoute { .. }
            | RestoreForeignRoute { .. }
            | SetDefaultRoute { .. } => Phase::Routes,
            DeleteEndpoint { .. } | DeleteNatGateway { .. } => Phase::Delete,
            DeleteCertificate { .. } | ReleaseAddress { .. } => Phase::Release,
            EndSessions { .. } => Phase::Sessions,
            ClearSleepRecord | WriteProfiles | RecordTtl { .. } => Phase::Profiles,
            PutSchedulerRole | CreateScheduleGroup => Phase::Record,
            DisarmDeadline { .. } | DeleteSchedules { .. } => Phase::Prune,
            DeleteSchedulerRole { .. } => Phase::Release,
            ArmDeadline { .. } | MoveDeadline { .. } | ArmRecurring { .. } => Phase::Deadline,
            // After the role (Record), before the schedules that start them (Deadline).
            PutStateMachines => Phase::Profiles,
            DisarmRecurring { .. } => Phase::Prune,
            DeleteStateMachines { .. } => Phase::Delete,
        }
    }

    /// Which lane: exhaustive on purpose, so a new action is placed by decision.
    pub fn lane(&self) -> Lane {
        use Action::*;
        match self {
            SetNatDeadline { .. }
            | AllocateAddress
            | CreateNatGateway { .. }
            | WaitNatGateway { .. }
            | SetDefaultRoute { .. }
            | RestoreDefaultRoute { .. }
            | RemoveDefaultRoute { .. }
            | DeleteNatGateway { .. }
            | ReleaseAddress { .. } => Lane::Nat,
            RecordSleep { .. }
            | ImportCertificate { .. }
            | CreateEndpoint
            | ModifyEndpoint { .. }
            | Disassociate { .. }
            | RevokeRule { .. }
            | DeleteRoute { .. }
            | Associate { .. }
            | WaitAssociation { .. }
            | Authorize { .. }
            | WaitRule { .. }
            | ImportCrl { .. }
            | CreateRoute { .. }
            | WaitRoute { .. }
            | RestoreForeignRoute { .. }
            | DeleteEndpoint { .. }
            | DeleteCertificate { .. }
            | EndSessions { .. }
            | ClearSleepRecord
            | WriteProfiles
            | RecordTtl { .. }
            | AdoptEndpoint { .. }
            | AdoptCertificate { .. } => Lane::Endpoint,
            PutSchedulerRole
            | CreateScheduleGroup
            | ArmDeadline { .. }
            | DisarmDeadline { .. }
            | MoveDeadline { .. }
            | DeleteSchedules { .. }
            | DeleteSchedulerRole { .. }
            | PutStateMachines
            | ArmRecurring { .. }
            | DisarmRecurring { .. }
            | DeleteStateMachines { .. } => Lane::Deadline,
        }
    }

    /// What the step does to AWS, and to which kind of resource.
    pub fn effect(&self) -> (Effect, &'static str) {
        use Action::*;
        use Effect::*;
        match self {
            RecordSleep { .. } | ClearSleepRecord => (Changes, "endpoint tags"),
            ImportCertificate { reimport_arn: None } => (Creates, "acm certificate"),
            ImportCertificate { .. } => (Changes, "acm certificate"),
            CreateEndpoint => (Creates, "client vpn endpoint"),
            ModifyEndpoint { .. } => (Changes, "client vpn endpoint"),
            Disassociate { .. } => (Deletes, "target network association"),
            Associate { .. } => (Creates, "target network association"),
            WaitAssociation { .. } => (Waits, "target network association"),
            RevokeRule { .. } => (Deletes, "authorization rule"),
            Authorize { .. } => (Creates, "authorization rule"),
            WaitRule { .. } => (Waits, "authorization rule"),
            DeleteRoute { .. } => (Deletes, "client vpn route"),
            CreateRoute { .. } | RestoreForeignRoute { .. } => (Creates, "client vpn route"),
            WaitRoute { .. } => (Waits, "client vpn route"),
            ImportCrl { .. } => (Changes, "client certificate revocation list"),
            DeleteEndpoint { .. } => (Deletes, "client vpn endpoint"),
            DeleteCertificate { .. } => (Deletes, "acm certificate"),
            EndSessions { .. } => (Deletes, "client connection"),
            WriteProfiles => (Waits, "client configuration"),
            SetNatDeadline { .. } => (Changes, "nat gateway tags"),
            AllocateAddress => (Creates, "elastic ip"),
            ReleaseAddress { .. } => (Deletes, "elastic ip"),
            CreateNatGateway { .. } => (Creates, "nat gateway"),
            WaitNatGateway { .. } => (Waits, "nat gateway"),
            DeleteNatGateway { .. } => (Deletes, "nat gateway"),
            SetDefaultRoute { .. } | RestoreDefaultRoute { .. } => (Changes, "vpc route"),
            RemoveDefaultRoute { .. } => (Deletes, "vpc route"),
            RecordTtl { .. } => (Changes, "endpoint tags"),
            PutSchedulerRole => (Creates, "iam role"),
            CreateScheduleGroup => (Creates, "schedule group"),
            ArmDeadline { .. } => (Creates, "schedules"),
            DisarmDeadline { .. } => (Deletes, "schedules"),
            MoveDeadline { .. } => (Changes, "schedules"),
            DeleteSchedules { .. } => (Deletes, "schedule group"),
            DeleteSchedulerRole { .. } => (Deletes, "iam role"),
            PutStateMachines => (Creates, "state machines"),
            ArmRecurring { .. } => (Creates, "schedules"),
            DisarmRecurring { .. } => (Deletes, "schedules"),
            DeleteStateMachines { .. } => (Deletes, "state machines"),
            AdoptEndpoint { .. } => (Changes, "endpoint tags"),
            AdoptCertificate { .. } => (Changes, "acm certificate tags"),
        }
    }

    /// The charge the step starts or stops, if any (exhaustive on purpose, like `lane`).
    pub fn billing(&self) -> Option<Billing> {
        use Action::*;
        Some(match self {
            Associate { .. } => Billing::Starts(ChargeKind::Association),
            Disassociate { .. } => Billing::Stops(ChargeKind::Association),
            EndSessions { .. } => Billing::Stops(ChargeKind::Connection),
            AllocateAddress => Billing::Starts(ChargeKind::PublicIpv4),
            ReleaseAddress { .. } => Billing::Stops(ChargeKind::PublicIpv4),
            CreateNatGateway { .. } => Billing::Starts(ChargeKind::NatGateway),
            DeleteNatGateway { .. } => Billing::Stops(ChargeKind::NatGateway),
            RecordSleep { .. }
            | ImportCertificate { .. }
            | CreateEndpoint
            | ModifyEndpoint { .. }
            | RevokeRule { .. }
            | DeleteRoute { .. }
            | WaitAssociation { .. }
            | Authorize { .. }
            | WaitRule { .. }
            | ImportCrl { .. }
            | CreateRoute { .. }
            | WaitRoute { .. }
            | RestoreForeignRoute { .. }
            | DeleteEndpoint { .. }
            | DeleteCertificate { .. }
            | ClearSleepRecord
            | WriteProfiles
            | SetNatDeadline { .. }
            | WaitNatGateway { .. }
            | SetDefaultRoute { .. }
            | RestoreDefaultRoute { .. }
            | RemoveDefaultRoute { .. }
            | RecordTtl { .. }
            | PutSchedulerRole
            | CreateScheduleGroup
            | ArmDeadline { .. }
            | DisarmDeadline { .. }
            | MoveDeadline { .. }
            | DeleteSchedules { .. }
            | DeleteSchedulerRole { .. }
            | PutStateMachines
            | ArmRecurring { .. }
            | DisarmRecurring { .. }
            | DeleteStateMachines { .. }
            | AdoptEndpoint { .. }
            | AdoptCertificate { .. } => return None,
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub phase: Phase,
    /// The endpoint an endpoint step works on; `None`: the deployment's one (observed, or
    /// created by an earlier step of the same run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

impl Step {
    pub fn new(action: Action) -> Step {
        Step {
            phase: action.phase(),
            endpoint: None,
            action,
        }
    }

    /// A step on a named endpoint (teardown, sleep: the ids are known when planned).
    pub fn on(endpoint: &str, action: Action) -> Step {
        Step {
            endpoint: Some(endpoint.to_string()),
            ..Step::new(action)
        }
    }
}

/// The action's line; a step on a named endpoint says which (teardown may remove several).
impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.action, &self.endpoint) {
            (
                Action::Disassociate {
                    subnet,
                    association,
                },
                Some(e),
            ) => write!(
                f,
                "disassociate subnet {subnet} ({association}) from {e} and wait until gone"
            ),
            (Action::AdoptEndpoint { tags }, Some(e)) => {
                write!(f, "tag the endpoint {e} {}", tag_list(tags))
            }
            (Action::RecordSleep { .. }, Some(e)) => write!(
                f,
                "record the associations, routes and rules on {e} as tags (what wake restores)"
            ),
            _ => self.action.fmt(f),
        }
    }
}

/// ` for group G` of a rule for one group; nothing for a rule for every client.
fn for_group(group: &Option<String>) -> String {
    group
        .as_deref()
        .map(|g| format!(" for group {g}"))
        .unwrap_or_default()
}

/// `k=v, k=v` for a plan line.
fn tag_list(tags: &crate::aws::model::Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A time in a plan line: `2026-12-02 20:00 UTC`.
pub fn when(t: i64) -> String {
    crate::json::time(t)
        .map(|s| s.replace('T', " ").trim_end_matches('Z').to_string() + " UTC")
        .unwrap_or_else(|| t.to_string())
}

/// Order a plan the way the executor runs it: by phase (the deadlines' lane last), the
/// planner's order within a phase.
/// A step planned twice (the scheduler role and group, which both deadlines need) is kept once.
pub fn ordered(mut steps: Vec<Step>) -> Vec<Step> {
    // The deadlines' lane runs after the other two: listed last, as it runs.
    steps.sort_by_key(|s| (s.action.lane() == Lane::Deadline, s.phase));
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    for s in steps {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use Action::*;
        match self {
            RecordSleep { .. } => write!(
                f,
                "record the associations, routes and rules on the endpoint as tags (what wake \
                 restores)"
            ),
            ImportCertificate { reimport_arn: None } => write!(
                f,
                "import the server certificate into ACM (CA as chain; also the client root)"
            ),
            ImportCertificate {
                reimport_arn: Some(arn),
            } => write!(
                f,
                "re-import the renewed server certificate to the same ARN ({}): endpoint and \
                 profiles survive",
                short_arn(arn)
            ),
            CreateEndpoint => write!(f, "create the Client VPN endpoint"),
            ModifyEndpoint { changes } => {
                write!(f, "modify the endpoint: {}", changes.join(", "))
            }
            Disassociate {
                subnet,
                association,
            } => write!(
                f,
                "disassociate subnet {subnet} ({association}) and wait until gone"
            ),
            RevokeRule { cidr, group } => write!(
                f,
                "revoke the authorization of {cidr}{}, no longer wanted",
                for_group(group)
            ),
            DeleteRoute { cidr, subnet } => {
                write!(f, "delete the route {cidr} via {subnet}, no longer wanted")
            }
            Associate { subnet, az } if az.is_empty() => {
                write!(f, "associate subnet {subnet} and wait until associated")
            }
            Associate { subnet, az } => write!(
                f,
                "associate subnet {subnet} ({az}) and wait until associated"
            ),
            WaitAssociation { subnet, state } => write!(
                f,
                "wait for the association of {subnet} ({state} → associated)"
            ),
            Authorize { cidr, group } => {
                write!(f, "authorize access to {cidr}{}", for_group(group))
            }
            WaitRule { cidr, group, state } => write!(
                f,
                "wait for the authorization of {cidr}{} ({state} → active)",
                for_group(group)
            ),
            ImportCrl { number } => write!(
                f,
                "import CRL number {number} (AWS resets every live connection; revoked users are \
                 refused)"
            ),
            CreateRoute { cidr, subnet } => write!(f, "route {cidr} via {subnet}"),
            RestoreForeignRoute { cidr, subnet } => write!(
                f,
                "route {cidr} via {subnet} again (added by hand; restored as not vpnctl's)"
            ),
            WaitRoute {
                cidr,
                subnet,
                state,
            } => write!(
                f,
                "wait for the route {cidr} via {subnet} ({state} → active)"
            ),
            DeleteEndpoint { endpoint } => {
                write!(f, "delete the endpoint {endpoint} and wait until gone")
            }
            DeleteCertificate { arn } => {
                write!(f, "delete the ACM certificate {}", short_arn(arn))
            }
            EndSessions { user, sessions: 0 } => {
                write!(f, "end the live sessions of {user} (none seen now)")
            }
            EndSessions { user, sessions } => {
                write!(f, "end the {sessions} live session(s) of {user}")
            }
            ClearSleepRecord => {
                write!(f, "clear the endpoint's sleep record (it is awake again)")
            }
            WriteProfiles => write!(
                f,
                "export the client configuration and write a .ovpn per valid user"
            ),
            SetNatDeadline { nat, expires } => {
                write!(f, "move the deadline of {nat} to {expires} (--ttl)")
            }
            AllocateAddress => write!(f, "allocate an Elastic IP"),
            CreateNatGateway {
                subnet,
                replaced: None,
                ..
            } => write!(
                f,
                "create a NAT gateway in {subnet} and wait until available"
            ),
            CreateNatGateway {
                subnet,
                replaced: Some(r),
                ..
            } => write!(
                f,
                "create a NAT gateway in {subnet} and wait until available (remembering the \
                 replaced route to {r})"
            ),
            WaitNatGateway { nat } => write!(f, "wait until the NAT gateway {nat} is available"),
            SetDefaultRoute {
                table,
                replace: false,
            } => write!(f, "add 0.0.0.0/0 → NAT gateway to {table}"),
            SetDefaultRoute {
                table,
                replace: true,
            } => write!(f, "replace 0.0.0.0/0 in {table} with → NAT gateway"),
            RestoreDefaultRoute { table, target } => {
                write!(f, "restore 0.0.0.0/0 → {target} in {table}")
            }
            RemoveDefaultRoute { table } => write!(
                f,
                "remove the 0.0.0.0/0 route to the NAT gateway from {table}"
            ),
            DeleteNatGateway { nat } => {
                write!(f, "delete the NAT gateway {nat} and wait until deleted")
            }
            ReleaseAddress { allocation } => {
                write!(f, "release the Elastic IP {allocation}")
            }
            RecordTtl { ttl } if ttl.is_empty() => {
                write!(f, "record on the endpoint that it has no deadline")
            }
            RecordTtl { ttl } => write!(
                f,
                "record the deadline duration {ttl} on the endpoint (wake arms it again)"
            ),
            PutSchedulerRole => write!(
                f,
                "create or update the IAM role EventBridge Scheduler runs the deadlines as"
            ),
            CreateScheduleGroup => write!(f, "create the deployment's schedule group"),
            ArmDeadline { deadline, at } => write!(
                f,
                "arm the {deadline} deadline for {}: {} server-side, no vpnctl needed",
                when(*at),
                deadline.what()
            ),
            DisarmDeadline { deadline } => write!(f, "remove the {deadline} deadline"),
            MoveDeadline { deadline, from, to } => write!(
                f,
                "move the {deadline} deadline from {} to {}",
                when(*from),
                when(*to)
            ),
            DeleteSchedules { schedules: 0 } => {
                write!(
                    f,
                    "delete the deployment's schedule group (no schedule left in it)"
                )
            }
            DeleteSchedules { schedules } => write!(
                f,
                "delete the deployment's schedule group and its {schedules} schedule(s)"
            ),
            DeleteSchedulerRole { role } => write!(f, "delete the IAM role {role}"),
            PutStateMachines => write!(
                f,
                "create or update the deployment's Step Functions state machines (sleep, wake, \
                 idle check)"
            ),
            ArmRecurring { recurring } => write!(f, "arm {recurring}, server-side"),
            DisarmRecurring { kind } => write!(f, "remove the {kind}"),
            DeleteStateMachines { machines } => write!(
                f,
                "delete the deployment's {} state machine(s)",
                machines.len()
            ),
            AdoptEndpoint { tags } => write!(f, "tag the endpoint {}", tag_list(tags)),
            AdoptCertificate { arn, tags } => {
                write!(f, "tag the ACM certificate {arn} {}", tag_list(tags))
            }
        }
    }
}
