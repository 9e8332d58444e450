//! Working hours and idle sleep: recurring EventBridge Scheduler schedules that start Step
//! Functions state machines, because what they do takes more than one API call with fixed
//! parameters (the deadline's universal targets): the association ids change at every wake,
//! and a wake's routes can only be created once its associations are `associated`.
//!
//! Three state machines per deployment (`vpnctl-NAME-sleep`, `-wake`, `-idle`), written here
//! in the Amazon States Language with AWS SDK integrations (`arn:aws:states:::aws-sdk:ec2:…`),
//! all generic: what they restore or record comes in their input, which the schedules carry
//! and vpnctl computes from what AWS holds when it arms them (the same record `vpnctl sleep`
//! writes, so a manual `vpnctl wake` works after a scheduled sleep).
//!
//! - sleep: writes the sleep record (with `vpnctl:slept-by`), then disassociates every
//!   association it finds at that moment.
//! - wake: associates every recorded subnet, polls until none is `associating` (every 30 s, at
//!   most 45 minutes), then authorizes the recorded rules and creates the recorded routes
//!   (either may exist already: that answer is not a failure), then clears the record.
//! - idle: run every `IDLE_EVERY` seconds; counts consecutive checks that find no active
//!   connection on an awake endpoint in the endpoint's tag `vpnctl:idle-checks`, and once the
//!   count reaches the idle period does what sleep does.

use super::*;
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// How often the idle check runs: `rate(5 minutes)`.
pub const IDLE_EVERY: i64 = 300;
/// The idle check's count of consecutive checks without a connection, on the endpoint.
pub const TAG_IDLE_CHECKS: &str = "vpnctl:idle-checks";
/// The schedules' names in the deployment's group.
pub const HOURS_SLEEP: &str = "hours-sleep";
pub const HOURS_WAKE: &str = "hours-wake";
pub const IDLE_CHECK: &str = "idle-check";
/// How long a scheduled wake waits for its associations (AWS: 5 to 30 minutes, sometimes more).
pub const WAKE_POLL_SECS: u32 = 30;
pub const WAKE_POLLS: u32 = 90;

/// One of the deployment's state machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Machine {
    Sleep,
    Wake,
    Idle,
}

impl Machine {
    pub const ALL: [Machine; 3] = [Machine::Sleep, Machine::Wake, Machine::Idle];

    /// `vpnctl-<deployment>-sleep`, `-wake`, `-idle`.
    pub fn name(self, deployment: &str) -> String {
        let what = match self {
            Machine::Sleep => "sleep",
            Machine::Wake => "wake",
            Machine::Idle => "idle",
        };
        format!("vpnctl-{deployment}-{what}")
    }

    /// Which of `deployment`'s machines `name` is.
    pub fn of(deployment: &str, name: &str) -> Option<Machine> {
        Machine::ALL
            .into_iter()
            .find(|m| m.name(deployment) == name)
    }

    /// Whether it is an express workflow: sleep and the idle check take seconds and run often
    /// (express bills per request and duration, a fraction of standard's per-transition
    /// price); wake waits minutes for its associations, longer than express's five-minute
    /// limit, and runs twice a day at most, within standard's free transitions.
    pub fn express(self) -> bool {
        self != Machine::Wake
    }

    /// The machine's definition (Amazon States Language, JSONPath).
    pub fn definition(self) -> String {
        match self {
            Machine::Sleep => machine(sleep_states("", None)),
            Machine::Wake => wake_definition(),
            Machine::Idle => idle_definition(),
        }
        .to_string()
    }
}

/// What a recurring schedule of the deployment does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Recurring {
    /// Working hours: sleep and wake at Scheduler cron expressions, in `timezone`.
    Hours {
        sleep: String,
        wake: String,
        timezone: String,
    },
    /// Idle sleep: asleep once no client has been connected for `after` seconds.
    Idle { after: i64 },
}

/// Which recurring schedule (to remove one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecurringKind {
    Hours,
    Idle,
}

impl Recurring {
    pub fn kind(&self) -> RecurringKind {
        match self {
            Recurring::Hours { .. } => RecurringKind::Hours,
            Recurring::Idle { .. } => RecurringKind::Idle,
        }
    }

