//! A revoked user stays revoked, whatever another copy of the PKI does: two copies of one PKI
//! (two laptops, a restored backup) revoke, set up and wake against one emulated endpoint in
//! every interleaving, and the endpoint's CRL never loses a serial it once held. Plus the
//! local promises around it: modes, names that keep their case, the passphrase prompt.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::{Env, mode, openssl, snapshot};
use std::collections::BTreeSet;
use std::path::Path;

/// The serials a PEM CRL revokes, by openssl (independent of vpnctl's parser).
fn crl_serials(dir: &Path, pem: &str) -> BTreeSet<String> {
    let file = dir.join(format!("crl-{}.pem", std::process::id()));
    std::fs::write(&file, pem).unwrap();
    let (ok, text) = openssl(
        &["crl", "-noout", "-text", "-in", file.to_str().unwrap()],
        dir,
    );
    assert!(ok, "{text}");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_uppercase())
        .collect()
}

fn endpoint_crl(emu: &Emulator) -> String {
    let inv = emu.inventory("lab");
    inv["endpoints"][0]["crl"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn serial_of(env: &Env, user: &str) -> String {
    env.read("pki/index.txt")
        .lines()
        .filter(|l| l.ends_with(&format!("/CN={user}")))
        .map(|l| l.split('\t').nth(3).unwrap().to_string())
        .next_back()
        .unwrap()
}

/// A second working directory holding a byte-for-byte copy of `env`'s PKI and deployment
/// record, as a colleague's laptop or a restored backup would.
pub fn copy_of(env: &Env, emu: &Emulator) -> Env {
    let other = emu.env();
    let status = std::process::Command::new("cp")
        .args(["-a", "pki", ".vpnctl"])
        .arg(other.path())
        .current_dir(env.path())
        .status()
        .unwrap();
    assert!(status.success());
    other
}

/// Run one step of an interleaving: success, or the rollback guard's refusal (exit 3) naming
/// both CRL numbers and the fix. Anything else fails the test.
fn step(env: &Env, who: &str, args: &[&str]) {
    let r = env.run(args);
    match r.code {
        0 => {}
        3 => {
            assert!(
                r.stderr.contains("CRL") && r.stderr.contains("merge-crl"),
                "{who} {args:?}: a refusal must name the CRLs and the fix:\n{}",
                r.stderr
            );
            assert!(
                r.stderr.contains("number"),
                "{who} {args:?}: the refusal must name the CRL numbers:\n{}",
                r.stderr
            );
        }
        c => panic!("{who} {args:?} exited {c}:\n{}\n{}", r.stdout, r.stderr),
    }
}

/// Every interleaving of `a` and `b` (each kept in order).
fn interleavings(a: usize, b: usize) -> Vec<Vec<bool>> {
    if a == 0 {
        return vec![vec![false; b]];
    }
    if b == 0 {
        return vec![vec![true; a]];
    }
    let mut out = Vec::new();
    for mut rest in interleavings(a - 1, b) {
        rest.insert(0, true);
        out.push(rest);
    }
    for mut rest in interleavings(a, b - 1) {
        rest.insert(0, false);
        out.push(rest);
    }
    out
}

#[test]
fn two_copies_of_the_pki_never_take_a_revocation_off_the_endpoint() {
    let emu = Emulator::start(0.05);
    emu.lab();
    let a = emu.env();
    a.ok(&["--name", "lab", "pki", "init"]);
    let orders = interleavings(2, 2);
    let users: Vec<String> = (0..orders.len())
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    let mut issue = vec!["--name", "lab", "pki", "issue"];
    issue.extend(users.iter().map(String::as_str));
    a.ok(&issue);
    a.ok(&lab_setup(&[]));
    let b = copy_of(&a, &emu);
    // A backup taken now, restored after the revocations below.
    let backup = copy_of(&a, &emu);

    let mut held: BTreeSet<String> = BTreeSet::new();
    for (round, order) in orders.iter().enumerate() {
        let (ua, ub) = (format!("a{round}"), format!("b{round}"));
        let a_steps: [Vec<&str>; 2] = [vec!["--name", "lab", "pki", "revoke", &ua], lab_setup(&[])];
        let b_steps: [Vec<&str>; 2] = [
            vec!["--name", "lab", "pki", "revoke", &ub],
            vec!["--name", "lab", "wake"],
        ];
        let (mut ia, mut ib) = (0, 0);
        for &from_a in order {
            if from_a {
                step(&a, "A", &a_steps[ia]);
                ia += 1;
            } else {
                step(&b, "B", &b_steps[ib]);
                ib += 1;
            }
            let now = crl_serials(a.path(), &endpoint_crl(&emu));
            let lost: Vec<_> = held.difference(&now).collect();
            assert!(
                lost.is_empty(),
                "round {round} {order:?}: the endpoint lost revoked serial(s) {lost:?}"
            );
            held = now;
        }
        // Both copies catch up; the endpoint ends with both revocations of the round.
        step(&b, "B", &["--name", "lab", "pki", "merge-crl"]);
        step(&a, "A", &["--name", "lab", "pki", "merge-crl"]);
        let now = crl_serials(a.path(), &endpoint_crl(&emu));
        for (env, user) in [(&a, &ua), (&b, &ub)] {
            let serial = serial_of(env, user);
            assert!(
                now.contains(&serial),
                "round {round} {order:?}: {user} ({serial}) is not revoked on the endpoint"
            );
        }
        assert!(held.is_subset(&now));
        held = now;
        // Both copies agree on every revocation now.
        assert_eq!(
            crl_serials(a.path(), &a.read("pki/crl.pem")),
            crl_serials(b.path(), &b.read("pki/crl.pem")),
            "round {round}: the copies disagree after merging"
        );
    }

    // The backup knows none of those revocations: it must not push its CRL, and says why.
    let before = snapshot(&backup.path().join("pki"));
    let r = backup.run(&lab_setup(&[]));
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("un-revoke") && r.stderr.contains(&serial_of(&a, "a0")),
        "the refusal names the serials it would lose:\n{}",
        r.stderr
    );
    assert_eq!(before, snapshot(&backup.path().join("pki")));
    let r = backup.run(&["--name", "lab", "wake"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    // Revoking from the backup revokes locally but is refused on the endpoint.
    let r = backup.run(&["--name", "lab", "pki", "revoke", "b0"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("merge-crl"), "{}", r.stderr);
    assert!(held.is_subset(&crl_serials(a.path(), &endpoint_crl(&emu))));
    // Catching up makes the backup whole, and its next push is accepted.
    backup.ok(&["--name", "lab", "pki", "merge-crl"]);
    let after = crl_serials(a.path(), &endpoint_crl(&emu));
    assert!(held.is_subset(&after));
    backup.ok(&lab_setup(&[]));
    a.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn revoke_verifies_the_endpoint_and_imports_only_a_different_crl() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    env.ok(&lab_setup(&[]));
    let out = env.ok(&["--name", "lab", "pki", "revoke", "alice"]);
    assert!(out.contains("verified on the endpoint"), "{out}");
    assert!(
        crl_serials(env.path(), &endpoint_crl(&emu)).contains(&serial_of(&env, "alice")),
        "alice's serial is not on the endpoint"
    );
    // The same CRL is not imported again (an import resets every connection on AWS).
    let out = env.ok(&["--name", "lab", "pki", "merge-crl"]);
    assert!(out.contains("not imported again"), "{out}");
    let crl = endpoint_crl(&emu);
    env.ok(&lab_setup(&[]));
    assert_eq!(crl, endpoint_crl(&emu));
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn merge_crl_from_another_copys_file_learns_its_revocations() {
    let a = Env::new();
    a.ok(&["pki", "init"]);
    a.ok(&["pki", "issue", "alice", "bob"]);
    let b = Env::new();
    let status = std::process::Command::new("cp")
        .args(["-a", "pki"])
        .arg(b.path())
        .current_dir(a.path())
        .status()
        .unwrap();
    assert!(status.success());
    a.ok(&["pki", "revoke", "alice", "--local-only"]);
    b.ok(&["pki", "issue", "carol"]);
    b.ok(&["pki", "revoke", "carol", "--local-only"]);
    let a_crl = a.path().join("pki/crl.pem");
    let out = b.ok(&["pki", "merge-crl", a_crl.to_str().unwrap()]);
    assert!(out.contains("revoked alice"), "{out}");
    let b_serials = crl_serials(b.path(), &b.read("pki/crl.pem"));
    assert!(b_serials.contains(&serial_of(&a, "alice")));
    assert!(b_serials.contains(&serial_of(&b, "carol")));
    // Back the other way: A learns carol, whom it never issued.
    let b_crl = b.path().join("pki/crl.pem");
    let out = a.ok(&["pki", "merge-crl", b_crl.to_str().unwrap()]);
    assert!(out.contains("issued by another copy"), "{out}");
    assert_eq!(
        crl_serials(a.path(), &a.read("pki/crl.pem")),
        crl_serials(b.path(), &b.read("pki/crl.pem"))
    );
    // A CRL of another CA is refused, with nothing changed.
    let c = Env::new();
    c.ok(&["pki", "init"]);
    let before = snapshot(a.path());
    let c_crl = c.path().join("pki/crl.pem");
    let r = a.fails(&["pki", "merge-crl", c_crl.to_str().unwrap()]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("not one of this PKI's CA"),
        "{}",
        r.stderr
    );
    assert_eq!(before, snapshot(a.path()));
}

#[test]
fn directories_are_0700_and_never_loosened() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    let pki = env.pki();
    for d in [pki.clone(), pki.join("private"), pki.join("issued")] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    env.ok(&["pki", "issue", "alice", "bob"]);
    env.ok(&["profile", "alice", "--remote", "vpn.example.com"]);
    assert_eq!(mode(&env.path().join("profiles")), 0o700);
    env.ok(&["pki", "revoke", "bob"]);
    env.ok(&["pki", "renew", "alice"]);
    env.ok(&["pki", "crl"]);
    env.ok(&["profile", "alice", "--remote", "vpn.example.com"]);
    for d in [
        pki.clone(),
        pki.join("private"),
        pki.join("issued"),
        pki.join("revoked"),
        pki.join("renewed"),
        env.path().join("profiles"),
    ] {
        assert!(mode(&d) & 0o077 == 0, "{} is {:o}", d.display(), mode(&d));
    }
    for f in [
        "pki/private/ca.key",
        "pki/private/alice.key",
        "profiles/alice.ovpn",
    ] {
        assert_eq!(mode(&env.path().join(f)), 0o600, "{f}");
    }
}

#[test]
fn names_keep_their_case_and_case_twins_are_refused() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "Alice"]);
    let out = env.ok(&["pki", "show", "Alice"]);
    assert!(out.contains("Alice"), "{out}");
    let r = env.fails(&["pki", "show", "alice"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let r = env.fails(&["pki", "issue", "alice"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("differ only in case"), "{}", r.stderr);
    env.ok(&["pki", "revoke", "Alice"]);
    // Revoked or not, the twin stays refused.
    let r = env.fails(&["pki", "issue", "ALICE"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(!env.pki().join("issued/ALICE.crt").exists());
}

#[test]
fn setup_creates_an_encrypted_ca_key_when_a_passphrase_is_given() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env().env("VPNCTL_CA_PASSPHRASE", "correct horse");
    env.ok(&lab_setup(&[]));
    let key = env.read("pki/private/ca.key");
    assert!(
        key.contains("ENCRYPTED PRIVATE KEY"),
        "the CA key is in the clear"
    );
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn an_encrypted_ca_key_asks_on_a_terminal_and_never_blocks_without_one() {
    let env = Env::new();
    // On a terminal, init --encrypt-ca-key asks twice and issue asks once; nothing is echoed.
    let (code, shown) = crate::harness::on_a_terminal(
        &env,
        &["pki", "init", "--encrypt-ca-key"],
        "passphrase",
        "s3cret words",
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        !shown.contains("s3cret"),
        "the passphrase was echoed:\n{shown}"
    );
    assert!(
        env.read("pki/private/ca.key")
            .contains("ENCRYPTED PRIVATE KEY")
    );
    let (code, shown) = crate::harness::on_a_terminal(
        &env,
        &["pki", "issue", "alice"],
        "passphrase",
        "s3cret words",
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("issued alice"), "{shown}");
    // A wrong passphrase at the prompt is an error, and nothing changes.
    let before = snapshot(env.path());
    let (code, shown) =
        crate::harness::on_a_terminal(&env, &["pki", "issue", "bob"], "passphrase", "wrong");
    assert_ne!(code, 0, "{shown}");
    assert_eq!(before, snapshot(env.path()));
    // Without a terminal: the error at once (stdin is not a terminal here), never a wait.
    let started = std::time::Instant::now();
    let r = env.fails(&["pki", "issue", "bob"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(r.stderr.contains("VPNCTL_CA_PASSPHRASE"), "{}", r.stderr);
    // The environment still wins over the prompt.
    let env = Env {
        dir: env.dir,
        vars: vec![("VPNCTL_CA_PASSPHRASE".into(), "s3cret words".into())],
    };
    env.ok(&["pki", "issue", "bob"]);
}

#[test]
fn setup_never_uploads_a_crl_that_lags_the_index() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice", "bob"]);
    // A revoke killed between index.txt and crl.pem: bob is revoked in the index only.
    let stale = env.read("pki/crl.pem");
    env.ok(&["--name", "lab", "pki", "revoke", "bob", "--local-only"]);
    std::fs::write(env.pki().join("crl.pem"), &stale).unwrap();
    let r = env.run(&["--name", "lab", "pki", "list"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.contains("pki crl"),
        "list warns and names the fix:\n{}",
        r.stderr
    );
    assert_eq!(
        env.read("pki/crl.pem"),
        stale,
        "a read-only command repairs nothing"
    );
    // Re-running the revoke repairs first, then says bob is already revoked.
    let r = env.run(&["--name", "lab", "pki", "revoke", "bob", "--local-only"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("regenerated as CRL number"),
        "{}",
        r.stderr
    );
    // Same state again, and setup this time: it repairs before anything reaches AWS.
    std::fs::write(env.pki().join("crl.pem"), &stale).unwrap();
    let r = env.run(&lab_setup(&[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("regenerated as CRL number"),
        "{}",
        r.stderr
    );
    assert!(
        crl_serials(env.path(), &endpoint_crl(&emu)).contains(&serial_of(&env, "bob")),
        "the endpoint got a CRL without bob"
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn a_failed_settings_or_crl_write_changes_nothing_and_revokes_nothing_back() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    for file in ["pki/vpnctl.json", "pki/crl.pem"] {
        let path = env.path().join(file);
        let chattr = |flag: &str| {
            let out = std::process::Command::new("chattr")
                .arg(flag)
                .arg(&path)
                .output();
            assert!(out.expect("chattr (e2fsprogs)").status.success());
        };
        chattr("+i");
        let before = snapshot(env.path());
        let r = env.run(&["pki", "revoke", "bob", "--local-only"]);
        let after = snapshot(env.path());
        chattr("-i");
        assert_eq!(r.code, 1, "{file}: {}", r.stderr);
        assert_eq!(before, after, "{file}: a failed revoke changed the PKI");
    }
    // Then it goes through, and stays: the next CRL still revokes bob.
    env.ok(&["pki", "revoke", "bob", "--local-only"]);
    env.ok(&["pki", "crl"]);
    let serials = crl_serials(env.path(), &env.read("pki/crl.pem"));
    assert!(serials.contains(&serial_of(&env, "bob")));
}

#[test]
fn revoking_again_after_a_failed_push_gives_the_endpoint_the_crl() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&lab_setup(&[]));
    // The push "failed": only the local PKI knows.
    env.ok(&["--name", "lab", "pki", "revoke", "alice", "--local-only"]);
    assert!(!crl_serials(env.path(), &endpoint_crl(&emu)).contains(&serial_of(&env, "alice")));
    let r = env.run(&["--name", "lab", "pki", "revoke", "alice"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("already revoked in this PKI"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("verified on the endpoint"),
        "{}",
        r.stdout
    );
    assert!(crl_serials(env.path(), &endpoint_crl(&emu)).contains(&serial_of(&env, "alice")));
    env.ok(&["--name", "lab", "teardown"]);
}
