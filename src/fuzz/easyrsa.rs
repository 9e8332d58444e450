//! Adopting an easy-rsa directory (`easyrsa::import`): a valid easy-rsa layout (CA, server,
//! alice, a revoked bob, an EC carol, index.txt, crlnumber) with its files mutated, removed,
//! swapped, copied over each other, replaced by directories, and extra files added.

use super::fixtures::{self, NOW, PASS};
use super::{Op, apply, der_ops, fuzz, text_ops};
use crate::pki::easyrsa::{self, ImportOptions};
use crate::pki::keyenc::Passphrase;
use crate::pki::store::Pki;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;

fn tree() -> Vec<(String, Vec<u8>)> {
    let p = fixtures::pem();
    [
        ("ca.crt", &p.ca_cert),
        ("private/ca.key", &p.ca_key),
        ("issued/server.crt", &p.server_cert),
        ("private/server.key", &p.server_key),
        ("issued/alice.crt", &p.client_cert),
        ("private/alice.key", &p.pkcs1_key),
        ("issued/bob.crt", &p.revoked_cert),
        ("private/bob.key", &p.revoked_key),
        ("issued/carol.crt", &p.ec_cert),
        ("private/carol.key", &p.ec_key),
        ("index.txt", &p.index),
        ("crl.pem", &p.crl),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .chain([("crlnumber".to_string(), b"07\n".to_vec())])
    .collect()
}

#[derive(Debug, Clone)]
enum DirOp {
    /// Mutate a file as text, or (for PEM files) below the base64.
    Text(Index, Vec<Op>),
    Der(Index, Vec<Op>),
    Remove(Index),
    Swap(Index, Index),
    CopyOver(Index, Index),
    Add(String, Index),
    /// A directory where a file should be.
    Dir(Index),
    /// The CA key encrypted (the passphrase may or may not be given).
    EncryptedCaKey(Index),
}

fn dir_op() -> impl Strategy<Value = DirOp> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "issued/x.crt",
            "issued/.crt",
            "issued/server2.crt",
            "issued/a b.crt",
            "issued/ALICE.crt",
            "issued/x.pem",
            "private/x.key",
            "crlnumber",
            "index.txt.attr",
        ])
        .prop_map(str::to_string),
        "issued/[^/]{1,8}\\.crt",
    ];
    prop_oneof![
        4 => (any::<Index>(), text_ops()).prop_map(|(i, o)| DirOp::Text(i, o)),
        4 => (any::<Index>(), der_ops()).prop_map(|(i, o)| DirOp::Der(i, o)),
        1 => any::<Index>().prop_map(DirOp::Remove),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| DirOp::Swap(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| DirOp::CopyOver(a, b)),
        1 => (name, any::<Index>()).prop_map(|(n, i)| DirOp::Add(n, i)),
        1 => any::<Index>().prop_map(DirOp::Dir),
        1 => any::<Index>().prop_map(DirOp::EncryptedCaKey),
    ]
}

/// The tree with `ops` applied; `None` content is a directory.
fn mutate(ops: &[DirOp]) -> Vec<(String, Option<Vec<u8>>)> {
    let mut t: Vec<(String, Option<Vec<u8>>)> =
        tree().into_iter().map(|(k, v)| (k, Some(v))).collect();
    for op in ops {
        if t.is_empty() {
            break;
        }
        let n = t.len();
        match op {
            DirOp::Text(i, o) => {
                let f = &mut t[i.index(n)].1;
                if let Some(b) = f {
                    *b = apply(b, o);
                }
            }
            DirOp::Der(i, o) => {
                let f = &mut t[i.index(n)].1;
                if let Some(b) = f {
                    *b = super::mutate_der(&String::from_utf8_lossy(b), o).into_bytes();
                }
            }
            DirOp::Remove(i) => {
                t.remove(i.index(n));
            }
            DirOp::Swap(a, b) => {
                let (a, b) = (a.index(n), b.index(n));
                let x = t[a].1.take();
                t[a].1 = t[b].1.take();
                t[b].1 = x;
            }
            DirOp::CopyOver(a, b) => {
                let x = t[a.index(n)].1.clone();
                t[b.index(n)].1 = x;
            }
            DirOp::Add(name, i) => {
                let x = t[i.index(n)].1.clone();
                t.push((name.clone(), x));
            }
            DirOp::Dir(i) => t[i.index(n)].1 = None,
            DirOp::EncryptedCaKey(i) => {
                let keys = fixtures::encrypted_keys();
                let k = keys[i.index(keys.len())].clone();
                if let Some(f) = t.iter_mut().find(|(p, _)| p == "private/ca.key") {
                    f.1 = Some(k.into_bytes());
                }
            }
        }
    }
    t
}