    /// The consecutive idle checks that make the idle period (at least one).
    pub fn checks(after: i64) -> i64 {
        ((after + IDLE_EVERY - 1) / IDLE_EVERY).max(1)
    }
}

impl std::fmt::Display for Recurring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recurring::Hours {
                sleep,
                wake,
                timezone,
            } => write!(f, "working hours: sleep {sleep}, wake {wake} ({timezone})"),
            Recurring::Idle { after } => write!(
                f,
                "idle sleep: asleep after {} without a connection (checked every {} minutes)",
                crate::config::duration_text(*after),
                IDLE_EVERY / 60
            ),
        }
    }
}

impl std::fmt::Display for RecurringKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecurringKind::Hours => "working hours",
            RecurringKind::Idle => "idle sleep",
        })
    }
}

/// A Scheduler cron expression as given (`0 19 ? * MON-FRI *` or `cron(…)`), checked for the
/// six fields AWS requires and the one of day-of-month and day-of-week that must be `?`.
pub fn cron(text: &str, flag: &str) -> Result<String> {
    let t = text.trim();
    let inner = t
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(t);
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let bad = |why: &str| {
        Error::invalid(
            format!("{flag} {text:?} is not a Scheduler cron expression: {why}"),
            "six fields: minutes hours day-of-month month day-of-week year, one of the two days \
             `?`; for example `0 19 ? * MON-FRI *` (19:00 on weekdays)",
        )
    };
    if fields.len() != 6 {
        return Err(bad(&format!("{} fields, not 6", fields.len())));
    }
    if (fields[2] == "?") == (fields[4] == "?") {
        return Err(bad(
            "exactly one of day-of-month and day-of-week must be `?`",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ",-*/?LW#".contains(c);
    if let Some(f) = fields.iter().find(|f| !f.chars().all(allowed)) {
        return Err(bad(&format!("{f:?} has a character cron does not take")));
    }
    Ok(format!("cron({})", fields.join(" ")))
}

/// An IANA time zone as the Scheduler takes it (`Europe/Berlin`, `UTC`), checked for its form.
pub fn timezone(text: &str) -> Result<String> {
    let t = text.trim();
    let ok = t == "UTC"
        || (t.contains('/')
            && t.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
            }));
    if !ok {
        return Err(Error::invalid(
            format!("--timezone {text:?} is not an IANA time zone"),
            "give one like Europe/Berlin, America/New_York or UTC",
        ));
    }
    Ok(t.to_string())
}

fn ec2(action: &str) -> String {
    format!("arn:aws:states:::aws-sdk:ec2:{action}")
}

/// Retried for what AWS answers as passing (throttling, busy endpoint): every error, a few
/// times, with backoff (the SDK integrations name EC2's errors alike, `Ec2.Ec2Exception`).
fn retry() -> Value {
    json!([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5, "MaxAttempts": 4,
        "BackoffRate": 2.0}])
}

fn machine(states: Value) -> Value {
    let start = states["start"].clone();
    let mut all = states["states"].clone();
    if let Some(m) = all.as_object_mut() {
        unique_names(m);
    }
    json!({
        "Comment": "vpnctl: see docs/ARCHITECTURE.md, working hours and idle sleep",
        "StartAt": start,
        "States": all,
    })
}

/// State names are unique in a whole state machine, the states of a Map's item processor
/// included (AWS refuses a definition otherwise): the helpers name inner states simply
/// (`One`, `Taken`), and each is renamed here `<map>/<state>`, with every reference to it in
/// its scope (`StartAt`, `Next`, `Default`, a choice's or catcher's `Next`).
fn unique_names(states: &mut serde_json::Map<String, Value>) {
    for (map, state) in states.iter_mut() {
        let Some(processor) = state.get_mut("ItemProcessor") else {
            continue;
        };
        let renamed = |n: &str| format!("{map}/{n}");
        if let Some(start) = processor["StartAt"].as_str().map(renamed) {
            processor["StartAt"] = json!(start);
        }
        let Some(inner) = processor["States"].as_object_mut() else {
            continue;
        };
        let mut out = serde_json::Map::new();
        for (name, mut s) in std::mem::take(inner) {
            for key in ["Next", "Default"] {
                if let Some(n) = s.get(key).and_then(Value::as_str).map(renamed) {
                    s[key] = json!(n);
                }
            }
            for list in ["Choices", "Catch"] {
                if let Some(items) = s.get_mut(list).and_then(Value::as_array_mut) {
                    for c in items {
                        if let Some(n) = c.get("Next").and_then(Value::as_str).map(renamed) {
                            c["Next"] = json!(n);
                        }
                    }
                }
            }
            out.insert(renamed(&name), s);
        }
        unique_names(&mut out);
        *inner = out;
    }
}

