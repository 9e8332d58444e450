//! The PKI commands as a user runs them: layout and modes, list/show, renew, CRL refresh,
//! encrypted CA key, profiles.

use crate::harness::{Env, crl_verify, mode, openssl};

#[test]
fn layout_and_modes() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    env.ok(&["profile", "alice", "--remote", "vpn.example.com"]);
    let pki = env.pki();
    assert_eq!(mode(&pki.join("private")), 0o700);
    for key in ["ca.key", "server.key", "alice.key"] {
        assert_eq!(mode(&pki.join("private").join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&env.path().join("profiles/alice.ovpn")), 0o600);
    for f in [
        "ca.crt",
        "index.txt",
        "crl.pem",
        "issued/server.crt",
        "issued/alice.crt",
        ".gitignore",
    ] {
        assert!(pki.join(f).exists(), "{f}");
    }
    // No stray temporary files.
    let stray: Vec<_> = crate::harness::snapshot(env.path())
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    let index = env.read("pki/index.txt");
    assert!(
        index
            .lines()
            .any(|l| l.starts_with("V\t") && l.ends_with("/CN=alice")),
        "{index}"
    );
}

#[test]
fn keys_are_never_printed() {
    let env = Env::new();
    let mut all = env.ok(&["pki", "init"]);
    all += &env.ok(&["pki", "issue", "alice"]);
    all += &env.ok(&["pki", "list"]);
    all += &env.ok(&["pki", "show", "alice"]);
    all += &env.ok(&["pki", "show", "ca", "--pem"]);
    all += &env.ok(&["profile", "alice", "--remote", "h.example.com"]);
    assert!(!all.contains("PRIVATE KEY"), "{all}");
}

