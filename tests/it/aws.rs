//! setup, status and teardown against the emulator with its delays on, observed independently
//! with boto3.

use crate::emulator::{Emulator, SETUP, aws_env};
use crate::harness::{Env, free_port, openssl, snapshot};
use serde_json::Value;
use std::time::Duration;

fn with_name<'a>(name: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--name", name];
    v.extend_from_slice(args);
    v
}

fn count(v: &Value, key: &str) -> usize {
    v[key].as_array().map(Vec::len).unwrap_or(0)
}

#[test]
fn setup_status_teardown_leaves_nothing_and_profiles_work() {
    let emu = Emulator::start(0.3);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    let out = env.ok(&with_name("lab", SETUP));
    assert!(out.contains("is up"), "{out}");

    let inv = emu.inventory("lab");
    assert_eq!(count(&inv, "endpoints"), 1, "{inv}");
    assert_eq!(count(&inv, "certificates"), 1, "{inv}");
    let ep = &inv["endpoints"][0];
    assert_eq!(ep["state"], "available");
    assert_eq!(ep["associations"][0]["state"], "associated");
    assert!(
        ep["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cidr"] == "10.0.0.0/16" && r["state"] == "active"),
        "{ep}"
    );
    assert_eq!(ep["server_certificate_arn"], inv["certificates"][0]);

    // Each profile: the endpoint's DNS name with a random 12-hex label, the embedded key.
    let id = ep["id"].as_str().unwrap();
    for user in ["alice", "bob"] {
        let p = env.read(&format!("profiles/{user}.ovpn"));
        let remote = p.lines().find(|l| l.starts_with("remote ")).unwrap();
        let host = remote.split_whitespace().nth(1).unwrap();
        let (label, rest) = host.split_once('.').unwrap();
        assert!(
            label.len() == 12 && label.chars().all(|c| c.is_ascii_hexdigit()),
            "{remote}"
        );
        assert_eq!(rest, format!("{id}.prod.clientvpn.us-east-1.amazonaws.com"));
        assert!(!p.contains("remote-random-hostname"));
        assert!(p.contains(env.read(&format!("pki/private/{user}.key")).trim()));
    }
    // Rewritten to loopback, the profile passes a real OpenVPN handshake against the PKI.
    let port = free_port();
    let path = crate::openvpn::loopback_copy(&env, "profiles/alice.ovpn", port, "alice-local.ovpn");
    let (s_ok, c_ok, s, c) = crate::openvpn::handshake_with(&env, &path);
    assert!(s_ok && c_ok, "handshake failed\n{s}\n{c}");

    // A user issued later gets a profile against the endpoint without --remote.
    env.ok(&["--name", "lab", "pki", "issue", "carol"]);
    assert!(
        env.read("profiles/carol.ovpn")
            .contains(&format!("{id}.prod.clientvpn"))
    );
    env.ok(&["--name", "lab", "profile", "alice", "-o", "again.ovpn"]);
    assert!(
        env.read("again.ovpn")
            .contains(&format!("{id}.prod.clientvpn"))
    );

    // status: what bills now.
    emu.add_connection(id, "alice");
    let st: Value = serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
    let per_hour = st["billing"]["per_hour"].as_f64().unwrap();
    assert!(
        (per_hour - 0.15).abs() < 1e-9,
        "one subnet + one connection: {st}"
    );
    assert_eq!(st["state"], "up");
    let table = env.ok(&["--name", "lab", "status"]);
    assert!(table.contains("$0.150/h") && table.contains(id), "{table}");

    let out = env.ok(&["--name", "lab", "teardown"]);
    assert!(out.contains("nothing billable remains"), "{out}");
    let inv = emu.inventory("lab");
    assert_eq!(
        (count(&inv, "endpoints"), count(&inv, "certificates")),
        (0, 0),
        "{inv}"
    );
    let st: Value = serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
    assert_eq!(st["state"], "absent");
    assert_eq!(st["billing"]["per_hour"].as_f64(), Some(0.0));
    // The local PKI stays.
    assert!(env.pki().join("private/alice.key").exists());
    // Teardown again is a no-op.
    assert!(
        env.ok(&["--name", "lab", "teardown"])
            .contains("nothing to remove")
    );
}