/// A Map state running `states` (starting at `start`) on each item of `items`, one at a time
/// (an endpoint takes a limited number of changes at once), then `next`.
fn each(items: &str, selector: Value, start: &str, states: Value, next: Option<&str>) -> Value {
    let mut m = json!({
        "Type": "Map",
        "ItemsPath": items,
        "ItemSelector": selector,
        "MaxConcurrency": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": start,
            "States": states},
        "ResultPath": null,
    });
    end_or_next(&mut m, next);
    m
}

fn end_or_next(state: &mut Value, next: Option<&str>) {
    match next {
        Some(n) => state["Next"] = json!(n),
        None => state["End"] = json!(true),
    }
}

/// A task that may find its work done already (an association that exists): retried for
/// what passes, then any answer is taken as done.
fn tolerant(action: &str, parameters: Value) -> Value {
    json!({
        "One": {
            "Type": "Task", "Resource": ec2(action), "Parameters": parameters,
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3, "MaxAttempts": 2,
                "BackoffRate": 2.0}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Taken", "ResultPath": "$.error"}],
            "End": true
        },
        "Taken": {"Type": "Pass", "End": true}
    })
}

/// A task for one item that is skipped when `key` (an intrinsic on the item) is among
/// `$.have` (what the endpoint holds already), else made with retries; a failure after those is
/// recorded in the item's output and the wake goes on with the rest.
fn unless_there(key: &str, action: &str, parameters: Value) -> Value {
    json!({
        "There?": {"Type": "Pass",
            "Parameters": {"yes.$": format!("States.ArrayContains($.have, {key})")},
            "ResultPath": "$.there", "Next": "Is it?"},
        "Is it?": {"Type": "Choice", "Choices": [{"Variable": "$.there.yes", "BooleanEquals": true,
            "Next": "Taken"}],
            "Default": "One"},
        "One": {
            "Type": "Task", "Resource": ec2(action), "Parameters": parameters, "Retry": retry(),
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Taken", "ResultPath": "$.error"}],
            "End": true
        },
        "Taken": {"Type": "Pass", "End": true}
    })
}

/// What the endpoint holds of `what` (`describe` answers `list` items), as keys made by
/// `key` on each item, into `$.have.<what>`; then `next`.
fn have(what: &str, describe: &str, list: &str, key: Value, next: &str) -> Vec<(String, Value)> {
    let read = format!("Read {what}");
    let keys = format!("Keys of {what}");
    vec![
        (
            read,
            json!({"Type": "Task", "Resource": ec2(describe),
                "Parameters": {"ClientVpnEndpointId.$": "$.endpoint", "MaxResults": 1000},
                "ResultSelector": {"items.$": format!("$.{list}")},
                "ResultPath": format!("$.have.{what}"), "Retry": retry(), "Next": keys.clone()}),
        ),
        (
            keys,
            json!({"Type": "Map", "ItemsPath": format!("$.have.{what}.items"),
                "ItemSelector": {"item.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Key",
                    "States": {"Key": {"Type": "Pass", "Parameters": key, "OutputPath": "$.key",
                        "End": true}}},
                "ResultPath": format!("$.have.{what}"), "Next": next}),
        ),
    ]
}

/// The codes of the endpoint's associations (`$.<at>.codes`), read into `$.<at>`.
fn association_codes(prefix: &str, at: &str, next: &str) -> Vec<(String, Value)> {
    vec![
        (
            format!("{prefix}Associations"),
            json!({
                "Type": "Task", "Resource": ec2("describeClientVpnTargetNetworks"),
                "Parameters": {"ClientVpnEndpointId.$": "$.endpoint", "MaxResults": 1000},
                "ResultSelector": {"networks.$": "$.ClientVpnTargetNetworks"},
                "ResultPath": format!("$.{at}"), "Retry": retry(),
                "Next": format!("{prefix}Codes"),
            }),
        ),
        (
            format!("{prefix}Codes"),
            json!({
                "Type": "Map", "ItemsPath": format!("$.{at}.networks"),
                "ItemSelector": {"code.$": "$$.Map.Item.Value.Status.Code"},
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Code",
                    "States": {"Code": {"Type": "Pass", "OutputPath": "$.code", "End": true}}},
                "ResultPath": format!("$.{at}.codes"),
                "Next": next,
            }),
        ),
    ]
}

