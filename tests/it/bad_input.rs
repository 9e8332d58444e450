//! Bad input: each case gets one `error:` line naming the problem, a `hint:`, a non-zero exit,
//! and leaves the working directory (PKI and profiles) byte-identical.

use crate::harness::{Env, Run, snapshot};

/// A PKI with alice (valid) and bob (revoked), and alice's profile.
fn populated() -> Env {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    env.ok(&["pki", "revoke", "bob"]);
    env.ok(&["profile", "alice", "--remote", "vpn.example.com"]);
    env
}

/// Run `args`, require a proper failure, and require that nothing under the working
/// directory changed. Returns the run for message checks.
fn rejected(env: &Env, args: &[&str], expect_in_error: &str) -> Run {
    let before = snapshot(env.path());
    let r = env.fails(args);
    let after = snapshot(env.path());
    assert!(
        before == after,
        "{args:?} changed files: {:?}",
        diff(&before, &after)
    );
    let error_line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        error_line
            .to_lowercase()
            .contains(&expect_in_error.to_lowercase()),
        "{args:?}: error {error_line:?} should mention {expect_in_error:?}\n{}",
        r.stderr
    );
    r
}

fn diff(
    a: &std::collections::BTreeMap<std::path::PathBuf, (Vec<u8>, u32)>,
    b: &std::collections::BTreeMap<std::path::PathBuf, (Vec<u8>, u32)>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => d.push(format!("removed {}", k.display())),
            Some(w) if w != v => d.push(format!("changed {}", k.display())),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        d.push(format!("added {}", k.display()));
    }
    d
}

#[test]
fn bad_user_names() {
    let env = populated();
    rejected(&env, &["pki", "issue", "a/b"], "'/'");
    rejected(&env, &["pki", "issue", "alice smith"], "space");
    rejected(&env, &["pki", "issue", ""], "empty");
    rejected(&env, &["pki", "issue", &"x".repeat(65)], "65 characters");
    rejected(&env, &["pki", "issue", "../etc"], "'/'");
    rejected(
        &env,
        &["pki", "issue", ".hidden"],
        "start with a letter or digit",
    );
    rejected(&env, &["pki", "issue", "ca"], "reserved");
    rejected(&env, &["pki", "issue", "zoë"], "'ë'");
    // One bad name in a batch stops the whole batch before anything is written.
    rejected(&env, &["pki", "issue", "carol", "dave/x"], "'/'");
    rejected(&env, &["pki", "issue", "carol", "carol"], "named twice");
}

#[test]
fn issuing_a_name_twice_or_in_other_case() {
    let env = populated();
    let r = rejected(
        &env,
        &["pki", "issue", "alice"],
        "already has a valid certificate",
    );
    assert!(r.stderr.contains("vpnctl pki renew alice"), "{}", r.stderr);
    assert_eq!(r.code, 3);
    rejected(&env, &["pki", "issue", "ALICE"], "differ only in case");
}

#[test]
fn commands_before_init() {
    let env = Env::new();
    for args in [
        &["pki", "issue", "alice"][..],
        &["pki", "list"],
        &["pki", "revoke", "alice"],
        &["profile", "alice", "--remote", "h.example.com"],
    ] {
        let r = rejected(&env, args, "no vpnctl PKI");
        assert!(r.stderr.contains("vpnctl pki init"), "{}", r.stderr);
        assert_eq!(r.code, 4);
    }
    assert!(!env.pki().exists());
}

#[test]
fn revoking_unknown_or_revoked_users() {
    let env = populated();
    rejected(
        &env,
        &["pki", "revoke", "mallory"],
        "no certificate for user 'mallory'",
    );
    rejected(&env, &["pki", "revoke", "bob"], "already revoked");
    rejected(&env, &["pki", "revoke", "server"], "not revoked this way");
    rejected(&env, &["pki", "renew", "mallory"], "no certificate");
    rejected(&env, &["pki", "renew", "bob"], "is revoked");
    rejected(
        &env,
        &["profile", "bob", "--remote", "h.example.com"],
        "revoked",
    );
    rejected(
        &env,
        &["profile", "mallory", "--remote", "h.example.com"],
        "no certificate",
    );
    rejected(&env, &["pki", "show", "mallory"], "no certificate");
}

