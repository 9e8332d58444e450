//! PEM files: certificates (`cert::inspect`, `signed_by`, `Ca::load`, the AWS check), CRLs
//! (`inspect_crl`, `crl_number`, `crl::check_replace` through `plan::crl_step`,
//! `crl::revokes_all`) and private keys (`parse_key`, `keyenc::load_key` plain and encrypted,
//! with key-derivation parameters built field by field).

use super::fixtures::{self, PASS};
use super::{armour, fuzz, pem_from};
use crate::pki::cert;
use crate::pki::keyenc::{self, Passphrase};
use pkcs8::EncryptedPrivateKeyInfoRef;
use pkcs8::der::Encode;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::pkcs5::{self, pbes2};
use proptest::prelude::*;

#[test]
fn certificate_inspect() {
    let p = fixtures::pem();
    fuzz(
        "cert::inspect and signed_by",
        1,
        pem_from(fixtures::certs()),
        |pem| {
            // Signature checks both ways: as the certificate, and as the CA of a real one.
            let _ = cert::signed_by(&pem, &p.ca_cert);
            let _ = cert::signed_by(&p.client_cert, &pem);
            let Ok(info) = cert::inspect(&pem, "fuzz.crt") else {
                return Ok(false);
            };
            let _ = cert::aws_server_problems(&info);
            let key = rcgen::KeyPair::from_pem(&p.client_key).unwrap();
            let _ = cert::key_matches(&key, &info);
            Ok(true)
        },
    );
}

#[test]
fn ca_load_with_a_mutated_certificate() {
    let p = fixtures::pem();
    fuzz(
        "cert::Ca::load (mutated ca.crt)",
        2,
        pem_from(vec![p.ca_cert.clone()]),
        |pem| {
            let key = rcgen::KeyPair::from_pem(&p.ca_key).unwrap();
            Ok(cert::Ca::load(&pem, key).is_ok())
        },
    );
}

fn crls() -> Vec<String> {
    let p = fixtures::pem();
    vec![p.crl.clone(), p.crl_empty.clone()]
}

#[test]
fn crl_inspect_and_number() {
    let p = fixtures::pem();
    fuzz(
        "cert::inspect_crl, crl_number, crl::check_replace",
        1,
        pem_from(crls()),
        |pem| {
            let _ = cert::crl_number(&pem);
            // The endpoint's CRL (AWS's export) against the local one, both ways, signed by
            // the real CA or by a mutated one; and the check after an import.
            let _ = crate::aws::plan::crl_step(Some(&pem), &p.crl, &p.ca_cert);
            let _ = crate::aws::plan::crl_step(Some(&p.crl), &pem, &p.ca_cert);
            let _ = crate::aws::plan::crl_step(Some(&p.crl_empty), &p.crl, &pem);
            let _ = crate::pki::crl::revokes_all(Some(&pem), &p.crl);
            let _ = crate::pki::crl::revokes_all(Some(&p.crl), &pem);
            // Unsigned (no CA) and signed (the real CA, or a mutated one).
            let _ = cert::inspect_crl(&pem, "");
            let _ = cert::inspect_crl(&p.crl, &pem);
            Ok(cert::inspect_crl(&pem, &p.ca_cert).is_ok())
        },
    );
}

#[test]
fn private_key_parse() {
    fuzz("cert::parse_key", 1, pem_from(fixtures::keys()), |pem| {
        let Ok(key) = cert::parse_key(&pem, "fuzz.key") else {
            return Ok(false);
        };
        let info = cert::inspect(&fixtures::pem().client_cert, "alice.crt").unwrap();
        let _ = cert::key_matches(&key, &info);
        Ok(true)
    });
}

#[test]
fn private_key_load_plain_and_encrypted() {
    let mut seeds = fixtures::keys();
    seeds.extend(fixtures::encrypted_keys());
    let pass = prop_oneof![
        3 => Just(Some(PASS.to_string())),
        1 => Just(None),
        1 => "\\PC{0,12}".prop_map(Some),
    ];
    fuzz(
        "keyenc::load_key (mutated)",
        2,
        (pem_from(seeds), pass),
        |(pem, pass)| {
            let pass = pass.map(Passphrase::new);
            let _ = keyenc::is_encrypted(&pem);
            Ok(keyenc::load_key(&pem, pass.as_ref(), "fuzz.key").is_ok())
        },
    );
}