/// What sleep does, as states named `<prefix>…` starting at `<prefix>FindAssociations`: when
/// something bills, the record (`$.record`, tags) written, then every live association
/// removed; nothing billing (asleep already, perhaps by `vpnctl sleep` with a newer record),
/// nothing done. `then` after, else the end.
fn sleep_states(prefix: &str, then: Option<&str>) -> Value {
    let record = format!("{prefix}Record");
    let find = format!("{prefix}Find");
    let any = format!("{prefix}Anything billing");
    let billing = format!("{prefix}Billing?");
    let remove = format!("{prefix}Disassociate");
    let done = format!("{prefix}Nothing bills");
    let mut states = serde_json::Map::new();
    for (name, state) in association_codes(&find, "seen", &any) {
        states.insert(name, state);
    }
    states.insert(
        any,
        json!({"Type": "Pass", "Parameters": {
            "associated.$": "States.ArrayContains($.seen.codes, 'associated')",
            "associating.$": "States.ArrayContains($.seen.codes, 'associating')"},
            "ResultPath": "$.bills", "Next": billing}),
    );
    states.insert(
        billing,
        json!({"Type": "Choice", "Choices": [{"Or": [
            {"Variable": "$.bills.associated", "BooleanEquals": true},
            {"Variable": "$.bills.associating", "BooleanEquals": true}], "Next": record}],
            "Default": done}),
    );
    let mut nothing = json!({"Type": "Pass"});
    end_or_next(&mut nothing, then);
    states.insert(done, nothing);
    states.insert(
        record,
        json!({
            "Type": "Task", "Resource": ec2("createTags"),
            "Parameters": {"Resources.$": "States.Array($.endpoint)", "Tags.$": "$.record"},
            "ResultPath": null, "Retry": retry(), "Next": remove,
        }),
    );
    let one = json!({
        "Billing?": {"Type": "Choice", "Choices": [{"Or": [
            {"Variable": "$.network.Status.Code", "StringEquals": "associated"},
            {"Variable": "$.network.Status.Code", "StringEquals": "associating"}], "Next": "One"}],
            "Default": "Skip"},
        "Skip": {"Type": "Pass", "End": true},
        "One": {"Type": "Task", "Resource": ec2("disassociateClientVpnTargetNetwork"),
            "Parameters": {"ClientVpnEndpointId.$": "$.endpoint",
                "AssociationId.$": "$.network.AssociationId"},
            "Retry": retry(), "End": true}
    });
    states.insert(
        remove,
        each(
            "$.seen.networks",
            json!({"endpoint.$": "$.endpoint", "network.$": "$$.Map.Item.Value"}),
            "Billing?",
            one,
            then,
        ),
    );
    json!({"start": format!("{find}Associations"), "states": states})
}

