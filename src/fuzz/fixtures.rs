//! Valid inputs made once per test process, by vpnctl's own code, for the generators to mutate:
//! RSA key generation costs tens of milliseconds, so nothing here is made per case.

use crate::pki::cert::{self, Ca, Leaf, Serial};
use crate::pki::index::{self, Entry};
use pkcs8::pkcs5::pbes2;
use pkcs8::{LineEnding, PrivateKeyInfoRef};
use rcgen::KeyPair;
use std::sync::OnceLock;
use time::{Duration, OffsetDateTime, macros::datetime};

/// The passphrase of every encrypted key here.
pub const PASS: &str = "fuzz passphrase";

/// The `now` every fixture and property uses.
pub const NOW: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);

/// The server's name in every fixture.
pub const SERVER: &str = "vpn.lab.example";

pub struct Pem {
    pub ca_cert: String,
    pub ca_key: String,
    pub server_cert: String,
    pub server_key: String,
    /// alice: a client certificate and its key.
    pub client_cert: String,
    pub client_key: String,
    /// bob: revoked in `index` and `crl`.
    pub revoked_cert: String,
    pub revoked_key: String,
    /// A client certificate for an EC P-256 key.
    pub ec_cert: String,
    pub ec_key: String,
    pub ed25519_key: String,
    /// alice's key as PKCS#1 (`RSA PRIVATE KEY`), as older easy-rsa writes it.
    pub pkcs1_key: String,
    /// The CA key encrypted with PBKDF2 (16 iterations: cheap to fuzz), AES-256-CBC.
    pub ca_key_pbkdf2: String,
    /// The CA key encrypted with scrypt (N=16, r=1, p=1), AES-256-CBC.
    pub ca_key_scrypt: String,
    /// The CA key encrypted with PBKDF2 and 3DES, as easy-rsa 3.1 does.
    pub ca_key_3des: String,
    /// A CRL revoking bob, number 7.
    pub crl: String,
    pub crl_empty: String,
    /// server, alice and the revoked bob.
    pub index: String,
}

fn expect<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("fixture {what}: {e}"),
    }
}

fn encrypt(key: &KeyPair, params: pbes2::Parameters) -> String {
    let der = key.serialize_der();
    let info = expect(PrivateKeyInfoRef::try_from(der.as_slice()), "key info");
    let doc = expect(info.encrypt_with_params(params, PASS), "encrypt");
    expect(doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF), "pem").to_string()
}

fn pkcs1(key: &KeyPair) -> String {
    let der = key.serialize_der();
    let info = expect(PrivateKeyInfoRef::try_from(der.as_slice()), "key info");
    super::armour("RSA PRIVATE KEY", info.private_key.as_bytes())
}

pub fn pem() -> &'static Pem {
    static PEM: OnceLock<Pem> = OnceLock::new();
    PEM.get_or_init(|| {
        let keys = expect(crate::pki::store::generate_keys(4), "RSA keys");
        let [ca_key, server_key, client_key, revoked_key] = &keys[..] else {
            panic!("fixture: 4 keys expected");
        };
        let serial = || expect(Serial::random(), "serial");
        let ca_cert = expect(cert::make_ca("Fuzz CA", ca_key, &serial(), NOW, 3650), "CA");
        let ca = expect(
            Ca::load(
                &ca_cert,
                expect(KeyPair::try_from(ca_key.serialize_der().as_slice()), "key"),
            ),
            "CA load",
        );
        let sign = |leaf, key: &KeyPair| {
            let s = serial();
            let pem = expect(ca.sign(leaf, key, &s, NOW, 825), "sign");
            let not_after = expect(cert::inspect(&pem, "leaf"), "inspect").not_after;
            (pem, s, not_after)
        };
        let (server_cert, s_serial, s_end) = sign(Leaf::Server(SERVER), server_key);
        let (client_cert, c_serial, c_end) = sign(Leaf::Client("alice"), client_key);
        let (revoked_cert, r_serial, r_end) = sign(Leaf::Client("bob"), revoked_key);
        let ec = expect(
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            "EC key",
        );
        let (ec_cert, _, _) = sign(Leaf::Client("carol"), &ec);
        let ed = expect(KeyPair::generate_for(&rcgen::PKCS_ED25519), "Ed25519 key");

        let mut entries = vec![
            Entry::valid(SERVER, s_serial, s_end),
            Entry::valid("alice", c_serial, c_end),
            Entry::valid("bob", r_serial, r_end),
        ];
        entries[2].revoke(NOW - Duration::days(3), "keyCompromise");
        let crl = expect(
            ca.crl(
                &index::revoked(&entries, NOW),
                NOW,
                NOW + Duration::days(30),
                7,
            ),
            "CRL",
        );
        let crl_empty = expect(ca.crl(&[], NOW, NOW + Duration::days(30), 1), "CRL");

        let (salt, iv) = ([7u8; 16], [9u8; 16]);
        let pbkdf2 = expect(
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(16, &salt, iv),
            "PBKDF2 params",
        );
        let scrypt = pbes2::Parameters {
            kdf: pbes2::Kdf::Scrypt(pbes2::ScryptParams {
                salt: expect(pbes2::Salt::new(salt), "salt"),
                cost_parameter: 16,
                block_size: 1,
                parallelization: 1,
                key_length: None,
            }),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv },
        };
        let des = pbes2::Parameters {
            encryption: pbes2::EncryptionScheme::DesEde3Cbc { iv: [3u8; 8] },
            ..pbkdf2.clone()
        };

        Pem {
            ca_key_pbkdf2: encrypt(ca_key, pbkdf2),
            ca_key_scrypt: encrypt(ca_key, scrypt),
            ca_key_3des: encrypt(ca_key, des),
            pkcs1_key: pkcs1(client_key),
            ca_cert,
            ca_key: ca_key.serialize_pem(),
            server_cert,
            server_key: server_key.serialize_pem(),
            client_cert,
            client_key: client_key.serialize_pem(),
            revoked_cert,
            revoked_key: revoked_key.serialize_pem(),
            ec_cert,
            ec_key: ec.serialize_pem(),
            ed25519_key: ed.serialize_pem(),
            crl,
            crl_empty,
            index: index::render(&entries),
        }
    })
}

/// Every certificate.
pub fn certs() -> Vec<String> {
    let p = pem();
    vec![
        p.ca_cert.clone(),
        p.server_cert.clone(),
        p.client_cert.clone(),
        p.revoked_cert.clone(),
        p.ec_cert.clone(),
    ]
}

/// Every plaintext key.
pub fn keys() -> Vec<String> {
    let p = pem();
    vec![
        p.ca_key.clone(),
        p.server_key.clone(),
        p.client_key.clone(),
        p.ec_key.clone(),
        p.ed25519_key.clone(),
        p.pkcs1_key.clone(),
    ]
}

/// Every encrypted key.
pub fn encrypted_keys() -> Vec<String> {
    let p = pem();
    vec![
        p.ca_key_pbkdf2.clone(),
        p.ca_key_scrypt.clone(),
        p.ca_key_3des.clone(),
    ]
}