/// Key-derivation functions as a file may declare them, valid or not. Costs a test can afford
/// to run are small; the others are refused before any work (`keyenc`'s bounds).
fn kdf() -> impl Strategy<Value = pbes2::Kdf> {
    // At most 32 bytes: what the decoder accepts (`Salt::new` panics past it rather than
    // returning its documented error, but only the decoder reads files).
    let salt = prop::collection::vec(any::<u8>(), 0..=pbes2::Salt::MAX_LEN)
        .prop_map(|s| pbes2::Salt::new(&s).unwrap());
    let key_length =
        proptest::option::of(prop_oneof![Just(16u16), Just(24), Just(32), any::<u16>()]);
    let prf = prop_oneof![
        Just(pbes2::Pbkdf2Prf::HmacWithSha1),
        Just(pbes2::Pbkdf2Prf::HmacWithSha224),
        Just(pbes2::Pbkdf2Prf::HmacWithSha256),
        Just(pbes2::Pbkdf2Prf::HmacWithSha384),
        Just(pbes2::Pbkdf2Prf::HmacWithSha512),
    ];
    let iterations = prop_oneof![0..64u32, 10_000_001..=u32::MAX];
    let pbkdf2 =
        (salt.clone(), iterations, key_length.clone(), prf).prop_map(|(salt, n, k, prf)| {
            pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
                salt,
                iteration_count: n,
                key_length: k,
                prf,
            })
        });
    let cost = prop_oneof![
        Just(0u64),
        Just(1),
        (1..=6u32).prop_map(|b| 1u64 << b),
        (0..u64::MAX),
        (20..64u32).prop_map(|b| 1u64 << b),
    ];
    let small = prop_oneof![Just(0u16), 1..=4u16];
    let block = prop_oneof![3 => small.clone(), 1 => any::<u16>()];
    let parallel = prop_oneof![3 => small, 1 => any::<u16>()];
    let scrypt = (salt, cost, block, parallel, key_length).prop_map(|(salt, n, r, p, k)| {
        // Costs keyenc accepts run at debug speed here: keep them small, or make them ones it
        // refuses (2^40 is past any bound).
        let work = n
            .checked_mul(u64::from(r))
            .and_then(|w| w.checked_mul(u64::from(p)));
        let n = if n.is_power_of_two() && work.is_some_and(|w| w > 4096) {
            1 << 40
        } else {
            n
        };
        pbes2::Kdf::Scrypt(pbes2::ScryptParams {
            salt,
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: k,
        })
    });
    prop_oneof![pbkdf2, scrypt]
}

fn cipher() -> impl Strategy<Value = pbes2::EncryptionScheme> {
    use pbes2::EncryptionScheme as E;
    (any::<[u8; 16]>(), any::<[u8; 12]>(), any::<[u8; 8]>()).prop_flat_map(|(iv, nonce, des)| {
        prop::sample::select(vec![
            E::Aes128Cbc { iv },
            E::Aes192Cbc { iv },
            E::Aes256Cbc { iv },
            E::Aes128Gcm { nonce },
            E::Aes256Gcm { nonce },
            E::DesEde3Cbc { iv: des },
        ])
    })
}

/// A whole `ENCRYPTED PRIVATE KEY` block from parts: the declared scheme, and a ciphertext that is
/// random, or the real key encrypted under that scheme when its cost is small.
fn encrypted_key() -> impl Strategy<Value = String> {
    let data = prop::collection::vec(any::<u8>(), 0..300);
    (kdf(), cipher(), data, any::<bool>()).prop_map(|(kdf, encryption, data, real)| {
        let params = pbes2::Parameters { kdf, encryption };
        let cheap = match &params.kdf {
            pbes2::Kdf::Pbkdf2(k) => k.iteration_count < 64,
            pbes2::Kdf::Scrypt(s) => {
                (2..=64).contains(&s.cost_parameter)
                    && s.cost_parameter.is_power_of_two()
                    && (1..=4).contains(&s.block_size)
                    && (1..=4).contains(&s.parallelization)
            }
            _ => false,
        };
        let plain = rcgen::KeyPair::from_pem(&fixtures::pem().ca_key)
            .unwrap()
            .serialize_der();
        let ciphertext = if real && cheap {
            params.encrypt(PASS, &plain).unwrap_or(data)
        } else {
            data
        };
        let Ok(data) = OctetStringRef::new(&ciphertext) else {
            return String::new();
        };
        let info = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: data,
        };
        info.to_der()
            .map(|der| armour("ENCRYPTED PRIVATE KEY", &der))
            .unwrap_or_default()
    })
}

#[test]
fn encrypted_key_with_any_declared_scheme() {
    fuzz(
        "keyenc::load_key (built encrypted keys)",
        2,
        encrypted_key(),
        |pem| {
            let pass = Passphrase::new(PASS.to_string());
            Ok(keyenc::load_key(&pem, Some(&pass), "fuzz.key").is_ok())
        },
    );
}