fn wake_definition() -> Value {
    let mut states = serde_json::Map::new();
    states.insert(
        "Associate".into(),
        each(
            "$.subnets",
            json!({"endpoint.$": "$.endpoint", "subnet.$": "$$.Map.Item.Value"}),
            "One",
            tolerant(
                "associateClientVpnTargetNetwork",
                json!({"ClientVpnEndpointId.$": "$.endpoint", "SubnetId.$": "$.subnet"}),
            ),
            Some("CheckAssociations"),
        ),
    );
    for (name, state) in association_codes("Check", "check", "Count") {
        states.insert(name, state);
    }
    states.insert(
        "Count".into(),
        json!({"Type": "Pass", "Parameters": {
            "n.$": "States.MathAdd($.tries.n, 1)",
            "waiting.$": "States.ArrayContains($.check.codes, 'associating')"},
            "ResultPath": "$.tries", "Next": "Associated?"}),
    );
    states.insert(
        "Associated?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.tries.waiting", "BooleanEquals": true,
            "Next": "Too long?"}],
            "Default": "Up"}),
    );
    // Every recorded subnet associated, or the wake stops here, the record kept (a subnet
    // that failed to associate, or a sleep in between: `vpnctl wake` restores the rest).
    states.insert(
        "Up".into(),
        json!({"Type": "Map", "ItemsPath": "$.check.networks",
            "ItemSelector": {"code.$": "$$.Map.Item.Value.Status.Code",
                "subnet.$": "$$.Map.Item.Value.TargetNetworkId"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Associated?",
                "States": {
                    "Associated?": {"Type": "Choice", "Choices": [{"Variable": "$.code",
                        "StringEquals": "associated", "Next": "Yes"}],
                        "Default": "No"},
                    "Yes": {"Type": "Pass", "OutputPath": "$.subnet", "End": true},
                    "No": {"Type": "Pass", "Result": "-", "End": true}}},
            "ResultPath": "$.check.up", "Next": "Wanted"}),
    );
    states.insert(
        "Wanted".into(),
        json!({"Type": "Map", "ItemsPath": "$.subnets",
            "ItemSelector": {"subnet.$": "$$.Map.Item.Value", "up.$": "$.check.up"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Is it up?",
                "States": {
                    "Is it up?": {"Type": "Pass",
                        "Parameters": {"yes.$": "States.ArrayContains($.up, $.subnet)"},
                        "Next": "Up?"},
                    "Up?": {"Type": "Choice", "Choices": [{"Variable": "$.yes",
                        "BooleanEquals": true, "Next": "Up"}],
                        "Default": "Missing"},
                    "Up": {"Type": "Pass", "Result": "up", "End": true},
                    "Missing": {"Type": "Pass", "Result": "missing", "End": true}}},
            "ResultPath": "$.check.wanted", "Next": "All up"}),
    );
    states.insert(
        "All up".into(),
        json!({"Type": "Pass",
            "Parameters": {"missing.$": "States.ArrayContains($.check.wanted, 'missing')"},
            "ResultPath": "$.all", "Next": "All up?"}),
    );
    states.insert(
        "All up?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.all.missing", "BooleanEquals": true,
            "Next": "Incomplete"}],
            "Default": "Read rules"}),
    );
    states.insert(
        "Incomplete".into(),
        json!({"Type": "Fail", "Error": "vpnctl.WakeIncomplete",
            "Cause": "a recorded subnet is not associated: the record stays for `vpnctl wake`"}),
    );
    states.insert(
        "Too long?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.tries.n",
            "NumericGreaterThanEquals": WAKE_POLLS, "Next": "Gave up"}],
            "Default": "Wait"}),
    );
    states.insert(
        "Gave up".into(),
        json!({"Type": "Fail", "Error": "vpnctl.AssociationTimeout",
            "Cause": format!("associations still associating after {} minutes",
                WAKE_POLLS * WAKE_POLL_SECS / 60)}),
    );
    states.insert(
        "Wait".into(),
        json!({"Type": "Wait", "Seconds": WAKE_POLL_SECS, "Next": "CheckAssociations"}),
    );
    for (name, state) in have(
        "rules",
        "describeClientVpnAuthorizationRules",
        "AuthorizationRules",
        json!({"key.$": "$.item.DestinationCidr"}),
        "Rules",
    ) {
        states.insert(name, state);
    }
    states.insert(
        "Rules".into(),
        each(
            "$.rules",
            json!({"endpoint.$": "$.endpoint", "rule.$": "$$.Map.Item.Value",
                "have.$": "$.have.rules"}),
            "There?",
            unless_there(
                "$.rule",
                "authorizeClientVpnIngress",
                json!({"ClientVpnEndpointId.$": "$.endpoint", "TargetNetworkCidr.$": "$.rule",
                    "AuthorizeAllGroups": true}),
            ),
            Some("Read routes"),
        ),
    );
    for (name, state) in have(
        "routes",
        "describeClientVpnRoutes",
        "Routes",
        json!({"key.$": "States.Format('{}>{}', $.item.DestinationCidr, $.item.TargetSubnet)"}),
        "Routes",
    ) {
        states.insert(name, state);
    }
    states.insert(
        "Routes".into(),
        each(
            "$.routes",
            json!({"endpoint.$": "$.endpoint", "route.$": "$$.Map.Item.Value",
                "have.$": "$.have.routes"}),
            "There?",
            unless_there(
                "$.route.key",
                "createClientVpnRoute",
                json!({"ClientVpnEndpointId.$": "$.endpoint",
                    "DestinationCidrBlock.$": "$.route.cidr",
                    "TargetVpcSubnetId.$": "$.route.subnet",
                        "Description.$": "$.route.description"}),
            ),
            Some("Clear"),
        ),
    );
    states.insert(
        "Clear".into(),
        json!({"Type": "Task", "Resource": ec2("createTags"),
            "Parameters": {"Resources.$": "States.Array($.endpoint)", "Tags.$": "$.clear"},
            "ResultPath": null, "Retry": retry(), "End": true}),
    );
    machine(json!({"start": "Associate", "states": states}))
}

