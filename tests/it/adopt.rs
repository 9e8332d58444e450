//! `vpnctl adopt`: an endpoint made by hand from AWS's guide (easy-rsa, ACM imports, boto3),
//! taken over with only tags changed, and from then on every command works on it.

use crate::emulator::Emulator;
use crate::harness::{Env, tool};
use std::path::Path;
use std::process::Command;

/// The easy-rsa PKI of AWS's guide in `dir/pki`: CA, server vpn.example.com, client1 and bob.
fn words(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn aws_guide_pki(dir: &Path) {
    let run = |args: &[&str], cn: Option<&str>| {
        let mut c = Command::new(tool("easyrsa"));
        c.args(args)
            .current_dir(dir)
            .env("EASYRSA_BATCH", "1")
            .env("EASYRSA_PKI", dir.join("pki"));
        if let Some(cn) = cn {
            c.env("EASYRSA_REQ_CN", cn);
        }
        let out = c.output().expect("easyrsa");
        assert!(out.status.success(), "easyrsa {args:?}: {out:?}");
    };
    run(&["init-pki"], None);
    run(&["build-ca", "nopass"], Some("Lab CA"));
    run(&["build-server-full", "vpn.example.com", "nopass"], None);
    run(&["build-client-full", "client1.domain.tld", "nopass"], None);
    run(&["build-client-full", "bob", "nopass"], None);
}

#[test]
fn an_endpoint_made_from_aws_s_guide_is_adopted_with_tags_only_then_managed_like_any() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let easy = env.path().join("easy");
    std::fs::create_dir_all(&easy).unwrap();
    aws_guide_pki(&easy);
    let pki = easy.join("pki");
    let made = emu.python(
        "by_hand.py",
        &[
            "--pki",
            pki.to_str().unwrap(),
            "--server",
            "vpn.example.com",
            "--client",
            "client1.domain.tld",
            "--cert-name",
            "from-the-guide",
        ],
    );
    let id = made["endpoint"].as_str().unwrap().to_string();
    let adopt = |extra: &[&str]| -> Vec<String> {
        ["--name", "lab", "adopt", "--endpoint", id.as_str()]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let before = emu.everything();

    // No PKI here: the hint says to adopt the easy-rsa PKI first.
    let r = env.fails(&words(&adopt(&[])));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("pki import-easyrsa"), "{}", r.stderr);
    // A PKI of another CA: refused, with the same hint, nothing changed.
    env.ok(&["--pki", "other", "--name", "lab", "pki", "init"]);
    let r = env.fails(&[&["--pki", "other"][..], &words(&adopt(&[]))].concat());
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("trusts clients of another CA"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("pki import-easyrsa"), "{}", r.stderr);
    // A bad id: exit 2 before any call.
    let r = env.fails(&["--name", "lab", "adopt", "--endpoint", "vpn-123"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        emu.everything(),
        before,
        "a refused adopt changed something"
    );

    // The easy-rsa PKI adopted first, then the endpoint: the dry run shows the tags only.
    env.ok(&[
        "--name",
        "lab",
        "pki",
        "import-easyrsa",
        pki.to_str().unwrap(),
    ]);
    let dry = env.ok(&words(&adopt(&["--dry-run"])));
    assert!(dry.contains(&format!("tag the endpoint {id}")), "{dry}");
    assert!(dry.contains(made["server"].as_str().unwrap()), "{dry}");
    assert!(dry.contains(made["client"].as_str().unwrap()), "{dry}");
    assert_eq!(emu.everything(), before, "the dry run changed something");
    let out = env.ok(&words(&adopt(&[])));
    assert!(
        out.contains(&format!("endpoint {id} is now deployment lab")),
        "{out}"
    );

    // Tags only: the endpoint as it was, plus the deployment's tags; its Name kept.
    let inv = emu.inventory("lab");
    let ep = &inv["endpoints"][0];
    assert_eq!(ep["id"], id.as_str(), "{inv}");
    assert_eq!(ep["tags"]["Name"], "by-hand");
    assert_eq!(ep["tags"]["vpnctl:managed-by"], "vpnctl");
    // The certificates keep their Name; the client root is marked as such.
    let tags_of = |arn: &str| emu.python("inventory.py", &["--tags", arn]);
    let client_tags = tags_of(made["client"].as_str().unwrap());
    assert_eq!(client_tags["Name"], "from-the-guide", "{client_tags}");
    assert_eq!(
        client_tags["vpnctl:certificate-role"], "client-root",
        "{client_tags}"
    );
    assert_eq!(
        tags_of(made["server"].as_str().unwrap())["Name"],
        "from-the-guide"
    );
    let mut certs: Vec<&str> = inv["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    certs.sort();
    let mut want = [
        made["server"].as_str().unwrap(),
        made["client"].as_str().unwrap(),
    ];
    want.sort();
    assert_eq!(certs, want, "{inv}");
    let mut after = emu.everything();
    let mut was = before.clone();
    for doc in [&mut after, &mut was] {
        for e in doc["endpoints"].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("tags");
        }
    }
    assert_eq!(after, was, "adopt changed more than tags");
    let again = env.ok(&words(&adopt(&[])));
    assert!(again.contains("is already deployment lab"), "{again}");
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&words(&adopt(&["--json"])))).expect("one JSON document");
    assert_eq!(json["ok"], true, "{json}");

    // From here on it is the deployment's: status, a new user's profile, revoke, sleep, wake.
    let status = env.ok(&["--name", "lab", "status"]);
    assert!(status.contains(&id), "{status}");
    assert!(
        status.contains("deployment lab in us-east-1: up"),
        "{status}"
    );
    env.ok(&["--name", "lab", "pki", "issue", "carol"]);
    let profile = env.ok(&["--name", "lab", "profile", "carol"]);
    let ovpn = std::fs::read_to_string(env.path().join("profiles/carol.ovpn")).unwrap();
    let dns = ep["dns_name"].as_str().unwrap().trim_start_matches("*.");
    assert!(ovpn.contains(dns), "{profile}\n{ovpn}");
    env.ok(&["--name", "lab", "pki", "revoke", "bob"]);
    let crl = emu.inventory("lab")["endpoints"][0]["crl"].clone();
    assert!(
        crl.as_str().is_some_and(|c| c.contains("BEGIN X509 CRL")),
        "{crl}"
    );
    env.ok(&["--name", "lab", "sleep", "--yes"]);
    let inv = emu.inventory("lab");
    assert!(
        inv["endpoints"][0]["associations"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{inv}"
    );
    env.ok(&["--name", "lab", "wake"]);
    let inv = emu.inventory("lab");
    assert_eq!(
        inv["endpoints"][0]["associations"][0]["subnet"], made["subnet"],
        "{inv}"
    );
    // Teardown removes it all, the certificates made by hand included.
    env.ok(&["--name", "lab", "teardown", "--yes"]);
    let inv = emu.inventory("lab");
    assert!(inv["endpoints"].as_array().unwrap().is_empty(), "{inv}");
    assert!(inv["certificates"].as_array().unwrap().is_empty(), "{inv}");
}

