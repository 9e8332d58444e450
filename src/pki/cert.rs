//! The pure PKI core: keys, certificates and CRLs built and inspected in memory. No file I/O
//! and no clock reads: callers pass `now`, so everything here is deterministic apart from key
//! and serial randomness.

use crate::error::{Error, Result};
use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevocationReason, RevokedCertParams, RsaKeySize, SanType, SerialNumber,
};
use x509_parser::prelude::*;

/// Certificates start this long before `now`, so a client whose clock is a little behind
/// does not reject a certificate issued a minute ago.
const BACKDATE: Duration = Duration::hours(1);

/// A serial number: 16 random bytes, positive (top bit clear) and with a non-zero first byte,
/// so it always encodes in exactly 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    pub fn random() -> Result<Serial> {
        let mut b = [0u8; 16];
        crate::fsx::random(&mut b)?;
        b[0] = (b[0] & 0x7f) | 0x40;
        Ok(Serial(b.to_vec()))
    }
    pub fn from_bytes(bytes: &[u8]) -> Serial {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len().saturating_sub(1));
        Serial(bytes[start..].to_vec())
    }
    /// Upper-case hex, as openssl's index.txt and easy-rsa's file names have it.
    pub fn parse_hex(s: &str) -> Option<Serial> {
        if s.is_empty() || !s.len().is_multiple_of(2) || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
        bytes.map(|b| Serial::from_bytes(&b))
    }
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A new RSA-2048 key: the only size besides 1024 that AWS Client VPN accepts.
pub fn new_key() -> Result<KeyPair> {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(|e| {
        Error::corrupt(
            format!("RSA key generation failed: {e}"),
            "retry; this is a crypto library failure",
        )
    })
}

/// Parse a plaintext private key PEM (PKCS#8, PKCS#1 or SEC1).
pub fn parse_key(pem: &str, what: &str) -> Result<KeyPair> {
    // Naming RSA first skips rcgen's trial parses as ECDSA and Ed25519 (each one an RSA key
    // check in aws-lc): a third of `profile --all`'s time before.
    if let Ok(k) = KeyPair::from_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256) {
        return Ok(k);
    }
    KeyPair::from_pem(pem).map_err(|e| {
        Error::corrupt(
            format!("{what} is not a readable private key ({e})"),
            "the file is truncated or not a PEM private key; restore it from a backup",
        )
    })
}

pub enum Leaf<'a> {
    /// The VPN server: CN and SAN DNS = a fully qualified name, serverAuth.
    Server(&'a str),
    /// A user: CN = the user name, clientAuth.
    Client(&'a str),
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn validity(
    now: OffsetDateTime,
    days: u32,
    cap: Option<OffsetDateTime>,
) -> (OffsetDateTime, OffsetDateTime) {
    let not_after = now + Duration::days(i64::from(days));
    let not_after = match cap {
        Some(cap) if cap < not_after => cap,
        _ => not_after,
    };
    (now - BACKDATE, not_after)
}

impl std::fmt::Debug for dyn RemoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteKey({})", self.name())
    }
}

/// A CA key held outside this process (AWS KMS): its public key and RSASSA-PKCS1-v1_5
/// SHA-256 signatures, nothing else. The private key never reaches vpnctl.
pub trait RemoteKey: Send + Sync {
    /// The key's SubjectPublicKeyInfo, DER (what KMS GetPublicKey answers), checked to be an
    /// RSA-2048 signing key.
    fn public_key(&self) -> Result<Vec<u8>>;
    /// The signature of `message` (RSASSA_PKCS1_V1_5_SHA_256).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// The key, for messages (its ARN).
    fn name(&self) -> String;
}

/// The CA's signing key: in memory, or remote.
pub enum Signer {
    Local(KeyPair),
    Remote {
        key: std::sync::Arc<dyn RemoteKey>,
        /// The PKCS#1 RSAPublicKey inside the SPKI (what rcgen calls `der_bytes`).
        pkcs1: Vec<u8>,
        /// The last remote failure: rcgen reduces it to `RemoteKeyError`.
        failure: std::sync::Mutex<Option<String>>,
    },
}

impl Signer {
    /// A remote key, its public key fetched once.
    pub fn remote(key: std::sync::Arc<dyn RemoteKey>) -> Result<Signer> {
        let spki = key.public_key()?;
        let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).map_err(|e| {
            Error::corrupt(
                format!("the public key of {} cannot be read ({e})", key.name()),
                "check that it is an RSA_2048 SIGN_VERIFY key",
            )
        })?;
        Ok(Signer::Remote {
            pkcs1: info.subject_public_key.data.to_vec(),
            key,
            failure: std::sync::Mutex::new(None),
        })
    }

    /// What the last remote signature failed with, if it did.
    fn failure(&self) -> Option<String> {
        match self {
            Signer::Remote { failure, .. } => failure.lock().ok().and_then(|f| f.clone()),
            Signer::Local(_) => None,
        }
    }
}

