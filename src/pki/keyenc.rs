//! Reading and writing private keys as PEM, including the CA key kept encrypted as PKCS#8
//! (PBES2: PBKDF2-SHA256 + AES-256-CBC, the scheme openssl uses, so `openssl pkey` reads it).

use crate::error::{Error, Result};
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef, pkcs5::pbes2};
use rcgen::KeyPair;

const ITERATIONS: u32 = 600_000;

/// A passphrase; never printed.
#[derive(Clone)]
pub struct Passphrase(String);

impl Passphrase {
    pub fn new(s: String) -> Passphrase {
        Passphrase(s.trim_end_matches(['\n', '\r']).to_string())
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// `key` as PEM: plaintext PKCS#8, or encrypted PKCS#8 when a passphrase is given.
pub fn key_to_pem(key: &KeyPair, pass: Option<&Passphrase>) -> Result<String> {
    let Some(pass) = pass else {
        return Ok(key.serialize_pem());
    };
    if pass.0.is_empty() {
        return Err(Error::invalid(
            "the CA passphrase is empty",
            "set a non-empty passphrase",
        ));
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    crate::fsx::random(&mut salt)?;
    crate::fsx::random(&mut iv)?;
    let enc_err = |e: String| Error::corrupt(format!("cannot encrypt the CA key: {e}"), "retry");
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, iv)
        .map_err(|e| enc_err(e.to_string()))?;
    let der = key.serialize_der();
    let info = PrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| enc_err(e.to_string()))?;
    let doc = info
        .encrypt_with_params(params, pass.0.as_bytes())
        .map_err(|e| enc_err(e.to_string()))?;
    let pem = doc
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| enc_err(e.to_string()))?;
    Ok(pem.to_string())
}

pub fn is_encrypted(pem: &str) -> bool {
    pem.lines()
        .any(|l| l.trim() == concat!("-----BEGIN ", "ENCRYPTED PRIVATE KEY-----"))
}

/// Read a private key PEM; `what` names it in errors.
pub fn load_key(pem: &str, pass: Option<&Passphrase>, what: &str) -> Result<KeyPair> {
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::invalid(
            format!("{what} is encrypted in the legacy OpenSSL format, which vpnctl does not read"),
            "convert it to PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc -in ca.key -out ca.key.p8",
        ));
    }
    if !is_encrypted(pem) {
        return super::cert::parse_key(pem, what);
    }
    let Some(pass) = pass else {
        return Err(Error::invalid(
            format!("{what} is encrypted and no passphrase was given"),
            "set VPNCTL_CA_PASSPHRASE or pass --ca-passphrase-file FILE (vpnctl never prompts)",
        ));
    };
    let corrupt = |d: String| {
        Error::corrupt(
            format!("{what} is not a readable encrypted key ({d})"),
            "restore it from a backup",
        )
    };
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(corrupt(format!("found '{label}'")));
    }
    let info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| {
        let detail = e.to_string();
        if detail.contains("OID") {
            // A cipher or key derivation pkcs8 does not implement (easy-rsa 3.1 uses 3DES,
            // which is supported; older tools may use others).
            Error::invalid(
                format!("{what} is encrypted with a scheme vpnctl does not read ({detail})"),
                "convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in ca.key -out ca.key.p8, then use ca.key.p8",
            )
        } else {
            corrupt(detail)
        }
    })?;
    let plain = info.decrypt(pass.0.as_bytes()).map_err(|_| {
        Error::invalid(
            format!("wrong passphrase for {what}"),
            "check VPNCTL_CA_PASSPHRASE or the --ca-passphrase-file contents",
        )
    })?;
    KeyPair::try_from(plain.as_bytes()).map_err(|e| corrupt(e.to_string()))
}
