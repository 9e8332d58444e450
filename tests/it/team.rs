//! A team's PKI in S3 (the emulator's): two admins' machines (separate working directories)
//! issuing and revoking at the same time, moving a PKI in and a copy out, requests signed
//! without the user's key ever leaving their directory, and bad input that changes nothing.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::{Env, openssl};
use std::collections::BTreeSet;

const STORE: &str = "s3://team-pki/vpn";

fn admin(emu: &Emulator) -> Env {
    emu.env().env("VPNCTL_STORE", STORE)
}

fn users_and_serials(env: &Env) -> Vec<(String, String)> {
    let list: serde_json::Value =
        serde_json::from_str(&env.ok(&["pki", "list", "--json"])).unwrap();
    list["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "user")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["serial"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The files under `root` that hold a private key, relative to it, sorted.
pub fn key_files(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read_to_string(&p).is_ok_and(|t| t.contains("PRIVATE KEY")) {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn two_admins_issuing_at_once_get_unique_serials_and_lose_nothing() {
    let emu = Emulator::start(0.0);
    let a = admin(&emu);
    let b = admin(&emu);
    a.ok(&["store", "init", STORE]);
    a.ok(&["pki", "init"]);
    // Each machine issues 20 users, one process after another, both machines at once.
    let run = |env: &Env, who: &str| {
        for i in 0..20 {
            env.ok(&["pki", "issue", &format!("{who}-{i}")]);
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| run(&a, "a"));
        s.spawn(|| run(&b, "b"));
    });
    for env in [&a, &b] {
        let users = users_and_serials(env);
        assert_eq!(users.len(), 40, "{users:?}");
        let serials: BTreeSet<&String> = users.iter().map(|(_, s)| s).collect();
        assert_eq!(serials.len(), 40, "a serial was given twice: {users:?}");
    }
    // Each user's key is on the machine that issued it, and only there; the CA key on none.
    for (env, mine, theirs) in [(&a, "a", "b"), (&b, "b", "a")] {
        let keys = key_files(&env.path().join("pki"));
        assert!(!keys.iter().any(|k| k.contains("ca.key")), "{keys:?}");
        assert_eq!(
            keys.iter()
                .filter(|k| k.starts_with(&format!("private/{mine}-")))
                .count(),
            20,
            "{keys:?}"
        );
        assert!(
            !keys
                .iter()
                .any(|k| k.starts_with(&format!("private/{theirs}-"))),
            "{keys:?}"
        );
    }
    // The log names all 40, with the caller STS gave.
    let log: serde_json::Value = serde_json::from_str(&a.ok(&["pki", "log", "--json"])).unwrap();
    let issues: Vec<&serde_json::Value> = log["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "issue")
        .collect();
    assert_eq!(issues.len(), 40);
    assert!(
        issues
            .iter()
            .all(|r| r["who"].as_str().unwrap().starts_with("arn:aws:"))
    );
}

#[test]
fn concurrent_revokes_from_two_machines_both_reach_the_crl_and_the_endpoint() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let a = admin(&emu);
    a.ok(&["store", "init", STORE]);
    a.ok(&["--name", "lab", "pki", "init"]);
    a.ok(&["--name", "lab", "pki", "issue", "u1", "u2", "u3"]);
    a.ok(&lab_setup(&[]));
    // The second admin's machine has never run setup: the store brings the deployment.
    let b = admin(&emu);
    b.ok(&["--name", "lab", "status"]);
    let serial = |user: &str| {
        users_and_serials(&a)
            .into_iter()
            .find(|(u, _)| u == user)
            .unwrap()
            .1
    };
    let (s1, s2) = (serial("u1"), serial("u2"));
    let revoke =
        |env: &Env, user: &str| env.run(&["--name", "lab", "pki", "revoke", user, "--yes"]);
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| revoke(&a, "u1"));
        let hb = s.spawn(|| revoke(&b, "u2"));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    for r in [ra, rb] {
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let crl_serials = |pem: &str| -> BTreeSet<String> {
        let f = a.path().join("check.crl");
        std::fs::write(&f, pem).unwrap();
        let (ok, text) = openssl(
            &["crl", "-noout", "-text", "-in", f.to_str().unwrap()],
            a.path(),
        );
        assert!(ok, "{text}");
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
            .map(|s| s.trim().to_ascii_uppercase())
            .collect()
    };
    let inv = emu.inventory("lab");
    let on_endpoint = crl_serials(inv["endpoints"][0]["crl"].as_str().unwrap());
    assert!(
        on_endpoint.contains(&s1) && on_endpoint.contains(&s2),
        "{on_endpoint:?} lacks {s1} or {s2}"
    );
    // The store's CRL (as a fresh machine mirrors it) has both too, and u3 is untouched.
    let c = admin(&emu);
    c.ok(&["--name", "lab", "pki", "list"]);
    let theirs = crl_serials(&c.read("pki/crl.pem"));
    assert!(theirs.contains(&s1) && theirs.contains(&s2), "{theirs:?}");
    assert!(!theirs.contains(&serial("u3")));
    a.ok(&["--name", "lab", "teardown", "--yes"]);
    // The other machine learns of the teardown (its old record is not brought back).
    assert!(b.path().join(".vpnctl/lab.json").exists());
    b.run(&["--name", "lab", "status"]);
    assert!(!b.path().join(".vpnctl/lab.json").exists());
    a.run(&["--name", "lab", "status"]);
    assert!(!a.path().join(".vpnctl/lab.json").exists());
}

#[test]
fn a_local_pki_moves_into_the_store_and_a_copy_comes_out_for_offline_work() {
    let emu = Emulator::start(0.0);
    let local = emu.env();
    local.ok(&["pki", "init"]);
    local.ok(&["pki", "issue", "alice", "bob"]);
    local.ok(&["pki", "revoke", "bob"]);
    let before = users_and_serials(&local);
    let crl_before = local.read("pki/crl.pem");
    local.ok(&["store", "init", STORE]);
    let out = local.ok(&["store", "push", STORE]);
    assert!(out.contains("working copy"), "{out}");
    // The CA key left the machine; serials, the CRL (number and all) and alice's key stayed.
    assert!(!local.path().join("pki/private/ca.key").exists());
    assert!(local.path().join("pki/private/alice.key").exists());
    assert_eq!(users_and_serials(&local), before);
    assert_eq!(local.read("pki/crl.pem"), crl_before);
    // The directory now works with the store without being told (it records it).
    local.ok(&["pki", "issue", "carol"]);
    let other = admin(&emu);
    assert!(users_and_serials(&other).iter().any(|(u, _)| u == "carol"));
    // A second push never replaces the store.
    let again = emu.env();
    again.ok(&["pki", "init"]);
    let r = again.fails(&["store", "push", STORE]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("already holds a PKI"), "{}", r.stderr);
    // A pulled copy is a whole local PKI: it signs offline; its revocation goes back by merge.
    let offline = other.path().join("offline");
    other.ok(&["store", "pull", offline.to_str().unwrap()]);
    assert!(offline.join("private/ca.key").exists());
    let off = emu.env();
    let off_pki = offline.to_str().unwrap();
    off.ok(&["--pki", off_pki, "pki", "revoke", "carol"]);
    other.ok(&["pki", "merge-crl", &format!("{off_pki}/crl.pem")]);
    let list = other.ok(&["pki", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("carol") && l.contains("revoked")),
        "{list}"
    );
    // The admin policy allows every S3 call these commands made.
    let policy = other.ok(&["store", "policy"]);
    for (action, _) in emu.actions() {
        if action.starts_with("s3:") {
            assert!(
                policy.contains(&format!("\"{action}\"")),
                "{action} not in\n{policy}"
            );
        }
    }
}

#[test]
fn a_users_request_is_signed_without_their_key_and_a_taken_name_is_refused() {
    let emu = Emulator::start(0.0);
    let admin = admin(&emu);
    admin.ok(&["store", "init", STORE]);
    admin.ok(&["pki", "init"]);
    admin.ok(&["pki", "issue", "alice"]);
    let user = emu.env();
    user.ok(&["pki", "request", "dave"]);
    user.ok(&["pki", "request", "alice"]);
    assert!(user.path().join("dave.key").exists() && user.path().join("dave.csr").exists());
    let csr = |name: &str| user.path().join(format!("{name}.csr"));
    let signed = admin.ok(&[
        "pki",
        "sign",
        csr("dave").to_str().unwrap(),
        "--remote",
        "vpn.example.com",
    ]);
    assert!(signed.contains("signed dave"), "{signed}");
    // The user puts their own key into the profile that came back: only theirs fits.
    let profile = user.path().join("dave.ovpn");
    assert!(
        !std::fs::read_to_string(&profile)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let wrong = user.fails(&["pki", "assemble", "dave.ovpn", "--key", "alice.key"]);
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    user.ok(&["pki", "assemble", "dave.ovpn", "--key", "dave.key"]);
    assert_eq!(crate::harness::mode(&profile), 0o600);
    let port = crate::harness::free_port();
    let local = crate::openvpn::loopback_copy(&user, "dave.ovpn", port, "dave-loopback.ovpn");
    let (server_ok, client_ok, s, c) = crate::openvpn::handshake_with(&admin, &local);
    assert!(
        server_ok && client_ok,
        "handshake failed\n--- server\n{s}\n--- client\n{c}"
    );
    let crt = user.path().join("dave.crt");
    let (ok, text) = openssl(
        &[
            "verify",
            "-CAfile",
            admin.path().join("pki/ca.crt").to_str().unwrap(),
            crt.to_str().unwrap(),
        ],
        user.path(),
    );
    assert!(ok, "{text}");
    // The certificate holds the user's own public key.
    let (_, from_cert) = openssl(
        &["x509", "-noout", "-pubkey", "-in", crt.to_str().unwrap()],
        user.path(),
    );
    let (_, from_key) = openssl(
        &[
            "pkey",
            "-pubout",
            "-in",
            user.path().join("dave.key").to_str().unwrap(),
        ],
        user.path(),
    );
    assert_eq!(from_cert, from_key);
    assert!(!admin.path().join("pki/private/dave.key").exists());
    // A bad --remote is refused before anything is signed (a signed certificate without its
    // file could not be signed again).
    user.ok(&["pki", "request", "emma"]);
    let r = admin.fails(&[
        "pki",
        "sign",
        csr("emma").to_str().unwrap(),
        "--remote",
        "vpn.example.com:443",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!admin.ok(&["pki", "list"]).contains("emma"));
    admin.ok(&["pki", "sign", csr("emma").to_str().unwrap()]);
    // A name that holds a valid certificate is refused; nothing is written.
    let r = admin.fails(&["pki", "sign", csr("alice").to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("alice"), "{}", r.stderr);
    assert!(!user.path().join("alice.crt").exists());
    // A request altered after signing does not verify.
    let mut text = std::fs::read_to_string(csr("dave")).unwrap();
    text = text.replacen("MII", "MIJ", 1);
    std::fs::write(user.path().join("bad.csr"), text).unwrap();
    let r = admin.fails(&["pki", "sign", user.path().join("bad.csr").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_missing_bucket_or_a_refused_write_is_a_clear_error_and_changes_nothing() {
    let emu = Emulator::start(0.0);
    let env = emu.env().env("VPNCTL_STORE", "s3://no-such-bucket/vpn");
    let r = env.fails(&["pki", "init"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("no-such-bucket") && r.stderr.contains("store init"),
        "{}",
        r.stderr
    );
    assert!(!env.path().join("pki").exists());
    let bad = env.fails(&["--store", "s3://Bad_Name", "pki", "list"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    // A local PKI is never mirrored over (its CA key would go): only `store push` converts it.
    let local = emu.env();
    local.ok(&["pki", "init"]);
    let before = crate::harness::snapshot(&local.path().join("pki"));
    let r = local.fails(&["--store", STORE, "pki", "list"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("store push"), "{}", r.stderr);
    assert_eq!(crate::harness::snapshot(&local.path().join("pki")), before);

    let a = admin(&emu);
    a.ok(&["store", "init", STORE]);
    a.ok(&["pki", "init"]);
    a.ok(&["pki", "issue", "alice"]);
    let index_before = a.read("pki/index.txt");
    let crl_before = a.read("pki/crl.pem");
    emu.fault("PutObject", "AccessDenied", 10);
    for args in [
        &["pki", "issue", "bob"][..],
        &["pki", "revoke", "alice"][..],
    ] {
        let r = a.fails(args);
        assert_eq!(r.code, 6, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("access denied") && r.stderr.contains("store policy"),
            "{}",
            r.stderr
        );
    }
    emu.clear_faults();
    let fresh = admin(&emu);
    fresh.ok(&["pki", "list"]);
    assert_eq!(fresh.read("pki/index.txt"), index_before);
    assert_eq!(fresh.read("pki/crl.pem"), crl_before);
    assert!(!a.path().join("pki/private/bob.key").exists());
}

/// GET a URL on the loopback emulator: (status, body).
fn get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

#[test]
fn a_shared_profile_link_works_until_it_expires_and_nothing_is_left_here() {
    let emu = Emulator::start(0.0);
    let a = admin(&emu);
    a.ok(&["store", "init", STORE]);
    // A second store in the same bucket keeps the first one's lifecycle rule.
    a.ok(&["store", "init", "s3://team-pki/other"]);
    let rules = emu.python("s3_lifecycle.py", &["--bucket", "team-pki"]);
    assert_eq!(
        rules["ids"],
        serde_json::json!(["vpnctl-shares-other", "vpnctl-shares-vpn"])
    );
    a.ok(&["pki", "init"]);
    a.ok(&["pki", "issue", "alice"]);
    let share = |expires: &str| {
        a.run(&[
            "profile",
            "alice",
            "--remote",
            "vpn.example.com",
            "--share",
            "--expires",
            expires,
        ])
    };
    let r = share("3s");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let link = r.stdout.trim().to_string();
    assert!(
        link.starts_with("http://") && link.contains("X-Amz-Expires=3"),
        "{link}"
    );
    assert!(r.stderr.contains("alice alone"), "{}", r.stderr);
    let (status, body) = get(&link);
    assert_eq!(status, 200, "{body}");
    let cert = a.read("pki/issued/alice.crt");
    assert!(
        body.contains("<key>") && body.contains(cert.trim()),
        "{body}"
    );
    assert!(!a.path().join("profiles/alice.ovpn").exists());
    let log = a.ok(&["pki", "log", "--user", "alice"]);
    assert!(log.lines().any(|l| l.contains("share")), "{log}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    let (status, body) = get(&link);
    assert_eq!(status, 403, "an expired link still works: {body}");
    assert!(body.contains("Request has expired"), "{body}");
    // A key is in the store only when the admin asks: then another admin's machine makes the
    // profile too; otherwise the key stays where it was made.
    a.ok(&["pki", "issue", "erin", "--key-in-store"]);
    a.ok(&["pki", "issue", "frank"]);
    let b = admin(&emu);
    b.ok(&["profile", "erin", "--remote", "vpn.example.com"]);
    assert_eq!(
        crate::harness::mode(&b.path().join("pki/private/erin.key")),
        0o600
    );
    let r = b.run(&["profile", "frank", "--remote", "vpn.example.com"]);
    assert_ne!(r.code, 0, "frank's key is on the other machine only");
    // Links last 7 days at most; without a store there is nothing to link to.
    let r = share("8d");
    assert_eq!(r.code, 2, "{}", r.stderr);
    let local = emu.env();
    local.ok(&["pki", "init"]);
    local.ok(&["pki", "issue", "bob"]);
    let r = local.run(&["profile", "bob", "--remote", "vpn.example.com", "--share"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("S3 store"), "{}", r.stderr);
}