fn set_checks(value_path: Option<&str>, next: Option<&str>) -> Value {
    let tag = match value_path {
        Some(p) => json!([{"Key": TAG_IDLE_CHECKS, "Value.$": p}]),
        None => json!([{"Key": TAG_IDLE_CHECKS, "Value": "0"}]),
    };
    let mut s = json!({"Type": "Task", "Resource": ec2("createTags"),
        "Parameters": {"Resources.$": "States.Array($.endpoint)", "Tags": tag},
        "ResultPath": null, "Retry": retry()});
    end_or_next(&mut s, next);
    s
}

fn idle_definition() -> Value {
    let mut states = serde_json::Map::new();
    states.insert(
        "Connections".into(),
        json!({"Type": "Task", "Resource": ec2("describeClientVpnConnections"),
            "Parameters": {"ClientVpnEndpointId.$": "$.endpoint", "MaxResults": 1000},
            "ResultSelector": {"all.$": "$.Connections"},
            "ResultPath": "$.conns", "Retry": retry(), "Next": "ConnectionCodes"}),
    );
    states.insert(
        "ConnectionCodes".into(),
        json!({"Type": "Map", "ItemsPath": "$.conns.all",
            "ItemSelector": {"code.$": "$$.Map.Item.Value.Status.Code"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Code",
                "States": {"Code": {"Type": "Pass", "OutputPath": "$.code", "End": true}}},
            "ResultPath": "$.conns.codes", "Next": "Connected?"}),
    );
    states.insert(
        "Connected?".into(),
        json!({"Type": "Pass",
            "Parameters": {"active.$": "States.ArrayContains($.conns.codes, 'active')"},
            "ResultPath": "$.now", "Next": "Someone?"}),
    );
    states.insert(
        "Someone?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.now.active", "BooleanEquals": true,
            "Next": "Reset"}],
            "Default": "AwakeAssociations"}),
    );
    states.insert("Reset".into(), set_checks(None, None));
    for (name, state) in association_codes("Awake", "awake", "Associated?") {
        states.insert(name, state);
    }
    states.insert(
        "Associated?".into(),
        json!({"Type": "Pass", "Parameters": {
            "yes.$": "States.ArrayContains($.awake.codes, 'associated')",
            "waking.$": "States.ArrayContains($.awake.codes, 'associating')"},
            "ResultPath": "$.associated", "Next": "Awake?"}),
    );
    // Asleep (nothing bills), or waking (a wake is under way, which idle sleep must not cut
    // short): the count starts again.
    states.insert(
        "Awake?".into(),
        json!({"Type": "Choice", "Choices": [{"Or": [
            {"Variable": "$.associated.yes", "BooleanEquals": false},
            {"Variable": "$.associated.waking", "BooleanEquals": true}], "Next": "Reset"}],
            "Default": "Count"}),
    );
    states.insert(
        "Count".into(),
        json!({"Type": "Task", "Resource": ec2("describeTags"),
            "Parameters": {"Filters": [
                {"Name": "resource-id", "Values.$": "States.Array($.endpoint)"},
                {"Name": "key", "Values": [TAG_IDLE_CHECKS]}]},
            "ResultSelector": {"tags.$": "$.Tags"},
            "ResultPath": "$.count", "Retry": retry(), "Next": "Values"}),
    );
    // The tag's value, through a Map rather than `$.Tags[0]` (a definite path that JSONPath
    // implementations disagree on): vpnctl writes "0" when it arms idle sleep, so there is one.
    states.insert(
        "Values".into(),
        json!({"Type": "Map", "ItemsPath": "$.count.tags",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Value",
                "States": {"Value": {"Type": "Pass", "OutputPath": "$.Value", "End": true}}},
            "ResultPath": "$.count.values", "Next": "Any?"}),
    );
    states.insert(
        "Any?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.count.values[0]", "IsPresent": true,
            "Next": "Read"}],
            "Default": "First"}),
    );
    states.insert(
        "Read".into(),
        json!({"Type": "Pass",
            "Parameters": {"n.$": "States.StringToJson(States.ArrayGetItem($.count.values, 0))"},
            "ResultPath": "$.count", "Next": "Add"}),
    );
    states.insert(
        "First".into(),
        json!({"Type": "Pass", "Result": {"n": 0}, "ResultPath": "$.count", "Next": "Add"}),
    );
    states.insert(
        "Add".into(),
        json!({"Type": "Pass", "Parameters": {
            "n.$": "States.MathAdd($.count.n, 1)",
            "text.$": "States.Format('{}', States.MathAdd($.count.n, 1))"},
            "ResultPath": "$.count", "Next": "Idle long enough?"}),
    );
    states.insert(
        "Idle long enough?".into(),
        json!({"Type": "Choice", "Choices": [{"Variable": "$.count.n",
            "NumericGreaterThanEqualsPath": "$.checks", "Next": "Done counting"}],
            "Default": "Save"}),
    );
    states.insert("Save".into(), set_checks(Some("$.count.text"), None));
    states.insert(
        "Done counting".into(),
        set_checks(None, Some("Sleep FindAssociations")),
    );
    let sleep = sleep_states("Sleep ", None);
    if let Some(s) = sleep["states"].as_object() {
        for (k, v) in s {
            states.insert(k.clone(), v.clone());
        }
    }
    machine(json!({"start": "Connections", "states": states}))
}