#[test]
fn setup_twice_converges_to_one_of_everything() {
    let emu = Emulator::start(0.2);
    emu.lab();
    let env = emu.env();
    let args = with_name(
        "lab",
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--subnet",
            "lab-public-b",
            "--client-cidr",
            "10.83.0.0/16",
            "--full-tunnel",
        ],
    );
    env.ok(&args);
    let first = emu.inventory("lab");
    env.ok(&args);
    let plan = env.ok(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(
        plan.lines()
            .filter(|l| l
                .trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()))
            .count(),
        1,
        "a converged setup plans only profiles:\n{plan}"
    );
    let inv = emu.inventory("lab");
    assert_eq!(count(&inv, "endpoints"), 1, "{inv}");
    assert_eq!(count(&inv, "certificates"), 1, "{inv}");
    assert_eq!(inv["endpoints"][0]["id"], first["endpoints"][0]["id"]);
    let ep = &inv["endpoints"][0];
    assert_eq!(count(ep, "associations"), 2, "{ep}");
    let rules: Vec<&str> = ep["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidr"].as_str().unwrap())
        .collect();
    let mut sorted = rules.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["0.0.0.0/0", "10.0.0.0/16"], "{ep}");
    let default_routes = ep["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["cidr"] == "0.0.0.0/0")
        .count();
    assert_eq!(default_routes, 2, "one 0.0.0.0/0 route per subnet: {ep}");
    let mut routes: Vec<String> = ep["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}>{}", r["cidr"], r["subnet"]))
        .collect();
    let n = routes.len();
    routes.dedup();
    routes.sort();
    routes.dedup();
    assert_eq!(routes.len(), n, "duplicate routes: {ep}");

    // Full tunnel off again: its 0.0.0.0/0 rule and routes go, the rest stays.
    env.ok(&with_name(
        "lab",
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--subnet",
            "lab-public-b",
            "--client-cidr",
            "10.83.0.0/16",
        ],
    ));
    let ep = emu.inventory("lab")["endpoints"][0].clone();
    assert!(
        !ep["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cidr"] == "0.0.0.0/0"),
        "{ep}"
    );
    assert!(
        !ep["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cidr"] == "0.0.0.0/0"),
        "{ep}"
    );
    assert!(
        ep["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cidr"] == "10.0.0.0/16"),
        "{ep}"
    );
    assert_eq!(count(&ep, "associations"), 2);
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn renewed_server_certificate_is_reimported_to_the_same_arn() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&with_name("lab", SETUP));
    let arn = emu.inventory("lab")["certificates"][0].clone();
    env.ok(&["--name", "lab", "pki", "renew", "server"]);
    let plan = env.ok(&[&with_name("lab", SETUP)[..], &["--dry-run"]].concat());
    assert!(plan.contains("re-import"), "{plan}");
    env.ok(&with_name("lab", SETUP));
    let inv = emu.inventory("lab");
    assert_eq!(inv["certificates"], serde_json::json!([arn]), "{inv}");
    let body = inv["certificate_bodies"][arn.as_str().unwrap()]
        .as_str()
        .unwrap()
        .to_string();
    let local = env.read("pki/issued/server.crt");
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(
        norm(&body),
        norm(&local),
        "ACM must hold the renewed certificate"
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn teardown_after_sigkill_at_several_points_without_state_removes_everything() {
    let emu = Emulator::start(1.0);
    emu.lab();
    // Kill points, in order: before the import, before the endpoint, right after the endpoint
    // exists, and while AWS associates the subnet.
    let points = [
        "→ import the server certificate",
        "→ create the Client VPN endpoint",
        "  created cvpn-endpoint-",
        "waiting for association",
    ];
    for (i, kill_after) in points.iter().enumerate() {
        let name = format!("kill{i}");
        let env = emu.env();
        env.ok(&["--name", &name, "pki", "init"]);
        let args = with_name(
            &name,
            &[
                "setup",
                "--vpc",
                "lab-vpc",
                "--subnet",
                "lab-public-subnet",
                "--client-cidr",
                "10.83.0.0/16",
                "--full-tunnel",
            ],
        );
        let (code, _) = env
            .start_until(&args, kill_after, Duration::from_secs(60))
            .signal_and_wait("KILL");
        assert_eq!(code, 128 + 9);
        let _ = std::fs::remove_dir_all(env.path().join(".vpnctl"));
        let at_kill = emu.inventory(&name);
        if i >= 2 {
            // Past the endpoint's creation: the kill left real work behind to find by tags.
            assert_eq!(
                count(&at_kill, "endpoints"),
                1,
                "nothing existed at the kill at {kill_after:?}: {at_kill}"
            );
        }
        if i % 2 == 1 {
            // Re-running setup after the kill continues where it stopped: one of everything.
            env.ok(&args);
            let inv = emu.inventory(&name);
            assert_eq!(
                (count(&inv, "endpoints"), count(&inv, "certificates")),
                (1, 1),
                "after a kill at {kill_after:?} and setup again: {inv}"
            );
            assert_eq!(count(&inv["endpoints"][0], "associations"), 1, "{inv}");
            let _ = std::fs::remove_dir_all(env.path().join(".vpnctl"));
        }
        let r = env.run(&["--name", &name, "teardown"]);
        assert_eq!(
            r.code, 0,
            "teardown after a kill at {kill_after:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        let inv = emu.inventory(&name);
        assert_eq!(
            (count(&inv, "endpoints"), count(&inv, "certificates")),
            (0, 0),
            "left after a kill at {kill_after:?}: {inv}"
        );
    }
}

/// Bad input: a clear error, and nothing created in AWS.
fn refused(emu: &Emulator, env: &Env, args: &[&str], expect: &str) {
    let before = emu.everything();
    let r = env.fails(args);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        line.to_lowercase().contains(&expect.to_lowercase()),
        "{args:?}: {line:?} should mention {expect:?}\n{}",
        r.stderr
    );
    assert_eq!(emu.everything(), before, "{args:?} created something");
}

#[test]
fn bad_input_is_refused_before_anything_is_created() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["pki", "init"]);
    let setup = |extra: &[&'static str]| -> Vec<&'static str> { [SETUP, extra].concat() };
    let cidr = |c: &'static str| {
        vec![
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            c,
        ]
    };
    refused(&emu, &env, &cidr("10.0.0.0/16"), "overlaps the VPC");
    refused(&emu, &env, &cidr("10.0.0.0/20"), "overlaps the VPC");
    refused(&emu, &env, &cidr("10.83.0.0/24"), "/12 to /22");
    refused(&emu, &env, &cidr("10.0.0.0/8"), "/12 to /22");
    refused(
        &emu,
        &env,
        &[
            "setup",
            "--vpc",
            "no-such-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            "10.83.0.0/16",
        ],
        "no-such-vpc",
    );
    refused(
        &emu,
        &env,
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "no-such-subnet",
            "--client-cidr",
            "10.83.0.0/16",
        ],
        "no-such-subnet",
    );
    refused(
        &emu,
        &env,
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "other-subnet",
            "--client-cidr",
            "10.83.0.0/16",
        ],
        "not in the VPC",
    );
    refused(
        &emu,
        &env,
        &setup(&["--subnet", "lab-private-subnet"]),
        "one subnet per Availability Zone",
    );
    refused(&emu, &env, &setup(&["--port", "8443"]), "443 or 1194");

    // No credentials at all.
    let bare = Env::new()
        .env("AWS_ENDPOINT_URL", &emu.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    bare.ok(&["pki", "init"]);
    refused(&emu, &bare, &setup(&[]), "no AWS credentials");

    // An endpoint URL where nothing listens.
    let nowhere = aws_env(Env::new(), &format!("http://127.0.0.1:{}", free_port()));
    nowhere.ok(&["pki", "init"]);
    let r = nowhere.fails(&setup(&[]));
    assert!(r.stderr.contains("cannot reach AWS"), "{}", r.stderr);
    assert!(r.stderr.contains("AWS_ENDPOINT_URL"), "{}", r.stderr);

    // A PKI whose server certificate AWS would refuse: CN "server", no domain.
    let bad = emu.env();
    bad.ok(&["pki", "init"]);
    let pki = bad.pki();
    let (ok, out) = openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "private/server.key",
            "-subj",
            "/CN=server",
            "-out",
            "server.csr",
        ],
        &pki,
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "private/ca.key",
            "-days",
            "30",
            "-out",
            "issued/server.crt",
        ],
        &pki,
    );
    assert!(ok, "{out}");
    let before = snapshot(&pki);
    refused(
        &emu,
        &bad,
        &setup(&[]),
        "would refuse the server certificate",
    );
    assert!(snapshot(&pki) == before);
}

