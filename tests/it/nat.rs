//! `vpnctl nat on|off` against the emulator with delays on, observed with boto3.

use crate::emulator::{Emulator, lab_setup};
use serde_json::Value;
use std::time::Duration;

/// The default-route target of the route table a subnet uses: its explicit association, else
/// the main table of its VPC.
fn default_route(inv: &Value, subnet: &str, vpc: &str) -> Option<String> {
    let tables = inv["route_tables"].as_array().unwrap();
    let t = tables
        .iter()
        .find(|t| t["subnets"].as_array().unwrap().iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t["main"] == true && t["vpc"] == vpc))?;
    t["default"].as_str().map(str::to_string)
}

#[test]
fn nat_on_then_off_routes_and_cleans_up_everything() {
    let emu = Emulator::start(0.3);
    let lab = emu.lab();
    let env = emu.env();
    let private = lab["private"].as_str().unwrap();
    let dry = env.ok(&[
        "--name",
        "lab",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
        "--dry-run",
    ]);
    assert!(
        dry.contains("allocate an Elastic IP")
            && dry.contains("create a NAT gateway in")
            && dry.contains(lab["public"].as_str().unwrap()),
        "{dry}"
    );
    assert_eq!(
        emu.inventory("lab")["nat_gateways"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "dry run created something"
    );

    env.ok(&[
        "--name",
        "lab",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
        "--ttl",
        "30m",
    ]);
    let inv = emu.inventory("lab");
    let nats = inv["nat_gateways"].as_array().unwrap();
    assert_eq!(nats.len(), 1, "{inv}");
    assert_eq!(nats[0]["state"], "available");
    let nat_id = nats[0]["id"].as_str().unwrap().to_string();
    let addrs = inv["addresses"].as_array().unwrap();
    assert_eq!(addrs.len(), 1, "{inv}");
    assert!(
        addrs[0]["association_id"].is_string(),
        "the Elastic IP is associated: {inv}"
    );
    let vpc = lab["vpc"].as_str().unwrap();
    assert_eq!(
        default_route(&inv, private, vpc),
        Some(nat_id.clone()),
        "{inv}"
    );

    // On twice is one NAT gateway; a new --ttl moves its deadline.
    env.ok(&[
        "--name",
        "lab",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
        "--ttl",
        "2h",
    ]);
    assert_eq!(
        emu.inventory("lab")["nat_gateways"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // status shows it with its price and the time left.
    let st: Value = serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
    assert!(
        (st["billing"]["per_hour"].as_f64().unwrap() - 0.05).abs() < 1e-9,
        "NAT $0.045 + IPv4 $0.005: {st}"
    );
    let table = env.ok(&["--name", "lab", "status"]);
    assert!(
        table.contains("2h00m left") || table.contains("1h59m left"),
        "{table}"
    );

    env.ok(&["--name", "lab", "nat", "off"]);
    let inv = emu.inventory("lab");
    assert_eq!(inv["nat_gateways"].as_array().unwrap().len(), 0, "{inv}");
    assert_eq!(
        inv["addresses"].as_array().unwrap().len(),
        0,
        "Elastic IP not released: {inv}"
    );
    assert_eq!(default_route(&inv, private, vpc), None, "{inv}");
    // Off again: a no-op with a clear message.
    assert!(
        env.ok(&["--name", "lab", "nat", "off"])
            .contains("nothing to turn off")
    );
}

#[test]
fn a_foreign_default_route_needs_force_and_is_restored() {
    let emu = Emulator::start(0.0);
    let lab = emu.lab();
    let env = emu.env();
    let before = emu.everything();
    let r = env.fails(&["--name", "f", "nat", "on", "--subnet", "foreign-private"]);
    assert!(
        r.stderr.contains("vpnctl did not create") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.everything(),
        before,
        "refused, yet something was created"
    );

    env.ok(&[
        "--name",
        "f",
        "nat",
        "on",
        "--subnet",
        "foreign-private",
        "--force",
    ]);
    let inv = emu.inventory("f");
    let nat_id = inv["nat_gateways"][0]["id"].as_str().unwrap().to_string();
    let table = |inv: &Value| {
        inv["route_tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == lab["foreign_private_rt"])
            .unwrap()["default"]
            .clone()
    };
    assert_eq!(table(&inv), Value::String(nat_id));
    env.ok(&["--name", "f", "nat", "off"]);
    let inv = emu.inventory("f");
    assert_eq!(
        table(&inv),
        lab["foreign_igw"],
        "the replaced route must come back: {inv}"
    );
}

#[test]
fn killed_mid_way_then_off_cleans_up() {
    let emu = Emulator::start(1.5);
    emu.lab();
    // Kill points: before the Elastic IP is allocated, and once the NAT gateway exists.
    for (i, after) in ["→ allocate an Elastic IP", "  created nat-"]
        .iter()
        .enumerate()
    {
        let name = format!("k{i}");
        let env = emu.env();
        let (code, _) = env
            .start_until(
                &[
                    "--name",
                    &name,
                    "nat",
                    "on",
                    "--subnet",
                    "lab-private-subnet",
                ],
                after,
                Duration::from_secs(60),
            )
            .signal_and_wait("KILL");
        assert_eq!(code, 128 + 9);
        if i == 1 {
            let at_kill = emu.inventory(&name);
            assert!(
                !at_kill["addresses"].as_array().unwrap().is_empty()
                    && !at_kill["nat_gateways"].as_array().unwrap().is_empty(),
                "nothing existed at the kill at {after:?}: {at_kill}"
            );
        }
        let r = env.run(&["--name", &name, "nat", "off"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let inv = emu.inventory(&name);
        assert_eq!(
            (
                inv["nat_gateways"].as_array().unwrap().len(),
                inv["addresses"].as_array().unwrap().len()
            ),
            (0, 0),
            "{inv}"
        );
    }
}

#[test]
fn bad_nat_input_is_refused_before_anything_is_created() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let before = emu.everything();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "nat",
                "on",
                "--subnet",
                "other-subnet",
                "--via",
                "lab-public-subnet",
            ],
            "same VPC",
        ),
        (
            &["nat", "on", "--subnet", "other-subnet"],
            "internet gateway",
        ),
        (
            &["nat", "on", "--subnet", "no-such-subnet"],
            "no-such-subnet",
        ),
        (
            &[
                "nat",
                "on",
                "--subnet",
                "lab-private-subnet",
                "--via",
                "lab-private-subnet",
            ],
            "internet gateway",
        ),
        (
            &[
                "nat",
                "on",
                "--subnet",
                "lab-private-subnet",
                "--ttl",
                "soon",
            ],
            "not a duration",
        ),
    ];
    for (args, expect) in cases {
        let r = env.fails(args);
        assert!(
            r.stderr.to_lowercase().contains(&expect.to_lowercase()),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(emu.everything(), before);
}

#[test]
fn setup_with_nat_and_teardown_removes_both() {
    let emu = Emulator::start(0.5);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&["--nat", "lab-private-subnet"]));
    let inv = emu.inventory("lab");
    assert_eq!(inv["endpoints"].as_array().unwrap().len(), 1, "{inv}");
    assert_eq!(inv["nat_gateways"][0]["state"], "available", "{inv}");
    env.ok(&["--name", "lab", "teardown"]);
    let inv = emu.inventory("lab");
    for k in ["endpoints", "certificates", "nat_gateways", "addresses"] {
        assert_eq!(inv[k].as_array().unwrap().len(), 0, "{k} left: {inv}");
    }
}

#[test]
fn restoring_a_route_to_a_nat_gateway_that_is_gone_removes_it_instead() {
    let emu = Emulator::start(0.0);
    let lab = emu.lab();
    let env = emu.env();
    // Two deployments take turns on one private subnet; the second replaces the first's route.
    env.ok(&[
        "--name",
        "n1",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
    ]);
    env.ok(&[
        "--name",
        "n2",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
        "--force",
    ]);
    env.ok(&["--name", "n1", "nat", "off"]);
    let out = env.run(&["--name", "n2", "nat", "off"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("no longer exists"), "{}", out.stderr);
    let inv = emu.everything();
    let vpc = lab["vpc"].as_str().unwrap();
    assert_eq!(
        default_route(&inv, lab["private"].as_str().unwrap(), vpc),
        None,
        "no blackhole route to n1's deleted NAT: {inv}"
    );
}