/// The input a state machine's schedule gives it, and the schedule: a universal target
/// `sfn:startExecution` (its `input` the execution's input, as a JSON string).
fn start(
    name: &str,
    expression: String,
    timezone: Option<&str>,
    machine_arn: &str,
    input: Value,
    role: &str,
) -> Schedule {
    Schedule {
        name: name.to_string(),
        expression,
        timezone: timezone.filter(|z| *z != "UTC").map(str::to_string),
        action: "sfn:startExecution".into(),
        input: json!({"stateMachineArn": machine_arn, "input": input.to_string()}).to_string(),
        role_arn: role.to_string(),
        enabled: true,
        delete_after: false,
        // A missed run is not made up hours later: the next occurrence comes anyway.
        retries: 10,
        max_age_secs: 3600,
    }
}

/// What the state machines record and restore, from the endpoint: its live state when
/// something is associated, else the record an earlier sleep left. `None`: nothing to go by.
pub struct Restore {
    pub subnets: Vec<String>,
    pub rules: Vec<String>,
    /// (CIDR, subnet, description).
    pub routes: Vec<(String, String, String)>,
    /// The sleep record's tags, as `vpnctl sleep` writes them.
    pub record: Tags,
    /// The tags that clear it again.
    pub clear: Tags,
}

fn tag_list(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

/// The schedules of `r` for endpoint `e` (seen as `v`), run as `role`, starting the machines
/// at `arns`. Refused when there is nothing to record or restore.
pub fn recurring_schedules(
    deployment: &str,
    r: &Recurring,
    e: &Endpoint,
    v: &EndpointView,
    role: &str,
    arn: impl Fn(Machine) -> String,
) -> Result<Vec<Schedule>> {
    let Some(rs) = restore_of(e, v)? else {
        return Err(Error::not_found(
            format!(
                "the endpoint {} has no association and no sleep record: nothing to restore",
                e.id
            ),
            format!("run `vpnctl --name {deployment} setup` first"),
        ));
    };
    let mut record = rs.record.clone();
    let by = match r {
        Recurring::Hours { .. } => "working hours".to_string(),
        Recurring::Idle { after } => {
            format!("idle sleep after {}", crate::config::duration_text(*after))
        }
    };
    record.insert(TAG_SLEPT_BY.to_string(), by);
    let sleep_input = json!({"endpoint": e.id, "record": tag_list(&record)});
    Ok(match r {
        Recurring::Hours {
            sleep,
            wake,
            timezone,
        } => {
            let mut clear = rs.clear.clone();
            clear.insert(TAG_SLEPT_BY.to_string(), String::new());
            let wake_input = json!({
                "endpoint": e.id,
                "subnets": rs.subnets,
                "rules": rs.rules,
                "routes": rs.routes.iter().map(|(c, s, d)| json!({"cidr": c, "subnet": s,
                    "description": d, "key": format!("{c}>{s}")})).collect::<Vec<_>>(),
                "clear": tag_list(&clear),
                "tries": {"n": 0},
            });
            // The wake first: a run cut short between the two leaves a wake without a sleep,
            // never a sleep nothing wakes from.
            vec![
                start(
                    HOURS_WAKE,
                    wake.clone(),
                    Some(timezone),
                    &arn(Machine::Wake),
                    wake_input,
                    role,
                ),
                start(
                    HOURS_SLEEP,
                    sleep.clone(),
                    Some(timezone),
                    &arn(Machine::Sleep),
                    sleep_input,
                    role,
                ),
            ]
        }
        Recurring::Idle { after } => {
            let mut input = sleep_input;
            input["checks"] = json!(Recurring::checks(*after));
            input["after"] = json!(after);
            vec![start(
                IDLE_CHECK,
                format!("rate({} minutes)", IDLE_EVERY / 60),
                None,
                &arn(Machine::Idle),
                input,
                role,
            )]
        }
    })
}

/// The recurring schedules armed among `schedules`, as their parameters.
pub fn recurring_of(schedules: &[Schedule]) -> Vec<Recurring> {
    let by = |n: &str| schedules.iter().find(|s| s.name == n);
    let mut out = Vec::new();
    if let (Some(s), Some(w)) = (by(HOURS_SLEEP), by(HOURS_WAKE)) {
        out.push(Recurring::Hours {
            sleep: s.expression.clone(),
            wake: w.expression.clone(),
            timezone: s.timezone.clone().unwrap_or_else(|| "UTC".into()),
        });
    }
    if let Some(i) = by(IDLE_CHECK) {
        let after = serde_json::from_str::<Value>(&i.input)
            .ok()
            .and_then(|v| v["input"].as_str().map(str::to_string))
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["after"].as_i64())
            .unwrap_or(IDLE_EVERY);
        out.push(Recurring::Idle { after });
    }
    out
}

