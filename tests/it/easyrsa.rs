//! Adopting a PKI made by the real easy-rsa (what AWS's guide tells people to create):
//! serials, revocations and keys kept; a server certificate AWS would refuse is caught.

use crate::harness::{Env, crl_verify, snapshot, tool};
use std::path::Path;
use std::process::Command;

/// Build an easy-rsa PKI in `dir/pki` with the given server entity, alice, and a revoked bob.
fn easyrsa_pki(dir: &Path, server: &str) {
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
        assert!(
            out.status.success(),
            "easyrsa {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init-pki"], None);
    run(&["build-ca", "nopass"], Some("Lab CA"));
    run(&["build-server-full", server, "nopass"], None);
    run(&["build-client-full", "alice", "nopass"], None);
    run(&["build-client-full", "bob", "nopass"], None);
    run(&["revoke", "bob"], None);
    run(&["gen-crl"], None);
}

fn serial_of(index: &str, cn: &str) -> String {
    index
        .lines()
        .find(|l| l.ends_with(&format!("/CN={cn}")))
        .unwrap()
        .split('\t')
        .nth(3)
        .unwrap()
        .to_string()
}

#[test]
fn import_aws_guide_pki_needs_a_server_name_then_keeps_serials_and_revocations() {
    let env = Env::new();
    easyrsa_pki(env.path(), "server");
    let src = env.path().join("pki");
    let src_index = std::fs::read_to_string(src.join("index.txt")).unwrap();
    let src_before = snapshot(&src);

    // AWS's own guide makes a server certificate with CN "server": AWS refuses it.
    let r = env.fails(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(r.stderr.contains("does not have a domain"), "{}", r.stderr);
    assert!(r.stderr.contains("--server-name"), "{}", r.stderr);
    assert!(!env.path().join("adopted").exists());

    env.ok(&[
        "--pki",
        "adopted",
        "pki",
        "import-easyrsa",
        "pki",
        "--server-name",
        "vpn.lab.example",
    ]);
    assert!(
        snapshot(&src) == src_before,
        "the easy-rsa source must only be read"
    );
    let index = env.read("adopted/index.txt");
    assert_eq!(serial_of(&index, "alice"), serial_of(&src_index, "alice"));
    assert!(
        index
            .lines()
            .any(|l| l.starts_with("R\t") && l.ends_with("/CN=bob"))
    );
    // The adopted alice is byte-for-byte easy-rsa's.
    assert_eq!(
        env.read("adopted/private/alice.key"),
        std::fs::read_to_string(src.join("private/alice.key")).unwrap()
    );
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["--pki", "adopted", "pki", "show", "server", "--json"]))
            .unwrap();
    assert_eq!(show["cn"], "vpn.lab.example");

    // Our CRL, signed by the adopted CA, still revokes bob; alice verifies.
    let adopted = env.path().join("adopted");
    let bob = src
        .join("revoked/certs_by_serial")
        .read_dir()
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| e.unwrap().path());
    let bob = bob.unwrap_or_else(|| src.join("issued/bob.crt"));
    let (ok, out) = crl_verify(&adopted, bob.to_str().unwrap());
    assert!(!ok && out.contains("revoked"), "{out}");
    let (ok, out) = crl_verify(&adopted, "issued/alice.crt");
    assert!(ok, "{out}");

    // New users go on from the adopted CA, and alice's profile connects to a real OpenVPN.
    env.ok(&["--pki", "adopted", "pki", "issue", "carol"]);
    let adopted_env = Env {
        dir: tempfile::tempdir().unwrap(),
        vars: vec![],
    };
    std::fs::rename(&adopted, adopted_env.pki()).unwrap();
    let (s_ok, c_ok, s, c) = crate::openvpn::handshake(&adopted_env, &adopted_env, "alice");
    assert!(s_ok && c_ok, "adopted alice failed\n{s}\n{c}");
}

