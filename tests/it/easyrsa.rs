//! Adopting a PKI made by the real easy-rsa (what AWS's guide tells people to create):
//! serials, revocations and keys kept; a server certificate AWS would refuse is caught; a
//! name's whole history (revoked and issued again, renewed with the old one still valid) is
//! kept and never brought back; the import appears whole or not at all.

use crate::harness::{Env, crl_verify, mode, openssl, snapshot, tool};
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

/// Run the real easy-rsa on the PKI in `dir/pki`, with extra environment variables.
fn easyrsa(dir: &Path, args: &[&str], vars: &[(&str, &str)]) {
    let mut c = Command::new(tool("easyrsa"));
    c.args(args)
        .current_dir(dir)
        .env("EASYRSA_BATCH", "1")
        .env("EASYRSA_PKI", dir.join("pki"))
        .stdin(std::process::Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.output().expect("easyrsa");
    assert!(
        out.status.success(),
        "easyrsa {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An easy-rsa PKI in `dir/pki`: CA, server vpn.example.com, and the given clients.
fn easyrsa_base(dir: &Path, clients: &[&str]) {
    easyrsa(dir, &["init-pki"], &[]);
    easyrsa(
        dir,
        &["build-ca", "nopass"],
        &[("EASYRSA_REQ_CN", "Lab CA")],
    );
    easyrsa(
        dir,
        &["build-server-full", "vpn.example.com", "nopass"],
        &[],
    );
    for c in clients {
        easyrsa(dir, &["build-client-full", c, "nopass"], &[]);
    }
}

/// (flag, serial, CN) of each index line, serials without leading zeros.
fn index_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let cn = f[5].rsplit("/CN=").next().unwrap().to_string();
            (f[0].to_string(), norm(f[3]), cn)
        })
        .collect()
}

fn norm(serial: &str) -> String {
    let s = serial.trim().replace(':', "").to_ascii_uppercase();
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0" } else { t }.to_string()
}

fn serials(rows: &[(String, String, String)], flag: &str, cn: &str) -> Vec<String> {
    rows.iter()
        .filter(|(f, _, c)| f == flag && c == cn)
        .map(|(_, s, _)| s.clone())
        .collect()
}

/// The serials a CRL lists, and its CRL number if it has one, read by openssl.
fn crl_text(pki: &Path) -> (Vec<String>, Option<u64>) {
    let (ok, out) = openssl(&["crl", "-in", "crl.pem", "-noout", "-text"], pki);
    assert!(ok, "{out}");
    let serials = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number:"))
        .map(norm)
        .collect();
    let lines: Vec<&str> = out.lines().collect();
    let number = lines
        .iter()
        .position(|l| l.contains("CRL Number"))
        .and_then(|i| lines.get(i + 1))
        .map(|l| l.trim())
        .map(|n| {
            n.parse()
                .unwrap_or_else(|_| panic!("CRL number {n}?\n{out}"))
        });
    (serials, number)
}

/// The serial of a certificate file, read by openssl.
fn cert_serial(path: &Path) -> String {
    let (ok, out) = openssl(
        &["x509", "-noout", "-serial", "-in", path.to_str().unwrap()],
        Path::new("/"),
    );
    assert!(ok, "{out}");
    norm(out.trim().trim_start_matches("serial="))
}

/// `pki list --json`: (status, serial) of a name's current certificate.
fn current(env: &Env, pki: &str, name: &str) -> (String, String) {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["--pki", pki, "pki", "list", "--json"])).unwrap();
    let c = v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"))
        .clone();
    (
        c["status"].as_str().unwrap().to_string(),
        norm(c["serial"].as_str().unwrap()),
    )
}

/// Every serial revoked in `before` is still revoked in the PKI's index and in its CRL.
fn still_revoked(env: &Env, pki: &str, before: &[(String, String, String)]) {
    let rows = index_rows(&env.read(&format!("{pki}/index.txt")));
    let (crl, _) = crl_text(&env.path().join(pki));
    for (_, s, cn) in before.iter().filter(|(f, _, _)| f == "R") {
        assert!(
            rows.iter().any(|(f, s2, _)| f == "R" && s2 == s),
            "{cn}'s revoked serial {s} is not revoked in {pki}/index.txt:\n{}",
            env.read(&format!("{pki}/index.txt"))
        );
        assert!(
            rows.iter().all(|(f, s2, _)| s2 != s || f == "R"),
            "{cn}'s revoked serial {s} came back in {pki}/index.txt"
        );
        assert!(crl.contains(s), "{cn}'s serial {s} is not in the CRL");
    }
}

