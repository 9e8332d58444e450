//! `vpnctl iam-policy` against what each command actually calls: the emulator counts every
//! call by IAM action name (`GET /_emulator/actions`), and the policy printed for a command
//! must allow each of them; the whole policy must allow nothing that no run was seen to need
//! (apart from the permissions AWS checks without a call of their own, and paths other tests
//! take). That a command gets no more than its own share rests on the table's blocks.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::Env;
use std::collections::{BTreeMap, BTreeSet};

type Seen = BTreeMap<String, BTreeSet<String>>;

/// Run `args` as command `key` and add the IAM actions it called to `seen`.
fn record(emu: &Emulator, env: &Env, seen: &mut Seen, key: &str, args: &[&str]) -> String {
    emu.reset_calls();
    let out = env.ok(args);
    seen.entry(key.to_string())
        .or_default()
        .extend(emu.actions().into_keys());
    out
}

/// Every action the policy printed by `vpnctl iam-policy WORDS…` allows.
fn allowed(env: &Env, words: &[&str]) -> BTreeSet<String> {
    let out = env.ok(&[&["iam-policy"][..], words].concat());
    let doc: serde_json::Value = serde_json::from_str(&out).expect("policy JSON");
    assert_eq!(doc["Version"], "2012-10-17", "{out}");
    let mut all = BTreeSet::new();
    for st in doc["Statement"].as_array().expect("statements") {
        assert_eq!(st["Effect"], "Allow", "{out}");
        for a in st["Action"].as_array().expect("actions") {
            all.insert(a.as_str().expect("action").to_string());
        }
    }
    all
}

