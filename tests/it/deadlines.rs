//! Server-side deadlines against the emulator: `setup --ttl` and `nat on` arm EventBridge
//! Scheduler schedules; the emulator's scheduler is run past the deadline (its real-time runner
//! off, so the test says when time passes) and nothing may bill afterwards, with no vpnctl
//! process involved. Observed with boto3 (`inventory.py`).

use crate::emulator::{Emulator, lab_setup};
use serde_json::Value;
use std::time::{Duration, Instant};

/// RFC 3339 for `secs` from now.
fn from_now(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// Poll the inventory until `done` holds (AWS's transitions take the emulator's delays).
fn until(emu: &Emulator, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let inv = emu.inventory("lab");
        if done(&inv) {
            return inv;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never happened: {inv}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn names(inv: &Value) -> Vec<String> {
    let mut n: Vec<String> = inv["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// Run, expect success, and give stdout and stderr together (the deadline lines are notes on
/// stderr).
fn both(env: &crate::harness::Env, args: &[&str]) -> String {
    let r = env.run(args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    format!("{}{}", r.stdout, r.stderr)
}

fn status_json(env: &crate::harness::Env) -> Value {
    serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap()
}

#[test]
fn a_deadline_puts_the_endpoint_to_sleep_server_side_and_wake_restores_it() {
    let emu = Emulator::start(0.2);
    emu.lab();
    emu.config(r#"{"scheduler_realtime": false}"#);
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);

    // The plan shows the deadline; a dry run makes nothing.
    let dry = both(
        &env,
        &lab_setup(&["--ttl", "2h", "--route", "10.50.0.0/16", "--dry-run"]),
    );
    assert!(
        dry.contains("create or update the IAM role")
            && dry.contains("arm the endpoint deadline for"),
        "{dry}"
    );
    assert!(emu.inventory("lab")["roles"].as_array().unwrap().is_empty());

    let out = both(
        &env,
        &lab_setup(&["--ttl", "2h", "--route", "10.50.0.0/16"]),
    );
    assert!(
        out.contains("deadline") && out.contains("the endpoint sleeps"),
        "{out}"
    );
    let inv = emu.inventory("lab");
    let endpoint = inv["endpoints"][0].clone();
    let dns = endpoint["dns_name"].clone();
    let subnet = endpoint["associations"][0]["subnet"]
        .as_str()
        .unwrap()
        .to_string();
    let routes_before = endpoint["routes"].as_array().unwrap().len();
    // One disassociation per association and the sleep record, run as the deployment's role,
    // which only EventBridge Scheduler may assume.
    let n = names(&inv);
    assert!(n.contains(&"sleep-record".to_string()), "{n:?}");
    assert_eq!(
        n.iter()
            .filter(|s| s.starts_with("sleep-cvpn-assoc-"))
            .count(),
        1,
        "{n:?}"
    );
    let roles = inv["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{inv}");
    let trust = roles[0]["trust"].to_string();
    assert!(trust.contains("scheduler.amazonaws.com"), "{trust}");
    for s in inv["schedules"].as_array().unwrap() {
        assert_eq!(s["role"], roles[0]["arn"], "{s}");
        assert_eq!(s["after"], "DELETE", "{s}");
        assert!(s["retry"]["MaximumRetryAttempts"].as_u64() > Some(0), "{s}");
    }
    assert_eq!(endpoint["tags"]["vpnctl:ttl"], "2h", "{endpoint}");

    // Setup again, converged: the deadline is left as it is (nothing re-armed).
    let again = both(&env, &lab_setup(&["--route", "10.50.0.0/16", "--dry-run"]));
    assert!(!again.contains("deadline"), "{again}");

    // Status shows the deadline; extend moves it by exactly what was asked.
    let text = env.ok(&["--name", "lab", "status"]);
    assert!(
        text.contains("deadline") && (text.contains("(in 2h00m)") || text.contains("(in 1h59m)")),
        "{text}"
    );
    let at = |s: &Value| unix(s["deadlines"][0]["at"].as_str().unwrap());
    let before = at(&status_json(&env));
    let ext = both(&env, &["--name", "lab", "extend", "30m"]);
    assert!(ext.contains("endpoint deadline moved to"), "{ext}");
    let after = at(&status_json(&env));
    assert_eq!(after - before, 1800);

    // Past the deadline, with no vpnctl running: the scheduler alone stops the billing.
    let made = emu.scheduler_run(&from_now(3 * 3600));
    let actions: Vec<&str> = made
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"DisassociateClientVpnTargetNetwork") && actions.contains(&"CreateTags"),
        "{made}"
    );
    assert!(
        made.as_array().unwrap().iter().all(|i| i["ok"] == true),
        "{made}"
    );
    let inv = until(&emu, "the disassociation", |inv| {
        inv["endpoints"][0]["associations"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    let e = &inv["endpoints"][0];
    assert_eq!(e["dns_name"], dns, "the endpoint and its DNS name remain");
    assert!(
        e["tags"]["vpnctl:slept-by"]
            .as_str()
            .is_some_and(|t| t.starts_with("deadline ")),
        "{e}"
    );
    assert!(
        names(&inv).is_empty(),
        "the schedules deleted themselves: {inv}"
    );
    let st = status_json(&env);
    assert_eq!(st["billing"]["per_hour"].as_f64(), Some(0.0), "{st}");
    // The mark names the deadline as extended, not as first armed.
    let moved_to = time::OffsetDateTime::from_unix_timestamp(after)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(st["slept_by"], format!("deadline {moved_to}"), "{st}");
    let text = env.ok(&["--name", "lab", "status"]);
    assert!(text.contains("put to sleep by its deadline"), "{text}");

    // Wake brings back exactly what the deadline removed, and arms the deadline again.
    let woke = both(&env, &["--name", "lab", "wake"]);
    assert!(woke.contains("deadline"), "{woke}");
    let inv = emu.inventory("lab");
    let e = &inv["endpoints"][0];
    assert_eq!(e["associations"][0]["subnet"], subnet.as_str(), "{e}");
    assert_eq!(e["associations"][0]["state"], "associated", "{e}");
    assert_eq!(e["routes"].as_array().unwrap().len(), routes_before, "{e}");
    assert_eq!(e["tags"]["vpnctl:slept-by"], "", "{e}");
    assert!(names(&inv).contains(&"sleep-record".to_string()), "{inv}");

    // A manual sleep removes the deadline (nothing left to stop); teardown leaves nothing.
    env.ok(&["--name", "lab", "--yes", "sleep"]);
    assert!(names(&emu.inventory("lab")).is_empty());
    let plan = env.ok(&["--name", "lab", "teardown", "--dry-run"]);
    assert!(
        plan.contains("schedule group") && plan.contains("delete the IAM role"),
        "{plan}"
    );
    env.ok(&["--name", "lab", "--yes", "teardown"]);
    let inv = emu.inventory("lab");
    for k in ["schedule_groups", "schedules", "roles", "endpoints"] {
        assert!(inv[k].as_array().unwrap().is_empty(), "{k}: {inv}");
    }
}

#[test]
fn the_nat_gateway_has_a_deadline_by_default_that_removes_it_its_address_and_route() {
    let emu = Emulator::start(0.2);
    let lab = emu.lab();
    emu.config(r#"{"scheduler_realtime": false}"#);
    let env = emu.env();
    let out = both(&env, &lab_setup(&[]));
    assert!(
        out.contains("no deadline") && out.contains("--ttl"),
        "{out}"
    );
    let nothing = env.fails(&["--name", "lab", "extend", "1h"]);
    assert_eq!(nothing.code, 4, "{}", nothing.stderr);
    assert!(
        nothing.stderr.contains("no pending deadline"),
        "{}",
        nothing.stderr
    );

    let on = both(
        &env,
        &[
            "--name",
            "lab",
            "nat",
            "on",
            "--subnet",
            "lab-private-subnet",
        ],
    );
    assert!(on.contains("deadline") && on.contains("(in 4h"), "{on}");
    let inv = emu.inventory("lab");
    let n = names(&inv);
    assert_eq!(n, ["nat-delete", "nat-release", "nat-route"], "{inv}");
    let st = status_json(&env);
    let d = st["deadlines"].as_array().unwrap();
    assert_eq!(d.len(), 1, "{st}");
    assert_eq!(d[0]["deadline"], "nat", "{st}");

    // The release is refused while the deleting NAT gateway holds the address: the
    // Scheduler's retries carry it, run after run, until it goes through.
    let start = Instant::now();
    loop {
        emu.scheduler_run(&from_now(5 * 3600));
        let inv = emu.inventory("lab");
        if inv["addresses"].as_array().unwrap().is_empty()
            && inv["nat_gateways"].as_array().unwrap().is_empty()
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{inv}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let inv = emu.inventory("lab");
    let private = lab["private"].as_str().unwrap();
    let table = inv["route_tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["subnets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == private)
        })
        .or_else(|| {
            inv["route_tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["main"] == true && t["vpc"] == lab["vpc"])
        })
        .unwrap()
        .clone();
    assert!(
        table["default"].is_null(),
        "the route nat on added is gone: {table}"
    );
    let st = status_json(&env);
    assert!(st["deadlines"].as_array().unwrap().is_empty(), "{st}");

    // `--ttl none` opts out, and says so.
    let r = env.run(&[
        "--name",
        "lab",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
        "--ttl",
        "none",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no deadline"), "{}", r.stderr);
    assert!(names(&emu.inventory("lab")).is_empty());

    // Credentials that cannot read the deadlines (no Scheduler permission): a command that
    // would arm one is refused before it changes anything; one that would only have removed
    // one goes on and says that a deadline set earlier stays.
    emu.fault("ListSchedules", "AccessDeniedException", 20);
    let r = env.run(&lab_setup(&["--ttl", "1h"]));
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("deadlines cannot be read") && r.stderr.contains("AccessDenied"),
        "{}",
        r.stderr
    );
    emu.clear_faults();
    assert!(names(&emu.inventory("lab")).is_empty(), "nothing was armed");
    emu.fault("ListSchedules", "AccessDeniedException", 20);
    let r = env.run(&["--name", "lab", "--yes", "nat", "off"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("deadlines cannot be read") && r.stderr.contains("stays on AWS"),
        "{}",
        r.stderr
    );
    emu.clear_faults();
    assert!(
        emu.inventory("lab")["nat_gateways"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    env.ok(&["--name", "lab", "--yes", "teardown"]);
    let inv = emu.inventory("lab");
    for k in [
        "schedule_groups",
        "schedules",
        "roles",
        "nat_gateways",
        "addresses",
    ] {
        assert!(inv[k].as_array().unwrap().is_empty(), "{k}: {inv}");
    }
}

/// The endpoint as `wake` must leave it: associated subnets, routes (CIDR, subnet), rules.
fn shape(inv: &Value) -> (Vec<String>, Vec<(String, String)>, Vec<String>) {
    let e = &inv["endpoints"][0];
    let list = |k: &str, f: &dyn Fn(&Value) -> String| {
        let mut v: Vec<String> = e[k].as_array().unwrap().iter().map(f).collect();
        v.sort();
        v
    };
    let subnets = list("associations", &|a| {
        format!(
            "{} {}",
            a["subnet"].as_str().unwrap(),
            a["state"].as_str().unwrap()
        )
    });
    let mut routes: Vec<(String, String)> = e["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["cidr"].as_str().unwrap_or_default().to_string(),
                r["subnet"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    routes.sort();
    let rules = list("rules", &|r| {
        r["cidr"].as_str().unwrap_or_default().to_string()
    });
    (subnets, routes, rules)
}

/// Run the scheduler to `until`, then wait for every execution of the deployment's state
/// machines to end (Step Functions runs them in the background).
fn run_and_settle(emu: &Emulator, to: time::OffsetDateTime) -> Value {
    let made = emu.scheduler_run(
        &to.format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
    );
    assert!(
        made.as_array().unwrap().iter().all(|i| i["ok"] == true),
        "{made}"
    );
    until(emu, "the state machines' executions", |inv| {
        inv["state_machines"].as_array().unwrap().iter().all(|m| {
            m["executions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["status"] != "RUNNING")
        })
    })
}

/// The first time after `t` at `hour`:00 UTC.
fn next_at(t: time::OffsetDateTime, hour: u8) -> time::OffsetDateTime {
    let day = t.replace_time(time::Time::from_hms(hour, 0, 0).unwrap());
    if day > t {
        day
    } else {
        day + time::Duration::days(1)
    }
}

#[test]
fn working_hours_and_idle_sleep_run_server_side_and_wake_leaves_what_wake_leaves() {
    let emu = Emulator::start(0.2);
    emu.lab();
    emu.config(r#"{"scheduler_realtime": false}"#);
    let env = emu.env();
    both(&env, &lab_setup(&["--route", "10.50.0.0/16"]));
    let awake = shape(&emu.inventory("lab"));
    assert_eq!(awake.0.len(), 1, "{awake:?}");

    // Expressions AWS would refuse are refused before anything is made.
    for (sleep, wake, tz, why) in [
        (
            "0 19 * * MON-FRI *",
            "0 7 ? * MON-FRI *",
            "UTC",
            "must be `?`",
        ),
        ("0 19 ? * MON-FRI", "0 7 ? * MON-FRI *", "UTC", "5 fields"),
        ("0 19 ? * MON-FRI *", "0 7 ? * MON-FRI *", "Berlin", "IANA"),
    ] {
        let r = env.run(&[
            "--name",
            "lab",
            "schedule",
            "--sleep",
            sleep,
            "--wake",
            wake,
            "--timezone",
            tz,
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(why), "{why}: {}", r.stderr);
    }
    assert!(
        emu.inventory("lab")["state_machines"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Working hours: asleep from 20:00, awake from 06:00 (UTC), with no vpnctl running.
    let out = both(
        &env,
        &[
            "--name",
            "lab",
            "schedule",
            "--sleep",
            "0 20 * * ? *",
            "--wake",
            "0 6 * * ? *",
        ],
    );
    assert!(out.contains("working hours"), "{out}");
    let inv = emu.inventory("lab");
    assert_eq!(inv["state_machines"].as_array().unwrap().len(), 3, "{inv}");
    assert_eq!(names(&inv), ["hours-sleep", "hours-wake"], "{inv}");
    let text = env.ok(&["--name", "lab", "status"]);
    assert!(
        text.contains("working hours: sleep cron(0 20 * * ? *)"),
        "{text}"
    );

    let t = time::OffsetDateTime::now_utc();
    let sleep_at = next_at(t, 20);
    run_and_settle(&emu, sleep_at + time::Duration::minutes(1));
    until(&emu, "the scheduled sleep's disassociation", |inv| {
        inv["endpoints"][0]["associations"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    let st = status_json(&env);
    assert_eq!(st["billing"]["per_hour"].as_f64(), Some(0.0), "{st}");
    assert_eq!(st["slept_by"], "working hours", "{st}");
    // A scheduled wake whose association AWS refuses stops, the record kept for the next one.
    emu.fault(
        "AssociateClientVpnTargetNetwork",
        "InvalidParameterValue",
        10,
    );
    let failed_wake = next_at(sleep_at, 6);
    let inv = run_and_settle(&emu, failed_wake + time::Duration::minutes(1));
    emu.clear_faults();
    let wake_runs = inv["state_machines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "vpnctl-lab-wake")
        .unwrap()["executions"]
        .clone();
    assert_eq!(wake_runs[0]["status"], "FAILED", "{inv}");
    let e = &inv["endpoints"][0];
    assert!(e["associations"].as_array().unwrap().is_empty(), "{inv}");
    assert_ne!(
        e["tags"]["vpnctl:asleep-subnets"], "",
        "the record stays: {inv}"
    );
    assert_eq!(status_json(&env)["slept_by"], "working hours");
    // The evening's sleep finds it asleep and changes nothing; the next morning's wake works:
    // associations, then the routes that need them, then the record cleared.
    let next_sleep = next_at(failed_wake, 20);
    run_and_settle(&emu, next_sleep + time::Duration::minutes(1));
    let woke_at = next_at(next_sleep, 6);
    run_and_settle(&emu, woke_at + time::Duration::minutes(1));
    let inv = until(&emu, "the scheduled wake", |inv| {
        shape(inv) == awake
            && inv["endpoints"][0]["routes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["state"] == "active")
    });
    assert_eq!(
        inv["endpoints"][0]["tags"]["vpnctl:asleep-subnets"], "",
        "{inv}"
    );
    assert_eq!(inv["endpoints"][0]["tags"]["vpnctl:slept-by"], "", "{inv}");
    // After it, vpnctl sees nothing to do.
    let again = both(&env, &lab_setup(&["--route", "10.50.0.0/16", "--dry-run"]));
    assert!(!again.contains("→"), "{again}");
    // A scheduled sleep of an endpoint asleep already (by hand) leaves the record as it is.
    env.ok(&["--name", "lab", "--yes", "sleep"]);
    let by_hand = emu.inventory("lab")["endpoints"][0]["tags"].clone();
    run_and_settle(&emu, next_at(woke_at, 20) + time::Duration::minutes(1));
    let inv = emu.inventory("lab");
    assert_eq!(inv["endpoints"][0]["tags"], by_hand, "{inv}");
    assert!(status_json(&env)["slept_by"].is_null());
    both(&env, &["--name", "lab", "wake"]);
    until(&emu, "the manual wake", |inv| shape(inv) == awake);

    // Idle sleep: with a client connected nothing happens; once nobody has been connected for
    // 30 minutes (six checks, five minutes apart) the deployment sleeps, and not before.
    env.ok(&["--name", "lab", "schedule", "--off"]);
    both(
        &env,
        &lab_setup(&["--route", "10.50.0.0/16", "--idle-sleep", "30m"]),
    );
    let inv = emu.inventory("lab");
    assert_eq!(names(&inv), ["idle-check"], "{inv}");
    let endpoint = inv["endpoints"][0]["id"].as_str().unwrap().to_string();
    emu.add_connection(&endpoint, "alice");
    let mut t = time::OffsetDateTime::now_utc();
    for _ in 0..8 {
        let inv = run_and_settle(&emu, t);
        assert_eq!(
            shape(&inv),
            awake,
            "a connected client keeps it awake: {inv}"
        );
        t += time::Duration::minutes(5);
    }
    env.ok(&["--name", "lab", "--yes", "kick", "alice"]);
    for check in 1..=6 {
        let inv = run_and_settle(&emu, t);
        t += time::Duration::minutes(5);
        if check < 6 {
            assert_eq!(shape(&inv), awake, "after {check} idle check(s): {inv}");
        }
    }
    until(&emu, "the idle sleep", |inv| {
        inv["endpoints"][0]["associations"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    let st = status_json(&env);
    assert_eq!(st["slept_by"], "idle sleep after 30m", "{st}");
    // A manual wake brings it back as before.
    both(&env, &["--name", "lab", "wake"]);
    until(&emu, "the manual wake", |inv| shape(inv) == awake);

    env.ok(&["--name", "lab", "--yes", "teardown"]);
    let inv = emu.inventory("lab");
    for k in [
        "schedule_groups",
        "schedules",
        "roles",
        "state_machines",
        "endpoints",
    ] {
        assert!(inv[k].as_array().unwrap().is_empty(), "{k}: {inv}");
    }
}