#[test]
fn import_keeps_a_user_revoked_then_issued_again_in_either_index_order() {
    let env = Env::new();
    easyrsa_base(env.path(), &["alice", "bob"]);
    let er = env.path().join("pki");
    easyrsa(env.path(), &["revoke", "bob"], &[]);
    easyrsa(env.path(), &["build-client-full", "bob", "nopass"], &[]);
    easyrsa(env.path(), &["gen-crl"], &[]);
    // easy-rsa 3.1's CRLs carry no number; openssl's `ca` with a crlnumber file makes one, as
    // other easy-rsa versions do: crl.pem number 0x40, and a crlnumber file below it.
    let cnf = env.path().join("crl.cnf");
    std::fs::write(
        &cnf,
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = ../crlnumber.next\n\
         default_md = sha256\ndefault_crl_days = 30\n",
    )
    .unwrap();
    std::fs::write(env.path().join("crlnumber.next"), "40\n").unwrap();
    let (ok, out) = openssl(
        &[
            "ca",
            "-gencrl",
            "-config",
            cnf.to_str().unwrap(),
            "-keyfile",
            "private/ca.key",
            "-cert",
            "ca.crt",
            "-out",
            "crl.pem",
        ],
        &er,
    );
    assert!(ok, "{out}");
    std::fs::write(er.join("crlnumber"), "30\n").unwrap();
    let src_index = std::fs::read_to_string(er.join("index.txt")).unwrap();
    let src_rows = index_rows(&src_index);
    let old_bob = serials(&src_rows, "R", "bob");
    let new_bob = serials(&src_rows, "V", "bob");
    assert_eq!((old_bob.len(), new_bob.len()), (1, 1), "{src_index}");
    assert_eq!(crl_text(&er), (old_bob.clone(), Some(0x40)));

    env.ok(&["--pki", "first", "pki", "import-easyrsa", "pki"]);
    // Every entry is kept, serials, flags and all; the re-issued bob is bob's current one.
    let rows = index_rows(&env.read("first/index.txt"));
    let mut want = src_rows.clone();
    want.sort();
    let mut got = rows.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        current(&env, "first", "bob"),
        ("valid".into(), new_bob[0].clone())
    );
    assert_eq!(
        env.read("first/issued/bob.crt"),
        env.read("pki/issued/bob.crt")
    );
    assert_eq!(
        env.read("first/private/bob.key"),
        env.read("pki/private/bob.key")
    );
    // vpnctl's first CRL supersedes easy-rsa's: its number is above crl.pem's and crlnumber's.
    let (crl, number) = crl_text(&env.path().join("first"));
    assert_eq!(crl, old_bob);
    assert!(number > Some(0x40), "{number:?}");
    let (ok, out) = crl_verify(&env.path().join("first"), "issued/bob.crt");
    assert!(ok, "{out}");
    let r = env.fails(&["--pki", "first", "pki", "issue", "bob"]);
    assert!(
        r.stderr.contains("already has a valid certificate"),
        "{}",
        r.stderr
    );

    // The order a review found: bob's valid entry first, the revoked one after it.
    let (revoked, others): (Vec<&str>, Vec<&str>) = src_index
        .lines()
        .partition(|l| l.starts_with("R\t") && l.ends_with("/CN=bob"));
    let reordered = others.join("\n") + "\n" + &revoked.join("\n") + "\n";
    assert!(reordered.find("\t/CN=bob").unwrap() < reordered.find("R\t").unwrap());
    std::fs::write(er.join("index.txt"), &reordered).unwrap();
    std::fs::write(er.join("crlnumber"), "7F\n").unwrap();
    env.ok(&["--pki", "second", "pki", "import-easyrsa", "pki"]);
    let rows = index_rows(&env.read("second/index.txt"));
    let mut got = rows.clone();
    got.sort();
    assert_eq!(got, want, "every entry kept");
    assert_eq!(
        current(&env, "second", "bob"),
        ("valid".into(), new_bob[0].clone())
    );
    let (crl, number) = crl_text(&env.path().join("second"));
    assert_eq!(crl, old_bob);
    assert!(number > Some(0x7F), "{number:?}");
    // bob gets a profile: his current certificate is the valid one.
    env.ok(&[
        "--pki",
        "second",
        "profile",
        "bob",
        "--remote",
        "vpn.example.com",
    ]);
}