#[test]
fn bad_numbers_and_flags() {
    let env = populated();
    rejected(&env, &["pki", "issue", "carol", "--days", "0"], "--days 0");
    rejected(
        &env,
        &["pki", "issue", "carol", "--days", "99999"],
        "out of range",
    );
    rejected(&env, &["pki", "crl", "--days", "0"], "out of range");
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "--port",
            "0",
        ],
        "port",
    );
    rejected(&env, &["profile", "alice"], "no --remote");
    rejected(
        &env,
        &["profile", "alice", "--remote", "x\nscript-security 2"],
        "not a host name",
    );
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "bob",
            "--remote",
            "h.example.com",
            "-o",
            "x.ovpn",
        ],
        "takes one user",
    );
    rejected(
        &env,
        &["--name", "Bad_Name", "pki", "list"],
        "deployment name",
    );
}

#[test]
fn init_refuses_an_existing_pki_and_bad_server_names() {
    let env = populated();
    let r = rejected(&env, &["pki", "init"], "already exists");
    assert!(r.stderr.contains("--force"));
    let fresh = Env::new();
    rejected(
        &fresh,
        &["pki", "init", "--server-name", "server"],
        "not fully qualified",
    );
    rejected(
        &fresh,
        &["pki", "init", "--server-name", "under_score.example.com"],
        "'_'",
    );
    rejected(&fresh, &["pki", "init", "--ca-days", "0"], "out of range");
    rejected(&fresh, &["pki", "init", "--encrypt-ca-key"], "passphrase");
    assert!(!fresh.pki().exists());
}

#[test]
fn corrupt_or_truncated_pki_files() {
    // Truncated CA certificate.
    let env = populated();
    let ca = env.pki().join("ca.crt");
    let text = std::fs::read_to_string(&ca).unwrap();
    std::fs::write(&ca, &text[..text.len() / 2]).unwrap();
    rejected(
        &env,
        &["pki", "issue", "carol"],
        "not a valid PEM certificate",
    );
    rejected(
        &env,
        &["profile", "alice", "--remote", "h.example.com"],
        "not a valid PEM certificate",
    );
    rejected(&env, &["pki", "list"], "not a valid PEM certificate");

    // Truncated user certificate and garbage key.
    let env = populated();
    std::fs::write(
        env.pki().join("issued/alice.crt"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    )
    .unwrap();
    rejected(
        &env,
        &["profile", "alice", "--remote", "h.example.com", "--force"],
        "issued/alice.crt",
    );
    let env = populated();
    std::fs::write(env.pki().join("private/alice.key"), "garbage").unwrap();
    rejected(
        &env,
        &["profile", "alice", "--remote", "h.example.com", "--force"],
        "private/alice.key",
    );

    // A malformed index line.
    let env = populated();
    let idx = env.pki().join("index.txt");
    let mut t = std::fs::read_to_string(&idx).unwrap();
    t.push_str("V\tnot-a-date\t\t01\tunknown\t/CN=x\n");
    std::fs::write(&idx, t).unwrap();
    rejected(&env, &["pki", "issue", "carol"], "index.txt line 4");
}

#[test]
fn ca_key_that_does_not_match_the_ca_certificate() {
    let env = populated();
    let other = Env::new();
    other.ok(&["pki", "init"]);
    std::fs::copy(
        other.pki().join("private/ca.key"),
        env.pki().join("private/ca.key"),
    )
    .unwrap();
    rejected(
        &env,
        &["pki", "issue", "carol"],
        "does not match the CA certificate",
    );
    rejected(
        &env,
        &["pki", "revoke", "alice"],
        "does not match the CA certificate",
    );
}

#[test]
fn wrong_or_missing_ca_passphrase() {
    let env = Env::new().env("VPNCTL_CA_PASSPHRASE", "right");
    env.ok(&["pki", "init", "--encrypt-ca-key"]);
    let wrong = Env {
        dir: env.dir,
        vars: vec![("VPNCTL_CA_PASSPHRASE".into(), "wrong".into())],
    };
    rejected(&wrong, &["pki", "issue", "alice"], "wrong passphrase");
    let none = Env {
        dir: wrong.dir,
        vars: vec![],
    };
    let r = rejected(&none, &["pki", "issue", "alice"], "no passphrase");
    assert!(r.stderr.contains("asks only when stdin is a terminal"));
    assert_eq!(r.code, 2);
}

#[test]
fn template_with_a_syntax_error() {
    let env = populated();
    let t = env.path().join("tpl");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("client.ovpn.tera"), "client\n{% if %}\n").unwrap();
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "--templates",
            t.to_str().unwrap(),
        ],
        "client.ovpn.tera",
    );
    std::fs::write(t.join("client.ovpn.tera"), "remote {{ nowhere }}\n").unwrap();
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "--templates",
            t.to_str().unwrap(),
        ],
        "cannot be used",
    );
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "--templates",
            "/nonexistent-dir",
        ],
        "does not exist",
    );
}

