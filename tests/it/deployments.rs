//! Every command acts on the deployment the user means: the name comes from `--name`, else
//! the PKI's record, the config file's only table, or the only state file, and an unclear
//! choice stops with the candidates named instead of acting on `default`.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::Env;

#[test]
fn a_revoke_without_name_reaches_the_deployment_the_pki_records() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    let r = env.run(&["pki", "revoke", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("deployment 'lab' (the deployment the PKI records)"),
        "say which rule chose it:\n{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("verified on the endpoint"),
        "{}",
        r.stdout
    );
    env.ok(&["teardown"]);
}

#[test]
fn traces_that_disagree_stop_with_every_candidate_named() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    // A state file for another deployment beside a PKI that records `default`.
    std::fs::create_dir(env.path().join(".vpnctl")).unwrap();
    std::fs::write(
        env.path().join(".vpnctl/lab2.json"),
        r#"{"deployment": "lab2", "region": "us-east-1"}"#,
    )
    .unwrap();
    let r = env.fails(&["pki", "issue", "bob"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is 'default'") && r.stderr.contains("'lab2' (a state file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--name"), "{}", r.stderr);
    env.ok(&["--name", "lab2", "pki", "issue", "bob"]);
}

#[test]
fn several_config_tables_need_a_name_and_one_table_is_enough() {
    let env = Env::new();
    std::fs::write(
        env.path().join("vpnctl.toml"),
        "[lab]\nclient_cidr = \"10.83.0.0/16\"\n[prod]\nclient_cidr = \"10.84.0.0/16\"\n",
    )
    .unwrap();
    let r = env.fails(&["pki", "init"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("lab (") && r.stderr.contains("prod ("),
        "{}",
        r.stderr
    );
    std::fs::write(
        env.path().join("vpnctl.toml"),
        "[prod]\nclient_cidr = \"10.84.0.0/16\"\n",
    )
    .unwrap();
    let r = env.run(&["pki", "init"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("deployment 'prod' (the only table"),
        "{}",
        r.stderr
    );
    assert!(env.read("pki/vpnctl.json").contains("\"prod\""));
    // An explicit name with no trace here is said, not silently used.
    let r = env.run(&["--name", "other", "pki", "list"]);
    assert!(
        r.stderr.contains("'other' has no trace here"),
        "{}",
        r.stderr
    );
}

#[test]
fn status_in_the_wrong_region_says_where_the_deployment_lives_and_forgets_nothing() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    let state = env.read(".vpnctl/lab.json");
    let r = env.run(&["--name", "lab", "status", "--region", "eu-west-1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("lives in us-east-1") && r.stderr.contains("--region us-east-1"),
        "{}",
        r.stderr
    );
    assert_eq!(
        env.read(".vpnctl/lab.json"),
        state,
        "a read-only command changed state"
    );
    std::fs::remove_file(env.path().join("profiles/alice.ovpn")).unwrap();
    env.ok(&["--name", "lab", "profile", "alice"]);
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn an_explicit_profile_beats_keys_in_the_environment_and_an_unknown_one_is_named() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let marker = env.path().join("credential-process-ran");
    let script = env.path().join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \
             \"SecretAccessKey\": \"testing\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = env.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile other]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    // The harness sets AWS_ACCESS_KEY_ID/SECRET in the environment.
    let env = env.env("AWS_CONFIG_FILE", config.to_str().unwrap());
    let r = env.run(&["--name", "lab", "status", "--profile", "other"]);
    assert!(
        marker.exists(),
        "--profile other did not run its credential_process:\n{}",
        r.stderr
    );
    let r = env.fails(&["--name", "lab", "status", "--profile", "nope"]);
    assert!(
        r.stderr.contains("nope"),
        "the unknown profile is named:\n{}",
        r.stderr
    );
}

#[test]
fn a_pki_made_without_a_name_follows_the_deployment_it_is_set_up_for() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["pki", "init"]);
    let r = env.run(&lab_setup(&[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("now records deployment 'lab'"),
        "{}",
        r.stderr
    );
    // The README's PKI commands, then the guide's setup: later commands need no --name.
    let r = env.run(&["pki", "issue", "bob"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("profile "),
        "bob's profile points at lab's endpoint: {}",
        r.stdout
    );
    env.ok(&["teardown"]);
}