#[test]
fn import_keeps_an_acceptable_easyrsa_server_certificate() {
    let env = Env::new();
    easyrsa_pki(env.path(), "vpn.example.com");
    let out = env.ok(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(
        out.contains("vpn.example.com") && !out.contains("new certificate"),
        "{out}"
    );
    assert_eq!(
        env.read("adopted/issued/server.crt"),
        env.read("pki/issued/vpn.example.com.crt")
    );
    let r = env.run(&["--pki", "adopted", "pki", "list"]);
    assert!(!r.stderr.contains("refuse"), "{}", r.stderr);
}

#[test]
fn import_refuses_non_pkis_and_existing_destinations() {
    let env = Env::new();
    std::fs::create_dir(env.path().join("empty")).unwrap();
    let r = env.fails(&["--pki", "adopted", "pki", "import-easyrsa", "empty"]);
    assert!(r.stderr.contains("not an easy-rsa PKI"), "{}", r.stderr);
    env.ok(&["pki", "init"]);
    std::fs::create_dir(env.path().join("er")).unwrap();
    easyrsa_pki(&env.path().join("er"), "vpn.example.com");
    let before = snapshot(&env.pki());
    let r = env.fails(&["pki", "import-easyrsa", "er/pki"]);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert!(snapshot(&env.pki()) == before);
}

#[test]
fn import_finds_certificates_by_serial_when_the_entity_name_is_not_the_cn() {
    let env = Env::new();
    easyrsa_pki(env.path(), "vpn.example.com");
    // An entity whose file name differs from its CN, as `gen-req` with a request CN makes.
    for args in [
        &["gen-req", "dave-laptop", "nopass"][..],
        &["sign-req", "client", "dave-laptop"],
    ] {
        let out = Command::new(tool("easyrsa"))
            .args(args)
            .current_dir(env.path())
            .env("EASYRSA_BATCH", "1")
            .env("EASYRSA_PKI", env.path().join("pki"))
            .env("EASYRSA_REQ_CN", "dave")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = env.ok(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(out.contains("dave"), "{out}");
    assert_eq!(
        env.read("adopted/private/dave.key"),
        env.read("pki/private/dave-laptop.key")
    );
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["--pki", "adopted", "pki", "show", "dave", "--json"]))
            .unwrap();
    assert_eq!(show["cn"], "dave");
}

#[test]
fn import_of_an_easyrsa_pki_whose_ca_key_is_encrypted() {
    let env = Env::new();
    let run = |args: &[&str]| {
        let mut c = Command::new(tool("easyrsa"));
        c.args(args)
            .current_dir(env.path())
            .env("EASYRSA_BATCH", "1")
            .env("EASYRSA_PKI", env.path().join("pki"))
            .stdin(std::process::Stdio::null());
        if args.contains(&"build-ca") {
            c.env("EASYRSA_REQ_CN", "Lab CA");
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "easyrsa {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // easy-rsa 3.1 encrypts a CA key made without `nopass` (3DES in PKCS#8).
    run(&["init-pki"]);
    run(&["--passin=pass:s3cret", "--passout=pass:s3cret", "build-ca"]);
    run(&[
        "--passin=pass:s3cret",
        "build-server-full",
        "vpn.example.com",
        "nopass",
    ]);
    run(&[
        "--passin=pass:s3cret",
        "build-client-full",
        "alice",
        "nopass",
    ]);
    let r = env.fails(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(r.stderr.contains("no passphrase"), "{}", r.stderr);
    std::fs::write(env.path().join("pass"), "s3cret\n").unwrap();
    std::fs::write(env.path().join("bad"), "nope\n").unwrap();
    let r = env.fails(&[
        "--pki",
        "adopted",
        "--ca-passphrase-file",
        "bad",
        "pki",
        "import-easyrsa",
        "pki",
    ]);
    assert!(r.stderr.contains("wrong passphrase"), "{}", r.stderr);
    assert!(!env.path().join("adopted").exists());
    let out = env.ok(&[
        "--pki",
        "adopted",
        "--ca-passphrase-file",
        "pass",
        "pki",
        "import-easyrsa",
        "pki",
    ]);
    assert!(out.contains("alice"), "{out}");
    // The adopted CA key stays encrypted: issuing needs the passphrase.
    assert!(
        env.fails(&["--pki", "adopted", "pki", "issue", "bob"])
            .stderr
            .contains("no passphrase")
    );
    env.ok(&[
        "--pki",
        "adopted",
        "--ca-passphrase-file",
        "pass",
        "pki",
        "issue",
        "bob",
    ]);
    let (ok, out) = crl_verify(&env.path().join("adopted"), "issued/bob.crt");
    assert!(ok, "{out}");
}
