//! Living with the endpoint against the emulator: revocation that reaches the endpoint (whose
//! CRL import resets every session, as on AWS) and ends the user's sessions (and that a real OpenVPN enforces with the CRL the endpoint holds),
//! connections and kick, sleep and wake.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::free_port;
use serde_json::Value;

fn endpoint(emu: &Emulator) -> Value {
    let inv = emu.inventory("lab");
    assert_eq!(inv["endpoints"].as_array().unwrap().len(), 1, "{inv}");
    inv["endpoints"][0].clone()
}

fn states(ep: &Value, user: &str) -> Vec<String> {
    ep["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["username"] == user)
        .map(|c| c["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn revoke_gives_the_endpoint_the_crl_and_locks_out_only_that_user() {
    let emu = Emulator::start(0.2);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    // setup gave the endpoint the (empty) CRL already.
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(
        norm(endpoint(&emu)["crl"].as_str().unwrap_or("")),
        norm(&env.read("pki/crl.pem"))
    );
    let id = endpoint(&emu)["id"].as_str().unwrap().to_string();
    emu.add_connection(&id, "alice");
    emu.add_connection(&id, "bob");

    // Keep alice's profile as she has it, pointed at a loopback OpenVPN.
    let port = free_port();
    let alice_profile =
        crate::openvpn::loopback_copy(&env, "profiles/alice.ovpn", port, "alice-local.ovpn");

    let r = env.run(&["--name", "lab", "pki", "revoke", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout;
    assert!(
        out.contains("verified on the endpoint") && out.contains("1 live connection(s) of alice"),
        "{out}"
    );
    // Told before it happens: on AWS a CRL import resets every connection of the endpoint.
    assert!(
        r.stderr.contains("resets every live connection"),
        "{}",
        r.stderr
    );
    let ep = endpoint(&emu);
    let endpoint_crl = ep["crl"].as_str().unwrap().to_string();
    assert_eq!(
        norm(&endpoint_crl),
        norm(&env.read("pki/crl.pem")),
        "the endpoint must hold pki/crl.pem"
    );
    assert!(
        !states(&ep, "alice").contains(&"active".to_string()),
        "alice still connected: {ep}"
    );
    // As on AWS, the import reset bob's session too; bob reconnects (checked with OpenVPN
    // below), alice cannot.
    assert!(
        !states(&ep, "bob").contains(&"active".to_string()),
        "a CRL import resets every connection: {ep}"
    );

    // The CRL the endpoint holds is one with which a real OpenVPN refuses alice.
    let crl_file = env.path().join("endpoint-crl.pem");
    std::fs::write(&crl_file, &endpoint_crl).unwrap();
    let (s_ok, c_ok, s, c) = crate::openvpn::handshake_with_crl(&env, &alice_profile, &crl_file);
    assert!(!s_ok && !c_ok, "revoked alice connected\n{s}\n{c}");
    assert!(
        s.contains("CRL CHECK FAILED") || s.contains("certificate revoked"),
        "{s}"
    );
    let port = free_port();
    let bob = env.path().join("bob-local.ovpn");
    env.ok(&[
        "--name",
        "lab",
        "profile",
        "bob",
        "--remote",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "-o",
        bob.to_str().unwrap(),
    ]);
    let (s_ok, c_ok, s, c) = crate::openvpn::handshake_with_crl(&env, &bob, &crl_file);
    assert!(s_ok && c_ok, "bob was locked out\n{s}\n{c}");

    // --local-only touches only the PKI.
    env.ok(&["--name", "lab", "pki", "issue", "carol"]);
    emu.add_connection(&id, "carol");
    env.ok(&["--name", "lab", "pki", "revoke", "carol", "--local-only"]);
    assert_eq!(states(&endpoint(&emu), "carol"), vec!["active".to_string()]);
    assert_ne!(
        norm(endpoint(&emu)["crl"].as_str().unwrap()),
        norm(&env.read("pki/crl.pem"))
    );
    // ... and the next setup brings the endpoint's CRL up to date.
    env.ok(&lab_setup(&[]));
    assert_eq!(
        norm(endpoint(&emu)["crl"].as_str().unwrap()),
        norm(&env.read("pki/crl.pem"))
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn connections_and_kick() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    let id = endpoint(&emu)["id"].as_str().unwrap().to_string();
    assert!(
        env.ok(&["--name", "lab", "connections"])
            .contains("no active connections")
    );
    emu.add_connection(&id, "alice");
    emu.add_connection(&id, "bob");
    let list: Value =
        serde_json::from_str(&env.ok(&["--name", "lab", "connections", "--json"])).unwrap();
    let users: Vec<&str> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 2, "{list}");
    assert!(users.contains(&"alice") && users.contains(&"bob"));
    let table = env.ok(&["--name", "lab", "connections"]);
    assert!(
        table.contains("alice") && table.contains("10.83.0.9"),
        "{table}"
    );
    assert!(
        env.ok(&["--name", "lab", "kick", "bob"])
            .contains("ended 1 connection")
    );
    let ep = endpoint(&emu);
    assert!(!states(&ep, "bob").contains(&"active".to_string()));
    assert_eq!(states(&ep, "alice"), vec!["active".to_string()]);
    // Kicking again is a note, not an error; a name the PKI never issued is an error.
    let r = env.run(&["--name", "lab", "kick", "bob"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no live connection"), "{}", r.stderr);
    let r = env.fails(&["--name", "lab", "kick", "nobody"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("has no user 'nobody'"), "{}", r.stderr);
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn sleep_stops_association_billing_and_wake_restores_everything() {
    let emu = Emulator::start(0.2);
    emu.lab();
    let env = emu.env();
    env.ok(&[
        "--name",
        "lab",
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
        "--authorize",
        "10.9.0.0/16",
    ]);
    let before = endpoint(&emu);
    let set = |ep: &Value, key: &str, f: &dyn Fn(&Value) -> String| -> Vec<String> {
        let mut v: Vec<String> = ep[key].as_array().unwrap().iter().map(f).collect();
        v.sort();
        v
    };
    let subnets = |ep: &Value| {
        set(ep, "associations", &|a| {
            format!("{}:{}", a["subnet"], a["state"])
        })
    };
    let routes = |ep: &Value| {
        set(ep, "routes", &|r| {
            format!("{}>{}:{}", r["cidr"], r["subnet"], r["state"])
        })
    };
    let rules = |ep: &Value| set(ep, "rules", &|r| format!("{}:{}", r["cidr"], r["state"]));

    env.ok(&["--name", "lab", "sleep"]);
    let asleep = endpoint(&emu);
    assert_eq!(asleep["id"], before["id"], "the endpoint is kept");
    assert_eq!(asleep["dns_name"], before["dns_name"], "and its DNS name");
    assert!(
        asleep["associations"].as_array().unwrap().is_empty(),
        "{asleep}"
    );
    let st: Value = serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
    assert_eq!(st["state"], "asleep (no associations)");
    assert_eq!(st["billing"]["per_hour"].as_f64(), Some(0.0), "{st}");
    assert!(
        env.ok(&["--name", "lab", "sleep"])
            .contains("already asleep")
    );

    env.ok(&["--name", "lab", "wake"]);
    let awake = endpoint(&emu);
    assert_eq!(subnets(&awake), subnets(&before));
    assert_eq!(routes(&awake), routes(&before), "routes restored");
    assert_eq!(rules(&awake), rules(&before), "rules kept");
    assert_eq!(
        awake["tags"]["vpnctl:asleep-subnets"], "",
        "wake clears the sleep record: {awake}"
    );
    let state: Value = serde_json::from_str(&env.read(".vpnctl/lab.json")).unwrap();
    assert_eq!(
        state["associated_at"].as_object().unwrap().len(),
        2,
        "wake records when billing restarted: {state}"
    );
    let st: Value = serde_json::from_str(&env.ok(&["--name", "lab", "status", "--json"])).unwrap();
    assert!(
        (st["billing"]["per_hour"].as_f64().unwrap() - 0.2).abs() < 1e-9,
        "{st}"
    );
    assert!(env.ok(&["--name", "lab", "wake"]).contains("awake already"));
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn an_older_copy_of_the_pki_cannot_take_revocations_back() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    // A copy of the PKI from before bob's revocation.
    let old = crate::revocation::copy_of(&env, &emu);
    env.ok(&["--name", "lab", "pki", "revoke", "bob"]);
    let crl_after_revoke = endpoint(&emu)["crl"].clone();
    let r = old.fails(&lab_setup(&[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("would un-revoke") && r.stderr.contains("merge-crl"),
        "{}",
        r.stderr
    );
    assert_eq!(
        endpoint(&emu)["crl"],
        crl_after_revoke,
        "the endpoint keeps the newer CRL"
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn setup_on_an_asleep_endpoint_clears_the_sleep_record() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let setup = |subnet: &str| {
        env.ok(&[
            "--name",
            "lab",
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            subnet,
            "--client-cidr",
            "10.83.0.0/16",
        ])
    };
    setup("lab-public-subnet");
    env.ok(&["--name", "lab", "sleep"]);
    setup("lab-public-b");
    assert_eq!(
        endpoint(&emu)["tags"]["vpnctl:asleep-subnets"],
        "",
        "setup woke it from the settings: the record must go"
    );
    env.ok(&["--name", "lab", "sleep"]);
    env.ok(&["--name", "lab", "wake"]);
    let ep = endpoint(&emu);
    let subnets: Vec<&str> = ep["associations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subnet"].as_str().unwrap())
        .collect();
    assert_eq!(
        subnets.len(),
        1,
        "wake must restore only what the last sleep recorded: {ep}"
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn two_setups_at_once_make_one_endpoint() {
    let emu = Emulator::start(0.5);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    let args = [
        "--name",
        "lab",
        "setup",
        "--vpc",
        "lab-vpc",
        "--subnet",
        "lab-public-subnet",
        "--client-cidr",
        "10.83.0.0/16",
    ];
    let a = env
        .command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let inv = emu.inventory("lab");
    assert_eq!(inv["endpoints"].as_array().unwrap().len(), 1, "{inv}");
    assert_eq!(inv["certificates"].as_array().unwrap().len(), 1, "{inv}");
    env.ok(&["--name", "lab", "teardown"]);
}

/// Runs `code` with the emulator's Python (boto3), the emulator's URL as its first argument
/// and `args` after it.
fn emulator_python(emu: &Emulator, code: &str, args: &[&str]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::process::Command::new(root.join("tests/emulator/run"))
        .arg("--setup")
        .output()
        .expect("tests/emulator/run --setup");
    let python = std::path::PathBuf::from(String::from_utf8_lossy(&venv.stdout).trim().to_string())
        .join("bin/python");
    let out = std::process::Command::new(python)
        .args(["-c", code, &emu.url])
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_sleep_record_longer_than_a_tag_value_goes_over_numbered_tags() {
    let emu = Emulator::start(0.0);
    emu.lab();
    // AWS's limits: a tag value of at most 256 characters, 200 rules an endpoint, …
    emu.config(r#"{"quotas": true}"#);
    let env = emu.env();
    // 151 rules (the VPC's, 0.0.0.0/0 and 149 more): about 2,300 characters, ten tag values.
    let extra: Vec<String> = (0..149)
        .map(|i| format!("10.{}.{}.0/24", 100 + i / 100, 100 + i % 100))
        .collect();
    let mut args = vec![
        "--name",
        "lab",
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
    ];
    for c in &extra {
        args.extend(["--authorize", c.as_str()]);
    }
    env.ok(&args);
    let set = |ep: &Value, key: &str, f: &dyn Fn(&Value) -> String| -> Vec<String> {
        let mut v: Vec<String> = ep[key].as_array().unwrap().iter().map(f).collect();
        v.sort();
        v
    };
    let seen = |ep: &Value| {
        (
            set(ep, "associations", &|a| {
                format!("{}:{}", a["subnet"], a["state"])
            }),
            set(ep, "rules", &|r| format!("{}:{}", r["cidr"], r["state"])),
            set(ep, "routes", &|r| {
                format!("{}>{}:{}", r["cidr"], r["subnet"], r["state"])
            }),
        )
    };
    let before = seen(&endpoint(&emu));
    assert_eq!(before.1.len(), 150 + 1, "the VPC's, 0.0.0.0/0 and 149 more");

    env.ok(&["--name", "lab", "sleep"]);
    let asleep = endpoint(&emu);
    assert!(asleep["associations"].as_array().unwrap().is_empty());
    let tags = asleep["tags"].as_object().unwrap();
    let record: Vec<(&String, &str)> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("vpnctl:asleep-"))
        .map(|(k, v)| (k, v.as_str().unwrap()))
        .collect();
    assert!(
        tags.contains_key("vpnctl:asleep-rules-2"),
        "the rules go on in numbered tags: {record:?}"
    );
    assert!(record.iter().all(|(_, v)| v.len() <= 256), "{record:?}");
    assert!(tags.len() <= 50, "{}", tags.len());
    assert!(
        tags["vpnctl:asleep-routes"]
            .as_str()
            .unwrap()
            .starts_with("0.0.0.0/0>subnet-"),
        "{record:?}"
    );

    // Rules survive a sleep; take them away, so that wake must restore them from every part.
    let id = asleep["id"].as_str().unwrap();
    emulator_python(
        &emu,
        "import sys, boto3\n\
         ec2 = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1', \
         aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=sys.argv[2])\n\
         for r in rules['AuthorizationRules']:\n    \
             ec2.revoke_client_vpn_ingress(ClientVpnEndpointId=sys.argv[2], \
             TargetNetworkCidr=r['DestinationCidr'], RevokeAllGroups=True)",
        &[id],
    );
    assert!(endpoint(&emu)["rules"].as_array().unwrap().is_empty());

    env.ok(&["--name", "lab", "wake"]);
    let awake = endpoint(&emu);
    assert_eq!(seen(&awake), before, "every subnet, rule and route is back");
    let left: Vec<_> = awake["tags"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| k.starts_with("vpnctl:asleep-") && *v != "")
        .collect();
    assert!(left.is_empty(), "wake clears every part: {left:?}");
    assert!(env.ok(&["--name", "lab", "wake"]).contains("awake already"));
    env.ok(&["--name", "lab", "teardown"]);
}
