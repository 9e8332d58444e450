//! The store at known crash points: each test builds the state a kill at one step leaves
//! (by writing exactly what the command had written by then) and checks what the next
//! command makes of it. `tests/it/crash.rs` kills the real binary at every step.

use super::repair::Journal;
use super::*;
use crate::pki::cert::crl_number;
use std::collections::BTreeSet;
use time::Duration;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

fn opts() -> InitOptions {
    InitOptions {
        deployment: "lab".into(),
        server_name: None,
        ca_days: 3650,
        server_days: 825,
        crl_days: 1825,
        force: false,
        passphrase: None,
        kms: None,
    }
}

fn pki_with(users: &[&str]) -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pki");
    let mut pki = Pki::init(&root, &opts(), NOW).unwrap();
    let names: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    if !names.is_empty() {
        pki.issue(&names, 825, None, false, NOW).unwrap();
    }
    (dir, pki)
}

fn crl_serials(pki: &Pki) -> BTreeSet<Serial> {
    cert::inspect_crl(&pki.crl_pem().unwrap(), &pki.ca_pem().unwrap())
        .unwrap()
        .revoked
        .into_iter()
        .collect()
}

fn index_revoked(pki: &Pki) -> BTreeSet<Serial> {
    pki.index()
        .unwrap()
        .into_iter()
        .filter(Entry::is_revoked)
        .map(|e| e.serial)
        .collect()
}

fn write_index(pki: &Pki, entries: &[Entry]) {
    std::fs::write(pki.layout.index(), index::render(entries)).unwrap();
}

#[test]
fn a_kill_between_index_and_crl_is_repaired_with_a_higher_number() {
    let (_d, mut pki) = pki_with(&["alice", "bob"]);
    let before = crl_number(&pki.crl_pem().unwrap()).unwrap();
    // revoke bob: the index was written, the CRL was not.
    let mut entries = pki.index().unwrap();
    entries
        .iter_mut()
        .find(|e| e.cn == "bob")
        .unwrap()
        .revoke(NOW, "cessationOfOperation");
    write_index(&pki, &entries);
    assert!(pki.health().unwrap().crl_stale);
    // Re-running the revoke repairs first, then says bob is already revoked.
    let err = pki.revoke("bob", None, NOW).unwrap_err();
    assert!(err.to_string().contains("already revoked"), "{err}");
    assert_eq!(crl_serials(&pki), index_revoked(&pki));
    assert!(crl_number(&pki.crl_pem().unwrap()).unwrap() > before);
    assert!(
        pki.repaired.iter().any(|r| r.contains("regenerated")),
        "{:?}",
        pki.repaired
    );
    assert!(pki.health().unwrap().is_clean());
}

#[test]
fn an_issue_killed_before_its_certificate_is_rolled_back_by_revoking_the_serial() {
    let (_d, mut pki) = pki_with(&[]);
    // issue carol: journal and index written, the key written, the certificate not.
    let serial = Serial::random().unwrap();
    let mut entries = pki.index().unwrap();
    entries.push(Entry::valid(
        "carol",
        serial.clone(),
        NOW + Duration::days(30),
    ));
    pki.begin(&Journal {
        op: "issue".into(),
        new: vec![("carol".into(), serial.hex())],
        ..Journal::default()
    })
    .unwrap();
    write_index(&pki, &entries);
    std::fs::write(
        pki.layout.key("carol"),
        cert::new_key().unwrap().serialize_pem(),
    )
    .unwrap();
    assert_eq!(pki.health().unwrap().interrupted.as_deref(), Some("issue"));
    // The next command (issuing carol again) rolls back, then issues afresh.
    let issued = pki.issue(&["carol".into()], 825, None, false, NOW).unwrap();
    assert_ne!(issued[0].serial, serial);
    assert!(
        index_revoked(&pki).contains(&serial),
        "the lost serial is revoked"
    );
    assert!(crl_serials(&pki).contains(&serial));
    assert!(
        pki.layout.retired_key("revoked", &serial).exists(),
        "the stray key is retired"
    );
    assert!(pki.user_material("carol", NOW).is_ok());
    assert!(!pki.layout.pending().exists());
}

