//! What every command owes its user: a list of the deployments, the AWS calls on `-v`, every
//! missing input at once, hints that carry the flags in effect, the recorded region, security
//! groups checked before anything bills, a lagging CRL said, JSON by one convention, and
//! human lines that fit 100 columns.

use crate::emulator::{Emulator, SETUP, lab_setup};
use crate::harness::Env;

/// Lines of `text` longer than 100 columns that are not a quoted command (which may not be
/// broken, so that copying it gives one line).
fn too_wide(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.chars().count() > 100 && !l.contains("`vpnctl"))
        .collect()
}

#[test]
fn list_shows_every_deployment_here_and_on_aws_with_its_bill() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    // A second deployment known only from the config file, one only on AWS (another
    // directory set it up), and none chosen: `list` needs no deployment and two are no
    // conflict.
    std::fs::write(
        env.path().join("vpnctl.toml"),
        "[lab]\nclient_cidr = \"10.83.0.0/16\"\n[staging]\nclient_cidr = \"10.84.0.0/16\"\n",
    )
    .unwrap();
    let other = emu.env();
    other.ok(&[
        "--name",
        "elsewhere",
        "setup",
        "--vpc",
        "lab-vpc",
        "--subnet",
        "lab-public-subnet",
        "--client-cidr",
        "10.85.0.0/16",
    ]);
    other.ok(&["--name", "elsewhere", "sleep"]);

    let r = env.run(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = |name: &str| line_of(&r.stdout, name).to_string();
    let lab = line("lab");
    assert!(lab.contains("up") && lab.contains("$0.100/h"), "{lab}");
    assert!(lab.contains("state") && lab.contains("aws"), "{lab}");
    let staging = line("staging");
    assert!(
        staging.contains("absent") && staging.contains("config"),
        "{staging}"
    );
    let elsewhere = line("elsewhere");
    assert!(
        elsewhere.contains("asleep") && elsewhere.contains("$0.000/h"),
        "found by its tags alone:\n{elsewhere}"
    );
    assert!(r.stdout.contains("account 123456789012"), "{}", r.stdout);
    assert!(
        r.stdout.contains("bills now in all: $0.100/h"),
        "{}",
        r.stdout
    );
    assert!(too_wide(&r.stdout).is_empty(), "{}", r.stdout);

    let json: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).expect("json");
    assert_eq!(json["schema"], 1);
    let rows = json["deployments"].as_array().unwrap();
    let lab = rows.iter().find(|d| d["name"] == "lab").unwrap();
    assert_eq!(lab["per_hour"].as_f64(), Some(0.1), "{lab}");
    assert!(
        env.ok(&["list", "--json"]).contains("\"per_hour\": 0.1000"),
        "money with four decimals"
    );
    assert_eq!(lab["state"], "up");
    assert!(
        lab["endpoint_id"]
            .as_str()
            .unwrap()
            .starts_with("cvpn-endpoint-")
    );

    // --local: no AWS call at all (an unreachable endpoint proves it).
    let offline = |args: &[&str]| env.run_with(args, &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]);
    let r = offline(&["list", "--local"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("AWS not asked"), "{}", r.stdout);
    assert!(
        line_of(&r.stdout, "lab").contains("not asked"),
        "{}",
        r.stdout
    );
    // AWS unreachable without --local: a warning, and still the local list.
    let r = offline(&["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("AWS not asked"), "{}", r.stderr);
    assert!(
        line_of(&r.stdout, "staging").contains("config"),
        "{}",
        r.stdout
    );

    other.ok(&["--name", "elsewhere", "teardown"]);
    env.ok(&["--name", "lab", "teardown"]);
}

fn line_of<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
}

#[test]
fn verbose_logs_every_aws_call_with_its_code_and_the_account_in_use() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let r = env.run(&["-v", "status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("using account 123456789012 in us-east-1"),
        "{}",
        r.stderr
    );
    let calls: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("aws ")).collect();
    assert!(
        calls.iter().any(
            |l| l.starts_with("aws EC2 DescribeClientVpnEndpoints: HTTP 200 in ")
                && l.contains(" ms")
        ),
        "{calls:#?}"
    );
    assert!(
        calls.iter().any(|l| l.starts_with("aws ACM ")),
        "{calls:#?}"
    );
    // Without -v: no call log.
    let r = env.run(&["status"]);
    assert!(!r.stderr.contains("aws EC2"), "{}", r.stderr);
    // -v never makes a working command fail: STS unreachable only leaves the account unknown.
    let out = env.run_with(
        &["-v", "connections"],
        &[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")],
    );
    let err = &out.stderr;
    let plain = env.run(&["connections"]);
    assert_eq!(out.code, plain.code, "{err}\n{}", plain.stderr);
    // An error answer names its AWS code.
    let r = env.run(&[
        "-v",
        "setup",
        "--vpc",
        "lab-vpc",
        "--subnet",
        "lab-public-subnet",
        "--client-cidr",
        "10.83.0.0/16",
        "--security-group",
        "sg-0000000000000dead",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("aws EC2 DescribeSecurityGroups: HTTP 400 InvalidGroup")),
        "{}",
        r.stderr
    );
}

#[test]
fn setup_names_every_missing_input_at_once() {
    let env = Env::new();
    let r = env.fails(&["setup"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("setup needs the VPC, a subnet, the client CIDR (not given)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--vpc")
            && r.stderr.contains("--subnet")
            && r.stderr.contains("--client-cidr"),
        "{}",
        r.stderr
    );
    let r = env.fails(&["setup", "--vpc", "v", "--client-cidr", "10.83.0.0/16"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("setup needs a subnet (not given)"),
        "{}",
        r.stderr
    );
    assert!(!env.path().join("pki").exists(), "nothing written");
}

#[test]
fn security_groups_are_found_by_name_and_a_wrong_one_stops_before_anything_bills() {
    let emu = Emulator::start(0.0);
    let lab = emu.lab();
    let env = emu.env();
    let r = env.run(&lab_setup(&["--security-group", "no-such-group"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no security group 'no-such-group' in vpc-"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("group name or Name tag"), "{}", r.stderr);
    let all = emu.everything();
    assert!(
        all["certificates"].as_array().is_none_or(|c| c.is_empty())
            && all["endpoints"].as_array().is_none_or(|e| e.is_empty()),
        "nothing imported or created: {all}"
    );
    // A group by its Name tag, then the VPC's default group by its group name: each is the
    // one the endpoint gets (a setup without the flag would also show the default one, so the
    // Name tag case is the one that proves the lookup).
    let groups = |env: &Env| {
        let status: serde_json::Value =
            serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
        status["resources"]["endpoints"][0]["endpoint"]["security_groups"].clone()
    };
    env.ok(&lab_setup(&["--security-group", "lab-vpn-sg"]));
    assert_eq!(groups(&env), serde_json::json!([lab["vpn_sg"]]));
    env.ok(&lab_setup(&["--security-group", "default"]));
    assert_eq!(groups(&env), serde_json::json!([lab["default_sg"]]));
    let r = env.run(&lab_setup(&["--security-group", "lab-*"]));
    assert_eq!(r.code, 2, "a wildcard is refused: {}", r.stderr);
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn a_wildcard_remote_is_refused_unless_it_is_an_aws_endpoint_name() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    let r = env.fails(&["profile", "alice", "--remote", "*.example.com"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is a wildcard"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--remote vpn.example.com"),
        "{}",
        r.stderr
    );
    assert!(!env.path().join("profiles/alice.ovpn").exists());
    env.ok(&[
        "profile",
        "alice",
        "--remote",
        "*.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com",
    ]);
    let p = env.read("profiles/alice.ovpn");
    assert!(
        p.lines().any(|l| l.starts_with("remote ")
            && !l.contains('*')
            && l.contains(".cvpn-endpoint-0123456789abcdef0.")),
        "{p}"
    );
}

#[test]
fn the_recorded_region_is_used_when_nothing_else_names_one() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let mut env = emu.env();
    env.ok(&lab_setup(&[]));
    env.vars.retain(|(k, _)| k != "AWS_REGION");
    let r = env.run(&["status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("region us-east-1 (recorded for deployment 'lab'"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("deployment lab in us-east-1: up"),
        "{}",
        r.stdout
    );
    // Nothing recorded: the error says how to name one.
    let empty = {
        let mut e = Env::new();
        e.vars = env.vars.clone();
        e
    };
    let r = empty.run(&["status"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("region"), "{}", r.stderr);
    env.ok(&["--name", "lab", "teardown", "--region", "us-east-1"]);
}

#[test]
fn a_crl_that_has_not_reached_the_endpoint_is_said_by_status_and_pki_list() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    let r = env.run(&["status"]);
    assert!(!r.stderr.contains("CRL"), "in step at first:\n{}", r.stderr);
    env.ok(&["pki", "revoke", "alice", "--local-only"]);
    let r = env.run(&["status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the endpoint's CRL (number 1) is behind this PKI's (number 2)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`vpnctl --name lab pki merge-crl`"),
        "the fix, runnable as printed:\n{}",
        r.stderr
    );
    let r = env.run(&["pki", "list"]);
    assert!(
        r.stderr
            .contains("was last given CRL number 1, this PKI is at 2"),
        "offline, from the state file:\n{}",
        r.stderr
    );
    // With --region given, the hint carries it (and stdout JSON is never rewritten).
    let r = env.run(&["status", "--region", "us-east-1"]);
    assert!(
        r.stderr
            .contains("`vpnctl --name lab pki merge-crl --region us-east-1`"),
        "{}",
        r.stderr
    );
    let json = env.ok(&["status", "--json", "--region", "us-east-1"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON stays JSON");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("`vpnctl pki merge-crl`")),
        "{json}"
    );
    env.ok(&["pki", "merge-crl"]);
    for args in [&["status"][..], &["pki", "list"]] {
        let r = env.run(args);
        assert!(
            !r.stderr.contains("CRL"),
            "{args:?} after the push:\n{}",
            r.stderr
        );
    }
    env.ok(&["teardown"]);
}

#[test]
fn hints_from_anywhere_carry_the_pki_and_name_in_effect() {
    let env = Env::new();
    env.ok(&["--pki", "other dir", "--name", "lab", "pki", "init"]);
    env.ok(&[
        "--pki",
        "other dir",
        "--name",
        "lab",
        "pki",
        "issue",
        "alice",
    ]);
    // The hint of an error raised deep in the PKI store.
    let r = env.fails(&["--pki", "other dir", "pki", "issue", "alice"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`vpnctl --pki 'other dir' --name lab pki renew alice`"),
        "{}",
        r.stderr
    );
}

#[test]
fn json_uses_rfc3339_times_and_money_with_four_decimals() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    let text = env.ok(&["--name", "lab", "status", "--json"]);
    assert!(text.contains("\"per_hour\": 0.1000"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["account"], "123456789012");
    let created = v["resources"]["endpoints"][0]["endpoint"]["created"]
        .as_str()
        .expect("a time is a string");
    assert!(time_is_rfc3339(created), "{created}");
    let since = v["billing"]["charges"][0]["since"].as_str().unwrap();
    assert!(time_is_rfc3339(since), "{since}");
    let pki: serde_json::Value =
        serde_json::from_str(&env.ok(&["--name", "lab", "pki", "list", "--json"])).unwrap();
    for t in [
        &pki["ca"]["not_after"],
        &pki["crl"]["next_update"],
        &pki["certificates"][0]["not_after"],
    ] {
        assert!(t.as_str().is_some_and(time_is_rfc3339), "{t}");
    }
    assert!(pki["certificates"][0]["days_left"].is_i64());
    env.ok(&["--name", "lab", "teardown"]);
}

fn time_is_rfc3339(t: &str) -> bool {
    // 2026-12-02T13:00:00Z
    let b = t.as_bytes();
    t.len() == 20 && b[4] == b'-' && b[10] == b'T' && t.ends_with('Z')
}

#[test]
fn human_output_fits_100_columns() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let r = env.run(&lab_setup(&[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(too_wide(&r.stdout).is_empty(), "{}", r.stdout);
    assert!(too_wide(&r.stderr).is_empty(), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("next: `vpnctl --name lab pki issue USER`"),
        "a setup without users says how to add one:\n{}",
        r.stderr
    );
    let r = env.run(&["status"]);
    assert!(too_wide(&r.stdout).is_empty(), "{}", r.stdout);
    let r = env.run(&[SETUP, &["--dry-run"]].concat());
    assert!(too_wide(&r.stdout).is_empty(), "{}", r.stdout);
    env.ok(&["teardown"]);
}

#[test]
fn after_a_renewal_the_profile_hint_runs_as_printed() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    env.ok(&[
        "profile",
        "alice",
        "--remote",
        "vpn.example.com",
        "--port",
        "1194",
        "--proto",
        "tcp",
    ]);
    let r = env.run(&["pki", "renew", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hint = r
        .stderr
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no command in:\n{}", r.stderr));
    assert_eq!(
        hint, "vpnctl profile alice --remote vpn.example.com --port 1194 --proto tcp",
        "{}",
        r.stderr
    );
    assert!(!env.path().join("profiles/alice.ovpn").exists());
    let words: Vec<&str> = hint.split_whitespace().skip(1).collect();
    env.ok(&words);
    let p = env.read("profiles/alice.ovpn");
    assert!(p.contains("remote vpn.example.com 1194"), "{p}");
    assert!(p.contains("proto tcp"), "{p}");
}

#[test]
fn read_only_commands_change_no_local_file() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&lab_setup(&[]));
    let inv = emu.inventory("lab");
    emu.add_connection(inv["endpoints"][0]["id"].as_str().unwrap(), "alice");
    let before = crate::harness::snapshot(env.path());
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["list"],
        &["list", "--json"],
        &["connections"],
        &["connections", "--json"],
        &["pki", "list"],
        &["pki", "show", "alice"],
        &["status", "--region", "eu-west-1"],
        &["doctor"],
        &["doctor", "--json"],
        &["iam-policy"],
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        if !args.contains(&"--json") && args[0] != "iam-policy" {
            assert!(too_wide(&r.stdout).is_empty(), "{args:?}:\n{}", r.stdout);
        }
    }
    assert!(
        before == crate::harness::snapshot(env.path()),
        "a read-only command changed a local file"
    );
    env.ok(&["teardown"]);
}

#[test]
fn every_command_that_changes_aws_has_a_dry_run_that_changes_nothing() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&lab_setup(&[]));
    let endpoint = emu.inventory("lab")["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    emu.add_connection(&endpoint, "alice");
    let aws_before = emu.inventory("lab");
    let local_before = crate::harness::snapshot(env.path());
    let plans: &[(&[&str], &[&str])] = &[
        (
            &["sleep", "--dry-run"],
            &["sleep plan", "record the associations", "disassociate"],
        ),
        (
            &["kick", "alice", "--dry-run"],
            &["kick plan", "end the 1 live session(s) of alice"],
        ),
        (
            &["pki", "revoke", "alice", "--dry-run"],
            &[
                "revoke plan",
                "revoke alice (serial",
                "CRL number 2",
                "import CRL number 2",
                "end the 1 live session(s) of alice",
            ],
        ),
        (&["wake", "--dry-run"], &["nothing to do"]),
        (
            &["teardown", "--dry-run"],
            &["teardown plan", "delete the endpoint"],
        ),
        (
            &["nat", "off", "--dry-run"],
            &["nat off plan", "nothing to do"],
        ),
    ];
    for (args, want) in plans {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for w in *want {
            assert!(
                r.stdout.contains(w),
                "{args:?} should say {w:?}:\n{}",
                r.stdout
            );
        }
    }
    assert_eq!(emu.inventory("lab"), aws_before, "a dry run changed AWS");
    assert!(
        local_before == crate::harness::snapshot(env.path()),
        "a dry run changed a local file"
    );
    // Asleep, wake's dry run shows the associations it would restore.
    env.ok(&["sleep"]);
    let r = env.run(&["wake", "--dry-run"]);
    assert!(
        r.stdout.contains("associate subnet") && r.stdout.contains("sleep record"),
        "{}",
        r.stdout
    );
    env.ok(&["teardown"]);
}

/// Stdout of a `--json` run: exactly one JSON document.
fn one_document(args: &[&str], stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}):\n{stdout}"))
}

#[test]
fn every_command_that_changes_aws_reports_plan_and_outcome_as_json() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    // The plan: the same steps the text form shows, with phase, effect and price.
    let args = lab_setup(&["--dry-run", "--json", "--nat", "lab-private-subnet"]);
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = one_document(&args, &r.stdout);
    assert_eq!(plan["schema"], 1);
    assert_eq!(plan["command"], "setup");
    assert_eq!(plan["deployment"], "lab");
    assert_eq!(plan["dry_run"], true);
    let steps = plan["steps"].as_array().expect("steps");
    let text = env.run(&lab_setup(&["--dry-run", "--nat", "lab-private-subnet"]));
    assert_eq!(
        steps.len(),
        text.stdout.lines().filter(|l| l.contains(". [")).count(),
        "the JSON plan and the text plan differ:\n{}",
        text.stdout
    );
    let of = |action: &str| {
        steps
            .iter()
            .find(|s| s["action"] == action)
            .unwrap_or_else(|| panic!("no {action} step in {steps:?}"))
    };
    let associate = of("associate");
    assert_eq!(associate["phase"], "network");
    assert_eq!(associate["lane"], "endpoint");
    assert_eq!(associate["effect"], "creates");
    assert_eq!(associate["per_hour"].as_f64(), Some(0.1));
    assert!(
        associate["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("associate subnet")),
        "{associate}"
    );
    let nat = of("create-nat-gateway");
    assert_eq!(nat["lane"], "nat");
    assert_eq!(nat["per_hour"].as_f64(), Some(0.045));
    assert!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The outcome: every step done, what was made, and the human lines on stderr.
    env.ok(&lab_setup(&[]));
    let endpoint = emu.inventory("lab")["endpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    emu.add_connection(&endpoint, "alice");
    for (args, command) in [
        (&["--name", "lab", "kick", "alice", "--json"][..], "kick"),
        (&["--name", "lab", "sleep", "--json"][..], "sleep"),
        (&["--name", "lab", "wake", "--json"][..], "wake"),
        (&["--name", "lab", "teardown", "--json"][..], "teardown"),
    ] {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let out = one_document(args, &r.stdout);
        assert_eq!(out["command"], command);
        assert_eq!(out["dry_run"], false);
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(out["failures"], serde_json::json!([]));
        let steps = out["steps"].as_array().expect("steps");
        assert!(!steps.is_empty(), "{args:?}: {out}");
        assert!(steps.iter().all(|s| s["status"] == "done"), "{out}");
        if command == "kick" {
            assert_eq!(
                out["resources"]["ended_sessions"].as_array().map(Vec::len),
                Some(1)
            );
            assert!(
                r.stderr.contains("ended 1 connection(s) of alice"),
                "{}",
                r.stderr
            );
        }
        if command == "teardown" {
            // What the run left: the endpoint and certificate are gone, nothing remains.
            assert_eq!(
                out["resources"]["endpoint"],
                serde_json::Value::Null,
                "{out}"
            );
            assert_eq!(out["resources"]["certificate_arn"], serde_json::Value::Null);
            assert_eq!(out["remaining"], serde_json::json!([]));
        }
    }
    for args in [
        &["--name", "lab", "teardown", "--json"][..],
        &["--name", "lab", "nat", "off", "--json"][..],
    ] {
        // Nothing to do is still one document.
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let out = one_document(args, &r.stdout);
        assert_eq!(out["steps"], serde_json::json!([]), "{out}");
        assert_eq!(out["ok"], true);
    }
    assert!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_aws_refusal_names_the_service_operation_code_and_request_id_once() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    emu.fault("AuthorizeClientVpnIngress", "InvalidParameterValue", 1);
    let r = env.run(&lab_setup(&[]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    let error: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(error.len(), 1, "{}", r.stderr);
    assert!(
        error[0].contains("authorize access to 10.0.0.0/16")
            && error[0].contains("AWS refused AuthorizeClientVpnIngress: InvalidParameterValue"),
        "{}",
        r.stderr
    );
    let causes: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("caused by:"))
        .collect();
    assert_eq!(causes.len(), 1, "the chain is printed once:\n{}", r.stderr);
    assert!(
        causes[0].contains("ec2 AuthorizeClientVpnIngress answered HTTP 400 InvalidParameterValue")
            && causes[0].contains("(request id "),
        "{}",
        r.stderr
    );
    // Nothing was lost: the same setup again converges.
    env.ok(&lab_setup(&[]));
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn pki_dry_runs_plan_the_endpoint_half_and_show_the_local_half_when_aws_cannot_answer() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    // Another copy of the PKI revokes bob; this one learns of it from that copy's CRL.
    let copy = crate::revocation::copy_of(&env, &emu);
    copy.ok(&["--name", "lab", "pki", "revoke", "bob", "--local-only"]);
    let before = crate::harness::snapshot(env.path());
    let aws_before = emu.inventory("lab");
    let other = copy.pki().join("crl.pem");
    let other = other.to_str().expect("utf-8 path");
    let merge = ["--name", "lab", "pki", "merge-crl", other, "--dry-run"];
    let r = env.run(&merge);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("merge-crl plan")
            && r.stdout.contains("revoke bob (serial")
            && r.stdout.contains("regenerate crl.pem as CRL number 3"),
        "{}",
        r.stdout
    );
    // From the endpoint (no file): the push is planned by the push's own planner.
    let r = env.run(&["--name", "lab", "pki", "revoke", "alice", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("[Revocation] import CRL number 2")
            && r.stdout
                .contains("[Sessions] end the live sessions of alice"),
        "{}",
        r.stdout
    );
    // AWS cannot answer: the local half still shows, and why the rest does not.
    let r = env.run_with(
        &["--name", "lab", "pki", "revoke", "alice", "--dry-run"],
        &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("revoke alice (serial"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("the endpoint's half cannot be planned: cannot reach AWS"),
        "{}",
        r.stderr
    );
    assert!(
        before == crate::harness::snapshot(env.path()),
        "a dry run changed a file"
    );
    assert_eq!(emu.inventory("lab"), aws_before, "a dry run changed AWS");
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn pki_revoke_reports_its_push_as_json() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    let args = [
        "--name",
        "lab",
        "pki",
        "revoke",
        "alice",
        "--dry-run",
        "--json",
    ];
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = one_document(&args, &r.stdout);
    assert_eq!(plan["command"], "revoke");
    assert_eq!(plan["dry_run"], true);
    assert!(
        plan["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("revoke alice (serial")),
        "{plan}"
    );
    let actions: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["action"].as_str())
        .collect();
    assert_eq!(actions, ["import-crl", "end-sessions"]);
    let args = ["--name", "lab", "pki", "revoke", "alice", "--json"];
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = one_document(&args, &r.stdout);
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["steps"][0]["status"], "done");
    assert!(r.stderr.contains("revoked alice (serial"), "{}", r.stderr);
    // Local only: still one document, with nothing done on AWS.
    let args = [
        "--name",
        "lab",
        "pki",
        "revoke",
        "bob",
        "--local-only",
        "--json",
    ];
    let r = env.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = one_document(&args, &r.stdout);
    assert_eq!(out["steps"], serde_json::json!([]));
    assert_eq!(out["region"], "");
    env.ok(&["--name", "lab", "teardown"]);
}