#[test]
fn unwritable_output_path() {
    let env = populated();
    let file = env.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("alice.ovpn");
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            out.to_str().unwrap(),
        ],
        "cannot write",
    );
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            "/proc/vpnctl-test.ovpn",
        ],
        "cannot write",
    );
}

#[test]
fn a_pki_path_that_is_a_file() {
    let env = Env::new();
    std::fs::write(env.path().join("notadir"), "x").unwrap();
    rejected(&env, &["pki", "init", "--pki", "notadir"], "is a file");
}

#[test]
fn command_line_mistakes_are_one_line_errors_with_a_hint() {
    let env = populated();
    for (args, expect) in [
        (&["profile", "alice", "--port", "70000"][..], "70000"),
        (&["pki", "issue"][..], "required"),
        (&["bogus"][..], "bogus"),
        (&["setup", "--transport", "xyz"][..], "xyz"),
    ] {
        let r = rejected(&env, args, expect);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(!r.stderr.contains("For more information"), "{}", r.stderr);
    }
    // Help and version are not errors.
    assert!(env.ok(&["--version"]).starts_with("vpnctl "));
    assert!(env.ok(&["pki", "--help"]).contains("Usage:"));
}

#[test]
fn a_profile_never_lands_on_the_pki_or_a_key_file() {
    let env = populated();
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            "pki/private/alice.key",
        ],
        "inside the PKI",
    );
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            "pki/private/alice.key",
            "--force",
        ],
        "inside the PKI",
    );
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            "pki/new.ovpn",
        ],
        "inside the PKI",
    );
    // A copy of the key elsewhere is key material, not a profile: never replaced silently.
    std::fs::copy(
        env.pki().join("private/alice.key"),
        env.path().join("alice.key"),
    )
    .unwrap();
    rejected(
        &env,
        &[
            "profile",
            "alice",
            "--remote",
            "h.example.com",
            "-o",
            "alice.key",
        ],
        "not a profile of this user",
    );
}

/// `chattr +i`: a file even root cannot replace, to make a write fail half-way through.
fn immutable(path: &std::path::Path, on: bool) {
    let out = std::process::Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .output()
        .expect("chattr (e2fsprogs)");
    assert!(
        out.status.success(),
        "chattr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_crl_that_cannot_be_written_leaves_revoke_and_renew_undone() {
    let env = populated();
    let crl = env.pki().join("crl.pem");
    immutable(&crl, true);
    let before = snapshot(env.path());
    let r1 = env.run(&["pki", "revoke", "alice", "--local-only"]);
    let r2 = env.run(&["pki", "renew", "alice"]);
    let after = snapshot(env.path());
    immutable(&crl, false);
    assert!(
        r1.code != 0 && r1.stderr.contains("crl.pem"),
        "{}",
        r1.stderr
    );
    assert!(
        r2.code != 0 && r2.stderr.contains("crl.pem"),
        "{}",
        r2.stderr
    );
    assert!(
        before == after,
        "a failed CRL write must leave the PKI as it was: {:?}",
        diff(&before, &after)
    );
    // Once the CRL can be written, the revocation goes through.
    env.ok(&["pki", "revoke", "alice", "--local-only"]);
}