impl PublicKeyData for Signer {
    fn der_bytes(&self) -> &[u8] {
        match self {
            Signer::Local(k) => k.der_bytes(),
            Signer::Remote { pkcs1, .. } => pkcs1,
        }
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Signer::Local(k) => k.algorithm(),
            Signer::Remote { .. } => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl rcgen::SigningKey for Signer {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self {
            Signer::Local(k) => k.sign(msg),
            Signer::Remote { key, failure, .. } => key.sign(msg).map_err(|e| {
                if let Ok(mut f) = failure.lock() {
                    *f = Some(e.to_string());
                }
                rcgen::Error::RemoteKeyError
            }),
        }
    }
}

/// A self-signed CA certificate for `key`: basicConstraints CA:TRUE (critical), keyCertSign
/// and cRLSign, subject and authority key identifiers.
pub fn make_ca(
    cn: &str,
    key: &impl rcgen::SigningKey,
    serial: &Serial,
    now: OffsetDateTime,
    days: u32,
) -> Result<String> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    (p.not_before, p.not_after) = validity(now, days, None);
    p.serial_number = Some(SerialNumber::from_slice(serial.bytes()));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    let cert = p
        .self_signed(key)
        .map_err(|e| sign_err("the CA certificate", e))?;
    Ok(cert.pem())
}

/// A CA loaded for signing: its certificate, key and the facts signing needs.
pub struct Ca {
    pub cert_pem: String,
    pub info: CertInfo,
    issuer: Issuer<'static, Signer>,
}

impl Ca {
    /// Load a CA from its certificate and key, refusing a key that does not belong to the
    /// certificate (rcgen would otherwise sign happily with the wrong key).
    pub fn load(cert_pem: &str, key: KeyPair) -> Result<Ca> {
        Ca::load_signer(cert_pem, Signer::Local(key))
    }

    /// `load` for any signer (a KMS key): the same checks.
    pub fn load_signer(cert_pem: &str, key: Signer) -> Result<Ca> {
        let info = inspect(cert_pem, "the CA certificate")?;
        if !info.is_ca {
            return Err(Error::corrupt(
                format!(
                    "the CA certificate ({}) is not a CA (basicConstraints CA:TRUE missing)",
                    info.cn
                ),
                "point vpnctl at the PKI's real ca.crt",
            ));
        }
        if key.der_bytes() != info.public_key.as_slice() {
            return Err(match &key {
                Signer::Remote { key, .. } => Error::conflict(
                    format!("the KMS key {} is not this CA's key", key.name()),
                    "use the key the PKI was created with (vpnctl.json names it)",
                ),
                Signer::Local(_) => Error::corrupt(
                    "the CA key does not match the CA certificate",
                    "private/ca.key belongs to another CA: restore the matching key from a backup",
                ),
            });
        }
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| {
            Error::corrupt(
                format!("the CA certificate cannot sign: {e}"),
                "restore ca.crt from a backup",
            )
        })?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            info,
            issuer,
        })
    }

    /// Sign a leaf certificate for `key`. Its validity never outlasts the CA's.
    pub fn sign(
        &self,
        leaf: Leaf<'_>,
        key: &impl PublicKeyData,
        serial: &Serial,
        now: OffsetDateTime,
        days: u32,
    ) -> Result<String> {
        let mut p = CertificateParams::default();
        (p.not_before, p.not_after) = validity(now, days, Some(self.info.not_after));
        p.serial_number = Some(SerialNumber::from_slice(serial.bytes()));
        p.is_ca = IsCa::ExplicitNoCa;
        p.use_authority_key_identifier_extension = true;
        p.key_identifier_method = KeyIdMethod::Sha256;
        match leaf {
            Leaf::Server(fqdn) => {
                p.distinguished_name = dn(fqdn);
                let san = fqdn.try_into().map_err(|e| {
                    Error::invalid(
                        format!("'{fqdn}' cannot be a DNS name: {e}"),
                        "use a plain ASCII name",
                    )
                })?;
                p.subject_alt_names = vec![SanType::DnsName(san)];
                p.key_usages = vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            }
            Leaf::Client(user) => {
                p.distinguished_name = dn(user);
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
        }
        let cert = p
            .signed_by(key, &self.issuer)
            .map_err(|e| self.sign_err("a certificate", e))?;
        Ok(cert.pem())
    }

    /// A CRL listing `revoked`, signed by the CA, valid until `next_update`.
    pub fn crl(
        &self,
        revoked: &[(Serial, OffsetDateTime, Option<RevocationReason>)],
        now: OffsetDateTime,
        next_update: OffsetDateTime,
        number: u64,
    ) -> Result<String> {
        let params = CertificateRevocationListParams {
            this_update: now - BACKDATE,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at, reason)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial.bytes()),
                    revocation_time: *at,
                    reason_code: *reason,
                    invalidity_date: None,
                })
                .collect(),
            // The AKI must equal the CA's SKI, whatever method made it (easy-rsa uses SHA-1):
            // openssl's CRL check fails otherwise.
            key_identifier_method: match &self.info.ski {
                Some(ski) => KeyIdMethod::PreSpecified(ski.clone()),
                None => KeyIdMethod::Sha256,
            },
        };
        let crl = params
            .signed_by(&self.issuer)
            .map_err(|e| self.sign_err("the CRL", e))?;
        crl.pem().map_err(|e| sign_err("the CRL", e))
    }

    /// A signing failure, with the remote key's own error when that was the cause.
    fn sign_err(&self, what: &str, e: rcgen::Error) -> Error {
        match self.issuer.key().failure() {
            Some(f) => Error::cloud(
                format!("cannot sign {what} with the CA key in KMS: {f}"),
                "check the key's state and the caller's kms:Sign permission",
            ),
            None => sign_err(what, e),
        }
    }
}