#[test]
fn adopt_refuses_an_endpoint_of_another_deployment_and_a_second_endpoint() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env: Env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    // crowd.py: endpoint 1 is tagged for deployment "other".
    let crowd = emu.crowd(1, 2);
    let theirs = crowd["endpoints"][1].as_str().unwrap();
    let r = env.fails(&["--name", "lab", "adopt", "--endpoint", theirs]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("belongs to deployment 'other'"),
        "{}",
        r.stderr
    );
    // A deployment that has its endpoint adopts no second one.
    env.ok(&crate::emulator::lab_setup(&[]));
    let untagged = crowd["endpoints"][0].as_str().unwrap();
    let r = env.fails(&["--name", "lab", "adopt", "--endpoint", untagged]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("already has the endpoint"),
        "{}",
        r.stderr
    );
}

#[test]
fn adopt_refuses_what_it_could_not_manage_and_leaves_a_shared_ca_alone() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env: Env = emu.env();
    let easy = env.path().join("easy");
    std::fs::create_dir_all(&easy).unwrap();
    aws_guide_pki(&easy);
    let pki = easy.join("pki");
    let pki_s = pki.to_str().unwrap();
    env.ok(&["--name", "lab", "pki", "import-easyrsa", pki_s]);
    let guide = [
        "--pki",
        pki_s,
        "--server",
        "vpn.example.com",
        "--client",
        "bob",
    ];

    // Active Directory only: no certificate to trust this PKI with.
    let ad = emu.python(
        "by_hand.py",
        &[&guide[..], &["--directory-only", "--no-associate"]].concat(),
    );
    let before = emu.everything();
    let r = env.fails(&[
        "--name",
        "lab",
        "adopt",
        "--endpoint",
        ad["endpoint"].as_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no certificate (mutual) authentication"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.everything(),
        before,
        "a refused adopt changed something"
    );

    // A server certificate of another CA (this PKI's CA trusts the clients, but setup could
    // never replace the server's): refused.
    let other = env.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    aws_guide_pki(&other);
    let other_pki = other.join("pki");
    let mixed = emu.python(
        "by_hand.py",
        &[
            &guide[..],
            &[
                "--server-pki",
                other_pki.to_str().unwrap(),
                "--no-associate",
            ],
            &["--client-cidr", "10.78.0.0/22"],
        ]
        .concat(),
    );
    let before = emu.everything();
    let r = env.fails(&[
        "--name",
        "lab",
        "adopt",
        "--endpoint",
        mixed["endpoint"].as_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("server certificate"), "{}", r.stderr);
    assert!(
        r.stderr.contains("was not issued by this PKI's CA"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.everything(),
        before,
        "a refused adopt changed something"
    );

    // Two endpoints trusting one client root certificate: adopting one leaves the shared
    // certificate untagged (teardown could never delete it while the other uses it).
    let first = emu.python(
        "by_hand.py",
        &[
            &guide[..],
            &["--no-associate", "--client-cidr", "10.79.0.0/22"],
        ]
        .concat(),
    );
    let client = first["client"].as_str().unwrap();
    let second = emu.python(
        "by_hand.py",
        &[
            &guide[..],
            &[
                "--client-arn",
                client,
                "--no-associate",
                "--client-cidr",
                "10.80.0.0/22",
            ],
        ]
        .concat(),
    );
    let r = env.run(&[
        "--name",
        "lab",
        "adopt",
        "--endpoint",
        second["endpoint"].as_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the certificate {client} is also used by another endpoint"
        )),
        "{}",
        r.stderr
    );
    let inv = emu.inventory("lab");
    let certs = inv["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "only the server certificate: {inv}");
    assert_eq!(certs[0], second["server"], "{inv}");
}