#[test]
fn renew_after_import_never_brings_a_revoked_serial_back() {
    let env = Env::new();
    easyrsa_base(env.path(), &["alice", "bob", "carol"]);
    let er = env.path().join("pki");
    for who in ["bob", "carol"] {
        easyrsa(env.path(), &["revoke", who], &[]);
        easyrsa(env.path(), &["build-client-full", who, "nopass"], &[]);
    }
    easyrsa(env.path(), &["gen-crl"], &[]);
    // carol's revoked entry after her valid one, as a hand-edited or merged index can have it.
    let text = std::fs::read_to_string(er.join("index.txt")).unwrap();
    let (revoked, others): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|l| l.starts_with("R\t") && l.ends_with("/CN=carol"));
    std::fs::write(
        er.join("index.txt"),
        others.join("\n") + "\n" + &revoked.join("\n") + "\n",
    )
    .unwrap();
    let before = index_rows(&std::fs::read_to_string(er.join("index.txt")).unwrap());
    assert_eq!(before.iter().filter(|(f, _, _)| f == "R").count(), 2);

    env.ok(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    still_revoked(&env, "adopted", &before);
    for who in ["carol", "bob", "alice", "carol"] {
        let (_, old) = current(&env, "adopted", who);
        env.ok(&["--pki", "adopted", "pki", "renew", who]);
        let (status, new) = current(&env, "adopted", who);
        assert_eq!(status, "valid");
        assert_ne!(new, old);
        still_revoked(&env, "adopted", &before);
        // The certificate renewed away is revoked too, and stays so.
        let rows = index_rows(&env.read("adopted/index.txt"));
        assert!(serials(&rows, "R", who).contains(&old), "{who} {old}");
    }
    let rows = index_rows(&env.read("adopted/index.txt"));
    still_revoked(&env, "adopted", &rows);
    for who in ["alice", "bob", "carol"] {
        assert_eq!(
            serials(&rows, "V", who).len(),
            1,
            "{who}: one valid certificate"
        );
    }
}