#[test]
fn every_command_s_policy_allows_exactly_what_its_runs_call() {
    let emu = Emulator::start(0.0);
    emu.config(r#"{"scheduler_realtime": false}"#);
    emu.lab();
    let env = emu.env();
    let lab = |rest: &[&'static str]| [&["--name", "lab"][..], rest].concat();
    env.ok(&lab(&["pki", "init"]));
    env.ok(&lab(&["pki", "issue", "alice", "bob", "carol"]));
    let mut seen = Seen::new();
    let s = &mut seen;
    let first = [
        "--ttl",
        "8h",
        "--idle-sleep",
        "1h",
        "--route",
        "192.168.0.0/16",
    ];
    record(&emu, &env, s, "setup", &lab_setup(&first));
    // Converging: options modified, the route and its rule removed, the idle machine deleted.
    let second = [
        "--dns-server",
        "10.0.0.53",
        "--security-group",
        "default",
        "--ttl",
        "4h",
    ];
    record(
        &emu,
        &env,
        s,
        "setup",
        &lab_setup(&[&second[..], &["--idle-sleep", "none"]].concat()),
    );
    record(&emu, &env, s, "status", &lab(&["status"]));
    record(&emu, &env, s, "doctor", &lab(&["doctor"]));
    record(&emu, &env, s, "list", &lab(&["list"]));
    let endpoint = emu.inventory("lab")["endpoints"][0]["id"]
        .as_str()
        .expect("endpoint id")
        .to_string();
    emu.add_connection(&endpoint, "alice");
    record(&emu, &env, s, "connections", &lab(&["connections"]));
    record(&emu, &env, s, "kick", &lab(&["kick", "alice"]));
    record(&emu, &env, s, "extend", &lab(&["extend", "2h"]));
    let hours = [
        "schedule",
        "--sleep",
        "0 19 ? * MON-FRI *",
        "--wake",
        "0 7 ? * MON-FRI *",
    ];
    record(&emu, &env, s, "schedule", &lab(&hours));
    record(&emu, &env, s, "schedule", &lab(&["schedule", "--off"]));
    record(
        &emu,
        &env,
        s,
        "nat on",
        &lab(&["nat", "on", "--subnet", "lab-private-subnet"]),
    );
    record(&emu, &env, s, "nat off", &lab(&["nat", "off"]));
    let foreign = [
        "nat",
        "on",
        "--subnet",
        "foreign-private",
        "--force",
        "--ttl",
        "none",
    ];
    record(
        &emu,
        &env,
        s,
        "nat on",
        &[&["--name", "f"][..], &foreign[..]].concat(),
    );
    record(&emu, &env, s, "nat off", &["--name", "f", "nat", "off"]);
    emu.add_connection(&endpoint, "bob");
    record(&emu, &env, s, "pki revoke", &lab(&["pki", "revoke", "bob"]));
    record(&emu, &env, s, "pki merge-crl", &lab(&["pki", "merge-crl"]));
    record(&emu, &env, s, "sleep", &lab(&["sleep", "--yes"]));
    record(&emu, &env, s, "wake", &lab(&["wake"]));
    env.ok(&lab(&["nat", "on", "--subnet", "lab-private-subnet"]));
    record(&emu, &env, s, "teardown", &lab(&["teardown", "--yes"]));
    // An endpoint made by hand from this PKI (its layout is easy-rsa's), adopted.
    let pki = env.pki();
    let args = [
        "--pki",
        pki.to_str().unwrap(),
        "--server",
        "server",
        "--client",
        "alice",
    ];
    let made = emu.python("by_hand.py", &args);
    let id = made["endpoint"].as_str().expect("endpoint id");
    record(
        &emu,
        &env,
        s,
        "adopt",
        &["--name", "lab", "adopt", "--endpoint", id],
    );

    // Each command's policy allows every call its runs made.
    let mut wrong = Vec::new();
    for (key, called) in &seen {
        let words: Vec<&str> = key.split(' ').collect();
        let policy = allowed(&env, &words);
        // doctor's DryRuns ask whether the identity may make those changes: a refusal is an
        // answer it reports, not a permission it needs.
        let asked = |a: &&String| key == "doctor" && DOCTOR_DRY_RUNS.contains(&a.as_str());
        for a in called.difference(&policy).filter(|a| !asked(a)) {
            wrong.push(format!("{key}: calls {a}, which its policy does not allow"));
        }
    }
    // And the whole policy allows nothing no run here needed, but for what AWS checks without
    // a call and the paths other tests take.
    let every_call: BTreeSet<&String> = seen.values().flatten().collect();
    for a in allowed(&env, &[]) {
        let accounted = every_call.contains(&a)
            || IMPLIED.contains(&a.as_str())
            || NOT_SEEN_HERE.iter().any(|(x, _)| *x == a);
        if !accounted {
            wrong.push(format!("the policy allows {a}, which no run here called"));
        }
    }
    assert!(wrong.is_empty(), "{}\nseen: {seen:#?}", wrong.join("\n"));
}

/// Permissions AWS checks for a call's side effect, never called themselves: handing a role to
/// a service, and tags given at creation (each service checks its tagging permission).
const IMPLIED: &[&str] = &[
    "iam:PassRole",
    "iam:CreateServiceLinkedRole",
    "iam:TagRole",
    "ec2:CreateTags",
    "acm:AddTagsToCertificate",
    "scheduler:TagResource",
    "states:TagResource",
];

/// Actions the policy allows for a path this test does not take: (action, the path).
const NOT_SEEN_HERE: &[(&str, &str)] = &[
    (
        "iam:DetachRolePolicy",
        "teardown of a role someone attached a managed policy to by hand",
    ),
    (
        "iam:GetSAMLProvider",
        "setup --saml-provider (tests/it/options.rs)",
    ),
];

/// The changes `doctor` asks EC2 about with DryRun (src/aws/sdk/doctor.rs): refused ones are
/// what it reports, not permissions it needs.
const DOCTOR_DRY_RUNS: &[&str] = &[
    "ec2:CreateClientVpnEndpoint",
    "ec2:ModifyClientVpnEndpoint",
    "ec2:AuthorizeClientVpnIngress",
    "ec2:TerminateClientVpnConnections",
    "ec2:ImportClientVpnClientCertificateRevocationList",
    "ec2:AssociateClientVpnTargetNetwork",
    "ec2:DisassociateClientVpnTargetNetwork",
];
