//! Everything vpnctl issues, parsed with x509-parser and cross-checked with the real openssl:
//! chain signatures, extensions, key sizes, serials, CRL.

use crate::harness::{Env, crl_verify, openssl};
use x509_parser::prelude::*;

fn der_of(pem_text: &str) -> Vec<u8> {
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).expect("pem");
    assert_eq!(pem.label, "CERTIFICATE");
    pem.contents
}

fn rsa_bits(c: &X509Certificate<'_>) -> usize {
    match c.public_key().parsed().expect("key") {
        x509_parser::public_key::PublicKey::RSA(r) => r.key_size(),
        other => panic!("not RSA: {other:?}"),
    }
}

fn ski(c: &X509Certificate<'_>) -> Vec<u8> {
    c.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .expect("SKI")
}

fn aki(c: &X509Certificate<'_>) -> Vec<u8> {
    c.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("AKI")
}

fn serial_ok(c: &X509Certificate<'_>) {
    let raw = c.raw_serial();
    assert!(raw.len() >= 16, "serial of {} bytes", raw.len());
    assert!(raw[0] & 0x80 == 0, "serial must be positive");
}

#[test]
fn ca_server_and_client_certificates_are_as_specified() {
    let env = Env::new();
    env.ok(&["pki", "init", "--name", "lab"]);
    env.ok(&["pki", "issue", "alice", "bob@example.com"]);

    let ca_pem = env.read("pki/ca.crt");
    let ca_der = der_of(&ca_pem);
    let (_, ca) = parse_x509_certificate(&ca_der).expect("ca");
    assert_eq!(rsa_bits(&ca), 2048);
    let bc = ca.basic_constraints().expect("bc").expect("bc present");
    assert!(
        bc.critical && bc.value.ca,
        "CA basicConstraints must be critical CA:TRUE"
    );
    let ku = ca.key_usage().expect("ku").expect("ku present").value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_eq!(ski(&ca), aki(&ca));
    ca.verify_signature(None).expect("self-signed");
    serial_ok(&ca);
    let years = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp())
        / (365 * 86400);
    assert!((9..=10).contains(&years), "CA validity {years} years");

    let server_der = der_of(&env.read("pki/issued/server.crt"));
    let (_, server) = parse_x509_certificate(&server_der).expect("server");
    assert_eq!(rsa_bits(&server), 2048);
    let cn = server
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cn, "server.lab.vpnctl.internal");
    assert!(cn.contains('.'), "server CN must be fully qualified");
    let san = server.subject_alternative_name().unwrap().unwrap();
    assert!(
        san.value
            .general_names
            .iter()
            .any(|g| matches!(g, GeneralName::DNSName(d) if *d == cn)),
        "SAN DNS must equal CN"
    );
    let ku = server.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
    let eku = server.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert!(
        !server
            .basic_constraints()
            .unwrap()
            .map(|b| b.value.ca)
            .unwrap_or(false)
    );
    server
        .verify_signature(Some(ca.public_key()))
        .expect("server signed by CA");
    assert_eq!(aki(&server), ski(&ca));
    serial_ok(&server);

    for user in ["alice", "bob@example.com"] {
        let der = der_of(&env.read(&format!("pki/issued/{user}.crt")));
        let (_, c) = parse_x509_certificate(&der).expect("client");
        assert_eq!(rsa_bits(&c), 2048);
        assert_eq!(
            c.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            user
        );
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_encipherment());
        let eku = c.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        c.verify_signature(Some(ca.public_key()))
            .expect("client signed by CA");
        assert_eq!(aki(&c), ski(&ca));
        serial_ok(&c);
        assert_ne!(c.raw_serial(), server.raw_serial());
    }
}

#[test]
fn openssl_agrees_on_chain_and_purpose() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    let pki = env.pki();
    let (ok, out) = openssl(
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslserver",
            "issued/server.crt",
        ],
        &pki,
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslclient",
            "issued/alice.crt",
        ],
        &pki,
    );
    assert!(ok, "{out}");
    // The purposes are exclusive: a client cert is no server and vice versa.
    let (ok, _) = openssl(
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslserver",
            "issued/alice.crt",
        ],
        &pki,
    );
    assert!(!ok, "a client certificate must not pass as a server");
    let (ok, _) = openssl(
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-purpose",
            "sslclient",
            "issued/server.crt",
        ],
        &pki,
    );
    assert!(!ok, "the server certificate must not pass as a client");
    // Keys match their certificates, as openssl sees them.
    for (cert, key) in [
        ("issued/alice.crt", "private/alice.key"),
        ("issued/server.crt", "private/server.key"),
        ("ca.crt", "private/ca.key"),
    ] {
        let (_, a) = openssl(&["x509", "-in", cert, "-noout", "-pubkey"], &pki);
        let (_, b) = openssl(&["pkey", "-in", key, "-pubout"], &pki);
        assert_eq!(a, b, "{key} does not match {cert}");
    }
}

#[test]
fn crl_is_signed_by_the_ca_and_lists_revoked_serials() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    // The initial CRL is valid and empty.
    let (ok, out) = crl_verify(&env.pki(), "issued/bob.crt");
    assert!(ok, "{out}");
    env.ok(&["pki", "revoke", "bob"]);
    let revoked = std::fs::read_dir(env.pki().join("revoked/certs_by_serial"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (ok, out) = crl_verify(&env.pki(), revoked.to_str().unwrap());
    assert!(!ok && out.contains("revoked"), "{out}");
    let (ok, out) = crl_verify(&env.pki(), "issued/alice.crt");
    assert!(ok, "{out}");

    let crl_pem = env.read("pki/crl.pem");
    let (_, pem) = parse_x509_pem(crl_pem.as_bytes()).unwrap();
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents).unwrap();
    let ca_der = der_of(&env.read("pki/ca.crt"));
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    crl.verify_signature(ca.public_key())
        .expect("CRL signed by the CA");
    assert_eq!(crl.iter_revoked_certificates().count(), 1);
    let next = crl.next_update().expect("next update").timestamp();
    let years_ahead = (next - ::time::OffsetDateTime::now_utc().unix_timestamp()) / (365 * 86400);
    assert!(
        years_ahead >= 4,
        "CRL next-update only {years_ahead} years ahead"
    );
}