/// Whether `s` is one of the recurring schedules of `kind`.
pub fn is_recurring(s: &Schedule, kind: RecurringKind) -> bool {
    match kind {
        RecurringKind::Hours => s.name == HOURS_SLEEP || s.name == HOURS_WAKE,
        RecurringKind::Idle => s.name == IDLE_CHECK,
    }
}

/// The steps that arm `r`: the role, the group, the state machines, then its schedules
/// (after the other lanes, from what they left).
pub fn plan_recurring(r: Recurring) -> Vec<Step> {
    vec![
        Step::new(Action::PutSchedulerRole),
        Step::new(Action::CreateScheduleGroup),
        Step::new(Action::PutStateMachines),
        Step::new(Action::ArmRecurring { recurring: r }),
    ]
}

/// The steps that remove `kind`'s schedules, when it has any.
pub fn plan_recurring_off(seen: &Observed, kind: RecurringKind) -> Vec<Step> {
    if seen.schedules.iter().any(|s| is_recurring(s, kind)) {
        vec![Step::new(Action::DisarmRecurring { kind })]
    } else {
        Vec::new()
    }
}

/// The recurring schedules armed again for a plan whose other steps (`others`) change what
/// they record and restore (setup's subnets, rules, routes; wake's associations): their input
/// is computed anew, their times kept.
pub fn plan_recurring_keep(
    seen: &Observed,
    others: &[Step],
    wanted: &[RecurringKind],
) -> Vec<Step> {
    if !super::changes_endpoint(others) {
        return Vec::new();
    }
    recurring_of(&seen.schedules)
        .into_iter()
        .filter(|r| !wanted.contains(&r.kind()))
        .flat_map(plan_recurring)
        .collect()
}