#[test]
fn a_kill_before_the_index_leaves_nothing_to_roll_back() {
    let (_d, mut pki) = pki_with(&["alice"]);
    let index_before = std::fs::read_to_string(pki.layout.index()).unwrap();
    pki.begin(&Journal {
        op: "issue".into(),
        new: vec![("dave".into(), Serial::random().unwrap().hex())],
        ..Journal::default()
    })
    .unwrap();
    // A stray staged file as a killed stager leaves it.
    std::fs::write(
        pki.layout.issued_dir().join(".dave.crt.tmp-0011223344"),
        "x",
    )
    .unwrap();
    pki.regenerate_crl(None, None, NOW).unwrap();
    assert_eq!(
        std::fs::read_to_string(pki.layout.index()).unwrap(),
        index_before
    );
    assert!(
        !pki.layout
            .issued_dir()
            .join(".dave.crt.tmp-0011223344")
            .exists()
    );
    assert!(!pki.layout.pending().exists());
}

#[test]
fn a_revoke_killed_before_moving_files_finishes_moving_them() {
    let (_d, mut pki) = pki_with(&["alice", "bob"]);
    let profile = pki.layout.profile("bob");
    std::fs::create_dir_all(profile.parent().unwrap()).unwrap();
    std::fs::write(&profile, "old profile").unwrap();
    let mut entries = pki.index().unwrap();
    let bob = entries.iter_mut().find(|e| e.cn == "bob").unwrap();
    bob.revoke(NOW, "cessationOfOperation");
    let serial = bob.serial.clone();
    pki.begin(&Journal {
        op: "revoke".into(),
        retire: vec![("bob".into(), "revoked".into(), serial.hex())],
        profiles: vec!["bob".into()],
        ..Journal::default()
    })
    .unwrap();
    write_index(&pki, &entries);
    pki.regenerate_crl(None, None, NOW).unwrap();
    assert!(!pki.layout.cert("bob").exists() && !pki.layout.key("bob").exists());
    assert!(pki.layout.retired_cert("revoked", &serial).exists());
    assert!(pki.layout.retired_key("revoked", &serial).exists());
    assert!(!profile.exists());
    assert!(crl_serials(&pki).contains(&serial));
}

#[test]
fn a_journal_whose_index_was_not_written_retires_nothing() {
    let (_d, mut pki) = pki_with(&["alice"]);
    let serial = pki.index().unwrap().last().unwrap().serial.clone();
    pki.begin(&Journal {
        op: "revoke".into(),
        retire: vec![("alice".into(), "revoked".into(), serial.hex())],
        profiles: vec!["alice".into()],
        ..Journal::default()
    })
    .unwrap();
    pki.regenerate_crl(None, None, NOW).unwrap();
    assert!(
        pki.user_material("alice", NOW).is_ok(),
        "a valid user keeps her files"
    );
}

#[test]
fn crl_numbers_never_go_back_when_the_settings_lag() {
    let (_d, mut pki) = pki_with(&["alice"]);
    pki.regenerate_crl(None, None, NOW).unwrap();
    pki.regenerate_crl(None, None, NOW).unwrap();
    let n = crl_number(&pki.crl_pem().unwrap()).unwrap();
    // A kill after crl.pem but before vpnctl.json: the settings still say an older number.
    let mut meta = pki.meta.clone();
    meta.crl_number = 1;
    write_meta(&pki.layout, &meta).unwrap();
    let mut again = Pki::open(&pki.layout.root).unwrap();
    again.regenerate_crl(None, None, NOW).unwrap();
    assert_eq!(crl_number(&again.crl_pem().unwrap()), Some(n + 1));
}

#[test]
fn an_init_killed_after_its_commit_point_is_finished_by_the_next_open() {
    let (d, pki) = pki_with(&["alice"]);
    let root = pki.layout.root.clone();
    let old_ca = pki.ca_pem().unwrap();
    // Build a replacement in a scratch PKI, then lay it out as a committed staging folder
    // whose moves stopped half-way: the old index and CRL moved aside, nothing moved in.
    let scratch = d.path().join("scratch");
    Pki::init(&scratch, &opts(), NOW).unwrap();
    let staging = root.join(".init-deadbeef");
    std::fs::rename(&scratch, &staging).unwrap();
    std::fs::remove_file(staging.join(".gitignore")).unwrap();
    let _ = std::fs::remove_file(staging.join(".lock"));
    std::fs::write(staging.join("READY"), "replaced-1-abc").unwrap();
    let aside = root.join("replaced-1-abc");
    std::fs::create_dir(&aside).unwrap();
    for name in ["index.txt", "crl.pem"] {
        std::fs::rename(root.join(name), aside.join(name)).unwrap();
    }
    let new = Pki::open(&root).unwrap();
    assert_ne!(new.ca_pem().unwrap(), old_ca);
    assert!(!staging.exists());
    assert_eq!(
        std::fs::read_to_string(aside.join("ca.crt")).unwrap(),
        old_ca
    );
    assert!(aside.join("issued/alice.crt").exists() && aside.join("index.txt").exists());
    assert!(new.health().unwrap().is_clean());
    assert_eq!(new.index().unwrap().len(), 1);
}