fn sign_err(what: &str, e: rcgen::Error) -> Error {
    Error::corrupt(
        format!("cannot sign {what}: {e}"),
        "check the CA certificate and key",
    )
}

/// A certificate request (PKCS#10) for `user`'s `key`, as `pki request` writes it: the
/// subject is the CN alone; `pki sign` decides everything else.
pub fn make_request(user: &str, key: &KeyPair) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(user);
    let csr = params
        .serialize_request(key)
        .map_err(|e| sign_err("the request", e))?;
    csr.pem().map_err(|e| sign_err("the request", e))
}

/// A certificate request (PKCS#10) as `pki sign` takes it: self-signature checked, the
/// subject's CN, and its public key (RSA 1024 or 2048 only: what AWS Client VPN accepts).
#[derive(Clone)]
pub struct Request {
    pub cn: String,
    pub public_key: rcgen::SubjectPublicKeyInfo,
}

pub fn parse_request(pem_text: &str, what: &str) -> Result<Request> {
    let bad = |why: String| {
        Error::invalid(
            format!("{what} is not a usable certificate request: {why}"),
            "make it with `vpnctl pki request USER` (or `openssl req -new -newkey rsa:2048 \
             -nodes -subj /CN=USER`)",
        )
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text.as_bytes())
        .map_err(|e| bad(format!("no PEM block ({e})")))?;
    if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
        return Err(bad(format!("it holds a {} block", pem.label)));
    }
    let (_, csr) = X509CertificationRequest::from_der(&pem.contents)
        .map_err(|e| bad(format!("not a PKCS#10 request ({e})")))?;
    csr.verify_signature()
        .map_err(|_| bad("its signature does not verify (altered or truncated)".into()))?;
    let info = &csr.certification_request_info;
    let cn = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| bad("its subject has no CN (the user name)".into()))?;
    let spki = &info.subject_pki;
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if bits != 2048 && bits != 1024 {
                return Err(bad(format!(
                    "its key is RSA-{bits}; AWS Client VPN accepts RSA-1024 and RSA-2048 only"
                )));
            }
        }
        _ => {
            return Err(bad(
                "its key is not RSA; AWS Client VPN accepts RSA-1024 and RSA-2048 only".into(),
            ));
        }
    }
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
        .map_err(|e| bad(format!("its public key cannot be read ({e})")))?;
    Ok(Request { cn, public_key })
}

/// What vpnctl needs to know about a certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub cn: String,
    pub issuer_cn: String,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// "RSA-2048", "EC", ...
    pub key_type: String,
    pub rsa_bits: Option<usize>,
    pub san_dns: Vec<String>,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    pub ski: Option<Vec<u8>>,
    /// The subjectPublicKey bits (for RSA, the DER RSAPublicKey).
    pub public_key: Vec<u8>,
}

/// Parse the first certificate of a PEM text.
pub fn inspect(pem_text: &str, what: &str) -> Result<CertInfo> {
    let corrupt = |detail: String| {
        Error::corrupt(
            format!("{what} is not a valid PEM certificate ({detail})"),
            "the file is truncated or corrupt: restore it from a backup, or renew it",
        )
    };
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    if pem.label != "CERTIFICATE" {
        return Err(corrupt(format!("found a '{}' block", pem.label)));
    }
    let x509 = pem.parse_x509().map_err(|e| corrupt(e.to_string()))?;
    Ok(info_of(&x509))
}