#[test]
fn list_json_and_expiry_warnings() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    env.ok(&["pki", "issue", "shorty", "--days", "10"]);
    env.ok(&["pki", "issue", "gone"]);
    env.ok(&["pki", "revoke", "gone"]);
    let r = env.run(&["pki", "list", "--json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let certs = v["certificates"].as_array().unwrap();
    let find = |n: &str| {
        certs
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(find("alice")["status"], "valid");
    assert_eq!(find("alice")["expiring_soon"], false);
    assert_eq!(find("shorty")["expiring_soon"], true);
    assert!(find("shorty")["days_left"].as_i64().unwrap() <= 10);
    assert_eq!(find("gone")["status"], "revoked");
    assert_eq!(find("server.default.vpnctl.internal")["kind"], "server");
    assert_eq!(v["crl"]["revoked"], 1);
    assert_eq!(v["crl"]["stale"], false);
    assert!(r.stderr.contains("shorty expires in"), "{}", r.stderr);
    // The table marks it too.
    let table = env.ok(&["pki", "list"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains("shorty") && l.ends_with('!')),
        "{table}"
    );
}

#[test]
fn crl_expiring_soon_is_warned_and_refreshed() {
    let env = Env::new();
    env.ok(&["pki", "init", "--crl-days", "5"]);
    let r = env.run(&["pki", "list"]);
    assert!(r.stderr.contains("CRL's next-update is in"), "{}", r.stderr);
    env.ok(&["pki", "crl", "--days", "1000"]);
    let r = env.run(&["pki", "list"]);
    assert!(!r.stderr.contains("CRL"), "{}", r.stderr);
}

#[test]
fn renew_user_and_server_keep_names_and_revoke_the_old() {
    let env = Env::new();
    env.ok(&["pki", "init", "--server-name", "vpn.corp.example"]);
    env.ok(&["pki", "issue", "alice"]);
    let old_alice = env.read("pki/issued/alice.crt");
    let old_key = env.read("pki/private/alice.key");
    let old_server = env.read("pki/issued/server.crt");
    env.ok(&["pki", "renew", "alice"]);
    env.ok(&["pki", "renew", "server"]);
    assert_ne!(env.read("pki/issued/alice.crt"), old_alice);
    assert_ne!(env.read("pki/private/alice.key"), old_key);
    assert_ne!(env.read("pki/issued/server.crt"), old_server);
    let show: serde_json::Value =
        serde_json::from_str(&env.ok(&["pki", "show", "server", "--json"])).unwrap();
    assert_eq!(show["cn"], "vpn.corp.example");
    assert_eq!(show["san_dns"][0], "vpn.corp.example");
    // Old certificates are revoked (superseded) and listed in the CRL; new ones verify.
    let (ok, out) = crl_verify(&env.pki(), "issued/alice.crt");
    assert!(ok, "{out}");
    let retired = env.pki().join("renewed/certs_by_serial");
    assert_eq!(std::fs::read_dir(&retired).unwrap().count(), 2);
    for old in std::fs::read_dir(&retired).unwrap() {
        let (ok, out) = crl_verify(&env.pki(), old.unwrap().path().to_str().unwrap());
        assert!(!ok && out.contains("revoked"), "{out}");
    }
    assert_eq!(
        env.read("pki/index.txt")
            .lines()
            .filter(|l| l.starts_with("R\t") && l.contains("superseded"))
            .count(),
        2
    );
}

#[test]
fn encrypted_ca_key_works_with_the_passphrase_only() {
    let env = Env::new().env("VPNCTL_CA_PASSPHRASE", "correct horse");
    env.ok(&["pki", "init", "--encrypt-ca-key"]);
    let key = env.read("pki/private/ca.key");
    assert!(key.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    // openssl reads it with the passphrase (interoperable PBES2).
    let (ok, out) = openssl(
        &[
            "pkey",
            "-in",
            "private/ca.key",
            "-passin",
            "pass:correct horse",
            "-noout",
        ],
        &env.pki(),
    );
    assert!(ok, "{out}");
    env.ok(&["pki", "issue", "alice"]);
    // From a file too.
    let pass_file = env.path().join("pass.txt");
    std::fs::write(&pass_file, "correct horse\n").unwrap();
    let env2 = Env::new();
    std::fs::rename(env.pki(), env2.pki()).unwrap();
    env2.ok(&[
        "pki",
        "issue",
        "bob",
        "--ca-passphrase-file",
        pass_file.to_str().unwrap(),
    ]);
}

#[test]
fn profile_all_and_overwrite_rules() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob", "carol"]);
    env.ok(&["pki", "revoke", "carol"]);
    let out = env.ok(&[
        "profile",
        "--all",
        "--remote",
        "vpn.example.com",
        "--proto",
        "tcp",
        "--port",
        "1194",
    ]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let alice = env.read("profiles/alice.ovpn");
    assert!(alice.contains("proto tcp\n") && alice.contains("remote vpn.example.com 1194\n"));
    assert!(alice.contains(env.read("pki/private/alice.key").trim()));
    assert!(!env.path().join("profiles/carol.ovpn").exists());
    // Re-rendering the same key material is allowed; foreign content needs --force.
    env.ok(&["profile", "alice", "--remote", "other.example.com"]);
    std::fs::write(env.path().join("profiles/bob.ovpn"), "someone else's key\n").unwrap();
    let r = env.fails(&["profile", "bob", "--remote", "vpn.example.com"]);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(env.read("profiles/bob.ovpn"), "someone else's key\n");
    env.ok(&["profile", "bob", "--remote", "vpn.example.com", "--force"]);
    // Revoking removes the user's profile: it could only fail to connect.
    env.ok(&["pki", "revoke", "alice"]);
    assert!(!env.path().join("profiles/alice.ovpn").exists());
}

#[test]
fn user_templates_override_the_builtin() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    let t = env.path().join("tpl");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(
        t.join("client.ovpn.tera"),
        "# custom for {{ user }}\nremote {{ remote }} {{ port }}\n<key>\n{{ key }}</key>\n",
    )
    .unwrap();
    env.ok(&[
        "profile",
        "alice",
        "--remote",
        "h.example.com",
        "--templates",
        t.to_str().unwrap(),
    ]);
    assert!(
        env.read("profiles/alice.ovpn")
            .starts_with("# custom for alice\nremote h.example.com 443\n")
    );
    let env2 = env.env("VPNCTL_TEMPLATES", t.to_str().unwrap());
    env2.ok(&[
        "profile",
        "alice",
        "--remote",
        "x.example.com",
        "-o",
        "alice2.ovpn",
    ]);
    assert!(env2.read("alice2.ovpn").starts_with("# custom for alice"));
}

#[test]
fn list_and_show_notice_files_that_do_not_match_the_index() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    let other = Env::new();
    other.ok(&["pki", "init"]);
    other.ok(&["pki", "issue", "alice"]);
    // Another CA's alice in place of ours, and bob's certificate gone.
    std::fs::copy(
        other.pki().join("issued/alice.crt"),
        env.pki().join("issued/alice.crt"),
    )
    .unwrap();
    std::fs::remove_file(env.pki().join("issued/bob.crt")).unwrap();
    let r = env.run(&["pki", "list"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.contains("issued/alice.crt holds serial"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("issued/bob.crt is missing"),
        "{}",
        r.stderr
    );
    let r = env.run(&["pki", "show", "alice"]);
    assert!(
        r.stderr.contains("not issued by this PKI's CA"),
        "{}",
        r.stderr
    );
    // The server and the CA answer to any case; the CA is never "renewed".
    assert!(
        env.ok(&["pki", "show", "SERVER"])
            .contains("kind     server")
    );
    let r = env.fails(&["pki", "renew", "ca"]);
    assert!(r.stderr.contains("the CA is not renewed"), "{}", r.stderr);
    let r = env.fails(&["pki", "issue", "Server.Default.vpnctl.internal."]);
    assert!(r.stderr.contains("server's name"), "{}", r.stderr);
    std::fs::write(env.path().join("empty"), "\n").unwrap();
    let r = env.fails(&["--ca-passphrase-file", "empty", "pki", "list"]);
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);
}