fn write(root: &Path, files: &[(String, Option<Vec<u8>>)]) {
    for d in ["private", "issued"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for (rel, data) in files {
        let p = root.join(rel);
        match data {
            Some(b) => {
                // A file added under a name already made a directory stays a directory.
                let _ = std::fs::write(p, b);
            }
            None => {
                let _ = std::fs::remove_file(&p);
                let _ = std::fs::create_dir_all(p);
            }
        }
    }
}

fn options() -> impl Strategy<Value = (ImportOptions, Option<String>)> {
    let server = prop_oneof![
        6 => Just(None),
        1 => prop::sample::select(vec!["server", "alice", "carol", fixtures::SERVER, "nobody"])
            .prop_map(|s| Some(s.to_string())),
        1 => "\\PC{0,10}".prop_map(Some),
    ];
    // A valid --server-name makes a new RSA key: rare, so the run stays short.
    let server_name = prop_oneof![
        14 => Just(None),
        1 => Just(Some("vpn2.lab.example".to_string())),
        1 => "\\PC{0,10}".prop_map(Some),
    ];
    let days = prop_oneof![6 => Just(30u32), 1 => Just(0), 1 => Just(36501), 1 => any::<u32>()];
    let deployment = prop_oneof![6 => Just("lab".to_string()), 1 => "\\PC{0,8}"];
    let pass = prop_oneof![
        Just(Some(PASS.to_string())),
        Just(None),
        "\\PC{0,8}".prop_map(Some)
    ];
    (deployment, server, server_name, days, pass).prop_map(
        |(deployment, server, server_name, crl_days, pass)| {
            (
                ImportOptions {
                    deployment,
                    server,
                    server_name,
                    crl_days,
                },
                pass,
            )
        },
    )
}

#[test]
fn easyrsa_import_of_a_mutated_directory() {
    let ops = prop::collection::vec(dir_op(), 0..=4);
    fuzz(
        "easyrsa::import (mutated easy-rsa dir)",
        8,
        (ops, options()),
        |(ops, (opts, pass))| {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("easyrsa");
            write(&src, &mutate(&ops));
            let dest = dir.path().join("pki");
            let pass = pass.map(Passphrase::new);
            let Ok((_, report)) = easyrsa::import(&src, &dest, &opts, pass.as_ref(), NOW) else {
                return Ok(false);
            };
            // What was adopted is a PKI vpnctl can open and read.
            let pki = Pki::open(&dest);
            prop_assert!(pki.is_ok(), "{:?}", pki.err());
            let pki = pki.unwrap();
            let index = pki.index();
            prop_assert!(index.is_ok(), "{:?}", index.err());
            let _ = pki.materials(&report.users, NOW);
            Ok(true)
        },
    );
}

/// Found by fuzzing the import before 97894a0: index.txt's subject for the server's serial
/// truncated to `/CN=vpn.lab` (the certificate says `vpn.lab.example`). Entries were matched to
/// certificates by serial, the server named after the certificate's CN, the index's CN kept:
/// the import succeeded and every later command on the adopted PKI failed with "index.txt has
/// no entry for the server certificate". The rewritten import handles it; this keeps it so.
#[test]
fn easyrsa_index_cn_differing_from_the_certificate_leaves_a_usable_pki() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("easyrsa");
    let files: Vec<(String, Option<Vec<u8>>)> = tree()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "index.txt" {
                let text = String::from_utf8(v).unwrap();
                let cut = format!("/CN={}", fixtures::SERVER);
                text.replace(&cut, "/CN=vpn.lab").into_bytes()
            } else {
                v
            };
            (k, Some(v))
        })
        .collect();
    write(&src, &files);
    let dest = dir.path().join("pki");
    let opts = ImportOptions {
        deployment: "lab".into(),
        server: None,
        server_name: None,
        crl_days: 30,
    };
    if easyrsa::import(&src, &dest, &opts, None, NOW).is_ok() {
        let index = Pki::open(&dest).and_then(|p| p.index());
        assert!(index.is_ok(), "import succeeded, then: {:?}", index.err());
    }
}
