//! The realism suite (issue 13): the emulator as strict as AWS — delays per kind, a
//! concurrency limit smaller than AWS's, eventual consistency after creates, AWS's quotas —
//! and flaky (throttling and 5xx injected on several actions). Every command still converges,
//! and nothing is left billing.

use crate::emulator::{Emulator, lab_setup};

/// AWS's behaviours turned on, with times shrunk to the test's scale.
const STRICT: &str = r#"{
    "delay_seconds": 0.2,
    "delays": {"association": 1.0, "disassociation": 0.6, "authorization": 0.5,
               "route_creation": 0.5, "nat_creation": 0.8, "nat_deletion": 0.5,
               "endpoint_deletion": 0.6},
    "concurrent_mutation_limit": 3,
    "consistency_seconds": 1.0,
    "quotas": true
}"#;

#[test]
fn every_command_converges_on_a_strict_and_flaky_aws_and_nothing_is_left_billing() {
    let emu = Emulator::start(0.0);
    emu.lab();
    emu.config(STRICT);
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    // Throttling and AWS's own failures on the calls that change things, more than once.
    for (action, code, count) in [
        ("AuthorizeClientVpnIngress", "InternalError", 2),
        ("AssociateClientVpnTargetNetwork", "RequestLimitExceeded", 2),
        ("CreateClientVpnRoute", "ServiceUnavailable", 1),
        ("CreateNatGateway", "RequestLimitExceeded", 1),
        ("CreateRoute", "InternalError", 1),
    ] {
        emu.fault(action, code, count);
    }
    // Full tunnel and eight CIDRs: more changes under way on the endpoint than the limit.
    let mut args = lab_setup(&["--full-tunnel", "--nat", "lab-private-subnet"]);
    let cidrs: Vec<String> = (0..8).map(|i| format!("172.{}.0.0/16", 16 + i)).collect();
    for c in &cidrs {
        args.extend(["--authorize", c.as_str()]);
    }
    let out = env.ok(&args);
    assert!(out.contains("deployment lab is up"), "{out}");
    let inv = emu.inventory("lab");
    let rules = inv["endpoints"][0]["rules"].as_array().expect("rules");
    assert_eq!(
        rules.len(),
        1 + 8 + 1,
        "VPC, eight CIDRs and 0.0.0.0/0: {inv}"
    );
    assert_eq!(emu.faults(), serde_json::json!([]), "every fault was met");

    for (action, code, count) in [
        (
            "DisassociateClientVpnTargetNetwork",
            "ServiceUnavailable",
            1,
        ),
        ("CreateTags", "RequestLimitExceeded", 1),
    ] {
        emu.fault(action, code, count);
    }
    env.ok(&["--name", "lab", "sleep", "--yes"]);
    emu.fault("AssociateClientVpnTargetNetwork", "InternalError", 1);
    env.ok(&["--name", "lab", "wake"]);
    let inv = emu.inventory("lab");
    assert_eq!(
        inv["endpoints"][0]["rules"].as_array().map(Vec::len),
        Some(10),
        "wake restored every rule: {inv}"
    );

    emu.fault(
        "ImportClientVpnClientCertificateRevocationList",
        "InternalError",
        1,
    );
    let out = env.ok(&["--name", "lab", "pki", "revoke", "bob", "--yes"]);
    assert!(out.contains("revoked bob"), "{out}");

    for (action, code, count) in [
        ("DeleteRoute", "InternalError", 1),
        ("DeleteNatGateway", "RequestLimitExceeded", 1),
        ("ReleaseAddress", "ServiceUnavailable", 1),
    ] {
        emu.fault(action, code, count);
    }
    env.ok(&["--name", "lab", "nat", "off", "--yes"]);
    for (action, code, count) in [
        ("DisassociateClientVpnTargetNetwork", "InternalError", 1),
        ("DeleteClientVpnEndpoint", "RequestLimitExceeded", 1),
        ("DeleteCertificate", "ThrottlingException", 1),
    ] {
        emu.fault(action, code, count);
    }
    let out = env.ok(&["--name", "lab", "teardown", "--yes"]);
    assert!(out.contains("nothing billable remains"), "{out}");
    assert_eq!(emu.faults(), serde_json::json!([]), "every fault was met");
    let inv = emu.inventory("lab");
    for kind in ["endpoints", "nat_gateways", "addresses", "certificates"] {
        assert!(
            inv[kind].as_array().is_none_or(Vec::is_empty),
            "{kind} left: {inv}"
        );
    }
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).expect("json");
    assert_eq!(st["billing"]["per_hour"].as_f64(), Some(0.0), "{st}");
}

#[test]
fn a_subnet_too_small_or_a_full_region_is_refused_before_anything_is_made() {
    let emu = Emulator::start(0.0);
    emu.lab();
    emu.config(r#"{"quotas": true}"#);
    let env = emu.env();
    // A /28: refused from the lookups, before even the PKI is made.
    let r = env.fails(&[
        "--name",
        "lab",
        "setup",
        "--vpc",
        "lab-vpc",
        "--subnet",
        "lab-tiny-subnet",
        "--client-cidr",
        "10.83.0.0/16",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("smaller than a /27"), "{}", r.stderr);
    assert!(!env.pki().exists(), "no PKI was made");
    let all = emu.everything();
    assert_eq!(all["certificates"], serde_json::json!([]), "{all}");
    assert_eq!(all["endpoints"], serde_json::json!([]), "{all}");

    // Five endpoints fill the Region's quota: a sixth is refused before its certificate.
    env.ok(&["--name", "lab", "pki", "init"]);
    for i in 0..5 {
        let name = format!("d{i}");
        let pki = format!("pki-{name}");
        let cidr = format!("10.{}.0.0/16", 90 + i);
        env.ok(&[
            "--pki",
            &pki,
            "--name",
            &name,
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            &cidr,
        ]);
    }
    let before = emu.everything()["certificates"].clone();
    let r = env.fails(&lab_setup(&[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("its quota is 5"), "{}", r.stderr);
    assert!(
        r.stderr.contains("[quotas] endpoints_per_region"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.everything()["certificates"],
        before,
        "no certificate was imported"
    );
    assert!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_route_beyond_the_vpc_is_made_restored_by_wake_and_pruned_when_dropped() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    let routed = |inv: &serde_json::Value| -> (bool, bool) {
        let e = &inv["endpoints"][0];
        let has = |kind: &str| {
            e[kind]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x["cidr"] == "10.50.0.0/16"))
        };
        (has("routes"), has("rules"))
    };
    env.ok(&lab_setup(&["--route", "10.50.0.0/16"]));
    assert_eq!(
        routed(&emu.inventory("lab")),
        (true, true),
        "route and its rule"
    );
    env.ok(&["--name", "lab", "sleep"]);
    assert!(
        !routed(&emu.inventory("lab")).0,
        "disassociation took the route"
    );
    env.ok(&["--name", "lab", "wake"]);
    assert_eq!(
        routed(&emu.inventory("lab")),
        (true, true),
        "wake restored it"
    );
    // No longer listed: the route and its rule go; the VPC's stay.
    let out = env.ok(&lab_setup(&["--dry-run"]));
    assert!(
        out.contains("delete the route 10.50.0.0/16 via")
            && out.contains("revoke the authorization of 10.50.0.0/16"),
        "{out}"
    );
    env.ok(&lab_setup(&[]));
    assert_eq!(routed(&emu.inventory("lab")), (false, false));
    let bad = env.fails(&lab_setup(&["--route", "0.0.0.0/0"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--full-tunnel"), "{}", bad.stderr);
    env.ok(&["--name", "lab", "teardown"]);
}