#[test]
fn import_keeps_a_renewed_certificate_valid_and_revoke_revokes_both() {
    let env = Env::new();
    easyrsa_base(env.path(), &["alice", "bob"]);
    let er = env.path().join("pki");
    // easy-rsa 3.1's renew moves the old certificate to renewed/issued/ and keeps it valid.
    easyrsa(
        env.path(),
        &["renew", "alice", "nopass"],
        &[("EASYRSA_CERT_RENEW", "3650")],
    );
    let src_rows = index_rows(&std::fs::read_to_string(er.join("index.txt")).unwrap());
    let old = cert_serial(&er.join("renewed/issued/alice.crt"));
    let new = cert_serial(&er.join("issued/alice.crt"));
    assert_ne!(old, new);
    let mut valid = serials(&src_rows, "V", "alice");
    valid.sort();
    let mut both = vec![old.clone(), new.clone()];
    both.sort();
    assert_eq!(valid, both, "easy-rsa keeps both valid");

    let r = env.run(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let import_out = format!("{}{}", r.stdout, r.stderr);
    assert!(!import_out.contains("not adopted: alice"), "{import_out}");
    // The newest is alice's current certificate; the older one stays valid in the index.
    assert_eq!(
        env.read("adopted/issued/alice.crt"),
        env.read("pki/issued/alice.crt")
    );
    assert_eq!(
        env.read("adopted/private/alice.key"),
        env.read("pki/private/alice.key")
    );
    assert_eq!(
        current(&env, "adopted", "alice"),
        ("valid".into(), new.clone())
    );
    let rows = index_rows(&env.read("adopted/index.txt"));
    let mut valid = serials(&rows, "V", "alice");
    valid.sort();
    assert_eq!(valid, both);
    let adopted = env.path().join("adopted");
    for f in ["issued/alice.crt", "renewed/issued/alice.crt"] {
        let (ok, out) = crl_verify(&adopted, er.join(f).to_str().unwrap());
        assert!(ok, "{f}: {out}");
    }

    // Revoking alice revokes every certificate of hers, not only the current one.
    env.ok(&["--pki", "adopted", "pki", "revoke", "alice"]);
    let rows = index_rows(&env.read("adopted/index.txt"));
    let mut revoked = serials(&rows, "R", "alice");
    revoked.sort();
    assert_eq!(revoked, both, "{}", env.read("adopted/index.txt"));
    let (crl, _) = crl_text(&adopted);
    for s in &both {
        assert!(crl.contains(s), "{s} not in the CRL {crl:?}");
    }
    for f in ["issued/alice.crt", "renewed/issued/alice.crt"] {
        let (ok, out) = crl_verify(&adopted, er.join(f).to_str().unwrap());
        assert!(!ok && out.contains("revoked"), "{f}: {out}");
    }
    let (ok, out) = crl_verify(&adopted, "issued/bob.crt");
    assert!(ok, "{out}");

    // The import said so, last because the command prints it (`kept_valid_lines`).
    assert!(
        import_out.lines().any(|l| {
            l.contains("kept valid in the index: older certificate of alice")
                // The index spells a serial with its leading zero (an even number of hex
                // digits); `norm` compares the numbers, however each side spells them.
                && l.split("(serial ").nth(1).and_then(|t| t.split(')').next()).map(norm)
                    == Some(old.clone())
                && l.contains("`vpnctl --pki adopted pki revoke alice` revokes every one")
        }),
        "the import must report alice's older certificate {old} as kept valid:\n{import_out}"
    );
}

#[test]
fn a_user_skipped_at_import_never_breaks_profiles_of_the_others() {
    let env = Env::new();
    easyrsa_base(env.path(), &["alice", "bob", "carol"]);
    std::fs::remove_file(env.path().join("pki/private/carol.key")).unwrap();
    let r = env.run(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("carol") && l.contains("carol.key")),
        "the skipped user is reported with why:\n{}",
        r.stderr
    );
    // Never half a user: no certificate without its key.
    let adopted = env.path().join("adopted");
    assert!(!adopted.join("issued/carol.crt").exists());
    assert!(!adopted.join("private/carol.key").exists());
    // carol stays valid in the index: the CA still vouches for her certificate.
    let rows = index_rows(&env.read("adopted/index.txt"));
    assert_eq!(serials(&rows, "V", "carol").len(), 1);

    let r = env.run(&[
        "--pki",
        "adopted",
        "profile",
        "--all",
        "--remote",
        "vpn.example.com",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(env.path().join("profiles/alice.ovpn").exists());
    assert!(env.path().join("profiles/bob.ovpn").exists());
    assert!(!env.path().join("profiles/carol.ovpn").exists());
    assert!(
        r.stderr.contains("carol"),
        "carol is reported:\n{}",
        r.stderr
    );
}

#[test]
fn names_that_differ_only_in_case_are_not_adopted_twice() {
    let env = Env::new();
    easyrsa_base(env.path(), &["Alice", "alice", "bob"]);
    let r = env.run(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("not adopted: alice") && l.contains("only in case")),
        "{}",
        r.stderr
    );
    let adopted = env.path().join("adopted");
    let issued: Vec<String> = std::fs::read_dir(adopted.join("issued"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(issued.contains(&"Alice.crt".to_string()), "{issued:?}");
    assert!(!issued.iter().any(|f| f == "alice.crt"), "{issued:?}");
    assert!(!adopted.join("private/alice.key").exists());
    assert_eq!(
        env.read("adopted/private/Alice.key"),
        env.read("pki/private/Alice.key")
    );
    // The second name stays in the index, valid, as easy-rsa had it.
    let rows = index_rows(&env.read("adopted/index.txt"));
    assert_eq!(serials(&rows, "V", "alice").len(), 1);
    env.ok(&[
        "--pki",
        "adopted",
        "profile",
        "Alice",
        "--remote",
        "vpn.example.com",
    ]);
}

#[test]
fn an_encrypted_easyrsa_ca_key_is_adopted_in_vpnctls_scheme() {
    let env = Env::new().env("VPNCTL_CA_PASSPHRASE", "s3cret");
    let d = env.path();
    easyrsa(d, &["init-pki"], &[]);
    easyrsa(
        d,
        &["--passin=pass:s3cret", "--passout=pass:s3cret", "build-ca"],
        &[("EASYRSA_REQ_CN", "Lab CA")],
    );
    for args in [
        &[
            "--passin=pass:s3cret",
            "build-server-full",
            "vpn.example.com",
            "nopass",
        ][..],
        &[
            "--passin=pass:s3cret",
            "build-client-full",
            "alice",
            "nopass",
        ],
    ] {
        easyrsa(d, args, &[]);
    }
    let algorithms = |pki: &Path| {
        let (ok, out) = openssl(&["asn1parse", "-in", "private/ca.key"], pki);
        assert!(ok, "{out}");
        out
    };
    let src = algorithms(&d.join("pki"));
    assert!(
        src.contains("des-ede3-cbc"),
        "easy-rsa 3.1 uses 3DES:\n{src}"
    );

    env.ok(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    let adopted = d.join("adopted");
    let ours = algorithms(&adopted);
    assert!(
        ours.contains("PBES2") && ours.contains("PBKDF2") && ours.contains("aes-256-cbc"),
        "{ours}"
    );
    assert!(!ours.contains("des-ede3-cbc"), "{ours}");
    assert!(ours.contains("hmacWithSHA256"), "{ours}");
    let meta: serde_json::Value = serde_json::from_str(&env.read("adopted/vpnctl.json")).unwrap();
    assert_eq!(meta["ca_key_encrypted"], true);
    // openssl reads it with the same passphrase, and it is the CA's key.
    let (ok, out) = openssl(
        &[
            "pkey",
            "-in",
            "private/ca.key",
            "-passin",
            "pass:s3cret",
            "-pubout",
        ],
        &adopted,
    );
    assert!(ok, "{out}");
    let (ok, ca_pub) = openssl(&["x509", "-in", "ca.crt", "-noout", "-pubkey"], &adopted);
    assert!(ok && ca_pub == out, "{ca_pub}\n{out}");
    // It signs: a new user verifies against the adopted CA and CRL.
    env.ok(&["--pki", "adopted", "pki", "issue", "bob"]);
    let (ok, out) = crl_verify(&adopted, "issued/bob.crt");
    assert!(ok, "{out}");
}

#[test]
fn import_writes_a_whole_pki_or_nothing() {
    let env = Env::new();
    easyrsa_base(env.path(), &["alice"]);

    // A non-empty destination is refused and left byte-identical.
    let busy = env.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine\n").unwrap();
    let before = snapshot(&busy);
    let r = env.fails(&["--pki", "busy", "pki", "import-easyrsa", "pki"]);
    assert!(
        r.stderr.contains("busy") && r.stderr.contains("not empty"),
        "{}",
        r.stderr
    );
    assert!(snapshot(&busy) == before);
    let hidden = |env: &Env| -> Vec<String> {
        std::fs::read_dir(env.path())
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".import-"))
            .collect()
    };
    assert!(hidden(&env).is_empty(), "{:?}", hidden(&env));

    // A failed import (AWS would refuse the server: no --server-name) leaves nothing.
    let env2 = Env::new();
    easyrsa_pki(env2.path(), "server");
    env2.fails(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(!env2.path().join("adopted").exists());
    assert!(hidden(&env2).is_empty(), "{:?}", hidden(&env2));

    // What a killed import leaves (a staging folder of a process that is gone) is removed.
    let stale = env.path().join(".adopted.import-999999999-0a0b0c");
    std::fs::create_dir_all(stale.join("private")).unwrap();
    std::fs::write(stale.join("private/ca.key"), "half\n").unwrap();
    // An empty destination is fine: the import takes its place.
    std::fs::create_dir(env.path().join("adopted")).unwrap();
    env.ok(&["--pki", "adopted", "pki", "import-easyrsa", "pki"]);
    assert!(!stale.exists());
    assert!(hidden(&env).is_empty(), "{:?}", hidden(&env));
    let adopted = env.path().join("adopted");
    for d in ["", "private", "issued"] {
        assert_eq!(mode(&adopted.join(d)), 0o700, "{d}/");
    }
    for k in ["ca.key", "server.key", "alice.key"] {
        assert_eq!(mode(&adopted.join("private").join(k)), 0o600, "{k}");
    }
    for f in [
        "ca.crt",
        "issued/server.crt",
        "issued/alice.crt",
        "index.txt",
        "crl.pem",
        "vpnctl.json",
    ] {
        assert_eq!(mode(&adopted.join(f)), 0o644, "{f}");
    }
    env.ok(&["--pki", "adopted", "pki", "list"]);
}
