//! Reading and writing private keys as PEM, including the CA key kept encrypted as PKCS#8
//! (PBES2: PBKDF2-SHA256 + AES-256-CBC, the scheme openssl uses, so `openssl pkey` reads it).

use crate::error::{Error, Result};
use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef, pkcs5::pbes2};
use rcgen::KeyPair;

const ITERATIONS: u32 = 600_000;

/// The most PBKDF2 iterations a key file may ask for: RFC 8018 calls 10,000,000 appropriate
/// "for especially critical keys" (vpnctl writes 600,000, openssl 2048).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The most memory a key file's scrypt parameters may ask for: openssl's own default limit.
const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;
/// The most scrypt work (N·r·p): 32 times openssl's default (N=2^14, r=8, p=1).
const MAX_SCRYPT_WORK: u64 = 1 << 22;

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
            "set VPNCTL_CA_PASSPHRASE or pass --ca-passphrase-file FILE (vpnctl asks only when \
             stdin is a terminal)",
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
                "convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in ca.key -out ca.key.p8, \
                    then use ca.key.p8",
            )
        } else {
            corrupt(detail)
        }
    })?;
    check_cost(&info.encryption_algorithm, what)?;
    let plain = info.decrypt(pass.0.as_bytes()).map_err(|_| {
        Error::invalid(
            format!("wrong passphrase for {what}"),
            "check VPNCTL_CA_PASSPHRASE or the --ca-passphrase-file contents",
        )
    })?;
    KeyPair::try_from(plain.as_bytes()).map_err(|e| corrupt(e.to_string()))
}

/// Refuse a key-derivation cost before paying it. The file declares its own cost, so without a
/// bound a corrupt `ca.key` could make vpnctl run for hours or ask scrypt for terabytes (an
/// abort, not an error), and an scrypt N of 0 panics inside pkcs5.
fn check_cost(scheme: &pkcs8::pkcs5::EncryptionScheme, what: &str) -> Result<()> {
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    let too_costly = |cost: String| {
        Error::invalid(
            format!("{what} asks for {cost}: more than vpnctl spends on a passphrase"),
            "re-encrypt it with usual settings: openssl pkcs8 -topk8 -v2 aes-256-cbc \
             -in ca.key -out ca.key.p8, then use ca.key.p8",
        )
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(too_costly(
            format!("{} PBKDF2 iterations", p.iteration_count),
        )),
        pbes2::Kdf::Scrypt(p) => {
            let n = p.cost_parameter;
            let (r, par) = (u64::from(p.block_size), u64::from(p.parallelization));
            // RFC 7914: N a power of 2 above 1, r and p at least 1.
            if n < 2 || !n.is_power_of_two() || r == 0 || par == 0 {
                return Err(Error::corrupt(
                    format!(
                        "{what} is not a readable encrypted key \
                         (invalid scrypt parameters N={n}, r={r}, p={par})"
                    ),
                    "restore it from a backup",
                ));
            }
            let bytes = n.checked_add(par).and_then(|x| x.checked_mul(128 * r));
            let work = n.checked_mul(r).and_then(|x| x.checked_mul(par));
            if bytes.is_none_or(|b| b > MAX_SCRYPT_BYTES)
                || work.is_none_or(|w| w > MAX_SCRYPT_WORK)
            {
                return Err(too_costly(format!("scrypt N={n}, r={r}, p={par}")));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::der::Encode;
    use pkcs8::der::asn1::OctetStringRef;

    /// An encrypted key declaring `kdf`, with 32 bytes of ciphertext that are never reached.
    fn declaring(kdf: pbes2::Kdf) -> String {
        let info = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(pbes2::Parameters {
                kdf,
                encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [0; 16] },
            }),
            encrypted_data: OctetStringRef::new(&[0; 32]).unwrap(),
        };
        let der = info.to_der().unwrap();
        pkcs8::der::pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, &der).unwrap()
    }

    fn scrypt(n: u64, r: u16, p: u16) -> pbes2::Kdf {
        pbes2::Kdf::Scrypt(pbes2::ScryptParams {
            salt: pbes2::Salt::new([1; 16]).unwrap(),
            cost_parameter: n,
            block_size: r,
            parallelization: p,
            key_length: None,
        })
    }

    /// Found while writing the fuzzer's generator of declared schemes (pkcs5's source): an
    /// scrypt cost parameter of 0 made pkcs5 compute `64 - 64 - 1` and panic (an overflow in
    /// debug builds, an `expect` in release).
    #[test]
    fn scrypt_cost_zero_is_an_error_not_a_panic() {
        let pass = Passphrase::new("x".into());
        for (n, r, p) in [(0, 8, 1), (1, 8, 1), (3, 8, 1), (16, 0, 1), (16, 1, 0)] {
            let err = load_key(&declaring(scrypt(n, r, p)), Some(&pass), "ca.key").unwrap_err();
            assert!(
                matches!(err, Error::Corrupt { .. }),
                "N={n} r={r} p={p}: {err}"
            );
            assert!(
                err.to_string().contains("invalid scrypt parameters"),
                "{err}"
            );
        }
    }

    /// Found by fuzzing: a key file's own cost parameters were trusted, so 2^32-1 PBKDF2
    /// iterations ran for hours and scrypt N=2^40 asked for 128 TiB (an abort, not an error).
    #[test]
    fn key_derivation_costs_beyond_the_bounds_are_refused_before_any_work() {
        let pass = Passphrase::new("x".into());
        let pbkdf2 = |n| {
            pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
                salt: pbes2::Salt::new([1; 16]).unwrap(),
                iteration_count: n,
                key_length: None,
                prf: pbes2::Pbkdf2Prf::HmacWithSha256,
            })
        };
        for kdf in [
            pbkdf2(u32::MAX),
            pbkdf2(MAX_PBKDF2_ITERATIONS + 1),
            scrypt(1 << 40, 8, 1),
            scrypt(1 << 14, 8, 65535),
            scrypt(1 << 20, 1, 1),
        ] {
            let started = std::time::Instant::now();
            let err = load_key(&declaring(kdf), Some(&pass), "ca.key").unwrap_err();
            assert!(matches!(err, Error::Invalid { .. }), "{err}");
            assert!(err.to_string().contains("vpnctl"), "{err}");
            assert!(started.elapsed().as_secs() < 2);
        }
        // Within the bounds, the cost is paid and the (wrong) passphrase is what fails.
        let err = load_key(&declaring(pbkdf2(1)), Some(&pass), "ca.key").unwrap_err();
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
    }
}
