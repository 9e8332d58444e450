//! The CA key in AWS KMS (the emulator's): no CA private key anywhere on disk, certificates and
//! CRLs signed through KMS that openssl verifies and a real OpenVPN accepts, a CRL long enough
//! to need KMS's DIGEST signing, and a key of the wrong kind refused with nothing made.

use crate::emulator::Emulator;
use crate::harness::{crl_verify, openssl};
use crate::openvpn::handshake;

#[test]
fn a_kms_ca_signs_what_openssl_and_openvpn_accept_and_its_key_is_never_on_disk() {
    let emu = Emulator::start(0.0);
    let env = emu.env();
    let out = env.ok(&["pki", "init", "--ca-key", "kms"]);
    assert!(out.contains("KMS"), "{out}");
    let meta: serde_json::Value = serde_json::from_str(&env.read("pki/vpnctl.json")).unwrap();
    assert!(
        meta["ca_key"]
            .as_str()
            .unwrap()
            .starts_with("kms:arn:aws:kms:"),
        "{meta}"
    );
    env.ok(&["pki", "issue", "alice", "bob"]);
    // Enough revocations that the CRL's signed part passes KMS's 4,096-byte RAW limit.
    let many: Vec<String> = (0..120).map(|i| format!("gone-{i}")).collect();
    let mut args = vec!["pki", "issue"];
    args.extend(many.iter().map(String::as_str));
    env.ok(&args);
    for u in &many {
        env.ok(&["pki", "revoke", u]);
    }
    env.ok(&["pki", "revoke", "bob"]);
    let crl = std::fs::read(env.path().join("pki/crl.pem")).unwrap();
    assert!(
        crl.len() > 6000,
        "the CRL is {} bytes (its signed part must pass 4,096)",
        crl.len()
    );
    let pki = env.path().join("pki");
    // No CA private key anywhere: only the server's and the users' keys.
    let keys = crate::team::key_files(env.path());
    assert!(
        keys.iter().all(|k| !k.contains("ca")),
        "a CA key on disk: {keys:?}"
    );
    // openssl, not KMS's Verify, checks every signature: certificates, and the CRL.
    for cert in ["issued/alice.crt", "issued/server.crt"] {
        let (ok, text) = openssl(&["verify", "-CAfile", "ca.crt", cert], &pki);
        assert!(ok, "{cert}: {text}");
    }
    let (ok, text) = crl_verify(&pki, "issued/alice.crt");
    assert!(ok, "{text}");
    let revoked = std::fs::read_dir(pki.join("revoked/certs_by_serial"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (ok, text) = crl_verify(&pki, revoked.to_str().unwrap());
    assert!(!ok && text.contains("revoked"), "{text}");
    let (ok, text) = openssl(
        &["crl", "-in", "crl.pem", "-CAfile", "ca.crt", "-noout"],
        &pki,
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    // A real OpenVPN: alice connects, through the server certificate KMS signed.
    let (server_ok, client_ok, s, c) = handshake(&env, &env, "alice");
    assert!(
        server_ok && client_ok,
        "handshake failed\n--- server\n{s}\n--- client\n{c}"
    );
    // Every signature was a KMS call.
    let actions = emu.actions();
    assert!(
        actions.get("kms:Sign").copied().unwrap_or(0) >= 125,
        "{actions:?}"
    );
}

#[test]
fn a_kms_key_of_the_wrong_kind_or_none_is_refused_and_nothing_is_made() {
    let emu = Emulator::start(0.0);
    let env = emu.env();
    let symmetric = emu.python(
        "kms_key.py",
        &["--spec", "SYMMETRIC_DEFAULT", "--usage", "ENCRYPT_DECRYPT"],
    );
    let id = symmetric["KeyId"].as_str().unwrap();
    let r = env.fails(&["pki", "init", "--ca-key", &format!("kms:{id}")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("RSA_2048 SIGN_VERIFY") && r.stderr.contains("SYMMETRIC_DEFAULT"),
        "{}",
        r.stderr
    );
    assert!(!env.path().join("pki").exists());
    let r = env.fails(&["pki", "init", "--ca-key", "kms:alias/no-such-key"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(!env.path().join("pki").exists());
    let r = env.fails(&["pki", "init", "--ca-key", "kms", "--encrypt-ca-key"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A PKI there already: refused before any KMS key is made for it.
    env.ok(&["pki", "init"]);
    let creates = || emu.actions().get("kms:CreateKey").copied().unwrap_or(0);
    let before = creates();
    let r = env.fails(&["pki", "init", "--ca-key", "kms"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(creates(), before, "a KMS key was made for a refused init");
    std::fs::remove_dir_all(env.path().join("pki")).unwrap();
    // A key in another region than the one configured: its ARN says where it is.
    let far = emu.env();
    far.ok(&["pki", "init", "--ca-key", "kms", "--region", "eu-west-1"]);
    let meta = far.read("pki/vpnctl.json");
    assert!(meta.contains("arn:aws:kms:eu-west-1:"), "{meta}");
    far.ok(&["pki", "issue", "erin"]);
    // An existing key of the right kind is used as it is.
    let rsa = emu.python("kms_key.py", &[]);
    env.ok(&[
        "pki",
        "init",
        "--ca-key",
        &format!("kms:{}", rsa["Arn"].as_str().unwrap()),
    ]);
    env.ok(&["pki", "issue", "carol"]);
    // A team store with a KMS CA holds no CA key either, and another machine signs through
    // KMS too.
    let a = emu.env().env("VPNCTL_STORE", "s3://kms-team/vpn");
    a.ok(&["store", "init", "s3://kms-team/vpn"]);
    a.ok(&["pki", "init", "--ca-key", "kms"]);
    let b = emu.env().env("VPNCTL_STORE", "s3://kms-team/vpn");
    b.ok(&["pki", "issue", "dave"]);
    let copy = b.path().join("copy");
    b.ok(&["store", "pull", copy.to_str().unwrap()]);
    assert!(!copy.join("private/ca.key").exists());
    let (ok, text) = openssl(&["verify", "-CAfile", "ca.crt", "issued/dave.crt"], &copy);
    assert!(ok, "{text}");
}