fn info_of(x: &X509Certificate<'_>) -> CertInfo {
    let cn_of = |name: &X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (key_type, rsa_bits) = match x.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            (format!("RSA-{}", rsa.key_size()), Some(rsa.key_size()))
        }
        Ok(x509_parser::public_key::PublicKey::EC(_)) => ("EC".to_string(), None),
        _ => ("other".to_string(), None),
    };
    let san_dns = match x.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let (server_auth, client_auth) = match x.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        _ => (false, false),
    };
    let is_ca = matches!(x.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    let ski = x
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        });
    CertInfo {
        cn: cn_of(x.subject()),
        issuer_cn: cn_of(x.issuer()),
        serial: Serial::from_bytes(x.raw_serial()),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        key_type,
        rsa_bits,
        san_dns,
        is_ca,
        server_auth,
        client_auth,
        ski,
        public_key: x.public_key().subject_public_key.data.to_vec(),
    }
}

/// Whether `cert_pem` was signed by `ca_pem`'s key.
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> bool {
    let parse = |t: &str| parse_x509_pem(t.as_bytes()).ok().map(|(_, p)| p);
    let (Some(c), Some(ca)) = (parse(cert_pem), parse(ca_pem)) else {
        return false;
    };
    let (Ok(c), Ok(ca)) = (c.parse_x509(), ca.parse_x509()) else {
        return false;
    };
    c.verify_signature(Some(ca.public_key())).is_ok()
}

/// Whether a private key belongs to a certificate.
pub fn key_matches(key: &KeyPair, info: &CertInfo) -> bool {
    key.der_bytes() == info.public_key.as_slice()
}

/// The reasons AWS Client VPN would refuse this server certificate, empty if none.
pub fn aws_server_problems(info: &CertInfo) -> Vec<String> {
    let mut problems = Vec::new();
    match info.rsa_bits {
        Some(1024) | Some(2048) => {}
        _ => problems.push(format!(
            "its key is {}; Client VPN accepts only RSA-1024 or RSA-2048",
            info.key_type
        )),
    }
    if super::names::validate_server_name(&info.cn).is_err() {
        problems.push(format!(
            "its CN '{}' is not a fully qualified domain name (\"does not have a domain\")",
            info.cn
        ));
    } else if !info
        .san_dns
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&info.cn))
    {
        problems.push(format!(
            "it has no SAN DNS name matching its CN '{}'",
            info.cn
        ));
    }
    if !info.server_auth {
        problems.push("it lacks the serverAuth extended key usage".to_string());
    }
    problems
}

/// Facts about a CRL.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub revoked: Vec<Serial>,
    /// When each of `revoked` was revoked, in the same order.
    pub revoked_at: Vec<OffsetDateTime>,
    pub number: Option<u64>,
}

pub fn inspect_crl(pem_text: &str, ca_pem: &str) -> Result<CrlInfo> {
    let corrupt = |detail: String| {
        Error::corrupt(
            format!("crl.pem is not a valid CRL ({detail})"),
            "regenerate it with `vpnctl pki crl`, or restore it from a backup",
        )
    };
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents)
        .map_err(|e| corrupt(e.to_string()))?;
    let ca = parse_x509_pem(ca_pem.as_bytes())
        .ok()
        .and_then(|(_, p)| p.parse_x509().ok().map(|c| c.public_key().raw.to_vec()));
    if let Some(ca_spki) = ca {
        let (_, spki) =
            SubjectPublicKeyInfo::from_der(&ca_spki).map_err(|e| corrupt(e.to_string()))?;
        crl.verify_signature(&spki)
            .map_err(|_| corrupt("its signature is not the CA's".to_string()))?;
    }
    Ok(CrlInfo {
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| Serial::from_bytes(r.raw_serial()))
            .collect(),
        revoked_at: crl
            .iter_revoked_certificates()
            .map(|r| r.revocation_date.to_datetime())
            .collect(),
        number: crl.crl_number().map(number_of),
    })
}

fn number_of(n: &x509_parser::num_bigint::BigUint) -> u64 {
    match n.to_u64_digits().as_slice() {
        [] => 0,
        [d] => *d,
        _ => u64::MAX,
    }
}

/// The CRL number of a PEM CRL (which of two CRLs of one CA is newer), if it has one.
pub fn crl_number(pem_text: &str) -> Option<u64> {
    let (_, pem) = parse_x509_pem(pem_text.as_bytes()).ok()?;
    let (_, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(&pem.contents).ok()?;
    crl.crl_number().map(number_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_16_bytes_and_hex_round_trips() {
        for _ in 0..100 {
            let s = Serial::random().unwrap();
            assert_eq!(s.bytes().len(), 16);
            assert!(s.bytes()[0] & 0x80 == 0 && s.bytes()[0] != 0);
            assert_eq!(Serial::parse_hex(&s.hex()), Some(s));
        }
        assert_eq!(Serial::parse_hex("00AB").unwrap().hex(), "AB");
        assert!(Serial::parse_hex("xyz").is_none());
    }
}