#[test]
fn another_pki_cannot_take_over_a_deployment_of_the_same_name() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let first = emu.env();
    first.ok(&with_name("lab", SETUP));
    let before = emu.inventory("lab");
    let second = emu.env();
    let r = second.fails(&with_name("lab", SETUP));
    assert!(
        r.stderr.contains("another PKI uses this deployment name"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.inventory("lab"),
        before,
        "the first deployment must be untouched"
    );
    first.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn a_server_key_that_does_not_match_is_refused_before_anything_is_created() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    // Swap in another key: AWS's ACM would refuse the pair (moto would not).
    std::fs::copy(
        env.pki().join("private/alice.key"),
        env.pki().join("private/server.key"),
    )
    .unwrap();
    refused(&emu, &env, SETUP, "does not belong");
}

#[test]
fn setup_that_fails_its_checks_leaves_no_pki_behind() {
    let emu = Emulator::start(0.0);
    emu.lab();
    for args in [
        &[
            "setup",
            "--vpc",
            "no-such-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            "10.83.0.0/16",
        ][..],
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            "10.0.0.0/16",
        ],
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--subnet",
            "lab-private-subnet",
            "--client-cidr",
            "10.83.0.0/16",
        ],
        &[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            "10.83.0.0/16",
            "--nat",
            "other-subnet",
        ],
    ] {
        let env = emu.env();
        env.fails(args);
        assert!(!env.pki().exists(), "{args:?} left a PKI behind");
        assert!(
            !env.path().join(".vpnctl").exists(),
            "{args:?} left a state file behind"
        );
    }
}