#[test]
fn an_uncommitted_init_is_ignored_and_removed() {
    let (_d, pki) = pki_with(&[]);
    let staging = pki.layout.root.join(".init-0badc0de");
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("ca.crt"), "half").unwrap();
    let opened = Pki::open(&pki.layout.root).unwrap();
    assert_eq!(opened.ca_pem().unwrap(), pki.ca_pem().unwrap());
    let mut o = opts();
    o.force = true;
    Pki::init(&pki.layout.root, &o, NOW).unwrap();
    assert!(!staging.exists());
}

#[test]
fn merge_learns_revocations_and_supersedes_the_merged_number() {
    let (_d, mut a) = pki_with(&["alice", "bob"]);
    let copy = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(&a.layout.root)
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut b = Pki::open(&copy.path().join("pki")).unwrap();
    a.revoke("bob", None, NOW).unwrap();
    a.regenerate_crl(None, None, NOW).unwrap();
    let theirs = a.crl_pem().unwrap();
    let merged = b.merge_crl(&theirs, None, NOW).unwrap();
    assert_eq!(merged.revoked.len(), 1);
    assert!(merged.number > crl_number(&theirs).unwrap());
    assert_eq!(crl_serials(&b), crl_serials(&a));
    assert!(!b.layout.cert("bob").exists());
    // Again: nothing new, nothing written.
    let before = b.crl_pem().unwrap();
    let again = b.merge_crl(&theirs, None, NOW).unwrap();
    assert!(!again.regenerated);
    assert_eq!(b.crl_pem().unwrap(), before);
}

#[test]
fn a_crl_that_revokes_more_than_the_index_is_never_undone_by_a_repair() {
    let (_d, mut pki) = pki_with(&["alice", "bob"]);
    let before = pki.index().unwrap();
    pki.revoke("bob", None, NOW).unwrap();
    let bob = index_revoked(&pki);
    // The index as it was before the revocation, beside the CRL that carries it.
    write_index(&pki, &before);
    pki.regenerate_crl(None, None, NOW).unwrap();
    assert_eq!(
        index_revoked(&pki),
        bob,
        "bob is revoked in the index again"
    );
    assert_eq!(crl_serials(&pki), bob);
    assert!(
        pki.repaired
            .iter()
            .any(|r| r.contains("revoked in the index too"))
    );
}

#[test]
fn renew_refuses_files_that_are_not_the_current_certificates_before_writing_anything() {
    let (_d, mut pki) = pki_with(&["alice", "bob"]);
    std::fs::copy(pki.layout.key("bob"), pki.layout.key("alice")).unwrap();
    let index = std::fs::read_to_string(pki.layout.index()).unwrap();
    let err = pki.renew("alice", None, None, NOW).unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("alice.key"), "{err}");
    assert_eq!(std::fs::read_to_string(pki.layout.index()).unwrap(), index);
    assert!(!pki.layout.pending().exists());
}

#[test]
fn init_beside_a_lone_journal_is_a_fresh_init() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pki");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join(".pending.json"), r#"{"op":"revoke"}"#).unwrap();
    let pki = Pki::init(&root, &opts(), NOW).unwrap();
    assert!(!pki.layout.pending().exists());
    assert!(Pki::open(&root).unwrap().health().unwrap().is_clean());
}

#[test]
fn a_repair_that_needs_a_missing_passphrase_says_so_with_its_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    o.passphrase = Some(Passphrase::new("s3cret".into()));
    let mut pki = Pki::init(&dir.path().join("pki"), &o, NOW).unwrap();
    pki.begin(&Journal {
        op: "revoke".into(),
        ..Journal::default()
    })
    .unwrap();
    let err = pki.ensure_consistent(|| Ok(None), NOW).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("interrupted") && text.contains("needs the CA key"),
        "{text}"
    );
    assert!(
        pki.layout.pending().exists(),
        "nothing was repaired without the key"
    );
}
